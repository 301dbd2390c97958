/* Routing for neo4j:// URIs: parses ROUTE's routing table, orders the servers
 * for a read or a write, and connects to the first that answers
 * (bolt/routing.h has the contract). */
#include "bolt/routing.h"

#include "common/log.h"
#include "common/timeutil.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- settings and addresses ------------------------------------------ */

static const char *const routingReadFromNames[] = {"secondary", "primary", "any"};

ErrCode boltReadFromParse(const char *text, BoltReadFrom *out)
{
    for (unsigned index = 0; index < 3; index++)
        if (text && strcasecmp(text, routingReadFromNames[index]) == 0) {
            *out = (BoltReadFrom)index;
            return ERR_OK;
        }
    ErrCode code = errSet(CONFIG_INVALID, "invalid NEO4J_READ_FROM '%s'", text ? text : "");
    errSetAction("Set NEO4J_READ_FROM to secondary, primary or any");
    return code;
}

const char *boltReadFromName(BoltReadFrom readFrom)
{
    return (unsigned)readFrom < 3 ? routingReadFromNames[readFrom] : "?";
}

static bool routingHostValid(const char *host, size_t length, bool ipv6)
{
    if (length == 0)
        return false;
    for (size_t index = 0; index < length; index++) {
        unsigned char symbol = (unsigned char)host[index];
        bool allowed = isalnum(symbol) || symbol == '-' || symbol == '.' || symbol == '_' ||
                       (ipv6 && (symbol == ':' || symbol == '%'));
        if (!allowed)
            return false;
    }
    return true;
}

ErrCode boltAddressParse(const char *text, BoltAddress *out)
{
    memset(out, 0, sizeof(*out));
    const char *host = text;
    size_t hostLength = 0;
    const char *portText = NULL;
    bool ipv6 = text[0] == '[';
    if (ipv6) {
        const char *closing = strchr(text, ']');
        if (!closing)
            return errSet(CONFIG_INVALID, "server address without a closing ']'");
        host = text + 1;
        hostLength = (size_t)(closing - host);
        if (closing[1] == ':')
            portText = closing + 2;
        else if (closing[1] != '\0')
            return errSet(CONFIG_INVALID, "unexpected text after an IPv6 server address");
    } else {
        const char *colon = strchr(text, ':');
        hostLength = colon ? (size_t)(colon - text) : strlen(text);
        portText = colon ? colon + 1 : NULL;
    }
    if (!routingHostValid(host, hostLength, ipv6) || hostLength >= sizeof(out->host))
        return errSet(CONFIG_INVALID, "server address with an invalid host");
    unsigned long port = 7687;
    if (portText) {
        size_t portLength = strlen(portText);
        if (portLength == 0 || portLength > 5 || strspn(portText, "0123456789") != portLength)
            return errSet(CONFIG_INVALID, "server address with an invalid port");
        port = strtoul(portText, NULL, 10);
        if (port == 0 || port > 65535)
            return errSet(CONFIG_INVALID, "server address with an invalid port");
    }
    memcpy(out->host, host, hostLength);
    out->host[hostLength] = '\0';
    out->port = (uint16_t)port;
    return ERR_OK;
}

static bool routingSameAddress(const BoltAddress *left, const BoltAddress *right)
{
    return left->port == right->port && strcasecmp(left->host, right->host) == 0;
}

static void routingAddUnique(BoltAddress *list, unsigned *count, unsigned capacity, const BoltAddress *address)
{
    for (unsigned index = 0; index < *count; index++)
        if (routingSameAddress(&list[index], address))
            return;
    if (*count < capacity)
        list[(*count)++] = *address;
}

/* ---- the routing table ------------------------------------------------ */

static ErrCode routingTableInvalid(const char *why)
{
    ErrCode code = errSet(NEO4J_PROTOCOL_ERROR, "the server sent a routing table that %s", why);
    errSetAction("Check that NEO4J_URI points at a Neo4j server, or use bolt:// to connect directly");
    return code;
}

