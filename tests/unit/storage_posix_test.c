/* The posix storage driver: atomic stream writes (nothing visible before the
 * commit, nothing left after an abort, no replacement with NO_REPLACE), ranged
 * reads, recursive listing without temp files or links, stat, remove, locks
 * that conflict and name their holder, and refusal of links and non-files;
 * and what the catalog needs beyond files: one-level listings with kinds,
 * info without following links, directory create/sync/move, lock modes and
 * probes, and opening a repository with or without create. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "storage/posix.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char rootDir[256];

static int setUp(void **state)
{
    (void)state;
    snprintf(rootDir, sizeof(rootDir), "/tmp/nbk-storage-XXXXXX");
    return mkdtemp(rootDir) ? 0 : -1;
}

static int tearDown(void **state)
{
    (void)state;
    char command[512];
    snprintf(command, sizeof(command), "rm -rf '%s'", rootDir);
    return system(command) == 0 ? 0 : -1;
}

static Storage *openRoot(void)
{
    Storage *storage = NULL;
    assert_int_equal(storagePosixNew(rootDir, &storage), ERR_OK);
    assert_string_equal(storageDriverName(storage), "posix");
    return storage;
}

static int countEntries(const char *dir)
{
    char command[PATH_MAX + 64]; /* any dir the tests pass (PATH_MAX) fits whole */
    snprintf(command, sizeof(command), "find '%s' -type f | wc -l", dir);
    FILE *pipe = popen(command, "r");
    int count = -1;
    assert_int_equal(fscanf(pipe, "%d", &count), 1);
    pclose(pipe);
    return count;
}

static void writeWhole(Storage *storage, const char *name, const char *content)
{
    StorageWrite *writer = NULL;
    assert_int_equal(storageWriteOpen(storage, name, 0, &writer), ERR_OK);
    assert_int_equal(storageWrite(writer, content, strlen(content)), ERR_OK);
    assert_int_equal(storageWriteCommit(writer), ERR_OK);
}

static void readWhole(Storage *storage, const char *name, uint64_t offset, uint64_t length, char *out, size_t outSize)
{
    StorageRead *reader = NULL;
    assert_int_equal(storageReadOpen(storage, name, offset, length, &reader), ERR_OK);
    size_t total = 0;
    for (;;) {
        size_t got = 0;
        /* Small reads exercise the streaming path. */
        assert_int_equal(storageRead(reader, out + total, outSize - 1 - total < 3 ? outSize - 1 - total : 3, &got),
                         ERR_OK);
        if (got == 0)
            break;
        total += got;
    }
    out[total] = '\0';
    storageReadClose(reader);
}

static void testAtomicWrite(void **state)
{
    (void)state;
    Storage *storage = openRoot();
    StorageWrite *writer = NULL;
    assert_int_equal(storageWriteOpen(storage, "b1/archive.nbk", 0, &writer), ERR_OK);
    assert_int_equal(storageWrite(writer, "hello ", 6), ERR_OK);
    assert_int_equal(storageWrite(writer, "world", 5), ERR_OK);
    StorageInfo info;
    /* Invisible until the commit. */
    assert_int_equal(storageStat(storage, "b1/archive.nbk", &info), BACKUP_NOT_FOUND);
    assert_int_equal(storageWriteCommit(writer), ERR_OK);
    assert_int_equal(storageStat(storage, "b1/archive.nbk", &info), ERR_OK);
    assert_int_equal(info.size, 11);
    assert_true(info.mtime > 0);
    char content[64];
    readWhole(storage, "b1/archive.nbk", 0, STORAGE_READ_ALL, content, sizeof(content));
    assert_string_equal(content, "hello world");
    readWhole(storage, "b1/archive.nbk", 6, 3, content, sizeof(content));
    assert_string_equal(content, "wor");
    readWhole(storage, "b1/archive.nbk", 6, 100, content, sizeof(content));
    assert_string_equal(content, "world");
    /* Replacing is atomic too; NO_REPLACE refuses and leaves the old file. */
    writeWhole(storage, "b1/archive.nbk", "second");
    assert_int_equal(storageWriteOpen(storage, "b1/archive.nbk", STORAGE_WRITE_NO_REPLACE, &writer), ERR_OK);
    assert_int_equal(storageWrite(writer, "third", 5), ERR_OK);
    assert_int_equal(storageWriteCommit(writer), BACKUP_IO_FAILED);
    assert_non_null(strstr(errLast()->reason, "already exists"));
    readWhole(storage, "b1/archive.nbk", 0, STORAGE_READ_ALL, content, sizeof(content));
    assert_string_equal(content, "second");
    char dir[PATH_MAX];
    snprintf(dir, sizeof(dir), "%s/b1", rootDir);
    assert_int_equal(countEntries(dir), 1); /* no temp file left */
    storageFree(storage);
}

