/* int64 key -> fixed-size value table for per-node restore state, compact
 * when keys are dense (the usual case: Neo4j's internal ids) and still
 * correct for any int64 key.
 *
 * Layout: a dense part, a SpillArray (spill_array.h) of value-sized slots
 * indexed by key - base, where an all-zero slot means "absent"; base is the
 * first non-negative key seen, rounded down to a multiple of 65536. A key goes
 * there when it lies in [base, base + 2 * (count + expected) + 65536) or
 * inside the array already, so holes cost at most about half the slots.
 * Everything else (negative keys, keys below base or far beyond the others,
 * all-zero values) goes to an open-addressing outlier table of
 * (8 + valueSize)-byte slots, at most 3/4 full, in ordinary memory.
 *
 * A bit per dense slot, in ordinary memory, says whether it holds a value,
 * so that presence lookups (keyTableGet without valueOut) never touch a
 * spilled array.
 *
 * Memory with dense keys: valueSize bytes per key (up to 2x with holes), and
 * past the spill threshold a bounded resident share (spill_array.h), plus
 * the presence bits (1/8 byte per key) in memory.
 * Not thread safe. */
#ifndef NBK_COMMON_KEY_TABLE_H
#define NBK_COMMON_KEY_TABLE_H

#include "common/error.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct KeyTable KeyTable;

/* valueSize 1 to 32; expectedCount widens the dense range up front (0 =
 * unknown). NULL when out of memory. */
KeyTable *keyTableNew(size_t valueSize, uint64_t expectedCount);
void keyTableFree(KeyTable *table);

typedef enum {
    KEYTABLE_INSERTED,
    KEYTABLE_EXISTED, /* key present: its value replaced only when asked */
    KEYTABLE_FAILED,  /* out of memory or scratch file failure: errLast(); table unchanged */
} KeyTablePutResult;

KeyTablePutResult keyTablePut(KeyTable *table, int64_t key, const void *value, bool replace);
/* Copies the value of key into valueOut; false when absent, or when the
 * scratch file failed (keyTableFailed(), errLast()). With valueOut NULL only
 * presence is asked, answered from memory. */
bool keyTableGet(KeyTable *table, int64_t key, void *valueOut);
uint64_t keyTableCount(const KeyTable *table);
/* Bytes spanned (dense array, in memory or spilled, plus outlier table). */
size_t keyTableBytes(const KeyTable *table);
uint64_t keyTableOutliers(const KeyTable *table);
bool keyTableSpilled(const KeyTable *table);
/* true once the scratch file failed: lookups are unreliable from then on. */
bool keyTableFailed(const KeyTable *table);
/* The dense array's block cache (spill_array.h): its size, and a resize,
 * e.g. to a few blocks while the table is only read in key order. */
size_t keyTableCacheBytes(const KeyTable *table);
ErrCode keyTableSetCacheBytes(KeyTable *table, size_t bytes);

#endif
