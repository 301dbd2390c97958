/* The catalog on a storage that cannot rename (object storage's layout,
 * catalog.h): a backup written in place under <id>/ while its lock is held,
 * invisible until its manifest is written, committed only while the lock is
 * still ours; one listing for the whole catalog; deletion that hides the
 * backup first; leftovers of crashed or stalled writers cleaned up; locks
 * that never wait on themselves. Run on two storages:
 * - an in-memory object store (this file's fake) whose locks expire on a
 *   clock the test moves, so expiry, takeover and lost locks happen without
 *   waiting;
 * - the posix driver wrapped in a table without `move` (a test-only driver
 *   delegating to it), where a crashed writer is a real child process. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "catalog/catalog.h"
#include "catalog/removal.h"
#include "common/log.h"
#include "common/timeutil.h"
#include "storage/posix.h"

#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define DAY TIME_SECONDS_PER_DAY
#define ARCHIVE_SHA256 "84d89877f0d4041efb6bf91a16f0248f2fd573e6af05c19f96bedb9f882f7882" /* "0123456789" */

static void quietSink(LogLevel level, const char *line, void *payload)
{
    (void)level;
    (void)line;
    (void)payload;
}

/* ---- an in-memory object store ----------------------------------------------
 * Flat keys, no directories (a "directory" is a prefix), no rename. Locks are
 * objects holding their expiry on the store's clock; a lock found expired is
 * taken over, and a refresh or release acts only on the version its holder
 * wrote (as the S3 driver does with ETags). Several Storages opened on it are
 * several processes sharing one bucket. */

#define MEM_OBJECTS_MAX 512
#define MEM_NAME_SIZE 512

typedef struct {
    char name[MEM_NAME_SIZE];
    uint8_t *data;
    size_t length;
    int64_t mtime;
    unsigned version;
} MemObject;

static struct {
    pthread_mutex_t mutex; /* storage.c's keeper may refresh from its thread */
    MemObject objects[MEM_OBJECTS_MAX];
    size_t count;
    int64_t now;            /* the store's clock: mtimes and lock expiry */
    unsigned nextVersion;
    unsigned lists, looks;  /* list requests; stat/info requests */
    char removed[64][MEM_NAME_SIZE]; /* removals in order (not lock releases) */
    size_t removedCount;
    int removalsBeforeFailure; /* < 0: never fail */
    bool refreshFails;         /* refreshes get no answer (service unreachable) */
    /* Runs once when a lock of this name is asked for: another process acting
     * between a caller's look and its lock. */
    char hookLock[MEM_NAME_SIZE];
    void (*hook)(void);
} mem = {.mutex = PTHREAD_MUTEX_INITIALIZER};

static void memReset(void)
{
    for (size_t index = 0; index < mem.count; index++)
        free(mem.objects[index].data);
    mem.count = 0;
    mem.now = timeFromParts(2025, 12, 27, 2, 0, 0);
    mem.lists = mem.looks = 0;
    mem.removedCount = 0;
    mem.removalsBeforeFailure = -1;
    mem.refreshFails = false;
    mem.hook = NULL;
}

/* Index of name, or -1. Caller holds the mutex. */
static long memFind(const char *name)
{
    for (size_t index = 0; index < mem.count; index++)
        if (strcmp(mem.objects[index].name, name) == 0)
            return (long)index;
    return -1;
}

/* Creates or replaces name. Caller holds the mutex. */
static unsigned memPut(const char *name, const void *data, size_t length)
{
    long found = memFind(name);
    MemObject *object;
    if (found >= 0) {
        object = &mem.objects[found];
        free(object->data);
    } else {
        assert_true(mem.count < MEM_OBJECTS_MAX);
        object = &mem.objects[mem.count++];
        snprintf(object->name, sizeof(object->name), "%s", name);
    }
    object->data = malloc(length ? length : 1);
    memcpy(object->data, data, length);
    object->length = length;
    object->mtime = mem.now;
    object->version = ++mem.nextVersion;
    return object->version;
}

static void memDelete(long index)
{
    free(mem.objects[index].data);
    mem.objects[index] = mem.objects[--mem.count];
}

static bool memBelow(const char *name, const char *dir)
{
    size_t length = strlen(dir);
    return length == 0 || (strncmp(name, dir, length) == 0 && name[length] == '/');
}

typedef struct {
    uint8_t *data;
    size_t length;
    size_t position;
    int64_t mtime;
} MemReader;

static ErrCode memReadOpen(void *driver, const char *name, uint64_t offset, uint64_t length, void **out)
{
    (void)driver;
    pthread_mutex_lock(&mem.mutex);
    long found = memFind(name);
    if (found < 0) {
        pthread_mutex_unlock(&mem.mutex);
        return errSet(BACKUP_NOT_FOUND, "%s: no such object", name);
    }
    const MemObject *object = &mem.objects[found];
    MemReader *reader = calloc(1, sizeof(*reader));
    size_t start = offset < object->length ? (size_t)offset : object->length;
    size_t available = object->length - start;
    reader->length = length < available ? (size_t)length : available;
    reader->data = malloc(reader->length ? reader->length : 1);
    memcpy(reader->data, object->data + start, reader->length);
    reader->mtime = object->mtime;
    pthread_mutex_unlock(&mem.mutex);
    *out = reader;
    return ERR_OK;
}

static ErrCode memRead(void *handle, void *buffer, size_t size, size_t *got)
{
    MemReader *reader = handle;
    size_t left = reader->length - reader->position;
    *got = size < left ? size : left;
    memcpy(buffer, reader->data + reader->position, *got);
    reader->position += *got;
    return ERR_OK;
}

static void memReadClose(void *handle)
{
    MemReader *reader = handle;
    free(reader->data);
    free(reader);
}

static ErrCode memReadInfo(void *handle, StorageInfo *out)
{
    MemReader *reader = handle;
    out->size = reader->length;
    out->mtime = reader->mtime;
    return ERR_OK;
}

typedef struct {
    char name[MEM_NAME_SIZE];
    unsigned flags;
    uint8_t *data;
    size_t length;
} MemWriter;

static ErrCode memWriteOpen(void *driver, const char *name, unsigned flags, void **out)
{
    (void)driver;
    MemWriter *writer = calloc(1, sizeof(*writer));
    snprintf(writer->name, sizeof(writer->name), "%s", name);
    writer->flags = flags;
    *out = writer;
    return ERR_OK;
}

static ErrCode memWrite(void *handle, const void *data, size_t length)
{
    MemWriter *writer = handle;
    writer->data = realloc(writer->data, writer->length + length);
    memcpy(writer->data + writer->length, data, length);
    writer->length += length;
    return ERR_OK;
}

static ErrCode memWriteCommit(void *handle)
{
    MemWriter *writer = handle;
    ErrCode result = ERR_OK;
    pthread_mutex_lock(&mem.mutex);
    if ((writer->flags & STORAGE_WRITE_NO_REPLACE) && memFind(writer->name) >= 0)
        result = errSet(BACKUP_IO_FAILED, "%s already exists", writer->name);
    else
        memPut(writer->name, writer->data, writer->length);
    pthread_mutex_unlock(&mem.mutex);
    free(writer->data);
    free(writer);
    return result;
}

static void memWriteAbort(void *handle)
{
    MemWriter *writer = handle;
    free(writer->data);
    free(writer);
}

