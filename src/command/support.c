/* Helpers shared by the commands (support.h). */
#include "command/support.h"

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

ErrCode supportOpenCatalog(CommandContext *context, bool create, Catalog **out)
{
    const char *root = cfgGet(context->config, CFG_BACKUP_STORAGE_PATH);
    if (!root)
        return cfgStoragePathMissing();
    return catOpen(out, root, create);
}

ErrCode supportBeginCreate(CommandContext *context, const char *purpose, Catalog **catalog, Lock **createLock)
{
    char lockPath[4096];
    ErrCode code = supportOpenCatalog(context, true, catalog);
    if (code == ERR_OK)
        code = fsPathJoin(lockPath, sizeof(lockPath), catRoot(*catalog), ".create.lock");
    if (code == ERR_OK)
        code = lockAcquire(createLock, lockPath, LOCK_EXCLUSIVE, 0, purpose);
    if (code == ERR_OK) {
        CatNameList leftovers = {0};
        if (catCleanLeftovers(*catalog, false, &leftovers) == ERR_OK)
            for (size_t index = 0; index < leftovers.count; index++)
                logWarn("Removed leftover of an interrupted run: %s", leftovers.names[index]);
        catNameListFree(&leftovers);
    }
    return code;
}
