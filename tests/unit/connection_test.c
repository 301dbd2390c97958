/* Unit tests for the Bolt connection (src/bolt/connection.c, transport.c)
 * against a scripted fake server: no Neo4j needed.
 *
 * Each test starts a server thread that runs a script over one end of a
 * socketpair (or a loopback TCP/TLS socket) while the test drives the client
 * on the other end. The server thread never calls cmocka (its longjmp is not
 * thread-safe): it records what the client sent and any script failure, and
 * the test asserts on that after joining the thread. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "bolt/chunk.h"
#include "bolt/connection.h"
#include "bolt/message.h"
#include "bolt/packstream.h"
#include "bolt/transport.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define FAKE_MAX_REQUESTS 64
#define FAKE_IO_TIMEOUT_MS 5000
#define TEST_PASSWORD "s3cret-Pw!"

/* ---- the fake server ------------------------------------------------- */

typedef struct {
    uint8_t signature;
    uint8_t fieldCount;
    BoltValue fields[3];
} FakeRequest;

typedef struct FakeServer FakeServer;
typedef void (*FakeScript)(FakeServer *server);

struct FakeServer {
    int fd;
    int listenFd;      /* TCP tests: accept one connection first */
    SSL_CTX *tlsContext; /* TLS tests: serve TLS on the accepted socket */
    SSL *ssl;
    FakeScript script;
    pthread_t thread;
    Arena *arena;
    uint8_t handshake[20];
    bool sawHandshake;
    FakeRequest requests[FAKE_MAX_REQUESTS];
    unsigned requestCount;
    bool sawEof;
    char failure[256];
    const void *context; /* per-test data for the script */
};

static void fakeFail(FakeServer *server, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void fakeFail(FakeServer *server, const char *fmt, ...)
{
    if (server->failure[0])
        return;
    va_list args;
    va_start(args, fmt);
    vsnprintf(server->failure, sizeof(server->failure), fmt, args);
    va_end(args);
}

/* Reads exactly length bytes; false on end of stream or timeout. */
static bool fakeRecv(FakeServer *server, void *data, size_t length)
{
    uint8_t *cursor = data;
    while (length > 0) {
        if (!server->ssl || SSL_pending(server->ssl) == 0) {
            struct pollfd waitFor = {.fd = server->fd, .events = POLLIN};
            if (poll(&waitFor, 1, FAKE_IO_TIMEOUT_MS) <= 0) {
                fakeFail(server, "timed out waiting for the client");
                return false;
            }
        }
        ssize_t got = server->ssl ? SSL_read(server->ssl, cursor, (int)length)
                                  : recv(server->fd, cursor, length, 0);
        if (got <= 0) {
            server->sawEof = true;
            return false;
        }
        cursor += got;
        length -= (size_t)got;
    }
    return true;
}

static void fakeSendRaw(FakeServer *server, const void *data, size_t length)
{
    const uint8_t *cursor = data;
    while (length > 0) {
        ssize_t sent = server->ssl ? SSL_write(server->ssl, cursor, (int)length)
                                   : send(server->fd, cursor, length, MSG_NOSIGNAL);
        if (sent <= 0) {
            fakeFail(server, "send to the client failed");
            return;
        }
        cursor += sent;
        length -= (size_t)sent;
    }
}

static bool fakeReadHandshake(FakeServer *server)
{
    server->sawHandshake = fakeRecv(server, server->handshake, sizeof(server->handshake));
    if (!server->sawHandshake)
        fakeFail(server, "no handshake");
    return server->sawHandshake;
}

static void fakeSendVersion(FakeServer *server, uint8_t major, uint8_t minor)
{
    uint8_t reply[4] = {0, 0, minor, major};
    fakeSendRaw(server, reply, sizeof(reply));
}

/* Reads one request message (skipping NOOPs), records it, returns its
 * signature; 0 on end of stream. */
static uint8_t fakeReadRequest(FakeServer *server)
{
    Buffer message;
    bufferInit(&message);
    for (;;) {
        uint8_t header[2];
        if (!fakeRecv(server, header, 2)) {
            bufferFree(&message);
            return 0;
        }
        size_t length = ((size_t)header[0] << 8) | header[1];
        if (length == 0) {
            if (message.length > 0)
                break;
            continue;
        }
        bufferReserve(&message, length);
        if (!fakeRecv(server, message.data + message.length, length)) {
            bufferFree(&message);
            return 0;
        }
        message.length += length;
    }
    if (server->requestCount == FAKE_MAX_REQUESTS || message.length < 2) {
        fakeFail(server, "too many or malformed requests");
        bufferFree(&message);
        return 0;
    }
    FakeRequest *request = &server->requests[server->requestCount++];
    request->signature = message.data[1];
    request->fieldCount = message.data[0] & 0x0F;
    PackReader reader;
    packReaderInit(&reader, message.data, message.length);
    reader.offset = 2;
    for (uint8_t index = 0; index < request->fieldCount && index < 3; index++)
        if (unpackValue(&reader, server->arena, &request->fields[index]) != ERR_OK)
            fakeFail(server, "undecodable %s", boltMessageName(request->signature));
    bufferFree(&message);
    return request->signature;
}

static bool fakeExpect(FakeServer *server, uint8_t signature)
{
    uint8_t got = fakeReadRequest(server);
    if (got != signature) {
        fakeFail(server, "expected %s, got %s", boltMessageName(signature),
                 got ? boltMessageName(got) : "end of stream");
        return false;
    }
    return true;
}

/* Sends one response, chunked at chunkSize (0 = one chunk). */
static void fakeSendChunked(FakeServer *server, uint8_t signature, const BoltValue *field,
                            size_t chunkSize)
{
    Buffer message;
    bufferInit(&message);
    packStructHeader(&message, signature, field ? 1 : 0);
    if (field)
        packValue(&message, field);
    Buffer framed;
    bufferInit(&framed);
    boltChunkWrite(&framed, message.data, message.length, chunkSize ? chunkSize : BOLT_CHUNK_MAX_PAYLOAD);
    fakeSendRaw(server, framed.data, framed.length);
    bufferFree(&message);
    bufferFree(&framed);
}

static void fakeSend(FakeServer *server, uint8_t signature, const BoltValue *field)
{
    fakeSendChunked(server, signature, field, 0);
}

/* A map from key/value pairs, NULL-terminated: fakeMap(arena, "k", &v, NULL). */
static BoltValue fakeMap(Arena *arena, ...)
{
    va_list args;
    va_start(args, arena);
    uint32_t count = 0;
    while (va_arg(args, const char *)) {
        (void)va_arg(args, const BoltValue *);
        count++;
    }
    va_end(args);
    BoltValue map = boltMap(arena, count);
    va_start(args, arena);
    for (uint32_t index = 0; index < count; index++) {
        const char *key = va_arg(args, const char *);
        const BoltValue *value = va_arg(args, const BoltValue *);
        boltMapSet(arena, &map, index, key, *value);
    }
    va_end(args);
    return map;
}

static void fakeSendSuccess(FakeServer *server)
{
    BoltValue empty = boltMap(server->arena, 0);
    fakeSend(server, BOLT_MSG_SUCCESS, &empty);
}

static void fakeSendFailure(FakeServer *server, const char *codeKey, const char *code,
                            const char *message)
{
    BoltValue codeValue = boltString(server->arena, code);
    BoltValue messageValue = boltString(server->arena, message);
    BoltValue gql = boltString(server->arena, "42001");
    BoltValue failure = fakeMap(server->arena, codeKey, &codeValue, "message", &messageValue,
                                "gql_status", &gql, (const char *)NULL);
    fakeSend(server, BOLT_MSG_FAILURE, &failure);
}

/* Handshake answered with major.minor, then HELLO (+ LOGON from 5.1) accepted. */
static bool fakeAcceptSession(FakeServer *server, uint8_t major, uint8_t minor)
{
    if (!fakeReadHandshake(server))
        return false;
    fakeSendVersion(server, major, minor);
    if (!fakeExpect(server, BOLT_MSG_HELLO))
        return false;
    bool logon = major > 5 || (major == 5 && minor >= 1);
    if (logon && !fakeExpect(server, BOLT_MSG_LOGON))
        return false;
    BoltValue agent = boltString(server->arena, "Neo4j/5.26.0");
    BoltValue connectionId = boltString(server->arena, "bolt-7");
    BoltValue patches = boltList(server->arena, 1);
    patches.as.list.items[0] = boltString(server->arena, "utc");
    BoltValue hello = major == 4 ? fakeMap(server->arena, "server", &agent, "connection_id", &connectionId,
                                           "patch_bolt", &patches, (const char *)NULL)
                                 : fakeMap(server->arena, "server", &agent, "connection_id", &connectionId,
                                           (const char *)NULL);
    fakeSend(server, BOLT_MSG_SUCCESS, &hello);
    if (logon)
        fakeSendSuccess(server);
    return true;
}

/* Reads requests until the client closes (GOODBYE is recorded). */
static void fakeDrain(FakeServer *server)
{
    while (fakeReadRequest(server) != 0) {
    }
}

static void *fakeThread(void *argument)
{
    FakeServer *server = argument;
    if (server->listenFd >= 0) {
        struct pollfd waitFor = {.fd = server->listenFd, .events = POLLIN};
        if (poll(&waitFor, 1, FAKE_IO_TIMEOUT_MS) <= 0) {
            fakeFail(server, "no client connected");
            return NULL;
        }
        server->fd = accept(server->listenFd, NULL, NULL);
        if (server->fd < 0) {
            fakeFail(server, "accept failed");
            return NULL;
        }
        if (server->tlsContext) {
            server->ssl = SSL_new(server->tlsContext);
            SSL_set_fd(server->ssl, server->fd);
            if (SSL_accept(server->ssl) != 1) {
                /* Expected when the client rejects our certificate. */
                server->sawEof = true;
                ERR_clear_error();
                SSL_free(server->ssl);
                server->ssl = NULL;
                close(server->fd);
                server->fd = -1;
                return NULL;
            }
        }
    }
    server->script(server);
    if (server->ssl) {
        SSL_shutdown(server->ssl);
        SSL_free(server->ssl);
        server->ssl = NULL;
    }
    close(server->fd); /* the client sees end of stream */
    server->fd = -1;
    return NULL;
}

static FakeServer *fakeNew(FakeScript script, const void *context)
{
    FakeServer *server = calloc(1, sizeof(*server));
    server->script = script;
    server->context = context;
    server->arena = arenaNew(0);
    server->fd = -1;
    server->listenFd = -1;
    return server;
}

/* Starts the server on a socketpair; returns the client's end as a transport. */
static BoltTransport *fakeStartPair(FakeServer *server)
{
    int ends[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, ends), 0);
    server->fd = ends[1];
    assert_int_equal(pthread_create(&server->thread, NULL, fakeThread, server), 0);
    return boltTransportFromFd(ends[0], "fake:7687");
}

