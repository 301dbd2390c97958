/* Import load, CSV side: value texts, name safety, the files written from a
 * small archive, and the neo4j-admin arguments. */
#include "restore/import_csv.h"

#include "archive/archive.h"
#include "bolt/packstream.h"
#include "graph/records.h"

#include <dirent.h>
#include <float.h>
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

/* ---- importCsvAppendValue ------------------------------------------------ */

/* Something already in the buffer: the value must be appended after it, and
 * left untouched on refusal. */
#define PREFIX "pre,"

static void expectTextN(const BoltValue *value, const char *expected, size_t expectedLength, ImportBaseType base,
                        bool array)
{
    Buffer out;
    bufferInit(&out);
    bufferAppend(&out, PREFIX, strlen(PREFIX));
    ImportCsvType type = {IMPORT_TYPE_NONE, !array};
    assert_true(importCsvAppendValue(&out, value, &type));
    assert_int_equal(out.length, strlen(PREFIX) + expectedLength);
    assert_memory_equal(out.data, PREFIX, strlen(PREFIX));
    assert_memory_equal(out.data + strlen(PREFIX), expected, expectedLength);
    assert_int_equal(type.base, base);
    assert_int_equal(type.array, array);
    bufferFree(&out);
}

/* expected is a string literal (may hold the \x1f delimiter). */
#define EXPECT_TEXT(value, expected, base, array) expectTextN((value), (expected), sizeof(expected) - 1, (base), (array))

static void expectRefused(const BoltValue *value)
{
    Buffer out;
    bufferInit(&out);
    bufferAppend(&out, PREFIX, strlen(PREFIX));
    ImportCsvType type = {IMPORT_TYPE_STRING, true};
    assert_false(importCsvAppendValue(&out, value, &type));
    assert_int_equal(out.length, strlen(PREFIX));
    assert_memory_equal(out.data, PREFIX, strlen(PREFIX));
    assert_int_equal(type.base, IMPORT_TYPE_NONE);
    assert_false(type.array);
    bufferFree(&out);
}

static BoltValue structOf(Arena *arena, uint8_t tag, uint8_t count, const BoltValue *fields)
{
    BoltValue value = boltStruct(arena, tag, count);
    for (uint8_t index = 0; index < count; index++)
        value.as.structure.fields[index] = fields[index];
    return value;
}

static BoltValue intStruct(Arena *arena, uint8_t tag, uint8_t count, int64_t first, int64_t second, int64_t third,
                           int64_t fourth)
{
    const BoltValue fields[4] = {boltInt(first), boltInt(second), boltInt(third), boltInt(fourth)};
    return structOf(arena, tag, count, fields);
}

static BoltValue listOf(Arena *arena, uint32_t count, const BoltValue *items)
{
    BoltValue list = boltList(arena, count);
    for (uint32_t index = 0; index < count; index++)
        list.as.list.items[index] = items[index];
    return list;
}

static void testScalars(void **state)
{
    (void)state;
    BoltValue value = boltBool(true);
    EXPECT_TEXT(&value, "true", IMPORT_TYPE_BOOLEAN, false);
    value = boltBool(false);
    EXPECT_TEXT(&value, "false", IMPORT_TYPE_BOOLEAN, false);
    value = boltInt(INT64_MIN);
    EXPECT_TEXT(&value, "-9223372036854775808", IMPORT_TYPE_LONG, false);
    value = boltInt(INT64_MAX);
    EXPECT_TEXT(&value, "9223372036854775807", IMPORT_TYPE_LONG, false);
    value = boltInt(0);
    EXPECT_TEXT(&value, "0", IMPORT_TYPE_LONG, false);
}

/* The text written for real, NUL-terminated (caller frees). */
static char *doubleText(double real)
{
    Buffer out;
    bufferInit(&out);
    BoltValue value = boltFloat(real);
    ImportCsvType type;
    assert_true(importCsvAppendValue(&out, &value, &type));
    assert_int_equal(type.base, IMPORT_TYPE_DOUBLE);
    assert_false(type.array);
    char *text = calloc(1, out.length + 1);
    assert_non_null(text);
    memcpy(text, out.data, out.length);
    bufferFree(&out);
    return text;
}

static void expectDoubleRoundTrip(double real)
{
    char *text = doubleText(real);
    char *end = NULL;
    double back = strtod(text, &end);
    assert_int_equal(*end, '\0');
    uint64_t wantBits;
    uint64_t gotBits;
    memcpy(&wantBits, &real, sizeof(wantBits));
    memcpy(&gotBits, &back, sizeof(gotBits));
    assert_int_equal(gotBits, wantBits);
    free(text);
}

static void testDoubles(void **state)
{
    (void)state;
    BoltValue value = boltFloat(0.5);
    EXPECT_TEXT(&value, "0.5", IMPORT_TYPE_DOUBLE, false);
    value = boltFloat(-0.0);
    EXPECT_TEXT(&value, "-0", IMPORT_TYPE_DOUBLE, false);
    /* %.17g would give 0.10000000000000001: the shortest form is wanted. */
    value = boltFloat(0.1);
    EXPECT_TEXT(&value, "0.1", IMPORT_TYPE_DOUBLE, false);
    value = boltFloat(-2.5e-7);
    EXPECT_TEXT(&value, "-2.5e-07", IMPORT_TYPE_DOUBLE, false);

    expectDoubleRoundTrip(5e-324);
    expectDoubleRoundTrip(DBL_MAX);
    expectDoubleRoundTrip(1.7976931348623157e308);
    expectDoubleRoundTrip(-0.0);
    expectDoubleRoundTrip(0.1 + 0.2);
    expectDoubleRoundTrip(DBL_MIN);
    /* Whole numbers, below and above 2^53. */
    value = boltFloat(3.0);
    EXPECT_TEXT(&value, "3", IMPORT_TYPE_DOUBLE, false);
    expectDoubleRoundTrip(-4e15);
    expectDoubleRoundTrip(9007199254740991.0);
    expectDoubleRoundTrip(9007199254740992.0);
    expectDoubleRoundTrip(9007199254740994.0);
    expectDoubleRoundTrip(-9.2233720368547758e18);
    expectDoubleRoundTrip(1e300);

    value = boltFloat(NAN);
    expectRefused(&value);
    value = boltFloat(INFINITY);
    expectRefused(&value);
    value = boltFloat(-INFINITY);
    expectRefused(&value);
}

