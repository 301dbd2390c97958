/* Unit tests for routing (src/bolt/routing.c, ROUTE in connection.c) and the
 * clear-text password predicate (uri.c): table parsing, the choice of the
 * server by NEO4J_READ_FROM, and routed connects against fake cluster members
 * on loopback (tests/unit/fake_router.h, over fake_bolt.h): a three-server
 * table, a router that fails, a reader that refuses. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "bolt/connection.h"
#include "bolt/routing.h"
#include "common/log.h"
#include "common/timeutil.h"

#include "fake_router.h"

#include <stdlib.h>
#include <string.h>

#define TEST_PASSWORD "s3cret-Pw!"

/* ---- captured log lines --------------------------------------------- */

typedef struct {
    char text[4096];
} CapturedLog;

static void captureLog(LogLevel level, const char *line, void *payload)
{
    CapturedLog *captured = payload;
    size_t used = strlen(captured->text);
    snprintf(captured->text + used, sizeof(captured->text) - used, "%d|%s\n", (int)level, line);
}

static void assertLogged(const CapturedLog *captured, const char *fragment)
{
    if (!strstr(captured->text, fragment))
        fail_msg("log lacks '%s':\n%s", fragment, captured->text);
}

/* ---- pure functions -------------------------------------------------- */

static BoltValue tableServer(Arena *arena, const char *role, const char *first, const char *second)
{
    BoltValue addresses = boltList(arena, second ? 2 : 1);
    addresses.as.list.items[0] = boltString(arena, first);
    if (second)
        addresses.as.list.items[1] = boltString(arena, second);
    BoltValue server = boltMap(arena, 2);
    boltMapSet(arena, &server, 0, "addresses", addresses);
    boltMapSet(arena, &server, 1, "role", boltString(arena, role));
    return server;
}

static BoltValue threeServerTable(Arena *arena)
{
    BoltValue servers = boltList(arena, 4);
    servers.as.list.items[0] = tableServer(arena, "ROUTE", "a.example:7687", "b.example:7687");
    servers.as.list.items[1] = tableServer(arena, "WRITE", "a.example:7687", NULL);
    servers.as.list.items[2] = tableServer(arena, "READ", "b.example:7687", "[fd00::3]:7688");
    servers.as.list.items[3] = tableServer(arena, "ARBITER", "z.example:1", NULL);
    BoltValue table = boltMap(arena, 3);
    boltMapSet(arena, &table, 0, "ttl", boltInt(300));
    boltMapSet(arena, &table, 1, "db", boltString(arena, "neo4j"));
    boltMapSet(arena, &table, 2, "servers", servers);
    return table;
}

static void testTableParse(void **state)
{
    (void)state;
    Arena *arena = arenaNew(0);
    BoltValue rt = threeServerTable(arena);
    BoltRoutingTable table;
    assert_int_equal(boltRoutingTableParse(&rt, 1000.0, &table), ERR_OK);
    assert_int_equal(table.ttlSeconds, 300);
    assert_string_equal(table.database, "neo4j");
    assert_int_equal(table.routerCount, 2);
    assert_int_equal(table.writerCount, 1);
    assert_int_equal(table.readerCount, 2);
    assert_string_equal(table.readers[1].host, "fd00::3");
    assert_int_equal(table.readers[1].port, 7688);
    assert_int_equal(table.anyCount, 3); /* a, b, fd00::3; the unknown role is skipped */
    assert_false(boltRoutingTableExpired(&table, 1299.0));
    assert_true(boltRoutingTableExpired(&table, 1300.0));
    BoltRoutingTable empty = {0};
    assert_true(boltRoutingTableExpired(&empty, 0.0));

    /* Broken tables are protocol errors, not crashes. */
    BoltValue noTtl = boltMap(arena, 1);
    boltMapSet(arena, &noTtl, 0, "servers", boltList(arena, 0));
    assert_int_equal(boltRoutingTableParse(&noTtl, 0, &table), NEO4J_PROTOCOL_ERROR);
    BoltValue badAddress = threeServerTable(arena);
    badAddress.as.map.entries[2].value.as.list.items[2] = tableServer(arena, "READ", "b.example:notaport", NULL);
    assert_int_equal(boltRoutingTableParse(&badAddress, 0, &table), NEO4J_PROTOCOL_ERROR);
    assert_int_equal(boltRoutingTableParse(NULL, 0, &table), NEO4J_PROTOCOL_ERROR);
    arenaFree(arena);
}

