/* Logical backup engine (src/backup/logical.c), and the schema step of the
 * logical restore (src/restore/logical_restore.c), against a scripted fake Bolt
 * server: late nodes, dropped and excluded relationships, duplicates, sparse
 * ids, spilling, placeholders and cancellation, none of which a real server
 * produces on demand.
 *
 * The fake server runs in a thread over a socketpair, its wire end a FakeWire
 * (fake_bolt.h, shared with fake_router.h). It answers by query text from a
 * small in-memory "database" (rows of the node scan, of the relationship
 * scan, and nodes that only the late fetch finds). It never calls cmocka: it
 * records what it saw and the test asserts after joining. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "archive/archive.h"
#include "backup/backup.h"
#include "backup/logical.h"
#include "graph/schema.h"
#include "restore/logical_restore.h"
#include "bolt/packstream.h"
#include "bolt/routing.h"
#include "bolt/transport.h"
#include "catalog/validate.h"
#include "common/fsutil.h"
#include "common/log.h"
#include "graph/fingerprint.h"
#include "graph/records.h"
#include "storage/posix.h"

#include "fake_router.h"

#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define FAKE_MAX_ROWS 16

typedef struct {
    /* The fake database. */
    BoltValue scanNodes[FAKE_MAX_ROWS];
    unsigned scanNodeCount;
    BoltValue scanRelationships[FAKE_MAX_ROWS];
    unsigned scanRelationshipCount;
    BoltValue lateNodes[FAKE_MAX_ROWS]; /* found only by id, at the end */
    unsigned lateNodeCount;

    /* What the server saw. */
    FakeWire wire;
    int listenFd; /* routed tests: accept one TCP connection first */
    unsigned accepted;
    unsigned begins;
    pthread_t thread;
    bool sawBeginRead;
    bool sawCommit;
    bool sawRollback;
    unsigned lateQueries;
    char lastQuery[256];
    /* Restore tests: other queries are accepted (no rows) and logged here,
     * one per line, so the test can assert what was sent. */
    bool acceptOthers;
    char otherQueries[4096];
    /* What SHOW INDEXES YIELD name, state, failureMessage answers. */
    const char *indexState;   /* state of index "person_name"; NULL: ONLINE */
    const char *indexFailure; /* its failureMessage */
    unsigned stateQueries;
    const char *showIndexType; /* type of the SHOW INDEXES YIELD * row; NULL: LOOKUP */
    unsigned countQueries;     /* RETURN count(...) answered */
} FakeDb;

/* Answers one RUN: field names now, rows at the PULL that follows. */
static void fakeAnswerRun(FakeDb *db, const char *query, const BoltValue *params, BoltValue *rows,
                          unsigned *rowCount)
{
    static const char *const nodeFields[] = {"id(n)", "labels(n)", "properties(n)"};
    static const char *const relFields[] = {"id(r)", "id(a)", "id(b)", "type(r)", "properties(r)"};
    static const char *const showFields[] = {"id", "name", "type", "entityType", "labelsOrTypes",
                                             "properties", "owningConstraint", "options", "createStatement"};
    *rowCount = 0;
    snprintf(db->lastQuery, sizeof(db->lastQuery), "%s", query);
    if (strstr(query, "RETURN count(")) {
        /* The backup service's graph counts (restore/health.c): no
         * BackupMetadata node, the scan rows otherwise. */
        static const char *const fields[] = {"count"};
        db->countQueries++;
        fakeWireSuccess(&db->wire, "fields", fakeWireStrings(db->wire.arena, 1, fields));
        int64_t count = strstr(query, "BackupMetadata") ? 0
                        : strstr(query, "-[r]->")       ? (int64_t)db->scanRelationshipCount
                                                        : (int64_t)db->scanNodeCount;
        BoltValue cells[1] = {boltInt(count)};
        rows[(*rowCount)++] = fakeWireRow(db->wire.arena, 1, cells);
    } else if (strstr(query, "dbms.components")) {
        /* As a 2025+ server answers: a Cypher row after the kernel's, which does not count. */
        static const char *const fields[] = {"name", "versions[0]", "edition"};
        fakeWireSuccess(&db->wire, "fields", fakeWireStrings(db->wire.arena, 3, fields));
        BoltValue cypher[3] = {boltString(db->wire.arena, "Cypher"), boltString(db->wire.arena, "5"),
                               boltString(db->wire.arena, "community")};
        BoltValue kernel[3] = {boltString(db->wire.arena, "Neo4j Kernel"), boltString(db->wire.arena, "5.26.0"),
                               boltString(db->wire.arena, "community")};
        rows[(*rowCount)++] = fakeWireRow(db->wire.arena, 3, kernel);
        rows[(*rowCount)++] = fakeWireRow(db->wire.arena, 3, cypher);
    } else if (strstr(query, "db.info")) {
        static const char *const fields[] = {"name"};
        fakeWireSuccess(&db->wire, "fields", fakeWireStrings(db->wire.arena, 1, fields));
        BoltValue cells[1] = {boltString(db->wire.arena, "neo4j")};
        rows[(*rowCount)++] = fakeWireRow(db->wire.arena, 1, cells);
    } else if (strstr(query, "SHOW CONSTRAINTS")) {
        fakeWireSuccess(&db->wire, "fields", fakeWireStrings(db->wire.arena, 9, showFields));
    } else if (strstr(query, "SHOW INDEXES YIELD name, state, failureMessage")) {
        static const char *const fields[] = {"name", "state", "failureMessage"};
        db->stateQueries++;
        fakeWireSuccess(&db->wire, "fields", fakeWireStrings(db->wire.arena, 3, fields));
        BoltValue lookup[3] = {boltString(db->wire.arena, "index_lookup"), boltString(db->wire.arena, "ONLINE"),
                               boltString(db->wire.arena, "")};
        rows[(*rowCount)++] = fakeWireRow(db->wire.arena, 3, lookup);
        BoltValue person[3] = {boltString(db->wire.arena, "person_name"),
                               boltString(db->wire.arena, db->indexState ? db->indexState : "ONLINE"),
                               boltString(db->wire.arena, db->indexFailure ? db->indexFailure : "")};
        rows[(*rowCount)++] = fakeWireRow(db->wire.arena, 3, person);
    } else if (strstr(query, "SHOW INDEXES")) {
        fakeWireSuccess(&db->wire, "fields", fakeWireStrings(db->wire.arena, 9, showFields));
        BoltValue cells[9] = {
            boltInt(1), boltString(db->wire.arena, "index_lookup"),
            boltString(db->wire.arena, db->showIndexType ? db->showIndexType : "LOOKUP"),
            boltString(db->wire.arena, "NODE"), boltNull(), boltNull(), boltNull(), boltMap(db->wire.arena, 0),
            boltString(db->wire.arena, "CREATE LOOKUP INDEX `index_lookup` FOR (n) ON EACH labels(n)"),
        };
        rows[(*rowCount)++] = fakeWireRow(db->wire.arena, 9, cells);
    } else if (strstr(query, "id(n) IN $ids")) {
        db->lateQueries++;
        fakeWireSuccess(&db->wire, "fields", fakeWireStrings(db->wire.arena, 3, nodeFields));
        const BoltValue *ids = params ? boltMapGet(params, "ids") : NULL;
        for (unsigned late = 0; ids && late < db->lateNodeCount; late++) {
            for (uint32_t idIndex = 0; idIndex < ids->as.list.count; idIndex++) {
                if (ids->as.list.items[idIndex].as.integer == db->lateNodes[late].as.list.items[0].as.integer)
                    rows[(*rowCount)++] = db->lateNodes[late];
            }
        }
    } else if (strstr(query, "MATCH (n)")) {
        fakeWireSuccess(&db->wire, "fields", fakeWireStrings(db->wire.arena, 3, nodeFields));
        for (unsigned index = 0; index < db->scanNodeCount; index++)
            rows[(*rowCount)++] = db->scanNodes[index];
    } else if (strstr(query, "-[r]->")) {
        fakeWireSuccess(&db->wire, "fields", fakeWireStrings(db->wire.arena, 5, relFields));
        for (unsigned index = 0; index < db->scanRelationshipCount; index++)
            rows[(*rowCount)++] = db->scanRelationships[index];
    } else if (db->acceptOthers) {
        size_t used = strlen(db->otherQueries);
        snprintf(db->otherQueries + used, sizeof(db->otherQueries) - used, "%s\n", query);
        fakeWireSuccess(&db->wire, "fields", boltList(db->wire.arena, 0));
    } else {
        fakeWireFail(&db->wire, "unexpected query");
        fakeWireSuccess(&db->wire, "fields", boltList(db->wire.arena, 0));
    }
}

