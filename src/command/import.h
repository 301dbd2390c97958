/* The import load of a logical backup (RESTORE_LOAD=import or --load import):
 * neo4j-admin database import on the stopped target instead of Cypher writes
 * over Bolt (restore/import_csv.h; docs/restore.md, "Import load"). Needs the
 * instance's NEO4J_HOME and stop/start commands, like a dump restore. */
#ifndef NBK_COMMAND_IMPORT_H
#define NBK_COMMAND_IMPORT_H

#include "command/command.h"
#include "common/config.h"
#include "restore/health.h"
#include "restore/import_csv.h"

#include <stdbool.h>
#include <stdint.h>

typedef enum { CMD_LOAD_BOLT, CMD_LOAD_IMPORT } CmdLoadKind;

/* Which load restores into instance under setting (RESTORE_LOAD: auto,
 * bolt or import; NULL = auto). auto picks import when the instance can be
 * stopped (NEO4J_HOME and stop and start commands), Bolt otherwise; bolt
 * and import force it. why receives the reason, for the log line. */
CmdLoadKind cmdImportChooseLoad(const char *setting, const InstanceConfig *instance, char *why, size_t whySize);

/* RESTORE_LOAD is "import" (forced, not auto): the import preflight applies. */
bool cmdImportForced(const Config *config);

/* The load for instance under config's RESTORE_LOAD, without the reason. */
bool cmdImportWanted(const Config *config, const InstanceConfig *instance);

/* CONFIG_INVALID, with the action, unless instance has NEO4J_HOME and stop
 * and start commands; checked before anything is touched. */
ErrCode cmdImportPreflight(const InstanceConfig *instance);

/* Loads the (verified) archive into instance (expectedRecords: nodes +
 * relationships of the manifest, for progress on a terminal): import files (about
 * expectedBytes, the archive's uncompressed size; BACKUP_NO_SPACE when the
 * scratch directory's file system has less free) written in a scratch directory, stop, neo4j-admin database import full, start (always,
 * once stopped), fix-ups, schema. On success *connection is open on the
 * target and *content holds the archive facts for the health checks (free
 * both). The scratch directory is removed in every case. */
ErrCode cmdImportLoadInto(CommandContext *context, const char *archivePath, uint64_t expectedBytes,
                          uint64_t expectedRecords, const InstanceConfig *instance, BoltConnection **connection,
                          ArchiveContent *content);

#endif
