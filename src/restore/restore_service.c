/* The restore service (restore_service.h): verification, load choice, the
 * load into the test instance, health checks, the recovery state, and the
 * promotion with its safety backup and rollback. Every line goes out as an
 * event; nothing here prints or reads settings. */
#include "restore/restore_service.h"
#include "catalog/catalog_key.h"

#include "archive/archive.h"
#include "catalog/validate.h"
#include "common/format.h"
#include "common/mem.h"
#include "common/fsutil.h"
#include "common/process.h"
#include "common/spill_array.h"
#include "common/timeutil.h"
#include "restore/recovery_state.h"
#include "restore/restore_text.h"

#include <inttypes.h>
#include <stdarg.h>
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

/* One run: the request, where events go, and the backup being restored. */
typedef struct {
    const RestoreRequest *request;
    const RestoreEvents *events;
    RestoreResult *result;
    const char *root;          /* the catalog's root: the recovery state lives there */
} RestoreRunState;

/* One load into one instance: the backup (the requested one, or the
 * safety backup in a rollback). */
typedef struct {
    const CatEntry *entry;
    const char *archivePath;
    bool rollback;             /* restoring the safety backup after a failed promotion */
    /* A differential's chain (full first, entry's archive last), read
     * merged by every load; NULL/0 for a full backup. */
    const ArcChainLink *chain;
    size_t chainCount;
    uint64_t chainUncompressedBytes; /* every link's archive, uncompressed */
} RestoreSource;

/* A differential's chain, made ready before anything is touched: loaded
 * (catChainLoad checks the links), each link unlocked, locked shared like
 * the backup itself, and its archive's SHA-256 checked. */
typedef struct {
    CatChain chain;
    CatChainLinks links;
    StorageLock **locks;       /* one per link but the last (the backup's own lock covers it) */
} RestoreChain;

static void restoreSend(const RestoreRunState *run, RestoreEvent *event)
{
    if (run->events && run->events->onEvent)
        run->events->onEvent(event, run->events->payload);
}

