/* Logical restore (src/restore/logical_restore.c) against a fake target
 * server: the wipe, node and relationship batches with static and dynamic
 * tokens, relationships deferred to the end and orphans, BackupMetadata
 * nodes, the schema after the data, waiting for indexes, retries of
 * transient errors, batches halved at the server's memory limit, refusals,
 * cancellation and bad archives.
 *
 * The fake target (FakeTarget, over fake_bolt.h's FakeWire) runs in a thread
 * over a socketpair. It keeps the graph the batches build: every created node
 * with its archive key and labels, every relationship by its endpoints' keys,
 * so a test checks what a restore made, not only the counters it reports.
 * It never calls cmocka: the test asserts after joining it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "archive/archive.h"
#include "bolt/connection.h"
#include "bolt/packstream.h"
#include "bolt/transport.h"
#include "graph/counts.h"
#include "restore/health.h"
#include "restore/logical_restore.h"

#include "fake_bolt.h"

#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define TARGET_MAX_NODES 256
#define TARGET_MAX_RELATIONSHIPS 256
#define TARGET_FIRST_ID 100 /* new ids differ from archive keys, so a mix-up shows */
#define TARGET_MAX_FAULTS 4

/* A RUN whose query contains match fails with code, times times (UINT_MAX:
 * always), when its $rows holds at least minRows rows (0: any RUN). */
typedef struct {
    const char *match;
    const char *code;
    unsigned times;
    unsigned minRows;
    unsigned used;
} TargetFault;

typedef struct {
    int64_t startKey;
    int64_t endKey;
    char type[40];
} TargetRelationship;

typedef struct {
    FakeWire wire;
    pthread_t thread;
    const char *agent; /* NULL: Neo4j/5.26.0 */

    /* The graph the batches built. */
    int64_t nodeKeys[TARGET_MAX_NODES]; /* new id TARGET_FIRST_ID + index */
    char nodeLabels[TARGET_MAX_NODES][48]; /* ":`A`:`B`" as the query or the row gave them */
    unsigned nodeCount;
    TargetRelationship relationships[TARGET_MAX_RELATIONSHIPS];
    unsigned relationshipCount;

    /* What the wipe finds, and the LOOKUP indexes the target keeps. */
    const char *constraints[3];
    const char *indexes[3];
    const char *lookups[2]; /* entity types: "NODE", "RELATIONSHIP" */
    /* SHOW INDEXES ... state: index polledIndex is POPULATING for the first
     * populatingPolls looks (UINT_MAX: for ever), then ONLINE. */
    const char *polledIndex;
    unsigned populatingPolls;

    TargetFault faults[TARGET_MAX_FAULTS];
    bool badNodeRows;   /* node batches answer rows of the wrong shape */
    bool forgetNodes;   /* node batches answer ids but keep no node */

    /* What it saw. */
    char queries[32768]; /* every RUN, one per line */
    unsigned nodeBatches;
    unsigned relationshipBatches;
    unsigned largestNodeBatch; /* rows of the largest node batch that succeeded */
    unsigned indexPolls;
    unsigned resets;
} FakeTarget;

static void targetLog(FakeTarget *target, const char *query)
{
    size_t used = strlen(target->queries);
    snprintf(target->queries + used, sizeof(target->queries) - used, "%s\n", query);
}

/* ":`A`:`B`" of a list of label strings (the dynamic node rows). */
static void targetLabelText(const BoltValue *labels, char *out, size_t size)
{
    out[0] = '\0';
    for (uint32_t index = 0; labels && labels->type == BOLT_LIST && index < labels->as.list.count; index++) {
        size_t used = strlen(out);
        const BoltValue *label = &labels->as.list.items[index];
        snprintf(out + used, size - used, ":`%.*s`", (int)label->as.string.length, label->as.string.data);
    }
}

/* The text between after and the first stop that follows it, e.g. the
 * ":`Person`" of "CREATE (n:`Person`) SET". */
static void targetBetween(const char *query, const char *after, const char *stop, char *out, size_t size)
{
    out[0] = '\0';
    const char *start = strstr(query, after);
    if (!start)
        return;
    start += strlen(after);
    const char *end = strstr(start, stop);
    if (end)
        snprintf(out, size, "%.*s", (int)(end - start), start);
}

static const TargetFault *targetFault(FakeTarget *target, const char *query, uint32_t rowCount)
{
    for (unsigned index = 0; index < TARGET_MAX_FAULTS; index++) {
        TargetFault *fault = &target->faults[index];
        if (fault->match && strstr(query, fault->match) && fault->used < fault->times &&
            rowCount >= fault->minRows) {
            fault->used++;
            return fault;
        }
    }
    return NULL;
}

/* UNWIND $rows ... CREATE (n...): one node per row, [key, id] back. */
static void targetCreateNodes(FakeTarget *target, const char *query, const BoltValue *rows, BoltValue *answer,
                              unsigned *answerCount)
{
    static const char *const fields[] = {"row[0]", "id(n)"};
    fakeWireSuccess(&target->wire, "fields", fakeWireStrings(target->wire.arena, 2, fields));
    bool dynamic = strstr(query, "$(row[1])") != NULL;
    char staticLabels[48];
    targetBetween(query, "CREATE (n", ")", staticLabels, sizeof(staticLabels));
    for (uint32_t index = 0; index < rows->as.list.count; index++) {
        const BoltValue *row = &rows->as.list.items[index];
        int64_t key = row->as.list.items[0].as.integer;
        if (target->badNodeRows) {
            answer[(*answerCount)++] = boltList(target->wire.arena, 0);
            continue;
        }
        int64_t id = TARGET_FIRST_ID + target->nodeCount;
        if (!target->forgetNodes && target->nodeCount < TARGET_MAX_NODES) {
            target->nodeKeys[target->nodeCount] = key;
            if (dynamic)
                targetLabelText(&row->as.list.items[1], target->nodeLabels[target->nodeCount], 48);
            else
                snprintf(target->nodeLabels[target->nodeCount], 48, "%s", staticLabels);
            target->nodeCount++;
        }
        BoltValue cells[2] = {boltInt(key), boltInt(id)};
        answer[(*answerCount)++] = fakeWireRow(target->wire.arena, 2, cells);
    }
    target->nodeBatches++;
    if (rows->as.list.count > target->largestNodeBatch)
        target->largestNodeBatch = rows->as.list.count;
}

