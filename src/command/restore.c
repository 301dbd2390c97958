/* neo4j-restore: restore a backup into a test instance, prove it sound with
 * health checks, and only with an operator's confirmation promote it to
 * production. The flow is the restore service's (restore/restore_service.h);
 * this file turns the options into its request, prints its events, asks for
 * the confirmation, and wires what restore/ does not hold yet. */
#include "command/dump.h"
#include "command/import.h"
#include "command/support.h"

#include "common/log.h"
#include "common/timeutil.h"
#include "restore/recovery_state.h"
#include "restore/restore_service.h"
#include "restore/restore_settings.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void restorePrintProgress(const LogicalRestoreProgress *progress)
{
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

static void restorePrintEvent(const RestoreEvent *event, void *payload)
{
    (void)payload;
    if (event->kind == RESTORE_EVENT_PROGRESS)
        restorePrintProgress(event->progress);
    else
        logMessage(event->level, "%s", event->text);
}

/* Asks the operator to type the backup id; --yes or PROMOTE_AFTER_VALIDATION skip it. */
static ErrCode restoreConfirmPromotion(const char *backupId, const char *productionUri, void *payload)
{
    CommandContext *context = payload;
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

/* ---- what restore/ does not hold yet: the offline loads live in command/ -- */

static ErrCode restoreImportLoad(void *payload, const ArcChainLink *chain, size_t chainCount, uint64_t expectedBytes,
                                 uint64_t expectedRecords, const InstanceConfig *instance,
                                 BoltConnection **connection, ArchiveContent *content)
{
    return cmdImportLoadInto(payload, chain, chainCount, expectedBytes, expectedRecords, instance, connection,
                             content);
}

static ErrCode restoreDumpRestore(void *payload, const CatEntry *entry, const ArcLocation *archive,
                                  const InstanceConfig *instance, bool validate, char *failedCheck,
                                  size_t failedCheckSize)
{
    CommandContext *context = payload;
    return cmdDumpRestoreInto(context, catStateDirectory(context->config), entry, archive, instance,
                              validate, failedCheck, failedCheckSize);
}

static ErrCode restoreSafetyBackup(void *payload, char idOut[CAT_ID_SIZE])
{
    return createBackup(payload, idOut);
}

/* Wires into request what restore/ does not hold yet (the connection, the
 * import and dump loads, the safety backup via createBackup) and the test
 * hooks; ops must outlive the request. */
static void restoreWire(CommandContext *context, RestoreRequest *request, RestoreInstanceOps *ops)
{
    *ops = (RestoreInstanceOps){
        .connect = neo4jConnect,
        .importLoad = restoreImportLoad,
        .dumpPreflight = cmdDumpRestorePreflight,
        .dumpRestore = restoreDumpRestore,
        .payload = context,
    };
    request->ops = ops;
    request->safetyBackup = restoreSafetyBackup;
    request->safetyBackupPayload = context;
    request->cancelFlag = context->cancelFlag;
#ifdef NBK_TEST_HOOKS
    /* Test hooks, never set in production: NBK_FAULT_DROP_LABEL=<label>
     * takes that label off one node of the target before the checks;
     * NBK_FAULT_PROMOTE_HEALTH=<check> fails that check on production. */
    request->faultDropLabel = getenv("NBK_FAULT_DROP_LABEL");
    request->faultPromoteHealth = getenv("NBK_FAULT_PROMOTE_HEALTH");
#endif
}

/* With a second location (BACKUP_COPY_PATH): why the primary's backup
 * cannot be restored (missing, damaged manifest, archive missing, of the
 * wrong size or failing its SHA-256), or "" when it can. */
static void restorePrimaryProblem(Catalog *primary, const char *backupId, char *why, size_t whySize)
{
    why[0] = '\0';
    CatEntry entry = {0};
    ErrCode code = catFind(primary, backupId, &entry);
    char problem[512];
    if (code == BACKUP_NOT_FOUND)
        snprintf(why, whySize, "is not in BACKUP_STORAGE_PATH");
    else if (code != ERR_OK)
        snprintf(why, whySize, "cannot be read in BACKUP_STORAGE_PATH (%s)", errLast()->reason);
    else if (!entry.manifest)
        snprintf(why, whySize, "has a damaged manifest in BACKUP_STORAGE_PATH");
    else if (!catEntryUsable(&entry))
        snprintf(why, whySize, "is %s in BACKUP_STORAGE_PATH (%s)", catEntryStatus(&entry),
                 catEntryProblem(&entry, problem, sizeof(problem)));
    else if (catVerifyArchive(primary, &entry) != ERR_OK)
        snprintf(why, whySize, "is damaged in BACKUP_STORAGE_PATH (%s)", errLast()->reason);
    catEntryFree(&entry);
    errClear();
}

/* Chooses where to restore from: the primary when its backup is sound,
 * else a restorable copy in BACKUP_COPY_PATH, said in one warning line.
 * *catalog is the primary on entry and the chosen location on return (the
 * primary is closed when the copy is chosen; NULL when it could not be
 * opened). With neither restorable the primary stays, and the restore fails
 * with its usual error. True when the copy was chosen. */
static bool restoreChooseLocation(CommandContext *context, const char *backupId, Catalog **catalog)
{
    if (!catCopyConfigured(context->config) || !catIdValid(backupId))
        return false;
    char why[1400];
    if (*catalog)
        restorePrimaryProblem(*catalog, backupId, why, sizeof(why));
    else
        snprintf(why, sizeof(why), "cannot be read: BACKUP_STORAGE_PATH cannot be opened (%s)", errLast()->reason);
    if (!why[0])
        return false;
    Catalog *copy = NULL;
    CatEntry entry = {0};
    const char *where = cfgGet(context->config, CFG_BACKUP_COPY_PATH);
    ErrCode code = catCopyOpenConfigured(context->config, false, &copy);
    if (code == ERR_OK)
        code = catFind(copy, backupId, &entry);
    bool usable = code == ERR_OK && catEntryUsable(&entry);
    catEntryFree(&entry);
    if (!usable) {
        logWarn("Backup %s %s, and the copy location %s has no restorable copy of it", backupId, why, where);
        errClear();
        catClose(copy);
        return false;
    }
    logWarn("Backup %s %s: restoring from the copy in %s", backupId, why, where);
    catClose(*catalog);
    *catalog = copy;
    return true;
}

ErrCode cmdRestore(CommandContext *context, const char *backupId)
{
    RestoreSettings settings;
    Catalog *catalog = NULL;
    ErrCode code = restoreSettingsResolve(context->config, optionsValue(context->options, OPT_TARGET), &settings);
    if (code == ERR_OK) {
        code = supportOpenCatalog(context, false, &catalog);
        /* A primary that cannot even be opened (its disk gone) may have a copy. */
        if (code != CONFIG_INVALID) {
            ErrDetail failure = errSave();
            if (restoreChooseLocation(context, backupId, &catalog))
                code = ERR_OK;
            else if (code != ERR_OK)
                errRestore(&failure);
        }
    }
    /* The key from the location chosen: a passphrase's key record travels with --copy. */
    if (code == ERR_OK)
        code = restoreSettingsResolveKey(context->config, catalog, &settings);
    RestoreResult result = {0};
    if (code == ERR_OK) {
        RestoreRequest request = {
            .catalog = catalog,
            .backupId = backupId,
            .validate = !optionsHas(context->options, OPT_NO_VALIDATE),
            .promote = optionsHas(context->options, OPT_PROMOTE),
            .dryRun = context->dryRun,
        };
        restoreSettingsApply(&settings, &request);
        RestoreInstanceOps ops;
        restoreWire(context, &request, &ops);
        RestoreEvents events = {
            .onEvent = restorePrintEvent,
            .confirmPromotion = restoreConfirmPromotion,
            .payload = context,
        };
        code = restoreRun(&request, &result, &events);
    } else {
        logInfo("Starting restore from backup %s", backupId);
    }
    if (code != ERR_OK && !result.reported)
        logErrorBlock("Restore failed", false);
    restoreSettingsFree(&settings);
    catClose(catalog);
    return code;
}

static const char *restoreJsonString(json_object *object, const char *key)
{
    json_object *value = NULL;
    return json_object_object_get_ex(object, key, &value) && json_object_is_type(value, json_type_string)
               ? json_object_get_string(value)
               : "";
}

/* The text form of --status: the current state, then the history. */
static void restorePrintStatus(json_object *status)
{
    json_object *value = NULL;
    bool interrupted = json_object_object_get_ex(status, "interrupted", &value) && json_object_get_boolean(value);
    bool promoted = json_object_object_get_ex(status, "promoted", &value) && json_object_get_boolean(value);
    const char *state = restoreJsonString(status, "state");
    logInfo("Recovery state: %s%s", state, interrupted ? " (interrupted: the process that ran it is gone)" : "");
    if (strcmp(state, recoveryStateName(RECOVERY_NOT_RECOVERING)) != 0) {
        int64_t since = 0;
        timeParseIso(restoreJsonString(status, "since"), &since);
        char shown[TIME_TEXT_SIZE];
        timeFormatDisplay(since, shown);
        logInfo("Backup: %s", restoreJsonString(status, "backup_id"));
        logInfo("Target: %s%s", restoreJsonString(status, "target"), promoted ? " (promoted to production)" : "");
        logInfo("Since: %s", shown);
        if (restoreJsonString(status, "reason")[0])
            logInfo("Reason: %s", restoreJsonString(status, "reason"));
    }
    json_object *history = NULL;
    size_t length = json_object_object_get_ex(status, "history", &history) ? json_object_array_length(history) : 0;
    if (length)
        logInfo("History:");
    for (size_t index = 0; index < length; index++) {
        json_object *entry = json_object_array_get_idx(history, index);
        logInfo("  %s  %-16s %s -> %s%s%s", restoreJsonString(entry, "since"), restoreJsonString(entry, "state"),
                restoreJsonString(entry, "backup_id"), restoreJsonString(entry, "target"),
                restoreJsonString(entry, "reason")[0] ? ": " : "", restoreJsonString(entry, "reason"));
    }
}

ErrCode cmdRestoreStatus(CommandContext *context)
{
    const char *root = catStateDirectory(context->config);
    json_object *status = NULL;
    ErrCode code = root ? recoveryStatusJson(root, &status) : cfgStoragePathMissing();
    if (code != ERR_OK) {
        logErrorBlock("Cannot read the recovery state", false);
        return code;
    }
    if (context->json)
        printf("%s\n", json_object_to_json_string_ext(status, JSON_C_TO_STRING_PRETTY));
    else
        restorePrintStatus(status);
    json_object_put(status);
    return ERR_OK;
}

ErrCode cmdRestoreCancel(CommandContext *context)
{
    const char *root = catStateDirectory(context->config);
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
