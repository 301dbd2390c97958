/* Storage: the one interface between the repository (catalog, archives) and
 * the place backups live. A Storage is opened on a location, either a plain
 * directory (posix driver) or s3://bucket/prefix (s3 driver), and every caller
 * works with names relative to that root without knowing which driver serves
 * it. Modelled on pgBackRest's storage seam (a table of driver functions).
 *
 * Names: relative, '/'-separated, no empty, "." or ".." component, no leading
 * '/'; anything else is refused (CONFIG_INVALID) before a driver sees it.
 *
 * Guarantees every driver keeps:
 * - a write is atomic: nothing is visible under the name until
 *   storageWriteCommit() succeeds; storageWriteAbort() (or a failed commit)
 *   leaves nothing behind, neither a partial object nor a pending upload;
 * - reads stream in bounded memory; a ranged read returns exactly the
 *   requested bytes (fewer only at the end of the file);
 * - a missing file is BACKUP_NOT_FOUND; refused credentials
 *   STORAGE_AUTH_FAILED; a service that cannot be reached after the retries
 *   STORAGE_UNREACHABLE; a full disk BACKUP_NO_SPACE; other failures
 *   BACKUP_IO_FAILED. The detail is in errLast(); secrets never appear there.
 *
 * Ownership: every handle returned through **out belongs to the caller and is
 * ended with its own Close/Commit/Abort/Release/Free. The cleanup calls
 * (Close, Abort, Release) leave errLast() as they found it, so they can run
 * on an error path before the error is reported. Handles are not
 * thread-safe; one thread at a time per handle.
 *
 * Not yet wired: the catalog still writes through common/fsutil.h; it moves
 * onto this interface next (docs/storage.md). */
#ifndef NBK_STORAGE_STORAGE_H
#define NBK_STORAGE_STORAGE_H

#include "common/error.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

typedef struct Storage Storage;
typedef struct StorageRead StorageRead;
typedef struct StorageWrite StorageWrite;
typedef struct StorageLock StorageLock;

/* One listed or stat'ed file. name is relative to the storage root. */
typedef struct {
    const char *name;
    uint64_t size;
    int64_t mtime; /* seconds since the epoch, UTC */
} StorageInfo;

/* Called once per file; a non-ERR_OK return stops the listing and is returned. */
typedef ErrCode (*StorageListCallback)(const StorageInfo *info, void *payload);

/* Who holds a lock; recorded in the lock so a refused caller can name them. */
typedef struct {
    const char *owner; /* what the holder does, e.g. "neo4j-backup --create" */
    const char *host;  /* NULL = this host's name */
    pid_t pid;         /* 0 = this process */
} StorageLockOwner;

typedef struct {
    bool applicable;          /* false for object storage: no fixed capacity */
    uint64_t availableBytes;
    uint64_t totalBytes;
} StorageSpace;

/* Whole file when length is STORAGE_READ_ALL. */
#define STORAGE_READ_ALL UINT64_MAX

/* The driver table. Each driver fills one (static const) and hands it with its
 * state to storageNew(). Opaque pointers are the driver's own handles. */
typedef struct {
    const char *name; /* "posix", "s3" */
    ErrCode (*readOpen)(void *driver, const char *name, uint64_t offset, uint64_t length, void **out);
    /* *got = 0 means end of file. */
    ErrCode (*read)(void *reader, void *buffer, size_t size, size_t *got);
    void (*readClose)(void *reader);
    ErrCode (*writeOpen)(void *driver, const char *name, unsigned flags, void **out);
    ErrCode (*write)(void *writer, const void *data, size_t length);
    /* Makes the file visible and frees the writer, whatever the result. */
    ErrCode (*writeCommit)(void *writer);
    /* Discards everything written and frees the writer. */
    void (*writeAbort)(void *writer);
    /* Every file below directory `dir` ("" = the root), recursively. */
    ErrCode (*list)(void *driver, const char *dir, StorageListCallback callback, void *payload);
    /* BACKUP_NOT_FOUND when the file does not exist. */
    ErrCode (*stat)(void *driver, const char *name, StorageInfo *out);
    /* A missing file is not an error. */
    ErrCode (*remove)(void *driver, const char *name);
    /* Removes every file below directory `dir` (never the root itself). */
    ErrCode (*removeDir)(void *driver, const char *dir);
    ErrCode (*lockAcquire)(void *driver, const char *name, const StorageLockOwner *owner, int ttlSeconds,
                           void **out);
    ErrCode (*lockRefresh)(void *lock);
    void (*lockRelease)(void *lock);
    ErrCode (*space)(void *driver, StorageSpace *out);
    void (*free)(void *driver);
} StorageInterface;

