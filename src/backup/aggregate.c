/* The synthetic full backup of a chain (aggregate.h). */
#include "backup/aggregate.h"

#include "archive/archive_content.h"
#include "archive/chain.h"
#include "backup/backup.h"
#include "bolt/packstream.h"
#include "catalog/manifest.h"
#include "catalog/validate.h"
#include "common/fsutil.h"
#include "common/timeutil.h"
#include "restore/health.h"

#include <sodium.h>
#include <stdio.h>
#include <string.h>

#define AGGREGATE_LOCK_PURPOSE "backup --aggregate"

/* The merged chain into writer; the header is the newest link's, made a
 * full's (format, backup id, no parent). */
static ErrCode aggregateCopyRecords(const AggregateRequest *request, ArcChainReader *reader, ArcWriter *writer,
                                    AggregateResult *out)
{
    for (uint64_t count = 0;; count++) {
        if ((count & 0xFFFF) == 0 && request->cancelFlag && *request->cancelFlag)
            return errSet(OPERATION_INTERRUPTED, "aggregation interrupted by a signal");
        ArcRecordKind kind;
        const uint8_t *packed = NULL;
        size_t length = 0;
        ErrCode code = arcChainNext(reader, &kind, &packed, &length);
        if (code != ERR_OK)
            return code;
        if (!packed)
            return ERR_OK;
        code = arcWriterAdd(writer, kind, packed, length);
        if (code != ERR_OK)
            return code;
        if (kind == ARC_RECORD_NODE)
            out->nodes++;
        else if (kind == ARC_RECORD_RELATIONSHIP)
            out->relationships++;
        else
            out->schemaItems++;
    }
}

/* The header of the new archive: the newest link's fields with a full's
 * format and the new id; the map is rebuilt, never copied blindly. */
static ErrCode aggregateHeader(ArcChainReader *reader, const char *newId, Buffer *out)
{
    size_t length = 0;
    const uint8_t *header = arcChainHeader(reader, &length);
    Arena *arena = arenaNew(0);
    BoltValue value = {0};
    ErrCode code = ERR_OK;
    if (header && length) {
        PackReader packReader;
        packReaderInit(&packReader, header, length);
        packReaderLimitDecoded(&packReader, 1u << 20);
        code = unpackValue(&packReader, arena, &value);
        if (code != ERR_OK)
            code = errSet(BACKUP_CORRUPTED, "the archive header does not decode: %s", errLast()->reason);
    }
    if (code == ERR_OK) {
        bool isMap = value.type == BOLT_MAP;
        LogicalHeaderFields fields = {
            .backupId = newId,
            .createdUtc = isMap ? boltMapGetString(&value, "created", NULL) : NULL,
            .sourceUri = isMap ? boltMapGetString(&value, "source_uri", NULL) : NULL,
            .serverAgent = isMap ? boltMapGetString(&value, "server_agent", NULL) : NULL,
            .serverVersion = isMap ? boltMapGetString(&value, "server_version", NULL) : NULL,
            .edition = isMap ? boltMapGetString(&value, "edition", NULL) : NULL,
            .database = isMap ? boltMapGetString(&value, "database", NULL) : NULL,
        };
        const char *bolt = isMap ? boltMapGetString(&value, "bolt_version", NULL) : NULL;
        unsigned major = 0, minor = 0;
        if (bolt && sscanf(bolt, "%u.%u", &major, &minor) == 2 && major < 256 && minor < 256) {
            fields.boltMajor = (uint8_t)major;
            fields.boltMinor = (uint8_t)minor;
        }
        logicalBackupPackHeader(out, &fields);
    }
    arenaFree(arena);
    return code;
}

/* The manifest of the new full: the target's description of the graph. */
static Manifest *aggregateManifest(const Manifest *target, const AggregateRequest *request,
                                   const AggregateResult *out, const ArcTotals *totals, int64_t created)
{
    Manifest *manifest = manifestNew();
    manifestSetString(&manifest->id, out->id);
    manifest->created = created;
    manifestSetString(&manifest->status, MANIFEST_STATUS_COMPLETE);
    manifestSetString(&manifest->method, "logical");
    manifestSetString(&manifest->source.uri, target->source.uri);
    manifestSetString(&manifest->source.serverVersion, target->source.serverVersion);
    manifestSetString(&manifest->source.edition, target->source.edition);
    manifestSetString(&manifest->source.boltVersion, target->source.boltVersion);
    manifestSetString(&manifest->source.database, target->source.database);
    manifestSetString(&manifest->toolVersion, NBK_VERSION);
    manifestSetString(&manifest->compression, arcCompressionName(request->compression));
    manifestSetString(&manifest->archive.file, arcFileName(request->compression));
    manifest->archive.sizeCompressed = totals->compressedBytes;
    manifest->archive.sizeUncompressed = totals->uncompressedBytes;
    manifestSetString(&manifest->archive.sha256, out->sha256);
    manifest->stats.nodes = target->stats.nodes;
    manifest->stats.relationships = target->stats.relationships;
    manifest->stats.schemaItems = target->stats.schemaItems;
    GraphCounts counts;
    manifestGetCounts(target, &counts);
    manifestSetCounts(manifest, &counts);
    graphCountsFree(&counts);
    for (size_t index = 0; index < target->schemaCount; index++) {
        const ManifestSchemaItem *item = &target->schema[index];
        manifestAddSchemaItem(manifest, item->name, item->type, item->kind, item->createStatement);
        manifestSetSchemaState(manifest, item->state, item->failureMessage);
    }
    manifestSetString(&manifest->contentFingerprint, target->contentFingerprint);
    manifestSetString(&manifest->backupType, MANIFEST_TYPE_FULL);
    manifest->durationSeconds = out->seconds;
    manifest->extra = json_object_new_object();
    json_object_object_add(manifest->extra, "aggregate_of", json_object_new_string(request->backupId));
    return manifest;
}

