/* Deleting one backup on request, with its guard (catalog/removal.h), and
 * the contract's lines for it. */
#include "catalog/removal.h"

#include "common/format.h"
#include "common/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void catRemovalEmitFor(const CatRemovalRequest *request, CatRemovalEventKind kind, const char *backupId,
                              const char *status, const char *dependantOf)
{
    if (!request->onEvent)
        return;
    CatRemovalEvent event = {.kind = kind, .backupId = backupId, .status = status, .dependantOf = dependantOf};
    request->onEvent(&event, request->payload);
}

static void catRemovalEmit(const CatRemovalRequest *request, CatRemovalEventKind kind, const char *status)
{
    catRemovalEmitFor(request, kind, request->backupId, status, NULL);
}

/* The differentials that depend on backupId, in deletion order, as a list
 * of ids (and their statuses) read under the catalog lock. */
typedef struct {
    CatList list;
    size_t *order;
    size_t count;
} CatDependants;

static ErrCode catDependantsFind(Catalog *catalog, const char *backupId, CatDependants *out)
{
    memset(out, 0, sizeof(*out));
    ErrCode code = catList(catalog, &out->list);
    if (code != ERR_OK)
        return code;
    for (size_t index = 0; index < out->list.count; index++)
        if (strcmp(out->list.entries[index].id, backupId) == 0) {
            catListDependants(&out->list, index, &out->order, &out->count);
            break;
        }
    return ERR_OK;
}

static void catDependantsFree(CatDependants *dependants)
{
    free(dependants->order);
    catListFree(&dependants->list);
}

static ErrCode catDependantsRefuse(const CatRemovalRequest *request, const CatDependants *dependants)
{
    char names[512] = "";
    for (size_t position = 0; position < dependants->count; position++) {
        size_t used = strlen(names);
        if (position == 4 && dependants->count > 5) {
            snprintf(names + used, sizeof(names) - used, ", and %zu more", dependants->count - 4);
            break;
        }
        snprintf(names + used, sizeof(names) - used, "%s%s", position ? ", " : "",
                 dependants->list.entries[dependants->order[position]].id);
    }
    errSet(BACKUP_PROTECTED, "backup %s has %zu dependant%s: differential backups that need it (%s)",
           request->backupId, dependants->count, dependants->count == 1 ? "" : "s", names);
    errSetAction("Use --force to delete it and its %zu dependant%s (newest first), or keep it", dependants->count,
                 dependants->count == 1 ? "" : "s");
    return BACKUP_PROTECTED;
}

/* --force on a backup with dependants: they go first (or, in a dry run, are
 * named). */
static ErrCode catDependantsRemove(const CatRemovalRequest *request, const CatDependants *dependants)
{
    for (size_t position = 0; position < dependants->count; position++) {
        const CatEntry *entry = &dependants->list.entries[dependants->order[position]];
        if (request->dryRun) {
            catRemovalEmitFor(request, CAT_REMOVAL_DRY_RUN, entry->id, catEntryStatus(entry), request->backupId);
            continue;
        }
        catRemovalEmitFor(request, CAT_REMOVAL_DELETING, entry->id, NULL, request->backupId);
        ErrCode code = catDelete(request->catalog, entry->id);
        if (code != ERR_OK) {
            char reason[sizeof(errLast()->reason)];
            snprintf(reason, sizeof(reason), "%s", errLast()->reason);
            return errSet(code, "could not delete %s, which depends on %s, so %s stays: %s", entry->id,
                          request->backupId, request->backupId, reason);
        }
    }
    return ERR_OK;
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
    CatDependants dependants = {0};
    if (code == ERR_OK)
        code = catDependantsFind(catalog, backupId, &dependants);
    if (code == ERR_OK && dependants.count && !request->force)
        code = catDependantsRefuse(request, &dependants);
    if (code == ERR_OK)
        code = catDeleteAllowed(catalog, backupId, request->force, request->dryRun);
    if (code == ERR_OK && request->force)
        catRemovalEmit(request, CAT_REMOVAL_FORCED, NULL);
    if (code == ERR_OK)
        code = catDependantsRemove(request, &dependants);
    catDependantsFree(&dependants);
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
        if (event->dependantOf)
            logInfo("Dry run: would delete backup %s (%s), a differential that depends on %s", event->backupId,
                    fmtPrintable(status, sizeof(status), event->status), event->dependantOf);
        else
            logInfo("Dry run: would delete backup %s (%s)", event->backupId,
                    fmtPrintable(status, sizeof(status), event->status));
        break;
    }
    case CAT_REMOVAL_DELETING:
        if (event->dependantOf)
            logInfo("Deleting backup %s (a differential that depends on %s)...", event->backupId,
                    event->dependantOf);
        else
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