/* UNWIND $rows ... MATCH (a), (b) by id ... CREATE: only rows whose two
 * endpoints exist make a relationship; count(r) back. */
static void targetCreateRelationships(FakeTarget *target, const char *query, const BoltValue *rows,
                                      BoltValue *answer, unsigned *answerCount)
{
    static const char *const fields[] = {"count(r)"};
    fakeWireSuccess(&target->wire, "fields", fakeWireStrings(target->wire.arena, 1, fields));
    bool dynamic = strstr(query, "$(row[2])") != NULL;
    char staticType[40];
    targetBetween(query, "[r:`", "`]", staticType, sizeof(staticType));
    int64_t created = 0;
    for (uint32_t index = 0; index < rows->as.list.count; index++) {
        const BoltValue *row = &rows->as.list.items[index];
        int64_t start = row->as.list.items[0].as.integer - TARGET_FIRST_ID;
        int64_t end = row->as.list.items[1].as.integer - TARGET_FIRST_ID;
        if (start < 0 || end < 0 || start >= target->nodeCount || end >= target->nodeCount ||
            target->relationshipCount == TARGET_MAX_RELATIONSHIPS)
            continue;
        TargetRelationship *made = &target->relationships[target->relationshipCount++];
        made->startKey = target->nodeKeys[start];
        made->endKey = target->nodeKeys[end];
        if (dynamic) {
            const BoltValue *type = &row->as.list.items[2];
            snprintf(made->type, sizeof(made->type), "%.*s", (int)type->as.string.length, type->as.string.data);
        } else {
            snprintf(made->type, sizeof(made->type), "%s", staticType);
        }
        created++;
    }
    BoltValue cells[1] = {boltInt(created)};
    answer[(*answerCount)++] = fakeWireRow(target->wire.arena, 1, cells);
    target->relationshipBatches++;
}

static void targetNames(FakeTarget *target, const char *field, const char *const *names, unsigned capacity,
                        BoltValue *answer, unsigned *answerCount)
{
    fakeWireSuccess(&target->wire, "fields", fakeWireStrings(target->wire.arena, 1, &field));
    for (unsigned index = 0; index < capacity && names[index]; index++) {
        BoltValue cells[1] = {boltString(target->wire.arena, names[index])};
        answer[(*answerCount)++] = fakeWireRow(target->wire.arena, 1, cells);
    }
}

/* Answers one RUN (false: it failed, and the target waits for RESET). */
static bool targetAnswerRun(FakeTarget *target, const char *query, const BoltValue *params, BoltValue *answer,
                            unsigned *answerCount)
{
    *answerCount = 0;
    targetLog(target, query);
    const BoltValue *rows = params && params->type == BOLT_MAP ? boltMapGet(params, "rows") : NULL;
    if (rows && rows->type != BOLT_LIST) {
        fakeWireFail(&target->wire, "$rows is not a list");
        rows = NULL;
    }
    const TargetFault *fault = targetFault(target, query, rows ? rows->as.list.count : 0);
    if (fault) {
        fakeWireFailure(&target->wire, fault->code, "scripted failure");
        return false;
    }
    if (rows && strstr(query, "UNWIND $rows AS row CREATE (n")) {
        targetCreateNodes(target, query, rows, answer, answerCount);
    } else if (rows && strstr(query, "UNWIND $rows AS row MATCH (a)")) {
        targetCreateRelationships(target, query, rows, answer, answerCount);
    } else if (strstr(query, "SHOW CONSTRAINTS YIELD name RETURN name")) {
        targetNames(target, "name", target->constraints, 3, answer, answerCount);
    } else if (strstr(query, "SHOW INDEXES YIELD name, type WHERE type <> 'LOOKUP' RETURN name")) {
        targetNames(target, "name", target->indexes, 3, answer, answerCount);
    } else if (strstr(query, "SHOW INDEXES YIELD type, entityType WHERE type = 'LOOKUP'")) {
        targetNames(target, "entityType", target->lookups, 2, answer, answerCount);
    } else if (strstr(query, "SHOW INDEXES YIELD name, state, failureMessage")) {
        static const char *const fields[] = {"name", "state", "failureMessage"};
        fakeWireSuccess(&target->wire, "fields", fakeWireStrings(target->wire.arena, 3, fields));
        target->indexPolls++;
        if (target->polledIndex) {
            bool populating = target->indexPolls <= target->populatingPolls;
            BoltValue cells[3] = {boltString(target->wire.arena, target->polledIndex),
                                  boltString(target->wire.arena, populating ? "POPULATING" : "ONLINE"),
                                  boltString(target->wire.arena, "")};
            answer[(*answerCount)++] = fakeWireRow(target->wire.arena, 3, cells);
        }
    } else {
        fakeWireSuccess(&target->wire, "fields", boltList(target->wire.arena, 0));
    }
    return true;
}

