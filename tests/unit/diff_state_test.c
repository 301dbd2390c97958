/* The parent state of a differential (backup/diff_state.h): a full and a
 * differential written with the archive writer, read merged into the
 * tables; unchanged, changed and new records told apart by their hash;
 * parent keys the scan never met reported as deleted, in key order; the
 * schema compared by name and statement only; a hostile key refused; and
 * tables past the spill threshold giving the same answers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "archive/archive.h"
#include "archive/chain.h"
#include "backup/diff_state.h"
#include "bolt/packstream.h"
#include "bolt/value.h"
#include "common/buffer.h"
#include "common/spill_array.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char testDir[] = "/tmp/nbk-diff-state-XXXXXX";

static int setupDir(void **state)
{
    (void)state;
    return mkdtemp(testDir) ? 0 : -1;
}

static int removeDir(void **state)
{
    (void)state;
    char command[300];
    snprintf(command, sizeof(command), "rm -rf '%s'", testDir);
    return system(command) == 0 ? 0 : -1;
}

static void packNode(Buffer *out, int64_t key, int64_t version)
{
    Arena *arena = arenaNew(0);
    BoltValue list = boltList(arena, 3);
    list.as.list.items[0] = boltInt(key);
    list.as.list.items[1] = boltList(arena, 0);
    BoltValue props = boltMap(arena, 1);
    boltMapSet(arena, &props, 0, "v", boltInt(version));
    list.as.list.items[2] = props;
    bufferClear(out);
    packValue(out, &list);
    arenaFree(arena);
}

static void packRel(Buffer *out, int64_t key, int64_t start, int64_t end)
{
    Arena *arena = arenaNew(0);
    BoltValue list = boltList(arena, 5);
    list.as.list.items[0] = boltInt(key);
    list.as.list.items[1] = boltInt(start);
    list.as.list.items[2] = boltInt(end);
    list.as.list.items[3] = boltString(arena, "T");
    list.as.list.items[4] = boltMap(arena, 0);
    bufferClear(out);
    packValue(out, &list);
    arenaFree(arena);
}

static void packSchema(Buffer *out, const char *name, const char *statement, const char *stateText)
{
    Arena *arena = arenaNew(0);
    BoltValue map = boltMap(arena, 3);
    boltMapSet(arena, &map, 0, "name", boltString(arena, name));
    boltMapSet(arena, &map, 1, "createStatement", boltString(arena, statement));
    boltMapSet(arena, &map, 2, "state", boltString(arena, stateText));
    bufferClear(out);
    packValue(out, &map);
    arenaFree(arena);
}

static void packHeader(Buffer *out, const char *format)
{
    Arena *arena = arenaNew(0);
    BoltValue map = boltMap(arena, 1);
    boltMapSet(arena, &map, 0, "format", boltString(arena, format));
    bufferClear(out);
    packValue(out, &map);
    arenaFree(arena);
}

/* The parent: a full of nodes 0..nodes-1 (version 1) and relationships
 * k: k -> k+1, then a differential that changes node 1 (version 2),
 * deletes node 2 with relationships 1 and 2, and adds node `nodes`. */
