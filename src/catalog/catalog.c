/* The backup repository: ids, listing, temporary and committed backup
 * directories, locks, deletion, leftovers and retention (layout in catalog.h). */
#include "catalog/catalog.h"

#include "common/config.h"
#include "common/fsutil.h"
#include "common/log.h"
#include "common/mem.h"
#include "common/timeutil.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <openssl/evp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define TMP_PREFIX ".tmp-"
#define DELETING_PREFIX ".deleting-"
/* A temporary directory whose lock is free and that has not changed for this
 * long is abandoned even if a process with the recorded pid exists (pid
 * reuse, or a writer in another pid namespace). */
#define LEFTOVER_STALE_SECONDS 3600

struct Catalog {
    char *root;
    Lock *lock;
    int lockDepth;
};

struct CatBackupDir {
    Catalog *catalog;
    char id[CAT_ID_SIZE];
    char tempPath[PATH_MAX];
    char finalPath[PATH_MAX];
    Lock *lock;
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
    if (create) {
        ErrCode result = fsMkdirP(root, 0700);
        if (result != ERR_OK)
            return result;
    }
    struct stat info;
    if (stat(root, &info) != 0) {
        ErrCode code = fsErrorFromErrno(errno, "cannot open backup storage", root);
        errSetAction("Check BACKUP_STORAGE_PATH");
        return code;
    }
    if (!S_ISDIR(info.st_mode)) {
        errSet(BACKUP_IO_FAILED, "backup storage %s is not a directory", root);
        errSetAction("Check BACKUP_STORAGE_PATH");
        return BACKUP_IO_FAILED;
    }
    Catalog *catalog = memCalloc(1, sizeof(*catalog));
    char *rootCopy = memStrdup(root);
    size_t length = strlen(rootCopy);
    while (length > 1 && rootCopy[length - 1] == '/')
        rootCopy[--length] = '\0';
    catalog->root = rootCopy;
    *out = catalog;
    return ERR_OK;
}

void catClose(Catalog *catalog)
{
    if (!catalog)
        return;
    lockRelease(catalog->lock);
    free(catalog->root);
    free(catalog);
}

const char *catRoot(const Catalog *catalog) { return catalog->root; }

ErrCode catBackupPath(const Catalog *catalog, const char *id, char *out, size_t outSize)
{
    ErrCode result = catIdCheck(id);
    if (result != ERR_OK)
        return result;
    return fsPathJoin(out, outSize, catalog->root, id);
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

/* True when a temporary directory for id exists (any writer pid). */
static bool tempDirExists(const Catalog *catalog, const char *id)
{
    DIR *dir = opendir(catalog->root);
    if (!dir)
        return false;
    char prefix[CAT_ID_SIZE + 16];
    snprintf(prefix, sizeof(prefix), TMP_PREFIX "%s-", id);
    size_t prefixLength = strlen(prefix);
    bool found = false;
    struct dirent *entry;
    while (!found && (entry = readdir(dir)) != NULL) {
        const char *rest = entry->d_name + prefixLength;
        if (strncmp(entry->d_name, prefix, prefixLength) == 0 && *rest && strspn(rest, "0123456789") == strlen(rest))
            found = true;
    }
    closedir(dir);
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
        char path[PATH_MAX];
        ErrCode result = fsPathJoin(path, sizeof(path), catalog->root, out);
        if (result != ERR_OK)
            return result;
        if (!fsExists(path) && !tempDirExists(catalog, out))
            return ERR_OK;
    }
    return errSet(BACKUP_IO_FAILED, "no free backup id for %s in %s", base, catalog->root);
}

/* ---- locks ---------------------------------------------------------------- */