/* Starts the server on a loopback TCP port; returns the port. */
static uint16_t fakeStartTcp(FakeServer *server)
{
    server->listenFd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(server->listenFd >= 0);
    struct sockaddr_in address = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(server->listenFd, (struct sockaddr *)&address, sizeof(address)), 0);
    assert_int_equal(listen(server->listenFd, 1), 0);
    socklen_t length = sizeof(address);
    assert_int_equal(getsockname(server->listenFd, (struct sockaddr *)&address, &length), 0);
    assert_int_equal(pthread_create(&server->thread, NULL, fakeThread, server), 0);
    return ntohs(address.sin_port);
}

/* Joins the server thread and fails the test on a script failure. */
static void fakeFinish(FakeServer *server)
{
    pthread_join(server->thread, NULL);
    if (server->listenFd >= 0)
        close(server->listenFd);
    if (server->failure[0])
        fail_msg("fake server: %s", server->failure);
}

static void fakeFree(FakeServer *server)
{
    arenaFree(server->arena);
    free(server);
}

static BoltConnectOptions testOptions(void)
{
    BoltConnectOptions options = {
        .uri = "bolt://fake:7687",
        .user = "neo4j",
        .password = TEST_PASSWORD,
        .connectTimeoutMs = FAKE_IO_TIMEOUT_MS,
        .readTimeoutMs = FAKE_IO_TIMEOUT_MS,
    };
    return options;
}

static const FakeRequest *fakeRequest(const FakeServer *server, unsigned index)
{
    if (index >= server->requestCount)
        fail_msg("the client sent only %u requests, wanted #%u", server->requestCount, index);
    return &server->requests[index];
}

static const BoltValue *requestExtra(const FakeServer *server, unsigned index)
{
    const FakeRequest *request = fakeRequest(server, index);
    assert_true(request->fieldCount >= 1);
    const BoltValue *extra = &request->fields[request->fieldCount - 1];
    assert_int_equal(extra->type, BOLT_MAP);
    return extra;
}

static void assertReasonContains(const char *fragment)
{
    if (!strstr(errLast()->reason, fragment))
        fail_msg("reason '%s' lacks '%s'", errLast()->reason, fragment);
}

/* The password must never appear in any error text. */
static void assertNoPasswordInError(void)
{
    assert_null(strstr(errLast()->reason, TEST_PASSWORD));
    assert_null(strstr(errLast()->action, TEST_PASSWORD));
}

/* ---- handshake and authentication ----------------------------------- */

static void scriptSession58(FakeServer *server)
{
    if (fakeAcceptSession(server, 5, 8))
        fakeDrain(server);
}

