/* The value model: constructors, lookups, deep copy, equality, rendering and
 * the detection of placeholders a newer server puts in place of values the
 * negotiated protocol cannot carry. */
#include "bolt/value.h"

#include "common/timeutil.h"

#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void valueMisuse(const char *what)
{
    /* A caller bug (index out of range); writing past an array is worse. */
    fprintf(stderr, "CRITICAL: BoltValue misuse: %s\n", what);
    abort();
}

/* ---- Constructors ------------------------------------------------------ */

BoltValue boltNull(void)
{
    BoltValue value;
    memset(&value, 0, sizeof(value));
    value.type = BOLT_NULL;
    return value;
}

BoltValue boltBool(bool flag)
{
    BoltValue value = boltNull();
    value.type = BOLT_BOOL;
    value.as.boolean = flag;
    return value;
}

BoltValue boltInt(int64_t number)
{
    BoltValue value = boltNull();
    value.type = BOLT_INT;
    value.as.integer = number;
    return value;
}

BoltValue boltFloat(double number)
{
    BoltValue value = boltNull();
    value.type = BOLT_FLOAT;
    value.as.real = number;
    return value;
}

BoltValue boltStringN(Arena *arena, const char *text, size_t length)
{
    if (length > UINT32_MAX)
        valueMisuse("string longer than 4 GiB");
    BoltValue value = boltNull();
    value.type = BOLT_STRING;
    value.as.string.data = arenaStrndup(arena, text ? text : "", text ? length : 0);
    value.as.string.length = text ? (uint32_t)length : 0;
    return value;
}

BoltValue boltString(Arena *arena, const char *text)
{
    return boltStringN(arena, text, text ? strlen(text) : 0);
}

BoltValue boltBytes(Arena *arena, const uint8_t *data, size_t length)
{
    if (length > UINT32_MAX)
        valueMisuse("byte array longer than 4 GiB");
    BoltValue value = boltNull();
    value.type = BOLT_BYTES;
    uint8_t *copy = arenaAlloc(arena, length);
    if (length)
        memcpy(copy, data, length);
    value.as.bytes.data = copy;
    value.as.bytes.length = (uint32_t)length;
    return value;
}

BoltValue boltList(Arena *arena, uint32_t count)
{
    BoltValue value = boltNull();
    value.type = BOLT_LIST;
    value.as.list.items = arenaAlloc(arena, (size_t)count * sizeof(BoltValue));
    for (uint32_t index = 0; index < count; index++)
        value.as.list.items[index] = boltNull();
    value.as.list.count = count;
    return value;
}

BoltValue boltMap(Arena *arena, uint32_t count)
{
    BoltValue value = boltNull();
    value.type = BOLT_MAP;
    value.as.map.entries = arenaAlloc(arena, (size_t)count * sizeof(BoltMapEntry));
    memset(value.as.map.entries, 0, (size_t)count * sizeof(BoltMapEntry));
    value.as.map.count = count;
    return value;
}

BoltValue boltStruct(Arena *arena, uint8_t tag, uint8_t count)
{
    BoltValue value = boltNull();
    value.type = BOLT_STRUCT;
    value.as.structure.tag = tag;
    value.as.structure.count = count;
    value.as.structure.fields = arenaAlloc(arena, (size_t)count * sizeof(BoltValue));
    for (uint8_t index = 0; index < count; index++)
        value.as.structure.fields[index] = boltNull();
    return value;
}

void boltMapSet(Arena *arena, BoltValue *map, uint32_t index, const char *key, BoltValue value)
{
    if (map->type != BOLT_MAP || index >= map->as.map.count)
        valueMisuse("boltMapSet index out of range or not a map");
    map->as.map.entries[index].key = boltString(arena, key);
    map->as.map.entries[index].value = value;
}

/* ---- Lookups ----------------------------------------------------------- */

static bool stringEquals(const BoltValue *string, const char *text, size_t length)
{
    return string->type == BOLT_STRING && string->as.string.length == length &&
           (length == 0 || memcmp(string->as.string.data, text, length) == 0);
}

static const BoltValue *mapGetN(const BoltValue *map, const char *key, size_t keyLength)
{
    if (!map || map->type != BOLT_MAP)
        return NULL;
    /* Walk backwards: the last of duplicate keys is the one that counts. */
    for (uint32_t index = map->as.map.count; index-- > 0;) {
        const BoltMapEntry *entry = &map->as.map.entries[index];
        if (stringEquals(&entry->key, key, keyLength))
            return &entry->value;
    }
    return NULL;
}

const BoltValue *boltMapGet(const BoltValue *map, const char *key)
{
    return key ? mapGetN(map, key, strlen(key)) : NULL;
}

int64_t boltMapGetInt(const BoltValue *map, const char *key, int64_t fallback)
{
    const BoltValue *value = boltMapGet(map, key);
    return value && value->type == BOLT_INT ? value->as.integer : fallback;
}

const char *boltMapGetString(const BoltValue *map, const char *key, const char *fallback)
{
    const BoltValue *value = boltMapGet(map, key);
    return value && value->type == BOLT_STRING ? value->as.string.data : fallback;
}

