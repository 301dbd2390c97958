/* PackStream codec: exact bytes at every size boundary, round trips, and
 * hostile input (reserved markers, truncation, huge sizes, deep nesting,
 * random bytes) failing cleanly. */
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

/* ---- helpers ----------------------------------------------------------- */

typedef struct {
    Arena *arena;
    Buffer buffer;
} Fixture;

static int fixtureSetup(void **state)
{
    Fixture *fixture = calloc(1, sizeof(*fixture));
    fixture->arena = arenaNew(0);
    bufferInit(&fixture->buffer);
    *state = fixture;
    return 0;
}

static int fixtureTeardown(void **state)
{
    Fixture *fixture = *state;
    arenaFree(fixture->arena);
    bufferFree(&fixture->buffer);
    free(fixture);
    return 0;
}

/* Decodes exactly one value spanning the whole input; fails the test otherwise. */
static BoltValue decodeWhole(Arena *arena, const uint8_t *data, size_t length)
{
    PackReader reader;
    packReaderInit(&reader, data, length);
    BoltValue value;
    ErrCode code = unpackValue(&reader, arena, &value);
    if (code != ERR_OK)
        fail_msg("decode failed: %s", errLast()->reason);
    assert_int_equal(reader.offset, length);
    return value;
}

/* Expects decoding to fail with a protocol error whose reason contains needle. */
static void expectDecodeError(Arena *arena, const uint8_t *data, size_t length, const char *needle)
{
    PackReader reader;
    packReaderInit(&reader, data, length);
    BoltValue value;
    ErrCode code = unpackValue(&reader, arena, &value);
    assert_int_equal(code, NEO4J_PROTOCOL_ERROR);
    assert_int_equal(errLast()->code, NEO4J_PROTOCOL_ERROR);
    assert_int_equal(reader.offset, 0); /* untouched on failure */
    if (needle && !strstr(errLast()->reason, needle))
        fail_msg("reason '%s' lacks '%s'", errLast()->reason, needle);
}

static void assertBytes(const Buffer *buffer, const uint8_t *expected, size_t length)
{
    assert_int_equal(buffer->length, length);
    assert_memory_equal(buffer->data, expected, length);
}

/* Encodes value, checks the bytes decode to an equal value that encodes to
 * the very same bytes. */
static void assertRoundTrip(Fixture *fixture, const BoltValue *value)
{
    bufferClear(&fixture->buffer);
    packValue(&fixture->buffer, value);
    BoltValue decoded = decodeWhole(fixture->arena, fixture->buffer.data, fixture->buffer.length);
    assert_true(boltValueEqual(value, &decoded));
    Buffer again;
    bufferInit(&again);
    packValue(&again, &decoded);
    assert_int_equal(again.length, fixture->buffer.length);
    assert_memory_equal(again.data, fixture->buffer.data, again.length);
    bufferFree(&again);
}

/* ---- scalars ----------------------------------------------------------- */

typedef struct {
    int64_t value;
    uint8_t bytes[9];
    size_t length;
} IntVector;

static void testIntegerBoundaries(void **state)
{
    Fixture *fixture = *state;
    static const IntVector vectors[] = {
        {0, {0x00}, 1},
        {1, {0x01}, 1},
        {-1, {0xFF}, 1},
        {-16, {0xF0}, 1},
        {-17, {0xC8, 0xEF}, 2},
        {127, {0x7F}, 1},
        {128, {0xC9, 0x00, 0x80}, 3},
        {-128, {0xC8, 0x80}, 2},
        {-129, {0xC9, 0xFF, 0x7F}, 3},
        {32767, {0xC9, 0x7F, 0xFF}, 3},
        {32768, {0xCA, 0x00, 0x00, 0x80, 0x00}, 5},
        {-32768, {0xC9, 0x80, 0x00}, 3},
        {-32769, {0xCA, 0xFF, 0xFF, 0x7F, 0xFF}, 5},
        {INT32_MAX, {0xCA, 0x7F, 0xFF, 0xFF, 0xFF}, 5},
        {(int64_t)INT32_MAX + 1, {0xCB, 0x00, 0x00, 0x00, 0x00, 0x80, 0x00, 0x00, 0x00}, 9},
        {INT32_MIN, {0xCA, 0x80, 0x00, 0x00, 0x00}, 5},
        {(int64_t)INT32_MIN - 1, {0xCB, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F, 0xFF, 0xFF, 0xFF}, 9},
        {INT64_MAX, {0xCB, 0x7F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF}, 9},
        {INT64_MIN, {0xCB, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00}, 9},
    };
    for (size_t index = 0; index < sizeof(vectors) / sizeof(vectors[0]); index++) {
        const IntVector *vector = &vectors[index];
        bufferClear(&fixture->buffer);
        packInt(&fixture->buffer, vector->value);
        assertBytes(&fixture->buffer, vector->bytes, vector->length);
        BoltValue decoded = decodeWhole(fixture->arena, vector->bytes, vector->length);
        assert_int_equal(decoded.type, BOLT_INT);
        assert_true(decoded.as.integer == vector->value);
        BoltValue value = boltInt(vector->value);
        assertRoundTrip(fixture, &value);
    }
}

