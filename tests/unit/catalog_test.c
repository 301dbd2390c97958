/* The backup repository: id validation, building backups in temporary
 * directories, listing (newest first, damaged manifests shown), find, delete
 * under locks, cleanup of leftovers, the keep flag, and retention applied to
 * real directories (the contract's 10 daily backups -> 7 remain); a catalog
 * opened on a Storage, and reading one on a storage that cannot rename
 * (writing there: catalog_inplace_test.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "catalog/catalog.h"
#include "common/fsutil.h"
#include "common/log.h"
#include "common/timeutil.h"
#include "storage/posix.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "temp_repo.h"

#define DAY TIME_SECONDS_PER_DAY

static int setUp(void **state)
{
    return tempRepoSetUp(state, "nbk-catalog");
}

static int tearDown(void **state)
{
    return tempRepoTearDown(state);
}

static void storagePath(char *out, const char *name)
{
    snprintf(out, PATH_MAX, "%s/%s", tempRepoStorage(), name);
}

/* SHA-256 of the archive content "0123456789" that makeBackup writes. */
#define ARCHIVE_SHA256 "84d89877f0d4041efb6bf91a16f0248f2fd573e6af05c19f96bedb9f882f7882"

/* Creates a committed backup the way the backup engine will. */
static void makeBackup(Catalog *catalog, int64_t created, const char *status, bool keep, char id[CAT_ID_SIZE])
{
    assert_int_equal(catNewId(catalog, created, id), ERR_OK);
    CatBackupDir *dir = NULL;
    assert_int_equal(catBackupDirBegin(catalog, id, &dir), ERR_OK);
    char archive[PATH_MAX];
    assert_int_equal(fsPathJoin(archive, sizeof(archive), catBackupDirPath(dir), "graph.nbk"), ERR_OK);
    assert_int_equal(fsWriteAtomic(archive, "0123456789", 10, 0600), ERR_OK);
    Manifest *manifest = manifestNew();
    manifestSetString(&manifest->id, id);
    manifest->created = created;
    manifestSetString(&manifest->status, status);
    manifestSetString(&manifest->archive.file, "graph.nbk");
    manifest->archive.sizeCompressed = 10;
    manifestSetString(&manifest->archive.sha256, ARCHIVE_SHA256);
    manifest->keep = keep;
    assert_int_equal(manifestSave(manifest, catBackupDirPath(dir)), ERR_OK);
    manifestFree(manifest);
    assert_int_equal(catBackupDirCommit(dir), ERR_OK);
}

static void testIdValidation(void **state)
{
    (void)state;
    static const char *const good[] = {"neo4j-20251227-153000", "a", "A.b_c-9", "neo4j-20251227-153000-2"};
    static const char *const bad[] = {
        "", ".hidden", "..", "a..b", "a/b", "/abs", "with space", "tab\t", "semi;colon", "ünï",
        "0123456789012345678901234567890123456789012345678901234567890123456789", "$(rm -rf)", "a\nb",
    };
    for (size_t index = 0; index < sizeof(good) / sizeof(good[0]); index++)
        assert_true(catIdValid(good[index]));
    for (size_t index = 0; index < sizeof(bad) / sizeof(bad[0]); index++) {
        if (catIdValid(bad[index]))
            fail_msg("accepted '%s'", bad[index]);
    }
    assert_false(catIdValid(NULL));
    assert_true(catIdValid("0123456789012345678901234567890123456789012345678901234567890123"));
    assert_int_equal(catIdCheck("../etc"), ERR_USAGE);
    assert_non_null(strstr(errLast()->reason, "invalid backup id"));
}

static void testOpen(void **state)
{
    (void)state;
    struct stat info;
    assert_int_equal(stat(tempRepoStorage(), &info), 0);
    assert_int_equal(info.st_mode & 0777, 0700);
    Catalog *other = NULL;
    char missing[400];
    snprintf(missing, sizeof(missing), "%s/missing", tempRepoWorkDir());
    assert_int_equal(catOpen(&other, missing, false), BACKUP_IO_FAILED);
    assert_null(other);
    assert_non_null(strstr(errLast()->action, "BACKUP_STORAGE_PATH"));
    char file[400];
    snprintf(file, sizeof(file), "%s/file", tempRepoWorkDir());
    assert_int_equal(fsWriteAtomic(file, "x", 1, 0600), ERR_OK);
    assert_int_equal(catOpen(&other, file, false), BACKUP_IO_FAILED);
    assert_int_equal(catOpen(&other, "", true), CONFIG_INVALID);
}

