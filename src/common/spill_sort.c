/* External sort of fixed-size records and a spill-to-disk byte stream, for
 * passes over more records than a restore may hold in memory (see
 * spill_sort.h for the contract). */
#include "common/spill_sort.h"

#include "common/fsutil.h"
#include "common/mem.h"
#include "common/spill_array.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Below this a merge read buffer would cost more calls than it saves. */
#define SPILL_SORT_MIN_READ_RECORDS 4u

typedef struct {
    uint64_t next;     /* file offset of the next record not yet buffered */
    uint64_t end;      /* file offset where the run ends */
    uint8_t *buffer;   /* this run's share of the merge buffer */
    size_t held;       /* records in buffer */
    size_t position;   /* next record in buffer */
} SpillRun;

struct SpillSort {
    size_t recordSize;
    size_t memoryBytes;
    uint64_t count;

    uint8_t *records;  /* input buffer (before the merge) */
    size_t capacity;   /* records it holds */
    size_t held;

    int fd;            /* runs, one after the other; -1 before the first */
    SpillRun *runs;
    size_t runCount;
    size_t runCapacity;
    uint64_t fileBytes;

    bool finished;
    size_t readRecords;   /* per run read buffer, in records */
    uint8_t *mergeBuffer;
    size_t *heap;         /* run indices, smallest current key on top */
    size_t heapLength;
    size_t memoryPosition; /* when nothing spilled: next record of records */
};

static uint64_t spillSortKey(const uint8_t *record)
{
    uint64_t key;
    memcpy(&key, record, sizeof(key));
    return key;
}

/* In-place introsort of count records by key (qsort would allocate a copy
 * of the whole buffer, doubling the memory, and call a comparator). */
static void spillSwap(uint8_t *left, uint8_t *right, size_t recordSize)
{
    for (size_t done = 0; done < recordSize; done += sizeof(uint64_t)) { /* records are whole words */
        uint64_t leftWord;
        uint64_t rightWord;
        memcpy(&leftWord, left + done, sizeof(leftWord));
        memcpy(&rightWord, right + done, sizeof(rightWord));
        memcpy(left + done, &rightWord, sizeof(rightWord));
        memcpy(right + done, &leftWord, sizeof(leftWord));
    }
}

static void spillSiftDown(uint8_t *records, size_t recordSize, size_t at, size_t count)
{
    for (;;) {
        size_t largest = at;
        size_t left = 2 * at + 1;
        size_t right = left + 1;
        if (left < count && spillSortKey(records + left * recordSize) > spillSortKey(records + largest * recordSize))
            largest = left;
        if (right < count && spillSortKey(records + right * recordSize) > spillSortKey(records + largest * recordSize))
            largest = right;
        if (largest == at)
            return;
        spillSwap(records + at * recordSize, records + largest * recordSize, recordSize);
        at = largest;
    }
}

static void spillHeapSort(uint8_t *records, size_t count, size_t recordSize)
{
    for (size_t at = count / 2; at-- > 0;)
        spillSiftDown(records, recordSize, at, count);
    for (size_t end = count; end-- > 1;) {
        spillSwap(records, records + end * recordSize, recordSize);
        spillSiftDown(records, recordSize, 0, end);
    }
}

static void spillInsertionSort(uint8_t *records, size_t count, size_t recordSize)
{
    for (size_t index = 1; index < count; index++)
        for (size_t at = index; at > 0 && spillSortKey(records + (at - 1) * recordSize) >
                                              spillSortKey(records + at * recordSize); at--)
            spillSwap(records + (at - 1) * recordSize, records + at * recordSize, recordSize);
}

