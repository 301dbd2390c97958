/* The backup service (backup/backup.h): the logical backup transaction from
 * the connection to the committed catalog entry and the BackupMetadata node,
 * reporting through events only. Nothing becomes visible in the catalog until
 * the archive and its manifest are complete and fsynced (catBackupDirCommit). */
#include "backup/backup.h"

#include "backup/diff_state.h"
#include "backup/metadata.h"
#include "catalog/validate.h"
#include "bolt/packstream.h"
#include "common/format.h"
#include "common/fsutil.h"
#include "common/log.h"
#include "common/timeutil.h"
#include "restore/health.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
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

/* ---- full or differential (docs/differential.md) ---- */

static const char *const backupTypeNames[] = {"auto", "full", "diff"};

const char *backupTypeName(BackupType type)
{
    return (unsigned)type < 3 ? backupTypeNames[type] : "unknown";
}

ErrCode backupTypeParse(const char *text, BackupType *out)
{
    *out = BACKUP_TYPE_AUTO;
    if (!text)
        return ERR_OK;
    for (unsigned index = 0; index < 3; index++) {
        if (strcmp(text, backupTypeNames[index]) == 0) {
            *out = (BackupType)index;
            return ERR_OK;
        }
    }
    errSet(CONFIG_INVALID, "backup type '%s' is not one of auto, full, diff", text);
    errSetAction("Set BACKUP_TYPE (or --type) to auto, full or diff");
    return CONFIG_INVALID;
}

typedef struct {
    CatChain chain;       /* the parent's chain, full first */
    CatChainLinks links;  /* its archives, readable */
    DiffState *state;     /* the parent's state, loaded */
    bool differential;    /* planned as a differential of the chain's last link */
} BackupPlan;

static void backupPlanFree(BackupPlan *plan)
{
    diffStateFree(plan->state);
    catChainLinksFree(&plan->links);
    catChainFree(&plan->chain);
    memset(plan, 0, sizeof(*plan));
}