static void *targetThread(void *argument)
{
    FakeTarget *target = argument;
    if (!fakeWireHandshake(&target->wire))
        return NULL;
    BoltValue answer[TARGET_MAX_NODES];
    unsigned answerCount = 0;
    bool failed = false; /* after a FAILURE, everything up to RESET is IGNORED */
    BoltValue request;
    while (fakeWireRead(&target->wire, &request)) {
        uint8_t tag = request.as.structure.tag;
        if (tag == BOLT_MSG_GOODBYE)
            return NULL;
        if (tag == BOLT_MSG_RESET) {
            failed = false;
            answerCount = 0;
            target->resets++;
            fakeWireSuccess(&target->wire, NULL, boltNull());
            continue;
        }
        if (failed) {
            fakeWireSend(&target->wire, BOLT_MSG_IGNORED, NULL);
            continue;
        }
        switch (tag) {
        case BOLT_MSG_HELLO:
            fakeWireSuccess(&target->wire, "server",
                            boltString(target->wire.arena, target->agent ? target->agent : "Neo4j/5.26.0"));
            break;
        case BOLT_MSG_RUN: {
            const BoltValue *query = &request.as.structure.fields[0];
            const BoltValue *params = request.as.structure.count > 1 ? &request.as.structure.fields[1] : NULL;
            if (query->type != BOLT_STRING) {
                fakeWireFail(&target->wire, "RUN without a query string");
                fakeWireSuccess(&target->wire, "fields", boltList(target->wire.arena, 0));
                break;
            }
            failed = !targetAnswerRun(target, query->as.string.data, params, answer, &answerCount);
            break;
        }
        case BOLT_MSG_PULL:
            for (unsigned index = 0; index < answerCount; index++)
                fakeWireSend(&target->wire, BOLT_MSG_RECORD, &answer[index]);
            answerCount = 0;
            fakeWireSuccess(&target->wire, "has_more", boltBool(false));
            break;
        default: /* LOGON, DISCARD, BEGIN, COMMIT, ROLLBACK */
            answerCount = 0;
            fakeWireSuccess(&target->wire, NULL, boltNull());
            break;
        }
    }
    return NULL;
}

static FakeTarget *targetNew(void)
{
    FakeTarget *target = calloc(1, sizeof(*target));
    assert_non_null(target);
    fakeWireInit(&target->wire);
    return target;
}

static BoltConnection *targetConnect(FakeTarget *target)
{
    int ends[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, ends), 0);
    target->wire.fd = ends[1];
    assert_int_equal(pthread_create(&target->thread, NULL, targetThread, target), 0);
    BoltConnectOptions options = {.uri = "bolt://target:7687", .user = "neo4j", .password = "pw"};
    BoltConnection *connection = NULL;
    assert_int_equal(boltConnectTransport(&options, boltTransportFromFd(ends[0], "target:7687"), &connection),
                     ERR_OK);
    return connection;
}

/* Closes the client, joins the target; keeps errLast() for the test. */
static void targetFinish(FakeTarget *target, BoltConnection *connection)
{
    ErrDetail detail = errSave();
    boltClose(connection);
    pthread_join(target->thread, NULL);
    close(target->wire.fd);
    if (target->wire.failure[0])
        fail_msg("fake target: %s", target->wire.failure);
    errRestore(&detail);
}

static void targetFree(FakeTarget *target)
{
    fakeWireFree(&target->wire);
    free(target);
}

static bool targetHasNode(const FakeTarget *target, int64_t key, const char *labels)
{
    for (unsigned index = 0; index < target->nodeCount; index++) {
        if (target->nodeKeys[index] == key)
            return strcmp(target->nodeLabels[index], labels) == 0;
    }
    return false;
}

static bool targetHasRelationship(const FakeTarget *target, int64_t startKey, int64_t endKey, const char *type)
{
    for (unsigned index = 0; index < target->relationshipCount; index++) {
        if (target->relationships[index].startKey == startKey && target->relationships[index].endKey == endKey &&
            strcmp(target->relationships[index].type, type) == 0)
            return true;
    }
    return false;
}

static void assertSent(const FakeTarget *target, const char *fragment)
{
    if (!strstr(target->queries, fragment))
        fail_msg("not sent: %s\nsent:\n%s", fragment, target->queries);
}

static void assertNotSent(const FakeTarget *target, const char *fragment)
{
    if (strstr(target->queries, fragment))
        fail_msg("sent: %s\nsent:\n%s", fragment, target->queries);
}

/* ---- archives ------------------------------------------------------------- */

typedef struct {
    char directory[64];
    char path[128];
    ArcWriter *writer;
    Arena *arena;
    Buffer packed;
} TestArchive;

/* headerFormat: the header's "format"; NULL writes no header. */
static void archiveBegin(TestArchive *archive, const char *headerFormat)
{
    snprintf(archive->directory, sizeof(archive->directory), "/tmp/logical_restore_test_XXXXXX");
    assert_non_null(mkdtemp(archive->directory));
    snprintf(archive->path, sizeof(archive->path), "%s/graph.nbk.zst", archive->directory);
    archive->arena = arenaNew(0);
    bufferInit(&archive->packed);
    if (headerFormat) {
        BoltValue header = boltMap(archive->arena, 1);
        boltMapSet(archive->arena, &header, 0, "format", boltString(archive->arena, headerFormat));
        packValue(&archive->packed, &header);
    }
    assert_int_equal(arcWriterOpen(&archive->writer, archive->path, ARC_COMPRESSION_ZSTD, 3, 0,
                                   archive->packed.data, archive->packed.length),
                     ERR_OK);
}

static void archiveAddValue(TestArchive *archive, ArcRecordKind kind, const BoltValue *value)
{
    bufferClear(&archive->packed);
    packValue(&archive->packed, value);
    assert_int_equal(arcWriterAdd(archive->writer, kind, archive->packed.data, archive->packed.length), ERR_OK);
}

/* A node [key, labels, {name: name}]; labels is ":"-separated ("" for none). */
static void archiveNode(TestArchive *archive, int64_t key, const char *labels, const char *name)
{
    Arena *arena = archive->arena;
    unsigned labelCount = 0;
    char copy[128];
    snprintf(copy, sizeof(copy), "%s", labels);
    const char *parts[8];
    for (char *save = NULL, *part = strtok_r(copy, ":", &save); part && labelCount < 8;
         part = strtok_r(NULL, ":", &save))
        parts[labelCount++] = part;
    BoltValue cells[3] = {boltInt(key), fakeWireStrings(arena, labelCount, parts), boltMap(arena, 1)};
    boltMapSet(arena, &cells[2], 0, "name", boltString(arena, name));
    BoltValue node = fakeWireRow(arena, 3, cells);
    archiveAddValue(archive, ARC_RECORD_NODE, &node);
}

