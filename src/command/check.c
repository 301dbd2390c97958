/* neo4j-backup --check: a preflight that changes nothing (on object storage
 * it writes and removes one probe object, as an upload would). */
#include "command/support.h"
#include "restore/health.h"
#include "storage/storage_settings.h"

#include "common/format.h"
#include "common/fsutil.h"
#include "common/log.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static ErrCode checkNeo4j(CommandContext *context)
{
    InstanceConfig source;
    ErrCode code = cfgInstance(context->config, CFG_PRODUCTION_INSTANCE, &source);
    if (code != ERR_OK)
        return code;
    char safeUri[512];
    boltUriSafe(source.uri, safeUri, sizeof(safeUri));
    logInfo("Connecting to %s as %s...", safeUri, source.user);
    BoltConnection *connection = NULL;
    code = supportConnectSource(context->config, &source, &connection);
    if (code == ERR_OK) {
        char version[64];
        char edition[64];
        code = neo4jServerVersion(connection, version, sizeof(version), edition, sizeof(edition));
        if (code == ERR_OK) {
            logInfo("Neo4j version: %s (%s edition)", version, edition);
            logInfo("Bolt protocol: %u.%u", boltVersionMajor(connection),
                    boltVersionMinor(connection));
        }
    }
    if (code == ERR_OK) {
        uint64_t nodes = 0;
        uint64_t relationships = 0;
        code = healthGraphCounts(connection, source.database, &nodes, &relationships);
        if (code == ERR_OK)
            logInfo("Database: %s (%llu nodes, %llu relationships)", source.database,
                    (unsigned long long)nodes, (unsigned long long)relationships);
        else
            errAddContext("database %s", source.database);
    }
    boltClose(connection);
    cfgInstanceFree(&source);
    return code;
}

/* Writes, reads back and removes one small probe object: proves the
 * credentials may do what a backup does, and leaves nothing behind. */
static ErrCode checkProbeObject(Storage *storage)
{
    char name[96], hostName[64] = "host";
    gethostname(hostName, sizeof(hostName) - 1);
    for (char *cursor = hostName; *cursor; cursor++)
        if (!isalnum((unsigned char)*cursor) && *cursor != '-')
            *cursor = '-';
    snprintf(name, sizeof(name), ".check-%s-%ld", hostName, (long)getpid());
    static const char probe[] = "neo4j-backup --check probe\n";
    StorageWrite *writer = NULL;
    ErrCode code = storageWriteOpen(storage, name, 0, &writer);
    if (code == ERR_OK && (code = storageWrite(writer, probe, sizeof(probe) - 1)) != ERR_OK)
        storageWriteAbort(writer);
    else if (code == ERR_OK)
        code = storageWriteCommit(writer);
    char back[sizeof(probe)] = "";
    size_t got = 0;
    StorageRead *reader = NULL;
    if (code == ERR_OK)
        code = storageReadOpen(storage, name, 0, STORAGE_READ_ALL, &reader);
    if (code == ERR_OK)
        code = storageRead(reader, back, sizeof(back), &got);
    storageReadClose(reader);
    if (code == ERR_OK && (got != sizeof(probe) - 1 || memcmp(back, probe, got) != 0))
        code = errSet(BACKUP_IO_FAILED, "the probe object %s read back differs from what was written", name);
    ErrCode removed = storageRemove(storage, name);
    return code != ERR_OK ? code : removed;
}

/* Locks on object storage rest on conditional writes (If-None-Match: *): a
 * second taker of a held lock must be refused. A service that ignores the
 * header would let two hosts write one repository at once: say so. */
static ErrCode checkConditionalWrites(Storage *storage)
{
    char name[64];
    snprintf(name, sizeof(name), ".check-lock-%ld", (long)getpid());
    StorageLockOwner owner = {.owner = "neo4j-backup --check"};
    StorageLock *first = NULL, *second = NULL;
    ErrCode code = storageLockAcquire(storage, name, &owner, 60, &first);
    if (code != ERR_OK)
        return code;
    ErrCode again = storageLockAcquire(storage, name, &owner, 60, &second);
    if (again == ERR_OK) {
        logWarn("Storage: this service ignores conditional writes (If-None-Match): the repository locks cannot "
                "keep two hosts from writing at once; run one scheduler per repository");
        storageLockRelease(second);
    } else if (again == BACKUP_LOCKED) {
        errClear();
        logInfo("Storage: conditional writes are honoured: repository locks exclude other hosts");
    } else {
        code = again;
    }
    storageLockRelease(first);
    return code;
}

