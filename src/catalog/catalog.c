/* The backup repository: ids, listing, temporary and committed backup
 * directories, locks, deletion, leftovers and retention, in both layouts of
 * catalog.h: a storage that can rename (posix: temporary directory renamed
 * into place) and one that cannot (object storage: written in place under its
 * lock, the manifest last). Every file is reached through the catalog's
 * Storage; the only paths built here are those handed to callers outside the
 * catalog. */
#include "catalog/catalog.h"

#include "catalog/catalog_file.h"
#include "catalog/chain_internal.h"
#include "common/config.h"
#include "common/fsutil.h" /* fsPathJoin only: paths for callers outside the catalog */
#include "common/log.h"
#include "common/mem.h"
#include "common/timeutil.h"
#include "storage/posix.h"
#include "storage/s3.h" /* storageS3AbortUploads only */

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sodium.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define TMP_PREFIX ".tmp-"
#define DELETING_PREFIX ".deleting-"
/* A temporary directory whose lock is free and that has not changed for this
 * long is abandoned even if a process with the recorded pid exists (pid
 * reuse, or a writer in another pid namespace). */
#define LEFTOVER_STALE_SECONDS 3600
/* Storage names inside the repository: "<dir>/<file>" with dir at most
 * ".deleting-<id>" or ".tmp-<id>-<pid>" and file a manifest-checked name. */
#define CAT_NAME_SIZE 512

struct Catalog {
    Storage *storage;
    char *where;        /* names the repository in messages: its path, or the driver */
    StorageLock *lock;
    LockMode lockMode;
    int lockDepth;
};

struct CatBackupDir {
    Catalog *catalog;
    char id[CAT_ID_SIZE];
    bool inPlace;                    /* written where it stays (storage cannot rename) */
    char tempName[CAT_ID_SIZE + 32]; /* its storage name: ".tmp-<id>-<pid>", or "<id>" in place */
    char tempPath[PATH_MAX];         /* its path, for the writer outside the catalog ("" without paths) */
    StorageLock *lock;               /* "<tempName>/.lock", exclusive */
    bool manifestSaved;              /* in place: catBackupDirSaveManifest succeeded */
    int64_t confirmedAtMs;           /* in place: when its lock was last proved ours (monotonic) */
};

/* True when backups are written in place (the storage cannot rename). */
static bool catInPlace(const Catalog *catalog) { return !storageCanMove(catalog->storage); }

bool catIdValid(const char *id)
{
    if (!id)
        return false;
    size_t length = strnlen(id, CAT_ID_MAX + 1);
    if (length == 0 || length > CAT_ID_MAX || id[0] == '.' || strstr(id, ".."))
        return false;
    for (const char *cursor = id; *cursor; cursor++) {
        char character = *cursor;
        bool allowed = (character >= 'a' && character <= 'z') || (character >= 'A' && character <= 'Z')
                       || (character >= '0' && character <= '9') || character == '.' || character == '_'
                       || character == '-';
        if (!allowed)
            return false;
    }
    return true;
}

ErrCode catIdCheck(const char *id)
{
    if (catIdValid(id))
        return ERR_OK;
    /* Print at most a bounded, visible part of the hostile input. */
    errSet(ERR_USAGE, "invalid backup id '%.64s': use letters, digits, '.', '_' and '-' (up to %d, no leading '.', no '..')",
           id ? id : "", CAT_ID_MAX);
    errSetAction("List available backups with --list");
    return ERR_USAGE;
}

ErrCode catOpen(Catalog **out, const char *root, bool create)
{
    *out = NULL;
    if (!root || !root[0])
        return cfgStoragePathMissing();
    Storage *storage = NULL;
    ErrCode result = storagePosixOpen(root, create, &storage);
    if (result != ERR_OK) {
        errSetAction("Check BACKUP_STORAGE_PATH");
        return result;
    }
    return catOpenStorage(out, storage);
}

ErrCode catOpenStorage(Catalog **out, Storage *storage)
{
    Catalog *catalog = memCalloc(1, sizeof(*catalog));
    catalog->storage = storage;
    const char *root = storagePosixRoot(storage);
    if (root) {
        catalog->where = memStrdup(root);
    } else {
        char where[64];
        snprintf(where, sizeof(where), "the %s storage", storageDriverName(storage));
        catalog->where = memStrdup(where);
    }
    *out = catalog;
    return ERR_OK;
}

void catClose(Catalog *catalog)
{
    if (!catalog)
        return;
    storageLockRelease(catalog->lock);
    storageFree(catalog->storage);
    free(catalog->where);
    free(catalog);
}

const char *catRoot(const Catalog *catalog) { return storagePosixRoot(catalog->storage); }

Storage *catStorage(const Catalog *catalog) { return catalog->storage; }

ErrCode catBackupPath(const Catalog *catalog, const char *id, char *out, size_t outSize)
{
    ErrCode result = catIdCheck(id);
    if (result != ERR_OK)
        return result;
    const char *root = catRoot(catalog);
    if (!root)
        return errSet(BACKUP_IO_FAILED, "backup %s has no path on %s", id, catalog->where);
    return fsPathJoin(out, outSize, root, id);
}

/* ---- names ---------------------------------------------------------------- */

static void nameListAdd(CatNameList *list, const char *name)
{
    char **grown = memRealloc(list->names, (list->count + 1) * sizeof(*grown));
    char *copy = memStrdup(name);
    grown[list->count++] = copy;
    list->names = grown;
}

void catNameListFree(CatNameList *list)
{
    if (!list)
        return;
    for (size_t index = 0; index < list->count; index++)
        free(list->names[index]);
    free(list->names);
    list->names = NULL;
    list->count = 0;
}

/* One entry directly below a directory of the repository. */
typedef struct {
    char *name; /* the last component */
    StorageKind kind;
    int64_t mtime;
} CatDirEntry;

typedef struct {
    CatDirEntry *items;
    size_t count;
} CatDirList;

static ErrCode dirListAdd(const StorageInfo *info, void *payload)
{
    CatDirList *list = payload;
    const char *slash = strrchr(info->name, '/');
    CatDirEntry *grown = memRealloc(list->items, (list->count + 1) * sizeof(*grown));
    list->items = grown;
    grown[list->count++] = (CatDirEntry){memStrdup(slash ? slash + 1 : info->name), info->kind, info->mtime};
    return ERR_OK;
}

static void dirListFree(CatDirList *list)
{
    for (size_t index = 0; index < list->count; index++)
        free(list->items[index].name);
    free(list->items);
    list->items = NULL;
    list->count = 0;
}

/* The entries of the repository's root, links reported as links (never
 * followed). Collected first, so that nothing else runs inside the listing. */
static ErrCode listRoot(const Catalog *catalog, CatDirList *out)
{
    out->items = NULL;
    out->count = 0;
    ErrCode result = storageListDir(catalog->storage, "", dirListAdd, out);
    if (result != ERR_OK)
        dirListFree(out);
    return result;
}

/* True when the repository holds an entry of any kind named name. */
static bool nameExists(const Catalog *catalog, const char *name)
{
    StorageInfo info;
    return storageInfo(catalog->storage, name, &info) == ERR_OK;
}

