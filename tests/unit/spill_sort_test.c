/* SpillSort and SpillStream: records come back complete and in key order
 * whether they stayed in memory or went through many runs on disk; a
 * stream reads back what was written, across its buffer's refills. */
#include "common/spill_array.h"
#include "common/spill_sort.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

typedef struct {
    uint64_t key;
    uint64_t payload;
    uint64_t check; /* key ^ payload, to see records come back whole */
} TestRecord;

static uint64_t nextRandom(uint64_t *seed)
{
    *seed = *seed * 6364136223846793005ULL + 1442695040888963407ULL;
    return *seed >> 11;
}

/* Sorts count records with keys below keyRange; checks order, wholeness and
 * that every payload came back once. Returns the runs used. */
static uint64_t sortAndCheck(size_t count, uint64_t keyRange, size_t memoryBytes)
{
    SpillSort *sort = spillSortNew(sizeof(TestRecord), memoryBytes);
    assert_non_null(sort);
    uint64_t seed = 7;
    for (size_t index = 0; index < count; index++) {
        TestRecord record = {nextRandom(&seed) % keyRange, index, 0};
        if (index % 1000 == 0)
            record.key = UINT64_MAX - index; /* extremes sort last */
        record.check = record.key ^ record.payload;
        assert_int_equal(spillSortAdd(sort, &record), ERR_OK);
    }
    assert_int_equal(spillSortCount(sort), count);
    assert_int_equal(spillSortFinish(sort), ERR_OK);
    TestRecord extra = {0, 0, 0};
    assert_int_equal(spillSortAdd(sort, &extra), ERR_INTERNAL);
    uint8_t *seen = calloc(count ? count : 1, 1);
    uint64_t previous = 0;
    size_t got = 0;
    for (;;) {
        TestRecord record;
        bool more = false;
        assert_int_equal(spillSortNext(sort, &record, &more), ERR_OK);
        if (!more)
            break;
        assert_true(record.key >= previous);
        previous = record.key;
        assert_int_equal(record.check, record.key ^ record.payload);
        assert_true(record.payload < count);
        assert_int_equal(seen[record.payload], 0);
        seen[record.payload] = 1;
        got++;
    }
    assert_int_equal(got, count);
    free(seen);
    uint64_t runs = spillSortRuns(sort);
    spillSortFree(sort);
    return runs;
}

static void testInMemory(void **state)
{
    (void)state;
    assert_int_equal(sortAndCheck(1000, 100, 1 << 20), 0);
    assert_int_equal(sortAndCheck(0, 1, 1 << 20), 0);
}

static void testManyRunsMerged(void **state)
{
    (void)state;
    /* 4 KB holds 170 records: about 600 runs, merged 4 records at a time. */
    assert_true(sortAndCheck(100000, 5000, 4 << 10) > 500);
    /* Fewer runs with larger read buffers, many equal keys. */
    uint64_t runs = sortAndCheck(200000, 50, 1 << 20);
    assert_true(runs > 1 && runs < 10);
}

static void testNextBeforeFinishRefused(void **state)
{
    (void)state;
    SpillSort *sort = spillSortNew(16, 1024);
    uint64_t record[2] = {1, 2};
    assert_int_equal(spillSortAdd(sort, record), ERR_OK);
    bool more = true;
    assert_int_equal(spillSortNext(sort, record, &more), ERR_INTERNAL);
    assert_false(more);
    spillSortFree(sort);
    assert_null(spillSortNew(12, 1024));
}

static void streamRoundTrip(size_t bufferBytes)
{
    SpillStream *stream = spillStreamNew(bufferBytes);
    assert_non_null(stream);
    uint8_t piece[300];
    size_t written = 0;
    for (int index = 0; index < 2000; index++) {
        size_t length = (size_t)(index * 37) % sizeof(piece);
        for (size_t at = 0; at < length; at++)
            piece[at] = (uint8_t)(written + at);
        assert_int_equal(spillStreamWrite(stream, piece, length), ERR_OK);
        written += length;
    }
    assert_int_equal(spillStreamRead(stream, piece, 1), ERR_INTERNAL); /* not rewound */
    assert_int_equal(spillStreamRewind(stream), ERR_OK);
    assert_int_equal(spillStreamWrite(stream, piece, 1), ERR_INTERNAL);
    size_t read = 0;
    while (read < written) {
        size_t length = written - read < 251 ? written - read : 251;
        assert_int_equal(spillStreamRead(stream, piece, length), ERR_OK);
        for (size_t at = 0; at < length; at++)
            assert_int_equal(piece[at], (uint8_t)(read + at));
        read += length;
    }
    assert_int_equal(spillStreamRead(stream, piece, 1), ERR_INTERNAL); /* past the end */
    spillStreamFree(stream);
}

static void testStreamSpilledAndInMemory(void **state)
{
    (void)state;
    streamRoundTrip(1000);    /* about 300 KB through a 1000-byte buffer: on disk */
    streamRoundTrip(1 << 20); /* fits the buffer */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(testInMemory),
        cmocka_unit_test(testManyRunsMerged),
        cmocka_unit_test(testNextBeforeFinishRefused),
        cmocka_unit_test(testStreamSpilledAndInMemory),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