static void *fakeThread(void *argument)
{
    FakeDb *db = argument;
    if (db->listenFd >= 0) {
        struct pollfd waitFor = {.fd = db->listenFd, .events = POLLIN};
        if (poll(&waitFor, 1, FAKE_WIRE_TIMEOUT_MS) <= 0 ||
            (db->wire.fd = accept(db->listenFd, NULL, NULL)) < 0) {
            fakeWireFail(&db->wire, "no client connected");
            return NULL;
        }
        db->accepted++;
    }
    if (!fakeWireHandshake(&db->wire))
        return NULL;
    BoltValue rows[FAKE_MAX_ROWS * 2];
    unsigned rowCount = 0;
    bool inTransaction = false;
    BoltValue request;
    while (fakeWireRead(&db->wire, &request)) {
        switch (request.as.structure.tag) {
        case BOLT_MSG_HELLO:
            fakeWireSuccess(&db->wire, "server", boltString(db->wire.arena, "Neo4j/5.26.0"));
            break;
        case BOLT_MSG_RUN: {
            const BoltValue *query = &request.as.structure.fields[0];
            const BoltValue *params = request.as.structure.count > 1 ? &request.as.structure.fields[1] : NULL;
            if (query->type != BOLT_STRING)
                fakeWireFail(&db->wire, "RUN without a query string");
            else
                fakeAnswerRun(db, query->as.string.data, params, rows, &rowCount);
            if (strstr(db->lastQuery, "MATCH") && !strstr(db->lastQuery, "RETURN count(") && !inTransaction)
                fakeWireFail(&db->wire, "a scan ran outside the transaction");
            break;
        }
        case BOLT_MSG_PULL:
            for (unsigned index = 0; index < rowCount; index++)
                fakeWireSend(&db->wire, BOLT_MSG_RECORD, &rows[index]);
            rowCount = 0;
            fakeWireSuccess(&db->wire, "has_more", boltBool(false));
            break;
        case BOLT_MSG_DISCARD:
            rowCount = 0;
            fakeWireSuccess(&db->wire, NULL, boltNull());
            break;
        case BOLT_MSG_BEGIN: {
            const BoltValue *extra = request.as.structure.count > 0 ? &request.as.structure.fields[0] : NULL;
            if (extra && strcmp(boltMapGetString(extra, "mode", ""), "r") == 0)
                db->sawBeginRead = true;
            db->begins++;
            inTransaction = true;
            fakeWireSuccess(&db->wire, NULL, boltNull());
            break;
        }
        case BOLT_MSG_COMMIT:
        case BOLT_MSG_ROLLBACK:
            if (request.as.structure.tag == BOLT_MSG_COMMIT)
                db->sawCommit = true;
            else
                db->sawRollback = true;
            inTransaction = false;
            fakeWireSuccess(&db->wire, NULL, boltNull());
            break;
        case BOLT_MSG_GOODBYE:
            return NULL;
        default: /* LOGON, RESET, TELEMETRY */
            fakeWireSuccess(&db->wire, NULL, boltNull());
            break;
        }
    }
    return NULL;
}

/* ---- fixtures ----------------------------------------------------------- */

static BoltValue testNode(Arena *arena, int64_t key, const char *label, const char *property, BoltValue value)
{
    BoltValue cells[3] = {boltInt(key), boltList(arena, label ? 1 : 0), boltMap(arena, property ? 1 : 0)};
    if (label)
        cells[1].as.list.items[0] = boltString(arena, label);
    if (property)
        boltMapSet(arena, &cells[2], 0, property, value);
    return fakeWireRow(arena, 3, cells);
}

static BoltValue testRel(Arena *arena, int64_t key, int64_t start, int64_t end, const char *type)
{
    BoltValue cells[5] = {boltInt(key), boltInt(start), boltInt(end), boltString(arena, type),
                          boltMap(arena, 1)};
    boltMapSet(arena, &cells[4], 0, "k", boltInt(key));
    return fakeWireRow(arena, 5, cells);
}

typedef struct {
    char directory[64];
    char archivePath[128];
    Storage *storage; /* set: the archive goes through a posix storage on directory */
} TestPaths;

static void testPathsMake(TestPaths *paths)
{
    snprintf(paths->directory, sizeof(paths->directory), "/tmp/logical_test_XXXXXX");
    assert_non_null(mkdtemp(paths->directory));
    snprintf(paths->archivePath, sizeof(paths->archivePath), "%s/graph.nbk.zst", paths->directory);
    paths->storage = NULL;
}

static void testPathsRemove(TestPaths *paths)
{
    unlink(paths->archivePath);
    storageFree(paths->storage);
    assert_int_equal(rmdir(paths->directory), 0); /* nothing else left behind (spill or temporary files) */
}

static FakeDb *fakeNew(void)
{
    FakeDb *db = calloc(1, sizeof(*db));
    fakeWireInit(&db->wire);
    db->wire.chunkSize = 1000; /* small chunks on purpose */
    db->listenFd = -1;
    return db;
}

/* Connects to db over a socketpair. */
static BoltConnection *fakeConnect(FakeDb *db)
{
    int ends[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, ends), 0);
    db->wire.fd = ends[1];
    assert_int_equal(pthread_create(&db->thread, NULL, fakeThread, db), 0);
    BoltConnectOptions options = {.uri = "bolt://fake:7687", .user = "neo4j", .password = "pw"};
    BoltConnection *connection = NULL;
    assert_int_equal(boltConnectTransport(&options, boltTransportFromFd(ends[0], "fake:7687"), &connection),
                     ERR_OK);
    return connection;
}

static void fakeFinish(FakeDb *db, BoltConnection *connection)
{
    boltClose(connection);
    pthread_join(db->thread, NULL);
    close(db->wire.fd);
    if (db->wire.failure[0])
        fail_msg("fake server: %s (last query: %s)", db->wire.failure, db->lastQuery);
}

static void fakeFree(FakeDb *db)
{
    fakeWireFree(&db->wire);
    free(db);
}

static LogicalBackupRequest testRequest(BoltConnection *connection, const TestPaths *paths)
{
    LogicalBackupRequest request = {
        .connection = connection,
        .archive = {.storage = paths->storage, .name = "graph.nbk.zst", .path = paths->archivePath},
        .compression = ARC_COMPRESSION_ZSTD,
        .backupId = "neo4j-20250101-000000",
        .createdUtc = "2025-01-01T00:00:00Z",
        .sourceUri = "bolt://fake:7687",
        .computeFingerprint = true,
    };
    return request;
}

/* Reads the archive back: counts per kind, one-pass referential check, and
 * the fingerprint recomputed from the records. */
static void readBack(const char *path, uint64_t counts[3], char fingerprintHexOut[66])
{
    ArcReader *reader = NULL;
    assert_int_equal(arcReaderOpen(&reader, path), ERR_OK);
    Arena *arena = arenaNew(0);
    Fingerprint *fingerprint = fingerprintNew();
    counts[0] = counts[1] = counts[2] = 0;
    for (;;) {
        ArcRecordKind kind;
        const uint8_t *packed = NULL;
        size_t length = 0;
        assert_int_equal(arcReaderNext(reader, &kind, &packed, &length), ERR_OK);
        if (!packed)
            break;
        arenaReset(arena);
        PackReader packReader;
        packReaderInit(&packReader, packed, length);
        BoltValue value;
        assert_int_equal(unpackValue(&packReader, arena, &value), ERR_OK);
        if (kind == ARC_RECORD_SCHEMA) {
            counts[0]++;
        } else if (kind == ARC_RECORD_NODE) {
            GraphNode node;
            assert_int_equal(graphNodeFromValue(&value, &node), ERR_OK);
            fingerprintAddNode(fingerprint, node.key, node.labels, node.properties);
            counts[1]++;
        } else {
            GraphRelationship relationship;
            assert_int_equal(graphRelationshipFromValue(&value, &relationship), ERR_OK);
            /* Fails if an endpoint did not come first. */
            assert_int_equal(fingerprintAddRelationship(fingerprint, relationship.startKey, relationship.endKey,
                                                        relationship.type, relationship.typeLength,
                                                        relationship.properties),
                             ERR_OK);
            counts[2]++;
        }
    }
    fingerprintHex(fingerprint, fingerprintHexOut);
    fingerprintFree(fingerprint);
    arenaFree(arena);
    arcReaderFree(reader);
}