static void archiveRelationship(TestArchive *archive, int64_t key, int64_t start, int64_t end, const char *type)
{
    Arena *arena = archive->arena;
    BoltValue cells[5] = {boltInt(key), boltInt(start), boltInt(end), boltString(arena, type), boltMap(arena, 1)};
    boltMapSet(arena, &cells[4], 0, "since", boltInt(key));
    BoltValue relationship = fakeWireRow(arena, 5, cells);
    archiveAddValue(archive, ARC_RECORD_RELATIONSHIP, &relationship);
}

/* A schema item on (:label {property}); constraints of type UNIQUENESS. */
static void archiveSchema(TestArchive *archive, const char *kind, const char *name, const char *type,
                          const char *entityType, const char *label, const char *property)
{
    Arena *arena = archive->arena;
    BoltValue item = boltMap(arena, 6);
    boltMapSet(arena, &item, 0, "kind", boltString(arena, kind));
    boltMapSet(arena, &item, 1, "name", boltString(arena, name));
    boltMapSet(arena, &item, 2, "type", boltString(arena, type));
    boltMapSet(arena, &item, 3, "entityType", boltString(arena, entityType));
    boltMapSet(arena, &item, 4, "labelsOrTypes", label ? fakeWireStrings(arena, 1, &label) : boltNull());
    boltMapSet(arena, &item, 5, "properties", property ? fakeWireStrings(arena, 1, &property) : boltNull());
    archiveAddValue(archive, ARC_RECORD_SCHEMA, &item);
}

static void archiveFinish(TestArchive *archive)
{
    ArcTotals totals;
    assert_int_equal(arcWriterFinish(archive->writer, &totals), ERR_OK);
    arcWriterFree(archive->writer);
    archive->writer = NULL;
}

static void archiveRemove(TestArchive *archive)
{
    arcWriterFree(archive->writer);
    unlink(archive->path);
    assert_int_equal(rmdir(archive->directory), 0); /* nothing else left behind */
    bufferFree(&archive->packed);
    arenaFree(archive->arena);
}

/* count nodes "0".."count-1", node i labelled "L<i % labelSets>", and as many
 * relationships i -> i+1 of type "T<i % types>". */
static void archiveManyTokens(TestArchive *archive, unsigned count, unsigned labelSets, unsigned types)
{
    char label[16], type[16];
    for (unsigned index = 0; index < count; index++) {
        snprintf(label, sizeof(label), "L%u", index % labelSets);
        archiveNode(archive, index, label, "n");
    }
    for (unsigned index = 0; index + 1 < count; index++) {
        snprintf(type, sizeof(type), "T%u", index % types);
        archiveRelationship(archive, 1000 + index, index, index + 1, type);
    }
}

/* ---- progress ------------------------------------------------------------- */

typedef struct {
    unsigned calls;
    bool sawPhase[RESTORE_PHASE_DONE + 1];
    uint64_t lastNodesDone;
    uint64_t nodesExpected;
    volatile sig_atomic_t *cancelAfterNodes; /* raised once nodesDone > 0 */
} ProgressSeen;

static void recordProgress(const LogicalRestoreProgress *progress, void *payload)
{
    ProgressSeen *seen = payload;
    seen->calls++;
    seen->sawPhase[progress->phase] = true;
    seen->lastNodesDone = progress->nodesDone;
    seen->nodesExpected = progress->nodesExpected;
    if (seen->cancelAfterNodes && progress->nodesDone > 0)
        *seen->cancelAfterNodes = 1;
}

/* Runs a restore of archive into target. */
static ErrCode restoreInto(FakeTarget *target, const char *archivePath, LogicalRestoreRequest *request,
                           LogicalRestoreResult *result)
{
    BoltConnection *connection = targetConnect(target);
    request->connection = connection;
    request->archive.path = archivePath;
    if (!request->database)
        request->database = "neo4j";
    ErrCode code = logicalRestoreRun(request, result);
    targetFinish(target, connection);
    return code;
}

/* ---- tests ------------------------------------------------------------------ */

/* The whole path on a 5.26 target: wipe what is there, nodes in batches of
 * two grouped by label set, a relationship whose end node comes later in the
 * archive, one whose end node is not in it (an orphan), the BackupMetadata
 * node restored but outside the fingerprint, the schema after the data with
 * the LOOKUP index the target already has skipped. */