/* Listed newest first, the reverse of what S3 does: the catalog must not
 * rely on the order. */
static ErrCode memList(void *driver, const char *dir, StorageListCallback callback, void *payload)
{
    (void)driver;
    pthread_mutex_lock(&mem.mutex);
    mem.lists++;
    size_t count = 0;
    MemObject *copies = calloc(mem.count ? mem.count : 1, sizeof(*copies));
    for (size_t index = mem.count; index-- > 0;)
        if (memBelow(mem.objects[index].name, dir))
            copies[count++] = mem.objects[index];
    pthread_mutex_unlock(&mem.mutex);
    ErrCode result = ERR_OK;
    for (size_t index = 0; index < count && result == ERR_OK; index++) {
        StorageInfo info = {copies[index].name, copies[index].length, copies[index].mtime, STORAGE_KIND_FILE};
        result = callback(&info, payload);
    }
    free(copies);
    return result;
}

static ErrCode memStat(void *driver, const char *name, StorageInfo *out)
{
    (void)driver;
    pthread_mutex_lock(&mem.mutex);
    mem.looks++;
    long found = memFind(name);
    if (found >= 0)
        *out = (StorageInfo){name, mem.objects[found].length, mem.objects[found].mtime, STORAGE_KIND_FILE};
    pthread_mutex_unlock(&mem.mutex);
    return found >= 0 ? ERR_OK : errSet(BACKUP_NOT_FOUND, "%s: no such object", name);
}

static ErrCode memInfo(void *driver, const char *name, StorageInfo *out)
{
    if (memStat(driver, name, out) == ERR_OK)
        return ERR_OK;
    pthread_mutex_lock(&mem.mutex);
    bool prefix = false;
    for (size_t index = 0; index < mem.count && !prefix; index++)
        prefix = memBelow(mem.objects[index].name, name);
    pthread_mutex_unlock(&mem.mutex);
    if (!prefix)
        return BACKUP_NOT_FOUND;
    errClear();
    *out = (StorageInfo){name, 0, 0, STORAGE_KIND_DIR};
    return ERR_OK;
}

/* Caller holds the mutex. */
static ErrCode memRemoveLocked(const char *name)
{
    if (mem.removalsBeforeFailure == 0)
        return errSet(BACKUP_IO_FAILED, "cannot remove %s: injected failure", name);
    if (mem.removalsBeforeFailure > 0)
        mem.removalsBeforeFailure--;
    if (mem.removedCount < sizeof(mem.removed) / sizeof(mem.removed[0]))
        snprintf(mem.removed[mem.removedCount++], MEM_NAME_SIZE, "%s", name);
    long found = memFind(name);
    if (found >= 0)
        memDelete(found);
    return ERR_OK;
}

static ErrCode memRemove(void *driver, const char *name)
{
    (void)driver;
    pthread_mutex_lock(&mem.mutex);
    ErrCode result = memRemoveLocked(name);
    pthread_mutex_unlock(&mem.mutex);
    return result;
}

static ErrCode memRemoveDir(void *driver, const char *dir)
{
    (void)driver;
    pthread_mutex_lock(&mem.mutex);
    ErrCode result = ERR_OK;
    for (size_t index = 0; index < mem.count && result == ERR_OK;) {
        if (!memBelow(mem.objects[index].name, dir)) {
            index++;
            continue;
        }
        char name[MEM_NAME_SIZE];
        snprintf(name, sizeof(name), "%s", mem.objects[index].name);
        result = memRemoveLocked(name); /* moves the last object to index */
    }
    pthread_mutex_unlock(&mem.mutex);
    return result;
}

typedef struct {
    char name[MEM_NAME_SIZE];
    char owner[128];
    int ttlSeconds;
    unsigned version; /* of the lock object we wrote last */
} MemLock;

/* Caller holds the mutex. */
static int64_t memLockExpiry(long index)
{
    const MemObject *object = &mem.objects[index];
    char text[256];
    size_t length = object->length < sizeof(text) - 1 ? object->length : sizeof(text) - 1;
    memcpy(text, object->data, length);
    text[length] = '\0';
    const char *expires = strstr(text, "expires=");
    return expires ? strtoll(expires + 8, NULL, 10) : INT64_MAX;
}

/* Caller holds the mutex. */
static void memLockWrite(MemLock *lock)
{
    char record[256];
    int length = snprintf(record, sizeof(record), "owner=%s\nexpires=%lld\n", lock->owner,
                          (long long)(mem.now + lock->ttlSeconds));
    lock->version = memPut(lock->name, record, (size_t)length);
}

static ErrCode memLockAcquire(void *driver, const char *name, const StorageLockOwner *owner, int ttlSeconds,
                              void **out)
{
    (void)driver;
    if (mem.hook && strcmp(name, mem.hookLock) == 0) {
        void (*hook)(void) = mem.hook;
        mem.hook = NULL;
        hook();
    }
    pthread_mutex_lock(&mem.mutex);
    long found = memFind(name);
    if (found >= 0 && memLockExpiry(found) >= mem.now) {
        pthread_mutex_unlock(&mem.mutex);
        return errSet(BACKUP_LOCKED, "%s is held by another process", name);
    }
    MemLock *lock = calloc(1, sizeof(*lock));
    snprintf(lock->name, sizeof(lock->name), "%s", name);
    snprintf(lock->owner, sizeof(lock->owner), "%s", owner && owner->owner ? owner->owner : "test");
    lock->ttlSeconds = ttlSeconds;
    memLockWrite(lock); /* creates it, or takes over the expired one */
    pthread_mutex_unlock(&mem.mutex);
    *out = lock;
    return ERR_OK;
}

static ErrCode memLockRefresh(void *handle)
{
    MemLock *lock = handle;
    ErrCode result = ERR_OK;
    pthread_mutex_lock(&mem.mutex);
    long found = memFind(lock->name);
    if (mem.refreshFails)
        result = errSet(STORAGE_UNREACHABLE, "the store did not answer");
    else if (found < 0 || mem.objects[found].version != lock->version)
        result = errSet(BACKUP_LOCKED, "lost the lock %s: it expired and was taken over or removed", lock->name);
    else
        memLockWrite(lock);
    pthread_mutex_unlock(&mem.mutex);
    return result;
}

static void memLockRelease(void *handle)
{
    MemLock *lock = handle;
    pthread_mutex_lock(&mem.mutex);
    long found = memFind(lock->name);
    if (found >= 0 && mem.objects[found].version == lock->version)
        memDelete(found);
    pthread_mutex_unlock(&mem.mutex);
    free(lock);
}

static bool memLockHeld(void *driver, const char *name)
{
    (void)driver;
    pthread_mutex_lock(&mem.mutex);
    long found = memFind(name);
    bool held = found >= 0 && memLockExpiry(found) >= mem.now;
    pthread_mutex_unlock(&mem.mutex);
    return held;
}

static ErrCode memSpace(void *driver, StorageSpace *out)
{
    (void)driver;
    out->applicable = false;
    return ERR_OK;
}

static void memFree(void *driver) { (void)driver; }

