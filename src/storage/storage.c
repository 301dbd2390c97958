/* The storage seam: checks names, then dispatches every call to the driver
 * table of the Storage it is made on. Also parses repository locations. */
#include "storage/storage.h"

#include "common/mem.h"
#include "common/timeutil.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct Storage {
    const StorageInterface *interface;
    void *driver;
};

struct StorageRead {
    const StorageInterface *interface;
    void *reader;
};

struct StorageWrite {
    const StorageInterface *interface;
    void *writer;
};

struct StorageLock {
    const StorageInterface *interface;
    void *lock;
    /* The keeper of an expiring lock (interface->lockExpires). */
    pthread_t keeper;
    bool keeperRunning;
    pthread_mutex_t mutex; /* serialises refreshes; guards the fields below */
    pthread_cond_t wake;
    bool stopping;
    bool lost;
    int intervalMs;
};

Storage *storageNew(const StorageInterface *interface, void *driverState)
{
    Storage *storage = memCalloc(1, sizeof(*storage));
    storage->interface = interface;
    storage->driver = driverState;
    return storage;
}

void storageFree(Storage *storage)
{
    if (!storage)
        return;
    storage->interface->free(storage->driver);
    free(storage);
}

const char *storageDriverName(const Storage *storage) { return storage->interface->name; }

void *storageDriverState(Storage *storage, const StorageInterface *interface)
{
    return storage && storage->interface == interface ? storage->driver : NULL;
}

ErrCode storageNameCheck(const char *name, bool allowEmpty)
{
    if (!name)
        return errSet(CONFIG_INVALID, "storage name missing");
    if (name[0] == '\0')
        return allowEmpty ? ERR_OK : errSet(CONFIG_INVALID, "storage name is empty");
    if (strlen(name) > 900)
        return errSet(CONFIG_INVALID, "storage name longer than 900 bytes");
    const char *component = name;
    for (;;) {
        size_t length = strcspn(component, "/");
        if (length == 0 || (length == 1 && component[0] == '.')
            || (length == 2 && component[0] == '.' && component[1] == '.'))
            return errSet(CONFIG_INVALID, "storage name '%s' has an empty, '.' or '..' component", name);
        for (size_t index = 0; index < length; index++) {
            unsigned char character = (unsigned char)component[index];
            if (character < 0x20 || character == 0x7f || character == '\\')
                return errSet(CONFIG_INVALID, "storage name '%s' has a control character or backslash", name);
        }
        if (component[length] == '\0')
            return ERR_OK;
        component += length + 1;
    }
}

ErrCode storageReadOpen(Storage *storage, const char *name, uint64_t offset, uint64_t length, StorageRead **out)
{
    *out = NULL;
    ErrCode result = storageNameCheck(name, false);
    if (result != ERR_OK)
        return result;
    StorageRead *reader = memCalloc(1, sizeof(*reader));
    result = storage->interface->readOpen(storage->driver, name, offset, length, &reader->reader);
    if (result != ERR_OK) {
        free(reader);
        return result;
    }
    reader->interface = storage->interface;
    *out = reader;
    return ERR_OK;
}

ErrCode storageRead(StorageRead *reader, void *buffer, size_t size, size_t *got)
{
    return reader->interface->read(reader->reader, buffer, size, got);
}

/* Cleanup calls (close, abort, release) return nothing and run on error
 * paths: they must not replace the failure the caller is about to report. */
void storageReadClose(StorageRead *reader)
{
    if (!reader)
        return;
    ErrDetail saved = errSave();
    reader->interface->readClose(reader->reader);
    free(reader);
    errRestore(&saved);
}

ErrCode storageWriteOpen(Storage *storage, const char *name, unsigned flags, StorageWrite **out)
{
    *out = NULL;
    ErrCode result = storageNameCheck(name, false);
    if (result != ERR_OK)
        return result;
    StorageWrite *writer = memCalloc(1, sizeof(*writer));
    result = storage->interface->writeOpen(storage->driver, name, flags, &writer->writer);
    if (result != ERR_OK) {
        free(writer);
        return result;
    }
    writer->interface = storage->interface;
    *out = writer;
    return ERR_OK;
}

