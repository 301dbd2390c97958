/* bolt_values: checks the project's Bolt client value by value against a real
 * server, for tests/e2e/test_bolt.py (which cross-checks with the official
 * Python driver).
 *
 *   bolt_values [options] read QUERY   one JSON array per record: every value
 *                                      in canonical typed JSON (below)
 *   bolt_values [options] echo         sends every catalogue case as $p of
 *                                      `RETURN $p AS p` and checks that the
 *                                      value coming back is identical
 *   bolt_values [options] write        stores the storable cases as
 *                                      (:BoltProbe {case: NAME, v: VALUE}),
 *                                      replacing earlier BoltProbe nodes
 *   bolt_values catalogue              no server: one line per case,
 *                                      {"case":..,"storable":..,"value":JSON}
 *   bolt_values [options] count QUERY  streams the result, prints
 *                                      "rows=N maxrss_kb=K" (peak RSS)
 * options:
 *     --uri URI --user NAME --password PW   default $NEO4J_URI/_USER/_PASSWORD
 *     --bolt X.Y      highest Bolt version to offer
 *     --ca-file PATH  CA bundle for bolt+s://
 *     --db NAME       database
 *     --only NAME     echo/write: only this case
 *     --progress N    count: "rows N" on stderr every N rows
 *
 * Canonical JSON (what the Python side builds from the driver's values):
 * {"t":TYPE, ...}; integers as decimal strings, floats as the 16 hex digits
 * of their IEEE-754 bits (so NaN and -0.0 survive), bytes as hex, map keys
 * sorted, Node labels sorted (the Python driver keeps them as a set). A Path
 * is rendered as the driver presents it: nodes and relationships in
 * traversal order, each relationship with its real start and end. A value the
 * server could not send over the negotiated version is
 * {"t":"Placeholder","type":NAME} (boltValueFindPlaceholder).
 *
 * Prints "Bolt X.Y <agent>" to stderr after connecting. Exit status: 0;
 * 1 when echo found a mismatch; else the error registry's status, after
 * "bolt_values: WHAT failed: ERROR_NAME: reason" on stderr. */
#include "bolt/connection.h"
#include "common/error.h"

#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

/* ---- growable text ---------------------------------------------------- */

typedef struct {
    char *data;
    size_t length;
    size_t capacity;
} Text;

static void textReserve(Text *text, size_t extra)
{
    if (text->length + extra + 1 <= text->capacity)
        return;
    size_t capacity = text->capacity ? text->capacity : 256;
    while (capacity < text->length + extra + 1)
        capacity *= 2;
    text->data = realloc(text->data, capacity);
    if (!text->data)
        abort();
    text->capacity = capacity;
}

static void textAppendN(Text *text, const char *data, size_t length)
{
    textReserve(text, length);
    memcpy(text->data + text->length, data, length);
    text->length += length;
    text->data[text->length] = '\0';
}

static void textAppend(Text *text, const char *data)
{
    textAppendN(text, data, strlen(data));
}

static void textPrintf(Text *text, const char *format, ...) __attribute__((format(printf, 2, 3)));
static void textPrintf(Text *text, const char *format, ...)
{
    char small[128];
    va_list args;
    va_start(args, format);
    int length = vsnprintf(small, sizeof(small), format, args);
    va_end(args);
    if (length < 0)
        abort();
    if ((size_t)length < sizeof(small)) {
        textAppendN(text, small, (size_t)length);
        return;
    }
    textReserve(text, (size_t)length);
    va_start(args, format);
    vsnprintf(text->data + text->length, (size_t)length + 1, format, args);
    va_end(args);
    text->length += (size_t)length;
}

static void textClear(Text *text)
{
    text->length = 0;
    if (text->data)
        text->data[0] = '\0';
}

/* ---- canonical JSON ----------------------------------------------------- */

static void jsonString(Text *out, const char *data, size_t length)
{
    textReserve(out, length + 2);
    textAppendN(out, "\"", 1);
    size_t runStart = 0;
    for (size_t offset = 0; offset < length; offset++) {
        unsigned char byte = (unsigned char)data[offset];
        if (byte >= 0x20 && byte != '"' && byte != '\\')
            continue;
        textAppendN(out, data + runStart, offset - runStart);
        if (byte == '"')
            textAppend(out, "\\\"");
        else if (byte == '\\')
            textAppend(out, "\\\\");
        else
            textPrintf(out, "\\u%04x", byte);
        runStart = offset + 1;
    }
    textAppendN(out, data + runStart, length - runStart);
    textAppendN(out, "\"", 1);
}

static void jsonCString(Text *out, const char *text)
{
    jsonString(out, text, strlen(text));
}

static void jsonIntString(Text *out, int64_t value)
{
    textPrintf(out, "\"%" PRId64 "\"", value);
}

static void jsonFloatBits(Text *out, double value)
{
    uint64_t bits;
    memcpy(&bits, &value, sizeof(bits));
    textPrintf(out, "\"%016" PRIx64 "\"", bits);
}

static void jsonHex(Text *out, const uint8_t *data, size_t length)
{
    static const char digits[] = "0123456789abcdef";
    textReserve(out, length * 2 + 2);
    textAppendN(out, "\"", 1);
    for (size_t offset = 0; offset < length; offset++) {
        char pair[2] = {digits[data[offset] >> 4], digits[data[offset] & 0x0f]};
        textAppendN(out, pair, 2);
    }
    textAppendN(out, "\"", 1);
}

static int compareEntries(const void *left, const void *right)
{
    const BoltValue *a = &((const BoltMapEntry *)left)->key;
    const BoltValue *b = &((const BoltMapEntry *)right)->key;
    uint32_t shorter = a->as.string.length < b->as.string.length ? a->as.string.length : b->as.string.length;
    int order = shorter ? memcmp(a->as.string.data, b->as.string.data, shorter) : 0;
    if (order)
        return order;
    return (a->as.string.length > b->as.string.length) - (a->as.string.length < b->as.string.length);
}

static int compareStringValues(const void *left, const void *right)
{
    const BoltValue *a = left;
    const BoltValue *b = right;
    if (a->type != BOLT_STRING || b->type != BOLT_STRING)
        return (int)a->type - (int)b->type;
    return strcmp(a->as.string.data, b->as.string.data);
}

/* A copy of value whose maps (at every depth) have their entries sorted by
 * key. Strings and bytes are shared with the original. Sorted maps make the
 * JSON deterministic and let boltValueEqual take its in-order fast path
 * (its any-order comparison is quadratic, too slow for 65536 entries). */
static BoltValue sortedCopy(Arena *arena, const BoltValue *value)
{
    BoltValue copy = *value;
    switch (value->type) {
    case BOLT_LIST:
        copy.as.list.items = arenaAlloc(arena, (size_t)value->as.list.count * sizeof(BoltValue) + 1);
        for (uint32_t index = 0; index < value->as.list.count; index++)
            copy.as.list.items[index] = sortedCopy(arena, &value->as.list.items[index]);
        break;
    case BOLT_MAP:
        copy.as.map.entries = arenaAlloc(arena, (size_t)value->as.map.count * sizeof(BoltMapEntry) + 1);
        for (uint32_t index = 0; index < value->as.map.count; index++) {
            copy.as.map.entries[index].key = value->as.map.entries[index].key;
            copy.as.map.entries[index].value = sortedCopy(arena, &value->as.map.entries[index].value);
        }
        qsort(copy.as.map.entries, copy.as.map.count, sizeof(BoltMapEntry), compareEntries);
        break;
    case BOLT_STRUCT:
        copy.as.structure.fields = arenaAlloc(arena, (size_t)value->as.structure.count * sizeof(BoltValue) + 1);
        for (uint8_t index = 0; index < value->as.structure.count; index++)
            copy.as.structure.fields[index] = sortedCopy(arena, &value->as.structure.fields[index]);
        break;
    default:
        break;
    }
    return copy;
}

