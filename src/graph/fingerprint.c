/* Content fingerprint (definition in fingerprint.h).
 *
 * Canonical form: values are written with the PackStream writers, so an
 * integer always takes its smallest encoding and a float its 8-byte bit
 * pattern; maps are written with their keys sorted bytewise (at every depth),
 * labels sorted bytewise, and the relationship type as a PackStream string.
 * Only the multiset of contents matters: keys (ids) are never hashed.
 *
 * Memory: node key -> nodeHash lives in a key table (common/key_table.h): 16
 * bytes per node in an array indexed by the key when keys are dense, which
 * past the spill threshold lives in a memory-mapped scratch file with a
 * bounded resident share; scattered or negative keys in a hash table of
 * 24-byte slots. Relationships are hashed as they stream and not kept. */
#include "graph/fingerprint.h"

#include "bolt/packstream.h"
#include "common/buffer.h"
#include "common/key_table.h"
#include "common/mem.h"

#include <openssl/sha.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FINGERPRINT_HASH_LENGTH 16

/* A 128-bit unsigned sum kept as two words (big-endian when printed). */
typedef struct {
    uint64_t high;
    uint64_t low;
} FingerprintSum;

struct Fingerprint {
    KeyTable *nodeHashes; /* node key -> nodeHash, for the relationships */
    uint8_t lookedUp[2][FINGERPRINT_HASH_LENGTH]; /* endpoint hashes of the current relationship */

    FingerprintSum nodeSum;
    FingerprintSum relationshipSum;
    uint64_t nodeCount;
    uint64_t relationshipCount;

    Buffer canonical; /* reused for every canonical encoding */
    /* Sort scratch used as a stack, so nested maps can sort below their
     * parent's segment; indices, not pointers, survive its growth. */
    const void **sortScratch;
    size_t sortScratchLength;
    size_t sortScratchCapacity;
};

Fingerprint *fingerprintNew(void)
{
    Fingerprint *fingerprint = memCalloc(1, sizeof(*fingerprint));
    fingerprint->nodeHashes = keyTableNew(FINGERPRINT_HASH_LENGTH, 0);
    if (!fingerprint->nodeHashes) /* an empty table: only malloc can fail */
        memOutOfMemory("fingerprint node table");
    bufferInit(&fingerprint->canonical);
    return fingerprint;
}

void fingerprintFree(Fingerprint *fingerprint)
{
    if (!fingerprint)
        return;
    keyTableFree(fingerprint->nodeHashes);
    free(fingerprint->sortScratch);
    bufferFree(&fingerprint->canonical);
    free(fingerprint);
}

/* ---- canonical encoding ----------------------------------------------- */

static int fingerprintCompareBytes(const char *left, uint32_t leftLength, const char *right,
                                   uint32_t rightLength)
{
    uint32_t common = leftLength < rightLength ? leftLength : rightLength;
    int order = common ? memcmp(left, right, common) : 0;
    if (order != 0)
        return order;
    return leftLength < rightLength ? -1 : leftLength > rightLength ? 1 : 0;
}

static int fingerprintCompareEntries(const void *left, const void *right)
{
    const BoltMapEntry *leftEntry = *(const BoltMapEntry *const *)left;
    const BoltMapEntry *rightEntry = *(const BoltMapEntry *const *)right;
    int order = fingerprintCompareBytes(leftEntry->key.as.string.data, leftEntry->key.as.string.length,
                                        rightEntry->key.as.string.data, rightEntry->key.as.string.length);
    if (order != 0)
        return order;
    /* Equal keys keep their map order, so "the last duplicate wins" below. */
    return leftEntry < rightEntry ? -1 : leftEntry > rightEntry ? 1 : 0;
}

static int fingerprintCompareStrings(const void *left, const void *right)
{
    const BoltValue *leftValue = *(const BoltValue *const *)left;
    const BoltValue *rightValue = *(const BoltValue *const *)right;
    return fingerprintCompareBytes(leftValue->as.string.data, leftValue->as.string.length,
                                   rightValue->as.string.data, rightValue->as.string.length);
}

/* Reserves count scratch places on top of the stack; returns their start. */
static size_t fingerprintScratchPush(Fingerprint *fingerprint, size_t count)
{
    size_t start = fingerprint->sortScratchLength;
    if (start + count > fingerprint->sortScratchCapacity) {
        size_t capacity = fingerprint->sortScratchCapacity ? fingerprint->sortScratchCapacity : 64;
        while (capacity < start + count)
            capacity *= 2;
        const void **grown = memRealloc(fingerprint->sortScratch, capacity * sizeof(*grown));
        fingerprint->sortScratch = grown;
        fingerprint->sortScratchCapacity = capacity;
    }
    fingerprint->sortScratchLength = start + count;
    return start;
}