static void testAbort(void **state)
{
    (void)state;
    Storage *storage = openRoot();
    StorageWrite *writer = NULL;
    assert_int_equal(storageWriteOpen(storage, "x/partial", 0, &writer), ERR_OK);
    assert_int_equal(storageWrite(writer, "data", 4), ERR_OK);
    storageWriteAbort(writer);
    StorageInfo info;
    assert_int_equal(storageStat(storage, "x/partial", &info), BACKUP_NOT_FOUND);
    assert_int_equal(countEntries(rootDir), 0);
    storageFree(storage);
}

typedef struct {
    char names[16][128];
    uint64_t sizes[16];
    int count;
} Listed;

static ErrCode collect(const StorageInfo *info, void *payload)
{
    Listed *listed = payload;
    if (listed->count >= 16)
        return ERR_INTERNAL;
    snprintf(listed->names[listed->count], sizeof(listed->names[0]), "%s", info->name);
    listed->sizes[listed->count++] = info->size;
    return ERR_OK;
}

static int findListed(const Listed *listed, const char *name)
{
    for (int index = 0; index < listed->count; index++)
        if (strcmp(listed->names[index], name) == 0)
            return index;
    return -1;
}

static void testListRemove(void **state)
{
    (void)state;
    Storage *storage = openRoot();
    writeWhole(storage, "a/one", "1");
    writeWhole(storage, "a/sub/two", "22");
    writeWhole(storage, "b/three", "333");
    StorageWrite *pending = NULL;
    assert_int_equal(storageWriteOpen(storage, "a/pending", 0, &pending), ERR_OK);
    char linkPath[PATH_MAX], target[PATH_MAX];
    snprintf(linkPath, sizeof(linkPath), "%s/a/link", rootDir);
    snprintf(target, sizeof(target), "%s/b/three", rootDir);
    assert_int_equal(symlink(target, linkPath), 0);

    Listed listed = {0};
    assert_int_equal(storageList(storage, "", collect, &listed), ERR_OK);
    assert_int_equal(listed.count, 3); /* no temp file, no link */
    int two = findListed(&listed, "a/sub/two");
    assert_true(two >= 0);
    assert_int_equal(listed.sizes[two], 2);
    memset(&listed, 0, sizeof(listed));
    assert_int_equal(storageList(storage, "a", collect, &listed), ERR_OK);
    assert_int_equal(listed.count, 2);
    assert_true(findListed(&listed, "a/one") >= 0);
    memset(&listed, 0, sizeof(listed));
    assert_int_equal(storageList(storage, "missing", collect, &listed), ERR_OK);
    assert_int_equal(listed.count, 0);
    storageWriteAbort(pending);

    assert_int_equal(storageRemove(storage, "b/three"), ERR_OK);
    assert_int_equal(storageRemove(storage, "b/three"), ERR_OK); /* missing is fine */
    StorageInfo info;
    assert_int_equal(storageStat(storage, "b/three", &info), BACKUP_NOT_FOUND);
    assert_int_equal(storageRemoveDir(storage, "a"), ERR_OK);
    memset(&listed, 0, sizeof(listed));
    assert_int_equal(storageList(storage, "", collect, &listed), ERR_OK);
    assert_int_equal(listed.count, 0);
    assert_int_equal(storageRemoveDir(storage, ""), CONFIG_INVALID); /* never the root */
    assert_int_equal(storageRemove(storage, "../escape"), CONFIG_INVALID);
    storageFree(storage);
}

