/* Slot arrays that move from anonymous memory into a scratch file behind a
 * fixed-size block cache beyond a size threshold (see spill_array.h for the
 * contract). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* mremap, O_TMPFILE, mkostemps */
#endif
#include "common/spill_array.h"

#include "common/fsutil.h"
#include "common/log.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define SPILL_MIN_BYTES ((size_t)64 << 10)

/* Settings of new arrays; the API server runs restores and backups in threads. */
static pthread_mutex_t spillSettingsLock = PTHREAD_MUTEX_INITIALIZER;
static char *spillDirectory;
static size_t spillThresholdBytes = SPILL_DEFAULT_THRESHOLD_BYTES;
static size_t spillResidentBytes = SPILL_DEFAULT_RESIDENT_BYTES;

#define SPILL_BLOCK_BYTES ((size_t)1024)

struct SpillArray {
    uint8_t *base;        /* in memory: NULL until the first write */
    size_t bytes;         /* length in memory (page multiple) or in the file */
    size_t slotSize;
    unsigned slotShift;   /* log2(slotSize) */
    size_t thresholdBytes;
    size_t residentBytes;
    char *directory;      /* scratch directory (NULL: $TMPDIR or /tmp), a copy */

    /* Once spilled: the file and a direct-mapped write-back cache of
     * SPILL_BLOCK_BYTES blocks (block b lives in line b % lineCount). */
    int fd;
    uint8_t *cache;
    uint64_t *lineBlock;  /* block number + 1 held by each line, 0 = none */
    bool *lineDirty;
    size_t lineCount;
    bool failed;          /* a write-back failed: the contents are unreliable */
};

void spillConfigure(const char *directory, size_t thresholdBytes, size_t residentBytes)
{
    char *copy = directory ? strdup(directory) : NULL;
    pthread_mutex_lock(&spillSettingsLock);
    free(spillDirectory);
    spillDirectory = copy;
    spillThresholdBytes = thresholdBytes ? thresholdBytes : SPILL_DEFAULT_THRESHOLD_BYTES;
    spillResidentBytes = residentBytes ? residentBytes : SPILL_DEFAULT_RESIDENT_BYTES;
    pthread_mutex_unlock(&spillSettingsLock);
}

static size_t spillPageSize(void)
{
    long page = sysconf(_SC_PAGESIZE);
    return page > 0 ? (size_t)page : 4096;
}

SpillArray *spillArrayNew(size_t slotSize)
{
    if (slotSize == 0 || slotSize > 64 || (slotSize & (slotSize - 1)) != 0)
        return NULL;
    SpillArray *array = calloc(1, sizeof(*array));
    if (!array)
        return NULL;
    array->slotSize = slotSize;
    while (((size_t)1 << array->slotShift) < slotSize)
        array->slotShift++;
    array->fd = -1;
    pthread_mutex_lock(&spillSettingsLock);
    array->thresholdBytes = spillThresholdBytes;
    array->residentBytes = spillResidentBytes;
    array->directory = spillDirectory ? strdup(spillDirectory) : NULL;
    bool copied = !spillDirectory || array->directory;
    pthread_mutex_unlock(&spillSettingsLock);
    if (!copied) {
        free(array);
        return NULL;
    }
    return array;
}

static void spillCacheRelease(SpillArray *array)
{
    free(array->cache);
    free(array->lineBlock);
    free(array->lineDirty);
    array->cache = NULL;
    array->lineBlock = NULL;
    array->lineDirty = NULL;
    array->lineCount = 0;
}

void spillArrayFree(SpillArray *array)
{
    if (!array)
        return;
    if (array->fd >= 0)
        close(array->fd); /* unlinked: the file goes with its last descriptor */
    else if (array->base)
        munmap(array->base, array->bytes);
    spillCacheRelease(array);
    free(array->directory);
    free(array);
}

