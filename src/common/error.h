/* Error registry: every failure the product reports has one stable code,
 * one exit status and one default action. The table lives in error.def so
 * that the enum, the names, the exit statuses and docs/exit-codes.md can
 * never drift apart. Exit statuses are a public promise: never renumber. */
#ifndef NBK_COMMON_ERROR_H
#define NBK_COMMON_ERROR_H

#include <stdarg.h>

typedef enum {
#define NBK_ERROR(id, exitStatus, message, action) id,
#include "common/error.def"
#undef NBK_ERROR
    ERR_COUNT_
} ErrCode;

/* Contract name of a code, e.g. "BACKUP_CORRUPTED". */
const char *errName(ErrCode code);
/* Short default message, e.g. "Checksum mismatch". */
const char *errDefaultMessage(ErrCode code);
/* Default action for the operator, e.g. "Use different backup". */
const char *errDefaultAction(ErrCode code);
/* Process exit status for a code (0 for ERR_OK). */
int errExitStatus(ErrCode code);
/* Lookup by contract name; returns ERR_COUNT_ when unknown. */
ErrCode errFromName(const char *name);

/* Per-thread detail of the last failure. Library functions return an ErrCode
 * and record why here; callers read it before making another library call. */
typedef struct {
    ErrCode code;
    char reason[1024];      /* one line: what went wrong, with the cause */
    char action[512];       /* what the operator should do; empty = default */
    char serverCode[160];   /* Neo4j status code when the server refused */
    char details[512];      /* optional extra line after the reason, e.g.
                               "Required: 524 MB | Available: 50 MB" */
} ErrDetail;

/* Records code + formatted reason (the action is reset to empty) and returns code. */
ErrCode errSet(ErrCode code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
ErrCode errSetV(ErrCode code, const char *fmt, va_list args) __attribute__((format(printf, 2, 0)));
/* Sets the Neo4j status code of the last error (errSet clears it). */
void errSetServerCode(const char *serverCode);
/* Overrides the action of the last error. */
void errSetAction(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Sets the extra detail line of the last error. */
void errSetDetails(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Prefixes the current reason with context: "while X: <old reason>". */
void errAddContext(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
const ErrDetail *errLast(void);
void errClear(void);
/* A copy of the last error, kept while cleanup calls that may fail overwrite
 * it:  ErrDetail failure = errSave(); ...cleanup...; return errRestore(&failure); */
ErrDetail errSave(void);
/* Makes a saved error the last error again; returns its code. */
ErrCode errRestore(const ErrDetail *saved);

#endif