bool boltMapGetBool(const BoltValue *map, const char *key, bool fallback)
{
    const BoltValue *value = boltMapGet(map, key);
    return value && value->type == BOLT_BOOL ? value->as.boolean : fallback;
}

/* ---- Copy and equality ------------------------------------------------- */

BoltValue boltValueCopy(Arena *arena, const BoltValue *value)
{
    BoltValue copy = *value;
    switch (value->type) {
    case BOLT_STRING:
        copy.as.string.data = arenaStrndup(arena, value->as.string.data, value->as.string.length);
        break;
    case BOLT_BYTES:
        copy = boltBytes(arena, value->as.bytes.data, value->as.bytes.length);
        break;
    case BOLT_LIST:
        copy.as.list.items = arenaAlloc(arena, (size_t)value->as.list.count * sizeof(BoltValue));
        for (uint32_t index = 0; index < value->as.list.count; index++)
            copy.as.list.items[index] = boltValueCopy(arena, &value->as.list.items[index]);
        break;
    case BOLT_MAP:
        copy.as.map.entries = arenaAlloc(arena, (size_t)value->as.map.count * sizeof(BoltMapEntry));
        for (uint32_t index = 0; index < value->as.map.count; index++) {
            copy.as.map.entries[index].key = boltValueCopy(arena, &value->as.map.entries[index].key);
            copy.as.map.entries[index].value = boltValueCopy(arena, &value->as.map.entries[index].value);
        }
        break;
    case BOLT_STRUCT:
        copy.as.structure.fields = arenaAlloc(arena, (size_t)value->as.structure.count * sizeof(BoltValue));
        for (uint8_t index = 0; index < value->as.structure.count; index++)
            copy.as.structure.fields[index] = boltValueCopy(arena, &value->as.structure.fields[index]);
        break;
    default:
        break;
    }
    return copy;
}

/* Every key of `from` resolves (last duplicate wins) to an equal value in `to`. */
static bool mapKeysContained(const BoltValue *from, const BoltValue *to)
{
    for (uint32_t index = 0; index < from->as.map.count; index++) {
        const BoltValue *key = &from->as.map.entries[index].key;
        if (key->type != BOLT_STRING)
            return false;
        const BoltValue *mine = mapGetN(from, key->as.string.data, key->as.string.length);
        const BoltValue *theirs = mapGetN(to, key->as.string.data, key->as.string.length);
        if (!theirs || !boltValueEqual(mine, theirs))
            return false;
    }
    return true;
}

static bool mapsEqual(const BoltValue *left, const BoltValue *right)
{
    /* Fast path: same entries in the same order (the usual case after a
     * decode/encode round trip). */
    if (left->as.map.count == right->as.map.count) {
        bool sameOrder = true;
        for (uint32_t index = 0; sameOrder && index < left->as.map.count; index++) {
            const BoltMapEntry *a = &left->as.map.entries[index];
            const BoltMapEntry *b = &right->as.map.entries[index];
            sameOrder = boltValueEqual(&a->key, &b->key) && boltValueEqual(&a->value, &b->value);
        }
        if (sameOrder)
            return true;
    }
    return mapKeysContained(left, right) && mapKeysContained(right, left);
}

bool boltValueEqual(const BoltValue *left, const BoltValue *right)
{
    if (left->type != right->type)
        return false;
    switch (left->type) {
    case BOLT_NULL:
        return true;
    case BOLT_BOOL:
        return left->as.boolean == right->as.boolean;
    case BOLT_INT:
        return left->as.integer == right->as.integer;
    case BOLT_FLOAT: {
        uint64_t leftBits, rightBits;
        memcpy(&leftBits, &left->as.real, sizeof(leftBits));
        memcpy(&rightBits, &right->as.real, sizeof(rightBits));
        return leftBits == rightBits;
    }
    case BOLT_STRING:
        return left->as.string.length == right->as.string.length &&
               (left->as.string.length == 0 ||
                memcmp(left->as.string.data, right->as.string.data, left->as.string.length) == 0);
    case BOLT_BYTES:
        return left->as.bytes.length == right->as.bytes.length &&
               (left->as.bytes.length == 0 ||
                memcmp(left->as.bytes.data, right->as.bytes.data, left->as.bytes.length) == 0);
    case BOLT_LIST:
        if (left->as.list.count != right->as.list.count)
            return false;
        for (uint32_t index = 0; index < left->as.list.count; index++)
            if (!boltValueEqual(&left->as.list.items[index], &right->as.list.items[index]))
                return false;
        return true;
    case BOLT_MAP:
        return mapsEqual(left, right);
    case BOLT_STRUCT:
        if (left->as.structure.tag != right->as.structure.tag ||
            left->as.structure.count != right->as.structure.count)
            return false;
        for (uint8_t index = 0; index < left->as.structure.count; index++)
            if (!boltValueEqual(&left->as.structure.fields[index], &right->as.structure.fields[index]))
                return false;
        return true;
    }
    return false;
}

/* ---- Type names -------------------------------------------------------- */