/* True when name is a real directory (not a link to one). */
static bool isDirectory(const Catalog *catalog, const char *name, int64_t *mtime)
{
    StorageInfo info;
    if (storageInfo(catalog->storage, name, &info) != ERR_OK || info.kind != STORAGE_KIND_DIR)
        return false;
    if (mtime)
        *mtime = info.mtime;
    return true;
}

/* True when a temporary directory for id exists (any writer pid). */
static bool tempDirExists(const Catalog *catalog, const char *id)
{
    CatDirList entries;
    if (listRoot(catalog, &entries) != ERR_OK)
        return false;
    char prefix[CAT_ID_SIZE + 16];
    snprintf(prefix, sizeof(prefix), TMP_PREFIX "%s-", id);
    size_t prefixLength = strlen(prefix);
    bool found = false;
    for (size_t index = 0; !found && index < entries.count; index++) {
        const char *name = entries.items[index].name;
        const char *rest = name + prefixLength;
        if (strncmp(name, prefix, prefixLength) == 0 && *rest && strspn(rest, "0123456789") == strlen(rest))
            found = true;
    }
    dirListFree(&entries);
    return found;
}

ErrCode catNewId(const Catalog *catalog, int64_t created, char out[CAT_ID_SIZE])
{
    char base[TIME_TEXT_SIZE];
    timeBackupId(created, base);
    for (int attempt = 1; attempt < 1000; attempt++) {
        if (attempt == 1)
            snprintf(out, CAT_ID_SIZE, "%s", base);
        else
            snprintf(out, CAT_ID_SIZE, "%s-%d", base, attempt);
        /* In place, anything below <id>/ (even only a writer's lock) takes the id. */
        if (!nameExists(catalog, out) && (catInPlace(catalog) || !tempDirExists(catalog, out)))
            return ERR_OK;
    }
    return errSet(BACKUP_IO_FAILED, "no free backup id for %s in %s", base, catalog->where);
}

/* ---- locks ---------------------------------------------------------------- */

static int storageLockMode(LockMode mode)
{
    return mode == LOCK_EXCLUSIVE ? STORAGE_LOCK_EXCLUSIVE : STORAGE_LOCK_SHARED;
}

/* A catalog lock that expires (object storage) and was taken over while held
 * (its keeper could not refresh it in time) protects nothing any more: what
 * the holder would change next is refused. */
static ErrCode catalogLockCheck(const Catalog *catalog)
{
    if (!catalog->lock || !storageLockLost(catalog->lock))
        return ERR_OK;
    errSet(BACKUP_LOCKED, "lost the catalog lock of %s (it expired and was taken over)", catalog->where);
    errSetAction("Check the connection to the backup storage, then retry");
    return BACKUP_LOCKED;
}

ErrCode catLock(Catalog *catalog, LockMode mode, int timeoutMs, const char *purpose)
{
    if (catalog->lock) {
        if (mode == LOCK_EXCLUSIVE && catalog->lockMode != LOCK_EXCLUSIVE)
            return errSet(ERR_INTERNAL, "catalog lock held shared, exclusive needed");
        ErrCode lost = catalogLockCheck(catalog);
        if (lost != ERR_OK)
            return lost;
        catalog->lockDepth++;
        return ERR_OK;
    }
    StorageLockOwner owner = {.owner = purpose};
    ErrCode result = storageLockAcquireMode(catalog->storage, CAT_LOCK_FILE_NAME, &owner, storageLockMode(mode),
                                            timeoutMs, CAT_LOCK_TTL_SECONDS, &catalog->lock);
    if (result == ERR_OK) {
        catalog->lockMode = mode;
        catalog->lockDepth = 1;
    }
    return result;
}

void catUnlock(Catalog *catalog)
{
    if (!catalog->lock || --catalog->lockDepth > 0)
        return;
    storageLockRelease(catalog->lock);
    catalog->lock = NULL;
    catalog->lockDepth = 0;
}

static ErrCode notFound(const Catalog *catalog, const char *id)
{
    errSet(BACKUP_NOT_FOUND, "backup %s not found in %s", id, catalog->where);
    errSetAction("List available backups with --list");
    return BACKUP_NOT_FOUND;
}

/* In place: whether <id>/manifest.json or its copy exists (one look each,
 * the copy only when the primary is missing). Other codes when the storage
 * cannot tell: a flaky service must not make a backup look absent. */
static ErrCode manifestPresent(const Catalog *catalog, const char *id, bool *present)
{
    *present = false;
    static const char *const files[] = {MANIFEST_FILE_NAME, MANIFEST_COPY_FILE_NAME};
    for (size_t index = 0; index < sizeof(files) / sizeof(files[0]); index++) {
        char name[CAT_NAME_SIZE];
        ErrCode result = catFileJoin(name, sizeof(name), id, files[index]);
        if (result != ERR_OK)
            return result;
        StorageInfo info;
        result = storageStat(catalog->storage, name, &info);
        if (result == ERR_OK) {
            *present = true;
            return ERR_OK;
        }
        if (result != BACKUP_NOT_FOUND)
            return result;
    }
    errClear();
    return ERR_OK;
}

/* ERR_OK when committed backup id exists: its directory (posix), its manifest
 * or the copy (in place; a backup being written has neither). */
static ErrCode backupExists(const Catalog *catalog, const char *id)
{
    if (!catInPlace(catalog))
        return isDirectory(catalog, id, NULL) ? ERR_OK : notFound(catalog, id);
    bool present = false;
    ErrCode result = manifestPresent(catalog, id, &present);
    if (result != ERR_OK)
        return result;
    return present ? ERR_OK : notFound(catalog, id);
}

ErrCode catLockBackup(Catalog *catalog, const char *id, LockMode mode, int timeoutMs, const char *purpose,
                      StorageLock **out)
{
    *out = NULL;
    ErrCode result = catIdCheck(id);
    if (result != ERR_OK)
        return result;
    result = backupExists(catalog, id);
    if (result != ERR_OK)
        return result;
    char lockName[CAT_NAME_SIZE];
    result = catFileJoin(lockName, sizeof(lockName), id, CAT_LOCK_FILE_NAME);
    if (result != ERR_OK)
        return result;
    StorageLockOwner owner = {.owner = purpose};
    result = storageLockAcquireMode(catalog->storage, lockName, &owner, storageLockMode(mode), timeoutMs,
                                    CAT_LOCK_TTL_SECONDS, out);
    if (result == BACKUP_LOCKED)
        errSetAction("Backup %s is in use; wait for that operation to finish, then retry", id);
    /* In place a lock is an object of its own, not bound to a directory: a
     * backup deleted between the look and the lock is gone, and our lock
     * object alone is only a leftover until we release it. */
    if (result == ERR_OK && catInPlace(catalog)) {
        result = backupExists(catalog, id);
        if (result != ERR_OK) {
            storageLockRelease(*out);
            *out = NULL;
        }
    }
    return result;
}

/* ---- creating ------------------------------------------------------------- */

static ErrCode alreadyExists(const Catalog *catalog, const char *id)
{
    errSet(BACKUP_IO_FAILED, "backup %s already exists in %s", id, catalog->where);
    errSetAction("Use a different backup id");
    return BACKUP_IO_FAILED;
}

