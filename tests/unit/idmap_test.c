/* IdMap: every int64 is a valid key, duplicates are refused, growth keeps
 * every entry, and memory stays within the documented bytes per entry. */
#include "restore/idmap.h"

#include <stdarg.h>
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

/* Many keys through several growth steps, with a stride pattern that would
 * cluster badly without the hash mixing. */
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
    /* Documented bound: at most 16 bytes / 0.375 per entry after doubling. */
    assert_true(idMapBytes(map) <= (size_t)count * 16 * 8 / 3 + 1024);
    idMapFree(map);
}

static void testPresizedDoesNotGrow(void **state)
{
    (void)state;
    IdMap *map = idMapNew(100000);
    size_t before = idMapBytes(map);
    for (int64_t key = 0; key < 100000; key++)
        assert_int_equal(idMapPut(map, key, key), IDMAP_INSERTED);
    assert_int_equal(idMapBytes(map), before);
    /* Presized: within 16 / 0.375 bytes per entry, and at least 16/0.75. */
    assert_true(before <= 100000 * 16 * 8 / 3 + 1024);
    assert_true(before >= 100000 * 16 * 4 / 3);
    idMapFree(map);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(testPutGetAndMissing),
        cmocka_unit_test(testExtremeKeys),
        cmocka_unit_test(testDuplicateRefusedValueKept),
        cmocka_unit_test(testGrowthKeepsEverything),
        cmocka_unit_test(testPresizedDoesNotGrow),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