static void testStrings(void **state)
{
    (void)state;
    Arena *arena = arenaNew(0);
    BoltValue value = boltString(arena, "a\"b");
    EXPECT_TEXT(&value, "\"a\"\"b\"", IMPORT_TYPE_STRING, false);
    value = boltString(arena, "");
    EXPECT_TEXT(&value, "\"\"", IMPORT_TYPE_STRING, false);
    value = boltString(arena, "x, y; z \xc3\xa9");
    EXPECT_TEXT(&value, "\"x, y; z \xc3\xa9\"", IMPORT_TYPE_STRING, false);
    value = boltString(arena, "\"");
    EXPECT_TEXT(&value, "\"\"\"\"", IMPORT_TYPE_STRING, false);

    value = boltString(arena, "line\nbreak");
    expectRefused(&value);
    value = boltString(arena, "carriage\rreturn");
    expectRefused(&value);
    value = boltString(arena, "unit\x1fseparator");
    expectRefused(&value);
    /* An embedded NUL cannot travel in a CSV field either. */
    value = boltStringN(arena, "nul\0inside", 10);
    expectRefused(&value);

    value = boltNull();
    expectRefused(&value);
    value = boltMap(arena, 0);
    expectRefused(&value);
    arenaFree(arena);
}

static void testBytesAndLists(void **state)
{
    (void)state;
    Arena *arena = arenaNew(0);
    const uint8_t bytes[] = {0x00, 0x01, 0xfe, 0xff};
    BoltValue value = boltBytes(arena, bytes, sizeof(bytes));
    EXPECT_TEXT(&value, "\"0\x1f" "1\x1f" "-2\x1f" "-1\"", IMPORT_TYPE_BYTE, true);
    value = boltBytes(arena, bytes, 0);
    expectRefused(&value);

    const BoltValue ints[] = {boltInt(1), boltInt(-2), boltInt(INT64_MAX)};
    value = listOf(arena, 3, ints);
    EXPECT_TEXT(&value, "\"1\x1f" "-2\x1f" "9223372036854775807\"", IMPORT_TYPE_LONG, true);

    const BoltValue reals[] = {boltFloat(0.5), boltFloat(-0.0)};
    value = listOf(arena, 2, reals);
    EXPECT_TEXT(&value, "\"0.5\x1f-0\"", IMPORT_TYPE_DOUBLE, true);

    const BoltValue strings[] = {boltString(arena, "a\"b"), boltString(arena, "c d")};
    value = listOf(arena, 2, strings);
    EXPECT_TEXT(&value, "\"a\"\"b\x1f" "c d\"", IMPORT_TYPE_STRING, true);

    const BoltValue single[] = {boltBool(true)};
    value = listOf(arena, 1, single);
    EXPECT_TEXT(&value, "\"true\"", IMPORT_TYPE_BOOLEAN, true);

    const BoltValue dates[] = {intStruct(arena, BOLT_TAG_DATE, 1, 0, 0, 0, 0),
                               intStruct(arena, BOLT_TAG_DATE, 1, 1, 0, 0, 0)};
    value = listOf(arena, 2, dates);
    EXPECT_TEXT(&value, "\"1970-01-01\x1f" "1970-01-02\"", IMPORT_TYPE_DATE, true);

    const BoltValue mixed[] = {boltInt(1), boltString(arena, "2")};
    value = listOf(arena, 2, mixed);
    expectRefused(&value);
    const BoltValue intThenFloat[] = {boltInt(1), boltFloat(2.0)};
    value = listOf(arena, 2, intThenFloat);
    expectRefused(&value);
    value = boltList(arena, 0);
    expectRefused(&value);
    const BoltValue withEmpty[] = {boltString(arena, "a"), boltString(arena, "")};
    value = listOf(arena, 2, withEmpty);
    expectRefused(&value);
    const BoltValue onlyEmpty[] = {boltString(arena, "")};
    value = listOf(arena, 1, onlyEmpty);
    expectRefused(&value);
    const BoltValue withDelimiter[] = {boltString(arena, "a\x1f" "b")};
    value = listOf(arena, 1, withDelimiter);
    expectRefused(&value);
    const BoltValue withNull[] = {boltInt(1), boltNull()};
    value = listOf(arena, 2, withNull);
    expectRefused(&value);
    BoltValue nested[] = {boltList(arena, 1)};
    nested[0].as.list.items[0] = boltInt(1);
    value = listOf(arena, 1, nested);
    expectRefused(&value);
    const BoltValue withNan[] = {boltFloat(1.0), boltFloat(NAN)};
    value = listOf(arena, 2, withNan);
    expectRefused(&value);
    arenaFree(arena);
}