static void testRefusesLinksAndNonFiles(void **state)
{
    (void)state;
    Storage *storage = openRoot();
    char outside[PATH_MAX], linkPath[PATH_MAX];
    snprintf(outside, sizeof(outside), "%s.outside", rootDir);
    FILE *file = fopen(outside, "w");
    fputs("secret", file);
    fclose(file);
    snprintf(linkPath, sizeof(linkPath), "%s/link", rootDir);
    assert_int_equal(symlink(outside, linkPath), 0);
    StorageRead *reader = NULL;
    assert_int_equal(storageReadOpen(storage, "link", 0, STORAGE_READ_ALL, &reader), BACKUP_IO_FAILED);
    assert_null(reader);
    assert_non_null(strstr(errLast()->reason, "symbolic link"));
    StorageInfo info;
    assert_int_equal(storageStat(storage, "link", &info), BACKUP_IO_FAILED);
    char fifoPath[PATH_MAX];
    snprintf(fifoPath, sizeof(fifoPath), "%s/fifo", rootDir);
    assert_int_equal(mkfifo(fifoPath, 0600), 0);
    assert_int_equal(storageReadOpen(storage, "fifo", 0, STORAGE_READ_ALL, &reader), BACKUP_IO_FAILED);
    assert_non_null(strstr(errLast()->reason, "not a regular file"));
    char subdir[PATH_MAX];
    snprintf(subdir, sizeof(subdir), "%s/dir", rootDir);
    assert_int_equal(mkdir(subdir, 0700), 0);
    assert_int_equal(storageReadOpen(storage, "dir", 0, STORAGE_READ_ALL, &reader), BACKUP_IO_FAILED);
    assert_int_equal(storageReadOpen(storage, "nothing", 0, STORAGE_READ_ALL, &reader), BACKUP_NOT_FOUND);
    unlink(outside);
    storageFree(storage);
}

static void testLock(void **state)
{
    (void)state;
    Storage *storage = openRoot();
    StorageLockOwner owner = {.owner = "neo4j-backup --create", .host = "db1"};
    StorageLock *first = NULL, *second = NULL;
    assert_int_equal(storageLockAcquire(storage, "locks/repo.lock", &owner, 60, &first), ERR_OK);
    assert_int_equal(storageLockRefresh(first), ERR_OK);
    assert_int_equal(storageLockAcquire(storage, "locks/repo.lock", &owner, 60, &second), BACKUP_LOCKED);
    assert_null(second);
    assert_non_null(strstr(errLast()->reason, "neo4j-backup --create on db1"));
    storageLockRelease(first);
    assert_int_equal(storageLockAcquire(storage, "locks/repo.lock", &owner, 60, &second), ERR_OK);
    storageLockRelease(second);
    assert_int_equal(storageLockAcquire(storage, "locks/repo.lock", &owner, 0, &second), CONFIG_INVALID);
    storageFree(storage);
}

static void testSpace(void **state)
{
    (void)state;
    Storage *storage = openRoot();
    StorageSpace space;
    assert_int_equal(storageSpace(storage, &space), ERR_OK);
    assert_true(space.applicable);
    assert_true(space.totalBytes > 0);
    assert_true(space.availableBytes <= space.totalBytes);
    storageFree(storage);
}

typedef struct {
    char names[16][64];
    StorageKind kinds[16];
    uint64_t sizes[16];
    int count;
} Entries;

static ErrCode collectEntries(const StorageInfo *info, void *payload)
{
    Entries *entries = payload;
    assert_true(entries->count < 16);
    snprintf(entries->names[entries->count], sizeof(entries->names[0]), "%s", info->name);
    entries->kinds[entries->count] = info->kind;
    entries->sizes[entries->count] = info->size;
    entries->count++;
    return ERR_OK;
}

static int findEntry(const Entries *entries, const char *name)
{
    for (int index = 0; index < entries->count; index++)
        if (strcmp(entries->names[index], name) == 0)
            return index;
    return -1;
}

static void rootPath(char *out, size_t size, const char *name) { snprintf(out, size, "%s/%s", rootDir, name); }