static const StorageInterface memInterface = {
    .name = "memory",
    .readOpen = memReadOpen,
    .read = memRead,
    .readClose = memReadClose,
    .writeOpen = memWriteOpen,
    .write = memWrite,
    .writeCommit = memWriteCommit,
    .writeAbort = memWriteAbort,
    .list = memList,
    .stat = memStat,
    .remove = memRemove,
    .removeDir = memRemoveDir,
    .lockAcquire = memLockAcquire,
    .lockRefresh = memLockRefresh,
    .lockRelease = memLockRelease,
    .space = memSpace,
    .free = memFree,
    .info = memInfo,
    .readInfo = memReadInfo,
    .lockHeld = memLockHeld,
    .lockExpires = true,
};

static bool memHas(const char *name)
{
    pthread_mutex_lock(&mem.mutex);
    bool found = memFind(name) >= 0;
    pthread_mutex_unlock(&mem.mutex);
    return found;
}

static size_t memCountBelow(const char *dir)
{
    pthread_mutex_lock(&mem.mutex);
    size_t count = 0;
    for (size_t index = 0; index < mem.count; index++)
        count += memBelow(mem.objects[index].name, dir);
    pthread_mutex_unlock(&mem.mutex);
    return count;
}

/* ---- the posix driver without rename ----------------------------------------
 * A driver table delegating every call to a posix Storage, except `move`,
 * which it does not have: the catalog then takes the in-place layout on a real
 * directory, with flock()ed locks that die with their process. */

static ErrCode wrapReadOpen(void *driver, const char *name, uint64_t offset, uint64_t length, void **out)
{
    StorageRead *reader = NULL;
    ErrCode result = storageReadOpen(driver, name, offset, length, &reader);
    *out = reader;
    return result;
}

static ErrCode wrapRead(void *reader, void *buffer, size_t size, size_t *got)
{
    return storageRead(reader, buffer, size, got);
}

static void wrapReadClose(void *reader) { storageReadClose(reader); }

static ErrCode wrapReadInfo(void *reader, StorageInfo *out) { return storageReadInfo(reader, out); }

static ErrCode wrapWriteOpen(void *driver, const char *name, unsigned flags, void **out)
{
    StorageWrite *writer = NULL;
    ErrCode result = storageWriteOpen(driver, name, flags, &writer);
    *out = writer;
    return result;
}

static ErrCode wrapWrite(void *writer, const void *data, size_t length) { return storageWrite(writer, data, length); }

static ErrCode wrapWriteCommit(void *writer) { return storageWriteCommit(writer); }

static void wrapWriteAbort(void *writer) { storageWriteAbort(writer); }

static ErrCode wrapList(void *driver, const char *dir, StorageListCallback callback, void *payload)
{
    return storageList(driver, dir, callback, payload);
}

static ErrCode wrapStat(void *driver, const char *name, StorageInfo *out) { return storageStat(driver, name, out); }

static ErrCode wrapRemove(void *driver, const char *name) { return storageRemove(driver, name); }

static ErrCode wrapRemoveDir(void *driver, const char *dir) { return storageRemoveDir(driver, dir); }

static ErrCode wrapLockAcquire(void *driver, const char *name, const StorageLockOwner *owner, int ttlSeconds,
                               void **out)
{
    StorageLock *lock = NULL;
    ErrCode result = storageLockAcquire(driver, name, owner, ttlSeconds, &lock);
    *out = lock;
    return result;
}

static ErrCode wrapLockRefresh(void *lock) { return storageLockRefresh(lock); }

static void wrapLockRelease(void *lock) { storageLockRelease(lock); }

static ErrCode wrapSpace(void *driver, StorageSpace *out) { return storageSpace(driver, out); }

static void wrapFree(void *driver) { storageFree(driver); }

static ErrCode wrapListDir(void *driver, const char *dir, StorageListCallback callback, void *payload)
{
    return storageListDir(driver, dir, callback, payload);
}

static ErrCode wrapInfo(void *driver, const char *name, StorageInfo *out) { return storageInfo(driver, name, out); }

static ErrCode wrapDirCreate(void *driver, const char *dir) { return storageDirCreate(driver, dir); }

static ErrCode wrapDirSync(void *driver, const char *dir) { return storageDirSync(driver, dir); }

static ErrCode wrapLockAcquireMode(void *driver, const char *name, const StorageLockOwner *owner, int mode,
                                   int timeoutMs, int ttlSeconds, void **out)
{
    StorageLock *lock = NULL;
    ErrCode result = storageLockAcquireMode(driver, name, owner, mode, timeoutMs, ttlSeconds, &lock);
    *out = lock;
    return result;
}

static bool wrapLockHeld(void *driver, const char *name) { return storageLockHeld(driver, name); }

static const StorageInterface posixWithoutMoveInterface = {
    .name = "posix-without-move",
    .readOpen = wrapReadOpen,
    .read = wrapRead,
    .readClose = wrapReadClose,
    .writeOpen = wrapWriteOpen,
    .write = wrapWrite,
    .writeCommit = wrapWriteCommit,
    .writeAbort = wrapWriteAbort,
    .list = wrapList,
    .stat = wrapStat,
    .remove = wrapRemove,
    .removeDir = wrapRemoveDir,
    .lockAcquire = wrapLockAcquire,
    .lockRefresh = wrapLockRefresh,
    .lockRelease = wrapLockRelease,
    .space = wrapSpace,
    .free = wrapFree,
    .listDir = wrapListDir,
    .info = wrapInfo,
    .readInfo = wrapReadInfo,
    .dirCreate = wrapDirCreate,
    .dirSync = wrapDirSync,
    .move = NULL, /* the point */
    .lockAcquireMode = wrapLockAcquireMode,
    .lockHeld = wrapLockHeld,
};

static char workDir[256];

/* For child processes, which must not use cmocka's asserts (a failure there
 * would run the rest of the suite in the child): NULL on failure. */
static Catalog *openPosixWithoutMoveQuietly(void)
{
    Storage *posix = NULL;
    Catalog *catalog = NULL;
    if (storagePosixOpen(workDir, false, &posix) != ERR_OK
        || catOpenStorage(&catalog, storageNew(&posixWithoutMoveInterface, posix)) != ERR_OK)
        return NULL;
    return catalog;
}

static Catalog *openPosixWithoutMove(void)
{
    Storage *posix = NULL;
    assert_int_equal(storagePosixOpen(workDir, false, &posix), ERR_OK);
    Catalog *catalog = NULL;
    assert_int_equal(catOpenStorage(&catalog, storageNew(&posixWithoutMoveInterface, posix)), ERR_OK);
    return catalog;
}

static Catalog *openMemory(void)
{
    Catalog *catalog = NULL;
    assert_int_equal(catOpenStorage(&catalog, storageNew(&memInterface, NULL)), ERR_OK);
    return catalog;
}

static int setUpMemory(void **state)
{
    logSetSink(quietSink, NULL);
    memReset();
    *state = openMemory();
    return 0;
}

static int tearDownMemory(void **state)
{
    catClose(*state);
    memReset();
    logSetSink(NULL, NULL);
    return 0;
}

static int setUpPosix(void **state)
{
    logSetSink(quietSink, NULL);
    snprintf(workDir, sizeof(workDir), "/tmp/nbk-inplace-XXXXXX");
    if (!mkdtemp(workDir))
        return -1;
    *state = openPosixWithoutMove();
    return 0;
}

static int tearDownPosix(void **state)
{
    catClose(*state);
    logSetSink(NULL, NULL);
    char command[300];
    snprintf(command, sizeof(command), "rm -rf '%s'", workDir);
    return system(command) == 0 ? 0 : -1;
}

