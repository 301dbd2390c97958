/* The import load's CSV side (overview in import_csv.h). */
#include "restore/import_csv.h"

#include "archive/archive.h"
#include "bolt/packstream.h"
#include "common/fsutil.h"
#include "common/log.h"
#include "common/mem.h"
#include "common/timeutil.h"
#include "graph/records.h"
#include "restore/idmap.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define IMPORT_FILE_BUFFER (1u << 20)
#define IMPORT_CANCEL_EVERY 4096u
#define IMPORT_PROGRESS_EVERY 65536u
/* Days of 0001-01-01 and 9999-12-31 from the epoch: the years every CSV
 * date parser reads as four digits. */
#define IMPORT_MIN_DAYS (-719162)
#define IMPORT_MAX_DAYS 2932896
#define IMPORT_NANOS_PER_SECOND 1000000000
#define IMPORT_NANOS_PER_DAY 86400000000000LL

/* ---- names ------------------------------------------------------------------ */

static bool importHasByte(const char *name, size_t length, const char *forbidden)
{
    for (size_t index = 0; index < length; index++)
        if (name[index] == '\0' || strchr(forbidden, name[index]))
            return true;
    return false;
}

/* Line breaks would need --multiline-fields (slow); NUL and the array
 * delimiter have a meaning of their own. */
#define IMPORT_NEVER_IN_FIELDS "\n\r\x1f"

bool importCsvKeySafe(const char *name, size_t length)
{
    /* A header field is "key:type": no colon, nothing that needs quoting,
     * no space at either end; and no brackets: neo4j-admin 5.26 silently
     * cuts "(...)" and "{...}" out of a header name ("a(b)c" -> "ac"). */
    return length > 0 && !importHasByte(name, length, IMPORT_NEVER_IN_FIELDS ":,\"(){}[]") && name[0] != ' ' &&
           name[length - 1] != ' ';
}

bool importCsvLabelSafe(const char *name, size_t length)
{
    return length > 0 && !importHasByte(name, length, IMPORT_NEVER_IN_FIELDS);
}

bool importCsvTypeSafe(const char *name, size_t length)
{
    return length > 0 && !importHasByte(name, length, IMPORT_NEVER_IN_FIELDS);
}

/* ---- values ----------------------------------------------------------------- */

const char *importCsvTypeName(ImportCsvType type)
{
    static const char *const names[][2] = {
        [IMPORT_TYPE_NONE] = {"", ""},
        [IMPORT_TYPE_BOOLEAN] = {"boolean", "boolean[]"},
        [IMPORT_TYPE_LONG] = {"long", "long[]"},
        [IMPORT_TYPE_DOUBLE] = {"double", "double[]"},
        [IMPORT_TYPE_STRING] = {"string", "string[]"},
        [IMPORT_TYPE_BYTE] = {"byte", "byte[]"},
        [IMPORT_TYPE_DATE] = {"date", "date[]"},
        [IMPORT_TYPE_LOCALTIME] = {"localtime", "localtime[]"},
        [IMPORT_TYPE_TIME] = {"time", "time[]"},
        [IMPORT_TYPE_LOCALDATETIME] = {"localdatetime", "localdatetime[]"},
        [IMPORT_TYPE_DATETIME] = {"datetime", "datetime[]"},
        [IMPORT_TYPE_DURATION] = {"duration", "duration[]"},
        [IMPORT_TYPE_POINT] = {"point", "point[]"},
    };
    return names[type.base][type.array ? 1 : 0];
}

static int64_t importFloorDiv(int64_t value, int64_t divisor)
{
    int64_t quotient = value / divisor;
    return (value % divisor != 0 && (value < 0) != (divisor < 0)) ? quotient - 1 : quotient;
}

/* Civil date of a day count from 1970-01-01 (proleptic Gregorian). */
static void importCivilDate(Buffer *out, int64_t days)
{
    int64_t year;
    int month, day;
    timeCivilFromDays(days, &year, &month, &day);
    bufferAppendF(out, "%04" PRId64 "-%02d-%02d", year, month, day);
}

static void importTimeOfDay(Buffer *out, int64_t nanosOfDay)
{
    int64_t seconds = nanosOfDay / IMPORT_NANOS_PER_SECOND;
    bufferAppendF(out, "%02" PRId64 ":%02" PRId64 ":%02" PRId64 ".%09" PRId64, seconds / 3600, seconds / 60 % 60,
                  seconds % 60, nanosOfDay % IMPORT_NANOS_PER_SECOND);
}

