/* Jobs of the HTTP API: one detached thread per job, a table under a mutex,
 * a condition variable to wait for the running ones at shutdown. */
#include "api/jobs.h"
#include "catalog/catalog_key.h"

#include "api/metrics.h"
#include "catalog/catalog_settings.h"
#include "common/log.h"
#include "common/mem.h"
#include "common/timeutil.h"
#include "restore/restore_service.h"
#include "restore/restore_settings.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct ApiJob {
    ApiJobInfo info;
    struct ApiJobs *owner;
} ApiJob;

struct ApiJobs {
    Config *config;
    volatile sig_atomic_t *cancelFlag;
    const ApiBackends *backends;
    pthread_mutex_t lock;
    pthread_cond_t finished;
    ApiJob *jobs[API_JOBS_KEPT + API_JOB_KIND_COUNT]; /* oldest first */
    size_t count;
    unsigned running;
    unsigned long nextNumber;
    bool closing;
};

static const char *const apiJobKindNames[] = {"create", "validate", "restore"};
static const char *const apiJobStateNames[] = {"running", "succeeded", "failed"};

const char *apiJobKindName(ApiJobKind kind)
{
    return (unsigned)kind < API_JOB_KIND_COUNT ? apiJobKindNames[kind] : "unknown";
}

const char *apiJobStateName(ApiJobState state)
{
    return (unsigned)state <= API_JOB_FAILED ? apiJobStateNames[state] : "unknown";
}

ApiJobs *apiJobsNew(Config *config, volatile sig_atomic_t *cancelFlag, const ApiBackends *backends)
{
    ApiJobs *jobs = memCalloc(1, sizeof(*jobs));
    jobs->config = config;
    jobs->cancelFlag = cancelFlag;
    jobs->backends = backends;
    jobs->nextNumber = 1;
    pthread_mutex_init(&jobs->lock, NULL);
    pthread_cond_init(&jobs->finished, NULL);
    return jobs;
}

/* A create job: the backup service with the configuration's settings, as
 * `neo4j-backup --create` runs it (same lines in the log). */
static ErrCode apiJobCreate(ApiJobs *jobs, char resultId[CAT_ID_SIZE])
{
    if (!jobs->backends)
        return errSet(ERR_INTERNAL, "the API was started without its backup functions");
    BackupSettings settings;
    ErrCode code = backupSettingsResolve(jobs->config, &settings);
    if (code == ERR_OK && settings.method == BACKUP_METHOD_DUMP)
        code = jobs->backends->dumpCreate(jobs->config, jobs->cancelFlag, resultId);
    else if (code == ERR_OK)
        code = backupCreateConfigured(jobs->config, &settings, &jobs->backends->instances, false, jobs->cancelFlag,
                                      resultId);
    else
        logErrorBlock("Failed to create backup", false);
    /* The second location gets it as after --create; a failed copy fails the job, the backup stands. */
    if (code == ERR_OK && jobs->backends->copyAfterCreate)
        code = jobs->backends->copyAfterCreate(jobs->config, jobs->cancelFlag, resultId);
    backupSettingsFree(&settings);
    return code;
}

/* A validate job: repository validation of one backup, recording its verdict,
 * as `neo4j-backup --validate` runs it. */
static ErrCode apiJobValidate(ApiJobs *jobs, const char *backupId)
{
    Catalog *catalog = NULL;
    CatValidateResult result = {0};
    ErrCode code = catIdCheck(backupId);
    if (code == ERR_OK)
        code = catOpenConfigured(jobs->config, false, &catalog);
    CryptoMasterKey masterKey;
    bool keyed = false;
    if (code == ERR_OK)
        code = catMasterKeyConfigured(jobs->config, catalog, false, &masterKey, &keyed);
    if (code == ERR_OK) {
        CatValidateRequest request = {
            .masterKey = keyed ? &masterKey : NULL,
            .catalog = catalog,
            .backupId = backupId,
            .validateDump = jobs->backends ? jobs->backends->dumpValidate : NULL,
            .validateDumpPayload = jobs->config,
        };
        code = catValidate(&request, &result, &(CatValidateEvents){.onEvent = catValidateReportEvent});
    }
    if (keyed)
        cryptoMasterKeyWipe(&masterKey);
    catClose(catalog);
    if (code == ERR_OK && result.contentNotChecked)
        logSuccess("Backup %s: the encrypted archive is intact; its content was not checked without the key",
                   backupId);
    else if (code == ERR_OK)
        logSuccess("Backup %s is valid", backupId);
    else if (!result.reported)
        logErrorBlock("Backup validation failed", false);
    return code;
}