/* ---- helpers ----------------------------------------------------------------- */

static bool writeFileQuietly(Storage *storage, const char *dir, const char *file, const char *content)
{
    char name[600];
    snprintf(name, sizeof(name), "%s/%s", dir, file);
    StorageWrite *writer = NULL;
    if (storageWriteOpen(storage, name, 0, &writer) != ERR_OK)
        return false;
    if (storageWrite(writer, content, strlen(content)) != ERR_OK) {
        storageWriteAbort(writer);
        return false;
    }
    return storageWriteCommit(writer) == ERR_OK;
}

static void writeFile(Storage *storage, const char *dir, const char *file, const char *content)
{
    char name[600];
    snprintf(name, sizeof(name), "%s/%s", dir, file);
    StorageWrite *writer = NULL;
    assert_int_equal(storageWriteOpen(storage, name, 0, &writer), ERR_OK);
    assert_int_equal(storageWrite(writer, content, strlen(content)), ERR_OK);
    assert_int_equal(storageWriteCommit(writer), ERR_OK);
}

static Manifest *newManifest(const char *id, int64_t created, const char *status, bool keep)
{
    Manifest *manifest = manifestNew();
    manifestSetString(&manifest->id, id);
    manifest->created = created;
    manifestSetString(&manifest->status, status);
    manifestSetString(&manifest->archive.file, "graph.nbk");
    manifest->archive.sizeCompressed = 10;
    manifestSetString(&manifest->archive.sha256, ARCHIVE_SHA256);
    manifest->keep = keep;
    return manifest;
}

/* Begins backup id and writes its archive, as the backup writer does. */
static CatBackupDir *beginWithArchive(Catalog *catalog, const char *id)
{
    CatBackupDir *dir = NULL;
    assert_int_equal(catBackupDirBegin(catalog, id, &dir), ERR_OK);
    assert_string_equal(catBackupDirName(dir), id);
    writeFile(catStorage(catalog), catBackupDirName(dir), "graph.nbk", "0123456789");
    return dir;
}

static void saveManifest(CatBackupDir *dir, int64_t created, const char *status, bool keep)
{
    Manifest *manifest = newManifest(catBackupDirId(dir), created, status, keep);
    assert_int_equal(catBackupDirSaveManifest(dir, manifest), ERR_OK);
    manifestFree(manifest);
}

/* A committed backup, written the way the backup engine does in place. */
static void makeBackup(Catalog *catalog, int64_t created, const char *status, bool keep, char id[CAT_ID_SIZE])
{
    assert_int_equal(catNewId(catalog, created, id), ERR_OK);
    CatBackupDir *dir = beginWithArchive(catalog, id);
    saveManifest(dir, created, status, keep);
    assert_int_equal(catBackupDirCommit(dir), ERR_OK);
}

static size_t listedCount(Catalog *catalog)
{
    CatList list;
    assert_int_equal(catList(catalog, &list), ERR_OK);
    size_t count = list.count;
    catListFree(&list);
    return count;
}

static bool lockHeld(Catalog *catalog, const char *id)
{
    char name[CAT_ID_SIZE + 16];
    snprintf(name, sizeof(name), "%s/" CAT_LOCK_FILE_NAME, id);
    return storageLockHeld(catStorage(catalog), name);
}

/* ---- the backup's life, on either storage ------------------------------------ */

/* Being written: not listed, not found, not lockable, but its id is taken;
 * the manifest makes it appear; the commit releases the lock. */
static void testWrittenInPlaceAppearsWithItsManifest(void **state)
{
    Catalog *catalog = *state;
    int64_t created = timeFromParts(2025, 12, 27, 2, 0, 0);
    char id[CAT_ID_SIZE];
    assert_int_equal(catNewId(catalog, created, id), ERR_OK);
    CatBackupDir *dir = beginWithArchive(catalog, id);
    assert_string_equal(catBackupDirId(dir), id);
    assert_string_equal(catBackupDirPath(dir), ""); /* no paths on this storage */
    assert_true(lockHeld(catalog, id));

    assert_int_equal(listedCount(catalog), 0);
    CatEntry entry;
    assert_int_equal(catFind(catalog, id, &entry), BACKUP_NOT_FOUND);
    StorageLock *reader = NULL;
    assert_int_equal(catLockBackup(catalog, id, LOCK_SHARED, 0, "restore", &reader), BACKUP_NOT_FOUND);
    assert_null(reader);
    assert_int_equal(catDelete(catalog, id), BACKUP_NOT_FOUND);
    char next[CAT_ID_SIZE];
    assert_int_equal(catNewId(catalog, created, next), ERR_OK);
    assert_string_equal(next, "neo4j-20251227-020000-2");
    CatBackupDir *twin = NULL;
    assert_int_equal(catBackupDirBegin(catalog, id, &twin), BACKUP_IO_FAILED);
    assert_non_null(strstr(errLast()->reason, "already exists"));
    assert_null(twin);
    /* Cleanup leaves a backup whose writer holds its lock alone (and a dry
     * run does not report it). */
    CatNameList removed;
    assert_int_equal(catCleanLeftovers(catalog, true, &removed), ERR_OK);
    assert_int_equal(removed.count, 0);
    catNameListFree(&removed);
    assert_int_equal(catCleanLeftovers(catalog, false, &removed), ERR_OK);
    assert_int_equal(removed.count, 0);
    catNameListFree(&removed);
    assert_int_equal(listedCount(catalog), 0);

    saveManifest(dir, created, MANIFEST_STATUS_COMPLETE, false);
    assert_int_equal(listedCount(catalog), 1); /* the manifest is the commit */
    assert_int_equal(catBackupDirCommit(dir), ERR_OK);
    assert_false(lockHeld(catalog, id));

    CatList list;
    assert_int_equal(catList(catalog, &list), ERR_OK);
    assert_int_equal(list.count, 1);
    assert_string_equal(list.entries[0].id, id);
    assert_true(catEntryUsable(&list.entries[0]));
    assert_string_equal(catEntryStatus(&list.entries[0]), MANIFEST_STATUS_COMPLETE);
    assert_int_equal(list.entries[0].archiveBytes, 10);
    assert_int_equal(list.entries[0].created, created);
    assert_true(list.entries[0].diskBytes > 10);
    catListFree(&list);
    assert_int_equal(catFind(catalog, id, &entry), ERR_OK);
    assert_true(catEntryUsable(&entry));
    assert_int_equal(entry.origin, MANIFEST_FROM_PRIMARY);
    catEntryFree(&entry);
    assert_int_equal(catFind(catalog, id, &entry), ERR_OK);
    assert_int_equal(catVerifyArchive(catalog, &entry), ERR_OK);
    catEntryFree(&entry);

    /* Taken ids stay taken; an aborted backup leaves nothing. */
    assert_int_equal(catBackupDirBegin(catalog, id, &twin), BACKUP_IO_FAILED);
    dir = beginWithArchive(catalog, next);
    catBackupDirAbort(dir);
    assert_false(lockHeld(catalog, next));
    assert_int_equal(catNewId(catalog, created, id), ERR_OK);
    assert_string_equal(id, next);
    assert_int_equal(listedCount(catalog), 1);
}

