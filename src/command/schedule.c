/* neo4j-backup --schedule and --resume: the front end of the scheduler's
 * runtime (schedule/runtime.h). Here: the settings from the configuration,
 * the scheduler lock, the log file and its sink, the signals, the backup
 * (createBackup) and retention steps the runtime calls back, the alerts'
 * delivery, the metrics file, and printing the runtime's events.
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
#include "common/fsutil.h"
#include "common/lock.h"
#include "common/log.h"
#include "common/mem.h"
#include "common/timeutil.h"
#include "schedule/cron.h"
#include "schedule/runtime.h"
#include "schedule/scheduler.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

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
    char root[4096];       /* BACKUP_STORAGE_PATH (a directory or s3://...) */
    char stateDir[4096];   /* this host's files: lock, state, log (BACKUP_STATE_DIR) */
    char lockPath[4096];
    char statePath[4096];
    char logPath[4096];
    sigset_t blocked;      /* the signals the loop handles */
    sigset_t waitMask;     /* the mask while waiting or backing up */
    bool backupRunning;    /* the sink keeps the backup's INFO lines in the log file only */
    bool eventLine;        /* the line being logged is a "[time] EVENT: ..." line */
    ErrCode (*started)(void *payload); /* cmdScheduleWith's hook */
    void *startedPayload;
} Scheduler;

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
        code = catRetentionPolicyConfigured(config, &out->retention);
    if (code == ERR_OK)
        code = cfgGetBool(config, CFG_BACKUP_ALERT_ON_FAILURE, &out->alertOnFailure);
    if (code == ERR_OK && !cfgGet(config, CFG_BACKUP_STORAGE_PATH))
        code = cfgStoragePathMissing();
    return code;
}

/* ---- files ------------------------------------------------------------------- */

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
static void schedSendAlert(Scheduler *scheduler, Alert *alert)
{
    const Config *config = scheduler->context->config;
    char *password = NULL;
    if (cfgGetSecret(config, CFG_BACKUP_SMTP_PASSWORD, &password) != ERR_OK)
        logWarn("Alert e-mail without SMTP password: %s", errLast()->reason);
    char *webhookToken = NULL;
    if (cfgGetSecret(config, CFG_BACKUP_ALERT_WEBHOOK_TOKEN, &webhookToken) != ERR_OK)
        logWarn("Alert webhook without its token: %s", errLast()->reason);
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
            .caFile = cfgGet(config, CFG_BACKUP_SMTP_CA_FILE),
            .allowPlainText = !requireTls,
            .timeoutMs = (long)timeoutSeconds * 1000,
        },
        .webhook = {
            .url = cfgGet(config, CFG_BACKUP_ALERT_WEBHOOK),
            .token = webhookToken,
            .caFile = cfgGet(config, CFG_BACKUP_ALERT_WEBHOOK_CA_FILE),
            .timeoutMs = (long)timeoutSeconds * 1000,
        },
    };
    alertLoadLogTail(alert, scheduler->logPath, SCHED_ALERT_LOG_LINES);
    bool configured = alertConfigured(&alertConfig);
    if (alertSend(&alertConfig, alert) && configured)
        logInfo("Alert sent: %s %s", alertSeverityName(alert->severity), alert->code);
    cfgSecretFree(password);
    cfgSecretFree(webhookToken);
}

/* Prints one of the runtime's events. */
static void schedOnEvent(const SchedEvent *event, void *payload)
{
    Scheduler *scheduler = payload;
    switch (event->kind) {
    case SCHED_EVENT_LINE:
        scheduler->eventLine = true;
        logInfo("%s", event->text);
        scheduler->eventLine = false;
        break;
    case SCHED_EVENT_LOG:
        logMessage(event->level, "%s", event->text);
        break;
    case SCHED_EVENT_ERROR_BLOCK:
        logErrorBlock(event->text, event->critical);
        break;
    case SCHED_EVENT_ALERT: {
        Alert alert;
        AlertSeverity severity = event->alertSeverity == SCHED_ALERT_CRITICAL ? ALERT_CRITICAL : ALERT_ERROR;
        if (event->alertError)
            alertInitFromError(&alert, severity, event->alertError);
        else
            alertInit(&alert, severity, event->alertCode, event->alertReason, event->alertAction);
        if (event->backupId && event->backupId[0])
            alertSetBackupId(&alert, event->backupId);
        schedSendAlert(scheduler, &alert);
        break;
    }
    case SCHED_EVENT_STATE_SAVED:
        /* The same metrics as GET /metrics of --serve (one writer, api/metrics.h). */
        apiMetricsWriteFile(scheduler->context->config, event->state);
        break;
    case SCHED_EVENT_RUN_END:
        schedRotateLog(scheduler);
        break;
    }
}

/* ---- the runtime's callbacks ------------------------------------------------- */