static ErrCode backupFullBecause(BackupRun *run, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static ErrCode backupFullBecause(BackupRun *run, const char *fmt, ...)
{
    va_list args;
    va_start(args, fmt);
    vsnprintf(run->result->typeReason, sizeof(run->result->typeReason), fmt, args);
    va_end(args);
    return ERR_OK;
}

/* The leading number of a version: 5 for "5.26.0", 2025 for "2025.10.1". */
static long backupMajorVersion(const char *version)
{
    return version ? strtol(version, NULL, 10) : -1;
}

/* The newest usable logical backup of the same database: the parent. */
static ErrCode backupFindParent(BackupRun *run, Catalog *catalog, char parentId[CAT_ID_SIZE])
{
    parentId[0] = '\0';
    CatList list;
    ErrCode code = catList(catalog, &list);
    if (code != ERR_OK)
        return code;
    const char *database = run->request->source ? run->request->source->database : NULL;
    for (size_t index = 0; index < list.count; index++) {
        const CatEntry *entry = &list.entries[index];
        const Manifest *manifest = entry->manifest;
        if (!manifest || !catEntryUsable(entry) || !manifest->method || strcmp(manifest->method, "logical") != 0)
            continue;
        if (database && manifest->source.database && strcmp(database, manifest->source.database) != 0)
            continue;
        snprintf(parentId, CAT_ID_SIZE, "%s", entry->id);
        break;
    }
    catListFree(&list);
    return ERR_OK;
}

/* Decides between a full backup and a differential, and for a differential
 * loads its parent's state. A full is reported through result->typeReason;
 * an explicit BACKUP_TYPE=diff that cannot be honoured is an error. */
static ErrCode backupPlanType(BackupRun *run, Catalog *catalog, BackupPlan *plan, bool planOnly)
{
    const BackupRequest *request = run->request;
    BackupResult *result = run->result;
    if (request->type == BACKUP_TYPE_FULL)
        return backupFullBecause(run, "BACKUP_TYPE=full");
    bool explicitDiff = request->type == BACKUP_TYPE_DIFF;
    char parentId[CAT_ID_SIZE];
    ErrCode code = backupFindParent(run, catalog, parentId);
    if (code != ERR_OK)
        return code;
    if (!parentId[0]) {
        if (!explicitDiff)
            return backupFullBecause(run, "no valid backup to take a differential of");
        errSet(CONFIG_INVALID, "no valid logical backup of this database to take a differential of");
        errSetAction("Take a full backup first (--type full), or use --type auto");
        return CONFIG_INVALID;
    }
    code = catChainLoad(catalog, parentId, &plan->chain);
    if (code != ERR_OK) {
        if (explicitDiff)
            return code;
        return backupFullBecause(run, "the chain of %s cannot be used: %s", parentId, errLast()->reason);
    }
    const Manifest *full = plan->chain.links[0].manifest;
    const Manifest *parent = plan->chain.links[plan->chain.count - 1].manifest;
    if (parent->chainDepth + 1 > MANIFEST_CHAIN_DEPTH_MAX) {
        errSet(CONFIG_INVALID, "the chain of %s is %u links long, the most a chain may have", parentId,
               parent->chainDepth + 1);
        errSetAction("Take a full backup (--type full)");
        return CONFIG_INVALID;
    }
    if (!explicitDiff) {
        uint32_t maxChain = request->diffMaxChain ? request->diffMaxChain : BACKUP_DIFF_DEFAULT_MAX_CHAIN;
        uint32_t maxPercent = request->diffMaxPercent ? request->diffMaxPercent : BACKUP_DIFF_DEFAULT_MAX_PERCENT;
        if (parent->chainDepth + 1 > maxChain)
            return backupFullBecause(run, "the chain of %s has reached BACKUP_DIFF_MAX_CHAIN (%u)",
                                     plan->chain.links[0].id, maxChain);
        if (manifestIsDiff(parent) && full->archive.sizeCompressed > 0
            && parent->archive.sizeCompressed * 100 > (uint64_t)maxPercent * full->archive.sizeCompressed)
            return backupFullBecause(run, "the last differential, %s, was %llu%% of its full's size (BACKUP_DIFF_MAX_PERCENT %u)",
                                     parentId,
                                     (unsigned long long)(parent->archive.sizeCompressed * 100 / full->archive.sizeCompressed),
                                     maxPercent);
        if (backupMajorVersion(parent->source.serverVersion) != backupMajorVersion(result->serverVersion))
            return backupFullBecause(run, "the server's major version changed since %s (%s, now %s)", parentId,
                                     parent->source.serverVersion ? parent->source.serverVersion : "unknown",
                                     result->serverVersion);
        if (parent->encryption.present != (request->masterKey != NULL))
            return backupFullBecause(run, "encryption was turned %s since %s", request->masterKey ? "on" : "off",
                                     parentId);
    }
    if (planOnly) {
        snprintf(result->parentId, sizeof(result->parentId), "%s", parentId);
        result->chainDepth = parent->chainDepth + 1;
        return ERR_OK;
    }
    code = catChainLinksOpen(catalog, &plan->chain, request->masterKey, &plan->links);
    if (code == ERR_OK)
        code = diffStateLoad(&plan->state, plan->links.links, plan->links.count, request->cancelFlag);
    if (code != ERR_OK) {
        if (explicitDiff || code == OPERATION_INTERRUPTED || code == BACKUP_NO_SPACE)
            return code;
        return backupFullBecause(run, "the chain of %s cannot be read: %s", parentId, errLast()->reason);
    }
    plan->differential = true;
    snprintf(result->parentId, sizeof(result->parentId), "%s", parentId);
    result->chainDepth = parent->chainDepth + 1;
    return ERR_OK;
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
    manifestSetString(&manifest->backupType, result->differential ? MANIFEST_TYPE_DIFF : MANIFEST_TYPE_FULL);
}

/* A differential's link to its parent and its own figures. */
static void backupFillChain(Manifest *manifest, const BackupResult *result, const BackupPlan *plan)
{
    if (!result->differential)
        return;
    const Manifest *parent = plan->chain.links[plan->chain.count - 1].manifest;
    char link[65];
    manifestLinkSha256(parent, link);
    manifestSetString(&manifest->parent.id, result->parentId);
    manifestSetString(&manifest->parent.manifestSha256, link);
    manifest->chainDepth = result->chainDepth;
    manifest->changes.nodes = result->changedNodes;
    manifest->changes.relationships = result->changedRelationships;
    manifest->changes.deletedNodes = result->deletedNodes;
    manifest->changes.deletedRelationships = result->deletedRelationships;
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

ErrCode backupSealManifest(Manifest *manifest, const CryptoMasterKey *masterKey, const ArcLocation *archive)
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
                                  int64_t created, BackupPlan *plan, LogicalBackupResult *logical)
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
        /* A differential carries the whole graph's fingerprint: its archive
         * alone cannot give it (docs/differential.md). */
        .computeFingerprint = plan->differential,
        .parentState = plan->differential ? plan->state : NULL,
        .parentId = plan->differential ? result->parentId : NULL,
        .fullWhenSchemaChanged = request->type != BACKUP_TYPE_DIFF,
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
    result->differential = logical->differential;
    if (plan->differential && !logical->differential) {
        snprintf(result->typeReason, sizeof(result->typeReason), "the schema changed since %s", result->parentId);
        result->parentId[0] = '\0';
        result->chainDepth = 0;
    }
    result->changedNodes = logical->changedNodes;
    result->changedRelationships = logical->changedRelationships;
    result->deletedNodes = logical->deletedNodes;
    result->deletedRelationships = logical->deletedRelationships;
    result->lateNodes = logical->lateNodes;
    result->droppedRelationships = logical->droppedRelationships;
    result->compressedBytes = logical->totals.compressedBytes;
    result->uncompressedBytes = logical->totals.uncompressedBytes;
    result->seconds = logical->seconds;
    backupEmit(run, BACKUP_EVENT_WRITTEN, NULL);
    return backupReadBack(archive, &logical->totals, result->sha256);
}

