/* neo4j-backup --create: an online logical backup into the catalog, with the
 * contract's output. Nothing becomes visible in the catalog until the archive
 * and its manifest are complete and fsynced (catBackupDirCommit). */
#include "command/support.h"
#include "restore/health.h"

#include "archive/archive.h"
#include "backup/logical.h"
#include "bolt/packstream.h"
#include "command/dump.h"
#include "common/format.h"
#include "common/fsutil.h"
#include "common/log.h"
#include "common/timeutil.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct {
    bool terminal;
    uint64_t lastLogged;
} CreateProgressState;

static void createOnProgress(const LogicalBackupProgress *progress, void *payload)
{
    CreateProgressState *state = payload;
    uint64_t records = progress->nodes + progress->relationships;
    double rate = progress->seconds > 0 ? (double)records / progress->seconds : 0;
    char written[FORMAT_TEXT_SIZE];
    fmtSize(written, sizeof(written), progress->bytesWritten);
    if (state->terminal) {
        fprintf(stderr, "\r  %-22s %" PRIu64 " nodes, %" PRIu64 " relationships, %.0f records/s, %s written   ",
                logicalBackupPhaseName(progress->phase), progress->nodes, progress->relationships,
                rate, written);
        if (progress->phase == LOGICAL_PHASE_DONE)
            fputc('\n', stderr);
        fflush(stderr);
        return;
    }
    /* Plain log lines: phase changes and every million records. */
    if (records - state->lastLogged >= 1000000 || progress->phase != LOGICAL_PHASE_NODES) {
        if (progress->phase == LOGICAL_PHASE_NODES || progress->phase == LOGICAL_PHASE_RELATIONSHIPS ||
            records - state->lastLogged >= 1000000) {
            logDebug("Progress: %s, %" PRIu64 " nodes, %" PRIu64 " relationships, %.0f records/s, %s written",
                     logicalBackupPhaseName(progress->phase), progress->nodes, progress->relationships,
                     rate, written);
            state->lastLogged = records;
        }
    }
}

/* Estimate of the archive's size: the newest backup's, else the store's size
 * under NEO4J_DATA_PATH, else a rough figure from the database's counts. */
static uint64_t createEstimateBytes(Catalog *catalog, const Config *config, uint64_t nodes,
                                    uint64_t relationships, const char **basis)
{
    CatList list = {0};
    uint64_t estimate = 0;
    if (catList(catalog, &list) == ERR_OK) {
        for (size_t index = 0; index < list.count && !estimate; index++)
            if (list.entries[index].manifest && manifestIsValid(list.entries[index].manifest))
                estimate = list.entries[index].manifest->archive.sizeCompressed;
        catListFree(&list);
    }
    if (estimate) {
        *basis = "the previous backup";
        return estimate + estimate / 5;
    }
    const char *dataPath = cfgGet(config, CFG_NEO4J_DATA_PATH);
    if (dataPath && fsIsDirectory(dataPath) && fsDirSize(dataPath, &estimate) == ERR_OK && estimate) {
        *basis = "the store size under NEO4J_DATA_PATH";
        return estimate;
    }
    *basis = "the database's counts";
    return nodes * 64 + relationships * 48 + 1024 * 1024;
}

static ErrCode createCheckSpace(const char *root, uint64_t requiredBytes, int64_t minFreePercent,
                                const char *basis)
{
    FsSpace space;
    ErrCode code = fsSpace(root, &space);
    if (code != ERR_OK)
        return code;
    char required[FORMAT_TEXT_SIZE];
    char available[FORMAT_TEXT_SIZE];
    fmtSizeWhole(required, sizeof(required), requiredBytes);
    fmtSizeWhole(available, sizeof(available), space.availableBytes);
    logDebug("Space: %s required (estimated from %s), %s available (%.1f%% free)", required, basis,
             available, space.freePercent);
    if (space.availableBytes < requiredBytes) {
        errSet(BACKUP_NO_SPACE, "No space left on device (%s filesystem is full)", root);
    } else if (space.freePercent < (double)minFreePercent) {
        errSet(BACKUP_NO_SPACE,
               "Only %.1f%% of the %s filesystem is free, less than BACKUP_MIN_FREE_PERCENT=%" PRId64 "%%",
               space.freePercent, root, minFreePercent);
    } else {
        return ERR_OK;
    }
    errSetDetails("Required: %s | Available: %s", required, available);
    return BACKUP_NO_SPACE;
}

/* Records the backup in the source database, as the contract's test asks.
 * A failure here (a read-only user, say) is a warning: the backup is good. */
