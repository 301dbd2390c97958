/* neo4j-backup --copy [<backup_id>], and the copy that follows --create and
 * each scheduled backup when BACKUP_COPY_PATH is set: the copy service
 * (copy/copy.h) between the two configured locations, its events printed. */
#include "command/support.h"

#include "common/format.h"
#include "common/fsutil.h"
#include "common/log.h"
#include "copy/copy.h"

#include <stdio.h>
#include <string.h>

typedef struct {
    const char *where; /* BACKUP_COPY_PATH as shown */
} CopyReport;

static void copyReportEvent(const CopyEvent *event, void *payload)
{
    const CopyReport *report = payload;
    char size[FORMAT_TEXT_SIZE];
    char took[FORMAT_TEXT_SIZE];
    switch (event->kind) {
    case COPY_EVENT_LEFTOVER_REMOVED:
        logWarn("Removed leftover of an interrupted run in %s: %s", report->where, event->text);
        break;
    case COPY_EVENT_STARTING:
        logInfo("Copying backup %s (%s) to %s", event->backupId, fmtSize(size, sizeof(size), event->bytes),
                report->where);
        break;
    case COPY_EVENT_SKIPPED:
        logInfo("Backup %s is already in %s and valid: skipped", event->backupId, report->where);
        break;
    case COPY_EVENT_REPLACING:
        logWarn("The copy of %s in %s is damaged (%s): copying it again", event->backupId, report->where,
                event->text);
        break;
    case COPY_EVENT_NOT_COPIED:
        logWarn("Not copying %s: %s", event->backupId, event->text);
        break;
    case COPY_EVENT_DRY_RUN:
        logInfo("Dry run: would copy backup %s (%s) to %s%s%s", event->backupId,
                fmtSize(size, sizeof(size), event->bytes), report->where,
                event->text ? ", replacing a damaged copy: " : "", event->text ? event->text : "");
        break;
    case COPY_EVENT_COPIED: {
        double rate = event->seconds > 0 ? (double)event->bytes / event->seconds / (1024.0 * 1024.0) : 0;
        logSuccess("Copied backup %s to %s: %s in %s (%.1f MiB/s), SHA-256 verified", event->backupId,
                   report->where, fmtSize(size, sizeof(size), event->bytes),
                   fmtDuration(took, sizeof(took), event->seconds), rate);
        break;
    }
    case COPY_EVENT_FAILED:
        logError("Copy of backup %s to %s failed: %s", event->backupId, report->where, event->text);
        break;
    }
}

/* The two locations must differ, or a copy would be its own source. */
static ErrCode copyCheckLocations(const Config *config)
{
    const char *primary = cfgGet(config, CFG_BACKUP_STORAGE_PATH);
    const char *copy = cfgGet(config, CFG_BACKUP_COPY_PATH);
    StorageLocation first, second;
    if (!primary || !copy || storageLocationParse(primary, &first) != ERR_OK ||
        storageLocationParse(copy, &second) != ERR_OK || first.kind != second.kind)
        return ERR_OK;
    bool same = first.kind == STORAGE_LOCATION_POSIX
                    ? strcmp(first.path, second.path) == 0
                    : strcmp(first.bucket, second.bucket) == 0 && strcmp(first.prefix, second.prefix) == 0;
    if (!same)
        return ERR_OK;
    errSet(CONFIG_INVALID, "BACKUP_COPY_PATH names the same location as BACKUP_STORAGE_PATH (%s)", copy);
    errSetAction("Point BACKUP_COPY_PATH at a second location: another disk, host or bucket");
    return CONFIG_INVALID;
}

/* Runs the copy service from the configured primary to the configured copy. */
static ErrCode copyConfigured(CommandContext *context, const char *backupId, bool dryRun, bool newerOnly,
                              CopyResult *result)
{
    memset(result, 0, sizeof(*result));
    Catalog *source = NULL;
    Catalog *destination = NULL;
    ErrCode code = copyCheckLocations(context->config);
    if (code == ERR_OK)
        code = supportOpenCatalog(context, false, &source);
    const char *copyPath = cfgGet(context->config, CFG_BACKUP_COPY_PATH);
    StorageLocation location;
    /* A dry run creates nothing: a copy directory not made yet holds nothing. */
    bool absent = dryRun && storageLocationParse(copyPath, &location) == ERR_OK &&
                  location.kind == STORAGE_LOCATION_POSIX && !fsIsDirectory(location.path);
    if (code == ERR_OK && !absent)
        code = catCopyOpenConfigured(context->config, !dryRun, &destination);
    if (code == ERR_OK) {
        CopyReport report = {.where = copyPath};
        CopyRequest request = {
            .source = source,
            .destination = destination,
            .backupId = backupId,
            .dryRun = dryRun,
            .newerOnly = newerOnly,
            .cancelFlag = context->cancelFlag,
        };
        code = copyRun(&request, result, &(CopyEvents){.onEvent = copyReportEvent, .payload = &report});
    }
    ErrDetail failure = errSave();
    catClose(destination);
    catClose(source);
    errRestore(&failure);
    return code;
}

ErrCode cmdCopy(CommandContext *context, const char *backupId)
{
    CopyResult result;
    const char *where = cfgGet(context->config, CFG_BACKUP_COPY_PATH);
    if (!where || !where[0]) {
        errSet(CONFIG_INVALID, "BACKUP_COPY_PATH is not set: there is no second location to copy to");
        errSetAction("Set BACKUP_COPY_PATH to a directory or s3://bucket/prefix");
        logErrorBlock("Failed to copy backups", false);
        return CONFIG_INVALID;
    }
    ErrCode code = copyConfigured(context, backupId, context->dryRun, false, &result);
    if (code != ERR_OK) {
        logErrorBlock(backupId ? "Failed to copy backup" : "Failed to copy backups", false);
        return code;
    }
    char size[FORMAT_TEXT_SIZE];
    if (context->dryRun)
        logInfo("Dry run: would copy %zu backup%s to %s, %zu already there", result.planned,
                result.planned == 1 ? "" : "s", where, result.skipped);
    else
        logInfo("COPY_SUCCESS: Copied %zu backup%s (%s) to %s, %zu already there%s", result.copied,
                result.copied == 1 ? "" : "s", fmtSize(size, sizeof(size), result.bytes), where, result.skipped,
                result.notCopied ? ", some not restorable at the source (above)" : "");
    return ERR_OK;
}

ErrCode supportCopyAfterCreate(CommandContext *context, const char *backupId, bool everyMissing)
{
    if (!catCopyConfigured(context->config) || !backupId || !backupId[0])
        return ERR_OK;
    CopyResult result;
    ErrCode code = copyConfigured(context, everyMissing ? NULL : backupId, false, everyMissing, &result);
    if (code == ERR_OK)
        return ERR_OK;
    /* Whatever went wrong at the second location, the backup itself stands. */
    if (code != BACKUP_COPY_FAILED) {
        char reason[1100];
        snprintf(reason, sizeof(reason), "%s", errLast()->reason);
        errSet(BACKUP_COPY_FAILED, "backup %s was created but not copied to %s: %s", backupId,
               cfgGet(context->config, CFG_BACKUP_COPY_PATH), reason);
    }
    errSetAction("Backup %s in BACKUP_STORAGE_PATH is valid. Fix BACKUP_COPY_PATH (space, permissions, "
                 "credentials), then run neo4j-backup --copy %s",
                 backupId, backupId);
    logErrorBlock("Backup created, but copying it to the second location failed", false);
    return BACKUP_COPY_FAILED;
}