/* Nodes 0, 1, 2 and a far id; node 1 and relationship 10 twice; node 7 only
 * found late; node 8 gone; node 9 is the tool's own BackupMetadata node. */
static void fillScenario(FakeDb *db)
{
    Arena *arena = db->wire.arena;
    const int64_t farKey = 5000000000LL;
    db->scanNodes[db->scanNodeCount++] = testNode(arena, 0, "Person", "name", boltString(arena, "Ada"));
    db->scanNodes[db->scanNodeCount++] = testNode(arena, 1, "Person", "name", boltString(arena, "Bob"));
    db->scanNodes[db->scanNodeCount++] = testNode(arena, 2, NULL, NULL, boltNull());
    db->scanNodes[db->scanNodeCount++] = testNode(arena, farKey, "Far", "x", boltFloat(-0.0));
    db->scanNodes[db->scanNodeCount++] = testNode(arena, 1, "Person", "name", boltString(arena, "Bob"));
    db->scanRelationships[db->scanRelationshipCount++] = testRel(arena, 10, 0, 1, "KNOWS");
    db->scanRelationships[db->scanRelationshipCount++] = testRel(arena, 11, 0, 7, "KNOWS");
    db->scanRelationships[db->scanRelationshipCount++] = testRel(arena, 12, 2, 8, "GONE");
    db->scanRelationships[db->scanRelationshipCount++] = testRel(arena, 13, 9, 0, "ABOUT");
    db->scanRelationships[db->scanRelationshipCount++] = testRel(arena, 10, 0, 1, "KNOWS");
    db->scanRelationships[db->scanRelationshipCount++] = testRel(arena, 14, 7, farKey, "LATE");
    db->lateNodes[db->lateNodeCount++] = testNode(arena, 7, "Person", "name", boltString(arena, "New"));
    db->lateNodes[db->lateNodeCount++] = testNode(arena, 9, "BackupMetadata", "backup_id", boltString(arena, "x"));
}

static void runScenario(uint64_t pendingMemoryLimit, bool throughStorage)
{
    TestPaths paths;
    testPathsMake(&paths);
    if (throughStorage)
        assert_int_equal(storagePosixNew(paths.directory, &paths.storage), ERR_OK);
    FakeDb *db = fakeNew();
    fillScenario(db);
    BoltConnection *connection = fakeConnect(db);
    LogicalBackupRequest request = testRequest(connection, &paths);
    request.pendingMemoryLimit = pendingMemoryLimit;
    request.fetchSize = 2;
    LogicalBackupResult result;
    ErrCode code = logicalBackupRun(&request, &result);
    if (code != ERR_OK)
        fail_msg("backup failed: %s: %s", errName(code), errLast()->reason);
    fakeFinish(db, connection);

    assert_true(db->sawBeginRead);
    assert_true(db->sawCommit);
    assert_false(db->sawRollback);
    assert_int_equal(db->lateQueries, 1);
    assert_int_equal(result.nodes, 5);       /* 0, 1, 2, far, late 7 */
    assert_int_equal(result.lateNodes, 1);
    assert_int_equal(result.relationships, 3); /* 10, 11, 14 */
    assert_int_equal(result.droppedRelationships, 1);
    assert_int_equal(result.excludedRelationships, 1);
    assert_int_equal(result.duplicateRecords, 2);
    assert_int_equal(result.schemaItems, 1);
    assert_int_equal(result.schema.lookupIndexes, 1);
    assert_string_equal(result.serverVersion, "5.26.0");
    assert_string_equal(result.edition, "community");
    assert_string_equal(result.database, "neo4j");
    assert_int_equal(result.totals.nodeCount, 5);
    assert_int_equal(result.totals.relationshipCount, 3);

    uint64_t counts[3];
    char archiveHex[66];
    readBack(paths.archivePath, counts, archiveHex);
    assert_int_equal(counts[0], 1);
    assert_int_equal(counts[1], 5);
    assert_int_equal(counts[2], 3);
    assert_string_equal(archiveHex, result.fingerprint);

    /* Per label and type, as written: duplicates once, the late node in,
     * BackupMetadata and the dropped and excluded relationships out. */
    assert_int_equal(result.counts.labels.count, 2);
    assert_int_equal(countMapGet(&result.counts.labels, "Person", 6), 3); /* 0, 1, late 7 */
    assert_int_equal(countMapGet(&result.counts.labels, "Far", 3), 1);
    assert_int_equal(countMapGet(&result.counts.labels, "BackupMetadata", 14), 0);
    assert_int_equal(result.counts.types.count, 2);
    assert_int_equal(countMapGet(&result.counts.types, "KNOWS", 5), 2); /* 10 and the held-back 11 */
    assert_int_equal(countMapGet(&result.counts.types, "LATE", 4), 1);
    logicalBackupResultFree(&result);
    testPathsRemove(&paths);
    fakeFree(db);
}

static void testLateDroppedExcludedDuplicates(void **state)
{
    (void)state;
    runScenario(0, false);
}

static void testPendingSpillsToFile(void **state)
{
    (void)state;
    runScenario(1, false); /* every held-back relationship goes through the temp file */
}

/* The same backup written through a Storage (as the catalog's): the same
 * archive, the spill file still beside its path, nothing else left. */
static void testBackupThroughStorage(void **state)
{
    (void)state;
    runScenario(0, true);
    runScenario(1, true);
}

static void testPlaceholderFails(void **state)
{
    (void)state;
    TestPaths paths;
    testPathsMake(&paths);
    FakeDb *db = fakeNew();
    Arena *arena = db->wire.arena;
    BoltValue placeholder = boltMap(arena, 2);
    boltMapSet(arena, &placeholder, 0, "originalType", boltString(arena, "VECTOR(3, FLOAT32)"));
    boltMapSet(arena, &placeholder, 1, "reason", boltString(arena, "UNKNOWN_TYPE"));
    db->scanNodes[db->scanNodeCount++] = testNode(arena, 0, "Person", "name", boltString(arena, "Ada"));
    db->scanNodes[db->scanNodeCount++] = testNode(arena, 3, "Doc", "embedding", placeholder);
    BoltConnection *connection = fakeConnect(db);
    LogicalBackupRequest request = testRequest(connection, &paths);
    LogicalBackupResult result;
    assert_int_equal(logicalBackupRun(&request, &result), BACKUP_UNSUPPORTED_VALUE);
    const ErrDetail *detail = errLast();
    assert_int_equal(detail->code, BACKUP_UNSUPPORTED_VALUE);
    assert_non_null(strstr(detail->reason, "node 3"));
    assert_non_null(strstr(detail->reason, ":Doc"));
    assert_non_null(strstr(detail->reason, "'embedding'"));
    assert_non_null(strstr(detail->reason, "VECTOR(3, FLOAT32)"));
    assert_non_null(strstr(detail->reason, "Bolt 5.8"));
    assert_non_null(strstr(detail->action, "Bolt 6.0"));
    assert_int_equal(access(paths.archivePath, F_OK), -1); /* no partial archive */
    fakeFinish(db, connection);
    assert_true(db->sawRollback);
    assert_false(db->sawCommit);
    testPathsRemove(&paths);
    fakeFree(db);
}

