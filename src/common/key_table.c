/* Dense-array-plus-outliers key table (see key_table.h for the layout and
 * its memory). */
#include "common/key_table.h"

#include "common/spill_array.h"

#include <stdlib.h>
#include <string.h>

#define KEYTABLE_MAX_VALUE 32u
#define KEYTABLE_SLACK UINT64_C(65536)
#define KEYTABLE_EMPTY_KEY INT64_MIN /* marks a free outlier slot */
#define KEYTABLE_MIN_OUTLIER_SLOTS 64u

struct KeyTable {
    size_t valueSize;
    size_t denseSlotSize; /* valueSize rounded up to a power of two */
    uint64_t expected;
    uint64_t count;

    SpillArray *dense;
    bool hasBase;
    int64_t base;
    /* One bit per dense slot, set while the slot holds a value: answers
     * "is this key present" from memory when the array has spilled. */
    uint64_t *present;
    uint64_t presentWords;

    /* Outliers: slots of {int64 key, value}, stride 8 + valueSize. */
    uint8_t *outliers;
    uint64_t outlierCapacity; /* power of two, 0 before the first outlier */
    uint64_t outlierCount;    /* slots in use (excludes the reserved key) */
    bool hasReservedKey;      /* the key equal to KEYTABLE_EMPTY_KEY */
    uint8_t reservedValue[KEYTABLE_MAX_VALUE];
};

KeyTable *keyTableNew(size_t valueSize, uint64_t expectedCount)
{
    if (valueSize == 0 || valueSize > KEYTABLE_MAX_VALUE)
        return NULL;
    KeyTable *table = calloc(1, sizeof(*table));
    if (!table)
        return NULL;
    table->valueSize = valueSize;
    table->denseSlotSize = 1;
    while (table->denseSlotSize < valueSize)
        table->denseSlotSize <<= 1;
    table->expected = expectedCount;
    table->dense = spillArrayNew(table->denseSlotSize);
    if (!table->dense) {
        free(table);
        return NULL;
    }
    return table;
}

void keyTableFree(KeyTable *table)
{
    if (!table)
        return;
    spillArrayFree(table->dense);
    free(table->present);
    free(table->outliers);
    free(table);
}

static bool keyTableIsZero(const void *value, size_t length)
{
    const uint8_t *bytes = value;
    for (size_t index = 0; index < length; index++)
        if (bytes[index])
            return false;
    return true;
}

/* ---- outliers: open addressing, linear probing --------------------------- */

static size_t keyTableStride(const KeyTable *table) { return sizeof(int64_t) + table->valueSize; }

static uint64_t keyTableHash(int64_t key)
{
    /* splitmix64's finaliser, so runs of neighbouring keys spread out. */
    uint64_t mixed = (uint64_t)key;
    mixed = (mixed ^ (mixed >> 30)) * 0xbf58476d1ce4e5b9ULL;
    mixed = (mixed ^ (mixed >> 27)) * 0x94d049bb133111ebULL;
    return mixed ^ (mixed >> 31);
}

static int64_t keyTableSlotKey(const uint8_t *slot)
{
    int64_t key;
    memcpy(&key, slot, sizeof(key));
    return key;
}

/* The slot holding key, or the free slot where it belongs. */
static uint8_t *keyTableProbe(const KeyTable *table, uint8_t *slots, uint64_t capacity, int64_t key)
{
    size_t stride = keyTableStride(table);
    uint64_t position = keyTableHash(key) & (capacity - 1);
    for (;;) {
        uint8_t *slot = slots + position * stride;
        int64_t slotKey = keyTableSlotKey(slot);
        if (slotKey == key || slotKey == KEYTABLE_EMPTY_KEY)
            return slot;
        position = (position + 1) & (capacity - 1);
    }
}

/* The stored value of an outlier key, or NULL. */
static uint8_t *keyTableOutlierFind(KeyTable *table, int64_t key)
{
    if (key == KEYTABLE_EMPTY_KEY)
        return table->hasReservedKey ? table->reservedValue : NULL;
    if (!table->outlierCount)
        return NULL;
    uint8_t *slot = keyTableProbe(table, table->outliers, table->outlierCapacity, key);
    return keyTableSlotKey(slot) == key ? slot + sizeof(int64_t) : NULL;
}

static bool keyTableOutlierGrow(KeyTable *table)
{
    uint64_t capacity = table->outlierCapacity ? table->outlierCapacity * 2 : KEYTABLE_MIN_OUTLIER_SLOTS;
    size_t stride = keyTableStride(table);
    if (capacity > SIZE_MAX / stride)
        return false;
    uint8_t *slots = malloc((size_t)capacity * stride);
    if (!slots)
        return false;
    int64_t emptyKey = KEYTABLE_EMPTY_KEY;
    for (uint64_t index = 0; index < capacity; index++)
        memcpy(slots + index * stride, &emptyKey, sizeof(emptyKey));
    for (uint64_t index = 0; index < table->outlierCapacity; index++) {
        const uint8_t *old = table->outliers + index * stride;
        int64_t key = keyTableSlotKey(old);
        if (key != KEYTABLE_EMPTY_KEY)
            memcpy(keyTableProbe(table, slots, capacity, key), old, stride);
    }
    free(table->outliers);
    table->outliers = slots;
    table->outlierCapacity = capacity;
    return true;
}

