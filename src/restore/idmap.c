/* Open-addressing int64 -> int64 map (see idmap.h for the memory contract).
 * An empty slot is marked by a reserved key value; the one real key equal to
 * that value is kept outside the table so every int64 remains a valid key. */
#include "restore/idmap.h"

#include <stdlib.h>

#define IDMAP_EMPTY_KEY INT64_MIN
#define IDMAP_MIN_CAPACITY 64u

typedef struct {
    int64_t key;
    int64_t value;
} IdMapSlot;

struct IdMap {
    IdMapSlot *slots;
    uint64_t capacity; /* power of two */
    uint64_t used;     /* slots in the table (excludes the reserved key) */
    bool hasReservedKey;
    int64_t reservedKeyValue;
};

/* splitmix64's finaliser: sequential ids (the common case) would otherwise
 * fill neighbouring slots and make linear probing degrade. */
static uint64_t idMapHash(int64_t key)
{
    uint64_t mixed = (uint64_t)key;
    mixed ^= mixed >> 30;
    mixed *= 0xbf58476d1ce4e5b9ULL;
    mixed ^= mixed >> 27;
    mixed *= 0x94d049bb133111ebULL;
    mixed ^= mixed >> 31;
    return mixed;
}

static IdMapSlot *idMapAllocSlots(uint64_t capacity)
{
    if (capacity > SIZE_MAX / sizeof(IdMapSlot))
        return NULL;
    IdMapSlot *slots = malloc((size_t)capacity * sizeof(IdMapSlot));
    if (!slots)
        return NULL;
    for (uint64_t slot = 0; slot < capacity; slot++)
        slots[slot].key = IDMAP_EMPTY_KEY;
    return slots;
}

/* Smallest power of two holding count entries under the 3/4 load limit. */
static uint64_t idMapCapacityFor(uint64_t count)
{
    uint64_t capacity = IDMAP_MIN_CAPACITY;
    while (capacity < (UINT64_C(1) << 62) && count > capacity / 4 * 3)
        capacity <<= 1;
    return capacity;
}

IdMap *idMapNew(uint64_t expectedCount)
{
    IdMap *map = calloc(1, sizeof(*map));
    if (!map)
        return NULL;
    map->capacity = idMapCapacityFor(expectedCount);
    map->slots = idMapAllocSlots(map->capacity);
    if (!map->slots) {
        free(map);
        return NULL;
    }
    return map;
}

void idMapFree(IdMap *map)
{
    if (!map)
        return;
    free(map->slots);
    free(map);
}

/* Slot holding key, or the empty slot where it belongs. */
static IdMapSlot *idMapFind(IdMapSlot *slots, uint64_t capacity, int64_t key)
{
    uint64_t mask = capacity - 1;
    uint64_t position = idMapHash(key) & mask;
    for (;;) {
        IdMapSlot *slot = &slots[position];
        if (slot->key == key || slot->key == IDMAP_EMPTY_KEY)
            return slot;
        position = (position + 1) & mask;
    }
}

static bool idMapGrow(IdMap *map)
{
    if (map->capacity >= (UINT64_C(1) << 62))
        return false;
    uint64_t newCapacity = map->capacity << 1;
    IdMapSlot *newSlots = idMapAllocSlots(newCapacity);
    if (!newSlots)
        return false;
    for (uint64_t slot = 0; slot < map->capacity; slot++) {
        const IdMapSlot *old = &map->slots[slot];
        if (old->key != IDMAP_EMPTY_KEY)
            *idMapFind(newSlots, newCapacity, old->key) = *old;
    }
    free(map->slots);
    map->slots = newSlots;
    map->capacity = newCapacity;
    return true;
}

IdMapPutResult idMapPut(IdMap *map, int64_t key, int64_t value)
{
    if (key == IDMAP_EMPTY_KEY) {
        if (map->hasReservedKey)
            return IDMAP_DUPLICATE;
        map->hasReservedKey = true;
        map->reservedKeyValue = value;
        return IDMAP_INSERTED;
    }
    IdMapSlot *slot = idMapFind(map->slots, map->capacity, key);
    if (slot->key == key)
        return IDMAP_DUPLICATE;
    if (map->used + 1 > map->capacity / 4 * 3) {
        if (!idMapGrow(map))
            return IDMAP_NO_MEMORY;
        slot = idMapFind(map->slots, map->capacity, key);
    }
    slot->key = key;
    slot->value = value;
    map->used++;
    return IDMAP_INSERTED;
}

bool idMapGet(const IdMap *map, int64_t key, int64_t *value)
{
    if (key == IDMAP_EMPTY_KEY) {
        if (map->hasReservedKey && value)
            *value = map->reservedKeyValue;
        return map->hasReservedKey;
    }
    const IdMapSlot *slot = idMapFind(map->slots, map->capacity, key);
    if (slot->key != key)
        return false;
    if (value)
        *value = slot->value;
    return true;
}

uint64_t idMapCount(const IdMap *map) { return map->used + (map->hasReservedKey ? 1 : 0); }

size_t idMapBytes(const IdMap *map) { return (size_t)map->capacity * sizeof(IdMapSlot) + sizeof(*map); }