static void createRecordMetadata(BoltConnection *connection, const char *database, const Manifest *manifest)
{
    Arena *arena = arenaNew(0);
    BoltValue params = boltMap(arena, 10);
    boltMapSet(arena, &params, 0, "id", boltString(arena, manifest->id));
    char created[TIME_TEXT_SIZE];
    timeFormatIso(manifest->created, created);
    boltMapSet(arena, &params, 1, "created", boltString(arena, created));
    boltMapSet(arena, &params, 2, "status", boltString(arena, manifest->status));
    boltMapSet(arena, &params, 3, "checksum", boltString(arena, manifest->archive.sha256));
    boltMapSet(arena, &params, 4, "compressed", boltInt((int64_t)manifest->archive.sizeCompressed));
    boltMapSet(arena, &params, 5, "uncompressed", boltInt((int64_t)manifest->archive.sizeUncompressed));
    boltMapSet(arena, &params, 6, "nodes", boltInt((int64_t)manifest->stats.nodes));
    boltMapSet(arena, &params, 7, "relationships", boltInt((int64_t)manifest->stats.relationships));
    boltMapSet(arena, &params, 8, "duration", boltFloat(manifest->durationSeconds));
    boltMapSet(arena, &params, 9, "compression", boltString(arena, manifest->compression));
    BoltValue ignored;
    ErrCode code = boltQuerySingle(
        connection,
        "CREATE (m:BackupMetadata {backup_id: $id, created: datetime($created), status: $status, "
        "checksum_sha256: $checksum, size_compressed: $compressed, size_uncompressed: $uncompressed, "
        "node_count: $nodes, relationship_count: $relationships, duration_seconds: $duration, "
        "compression: $compression, method: 'logical'}) RETURN m.backup_id",
        &params, &(BoltQueryOptions){.database = database, .mode = BOLT_ACCESS_WRITE}, arena, &ignored);
    if (code != ERR_OK)
        logWarn("Could not record the BackupMetadata node in %s: %s", database, errLast()->reason);
    arenaFree(arena);
}

/* A routed source was read on a secondary, which refuses writes: the
 * record goes to a primary (WRITE) server of the routing table instead. */
static void createRecordMetadataRouted(const InstanceConfig *source, BoltConnection *reader,
                                       const Manifest *manifest)
{
    BoltUri uri;
    if (boltUriParse(source->uri, &uri) != ERR_OK || !uri.routing) {
        createRecordMetadata(reader, source->database, manifest);
        return;
    }
    BoltConnection *writer = NULL;
    if (supportConnect(source, &writer) != ERR_OK) {
        logWarn("Could not record the BackupMetadata node in %s: %s", source->database, errLast()->reason);
        return;
    }
    createRecordMetadata(writer, source->database, manifest);
    boltClose(writer);
}

static void createFillManifest(Manifest *manifest, const char *id, int64_t created,
                               const char *safeUri, const InstanceConfig *source, BoltConnection *connection,
                               const char *compressionName, const char *archiveFile,
                               const LogicalBackupResult *result, const char *sha256Hex)
{
    manifestSetString(&manifest->id, id);
    manifest->created = created;
    manifestSetString(&manifest->status, MANIFEST_STATUS_COMPLETE);
    manifestSetString(&manifest->method, "logical");
    manifestSetString(&manifest->source.uri, safeUri);
    manifestSetString(&manifest->source.serverVersion, result->serverVersion);
    manifestSetString(&manifest->source.edition, result->edition);
    char bolt[16];
    snprintf(bolt, sizeof(bolt), "%u.%u", boltVersionMajor(connection), boltVersionMinor(connection));
    manifestSetString(&manifest->source.boltVersion, bolt);
    manifestSetString(&manifest->source.database, result->database[0] ? result->database : source->database);
    manifestSetString(&manifest->toolVersion, NBK_VERSION);
    manifestSetString(&manifest->compression, compressionName);
    manifestSetString(&manifest->archive.file, archiveFile);
    manifest->archive.sizeCompressed = result->totals.compressedBytes;
    manifest->archive.sizeUncompressed = result->totals.uncompressedBytes;
    manifestSetString(&manifest->archive.sha256, sha256Hex);
    manifest->stats.nodes = result->nodes;
    manifest->stats.relationships = result->relationships;
    manifest->stats.schemaItems = result->schemaItems;
    manifestSetCounts(manifest, &result->counts);
    if (result->fingerprint[0])
        manifestSetString(&manifest->contentFingerprint, result->fingerprint);
    manifest->durationSeconds = result->seconds;
}

/* The schema items lead the archive: copy their names, types and statements
 * into the manifest so that --list --json and operators see them. */
