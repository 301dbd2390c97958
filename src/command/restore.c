/* neo4j-restore: restore a backup into a test instance, prove it sound with
 * health checks, and only with an operator's confirmation promote it to
 * production (after a safety backup, with rollback on failure). */
#include "command/dump.h"
#include "command/import.h"
#include "command/support.h"
#include "command/verify.h"

#include "common/format.h"
#include "common/log.h"
#include "common/process.h"
#include "common/spill_array.h"
#include "common/timeutil.h"
#include "neo4j/offline.h"
#include "restore/health.h"
#include "restore/logical_restore.h"
#include "restore/recovery_state.h"
#include "restore/restore_text.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

/* Seconds to wait for a target to answer after its start command. */
#define RESTORE_START_TIMEOUT_SECONDS 180
/* A start command that has not returned by then is stuck (a server in the
 * foreground, a prompt): it is stopped, like the dump's start commands. */
#define RESTORE_START_COMMAND_TIMEOUT_SECONDS 600

typedef struct {
    CommandContext *context;
    const char *root;
    const CatEntry *entry;
    const char *archivePath;
    bool rollback; /* restoring the safety backup after a failed promotion */
} RestoreJob;

/* "host:port/database" of an instance, to tell whether two names are the same server. */
static void restoreIdentity(const InstanceConfig *instance, char *out, size_t size)
{
    BoltUri uri;
    if (boltUriParse(instance->uri, &uri) != ERR_OK) {
        snprintf(out, size, "%s/%s", instance->uri, instance->database);
        return;
    }
    const char *host = uri.host;
    if (strcasecmp(host, "localhost") == 0 || strcmp(host, "::1") == 0 || strncmp(host, "127.", 4) == 0)
        host = "loopback";
    snprintf(out, size, "%s:%u/%s", host, uri.port, instance->database);
}

/* Connects to an instance, running its start command when it does not answer. */
static ErrCode restoreConnectTarget(const InstanceConfig *instance, BoltConnection **out)
{
    ErrCode code = neo4jConnect(instance, out);
    if (code != NEO4J_UNREACHABLE || !instance->startCommand)
        return code;
    char shown[PROC_COMMAND_SIZE];
    procMaskSecrets(instance->startCommand, shown, sizeof(shown));
    logInfo("Target %s does not answer; starting it: %s", instance->name, shown);
    Neo4jOfflineRequest request = {
        .instance = instance,
        .commandTimeoutSeconds = RESTORE_START_COMMAND_TIMEOUT_SECONDS,
        .startTimeoutSeconds = RESTORE_START_TIMEOUT_SECONDS,
    };
    ProcRun run;
    code = neo4jStartAndConnect(&request, &run, out);
    if (code != ERR_OK && run.exitStatus != 0) {
        ErrDetail failure = errSave();
        errSet(NEO4J_UNREACHABLE, "the start command of %s failed (status %d): %s", instance->name, run.exitStatus,
               shown);
        errSetDetails("%s", failure.details[0] ? failure.details : failure.reason);
        return NEO4J_UNREACHABLE;
    }
    return code;
}

static void restoreOnProgress(const LogicalRestoreProgress *progress, void *payload)
{
    (void)payload;
    if (!isatty(STDERR_FILENO))
        return;
    double rate = progress->elapsedSeconds > 0
                      ? (double)(progress->nodesDone + progress->relationshipsDone) / progress->elapsedSeconds
                      : 0;
    fprintf(stderr, "\r  %" PRIu64 "/%" PRIu64 " nodes, %" PRIu64 "/%" PRIu64 " relationships, %.0f records/s   ",
            progress->nodesDone, progress->nodesExpected, progress->relationshipsDone,
            progress->relationshipsExpected, rate);
    if (progress->phase == RESTORE_PHASE_DONE)
        fputc('\n', stderr);
    fflush(stderr);
}

/* Test hook for the counts check: NBK_FAULT_DROP_LABEL=<label> takes that
 * label off one node of the target after the load, before the checks (the
 * totals stay equal, so only the per-label comparison can notice). Never set
 * in production. */