static void spillIntroSort(uint8_t *records, size_t count, size_t recordSize, unsigned depthLeft)
{
    while (count > 16) {
        if (depthLeft-- == 0) { /* quicksort going quadratic: heapsort is n log n always */
            spillHeapSort(records, count, recordSize);
            return;
        }
        /* Median of three to the front as the pivot, then Hoare partition. */
        uint8_t *first = records;
        uint8_t *middle = records + count / 2 * recordSize;
        uint8_t *last = records + (count - 1) * recordSize;
        if (spillSortKey(middle) < spillSortKey(first))
            spillSwap(middle, first, recordSize);
        if (spillSortKey(last) < spillSortKey(first))
            spillSwap(last, first, recordSize);
        if (spillSortKey(last) < spillSortKey(middle))
            spillSwap(last, middle, recordSize);
        spillSwap(first, middle, recordSize);
        uint64_t pivot = spillSortKey(first);
        size_t low = 0;
        size_t high = count;
        for (;;) {
            do
                low++;
            while (low < count && spillSortKey(records + low * recordSize) < pivot);
            do
                high--;
            while (spillSortKey(records + high * recordSize) > pivot);
            if (low >= high)
                break;
            spillSwap(records + low * recordSize, records + high * recordSize, recordSize);
        }
        spillSwap(first, records + high * recordSize, recordSize);
        /* Recurse into the smaller side, loop on the larger: stack depth log n. */
        size_t leftCount = high;
        size_t rightCount = count - high - 1;
        if (leftCount < rightCount) {
            spillIntroSort(records, leftCount, recordSize, depthLeft);
            records += (high + 1) * recordSize;
            count = rightCount;
        } else {
            spillIntroSort(records + (high + 1) * recordSize, rightCount, recordSize, depthLeft);
            count = leftCount;
        }
    }
    spillInsertionSort(records, count, recordSize);
}

static void spillSortRecords(uint8_t *records, size_t count, size_t recordSize)
{
    unsigned depth = 0;
    for (size_t left = count; left > 1; left >>= 1)
        depth += 2;
    spillIntroSort(records, count, recordSize, depth);
}

SpillSort *spillSortNew(size_t recordSize, size_t memoryBytes)
{
    if (recordSize < 8 || recordSize % 8 != 0)
        return NULL;
    SpillSort *sort = memCalloc(1, sizeof(*sort));
    sort->recordSize = recordSize;
    sort->memoryBytes = memoryBytes;
    sort->capacity = memoryBytes / recordSize;
    if (sort->capacity < 2)
        sort->capacity = 2;
    sort->fd = -1;
    return sort;
}

void spillSortFree(SpillSort *sort)
{
    if (!sort)
        return;
    if (sort->fd >= 0)
        close(sort->fd); /* unlinked: the runs go with it */
    free(sort->records);
    free(sort->runs);
    free(sort->mergeBuffer);
    free(sort->heap);
    free(sort);
}

static ErrCode spillSortIoError(int errnoValue, const char *what)
{
    ErrCode code = fsErrorFromErrno(errnoValue, what, "the restore scratch file");
    errAddContext("sorting restore records in a scratch file");
    return code;
}

static ErrCode spillWriteAll(int fd, const uint8_t *data, size_t length, uint64_t offset)
{
    for (size_t done = 0; done < length;) {
        ssize_t written = pwrite(fd, data + done, length - done, (off_t)(offset + done));
        if (written < 0 && errno == EINTR)
            continue;
        if (written <= 0)
            return spillSortIoError(written < 0 ? errno : EIO, "write");
        done += (size_t)written;
    }
    return ERR_OK;
}

static ErrCode spillReadAll(int fd, uint8_t *data, size_t length, uint64_t offset)
{
    for (size_t done = 0; done < length;) {
        ssize_t got = pread(fd, data + done, length - done, (off_t)(offset + done));
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0)
            return spillSortIoError(got < 0 ? errno : EIO, "read");
        done += (size_t)got;
    }
    return ERR_OK;
}

/* Sorts the buffered records and appends them to the file as one run. */
static ErrCode spillSortWriteRun(SpillSort *sort)
{
    spillSortRecords(sort->records, sort->held, sort->recordSize);
    if (sort->fd < 0) {
        ErrCode code = spillScratchOpen(&sort->fd);
        if (code != ERR_OK)
            return code;
    }
    if (sort->runCount == sort->runCapacity) {
        size_t grown = sort->runCapacity ? sort->runCapacity * 2 : 16;
        sort->runs = memReallocArray(sort->runs, grown, sizeof(*sort->runs));
        sort->runCapacity = grown;
    }
    size_t bytes = sort->held * sort->recordSize;
    ErrCode code = spillWriteAll(sort->fd, sort->records, bytes, sort->fileBytes);
    if (code != ERR_OK)
        return code;
    sort->runs[sort->runCount++] = (SpillRun){.next = sort->fileBytes, .end = sort->fileBytes + bytes};
    sort->fileBytes += bytes;
    sort->held = 0;
    return ERR_OK;
}

