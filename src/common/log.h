/* Logging: the library never prints; it calls logMessage, which hands the
 * line to the sink the executable installed. The default sink writes the
 * contract's format: "INFO: ...", "ERROR: ...", "SUCCESS: ...",
 * "CRITICAL: ...". INFO/SUCCESS/WARN go to stdout, ERROR/CRITICAL to stderr.
 * Secrets must never be passed to these functions. */
#ifndef NBK_COMMON_LOG_H
#define NBK_COMMON_LOG_H

#include <stdbool.h>

typedef enum {
    LOG_DEBUG,    /* shown with -v only, prefix "DEBUG: " */
    LOG_INFO,
    LOG_SUCCESS,
    LOG_WARN,
    LOG_ERROR,
    LOG_CRITICAL,
} LogLevel;

typedef void (*LogSink)(LogLevel level, const char *line, void *payload);

void logSetSink(LogSink sink, void *payload); /* NULL restores the default sink */
void logSetVerbose(bool verbose);
bool logVerbose(void);
/* All lines go to stderr (used when stdout carries --json output). */
void logSetAllToStderr(bool enabled);
/* Optional copy of every line, timestamped, to a file (the scheduler's log
 * tail for alerts). NULL path closes it. */
void logSetTeeFile(const char *path);

void logMessage(LogLevel level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#define logDebug(...) logMessage(LOG_DEBUG, __VA_ARGS__)
#define logInfo(...) logMessage(LOG_INFO, __VA_ARGS__)
#define logSuccess(...) logMessage(LOG_SUCCESS, __VA_ARGS__)
#define logWarn(...) logMessage(LOG_WARN, __VA_ARGS__)
#define logError(...) logMessage(LOG_ERROR, __VA_ARGS__)
#define logCritical(...) logMessage(LOG_CRITICAL, __VA_ARGS__)

/* Prints the contract's failure block for the last error (errLast()):
 *   ERROR: <headline>
 *   ERROR: Code: <CODE>           (the code line; always present)
 *   ERROR: Reason: <reason>
 *   ERROR: Action: <action>
 * and, when critical, "CRITICAL: Operator attention required". */
void logErrorBlock(const char *headline, bool critical);

#endif
