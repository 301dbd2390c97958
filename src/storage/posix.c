/* The posix storage driver (see posix.h): files below a root directory with
 * temp-name + fsync + rename writes, O_NOFOLLOW reads and flock locks. */
#include "storage/posix.h"

#include "common/fsutil.h"
#include "common/lock.h"
#include "common/mem.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define POSIX_TEMP_MARKER ".nbk-tmp-"
#define POSIX_LIST_MAX_DEPTH 64

typedef struct {
    char *root;
} PosixStorage;

typedef struct {
    int fd;
    char path[PATH_MAX];
    uint64_t remaining;
} PosixRead;

typedef struct {
    int fd;
    unsigned flags;
    char path[PATH_MAX];
    char tempPath[PATH_MAX];
} PosixWrite;

static atomic_uint posixTempCounter;

static ErrCode posixPath(const PosixStorage *storage, const char *name, char *out, size_t outSize)
{
    return name[0] == '\0' ? (snprintf(out, outSize, "%s", storage->root), ERR_OK)
                           : fsPathJoin(out, outSize, storage->root, name);
}

/* ENOENT is BACKUP_NOT_FOUND, ELOOP a refused link, the rest as fsutil maps it. */
static ErrCode posixOpenError(int errnoValue, const char *what, const char *path)
{
    if (errnoValue == ENOENT || errnoValue == ENOTDIR)
        return errSet(BACKUP_NOT_FOUND, "%s %s: no such file", what, path);
    if (errnoValue == ELOOP)
        return errSet(BACKUP_IO_FAILED, "%s %s: is a symbolic link (refused)", what, path);
    return fsErrorFromErrno(errnoValue, what, path);
}

