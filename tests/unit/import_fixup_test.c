/* The import load's fix-ups (src/restore/import_fixup.c): after neo4j-admin
 * has built the store, the records CSV could not carry exactly get their
 * labels, type and properties over Bolt. The CSV files and fix-up files are
 * written by importCsvWrite from a real archive; the started target is a
 * fake Bolt server (over fake_bolt.h's FakeWire) that finds the marked
 * records and records every statement and its parameters. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "archive/archive.h"
#include "bolt/connection.h"
#include "bolt/transport.h"
#include "restore/import_csv.h"

#include "fake_bolt.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#define MARKED_ID_BASE 500 /* new id of the record with marker value i: 500 + i */

typedef struct {
    FakeWire wire;
    pthread_t thread;
    const char *agent;        /* NULL: Neo4j/5.26.0 */
    uint64_t markedNodes;     /* marked records the import holds */
    uint64_t markedRelationships;
    bool duplicateMarker;     /* answer marker 0 twice */
    const char *refuse;       /* a RUN containing this fails (ClientError) */

    char queries[8192];       /* every RUN, one per line */
    unsigned propertyRows;    /* rows of the UNWIND ... SET x = row[1] batches */
    int64_t firstRowId;       /* row[0] of the first such row */
    char firstRowName[64];    /* row[1].name of it */
    int64_t lastIdParam;      /* $id of the last per-record statement */
    char retypedSince[32];    /* $properties.since of the retype, as text */
} FixupTarget;

static void fixupTargetLog(FixupTarget *target, const char *query)
{
    size_t used = strlen(target->queries);
    snprintf(target->queries + used, sizeof(target->queries) - used, "%s\n", query);
}

static void fixupTargetRun(FixupTarget *target, const char *query, const BoltValue *params, BoltValue *rows,
                           unsigned *rowCount)
{
    *rowCount = 0;
    fixupTargetLog(target, query);
    Arena *arena = target->wire.arena;
    if (strstr(query, "IS NOT NULL RETURN")) {
        static const char *const fields[] = {"marker", "id(x)"};
        fakeWireSuccess(&target->wire, "fields", fakeWireStrings(arena, 2, fields));
        uint64_t count = strstr(query, "()-[x]->()") ? target->markedRelationships : target->markedNodes;
        for (uint64_t ordinal = 0; ordinal < count && *rowCount < 8; ordinal++) {
            BoltValue cells[2] = {boltInt((int64_t)ordinal), boltInt(MARKED_ID_BASE + (int64_t)ordinal)};
            rows[(*rowCount)++] = fakeWireRow(arena, 2, cells);
        }
        if (target->duplicateMarker && *rowCount > 0)
            rows[(*rowCount)++] = rows[0];
        return;
    }
    const BoltValue *rowsParam = params ? boltMapGet(params, "rows") : NULL;
    if (rowsParam && rowsParam->type == BOLT_LIST) {
        if (target->propertyRows == 0 && rowsParam->as.list.count > 0) {
            const BoltValue *first = &rowsParam->as.list.items[0];
            target->firstRowId = first->as.list.items[0].as.integer;
            snprintf(target->firstRowName, sizeof(target->firstRowName), "%s",
                     boltMapGetString(&first->as.list.items[1], "name", "(none)"));
        }
        target->propertyRows += rowsParam->as.list.count;
    }
    const BoltValue *id = params ? boltMapGet(params, "id") : NULL;
    if (id && id->type == BOLT_INT)
        target->lastIdParam = id->as.integer;
    const BoltValue *properties = params ? boltMapGet(params, "properties") : NULL;
    if (properties && properties->type == BOLT_MAP) {
        const BoltValue *since = boltMapGet(properties, "since");
        if (since && since->type == BOLT_INT)
            snprintf(target->retypedSince, sizeof(target->retypedSince), "%lld", (long long)since->as.integer);
    }
    fakeWireSuccess(&target->wire, "fields", boltList(arena, 0));
}