static void jsonValue(Text *out, const BoltValue *value);

static bool structFieldsAre(const BoltValue *value, const char *types)
{
    size_t count = strlen(types);
    if (value->as.structure.count != count)
        return false;
    for (size_t index = 0; index < count; index++) {
        BoltType expected;
        switch (types[index]) {
        case 'i': expected = BOLT_INT; break;
        case 'f': expected = BOLT_FLOAT; break;
        case 's': expected = BOLT_STRING; break;
        case 'b': expected = BOLT_BYTES; break;
        case 'l': expected = BOLT_LIST; break;
        case 'm': expected = BOLT_MAP; break;
        default: expected = BOLT_STRUCT; break;
        }
        if (value->as.structure.fields[index].type != expected)
            return false;
    }
    return true;
}

static const BoltValue *field(const BoltValue *value, unsigned index)
{
    return &value->as.structure.fields[index];
}

/* A string field as a plain JSON string (ids, zone names). */
static void jsonPlainString(Text *out, const BoltValue *value)
{
    jsonString(out, value->as.string.data, value->as.string.length);
}

static void jsonStringList(Text *out, const BoltValue *list, Arena *arena)
{
    /* Sorted copy of the item array: Node labels compare as a set. */
    BoltValue *items = arenaAlloc(arena, (size_t)list->as.list.count * sizeof(BoltValue) + 1);
    memcpy(items, list->as.list.items, (size_t)list->as.list.count * sizeof(BoltValue));
    qsort(items, list->as.list.count, sizeof(BoltValue), compareStringValues);
    textAppend(out, "[");
    for (uint32_t index = 0; index < list->as.list.count; index++) {
        if (index)
            textAppend(out, ",");
        if (items[index].type == BOLT_STRING)
            jsonString(out, items[index].as.string.data, items[index].as.string.length);
        else
            jsonValue(out, &items[index]);
    }
    textAppend(out, "]");
}

/* Map entries as a JSON object; the map must be sorted already. */
static void jsonMapObject(Text *out, const BoltValue *map)
{
    textAppend(out, "{");
    for (uint32_t index = 0; index < map->as.map.count; index++) {
        const BoltMapEntry *entry = &map->as.map.entries[index];
        if (index)
            textAppend(out, ",");
        jsonString(out, entry->key.as.string.data, entry->key.as.string.length);
        textAppend(out, ":");
        jsonValue(out, &entry->value);
    }
    textAppend(out, "}");
}

/* Arena for the label sorts of one jsonValue call tree (only labels need it). */
static Arena *jsonScratch;

static bool jsonNode(Text *out, const BoltValue *node)
{
    bool withElementId = structFieldsAre(node, "ilms");
    if (!withElementId && !structFieldsAre(node, "ilm"))
        return false;
    textAppend(out, "{\"t\":\"Node\",\"id\":");
    jsonIntString(out, field(node, 0)->as.integer);
    textAppend(out, ",\"labels\":");
    jsonStringList(out, field(node, 1), jsonScratch);
    textAppend(out, ",\"props\":");
    jsonMapObject(out, field(node, 2));
    if (withElementId) {
        textAppend(out, ",\"element_id\":");
        jsonPlainString(out, field(node, 3));
    }
    textAppend(out, "}");
    return true;
}

/* A relationship with its ends given separately: ids, then element ids
 * (NULL on Bolt 4.4). */
static void jsonRelationshipParts(Text *out, int64_t id, int64_t start, int64_t end, const BoltValue *type,
                                  const BoltValue *props, const BoltValue *elementId,
                                  const BoltValue *startElementId, const BoltValue *endElementId)
{
    textAppend(out, "{\"t\":\"Relationship\",\"id\":");
    jsonIntString(out, id);
    textAppend(out, ",\"start\":");
    jsonIntString(out, start);
    textAppend(out, ",\"end\":");
    jsonIntString(out, end);
    textAppend(out, ",\"type\":");
    jsonString(out, type->as.string.data, type->as.string.length);
    textAppend(out, ",\"props\":");
    jsonMapObject(out, props);
    if (elementId && startElementId && endElementId) {
        textAppend(out, ",\"element_id\":");
        jsonPlainString(out, elementId);
        textAppend(out, ",\"start_element_id\":");
        jsonPlainString(out, startElementId);
        textAppend(out, ",\"end_element_id\":");
        jsonPlainString(out, endElementId);
    }
    textAppend(out, "}");
}

static bool jsonRelationship(Text *out, const BoltValue *rel)
{
    bool withElementIds = structFieldsAre(rel, "iiismsss");
    if (!withElementIds && !structFieldsAre(rel, "iiism"))
        return false;
    jsonRelationshipParts(out, field(rel, 0)->as.integer, field(rel, 1)->as.integer, field(rel, 2)->as.integer,
                          field(rel, 3), field(rel, 4), withElementIds ? field(rel, 5) : NULL,
                          withElementIds ? field(rel, 6) : NULL, withElementIds ? field(rel, 7) : NULL);
    return true;
}

static bool isNode(const BoltValue *value)
{
    return value->type == BOLT_STRUCT && value->as.structure.tag == BOLT_TAG_NODE &&
           (structFieldsAre(value, "ilms") || structFieldsAre(value, "ilm"));
}

static bool isUnboundRelationship(const BoltValue *value)
{
    return value->type == BOLT_STRUCT && value->as.structure.tag == BOLT_TAG_UNBOUND_RELATIONSHIP &&
           (structFieldsAre(value, "isms") || structFieldsAre(value, "ism"));
}

/* Path: walks the (rel, node) index pairs from nodes[0], giving every
 * relationship its real direction, the way drivers present a path. */
static bool jsonPath(Text *out, const BoltValue *path)
{
    if (!structFieldsAre(path, "lll"))
        return false;
    const BoltValue *nodes = field(path, 0);
    const BoltValue *rels = field(path, 1);
    const BoltValue *indices = field(path, 2);
    if (nodes->as.list.count == 0 || indices->as.list.count % 2 != 0)
        return false;
    for (uint32_t index = 0; index < nodes->as.list.count; index++)
        if (!isNode(&nodes->as.list.items[index]))
            return false;
    for (uint32_t index = 0; index < rels->as.list.count; index++)
        if (!isUnboundRelationship(&rels->as.list.items[index]))
            return false;
    for (uint32_t index = 0; index < indices->as.list.count; index++) {
        const BoltValue *step = &indices->as.list.items[index];
        if (step->type != BOLT_INT)
            return false;
        int64_t bound = index % 2 == 0 ? (int64_t)rels->as.list.count : (int64_t)nodes->as.list.count - 1;
        int64_t magnitude = step->as.integer < 0 ? -step->as.integer : step->as.integer;
        if (index % 2 == 0 ? (magnitude < 1 || magnitude > bound) : (step->as.integer < 0 || step->as.integer > bound))
            return false;
    }

    textAppend(out, "{\"t\":\"Path\",\"nodes\":[");
    jsonValue(out, &nodes->as.list.items[0]);
    for (uint32_t index = 0; index < indices->as.list.count; index += 2) {
        textAppend(out, ",");
        jsonValue(out, &nodes->as.list.items[indices->as.list.items[index + 1].as.integer]);
    }
    textAppend(out, "],\"rels\":[");
    const BoltValue *previous = &nodes->as.list.items[0];
    for (uint32_t index = 0; index < indices->as.list.count; index += 2) {
        int64_t relIndex = indices->as.list.items[index].as.integer;
        const BoltValue *rel = &rels->as.list.items[(relIndex < 0 ? -relIndex : relIndex) - 1];
        const BoltValue *next = &nodes->as.list.items[indices->as.list.items[index + 1].as.integer];
        const BoltValue *start = relIndex > 0 ? previous : next;
        const BoltValue *end = relIndex > 0 ? next : previous;
        bool elementIds = rel->as.structure.count == 4 && start->as.structure.count == 4;
        if (index)
            textAppend(out, ",");
        jsonRelationshipParts(out, field(rel, 0)->as.integer, field(start, 0)->as.integer,
                              field(end, 0)->as.integer, field(rel, 1), field(rel, 2),
                              elementIds ? field(rel, 3) : NULL, elementIds ? field(start, 3) : NULL,
                              elementIds ? field(end, 3) : NULL);
        previous = next;
    }
    textAppend(out, "]}");
    return true;
}

