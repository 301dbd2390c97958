/* IdSet and KeySet (key_set.h). */
#include "common/key_set.h"

#include "common/mem.h"

#include <stdlib.h>
#include <string.h>

static size_t idSetSlotOf(int64_t key, size_t slotCount)
{
    uint64_t mixed = (uint64_t)key;
    mixed = (mixed ^ (mixed >> 30)) * 0xbf58476d1ce4e5b9ULL;
    mixed = (mixed ^ (mixed >> 27)) * 0x94d049bb133111ebULL;
    mixed ^= mixed >> 31;
    return (size_t)mixed & (slotCount - 1);
}

static int64_t *idSetProbe(int64_t *slots, size_t slotCount, int64_t key)
{
    size_t slotIndex = idSetSlotOf(key, slotCount);
    while (slots[slotIndex] != ID_SET_EMPTY && slots[slotIndex] != key)
        slotIndex = (slotIndex + 1) & (slotCount - 1);
    return &slots[slotIndex];
}

void idSetFree(IdSet *set)
{
    free(set->slots);
    memset(set, 0, sizeof(*set));
}

bool idSetContains(const IdSet *set, int64_t key)
{
    if (key == ID_SET_EMPTY)
        return set->hasEmptyKey;
    if (set->slotCount == 0)
        return false;
    return *idSetProbe(set->slots, set->slotCount, key) == key;
}

/* Returns true when key was not in the set yet. */
bool idSetAdd(IdSet *set, int64_t key)
{
    if (key == ID_SET_EMPTY) {
        bool added = !set->hasEmptyKey;
        set->hasEmptyKey = true;
        set->count += added;
        return added;
    }
    if ((set->count + 1) * 2 > set->slotCount) { /* at most half full: short probes */
        size_t grownCount = set->slotCount ? set->slotCount * 2 : 256;
        int64_t *grown = memAlloc(grownCount * sizeof(int64_t));
        for (size_t slotIndex = 0; slotIndex < grownCount; slotIndex++)
            grown[slotIndex] = ID_SET_EMPTY;
        for (size_t slotIndex = 0; slotIndex < set->slotCount; slotIndex++) {
            if (set->slots[slotIndex] != ID_SET_EMPTY)
                *idSetProbe(grown, grownCount, set->slots[slotIndex]) = set->slots[slotIndex];
        }
        free(set->slots);
        set->slots = grown;
        set->slotCount = grownCount;
    }
    int64_t *slot = idSetProbe(set->slots, set->slotCount, key);
    if (*slot == key)
        return false;
    *slot = key;
    set->count++;
    return true;
}

/* ---- KeySet: bitmap over dense ids, IdSet for the rest -------------------- */


void keySetFree(KeySet *set)
{
    free(set->words);
    idSetFree(&set->sparse);
    memset(set, 0, sizeof(*set));
}

bool keySetContains(const KeySet *set, int64_t key)
{
    if (key >= 0 && (uint64_t)key / 64 < set->wordCount &&
        (set->words[(uint64_t)key / 64] >> ((uint64_t)key % 64) & 1u))
        return true;
    /* A key may have gone to the sparse set before the bitmap grew over it. */
    return set->sparse.count > 0 && idSetContains(&set->sparse, key);
}

/* Grows the bitmap to cover key when memory stays within the documented
 * bound; returns false when key must go to the sparse set instead. */
static bool keySetCover(KeySet *set, int64_t key)
{
    if (key < 0)
        return false;
    size_t neededWords = (size_t)((uint64_t)key / 64) + 1;
    if (neededWords <= set->wordCount)
        return true;
    size_t grownWords = set->wordCount * 2 > neededWords ? set->wordCount * 2 : neededWords;
    uint64_t allowedBytes = (set->count + 1) * KEY_SET_BITMAP_BYTES_PER_KEY;
    if (allowedBytes < KEY_SET_BITMAP_FREE_BYTES)
        allowedBytes = KEY_SET_BITMAP_FREE_BYTES;
    if ((uint64_t)grownWords * 8 > allowedBytes) {
        if ((uint64_t)neededWords * 8 > allowedBytes)
            return false;
        grownWords = neededWords;
    }
    uint64_t *grown = memRealloc(set->words, grownWords * sizeof(uint64_t));
    memset(grown + set->wordCount, 0, (grownWords - set->wordCount) * sizeof(uint64_t));
    set->words = grown;
    set->wordCount = grownWords;
    return true;
}

/* Returns true when key was not in the set yet. */
bool keySetAdd(KeySet *set, int64_t key)
{
    if (keySetContains(set, key))
        return false;
    if (keySetCover(set, key))
        set->words[(uint64_t)key / 64] |= (uint64_t)1 << ((uint64_t)key % 64);
    else
        idSetAdd(&set->sparse, key);
    set->count++;
    return true;
}

uint64_t keySetBytes(const KeySet *set)
{
    return set->wordCount * sizeof(uint64_t) + set->sparse.slotCount * sizeof(int64_t);
}