ErrCode storageWrite(StorageWrite *writer, const void *data, size_t length)
{
    return length == 0 ? ERR_OK : writer->interface->write(writer->writer, data, length);
}

ErrCode storageWriteCommit(StorageWrite *writer)
{
    ErrCode result = writer->interface->writeCommit(writer->writer);
    free(writer);
    return result;
}

void storageWriteAbort(StorageWrite *writer)
{
    if (!writer)
        return;
    ErrDetail saved = errSave();
    writer->interface->writeAbort(writer->writer);
    free(writer);
    errRestore(&saved);
}

ErrCode storageList(Storage *storage, const char *dir, StorageListCallback callback, void *payload)
{
    ErrCode result = storageNameCheck(dir, true);
    return result != ERR_OK ? result : storage->interface->list(storage->driver, dir, callback, payload);
}

ErrCode storageStat(Storage *storage, const char *name, StorageInfo *out)
{
    memset(out, 0, sizeof(*out));
    ErrCode result = storageNameCheck(name, false);
    return result != ERR_OK ? result : storage->interface->stat(storage->driver, name, out);
}

ErrCode storageRemove(Storage *storage, const char *name)
{
    ErrCode result = storageNameCheck(name, false);
    return result != ERR_OK ? result : storage->interface->remove(storage->driver, name);
}

ErrCode storageRemoveDir(Storage *storage, const char *dir)
{
    /* Never the root: an empty name here is a bug that would wipe the repository. */
    ErrCode result = storageNameCheck(dir, false);
    return result != ERR_OK ? result : storage->interface->removeDir(storage->driver, dir);
}

static StorageLock *storageLockWrap(const StorageInterface *interface, void *driverLock, int ttlSeconds);

/* What every lock request must satisfy, whatever the mode. */
static ErrCode storageLockArgumentsCheck(const char *name, int ttlSeconds)
{
    ErrCode result = storageNameCheck(name, false);
    if (result == ERR_OK && ttlSeconds <= 0)
        return errSet(CONFIG_INVALID, "lock time-to-live must be positive, got %d", ttlSeconds);
    return result;
}

ErrCode storageLockAcquire(Storage *storage, const char *name, const StorageLockOwner *owner, int ttlSeconds,
                           StorageLock **out)
{
    *out = NULL;
    ErrCode result = storageLockArgumentsCheck(name, ttlSeconds);
    if (result != ERR_OK)
        return result;
    void *driverLock = NULL;
    result = storage->interface->lockAcquire(storage->driver, name, owner, ttlSeconds, &driverLock);
    if (result != ERR_OK)
        return result;
    *out = storageLockWrap(storage->interface, driverLock, ttlSeconds);
    return ERR_OK;
}

ErrCode storageLockRefresh(StorageLock *lock)
{
    pthread_mutex_lock(&lock->mutex);
    ErrCode result = lock->interface->lockRefresh(lock->lock);
    if (result == BACKUP_LOCKED)
        lock->lost = true;
    pthread_mutex_unlock(&lock->mutex);
    return result;
}

bool storageLockLost(StorageLock *lock)
{
    pthread_mutex_lock(&lock->mutex);
    bool lost = lock->lost;
    pthread_mutex_unlock(&lock->mutex);
    return lost;
}

/* Refreshes the lock every intervalMs until released. A failed refresh that
 * is not a loss (the service unreachable for a while) is tried again at the
 * next tick: the lock stays valid for its whole ttl meanwhile. */
