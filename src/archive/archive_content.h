/* What an archive holds, as far as the health checks, validation and the
 * import load need it: the content fingerprint, record counts, the schema
 * items and the counts per label and type. Filled by reading the archive
 * once (healthArchiveContentRead in restore/health.h, which also checks
 * every schema item can be rebuilt), or as a by-product of the Bolt load
 * (logicalRestoreRun) and of writing the import files (importCsvWrite).
 *
 * Ownership: an ArchiveContent owns its arena (schema items live there) and
 * its counts; release both with arcContentFree. */
#ifndef NBK_ARCHIVE_ARCHIVE_CONTENT_H
#define NBK_ARCHIVE_ARCHIVE_CONTENT_H

#include "bolt/value.h"
#include "graph/counts.h"

#include <stdint.h>

typedef struct {
    char fingerprint[66];            /* "<32 hex>:<32 hex>", see graph/fingerprint.h */
    uint64_t nodes;                  /* node records */
    uint64_t relationships;          /* relationship records, orphans included */
    uint64_t orphanRelationships;    /* relationships whose endpoint is not in the archive */
    uint64_t metadataNodes;          /* BackupMetadata nodes (outside the fingerprint) */
    uint64_t schemaCount;
    const BoltValue *schemaItems;    /* schemaCount maps, see graph/records.h */
    Arena *arena;                    /* owns schemaItems */
    GraphCounts counts;              /* nodes per label, relationships per type, as the
                                        fingerprint sees them (BackupMetadata and orphans
                                        out): the archive's own, whatever its manifest says */
} ArchiveContent;

/* Frees what content owns and empties it; NULL ignored, safe twice. */
void arcContentFree(ArchiveContent *content);

#endif