/* Offsets of whole minutes only: the CSV parsers read "+HH:MM". */
static bool importOffset(Buffer *out, int64_t offsetSeconds)
{
    if (offsetSeconds % 60 != 0 || offsetSeconds < -18 * 3600 || offsetSeconds > 18 * 3600)
        return false;
    int64_t magnitude = offsetSeconds < 0 ? -offsetSeconds : offsetSeconds;
    bufferAppendF(out, "%c%02" PRId64 ":%02" PRId64, offsetSeconds < 0 ? '-' : '+', magnitude / 3600,
                  magnitude / 60 % 60);
    return true;
}

static bool importLocalDateTime(Buffer *out, int64_t seconds, int64_t nanos)
{
    int64_t days = importFloorDiv(seconds, 86400);
    if (days < IMPORT_MIN_DAYS || days > IMPORT_MAX_DAYS || nanos < 0 || nanos >= IMPORT_NANOS_PER_SECOND)
        return false;
    importCivilDate(out, days);
    bufferAppendByte(out, 'T');
    importTimeOfDay(out, (seconds - days * 86400) * IMPORT_NANOS_PER_SECOND + nanos);
    return true;
}

/* Decimal digits of an int64 (printf costs more than the rest of a row). */
static void importInteger(Buffer *out, int64_t value)
{
    char digits[24];
    size_t at = sizeof(digits);
    uint64_t magnitude = value < 0 ? (uint64_t)0 - (uint64_t)value : (uint64_t)value;
    do {
        digits[--at] = (char)('0' + magnitude % 10);
        magnitude /= 10;
    } while (magnitude);
    if (value < 0)
        digits[--at] = '-';
    bufferAppend(out, digits + at, sizeof(digits) - at);
}

/* Text that reads back as the same double: whole numbers as integers, else
 * the first of %.15g, %.16g, %.17g that does (%.17g always does).
 * Non-finite values: false. */
static bool importDouble(Buffer *out, double value)
{
    if (!isfinite(value))
        return false;
    /* Whole numbers below 2^53 are exact as integers ("-0" keeps its sign). */
    if (value == 0.0 && signbit(value)) {
        bufferAppend(out, "-0", 2);
        return true;
    }
    if (fabs(value) < 9007199254740992.0 && value == (double)(int64_t)value) {
        importInteger(out, (int64_t)value);
        return true;
    }
    char text[40];
    for (int digits = 15; digits <= 17; digits++) {
        snprintf(text, sizeof(text), "%.*g", digits, value);
        if (strtod(text, NULL) == value)
            break;
    }
    /* -0.0 must keep its sign: "-0" reads back as -0.0 too. */
    bufferAppend(out, text, strlen(text));
    return true;
}

static bool importFieldInt(const BoltValue *value, uint8_t index, int64_t *out)
{
    if (index >= value->as.structure.count || value->as.structure.fields[index].type != BOLT_INT)
        return false;
    *out = value->as.structure.fields[index].as.integer;
    return true;
}

static bool importFieldFloat(const BoltValue *value, uint8_t index, double *out)
{
    if (index >= value->as.structure.count || value->as.structure.fields[index].type != BOLT_FLOAT)
        return false;
    *out = value->as.structure.fields[index].as.real;
    return true;
}

static const char *importCrsName(int64_t srid, bool threeD)
{
    switch (srid) {
    case 7203: return threeD ? NULL : "cartesian";
    case 9157: return threeD ? "cartesian-3D" : NULL;
    case 4326: return threeD ? NULL : "WGS-84";
    case 4979: return threeD ? "WGS-84-3D" : NULL;
    default: return NULL;
    }
}