static void testUnsupportedStructInRelationshipFails(void **state)
{
    (void)state;
    TestPaths paths;
    testPathsMake(&paths);
    FakeDb *db = fakeNew();
    Arena *arena = db->wire.arena;
    /* Bolt 6 form: the UnsupportedType structure, here inside a list. */
    BoltValue unsupported = boltStruct(arena, BOLT_TAG_UNSUPPORTED, 4);
    unsupported.as.structure.fields[0] = boltString(arena, "UUID");
    unsupported.as.structure.fields[1] = boltInt(6);
    unsupported.as.structure.fields[2] = boltInt(1);
    unsupported.as.structure.fields[3] = boltMap(arena, 0);
    BoltValue list = boltList(arena, 1);
    list.as.list.items[0] = unsupported;
    db->scanNodes[db->scanNodeCount++] = testNode(arena, 0, "A", NULL, boltNull());
    BoltValue rel = testRel(arena, 4, 0, 0, "LINK");
    boltMapSet(arena, &rel.as.list.items[4], 0, "ids", list);
    db->scanRelationships[db->scanRelationshipCount++] = rel;
    BoltConnection *connection = fakeConnect(db);
    LogicalBackupRequest request = testRequest(connection, &paths);
    LogicalBackupResult result;
    assert_int_equal(logicalBackupRun(&request, &result), BACKUP_UNSUPPORTED_VALUE);
    assert_non_null(strstr(errLast()->reason, "relationship 4 [:LINK]"));
    assert_non_null(strstr(errLast()->reason, "UUID"));
    assert_int_equal(access(paths.archivePath, F_OK), -1);
    fakeFinish(db, connection);
    testPathsRemove(&paths);
    fakeFree(db);
}

static volatile sig_atomic_t testCancel;

static void cancelAtRelationships(const LogicalBackupProgress *progress, void *payload)
{
    (void)payload;
    if (progress->phase == LOGICAL_PHASE_RELATIONSHIPS)
        testCancel = 1;
}

static void checkCancelRemovesArchive(bool throughStorage)
{
    TestPaths paths;
    testPathsMake(&paths);
    if (throughStorage)
        assert_int_equal(storagePosixNew(paths.directory, &paths.storage), ERR_OK);
    FakeDb *db = fakeNew();
    fillScenario(db);
    BoltConnection *connection = fakeConnect(db);
    LogicalBackupRequest request = testRequest(connection, &paths);
    testCancel = 0;
    request.cancelFlag = &testCancel;
    request.progress = cancelAtRelationships;
    request.pendingMemoryLimit = 1;
    LogicalBackupResult result;
    assert_int_equal(logicalBackupRun(&request, &result), OPERATION_INTERRUPTED);
    assert_non_null(strstr(errLast()->reason, "relationships"));
    assert_int_equal(access(paths.archivePath, F_OK), -1);
    fakeFinish(db, connection);
    assert_true(db->sawRollback);
    testPathsRemove(&paths);
    fakeFree(db);
}

static void testCancelRemovesArchive(void **state)
{
    (void)state;
    checkCancelRemovesArchive(false);
    checkCancelRemovesArchive(true); /* the storage write is aborted: no temporary file left */
}

static void testHeaderMap(void **state)
{
    (void)state;
    Buffer packed;
    bufferInit(&packed);
    LogicalHeaderFields fields = {.backupId = "neo4j-20250101-000000", .createdUtc = "2025-01-01T00:00:00Z",
                                  .sourceUri = "bolt://h:7687", .serverAgent = "Neo4j/5.26.0",
                                  .serverVersion = "5.26.0", .edition = NULL, .database = "neo4j",
                                  .boltMajor = 5, .boltMinor = 8};
    logicalBackupPackHeader(&packed, &fields);
    Arena *arena = arenaNew(0);
    PackReader reader;
    packReaderInit(&reader, packed.data, packed.length);
    BoltValue header;
    assert_int_equal(unpackValue(&reader, arena, &header), ERR_OK);
    assert_int_equal(header.type, BOLT_MAP);
    assert_int_equal(header.as.map.count, 11);
    assert_string_equal(boltMapGetString(&header, "format", ""), "nbk-logical-1");
    assert_string_equal(boltMapGetString(&header, "backup_id", ""), "neo4j-20250101-000000");
    assert_string_equal(boltMapGetString(&header, "bolt_version", ""), "5.8");
    assert_string_equal(boltMapGetString(&header, "tool", ""), "neo4j-backup");
    assert_int_equal(boltMapGet(&header, "edition")->type, BOLT_NULL);
    arenaFree(arena);
    bufferFree(&packed);
}

/* Issue 16: a backup through neo4j:// reads from the cluster's secondary. The
 * router's table lists a primary, a secondary that refuses connections and
 * the fake database as a second secondary: the whole backup runs in one read
 * transaction on that one server, and the primary is never contacted. */
static void testRoutedBackupReadsOneServer(void **state)
{
    (void)state;
    TestPaths paths;
    testPathsMake(&paths);
    FakeDb *db = fakeNew();
    fillScenario(db);
    FakeNode dbPort, router, writer;
    fakeNodeListen(&dbPort, FAKE_NODE_READER); /* only its socket: FakeDb serves it */
    db->listenFd = dbPort.listenFd;
    fakeNodeListen(&router, FAKE_NODE_ROUTER);
    fakeNodeListen(&writer, FAKE_NODE_READER);
    uint16_t refusing = fakeNodeRefusing();
    fakeNodeAddress(router.port, router.routers[router.routerCount++]);
    fakeNodeAddress(writer.port, router.writers[router.writerCount++]);
    fakeNodeAddress(refusing, router.readers[router.readerCount++]);
    fakeNodeAddress(dbPort.port, router.readers[router.readerCount++]);
    fakeNodeStart(&router);
    assert_int_equal(pthread_create(&db->thread, NULL, fakeThread, db), 0);

    char uri[64];
    snprintf(uri, sizeof(uri), "neo4j://127.0.0.1:%u", router.port);
    BoltRoutedOptions options = {
        .connect = {.uri = uri, .user = "neo4j", .password = "pw", .connectTimeoutMs = FAKE_WIRE_TIMEOUT_MS},
        .database = "neo4j",
        .mode = BOLT_ACCESS_READ,
        .readFrom = BOLT_READ_FROM_SECONDARY,
    };
    BoltConnection *connection = NULL;
    ErrCode code = boltConnectRouted(&options, NULL, &connection);
    if (code != ERR_OK)
        fail_msg("routed connect failed: %s", errLast()->reason);
    LogicalBackupRequest request = testRequest(connection, &paths);
    request.database = "neo4j";
    request.fetchSize = 2;
    LogicalBackupResult result;
    code = logicalBackupRun(&request, &result);
    if (code != ERR_OK)
        fail_msg("backup failed: %s: %s", errName(code), errLast()->reason);
    assert_false(fakeNodeWasContacted(&writer));
    fakeFinish(db, connection);
    fakeNodeFinish(&router);
    fakeNodeFinish(&writer);
    if (router.wire.failure[0])
        fail_msg("fake router: %s", router.wire.failure);

    assert_int_equal(router.routeRequests, 1);
    assert_int_equal(db->accepted, 1);
    assert_int_equal(db->begins, 1);
    assert_true(db->sawBeginRead);
    assert_true(db->sawCommit);
    assert_int_equal(result.nodes, 5);
    assert_int_equal(result.relationships, 3);
    uint64_t counts[3];
    char archiveHex[66];
    readBack(paths.archivePath, counts, archiveHex);
    assert_int_equal(counts[1], 5);
    assert_int_equal(counts[2], 3);
    testPathsRemove(&paths);
    close(dbPort.listenFd);
    logicalBackupResultFree(&result);
    fakeNodeFree(&dbPort);
    fakeNodeFree(&router);
    fakeNodeFree(&writer);
    fakeFree(db);
}

/* ---- backup: schema items a restore would refuse ---------------------------- */

static char capturedWarnings[1024];

static void captureWarnings(LogLevel level, const char *line, void *payload)
{
    (void)payload;
    size_t used = strlen(capturedWarnings);
    if (level == LOG_WARN)
        snprintf(capturedWarnings + used, sizeof(capturedWarnings) - used, "%s\n", line);
}

