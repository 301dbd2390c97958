/* The scheduler's runtime as a service: the loop that waits for the next
 * run, takes a backup, applies retention, retries with backoff, pauses after
 * repeated failures, and keeps the state file; plus the resume of a paused
 * scheduler (--resume).
 *
 * The decisions are the pure functions of scheduler.h; this adds time and
 * order. What belongs to a front end arrives as callbacks: the backup and
 * the retention step (schedule/ calls nothing in command/), reloading the
 * configuration, waiting (signals are the process's business), and the
 * events. Every contract line ("BACKUP_START: <id>", "NEXT_BACKUP: ...") and
 * every message reaches the front end as an event with its text; alerts as
 * events with what an alert needs. The runtime prints nothing and reads no
 * configuration or environment.
 *
 * Time is timeNow() (common/timeutil.h), so a test installs its own clock
 * with timeSetClock and lets its wait callback move it: no sleeping.
 *
 * Files in the storage path: the state file (.scheduler.json, read and
 * written by schedRuntimeLoadState / schedRuntimeSaveState only) and the
 * resume request (.scheduler.resume). The lock and the log file are the
 * front end's.
 *
 * Ownership: the request's strings and callbacks are borrowed for the call;
 * events and their strings are valid during the callback only. */
#ifndef NBK_SCHEDULE_RUNTIME_H
#define NBK_SCHEDULE_RUNTIME_H

#include "catalog/catalog.h"
#include "catalog/retention.h"
#include "common/error.h"
#include "common/log.h"
#include "schedule/cron.h"
#include "schedule/scheduler.h"

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Longest single wait: wall-clock changes (NTP steps) are noticed this soon. */
#define SCHED_MAX_WAIT_SECONDS 60
/* A paused scheduler looks for a resume request file this often, for when
 * --resume cannot signal it (another user, another container). */
#define SCHED_PAUSED_POLL_SECONDS 5
/* How long --resume waits for a running scheduler to confirm. */
#define SCHED_RESUME_CONFIRM_SECONDS 15

typedef struct {
    CronSchedule schedule;
    SchedPolicy policy;
    RetPolicy retention;
    bool alertOnFailure; /* BACKUP_ALERT_ON_FAILURE; a full disk alerts always */
} SchedSettings;

typedef enum {
    SCHED_EVENT_LINE,          /* a contract event line: name ("BACKUP_START") and text ("BACKUP_START: <id>") */
    SCHED_EVENT_LOG,           /* a message: level and text */
    SCHED_EVENT_ERROR_BLOCK,   /* the contract's failure block for errLast(): text is its headline, critical */
    SCHED_EVENT_ALERT,         /* an alert to send: alert* fields, backupId (may be "") */
    SCHED_EVENT_STATE_SAVED,   /* the state changed and was saved: state (e.g. for metrics) */
    SCHED_EVENT_RUN_END,       /* a backup attempt was handled to its end (the log file may be rotated now) */
} SchedEventKind;

typedef enum { SCHED_ALERT_ERROR, SCHED_ALERT_CRITICAL } SchedAlertSeverity;

typedef struct {
    SchedEventKind kind;
    const char *name;
    const char *text;
    LogLevel level;
    bool critical;
    SchedAlertSeverity alertSeverity;
    const char *alertCode;
    const char *alertReason;
    const char *alertAction;
    const ErrDetail *alertError; /* the failure as an error, when there is one */
    const char *backupId;
    const SchedState *state;
} SchedEvent;

typedef void (*SchedEventFn)(const SchedEvent *event, void *payload);

/* What the retention step did. */
typedef struct {
    CatNameList deleted; /* the backups it removed (freed by the runtime) */
} SchedCleanupResult;

typedef struct {
    const char *root;           /* BACKUP_STORAGE_PATH */
    SchedSettings settings;
    /* Takes one backup; its id into id. The runtime pins timeNow() to the
     * run's start while it runs (the id BACKUP_START named is the one the
     * backup takes). A cancelled backup returns with *cancelFlag set. */
    ErrCode (*backup)(void *payload, char id[CAT_ID_SIZE]);
    /* Applies retention (settings.retention) after a successful backup;
     * BACKUP_NONE_RESTORABLE is reported CRITICAL. */
    ErrCode (*cleanup)(void *payload, const RetPolicy *policy, SchedCleanupResult *out);
    /* Rereads the configuration into out when *reloadFlag was set; an error
     * keeps the previous settings. May be NULL. */
    ErrCode (*reload)(void *payload, SchedSettings *out);
    /* Waits up to seconds or until a signal arrives (0: only lets pending
     * signals be handled). The flags below are read after it returns. */
    void (*wait)(void *payload, double seconds);
    void *payload;
    volatile sig_atomic_t *cancelFlag; /* stop the loop (and a running backup) */
    volatile sig_atomic_t *reloadFlag; /* SIGHUP; may be NULL */
    volatile sig_atomic_t *resumeFlag; /* SIGUSR1; may be NULL */
    long pid;                          /* recorded in the state while running */
    SchedEventFn onEvent;
    void *eventPayload;
    /* Called once the scheduler has started (its pid is in the state), before
     * its loop: --schedule --serve starts the HTTP server here, so the API
     * never answers while the scheduler is not yet recorded as running. An
     * error stops the scheduler before its loop and is returned. May be NULL. */
    ErrCode (*started)(void *payload);
} SchedRuntimeRequest;

/* The state file: one small place (the storage seam will route it). A
 * damaged file is set aside as <file>.damaged and the state starts afresh
 * (warnings as events). */
void schedRuntimeLoadState(const char *statePath, SchedState *state, SchedEventFn onEvent, void *payload);
ErrCode schedRuntimeSaveState(const char *statePath, const SchedState *state);

/* Runs the scheduler until *cancelFlag is set: plans the first run from the
 * state found (pause, missed runs, a pending retry), then loops. The caller
 * holds the scheduler lock. Returns ERR_OK when stopped by the flag, or the
 * error that kept it from starting (an error block event was sent). */
ErrCode schedRuntimeRun(const SchedRuntimeRequest *request);

typedef enum {
    SCHED_RESUME_NOT_PAUSED, /* nothing to do */
    SCHED_RESUME_DRY_RUN,    /* paused; nothing changed */
    SCHED_RESUME_STATE,      /* no scheduler ran: the state file was edited */
    SCHED_RESUME_RUNNING,    /* the running scheduler confirmed */
} SchedResumeOutcome;

typedef struct {
    const char *root;
    bool dryRun;
    /* Between checks for the running scheduler's confirmation; may be NULL
     * (then 0.1 s sleeps). */
    void (*sleep)(void *payload, double seconds);
    void *payload;
    SchedEventFn onEvent;
    void *eventPayload;
} SchedResumeRequest;

/* neo4j-backup --resume: a paused scheduler with no process running is
 * resumed in its state file (under the scheduler lock); a running one gets
 * a request file and SIGUSR1 and is waited for (SCHEDULER_PAUSED when it
 * does not confirm in SCHED_RESUME_CONFIRM_SECONDS). */
ErrCode schedRuntimeResume(const SchedResumeRequest *request, SchedResumeOutcome *outcome);

#endif