static void *fixupTargetThread(void *argument)
{
    FixupTarget *target = argument;
    if (!fakeWireHandshake(&target->wire))
        return NULL;
    BoltValue rows[16];
    unsigned rowCount = 0;
    bool failed = false;
    BoltValue request;
    while (fakeWireRead(&target->wire, &request)) {
        uint8_t tag = request.as.structure.tag;
        if (tag == BOLT_MSG_GOODBYE)
            return NULL;
        if (tag == BOLT_MSG_RESET) {
            failed = false;
            fakeWireSuccess(&target->wire, NULL, boltNull());
        } else if (failed) {
            fakeWireSend(&target->wire, BOLT_MSG_IGNORED, NULL);
        } else if (tag == BOLT_MSG_HELLO) {
            fakeWireSuccess(&target->wire, "server",
                            boltString(target->wire.arena, target->agent ? target->agent : "Neo4j/5.26.0"));
        } else if (tag == BOLT_MSG_RUN) {
            const char *query = request.as.structure.fields[0].as.string.data;
            const BoltValue *params = request.as.structure.count > 1 ? &request.as.structure.fields[1] : NULL;
            if (target->refuse && strstr(query, target->refuse)) {
                fixupTargetLog(target, query);
                fakeWireFailure(&target->wire, "Neo.ClientError.Statement.SemanticError", "refused on purpose");
                failed = true;
            } else {
                fixupTargetRun(target, query, params, rows, &rowCount);
            }
        } else if (tag == BOLT_MSG_PULL) {
            for (unsigned index = 0; index < rowCount; index++)
                fakeWireSend(&target->wire, BOLT_MSG_RECORD, &rows[index]);
            rowCount = 0;
            fakeWireSuccess(&target->wire, "has_more", boltBool(false));
        } else { /* LOGON, DISCARD */
            rowCount = 0;
            fakeWireSuccess(&target->wire, NULL, boltNull());
        }
    }
    return NULL;
}

/* Applies csv's fix-ups to target; the target's failure fails the test. */
static ErrCode applyFixups(FixupTarget *target, const ImportCsv *csv)
{
    fakeWireInit(&target->wire);
    int ends[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, ends), 0);
    target->wire.fd = ends[1];
    assert_int_equal(pthread_create(&target->thread, NULL, fixupTargetThread, target), 0);
    BoltConnectOptions options = {.uri = "bolt://target:7687", .user = "neo4j", .password = "pw"};
    BoltConnection *connection = NULL;
    assert_int_equal(boltConnectTransport(&options, boltTransportFromFd(ends[0], "target:7687"), &connection),
                     ERR_OK);
    ErrCode code = importCsvApplyFixups(connection, "neo4j", csv);
    ErrDetail detail = errSave();
    boltClose(connection);
    pthread_join(target->thread, NULL);
    close(target->wire.fd);
    if (target->wire.failure[0])
        fail_msg("fake target: %s", target->wire.failure);
    fakeWireFree(&target->wire);
    errRestore(&detail);
    return code;
}

/* ---- the archive and its CSV ------------------------------------------------ */

typedef struct {
    char directory[64];
    char archivePath[128];
    char csvDirectory[128];
    ImportCsv csv;
} Fixture;

static BoltValue nodeRecord(Arena *arena, int64_t key, const char *label, const char *name)
{
    BoltValue cells[3] = {boltInt(key), boltList(arena, 1), boltMap(arena, 1)};
    cells[1].as.list.items[0] = boltString(arena, label);
    boltMapSet(arena, &cells[2], 0, "name", boltString(arena, name));
    return fakeWireRow(arena, 3, cells);
}

static BoltValue relationshipRecord(Arena *arena, int64_t key, int64_t start, int64_t end, const char *type)
{
    BoltValue cells[5] = {boltInt(key), boltInt(start), boltInt(end), boltString(arena, type), boltMap(arena, 1)};
    boltMapSet(arena, &cells[4], 0, "since", boltInt(1999));
    return fakeWireRow(arena, 5, cells);
}

