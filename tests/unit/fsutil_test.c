/* File-system helpers: mkdir -p, atomic writes, bounded reads, tree removal
 * that stays inside its root and never follows links, sizes, free space. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "common/fsutil.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct {
    char root[256];
} Fixture;

static void pathIn(const Fixture *fixture, char *out, const char *relative)
{
    snprintf(out, PATH_MAX, "%s/%s", fixture->root, relative);
}

static void writeText(const char *path, const char *text)
{
    FILE *file = fopen(path, "w");
    assert_non_null(file);
    fputs(text, file);
    fclose(file);
}

static int setUp(void **state)
{
    Fixture *fixture = calloc(1, sizeof(*fixture));
    snprintf(fixture->root, sizeof(fixture->root), "/tmp/nbk-fsutil-XXXXXX");
    if (!mkdtemp(fixture->root))
        return -1;
    *state = fixture;
    return 0;
}

static int tearDown(void **state)
{
    Fixture *fixture = *state;
    char command[PATH_MAX + 16];
    snprintf(command, sizeof(command), "rm -rf '%s'", fixture->root);
    int status = system(command);
    free(fixture);
    return status == 0 ? 0 : -1;
}

static size_t countEntries(const char *path)
{
    DIR *dir = opendir(path);
    assert_non_null(dir);
    size_t count = 0;
    struct dirent *entry;
    while ((entry = readdir(dir)) != NULL)
        if (strcmp(entry->d_name, ".") != 0 && strcmp(entry->d_name, "..") != 0)
            count++;
    closedir(dir);
    return count;
}

static void testMkdirP(void **state)
{
    Fixture *fixture = *state;
    char path[PATH_MAX];
    pathIn(fixture, path, "a/b/c");
    assert_int_equal(fsMkdirP(path, 0700), ERR_OK);
    struct stat info;
    assert_int_equal(stat(path, &info), 0);
    assert_true(S_ISDIR(info.st_mode));
    assert_int_equal(info.st_mode & 0777, 0700);
    assert_int_equal(fsMkdirP(path, 0700), ERR_OK); /* existing is fine */
    /* A file in the way is an error that names the path. */
    char file[PATH_MAX], below[PATH_MAX];
    pathIn(fixture, file, "a/file");
    writeText(file, "x");
    pathIn(fixture, below, "a/file/sub");
    assert_int_equal(fsMkdirP(below, 0700), BACKUP_IO_FAILED);
    assert_non_null(strstr(errLast()->reason, "a/file"));
}

static void testWriteAtomicAndRead(void **state)
{
    Fixture *fixture = *state;
    char path[PATH_MAX];
    pathIn(fixture, path, "data.json");
    assert_int_equal(fsWriteAtomic(path, "first", 5, 0600), ERR_OK);
    assert_int_equal(fsWriteAtomic(path, "second!", 7, 0600), ERR_OK);
    Buffer content;
    bufferInit(&content);
    assert_int_equal(fsReadFile(path, 100, &content), ERR_OK);
    assert_int_equal(content.length, 7);
    assert_memory_equal(content.data, "second!", 7);
    /* No temporary file is left next to it. */
    assert_int_equal(countEntries(fixture->root), 1);
    struct stat info;
    assert_int_equal(stat(path, &info), 0);
    assert_int_equal(info.st_mode & 0777, 0600);
    /* Bounded read. */
    assert_int_equal(fsReadFile(path, 3, &content), BACKUP_IO_FAILED);
    assert_non_null(strstr(errLast()->reason, "larger than"));
    /* Missing files name the path. */
    char missing[PATH_MAX];
    pathIn(fixture, missing, "missing");
    assert_int_equal(fsReadFile(missing, 100, &content), BACKUP_IO_FAILED);
    assert_non_null(strstr(errLast()->reason, "missing"));
    /* A directory is not a file. */
    assert_int_equal(fsReadFile(fixture->root, 100, &content), BACKUP_IO_FAILED);
    bufferFree(&content);
}

static void testWriteAtomicFailureLeavesOldFile(void **state)
{
    Fixture *fixture = *state;
    char path[PATH_MAX];
    pathIn(fixture, path, "nodir/data");
    assert_int_equal(fsWriteAtomic(path, "x", 1, 0600), BACKUP_IO_FAILED);
    assert_non_null(strstr(errLast()->reason, "nodir"));
}