/* One backup, with the signals the loop handles unblocked so SIGTERM reaches it at once. */
static ErrCode schedBackup(void *payload, char id[CAT_ID_SIZE])
{
    Scheduler *scheduler = payload;
    scheduler->backupRunning = true;
    pthread_sigmask(SIG_SETMASK, &scheduler->waitMask, NULL);
    ErrCode code = createBackup(scheduler->context, id);
    /* The second location gets every backup it lacks, so a copy that failed
     * at an earlier run is made up now. A failed copy is reported, but the
     * backup stands: it is not retried (a retry would take a new backup). */
    if (code == ERR_OK && supportCopyAfterCreate(scheduler->context, id, true) != ERR_OK) {
        /* An off-site copy that silently stops is what alerts are for. */
        bool alertOnFailure = true;
        cfgGetBool(scheduler->context->config, CFG_BACKUP_ALERT_ON_FAILURE, &alertOnFailure);
        if (alertOnFailure) {
            ErrDetail failure = errSave();
            Alert alert;
            alertInitFromError(&alert, ALERT_ERROR, &failure);
            alertSetBackupId(&alert, id);
            schedSendAlert(scheduler, &alert);
        }
    }
    pthread_sigmask(SIG_BLOCK, &scheduler->blocked, NULL);
    scheduler->backupRunning = false;
    return code;
}

/* Retention in the copy location by its own policy (BACKUP_COPY_*), with
 * its own lines; the runtime's CLEANUP_SUCCESS line counts the primary. */
static ErrCode schedCleanupCopy(const Config *config)
{
    RetPolicy policy;
    Catalog *copy = NULL;
    CatNameList leftovers = {0};
    CatNameList deleted = {0};
    ErrCode code = catCopyRetentionPolicyConfigured(config, &policy);
    if (code == ERR_OK)
        code = catCopyOpenConfigured(config, true, &copy);
    if (code == ERR_OK)
        code = catCleanLeftovers(copy, false, &leftovers);
    for (size_t index = 0; code == ERR_OK && index < leftovers.count; index++)
        logInfo("Removed leftover of an interrupted run in the copy location: %s", leftovers.names[index]);
    if (code == ERR_OK)
        code = catRetentionApply(copy, &policy, timeNow(), false, &deleted);
    for (size_t index = 0; code == ERR_OK && index < deleted.count; index++)
        logInfo("Deleted %s from the copy location (retention)", deleted.names[index]);
    if (code != ERR_OK)
        errAddContext("the copy location %s", cfgGet(config, CFG_BACKUP_COPY_PATH));
    catClose(copy);
    catNameListFree(&leftovers);
    catNameListFree(&deleted);
    return code;
}

static ErrCode schedCleanup(void *payload, const RetPolicy *policy, SchedCleanupResult *out)
{
    Scheduler *scheduler = payload;
    Catalog *catalog = NULL;
    CatNameList leftovers = {0};
    ErrCode code = catOpenConfigured(scheduler->context->config, false, &catalog);
    if (code == ERR_OK)
        code = catCleanLeftovers(catalog, false, &leftovers);
    for (size_t index = 0; code == ERR_OK && index < leftovers.count; index++)
        logInfo("Removed leftover of an interrupted run: %s", leftovers.names[index]);
    if (code == ERR_OK)
        code = catRetentionApply(catalog, policy, timeNow(), false, &out->deleted);
    catClose(catalog);
    catNameListFree(&leftovers);
    if (code == ERR_OK && catCopyConfigured(scheduler->context->config))
        code = schedCleanupCopy(scheduler->context->config);
    return code;
}

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
    if (code == ERR_OK && optionsValue(options, OPT_TYPE))
        code = cfgSetOverride(config, CFG_BACKUP_TYPE, optionsValue(options, OPT_TYPE));
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

