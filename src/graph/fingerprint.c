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
 * past the spill threshold lives in a scratch file behind a bounded block
 * cache; scattered or negative keys in a hash table of 24-byte slots.
 *
 * Relationships: while the node table is in memory, each one is hashed as it
 * streams, with its endpoints' hashes looked up at once. Once the table has
 * spilled, such lookups would be random reads of the scratch file (a
 * relationship's end node is anywhere in the graph), so the relationship is
 * deferred instead (a sort-merge join):
 *   - its canonical type and properties go to a sequential scratch stream,
 *     in arrival order (sequence number s);
 *   - (endpoint key, 2s + side) records go to an external sort; but a start
 *     key at or past the highest one so far is looked up at once and its
 *     hash goes to the stream (archives and the target's scan list
 *     relationships by start node: the table is then read in order);
 * at fingerprintHex, the sort yields the keys in order, so the node table is
 * read front to back (a few cached blocks suffice: its cache shrinks for the
 * join and its memory goes to the sorts), giving (2s + side, nodeHash)
 * records; a second sort puts those in sequence order, next to the stream,
 * and each relationship is hashed exactly as it would have been at once.
 * Sums commute, so the fingerprint is the same. That endpoints exist is
 * still checked on arrival, from the table's in-memory presence bits. */
#include "graph/fingerprint.h"

#include "bolt/packstream.h"
#include "common/buffer.h"
#include "common/key_table.h"
#include "common/mem.h"
#include "common/sha256.h"
#include "common/spill_sort.h"


#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FINGERPRINT_HASH_LENGTH 16
/* The node table's cache while the join reads it in key order. */
#define FINGERPRINT_JOIN_CACHE_BYTES ((size_t)64 << 10)
#define FINGERPRINT_STREAM_BUFFER_BYTES ((size_t)64 << 10)
#define FINGERPRINT_SIGN_BIT (UINT64_C(1) << 63)
/* In a stream entry's length: the start node's hash follows the bytes. */
#define FINGERPRINT_START_INLINE (UINT32_C(1) << 31)

/* Join records: a key (sort order) and a payload. */
typedef struct {
    uint64_t key; /* endpoint node key with the sign bit flipped (keeps int64 order) */
    uint64_t side; /* 2 * sequence + (0 start, 1 end) */
} FingerprintEndpoint;

typedef struct {
    uint64_t side; /* as above: the sort key of the second sort */
    uint8_t hash[FINGERPRINT_HASH_LENGTH];
} FingerprintEndpointHash;

/* Relationships waiting for the join (node table spilled). */
typedef struct {
    SpillStream *canonical; /* per relationship: uint32 length, canonical type and properties */
    SpillSort *endpoints;   /* FingerprintEndpoint */
    uint64_t count;
    size_t tableCacheBytes; /* the node table's cache before the join took it */
    ErrCode failed;         /* a deferral failed: the join would be wrong */
    /* Start keys that never go down (archives and the target's scan list
     * relationships by start node) are read at once, in order. */
    bool haveHighestStart;
    int64_t highestStart;
} FingerprintDeferred;

/* A 128-bit unsigned sum kept as two words (big-endian when printed). */
typedef struct {
    uint64_t high;
    uint64_t low;
} FingerprintSum;

struct Fingerprint {
    KeyTable *nodeHashes; /* node key -> nodeHash, for the relationships */
    uint8_t lookedUp[2][FINGERPRINT_HASH_LENGTH]; /* endpoint hashes of the current relationship */

    FingerprintDeferred deferred; /* count 0: none */

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
    spillStreamFree(fingerprint->deferred.canonical);
    spillSortFree(fingerprint->deferred.endpoints);
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
    uint8_t digest[SHA256_BYTES];
    sha256Digest(fingerprint->canonical.data, fingerprint->canonical.length, digest);
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

/* The relationship hash from its canonical type and properties (in
 * fingerprint->canonical) and its endpoints' hashes. */
static void fingerprintAddRelationshipHash(Fingerprint *fingerprint, const uint8_t *startHash,
                                           const uint8_t *endHash)
{
    bufferAppend(&fingerprint->canonical, startHash, FINGERPRINT_HASH_LENGTH);
    bufferAppend(&fingerprint->canonical, endHash, FINGERPRINT_HASH_LENGTH);
    uint8_t hash[FINGERPRINT_HASH_LENGTH];
    fingerprintDigest(fingerprint, hash);
    fingerprintSumAdd(&fingerprint->relationshipSum, hash);
}

static ErrCode fingerprintMissingEndpoint(const char *type, uint32_t typeLength, int64_t key, bool start)
{
    return errSet(BACKUP_CORRUPTED, "relationship of type %.*s %s at node %lld, which is not in the graph",
                  (int)typeLength, type, start ? "starts" : "ends", (long long)key);
}

/* Whether the join is cheaper than looking endpoints up at once: when the
 * table has spilled and its cache holds less than half of it, so that most
 * lookups of a random endpoint would be a read of the scratch file (about
 * 3 us each against about 1-2 us per relationship for the join). */
static bool fingerprintJoinPays(const Fingerprint *fingerprint)
{
    return keyTableSpilled(fingerprint->nodeHashes) &&
           keyTableBytes(fingerprint->nodeHashes) > 2 * keyTableCacheBytes(fingerprint->nodeHashes);
}

/* Queues the relationship whose canonical type and properties are in
 * fingerprint->canonical for the join (see the top of this file). */
static ErrCode fingerprintDefer(Fingerprint *fingerprint, int64_t startKey, int64_t endKey)
{
    FingerprintDeferred *deferred = &fingerprint->deferred;
    if (deferred->failed)
        return errSet(deferred->failed, "the content fingerprint's scratch files failed before");
    if (!deferred->endpoints) {
        /* The table is written no more (nodes come first) and read only by
         * the join: its cache's memory goes to the sorts meanwhile. */
        deferred->tableCacheBytes = keyTableCacheBytes(fingerprint->nodeHashes);
        ErrCode code = keyTableSetCacheBytes(fingerprint->nodeHashes, FINGERPRINT_JOIN_CACHE_BYTES);
        if (code != ERR_OK)
            return code;
        size_t sortBytes = deferred->tableCacheBytes / 2;
        deferred->canonical = spillStreamNew(FINGERPRINT_STREAM_BUFFER_BYTES);
        deferred->endpoints = spillSortNew(sizeof(FingerprintEndpoint), sortBytes);
    }
    if (fingerprint->canonical.length >= FINGERPRINT_START_INLINE)
        return errSet(ERR_INTERNAL, "a relationship of %zu bytes is too large to fingerprint",
                      fingerprint->canonical.length);
    /* A start key at or past the highest so far is read now: in an archive
     * sorted by start node that is every one, and the table is read in
     * order; any other waits for the sort. */
    bool startInline = !deferred->haveHighestStart || startKey >= deferred->highestStart;
    uint8_t startHash[FINGERPRINT_HASH_LENGTH];
    if (startInline) {
        if (!keyTableGet(fingerprint->nodeHashes, startKey, startHash))
            return keyTableFailed(fingerprint->nodeHashes)
                       ? errLast()->code
                       : errSet(ERR_INTERNAL, "a node hash of the content fingerprint vanished");
        deferred->haveHighestStart = true;
        deferred->highestStart = startKey;
    }
    uint32_t length = (uint32_t)fingerprint->canonical.length;
    uint32_t header = length | (startInline ? FINGERPRINT_START_INLINE : 0);
    ErrCode code = spillStreamWrite(deferred->canonical, &header, sizeof(header));
    if (code == ERR_OK)
        code = spillStreamWrite(deferred->canonical, fingerprint->canonical.data, length);
    if (code == ERR_OK && startInline)
        code = spillStreamWrite(deferred->canonical, startHash, sizeof(startHash));
    FingerprintEndpoint start = {(uint64_t)startKey ^ FINGERPRINT_SIGN_BIT, 2 * deferred->count};
    FingerprintEndpoint end = {(uint64_t)endKey ^ FINGERPRINT_SIGN_BIT, 2 * deferred->count + 1};
    if (code == ERR_OK && !startInline)
        code = spillSortAdd(deferred->endpoints, &start);
    if (code == ERR_OK)
        code = spillSortAdd(deferred->endpoints, &end);
    if (code != ERR_OK) {
        /* The stream and the sort may now disagree: no value from them. */
        deferred->failed = code;
        errAddContext("deferring a relationship of the content fingerprint");
        return code;
    }
    deferred->count++;
    return ERR_OK;
}

ErrCode fingerprintAddRelationship(Fingerprint *fingerprint, int64_t startKey, int64_t endKey,
                                   const char *type, uint32_t typeLength,
                                   const BoltValue *properties)
{
    /* Presence is known from memory even when the table has spilled. */
    if (!keyTableGet(fingerprint->nodeHashes, startKey, NULL))
        return fingerprintMissingEndpoint(type, typeLength, startKey, true);
    if (!keyTableGet(fingerprint->nodeHashes, endKey, NULL))
        return fingerprintMissingEndpoint(type, typeLength, endKey, false);
    bufferClear(&fingerprint->canonical);
    packString(&fingerprint->canonical, type, typeLength);
    fingerprintPackProperties(fingerprint, properties);
    if (fingerprint->deferred.endpoints || fingerprintJoinPays(fingerprint)) {
        ErrCode code = fingerprintDefer(fingerprint, startKey, endKey);
        if (code != ERR_OK)
            return code;
        fingerprint->relationshipCount++;
        return ERR_OK;
    }
    uint8_t *startHash = fingerprint->lookedUp[0];
    uint8_t *endHash = fingerprint->lookedUp[1];
    if (!keyTableGet(fingerprint->nodeHashes, startKey, startHash) ||
        !keyTableGet(fingerprint->nodeHashes, endKey, endHash))
        return keyTableFailed(fingerprint->nodeHashes)
                   ? errLast()->code /* the scratch file failed, not the archive */
                   : errSet(ERR_INTERNAL, "a node hash of the content fingerprint vanished");
    fingerprintAddRelationshipHash(fingerprint, startHash, endHash);
    fingerprint->relationshipCount++;
    return ERR_OK;
}

/* The join of the deferred relationships (see the top of this file). */
static ErrCode fingerprintJoin(Fingerprint *fingerprint)
{
    FingerprintDeferred *deferred = &fingerprint->deferred;
    size_t sortBytes = deferred->tableCacheBytes / 2;
    SpillSort *hashes = spillSortNew(sizeof(FingerprintEndpointHash), sortBytes);
    ErrCode code = spillSortFinish(deferred->endpoints);
    /* Pass 1: endpoints in key order, so the node table is read in order. */
    while (code == ERR_OK) {
        FingerprintEndpoint endpoint;
        bool more = false;
        code = spillSortNext(deferred->endpoints, &endpoint, &more);
        if (code != ERR_OK || !more)
            break;
        FingerprintEndpointHash found = {.side = endpoint.side};
        if (!keyTableGet(fingerprint->nodeHashes, (int64_t)(endpoint.key ^ FINGERPRINT_SIGN_BIT), found.hash)) {
            code = keyTableFailed(fingerprint->nodeHashes)
                       ? errLast()->code
                       : errSet(ERR_INTERNAL, "a node hash of the content fingerprint vanished");
            break;
        }
        code = spillSortAdd(hashes, &found);
    }
    spillSortFree(deferred->endpoints); /* its memory goes to the second sort's merge */
    deferred->endpoints = NULL;
    if (code == ERR_OK)
        code = spillSortFinish(hashes);
    if (code == ERR_OK)
        code = spillStreamRewind(deferred->canonical);
    /* Pass 2: the endpoint hashes of relationship s (the start's, when it
     * was read at once, from the stream), next to its bytes. */
    for (uint64_t sequence = 0; code == ERR_OK && sequence < deferred->count; sequence++) {
        uint32_t header = 0;
        code = spillStreamRead(deferred->canonical, &header, sizeof(header));
        if (code != ERR_OK)
            break;
        uint32_t length = header & ~FINGERPRINT_START_INLINE;
        bufferClear(&fingerprint->canonical);
        bufferReserve(&fingerprint->canonical, length);
        code = spillStreamRead(deferred->canonical, fingerprint->canonical.data, length);
        if (code != ERR_OK)
            break;
        fingerprint->canonical.length = length;
        FingerprintEndpointHash start = {.side = 2 * sequence};
        FingerprintEndpointHash end;
        bool more = true;
        if (header & FINGERPRINT_START_INLINE)
            code = spillStreamRead(deferred->canonical, start.hash, sizeof(start.hash));
        else
            code = spillSortNext(hashes, &start, &more);
        if (code == ERR_OK && more)
            code = spillSortNext(hashes, &end, &more);
        if (code == ERR_OK && (!more || start.side != 2 * sequence || end.side != 2 * sequence + 1))
            code = errSet(ERR_INTERNAL, "the content fingerprint's join lost relationship %llu",
                          (unsigned long long)sequence);
        if (code != ERR_OK)
            break;
        fingerprintAddRelationshipHash(fingerprint, start.hash, end.hash);
    }
    spillSortFree(hashes);
    spillStreamFree(deferred->canonical);
    deferred->canonical = NULL;
    deferred->count = 0;
    deferred->haveHighestStart = false;
    /* The table gets its cache back, for nodes or relationships to come. */
    if (code == ERR_OK)
        code = keyTableSetCacheBytes(fingerprint->nodeHashes, deferred->tableCacheBytes);
    if (code != ERR_OK)
        errAddContext("joining the relationships of the content fingerprint with their nodes");
    return code;
}

uint64_t fingerprintNodeCount(const Fingerprint *fingerprint) { return fingerprint->nodeCount; }

uint64_t fingerprintRelationshipCount(const Fingerprint *fingerprint)
{
    return fingerprint->relationshipCount;
}

ErrCode fingerprintHex(Fingerprint *fingerprint, char out[66])
{
    if (fingerprint->deferred.failed) {
        snprintf(out, 66, "(not computed: the join failed)");
        return errSet(fingerprint->deferred.failed, "the content fingerprint's scratch files failed");
    }
    if (fingerprint->deferred.endpoints) {
        ErrCode code = fingerprintJoin(fingerprint);
        if (code != ERR_OK) {
            snprintf(out, 66, "(not computed: the join failed)");
            return code;
        }
    }
    snprintf(out, 66, "%016llx%016llx:%016llx%016llx", (unsigned long long)fingerprint->nodeSum.high,
             (unsigned long long)fingerprint->nodeSum.low,
             (unsigned long long)fingerprint->relationshipSum.high,
             (unsigned long long)fingerprint->relationshipSum.low);
    return ERR_OK;
}