static ErrCode createManifestSchema(Manifest *manifest, const char *archivePath)
{
    ArcReader *reader = NULL;
    Arena *arena = arenaNew(0);
    ErrCode code = arcReaderOpen(&reader, archivePath);
    while (code == ERR_OK) {
        ArcRecordKind kind;
        const uint8_t *packed = NULL;
        size_t length = 0;
        code = arcReaderNext(reader, &kind, &packed, &length);
        if (code != ERR_OK || !packed || kind != ARC_RECORD_SCHEMA)
            break;
        PackReader packReader;
        packReaderInit(&packReader, packed, length);
        packReaderLimitDecoded(&packReader, ARC_RECORD_DECODED_MAX);
        BoltValue value;
        SchemaItem item;
        arenaReset(arena);
        code = unpackValue(&packReader, arena, &value);
        if (code == ERR_OK)
            code = schemaItemFromValue(&value, &item);
        if (code == ERR_OK) {
            manifestAddSchemaItem(manifest, item.name, item.type, item.isConstraint ? "constraint" : "index",
                                  item.createStatement);
            manifestSetSchemaState(manifest, item.state, item.failureMessage);
        }
    }
    arcReaderFree(reader);
    arenaFree(arena);
    return code;
}

static void createHex(const uint8_t digest[32], char hex[65])
{
    for (int index = 0; index < 32; index++)
        snprintf(hex + index * 2, 3, "%02x", digest[index]);
}

ErrCode cmdCreate(CommandContext *context)
{
    char id[CAT_ID_SIZE];
    return createBackup(context, id);
}

