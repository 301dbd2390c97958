/* Test helper shared by routing_test.c and logical_test.c: fake Neo4j cluster
 * members on loopback TCP ports, each run by a thread: a router that answers
 * ROUTE with a routing table, a router that answers ROUTE with a FAILURE,
 * and a reader that serves one trivial query. A port that refuses
 * connections is made by fakeNodeRefusing. The wire work is FakeWire's
 * (fake_bolt.h).
 *
 * Like the other fakes, the threads never call cmocka: they record what they
 * saw (and any script failure, in wire.failure) and the test asserts after
 * fakeNodeFinish. */
#ifndef NBK_TESTS_FAKE_ROUTER_H
#define NBK_TESTS_FAKE_ROUTER_H

#include "fake_bolt.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define FAKE_NODE_MAX_ADDRESSES 4

typedef enum {
    FAKE_NODE_ROUTER,       /* ROUTE -> SUCCESS {rt: the table below} */
    FAKE_NODE_ROUTER_FAILS, /* ROUTE -> FAILURE Neo.TransientError.General.DatabaseUnavailable */
    FAKE_NODE_READER,       /* RUN -> one record [1] */
} FakeNodeKind;

typedef struct {
    FakeNodeKind kind;
    unsigned sessions; /* connections to serve, one after the other (0 = 1) */
    const char *failureCode; /* FAKE_NODE_ROUTER_FAILS; NULL = DatabaseUnavailable */
    /* The routing table a FAKE_NODE_ROUTER returns, as "host:port" strings. */
    char routers[FAKE_NODE_MAX_ADDRESSES][64];
    unsigned routerCount;
    char readers[FAKE_NODE_MAX_ADDRESSES][64];
    unsigned readerCount;
    char writers[FAKE_NODE_MAX_ADDRESSES][64];
    unsigned writerCount;

    FakeWire wire;
    int listenFd;
    uint16_t port;
    pthread_t thread;
    bool started;

    /* What the node saw. */
    unsigned accepted;
    unsigned routeRequests;
    unsigned runs;
    char routeDatabase[64];
    char routeContext[128]; /* routing.address of ROUTE */
    char helloContext[128]; /* routing.address of HELLO */
} FakeNode;

static inline BoltValue fakeNodeServer(Arena *arena, const char *role, char addresses[][64], unsigned count)
{
    BoltValue list = boltList(arena, count);
    for (unsigned index = 0; index < count; index++)
        list.as.list.items[index] = boltString(arena, addresses[index]);
    BoltValue server = boltMap(arena, 2);
    boltMapSet(arena, &server, 0, "addresses", list);
    boltMapSet(arena, &server, 1, "role", boltString(arena, role));
    return server;
}

static inline BoltValue fakeNodeTable(FakeNode *node)
{
    Arena *arena = node->wire.arena;
    unsigned serverCount = (node->routerCount > 0) + (node->writerCount > 0) + (node->readerCount > 0);
    BoltValue servers = boltList(arena, serverCount);
    unsigned index = 0;
    if (node->routerCount)
        servers.as.list.items[index++] = fakeNodeServer(arena, "ROUTE", node->routers, node->routerCount);
    if (node->writerCount)
        servers.as.list.items[index++] = fakeNodeServer(arena, "WRITE", node->writers, node->writerCount);
    if (node->readerCount)
        servers.as.list.items[index++] = fakeNodeServer(arena, "READ", node->readers, node->readerCount);
    BoltValue table = boltMap(arena, 3);
    boltMapSet(arena, &table, 0, "ttl", boltInt(300));
    boltMapSet(arena, &table, 1, "db", boltString(arena, "neo4j"));
    boltMapSet(arena, &table, 2, "servers", servers);
    return table;
}

static inline void fakeNodeCopyContext(const BoltValue *routing, char *out, size_t size)
{
    if (routing && routing->type == BOLT_MAP)
        snprintf(out, size, "%s", boltMapGetString(routing, "address", ""));
}

/* Serves one connection: handshake (Bolt 5.8), HELLO, LOGON, then requests
 * until GOODBYE or the end of the stream. */