static void testBeginCommitAbort(void **state)
{
    Catalog *catalog = *state;
    int64_t created = timeFromParts(2025, 12, 27, 15, 30, 0);
    CatBackupDir *dir = NULL;
    assert_int_equal(catBackupDirBegin(catalog, "neo4j-20251227-153000", &dir), ERR_OK);
    char expectedTemp[PATH_MAX];
    snprintf(expectedTemp, sizeof(expectedTemp), "%s/.tmp-neo4j-20251227-153000-%ld", tempRepoStorage(), (long)getpid());
    assert_string_equal(catBackupDirPath(dir), expectedTemp);
    assert_string_equal(catBackupDirId(dir), "neo4j-20251227-153000");
    /* In progress: not listed, and the id is taken for catNewId. */
    CatList list;
    assert_int_equal(catList(catalog, &list), ERR_OK);
    assert_int_equal(list.count, 0);
    catListFree(&list);
    char id[CAT_ID_SIZE];
    assert_int_equal(catNewId(catalog, created, id), ERR_OK);
    assert_string_equal(id, "neo4j-20251227-153000-2");
    catBackupDirAbort(dir);
    assert_false(fsExists(expectedTemp));
    assert_int_equal(catNewId(catalog, created, id), ERR_OK);
    assert_string_equal(id, "neo4j-20251227-153000");

    makeBackup(catalog, created, MANIFEST_STATUS_COMPLETE, false, id);
    assert_string_equal(id, "neo4j-20251227-153000");
    assert_false(fsExists(expectedTemp));
    /* The same id again: refused; catNewId moves on. */
    assert_int_equal(catBackupDirBegin(catalog, id, &dir), BACKUP_IO_FAILED);
    assert_non_null(strstr(errLast()->reason, "already exists"));
    assert_int_equal(catNewId(catalog, created, id), ERR_OK);
    assert_string_equal(id, "neo4j-20251227-153000-2");
    assert_int_equal(catBackupDirBegin(catalog, "../escape", &dir), ERR_USAGE);

    CatEntry entry;
    assert_int_equal(catFind(catalog, "neo4j-20251227-153000", &entry), ERR_OK);
    assert_non_null(entry.manifest);
    assert_int_equal(entry.created, created);
    assert_int_equal(entry.origin, MANIFEST_FROM_PRIMARY);
    assert_true(entry.diskBytes > 10);
    catEntryFree(&entry);
}

static void testListSortedWithDamagedAndForeign(void **state)
{
    Catalog *catalog = *state;
    int64_t base = timeFromParts(2025, 12, 20, 2, 0, 0);
    char ids[3][CAT_ID_SIZE];
    makeBackup(catalog, base + DAY, MANIFEST_STATUS_COMPLETE, false, ids[0]);
    makeBackup(catalog, base + 3 * DAY, MANIFEST_STATUS_VALIDATED, false, ids[1]);
    makeBackup(catalog, base, MANIFEST_STATUS_FAILED, false, ids[2]);
    /* Damage both manifests of the middle one. */
    char path[PATH_MAX], name[CAT_ID_SIZE + 32];
    snprintf(name, sizeof(name), "%s/manifest.json", ids[0]);
    storagePath(path, name);
    assert_int_equal(fsWriteAtomic(path, "garbage", 7, 0600), ERR_OK);
    snprintf(name, sizeof(name), "%s/manifest.json.copy", ids[0]);
    storagePath(path, name);
    assert_int_equal(fsWriteAtomic(path, "{}", 2, 0600), ERR_OK);
    /* Things that are not backups. */
    storagePath(path, "notes");
    assert_int_equal(fsMkdirP(path, 0700), ERR_OK);
    storagePath(path, "README");
    assert_int_equal(fsWriteAtomic(path, "x", 1, 0600), ERR_OK);
    storagePath(path, "neo4j-20991231-000000");
    assert_int_equal(symlink("/tmp", path), 0);

    CatList list;
    assert_int_equal(catList(catalog, &list), ERR_OK);
    assert_int_equal(list.count, 3);
    assert_string_equal(list.entries[0].id, ids[1]);
    assert_string_equal(list.entries[1].id, ids[0]);
    assert_string_equal(list.entries[2].id, ids[2]);
    assert_null(list.entries[1].manifest);
    assert_non_null(strstr(list.entries[1].damage, "manifest damaged"));
    assert_int_equal(list.entries[1].created, base + DAY); /* from the id */
    assert_string_equal(list.entries[2].manifest->status, "FAILED");
    assert_int_equal(catListTotalBytes(&list),
                     list.entries[0].diskBytes + list.entries[1].diskBytes + list.entries[2].diskBytes);
    assert_true(catListTotalBytes(&list) > 30);
    catListFree(&list);
}

static void testFindErrors(void **state)
{
    Catalog *catalog = *state;
    CatEntry entry;
    assert_int_equal(catFind(catalog, "neo4j-20200101-000000", &entry), BACKUP_NOT_FOUND);
    assert_string_equal(errLast()->action, "List available backups with --list");
    assert_non_null(strstr(errLast()->reason, "neo4j-20200101-000000"));
    assert_int_equal(catFind(catalog, "../../etc", &entry), ERR_USAGE);
    assert_int_equal(catFind(catalog, ".lock", &entry), ERR_USAGE);
}