ErrCode boltRoutingTableParse(const BoltValue *rt, double now, BoltRoutingTable *out)
{
    memset(out, 0, sizeof(*out));
    if (!rt || rt->type != BOLT_MAP)
        return routingTableInvalid("is not a map");
    const BoltValue *ttl = boltMapGet(rt, "ttl");
    if (!ttl || ttl->type != BOLT_INT || ttl->as.integer < 0)
        return routingTableInvalid("has no valid ttl");
    const BoltValue *servers = boltMapGet(rt, "servers");
    if (!servers || servers->type != BOLT_LIST)
        return routingTableInvalid("has no list of servers");
    snprintf(out->database, sizeof(out->database), "%s", boltMapGetString(rt, "db", ""));
    for (uint32_t serverIndex = 0; serverIndex < servers->as.list.count; serverIndex++) {
        const BoltValue *server = &servers->as.list.items[serverIndex];
        if (server->type != BOLT_MAP)
            return routingTableInvalid("lists a server that is not a map");
        const char *role = boltMapGetString(server, "role", NULL);
        const BoltValue *addresses = boltMapGet(server, "addresses");
        if (!role || !addresses || addresses->type != BOLT_LIST)
            return routingTableInvalid("lists a server without role or addresses");
        BoltAddress *list = NULL;
        unsigned *count = NULL;
        if (strcmp(role, "ROUTE") == 0) {
            list = out->routers;
            count = &out->routerCount;
        } else if (strcmp(role, "READ") == 0) {
            list = out->readers;
            count = &out->readerCount;
        } else if (strcmp(role, "WRITE") == 0) {
            list = out->writers;
            count = &out->writerCount;
        } else {
            continue; /* a role a newer server may add: not ours to use */
        }
        for (uint32_t addressIndex = 0; addressIndex < addresses->as.list.count; addressIndex++) {
            const BoltValue *text = &addresses->as.list.items[addressIndex];
            BoltAddress address;
            if (text->type != BOLT_STRING || boltAddressParse(text->as.string.data, &address) != ERR_OK)
                return routingTableInvalid("lists an address that is not host:port");
            routingAddUnique(list, count, BOLT_ROUTING_MAX_SERVERS, &address);
            if (list != out->routers)
                routingAddUnique(out->anyOrder, &out->anyCount, 2 * BOLT_ROUTING_MAX_SERVERS, &address);
        }
    }
    /* Clamped so that a huge ttl cannot overflow; a day is plenty for a backup. */
    out->ttlSeconds = ttl->as.integer > 86400 ? 86400 : ttl->as.integer;
    out->expiresAt = now + (double)out->ttlSeconds;
    if (out->expiresAt <= 0)
        out->expiresAt = 1e-9; /* 0 means "no table" */
    return ERR_OK;
}

bool boltRoutingTableExpired(const BoltRoutingTable *table, double now)
{
    return table->expiresAt == 0 || now >= table->expiresAt;
}

static bool routingContains(const BoltAddress *list, unsigned count, const BoltAddress *address)
{
    for (unsigned index = 0; index < count; index++)
        if (routingSameAddress(&list[index], address))
            return true;
    return false;
}

static void routingAddCandidates(const BoltAddress *list, unsigned count, const char *why,
                                 BoltRouteCandidate *out, unsigned capacity, unsigned *written)
{
    for (unsigned index = 0; index < count; index++) {
        bool seen = false;
        for (unsigned previous = 0; previous < *written; previous++)
            seen = seen || routingSameAddress(&out[previous].address, &list[index]);
        if (!seen && *written < capacity)
            out[(*written)++] = (BoltRouteCandidate){.address = list[index], .why = why};
    }
}