static void testHandshake58AndHelloLogon(void **state)
{
    (void)state;
    FakeServer *server = fakeNew(scriptSession58, NULL);
    BoltConnectOptions options = testOptions();
    BoltConnection *connection = NULL;
    assert_int_equal(boltConnectTransport(&options, fakeStartPair(server), &connection), ERR_OK);
    assert_int_equal(boltVersionMajor(connection), 5);
    assert_int_equal(boltVersionMinor(connection), 8);
    assert_string_equal(boltServerAgent(connection), "Neo4j/5.26.0");
    boltClose(connection);
    fakeFinish(server);

    /* Exactly the proposals: 6.0, 5.8..5.0, 4.4, empty. */
    const uint8_t expected[20] = {0x60, 0x60, 0xB0, 0x17, 0, 0, 0, 6, 0, 8, 8, 5,
                                  0, 0, 4, 4, 0, 0, 0, 0};
    assert_memory_equal(server->handshake, expected, sizeof(expected));

    assert_int_equal(server->requestCount, 3);
    assert_int_equal(fakeRequest(server, 0)->signature, BOLT_MSG_HELLO);
    const BoltValue *hello = requestExtra(server, 0);
    assert_non_null(strstr(boltMapGetString(hello, "user_agent", ""), "neo4j-backup/"));
    const BoltValue *agent = boltMapGet(hello, "bolt_agent");
    assert_non_null(agent);
    assert_non_null(strstr(boltMapGetString(agent, "product", ""), "neo4j-backup/"));
    assert_string_equal(boltMapGetString(agent, "language", ""), "C17");
    assert_non_null(boltMapGetString(agent, "platform", NULL));
    assert_null(boltMapGet(hello, "credentials")); /* 5.1+: auth goes in LOGON */
    assert_null(boltMapGet(hello, "scheme"));
    assert_null(boltMapGet(hello, "routing"));     /* bolt:// is direct */
    assert_null(boltMapGet(hello, "patch_bolt"));

    assert_int_equal(fakeRequest(server, 1)->signature, BOLT_MSG_LOGON);
    const BoltValue *logon = requestExtra(server, 1);
    assert_string_equal(boltMapGetString(logon, "scheme", ""), "basic");
    assert_string_equal(boltMapGetString(logon, "principal", ""), "neo4j");
    assert_string_equal(boltMapGetString(logon, "credentials", ""), TEST_PASSWORD);
    assert_int_equal(fakeRequest(server, 2)->signature, BOLT_MSG_GOODBYE);
    fakeFree(server);
}

typedef struct {
    uint8_t maxMajor, maxMinor;   /* client cap */
    uint8_t major, minor;         /* what the fake server picks */
    uint8_t proposals[16];        /* what the client must offer */
    const char *uri;
} VersionCase;

static void scriptVersionCase(FakeServer *server)
{
    const VersionCase *versionCase = server->context;
    if (fakeAcceptSession(server, versionCase->major, versionCase->minor))
        fakeDrain(server);
}

static FakeServer *runVersionCase(const VersionCase *versionCase)
{
    FakeServer *server = fakeNew(scriptVersionCase, versionCase);
    BoltConnectOptions options = testOptions();
    options.maxMajor = versionCase->maxMajor;
    options.maxMinor = versionCase->maxMinor;
    if (versionCase->uri)
        options.uri = versionCase->uri;
    BoltConnection *connection = NULL;
    ErrCode code = boltConnectTransport(&options, fakeStartPair(server), &connection);
    if (code != ERR_OK)
        fail_msg("connect failed: %s", errLast()->reason);
    assert_int_equal(boltVersionMajor(connection), versionCase->major);
    assert_int_equal(boltVersionMinor(connection), versionCase->minor);
    boltClose(connection);
    fakeFinish(server);
    assert_memory_equal(server->handshake + 4, versionCase->proposals, 16);
    return server;
}

static void testCapAt44(void **state)
{
    (void)state;
    VersionCase versionCase = {4, 4, 4, 4, {0, 0, 4, 4}, NULL};
    FakeServer *server = runVersionCase(&versionCase);
    /* 4.4: auth in HELLO, the utc patch, no bolt_agent, no LOGON. */
    assert_int_equal(server->requestCount, 2);
    const BoltValue *hello = requestExtra(server, 0);
    assert_string_equal(boltMapGetString(hello, "scheme", ""), "basic");
    assert_string_equal(boltMapGetString(hello, "principal", ""), "neo4j");
    assert_string_equal(boltMapGetString(hello, "credentials", ""), TEST_PASSWORD);
    const BoltValue *patches = boltMapGet(hello, "patch_bolt");
    assert_non_null(patches);
    assert_int_equal(patches->type, BOLT_LIST);
    assert_int_equal(patches->as.list.count, 1);
    assert_string_equal(patches->as.list.items[0].as.string.data, "utc");
    assert_null(boltMapGet(hello, "bolt_agent"));
    assert_int_equal(fakeRequest(server, 1)->signature, BOLT_MSG_GOODBYE);
    fakeFree(server);
}

static void testCapAt50(void **state)
{
    (void)state;
    VersionCase versionCase = {5, 0, 5, 0, {0, 0, 0, 5, 0, 0, 4, 4}, NULL};
    FakeServer *server = runVersionCase(&versionCase);
    const BoltValue *hello = requestExtra(server, 0);
    assert_string_equal(boltMapGetString(hello, "credentials", ""), TEST_PASSWORD);
    assert_null(boltMapGet(hello, "patch_bolt"));
    assert_null(boltMapGet(hello, "bolt_agent"));
    assert_int_equal(fakeRequest(server, 1)->signature, BOLT_MSG_GOODBYE);
    fakeFree(server);
}

static void testCapAt54WithRouting(void **state)
{
    (void)state;
    VersionCase versionCase = {5, 4, 5, 4, {0, 4, 4, 5, 0, 0, 4, 4}, "neo4j://graph.example:7000"};
    FakeServer *server = runVersionCase(&versionCase);
    const BoltValue *hello = requestExtra(server, 0);
    assert_non_null(boltMapGet(hello, "bolt_agent")); /* 5.3+ */
    assert_null(boltMapGet(hello, "credentials"));
    const BoltValue *routing = boltMapGet(hello, "routing");
    assert_non_null(routing);
    assert_string_equal(boltMapGetString(routing, "address", ""), "graph.example:7000");
    assert_int_equal(fakeRequest(server, 1)->signature, BOLT_MSG_LOGON);
    fakeFree(server);
}

static void testCapAt52NoBoltAgent(void **state)
{
    (void)state;
    VersionCase versionCase = {5, 2, 5, 1, {0, 2, 2, 5, 0, 0, 4, 4}, NULL};
    FakeServer *server = runVersionCase(&versionCase);
    assert_null(boltMapGet(requestExtra(server, 0), "bolt_agent")); /* only from 5.3 */
    assert_int_equal(fakeRequest(server, 1)->signature, BOLT_MSG_LOGON);
    fakeFree(server);
}

static void testCap60Only(void **state)
{
    (void)state;
    VersionCase versionCase = {6, 0, 6, 0, {0, 0, 0, 6, 0, 8, 8, 5, 0, 0, 4, 4}, NULL};
    fakeFree(runVersionCase(&versionCase));
}

