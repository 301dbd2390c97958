/* Test helper shared by routing_test.c and logical_test.c: fake Neo4j cluster
 * members on loopback TCP ports, each run by a thread: a router that answers
 * ROUTE with a routing table, a router that answers ROUTE with a FAILURE,
 * and a reader that serves one trivial query. A port that refuses
 * connections is made by fakeNodeRefusing.
 *
 * Like the other fakes, the threads never call cmocka: they record what they
 * saw (and any script failure) and the test asserts after fakeNodeFinish. */
#ifndef NBK_TESTS_FAKE_ROUTER_H
#define NBK_TESTS_FAKE_ROUTER_H

#include "bolt/chunk.h"
#include "bolt/message.h"
#include "bolt/packstream.h"
#include "bolt/value.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define FAKE_NODE_TIMEOUT_MS 5000
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

    int listenFd;
    int fd;
    uint16_t port;
    pthread_t thread;
    bool started;
    Arena *arena;

    /* What the node saw. */
    unsigned accepted;
    unsigned routeRequests;
    unsigned runs;
    char routeDatabase[64];
    char routeContext[128]; /* routing.address of ROUTE */
    char helloContext[128]; /* routing.address of HELLO */
    char failure[256];
} FakeNode;

static inline void fakeNodeFail(FakeNode *node, const char *what)
{
    if (!node->failure[0])
        snprintf(node->failure, sizeof(node->failure), "%s", what);
}

static inline bool fakeNodeRecv(FakeNode *node, void *data, size_t length)
{
    uint8_t *cursor = data;
    while (length > 0) {
        struct pollfd waitFor = {.fd = node->fd, .events = POLLIN};
        if (poll(&waitFor, 1, FAKE_NODE_TIMEOUT_MS) <= 0) {
            fakeNodeFail(node, "timed out waiting for the client");
            return false;
        }
        ssize_t got = recv(node->fd, cursor, length, 0);
        if (got <= 0)
            return false;
        cursor += got;
        length -= (size_t)got;
    }
    return true;
}

static inline void fakeNodeSend(FakeNode *node, uint8_t signature, const BoltValue *field)
{
    Buffer message, framed;
    bufferInit(&message);
    bufferInit(&framed);
    packStructHeader(&message, signature, field ? 1 : 0);
    if (field)
        packValue(&message, field);
    boltChunkWrite(&framed, message.data, message.length, BOLT_CHUNK_MAX_PAYLOAD);
    if (send(node->fd, framed.data, framed.length, MSG_NOSIGNAL) != (ssize_t)framed.length)
        fakeNodeFail(node, "send failed");
    bufferFree(&message);
    bufferFree(&framed);
}

static inline void fakeNodeSuccess(FakeNode *node, const char *key, BoltValue value)
{
    BoltValue metadata = boltMap(node->arena, key ? 1 : 0);
    if (key)
        boltMapSet(node->arena, &metadata, 0, key, value);
    fakeNodeSend(node, BOLT_MSG_SUCCESS, &metadata);
}

