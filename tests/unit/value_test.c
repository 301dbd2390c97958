/* Value model and arena: allocation rules, lookups, copy, equality,
 * rendering and placeholder detection. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bolt/packstream.h"
#include "bolt/value.h"

static int arenaSetup(void **state)
{
    *state = arenaNew(0);
    return 0;
}

static int arenaTeardown(void **state)
{
    arenaFree(*state);
    return 0;
}

/* ---- arena ------------------------------------------------------------- */

static void testArenaAlignmentAndIsolation(void **state)
{
    (void)state;
    Arena *arena = arenaNew(1024);
    uint8_t *previous[200];
    for (size_t index = 0; index < 200; index++) {
        size_t size = 1 + index % 37;
        uint8_t *memory = arenaAlloc(arena, size);
        assert_non_null(memory);
        assert_int_equal((uintptr_t)memory % 16, 0);
        memset(memory, (int)index, size); /* ASan catches overlap or overrun */
        previous[index] = memory;
    }
    for (size_t index = 0; index < 200; index++)
        assert_int_equal(previous[index][0], (uint8_t)index);
    assert_true(arenaBytesUsed(arena) >= 200 * 16);
    arenaFree(arena);
}

static void testArenaBigAllocationsAndReset(void **state)
{
    (void)state;
    Arena *arena = arenaNew(4096);
    uint8_t *small = arenaAlloc(arena, 8);
    /* bigger than a block: gets its own, and the small block keeps serving */
    uint8_t *big = arenaAlloc(arena, 1u << 20);
    assert_int_equal((uintptr_t)big % 16, 0);
    memset(big, 0xAB, 1u << 20);
    uint8_t *next = arenaAlloc(arena, 8);
    assert_ptr_equal(next, small + 16);
    assert_int_equal(arenaBytesUsed(arena), 16 + (1u << 20) + 16);
    arenaReset(arena);
    assert_int_equal(arenaBytesUsed(arena), 0);
    /* the first block is kept and reused from its start */
    assert_ptr_equal(arenaAlloc(arena, 8), small);
    /* many blocks' worth, then reset again */
    for (int index = 0; index < 1000; index++)
        memset(arenaAlloc(arena, 100), 1, 100);
    arenaReset(arena);
    assert_ptr_equal(arenaAlloc(arena, 1), small);
    arenaFree(arena);
    arenaFree(NULL);
}

static void testArenaStrndupAndZeroSize(void **state)
{
    Arena *arena = *state;
    char *copy = arenaStrndup(arena, "hello world", 5);
    assert_string_equal(copy, "hello");
    char *empty = arenaStrndup(arena, "", 0);
    assert_string_equal(empty, "");
    assert_non_null(arenaAlloc(arena, 0));
}

/* ---- constructors and lookups ----------------------------------------- */

