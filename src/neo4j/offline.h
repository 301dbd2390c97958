/* Offline work on a Neo4j instance: stop it, wait until it has let go of its
 * store, do the work (neo4j-admin database load / import / dump), start it
 * again whatever happened, and wait until Bolt answers.
 *
 * A service: it takes a request and reports each step through an event
 * callback; it prints nothing and looks up no configuration. The stop and
 * start commands run through the one runner (procShellRun: /bin/sh -c,
 * cleaned environment, timeout); the commands shown in events have what
 * looks like a password masked (alert e-mails carry log tails).
 *
 * Cancel (request->cancelFlag): set before the stop, nothing is touched;
 * set later, the sequence skips what is left of the stop wait and the work
 * (the work itself gets the flag through its payload) but always starts the
 * instance again: a stop or start command is never interrupted, a
 * half-stopped server being worse than a late cancel.
 *
 * Ownership: the request's strings are borrowed; the connection handed out
 * is the caller's (boltClose). */
#ifndef NBK_NEO4J_OFFLINE_H
#define NBK_NEO4J_OFFLINE_H

#include "bolt/connection.h"
#include "common/config.h"
#include "common/error.h"
#include "common/process.h"
#include "neo4j/admin.h"

#include <signal.h>
#include <stdbool.h>

#define NEO4J_OFFLINE_COMMAND_TIMEOUT_SECONDS 600 /* a stop or start command, then it is stopped */
#define NEO4J_OFFLINE_UNLOCK_TIMEOUT_SECONDS 120  /* after the stop: until the store lock is free */
#define NEO4J_OFFLINE_START_TIMEOUT_SECONDS 300   /* after the start: until Bolt answers */

/* What an instance lacks for offline work ("NEO4J_HOME", "STOP_COMMAND",
 * "START_COMMAND"), or NULL when it has all three. */
const char *neo4jOfflineMissing(const InstanceConfig *instance);

/* Work done while the instance is stopped; run describes its child process
 * (reported when the work fails). */
typedef ErrCode (*Neo4jOfflineWork)(const Neo4jAdmin *admin, void *payload, ProcRun *run);

typedef enum {
    NEO4J_OFFLINE_STOPPING,     /* command: the stop command, masked */
    NEO4J_OFFLINE_STOPPED,      /* seconds: since the stop began (the store is unlocked) */
    NEO4J_OFFLINE_STARTING,     /* command: the start command, masked */
    NEO4J_OFFLINE_STARTED,      /* seconds: offline in all; workFailed: the work had failed */
    NEO4J_OFFLINE_START_FAILED, /* run: the start command's; errLast(): why (not running again) */
} Neo4jOfflineEventKind;

typedef struct {
    Neo4jOfflineEventKind kind;
    const InstanceConfig *instance;
    const char *command;
    double seconds;
    bool workFailed;
    const ProcRun *run;
} Neo4jOfflineEvent;

typedef void (*Neo4jOfflineEventFn)(const Neo4jOfflineEvent *event, void *payload);

typedef struct {
    const InstanceConfig *instance;  /* uri etc. for Bolt, stopCommand, startCommand, database */
    const Neo4jAdmin *admin;         /* handed to work */
    /* The store directory waited on; NULL: derived from the instance's
     * NEO4J_HOME and database (neo4jDatabaseDirectory). */
    const char *databaseDir;
    Neo4jOfflineWork work;
    void *workPayload;
    /* After the start: wait until the database runs RETURN 1 and hand the
     * connection out (only when the work succeeded: a database a failed load
     * left incomplete never will; then only the server is waited for). */
    bool wantConnection;
    volatile sig_atomic_t *cancelFlag; /* may be NULL */
    double commandTimeoutSeconds;      /* 0: NEO4J_OFFLINE_COMMAND_TIMEOUT_SECONDS */
    double unlockTimeoutSeconds;       /* 0: NEO4J_OFFLINE_UNLOCK_TIMEOUT_SECONDS */
    double startTimeoutSeconds;        /* 0: NEO4J_OFFLINE_START_TIMEOUT_SECONDS */
    double pollSeconds;                /* 0: 0.25 s between lock probes, 0.5 s between connects */
    /* Names in error messages: who holds the lock ("Neo4j"; NULL: the
     * instance's name) and the settings of the commands ("STOP_COMMAND"). */
    const char *label;
    const char *stopSetting;
    const char *startSetting;
    Neo4jOfflineEventFn onEvent;       /* may be NULL */
    void *eventPayload;
} Neo4jOfflineRequest;

typedef struct {
    bool stopped;          /* the stop command ran: the start command ran too */
    double offlineSeconds; /* from the stop to Bolt answering (or giving up) */
    ErrCode workCode;      /* the stop's, the wait's or the work's error; ERR_OK */
    ErrDetail workFailure;
    ProcRun failedRun;     /* the child that failed (stop command or work), exitStatus -1 if none */
    ErrCode startCode;     /* ERR_OK, or the instance is NOT running again */
    ErrDetail startFailure;
    ProcRun startRun;
} Neo4jOfflineResult;

/* Runs the sequence. Returns the work's error when it failed (errLast() set
 * to it), else the start's; result holds both. *connection (may be NULL
 * unless wantConnection) is open only on ERR_OK with wantConnection. */
ErrCode neo4jOfflineRun(const Neo4jOfflineRequest *request, Neo4jOfflineResult *result, BoltConnection **connection);

/* The start half alone, for an instance found not running: runs its start
 * command (request->instance, ->startSetting, ->commandTimeoutSeconds) and
 * waits until Bolt answers (->startTimeoutSeconds, ->pollSeconds); the
 * connection is then the caller's. No events. run is the start command's:
 * exitStatus 0 with an error means the command ran and Bolt never answered. */
ErrCode neo4jStartAndConnect(const Neo4jOfflineRequest *request, ProcRun *run, BoltConnection **connection);

#endif