/* Text of one scalar (no CSV quoting); false when CSV cannot carry it. */
static bool importScalarText(Buffer *out, const BoltValue *value, ImportBaseType *base)
{
    switch (value->type) {
    case BOLT_BOOL:
        *base = IMPORT_TYPE_BOOLEAN;
        bufferAppend(out, value->as.boolean ? "true" : "false", value->as.boolean ? 4 : 5);
        return true;
    case BOLT_INT:
        *base = IMPORT_TYPE_LONG;
        importInteger(out, value->as.integer);
        return true;
    case BOLT_FLOAT:
        *base = IMPORT_TYPE_DOUBLE;
        return importDouble(out, value->as.real);
    case BOLT_STRING:
        *base = IMPORT_TYPE_STRING;
        if (importHasByte(value->as.string.data, value->as.string.length, IMPORT_NEVER_IN_FIELDS))
            return false;
        bufferAppend(out, value->as.string.data, value->as.string.length);
        return true;
    case BOLT_STRUCT:
        break;
    default:
        return false;
    }
    uint8_t tag = value->as.structure.tag;
    int64_t first = 0;
    int64_t second = 0;
    int64_t third = 0;
    int64_t fourth = 0;
    switch (tag) {
    case BOLT_TAG_DATE:
        *base = IMPORT_TYPE_DATE;
        if (value->as.structure.count != 1 || !importFieldInt(value, 0, &first) || first < IMPORT_MIN_DAYS ||
            first > IMPORT_MAX_DAYS)
            return false;
        importCivilDate(out, first);
        return true;
    case BOLT_TAG_LOCAL_TIME:
        *base = IMPORT_TYPE_LOCALTIME;
        if (value->as.structure.count != 1 || !importFieldInt(value, 0, &first) || first < 0 ||
            first >= IMPORT_NANOS_PER_DAY)
            return false;
        importTimeOfDay(out, first);
        return true;
    case BOLT_TAG_TIME:
        *base = IMPORT_TYPE_TIME;
        if (value->as.structure.count != 2 || !importFieldInt(value, 0, &first) ||
            !importFieldInt(value, 1, &second) || first < 0 || first >= IMPORT_NANOS_PER_DAY)
            return false;
        importTimeOfDay(out, first);
        return importOffset(out, second);
    case BOLT_TAG_LOCAL_DATE_TIME:
        *base = IMPORT_TYPE_LOCALDATETIME;
        return value->as.structure.count == 2 && importFieldInt(value, 0, &first) &&
               importFieldInt(value, 1, &second) && importLocalDateTime(out, first, second);
    case BOLT_TAG_DATE_TIME:
        /* The UTC instant and its offset; written as local time + offset.
         * DateTimes with a zone id need the zone's rules to be written so:
         * they go through the fix-ups. */
        *base = IMPORT_TYPE_DATETIME;
        if (value->as.structure.count != 3 || !importFieldInt(value, 0, &first) ||
            !importFieldInt(value, 1, &second) || !importFieldInt(value, 2, &third) ||
            first > INT64_MAX - 18 * 3600 || first < INT64_MIN + 18 * 3600 || third < -18 * 3600 ||
            third > 18 * 3600)
            return false;
        return importLocalDateTime(out, first + third, second) && importOffset(out, third);
    case BOLT_TAG_DURATION:
        *base = IMPORT_TYPE_DURATION;
        /* Negative parts have spellings the parsers read differently. */
        if (value->as.structure.count != 4 || !importFieldInt(value, 0, &first) ||
            !importFieldInt(value, 1, &second) || !importFieldInt(value, 2, &third) ||
            !importFieldInt(value, 3, &fourth) || first < 0 || second < 0 || third < 0 || fourth < 0 ||
            fourth >= IMPORT_NANOS_PER_SECOND)
            return false;
        bufferAppendF(out, "P%" PRId64 "M%" PRId64 "DT%" PRId64 ".%09" PRId64 "S", first, second, third, fourth);
        return true;
    case BOLT_TAG_POINT_2D:
    case BOLT_TAG_POINT_3D: {
        *base = IMPORT_TYPE_POINT;
        bool threeD = tag == BOLT_TAG_POINT_3D;
        double x = 0;
        double y = 0;
        double z = 0;
        if (value->as.structure.count != (threeD ? 4 : 3) || !importFieldInt(value, 0, &first) ||
            !importFieldFloat(value, 1, &x) || !importFieldFloat(value, 2, &y) ||
            (threeD && !importFieldFloat(value, 3, &z)))
            return false;
        const char *crs = importCrsName(first, threeD);
        if (!crs)
            return false;
        size_t mark = out->length;
        bufferAppendF(out, "{crs:'%s',x:", crs);
        bool exact = importDouble(out, x);
        bufferAppendF(out, ",y:");
        exact = exact && importDouble(out, y);
        if (threeD) {
            bufferAppendF(out, ",z:");
            exact = exact && importDouble(out, z);
        }
        bufferAppendByte(out, '}');
        if (!exact)
            out->length = mark;
        return exact;
    }
    default:
        return false;
    }
}

/* Appends text as a quoted CSV field: quotes doubled. */
static void importQuote(Buffer *out, const uint8_t *text, size_t length)
{
    bufferAppendByte(out, '"');
    const uint8_t *end = text + length;
    while (text < end) {
        const uint8_t *quote = memchr(text, '"', (size_t)(end - text));
        size_t run = quote ? (size_t)(quote - text) + 1 : (size_t)(end - text);
        bufferAppend(out, text, run);
        if (quote)
            bufferAppendByte(out, '"');
        text += run;
    }
    bufferAppendByte(out, '"');
}