static void testRestoresGraphAndSchema(void **state)
{
    (void)state;
    TestArchive archive;
    archiveBegin(&archive, "nbk-logical-1");
    archiveSchema(&archive, "constraint", "person_id", "UNIQUENESS", "NODE", "Person", "id");
    archiveSchema(&archive, "index", "person_name", "RANGE", "NODE", "Person", "name");
    archiveSchema(&archive, "index", "node_lookup", "LOOKUP", "NODE", NULL, NULL);
    archiveNode(&archive, 1, "Person", "Ada");
    archiveNode(&archive, 2, "Person", "Bob");
    archiveNode(&archive, 3, "Person:Admin", "Cy");
    archiveNode(&archive, 4, "", "nobody");
    archiveNode(&archive, 9, "BackupMetadata", "backup");
    archiveRelationship(&archive, 10, 1, 2, "KNOWS");
    archiveRelationship(&archive, 11, 2, 5, "KNOWS");  /* node 5 follows */
    archiveRelationship(&archive, 12, 3, 77, "GONE");  /* node 77 is not in the archive */
    archiveRelationship(&archive, 13, 9, 1, "ABOUT");  /* from the metadata node */
    archiveNode(&archive, 5, "Person", "Eve");
    archiveFinish(&archive);

    FakeTarget *target = targetNew();
    target->constraints[0] = "old_constraint";
    target->indexes[0] = "old`index";
    target->lookups[0] = "NODE";
    target->lookups[1] = "RELATIONSHIP";
    target->polledIndex = "person_name";
    ProgressSeen seen = {0};
    LogicalRestoreRequest request = {.wipeTarget = true, .nodeBatchSize = 2, .relationshipBatchSize = 2,
                                     .expectedNodes = 6, .progress = recordProgress, .progressPayload = &seen};
    LogicalRestoreResult result;
    ErrCode code = restoreInto(target, archive.path, &request, &result);
    if (code != ERR_OK)
        fail_msg("restore failed: %s: %s", errName(code), errLast()->reason);

    /* The wipe: schema dropped (names quoted), then relationships and nodes. */
    assertSent(target, "SHOW CONSTRAINTS YIELD name RETURN name\nDROP CONSTRAINT `old_constraint` IF EXISTS\n");
    assertSent(target, "DROP INDEX `old``index` IF EXISTS\n");
    assertSent(target, "MATCH ()-[r]->() CALL (r) { DELETE r } IN TRANSACTIONS OF 10000 ROWS\n"
                       "MATCH (n) CALL (n) { DETACH DELETE n } IN TRANSACTIONS OF 10000 ROWS\n");
    assertNotSent(target, "CYPHER 5");

    /* The graph: every node with its labels, the metadata node too. */
    assert_int_equal(target->nodeCount, 6);
    assert_true(targetHasNode(target, 1, ":`Person`"));
    assert_true(targetHasNode(target, 3, ":`Person`:`Admin`"));
    assert_true(targetHasNode(target, 4, ""));
    assert_true(targetHasNode(target, 5, ":`Person`"));
    assert_true(targetHasNode(target, 9, ":`BackupMetadata`"));
    assert_int_equal(target->relationshipCount, 3);
    assert_true(targetHasRelationship(target, 1, 2, "KNOWS"));
    assert_true(targetHasRelationship(target, 2, 5, "KNOWS"));
    assert_true(targetHasRelationship(target, 9, 1, "ABOUT"));
    assert_true(target->largestNodeBatch <= 2);
    assert_int_equal(result.nodes, 6);
    assert_int_equal(result.relationships, 3);
    assert_int_equal(result.orphanRelationships, 1);
    assert_int_equal(result.retries, 0);
    assert_false(result.dynamicLabels);
    assert_false(result.dynamicTypes);
    assert_true(result.batches >= 5);

    /* The schema: rebuilt from the fields, the target's LOOKUP kept. */
    assertSent(target, "CREATE CONSTRAINT `person_id`");
    assertSent(target, "CREATE RANGE INDEX `person_name` FOR (n:`Person`) ON (n.`name`)");
    assertNotSent(target, "LOOKUP INDEX");
    assert_int_equal(result.schemaItems, 3);
    assert_true(target->indexPolls >= 1);

    /* What the health checks get: the archive's own facts. */
    assert_int_equal(result.archive.nodes, 6);
    assert_int_equal(result.archive.metadataNodes, 1);
    assert_int_equal(result.archive.relationships, 4);
    assert_int_equal(result.archive.orphanRelationships, 1);
    assert_int_equal(result.archive.schemaCount, 3);
    assert_int_equal(countMapGet(&result.archive.counts.labels, "Person", 6), 4);
    assert_int_equal(countMapGet(&result.archive.counts.labels, "BackupMetadata", 14), 0);
    assert_int_equal(countMapGet(&result.archive.counts.types, "KNOWS", 5), 2);
    assert_int_equal(countMapGet(&result.archive.counts.types, "ABOUT", 5), 0);
    char expected[66];
    FingerprintCounts counts;
    assert_int_equal(healthFingerprintOfArchive(archive.path, expected, &counts), ERR_OK);
    assert_string_equal(result.archive.fingerprint, expected);

    /* Progress: every phase, the expected count passed on. */
    for (int phase = RESTORE_PHASE_WIPE; phase <= RESTORE_PHASE_DONE; phase++)
        assert_true(seen.sawPhase[phase]);
    assert_int_equal(seen.lastNodesDone, 6);
    assert_int_equal(seen.nodesExpected, 6);

    logicalRestoreResultFree(&result);
    targetFree(target);
    archiveRemove(&archive);
}

/* More label sets and types than there are groups: on 5.26 (AUTO) the
 * batches turn to dynamic tokens; a 2025.06 server also gets every
 * statement pinned to CYPHER 5. */
static void testManyTokenSetsTurnDynamic(void **state)
{
    (void)state;
    TestArchive archive;
    archiveBegin(&archive, "nbk-logical-1");
    archiveManyTokens(&archive, 140, 70, 70);
    archiveFinish(&archive);

    FakeTarget *target = targetNew();
    target->agent = "Neo4j/2025.06.0";
    LogicalRestoreRequest request = {.wipeTarget = true};
    LogicalRestoreResult result;
    ErrCode code = restoreInto(target, archive.path, &request, &result);
    if (code != ERR_OK)
        fail_msg("restore failed: %s: %s", errName(code), errLast()->reason);
    assert_true(result.dynamicLabels);
    assert_true(result.dynamicTypes);
    assert_int_equal(result.nodes, 140);
    assert_int_equal(result.relationships, 139);
    assertSent(target, "CYPHER 5 UNWIND $rows AS row CREATE (n:$(row[1])) SET n = row[2]");
    assertSent(target, "CYPHER 5 UNWIND $rows AS row MATCH (a) WHERE id(a) = row[0] MATCH (b) WHERE id(b) = "
                       "row[1] CREATE (a)-[r:$(row[2])]->(b)");
    assertSent(target, "CYPHER 5 MATCH ()-[r]->() CALL (r) { DELETE r }");
    /* Before the switch: static batches for the first 64 label sets. */
    assertSent(target, "CREATE (n:`L63`) SET n = row[1]");
    assert_true(targetHasNode(target, 0, ":`L0`"));
    assert_true(targetHasNode(target, 139, ":`L69`"));
    assert_true(targetHasRelationship(target, 0, 1, "T0"));
    assert_true(targetHasRelationship(target, 138, 139, "T68"));
    logicalRestoreResultFree(&result);
    targetFree(target);
    archiveRemove(&archive);
}

/* A 5.20 server has no dynamic tokens: all groups are sent and started
 * over, tokens stay static, and the wipe uses CALL { WITH ... }. */
