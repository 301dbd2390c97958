/* File-system helpers with the product's durability rules: atomic writes,
 * fsync of files and directories, safe opens, free space. */
#include "common/fsutil.h"

#include "common/log.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

/* A backup directory is shallow; this bounds the file descriptors a hostile
 * tree could make fsRemoveTree/fsDirSize hold open. */
#define FS_MAX_DEPTH 64

static FsSpaceOverride fsSpaceOverride;
static void *fsSpaceOverridePayload;

ErrCode fsErrorFromErrno(int errnoValue, const char *what, const char *path)
{
    ErrCode code = (errnoValue == ENOSPC || errnoValue == EDQUOT) ? BACKUP_NO_SPACE : BACKUP_IO_FAILED;
    return errSet(code, "%s %s: %s", what, path, strerror(errnoValue));
}

ErrCode fsPathJoin(char *out, size_t outSize, const char *dir, const char *name)
{
    size_t dirLength = strlen(dir);
    while (dirLength > 1 && dir[dirLength - 1] == '/')
        dirLength--;
    bool needsSlash = dirLength > 0 && dir[dirLength - 1] != '/';
    int written = snprintf(out, outSize, "%.*s%s%s", (int)dirLength, dir, needsSlash ? "/" : "", name);
    if (written < 0 || (size_t)written >= outSize) {
        if (outSize)
            out[0] = '\0';
        return errSet(BACKUP_IO_FAILED, "path too long: %.*s/%s", (int)dirLength, dir, name);
    }
    return ERR_OK;
}

bool fsExists(const char *path)
{
    struct stat info;
    return lstat(path, &info) == 0;
}

bool fsIsDirectory(const char *path)
{
    struct stat info;
    return lstat(path, &info) == 0 && S_ISDIR(info.st_mode);
}

ErrCode fsMkdirP(const char *path, mode_t mode)
{
    char partial[PATH_MAX];
    size_t length = strlen(path);
    if (length == 0 || length >= sizeof(partial))
        return errSet(BACKUP_IO_FAILED, "cannot create directory '%s': invalid path length", path);
    memcpy(partial, path, length + 1);
    /* Walk the components left to right, creating each missing one. */
    for (size_t position = 1; position <= length; position++) {
        if (partial[position] != '/' && partial[position] != '\0')
            continue;
        char saved = partial[position];
        partial[position] = '\0';
        if (mkdir(partial, mode) != 0) {
            int savedErrno = errno;
            struct stat info;
            if (savedErrno != EEXIST || stat(partial, &info) != 0 || !S_ISDIR(info.st_mode))
                return fsErrorFromErrno(savedErrno == EEXIST ? ENOTDIR : savedErrno,
                                        "cannot create directory", partial);
        }
        partial[position] = saved;
    }
    return ERR_OK;
}

ErrCode fsFsyncPath(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return fsErrorFromErrno(errno, "cannot open for fsync", path);
    if (fsync(fd) != 0 && errno != EINVAL) { /* EINVAL: file system without fsync */
        int savedErrno = errno;
        close(fd);
        return fsErrorFromErrno(savedErrno, "cannot fsync", path);
    }
    close(fd);
    return ERR_OK;
}

ErrCode fsFsyncDir(const char *path) { return fsFsyncPath(path); }

ErrCode fsFsyncParent(const char *path)
{
    char parent[PATH_MAX];
    size_t length = strnlen(path, sizeof(parent));
    if (length >= sizeof(parent))
        return errSet(BACKUP_IO_FAILED, "path too long: %s", path);
    memcpy(parent, path, length + 1);
    while (length > 1 && parent[length - 1] == '/')
        parent[--length] = '\0';
    char *slash = strrchr(parent, '/');
    if (!slash)
        return fsFsyncPath(".");
    if (slash == parent)
        slash[1] = '\0';
    else
        *slash = '\0';
    return fsFsyncPath(parent);
}

static ErrCode writeAll(int fd, const void *data, size_t length, const char *path)
{
    const uint8_t *cursor = data;
    while (length > 0) {
        ssize_t written = write(fd, cursor, length);
        if (written < 0) {
            if (errno == EINTR)
                continue;
            return fsErrorFromErrno(errno, "cannot write", path);
        }
        cursor += written;
        length -= (size_t)written;
    }
    return ERR_OK;
}