bool importCsvAppendValue(Buffer *out, const BoltValue *value, ImportCsvType *type)
{
    size_t mark = out->length;
    type->base = IMPORT_TYPE_NONE;
    type->array = false;
    Buffer text;
    bufferInit(&text);
    bool exact = true;
    if (value->type == BOLT_BYTES) {
        type->base = IMPORT_TYPE_BYTE;
        type->array = true;
        exact = value->as.bytes.length > 0; /* an empty field would read as no property */
        for (uint32_t index = 0; exact && index < value->as.bytes.length; index++) {
            if (index)
                bufferAppendByte(&text, (uint8_t)IMPORT_ARRAY_DELIMITER);
            bufferAppendF(&text, "%d", (int)(int8_t)value->as.bytes.data[index]);
        }
    } else if (value->type == BOLT_LIST) {
        type->array = true;
        exact = value->as.list.count > 0;
        for (uint32_t index = 0; exact && index < value->as.list.count; index++) {
            ImportBaseType base = IMPORT_TYPE_NONE;
            if (index)
                bufferAppendByte(&text, (uint8_t)IMPORT_ARRAY_DELIMITER);
            size_t before = text.length;
            exact = importScalarText(&text, &value->as.list.items[index], &base) &&
                    (index == 0 || base == type->base);
            /* An empty string element cannot be told from a missing one. */
            if (exact && base == IMPORT_TYPE_STRING && text.length == before)
                exact = false;
            type->base = base;
        }
    } else {
        exact = importScalarText(&text, value, &type->base);
    }
    if (exact) {
        bool bare = !type->array && (type->base == IMPORT_TYPE_BOOLEAN || type->base == IMPORT_TYPE_LONG ||
                                     type->base == IMPORT_TYPE_DOUBLE);
        if (bare)
            bufferAppend(out, text.data, text.length);
        else
            importQuote(out, text.data, text.length);
    } else {
        out->length = mark;
        type->base = IMPORT_TYPE_NONE;
        type->array = false;
    }
    bufferFree(&text);
    return exact;
}

/* ---- columns ------------------------------------------------------------------- */

typedef struct {
    char *name;
    uint32_t length;
    ImportCsvType type;
} ImportColumn;

/* Property columns of one file, found by name through an open-addressing
 * table of column indexes + 1 (0 = empty slot). */
typedef struct {
    ImportColumn *columns;
    uint32_t count;
    uint32_t capacity;
    uint32_t *slots;
    uint32_t slotCount;    /* power of two */
} ImportColumns;

static uint32_t importHash(const char *name, size_t length)
{
    uint32_t hash = 2166136261u; /* FNV-1a */
    for (size_t index = 0; index < length; index++)
        hash = (hash ^ (uint8_t)name[index]) * 16777619u;
    return hash;
}

static int64_t importColumnFind(const ImportColumns *table, const char *name, size_t length)
{
    if (!table->slotCount)
        return -1;
    uint32_t mask = table->slotCount - 1;
    for (uint32_t slot = importHash(name, length) & mask;; slot = (slot + 1) & mask) {
        uint32_t entry = table->slots[slot];
        if (!entry)
            return -1;
        const ImportColumn *column = &table->columns[entry - 1];
        if (column->length == length && memcmp(column->name, name, length) == 0)
            return entry - 1;
    }
}

static void importColumnAdd(ImportColumns *table, const char *name, size_t length, ImportCsvType type)
{
    if ((table->count + 1) * 2 > table->slotCount) {
        uint32_t slotCount = table->slotCount ? table->slotCount * 2 : 64;
        uint32_t *slots = memCalloc(slotCount, sizeof(uint32_t));
        for (uint32_t index = 0; index < table->count; index++) {
            uint32_t slot = importHash(table->columns[index].name, table->columns[index].length) & (slotCount - 1);
            while (slots[slot])
                slot = (slot + 1) & (slotCount - 1);
            slots[slot] = index + 1;
        }
        free(table->slots);
        table->slots = slots;
        table->slotCount = slotCount;
    }
    if (table->count == table->capacity) {
        uint32_t capacity = table->capacity ? table->capacity * 2 : 16;
        ImportColumn *columns = memReallocArray(table->columns, capacity, sizeof(ImportColumn));
        table->columns = columns;
        table->capacity = capacity;
    }
    char *copy = memAlloc(length + 1);
    memcpy(copy, name, length);
    copy[length] = '\0';
    table->columns[table->count] = (ImportColumn){copy, (uint32_t)length, type};
    uint32_t slot = importHash(name, length) & (table->slotCount - 1);
    while (table->slots[slot])
        slot = (slot + 1) & (table->slotCount - 1);
    table->slots[slot] = ++table->count;
}

static void importColumnsFree(ImportColumns *table)
{
    for (uint32_t index = 0; index < table->count; index++)
        free(table->columns[index].name);
    free(table->columns);
    free(table->slots);
    memset(table, 0, sizeof(*table));
}

/* ---- the two passes ---------------------------------------------------------- */

