/* Old node key -> new node id map (see idmap.h for the memory contract).
 * Two key tables: ids that fit 32 bits minus one are kept as id + 1 in 4
 * bytes (0 marks an absent key), any other id in 8 bytes. */
#include "restore/idmap.h"

#include "common/key_table.h"

#include <stdlib.h>
#include <string.h>

struct IdMap {
    KeyTable *narrow; /* uint32_t id + 1 */
    KeyTable *wide;   /* int64_t id */
};

IdMap *idMapNew(uint64_t expectedCount)
{
    IdMap *map = calloc(1, sizeof(*map));
    if (!map)
        return NULL;
    map->narrow = keyTableNew(sizeof(uint32_t), expectedCount);
    map->wide = keyTableNew(sizeof(int64_t), 0);
    if (!map->narrow || !map->wide) {
        idMapFree(map);
        return NULL;
    }
    return map;
}

void idMapFree(IdMap *map)
{
    if (!map)
        return;
    keyTableFree(map->narrow);
    keyTableFree(map->wide);
    free(map);
}

IdMapPutResult idMapPut(IdMap *map, int64_t key, int64_t value)
{
    if (keyTableGet(map->narrow, key, NULL) || keyTableGet(map->wide, key, NULL))
        return IDMAP_DUPLICATE;
    KeyTablePutResult result;
    if (value >= 0 && value < (int64_t)UINT32_MAX) {
        uint32_t stored = (uint32_t)value + 1;
        result = keyTablePut(map->narrow, key, &stored, false);
    } else {
        result = keyTablePut(map->wide, key, &value, false);
    }
    return result == KEYTABLE_INSERTED ? IDMAP_INSERTED : result == KEYTABLE_EXISTED ? IDMAP_DUPLICATE
                                                                                     : IDMAP_NO_MEMORY;
}

bool idMapGet(const IdMap *map, int64_t key, int64_t *value)
{
    uint32_t narrow;
    /* Without value only presence is asked: answered from memory. */
    if (keyTableGet(map->narrow, key, value ? &narrow : NULL)) {
        if (value)
            *value = (int64_t)narrow - 1;
        return true;
    }
    if (!keyTableCount(map->wide))
        return false;
    int64_t wide;
    if (!keyTableGet(map->wide, key, value ? &wide : NULL))
        return false;
    if (value)
        *value = wide;
    return true;
}

uint64_t idMapCount(const IdMap *map) { return keyTableCount(map->narrow) + keyTableCount(map->wide); }

size_t idMapBytes(const IdMap *map)
{
    return keyTableBytes(map->narrow) + keyTableBytes(map->wide) + sizeof(*map);
}

bool idMapSpilled(const IdMap *map) { return keyTableSpilled(map->narrow) || keyTableSpilled(map->wide); }

bool idMapFailed(const IdMap *map) { return keyTableFailed(map->narrow) || keyTableFailed(map->wide); }
