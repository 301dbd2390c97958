/* Logging: the contract's line format, the installable sink, and the
 * sanitiser every line passes through. */
#include "common/log.h"

#include "common/error.h"
#include "common/format.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static LogSink logSink;
static void *logSinkPayload;
static bool logIsVerbose;
static bool logEverythingToStderr;
static FILE *logTee;
/* Lines from several threads (the HTTP API's jobs beside the scheduler) must
 * neither interleave in the tee file nor race with its rotation. Recursive,
 * so that a sink may log. */
static pthread_mutex_t logLock = PTHREAD_RECURSIVE_MUTEX_INITIALIZER_NP;

static const char *logPrefix(LogLevel level)
{
    switch (level) {
    case LOG_DEBUG: return "DEBUG";
    case LOG_INFO: return "INFO";
    case LOG_SUCCESS: return "SUCCESS";
    case LOG_WARN: return "WARNING";
    case LOG_ERROR: return "ERROR";
    case LOG_CRITICAL: return "CRITICAL";
    }
    return "INFO";
}

static void logDefaultSink(LogLevel level, const char *line, void *payload)
{
    (void)payload;
    FILE *stream = (level >= LOG_ERROR || logEverythingToStderr) ? stderr : stdout;
    fprintf(stream, "%s: %s\n", logPrefix(level), line);
    fflush(stream);
}

void logSetSink(LogSink sink, void *payload)
{
    pthread_mutex_lock(&logLock);
    logSink = sink;
    logSinkPayload = payload;
    pthread_mutex_unlock(&logLock);
}

void logSetVerbose(bool verbose) { logIsVerbose = verbose; }
bool logVerbose(void) { return logIsVerbose; }
void logSetAllToStderr(bool enabled) { logEverythingToStderr = enabled; }

void logSetTeeFile(const char *path)
{
    pthread_mutex_lock(&logLock);
    if (logTee) {
        fclose(logTee);
        logTee = NULL;
    }
    if (path)
        logTee = fopen(path, "a");
    pthread_mutex_unlock(&logLock);
}

void logMessage(LogLevel level, const char *fmt, ...)
{
    pthread_mutex_lock(&logLock);
    if (level == LOG_DEBUG && !logIsVerbose && !logTee) {
        pthread_mutex_unlock(&logLock);
        return;
    }
    char raw[4096];
    va_list args;
    va_start(args, fmt);
    vsnprintf(raw, sizeof(raw), fmt, args);
    va_end(args);
    /* Log lines carry manifest fields, server answers and file names: no
     * escape sequence or invalid UTF-8 may reach a terminal, a log file or
     * an alert through them. Line breaks stay (multi-line tool output). */
    char line[4096 * 2];
    fmtPrintableEx(line, sizeof(line), raw, 1);
    if (logTee) {
        char stamp[32];
        time_t now = time(NULL);
        struct tm utc;
        gmtime_r(&now, &utc);
        strftime(stamp, sizeof(stamp), "%Y-%m-%d %H:%M:%S", &utc);
        fprintf(logTee, "[%s] %s: %s\n", stamp, logPrefix(level), line);
        fflush(logTee);
    }
    if (level != LOG_DEBUG || logIsVerbose)
        (logSink ? logSink : logDefaultSink)(level, line, logSinkPayload);
    pthread_mutex_unlock(&logLock);
}

void logErrorBlock(const char *headline, bool critical)
{
    const ErrDetail *detail = errLast();
    ErrCode code = detail->code == ERR_OK ? ERR_INTERNAL : detail->code;
    logError("%s", headline);
    logError("Code: %s (%s)", errName(code), errDefaultMessage(code));
    logError("Reason: %s", detail->reason[0] ? detail->reason : errDefaultMessage(code));
    if (detail->details[0])
        logError("%s", detail->details);
    if (detail->serverCode[0])
        logError("Neo4j status: %s", detail->serverCode);
    logError("Action: %s", detail->action[0] ? detail->action : errDefaultAction(code));
    if (critical)
        logCritical("Operator attention required");
}