ErrCode spillSortAdd(SpillSort *sort, const void *record)
{
    if (sort->finished)
        return errSet(ERR_INTERNAL, "record added to a finished sort");
    if (!sort->records)
        sort->records = memAlloc(sort->capacity * sort->recordSize);
    if (sort->held == sort->capacity) {
        ErrCode code = spillSortWriteRun(sort);
        if (code != ERR_OK)
            return code;
    }
    memcpy(sort->records + sort->held * sort->recordSize, record, sort->recordSize);
    sort->held++;
    sort->count++;
    return ERR_OK;
}

static const uint8_t *spillRunCurrent(const SpillSort *sort, const SpillRun *run)
{
    return run->buffer + run->position * sort->recordSize;
}

/* Refills an exhausted run buffer; false when the run has nothing left. */
static ErrCode spillRunFill(SpillSort *sort, SpillRun *run, bool *filled)
{
    *filled = false;
    if (run->next >= run->end)
        return ERR_OK;
    uint64_t bytes = (uint64_t)sort->readRecords * sort->recordSize;
    if (bytes > run->end - run->next)
        bytes = run->end - run->next;
    ErrCode code = spillReadAll(sort->fd, run->buffer, (size_t)bytes, run->next);
    if (code != ERR_OK)
        return code;
    run->next += bytes;
    run->held = (size_t)(bytes / sort->recordSize);
    run->position = 0;
    *filled = true;
    return ERR_OK;
}

static bool spillHeapLess(const SpillSort *sort, size_t left, size_t right)
{
    return spillSortKey(spillRunCurrent(sort, &sort->runs[left])) <
           spillSortKey(spillRunCurrent(sort, &sort->runs[right]));
}

static void spillHeapDown(SpillSort *sort, size_t at)
{
    for (;;) {
        size_t smallest = at;
        size_t left = 2 * at + 1;
        size_t right = left + 1;
        if (left < sort->heapLength && spillHeapLess(sort, sort->heap[left], sort->heap[smallest]))
            smallest = left;
        if (right < sort->heapLength && spillHeapLess(sort, sort->heap[right], sort->heap[smallest]))
            smallest = right;
        if (smallest == at)
            return;
        size_t swap = sort->heap[at];
        sort->heap[at] = sort->heap[smallest];
        sort->heap[smallest] = swap;
        at = smallest;
    }
}

ErrCode spillSortFinish(SpillSort *sort)
{
    if (sort->finished)
        return ERR_OK;
    sort->finished = true;
    if (sort->runCount == 0) { /* everything fits: sort in memory */
        if (sort->held > 1)
            spillSortRecords(sort->records, sort->held, sort->recordSize);
        return ERR_OK;
    }
    if (sort->held) {
        ErrCode code = spillSortWriteRun(sort);
        if (code != ERR_OK)
            return code;
    }
    free(sort->records); /* its memory becomes the merge's read buffers */
    sort->records = NULL;
    sort->readRecords = sort->memoryBytes / sort->recordSize / sort->runCount;
    if (sort->readRecords < SPILL_SORT_MIN_READ_RECORDS)
        sort->readRecords = SPILL_SORT_MIN_READ_RECORDS;
    sort->mergeBuffer = memAlloc(sort->runCount * sort->readRecords * sort->recordSize);
    sort->heap = memReallocArray(NULL, sort->runCount, sizeof(*sort->heap));
    for (size_t index = 0; index < sort->runCount; index++) {
        SpillRun *run = &sort->runs[index];
        run->buffer = sort->mergeBuffer + index * sort->readRecords * sort->recordSize;
        bool filled = false;
        ErrCode code = spillRunFill(sort, run, &filled);
        if (code != ERR_OK)
            return code;
        if (filled)
            sort->heap[sort->heapLength++] = index;
    }
    for (size_t at = sort->heapLength / 2; at-- > 0;)
        spillHeapDown(sort, at);
    return ERR_OK;
}