/* SIGHUP: a fresh configuration, kept when its settings load. */
static ErrCode schedReload(void *payload, SchedSettings *out)
{
    Scheduler *scheduler = payload;
    Config *fresh = NULL;
    ErrCode code = schedBuildConfig(scheduler->context->options, &fresh);
    if (code == ERR_OK)
        code = schedLoadSettings(fresh, out);
    if (code != ERR_OK) {
        cfgFree(fresh);
        return code;
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
    return ERR_OK;
}

/* Sleeps until seconds pass or a signal arrives. The handled signals are
 * blocked outside; ppoll unblocks them only while it waits. */
static void schedWait(void *payload, double seconds)
{
    const Scheduler *scheduler = payload;
    int64_t waitNs = (int64_t)(seconds * 1e9);
    struct timespec timeout = {.tv_sec = (time_t)(waitNs / 1000000000), .tv_nsec = (long)(waitNs % 1000000000)};
    if (ppoll(NULL, 0, &timeout, &scheduler->waitMask) < 0 && errno != EINTR)
        logDebug("ppoll: %s", strerror(errno));
}

/* ---- start and stop ---------------------------------------------------------- */

static ErrCode schedPaths(Scheduler *scheduler, const Config *config)
{
    const char *root = cfgGet(config, CFG_BACKUP_STORAGE_PATH);
    const char *stateDir = catStateDirectory(config);
    if (!root || !stateDir)
        return cfgStoragePathMissing();
    snprintf(scheduler->root, sizeof(scheduler->root), "%s", root);
    snprintf(scheduler->stateDir, sizeof(scheduler->stateDir), "%s", stateDir);
    ErrCode code = fsPathJoin(scheduler->lockPath, sizeof(scheduler->lockPath), stateDir, SCHED_LOCK_FILE);
    if (code == ERR_OK)
        code = fsPathJoin(scheduler->statePath, sizeof(scheduler->statePath), stateDir, SCHED_STATE_FILE);
    if (code == ERR_OK)
        code = fsPathJoin(scheduler->logPath, sizeof(scheduler->logPath), stateDir, SCHED_LOG_FILE);
    return code;
}

static ErrCode schedDryRun(const Scheduler *scheduler, const SchedSettings *settings)
{
    char description[256];
    char text[TIME_TEXT_SIZE];
    logInfo("Dry run: the scheduler would back up %s into %s", cronDescribe(&settings->schedule, description,
                                                                          sizeof(description)),
            scheduler->root);
    time_t cursor = (time_t)timeNow();
    for (int run = 1; run <= 5; run++) {
        if (cronNext(&settings->schedule, cursor, &cursor) != ERR_OK)
            break;
        timeFormatDisplay((int64_t)cursor, text);
        logInfo("Dry run: run %d at %s", run, text);
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

static ErrCode schedStarted(void *payload)
{
    Scheduler *scheduler = payload;
    return scheduler->started ? scheduler->started(scheduler->startedPayload) : ERR_OK;
}

ErrCode cmdSchedule(CommandContext *context) { return cmdScheduleWith(context, NULL, NULL); }

ErrCode cmdScheduleWith(CommandContext *context, ErrCode (*started)(void *payload), void *payload)
{
    Scheduler *scheduler = memCalloc(1, sizeof(*scheduler));
    scheduler->context = context;
    scheduler->original = context->config;
    scheduler->started = started;
    scheduler->startedPayload = payload;

    SchedSettings settings;
    ErrCode code = schedLoadSettings(context->config, &settings);
    if (code != ERR_OK) {
        logErrorBlock("Invalid configuration", false);
        free(scheduler);
        return code;
    }
    code = schedPaths(scheduler, context->config);
    if (code == ERR_OK && context->dryRun) {
        code = schedDryRun(scheduler, &settings);
        free(scheduler);
        return code;
    }

    Catalog *catalog = NULL;
    Lock *lock = NULL;
    if (code == ERR_OK)
        code = catOpenConfigured(context->config, true, &catalog); /* creates a storage path */
    if (code == ERR_OK)
        code = fsMkdirP(scheduler->stateDir, 0700); /* the storage path itself, or a separate state dir */
    if (code == ERR_OK)
        code = schedLockOrExplain(scheduler, &lock);
    if (code != ERR_OK) {
        logErrorBlock("Backup scheduler not started", false);
        catClose(catalog);
        free(scheduler);
        return code;
    }

    schedRotateLog(scheduler);
    logSetSink(schedSink, scheduler);
    SchedSavedSignals savedSignals;
    schedInstallSignals(scheduler, &savedSignals);
    SchedRuntimeRequest request = {
        .root = scheduler->stateDir,
        .catalog = catalog,
        .settings = settings,
        .backup = schedBackup,
        .cleanup = schedCleanup,
        .reload = schedReload,
        .wait = schedWait,
        .payload = scheduler,
        .cancelFlag = context->cancelFlag,
        .reloadFlag = &schedReloadRequested,
        .resumeFlag = &schedResumeSignalled,
        .pid = (long)getpid(),
        .onEvent = schedOnEvent,
        .eventPayload = scheduler,
        .started = schedStarted,
    };
    code = schedRuntimeRun(&request);
    logSetSink(NULL, NULL);
    logSetTeeFile(NULL);
    lockRelease(lock);
    catClose(catalog);
    schedRestoreSignals(&savedSignals);
    context->config = scheduler->original;
    cfgFree(scheduler->reloaded);
    free(scheduler);
    return code;
}

/* ---- --resume ---------------------------------------------------------------- */

static void schedResumeOnEvent(const SchedEvent *event, void *payload)
{
    (void)payload;
    if (event->kind == SCHED_EVENT_LOG)
        logMessage(event->level, "%s", event->text);
}

ErrCode cmdResume(CommandContext *context)
{
    const char *root = catStateDirectory(context->config);
    if (!root) {
        logErrorBlock("Cannot resume the scheduler", false);
        return CONFIG_INVALID;
    }
    SchedResumeRequest request = {.root = root, .dryRun = context->dryRun, .onEvent = schedResumeOnEvent};
    SchedResumeOutcome outcome;
    ErrCode code = schedRuntimeResume(&request, &outcome);
    if (code != ERR_OK)
        logErrorBlock("Cannot resume the scheduler", false);
    return code;
}