ErrCode backupReadBack(const ArcLocation *archive, const ArcTotals *totals, char sha256[65])
{
    char writtenHex[65];
    uint64_t size = 0;
    backupHex(totals->fileSha256, writtenHex);
    ErrCode code = arcSha256At(archive, sha256, &size);
    if (code == ERR_OK && (strcmp(sha256, writtenHex) != 0 || size != totals->compressedBytes))
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
        /* The type it would take, from what the repository holds; a
         * repository not made yet (or out of reach) would get a full. */
        Catalog *dryCatalog = request->catalog;
        Catalog *dryOpened = NULL;
        if (!dryCatalog && request->storagePath && fsIsDirectory(request->storagePath)
            && catOpen(&dryOpened, request->storagePath, false) == ERR_OK)
            dryCatalog = dryOpened;
        BackupPlan plan;
        memset(&plan, 0, sizeof(plan));
        ErrCode plannedCode = ERR_OK;
        if (dryCatalog)
            plannedCode = backupPlanType(&run, dryCatalog, &plan, true);
        else if (request->type != BACKUP_TYPE_FULL)
            backupFullBecause(&run, "no valid backup to take a differential of");
        else
            backupFullBecause(&run, "BACKUP_TYPE=full");
        backupPlanFree(&plan);
        catClose(dryOpened);
        boltClose(connection);
        if (plannedCode != ERR_OK)
            return plannedCode;
        backupEmit(&run, BACKUP_EVENT_TYPE, NULL);
        backupEmit(&run, BACKUP_EVENT_DRY_RUN, NULL);
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
    BackupPlan plan;
    memset(&plan, 0, sizeof(plan));
    if (code == ERR_OK)
        code = backupPlanType(&run, catalog, &plan, false);
    if (code == ERR_OK)
        backupEmit(&run, BACKUP_EVENT_TYPE, NULL);
    if (code == ERR_OK)
        code = backupWriteArchive(&run, connection, &archive, created, &plan, &logical);
    if (code == ERR_OK) {
        manifest = manifestNew();
        backupFillManifest(manifest, request, out, created, connection, &logical);
        backupFillChain(manifest, out, &plan);
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
    backupPlanFree(&plan);
    manifestFree(manifest);
    logicalBackupResultFree(&logical);
    storageLockRelease(createLock);
    catClose(opened);
    boltClose(connection);
    return code;
}
