/* Per-label and per-type counts: the map (growth, binary-safe names, sorted
 * view) and the comparison's one-line finding. */
#include "graph/counts.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

static void add(CountMap *map, const char *name, uint64_t delta)
{
    countMapAdd(map, name, strlen(name), delta);
}

static void testMapGrowsAndSorts(void **state)
{
    (void)state;
    CountMap map = {0};
    assert_int_equal(countMapGet(&map, "A", 1), 0);
    assert_null(countMapSorted(&map));
    char name[32];
    for (int round = 0; round < 3; round++) {
        for (int index = 999; index >= 0; index--) {
            snprintf(name, sizeof(name), "L%04d", index);
            add(&map, name, (uint64_t)index + 1);
        }
    }
    assert_int_equal(map.count, 1000);
    assert_int_equal(countMapGet(&map, "L0000", 5), 3);
    assert_int_equal(countMapGet(&map, "L0999", 5), 3000);
    assert_int_equal(countMapGet(&map, "L1000", 5), 0);
    const CountEntry **sorted = countMapSorted(&map);
    assert_non_null(sorted);
    assert_string_equal(sorted[0]->name, "L0000");
    assert_string_equal(sorted[999]->name, "L0999");
    for (size_t index = 1; index < map.count; index++)
        assert_true(strcmp(sorted[index - 1]->name, sorted[index]->name) < 0);
    free(sorted);
    countMapFree(&map);
    assert_int_equal(map.count, 0);
}

static void testNamesAreLengthAware(void **state)
{
    (void)state;
    CountMap map = {0};
    add(&map, "Person", 1);
    countMapAdd(&map, "Person", 3, 5); /* "Per", a different label */
    add(&map, "", 2);                   /* the empty name is a name too */
    assert_int_equal(countMapGet(&map, "Person", 6), 1);
    assert_int_equal(countMapGet(&map, "Per", 3), 5);
    assert_int_equal(countMapGet(&map, "", 0), 2);
    const CountEntry **sorted = countMapSorted(&map);
    assert_string_equal(sorted[0]->name, "");
    assert_string_equal(sorted[1]->name, "Per");
    assert_string_equal(sorted[2]->name, "Person");
    free(sorted);
    countMapFree(&map);
}

static void testNodeCountsUnderEachLabel(void **state)
{
    (void)state;
    Arena *arena = arenaNew(0);
    BoltValue labels = boltList(arena, 3);
    labels.as.list.items[0] = boltString(arena, "Person");
    labels.as.list.items[1] = boltString(arena, "Admin");
    labels.as.list.items[2] = boltInt(7); /* not a label: ignored */
    GraphCounts counts = {0};
    graphCountsAddNode(&counts, &labels);
    graphCountsAddNode(&counts, &labels);
    graphCountsAddRelationship(&counts, "KNOWS", 5);
    assert_int_equal(countMapGet(&counts.labels, "Person", 6), 2);
    assert_int_equal(countMapGet(&counts.labels, "Admin", 5), 2);
    assert_int_equal(counts.labels.count, 2);
    assert_int_equal(countMapGet(&counts.types, "KNOWS", 5), 1);
    graphCountsFree(&counts);
    arenaFree(arena);
}

static void testCompareNamesTheDifference(void **state)
{
    (void)state;
    GraphCounts expected = {0};
    GraphCounts actual = {0};
    add(&expected.labels, "Person", 1000);
    add(&expected.labels, "City", 10);
    add(&expected.types, "KNOWS", 5);
    add(&actual.labels, "Person", 998);
    add(&actual.labels, "City", 10);
    add(&actual.types, "KNOWS", 5);
    char finding[512];
    assert_int_equal(graphCountsCompare(&expected, &actual, finding, sizeof(finding)), 1);
    assert_string_equal(finding, "label Person: expected 1000, found 998 (-2)");

    /* A type only the target has, and one only the backup has. */
    add(&actual.types, "LIKES", 3);
    add(&expected.types, "AT", 2);
    assert_int_equal(graphCountsCompare(&expected, &actual, finding, sizeof(finding)), 3);
    assert_string_equal(finding, "label Person: expected 1000, found 998 (-2); type AT: expected 2, found 0 (-2); "
                                 "type LIKES: expected 0, found 3 (+3)");

    /* Equal counts: nothing to say. */
    graphCountsFree(&actual);
    memset(&actual, 0, sizeof(actual));
    add(&actual.labels, "Person", 1000);
    add(&actual.labels, "City", 10);
    add(&actual.types, "KNOWS", 5);
    add(&actual.types, "AT", 2);
    assert_int_equal(graphCountsCompare(&expected, &actual, finding, sizeof(finding)), 0);
    assert_string_equal(finding, "");
    graphCountsFree(&expected);
    graphCountsFree(&actual);
}

static void testCompareSaysHowManyMore(void **state)
{
    (void)state;
    GraphCounts expected = {0};
    GraphCounts actual = {0};
    char name[32];
    for (int index = 0; index < 100; index++) {
        snprintf(name, sizeof(name), "Label%02d", index);
        add(&expected.labels, name, 10);
    }
    char finding[200];
    assert_int_equal(graphCountsCompare(&expected, &actual, finding, sizeof(finding)), 100);
    assert_true(strlen(finding) < sizeof(finding));
    assert_non_null(strstr(finding, "label Label00: expected 10, found 0 (-10); "));
    const char *more = strstr(finding, " (and ");
    assert_non_null(more);
    unsigned shown = 0;
    for (const char *cursor = finding; (cursor = strstr(cursor, "label ")); cursor++)
        shown++;
    unsigned left = 0;
    assert_int_equal(sscanf(more, " (and %u more)", &left), 1);
    assert_int_equal(shown + left, 100);
    graphCountsFree(&expected);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(testMapGrowsAndSorts),
        cmocka_unit_test(testNamesAreLengthAware),
        cmocka_unit_test(testNodeCountsUnderEachLabel),
        cmocka_unit_test(testCompareNamesTheDifference),
        cmocka_unit_test(testCompareSaysHowManyMore),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
