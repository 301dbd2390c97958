/* Deleting one backup on request (--delete, the API's DELETE) as a service:
 * under the catalog lock, the keep mark and "last restorable backup" guard
 * (unless forced), then the deletion. Nothing is printed: the steps reach the
 * front end as events, the outcome as the returned code (errLast()). */
#ifndef NBK_CATALOG_REMOVAL_H
#define NBK_CATALOG_REMOVAL_H

#include "catalog/catalog.h"
#include "common/error.h"

#include <stdbool.h>

typedef enum {
    CAT_REMOVAL_FORCED,   /* force: the guard was skipped */
    CAT_REMOVAL_DRY_RUN,  /* status: what would be deleted; nothing changes */
    CAT_REMOVAL_DELETING, /* the deletion starts */
} CatRemovalEventKind;

typedef struct {
    CatRemovalEventKind kind;
    const char *backupId;
    const char *status; /* DRY_RUN: the backup's status (catEntryStatus) */
    /* DRY_RUN, DELETING: a dependant deleted with the backup asked for
     * (--force): the id of that backup; NULL for the backup itself. */
    const char *dependantOf;
} CatRemovalEvent;

typedef struct {
    Catalog *catalog;
    const char *backupId; /* checked with catIdCheck */
    bool force;           /* skip the keep mark and last-restorable checks */
    bool dryRun;
    void (*onEvent)(const CatRemovalEvent *event, void *payload); /* may be NULL */
    void *payload;
} CatRemovalRequest;

/* ERR_OK: deleted (or, in a dry run, would be). BACKUP_PROTECTED: refused by
 * the guard; BACKUP_NOT_FOUND, BACKUP_LOCKED (in use), ERR_USAGE (bad id)...
 *
 * Chains: a backup that differentials depend on (catListDependants) is
 * never deleted alone. Without force that is BACKUP_PROTECTED ("use --force
 * to delete it and its N dependants"); with force its dependants go first,
 * deepest and newest first, then the backup itself, so a crash never leaves
 * a differential without its parent. A dependant that cannot be deleted
 * (in use) stops there: the backup asked for stays. */
ErrCode catRemoveBackup(const CatRemovalRequest *request);

/* The contract's lines for an event, through common/log; payload unused. */
void catRemovalReportEvent(const CatRemovalEvent *event, void *payload);
/* After catRemoveBackup: the failure block ("Refused to delete backup" for
 * BACKUP_PROTECTED) or, unless a dry run, the success line. */
void catRemovalReportOutcome(ErrCode code, const char *backupId, bool dryRun);

#endif