static void testDeleteAndLocks(void **state)
{
    Catalog *catalog = *state;
    char id[CAT_ID_SIZE];
    makeBackup(catalog, timeFromParts(2025, 12, 27, 2, 0, 0), MANIFEST_STATUS_COMPLETE, false, id);
    /* A restore holds the backup: delete refuses and names the holder. */
    StorageLock *reader = NULL;
    assert_int_equal(catLockBackup(catalog, id, LOCK_SHARED, 0, "neo4j-restore --backup-id X", &reader), ERR_OK);
    assert_int_equal(catDelete(catalog, id), BACKUP_LOCKED);
    assert_non_null(strstr(errLast()->action, "in use"));
    storageLockRelease(reader);
    /* Another process (here: another Catalog) holding the catalog lock. */
    Catalog *other = NULL;
    assert_int_equal(catOpen(&other, tempRepoStorage(), false), ERR_OK);
    assert_int_equal(catLock(other, LOCK_EXCLUSIVE, 0, "neo4j-backup --cleanup"), ERR_OK);
    assert_int_equal(catLock(catalog, LOCK_EXCLUSIVE, 0, "me"), BACKUP_LOCKED);
    assert_non_null(strstr(errLast()->reason, "neo4j-backup --cleanup"));
    catUnlock(other);
    catClose(other);
    /* Nested use of a held catalog lock. */
    assert_int_equal(catLock(catalog, LOCK_EXCLUSIVE, 0, "outer"), ERR_OK);
    assert_int_equal(catDelete(catalog, id), ERR_OK);
    catUnlock(catalog);
    CatEntry entry;
    assert_int_equal(catFind(catalog, id, &entry), BACKUP_NOT_FOUND);
    assert_int_equal(catDelete(catalog, id), BACKUP_NOT_FOUND);
    char path[PATH_MAX], name[CAT_ID_SIZE + 16];
    snprintf(name, sizeof(name), ".deleting-%s", id);
    storagePath(path, name);
    assert_false(fsExists(path));
    assert_int_equal(catLockBackup(catalog, id, LOCK_SHARED, 0, NULL, &reader), BACKUP_NOT_FOUND);
}

static void testKeepFlagAndManifestUpdate(void **state)
{
    Catalog *catalog = *state;
    char id[CAT_ID_SIZE];
    makeBackup(catalog, timeFromParts(2025, 12, 27, 2, 0, 0), MANIFEST_STATUS_COMPLETE, false, id);
    assert_int_equal(catSetKeep(catalog, id, true), ERR_OK);
    CatEntry entry;
    assert_int_equal(catFind(catalog, id, &entry), ERR_OK);
    assert_true(entry.manifest->keep);
    assert_int_equal(entry.origin, MANIFEST_FROM_PRIMARY);
    catEntryFree(&entry);
    assert_int_equal(catSetKeep(catalog, id, false), ERR_OK);
    assert_int_equal(catFind(catalog, id, &entry), ERR_OK);
    assert_false(entry.manifest->keep);
    catEntryFree(&entry);
    assert_int_equal(catSetKeep(catalog, "neo4j-19990101-000000", true), BACKUP_NOT_FOUND);
}

static void forgetPid(long *pid)
{
    pid_t child = fork();
    assert_true(child >= 0);
    if (child == 0)
        _exit(0);
    waitpid(child, NULL, 0);
    *pid = (long)child; /* a pid that is (almost certainly) not running now */
}

static void testCleanLeftovers(void **state)
{
    Catalog *catalog = *state;
    long deadPid;
    forgetPid(&deadPid);
    char dead[PATH_MAX], deadName[64], deleting[PATH_MAX], stale[PATH_MAX], fresh[PATH_MAX], file[PATH_MAX];
    snprintf(deadName, sizeof(deadName), ".tmp-neo4j-20251227-020000-%ld", deadPid);
    storagePath(dead, deadName);
    assert_int_equal(fsMkdirP(dead, 0700), ERR_OK);
    assert_int_equal(fsPathJoin(file, sizeof(file), dead, "graph.nbk"), ERR_OK);
    assert_int_equal(fsWriteAtomic(file, "partial", 7, 0600), ERR_OK);
    storagePath(deleting, ".deleting-neo4j-20251201-020000");
    assert_int_equal(fsMkdirP(deleting, 0700), ERR_OK);
    /* Alive pid (our parent), no lock held: stale after an hour only. */
    char staleName[64], freshName[64];
    snprintf(staleName, sizeof(staleName), ".tmp-neo4j-20251226-020000-%ld", (long)getppid());
    snprintf(freshName, sizeof(freshName), ".tmp-neo4j-20251225-020000-%ld", (long)getppid());
    storagePath(stale, staleName);
    storagePath(fresh, freshName);
    assert_int_equal(fsMkdirP(stale, 0700), ERR_OK);
    assert_int_equal(fsMkdirP(fresh, 0700), ERR_OK);
    struct timeval old[2] = {{time(NULL) - 7200, 0}, {time(NULL) - 7200, 0}};
    assert_int_equal(utimes(stale, old), 0);
    /* A live writer (us), holding its lock. */
    CatBackupDir *live = NULL;
    assert_int_equal(catBackupDirBegin(catalog, "neo4j-20251227-030000", &live), ERR_OK);

    CatNameList removed;
    assert_int_equal(catCleanLeftovers(catalog, true, &removed), ERR_OK);
    assert_int_equal(removed.count, 3);
    assert_true(fsExists(dead)); /* dry run */
    catNameListFree(&removed);

    assert_int_equal(catCleanLeftovers(catalog, false, &removed), ERR_OK);
    assert_int_equal(removed.count, 3);
    bool sawDead = false;
    for (size_t index = 0; index < removed.count; index++)
        sawDead |= strcmp(removed.names[index], deadName) == 0;
    assert_true(sawDead);
    catNameListFree(&removed);
    assert_false(fsExists(dead));
    assert_false(fsExists(deleting));
    assert_false(fsExists(stale));
    assert_true(fsExists(fresh));
    assert_true(fsExists(catBackupDirPath(live)));
    assert_int_equal(catBackupDirCommit(live), ERR_OK);
}

