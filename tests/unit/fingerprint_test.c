/* Fingerprint: equal exactly for equal content, whatever the ids and orders. */
#include "graph/fingerprint.h"

#include "common/spill_array.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include <math.h>

static BoltValue testLabels(Arena *arena, uint32_t count, ...)
{
    BoltValue labels = boltList(arena, count);
    va_list args;
    va_start(args, count);
    for (uint32_t labelIndex = 0; labelIndex < count; labelIndex++)
        labels.as.list.items[labelIndex] = boltString(arena, va_arg(args, const char *));
    va_end(args);
    return labels;
}

/* count pairs of (const char *key, BoltValue value). */
static BoltValue testProperties(Arena *arena, uint32_t count, ...)
{
    BoltValue properties = boltMap(arena, count);
    va_list args;
    va_start(args, count);
    for (uint32_t entryIndex = 0; entryIndex < count; entryIndex++) {
        const char *key = va_arg(args, const char *);
        BoltValue value = va_arg(args, BoltValue);
        boltMapSet(arena, &properties, entryIndex, key, value);
    }
    va_end(args);
    return properties;
}

static void hexOf(Fingerprint *fingerprint, char out[66]) { assert_int_equal(fingerprintHex(fingerprint, out), ERR_OK); }

/* Fingerprint of one node with the given labels and properties. */
static void singleNodeHex(const BoltValue *labels, const BoltValue *properties, char out[66])
{
    Fingerprint *fingerprint = fingerprintNew();
    fingerprintAddNode(fingerprint, 1, labels, properties);
    hexOf(fingerprint, out);
    fingerprintFree(fingerprint);
}

static void testKnownValue(void **state)
{
    (void)state;
    /* Pins the definition: computed independently (Python hashlib over the
     * hand-written PackStream bytes of this graph). */
    Arena *arena = arenaNew(0);
    Fingerprint *fingerprint = fingerprintNew();
    BoltValue labelsA = testLabels(arena, 1, "A");
    BoltValue propsA = testProperties(arena, 1, "x", boltInt(1));
    BoltValue labelsB = testLabels(arena, 1, "B");
    BoltValue propsB = boltMap(arena, 0);
    BoltValue relProps = testProperties(arena, 1, "w", boltFloat(2.5));
    fingerprintAddNode(fingerprint, 7, &labelsA, &propsA);
    fingerprintAddNode(fingerprint, 9, &labelsB, &propsB);
    assert_int_equal(fingerprintAddRelationship(fingerprint, 7, 9, "T", 1, &relProps), ERR_OK);
    char hex[66];
    hexOf(fingerprint, hex);
    assert_string_equal(hex, "155baeb2a3e530ae765c56dadcd616f4:dd2317351998f2a0a18076dc6871c263");
    assert_int_equal(fingerprintNodeCount(fingerprint), 2);
    assert_int_equal(fingerprintRelationshipCount(fingerprint), 1);
    fingerprintFree(fingerprint);
    arenaFree(arena);
}

static void testEmptyGraph(void **state)
{
    (void)state;
    Fingerprint *fingerprint = fingerprintNew();
    char hex[66];
    hexOf(fingerprint, hex);
    assert_int_equal(strlen(hex), 65);
    assert_string_equal(hex, "00000000000000000000000000000000:00000000000000000000000000000000");
    fingerprintFree(fingerprint);
}