/* Posix: .tmp-<id>-<pid>/, made afresh and locked. */
static ErrCode beginTemporary(Catalog *catalog, CatBackupDir *dir)
{
    /* Same name as ours: a leftover of a dead process that had our pid. */
    ErrCode result = storageRemoveDir(catalog->storage, dir->tempName);
    if (result == ERR_OK)
        result = storageDirCreate(catalog->storage, dir->tempName);
    char lockName[CAT_NAME_SIZE];
    if (result == ERR_OK)
        result = catFileJoin(lockName, sizeof(lockName), dir->tempName, CAT_LOCK_FILE_NAME);
    if (result == ERR_OK) {
        char purpose[CAT_ID_SIZE + 32];
        snprintf(purpose, sizeof(purpose), "creating backup %s", dir->id);
        StorageLockOwner owner = {.owner = purpose};
        result = storageLockAcquireMode(catalog->storage, lockName, &owner, STORAGE_LOCK_EXCLUSIVE, 0,
                                        CAT_LOCK_TTL_SECONDS, &dir->lock);
        if (result != ERR_OK) {
            ErrDetail failure = errSave();
            storageRemoveDir(catalog->storage, dir->tempName);
            errRestore(&failure);
        }
    }
    return result;
}

typedef struct {
    const char *lockName;
    bool found;
} CatOtherFile;

static ErrCode findOtherThanLock(const StorageInfo *info, void *payload)
{
    CatOtherFile *search = payload;
    if (strcmp(info->name, search->lockName) != 0)
        search->found = true;
    return ERR_OK;
}

/* In place: <id>/ itself, under <id>/.lock. The lock is the first object a
 * writer makes, so from then on the id is taken (catNewId) and never
 * mistaken for a leftover while the lock is kept alive. */
static ErrCode beginInPlace(Catalog *catalog, CatBackupDir *dir)
{
    Storage *storage = catalog->storage;
    /* A directory-based driver needs the directory for the lock; object
     * storage has none to make (a no-op). */
    ErrCode result = storageDirCreate(storage, dir->id);
    char lockName[CAT_NAME_SIZE];
    if (result == ERR_OK)
        result = catFileJoin(lockName, sizeof(lockName), dir->id, CAT_LOCK_FILE_NAME);
    if (result == ERR_OK) {
        char purpose[CAT_ID_SIZE + 32];
        snprintf(purpose, sizeof(purpose), "creating backup %s", dir->id);
        StorageLockOwner owner = {.owner = purpose};
        result = storageLockAcquireMode(storage, lockName, &owner, STORAGE_LOCK_EXCLUSIVE, 0, CAT_LOCK_TTL_SECONDS,
                                        &dir->lock);
    }
    /* Under the lock, nothing else may be there: files of a dead writer whose
     * expired lock we just took over must not become part of this backup. */
    CatOtherFile search = {lockName, false};
    if (result == ERR_OK)
        result = storageList(storage, dir->id, findOtherThanLock, &search);
    if (result == ERR_OK && search.found)
        result = alreadyExists(catalog, dir->id);
    if (result != ERR_OK) {
        storageLockRelease(dir->lock);
        dir->lock = NULL;
    }
    return result;
}

ErrCode catBackupDirBegin(Catalog *catalog, const char *id, CatBackupDir **out)
{
    *out = NULL;
    ErrCode result = catIdCheck(id);
    if (result != ERR_OK)
        return result;
    CatBackupDir *dir = memCalloc(1, sizeof(*dir));
    dir->catalog = catalog;
    dir->inPlace = catInPlace(catalog);
    snprintf(dir->id, sizeof(dir->id), "%s", id);
    if (dir->inPlace)
        snprintf(dir->tempName, sizeof(dir->tempName), "%s", id);
    else
        snprintf(dir->tempName, sizeof(dir->tempName), TMP_PREFIX "%s-%ld", id, (long)getpid());
    const char *root = catRoot(catalog);
    if (root)
        result = fsPathJoin(dir->tempPath, sizeof(dir->tempPath), root, dir->tempName);
    if (result == ERR_OK && nameExists(catalog, id))
        result = alreadyExists(catalog, id);
    if (result == ERR_OK)
        result = dir->inPlace ? beginInPlace(catalog, dir) : beginTemporary(catalog, dir);
    if (result != ERR_OK) {
        free(dir);
        return result;
    }
    *out = dir;
    return ERR_OK;
}

const char *catBackupDirPath(const CatBackupDir *dir) { return dir->tempPath; }

const char *catBackupDirName(const CatBackupDir *dir) { return dir->tempName; }

const char *catBackupDirId(const CatBackupDir *dir) { return dir->id; }

void catBackupDirAbort(CatBackupDir *dir)
{
    if (!dir)
        return;
    /* Remove while still holding the lock, so cleanup never races us. */
    Storage *storage = dir->catalog->storage;
    if (storageRemoveDir(storage, dir->tempName) != ERR_OK) {
        char shown[PATH_MAX];
        logWarn("could not remove %s: %s", catFileShow(storage, dir->tempName, shown, sizeof(shown)),
                errLast()->reason);
    }
    storageLockRelease(dir->lock);
    free(dir);
}

/* In place: proves that the backup's lock is still ours and restarts its
 * time-to-live. The refresh is conditional on our own lock, so it fails once
 * anyone took the lock over; what follows within CAT_LOCK_TTL_SECONDS then
 * happens under the lock. */
static ErrCode confirmLock(CatBackupDir *dir, const char *before)
{
    ErrCode result = storageLockLost(dir->lock) ? BACKUP_LOCKED : storageLockRefresh(dir->lock);
    if (result == BACKUP_LOCKED) {
        errSet(BACKUP_IO_FAILED,
               "backup %s lost the lock %s/" CAT_LOCK_FILE_NAME " (it expired and was taken over): not committed",
               dir->id, dir->id);
        errSetAction("Check the connection to the backup storage, then run the backup again");
        return BACKUP_IO_FAILED;
    }
    if (result != ERR_OK) {
        errAddContext("cannot confirm the lock of backup %s before %s", dir->id, before);
        return result;
    }
    dir->confirmedAtMs = timeMonotonicMs();
    return ERR_OK;
}

ErrCode catBackupDirSaveManifest(CatBackupDir *dir, const Manifest *manifest)
{
    /* In place the manifest's appearance is the commit: only under a lock
     * known to be ours, never after someone took it over. */
    ErrCode result = dir->inPlace ? confirmLock(dir, "writing its manifest") : ERR_OK;
    if (result == ERR_OK)
        result = manifestSaveTo(dir->catalog->storage, dir->tempName, manifest);
    if (result == ERR_OK)
        dir->manifestSaved = true;
    return result;
}

/* In place the manifest is already written: the lock must have stayed ours
 * throughout (a refresh conditional on our lock proves nobody took it over
 * since confirmLock), else the backup is withdrawn. */
