/* The restore service (src/restore/restore_service.c) against fake Bolt
 * servers: the production guard, the load choice and its reason, a failing
 * health check ending in RECOVERY_FAILED, a promotion with its safety backup,
 * and the rollback after production fails its checks.
 *
 * Each connection the service opens (through the connect operation of the
 * request) gets its own fake server thread over a socketpair. The fake holds
 * an empty graph: counts answer 0, listings answer no rows, RETURN 1 answers
 * 1 (or 2, for a connection told to fail its connectivity check). The
 * backups are empty archives in a real catalog in a temporary directory.
 * Like the other fakes, the threads never call cmocka: they record a
 * failure and the test asserts after joining. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "archive/archive.h"
#include "archive/chain.h"
#include "bolt/chunk.h"
#include "bolt/message.h"
#include "bolt/packstream.h"
#include "bolt/transport.h"
#include "catalog/catalog.h"
#include "catalog/manifest.h"
#include "common/fsutil.h"
#include "restore/recovery_state.h"
#include "restore/restore_service.h"

#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define FAKE_TIMEOUT_MS 5000
#define FAKE_MAX_CONNECTIONS 8

typedef struct {
    int fd;
    pthread_t thread;
    Arena *arena;
    bool wrongConnectivity; /* RETURN 1 answers 2: the connectivity check fails */
    unsigned runs;
    char lastQuery[512];
    char failure[256];
} FakeServer;

/* What the test's operations saw; reset by testSetUp. */
static struct {
    FakeServer servers[FAKE_MAX_CONNECTIONS];
    unsigned connections;
    unsigned brokenConnections;  /* bit n: connection n fails its connectivity check */
    unsigned importLoads;
    size_t importLinks;          /* links of the chain the import load was given */
    unsigned safetyBackups;
    unsigned confirmations;
    ErrCode confirmAnswer;
    char lastLoad[16];
    char lastReason[256];
    Storage *importStorage;    /* where the import load was told the archive is */
    char importName[256];
    char importPath[4096];
    char lines[16384];         /* every event's text, one per line */
    char directory[64];
    Catalog *catalog;
} fake;

static void fakeFail(FakeServer *server, const char *what)
{
    if (!server->failure[0])
        snprintf(server->failure, sizeof(server->failure), "%s", what);
}

static bool fakeRecv(FakeServer *server, void *data, size_t length)
{
    uint8_t *cursor = data;
    while (length > 0) {
        struct pollfd waitFor = {.fd = server->fd, .events = POLLIN};
        if (poll(&waitFor, 1, FAKE_TIMEOUT_MS) <= 0) {
            fakeFail(server, "timed out waiting for the client");
            return false;
        }
        ssize_t got = recv(server->fd, cursor, length, 0);
        if (got <= 0)
            return false;
        cursor += got;
        length -= (size_t)got;
    }
    return true;
}

static void fakeSend(FakeServer *server, uint8_t signature, const BoltValue *field)
{
    Buffer message, framed;
    bufferInit(&message);
    bufferInit(&framed);
    packStructHeader(&message, signature, field ? 1 : 0);
    if (field)
        packValue(&message, field);
    boltChunkWrite(&framed, message.data, message.length, 65535);
    if (send(server->fd, framed.data, framed.length, MSG_NOSIGNAL) != (ssize_t)framed.length)
        fakeFail(server, "send failed");
    bufferFree(&message);
    bufferFree(&framed);
}

static void fakeSuccess(FakeServer *server, const char *key, BoltValue value)
{
    BoltValue metadata = boltMap(server->arena, key ? 1 : 0);
    if (key)
        boltMapSet(server->arena, &metadata, 0, key, value);
    fakeSend(server, BOLT_MSG_SUCCESS, &metadata);
}

