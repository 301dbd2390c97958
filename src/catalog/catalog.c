/* The backup repository: ids, listing, temporary and committed backup
 * directories, locks, deletion, leftovers and retention (layout in
 * catalog.h). Every file is reached through the catalog's Storage; the only
 * paths built here are those handed to callers outside the catalog. */
#include "catalog/catalog.h"

#include "catalog/catalog_file.h"
#include "common/config.h"
#include "common/fsutil.h" /* fsPathJoin only: paths for callers outside the catalog */
#include "common/log.h"
#include "common/mem.h"
#include "common/timeutil.h"
#include "storage/posix.h"

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define TMP_PREFIX ".tmp-"
#define DELETING_PREFIX ".deleting-"
/* A temporary directory whose lock is free and that has not changed for this
 * long is abandoned even if a process with the recorded pid exists (pid
 * reuse, or a writer in another pid namespace). */
#define LEFTOVER_STALE_SECONDS 3600
/* How long a catalog lock stays valid on a storage that cannot see its holder
 * die (object storage); a posix lock dies with its process. */
#define CAT_LOCK_TTL_SECONDS 3600
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
    char tempName[CAT_ID_SIZE + 32]; /* ".tmp-<id>-<pid>" */
    char tempPath[PATH_MAX];         /* its path, for the writer outside the catalog */
    StorageLock *lock;
};

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
        if (!nameExists(catalog, out) && !tempDirExists(catalog, out))
            return ERR_OK;
    }
    return errSet(BACKUP_IO_FAILED, "no free backup id for %s in %s", base, catalog->where);
}

/* ---- locks ---------------------------------------------------------------- */

static int storageLockMode(LockMode mode)
{
    return mode == LOCK_EXCLUSIVE ? STORAGE_LOCK_EXCLUSIVE : STORAGE_LOCK_SHARED;
}