static void testRetentionApplyContract(void **state)
{
    Catalog *catalog = *state;
    /* GIVEN 10 daily backups, RETENTION_DAYS=7; one extra old one kept by flag. */
    int64_t today = timeFromParts(2025, 12, 27, 2, 0, 0);
    char ids[10][CAT_ID_SIZE];
    for (int age = 9; age >= 0; age--)
        makeBackup(catalog, today - age * DAY, MANIFEST_STATUS_COMPLETE, false, ids[age]);
    char kept[CAT_ID_SIZE];
    makeBackup(catalog, today - 100 * DAY, MANIFEST_STATUS_COMPLETE, true, kept);
    RetPolicy policy = {7, 0, 0};
    int64_t now = today + 147;

    CatNameList deleted;
    assert_int_equal(catRetentionApply(catalog, &policy, now, true, &deleted), ERR_OK);
    assert_int_equal(deleted.count, 3);
    catNameListFree(&deleted);
    CatList list;
    assert_int_equal(catList(catalog, &list), ERR_OK);
    assert_int_equal(list.count, 11); /* dry run deleted nothing */
    catListFree(&list);

    /* A restore is reading the oldest: it survives this round. */
    StorageLock *reader = NULL;
    assert_int_equal(catLockBackup(catalog, ids[9], LOCK_SHARED, 0, "restore", &reader), ERR_OK);
    assert_int_equal(catRetentionApply(catalog, &policy, now, false, &deleted), ERR_OK);
    assert_int_equal(deleted.count, 2);
    assert_string_equal(deleted.names[0], ids[7]);
    assert_string_equal(deleted.names[1], ids[8]);
    catNameListFree(&deleted);
    storageLockRelease(reader);
    assert_int_equal(catRetentionApply(catalog, &policy, now, false, &deleted), ERR_OK);
    assert_int_equal(deleted.count, 1);
    assert_string_equal(deleted.names[0], ids[9]);
    catNameListFree(&deleted);

    /* THEN only the 7 most recent remain (plus the one with the keep flag). */
    assert_int_equal(catList(catalog, &list), ERR_OK);
    assert_int_equal(list.count, 8);
    for (int age = 0; age < 7; age++)
        assert_string_equal(list.entries[age].id, ids[age]);
    assert_string_equal(list.entries[7].id, kept);
    RetBackup inputs[8];
    catRetentionInput(catalog, &list, inputs);
    assert_true(inputs[7].keep);
    assert_true(inputs[0].valid);
    assert_false(inputs[0].inUse);
    catListFree(&list);
}

/* ---- restorable backups (issue 11) ---- */

static void archivePathOf(const char *id, char *out)
{
    snprintf(out, PATH_MAX, "%s/%s/graph.nbk", tempRepoStorage(), id);
}

/* Sets a VALIDATED status with validated_at = when. */
static ErrCode validatedEditor(Manifest *manifest, void *payload)
{
    manifestSetString(&manifest->status, MANIFEST_STATUS_VALIDATED);
    manifest->validatedAt = *(const int64_t *)payload;
    return ERR_OK;
}

static const CatEntry *findEntry(const CatList *list, const char *id)
{
    for (size_t index = 0; index < list->count; index++)
        if (strcmp(list->entries[index].id, id) == 0)
            return &list->entries[index];
    return NULL;
}