static void testAddressParse(void **state)
{
    (void)state;
    BoltAddress address;
    assert_int_equal(boltAddressParse("db1.example:7688", &address), ERR_OK);
    assert_string_equal(address.host, "db1.example");
    assert_int_equal(address.port, 7688);
    assert_int_equal(boltAddressParse("db1", &address), ERR_OK);
    assert_int_equal(address.port, 7687);
    assert_int_equal(boltAddressParse("[::1]:9", &address), ERR_OK);
    assert_string_equal(address.host, "::1");
    assert_int_equal(boltAddressParse("[::1", &address), CONFIG_INVALID);
    assert_int_equal(boltAddressParse("host:0", &address), CONFIG_INVALID);
    assert_int_equal(boltAddressParse("host:65536", &address), CONFIG_INVALID);
    assert_int_equal(boltAddressParse("ho st:1", &address), CONFIG_INVALID);
    assert_int_equal(boltAddressParse(":7687", &address), CONFIG_INVALID);
}

static void testReadFromParse(void **state)
{
    (void)state;
    BoltReadFrom readFrom;
    assert_int_equal(boltReadFromParse("secondary", &readFrom), ERR_OK);
    assert_int_equal(readFrom, BOLT_READ_FROM_SECONDARY);
    assert_int_equal(boltReadFromParse("PRIMARY", &readFrom), ERR_OK);
    assert_int_equal(readFrom, BOLT_READ_FROM_PRIMARY);
    assert_int_equal(boltReadFromParse("any", &readFrom), ERR_OK);
    assert_int_equal(readFrom, BOLT_READ_FROM_ANY);
    assert_int_equal(boltReadFromParse("leader", &readFrom), CONFIG_INVALID);
    assert_string_equal(boltReadFromName(BOLT_READ_FROM_ANY), "any");
}

static void testCandidates(void **state)
{
    (void)state;
    Arena *arena = arenaNew(0);
    BoltValue rt = threeServerTable(arena);
    BoltRoutingTable table;
    assert_int_equal(boltRoutingTableParse(&rt, 0, &table), ERR_OK);
    BoltRouteCandidate candidates[8];
    bool fellBack = true;

    unsigned count = boltRoutingCandidates(&table, BOLT_ACCESS_READ, BOLT_READ_FROM_SECONDARY, candidates, 8,
                                           &fellBack);
    assert_int_equal(count, 2);
    assert_false(fellBack);
    assert_string_equal(candidates[0].address.host, "b.example");
    assert_string_equal(candidates[1].address.host, "fd00::3");
    assert_non_null(strstr(candidates[0].why, "secondary (READ)"));

    count = boltRoutingCandidates(&table, BOLT_ACCESS_READ, BOLT_READ_FROM_PRIMARY, candidates, 8, &fellBack);
    assert_int_equal(count, 1);
    assert_string_equal(candidates[0].address.host, "a.example");

    count = boltRoutingCandidates(&table, BOLT_ACCESS_READ, BOLT_READ_FROM_ANY, candidates, 8, &fellBack);
    assert_int_equal(count, 3);
    assert_string_equal(candidates[0].address.host, "a.example"); /* the table's order */

    /* Writes (restores) go to the primary whatever NEO4J_READ_FROM says. */
    count = boltRoutingCandidates(&table, BOLT_ACCESS_WRITE, BOLT_READ_FROM_SECONDARY, candidates, 8, &fellBack);
    assert_int_equal(count, 1);
    assert_string_equal(candidates[0].address.host, "a.example");

    /* No secondary: secondary falls back to the primary, and says so. */
    table.readerCount = 0;
    count = boltRoutingCandidates(&table, BOLT_ACCESS_READ, BOLT_READ_FROM_SECONDARY, candidates, 8, &fellBack);
    assert_int_equal(count, 1);
    assert_true(fellBack);
    assert_string_equal(candidates[0].address.host, "a.example");
    assert_non_null(strstr(candidates[0].why, "falls back"));
    arenaFree(arena);
}

