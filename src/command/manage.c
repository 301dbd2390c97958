/* neo4j-backup --delete, --keep/--unkeep and --cleanup: changes to the catalog. */
#include "command/support.h"

#include "catalog/removal.h"

#include "common/format.h"
#include "common/fsutil.h"
#include "common/log.h"
#include "common/timeutil.h"

#include <stdio.h>
#include <string.h>

ErrCode cmdDelete(CommandContext *context, const char *backupId)
{
    return cmdDeleteBackup(context, backupId, context->options && optionsHas(context->options, OPT_FORCE));
}

/* Quiet removal request (the guard's look, or the deletion itself). */
static ErrCode manageRemove(Catalog *catalog, const char *backupId, bool force, bool dryRun, bool report)
{
    CatRemovalRequest request = {.catalog = catalog,
                                 .backupId = backupId,
                                 .force = force,
                                 .dryRun = dryRun,
                                 .onEvent = report ? catRemovalReportEvent : NULL};
    return catRemoveBackup(&request);
}

/* --delete with a second location: the backup goes from both. Both guards
 * are asked first (a dry run of each), so that a refusal in either deletes
 * nothing anywhere; then the primary, then the copy. */
static ErrCode manageDeleteBoth(CommandContext *context, const char *backupId, bool force)
{
    const char *where = cfgGet(context->config, CFG_BACKUP_COPY_PATH);
    Catalog *primary = NULL;
    Catalog *copy = NULL;
    ErrCode code = supportOpenCatalog(context, false, &primary);
    if (code == ERR_OK)
        code = catCopyOpenConfigured(context->config, false, &copy);
    CatEntry entry = {0};
    bool inPrimary = code == ERR_OK && catFind(primary, backupId, &entry) == ERR_OK;
    catEntryFree(&entry);
    bool inCopy = code == ERR_OK && catFind(copy, backupId, &entry) == ERR_OK;
    catEntryFree(&entry);
    if (code == ERR_OK && !inPrimary && !inCopy)
        code = errSet(BACKUP_NOT_FOUND, "backup %s is neither in BACKUP_STORAGE_PATH nor in %s", backupId, where);
    if (code == ERR_OK && inPrimary)
        code = manageRemove(primary, backupId, force, true, context->dryRun);
    if (code == ERR_OK && inCopy)
        code = manageRemove(copy, backupId, force, true, context->dryRun && !inPrimary);
    if (code == ERR_OK && !context->dryRun && inPrimary)
        code = manageRemove(primary, backupId, force, false, true);
    if (code == ERR_OK && !context->dryRun && inCopy)
        code = manageRemove(copy, backupId, force, false, !inPrimary);
    catClose(copy);
    catClose(primary);
    if (code != ERR_OK) {
        catRemovalReportOutcome(code, backupId, context->dryRun);
        return code;
    }
    const char *places = inPrimary && inCopy ? "from BACKUP_STORAGE_PATH and from the copy location"
                         : inPrimary          ? "from BACKUP_STORAGE_PATH (the copy location had none)"
                                              : "from the copy location (BACKUP_STORAGE_PATH had none)";
    if (context->dryRun)
        logInfo("Dry run: would delete backup %s %s%s%s", backupId, places, inCopy ? " " : "", inCopy ? where : "");
    else
        logSuccess("Backup %s deleted %s%s%s", backupId, places, inCopy ? " " : "", inCopy ? where : "");
    return ERR_OK;
}

ErrCode cmdDeleteBackup(CommandContext *context, const char *backupId, bool force)
{
    Catalog *catalog = NULL;
    ErrCode code = catIdCheck(backupId);
    if (code == ERR_OK && catCopyConfigured(context->config))
        return manageDeleteBoth(context, backupId, force);
    if (code != ERR_OK) {
        catRemovalReportOutcome(code, backupId, context->dryRun);
        return code;
    }
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

/* Retention in the copy location, by its own policy (BACKUP_COPY_*). */
static ErrCode manageCleanupCopy(CommandContext *context)
{
    const char *where = cfgGet(context->config, CFG_BACKUP_COPY_PATH);
    RetPolicy policy;
    Catalog *copy = NULL;
    CatNameList leftovers = {0};
    CatNameList deleted = {0};
    StorageLocation location;
    ErrCode code = catCopyRetentionPolicyConfigured(context->config, &policy);
    if (code == ERR_OK && storageLocationParse(where, &location) == ERR_OK &&
        location.kind == STORAGE_LOCATION_POSIX && !fsIsDirectory(location.path)) {
        logInfo("Copy location %s does not exist yet: nothing to clean up there", where);
        return ERR_OK;
    }
    if (code == ERR_OK)
        code = catCopyOpenConfigured(context->config, false, &copy);
    if (code == ERR_OK) {
        logInfo("CLEANUP_START: Remove backups in the copy location %s older than %lld days (weekly %lld, "
                "monthly %lld)%s",
                where, (long long)policy.days, (long long)policy.weeks, (long long)policy.months,
                context->dryRun ? " [dry run]" : "");
        code = catCleanLeftovers(copy, context->dryRun, &leftovers);
    }
    for (size_t index = 0; code == ERR_OK && index < leftovers.count; index++)
        logInfo("%s leftover of an interrupted run in the copy location: %s",
                context->dryRun ? "Would remove" : "Removed", leftovers.names[index]);
    if (code == ERR_OK)
        code = catRetentionApply(copy, &policy, timeNow(), context->dryRun, &deleted);
    catClose(copy);
    if (code != ERR_OK) {
        catNameListFree(&leftovers);
        catNameListFree(&deleted);
        logErrorBlock("Cleanup of the copy location failed", code == BACKUP_NONE_RESTORABLE);
        return code;
    }
    char names[2048] = "";
    for (size_t index = 0; index < deleted.count; index++) {
        size_t used = strlen(names);
        snprintf(names + used, sizeof(names) - used, "%s%s", index ? ", " : "", deleted.names[index]);
    }
    logInfo("%s %zu backup%s from the copy location%s%s%s", context->dryRun ? "Dry run: would delete" : "CLEANUP_SUCCESS: Deleted",
            deleted.count, deleted.count == 1 ? "" : "s", deleted.count ? " (" : "", names, deleted.count ? ")" : "");
    catNameListFree(&leftovers);
    catNameListFree(&deleted);
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
    return catCopyConfigured(context->config) ? manageCleanupCopy(context) : ERR_OK;
}
