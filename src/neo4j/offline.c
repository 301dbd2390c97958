/* Offline work on a Neo4j instance (offline.h): stop, wait for the store
 * lock to go, work, start (always, once stopped), wait for Bolt. */
#include "neo4j/offline.h"

#include "bolt/value.h"
#include "common/timeutil.h"
#include "neo4j/instance.h"
#include "neo4j/store.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

const char *neo4jOfflineMissing(const InstanceConfig *instance)
{
    return !instance->neo4jHome      ? "NEO4J_HOME"
           : !instance->stopCommand  ? "STOP_COMMAND"
           : !instance->startCommand ? "START_COMMAND"
                                     : NULL;
}

static double neo4jOfflineOr(double value, double fallback)
{
    return value > 0 ? value : fallback;
}

static bool neo4jOfflineCancelled(const Neo4jOfflineRequest *request)
{
    return request->cancelFlag && *request->cancelFlag;
}

static void neo4jOfflineEmit(const Neo4jOfflineRequest *request, Neo4jOfflineEvent event)
{
    event.instance = request->instance;
    if (request->onEvent)
        request->onEvent(&event, request->eventPayload);
}

static void neo4jOfflineSleep(double seconds)
{
    usleep((useconds_t)(seconds * 1e6));
}

/* Polls until Neo4j lets go of the store (after a stop command): the lock
 * file offers no event to wait on. */
static ErrCode neo4jOfflineWaitForUnlock(const Neo4jOfflineRequest *request, const char *databaseDir)
{
    double timeout = neo4jOfflineOr(request->unlockTimeoutSeconds, NEO4J_OFFLINE_UNLOCK_TIMEOUT_SECONDS);
    double deadline = timeMonotonic() + timeout;
    const char *who = request->label ? request->label : request->instance->name;
    long pid = 0;
    char lockPath[NEO4J_PATH_SIZE];
    while (neo4jStoreLockHeld(databaseDir, &pid, lockPath, sizeof(lockPath))) {
        if (neo4jOfflineCancelled(request))
            return errSet(OPERATION_INTERRUPTED, "interrupted while waiting for %s to stop", who);
        if (timeMonotonic() > deadline) {
            errSet(NEO4J_ADMIN_FAILED, "%s still holds the store lock %s (pid %ld) %.0f seconds after its stop command",
                   who, lockPath, pid, timeout);
            errSetAction("Check that the stop command really stops this Neo4j installation");
            return NEO4J_ADMIN_FAILED;
        }
        neo4jOfflineSleep(neo4jOfflineOr(request->pollSeconds, 0.25));
    }
    return ERR_OK;
}

/* After a start command: until Bolt answers and, when queryDatabase, the
 * database runs RETURN 1; the connection goes to *out when out is not NULL.
 * A starting server offers no event to wait on. */
static ErrCode neo4jOfflineWaitForBolt(const Neo4jOfflineRequest *request, BoltConnection **out, bool queryDatabase)
{
    const InstanceConfig *instance = request->instance;
    if (out)
        *out = NULL;
    double timeout = neo4jOfflineOr(request->startTimeoutSeconds, NEO4J_OFFLINE_START_TIMEOUT_SECONDS);
    double deadline = timeMonotonic() + timeout;
    ErrCode code;
    for (;;) {
        BoltConnection *connection = NULL;
        code = neo4jConnect(instance, &connection);
        if (code == ERR_OK && !queryDatabase) {
            if (out)
                *out = connection;
            else
                boltClose(connection);
            return ERR_OK;
        }
        if (code == ERR_OK) {
            Arena *arena = arenaNew(1024);
            BoltValue ignored;
            code = boltQuerySingle(connection, "RETURN 1", NULL,
                                   &(BoltQueryOptions){.database = instance->database, .mode = BOLT_ACCESS_READ},
                                   arena, &ignored);
            arenaFree(arena);
            if (code == ERR_OK && out) {
                *out = connection;
                return ERR_OK;
            }
            if (code == ERR_OK) {
                boltClose(connection);
                return ERR_OK;
            }
            boltClose(connection);
        }
        if (code == NEO4J_AUTH_FAILED || timeMonotonic() > deadline)
            break;
        neo4jOfflineSleep(neo4jOfflineOr(request->pollSeconds, 0.5));
    }
    errAddContext("Neo4j (%s) did not answer within %.0f seconds after its start command", instance->name, timeout);
    return code;
}

/* Runs a stop or start command; its output is kept in run for a failure's report. */
static ErrCode neo4jOfflineCommand(const Neo4jOfflineRequest *request, const char *setting, const char *command,
                                   ProcRun *run)
{
    double timeout = neo4jOfflineOr(request->commandTimeoutSeconds, NEO4J_OFFLINE_COMMAND_TIMEOUT_SECONDS);
    ErrCode code = procShellRun(command, timeout, NULL, run);
    if (code != ERR_OK)
        errAddContext("%s failed", setting);
    return code;
}