static void testConstructorsAndMapGet(void **state)
{
    Arena *arena = *state;
    assert_int_equal(boltNull().type, BOLT_NULL);
    assert_true(boltBool(true).as.boolean);
    assert_true(boltInt(-5).as.integer == -5);
    assert_true(boltFloat(2.5).as.real == 2.5);
    BoltValue text = boltString(arena, "abc");
    assert_int_equal(text.as.string.length, 3);
    assert_string_equal(text.as.string.data, "abc");
    BoltValue withNul = boltStringN(arena, "a\0b", 3);
    assert_int_equal(withNul.as.string.length, 3);
    assert_int_equal(withNul.as.string.data[2], 'b');
    BoltValue list = boltList(arena, 3);
    assert_int_equal(list.as.list.items[2].type, BOLT_NULL);
    BoltValue structure = boltStruct(arena, BOLT_TAG_DATE, 1);
    assert_int_equal(structure.as.structure.fields[0].type, BOLT_NULL);

    BoltValue map = boltMap(arena, 5);
    boltMapSet(arena, &map, 0, "n", boltInt(1));
    boltMapSet(arena, &map, 1, "s", boltString(arena, "x"));
    boltMapSet(arena, &map, 2, "b", boltBool(true));
    boltMapSet(arena, &map, 3, "n", boltInt(2)); /* duplicate: last wins */
    boltMapSet(arena, &map, 4, "nn", boltNull());
    assert_true(boltMapGet(&map, "n")->as.integer == 2);
    assert_null(boltMapGet(&map, "missing"));
    assert_null(boltMapGet(&map, "")); /* prefix of nothing */
    assert_null(boltMapGet(&list, "n")); /* not a map */
    assert_null(boltMapGet(NULL, "n"));
    assert_true(boltMapGetInt(&map, "n", 0) == 2);
    assert_true(boltMapGetInt(&map, "s", 77) == 77); /* wrong type -> fallback */
    assert_true(boltMapGetInt(&map, "zz", 78) == 78);
    assert_string_equal(boltMapGetString(&map, "s", "fb"), "x");
    assert_string_equal(boltMapGetString(&map, "n", "fb"), "fb");
    assert_null(boltMapGetString(&map, "nn", NULL));
    assert_true(boltMapGetBool(&map, "b", false));
    assert_false(boltMapGetBool(&map, "n", false));
}

/* ---- equality and copy ------------------------------------------------- */

static double fromBits(uint64_t bits)
{
    double number;
    memcpy(&number, &bits, sizeof(number));
    return number;
}

static void testEqualityRules(void **state)
{
    Arena *arena = *state;
    BoltValue nanA = boltFloat(fromBits(0x7FF8000000000001ull));
    BoltValue nanB = boltFloat(fromBits(0x7FF8000000000001ull));
    BoltValue nanC = boltFloat(fromBits(0x7FF8000000000002ull));
    assert_true(boltValueEqual(&nanA, &nanB));
    assert_false(boltValueEqual(&nanA, &nanC));
    BoltValue zero = boltFloat(0.0), negZero = boltFloat(-0.0);
    assert_false(boltValueEqual(&zero, &negZero));
    BoltValue one = boltInt(1), oneFloat = boltFloat(1.0);
    assert_false(boltValueEqual(&one, &oneFloat));

    BoltValue left = boltMap(arena, 2);
    boltMapSet(arena, &left, 0, "a", boltInt(1));
    boltMapSet(arena, &left, 1, "b", boltString(arena, "x"));
    BoltValue right = boltMap(arena, 2);
    boltMapSet(arena, &right, 0, "b", boltString(arena, "x"));
    boltMapSet(arena, &right, 1, "a", boltInt(1));
    assert_true(boltValueEqual(&left, &right)); /* order does not matter */
    boltMapSet(arena, &right, 1, "a", boltInt(2));
    assert_false(boltValueEqual(&left, &right));
    boltMapSet(arena, &right, 1, "c", boltInt(1));
    assert_false(boltValueEqual(&left, &right));
    /* duplicates resolve to the last value */
    BoltValue withDuplicate = boltMap(arena, 3);
    boltMapSet(arena, &withDuplicate, 0, "a", boltInt(9));
    boltMapSet(arena, &withDuplicate, 1, "b", boltString(arena, "x"));
    boltMapSet(arena, &withDuplicate, 2, "a", boltInt(1));
    assert_true(boltValueEqual(&left, &withDuplicate));
    assert_true(boltValueEqual(&withDuplicate, &left));

    BoltValue listA = boltList(arena, 2), listB = boltList(arena, 2);
    listA.as.list.items[0] = boltInt(1);
    listA.as.list.items[1] = boltInt(2);
    listB.as.list.items[0] = boltInt(2);
    listB.as.list.items[1] = boltInt(1);
    assert_false(boltValueEqual(&listA, &listB)); /* order matters for lists */

    BoltValue date = boltStruct(arena, BOLT_TAG_DATE, 1);
    BoltValue localTime = boltStruct(arena, BOLT_TAG_LOCAL_TIME, 1);
    assert_false(boltValueEqual(&date, &localTime));
    BoltValue date2 = boltStruct(arena, BOLT_TAG_DATE, 1);
    assert_true(boltValueEqual(&date, &date2));
    date2.as.structure.fields[0] = boltInt(1);
    assert_false(boltValueEqual(&date, &date2));

    BoltValue textA = boltStringN(arena, "a\0b", 3), textB = boltStringN(arena, "a\0c", 3);
    assert_false(boltValueEqual(&textA, &textB));
    BoltValue bytesA = boltBytes(arena, (const uint8_t *)"ab", 2);
    BoltValue stringAb = boltString(arena, "ab");
    assert_false(boltValueEqual(&bytesA, &stringAb));
}

