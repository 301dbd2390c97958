/* IdMap: every int64 is a valid key, duplicates are refused, growth keeps
 * every entry, and memory stays within the documented bytes per entry. */
#include "restore/idmap.h"

#include "common/spill_array.h"

#include <dirent.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

static void testPutGetAndMissing(void **state)
{
    (void)state;
    IdMap *map = idMapNew(0);
    assert_non_null(map);
    int64_t value = -1;
    assert_false(idMapGet(map, 7, &value));
    assert_int_equal(idMapPut(map, 7, 700), IDMAP_INSERTED);
    assert_true(idMapGet(map, 7, &value));
    assert_int_equal(value, 700);
    assert_false(idMapGet(map, 8, &value));
    assert_int_equal(idMapCount(map), 1);
    idMapFree(map);
}

static void testExtremeKeys(void **state)
{
    (void)state;
    IdMap *map = idMapNew(0);
    const int64_t keys[] = {INT64_MIN, INT64_MAX, 0, -1, 1, INT64_MIN + 1};
    const size_t keyCount = sizeof(keys) / sizeof(keys[0]);
    for (size_t index = 0; index < keyCount; index++)
        assert_int_equal(idMapPut(map, keys[index], (int64_t)index * 10 - 3), IDMAP_INSERTED);
    assert_int_equal(idMapCount(map), keyCount);
    for (size_t index = 0; index < keyCount; index++) {
        int64_t value = 0;
        assert_true(idMapGet(map, keys[index], &value));
        assert_int_equal(value, (int64_t)index * 10 - 3);
    }
    /* The reserved empty marker must not make a missing key look present. */
    IdMap *empty = idMapNew(0);
    assert_false(idMapGet(empty, INT64_MIN, NULL));
    idMapFree(empty);
    idMapFree(map);
}

static void testDuplicateRefusedValueKept(void **state)
{
    (void)state;
    IdMap *map = idMapNew(0);
    assert_int_equal(idMapPut(map, 42, 1), IDMAP_INSERTED);
    assert_int_equal(idMapPut(map, 42, 2), IDMAP_DUPLICATE);
    assert_int_equal(idMapPut(map, INT64_MIN, 5), IDMAP_INSERTED);
    assert_int_equal(idMapPut(map, INT64_MIN, 6), IDMAP_DUPLICATE);
    int64_t value = 0;
    assert_true(idMapGet(map, 42, &value));
    assert_int_equal(value, 1);
    assert_true(idMapGet(map, INT64_MIN, &value));
    assert_int_equal(value, 5);
    assert_int_equal(idMapCount(map), 2);
    idMapFree(map);
}

/* Scattered keys (the hash-table fallback) through several growth steps,
 * with a stride pattern that would cluster badly without the hash mixing. */
static void testGrowthKeepsEverything(void **state)
{
    (void)state;
    IdMap *map = idMapNew(0);
    const int64_t count = 200000;
    for (int64_t index = 0; index < count; index++)
        assert_int_equal(idMapPut(map, index * 4096 - 100000, ~index), IDMAP_INSERTED);
    assert_int_equal(idMapCount(map), (uint64_t)count);
    for (int64_t index = 0; index < count; index++) {
        int64_t value = 0;
        assert_true(idMapGet(map, index * 4096 - 100000, &value));
        assert_int_equal(value, ~index);
    }
    assert_false(idMapGet(map, 1, NULL));
    /* Documented bound of the fallback: 16-byte slots at least 3/8 full, plus
     * the (minimal) dense arrays. */
    assert_true(idMapBytes(map) <= (size_t)count * 16 * 8 / 3 + (1 << 20));
    idMapFree(map);
}