static void testRemoveTreeStaysInsideRoot(void **state)
{
    Fixture *fixture = *state;
    char storage[PATH_MAX], outside[PATH_MAX], victim[PATH_MAX], path[PATH_MAX], link[PATH_MAX];
    pathIn(fixture, storage, "storage");
    pathIn(fixture, outside, "outside");
    assert_int_equal(fsMkdirP(storage, 0700), ERR_OK);
    assert_int_equal(fsMkdirP(outside, 0700), ERR_OK);
    pathIn(fixture, victim, "outside/precious");
    writeText(victim, "keep me");

    /* A backup tree with nested dirs and links to the outside. */
    pathIn(fixture, path, "storage/b1/sub/deeper");
    assert_int_equal(fsMkdirP(path, 0700), ERR_OK);
    pathIn(fixture, path, "storage/b1/sub/deeper/file");
    writeText(path, "data");
    pathIn(fixture, link, "storage/b1/link-to-outside");
    assert_int_equal(symlink(outside, link), 0);
    pathIn(fixture, link, "storage/b1/sub/link-to-file");
    assert_int_equal(symlink(victim, link), 0);

    char backup[PATH_MAX];
    pathIn(fixture, backup, "storage/b1");
    assert_int_equal(fsRemoveTree(storage, backup), ERR_OK);
    assert_false(fsExists(backup));
    assert_true(fsExists(victim)); /* links were removed, targets untouched */
    assert_int_equal(fsRemoveTree(storage, backup), ERR_OK); /* missing is fine */

    /* Refusals: the root itself, outside paths, ".." escapes, and a link that
     * points outside (removed as a link only). */
    assert_int_equal(fsRemoveTree(storage, storage), BACKUP_IO_FAILED);
    assert_int_equal(fsRemoveTree(storage, outside), BACKUP_IO_FAILED);
    assert_non_null(strstr(errLast()->reason, "outside"));
    pathIn(fixture, path, "storage/../outside");
    assert_int_equal(fsRemoveTree(storage, path), BACKUP_IO_FAILED);
    assert_true(fsExists(victim));
    pathIn(fixture, link, "storage/escape");
    assert_int_equal(symlink(outside, link), 0);
    assert_int_equal(fsRemoveTree(storage, link), ERR_OK);
    assert_false(fsExists(link));
    assert_true(fsExists(victim));
    /* A path that reaches outside through a linked parent is refused. */
    pathIn(fixture, link, "storage/via");
    assert_int_equal(symlink(outside, link), 0);
    pathIn(fixture, path, "storage/via/precious");
    assert_int_equal(fsRemoveTree(storage, path), BACKUP_IO_FAILED);
    assert_true(fsExists(victim));
}

static void testDirSize(void **state)
{
    Fixture *fixture = *state;
    char path[PATH_MAX];
    pathIn(fixture, path, "sized/inner");
    assert_int_equal(fsMkdirP(path, 0700), ERR_OK);
    pathIn(fixture, path, "sized/a");
    writeText(path, "12345");
    pathIn(fixture, path, "sized/inner/b");
    writeText(path, "1234567890");
    char link[PATH_MAX];
    pathIn(fixture, link, "sized/link");
    assert_int_equal(symlink("/etc/passwd", link), 0); /* not followed, not counted */
    uint64_t size = 0;
    pathIn(fixture, path, "sized");
    assert_int_equal(fsDirSize(path, &size), ERR_OK);
    assert_int_equal(size, 15);
    pathIn(fixture, path, "nope");
    assert_int_equal(fsDirSize(path, &size), BACKUP_IO_FAILED);
}

static ErrCode fakeSpace(const char *path, FsSpace *out, void *payload)
{
    (void)path;
    out->availableBytes = *(const uint64_t *)payload;
    out->totalBytes = 1000;
    out->freePercent = (double)out->availableBytes / 10.0;
    return ERR_OK;
}

static void testSpace(void **state)
{
    Fixture *fixture = *state;
    FsSpace space;
    assert_int_equal(fsSpace(fixture->root, &space), ERR_OK);
    assert_true(space.totalBytes > 0);
    assert_true(space.availableBytes <= space.totalBytes);
    assert_true(space.freePercent >= 0 && space.freePercent <= 100);

    setenv("NBK_FAKE_SPACE", "150,1000", 1);
    assert_int_equal(fsSpace(fixture->root, &space), ERR_OK);
#ifdef NBK_TEST_HOOKS
    assert_int_equal(space.availableBytes, 150);
    assert_int_equal(space.totalBytes, 1000);
    assert_true(space.freePercent > 14.9 && space.freePercent < 15.1);
    setenv("NBK_FAKE_SPACE", "lots", 1);
    assert_int_equal(fsSpace(fixture->root, &space), CONFIG_INVALID);
#else
    /* A build without NBK_TEST_HOOKS ignores the hook: the real file system. */
    assert_true(space.totalBytes > 1000);
#endif
    unsetenv("NBK_FAKE_SPACE");

    uint64_t available = 42;
    fsSetSpaceOverride(fakeSpace, &available);
    assert_int_equal(fsSpace(fixture->root, &space), ERR_OK);
    assert_int_equal(space.availableBytes, 42);
    fsSetSpaceOverride(NULL, NULL);
    char missing[PATH_MAX];
    pathIn(fixture, missing, "missing");
    assert_int_equal(fsSpace(missing, &space), BACKUP_IO_FAILED);
}