static int spillOpenFile(const char *configured, const char **directoryOut)
{
    const char *directory = configured;
    if (!directory)
        directory = getenv("TMPDIR");
    if (!directory || !*directory)
        directory = "/tmp";
    *directoryOut = directory;
    int fd = open(directory, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    if (fd >= 0 || (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL))
        return fd;
    /* Without O_TMPFILE: a name the catalog's leftover cleaning knows, gone at once. */
    char path[4096];
    int written = snprintf(path, sizeof(path), "%s/.tmp-spill-XXXXXX-%ld", directory, (long)getpid());
    if (written < 0 || (size_t)written >= sizeof(path)) {
        errno = ENAMETOOLONG;
        return -1;
    }
    size_t suffixLength = strlen(strrchr(path, '-'));
    fd = mkostemps(path, (int)suffixLength, O_CLOEXEC);
    if (fd >= 0)
        unlink(path);
    return fd;
}

static ErrCode spillFileError(int errnoValue, const char *what, const char *directory)
{
    ErrCode code = fsErrorFromErrno(errnoValue, what, directory);
    errAddContext("spilling restore memory to a scratch file");
    return code;
}

/* Grows the file to newBytes with its blocks allocated. */
static ErrCode spillFileGrow(SpillArray *array, size_t oldBytes, size_t newBytes)
{
    int failure = posix_fallocate(array->fd, (off_t)oldBytes, (off_t)(newBytes - oldBytes));
    if (failure == EOPNOTSUPP || failure == EINVAL)
        failure = ftruncate(array->fd, (off_t)newBytes) == 0 ? 0 : errno;
    if (failure)
        return spillFileError(failure, "grow scratch file in", array->directory ? array->directory : "the temp dir");
    return ERR_OK;
}

/* Moves the anonymous contents into a new scratch file of newBytes and
 * sets up the block cache that stands in for them from then on. */
/* An empty block cache of the array's resident size. */
static ErrCode spillCacheAllocate(SpillArray *array)
{
    size_t lineCount = array->residentBytes / SPILL_BLOCK_BYTES;
    array->lineCount = lineCount ? lineCount : 1;
    array->cache = malloc(array->lineCount * SPILL_BLOCK_BYTES);
    array->lineBlock = calloc(array->lineCount, sizeof(*array->lineBlock));
    array->lineDirty = calloc(array->lineCount, sizeof(*array->lineDirty));
    if (!array->cache || !array->lineBlock || !array->lineDirty)
        return errSet(ERR_INTERNAL, "out of memory for a restore table cache");
    return ERR_OK;
}

static ErrCode spillMoveToFile(SpillArray *array, size_t newBytes)
{
    const char *directory = NULL;
    if (spillCacheAllocate(array) != ERR_OK)
        return errLast()->code;
    array->fd = spillOpenFile(array->directory, &directory);
    if (array->fd < 0)
        return spillFileError(errno, "create scratch file in", directory);
    ErrCode code = spillFileGrow(array, 0, newBytes);
    for (size_t done = 0; code == ERR_OK && done < array->bytes;) {
        ssize_t written = pwrite(array->fd, array->base + done, array->bytes - done, (off_t)done);
        if (written < 0 && errno == EINTR)
            continue;
        if (written <= 0)
            code = spillFileError(written < 0 ? errno : EIO, "write scratch file in", directory);
        else
            done += (size_t)written;
    }
    if (code != ERR_OK) {
        close(array->fd);
        array->fd = -1;
        return code;
    }
    if (array->base)
        munmap(array->base, array->bytes);
    logDebug("restore memory: a %zu-byte table moved to a scratch file in %s", newBytes, directory);
    array->base = NULL;
    array->bytes = newBytes;
    return ERR_OK;
}

static ErrCode spillGrow(SpillArray *array, uint64_t index)
{
    size_t page = spillPageSize();
    if (index >= (SIZE_MAX >> array->slotShift) / 2)
        return errSet(ERR_INTERNAL, "restore table index %llu out of range", (unsigned long long)index);
    size_t needed = ((size_t)index + 1) << array->slotShift;
    size_t newBytes = array->bytes + array->bytes / 2;
    if (newBytes < needed)
        newBytes = needed;
    if (newBytes < SPILL_MIN_BYTES)
        newBytes = SPILL_MIN_BYTES;
    newBytes = (newBytes + page - 1) / page * page;

    if (array->fd < 0 && newBytes > array->thresholdBytes)
        return spillMoveToFile(array, newBytes);
    if (array->fd >= 0) {
        ErrCode code = spillFileGrow(array, array->bytes, newBytes);
        if (code == ERR_OK)
            array->bytes = newBytes;
        return code;
    }
    void *grown;
    if (!array->base)
        grown = mmap(NULL, newBytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    else /* anonymous growth reads as zeros */
        grown = mremap(array->base, array->bytes, newBytes, MREMAP_MAYMOVE);
    if (grown == MAP_FAILED)
        return errSet(ERR_INTERNAL, "out of memory for a restore table of %zu bytes", newBytes);
    array->base = grown;
    array->bytes = newBytes;
    return ERR_OK;
}

static bool spillIo(SpillArray *array, bool write, uint8_t *data, uint64_t block)
{
    off_t offset = (off_t)(block * SPILL_BLOCK_BYTES);
    size_t done = 0;
    while (done < SPILL_BLOCK_BYTES) {
        ssize_t moved = write ? pwrite(array->fd, data + done, SPILL_BLOCK_BYTES - done, offset + (off_t)done)
                              : pread(array->fd, data + done, SPILL_BLOCK_BYTES - done, offset + (off_t)done);
        if (moved < 0 && errno == EINTR)
            continue;
        if (moved < 0 || (moved == 0 && write)) {
            fsErrorFromErrno(moved < 0 ? errno : EIO, write ? "write restore scratch file" : "read restore scratch file",
                             array->directory ? array->directory : "in the temp dir");
            array->failed = true;
            return false;
        }
        if (moved == 0) { /* never written: zeros */
            memset(data + done, 0, SPILL_BLOCK_BYTES - done);
            break;
        }
        done += (size_t)moved;
    }
    return true;
}

/* The cached copy of the slot at index (spilled arrays), NULL on I/O failure.
 * A block leaves the cache only when another one needs its line, and is
 * written back then if it changed: the resident share is the cache. */
static uint8_t *spillCached(SpillArray *array, uint64_t index, bool write)
{
    if (array->failed)
        return NULL;
    size_t byteOffset = (size_t)index << array->slotShift;
    uint64_t block = byteOffset / SPILL_BLOCK_BYTES;
    size_t line = (size_t)(block % array->lineCount);
    uint8_t *data = array->cache + line * SPILL_BLOCK_BYTES;
    if (array->lineBlock[line] != block + 1) {
        if (array->lineDirty[line] && !spillIo(array, true, data, array->lineBlock[line] - 1))
            return NULL;
        array->lineDirty[line] = false;
        array->lineBlock[line] = 0;
        if (!spillIo(array, false, data, block))
            return NULL;
        array->lineBlock[line] = block + 1;
    }
    if (write)
        array->lineDirty[line] = true;
    return data + byteOffset % SPILL_BLOCK_BYTES;
}

void *spillArrayWrite(SpillArray *array, uint64_t index)
{
    if (index >= spillArrayLength(array) && spillGrow(array, index) != ERR_OK)
        return NULL;
    if (array->fd >= 0)
        return spillCached(array, index, true);
    return array->base + ((size_t)index << array->slotShift);
}

const void *spillArrayRead(SpillArray *array, uint64_t index)
{
    if (index >= spillArrayLength(array))
        return NULL;
    if (array->fd >= 0)
        return spillCached(array, index, false);
    return array->base + ((size_t)index << array->slotShift);
}

bool spillArrayFailed(const SpillArray *array) { return array->failed; }

uint64_t spillArrayLength(const SpillArray *array) { return array->bytes >> array->slotShift; }

bool spillArraySpilled(const SpillArray *array) { return array->fd >= 0; }

size_t spillArrayBytes(const SpillArray *array) { return array->bytes; }

size_t spillArrayCacheBytes(const SpillArray *array)
{
    return array->fd >= 0 ? array->lineCount * SPILL_BLOCK_BYTES : array->residentBytes;
}

ErrCode spillArraySetCacheBytes(SpillArray *array, size_t bytes)
{
    if (array->fd < 0 || bytes / SPILL_BLOCK_BYTES == array->lineCount) {
        array->residentBytes = bytes;
        return ERR_OK;
    }
    if (array->failed)
        return errSet(ERR_INTERNAL, "the restore scratch file failed before");
    for (size_t line = 0; line < array->lineCount; line++) {
        if (array->lineDirty[line] &&
            !spillIo(array, true, array->cache + line * SPILL_BLOCK_BYTES, array->lineBlock[line] - 1))
            return errLast()->code;
        array->lineDirty[line] = false;
    }
    spillCacheRelease(array);
    array->residentBytes = bytes;
    return spillCacheAllocate(array);
}

ErrCode spillScratchOpen(int *fdOut)
{
    pthread_mutex_lock(&spillSettingsLock);
    char *configured = spillDirectory ? strdup(spillDirectory) : NULL;
    bool copied = !spillDirectory || configured;
    pthread_mutex_unlock(&spillSettingsLock);
    if (!copied)
        return errSet(ERR_INTERNAL, "out of memory");
    const char *directory = NULL;
    *fdOut = spillOpenFile(configured, &directory);
    ErrCode code = *fdOut >= 0 ? ERR_OK : spillFileError(errno, "create scratch file in", directory);
    free(configured);
    return code;
}