ErrCode spillSortNext(SpillSort *sort, void *recordOut, bool *more)
{
    *more = false;
    if (!sort->finished)
        return errSet(ERR_INTERNAL, "sort read before its input ended");
    if (sort->runCount == 0) {
        if (sort->memoryPosition >= sort->held)
            return ERR_OK;
        memcpy(recordOut, sort->records + sort->memoryPosition++ * sort->recordSize, sort->recordSize);
        *more = true;
        return ERR_OK;
    }
    if (sort->heapLength == 0)
        return ERR_OK;
    SpillRun *run = &sort->runs[sort->heap[0]];
    memcpy(recordOut, spillRunCurrent(sort, run), sort->recordSize);
    *more = true;
    if (++run->position == run->held) {
        bool filled = false;
        ErrCode code = spillRunFill(sort, run, &filled);
        if (code != ERR_OK)
            return code;
        if (!filled)
            sort->heap[0] = sort->heap[--sort->heapLength];
    }
    if (sort->heapLength)
        spillHeapDown(sort, 0);
    return ERR_OK;
}

uint64_t spillSortCount(const SpillSort *sort) { return sort->count; }

uint64_t spillSortRuns(const SpillSort *sort) { return sort->runCount; }

/* ---- SpillStream ------------------------------------------------------------ */

struct SpillStream {
    uint8_t *buffer;
    size_t capacity;
    size_t held;        /* writing: bytes buffered; reading: bytes in buffer */
    size_t position;    /* reading: next byte of buffer */
    int fd;             /* -1 while everything fits the buffer */
    uint64_t fileBytes; /* writing: bytes in the file; reading: its size */
    uint64_t readNext;  /* reading: file offset of the next unbuffered byte */
    bool reading;
};

SpillStream *spillStreamNew(size_t bufferBytes)
{
    SpillStream *stream = memCalloc(1, sizeof(*stream));
    stream->capacity = bufferBytes ? bufferBytes : 1;
    stream->buffer = memAlloc(stream->capacity);
    stream->fd = -1;
    return stream;
}

void spillStreamFree(SpillStream *stream)
{
    if (!stream)
        return;
    if (stream->fd >= 0)
        close(stream->fd);
    free(stream->buffer);
    free(stream);
}

static ErrCode spillStreamFlush(SpillStream *stream)
{
    if (stream->fd < 0) {
        ErrCode code = spillScratchOpen(&stream->fd);
        if (code != ERR_OK)
            return code;
    }
    ErrCode code = spillWriteAll(stream->fd, stream->buffer, stream->held, stream->fileBytes);
    if (code != ERR_OK)
        return code;
    stream->fileBytes += stream->held;
    stream->held = 0;
    return ERR_OK;
}

ErrCode spillStreamWrite(SpillStream *stream, const void *data, size_t length)
{
    if (stream->reading)
        return errSet(ERR_INTERNAL, "write to a stream being read");
    const uint8_t *bytes = data;
    while (length) {
        if (stream->held == stream->capacity) {
            ErrCode code = spillStreamFlush(stream);
            if (code != ERR_OK)
                return code;
        }
        size_t part = stream->capacity - stream->held;
        if (part > length)
            part = length;
        memcpy(stream->buffer + stream->held, bytes, part);
        stream->held += part;
        bytes += part;
        length -= part;
    }
    return ERR_OK;
}

ErrCode spillStreamRewind(SpillStream *stream)
{
    if (stream->reading)
        return errSet(ERR_INTERNAL, "stream rewound twice");
    stream->reading = true;
    stream->position = 0;
    if (stream->fd < 0)
        return ERR_OK; /* the buffer holds it all */
    ErrCode code = spillStreamFlush(stream);
    stream->readNext = 0;
    return code;
}

ErrCode spillStreamRead(SpillStream *stream, void *out, size_t length)
{
    if (!stream->reading)
        return errSet(ERR_INTERNAL, "stream read before it was rewound");
    uint8_t *bytes = out;
    while (length) {
        if (stream->position == stream->held) {
            if (stream->fd < 0 || stream->readNext >= stream->fileBytes)
                return errSet(ERR_INTERNAL, "restore scratch stream read past its end");
            uint64_t part = stream->fileBytes - stream->readNext;
            if (part > stream->capacity)
                part = stream->capacity;
            ErrCode code = spillReadAll(stream->fd, stream->buffer, (size_t)part, stream->readNext);
            if (code != ERR_OK)
                return code;
            stream->readNext += part;
            stream->held = (size_t)part;
            stream->position = 0;
        }
        size_t part = stream->held - stream->position;
        if (part > length)
            part = length;
        memcpy(bytes, stream->buffer + stream->position, part);
        stream->position += part;
        bytes += part;
        length -= part;
    }
    return ERR_OK;
}
