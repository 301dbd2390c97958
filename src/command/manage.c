/* neo4j-backup --delete, --keep/--unkeep and --cleanup: changes to the catalog. */
#include "command/support.h"

#include "catalog/removal.h"

#include "common/format.h"
#include "common/log.h"
#include "common/timeutil.h"

#include <stdio.h>
#include <string.h>

ErrCode cmdDelete(CommandContext *context, const char *backupId)
{
    return cmdDeleteBackup(context, backupId, context->options && optionsHas(context->options, OPT_FORCE));
}

ErrCode cmdDeleteBackup(CommandContext *context, const char *backupId, bool force)
{
    Catalog *catalog = NULL;
    ErrCode code = catIdCheck(backupId);
    if (code == ERR_OK)
        code = supportOpenCatalog(context, false, &catalog);
    if (code == ERR_OK) {
        CatRemovalRequest request = {.catalog = catalog,
                                     .backupId = backupId,
                                     .force = force,
                                     .dryRun = context->dryRun,
                                     .onEvent = catRemovalReportEvent};
        code = catRemoveBackup(&request);
    }
    catClose(catalog);
    catRemovalReportOutcome(code, backupId, context->dryRun);
    return code;
}

ErrCode cmdKeep(CommandContext *context, const char *backupId, bool keep)
{
    Catalog *catalog = NULL;
    CatEntry entry = {0};
    ErrCode code = catIdCheck(backupId);
    if (code == ERR_OK)
        code = supportOpenCatalog(context, false, &catalog);
    if (code == ERR_OK)
        code = catFind(catalog, backupId, &entry);
    if (code == ERR_OK && context->dryRun)
        logInfo("Dry run: would %s the keep mark of %s", keep ? "set" : "remove", backupId);
    else if (code == ERR_OK)
        code = catSetKeep(catalog, backupId, keep);
    catEntryFree(&entry);
    catClose(catalog);
    if (code != ERR_OK) {
        logErrorBlock(keep ? "Failed to mark backup to keep" : "Failed to remove keep mark", false);
        return code;
    }
    if (!context->dryRun)
        logSuccess(keep ? "Backup %s is kept: retention will not delete it"
                        : "Backup %s follows the retention policy again",
                   backupId);
    return ERR_OK;
}

ErrCode cmdCleanup(CommandContext *context)
{
    RetPolicy policy;
    Catalog *catalog = NULL;
    CatNameList leftovers = {0};
    CatNameList deleted = {0};
    ErrCode code = catRetentionPolicyConfigured(context->config, &policy);
    if (code == ERR_OK)
        code = supportOpenCatalog(context, false, &catalog);
    if (code == ERR_OK) {
        logInfo("CLEANUP_START: Remove backups older than %lld days (weekly %lld, monthly %lld)%s",
                (long long)policy.days, (long long)policy.weeks, (long long)policy.months,
                context->dryRun ? " [dry run]" : "");
        code = catCleanLeftovers(catalog, context->dryRun, &leftovers);
    }
    for (size_t index = 0; code == ERR_OK && index < leftovers.count; index++)
        logInfo("%s leftover of an interrupted run: %s", context->dryRun ? "Would remove" : "Removed",
                leftovers.names[index]);
    if (code == ERR_OK)
        code = catRetentionApply(catalog, &policy, timeNow(), context->dryRun, &deleted);
    catClose(catalog);
    if (code != ERR_OK) {
        catNameListFree(&leftovers);
        catNameListFree(&deleted);
        /* No restorable backup at all is the 3 a.m. case: say so loudly. */
        logErrorBlock("Cleanup failed", code == BACKUP_NONE_RESTORABLE);
        return code;
    }
    char names[2048] = "";
    for (size_t index = 0; index < deleted.count; index++) {
        size_t used = strlen(names);
        snprintf(names + used, sizeof(names) - used, "%s%s", index ? ", " : "", deleted.names[index]);
    }
    if (context->dryRun)
        logInfo("Dry run: would delete %zu backup%s%s%s%s", deleted.count, deleted.count == 1 ? "" : "s",
                deleted.count ? " (" : "", names, deleted.count ? ")" : "");
    else
        logInfo("CLEANUP_SUCCESS: Deleted %zu backup%s%s%s%s", deleted.count,
                deleted.count == 1 ? "" : "s", deleted.count ? " (" : "", names,
                deleted.count ? ")" : "");
    catNameListFree(&leftovers);
    catNameListFree(&deleted);
    return ERR_OK;
}
