/* Lock files: exclusive/shared conflicts (also inside one process), the
 * BACKUP_LOCKED message naming the holder, timeouts, and that a dead holder
 * never leaves a stale lock. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "common/lock.h"
#include "common/timeutil.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static char lockDir[256];
static char lockFile[PATH_MAX];

static int setUp(void **state)
{
    (void)state;
    snprintf(lockDir, sizeof(lockDir), "/tmp/nbk-lock-XXXXXX");
    if (!mkdtemp(lockDir))
        return -1;
    snprintf(lockFile, sizeof(lockFile), "%s/.lock", lockDir);
    return 0;
}

static int tearDown(void **state)
{
    (void)state;
    unlink(lockFile);
    return rmdir(lockDir);
}

static void testExclusiveConflictNamesHolder(void **state)
{
    (void)state;
    Lock *first = NULL, *second = NULL;
    assert_int_equal(lockAcquire(&first, lockFile, LOCK_EXCLUSIVE, 0, "neo4j-backup --delete X"), ERR_OK);
    assert_int_equal(lockAcquire(&second, lockFile, LOCK_EXCLUSIVE, 0, "other"), BACKUP_LOCKED);
    assert_null(second);
    char expected[64];
    snprintf(expected, sizeof(expected), "held by pid %ld (neo4j-backup --delete X)", (long)getpid());
    assert_non_null(strstr(errLast()->reason, expected));
    assert_non_null(strstr(errLast()->reason, lockFile));
    assert_int_equal(lockAcquire(&second, lockFile, LOCK_SHARED, 0, NULL), BACKUP_LOCKED);
    assert_true(lockIsHeld(lockFile));
    pid_t holder;
    char purpose[64];
    assert_true(lockReadHolder(lockFile, &holder, purpose, sizeof(purpose)));
    assert_int_equal(holder, getpid());
    assert_string_equal(purpose, "neo4j-backup --delete X");
    lockRelease(first);
    /* Released: the record is cleared and the lock is free. */
    assert_true(lockReadHolder(lockFile, &holder, purpose, sizeof(purpose)));
    assert_int_equal(holder, 0);
    assert_false(lockIsHeld(lockFile));
    assert_int_equal(lockAcquire(&second, lockFile, LOCK_EXCLUSIVE, 0, NULL), ERR_OK);
    assert_int_equal(lockMode(second), LOCK_EXCLUSIVE);
    assert_string_equal(lockPath(second), lockFile);
    lockRelease(second);
}

static void testSharedLocks(void **state)
{
    (void)state;
    Lock *reader1 = NULL, *reader2 = NULL, *writer = NULL;
    assert_int_equal(lockAcquire(&reader1, lockFile, LOCK_SHARED, 0, "restore"), ERR_OK);
    assert_int_equal(lockAcquire(&reader2, lockFile, LOCK_SHARED, 0, "validate"), ERR_OK);
    assert_int_equal(lockAcquire(&writer, lockFile, LOCK_EXCLUSIVE, 0, "delete"), BACKUP_LOCKED);
    assert_non_null(strstr(errLast()->reason, "shared holders"));
    lockRelease(reader1);
    assert_int_equal(lockAcquire(&writer, lockFile, LOCK_EXCLUSIVE, 0, "delete"), BACKUP_LOCKED);
    lockRelease(reader2);
    assert_int_equal(lockAcquire(&writer, lockFile, LOCK_EXCLUSIVE, 0, "delete"), ERR_OK);
    lockRelease(writer);
    lockRelease(NULL);
}

static void testTimeoutGivesUp(void **state)
{
    (void)state;
    Lock *holder = NULL, *waiter = NULL;
    assert_int_equal(lockAcquire(&holder, lockFile, LOCK_EXCLUSIVE, 0, "holder"), ERR_OK);
    double started = timeMonotonic();
    assert_int_equal(lockAcquire(&waiter, lockFile, LOCK_EXCLUSIVE, 30, "waiter"), BACKUP_LOCKED);
    assert_true(timeMonotonic() - started >= 0.025);
    lockRelease(holder);
}

/* A child takes the lock and is killed: the kernel frees it. */
static void testDeadHolderLeavesNoStaleLock(void **state)
{
    (void)state;
    int ready[2];
    assert_int_equal(pipe(ready), 0);
    pid_t child = fork();
    assert_true(child >= 0);
    if (child == 0) {
        Lock *lock = NULL;
        if (lockAcquire(&lock, lockFile, LOCK_EXCLUSIVE, 0, "child") != ERR_OK)
            _exit(1);
        if (write(ready[1], "x", 1) != 1)
            _exit(1);
        pause(); /* until killed, without releasing */
        _exit(0);
    }
    char signal;
    assert_int_equal(read(ready[0], &signal, 1), 1);
    assert_true(lockIsHeld(lockFile));
    Lock *lock = NULL;
    assert_int_equal(lockAcquire(&lock, lockFile, LOCK_EXCLUSIVE, 0, NULL), BACKUP_LOCKED);
    char expected[48];
    snprintf(expected, sizeof(expected), "pid %ld (child)", (long)child);
    assert_non_null(strstr(errLast()->reason, expected));
    kill(child, SIGKILL);
    waitpid(child, NULL, 0);
    close(ready[0]);
    close(ready[1]);
    assert_false(lockIsHeld(lockFile));
    assert_int_equal(lockAcquire(&lock, lockFile, LOCK_EXCLUSIVE, LOCK_WAIT_FOREVER, NULL), ERR_OK);
    lockRelease(lock);
}

static void testMissingDirectory(void **state)
{
    (void)state;
    Lock *lock = NULL;
    assert_int_equal(lockAcquire(&lock, "/nonexistent-nbk/.lock", LOCK_SHARED, 0, NULL), BACKUP_IO_FAILED);
    assert_false(lockIsHeld("/nonexistent-nbk/.lock"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(testExclusiveConflictNamesHolder, setUp, tearDown),
        cmocka_unit_test_setup_teardown(testSharedLocks, setUp, tearDown),
        cmocka_unit_test_setup_teardown(testTimeoutGivesUp, setUp, tearDown),
        cmocka_unit_test_setup_teardown(testDeadHolderLeavesNoStaleLock, setUp, tearDown),
        cmocka_unit_test(testMissingDirectory),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