/* Builds the same small graph with different ids and insertion orders. */
static void buildGraph(Fingerprint *fingerprint, Arena *arena, bool reversed, int64_t idBase)
{
    BoltValue labelsPerson = testLabels(arena, 2, "Person", "Admin");
    BoltValue labelsPersonSwapped = testLabels(arena, 2, "Admin", "Person");
    BoltValue propsAlice = testProperties(arena, 2, "name", boltString(arena, "Alice"), "age", boltInt(42));
    BoltValue propsAliceSwapped =
        testProperties(arena, 2, "age", boltInt(42), "name", boltString(arena, "Alice"));
    BoltValue labelsCity = testLabels(arena, 1, "City");
    BoltValue propsCity = testProperties(arena, 1, "name", boltString(arena, "Oslo"));
    BoltValue relProps = testProperties(arena, 2, "since", boltInt(2001), "score", boltFloat(0.5));
    BoltValue relPropsSwapped = testProperties(arena, 2, "score", boltFloat(0.5), "since", boltInt(2001));
    int64_t alice = idBase + 1;
    int64_t oslo = idBase + 2;
    if (!reversed) {
        fingerprintAddNode(fingerprint, alice, &labelsPerson, &propsAlice);
        fingerprintAddNode(fingerprint, oslo, &labelsCity, &propsCity);
        assert_int_equal(fingerprintAddRelationship(fingerprint, alice, oslo, "LIVES_IN", 8, &relProps), ERR_OK);
        assert_int_equal(fingerprintAddRelationship(fingerprint, oslo, alice, "HOME_OF", 7, &relProps), ERR_OK);
    } else {
        fingerprintAddNode(fingerprint, oslo, &labelsCity, &propsCity);
        fingerprintAddNode(fingerprint, alice, &labelsPersonSwapped, &propsAliceSwapped);
        assert_int_equal(fingerprintAddRelationship(fingerprint, oslo, alice, "HOME_OF", 7, &relPropsSwapped),
                         ERR_OK);
        assert_int_equal(fingerprintAddRelationship(fingerprint, alice, oslo, "LIVES_IN", 8, &relPropsSwapped),
                         ERR_OK);
    }
}

static void testOrderAndIdInvariance(void **state)
{
    (void)state;
    Arena *arena = arenaNew(0);
    Fingerprint *first = fingerprintNew();
    Fingerprint *second = fingerprintNew();
    buildGraph(first, arena, false, 0);
    buildGraph(second, arena, true, 1000000);
    char firstHex[66], secondHex[66];
    hexOf(first, firstHex);
    hexOf(second, secondHex);
    assert_string_equal(firstHex, secondHex);
    assert_string_not_equal(firstHex,
                            "00000000000000000000000000000000:00000000000000000000000000000000");
    fingerprintFree(first);
    fingerprintFree(second);
    arenaFree(arena);
}

static void testPropertyValueChangesIt(void **state)
{
    (void)state;
    Arena *arena = arenaNew(0);
    BoltValue labels = testLabels(arena, 1, "N");
    BoltValue variants[] = {
        testProperties(arena, 1, "v", boltInt(1)),
        testProperties(arena, 1, "v", boltInt(2)),
        testProperties(arena, 1, "v", boltFloat(1.0)),
        testProperties(arena, 1, "v", boltString(arena, "1")),
        testProperties(arena, 1, "v", boltFloat(0.0)),
        testProperties(arena, 1, "v", boltFloat(-0.0)),
        testProperties(arena, 1, "v", boltBool(true)),
        testProperties(arena, 1, "v", boltNull()),
        testProperties(arena, 1, "w", boltInt(1)),
        testProperties(arena, 0),
        testProperties(arena, 2, "v", boltInt(1), "w", boltInt(1)),
    };
    size_t variantCount = sizeof(variants) / sizeof(variants[0]);
    char hexes[sizeof(variants) / sizeof(variants[0])][66];
    for (size_t variantIndex = 0; variantIndex < variantCount; variantIndex++)
        singleNodeHex(&labels, &variants[variantIndex], hexes[variantIndex]);
    for (size_t left = 0; left < variantCount; left++)
        for (size_t right = left + 1; right < variantCount; right++)
            assert_string_not_equal(hexes[left], hexes[right]);
    arenaFree(arena);
}

static void testLabelsChangeIt(void **state)
{
    (void)state;
    Arena *arena = arenaNew(0);
    BoltValue properties = boltMap(arena, 0);
    BoltValue oneLabel = testLabels(arena, 1, "A");
    BoltValue twoLabels = testLabels(arena, 2, "A", "B");
    BoltValue twoLabelsSwapped = testLabels(arena, 2, "B", "A");
    BoltValue joinedLabel = testLabels(arena, 1, "AB");
    char oneHex[66], twoHex[66], swappedHex[66], joinedHex[66];
    singleNodeHex(&oneLabel, &properties, oneHex);
    singleNodeHex(&twoLabels, &properties, twoHex);
    singleNodeHex(&twoLabelsSwapped, &properties, swappedHex);
    singleNodeHex(&joinedLabel, &properties, joinedHex);
    assert_string_equal(twoHex, swappedHex);
    assert_string_not_equal(oneHex, twoHex);
    assert_string_not_equal(twoHex, joinedHex);
    arenaFree(arena);
}