static void testListShowsArchiveProblems(void **state)
{
    Catalog *catalog = *state;
    int64_t base = timeFromParts(2025, 12, 20, 2, 0, 0);
    char missing[CAT_ID_SIZE], shrunk[CAT_ID_SIZE], fifo[CAT_ID_SIZE], fine[CAT_ID_SIZE];
    makeBackup(catalog, base, MANIFEST_STATUS_COMPLETE, false, missing);
    makeBackup(catalog, base + DAY, MANIFEST_STATUS_VALIDATED, false, shrunk);
    makeBackup(catalog, base + 2 * DAY, MANIFEST_STATUS_COMPLETE, false, fifo);
    makeBackup(catalog, base + 3 * DAY, MANIFEST_STATUS_COMPLETE, false, fine);
    char path[PATH_MAX];
    archivePathOf(missing, path);
    assert_int_equal(unlink(path), 0);
    archivePathOf(shrunk, path);
    assert_int_equal(truncate(path, 4), 0);
    archivePathOf(fifo, path);
    assert_int_equal(unlink(path), 0);
    assert_int_equal(mkfifo(path, 0600), 0);

    CatList list;
    assert_int_equal(catList(catalog, &list), ERR_OK);
    char problem[512];
    const CatEntry *entry = findEntry(&list, missing);
    assert_false(catEntryUsable(entry));
    assert_string_equal(catEntryStatus(entry), CAT_STATUS_INCOMPLETE);
    assert_string_equal(catEntryProblem(entry, problem, sizeof(problem)), "archive file graph.nbk is missing");
    entry = findEntry(&list, shrunk);
    assert_false(catEntryUsable(entry));
    assert_string_equal(catEntryStatus(entry), MANIFEST_STATUS_CORRUPTED);
    assert_non_null(strstr(catEntryProblem(entry, problem, sizeof(problem)), "has 4 bytes, the manifest says 10"));
    entry = findEntry(&list, fifo);
    assert_string_equal(catEntryStatus(entry), MANIFEST_STATUS_CORRUPTED);
    entry = findEntry(&list, fine);
    assert_true(catEntryUsable(entry));
    assert_string_equal(catEntryStatus(entry), MANIFEST_STATUS_COMPLETE);
    assert_string_equal(catEntryProblem(entry, problem, sizeof(problem)), "");
    RetBackup inputs[4];
    catRetentionInput(catalog, &list, inputs);
    for (size_t index = 0; index < list.count; index++)
        assert_int_equal(inputs[index].valid, strcmp(list.entries[index].id, fine) == 0);
    catListFree(&list);
}

/* The case: an old validated backup and newer ones whose archive is
 * missing or corrupt. Retention used to delete the old one. */
static void testRetentionKeepsNewestRestorable(void **state)
{
    Catalog *catalog = *state;
    int64_t today = timeFromParts(2025, 12, 27, 2, 0, 0);
    char good[CAT_ID_SIZE], missing[CAT_ID_SIZE], corrupt[CAT_ID_SIZE];
    makeBackup(catalog, today - 30 * DAY, MANIFEST_STATUS_COMPLETE, false, good);
    makeBackup(catalog, today - 20 * DAY, MANIFEST_STATUS_COMPLETE, false, corrupt);
    makeBackup(catalog, today - 10 * DAY, MANIFEST_STATUS_COMPLETE, false, missing);
    int64_t validated = (int64_t)time(NULL) + 5; /* after the archive was written */
    assert_int_equal(catManifestUpdate(catalog, good, validatedEditor, &validated), ERR_OK);
    char path[PATH_MAX];
    archivePathOf(missing, path);
    assert_int_equal(unlink(path), 0);
    archivePathOf(corrupt, path);
    assert_int_equal(fsWriteAtomic(path, "9876543210", 10, 0600), ERR_OK); /* same size: only the hash tells */

    RetPolicy policy = {7, 0, 0};
    CatNameList deleted;
    assert_int_equal(catRetentionApply(catalog, &policy, today, false, &deleted), ERR_OK);
    assert_int_equal(deleted.count, 2);
    for (size_t index = 0; index < deleted.count; index++)
        assert_string_not_equal(deleted.names[index], good);
    catNameListFree(&deleted);
    CatEntry entry;
    assert_int_equal(catFind(catalog, good, &entry), ERR_OK);
    assert_true(catEntryUsable(&entry));
    catEntryFree(&entry);
}

