/* The backup service (backup/backup.h): the logical backup transaction from
 * the connection to the committed catalog entry and the BackupMetadata node,
 * reporting through events only. Nothing becomes visible in the catalog until
 * the archive and its manifest are complete and fsynced (catBackupDirCommit). */
#include "backup/backup.h"

#include "backup/metadata.h"
#include "bolt/packstream.h"
#include "common/format.h"
#include "common/fsutil.h"
#include "common/log.h"
#include "common/timeutil.h"
#include "restore/health.h"

#include <inttypes.h>
#include <stdio.h>
#include <sodium.h>
#include <string.h>

#define BACKUP_DEFAULT_LOCK_PURPOSE "backup --create"
#define BACKUP_CREATE_LOCK_NAME ".create.lock"
/* Where a lock expires (object storage), the keeper refreshes it well before. */
#define BACKUP_CREATE_LOCK_TTL_SECONDS 3600

typedef struct {
    const BackupRequest *request;
    BackupResult *result;
    const BackupEvents *events;
    Catalog *catalog; /* the repository, once open */
} BackupRun;

static void backupEmit(const BackupRun *run, BackupEventKind kind, const char *text)
{
    if (!run->events || !run->events->onEvent)
        return;
    BackupEvent event = {.kind = kind, .request = run->request, .result = run->result, .text = text};
    run->events->onEvent(&event, run->events->payload);
}

static void backupOnProgress(const LogicalBackupProgress *progress, void *payload)
{
    const BackupRun *run = payload;
    if (!run->events || !run->events->onEvent)
        return;
    BackupEvent event = {
        .kind = BACKUP_EVENT_PROGRESS, .request = run->request, .result = run->result, .progress = progress};
    run->events->onEvent(&event, run->events->payload);
}

static void backupOnLeftover(const char *name, void *payload)
{
    backupEmit(payload, BACKUP_EVENT_LEFTOVER_REMOVED, name);
}

ErrCode backupBeginCreate(Catalog *catalog, const char *purpose, StorageLock **createLock,
                          void (*onLeftover)(const char *name, void *payload), void *payload)
{
    StorageLockOwner owner = {.owner = purpose};
    ErrCode code = storageLockAcquireMode(catStorage(catalog), BACKUP_CREATE_LOCK_NAME, &owner,
                                          STORAGE_LOCK_EXCLUSIVE, 0, BACKUP_CREATE_LOCK_TTL_SECONDS, createLock);
    if (code == ERR_OK) {
        CatNameList leftovers = {0};
        if (catCleanLeftovers(catalog, false, &leftovers) == ERR_OK && onLeftover)
            for (size_t index = 0; index < leftovers.count; index++)
                onLeftover(leftovers.names[index], payload);
        catNameListFree(&leftovers);
    }
    return code;
}

/* Estimate of the archive's size: the newest backup's, else the store's size
 * under the data path, else a rough figure from the database's counts. */
static uint64_t backupEstimateBytes(Catalog *catalog, const char *dataPath, uint64_t nodes,
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
    if (dataPath && fsIsDirectory(dataPath) && fsDirSize(dataPath, &estimate) == ERR_OK && estimate) {
        *basis = "the store size under NEO4J_DATA_PATH";
        return estimate;
    }
    *basis = "the database's counts";
    return nodes * 64 + relationships * 48 + 1024 * 1024;
}

/* How messages name the repository: BACKUP_STORAGE_PATH as given, else the
 * catalog's directory, else its driver. */
static const char *backupRepositoryShown(const BackupRun *run)
{
    if (run->request->storagePath)
        return run->request->storagePath;
    const char *root = run->catalog ? catRoot(run->catalog) : NULL;
    return root ? root : run->catalog ? storageDriverName(catStorage(run->catalog)) : "the repository";
}