static ErrCode commitInPlace(CatBackupDir *dir)
{
    ErrCode result = ERR_OK;
    if (!dir->manifestSaved) {
        result = errSet(ERR_INTERNAL, "backup %s: its manifest must be written by catBackupDirSaveManifest", dir->id);
    } else if (storageLockLost(dir->lock)) {
        result = confirmLock(dir, "the commit");
    } else {
        result = storageLockRefresh(dir->lock);
        /* Not a loss, just no answer: the lock confirmed moments ago stays
         * valid for its time-to-live, and the manifest was written within it. */
        if (result != ERR_OK && result != BACKUP_LOCKED
            && timeMonotonicMs() - dir->confirmedAtMs < CAT_LOCK_TTL_SECONDS * 1000 / 2) {
            logWarn("could not refresh the lock of backup %s (%s); it was confirmed before the manifest was written",
                    dir->id, errLast()->reason);
            errClear();
            result = ERR_OK;
        } else if (result != ERR_OK) {
            result = confirmLock(dir, "the commit");
        }
    }
    if (result != ERR_OK) {
        /* Invisible again first (the copy, then the manifest), then the rest. */
        ErrDetail failure = errSave();
        char name[CAT_NAME_SIZE];
        if (catFileJoin(name, sizeof(name), dir->id, MANIFEST_COPY_FILE_NAME) == ERR_OK)
            storageRemove(dir->catalog->storage, name);
        if (catFileJoin(name, sizeof(name), dir->id, MANIFEST_FILE_NAME) == ERR_OK)
            storageRemove(dir->catalog->storage, name);
        catBackupDirAbort(dir);
        errRestore(&failure);
        return failure.code;
    }
    storageLockRelease(dir->lock);
    free(dir);
    return ERR_OK;
}

ErrCode catBackupDirCommit(CatBackupDir *dir)
{
    if (dir->inPlace)
        return commitInPlace(dir);
    Storage *storage = dir->catalog->storage;
    /* Every file and the directory durable, then one atomic rename that
     * refuses to replace anything and makes itself durable (both parents). */
    ErrCode result = storageDirSync(storage, dir->tempName);
    if (result == ERR_OK)
        result = storageMove(storage, dir->tempName, dir->id, STORAGE_WRITE_NO_REPLACE);
    if (result != ERR_OK) {
        ErrDetail failure = errSave();
        catBackupDirAbort(dir);
        return errSet(failure.code, "%s", failure.reason);
    }
    storageLockRelease(dir->lock);
    free(dir);
    return ERR_OK;
}

/* ---- reading -------------------------------------------------------------- */

static bool hasManifestFile(const Catalog *catalog, const char *id)
{
    char name[CAT_NAME_SIZE];
    if (catFileJoin(name, sizeof(name), id, MANIFEST_FILE_NAME) == ERR_OK && nameExists(catalog, name))
        return true;
    return catFileJoin(name, sizeof(name), id, MANIFEST_COPY_FILE_NAME) == ERR_OK && nameExists(catalog, name);
}

/* The cheap archive check of listings: one look at the entry (links not
 * followed), never a read, because archives can be hundreds of GB. */
static void lookAtArchive(const Catalog *catalog, const char *id, CatEntry *entry)
{
    const Manifest *manifest = entry->manifest;
    char name[CAT_NAME_SIZE];
    StorageInfo info;
    if (!manifest->archive.file || catFileJoin(name, sizeof(name), id, manifest->archive.file) != ERR_OK
        || storageInfo(catalog->storage, name, &info) != ERR_OK) {
        entry->archiveState = CAT_ARCHIVE_MISSING;
        return;
    }
    if (info.kind != STORAGE_KIND_FILE) {
        entry->archiveState = CAT_ARCHIVE_NOT_REGULAR;
        return;
    }
    entry->archiveBytes = info.size;
    entry->archiveMtime = info.mtime;
    entry->archiveState = entry->archiveBytes == manifest->archive.sizeCompressed ? CAT_ARCHIVE_PRESENT
                                                                                 : CAT_ARCHIVE_WRONG_SIZE;
}

bool catEntryUsable(const CatEntry *entry)
{
    return manifestIsValid(entry->manifest) && entry->archiveState == CAT_ARCHIVE_PRESENT && !entry->chainProblem[0];
}

const char *catEntryStatus(const CatEntry *entry)
{
    if (!entry->manifest)
        return CAT_STATUS_DAMAGED;
    switch (entry->archiveState) {
    case CAT_ARCHIVE_MISSING:
        return CAT_STATUS_INCOMPLETE;
    case CAT_ARCHIVE_WRONG_SIZE:
    case CAT_ARCHIVE_NOT_REGULAR:
    case CAT_ARCHIVE_BAD_CHECKSUM:
        return MANIFEST_STATUS_CORRUPTED;
    case CAT_ARCHIVE_UNREADABLE:
        return "UNREADABLE";
    case CAT_ARCHIVE_UNCHECKED:
    case CAT_ARCHIVE_PRESENT:
        break;
    }
    if (entry->chainProblem[0])
        return MANIFEST_STATUS_CORRUPTED;
    return entry->manifest->status;
}

const char *catEntryProblem(const CatEntry *entry, char *out, size_t outSize)
{
    const char *file = entry->manifest && entry->manifest->archive.file ? entry->manifest->archive.file : "";
    uint64_t expected = entry->manifest ? entry->manifest->archive.sizeCompressed : 0;
    switch (entry->archiveState) {
    case CAT_ARCHIVE_MISSING:
        if (file[0])
            snprintf(out, outSize, "archive file %s is missing", file);
        else
            snprintf(out, outSize, "the manifest names no archive file");
        break;
    case CAT_ARCHIVE_WRONG_SIZE:
        snprintf(out, outSize, "archive file %s has %llu bytes, the manifest says %llu", file,
                 (unsigned long long)entry->archiveBytes, (unsigned long long)expected);
        break;
    case CAT_ARCHIVE_NOT_REGULAR:
        snprintf(out, outSize, "archive %s is not a regular file", file);
        break;
    case CAT_ARCHIVE_BAD_CHECKSUM:
        snprintf(out, outSize, "archive file %s does not match its SHA-256", file);
        break;
    case CAT_ARCHIVE_UNREADABLE:
        snprintf(out, outSize, "archive file %s could not be read", file);
        break;
    default:
        if (entry->chainProblem[0])
            snprintf(out, outSize, "%s", entry->chainProblem);
        else if (outSize)
            out[0] = '\0';
        break;
    }
    return out;
}

/* ---- the in-place layout's one listing -------------------------------------- */

/* One file below a backup id, from one recursive listing of the repository. */
typedef struct {
    char *name;     /* "<id>/<file>", as listed */
    size_t idLength;
    uint64_t size;
    int64_t mtime;
} CatScanFile;

typedef struct {
    CatScanFile *files; /* sorted by name, so each id's files are adjacent */
    size_t count;
    size_t capacity;
} CatScan;

/* The files of one id within a scan. */
typedef struct {
    char id[CAT_ID_SIZE];
    const CatScanFile *files;
    size_t count;
    bool hasManifest; /* manifest.json or its copy */
    uint64_t bytes;
    int64_t mtime;    /* the newest file's */
} CatScanGroup;

static ErrCode scanAdd(const StorageInfo *info, void *payload)
{
    CatScan *scan = payload;
    size_t idLength = strcspn(info->name, "/");
    if (info->name[idLength] != '/' || idLength > CAT_ID_MAX)
        return ERR_OK; /* a file of the root itself, e.g. the catalog lock */
    char id[CAT_ID_SIZE];
    memcpy(id, info->name, idLength);
    id[idLength] = '\0';
    if (!catIdValid(id))
        return ERR_OK; /* not a backup's */
    if (scan->count == scan->capacity) {
        scan->capacity = scan->capacity ? scan->capacity * 2 : 64;
        scan->files = memRealloc(scan->files, scan->capacity * sizeof(*scan->files));
    }
    scan->files[scan->count++] = (CatScanFile){memStrdup(info->name), idLength, info->size, info->mtime};
    return ERR_OK;
}