static void testDates(void **state)
{
    (void)state;
    Arena *arena = arenaNew(0);
    BoltValue value = intStruct(arena, BOLT_TAG_DATE, 1, 0, 0, 0, 0);
    EXPECT_TEXT(&value, "\"1970-01-01\"", IMPORT_TYPE_DATE, false);
    value = intStruct(arena, BOLT_TAG_DATE, 1, 11016, 0, 0, 0);
    EXPECT_TEXT(&value, "\"2000-02-29\"", IMPORT_TYPE_DATE, false);
    value = intStruct(arena, BOLT_TAG_DATE, 1, 11017, 0, 0, 0);
    EXPECT_TEXT(&value, "\"2000-03-01\"", IMPORT_TYPE_DATE, false);
    value = intStruct(arena, BOLT_TAG_DATE, 1, -1, 0, 0, 0);
    EXPECT_TEXT(&value, "\"1969-12-31\"", IMPORT_TYPE_DATE, false);
    value = intStruct(arena, BOLT_TAG_DATE, 1, -719162, 0, 0, 0);
    EXPECT_TEXT(&value, "\"0001-01-01\"", IMPORT_TYPE_DATE, false);
    value = intStruct(arena, BOLT_TAG_DATE, 1, 2932896, 0, 0, 0);
    EXPECT_TEXT(&value, "\"9999-12-31\"", IMPORT_TYPE_DATE, false);
    /* 10000-01-01 and 0000-12-31: outside four-digit years. */
    value = intStruct(arena, BOLT_TAG_DATE, 1, 2932897, 0, 0, 0);
    expectRefused(&value);
    value = intStruct(arena, BOLT_TAG_DATE, 1, -719163, 0, 0, 0);
    expectRefused(&value);
    /* Wrong shapes. */
    value = intStruct(arena, BOLT_TAG_DATE, 2, 0, 0, 0, 0);
    expectRefused(&value);
    const BoltValue notInt[] = {boltFloat(0.0)};
    value = structOf(arena, BOLT_TAG_DATE, 1, notInt);
    expectRefused(&value);
    arenaFree(arena);
}

static void testTimes(void **state)
{
    (void)state;
    Arena *arena = arenaNew(0);
    BoltValue value = intStruct(arena, BOLT_TAG_LOCAL_TIME, 1, 1, 0, 0, 0);
    EXPECT_TEXT(&value, "\"00:00:00.000000001\"", IMPORT_TYPE_LOCALTIME, false);
    value = intStruct(arena, BOLT_TAG_LOCAL_TIME, 1, 86399999999999LL, 0, 0, 0);
    EXPECT_TEXT(&value, "\"23:59:59.999999999\"", IMPORT_TYPE_LOCALTIME, false);
    value = intStruct(arena, BOLT_TAG_LOCAL_TIME, 1, 86400000000000LL, 0, 0, 0);
    expectRefused(&value);
    value = intStruct(arena, BOLT_TAG_LOCAL_TIME, 1, -1, 0, 0, 0);
    expectRefused(&value);

    value = intStruct(arena, BOLT_TAG_TIME, 2, 3723000000005LL, 19800, 0, 0);
    EXPECT_TEXT(&value, "\"01:02:03.000000005+05:30\"", IMPORT_TYPE_TIME, false);
    value = intStruct(arena, BOLT_TAG_TIME, 2, 0, -12600, 0, 0);
    EXPECT_TEXT(&value, "\"00:00:00.000000000-03:30\"", IMPORT_TYPE_TIME, false);
    value = intStruct(arena, BOLT_TAG_TIME, 2, 0, -45, 0, 0);
    expectRefused(&value);
    value = intStruct(arena, BOLT_TAG_TIME, 2, 0, 18 * 3600 + 60, 0, 0);
    expectRefused(&value);

    /* 2000-02-29T01:01:01 and one second before the epoch. */
    value = intStruct(arena, BOLT_TAG_LOCAL_DATE_TIME, 2, 951786061, 123, 0, 0);
    EXPECT_TEXT(&value, "\"2000-02-29T01:01:01.000000123\"", IMPORT_TYPE_LOCALDATETIME, false);
    value = intStruct(arena, BOLT_TAG_LOCAL_DATE_TIME, 2, -1, 0, 0, 0);
    EXPECT_TEXT(&value, "\"1969-12-31T23:59:59.000000000\"", IMPORT_TYPE_LOCALDATETIME, false);
    value = intStruct(arena, BOLT_TAG_LOCAL_DATE_TIME, 2, 0, 1000000000, 0, 0);
    expectRefused(&value);
    value = intStruct(arena, BOLT_TAG_LOCAL_DATE_TIME, 2, 2932897LL * 86400, 0, 0, 0);
    expectRefused(&value);

    value = intStruct(arena, BOLT_TAG_DATE_TIME, 3, 0, 0, 3600, 0);
    EXPECT_TEXT(&value, "\"1970-01-01T01:00:00.000000000+01:00\"", IMPORT_TYPE_DATETIME, false);
    value = intStruct(arena, BOLT_TAG_DATE_TIME, 3, 0, 7, -3600, 0);
    EXPECT_TEXT(&value, "\"1969-12-31T23:00:00.000000007-01:00\"", IMPORT_TYPE_DATETIME, false);
    value = intStruct(arena, BOLT_TAG_DATE_TIME, 3, 0, 0, 30, 0);
    expectRefused(&value);
    /* An offset no server sends (a damaged archive) must not overflow. */
    value = intStruct(arena, BOLT_TAG_DATE_TIME, 3, 1, 0, INT64_MAX, 0);
    expectRefused(&value);

    const BoltValue zoned[] = {boltInt(0), boltInt(0), boltString(arena, "Europe/Paris")};
    value = structOf(arena, BOLT_TAG_DATE_TIME_ZONE_ID, 3, zoned);
    expectRefused(&value);
    arenaFree(arena);
}

