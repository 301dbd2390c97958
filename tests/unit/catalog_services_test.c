/* The services on the repository: validation (catalog/validate.h) with its
 * verdict and its dry run, the dump hook, and deleting a backup on request
 * (catalog/removal.h) with its guard, force and dry run, as events. Backups
 * are built by hand; a real archive is validated in logical_test.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "catalog/catalog.h"
#include "catalog/removal.h"
#include "catalog/validate.h"
#include "common/fsutil.h"
#include "common/log.h"
#include "common/timeutil.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "temp_repo.h"

static int setUp(void **state)
{
    return tempRepoSetUp(state, "nbk-catalog-services");
}

static int tearDown(void **state)
{
    return tempRepoTearDown(state);
}

/* SHA-256 of "0123456789", the archive makeBackup writes (not a real archive). */
#define ARCHIVE_SHA256 "84d89877f0d4041efb6bf91a16f0248f2fd573e6af05c19f96bedb9f882f7882"

static void makeBackup(Catalog *catalog, int64_t created, const char *method, bool keep, char id[CAT_ID_SIZE])
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
    manifestSetString(&manifest->status, MANIFEST_STATUS_COMPLETE);
    manifestSetString(&manifest->method, method);
    manifestSetString(&manifest->archive.file, "graph.nbk");
    manifest->archive.sizeCompressed = 10;
    manifestSetString(&manifest->archive.sha256, ARCHIVE_SHA256);
    manifest->keep = keep;
    assert_int_equal(manifestSave(manifest, catBackupDirPath(dir)), ERR_OK);
    manifestFree(manifest);
    assert_int_equal(catBackupDirCommit(dir), ERR_OK);
}

static const char *statusOf(Catalog *catalog, const char *id, char *out, size_t size)
{
    CatEntry entry = {0};
    assert_int_equal(catFind(catalog, id, &entry), ERR_OK);
    snprintf(out, size, "%s", entry.manifest ? entry.manifest->status : "DAMAGED");
    catEntryFree(&entry);
    return out;
}

typedef struct {
    int kinds[16];
    unsigned count;
    bool checksumMismatch;
    char status[64];
} Seen;

static void seeValidate(const CatValidateEvent *event, void *payload)
{
    Seen *seen = payload;
    if (seen->count < 16)
        seen->kinds[seen->count++] = (int)event->kind;
    if (event->kind == CAT_VALIDATE_CORRUPTED)
        seen->checksumMismatch = event->checksum != NULL;
}

static bool sawKind(const Seen *seen, int kind)
{
    for (unsigned index = 0; index < seen->count; index++)
        if (seen->kinds[index] == kind)
            return true;
    return false;
}

/* Not an archive: corrupted once the checksum has passed, and the verdict is
 * recorded only outside a dry run. */
static void testValidateVerdictAndDryRun(void **state)
{
    Catalog *catalog = *state;
    char id[CAT_ID_SIZE];
    char status[64];
    makeBackup(catalog, timeFromParts(2025, 12, 27, 2, 0, 0), "logical", false, id);
    Seen seen = {0};
    CatValidateRequest request = {.catalog = catalog, .backupId = id, .dryRun = true};
    CatValidateResult result;
    assert_int_equal(catValidate(&request, &result, &(CatValidateEvents){seeValidate, &seen}), BACKUP_CORRUPTED);
    assert_true(result.reported);
    assert_true(sawKind(&seen, CAT_VALIDATE_STARTING));
    assert_true(sawKind(&seen, CAT_VALIDATE_CHECKSUM_PASSED));
    assert_true(sawKind(&seen, CAT_VALIDATE_CORRUPTED));
    assert_false(seen.checksumMismatch);
    assert_string_equal(statusOf(catalog, id, status, sizeof(status)), MANIFEST_STATUS_COMPLETE);

    request.dryRun = false;
    ErrCode code = catValidate(&request, &result, NULL);
    assert_int_equal(code, BACKUP_CORRUPTED);
    assert_int_equal(errLast()->code, BACKUP_CORRUPTED); /* the reason survives recording the verdict */
    /* Read through the catalog's storage, named by its path as always. */
    char expected[PATH_MAX + 64];
    snprintf(expected, sizeof(expected), "archive %s/%s/graph.nbk: not a backup archive", tempRepoStorage(), id);
    assert_non_null(strstr(errLast()->reason, expected));
    assert_string_equal(statusOf(catalog, id, status, sizeof(status)), MANIFEST_STATUS_CORRUPTED);

    /* Where the readers find the archive: its name below the root. */
    CatEntry entry = {0};
    assert_int_equal(catFind(catalog, id, &entry), ERR_OK);
    char name[256];
    ArcLocation location;
    assert_int_equal(catArchiveLocation(catalog, &entry, "shown", name, sizeof(name), &location), ERR_OK);
    snprintf(expected, sizeof(expected), "%s/graph.nbk", id);
    assert_string_equal(location.name, expected);
    assert_ptr_equal(location.storage, catStorage(catalog));
    assert_string_equal(arcLocationShown(&location), "shown");
    assert_int_equal(catArchiveLocation(catalog, &entry, NULL, name, sizeof(name), &location), ERR_OK);
    assert_string_equal(arcLocationShown(&location), expected);
    assert_int_equal(catArchiveLocation(catalog, &entry, "", name, 4, &location), BACKUP_IO_FAILED);
    catEntryFree(&entry);
    CatEntry damaged = {.damage = "manifest damaged"};
    assert_int_equal(catArchiveLocation(catalog, &damaged, NULL, name, sizeof(name), &location), BACKUP_CORRUPTED);
    assert_string_equal(errLast()->reason, "manifest damaged");

    /* A missing archive is corrupted too; an unknown or bad id is not a backup. */
    char archive[PATH_MAX];
    snprintf(archive, sizeof(archive), "%s/%s/graph.nbk", tempRepoStorage(), id);
    assert_int_equal(unlink(archive), 0);
    assert_int_equal(catValidate(&request, &result, NULL), BACKUP_CORRUPTED);
    assert_non_null(strstr(errLast()->reason, "missing"));
    request.backupId = "neo4j-20000101-000000";
    assert_int_equal(catValidate(&request, &result, NULL), BACKUP_NOT_FOUND);
    request.backupId = "../etc";
    assert_int_equal(catValidate(&request, &result, NULL), ERR_USAGE);
}