static void testNonCanonicalIntegersDecode(void **state)
{
    Fixture *fixture = *state;
    static const uint8_t int8[] = {0xC8, 0x05};
    static const uint8_t int16[] = {0xC9, 0x00, 0x05};
    static const uint8_t int32[] = {0xCA, 0xFF, 0xFF, 0xFF, 0xFF};
    static const uint8_t int64[] = {0xCB, 0, 0, 0, 0, 0, 0, 0, 0x2A};
    assert_true(decodeWhole(fixture->arena, int8, sizeof(int8)).as.integer == 5);
    assert_true(decodeWhole(fixture->arena, int16, sizeof(int16)).as.integer == 5);
    assert_true(decodeWhole(fixture->arena, int32, sizeof(int32)).as.integer == -1);
    assert_true(decodeWhole(fixture->arena, int64, sizeof(int64)).as.integer == 42);
}

static uint64_t floatBits(double number)
{
    uint64_t bits;
    memcpy(&bits, &number, sizeof(bits));
    return bits;
}

static double floatFromBits(uint64_t bits)
{
    double number;
    memcpy(&number, &bits, sizeof(number));
    return number;
}

static void testFloats(void **state)
{
    Fixture *fixture = *state;
    static const uint8_t expected123[] = {0xC1, 0x3F, 0xF3, 0xAE, 0x14, 0x7A, 0xE1, 0x47, 0xAE};
    packFloat(&fixture->buffer, 1.23);
    assertBytes(&fixture->buffer, expected123, sizeof(expected123));

    static const uint8_t expectedNegZero[] = {0xC1, 0x80, 0, 0, 0, 0, 0, 0, 0};
    bufferClear(&fixture->buffer);
    packFloat(&fixture->buffer, -0.0);
    assertBytes(&fixture->buffer, expectedNegZero, sizeof(expectedNegZero));

    const uint64_t patterns[] = {
        0x7FF8000000000ABCull, /* quiet NaN with a payload */
        0xFFF4000000000001ull, /* negative signalling-style NaN */
        0x7FF0000000000000ull, /* +inf */
        0xFFF0000000000000ull, /* -inf */
        0x8000000000000000ull, /* -0.0 */
        0x0000000000000001ull, /* smallest subnormal */
        0x7FEFFFFFFFFFFFFFull, /* DBL_MAX */
    };
    for (size_t index = 0; index < sizeof(patterns) / sizeof(patterns[0]); index++) {
        bufferClear(&fixture->buffer);
        packFloat(&fixture->buffer, floatFromBits(patterns[index]));
        assert_int_equal(fixture->buffer.length, 9);
        assert_int_equal(fixture->buffer.data[0], 0xC1);
        BoltValue decoded = decodeWhole(fixture->arena, fixture->buffer.data, fixture->buffer.length);
        assert_int_equal(decoded.type, BOLT_FLOAT);
        assert_true(floatBits(decoded.as.real) == patterns[index]);
        BoltValue value = boltFloat(floatFromBits(patterns[index]));
        assertRoundTrip(fixture, &value);
    }
}

static void testNullAndBooleans(void **state)
{
    Fixture *fixture = *state;
    packNull(&fixture->buffer);
    packBool(&fixture->buffer, false);
    packBool(&fixture->buffer, true);
    static const uint8_t expected[] = {0xC0, 0xC2, 0xC3};
    assertBytes(&fixture->buffer, expected, sizeof(expected));
    PackReader reader;
    packReaderInit(&reader, expected, sizeof(expected));
    BoltValue value;
    assert_int_equal(unpackValue(&reader, fixture->arena, &value), ERR_OK);
    assert_int_equal(value.type, BOLT_NULL);
    assert_int_equal(unpackValue(&reader, fixture->arena, &value), ERR_OK);
    assert_int_equal(value.type, BOLT_BOOL);
    assert_false(value.as.boolean);
    assert_int_equal(unpackValue(&reader, fixture->arena, &value), ERR_OK);
    assert_true(value.as.boolean);
    assert_int_equal(reader.offset, 3);
    /* nothing left: a clean error, not a read past the end */
    assert_int_equal(unpackValue(&reader, fixture->arena, &value), NEO4J_PROTOCOL_ERROR);
    assert_int_equal(reader.offset, 3);
}

/* ---- sized types ------------------------------------------------------- */

typedef struct {
    uint32_t size;
    uint8_t header[5];
    size_t headerLength;
} SizeVector;

/* Header bytes for sizes at each boundary, given the tiny base (0 = none)
 * and the 8-bit marker (16- and 32-bit markers follow it). */
static size_t expectedHeader(uint8_t tinyBase, uint8_t marker8, uint32_t size, uint8_t *header)
{
    if (tinyBase && size < 16) {
        header[0] = (uint8_t)(tinyBase | size);
        return 1;
    }
    if (size < 256) {
        header[0] = marker8;
        header[1] = (uint8_t)size;
        return 2;
    }
    if (size < 65536) {
        header[0] = (uint8_t)(marker8 + 1);
        header[1] = (uint8_t)(size >> 8);
        header[2] = (uint8_t)size;
        return 3;
    }
    header[0] = (uint8_t)(marker8 + 2);
    header[1] = (uint8_t)(size >> 24);
    header[2] = (uint8_t)(size >> 16);
    header[3] = (uint8_t)(size >> 8);
    header[4] = (uint8_t)size;
    return 5;
}

static const uint32_t boundarySizes[] = {0, 1, 15, 16, 255, 256, 65535, 65536};