/* Issue 11: the password crosses a network in clear text. */
static void testCleartextPredicate(void **state)
{
    (void)state;
    static const char *const loopback[] = {"localhost", "LOCALHOST", "localhost.", "db.localhost", "127.0.0.1",
                                           "127.3.2.1", "::1", "0:0:0:0:0:0:0:1", "::ffff:127.0.0.1"};
    for (size_t index = 0; index < sizeof(loopback) / sizeof(loopback[0]); index++)
        if (!boltHostIsLoopback(loopback[index]))
            fail_msg("%s is loopback", loopback[index]);
    static const char *const remote[] = {"db.example.com", "10.0.0.5", "128.0.0.1", "::2", "fe80::1%eth0",
                                         "localhost.example.com", "mylocalhost", "::ffff:10.0.0.1", ""};
    for (size_t index = 0; index < sizeof(remote) / sizeof(remote[0]); index++)
        if (boltHostIsLoopback(remote[index]))
            fail_msg("%s is not loopback", remote[index]);

    static const struct {
        const char *uri;
        bool clear;
    } cases[] = {
        {"bolt://db.example.com:7687", true},   {"neo4j://10.0.0.5", true},
        {"bolt://[2001:db8::1]:7687", true},    {"bolt+s://db.example.com", false},
        {"bolt+ssc://db.example.com", false},   {"neo4j+s://x.databases.neo4j.io", false},
        {"neo4j+ssc://10.0.0.5", false},        {"bolt://127.0.0.1:7687", false},
        {"neo4j://localhost", false},           {"bolt://[::1]:7687", false},
    };
    for (size_t index = 0; index < sizeof(cases) / sizeof(cases[0]); index++) {
        BoltUri uri;
        assert_int_equal(boltUriParse(cases[index].uri, &uri), ERR_OK);
        if (boltUriSendsPasswordInClear(&uri) != cases[index].clear)
            fail_msg("%s: expected %s", cases[index].uri, cases[index].clear ? "clear text" : "safe");
    }
}

/* ---- routed connects against fake cluster members -------------------- */

static BoltRoutedOptions routedOptions(const char *uri, BoltAccessMode mode, BoltReadFrom readFrom)
{
    BoltRoutedOptions options = {
        .connect =
            {
                .uri = uri,
                .user = "neo4j",
                .password = TEST_PASSWORD,
                .connectTimeoutMs = FAKE_WIRE_TIMEOUT_MS,
                .readTimeoutMs = FAKE_WIRE_TIMEOUT_MS,
            },
        .database = "neo4j",
        .mode = mode,
        .readFrom = readFrom,
    };
    return options;
}

static void assertNodeClean(FakeNode *node)
{
    if (node->wire.failure[0])
        fail_msg("fake node :%u: %s", node->port, node->wire.failure);
}

/* The seed answers ROUTE with three servers: a primary, a reader that
 * refuses connections, and a reader that works. The client reads from the
 * working reader, never touches the primary, and logs why. */
