/* SpillArray: zeroed growth, contents kept across the move to the scratch
 * file, and a resident share that stays under the budget once spilled. */
#include "common/spill_array.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

/* Resident set of this process in KB (VmRSS of /proc/self/status). */
static long residentKb(void)
{
    FILE *status = fopen("/proc/self/status", "r");
    assert_non_null(status);
    char line[256];
    long kb = -1;
    while (fgets(line, sizeof(line), status))
        if (sscanf(line, "VmRSS: %ld kB", &kb) == 1)
            break;
    fclose(status);
    return kb;
}

static void testGrowsZeroedInMemory(void **state)
{
    (void)state;
    SpillArray *array = spillArrayNew(8);
    assert_null(spillArrayRead(array, 0));
    uint64_t *slot = spillArrayWrite(array, 1000);
    assert_non_null(slot);
    *slot = 99;
    const uint64_t *zero = spillArrayRead(array, 999);
    assert_non_null(zero);
    assert_int_equal(*zero, 0);
    assert_int_equal(*(const uint64_t *)spillArrayRead(array, 1000), 99);
    assert_false(spillArraySpilled(array));
    assert_null(spillArrayRead(array, spillArrayLength(array)));
    spillArrayFree(array);
    assert_null(spillArrayNew(3)); /* not a power of two */
}

/* 64 MB of 16-byte slots with a 1 MB threshold and a 2 MB budget: the
 * process grows by far less than the array, and every slot reads back. */
static void testSpilledResidentShareIsBounded(void **state)
{
    (void)state;
    spillConfigure(NULL, 1 << 20, 2 << 20);
    SpillArray *array = spillArrayNew(16);
    const uint64_t slots = (64u << 20) / 16;
    long before = residentKb();
    long peak = before;
    for (uint64_t index = 0; index < slots; index++) {
        uint64_t *slot = spillArrayWrite(array, index);
        assert_non_null(slot);
        slot[0] = index * 2654435761u;
        slot[1] = ~index;
        if (index % 65536 == 0) {
            long now = residentKb();
            peak = now > peak ? now : peak;
        }
    }
    assert_true(spillArraySpilled(array));
    assert_true(spillArrayBytes(array) >= (64u << 20));
    /* Random reads, as the relationships' endpoint lookups do. */
    uint64_t seed = 7;
    for (int read = 0; read < 200000; read++) {
        seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
        uint64_t index = (seed >> 20) % slots;
        const uint64_t *slot = spillArrayRead(array, index);
        assert_non_null(slot);
        assert_int_equal(slot[0], index * 2654435761u);
        assert_int_equal(slot[1], ~index);
        if (read % 8192 == 0) {
            long now = residentKb();
            peak = now > peak ? now : peak;
        }
    }
    /* Budget 2 MB, plus slack (the 1 MB in-memory array is gone after the move). */
    printf("# resident growth %ld KB\n", peak - before);
    assert_true(peak - before < 4 * 1024);
    spillArrayFree(array);
    spillConfigure(NULL, 0, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(testGrowsZeroedInMemory),
        cmocka_unit_test(testSpilledResidentShareIsBounded),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
