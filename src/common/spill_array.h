/* Growable array of fixed-size slots indexed by a dense integer, for the
 * per-node state of a restore (id map, key set, fingerprint node hashes), so
 * that memory stays bounded however large the graph is.
 *
 * New slots read as zero bytes. A small array lives in anonymous memory; once
 * it would outgrow the spill threshold it moves into an unlinked scratch file
 * (O_TMPFILE, or a ".tmp-spill-*-<pid>" name removed at once), read and
 * written through a direct-mapped write-back cache of 1 KB blocks whose size
 * is the resident budget: that cache is all the array then holds in memory,
 * whatever its size (the file's blocks may sit in the kernel's page cache,
 * which the kernel can evict: not the process's memory). The file's blocks
 * are allocated (posix_fallocate) as it grows, so a full disk is an error
 * (BACKUP_NO_SPACE) when growing, not later. Nothing is left on disk, even
 * after a crash, except in the fallback's tiny window between open and
 * unlink. (A memory-mapped file was measured first: reads map 16 pages at a
 * time (fault-around), so its resident share is hard to bound.)
 *
 * Not thread safe. */
#ifndef NBK_COMMON_SPILL_ARRAY_H
#define NBK_COMMON_SPILL_ARRAY_H

#include "common/error.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SPILL_DEFAULT_THRESHOLD_BYTES ((size_t)8 << 20)
#define SPILL_DEFAULT_RESIDENT_BYTES ((size_t)16 << 20)
/* The restore's Bolt load, whose base is larger (docs/restore.md, Memory). */
#define SPILL_BOLT_LOAD_RESIDENT_BYTES ((size_t)8 << 20)

/* Process-wide settings for arrays created afterwards, which copy them
 * (thread safe): where scratch files go (NULL: $TMPDIR, else /tmp; the string
 * is copied), the size beyond which an array spills, and the cache size of a
 * spilled array (0: the defaults above). */
void spillConfigure(const char *directory, size_t thresholdBytes, size_t residentBytes);

typedef struct SpillArray SpillArray;

/* slotSize: a power of two from 1 to 64. NULL when out of memory. */
SpillArray *spillArrayNew(size_t slotSize);
void spillArrayFree(SpillArray *array);

/* The slot at index for writing, growing the array to hold it. NULL with
 * errLast() set when memory, the scratch file or its disk fail. The pointer is
 * valid until the next call on the array; what is written through it is kept. */
void *spillArrayWrite(SpillArray *array, uint64_t index);
/* The slot at index for reading; NULL when index lies beyond the array (an
 * empty slot) or when the scratch file failed (spillArrayFailed(), errLast()).
 * Valid until the next call on the array. */
const void *spillArrayRead(SpillArray *array, uint64_t index);
/* true once a scratch file read or write-back failed: contents unreliable. */
bool spillArrayFailed(const SpillArray *array);

/* Slots addressable without growth. */
uint64_t spillArrayLength(const SpillArray *array);
bool spillArraySpilled(const SpillArray *array);
/* Bytes the array spans (in memory, or in its file once spilled). */
size_t spillArrayBytes(const SpillArray *array);
/* The block cache's size: what a spilled array keeps in memory (before it
 * spills: what it will keep). */
size_t spillArrayCacheBytes(const SpillArray *array);
/* Resizes the block cache of a spilled array (writing its changed blocks
 * back first), e.g. down to a few blocks for a phase that reads the array in
 * order, and up again after it; before the spill it sets the cache the
 * spill will get. Errors as spillArrayWrite; the contents are kept. */
ErrCode spillArraySetCacheBytes(SpillArray *array, size_t bytes);

/* An unlinked scratch file in the configured directory (as the arrays'),
 * for other bounded-memory structures (spill_sort.h). */
ErrCode spillScratchOpen(int *fdOut);

#endif