unsigned boltRoutingCandidates(const BoltRoutingTable *table, BoltAccessMode mode, BoltReadFrom readFrom,
                               BoltRouteCandidate *out, unsigned capacity, bool *fellBack)
{
    unsigned written = 0;
    *fellBack = false;
    if (mode == BOLT_ACCESS_WRITE) {
        routingAddCandidates(table->writers, table->writerCount, "a primary (WRITE) server, as writes need",
                             out, capacity, &written);
        return written;
    }
    switch (readFrom) {
    case BOLT_READ_FROM_SECONDARY:
        routingAddCandidates(table->readers, table->readerCount,
                             "a secondary (READ) server, as NEO4J_READ_FROM=secondary asks", out, capacity,
                             &written);
        if (written == 0) {
            *fellBack = table->writerCount > 0;
            routingAddCandidates(table->writers, table->writerCount,
                                 "the primary (WRITE) server: the routing table lists no secondary (READ) "
                                 "server, so NEO4J_READ_FROM=secondary falls back to it",
                                 out, capacity, &written);
        }
        break;
    case BOLT_READ_FROM_PRIMARY:
        routingAddCandidates(table->writers, table->writerCount,
                             "a primary (WRITE) server, as NEO4J_READ_FROM=primary asks", out, capacity, &written);
        break;
    case BOLT_READ_FROM_ANY:
        for (unsigned index = 0; index < table->anyCount; index++)
            routingAddCandidates(&table->anyOrder[index], 1,
                                 routingContains(table->readers, table->readerCount, &table->anyOrder[index])
                                     ? "a secondary (READ) server, the table's first answering server "
                                       "(NEO4J_READ_FROM=any)"
                                     : "a primary (WRITE) server, the table's first answering server "
                                       "(NEO4J_READ_FROM=any)",
                                 out, capacity, &written);
        break;
    }
    return written;
}

/* ---- connecting ------------------------------------------------------- */

/* Errors every server would give the same way: trying the next one only
 * repeats them (and a wrong password would count against a rate limit). */
static bool routingFatal(ErrCode code)
{
    if (code == NEO4J_AUTH_FAILED || code == CONFIG_INVALID)
        return true;
    return code == NEO4J_QUERY_FAILED && strncmp(errLast()->serverCode, "Neo.ClientError.", 16) == 0;
}

/* Connects to one routed address with the seed's scheme (so its TLS mode and
 * CA file), keeping the seed's address as the routing context. */
static ErrCode routingConnectTo(const BoltRoutedOptions *options, const BoltUri *seed, const char *seedAddress,
                                const BoltAddress *address, BoltConnection **out)
{
    char hostPort[300];
    boltAddressFormat(address->host, address->port, hostPort, sizeof(hostPort));
    char uri[340];
    snprintf(uri, sizeof(uri), "%s://%s", seed->scheme, hostPort);
    BoltConnectOptions connect = options->connect;
    connect.uri = uri;
    connect.routingContext = seedAddress;
    return boltConnect(&connect, out);
}

/* Fetches a new routing table: from the routers of the old table first (a
 * seed may be a load balancer or one server of many), then the seed. On
 * success *router is the connection that answered, for reuse. */
static ErrCode routingRefresh(const BoltRoutedOptions *options, const BoltUri *seed, const char *seedAddress,
                              BoltRoutingTable *table, BoltConnection **router, BoltAddress *routerAddress)
{
    BoltAddress routers[BOLT_ROUTING_MAX_SERVERS + 1];
    unsigned routerCount = 0;
    for (unsigned index = 0; index < table->routerCount; index++)
        routingAddUnique(routers, &routerCount, BOLT_ROUTING_MAX_SERVERS, &table->routers[index]);
    BoltAddress seedServer = {.port = seed->port};
    snprintf(seedServer.host, sizeof(seedServer.host), "%s", seed->host);
    routingAddUnique(routers, &routerCount, BOLT_ROUTING_MAX_SERVERS + 1, &seedServer);

    ErrCode code = ERR_INTERNAL;
    for (unsigned index = 0; index < routerCount; index++) {
        char hostPort[300];
        boltAddressFormat(routers[index].host, routers[index].port, hostPort, sizeof(hostPort));
        BoltConnection *connection = NULL;
        code = routingConnectTo(options, seed, seedAddress, &routers[index], &connection);
        Arena *arena = arenaNew(0);
        BoltValue rt;
        if (code == ERR_OK)
            code = boltRoute(connection, options->database, arena, &rt);
        if (code == ERR_OK)
            code = boltRoutingTableParse(&rt, timeMonotonic(), table);
        arenaFree(arena);
        if (code == ERR_OK) {
            logDebug("Routing table of %s from %s: %u router(s), %u secondary, %u primary, ttl %llds",
                     table->database[0] ? table->database : "the home database", hostPort,
                     table->routerCount, table->readerCount, table->writerCount,
                     (long long)table->ttlSeconds);
            *router = connection;
            *routerAddress = routers[index];
            return ERR_OK;
        }
        boltClose(connection);
        if (!routingFatal(code) && index + 1 < routerCount)
            logWarn("Routing: %s could not give a routing table (%s); asking the next router", hostPort,
                    errLast()->reason);
        errAddContext("fetching the routing table from %s", hostPort);
        if (routingFatal(code))
            return code;
    }
    memset(table, 0, sizeof(*table));
    return code;
}