static void restoreFaultDropLabel(BoltConnection *connection, const char *database)
{
#ifdef NBK_TEST_HOOKS
    const char *label = getenv("NBK_FAULT_DROP_LABEL");
#else
    const char *label = NULL; /* a release build: no test hook */
#endif
    if (!label || !label[0])
        return;
    Buffer query;
    bufferInit(&query);
    bufferAppendF(&query, "%sMATCH (n:", restoreCypherPrefix(boltServerAgent(connection)));
    restoreQuoteName(&query, label, strlen(label));
    bufferAppendF(&query, ") WITH n LIMIT 1 REMOVE n:");
    restoreQuoteName(&query, label, strlen(label));
    bufferAppendF(&query, " RETURN count(n)");
    bufferAppendByte(&query, 0);
    Arena *arena = arenaNew(1024);
    BoltValue ignored;
    if (boltQuerySingle(connection, (const char *)query.data, NULL,
                        &(BoltQueryOptions){.database = database, .mode = BOLT_ACCESS_WRITE}, arena,
                        &ignored) == ERR_OK)
        logWarn("NBK_FAULT_DROP_LABEL: took label %s off one node of the target", label);
    else
        logWarn("NBK_FAULT_DROP_LABEL failed: %s", errLast()->reason);
    arenaFree(arena);
    bufferFree(&query);
}

/* Restores the archive into one instance and runs the health checks there.
 * failedCheck receives the name of the first failing check, if any. */
static ErrCode restoreIntoInstance(RestoreJob *job, const InstanceConfig *instance, bool validate,
                                   char *failedCheck, size_t failedCheckSize)
{
    const Manifest *manifest = job->entry->manifest;
    if (cmdDumpIsDump(manifest))
        return cmdDumpRestoreInto(job->context, job->root, job->entry, job->archivePath, instance, validate,
                                  failedCheck, failedCheckSize);
    BoltConnection *connection = NULL;
    failedCheck[0] = '\0';
    double started = timeMonotonic();
    LogicalRestoreResult result;
    memset(&result, 0, sizeof(result));
    ArchiveContent imported;
    memset(&imported, 0, sizeof(imported));
    const ArchiveContent *archive = &result.archive;
    ErrCode code;
    char loadWhy[256];
    CmdLoadKind load = cmdImportChooseLoad(cfgGet(job->context->config, CFG_RESTORE_LOAD), instance, loadWhy,
                                           sizeof(loadWhy));
    logInfo("Load: %s (%s)", load == CMD_LOAD_IMPORT ? "import" : "bolt", loadWhy);
    if (load == CMD_LOAD_IMPORT) {
        logInfo("Restoring data into %s (database %s) with neo4j-admin database import...", instance->name,
                instance->database);
        code = cmdImportLoadInto(job->context, job->archivePath, manifest->archive.sizeUncompressed,
                                 manifest->stats.nodes + manifest->stats.relationships, instance, &connection,
                                 &imported);
        archive = &imported;
    } else {
        code = restoreConnectTarget(instance, &connection);
        if (code != ERR_OK)
            return code;
        logInfo("Restoring data into %s (database %s)...", instance->name, instance->database);
        LogicalRestoreRequest request = {
            .connection = connection,
            .database = instance->database,
            .archivePath = job->archivePath,
            .wipeTarget = true,
            .expectedNodes = manifest->stats.nodes,
            .expectedRelationships = manifest->stats.relationships,
            .progress = restoreOnProgress,
            .cancelFlag = job->context->cancelFlag,
        };
        code = logicalRestoreRun(&request, &result);
        logDebug("Bolt load: wipe %.1f s, nodes %.1f s, relationships %.1f s, schema %.1f s, %llu transactions",
                 result.wipeSeconds, result.nodeSeconds, result.relationshipSeconds, result.schemaSeconds,
                 (unsigned long long)result.batches);
    }
    if (code == ERR_OK) {
        char duration[FORMAT_TEXT_SIZE];
        logInfo("Restore completed in %s", fmtDuration(duration, sizeof(duration), timeMonotonic() - started));
    }
    if (code == ERR_OK && validate) {
        recoveryTransition(job->root, RECOVERY_VALIDATION, manifest->id, instance->name, NULL,
                           instance->isProduction);
        restoreFaultDropLabel(connection, instance->database);
        logInfo("Running health checks on restored instance...");
        HealthExpectations expected = {
            .archive = archive,
            .expectedNodes = manifest->stats.nodes,
            .expectedRelationships = manifest->stats.relationships,
        };
        HealthCheckResult checks[HEALTH_CHECK_COUNT];
        healthRunAll(connection, instance->database, &expected, checks);
        /* Test hook for the rollback path of --promote: a production check
         * that fails on demand. Never set in production. Not applied to the
         * rollback itself, whose checks must be real. */
#ifdef NBK_TEST_HOOKS
        const char *fault = job->rollback ? NULL : getenv("NBK_FAULT_PROMOTE_HEALTH");
#endif
        for (int index = 0; index < HEALTH_CHECK_COUNT; index++) {
#ifdef NBK_TEST_HOOKS
            if (fault && instance->isProduction && strcmp(fault, checks[index].name) == 0) {
                checks[index].status = HEALTH_FAIL;
                snprintf(checks[index].finding, sizeof(checks[index].finding), "failure injected by NBK_FAULT_PROMOTE_HEALTH");
            }
#endif
            logInfo("Health check: %s ... %s", checks[index].name,
                    checks[index].status == HEALTH_PASS ? "PASS" : "FAIL");
            if (checks[index].status != HEALTH_PASS && !failedCheck[0]) {
                snprintf(failedCheck, failedCheckSize, "%s", checks[index].name);
                errSet(RESTORE_HEALTH_FAILED, "%s", checks[index].finding);
                code = RESTORE_HEALTH_FAILED;
            }
        }
    }
    logicalRestoreResultFree(&result);
    healthArchiveContentFree(&imported);
    boltClose(connection);
    return code;
}