static void testHeaderBytesSpotChecks(void **state)
{
    (void)state;
    uint8_t header[5];
    /* literal bytes, so the helper above is itself checked */
    assert_int_equal(expectedHeader(0x80, 0xD0, 15, header), 1);
    assert_int_equal(header[0], 0x8F);
    assert_int_equal(expectedHeader(0x80, 0xD0, 16, header), 2);
    assert_int_equal(header[0], 0xD0);
    assert_int_equal(header[1], 0x10);
    assert_int_equal(expectedHeader(0x90, 0xD4, 256, header), 3);
    assert_memory_equal(header, ((uint8_t[]){0xD5, 0x01, 0x00}), 3);
    assert_int_equal(expectedHeader(0xA0, 0xD8, 65536, header), 5);
    assert_memory_equal(header, ((uint8_t[]){0xDA, 0x00, 0x01, 0x00, 0x00}), 5);
    assert_int_equal(expectedHeader(0, 0xCC, 0, header), 2);
    assert_memory_equal(header, ((uint8_t[]){0xCC, 0x00}), 2);
}

static void testStringSizes(void **state)
{
    Fixture *fixture = *state;
    for (size_t index = 0; index < sizeof(boundarySizes) / sizeof(boundarySizes[0]); index++) {
        uint32_t size = boundarySizes[index];
        char *text = malloc(size + 1);
        for (uint32_t position = 0; position < size; position++)
            text[position] = (char)('a' + position % 26);
        text[size] = '\0';
        bufferClear(&fixture->buffer);
        packString(&fixture->buffer, text, size);
        uint8_t header[5];
        size_t headerLength = expectedHeader(0x80, 0xD0, size, header);
        assert_int_equal(fixture->buffer.length, headerLength + size);
        assert_memory_equal(fixture->buffer.data, header, headerLength);
        assert_memory_equal(fixture->buffer.data + headerLength, text, size);
        BoltValue decoded = decodeWhole(fixture->arena, fixture->buffer.data, fixture->buffer.length);
        assert_int_equal(decoded.type, BOLT_STRING);
        assert_int_equal(decoded.as.string.length, size);
        assert_string_equal(decoded.as.string.data, text); /* NUL-terminated copy */
        BoltValue value = boltStringN(fixture->arena, text, size);
        assertRoundTrip(fixture, &value);
        free(text);
        arenaReset(fixture->arena);
    }
}

static void testStringKeepsBytesExactly(void **state)
{
    Fixture *fixture = *state;
    /* embedded NUL and bytes that are not valid UTF-8 are kept as-is */
    static const uint8_t input[] = {0x85, 'a', 0x00, 0xFF, 0xC3, 0xA9};
    BoltValue decoded = decodeWhole(fixture->arena, input, sizeof(input));
    assert_int_equal(decoded.as.string.length, 5);
    assert_memory_equal(decoded.as.string.data, input + 1, 5);
    assert_int_equal(decoded.as.string.data[5], '\0');
}

static void testBytesSizes(void **state)
{
    Fixture *fixture = *state;
    for (size_t index = 0; index < sizeof(boundarySizes) / sizeof(boundarySizes[0]); index++) {
        uint32_t size = boundarySizes[index];
        uint8_t *data = malloc(size ? size : 1);
        for (uint32_t position = 0; position < size; position++)
            data[position] = (uint8_t)(position * 7);
        bufferClear(&fixture->buffer);
        packBytes(&fixture->buffer, data, size);
        uint8_t header[5];
        size_t headerLength = expectedHeader(0, 0xCC, size, header);
        assert_int_equal(fixture->buffer.length, headerLength + size);
        assert_memory_equal(fixture->buffer.data, header, headerLength);
        BoltValue decoded = decodeWhole(fixture->arena, fixture->buffer.data, fixture->buffer.length);
        assert_int_equal(decoded.type, BOLT_BYTES);
        assert_int_equal(decoded.as.bytes.length, size);
        if (size)
            assert_memory_equal(decoded.as.bytes.data, data, size);
        BoltValue value = boltBytes(fixture->arena, data, size);
        assertRoundTrip(fixture, &value);
        free(data);
        arenaReset(fixture->arena);
    }
}

static void testListSizes(void **state)
{
    Fixture *fixture = *state;
    for (size_t index = 0; index < sizeof(boundarySizes) / sizeof(boundarySizes[0]); index++) {
        uint32_t size = boundarySizes[index];
        BoltValue list = boltList(fixture->arena, size);
        for (uint32_t position = 0; position < size; position++)
            list.as.list.items[position] = boltInt(position % 100);
        bufferClear(&fixture->buffer);
        packValue(&fixture->buffer, &list);
        uint8_t header[5];
        size_t headerLength = expectedHeader(0x90, 0xD4, size, header);
        assert_int_equal(fixture->buffer.length, headerLength + size); /* tiny ints: 1 byte each */
        assert_memory_equal(fixture->buffer.data, header, headerLength);
        BoltValue decoded = decodeWhole(fixture->arena, fixture->buffer.data, fixture->buffer.length);
        assert_int_equal(decoded.type, BOLT_LIST);
        assert_int_equal(decoded.as.list.count, size);
        if (size)
            assert_true(decoded.as.list.items[size - 1].as.integer == (size - 1) % 100);
        assertRoundTrip(fixture, &list);
        /* the streaming header writer produces the same header */
        bufferClear(&fixture->buffer);
        packListHeader(&fixture->buffer, size);
        assertBytes(&fixture->buffer, header, headerLength);
        arenaReset(fixture->arena);
    }
}