ErrCode catLock(Catalog *catalog, LockMode mode, int timeoutMs, const char *purpose)
{
    if (catalog->lock) {
        if (mode == LOCK_EXCLUSIVE && lockMode(catalog->lock) != LOCK_EXCLUSIVE)
            return errSet(ERR_INTERNAL, "catalog lock held shared, exclusive needed");
        catalog->lockDepth++;
        return ERR_OK;
    }
    char path[PATH_MAX];
    ErrCode result = fsPathJoin(path, sizeof(path), catalog->root, CAT_LOCK_FILE_NAME);
    if (result == ERR_OK)
        result = lockAcquire(&catalog->lock, path, mode, timeoutMs, purpose);
    if (result == ERR_OK)
        catalog->lockDepth = 1;
    return result;
}

void catUnlock(Catalog *catalog)
{
    if (!catalog->lock || --catalog->lockDepth > 0)
        return;
    lockRelease(catalog->lock);
    catalog->lock = NULL;
    catalog->lockDepth = 0;
}

static ErrCode notFound(const Catalog *catalog, const char *id)
{
    errSet(BACKUP_NOT_FOUND, "backup %s not found in %s", id, catalog->root);
    errSetAction("List available backups with --list");
    return BACKUP_NOT_FOUND;
}

ErrCode catLockBackup(Catalog *catalog, const char *id, LockMode mode, int timeoutMs, const char *purpose,
                      Lock **out)
{
    *out = NULL;
    char backupPath[PATH_MAX], lockFile[PATH_MAX];
    ErrCode result = catBackupPath(catalog, id, backupPath, sizeof(backupPath));
    if (result != ERR_OK)
        return result;
    if (!fsIsDirectory(backupPath))
        return notFound(catalog, id);
    result = fsPathJoin(lockFile, sizeof(lockFile), backupPath, CAT_LOCK_FILE_NAME);
    if (result != ERR_OK)
        return result;
    result = lockAcquire(out, lockFile, mode, timeoutMs, purpose);
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
    CatBackupDir *dir = memCalloc(1, sizeof(*dir));
    dir->catalog = catalog;
    snprintf(dir->id, sizeof(dir->id), "%s", id);
    char tempName[CAT_ID_SIZE + 32];
    snprintf(tempName, sizeof(tempName), TMP_PREFIX "%s-%ld", id, (long)getpid());
    result = fsPathJoin(dir->finalPath, sizeof(dir->finalPath), catalog->root, id);
    if (result == ERR_OK)
        result = fsPathJoin(dir->tempPath, sizeof(dir->tempPath), catalog->root, tempName);
    if (result != ERR_OK) {
        free(dir);
        return result;
    }
    if (fsExists(dir->finalPath)) {
        free(dir);
        errSet(BACKUP_IO_FAILED, "backup %s already exists in %s", id, catalog->root);
        errSetAction("Use a different backup id");
        return BACKUP_IO_FAILED;
    }
    /* Same name as ours: a leftover of a dead process that had our pid. */
    result = fsRemoveTree(catalog->root, dir->tempPath);
    if (result == ERR_OK && mkdir(dir->tempPath, 0700) != 0)
        result = fsErrorFromErrno(errno, "cannot create directory", dir->tempPath);
    char lockFile[PATH_MAX];
    if (result == ERR_OK)
        result = fsPathJoin(lockFile, sizeof(lockFile), dir->tempPath, CAT_LOCK_FILE_NAME);
    if (result == ERR_OK) {
        char purpose[CAT_ID_SIZE + 32];
        snprintf(purpose, sizeof(purpose), "creating backup %s", id);
        result = lockAcquire(&dir->lock, lockFile, LOCK_EXCLUSIVE, 0, purpose);
        if (result != ERR_OK)
            fsRemoveTree(catalog->root, dir->tempPath);
    }
    if (result != ERR_OK) {
        free(dir);
        return result;
    }
    *out = dir;
    return ERR_OK;
}

const char *catBackupDirPath(const CatBackupDir *dir) { return dir->tempPath; }

const char *catBackupDirId(const CatBackupDir *dir) { return dir->id; }