static void restoreReportHealthFailure(const char *failedCheck)
{
    const ErrDetail *detail = errLast();
    logError("Restore completed but health check failed");
    logError("Code: %s (%s)", errName(RESTORE_HEALTH_FAILED), errDefaultMessage(RESTORE_HEALTH_FAILED));
    logError("Failed check: %s", failedCheck);
    logError("%s", detail->reason);
    if (strcmp(failedCheck, "orphan_detection") == 0)
        logError("This indicates the backup itself is corrupted (not a restore error)");
    logError("Action: %s", errDefaultAction(RESTORE_HEALTH_FAILED));
}

/* Asks the operator to type the backup id; --yes or PROMOTE_AFTER_VALIDATION skip it. */
static ErrCode restoreConfirmPromotion(CommandContext *context, const char *backupId, const char *productionUri)
{
    bool autoPromote = false;
    cfgGetBool(context->config, CFG_PROMOTE_AFTER_VALIDATION, &autoPromote);
    if (optionsHas(context->options, OPT_YES) || autoPromote) {
        logInfo("Promotion confirmed by %s", autoPromote ? "PROMOTE_AFTER_VALIDATION=true" : "--yes");
        return ERR_OK;
    }
    if (!isatty(STDIN_FILENO)) {
        errSet(RESTORE_REFUSED, "promotion needs a confirmation and there is no terminal to ask");
        errSetAction("Run it from a terminal, or pass --yes after checking the restored test instance");
        return RESTORE_REFUSED;
    }
    fprintf(stderr, "This replaces production (%s) with backup %s.\nType the backup id to confirm: ",
            productionUri, backupId);
    fflush(stderr);
    char answer[256] = "";
    if (!fgets(answer, sizeof(answer), stdin))
        answer[0] = '\0';
    answer[strcspn(answer, "\r\n")] = '\0';
    if (strcmp(answer, backupId) != 0) {
        errSet(RESTORE_REFUSED, "the confirmation did not match the backup id; production is unchanged");
        return RESTORE_REFUSED;
    }
    return ERR_OK;
}

/* Promotion: safety backup of production, restore into production, checks,
 * and on any failure the safety backup goes back in. */
