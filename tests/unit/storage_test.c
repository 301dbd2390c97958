/* The storage seam itself: repository locations (s3://bucket/prefix vs a
 * path), the name rules every driver relies on, and the fallbacks storage.c
 * gives drivers without the optional functions (object storage): one-level
 * listings derived from the recursive one, no rename, exclusive-only locks
 * retried until the wait is over. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "common/timeutil.h"
#include "storage/storage.h"

#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static void testLocationPath(void **state)
{
    (void)state;
    StorageLocation location;
    assert_int_equal(storageLocationParse("/var/backups/neo4j", &location), ERR_OK);
    assert_int_equal(location.kind, STORAGE_LOCATION_POSIX);
    assert_string_equal(location.path, "/var/backups/neo4j");
    assert_int_equal(storageLocationParse("relative/dir", &location), ERR_OK);
    assert_int_equal(location.kind, STORAGE_LOCATION_POSIX);
}

static void testLocationS3(void **state)
{
    (void)state;
    StorageLocation location;
    assert_int_equal(storageLocationParse("s3://my-bucket/neo4j/prod/", &location), ERR_OK);
    assert_int_equal(location.kind, STORAGE_LOCATION_S3);
    assert_string_equal(location.bucket, "my-bucket");
    assert_string_equal(location.prefix, "neo4j/prod");
    assert_int_equal(storageLocationParse("s3://my.bucket", &location), ERR_OK);
    assert_string_equal(location.bucket, "my.bucket");
    assert_string_equal(location.prefix, "");
}

static void testLocationRejected(void **state)
{
    (void)state;
    StorageLocation location;
    const char *bad[] = {"", "s3://", "s3://ab", "s3://Upper/x", "s3://-bucket/x", "s3://bucket-/x",
                         "s3://bucket/a/../b", "s3://bucket/a//b", "gs://bucket/x", "S3://bucket", "s3://bu_cket"};
    for (size_t index = 0; index < sizeof(bad) / sizeof(bad[0]); index++) {
        assert_int_equal(storageLocationParse(bad[index], &location), CONFIG_INVALID);
        assert_true(strlen(errLast()->reason) > 0);
    }
}

static void testNameCheck(void **state)
{
    (void)state;
    assert_int_equal(storageNameCheck("neo4j-20260101-000000/archive.nbk", false), ERR_OK);
    assert_int_equal(storageNameCheck("", true), ERR_OK);
    const char *bad[] = {"", "/abs", "a/", "a//b", "..", "a/../b", "./a", "a/.", "tab\there", "back\\slash"};
    for (size_t index = 0; index < sizeof(bad) / sizeof(bad[0]); index++)
        assert_int_equal(storageNameCheck(bad[index], false), CONFIG_INVALID);
}

/* A flat driver: a fixed set of files, and a lock that is always taken. */
static const char *flatFiles[] = {"b2/manifest.json", "b1/archive", "b1/manifest.json", "b1/sub/x", "top", ".lock"};
static int flatLockAttempts;

static ErrCode flatList(void *driver, const char *dir, StorageListCallback callback, void *payload)
{
    (void)driver;
    size_t length = strlen(dir);
    for (size_t index = 0; index < sizeof(flatFiles) / sizeof(flatFiles[0]); index++) {
        const char *name = flatFiles[index];
        if (length > 0 && (strncmp(name, dir, length) != 0 || name[length] != '/'))
            continue;
        StorageInfo info = {.name = name, .size = strlen(name), .mtime = 1000 + (int64_t)index};
        ErrCode result = callback(&info, payload);
        if (result != ERR_OK)
            return result;
    }
    return ERR_OK;
}

static ErrCode flatStat(void *driver, const char *name, StorageInfo *out)
{
    (void)driver;
    for (size_t index = 0; index < sizeof(flatFiles) / sizeof(flatFiles[0]); index++)
        if (strcmp(flatFiles[index], name) == 0) {
            out->name = name;
            out->size = strlen(name);
            return ERR_OK;
        }
    return errSet(BACKUP_NOT_FOUND, "no %s", name);
}

static ErrCode flatLockAcquire(void *driver, const char *name, const StorageLockOwner *owner, int ttl, void **out)
{
    (void)driver;
    (void)owner;
    (void)ttl;
    (void)out;
    flatLockAttempts++;
    return errSet(BACKUP_LOCKED, "%s is held by someone else", name);
}

static void flatFree(void *driver) { (void)driver; }

static const StorageInterface flatInterface = {
    .name = "flat",
    .list = flatList,
    .stat = flatStat,
    .lockAcquire = flatLockAcquire,
    .free = flatFree,
};

typedef struct {
    char text[512];
} Listed;

static ErrCode appendListed(const StorageInfo *info, void *payload)
{
    Listed *listed = payload;
    size_t used = strlen(listed->text);
    snprintf(listed->text + used, sizeof(listed->text) - used, "%s:%s;", info->name,
             info->kind == STORAGE_KIND_DIR ? "dir" : "file");
    return ERR_OK;
}