static void testListDirKindsAndInfo(void **state)
{
    (void)state;
    Storage *storage = openRoot();
    writeWhole(storage, "b1/manifest.json", "{}");
    writeWhole(storage, "b1/deep/x", "xyz");
    writeWhole(storage, "top", "12345");
    char path[PATH_MAX], other[PATH_MAX];
    rootPath(path, sizeof(path), "link");
    rootPath(other, sizeof(other), "b1");
    assert_int_equal(symlink(other, path), 0);
    rootPath(path, sizeof(path), "fifo");
    assert_int_equal(mkfifo(path, 0600), 0);
    rootPath(path, sizeof(path), "top.nbk-tmp-1-1"); /* an unfinished write */
    FILE *file = fopen(path, "w");
    fclose(file);

    Entries entries = {0};
    assert_int_equal(storageListDir(storage, "", collectEntries, &entries), ERR_OK);
    assert_int_equal(entries.count, 4);
    assert_int_equal(entries.kinds[findEntry(&entries, "b1")], STORAGE_KIND_DIR);
    assert_int_equal(entries.kinds[findEntry(&entries, "link")], STORAGE_KIND_LINK);
    assert_int_equal(entries.kinds[findEntry(&entries, "fifo")], STORAGE_KIND_OTHER);
    assert_int_equal(entries.kinds[findEntry(&entries, "top")], STORAGE_KIND_FILE);
    assert_int_equal(entries.sizes[findEntry(&entries, "top")], 5);
    memset(&entries, 0, sizeof(entries));
    assert_int_equal(storageListDir(storage, "b1", collectEntries, &entries), ERR_OK);
    assert_int_equal(entries.count, 2);
    assert_int_equal(entries.kinds[findEntry(&entries, "b1/deep")], STORAGE_KIND_DIR);
    assert_int_equal(entries.kinds[findEntry(&entries, "b1/manifest.json")], STORAGE_KIND_FILE);
    memset(&entries, 0, sizeof(entries));
    assert_int_equal(storageListDir(storage, "absent", collectEntries, &entries), ERR_OK);
    assert_int_equal(entries.count, 0);

    StorageInfo info;
    assert_int_equal(storageInfo(storage, "link", &info), ERR_OK);
    assert_int_equal(info.kind, STORAGE_KIND_LINK);
    assert_int_equal(storageInfo(storage, "fifo", &info), ERR_OK);
    assert_int_equal(info.kind, STORAGE_KIND_OTHER);
    assert_int_equal(storageInfo(storage, "top", &info), ERR_OK);
    assert_int_equal(info.kind, STORAGE_KIND_FILE);
    assert_int_equal(info.size, 5);
    assert_int_equal(storageInfo(storage, "nothing", &info), BACKUP_NOT_FOUND);

    StorageRead *reader = NULL;
    assert_int_equal(storageReadOpen(storage, "top", 0, STORAGE_READ_ALL, &reader), ERR_OK);
    assert_int_equal(storageReadInfo(reader, &info), ERR_OK);
    assert_int_equal(info.size, 5);
    assert_true(info.mtime > 0);
    storageReadClose(reader);
    storageFree(storage);
}

static void testDirCreateSyncMove(void **state)
{
    (void)state;
    Storage *storage = openRoot();
    assert_true(storageCanMove(storage));
    assert_int_equal(storageDirCreate(storage, ".tmp-b1-1"), ERR_OK);
    char path[PATH_MAX];
    rootPath(path, sizeof(path), ".tmp-b1-1");
    struct stat info;
    assert_int_equal(stat(path, &info), 0);
    assert_int_equal(info.st_mode & 0777, 0700);
    assert_int_equal(storageDirCreate(storage, ".tmp-b1-1"), BACKUP_IO_FAILED);
    assert_non_null(strstr(errLast()->reason, "already exists"));
    writeWhole(storage, ".tmp-b1-1/archive", "data");
    assert_int_equal(storageDirSync(storage, ".tmp-b1-1"), ERR_OK);
    assert_int_equal(storageDirSync(storage, "absent"), BACKUP_NOT_FOUND);

    /* A repository holds the graph: files 0600, directories 0700. */
    char filePath[PATH_MAX];
    rootPath(filePath, sizeof(filePath), ".tmp-b1-1/archive");
    assert_int_equal(stat(filePath, &info), 0);
    assert_int_equal(info.st_mode & 0777, 0600);
    writeWhole(storage, "new/deep/file", "x");
    rootPath(filePath, sizeof(filePath), "new/deep");
    assert_int_equal(stat(filePath, &info), 0);
    assert_int_equal(info.st_mode & 0777, 0700);
    assert_int_equal(storageMove(storage, ".tmp-b1-1", "b1", STORAGE_WRITE_NO_REPLACE), ERR_OK);
    StorageInfo moved;
    assert_int_equal(storageStat(storage, "b1/archive", &moved), ERR_OK);
    assert_int_equal(moved.size, 4);
    assert_int_equal(storageInfo(storage, ".tmp-b1-1", &moved), BACKUP_NOT_FOUND);
    /* NO_REPLACE refuses an existing directory, even an empty one. */
    assert_int_equal(storageDirCreate(storage, "b2"), ERR_OK);
    assert_int_equal(storageMove(storage, "b1", "b2", STORAGE_WRITE_NO_REPLACE), BACKUP_IO_FAILED);
    assert_non_null(strstr(errLast()->reason, "already exists"));
    assert_int_equal(storageStat(storage, "b1/archive", &moved), ERR_OK);
    assert_int_equal(storageMove(storage, "absent", "b3", 0), BACKUP_NOT_FOUND);
    assert_int_equal(storageMove(storage, "b1", "../escape", 0), CONFIG_INVALID);
    storageFree(storage);
}

