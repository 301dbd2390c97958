/* Old node key -> new node id map used by restore.
 *
 * Archive keys are the source database's internal ids; the target assigns new
 * ones. Relationships are linked by looking their endpoint keys up here, so
 * the map must hold every node of the archive at once, and lookups must stay
 * O(1) whatever the key values (no assumption that keys are dense, sorted or
 * positive: every int64 is a valid key).
 *
 * Layout: open addressing with linear probing over one array of
 * {key, value} slots, 16 bytes each; capacity is a power of two and grows
 * (doubling) when the table is more than 3/4 full. Memory is therefore
 * 16 * capacity bytes with count <= 0.75 * capacity, i.e. between 21.3 and
 * 42.7 bytes per node once grown (about 21.3-32 when presized with the
 * expected count), plus the old table during a growth step (peak 1.5x).
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
    IDMAP_NO_MEMORY,   /* growth failed: map unchanged and still usable */
} IdMapPutResult;

IdMapPutResult idMapPut(IdMap *map, int64_t key, int64_t value);
/* true and *value when key is present. */
bool idMapGet(const IdMap *map, int64_t key, int64_t *value);
uint64_t idMapCount(const IdMap *map);
/* Bytes held by the table (for logs and the memory documentation). */
size_t idMapBytes(const IdMap *map);

#endif