static bool fakeReadRequest(FakeServer *server, BoltValue *request)
{
    Buffer message;
    bufferInit(&message);
    for (;;) {
        uint8_t header[2];
        if (!fakeRecv(server, header, 2)) {
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
        if (!fakeRecv(server, message.data + message.length, length)) {
            bufferFree(&message);
            return false;
        }
        message.length += length;
    }
    PackReader reader;
    packReaderInit(&reader, message.data, message.length);
    bool decoded = unpackValue(&reader, server->arena, request) == ERR_OK && request->type == BOLT_STRUCT;
    bufferFree(&message);
    if (!decoded)
        fakeFail(server, "undecodable request");
    return decoded;
}

static bool endsWith(const char *text, const char *suffix)
{
    size_t length = strlen(text);
    size_t suffixLength = strlen(suffix);
    return length >= suffixLength && strcmp(text + length - suffixLength, suffix) == 0;
}

/* One column, one row of an integer, for RETURN 1 and the counts. */
static bool fakeSingleInteger(const FakeServer *server, const char *query, int64_t *value)
{
    if (endsWith(query, "RETURN 1")) {
        *value = server->wrongConnectivity ? 2 : 1;
        return true;
    }
    *value = 0; /* an empty graph */
    return !strstr(query, ", count(") &&
           (endsWith(query, "count(n)") || endsWith(query, "count(r)") || endsWith(query, "count(DISTINCT r)"));
}

static void *fakeThread(void *argument)
{
    FakeServer *server = argument;
    uint8_t handshake[20];
    if (!fakeRecv(server, handshake, sizeof(handshake)))
        return NULL;
    const uint8_t version[4] = {0, 0, 8, 5}; /* Bolt 5.8 */
    send(server->fd, version, sizeof(version), MSG_NOSIGNAL);
    bool haveRow = false;
    int64_t row = 0;
    BoltValue request;
    while (fakeReadRequest(server, &request)) {
        switch (request.as.structure.tag) {
        case BOLT_MSG_HELLO:
            fakeSuccess(server, "server", boltString(server->arena, "Neo4j/5.26.0"));
            break;
        case BOLT_MSG_RUN: {
            const BoltValue *query = &request.as.structure.fields[0];
            server->runs++;
            if (query->type != BOLT_STRING) {
                fakeFail(server, "RUN without a query string");
                fakeSuccess(server, "fields", boltList(server->arena, 0));
                break;
            }
            snprintf(server->lastQuery, sizeof(server->lastQuery), "%s", query->as.string.data);
            haveRow = fakeSingleInteger(server, query->as.string.data, &row);
            BoltValue fields = boltList(server->arena, haveRow ? 1 : 0);
            if (haveRow)
                fields.as.list.items[0] = boltString(server->arena, "value");
            fakeSuccess(server, "fields", fields);
            break;
        }
        case BOLT_MSG_PULL:
            if (haveRow) {
                BoltValue record = boltList(server->arena, 1);
                record.as.list.items[0] = boltInt(row);
                BoltValue fields = boltList(server->arena, 1);
                fields.as.list.items[0] = record;
                fakeSend(server, BOLT_MSG_RECORD, &fields.as.list.items[0]);
            }
            haveRow = false;
            fakeSuccess(server, "has_more", boltBool(false));
            break;
        case BOLT_MSG_GOODBYE:
            return NULL;
        default: /* LOGON, BEGIN, COMMIT, ROLLBACK, DISCARD, RESET, TELEMETRY */
            haveRow = false;
            fakeSuccess(server, NULL, boltNull());
            break;
        }
    }
    return NULL;
}

/* ---- the operations the front end would wire ----------------------------- */

static ErrCode testConnect(const InstanceConfig *instance, BoltConnection **out)
{
    (void)instance;
    if (fake.connections == FAKE_MAX_CONNECTIONS)
        return errSet(NEO4J_UNREACHABLE, "the test ran out of fake servers");
    FakeServer *server = &fake.servers[fake.connections];
    server->arena = arenaNew(0);
    server->wrongConnectivity = (fake.brokenConnections >> fake.connections) & 1u;
    fake.connections++;
    int ends[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, ends) != 0)
        return errSet(NEO4J_UNREACHABLE, "socketpair failed");
    server->fd = ends[1];
    if (pthread_create(&server->thread, NULL, fakeThread, server) != 0)
        return errSet(NEO4J_UNREACHABLE, "pthread_create failed");
    BoltConnectOptions options = {.uri = "bolt://fake:7687", .user = "neo4j", .password = "pw"};
    return boltConnectTransport(&options, boltTransportFromFd(ends[0], "fake:7687"), out);
}