static void testCapBelowEverything(void **state)
{
    (void)state;
    BoltConnectOptions options = testOptions();
    options.maxMajor = 4;
    options.maxMinor = 3;
    int ends[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, ends), 0);
    BoltConnection *connection = NULL;
    assert_int_equal(boltConnectTransport(&options, boltTransportFromFd(ends[0], "fake"), &connection),
                     CONFIG_INVALID);
    assert_null(connection);
    close(ends[1]);
}

/* Server answers the handshake with fixed bytes and closes. */
static void scriptRawReply(FakeServer *server)
{
    if (fakeReadHandshake(server))
        fakeSendRaw(server, server->context, 4);
}

static void runRawReply(const char *reply, ErrCode expected, const char *fragment)
{
    FakeServer *server = fakeNew(scriptRawReply, reply);
    BoltConnectOptions options = testOptions();
    BoltConnection *connection = NULL;
    errClear();
    assert_int_equal(boltConnectTransport(&options, fakeStartPair(server), &connection), expected);
    assert_null(connection);
    assertReasonContains(fragment);
    fakeFinish(server);
    fakeFree(server);
}

static void testNoCommonVersion(void **state)
{
    (void)state;
    runRawReply("\0\0\0\0", NEO4J_PROTOCOL_ERROR, "server supports none of the offered Bolt versions");
}

static void testHttpPort(void **state)
{
    (void)state;
    runRawReply("HTTP", NEO4J_PROTOCOL_ERROR, "this is the HTTP port, use the Bolt port (7687)");
}

static void testVersionNotOffered(void **state)
{
    (void)state;
    runRawReply("\0\0\0\3", NEO4J_PROTOCOL_ERROR, "not a version this client offered");
    runRawReply("\0\0\x09\x05", NEO4J_PROTOCOL_ERROR, "not a version this client offered");
}

static void scriptCloseAfterHandshake(FakeServer *server) { fakeReadHandshake(server); }

static void testEofDuringHandshake(void **state)
{
    (void)state;
    FakeServer *server = fakeNew(scriptCloseAfterHandshake, NULL);
    BoltConnectOptions options = testOptions();
    BoltConnection *connection = NULL;
    assert_int_equal(boltConnectTransport(&options, fakeStartPair(server), &connection),
                     NEO4J_UNREACHABLE);
    assertReasonContains("closed the connection during the Bolt handshake");
    assert_non_null(strstr(errLast()->action, "bolt+s://"));
    fakeFinish(server);
    fakeFree(server);
}

typedef struct {
    uint8_t major, minor;
    const char *codeKey;
    bool failHello;
} AuthCase;

static void scriptAuthFailure(FakeServer *server)
{
    const AuthCase *authCase = server->context;
    if (!fakeReadHandshake(server))
        return;
    fakeSendVersion(server, authCase->major, authCase->minor);
    if (!fakeExpect(server, BOLT_MSG_HELLO))
        return;
    bool logon = authCase->major == 5 && authCase->minor >= 1;
    if (logon && !fakeExpect(server, BOLT_MSG_LOGON))
        return;
    if (!authCase->failHello)
        fakeSendSuccess(server);
    fakeSendFailure(server, authCase->codeKey, "Neo.ClientError.Security.Unauthorized",
                    "The client is unauthorized due to authentication failure.");
    /* A failed HELLO/LOGON closes the connection: no GOODBYE is expected. */
}

static void runAuthFailure(const AuthCase *authCase)
{
    FakeServer *server = fakeNew(scriptAuthFailure, authCase);
    BoltConnectOptions options = testOptions();
    BoltConnection *connection = NULL;
    errClear();
    assert_int_equal(boltConnectTransport(&options, fakeStartPair(server), &connection),
                     NEO4J_AUTH_FAILED);
    assert_null(connection);
    assert_string_equal(errLast()->serverCode, "Neo.ClientError.Security.Unauthorized");
    assertReasonContains("unauthorized due to authentication failure");
    assertNoPasswordInError();
    fakeFinish(server);
    fakeFree(server);
}

static void testAuthFailureLogon(void **state)
{
    (void)state;
    AuthCase authCase = {5, 8, "neo4j_code", false};
    runAuthFailure(&authCase);
    AuthCase older = {5, 4, "code", false};
    runAuthFailure(&older);
}

static void testAuthFailureHello(void **state)
{
    (void)state;
    AuthCase v44 = {4, 4, "code", true};
    runAuthFailure(&v44);
    AuthCase v50 = {5, 0, "code", true};
    runAuthFailure(&v50);
}

static void scriptNoUtcPatch(FakeServer *server)
{
    if (!fakeReadHandshake(server))
        return;
    fakeSendVersion(server, 4, 4);
    if (fakeExpect(server, BOLT_MSG_HELLO))
        fakeSendSuccess(server); /* no patch_bolt echoed */
    fakeDrain(server);
}

static void testRefuses44WithoutUtcPatch(void **state)
{
    (void)state;
    FakeServer *server = fakeNew(scriptNoUtcPatch, NULL);
    BoltConnectOptions options = testOptions();
    options.maxMajor = 4;
    options.maxMinor = 4;
    BoltConnection *connection = NULL;
    assert_int_equal(boltConnectTransport(&options, fakeStartPair(server), &connection),
                     NEO4J_PROTOCOL_ERROR);
    assertReasonContains("utc");
    fakeFinish(server);
    fakeFree(server);
}

/* ---- results --------------------------------------------------------- */

static BoltValue fakeRecord(Arena *arena, int64_t value)
{
    BoltValue record = boltList(arena, 1);
    record.as.list.items[0] = boltInt(value);
    return record;
}

static void fakeSendFields(FakeServer *server, const char *name)
{
    BoltValue fields = boltList(server->arena, 1);
    fields.as.list.items[0] = boltString(server->arena, name);
    BoltValue tFirst = boltInt(3);
    BoltValue metadata = fakeMap(server->arena, "fields", &fields, "t_first", &tFirst, (const char *)NULL);
    fakeSend(server, BOLT_MSG_SUCCESS, &metadata);
}

static void fakeSendHasMore(FakeServer *server)
{
    BoltValue yes = boltBool(true);
    BoltValue metadata = fakeMap(server->arena, "has_more", &yes, (const char *)NULL);
    fakeSend(server, BOLT_MSG_SUCCESS, &metadata);
}

static void fakeSendDone(FakeServer *server)
{
    BoltValue type = boltString(server->arena, "r");
    BoltValue bookmark = boltString(server->arena, "FB:kcwQ");
    BoltValue metadata = fakeMap(server->arena, "type", &type, "bookmark", &bookmark, (const char *)NULL);
    fakeSend(server, BOLT_MSG_SUCCESS, &metadata);
}

