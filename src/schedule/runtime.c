/* The scheduler's runtime (runtime.h): the loop around the decisions of
 * scheduler.c, reporting through events, and the resume of a paused
 * scheduler. */
#include "schedule/runtime.h"

#include "common/format.h"
#include "common/fsutil.h"
#include "common/lock.h"
#include "common/mem.h"
#include "common/timeutil.h"

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

typedef struct {
    const SchedRuntimeRequest *request;
    SchedSettings settings;
    char statePath[4096];
    char resumePath[4096];
    SchedState state;
} SchedRuntime;

/* ---- events ------------------------------------------------------------------ */

static void schedRtEmit(SchedEventFn onEvent, void *payload, const SchedEvent *event)
{
    if (onEvent)
        onEvent(event, payload);
}

static void schedRtVLog(SchedEventFn onEvent, void *payload, LogLevel level, const char *fmt, va_list args)
    __attribute__((format(printf, 4, 0)));

static void schedRtVLog(SchedEventFn onEvent, void *payload, LogLevel level, const char *fmt, va_list args)
{
    char text[2048];
    vsnprintf(text, sizeof(text), fmt, args);
    schedRtEmit(onEvent, payload, &(SchedEvent){.kind = SCHED_EVENT_LOG, .level = level, .text = text});
}