static ErrCode backupCheckSpace(const BackupRun *run, uint64_t requiredBytes, const char *basis)
{
    const char *root = backupRepositoryShown(run);
    StorageSpace space;
    ErrCode code = storageSpace(catStorage(run->catalog), &space);
    if (code != ERR_OK)
        return code;
    if (!space.applicable) {
        logDebug("no free-space check: %s storage has no fixed capacity", storageDriverName(catStorage(run->catalog)));
        return ERR_OK;
    }
    double freePercent = space.totalBytes == 0 ? 0.0 : (double)space.availableBytes * 100.0 / (double)space.totalBytes;
    if (run->events && run->events->onEvent) {
        BackupSpace figures = {requiredBytes, space.availableBytes, freePercent, basis};
        BackupEvent event = {
            .kind = BACKUP_EVENT_SPACE, .request = run->request, .result = run->result, .space = &figures};
        run->events->onEvent(&event, run->events->payload);
    }
    char required[FORMAT_TEXT_SIZE];
    char available[FORMAT_TEXT_SIZE];
    fmtSizeWhole(required, sizeof(required), requiredBytes);
    fmtSizeWhole(available, sizeof(available), space.availableBytes);
    if (space.availableBytes < requiredBytes) {
        errSet(BACKUP_NO_SPACE, "No space left on device (%s filesystem is full)", root);
    } else if (freePercent < (double)run->request->minFreePercent) {
        errSet(BACKUP_NO_SPACE,
               "Only %.1f%% of the %s filesystem is free, less than BACKUP_MIN_FREE_PERCENT=%" PRId64 "%%",
               freePercent, root, run->request->minFreePercent);
    } else {
        return ERR_OK;
    }
    errSetDetails("Required: %s | Available: %s", required, available);
    return BACKUP_NO_SPACE;
}

/* Records the backup in the source database. A routed source was read on a
 * secondary, which refuses writes: the record goes to a primary instead. */
static void backupRecordMetadata(const BackupRun *run, BoltConnection *reader, const Manifest *manifest)
{
    const BackupRequest *request = run->request;
    BoltUri uri;
    BoltConnection *writer = reader;
    ErrCode code = ERR_OK;
    if (boltUriParse(request->source->uri, &uri) == ERR_OK && uri.routing) {
        writer = NULL;
        code = request->connector.connect(request->connector.payload, BOLT_ACCESS_WRITE, &writer);
    }
    if (code == ERR_OK)
        code = backupMetadataRecord(writer, request->source->database, manifest);
    if (code != ERR_OK)
        backupEmit(run, BACKUP_EVENT_METADATA_FAILED, errLast()->reason);
    if (writer != reader)
        boltClose(writer);
}

static void backupFillManifest(Manifest *manifest, const BackupRequest *request, const BackupResult *result,
                               int64_t created, BoltConnection *connection, const LogicalBackupResult *logical)
{
    manifestSetString(&manifest->id, result->id);
    manifest->created = created;
    manifestSetString(&manifest->status, MANIFEST_STATUS_COMPLETE);
    manifestSetString(&manifest->method, "logical");
    manifestSetString(&manifest->source.uri, result->safeUri);
    manifestSetString(&manifest->source.serverVersion, logical->serverVersion);
    manifestSetString(&manifest->source.edition, logical->edition);
    char bolt[16];
    snprintf(bolt, sizeof(bolt), "%u.%u", boltVersionMajor(connection), boltVersionMinor(connection));
    manifestSetString(&manifest->source.boltVersion, bolt);
    manifestSetString(&manifest->source.database,
                      logical->database[0] ? logical->database : request->source->database);
    manifestSetString(&manifest->toolVersion, NBK_VERSION);
    manifestSetString(&manifest->compression, arcCompressionName(request->compression));
    manifestSetString(&manifest->archive.file, arcFileName(request->compression));
    manifest->archive.sizeCompressed = logical->totals.compressedBytes;
    manifest->archive.sizeUncompressed = logical->totals.uncompressedBytes;
    manifestSetString(&manifest->archive.sha256, result->sha256);
    manifest->stats.nodes = logical->nodes;
    manifest->stats.relationships = logical->relationships;
    manifest->stats.schemaItems = logical->schemaItems;
    manifestSetCounts(manifest, &logical->counts);
    if (logical->fingerprint[0])
        manifestSetString(&manifest->contentFingerprint, logical->fingerprint);
}

/* The schema items lead the archive: copy their names, types and statements
 * into the manifest so that --list --json and operators see them. */