typedef struct {
    const ImportCsvRequest *request;
    ImportCsv *out;
    ImportColumns nodeColumns;
    ImportColumns relationshipColumns;
    IdMap *nodeKeys;
    Buffer scratch;
    uint64_t seen;
    /* second pass */
    FILE *nodeFile;
    FILE *relationshipFile;
    FILE *nodeFixupFile;
    FILE *relationshipFixupFile;
    Buffer row;
    Buffer cells;
    size_t *cellStart;          /* per column: offset in cells + 1, 0 = empty */
    size_t *cellEnd;
    uint32_t cellCapacity;
} ImportWriter;

static bool importCancelled(const ImportWriter *writer)
{
    return writer->request->cancelFlag && *writer->request->cancelFlag;
}

/* First sight of each property key decides its column's type. */
static ErrCode importSurveyProperties(ImportWriter *writer, ImportColumns *table, const BoltValue *properties)
{
    for (uint32_t index = 0; index < properties->as.map.count; index++) {
        const BoltMapEntry *entry = &properties->as.map.entries[index];
        const char *name = entry->key.as.string.data;
        size_t length = entry->key.as.string.length;
        if (!importCsvKeySafe(name, length) || importColumnFind(table, name, length) >= 0)
            continue;
        ImportCsvType type;
        bufferClear(&writer->scratch);
        if (!importCsvAppendValue(&writer->scratch, &entry->value, &type))
            continue; /* a later value of this key may still make a column */
        importColumnAdd(table, name, length, type);
    }
    return ERR_OK;
}

static ErrCode importSurvey(int recordKind, const BoltValue *record, void *payload)
{
    ImportWriter *writer = payload;
    if (++writer->seen % IMPORT_CANCEL_EVERY == 0 && importCancelled(writer))
        return errSet(OPERATION_INTERRUPTED, "restore interrupted by a signal while writing import files");
    if (recordKind == ARC_RECORD_NODE) {
        GraphNode node;
        ErrCode code = graphNodeFromValue(record, &node);
        if (code != ERR_OK)
            return code;
        if (idMapPut(writer->nodeKeys, node.key, 0) == IDMAP_NO_MEMORY) {
            char cause[sizeof(errLast()->reason)]; /* errSet rewrites errLast() */
            snprintf(cause, sizeof(cause), "%s", errLast()->reason);
            return errSet(RESTORE_FAILED, "no room for the node key set: %s", cause);
        }
        if (node.key < 0)
            writer->out->stringIds = true;
        return importSurveyProperties(writer, &writer->nodeColumns, node.properties);
    }
    GraphRelationship relationship;
    ErrCode code = graphRelationshipFromValue(record, &relationship);
    if (code != ERR_OK)
        return code;
    return importSurveyProperties(writer, &writer->relationshipColumns, relationship.properties);
}

static ErrCode importOpen(FILE **file, char *path, const char *directory, const char *name)
{
    ErrCode code = fsPathJoin(path, IMPORT_PATH_SIZE, directory, name);
    if (code != ERR_OK)
        return code;
    *file = fopen(path, "wbx");
    if (!*file)
        return fsErrorFromErrno(errno, "create", path);
    setvbuf(*file, NULL, _IOFBF, IMPORT_FILE_BUFFER);
    return ERR_OK;
}

static ErrCode importWrite(FILE *file, const void *data, size_t length, const char *path)
{
    if (length && fwrite(data, 1, length, file) != length)
        return fsErrorFromErrno(errno ? errno : EIO, "write", path);
    return ERR_OK;
}

static ErrCode importClose(FILE **file, const char *path)
{
    if (!*file)
        return ERR_OK;
    int failed = fflush(*file) != 0 || ferror(*file);
    int savedErrno = errno;
    failed |= fclose(*file) != 0;
    *file = NULL;
    return failed ? fsErrorFromErrno(savedErrno ? savedErrno : EIO, "write", path) : ERR_OK;
}

static ErrCode importWriteHeader(const char *directory, const char *name, char *path, const char *fixed,
                                 const ImportColumns *table, const char *marker)
{
    Buffer header;
    bufferInit(&header);
    bufferAppendF(&header, "%s", fixed);
    for (uint32_t index = 0; index < table->count; index++)
        bufferAppendF(&header, ",%s:%s", table->columns[index].name, importCsvTypeName(table->columns[index].type));
    bufferAppendF(&header, ",%s:long\n", marker);
    FILE *file = NULL;
    ErrCode code = importOpen(&file, path, directory, name);
    if (code == ERR_OK)
        code = importWrite(file, header.data, header.length, path);
    ErrCode closed = importClose(&file, path);
    bufferFree(&header);
    return code != ERR_OK ? code : closed;
}

/* Fills the cells of the properties that have a column of their type; false
 * when one does not (the record then needs a fix-up). */