static void testLockModes(void **state)
{
    (void)state;
    Storage *storage = openRoot();
    StorageLockOwner reader = {.owner = "neo4j-restore --backup-id b1"};
    StorageLock *first = NULL, *second = NULL, *third = NULL;
    assert_false(storageLockHeld(storage, "b1/.lock"));
    /* A lock never creates its directory (a deleted backup stays deleted). */
    assert_int_equal(storageLockAcquireMode(storage, "b1/.lock", &reader, STORAGE_LOCK_SHARED, 0, 60, &first),
                     BACKUP_NOT_FOUND);
    StorageInfo absent;
    assert_int_equal(storageInfo(storage, "b1", &absent), BACKUP_NOT_FOUND);
    assert_int_equal(storageDirCreate(storage, "b1"), ERR_OK);
    assert_int_equal(storageLockAcquireMode(storage, "b1/.lock", &reader, STORAGE_LOCK_SHARED, 0, 60, &first), ERR_OK);
    assert_true(storageLockHeld(storage, "b1/.lock"));
    assert_int_equal(storageLockAcquireMode(storage, "b1/.lock", &reader, STORAGE_LOCK_SHARED, 0, 60, &second), ERR_OK);
    StorageLockOwner deleter = {.owner = "deleting"};
    assert_int_equal(storageLockAcquireMode(storage, "b1/.lock", &deleter, STORAGE_LOCK_EXCLUSIVE, 200, 60, &third),
                     BACKUP_LOCKED);
    assert_null(third);
    storageLockRelease(first);
    storageLockRelease(second);
    assert_false(storageLockHeld(storage, "b1/.lock"));
    assert_int_equal(storageLockAcquireMode(storage, "b1/.lock", &deleter, STORAGE_LOCK_EXCLUSIVE, 0, 60, &third),
                     ERR_OK);
    /* The purpose is shown as given, without a host the caller did not name. */
    assert_int_equal(storageLockAcquireMode(storage, "b1/.lock", &reader, STORAGE_LOCK_SHARED, 0, 60, &first),
                     BACKUP_LOCKED);
    assert_non_null(strstr(errLast()->reason, "(deleting)"));
    storageLockRelease(third);
    storageFree(storage);
}

static void testOpenRepository(void **state)
{
    (void)state;
    char path[PATH_MAX];
    rootPath(path, sizeof(path), "repo/nested/");
    Storage *storage = NULL;
    assert_int_equal(storagePosixOpen(path, false, &storage), BACKUP_IO_FAILED);
    assert_null(storage);
    assert_non_null(strstr(errLast()->reason, "cannot open backup storage"));
    assert_int_equal(storagePosixOpen(path, true, &storage), ERR_OK);
    rootPath(path, sizeof(path), "repo/nested");
    assert_string_equal(storagePosixRoot(storage), path);
    struct stat info;
    assert_int_equal(stat(path, &info), 0);
    assert_int_equal(info.st_mode & 0777, 0700);
    storageFree(storage);
    rootPath(path, sizeof(path), "plain");
    FILE *file = fopen(path, "w");
    fclose(file);
    assert_int_equal(storagePosixOpen(path, false, &storage), BACKUP_IO_FAILED);
    assert_non_null(strstr(errLast()->reason, "is not a directory"));
    /* An object storage location never becomes a local directory "s3:". */
    assert_int_equal(storagePosixOpen("s3://bucket/prefix", true, &storage), CONFIG_INVALID);
    assert_int_equal(access("s3:", F_OK), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(testAtomicWrite, setUp, tearDown),
        cmocka_unit_test_setup_teardown(testAbort, setUp, tearDown),
        cmocka_unit_test_setup_teardown(testListRemove, setUp, tearDown),
        cmocka_unit_test_setup_teardown(testRefusesLinksAndNonFiles, setUp, tearDown),
        cmocka_unit_test_setup_teardown(testLock, setUp, tearDown),
        cmocka_unit_test_setup_teardown(testSpace, setUp, tearDown),
        cmocka_unit_test_setup_teardown(testListDirKindsAndInfo, setUp, tearDown),
        cmocka_unit_test_setup_teardown(testDirCreateSyncMove, setUp, tearDown),
        cmocka_unit_test_setup_teardown(testLockModes, setUp, tearDown),
        cmocka_unit_test_setup_teardown(testOpenRepository, setUp, tearDown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