static ErrCode backupManifestSchema(Manifest *manifest, const ArcLocation *archive)
{
    ArcReader *reader = NULL;
    Arena *arena = arenaNew(0);
    ErrCode code = arcReaderOpenAt(&reader, archive, NULL);
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

/* The manifest of an encrypted backup: the data key wrapped by the master
 * key, the MAC over the plain fields and the archive's key section as
 * stored, and the private part sealed (docs/encryption.md section 3). */
static ErrCode backupSealManifest(Manifest *manifest, const CryptoMasterKey *masterKey, const ArcLocation *archive)
{
    uint8_t wrapped[CRYPTO_WRAPPED_KEY_BYTES];
    uint8_t keySection[ARC_KEY_SECTION_BYTES];
    ErrCode code = cryptoDataKeyWrap(masterKey, archive->dataKey, wrapped);
    if (code == ERR_OK)
        code = arcKeySectionAt(archive, keySection);
    if (code == ERR_OK)
        code = manifestSeal(manifest, archive->dataKey, wrapped, keySection);
    return code;
}

static void backupHex(const uint8_t digest[32], char hex[65])
{
    for (int index = 0; index < 32; index++)
        snprintf(hex + index * 2, 3, "%02x", digest[index]);
}

static void backupSafeUri(const char *uri, char *out, size_t size)
{
    const char *scheme = uri ? strstr(uri, "://") : NULL;
    const char *at = scheme ? strchr(scheme + 3, '@') : NULL;
    if (scheme && at)
        snprintf(out, size, "%.*s://%s", (int)(scheme - uri), uri, at + 1);
    else
        snprintf(out, size, "%s", uri ? uri : "");
}

/* Writes the archive into the temporary directory (through the catalog's
 * storage) and reads it back: the checksum must describe what is stored,
 * not what we meant to write. */
static ErrCode backupWriteArchive(BackupRun *run, BoltConnection *connection, const ArcLocation *archive,
                                  int64_t created, LogicalBackupResult *logical)
{
    const BackupRequest *request = run->request;
    BackupResult *result = run->result;
    backupEmit(run, BACKUP_EVENT_RUNNING, NULL);
    char createdIso[TIME_TEXT_SIZE];
    timeFormatIso(created, createdIso);
    LogicalBackupRequest engine = {
        .connection = connection,
        .database = request->source->database,
        .archive = *archive,
        .compression = request->compression,
        .backupId = result->id,
        .createdUtc = createdIso,
        .sourceUri = result->safeUri,
        .progress = backupOnProgress,
        .progressPayload = run,
        .cancelFlag = request->cancelFlag,
    };
    ErrCode code = logicalBackupRun(&engine, logical);
    result->critical = code == BACKUP_NO_SPACE;
    if (code == BACKUP_NO_SPACE) {
        ErrDetail failure = errSave(); /* the writer's, kept while the figures are gathered */
        StorageSpace space;
        char available[FORMAT_TEXT_SIZE] = "unknown";
        char writtenText[FORMAT_TEXT_SIZE];
        if (storageSpace(catStorage(run->catalog), &space) == ERR_OK && space.applicable)
            fmtSizeWhole(available, sizeof(available), space.availableBytes);
        errRestore(&failure);
        errSetDetails("Required: more than %s | Available: %s",
                      fmtSizeWhole(writtenText, sizeof(writtenText), logical->totals.compressedBytes), available);
    }
    if (code != ERR_OK)
        return code;
    result->nodes = logical->nodes;
    result->relationships = logical->relationships;
    result->schemaItems = logical->schemaItems;
    result->lateNodes = logical->lateNodes;
    result->droppedRelationships = logical->droppedRelationships;
    result->compressedBytes = logical->totals.compressedBytes;
    result->uncompressedBytes = logical->totals.uncompressedBytes;
    result->seconds = logical->seconds;
    backupEmit(run, BACKUP_EVENT_WRITTEN, NULL);
    char writtenHex[65];
    uint64_t size = 0;
    backupHex(logical->totals.fileSha256, writtenHex);
    code = arcSha256At(archive, result->sha256, &size);
    if (code == ERR_OK && (strcmp(result->sha256, writtenHex) != 0 || size != logical->totals.compressedBytes))
        code = errSet(BACKUP_IO_FAILED, "the archive read back differs from what was written (%s)",
                      arcLocationShown(archive));
    return code;
}

ErrCode backupCreate(const BackupRequest *request, BackupResult *out, const BackupEvents *events)
{
    memset(out, 0, sizeof(*out));
    BackupRun run = {.request = request, .result = out, .events = events};
    if (!request->storagePath && !request->catalog)
        return cfgStoragePathMissing();
    backupSafeUri(request->source->uri, out->safeUri, sizeof(out->safeUri));
    backupEmit(&run, BACKUP_EVENT_STARTING, NULL);
    double started = timeMonotonic();

    BoltConnection *connection = NULL;
    ErrCode code = request->connector.connect(request->connector.payload, BOLT_ACCESS_READ, &connection);
    if (code == ERR_OK)
        code = request->connector.serverVersion(request->connector.payload, connection, out->serverVersion,
                                                sizeof(out->serverVersion), out->edition, sizeof(out->edition));
    if (code == ERR_OK)
        backupEmit(&run, BACKUP_EVENT_SERVER_VERSION, NULL);
    if (code == ERR_OK)
        code = healthGraphCounts(connection, request->source->database, &out->sourceNodes,
                                 &out->sourceRelationships);
    if (code == ERR_OK && request->dryRun) {
        char planned[TIME_TEXT_SIZE];
        timeBackupId(timeNow(), planned);
        snprintf(out->id, sizeof(out->id), "%s", planned);
        backupEmit(&run, BACKUP_EVENT_DRY_RUN, NULL);
        boltClose(connection);
        return ERR_OK;
    }

    Catalog *catalog = request->catalog; /* borrowed, or opened here */
    Catalog *opened = NULL;
    StorageLock *createLock = NULL;
    CatBackupDir *backupDir = NULL;
    Manifest *manifest = NULL;
    LogicalBackupResult logical;
    memset(&logical, 0, sizeof(logical));
    if (code == ERR_OK && !catalog) {
        code = catOpen(&opened, request->storagePath, true);
        catalog = opened;
    }
    run.catalog = catalog;
    /* The scheduler and the dump method rely on the create lock too. */
    if (code == ERR_OK)
        code = backupBeginCreate(catalog, request->lockPurpose ? request->lockPurpose : BACKUP_DEFAULT_LOCK_PURPOSE,
                                 &createLock, backupOnLeftover, &run);
    if (code == ERR_OK) {
        const char *basis = "";
        uint64_t required = backupEstimateBytes(catalog, request->dataPath, out->sourceNodes,
                                                out->sourceRelationships, &basis);
        code = backupCheckSpace(&run, required, basis);
        out->critical = code == BACKUP_NO_SPACE;
    }
    int64_t created = timeNow();
    if (code == ERR_OK)
        code = catNewId(catalog, created, out->id);
    if (code == ERR_OK)
        code = catBackupDirBegin(catalog, out->id, &backupDir);
    /* The archive and the manifest go through the catalog's storage, named
     * relative to its root. Where the storage has paths, the archive's path
     * names it in messages and the pending relationships spill beside it. */
    char archivePath[4096] = "";
    char archiveName[512] = "";
    if (code == ERR_OK && catBackupDirPath(backupDir)[0])
        code = fsPathJoin(archivePath, sizeof(archivePath), catBackupDirPath(backupDir),
                          arcFileName(request->compression));
    if (code == ERR_OK)
        code = fsPathJoin(archiveName, sizeof(archiveName), catBackupDirName(backupDir),
                          arcFileName(request->compression));
    uint8_t dataKey[CRYPTO_KEY_BYTES];
    ArcLocation archive = {.storage = catalog ? catStorage(catalog) : NULL,
                           .name = archiveName,
                           .path = archivePath[0] ? archivePath : NULL};
    if (code == ERR_OK && request->masterKey) {
        code = cryptoDataKeyGenerate(dataKey);
        archive.dataKey = dataKey;
    }
    if (code == ERR_OK)
        code = backupWriteArchive(&run, connection, &archive, created, &logical);
    if (code == ERR_OK) {
        manifest = manifestNew();
        backupFillManifest(manifest, request, out, created, connection, &logical);
        manifest->durationSeconds = timeMonotonic() - started;
        code = backupManifestSchema(manifest, &archive);
    }
    if (code == ERR_OK && request->masterKey)
        code = backupSealManifest(manifest, request->masterKey, &archive);
    if (code == ERR_OK)
        code = catBackupDirSaveManifest(backupDir, manifest);
    if (code == ERR_OK) {
        code = catBackupDirCommit(backupDir);
        backupDir = NULL;
    }
    if (code == ERR_OK) {
        backupRecordMetadata(&run, connection, manifest);
        backupEmit(&run, BACKUP_EVENT_COMPLETED, NULL);
    } else {
        catBackupDirAbort(backupDir);
        out->id[0] = '\0'; /* names nothing visible */
    }
    sodium_memzero(dataKey, sizeof(dataKey));
    manifestFree(manifest);
    logicalBackupResultFree(&logical);
    storageLockRelease(createLock);
    catClose(opened);
    boltClose(connection);
    return code;
}