/* The start command, then the wait for Bolt; the connection is handed out
 * only when wanted (then the database must run RETURN 1 too). */
static ErrCode neo4jOfflineStart(const Neo4jOfflineRequest *request, ProcRun *run, bool wanted,
                                 BoltConnection **connection)
{
    const InstanceConfig *instance = request->instance;
    ErrCode code = neo4jOfflineCommand(request, request->startSetting ? request->startSetting : "START_COMMAND",
                                       instance->startCommand, run);
    if (code == ERR_OK)
        code = neo4jOfflineWaitForBolt(request, wanted ? connection : NULL, wanted);
    return code;
}

ErrCode neo4jStartAndConnect(const Neo4jOfflineRequest *request, ProcRun *run, BoltConnection **connection)
{
    *connection = NULL;
    memset(run, 0, sizeof(*run));
    run->exitStatus = -1;
    ErrCode code = neo4jOfflineCommand(request, request->startSetting ? request->startSetting : "START_COMMAND",
                                       request->instance->startCommand, run);
    if (code == ERR_OK)
        code = neo4jOfflineWaitForBolt(request, connection, false);
    return code;
}

ErrCode neo4jOfflineRun(const Neo4jOfflineRequest *request, Neo4jOfflineResult *result, BoltConnection **connection)
{
    const InstanceConfig *instance = request->instance;
    memset(result, 0, sizeof(*result));
    result->failedRun.exitStatus = -1;
    result->startRun.exitStatus = -1;
    if (connection)
        *connection = NULL;
    if (neo4jOfflineCancelled(request)) {
        result->workCode = errSet(OPERATION_INTERRUPTED, "interrupted before %s was stopped", instance->name);
        result->workFailure = errSave();
        return result->workCode;
    }
    char databaseDir[NEO4J_PATH_SIZE];
    ErrCode code = ERR_OK;
    if (request->databaseDir)
        snprintf(databaseDir, sizeof(databaseDir), "%s", request->databaseDir);
    else if (!instance->neo4jHome)
        code = errSet(CONFIG_INVALID, "instance %s has no NEO4J_HOME", instance->name);
    else
        code = neo4jDatabaseDirectory(instance->neo4jHome, instance->database, databaseDir, sizeof(databaseDir));
    if (code != ERR_OK) {
        result->workCode = code;
        result->workFailure = errSave();
        return code;
    }

    char shown[PROC_COMMAND_SIZE];
    procMaskSecrets(instance->stopCommand, shown, sizeof(shown));
    neo4jOfflineEmit(request, (Neo4jOfflineEvent){.kind = NEO4J_OFFLINE_STOPPING, .command = shown});
    double stoppedAt = timeMonotonic();
    result->stopped = true;
    ProcRun run;
    code = neo4jOfflineCommand(request, request->stopSetting ? request->stopSetting : "STOP_COMMAND",
                               instance->stopCommand, &run);
    if (code != ERR_OK)
        result->failedRun = run;
    if (code == ERR_OK)
        code = neo4jOfflineWaitForUnlock(request, databaseDir);
    if (code == ERR_OK)
        neo4jOfflineEmit(request,
                         (Neo4jOfflineEvent){.kind = NEO4J_OFFLINE_STOPPED, .seconds = timeMonotonic() - stoppedAt});
    if (code == ERR_OK && neo4jOfflineCancelled(request))
        code = errSet(OPERATION_INTERRUPTED, "interrupted while %s was stopped, before the work", instance->name);
    if (code == ERR_OK) {
        memset(&run, 0, sizeof(run));
        run.exitStatus = -1;
        code = request->work(request->admin, request->workPayload, &run);
        if (code != ERR_OK)
            result->failedRun = run;
    }
    result->workCode = code;
    if (code != ERR_OK)
        result->workFailure = errSave();

    procMaskSecrets(instance->startCommand, shown, sizeof(shown));
    neo4jOfflineEmit(request, (Neo4jOfflineEvent){.kind = NEO4J_OFFLINE_STARTING, .command = shown});
    ErrCode startCode = neo4jOfflineStart(request, &result->startRun, request->wantConnection && code == ERR_OK,
                                          connection);
    result->offlineSeconds = timeMonotonic() - stoppedAt;
    result->startCode = startCode;
    if (startCode == ERR_OK) {
        neo4jOfflineEmit(request, (Neo4jOfflineEvent){.kind = NEO4J_OFFLINE_STARTED, .seconds = result->offlineSeconds,
                                                      .workFailed = code != ERR_OK});
    } else {
        result->startFailure = errSave();
        neo4jOfflineEmit(request, (Neo4jOfflineEvent){.kind = NEO4J_OFFLINE_START_FAILED, .run = &result->startRun});
    }
    if (code != ERR_OK) {
        errRestore(&result->workFailure);
        return code;
    }
    if (startCode != ERR_OK)
        errRestore(&result->startFailure);
    return startCode;
}