static void testOldServerStaysStatic(void **state)
{
    (void)state;
    TestArchive archive;
    archiveBegin(&archive, "nbk-logical-1");
    archiveManyTokens(&archive, 140, 70, 70);
    archiveFinish(&archive);

    FakeTarget *target = targetNew();
    target->agent = "Neo4j/5.20.0";
    LogicalRestoreRequest request = {.wipeTarget = true};
    LogicalRestoreResult result;
    ErrCode code = restoreInto(target, archive.path, &request, &result);
    if (code != ERR_OK)
        fail_msg("restore failed: %s: %s", errName(code), errLast()->reason);
    assert_false(result.dynamicLabels);
    assert_false(result.dynamicTypes);
    assert_int_equal(result.nodes, 140);
    assert_int_equal(result.relationships, 139);
    assert_int_equal(target->relationshipCount, 139);
    assertNotSent(target, "$(row");
    assertSent(target, "MATCH ()-[r]->() CALL { WITH r DELETE r } IN TRANSACTIONS OF 10000 ROWS");
    assert_true(targetHasNode(target, 139, ":`L69`"));
    assert_true(targetHasRelationship(target, 138, 139, "T68"));
    logicalRestoreResultFree(&result);
    targetFree(target);
    archiveRemove(&archive);
}

/* Dynamic tokens when asked for, from the first batch. */
static void testDynamicTokensRequested(void **state)
{
    (void)state;
    TestArchive archive;
    archiveBegin(&archive, NULL); /* no header: an archive may lack one */
    archiveNode(&archive, 1, "A:B", "x");
    archiveNode(&archive, 2, "", "y");
    archiveRelationship(&archive, 3, 1, 2, "R`1");
    archiveFinish(&archive);

    FakeTarget *target = targetNew();
    LogicalRestoreRequest request = {.tokenMode = RESTORE_TOKENS_DYNAMIC};
    LogicalRestoreResult result;
    assert_int_equal(restoreInto(target, archive.path, &request, &result), ERR_OK);
    assert_true(result.dynamicLabels);
    assertNotSent(target, "CREATE (n:`");
    assertNotSent(target, "SHOW CONSTRAINTS"); /* no wipe asked for */
    assert_true(targetHasNode(target, 1, ":`A`:`B`"));
    assert_true(targetHasNode(target, 2, ""));
    assert_true(targetHasRelationship(target, 1, 2, "R`1"));
    logicalRestoreResultFree(&result);
    targetFree(target);
    archiveRemove(&archive);
}

/* A deadlock on a node batch and on a relationship batch: each is sent
 * again and the graph is complete. */
static void testTransientErrorsAreRetried(void **state)
{
    (void)state;
    TestArchive archive;
    archiveBegin(&archive, "nbk-logical-1");
    archiveManyTokens(&archive, 6, 1, 1);
    archiveFinish(&archive);

    FakeTarget *target = targetNew();
    target->faults[0] = (TargetFault){"CREATE (n", "Neo.TransientError.Transaction.DeadlockDetected", 1, 0, 0};
    target->faults[1] = (TargetFault){"MATCH (a)", "Neo.TransientError.Transaction.LockClientStopped", 1, 0, 0};
    LogicalRestoreRequest request = {0};
    LogicalRestoreResult result;
    ErrCode code = restoreInto(target, archive.path, &request, &result);
    if (code != ERR_OK)
        fail_msg("restore failed: %s: %s", errName(code), errLast()->reason);
    assert_int_equal(result.retries, 2);
    assert_int_equal(target->resets, 2);
    assert_int_equal(result.nodes, 6);
    assert_int_equal(target->nodeCount, 6);
    assert_int_equal(target->relationshipCount, 5);
    logicalRestoreResultFree(&result);
    targetFree(target);
    archiveRemove(&archive);
}

/* Batches over the server's transaction memory limit (here: more than two
 * rows) are halved until they fit, and later batches keep the smaller size. */
static void testMemoryLimitHalvesBatches(void **state)
{
    (void)state;
    TestArchive archive;
    archiveBegin(&archive, "nbk-logical-1");
    archiveManyTokens(&archive, 8, 1, 1);
    archiveFinish(&archive);

    FakeTarget *target = targetNew();
    target->faults[0] =
        (TargetFault){"CREATE (n", "Neo.TransientError.General.MemoryPoolOutOfMemoryError", UINT_MAX, 3, 0};
    LogicalRestoreRequest request = {.nodeBatchSize = 8};
    LogicalRestoreResult result;
    ErrCode code = restoreInto(target, archive.path, &request, &result);
    if (code != ERR_OK)
        fail_msg("restore failed: %s: %s", errName(code), errLast()->reason);
    assert_int_equal(result.memorySplits, 2); /* 8 -> 4, 4 -> 2 */
    assert_int_equal(target->largestNodeBatch, 2);
    assert_int_equal(target->nodeBatches, 4);
    assert_int_equal(result.nodes, 8);
    assert_int_equal(result.relationships, 7);
    assert_int_equal(result.retries, 0);
    logicalRestoreResultFree(&result);
    targetFree(target);
    archiveRemove(&archive);
}

static ErrCode restoreSmallGraph(FakeTarget *target, LogicalRestoreRequest *request)
{
    TestArchive archive;
    archiveBegin(&archive, "nbk-logical-1");
    archiveManyTokens(&archive, 4, 1, 1);
    archiveFinish(&archive);
    LogicalRestoreResult result;
    ErrCode code = restoreInto(target, archive.path, request, &result);
    ErrDetail detail = errSave();
    logicalRestoreResultFree(&result);
    archiveRemove(&archive);
    errRestore(&detail);
    return code;
}

/* A batch the server refuses for good fails the restore with its code. */
static void testRefusedBatchFails(void **state)
{
    (void)state;
    FakeTarget *target = targetNew();
    target->faults[0] = (TargetFault){"CREATE (n", "Neo.ClientError.Schema.ConstraintValidationFailed", 1, 0, 0};
    LogicalRestoreRequest request = {0};
    assert_int_equal(restoreSmallGraph(target, &request), RESTORE_FAILED);
    assert_non_null(strstr(errLast()->reason, "the target refused a batch of 4 nodes "
                                              "(Neo.ClientError.Schema.ConstraintValidationFailed)"));
    assert_non_null(strstr(errLast()->reason, "graph.nbk.zst")); /* the context names the archive */
    assert_int_equal(target->nodeBatches, 0);
    targetFree(target);
}