/* The new archive's own content against what the target's manifest says of
 * the graph: the proof that the merge is the state at the differential. */
static ErrCode aggregateVerify(const ArcLocation *archive, const Manifest *target)
{
    ArchiveContent content;
    ErrCode code = healthArchiveContentReadAt(archive, &content);
    if (code != ERR_OK)
        return code;
    if (content.nodes != target->stats.nodes || content.relationships != target->stats.relationships)
        code = errSet(BACKUP_CORRUPTED,
                      "the aggregate holds %llu nodes and %llu relationships, its differential's manifest %llu and %llu",
                      (unsigned long long)content.nodes, (unsigned long long)content.relationships,
                      (unsigned long long)target->stats.nodes, (unsigned long long)target->stats.relationships);
    else if (content.orphanRelationships)
        code = errSet(BACKUP_CORRUPTED, "the aggregate has %llu relationships without an endpoint",
                      (unsigned long long)content.orphanRelationships);
    else if (target->contentFingerprint && strcmp(target->contentFingerprint, content.fingerprint) != 0)
        code = errSet(BACKUP_CORRUPTED, "the aggregate's content fingerprint %s differs from its differential's %s",
                      content.fingerprint, target->contentFingerprint);
    arcContentFree(&content);
    if (code != ERR_OK)
        errSetAction("Validate the chain (neo4j-backup --validate %s); do not delete it", target->id);
    return code;
}

ErrCode backupAggregate(const AggregateRequest *request, AggregateResult *out)
{
    memset(out, 0, sizeof(*out));
    double started = timeMonotonic();
    Catalog *catalog = request->catalog;
    CatChain chain;
    memset(&chain, 0, sizeof(chain));
    CatChainLinks links;
    memset(&links, 0, sizeof(links));
    StorageLock *createLock = NULL;
    CatBackupDir *dir = NULL;
    ArcChainReader *reader = NULL;
    ArcWriter *writer = NULL;
    Manifest *manifest = NULL;
    Buffer header;
    bufferInit(&header);
    uint8_t dataKey[CRYPTO_KEY_BYTES];
    char archivePath[4096] = "";
    char archiveName[512] = "";
    ArcLocation archive = {0};

    ErrCode code = catIdCheck(request->backupId);
    if (code == ERR_OK)
        code = catChainLoad(catalog, request->backupId, &chain);
    if (code == ERR_OK)
        code = catChainLinksOpen(catalog, &chain, request->masterKey, &links);
    if (code == ERR_OK) {
        out->chainLinks = chain.count;
        for (size_t index = 0; index < chain.count; index++)
            out->chainBytes += chain.links[index].manifest->archive.sizeCompressed;
    }
    if (code != ERR_OK || request->dryRun)
        goto done;
    const Manifest *target = chain.links[chain.count - 1].manifest;
    code = backupBeginCreate(catalog, request->lockPurpose ? request->lockPurpose : AGGREGATE_LOCK_PURPOSE,
                             &createLock, NULL, NULL);
    if (code == ERR_OK)
        code = catNewId(catalog, target->created, out->id);
    if (code == ERR_OK)
        code = catBackupDirBegin(catalog, out->id, &dir);
    if (code == ERR_OK && catBackupDirPath(dir)[0])
        code = fsPathJoin(archivePath, sizeof(archivePath), catBackupDirPath(dir), arcFileName(request->compression));
    if (code == ERR_OK)
        code = fsPathJoin(archiveName, sizeof(archiveName), catBackupDirName(dir), arcFileName(request->compression));
    archive = (ArcLocation){.storage = catStorage(catalog), .name = archiveName,
                            .path = archivePath[0] ? archivePath : NULL};
    if (code == ERR_OK && request->masterKey) {
        code = cryptoDataKeyGenerate(dataKey);
        archive.dataKey = dataKey;
    }
    if (code == ERR_OK)
        code = arcChainOpen(&reader, links.links, links.count);
    if (code == ERR_OK)
        code = aggregateHeader(reader, out->id, &header);
    ArcWriterOptions options = {.compression = request->compression};
    if (code == ERR_OK)
        code = arcWriterOpenAt(&writer, &archive, &options, header.data, header.length);
    if (code == ERR_OK)
        code = aggregateCopyRecords(request, reader, writer, out);
    ArcTotals totals;
    memset(&totals, 0, sizeof(totals));
    if (code == ERR_OK)
        code = arcWriterFinish(writer, &totals);
    if (code == ERR_OK) {
        code = backupReadBack(&archive, &totals, out->sha256);
        out->compressedBytes = totals.compressedBytes;
    }
    if (code == ERR_OK)
        code = aggregateVerify(&archive, target);
    if (code == ERR_OK) {
        out->seconds = timeMonotonic() - started;
        manifest = aggregateManifest(target, request, out, &totals, target->created);
        if (request->masterKey)
            code = backupSealManifest(manifest, request->masterKey, &archive);
    }
    if (code == ERR_OK)
        code = catBackupDirSaveManifest(dir, manifest);
    if (code == ERR_OK) {
        code = catBackupDirCommit(dir);
        dir = NULL;
    }

done:
    if (code != ERR_OK)
        out->id[0] = '\0';
    out->seconds = timeMonotonic() - started;
    arcWriterFree(writer);
    arcChainFree(reader);
    catBackupDirAbort(dir);
    storageLockRelease(createLock);
    manifestFree(manifest);
    bufferFree(&header);
    sodium_memzero(dataKey, sizeof(dataKey));
    catChainLinksFree(&links);
    catChainFree(&chain);
    return code;
}
