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
 * The catalog (src/catalog/) reaches the repository only through this
 * interface, and a logical backup's archive and manifest are written and
 * read through it too (src/archive: arcWriterOpenStorage,
 * arcReaderOpenStorage). The dump method streams neo4j-admin's dump through
 * it when the repository has no paths (dumpWriterOpenStorage,
 * dumpStorageInspect, dumpRestoreLoad) and keeps its paths below catRoot()
 * on a local one (docs/dump.md). */
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

/* What a name is. Object storage has only files and (implied) directories. */
typedef enum {
    STORAGE_KIND_FILE,  /* a regular file / an object */
    STORAGE_KIND_DIR,   /* a directory / a common prefix */
    STORAGE_KIND_LINK,  /* a symbolic link (posix): never followed */
    STORAGE_KIND_OTHER, /* FIFO, device, socket (posix): never opened */
} StorageKind;

/* One listed or stat'ed entry. name is relative to the storage root. */
typedef struct {
    const char *name;
    uint64_t size;     /* files only */
    int64_t mtime;     /* seconds since the epoch, UTC; 0 when unknown (S3 prefixes) */
    StorageKind kind;  /* FILE for storageList and storageStat */
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

    /* ---- optional (NULL: storage.c gives the fallback documented below) ---- */
    /* Entries directly below dir, of every kind, links not followed. */
    ErrCode (*listDir)(void *driver, const char *dir, StorageListCallback callback, void *payload);
    /* Any kind of entry; BACKUP_NOT_FOUND when missing. */
    ErrCode (*info)(void *driver, const char *name, StorageInfo *out);
    /* Size and mtime of the file an open reader reads (no second lookup). */
    ErrCode (*readInfo)(void *reader, StorageInfo *out);
    ErrCode (*dirCreate)(void *driver, const char *dir);
    /* Makes every file directly in dir, and dir itself, durable. */
    ErrCode (*dirSync)(void *driver, const char *dir);
    /* Renames a file or a directory (whole tree) atomically. */
    ErrCode (*move)(void *driver, const char *from, const char *to, unsigned flags);
    /* mode STORAGE_LOCK_SHARED / _EXCLUSIVE; timeoutMs as lockAcquire. */
    ErrCode (*lockAcquireMode)(void *driver, const char *name, const StorageLockOwner *owner, int mode,
                               int timeoutMs, int ttlSeconds, void **out);
    /* True when a holder (any mode) has the lock now. */
    bool (*lockHeld)(void *driver, const char *name);
    /* The driver's locks expire unless refreshed (S3): storage.c then keeps
     * each held lock alive from a thread, so lockRefresh must be safe to call
     * from another thread than the one using the storage. */
    bool lockExpires;
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
/* Extends the lock's expiry by its ttl from now. Rarely needed: on drivers
 * whose locks expire, a keeper thread refreshes every held lock at a third of
 * its ttl until it is released. BACKUP_LOCKED "lost the lock" once it was
 * taken over (see storageLockLost). */
ErrCode storageLockRefresh(StorageLock *lock);
/* True once a refresh found the lock taken over or gone: the holder must
 * stop writing what the lock protects (a backup then fails instead of
 * committing). errLast() is not touched. */
bool storageLockLost(StorageLock *lock);
void storageLockRelease(StorageLock *lock); /* NULL is ignored */

ErrCode storageSpace(Storage *storage, StorageSpace *out);

/* ---- what the catalog needs beyond files (optional driver functions) ---- */

/* Calls callback for every entry directly below dir ("" = the root): files,
 * directories, and on posix links and other special files (reported with
 * their kind, never followed). Temporary files of unfinished writes are
 * skipped. Order is unspecified. An absent dir lists nothing. Fallback:
 * derived from storageList (files and the directories they imply). */
ErrCode storageListDir(Storage *storage, const char *dir, StorageListCallback callback, void *payload);
/* Like storageStat, but for any kind of entry (a link is reported as a link,
 * not followed). BACKUP_NOT_FOUND when missing. Fallback: storageStat. */
ErrCode storageInfo(Storage *storage, const char *name, StorageInfo *out);
/* Size and mtime of the file being read, taken from the open file itself
 * (posix fstat), so they belong to exactly the bytes read. */
ErrCode storageReadInfo(StorageRead *reader, StorageInfo *out);

/* Creates directory dir (mode 0700 on posix; its parent must exist);
 * BACKUP_IO_FAILED "already exists" when it does. Fallback (object storage,
 * where directories are implied by names): nothing to do. */
ErrCode storageDirCreate(Storage *storage, const char *dir);
/* Makes the files directly in dir and dir itself durable (posix: fsync each
 * regular file, then the directory). Fallback: nothing to do (an object is
 * durable once written). */
ErrCode storageDirSync(Storage *storage, const char *dir);

/* True when the driver can rename (posix). Object storage cannot rename a
 * tree atomically; the catalog then writes a backup in place, manifest last. */
bool storageCanMove(const Storage *storage);
/* Renames file or directory `from` to `to` atomically and makes the rename
 * durable (posix: renameat2, fsync of both parent directories). flags:
 * STORAGE_WRITE_NO_REPLACE refuses an existing `to` (BACKUP_IO_FAILED
 * "already exists"). BACKUP_NOT_FOUND when from is missing. Fallback:
 * BACKUP_IO_FAILED "not supported". */
ErrCode storageMove(Storage *storage, const char *from, const char *to, unsigned flags);

#define STORAGE_LOCK_SHARED 0
#define STORAGE_LOCK_EXCLUSIVE 1
/* storageLockAcquire with a mode and a wait: timeoutMs 0 = try once,
 * -1 = wait forever, > 0 = retry until then (as common/lock.h). A driver
 * without shared locks (S3) takes an exclusive one. owner->owner is the
 * purpose shown to a refused caller ("held by pid N (<purpose>)"). The
 * directory holding the lock must exist (BACKUP_NOT_FOUND otherwise): a
 * lock never creates one. */
ErrCode storageLockAcquireMode(Storage *storage, const char *name, const StorageLockOwner *owner, int mode,
                               int timeoutMs, int ttlSeconds, StorageLock **out);
/* True when anyone holds lock `name` now, in any mode (a probe that takes
 * nothing that lasts). False when it does not exist. */
bool storageLockHeld(Storage *storage, const char *name);

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
