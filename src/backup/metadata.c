/* Writes the BackupMetadata node of a finished backup (backup/metadata.h):
 * the one place that knows its properties. */
#include "backup/metadata.h"

#include "common/timeutil.h"
#include "graph/records.h"

#include <string.h>

ErrCode backupMetadataRecord(BoltConnection *connection, const char *database, const Manifest *manifest)
{
    bool isDump = manifest->method && strcmp(manifest->method, "dump") == 0;
    Arena *arena = arenaNew(0);
    BoltValue params = boltMap(arena, 10);
    uint32_t count = 0;
    char created[TIME_TEXT_SIZE];
    timeFormatIso(manifest->created, created);
    boltMapSet(arena, &params, count++, "id", boltString(arena, manifest->id));
    boltMapSet(arena, &params, count++, "created", boltString(arena, created));
    boltMapSet(arena, &params, count++, "status", boltString(arena, manifest->status));
    boltMapSet(arena, &params, count++, "checksum", boltString(arena, manifest->archive.sha256));
    boltMapSet(arena, &params, count++, "compressed", boltInt((int64_t)manifest->archive.sizeCompressed));
    boltMapSet(arena, &params, count++, "nodes", boltInt((int64_t)manifest->stats.nodes));
    boltMapSet(arena, &params, count++, "relationships", boltInt((int64_t)manifest->stats.relationships));
    const char *query;
    if (isDump) {
        boltMapSet(arena, &params, count++, "downtime",
                   boltFloat(manifest->hasDowntime ? manifest->downtimeSeconds : 0));
        query = "CREATE (m:" GRAPH_METADATA_LABEL " {backup_id: $id, created: datetime($created), status: $status, "
                "checksum_sha256: $checksum, size_compressed: $compressed, node_count: $nodes, "
                "relationship_count: $relationships, downtime_seconds: $downtime, method: 'dump'}) "
                "RETURN m.backup_id";
    } else {
        boltMapSet(arena, &params, count++, "uncompressed", boltInt((int64_t)manifest->archive.sizeUncompressed));
        boltMapSet(arena, &params, count++, "duration", boltFloat(manifest->durationSeconds));
        boltMapSet(arena, &params, count++, "compression", boltString(arena, manifest->compression));
        query = "CREATE (m:" GRAPH_METADATA_LABEL " {backup_id: $id, created: datetime($created), status: $status, "
                "checksum_sha256: $checksum, size_compressed: $compressed, size_uncompressed: $uncompressed, "
                "node_count: $nodes, relationship_count: $relationships, duration_seconds: $duration, "
                "compression: $compression, method: 'logical'}) RETURN m.backup_id";
    }
    params.as.map.count = count;
    BoltValue ignored;
    ErrCode code = boltQuerySingle(connection, query, &params,
                                   &(BoltQueryOptions){.database = database, .mode = BOLT_ACCESS_WRITE}, arena,
                                   &ignored);
    arenaFree(arena);
    return code;
}
