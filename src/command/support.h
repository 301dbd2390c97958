/* Helpers shared by the commands: configuration, connections, the catalog,
 * and the contract's failure block. */
#ifndef NBK_COMMAND_SUPPORT_H
#define NBK_COMMAND_SUPPORT_H

#include "bolt/connection.h"
#include "bolt/routing.h"
#include "catalog/catalog.h"
#include "command/command.h"
#include "common/config.h"

/* Connects to an instance (URI, user, password, CA file from the config) and
 * adds the instance's name and URI to any error. A neo4j:// URI is routed to
 * a primary (WRITE) server: restores and promotion write. */
ErrCode supportConnect(const InstanceConfig *instance, BoltConnection **out);
/* Same for reading a backup's source: a neo4j:// URI is routed by
 * NEO4J_READ_FROM (secondary by default, bolt/routing.h). */
ErrCode supportConnectSource(const Config *config, const InstanceConfig *instance, BoltConnection **out);
/* Opens the catalog at BACKUP_STORAGE_PATH (created when create is true). */
ErrCode supportOpenCatalog(CommandContext *context, bool create, Catalog **out);
/* Reads the server's version and edition with dbms.components(). */
ErrCode supportServerVersion(BoltConnection *connection, char *version, size_t versionSize,
                             char *edition, size_t editionSize);
/* Opens the catalog for a new backup, takes the storage path's create lock
 * (one backup at a time; a second run fails at once naming the holder) and
 * removes, with a warning each, leftovers of interrupted runs. */
ErrCode supportBeginCreate(CommandContext *context, const char *purpose, Catalog **catalog, Lock **createLock);
/* The --create flow; on success idOut holds the new backup's id. */
ErrCode createBackup(CommandContext *context, char idOut[CAT_ID_SIZE]);
/* The URI without user information, safe to log and to store. */
void supportSafeUri(const char *uri, char *out, size_t size);

/* Retention policy from the configuration (BACKUP_RETENTION_DAYS,
 * BACKUP_KEEP_WEEKLY, BACKUP_KEEP_MONTHLY), as --list and --cleanup use it. */
ErrCode listRetentionPolicy(const Config *config, RetPolicy *out);
/* One backup as `--list --json` shows it: manifestToJson plus expires,
 * expiring_soon and disk_bytes (a damaged manifest gives id, status DAMAGED
 * and damage). New reference; the caller puts it. */
json_object *listEntryJson(const CatEntry *entry, const RetDecision *decision, int64_t now);

#endif