/* Transient errors past maxRetries fail the restore too. */
static void testRetriesRunOut(void **state)
{
    (void)state;
    FakeTarget *target = targetNew();
    target->faults[0] = (TargetFault){"MATCH (a)", "Neo.TransientError.Transaction.DeadlockDetected", UINT_MAX, 0, 0};
    LogicalRestoreRequest request = {.maxRetries = 1};
    assert_int_equal(restoreSmallGraph(target, &request), RESTORE_FAILED);
    assert_non_null(strstr(errLast()->reason, "batch of 3 relationships"));
    assert_int_equal(target->faults[0].used, 2); /* the first try and one retry */
    targetFree(target);
}

/* Answers that do not fit the batch: rows of the wrong shape, and fewer
 * relationships than sent (the nodes vanished from the target). */
static void testUnexpectedAnswersFail(void **state)
{
    (void)state;
    FakeTarget *target = targetNew();
    target->badNodeRows = true;
    LogicalRestoreRequest request = {0};
    assert_int_equal(restoreSmallGraph(target, &request), NEO4J_PROTOCOL_ERROR);
    assert_non_null(strstr(errLast()->reason, "node batch returned an unexpected row"));
    targetFree(target);

    target = targetNew();
    target->forgetNodes = true;
    LogicalRestoreRequest again = {0};
    assert_int_equal(restoreSmallGraph(target, &again), RESTORE_FAILED);
    assert_non_null(strstr(errLast()->reason, "a batch of 3 relationships created 0"));
    assert_non_null(strstr(errLast()->reason, "endpoint nodes missing"));
    targetFree(target);
}

/* A node key twice in the archive: it is corrupt. */
static void testDuplicateNodeKeyIsCorrupt(void **state)
{
    (void)state;
    TestArchive archive;
    archiveBegin(&archive, "nbk-logical-1");
    archiveNode(&archive, 1, "Person", "Ada");
    archiveNode(&archive, 1, "Person", "Ada again");
    archiveFinish(&archive);
    FakeTarget *target = targetNew();
    LogicalRestoreRequest request = {0};
    LogicalRestoreResult result;
    assert_int_equal(restoreInto(target, archive.path, &request, &result), BACKUP_CORRUPTED);
    assert_non_null(strstr(errLast()->reason, "node key 1 appears twice"));
    logicalRestoreResultFree(&result);
    targetFree(target);
    archiveRemove(&archive);
}

/* The cancel flag stops the restore at the next batch. */
static void testCancelStopsAtNextBatch(void **state)
{
    (void)state;
    TestArchive archive;
    archiveBegin(&archive, "nbk-logical-1");
    archiveManyTokens(&archive, 10, 1, 1);
    archiveFinish(&archive);
    FakeTarget *target = targetNew();
    volatile sig_atomic_t cancel = 0;
    ProgressSeen seen = {.cancelAfterNodes = &cancel};
    LogicalRestoreRequest request = {.nodeBatchSize = 2, .cancelFlag = &cancel, .progress = recordProgress,
                                     .progressPayload = &seen};
    LogicalRestoreResult result;
    assert_int_equal(restoreInto(target, archive.path, &request, &result), OPERATION_INTERRUPTED);
    assert_non_null(strstr(errLast()->reason, "interrupted"));
    assert_int_equal(target->nodeBatches, 1);
    assert_int_equal(result.nodes, 2);
    assert_int_equal(target->relationshipBatches, 0);
    logicalRestoreResultFree(&result);
    targetFree(target);
    archiveRemove(&archive);
}

/* Archives that cannot be restored are refused before the target is
 * touched: missing, of another format, a record that does not decode. */
static void testBadArchivesTouchNothing(void **state)
{
    (void)state;
    LogicalRestoreResult result;
    LogicalRestoreRequest empty = {0};
    assert_int_equal(logicalRestoreRun(&empty, &result), ERR_INTERNAL);

    FakeTarget *target = targetNew();
    LogicalRestoreRequest request = {.wipeTarget = true};
    assert_int_not_equal(restoreInto(target, "/nonexistent/graph.nbk.zst", &request, &result), ERR_OK);
    logicalRestoreResultFree(&result);
    assert_string_equal(target->queries, "");
    targetFree(target);

    TestArchive archive;
    archiveBegin(&archive, "nbk-physical-9");
    archiveNode(&archive, 1, "Person", "Ada");
    archiveFinish(&archive);
    target = targetNew();
    LogicalRestoreRequest other = {.wipeTarget = true};
    assert_int_equal(restoreInto(target, archive.path, &other, &result), BACKUP_CORRUPTED);
    assert_non_null(strstr(errLast()->reason, "archive format 'nbk-physical-9'"));
    logicalRestoreResultFree(&result);
    assert_string_equal(target->queries, "");
    targetFree(target);
    archiveRemove(&archive);

    /* A node record that is not PackStream: found after the wipe, while
     * reading; nothing of it is sent. */
    archiveBegin(&archive, "nbk-logical-1");
    static const uint8_t garbage[] = {0xC1, 0x00};
    assert_int_equal(arcWriterAdd(archive.writer, ARC_RECORD_NODE, garbage, 1), ERR_OK);
    archiveFinish(&archive);
    target = targetNew();
    LogicalRestoreRequest garbled = {0};
    assert_int_equal(restoreInto(target, archive.path, &garbled, &result), BACKUP_CORRUPTED);
    assert_non_null(strstr(errLast()->reason, "a node record does not decode"));
    logicalRestoreResultFree(&result);
    assert_int_equal(target->nodeBatches, 0);
    targetFree(target);
    archiveRemove(&archive);
}