/* Deleting: refused while in use, then invisible at once, and gone. */
static void testDeleteInPlace(void **state)
{
    Catalog *catalog = *state;
    char kept[CAT_ID_SIZE], gone[CAT_ID_SIZE];
    makeBackup(catalog, timeFromParts(2025, 12, 26, 2, 0, 0), MANIFEST_STATUS_COMPLETE, false, kept);
    makeBackup(catalog, timeFromParts(2025, 12, 27, 2, 0, 0), MANIFEST_STATUS_COMPLETE, false, gone);
    StorageLock *reader = NULL;
    assert_int_equal(catLockBackup(catalog, gone, LOCK_SHARED, 0, "restore", &reader), ERR_OK);
    /* Within one process too: the delete tries once, it does not wait on us. */
    int64_t before = timeMonotonicMs();
    assert_int_equal(catDelete(catalog, gone), BACKUP_LOCKED);
    assert_true(timeMonotonicMs() - before < 5000);
    storageLockRelease(reader);
    assert_int_equal(catSetKeep(catalog, gone, true), ERR_OK);
    CatEntry entry;
    assert_int_equal(catFind(catalog, gone, &entry), ERR_OK);
    assert_true(entry.manifest->keep);
    catEntryFree(&entry);

    assert_int_equal(catDelete(catalog, gone), ERR_OK);
    assert_int_equal(catFind(catalog, gone, &entry), BACKUP_NOT_FOUND);
    assert_int_equal(catDelete(catalog, gone), BACKUP_NOT_FOUND);
    assert_int_equal(catSetKeep(catalog, gone, false), BACKUP_NOT_FOUND);
    CatList list;
    assert_int_equal(catList(catalog, &list), ERR_OK);
    assert_int_equal(list.count, 1);
    assert_string_equal(list.entries[0].id, kept);
    catListFree(&list);
    CatNameList removed;
    assert_int_equal(catCleanLeftovers(catalog, false, &removed), ERR_OK);
    assert_int_equal(removed.count, 0); /* nothing was left */
    catNameListFree(&removed);
    char id[CAT_ID_SIZE];
    assert_int_equal(catNewId(catalog, timeFromParts(2025, 12, 27, 2, 0, 0), id), ERR_OK);
    assert_string_equal(id, gone); /* free again */
}

/* Retention deletes in place and skips what a restore reads. */
static void testRetentionInPlace(void **state)
{
    Catalog *catalog = *state;
    int64_t today = timeFromParts(2025, 12, 27, 2, 0, 0);
    char ids[5][CAT_ID_SIZE];
    for (int age = 4; age >= 0; age--)
        makeBackup(catalog, today - age * 3 * DAY, MANIFEST_STATUS_COMPLETE, false, ids[age]);
    RetPolicy policy = {7, 0, 0};
    StorageLock *reader = NULL;
    assert_int_equal(catLockBackup(catalog, ids[4], LOCK_SHARED, 0, "restore", &reader), ERR_OK);
    CatNameList deleted;
    assert_int_equal(catRetentionApply(catalog, &policy, today + 60, false, &deleted), ERR_OK);
    assert_int_equal(deleted.count, 1);
    assert_string_equal(deleted.names[0], ids[3]);
    catNameListFree(&deleted);
    CatList list;
    assert_int_equal(catList(catalog, &list), ERR_OK);
    assert_int_equal(list.count, 4);
    RetBackup inputs[4];
    catRetentionInput(catalog, &list, inputs);
    assert_true(inputs[3].inUse);
    assert_false(inputs[0].inUse);
    catListFree(&list);
    storageLockRelease(reader);
    assert_int_equal(catRetentionApply(catalog, &policy, today + 60, false, &deleted), ERR_OK);
    assert_int_equal(deleted.count, 1);
    assert_string_equal(deleted.names[0], ids[4]);
    catNameListFree(&deleted);
    assert_int_equal(listedCount(catalog), 3);
}

/* A differential of parent, committed in place: logical, linked by digest. */
static void makeDiffInPlace(Catalog *catalog, int64_t created, const char *parent, char id[CAT_ID_SIZE])
{
    CatEntry entry;
    assert_int_equal(catFind(catalog, parent, &entry), ERR_OK);
    char digest[65];
    manifestLinkSha256(entry.manifest, digest);
    uint32_t depth = manifestIsDiff(entry.manifest) ? entry.manifest->chainDepth + 1 : 1;
    catEntryFree(&entry);
    assert_int_equal(catNewId(catalog, created, id), ERR_OK);
    CatBackupDir *dir = beginWithArchive(catalog, id);
    Manifest *manifest = newManifest(id, created, MANIFEST_STATUS_COMPLETE, false);
    manifestSetString(&manifest->method, "logical");
    manifestSetString(&manifest->backupType, MANIFEST_TYPE_DIFF);
    manifestSetString(&manifest->parent.id, parent);
    manifestSetString(&manifest->parent.manifestSha256, digest);
    manifest->chainDepth = depth;
    assert_int_equal(catBackupDirSaveManifest(dir, manifest), ERR_OK);
    manifestFree(manifest);
    assert_int_equal(catBackupDirCommit(dir), ERR_OK);
}

static ErrCode setLogicalEditor(Manifest *manifest, void *payload)
{
    (void)payload;
    manifestSetString(&manifest->method, "logical");
    return ERR_OK;
}

/* Chains in place: listed intact from the one listing, retention keeps the
 * full a daily differential needs, --delete refuses it, and the full gone
 * makes the differential CORRUPTED. */
static void testChainsInPlace(void **state)
{
    Catalog *catalog = *state;
    int64_t today = timeFromParts(2025, 12, 27, 2, 0, 0);
    char full[CAT_ID_SIZE], diff[CAT_ID_SIZE];
    makeBackup(catalog, today - 20 * DAY, MANIFEST_STATUS_COMPLETE, false, full);
    assert_int_equal(catManifestUpdate(catalog, full, setLogicalEditor, NULL), ERR_OK);
    makeDiffInPlace(catalog, today - DAY, full, diff);
    CatChain chain;
    assert_int_equal(catChainLoad(catalog, diff, &chain), ERR_OK);
    assert_int_equal(chain.count, 2);
    catChainFree(&chain);
    CatList list;
    assert_int_equal(catList(catalog, &list), ERR_OK);
    assert_true(catEntryUsable(&list.entries[0]));
    catListFree(&list);

    RetPolicy policy = {7, 0, 0};
    CatNameList deleted;
    assert_int_equal(catRetentionApply(catalog, &policy, today, false, &deleted), ERR_OK);
    assert_int_equal(deleted.count, 0); /* the 20-day-old full is the daily differential's parent */
    catNameListFree(&deleted);
    CatRemovalRequest removal = {.catalog = catalog, .backupId = full};
    assert_int_equal(catRemoveBackup(&removal), BACKUP_PROTECTED);

    assert_int_equal(catDelete(catalog, full), ERR_OK);
    assert_int_equal(catList(catalog, &list), ERR_OK);
    assert_int_equal(list.count, 1);
    assert_false(catEntryUsable(&list.entries[0]));
    assert_string_equal(catEntryStatus(&list.entries[0]), MANIFEST_STATUS_CORRUPTED);
    assert_non_null(strstr(list.entries[0].chainProblem, "it is missing"));
    catListFree(&list);
}

/* ---- the in-memory store: expiry, takeover, lost locks ------------------------ */