static const char *vectorDtype(uint8_t marker)
{
    switch (marker) {
    case 0xC8: return "i8";
    case 0xC9: return "i16";
    case 0xCA: return "i32";
    case 0xCB: return "i64";
    case 0xC6: return "f32";
    case 0xC1: return "f64";
    default: return NULL;
    }
}

/* Known structures with their fields named; false when the shape is not the
 * documented one (then the caller prints the raw structure). */
static bool jsonKnownStruct(Text *out, const BoltValue *value)
{
    switch (value->as.structure.tag) {
    case BOLT_TAG_NODE:
        return jsonNode(out, value);
    case BOLT_TAG_RELATIONSHIP:
        return jsonRelationship(out, value);
    case BOLT_TAG_UNBOUND_RELATIONSHIP:
        return false; /* only ever inside a Path */
    case BOLT_TAG_PATH:
        return jsonPath(out, value);
    case BOLT_TAG_DATE:
        if (!structFieldsAre(value, "i"))
            return false;
        textAppend(out, "{\"t\":\"Date\",\"days\":");
        jsonIntString(out, field(value, 0)->as.integer);
        break;
    case BOLT_TAG_TIME:
        if (!structFieldsAre(value, "ii"))
            return false;
        textAppend(out, "{\"t\":\"Time\",\"nanos\":");
        jsonIntString(out, field(value, 0)->as.integer);
        textAppend(out, ",\"offset\":");
        jsonIntString(out, field(value, 1)->as.integer);
        break;
    case BOLT_TAG_LOCAL_TIME:
        if (!structFieldsAre(value, "i"))
            return false;
        textAppend(out, "{\"t\":\"LocalTime\",\"nanos\":");
        jsonIntString(out, field(value, 0)->as.integer);
        break;
    case BOLT_TAG_DATE_TIME:
    case BOLT_TAG_LEGACY_DATE_TIME:
        if (!structFieldsAre(value, "iii"))
            return false;
        textAppend(out, value->as.structure.tag == BOLT_TAG_DATE_TIME ? "{\"t\":\"DateTime\",\"seconds\":"
                                                                      : "{\"t\":\"LegacyDateTime\",\"seconds\":");
        jsonIntString(out, field(value, 0)->as.integer);
        textAppend(out, ",\"nanos\":");
        jsonIntString(out, field(value, 1)->as.integer);
        textAppend(out, ",\"offset\":");
        jsonIntString(out, field(value, 2)->as.integer);
        break;
    case BOLT_TAG_DATE_TIME_ZONE_ID:
    case BOLT_TAG_LEGACY_DATE_TIME_ZONE_ID:
        if (!structFieldsAre(value, "iis"))
            return false;
        textAppend(out, value->as.structure.tag == BOLT_TAG_DATE_TIME_ZONE_ID
                            ? "{\"t\":\"DateTimeZoneId\",\"seconds\":"
                            : "{\"t\":\"LegacyDateTimeZoneId\",\"seconds\":");
        jsonIntString(out, field(value, 0)->as.integer);
        textAppend(out, ",\"nanos\":");
        jsonIntString(out, field(value, 1)->as.integer);
        textAppend(out, ",\"zone\":");
        jsonPlainString(out, field(value, 2));
        break;
    case BOLT_TAG_LOCAL_DATE_TIME:
        if (!structFieldsAre(value, "ii"))
            return false;
        textAppend(out, "{\"t\":\"LocalDateTime\",\"seconds\":");
        jsonIntString(out, field(value, 0)->as.integer);
        textAppend(out, ",\"nanos\":");
        jsonIntString(out, field(value, 1)->as.integer);
        break;
    case BOLT_TAG_DURATION:
        if (!structFieldsAre(value, "iiii"))
            return false;
        textAppend(out, "{\"t\":\"Duration\",\"months\":");
        jsonIntString(out, field(value, 0)->as.integer);
        textAppend(out, ",\"days\":");
        jsonIntString(out, field(value, 1)->as.integer);
        textAppend(out, ",\"seconds\":");
        jsonIntString(out, field(value, 2)->as.integer);
        textAppend(out, ",\"nanos\":");
        jsonIntString(out, field(value, 3)->as.integer);
        break;
    case BOLT_TAG_POINT_2D:
    case BOLT_TAG_POINT_3D: {
        bool is3d = value->as.structure.tag == BOLT_TAG_POINT_3D;
        if (!structFieldsAre(value, is3d ? "ifff" : "iff"))
            return false;
        textAppend(out, is3d ? "{\"t\":\"Point3D\",\"srid\":" : "{\"t\":\"Point2D\",\"srid\":");
        jsonIntString(out, field(value, 0)->as.integer);
        textAppend(out, ",\"x\":");
        jsonFloatBits(out, field(value, 1)->as.real);
        textAppend(out, ",\"y\":");
        jsonFloatBits(out, field(value, 2)->as.real);
        if (is3d) {
            textAppend(out, ",\"z\":");
            jsonFloatBits(out, field(value, 3)->as.real);
        }
        break;
    }
    case BOLT_TAG_VECTOR: {
        if (!structFieldsAre(value, "bb") || field(value, 0)->as.bytes.length != 1 ||
            !vectorDtype(field(value, 0)->as.bytes.data[0]))
            return false;
        textAppend(out, "{\"t\":\"Vector\",\"dtype\":");
        jsonCString(out, vectorDtype(field(value, 0)->as.bytes.data[0]));
        textAppend(out, ",\"data\":");
        jsonHex(out, field(value, 1)->as.bytes.data, field(value, 1)->as.bytes.length);
        break;
    }
    default:
        return false;
    }
    textAppend(out, "}");
    return true;
}

/* The server's stand-in for a value the negotiated version cannot carry: the
 * UnsupportedType structure, or the {originalType, reason} map of 4.x/5.x. */
static bool jsonPlaceholder(Text *out, const BoltValue *value)
{
    bool candidate = (value->type == BOLT_STRUCT && value->as.structure.tag == BOLT_TAG_UNSUPPORTED) ||
                     (value->type == BOLT_MAP && value->as.map.count == 2 &&
                      boltMapGet(value, "originalType") && boltMapGet(value, "reason"));
    const char *typeName = NULL;
    if (!candidate || !boltValueFindPlaceholder(value, &typeName))
        return false;
    textAppend(out, "{\"t\":\"Placeholder\",\"type\":");
    jsonCString(out, typeName ? typeName : "");
    textAppend(out, "}");
    return true;
}