static int compareScanFiles(const void *left, const void *right)
{
    return strcmp(((const CatScanFile *)left)->name, ((const CatScanFile *)right)->name);
}

static void scanFree(CatScan *scan)
{
    for (size_t index = 0; index < scan->count; index++)
        free(scan->files[index].name);
    free(scan->files);
    memset(scan, 0, sizeof(*scan));
}

/* Every file below every id in one recursive listing (on S3 a few
 * ListObjectsV2 pages for a thousand backups, not a request per backup). */
static ErrCode scanRepository(const Catalog *catalog, CatScan *out)
{
    memset(out, 0, sizeof(*out));
    ErrCode result = storageList(catalog->storage, "", scanAdd, out);
    if (result != ERR_OK) {
        scanFree(out);
        return result;
    }
    if (out->count > 1)
        qsort(out->files, out->count, sizeof(*out->files), compareScanFiles);
    return ERR_OK;
}

/* The group of files starting at index; returns the index after it. */
static size_t scanGroupAt(const CatScan *scan, size_t index, CatScanGroup *group)
{
    memset(group, 0, sizeof(*group));
    const CatScanFile *first = &scan->files[index];
    memcpy(group->id, first->name, first->idLength);
    group->id[first->idLength] = '\0';
    group->files = first;
    size_t next = index;
    while (next < scan->count && scan->files[next].idLength == first->idLength
           && memcmp(scan->files[next].name, first->name, first->idLength + 1) == 0) {
        const CatScanFile *file = &scan->files[next];
        const char *inside = file->name + file->idLength + 1;
        if (strcmp(inside, MANIFEST_FILE_NAME) == 0 || strcmp(inside, MANIFEST_COPY_FILE_NAME) == 0)
            group->hasManifest = true;
        group->bytes += file->size;
        if (file->mtime > group->mtime)
            group->mtime = file->mtime;
        next++;
    }
    group->count = next - index;
    return next;
}

/* The archive check of an in-place listing: its size from the scan, no request. */
static void lookAtArchiveInScan(const CatScanGroup *group, CatEntry *entry)
{
    const char *file = entry->manifest->archive.file;
    entry->archiveState = CAT_ARCHIVE_MISSING;
    for (size_t index = 0; file && index < group->count; index++) {
        const CatScanFile *listed = &group->files[index];
        if (strcmp(listed->name + listed->idLength + 1, file) != 0)
            continue;
        entry->archiveBytes = listed->size;
        entry->archiveMtime = listed->mtime;
        entry->archiveState = listed->size == entry->manifest->archive.sizeCompressed ? CAT_ARCHIVE_PRESENT
                                                                                        : CAT_ARCHIVE_WRONG_SIZE;
        return;
    }
}

typedef struct {
    uint64_t bytes;
    int64_t newest;
} CatDirTotals;

static ErrCode addFileTotals(const StorageInfo *info, void *payload)
{
    CatDirTotals *totals = payload;
    totals->bytes += info->size;
    if (info->mtime > totals->newest)
        totals->newest = info->mtime;
    return ERR_OK;
}

/* Fills an entry for an existing backup directory (dirMtime: the directory's
 * modification time, the creation time of last resort; 0 = its newest
 * file's). group: what an in-place listing found below the id (NULL: look). */
static void loadEntry(const Catalog *catalog, const char *id, int64_t dirMtime, const CatScanGroup *group,
                      CatEntry *entry)
{
    memset(entry, 0, sizeof(*entry));
    snprintf(entry->id, sizeof(entry->id), "%s", id);
    CatDirTotals totals = {0, 0};
    if (group)
        totals = (CatDirTotals){group->bytes, group->mtime};
    else if (storageList(catalog->storage, id, addFileTotals, &totals) != ERR_OK)
        totals = (CatDirTotals){0, 0};
    if (manifestLoadFrom(catalog->storage, id, &entry->manifest, &entry->origin) != ERR_OK) {
        entry->manifest = NULL;
        snprintf(entry->damage, sizeof(entry->damage), "%s", errLast()->reason);
    }
    int64_t fromId;
    if (entry->manifest)
        entry->created = entry->manifest->created;
    else if (timeParseBackupId(id, &fromId))
        entry->created = fromId;
    else
        entry->created = dirMtime ? dirMtime : totals.newest;
    if (manifestIsValid(entry->manifest)) {
        if (group)
            lookAtArchiveInScan(group, entry);
        else
            lookAtArchive(catalog, id, entry);
    }
    if (entry->manifest && entry->manifest->id && strcmp(entry->manifest->id, id) != 0)
        logDebug("backup directory %s holds a manifest for id %s", id, entry->manifest->id);
    entry->diskBytes = totals.bytes;
}

void catEntryFree(CatEntry *entry)
{
    if (!entry)
        return;
    manifestFree(entry->manifest);
    entry->manifest = NULL;
    sodium_memzero(entry->dataKey, sizeof(entry->dataKey));
    entry->unlocked = false;
}

static int compareNewestFirst(const void *left, const void *right)
{
    const CatEntry *first = left;
    const CatEntry *second = right;
    if (first->created != second->created)
        return first->created > second->created ? -1 : 1;
    return -strcmp(first->id, second->id);
}

static void listAppend(CatList *list, size_t *capacity)
{
    if (list->count == *capacity) {
        *capacity = *capacity ? *capacity * 2 : 16;
        list->entries = memRealloc(list->entries, *capacity * sizeof(*list->entries));
    }
}

/* In place: the ids whose manifest (or its copy) exists, from one listing;
 * an id without one is being written or a leftover, never a backup. */
static ErrCode listInPlace(Catalog *catalog, CatList *out)
{
    CatScan scan;
    ErrCode result = scanRepository(catalog, &scan);
    if (result != ERR_OK)
        return result;
    size_t capacity = 0;
    for (size_t index = 0; index < scan.count;) {
        CatScanGroup group;
        index = scanGroupAt(&scan, index, &group);
        if (!group.hasManifest)
            continue;
        listAppend(out, &capacity);
        loadEntry(catalog, group.id, group.mtime, &group, &out->entries[out->count++]);
    }
    scanFree(&scan);
    if (out->count > 1)
        qsort(out->entries, out->count, sizeof(*out->entries), compareNewestFirst);
    catChainCheckList(out);
    return ERR_OK;
}

ErrCode catList(Catalog *catalog, CatList *out)
{
    out->entries = NULL;
    out->count = 0;
    if (catInPlace(catalog))
        return listInPlace(catalog, out);
    CatDirList entries;
    ErrCode result = listRoot(catalog, &entries);
    if (result != ERR_OK)
        return result;
    size_t capacity = 0;
    for (size_t index = 0; index < entries.count; index++) {
        const CatDirEntry *entry = &entries.items[index];
        const char *name = entry->name;
        if (!catIdValid(name))
            continue; /* also skips .lock, .tmp-*, .deleting-* */
        if (entry->kind == STORAGE_KIND_LINK) {
            /* Never followed: it could lead anywhere, and retention deletes. */
            logWarn("Ignoring %s in the backup storage: a symbolic link, not a backup directory", name);
            continue;
        }
        if (entry->kind != STORAGE_KIND_DIR)
            continue;
        int64_t fromId;
        if (!hasManifestFile(catalog, name) && !timeParseBackupId(name, &fromId))
            continue; /* some other directory, not ours */
        listAppend(out, &capacity);
        loadEntry(catalog, name, entry->mtime, NULL, &out->entries[out->count++]);
    }
    dirListFree(&entries);
    if (out->count > 1)
        qsort(out->entries, out->count, sizeof(*out->entries), compareNewestFirst);
    catChainCheckList(out);
    return ERR_OK;
}