static void *storageLockKeeper(void *payload)
{
    StorageLock *lock = payload;
    pthread_mutex_lock(&lock->mutex);
    while (!lock->stopping && !lock->lost) {
        struct timespec deadline;
        clock_gettime(CLOCK_REALTIME, &deadline);
        deadline.tv_sec += lock->intervalMs / 1000;
        deadline.tv_nsec += (long)(lock->intervalMs % 1000) * 1000000L;
        if (deadline.tv_nsec >= 1000000000L) {
            deadline.tv_sec++;
            deadline.tv_nsec -= 1000000000L;
        }
        while (!lock->stopping && pthread_cond_timedwait(&lock->wake, &lock->mutex, &deadline) == 0) {
        }
        if (lock->stopping)
            break;
        if (lock->interface->lockRefresh(lock->lock) == BACKUP_LOCKED)
            lock->lost = true;
        errClear();
    }
    pthread_mutex_unlock(&lock->mutex);
    return NULL;
}

/* Wraps a driver lock; starts its keeper when the driver's locks expire. */
static StorageLock *storageLockWrap(const StorageInterface *interface, void *driverLock, int ttlSeconds)
{
    StorageLock *lock = memCalloc(1, sizeof(*lock));
    lock->interface = interface;
    lock->lock = driverLock;
    pthread_mutex_init(&lock->mutex, NULL);
    pthread_cond_init(&lock->wake, NULL);
    if (interface->lockExpires) {
        lock->intervalMs = ttlSeconds * 1000 / 3;
        if (lock->intervalMs < 100)
            lock->intervalMs = 100;
        lock->keeperRunning = pthread_create(&lock->keeper, NULL, storageLockKeeper, lock) == 0;
    }
    return lock;
}

void storageLockRelease(StorageLock *lock)
{
    if (!lock)
        return;
    ErrDetail saved = errSave();
    if (lock->keeperRunning) {
        pthread_mutex_lock(&lock->mutex);
        lock->stopping = true;
        pthread_cond_signal(&lock->wake);
        pthread_mutex_unlock(&lock->mutex);
        pthread_join(lock->keeper, NULL);
    }
    lock->interface->lockRelease(lock->lock);
    pthread_cond_destroy(&lock->wake);
    pthread_mutex_destroy(&lock->mutex);
    free(lock);
    errRestore(&saved);
}

ErrCode storageSpace(Storage *storage, StorageSpace *out)
{
    memset(out, 0, sizeof(*out));
    return storage->interface->space(storage->driver, out);
}

/* ---- what the catalog needs beyond files ---------------------------------- */

/* The fallback listing: the files below dir and the directories they imply,
 * each directory reported once (sorted names make the duplicates adjacent). */
typedef struct {
    size_t dirLength;
    char **names;
    uint64_t *sizes;
    int64_t *mtimes;
    bool *isDir;
    size_t count;
    size_t capacity;
} DerivedListing;

static ErrCode derivedCollect(const StorageInfo *info, void *payload)
{
    DerivedListing *listing = payload;
    const char *rest = info->name + listing->dirLength;
    if (listing->dirLength > 0)
        rest++; /* the '/' after dir */
    size_t childLength = strcspn(rest, "/");
    if (listing->count == listing->capacity) {
        listing->capacity = listing->capacity ? listing->capacity * 2 : 16;
        listing->names = memRealloc(listing->names, listing->capacity * sizeof(*listing->names));
        listing->sizes = memRealloc(listing->sizes, listing->capacity * sizeof(*listing->sizes));
        listing->mtimes = memRealloc(listing->mtimes, listing->capacity * sizeof(*listing->mtimes));
        listing->isDir = memRealloc(listing->isDir, listing->capacity * sizeof(*listing->isDir));
    }
    size_t nameLength = (size_t)(rest - info->name) + childLength;
    char *name = memRealloc(NULL, nameLength + 1);
    memcpy(name, info->name, nameLength);
    name[nameLength] = '\0';
    listing->names[listing->count] = name;
    listing->isDir[listing->count] = rest[childLength] == '/';
    listing->sizes[listing->count] = listing->isDir[listing->count] ? 0 : info->size;
    listing->mtimes[listing->count] = listing->isDir[listing->count] ? 0 : info->mtime;
    listing->count++;
    return ERR_OK;
}

/* qsort has no payload; listings run one at a time per thread. */
static _Thread_local char **derivedSortNames;