static void scriptStreaming(FakeServer *server)
{
    if (!fakeAcceptSession(server, 5, 8) || !fakeExpect(server, BOLT_MSG_RUN) ||
        !fakeExpect(server, BOLT_MSG_PULL))
        return;
    fakeSendFields(server, "x");
    for (int64_t value = 1; value <= 2; value++) {
        BoltValue record = fakeRecord(server->arena, value);
        fakeSend(server, BOLT_MSG_RECORD, &record);
    }
    fakeSendHasMore(server);
    if (!fakeExpect(server, BOLT_MSG_PULL))
        return;
    BoltValue record = fakeRecord(server->arena, 3);
    fakeSend(server, BOLT_MSG_RECORD, &record);
    fakeSendHasMore(server);
    if (!fakeExpect(server, BOLT_MSG_PULL))
        return;
    fakeSendDone(server); /* an empty last batch */
    fakeDrain(server);
}

static void testStreamingWithHasMore(void **state)
{
    (void)state;
    FakeServer *server = fakeNew(scriptStreaming, NULL);
    BoltConnectOptions options = testOptions();
    BoltConnection *connection = NULL;
    assert_int_equal(boltConnectTransport(&options, fakeStartPair(server), &connection), ERR_OK);
    BoltQueryOptions query = {.database = "neo4j", .mode = BOLT_ACCESS_READ, .fetchSize = 2,
                              .txTimeoutMs = 60000};
    assert_int_equal(boltRun(connection, "UNWIND range(1, 3) AS x RETURN x", NULL, &query), ERR_OK);
    assert_int_equal(boltFieldCount(connection), 1);
    assert_string_equal(boltFieldName(connection, 0), "x");
    assert_null(boltFieldName(connection, 1));
    for (int64_t expected = 1; expected <= 3; expected++) {
        const BoltValue *record = NULL;
        assert_int_equal(boltFetch(connection, &record), ERR_OK);
        assert_non_null(record);
        assert_int_equal(record->type, BOLT_LIST);
        assert_int_equal(record->as.list.items[0].as.integer, expected);
        assert_null(boltResultSummary(connection));
    }
    const BoltValue *record = (const BoltValue *)1;
    assert_int_equal(boltFetch(connection, &record), ERR_OK);
    assert_null(record);
    assert_int_equal(boltFetch(connection, &record), ERR_OK); /* stays at the end */
    assert_null(record);
    const BoltValue *summary = boltResultSummary(connection);
    assert_non_null(summary);
    assert_string_equal(boltMapGetString(summary, "type", ""), "r");
    boltClose(connection);
    fakeFinish(server);

    /* HELLO, LOGON, RUN, PULL x3, GOODBYE */
    assert_int_equal(server->requestCount, 7);
    const FakeRequest *run = fakeRequest(server, 2);
    assert_int_equal(run->fieldCount, 3);
    assert_string_equal(run->fields[0].as.string.data, "UNWIND range(1, 3) AS x RETURN x");
    assert_int_equal(run->fields[1].type, BOLT_MAP);
    const BoltValue *extra = &run->fields[2];
    assert_string_equal(boltMapGetString(extra, "db", ""), "neo4j");
    assert_string_equal(boltMapGetString(extra, "mode", ""), "r");
    assert_int_equal(boltMapGetInt(extra, "tx_timeout", 0), 60000);
    for (unsigned index = 3; index <= 5; index++) {
        assert_int_equal(fakeRequest(server, index)->signature, BOLT_MSG_PULL);
        assert_int_equal(boltMapGetInt(requestExtra(server, index), "n", 0), 2);
    }
    assert_int_equal(fakeRequest(server, 6)->signature, BOLT_MSG_GOODBYE);
    fakeFree(server);
}

/* A long string record, sent in tiny chunks with NOOPs around messages. */
static void scriptChunksAndNoops(FakeServer *server)
{
    if (!fakeAcceptSession(server, 5, 8) || !fakeExpect(server, BOLT_MSG_RUN) ||
        !fakeExpect(server, BOLT_MSG_PULL))
        return;
    const uint8_t noop[] = {0x00, 0x00};
    fakeSendRaw(server, noop, sizeof(noop));
    fakeSendSuccess(server); /* no "fields": a result without columns */
    fakeSendRaw(server, noop, sizeof(noop));
    fakeSendRaw(server, noop, sizeof(noop));
    const char *text = server->context;
    BoltValue record = boltList(server->arena, 2);
    record.as.list.items[0] = boltString(server->arena, text);
    record.as.list.items[1] = boltInt(-42);
    fakeSendChunked(server, BOLT_MSG_RECORD, &record, 1); /* one byte per chunk */
    fakeSendRaw(server, noop, sizeof(noop));
    fakeSendChunked(server, BOLT_MSG_RECORD, &record, 65535);
    fakeSendChunked(server, BOLT_MSG_RECORD, &record, 1000);
    fakeSendRaw(server, noop, sizeof(noop));
    fakeSendDone(server);
    fakeDrain(server);
}

static void testChunksAndNoops(void **state)
{
    (void)state;
    size_t length = 200000;
    char *text = malloc(length + 1);
    for (size_t index = 0; index < length; index++)
        text[index] = (char)('a' + index % 26);
    text[length] = '\0';
    FakeServer *server = fakeNew(scriptChunksAndNoops, text);
    BoltConnectOptions options = testOptions();
    BoltConnection *connection = NULL;
    assert_int_equal(boltConnectTransport(&options, fakeStartPair(server), &connection), ERR_OK);
    assert_int_equal(boltRun(connection, "RETURN $big", NULL, NULL), ERR_OK);
    assert_int_equal(boltFieldCount(connection), 0);
    for (int copy = 0; copy < 3; copy++) {
        const BoltValue *record = NULL;
        assert_int_equal(boltFetch(connection, &record), ERR_OK);
        assert_non_null(record);
        assert_int_equal(record->as.list.count, 2);
        assert_int_equal(record->as.list.items[0].as.string.length, length);
        assert_memory_equal(record->as.list.items[0].as.string.data, text, length);
        assert_int_equal(record->as.list.items[1].as.integer, -42);
    }
    const BoltValue *record = NULL;
    assert_int_equal(boltFetch(connection, &record), ERR_OK);
    assert_null(record);
    boltClose(connection);
    fakeFinish(server);
    fakeFree(server);
    free(text);
}

typedef struct {
    bool failInPull; /* FAILURE after some records instead of on RUN */
} FailureCase;

static void scriptQueryFailure(FakeServer *server)
{
    const FailureCase *failureCase = server->context;
    if (!fakeAcceptSession(server, 5, 8) || !fakeExpect(server, BOLT_MSG_RUN) ||
        !fakeExpect(server, BOLT_MSG_PULL))
        return;
    if (failureCase->failInPull) {
        fakeSendFields(server, "x");
        BoltValue record = fakeRecord(server->arena, 1);
        fakeSend(server, BOLT_MSG_RECORD, &record);
    }
    fakeSendFailure(server, "neo4j_code", "Neo.ClientError.Statement.SyntaxError",
                    "Invalid input 'RETRUN'\n\"RETRUN 1\"\n ^");
    if (!fakeExpect(server, BOLT_MSG_RESET))
        return;
    if (!failureCase->failInPull)
        fakeSend(server, BOLT_MSG_IGNORED, NULL); /* for the PULL */
    fakeSendSuccess(server);                      /* for the RESET */
    /* The connection is usable again. */
    if (!fakeExpect(server, BOLT_MSG_RUN) || !fakeExpect(server, BOLT_MSG_PULL))
        return;
    fakeSendFields(server, "x");
    BoltValue record = fakeRecord(server->arena, 7);
    fakeSend(server, BOLT_MSG_RECORD, &record);
    fakeSendDone(server);
    fakeDrain(server);
}