static void testDeepCopySurvivesSourceArena(void **state)
{
    Arena *target = *state;
    Arena *source = arenaNew(0);
    BoltValue map = boltMap(source, 2);
    BoltValue list = boltList(source, 3);
    list.as.list.items[0] = boltString(source, "item");
    list.as.list.items[1] = boltBytes(source, (const uint8_t *)"\x01\x02", 2);
    BoltValue node = boltStruct(source, BOLT_TAG_NODE, 1);
    node.as.structure.fields[0] = boltFloat(1.5);
    list.as.list.items[2] = node;
    boltMapSet(source, &map, 0, "list", list);
    boltMapSet(source, &map, 1, "name", boltString(source, "n"));
    BoltValue copy = boltValueCopy(target, &map);
    assert_true(boltValueEqual(&copy, &map));
    /* encode the original before freeing it, then compare bytes */
    Buffer originalBytes;
    bufferInit(&originalBytes);
    packValue(&originalBytes, &map);
    arenaFree(source); /* ASan would flag any pointer into it */
    Buffer copyBytes;
    bufferInit(&copyBytes);
    packValue(&copyBytes, &copy);
    assert_int_equal(copyBytes.length, originalBytes.length);
    assert_memory_equal(copyBytes.data, originalBytes.data, copyBytes.length);
    assert_string_equal(boltMapGetString(&copy, "name", ""), "n");
    bufferFree(&originalBytes);
    bufferFree(&copyBytes);
}

/* ---- rendering --------------------------------------------------------- */

static void assertFormat(const BoltValue *value, const char *expected)
{
    char text[512];
    size_t length = boltValueFormat(text, sizeof(text), value);
    if (strcmp(text, expected) != 0)
        fail_msg("formatted '%s', expected '%s'", text, expected);
    assert_int_equal(length, strlen(expected));
}

static BoltValue structOf(Arena *arena, uint8_t tag, uint8_t count, const BoltValue *fields)
{
    BoltValue structure = boltStruct(arena, tag, count);
    for (uint8_t index = 0; index < count; index++)
        structure.as.structure.fields[index] = fields[index];
    return structure;
}

static void testFormatScalars(void **state)
{
    Arena *arena = *state;
    BoltValue value = boltNull();
    assertFormat(&value, "null");
    value = boltBool(true);
    assertFormat(&value, "true");
    value = boltBool(false);
    assertFormat(&value, "false");
    value = boltInt(42);
    assertFormat(&value, "42");
    value = boltInt(INT64_MIN);
    assertFormat(&value, "-9223372036854775808");
    value = boltFloat(1.5);
    assertFormat(&value, "1.5");
    value = boltFloat(1.0);
    assertFormat(&value, "1.0");
    value = boltFloat(0.1);
    assertFormat(&value, "0.1");
    value = boltFloat(-0.0);
    assertFormat(&value, "-0.0");
    value = boltFloat(NAN);
    assertFormat(&value, "NaN");
    value = boltFloat(-INFINITY);
    assertFormat(&value, "-Infinity");
    value = boltFloat(1e300);
    assertFormat(&value, "1e+300");
    value = boltString(arena, "say \"hi\"\\\n\t\x01");
    assertFormat(&value, "\"say \\\"hi\\\"\\\\\\n\\t\\u0001\"");
    value = boltBytes(arena, (const uint8_t *)"\x01\xff", 2);
    assertFormat(&value, "bytes(\"01ff\")");
}