static void testMapSizes(void **state)
{
    Fixture *fixture = *state;
    for (size_t index = 0; index < sizeof(boundarySizes) / sizeof(boundarySizes[0]); index++) {
        uint32_t size = boundarySizes[index];
        BoltValue map = boltMap(fixture->arena, size);
        for (uint32_t position = 0; position < size; position++) {
            char key[16];
            snprintf(key, sizeof(key), "k%u", position);
            boltMapSet(fixture->arena, &map, position, key, boltInt(position % 100));
        }
        bufferClear(&fixture->buffer);
        packValue(&fixture->buffer, &map);
        uint8_t header[5];
        size_t headerLength = expectedHeader(0xA0, 0xD8, size, header);
        assert_memory_equal(fixture->buffer.data, header, headerLength);
        BoltValue decoded = decodeWhole(fixture->arena, fixture->buffer.data, fixture->buffer.length);
        assert_int_equal(decoded.type, BOLT_MAP);
        assert_int_equal(decoded.as.map.count, size);
        if (size) {
            char key[16];
            snprintf(key, sizeof(key), "k%u", size - 1);
            assert_true(boltMapGetInt(&decoded, key, -1) == (size - 1) % 100);
        }
        assertRoundTrip(fixture, &map);
        bufferClear(&fixture->buffer);
        packMapHeader(&fixture->buffer, size);
        assertBytes(&fixture->buffer, header, headerLength);
        arenaReset(fixture->arena);
    }
}

static void testStructHeaders(void **state)
{
    Fixture *fixture = *state;
    for (uint8_t count = 0; count <= 15; count++) {
        BoltValue structure = boltStruct(fixture->arena, 0x41, count);
        for (uint8_t field = 0; field < count; field++)
            structure.as.structure.fields[field] = boltInt(field);
        bufferClear(&fixture->buffer);
        packValue(&fixture->buffer, &structure);
        assert_int_equal(fixture->buffer.data[0], 0xB0 | count);
        assert_int_equal(fixture->buffer.data[1], 0x41);
        assert_int_equal(fixture->buffer.length, 2u + count);
        assertRoundTrip(fixture, &structure);
    }
    bufferClear(&fixture->buffer);
    packStructHeader(&fixture->buffer, 0x4E, 4);
    assertBytes(&fixture->buffer, (const uint8_t[]){0xB4, 0x4E}, 2);
}

/* ---- structures -------------------------------------------------------- */

static BoltValue makeStruct(Arena *arena, uint8_t tag, uint8_t count, const BoltValue *fields)
{
    BoltValue structure = boltStruct(arena, tag, count);
    for (uint8_t index = 0; index < count; index++)
        structure.as.structure.fields[index] = fields[index];
    return structure;
}

static BoltValue makeProps(Arena *arena)
{
    BoltValue props = boltMap(arena, 2);
    boltMapSet(arena, &props, 0, "name", boltString(arena, "Ann"));
    boltMapSet(arena, &props, 1, "age", boltInt(42));
    return props;
}

static BoltValue makeNode(Arena *arena, int64_t id)
{
    BoltValue labels = boltList(arena, 2);
    labels.as.list.items[0] = boltString(arena, "Person");
    labels.as.list.items[1] = boltString(arena, "Employee");
    BoltValue fields[] = {boltInt(id), labels, makeProps(arena), boltString(arena, "4:abc:1")};
    return makeStruct(arena, BOLT_TAG_NODE, 4, fields);
}

static BoltValue makeUnbound(Arena *arena, int64_t id)
{
    BoltValue fields[] = {boltInt(id), boltString(arena, "KNOWS"), makeProps(arena), boltString(arena, "5:x:9")};
    return makeStruct(arena, BOLT_TAG_UNBOUND_RELATIONSHIP, 4, fields);
}

static BoltValue makeEveryStructure(Arena *arena)
{
    BoltValue all = boltList(arena, 17);
    BoltValue *item = all.as.list.items;
    item[0] = makeNode(arena, 1);
    {
        BoltValue fields[] = {boltInt(11), boltInt(1), boltInt(2), boltString(arena, "KNOWS"), makeProps(arena),
                              boltString(arena, "5:a:11"), boltString(arena, "4:a:1"), boltString(arena, "4:a:2")};
        item[1] = makeStruct(arena, BOLT_TAG_RELATIONSHIP, 8, fields);
    }
    item[2] = makeUnbound(arena, 7);
    {
        BoltValue nodes = boltList(arena, 2);
        nodes.as.list.items[0] = makeNode(arena, 1);
        nodes.as.list.items[1] = makeNode(arena, 2);
        BoltValue rels = boltList(arena, 1);
        rels.as.list.items[0] = makeUnbound(arena, 7);
        BoltValue indices = boltList(arena, 2);
        indices.as.list.items[0] = boltInt(1);
        indices.as.list.items[1] = boltInt(1);
        BoltValue fields[] = {nodes, rels, indices};
        item[3] = makeStruct(arena, BOLT_TAG_PATH, 3, fields);
    }
    item[4] = makeStruct(arena, BOLT_TAG_DATE, 1, (BoltValue[]){boltInt(-365)});
    item[5] = makeStruct(arena, BOLT_TAG_TIME, 2, (BoltValue[]){boltInt(3600000000042), boltInt(-7200)});
    item[6] = makeStruct(arena, BOLT_TAG_LOCAL_TIME, 1, (BoltValue[]){boltInt(1)});
    item[7] = makeStruct(arena, BOLT_TAG_DATE_TIME, 3, (BoltValue[]){boltInt(4500), boltInt(42), boltInt(3600)});
    item[8] = makeStruct(arena, BOLT_TAG_DATE_TIME_ZONE_ID, 3,
                         (BoltValue[]){boltInt(4500), boltInt(42), boltString(arena, "Europe/Paris")});
    item[9] = makeStruct(arena, BOLT_TAG_LEGACY_DATE_TIME, 3, (BoltValue[]){boltInt(8100), boltInt(42), boltInt(3600)});
    item[10] = makeStruct(arena, BOLT_TAG_LEGACY_DATE_TIME_ZONE_ID, 3,
                          (BoltValue[]){boltInt(8100), boltInt(42), boltString(arena, "Europe/Paris")});
    item[11] = makeStruct(arena, BOLT_TAG_LOCAL_DATE_TIME, 2, (BoltValue[]){boltInt(-1), boltInt(999999999)});
    item[12] = makeStruct(arena, BOLT_TAG_DURATION, 4,
                          (BoltValue[]){boltInt(14), boltInt(-3), boltInt(INT64_MAX), boltInt(999999999)});
    item[13] = makeStruct(arena, BOLT_TAG_POINT_2D, 3, (BoltValue[]){boltInt(7203), boltFloat(1.5), boltFloat(-2.25)});
    item[14] = makeStruct(arena, BOLT_TAG_POINT_3D, 4,
                          (BoltValue[]){boltInt(4979), boltFloat(12.5), boltFloat(56.25), boltFloat(100.0)});
    {
        static const uint8_t marker[] = {0xC6};
        static const uint8_t data[] = {0x3F, 0x80, 0x00, 0x00, 0x40, 0x00, 0x00, 0x00}; /* 1.0f, 2.0f */
        BoltValue fields[] = {boltBytes(arena, marker, 1), boltBytes(arena, data, sizeof(data))};
        item[15] = makeStruct(arena, BOLT_TAG_VECTOR, 2, fields);
    }
    {
        BoltValue extra = boltMap(arena, 1);
        boltMapSet(arena, &extra, 0, "message", boltString(arena, "needs 6.0"));
        BoltValue fields[] = {boltString(arena, "VECTOR"), boltInt(6), boltInt(0), extra};
        item[16] = makeStruct(arena, BOLT_TAG_UNSUPPORTED, 4, fields);
    }
    return all;
}

