/* The BackupMetadata node: the record of a finished backup that the tool
 * leaves in the source database (the contract's test looks for it). One
 * writer for both methods; the label is GRAPH_METADATA_LABEL (graph/records.h).
 *
 * Properties: backup_id, created (datetime), status, checksum_sha256,
 * size_compressed, node_count, relationship_count, method; a logical backup
 * adds size_uncompressed, duration_seconds and compression, a dump adds
 * downtime_seconds. */
#ifndef NBK_BACKUP_METADATA_H
#define NBK_BACKUP_METADATA_H

#include "bolt/connection.h"
#include "catalog/manifest.h"
#include "common/error.h"

/* Creates the node for manifest (a complete backup) in database over a
 * connection that may write. Nothing is printed: a failure returns the
 * connection's error, which callers report as a warning (the backup is good). */
ErrCode backupMetadataRecord(BoltConnection *connection, const char *database, const Manifest *manifest);

#endif