static inline void fakeNodeSession(FakeNode *node)
{
    if (!fakeWireHandshake(&node->wire))
        return;
    bool resultPending = false;
    BoltValue request;
    while (fakeWireRead(&node->wire, &request)) {
        const BoltValue *fields = request.as.structure.fields;
        switch (request.as.structure.tag) {
        case BOLT_MSG_HELLO:
            if (request.as.structure.count > 0 && fields[0].type == BOLT_MAP)
                fakeNodeCopyContext(boltMapGet(&fields[0], "routing"), node->helloContext,
                                    sizeof(node->helloContext));
            fakeWireSuccess(&node->wire, "server", boltString(node->wire.arena, "Neo4j/5.26.0"));
            break;
        case BOLT_MSG_ROUTE:
            node->routeRequests++;
            if (request.as.structure.count == 3) {
                fakeNodeCopyContext(&fields[0], node->routeContext, sizeof(node->routeContext));
                if (fields[2].type == BOLT_MAP)
                    snprintf(node->routeDatabase, sizeof(node->routeDatabase), "%s",
                             boltMapGetString(&fields[2], "db", ""));
            } else {
                fakeWireFail(&node->wire, "ROUTE without its three fields");
            }
            if (node->kind == FAKE_NODE_ROUTER) {
                fakeWireSuccess(&node->wire, "rt", fakeNodeTable(node));
            } else {
                fakeWireFailure(&node->wire,
                                node->failureCode ? node->failureCode
                                                  : "Neo.TransientError.General.DatabaseUnavailable",
                                "database neo4j is unavailable on this router");
            }
            break;
        case BOLT_MSG_RUN: {
            node->runs++;
            BoltValue names = boltList(node->wire.arena, 1);
            names.as.list.items[0] = boltString(node->wire.arena, "x");
            fakeWireSuccess(&node->wire, "fields", names);
            resultPending = true;
            break;
        }
        case BOLT_MSG_PULL:
            if (resultPending) {
                BoltValue record = boltList(node->wire.arena, 1);
                record.as.list.items[0] = boltInt(1);
                fakeWireSend(&node->wire, BOLT_MSG_RECORD, &record);
            }
            resultPending = false;
            fakeWireSuccess(&node->wire, NULL, boltNull());
            break;
        case BOLT_MSG_GOODBYE:
            return;
        default: /* LOGON, RESET, DISCARD */
            fakeWireSuccess(&node->wire, NULL, boltNull());
            break;
        }
    }
}

static inline void *fakeNodeThread(void *argument)
{
    FakeNode *node = argument;
    unsigned sessions = node->sessions ? node->sessions : 1;
    for (unsigned session = 0; session < sessions; session++) {
        struct pollfd waitFor = {.fd = node->listenFd, .events = POLLIN};
        if (poll(&waitFor, 1, FAKE_WIRE_TIMEOUT_MS) <= 0) {
            fakeWireFail(&node->wire, "no client connected");
            return NULL;
        }
        node->wire.fd = accept(node->listenFd, NULL, NULL);
        if (node->wire.fd < 0) {
            fakeWireFail(&node->wire, "accept failed");
            return NULL;
        }
        node->accepted++;
        fakeNodeSession(node);
        close(node->wire.fd);
        node->wire.fd = -1;
    }
    return NULL;
}

/* Binds a loopback port (not yet served): its address can go into tables. */
static inline void fakeNodeListen(FakeNode *node, FakeNodeKind kind)
{
    memset(node, 0, sizeof(*node));
    node->kind = kind;
    fakeWireInit(&node->wire);
    node->listenFd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in address = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (node->listenFd < 0 || bind(node->listenFd, (struct sockaddr *)&address, sizeof(address)) != 0 ||
        listen(node->listenFd, 4) != 0)
        fakeWireFail(&node->wire, "cannot listen on loopback");
    socklen_t length = sizeof(address);
    getsockname(node->listenFd, (struct sockaddr *)&address, &length);
    node->port = ntohs(address.sin_port);
}

/* A loopback port nobody listens on: connecting to it is refused. */
static inline uint16_t fakeNodeRefusing(void)
{
    FakeNode probe;
    fakeNodeListen(&probe, FAKE_NODE_READER);
    close(probe.listenFd);
    fakeWireFree(&probe.wire);
    return probe.port;
}

static inline void fakeNodeAddress(uint16_t port, char out[64]) { snprintf(out, 64, "127.0.0.1:%u", port); }

static inline void fakeNodeStart(FakeNode *node)
{
    node->started = pthread_create(&node->thread, NULL, fakeNodeThread, node) == 0;
    if (!node->started)
        fakeWireFail(&node->wire, "cannot start the thread");
}

/* True when a client connected that nobody served (for nodes never started). */
static inline bool fakeNodeWasContacted(FakeNode *node)
{
    struct pollfd waitFor = {.fd = node->listenFd, .events = POLLIN};
    return poll(&waitFor, 1, 0) > 0;
}

static inline void fakeNodeFinish(FakeNode *node)
{
    if (node->started)
        pthread_join(node->thread, NULL);
    node->started = false;
    if (node->listenFd >= 0)
        close(node->listenFd);
    node->listenFd = -1;
}

static inline void fakeNodeFree(FakeNode *node) { fakeWireFree(&node->wire); }

#endif