static void testEveryStructureRoundTrip(void **state)
{
    Fixture *fixture = *state;
    BoltValue all = makeEveryStructure(fixture->arena);
    for (uint32_t index = 0; index < all.as.list.count; index++) {
        const BoltValue *structure = &all.as.list.items[index];
        assertRoundTrip(fixture, structure);
        assert_int_equal(fixture->buffer.data[0], 0xB0 | structure->as.structure.count);
        assert_int_equal(fixture->buffer.data[1], structure->as.structure.tag);
    }
    assertRoundTrip(fixture, &all);
}

static void testNodeExactBytes(void **state)
{
    Fixture *fixture = *state;
    /* Node(id=3, labels=["L"], props={"a": 1}, element_id="e") */
    static const uint8_t input[] = {0xB4, 0x4E, 0x03, 0x91, 0x81, 'L', 0xA1, 0x81, 'a', 0x01, 0x81, 'e'};
    BoltValue node = decodeWhole(fixture->arena, input, sizeof(input));
    assert_int_equal(node.type, BOLT_STRUCT);
    assert_int_equal(node.as.structure.tag, 0x4E);
    assert_int_equal(node.as.structure.count, 4);
    assert_true(node.as.structure.fields[0].as.integer == 3);
    assert_string_equal(node.as.structure.fields[1].as.list.items[0].as.string.data, "L");
    assert_true(boltMapGetInt(&node.as.structure.fields[2], "a", 0) == 1);
    assert_string_equal(node.as.structure.fields[3].as.string.data, "e");
    packValue(&fixture->buffer, &node);
    assertBytes(&fixture->buffer, input, sizeof(input));
}

static void testNestedValues(void **state)
{
    Fixture *fixture = *state;
    Arena *arena = fixture->arena;
    BoltValue inner = boltList(arena, 3);
    inner.as.list.items[0] = boltNull();
    inner.as.list.items[1] = boltFloat(-0.5);
    inner.as.list.items[2] = makeEveryStructure(arena);
    BoltValue map = boltMap(arena, 3);
    boltMapSet(arena, &map, 0, "list", inner);
    boltMapSet(arena, &map, 1, "empty", boltMap(arena, 0));
    boltMapSet(arena, &map, 2, "bytes", boltBytes(arena, (const uint8_t *)"\x00\x01", 2));
    BoltValue outer = boltList(arena, 2);
    outer.as.list.items[0] = map;
    outer.as.list.items[1] = boltList(arena, 0);
    assertRoundTrip(fixture, &outer);
}

static void testDuplicateKeysKeptForByteIdentity(void **state)
{
    Fixture *fixture = *state;
    static const uint8_t input[] = {0xA2, 0x81, 'k', 0x01, 0x81, 'k', 0x02};
    BoltValue map = decodeWhole(fixture->arena, input, sizeof(input));
    assert_int_equal(map.as.map.count, 2);
    assert_true(boltMapGetInt(&map, "k", 0) == 2); /* last one wins */
    packValue(&fixture->buffer, &map);
    assertBytes(&fixture->buffer, input, sizeof(input));
}

/* ---- hostile input ----------------------------------------------------- */