/* Dense keys (Neo4j's ids) with ids below 2^32 cost 4 bytes a node. */
static void testDenseKeysTakeFourBytes(void **state)
{
    (void)state;
    const int64_t count = 1000000;
    IdMap *map = idMapNew((uint64_t)count);
    for (int64_t key = 0; key < count; key++)
        assert_int_equal(idMapPut(map, key, count - key), IDMAP_INSERTED);
    assert_true(idMapBytes(map) <= (size_t)count * 4 * 3 / 2 + (256 << 10));
    /* Without the expected count, and with every other key missing: at most
     * twice that. */
    IdMap *holes = idMapNew(0);
    for (int64_t key = 0; key < 2 * count; key += 2)
        assert_int_equal(idMapPut(holes, key, key), IDMAP_INSERTED);
    assert_true(idMapBytes(holes) <= (size_t)count * 8 * 3 / 2 + (256 << 10));
    for (int64_t key = 0; key < count; key++) {
        int64_t value = -1;
        assert_true(idMapGet(map, key, &value));
        assert_int_equal(value, count - key);
        assert_int_equal(idMapGet(holes, key, &value), key % 2 == 0);
    }
    assert_false(idMapGet(map, count, NULL));
    assert_false(idMapSpilled(map)); /* 4 MB: under the default threshold */
    idMapFree(map);
    idMapFree(holes);
}

/* New ids that do not fit 4 bytes, or are negative, go to the wide table;
 * a key is unique across both. */
static void testWideValues(void **state)
{
    (void)state;
    IdMap *map = idMapNew(0);
    const int64_t values[] = {0, (int64_t)UINT32_MAX - 2, (int64_t)UINT32_MAX - 1, UINT32_MAX,
                              INT64_MAX, -1, INT64_MIN};
    const size_t valueCount = sizeof(values) / sizeof(values[0]);
    for (size_t index = 0; index < valueCount; index++)
        assert_int_equal(idMapPut(map, (int64_t)index, values[index]), IDMAP_INSERTED);
    for (size_t index = 0; index < valueCount; index++) {
        int64_t value = 0;
        assert_true(idMapGet(map, (int64_t)index, &value));
        assert_int_equal(value, values[index]);
        /* A second put with a value for the other table is still a duplicate. */
        assert_int_equal(idMapPut(map, (int64_t)index, values[index] == 0 ? INT64_MAX : 0), IDMAP_DUPLICATE);
    }
    assert_int_equal(idMapCount(map), valueCount);
    idMapFree(map);
}

/* Past the spill threshold the map lives in an unlinked scratch file in the
 * configured directory, with the same contents. */
static void testSpillsToScratchFile(void **state)
{
    (void)state;
    char directory[] = "/tmp/idmap-test-XXXXXX";
    assert_non_null(mkdtemp(directory));
    spillConfigure(directory, 64 << 10, 16 << 10);
    IdMap *map = idMapNew(0);
    const int64_t count = 300000;
    for (int64_t key = 0; key < count; key++)
        assert_int_equal(idMapPut(map, key + 7, key * 3), IDMAP_INSERTED);
    assert_true(idMapSpilled(map));
    assert_int_equal(idMapPut(map, 7, 1), IDMAP_DUPLICATE);
    for (int64_t key = count - 1; key >= 0; key--) {
        int64_t value = -1;
        assert_true(idMapGet(map, key + 7, &value));
        assert_int_equal(value, key * 3);
    }
    assert_false(idMapGet(map, 6, NULL));
    assert_false(idMapGet(map, count + 7, NULL));
    /* Presence alone is answered from the in-memory bits, for every key. */
    for (int64_t key = 0; key < count; key++)
        assert_true(idMapGet(map, key + 7, NULL));
    assert_false(idMapGet(map, count + 8, NULL));
    /* Nothing visible on disk, even while the map is alive. */
    DIR *listing = opendir(directory);
    assert_non_null(listing);
    struct dirent *entry;
    int entries = 0;
    while ((entry = readdir(listing)) != NULL)
        entries += strcmp(entry->d_name, ".") != 0 && strcmp(entry->d_name, "..") != 0;
    closedir(listing);
    assert_int_equal(entries, 0);
    idMapFree(map);
    spillConfigure(NULL, 0, 0);
    assert_int_equal(rmdir(directory), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(testPutGetAndMissing),
        cmocka_unit_test(testExtremeKeys),
        cmocka_unit_test(testDuplicateRefusedValueKept),
        cmocka_unit_test(testGrowthKeepsEverything),
        cmocka_unit_test(testDenseKeysTakeFourBytes),
        cmocka_unit_test(testWideValues),
        cmocka_unit_test(testSpillsToScratchFile),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
