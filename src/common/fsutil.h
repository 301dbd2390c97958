/* File-system helpers with the durability rules of the product: data that
 * must survive a crash is written to a temporary name, fsynced, renamed into
 * place, and its directory fsynced. Failures return BACKUP_NO_SPACE for
 * ENOSPC/EDQUOT and BACKUP_IO_FAILED otherwise, with the path and the system
 * error in errLast()->reason.
 *
 * Test hook: the environment variable NBK_FAKE_SPACE="<available>,<total>"
 * (bytes) makes fsSpace() report those numbers instead of statvfs(), so that
 * end-to-end tests can exercise the low-space paths without filling a disk.
 * Only builds configured with -DNBK_TEST_HOOKS=ON read it. fsSetSpaceOverride() does the same for unit tests. */
#ifndef NBK_COMMON_FSUTIL_H
#define NBK_COMMON_FSUTIL_H

#include "common/buffer.h"
#include "common/error.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

/* Maps an errno value to BACKUP_NO_SPACE / BACKUP_IO_FAILED and records
 * "<what> <path>: <strerror>" as the reason. Returns the code. */
ErrCode fsErrorFromErrno(int errnoValue, const char *what, const char *path);

/* Creates path and its missing parents with `mode` (existing ones untouched).
 * A component that exists but is not a directory is an error. */
ErrCode fsMkdirP(const char *path, mode_t mode);
/* fsync of a file or directory by path. */
ErrCode fsFsyncPath(const char *path);
/* fsync of a directory (alias kept for readability at call sites). */
ErrCode fsFsyncDir(const char *path);
/* fsync of the directory that holds path. */
ErrCode fsFsyncParent(const char *path);

/* Replaces path atomically with data: writes "<path>.tmp-<pid>" (mode), fsyncs,
 * renames over path and fsyncs the directory. On failure nothing is left
 * behind and the old file, if any, is untouched. */
ErrCode fsWriteAtomic(const char *path, const void *data, size_t length, mode_t mode);
/* Opens a repository file for reading: O_NONBLOCK so that a FIFO or device
 * planted in the storage cannot hang the caller, O_NOFOLLOW so that a final
 * symbolic link is refused, and anything but a regular file is refused
 * (BACKUP_IO_FAILED "not a regular file"). The descriptor is switched back to
 * blocking reads. info (may be NULL) receives its fstat. A missing file is
 * BACKUP_NOT_FOUND, so callers can tell "absent" from "unreadable". */
ErrCode fsOpenRegular(const char *path, int *fdOut, struct stat *info);
/* fsReadFile for files of the backup repository: opened with fsOpenRegular
 * (no link followed, no FIFO waited on). */
ErrCode fsReadRepoFile(const char *path, size_t maxBytes, Buffer *out);
/* Reads a whole regular file into out (cleared first). Links are followed
 * (configuration and secret files are often links), FIFOs and devices are
 * refused without blocking. More than maxBytes is an
 * error (BACKUP_IO_FAILED "too large"), so hostile files cannot exhaust memory. */
ErrCode fsReadFile(const char *path, size_t maxBytes, Buffer *out);

/* Removes path and everything below it without following symbolic links (a
 * link is removed, never its target). Refuses (BACKUP_IO_FAILED) unless path
 * lies strictly inside root once both are resolved; a missing path is not an
 * error. */
ErrCode fsRemoveTree(const char *root, const char *path);

/* Sum of the sizes of the regular files below path (links not followed). */
ErrCode fsDirSize(const char *path, uint64_t *out);

typedef struct {
    uint64_t availableBytes; /* usable by an unprivileged process (f_bavail) */
    uint64_t totalBytes;
    double freePercent;      /* availableBytes * 100 / totalBytes */
} FsSpace;

typedef ErrCode (*FsSpaceOverride)(const char *path, FsSpace *out, void *payload);

/* Space of the file system holding path. */
ErrCode fsSpace(const char *path, FsSpace *out);
/* Installs a replacement for statvfs() in fsSpace(); NULL removes it. */
void fsSetSpaceOverride(FsSpaceOverride override, void *payload);

/* out = dir + "/" + name (no doubled slash). BACKUP_IO_FAILED "path too long"
 * when it does not fit in outSize; out is then an empty string. */
ErrCode fsPathJoin(char *out, size_t outSize, const char *dir, const char *name);

bool fsExists(const char *path);     /* lstat succeeds */
bool fsIsDirectory(const char *path); /* a real directory, not a link to one */

#endif