static void testReservedMarkers(void **state)
{
    Fixture *fixture = *state;
    uint8_t reserved[32];
    size_t count = 0;
    const uint8_t singles[] = {0xC4, 0xC5, 0xC6, 0xC7, 0xCF, 0xD3, 0xD7, 0xDB, 0xDC, 0xDD, 0xDE, 0xDF};
    memcpy(reserved, singles, sizeof(singles));
    count = sizeof(singles);
    for (unsigned marker = 0xE0; marker <= 0xEF; marker++)
        reserved[count++] = (uint8_t)marker;
    for (size_t index = 0; index < count; index++) {
        char expected[64];
        /* alone, followed by plenty of bytes */
        uint8_t input[16] = {reserved[index]};
        snprintf(expected, sizeof(expected), "marker 0x%02X at byte offset 0", reserved[index]);
        expectDecodeError(fixture->arena, input, sizeof(input), expected);
        /* nested: [1, <marker>] at offset 2 */
        uint8_t nested[4] = {0x92, 0x01, reserved[index], 0x00};
        snprintf(expected, sizeof(expected), "marker 0x%02X at byte offset 2", reserved[index]);
        expectDecodeError(fixture->arena, nested, sizeof(nested), expected);
    }
    assert_int_equal(count, 28);
}

static void testEveryOtherMarkerIsAccepted(void **state)
{
    Fixture *fixture = *state;
    /* Any non-reserved marker followed by zeros decodes: sizes read as 0, and
     * a tiny struct/list gets zero-valued fields. */
    for (unsigned marker = 0; marker <= 0xFF; marker++) {
        bool reserved = (marker >= 0xC4 && marker <= 0xC7) || marker == 0xCF || marker == 0xD3 || marker == 0xD7 ||
                        (marker >= 0xDB && marker <= 0xEF);
        uint8_t input[64];
        /* tiny maps need string keys: fill with empty strings (0x80) */
        memset(input, marker >= 0xA1 && marker <= 0xAF ? 0x80 : 0x00, sizeof(input));
        input[0] = (uint8_t)marker;
        PackReader reader;
        packReaderInit(&reader, input, sizeof(input));
        BoltValue value;
        ErrCode code = unpackValue(&reader, fixture->arena, &value);
        assert_int_equal(code, reserved ? NEO4J_PROTOCOL_ERROR : ERR_OK);
    }
}

static void testTruncationAtEveryPrefix(void **state)
{
    Fixture *fixture = *state;
    Arena *arena = fixture->arena;
    BoltValue value = boltList(arena, 5);
    value.as.list.items[0] = makeEveryStructure(arena);
    value.as.list.items[1] = boltString(arena, "a string longer than fifteen bytes");
    value.as.list.items[2] = boltInt(INT64_MIN);
    value.as.list.items[3] = boltFloat(3.5);
    BoltValue big = boltList(arena, 300);
    for (uint32_t index = 0; index < 300; index++)
        big.as.list.items[index] = boltInt((int64_t)index * 1000);
    value.as.list.items[4] = big;
    packValue(&fixture->buffer, &value);
    Arena *scratch = arenaNew(0);
    for (size_t prefix = 0; prefix < fixture->buffer.length; prefix++) {
        PackReader reader;
        packReaderInit(&reader, fixture->buffer.data, prefix);
        BoltValue decoded;
        assert_int_equal(unpackValue(&reader, scratch, &decoded), NEO4J_PROTOCOL_ERROR);
        assert_int_equal(reader.offset, 0);
        assert_int_equal(decoded.type, BOLT_NULL);
        arenaReset(scratch);
    }
    BoltValue whole = decodeWhole(scratch, fixture->buffer.data, fixture->buffer.length);
    assert_true(boltValueEqual(&whole, &value));
    arenaFree(scratch);
}

static void testHugeDeclaredSizesRejectedWithoutAllocation(void **state)
{
    Fixture *fixture = *state;
    static const uint8_t headers[][5] = {
        {0xD6, 0x7F, 0xFF, 0xFF, 0xFF}, /* list of 2^31-1 items */
        {0xD6, 0xFF, 0xFF, 0xFF, 0xFF}, /* list of 2^32-1 items */
        {0xDA, 0x80, 0x00, 0x00, 0x00}, /* map of 2^31 entries */
        {0xD2, 0xFF, 0xFF, 0xFF, 0xFF}, /* string of 4 GiB */
        {0xCE, 0x7F, 0xFF, 0xFF, 0xFF}, /* bytes of 2 GiB */
        {0xD5, 0xFF, 0xFF, 0x00, 0x00}, /* list of 65535 items */
        {0xD9, 0x01, 0x00, 0x00, 0x00}, /* map of 256 entries */
    };
    for (size_t index = 0; index < sizeof(headers) / sizeof(headers[0]); index++) {
        uint8_t input[15] = {0};
        memcpy(input, headers[index], 5);
        arenaReset(fixture->arena);
        expectDecodeError(fixture->arena, input, sizeof(input), "truncated");
        assert_int_equal(arenaBytesUsed(fixture->arena), 0);
    }
    /* a map of N entries needs 2N bytes: 5 entries with 9 bytes left fail */
    uint8_t mapInput[10] = {0xA5};
    arenaReset(fixture->arena);
    expectDecodeError(fixture->arena, mapInput, sizeof(mapInput), "truncated map");
    assert_int_equal(arenaBytesUsed(fixture->arena), 0);
    /* a struct of 15 fields needs a tag and 15 bytes */
    uint8_t structInput[16] = {0xBF, 0x41};
    expectDecodeError(fixture->arena, structInput, sizeof(structInput), "truncated structure");
    /* the size field itself cut short */
    expectDecodeError(fixture->arena, (const uint8_t[]){0xD1, 0x00}, 2, "string size");
    expectDecodeError(fixture->arena, (const uint8_t[]){0xCB, 0, 0, 0}, 4, "INT_64");
}