static void testFallbacks(void **state)
{
    (void)state;
    Storage *storage = storageNew(&flatInterface, NULL);
    Listed listed = {""};
    assert_int_equal(storageListDir(storage, "", appendListed, &listed), ERR_OK);
    /* Each implied directory once, files with their kind, sorted. */
    assert_string_equal(listed.text, ".lock:file;b1:dir;b2:dir;top:file;");
    memset(&listed, 0, sizeof(listed));
    assert_int_equal(storageListDir(storage, "b1", appendListed, &listed), ERR_OK);
    assert_string_equal(listed.text, "b1/archive:file;b1/manifest.json:file;b1/sub:dir;");
    assert_int_equal(storageListDir(storage, "../x", appendListed, &listed), CONFIG_INVALID);

    StorageInfo info;
    assert_int_equal(storageInfo(storage, "top", &info), ERR_OK);
    assert_int_equal(info.kind, STORAGE_KIND_FILE);
    assert_int_equal(storageInfo(storage, "nothing", &info), BACKUP_NOT_FOUND);

    assert_false(storageCanMove(storage));
    assert_int_equal(storageMove(storage, "b1", "b3", 0), BACKUP_IO_FAILED);
    assert_non_null(strstr(errLast()->reason, "not supported"));
    assert_int_equal(storageDirCreate(storage, "b3"), ERR_OK);
    assert_int_equal(storageDirSync(storage, "b3"), ERR_OK);
    assert_false(storageLockHeld(storage, ".lock"));

    StorageLock *lock = NULL;
    flatLockAttempts = 0;
    assert_int_equal(storageLockAcquireMode(storage, ".lock", NULL, STORAGE_LOCK_SHARED, 0, 60, &lock), BACKUP_LOCKED);
    assert_int_equal(flatLockAttempts, 1);
    int64_t started = timeMonotonicMs();
    assert_int_equal(storageLockAcquireMode(storage, ".lock", NULL, STORAGE_LOCK_EXCLUSIVE, 250, 60, &lock),
                     BACKUP_LOCKED);
    assert_true(timeMonotonicMs() - started >= 250);
    assert_true(flatLockAttempts >= 3);
    assert_null(lock);
    storageFree(storage);
}

/* An expiring lock: acquired once, refreshed by the keeper until released,
 * lost when a refresh says it was taken over. */
static atomic_int keptRefreshes;
static atomic_int keptLoseAfter; /* refreshes that succeed before one reports a loss; -1 = never */
static atomic_int keptReleases;

static ErrCode keptLockAcquire(void *driver, const char *name, const StorageLockOwner *owner, int ttl, void **out)
{
    (void)driver;
    (void)name;
    (void)owner;
    (void)ttl;
    *out = &keptRefreshes;
    return ERR_OK;
}

static ErrCode keptLockRefresh(void *lock)
{
    (void)lock;
    int done = atomic_fetch_add(&keptRefreshes, 1);
    int loseAfter = atomic_load(&keptLoseAfter);
    if (loseAfter >= 0 && done >= loseAfter)
        return errSet(BACKUP_LOCKED, "lost the lock (test)");
    return ERR_OK;
}

static void keptLockRelease(void *lock)
{
    (void)lock;
    atomic_fetch_add(&keptReleases, 1);
}

static const StorageInterface keptInterface = {
    .name = "kept",
    .list = flatList,
    .stat = flatStat,
    .lockAcquire = keptLockAcquire,
    .lockRefresh = keptLockRefresh,
    .lockRelease = keptLockRelease,
    .free = flatFree,
    .lockExpires = true,
};

static void waitForRefreshes(int count)
{
    int64_t deadline = timeMonotonicMs() + 20000;
    while (atomic_load(&keptRefreshes) < count) {
        assert_true(timeMonotonicMs() < deadline);
        struct timespec pause = {0, 20 * 1000000L};
        nanosleep(&pause, NULL);
    }
}

static void testExpiringLocksAreKeptAlive(void **state)
{
    (void)state;
    Storage *storage = storageNew(&keptInterface, NULL);
    atomic_store(&keptRefreshes, 0);
    atomic_store(&keptReleases, 0);
    atomic_store(&keptLoseAfter, -1);
    StorageLock *lock = NULL;
    /* ttl 1 s: the keeper refreshes about every 333 ms without being asked. */
    assert_int_equal(storageLockAcquireMode(storage, ".lock", NULL, STORAGE_LOCK_EXCLUSIVE, 0, 1, &lock), ERR_OK);
    waitForRefreshes(2);
    assert_false(storageLockLost(lock));
    storageLockRelease(lock);
    int afterRelease = atomic_load(&keptRefreshes);
    assert_int_equal(atomic_load(&keptReleases), 1);

    /* A refresh that finds the lock taken over marks it lost; the keeper stops. */
    atomic_store(&keptRefreshes, 0);
    atomic_store(&keptLoseAfter, 1);
    assert_int_equal(storageLockAcquire(storage, ".lock", NULL, 1, &lock), ERR_OK);
    waitForRefreshes(2);
    int64_t deadline = timeMonotonicMs() + 20000;
    while (!storageLockLost(lock))
        assert_true(timeMonotonicMs() < deadline);
    assert_int_equal(storageLockRefresh(lock), BACKUP_LOCKED);
    storageLockRelease(lock);
    assert_int_equal(atomic_load(&keptReleases), 2);
    assert_true(afterRelease >= 2);
    storageFree(storage);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(testLocationPath),
        cmocka_unit_test(testLocationS3),
        cmocka_unit_test(testLocationRejected),
        cmocka_unit_test(testNameCheck),
        cmocka_unit_test(testFallbacks),
        cmocka_unit_test(testExpiringLocksAreKeptAlive),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