/* value must have its maps sorted (sortedCopy). */
static void jsonValue(Text *out, const BoltValue *value)
{
    switch (value->type) {
    case BOLT_NULL:
        textAppend(out, "{\"t\":\"Null\"}");
        return;
    case BOLT_BOOL:
        textAppend(out, value->as.boolean ? "{\"t\":\"Boolean\",\"v\":true}" : "{\"t\":\"Boolean\",\"v\":false}");
        return;
    case BOLT_INT:
        textAppend(out, "{\"t\":\"Integer\",\"v\":");
        jsonIntString(out, value->as.integer);
        textAppend(out, "}");
        return;
    case BOLT_FLOAT:
        textAppend(out, "{\"t\":\"Float\",\"v\":");
        jsonFloatBits(out, value->as.real);
        textAppend(out, "}");
        return;
    case BOLT_STRING:
        textAppend(out, "{\"t\":\"String\",\"v\":");
        jsonString(out, value->as.string.data, value->as.string.length);
        textAppend(out, "}");
        return;
    case BOLT_BYTES:
        textAppend(out, "{\"t\":\"Bytes\",\"v\":");
        jsonHex(out, value->as.bytes.data, value->as.bytes.length);
        textAppend(out, "}");
        return;
    case BOLT_LIST:
        textAppend(out, "{\"t\":\"List\",\"v\":[");
        for (uint32_t index = 0; index < value->as.list.count; index++) {
            if (index)
                textAppend(out, ",");
            jsonValue(out, &value->as.list.items[index]);
        }
        textAppend(out, "]}");
        return;
    case BOLT_MAP:
        if (jsonPlaceholder(out, value))
            return;
        textAppend(out, "{\"t\":\"Map\",\"v\":");
        jsonMapObject(out, value);
        textAppend(out, "}");
        return;
    case BOLT_STRUCT:
        if (jsonPlaceholder(out, value) || jsonKnownStruct(out, value))
            return;
        textPrintf(out, "{\"t\":\"Structure\",\"tag\":\"%02x\",\"fields\":[", value->as.structure.tag);
        for (uint8_t index = 0; index < value->as.structure.count; index++) {
            if (index)
                textAppend(out, ",");
            jsonValue(out, &value->as.structure.fields[index]);
        }
        textAppend(out, "]}");
        return;
    }
}

/* Canonical JSON of value (any map order) appended to out. */
static void jsonCanonical(Text *out, const BoltValue *value)
{
    Arena *arena = arenaNew(0);
    jsonScratch = arena;
    BoltValue sorted = sortedCopy(arena, value);
    jsonValue(out, &sorted);
    jsonScratch = NULL;
    arenaFree(arena);
}

/* ---- the catalogue ------------------------------------------------------ */

typedef struct {
    const char *name;
    BoltValue value;
    bool storable; /* a valid node property that the Python driver can represent */
    bool invalid;  /* the server must refuse it: echo runs it only when named by --only */
    uint8_t minMajor; /* echo skips it below this Bolt major version (Vector: 6) */
} ProbeCase;

typedef struct {
    Arena *arena;
    ProbeCase *cases;
    size_t count;
    size_t capacity;
} Catalogue;

static void addCase(Catalogue *catalogue, bool storable, BoltValue value, const char *format, ...)
    __attribute__((format(printf, 4, 5)));
static void addCase(Catalogue *catalogue, bool storable, BoltValue value, const char *format, ...)
{
    if (catalogue->count == catalogue->capacity) {
        catalogue->capacity = catalogue->capacity ? catalogue->capacity * 2 : 64;
        catalogue->cases = realloc(catalogue->cases, catalogue->capacity * sizeof(ProbeCase));
        if (!catalogue->cases)
            abort();
    }
    char name[128];
    va_list args;
    va_start(args, format);
    vsnprintf(name, sizeof(name), format, args);
    va_end(args);
    catalogue->cases[catalogue->count++] = (ProbeCase){
        .name = arenaStrndup(catalogue->arena, name, strlen(name)),
        .value = value,
        .storable = storable,
        .invalid = false,
        .minMajor = 0,
    };
}

static BoltValue makeStruct(Arena *arena, uint8_t tag, uint8_t count, const BoltValue *fields)
{
    BoltValue value = boltStruct(arena, tag, count);
    for (uint8_t index = 0; index < count; index++)
        value.as.structure.fields[index] = fields[index];
    return value;
}

static BoltValue makeDate(Arena *arena, int64_t days)
{
    return makeStruct(arena, BOLT_TAG_DATE, 1, (BoltValue[]){boltInt(days)});
}

static BoltValue makeTime(Arena *arena, int64_t nanos, int64_t offset)
{
    return makeStruct(arena, BOLT_TAG_TIME, 2, (BoltValue[]){boltInt(nanos), boltInt(offset)});
}

static BoltValue makeDateTime(Arena *arena, int64_t seconds, int64_t nanos, int64_t offset)
{
    return makeStruct(arena, BOLT_TAG_DATE_TIME, 3, (BoltValue[]){boltInt(seconds), boltInt(nanos), boltInt(offset)});
}

static BoltValue makeZonedDateTime(Arena *arena, int64_t seconds, int64_t nanos, const char *zone)
{
    return makeStruct(arena, BOLT_TAG_DATE_TIME_ZONE_ID, 3,
                      (BoltValue[]){boltInt(seconds), boltInt(nanos), boltString(arena, zone)});
}

static BoltValue makeLocalDateTime(Arena *arena, int64_t seconds, int64_t nanos)
{
    return makeStruct(arena, BOLT_TAG_LOCAL_DATE_TIME, 2, (BoltValue[]){boltInt(seconds), boltInt(nanos)});
}

static BoltValue makeDuration(Arena *arena, int64_t months, int64_t days, int64_t seconds, int64_t nanos)
{
    return makeStruct(arena, BOLT_TAG_DURATION, 4,
                      (BoltValue[]){boltInt(months), boltInt(days), boltInt(seconds), boltInt(nanos)});
}

static BoltValue makePoint2d(Arena *arena, int64_t srid, double x, double y)
{
    return makeStruct(arena, BOLT_TAG_POINT_2D, 3, (BoltValue[]){boltInt(srid), boltFloat(x), boltFloat(y)});
}

static BoltValue makePoint3d(Arena *arena, int64_t srid, double x, double y, double z)
{
    return makeStruct(arena, BOLT_TAG_POINT_3D, 4,
                      (BoltValue[]){boltInt(srid), boltFloat(x), boltFloat(y), boltFloat(z)});
}

/* An ASCII string of exactly length bytes with a recognisable pattern. */
static BoltValue makePatternString(Arena *arena, size_t length)
{
    char *text = arenaAlloc(arena, length + 1);
    for (size_t offset = 0; offset < length; offset++)
        text[offset] = (char)('a' + offset % 26);
    text[length] = '\0';
    BoltValue value = {.type = BOLT_STRING};
    value.as.string.data = text;
    value.as.string.length = (uint32_t)length;
    return value;
}

static BoltValue makePatternBytes(Arena *arena, size_t length)
{
    uint8_t *data = arenaAlloc(arena, length + 1);
    for (size_t offset = 0; offset < length; offset++)
        data[offset] = (uint8_t)(offset * 7 + 3);
    return boltBytes(arena, data, length);
}

static BoltValue makeIntList(Arena *arena, uint32_t count)
{
    BoltValue list = boltList(arena, count);
    for (uint32_t index = 0; index < count; index++)
        list.as.list.items[index] = boltInt((int64_t)index * 1000003 - 500000);
    return list;
}

