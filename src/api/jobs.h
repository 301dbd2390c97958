/* Asynchronous jobs of the HTTP API: create, validate and restore run in
 * their own threads as requests to the services: create to the backup service
 * (backup/backup.h), validate to repository validation (catalog/validate.h),
 * restore to the restore service (restore/restore_service.h); jobs are
 * polled at /api/v1/jobs/<id>. At most one job of each kind runs at a time
 * (a second is refused with BACKUP_LOCKED, HTTP 409). Jobs live in memory
 * only: the last API_JOBS_KEPT finished ones are remembered.
 *
 * Ownership: ApiJobs owns its jobs; apiJobsFree waits for running ones. The
 * Config given to apiJobsNew is borrowed and must outlive the table. */
#ifndef NBK_API_JOBS_H
#define NBK_API_JOBS_H

#include "backup/backup_settings.h"
#include "catalog/catalog.h"
#include "catalog/validate.h"
#include "common/config.h"
#include "common/error.h"
#include "restore/restore_service.h"

#include <json-c/json.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

#define API_JOB_ID_SIZE 32
#define API_JOBS_KEPT 50

typedef enum {
    API_JOB_CREATE,
    API_JOB_VALIDATE,
    API_JOB_RESTORE,
    API_JOB_KIND_COUNT,
} ApiJobKind;

typedef enum {
    API_JOB_RUNNING,
    API_JOB_SUCCEEDED,
    API_JOB_FAILED,
} ApiJobState;

typedef struct {
    ApiJobKind kind;
    char backupId[CAT_ID_SIZE];          /* validate, restore */
    char target[CFG_INSTANCE_NAME_SIZE]; /* restore */
    bool validate;                       /* restore: run the health checks */
    bool promote;                        /* restore: then promote (confirmed by the caller) */
} ApiJobRequest;

/* A copy of one job's record. */
typedef struct {
    char id[API_JOB_ID_SIZE];
    ApiJobRequest request;
    ApiJobState state;
    int64_t created;
    int64_t finished;                    /* 0 while running */
    char resultBackupId[CAT_ID_SIZE];    /* create: the new backup */
    char errorCode[64];                  /* failed: e.g. "BACKUP_CORRUPTED" */
    char errorReason[1024];
    char errorAction[512];
} ApiJobInfo;

typedef struct ApiJobs ApiJobs;

/* The payload of restoreOps: what a restore job runs with. */
typedef struct {
    Config *config;
    volatile sig_atomic_t *cancelFlag;
} ApiRestoreContext;

/* What the server takes from the front end that starts it, until these live
 * below the front ends (issue 12): reaching instances, the dump method's
 * create and validate flows, resuming a paused scheduler, and the instance
 * work of a restore (the connection, the import and dump loads; the ops'
 * payload is set per job to an ApiRestoreContext). Borrowed; outlives the
 * server. */
typedef struct ApiBackends {
    BackupInstanceAccess instances;
    ErrCode (*dumpCreate)(Config *config, volatile sig_atomic_t *cancelFlag, char idOut[CAT_ID_SIZE]);
    /* payload: the jobs' Config. */
    CatValidateDumpFn dumpValidate;
    /* neo4j-backup --resume: ERR_OK when resumed or not paused; the
     * contract's lines are logged. */
    ErrCode (*resumeScheduler)(Config *config);
    /* After a create job's backup: its copy to BACKUP_COPY_PATH when set
     * (ERR_OK when unset; BACKUP_COPY_FAILED, logged, when it fails). May be NULL. */
    ErrCode (*copyAfterCreate)(Config *config, volatile sig_atomic_t *cancelFlag, const char *backupId);
    RestoreInstanceOps restoreOps;
} ApiBackends;

const char *apiJobKindName(ApiJobKind kind);   /* "create", "validate", "restore" */
const char *apiJobStateName(ApiJobState state); /* "running", "succeeded", "failed" */

ApiJobs *apiJobsNew(Config *config, volatile sig_atomic_t *cancelFlag, const ApiBackends *backends);
/* Starts a job; its id goes to idOut. BACKUP_LOCKED when a job of the same
 * kind runs, ERR_INTERNAL when no thread can be made. */
ErrCode apiJobsStart(ApiJobs *jobs, const ApiJobRequest *request, char idOut[API_JOB_ID_SIZE]);
/* True while a job of this kind runs. */
bool apiJobsKindRunning(ApiJobs *jobs, ApiJobKind kind);
/* Copy of one job; false when unknown. */
bool apiJobsFind(ApiJobs *jobs, const char *id, ApiJobInfo *out);
/* Copies of the newest jobs first, at most max; returns how many. */
size_t apiJobsList(ApiJobs *jobs, ApiJobInfo *out, size_t max);
/* JSON of a job (new reference). */
json_object *apiJobJson(const ApiJobInfo *job);
/* Refuses new jobs, then waits for the running ones and frees. NULL ignored. */
void apiJobsFree(ApiJobs *jobs);

#endif
