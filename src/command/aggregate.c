/* neo4j-backup --aggregate <backup_id>: the aggregate service
 * (backup/aggregate.h) on the configured repository, its outcome printed. */
#include "command/support.h"

#include "backup/aggregate.h"
#include "catalog/catalog_key.h"
#include "catalog/catalog_settings.h"
#include "common/format.h"
#include "common/log.h"

#include <stdio.h>
#include <string.h>

ErrCode cmdAggregate(CommandContext *context, const char *backupId)
{
    Catalog *catalog = NULL;
    ArcCompression compression = ARC_COMPRESSION_ZSTD;
    ErrCode code = arcCompressionParse(cfgGet(context->config, CFG_BACKUP_COMPRESSION), &compression);
    if (code == ERR_OK)
        code = supportOpenCatalog(context, false, &catalog);
    CryptoMasterKey masterKey;
    bool keyed = false;
    if (code == ERR_OK)
        code = catMasterKeyConfigured(context->config, catalog, false, &masterKey, &keyed);
    AggregateResult result;
    memset(&result, 0, sizeof(result));
    if (code == ERR_OK) {
        logInfo("Aggregating backup %s into a full backup...", backupId);
        AggregateRequest request = {
            .catalog = catalog,
            .backupId = backupId,
            .compression = compression,
            .masterKey = keyed ? &masterKey : NULL,
            .dryRun = context->dryRun,
            .cancelFlag = context->cancelFlag,
        };
        code = backupAggregate(&request, &result);
    }
    if (keyed)
        cryptoMasterKeyWipe(&masterKey);
    char size[FORMAT_TEXT_SIZE];
    char chainSize[FORMAT_TEXT_SIZE];
    if (code != ERR_OK) {
        logErrorBlock("Failed to aggregate backup", code == BACKUP_NO_SPACE);
    } else if (context->dryRun) {
        logInfo("Dry run: would write a full backup of the state at %s from its chain of %zu backup%s (%s); "
                "nothing was changed",
                backupId, result.chainLinks, result.chainLinks == 1 ? "" : "s",
                fmtSize(chainSize, sizeof(chainSize), result.chainBytes));
    } else {
        logInfo("Backup ID: %s", result.id);
        logInfo("Checksum SHA256: %s", result.sha256);
        logInfo("Graph stats: %llu nodes, %llu relationships, %llu schema items",
                (unsigned long long)result.nodes, (unsigned long long)result.relationships,
                (unsigned long long)result.schemaItems);
        logSuccess("Aggregated %s from its chain of %zu backup%s (%s) into full backup %s (%s), content verified",
                   backupId, result.chainLinks, result.chainLinks == 1 ? "" : "s",
                   fmtSize(chainSize, sizeof(chainSize), result.chainBytes), result.id,
                   fmtSize(size, sizeof(size), result.compressedBytes));
    }
    ErrDetail failure = errSave();
    catClose(catalog);
    errRestore(&failure);
    return code;
}