static void schedRtLogTo(SchedEventFn onEvent, void *payload, LogLevel level, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void schedRtLogTo(SchedEventFn onEvent, void *payload, LogLevel level, const char *fmt, ...)
{
    va_list args;
    va_start(args, fmt);
    schedRtVLog(onEvent, payload, level, fmt, args);
    va_end(args);
}

static void schedRtLog(SchedRuntime *runtime, LogLevel level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void schedRtLog(SchedRuntime *runtime, LogLevel level, const char *fmt, ...)
{
    va_list args;
    va_start(args, fmt);
    schedRtVLog(runtime->request->onEvent, runtime->request->eventPayload, level, fmt, args);
    va_end(args);
}

/* A contract event line, "NAME: details" (or just NAME). */
static void schedRtLine(SchedRuntime *runtime, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void schedRtLine(SchedRuntime *runtime, const char *name, const char *fmt, ...)
{
    char details[1800] = "";
    if (fmt) {
        va_list args;
        va_start(args, fmt);
        vsnprintf(details, sizeof(details), fmt, args);
        va_end(args);
    }
    char text[2048];
    if (details[0])
        snprintf(text, sizeof(text), "%s: %s", name, details);
    else
        snprintf(text, sizeof(text), "%s", name);
    schedRtEmit(runtime->request->onEvent, runtime->request->eventPayload,
                &(SchedEvent){.kind = SCHED_EVENT_LINE, .name = name, .text = text});
}

static void schedRtErrorBlock(SchedRuntime *runtime, const char *headline, bool critical)
{
    schedRtEmit(runtime->request->onEvent, runtime->request->eventPayload,
                &(SchedEvent){.kind = SCHED_EVENT_ERROR_BLOCK, .text = headline, .critical = critical});
}

static void schedRtAlert(SchedRuntime *runtime, SchedEvent alert)
{
    alert.kind = SCHED_EVENT_ALERT;
    schedRtEmit(runtime->request->onEvent, runtime->request->eventPayload, &alert);
}

static const char *schedRtTime(int64_t seconds, char out[TIME_TEXT_SIZE])
{
    timeFormatDisplay(seconds, out);
    return out;
}

/* ---- the state file ------------------------------------------------------------ */

void schedRuntimeLoadState(const char *statePath, SchedState *state, SchedEventFn onEvent, void *payload)
{
    bool found = false;
    if (schedStateLoad(statePath, state, &found) == ERR_OK)
        return;
    char damagedPath[4200];
    snprintf(damagedPath, sizeof(damagedPath), "%s.damaged", statePath);
    schedRtLogTo(onEvent, payload, LOG_WARN, "%s", errLast()->reason);
    if (rename(statePath, damagedPath) == 0)
        schedRtLogTo(onEvent, payload, LOG_WARN,
                     "Moved it to %s and starting with a fresh state (a pause recorded there is lost)", damagedPath);
    schedStateInit(state);
}

ErrCode schedRuntimeSaveState(const char *statePath, const SchedState *state)
{
    return schedStateSave(statePath, state);
}

static void schedRtPersist(SchedRuntime *runtime)
{
    if (schedRuntimeSaveState(runtime->statePath, &runtime->state) != ERR_OK)
        schedRtLog(runtime, LOG_WARN, "Could not save the scheduler state: %s", errLast()->reason);
    schedRtEmit(runtime->request->onEvent, runtime->request->eventPayload,
                &(SchedEvent){.kind = SCHED_EVENT_STATE_SAVED, .state = &runtime->state});
}

static ErrCode schedRtPaths(const char *root, char *statePath, char *resumePath, size_t size)
{
    ErrCode code = fsPathJoin(statePath, size, root, SCHED_STATE_FILE);
    if (code == ERR_OK)
        code = fsPathJoin(resumePath, size, root, SCHED_RESUME_FILE);
    return code;
}

/* ---- one run ------------------------------------------------------------------- */

static int64_t schedRtFrozenClock(void *payload)
{
    return *(const int64_t *)payload;
}

static int64_t schedRtNextRegular(const SchedRuntime *runtime, int64_t after)
{
    time_t next = 0;
    if (cronNext(&runtime->settings.schedule, (time_t)after, &next) != ERR_OK)
        return 0;
    return (int64_t)next;
}

static void schedRtPrintNext(SchedRuntime *runtime)
{
    char text[TIME_TEXT_SIZE];
    if (runtime->state.paused)
        schedRtLine(runtime, "NEXT_BACKUP", "none (paused; run neo4j-backup --resume)");
    else
        schedRtLine(runtime, "NEXT_BACKUP", "%s%s", schedRtTime(runtime->state.nextRun, text),
                    runtime->state.nextIsRetry ? " (retry)" : "");
}

/* Retention after a successful backup, with the contract's CLEANUP lines. A
 * failed cleanup is reported but does not make the backup a failure. */
static void schedRtCleanup(SchedRuntime *runtime)
{
    const RetPolicy *policy = &runtime->settings.retention;
    if (policy->weeks || policy->months)
        schedRtLine(runtime, "CLEANUP_START",
                    "Remove backups older than %" PRId64 " days (keeping %" PRId64 " weekly, %" PRId64 " monthly)",
                    policy->days, policy->weeks, policy->months);
    else
        schedRtLine(runtime, "CLEANUP_START", "Remove backups older than %" PRId64 " days", policy->days);
    SchedCleanupResult result;
    memset(&result, 0, sizeof(result));
    ErrCode code = runtime->request->cleanup(runtime->request->payload, policy, &result);
    if (code != ERR_OK) {
        bool noneRestorable = code == BACKUP_NONE_RESTORABLE;
        ErrDetail failure = errSave();
        schedRtErrorBlock(runtime, "Cleanup failed", noneRestorable);
        schedRtLine(runtime, "CLEANUP_FAILED", "%s", errName(code));
        if (noneRestorable)
            schedRtAlert(runtime, (SchedEvent){.alertSeverity = SCHED_ALERT_CRITICAL, .alertError = &failure,
                                               .backupId = ""});
    } else {
        const CatNameList *deleted = &result.deleted;
        Buffer names;
        bufferInit(&names);
        for (size_t index = 0; index < deleted->count; index++)
            bufferAppendF(&names, "%s%s", index ? ", " : " (", deleted->names[index]);
        if (deleted->count)
            bufferAppend(&names, ")", 1);
        bufferAppendByte(&names, 0);
        schedRtLine(runtime, "CLEANUP_SUCCESS", "Deleted %zu backup%s%s", deleted->count,
                    deleted->count == 1 ? "" : "s", (const char *)names.data);
        bufferFree(&names);
    }
    catNameListFree(&result.deleted);
}

static void schedRtOnFailure(SchedRuntime *runtime, const char *attemptId, const ErrDetail *failure, int64_t started,
                             double duration)
{
    ErrCode code = failure->code == ERR_OK ? ERR_INTERNAL : failure->code;
    char reason[sizeof(failure->reason) + sizeof(failure->details) + 8];
    const char *baseReason = failure->reason[0] ? failure->reason : errDefaultMessage(code);
    if (failure->details[0])
        snprintf(reason, sizeof(reason), "%s (%s)", baseReason, failure->details);
    else
        snprintf(reason, sizeof(reason), "%s", baseReason);

    int64_t now = timeNow();
    SchedAfter after = schedRecordFailure(&runtime->state, &runtime->settings.policy, started, duration, now,
                                          schedRtNextRegular(runtime, now), errName(code), reason);
    schedRtLine(runtime, "BACKUP_FAILED", "%s (%s, failure %d of %d)", attemptId, errName(code),
                runtime->state.consecutiveFailures, runtime->settings.policy.maxFailures);
    if (after == SCHED_AFTER_PAUSED) {
        schedRtLog(runtime, LOG_CRITICAL, "Scheduler paused: %s", runtime->state.pauseReason);
        schedRtLog(runtime, LOG_CRITICAL,
                   "No backups will be taken until an operator fixes the cause and runs: neo4j-backup --resume");
        schedRtLine(runtime, "SCHEDULER_PAUSED", "%d consecutive failures", runtime->state.consecutiveFailures);
    } else if (runtime->state.nextIsRetry) {
        char text[TIME_TEXT_SIZE];
        char wait[FORMAT_TEXT_SIZE];
        schedRtLine(runtime, "RETRY", "attempt %d at %s (in %s)", runtime->state.consecutiveFailures + 1,
                    schedRtTime(runtime->state.nextRun, text),
                    fmtSeconds(wait, sizeof(wait), (double)(runtime->state.nextRun - now)));
    }
    schedRtPrintNext(runtime);
    schedRtPersist(runtime);

    /* Alerts last: a slow relay must not delay the lines above. */
    if (runtime->settings.alertOnFailure || code == BACKUP_NO_SPACE)
        schedRtAlert(runtime, (SchedEvent){
                                  .alertSeverity = code == BACKUP_NO_SPACE ? SCHED_ALERT_CRITICAL : SCHED_ALERT_ERROR,
                                  .alertCode = errName(code),
                                  .alertReason = reason,
                                  .alertAction = failure->action[0] ? failure->action : errDefaultAction(code),
                                  .backupId = attemptId,
                              });
    if (after == SCHED_AFTER_PAUSED)
        schedRtAlert(runtime, (SchedEvent){
                                  .alertSeverity = SCHED_ALERT_CRITICAL,
                                  .alertCode = errName(SCHEDULER_PAUSED),
                                  .alertReason = runtime->state.pauseReason,
                                  .alertAction = errDefaultAction(SCHEDULER_PAUSED),
                                  .backupId = "",
                              });
}

/* Takes one backup with the contract's lines. Returns false when a signal
 * stopped it (nothing is kept, and the run does not count as a failure). */
static bool schedRtRunBackup(SchedRuntime *runtime)
{
    const SchedRuntimeRequest *request = runtime->request;
    int64_t started = timeNow();
    /* The id the backup will choose, so BACKUP_START can name it: the clock
     * is pinned to the start while the backup runs, and catNewId is
     * deterministic for a given time and catalog. */
    char attemptId[CAT_ID_SIZE] = "";
    Catalog *catalog = NULL;
    if (catOpen(&catalog, request->root, true) == ERR_OK && catNewId(catalog, started, attemptId) != ERR_OK)
        attemptId[0] = '\0';
    catClose(catalog);
    if (!attemptId[0])
        timeBackupId(started, attemptId);
    schedRtLine(runtime, "BACKUP_START", "%s", attemptId);

    double monotonicStart = timeMonotonic();
    int64_t pinnedNow = started;
    char backupId[CAT_ID_SIZE] = "";
    errClear();
    TimeClock previousClock = NULL;
    void *previousPayload = NULL;
    timeGetClock(&previousClock, &previousPayload);
    timeSetClock(schedRtFrozenClock, &pinnedNow);
    ErrCode code = request->backup(request->payload, backupId);
    timeSetClock(previousClock, previousPayload);
    ErrDetail failure = errSave();
    failure.code = code;
    double duration = timeMonotonic() - monotonicStart;

    if (code == ERR_OK) {
        char seconds[FORMAT_TEXT_SIZE];
        schedRtLine(runtime, "BACKUP_SUCCESS", "%s (%s)", backupId, fmtSeconds(seconds, sizeof(seconds), duration));
        schedRtCleanup(runtime);
        schedRecordSuccess(&runtime->state, started, duration, backupId, schedRtNextRegular(runtime, timeNow()));
        schedRtPrintNext(runtime);
        schedRtPersist(runtime);
        return true;
    }
    if (*request->cancelFlag) {
        schedRtLine(runtime, "BACKUP_ABORTED", "%s (stopped by a signal; nothing was kept)", attemptId);
        return false;
    }
    schedRtOnFailure(runtime, attemptId, &failure, started, duration);
    return true;
}

/* ---- reload, resume, wait -------------------------------------------------------- */

static void schedRtReload(SchedRuntime *runtime)
{
    schedRtLog(runtime, LOG_INFO, "SIGHUP: reloading the configuration...");
    SchedSettings settings;
    memset(&settings, 0, sizeof(settings));
    ErrCode code = runtime->request->reload(runtime->request->payload, &settings);
    if (code != ERR_OK) {
        schedRtErrorBlock(runtime, "Configuration reload failed; the scheduler keeps its previous configuration",
                          false);
        return;
    }
    runtime->settings = settings;
    char description[256];
    char text[TIME_TEXT_SIZE];
    schedRtLog(runtime, LOG_INFO, "Configuration reloaded");
    schedRtLog(runtime, LOG_INFO, "Schedule: %s",
               cronDescribe(&runtime->settings.schedule, description, sizeof(description)));
    if (!runtime->state.paused) {
        int64_t regular = schedRtNextRegular(runtime, timeNow());
        if (!runtime->state.nextIsRetry || runtime->state.nextRun > regular) {
            runtime->state.nextRun = regular;
            runtime->state.nextIsRetry = false;
        }
        schedRtLog(runtime, LOG_INFO, "Next backup: %s", schedRtTime(runtime->state.nextRun, text));
    }
    schedRtPersist(runtime);
}

/* A resume request arrived (SIGUSR1 and/or the request file). */
static void schedRtHandleResume(SchedRuntime *runtime, bool bySignal)
{
    bool byFile = fsExists(runtime->resumePath);
    if (byFile && unlink(runtime->resumePath) != 0 && errno != ENOENT)
        schedRtLog(runtime, LOG_WARN, "Could not remove %s: %s", runtime->resumePath, strerror(errno));
    if (!schedResume(&runtime->state, timeNow())) {
        schedRtLog(runtime, LOG_INFO, "Resume requested, but the scheduler is not paused");
        return;
    }
    schedRtLog(runtime, LOG_INFO, "Scheduler resumed by the operator (%s); taking a backup now",
               byFile ? "neo4j-backup --resume" : bySignal ? "SIGUSR1" : "request");
    schedRtLine(runtime, "SCHEDULER_RESUMED", NULL);
    schedRtPersist(runtime);
}

/* How long to wait: until the start of the second the next run is due, at
 * most SCHED_MAX_WAIT_SECONDS; a paused scheduler looks for a resume request
 * every SCHED_PAUSED_POLL_SECONDS. */
static double schedRtWaitSeconds(const SchedRuntime *runtime)
{
    if (runtime->state.paused || runtime->state.nextRun <= 0)
        return SCHED_PAUSED_POLL_SECONDS;
    struct timespec realNow;
    clock_gettime(CLOCK_REALTIME, &realNow);
    /* timeNow() counts whole seconds; wake at the start of the due second. */
    int64_t seconds = runtime->state.nextRun - timeNow();
    if (seconds > SCHED_MAX_WAIT_SECONDS)
        seconds = SCHED_MAX_WAIT_SECONDS;
    double wait = (double)seconds - (double)realNow.tv_nsec / 1e9;
    return wait < 0.001 ? 0.001 : wait;
}

/* ---- start and loop --------------------------------------------------------------- */

static void schedRtPrintStart(SchedRuntime *runtime, const SchedStartPlan *plan)
{
    char description[256];
    char text[TIME_TEXT_SIZE];
    char first[TIME_TEXT_SIZE];
    const SchedState *state = &runtime->state;
    schedRtLog(runtime, LOG_INFO, "Backup scheduler started");
    schedRtLog(runtime, LOG_INFO, "Schedule: %s",
               cronDescribe(&runtime->settings.schedule, description, sizeof(description)));
    if (state->paused) {
        schedRtLog(runtime, LOG_WARN, "The scheduler is paused since %s: %s", schedRtTime(state->pausedAt, text),
                   state->pauseReason);
        schedRtLog(runtime, LOG_WARN,
                   "No backups will be taken until an operator runs neo4j-backup --resume (or sends SIGUSR1 to pid "
                   "%ld)",
                   runtime->request->pid);
        schedRtLog(runtime, LOG_INFO, "Next backup: none (paused)");
        return;
    }
    if (plan->missedRuns > 0)
        schedRtLog(runtime, LOG_WARN,
                   "Missed %s%" PRIu64 " scheduled run%s since the last run at %s (first missed: %s); "
                   "taking one catch-up backup now",
                   plan->missedAtLimit ? "at least " : "", plan->missedRuns, plan->missedRuns == 1 ? "" : "s",
                   schedRtTime(state->lastRun, text), schedRtTime(plan->firstMissed, first));
    else if (plan->retryOverdue)
        schedRtLog(runtime, LOG_INFO, "A retry of the failed backup was due at %s; taking it now",
                   schedRtTime(state->nextRun, text));
    else if (state->consecutiveFailures > 0)
        schedRtLog(runtime, LOG_INFO, "%d scheduled backup%s failed in a row before the restart",
                   state->consecutiveFailures, state->consecutiveFailures == 1 ? "" : "s");
    schedRtLog(runtime, LOG_INFO, "Next backup: %s", schedRtTime(plan->nextRun, text));
}

/* Plans the first run from the state found (pause, missed runs, a pending
 * retry), reports the start and records this process in the state. */
static ErrCode schedRtBegin(SchedRuntime *runtime)
{
    SchedStartPlan plan;
    ErrCode code = schedPlanStart(&runtime->state, &runtime->settings.schedule, timeNow(), &plan);
    if (code != ERR_OK) {
        schedRtErrorBlock(runtime, "Invalid configuration", false);
        return code;
    }
    schedRtPrintStart(runtime, &plan);
    if (!runtime->state.paused) {
        bool keepsRetry = !plan.catchUp && runtime->state.nextIsRetry && plan.nextRun == runtime->state.nextRun;
        runtime->state.nextRun = plan.nextRun;
        runtime->state.nextIsRetry = keepsRetry;
    }
    runtime->state.pid = (int64_t)runtime->request->pid;
    schedRtPersist(runtime);
    return ERR_OK;
}

static bool schedRtFlag(volatile sig_atomic_t *flag)
{
    return flag && *flag;
}

/* Runs until *cancelFlag. */
static void schedRtLoop(SchedRuntime *runtime)
{
    const SchedRuntimeRequest *request = runtime->request;
    for (;;) {
        request->wait(request->payload, 0); /* signals that arrived meanwhile (during alerts, say) */
        if (*request->cancelFlag)
            return;
        if (schedRtFlag(request->reloadFlag)) {
            *request->reloadFlag = 0;
            if (request->reload)
                schedRtReload(runtime);
        }
        bool resumeSignalled = schedRtFlag(request->resumeFlag);
        if (resumeSignalled || fsExists(runtime->resumePath)) {
            if (request->resumeFlag)
                *request->resumeFlag = 0;
            schedRtHandleResume(runtime, resumeSignalled);
        }
        if (!runtime->state.paused && runtime->state.nextRun > 0 && runtime->state.nextRun <= timeNow()) {
            if (!schedRtRunBackup(runtime))
                return;
            schedRtEmit(request->onEvent, request->eventPayload, &(SchedEvent){.kind = SCHED_EVENT_RUN_END});
            continue;
        }
        request->wait(request->payload, schedRtWaitSeconds(runtime));
    }
}

ErrCode schedRuntimeRun(const SchedRuntimeRequest *request)
{
    SchedRuntime *runtime = memCalloc(1, sizeof(*runtime));
    runtime->request = request;
    runtime->settings = request->settings;
    ErrCode code = schedRtPaths(request->root, runtime->statePath, runtime->resumePath, sizeof(runtime->statePath));
    if (code != ERR_OK) {
        free(runtime);
        return code;
    }
    schedRuntimeLoadState(runtime->statePath, &runtime->state, request->onEvent, request->eventPayload);
    code = schedRtBegin(runtime);
    if (code == ERR_OK) {
        if (request->started)
            code = request->started(request->payload);
        if (code == ERR_OK) {
            schedRtLoop(runtime);
            schedRtLog(runtime, LOG_INFO, "Backup scheduler stopped by a signal");
        }
        runtime->state.pid = 0;
        schedRtPersist(runtime);
    }
    free(runtime);
    return code;
}

/* ---- --resume ---------------------------------------------------------------------- */

static void schedRtSleep(const SchedResumeRequest *request, double seconds)
{
    if (request->sleep) {
        request->sleep(request->payload, seconds);
        return;
    }
    struct timespec pause = {.tv_sec = (time_t)seconds, .tv_nsec = (long)((seconds - (double)(time_t)seconds) * 1e9)};
    while (nanosleep(&pause, &pause) != 0 && errno == EINTR) {
    }
}

/* Asks the running scheduler (pid) to resume: a request file it finds even
 * when the signal cannot reach it, plus SIGUSR1 to wake it now. Waits for the
 * state file to show the resume. */
static ErrCode schedRtResumeRunning(const SchedResumeRequest *request, const char *statePath, const char *resumePath,
                                    pid_t pid)
{
    char line[128];
    char text[TIME_TEXT_SIZE];
    int length = snprintf(line, sizeof(line), "resume requested at %s by pid %ld\n", schedRtTime(timeNow(), text),
                          (long)getpid());
    ErrCode code = fsWriteAtomic(resumePath, line, (size_t)length, 0600);
    if (code != ERR_OK)
        return code;
    if (pid > 0 && kill(pid, SIGUSR1) != 0)
        schedRtLogTo(request->onEvent, request->eventPayload, LOG_WARN,
                     "Could not signal the scheduler (pid %ld): %s; it finds the request within %d seconds",
                     (long)pid, strerror(errno), SCHED_PAUSED_POLL_SECONDS);
    double deadline = timeMonotonic() + SCHED_RESUME_CONFIRM_SECONDS;
    while (timeMonotonic() < deadline) {
        SchedState state;
        bool found = false;
        if (schedStateLoad(statePath, &state, &found) == ERR_OK && found && !state.paused) {
            schedRtLogTo(request->onEvent, request->eventPayload, LOG_SUCCESS,
                         "Scheduler resumed (pid %ld); it takes a backup now", (long)pid);
            return ERR_OK;
        }
        schedRtSleep(request, 0.1);
    }
    errSet(SCHEDULER_PAUSED, "The scheduler (pid %ld) did not confirm the resume within %d seconds", (long)pid,
           SCHED_RESUME_CONFIRM_SECONDS);
    errSetAction("Check that the scheduler is running and can read %s; the request stays in place", resumePath);
    return SCHEDULER_PAUSED;
}

ErrCode schedRuntimeResume(const SchedResumeRequest *request, SchedResumeOutcome *outcome)
{
    *outcome = SCHED_RESUME_NOT_PAUSED;
    char statePath[4096];
    char resumePath[4096];
    char lockPath[4096];
    SchedState state;
    bool found = false;
    ErrCode code = schedRtPaths(request->root, statePath, resumePath, sizeof(statePath));
    if (code == ERR_OK)
        code = fsPathJoin(lockPath, sizeof(lockPath), request->root, SCHED_LOCK_FILE);
    if (code == ERR_OK)
        code = schedStateLoad(statePath, &state, &found);
    if (code != ERR_OK)
        return code;
    if (!found || !state.paused) {
        schedRtLogTo(request->onEvent, request->eventPayload, LOG_INFO,
                     "The scheduler for %s is not paused; nothing to resume", request->root);
        return ERR_OK;
    }
    char pausedAt[TIME_TEXT_SIZE];
    schedRtLogTo(request->onEvent, request->eventPayload, LOG_INFO, "The scheduler is paused since %s: %s",
                 schedRtTime(state.pausedAt, pausedAt), state.pauseReason);
    if (request->dryRun) {
        *outcome = SCHED_RESUME_DRY_RUN;
        schedRtLogTo(request->onEvent, request->eventPayload, LOG_INFO,
                     "Dry run: would resume the scheduler; nothing was changed");
        return ERR_OK;
    }
    /* Holding the scheduler lock proves no scheduler runs: edit the state
     * directly (and a scheduler starting meanwhile waits for nothing: it
     * fails to lock and says so). */
    Lock *lock = NULL;
    code = lockAcquire(&lock, lockPath, LOCK_EXCLUSIVE, 0, "neo4j-backup --resume");
    if (code == ERR_OK) {
        schedResume(&state, timeNow());
        state.nextRun = 0; /* planned afresh by the next start */
        state.pid = 0;
        code = schedRuntimeSaveState(statePath, &state);
        lockRelease(lock);
        if (code == ERR_OK) {
            *outcome = SCHED_RESUME_STATE;
            schedRtLogTo(request->onEvent, request->eventPayload, LOG_SUCCESS,
                         "Scheduler resumed; no scheduler is running for %s: start it with neo4j-backup --schedule",
                         request->root);
        }
    } else if (code == BACKUP_LOCKED) {
        pid_t holder = 0;
        char purpose[128] = "";
        lockReadHolder(lockPath, &holder, purpose, sizeof(purpose));
        code = schedRtResumeRunning(request, statePath, resumePath, holder);
        if (code == ERR_OK)
            *outcome = SCHED_RESUME_RUNNING;
    }
    return code;
}