/* One listing for the whole catalog, whatever the number of backups; only the
 * manifests are read. */
static void testListIsOneListing(void **state)
{
    Catalog *catalog = *state;
    char ids[6][CAT_ID_SIZE];
    for (int index = 0; index < 6; index++)
        makeBackup(catalog, timeFromParts(2025, 12, 20 + index, 2, 0, 0), MANIFEST_STATUS_COMPLETE, false, ids[index]);
    CatBackupDir *writing = beginWithArchive(catalog, "neo4j-20251228-020000");
    /* A file at the root and a foreign prefix are no backups. */
    writeFile(catStorage(catalog), "not an id", "x", "x");
    writeFile(catStorage(catalog), "notes", "readme", "x");
    mem.lists = mem.looks = 0;
    CatList list;
    assert_int_equal(catList(catalog, &list), ERR_OK);
    assert_int_equal(mem.lists, 1);
    assert_int_equal(mem.looks, 0);
    assert_int_equal(list.count, 6);
    for (int index = 0; index < 6; index++) {
        assert_string_equal(list.entries[index].id, ids[5 - index]); /* newest first */
        assert_true(catEntryUsable(&list.entries[index]));
    }
    catListFree(&list);
    catBackupDirAbort(writing);
}

/* The archive as listed decides what a listing shows, as on posix. */
static void testListShowsArchiveProblems(void **state)
{
    Catalog *catalog = *state;
    char missing[CAT_ID_SIZE], shrunk[CAT_ID_SIZE], damaged[CAT_ID_SIZE];
    makeBackup(catalog, timeFromParts(2025, 12, 20, 2, 0, 0), MANIFEST_STATUS_COMPLETE, false, missing);
    makeBackup(catalog, timeFromParts(2025, 12, 21, 2, 0, 0), MANIFEST_STATUS_COMPLETE, false, shrunk);
    makeBackup(catalog, timeFromParts(2025, 12, 22, 2, 0, 0), MANIFEST_STATUS_COMPLETE, false, damaged);
    Storage *storage = catStorage(catalog);
    char name[128];
    snprintf(name, sizeof(name), "%s/graph.nbk", missing);
    assert_int_equal(storageRemove(storage, name), ERR_OK);
    writeFile(storage, shrunk, "graph.nbk", "01234");
    writeFile(storage, damaged, "manifest.json", "{");
    writeFile(storage, damaged, "manifest.json.copy", "{");
    CatList list;
    assert_int_equal(catList(catalog, &list), ERR_OK);
    assert_int_equal(list.count, 3);
    assert_string_equal(catEntryStatus(&list.entries[0]), CAT_STATUS_DAMAGED);
    assert_int_equal(list.entries[0].created, timeFromParts(2025, 12, 22, 2, 0, 0)); /* from the id */
    assert_string_equal(catEntryStatus(&list.entries[1]), MANIFEST_STATUS_CORRUPTED);
    assert_int_equal(list.entries[1].archiveState, CAT_ARCHIVE_WRONG_SIZE);
    assert_string_equal(catEntryStatus(&list.entries[2]), CAT_STATUS_INCOMPLETE);
    catListFree(&list);
    /* Only the copy left: still a backup (the copy is read). */
    snprintf(name, sizeof(name), "%s/manifest.json", shrunk);
    assert_int_equal(storageRemove(storage, name), ERR_OK);
    CatEntry entry;
    assert_int_equal(catFind(catalog, shrunk, &entry), ERR_OK);
    assert_int_equal(entry.origin, MANIFEST_FROM_COPY);
    catEntryFree(&entry);
    assert_int_equal(listedCount(catalog), 3);
}

/* A writer that died before its manifest: never listed, its lock expires,
 * cleanup then removes it (a dry run only reports it). */
static void testCrashedWriterIsALeftover(void **state)
{
    Catalog *catalog = *state;
    const char *id = "neo4j-20251227-020000";
    /* What a writer killed mid-backup leaves: its lock (kept alive until the
     * process died) and part of its files. */
    char record[64];
    snprintf(record, sizeof(record), "owner=creating backup\nexpires=%lld\n",
             (long long)(mem.now + CAT_LOCK_TTL_SECONDS));
    writeFile(catStorage(catalog), id, CAT_LOCK_FILE_NAME, record);
    writeFile(catStorage(catalog), id, "graph.nbk", "01234");
    /* And a delete that died after hiding its backup: no lock at all. */
    const char *halfDeleted = "neo4j-20251201-020000";
    writeFile(catStorage(catalog), halfDeleted, "graph.nbk", "0123456789");

    assert_int_equal(listedCount(catalog), 0);
    CatNameList removed;
    assert_int_equal(catCleanLeftovers(catalog, false, &removed), ERR_OK);
    assert_int_equal(removed.count, 1); /* the writer may still be alive */
    assert_string_equal(removed.names[0], halfDeleted);
    catNameListFree(&removed);
    assert_int_equal(memCountBelow(halfDeleted), 0);
    assert_int_equal(memCountBelow(id), 2);

    mem.now += CAT_LOCK_TTL_SECONDS + 1; /* nobody refreshed it: its writer is gone */
    assert_false(lockHeld(catalog, id));
    assert_int_equal(listedCount(catalog), 0);
    assert_int_equal(catCleanLeftovers(catalog, true, &removed), ERR_OK);
    assert_int_equal(removed.count, 1);
    assert_string_equal(removed.names[0], id);
    catNameListFree(&removed);
    assert_int_equal(memCountBelow(id), 2); /* a dry run removes nothing */
    assert_int_equal(catCleanLeftovers(catalog, false, &removed), ERR_OK);
    assert_int_equal(removed.count, 1);
    assert_string_equal(removed.names[0], id);
    catNameListFree(&removed);
    assert_int_equal(memCountBelow(id), 0);
    assert_int_equal(listedCount(catalog), 0);
    CatBackupDir *dir = beginWithArchive(catalog, id); /* the id is free again */
    catBackupDirAbort(dir);
}

/* A writer whose lock expired and was taken over by cleanup (it stalled
 * longer than the ttl) must not commit: the manifest is never written. */
static void testLostLockBeforeTheManifest(void **state)
{
    Catalog *writer = *state;
    Catalog *other = openMemory();
    const char *id = "neo4j-20251227-020000";
    CatBackupDir *dir = beginWithArchive(writer, id);
    mem.now += CAT_LOCK_TTL_SECONDS + 1;
    CatNameList removed;
    assert_int_equal(catCleanLeftovers(other, false, &removed), ERR_OK);
    assert_int_equal(removed.count, 1);
    catNameListFree(&removed);

    Manifest *manifest = newManifest(id, mem.now, MANIFEST_STATUS_COMPLETE, false);
    assert_int_equal(catBackupDirSaveManifest(dir, manifest), BACKUP_IO_FAILED);
    assert_non_null(strstr(errLast()->reason, "lost the lock"));
    manifestFree(manifest);
    assert_false(memHas("neo4j-20251227-020000/manifest.json"));
    catBackupDirAbort(dir);
    assert_int_equal(memCountBelow(id), 0);
    assert_int_equal(listedCount(other), 0);
    catClose(other);
}

/* Lost between the manifest and the commit (the manifest write outlived the
 * ttl and someone took the lock over): the commit fails and withdraws the
 * backup, copy first. */