static void apiRestoreEvent(const RestoreEvent *event, void *payload)
{
    (void)payload;
    if (event->kind != RESTORE_EVENT_PROGRESS) /* the server log: no progress line */
        logMessage(event->level, "%s", event->text);
}

/* The caller confirmed with the backup id (routes.c checks it). */
static ErrCode apiRestoreConfirmed(const char *backupId, const char *productionUri, void *payload)
{
    (void)payload;
    logInfo("Promotion of %s to production (%s) confirmed by the API request", backupId, productionUri);
    return ERR_OK;
}

/* The promotion's safety backup: a create job's backup, taken inside the restore job. */
static ErrCode apiRestoreSafetyBackup(void *payload, char idOut[CAT_ID_SIZE])
{
    return apiJobCreate(payload, idOut);
}

/* A restore job: the request from the job's fields and the configuration. */
static ErrCode apiJobRestore(ApiJobs *jobs, const ApiJobRequest *job)
{
    if (!jobs->backends)
        return errSet(ERR_INTERNAL, "the API was started without its restore functions");
    RestoreSettings settings;
    Catalog *catalog = NULL;
    ErrCode code = restoreSettingsResolve(jobs->config, job->target[0] ? job->target : NULL, &settings);
    if (code == ERR_OK)
        code = catOpenConfigured(jobs->config, false, &catalog);
    if (code == ERR_OK)
        code = restoreSettingsResolveKey(jobs->config, catalog, &settings);
    if (code == ERR_OK) {
        ApiRestoreContext context = {.config = jobs->config, .cancelFlag = jobs->cancelFlag};
        RestoreInstanceOps ops = jobs->backends->restoreOps;
        ops.payload = &context;
        RestoreRequest request = {
            .catalog = catalog,
            .backupId = job->backupId,
            .validate = job->validate,
            .promote = job->promote,
            .cancelFlag = jobs->cancelFlag,
            .safetyBackup = apiRestoreSafetyBackup,
            .safetyBackupPayload = jobs,
            .ops = &ops,
        };
        restoreSettingsApply(&settings, &request);
        RestoreEvents events = {.onEvent = apiRestoreEvent, .confirmPromotion = apiRestoreConfirmed};
        RestoreResult result;
        code = restoreRun(&request, &result, &events);
        if (code != ERR_OK && !result.reported)
            logErrorBlock("Restore failed", false);
    }
    restoreSettingsFree(&settings);
    catClose(catalog);
    return code;
}

/* Runs what is behind one job. */
static ErrCode apiJobExecute(ApiJobs *jobs, ApiJob *job, char resultId[CAT_ID_SIZE])
{
    const ApiJobRequest *request = &job->info.request;
    errClear();
    switch (request->kind) {
    case API_JOB_CREATE: return apiJobCreate(jobs, resultId);
    case API_JOB_VALIDATE: return apiJobValidate(jobs, request->backupId);
    case API_JOB_RESTORE: return apiJobRestore(jobs, request);
    case API_JOB_KIND_COUNT: break;
    }
    return errSet(ERR_INTERNAL, "unknown job kind");
}