/* The import load is not run here: it says it was asked and fails. */
static ErrCode testImportLoad(void *payload, const ArcChainLink *chain, size_t chainCount, uint64_t expectedBytes,
                              uint64_t expectedRecords, const InstanceConfig *instance, BoltConnection **connection,
                              ArchiveContent *content)
{
    (void)payload, (void)expectedBytes, (void)expectedRecords, (void)instance;
    const ArcLocation *archive = &chain[chainCount - 1].location;
    fake.importLinks = chainCount;
    fake.importStorage = archive->storage;
    snprintf(fake.importName, sizeof(fake.importName), "%s", archive->name ? archive->name : "");
    snprintf(fake.importPath, sizeof(fake.importPath), "%s", archive->path ? archive->path : "");
    *connection = NULL;
    memset(content, 0, sizeof(*content));
    fake.importLoads++;
    return errSet(NEO4J_ADMIN_FAILED, "the test has no neo4j-admin");
}

static ErrCode testDumpPreflight(const CatEntry *entry, const InstanceConfig *instance)
{
    (void)entry, (void)instance;
    return errSet(ERR_INTERNAL, "not a dump test");
}

static ErrCode testDumpRestore(void *payload, const CatEntry *entry, const ArcLocation *archive,
                               const InstanceConfig *instance, bool validate, char *failedCheck, size_t size)
{
    (void)payload, (void)entry, (void)archive, (void)instance, (void)validate, (void)failedCheck, (void)size;
    return errSet(ERR_INTERNAL, "not a dump test");
}

static const RestoreInstanceOps testOps = {
    .connect = testConnect,
    .importLoad = testImportLoad,
    .dumpPreflight = testDumpPreflight,
    .dumpRestore = testDumpRestore,
};

static void testOnEvent(const RestoreEvent *event, void *payload)
{
    (void)payload;
    if (event->kind == RESTORE_EVENT_PROGRESS)
        return;
    assert_non_null(event->text);
    size_t used = strlen(fake.lines);
    snprintf(fake.lines + used, sizeof(fake.lines) - used, "%s\n", event->text);
    if (event->kind == RESTORE_EVENT_LOAD_CHOSEN) {
        snprintf(fake.lastLoad, sizeof(fake.lastLoad), "%s", event->load == RESTORE_LOAD_IMPORT ? "import" : "bolt");
        snprintf(fake.lastReason, sizeof(fake.lastReason), "%s", event->reason);
    }
    if (event->kind == RESTORE_EVENT_HEALTH_CHECK)
        assert_non_null(event->check);
}

static ErrCode testConfirm(const char *backupId, const char *productionUri, void *payload)
{
    (void)backupId, (void)payload;
    fake.confirmations++;
    assert_null(strchr(productionUri, '@')); /* no user information shown */
    return fake.confirmAnswer == ERR_OK ? ERR_OK : errSet(fake.confirmAnswer, "refused by the test");
}

static const RestoreEvents testEvents = {.onEvent = testOnEvent, .confirmPromotion = testConfirm};

/* ---- fixtures ------------------------------------------------------------ */

/* A committed backup holding an empty archive. */
static void makeBackup(int64_t created, char id[CAT_ID_SIZE])
{
    assert_int_equal(catNewId(fake.catalog, created, id), ERR_OK);
    CatBackupDir *dir = NULL;
    assert_int_equal(catBackupDirBegin(fake.catalog, id, &dir), ERR_OK);
    char archive[4096];
    assert_int_equal(fsPathJoin(archive, sizeof(archive), catBackupDirPath(dir), "graph.nbk"), ERR_OK);
    ArcWriter *writer = NULL;
    assert_int_equal(arcWriterOpen(&writer, archive, ARC_COMPRESSION_NONE, 0, 0, NULL, 0), ERR_OK);
    ArcTotals totals;
    assert_int_equal(arcWriterFinish(writer, &totals), ERR_OK);
    arcWriterFree(writer);
    char sha256[65];
    uint64_t size = 0;
    assert_int_equal(arcSha256File(archive, sha256, &size), ERR_OK);
    Manifest *manifest = manifestNew();
    manifestSetString(&manifest->id, id);
    manifest->created = created;
    manifestSetString(&manifest->status, "COMPLETE");
    manifestSetString(&manifest->method, "logical");
    manifestSetString(&manifest->compression, "none");
    manifestSetString(&manifest->archive.file, "graph.nbk");
    manifestSetString(&manifest->archive.sha256, sha256);
    manifest->archive.sizeCompressed = size;
    manifest->archive.sizeUncompressed = size;
    assert_int_equal(manifestSave(manifest, catBackupDirPath(dir)), ERR_OK);
    manifestFree(manifest);
    assert_int_equal(catBackupDirCommit(dir), ERR_OK);
}