static ErrCode countItem(const BoltValue *item, void *payload)
{
    (void)item;
    (*(unsigned *)payload)++;
    return ERR_OK;
}

/* A schema item of a kind this tool cannot rebuild is still backed up, with
 * a warning at backup time that a restore will refuse it. */
static void testCaptureWarnsAboutUnbuildableItems(void **state)
{
    (void)state;
    const char *types[] = {"LOOKUP", "QUANTUM"};
    for (int index = 0; index < 2; index++) {
        FakeDb *db = fakeNew();
        db->showIndexType = types[index];
        BoltConnection *connection = fakeConnect(db);
        capturedWarnings[0] = '\0';
        logSetSink(captureWarnings, NULL);
        unsigned items = 0;
        ErrCode code = schemaCapture(connection, countItem, &items, NULL);
        logSetSink(NULL, NULL);
        fakeFinish(db, connection);
        assert_int_equal(code, ERR_OK);
        assert_int_equal(items, 1);
        if (index == 0) {
            assert_string_equal(capturedWarnings, "");
        } else {
            assert_non_null(strstr(capturedWarnings, "'index_lookup' (index QUANTUM) cannot be rebuilt"));
            assert_non_null(strstr(capturedWarnings, "a restore of this backup will refuse it"));
        }
        fakeFree(db);
    }
}

/* ---- restore: schema statements ------------------------------------------ */

/* A schema item as an archive carries it, with a tampered createStatement. */
static BoltValue tamperedSchemaItem(Arena *arena, const char *type)
{
    BoltValue item = boltMap(arena, 7);
    BoltValue labels = boltList(arena, 1);
    labels.as.list.items[0] = boltString(arena, "Person");
    BoltValue properties = boltList(arena, 1);
    properties.as.list.items[0] = boltString(arena, "name");
    boltMapSet(arena, &item, 0, "kind", boltString(arena, "index"));
    boltMapSet(arena, &item, 1, "name", boltString(arena, "person_name"));
    boltMapSet(arena, &item, 2, "type", boltString(arena, type));
    boltMapSet(arena, &item, 3, "entityType", boltString(arena, "NODE"));
    boltMapSet(arena, &item, 4, "labelsOrTypes", labels);
    boltMapSet(arena, &item, 5, "properties", properties);
    boltMapSet(arena, &item, 6, "createStatement", boltString(arena, "MATCH (n) DETACH DELETE n"));
    return item;
}

/* The archive: a schema item whose statement is MATCH (n) DETACH
 * DELETE n. The restore sends the index its fields describe, never that. */
static void testRestoreSchemaIgnoresStoredStatement(void **state)
{
    (void)state;
    FakeDb *db = fakeNew();
    db->acceptOthers = true;
    BoltConnection *connection = fakeConnect(db);
    Arena *arena = arenaNew(0);
    BoltValue item = tamperedSchemaItem(arena, "RANGE");
    ArchiveContent archive = {.schemaCount = 1, .schemaItems = &item};
    uint64_t created = 0;
    ErrCode code = logicalRestoreSchema(connection, "neo4j", &archive, 5, &created);
    if (code != ERR_OK)
        fail_msg("%s", errLast()->reason);
    assert_int_equal(created, 1);
    fakeFinish(db, connection);
    assert_null(strstr(db->otherQueries, "DELETE"));
    assert_non_null(strstr(db->otherQueries, "CREATE RANGE INDEX `person_name` FOR (n:`Person`) ON (n.`name`)\n"));
    assert_true(db->stateQueries >= 1);
    arenaFree(arena);
    fakeFree(db);
}

/* Index states: person_name is recorded with sourceState (NULL: an archive
 * from before states were kept) and the target reports it FAILED. */
static ErrCode restoreWithFailedIndex(const char *sourceState, double *seconds)
{
    FakeDb *db = fakeNew();
    db->acceptOthers = true;
    db->indexState = "FAILED";
    db->indexFailure = "Property value is too large to index";
    BoltConnection *connection = fakeConnect(db);
    Arena *arena = arenaNew(0);
    BoltValue item = tamperedSchemaItem(arena, "RANGE");
    if (sourceState) {
        BoltValue withState = boltMap(arena, item.as.map.count + 2);
        for (uint32_t entry = 0; entry < item.as.map.count; entry++)
            withState.as.map.entries[entry] = item.as.map.entries[entry];
        boltMapSet(arena, &withState, item.as.map.count, "state", boltString(arena, sourceState));
        boltMapSet(arena, &withState, item.as.map.count + 1, "failureMessage",
                   boltString(arena, "Property value is too large to index (source)"));
        item = withState;
    }
    ArchiveContent archive = {.schemaCount = 1, .schemaItems = &item};
    struct timespec start, end;
    clock_gettime(CLOCK_MONOTONIC, &start);
    ErrCode code = logicalRestoreSchema(connection, "neo4j", &archive, 300, NULL);
    clock_gettime(CLOCK_MONOTONIC, &end);
    *seconds = (double)(end.tv_sec - start.tv_sec) + (double)(end.tv_nsec - start.tv_nsec) / 1e9;
    ErrDetail detail = errSave();
    fakeFinish(db, connection);
    errRestore(&detail);
    arenaFree(arena);
    fakeFree(db);
    return code;
}

/* Failed in the source and failed again: a warning, the restore passes. */
static void testRestoreIndexFailedAsInSource(void **state)
{
    (void)state;
    double seconds = 0;
    assert_int_equal(restoreWithFailedIndex("FAILED", &seconds), ERR_OK);
    assert_true(seconds < 5);
}

/* ONLINE in the source (or not recorded) and FAILED here: RESTORE_FAILED at
 * once, naming the index and the reason, not a 300 s wait for it. */
static void testRestoreIndexFailedOnlyOnTarget(void **state)
{
    (void)state;
    const char *sourceStates[] = {"ONLINE", NULL};
    for (int index = 0; index < 2; index++) {
        double seconds = 0;
        assert_int_equal(restoreWithFailedIndex(sourceStates[index], &seconds), RESTORE_FAILED);
        assert_true(seconds < 5);
        assert_non_null(strstr(errLast()->reason, "`person_name`: Property value is too large to index"));
        assert_null(strstr(errLast()->reason, "did not come online"));
    }
}

/* An item that cannot be rebuilt refuses the whole restore before the
 * target is touched: no wipe, no data, no schema. */
static void testRestoreRefusesUnknownSchemaBeforeWipe(void **state)
{
    (void)state;
    TestPaths paths;
    testPathsMake(&paths);
    Arena *arena = arenaNew(0);
    ArcWriter *writer = NULL;
    assert_int_equal(arcWriterOpen(&writer, paths.archivePath, ARC_COMPRESSION_ZSTD, 3, 0, NULL, 0), ERR_OK);
    Buffer packed;
    bufferInit(&packed);
    BoltValue item = tamperedSchemaItem(arena, "MATCH (n) DETACH DELETE n");
    packValue(&packed, &item);
    assert_int_equal(arcWriterAdd(writer, ARC_RECORD_SCHEMA, packed.data, packed.length), ERR_OK);
    bufferClear(&packed);
    BoltValue node = testNode(arena, 1, "Person", "name", boltString(arena, "Ada"));
    packValue(&packed, &node);
    assert_int_equal(arcWriterAdd(writer, ARC_RECORD_NODE, packed.data, packed.length), ERR_OK);
    ArcTotals totals;
    assert_int_equal(arcWriterFinish(writer, &totals), ERR_OK);
    arcWriterFree(writer);

    FakeDb *db = fakeNew();
    db->acceptOthers = true;
    BoltConnection *connection = fakeConnect(db);
    LogicalRestoreRequest request = {.connection = connection, .database = "neo4j",
                                     .archive = {.path = paths.archivePath}, .wipeTarget = true};
    LogicalRestoreResult result;
    assert_int_equal(logicalRestoreRun(&request, &result), BACKUP_CORRUPTED);
    assert_non_null(strstr(errLast()->reason, "'person_name'"));
    logicalRestoreResultFree(&result);
    fakeFinish(db, connection);
    assert_string_equal(db->otherQueries, ""); /* nothing was sent */
    bufferFree(&packed);
    arenaFree(arena);
    fakeFree(db);
    testPathsRemove(&paths);
}