static void testFormatContainers(void **state)
{
    Arena *arena = *state;
    BoltValue list = boltList(arena, 3);
    list.as.list.items[0] = boltInt(1);
    list.as.list.items[1] = boltString(arena, "x");
    list.as.list.items[2] = boltList(arena, 0);
    assertFormat(&list, "[1, \"x\", []]");
    BoltValue map = boltMap(arena, 3);
    boltMapSet(arena, &map, 0, "a", boltInt(1));
    boltMapSet(arena, &map, 1, "two words", boltNull());
    boltMapSet(arena, &map, 2, "back`tick", boltBool(false));
    assertFormat(&map, "{a: 1, `two words`: null, `back``tick`: false}");
    BoltValue empty = boltMap(arena, 0);
    assertFormat(&empty, "{}");
    /* control bytes in names are escaped: one line, no embedded NUL */
    BoltValue oddKeys = boltMap(arena, 2);
    oddKeys.as.map.entries[0].key = boltStringN(arena, "a\0b", 3);
    oddKeys.as.map.entries[0].value = boltInt(1);
    oddKeys.as.map.entries[1].key = boltString(arena, "");
    oddKeys.as.map.entries[1].value = boltInt(2);
    assertFormat(&oddKeys, "{`a\\u0000b`: 1, ``: 2}");
}

static void testFormatTemporal(void **state)
{
    Arena *arena = *state;
    BoltValue value = structOf(arena, BOLT_TAG_DATE, 1, (BoltValue[]){boltInt(0)});
    assertFormat(&value, "date('1970-01-01')");
    value = structOf(arena, BOLT_TAG_DATE, 1, (BoltValue[]){boltInt(19000)});
    assertFormat(&value, "date('2022-01-08')");
    value = structOf(arena, BOLT_TAG_DATE, 1, (BoltValue[]){boltInt(-1)});
    assertFormat(&value, "date('1969-12-31')");
    value = structOf(arena, BOLT_TAG_DATE, 1, (BoltValue[]){boltInt(-719529)});
    assertFormat(&value, "date('-0001-12-31')");
    value = structOf(arena, BOLT_TAG_LOCAL_TIME, 1, (BoltValue[]){boltInt(45296500000000)});
    assertFormat(&value, "localtime('12:34:56.5')");
    value = structOf(arena, BOLT_TAG_TIME, 2, (BoltValue[]){boltInt(3600000000001), boltInt(-5400)});
    assertFormat(&value, "time('01:00:00.000000001-01:30')");
    value = structOf(arena, BOLT_TAG_LOCAL_DATE_TIME, 2, (BoltValue[]){boltInt(-1), boltInt(0)});
    assertFormat(&value, "localdatetime('1969-12-31T23:59:59')");
    /* the bolt-facts example, in its 5.x and legacy forms */
    value = structOf(arena, BOLT_TAG_DATE_TIME, 3, (BoltValue[]){boltInt(4500), boltInt(42), boltInt(3600)});
    assertFormat(&value, "datetime('1970-01-01T02:15:00.000000042+01:00')");
    value = structOf(arena, BOLT_TAG_LEGACY_DATE_TIME, 3, (BoltValue[]){boltInt(8100), boltInt(42), boltInt(3600)});
    assertFormat(&value, "datetime('1970-01-01T02:15:00.000000042+01:00')");
    value = structOf(arena, BOLT_TAG_DATE_TIME, 3, (BoltValue[]){boltInt(0), boltInt(0), boltInt(0)});
    assertFormat(&value, "datetime('1970-01-01T00:00:00Z')");
    value = structOf(arena, BOLT_TAG_DATE_TIME_ZONE_ID, 3,
                     (BoltValue[]){boltInt(4500), boltInt(42), boltString(arena, "Europe/Paris")});
    assertFormat(&value, "datetime({epochSeconds: 4500, nanosecond: 42, timezone: 'Europe/Paris'})");
    value = structOf(arena, BOLT_TAG_LEGACY_DATE_TIME_ZONE_ID, 3,
                     (BoltValue[]){boltInt(8100), boltInt(0), boltString(arena, "Europe/Paris")});
    assertFormat(&value, "datetime('1970-01-01T02:15:00[Europe/Paris]')");
    value = structOf(arena, BOLT_TAG_DURATION, 4, (BoltValue[]){boltInt(14), boltInt(-3), boltInt(5), boltInt(6)});
    assertFormat(&value, "duration({months: 14, days: -3, seconds: 5, nanoseconds: 6})");
    /* malformed or out of range: raw rendering instead of nonsense */
    value = structOf(arena, BOLT_TAG_DATE, 1, (BoltValue[]){boltInt(INT64_MAX)});
    assertFormat(&value, "Date<0x44>(9223372036854775807)");
    value = structOf(arena, BOLT_TAG_DATE_TIME, 3, (BoltValue[]){boltInt(0), boltInt(-1), boltInt(0)});
    assertFormat(&value, "DateTime<0x49>(0, -1, 0)");
    value = structOf(arena, BOLT_TAG_DATE, 1, (BoltValue[]){boltString(arena, "x")});
    assertFormat(&value, "Date<0x44>(\"x\")");
}