static void testLostLockAfterTheManifest(void **state)
{
    Catalog *writer = *state;
    Catalog *other = openMemory();
    const char *id = "neo4j-20251227-020000";
    CatBackupDir *dir = beginWithArchive(writer, id);
    saveManifest(dir, mem.now, MANIFEST_STATUS_COMPLETE, false);
    mem.now += CAT_LOCK_TTL_SECONDS + 1;
    StorageLock *taker = NULL;
    assert_int_equal(storageLockAcquire(catStorage(other), "neo4j-20251227-020000/.lock", NULL, 60, &taker), ERR_OK);
    mem.removedCount = 0;
    assert_int_equal(catBackupDirCommit(dir), BACKUP_IO_FAILED);
    assert_non_null(strstr(errLast()->reason, "lost the lock"));
    assert_true(mem.removedCount >= 2);
    assert_string_equal(mem.removed[0], "neo4j-20251227-020000/manifest.json.copy");
    assert_string_equal(mem.removed[1], "neo4j-20251227-020000/manifest.json");
    assert_int_equal(listedCount(other), 0);
    storageLockRelease(taker);
    catClose(other);
}

/* The store not answering a refresh right after the manifest was written is
 * no loss: the lock proved ours before the write is valid for its ttl. Not
 * answering before the manifest is: nothing is written. */
static void testRefreshWithoutAnswer(void **state)
{
    Catalog *catalog = *state;
    CatBackupDir *dir = beginWithArchive(catalog, "neo4j-20251227-020000");
    mem.refreshFails = true;
    Manifest *manifest = newManifest("neo4j-20251227-020000", mem.now, MANIFEST_STATUS_COMPLETE, false);
    assert_int_equal(catBackupDirSaveManifest(dir, manifest), STORAGE_UNREACHABLE);
    assert_non_null(strstr(errLast()->reason, "cannot confirm the lock of backup neo4j-20251227-020000"));
    assert_false(memHas("neo4j-20251227-020000/manifest.json"));
    mem.refreshFails = false;
    assert_int_equal(catBackupDirSaveManifest(dir, manifest), ERR_OK);
    manifestFree(manifest);
    mem.refreshFails = true;
    assert_int_equal(catBackupDirCommit(dir), ERR_OK);
    mem.refreshFails = false;
    assert_int_equal(listedCount(catalog), 1);
}

/* The manifest must go through catBackupDirSaveManifest in place: written
 * any other way it would commit without the lock check. */
static void testCommitNeedsTheCheckedManifest(void **state)
{
    Catalog *catalog = *state;
    CatBackupDir *dir = beginWithArchive(catalog, "neo4j-20251227-020000");
    Manifest *manifest = newManifest("neo4j-20251227-020000", mem.now, MANIFEST_STATUS_COMPLETE, false);
    assert_int_equal(manifestSaveTo(catStorage(catalog), catBackupDirName(dir), manifest), ERR_OK);
    manifestFree(manifest);
    assert_int_equal(catBackupDirCommit(dir), ERR_INTERNAL);
    assert_non_null(strstr(errLast()->reason, "catBackupDirSaveManifest"));
    assert_int_equal(listedCount(catalog), 0);
    assert_int_equal(memCountBelow("neo4j-20251227-020000"), 0);
}

/* A delete that dies after hiding the backup leaves a leftover, never a
 * half backup: the copy goes first, then the manifest, then the rest. */
static void testDeleteHidesFirst(void **state)
{
    Catalog *catalog = *state;
    char id[CAT_ID_SIZE];
    makeBackup(catalog, timeFromParts(2025, 12, 27, 2, 0, 0), MANIFEST_STATUS_COMPLETE, false, id);
    mem.removedCount = 0;
    mem.removalsBeforeFailure = 2;
    assert_int_equal(catDelete(catalog, id), BACKUP_IO_FAILED);
    assert_non_null(strstr(errLast()->reason, "was removed from the catalog but files remain"));
    assert_int_equal(mem.removedCount, 2);
    char expected[128];
    snprintf(expected, sizeof(expected), "%s/manifest.json.copy", id);
    assert_string_equal(mem.removed[0], expected);
    snprintf(expected, sizeof(expected), "%s/manifest.json", id);
    assert_string_equal(mem.removed[1], expected);
    mem.removalsBeforeFailure = -1;
    assert_int_equal(listedCount(catalog), 0);
    CatEntry entry;
    assert_int_equal(catFind(catalog, id, &entry), BACKUP_NOT_FOUND);
    assert_true(memCountBelow(id) > 0);
    CatNameList removed;
    assert_int_equal(catCleanLeftovers(catalog, false, &removed), ERR_OK);
    assert_int_equal(removed.count, 1);
    catNameListFree(&removed);
    assert_int_equal(memCountBelow(id), 0);
}

/* Cleanup takes a leftover's lock before removing it, and looks again: a
 * writer that committed between cleanup's listing and its lock keeps its
 * backup. */
static Storage *hookStorage;

static void commitBehindCleanupsBack(void)
{
    Manifest *manifest = newManifest("neo4j-20251227-020000", mem.now, MANIFEST_STATUS_COMPLETE, false);
    assert_int_equal(manifestSaveTo(hookStorage, "neo4j-20251227-020000", manifest), ERR_OK);
    manifestFree(manifest);
}

static void testCleanupLooksAgainUnderTheLock(void **state)
{
    Catalog *catalog = *state;
    const char *id = "neo4j-20251227-020000";
    writeFile(catStorage(catalog), id, "graph.nbk", "0123456789");
    hookStorage = catStorage(catalog);
    snprintf(mem.hookLock, sizeof(mem.hookLock), "%s/" CAT_LOCK_FILE_NAME, id);
    mem.hook = commitBehindCleanupsBack;
    CatNameList removed;
    assert_int_equal(catCleanLeftovers(catalog, false, &removed), ERR_OK);
    assert_null(mem.hook); /* it ran */
    assert_int_equal(removed.count, 0);
    catNameListFree(&removed);
    CatList list;
    assert_int_equal(catList(catalog, &list), ERR_OK);
    assert_int_equal(list.count, 1);
    assert_true(catEntryUsable(&list.entries[0]));
    catListFree(&list);
}

/* The catalog lock and the per-backup locks are lock objects; object storage
 * has no shared locks, so two readers of one backup exclude each other. */
static void testLocksAreObjects(void **state)
{
    Catalog *catalog = *state;
    Catalog *other = openMemory();
    char id[CAT_ID_SIZE];
    makeBackup(catalog, timeFromParts(2025, 12, 27, 2, 0, 0), MANIFEST_STATUS_COMPLETE, false, id);
    assert_int_equal(catLock(catalog, LOCK_SHARED, 0, "listing"), ERR_OK);
    assert_true(memHas(CAT_LOCK_FILE_NAME));
    assert_int_equal(catLock(catalog, LOCK_SHARED, 0, "nested"), ERR_OK); /* nests, no wait */
    assert_int_equal(catLock(other, LOCK_SHARED, 0, "listing"), BACKUP_LOCKED);
    catUnlock(catalog);
    catUnlock(catalog);
    assert_false(memHas(CAT_LOCK_FILE_NAME));
    StorageLock *restore = NULL, *validate = NULL;
    assert_int_equal(catLockBackup(catalog, id, LOCK_SHARED, 0, "restore", &restore), ERR_OK);
    assert_int_equal(catLockBackup(other, id, LOCK_SHARED, 0, "validate", &validate), BACKUP_LOCKED);
    assert_non_null(strstr(errLast()->action, "is in use"));
    storageLockRelease(restore);
    /* A lock left by a killed restore expires; the delete takes it over. */
    char record[64];
    snprintf(record, sizeof(record), "owner=restore\nexpires=%lld\n", (long long)(mem.now + CAT_LOCK_TTL_SECONDS));
    writeFile(catStorage(catalog), id, CAT_LOCK_FILE_NAME, record);
    assert_int_equal(catDelete(other, id), BACKUP_LOCKED);
    mem.now += CAT_LOCK_TTL_SECONDS + 1;
    assert_int_equal(catDelete(other, id), ERR_OK);
    assert_int_equal(memCountBelow(id), 0);
    StorageSpace space;
    assert_int_equal(storageSpace(catStorage(catalog), &space), ERR_OK);
    assert_false(space.applicable);
    catClose(other);
}

