/* Bounded-memory sequential tools for the per-relationship work of a restore
 * at scale, so that a pass over many millions of records reads and writes
 * its scratch files in order instead of seeking at random:
 *
 * - SpillSort: an external sort of fixed-size records by their first 8 bytes
 *   (a uint64 in host order). Records collect in a buffer of memoryBytes;
 *   each full buffer is sorted and written as one run to an unlinked scratch
 *   file (spill_array.h: same directory, same cleaning), and the runs are
 *   merged as they are read back, each through a read buffer whose total
 *   is memoryBytes again. Fewer records than the buffer holds never touch
 *   the disk. Order among records with equal keys is unspecified.
 * - SpillStream: bytes appended through a buffer of bufferBytes, spilled to
 *   a scratch file once the buffer overflows, then read back once from the
 *   start, in order.
 *
 * Memory: memoryBytes (sort) or bufferBytes (stream) plus a few words per
 * run; disk: the records' size. Errors (memory, the scratch file, its disk:
 * BACKUP_NO_SPACE) are reported through errLast(). Not thread safe. */
#ifndef NBK_COMMON_SPILL_SORT_H
#define NBK_COMMON_SPILL_SORT_H

#include "common/error.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct SpillSort SpillSort;

/* recordSize: a multiple of 8, at least 8 (else NULL). Memory comes from
 * common/mem.h (aborts when exhausted); the file's failures are errors. */
SpillSort *spillSortNew(size_t recordSize, size_t memoryBytes);
void spillSortFree(SpillSort *sort);
/* Adds a record (copied). Not after spillSortFinish. */
ErrCode spillSortAdd(SpillSort *sort, const void *record);
/* Ends the input: sorts what is buffered and prepares the merge. */
ErrCode spillSortFinish(SpillSort *sort);
/* The next record in key order into recordOut; ERR_OK with *more false at
 * the end. */
ErrCode spillSortNext(SpillSort *sort, void *recordOut, bool *more);
uint64_t spillSortCount(const SpillSort *sort);
/* Runs written to the scratch file so far (0: all in memory). */
uint64_t spillSortRuns(const SpillSort *sort);

typedef struct SpillStream SpillStream;

SpillStream *spillStreamNew(size_t bufferBytes);
void spillStreamFree(SpillStream *stream);
ErrCode spillStreamWrite(SpillStream *stream, const void *data, size_t length);
/* Ends the writing; reading starts at the first byte written. */
ErrCode spillStreamRewind(SpillStream *stream);
/* Exactly length bytes into out; ERR_INTERNAL past the end. */
ErrCode spillStreamRead(SpillStream *stream, void *out, size_t length);

#endif
