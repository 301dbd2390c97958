/* Helpers the commands share: connecting to instances, opening the catalog,
 * the server version, and the contract's failure block. */
#include "command/support.h"

#include "backup/backup.h"

#include "common/fsutil.h"
#include "common/log.h"
#include "neo4j/instance.h"

#include <stdio.h>
#include <string.h>

ErrCode supportConnectSource(const Config *config, const InstanceConfig *instance, BoltConnection **out)
{
    BoltReadFrom readFrom = BOLT_READ_FROM_SECONDARY;
    const char *setting = cfgGet(config, CFG_NEO4J_READ_FROM);
    if (setting) {
        ErrCode code = boltReadFromParse(setting, &readFrom);
        if (code != ERR_OK)
            return code;
    }
    return neo4jConnectRead(instance, readFrom, out);
}

ErrCode supportConnectMode(const Config *config, const InstanceConfig *instance, BoltAccessMode mode,
                           BoltConnection **out)
{
    return mode == BOLT_ACCESS_WRITE ? neo4jConnect(instance, out) : supportConnectSource(config, instance, out);
}

const BackupInstanceAccess supportInstanceAccess = {
    .connect = supportConnectMode,
    .serverVersion = neo4jServerVersion,
};

ErrCode supportOpenCatalog(CommandContext *context, bool create, Catalog **out)
{
    return catOpenConfigured(context->config, create, out);
}

static void supportOnLeftover(const char *name, void *payload)
{
    logWarn("Removed leftover of an interrupted run: %s", name);
}

ErrCode supportBeginCreate(CommandContext *context, const char *purpose, Catalog **catalog, StorageLock **createLock)
{
    ErrCode code = supportOpenCatalog(context, true, catalog);
    if (code == ERR_OK)
        code = backupBeginCreate(*catalog, purpose, createLock, supportOnLeftover, NULL);
    return code;
}