static void runQueryFailure(bool failInPull)
{
    FailureCase failureCase = {failInPull};
    FakeServer *server = fakeNew(scriptQueryFailure, &failureCase);
    BoltConnectOptions options = testOptions();
    BoltConnection *connection = NULL;
    assert_int_equal(boltConnectTransport(&options, fakeStartPair(server), &connection), ERR_OK);
    errClear();
    ErrCode code = boltRun(connection, "RETRUN 1", NULL, NULL);
    if (failInPull) {
        assert_int_equal(code, ERR_OK);
        const BoltValue *record = NULL;
        assert_int_equal(boltFetch(connection, &record), ERR_OK);
        assert_non_null(record);
        code = boltFetch(connection, &record);
        assert_null(record);
    }
    assert_int_equal(code, NEO4J_QUERY_FAILED);
    assert_string_equal(errLast()->serverCode, "Neo.ClientError.Statement.SyntaxError");
    assertReasonContains("Invalid input 'RETRUN' \"RETRUN 1\" ^");
    assert_null(strchr(errLast()->reason, '\n')); /* one line */

    BoltValue value;
    Arena *arena = arenaNew(0);
    assert_int_equal(boltQuerySingle(connection, "RETURN 7", NULL, NULL, arena, &value), ERR_OK);
    assert_int_equal(value.type, BOLT_INT);
    assert_int_equal(value.as.integer, 7);
    arenaFree(arena);
    boltClose(connection);
    fakeFinish(server);
    fakeFree(server);
}

static void testFailureResetIgnored(void **state)
{
    (void)state;
    runQueryFailure(false);
}

static void testFailureMidStream(void **state)
{
    (void)state;
    runQueryFailure(true);
}

typedef enum { CUT_MID_MESSAGE, CUT_HUGE_CHUNK_CLAIM, CUT_BETWEEN_MESSAGES } CutKind;

static void scriptTruncated(FakeServer *server)
{
    const CutKind *kind = server->context;
    if (!fakeAcceptSession(server, 5, 8) || !fakeExpect(server, BOLT_MSG_RUN) ||
        !fakeExpect(server, BOLT_MSG_PULL))
        return;
    fakeSendFields(server, "x");
    BoltValue record = fakeRecord(server->arena, 1);
    fakeSend(server, BOLT_MSG_RECORD, &record);
    if (*kind == CUT_MID_MESSAGE) {
        const uint8_t partial[] = {0x00, 0x10, 0xB1, 0x71, 0x91};
        fakeSendRaw(server, partial, sizeof(partial));
    } else if (*kind == CUT_HUGE_CHUNK_CLAIM) {
        const uint8_t claim[] = {0xFF, 0xFF, 0xB1, 0x71};
        fakeSendRaw(server, claim, sizeof(claim));
    }
    /* then close */
}

static void runTruncated(CutKind kind, const char *fragment)
{
    FakeServer *server = fakeNew(scriptTruncated, &kind);
    BoltConnectOptions options = testOptions();
    BoltConnection *connection = NULL;
    assert_int_equal(boltConnectTransport(&options, fakeStartPair(server), &connection), ERR_OK);
    assert_int_equal(boltRun(connection, "RETURN 1", NULL, NULL), ERR_OK);
    const BoltValue *record = NULL;
    assert_int_equal(boltFetch(connection, &record), ERR_OK);
    assert_non_null(record);
    errClear();
    assert_int_equal(boltFetch(connection, &record), NEO4J_UNREACHABLE);
    assert_null(record);
    assertReasonContains(fragment);
    /* Defunct from now on. */
    assert_int_equal(boltRun(connection, "RETURN 1", NULL, NULL), NEO4J_UNREACHABLE);
    boltClose(connection);
    fakeFinish(server);
    fakeFree(server);
}

static void testTruncatedStreams(void **state)
{
    (void)state;
    runTruncated(CUT_MID_MESSAGE, "closed the connection in the middle of a message");
    runTruncated(CUT_HUGE_CHUNK_CLAIM, "closed the connection in the middle of a message");
    runTruncated(CUT_BETWEEN_MESSAGES, "closed the connection in the middle of a result");
}

static void scriptGarbageMessage(FakeServer *server)
{
    if (!fakeAcceptSession(server, 5, 8) || !fakeExpect(server, BOLT_MSG_RUN) ||
        !fakeExpect(server, BOLT_MSG_PULL))
        return;
    /* A "message" that is not a structure, then one with a truncated string. */
    const uint8_t junk[] = {0x00, 0x01, 0xC3, 0x00, 0x00};
    fakeSendRaw(server, junk, sizeof(junk));
    fakeDrain(server);
}

static void testGarbageMessage(void **state)
{
    (void)state;
    FakeServer *server = fakeNew(scriptGarbageMessage, NULL);
    BoltConnectOptions options = testOptions();
    BoltConnection *connection = NULL;
    assert_int_equal(boltConnectTransport(&options, fakeStartPair(server), &connection), ERR_OK);
    assert_int_equal(boltRun(connection, "RETURN 1", NULL, NULL), NEO4J_PROTOCOL_ERROR);
    assertReasonContains("not a structure");
    boltClose(connection);
    fakeFinish(server);
    fakeFree(server);
}

static void scriptTransaction(FakeServer *server)
{
    if (!fakeAcceptSession(server, 5, 8) || !fakeExpect(server, BOLT_MSG_BEGIN))
        return;
    fakeSendSuccess(server);
    if (!fakeExpect(server, BOLT_MSG_RUN) || !fakeExpect(server, BOLT_MSG_PULL))
        return;
    fakeSendFields(server, "x");
    for (int64_t value = 1; value <= 1; value++) {
        BoltValue record = fakeRecord(server->arena, value);
        fakeSend(server, BOLT_MSG_RECORD, &record);
    }
    fakeSendHasMore(server);
    /* The client gives up on the rest: DISCARD, then COMMIT. */
    if (!fakeExpect(server, BOLT_MSG_DISCARD))
        return;
    fakeSendSuccess(server);
    if (!fakeExpect(server, BOLT_MSG_COMMIT))
        return;
    BoltValue bookmark = boltString(server->arena, "FB:x");
    BoltValue committed = fakeMap(server->arena, "bookmark", &bookmark, (const char *)NULL);
    fakeSend(server, BOLT_MSG_SUCCESS, &committed);
    /* A failing BEGIN: RESET follows. */
    if (!fakeExpect(server, BOLT_MSG_BEGIN))
        return;
    fakeSendFailure(server, "code", "Neo.ClientError.Database.DatabaseNotFound", "Database does not exist");
    if (!fakeExpect(server, BOLT_MSG_RESET))
        return;
    fakeSendSuccess(server);
    fakeDrain(server);
}