static unsigned dumpChecks;

static ErrCode passDump(void *payload, Catalog *catalog, const CatEntry *entry, const char *archivePath,
                        bool *reported)
{
    (void)catalog;
    (void)reported;
    dumpChecks++;
    assert_string_equal(payload, "front end");
    assert_non_null(strstr(archivePath, entry->id));
    return ERR_OK;
}

/* A dump's own checks come from the front end after the checksum. */
static void testValidateDumpHook(void **state)
{
    Catalog *catalog = *state;
    char id[CAT_ID_SIZE];
    char status[64];
    makeBackup(catalog, timeFromParts(2025, 12, 27, 2, 0, 0), "dump", false, id);
    CatValidateRequest request = {.catalog = catalog, .backupId = id};
    CatValidateResult result;
    assert_int_equal(catValidate(&request, &result, NULL), CONFIG_INVALID);
    assert_true(result.isDump);
    assert_string_equal(statusOf(catalog, id, status, sizeof(status)), MANIFEST_STATUS_COMPLETE);
    dumpChecks = 0;
    request.validateDump = passDump;
    request.validateDumpPayload = "front end";
    assert_int_equal(catValidate(&request, &result, NULL), ERR_OK);
    assert_int_equal(dumpChecks, 1);
    assert_string_equal(statusOf(catalog, id, status, sizeof(status)), MANIFEST_STATUS_VALIDATED);
}

static void seeRemoval(const CatRemovalEvent *event, void *payload)
{
    Seen *seen = payload;
    if (seen->count < 16)
        seen->kinds[seen->count++] = (int)event->kind;
    if (event->kind == CAT_REMOVAL_DRY_RUN)
        snprintf(seen->status, sizeof(seen->status), "%s", event->status);
}

static void testRemovalGuardForceAndDryRun(void **state)
{
    Catalog *catalog = *state;
    int64_t today = timeFromParts(2025, 12, 27, 2, 0, 0);
    char older[CAT_ID_SIZE], kept[CAT_ID_SIZE];
    makeBackup(catalog, today - TIME_SECONDS_PER_DAY, "logical", false, older);
    makeBackup(catalog, today, "logical", true, kept);

    Seen seen = {0};
    CatRemovalRequest request = {.catalog = catalog, .backupId = kept, .onEvent = seeRemoval, .payload = &seen};
    assert_int_equal(catRemoveBackup(&request), BACKUP_PROTECTED);
    assert_int_equal(seen.count, 0);
    CatEntry entry = {0};
    assert_int_equal(catFind(catalog, kept, &entry), ERR_OK);
    catEntryFree(&entry);

    /* A dry run names the backup's status and deletes nothing. */
    request.backupId = older;
    request.dryRun = true;
    assert_int_equal(catRemoveBackup(&request), ERR_OK);
    assert_int_equal(seen.count, 1);
    assert_int_equal(seen.kinds[0], CAT_REMOVAL_DRY_RUN);
    assert_string_equal(seen.status, MANIFEST_STATUS_COMPLETE);
    assert_int_equal(catFind(catalog, older, &entry), ERR_OK);
    catEntryFree(&entry);

    /* Forced: the guard is skipped, said so, and the backup is gone. */
    seen.count = 0;
    request.backupId = kept;
    request.dryRun = false;
    request.force = true;
    assert_int_equal(catRemoveBackup(&request), ERR_OK);
    assert_int_equal(seen.count, 2);
    assert_int_equal(seen.kinds[0], CAT_REMOVAL_FORCED);
    assert_int_equal(seen.kinds[1], CAT_REMOVAL_DELETING);
    assert_int_equal(catFind(catalog, kept, &entry), BACKUP_NOT_FOUND);

    request.backupId = "bad/id";
    assert_int_equal(catRemoveBackup(&request), ERR_USAGE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(testValidateVerdictAndDryRun, setUp, tearDown),
        cmocka_unit_test_setup_teardown(testValidateDumpHook, setUp, tearDown),
        cmocka_unit_test_setup_teardown(testRemovalGuardForceAndDryRun, setUp, tearDown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
