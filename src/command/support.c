#include "command/support.h"

#include "common/fsutil.h"
#include "common/log.h"

#include <pthread.h>

#include <stdio.h>
#include <string.h>

/* One routing table per process, keyed by URI and database: a scheduler or
 * the API reuses it until its ttl runs out instead of asking every run. */
static pthread_mutex_t supportRoutingLock = PTHREAD_MUTEX_INITIALIZER;
static BoltRoutingTable supportRoutingTable;
static char supportRoutingKey[1024];

static ErrCode supportConnectRouted(const InstanceConfig *instance, BoltAccessMode mode, BoltReadFrom readFrom,
                                    BoltConnection **out)
{
    BoltRoutedOptions options = {
        .connect =
            {
                .uri = instance->uri,
                .user = instance->user,
                .password = instance->password,
                .caFile = instance->caFile,
            },
        .database = instance->database,
        .mode = mode,
        .readFrom = readFrom,
    };
    char key[sizeof(supportRoutingKey)];
    snprintf(key, sizeof(key), "%s\n%s", instance->uri, instance->database ? instance->database : "");
    BoltRoutingTable table;
    pthread_mutex_lock(&supportRoutingLock);
    if (strcmp(key, supportRoutingKey) == 0)
        table = supportRoutingTable;
    else
        memset(&table, 0, sizeof(table));
    pthread_mutex_unlock(&supportRoutingLock);

    ErrCode code = boltConnectRouted(&options, &table, out);

    pthread_mutex_lock(&supportRoutingLock);
    supportRoutingTable = table;
    snprintf(supportRoutingKey, sizeof(supportRoutingKey), "%s", key);
    pthread_mutex_unlock(&supportRoutingLock);
    if (code != ERR_OK) {
        char safeUri[512];
        supportSafeUri(instance->uri, safeUri, sizeof(safeUri));
        errAddContext("instance %s (%s)", instance->name, safeUri);
        if (code == NEO4J_UNREACHABLE && instance->container && instance->container[0])
            errSetAction("Check Neo4j container status (%s) and its URI", instance->container);
    }
    return code;
}

ErrCode supportConnect(const InstanceConfig *instance, BoltConnection **out)
{
    return supportConnectRouted(instance, BOLT_ACCESS_WRITE, BOLT_READ_FROM_PRIMARY, out);
}

ErrCode supportConnectSource(const Config *config, const InstanceConfig *instance, BoltConnection **out)
{
    BoltReadFrom readFrom = BOLT_READ_FROM_SECONDARY;
    const char *setting = cfgGet(config, CFG_NEO4J_READ_FROM);
    if (setting) {
        ErrCode code = boltReadFromParse(setting, &readFrom);
        if (code != ERR_OK)
            return code;
    }
    return supportConnectRouted(instance, BOLT_ACCESS_READ, readFrom, out);
}

ErrCode supportOpenCatalog(CommandContext *context, bool create, Catalog **out)
{
    const char *root = cfgGet(context->config, CFG_BACKUP_STORAGE_PATH);
    if (!root)
        return cfgStoragePathMissing();
    return catOpen(out, root, create);
}

ErrCode supportServerVersion(BoltConnection *connection, char *version, size_t versionSize,
                             char *edition, size_t editionSize)
{
    snprintf(version, versionSize, "unknown");
    snprintf(edition, editionSize, "unknown");
    /* 2025+ servers add a "Cypher" component (versions ["5", "25"]): only the
     * kernel's counts. Filtered here: the system database allows no WHERE. */
    ErrCode code = boltRun(connection, "CALL dbms.components() YIELD name, versions, edition "
                                       "RETURN name, versions[0], edition",
                           NULL, &(BoltQueryOptions){.database = "system"});
    if (code != ERR_OK)
        return code;
    const BoltValue *record = NULL;
    while ((code = boltFetch(connection, &record)) == ERR_OK && record) {
        const BoltValue *nameValue = &record->as.list.items[0];
        const BoltValue *versionValue = &record->as.list.items[1];
        const BoltValue *editionValue = &record->as.list.items[2];
        if (nameValue->type == BOLT_STRING && strcmp(nameValue->as.string.data, "Neo4j Kernel") != 0)
            continue;
        if (versionValue->type == BOLT_STRING)
            snprintf(version, versionSize, "%s", versionValue->as.string.data);
        if (editionValue->type == BOLT_STRING)
            snprintf(edition, editionSize, "%s", editionValue->as.string.data);
    }
    return code;
}

void supportSafeUri(const char *uri, char *out, size_t size)
{
    const char *scheme = strstr(uri, "://");
    const char *at = scheme ? strchr(scheme + 3, '@') : NULL;
    if (scheme && at)
        snprintf(out, size, "%.*s://%s", (int)(scheme - uri), uri, at + 1);
    else
        snprintf(out, size, "%s", uri);
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