static const char *structTypeName(uint8_t tag)
{
    switch (tag) {
    case BOLT_TAG_NODE: return "Node";
    case BOLT_TAG_RELATIONSHIP: return "Relationship";
    case BOLT_TAG_UNBOUND_RELATIONSHIP: return "UnboundRelationship";
    case BOLT_TAG_PATH: return "Path";
    case BOLT_TAG_DATE: return "Date";
    case BOLT_TAG_TIME: return "Time";
    case BOLT_TAG_LOCAL_TIME: return "LocalTime";
    case BOLT_TAG_DATE_TIME:
    case BOLT_TAG_LEGACY_DATE_TIME: return "DateTime";
    case BOLT_TAG_DATE_TIME_ZONE_ID:
    case BOLT_TAG_LEGACY_DATE_TIME_ZONE_ID: return "DateTimeZoneId";
    case BOLT_TAG_LOCAL_DATE_TIME: return "LocalDateTime";
    case BOLT_TAG_DURATION: return "Duration";
    case BOLT_TAG_POINT_2D: return "Point2D";
    case BOLT_TAG_POINT_3D: return "Point3D";
    case BOLT_TAG_VECTOR: return "Vector";
    case BOLT_TAG_UNSUPPORTED: return "UnsupportedType";
    default: return "Structure";
    }
}

const char *boltTypeName(const BoltValue *value)
{
    switch (value->type) {
    case BOLT_NULL: return "Null";
    case BOLT_BOOL: return "Boolean";
    case BOLT_INT: return "Integer";
    case BOLT_FLOAT: return "Float";
    case BOLT_STRING: return "String";
    case BOLT_BYTES: return "Bytes";
    case BOLT_LIST: return "List";
    case BOLT_MAP: return "Map";
    case BOLT_STRUCT: return structTypeName(value->as.structure.tag);
    }
    return "Unknown";
}

/* ---- Rendering --------------------------------------------------------- */

/* snprintf-like sink: counts everything, stores what fits, always NUL-terminates. */
typedef struct {
    char *out;
    size_t size;
    size_t length;
} FormatSink;

static void sinkAppend(FormatSink *sink, const char *text, size_t length)
{
    if (sink->size > 0 && sink->length < sink->size - 1) {
        size_t room = sink->size - 1 - sink->length;
        memcpy(sink->out + sink->length, text, length < room ? length : room);
    }
    sink->length += length;
}

static void sinkText(FormatSink *sink, const char *text) { sinkAppend(sink, text, strlen(text)); }

/* Appends untrusted bytes (names, labels) with control characters escaped,
 * so the rendering is one line with no embedded NUL. */
static void sinkAppendPrintable(FormatSink *sink, const char *data, size_t length)
{
    size_t runStart = 0;
    for (size_t index = 0; index < length; index++) {
        unsigned char byte = (unsigned char)data[index];
        if (byte < 0x20 || byte == 0x7F) {
            char escape[8];
            sinkAppend(sink, data + runStart, index - runStart);
            snprintf(escape, sizeof(escape), "\\u%04X", byte);
            sinkText(sink, escape);
            runStart = index + 1;
        }
    }
    sinkAppend(sink, data + runStart, length - runStart);
}

