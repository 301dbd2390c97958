/* Helpers shared by the commands: configuration, connections, the catalog,
 * and the contract's failure block. */
#ifndef NBK_COMMAND_SUPPORT_H
#define NBK_COMMAND_SUPPORT_H

#include "backup/backup_settings.h"
#include "bolt/connection.h"
#include "bolt/routing.h"
#include "catalog/catalog.h"
#include "catalog/catalog_settings.h"
#include "command/command.h"
#include "common/config.h"

/* Connects to an instance (URI, user, password, CA file from the config) and
 * adds the instance's name and URI to any error. A neo4j:// URI is routed to
 * a primary (WRITE) server: restores and promotion write. */
ErrCode supportConnect(const InstanceConfig *instance, BoltConnection **out);
/* Same for reading a backup's source: a neo4j:// URI is routed by
 * NEO4J_READ_FROM (secondary by default, bolt/routing.h). */
ErrCode supportConnectSource(const Config *config, const InstanceConfig *instance, BoltConnection **out);
/* supportConnectSource for BOLT_ACCESS_READ, supportConnect for WRITE: the
 * backup service's connector (backup/backup.h). */
ErrCode supportConnectMode(const Config *config, const InstanceConfig *instance, BoltAccessMode mode,
                           BoltConnection **out);
/* Opens the catalog at BACKUP_STORAGE_PATH (created when create is true). */
ErrCode supportOpenCatalog(CommandContext *context, bool create, Catalog **out);
/* Reads the server's version and edition with dbms.components(). */
ErrCode supportServerVersion(BoltConnection *connection, char *version, size_t versionSize,
                             char *edition, size_t editionSize);
/* Opens the catalog for a new backup, takes the storage path's create lock
 * (one backup at a time; a second run fails at once naming the holder) and
 * removes, with a warning each, leftovers of interrupted runs. */
ErrCode supportBeginCreate(CommandContext *context, const char *purpose, Catalog **catalog, Lock **createLock);
/* The instance access of the command line (supportConnectMode,
 * supportServerVersion), as the backup service's front ends wire it. */
extern const BackupInstanceAccess supportInstanceAccess;
/* The --create flow; on success idOut holds the new backup's id. */
ErrCode createBackup(CommandContext *context, char idOut[CAT_ID_SIZE]);
/* The URI without user information, safe to log and to store. */
void supportSafeUri(const char *uri, char *out, size_t size);

#endif
