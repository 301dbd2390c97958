/* The copy service (copy/copy.h) between two posix repositories in temporary
 * directories: one backup and every backup copied, verified and visible only
 * complete; already-present copies skipped, damaged ones replaced; a source
 * whose archive fails its checksum, a busy destination and a cancel leave
 * nothing visible; the dry run changes nothing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "backup/backup.h"
#include "catalog/catalog.h"
#include "common/fsutil.h"
#include "common/log.h"
#include "copy/copy.h"

#include <dirent.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "temp_repo.h"

typedef struct {
    Catalog *source;
    Catalog *copy;
} Repos;

/* The source in slot 0 (<workDir>/primary), the copy in slot 1 (<workDir>/copy). */
static int setUp(void **state)
{
    if (tempRepoBegin("nbk-copy") != 0)
        return -1;
    Repos *repos = calloc(1, sizeof(*repos));
    if (tempRepoOpen("primary", &repos->source) != 0 || tempRepoOpen("copy", &repos->copy) != 0)
        return -1;
    *state = repos;
    return 0;
}

static int tearDown(void **state)
{
    Repos *repos = *state;
    catClose(repos->source);
    catClose(repos->copy);
    free(repos);
    return tempRepoEnd();
}

/* SHA-256 of "0123456789", the archive makeBackup writes (not a real archive). */
#define ARCHIVE_SHA256 "84d89877f0d4041efb6bf91a16f0248f2fd573e6af05c19f96bedb9f882f7882"

static void makeBackupOf(Catalog *catalog, int64_t created, const char *status, const char *bytes, const char *sha256,
                         char id[CAT_ID_SIZE])
{
    assert_int_equal(catNewId(catalog, created, id), ERR_OK);
    CatBackupDir *dir = NULL;
    assert_int_equal(catBackupDirBegin(catalog, id, &dir), ERR_OK);
    char archive[PATH_MAX];
    assert_int_equal(fsPathJoin(archive, sizeof(archive), catBackupDirPath(dir), "graph.nbk"), ERR_OK);
    assert_int_equal(fsWriteAtomic(archive, bytes, 10, 0600), ERR_OK);
    Manifest *manifest = manifestNew();
    manifestSetString(&manifest->id, id);
    manifest->created = created;
    manifestSetString(&manifest->status, status);
    manifestSetString(&manifest->method, "logical");
    manifestSetString(&manifest->archive.file, "graph.nbk");
    manifest->archive.sizeCompressed = 10;
    manifestSetString(&manifest->archive.sha256, sha256);
    assert_int_equal(manifestSave(manifest, catBackupDirPath(dir)), ERR_OK);
    manifestFree(manifest);
    assert_int_equal(catBackupDirCommit(dir), ERR_OK);
}

static void makeBackup(Catalog *catalog, int64_t created, const char *status, char id[CAT_ID_SIZE])
{
    makeBackupOf(catalog, created, status, "0123456789", ARCHIVE_SHA256, id);
}

static void writeArchive(const char *root, const char *id, const char *bytes, size_t length)
{
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/%s/graph.nbk", root, id);
    assert_int_equal(fsWriteAtomic(path, bytes, length, 0600), ERR_OK);
}

static bool archiveEquals(const char *root, const char *id, const char *expected)
{
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/%s/graph.nbk", root, id);
    FILE *file = fopen(path, "rb");
    if (!file)
        return false;
    char buffer[64] = "";
    size_t got = fread(buffer, 1, sizeof(buffer) - 1, file);
    fclose(file);
    return got == strlen(expected) && memcmp(buffer, expected, got) == 0;
}

/* Entries of the copy's root other than committed backups and the locks
 * (temporary or deleting directories): none may be left behind. */
static int strayEntries(void)
{
    DIR *dir = opendir(tempRepoStorageAt(1));
    assert_non_null(dir);
    int stray = 0;
    struct dirent *entry;
    while ((entry = readdir(dir)) != NULL)
        if (entry->d_name[0] == '.' && strcmp(entry->d_name, ".") != 0 && strcmp(entry->d_name, "..") != 0 &&
            strcmp(entry->d_name, ".lock") != 0 && strcmp(entry->d_name, ".create.lock") != 0)
            stray++;
    closedir(dir);
    return stray;
}