/* One request as a structure value; false at the end of the stream. */
static inline bool fakeNodeRead(FakeNode *node, BoltValue *request)
{
    Buffer message;
    bufferInit(&message);
    for (;;) {
        uint8_t header[2];
        if (!fakeNodeRecv(node, header, 2)) {
            bufferFree(&message);
            return false;
        }
        size_t length = (size_t)header[0] << 8 | header[1];
        if (length == 0) {
            if (message.length == 0)
                continue;
            break;
        }
        bufferReserve(&message, length);
        if (!fakeNodeRecv(node, message.data + message.length, length)) {
            bufferFree(&message);
            return false;
        }
        message.length += length;
    }
    PackReader reader;
    packReaderInit(&reader, message.data, message.length);
    bool decoded = unpackValue(&reader, node->arena, request) == ERR_OK && request->type == BOLT_STRUCT;
    bufferFree(&message);
    if (!decoded)
        fakeNodeFail(node, "undecodable request");
    return decoded;
}

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
    Arena *arena = node->arena;
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
    uint8_t handshake[20];
    if (!fakeNodeRecv(node, handshake, sizeof(handshake)))
        return;
    const uint8_t version[4] = {0, 0, 8, 5};
    send(node->fd, version, sizeof(version), MSG_NOSIGNAL);
    bool resultPending = false;
    BoltValue request;
    while (fakeNodeRead(node, &request)) {
        const BoltValue *fields = request.as.structure.fields;
        switch (request.as.structure.tag) {
        case BOLT_MSG_HELLO:
            if (request.as.structure.count > 0 && fields[0].type == BOLT_MAP)
                fakeNodeCopyContext(boltMapGet(&fields[0], "routing"), node->helloContext,
                                    sizeof(node->helloContext));
            fakeNodeSuccess(node, "server", boltString(node->arena, "Neo4j/5.26.0"));
            break;
        case BOLT_MSG_ROUTE:
            node->routeRequests++;
            if (request.as.structure.count == 3) {
                fakeNodeCopyContext(&fields[0], node->routeContext, sizeof(node->routeContext));
                if (fields[2].type == BOLT_MAP)
                    snprintf(node->routeDatabase, sizeof(node->routeDatabase), "%s",
                             boltMapGetString(&fields[2], "db", ""));
            } else {
                fakeNodeFail(node, "ROUTE without its three fields");
            }
            if (node->kind == FAKE_NODE_ROUTER) {
                fakeNodeSuccess(node, "rt", fakeNodeTable(node));
            } else {
                BoltValue failure = boltMap(node->arena, 2);
                boltMapSet(node->arena, &failure, 0, "code",
                           boltString(node->arena, node->failureCode
                                                       ? node->failureCode
                                                       : "Neo.TransientError.General.DatabaseUnavailable"));
                boltMapSet(node->arena, &failure, 1, "message",
                           boltString(node->arena, "database neo4j is unavailable on this router"));
                fakeNodeSend(node, BOLT_MSG_FAILURE, &failure);
            }
            break;
        case BOLT_MSG_RUN: {
            node->runs++;
            BoltValue names = boltList(node->arena, 1);
            names.as.list.items[0] = boltString(node->arena, "x");
            fakeNodeSuccess(node, "fields", names);
            resultPending = true;
            break;
        }
        case BOLT_MSG_PULL:
            if (resultPending) {
                BoltValue record = boltList(node->arena, 1);
                record.as.list.items[0] = boltInt(1);
                fakeNodeSend(node, BOLT_MSG_RECORD, &record);
            }
            resultPending = false;
            fakeNodeSuccess(node, NULL, boltNull());
            break;
        case BOLT_MSG_GOODBYE:
            return;
        default: /* LOGON, RESET, DISCARD */
            fakeNodeSuccess(node, NULL, boltNull());
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
        if (poll(&waitFor, 1, FAKE_NODE_TIMEOUT_MS) <= 0) {
            fakeNodeFail(node, "no client connected");
            return NULL;
        }
        node->fd = accept(node->listenFd, NULL, NULL);
        if (node->fd < 0) {
            fakeNodeFail(node, "accept failed");
            return NULL;
        }
        node->accepted++;
        fakeNodeSession(node);
        close(node->fd);
        node->fd = -1;
    }
    return NULL;
}

/* Binds a loopback port (not yet served): its address can go into tables. */
static inline void fakeNodeListen(FakeNode *node, FakeNodeKind kind)
{
    memset(node, 0, sizeof(*node));
    node->kind = kind;
    node->fd = -1;
    node->arena = arenaNew(0);
    node->listenFd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in address = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (node->listenFd < 0 || bind(node->listenFd, (struct sockaddr *)&address, sizeof(address)) != 0 ||
        listen(node->listenFd, 4) != 0)
        fakeNodeFail(node, "cannot listen on loopback");
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
    arenaFree(probe.arena);
    return probe.port;
}

static inline void fakeNodeAddress(uint16_t port, char out[64]) { snprintf(out, 64, "127.0.0.1:%u", port); }

static inline void fakeNodeStart(FakeNode *node)
{
    node->started = pthread_create(&node->thread, NULL, fakeNodeThread, node) == 0;
    if (!node->started)
        fakeNodeFail(node, "cannot start the thread");
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

static inline void fakeNodeFree(FakeNode *node)
{
    arenaFree(node->arena);
    node->arena = NULL;
}

#endif