static int derivedCompare(const void *left, const void *right)
{
    return strcmp(derivedSortNames[*(const size_t *)left], derivedSortNames[*(const size_t *)right]);
}

static ErrCode derivedListDir(Storage *storage, const char *dir, StorageListCallback callback, void *payload)
{
    DerivedListing listing = {.dirLength = strlen(dir)};
    ErrCode result = storage->interface->list(storage->driver, dir, derivedCollect, &listing);
    size_t *order = memReallocArray(NULL, listing.count ? listing.count : 1, sizeof(*order));
    for (size_t index = 0; index < listing.count; index++)
        order[index] = index;
    derivedSortNames = listing.names;
    qsort(order, listing.count, sizeof(*order), derivedCompare);
    for (size_t position = 0; result == ERR_OK && position < listing.count; position++) {
        size_t index = order[position];
        if (position > 0 && strcmp(listing.names[order[position - 1]], listing.names[index]) == 0)
            continue; /* a directory implied by several files */
        StorageInfo info = {.name = listing.names[index],
                            .size = listing.sizes[index],
                            .mtime = listing.mtimes[index],
                            .kind = listing.isDir[index] ? STORAGE_KIND_DIR : STORAGE_KIND_FILE};
        result = callback(&info, payload);
    }
    free(order);
    for (size_t index = 0; index < listing.count; index++)
        free(listing.names[index]);
    free(listing.names);
    free(listing.sizes);
    free(listing.mtimes);
    free(listing.isDir);
    return result;
}

ErrCode storageListDir(Storage *storage, const char *dir, StorageListCallback callback, void *payload)
{
    ErrCode result = storageNameCheck(dir, true);
    if (result != ERR_OK)
        return result;
    if (storage->interface->listDir)
        return storage->interface->listDir(storage->driver, dir, callback, payload);
    return derivedListDir(storage, dir, callback, payload);
}

ErrCode storageInfo(Storage *storage, const char *name, StorageInfo *out)
{
    memset(out, 0, sizeof(*out));
    ErrCode result = storageNameCheck(name, false);
    if (result != ERR_OK)
        return result;
    if (storage->interface->info)
        return storage->interface->info(storage->driver, name, out);
    result = storage->interface->stat(storage->driver, name, out);
    out->kind = STORAGE_KIND_FILE;
    return result;
}

ErrCode storageReadInfo(StorageRead *reader, StorageInfo *out)
{
    memset(out, 0, sizeof(*out));
    if (!reader->interface->readInfo)
        return errSet(BACKUP_IO_FAILED, "storage driver %s cannot describe an open file", reader->interface->name);
    ErrCode result = reader->interface->readInfo(reader->reader, out);
    out->kind = STORAGE_KIND_FILE;
    return result;
}

ErrCode storageDirCreate(Storage *storage, const char *dir)
{
    ErrCode result = storageNameCheck(dir, false);
    if (result != ERR_OK)
        return result;
    return storage->interface->dirCreate ? storage->interface->dirCreate(storage->driver, dir) : ERR_OK;
}

ErrCode storageDirSync(Storage *storage, const char *dir)
{
    ErrCode result = storageNameCheck(dir, true);
    if (result != ERR_OK)
        return result;
    return storage->interface->dirSync ? storage->interface->dirSync(storage->driver, dir) : ERR_OK;
}

bool storageCanMove(const Storage *storage) { return storage->interface->move != NULL; }

ErrCode storageMove(Storage *storage, const char *from, const char *to, unsigned flags)
{
    ErrCode result = storageNameCheck(from, false);
    if (result == ERR_OK)
        result = storageNameCheck(to, false);
    if (result != ERR_OK)
        return result;
    if (!storage->interface->move)
        return errSet(BACKUP_IO_FAILED, "cannot rename %s: not supported by %s storage", from, storage->interface->name);
    return storage->interface->move(storage->driver, from, to, flags);
}

/* Pause between attempts of a waiting lock on drivers that cannot block. */
#define STORAGE_LOCK_RETRY_MS 100

