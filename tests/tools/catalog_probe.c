/* catalog_probe: drives the catalog on a storage from the command line, for
 * the end-to-end tests of the in-place layout on real S3 implementations
 * (tests/e2e/test_catalog_s3.py): a backup written in place, listed, found,
 * deleted, locked, and leftovers of crashed writers cleaned up.
 *
 *   catalog_probe LOCATION COMMAND [ARGS]
 *     create ID [--pause] [--upload] [--crash]
 *         begins backup ID, writes ID/graph.nbk ("0123456789"); --upload also
 *         starts a multipart upload of ID/big.nbk (one part sent, never
 *         completed); --pause prints "written" and waits for a line on stdin;
 *         --crash then ends the process as a kill would (no manifest, no
 *         commit, lock and upload left behind); otherwise writes the manifest
 *         (catBackupDirSaveManifest), commits and prints "committed ID"
 *     list                 "ID<TAB>STATUS<TAB>ARCHIVE_BYTES" per backup
 *     find ID              "status STATUS"
 *     delete ID
 *     clean [--dry-run]    "removed NAME" per leftover
 *     lock ID              takes the backup's lock (SHARED), prints "locked",
 *                          holds it until stdin closes
 *   LOCATION is a directory or s3://bucket/prefix; S3 settings as for
 *   storage_probe (AWS_* variables, NBK_S3_URI_STYLE, NBK_S3_PART_SIZE,
 *   NBK_S3_ATTEMPTS, NBK_S3_RETRY_BASE_MS).
 * Failure: "ERROR: <CODE>: <reason>" on stderr and the code's exit status. */
#include "catalog/catalog.h"
#include "common/error.h"
#include "common/log.h"
#include "common/timeutil.h"
#include "storage/posix.h"
#include "storage/s3.h"
#include "probe_storage.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define ARCHIVE_CONTENT "0123456789"
#define ARCHIVE_SHA256 "84d89877f0d4041efb6bf91a16f0248f2fd573e6af05c19f96bedb9f882f7882"


static ErrCode writeWhole(Storage *storage, const char *name, const void *data, size_t length)
{
    StorageWrite *writer = NULL;
    ErrCode result = storageWriteOpen(storage, name, 0, &writer);
    if (result != ERR_OK)
        return result;
    result = storageWrite(writer, data, length);
    if (result != ERR_OK) {
        storageWriteAbort(writer);
        return result;
    }
    return storageWriteCommit(writer);
}

/* Starts a multipart upload and sends more than one part of it. */
static ErrCode startUpload(Storage *storage, const char *name, StorageWrite **out)
{
    ErrCode result = storageWriteOpen(storage, name, 0, out);
    static char chunk[1 << 20];
    memset(chunk, 'u', sizeof(chunk));
    for (int index = 0; result == ERR_OK && index < 6; index++)
        result = storageWrite(*out, chunk, sizeof(chunk));
    return result;
}

static void waitForLine(void)
{
    char line[64];
    if (!fgets(line, sizeof(line), stdin))
        line[0] = '\0';
}

static ErrCode create(Catalog *catalog, const char *id, bool pause, bool upload, bool crash)
{
    CatBackupDir *dir = NULL;
    ErrCode result = catBackupDirBegin(catalog, id, &dir);
    if (result != ERR_OK)
        return result;
    Storage *storage = catStorage(catalog);
    char name[256];
    snprintf(name, sizeof(name), "%s/graph.nbk", catBackupDirName(dir));
    result = writeWhole(storage, name, ARCHIVE_CONTENT, strlen(ARCHIVE_CONTENT));
    StorageWrite *pending = NULL;
    if (result == ERR_OK && upload) {
        snprintf(name, sizeof(name), "%s/big.nbk", catBackupDirName(dir));
        result = startUpload(storage, name, &pending);
    }
    if (result == ERR_OK && pause) {
        printf("written\n");
        fflush(stdout);
        waitForLine();
    }
    if (result == ERR_OK && crash) {
        fflush(stdout);
        _exit(0); /* as if killed: nothing is released, aborted or committed */
    }
    storageWriteAbort(pending);
    Manifest *manifest = manifestNew();
    int64_t created = timeNow();
    manifestSetString(&manifest->id, id);
    manifest->created = created;
    manifestSetString(&manifest->status, MANIFEST_STATUS_COMPLETE);
    manifestSetString(&manifest->archive.file, "graph.nbk");
    manifest->archive.sizeCompressed = strlen(ARCHIVE_CONTENT);
    manifestSetString(&manifest->archive.sha256, ARCHIVE_SHA256);
    if (result == ERR_OK)
        result = catBackupDirSaveManifest(dir, manifest);
    manifestFree(manifest);
    if (result != ERR_OK) {
        catBackupDirAbort(dir);
        return result;
    }
    result = catBackupDirCommit(dir);
    if (result == ERR_OK)
        printf("committed %s\n", id);
    return result;
}