/* Node 1 plain; node 2 with a line break in a property and node 3 with the
 * array delimiter in its label (fix-ups 0 and 1); relationship 1->2 plain,
 * 2->3 of a type with a line break (a relationship fix-up). */
static void fixtureMake(Fixture *fixture)
{
    snprintf(fixture->directory, sizeof(fixture->directory), "/tmp/import_fixup_test_XXXXXX");
    assert_non_null(mkdtemp(fixture->directory));
    snprintf(fixture->archivePath, sizeof(fixture->archivePath), "%s/graph.nbk.zst", fixture->directory);
    snprintf(fixture->csvDirectory, sizeof(fixture->csvDirectory), "%s/csv", fixture->directory);
    assert_int_equal(mkdir(fixture->csvDirectory, 0700), 0);

    Arena *arena = arenaNew(0);
    ArcWriter *writer = NULL;
    assert_int_equal(arcWriterOpen(&writer, fixture->archivePath, ARC_COMPRESSION_ZSTD, 3, 0, NULL, 0), ERR_OK);
    BoltValue records[5] = {
        nodeRecord(arena, 1, "Person", "Ada"),
        nodeRecord(arena, 2, "Person", "two\nlines"),
        nodeRecord(arena, 3, "Odd\x1fLabel", "Cy"),
        relationshipRecord(arena, 10, 1, 2, "KNOWS"),
        relationshipRecord(arena, 11, 2, 3, "LINE\nBREAK"),
    };
    Buffer packed;
    bufferInit(&packed);
    for (int index = 0; index < 5; index++) {
        bufferClear(&packed);
        packValue(&packed, &records[index]);
        assert_int_equal(arcWriterAdd(writer, index < 3 ? ARC_RECORD_NODE : ARC_RECORD_RELATIONSHIP, packed.data,
                                      packed.length),
                         ERR_OK);
    }
    ArcTotals totals;
    assert_int_equal(arcWriterFinish(writer, &totals), ERR_OK);
    arcWriterFree(writer);
    bufferFree(&packed);
    arenaFree(arena);

    ImportCsvRequest request = {.archive = {.path = fixture->archivePath}, .directory = fixture->csvDirectory};
    ErrCode code = importCsvWrite(&request, &fixture->csv);
    if (code != ERR_OK)
        fail_msg("importCsvWrite: %s", errLast()->reason);
    assert_int_equal(fixture->csv.fixupNodes, 2);
    assert_int_equal(fixture->csv.fixupRelationships, 1);
}

static void fixtureRemove(Fixture *fixture)
{
    const char *files[] = {fixture->csv.nodeHeader, fixture->csv.nodeData, fixture->csv.relationshipHeader,
                           fixture->csv.relationshipData, fixture->csv.nodeFixups, fixture->csv.relationshipFixups};
    for (int index = 0; index < 6; index++)
        if (files[index][0])
            unlink(files[index]);
    importCsvFree(&fixture->csv);
    assert_int_equal(rmdir(fixture->csvDirectory), 0);
    unlink(fixture->archivePath);
    assert_int_equal(rmdir(fixture->directory), 0);
}

/* ---- tests ------------------------------------------------------------------- */

/* Labels, properties and the type come back exactly, by the new ids the
 * markers lead to; a 2025.06 target gets every statement as CYPHER 5. */