void catBackupDirAbort(CatBackupDir *dir)
{
    if (!dir)
        return;
    /* Remove while still holding the lock, so cleanup never races us. */
    if (fsRemoveTree(dir->catalog->root, dir->tempPath) != ERR_OK)
        logWarn("could not remove %s: %s", dir->tempPath, errLast()->reason);
    lockRelease(dir->lock);
    free(dir);
}

/* fsyncs every regular file directly inside path. */
static ErrCode fsyncFilesIn(const char *path)
{
    DIR *dir = opendir(path);
    if (!dir)
        return fsErrorFromErrno(errno, "cannot list", path);
    ErrCode result = ERR_OK;
    struct dirent *entry;
    while (result == ERR_OK && (entry = readdir(dir)) != NULL) {
        struct stat info;
        if (fstatat(dirfd(dir), entry->d_name, &info, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(info.st_mode))
            continue;
        char filePath[PATH_MAX];
        result = fsPathJoin(filePath, sizeof(filePath), path, entry->d_name);
        if (result == ERR_OK)
            result = fsFsyncPath(filePath);
    }
    closedir(dir);
    return result;
}

/* rename that refuses to replace an existing target. */
static int renameNoReplace(const char *from, const char *to)
{
    if (renameat2(AT_FDCWD, from, AT_FDCWD, to, RENAME_NOREPLACE) == 0)
        return 0;
    if (errno != EINVAL && errno != ENOSYS)
        return -1;
    /* File system without RENAME_NOREPLACE: check, then rename (a non-empty
     * target directory still makes rename fail). */
    if (fsExists(to)) {
        errno = EEXIST;
        return -1;
    }
    return rename(from, to);
}

ErrCode catBackupDirCommit(CatBackupDir *dir)
{
    ErrCode result = fsyncFilesIn(dir->tempPath);
    if (result == ERR_OK)
        result = fsFsyncDir(dir->tempPath);
    if (result == ERR_OK && renameNoReplace(dir->tempPath, dir->finalPath) != 0)
        result = fsErrorFromErrno(errno, "cannot move the finished backup to", dir->finalPath);
    if (result != ERR_OK) {
        char reason[sizeof(errLast()->reason)];
        snprintf(reason, sizeof(reason), "%s", errLast()->reason);
        ErrCode code = errLast()->code;
        catBackupDirAbort(dir);
        errSet(code, "%s", reason);
        return code;
    }
    /* From here the backup exists; a failed root fsync is reported, but the
     * backup is not removed. */
    result = fsFsyncDir(dir->catalog->root);
    lockRelease(dir->lock);
    free(dir);
    return result;
}

/* ---- reading -------------------------------------------------------------- */

static bool hasManifestFile(const char *backupPath)
{
    char path[PATH_MAX];
    if (fsPathJoin(path, sizeof(path), backupPath, MANIFEST_FILE_NAME) == ERR_OK && fsExists(path))
        return true;
    return fsPathJoin(path, sizeof(path), backupPath, MANIFEST_COPY_FILE_NAME) == ERR_OK && fsExists(path);
}

/* The cheap archive check of listings: one lstat, never a read, because
 * archives can be hundreds of GB. */
static void lookAtArchive(const char *backupPath, CatEntry *entry)
{
    const Manifest *manifest = entry->manifest;
    char archivePath[PATH_MAX];
    struct stat info;
    if (!manifest->archive.file || fsPathJoin(archivePath, sizeof(archivePath), backupPath, manifest->archive.file) != ERR_OK
        || lstat(archivePath, &info) != 0) {
        entry->archiveState = CAT_ARCHIVE_MISSING;
        return;
    }
    if (!S_ISREG(info.st_mode)) {
        entry->archiveState = CAT_ARCHIVE_NOT_REGULAR;
        return;
    }
    entry->archiveBytes = (uint64_t)info.st_size;
    entry->archiveMtime = (int64_t)info.st_mtime;
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

/* Fills an entry for an existing backup directory. */
static void loadEntry(const char *backupPath, const char *id, CatEntry *entry)
{
    memset(entry, 0, sizeof(*entry));
    snprintf(entry->id, sizeof(entry->id), "%s", id);
    if (manifestLoad(backupPath, &entry->manifest, &entry->origin) != ERR_OK) {
        entry->manifest = NULL;
        snprintf(entry->damage, sizeof(entry->damage), "%s", errLast()->reason);
    }
    int64_t fromId;
    struct stat info;
    if (entry->manifest)
        entry->created = entry->manifest->created;
    else if (timeParseBackupId(id, &fromId))
        entry->created = fromId;
    else if (stat(backupPath, &info) == 0)
        entry->created = (int64_t)info.st_mtime;
    if (manifestIsValid(entry->manifest))
        lookAtArchive(backupPath, entry);
    if (entry->manifest && entry->manifest->id && strcmp(entry->manifest->id, id) != 0)
        logDebug("backup directory %s holds a manifest for id %s", id, entry->manifest->id);
    if (fsDirSize(backupPath, &entry->diskBytes) != ERR_OK)
        entry->diskBytes = 0;
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
    DIR *dir = opendir(catalog->root);
    if (!dir)
        return fsErrorFromErrno(errno, "cannot list backup storage", catalog->root);
    size_t capacity = 0;
    struct dirent *entry;
    while ((entry = readdir(dir)) != NULL) {
        const char *name = entry->d_name;
        if (!catIdValid(name))
            continue; /* also skips ".", "..", .lock, .tmp-*, .deleting-* */
        char backupPath[PATH_MAX];
        if (fsPathJoin(backupPath, sizeof(backupPath), catalog->root, name) != ERR_OK)
            continue;
        struct stat info;
        if (fstatat(dirfd(dir), name, &info, AT_SYMLINK_NOFOLLOW) != 0)
            continue;
        if (S_ISLNK(info.st_mode)) {
            /* Never followed: it could lead anywhere, and retention deletes. */
            logWarn("Ignoring %s in the backup storage: a symbolic link, not a backup directory", name);
            continue;
        }
        if (!S_ISDIR(info.st_mode))
            continue;
        int64_t fromId;
        if (!hasManifestFile(backupPath) && !timeParseBackupId(name, &fromId))
            continue; /* some other directory, not ours */
        if (out->count == capacity) {
            capacity = capacity ? capacity * 2 : 16;
            CatEntry *grown = memRealloc(out->entries, capacity * sizeof(*grown));
            out->entries = grown;
        }
        loadEntry(backupPath, name, &out->entries[out->count++]);
    }
    closedir(dir);
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
    char backupPath[PATH_MAX];
    ErrCode result = catBackupPath(catalog, id, backupPath, sizeof(backupPath));
    if (result != ERR_OK)
        return result;
    struct stat info;
    if (lstat(backupPath, &info) == 0 && S_ISLNK(info.st_mode)) {
        errSet(BACKUP_IO_FAILED, "refusing backup %s: %s is a symbolic link, not a backup directory", id, backupPath);
        errSetAction("Replace the link by the backup directory itself, or remove it");
        return BACKUP_IO_FAILED;
    }
    if (!fsIsDirectory(backupPath))
        return notFound(catalog, id);
    loadEntry(backupPath, id, out);
    return ERR_OK;
}

ErrCode catManifestUpdate(Catalog *catalog, const char *id, CatManifestEditor edit, void *payload)
{
    char backupPath[PATH_MAX];
    ErrCode result = catBackupPath(catalog, id, backupPath, sizeof(backupPath));
    if (result != ERR_OK)
        return result;
    char purpose[CAT_ID_SIZE + 32];
    snprintf(purpose, sizeof(purpose), "updating manifest of %s", id);
    result = catLock(catalog, LOCK_EXCLUSIVE, CAT_LOCK_TIMEOUT_MS, purpose);
    if (result != ERR_OK)
        return result;
    Manifest *manifest = NULL;
    if (!fsIsDirectory(backupPath))
        result = notFound(catalog, id);
    if (result == ERR_OK)
        result = manifestLoad(backupPath, &manifest, NULL);
    if (result == ERR_OK)
        result = edit(manifest, payload);
    if (result == ERR_OK)
        result = manifestSave(manifest, backupPath);
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
    char backupPath[PATH_MAX], deletingPath[PATH_MAX];
    char deletingName[CAT_ID_SIZE + 16];
    ErrCode result = catBackupPath(catalog, id, backupPath, sizeof(backupPath));
    if (result != ERR_OK)
        return result;
    snprintf(deletingName, sizeof(deletingName), DELETING_PREFIX "%s", id);
    result = fsPathJoin(deletingPath, sizeof(deletingPath), catalog->root, deletingName);
    if (result != ERR_OK)
        return result;
    char purpose[CAT_ID_SIZE + 32];
    snprintf(purpose, sizeof(purpose), "deleting backup %s", id);
    result = catLock(catalog, LOCK_EXCLUSIVE, CAT_LOCK_TIMEOUT_MS, purpose);
    if (result != ERR_OK)
        return result;
    Lock *backupLock = NULL;
    result = catLockBackup(catalog, id, LOCK_EXCLUSIVE, 0, purpose, &backupLock);
    /* A leftover of an interrupted delete of the same id is finished first. */
    if (result == ERR_OK)
        result = fsRemoveTree(catalog->root, deletingPath);
    if (result == ERR_OK && rename(backupPath, deletingPath) != 0)
        result = fsErrorFromErrno(errno, "cannot rename for deletion", backupPath);
    if (result == ERR_OK) {
        /* Once renamed the backup is gone from listings; make that durable
         * before the slow part. */
        if (fsFsyncDir(catalog->root) != ERR_OK)
            logDebug("fsync of %s failed: %s", catalog->root, errLast()->reason);
        result = fsRemoveTree(catalog->root, deletingPath);
        if (result != ERR_OK)
            errAddContext("backup %s was removed from the catalog but %s remains", id, deletingName);
    }
    lockRelease(backupLock);
    catUnlock(catalog);
    return result;
}

static bool processAlive(long pid)
{
    if (pid <= 0)
        return false;
    return kill((pid_t)pid, 0) == 0 || errno == EPERM;
}

/* For ".tmp-<id>-<pid>" returns true when its writer is gone. */
static bool tempDirAbandoned(const char *path, const char *name)
{
    char lockFile[PATH_MAX];
    if (fsPathJoin(lockFile, sizeof(lockFile), path, CAT_LOCK_FILE_NAME) != ERR_OK)
        return false;
    if (lockIsHeld(lockFile))
        return false;
    const char *dash = strrchr(name, '-');
    long pid = dash ? strtol(dash + 1, NULL, 10) : 0;
    if (!processAlive(pid))
        return true;
    struct stat info;
    return stat(path, &info) == 0 && time(NULL) - info.st_mtime > LEFTOVER_STALE_SECONDS;
}

ErrCode catCleanLeftovers(Catalog *catalog, bool dryRun, CatNameList *removed)
{
    removed->names = NULL;
    removed->count = 0;
    ErrCode result = catLock(catalog, LOCK_EXCLUSIVE, CAT_LOCK_TIMEOUT_MS, "cleaning leftovers");
    if (result != ERR_OK)
        return result;
    DIR *dir = opendir(catalog->root);
    if (!dir) {
        result = fsErrorFromErrno(errno, "cannot list backup storage", catalog->root);
        catUnlock(catalog);
        return result;
    }
    CatNameList candidates = {NULL, 0};
    struct dirent *entry;
    while ((entry = readdir(dir)) != NULL) {
        const char *name = entry->d_name;
        bool isTemp = strncmp(name, TMP_PREFIX, strlen(TMP_PREFIX)) == 0;
        bool isDeleting = strncmp(name, DELETING_PREFIX, strlen(DELETING_PREFIX)) == 0;
        struct stat info;
        if ((!isTemp && !isDeleting) || fstatat(dirfd(dir), name, &info, AT_SYMLINK_NOFOLLOW) != 0
            || !S_ISDIR(info.st_mode))
            continue;
        nameListAdd(&candidates, name);
    }
    closedir(dir);
    for (size_t index = 0; index < candidates.count; index++) {
        const char *name = candidates.names[index];
        char path[PATH_MAX];
        if (fsPathJoin(path, sizeof(path), catalog->root, name) != ERR_OK)
            continue;
        /* .deleting-* dirs are only touched under the catalog lock we hold. */
        bool isTemp = strncmp(name, TMP_PREFIX, strlen(TMP_PREFIX)) == 0;
        if (isTemp && !tempDirAbandoned(path, name))
            continue;
        if (!dryRun) {
            ErrCode removal = fsRemoveTree(catalog->root, path);
            if (removal != ERR_OK) {
                if (result == ERR_OK)
                    result = removal;
                continue;
            }
        }
        nameListAdd(removed, name);
    }
    catNameListFree(&candidates);
    catUnlock(catalog);
    return result;
}

/* SHA-256 (hex) and size of an archive, read through fsOpenRegular. */
static ErrCode sha256OfArchive(const char *path, char hex[65], uint64_t *size, int64_t *mtime)
{
    int fd = -1;
    struct stat info;
    ErrCode result = fsOpenRegular(path, &fd, &info);
    if (result != ERR_OK)
        return result;
    *mtime = (int64_t)info.st_mtime;
    enum { READ_CHUNK = 1024 * 1024 };
    unsigned char *chunk = memAlloc(READ_CHUNK);
    EVP_MD_CTX *sha = EVP_MD_CTX_new();
    if (!sha || EVP_DigestInit_ex(sha, EVP_sha256(), NULL) != 1)
        result = errSet(ERR_INTERNAL, "cannot set up SHA-256 for %s", path);
    uint64_t total = 0;
    while (result == ERR_OK) {
        ssize_t got = read(fd, chunk, READ_CHUNK);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0)
            result = fsErrorFromErrno(errno, "cannot read", path);
        if (got <= 0)
            break;
        EVP_DigestUpdate(sha, chunk, (size_t)got);
        total += (uint64_t)got;
    }
    if (result == ERR_OK) {
        unsigned char digest[EVP_MAX_MD_SIZE];
        unsigned int digestLength = 0;
        EVP_DigestFinal_ex(sha, digest, &digestLength);
        for (unsigned int index = 0; index < 32 && index < digestLength; index++)
            snprintf(hex + 2 * index, 3, "%02x", digest[index]);
        *size = total;
    }
    EVP_MD_CTX_free(sha);
    free(chunk);
    close(fd);
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
    char backupPath[PATH_MAX], archivePath[PATH_MAX];
    ErrCode result = catBackupPath(catalog, entry->id, backupPath, sizeof(backupPath));
    if (result == ERR_OK)
        result = fsPathJoin(archivePath, sizeof(archivePath), backupPath, manifest->archive.file);
    char got[65] = "";
    uint64_t size = 0;
    int64_t mtime = 0;
    if (result == ERR_OK)
        result = sha256OfArchive(archivePath, got, &size, &mtime);
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
        char lockFile[PATH_MAX], backupPath[PATH_MAX];
        if (fsPathJoin(backupPath, sizeof(backupPath), catalog->root, entry->id) == ERR_OK
            && fsPathJoin(lockFile, sizeof(lockFile), backupPath, CAT_LOCK_FILE_NAME) == ERR_OK)
            backup->inUse = lockIsHeld(lockFile);
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
               count, catalog->root);
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
