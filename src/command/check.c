/* neo4j-backup --check: a preflight that changes nothing. */
#include "command/support.h"
#include "restore/health.h"
#include "storage/storage.h"

#include "common/format.h"
#include "common/fsutil.h"
#include "common/log.h"

#include <stdio.h>
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
    if (location.kind != STORAGE_LOCATION_POSIX) {
        /* Reading the listing proves the endpoint, the credentials and the
         * bucket without writing anything. */
        Catalog *catalog = NULL;
        CatList list = {0};
        ErrCode code = catOpenConfigured(context->config, false, &catalog);
        if (code == ERR_OK)
            code = catList(catalog, &list);
        if (code == ERR_OK)
            logInfo("Storage: %s is reachable and readable with these credentials (%zu backups); object storage "
                    "has no free-space check",
                    root, list.count);
        catListFree(&list);
        catClose(catalog);
        return code;
    }
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
    logSuccess("Preflight passed");
    return ERR_OK;
}
