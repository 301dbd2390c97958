/* neo4j-backup --schedule: the scheduler loop (waits, backs up, prunes,
 * retries, pauses, alerts), and neo4j-backup --resume.
 *
 * The decisions (retry, pause, missed runs, the state file) are pure functions
 * in src/schedule/scheduler.h; this file adds the clock, the signals, the
 * output and the alerts.
 *
 * Signals: SIGINT/SIGTERM (handlers of main.c) set context->cancelFlag: a
 * running backup stops cleanly and leaves nothing behind, then the scheduler
 * exits 0. SIGHUP reloads the configuration; SIGUSR1 resumes a paused
 * scheduler. The four signals stay blocked except while waiting (ppoll
 * unblocks them atomically, so no signal is lost between the check and the
 * wait) and while a backup runs (so SIGTERM reaches the backup at once). */
#include "command/support.h"

#include "alert/alert.h"
#include "api/metrics.h"
#include "common/format.h"
#include "common/fsutil.h"
#include "common/lock.h"
#include "common/log.h"
#include "common/mem.h"
#include "common/timeutil.h"
#include "schedule/cron.h"
#include "schedule/scheduler.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

ErrCode listRetentionPolicy(const Config *config, RetPolicy *out);

/* Longest single wait: wall-clock changes (NTP steps) are noticed this soon. */
#define SCHED_MAX_WAIT_SECONDS 60
/* A paused scheduler looks for a resume request file this often, for when
 * --resume cannot signal it (another user, another container). */
#define SCHED_PAUSED_POLL_SECONDS 5
/* How long --resume waits for a running scheduler to confirm. */
#define SCHED_RESUME_CONFIRM_SECONDS 15
/* The scheduler's log file is rotated (one old copy) beyond this size. */
#define SCHED_LOG_MAX_BYTES (1024 * 1024)
/* Log lines carried in an alert. */
#define SCHED_ALERT_LOG_LINES 25

static volatile sig_atomic_t schedReloadRequested;
static volatile sig_atomic_t schedResumeSignalled;

static void schedOnSignal(int signalNumber)
{
    if (signalNumber == SIGHUP)
        schedReloadRequested = 1;
    else if (signalNumber == SIGUSR1)
        schedResumeSignalled = 1;
}

typedef struct {
    CommandContext *context;
    Config *original;      /* main's configuration (borrowed) */
    Config *reloaded;      /* after SIGHUP: owned, in context->config */
    char root[4096];
    char lockPath[4096];
    char statePath[4096];
    char resumePath[4096];
    char logPath[4096];
    CronSchedule schedule;
    SchedPolicy policy;
    RetPolicy retention;
    bool alertOnFailure;
    SchedState state;
    sigset_t blocked;      /* the signals the loop handles */
    sigset_t waitMask;     /* the mask while waiting or backing up */
    bool backupRunning;    /* the sink keeps the backup's INFO lines in the log file only */
    bool eventLine;        /* the line being logged is a "[time] EVENT: ..." line */
} Scheduler;

typedef struct {
    CronSchedule schedule;
    SchedPolicy policy;
    RetPolicy retention;
    bool alertOnFailure;
} SchedSettings;

/* ---- output ---------------------------------------------------------------- */

static const char *schedLevelName(LogLevel level)
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

/* The scheduler's sink: the contract's "[time] EVENT" lines plainly on
 * stdout; the INFO/SUCCESS chatter of a running backup only in the log file
 * (and on the terminal with -v); everything else as the default sink. */
static void schedSink(LogLevel level, const char *line, void *payload)
{
    const Scheduler *scheduler = payload;
    if (scheduler->eventLine) {
        char stamp[TIME_TEXT_SIZE];
        timeFormatDisplay(timeNow(), stamp);
        stamp[19] = '\0'; /* "YYYY-MM-DD HH:MM:SS" without " UTC" */
        printf("[%s] %s\n", stamp, line);
        fflush(stdout);
        return;
    }
    if (scheduler->backupRunning && !logVerbose() && (level == LOG_INFO || level == LOG_SUCCESS))
        return;
    FILE *stream = level >= LOG_ERROR ? stderr : stdout;
    fprintf(stream, "%s: %s\n", schedLevelName(level), line);
    fflush(stream);
}

