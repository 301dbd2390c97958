/* The aborting allocator: memory comes back usable, and an impossible size
 * ends the process with SIGABRT and one line on stderr (checked in a child). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "common/mem.h"

#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static void testAllocationsAreUsable(void **state)
{
    (void)state;
    unsigned char *zeroed = memCalloc(64, 4);
    for (size_t index = 0; index < 256; index++)
        assert_int_equal(zeroed[index], 0);
    zeroed = memReallocArray(zeroed, 1024, 4);
    zeroed[4095] = 7;
    free(zeroed);
    char *copy = memStrdup("neo4j");
    assert_string_equal(copy, "neo4j");
    free(copy);
    copy = memStrndup("neo4j-backup", 5);
    assert_string_equal(copy, "neo4j");
    free(copy);
    copy = memStrndup("ab", 10); /* shorter than the limit */
    assert_string_equal(copy, "ab");
    free(copy);
    void *empty = memAlloc(0); /* never NULL, freeable */
    assert_non_null(empty);
    free(empty);
    void *grown = memRealloc(NULL, 16);
    assert_non_null(grown);
    free(grown);
}

/* Runs allocate() in a child; returns what it wrote to stderr and whether it aborted. */
static void runChild(void (*allocate)(void), char *stderrText, size_t size, bool *aborted)
{
    int pipeFds[2];
    assert_int_equal(pipe(pipeFds), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(pipeFds[1], STDERR_FILENO);
        close(pipeFds[0]);
        allocate();
        _exit(0);
    }
    close(pipeFds[1]);
    size_t used = 0;
    ssize_t got;
    while (used + 1 < size && (got = read(pipeFds[0], stderrText + used, size - 1 - used)) > 0)
        used += (size_t)got;
    stderrText[used] = '\0';
    close(pipeFds[0]);
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    *aborted = WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT;
}

static void callocOverflow(void) { free(memCalloc(SIZE_MAX / 2, 4)); }
static void reallocOverflow(void) { free(memReallocArray(NULL, SIZE_MAX / 8, 16)); }
static void foreignAllocatorFailed(void) { memOutOfMemory("json-c object"); }

static void testImpossibleSizesAbort(void **state)
{
    (void)state;
    char text[256];
    bool aborted = false;
    runChild(callocOverflow, text, sizeof(text), &aborted);
    assert_true(aborted);
    assert_non_null(strstr(text, "CRITICAL: out of memory (allocating "));
    runChild(reallocOverflow, text, sizeof(text), &aborted);
    assert_true(aborted);
    assert_non_null(strstr(text, "out of memory"));
    runChild(foreignAllocatorFailed, text, sizeof(text), &aborted);
    assert_true(aborted);
    assert_string_equal(text, "CRITICAL: out of memory (json-c object)\n");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(testAllocationsAreUsable),
        cmocka_unit_test(testImpossibleSizesAbort),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