/* A committed backup of a chain: a full (parentId NULL) or a differential
 * of parentId, its archive empty but for the header's format. */
static void makeChainBackup(int64_t created, const char *parentId, char id[CAT_ID_SIZE])
{
    Manifest *parent = NULL;
    uint32_t depth = 0;
    char parentLink[65] = "";
    if (parentId) {
        CatEntry entry = {0};
        assert_int_equal(catFind(fake.catalog, parentId, &entry), ERR_OK);
        manifestLinkSha256(entry.manifest, parentLink);
        depth = entry.manifest->chainDepth + 1;
        catEntryFree(&entry);
        parent = (Manifest *)1;
    }
    assert_int_equal(catNewId(fake.catalog, created, id), ERR_OK);
    CatBackupDir *dir = NULL;
    assert_int_equal(catBackupDirBegin(fake.catalog, id, &dir), ERR_OK);
    char archive[4096];
    assert_int_equal(fsPathJoin(archive, sizeof(archive), catBackupDirPath(dir), "graph.nbk"), ERR_OK);
    Arena *arena = arenaNew(0);
    BoltValue header = boltMap(arena, 1);
    boltMapSet(arena, &header, 0, "format", boltString(arena, parent ? ARC_FORMAT_DIFF : ARC_FORMAT_FULL));
    Buffer packed;
    bufferInit(&packed);
    packValue(&packed, &header);
    arenaFree(arena);
    ArcWriter *writer = NULL;
    assert_int_equal(arcWriterOpen(&writer, archive, ARC_COMPRESSION_NONE, 0, 0, packed.data, packed.length), ERR_OK);
    bufferFree(&packed);
    ArcTotals totals;
    assert_int_equal(arcWriterFinish(writer, &totals), ERR_OK);
    arcWriterFree(writer);
    char sha256[65];
    uint64_t size = 0;
    assert_int_equal(arcSha256File(archive, sha256, &size), ERR_OK);
    Manifest *manifest = manifestNew();
    manifestSetString(&manifest->id, id);
    manifest->created = created;
    manifestSetString(&manifest->status, "COMPLETE");
    manifestSetString(&manifest->method, "logical");
    manifestSetString(&manifest->compression, "none");
    manifestSetString(&manifest->archive.file, "graph.nbk");
    manifestSetString(&manifest->archive.sha256, sha256);
    manifest->archive.sizeCompressed = size;
    manifest->archive.sizeUncompressed = size;
    manifestSetString(&manifest->backupType, parent ? MANIFEST_TYPE_DIFF : MANIFEST_TYPE_FULL);
    if (parent) {
        manifestSetString(&manifest->parent.id, parentId);
        manifestSetString(&manifest->parent.manifestSha256, parentLink);
        manifest->chainDepth = depth;
    }
    assert_int_equal(manifestSave(manifest, catBackupDirPath(dir)), ERR_OK);
    manifestFree(manifest);
    assert_int_equal(catBackupDirCommit(dir), ERR_OK);
}

static ErrCode testSafetyBackup(void *payload, char idOut[CAT_ID_SIZE])
{
    (void)payload;
    fake.safetyBackups++;
    makeBackup(1767225600 + 3600, idOut); /* an hour after the restored one */
    return ERR_OK;
}

static InstanceConfig testInstance(const char *name, const char *uri, bool production)
{
    InstanceConfig instance;
    memset(&instance, 0, sizeof(instance));
    snprintf(instance.name, sizeof(instance.name), "%s", name);
    instance.uri = (char *)uri;
    instance.database = (char *)"neo4j";
    instance.isProduction = production;
    return instance;
}

