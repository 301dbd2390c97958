/* Old node key -> new node id map used by restore.
 *
 * Archive keys are the source database's internal ids; the target assigns new
 * ones. Relationships are linked by looking their endpoint keys up here, so
 * the map must hold every node of the archive at once, and lookups must stay
 * O(1) whatever the key values (no assumption that keys are dense, sorted or
 * positive: every int64 is a valid key).
 *
 * Layout: common/key_table.h. Keys that are dense (Neo4j's internal ids,
 * the usual case) index an array directly; new ids below 2^32 - 1 take 4
 * bytes there, others 8 (a second table). So a dense graph costs 4 bytes per
 * node (up to 8 with holes in the keys), and past the spill threshold the
 * array lives in a memory-mapped scratch file with a bounded resident share
 * (common/spill_array.h). Negative or scattered keys fall back to a hash
 * table of 12- or 16-byte slots at most 3/4 full, in ordinary memory.
 *
 * Ownership: the map owns its table; free it with idMapFree. Not thread safe. */
#ifndef NBK_RESTORE_IDMAP_H
#define NBK_RESTORE_IDMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct IdMap IdMap;

/* expectedCount presizes the table (0 = small start); NULL when out of memory. */
IdMap *idMapNew(uint64_t expectedCount);
void idMapFree(IdMap *map);

typedef enum {
    IDMAP_INSERTED,
    IDMAP_DUPLICATE,   /* key already present: value left unchanged */
    IDMAP_NO_MEMORY,   /* growth or the scratch file failed (errLast()): map unchanged */
} IdMapPutResult;

IdMapPutResult idMapPut(IdMap *map, int64_t key, int64_t value);
/* true and *value when key is present. */
bool idMapGet(const IdMap *map, int64_t key, int64_t *value);
uint64_t idMapCount(const IdMap *map);
/* Bytes held by the table (for logs and the memory documentation). */
size_t idMapBytes(const IdMap *map);
/* true once part of the map lives in a scratch file. */
bool idMapSpilled(const IdMap *map);
/* true once its scratch file failed (errLast()): idMapGet may miss keys. */
bool idMapFailed(const IdMap *map);

#endif