typedef struct {
    int kinds[32];
    unsigned count;
    volatile sig_atomic_t *cancelOnStart;
} Seen;

static void seeEvent(const CopyEvent *event, void *payload)
{
    Seen *seen = payload;
    if (seen->count < 32)
        seen->kinds[seen->count++] = (int)event->kind;
    if (event->kind == COPY_EVENT_STARTING && seen->cancelOnStart)
        *seen->cancelOnStart = 1;
}

static bool saw(const Seen *seen, CopyEventKind kind)
{
    for (unsigned index = 0; index < seen->count; index++)
        if (seen->kinds[index] == (int)kind)
            return true;
    return false;
}

static ErrCode runCopy(Repos *repos, const char *id, bool dryRun, size_t chunk, CopyResult *result, Seen *seen)
{
    memset(seen, 0, sizeof(*seen));
    CopyRequest request = {.source = repos->source, .destination = repos->copy, .backupId = id, .dryRun = dryRun,
                           .chunkBytes = chunk};
    return copyRun(&request, result, &(CopyEvents){.onEvent = seeEvent, .payload = seen});
}

static void testCopyOneThenSkip(void **state)
{
    Repos *repos = *state;
    char id[CAT_ID_SIZE];
    makeBackup(repos->source, 1767000000, MANIFEST_STATUS_COMPLETE, id);
    CopyResult result;
    Seen seen;
    /* A 3-byte chunk: the archive streams through several reads. */
    assert_int_equal(runCopy(repos, id, false, 3, &result, &seen), ERR_OK);
    assert_int_equal(result.copied, 1);
    assert_int_equal(result.bytes, 10);
    assert_true(saw(&seen, COPY_EVENT_STARTING) && saw(&seen, COPY_EVENT_COPIED));
    CatEntry entry = {0};
    assert_int_equal(catFind(repos->copy, id, &entry), ERR_OK);
    assert_non_null(entry.manifest);
    assert_true(catEntryUsable(&entry));
    assert_string_equal(entry.manifest->archive.sha256, ARCHIVE_SHA256);
    assert_int_equal(catVerifyArchive(repos->copy, &entry), ERR_OK);
    catEntryFree(&entry);
    assert_true(archiveEquals(tempRepoStorageAt(1), id, "0123456789"));
    assert_int_equal(strayEntries(), 0);

    /* Again: already there and valid. */
    assert_int_equal(runCopy(repos, id, false, 0, &result, &seen), ERR_OK);
    assert_int_equal(result.copied, 0);
    assert_int_equal(result.skipped, 1);
    assert_true(saw(&seen, COPY_EVENT_SKIPPED));
    assert_false(saw(&seen, COPY_EVENT_STARTING));

    assert_int_equal(runCopy(repos, "neo4j-19990101-000000", false, 0, &result, &seen), BACKUP_NOT_FOUND);
    assert_int_equal(runCopy(repos, "../x", false, 0, &result, &seen), ERR_USAGE);
}

static void testCopyAllDryRunFirst(void **state)
{
    Repos *repos = *state;
    char first[CAT_ID_SIZE], second[CAT_ID_SIZE], third[CAT_ID_SIZE], failed[CAT_ID_SIZE];
    makeBackup(repos->source, 1767000000, MANIFEST_STATUS_COMPLETE, first);
    makeBackup(repos->source, 1767100000, MANIFEST_STATUS_VALIDATED, second);
    makeBackup(repos->source, 1767200000, MANIFEST_STATUS_COMPLETE, third);
    makeBackup(repos->source, 1767300000, MANIFEST_STATUS_FAILED, failed);
    CopyResult result;
    Seen seen;
    assert_int_equal(runCopy(repos, second, false, 0, &result, &seen), ERR_OK);

    assert_int_equal(runCopy(repos, NULL, true, 0, &result, &seen), ERR_OK);
    assert_int_equal(result.planned, 2);
    assert_int_equal(result.skipped, 1);
    assert_int_equal(result.notCopied, 1);
    assert_int_equal(result.copied, 0);
    CatEntry entry = {0};
    assert_int_equal(catFind(repos->copy, first, &entry), BACKUP_NOT_FOUND);
    assert_int_equal(catFind(repos->copy, third, &entry), BACKUP_NOT_FOUND);

    assert_int_equal(runCopy(repos, NULL, false, 0, &result, &seen), ERR_OK);
    assert_int_equal(result.copied, 2);
    assert_int_equal(result.skipped, 1);
    assert_int_equal(result.notCopied, 1);
    assert_true(saw(&seen, COPY_EVENT_NOT_COPIED));
    CatList list = {0};
    assert_int_equal(catList(repos->copy, &list), ERR_OK);
    assert_int_equal(list.count, 3);
    for (size_t index = 0; index < list.count; index++)
        assert_true(catEntryUsable(&list.entries[index]));
    catListFree(&list);

    /* The failed backup, asked for by name, is a failed copy. */
    assert_int_equal(runCopy(repos, failed, false, 0, &result, &seen), BACKUP_COPY_FAILED);
    assert_int_equal(catFind(repos->copy, failed, &entry), BACKUP_NOT_FOUND);
}