static void fingerprintPackCanonical(Fingerprint *fingerprint, const BoltValue *value);

static void fingerprintPackMap(Fingerprint *fingerprint, const BoltValue *map)
{
    uint32_t count = map->as.map.count;
    size_t start = fingerprintScratchPush(fingerprint, count);
    for (uint32_t entryIndex = 0; entryIndex < count; entryIndex++)
        fingerprint->sortScratch[start + entryIndex] = &map->as.map.entries[entryIndex];
    if (count > 1) /* qsort must not see the NULL of an unused scratch */
        qsort(fingerprint->sortScratch + start, count, sizeof(void *), fingerprintCompareEntries);

    /* Of equal keys only the last one counts, as in PackStream. */
    uint32_t distinct = 0;
    for (uint32_t entryIndex = 0; entryIndex < count; entryIndex++) {
        const BoltMapEntry *entry = fingerprint->sortScratch[start + entryIndex];
        const BoltMapEntry *next =
            entryIndex + 1 < count ? fingerprint->sortScratch[start + entryIndex + 1] : NULL;
        if (next && fingerprintCompareBytes(entry->key.as.string.data, entry->key.as.string.length,
                                            next->key.as.string.data, next->key.as.string.length) == 0)
            continue;
        distinct++;
    }
    packMapHeader(&fingerprint->canonical, distinct);
    for (uint32_t entryIndex = 0; entryIndex < count; entryIndex++) {
        /* Re-read through the index: nested maps may move the scratch. */
        const BoltMapEntry *entry = fingerprint->sortScratch[start + entryIndex];
        const BoltMapEntry *next =
            entryIndex + 1 < count ? fingerprint->sortScratch[start + entryIndex + 1] : NULL;
        if (next && fingerprintCompareBytes(entry->key.as.string.data, entry->key.as.string.length,
                                            next->key.as.string.data, next->key.as.string.length) == 0)
            continue;
        packString(&fingerprint->canonical, entry->key.as.string.data, entry->key.as.string.length);
        fingerprintPackCanonical(fingerprint, &entry->value);
    }
    fingerprint->sortScratchLength = start;
}

static void fingerprintPackCanonical(Fingerprint *fingerprint, const BoltValue *value)
{
    switch (value->type) {
    case BOLT_MAP:
        fingerprintPackMap(fingerprint, value);
        return;
    case BOLT_LIST:
        packListHeader(&fingerprint->canonical, value->as.list.count);
        for (uint32_t itemIndex = 0; itemIndex < value->as.list.count; itemIndex++)
            fingerprintPackCanonical(fingerprint, &value->as.list.items[itemIndex]);
        return;
    case BOLT_STRUCT:
        packStructHeader(&fingerprint->canonical, value->as.structure.tag, value->as.structure.count);
        for (uint8_t fieldIndex = 0; fieldIndex < value->as.structure.count; fieldIndex++)
            fingerprintPackCanonical(fingerprint, &value->as.structure.fields[fieldIndex]);
        return;
    default:
        packValue(&fingerprint->canonical, value);
        return;
    }
}

static void fingerprintPackLabels(Fingerprint *fingerprint, const BoltValue *labels)
{
    if (!labels || labels->type != BOLT_LIST) {
        packListHeader(&fingerprint->canonical, 0);
        return;
    }
    uint32_t count = labels->as.list.count;
    size_t start = fingerprintScratchPush(fingerprint, count);
    uint32_t stringCount = 0;
    for (uint32_t labelIndex = 0; labelIndex < count; labelIndex++) {
        if (labels->as.list.items[labelIndex].type == BOLT_STRING)
            fingerprint->sortScratch[start + stringCount++] = &labels->as.list.items[labelIndex];
    }
    if (stringCount > 1)
        qsort(fingerprint->sortScratch + start, stringCount, sizeof(void *), fingerprintCompareStrings);
    packListHeader(&fingerprint->canonical, stringCount);
    for (uint32_t labelIndex = 0; labelIndex < stringCount; labelIndex++) {
        const BoltValue *label = fingerprint->sortScratch[start + labelIndex];
        packString(&fingerprint->canonical, label->as.string.data, label->as.string.length);
    }
    fingerprint->sortScratchLength = start;
}