ErrCode createBackup(CommandContext *context, char idOut[CAT_ID_SIZE])
{
    idOut[0] = '\0';
    const Config *config = context->config;
    const char *method = cfgGet(config, CFG_BACKUP_METHOD);
    if (method && strcmp(method, "dump") == 0)
        return cmdDumpCreate(context, idOut);
    if (method && strcmp(method, "logical") != 0) {
        errSet(CONFIG_INVALID, "backup method '%s' is not available in this version", method);
        logErrorBlock("Failed to create backup", false);
        return CONFIG_INVALID;
    }
    ArcCompression compression;
    ErrCode code = arcCompressionParse(cfgGet(config, CFG_BACKUP_COMPRESSION), &compression);
    int64_t minFreePercent = 20;
    if (code == ERR_OK)
        code = cfgGetInt(config, CFG_BACKUP_MIN_FREE_PERCENT, &minFreePercent);
    InstanceConfig source = {0};
    if (code == ERR_OK)
        code = cfgInstance(config, CFG_PRODUCTION_INSTANCE, &source);
    const char *root = cfgGet(config, CFG_BACKUP_STORAGE_PATH);
    if (code == ERR_OK && !root)
        code = cfgStoragePathMissing();
    if (code != ERR_OK) {
        logErrorBlock("Failed to create backup", false);
        cfgInstanceFree(&source);
        return code;
    }

    char safeUri[512];
    supportSafeUri(source.uri, safeUri, sizeof(safeUri));
    logInfo("Starting backup creation...");
    BoltConnection *connection = NULL;
    Catalog *catalog = NULL;
    CatBackupDir *backupDir = NULL;
    Manifest *manifest = NULL;
    LogicalBackupResult result;
    memset(&result, 0, sizeof(result));
    bool critical = false;
    double started = timeMonotonic();

    code = supportConnectSource(context->config, &source, &connection);
    char version[64] = "";
    char edition[64] = "";
    if (code == ERR_OK)
        code = supportServerVersion(connection, version, sizeof(version), edition, sizeof(edition));
    if (code == ERR_OK)
        logInfo("Neo4j version: %s", version);
    uint64_t nodes = 0;
    uint64_t relationships = 0;
    if (code == ERR_OK)
        code = healthGraphCounts(connection, source.database, &nodes, &relationships);

    if (code == ERR_OK && context->dryRun) {
        char id[TIME_TEXT_SIZE];
        timeBackupId(timeNow(), id);
        logInfo("Dry run: would back up database %s at %s (%" PRIu64 " nodes, %" PRIu64
                " relationships)", source.database, safeUri, nodes, relationships);
        logInfo("Dry run: would write %s/%s/%s (%s) and a BackupMetadata node; nothing was changed",
                root, id, arcFileName(compression), arcCompressionName(compression));
        boltClose(connection);
        cfgInstanceFree(&source);
        return ERR_OK;
    }

    /* The scheduler relies on the create lock too. */
    Lock *createLock = NULL;
    if (code == ERR_OK)
        code = supportBeginCreate(context, "backup --create", &catalog, &createLock);
    if (code == ERR_OK) {
        const char *basis = "";
        uint64_t required = createEstimateBytes(catalog, config, nodes, relationships, &basis);
        code = createCheckSpace(root, required, minFreePercent, basis);
        critical = code == BACKUP_NO_SPACE;
    }
    int64_t created = timeNow();
    char id[CAT_ID_SIZE] = "";
    if (code == ERR_OK)
        code = catNewId(catalog, created, id);
    if (code == ERR_OK)
        code = catBackupDirBegin(catalog, id, &backupDir);
    char archivePath[4096] = "";
    if (code == ERR_OK)
        code = fsPathJoin(archivePath, sizeof(archivePath), catBackupDirPath(backupDir),
                          arcFileName(compression));
    if (code == ERR_OK) {
        logInfo("Running: online logical backup of database %s (%s) into %s/%s", source.database,
                safeUri, root, id);
        char createdIso[TIME_TEXT_SIZE];
        timeFormatIso(created, createdIso);
        CreateProgressState progressState = {.terminal = isatty(STDERR_FILENO) == 1};
        LogicalBackupRequest request = {
            .connection = connection,
            .database = source.database,
            .archivePath = archivePath,
            .compression = compression,
            .backupId = id,
            .createdUtc = createdIso,
            .sourceUri = safeUri,
            .progress = createOnProgress,
            .progressPayload = &progressState,
            .cancelFlag = context->cancelFlag,
        };
        code = logicalBackupRun(&request, &result);
        critical = code == BACKUP_NO_SPACE;
        if (code == BACKUP_NO_SPACE) {
            FsSpace space;
            char available[FORMAT_TEXT_SIZE] = "unknown";
            char writtenText[FORMAT_TEXT_SIZE];
            if (fsSpace(root, &space) == ERR_OK)
                fmtSizeWhole(available, sizeof(available), space.availableBytes);
            errSetDetails("Required: more than %s | Available: %s",
                          fmtSizeWhole(writtenText, sizeof(writtenText), result.totals.compressedBytes),
                          available);
        }
    }
    if (code == ERR_OK) {
        logInfo("Backup created successfully in %.0f seconds", result.seconds);
        if (result.lateNodes || result.droppedRelationships)
            logInfo("Consistency: %" PRIu64 " nodes created during the backup were added; %" PRIu64
                    " relationships whose endpoint was deleted during the backup were left out",
                    result.lateNodes, result.droppedRelationships);
        char compressed[FORMAT_TEXT_SIZE];
        char original[FORMAT_TEXT_SIZE];
        char percent[FORMAT_TEXT_SIZE];
        if (compression != ARC_COMPRESSION_NONE)
            logInfo("Compressing backup with %s...", arcCompressionName(compression));
        logInfo("Compressed size: %s (%s of original %s)",
                fmtSize(compressed, sizeof(compressed), result.totals.compressedBytes),
                fmtPercent(percent, sizeof(percent), result.totals.compressedBytes,
                           result.totals.uncompressedBytes),
                fmtSize(original, sizeof(original), result.totals.uncompressedBytes));
        logInfo("Computing checksum...");
    }
    char shaHex[65] = "";
    if (code == ERR_OK) {
        /* Read the file back: the checksum must describe what is on disk, not
         * what we meant to write. */
        char writtenHex[65];
        uint64_t size = 0;
        createHex(result.totals.fileSha256, writtenHex);
        code = arcSha256File(archivePath, shaHex, &size);
        if (code == ERR_OK && (strcmp(shaHex, writtenHex) != 0 || size != result.totals.compressedBytes))
            code = errSet(BACKUP_IO_FAILED, "the archive read back differs from what was written (%s)",
                          archivePath);
    }
    if (code == ERR_OK) {
        manifest = manifestNew();
        createFillManifest(manifest, id, created, safeUri, &source, connection,
                           arcCompressionName(compression), arcFileName(compression), &result, shaHex);
        manifest->durationSeconds = timeMonotonic() - started;
        code = createManifestSchema(manifest, archivePath);
    }
    if (code == ERR_OK) {
        code = manifestSave(manifest, catBackupDirPath(backupDir));
    }
    if (code == ERR_OK) {
        code = catBackupDirCommit(backupDir);
        backupDir = NULL;
    }
    if (code == ERR_OK) {
        createRecordMetadataRouted(&source, connection, manifest);
        logInfo("Backup ID: %s", id);
        logInfo("Checksum SHA256: %s", shaHex);
        logInfo("Graph stats: %" PRIu64 " nodes, %" PRIu64 " relationships, %" PRIu64 " schema items",
                result.nodes, result.relationships, result.schemaItems);
        logSuccess("Backup completed");
        snprintf(idOut, CAT_ID_SIZE, "%s", id);
    } else {
        catBackupDirAbort(backupDir);
        logErrorBlock("Failed to create backup", critical);
    }
    manifestFree(manifest);
    logicalBackupResultFree(&result);
    lockRelease(createLock);
    catClose(catalog);
    boltClose(connection);
    cfgInstanceFree(&source);
    return code;
}