static int testSetUp(void **state)
{
    (void)state;
    memset(&fake, 0, sizeof(fake));
    fake.confirmAnswer = ERR_OK;
    snprintf(fake.directory, sizeof(fake.directory), "/tmp/restore_service_test_XXXXXX");
    if (!mkdtemp(fake.directory))
        return -1;
    return catOpen(&fake.catalog, fake.directory, true) == ERR_OK ? 0 : -1;
}

static int testTearDown(void **state)
{
    (void)state;
    catClose(fake.catalog);
    fsRemoveTree("/tmp", fake.directory);
    for (unsigned index = 0; index < fake.connections; index++)
        arenaFree(fake.servers[index].arena);
    return 0;
}

/* Joins the fake servers (the service closed every connection). */
static void joinServers(void)
{
    for (unsigned index = 0; index < fake.connections; index++) {
        FakeServer *server = &fake.servers[index];
        pthread_join(server->thread, NULL);
        close(server->fd);
        if (server->failure[0])
            fail_msg("fake server %u: %s (last query: %s)", index, server->failure, server->lastQuery);
    }
}

static RestoreRequest testRequest(const char *backupId, const InstanceConfig *target,
                                  const InstanceConfig *production)
{
    RestoreRequest request = {
        .catalog = fake.catalog,
        .backupId = backupId,
        .target = target,
        .production = production,
        .load = RESTORE_LOAD_AUTO,
        .validate = true,
        .safetyBackup = testSafetyBackup,
        .ops = &testOps,
    };
    return request;
}

static RecoveryStatus recoveryNow(void)
{
    RecoveryStatus status;
    assert_int_equal(recoveryLoad(fake.directory, &status), ERR_OK);
    return status;
}

/* ---- tests --------------------------------------------------------------- */

static void testGuardRefusesProduction(void **state)
{
    (void)state;
    char id[CAT_ID_SIZE];
    makeBackup(1767225600, id);
    InstanceConfig production = testInstance("production", "bolt://prod.example:7687", true);
    /* Another name for the same server and database: localhost and 127.0.0.1 are one machine. */
    InstanceConfig sameServer = testInstance("looks-like-a-test", "bolt://localhost:7687", false);
    InstanceConfig localProduction = testInstance("production", "bolt://127.0.0.1:7687", true);
    RestoreRequest request = testRequest(id, &sameServer, &localProduction);
    RestoreResult result;
    assert_int_equal(restoreRun(&request, &result, &testEvents), RESTORE_REFUSED);
    assert_non_null(strstr(errLast()->reason, "production"));
    /* The production instance itself as the target. */
    request = testRequest(id, &production, &production);
    assert_int_equal(restoreRun(&request, &result, &testEvents), RESTORE_REFUSED);
    assert_int_equal(fake.connections, 0);
    assert_int_equal(fake.importLoads, 0);
    assert_int_equal(recoveryNow().state, RECOVERY_NOT_RECOVERING);
    assert_false(result.reported);
}