static BoltValue makeNode(Arena *arena, int64_t id, const char *label)
{
    BoltValue labels = boltList(arena, 1);
    labels.as.list.items[0] = boltString(arena, label);
    BoltValue props = boltMap(arena, id == 1 ? 1 : 0);
    if (id == 1)
        boltMapSet(arena, &props, 0, "name", boltString(arena, "Ann"));
    return structOf(arena, BOLT_TAG_NODE, 4, (BoltValue[]){boltInt(id), labels, props, boltString(arena, "4:x")});
}

static void testFormatGraphAndOthers(void **state)
{
    Arena *arena = *state;
    BoltValue node = makeNode(arena, 1, "Person");
    assertFormat(&node, "(1:Person {name: \"Ann\"})");
    BoltValue relationship =
        structOf(arena, BOLT_TAG_RELATIONSHIP, 5,
                 (BoltValue[]){boltInt(7), boltInt(1), boltInt(2), boltString(arena, "KNOWS"), boltMap(arena, 0)});
    assertFormat(&relationship, "(1)-[7:KNOWS]->(2)");
    BoltValue unbound = structOf(arena, BOLT_TAG_UNBOUND_RELATIONSHIP, 3,
                                 (BoltValue[]){boltInt(7), boltString(arena, "KNOWS"), boltMap(arena, 0)});
    assertFormat(&unbound, "[7:KNOWS]");
    BoltValue nodes = boltList(arena, 2);
    nodes.as.list.items[0] = node;
    nodes.as.list.items[1] = makeNode(arena, 2, "City");
    BoltValue rels = boltList(arena, 1);
    rels.as.list.items[0] = unbound;
    BoltValue indices = boltList(arena, 4);
    indices.as.list.items[0] = boltInt(1);
    indices.as.list.items[1] = boltInt(1);
    indices.as.list.items[2] = boltInt(-1);
    indices.as.list.items[3] = boltInt(0);
    BoltValue path = structOf(arena, BOLT_TAG_PATH, 3, (BoltValue[]){nodes, rels, indices});
    assertFormat(&path, "(1:Person {name: \"Ann\"})-[7:KNOWS]->(2:City)<-[7:KNOWS]-(1:Person {name: \"Ann\"})");
    indices.as.list.items[2] = boltInt(5); /* out of range: raw form, no crash */
    path.as.structure.fields[2] = indices;
    char text[1024];
    boltValueFormat(text, sizeof(text), &path);
    assert_non_null(strstr(text, "Path<0x50>("));

    BoltValue point = structOf(arena, BOLT_TAG_POINT_2D, 3, (BoltValue[]){boltInt(7203), boltFloat(1), boltFloat(-2.5)});
    assertFormat(&point, "point({srid: 7203, x: 1.0, y: -2.5})");
    BoltValue point3 = structOf(arena, BOLT_TAG_POINT_3D, 4,
                                (BoltValue[]){boltInt(9157), boltFloat(1), boltFloat(2), boltFloat(3)});
    assertFormat(&point3, "point({srid: 9157, x: 1.0, y: 2.0, z: 3.0})");
    static const uint8_t float32Data[] = {0x3F, 0x80, 0x00, 0x00, 0x3D, 0xCC, 0xCC, 0xCD}; /* 1.0f, 0.1f */
    BoltValue vector = structOf(arena, BOLT_TAG_VECTOR, 2,
                                (BoltValue[]){boltBytes(arena, (const uint8_t[]){0xC6}, 1),
                                              boltBytes(arena, float32Data, sizeof(float32Data))});
    assertFormat(&vector, "vector([1.0, 0.1], 2, FLOAT32)");
    static const uint8_t int16Data[] = {0xFF, 0xFE, 0x01, 0x00};
    vector.as.structure.fields[0] = boltBytes(arena, (const uint8_t[]){0xC9}, 1);
    vector.as.structure.fields[1] = boltBytes(arena, int16Data, sizeof(int16Data));
    assertFormat(&vector, "vector([-2, 256], 2, INTEGER16)");
    BoltValue extra = boltMap(arena, 1);
    boltMapSet(arena, &extra, 0, "message", boltString(arena, "upgrade"));
    BoltValue unsupported = structOf(arena, BOLT_TAG_UNSUPPORTED, 4,
                                     (BoltValue[]){boltString(arena, "UUID"), boltInt(6), boltInt(1), extra});
    assertFormat(&unsupported, "UnsupportedType(UUID, needs Bolt 6.1, \"upgrade\")");
    BoltValue unknown = structOf(arena, 0x41, 2, (BoltValue[]){boltInt(1), boltNull()});
    assertFormat(&unknown, "Structure<0x41>(1, null)");
}