static void testPathJoin(void **state)
{
    (void)state;
    char out[32];
    assert_int_equal(fsPathJoin(out, sizeof(out), "/backups", "id"), ERR_OK);
    assert_string_equal(out, "/backups/id");
    assert_int_equal(fsPathJoin(out, sizeof(out), "/backups///", "id"), ERR_OK);
    assert_string_equal(out, "/backups/id");
    assert_int_equal(fsPathJoin(out, sizeof(out), "/", "id"), ERR_OK);
    assert_string_equal(out, "/id");
    char small[8];
    assert_int_equal(fsPathJoin(small, sizeof(small), "/backups", "id"), BACKUP_IO_FAILED);
    assert_string_equal(small, "");
    assert_non_null(strstr(errLast()->reason, "too long"));
}

static void testErrnoMapping(void **state)
{
    (void)state;
    assert_int_equal(fsErrorFromErrno(ENOSPC, "cannot write", "/x"), BACKUP_NO_SPACE);
    assert_non_null(strstr(errLast()->reason, "cannot write /x"));
    assert_int_equal(fsErrorFromErrno(EACCES, "cannot write", "/x"), BACKUP_IO_FAILED);
}

static void testFsyncHelpers(void **state)
{
    Fixture *fixture = *state;
    char path[PATH_MAX];
    pathIn(fixture, path, "synced");
    writeText(path, "x");
    assert_int_equal(fsFsyncPath(path), ERR_OK);
    assert_int_equal(fsFsyncDir(fixture->root), ERR_OK);
    assert_int_equal(fsFsyncParent(path), ERR_OK);
    pathIn(fixture, path, "missing");
    assert_int_equal(fsFsyncPath(path), BACKUP_IO_FAILED);
    assert_true(fsIsDirectory(fixture->root));
    assert_false(fsIsDirectory(path));
}

/* Repository files: a FIFO must not hang the reader (issue 11: a FIFO named
 * manifest.json hung --list), links are refused, devices too. alarm() turns
 * a hang into a failure instead of a stuck test. */
static void testOpenRegularRefusesSpecialFiles(void **state)
{
    Fixture *fixture = *state;
    char regular[PATH_MAX], fifo[PATH_MAX], link[PATH_MAX], missing[PATH_MAX];
    pathIn(fixture, regular, "manifest.json");
    pathIn(fixture, fifo, "fifo");
    pathIn(fixture, link, "link");
    pathIn(fixture, missing, "missing");
    writeText(regular, "{}");
    assert_int_equal(mkfifo(fifo, 0600), 0);
    assert_int_equal(symlink(regular, link), 0);
    alarm(20);

    int fd = -1;
    struct stat info;
    assert_int_equal(fsOpenRegular(regular, &fd, &info), ERR_OK);
    assert_true(fd >= 0);
    assert_int_equal(info.st_size, 2);
    assert_int_equal(fcntl(fd, F_GETFL) & O_NONBLOCK, 0); /* reads block again, as usual */
    close(fd);
    assert_int_equal(fsOpenRegular(fifo, &fd, NULL), BACKUP_IO_FAILED);
    assert_non_null(strstr(errLast()->reason, "not a regular file"));
    assert_int_equal(fd, -1);
    assert_int_equal(fsOpenRegular(link, &fd, NULL), BACKUP_IO_FAILED);
    assert_non_null(strstr(errLast()->reason, "symbolic link"));
    assert_int_equal(fsOpenRegular(missing, &fd, NULL), BACKUP_NOT_FOUND);
    assert_int_equal(fsOpenRegular(fixture->root, &fd, NULL), BACKUP_IO_FAILED);
    assert_int_equal(fsOpenRegular("/dev/null", &fd, NULL), BACKUP_IO_FAILED);

    Buffer content;
    bufferInit(&content);
    assert_int_equal(fsReadRepoFile(fifo, 100, &content), BACKUP_IO_FAILED);
    assert_int_equal(fsReadRepoFile(link, 100, &content), BACKUP_IO_FAILED);
    assert_int_equal(fsReadRepoFile(regular, 100, &content), ERR_OK);
    assert_int_equal(content.length, 2);
    /* Configuration files may be links (Kubernetes secrets are), never FIFOs. */
    assert_int_equal(fsReadFile(link, 100, &content), ERR_OK);
    assert_int_equal(fsReadFile(fifo, 100, &content), BACKUP_IO_FAILED);
    bufferFree(&content);
    alarm(0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(testMkdirP, setUp, tearDown),
        cmocka_unit_test_setup_teardown(testWriteAtomicAndRead, setUp, tearDown),
        cmocka_unit_test_setup_teardown(testWriteAtomicFailureLeavesOldFile, setUp, tearDown),
        cmocka_unit_test_setup_teardown(testRemoveTreeStaysInsideRoot, setUp, tearDown),
        cmocka_unit_test_setup_teardown(testDirSize, setUp, tearDown),
        cmocka_unit_test_setup_teardown(testSpace, setUp, tearDown),
        cmocka_unit_test(testPathJoin),
        cmocka_unit_test(testErrnoMapping),
        cmocka_unit_test_setup_teardown(testFsyncHelpers, setUp, tearDown),
        cmocka_unit_test_setup_teardown(testOpenRegularRefusesSpecialFiles, setUp, tearDown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
