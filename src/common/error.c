/* The error registry generated from error.def, and the per-thread detail of
 * the last failure (reason, action, server code, details). */
#include "common/error.h"

#include <stdio.h>
#include <string.h>

typedef struct {
    const char *name;
    int exitStatus;
    const char *message;
    const char *action;
} ErrInfo;

static const ErrInfo errTable[] = {
#define NBK_ERROR(id, exitStatus, message, action) {#id, exitStatus, message, action},
#include "common/error.def"
#undef NBK_ERROR
};

static _Thread_local ErrDetail errCurrent;

static const ErrInfo *errInfo(ErrCode code)
{
    if ((int)code < 0 || code >= ERR_COUNT_)
        return &errTable[ERR_INTERNAL];
    return &errTable[code];
}

const char *errName(ErrCode code) { return errInfo(code)->name; }
const char *errDefaultMessage(ErrCode code) { return errInfo(code)->message; }
const char *errDefaultAction(ErrCode code) { return errInfo(code)->action; }
int errExitStatus(ErrCode code) { return errInfo(code)->exitStatus; }

ErrCode errFromName(const char *name)
{
    for (int index = 0; index < ERR_COUNT_; index++)
        if (strcmp(errTable[index].name, name) == 0)
            return (ErrCode)index;
    return ERR_COUNT_;
}

ErrCode errSetV(ErrCode code, const char *fmt, va_list args)
{
    /* Callers often pass errLast()->reason as an argument ("...: %s"):
     * format aside, or the text would be read while it is overwritten. */
    char reason[sizeof(errCurrent.reason)];
    vsnprintf(reason, sizeof(reason), fmt, args);
    errCurrent.code = code;
    memcpy(errCurrent.reason, reason, sizeof(reason));
    errCurrent.action[0] = '\0';
    errCurrent.serverCode[0] = '\0';
    errCurrent.details[0] = '\0';
    return code;
}

ErrCode errSet(ErrCode code, const char *fmt, ...)
{
    va_list args;
    va_start(args, fmt);
    errSetV(code, fmt, args);
    va_end(args);
    return code;
}

void errSetServerCode(const char *serverCode)
{
    snprintf(errCurrent.serverCode, sizeof(errCurrent.serverCode), "%s", serverCode ? serverCode : "");
}

void errSetAction(const char *fmt, ...)
{
    va_list args;
    va_start(args, fmt);
    vsnprintf(errCurrent.action, sizeof(errCurrent.action), fmt, args);
    va_end(args);
}

void errSetDetails(const char *fmt, ...)
{
    va_list args;
    va_start(args, fmt);
    vsnprintf(errCurrent.details, sizeof(errCurrent.details), fmt, args);
    va_end(args);
}

void errAddContext(const char *fmt, ...)
{
    char context[512];
    char previous[sizeof(errCurrent.reason)];
    va_list args;
    va_start(args, fmt);
    vsnprintf(context, sizeof(context), fmt, args);
    va_end(args);
    memcpy(previous, errCurrent.reason, sizeof(previous));
    /* Truncation is acceptable: the reason is one bounded log line. */
    size_t used = (size_t)snprintf(errCurrent.reason, sizeof(errCurrent.reason), "%s: ", context);
    if (used < sizeof(errCurrent.reason))
        memcpy(errCurrent.reason + used, previous,
               strnlen(previous, sizeof(errCurrent.reason) - used - 1) + 1);
    errCurrent.reason[sizeof(errCurrent.reason) - 1] = '\0';
}

const ErrDetail *errLast(void) { return &errCurrent; }

void errClear(void) { memset(&errCurrent, 0, sizeof(errCurrent)); }

ErrDetail errSave(void) { return errCurrent; }

ErrCode errRestore(const ErrDetail *saved)
{
    if (saved != &errCurrent)
        errCurrent = *saved;
    return errCurrent.code;
}