static void testFormatTruncates(void **state)
{
    Arena *arena = *state;
    BoltValue value = boltString(arena, "abcdefghij");
    char text[6];
    memset(text, 'Z', sizeof(text));
    size_t needed = boltValueFormat(text, sizeof(text), &value);
    assert_int_equal(needed, 12); /* like snprintf: the full length */
    assert_string_equal(text, "\"abcd");
    assert_int_equal(boltValueFormat(NULL, 0, &value), 12);
    char one[1] = {'Z'};
    boltValueFormat(one, 1, &value);
    assert_int_equal(one[0], '\0');
}

static void testTypeNames(void **state)
{
    Arena *arena = *state;
    struct {
        BoltValue value;
        const char *name;
    } cases[] = {
        {boltNull(), "Null"},
        {boltBool(true), "Boolean"},
        {boltInt(1), "Integer"},
        {boltFloat(1), "Float"},
        {boltString(arena, ""), "String"},
        {boltBytes(arena, NULL, 0), "Bytes"},
        {boltList(arena, 0), "List"},
        {boltMap(arena, 0), "Map"},
        {boltStruct(arena, BOLT_TAG_NODE, 0), "Node"},
        {boltStruct(arena, BOLT_TAG_RELATIONSHIP, 0), "Relationship"},
        {boltStruct(arena, BOLT_TAG_UNBOUND_RELATIONSHIP, 0), "UnboundRelationship"},
        {boltStruct(arena, BOLT_TAG_PATH, 0), "Path"},
        {boltStruct(arena, BOLT_TAG_DATE, 0), "Date"},
        {boltStruct(arena, BOLT_TAG_TIME, 0), "Time"},
        {boltStruct(arena, BOLT_TAG_LOCAL_TIME, 0), "LocalTime"},
        {boltStruct(arena, BOLT_TAG_DATE_TIME, 0), "DateTime"},
        {boltStruct(arena, BOLT_TAG_LEGACY_DATE_TIME, 0), "DateTime"},
        {boltStruct(arena, BOLT_TAG_DATE_TIME_ZONE_ID, 0), "DateTimeZoneId"},
        {boltStruct(arena, BOLT_TAG_LEGACY_DATE_TIME_ZONE_ID, 0), "DateTimeZoneId"},
        {boltStruct(arena, BOLT_TAG_LOCAL_DATE_TIME, 0), "LocalDateTime"},
        {boltStruct(arena, BOLT_TAG_DURATION, 0), "Duration"},
        {boltStruct(arena, BOLT_TAG_POINT_2D, 0), "Point2D"},
        {boltStruct(arena, BOLT_TAG_POINT_3D, 0), "Point3D"},
        {boltStruct(arena, BOLT_TAG_VECTOR, 0), "Vector"},
        {boltStruct(arena, BOLT_TAG_UNSUPPORTED, 0), "UnsupportedType"},
        {boltStruct(arena, 0x01, 0), "Structure"},
    };
    for (size_t index = 0; index < sizeof(cases) / sizeof(cases[0]); index++)
        assert_string_equal(boltTypeName(&cases[index].value), cases[index].name);
}

