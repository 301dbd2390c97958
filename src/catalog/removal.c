/* Deleting one backup on request, with its guard (catalog/removal.h), and
 * the contract's lines for it. */
#include "catalog/removal.h"

#include "common/format.h"
#include "common/log.h"

#include <stdio.h>

static void catRemovalEmit(const CatRemovalRequest *request, CatRemovalEventKind kind, const char *status)
{
    if (!request->onEvent)
        return;
    CatRemovalEvent event = {.kind = kind, .backupId = request->backupId, .status = status};
    request->onEvent(&event, request->payload);
}

ErrCode catRemoveBackup(const CatRemovalRequest *request)
{
    Catalog *catalog = request->catalog;
    const char *backupId = request->backupId;
    CatEntry entry = {0};
    bool locked = false;
    ErrCode code = catIdCheck(backupId);
    if (code == ERR_OK)
        code = catFind(catalog, backupId, &entry);
    /* One catalog lock for the check and the deletion: nothing changes between. */
    if (code == ERR_OK) {
        char purpose[CAT_ID_SIZE + 32];
        snprintf(purpose, sizeof(purpose), "deleting backup %s", backupId);
        code = catLock(catalog, LOCK_EXCLUSIVE, CAT_LOCK_TIMEOUT_MS, purpose);
        locked = code == ERR_OK;
    }
    if (code == ERR_OK)
        code = catDeleteAllowed(catalog, backupId, request->force, request->dryRun);
    if (code == ERR_OK && request->force)
        catRemovalEmit(request, CAT_REMOVAL_FORCED, NULL);
    if (code == ERR_OK && request->dryRun) {
        catRemovalEmit(request, CAT_REMOVAL_DRY_RUN, catEntryStatus(&entry));
    } else if (code == ERR_OK) {
        catRemovalEmit(request, CAT_REMOVAL_DELETING, NULL);
        code = catDelete(catalog, backupId);
    }
    if (locked)
        catUnlock(catalog);
    catEntryFree(&entry);
    return code;
}

void catRemovalReportEvent(const CatRemovalEvent *event, void *payload)
{
    switch (event->kind) {
    case CAT_REMOVAL_FORCED:
        logWarn("--force: deleting backup %s without checking its keep mark or whether it is the last restorable one",
                event->backupId);
        break;
    case CAT_REMOVAL_DRY_RUN: {
        char status[256];
        logInfo("Dry run: would delete backup %s (%s)", event->backupId,
                fmtPrintable(status, sizeof(status), event->status));
        break;
    }
    case CAT_REMOVAL_DELETING:
        logInfo("Deleting backup %s...", event->backupId);
        break;
    }
}

void catRemovalReportOutcome(ErrCode code, const char *backupId, bool dryRun)
{
    if (code != ERR_OK)
        logErrorBlock(code == BACKUP_PROTECTED ? "Refused to delete backup" : "Failed to delete backup", false);
    else if (!dryRun)
        logSuccess("Backup %s deleted", backupId);
}