static void testDurationsAndPoints(void **state)
{
    (void)state;
    Arena *arena = arenaNew(0);
    BoltValue value = intStruct(arena, BOLT_TAG_DURATION, 4, 14, 3, 5, 7);
    EXPECT_TEXT(&value, "\"P14M3DT5.000000007S\"", IMPORT_TYPE_DURATION, false);
    value = intStruct(arena, BOLT_TAG_DURATION, 4, 0, -1, 0, 0);
    expectRefused(&value);
    value = intStruct(arena, BOLT_TAG_DURATION, 4, 0, 0, -5, 0);
    expectRefused(&value);
    value = intStruct(arena, BOLT_TAG_DURATION, 4, 0, 0, 0, 1000000000);
    expectRefused(&value);

    const BoltValue cartesian[] = {boltInt(7203), boltFloat(1.5), boltFloat(-0.0)};
    value = structOf(arena, BOLT_TAG_POINT_2D, 3, cartesian);
    EXPECT_TEXT(&value, "\"{crs:'cartesian',x:1.5,y:-0}\"", IMPORT_TYPE_POINT, false);
    const BoltValue wgs2d[] = {boltInt(4326), boltFloat(12.5), boltFloat(55.25)};
    value = structOf(arena, BOLT_TAG_POINT_2D, 3, wgs2d);
    EXPECT_TEXT(&value, "\"{crs:'WGS-84',x:12.5,y:55.25}\"", IMPORT_TYPE_POINT, false);
    const BoltValue wgs3d[] = {boltInt(4979), boltFloat(1.0), boltFloat(2.0), boltFloat(0.1)};
    value = structOf(arena, BOLT_TAG_POINT_3D, 4, wgs3d);
    EXPECT_TEXT(&value, "\"{crs:'WGS-84-3D',x:1,y:2,z:0.1}\"", IMPORT_TYPE_POINT, false);
    const BoltValue cartesian3d[] = {boltInt(9157), boltFloat(1.0), boltFloat(2.0), boltFloat(3.0)};
    value = structOf(arena, BOLT_TAG_POINT_3D, 4, cartesian3d);
    EXPECT_TEXT(&value, "\"{crs:'cartesian-3D',x:1,y:2,z:3}\"", IMPORT_TYPE_POINT, false);
    const BoltValue points[] = {structOf(arena, BOLT_TAG_POINT_2D, 3, cartesian),
                                structOf(arena, BOLT_TAG_POINT_2D, 3, wgs2d)};
    value = listOf(arena, 2, points);
    EXPECT_TEXT(&value, "\"{crs:'cartesian',x:1.5,y:-0}\x1f{crs:'WGS-84',x:12.5,y:55.25}\"", IMPORT_TYPE_POINT,
                true);

    const BoltValue unknownSrid[] = {boltInt(1234), boltFloat(1.0), boltFloat(2.0)};
    value = structOf(arena, BOLT_TAG_POINT_2D, 3, unknownSrid);
    expectRefused(&value);
    /* A 3D srid on a 2D point. */
    const BoltValue wrongDimension[] = {boltInt(4979), boltFloat(1.0), boltFloat(2.0)};
    value = structOf(arena, BOLT_TAG_POINT_2D, 3, wrongDimension);
    expectRefused(&value);
    const BoltValue nanY[] = {boltInt(7203), boltFloat(1.0), boltFloat(NAN)};
    value = structOf(arena, BOLT_TAG_POINT_2D, 3, nanY);
    expectRefused(&value);
    const BoltValue infZ[] = {boltInt(9157), boltFloat(1.0), boltFloat(2.0), boltFloat(INFINITY)};
    value = structOf(arena, BOLT_TAG_POINT_3D, 4, infZ);
    expectRefused(&value);
    const BoltValue intCoordinate[] = {boltInt(7203), boltInt(1), boltFloat(2.0)};
    value = structOf(arena, BOLT_TAG_POINT_2D, 3, intCoordinate);
    expectRefused(&value);

    /* Graph structures are not property values. */
    value = intStruct(arena, BOLT_TAG_NODE, 3, 1, 0, 0, 0);
    expectRefused(&value);
    arenaFree(arena);
}

static void testTypeNames(void **state)
{
    (void)state;
    assert_string_equal(importCsvTypeName((ImportCsvType){IMPORT_TYPE_LONG, false}), "long");
    assert_string_equal(importCsvTypeName((ImportCsvType){IMPORT_TYPE_LONG, true}), "long[]");
    assert_string_equal(importCsvTypeName((ImportCsvType){IMPORT_TYPE_STRING, true}), "string[]");
    assert_string_equal(importCsvTypeName((ImportCsvType){IMPORT_TYPE_BYTE, true}), "byte[]");
    assert_string_equal(importCsvTypeName((ImportCsvType){IMPORT_TYPE_POINT, false}), "point");
    assert_string_equal(importCsvTypeName((ImportCsvType){IMPORT_TYPE_BOOLEAN, false}), "boolean");
    assert_string_equal(importCsvTypeName((ImportCsvType){IMPORT_TYPE_DOUBLE, true}), "double[]");
    assert_string_equal(importCsvTypeName((ImportCsvType){IMPORT_TYPE_LOCALDATETIME, false}), "localdatetime");
    assert_string_equal(importCsvTypeName((ImportCsvType){IMPORT_TYPE_DATETIME, true}), "datetime[]");
    assert_string_equal(importCsvTypeName((ImportCsvType){IMPORT_TYPE_DURATION, false}), "duration");
    assert_string_equal(importCsvTypeName((ImportCsvType){IMPORT_TYPE_NONE, false}), "");
}

/* ---- name safety --------------------------------------------------------- */

#define SAFE(function, literal) function((literal), sizeof(literal) - 1)

static void testKeySafe(void **state)
{
    (void)state;
    assert_true(SAFE(importCsvKeySafe, "name"));
    assert_true(SAFE(importCsvKeySafe, "first name"));
    assert_true(SAFE(importCsvKeySafe, "\xc3\xa9t\xc3\xa9"));
    assert_false(SAFE(importCsvKeySafe, ""));
    assert_false(SAFE(importCsvKeySafe, "a:b"));
    /* neo4j-admin cuts bracketed parts out of header names. */
    assert_false(SAFE(importCsvKeySafe, "a(b)c"));
    assert_false(SAFE(importCsvKeySafe, "a{b}"));
    assert_false(SAFE(importCsvKeySafe, "list[0]"));
    assert_false(SAFE(importCsvKeySafe, "a,b"));
    assert_false(SAFE(importCsvKeySafe, "a\"b"));
    assert_false(SAFE(importCsvKeySafe, "a\nb"));
    assert_false(SAFE(importCsvKeySafe, "a\rb"));
    assert_false(SAFE(importCsvKeySafe, "a\x1f" "b"));
    assert_false(SAFE(importCsvKeySafe, " lead"));
    assert_false(SAFE(importCsvKeySafe, "trail "));
    assert_false(SAFE(importCsvKeySafe, "nul\0inside"));
}