static void testLoadChoice(void **state)
{
    (void)state;
    char id[CAT_ID_SIZE];
    makeBackup(1767225600, id);
    InstanceConfig production = testInstance("production", "bolt://prod.example:7687", true);
    InstanceConfig stoppable = testInstance("test-neo4j", "bolt://test.example:7687", false);
    stoppable.neo4jHome = (char *)"/opt/neo4j";
    stoppable.stopCommand = (char *)"neo4j stop";
    stoppable.startCommand = (char *)"neo4j start";

    /* auto with a target the tool can stop: the import load. */
    RestoreRequest request = testRequest(id, &stoppable, &production);
    RestoreResult result;
    assert_int_equal(restoreRun(&request, &result, &testEvents), NEO4J_ADMIN_FAILED);
    assert_string_equal(fake.lastLoad, "import");
    assert_non_null(strstr(fake.lastReason, "load auto"));
    assert_non_null(strstr(fake.lines, "Load: import (load auto: test-neo4j has a NEO4J_HOME"));
    assert_int_equal(fake.importLoads, 1);
    /* The load reads the archive through the catalog's storage, by its name
     * below the root, and messages name it by its path. */
    char expectedName[256];
    char expectedPath[4096];
    snprintf(expectedName, sizeof(expectedName), "%s/graph.nbk", id);
    snprintf(expectedPath, sizeof(expectedPath), "%s/%s/graph.nbk", catRoot(fake.catalog), id);
    assert_ptr_equal(fake.importStorage, catStorage(fake.catalog));
    assert_string_equal(fake.importName, expectedName);
    assert_string_equal(fake.importPath, expectedPath);
    assert_int_equal(fake.connections, 0);
    assert_int_equal(recoveryNow().state, RECOVERY_FAILED);

    /* bolt asked for: the same target stays online. */
    request.load = RESTORE_LOAD_BOLT;
    assert_int_equal(restoreRun(&request, &result, &testEvents), ERR_OK);
    assert_string_equal(fake.lastLoad, "bolt");
    assert_string_equal(fake.lastReason, "RESTORE_LOAD or --load asks for bolt");
    assert_int_equal(fake.importLoads, 1);
    assert_int_equal(fake.connections, 1);

    /* auto without a NEO4J_HOME: Bolt, and the reason says why. */
    InstanceConfig online = stoppable;
    online.neo4jHome = NULL;
    request = testRequest(id, &online, &production);
    assert_int_equal(restoreRun(&request, &result, &testEvents), ERR_OK);
    assert_string_equal(fake.lastLoad, "bolt");
    assert_non_null(strstr(fake.lastReason, "has no NEO4J_HOME, so it stays online"));
    assert_int_equal(fake.connections, 2);

    /* import forced on that target: refused before anything is touched. */
    request.load = RESTORE_LOAD_IMPORT;
    RecoveryStatus before = recoveryNow();
    assert_int_equal(restoreRun(&request, &result, &testEvents), CONFIG_INVALID);
    assert_non_null(strstr(errLast()->reason, "has no NEO4J_HOME"));
    assert_int_equal(fake.importLoads, 1);
    assert_int_equal(fake.connections, 2);
    assert_int_equal(recoveryNow().since, before.since);
    assert_int_equal(recoveryNow().state, RECOVERY_SUCCESS);
    joinServers();
}

static void testFailingHealthCheckFailsTheRecovery(void **state)
{
    (void)state;
    char id[CAT_ID_SIZE];
    makeBackup(1767225600, id);
    InstanceConfig production = testInstance("production", "bolt://prod.example:7687", true);
    InstanceConfig target = testInstance("test-neo4j", "bolt://test.example:7687", false);
    fake.brokenConnections = 1u; /* the target's connectivity check fails */
    RestoreRequest request = testRequest(id, &target, &production);
    RestoreResult result;
    assert_int_equal(restoreRun(&request, &result, &testEvents), RESTORE_HEALTH_FAILED);
    joinServers();
    assert_string_equal(result.failedCheck, "connectivity");
    assert_true(result.reported); /* the contract's lines went out as events */
    assert_non_null(strstr(fake.lines, "Health check: connectivity ... FAIL\n"));
    assert_non_null(strstr(fake.lines, "Health check: fingerprint ... PASS\n"));
    assert_non_null(strstr(fake.lines, "Restore completed but health check failed\nCode: RESTORE_HEALTH_FAILED"));
    assert_non_null(strstr(fake.lines, "Failed check: connectivity\n"));
    assert_null(strstr(fake.lines, "Restore completed and validated"));
    RecoveryStatus status = recoveryNow();
    assert_int_equal(status.state, RECOVERY_FAILED);
    assert_string_equal(status.target, "test-neo4j");
    assert_string_equal(status.backupId, id);
    assert_non_null(strstr(status.reason, "RETURN 1"));

    /* The one JSON form: the current state flat and as stored, and the history. */
    json_object *json = NULL;
    assert_int_equal(recoveryStatusJson(fake.directory, &json), ERR_OK);
    json_object *value = NULL;
    assert_true(json_object_object_get_ex(json, "state", &value));
    assert_string_equal(json_object_get_string(value), "RECOVERY_FAILED");
    assert_true(json_object_object_get_ex(json, "target", &value));
    assert_string_equal(json_object_get_string(value), "test-neo4j");
    assert_true(json_object_object_get_ex(json, "interrupted", &value));
    assert_false(json_object_get_boolean(value));
    json_object *current = NULL;
    assert_true(json_object_object_get_ex(json, "current", &current));
    assert_true(json_object_object_get_ex(current, "state", &value));
    assert_string_equal(json_object_get_string(value), "RECOVERY_FAILED");
    json_object *history = NULL;
    assert_true(json_object_object_get_ex(json, "history", &history));
    assert_int_equal(json_object_array_length(history), 3); /* RECOVERING, VALIDATION, RECOVERY_FAILED */
    json_object_put(json);
}