/* ---- the posix driver without rename: real processes -------------------------- */

/* A writer killed before its manifest: its flock died with it, so the next
 * cleanup removes what it left; while it lives, nothing touches it. */
static void testKilledWriterOnPosix(void **state)
{
    Catalog *catalog = *state;
    const char *id = "neo4j-20251227-020000";
    int ready[2];
    assert_int_equal(pipe(ready), 0);
    pid_t child = fork();
    assert_true(child >= 0);
    if (child == 0) {
        Catalog *writer = openPosixWithoutMoveQuietly();
        CatBackupDir *dir = NULL;
        if (!writer || catBackupDirBegin(writer, id, &dir) != ERR_OK
            || !writeFileQuietly(catStorage(writer), catBackupDirName(dir), "graph.nbk", "01234"))
            _exit(2);
        if (write(ready[1], "x", 1) != 1)
            _exit(3);
        pause(); /* killed here, mid-backup */
        _exit(4);
    }
    close(ready[1]);
    char byte;
    assert_int_equal(read(ready[0], &byte, 1), 1);
    close(ready[0]);

    assert_true(lockHeld(catalog, id));
    assert_int_equal(listedCount(catalog), 0);
    CatNameList removed;
    assert_int_equal(catCleanLeftovers(catalog, false, &removed), ERR_OK);
    assert_int_equal(removed.count, 0);
    catNameListFree(&removed);

    kill(child, SIGKILL);
    int status = 0;
    assert_int_equal(waitpid(child, &status, 0), child);
    assert_false(lockHeld(catalog, id));
    assert_int_equal(listedCount(catalog), 0);
    CatEntry entry;
    assert_int_equal(catFind(catalog, id, &entry), BACKUP_NOT_FOUND);
    assert_int_equal(catCleanLeftovers(catalog, true, &removed), ERR_OK);
    assert_int_equal(removed.count, 1);
    catNameListFree(&removed);
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/%s/graph.nbk", workDir, id);
    struct stat info;
    assert_int_equal(stat(path, &info), 0);
    assert_int_equal(catCleanLeftovers(catalog, false, &removed), ERR_OK);
    assert_int_equal(removed.count, 1);
    assert_string_equal(removed.names[0], id);
    catNameListFree(&removed);
    snprintf(path, sizeof(path), "%s/%s", workDir, id);
    assert_int_equal(stat(path, &info), -1);
}

/* A writer that finished in another process: its backup lists as COMPLETE
 * with the files it wrote, and nothing of the posix layout appears. */
static void testWriterInAnotherProcessOnPosix(void **state)
{
    Catalog *catalog = *state;
    pid_t child = fork();
    assert_true(child >= 0);
    if (child == 0) {
        Catalog *writer = openPosixWithoutMoveQuietly();
        char id[CAT_ID_SIZE];
        int64_t created = timeFromParts(2025, 12, 27, 2, 0, 0);
        if (!writer || catNewId(writer, created, id) != ERR_OK)
            _exit(2);
        CatBackupDir *dir = NULL;
        if (catBackupDirBegin(writer, id, &dir) != ERR_OK
            || !writeFileQuietly(catStorage(writer), catBackupDirName(dir), "graph.nbk", "0123456789"))
            _exit(3);
        Manifest *manifest = newManifest(id, created, MANIFEST_STATUS_COMPLETE, false);
        if (catBackupDirSaveManifest(dir, manifest) != ERR_OK || catBackupDirCommit(dir) != ERR_OK)
            _exit(4);
        manifestFree(manifest);
        catClose(writer);
        _exit(0);
    }
    int status = 0;
    assert_int_equal(waitpid(child, &status, 0), child);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    CatList list;
    assert_int_equal(catList(catalog, &list), ERR_OK);
    assert_int_equal(list.count, 1);
    assert_string_equal(list.entries[0].id, "neo4j-20251227-020000");
    assert_true(catEntryUsable(&list.entries[0]));
    catListFree(&list);
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/neo4j-20251227-020000/manifest.json", workDir);
    struct stat info;
    assert_int_equal(stat(path, &info), 0);
    assert_int_equal(info.st_mode & 0777, 0600);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(testWrittenInPlaceAppearsWithItsManifest, setUpMemory, tearDownMemory),
        cmocka_unit_test_setup_teardown(testDeleteInPlace, setUpMemory, tearDownMemory),
        cmocka_unit_test_setup_teardown(testRetentionInPlace, setUpMemory, tearDownMemory),
        cmocka_unit_test_setup_teardown(testChainsInPlace, setUpMemory, tearDownMemory),
        cmocka_unit_test_setup_teardown(testListIsOneListing, setUpMemory, tearDownMemory),
        cmocka_unit_test_setup_teardown(testListShowsArchiveProblems, setUpMemory, tearDownMemory),
        cmocka_unit_test_setup_teardown(testCrashedWriterIsALeftover, setUpMemory, tearDownMemory),
        cmocka_unit_test_setup_teardown(testLostLockBeforeTheManifest, setUpMemory, tearDownMemory),
        cmocka_unit_test_setup_teardown(testLostLockAfterTheManifest, setUpMemory, tearDownMemory),
        cmocka_unit_test_setup_teardown(testRefreshWithoutAnswer, setUpMemory, tearDownMemory),
        cmocka_unit_test_setup_teardown(testCommitNeedsTheCheckedManifest, setUpMemory, tearDownMemory),
        cmocka_unit_test_setup_teardown(testDeleteHidesFirst, setUpMemory, tearDownMemory),
        cmocka_unit_test_setup_teardown(testCleanupLooksAgainUnderTheLock, setUpMemory, tearDownMemory),
        cmocka_unit_test_setup_teardown(testLocksAreObjects, setUpMemory, tearDownMemory),
        cmocka_unit_test_setup_teardown(testWrittenInPlaceAppearsWithItsManifest, setUpPosix, tearDownPosix),
        cmocka_unit_test_setup_teardown(testDeleteInPlace, setUpPosix, tearDownPosix),
        cmocka_unit_test_setup_teardown(testRetentionInPlace, setUpPosix, tearDownPosix),
        cmocka_unit_test_setup_teardown(testKilledWriterOnPosix, setUpPosix, tearDownPosix),
        cmocka_unit_test_setup_teardown(testWriterInAnotherProcessOnPosix, setUpPosix, tearDownPosix),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