ErrCode storageLockAcquireMode(Storage *storage, const char *name, const StorageLockOwner *owner, int mode,
                               int timeoutMs, int ttlSeconds, StorageLock **out)
{
    *out = NULL;
    if (!storage->interface->lockAcquireMode) {
        /* Exclusive only, retried here until the wait is over. */
        int64_t deadline = timeMonotonicMs() + (timeoutMs > 0 ? timeoutMs : 0);
        for (;;) {
            ErrCode result = storageLockAcquire(storage, name, owner, ttlSeconds, out);
            if (result != BACKUP_LOCKED || timeoutMs == 0 || (timeoutMs > 0 && timeMonotonicMs() >= deadline))
                return result;
            struct timespec pause = {0, STORAGE_LOCK_RETRY_MS * 1000000L};
            nanosleep(&pause, NULL);
        }
    }
    ErrCode result = storageLockArgumentsCheck(name, ttlSeconds);
    if (result != ERR_OK)
        return result;
    void *driverLock = NULL;
    result = storage->interface->lockAcquireMode(storage->driver, name, owner, mode, timeoutMs, ttlSeconds,
                                                 &driverLock);
    if (result != ERR_OK)
        return result;
    *out = storageLockWrap(storage->interface, driverLock, ttlSeconds);
    return ERR_OK;
}

bool storageLockHeld(Storage *storage, const char *name)
{
    if (storageNameCheck(name, false) != ERR_OK || !storage->interface->lockHeld) {
        errClear();
        return false;
    }
    return storage->interface->lockHeld(storage->driver, name);
}

/* S3 bucket naming rules: 3-63 characters of lowercase letters, digits, '-'
 * and '.', starting and ending with a letter or digit. */
static bool bucketNameValid(const char *bucket, size_t length)
{
    if (length < 3 || length > 63)
        return false;
    for (size_t index = 0; index < length; index++) {
        char character = bucket[index];
        bool alnum = (character >= 'a' && character <= 'z') || (character >= '0' && character <= '9');
        if (!alnum && character != '-' && character != '.')
            return false;
        if ((index == 0 || index == length - 1) && !alnum)
            return false;
    }
    return true;
}

ErrCode storageLocationParse(const char *text, StorageLocation *out)
{
    memset(out, 0, sizeof(*out));
    if (!text || text[0] == '\0')
        return errSet(CONFIG_INVALID, "repository location is empty");
    const char *scheme = strstr(text, "://");
    if (!scheme) {
        if (strlen(text) >= sizeof(out->path))
            return errSet(CONFIG_INVALID, "repository path too long");
        out->kind = STORAGE_LOCATION_POSIX;
        snprintf(out->path, sizeof(out->path), "%s", text);
        return ERR_OK;
    }
    if ((size_t)(scheme - text) != 2 || strncmp(text, "s3", 2) != 0)
        return errSet(CONFIG_INVALID, "repository location '%.*s://...' has an unsupported scheme (use s3:// or a path)",
                      (int)(scheme - text) > 16 ? 16 : (int)(scheme - text), text);
    const char *bucket = scheme + 3;
    size_t bucketLength = strcspn(bucket, "/");
    if (!bucketNameValid(bucket, bucketLength))
        return errSet(CONFIG_INVALID, "repository location '%s': invalid bucket name", text);
    out->kind = STORAGE_LOCATION_S3;
    memcpy(out->bucket, bucket, bucketLength);
    const char *prefix = bucket + bucketLength;
    while (*prefix == '/')
        prefix++;
    size_t prefixLength = strlen(prefix);
    while (prefixLength > 0 && prefix[prefixLength - 1] == '/')
        prefixLength--;
    if (prefixLength >= sizeof(out->prefix))
        return errSet(CONFIG_INVALID, "repository location '%s': prefix too long", text);
    memcpy(out->prefix, prefix, prefixLength);
    out->prefix[prefixLength] = '\0';
    if (prefixLength > 0 && storageNameCheck(out->prefix, false) != ERR_OK)
        return errSet(CONFIG_INVALID, "repository location '%s': invalid prefix", text);
    return ERR_OK;
}