ErrCode fsWriteAtomic(const char *path, const void *data, size_t length, mode_t mode)
{
    char tempPath[PATH_MAX];
    int written = snprintf(tempPath, sizeof(tempPath), "%s.tmp-%ld", path, (long)getpid());
    if (written < 0 || (size_t)written >= sizeof(tempPath))
        return errSet(BACKUP_IO_FAILED, "path too long: %s", path);
    unlink(tempPath); /* a leftover of an earlier crash of a process with our pid */
    int fd = open(tempPath, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
    if (fd < 0)
        return fsErrorFromErrno(errno, "cannot create", tempPath);
    ErrCode result = writeAll(fd, data, length, tempPath);
    if (result == ERR_OK && fsync(fd) != 0 && errno != EINVAL)
        result = fsErrorFromErrno(errno, "cannot fsync", tempPath);
    if (close(fd) != 0 && result == ERR_OK)
        result = fsErrorFromErrno(errno, "cannot close", tempPath);
    if (result == ERR_OK && rename(tempPath, path) != 0)
        result = fsErrorFromErrno(errno, "cannot rename into place", path);
    if (result != ERR_OK) {
        unlink(tempPath);
        return result;
    }
    return fsFsyncParent(path);
}

/* open + "must be a regular file" without ever blocking in open(). */
static ErrCode fsOpenForReading(const char *path, bool followLinks, int *fdOut, struct stat *info)
{
    *fdOut = -1;
    int flags = O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY | (followLinks ? 0 : O_NOFOLLOW);
    int fd = open(path, flags);
    if (fd < 0) {
        int savedErrno = errno;
        if (savedErrno == ENOENT)
            return errSet(BACKUP_NOT_FOUND, "cannot open %s: no such file", path);
        if (savedErrno == ELOOP && !followLinks)
            return errSet(BACKUP_IO_FAILED, "refusing to open %s: it is a symbolic link", path);
        return fsErrorFromErrno(savedErrno, "cannot open", path);
    }
    struct stat local;
    struct stat *target = info ? info : &local;
    if (fstat(fd, target) != 0 || !S_ISREG(target->st_mode)) {
        close(fd);
        return errSet(BACKUP_IO_FAILED, "refusing to read %s: not a regular file", path);
    }
    int current = fcntl(fd, F_GETFL);
    if (current < 0 || fcntl(fd, F_SETFL, current & ~O_NONBLOCK) != 0) {
        int savedErrno = errno;
        close(fd);
        return fsErrorFromErrno(savedErrno, "cannot set up reading of", path);
    }
    *fdOut = fd;
    return ERR_OK;
}

ErrCode fsOpenRegular(const char *path, int *fdOut, struct stat *info)
{
    return fsOpenForReading(path, false, fdOut, info);
}

static ErrCode fsReadOpened(int fd, const char *path, size_t maxBytes, Buffer *out);

ErrCode fsReadFile(const char *path, size_t maxBytes, Buffer *out)
{
    bufferClear(out);
    int fd = -1;
    ErrCode opened = fsOpenForReading(path, true, &fd, NULL);
    if (opened == BACKUP_NOT_FOUND)
        return fsErrorFromErrno(ENOENT, "cannot open", path); /* as before: an I/O failure */
    if (opened != ERR_OK)
        return opened;
    return fsReadOpened(fd, path, maxBytes, out);
}

ErrCode fsReadRepoFile(const char *path, size_t maxBytes, Buffer *out)
{
    bufferClear(out);
    int fd = -1;
    ErrCode opened = fsOpenRegular(path, &fd, NULL);
    if (opened != ERR_OK)
        return opened;
    return fsReadOpened(fd, path, maxBytes, out);
}

/* Reads fd to its end into out and closes it. */
static ErrCode fsReadOpened(int fd, const char *path, size_t maxBytes, Buffer *out)
{
    uint8_t chunk[16384];
    for (;;) {
        ssize_t got = read(fd, chunk, sizeof(chunk));
        if (got < 0) {
            if (errno == EINTR)
                continue;
            int savedErrno = errno;
            close(fd);
            return fsErrorFromErrno(savedErrno, "cannot read", path);
        }
        if (got == 0)
            break;
        if (out->length + (size_t)got > maxBytes) {
            close(fd);
            bufferClear(out);
            return errSet(BACKUP_IO_FAILED, "cannot read %s: larger than %zu bytes", path, maxBytes);
        }
        bufferAppend(out, chunk, (size_t)got);
    }
    close(fd);
    return ERR_OK;
}

/* Removes the entries of the directory open as dirFd, then nothing else: the
 * caller removes the directory itself. Takes ownership of dirFd. */
static ErrCode removeContents(int dirFd, const char *displayPath, int depth)
{
    if (depth > FS_MAX_DEPTH) {
        close(dirFd);
        return errSet(BACKUP_IO_FAILED, "cannot remove %s: nested too deeply", displayPath);
    }
    DIR *dir = fdopendir(dirFd);
    if (!dir) {
        int savedErrno = errno;
        close(dirFd);
        return fsErrorFromErrno(savedErrno, "cannot list", displayPath);
    }
    ErrCode result = ERR_OK;
    struct dirent *entry;
    while (result == ERR_OK && (errno = 0, entry = readdir(dir)) != NULL) {
        const char *name = entry->d_name;
        if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
            continue;
        struct stat info;
        if (fstatat(dirfd(dir), name, &info, AT_SYMLINK_NOFOLLOW) != 0) {
            if (errno != ENOENT)
                result = fsErrorFromErrno(errno, "cannot stat entry of", displayPath);
            continue;
        }
        if (S_ISDIR(info.st_mode)) {
            int childFd = openat(dirfd(dir), name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            if (childFd < 0) {
                result = fsErrorFromErrno(errno, "cannot open directory inside", displayPath);
                break;
            }
            result = removeContents(childFd, displayPath, depth + 1);
            if (result == ERR_OK && unlinkat(dirfd(dir), name, AT_REMOVEDIR) != 0 && errno != ENOENT)
                result = fsErrorFromErrno(errno, "cannot remove directory inside", displayPath);
        } else if (unlinkat(dirfd(dir), name, 0) != 0 && errno != ENOENT) {
            result = fsErrorFromErrno(errno, "cannot remove file inside", displayPath);
        }
    }
    if (result == ERR_OK && errno != 0)
        result = fsErrorFromErrno(errno, "cannot list", displayPath);
    closedir(dir);
    return result;
}

/* True when `inner` names something strictly below `outer` (both resolved). */
static bool pathIsInside(const char *outer, const char *inner)
{
    size_t outerLength = strlen(outer);
    if (outerLength == 1 && outer[0] == '/')
        return inner[0] == '/' && inner[1] != '\0';
    return strncmp(outer, inner, outerLength) == 0 && inner[outerLength] == '/'
           && inner[outerLength + 1] != '\0';
}

ErrCode fsRemoveTree(const char *root, const char *path)
{
    char resolvedRoot[PATH_MAX];
    if (!realpath(root, resolvedRoot))
        return fsErrorFromErrno(errno, "cannot resolve", root);
    struct stat info;
    if (lstat(path, &info) != 0) {
        if (errno == ENOENT)
            return ERR_OK;
        return fsErrorFromErrno(errno, "cannot stat", path);
    }
    /* Resolve the parent only: the last component itself may be a link, which
     * is removed as a link and never followed. */
    char parent[PATH_MAX];
    char resolvedParent[PATH_MAX];
    size_t length = strnlen(path, sizeof(parent));
    if (length >= sizeof(parent))
        return errSet(BACKUP_IO_FAILED, "path too long: %s", path);
    memcpy(parent, path, length + 1);
    while (length > 1 && parent[length - 1] == '/')
        parent[--length] = '\0';
    char *slash = strrchr(parent, '/');
    const char *baseName = slash ? slash + 1 : parent;
    if (strcmp(baseName, ".") == 0 || strcmp(baseName, "..") == 0 || baseName[0] == '\0')
        return errSet(BACKUP_IO_FAILED, "refusing to remove %s: not a plain name", path);
    char baseCopy[NAME_MAX + 1];
    size_t baseLength = strlen(baseName);
    if (baseLength >= sizeof(baseCopy))
        return errSet(BACKUP_IO_FAILED, "refusing to remove %s: name too long", path);
    memcpy(baseCopy, baseName, baseLength + 1);
    if (!slash)
        snprintf(parent, sizeof(parent), ".");
    else if (slash == parent)
        parent[1] = '\0';
    else
        *slash = '\0';
    if (!realpath(parent, resolvedParent))
        return fsErrorFromErrno(errno, "cannot resolve", parent);
    char resolvedPath[PATH_MAX];
    ErrCode joined = fsPathJoin(resolvedPath, sizeof(resolvedPath), resolvedParent, baseCopy);
    if (joined != ERR_OK)
        return joined;
    if (!pathIsInside(resolvedRoot, resolvedPath))
        return errSet(BACKUP_IO_FAILED, "refusing to remove %s: outside %s", path, resolvedRoot);

    /* Work relative to the resolved parent so that a component swapped for a
     * link after the check above cannot redirect the removal. */
    int parentFd = open(resolvedParent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (parentFd < 0)
        return fsErrorFromErrno(errno, "cannot open directory", resolvedParent);
    ErrCode result = ERR_OK;
    if (fstatat(parentFd, baseCopy, &info, AT_SYMLINK_NOFOLLOW) != 0) {
        if (errno != ENOENT)
            result = fsErrorFromErrno(errno, "cannot stat", path);
    } else if (!S_ISDIR(info.st_mode)) {
        if (unlinkat(parentFd, baseCopy, 0) != 0 && errno != ENOENT)
            result = fsErrorFromErrno(errno, "cannot remove", path);
    } else {
        int dirFd = openat(parentFd, baseCopy, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (dirFd < 0)
            result = fsErrorFromErrno(errno, "cannot open directory", path);
        else
            result = removeContents(dirFd, path, 0);
        if (result == ERR_OK && unlinkat(parentFd, baseCopy, AT_REMOVEDIR) != 0 && errno != ENOENT)
            result = fsErrorFromErrno(errno, "cannot remove directory", path);
    }
    close(parentFd);
    return result;
}

static ErrCode sumDirectory(int dirFd, const char *displayPath, int depth, uint64_t *total)
{
    if (depth > FS_MAX_DEPTH) {
        close(dirFd);
        return errSet(BACKUP_IO_FAILED, "cannot measure %s: nested too deeply", displayPath);
    }
    DIR *dir = fdopendir(dirFd);
    if (!dir) {
        int savedErrno = errno;
        close(dirFd);
        return fsErrorFromErrno(savedErrno, "cannot list", displayPath);
    }
    ErrCode result = ERR_OK;
    struct dirent *entry;
    while (result == ERR_OK && (entry = readdir(dir)) != NULL) {
        const char *name = entry->d_name;
        if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
            continue;
        struct stat info;
        if (fstatat(dirfd(dir), name, &info, AT_SYMLINK_NOFOLLOW) != 0)
            continue; /* removed meanwhile: sizes are a snapshot anyway */
        if (S_ISREG(info.st_mode)) {
            *total += (uint64_t)info.st_size;
        } else if (S_ISDIR(info.st_mode)) {
            int childFd = openat(dirfd(dir), name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            if (childFd >= 0)
                result = sumDirectory(childFd, displayPath, depth + 1, total);
        }
    }
    closedir(dir);
    return result;
}

ErrCode fsDirSize(const char *path, uint64_t *out)
{
    *out = 0;
    int dirFd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (dirFd < 0)
        return fsErrorFromErrno(errno, "cannot open directory", path);
    uint64_t total = 0;
    ErrCode result = sumDirectory(dirFd, path, 0, &total);
    if (result == ERR_OK)
        *out = total;
    return result;
}

void fsSetSpaceOverride(FsSpaceOverride override, void *payload)
{
    fsSpaceOverride = override;
    fsSpaceOverridePayload = payload;
}

static void fsFillPercent(FsSpace *space)
{
    space->freePercent = space->totalBytes == 0
                             ? 0.0
                             : (double)space->availableBytes * 100.0 / (double)space->totalBytes;
}

ErrCode fsSpace(const char *path, FsSpace *out)
{
    memset(out, 0, sizeof(*out));
    if (fsSpaceOverride)
        return fsSpaceOverride(path, out, fsSpaceOverridePayload);
#ifdef NBK_TEST_HOOKS
    const char *fake = getenv("NBK_FAKE_SPACE");
    if (fake && fake[0]) {
        unsigned long long available, total;
        char trailing;
        if (sscanf(fake, "%llu,%llu%c", &available, &total, &trailing) == 2 && available <= total) {
            logDebug("NBK_FAKE_SPACE in effect: %llu of %llu bytes available", available, total);
            out->availableBytes = available;
            out->totalBytes = total;
            fsFillPercent(out);
            return ERR_OK;
        }
        return errSet(CONFIG_INVALID, "NBK_FAKE_SPACE must be '<available>,<total>' bytes, got '%s'", fake);
    }
#endif
    struct statvfs info;
    if (statvfs(path, &info) != 0)
        return fsErrorFromErrno(errno, "cannot query free space of", path);
    uint64_t unit = info.f_frsize ? info.f_frsize : info.f_bsize;
    out->availableBytes = (uint64_t)info.f_bavail * unit;
    out->totalBytes = (uint64_t)info.f_blocks * unit;
    fsFillPercent(out);
    return ERR_OK;
}