static void *apiJobThread(void *payload)
{
    ApiJob *job = payload;
    ApiJobs *jobs = job->owner;
    char resultId[CAT_ID_SIZE] = "";
    logInfo("API job %s: %s%s%s started", job->info.id, apiJobKindName(job->info.request.kind),
            job->info.request.backupId[0] ? " of " : "", job->info.request.backupId);
    ErrCode code = apiJobExecute(jobs, job, resultId);
    ErrDetail failure = errSave();
    apiMetricsWriteFile(jobs->config, NULL);
    if (code == ERR_OK)
        logInfo("API job %s: succeeded%s%s", job->info.id, resultId[0] ? ", backup " : "", resultId);
    else
        logWarn("API job %s: failed (%s)", job->info.id, errName(code));

    pthread_mutex_lock(&jobs->lock);
    job->info.finished = timeNow();
    if (code == ERR_OK) {
        job->info.state = API_JOB_SUCCEEDED;
        snprintf(job->info.resultBackupId, sizeof(job->info.resultBackupId), "%s", resultId);
    } else {
        job->info.state = API_JOB_FAILED;
        snprintf(job->info.errorCode, sizeof(job->info.errorCode), "%s", errName(code));
        snprintf(job->info.errorReason, sizeof(job->info.errorReason), "%s",
                 failure.reason[0] ? failure.reason : errDefaultMessage(code));
        snprintf(job->info.errorAction, sizeof(job->info.errorAction), "%s",
                 failure.action[0] ? failure.action : errDefaultAction(code));
    }
    /* After this, apiJobsFree may free the table and the job. */
    jobs->running--;
    pthread_cond_broadcast(&jobs->finished);
    pthread_mutex_unlock(&jobs->lock);
    return NULL;
}

/* Drops the oldest finished job when the table is full. */
static void apiJobsMakeRoom(ApiJobs *jobs)
{
    if (jobs->count < API_JOBS_KEPT)
        return;
    for (size_t index = 0; index < jobs->count; index++) {
        if (jobs->jobs[index]->info.state == API_JOB_RUNNING)
            continue;
        free(jobs->jobs[index]);
        memmove(&jobs->jobs[index], &jobs->jobs[index + 1], (jobs->count - index - 1) * sizeof(jobs->jobs[0]));
        jobs->count--;
        return;
    }
}

bool apiJobsKindRunning(ApiJobs *jobs, ApiJobKind kind)
{
    bool running = false;
    pthread_mutex_lock(&jobs->lock);
    for (size_t index = 0; index < jobs->count && !running; index++)
        running = jobs->jobs[index]->info.request.kind == kind && jobs->jobs[index]->info.state == API_JOB_RUNNING;
    pthread_mutex_unlock(&jobs->lock);
    return running;
}

ErrCode apiJobsStart(ApiJobs *jobs, const ApiJobRequest *request, char idOut[API_JOB_ID_SIZE])
{
    idOut[0] = '\0';
    pthread_mutex_lock(&jobs->lock);
    ErrCode code = ERR_OK;
    if (jobs->closing) {
        code = errSet(OPERATION_INTERRUPTED, "the server is stopping");
    } else {
        for (size_t index = 0; index < jobs->count; index++) {
            const ApiJobInfo *other = &jobs->jobs[index]->info;
            if (other->request.kind == request->kind && other->state == API_JOB_RUNNING) {
                code = errSet(BACKUP_LOCKED, "a %s job is already running (%s)", apiJobKindName(request->kind),
                              other->id);
                errSetAction("Wait for job %s to finish (GET /api/v1/jobs/%s), then retry", other->id, other->id);
                break;
            }
        }
    }
    if (code != ERR_OK) {
        pthread_mutex_unlock(&jobs->lock);
        return code;
    }
    apiJobsMakeRoom(jobs);
    ApiJob *job = memCalloc(1, sizeof(*job));
    job->owner = jobs;
    job->info.request = *request;
    job->info.state = API_JOB_RUNNING;
    job->info.created = timeNow();
    snprintf(job->info.id, sizeof(job->info.id), "job-%lu", jobs->nextNumber++);

    /* The job's thread inherits this mask: the stop signals stay with the
     * thread that waits for them. */
    sigset_t blocked;
    sigset_t previous;
    sigemptyset(&blocked);
    sigaddset(&blocked, SIGINT);
    sigaddset(&blocked, SIGTERM);
    sigaddset(&blocked, SIGHUP);
    sigaddset(&blocked, SIGUSR1);
    pthread_sigmask(SIG_BLOCK, &blocked, &previous);
    pthread_attr_t attributes;
    pthread_attr_init(&attributes);
    pthread_attr_setdetachstate(&attributes, PTHREAD_CREATE_DETACHED);
    pthread_t thread;
    int status = pthread_create(&thread, &attributes, apiJobThread, job);
    pthread_attr_destroy(&attributes);
    pthread_sigmask(SIG_SETMASK, &previous, NULL);
    if (status != 0) {
        free(job);
        pthread_mutex_unlock(&jobs->lock);
        return errSet(ERR_INTERNAL, "cannot start a job thread: %s", strerror(status));
    }
    jobs->jobs[jobs->count++] = job;
    jobs->running++;
    snprintf(idOut, API_JOB_ID_SIZE, "%s", job->info.id);
    pthread_mutex_unlock(&jobs->lock);
    return ERR_OK;
}