static void testReadsFromSecondaryPastARefusingOne(void **state)
{
    (void)state;
    FakeNode seed, writer, reader;
    fakeNodeListen(&seed, FAKE_NODE_ROUTER);
    fakeNodeListen(&writer, FAKE_NODE_READER);
    fakeNodeListen(&reader, FAKE_NODE_READER);
    uint16_t refusing = fakeNodeRefusing();
    fakeNodeAddress(seed.port, seed.routers[seed.routerCount++]);
    fakeNodeAddress(writer.port, seed.writers[seed.writerCount++]);
    fakeNodeAddress(refusing, seed.readers[seed.readerCount++]);
    fakeNodeAddress(reader.port, seed.readers[seed.readerCount++]);
    fakeNodeStart(&seed);
    fakeNodeStart(&reader);

    char uri[64], seedAddress[64], readerAddress[64], refusingAddress[64];
    snprintf(uri, sizeof(uri), "neo4j://127.0.0.1:%u", seed.port);
    fakeNodeAddress(seed.port, seedAddress);
    fakeNodeAddress(reader.port, readerAddress);
    fakeNodeAddress(refusing, refusingAddress);
    CapturedLog captured = {0};
    logSetSink(captureLog, &captured);
    BoltRoutedOptions options = routedOptions(uri, BOLT_ACCESS_READ, BOLT_READ_FROM_SECONDARY);
    BoltRoutingTable table = {0};
    BoltConnection *connection = NULL;
    ErrCode code = boltConnectRouted(&options, &table, &connection);
    logSetSink(NULL, NULL);
    if (code != ERR_OK)
        fail_msg("routed connect failed: %s", errLast()->reason);
    assert_string_equal(boltPeer(connection), readerAddress);
    BoltValue value;
    Arena *arena = arenaNew(0);
    assert_int_equal(boltQuerySingle(connection, "RETURN 1 AS x", NULL, NULL, arena, &value), ERR_OK);
    assert_int_equal(value.as.integer, 1);
    arenaFree(arena);
    boltClose(connection);

    assert_false(fakeNodeWasContacted(&writer));
    fakeNodeFinish(&seed);
    fakeNodeFinish(&reader);
    fakeNodeFinish(&writer);
    assertNodeClean(&seed);
    assertNodeClean(&reader);
    assert_int_equal(seed.routeRequests, 1);
    assert_string_equal(seed.routeDatabase, "neo4j");
    assert_string_equal(seed.routeContext, seedAddress);
    /* The routed connection keeps the address the user gave as its context. */
    assert_string_equal(reader.helloContext, seedAddress);
    assert_int_equal(reader.runs, 1);
    assert_int_equal(table.readerCount, 2);
    assertLogged(&captured, refusingAddress);
    assertLogged(&captured, "trying the next server");
    assertLogged(&captured, "reading from");
    assertLogged(&captured, "secondary (READ)");
    /* Loopback: no clear-text warning, and never the password. */
    assert_null(strstr(captured.text, "unencrypted"));
    assert_null(strstr(captured.text, TEST_PASSWORD));
    fakeNodeFree(&seed);
    fakeNodeFree(&reader);
    fakeNodeFree(&writer);
}

/* An expired table is refreshed from its routers in order: the first fails
 * ROUTE, the second answers. The fresh table is then reused until its ttl
 * runs out: a second connect asks no router. */
static void testExpiredTableRefreshedPastAFailingRouter(void **state)
{
    (void)state;
    FakeNode failing, router, reader;
    fakeNodeListen(&failing, FAKE_NODE_ROUTER_FAILS);
    fakeNodeListen(&router, FAKE_NODE_ROUTER);
    fakeNodeListen(&reader, FAKE_NODE_READER);
    reader.sessions = 2;
    uint16_t deadSeed = fakeNodeRefusing();
    fakeNodeAddress(router.port, router.routers[router.routerCount++]);
    fakeNodeAddress(router.port, router.writers[router.writerCount++]);
    fakeNodeAddress(reader.port, router.readers[router.readerCount++]);
    fakeNodeStart(&failing);
    fakeNodeStart(&router);
    fakeNodeStart(&reader);

    /* A table from an earlier run whose ttl has run out. */
    BoltRoutingTable table = {0};
    table.expiresAt = timeMonotonic() - 1;
    assert_int_equal(boltAddressParse("127.0.0.1:1", &table.routers[0]), ERR_OK);
    table.routers[0].port = failing.port;
    table.routers[1] = table.routers[0];
    table.routers[1].port = router.port;
    table.routerCount = 2;

    char uri[64], readerAddress[64];
    snprintf(uri, sizeof(uri), "neo4j://127.0.0.1:%u", deadSeed);
    fakeNodeAddress(reader.port, readerAddress);
    CapturedLog captured = {0};
    logSetSink(captureLog, &captured);
    BoltRoutedOptions options = routedOptions(uri, BOLT_ACCESS_READ, BOLT_READ_FROM_SECONDARY);
    BoltConnection *connection = NULL;
    ErrCode code = boltConnectRouted(&options, &table, &connection);
    if (code != ERR_OK)
        fail_msg("routed connect failed: %s", errLast()->reason);
    assert_string_equal(boltPeer(connection), readerAddress);
    boltClose(connection);
    fakeNodeFinish(&failing);
    fakeNodeFinish(&router);
    assert_false(boltRoutingTableExpired(&table, timeMonotonic()));

    /* The routers are gone now: only the cached table can lead to the reader. */
    code = boltConnectRouted(&options, &table, &connection);
    logSetSink(NULL, NULL);
    if (code != ERR_OK)
        fail_msg("connect with the cached table failed: %s", errLast()->reason);
    assert_string_equal(boltPeer(connection), readerAddress);
    boltClose(connection);
    fakeNodeFinish(&reader);

    assertNodeClean(&failing);
    assertNodeClean(&router);
    assertNodeClean(&reader);
    assert_int_equal(failing.routeRequests, 1);
    assert_int_equal(router.routeRequests, 1);
    assert_int_equal(reader.accepted, 2);
    assert_int_equal(reader.routeRequests, 0);
    assertLogged(&captured, "unavailable on this router");
    assertLogged(&captured, "asking the next router");
    fakeNodeFree(&failing);
    fakeNodeFree(&router);
    fakeNodeFree(&reader);
}