static void restoreLine(const RestoreRunState *run, LogLevel level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void restoreLine(const RestoreRunState *run, LogLevel level, const char *fmt, ...)
{
    char text[2048];
    va_list args;
    va_start(args, fmt);
    vsnprintf(text, sizeof(text), fmt, args);
    va_end(args);
    RestoreEvent event = {.kind = RESTORE_EVENT_LINE, .level = level, .text = text};
    restoreSend(run, &event);
}

ErrCode restoreLoadParse(const char *text, RestoreLoad *out)
{
    if (!text || strcmp(text, "auto") == 0)
        *out = RESTORE_LOAD_AUTO;
    else if (strcmp(text, "bolt") == 0)
        *out = RESTORE_LOAD_BOLT;
    else if (strcmp(text, "import") == 0)
        *out = RESTORE_LOAD_IMPORT;
    else
        return errSet(CONFIG_INVALID, "RESTORE_LOAD must be auto, bolt or import, not %s", text);
    return ERR_OK;
}

/* What instance lacks for offline work, or NULL when it has all three. */
static const char *restoreOfflineMissing(const InstanceConfig *instance)
{
    return !instance->neo4jHome      ? "NEO4J_HOME"
           : !instance->stopCommand  ? "STOP_COMMAND"
           : !instance->startCommand ? "START_COMMAND"
                                     : NULL;
}

RestoreLoad restoreChooseLoad(RestoreLoad setting, const InstanceConfig *instance, char *why, size_t whySize)
{
    const char *target = instance->isProduction ? "production" : instance->name;
    if (setting == RESTORE_LOAD_BOLT) {
        snprintf(why, whySize, "RESTORE_LOAD or --load asks for bolt");
        return RESTORE_LOAD_BOLT;
    }
    if (setting == RESTORE_LOAD_IMPORT) {
        snprintf(why, whySize, "RESTORE_LOAD or --load asks for import");
        return RESTORE_LOAD_IMPORT;
    }
    /* auto: the import load is several times faster but needs the target
     * stopped; a target the tool cannot stop stays online with Bolt. */
    const char *missing = restoreOfflineMissing(instance);
    if (missing) {
        snprintf(why, whySize, "load auto: %s has no %s%s, so it stays online", target,
                 instance->isProduction && strcmp(missing, "NEO4J_HOME") != 0 ? "NEO4J_" : "", missing);
        return RESTORE_LOAD_BOLT;
    }
    snprintf(why, whySize, "load auto: %s has a NEO4J_HOME and stop and start commands, so it is stopped for "
                           "the import", target);
    return RESTORE_LOAD_IMPORT;
}

ErrCode restoreImportPreflight(const InstanceConfig *instance)
{
    const char *missing = restoreOfflineMissing(instance);
    if (!missing)
        return ERR_OK;
    errSet(CONFIG_INVALID, "the import load rebuilds a stopped database with neo4j-admin, and %s %s has no %s%s",
           instance->isProduction ? "production" : "target", instance->name,
           instance->isProduction && strcmp(missing, "NEO4J_HOME") != 0 ? "NEO4J_" : "", missing);
    if (instance->isProduction)
        errSetAction("Set NEO4J_HOME, NEO4J_STOP_COMMAND and NEO4J_START_COMMAND for production, or restore with "
                     "--load bolt");
    else
        errSetAction("Add NEO4J_HOME, STOP_COMMAND and START_COMMAND to [instance %s] in the config file, or "
                     "restore with --load bolt",
                     instance->name);
    return CONFIG_INVALID;
}

static bool restoreIsDump(const Manifest *manifest)
{
    return manifest && manifest->method && strcmp(manifest->method, "dump") == 0;
}

static void restoreChainFree(RestoreChain *chain)
{
    for (size_t index = 0; chain->locks && index + 1 < chain->chain.count; index++)
        storageLockRelease(chain->locks[index]);
    free(chain->locks);
    catChainLinksFree(&chain->links);
    catChainFree(&chain->chain);
    memset(chain, 0, sizeof(*chain));
}

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

/* The production guard: a test restore never writes production. */
static ErrCode restoreGuardProduction(const RestoreRequest *request)
{
    char targetIdentity[400];
    char productionIdentity[400];
    restoreIdentity(request->target, targetIdentity, sizeof(targetIdentity));
    restoreIdentity(request->production, productionIdentity, sizeof(productionIdentity));
    if (strcmp(targetIdentity, productionIdentity) != 0 && !request->target->isProduction)
        return ERR_OK;
    return errSet(RESTORE_REFUSED,
                  "target %s is the production server and database (%s); production is written "
                  "only by --promote after a validated restore into a test instance",
                  request->target->name, targetIdentity);
}

/* The contract's corrupted-backup lines (reason from errLast()). */
static void restoreReportCorrupted(const RestoreRunState *run, const char *expected, const char *got)
{
    restoreLine(run, LOG_ERROR, "Backup validation failed");
    restoreLine(run, LOG_ERROR, "Code: %s (%s)", errName(BACKUP_CORRUPTED), errDefaultMessage(BACKUP_CORRUPTED));
    if (expected && got) {
        restoreLine(run, LOG_ERROR, "Checksum mismatch!");
        restoreLine(run, LOG_ERROR, "Expected: %s", expected);
        restoreLine(run, LOG_ERROR, "Got: %s", got);
    } else {
        restoreLine(run, LOG_ERROR, "Reason: %s", errLast()->reason);
    }
    restoreLine(run, LOG_ERROR, "This backup appears to be corrupted on disk");
    restoreLine(run, LOG_ERROR, "Action: %s", errDefaultAction(BACKUP_CORRUPTED));
}

/* The SHA-256 of the backup's archive against its manifest (the catalog's
 * check, shared with --validate); the archive's path goes to archivePath. */
static ErrCode restoreVerifyChecksum(const RestoreRunState *run, const CatEntry *entry, char *archivePath,
                                     size_t archivePathSize)
{
    CatChecksum checksum;
    ErrCode code = catChecksumVerify(run->request->catalog, entry, archivePath, archivePathSize, &checksum);
    if (code == BACKUP_CORRUPTED)
        restoreReportCorrupted(run, checksum.mismatch ? checksum.expected : NULL,
                               checksum.mismatch ? checksum.got : NULL);
    else if (code == ERR_OK)
        restoreLine(run, LOG_INFO, "Checksum verification: PASSED");
    return code;
}

/* For a differential (nothing to do for a full backup): its chain into
 * out, every link checked, unlocked, locked (with lockLinks) and its
 * checksum verified, and source pointed at it. A broken chain or link is
 * BACKUP_CORRUPTED, reported with the contract's lines, before the target
 * is touched. The rollback does not lock: the safety backup is not locked
 * either, and its chain may share links with the one restored, whose locks
 * object storage takes exclusively. */
static ErrCode restoreOpenChain(const RestoreRunState *run, const CatEntry *entry, bool lockLinks, RestoreChain *out,
                                RestoreSource *source)
{
    memset(out, 0, sizeof(*out));
    if (!entry->manifest || !manifestIsDiff(entry->manifest))
        return ERR_OK;
    const RestoreRequest *request = run->request;
    ErrCode code = catChainLoad(request->catalog, entry->manifest->id, &out->chain);
    if (code == ERR_OK)
        code = catChainLinksOpen(request->catalog, &out->chain, request->masterKey, &out->links);
    if (code == ERR_OK)
        out->locks = memCalloc(out->chain.count, sizeof(*out->locks));
    for (size_t index = 0; code == ERR_OK && index + 1 < out->chain.count; index++) {
        const CatEntry *link = &out->chain.links[index];
        if (lockLinks)
            code = catLockBackup(request->catalog, link->manifest->id, LOCK_SHARED, 5000, "restore",
                                 &out->locks[index]);
        CatChecksum checksum = {0};
        char path[4096];
        if (code == ERR_OK)
            code = catChecksumVerify(request->catalog, link, path, sizeof(path), &checksum);
        if (code != ERR_OK) {
            errAddContext("backup %s of the chain of %s", link->manifest->id, entry->manifest->id);
            if (code == BACKUP_CORRUPTED)
                restoreReportCorrupted(run, checksum.mismatch ? checksum.expected : NULL,
                                       checksum.mismatch ? checksum.got : NULL);
        }
    }
    /* A broken chain (the loop reports a link's own failure). */
    if (code == BACKUP_CORRUPTED && !out->locks)
        restoreReportCorrupted(run, NULL, NULL);
    if (code != ERR_OK)
        return code;
    source->chain = out->links.links;
    source->chainCount = out->links.count;
    for (size_t index = 0; index < out->chain.count; index++)
        source->chainUncompressedBytes += out->chain.links[index].manifest->archive.sizeUncompressed;
    restoreLine(run, LOG_INFO, "Differential backup: chain of %zu backups from full backup %s, every parent's "
                "checksum PASSED", out->chain.count, out->chain.links[0].manifest->id);
    return ERR_OK;
}

/* Connects to an instance, running its start command when it does not answer. */
static ErrCode restoreConnectTarget(const RestoreRunState *run, const InstanceConfig *instance,
                                    BoltConnection **out)
{
    ErrCode code = run->request->ops->connect(instance, out);
    if (code != NEO4J_UNREACHABLE || !instance->startCommand)
        return code;
    char shown[PROC_COMMAND_SIZE];
    procMaskSecrets(instance->startCommand, shown, sizeof(shown));
    restoreLine(run, LOG_INFO, "Target %s does not answer; starting it: %s", instance->name, shown);
    ProcRun process;
    code = procShellRun(instance->startCommand, RESTORE_START_COMMAND_TIMEOUT_SECONDS, NULL, &process);
    if (code != ERR_OK) {
        ErrDetail failure = errSave();
        errSet(NEO4J_UNREACHABLE, "the start command of %s failed (status %d): %s", instance->name,
               process.exitStatus, shown);
        errSetDetails("%s", failure.details[0] ? failure.details : failure.reason);
        return NEO4J_UNREACHABLE;
    }
    double deadline = timeMonotonic() + RESTORE_START_TIMEOUT_SECONDS;
    do {
        usleep(500 * 1000); /* polling a server that is starting: no event to wait on */
        code = run->request->ops->connect(instance, out);
    } while (code == NEO4J_UNREACHABLE && timeMonotonic() < deadline);
    return code;
}

static void restoreOnProgress(const LogicalRestoreProgress *progress, void *payload)
{
    const RestoreRunState *run = payload;
    RestoreEvent event = {.kind = RESTORE_EVENT_PROGRESS, .level = LOG_INFO, .progress = progress};
    restoreSend(run, &event);
}

/* Test hook for the counts check: takes faultDropLabel off one node of the
 * target after the load, before the checks (the totals stay equal, so only
 * the per-label comparison can notice). */
static void restoreFaultDropLabel(const RestoreRunState *run, BoltConnection *connection, const char *database)
{
#ifndef NBK_TEST_HOOKS
    (void)run, (void)connection, (void)database; /* a release build: no test hook, none of its names */
#else
    const char *label = run->request->faultDropLabel;
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
        restoreLine(run, LOG_WARN, "NBK_FAULT_DROP_LABEL: took label %s off one node of the target", label);
    else
        restoreLine(run, LOG_WARN, "NBK_FAULT_DROP_LABEL failed: %s", errLast()->reason);
    arenaFree(arena);
    bufferFree(&query);
#endif
}

/* Runs the five checks on instance and reports each; RESTORE_HEALTH_FAILED
 * (reason: the first failing check's finding) when one fails. */
static ErrCode restoreHealthChecks(const RestoreRunState *run, const RestoreSource *source,
                                   const InstanceConfig *instance, BoltConnection *connection,
                                   const ArchiveContent *archive, char *failedCheck, size_t failedCheckSize)
{
    const Manifest *manifest = source->entry->manifest;
    restoreFaultDropLabel(run, connection, instance->database);
    restoreLine(run, LOG_INFO, "Running health checks on restored instance...");
    HealthExpectations expected = {
        .archive = archive,
        .expectedNodes = manifest->stats.nodes,
        .expectedRelationships = manifest->stats.relationships,
    };
    HealthCheckResult checks[HEALTH_CHECK_COUNT];
    healthRunAll(connection, instance->database, &expected, checks);
    /* A chain merged into another graph than the one backed up would pass
     * the target against the merged records: the manifest's fingerprint
     * (of the whole graph at the differential's time) decides. */
    for (int index = 0; source->chain && manifest->contentFingerprint && index < HEALTH_CHECK_COUNT; index++)
        if (strcmp(checks[index].name, "fingerprint") == 0 && checks[index].status == HEALTH_PASS &&
            strcmp(archive->fingerprint, manifest->contentFingerprint) != 0)
            healthFinding(&checks[index], checks[index].name, HEALTH_FAIL,
                          "the chain merged to content fingerprint %s, the backup's manifest says %s",
                          archive->fingerprint, manifest->contentFingerprint);
    /* The rollback's checks are always real. */
#ifdef NBK_TEST_HOOKS
    const char *fault = source->rollback ? NULL : run->request->faultPromoteHealth;
#endif
    ErrCode code = ERR_OK;
    for (int index = 0; index < HEALTH_CHECK_COUNT; index++) {
#ifdef NBK_TEST_HOOKS
        if (fault && instance->isProduction && strcmp(fault, checks[index].name) == 0) {
            checks[index].status = HEALTH_FAIL;
            snprintf(checks[index].finding, sizeof(checks[index].finding),
                     "failure injected by NBK_FAULT_PROMOTE_HEALTH");
        }
#endif
        char text[256];
        snprintf(text, sizeof(text), "Health check: %s ... %s", checks[index].name,
                 checks[index].status == HEALTH_PASS ? "PASS" : "FAIL");
        RestoreEvent event = {.kind = RESTORE_EVENT_HEALTH_CHECK, .level = LOG_INFO, .text = text,
                              .instance = instance, .check = &checks[index]};
        restoreSend(run, &event);
        if (checks[index].status != HEALTH_PASS && !failedCheck[0]) {
            snprintf(failedCheck, failedCheckSize, "%s", checks[index].name);
            errSet(RESTORE_HEALTH_FAILED, "%s", checks[index].finding);
            code = RESTORE_HEALTH_FAILED;
        }
    }
    return code;
}

/* Restores the archive into one instance and runs the health checks there.
 * failedCheck receives the name of the first failing check, if any. */
static ErrCode restoreIntoInstance(const RestoreRunState *run, const RestoreSource *source,
                                   const InstanceConfig *instance, bool validate, char *failedCheck,
                                   size_t failedCheckSize)
{
    const RestoreRequest *request = run->request;
    const Manifest *manifest = source->entry->manifest;
    failedCheck[0] = '\0';
    /* Every load streams the archive from the catalog's storage. */
    char archiveName[512];
    ArcLocation archiveAt;
    ErrCode code = catArchiveLocation(request->catalog, source->entry, source->archivePath, archiveName,
                                      sizeof(archiveName), &archiveAt);
    if (code != ERR_OK)
        return code;
    if (restoreIsDump(manifest))
        return request->ops->dumpRestore(request->ops->payload, source->entry, &archiveAt, instance, validate,
                                         failedCheck, failedCheckSize);
    BoltConnection *connection = NULL;
    double started = timeMonotonic();
    LogicalRestoreResult loaded;
    memset(&loaded, 0, sizeof(loaded));
    ArchiveContent imported;
    memset(&imported, 0, sizeof(imported));
    const ArchiveContent *archive = &loaded.archive;
    char why[256];
    RestoreLoad load = restoreChooseLoad(request->load, instance, why, sizeof(why));
    char text[400];
    snprintf(text, sizeof(text), "Load: %s (%s)", load == RESTORE_LOAD_IMPORT ? "import" : "bolt", why);
    RestoreEvent chosen = {.kind = RESTORE_EVENT_LOAD_CHOSEN, .level = LOG_INFO, .text = text, .load = load,
                           .reason = why, .instance = instance};
    restoreSend(run, &chosen);
    if (load == RESTORE_LOAD_IMPORT) {
        restoreLine(run, LOG_INFO, "Restoring data into %s (database %s) with neo4j-admin database import...",
                    instance->name, instance->database);
        ArcChainLink single = {.location = archiveAt};
        code = request->ops->importLoad(request->ops->payload, source->chain ? source->chain : &single,
                                        source->chain ? source->chainCount : 1,
                                        source->chain ? source->chainUncompressedBytes
                                                      : manifest->archive.sizeUncompressed,
                                        manifest->stats.nodes + manifest->stats.relationships, instance, &connection,
                                        &imported);
        archive = &imported;
    } else {
        code = restoreConnectTarget(run, instance, &connection);
        if (code != ERR_OK)
            return code;
        restoreLine(run, LOG_INFO, "Restoring data into %s (database %s)...", instance->name, instance->database);
        LogicalRestoreRequest logical = {
            .connection = connection,
            .database = instance->database,
            .archive = archiveAt,
            .chain = source->chain,
            .chainCount = source->chainCount,
            .wipeTarget = true,
            .expectedNodes = manifest->stats.nodes,
            .expectedRelationships = manifest->stats.relationships,
            .progress = restoreOnProgress,
            .progressPayload = (void *)run,
            .cancelFlag = request->cancelFlag,
        };
        code = logicalRestoreRun(&logical, &loaded);
        restoreLine(run, LOG_DEBUG,
                    "Bolt load: wipe %.1f s, nodes %.1f s, relationships %.1f s, schema %.1f s, %llu transactions",
                    loaded.wipeSeconds, loaded.nodeSeconds, loaded.relationshipSeconds, loaded.schemaSeconds,
                    (unsigned long long)loaded.batches);
    }
    if (code == ERR_OK) {
        char duration[FORMAT_TEXT_SIZE];
        restoreLine(run, LOG_INFO, "Restore completed in %s",
                    fmtDuration(duration, sizeof(duration), timeMonotonic() - started));
    }
    if (code == ERR_OK && validate) {
        recoveryTransition(run->root, RECOVERY_VALIDATION, manifest->id, instance->name, NULL,
                           instance->isProduction);
        code = restoreHealthChecks(run, source, instance, connection, archive, failedCheck, failedCheckSize);
    }
    logicalRestoreResultFree(&loaded);
    arcContentFree(&imported);
    boltClose(connection);
    return code;
}

/* The contract's lines for a failed health check (reason from errLast()). */
static void restoreReportHealthFailure(const RestoreRunState *run, const char *failedCheck)
{
    restoreLine(run, LOG_ERROR, "Restore completed but health check failed");
    restoreLine(run, LOG_ERROR, "Code: %s (%s)", errName(RESTORE_HEALTH_FAILED),
                errDefaultMessage(RESTORE_HEALTH_FAILED));
    restoreLine(run, LOG_ERROR, "Failed check: %s", failedCheck);
    restoreLine(run, LOG_ERROR, "%s", errLast()->reason);
    if (strcmp(failedCheck, "orphan_detection") == 0)
        restoreLine(run, LOG_ERROR, "This indicates the backup itself is corrupted (not a restore error)");
    restoreLine(run, LOG_ERROR, "Action: %s", errDefaultAction(RESTORE_HEALTH_FAILED));
    run->result->reported = true;
}

/* Promotion: confirmation, safety backup of production, restore into
 * production, checks, and on any failure the safety backup goes back in. */
static ErrCode restorePromote(const RestoreRunState *run, const RestoreSource *source)
{
    const RestoreRequest *request = run->request;
    const InstanceConfig *production = request->production;
    RestoreResult *result = run->result;
    const char *backupId = source->entry->manifest->id;
    char safeUri[512];
    boltUriSafe(production->uri, safeUri, sizeof(safeUri));
    ErrCode code = run->events && run->events->confirmPromotion
                       ? run->events->confirmPromotion(backupId, safeUri, run->events->payload)
                       : errSet(RESTORE_REFUSED, "promotion needs a confirmation and none was given");
    if (code != ERR_OK)
        return code;
    restoreLine(run, LOG_INFO, "Promotion step 1/3: safety backup of production (%s)...", safeUri);
    if (!request->safetyBackup)
        return errSet(ERR_INTERNAL, "the restore request has no safety backup");
    code = request->safetyBackup(request->safetyBackupPayload, result->safetyBackupId);
    if (code != ERR_OK) {
        errAddContext("safety backup of production failed, production is unchanged");
        return code;
    }
    const char *safetyId = result->safetyBackupId;
    restoreLine(run, LOG_INFO, "Promotion step 2/3: restoring %s into production...", backupId);
    recoveryTransition(run->root, RECOVERY_RECOVERING, backupId, production->name, NULL, true);
    char failedCheck[64];
    code = restoreIntoInstance(run, source, production, true, failedCheck, sizeof(failedCheck));
    if (code == ERR_OK) {
        restoreLine(run, LOG_INFO, "Promotion step 3/3: production passed every health check");
        result->promoted = true;
        return ERR_OK;
    }
    ErrDetail failure = errSave();
    if (code == RESTORE_HEALTH_FAILED) {
        snprintf(result->failedCheck, sizeof(result->failedCheck), "%s", failedCheck);
        restoreReportHealthFailure(run, failedCheck);
    }
    restoreLine(run, LOG_ERROR, "Promotion failed: %s. Rolling back production to the safety backup %s...",
                failure.reason, safetyId);
    CatEntry safety = {0};
    char safetyArchive[4096] = "";
    RestoreSource rollbackSource = {&safety, safetyArchive, true, NULL, 0, 0};
    RestoreChain safetyChain = {0};
    ErrCode rollback = catFind(request->catalog, safetyId, &safety);
    if (rollback == ERR_OK)
        rollback = catEntryUnlock(request->catalog, &safety, request->masterKey);
    /* The safety backup may be a differential of production's chain. */
    if (rollback == ERR_OK)
        rollback = restoreOpenChain(run, &safety, false, &safetyChain, &rollbackSource);
    if (rollback == ERR_OK)
        rollback = restoreVerifyChecksum(run, &safety, safetyArchive, sizeof(safetyArchive));
    if (rollback == ERR_OK)
        rollback = restoreIntoInstance(run, &rollbackSource, production, true, failedCheck, sizeof(failedCheck));
    restoreChainFree(&safetyChain);
    catEntryFree(&safety);
    if (rollback == ERR_OK) {
        result->rolledBack = true;
        restoreLine(run, LOG_WARN, "Production was rolled back to the safety backup %s and passed every health check",
                    safetyId);
    } else {
        restoreLine(run, LOG_CRITICAL, "Rollback to the safety backup %s FAILED: %s", safetyId, errLast()->reason);
    }
    errRestore(&failure); /* the promotion's failure, not the rollback's */
    errAddContext("promotion of %s rolled back%s", backupId, rollback == ERR_OK ? "" : " UNSUCCESSFULLY");
    return code;
}

/* The checks made before anything is touched: the id, promote's need for
 * the checks, the guard, and what the load needs of the instances. */
static ErrCode restorePreflight(const RestoreRunState *run, const CatEntry *entry)
{
    const RestoreRequest *request = run->request;
    ErrCode code = ERR_OK;
    if (restoreIsDump(entry->manifest)) {
        code = request->ops->dumpPreflight(entry, request->target);
        if (code == ERR_OK && request->promote)
            code = request->ops->dumpPreflight(entry, request->production);
    } else if (entry->manifest && entry->manifest->method && strcmp(entry->manifest->method, "logical") != 0) {
        code = errSet(RESTORE_FAILED, "backup %s was made with method %s, which this version cannot restore",
                      request->backupId, entry->manifest->method);
    } else if (request->load == RESTORE_LOAD_IMPORT) {
        code = restoreImportPreflight(request->target);
        if (code == ERR_OK && request->promote)
            code = restoreImportPreflight(request->production);
    }
    return code;
}

static void restoreDescribeDryRun(const RestoreRunState *run, const CatEntry *entry)
{
    const RestoreRequest *request = run->request;
    const InstanceConfig *target = request->target;
    const Manifest *manifest = entry->manifest;
    const char *checks = request->validate ? ", then run the health checks" : "";
    char safeUri[512];
    boltUriSafe(target->uri, safeUri, sizeof(safeUri));
    char why[256];
    if (restoreIsDump(manifest))
        restoreLine(run, LOG_INFO,
                    "Dry run: would stop test instance %s (%s) with its STOP_COMMAND, replace database %s with "
                    "the dump (neo4j-admin database load), start it with its START_COMMAND%s",
                    target->name, safeUri, target->database, checks);
    else if (restoreChooseLoad(request->load, target, why, sizeof(why)) == RESTORE_LOAD_IMPORT)
        restoreLine(run, LOG_INFO,
                    "Dry run: would write import files of %" PRIu64 " nodes and %" PRIu64 " relationships, stop "
                    "test instance %s (%s) with its STOP_COMMAND, rebuild database %s with neo4j-admin database "
                    "import, start it with its START_COMMAND%s",
                    manifest->stats.nodes, manifest->stats.relationships, target->name, safeUri, target->database,
                    checks);
    else
        restoreLine(run, LOG_INFO,
                    "Dry run: would empty database %s of test instance %s (%s) and restore %" PRIu64
                    " nodes and %" PRIu64 " relationships into it%s",
                    target->database, target->name, safeUri, manifest->stats.nodes, manifest->stats.relationships,
                    checks);
    if (request->promote)
        restoreLine(run, LOG_INFO, "Dry run: would then take a safety backup of production and promote %s to it",
                    request->backupId);
    restoreLine(run, LOG_INFO, "Dry run: nothing was changed");
}

ErrCode restoreRun(const RestoreRequest *request, RestoreResult *result, const RestoreEvents *events)
{
    memset(result, 0, sizeof(*result));
    RestoreRunState run = {request, events, result,
                           request->stateDirectory ? request->stateDirectory : catRoot(request->catalog)};
    if (!run.root) {
        errSet(ERR_INTERNAL, "restoreRun: no state directory for a repository without paths");
        return ERR_INTERNAL;
    }
    const char *backupId = request->backupId;
    const InstanceConfig *target = request->target;
    const InstanceConfig *production = request->production;
    CatEntry entry = {0};
    RestoreChain chain = {0};
    RestoreSource source = {&entry, NULL, false, NULL, 0, 0};
    StorageLock *backupLock = NULL;
    bool stateStarted = false;
    bool promoting = false; /* the failure, if any, is production's, not the test instance's */
    char archivePath[4096] = "";
    char failedCheck[64] = "";

    restoreLine(&run, LOG_INFO, "Starting restore from backup %s", backupId);
    ErrCode code = catIdCheck(backupId);
    if (code == ERR_OK && request->promote && !request->validate)
        code = errSet(RESTORE_REFUSED, "--promote needs the health checks; drop --no-validate");
    if (code == ERR_OK)
        code = catFind(request->catalog, backupId, &entry);
    /* An encrypted backup: its data key and an authenticated manifest
     * before anything else, so a missing or wrong key (or a changed count
     * or checksum) leaves the target untouched. */
    if (code == ERR_OK && catEntryEncrypted(&entry)) {
        code = catEntryUnlock(request->catalog, &entry, request->masterKey);
        if (code == ERR_OK)
            restoreLine(&run, LOG_INFO, "Backup is encrypted (key id %s): key accepted, manifest authenticated",
                        entry.manifest->encryption.keyId);
    }
    if (code == ERR_OK) {
        /* Per-node tables past 8 MB go to unlinked scratch files there (docs/restore.md);
         * the Bolt load also holds queued batches, so its tables keep smaller caches. */
        char why[256];
        bool import = restoreChooseLoad(request->load, target, why, sizeof(why)) == RESTORE_LOAD_IMPORT;
        spillConfigure(request->scratchDirectory ? request->scratchDirectory : run.root, 0,
                       import ? 0 : SPILL_BOLT_LOAD_RESIDENT_BYTES);
    }
    if (code == ERR_OK)
        code = restoreGuardProduction(request);
    /* A dump loads only into an installation the tool can stop: say so before touching anything. */
    if (code == ERR_OK)
        code = restorePreflight(&run, &entry);
    if (code == ERR_OK)
        code = catLockBackup(request->catalog, backupId, LOCK_SHARED, 5000, "restore", &backupLock);
    if (code == ERR_OK) {
        restoreLine(&run, LOG_INFO, "Validating backup integrity...");
        code = restoreVerifyChecksum(&run, &entry, archivePath, sizeof(archivePath));
        /* A differential: every link of its chain too, before the target is touched. */
        if (code == ERR_OK)
            code = restoreOpenChain(&run, &entry, true, &chain, &source);
        result->reported = code == BACKUP_CORRUPTED;
    }
    if (code == ERR_OK) {
        char compressed[FORMAT_TEXT_SIZE];
        char uncompressed[FORMAT_TEXT_SIZE];
        const Manifest *manifest = entry.manifest;
        restoreLine(&run, LOG_INFO, "Uncompressing backup (%s, streamed while restoring)...", manifest->compression);
        restoreLine(&run, LOG_INFO, "Backup size (compressed): %s",
                    fmtSize(compressed, sizeof(compressed), manifest->archive.sizeCompressed));
        restoreLine(&run, LOG_INFO, "Backup size (uncompressed): %s",
                    fmtSize(uncompressed, sizeof(uncompressed), manifest->archive.sizeUncompressed));
    }
    if (code == ERR_OK && request->dryRun) {
        restoreDescribeDryRun(&run, &entry);
    } else if (code == ERR_OK) {
        RecoveryStatus previous;
        if (recoveryLoad(run.root, &previous) == ERR_OK && recoveryIsStale(&previous))
            recoveryTransition(run.root, RECOVERY_FAILED, previous.backupId, previous.target,
                               "interrupted: the restoring process ended without finishing", false);
        recoveryTransition(run.root, RECOVERY_RECOVERING, backupId, target->name, NULL, false);
        stateStarted = true;
        restoreLine(&run, LOG_INFO, "Preparing test Neo4j instance (%s)...", target->name);
        source.archivePath = archivePath;
        code = restoreIntoInstance(&run, &source, target, request->validate, failedCheck, sizeof(failedCheck));
        if (code == ERR_OK) {
            recoveryTransition(run.root, RECOVERY_SUCCESS, backupId, target->name, NULL, false);
            restoreLine(&run, LOG_SUCCESS, "%s",
                        request->validate ? "Restore completed and validated"
                                          : "Restore completed (health checks skipped)");
            restoreLine(&run, LOG_INFO, "Restored backup: %s", backupId);
            restoreLine(&run, LOG_INFO, "Graph stats: %" PRIu64 " nodes, %" PRIu64 " relationships",
                        entry.manifest->stats.nodes, entry.manifest->stats.relationships);
            if (!request->promote)
                restoreLine(&run, LOG_INFO,
                            "Next step: Verify restored data, then run: --promote to switch to production");
        } else if (code == RESTORE_HEALTH_FAILED) {
            snprintf(result->failedCheck, sizeof(result->failedCheck), "%s", failedCheck);
        }
        if (code == ERR_OK && request->promote) {
            promoting = true;
            code = restorePromote(&run, &source);
            if (code == ERR_OK) {
                recoveryTransition(run.root, RECOVERY_SUCCESS, backupId, production->name, NULL, true);
                restoreLine(&run, LOG_SUCCESS, "Backup %s promoted to production", backupId);
            }
        }
    }
    if (code != ERR_OK && stateStarted) {
        const char *reason = code == OPERATION_INTERRUPTED ? "interrupted by a signal" : errLast()->reason;
        ErrDetail detail = errSave();
        recoveryTransition(run.root, RECOVERY_FAILED, backupId, promoting ? production->name : target->name, reason,
                           request->promote);
        errRestore(&detail);
    }
    if (code == RESTORE_HEALTH_FAILED && !result->reported)
        restoreReportHealthFailure(&run, failedCheck);
    restoreChainFree(&chain);
    storageLockRelease(backupLock);
    catEntryFree(&entry);
    return code;
}