static void testMapKeysMustBeStrings(void **state)
{
    Fixture *fixture = *state;
    expectDecodeError(fixture->arena, (const uint8_t[]){0xA1, 0x01, 0x02}, 3, "map key is not a string");
    expectDecodeError(fixture->arena, (const uint8_t[]){0xA1, 0xC0, 0x02}, 3, "byte offset 1");
    /* 8-bit string key form is fine */
    BoltValue map = decodeWhole(fixture->arena, (const uint8_t[]){0xA1, 0xD0, 0x01, 'x', 0x05}, 5);
    assert_true(boltMapGetInt(&map, "x", 0) == 5);
}

static void testDepthLimit(void **state)
{
    Fixture *fixture = *state;
    uint8_t input[PACKSTREAM_MAX_DEPTH + 2];
    /* PACKSTREAM_MAX_DEPTH nested lists decode ... */
    memset(input, 0x91, PACKSTREAM_MAX_DEPTH - 1);
    input[PACKSTREAM_MAX_DEPTH - 1] = 0x90;
    BoltValue value = decodeWhole(fixture->arena, input, PACKSTREAM_MAX_DEPTH);
    int depth = 0;
    for (const BoltValue *cursor = &value; cursor->as.list.count; cursor = &cursor->as.list.items[0])
        depth++;
    assert_int_equal(depth, PACKSTREAM_MAX_DEPTH - 1);
    /* ... one more does not */
    memset(input, 0x91, PACKSTREAM_MAX_DEPTH);
    input[PACKSTREAM_MAX_DEPTH] = 0x90;
    expectDecodeError(fixture->arena, input, PACKSTREAM_MAX_DEPTH + 1, "nesting");
    /* same for structures and maps, alternating */
    uint8_t deep[4 * PACKSTREAM_MAX_DEPTH + 8];
    size_t length = 0;
    for (int level = 0; level < PACKSTREAM_MAX_DEPTH + 1; level++) {
        if (level % 2 == 0) {
            deep[length++] = 0xB1;
            deep[length++] = 0x41;
        } else {
            deep[length++] = 0xA1;
            deep[length++] = 0x80;
        }
    }
    deep[length++] = 0xC0;
    expectDecodeError(fixture->arena, deep, length, "nesting");
    /* trimming one level makes it acceptable */
    BoltValue shallower = decodeWhole(fixture->arena, deep + 2, length - 2);
    assert_int_equal(shallower.type, BOLT_MAP);
}

/* The decoded size is bounded, not only the encoded one: 1000 empty strings
 * are 1003 bytes of input and 40000 bytes of arena (1000 value slots of 24
 * bytes, 1000 copies of 16 after rounding). */
static void testDecodedLimit(void **state)
{
    Fixture *fixture = *state;
    Buffer input;
    bufferInit(&input);
    packListHeader(&input, 1000);
    for (int index = 0; index < 1000; index++)
        packString(&input, "", 0);
    assert_int_equal(sizeof(BoltValue), 24);

    PackReader reader;
    BoltValue value;
    packReaderInit(&reader, input.data, input.length);
    packReaderLimitDecoded(&reader, 40000);
    assert_int_equal(unpackValue(&reader, fixture->arena, &value), ERR_OK);
    assert_int_equal(value.as.list.count, 1000);
    assert_int_equal(reader.decoded, 40000);

    packReaderInit(&reader, input.data, input.length);
    packReaderLimitDecoded(&reader, 39999);
    assert_int_equal(unpackValue(&reader, fixture->arena, &value), NEO4J_PROTOCOL_ERROR);
    assert_non_null(strstr(errLast()->reason, "decodes to more than 39999 bytes"));
    assert_int_equal(reader.offset, 0);
    assert_int_equal(reader.decoded, 0);
    assert_int_equal(value.type, BOLT_NULL);

    /* The slots of a too-long list are refused before they are allocated. */
    packReaderInit(&reader, input.data, input.length);
    packReaderLimitDecoded(&reader, 1000);
    size_t before = arenaBytesUsed(fixture->arena);
    assert_int_equal(unpackValue(&reader, fixture->arena, &value), NEO4J_PROTOCOL_ERROR);
    assert_int_equal(arenaBytesUsed(fixture->arena), before);

    /* Bytes and map entries count too. */
    uint8_t bytes[34] = {0xCC, 0x20};
    memset(bytes + 2, 0xAB, 32);
    packReaderInit(&reader, bytes, sizeof(bytes));
    packReaderLimitDecoded(&reader, 31);
    assert_int_equal(unpackValue(&reader, fixture->arena, &value), NEO4J_PROTOCOL_ERROR);
    packReaderInit(&reader, bytes, sizeof(bytes));
    packReaderLimitDecoded(&reader, 32);
    assert_int_equal(unpackValue(&reader, fixture->arena, &value), ERR_OK);
    const uint8_t map[] = {0xA2, 0x81, 'a', 0x01, 0x81, 'b', 0x02};
    packReaderInit(&reader, map, sizeof(map));
    packReaderLimitDecoded(&reader, 2 * sizeof(BoltMapEntry));
    assert_int_equal(unpackValue(&reader, fixture->arena, &value), NEO4J_PROTOCOL_ERROR);
    bufferFree(&input);
}

static void testSequentialValuesAdvanceOffset(void **state)
{
    Fixture *fixture = *state;
    static const uint8_t input[] = {0x01, 0x82, 'h', 'i', 0xC9, 0x01, 0x00, 0xC7};
    PackReader reader;
    packReaderInit(&reader, input, sizeof(input));
    BoltValue value;
    assert_int_equal(unpackValue(&reader, fixture->arena, &value), ERR_OK);
    assert_int_equal(reader.offset, 1);
    assert_int_equal(unpackValue(&reader, fixture->arena, &value), ERR_OK);
    assert_int_equal(reader.offset, 4);
    assert_string_equal(value.as.string.data, "hi");
    assert_int_equal(unpackValue(&reader, fixture->arena, &value), ERR_OK);
    assert_true(value.as.integer == 256);
    assert_int_equal(unpackValue(&reader, fixture->arena, &value), NEO4J_PROTOCOL_ERROR);
    assert_non_null(strstr(errLast()->reason, "byte offset 7"));
    assert_int_equal(reader.offset, 7);
}