static bool importFillCells(ImportWriter *writer, const ImportColumns *table, const BoltValue *properties)
{
    bool complete = true;
    bufferClear(&writer->cells);
    memset(writer->cellStart, 0, table->count * sizeof(size_t));
    for (uint32_t index = 0; index < properties->as.map.count; index++) {
        const BoltMapEntry *entry = &properties->as.map.entries[index];
        int64_t column = importColumnFind(table, entry->key.as.string.data, entry->key.as.string.length);
        if (column < 0) {
            complete = false;
            continue;
        }
        size_t start = writer->cells.length;
        ImportCsvType type;
        if (!importCsvAppendValue(&writer->cells, &entry->value, &type) ||
            type.base != table->columns[column].type.base || type.array != table->columns[column].type.array) {
            writer->cells.length = start;
            complete = false;
            continue;
        }
        writer->cellStart[column] = start + 1;
        writer->cellEnd[column] = writer->cells.length;
    }
    return complete;
}

static void importAppendCells(ImportWriter *writer, const ImportColumns *table)
{
    for (uint32_t column = 0; column < table->count; column++) {
        bufferAppendByte(&writer->row, ',');
        if (writer->cellStart[column])
            bufferAppend(&writer->row, writer->cells.data + writer->cellStart[column] - 1,
                         writer->cellEnd[column] - (writer->cellStart[column] - 1));
    }
}

static ErrCode importAddFixup(ImportWriter *writer, FILE *file, const char *path, const uint8_t *packed,
                              size_t length, uint64_t ordinal)
{
    uint8_t prefix[4] = {(uint8_t)(length >> 24), (uint8_t)(length >> 16), (uint8_t)(length >> 8), (uint8_t)length};
    ErrCode code = importWrite(file, prefix, sizeof(prefix), path);
    if (code == ERR_OK)
        code = importWrite(file, packed, length, path);
    bufferAppendF(&writer->row, ",%" PRIu64 "\n", ordinal);
    return code;
}

static ErrCode importWriteNode(ImportWriter *writer, const BoltValue *record, const uint8_t *packed, size_t length)
{
    GraphNode node;
    ErrCode code = graphNodeFromValue(record, &node);
    if (code != ERR_OK)
        return code;
    ImportCsv *out = writer->out;
    bufferClear(&writer->row);
    importInteger(&writer->row, node.key);
    bufferAppendByte(&writer->row, ',');
    /* No labels: an empty field, not "" (which could read as one empty label). */
    size_t labelsStart = writer->row.length;
    bufferAppendByte(&writer->row, '"');
    bool complete = true;
    bool first = true;
    for (uint32_t index = 0; index < node.labels->as.list.count; index++) {
        const BoltValue *label = &node.labels->as.list.items[index];
        if (!importCsvLabelSafe(label->as.string.data, label->as.string.length)) {
            complete = false;
            continue;
        }
        if (!first)
            bufferAppendByte(&writer->row, (uint8_t)IMPORT_ARRAY_DELIMITER);
        first = false;
        /* Inside the quoted field: quotes doubled. */
        const char *text = label->as.string.data;
        for (uint32_t at = 0; at < label->as.string.length; at++) {
            if (text[at] == '"')
                bufferAppendByte(&writer->row, '"');
            bufferAppendByte(&writer->row, (uint8_t)text[at]);
        }
    }
    if (first)
        writer->row.length = labelsStart;
    else
        bufferAppendByte(&writer->row, '"');
    complete = importFillCells(writer, &writer->nodeColumns, node.properties) && complete;
    importAppendCells(writer, &writer->nodeColumns);
    if (complete)
        bufferAppend(&writer->row, ",\n", 2);
    else
        code = importAddFixup(writer, writer->nodeFixupFile, out->nodeFixups, packed, length, out->fixupNodes++);
    if (code == ERR_OK)
        code = importWrite(writer->nodeFile, writer->row.data, writer->row.length, out->nodeData);
    out->nodes++;
    out->csvBytes += writer->row.length;
    return code;
}

static ErrCode importWriteRelationship(ImportWriter *writer, const BoltValue *record, const uint8_t *packed,
                                       size_t length)
{
    GraphRelationship relationship;
    ErrCode code = graphRelationshipFromValue(record, &relationship);
    if (code != ERR_OK)
        return code;
    ImportCsv *out = writer->out;
    if (!idMapGet(writer->nodeKeys, relationship.startKey, NULL) ||
        !idMapGet(writer->nodeKeys, relationship.endKey, NULL)) {
        if (idMapFailed(writer->nodeKeys))
            return RESTORE_FAILED; /* errLast() has the scratch file's failure */
        out->orphanRelationships++;
        return ERR_OK;
    }
    bufferClear(&writer->row);
    importInteger(&writer->row, relationship.startKey);
    bufferAppendByte(&writer->row, ',');
    importInteger(&writer->row, relationship.endKey);
    bufferAppendByte(&writer->row, ',');
    bool complete = importCsvTypeSafe(relationship.type, relationship.typeLength);
    if (complete)
        importQuote(&writer->row, (const uint8_t *)relationship.type, relationship.typeLength);
    else
        bufferAppendF(&writer->row, "%s", IMPORT_PLACEHOLDER_TYPE);
    complete = importFillCells(writer, &writer->relationshipColumns, relationship.properties) && complete;
    importAppendCells(writer, &writer->relationshipColumns);
    if (complete)
        bufferAppend(&writer->row, ",\n", 2);
    else
        code = importAddFixup(writer, writer->relationshipFixupFile, out->relationshipFixups, packed, length,
                              out->fixupRelationships++);
    if (code == ERR_OK)
        code = importWrite(writer->relationshipFile, writer->row.data, writer->row.length, out->relationshipData);
    out->relationships++;
    out->csvBytes += writer->row.length;
    return code;
}