void catListFree(CatList *list)
{
    if (!list)
        return;
    for (size_t index = 0; index < list->count; index++)
        catEntryFree(&list->entries[index]);
    free(list->entries);
    list->entries = NULL;
    list->count = 0;
}

uint64_t catListTotalBytes(const CatList *list)
{
    uint64_t total = 0;
    for (size_t index = 0; index < list->count; index++)
        total += list->entries[index].diskBytes;
    return total;
}

ErrCode catFind(Catalog *catalog, const char *id, CatEntry *out)
{
    ErrCode result = catFindOne(catalog, id, out);
    if (result == ERR_OK)
        catChainCheckEntry(catalog, out);
    return result;
}

ErrCode catFindOne(Catalog *catalog, const char *id, CatEntry *out)
{
    memset(out, 0, sizeof(*out));
    ErrCode result = catIdCheck(id);
    if (result != ERR_OK)
        return result;
    if (catInPlace(catalog)) {
        /* Object storage has no links; only a manifest makes a backup. */
        result = backupExists(catalog, id);
        if (result == ERR_OK)
            loadEntry(catalog, id, 0, NULL, out);
        return result;
    }
    StorageInfo info;
    bool present = storageInfo(catalog->storage, id, &info) == ERR_OK;
    if (present && info.kind == STORAGE_KIND_LINK) {
        char shown[PATH_MAX];
        errSet(BACKUP_IO_FAILED, "refusing backup %s: %s is a symbolic link, not a backup directory", id,
               catFileShow(catalog->storage, id, shown, sizeof(shown)));
        errSetAction("Replace the link by the backup directory itself, or remove it");
        return BACKUP_IO_FAILED;
    }
    if (!present || info.kind != STORAGE_KIND_DIR)
        return notFound(catalog, id);
    loadEntry(catalog, id, info.mtime, NULL, out);
    return ERR_OK;
}

ErrCode catManifestUpdate(Catalog *catalog, const char *id, CatManifestEditor edit, void *payload)
{
    ErrCode result = catIdCheck(id);
    if (result != ERR_OK)
        return result;
    char purpose[CAT_ID_SIZE + 32];
    snprintf(purpose, sizeof(purpose), "updating manifest of %s", id);
    result = catLock(catalog, LOCK_EXCLUSIVE, CAT_LOCK_TIMEOUT_MS, purpose);
    if (result != ERR_OK)
        return result;
    Manifest *manifest = NULL;
    result = backupExists(catalog, id);
    if (result == ERR_OK)
        result = manifestLoadFrom(catalog->storage, id, &manifest, NULL);
    if (result == ERR_OK)
        result = edit(manifest, payload);
    if (result == ERR_OK)
        result = manifestSaveTo(catalog->storage, id, manifest);
    manifestFree(manifest);
    catUnlock(catalog);
    return result;
}

static ErrCode setKeepEditor(Manifest *manifest, void *payload)
{
    manifest->keep = *(const bool *)payload;
    return ERR_OK;
}

ErrCode catSetKeep(Catalog *catalog, const char *id, bool keep)
{
    return catManifestUpdate(catalog, id, setKeepEditor, &keep);
}

/* ---- removing ------------------------------------------------------------- */

/* In place, under the backup's lock: the manifest copy, then the manifest
 * (from here on the backup is invisible, so a crash leaves only a leftover
 * for catCleanLeftovers), then everything else. */
static ErrCode deleteInPlace(Catalog *catalog, const char *id)
{
    char name[CAT_NAME_SIZE];
    ErrCode result = catFileJoin(name, sizeof(name), id, MANIFEST_COPY_FILE_NAME);
    if (result == ERR_OK)
        result = storageRemove(catalog->storage, name);
    if (result == ERR_OK)
        result = catFileJoin(name, sizeof(name), id, MANIFEST_FILE_NAME);
    if (result == ERR_OK)
        result = storageRemove(catalog->storage, name);
    if (result != ERR_OK)
        return result;
    result = storageRemoveDir(catalog->storage, id);
    if (result != ERR_OK) {
        char shown[PATH_MAX];
        errAddContext("backup %s was removed from the catalog but files remain below %s (a leftover)", id,
                      catFileShow(catalog->storage, id, shown, sizeof(shown)));
    }
    return result;
}

ErrCode catDelete(Catalog *catalog, const char *id)
{
    ErrCode result = catIdCheck(id);
    if (result != ERR_OK)
        return result;
    char deletingName[CAT_ID_SIZE + 16];
    snprintf(deletingName, sizeof(deletingName), DELETING_PREFIX "%s", id);
    char purpose[CAT_ID_SIZE + 32];
    snprintf(purpose, sizeof(purpose), "deleting backup %s", id);
    result = catLock(catalog, LOCK_EXCLUSIVE, CAT_LOCK_TIMEOUT_MS, purpose);
    if (result != ERR_OK)
        return result;
    StorageLock *backupLock = NULL;
    result = catLockBackup(catalog, id, LOCK_EXCLUSIVE, 0, purpose, &backupLock);
    if (result == ERR_OK && catInPlace(catalog)) {
        result = deleteInPlace(catalog, id);
        storageLockRelease(backupLock);
        catUnlock(catalog);
        return result;
    }
    /* A leftover of an interrupted delete of the same id is finished first. */
    if (result == ERR_OK)
        result = storageRemoveDir(catalog->storage, deletingName);
    /* Once renamed (durably: storageMove syncs the root) the backup is gone
     * from listings, before the slow part. */
    if (result == ERR_OK)
        result = storageMove(catalog->storage, id, deletingName, 0);
    if (result == ERR_OK) {
        result = storageRemoveDir(catalog->storage, deletingName);
        if (result != ERR_OK)
            errAddContext("backup %s was removed from the catalog but %s remains", id, deletingName);
    }
    storageLockRelease(backupLock);
    catUnlock(catalog);
    return result;
}

static bool processAlive(long pid)
{
    if (pid <= 0)
        return false;
    return kill((pid_t)pid, 0) == 0 || errno == EPERM;
}

/* For ".tmp-<id>-<pid>" (modified at mtime) returns true when its writer is gone. */
static bool tempDirAbandoned(const Catalog *catalog, const char *name, int64_t mtime)
{
    char lockName[CAT_NAME_SIZE];
    if (catFileJoin(lockName, sizeof(lockName), name, CAT_LOCK_FILE_NAME) != ERR_OK)
        return false;
    if (storageLockHeld(catalog->storage, lockName))
        return false;
    const char *dash = strrchr(name, '-');
    long pid = dash ? strtol(dash + 1, NULL, 10) : 0;
    if (!processAlive(pid))
        return true;
    return (int64_t)time(NULL) - mtime > LEFTOVER_STALE_SECONDS;
}