static ErrCode checkObjectStorage(CommandContext *context, const StorageLocation *location, const char *root)
{
    S3Config s3;
    ErrCode code = storageS3ConfigFromSettings(context->config, location, &s3);
    if (code != ERR_OK)
        return code;
    logInfo("Storage: %s (endpoint %s, region %s, %s-style addressing)", root,
            s3.endpoint[0] ? s3.endpoint : "AWS S3", s3.region[0] ? s3.region : "us-east-1",
            s3.uriStyle == S3_URI_STYLE_PATH ? "path" : "virtual-hosted");
    if (s3.credentialSource == S3_CREDENTIALS_INSTANCE)
        logInfo("Storage: credentials of the instance role, from the metadata service at %s (IMDSv2)",
                s3.credentialsUri);
    else if (s3.credentialSource == S3_CREDENTIALS_CONTAINER)
        logInfo("Storage: credentials of the container role, from %s", s3.credentialsUri);
    else
        logInfo("Storage: credentials: access key %.4s... from the settings or the credentials file", s3.accessKey);
    explicit_bzero(&s3, sizeof(s3));
    Catalog *catalog = NULL;
    CatList list = {0};
    code = catOpenConfigured(context->config, false, &catalog);
    if (code == ERR_OK)
        code = catList(catalog, &list);
    if (code == ERR_OK)
        code = checkProbeObject(catStorage(catalog));
    if (code == ERR_OK)
        code = checkConditionalWrites(catStorage(catalog));
    if (code == ERR_OK)
        logInfo("Storage: listed (%zu backups), wrote, read back and removed a probe object; object storage has "
                "no free-space check",
                list.count);
    catListFree(&list);
    catClose(catalog);
    return code;
}

/* Storage problems are reported but do not hide the Neo4j result. */
static ErrCode checkStorage(CommandContext *context)
{
    const char *root = cfgGet(context->config, CFG_BACKUP_STORAGE_PATH);
    if (!root)
        return cfgStoragePathMissing();
    StorageLocation location;
    ErrCode parsed = storageLocationParse(root, &location);
    if (parsed != ERR_OK)
        return parsed;
    if (location.kind != STORAGE_LOCATION_POSIX)
        return checkObjectStorage(context, &location, root);
    if (!fsIsDirectory(root)) {
        logWarn("Storage path %s does not exist yet (it is created by the first backup)", root);
        return ERR_OK;
    }
    if (access(root, W_OK | X_OK) != 0) {
        errSet(BACKUP_IO_FAILED, "storage path %s is not writable by this user", root);
        return BACKUP_IO_FAILED;
    }
    FsSpace space;
    ErrCode code = fsSpace(root, &space);
    if (code != ERR_OK)
        return code;
    char available[FORMAT_TEXT_SIZE];
    char total[FORMAT_TEXT_SIZE];
    int64_t minimumPercent = 20;
    cfgGetInt(context->config, CFG_BACKUP_MIN_FREE_PERCENT, &minimumPercent);
    logInfo("Storage: %s exists, is writable, %s free of %s (%.0f%%)", root,
            fmtSize(available, sizeof(available), space.availableBytes),
            fmtSize(total, sizeof(total), space.totalBytes), space.freePercent);
    if (space.freePercent < (double)minimumPercent) {
        errSet(BACKUP_NO_SPACE, "only %.0f%% of %s is free, below BACKUP_MIN_FREE_PERCENT=%lld",
               space.freePercent, root, (long long)minimumPercent);
        return BACKUP_NO_SPACE;
    }
    return ERR_OK;
}

/* The second location (BACKUP_COPY_PATH): listed, and a probe written, read
 * back and removed through its storage, as for the primary. */
static ErrCode checkCopyLocation(CommandContext *context)
{
    const char *where = cfgGet(context->config, CFG_BACKUP_COPY_PATH);
    StorageLocation location;
    ErrCode code = storageLocationParse(where, &location);
    if (code != ERR_OK)
        return code;
    if (location.kind == STORAGE_LOCATION_POSIX && !fsIsDirectory(location.path)) {
        logWarn("Copy location %s does not exist yet (it is created by the first copy)", where);
        return ERR_OK;
    }
    Catalog *catalog = NULL;
    CatList list = {0};
    code = catCopyOpenConfigured(context->config, false, &catalog);
    if (code == ERR_OK)
        code = catList(catalog, &list);
    if (code == ERR_OK)
        code = checkProbeObject(catStorage(catalog));
    if (code == ERR_OK)
        logInfo("Copy location: %s: listed (%zu backups), wrote, read back and removed a probe object", where,
                list.count);
    catListFree(&list);
    catClose(catalog);
    return code;
}

ErrCode cmdCheck(CommandContext *context)
{
    logInfo("Running preflight checks...");
    ErrCode code = checkNeo4j(context);
    if (code != ERR_OK) {
        logErrorBlock("Preflight failed: Neo4j", false);
        return code;
    }
    code = checkStorage(context);
    if (code != ERR_OK) {
        logErrorBlock("Preflight failed: backup storage", code == BACKUP_NO_SPACE);
        return code;
    }
    code = catCopyConfigured(context->config) ? checkCopyLocation(context) : ERR_OK;
    if (code != ERR_OK) {
        logErrorBlock("Preflight failed: copy location (BACKUP_COPY_PATH)", false);
        return code;
    }
    logSuccess("Preflight passed");
    return ERR_OK;
}