/* The wipe on its own: the memory limit makes the inner transactions ten
 * times smaller, a transient error runs the statement again, and anything
 * else stops it, saying where. */
static void testWipeRetriesAndFailures(void **state)
{
    (void)state;
    FakeTarget *target = targetNew();
    target->faults[0] =
        (TargetFault){"DELETE r", "Neo.TransientError.General.TransactionMemoryLimit", 1, 0, 0};
    target->faults[1] = (TargetFault){"DETACH DELETE n", "Neo.TransientError.Database.DatabaseUnavailable", 1, 0, 0};
    BoltConnection *connection = targetConnect(target);
    assert_int_equal(restoreWipeTarget(connection, "neo4j"), ERR_OK);
    targetFinish(target, connection);
    assertSent(target, "MATCH ()-[r]->() CALL (r) { DELETE r } IN TRANSACTIONS OF 10000 ROWS\n"
                       "MATCH ()-[r]->() CALL (r) { DELETE r } IN TRANSACTIONS OF 1000 ROWS\n"
                       "MATCH (n) CALL (n) { DETACH DELETE n } IN TRANSACTIONS OF 1000 ROWS\n"
                       "MATCH (n) CALL (n) { DETACH DELETE n } IN TRANSACTIONS OF 1000 ROWS\n");
    targetFree(target);

    target = targetNew();
    target->faults[0] = (TargetFault){"DROP CONSTRAINT", "Neo.ClientError.Security.Forbidden", 1, 0, 0};
    target->constraints[0] = "c";
    connection = targetConnect(target);
    assert_int_equal(restoreWipeTarget(connection, "neo4j"), NEO4J_QUERY_FAILED);
    targetFinish(target, connection);
    assert_non_null(strstr(errLast()->reason, "while emptying the target database"));
    assertNotSent(target, "DELETE");
    targetFree(target);
}

/* Schema statements: one already there is fine, a transient refusal is
 * retried, any other refusal fails the restore naming the statement. */
static ErrCode restoreSchemaOnly(FakeTarget *target, uint64_t *created)
{
    TestArchive archive;
    archiveBegin(&archive, "nbk-logical-1");
    archiveSchema(&archive, "constraint", "person_id", "UNIQUENESS", "NODE", "Person", "id");
    archiveSchema(&archive, "index", "person_name", "TEXT", "NODE", "Person", "name");
    archiveSchema(&archive, "index", "rel_lookup", "LOOKUP", "RELATIONSHIP", NULL, NULL);
    archiveFinish(&archive);
    ArchiveContent content;
    assert_int_equal(healthArchiveContentRead(archive.path, &content), ERR_OK);
    BoltConnection *connection = targetConnect(target);
    ErrCode code = logicalRestoreSchema(connection, "neo4j", &content, 1, created);
    targetFinish(target, connection);
    ErrDetail detail = errSave();
    arcContentFree(&content);
    archiveRemove(&archive);
    errRestore(&detail);
    return code;
}

static void testSchemaStatements(void **state)
{
    (void)state;
    FakeTarget *target = targetNew();
    target->lookups[0] = "NODE"; /* no relationship LOOKUP: it is created */
    target->faults[0] = (TargetFault){"CREATE CONSTRAINT", "Neo.ClientError.Schema.EquivalentSchemaRuleAlreadyExists",
                                      1, 0, 0};
    target->faults[1] = (TargetFault){"CREATE TEXT INDEX", "Neo.TransientError.Transaction.DeadlockDetected", 1, 0, 0};
    uint64_t created = 0;
    ErrCode code = restoreSchemaOnly(target, &created);
    if (code != ERR_OK)
        fail_msg("schema failed: %s: %s", errName(code), errLast()->reason);
    assert_int_equal(created, 3);
    assert_int_equal(target->faults[1].used, 1);
    assertSent(target, "CREATE LOOKUP INDEX `rel_lookup` FOR ()-[r]-() ON EACH type(r)");
    targetFree(target);

    target = targetNew();
    target->faults[0] = (TargetFault){"CREATE TEXT INDEX", "Neo.ClientError.Statement.SyntaxError", 1, 0, 0};
    code = restoreSchemaOnly(target, &created);
    assert_int_equal(code, RESTORE_FAILED);
    assert_non_null(strstr(errLast()->reason, "the target refused CREATE TEXT INDEX `person_name`"));
    targetFree(target);
}

/* Indexes still populating are waited for; one that never comes online
 * within the wait fails the restore, naming it. */
static void testIndexesAreAwaited(void **state)
{
    (void)state;
    FakeTarget *target = targetNew();
    target->polledIndex = "person_name";
    target->populatingPolls = 2;
    uint64_t created = 0;
    assert_int_equal(restoreSchemaOnly(target, &created), ERR_OK);
    assert_int_equal(target->indexPolls, 3);
    targetFree(target);

    target = targetNew();
    target->polledIndex = "person_name";
    target->populatingPolls = UINT_MAX;
    assert_int_equal(restoreSchemaOnly(target, &created), RESTORE_FAILED);
    assert_non_null(strstr(errLast()->reason, "index `person_name` (POPULATING) did not come online within 1 s"));
    targetFree(target);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(testRestoresGraphAndSchema),
        cmocka_unit_test(testManyTokenSetsTurnDynamic),
        cmocka_unit_test(testOldServerStaysStatic),
        cmocka_unit_test(testDynamicTokensRequested),
        cmocka_unit_test(testTransientErrorsAreRetried),
        cmocka_unit_test(testMemoryLimitHalvesBatches),
        cmocka_unit_test(testRefusedBatchFails),
        cmocka_unit_test(testRetriesRunOut),
        cmocka_unit_test(testUnexpectedAnswersFail),
        cmocka_unit_test(testDuplicateNodeKeyIsCorrupt),
        cmocka_unit_test(testCancelStopsAtNextBatch),
        cmocka_unit_test(testBadArchivesTouchNothing),
        cmocka_unit_test(testWipeRetriesAndFailures),
        cmocka_unit_test(testSchemaStatements),
        cmocka_unit_test(testIndexesAreAwaited),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