/* A one-server table (what a Community server or a single instance returns)
 * lists the server in every role: the router's connection is reused; with no
 * READ server, secondary falls back to the primary with a log line. */
static void testFallsBackToPrimaryOnTheRouterConnection(void **state)
{
    (void)state;
    FakeNode single;
    fakeNodeListen(&single, FAKE_NODE_ROUTER);
    fakeNodeAddress(single.port, single.routers[single.routerCount++]);
    fakeNodeAddress(single.port, single.writers[single.writerCount++]);
    fakeNodeStart(&single);
    char uri[64];
    snprintf(uri, sizeof(uri), "neo4j://127.0.0.1:%u", single.port);
    CapturedLog captured = {0};
    logSetSink(captureLog, &captured);
    BoltRoutedOptions options = routedOptions(uri, BOLT_ACCESS_READ, BOLT_READ_FROM_SECONDARY);
    BoltConnection *connection = NULL;
    ErrCode code = boltConnectRouted(&options, NULL, &connection);
    logSetSink(NULL, NULL);
    if (code != ERR_OK)
        fail_msg("routed connect failed: %s", errLast()->reason);
    Arena *arena = arenaNew(0);
    BoltValue value;
    assert_int_equal(boltQuerySingle(connection, "RETURN 1 AS x", NULL, NULL, arena, &value), ERR_OK);
    arenaFree(arena);
    boltClose(connection);
    fakeNodeFinish(&single);
    assertNodeClean(&single);
    assert_int_equal(single.accepted, 1);
    assert_int_equal(single.runs, 1);
    assertLogged(&captured, "falls back");
    fakeNodeFree(&single);
}

/* Restores write: a table without a WRITE server is an error that says so,
 * and no reader is used. */
static void testWriteNeedsAPrimary(void **state)
{
    (void)state;
    FakeNode router, reader;
    fakeNodeListen(&router, FAKE_NODE_ROUTER);
    fakeNodeListen(&reader, FAKE_NODE_READER);
    fakeNodeAddress(router.port, router.routers[router.routerCount++]);
    fakeNodeAddress(reader.port, router.readers[router.readerCount++]);
    fakeNodeStart(&router);
    char uri[64];
    snprintf(uri, sizeof(uri), "neo4j://127.0.0.1:%u", router.port);
    BoltRoutedOptions options = routedOptions(uri, BOLT_ACCESS_WRITE, BOLT_READ_FROM_SECONDARY);
    BoltConnection *connection = NULL;
    assert_int_equal(boltConnectRouted(&options, NULL, &connection), NEO4J_UNREACHABLE);
    assert_null(connection);
    assert_non_null(strstr(errLast()->reason, "primary (WRITE)"));
    assert_false(fakeNodeWasContacted(&reader));
    fakeNodeFinish(&router);
    fakeNodeFinish(&reader);
    assertNodeClean(&router);
    fakeNodeFree(&router);
    fakeNodeFree(&reader);
}