static void testTransactionAndDiscard(void **state)
{
    (void)state;
    FakeServer *server = fakeNew(scriptTransaction, NULL);
    BoltConnectOptions options = testOptions();
    BoltConnection *connection = NULL;
    assert_int_equal(boltConnectTransport(&options, fakeStartPair(server), &connection), ERR_OK);

    Arena *arena = arenaNew(0);
    BoltValue metadata = boltMap(arena, 1);
    boltMapSet(arena, &metadata, 0, "app", boltString(arena, "backup"));
    BoltQueryOptions txOptions = {.database = "movies", .mode = BOLT_ACCESS_READ,
                                  .txMetadata = &metadata, .txTimeoutMs = 5000};
    assert_int_equal(boltBegin(connection, &txOptions), ERR_OK);
    assert_int_equal(boltBegin(connection, &txOptions), ERR_INTERNAL); /* already open */
    BoltQueryOptions runOptions = {.database = "ignored", .fetchSize = 1};
    assert_int_equal(boltRun(connection, "MATCH (n) RETURN n", NULL, &runOptions), ERR_OK);
    const BoltValue *record = NULL;
    assert_int_equal(boltFetch(connection, &record), ERR_OK);
    assert_non_null(record);
    assert_int_equal(boltCommit(connection), ERR_OK); /* discards the rest first */
    assert_int_equal(boltCommit(connection), NEO4J_QUERY_FAILED); /* nothing open */
    assert_int_equal(boltRollback(connection), ERR_OK);           /* nothing to undo */

    errClear();
    BoltQueryOptions missing = {.database = "nope"};
    assert_int_equal(boltBegin(connection, &missing), NEO4J_QUERY_FAILED);
    assert_string_equal(errLast()->serverCode, "Neo.ClientError.Database.DatabaseNotFound");
    arenaFree(arena);
    boltClose(connection);
    fakeFinish(server);

    const BoltValue *begin = requestExtra(server, 2);
    assert_string_equal(boltMapGetString(begin, "db", ""), "movies");
    assert_string_equal(boltMapGetString(begin, "mode", ""), "r");
    assert_int_equal(boltMapGetInt(begin, "tx_timeout", 0), 5000);
    const BoltValue *txMetadata = boltMapGet(begin, "tx_metadata");
    assert_non_null(txMetadata);
    assert_string_equal(boltMapGetString(txMetadata, "app", ""), "backup");
    /* Inside the transaction RUN's extra is empty. */
    assert_int_equal(fakeRequest(server, 3)->signature, BOLT_MSG_RUN);
    assert_int_equal(requestExtra(server, 3)->as.map.count, 0);
    assert_int_equal(boltMapGetInt(requestExtra(server, 4), "n", 0), 1);
    assert_int_equal(fakeRequest(server, 5)->signature, BOLT_MSG_DISCARD);
    assert_int_equal(boltMapGetInt(requestExtra(server, 5), "n", 0), -1);
    assert_int_equal(fakeRequest(server, 6)->signature, BOLT_MSG_COMMIT);
    fakeFree(server);
}

static void scriptSilent(FakeServer *server)
{
    if (!fakeAcceptSession(server, 5, 8) || !fakeExpect(server, BOLT_MSG_RUN))
        return;
    fakeDrain(server); /* never answers */
}

static void testReadTimeout(void **state)
{
    (void)state;
    FakeServer *server = fakeNew(scriptSilent, NULL);
    BoltConnectOptions options = testOptions();
    options.readTimeoutMs = 50;
    BoltConnection *connection = NULL;
    assert_int_equal(boltConnectTransport(&options, fakeStartPair(server), &connection), ERR_OK);
    assert_int_equal(boltRun(connection, "CALL slow()", NULL, NULL), NEO4J_TIMEOUT);
    assert_int_equal(boltFetch(connection, &(const BoltValue *){NULL}), NEO4J_UNREACHABLE);
    boltClose(connection);
    fakeFinish(server);
    fakeFree(server);
}

/* ---- real sockets ----------------------------------------------------- */

static void testConnectionRefused(void **state)
{
    (void)state;
    /* A port that was just free: bind, read the number, close. */
    int probe = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in address = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(probe, (struct sockaddr *)&address, sizeof(address)), 0);
    socklen_t length = sizeof(address);
    getsockname(probe, (struct sockaddr *)&address, &length);
    close(probe);
    char uri[64];
    snprintf(uri, sizeof(uri), "bolt://127.0.0.1:%u", ntohs(address.sin_port));
    BoltConnectOptions options = testOptions();
    options.uri = uri;
    BoltConnection *connection = NULL;
    assert_int_equal(boltConnect(&options, &connection), NEO4J_UNREACHABLE);
    char expected[80];
    snprintf(expected, sizeof(expected), "connection refused by 127.0.0.1:%u", ntohs(address.sin_port));
    assertReasonContains(expected);
}

static void testTcpHttpReply(void **state)
{
    (void)state;
    FakeServer *server = fakeNew(scriptRawReply, "HTTP/1.1 400 Bad Request\r\n\r\n");
    uint16_t port = fakeStartTcp(server);
    char uri[64];
    snprintf(uri, sizeof(uri), "bolt://localhost:%u", port);
    BoltConnectOptions options = testOptions();
    options.uri = uri;
    BoltConnection *connection = NULL;
    assert_int_equal(boltConnect(&options, &connection), NEO4J_PROTOCOL_ERROR);
    assertReasonContains("HTTP port");
    fakeFinish(server);
    fakeFree(server);
}

static void testTcpSession(void **state)
{
    (void)state;
    FakeServer *server = fakeNew(scriptStreaming, NULL);
    uint16_t port = fakeStartTcp(server);
    char uri[64];
    snprintf(uri, sizeof(uri), "neo4j://127.0.0.1:%u", port);
    BoltConnectOptions options = testOptions();
    options.uri = uri;
    BoltConnection *connection = NULL;
    assert_int_equal(boltConnect(&options, &connection), ERR_OK);
    BoltQueryOptions query = {.fetchSize = 2};
    assert_int_equal(boltRun(connection, "RETURN 1", NULL, &query), ERR_OK);
    int64_t count = 0;
    const BoltValue *record = NULL;
    while (boltFetch(connection, &record) == ERR_OK && record)
        count++;
    assert_int_equal(count, 3);
    boltClose(connection);
    fakeFinish(server);
    char address[64];
    snprintf(address, sizeof(address), "127.0.0.1:%u", port);
    assert_string_equal(boltMapGetString(boltMapGet(requestExtra(server, 0), "routing"), "address", ""),
                        address);
    fakeFree(server);
}