static ErrCode restorePromote(RestoreJob *job, const InstanceConfig *production)
{
    const char *backupId = job->entry->manifest->id;
    char safeUri[512];
    neo4jSafeUri(production->uri, safeUri, sizeof(safeUri));
    ErrCode code = restoreConfirmPromotion(job->context, backupId, safeUri);
    if (code != ERR_OK)
        return code;
    logInfo("Promotion step 1/3: safety backup of production (%s)...", safeUri);
    char safetyId[CAT_ID_SIZE];
    code = createBackup(job->context, safetyId);
    if (code != ERR_OK) {
        errAddContext("safety backup of production failed, production is unchanged");
        return code;
    }
    logInfo("Promotion step 2/3: restoring %s into production...", backupId);
    recoveryTransition(job->root, RECOVERY_RECOVERING, backupId, production->name, NULL, true);
    char failedCheck[64];
    code = restoreIntoInstance(job, production, true, failedCheck, sizeof(failedCheck));
    if (code == ERR_OK) {
        logInfo("Promotion step 3/3: production passed every health check");
        return ERR_OK;
    }
    ErrDetail failure = errSave();
    if (code == RESTORE_HEALTH_FAILED)
        restoreReportHealthFailure(failedCheck);
    logError("Promotion failed: %s. Rolling back production to the safety backup %s...", failure.reason, safetyId);
    Catalog *catalog = NULL;
    CatEntry safety = {0};
    char safetyArchive[4096] = "";
    ErrCode rollback = supportOpenCatalog(job->context, false, &catalog);
    if (rollback == ERR_OK)
        rollback = catFind(catalog, safetyId, &safety);
    if (rollback == ERR_OK)
        rollback = verifyChecksum(catalog, &safety, safetyArchive, sizeof(safetyArchive));
    if (rollback == ERR_OK) {
        RestoreJob rollbackJob = {job->context, job->root, &safety, safetyArchive, true};
        rollback = restoreIntoInstance(&rollbackJob, production, true, failedCheck, sizeof(failedCheck));
    }
    catEntryFree(&safety);
    catClose(catalog);
    if (rollback == ERR_OK)
        logWarn("Production was rolled back to the safety backup %s and passed every health check", safetyId);
    else
        logCritical("Rollback to the safety backup %s FAILED: %s", safetyId, errLast()->reason);
    errRestore(&failure);
    errAddContext("promotion of %s rolled back%s", backupId, rollback == ERR_OK ? "" : " UNSUCCESSFULLY");
    return code;
}