static void testRecoveryJsonBeforeAnyRestore(void **state)
{
    (void)state;
    json_object *json = NULL;
    assert_int_equal(recoveryStatusJson(fake.directory, &json), ERR_OK);
    json_object *value = NULL;
    assert_true(json_object_object_get_ex(json, "state", &value));
    assert_string_equal(json_object_get_string(value), "NOT_RECOVERING");
    assert_false(json_object_object_get_ex(json, "backup_id", &value));
    json_object *current = NULL;
    assert_true(json_object_object_get_ex(json, "current", &current));
    assert_true(json_object_object_get_ex(current, "state", &value));
    assert_string_equal(json_object_get_string(value), "NOT_RECOVERING");
    assert_true(json_object_object_get_ex(json, "history", &value));
    assert_int_equal(json_object_array_length(value), 0);
    json_object_put(json);
}

static void testPromotionTakesASafetyBackupFirst(void **state)
{
    (void)state;
    char id[CAT_ID_SIZE];
    makeBackup(1767225600, id);
    InstanceConfig production = testInstance("production", "bolt://neo4j:secret@prod.example:7687", true);
    InstanceConfig target = testInstance("test-neo4j", "bolt://test.example:7687", false);
    RestoreRequest request = testRequest(id, &target, &production);
    request.promote = true;
    RestoreResult result;

    /* Refused: production is not touched, no safety backup is taken. */
    fake.confirmAnswer = RESTORE_REFUSED;
    assert_int_equal(restoreRun(&request, &result, &testEvents), RESTORE_REFUSED);
    assert_int_equal(fake.confirmations, 1);
    assert_int_equal(fake.safetyBackups, 0);
    assert_int_equal(fake.connections, 1);
    assert_false(result.promoted);

    fake.confirmAnswer = ERR_OK;
    fake.lines[0] = '\0';
    assert_int_equal(restoreRun(&request, &result, &testEvents), ERR_OK);
    joinServers();
    assert_true(result.promoted);
    assert_false(result.rolledBack);
    assert_int_equal(fake.safetyBackups, 1);
    assert_true(result.safetyBackupId[0]);
    assert_int_equal(fake.connections, 3); /* test instance twice, production once */
    const char *safety =
        strstr(fake.lines, "Promotion step 1/3: safety backup of production (bolt://prod.example:7687)");
    const char *restore = strstr(fake.lines, "Promotion step 2/3");
    assert_non_null(safety);
    assert_non_null(restore);
    assert_true(safety < restore);
    assert_non_null(strstr(fake.lines, "Promotion step 3/3: production passed every health check"));
    RecoveryStatus status = recoveryNow();
    assert_int_equal(status.state, RECOVERY_SUCCESS);
    assert_string_equal(status.target, "production");
    assert_true(status.promoted);
}

static void testPromotionRollsBackWhenProductionFailsItsChecks(void **state)
{
    (void)state;
    char id[CAT_ID_SIZE];
    makeBackup(1767225600, id);
    InstanceConfig production = testInstance("production", "bolt://prod.example:7687", true);
    InstanceConfig target = testInstance("test-neo4j", "bolt://test.example:7687", false);
    RestoreRequest request = testRequest(id, &target, &production);
    request.promote = true;
    fake.brokenConnections = 1u << 1; /* connection 0: test instance, 1: production, 2: the rollback */
    RestoreResult result;
    assert_int_equal(restoreRun(&request, &result, &testEvents), RESTORE_HEALTH_FAILED);
    joinServers();
    assert_int_equal(fake.connections, 3);
    assert_false(result.promoted);
    assert_true(result.rolledBack);
    assert_true(result.reported);
    assert_string_equal(result.failedCheck, "connectivity");
    assert_non_null(strstr(errLast()->reason, "rolled back"));
    char rolledBack[256];
    snprintf(rolledBack, sizeof(rolledBack), "Production was rolled back to the safety backup %s",
             result.safetyBackupId);
    assert_non_null(strstr(fake.lines, rolledBack));
    RecoveryStatus status = recoveryNow();
    assert_int_equal(status.state, RECOVERY_FAILED);
    assert_string_equal(status.target, "production");
}

