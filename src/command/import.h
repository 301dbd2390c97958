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

/* Loads the (verified) archive, or a differential's chain read merged
 * (chain[0..chainCount-1], archive/chain.h; count 1 = one archive), into instance (expectedRecords: nodes +
 * relationships of the manifest, for progress on a terminal): import files (about
 * expectedBytes, the archive's uncompressed size; BACKUP_NO_SPACE when the
 * scratch directory's file system has less free) written in a scratch directory, stop, neo4j-admin database import full, start (always,
 * once stopped), fix-ups, schema. On success *connection is open on the
 * target and *content holds the archive facts for the health checks (free
 * both). The scratch directory is removed in every case. */
ErrCode cmdImportLoadInto(CommandContext *context, const ArcChainLink *chain, size_t chainCount,
                          uint64_t expectedBytes, uint64_t expectedRecords, const InstanceConfig *instance, BoltConnection **connection,
                          ArchiveContent *content);

#endif