ErrCode cmdRestore(CommandContext *context, const char *backupId)
{
    const char *root = cfgGet(context->config, CFG_BACKUP_STORAGE_PATH);
    bool validate = !optionsHas(context->options, OPT_NO_VALIDATE);
    bool promote = optionsHas(context->options, OPT_PROMOTE);
    const char *targetName = optionsValue(context->options, OPT_TARGET);
    if (!targetName) /* TEST_NEO4J_CONTAINER is that target's container, not a target */
        targetName = CFG_DEFAULT_TARGET;

    Catalog *catalog = NULL;
    CatEntry entry = {0};
    Lock *backupLock = NULL;
    InstanceConfig target = {0};
    InstanceConfig production = {0};
    bool reported = false;
    bool stateStarted = false;
    bool promoting = false; /* the failure, if any, is production's, not the test instance's */
    char archivePath[4096] = "";
    char failedCheck[64] = "";

    logInfo("Starting restore from backup %s", backupId);
    ErrCode code = catIdCheck(backupId);
    if (code == ERR_OK && promote && !validate)
        code = errSet(RESTORE_REFUSED, "--promote needs the health checks; drop --no-validate");
    if (code == ERR_OK)
        code = supportOpenCatalog(context, false, &catalog);
    if (code == ERR_OK)
        code = catFind(catalog, backupId, &entry);
    if (code == ERR_OK)
        code = cfgInstance(context->config, targetName, &target);
    if (code == ERR_OK) {
        /* Per-node tables past 8 MB go to unlinked scratch files there (docs/restore.md);
         * the Bolt load also holds queued batches, so its tables keep smaller caches. */
        const char *spillDirectory = cfgGet(context->config, CFG_RESTORE_IMPORT_DIR);
        spillConfigure(spillDirectory ? spillDirectory : root, 0,
                       cmdImportWanted(context->config, &target) ? 0 : SPILL_BOLT_LOAD_RESIDENT_BYTES);
    }
    if (code == ERR_OK)
        code = cfgInstance(context->config, CFG_PRODUCTION_INSTANCE, &production);
    if (code == ERR_OK) {
        char targetIdentity[400];
        char productionIdentity[400];
        restoreIdentity(&target, targetIdentity, sizeof(targetIdentity));
        restoreIdentity(&production, productionIdentity, sizeof(productionIdentity));
        if (strcmp(targetIdentity, productionIdentity) == 0 || target.isProduction) {
            code = errSet(RESTORE_REFUSED,
                          "target %s is the production server and database (%s); production is written "
                          "only by --promote after a validated restore into a test instance",
                          target.name, targetIdentity);
        }
    }
    /* A dump loads only into an installation the tool can stop: say so before touching anything. */
    if (code == ERR_OK && cmdDumpIsDump(entry.manifest)) {
        code = cmdDumpRestorePreflight(&entry, &target);
        if (code == ERR_OK && promote)
            code = cmdDumpRestorePreflight(&entry, &production);
    } else if (code == ERR_OK && entry.manifest && entry.manifest->method &&
               strcmp(entry.manifest->method, "logical") != 0)
        code = errSet(RESTORE_FAILED, "backup %s was made with method %s, which this version cannot restore",
                      backupId, entry.manifest->method);
    else if (code == ERR_OK && cmdImportForced(context->config)) {
        code = cmdImportPreflight(&target);
        if (code == ERR_OK && promote)
            code = cmdImportPreflight(&production);
    }
    if (code == ERR_OK)
        code = catLockBackup(catalog, backupId, LOCK_SHARED, 5000, "restore", &backupLock);
    if (code == ERR_OK) {
        logInfo("Validating backup integrity...");
        code = verifyChecksum(catalog, &entry, archivePath, sizeof(archivePath));
        reported = code == BACKUP_CORRUPTED;
    }
    if (code == ERR_OK) {
        char compressed[FORMAT_TEXT_SIZE];
        char uncompressed[FORMAT_TEXT_SIZE];
        const Manifest *manifest = entry.manifest;
        logInfo("Uncompressing backup (%s, streamed while restoring)...", manifest->compression);
        logInfo("Backup size (compressed): %s", fmtSize(compressed, sizeof(compressed), manifest->archive.sizeCompressed));
        logInfo("Backup size (uncompressed): %s",
                fmtSize(uncompressed, sizeof(uncompressed), manifest->archive.sizeUncompressed));
    }
    if (code == ERR_OK && context->dryRun) {
        char safeUri[512];
        neo4jSafeUri(target.uri, safeUri, sizeof(safeUri));
        if (cmdDumpIsDump(entry.manifest))
            logInfo("Dry run: would stop test instance %s (%s) with its STOP_COMMAND, replace database %s with "
                    "the dump (neo4j-admin database load), start it with its START_COMMAND%s",
                    target.name, safeUri, target.database, validate ? ", then run the health checks" : "");
        else if (cmdImportWanted(context->config, &target))
            logInfo("Dry run: would write import files of %" PRIu64 " nodes and %" PRIu64 " relationships, stop "
                    "test instance %s (%s) with its STOP_COMMAND, rebuild database %s with neo4j-admin database "
                    "import, start it with its START_COMMAND%s",
                    entry.manifest->stats.nodes, entry.manifest->stats.relationships, target.name, safeUri,
                    target.database, validate ? ", then run the health checks" : "");
        else
            logInfo("Dry run: would empty database %s of test instance %s (%s) and restore %" PRIu64
                    " nodes and %" PRIu64 " relationships into it%s",
                    target.database, target.name, safeUri, entry.manifest->stats.nodes,
                    entry.manifest->stats.relationships, validate ? ", then run the health checks" : "");
        if (promote)
            logInfo("Dry run: would then take a safety backup of production and promote %s to it", backupId);
        logInfo("Dry run: nothing was changed");
    } else if (code == ERR_OK) {
        RecoveryStatus previous;
        if (recoveryLoad(root, &previous) == ERR_OK && recoveryIsStale(&previous))
            recoveryTransition(root, RECOVERY_FAILED, previous.backupId, previous.target,
                               "interrupted: the restoring process ended without finishing", false);
        recoveryTransition(root, RECOVERY_RECOVERING, backupId, target.name, NULL, false);
        stateStarted = true;
        logInfo("Preparing test Neo4j instance (%s)...", target.name);
        RestoreJob job = {context, root, &entry, archivePath, false};
        code = restoreIntoInstance(&job, &target, validate, failedCheck, sizeof(failedCheck));
        if (code == ERR_OK) {
            recoveryTransition(root, RECOVERY_SUCCESS, backupId, target.name, NULL, false);
            logSuccess(validate ? "Restore completed and validated" : "Restore completed (health checks skipped)");
            logInfo("Restored backup: %s", backupId);
            logInfo("Graph stats: %" PRIu64 " nodes, %" PRIu64 " relationships", entry.manifest->stats.nodes,
                    entry.manifest->stats.relationships);
            if (!promote)
                logInfo("Next step: Verify restored data, then run: --promote to switch to production");
        }
        if (code == ERR_OK && promote) {
            if (!validate)
                code = errSet(RESTORE_REFUSED, "--promote needs the health checks; drop --no-validate");
            else {
                promoting = true;
                code = restorePromote(&job, &production);
            }
            if (code == ERR_OK) {
                recoveryTransition(root, RECOVERY_SUCCESS, backupId, production.name, NULL, true);
                logSuccess("Backup %s promoted to production", backupId);
            } else if (code == RESTORE_HEALTH_FAILED) {
                reported = true;
            }
        }
    }
    if (code != ERR_OK && stateStarted) {
        const char *reason = code == OPERATION_INTERRUPTED ? "interrupted by a signal" : errLast()->reason;
        ErrDetail detail = errSave();
        recoveryTransition(root, RECOVERY_FAILED, backupId, promoting ? production.name : target.name, reason,
                           promote);
        errRestore(&detail);
    }
    if (code == RESTORE_HEALTH_FAILED && !reported)
        restoreReportHealthFailure(failedCheck);
    else if (code != ERR_OK && !reported)
        logErrorBlock("Restore failed", false);
    lockRelease(backupLock);
    cfgInstanceFree(&target);
    cfgInstanceFree(&production);
    catEntryFree(&entry);
    catClose(catalog);
    return code;
}