/* ---- the backup service (backup/backup.h) and validation (catalog/validate.h) ---- */

typedef struct {
    FakeDb *db;
    BoltConnection *connection; /* the one handed out, closed by the service */
    unsigned connects;
    bool refuse;                /* connect fails as an unreachable server would */
    BackupEventKind kinds[64];  /* events seen, in order (progress left out) */
    unsigned kindCount;
    volatile sig_atomic_t *cancelAtRelationships;
} ServiceFixture;

/* The service closed the connection it was given: the fake's thread ends. */
static void serviceFakeJoin(FakeDb *db)
{
    pthread_join(db->thread, NULL);
    close(db->wire.fd);
    if (db->wire.failure[0])
        fail_msg("fake server: %s (last query: %s)", db->wire.failure, db->lastQuery);
}

static ErrCode serviceConnect(void *payload, BoltAccessMode mode, BoltConnection **out)
{
    ServiceFixture *fixture = payload;
    fixture->connects++;
    if (fixture->refuse || mode != BOLT_ACCESS_READ)
        return errSet(NEO4J_UNREACHABLE, "connection refused (fake)");
    fixture->connection = fakeConnect(fixture->db);
    *out = fixture->connection;
    return ERR_OK;
}

static ErrCode serviceVersion(void *payload, BoltConnection *connection, char *version, size_t versionSize,
                              char *edition, size_t editionSize)
{
    (void)payload;
    (void)connection;
    snprintf(version, versionSize, "5.26.0");
    snprintf(edition, editionSize, "community");
    return ERR_OK;
}

static void serviceOnEvent(const BackupEvent *event, void *payload)
{
    ServiceFixture *fixture = payload;
    if (event->kind == BACKUP_EVENT_PROGRESS) {
        if (fixture->cancelAtRelationships && event->progress->phase == LOGICAL_PHASE_RELATIONSHIPS)
            *fixture->cancelAtRelationships = 1;
        return;
    }
    if (fixture->kindCount < sizeof(fixture->kinds) / sizeof(fixture->kinds[0]))
        fixture->kinds[fixture->kindCount++] = event->kind;
}

static ErrCode plentyOfSpace(const char *path, FsSpace *out, void *payload)
{
    (void)path;
    (void)payload;
    out->availableBytes = 1ull << 40;
    out->totalBytes = 1ull << 41;
    out->freePercent = 50;
    return ERR_OK;
}

typedef struct {
    char root[64];        /* the test directory */
    char storagePath[96]; /* the catalog, below it: created by the service */
    InstanceConfig source;
} ServicePaths;

static void servicePathsMake(ServicePaths *paths)
{
    memset(paths, 0, sizeof(*paths));
    snprintf(paths->root, sizeof(paths->root), "/tmp/backup_service_XXXXXX");
    assert_non_null(mkdtemp(paths->root));
    snprintf(paths->storagePath, sizeof(paths->storagePath), "%s/backups", paths->root);
    snprintf(paths->source.name, sizeof(paths->source.name), "production");
    paths->source.uri = "bolt://neo4j:secret@fake:7687";
    paths->source.database = "neo4j";
}

static void servicePathsRemove(ServicePaths *paths)
{
    assert_int_equal(fsRemoveTree("/tmp", paths->root), ERR_OK);
}

static BackupRequest serviceRequest(ServiceFixture *fixture, const ServicePaths *paths)
{
    BackupRequest request = {
        .source = &paths->source,
        .connector = {.connect = serviceConnect, .serverVersion = serviceVersion, .payload = fixture},
        .storagePath = paths->storagePath,
        .compression = ARC_COMPRESSION_ZSTD,
        .minFreePercent = 10,
    };
    return request;
}

/* Visible catalog entries and leftover temporary directories under the catalog. */
static size_t serviceVisibleBackups(const char *storagePath, CatList *list)
{
    Catalog *catalog = NULL;
    assert_int_equal(catOpen(&catalog, storagePath, false), ERR_OK);
    assert_int_equal(catList(catalog, list), ERR_OK);
    CatNameList leftovers = {0};
    assert_int_equal(catCleanLeftovers(catalog, true, &leftovers), ERR_OK);
    assert_int_equal(leftovers.count, 0);
    catNameListFree(&leftovers);
    catClose(catalog);
    return list->count;
}

static void testServiceBackupIsCommittedAndValid(void **state)
{
    (void)state;
    ServicePaths paths;
    servicePathsMake(&paths);
    FakeDb *db = fakeNew();
    fillScenario(db);
    db->acceptOthers = true; /* the BackupMetadata node's CREATE */
    ServiceFixture fixture = {.db = db};
    fsSetSpaceOverride(plentyOfSpace, NULL);
    BackupRequest request = serviceRequest(&fixture, &paths);
    BackupResult result;
    ErrCode code = backupCreate(&request, &result, &(BackupEvents){.onEvent = serviceOnEvent, .payload = &fixture});
    fsSetSpaceOverride(NULL, NULL);
    if (code != ERR_OK)
        fail_msg("backup failed: %s: %s", errName(code), errLast()->reason);
    serviceFakeJoin(db);

    /* The contract's sequence of lines, as events. */
    const BackupEventKind expected[] = {BACKUP_EVENT_STARTING, BACKUP_EVENT_SERVER_VERSION, BACKUP_EVENT_SPACE,
                                        BACKUP_EVENT_TYPE,     BACKUP_EVENT_RUNNING,        BACKUP_EVENT_WRITTEN,
                                        BACKUP_EVENT_COMPLETED};
    assert_int_equal(fixture.kindCount, sizeof(expected) / sizeof(expected[0]));
    for (unsigned index = 0; index < fixture.kindCount; index++)
        assert_int_equal(fixture.kinds[index], expected[index]);
    assert_int_equal(fixture.connects, 1); /* bolt://: the metadata goes over the same connection */
    assert_int_equal(db->countQueries, 3);
    assert_string_equal(result.safeUri, "bolt://fake:7687");
    assert_int_equal(result.nodes, 5);
    assert_int_equal(result.relationships, 3);
    assert_int_equal(result.schemaItems, 1);
    assert_false(result.critical);
    assert_non_null(strstr(db->otherQueries, "CREATE (m:BackupMetadata {backup_id: $id"));
    assert_non_null(strstr(db->otherQueries, "method: 'logical'"));

    /* One committed backup whose manifest says what the result says. */
    CatList list = {0};
    assert_int_equal(serviceVisibleBackups(paths.storagePath, &list), 1);
    const Manifest *manifest = list.entries[0].manifest;
    assert_non_null(manifest);
    assert_string_equal(list.entries[0].id, result.id);
    assert_string_equal(manifest->status, MANIFEST_STATUS_COMPLETE);
    assert_string_equal(manifest->method, "logical");
    assert_string_equal(manifest->source.uri, "bolt://fake:7687"); /* no credentials stored */
    assert_string_equal(manifest->archive.sha256, result.sha256);
    assert_int_equal(manifest->stats.nodes, 5);
    assert_int_equal(manifest->stats.relationships, 3);
    assert_int_equal(manifest->schemaCount, 1);
    catListFree(&list);

    /* Validation reads it all back and records the verdict. */
    Catalog *catalog = NULL;
    assert_int_equal(catOpen(&catalog, paths.storagePath, false), ERR_OK);
    CatValidateRequest validate = {.catalog = catalog, .backupId = result.id};
    CatValidateResult verdict;
    assert_int_equal(catValidate(&validate, &verdict, NULL), ERR_OK);
    assert_false(verdict.reported);
    CatEntry entry = {0};
    assert_int_equal(catFind(catalog, result.id, &entry), ERR_OK);
    assert_string_equal(entry.manifest->status, MANIFEST_STATUS_VALIDATED);
    catEntryFree(&entry);

    /* One flipped byte in the archive: corrupted, reported once, recorded. */
    char archivePath[256];
    snprintf(archivePath, sizeof(archivePath), "%s/%s/%s", paths.storagePath, result.id,
             arcFileName(ARC_COMPRESSION_ZSTD));
    FILE *archive = fopen(archivePath, "r+b");
    assert_non_null(archive);
    assert_int_equal(fseek(archive, 40, SEEK_SET), 0);
    int byte = fgetc(archive);
    assert_int_equal(fseek(archive, 40, SEEK_SET), 0);
    fputc(byte ^ 0xff, archive);
    fclose(archive);
    assert_int_equal(catValidate(&validate, &verdict, NULL), BACKUP_CORRUPTED);
    assert_true(verdict.reported);
    assert_non_null(strstr(errLast()->reason, "checksum mismatch"));
    assert_int_equal(catFind(catalog, result.id, &entry), ERR_OK);
    assert_string_equal(entry.manifest->status, MANIFEST_STATUS_CORRUPTED);
    catEntryFree(&entry);
    catClose(catalog);

    servicePathsRemove(&paths);
    fakeFree(db);
}