static void testDuplicatesCount(void **state)
{
    (void)state;
    Arena *arena = arenaNew(0);
    BoltValue labels = testLabels(arena, 1, "N");
    BoltValue properties = testProperties(arena, 1, "v", boltInt(5));
    Fingerprint *once = fingerprintNew();
    Fingerprint *twice = fingerprintNew();
    Fingerprint *none = fingerprintNew();
    fingerprintAddNode(once, 1, &labels, &properties);
    fingerprintAddNode(twice, 1, &labels, &properties);
    fingerprintAddNode(twice, 2, &labels, &properties);
    char onceHex[66], twiceHex[66], noneHex[66];
    hexOf(once, onceHex);
    hexOf(twice, twiceHex);
    hexOf(none, noneHex);
    assert_string_not_equal(onceHex, twiceHex);
    assert_string_not_equal(twiceHex, noneHex); /* XOR would cancel the pair */
    assert_int_equal(fingerprintNodeCount(twice), 2);

    /* A duplicated relationship counts too. */
    assert_int_equal(fingerprintAddRelationship(once, 1, 1, "SELF", 4, NULL), ERR_OK);
    hexOf(once, onceHex);
    assert_int_equal(fingerprintAddRelationship(once, 1, 1, "SELF", 4, NULL), ERR_OK);
    char afterHex[66];
    hexOf(once, afterHex);
    assert_string_not_equal(onceHex, afterHex);
    assert_int_equal(fingerprintRelationshipCount(once), 2);
    fingerprintFree(once);
    fingerprintFree(twice);
    fingerprintFree(none);
    arenaFree(arena);
}

static void testRelationshipContentMatters(void **state)
{
    (void)state;
    Arena *arena = arenaNew(0);
    BoltValue labelsA = testLabels(arena, 1, "A");
    BoltValue labelsB = testLabels(arena, 1, "B");
    BoltValue empty = boltMap(arena, 0);
    BoltValue weighted = testProperties(arena, 1, "w", boltInt(1));
    char hexes[5][66];
    for (int variant = 0; variant < 5; variant++) {
        Fingerprint *fingerprint = fingerprintNew();
        fingerprintAddNode(fingerprint, 1, &labelsA, &empty);
        fingerprintAddNode(fingerprint, 2, &labelsB, &empty);
        ErrCode code = ERR_OK;
        switch (variant) {
        case 0: code = fingerprintAddRelationship(fingerprint, 1, 2, "R", 1, &empty); break;
        case 1: code = fingerprintAddRelationship(fingerprint, 2, 1, "R", 1, &empty); break; /* direction */
        case 2: code = fingerprintAddRelationship(fingerprint, 1, 2, "S", 1, &empty); break; /* type */
        case 3: code = fingerprintAddRelationship(fingerprint, 1, 2, "R", 1, &weighted); break;
        case 4: code = fingerprintAddRelationship(fingerprint, 1, 1, "R", 1, &empty); break; /* endpoint */
        }
        assert_int_equal(code, ERR_OK);
        hexOf(fingerprint, hexes[variant]);
        fingerprintFree(fingerprint);
    }
    for (int left = 0; left < 5; left++) {
        /* The node half is the same; the relationship half differs. */
        assert_memory_equal(hexes[left], hexes[0], 33);
        for (int right = left + 1; right < 5; right++)
            assert_string_not_equal(hexes[left] + 33, hexes[right] + 33);
    }
    arenaFree(arena);
}

static void testOrphanDetected(void **state)
{
    (void)state;
    Arena *arena = arenaNew(0);
    BoltValue labels = testLabels(arena, 1, "A");
    BoltValue empty = boltMap(arena, 0);
    Fingerprint *fingerprint = fingerprintNew();
    fingerprintAddNode(fingerprint, 10, &labels, &empty);
    errClear();
    assert_int_equal(fingerprintAddRelationship(fingerprint, 10, 77, "KNOWS", 5, &empty), BACKUP_CORRUPTED);
    assert_non_null(strstr(errLast()->reason, "77"));
    assert_int_equal(fingerprintAddRelationship(fingerprint, 78, 10, "KNOWS", 5, &empty), BACKUP_CORRUPTED);
    assert_non_null(strstr(errLast()->reason, "78"));
    assert_int_equal(fingerprintRelationshipCount(fingerprint), 0);
    char hex[66];
    hexOf(fingerprint, hex);
    assert_string_equal(hex + 33, "00000000000000000000000000000000");
    fingerprintFree(fingerprint);
    arenaFree(arena);
}

