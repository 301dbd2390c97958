/* The catalog as every front end (command line, scheduler, HTTP API) sees it
 * through the configuration: opening it at BACKUP_STORAGE_PATH, the
 * retention policy's settings, and one backup as `--list --json` and the
 * API show it. */
#ifndef NBK_CATALOG_CATALOG_SETTINGS_H
#define NBK_CATALOG_CATALOG_SETTINGS_H

#include "catalog/catalog.h"
#include "catalog/retention.h"
#include "common/config.h"

#include <json-c/json.h>

/* Opens the catalog at BACKUP_STORAGE_PATH (created when create is true).
 * CONFIG_INVALID, with the fix as action, when the setting is missing. */
ErrCode catOpenConfigured(const Config *config, bool create, Catalog **out);
/* True when BACKUP_STORAGE_PATH names a local directory (not s3://): the
 * places that still keep files beside the catalog (scheduler state, the
 * recovery state, scratch space, free-space figures) ask this first. */
bool catStorageIsLocal(const Config *config);

#define CAT_STATE_DIR_DEFAULT "/var/lib/neo4j-backup"
/* Where this host keeps its own files beside a repository (recovery state,
 * scheduler state, lock and log): BACKUP_STATE_DIR, else BACKUP_STORAGE_PATH
 * when it is a directory (where they always were), else
 * CAT_STATE_DIR_DEFAULT. NULL (with the usual error) when neither
 * BACKUP_STATE_DIR nor BACKUP_STORAGE_PATH is set. */
const char *catStateDirectory(const Config *config);
/* Retention policy from BACKUP_RETENTION_DAYS, BACKUP_KEEP_WEEKLY and
 * BACKUP_KEEP_MONTHLY, as --list, --cleanup, the scheduler and the API use it. */
ErrCode catRetentionPolicyConfigured(const Config *config, RetPolicy *out);
/* The second location (BACKUP_COPY_PATH, issue 13's "two places at once"):
 * true when it is set. */
bool catCopyConfigured(const Config *config);
/* Opens the catalog at BACKUP_COPY_PATH (a directory or s3://, with the same
 * AWS_* and BACKUP_S3_* settings as the primary). ERR_OK with *out NULL when
 * the setting is unset. Errors carry the action "Check BACKUP_COPY_PATH". */
ErrCode catCopyOpenConfigured(const Config *config, bool create, Catalog **out);
/* The copy location's retention policy: BACKUP_COPY_RETENTION_DAYS,
 * BACKUP_COPY_KEEP_WEEKLY and BACKUP_COPY_KEEP_MONTHLY, each defaulting to
 * the primary's setting. */
ErrCode catCopyRetentionPolicyConfigured(const Config *config, RetPolicy *out);
/* One backup as `--list --json` shows it: manifestToJson plus expires,
 * expiring_soon and disk_bytes (a damaged manifest gives id, status DAMAGED
 * and damage). New reference; the caller puts it. */
json_object *catEntryJson(const CatEntry *entry, const RetDecision *decision, int64_t now);

/* Adds where a backup is to its JSON (--list --json, GET /api/v1/backups
 * with BACKUP_COPY_PATH set): "location" ("both", "primary" or "copy") and
 * "copies": {"primary": {present, valid, status}, "copy": {...}}; valid is
 * the cheap look (catEntryUsable). primary or copy NULL: not there;
 * copyListed false: the copy location could not be listed ("listed": false). */
void catEntryAddLocations(json_object *item, const CatEntry *primary, const CatEntry *copy, bool copyListed);

/* Adds list->entries[index]'s chain to its JSON (catListChainInfo): "type"
 * ("full" | "diff"), "parent_id" (a differential), "own_bytes",
 * "chain_bytes", "chain_backups", "chain_complete" and "chain_mixed_keys". */
void catEntryAddChain(json_object *item, const CatList *list, size_t index);

#endif