static void schedEvent(Scheduler *scheduler, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void schedEvent(Scheduler *scheduler, const char *fmt, ...)
{
    char line[2048];
    va_list args;
    va_start(args, fmt);
    vsnprintf(line, sizeof(line), fmt, args);
    va_end(args);
    scheduler->eventLine = true;
    logInfo("%s", line);
    scheduler->eventLine = false;
}

static const char *schedTimeText(int64_t seconds, char out[TIME_TEXT_SIZE])
{
    timeFormatDisplay(seconds, out);
    return out;
}

/* ---- settings ---------------------------------------------------------------- */

static ErrCode schedLoadSettings(const Config *config, SchedSettings *out)
{
    memset(out, 0, sizeof(*out));
    const char *expression = cfgGet(config, CFG_BACKUP_SCHEDULE);
    if (!expression) {
        errSet(CONFIG_INVALID, "BACKUP_SCHEDULE is empty");
        errSetAction("Set BACKUP_SCHEDULE to a cron expression in UTC, e.g. \"0 2 * * *\"");
        return CONFIG_INVALID;
    }
    ErrCode code = cronParse(expression, &out->schedule);
    if (code == ERR_OK)
        code = cfgGetSecondsList(config, CFG_BACKUP_RETRY_DELAYS, out->policy.retryDelays, SCHED_RETRY_DELAYS_MAX,
                                 &out->policy.retryDelayCount);
    int64_t maxFailures = SCHED_DEFAULT_MAX_FAILURES;
    if (code == ERR_OK)
        code = cfgGetInt(config, CFG_BACKUP_MAX_FAILURES, &maxFailures);
    out->policy.maxFailures = (int)maxFailures;
    if (code == ERR_OK)
        code = listRetentionPolicy(config, &out->retention);
    if (code == ERR_OK)
        code = cfgGetBool(config, CFG_BACKUP_ALERT_ON_FAILURE, &out->alertOnFailure);
    if (code == ERR_OK && !cfgGet(config, CFG_BACKUP_STORAGE_PATH))
        code = cfgStoragePathMissing();
    return code;
}

static void schedApplySettings(Scheduler *scheduler, const SchedSettings *settings)
{
    scheduler->schedule = settings->schedule;
    scheduler->policy = settings->policy;
    scheduler->retention = settings->retention;
    scheduler->alertOnFailure = settings->alertOnFailure;
}

/* ---- files ------------------------------------------------------------------- */

static void schedSaveState(Scheduler *scheduler)
{
    if (schedStateSave(scheduler->statePath, &scheduler->state) != ERR_OK)
        logWarn("Could not save the scheduler state: %s", errLast()->reason);
}

/* The same metrics as GET /metrics of --serve (one writer, api/metrics.h). */
static void schedWriteMetrics(Scheduler *scheduler)
{
    apiMetricsWriteFile(scheduler->context->config, &scheduler->state);
}

static void schedPersist(Scheduler *scheduler)
{
    schedSaveState(scheduler);
    schedWriteMetrics(scheduler);
}

/* Keeps the log file bounded: beyond SCHED_LOG_MAX_BYTES it becomes
 * .scheduler.log.1 (replacing an older one) and a new file starts. */
static void schedRotateLog(Scheduler *scheduler)
{
    struct stat info;
    if (stat(scheduler->logPath, &info) == 0 && info.st_size > SCHED_LOG_MAX_BYTES) {
        char oldPath[4200];
        snprintf(oldPath, sizeof(oldPath), "%s.1", scheduler->logPath);
        logSetTeeFile(NULL);
        if (rename(scheduler->logPath, oldPath) != 0)
            logWarn("Could not rotate %s: %s", scheduler->logPath, strerror(errno));
    }
    /* Created 0600 before the logger opens it: error lines may name hosts and paths. */
    int descriptor = open(scheduler->logPath, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (descriptor >= 0)
        close(descriptor);
    logSetTeeFile(scheduler->logPath);
}

/* ---- alerts ------------------------------------------------------------------ */

/* Sends an alert to the configured sinks. A failed delivery is logged by
 * alertSend and never stops the scheduler. */
static void schedAlert(Scheduler *scheduler, Alert *alert)
{
    const Config *config = scheduler->context->config;
    char *password = NULL;
    if (cfgGetSecret(config, CFG_BACKUP_SMTP_PASSWORD, &password) != ERR_OK)
        logWarn("Alert e-mail without SMTP password: %s", errLast()->reason);
    bool requireTls = true;
    if (cfgGetBool(config, CFG_BACKUP_SMTP_REQUIRE_TLS, &requireTls) != ERR_OK)
        requireTls = true;
    int64_t timeoutSeconds = 30;
    if (cfgGetInt(config, CFG_BACKUP_SMTP_TIMEOUT, &timeoutSeconds) != ERR_OK)
        timeoutSeconds = 30;
    AlertConfig alertConfig = {
        .email = {
            .smtpUrl = cfgGet(config, CFG_BACKUP_SMTP_URL),
            .from = cfgGet(config, CFG_BACKUP_SMTP_FROM),
            .to = cfgGet(config, CFG_BACKUP_ALERT_EMAIL),
            .user = cfgGet(config, CFG_BACKUP_SMTP_USER),
            .password = password,
            .allowPlainText = !requireTls,
            .timeoutMs = (long)timeoutSeconds * 1000,
        },
        .webhook = {
            .url = cfgGet(config, CFG_BACKUP_ALERT_WEBHOOK),
            .timeoutMs = (long)timeoutSeconds * 1000,
        },
    };
    alertLoadLogTail(alert, scheduler->logPath, SCHED_ALERT_LOG_LINES);
    bool configured = alertConfigured(&alertConfig);
    if (alertSend(&alertConfig, alert) && configured)
        logInfo("Alert sent: %s %s", alertSeverityName(alert->severity), alert->code);
    cfgSecretFree(password);
}

/* ---- one run ----------------------------------------------------------------- */

static int64_t schedFrozenClock(void *payload)
{
    return *(const int64_t *)payload;
}

static int64_t schedNextRegular(const Scheduler *scheduler, int64_t after)
{
    time_t next = 0;
    if (cronNext(&scheduler->schedule, (time_t)after, &next) != ERR_OK)
        return 0;
    return (int64_t)next;
}

static void schedPrintNext(Scheduler *scheduler)
{
    char text[TIME_TEXT_SIZE];
    if (scheduler->state.paused)
        schedEvent(scheduler, "NEXT_BACKUP: none (paused; run neo4j-backup --resume)");
    else
        schedEvent(scheduler, "NEXT_BACKUP: %s%s", schedTimeText(scheduler->state.nextRun, text),
                   scheduler->state.nextIsRetry ? " (retry)" : "");
}

/* Retention after a successful backup, with the contract's CLEANUP lines. A
 * failed cleanup is reported but does not make the backup a failure. */
static void schedCleanup(Scheduler *scheduler)
{
    const RetPolicy *policy = &scheduler->retention;
    if (policy->weeks || policy->months)
        schedEvent(scheduler, "CLEANUP_START: Remove backups older than %" PRId64 " days (keeping %" PRId64
                   " weekly, %" PRId64 " monthly)", policy->days, policy->weeks, policy->months);
    else
        schedEvent(scheduler, "CLEANUP_START: Remove backups older than %" PRId64 " days", policy->days);
    Catalog *catalog = NULL;
    CatNameList leftovers = {0};
    CatNameList deleted = {0};
    ErrCode code = catOpen(&catalog, scheduler->root, false);
    if (code == ERR_OK)
        code = catCleanLeftovers(catalog, false, &leftovers);
    for (size_t index = 0; code == ERR_OK && index < leftovers.count; index++)
        logInfo("Removed leftover of an interrupted run: %s", leftovers.names[index]);
    if (code == ERR_OK)
        code = catRetentionApply(catalog, policy, timeNow(), false, &deleted);
    catClose(catalog);
    if (code != ERR_OK) {
        bool noneRestorable = code == BACKUP_NONE_RESTORABLE;
        ErrDetail failure = errSave();
        logErrorBlock("Cleanup failed", noneRestorable);
        schedEvent(scheduler, "CLEANUP_FAILED: %s", errName(code));
        if (noneRestorable) {
            Alert alert;
            alertInitFromError(&alert, ALERT_CRITICAL, &failure);
            schedAlert(scheduler, &alert);
        }
    } else {
        Buffer names;
        bufferInit(&names);
        for (size_t index = 0; index < deleted.count; index++)
            bufferAppendF(&names, "%s%s", index ? ", " : " (", deleted.names[index]);
        if (deleted.count)
            bufferAppend(&names, ")", 1);
        bufferAppendByte(&names, 0);
        schedEvent(scheduler, "CLEANUP_SUCCESS: Deleted %zu backup%s%s", deleted.count,
                   deleted.count == 1 ? "" : "s", (const char *)names.data);
        bufferFree(&names);
    }
    catNameListFree(&leftovers);
    catNameListFree(&deleted);
}

static void schedOnFailure(Scheduler *scheduler, const char *attemptId, const ErrDetail *failure,
                           int64_t started, double duration)
{
    ErrCode code = failure->code == ERR_OK ? ERR_INTERNAL : failure->code;
    char reason[sizeof(failure->reason) + sizeof(failure->details) + 8];
    const char *baseReason = failure->reason[0] ? failure->reason : errDefaultMessage(code);
    if (failure->details[0])
        snprintf(reason, sizeof(reason), "%s (%s)", baseReason, failure->details);
    else
        snprintf(reason, sizeof(reason), "%s", baseReason);

    int64_t now = timeNow();
    SchedAfter after = schedRecordFailure(&scheduler->state, &scheduler->policy, started, duration, now,
                                          schedNextRegular(scheduler, now), errName(code), reason);
    int maxFailures = scheduler->policy.maxFailures;
    schedEvent(scheduler, "BACKUP_FAILED: %s (%s, failure %d of %d)", attemptId, errName(code),
               scheduler->state.consecutiveFailures, maxFailures);
    if (after == SCHED_AFTER_PAUSED) {
        logCritical("Scheduler paused: %s", scheduler->state.pauseReason);
        logCritical("No backups will be taken until an operator fixes the cause and runs: neo4j-backup --resume");
        schedEvent(scheduler, "SCHEDULER_PAUSED: %d consecutive failures", scheduler->state.consecutiveFailures);
    } else if (scheduler->state.nextIsRetry) {
        char text[TIME_TEXT_SIZE];
        char wait[FORMAT_TEXT_SIZE];
        schedEvent(scheduler, "RETRY: attempt %d at %s (in %s)", scheduler->state.consecutiveFailures + 1,
                   schedTimeText(scheduler->state.nextRun, text),
                   fmtSeconds(wait, sizeof(wait), (double)(scheduler->state.nextRun - now)));
    }
    schedPrintNext(scheduler);
    schedPersist(scheduler);

    /* Alerts last: a slow relay must not delay the log lines above. */
    if (scheduler->alertOnFailure || code == BACKUP_NO_SPACE) {
        Alert alert;
        alertInit(&alert, code == BACKUP_NO_SPACE ? ALERT_CRITICAL : ALERT_ERROR, errName(code), reason,
                  failure->action[0] ? failure->action : errDefaultAction(code));
        alertSetBackupId(&alert, attemptId);
        schedAlert(scheduler, &alert);
    }
    if (after == SCHED_AFTER_PAUSED) {
        Alert alert;
        alertInit(&alert, ALERT_CRITICAL, errName(SCHEDULER_PAUSED), scheduler->state.pauseReason,
                  errDefaultAction(SCHEDULER_PAUSED));
        schedAlert(scheduler, &alert);
    }
}

/* Takes one backup with the contract's lines. Returns false when a signal
 * stopped it (nothing is kept, and the run does not count as a failure). */
static bool schedRunBackup(Scheduler *scheduler)
{
    CommandContext *context = scheduler->context;
    int64_t started = timeNow();
    /* The id createBackup will choose, so BACKUP_START can name it: the clock
     * is pinned to the start while the backup runs, and catNewId is
     * deterministic for a given time and catalog. */
    char attemptId[CAT_ID_SIZE] = "";
    Catalog *catalog = NULL;
    if (catOpen(&catalog, scheduler->root, true) == ERR_OK && catNewId(catalog, started, attemptId) != ERR_OK)
        attemptId[0] = '\0';
    catClose(catalog);
    if (!attemptId[0])
        timeBackupId(started, attemptId);
    schedEvent(scheduler, "BACKUP_START: %s", attemptId);

    double monotonicStart = timeMonotonic();
    int64_t pinnedNow = started;
    char backupId[CAT_ID_SIZE] = "";
    errClear();
    timeSetClock(schedFrozenClock, &pinnedNow);
    scheduler->backupRunning = true;
    pthread_sigmask(SIG_SETMASK, &scheduler->waitMask, NULL);
    ErrCode code = createBackup(context, backupId);
    pthread_sigmask(SIG_BLOCK, &scheduler->blocked, NULL);
    scheduler->backupRunning = false;
    timeSetClock(NULL, NULL);
    ErrDetail failure = errSave();
    failure.code = code;
    double duration = timeMonotonic() - monotonicStart;

    if (code == ERR_OK) {
        char seconds[FORMAT_TEXT_SIZE];
        schedEvent(scheduler, "BACKUP_SUCCESS: %s (%s)", backupId, fmtSeconds(seconds, sizeof(seconds), duration));
        schedCleanup(scheduler);
        schedRecordSuccess(&scheduler->state, started, duration, backupId,
                           schedNextRegular(scheduler, timeNow()));
        schedPrintNext(scheduler);
        schedPersist(scheduler);
        return true;
    }
    if (*context->cancelFlag) {
        schedEvent(scheduler, "BACKUP_ABORTED: %s (stopped by a signal; nothing was kept)", attemptId);
        return false;
    }
    schedOnFailure(scheduler, attemptId, &failure, started, duration);
    return true;
}

/* ---- signals: reload, resume, wait ------------------------------------------- */

/* Builds a fresh configuration as main.c does (environment, --config file,
 * command-line overrides). */
static ErrCode schedBuildConfig(const ParsedOptions *options, Config **out)
{
    Config *config = NULL;
    ErrCode code = cfgNew(&config);
    const char *file = optionsValue(options, OPT_CONFIG);
    if (code == ERR_OK && file)
        code = cfgLoadFile(config, file);
    if (code == ERR_OK && optionsValue(options, OPT_COMPRESSION))
        code = cfgSetOverride(config, CFG_BACKUP_COMPRESSION, optionsValue(options, OPT_COMPRESSION));
    if (code == ERR_OK && optionsValue(options, OPT_METHOD))
        code = cfgSetOverride(config, CFG_BACKUP_METHOD, optionsValue(options, OPT_METHOD));
    if (code == ERR_OK)
        code = cfgValidate(config);
    if (code != ERR_OK) {
        cfgFree(config);
        return code;
    }
    *out = config;
    return ERR_OK;
}

static void schedReload(Scheduler *scheduler)
{
    logInfo("SIGHUP: reloading the configuration...");
    Config *fresh = NULL;
    SchedSettings settings;
    ErrCode code = schedBuildConfig(scheduler->context->options, &fresh);
    if (code == ERR_OK)
        code = schedLoadSettings(fresh, &settings);
    if (code != ERR_OK) {
        cfgFree(fresh);
        logErrorBlock("Configuration reload failed; the scheduler keeps its previous configuration", false);
        return;
    }
    const char *root = cfgGet(fresh, CFG_BACKUP_STORAGE_PATH);
    if (strcmp(root, scheduler->root) != 0) {
        /* The lock and the state belong to the old path for this process. */
        logWarn("BACKUP_STORAGE_PATH changes take effect when the scheduler restarts; it keeps using %s",
                scheduler->root);
        cfgSetOverride(fresh, CFG_BACKUP_STORAGE_PATH, scheduler->root);
    }
    cfgFree(scheduler->reloaded);
    scheduler->reloaded = fresh;
    scheduler->context->config = fresh;
    schedApplySettings(scheduler, &settings);

    char description[256];
    char text[TIME_TEXT_SIZE];
    logInfo("Configuration reloaded");
    logInfo("Schedule: %s", cronDescribe(&scheduler->schedule, description, sizeof(description)));
    if (!scheduler->state.paused) {
        int64_t regular = schedNextRegular(scheduler, timeNow());
        if (!scheduler->state.nextIsRetry || scheduler->state.nextRun > regular) {
            scheduler->state.nextRun = regular;
            scheduler->state.nextIsRetry = false;
        }
        logInfo("Next backup: %s", schedTimeText(scheduler->state.nextRun, text));
    }
    schedPersist(scheduler);
}

/* A resume request arrived (SIGUSR1 and/or the request file). */
static void schedHandleResume(Scheduler *scheduler, bool bySignal)
{
    bool byFile = fsExists(scheduler->resumePath);
    if (byFile && unlink(scheduler->resumePath) != 0 && errno != ENOENT)
        logWarn("Could not remove %s: %s", scheduler->resumePath, strerror(errno));
    if (!schedResume(&scheduler->state, timeNow())) {
        logInfo("Resume requested, but the scheduler is not paused");
        return;
    }
    logInfo("Scheduler resumed by the operator (%s); taking a backup now",
            byFile ? "neo4j-backup --resume" : bySignal ? "SIGUSR1" : "request");
    schedEvent(scheduler, "SCHEDULER_RESUMED");
    schedPersist(scheduler);
}

/* Sleeps until the next run is due, a signal arrives, or the longest wait
 * passes. The handled signals are blocked on entry; ppoll unblocks them only
 * while it waits. */
static void schedWait(const Scheduler *scheduler)
{
    struct timespec realNow;
    clock_gettime(CLOCK_REALTIME, &realNow);
    int64_t waitNs;
    if (scheduler->state.paused || scheduler->state.nextRun <= 0) {
        waitNs = (int64_t)SCHED_PAUSED_POLL_SECONDS * 1000000000;
    } else {
        /* timeNow() counts whole seconds; wake at the start of the due second. */
        int64_t seconds = scheduler->state.nextRun - timeNow();
        if (seconds > SCHED_MAX_WAIT_SECONDS)
            seconds = SCHED_MAX_WAIT_SECONDS;
        waitNs = seconds * 1000000000 - realNow.tv_nsec;
        if (waitNs < 1000000)
            waitNs = 1000000;
    }
    struct timespec timeout = {.tv_sec = (time_t)(waitNs / 1000000000), .tv_nsec = (long)(waitNs % 1000000000)};
    if (ppoll(NULL, 0, &timeout, &scheduler->waitMask) < 0 && errno != EINTR)
        logDebug("ppoll: %s", strerror(errno));
}

/* Lets signals that arrived while they were blocked (during alerts, say) run
 * their handlers now, so the loop sees a stop request before starting a
 * backup. */
static void schedDeliverPendingSignals(const Scheduler *scheduler)
{
    struct timespec noWait = {0, 0};
    ppoll(NULL, 0, &noWait, &scheduler->waitMask);
}

/* ---- start and stop ---------------------------------------------------------- */

static ErrCode schedPaths(Scheduler *scheduler, const char *root)
{
    snprintf(scheduler->root, sizeof(scheduler->root), "%s", root);
    ErrCode code = fsPathJoin(scheduler->lockPath, sizeof(scheduler->lockPath), root, SCHED_LOCK_FILE);
    if (code == ERR_OK)
        code = fsPathJoin(scheduler->statePath, sizeof(scheduler->statePath), root, SCHED_STATE_FILE);
    if (code == ERR_OK)
        code = fsPathJoin(scheduler->resumePath, sizeof(scheduler->resumePath), root, SCHED_RESUME_FILE);
    if (code == ERR_OK)
        code = fsPathJoin(scheduler->logPath, sizeof(scheduler->logPath), root, SCHED_LOG_FILE);
    return code;
}

/* Loads the state file; a damaged one is set aside (kept for inspection) and
 * the scheduler starts afresh, loudly. */
static void schedLoadState(Scheduler *scheduler)
{
    bool found = false;
    if (schedStateLoad(scheduler->statePath, &scheduler->state, &found) == ERR_OK)
        return;
    char damagedPath[4200];
    snprintf(damagedPath, sizeof(damagedPath), "%s.damaged", scheduler->statePath);
    logWarn("%s", errLast()->reason);
    if (rename(scheduler->statePath, damagedPath) == 0)
        logWarn("Moved it to %s and starting with a fresh state (a pause recorded there is lost)", damagedPath);
    schedStateInit(&scheduler->state);
}

static void schedPrintStart(Scheduler *scheduler, const SchedStartPlan *plan)
{
    char description[256];
    char text[TIME_TEXT_SIZE];
    char first[TIME_TEXT_SIZE];
    logInfo("Backup scheduler started");
    logInfo("Schedule: %s", cronDescribe(&scheduler->schedule, description, sizeof(description)));
    if (scheduler->state.paused) {
        logWarn("The scheduler is paused since %s: %s", schedTimeText(scheduler->state.pausedAt, text),
                scheduler->state.pauseReason);
        logWarn("No backups will be taken until an operator runs neo4j-backup --resume (or sends SIGUSR1 to pid %ld)",
                (long)getpid());
        logInfo("Next backup: none (paused)");
        return;
    }
    if (plan->missedRuns > 0)
        logWarn("Missed %s%" PRIu64 " scheduled run%s since the last run at %s (first missed: %s); "
                "taking one catch-up backup now",
                plan->missedAtLimit ? "at least " : "", plan->missedRuns, plan->missedRuns == 1 ? "" : "s",
                schedTimeText(scheduler->state.lastRun, text), schedTimeText(plan->firstMissed, first));
    else if (plan->retryOverdue)
        logInfo("A retry of the failed backup was due at %s; taking it now",
                schedTimeText(scheduler->state.nextRun, text));
    else if (scheduler->state.consecutiveFailures > 0)
        logInfo("%d scheduled backup%s failed in a row before the restart", scheduler->state.consecutiveFailures,
                scheduler->state.consecutiveFailures == 1 ? "" : "s");
    logInfo("Next backup: %s", schedTimeText(plan->nextRun, text));
}

static ErrCode schedDryRun(const Scheduler *scheduler)
{
    char description[256];
    char text[TIME_TEXT_SIZE];
    logInfo("Dry run: the scheduler would back up %s into %s", cronDescribe(&scheduler->schedule, description,
                                                                          sizeof(description)),
            scheduler->root);
    time_t cursor = (time_t)timeNow();
    for (int run = 1; run <= 5; run++) {
        if (cronNext(&scheduler->schedule, cursor, &cursor) != ERR_OK)
            break;
        logInfo("Dry run: run %d at %s", run, schedTimeText((int64_t)cursor, text));
    }
    bool found = false;
    SchedState state;
    if (schedStateLoad(scheduler->statePath, &state, &found) == ERR_OK && found && state.paused)
        logInfo("Dry run: the scheduler is paused (%s); it would take no backups until --resume",
                state.pauseReason);
    logInfo("Dry run: nothing was changed");
    return ERR_OK;
}

static ErrCode schedLockOrExplain(Scheduler *scheduler, Lock **lock)
{
    ErrCode code = lockAcquire(lock, scheduler->lockPath, LOCK_EXCLUSIVE, 0, "neo4j-backup --schedule");
    if (code != BACKUP_LOCKED)
        return code;
    pid_t holder = 0;
    char purpose[128] = "";
    lockReadHolder(scheduler->lockPath, &holder, purpose, sizeof(purpose));
    if (holder > 0) {
        errSet(BACKUP_LOCKED, "Another scheduler is already running for %s (pid %ld)", scheduler->root,
               (long)holder);
        errSetAction("Only one scheduler may run per storage path: stop pid %ld first, or use another "
                     "BACKUP_STORAGE_PATH", (long)holder);
    } else {
        errSet(BACKUP_LOCKED, "Another scheduler is already running for %s", scheduler->root);
        errSetAction("Only one scheduler may run per storage path: stop the other one first");
    }
    return BACKUP_LOCKED;
}

typedef struct {
    struct sigaction hup;
    struct sigaction usr1;
    sigset_t mask;
} SchedSavedSignals;

/* Installs the SIGHUP/SIGUSR1 handlers and blocks the four signals the loop
 * handles (SIGINT/SIGTERM keep main.c's handlers). */
static void schedInstallSignals(Scheduler *scheduler, SchedSavedSignals *saved)
{
    struct sigaction action;
    memset(&action, 0, sizeof(action));
    action.sa_handler = schedOnSignal;
    sigemptyset(&action.sa_mask);
    action.sa_flags = SA_RESTART; /* a reload request must not break a backup's I/O */
    sigaction(SIGHUP, &action, &saved->hup);
    sigaction(SIGUSR1, &action, &saved->usr1);
    static const int handled[] = {SIGINT, SIGTERM, SIGHUP, SIGUSR1};
    sigemptyset(&scheduler->blocked);
    for (size_t index = 0; index < sizeof(handled) / sizeof(handled[0]); index++)
        sigaddset(&scheduler->blocked, handled[index]);
    pthread_sigmask(SIG_BLOCK, &scheduler->blocked, &saved->mask);
    scheduler->waitMask = saved->mask;
    for (size_t index = 0; index < sizeof(handled) / sizeof(handled[0]); index++)
        sigdelset(&scheduler->waitMask, handled[index]);
}

static void schedRestoreSignals(const SchedSavedSignals *saved)
{
    pthread_sigmask(SIG_SETMASK, &saved->mask, NULL);
    sigaction(SIGHUP, &saved->hup, NULL);
    sigaction(SIGUSR1, &saved->usr1, NULL);
}

/* Plans the first run from the state found (pause, missed runs, a pending
 * retry), prints the start lines and records this process in the state. */
static ErrCode schedBegin(Scheduler *scheduler)
{
    SchedStartPlan plan;
    ErrCode code = schedPlanStart(&scheduler->state, &scheduler->schedule, timeNow(), &plan);
    if (code != ERR_OK) {
        logErrorBlock("Invalid configuration", false);
        return code;
    }
    schedPrintStart(scheduler, &plan);
    if (!scheduler->state.paused) {
        bool keepsRetry = !plan.catchUp && scheduler->state.nextIsRetry && plan.nextRun == scheduler->state.nextRun;
        scheduler->state.nextRun = plan.nextRun;
        scheduler->state.nextIsRetry = keepsRetry;
    }
    scheduler->state.pid = (int64_t)getpid();
    schedPersist(scheduler);
    return ERR_OK;
}

/* Runs until SIGTERM/SIGINT. */
static void schedLoop(Scheduler *scheduler)
{
    for (;;) {
        schedDeliverPendingSignals(scheduler);
        if (*scheduler->context->cancelFlag)
            return;
        if (schedReloadRequested) {
            schedReloadRequested = 0;
            schedReload(scheduler);
        }
        if (schedResumeSignalled || fsExists(scheduler->resumePath)) {
            bool bySignal = schedResumeSignalled;
            schedResumeSignalled = 0;
            schedHandleResume(scheduler, bySignal);
        }
        if (!scheduler->state.paused && scheduler->state.nextRun > 0 && scheduler->state.nextRun <= timeNow()) {
            if (!schedRunBackup(scheduler))
                return;
            schedRotateLog(scheduler);
            continue;
        }
        schedWait(scheduler);
    }
}

ErrCode cmdSchedule(CommandContext *context)
{
    Scheduler *scheduler = memCalloc(1, sizeof(*scheduler));
    scheduler->context = context;
    scheduler->original = context->config;

    SchedSettings settings;
    ErrCode code = schedLoadSettings(context->config, &settings);
    if (code != ERR_OK) {
        logErrorBlock("Invalid configuration", false);
        free(scheduler);
        return code;
    }
    schedApplySettings(scheduler, &settings);
    code = schedPaths(scheduler, cfgGet(context->config, CFG_BACKUP_STORAGE_PATH));
    if (code == ERR_OK && context->dryRun) {
        code = schedDryRun(scheduler);
        free(scheduler);
        return code;
    }

    Catalog *catalog = NULL;
    Lock *lock = NULL;
    if (code == ERR_OK)
        code = catOpen(&catalog, scheduler->root, true); /* creates the storage path */
    catClose(catalog);
    if (code == ERR_OK)
        code = schedLockOrExplain(scheduler, &lock);
    if (code != ERR_OK) {
        logErrorBlock("Backup scheduler not started", false);
        free(scheduler);
        return code;
    }

    schedRotateLog(scheduler);
    logSetSink(schedSink, scheduler);
    schedLoadState(scheduler);
    SchedSavedSignals savedSignals;
    schedInstallSignals(scheduler, &savedSignals);
    code = schedBegin(scheduler);
    if (code == ERR_OK) {
        schedLoop(scheduler);
        logInfo("Backup scheduler stopped by a signal");
        scheduler->state.pid = 0;
        schedPersist(scheduler);
    }
    logSetSink(NULL, NULL);
    logSetTeeFile(NULL);
    lockRelease(lock);
    schedRestoreSignals(&savedSignals);
    context->config = scheduler->original;
    cfgFree(scheduler->reloaded);
    free(scheduler);
    return code;
}

/* ---- --resume ---------------------------------------------------------------- */

static void schedSleepMs(long milliseconds)
{
    struct timespec pause = {.tv_sec = milliseconds / 1000, .tv_nsec = (milliseconds % 1000) * 1000000};
    while (nanosleep(&pause, &pause) != 0 && errno == EINTR) {
    }
}

/* Asks the running scheduler (pid) to resume: a request file it finds even
 * when the signal cannot reach it, plus SIGUSR1 to wake it now. Waits for the
 * state file to show the resume. */
static ErrCode schedResumeRunning(Scheduler *scheduler, pid_t pid)
{
    char request[128];
    char text[TIME_TEXT_SIZE];
    int length = snprintf(request, sizeof(request), "resume requested at %s by pid %ld\n",
                          schedTimeText(timeNow(), text), (long)getpid());
    ErrCode code = fsWriteAtomic(scheduler->resumePath, request, (size_t)length, 0600);
    if (code != ERR_OK)
        return code;
    if (pid > 0 && kill(pid, SIGUSR1) != 0)
        logWarn("Could not signal the scheduler (pid %ld): %s; it finds the request within %d seconds",
                (long)pid, strerror(errno), SCHED_PAUSED_POLL_SECONDS);
    double deadline = timeMonotonic() + SCHED_RESUME_CONFIRM_SECONDS;
    while (timeMonotonic() < deadline) {
        SchedState state;
        bool found = false;
        if (schedStateLoad(scheduler->statePath, &state, &found) == ERR_OK && found && !state.paused) {
            logSuccess("Scheduler resumed (pid %ld); it takes a backup now", (long)pid);
            return ERR_OK;
        }
        schedSleepMs(100);
    }
    errSet(SCHEDULER_PAUSED, "The scheduler (pid %ld) did not confirm the resume within %d seconds", (long)pid,
           SCHED_RESUME_CONFIRM_SECONDS);
    errSetAction("Check that the scheduler is running and can read %s; the request stays in place",
                 scheduler->resumePath);
    return SCHEDULER_PAUSED;
}

ErrCode cmdResume(CommandContext *context)
{
    Scheduler scheduler;
    memset(&scheduler, 0, sizeof(scheduler));
    const char *root = cfgGet(context->config, CFG_BACKUP_STORAGE_PATH);
    if (!root) {
        cfgStoragePathMissing();
        logErrorBlock("Cannot resume the scheduler", false);
        return CONFIG_INVALID;
    }
    ErrCode code = schedPaths(&scheduler, root);
    bool found = false;
    if (code == ERR_OK)
        code = schedStateLoad(scheduler.statePath, &scheduler.state, &found);
    if (code != ERR_OK) {
        logErrorBlock("Cannot resume the scheduler", false);
        return code;
    }
    if (!found || !scheduler.state.paused) {
        logInfo("The scheduler for %s is not paused; nothing to resume", root);
        return ERR_OK;
    }
    char pausedAt[TIME_TEXT_SIZE];
    logInfo("The scheduler is paused since %s: %s", schedTimeText(scheduler.state.pausedAt, pausedAt),
            scheduler.state.pauseReason);
    if (context->dryRun) {
        logInfo("Dry run: would resume the scheduler; nothing was changed");
        return ERR_OK;
    }
    /* Holding the scheduler lock proves no scheduler runs: edit the state
     * directly (and a scheduler starting meanwhile waits for nothing: it
     * fails to lock and says so). */
    Lock *lock = NULL;
    code = lockAcquire(&lock, scheduler.lockPath, LOCK_EXCLUSIVE, 0, "neo4j-backup --resume");
    if (code == ERR_OK) {
        schedResume(&scheduler.state, timeNow());
        scheduler.state.nextRun = 0; /* planned afresh by the next start */
        scheduler.state.pid = 0;
        code = schedStateSave(scheduler.statePath, &scheduler.state);
        lockRelease(lock);
        if (code == ERR_OK)
            logSuccess("Scheduler resumed; no scheduler is running for %s: start it with neo4j-backup --schedule",
                       root);
    } else if (code == BACKUP_LOCKED) {
        pid_t holder = 0;
        char purpose[128] = "";
        lockReadHolder(scheduler.lockPath, &holder, purpose, sizeof(purpose));
        code = schedResumeRunning(&scheduler, holder);
    }
    if (code != ERR_OK)
        logErrorBlock("Cannot resume the scheduler", false);
    return code;
}
