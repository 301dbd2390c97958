/* A named Neo4j instance over Bolt (instance.h): connects with routing for
 * neo4j:// URIs and the one server-version query. */
#include "neo4j/instance.h"

#include "common/log.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

/* One routing table per process, keyed by URI and database: a scheduler or
 * the API reuses it until its ttl runs out instead of asking every run. */
static pthread_mutex_t neo4jRoutingLock = PTHREAD_MUTEX_INITIALIZER;
static BoltRoutingTable neo4jRoutingTable;
static char neo4jRoutingKey[1024];

static ErrCode neo4jConnectRouted(const InstanceConfig *instance, BoltAccessMode mode, BoltReadFrom readFrom,
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
    char key[sizeof(neo4jRoutingKey)];
    snprintf(key, sizeof(key), "%s\n%s", instance->uri, instance->database ? instance->database : "");
    BoltRoutingTable table;
    pthread_mutex_lock(&neo4jRoutingLock);
    if (strcmp(key, neo4jRoutingKey) == 0)
        table = neo4jRoutingTable;
    else
        memset(&table, 0, sizeof(table));
    pthread_mutex_unlock(&neo4jRoutingLock);

    ErrCode code = boltConnectRouted(&options, &table, out);

    pthread_mutex_lock(&neo4jRoutingLock);
    neo4jRoutingTable = table;
    snprintf(neo4jRoutingKey, sizeof(neo4jRoutingKey), "%s", key);
    pthread_mutex_unlock(&neo4jRoutingLock);
    if (code != ERR_OK) {
        char safeUri[512];
        boltUriSafe(instance->uri, safeUri, sizeof(safeUri));
        errAddContext("instance %s (%s)", instance->name, safeUri);
        if (code == NEO4J_UNREACHABLE && instance->container && instance->container[0])
            errSetAction("Check Neo4j container status (%s) and its URI", instance->container);
    }
    return code;
}

ErrCode neo4jConnect(const InstanceConfig *instance, BoltConnection **out)
{
    return neo4jConnectRouted(instance, BOLT_ACCESS_WRITE, BOLT_READ_FROM_PRIMARY, out);
}

ErrCode neo4jConnectRead(const InstanceConfig *instance, BoltReadFrom readFrom, BoltConnection **out)
{
    return neo4jConnectRouted(instance, BOLT_ACCESS_READ, readFrom, out);
}

static void neo4jCopyString(char *out, size_t size, const BoltValue *value)
{
    if (value->type == BOLT_STRING)
        snprintf(out, size, "%s", value->as.string.data);
}

ErrCode neo4jServerVersion(BoltConnection *connection, char *version, size_t versionSize, char *edition,
                           size_t editionSize)
{
    version[0] = '\0';
    edition[0] = '\0';
    /* Filtered here, not with WHERE: the system database takes no WHERE. */
    ErrCode code = boltRun(connection, "CALL dbms.components() YIELD name, versions, edition "
                                       "RETURN name, versions[0], edition",
                           NULL, &(BoltQueryOptions){.database = "system", .mode = BOLT_ACCESS_READ});
    const BoltValue *record = NULL;
    while (code == ERR_OK && (code = boltFetch(connection, &record)) == ERR_OK && record) {
        if (record->type != BOLT_LIST || record->as.list.count != 3)
            continue;
        const BoltValue *name = &record->as.list.items[0];
        if (name->type == BOLT_STRING && strcmp(name->as.string.data, "Neo4j Kernel") != 0)
            continue;
        neo4jCopyString(version, versionSize, &record->as.list.items[1]);
        neo4jCopyString(edition, editionSize, &record->as.list.items[2]);
    }
    if (code == NEO4J_QUERY_FAILED) {
        logDebug("dbms.components() refused (%s); taking the version from the server agent", errLast()->reason);
        errClear();
        code = ERR_OK;
    }
    if (code == ERR_OK && version[0] == '\0') {
        const char *agent = boltServerAgent(connection);
        const char *slash = agent ? strchr(agent, '/') : NULL;
        snprintf(version, versionSize, "%s", slash ? slash + 1 : "");
    }
    return code;
}