static BoltValue makeMapOfSize(Arena *arena, uint32_t count)
{
    BoltValue map = boltMap(arena, count);
    for (uint32_t index = 0; index < count; index++) {
        char key[32];
        snprintf(key, sizeof(key), "k%06u", (unsigned)index);
        boltMapSet(arena, &map, index, key, boltInt(index));
    }
    return map;
}

static BoltValue makeListOf(Arena *arena, uint32_t count, const BoltValue *items)
{
    BoltValue list = boltList(arena, count);
    for (uint32_t index = 0; index < count; index++)
        list.as.list.items[index] = items[index];
    return list;
}

/* Size boundaries of the PackStream encodings: tiny/8/16/32-bit headers. */
static const uint32_t sizeBoundaries[] = {15, 16, 255, 256, 65535, 65536};
#define SIZE_BOUNDARY_COUNT (sizeof(sizeBoundaries) / sizeof(sizeBoundaries[0]))

/* Days since 1970-01-01 of the Java LocalDate range ends and of years 1 and 9999. */
#define DAYS_YEAR_1 (-719162)
#define DAYS_9999_12_31 2932896
#define DAYS_MIN_DATE (-365243219162LL) /* -999999999-01-01 */
#define DAYS_MAX_DATE 365241780471LL    /* +999999999-12-31 */
#define SECONDS_YEAR_1 (-62135596800LL) /* 0001-01-01T00:00:00Z */
#define SECONDS_9999_END 253402300799LL /* 9999-12-31T23:59:59Z */
#define NANOS_PER_DAY 86400000000000LL

static void buildScalarCases(Catalogue *catalogue)
{
    Arena *arena = catalogue->arena;
    addCase(catalogue, false, boltNull(), "null");
    addCase(catalogue, true, boltBool(true), "bool_true");
    addCase(catalogue, true, boltBool(false), "bool_false");

    static const struct { const char *name; int64_t value; } integers[] = {
        {"0", 0}, {"minus_1", -1}, {"minus_16", -16}, {"minus_17", -17}, {"127", 127}, {"128", 128},
        {"minus_128", -128}, {"minus_129", -129}, {"32767", 32767}, {"32768", 32768},
        {"minus_32768", -32768}, {"minus_32769", -32769}, {"2147483647", 2147483647LL},
        {"2147483648", 2147483648LL}, {"minus_2147483648", -2147483648LL},
        {"minus_2147483649", -2147483649LL}, {"max", INT64_MAX}, {"min", INT64_MIN},
    };
    for (size_t index = 0; index < sizeof(integers) / sizeof(integers[0]); index++)
        addCase(catalogue, true, boltInt(integers[index].value), "int_%s", integers[index].name);

    static const struct { const char *name; uint64_t bits; } floats[] = {
        {"zero", 0x0000000000000000ULL},      {"negative_zero", 0x8000000000000000ULL},
        {"nan", 0x7ff8000000000000ULL},       {"infinity", 0x7ff0000000000000ULL},
        {"minus_infinity", 0xfff0000000000000ULL}, {"one_and_half", 0x3ff8000000000000ULL},
        {"tenth", 0x3fb999999999999aULL},     {"min_normal", 0x0010000000000000ULL},
        {"min_subnormal", 0x0000000000000001ULL}, {"max", 0x7fefffffffffffffULL},
        {"minus_pi", 0xc00921fb54442d18ULL},
    };
    for (size_t index = 0; index < sizeof(floats) / sizeof(floats[0]); index++) {
        double real;
        memcpy(&real, &floats[index].bits, sizeof(real));
        addCase(catalogue, true, boltFloat(real), "float_%s", floats[index].name);
    }

    addCase(catalogue, true, boltString(arena, ""), "string_empty");
    addCase(catalogue, true, makePatternString(arena, 1), "string_len_1");
    for (size_t index = 0; index < SIZE_BOUNDARY_COUNT; index++)
        addCase(catalogue, true, makePatternString(arena, sizeBoundaries[index]), "string_len_%u",
                (unsigned)sizeBoundaries[index]);
    addCase(catalogue, true, makePatternString(arena, 1u << 20), "string_1mb");
    static const char unicode[] = "h\xc3\xa9llo w\xc3\xb6rld \xe2\x80\x94 \xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e "
                                  "\xf0\x9f\x8e\x89 \xce\xa9 \xd8\xb9\xd8\xb1\xd8\xa8\xd9\x8a";
    addCase(catalogue, true, boltString(arena, unicode), "string_unicode");
    /* 8 two-byte characters: 16 bytes, the tiny-string boundary in bytes, not characters. */
    addCase(catalogue, true, boltString(arena, "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"),
            "string_utf8_16_bytes");
    static const char controls[] = "a\0b\tc\nd\x01" "e\x1f\"quote\\backslash\x7f";
    addCase(catalogue, true, boltStringN(arena, controls, sizeof(controls) - 1), "string_controls_and_nul");

    addCase(catalogue, true, boltBytes(arena, NULL, 0), "bytes_empty");
    addCase(catalogue, true, makePatternBytes(arena, 1), "bytes_len_1");
    for (size_t index = 0; index < SIZE_BOUNDARY_COUNT; index++)
        addCase(catalogue, true, makePatternBytes(arena, sizeBoundaries[index]), "bytes_len_%u",
                (unsigned)sizeBoundaries[index]);
}

static void buildContainerCases(Catalogue *catalogue)
{
    Arena *arena = catalogue->arena;
    addCase(catalogue, true, boltList(arena, 0), "list_empty");
    for (size_t index = 0; index < SIZE_BOUNDARY_COUNT; index++)
        addCase(catalogue, true, makeIntList(arena, sizeBoundaries[index]), "list_int_%u",
                (unsigned)sizeBoundaries[index]);
    addCase(catalogue, true,
            makeListOf(arena, 3, (BoltValue[]){boltString(arena, "a"), boltString(arena, ""),
                                               boltString(arena, "\xe6\x97\xa5\xe6\x9c\xac")}),
            "list_string");
    double negativeZero = -0.0;
    addCase(catalogue, true,
            makeListOf(arena, 4, (BoltValue[]){boltFloat(nan("")), boltFloat(negativeZero), boltFloat(INFINITY),
                                               boltFloat(1.25)}),
            "list_float_special");
    addCase(catalogue, true, makeListOf(arena, 3, (BoltValue[]){boltBool(true), boltBool(false), boltBool(true)}),
            "list_bool");
    addCase(catalogue, false,
            makeListOf(arena, 6, (BoltValue[]){boltInt(1), boltString(arena, "a"), boltNull(), boltFloat(1.5),
                                               boltBool(true), boltBytes(arena, (const uint8_t *)"\x00\xff", 2)}),
            "list_mixed");
    BoltValue innermost = makeListOf(arena, 2, (BoltValue[]){boltInt(3), boltList(arena, 0)});
    BoltValue inner = makeListOf(arena, 2, (BoltValue[]){boltInt(2), innermost});
    addCase(catalogue, false,
            makeListOf(arena, 2, (BoltValue[]){makeListOf(arena, 2, (BoltValue[]){boltInt(1), inner}),
                                               boltList(arena, 0)}),
            "list_nested");
    BoltValue deep = boltInt(42);
    for (int depth = 0; depth < 40; depth++)
        deep = makeListOf(arena, 1, &deep);
    addCase(catalogue, false, deep, "list_depth_40");

    addCase(catalogue, false, boltMap(arena, 0), "map_empty");
    addCase(catalogue, false, makeMapOfSize(arena, 1), "map_size_1");
    for (size_t index = 0; index < SIZE_BOUNDARY_COUNT; index++)
        addCase(catalogue, false, makeMapOfSize(arena, sizeBoundaries[index]), "map_size_%u",
                (unsigned)sizeBoundaries[index]);
    BoltValue leaf = boltMap(arena, 1);
    boltMapSet(arena, &leaf, 0, "d", boltString(arena, "x"));
    BoltValue middle = boltMap(arena, 2);
    boltMapSet(arena, &middle, 0, "c", makeListOf(arena, 2, (BoltValue[]){boltInt(1), leaf}));
    boltMapSet(arena, &middle, 1, "null", boltNull());
    BoltValue outer = boltMap(arena, 3);
    boltMapSet(arena, &outer, 0, "b", middle);
    boltMapSet(arena, &outer, 1, "\xd0\xba\xd0\xbb\xd1\x8e\xd1\x87", boltInt(1));
    boltMapSet(arena, &outer, 2, "with space", makeDate(arena, 0));
    addCase(catalogue, false, outer, "map_nested");
}