ErrCode boltConnectRouted(const BoltRoutedOptions *options, BoltRoutingTable *cache, BoltConnection **out)
{
    *out = NULL;
    if (!options || !options->connect.uri)
        return errSet(CONFIG_INVALID, "no Neo4j URI given");
    BoltUri seed;
    ErrCode code = boltUriParse(options->connect.uri, &seed);
    if (code != ERR_OK)
        return code;
    if (!seed.routing)
        return boltConnect(&options->connect, out);

    BoltRoutingTable local;
    memset(&local, 0, sizeof(local));
    BoltRoutingTable *table = cache ? cache : &local;
    char seedAddress[300];
    boltAddressFormat(seed.host, seed.port, seedAddress, sizeof(seedAddress));
    BoltConnection *router = NULL;
    BoltAddress routerAddress = {0};
    if (boltRoutingTableExpired(table, timeMonotonic())) {
        code = routingRefresh(options, &seed, seedAddress, table, &router, &routerAddress);
        if (code != ERR_OK)
            return code;
    }

    BoltRouteCandidate candidates[2 * BOLT_ROUTING_MAX_SERVERS];
    bool fellBack = false;
    unsigned count = boltRoutingCandidates(table, options->mode, options->readFrom, candidates,
                                           2 * BOLT_ROUTING_MAX_SERVERS, &fellBack);
    const char *database = table->database[0] ? table->database : "the home database";
    if (count == 0) {
        boltClose(router);
        code = errSet(NEO4J_UNREACHABLE, "the routing table of %s lists no %s server", database,
                      options->mode == BOLT_ACCESS_WRITE || options->readFrom == BOLT_READ_FROM_PRIMARY
                          ? "primary (WRITE)"
                          : "READ or WRITE");
        errSetAction("Check the cluster's state (SHOW SERVERS, SHOW DATABASES) or set NEO4J_READ_FROM=any");
        memset(table, 0, sizeof(*table)); /* ask again next time */
        return code;
    }
    char tried[512] = "";
    for (unsigned index = 0; index < count; index++) {
        const BoltRouteCandidate *candidate = &candidates[index];
        char hostPort[300];
        boltAddressFormat(candidate->address.host, candidate->address.port, hostPort, sizeof(hostPort));
        BoltConnection *connection = NULL;
        if (router && routingSameAddress(&routerAddress, &candidate->address)) {
            connection = router; /* the router is the chosen server: no second login */
            router = NULL;
            code = ERR_OK;
        } else {
            code = routingConnectTo(options, &seed, seedAddress, &candidate->address, &connection);
        }
        if (code == ERR_OK) {
            boltClose(router);
            logInfo("Routing: %s %s (%s), %s", options->mode == BOLT_ACCESS_WRITE ? "writing to" : "reading from",
                    hostPort, database, candidate->why);
            *out = connection;
            return ERR_OK;
        }
        size_t used = strlen(tried);
        snprintf(tried + used, sizeof(tried) - used, "%s%s", used ? ", " : "", hostPort);
        if (routingFatal(code)) {
            boltClose(router);
            return code;
        }
        if (index + 1 < count)
            logWarn("Routing: %s did not answer (%s); trying the next server of the routing table", hostPort,
                    errLast()->reason);
    }
    boltClose(router);
    memset(table, 0, sizeof(*table)); /* every server failed: the table is stale, ask again next time */
    errAddContext("trying every server of the routing table (%s)", tried);
    return code;
}