static KeyTablePutResult keyTableOutlierInsert(KeyTable *table, int64_t key, const void *value)
{
    if (key == KEYTABLE_EMPTY_KEY) {
        table->hasReservedKey = true;
        memcpy(table->reservedValue, value, table->valueSize);
        table->count++;
        return KEYTABLE_INSERTED;
    }
    if ((table->outlierCount + 1) * 4 > table->outlierCapacity * 3 && !keyTableOutlierGrow(table)) {
        errSet(ERR_INTERNAL, "out of memory for %llu restore table outliers",
               (unsigned long long)table->outlierCount + 1);
        return KEYTABLE_FAILED;
    }
    uint8_t *slot = keyTableProbe(table, table->outliers, table->outlierCapacity, key);
    memcpy(slot, &key, sizeof(key));
    memcpy(slot + sizeof(int64_t), value, table->valueSize);
    table->outlierCount++;
    table->count++;
    return KEYTABLE_INSERTED;
}

/* ---- dense part ------------------------------------------------------------ */

static bool keyTablePresent(const KeyTable *table, uint64_t index)
{
    return index / 64 < table->presentWords && (table->present[index / 64] >> (index % 64)) & 1u;
}

/* Sets or clears the presence bit of a dense slot; false when out of memory. */
static bool keyTableMarkPresent(KeyTable *table, uint64_t index, bool present)
{
    uint64_t word = index / 64;
    if (word >= table->presentWords) {
        if (!present)
            return true;
        uint64_t words = table->presentWords + table->presentWords / 2;
        if (words <= word)
            words = word + 1;
        if (words < 1024)
            words = 1024;
        uint64_t *grown = realloc(table->present, (size_t)words * sizeof(*grown));
        if (!grown)
            return false;
        memset(grown + table->presentWords, 0, (size_t)(words - table->presentWords) * sizeof(*grown));
        table->present = grown;
        table->presentWords = words;
    }
    if (present)
        table->present[word] |= UINT64_C(1) << (index % 64);
    else
        table->present[word] &= ~(UINT64_C(1) << (index % 64));
    return true;
}

/* Index in the dense array for key, or false when key belongs to the outliers. */
static bool keyTableDenseIndex(KeyTable *table, int64_t key, bool forInsert, uint64_t *index)
{
    if (key < 0)
        return false;
    if (!table->hasBase) {
        if (!forInsert)
            return false;
        table->hasBase = true;
        table->base = key & ~(int64_t)(KEYTABLE_SLACK - 1);
    }
    if (key < table->base)
        return false;
    uint64_t offset = (uint64_t)(key - table->base);
    if (offset < spillArrayLength(table->dense))
        *index = offset;
    else if (forInsert && offset < 2 * (table->count + table->expected) + KEYTABLE_SLACK)
        *index = offset;
    else
        return false;
    return true;
}

KeyTablePutResult keyTablePut(KeyTable *table, int64_t key, const void *value, bool replace)
{
    uint8_t *outlier = keyTableOutlierFind(table, key);
    if (outlier) {
        if (replace)
            memcpy(outlier, value, table->valueSize);
        return KEYTABLE_EXISTED;
    }
    bool zero = keyTableIsZero(value, table->valueSize);
    uint64_t index;
    if (!keyTableDenseIndex(table, key, true, &index))
        return keyTableOutlierInsert(table, key, value);
    bool existed = keyTablePresent(table, index);
    if (existed && !replace)
        return KEYTABLE_EXISTED;
    if (zero) {
        /* An all-zero value would read as "absent" in the dense array. */
        if (existed) {
            uint8_t *cleared = spillArrayWrite(table->dense, index);
            if (!cleared)
                return KEYTABLE_FAILED;
            memset(cleared, 0, table->valueSize);
            keyTableMarkPresent(table, index, false);
            table->count--;
        }
        KeyTablePutResult result = keyTableOutlierInsert(table, key, value);
        return existed && result == KEYTABLE_INSERTED ? KEYTABLE_EXISTED : result;
    }
    if (!existed && !keyTableMarkPresent(table, index, true)) {
        errSet(ERR_INTERNAL, "out of memory for a restore table's presence bits");
        return KEYTABLE_FAILED;
    }
    uint8_t *slot = spillArrayWrite(table->dense, index);
    if (!slot) {
        if (!existed)
            keyTableMarkPresent(table, index, false);
        return KEYTABLE_FAILED;
    }
    memcpy(slot, value, table->valueSize);
    if (existed)
        return KEYTABLE_EXISTED;
    table->count++;
    return KEYTABLE_INSERTED;
}

bool keyTableGet(KeyTable *table, int64_t key, void *valueOut)
{
    uint64_t index;
    if (keyTableDenseIndex(table, key, false, &index) && keyTablePresent(table, index)) {
        if (!valueOut)
            return true; /* answered from memory, whether spilled or not */
        const uint8_t *slot = spillArrayRead(table->dense, index);
        if (slot) {
            memcpy(valueOut, slot, table->valueSize);
            return true;
        }
        if (spillArrayFailed(table->dense))
            return false;
    }
    const uint8_t *outlier = keyTableOutlierFind(table, key);
    if (!outlier)
        return false;
    if (valueOut)
        memcpy(valueOut, outlier, table->valueSize);
    return true;
}

uint64_t keyTableCount(const KeyTable *table) { return table->count; }

size_t keyTableBytes(const KeyTable *table)
{
    return spillArrayBytes(table->dense) + (size_t)table->presentWords * sizeof(uint64_t) +
           (size_t)table->outlierCapacity * keyTableStride(table) + sizeof(*table);
}

uint64_t keyTableOutliers(const KeyTable *table)
{
    return table->outlierCount + (table->hasReservedKey ? 1 : 0);
}

bool keyTableSpilled(const KeyTable *table) { return spillArraySpilled(table->dense); }

bool keyTableFailed(const KeyTable *table) { return spillArrayFailed(table->dense); }

size_t keyTableCacheBytes(const KeyTable *table) { return spillArrayCacheBytes(table->dense); }

ErrCode keyTableSetCacheBytes(KeyTable *table, size_t bytes) { return spillArraySetCacheBytes(table->dense, bytes); }