/* A graph whose node keys mix every case of the node table: a dense run from
 * 0, a second dense run far away, negative keys, both int64 extremes and
 * scattered keys; relationships between pseudo-random endpoints. */
static void buildMixedGraph(Fingerprint *fingerprint, Arena *arena)
{
    BoltValue labels = testLabels(arena, 2, "Person", "N");
    const int64_t denseCount = 30000;
    int64_t keys[30000 + 3000];
    size_t keyCount = 0;
    for (int64_t index = 0; index < denseCount; index++)
        keys[keyCount++] = index;
    for (int64_t index = 0; index < 1000; index++) {
        keys[keyCount++] = 5000000000LL + index;                  /* a far dense run */
        keys[keyCount++] = -1 - index * 3;                        /* negative */
        keys[keyCount++] = index == 0 ? INT64_MIN : index == 1 ? INT64_MAX : index * 982451653LL; /* scattered */
    }
    for (size_t index = 0; index < keyCount; index++) {
        arenaReset(arena);
        labels = testLabels(arena, 2, "Person", "N");
        BoltValue properties = testProperties(arena, 2, "i", boltInt((int64_t)index), "name",
                                              boltString(arena, index % 2 ? "odd" : "even"));
        assert_int_equal(fingerprintAddNode(fingerprint, keys[index], &labels, &properties), ERR_OK);
    }
    uint64_t seed = 42;
    for (size_t index = 0; index < 3 * keyCount; index++) {
        seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
        int64_t startKey = keys[(seed >> 33) % keyCount];
        int64_t endKey = keys[(seed >> 13) % keyCount];
        arenaReset(arena);
        BoltValue properties = testProperties(arena, 1, "w", boltInt((int64_t)index));
        assert_int_equal(fingerprintAddRelationship(fingerprint, startKey, endKey, "LINKS", 5, &properties),
                         ERR_OK);
    }
}

/* The value computed by the implementation before the node table became a
 * dense array (a hash table of 24-byte slots): archives carry it, so it must
 * not change, in memory or spilled to a scratch file. */
#define MIXED_GRAPH_FINGERPRINT "ba0777d56152c38f52136fc74644424e:516527a70f9a1e1d4d056ea9946d6b58"

static void testSameValueAsBeforeInMemoryAndSpilled(void **state)
{
    (void)state;
    Arena *arena = arenaNew(0);
    Fingerprint *inMemory = fingerprintNew();
    buildMixedGraph(inMemory, arena);
    char inMemoryHex[66];
    hexOf(inMemory, inMemoryHex);
    fingerprintFree(inMemory);

    spillConfigure(NULL, 64 << 10, 16 << 10); /* spill past 64 KB, 16 KB resident */
    Fingerprint *spilled = fingerprintNew();
    buildMixedGraph(spilled, arena);
    char spilledHex[66];
    hexOf(spilled, spilledHex);
    assert_int_equal(fingerprintNodeCount(spilled), 33000);
    fingerprintFree(spilled);
    spillConfigure(NULL, 0, 0);

    assert_string_equal(inMemoryHex, MIXED_GRAPH_FINGERPRINT);
    assert_string_equal(spilledHex, MIXED_GRAPH_FINGERPRINT);
    arenaFree(arena);
}

/* Spilled, with so small a budget that the relationships' join sorts in
 * about a thousand runs: the same value again. */
static void testSpilledJoinInManyRuns(void **state)
{
    (void)state;
    Arena *arena = arenaNew(0);
    spillConfigure(NULL, 64 << 10, 4 << 10); /* 2 KB per sort: 128 endpoints a run */
    Fingerprint *spilled = fingerprintNew();
    buildMixedGraph(spilled, arena);
    char spilledHex[66];
    hexOf(spilled, spilledHex);
    assert_int_equal(fingerprintRelationshipCount(spilled), 99000);
    fingerprintFree(spilled);
    spillConfigure(NULL, 0, 0);
    assert_string_equal(spilledHex, MIXED_GRAPH_FINGERPRINT);
    arenaFree(arena);
}