static void testLabelAndTypeSafe(void **state)
{
    (void)state;
    assert_true(SAFE(importCsvLabelSafe, "Person"));
    assert_true(SAFE(importCsvLabelSafe, "Two Words"));
    assert_true(SAFE(importCsvLabelSafe, "back`tick"));
    assert_true(SAFE(importCsvLabelSafe, "with,comma:and\"quote"));
    assert_true(SAFE(importCsvLabelSafe, "\xe6\x97\xa5\xe6\x9c\xac"));
    assert_false(SAFE(importCsvLabelSafe, ""));
    assert_false(SAFE(importCsvLabelSafe, "a\x1f" "b"));
    assert_false(SAFE(importCsvLabelSafe, "a\nb"));
    assert_false(SAFE(importCsvLabelSafe, "a\rb"));

    assert_true(SAFE(importCsvTypeSafe, "KNOWS"));
    assert_true(SAFE(importCsvTypeSafe, "LIVES IN"));
    assert_true(SAFE(importCsvTypeSafe, "\xc3\xa9tait"));
    assert_false(SAFE(importCsvTypeSafe, ""));
    assert_false(SAFE(importCsvTypeSafe, "BAD\nTYPE"));
    assert_false(SAFE(importCsvTypeSafe, "BAD\x1fTYPE"));
}

/* ---- importCsvWrite -------------------------------------------------------- */

typedef struct {
    char root[64];          /* mkdtemp directory */
    char archive[128];      /* root/graph.nbk.zst */
    char output[128];       /* root/out, receives the CSV files */
    Arena *arena;
    ArcWriter *writer;
} WriteFixture;

static void fixtureInit(WriteFixture *fixture)
{
    memset(fixture, 0, sizeof(*fixture));
    snprintf(fixture->root, sizeof(fixture->root), "/tmp/import_csv_test_XXXXXX");
    assert_non_null(mkdtemp(fixture->root));
    snprintf(fixture->archive, sizeof(fixture->archive), "%s/graph.nbk.zst", fixture->root);
    snprintf(fixture->output, sizeof(fixture->output), "%s/out", fixture->root);
    assert_int_equal(mkdir(fixture->output, 0700), 0);
    fixture->arena = arenaNew(0);

    BoltValue header = boltMap(fixture->arena, 1);
    boltMapSet(fixture->arena, &header, 0, "format", boltString(fixture->arena, "nbk-logical-1"));
    Buffer headerPacked;
    bufferInit(&headerPacked);
    packValue(&headerPacked, &header);
    assert_int_equal(arcWriterOpen(&fixture->writer, fixture->archive, ARC_COMPRESSION_ZSTD, 0, 0,
                                   headerPacked.data, headerPacked.length),
                     ERR_OK);
    bufferFree(&headerPacked);
}

static void fixtureFinishArchive(WriteFixture *fixture)
{
    ArcTotals totals;
    assert_int_equal(arcWriterFinish(fixture->writer, &totals), ERR_OK);
    arcWriterFree(fixture->writer);
    fixture->writer = NULL;
}

static void removeDirectory(const char *path)
{
    DIR *directory = opendir(path);
    if (!directory)
        return;
    struct dirent *entry;
    while ((entry = readdir(directory)) != NULL) {
        if (strcmp(entry->d_name, ".") == 0 || strcmp(entry->d_name, "..") == 0)
            continue;
        char child[512];
        snprintf(child, sizeof(child), "%s/%s", path, entry->d_name);
        struct stat info;
        if (lstat(child, &info) == 0 && S_ISDIR(info.st_mode))
            removeDirectory(child);
        else
            unlink(child);
    }
    closedir(directory);
    rmdir(path);
}

static void fixtureFree(WriteFixture *fixture)
{
    arcWriterFree(fixture->writer);
    arenaFree(fixture->arena);
    removeDirectory(fixture->root);
    struct stat info;
    assert_int_not_equal(stat(fixture->root, &info), 0);
}

static void addRecord(ArcWriter *writer, ArcRecordKind kind, const BoltValue *value)
{
    Buffer packed;
    bufferInit(&packed);
    packValue(&packed, value);
    assert_int_equal(arcWriterAdd(writer, kind, packed.data, packed.length), ERR_OK);
    bufferFree(&packed);
}

/* properties: count entries of keys[index] = values[index]. */
static BoltValue nodeRecord(Arena *arena, int64_t key, uint32_t labelCount, const char *const *labels,
                            uint32_t count, const char *const *keys, const BoltValue *values)
{
    BoltValue record = boltList(arena, 3);
    record.as.list.items[0] = boltInt(key);
    record.as.list.items[1] = boltList(arena, labelCount);
    for (uint32_t index = 0; index < labelCount; index++)
        record.as.list.items[1].as.list.items[index] = boltString(arena, labels[index]);
    record.as.list.items[2] = boltMap(arena, count);
    for (uint32_t index = 0; index < count; index++)
        boltMapSet(arena, &record.as.list.items[2], index, keys[index], values[index]);
    return record;
}

static BoltValue relationshipRecord(Arena *arena, int64_t key, int64_t start, int64_t end, const char *type,
                                    const char *property, BoltValue value)
{
    BoltValue record = boltList(arena, 5);
    record.as.list.items[0] = boltInt(key);
    record.as.list.items[1] = boltInt(start);
    record.as.list.items[2] = boltInt(end);
    record.as.list.items[3] = boltString(arena, type);
    record.as.list.items[4] = boltMap(arena, property ? 1 : 0);
    if (property)
        boltMapSet(arena, &record.as.list.items[4], 0, property, value);
    return record;
}

