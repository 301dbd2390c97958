/* The fingerprint computed on a worker thread (graph/fingerprint_feed.h):
 * the same value as added directly, across many batches; a worker's error
 * (an orphan relationship) comes back from the finish; freeing a feed that
 * still has records queued stops its worker cleanly. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "bolt/packstream.h"
#include "bolt/value.h"
#include "common/buffer.h"
#include "graph/fingerprint.h"
#include "graph/fingerprint_feed.h"

#include <string.h>

/* Node i: [i, ["L"], {v: i, s: "text..."}]; relationship i: [i, i, i+1, "T", {w: i}]. */
static void packNode(Arena *arena, Buffer *out, BoltValue *row, int64_t key)
{
    *row = boltList(arena, 3);
    row->as.list.items[0] = boltInt(key);
    row->as.list.items[1] = boltList(arena, 1);
    row->as.list.items[1].as.list.items[0] = boltString(arena, "L");
    BoltValue props = boltMap(arena, 2);
    boltMapSet(arena, &props, 0, "v", boltInt(key));
    boltMapSet(arena, &props, 1, "s", boltString(arena, "some text to make the batches fill"));
    row->as.list.items[2] = props;
    bufferClear(out);
    packValue(out, row);
}

static void packRel(Arena *arena, Buffer *out, BoltValue *row, int64_t key, int64_t end)
{
    *row = boltList(arena, 5);
    row->as.list.items[0] = boltInt(key);
    row->as.list.items[1] = boltInt(key);
    row->as.list.items[2] = boltInt(end);
    row->as.list.items[3] = boltString(arena, "T");
    BoltValue props = boltMap(arena, 1);
    boltMapSet(arena, &props, 0, "w", boltInt(key));
    row->as.list.items[4] = props;
    bufferClear(out);
    packValue(out, row);
}

static void testSameAsDirect(void **state)
{
    (void)state;
    const int64_t count = 60000; /* several 1 MiB batches */
    Fingerprint *direct = fingerprintNew();
    Fingerprint *fed = fingerprintNew();
    FingerprintFeed *feed = NULL;
    assert_int_equal(fingerprintFeedStart(&feed, fed), ERR_OK);
    Arena *arena = arenaNew(0);
    Buffer packed;
    bufferInit(&packed);
    for (int64_t key = 0; key < count; key++) {
        arenaReset(arena);
        BoltValue row;
        packNode(arena, &packed, &row, key);
        assert_int_equal(fingerprintAddNode(direct, key, &row.as.list.items[1], &row.as.list.items[2]), ERR_OK);
        assert_int_equal(fingerprintFeedAdd(feed, 'N', packed.data, packed.length), ERR_OK);
    }
    for (int64_t key = 0; key + 1 < count; key++) {
        arenaReset(arena);
        BoltValue row;
        packRel(arena, &packed, &row, key, key + 1);
        assert_int_equal(fingerprintAddRelationship(direct, key, key + 1, "T", 1, &row.as.list.items[4]), ERR_OK);
        assert_int_equal(fingerprintFeedAdd(feed, 'R', packed.data, packed.length), ERR_OK);
    }
    assert_int_equal(fingerprintFeedFinish(feed), ERR_OK);
    fingerprintFeedFree(feed);
    char expected[66], got[66];
    assert_int_equal(fingerprintHex(direct, expected), ERR_OK);
    assert_int_equal(fingerprintHex(fed, got), ERR_OK);
    assert_string_equal(expected, got);
    assert_int_equal(fingerprintNodeCount(fed), count);
    assert_int_equal(fingerprintRelationshipCount(fed), count - 1);
    bufferFree(&packed);
    arenaFree(arena);
    fingerprintFree(direct);
    fingerprintFree(fed);
}

static void testWorkerErrorComesBack(void **state)
{
    (void)state;
    Fingerprint *fed = fingerprintNew();
    FingerprintFeed *feed = NULL;
    assert_int_equal(fingerprintFeedStart(&feed, fed), ERR_OK);
    Arena *arena = arenaNew(0);
    Buffer packed;
    bufferInit(&packed);
    BoltValue row;
    packNode(arena, &packed, &row, 1);
    assert_int_equal(fingerprintFeedAdd(feed, 'N', packed.data, packed.length), ERR_OK);
    packRel(arena, &packed, &row, 7, 99); /* endpoint 99 never added: an orphan */
    assert_int_equal(fingerprintFeedAdd(feed, 'R', packed.data, packed.length), ERR_OK);
    assert_int_equal(fingerprintFeedFinish(feed), BACKUP_CORRUPTED);
    fingerprintFeedFree(feed);
    bufferFree(&packed);
    arenaFree(arena);
    fingerprintFree(fed);
}

static void testFreeWithRecordsQueued(void **state)
{
    (void)state;
    Fingerprint *fed = fingerprintNew();
    FingerprintFeed *feed = NULL;
    assert_int_equal(fingerprintFeedStart(&feed, fed), ERR_OK);
    Arena *arena = arenaNew(0);
    Buffer packed;
    bufferInit(&packed);
    for (int64_t key = 0; key < 30000; key++) {
        arenaReset(arena);
        BoltValue row;
        packNode(arena, &packed, &row, key);
        assert_int_equal(fingerprintFeedAdd(feed, 'N', packed.data, packed.length), ERR_OK);
    }
    fingerprintFeedFree(feed); /* no finish: a failed backup's path */
    bufferFree(&packed);
    arenaFree(arena);
    fingerprintFree(fed);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(testSameAsDirect),
        cmocka_unit_test(testWorkerErrorComesBack),
        cmocka_unit_test(testFreeWithRecordsQueued),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