static void sinkPrintf(FormatSink *sink, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sinkPrintf(FormatSink *sink, const char *fmt, ...)
{
    char scratch[160];
    va_list args;
    va_start(args, fmt);
    int written = vsnprintf(scratch, sizeof(scratch), fmt, args);
    va_end(args);
    if (written > 0)
        sinkAppend(sink, scratch, (size_t)written < sizeof(scratch) ? (size_t)written : sizeof(scratch) - 1);
}

static void formatValue(FormatSink *sink, const BoltValue *value);

/* single: the number came from a float32 and reads back through strtof. */
static void formatNumber(FormatSink *sink, double number, bool single)
{
    if (isnan(number)) {
        sinkText(sink, "NaN");
        return;
    }
    if (isinf(number)) {
        sinkText(sink, number < 0 ? "-Infinity" : "Infinity");
        return;
    }
    /* Shortest text that reads back as the same double. */
    char text[40];
    for (int precision = 1; precision <= 17; precision++) {
        snprintf(text, sizeof(text), "%.*g", precision, number);
        if (single ? (double)strtof(text, NULL) == number : strtod(text, NULL) == number)
            break;
    }
    sinkText(sink, text);
    if (!strpbrk(text, ".eE"))
        sinkText(sink, ".0");
}

static void formatDouble(FormatSink *sink, double number) { formatNumber(sink, number, false); }

static void formatQuoted(FormatSink *sink, const char *data, size_t length, char quote)
{
    sinkAppend(sink, &quote, 1);
    size_t runStart = 0;
    for (size_t index = 0; index < length; index++) {
        unsigned char byte = (unsigned char)data[index];
        const char *escape = NULL;
        char hexEscape[8];
        if (byte == (unsigned char)quote || byte == '\\') {
            hexEscape[0] = '\\';
            hexEscape[1] = (char)byte;
            hexEscape[2] = '\0';
            escape = hexEscape;
        } else if (byte == '\n') {
            escape = "\\n";
        } else if (byte == '\r') {
            escape = "\\r";
        } else if (byte == '\t') {
            escape = "\\t";
        } else if (byte < 0x20 || byte == 0x7F) {
            snprintf(hexEscape, sizeof(hexEscape), "\\u%04X", byte);
            escape = hexEscape;
        }
        if (escape) {
            sinkAppend(sink, data + runStart, index - runStart);
            sinkText(sink, escape);
            runStart = index + 1;
        }
    }
    sinkAppend(sink, data + runStart, length - runStart);
    sinkAppend(sink, &quote, 1);
}

static void formatMapKey(FormatSink *sink, const BoltValue *key)
{
    if (key->type != BOLT_STRING) {
        formatValue(sink, key);
        return;
    }
    const char *data = key->as.string.data;
    size_t length = key->as.string.length;
    bool identifier = length > 0 && !(data[0] >= '0' && data[0] <= '9');
    for (size_t index = 0; identifier && index < length; index++) {
        char symbol = data[index];
        identifier = (symbol >= 'a' && symbol <= 'z') || (symbol >= 'A' && symbol <= 'Z') ||
                     (symbol >= '0' && symbol <= '9') || symbol == '_';
    }
    if (identifier) {
        sinkAppend(sink, data, length);
        return;
    }
    /* Cypher quotes odd names in backticks, doubling a backtick inside. */
    sinkText(sink, "`");
    size_t runStart = 0;
    for (size_t index = 0; index < length; index++) {
        if (data[index] == '`') {
            sinkAppendPrintable(sink, data + runStart, index + 1 - runStart);
            sinkText(sink, "`");
            runStart = index + 1;
        }
    }
    sinkAppendPrintable(sink, data + runStart, length - runStart);
    sinkText(sink, "`");
}

static void formatMapBody(FormatSink *sink, const BoltValue *map)
{
    sinkText(sink, "{");
    for (uint32_t index = 0; index < map->as.map.count; index++) {
        if (index)
            sinkText(sink, ", ");
        formatMapKey(sink, &map->as.map.entries[index].key);
        sinkText(sink, ": ");
        formatValue(sink, &map->as.map.entries[index].value);
    }
    sinkText(sink, "}");
}

static bool fieldIs(const BoltValue *value, uint8_t index, BoltType type)
{
    return index < value->as.structure.count && value->as.structure.fields[index].type == type;
}

static int64_t fieldInt(const BoltValue *value, uint8_t index) { return value->as.structure.fields[index].as.integer; }

/* ---- Temporal rendering ---- */

/* Limits keep the calendar arithmetic far from int64 overflow (years within
 * about ±1e9, which is Cypher's own range). */
#define FORMAT_MAX_DAYS INT64_C(366000000000)
#define FORMAT_MAX_SECONDS (FORMAT_MAX_DAYS * 86400)
#define NANOS_PER_DAY INT64_C(86400000000000)

static int64_t floorDiv(int64_t numerator, int64_t denominator)
{
    int64_t quotient = numerator / denominator;
    if ((numerator % denominator != 0) && ((numerator < 0) != (denominator < 0)))
        quotient--;
    return quotient;
}

/* Proleptic Gregorian calendar date from days since 1970-01-01 (the usual
 * era-of-400-years decomposition). */
static void formatCivilDate(FormatSink *sink, int64_t days)
{
    int64_t year;
    int month, day;
    timeCivilFromDays(days, &year, &month, &day);
    if (year < 0)
        sinkPrintf(sink, "-%04" PRId64 "-%02d-%02d", -year, month, day);
    else if (year > 9999)
        sinkPrintf(sink, "+%" PRId64 "-%02d-%02d", year, month, day);
    else
        sinkPrintf(sink, "%04" PRId64 "-%02d-%02d", year, month, day);
}

static void formatTimeOfDay(FormatSink *sink, int64_t nanosOfDay)
{
    int64_t seconds = nanosOfDay / 1000000000;
    int64_t nanos = nanosOfDay % 1000000000;
    sinkPrintf(sink, "%02" PRId64 ":%02" PRId64 ":%02" PRId64, seconds / 3600, seconds / 60 % 60, seconds % 60);
    if (nanos) {
        char fraction[16];
        snprintf(fraction, sizeof(fraction), ".%09" PRId64, nanos);
        size_t length = strlen(fraction);
        while (fraction[length - 1] == '0')
            length--;
        sinkAppend(sink, fraction, length);
    }
}

static void formatOffset(FormatSink *sink, int64_t offsetSeconds)
{
    if (offsetSeconds == 0) {
        sinkText(sink, "Z");
        return;
    }
    int64_t magnitude = offsetSeconds < 0 ? -offsetSeconds : offsetSeconds;
    sinkPrintf(sink, "%c%02" PRId64 ":%02" PRId64, offsetSeconds < 0 ? '-' : '+', magnitude / 3600,
               magnitude / 60 % 60);
    if (magnitude % 60)
        sinkPrintf(sink, ":%02" PRId64, magnitude % 60);
}

static bool validNanos(int64_t nanos) { return nanos >= 0 && nanos < 1000000000; }
static bool validOffset(int64_t offset) { return offset >= -18 * 3600 && offset <= 18 * 3600; }
static bool validSeconds(int64_t seconds) { return seconds >= -FORMAT_MAX_SECONDS && seconds <= FORMAT_MAX_SECONDS; }

static void formatLocalDateTime(FormatSink *sink, int64_t seconds, int64_t nanos)
{
    int64_t days = floorDiv(seconds, 86400);
    formatCivilDate(sink, days);
    sinkText(sink, "T");
    formatTimeOfDay(sink, (seconds - days * 86400) * 1000000000 + nanos);
}

/* Renders the temporal structures as Cypher constructor calls. Returns false
 * (having written nothing) when the fields do not have the expected shape. */
static bool formatTemporal(FormatSink *sink, const BoltValue *value)
{
    uint8_t tag = value->as.structure.tag;
    uint8_t count = value->as.structure.count;
    switch (tag) {
    case BOLT_TAG_DATE:
        if (count != 1 || !fieldIs(value, 0, BOLT_INT) || fieldInt(value, 0) < -FORMAT_MAX_DAYS ||
            fieldInt(value, 0) > FORMAT_MAX_DAYS)
            return false;
        sinkText(sink, "date('");
        formatCivilDate(sink, fieldInt(value, 0));
        sinkText(sink, "')");
        return true;
    case BOLT_TAG_LOCAL_TIME:
    case BOLT_TAG_TIME:
        if (count != (tag == BOLT_TAG_TIME ? 2 : 1) || !fieldIs(value, 0, BOLT_INT) ||
            fieldInt(value, 0) < 0 || fieldInt(value, 0) >= NANOS_PER_DAY)
            return false;
        if (tag == BOLT_TAG_TIME && (!fieldIs(value, 1, BOLT_INT) || !validOffset(fieldInt(value, 1))))
            return false;
        sinkText(sink, tag == BOLT_TAG_TIME ? "time('" : "localtime('");
        formatTimeOfDay(sink, fieldInt(value, 0));
        if (tag == BOLT_TAG_TIME)
            formatOffset(sink, fieldInt(value, 1));
        sinkText(sink, "')");
        return true;
    case BOLT_TAG_LOCAL_DATE_TIME:
        if (count != 2 || !fieldIs(value, 0, BOLT_INT) || !fieldIs(value, 1, BOLT_INT) ||
            !validSeconds(fieldInt(value, 0)) || !validNanos(fieldInt(value, 1)))
            return false;
        sinkText(sink, "localdatetime('");
        formatLocalDateTime(sink, fieldInt(value, 0), fieldInt(value, 1));
        sinkText(sink, "')");
        return true;
    case BOLT_TAG_DATE_TIME:
    case BOLT_TAG_LEGACY_DATE_TIME: {
        if (count != 3 || !fieldIs(value, 0, BOLT_INT) || !fieldIs(value, 1, BOLT_INT) ||
            !fieldIs(value, 2, BOLT_INT) || !validSeconds(fieldInt(value, 0)) || !validNanos(fieldInt(value, 1)) ||
            !validOffset(fieldInt(value, 2)))
            return false;
        /* 'I' carries the UTC instant, legacy 'F' the local wall clock. */
        int64_t offset = fieldInt(value, 2);
        int64_t local = fieldInt(value, 0) + (tag == BOLT_TAG_DATE_TIME ? offset : 0);
        sinkText(sink, "datetime('");
        formatLocalDateTime(sink, local, fieldInt(value, 1));
        formatOffset(sink, offset);
        sinkText(sink, "')");
        return true;
    }
    case BOLT_TAG_DATE_TIME_ZONE_ID:
    case BOLT_TAG_LEGACY_DATE_TIME_ZONE_ID: {
        if (count != 3 || !fieldIs(value, 0, BOLT_INT) || !fieldIs(value, 1, BOLT_INT) ||
            !fieldIs(value, 2, BOLT_STRING) || !validSeconds(fieldInt(value, 0)) || !validNanos(fieldInt(value, 1)))
            return false;
        const BoltValue *zone = &value->as.structure.fields[2];
        if (tag == BOLT_TAG_DATE_TIME_ZONE_ID) {
            /* The local time needs the zone rules; the exact instant is
             * what matters in a log, and this form is valid Cypher too. */
            sinkPrintf(sink, "datetime({epochSeconds: %" PRId64 ", nanosecond: %" PRId64 ", timezone: ",
                       fieldInt(value, 0), fieldInt(value, 1));
            formatQuoted(sink, zone->as.string.data, zone->as.string.length, '\'');
            sinkText(sink, "})");
        } else {
            sinkText(sink, "datetime('");
            formatLocalDateTime(sink, fieldInt(value, 0), fieldInt(value, 1));
            sinkText(sink, "[");
            sinkAppendPrintable(sink, zone->as.string.data, zone->as.string.length);
            sinkText(sink, "]')");
        }
        return true;
    }
    case BOLT_TAG_DURATION:
        if (count != 4 || !fieldIs(value, 0, BOLT_INT) || !fieldIs(value, 1, BOLT_INT) ||
            !fieldIs(value, 2, BOLT_INT) || !fieldIs(value, 3, BOLT_INT))
            return false;
        sinkPrintf(sink, "duration({months: %" PRId64 ", days: %" PRId64 ", seconds: %" PRId64
                         ", nanoseconds: %" PRId64 "})",
                   fieldInt(value, 0), fieldInt(value, 1), fieldInt(value, 2), fieldInt(value, 3));
        return true;
    default:
        return false;
    }
}

/* ---- Graph and other structure rendering ---- */

static bool isStringList(const BoltValue *value)
{
    if (value->type != BOLT_LIST)
        return false;
    for (uint32_t index = 0; index < value->as.list.count; index++)
        if (value->as.list.items[index].type != BOLT_STRING)
            return false;
    return true;
}

static bool isNode(const BoltValue *value)
{
    return value->type == BOLT_STRUCT && value->as.structure.tag == BOLT_TAG_NODE &&
           (value->as.structure.count == 3 || value->as.structure.count == 4) && fieldIs(value, 0, BOLT_INT) &&
           isStringList(&value->as.structure.fields[1]) && fieldIs(value, 2, BOLT_MAP);
}

static bool isUnboundRelationship(const BoltValue *value)
{
    return value->type == BOLT_STRUCT && value->as.structure.tag == BOLT_TAG_UNBOUND_RELATIONSHIP &&
           (value->as.structure.count == 3 || value->as.structure.count == 4) && fieldIs(value, 0, BOLT_INT) &&
           fieldIs(value, 1, BOLT_STRING) && fieldIs(value, 2, BOLT_MAP);
}

static void formatProperties(FormatSink *sink, const BoltValue *map)
{
    if (map->as.map.count == 0)
        return;
    sinkText(sink, " ");
    formatMapBody(sink, map);
}

static void formatNode(FormatSink *sink, const BoltValue *node)
{
    const BoltValue *labels = &node->as.structure.fields[1];
    sinkPrintf(sink, "(%" PRId64, fieldInt(node, 0));
    for (uint32_t index = 0; index < labels->as.list.count; index++) {
        sinkText(sink, ":");
        formatMapKey(sink, &labels->as.list.items[index]);
    }
    formatProperties(sink, &node->as.structure.fields[2]);
    sinkText(sink, ")");
}

/* "[id:TYPE {props}]" from the id, type and properties fields. */
static void formatRelationshipBody(FormatSink *sink, int64_t id, const BoltValue *type, const BoltValue *props)
{
    sinkPrintf(sink, "[%" PRId64 ":", id);
    formatMapKey(sink, type);
    formatProperties(sink, props);
    sinkText(sink, "]");
}

static bool formatPath(FormatSink *sink, const BoltValue *path)
{
    if (path->as.structure.count != 3 || !fieldIs(path, 0, BOLT_LIST) || !fieldIs(path, 1, BOLT_LIST) ||
        !fieldIs(path, 2, BOLT_LIST))
        return false;
    const BoltValue *nodes = &path->as.structure.fields[0];
    const BoltValue *rels = &path->as.structure.fields[1];
    const BoltValue *indices = &path->as.structure.fields[2];
    if (nodes->as.list.count == 0 || indices->as.list.count % 2 != 0)
        return false;
    for (uint32_t index = 0; index < nodes->as.list.count; index++)
        if (!isNode(&nodes->as.list.items[index]))
            return false;
    for (uint32_t index = 0; index < rels->as.list.count; index++)
        if (!isUnboundRelationship(&rels->as.list.items[index]))
            return false;
    for (uint32_t index = 0; index < indices->as.list.count; index++) {
        const BoltValue *entry = &indices->as.list.items[index];
        if (entry->type != BOLT_INT)
            return false;
        int64_t number = entry->as.integer;
        if (index % 2 == 0 && (number == 0 || number > (int64_t)rels->as.list.count ||
                               number < -(int64_t)rels->as.list.count))
            return false;
        if (index % 2 == 1 && (number < 0 || number >= (int64_t)nodes->as.list.count))
            return false;
    }
    /* nodes[0] starts the path; indices alternate (1-based signed rel, node). */
    formatNode(sink, &nodes->as.list.items[0]);
    for (uint32_t index = 0; index < indices->as.list.count; index += 2) {
        int64_t relIndex = indices->as.list.items[index].as.integer;
        int64_t nodeIndex = indices->as.list.items[index + 1].as.integer;
        const BoltValue *rel = &rels->as.list.items[(relIndex < 0 ? -relIndex : relIndex) - 1];
        sinkText(sink, relIndex < 0 ? "<-" : "-");
        formatRelationshipBody(sink, fieldInt(rel, 0), &rel->as.structure.fields[1], &rel->as.structure.fields[2]);
        sinkText(sink, relIndex < 0 ? "-" : "->");
        formatNode(sink, &nodes->as.list.items[nodeIndex]);
    }
    return true;
}

static bool formatVector(FormatSink *sink, const BoltValue *value)
{
    if (value->as.structure.count != 2 || !fieldIs(value, 0, BOLT_BYTES) || !fieldIs(value, 1, BOLT_BYTES) ||
        value->as.structure.fields[0].as.bytes.length != 1)
        return false;
    uint8_t marker = value->as.structure.fields[0].as.bytes.data[0];
    const char *typeName;
    size_t width;
    switch (marker) {
    case 0xC8: typeName = "INTEGER8"; width = 1; break;
    case 0xC9: typeName = "INTEGER16"; width = 2; break;
    case 0xCA: typeName = "INTEGER32"; width = 4; break;
    case 0xCB: typeName = "INTEGER"; width = 8; break;
    case 0xC6: typeName = "FLOAT32"; width = 4; break;
    case 0xC1: typeName = "FLOAT"; width = 8; break;
    default: return false;
    }
    const uint8_t *data = value->as.structure.fields[1].as.bytes.data;
    size_t length = value->as.structure.fields[1].as.bytes.length;
    if (length % width != 0)
        return false;
    sinkText(sink, "vector([");
    for (size_t offset = 0; offset < length; offset += width) {
        if (offset)
            sinkText(sink, ", ");
        uint64_t bits = 0;
        for (size_t byteIndex = 0; byteIndex < width; byteIndex++)
            bits = (bits << 8) | data[offset + byteIndex];
        if (marker == 0xC6) {
            uint32_t narrow = (uint32_t)bits;
            float single;
            memcpy(&single, &narrow, sizeof(single));
            formatNumber(sink, single, true);
        } else if (marker == 0xC1) {
            double wide;
            memcpy(&wide, &bits, sizeof(wide));
            formatDouble(sink, wide);
        } else {
            /* sign-extend the big-endian integer of `width` bytes */
            unsigned shift = (unsigned)(64 - 8 * width);
            int64_t number = (int64_t)(bits << shift) >> shift;
            sinkPrintf(sink, "%" PRId64, number);
        }
    }
    sinkPrintf(sink, "], %zu, %s)", length / width, typeName);
    return true;
}

static bool formatUnsupported(FormatSink *sink, const BoltValue *value)
{
    if (value->as.structure.count != 4 || !fieldIs(value, 0, BOLT_STRING) || !fieldIs(value, 1, BOLT_INT) ||
        !fieldIs(value, 2, BOLT_INT) || !fieldIs(value, 3, BOLT_MAP))
        return false;
    const BoltValue *name = &value->as.structure.fields[0];
    sinkText(sink, "UnsupportedType(");
    sinkAppendPrintable(sink, name->as.string.data, name->as.string.length);
    sinkPrintf(sink, ", needs Bolt %" PRId64 ".%" PRId64, fieldInt(value, 1), fieldInt(value, 2));
    const BoltValue *message = boltMapGet(&value->as.structure.fields[3], "message");
    if (message && message->type == BOLT_STRING) {
        sinkText(sink, ", ");
        formatQuoted(sink, message->as.string.data, message->as.string.length, '"');
    }
    sinkText(sink, ")");
    return true;
}

static bool formatKnownStruct(FormatSink *sink, const BoltValue *value)
{
    const BoltValue *fields = value->as.structure.fields;
    uint8_t count = value->as.structure.count;
    switch (value->as.structure.tag) {
    case BOLT_TAG_NODE:
        if (!isNode(value) || (count == 4 && fields[3].type != BOLT_STRING))
            return false;
        formatNode(sink, value);
        return true;
    case BOLT_TAG_RELATIONSHIP:
        if ((count != 5 && count != 8) || !fieldIs(value, 0, BOLT_INT) || !fieldIs(value, 1, BOLT_INT) ||
            !fieldIs(value, 2, BOLT_INT) || !fieldIs(value, 3, BOLT_STRING) || !fieldIs(value, 4, BOLT_MAP))
            return false;
        sinkPrintf(sink, "(%" PRId64 ")-", fieldInt(value, 1));
        formatRelationshipBody(sink, fieldInt(value, 0), &fields[3], &fields[4]);
        sinkPrintf(sink, "->(%" PRId64 ")", fieldInt(value, 2));
        return true;
    case BOLT_TAG_UNBOUND_RELATIONSHIP:
        if (!isUnboundRelationship(value))
            return false;
        formatRelationshipBody(sink, fieldInt(value, 0), &fields[1], &fields[2]);
        return true;
    case BOLT_TAG_PATH:
        return formatPath(sink, value);
    case BOLT_TAG_POINT_2D:
    case BOLT_TAG_POINT_3D: {
        bool is3d = value->as.structure.tag == BOLT_TAG_POINT_3D;
        if (count != (is3d ? 4 : 3) || !fieldIs(value, 0, BOLT_INT) || !fieldIs(value, 1, BOLT_FLOAT) ||
            !fieldIs(value, 2, BOLT_FLOAT) || (is3d && !fieldIs(value, 3, BOLT_FLOAT)))
            return false;
        sinkPrintf(sink, "point({srid: %" PRId64 ", x: ", fieldInt(value, 0));
        formatDouble(sink, fields[1].as.real);
        sinkText(sink, ", y: ");
        formatDouble(sink, fields[2].as.real);
        if (is3d) {
            sinkText(sink, ", z: ");
            formatDouble(sink, fields[3].as.real);
        }
        sinkText(sink, "})");
        return true;
    }
    case BOLT_TAG_VECTOR:
        return formatVector(sink, value);
    case BOLT_TAG_UNSUPPORTED:
        return formatUnsupported(sink, value);
    default:
        return formatTemporal(sink, value);
    }
}

static void formatValue(FormatSink *sink, const BoltValue *value)
{
    switch (value->type) {
    case BOLT_NULL:
        sinkText(sink, "null");
        return;
    case BOLT_BOOL:
        sinkText(sink, value->as.boolean ? "true" : "false");
        return;
    case BOLT_INT:
        sinkPrintf(sink, "%" PRId64, value->as.integer);
        return;
    case BOLT_FLOAT:
        formatDouble(sink, value->as.real);
        return;
    case BOLT_STRING:
        formatQuoted(sink, value->as.string.data, value->as.string.length, '"');
        return;
    case BOLT_BYTES: {
        static const char hexDigits[] = "0123456789abcdef";
        sinkText(sink, "bytes(\"");
        for (uint32_t index = 0; index < value->as.bytes.length; index++) {
            char pair[2] = {hexDigits[value->as.bytes.data[index] >> 4], hexDigits[value->as.bytes.data[index] & 15]};
            sinkAppend(sink, pair, 2);
        }
        sinkText(sink, "\")");
        return;
    }
    case BOLT_LIST:
        sinkText(sink, "[");
        for (uint32_t index = 0; index < value->as.list.count; index++) {
            if (index)
                sinkText(sink, ", ");
            formatValue(sink, &value->as.list.items[index]);
        }
        sinkText(sink, "]");
        return;
    case BOLT_MAP:
        formatMapBody(sink, value);
        return;
    case BOLT_STRUCT:
        if (formatKnownStruct(sink, value))
            return;
        /* Unknown tag or unexpected fields: show it raw, e.g. Date<0x44>(1, 2). */
        sinkPrintf(sink, "%s<0x%02X>(", structTypeName(value->as.structure.tag), value->as.structure.tag);
        for (uint8_t index = 0; index < value->as.structure.count; index++) {
            if (index)
                sinkText(sink, ", ");
            formatValue(sink, &value->as.structure.fields[index]);
        }
        sinkText(sink, ")");
        return;
    }
    sinkText(sink, "?");
}

size_t boltValueFormat(char *buffer, size_t size, const BoltValue *value)
{
    FormatSink sink = {buffer, size, 0};
    formatValue(&sink, value);
    if (size > 0)
        buffer[sink.length < size ? sink.length : size - 1] = '\0';
    return sink.length;
}

/* ---- Placeholders ------------------------------------------------------ */

/* What a server sends instead of a value the negotiated protocol cannot carry
 * (Neo4j server source, community/bolt/.../protocol/io/writer/):
 *
 *  - Bolt 4.x/5.x to a 2025.x+ server: AbstractUnknownTypeVersionedValueWriter
 *    .reportUnknownType writes the map
 *        {"originalType": <description>, "reason": "UNKNOWN_TYPE"}
 *    (Map.of, so exactly these two entries) and adds a notification.
 *    VectorUnknownTypeVersionedValueWriter describes a vector as
 *    "VECTOR(<dimension>, <element type>)"; UUIDUnknownTypeVersionedValueWriter
 *    as "UUID".
 *  - Bolt 6.0+: the UnsupportedType structure, tag 0x3F, fields
 *    (name:String, min_major:Int, min_minor:Int, extra:Map{message?})
 *    (bolt-facts.md §4). A value-position structure with tag 0x3F is never
 *    data, so any shape counts; the name comes from field 0 when it is a
 *    string. */
static bool isUnknownTypeMap(const BoltValue *value, const char **typeNameOut)
{
    if (value->as.map.count != 2)
        return false;
    const BoltValue *reason = boltMapGet(value, "reason");
    const BoltValue *originalType = boltMapGet(value, "originalType");
    if (!reason || !originalType || originalType->type != BOLT_STRING ||
        !stringEquals(reason, "UNKNOWN_TYPE", strlen("UNKNOWN_TYPE")))
        return false;
    *typeNameOut = originalType->as.string.data;
    return true;
}

bool boltValueFindPlaceholder(const BoltValue *value, const char **typeNameOut)
{
    const char *ignored;
    if (!typeNameOut)
        typeNameOut = &ignored;
    switch (value->type) {
    case BOLT_LIST:
        for (uint32_t index = 0; index < value->as.list.count; index++)
            if (boltValueFindPlaceholder(&value->as.list.items[index], typeNameOut))
                return true;
        return false;
    case BOLT_MAP:
        if (isUnknownTypeMap(value, typeNameOut))
            return true;
        for (uint32_t index = 0; index < value->as.map.count; index++)
            if (boltValueFindPlaceholder(&value->as.map.entries[index].value, typeNameOut))
                return true;
        return false;
    case BOLT_STRUCT:
        if (value->as.structure.tag == BOLT_TAG_UNSUPPORTED) {
            *typeNameOut = fieldIs(value, 0, BOLT_STRING) ? value->as.structure.fields[0].as.string.data
                                                          : "UnsupportedType";
            return true;
        }
        for (uint8_t index = 0; index < value->as.structure.count; index++)
            if (boltValueFindPlaceholder(&value->as.structure.fields[index], typeNameOut))
                return true;
        return false;
    default:
        return false;
    }
}