static void buildTemporalCases(Catalogue *catalogue)
{
    Arena *arena = catalogue->arena;
    addCase(catalogue, true, makeDate(arena, 0), "date_epoch");
    addCase(catalogue, true, makeDate(arena, -1), "date_before_epoch");
    addCase(catalogue, true, makeDate(arena, DAYS_YEAR_1), "date_year_1");
    addCase(catalogue, true, makeDate(arena, DAYS_9999_12_31), "date_year_9999");
    addCase(catalogue, false, makeDate(arena, DAYS_MIN_DATE), "date_min");
    addCase(catalogue, false, makeDate(arena, DAYS_MAX_DATE), "date_max");
    addCase(catalogue, false, makeDate(arena, DAYS_MIN_DATE - 1), "invalid_date_below_min");
    catalogue->cases[catalogue->count - 1].invalid = true;

    int64_t noon = 12 * 3600000000000LL + 34 * 60000000000LL + 56 * 1000000000LL + 123456789;
    addCase(catalogue, true, makeTime(arena, 0, 0), "time_midnight_utc");
    addCase(catalogue, true, makeTime(arena, noon, 19800), "time_plus_0530");
    addCase(catalogue, true, makeTime(arena, noon, -28800), "time_minus_0800");
    addCase(catalogue, true, makeTime(arena, NANOS_PER_DAY - 1, 50400), "time_last_nano_plus_14");
    addCase(catalogue, true, makeTime(arena, 1, -64800), "time_minus_18");
    /* Offsets with seconds are legal in Neo4j; the Python driver drops the seconds. */
    addCase(catalogue, false, makeTime(arena, noon, 3661), "time_offset_with_seconds");

    addCase(catalogue, true, makeStruct(arena, BOLT_TAG_LOCAL_TIME, 1, (BoltValue[]){boltInt(0)}),
            "localtime_midnight");
    addCase(catalogue, true, makeStruct(arena, BOLT_TAG_LOCAL_TIME, 1, (BoltValue[]){boltInt(NANOS_PER_DAY - 1)}),
            "localtime_last_nano");
    addCase(catalogue, true, makeStruct(arena, BOLT_TAG_LOCAL_TIME, 1, (BoltValue[]){boltInt(noon)}),
            "localtime_nanos");

    addCase(catalogue, true, makeDateTime(arena, 0, 0, 0), "datetime_epoch_utc");
    addCase(catalogue, true, makeDateTime(arena, 1700000000, 123456789, 3600), "datetime_plus_01");
    addCase(catalogue, true, makeDateTime(arena, 1700000000, 1, -34200), "datetime_minus_0930");
    addCase(catalogue, true, makeDateTime(arena, -1, 500000000, 0), "datetime_before_epoch_nanos");
    addCase(catalogue, true, makeDateTime(arena, SECONDS_YEAR_1, 0, 7200), "datetime_year_1");
    addCase(catalogue, true, makeDateTime(arena, SECONDS_9999_END, 999999999, -18000), "datetime_year_9999");
    addCase(catalogue, false, makeDateTime(arena, 1700000000, 5, 3661), "datetime_offset_with_seconds");

    addCase(catalogue, true, makeZonedDateTime(arena, 1625133600, 42, "Europe/Berlin"), "datetime_berlin_summer");
    addCase(catalogue, true, makeZonedDateTime(arena, 1610708400, 999999999, "Europe/Berlin"),
            "datetime_berlin_winter");
    /* 2021-11-07 01:30 happens twice in New York: both instants must survive
     * (the ambiguity the legacy Bolt 4 form could not carry). */
    addCase(catalogue, true, makeZonedDateTime(arena, 1636263000, 0, "America/New_York"),
            "datetime_new_york_first_0130");
    addCase(catalogue, true, makeZonedDateTime(arena, 1636266600, 0, "America/New_York"),
            "datetime_new_york_second_0130");
    addCase(catalogue, true, makeZonedDateTime(arena, 1700000000, 7, "Asia/Kolkata"), "datetime_kolkata");
    addCase(catalogue, true, makeZonedDateTime(arena, -2000000000, 0, "Australia/Sydney"), "datetime_sydney_1906");
    addCase(catalogue, false, makeZonedDateTime(arena, SECONDS_YEAR_1, 0, "Europe/London"), "datetime_london_year_1");

    addCase(catalogue, true, makeLocalDateTime(arena, 0, 0), "localdatetime_epoch");
    addCase(catalogue, true, makeLocalDateTime(arena, 1700000000, 999999999), "localdatetime_nanos");
    addCase(catalogue, true, makeLocalDateTime(arena, -1, 1), "localdatetime_before_epoch");
    addCase(catalogue, true, makeLocalDateTime(arena, SECONDS_YEAR_1, 0), "localdatetime_year_1");
    addCase(catalogue, true, makeLocalDateTime(arena, SECONDS_9999_END, 999999999), "localdatetime_year_9999");

    /* Neo4j keeps nanos in [0, 1e9) (negative durations borrow a second), so
     * the cases are written in that normal form to come back unchanged. */
    addCase(catalogue, true, makeDuration(arena, 0, 0, 0, 0), "duration_zero");
    addCase(catalogue, true, makeDuration(arena, 14, 3, 7200, 5), "duration_positive");
    addCase(catalogue, true, makeDuration(arena, -14, -3, -7200, 5), "duration_negative");
    addCase(catalogue, true, makeDuration(arena, 0, 0, -1, 999999999), "duration_minus_1_nano");
    addCase(catalogue, true, makeDuration(arena, 5, -40, 3600, 0), "duration_mixed_signs");
    addCase(catalogue, true, makeDuration(arena, 1200, 36500, 10000000000LL, 999999999), "duration_large");

    addCase(catalogue, true, makePoint2d(arena, 7203, 1.5, -2.25), "point_cartesian_2d");
    addCase(catalogue, true, makePoint3d(arena, 9157, 1.0, -2.0, 3.5), "point_cartesian_3d");
    addCase(catalogue, true, makePoint2d(arena, 4326, 12.5683, 55.6761), "point_wgs84_2d");
    addCase(catalogue, true, makePoint3d(arena, 4979, -122.4194, 37.7749, 15.5), "point_wgs84_3d");
    addCase(catalogue, true, makePoint2d(arena, 7203, 1e300, -4.9e-324), "point_cartesian_extremes");

    addCase(catalogue, true,
            makeListOf(arena, 3, (BoltValue[]){makeDate(arena, DAYS_YEAR_1), makeDate(arena, 0),
                                               makeDate(arena, DAYS_9999_12_31)}),
            "list_date");
    addCase(catalogue, true,
            makeListOf(arena, 2, (BoltValue[]){makePoint2d(arena, 7203, 1, 2), makePoint2d(arena, 7203, -3, 4.5)}),
            "list_point");
    addCase(catalogue, true,
            makeListOf(arena, 2, (BoltValue[]){makeDuration(arena, 1, 2, 3, 4), makeDuration(arena, 0, 0, -1, 0)}),
            "list_duration");
}