/* A differential restores from its whole chain: both loads get every link,
 * and a damaged or missing link refuses the restore before the target is
 * touched. */
static void testDifferentialRestoresItsChain(void **state)
{
    (void)state;
    char full[CAT_ID_SIZE], diff[CAT_ID_SIZE], second[CAT_ID_SIZE];
    makeChainBackup(1767225600, NULL, full);
    makeChainBackup(1767225600 + 60, full, diff);
    makeChainBackup(1767225600 + 120, diff, second);
    InstanceConfig production = testInstance("production", "bolt://prod.example:7687", true);
    InstanceConfig stoppable = testInstance("test-neo4j", "bolt://test.example:7687", false);
    stoppable.neo4jHome = (char *)"/opt/neo4j";
    stoppable.stopCommand = (char *)"neo4j stop";
    stoppable.startCommand = (char *)"neo4j start";

    RestoreRequest request = testRequest(second, &stoppable, &production);
    RestoreResult result;
    assert_int_equal(restoreRun(&request, &result, &testEvents), NEO4J_ADMIN_FAILED);
    assert_int_equal(fake.importLoads, 1);
    assert_int_equal(fake.importLinks, 3);
    assert_non_null(strstr(fake.lines, "Differential backup: chain of 3 backups from full backup"));
    char expectedName[256];
    snprintf(expectedName, sizeof(expectedName), "%s/graph.nbk", second);
    assert_string_equal(fake.importName, expectedName);

    /* The Bolt load reads the chain merged (an empty graph here). */
    request.load = RESTORE_LOAD_BOLT;
    assert_int_equal(restoreRun(&request, &result, &testEvents), ERR_OK);
    assert_int_equal(fake.connections, 1);
    assert_int_equal(recoveryNow().state, RECOVERY_SUCCESS);

    /* The full's archive damaged: refused before any connection. */
    char archive[4096];
    snprintf(archive, sizeof(archive), "%s/%s/graph.nbk", catRoot(fake.catalog), full);
    FILE *file = fopen(archive, "r+b");
    assert_non_null(file);
    fseek(file, -1, SEEK_END);
    int last = fgetc(file);
    fseek(file, -1, SEEK_END);
    fputc(last ^ 1, file);
    fclose(file);
    fake.lines[0] = '\0';
    assert_int_equal(restoreRun(&request, &result, &testEvents), BACKUP_CORRUPTED);
    assert_true(result.reported);
    assert_non_null(strstr(fake.lines, "Backup validation failed"));
    assert_non_null(strstr(fake.lines, "Checksum mismatch!"));
    assert_non_null(strstr(errLast()->reason, full));
    assert_int_equal(fake.connections, 1);

    /* The middle link gone: the chain is broken. */
    char middle[4096];
    snprintf(middle, sizeof(middle), "%s/%s", catRoot(fake.catalog), diff);
    assert_int_equal(fsRemoveTree(catRoot(fake.catalog), middle), ERR_OK);
    fake.lines[0] = '\0';
    assert_int_equal(restoreRun(&request, &result, &testEvents), BACKUP_CORRUPTED);
    assert_true(result.reported);
    assert_non_null(strstr(fake.lines, "Backup validation failed"));
    assert_int_equal(fake.connections, 1);
    assert_int_equal(fake.importLoads, 1);
    joinServers();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(testGuardRefusesProduction, testSetUp, testTearDown),
        cmocka_unit_test_setup_teardown(testLoadChoice, testSetUp, testTearDown),
        cmocka_unit_test_setup_teardown(testDifferentialRestoresItsChain, testSetUp, testTearDown),
        cmocka_unit_test_setup_teardown(testFailingHealthCheckFailsTheRecovery, testSetUp, testTearDown),
        cmocka_unit_test_setup_teardown(testRecoveryJsonBeforeAnyRestore, testSetUp, testTearDown),
        cmocka_unit_test_setup_teardown(testPromotionTakesASafetyBackupFirst, testSetUp, testTearDown),
        cmocka_unit_test_setup_teardown(testPromotionRollsBackWhenProductionFailsItsChecks, testSetUp,
                                        testTearDown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