static void testRetentionHashesAndMarksCorrupted(void **state)
{
    Catalog *catalog = *state;
    int64_t today = timeFromParts(2025, 12, 27, 2, 0, 0);
    char older[CAT_ID_SIZE], newer[CAT_ID_SIZE];
    makeBackup(catalog, today - 30 * DAY, MANIFEST_STATUS_COMPLETE, false, older);
    makeBackup(catalog, today - 20 * DAY, MANIFEST_STATUS_COMPLETE, false, newer);
    /* Validated long ago, then the archive changed: the pass is not trusted. */
    int64_t validated = (int64_t)time(NULL) - 3600;
    assert_int_equal(catManifestUpdate(catalog, newer, validatedEditor, &validated), ERR_OK);
    char path[PATH_MAX];
    archivePathOf(newer, path);
    assert_int_equal(fsWriteAtomic(path, "9876543210", 10, 0600), ERR_OK);

    /* A dry run finds the mismatch but records nothing. */
    RetPolicy policy = {7, 0, 0};
    CatNameList deleted;
    assert_int_equal(catRetentionApply(catalog, &policy, today, true, &deleted), ERR_OK);
    assert_int_equal(deleted.count, 1);
    assert_string_equal(deleted.names[0], newer);
    catNameListFree(&deleted);
    CatEntry before;
    assert_int_equal(catFind(catalog, newer, &before), ERR_OK);
    assert_string_equal(before.manifest->status, MANIFEST_STATUS_VALIDATED);
    catEntryFree(&before);

    CatList list;
    assert_int_equal(catList(catalog, &list), ERR_OK);
    size_t newest = CAT_NONE;
    catNewestRestorable(catalog, &list, NULL, true, &newest);
    assert_int_not_equal(newest, CAT_NONE);
    assert_string_equal(list.entries[newest].id, older);
    assert_string_equal(catEntryStatus(&list.entries[0]), MANIFEST_STATUS_CORRUPTED);
    /* skipping the only restorable one leaves none */
    catNewestRestorable(catalog, &list, older, true, &newest);
    assert_int_equal(newest, CAT_NONE);
    catListFree(&list);
    /* The mismatch is recorded, so every later listing shows it. */
    CatEntry entry;
    assert_int_equal(catFind(catalog, newer, &entry), ERR_OK);
    assert_string_equal(entry.manifest->status, MANIFEST_STATUS_CORRUPTED);
    assert_string_equal(catEntryStatus(&entry), MANIFEST_STATUS_CORRUPTED);
    catEntryFree(&entry);
}

static void testRetentionWithoutRestorableDeletesNothing(void **state)
{
    Catalog *catalog = *state;
    int64_t today = timeFromParts(2025, 12, 27, 2, 0, 0);
    char ids[3][CAT_ID_SIZE];
    for (int index = 0; index < 3; index++) {
        makeBackup(catalog, today - (10 + index) * DAY, MANIFEST_STATUS_COMPLETE, false, ids[index]);
        char path[PATH_MAX];
        archivePathOf(ids[index], path);
        assert_int_equal(unlink(path), 0);
    }
    RetPolicy policy = {7, 0, 0};
    CatNameList deleted;
    assert_int_equal(catRetentionApply(catalog, &policy, today, false, &deleted), BACKUP_NONE_RESTORABLE);
    assert_int_equal(deleted.count, 0);
    assert_non_null(strstr(errLast()->reason, "deleted nothing"));
    CatList list;
    assert_int_equal(catList(catalog, &list), ERR_OK);
    assert_int_equal(list.count, 3);
    catListFree(&list);
    /* An empty catalog is not an alarm. */
    for (int index = 0; index < 3; index++)
        assert_int_equal(catDelete(catalog, ids[index]), ERR_OK);
    assert_int_equal(catRetentionApply(catalog, &policy, today, false, &deleted), ERR_OK);
}

static void testDeleteAllowed(void **state)
{
    Catalog *catalog = *state;
    int64_t today = timeFromParts(2025, 12, 27, 2, 0, 0);
    char older[CAT_ID_SIZE], newer[CAT_ID_SIZE], failed[CAT_ID_SIZE];
    makeBackup(catalog, today - 2 * DAY, MANIFEST_STATUS_COMPLETE, false, older);
    makeBackup(catalog, today - DAY, MANIFEST_STATUS_COMPLETE, true, newer);
    makeBackup(catalog, today, MANIFEST_STATUS_FAILED, false, failed);
    assert_int_equal(catDeleteAllowed(catalog, newer, false, false), BACKUP_PROTECTED);
    assert_non_null(strstr(errLast()->reason, "keep mark"));
    assert_non_null(strstr(errLast()->action, "--unkeep"));
    assert_int_equal(catDeleteAllowed(catalog, newer, true, false), ERR_OK);
    assert_int_equal(catDeleteAllowed(catalog, older, false, false), ERR_OK); /* newer is restorable */
    assert_int_equal(catDeleteAllowed(catalog, failed, false, false), ERR_OK);
    assert_int_equal(catDeleteAllowed(catalog, "neo4j-20000101-000000", false, false), BACKUP_NOT_FOUND);

    /* newer's archive is damaged: older becomes the last restorable one */
    char path[PATH_MAX];
    archivePathOf(newer, path);
    assert_int_equal(fsWriteAtomic(path, "9876543210", 10, 0600), ERR_OK);
    assert_int_equal(catDeleteAllowed(catalog, older, false, false), BACKUP_PROTECTED);
    assert_non_null(strstr(errLast()->reason, "only restorable backup"));
    assert_int_equal(catDeleteAllowed(catalog, older, true, false), ERR_OK);
    /* and an unrestorable backup never protects anything */
    archivePathOf(older, path);
    assert_int_equal(unlink(path), 0);
    assert_int_equal(catDeleteAllowed(catalog, older, false, false), ERR_OK);
}