static BoltValue makeVector(Arena *arena, uint8_t marker, const uint8_t *data, size_t length)
{
    return makeStruct(arena, BOLT_TAG_VECTOR, 2,
                      (BoltValue[]){boltBytes(arena, &marker, 1), boltBytes(arena, data, length)});
}

/* Bolt 6.0 only: elements big-endian, no per-element markers. */
static void buildVectorCases(Catalogue *catalogue)
{
    Arena *arena = catalogue->arena;
    /* 1, -0, FLT_MAX, the smallest subnormal: Neo4j refuses NaN and infinities in vectors. */
    static const uint8_t float32s[] = {0x3f, 0x80, 0x00, 0x00, 0x80, 0x00, 0x00, 0x00, 0x7f, 0x7f, 0xff, 0xff,
                                       0x00, 0x00, 0x00, 0x01};
    static const uint8_t float64s[] = {0xc0, 0x09, 0x21, 0xfb, 0x54, 0x44, 0x2d, 0x18};
    static const uint8_t int8s[] = {0x80, 0xff, 0x00, 0x7f};
    static const uint8_t int16s[] = {0x80, 0x00, 0x7f, 0xff};
    static const uint8_t int32s[] = {0x80, 0x00, 0x00, 0x00, 0x00, 0x01, 0x11, 0x70};
    static const uint8_t int64s[] = {0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                                     0x80, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00};
    static const struct { const char *name; uint8_t marker; const uint8_t *data; size_t length; } vectors[] = {
        {"f32", 0xC6, float32s, sizeof(float32s)}, {"f64", 0xC1, float64s, sizeof(float64s)},
        {"i8", 0xC8, int8s, sizeof(int8s)},        {"i16", 0xC9, int16s, sizeof(int16s)},
        {"i32", 0xCA, int32s, sizeof(int32s)},     {"i64", 0xCB, int64s, sizeof(int64s)},
    };
    for (size_t index = 0; index < sizeof(vectors) / sizeof(vectors[0]); index++) {
        addCase(catalogue, false, makeVector(arena, vectors[index].marker, vectors[index].data, vectors[index].length),
                "vector_%s", vectors[index].name);
        catalogue->cases[catalogue->count - 1].minMajor = 6;
    }
}

static void catalogueBuild(Catalogue *catalogue)
{
    memset(catalogue, 0, sizeof(*catalogue));
    catalogue->arena = arenaNew(1u << 20);
    buildScalarCases(catalogue);
    buildContainerCases(catalogue);
    buildTemporalCases(catalogue);
    buildVectorCases(catalogue);
}

static void catalogueFree(Catalogue *catalogue)
{
    free(catalogue->cases);
    if (catalogue->arena)
        arenaFree(catalogue->arena);
}

/* ---- modes -------------------------------------------------------------- */

static int failWith(ErrCode code, const char *what)
{
    const ErrDetail *detail = errLast();
    fprintf(stderr, "bolt_values: %s failed: %s: %s\n", what, errName(code), detail->reason);
    if (detail->serverCode[0])
        fprintf(stderr, "bolt_values: Neo4j status: %s\n", detail->serverCode);
    return errExitStatus(code);
}

static int runRead(BoltConnection *connection, const char *query, const BoltQueryOptions *options)
{
    ErrCode code = boltRun(connection, query, NULL, options);
    if (code != ERR_OK)
        return failWith(code, "query");
    Text line = {0};
    const BoltValue *record = NULL;
    uint64_t rows = 0;
    while ((code = boltFetch(connection, &record)) == ERR_OK && record) {
        rows++;
        textClear(&line);
        textAppend(&line, "[");
        for (uint32_t item = 0; item < record->as.list.count; item++) {
            if (item)
                textAppend(&line, ",");
            jsonCanonical(&line, &record->as.list.items[item]);
        }
        textAppend(&line, "]\n");
        fputs(line.data, stdout);
        const char *typeName = NULL;
        if (boltValueFindPlaceholder(record, &typeName))
            fprintf(stderr, "bolt_values: record %llu holds a placeholder for %s\n", (unsigned long long)rows,
                    typeName);
    }
    free(line.data);
    if (code != ERR_OK)
        return failWith(code, "fetch");
    fprintf(stderr, "%llu records\n", (unsigned long long)rows);
    return 0;
}

/* Canonical JSON, cut to limit characters for a readable mismatch line. */
static void printShort(const char *label, const BoltValue *value, size_t limit)
{
    Text text = {0};
    jsonCanonical(&text, value);
    if (text.length > limit)
        printf("  %s (%zu chars): %.*s...\n", label, text.length, (int)limit, text.data);
    else
        printf("  %s: %s\n", label, text.data);
    free(text.data);
}

static ErrCode echoOne(BoltConnection *connection, const ProbeCase *probe, const BoltQueryOptions *options,
                       bool *same)
{
    Arena *arena = arenaNew(0);
    BoltValue params = boltMap(arena, 1);
    boltMapSet(arena, &params, 0, "p", probe->value);
    BoltValue back = boltNull();
    ErrCode code = boltQuerySingle(connection, "RETURN $p AS p", &params, options, arena, &back);
    if (code == ERR_OK) {
        BoltValue sentSorted = sortedCopy(arena, &probe->value);
        BoltValue backSorted = sortedCopy(arena, &back);
        *same = boltValueEqual(&sentSorted, &backSorted);
        if (!*same) {
            printShort("sent", &probe->value, 600);
            printShort("got ", &back, 600);
        }
    }
    arenaFree(arena);
    return code;
}

static int runEcho(BoltConnection *connection, const Catalogue *catalogue, const char *only,
                   const BoltQueryOptions *options)
{
    size_t passed = 0, failed = 0;
    for (size_t index = 0; index < catalogue->count; index++) {
        const ProbeCase *probe = &catalogue->cases[index];
        if (only ? strcmp(only, probe->name) != 0
                 : probe->invalid || boltVersionMajor(connection) < probe->minMajor)
            continue;
        bool same = false;
        ErrCode code = echoOne(connection, probe, options, &same);
        if (code == NEO4J_QUERY_FAILED) {
            /* The server refused this value; the connection was reset and goes on. */
            printf("FAILED %s: %s: %s (%s)\n", probe->name, errName(code), errLast()->reason,
                   errLast()->serverCode);
            failed++;
            continue;
        }
        if (code != ERR_OK)
            return failWith(code, probe->name);
        printf("%s %s\n", same ? "ok" : "MISMATCH", probe->name);
        if (same)
            passed++;
        else
            failed++;
    }
    printf("echo: %zu passed, %zu failed\n", passed, failed);
    return failed || passed == 0 ? 1 : 0;
}

