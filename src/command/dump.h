/* The dump method in the commands: --create --method dump, --validate of a
 * dump (with --deep), and restoring a dump into an instance. create.c,
 * validate.c and restore.c dispatch here when the method is "dump".
 *
 * Manifest of a dump: method "dump", compression "none" (neo4j-admin already
 * compresses the dump with zstd), archive = the user database's dump
 * "<database>.dump", stats/schema/content_fingerprint as read over Bolt just
 * before the stop, downtime_seconds, and an extra top-level object:
 *
 *   "dump": {
 *     "format": "DZV1",                  the dump file's header
 *     "neo4j_admin_version": "5.26.30",
 *     "stats_recorded": true,            false when Neo4j was already stopped
 *     "stopped_by_tool": true,           NEO4J_STOP/START_COMMAND were used
 *     "archives": [                      every dump file, the user database first
 *       {"database": "neo4j", "file": "neo4j.dump", "size": 421925,
 *        "content_size": 271795736, "sha256": "..."},
 *       {"database": "system", "file": "system.dump", ...}   with --include-system
 *     ]
 *   }
 */
#ifndef NBK_COMMAND_DUMP_H
#define NBK_COMMAND_DUMP_H

#include "archive/archive.h"
#include "bolt/connection.h"
#include "catalog/catalog.h"
#include "command/command.h"
#include "common/config.h"
#include "neo4j/admin.h"
#include "neo4j/offline.h"

#include <stdbool.h>
#include <stddef.h>

/* True for a manifest whose method is "dump". */
bool cmdDumpIsDump(const Manifest *manifest);

/* neo4j-backup --create with BACKUP_METHOD=dump; idOut as createBackup. */
ErrCode cmdDumpCreate(CommandContext *context, char idOut[CAT_ID_SIZE]);

/* The dump-specific part of --validate, after the main archive's checksum
 * passed: the other archives' checksums, the dump's structure, and with
 * --deep neo4j-admin database check. *reported is set when the contract's
 * corrupted-backup lines were printed. */
ErrCode cmdDumpValidate(CommandContext *context, Catalog *catalog, const CatEntry *entry, const char *archivePath,
                        bool *reported);

/* CONFIG_INVALID unless instance can take a dump (NEO4J_HOME, START_COMMAND
 * and STOP_COMMAND); checked before anything is touched. */
ErrCode cmdDumpRestorePreflight(const CatEntry *entry, const InstanceConfig *instance);

/* Loads the (verified) dump into instance: stop, neo4j-admin database load,
 * start (always, once stopped), wait for Bolt, and the health checks when
 * validate. archive: where the dump is (catArchiveLocation); on a local
 * repository it is read by its path as before, on object storage streamed
 * from the storage (its SHA-256 checked again as it streams; a mismatch
 * fails the load before neo4j-admin gets the last bytes). root: the
 * directory of the recovery state. failedCheck as restore.c's
 * restoreIntoInstance. */
ErrCode cmdDumpRestoreInto(CommandContext *context, const char *root, const CatEntry *entry,
                           const ArcLocation *archive, const InstanceConfig *instance, bool validate,
                           char *failedCheck, size_t failedCheckSize);

/* ---- offline work on an instance, printed (shared with the import load, import.c) */

/* Finds the neo4j-admin of instance (NEO4J_ADMIN for production, else
 * <NEO4J_HOME>/bin/neo4j-admin) and its version; NEO4J_ADMIN_FAILED when the
 * instance answers with another Neo4j version than that neo4j-admin. */
ErrCode cmdOfflineAdmin(CommandContext *context, const InstanceConfig *instance, Neo4jAdmin *admin,
                        char *adminVersion, size_t adminVersionSize);

/* neo4jOfflineRun (neo4j/offline.h) for a load, printing its steps: stop,
 * work, start (always, once stopped), wait until Bolt answers: *connection
 * is then open (the caller closes it). The error is work's when it failed; a
 * failed start is reported as CRITICAL. */
ErrCode cmdOfflineRun(CommandContext *context, const InstanceConfig *instance, const Neo4jAdmin *admin,
                      Neo4jOfflineWork work, void *payload, BoltConnection **connection);

#endif
