/* The scheduler's decisions and memory, as pure functions and plain values,
 * so that every rule is unit-tested without a clock, a signal or a server.
 * The loop that waits, runs backups and reports alerts is the runtime
 * (runtime.h); src/command/schedule.c is its front end.
 *
 * Rules (contract, "Failure Handling"):
 *  - a failed backup is retried after the next of the retry delays
 *    (BACKUP_RETRY_DELAYS, default 1 min, 5 min, 30 min, 24 h; the last delay
 *    repeats), unless the next regular run comes first: a retry never delays
 *    a scheduled run;
 *  - after maxFailures (BACKUP_MAX_FAILURES, default 5) consecutive failures
 *    the scheduler PAUSES: no backups until an operator resumes it; the pause
 *    is kept in the state file, so it survives a restart;
 *  - a success clears the failure count; a resume clears it too and asks for
 *    a backup at once (the operator wants to know the fix worked);
 *  - runs missed while the scheduler was not running are counted at start,
 *    and at most ONE catch-up backup is taken for all of them.
 *
 * Files in BACKUP_STORAGE_PATH (names start with '.', so the catalog never
 * lists them as backups):
 *   .scheduler.lock    held (flock) by the running scheduler: one per path
 *   .scheduler.json    SchedState, rewritten atomically after every change
 *   .scheduler.resume  a resume request left by `neo4j-backup --resume`
 *   .scheduler.log     copy of the scheduler's log lines (alerts' log tail)
 *
 * Ownership: every type here is a plain value without heap memory. */
#ifndef NBK_SCHEDULE_SCHEDULER_H
#define NBK_SCHEDULE_SCHEDULER_H

#include "common/buffer.h"
#include "common/error.h"
#include "schedule/cron.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SCHED_LOCK_FILE ".scheduler.lock"
#define SCHED_STATE_FILE ".scheduler.json"
#define SCHED_RESUME_FILE ".scheduler.resume"
#define SCHED_LOG_FILE ".scheduler.log"

#define SCHED_RETRY_DELAYS_MAX 16
#define SCHED_DEFAULT_MAX_FAILURES 5
#define SCHED_STATE_FORMAT 1

typedef struct {
    int64_t retryDelays[SCHED_RETRY_DELAYS_MAX]; /* seconds; the last one repeats */
    size_t retryDelayCount;                      /* 0 = retry at the next regular run */
    int maxFailures;                             /* consecutive failures that pause */
} SchedPolicy;

typedef struct {
    bool paused;
    char pauseReason[1024];
    int64_t pausedAt;
    int consecutiveFailures;
    int64_t lastRun;            /* start of the last attempt; 0 = never */
    int64_t lastSuccess;        /* start of the last successful backup; 0 = never */
    double lastDurationSeconds; /* of the last attempt */
    char lastBackupId[72];      /* last successful backup */
    char lastErrorCode[64];     /* of the last failure, e.g. "NEO4J_UNREACHABLE" */
    char lastError[1024];       /* its reason */
    int64_t nextRun;            /* when the next attempt is due; 0 = none (paused) */
    bool nextIsRetry;           /* nextRun is a retry of a failed backup */
    int64_t pid;                /* the scheduler process; 0 once it stopped */
    uint64_t runsTotal;         /* attempts since the state file was created */
    uint64_t failuresTotal;
} SchedState;

/* Empty state: never ran, not paused. */
void schedStateInit(SchedState *out);

/* The state as JSON text (times in ISO-8601 UTC, absent when 0), appended to
 * out with a terminating NUL. */
void schedStateFormat(const SchedState *state, Buffer *out);
/* Parses schedStateFormat's text; unknown keys are ignored, missing ones keep
 * their empty value. BACKUP_IO_FAILED "damaged" for text that is no such
 * object. */
ErrCode schedStateParse(const char *text, SchedState *out);
/* Reads the state file. A missing file is no error: *found = false and an
 * empty state. */
ErrCode schedStateLoad(const char *path, SchedState *out, bool *found);
/* Writes the state file atomically (temporary file, fsync, rename), mode 0600. */
ErrCode schedStateSave(const char *path, const SchedState *state);

/* The wait before retry number `failures` (1 = after the first failure);
 * -1 when the policy has no delays. */
int64_t schedRetryDelay(const SchedPolicy *policy, int failures);

typedef enum {
    SCHED_AFTER_SCHEDULED, /* success: the next regular run follows */
    SCHED_AFTER_RETRY,     /* failure: a retry follows (state->nextRun) */
    SCHED_AFTER_PAUSED,    /* failure number maxFailures: paused */
} SchedAfter;

/* A backup started at `started` succeeded; nextScheduled is the next regular
 * run (cronNext after the end of the backup). Clears the failure count. */
SchedAfter schedRecordSuccess(SchedState *state, int64_t started, double durationSeconds,
                              const char *backupId, int64_t nextScheduled);
/* A backup started at `started` failed at `now` with code/reason. Counts the
 * failure, then either plans the retry (nextRun = the earlier of now + the
 * retry delay and nextScheduled) or pauses with a reason that names the count
 * and the last error. */
SchedAfter schedRecordFailure(SchedState *state, const SchedPolicy *policy, int64_t started,
                              double durationSeconds, int64_t now, int64_t nextScheduled,
                              const char *code, const char *reason);
/* The operator resumed at `now`: not paused, failures cleared, next attempt
 * at once. Returns false (state unchanged) when it was not paused. */
bool schedResume(SchedState *state, int64_t now);

/* Counts the schedule's fire times t with since < t <= now, stopping at
 * limit (then *count == limit). *first receives the earliest (0 if none). */
ErrCode schedCountMissed(const CronSchedule *schedule, int64_t since, int64_t now, uint64_t limit,
                         uint64_t *count, int64_t *first);

#define SCHED_MISSED_LIMIT 100000

typedef struct {
    uint64_t missedRuns;     /* regular runs that fell while nothing ran */
    bool missedAtLimit;      /* missedRuns stopped at SCHED_MISSED_LIMIT */
    int64_t firstMissed;     /* earliest missed run, 0 if none */
    bool retryOverdue;       /* a planned retry fell while nothing ran */
    bool catchUp;            /* take one backup now */
    int64_t nextRun;         /* when the first attempt is due; 0 when paused */
} SchedStartPlan;

/* What a scheduler starting at `now` does with the state it found: paused
 * stays paused; missed runs or an overdue retry give one catch-up backup now;
 * a pending retry in the future is kept when it comes before the next regular
 * run; otherwise the next regular run. A state that never ran has no missed
 * runs. */
ErrCode schedPlanStart(const SchedState *state, const CronSchedule *schedule, int64_t now,
                       SchedStartPlan *out);

/* Metrics in Prometheus text format (BACKUP_METRICS_FILE), appended to out
 * with a terminating NUL. */
void schedMetricsFormat(const SchedState *state, Buffer *out);

#endif