/* Wraps a driver; takes ownership of driverState (freed with interface->free). */
Storage *storageNew(const StorageInterface *interface, void *driverState);
void storageFree(Storage *storage); /* NULL is ignored */
const char *storageDriverName(const Storage *storage);
/* The driver's own state when storage runs on interface, else NULL (for a
 * driver's extra functions, e.g. storageS3AbortUploads). */
void *storageDriverState(Storage *storage, const StorageInterface *interface);

/* Validates a relative name (see above); CONFIG_INVALID with the reason. */
ErrCode storageNameCheck(const char *name, bool allowEmpty);

/* Streaming read of name from offset, at most length bytes. */
ErrCode storageReadOpen(Storage *storage, const char *name, uint64_t offset, uint64_t length, StorageRead **out);
/* Reads up to size bytes; *got = 0 at the end. */
ErrCode storageRead(StorageRead *reader, void *buffer, size_t size, size_t *got);
void storageReadClose(StorageRead *reader); /* NULL is ignored */

/* Flags of storageWriteOpen. */
#define STORAGE_WRITE_NO_REPLACE 1u /* commit fails (BACKUP_IO_FAILED "already exists")
                                      when the name exists: posix renameat2
                                      RENAME_NOREPLACE, S3 If-None-Match: * */

/* Atomic streaming write: invisible until storageWriteCommit succeeds; by
 * default it then replaces an existing file of that name atomically. */
ErrCode storageWriteOpen(Storage *storage, const char *name, unsigned flags, StorageWrite **out);
ErrCode storageWrite(StorageWrite *writer, const void *data, size_t length);
/* Publishes the file; frees the writer in every case (on failure nothing is left). */
ErrCode storageWriteCommit(StorageWrite *writer);
/* Discards the file; frees the writer. NULL is ignored. */
void storageWriteAbort(StorageWrite *writer);

ErrCode storageList(Storage *storage, const char *dir, StorageListCallback callback, void *payload);
ErrCode storageStat(Storage *storage, const char *name, StorageInfo *out);
ErrCode storageRemove(Storage *storage, const char *name);
ErrCode storageRemoveDir(Storage *storage, const char *dir);

/* Exclusive lock named `name`. BACKUP_LOCKED, naming the holder, when another
 * holds it. ttlSeconds: how long the lock stays valid without a refresh where
 * the driver cannot see the holder die (S3); the posix lock dies with its
 * process. */
ErrCode storageLockAcquire(Storage *storage, const char *name, const StorageLockOwner *owner, int ttlSeconds,
                           StorageLock **out);
/* Extends the lock's expiry by its ttl from now. */
ErrCode storageLockRefresh(StorageLock *lock);
void storageLockRelease(StorageLock *lock); /* NULL is ignored */

ErrCode storageSpace(Storage *storage, StorageSpace *out);

/* A parsed repository location. */
typedef enum {
    STORAGE_LOCATION_POSIX,
    STORAGE_LOCATION_S3,
} StorageLocationKind;

typedef struct {
    StorageLocationKind kind;
    char path[4096];   /* posix: the directory */
    char bucket[64];   /* s3: bucket name (3-63 characters, S3 naming rules) */
    char prefix[1024]; /* s3: key prefix without leading or trailing '/', may be empty */
} StorageLocation;

/* "s3://bucket[/prefix]" or a plain path (anything without a scheme).
 * Other schemes, a bad bucket name or a bad prefix give CONFIG_INVALID. */
ErrCode storageLocationParse(const char *text, StorageLocation *out);

#endif