static void writeParent(ArcChainLink links[2], char paths[2][256], uint64_t nodes, int64_t hostileKey)
{
    Buffer header, record;
    bufferInit(&header);
    bufferInit(&record);
    for (int link = 0; link < 2; link++) {
        snprintf(paths[link], 256, "%s/link%d-%llu.nbk", testDir, link, (unsigned long long)nodes);
        unlink(paths[link]);
        packHeader(&header, link == 0 ? ARC_FORMAT_FULL : ARC_FORMAT_DIFF);
        ArcWriter *writer = NULL;
        assert_int_equal(arcWriterOpen(&writer, paths[link], ARC_COMPRESSION_ZSTD, 0, 0, header.data, header.length),
                         ERR_OK);
        packSchema(&record, "idx", "CREATE INDEX idx", link == 0 ? "POPULATING" : "ONLINE");
        assert_int_equal(arcWriterAdd(writer, ARC_RECORD_SCHEMA, record.data, record.length), ERR_OK);
        if (link == 0) {
            for (uint64_t key = 0; key < nodes; key++) {
                packNode(&record, (int64_t)key, 1);
                assert_int_equal(arcWriterAdd(writer, ARC_RECORD_NODE, record.data, record.length), ERR_OK);
            }
            for (uint64_t key = 0; key + 1 < nodes; key++) {
                packRel(&record, (int64_t)key, (int64_t)key, (int64_t)key + 1);
                assert_int_equal(arcWriterAdd(writer, ARC_RECORD_RELATIONSHIP, record.data, record.length), ERR_OK);
            }
            if (hostileKey) {
                packNode(&record, hostileKey, 1);
                assert_int_equal(arcWriterAdd(writer, ARC_RECORD_NODE, record.data, record.length), ERR_OK);
            }
        } else {
            packNode(&record, 1, 2);
            assert_int_equal(arcWriterAdd(writer, ARC_RECORD_NODE, record.data, record.length), ERR_OK);
            packNode(&record, (int64_t)nodes, 1);
            assert_int_equal(arcWriterAdd(writer, ARC_RECORD_NODE, record.data, record.length), ERR_OK);
            const struct {
                ArcRecordKind kind;
                int64_t key;
            } deletions[] = {{ARC_RECORD_NODE, 2}, {ARC_RECORD_RELATIONSHIP, 1}, {ARC_RECORD_RELATIONSHIP, 2}};
            for (size_t index = 0; index < 3; index++) {
                bufferClear(&record);
                arcDeletionPack(&record, deletions[index].kind, deletions[index].key);
                assert_int_equal(arcWriterAdd(writer, ARC_RECORD_DELETION, record.data, record.length), ERR_OK);
            }
        }
        ArcTotals totals;
        assert_int_equal(arcWriterFinish(writer, &totals), ERR_OK);
        arcWriterFree(writer);
        links[link] = (ArcChainLink){.location = {.path = paths[link]}, .sha256 = NULL};
    }
    bufferFree(&header);
    bufferFree(&record);
}

typedef struct {
    int64_t keys[64];
    ArcRecordKind kinds[64];
    size_t count;  /* kept in keys (the first 64) */
    uint64_t total;
} Deleted;

static ErrCode collectDeleted(ArcRecordKind kind, int64_t key, void *payload)
{
    Deleted *deleted = payload;
    deleted->total++;
    if (deleted->count < 64) {
        deleted->keys[deleted->count] = key;
        deleted->kinds[deleted->count++] = kind;
    }
    return ERR_OK;
}

static bool meet(DiffState *state, ArcRecordKind kind, const Buffer *record, int64_t key)
{
    bool unchanged = false;
    assert_int_equal(diffStateMeet(state, kind, key, diffRecordHash(record->data, record->length), &unchanged),
                     ERR_OK);
    return unchanged;
}