/* In place, one leftover id (no manifest, lock free when looked at): taken
 * under its lock (an expired one is taken over, so a writer that comes back
 * finds it lost and does not commit), looked at again, removed with the
 * uploads left below it. *gone: it was removed. */
static ErrCode removeLeftoverInPlace(Catalog *catalog, const char *id, bool *gone)
{
    *gone = false;
    Storage *storage = catalog->storage;
    char lockName[CAT_NAME_SIZE];
    ErrCode result = catFileJoin(lockName, sizeof(lockName), id, CAT_LOCK_FILE_NAME);
    if (result != ERR_OK)
        return result;
    StorageLock *lock = NULL;
    StorageLockOwner owner = {.owner = "cleaning leftovers"};
    result = storageLockAcquireMode(storage, lockName, &owner, STORAGE_LOCK_EXCLUSIVE, 0, CAT_LOCK_TTL_SECONDS, &lock);
    if (result == BACKUP_LOCKED || result == BACKUP_NOT_FOUND) {
        errClear(); /* a writer began meanwhile, or the id is gone already */
        return ERR_OK;
    }
    if (result != ERR_OK)
        return result;
    bool committed = false;
    result = manifestPresent(catalog, id, &committed);
    if (result == ERR_OK && !committed)
        result = storageRemoveDir(storage, id);
    /* Parts of an upload its dead writer never completed are billed until
     * aborted. We hold the id's lock, so no live writer uploads below it:
     * every upload there is abandoned, whatever the clocks say about when it
     * began (the service's clock, and the same second, must not spare one). */
    if (result == ERR_OK && !committed && strcmp(storageDriverName(storage), "s3") == 0) {
        unsigned aborted = 0;
        if (storageS3AbortUploads(storage, id, INT64_MAX, &aborted) != ERR_OK)
            logWarn("could not abort the unfinished uploads below %s: %s", id, errLast()->reason);
        else if (aborted > 0)
            logInfo("aborted %u unfinished upload(s) below %s", aborted, id);
        errClear();
    }
    storageLockRelease(lock);
    *gone = result == ERR_OK && !committed;
    return result;
}

/* In place: ids with files but no manifest whose lock is not held (absent,
 * or expired: its writer died or lost the service). */
static ErrCode cleanInPlace(Catalog *catalog, bool dryRun, CatNameList *removed)
{
    CatScan scan;
    ErrCode result = scanRepository(catalog, &scan);
    if (result != ERR_OK)
        return result;
    for (size_t index = 0; index < scan.count;) {
        CatScanGroup group;
        index = scanGroupAt(&scan, index, &group);
        char lockName[CAT_NAME_SIZE];
        if (group.hasManifest || catFileJoin(lockName, sizeof(lockName), group.id, CAT_LOCK_FILE_NAME) != ERR_OK
            || storageLockHeld(catalog->storage, lockName))
            continue;
        bool gone = dryRun;
        ErrCode removal = dryRun ? ERR_OK : catalogLockCheck(catalog);
        if (removal == ERR_OK && !dryRun)
            removal = removeLeftoverInPlace(catalog, group.id, &gone);
        if (removal != ERR_OK && result == ERR_OK)
            result = removal;
        if (gone)
            nameListAdd(removed, group.id);
    }
    scanFree(&scan);
    return result;
}

ErrCode catCleanLeftovers(Catalog *catalog, bool dryRun, CatNameList *removed)
{
    removed->names = NULL;
    removed->count = 0;
    ErrCode result = catLock(catalog, LOCK_EXCLUSIVE, CAT_LOCK_TIMEOUT_MS, "cleaning leftovers");
    if (result != ERR_OK)
        return result;
    if (catInPlace(catalog)) {
        result = cleanInPlace(catalog, dryRun, removed);
        catUnlock(catalog);
        return result;
    }
    CatDirList entries;
    result = listRoot(catalog, &entries);
    if (result != ERR_OK) {
        catUnlock(catalog);
        return result;
    }
    for (size_t index = 0; index < entries.count; index++) {
        const CatDirEntry *entry = &entries.items[index];
        const char *name = entry->name;
        bool isTemp = strncmp(name, TMP_PREFIX, strlen(TMP_PREFIX)) == 0;
        bool isDeleting = strncmp(name, DELETING_PREFIX, strlen(DELETING_PREFIX)) == 0;
        if ((!isTemp && !isDeleting) || entry->kind != STORAGE_KIND_DIR)
            continue;
        /* .deleting-* dirs are only touched under the catalog lock we hold. */
        if (isTemp && !tempDirAbandoned(catalog, name, entry->mtime))
            continue;
        if (!dryRun) {
            ErrCode removal = storageRemoveDir(catalog->storage, name);
            if (removal != ERR_OK) {
                if (result == ERR_OK)
                    result = removal;
                continue;
            }
        }
        nameListAdd(removed, name);
    }
    dirListFree(&entries);
    catUnlock(catalog);
    return result;
}

ErrCode catVerifyArchive(Catalog *catalog, CatEntry *entry)
{
    if (!catEntryUsable(entry)) {
        char problem[512];
        errSet(BACKUP_CORRUPTED, "backup %s is not restorable: %s", entry->id,
               entry->manifest ? catEntryProblem(entry, problem, sizeof(problem)) : "manifest damaged");
        return BACKUP_CORRUPTED;
    }
    const Manifest *manifest = entry->manifest;
    /* A --validate pass read every byte; an archive not touched since is
     * still what was validated. */
    if (strcmp(manifest->status, MANIFEST_STATUS_VALIDATED) == 0 && manifest->validatedAt > 0
        && entry->archiveMtime <= manifest->validatedAt) {
        logDebug("backup %s: trusting its validation of %lld (archive unchanged since)", entry->id,
                 (long long)manifest->validatedAt);
        return ERR_OK;
    }
    char name[CAT_NAME_SIZE], archivePath[PATH_MAX];
    ErrCode result = catFileJoin(name, sizeof(name), entry->id, manifest->archive.file);
    catFileShow(catalog->storage, name, archivePath, sizeof(archivePath));
    char got[65] = "";
    uint64_t size = 0;
    if (result == ERR_OK)
        result = catFileSha256(catalog->storage, name, got, &size, NULL);
    if (result == BACKUP_NOT_FOUND) {
        entry->archiveState = CAT_ARCHIVE_MISSING;
        return errSet(BACKUP_CORRUPTED, "backup %s: archive %s is missing", entry->id, archivePath);
    }
    if (result != ERR_OK) {
        entry->archiveState = CAT_ARCHIVE_UNREADABLE;
        return result;
    }
    if (size != manifest->archive.sizeCompressed || !manifest->archive.sha256
        || strcmp(got, manifest->archive.sha256) != 0) {
        entry->archiveState = CAT_ARCHIVE_BAD_CHECKSUM;
        return errSet(BACKUP_CORRUPTED, "backup %s: checksum mismatch for %s (expected %.16s..., got %.16s...)",
                      entry->id, archivePath, manifest->archive.sha256 ? manifest->archive.sha256 : "(none)", got);
    }
    return ERR_OK;
}

static ErrCode markCorruptedEditor(Manifest *manifest, void *payload)
{
    manifestSetString(&manifest->status, MANIFEST_STATUS_CORRUPTED);
    manifestSetString(&manifest->failureReason, payload);
    return ERR_OK;
}

