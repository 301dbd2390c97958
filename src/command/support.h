/* Helpers shared by the commands: configuration, connections, the catalog,
 * and the contract's failure block. */
#ifndef NBK_COMMAND_SUPPORT_H
#define NBK_COMMAND_SUPPORT_H

#include "backup/backup_settings.h"
#include "bolt/connection.h"
#include "bolt/routing.h"
#include "neo4j/instance.h"
#include "catalog/catalog.h"
#include "catalog/catalog_settings.h"
#include "command/command.h"
#include "common/config.h"

/* Connects to a backup's source for reading (neo4j/instance.h's
 * neo4jConnectRead): a neo4j:// URI is routed by NEO4J_READ_FROM (secondary
 * by default, bolt/routing.h). Writers use neo4jConnect. */
ErrCode supportConnectSource(const Config *config, const InstanceConfig *instance, BoltConnection **out);
/* supportConnectSource for BOLT_ACCESS_READ, neo4jConnect for WRITE: the
 * backup service's connector (backup/backup.h). */
ErrCode supportConnectMode(const Config *config, const InstanceConfig *instance, BoltAccessMode mode,
                           BoltConnection **out);
/* Opens the catalog at BACKUP_STORAGE_PATH (created when create is true). */
ErrCode supportOpenCatalog(CommandContext *context, bool create, Catalog **out);
/* Opens the catalog for a new backup, takes the repository's create lock
 * (one backup at a time; a second run fails at once naming the holder) and
 * removes, with a warning each, leftovers of interrupted runs. */
ErrCode supportBeginCreate(CommandContext *context, const char *purpose, Catalog **catalog,
                           StorageLock **createLock);
/* The instance access of the command line (supportConnectMode,
 * neo4jServerVersion), as the backup service's front ends wire it. */
extern const BackupInstanceAccess supportInstanceAccess;
/* After backup backupId was created: copies it (everyMissing: every backup
 * not yet there, the scheduler's way of catching up on a copy that failed
 * before) to BACKUP_COPY_PATH when that is set (ERR_OK when unset). Any
 * failure there is BACKUP_COPY_FAILED, its error block printed, and leaves
 * the backups in BACKUP_STORAGE_PATH as they were (command/copy.c). */
ErrCode supportCopyAfterCreate(CommandContext *context, const char *backupId, bool everyMissing);
/* The --create flow; on success idOut holds the new backup's id. */
ErrCode createBackup(CommandContext *context, char idOut[CAT_ID_SIZE]);

#endif