static ErrCode list(Catalog *catalog)
{
    CatList backups;
    ErrCode result = catList(catalog, &backups);
    if (result != ERR_OK)
        return result;
    for (size_t index = 0; index < backups.count; index++) {
        const CatEntry *entry = &backups.entries[index];
        printf("%s\t%s\t%llu\n", entry->id, catEntryStatus(entry), (unsigned long long)entry->archiveBytes);
    }
    catListFree(&backups);
    return ERR_OK;
}

static ErrCode find(Catalog *catalog, const char *id)
{
    CatEntry entry;
    ErrCode result = catFind(catalog, id, &entry);
    if (result == ERR_OK)
        printf("status %s\n", catEntryStatus(&entry));
    catEntryFree(&entry);
    return result;
}

static ErrCode clean(Catalog *catalog, bool dryRun)
{
    CatNameList removed;
    ErrCode result = catCleanLeftovers(catalog, dryRun, &removed);
    for (size_t index = 0; index < removed.count; index++)
        printf("removed %s\n", removed.names[index]);
    catNameListFree(&removed);
    return result;
}

static ErrCode holdLock(Catalog *catalog, const char *id)
{
    StorageLock *lock = NULL;
    ErrCode result = catLockBackup(catalog, id, LOCK_SHARED, 0, "catalog_probe", &lock);
    if (result != ERR_OK)
        return result;
    printf("locked\n");
    fflush(stdout);
    char line[64];
    while (fgets(line, sizeof(line), stdin)) {
    }
    storageLockRelease(lock);
    return ERR_OK;
}

static bool hasFlag(int argc, char **argv, const char *flag)
{
    for (int index = 3; index < argc; index++)
        if (strcmp(argv[index], flag) == 0)
            return true;
    return false;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: catalog_probe LOCATION create|list|find|delete|clean|lock [ARGS]\n");
        return 2;
    }
    logSetAllToStderr(true); /* stdout carries only the results */
    Storage *storage = NULL;
    ErrCode result = openStorage(argv[1], &storage);
    if (result != ERR_OK)
        return fail(result);
    Catalog *catalog = NULL;
    result = catOpenStorage(&catalog, storage);
    if (result != ERR_OK)
        return fail(result);
    const char *command = argv[2];
    const char *id = argc > 3 ? argv[3] : "";
    if (strcmp(command, "create") == 0 && argc > 3)
        result = create(catalog, id, hasFlag(argc, argv, "--pause"), hasFlag(argc, argv, "--upload"),
                        hasFlag(argc, argv, "--crash"));
    else if (strcmp(command, "list") == 0)
        result = list(catalog);
    else if (strcmp(command, "find") == 0 && argc > 3)
        result = find(catalog, id);
    else if (strcmp(command, "delete") == 0 && argc > 3)
        result = catDelete(catalog, id);
    else if (strcmp(command, "clean") == 0)
        result = clean(catalog, hasFlag(argc, argv, "--dry-run"));
    else if (strcmp(command, "lock") == 0 && argc > 3)
        result = holdLock(catalog, id);
    else
        result = errSet(ERR_USAGE, "unknown command or missing argument: %s", command);
    if (result != ERR_OK) {
        int status = fail(result);
        catClose(catalog);
        return status;
    }
    catClose(catalog);
    return 0;
}