bool apiJobsFind(ApiJobs *jobs, const char *id, ApiJobInfo *out)
{
    bool found = false;
    pthread_mutex_lock(&jobs->lock);
    for (size_t index = 0; index < jobs->count && !found; index++) {
        if (strcmp(jobs->jobs[index]->info.id, id) == 0) {
            *out = jobs->jobs[index]->info;
            found = true;
        }
    }
    pthread_mutex_unlock(&jobs->lock);
    return found;
}

size_t apiJobsList(ApiJobs *jobs, ApiJobInfo *out, size_t max)
{
    size_t copied = 0;
    pthread_mutex_lock(&jobs->lock);
    for (size_t index = jobs->count; index > 0 && copied < max; index--)
        out[copied++] = jobs->jobs[index - 1]->info;
    pthread_mutex_unlock(&jobs->lock);
    return copied;
}

static void apiJsonTime(json_object *object, const char *key, int64_t seconds)
{
    char text[TIME_TEXT_SIZE];
    timeFormatIso(seconds, text);
    json_object_object_add(object, key, json_object_new_string(text));
}

json_object *apiJobJson(const ApiJobInfo *job)
{
    json_object *object = json_object_new_object();
    json_object_object_add(object, "id", json_object_new_string(job->id));
    json_object_object_add(object, "kind", json_object_new_string(apiJobKindName(job->request.kind)));
    json_object_object_add(object, "state", json_object_new_string(apiJobStateName(job->state)));
    const char *backupId = job->request.backupId[0] ? job->request.backupId : job->resultBackupId;
    if (backupId[0])
        json_object_object_add(object, "backup_id", json_object_new_string(backupId));
    if (job->request.kind == API_JOB_RESTORE) {
        json_object_object_add(object, "target", json_object_new_string(job->request.target));
        json_object_object_add(object, "validate", json_object_new_boolean(job->request.validate));
        json_object_object_add(object, "promote", json_object_new_boolean(job->request.promote));
    }
    apiJsonTime(object, "created", job->created);
    if (job->finished) {
        apiJsonTime(object, "finished", job->finished);
        json_object_object_add(object, "duration_seconds", json_object_new_int64(job->finished - job->created));
    }
    char link[128];
    snprintf(link, sizeof(link), "/api/v1/jobs/%s", job->id);
    json_object_object_add(object, "href", json_object_new_string(link));
    if (backupId[0] && job->state == API_JOB_SUCCEEDED) {
        snprintf(link, sizeof(link), "/api/v1/backups/%s", backupId);
        json_object_object_add(object, "backup_href", json_object_new_string(link));
    }
    if (job->state == API_JOB_FAILED) {
        json_object *error = json_object_new_object();
        json_object_object_add(error, "code", json_object_new_string(job->errorCode));
        json_object_object_add(error, "message", json_object_new_string(job->errorReason));
        json_object_object_add(error, "action", json_object_new_string(job->errorAction));
        json_object_object_add(object, "error", error);
    }
    return object;
}

void apiJobsFree(ApiJobs *jobs)
{
    if (!jobs)
        return;
    pthread_mutex_lock(&jobs->lock);
    jobs->closing = true;
    if (jobs->running)
        logInfo("Waiting for %u API job%s to finish...", jobs->running, jobs->running == 1 ? "" : "s");
    while (jobs->running)
        pthread_cond_wait(&jobs->finished, &jobs->lock);
    for (size_t index = 0; index < jobs->count; index++)
        free(jobs->jobs[index]);
    pthread_mutex_unlock(&jobs->lock);
    pthread_cond_destroy(&jobs->finished);
    pthread_mutex_destroy(&jobs->lock);
    free(jobs);
}