/* Issue 11: a FIFO named manifest.json hung --list, and retention with it
 * while holding the catalog lock. alarm() makes a hang a failure. */
static void testSpecialFilesNeverHang(void **state)
{
    Catalog *catalog = *state;
    int64_t today = timeFromParts(2025, 12, 27, 2, 0, 0);
    char fifoManifest[CAT_ID_SIZE], fifoLock[CAT_ID_SIZE], linkedArchive[CAT_ID_SIZE], fifoArchive[CAT_ID_SIZE];
    char good[CAT_ID_SIZE];
    makeBackup(catalog, today - 40 * DAY, MANIFEST_STATUS_COMPLETE, false, good);
    makeBackup(catalog, today - 30 * DAY, MANIFEST_STATUS_COMPLETE, false, fifoManifest);
    makeBackup(catalog, today - 20 * DAY, MANIFEST_STATUS_COMPLETE, false, fifoLock);
    makeBackup(catalog, today - 15 * DAY, MANIFEST_STATUS_COMPLETE, false, linkedArchive);
    makeBackup(catalog, today - 10 * DAY, MANIFEST_STATUS_COMPLETE, false, fifoArchive);
    char path[PATH_MAX], target[PATH_MAX];
    for (int copy = 0; copy < 2; copy++) {
        snprintf(path, sizeof(path), "%s/%s/%s", tempRepoStorage(), fifoManifest, copy ? MANIFEST_COPY_FILE_NAME : MANIFEST_FILE_NAME);
        assert_int_equal(unlink(path), 0);
        assert_int_equal(mkfifo(path, 0600), 0);
    }
    snprintf(path, sizeof(path), "%s/%s/%s", tempRepoStorage(), fifoLock, CAT_LOCK_FILE_NAME);
    unlink(path);
    assert_int_equal(mkfifo(path, 0600), 0);
    /* An archive replaced by a link to an intact copy is still not trusted. */
    archivePathOf(linkedArchive, path);
    snprintf(target, sizeof(target), "%s/outside.nbk", tempRepoWorkDir());
    assert_int_equal(rename(path, target), 0);
    assert_int_equal(symlink(target, path), 0);
    archivePathOf(fifoArchive, path);
    assert_int_equal(unlink(path), 0);
    assert_int_equal(mkfifo(path, 0600), 0);
    /* A backup directory that is a link to a real backup elsewhere. */
    char linkedDir[PATH_MAX], elsewhere[512], command[1200];
    snprintf(elsewhere, sizeof(elsewhere), "%s/elsewhere", tempRepoWorkDir());
    snprintf(command, sizeof(command), "cp -a '%s/%s' '%s'", tempRepoStorage(), good, elsewhere);
    assert_int_equal(system(command), 0);
    storagePath(linkedDir, "neo4j-20251201-020000");
    assert_int_equal(symlink(elsewhere, linkedDir), 0);
    alarm(30);

    CatList list;
    assert_int_equal(catList(catalog, &list), ERR_OK);
    assert_int_equal(list.count, 5); /* the linked directory is not listed */
    const CatEntry *entry = findEntry(&list, fifoManifest);
    assert_null(entry->manifest);
    assert_non_null(strstr(entry->damage, "not a regular file"));
    assert_string_equal(catEntryStatus(findEntry(&list, linkedArchive)), MANIFEST_STATUS_CORRUPTED);
    assert_string_equal(catEntryStatus(findEntry(&list, fifoArchive)), MANIFEST_STATUS_CORRUPTED);
    RetBackup inputs[5];
    catRetentionInput(catalog, &list, inputs);
    catListFree(&list);
    CatEntry found;
    assert_int_equal(catFind(catalog, "neo4j-20251201-020000", &found), BACKUP_IO_FAILED);
    assert_non_null(strstr(errLast()->reason, "symbolic link"));

    RetPolicy policy = {7, 0, 0};
    CatNameList deleted;
    ErrCode applied = catRetentionApply(catalog, &policy, today, false, &deleted);
    if (applied != ERR_OK)
        fail_msg("retention: %s", errLast()->reason);
    catNameListFree(&deleted);
    assert_true(fsIsDirectory(elsewhere)); /* never followed, never deleted */
    /* Only the archive matters for restorability: a FIFO lock file does not. */
    assert_int_equal(catFind(catalog, fifoLock, &found), ERR_OK);
    assert_true(catEntryUsable(&found));
    catEntryFree(&found);
    assert_int_equal(catFind(catalog, good, &found), BACKUP_NOT_FOUND);
    alarm(0);
}