/* The links to read: the request's chain, or its one archive. */
static const ArcChainLink *importLinks(const ImportCsvRequest *request, ArcChainLink *single, size_t *count)
{
    if (request->chain && request->chainCount) {
        *count = request->chainCount;
        return request->chain;
    }
    *single = (ArcChainLink){.location = request->archive};
    *count = 1;
    return single;
}

static ErrCode importWriteAll(ImportWriter *writer)
{
    ArcChainReader *reader = NULL;
    Arena *arena = arenaNew(0);
    ArcChainLink single;
    size_t linkCount = 0;
    const ArcChainLink *links = importLinks(writer->request, &single, &linkCount);
    ErrCode code = arcChainOpen(&reader, links, linkCount);
    for (uint64_t count = 0; code == ERR_OK; count++) {
        if (count % IMPORT_CANCEL_EVERY == 0 && importCancelled(writer)) {
            code = errSet(OPERATION_INTERRUPTED, "restore interrupted by a signal while writing import files");
            break;
        }
        ArcRecordKind kind;
        const uint8_t *packed = NULL;
        size_t length = 0;
        code = arcChainNext(reader, &kind, &packed, &length);
        if (code != ERR_OK || !packed)
            break;
        if (kind != ARC_RECORD_NODE && kind != ARC_RECORD_RELATIONSHIP)
            continue;
        arenaReset(arena);
        PackReader packReader;
        packReaderInit(&packReader, packed, length);
        packReaderLimitDecoded(&packReader, ARC_RECORD_DECODED_MAX);
        BoltValue record;
        if (unpackValue(&packReader, arena, &record) != ERR_OK) {
            code = errSet(BACKUP_CORRUPTED, "a record does not decode: %s", errLast()->reason);
            break;
        }
        code = kind == ARC_RECORD_NODE ? importWriteNode(writer, &record, packed, length)
                                       : importWriteRelationship(writer, &record, packed, length);
        uint64_t written = writer->out->nodes + writer->out->relationships;
        if (writer->request->progress && written % IMPORT_PROGRESS_EVERY == 0)
            writer->request->progress(written, writer->request->expectedRecords, writer->request->progressPayload);
    }
    if (code == ERR_OK && writer->request->progress) {
        uint64_t written = writer->out->nodes + writer->out->relationships + writer->out->orphanRelationships;
        writer->request->progress(written, written, writer->request->progressPayload);
    }
    arcChainFree(reader);
    arenaFree(arena);
    return code;
}

/* A marker name no column holds: nbk_fixup_<hex>. */
static void importChooseMarker(ImportWriter *writer)
{
    uint64_t seed = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 20);
    for (;;) {
        snprintf(writer->out->marker, sizeof(writer->out->marker), "nbk_fixup_%08" PRIx64, seed & 0xffffffffu);
        size_t length = strlen(writer->out->marker);
        if (importColumnFind(&writer->nodeColumns, writer->out->marker, length) < 0 &&
            importColumnFind(&writer->relationshipColumns, writer->out->marker, length) < 0)
            return;
        seed = seed * 6364136223846793005u + 1442695040888963407u;
    }
}