static void fingerprintPackProperties(Fingerprint *fingerprint, const BoltValue *properties)
{
    if (!properties || properties->type != BOLT_MAP) {
        packMapHeader(&fingerprint->canonical, 0);
        return;
    }
    fingerprintPackMap(fingerprint, properties);
}

/* ---- sums and the public API ------------------------------------------ */

static void fingerprintSumAdd(FingerprintSum *sum, const uint8_t hash[FINGERPRINT_HASH_LENGTH])
{
    uint64_t high = 0;
    uint64_t low = 0;
    for (int byteIndex = 0; byteIndex < 8; byteIndex++) {
        high = (high << 8) | hash[byteIndex];
        low = (low << 8) | hash[8 + byteIndex];
    }
    uint64_t previousLow = sum->low;
    sum->low += low;
    sum->high += high + (sum->low < previousLow ? 1 : 0);
}

static void fingerprintDigest(Fingerprint *fingerprint, uint8_t hash[FINGERPRINT_HASH_LENGTH])
{
    uint8_t digest[SHA256_DIGEST_LENGTH];
    SHA256(fingerprint->canonical.data, fingerprint->canonical.length, digest);
    memcpy(hash, digest, FINGERPRINT_HASH_LENGTH);
}

ErrCode fingerprintAddNode(Fingerprint *fingerprint, int64_t key, const BoltValue *labels,
                           const BoltValue *properties)
{
    bufferClear(&fingerprint->canonical);
    fingerprintPackLabels(fingerprint, labels);
    fingerprintPackProperties(fingerprint, properties);
    uint8_t hash[FINGERPRINT_HASH_LENGTH];
    fingerprintDigest(fingerprint, hash);
    /* A repeated key (never in a valid archive) keeps the latest content. */
    if (keyTablePut(fingerprint->nodeHashes, key, hash, true) == KEYTABLE_FAILED) {
        ErrCode code = errLast()->code;
        errAddContext("keeping the node hashes of the content fingerprint");
        return code;
    }
    fingerprintSumAdd(&fingerprint->nodeSum, hash);
    fingerprint->nodeCount++;
    return ERR_OK;
}

ErrCode fingerprintAddRelationship(Fingerprint *fingerprint, int64_t startKey, int64_t endKey,
                                   const char *type, uint32_t typeLength,
                                   const BoltValue *properties)
{
    uint8_t *startHash = fingerprint->lookedUp[0];
    uint8_t *endHash = fingerprint->lookedUp[1];
    bool startFound = keyTableGet(fingerprint->nodeHashes, startKey, startHash);
    if (!startFound && keyTableFailed(fingerprint->nodeHashes))
        return errLast()->code; /* the scratch file failed, not the archive */
    if (!startFound)
        return errSet(BACKUP_CORRUPTED,
                      "relationship of type %.*s starts at node %lld, which is not in the graph",
                      (int)typeLength, type, (long long)startKey);
    bool endFound = keyTableGet(fingerprint->nodeHashes, endKey, endHash);
    if (!endFound && keyTableFailed(fingerprint->nodeHashes))
        return errLast()->code; /* the scratch file failed, not the archive */
    if (!endFound)
        return errSet(BACKUP_CORRUPTED,
                      "relationship of type %.*s ends at node %lld, which is not in the graph",
                      (int)typeLength, type, (long long)endKey);
    bufferClear(&fingerprint->canonical);
    packString(&fingerprint->canonical, type, typeLength);
    fingerprintPackProperties(fingerprint, properties);
    bufferAppend(&fingerprint->canonical, startHash, FINGERPRINT_HASH_LENGTH);
    bufferAppend(&fingerprint->canonical, endHash, FINGERPRINT_HASH_LENGTH);
    uint8_t hash[FINGERPRINT_HASH_LENGTH];
    fingerprintDigest(fingerprint, hash);
    fingerprintSumAdd(&fingerprint->relationshipSum, hash);
    fingerprint->relationshipCount++;
    return ERR_OK;
}

uint64_t fingerprintNodeCount(const Fingerprint *fingerprint) { return fingerprint->nodeCount; }

uint64_t fingerprintRelationshipCount(const Fingerprint *fingerprint)
{
    return fingerprint->relationshipCount;
}

void fingerprintHex(const Fingerprint *fingerprint, char out[66])
{
    snprintf(out, 66, "%016llx%016llx:%016llx%016llx", (unsigned long long)fingerprint->nodeSum.high,
             (unsigned long long)fingerprint->nodeSum.low,
             (unsigned long long)fingerprint->relationshipSum.high,
             (unsigned long long)fingerprint->relationshipSum.low);
}
