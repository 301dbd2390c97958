/* neo4j-restore: restore a backup into a test instance, prove it sound with
 * health checks, and only with an operator's confirmation promote it to
 * production. The flow is the restore service's (restore/restore_service.h);
 * this file turns the options into its request, prints its events, asks for
 * the confirmation, and wires what restore/ does not hold yet. */
#include "command/dump.h"
#include "command/import.h"
#include "command/support.h"

#include "common/log.h"
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
    cfgGetBool(context->config, "PROMOTE_AFTER_VALIDATION", &autoPromote);
    if (optionsHas(context->options, "yes") || autoPromote) {
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

static ErrCode restoreImportLoad(void *payload, const char *archivePath, uint64_t expectedBytes,
                                 uint64_t expectedRecords, const InstanceConfig *instance,
                                 BoltConnection **connection, ArchiveContent *content)
{
    return cmdImportLoadInto(payload, archivePath, expectedBytes, expectedRecords, instance, connection, content);
}

static ErrCode restoreDumpRestore(void *payload, const CatEntry *entry, const char *archivePath,
                                  const InstanceConfig *instance, bool validate, char *failedCheck,
                                  size_t failedCheckSize)
{
    CommandContext *context = payload;
    return cmdDumpRestoreInto(context, cfgGet(context->config, "BACKUP_STORAGE_PATH"), entry, archivePath, instance,
                              validate, failedCheck, failedCheckSize);
}

static ErrCode restoreSafetyBackup(void *payload, char idOut[CAT_ID_SIZE])
{
    return createBackup(payload, idOut);
}

void cmdRestoreWire(CommandContext *context, RestoreRequest *request, RestoreInstanceOps *ops)
{
    *ops = (RestoreInstanceOps){
        .connect = supportConnect,
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

ErrCode cmdRestore(CommandContext *context, const char *backupId)
{
    RestoreSettings settings;
    Catalog *catalog = NULL;
    ErrCode code = restoreSettingsResolve(context->config, optionsValue(context->options, "target"), &settings);
    if (code == ERR_OK)
        code = supportOpenCatalog(context, false, &catalog);
    RestoreResult result = {0};
    if (code == ERR_OK) {
        RestoreRequest request = {
            .catalog = catalog,
            .backupId = backupId,
            .validate = !optionsHas(context->options, "no-validate"),
            .promote = optionsHas(context->options, "promote"),
            .dryRun = context->dryRun,
        };
        restoreSettingsApply(&settings, &request);
        RestoreInstanceOps ops;
        cmdRestoreWire(context, &request, &ops);
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

ErrCode cmdRestoreStatus(CommandContext *context)
{
    const char *root = cfgGet(context->config, "BACKUP_STORAGE_PATH");
    ErrCode code = root ? recoveryPrint(root, context->json) : errSet(CONFIG_INVALID, "BACKUP_STORAGE_PATH is not set");
    if (code != ERR_OK)
        logErrorBlock("Cannot read the recovery state", false);
    return code;
}

ErrCode cmdRestoreCancel(CommandContext *context)
{
    const char *root = cfgGet(context->config, "BACKUP_STORAGE_PATH");
    RecoveryStatus status;
    ErrCode code = root ? recoveryLoad(root, &status) : errSet(CONFIG_INVALID, "BACKUP_STORAGE_PATH is not set");
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