static ErrCode posixReadOpen(void *driver, const char *name, uint64_t offset, uint64_t length, void **out)
{
    PosixStorage *storage = driver;
    PosixRead *reader = memCalloc(1, sizeof(*reader));
    ErrCode result = posixPath(storage, name, reader->path, sizeof(reader->path));
    if (result != ERR_OK) {
        free(reader);
        return result;
    }
    reader->fd = open(reader->path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
    if (reader->fd < 0) {
        result = posixOpenError(errno, "cannot open", reader->path);
        free(reader);
        return result;
    }
    struct stat info;
    if (fstat(reader->fd, &info) != 0 || !S_ISREG(info.st_mode)) {
        result = errSet(BACKUP_IO_FAILED, "cannot read %s: not a regular file", reader->path);
    } else if (offset > 0 && lseek(reader->fd, (off_t)offset, SEEK_SET) < 0) {
        result = fsErrorFromErrno(errno, "cannot seek in", reader->path);
    }
    if (result != ERR_OK) {
        close(reader->fd);
        free(reader);
        return result;
    }
    reader->remaining = length;
    *out = reader;
    return ERR_OK;
}

static ErrCode posixRead(void *handle, void *buffer, size_t size, size_t *got)
{
    PosixRead *reader = handle;
    *got = 0;
    if (reader->remaining < size)
        size = (size_t)reader->remaining;
    while (size > 0) {
        ssize_t count = read(reader->fd, buffer, size);
        if (count < 0) {
            if (errno == EINTR)
                continue;
            return fsErrorFromErrno(errno, "cannot read", reader->path);
        }
        *got = (size_t)count;
        reader->remaining -= (uint64_t)count;
        break;
    }
    return ERR_OK;
}

static void posixReadClose(void *handle)
{
    PosixRead *reader = handle;
    close(reader->fd);
    free(reader);
}

/* Creates the directories above path (inside the root, which exists). */
static ErrCode posixMakeParents(const char *path)
{
    char parent[PATH_MAX];
    snprintf(parent, sizeof(parent), "%s", path);
    char *slash = strrchr(parent, '/');
    if (!slash || slash == parent)
        return ERR_OK;
    *slash = '\0';
    return fsMkdirP(parent, 0700);
}

static ErrCode posixWriteOpen(void *driver, const char *name, unsigned flags, void **out)
{
    PosixStorage *storage = driver;
    PosixWrite *writer = memCalloc(1, sizeof(*writer));
    writer->flags = flags;
    ErrCode result = posixPath(storage, name, writer->path, sizeof(writer->path));
    if (result == ERR_OK) {
        int written = snprintf(writer->tempPath, sizeof(writer->tempPath), "%s" POSIX_TEMP_MARKER "%ld-%u",
                               writer->path, (long)getpid(), atomic_fetch_add(&posixTempCounter, 1));
        if (written < 0 || (size_t)written >= sizeof(writer->tempPath))
            result = errSet(BACKUP_IO_FAILED, "path too long: %s", writer->path);
    }
    if (result == ERR_OK)
        result = posixMakeParents(writer->path);
    if (result == ERR_OK) {
        unlink(writer->tempPath); /* a leftover of a crashed process that had our pid */
        writer->fd = open(writer->tempPath, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (writer->fd < 0)
            result = fsErrorFromErrno(errno, "cannot create", writer->tempPath);
    }
    if (result != ERR_OK) {
        free(writer);
        return result;
    }
    *out = writer;
    return ERR_OK;
}

static ErrCode posixWrite(void *handle, const void *data, size_t length)
{
    PosixWrite *writer = handle;
    const uint8_t *cursor = data;
    while (length > 0) {
        ssize_t written = write(writer->fd, cursor, length);
        if (written < 0) {
            if (errno == EINTR)
                continue;
            return fsErrorFromErrno(errno, "cannot write", writer->tempPath);
        }
        cursor += written;
        length -= (size_t)written;
    }
    return ERR_OK;
}

/* rename that refuses to replace an existing target (as the catalog's). */
static int posixRenameNoReplace(const char *from, const char *to)
{
    if (renameat2(AT_FDCWD, from, AT_FDCWD, to, RENAME_NOREPLACE) == 0)
        return 0;
    if (errno != EINVAL && errno != ENOSYS)
        return -1;
    /* File system without RENAME_NOREPLACE: check, then rename. */
    struct stat info;
    if (lstat(to, &info) == 0) {
        errno = EEXIST;
        return -1;
    }
    return rename(from, to);
}

static ErrCode posixWriteCommit(void *handle)
{
    PosixWrite *writer = handle;
    ErrCode result = ERR_OK;
    if (fsync(writer->fd) != 0 && errno != EINVAL)
        result = fsErrorFromErrno(errno, "cannot fsync", writer->tempPath);
    if (close(writer->fd) != 0 && result == ERR_OK)
        result = fsErrorFromErrno(errno, "cannot close", writer->tempPath);
    if (result == ERR_OK) {
        int renamed = (writer->flags & STORAGE_WRITE_NO_REPLACE) ? posixRenameNoReplace(writer->tempPath, writer->path)
                                                                 : rename(writer->tempPath, writer->path);
        if (renamed != 0)
            result = errno == EEXIST ? errSet(BACKUP_IO_FAILED, "cannot write %s: already exists", writer->path)
                                     : fsErrorFromErrno(errno, "cannot rename into place", writer->path);
    }
    if (result != ERR_OK)
        unlink(writer->tempPath);
    else
        result = fsFsyncParent(writer->path);
    free(writer);
    return result;
}

static void posixWriteAbort(void *handle)
{
    PosixWrite *writer = handle;
    close(writer->fd);
    unlink(writer->tempPath);
    free(writer);
}

typedef struct {
    StorageListCallback callback;
    void *payload;
    char name[PATH_MAX]; /* relative name being built */
    bool recursive; /* storageList: files at every depth; storageListDir: every entry of one level */
} PosixListState;

static StorageKind posixKind(mode_t mode)
{
    if (S_ISREG(mode))
        return STORAGE_KIND_FILE;
    if (S_ISDIR(mode))
        return STORAGE_KIND_DIR;
    return S_ISLNK(mode) ? STORAGE_KIND_LINK : STORAGE_KIND_OTHER;
}

/* Walks the directory open as dirFd (taking ownership), reporting regular
 * files below it, or (not recursive) every entry of it with its kind.
 * nameLength: length of the relative directory name in state->name. */
static ErrCode posixListDir(int dirFd, PosixListState *state, size_t nameLength, int depth)
{
    if (depth > POSIX_LIST_MAX_DEPTH) {
        close(dirFd);
        return errSet(BACKUP_IO_FAILED, "cannot list %s: nested too deeply", state->name);
    }
    DIR *dir = fdopendir(dirFd);
    if (!dir) {
        int savedErrno = errno;
        close(dirFd);
        return fsErrorFromErrno(savedErrno, "cannot list", state->name);
    }
    ErrCode result = ERR_OK;
    struct dirent *entry;
    while (result == ERR_OK && (entry = readdir(dir)) != NULL) {
        const char *entryName = entry->d_name;
        if (strcmp(entryName, ".") == 0 || strcmp(entryName, "..") == 0 || strstr(entryName, POSIX_TEMP_MARKER))
            continue;
        struct stat info;
        if (fstatat(dirfd(dir), entryName, &info, AT_SYMLINK_NOFOLLOW) != 0)
            continue; /* removed meanwhile */
        int written = snprintf(state->name + nameLength, sizeof(state->name) - nameLength, "%s%s",
                               nameLength ? "/" : "", entryName);
        if (written < 0 || (size_t)written >= sizeof(state->name) - nameLength) {
            result = errSet(BACKUP_IO_FAILED, "name too long below %.*s", (int)nameLength, state->name);
            break;
        }
        if (!state->recursive) {
            StorageInfo listed = {.name = state->name,
                                  .size = S_ISREG(info.st_mode) ? (uint64_t)info.st_size : 0,
                                  .mtime = info.st_mtim.tv_sec,
                                  .kind = posixKind(info.st_mode)};
            result = state->callback(&listed, state->payload);
        } else if (S_ISREG(info.st_mode)) {
            StorageInfo file = {.name = state->name, .size = (uint64_t)info.st_size, .mtime = info.st_mtim.tv_sec};
            result = state->callback(&file, state->payload);
        } else if (S_ISDIR(info.st_mode)) {
            int childFd = openat(dirfd(dir), entryName, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            if (childFd >= 0)
                result = posixListDir(childFd, state, nameLength + (size_t)written, depth + 1);
        }
        state->name[nameLength] = '\0';
    }
    closedir(dir);
    return result;
}

static ErrCode posixWalk(void *driver, const char *dirName, bool recursive, StorageListCallback callback,
                         void *payload)
{
    PosixStorage *storage = driver;
    char path[PATH_MAX];
    ErrCode result = posixPath(storage, dirName, path, sizeof(path));
    if (result != ERR_OK)
        return result;
    int dirFd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (dirFd < 0) {
        if (errno == ENOENT)
            return ERR_OK; /* as on object storage: an absent directory lists nothing */
        return fsErrorFromErrno(errno, recursive ? "cannot open directory" : "cannot list", path);
    }
    PosixListState *state = memCalloc(1, sizeof(*state));
    state->callback = callback;
    state->payload = payload;
    state->recursive = recursive;
    snprintf(state->name, sizeof(state->name), "%s", dirName);
    result = posixListDir(dirFd, state, strlen(state->name), 0);
    free(state);
    return result;
}

static ErrCode posixList(void *driver, const char *dirName, StorageListCallback callback, void *payload)
{
    return posixWalk(driver, dirName, true, callback, payload);
}

static ErrCode posixListDirOnly(void *driver, const char *dirName, StorageListCallback callback, void *payload)
{
    return posixWalk(driver, dirName, false, callback, payload);
}

static ErrCode posixRemove(void *driver, const char *name)
{
    PosixStorage *storage = driver;
    char path[PATH_MAX];
    ErrCode result = posixPath(storage, name, path, sizeof(path));
    if (result != ERR_OK)
        return result;
    if (unlink(path) != 0 && errno != ENOENT)
        return fsErrorFromErrno(errno, "cannot remove", path);
    return fsFsyncParent(path);
}

static ErrCode posixRemoveDir(void *driver, const char *dirName)
{
    PosixStorage *storage = driver;
    char path[PATH_MAX];
    ErrCode result = posixPath(storage, dirName, path, sizeof(path));
    return result != ERR_OK ? result : fsRemoveTree(storage->root, path);
}

/* Takes the flock of path for both lock entry points. The purpose is shown
 * as is to a refused caller ("held by pid N (<purpose>)"); the host only when
 * the caller names one (a flock is local anyway). */
static ErrCode posixLockTake(const char *path, const StorageLockOwner *owner, int mode, int timeoutMs, void **out)
{
    char purpose[512];
    const char *what = owner && owner->owner ? owner->owner : NULL;
    if (what && owner->host)
        snprintf(purpose, sizeof(purpose), "%.255s on %.200s", what, owner->host);
    else if (what)
        snprintf(purpose, sizeof(purpose), "%.500s", what);
    Lock *lock = NULL;
    ErrCode result = lockAcquire(&lock, path, mode == STORAGE_LOCK_SHARED ? LOCK_SHARED : LOCK_EXCLUSIVE, timeoutMs,
                                 what ? purpose : NULL);
    if (result != ERR_OK)
        return result;
    *out = lock;
    return ERR_OK;
}

static ErrCode posixLockAcquire(void *driver, const char *name, const StorageLockOwner *owner, int ttlSeconds,
                                void **out)
{
    PosixStorage *storage = driver;
    char path[PATH_MAX];
    ErrCode result = posixPath(storage, name, path, sizeof(path));
    if (result == ERR_OK)
        result = posixMakeParents(path);
    if (result != ERR_OK)
        return result;
    /* This older entry point always names a holder: this host unless given one. */
    char host[256] = "";
    if (!owner || !owner->host)
        gethostname(host, sizeof(host) - 1);
    StorageLockOwner named = {
        .owner = owner && owner->owner ? owner->owner : "neo4j-backup",
        .host = owner && owner->host ? owner->host : host,
    };
    return posixLockTake(path, &named, STORAGE_LOCK_EXCLUSIVE, 0, out);
}

static ErrCode posixLockRefresh(void *lock) { return ERR_OK; /* flock lives as long as its holder */ }

static void posixLockRelease(void *lock) { lockRelease(lock); }

/* ---- what the catalog needs beyond files ---- */

static ErrCode posixInfo(void *driver, const char *name, StorageInfo *out)
{
    PosixStorage *storage = driver;
    char path[PATH_MAX];
    ErrCode result = posixPath(storage, name, path, sizeof(path));
    if (result != ERR_OK)
        return result;
    struct stat info;
    if (lstat(path, &info) != 0)
        return posixOpenError(errno, "cannot stat", path);
    out->name = name;
    out->size = S_ISREG(info.st_mode) ? (uint64_t)info.st_size : 0;
    out->mtime = info.st_mtim.tv_sec;
    out->kind = posixKind(info.st_mode);
    return ERR_OK;
}

/* posixInfo for regular files only: what storageStat promises. */
static ErrCode posixStat(void *driver, const char *name, StorageInfo *out)
{
    ErrCode result = posixInfo(driver, name, out);
    if (result == ERR_OK && out->kind != STORAGE_KIND_FILE) {
        char path[PATH_MAX];
        posixPath(driver, name, path, sizeof(path));
        return errSet(BACKUP_IO_FAILED, "cannot stat %s: not a regular file", path);
    }
    return result;
}

static ErrCode posixReadInfo(void *handle, StorageInfo *out)
{
    PosixRead *reader = handle;
    struct stat info;
    if (fstat(reader->fd, &info) != 0)
        return fsErrorFromErrno(errno, "cannot stat", reader->path);
    out->size = (uint64_t)info.st_size;
    out->mtime = info.st_mtim.tv_sec;
    return ERR_OK;
}

static ErrCode posixDirCreate(void *driver, const char *dirName)
{
    PosixStorage *storage = driver;
    char path[PATH_MAX];
    ErrCode result = posixPath(storage, dirName, path, sizeof(path));
    if (result != ERR_OK)
        return result;
    if (mkdir(path, 0700) != 0)
        return errno == EEXIST ? errSet(BACKUP_IO_FAILED, "cannot create directory %s: already exists", path)
                               : fsErrorFromErrno(errno, "cannot create directory", path);
    return fsFsyncParent(path);
}

static ErrCode posixDirSync(void *driver, const char *dirName)
{
    PosixStorage *storage = driver;
    char path[PATH_MAX];
    ErrCode result = posixPath(storage, dirName, path, sizeof(path));
    if (result != ERR_OK)
        return result;
    int dirFd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (dirFd < 0)
        return posixOpenError(errno, "cannot open directory", path);
    DIR *dir = fdopendir(dirFd);
    if (!dir) {
        int savedErrno = errno;
        close(dirFd);
        return fsErrorFromErrno(savedErrno, "cannot list", path);
    }
    struct dirent *entry;
    while (result == ERR_OK && (entry = readdir(dir)) != NULL) {
        struct stat info;
        if (fstatat(dirfd(dir), entry->d_name, &info, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(info.st_mode))
            continue;
        int fileFd = openat(dirfd(dir), entry->d_name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
        if (fileFd < 0) {
            result = fsErrorFromErrno(errno, "cannot open for fsync", entry->d_name);
            break;
        }
        if (fsync(fileFd) != 0 && errno != EINVAL)
            result = fsErrorFromErrno(errno, "cannot fsync", entry->d_name);
        close(fileFd);
    }
    closedir(dir);
    return result == ERR_OK ? fsFsyncDir(path) : result;
}

static ErrCode posixMove(void *driver, const char *from, const char *to, unsigned flags)
{
    PosixStorage *storage = driver;
    char fromPath[PATH_MAX], toPath[PATH_MAX];
    ErrCode result = posixPath(storage, from, fromPath, sizeof(fromPath));
    if (result == ERR_OK)
        result = posixPath(storage, to, toPath, sizeof(toPath));
    if (result == ERR_OK)
        result = posixMakeParents(toPath);
    if (result != ERR_OK)
        return result;
    int renamed = (flags & STORAGE_WRITE_NO_REPLACE) ? posixRenameNoReplace(fromPath, toPath) : rename(fromPath, toPath);
    if (renamed != 0) {
        if (errno == EEXIST || errno == ENOTEMPTY)
            return errSet(BACKUP_IO_FAILED, "cannot rename %s to %s: already exists", fromPath, toPath);
        if (errno == ENOENT)
            return errSet(BACKUP_NOT_FOUND, "cannot rename %s: no such file", fromPath);
        return fsErrorFromErrno(errno, "cannot rename", fromPath);
    }
    result = fsFsyncParent(toPath);
    return result == ERR_OK ? fsFsyncParent(fromPath) : result;
}

static ErrCode posixLockAcquireMode(void *driver, const char *name, const StorageLockOwner *owner, int mode,
                                    int timeoutMs, int ttlSeconds, void **out)
{
    (void)ttlSeconds; /* a flock dies with its holder */
    PosixStorage *storage = driver;
    char path[PATH_MAX];
    /* No parents are created: a backup's lock must not bring back the
     * directory of a backup deleted meanwhile (it would list as damaged). */
    ErrCode result = posixPath(storage, name, path, sizeof(path));
    if (result != ERR_OK)
        return result;
    struct stat parent;
    char parentPath[PATH_MAX];
    snprintf(parentPath, sizeof(parentPath), "%s", path);
    char *slash = strrchr(parentPath, '/');
    if (slash && slash != parentPath) {
        *slash = '\0';
        if (lstat(parentPath, &parent) != 0 || !S_ISDIR(parent.st_mode))
            return errSet(BACKUP_NOT_FOUND, "cannot lock %s: %s is not a directory", path, parentPath);
    }
    return posixLockTake(path, owner, mode, timeoutMs, out);
}

static bool posixLockHeld(void *driver, const char *name)
{
    PosixStorage *storage = driver;
    char path[PATH_MAX];
    return posixPath(storage, name, path, sizeof(path)) == ERR_OK && lockIsHeld(path);
}

static ErrCode posixSpace(void *driver, StorageSpace *out)
{
    PosixStorage *storage = driver;
    FsSpace space;
    ErrCode result = fsSpace(storage->root, &space);
    if (result != ERR_OK)
        return result;
    out->applicable = true;
    out->availableBytes = space.availableBytes;
    out->totalBytes = space.totalBytes;
    return ERR_OK;
}

static void posixFree(void *driver)
{
    PosixStorage *storage = driver;
    if (!storage)
        return;
    free(storage->root);
    free(storage);
}

static const StorageInterface posixInterface = {
    .name = "posix",
    .readOpen = posixReadOpen,
    .read = posixRead,
    .readClose = posixReadClose,
    .writeOpen = posixWriteOpen,
    .write = posixWrite,
    .writeCommit = posixWriteCommit,
    .writeAbort = posixWriteAbort,
    .list = posixList,
    .stat = posixStat,
    .remove = posixRemove,
    .removeDir = posixRemoveDir,
    .lockAcquire = posixLockAcquire,
    .lockRefresh = posixLockRefresh,
    .lockRelease = posixLockRelease,
    .space = posixSpace,
    .free = posixFree,
    .listDir = posixListDirOnly,
    .info = posixInfo,
    .readInfo = posixReadInfo,
    .dirCreate = posixDirCreate,
    .dirSync = posixDirSync,
    .move = posixMove,
    .lockAcquireMode = posixLockAcquireMode,
    .lockHeld = posixLockHeld,
};

ErrCode storagePosixNew(const char *root, Storage **out)
{
    *out = NULL;
    if (!root || root[0] == '\0')
        return errSet(CONFIG_INVALID, "repository directory is empty");
    ErrCode result = fsMkdirP(root, 0700);
    if (result != ERR_OK)
        return result;
    struct stat info;
    if (lstat(root, &info) != 0 || !S_ISDIR(info.st_mode))
        return errSet(BACKUP_IO_FAILED, "repository %s is not a directory", root);
    PosixStorage *storage = memCalloc(1, sizeof(*storage));
    storage->root = memStrdup(root);
    *out = storageNew(&posixInterface, storage);
    return ERR_OK;
}

ErrCode storagePosixOpen(const char *root, bool create, Storage **out)
{
    *out = NULL;
    if (!root || root[0] == '\0')
        return errSet(CONFIG_INVALID, "repository directory is empty");
    /* A location such as s3://bucket must never become a local directory
     * named "s3:" in whatever the working directory happens to be. */
    if (strstr(root, "://"))
        return errSet(CONFIG_INVALID, "%.200s is an object storage location, which this operation cannot use yet "
                                      "(it needs a local BACKUP_STORAGE_PATH)", root);
    if (create) {
        ErrCode result = fsMkdirP(root, 0700);
        if (result != ERR_OK)
            return result;
    }
    struct stat info;
    if (stat(root, &info) != 0)
        return fsErrorFromErrno(errno, "cannot open backup storage", root);
    if (!S_ISDIR(info.st_mode))
        return errSet(BACKUP_IO_FAILED, "backup storage %s is not a directory", root);
    PosixStorage *storage = memCalloc(1, sizeof(*storage));
    storage->root = memStrdup(root);
    size_t length = strlen(storage->root);
    while (length > 1 && storage->root[length - 1] == '/')
        storage->root[--length] = '\0';
    *out = storageNew(&posixInterface, storage);
    return ERR_OK;
}

const char *storagePosixRoot(Storage *storage)
{
    PosixStorage *posix = storageDriverState(storage, &posixInterface);
    return posix ? posix->root : NULL;
}