/* A catalog on a posix Storage the caller opened is the catalog of catOpen. */
static void testOpenOnStorage(void **state)
{
    Catalog *pathCatalog = *state;
    Storage *posix = NULL;
    assert_int_equal(storagePosixOpen(tempRepoStorage(), false, &posix), ERR_OK);
    Catalog *catalog = NULL;
    assert_int_equal(catOpenStorage(&catalog, posix), ERR_OK);
    assert_ptr_equal(catStorage(catalog), posix);
    assert_string_equal(catRoot(catalog), tempRepoStorage());
    char id[CAT_ID_SIZE];
    makeBackup(catalog, timeFromParts(2025, 12, 27, 2, 0, 0), MANIFEST_STATUS_COMPLETE, false, id);
    CatList list;
    assert_int_equal(catList(pathCatalog, &list), ERR_OK);
    assert_int_equal(list.count, 1);
    assert_string_equal(list.entries[0].id, id);
    assert_true(catEntryUsable(&list.entries[0]));
    catListFree(&list);
    /* Locks of both catalogs are the same locks. */
    StorageLock *reader = NULL;
    assert_int_equal(catLockBackup(pathCatalog, id, LOCK_SHARED, 0, "restore", &reader), ERR_OK);
    assert_int_equal(catDelete(catalog, id), BACKUP_LOCKED);
    char held[PATH_MAX + 64];
    snprintf(held, sizeof(held), "%s/%s/.lock is held by another process", tempRepoStorage(), id);
    assert_non_null(strstr(errLast()->reason, held)); /* the lock's path, as before */
    storageLockRelease(reader);
    assert_int_equal(catDelete(catalog, id), ERR_OK);
    catClose(catalog); /* frees posix */
}

/* A storage without rename, directories or paths (object storage's shape):
 * the catalog reads it without paths; writing backups in place is
 * catalog_inplace_test.c's. */
static ErrCode flatList(void *driver, const char *dir, StorageListCallback callback, void *payload)
{
    (void)driver;
    (void)dir;
    (void)callback;
    (void)payload;
    return ERR_OK;
}

static ErrCode flatStat(void *driver, const char *name, StorageInfo *out)
{
    (void)driver;
    (void)out;
    return errSet(BACKUP_NOT_FOUND, "%s: no such object", name);
}

static void flatFree(void *driver) { (void)driver; }

static const StorageInterface flatInterface = {
    .name = "flat",
    .list = flatList,
    .stat = flatStat,
    .free = flatFree,
};

static void testStorageThatCannotMove(void **state)
{
    (void)state;
    Catalog *catalog = NULL;
    assert_int_equal(catOpenStorage(&catalog, storageNew(&flatInterface, NULL)), ERR_OK);
    assert_null(catRoot(catalog));
    char path[PATH_MAX];
    assert_int_equal(catBackupPath(catalog, "neo4j-20251227-020000", path, sizeof(path)), BACKUP_IO_FAILED);
    CatList list;
    assert_int_equal(catList(catalog, &list), ERR_OK);
    assert_int_equal(list.count, 0);
    catListFree(&list);
    CatEntry entry;
    assert_int_equal(catFind(catalog, "neo4j-20251227-020000", &entry), BACKUP_NOT_FOUND);
    assert_string_equal(errLast()->reason, "backup neo4j-20251227-020000 not found in the flat storage");
    char id[CAT_ID_SIZE];
    assert_int_equal(catNewId(catalog, timeFromParts(2025, 12, 27, 2, 0, 0), id), ERR_OK);
    assert_string_equal(id, "neo4j-20251227-020000");
    catClose(catalog);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(testIdValidation),
        cmocka_unit_test_setup_teardown(testOpen, setUp, tearDown),
        cmocka_unit_test_setup_teardown(testOpenOnStorage, setUp, tearDown),
        cmocka_unit_test(testStorageThatCannotMove),
        cmocka_unit_test_setup_teardown(testBeginCommitAbort, setUp, tearDown),
        cmocka_unit_test_setup_teardown(testListSortedWithDamagedAndForeign, setUp, tearDown),
        cmocka_unit_test_setup_teardown(testFindErrors, setUp, tearDown),
        cmocka_unit_test_setup_teardown(testDeleteAndLocks, setUp, tearDown),
        cmocka_unit_test_setup_teardown(testKeepFlagAndManifestUpdate, setUp, tearDown),
        cmocka_unit_test_setup_teardown(testCleanLeftovers, setUp, tearDown),
        cmocka_unit_test_setup_teardown(testRetentionApplyContract, setUp, tearDown),
        cmocka_unit_test_setup_teardown(testListShowsArchiveProblems, setUp, tearDown),
        cmocka_unit_test_setup_teardown(testRetentionKeepsNewestRestorable, setUp, tearDown),
        cmocka_unit_test_setup_teardown(testRetentionHashesAndMarksCorrupted, setUp, tearDown),
        cmocka_unit_test_setup_teardown(testRetentionWithoutRestorableDeletesNothing, setUp, tearDown),
        cmocka_unit_test_setup_teardown(testDeleteAllowed, setUp, tearDown),
        cmocka_unit_test_setup_teardown(testSpecialFilesNeverHang, setUp, tearDown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