ErrCode catLock(Catalog *catalog, LockMode mode, int timeoutMs, const char *purpose)
{
    if (catalog->lock) {
        if (mode == LOCK_EXCLUSIVE && catalog->lockMode != LOCK_EXCLUSIVE)
            return errSet(ERR_INTERNAL, "catalog lock held shared, exclusive needed");
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

ErrCode catLockBackup(Catalog *catalog, const char *id, LockMode mode, int timeoutMs, const char *purpose,
                      StorageLock **out)
{
    *out = NULL;
    ErrCode result = catIdCheck(id);
    if (result != ERR_OK)
        return result;
    if (!isDirectory(catalog, id, NULL))
        return notFound(catalog, id);
    char lockName[CAT_NAME_SIZE];
    result = catFileJoin(lockName, sizeof(lockName), id, CAT_LOCK_FILE_NAME);
    if (result != ERR_OK)
        return result;
    StorageLockOwner owner = {.owner = purpose};
    result = storageLockAcquireMode(catalog->storage, lockName, &owner, storageLockMode(mode), timeoutMs,
                                    CAT_LOCK_TTL_SECONDS, out);
    if (result == BACKUP_LOCKED)
        errSetAction("Backup %s is in use; wait for that operation to finish, then retry", id);
    return result;
}

/* ---- creating ------------------------------------------------------------- */

ErrCode catBackupDirBegin(Catalog *catalog, const char *id, CatBackupDir **out)
{
    *out = NULL;
    ErrCode result = catIdCheck(id);
    if (result != ERR_OK)
        return result;
    const char *root = catRoot(catalog);
    if (!storageCanMove(catalog->storage) || !root) {
        /* Object storage cannot rename a finished backup into place; it gets
         * its own way of publishing a backup with the object-storage issue. */
        errSet(BACKUP_IO_FAILED, "creating a backup is not supported on this storage yet (%s)",
               storageDriverName(catalog->storage));
        errSetAction("Use a directory for BACKUP_STORAGE_PATH");
        return BACKUP_IO_FAILED;
    }
    CatBackupDir *dir = memCalloc(1, sizeof(*dir));
    dir->catalog = catalog;
    snprintf(dir->id, sizeof(dir->id), "%s", id);
    snprintf(dir->tempName, sizeof(dir->tempName), TMP_PREFIX "%s-%ld", id, (long)getpid());
    result = fsPathJoin(dir->tempPath, sizeof(dir->tempPath), root, dir->tempName);
    if (result != ERR_OK) {
        free(dir);
        return result;
    }
    if (nameExists(catalog, id)) {
        free(dir);
        errSet(BACKUP_IO_FAILED, "backup %s already exists in %s", id, catalog->where);
        errSetAction("Use a different backup id");
        return BACKUP_IO_FAILED;
    }
    /* Same name as ours: a leftover of a dead process that had our pid. */
    result = storageRemoveDir(catalog->storage, dir->tempName);
    if (result == ERR_OK)
        result = storageDirCreate(catalog->storage, dir->tempName);
    char lockName[CAT_NAME_SIZE];
    if (result == ERR_OK)
        result = catFileJoin(lockName, sizeof(lockName), dir->tempName, CAT_LOCK_FILE_NAME);
    if (result == ERR_OK) {
        char purpose[CAT_ID_SIZE + 32];
        snprintf(purpose, sizeof(purpose), "creating backup %s", id);
        StorageLockOwner owner = {.owner = purpose};
        result = storageLockAcquireMode(catalog->storage, lockName, &owner, STORAGE_LOCK_EXCLUSIVE, 0,
                                        CAT_LOCK_TTL_SECONDS, &dir->lock);
        if (result != ERR_OK) {
            ErrDetail failure = errSave();
            storageRemoveDir(catalog->storage, dir->tempName);
            errRestore(&failure);
        }
    }
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
    if (storageRemoveDir(dir->catalog->storage, dir->tempName) != ERR_OK)
        logWarn("could not remove %s: %s", dir->tempPath, errLast()->reason);
    storageLockRelease(dir->lock);
    free(dir);
}

ErrCode catBackupDirCommit(CatBackupDir *dir)
{
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
    return manifestIsValid(entry->manifest) && entry->archiveState == CAT_ARCHIVE_PRESENT;
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
        if (outSize)
            out[0] = '\0';
        break;
    }
    return out;
}

static ErrCode addFileSize(const StorageInfo *info, void *payload)
{
    *(uint64_t *)payload += info->size;
    return ERR_OK;
}

/* Fills an entry for an existing backup directory (dirMtime: the directory's
 * modification time, the creation time of last resort). */
static void loadEntry(const Catalog *catalog, const char *id, int64_t dirMtime, CatEntry *entry)
{
    memset(entry, 0, sizeof(*entry));
    snprintf(entry->id, sizeof(entry->id), "%s", id);
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
        entry->created = dirMtime;
    if (manifestIsValid(entry->manifest))
        lookAtArchive(catalog, id, entry);
    if (entry->manifest && entry->manifest->id && strcmp(entry->manifest->id, id) != 0)
        logDebug("backup directory %s holds a manifest for id %s", id, entry->manifest->id);
    uint64_t total = 0;
    entry->diskBytes = storageList(catalog->storage, id, addFileSize, &total) == ERR_OK ? total : 0;
}

void catEntryFree(CatEntry *entry)
{
    if (!entry)
        return;
    manifestFree(entry->manifest);
    entry->manifest = NULL;
}

static int compareNewestFirst(const void *left, const void *right)
{
    const CatEntry *first = left;
    const CatEntry *second = right;
    if (first->created != second->created)
        return first->created > second->created ? -1 : 1;
    return -strcmp(first->id, second->id);
}

ErrCode catList(Catalog *catalog, CatList *out)
{
    out->entries = NULL;
    out->count = 0;
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
        if (out->count == capacity) {
            capacity = capacity ? capacity * 2 : 16;
            CatEntry *grown = memRealloc(out->entries, capacity * sizeof(*grown));
            out->entries = grown;
        }
        loadEntry(catalog, name, entry->mtime, &out->entries[out->count++]);
    }
    dirListFree(&entries);
    if (out->count > 1)
        qsort(out->entries, out->count, sizeof(*out->entries), compareNewestFirst);
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
    memset(out, 0, sizeof(*out));
    ErrCode result = catIdCheck(id);
    if (result != ERR_OK)
        return result;
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
    loadEntry(catalog, id, info.mtime, out);
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
    if (!isDirectory(catalog, id, NULL))
        result = notFound(catalog, id);
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

ErrCode catCleanLeftovers(Catalog *catalog, bool dryRun, CatNameList *removed)
{
    removed->names = NULL;
    removed->count = 0;
    ErrCode result = catLock(catalog, LOCK_EXCLUSIVE, CAT_LOCK_TIMEOUT_MS, "cleaning leftovers");
    if (result != ERR_OK)
        return result;
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
    for (size_t index = 0; index < list.count; index++) {
        if (decisions[index].keep)
            continue;
        const char *id = list.entries[index].id;
        if (!dryRun) {
            ErrCode removal = catDelete(catalog, id);
            if (removal == BACKUP_LOCKED) {
                logWarn("backup %s is expired but in use; it will be removed later (%s)", id, errLast()->reason);
                continue;
            }
            if (removal != ERR_OK) {
                logWarn("could not delete expired backup %s: %s", id, errLast()->reason);
                if (firstFailure == ERR_OK)
                    firstFailure = removal;
                continue;
            }
        }
        nameListAdd(deleted, id);
    }
    free(inputs);
    free(decisions);
    catListFree(&list);
    catUnlock(catalog);
    if (firstFailure != ERR_OK)
        errSet(firstFailure, "retention could not delete every expired backup (see warnings)");
    return firstFailure;
}