ErrCode cmdRestoreStatus(CommandContext *context)
{
    const char *root = cfgGet(context->config, CFG_BACKUP_STORAGE_PATH);
    ErrCode code = root ? recoveryPrint(root, context->json) : cfgStoragePathMissing();
    if (code != ERR_OK)
        logErrorBlock("Cannot read the recovery state", false);
    return code;
}

ErrCode cmdRestoreCancel(CommandContext *context)
{
    const char *root = cfgGet(context->config, CFG_BACKUP_STORAGE_PATH);
    RecoveryStatus status;
    ErrCode code = root ? recoveryLoad(root, &status) : cfgStoragePathMissing();
    if (code == ERR_OK && status.state != RECOVERY_RECOVERING && status.state != RECOVERY_VALIDATION) {
        logInfo("No recovery in progress (state %s): nothing to cancel", recoveryStateName(status.state));
        return ERR_OK;
    }
    if (code == ERR_OK && context->dryRun) {
        logInfo("Dry run: would mark the recovery of %s on %s as RECOVERY_FAILED", status.backupId, status.target);
        return ERR_OK;
    }
    if (code == ERR_OK)
        code = recoveryTransition(root, RECOVERY_FAILED, status.backupId, status.target, "cancelled by the operator",
                                  false);
    if (code != ERR_OK) {
        logErrorBlock("Cannot cancel the recovery", false);
        return code;
    }
    logSuccess("Recovery of %s on %s marked RECOVERY_FAILED (cancelled by the operator)", status.backupId,
               status.target);
    return ERR_OK;
}