/* Adds nodes 0..count-1 (content from the index) and, for every node, a
 * relationship to a pseudo-random one. */
static void addChain(Fingerprint *fingerprint, Arena *arena, int64_t first, int64_t count, int64_t nodeLimit)
{
    for (int64_t index = first; index < first + count; index++) {
        arenaReset(arena);
        BoltValue labels = testLabels(arena, 1, "C");
        BoltValue properties = testProperties(arena, 1, "i", boltInt(index));
        assert_int_equal(fingerprintAddNode(fingerprint, index, &labels, &properties), ERR_OK);
    }
    for (int64_t index = first; index < first + count; index++) {
        arenaReset(arena);
        BoltValue properties = testProperties(arena, 1, "w", boltString(arena, index % 3 ? "x" : "a longer value"));
        int64_t endKey = (index * 7919 + 13) % nodeLimit;
        assert_int_equal(fingerprintAddRelationship(fingerprint, index, endKey, "R", 1, &properties), ERR_OK);
    }
}

/* Nodes after relationships, the value asked half way and again at the
 * end, an orphan among the deferred relationships: all as in memory. */
static void testSpilledInterleavedAndAskedTwice(void **state)
{
    (void)state;
    Arena *arena = arenaNew(0);
    char halfHex[2][66], fullHex[2][66];
    for (int spilled = 0; spilled < 2; spilled++) {
        if (spilled)
            spillConfigure(NULL, 64 << 10, 8 << 10);
        Fingerprint *fingerprint = fingerprintNew();
        addChain(fingerprint, arena, 0, 10000, 10000);
        hexOf(fingerprint, halfHex[spilled]);
        /* The second half's relationships reach back into the first. */
        addChain(fingerprint, arena, 10000, 10000, 20000);
        BoltValue none = testProperties(arena, 0);
        assert_int_equal(fingerprintAddRelationship(fingerprint, 5, 20000, "R", 1, &none), BACKUP_CORRUPTED);
        assert_int_equal(fingerprintAddRelationship(fingerprint, -5, 5, "R", 1, &none), BACKUP_CORRUPTED);
        hexOf(fingerprint, fullHex[spilled]);
        assert_int_equal(fingerprintRelationshipCount(fingerprint), 20000);
        fingerprintFree(fingerprint);
        spillConfigure(NULL, 0, 0);
    }
    assert_string_equal(halfHex[1], halfHex[0]);
    assert_string_equal(fullHex[1], fullHex[0]);
    assert_string_not_equal(halfHex[0], fullHex[0]);
    arenaFree(arena);
}

static void testManyNodesAndExtremeKeys(void **state)
{
    (void)state;
    Arena *arena = arenaNew(0);
    BoltValue labels = testLabels(arena, 1, "N");
    Fingerprint *forward = fingerprintNew();
    Fingerprint *backward = fingerprintNew();
    const int64_t nodeCount = 20000;
    for (int64_t nodeIndex = 0; nodeIndex < nodeCount; nodeIndex++) {
        BoltValue properties = testProperties(arena, 1, "i", boltInt(nodeIndex));
        fingerprintAddNode(forward, nodeIndex, &labels, &properties);
        /* Other keys, including both int64 extremes, for the same content. */
        int64_t otherKey = nodeIndex == 0 ? INT64_MIN : nodeIndex == 1 ? INT64_MAX : -nodeIndex * 7919;
        fingerprintAddNode(backward, otherKey, &labels, &properties);
    }
    for (int64_t nodeIndex = 0; nodeIndex + 1 < nodeCount; nodeIndex++) {
        assert_int_equal(fingerprintAddRelationship(forward, nodeIndex, nodeIndex + 1, "NEXT", 4, NULL), ERR_OK);
        int64_t fromKey = nodeIndex == 0 ? INT64_MIN : nodeIndex == 1 ? INT64_MAX : -nodeIndex * 7919;
        int64_t nextIndex = nodeIndex + 1;
        int64_t toKey = nextIndex == 1 ? INT64_MAX : -nextIndex * 7919;
        assert_int_equal(fingerprintAddRelationship(backward, fromKey, toKey, "NEXT", 4, NULL), ERR_OK);
    }
    char forwardHex[66], backwardHex[66];
    hexOf(forward, forwardHex);
    hexOf(backward, backwardHex);
    assert_string_equal(forwardHex, backwardHex);
    assert_int_equal(fingerprintNodeCount(backward), nodeCount);
    fingerprintFree(forward);
    fingerprintFree(backward);
    arenaFree(arena);
}