static int runWrite(BoltConnection *connection, const Catalogue *catalogue, const char *only,
                    const BoltQueryOptions *options)
{
    ErrCode code = boltRun(connection, "MATCH (n:BoltProbe) DETACH DELETE n", NULL, options);
    const BoltValue *record = NULL;
    while (code == ERR_OK && (code = boltFetch(connection, &record)) == ERR_OK && record) {
    }
    if (code != ERR_OK)
        return failWith(code, "clearing BoltProbe nodes");
    size_t written = 0;
    for (size_t index = 0; index < catalogue->count; index++) {
        const ProbeCase *probe = &catalogue->cases[index];
        if (!probe->storable || (only && strcmp(only, probe->name) != 0))
            continue;
        Arena *arena = arenaNew(0);
        BoltValue params = boltMap(arena, 2);
        boltMapSet(arena, &params, 0, "case", boltString(arena, probe->name));
        boltMapSet(arena, &params, 1, "v", probe->value);
        code = boltRun(connection, "CREATE (:BoltProbe {case: $case, v: $v})", &params, options);
        while (code == ERR_OK && (code = boltFetch(connection, &record)) == ERR_OK && record) {
        }
        arenaFree(arena);
        if (code != ERR_OK)
            return failWith(code, probe->name);
        written++;
    }
    printf("write: %zu nodes\n", written);
    return 0;
}

static int runCatalogue(const Catalogue *catalogue)
{
    Text line = {0};
    for (size_t index = 0; index < catalogue->count; index++) {
        const ProbeCase *probe = &catalogue->cases[index];
        textClear(&line);
        textAppend(&line, "{\"case\":");
        jsonCString(&line, probe->name);
        textPrintf(&line, ",\"storable\":%s,\"invalid\":%s,\"min_major\":%u,\"value\":",
                   probe->storable ? "true" : "false", probe->invalid ? "true" : "false", (unsigned)probe->minMajor);
        jsonCanonical(&line, &probe->value);
        textAppend(&line, "}\n");
        fputs(line.data, stdout);
    }
    free(line.data);
    return 0;
}

/* Peak RSS of this program in kB. VmHWM belongs to the address space that
 * exec created; getrusage's ru_maxrss would also count the parent's RSS at
 * fork time (Linux keeps it across execve), e.g. a large pytest process. */
static long peakRssKb(void)
{
    FILE *status = fopen("/proc/self/status", "r");
    if (status) {
        char line[256];
        long kilobytes = -1;
        while (fgets(line, sizeof(line), status))
            if (sscanf(line, "VmHWM: %ld kB", &kilobytes) == 1)
                break;
        fclose(status);
        if (kilobytes >= 0)
            return kilobytes;
    }
    struct rusage usage;
    if (getrusage(RUSAGE_SELF, &usage) != 0)
        return -1;
    return usage.ru_maxrss;
}

static int runCount(BoltConnection *connection, const char *query, const BoltQueryOptions *options,
                    uint64_t progressEvery)
{
    ErrCode code = boltRun(connection, query, NULL, options);
    if (code != ERR_OK)
        return failWith(code, "query");
    fprintf(stderr, "streaming\n");
    uint64_t rows = 0;
    const BoltValue *record = NULL;
    while ((code = boltFetch(connection, &record)) == ERR_OK && record) {
        rows++;
        if (progressEvery && rows % progressEvery == 0)
            fprintf(stderr, "rows %llu\n", (unsigned long long)rows);
    }
    printf("rows=%llu maxrss_kb=%ld\n", (unsigned long long)rows, peakRssKb());
    fflush(stdout);
    if (code != ERR_OK)
        return failWith(code, "fetch");
    return 0;
}

static void usage(void)
{
    fputs("usage: bolt_values [--uri URI] [--user NAME] [--password PW] [--bolt X.Y] [--ca-file PATH]\n"
          "                   [--db NAME] [--only CASE] [--progress N]\n"
          "                   read QUERY | echo | write | catalogue | count QUERY\n",
          stderr);
}

static const char *envOr(const char *name, const char *fallback)
{
    const char *value = getenv(name);
    return value && value[0] ? value : fallback;
}

int main(int argc, char **argv)
{
    BoltConnectOptions connectOptions = {
        .uri = envOr("NEO4J_URI", "bolt://localhost:7687"),
        .user = envOr("NEO4J_USER", "neo4j"),
        .password = envOr("NEO4J_PASSWORD", ""),
    };
    BoltQueryOptions queryOptions = {0};
    const char *only = NULL;
    uint64_t progressEvery = 0;
    const char *positional[2] = {NULL, NULL};
    int positionalCount = 0;

    for (int index = 1; index < argc; index++) {
        const char *argument = argv[index];
        bool hasValue = index + 1 < argc;
        if (strcmp(argument, "--uri") == 0 && hasValue)
            connectOptions.uri = argv[++index];
        else if (strcmp(argument, "--user") == 0 && hasValue)
            connectOptions.user = argv[++index];
        else if (strcmp(argument, "--password") == 0 && hasValue)
            connectOptions.password = argv[++index];
        else if (strcmp(argument, "--ca-file") == 0 && hasValue)
            connectOptions.caFile = argv[++index];
        else if (strcmp(argument, "--db") == 0 && hasValue)
            queryOptions.database = argv[++index];
        else if (strcmp(argument, "--only") == 0 && hasValue)
            only = argv[++index];
        else if (strcmp(argument, "--progress") == 0 && hasValue)
            progressEvery = strtoull(argv[++index], NULL, 10);
        else if (strcmp(argument, "--bolt") == 0 && hasValue) {
            unsigned major = 0, minor = 0;
            if (sscanf(argv[++index], "%u.%u", &major, &minor) != 2 || major > 255 || minor > 255) {
                usage();
                return 2;
            }
            connectOptions.maxMajor = (uint8_t)major;
            connectOptions.maxMinor = (uint8_t)minor;
        } else if (argument[0] == '-' && argument[1] == '-') {
            usage();
            return 2;
        } else if (positionalCount < 2)
            positional[positionalCount++] = argument;
        else {
            usage();
            return 2;
        }
    }
    const char *mode = positional[0];
    const char *query = positional[1];
    bool needsQuery = mode && (strcmp(mode, "read") == 0 || strcmp(mode, "count") == 0);
    bool known = mode && (needsQuery || strcmp(mode, "echo") == 0 || strcmp(mode, "write") == 0 ||
                          strcmp(mode, "catalogue") == 0);
    if (!known || needsQuery != (query != NULL)) {
        usage();
        return 2;
    }

    /* Only the modes that use it build the catalogue: it holds megabytes that
     * would blur count's peak RSS. */
    Catalogue catalogue = {0};
    if (strcmp(mode, "echo") == 0 || strcmp(mode, "write") == 0 || strcmp(mode, "catalogue") == 0)
        catalogueBuild(&catalogue);
    if (strcmp(mode, "catalogue") == 0) {
        int status = runCatalogue(&catalogue);
        catalogueFree(&catalogue);
        return status;
    }

    BoltConnection *connection = NULL;
    ErrCode code = boltConnect(&connectOptions, &connection);
    if (code != ERR_OK) {
        catalogueFree(&catalogue);
        return failWith(code, "connect");
    }
    fprintf(stderr, "Bolt %u.%u %s\n", (unsigned)boltVersionMajor(connection),
            (unsigned)boltVersionMinor(connection), boltServerAgent(connection));
    fflush(stderr);

    int status;
    if (strcmp(mode, "read") == 0)
        status = runRead(connection, query, &queryOptions);
    else if (strcmp(mode, "echo") == 0)
        status = runEcho(connection, &catalogue, only, &queryOptions);
    else if (strcmp(mode, "write") == 0)
        status = runWrite(connection, &catalogue, only, &queryOptions);
    else
        status = runCount(connection, query, &queryOptions, progressEvery);
    boltClose(connection);
    catalogueFree(&catalogue);
    return status;
}