static void testBadSourceChecksumLeavesNothing(void **state)
{
    Repos *repos = *state;
    char id[CAT_ID_SIZE];
    makeBackup(repos->source, 1767000000, MANIFEST_STATUS_COMPLETE, id);
    writeArchive(tempRepoStorageAt(0), id, "9876543210", 10); /* same size, other bytes */
    CopyResult result;
    Seen seen;
    assert_int_equal(runCopy(repos, id, false, 0, &result, &seen), BACKUP_COPY_FAILED);
    assert_non_null(strstr(errLast()->reason, "checksum mismatch"));
    assert_int_equal(result.failed, 1);
    assert_true(saw(&seen, COPY_EVENT_FAILED));
    CatEntry entry = {0};
    assert_int_equal(catFind(repos->copy, id, &entry), BACKUP_NOT_FOUND);
    assert_int_equal(strayEntries(), 0);
    /* Every-backup mode reports the same failure and goes on with the others. */
    char good[CAT_ID_SIZE];
    makeBackup(repos->source, 1767100000, MANIFEST_STATUS_COMPLETE, good);
    assert_int_equal(runCopy(repos, NULL, false, 0, &result, &seen), BACKUP_COPY_FAILED);
    assert_int_equal(result.copied, 1);
    assert_int_equal(result.failed, 1);
    assert_int_equal(catFind(repos->copy, good, &entry), ERR_OK);
    catEntryFree(&entry);
}

static void testDamagedCopyReplaced(void **state)
{
    Repos *repos = *state;
    char id[CAT_ID_SIZE];
    makeBackup(repos->source, 1767000000, MANIFEST_STATUS_COMPLETE, id);
    CopyResult result;
    Seen seen;
    assert_int_equal(runCopy(repos, id, false, 0, &result, &seen), ERR_OK);
    writeArchive(tempRepoStorageAt(1), id, "01234", 5); /* truncated copy */
    assert_int_equal(runCopy(repos, id, true, 0, &result, &seen), ERR_OK);
    assert_int_equal(result.planned, 1);
    assert_true(saw(&seen, COPY_EVENT_REPLACING));
    assert_true(archiveEquals(tempRepoStorageAt(1), id, "01234")); /* dry run: untouched */
    assert_int_equal(runCopy(repos, id, false, 0, &result, &seen), ERR_OK);
    assert_int_equal(result.copied, 1);
    assert_true(saw(&seen, COPY_EVENT_REPLACING));
    assert_true(archiveEquals(tempRepoStorageAt(1), id, "0123456789"));
    assert_int_equal(strayEntries(), 0);
}

/* The scheduler's catch-up: only what is newer than the newest copy, so
 * that what the copy's retention removed is not copied back. */