/* ---- a repository on a storage that is not a directory -------------------
 * Every call goes to a posix storage underneath, but the storage has no path
 * and no fixed capacity, as object storage: what backupCreate does with a
 * catalog it is given rather than a path. */

static ErrCode fwdReadOpen(void *driver, const char *name, uint64_t offset, uint64_t length, void **out)
{
    return storageReadOpen(driver, name, offset, length, (StorageRead **)out);
}
static ErrCode fwdRead(void *reader, void *buffer, size_t size, size_t *got)
{
    return storageRead(reader, buffer, size, got);
}
static void fwdReadClose(void *reader) { storageReadClose(reader); }
static ErrCode fwdWriteOpen(void *driver, const char *name, unsigned flags, void **out)
{
    return storageWriteOpen(driver, name, flags, (StorageWrite **)out);
}
static ErrCode fwdWrite(void *writer, const void *data, size_t length) { return storageWrite(writer, data, length); }
static ErrCode fwdWriteCommit(void *writer) { return storageWriteCommit(writer); }
static void fwdWriteAbort(void *writer) { storageWriteAbort(writer); }
static ErrCode fwdList(void *driver, const char *dir, StorageListCallback callback, void *payload)
{
    return storageList(driver, dir, callback, payload);
}
static ErrCode fwdStat(void *driver, const char *name, StorageInfo *out) { return storageStat(driver, name, out); }
static ErrCode fwdRemove(void *driver, const char *name) { return storageRemove(driver, name); }
static ErrCode fwdRemoveDir(void *driver, const char *dir) { return storageRemoveDir(driver, dir); }
static ErrCode fwdLockAcquire(void *driver, const char *name, const StorageLockOwner *owner, int ttlSeconds,
                              void **out)
{
    return storageLockAcquire(driver, name, owner, ttlSeconds, (StorageLock **)out);
}
static ErrCode fwdLockRefresh(void *lock) { return storageLockRefresh(lock); }
static void fwdLockRelease(void *lock) { storageLockRelease(lock); }
static ErrCode fwdSpace(void *driver, StorageSpace *out)
{
    (void)driver;
    *out = (StorageSpace){.applicable = false};
    return ERR_OK;
}
static void fwdFree(void *driver) { storageFree(driver); }
static ErrCode fwdListDir(void *driver, const char *dir, StorageListCallback callback, void *payload)
{
    return storageListDir(driver, dir, callback, payload);
}
static ErrCode fwdInfo(void *driver, const char *name, StorageInfo *out) { return storageInfo(driver, name, out); }
static ErrCode fwdReadInfo(void *reader, StorageInfo *out) { return storageReadInfo(reader, out); }
static ErrCode fwdDirCreate(void *driver, const char *dir) { return storageDirCreate(driver, dir); }
static ErrCode fwdDirSync(void *driver, const char *dir) { return storageDirSync(driver, dir); }
static ErrCode fwdMove(void *driver, const char *from, const char *to, unsigned flags)
{
    return storageMove(driver, from, to, flags);
}
static ErrCode fwdLockAcquireMode(void *driver, const char *name, const StorageLockOwner *owner, int mode,
                                  int timeoutMs, int ttlSeconds, void **out)
{
    return storageLockAcquireMode(driver, name, owner, mode, timeoutMs, ttlSeconds, (StorageLock **)out);
}
static bool fwdLockHeld(void *driver, const char *name) { return storageLockHeld(driver, name); }

static const StorageInterface forwardingInterface = {
    .name = "forwarding", .readOpen = fwdReadOpen, .read = fwdRead, .readClose = fwdReadClose,
    .writeOpen = fwdWriteOpen, .write = fwdWrite, .writeCommit = fwdWriteCommit, .writeAbort = fwdWriteAbort,
    .list = fwdList, .stat = fwdStat, .remove = fwdRemove, .removeDir = fwdRemoveDir,
    .lockAcquire = fwdLockAcquire, .lockRefresh = fwdLockRefresh, .lockRelease = fwdLockRelease,
    .space = fwdSpace, .free = fwdFree, .listDir = fwdListDir, .info = fwdInfo, .readInfo = fwdReadInfo,
    .dirCreate = fwdDirCreate, .dirSync = fwdDirSync, .move = fwdMove, .lockAcquireMode = fwdLockAcquireMode,
    .lockHeld = fwdLockHeld,
};

/* A caller's catalog (request.catalog, no storagePath): used as it is, never
 * closed by the service; the create lock is a lock of its storage. */
static void testServiceOnCallersCatalog(void **state)
{
    (void)state;
    ServicePaths paths;
    servicePathsMake(&paths);
    FakeDb *db = fakeNew();
    fillScenario(db);
    db->acceptOthers = true;
    ServiceFixture fixture = {.db = db};
    Catalog *catalog = NULL;
    assert_int_equal(catOpen(&catalog, paths.storagePath, true), ERR_OK);
    BackupRequest request = serviceRequest(&fixture, &paths);
    request.storagePath = NULL;
    request.catalog = catalog;
    fsSetSpaceOverride(plentyOfSpace, NULL);
    BackupResult result;
    ErrCode code = backupCreate(&request, &result, &(BackupEvents){.onEvent = serviceOnEvent, .payload = &fixture});
    fsSetSpaceOverride(NULL, NULL);
    if (code != ERR_OK)
        fail_msg("backup failed: %s: %s", errName(code), errLast()->reason);
    serviceFakeJoin(db);
    CatEntry entry = {0};
    assert_int_equal(catFind(catalog, result.id, &entry), ERR_OK); /* still open, and it holds the backup */
    assert_string_equal(entry.manifest->archive.sha256, result.sha256);
    catEntryFree(&entry);

    /* Another holder of the create lock: refused at once, naming it. */
    StorageLock *held = NULL;
    StorageLockOwner owner = {.owner = "backup --create --method dump"};
    assert_int_equal(storageLockAcquireMode(catStorage(catalog), ".create.lock", &owner, STORAGE_LOCK_EXCLUSIVE, 0,
                                            60, &held),
                     ERR_OK);
    fixture.kindCount = 0;
    assert_int_equal(backupCreate(&request, &result, &(BackupEvents){.onEvent = serviceOnEvent, .payload = &fixture}),
                     BACKUP_LOCKED);
    char expected[256];
    snprintf(expected, sizeof(expected), "%s/.create.lock is held by pid %ld (backup --create --method dump)",
             paths.storagePath, (long)getpid());
    assert_string_equal(errLast()->reason, expected);
    storageLockRelease(held);
    serviceFakeJoin(db);
    catClose(catalog);
    servicePathsRemove(&paths);
    fakeFree(db);
}

/* A repository with no paths and no fixed capacity: the whole backup goes
 * through the storage (archive, read-back, manifest, create lock), there is
 * no free-space check (and no space line), and validation reads it back. */