/* ---- placeholders ------------------------------------------------------ */

static BoltValue unknownTypeMap(Arena *arena, const char *originalType, const char *reason, bool reversed)
{
    BoltValue map = boltMap(arena, 2);
    boltMapSet(arena, &map, reversed ? 1 : 0, "originalType", boltString(arena, originalType));
    boltMapSet(arena, &map, reversed ? 0 : 1, "reason", boltString(arena, reason));
    return map;
}

static void testPlaceholderDetection(void **state)
{
    Arena *arena = *state;
    const char *typeName = NULL;

    /* 5.x: the map that replaces a vector, deep inside a node's properties */
    BoltValue props = boltMap(arena, 2);
    boltMapSet(arena, &props, 0, "name", boltString(arena, "doc"));
    boltMapSet(arena, &props, 1, "embedding", unknownTypeMap(arena, "VECTOR(3, FLOAT32 NOT NULL)", "UNKNOWN_TYPE", true));
    BoltValue node = structOf(arena, BOLT_TAG_NODE, 4,
                              (BoltValue[]){boltInt(1), boltList(arena, 0), props, boltString(arena, "4:x")});
    BoltValue row = boltList(arena, 2);
    row.as.list.items[0] = boltInt(5);
    row.as.list.items[1] = node;
    assert_true(boltValueFindPlaceholder(&row, &typeName));
    assert_string_equal(typeName, "VECTOR(3, FLOAT32 NOT NULL)");

    /* the same map after a wire round trip is still found */
    Buffer bytes;
    bufferInit(&bytes);
    packValue(&bytes, &row);
    PackReader reader;
    packReaderInit(&reader, bytes.data, bytes.length);
    BoltValue decoded;
    assert_int_equal(unpackValue(&reader, arena, &decoded), ERR_OK);
    typeName = NULL;
    assert_true(boltValueFindPlaceholder(&decoded, &typeName));
    assert_string_equal(typeName, "VECTOR(3, FLOAT32 NOT NULL)");
    bufferFree(&bytes);

    BoltValue uuid = unknownTypeMap(arena, "UUID", "UNKNOWN_TYPE", false);
    assert_true(boltValueFindPlaceholder(&uuid, &typeName));
    assert_string_equal(typeName, "UUID");
    assert_true(boltValueFindPlaceholder(&uuid, NULL));

    /* 6.0: the UnsupportedType structure */
    BoltValue unsupported = structOf(arena, BOLT_TAG_UNSUPPORTED, 4,
                                     (BoltValue[]){boltString(arena, "VECTOR"), boltInt(6), boltInt(0), boltMap(arena, 0)});
    BoltValue wrapper = boltMap(arena, 1);
    boltMapSet(arena, &wrapper, 0, "v", unsupported);
    assert_true(boltValueFindPlaceholder(&wrapper, &typeName));
    assert_string_equal(typeName, "VECTOR");
    BoltValue oddUnsupported = boltStruct(arena, BOLT_TAG_UNSUPPORTED, 0);
    assert_true(boltValueFindPlaceholder(&oddUnsupported, &typeName));
    assert_string_equal(typeName, "UnsupportedType");

    /* look-alikes that are ordinary data */
    typeName = "unchanged";
    BoltValue otherReason = unknownTypeMap(arena, "VECTOR", "SOMETHING_ELSE", false);
    assert_false(boltValueFindPlaceholder(&otherReason, &typeName));
    BoltValue threeKeys = boltMap(arena, 3);
    boltMapSet(arena, &threeKeys, 0, "originalType", boltString(arena, "X"));
    boltMapSet(arena, &threeKeys, 1, "reason", boltString(arena, "UNKNOWN_TYPE"));
    boltMapSet(arena, &threeKeys, 2, "more", boltInt(1));
    assert_false(boltValueFindPlaceholder(&threeKeys, &typeName));
    BoltValue nonStringType = boltMap(arena, 2);
    boltMapSet(arena, &nonStringType, 0, "originalType", boltInt(1));
    boltMapSet(arena, &nonStringType, 1, "reason", boltString(arena, "UNKNOWN_TYPE"));
    assert_false(boltValueFindPlaceholder(&nonStringType, &typeName));
    BoltValue plainVector = structOf(arena, BOLT_TAG_VECTOR, 2,
                                     (BoltValue[]){boltBytes(arena, (const uint8_t[]){0xC8}, 1), boltBytes(arena, NULL, 0)});
    assert_false(boltValueFindPlaceholder(&plainVector, &typeName));
    BoltValue scalar = boltString(arena, "UNKNOWN_TYPE");
    assert_false(boltValueFindPlaceholder(&scalar, &typeName));
    assert_string_equal(typeName, "unchanged");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(testArenaAlignmentAndIsolation),
        cmocka_unit_test(testArenaBigAllocationsAndReset),
        cmocka_unit_test_setup_teardown(testArenaStrndupAndZeroSize, arenaSetup, arenaTeardown),
        cmocka_unit_test_setup_teardown(testConstructorsAndMapGet, arenaSetup, arenaTeardown),
        cmocka_unit_test_setup_teardown(testEqualityRules, arenaSetup, arenaTeardown),
        cmocka_unit_test_setup_teardown(testDeepCopySurvivesSourceArena, arenaSetup, arenaTeardown),
        cmocka_unit_test_setup_teardown(testFormatScalars, arenaSetup, arenaTeardown),
        cmocka_unit_test_setup_teardown(testFormatContainers, arenaSetup, arenaTeardown),
        cmocka_unit_test_setup_teardown(testFormatTemporal, arenaSetup, arenaTeardown),
        cmocka_unit_test_setup_teardown(testFormatGraphAndOthers, arenaSetup, arenaTeardown),
        cmocka_unit_test_setup_teardown(testFormatTruncates, arenaSetup, arenaTeardown),
        cmocka_unit_test_setup_teardown(testTypeNames, arenaSetup, arenaTeardown),
        cmocka_unit_test_setup_teardown(testPlaceholderDetection, arenaSetup, arenaTeardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