static void testNewerOnly(void **state)
{
    Repos *repos = *state;
    char old[CAT_ID_SIZE], middle[CAT_ID_SIZE], recent[CAT_ID_SIZE], latest[CAT_ID_SIZE];
    makeBackup(repos->source, 1767000000, MANIFEST_STATUS_COMPLETE, old);
    makeBackup(repos->source, 1767100000, MANIFEST_STATUS_COMPLETE, middle);
    makeBackup(repos->source, 1767200000, MANIFEST_STATUS_COMPLETE, recent);
    makeBackup(repos->source, 1767300000, MANIFEST_STATUS_COMPLETE, latest);
    CopyResult result;
    Seen seen;
    assert_int_equal(runCopy(repos, middle, false, 0, &result, &seen), ERR_OK);
    CopyRequest request = {.source = repos->source, .destination = repos->copy, .newerOnly = true};
    assert_int_equal(copyRun(&request, &result, NULL), ERR_OK);
    assert_int_equal(result.copied, 2);
    assert_int_equal(result.skipped, 0);
    CatEntry entry = {0};
    assert_int_equal(catFind(repos->copy, old, &entry), BACKUP_NOT_FOUND);
    assert_int_equal(catFind(repos->copy, recent, &entry), ERR_OK);
    catEntryFree(&entry);
    assert_int_equal(catFind(repos->copy, latest, &entry), ERR_OK);
    catEntryFree(&entry);
}

/* Another repository's valid backup of the same id in the shared copy location is never deleted. */
static void testOtherBackupOfTheSameIdLeftAlone(void **state)
{
    Repos *repos = *state;
    char id[CAT_ID_SIZE], other[CAT_ID_SIZE];
    makeBackup(repos->source, 1767000000, MANIFEST_STATUS_COMPLETE, id);
    makeBackupOf(repos->copy, 1767000000, MANIFEST_STATUS_COMPLETE, "abcdefghij",
                 "72399361da6a7754fec986dca5b7cbaf1c810a28ded4abaf56b2106d06cb78b0", other);
    assert_string_equal(id, other);
    CopyResult result;
    Seen seen;
    assert_int_equal(runCopy(repos, id, false, 0, &result, &seen), BACKUP_COPY_FAILED);
    assert_non_null(strstr(errLast()->reason, "another valid backup"));
    assert_false(saw(&seen, COPY_EVENT_REPLACING));
    assert_true(archiveEquals(tempRepoStorageAt(1), id, "abcdefghij"));
}

static void testBusyDestinationAndCancel(void **state)
{
    Repos *repos = *state;
    char id[CAT_ID_SIZE];
    makeBackup(repos->source, 1767000000, MANIFEST_STATUS_COMPLETE, id);
    /* Another writer (a create) holds the destination's create lock. */
    StorageLock *held = NULL;
    assert_int_equal(backupBeginCreate(repos->copy, "backup --create", &held, NULL, NULL), ERR_OK);
    CopyResult result;
    Seen seen;
    assert_int_equal(runCopy(repos, id, false, 0, &result, &seen), BACKUP_LOCKED);
    storageLockRelease(held);
    CatEntry entry = {0};
    assert_int_equal(catFind(repos->copy, id, &entry), BACKUP_NOT_FOUND);

    volatile sig_atomic_t cancel = 0;
    memset(&seen, 0, sizeof(seen));
    seen.cancelOnStart = &cancel;
    CopyRequest request = {.source = repos->source, .destination = repos->copy, .backupId = id,
                           .cancelFlag = &cancel};
    assert_int_equal(copyRun(&request, &result, &(CopyEvents){.onEvent = seeEvent, .payload = &seen}),
                     OPERATION_INTERRUPTED);
    assert_int_equal(catFind(repos->copy, id, &entry), BACKUP_NOT_FOUND);
    assert_int_equal(strayEntries(), 0);
    /* The source is untouched by all of it. */
    assert_true(archiveEquals(tempRepoStorageAt(0), id, "0123456789"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(testCopyOneThenSkip, setUp, tearDown),
        cmocka_unit_test_setup_teardown(testCopyAllDryRunFirst, setUp, tearDown),
        cmocka_unit_test_setup_teardown(testBadSourceChecksumLeavesNothing, setUp, tearDown),
        cmocka_unit_test_setup_teardown(testDamagedCopyReplaced, setUp, tearDown),
        cmocka_unit_test_setup_teardown(testNewerOnly, setUp, tearDown),
        cmocka_unit_test_setup_teardown(testOtherBackupOfTheSameIdLeftAlone, setUp, tearDown),
        cmocka_unit_test_setup_teardown(testBusyDestinationAndCancel, setUp, tearDown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