static void testServiceStorageWithoutPaths(void **state)
{
    (void)state;
    ServicePaths paths;
    servicePathsMake(&paths);
    FakeDb *db = fakeNew();
    fillScenario(db);
    db->acceptOthers = true; /* the BackupMetadata node's CREATE */
    ServiceFixture fixture = {.db = db};
    Storage *posix = NULL;
    assert_int_equal(storagePosixOpen(paths.storagePath, true, &posix), ERR_OK);
    Catalog *catalog = NULL;
    assert_int_equal(catOpenStorage(&catalog, storageNew(&forwardingInterface, posix)), ERR_OK);
    BackupRequest request = serviceRequest(&fixture, &paths);
    request.storagePath = NULL;
    request.catalog = catalog;
    assert_null(catRoot(catalog));
    BackupResult result;
    ErrCode code = backupCreate(&request, &result, &(BackupEvents){.onEvent = serviceOnEvent, .payload = &fixture});
    if (code != ERR_OK)
        fail_msg("backup failed: %s: %s", errName(code), errLast()->reason);
    serviceFakeJoin(db);
    const BackupEventKind expected[] = {BACKUP_EVENT_STARTING, BACKUP_EVENT_SERVER_VERSION, BACKUP_EVENT_TYPE,
                                        BACKUP_EVENT_RUNNING,  BACKUP_EVENT_WRITTEN,         BACKUP_EVENT_COMPLETED};
    assert_int_equal(fixture.kindCount, sizeof(expected) / sizeof(expected[0]));
    for (unsigned index = 0; index < fixture.kindCount; index++)
        assert_int_equal(fixture.kinds[index], expected[index]);
    assert_false(storageLockHeld(catStorage(catalog), ".create.lock")); /* taken, and released */
    StorageInfo info;
    assert_int_equal(storageInfo(catStorage(catalog), ".create.lock", &info), ERR_OK);
    CatEntry entry = {0};
    assert_int_equal(catFind(catalog, result.id, &entry), ERR_OK);
    assert_string_equal(entry.manifest->archive.sha256, result.sha256);
    assert_int_equal(entry.manifest->schemaCount, 1);
    catEntryFree(&entry);
    CatValidateRequest validate = {.catalog = catalog, .backupId = result.id};
    CatValidateResult verdict;
    assert_int_equal(catValidate(&validate, &verdict, NULL), ERR_OK);
    /* Nothing of it landed in the working directory (no path to put it beside). */
    assert_int_equal(access(arcFileName(ARC_COMPRESSION_ZSTD), F_OK), -1);
    catClose(catalog);
    servicePathsRemove(&paths);
    fakeFree(db);
}

static void testServiceRefusedConnectionLeavesNothing(void **state)
{
    (void)state;
    ServicePaths paths;
    servicePathsMake(&paths);
    ServiceFixture fixture = {.refuse = true};
    BackupRequest request = serviceRequest(&fixture, &paths);
    BackupResult result;
    assert_int_equal(backupCreate(&request, &result, &(BackupEvents){.onEvent = serviceOnEvent, .payload = &fixture}),
                     NEO4J_UNREACHABLE);
    assert_int_equal(fixture.kindCount, 1); /* "Starting backup creation..." only */
    assert_string_equal(result.id, "");
    assert_false(fsExists(paths.storagePath)); /* not even the catalog was made */
    servicePathsRemove(&paths);
}

static void testServiceInterruptedBackupIsNotVisible(void **state)
{
    (void)state;
    ServicePaths paths;
    servicePathsMake(&paths);
    FakeDb *db = fakeNew();
    fillScenario(db);
    static volatile sig_atomic_t cancel;
    cancel = 0;
    ServiceFixture fixture = {.db = db, .cancelAtRelationships = &cancel};
    BackupRequest request = serviceRequest(&fixture, &paths);
    request.cancelFlag = &cancel;
    fsSetSpaceOverride(plentyOfSpace, NULL);
    BackupResult result;
    ErrCode code = backupCreate(&request, &result, &(BackupEvents){.onEvent = serviceOnEvent, .payload = &fixture});
    fsSetSpaceOverride(NULL, NULL);
    assert_int_equal(code, OPERATION_INTERRUPTED);
    serviceFakeJoin(db);
    assert_true(db->sawRollback);
    assert_string_equal(result.id, "");
    for (unsigned index = 0; index < fixture.kindCount; index++)
        assert_int_not_equal(fixture.kinds[index], BACKUP_EVENT_COMPLETED);
    CatList list = {0};
    assert_int_equal(serviceVisibleBackups(paths.storagePath, &list), 0);
    catListFree(&list);
    servicePathsRemove(&paths);
    fakeFree(db);
}

static void testServiceNoSpaceIsCritical(void **state)
{
    (void)state;
    ServicePaths paths;
    servicePathsMake(&paths);
    FakeDb *db = fakeNew();
    fillScenario(db);
    ServiceFixture fixture = {.db = db};
    BackupRequest request = serviceRequest(&fixture, &paths);
    request.minFreePercent = 60; /* plentyOfSpace says 50% */
    fsSetSpaceOverride(plentyOfSpace, NULL);
    BackupResult result;
    ErrCode code = backupCreate(&request, &result, &(BackupEvents){.onEvent = serviceOnEvent, .payload = &fixture});
    fsSetSpaceOverride(NULL, NULL);
    assert_int_equal(code, BACKUP_NO_SPACE);
    assert_true(result.critical);
    assert_non_null(strstr(errLast()->reason, "BACKUP_MIN_FREE_PERCENT=60"));
    serviceFakeJoin(db);
    CatList list = {0};
    assert_int_equal(serviceVisibleBackups(paths.storagePath, &list), 0);
    catListFree(&list);
    servicePathsRemove(&paths);
    fakeFree(db);
}

static void testServiceDryRunChangesNothing(void **state)
{
    (void)state;
    ServicePaths paths;
    servicePathsMake(&paths);
    FakeDb *db = fakeNew();
    fillScenario(db);
    ServiceFixture fixture = {.db = db};
    BackupRequest request = serviceRequest(&fixture, &paths);
    request.dryRun = true;
    BackupResult result;
    assert_int_equal(backupCreate(&request, &result, &(BackupEvents){.onEvent = serviceOnEvent, .payload = &fixture}),
                     ERR_OK);
    serviceFakeJoin(db);
    assert_int_equal(fixture.kindCount, 4);
    assert_int_equal(fixture.kinds[2], BACKUP_EVENT_TYPE);
    assert_int_equal(fixture.kinds[3], BACKUP_EVENT_DRY_RUN);
    assert_false(result.differential); /* no repository yet: a full */
    assert_int_equal(result.sourceNodes, db->scanNodeCount);
    assert_int_equal(result.sourceRelationships, db->scanRelationshipCount);
    assert_int_equal(strncmp(result.id, "neo4j-", 6), 0);
    assert_false(fsExists(paths.storagePath));
    assert_false(db->sawBeginRead);
    servicePathsRemove(&paths);
    fakeFree(db);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(testLateDroppedExcludedDuplicates),
        cmocka_unit_test(testPendingSpillsToFile),
        cmocka_unit_test(testBackupThroughStorage),
        cmocka_unit_test(testPlaceholderFails),
        cmocka_unit_test(testUnsupportedStructInRelationshipFails),
        cmocka_unit_test(testCancelRemovesArchive),
        cmocka_unit_test(testHeaderMap),
        cmocka_unit_test(testRoutedBackupReadsOneServer),
        cmocka_unit_test(testCaptureWarnsAboutUnbuildableItems),
        cmocka_unit_test(testRestoreSchemaIgnoresStoredStatement),
        cmocka_unit_test(testRestoreRefusesUnknownSchemaBeforeWipe),
        cmocka_unit_test(testRestoreIndexFailedAsInSource),
        cmocka_unit_test(testRestoreIndexFailedOnlyOnTarget),
        cmocka_unit_test(testServiceBackupIsCommittedAndValid),
        cmocka_unit_test(testServiceRefusedConnectionLeavesNothing),
        cmocka_unit_test(testServiceOnCallersCatalog),
        cmocka_unit_test(testServiceStorageWithoutPaths),
        cmocka_unit_test(testServiceInterruptedBackupIsNotVisible),
        cmocka_unit_test(testServiceNoSpaceIsCritical),
        cmocka_unit_test(testServiceDryRunChangesNothing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