/* xorshift64*: deterministic, so a failure reproduces. */
static uint64_t nextRandom(uint64_t *stateWord)
{
    uint64_t value = *stateWord;
    value ^= value >> 12;
    value ^= value << 25;
    value ^= value >> 27;
    *stateWord = value;
    return value * 0x2545F4914F6CDD1Dull;
}

static void testRandomBytesNeverCrash(void **state)
{
    Fixture *fixture = *state;
    uint64_t seed = 0x9E3779B97F4A7C15ull;
    uint8_t input[96];
    Buffer encoded;
    bufferInit(&encoded);
    Arena *second = arenaNew(0);
    unsigned decodedCount = 0;
    for (int iteration = 0; iteration < 100000; iteration++) {
        size_t length = nextRandom(&seed) % sizeof(input);
        for (size_t index = 0; index < length; index++) {
            uint64_t roll = nextRandom(&seed);
            /* Bias towards small sizes and container markers so decoding
             * gets past the first byte often. */
            switch (roll % 4) {
            case 0: input[index] = (uint8_t)(roll >> 8); break;
            case 1: input[index] = (uint8_t)(0x80 + (roll >> 8) % 0x60); break;
            case 2: input[index] = (uint8_t)((roll >> 8) % 4); break;
            default: input[index] = (uint8_t)(0x90 + (roll >> 8) % 0x30); break;
            }
        }
        PackReader reader;
        packReaderInit(&reader, input, length);
        BoltValue value;
        if (unpackValue(&reader, fixture->arena, &value) == ERR_OK) {
            decodedCount++;
            assert_true(reader.offset <= length);
            bufferClear(&encoded);
            packValue(&encoded, &value);
            PackReader again;
            packReaderInit(&again, encoded.data, encoded.length);
            BoltValue reread;
            assert_int_equal(unpackValue(&again, second, &reread), ERR_OK);
            assert_int_equal(again.offset, encoded.length);
            assert_true(boltValueEqual(&value, &reread));
            char text[256];
            boltValueFormat(text, sizeof(text), &value);
        } else {
            assert_int_equal(reader.offset, 0);
        }
        arenaReset(fixture->arena);
        arenaReset(second);
    }
    assert_true(decodedCount > 1000); /* the generator reaches the decoder's depths */
    arenaFree(second);
    bufferFree(&encoded);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(testIntegerBoundaries, fixtureSetup, fixtureTeardown),
        cmocka_unit_test_setup_teardown(testNonCanonicalIntegersDecode, fixtureSetup, fixtureTeardown),
        cmocka_unit_test_setup_teardown(testFloats, fixtureSetup, fixtureTeardown),
        cmocka_unit_test_setup_teardown(testNullAndBooleans, fixtureSetup, fixtureTeardown),
        cmocka_unit_test(testHeaderBytesSpotChecks),
        cmocka_unit_test_setup_teardown(testStringSizes, fixtureSetup, fixtureTeardown),
        cmocka_unit_test_setup_teardown(testStringKeepsBytesExactly, fixtureSetup, fixtureTeardown),
        cmocka_unit_test_setup_teardown(testBytesSizes, fixtureSetup, fixtureTeardown),
        cmocka_unit_test_setup_teardown(testListSizes, fixtureSetup, fixtureTeardown),
        cmocka_unit_test_setup_teardown(testMapSizes, fixtureSetup, fixtureTeardown),
        cmocka_unit_test_setup_teardown(testStructHeaders, fixtureSetup, fixtureTeardown),
        cmocka_unit_test_setup_teardown(testEveryStructureRoundTrip, fixtureSetup, fixtureTeardown),
        cmocka_unit_test_setup_teardown(testNodeExactBytes, fixtureSetup, fixtureTeardown),
        cmocka_unit_test_setup_teardown(testNestedValues, fixtureSetup, fixtureTeardown),
        cmocka_unit_test_setup_teardown(testDuplicateKeysKeptForByteIdentity, fixtureSetup, fixtureTeardown),
        cmocka_unit_test_setup_teardown(testReservedMarkers, fixtureSetup, fixtureTeardown),
        cmocka_unit_test_setup_teardown(testEveryOtherMarkerIsAccepted, fixtureSetup, fixtureTeardown),
        cmocka_unit_test_setup_teardown(testTruncationAtEveryPrefix, fixtureSetup, fixtureTeardown),
        cmocka_unit_test_setup_teardown(testHugeDeclaredSizesRejectedWithoutAllocation, fixtureSetup,
                                        fixtureTeardown),
        cmocka_unit_test_setup_teardown(testMapKeysMustBeStrings, fixtureSetup, fixtureTeardown),
        cmocka_unit_test_setup_teardown(testDepthLimit, fixtureSetup, fixtureTeardown),
        cmocka_unit_test_setup_teardown(testDecodedLimit, fixtureSetup, fixtureTeardown),
        cmocka_unit_test_setup_teardown(testSequentialValuesAdvanceOffset, fixtureSetup, fixtureTeardown),
        cmocka_unit_test_setup_teardown(testRandomBytesNeverCrash, fixtureSetup, fixtureTeardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