static void checkState(uint64_t nodes)
{
    ArcChainLink links[2];
    char paths[2][256];
    writeParent(links, paths, nodes, 0);
    DiffState *state = NULL;
    assert_int_equal(diffStateLoad(&state, links, 2, NULL), ERR_OK);
    assert_int_equal(diffStateParentCount(state, ARC_RECORD_NODE), nodes); /* one deleted, one added */
    assert_int_equal(diffStateParentCount(state, ARC_RECORD_RELATIONSHIP), nodes - 3);

    Buffer record;
    bufferInit(&record);
    packNode(&record, 0, 1);
    assert_true(meet(state, ARC_RECORD_NODE, &record, 0));  /* unchanged since the full */
    packNode(&record, 1, 2);
    assert_true(meet(state, ARC_RECORD_NODE, &record, 1));  /* unchanged since the differential */
    packNode(&record, 3, 9);
    assert_false(meet(state, ARC_RECORD_NODE, &record, 3)); /* changed now */
    packNode(&record, 2, 1);
    assert_false(meet(state, ARC_RECORD_NODE, &record, 2)); /* key 2 reused: new */
    packNode(&record, (int64_t)nodes + 5, 1);
    assert_false(meet(state, ARC_RECORD_NODE, &record, (int64_t)nodes + 5)); /* beyond the table */
    packRel(&record, 0, 0, 1);
    assert_true(meet(state, ARC_RECORD_RELATIONSHIP, &record, 0));
    packRel(&record, 3, 3, 2);
    assert_false(meet(state, ARC_RECORD_RELATIONSHIP, &record, 3)); /* another endpoint: changed */

    /* Everything else of the parent was not met: deleted, in key order. */
    Deleted deleted = {0};
    assert_int_equal(diffStateForEachDeleted(state, ARC_RECORD_NODE, collectDeleted, &deleted), ERR_OK);
    /* Parent keys 0..nodes without 2, met: 0, 1, 3. */
    assert_int_equal(deleted.total, nodes - 3);
    assert_int_equal(deleted.keys[0], 4);
    if (nodes <= 64)
        assert_int_equal(deleted.keys[deleted.count - 1], (int64_t)nodes);
    Deleted deletedRels = {0};
    assert_int_equal(diffStateForEachDeleted(state, ARC_RECORD_RELATIONSHIP, collectDeleted, &deletedRels), ERR_OK);
    assert_int_equal(deletedRels.total, nodes - 5); /* 0 and 3 met; 1 and 2 were deleted before */
    assert_int_equal(deletedRels.keys[0], 4);

    /* Schema: the index finished populating, same name and statement. */
    Buffer schema;
    bufferInit(&schema);
    packSchema(&schema, "idx", "CREATE INDEX idx", "ONLINE");
    uint64_t hashes[2] = {diffSchemaItemHash(schema.data, schema.length), 0};
    assert_true(diffStateSchemaEquals(state, hashes, 1));
    packSchema(&schema, "idx2", "CREATE INDEX idx2", "ONLINE");
    hashes[1] = diffSchemaItemHash(schema.data, schema.length);
    assert_false(diffStateSchemaEquals(state, hashes, 2));
    assert_false(diffStateSchemaEquals(state, hashes + 1, 1));
    bufferFree(&schema);
    bufferFree(&record);
    diffStateFree(state);
}

static void testSmallState(void **state)
{
    (void)state;
    checkState(40);
}

/* Past the spill threshold (set low here), the tables live in scratch files. */
static void testSpilledState(void **state)
{
    (void)state;
    spillConfigure(testDir, 4096, 8192);
    checkState(20000);
    spillConfigure(NULL, 0, 0);
}

static void testHostileKeyRefused(void **state)
{
    (void)state;
    ArcChainLink links[2];
    char paths[2][256];
    writeParent(links, paths, 10, (int64_t)1 << 50);
    DiffState *diff = NULL;
    assert_int_equal(diffStateLoad(&diff, links, 2, NULL), BACKUP_CORRUPTED);
    assert_non_null(strstr(errLast()->reason, "outside 0 to 2^40"));
    assert_null(diff);
}

static void testCancelled(void **state)
{
    (void)state;
    ArcChainLink links[2];
    char paths[2][256];
    writeParent(links, paths, 10, 0);
    volatile sig_atomic_t cancel = 1;
    DiffState *diff = NULL;
    assert_int_equal(diffStateLoad(&diff, links, 2, &cancel), OPERATION_INTERRUPTED);
    assert_null(diff);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(testSmallState),
        cmocka_unit_test(testSpilledState),
        cmocka_unit_test(testHostileKeyRefused),
        cmocka_unit_test(testCancelled),
    };
    return cmocka_run_group_tests(tests, setupDir, removeDir);
}