/* ---- TLS with a certificate made on the fly ------------------------- */

typedef struct {
    EVP_PKEY *key;
    X509 *certificate;
    char caPath[64];
} TestCertificate;

static void makeCertificate(TestCertificate *out)
{
    out->key = EVP_EC_gen("P-256");
    assert_non_null(out->key);
    X509 *certificate = X509_new();
    X509_set_version(certificate, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(certificate), 1);
    X509_gmtime_adj(X509_getm_notBefore(certificate), -60);
    X509_gmtime_adj(X509_getm_notAfter(certificate), 3600);
    X509_set_pubkey(certificate, out->key);
    X509_NAME *name = X509_get_subject_name(certificate);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)"localhost", -1, -1, 0);
    X509_set_issuer_name(certificate, name);
    X509V3_CTX context;
    X509V3_set_ctx_nodb(&context);
    X509V3_set_ctx(&context, certificate, certificate, NULL, NULL, 0);
    X509_EXTENSION *altNames = X509V3_EXT_conf_nid(NULL, &context, NID_subject_alt_name, "DNS:localhost");
    X509_add_ext(certificate, altNames, -1);
    X509_EXTENSION_free(altNames);
    X509_EXTENSION *basic = X509V3_EXT_conf_nid(NULL, &context, NID_basic_constraints, "critical,CA:TRUE");
    X509_add_ext(certificate, basic, -1);
    X509_EXTENSION_free(basic);
    assert_true(X509_sign(certificate, out->key, EVP_sha256()) > 0);
    out->certificate = certificate;

    snprintf(out->caPath, sizeof(out->caPath), "/tmp/nbk-conn-test-ca-XXXXXX");
    int fd = mkstemp(out->caPath);
    assert_true(fd >= 0);
    FILE *file = fdopen(fd, "w");
    PEM_write_X509(file, certificate);
    fclose(file);
}

static void freeCertificate(TestCertificate *certificate)
{
    unlink(certificate->caPath);
    X509_free(certificate->certificate);
    EVP_PKEY_free(certificate->key);
}

static SSL_CTX *serverTlsContext(const TestCertificate *certificate)
{
    SSL_CTX *context = SSL_CTX_new(TLS_server_method());
    assert_non_null(context);
    assert_int_equal(SSL_CTX_use_certificate(context, certificate->certificate), 1);
    assert_int_equal(SSL_CTX_use_PrivateKey(context, certificate->key), 1);
    return context;
}

/* Connects with scheme to a TLS fake server; returns the code. */
static ErrCode runTls(const TestCertificate *certificate, const char *scheme, const char *caFile,
                      bool serveTls)
{
    /* A plain server takes the start of the TLS ClientHello for a handshake
     * and answers it with a version: the client's TLS layer must choke on that. */
    FakeServer *server = serveTls ? fakeNew(scriptSession58, NULL) : fakeNew(scriptRawReply, "\0\0\x08\x05");
    if (serveTls)
        server->tlsContext = serverTlsContext(certificate);
    uint16_t port = fakeStartTcp(server);
    char uri[64];
    snprintf(uri, sizeof(uri), "%s://localhost:%u", scheme, port);
    BoltConnectOptions options = testOptions();
    options.uri = uri;
    options.caFile = caFile;
    BoltConnection *connection = NULL;
    errClear();
    ErrCode code = boltConnect(&options, &connection);
    ErrDetail detail = errSave();
    if (code == ERR_OK) {
        assert_int_equal(boltVersionMinor(connection), 8);
        boltClose(connection);
    }
    fakeFinish(server);
    if (code == ERR_OK)
        assert_memory_equal(server->handshake, "\x60\x60\xB0\x17", 4);
    SSL_CTX_free(server->tlsContext);
    fakeFree(server);
    errSet(detail.code, "%s", detail.reason);
    return code;
}

static void testTls(void **state)
{
    (void)state;
    TestCertificate certificate;
    makeCertificate(&certificate);

    assert_int_equal(runTls(&certificate, "bolt+ssc", NULL, true), ERR_OK);
    assert_int_equal(runTls(&certificate, "neo4j+s", certificate.caPath, true), ERR_OK);
    /* Self-signed and not in the system store: refused with a clear reason. */
    assert_int_equal(runTls(&certificate, "bolt+s", NULL, true), NEO4J_UNREACHABLE);
    assertReasonContains("not trusted");
    /* TLS client, plain server: the handshake cannot complete. */
    assert_int_equal(runTls(&certificate, "bolt+ssc", NULL, false), NEO4J_UNREACHABLE);
    assertReasonContains("TLS handshake");
    freeCertificate(&certificate);
}

static void testTlsHostnameMismatch(void **state)
{
    (void)state;
    TestCertificate certificate;
    makeCertificate(&certificate);
    FakeServer *server = fakeNew(scriptSession58, NULL);
    server->tlsContext = serverTlsContext(&certificate);
    uint16_t port = fakeStartTcp(server);
    char uri[64];
    /* The certificate names localhost, not 127.0.0.1. */
    snprintf(uri, sizeof(uri), "bolt+s://127.0.0.1:%u", port);
    BoltConnectOptions options = testOptions();
    options.uri = uri;
    options.caFile = certificate.caPath;
    BoltConnection *connection = NULL;
    assert_int_equal(boltConnect(&options, &connection), NEO4J_UNREACHABLE);
    assertReasonContains("not trusted");
    fakeFinish(server);
    SSL_CTX_free(server->tlsContext);
    fakeFree(server);
    freeCertificate(&certificate);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(testHandshake58AndHelloLogon),
        cmocka_unit_test(testCapAt44),
        cmocka_unit_test(testCapAt50),
        cmocka_unit_test(testCapAt54WithRouting),
        cmocka_unit_test(testCapAt52NoBoltAgent),
        cmocka_unit_test(testCap60Only),
        cmocka_unit_test(testCapBelowEverything),
        cmocka_unit_test(testNoCommonVersion),
        cmocka_unit_test(testHttpPort),
        cmocka_unit_test(testVersionNotOffered),
        cmocka_unit_test(testEofDuringHandshake),
        cmocka_unit_test(testAuthFailureLogon),
        cmocka_unit_test(testAuthFailureHello),
        cmocka_unit_test(testRefuses44WithoutUtcPatch),
        cmocka_unit_test(testStreamingWithHasMore),
        cmocka_unit_test(testChunksAndNoops),
        cmocka_unit_test(testFailureResetIgnored),
        cmocka_unit_test(testFailureMidStream),
        cmocka_unit_test(testTruncatedStreams),
        cmocka_unit_test(testGarbageMessage),
        cmocka_unit_test(testTransactionAndDiscard),
        cmocka_unit_test(testReadTimeout),
        cmocka_unit_test(testConnectionRefused),
        cmocka_unit_test(testTcpHttpReply),
        cmocka_unit_test(testTcpSession),
        cmocka_unit_test(testTls),
        cmocka_unit_test(testTlsHostnameMismatch),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