ErrCode importCsvWrite(const ImportCsvRequest *request, ImportCsv *out)
{
    memset(out, 0, sizeof(*out));
    double started = timeMonotonic();
    ImportWriter writer;
    memset(&writer, 0, sizeof(writer));
    writer.request = request;
    writer.out = out;
    writer.nodeKeys = idMapNew(0);
    bufferInit(&writer.scratch);
    bufferInit(&writer.row);
    bufferInit(&writer.cells);
    if (!writer.nodeKeys)
        return errSet(RESTORE_FAILED, "out of memory for the node key set");

    ArcChainLink single;
    size_t linkCount = 0;
    const ArcChainLink *links = importLinks(request, &single, &linkCount);
    ErrCode code = healthArchiveContentScanChain(links, linkCount, &out->archive, importSurvey, &writer);
    if (code == ERR_OK) {
        importChooseMarker(&writer);
        uint32_t widest = writer.nodeColumns.count > writer.relationshipColumns.count ? writer.nodeColumns.count
                                                                                     : writer.relationshipColumns.count;
        writer.cellCapacity = widest ? widest : 1;
        writer.cellStart = memCalloc(writer.cellCapacity, sizeof(size_t));
        writer.cellEnd = memCalloc(writer.cellCapacity, sizeof(size_t));
    }
    if (code == ERR_OK)
        code = importWriteHeader(request->directory, "nodes-header.csv", out->nodeHeader, ":ID,:LABEL",
                                 &writer.nodeColumns, out->marker);
    if (code == ERR_OK)
        code = importWriteHeader(request->directory, "relationships-header.csv", out->relationshipHeader,
                                 ":START_ID,:END_ID,:TYPE", &writer.relationshipColumns, out->marker);
    if (code == ERR_OK)
        code = fsPathJoin(out->reportFile, sizeof(out->reportFile), request->directory, "import.report");
    if (code == ERR_OK)
        code = importOpen(&writer.nodeFile, out->nodeData, request->directory, "nodes.csv");
    if (code == ERR_OK)
        code = importOpen(&writer.relationshipFile, out->relationshipData, request->directory, "relationships.csv");
    if (code == ERR_OK)
        code = importOpen(&writer.nodeFixupFile, out->nodeFixups, request->directory, "node-fixups.bin");
    if (code == ERR_OK)
        code = importOpen(&writer.relationshipFixupFile, out->relationshipFixups, request->directory,
                          "relationship-fixups.bin");
    if (code == ERR_OK)
        code = importWriteAll(&writer);
    ErrCode closed = importClose(&writer.nodeFile, out->nodeData);
    if (closed == ERR_OK)
        closed = importClose(&writer.relationshipFile, out->relationshipData);
    if (closed == ERR_OK)
        closed = importClose(&writer.nodeFixupFile, out->nodeFixups);
    if (closed == ERR_OK)
        closed = importClose(&writer.relationshipFixupFile, out->relationshipFixups);
    if (code == ERR_OK)
        code = closed;
    /* Any still open after a failed close. */
    if (writer.nodeFile)
        fclose(writer.nodeFile);
    if (writer.relationshipFile)
        fclose(writer.relationshipFile);
    if (writer.nodeFixupFile)
        fclose(writer.nodeFixupFile);
    if (writer.relationshipFixupFile)
        fclose(writer.relationshipFixupFile);

    out->nodeColumns = writer.nodeColumns.count;
    out->relationshipColumns = writer.relationshipColumns.count;
    out->seconds = timeMonotonic() - started;
    importColumnsFree(&writer.nodeColumns);
    importColumnsFree(&writer.relationshipColumns);
    idMapFree(writer.nodeKeys);
    bufferFree(&writer.scratch);
    bufferFree(&writer.row);
    bufferFree(&writer.cells);
    free(writer.cellStart);
    free(writer.cellEnd);
    if (code != ERR_OK && code != OPERATION_INTERRUPTED)
        errAddContext("writing import files from %s", arcLocationShown(&request->archive));
    return code;
}

void importCsvFree(ImportCsv *csv)
{
    if (csv)
        arcContentFree(&csv->archive);
}

size_t importCsvAdminArgs(const ImportCsv *csv, const char *database, char storage[3][2 * IMPORT_PATH_SIZE + 32],
                          const char *args[IMPORT_ADMIN_ARGS])
{
    snprintf(storage[0], sizeof(storage[0]), "--nodes=%s,%s", csv->nodeHeader, csv->nodeData);
    snprintf(storage[1], sizeof(storage[1]), "--relationships=%s,%s", csv->relationshipHeader,
             csv->relationshipData);
    /* Beside the CSV, not in whatever directory the operator ran us from. */
    snprintf(storage[2], sizeof(storage[2]), "--report-file=%s", csv->reportFile);
    size_t count = 0;
    args[count++] = "database";
    args[count++] = "import";
    args[count++] = "full";
    args[count++] = "--overwrite-destination=true";
    args[count++] = csv->stringIds ? "--id-type=string" : "--id-type=integer";
    args[count++] = IMPORT_ARRAY_DELIMITER_OPTION;
    args[count++] = "--multiline-fields=false";
    args[count++] = "--ignore-empty-strings=false";
    args[count++] = "--bad-tolerance=0";
    args[count++] = storage[0];
    args[count++] = storage[1];
    args[count++] = storage[2];
    /* "--" ends the options, so that neither --nodes/--relationships (which
     * take any number of values) nor the database name can be confused. */
    args[count++] = "--";
    args[count++] = database;
    args[count] = NULL;
    return count;
}