void catNewestRestorable(Catalog *catalog, CatList *list, const char *skipId, bool record, size_t *index)
{
    *index = CAT_NONE;
    for (size_t candidate = 0; candidate < list->count; candidate++) {
        CatEntry *entry = &list->entries[candidate];
        if ((skipId && strcmp(entry->id, skipId) == 0) || !catEntryUsable(entry))
            continue;
        ErrCode result = catVerifyArchive(catalog, entry);
        if (result == ERR_OK) {
            *index = candidate;
            return;
        }
        char reason[sizeof(errLast()->reason)];
        snprintf(reason, sizeof(reason), "%s", errLast()->reason);
        logWarn("Backup %s is not restorable: %s", entry->id, reason);
        if (record && entry->archiveState == CAT_ARCHIVE_BAD_CHECKSUM
            && catManifestUpdate(catalog, entry->id, markCorruptedEditor, "archive checksum mismatch") == ERR_OK)
            logWarn("Backup %s is now marked %s", entry->id, MANIFEST_STATUS_CORRUPTED);
    }
}

ErrCode catDeleteAllowed(Catalog *catalog, const char *id, bool force, bool dryRun)
{
    if (force)
        return ERR_OK;
    CatList list;
    ErrCode result = catList(catalog, &list);
    if (result != ERR_OK)
        return result;
    CatEntry *target = NULL;
    for (size_t index = 0; index < list.count && !target; index++)
        if (strcmp(list.entries[index].id, id) == 0)
            target = &list.entries[index];
    if (!target) {
        catListFree(&list);
        return notFound(catalog, id);
    }
    if (target->manifest && target->manifest->keep) {
        catListFree(&list);
        errSet(BACKUP_PROTECTED, "backup %s carries the keep mark", id);
        errSetAction("Remove the mark first (neo4j-backup --unkeep %s), or delete with --force", id);
        return BACKUP_PROTECTED;
    }
    size_t other = CAT_NONE;
    if (catEntryUsable(target))
        catNewestRestorable(catalog, &list, id, !dryRun, &other);
    /* Only when nothing else is restorable does the target's own state matter:
     * a backup that fails its checksum protects nothing. */
    bool lastRestorable = catEntryUsable(target) && other == CAT_NONE && catVerifyArchive(catalog, target) == ERR_OK;
    catListFree(&list);
    if (lastRestorable) {
        errSet(BACKUP_PROTECTED, "backup %s is the only restorable backup; deleting it would leave none", id);
        errSetAction("Create a newer backup first (neo4j-backup --create), or delete with --force");
        return BACKUP_PROTECTED;
    }
    return ERR_OK;
}

void catRetentionInput(Catalog *catalog, const CatList *list, RetBackup *out)
{
    for (size_t index = 0; index < list->count; index++) {
        const CatEntry *entry = &list->entries[index];
        RetBackup *backup = &out[index];
        memset(backup, 0, sizeof(*backup));
        backup->created = entry->created;
        backup->valid = catEntryUsable(entry);
        backup->keep = entry->manifest && entry->manifest->keep;
        size_t parent = catListParent(list, index);
        backup->dependsOn = parent == CAT_NONE ? 0 : parent + 1;
        char lockName[CAT_NAME_SIZE];
        if (catFileJoin(lockName, sizeof(lockName), entry->id, CAT_LOCK_FILE_NAME) == ERR_OK)
            backup->inUse = storageLockHeld(catalog->storage, lockName);
    }
}

ErrCode catRetentionApply(Catalog *catalog, const RetPolicy *policy, int64_t now, bool dryRun,
                          CatNameList *deleted)
{
    deleted->names = NULL;
    deleted->count = 0;
    ErrCode result = catLock(catalog, LOCK_EXCLUSIVE, CAT_LOCK_TIMEOUT_MS, "applying retention");
    if (result != ERR_OK)
        return result;
    CatList list;
    result = catList(catalog, &list);
    if (result != ERR_OK) {
        catUnlock(catalog);
        return result;
    }
    size_t newest = CAT_NONE;
    catNewestRestorable(catalog, &list, NULL, !dryRun, &newest);
    if (newest == CAT_NONE && list.count > 0) {
        size_t count = list.count;
        catListFree(&list);
        catUnlock(catalog);
        errSet(BACKUP_NONE_RESTORABLE, "none of the %zu backups in %s is restorable; retention deleted nothing",
               count, catalog->where);
        return BACKUP_NONE_RESTORABLE;
    }
    RetBackup *inputs = memCalloc(list.count ? list.count : 1, sizeof(*inputs));
    RetDecision *decisions = memCalloc(list.count ? list.count : 1, sizeof(*decisions));
    /* After catNewestRestorable: backups newer than the restorable one failed
     * verification and are no longer "valid", so it is the newest valid. */
    catRetentionInput(catalog, &list, inputs);
    retEvaluate(inputs, list.count, policy, now, decisions);
    ErrCode firstFailure = ERR_OK;
    /* Dependants go before what they depend on (deepest first, then newest
     * first), so a crash never leaves a differential without its parent;
     * a backup whose dependant stayed (in use, a failure) stays as well. */
    size_t *order = memCalloc(list.count ? list.count : 1, sizeof(*order));
    size_t *depths = memCalloc(list.count ? list.count : 1, sizeof(*depths));
    bool *blocked = memCalloc(list.count ? list.count : 1, sizeof(*blocked));
    size_t pending = 0;
    for (size_t index = 0; index < list.count; index++) {
        if (!decisions[index].keep) {
            depths[index] = catListDepth(&list, index);
            order[pending++] = index;
        }
    }
    for (size_t sorted = 1; sorted < pending; sorted++) /* stable insertion: few backups */
        for (size_t at = sorted; at > 0 && depths[order[at]] > depths[order[at - 1]]; at--) {
            size_t swap = order[at];
            order[at] = order[at - 1];
            order[at - 1] = swap;
        }
    for (size_t position = 0; position < pending; position++) {
        size_t index = order[position];
        const char *id = list.entries[index].id;
        bool stays = blocked[index];
        if (stays) {
            logWarn("expired backup %s stays: a differential that depends on it could not be deleted", id);
        } else if (!dryRun) {
            ErrCode removal = catDelete(catalog, id);
            if (removal == BACKUP_LOCKED) {
                logWarn("backup %s is expired but in use; it will be removed later (%s)", id, errLast()->reason);
                stays = true;
            } else if (removal != ERR_OK) {
                logWarn("could not delete expired backup %s: %s", id, errLast()->reason);
                if (firstFailure == ERR_OK)
                    firstFailure = removal;
                stays = true;
            }
        }
        if (stays) {
            size_t steps = 0;
            for (size_t parent = catListParent(&list, index); parent != CAT_NONE && steps < list.count;
                 parent = catListParent(&list, parent), steps++)
                blocked[parent] = true;
            continue;
        }
        nameListAdd(deleted, id);
    }
    free(order);
    free(depths);
    free(blocked);
    free(inputs);
    free(decisions);
    catListFree(&list);
    catUnlock(catalog);
    if (firstFailure != ERR_OK)
        errSet(firstFailure, "retention could not delete every expired backup (see warnings)");
    return firstFailure;
}
