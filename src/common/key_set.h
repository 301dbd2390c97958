/* Sets of int64 ids with a small, documented memory cost per id: IdSet, an
 * open-addressing hash set (at most half full: 16 to 32 bytes per id), and
 * KeySet, a bitmap over dense ids (1 bit per id up to the highest, never more
 * than max(8 MiB, 8 bytes per id held)) with an IdSet for the ids too sparse
 * for it. Used for the keys a backup has seen and for the keys a chain's
 * newer links have decided (archive/chain.h). A zeroed struct is an empty
 * set. Memory comes from common/mem.h (aborts when exhausted). */
#ifndef NBK_COMMON_KEY_SET_H
#define NBK_COMMON_KEY_SET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A bitmap is always allowed this big; beyond, only while dense enough. */
#define KEY_SET_BITMAP_FREE_BYTES (8u * 1024u * 1024u)
/* Bytes of bitmap allowed per key held (64 bits: ids at least 1/64 dense). */
#define KEY_SET_BITMAP_BYTES_PER_KEY 8u
#define ID_SET_EMPTY INT64_MIN

typedef struct {
    int64_t *slots;     /* ID_SET_EMPTY marks a free slot */
    size_t slotCount;   /* power of two, or 0 before the first add */
    size_t count;       /* keys held, hasEmptyKey included */
    bool hasEmptyKey;   /* INT64_MIN itself is held outside the table */
} IdSet;
typedef struct {
    uint64_t *words;   /* bit k set = key k seen */
    size_t wordCount;
    IdSet sparse;      /* negative keys, and keys too far beyond the bitmap */
    uint64_t count;
} KeySet;

void idSetFree(IdSet *set);
bool idSetContains(const IdSet *set, int64_t key);
/* Returns true when key was not in the set yet. */
bool idSetAdd(IdSet *set, int64_t key);

void keySetFree(KeySet *set);
bool keySetContains(const KeySet *set, int64_t key);
/* Returns true when key was not in the set yet. */
bool keySetAdd(KeySet *set, int64_t key);
/* Bytes the set holds in memory. */
uint64_t keySetBytes(const KeySet *set);

#endif