static BoltValue schemaRecord(Arena *arena)
{
    BoltValue map = boltMap(arena, 7);
    boltMapSet(arena, &map, 0, "kind", boltString(arena, "index"));
    boltMapSet(arena, &map, 1, "name", boltString(arena, "person v"));
    boltMapSet(arena, &map, 2, "type", boltString(arena, "RANGE"));
    boltMapSet(arena, &map, 3, "entityType", boltString(arena, "NODE"));
    BoltValue labels = boltList(arena, 1);
    labels.as.list.items[0] = boltString(arena, "Person");
    boltMapSet(arena, &map, 4, "labelsOrTypes", labels);
    BoltValue properties = boltList(arena, 1);
    properties.as.list.items[0] = boltString(arena, "v");
    boltMapSet(arena, &map, 5, "properties", properties);
    boltMapSet(arena, &map, 6, "createStatement", boltString(arena, "CREATE INDEX `person v` ..."));
    return map;
}

/* Whole file, NUL-terminated too (caller frees). */
static char *readWhole(const char *path, size_t *length)
{
    FILE *file = fopen(path, "rb");
    assert_non_null(file);
    assert_int_equal(fseek(file, 0, SEEK_END), 0);
    long size = ftell(file);
    assert_true(size >= 0);
    rewind(file);
    char *data = malloc((size_t)size + 1);
    assert_non_null(data);
    assert_int_equal(fread(data, 1, (size_t)size, file), (size_t)size);
    data[size] = '\0';
    fclose(file);
    *length = (size_t)size;
    return data;
}

static void expectFile(const char *path, const char *expected)
{
    size_t length = 0;
    char *data = readWhole(path, &length);
    assert_int_equal(length, strlen(expected));
    assert_memory_equal(data, expected, length);
    free(data);
}

/* Parses a fix-up file: every entry must be [u32 BE length][one packed
 * record of exactly that length]; returns the count and the records' keys. */
static size_t readFixups(const char *path, int64_t *keys, size_t maxKeys, Buffer *allPacked)
{
    size_t length = 0;
    char *data = readWhole(path, &length);
    const uint8_t *bytes = (const uint8_t *)data;
    Arena *arena = arenaNew(0);
    size_t count = 0;
    size_t offset = 0;
    while (offset < length) {
        assert_true(length - offset >= 4);
        uint32_t recordLength = (uint32_t)bytes[offset] << 24 | (uint32_t)bytes[offset + 1] << 16 |
                                (uint32_t)bytes[offset + 2] << 8 | bytes[offset + 3];
        offset += 4;
        assert_true(recordLength > 0 && recordLength <= length - offset);
        PackReader reader;
        packReaderInit(&reader, bytes + offset, recordLength);
        BoltValue record;
        assert_int_equal(unpackValue(&reader, arena, &record), ERR_OK);
        assert_int_equal(reader.offset, recordLength);
        assert_int_equal(record.type, BOLT_LIST);
        assert_true(count < maxKeys);
        keys[count++] = record.as.list.items[0].as.integer;
        if (allPacked)
            bufferAppend(allPacked, bytes + offset, recordLength);
        offset += recordLength;
        arenaReset(arena);
    }
    arenaFree(arena);
    free(data);
    return count;
}

static uint64_t fileSize(const char *path)
{
    struct stat info;
    assert_int_equal(stat(path, &info), 0);
    return (uint64_t)info.st_size;
}

/* The main archive: consistent nodes, three nodes needing fix-ups, a
 * relationship with an unsafe type and an orphan. Returns node 3 packed,
 * the first fix-up record, into firstFixup. */
static void writeMainArchive(WriteFixture *fixture, Buffer *firstFixup)
{
    Arena *arena = fixture->arena;
    ArcWriter *writer = fixture->writer;
    BoltValue schema = schemaRecord(arena);
    addRecord(writer, ARC_RECORD_SCHEMA, &schema);

    const char *person[] = {"Person"};
    const char *personEmployee[] = {"Person", "Employee"};
    const char *badLabel[] = {"bad\nlabel", "Person"};
    const char *vName[] = {"v", "name"};
    const char *vOnly[] = {"v"};
    const char *whenOnly[] = {"when"};

    const BoltValue ann[] = {boltInt(10), boltString(arena, "Ann")};
    BoltValue node1 = nodeRecord(arena, 1, 1, person, 2, vName, ann);
    const BoltValue bob[] = {boltInt(20), boltString(arena, "B\"ob")};
    BoltValue node2 = nodeRecord(arena, 2, 2, personEmployee, 2, vName, bob);
    /* v is a long column: a string v needs a fix-up. */
    const BoltValue text[] = {boltString(arena, "text")};
    BoltValue node3 = nodeRecord(arena, 3, 1, person, 1, vOnly, text);
    const BoltValue forty[] = {boltInt(40)};
    BoltValue node4 = nodeRecord(arena, 4, 2, badLabel, 1, vOnly, forty);
    const BoltValue zoned[] = {structOf(arena, BOLT_TAG_DATE_TIME_ZONE_ID, 3,
                                        (const BoltValue[]){boltInt(0), boltInt(0),
                                                            boltString(arena, "Europe/Paris")})};
    BoltValue node5 = nodeRecord(arena, 5, 0, NULL, 1, whenOnly, zoned);

    addRecord(writer, ARC_RECORD_NODE, &node1);
    addRecord(writer, ARC_RECORD_NODE, &node2);
    /* Relationships may come before their end nodes in the file. */
    BoltValue knows = relationshipRecord(arena, 100, 1, 2, "KNOWS", "since", boltInt(1999));
    BoltValue badType = relationshipRecord(arena, 101, 2, 3, "BAD\nTYPE", "since", boltInt(2000));
    BoltValue orphan = relationshipRecord(arena, 102, 1, 999, "LOST", NULL, boltNull());
    addRecord(writer, ARC_RECORD_RELATIONSHIP, &knows);
    addRecord(writer, ARC_RECORD_RELATIONSHIP, &badType);
    addRecord(writer, ARC_RECORD_RELATIONSHIP, &orphan);
    addRecord(writer, ARC_RECORD_NODE, &node3);
    addRecord(writer, ARC_RECORD_NODE, &node4);
    addRecord(writer, ARC_RECORD_NODE, &node5);
    fixtureFinishArchive(fixture);
    packValue(firstFixup, &node3);
}