/* Every server of the table refuses: the error names them all. */
static void testEveryServerRefuses(void **state)
{
    (void)state;
    FakeNode router;
    fakeNodeListen(&router, FAKE_NODE_ROUTER);
    uint16_t first = fakeNodeRefusing();
    uint16_t second = fakeNodeRefusing();
    fakeNodeAddress(first, router.readers[router.readerCount++]);
    fakeNodeAddress(second, router.readers[router.readerCount++]);
    fakeNodeStart(&router);
    char uri[64], secondAddress[64];
    snprintf(uri, sizeof(uri), "neo4j://127.0.0.1:%u", router.port);
    fakeNodeAddress(second, secondAddress);
    logSetSink(captureLog, &(CapturedLog){0});
    BoltRoutedOptions options = routedOptions(uri, BOLT_ACCESS_READ, BOLT_READ_FROM_SECONDARY);
    BoltRoutingTable table = {0};
    BoltConnection *connection = NULL;
    ErrCode code = boltConnectRouted(&options, &table, &connection);
    logSetSink(NULL, NULL);
    assert_int_equal(code, NEO4J_UNREACHABLE);
    assert_non_null(strstr(errLast()->reason, secondAddress));
    assert_non_null(strstr(errLast()->reason, "every server of the routing table"));
    assert_true(boltRoutingTableExpired(&table, timeMonotonic())); /* asked again next time */
    fakeNodeFinish(&router);
    assertNodeClean(&router);
    fakeNodeFree(&router);
}

/* A ClientError from ROUTE (an unknown database, a forbidden user) would be
 * the same on every router: the client stops at once, asks no other router,
 * and reports the server's code. */
static void testClientErrorFromRouteStopsAtOnce(void **state)
{
    (void)state;
    FakeNode failing, other;
    fakeNodeListen(&failing, FAKE_NODE_ROUTER_FAILS);
    failing.failureCode = "Neo.ClientError.Database.DatabaseNotFound";
    fakeNodeListen(&other, FAKE_NODE_ROUTER);
    fakeNodeStart(&failing);
    BoltRoutingTable table = {0};
    table.expiresAt = timeMonotonic() - 1;
    assert_int_equal(boltAddressParse("127.0.0.1:1", &table.routers[0]), ERR_OK);
    table.routers[0].port = failing.port;
    table.routers[1] = table.routers[0];
    table.routers[1].port = other.port;
    table.routerCount = 2;
    char uri[64];
    snprintf(uri, sizeof(uri), "neo4j://127.0.0.1:%u", other.port);
    BoltRoutedOptions options = routedOptions(uri, BOLT_ACCESS_READ, BOLT_READ_FROM_SECONDARY);
    BoltConnection *connection = NULL;
    assert_int_equal(boltConnectRouted(&options, &table, &connection), NEO4J_QUERY_FAILED);
    assert_null(connection);
    assert_string_equal(errLast()->serverCode, "Neo.ClientError.Database.DatabaseNotFound");
    assert_false(fakeNodeWasContacted(&other));
    fakeNodeFinish(&failing);
    fakeNodeFinish(&other);
    assertNodeClean(&failing);
    assert_int_equal(failing.routeRequests, 1);
    fakeNodeFree(&failing);
    fakeNodeFree(&other);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(testTableParse),
        cmocka_unit_test(testAddressParse),
        cmocka_unit_test(testReadFromParse),
        cmocka_unit_test(testCandidates),
        cmocka_unit_test(testCleartextPredicate),
        cmocka_unit_test(testReadsFromSecondaryPastARefusingOne),
        cmocka_unit_test(testExpiredTableRefreshedPastAFailingRouter),
        cmocka_unit_test(testFallsBackToPrimaryOnTheRouterConnection),
        cmocka_unit_test(testWriteNeedsAPrimary),
        cmocka_unit_test(testEveryServerRefuses),
        cmocka_unit_test(testClientErrorFromRouteStopsAtOnce),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