static void testFixupsRestoreWhatCsvCannotCarry(void **state)
{
    (void)state;
    Fixture fixture;
    fixtureMake(&fixture);
    FixupTarget target = {.agent = "Neo4j/2025.06.0", .markedNodes = 2, .markedRelationships = 1};
    ErrCode code = applyFixups(&target, &fixture.csv);
    if (code != ERR_OK)
        fail_msg("fix-ups failed: %s: %s", errName(code), errLast()->reason);

    char expected[256];
    snprintf(expected, sizeof(expected), "CYPHER 5 MATCH (x) WHERE x.%s IS NOT NULL RETURN x.%s, id(x)\n",
             fixture.csv.marker, fixture.csv.marker);
    assert_non_null(strstr(target.queries, expected));
    /* Node fix-up 1 (node 3): its label, set by its new id. */
    assert_non_null(strstr(target.queries, "CYPHER 5 MATCH (x) WHERE id(x) = $id SET x:`Odd\x1fLabel`\n"));
    /* Both nodes' properties in one batch, the first by its new id. */
    assert_non_null(strstr(target.queries, "CYPHER 5 UNWIND $rows AS row MATCH (x) WHERE id(x) = row[0] SET x = "
                                           "row[1]\n"));
    assert_int_equal(target.propertyRows, 2);
    assert_int_equal(target.firstRowId, MARKED_ID_BASE);
    assert_string_equal(target.firstRowName, "two\nlines");
    /* The relationship: recreated with its own type and properties. */
    assert_non_null(strstr(target.queries, "CYPHER 5 MATCH (a)-[x]->(b) WHERE id(x) = $id CREATE "
                                           "(a)-[y:`LINE\nBREAK`]->(b) SET y = $properties DELETE x\n"));
    assert_int_equal(target.lastIdParam, MARKED_ID_BASE);
    assert_string_equal(target.retypedSince, "1999");
    fixtureRemove(&fixture);
}

/* The import must hold exactly the marked records: fewer, or a marker seen
 * twice, fails; so does a statement the target refuses. */
static void testMarkersMustMatchAndRefusalsFail(void **state)
{
    (void)state;
    Fixture fixture;
    fixtureMake(&fixture);

    FixupTarget missing = {.markedNodes = 1};
    assert_int_equal(applyFixups(&missing, &fixture.csv), RESTORE_FAILED);
    assert_non_null(strstr(errLast()->reason, "holds 1 of the 2 nodes marked for fix-ups"));
    assert_null(strstr(missing.queries, "UNWIND")); /* nothing was changed */

    FixupTarget twice = {.markedNodes = 2, .duplicateMarker = true};
    assert_int_equal(applyFixups(&twice, &fixture.csv), RESTORE_FAILED);
    assert_non_null(strstr(errLast()->reason, "unexpected fix-up marker"));

    FixupTarget refusing = {.markedNodes = 2, .markedRelationships = 1, .refuse = "CREATE (a)-[y:"};
    assert_int_equal(applyFixups(&refusing, &fixture.csv), RESTORE_FAILED);
    assert_non_null(strstr(errLast()->reason, "the target refused a fix-up after the import"));
    assert_int_equal(refusing.propertyRows, 2); /* the nodes were done first */
    fixtureRemove(&fixture);
}

/* A fix-up file cut short is reported, not read past its end. */
static void testTruncatedFixupFileFails(void **state)
{
    (void)state;
    Fixture fixture;
    fixtureMake(&fixture);
    FILE *file = fopen(fixture.csv.nodeFixups, "r+b");
    assert_non_null(file);
    assert_int_equal(fseek(file, 0, SEEK_END), 0);
    long size = ftell(file);
    fclose(file);
    assert_int_equal(truncate(fixture.csv.nodeFixups, size - 3), 0);
    FixupTarget target = {.markedNodes = 2};
    assert_int_equal(applyFixups(&target, &fixture.csv), RESTORE_FAILED);
    assert_non_null(strstr(errLast()->reason, "ends early"));

    unlink(fixture.csv.nodeFixups);
    FixupTarget again = {.markedNodes = 2};
    assert_int_equal(applyFixups(&again, &fixture.csv), RESTORE_FAILED);
    assert_non_null(strstr(errLast()->reason, "cannot open the fix-up file"));
    fixtureRemove(&fixture);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(testFixupsRestoreWhatCsvCannotCarry),
        cmocka_unit_test(testMarkersMustMatchAndRefusalsFail),
        cmocka_unit_test(testTruncatedFixupFileFails),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