static void testWriteMainArchive(void **state)
{
    (void)state;
    WriteFixture fixture;
    fixtureInit(&fixture);
    Buffer node3Packed;
    bufferInit(&node3Packed);
    writeMainArchive(&fixture, &node3Packed);

    ImportCsvRequest request = {.archive = {.path = fixture.archive}, .directory = fixture.output};
    ImportCsv csv;
    assert_int_equal(importCsvWrite(&request, &csv), ERR_OK);

    assert_int_equal(csv.nodes, 5);
    assert_int_equal(csv.relationships, 2);
    assert_int_equal(csv.orphanRelationships, 1);
    assert_int_equal(csv.fixupNodes, 3);
    assert_int_equal(csv.fixupRelationships, 1);
    assert_int_equal(csv.nodeColumns, 2);
    assert_int_equal(csv.relationshipColumns, 1);
    assert_false(csv.stringIds);
    assert_int_equal(strncmp(csv.marker, "nbk_fixup_", 10), 0);
    assert_true(strlen(csv.marker) > 10);

    char expected[2 * IMPORT_PATH_SIZE + 64];
    snprintf(expected, sizeof(expected), ":ID,:LABEL,v:long,name:string,%s:long\n", csv.marker);
    expectFile(csv.nodeHeader, expected);
    snprintf(expected, sizeof(expected), ":START_ID,:END_ID,:TYPE,since:long,%s:long\n", csv.marker);
    expectFile(csv.relationshipHeader, expected);

    /* Complete rows end with an empty marker, fix-up rows with their
     * ordinal; the label CSV cannot carry is left out of node 4's row. */
    expectFile(csv.nodeData, "1,\"Person\",10,\"Ann\",\n"
                             "2,\"Person\x1f" "Employee\",20,\"B\"\"ob\",\n"
                             "3,\"Person\",,,0\n"
                             "4,\"Person\",40,,1\n"
                             "5,,,,2\n");
    expectFile(csv.relationshipData, "1,2,\"KNOWS\",1999,\n"
                                     "2,3," IMPORT_PLACEHOLDER_TYPE ",2000,0\n");
    assert_int_equal(csv.csvBytes, fileSize(csv.nodeData) + fileSize(csv.relationshipData));

    int64_t keys[8];
    Buffer nodeFixups;
    bufferInit(&nodeFixups);
    assert_int_equal(readFixups(csv.nodeFixups, keys, 8, &nodeFixups), 3);
    assert_int_equal(keys[0], 3);
    assert_int_equal(keys[1], 4);
    assert_int_equal(keys[2], 5);
    /* The record is kept byte for byte as the archive holds it. */
    assert_true(nodeFixups.length > node3Packed.length);
    assert_memory_equal(nodeFixups.data, node3Packed.data, node3Packed.length);
    bufferFree(&nodeFixups);
    assert_int_equal(readFixups(csv.relationshipFixups, keys, 8, NULL), 1);
    assert_int_equal(keys[0], 101);

    /* Paths are inside the requested directory. */
    assert_int_equal(strncmp(csv.nodeData, fixture.output, strlen(fixture.output)), 0);
    assert_string_equal(csv.nodeData + strlen(fixture.output), "/nodes.csv");

    /* The archive facts for the health checks. */
    assert_int_equal(csv.archive.nodes, 5);
    assert_int_equal(csv.archive.relationships, 3);
    assert_int_equal(csv.archive.orphanRelationships, 1);
    assert_int_equal(csv.archive.schemaCount, 1);
    assert_string_equal(boltMapGetString(&csv.archive.schemaItems[0], "name", ""), "person v");
    assert_true(strlen(csv.archive.fingerprint) > 0);

    /* neo4j-admin arguments: the database last, after "--", so that the
     * multi-valued --nodes/--relationships cannot take it. */
    char storage[3][2 * IMPORT_PATH_SIZE + 32];
    const char *args[IMPORT_ADMIN_ARGS];
    size_t count = importCsvAdminArgs(&csv, "movies", storage, args);
    assert_true(count >= 6 && count < IMPORT_ADMIN_ARGS);
    assert_null(args[count]);
    assert_string_equal(args[0], "database");
    assert_string_equal(args[1], "import");
    assert_string_equal(args[2], "full");
    assert_string_equal(args[count - 2], "--");
    assert_string_equal(args[count - 1], "movies");
    size_t nodesAt = 0;
    size_t relationshipsAt = 0;
    bool integerIds = false;
    bool delimiter = false;
    for (size_t index = 0; index < count; index++) {
        if (strncmp(args[index], "--nodes=", 8) == 0)
            nodesAt = index;
        if (strncmp(args[index], "--relationships=", 16) == 0)
            relationshipsAt = index;
        integerIds = integerIds || strcmp(args[index], "--id-type=integer") == 0;
        delimiter = delimiter || strcmp(args[index], IMPORT_ARRAY_DELIMITER_OPTION) == 0;
        assert_string_not_equal(args[index], "--id-type=string");
    }
    assert_true(nodesAt > 2 && nodesAt < count - 2);
    assert_true(relationshipsAt > 2 && relationshipsAt < count - 2);
    assert_true(integerIds);
    assert_true(delimiter);
    snprintf(expected, sizeof(expected), "--nodes=%s,%s", csv.nodeHeader, csv.nodeData);
    assert_string_equal(args[nodesAt], expected);
    /* The report goes beside the CSV, never into the caller's directory. */
    snprintf(expected, sizeof(expected), "--report-file=%s/import.report", fixture.output);
    bool report = false;
    for (size_t index = 0; index < count; index++)
        report = report || strcmp(args[index], expected) == 0;
    assert_true(report);
    snprintf(expected, sizeof(expected), "--relationships=%s,%s", csv.relationshipHeader, csv.relationshipData);
    assert_string_equal(args[relationshipsAt], expected);
    importCsvFree(&csv);

    /* The files exist now: a second write into the same directory must not
     * overwrite them. */
    ImportCsv again;
    assert_int_not_equal(importCsvWrite(&request, &again), ERR_OK);
    importCsvFree(&again);
    snprintf(expected, sizeof(expected), "%s/nodes.csv", fixture.output);
    assert_int_equal(fileSize(expected), csv.csvBytes - fileSize(csv.relationshipData));

    bufferFree(&node3Packed);
    fixtureFree(&fixture);
}