static void testNestedAndTemporalValues(void **state)
{
    (void)state;
    Arena *arena = arenaNew(0);
    BoltValue labels = testLabels(arena, 0);
    /* Maps never appear in Neo4j properties, but the canonical form still
     * sorts them at every depth. */
    BoltValue inner = testProperties(arena, 2, "x", boltInt(1), "y", boltInt(2));
    BoltValue innerSwapped = testProperties(arena, 2, "y", boltInt(2), "x", boltInt(1));
    BoltValue outer = testProperties(arena, 2, "m", inner, "a", boltInt(0));
    BoltValue outerSwapped = testProperties(arena, 2, "a", boltInt(0), "m", innerSwapped);
    char outerHex[66], swappedHex[66];
    singleNodeHex(&labels, &outer, outerHex);
    singleNodeHex(&labels, &outerSwapped, swappedHex);
    assert_string_equal(outerHex, swappedHex);

    /* A Date is not the Integer of its days, and list order matters. */
    BoltValue date = boltStruct(arena, BOLT_TAG_DATE, 1);
    date.as.structure.fields[0] = boltInt(19000);
    BoltValue dateProps = testProperties(arena, 1, "d", date);
    BoltValue intProps = testProperties(arena, 1, "d", boltInt(19000));
    BoltValue list12 = boltList(arena, 2);
    list12.as.list.items[0] = boltInt(1);
    list12.as.list.items[1] = boltInt(2);
    BoltValue list21 = boltList(arena, 2);
    list21.as.list.items[0] = boltInt(2);
    list21.as.list.items[1] = boltInt(1);
    BoltValue list12Props = testProperties(arena, 1, "l", list12);
    BoltValue list21Props = testProperties(arena, 1, "l", list21);
    BoltValue nanProps = testProperties(arena, 1, "f", boltFloat(NAN));
    BoltValue infProps = testProperties(arena, 1, "f", boltFloat(INFINITY));
    char dateHex[66], intHex[66], list12Hex[66], list21Hex[66], nanHex[66], nanAgainHex[66], infHex[66];
    singleNodeHex(&labels, &dateProps, dateHex);
    singleNodeHex(&labels, &intProps, intHex);
    singleNodeHex(&labels, &list12Props, list12Hex);
    singleNodeHex(&labels, &list21Props, list21Hex);
    singleNodeHex(&labels, &nanProps, nanHex);
    singleNodeHex(&labels, &nanProps, nanAgainHex);
    singleNodeHex(&labels, &infProps, infHex);
    assert_string_not_equal(dateHex, intHex);
    assert_string_not_equal(list12Hex, list21Hex);
    assert_string_equal(nanHex, nanAgainHex); /* NaN equals itself by bit pattern */
    assert_string_not_equal(nanHex, infHex);
    arenaFree(arena);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(testKnownValue),
        cmocka_unit_test(testEmptyGraph),
        cmocka_unit_test(testOrderAndIdInvariance),
        cmocka_unit_test(testPropertyValueChangesIt),
        cmocka_unit_test(testLabelsChangeIt),
        cmocka_unit_test(testDuplicatesCount),
        cmocka_unit_test(testRelationshipContentMatters),
        cmocka_unit_test(testOrphanDetected),
        cmocka_unit_test(testManyNodesAndExtremeKeys),
        cmocka_unit_test(testSameValueAsBeforeInMemoryAndSpilled),
        cmocka_unit_test(testSpilledJoinInManyRuns),
        cmocka_unit_test(testSpilledInterleavedAndAskedTwice),
        cmocka_unit_test(testNestedAndTemporalValues),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