static void testWriteNegativeKeys(void **state)
{
    (void)state;
    WriteFixture fixture;
    fixtureInit(&fixture);
    Arena *arena = fixture.arena;
    const char *label[] = {"Thing"};
    const char *keyNames[] = {"tags"};
    const BoltValue tags[] = {listOf(arena, 2, (const BoltValue[]){boltString(arena, "a"), boltString(arena, "b")})};
    BoltValue negative = nodeRecord(arena, -5, 1, label, 1, keyNames, tags);
    BoltValue positive = nodeRecord(arena, 6, 1, label, 0, NULL, NULL);
    BoltValue link = relationshipRecord(arena, 7, -5, 6, "LINKS", NULL, boltNull());
    addRecord(fixture.writer, ARC_RECORD_NODE, &negative);
    addRecord(fixture.writer, ARC_RECORD_NODE, &positive);
    addRecord(fixture.writer, ARC_RECORD_RELATIONSHIP, &link);
    fixtureFinishArchive(&fixture);

    ImportCsvRequest request = {.archive = {.path = fixture.archive}, .directory = fixture.output};
    ImportCsv csv;
    assert_int_equal(importCsvWrite(&request, &csv), ERR_OK);
    assert_true(csv.stringIds);
    assert_int_equal(csv.nodes, 2);
    assert_int_equal(csv.relationships, 1);
    assert_int_equal(csv.fixupNodes, 0);
    assert_int_equal(csv.fixupRelationships, 0);
    assert_int_equal(csv.orphanRelationships, 0);
    char expected[256];
    snprintf(expected, sizeof(expected), ":ID,:LABEL,tags:string[],%s:long\n", csv.marker);
    expectFile(csv.nodeHeader, expected);
    expectFile(csv.nodeData, "-5,\"Thing\",\"a\x1f" "b\",\n"
                             "6,\"Thing\",,\n");
    expectFile(csv.relationshipData, "-5,6,\"LINKS\",\n");
    assert_int_equal(fileSize(csv.nodeFixups), 0);
    assert_int_equal(fileSize(csv.relationshipFixups), 0);

    char storage[3][2 * IMPORT_PATH_SIZE + 32];
    const char *args[IMPORT_ADMIN_ARGS];
    size_t count = importCsvAdminArgs(&csv, "neo4j", storage, args);
    assert_string_equal(args[count - 1], "neo4j");
    bool stringIds = false;
    for (size_t index = 0; index < count; index++) {
        stringIds = stringIds || strcmp(args[index], "--id-type=string") == 0;
        assert_string_not_equal(args[index], "--id-type=integer");
    }
    assert_true(stringIds);
    importCsvFree(&csv);
    fixtureFree(&fixture);
}

static void testWriteFailures(void **state)
{
    (void)state;
    WriteFixture fixture;
    fixtureInit(&fixture);
    const char *label[] = {"Thing"};
    BoltValue node = nodeRecord(fixture.arena, 1, 1, label, 0, NULL, NULL);
    addRecord(fixture.writer, ARC_RECORD_NODE, &node);
    fixtureFinishArchive(&fixture);

    char missing[192];
    snprintf(missing, sizeof(missing), "%s/does-not-exist", fixture.root);
    ImportCsvRequest request = {.archive = {.path = fixture.archive}, .directory = missing};
    ImportCsv csv;
    assert_int_not_equal(importCsvWrite(&request, &csv), ERR_OK);
    importCsvFree(&csv);
    struct stat info;
    assert_int_not_equal(stat(missing, &info), 0);

    /* A missing archive. */
    char noArchive[192];
    snprintf(noArchive, sizeof(noArchive), "%s/none.nbk.zst", fixture.root);
    request = (ImportCsvRequest){.archive = {.path = noArchive}, .directory = fixture.output};
    assert_int_not_equal(importCsvWrite(&request, &csv), ERR_OK);
    importCsvFree(&csv);

    /* Cancelled before the write pass starts. */
    volatile sig_atomic_t cancel = 1;
    request = (ImportCsvRequest){.archive = {.path = fixture.archive}, .directory = fixture.output, .cancelFlag = &cancel};
    assert_int_equal(importCsvWrite(&request, &csv), OPERATION_INTERRUPTED);
    importCsvFree(&csv);
    fixtureFree(&fixture);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(testScalars),
        cmocka_unit_test(testDoubles),
        cmocka_unit_test(testStrings),
        cmocka_unit_test(testBytesAndLists),
        cmocka_unit_test(testDates),
        cmocka_unit_test(testTimes),
        cmocka_unit_test(testDurationsAndPoints),
        cmocka_unit_test(testTypeNames),
        cmocka_unit_test(testKeySafe),
        cmocka_unit_test(testLabelAndTypeSafe),
        cmocka_unit_test(testWriteMainArchive),
        cmocka_unit_test(testWriteNegativeKeys),
        cmocka_unit_test(testWriteFailures),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
