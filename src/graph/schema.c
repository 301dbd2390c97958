/* Schema capture (see schema.h). Rows are matched to columns by name, not
 * position, so servers that add or reorder columns (newer 5.x, 2025.x) are
 * read the same way. */
#include "graph/schema.h"

#include "common/log.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

/* Columns copied into a schema item; optional ones are left out when absent
 * or null, the others are written even when null (a LOOKUP index has no
 * labelsOrTypes/properties). */
typedef struct {
    const char *column;
    bool optional;
} SchemaColumn;

static const SchemaColumn schemaColumns[] = {
    {"name", false},          {"type", false},          {"entityType", false},
    {"labelsOrTypes", false}, {"properties", false},    {"options", true},
    {"ownedIndex", true},     {"owningConstraint", true}, {"propertyType", true},
    {"createStatement", false}, {"state", true},          {"failureMessage", true},
};
#define SCHEMA_COLUMN_COUNT (sizeof(schemaColumns) / sizeof(schemaColumns[0]))

static bool schemaIsString(const BoltValue *value, const char *text)
{
    return value && value->type == BOLT_STRING && strcmp(value->as.string.data, text) == 0;
}

size_t schemaFirstLineLength(const BoltValue *text)
{
    const char *newline = memchr(text->as.string.data, '\n', text->as.string.length);
    return newline ? (size_t)(newline - text->as.string.data) : text->as.string.length;
}

/* Says at backup time, not at the restore, that a restore will refuse an
 * item (a kind newer than this tool): the backup itself is still taken. */
static void schemaWarnIfUnbuildable(const BoltValue *value)
{
    SchemaItem item;
    Buffer statement;
    bufferInit(&statement);
    if (schemaItemFromValue(value, &item) != ERR_OK || schemaBuildStatement(&item, &statement) != ERR_OK) {
        logWarn("%s: a restore of this backup will refuse it; upgrade neo4j-backup", errLast()->reason);
        errClear();
    }
    bufferFree(&statement);
}

/* Runs one SHOW command and turns each row into an item for sink. */
static ErrCode schemaCaptureList(BoltConnection *connection, const char *query, const char *kind,
                                 Arena *arena, SchemaItemSink sink, void *payload,
                                 SchemaSummary *summary)
{
    ErrCode code = boltRun(connection, query, NULL, NULL);
    if (code != ERR_OK) {
        errAddContext("while listing the schema (%s)", query);
        return code;
    }
    /* Column positions of this result, by name. */
    int64_t columnIndex[SCHEMA_COLUMN_COUNT];
    for (size_t column = 0; column < SCHEMA_COLUMN_COUNT; column++) {
        columnIndex[column] = -1;
        for (uint32_t field = 0; field < boltFieldCount(connection); field++) {
            if (strcmp(boltFieldName(connection, field), schemaColumns[column].column) == 0)
                columnIndex[column] = field;
        }
    }
    if (columnIndex[0] < 0 || columnIndex[1] < 0) {
        boltDiscard(connection);
        return errSet(NEO4J_PROTOCOL_ERROR, "%s returned no name or type column", query);
    }

    for (;;) {
        const BoltValue *row = NULL;
        code = boltFetch(connection, &row);
        if (code != ERR_OK) {
            errAddContext("while reading the schema (%s)", query);
            return code;
        }
        if (!row)
            return ERR_OK;
        arenaReset(arena);
        const BoltValue *cells[SCHEMA_COLUMN_COUNT];
        uint32_t itemCount = 1; /* kind */
        for (size_t column = 0; column < SCHEMA_COLUMN_COUNT; column++) {
            cells[column] = NULL;
            if (columnIndex[column] >= 0 && (uint32_t)columnIndex[column] < row->as.list.count)
                cells[column] = &row->as.list.items[columnIndex[column]];
            /* An ONLINE index's failureMessage is "": no failure to keep. */
            bool absent = !cells[column] || cells[column]->type == BOLT_NULL ||
                          (cells[column]->type == BOLT_STRING && cells[column]->as.string.length == 0 &&
                           strcmp(schemaColumns[column].column, "failureMessage") == 0);
            if (schemaColumns[column].optional && absent)
                cells[column] = NULL;
            else
                itemCount++;
        }
        BoltValue item = boltMap(arena, itemCount);
        uint32_t entry = 0;
        boltMapSet(arena, &item, entry++, "kind", boltString(arena, kind));
        for (size_t column = 0; column < SCHEMA_COLUMN_COUNT; column++) {
            if (schemaColumns[column].optional && !cells[column])
                continue;
            /* Values are borrowed from the row: valid for the sink call. */
            BoltValue cell = cells[column] ? *cells[column] : boltNull();
            if (strcmp(schemaColumns[column].column, "failureMessage") == 0 && cell.type == BOLT_STRING)
                cell = boltStringN(arena, cell.as.string.data, schemaFirstLineLength(&cell)); /* no Java stack */
            boltMapSet(arena, &item, entry++, schemaColumns[column].column, cell);
        }

        if (summary) {
            if (strcmp(kind, "constraint") == 0) {
                summary->constraints++;
            } else {
                summary->indexes++;
                if (schemaIsString(boltMapGet(&item, "type"), "LOOKUP"))
                    summary->lookupIndexes++;
                if (boltMapGet(&item, "owningConstraint"))
                    summary->ownedIndexes++;
            }
        }
        schemaWarnIfUnbuildable(&item);
        code = sink(&item, payload);
        if (code != ERR_OK) {
            boltDiscard(connection);
            return code;
        }
    }
}

ErrCode schemaCapture(BoltConnection *connection, SchemaItemSink sink, void *payload,
                      SchemaSummary *summary)
{
    if (summary)
        memset(summary, 0, sizeof(*summary));
    Arena *arena = arenaNew(4096);
    ErrCode code = schemaCaptureList(connection, "SHOW CONSTRAINTS YIELD *", "constraint", arena, sink,
                                     payload, summary);
    if (code == ERR_OK)
        code = schemaCaptureList(connection, "SHOW INDEXES YIELD *", "index", arena, sink, payload, summary);
    arenaFree(arena);
    if (code == ERR_OK && summary)
        logDebug("schema: %u constraints, %u indexes (%u owned by constraints, %u lookup)",
                 summary->constraints, summary->indexes, summary->ownedIndexes, summary->lookupIndexes);
    return code;
}

static const char *schemaStringOrNull(const BoltValue *map, const char *key)
{
    const BoltValue *value = boltMapGet(map, key);
    return value && value->type == BOLT_STRING ? value->as.string.data : NULL;
}

ErrCode schemaItemFromValue(const BoltValue *value, SchemaItem *out)
{
    memset(out, 0, sizeof(*out));
    if (!value || value->type != BOLT_MAP)
        return errSet(BACKUP_CORRUPTED, "schema record is a %s, expected a Map",
                      value ? boltTypeName(value) : "nothing");
    const char *kind = schemaStringOrNull(value, "kind");
    if (!kind || (strcmp(kind, "constraint") != 0 && strcmp(kind, "index") != 0))
        return errSet(BACKUP_CORRUPTED, "schema record has no kind \"constraint\" or \"index\"");
    out->isConstraint = strcmp(kind, "constraint") == 0;
    out->name = schemaStringOrNull(value, "name");
    out->type = schemaStringOrNull(value, "type");
    if (!out->name || !out->type)
        return errSet(BACKUP_CORRUPTED, "schema record (%s) lacks a name or a type", kind);
    out->entityType = schemaStringOrNull(value, "entityType");
    out->createStatement = schemaStringOrNull(value, "createStatement");
    out->owningConstraint = schemaStringOrNull(value, "owningConstraint");
    out->ownedIndex = schemaStringOrNull(value, "ownedIndex");
    out->propertyType = schemaStringOrNull(value, "propertyType");
    out->state = schemaStringOrNull(value, "state");
    out->failureMessage = schemaStringOrNull(value, "failureMessage");
    out->labelsOrTypes = boltMapGet(value, "labelsOrTypes");
    out->properties = boltMapGet(value, "properties");
    const BoltValue *options = boltMapGet(value, "options");
    out->options = options && options->type == BOLT_MAP ? options : NULL;
    return ERR_OK;
}

/* ---- rebuilding the DDL ----------------------------------------------------- */

/* How a kind of schema item is written in Cypher 5. */
typedef enum {
    SCHEMA_SHAPE_INDEX_ON,   /* CREATE <kw> INDEX n FOR pattern ON (v.p, ...) */
    SCHEMA_SHAPE_INDEX_EACH, /* CREATE FULLTEXT INDEX n FOR pattern ON EACH [v.p, ...] */
    SCHEMA_SHAPE_LOOKUP,     /* CREATE LOOKUP INDEX n FOR (n) ON EACH labels(n) */
    SCHEMA_SHAPE_PROPERTIES, /* CREATE CONSTRAINT n FOR pattern REQUIRE (v.p, ...) IS <kw> */
    SCHEMA_SHAPE_PROPERTY,   /* CREATE CONSTRAINT n FOR pattern REQUIRE v.p IS <kw> */
    SCHEMA_SHAPE_TYPED,      /* CREATE CONSTRAINT n FOR pattern REQUIRE v.p IS :: <propertyType> */
} SchemaShape;

typedef struct {
    const char *type; /* the type column of SHOW INDEXES / SHOW CONSTRAINTS */
    bool isConstraint;
    SchemaShape shape;
    const char *entityType;  /* the only entity type allowed, NULL for either */
    const char *keyword;     /* index kind, or what the constraint requires */
    uint32_t maxProperties;  /* 0: no limit */
    bool takesOptions;       /* OPTIONS {indexProvider, indexConfig} */
} SchemaKind;

/* Every kind Neo4j 5.26 and 2025.x/2026.x list (Cypher 25 servers rename the
 * uniqueness constraints). Anything else is refused, not guessed at. */
static const SchemaKind schemaKinds[] = {
    {"RANGE", false, SCHEMA_SHAPE_INDEX_ON, NULL, "RANGE", 0, true},
    {"TEXT", false, SCHEMA_SHAPE_INDEX_ON, NULL, "TEXT", 1, true},
    {"POINT", false, SCHEMA_SHAPE_INDEX_ON, NULL, "POINT", 1, true},
    {"VECTOR", false, SCHEMA_SHAPE_INDEX_ON, NULL, "VECTOR", 1, true},
    {"FULLTEXT", false, SCHEMA_SHAPE_INDEX_EACH, NULL, "FULLTEXT", 0, true},
    {"LOOKUP", false, SCHEMA_SHAPE_LOOKUP, NULL, "LOOKUP", 0, false},
    {"UNIQUENESS", true, SCHEMA_SHAPE_PROPERTIES, "NODE", "UNIQUE", 0, true},
    {"NODE_PROPERTY_UNIQUENESS", true, SCHEMA_SHAPE_PROPERTIES, "NODE", "UNIQUE", 0, true},
    {"RELATIONSHIP_UNIQUENESS", true, SCHEMA_SHAPE_PROPERTIES, "RELATIONSHIP", "UNIQUE", 0, true},
    {"RELATIONSHIP_PROPERTY_UNIQUENESS", true, SCHEMA_SHAPE_PROPERTIES, "RELATIONSHIP", "UNIQUE", 0, true},
    {"NODE_KEY", true, SCHEMA_SHAPE_PROPERTIES, "NODE", "NODE KEY", 0, true},
    {"RELATIONSHIP_KEY", true, SCHEMA_SHAPE_PROPERTIES, "RELATIONSHIP", "RELATIONSHIP KEY", 0, true},
    {"NODE_PROPERTY_EXISTENCE", true, SCHEMA_SHAPE_PROPERTY, "NODE", "NOT NULL", 1, false},
    {"RELATIONSHIP_PROPERTY_EXISTENCE", true, SCHEMA_SHAPE_PROPERTY, "RELATIONSHIP", "NOT NULL", 1, false},
    {"NODE_PROPERTY_TYPE", true, SCHEMA_SHAPE_TYPED, "NODE", NULL, 1, false},
    {"RELATIONSHIP_PROPERTY_TYPE", true, SCHEMA_SHAPE_TYPED, "RELATIONSHIP", NULL, 1, false},
};

#define SCHEMA_NAME_MAX 65535u
#define SCHEMA_LIST_MAX 64u
#define SCHEMA_CONFIG_TEXT_MAX 128u

static ErrCode schemaRefuse(const SchemaItem *item, const char *why)
{
    return errSet(BACKUP_CORRUPTED, "schema item '%.200s' (%s %.64s) cannot be rebuilt: %s", item->name,
                  item->isConstraint ? "constraint" : "index", item->type, why);
}

/* A name: a non-empty string without NUL bytes (backticks are fine: quoted). */
static bool schemaNameUsable(const BoltValue *value)
{
    return value && value->type == BOLT_STRING && value->as.string.length > 0 &&
           value->as.string.length <= SCHEMA_NAME_MAX && strlen(value->as.string.data) == value->as.string.length;
}

/* `name`, backticks inside doubled: the only escape Cypher has for names. */
static void schemaAppendName(Buffer *out, const char *name, size_t length)
{
    bufferAppendByte(out, '`');
    for (size_t index = 0; index < length; index++) {
        if (name[index] == '`')
            bufferAppendByte(out, '`');
        bufferAppendByte(out, (uint8_t)name[index]);
    }
    bufferAppendByte(out, '`');
}

/* A list of 1..SCHEMA_LIST_MAX usable names. */
static bool schemaNameListUsable(const BoltValue *list)
{
    if (!list || list->type != BOLT_LIST || list->as.list.count == 0 || list->as.list.count > SCHEMA_LIST_MAX)
        return false;
    for (uint32_t index = 0; index < list->as.list.count; index++) {
        if (!schemaNameUsable(&list->as.list.items[index]))
            return false;
    }
    return true;
}

static bool schemaCharsIn(const char *text, size_t length, const char *allowed)
{
    for (size_t index = 0; index < length; index++) {
        if (!isalnum((unsigned char)text[index]) && !strchr(allowed, text[index]))
            return false;
    }
    return true;
}

/* Texts of an index configuration: analyzer names and similarity functions
 * ('standard-no-stop-words', 'COSINE'). */
static bool schemaConfigTextUsable(const BoltValue *value)
{
    return value->type == BOLT_STRING && value->as.string.length > 0 &&
           value->as.string.length <= SCHEMA_CONFIG_TEXT_MAX &&
           strlen(value->as.string.data) == value->as.string.length &&
           schemaCharsIn(value->as.string.data, value->as.string.length, "._-: ");
}

static void schemaAppendFloat(Buffer *out, double real)
{
    char text[40];
    snprintf(text, sizeof(text), "%.17g", real);
    bufferAppendF(out, "%s", text);
    if (!strpbrk(text, ".e")) /* keep it a Float: spatial settings refuse Integers */
        bufferAppendF(out, ".0");
}

/* One indexConfig value: a boolean, an integer, a finite float, a text of
 * schemaConfigTextUsable, or a list of 1..SCHEMA_LIST_MAX numbers. */
static bool schemaAppendConfigValue(Buffer *out, const BoltValue *value)
{
    switch (value->type) {
    case BOLT_BOOL:
        bufferAppendF(out, "%s", value->as.boolean ? "true" : "false");
        return true;
    case BOLT_INT:
        bufferAppendF(out, "%lld", (long long)value->as.integer);
        return true;
    case BOLT_FLOAT:
        if (!isfinite(value->as.real))
            return false;
        schemaAppendFloat(out, value->as.real);
        return true;
    case BOLT_STRING:
        if (!schemaConfigTextUsable(value))
            return false;
        bufferAppendF(out, "'%s'", value->as.string.data);
        return true;
    case BOLT_LIST:
        if (value->as.list.count == 0 || value->as.list.count > SCHEMA_LIST_MAX)
            return false;
        bufferAppendByte(out, '[');
        for (uint32_t index = 0; index < value->as.list.count; index++) {
            const BoltValue *number = &value->as.list.items[index];
            if (number->type != BOLT_INT && number->type != BOLT_FLOAT)
                return false;
            if (index > 0)
                bufferAppendF(out, ", ");
            if (!schemaAppendConfigValue(out, number))
                return false;
        }
        bufferAppendByte(out, ']');
        return true;
    default:
        return false;
    }
}

/* " OPTIONS {indexConfig: {...}}", or nothing when the item has no settings.
 * The indexProvider is left out, as the server's own createStatement does:
 * the target picks its provider (a 2026.x server its fulltext-2.0). Any key
 * other than indexProvider and indexConfig, or a setting of another shape,
 * refuses. */
static ErrCode schemaAppendOptions(const SchemaItem *item, Buffer *out)
{
    const BoltValue *options = item->options;
    const BoltValue *config = NULL;
    for (uint32_t index = 0; options && index < options->as.map.count; index++) {
        const char *key = options->as.map.entries[index].key.as.string.data;
        const BoltValue *value = &options->as.map.entries[index].value;
        if (strcmp(key, "indexProvider") == 0) {
            if (value->type != BOLT_NULL && value->type != BOLT_STRING)
                return schemaRefuse(item, "its indexProvider is not a string");
        } else if (strcmp(key, "indexConfig") == 0) {
            if (value->type != BOLT_NULL && (value->type != BOLT_MAP || value->as.map.count > SCHEMA_LIST_MAX))
                return schemaRefuse(item, "its indexConfig is not a map of settings");
            config = value->type == BOLT_MAP ? value : NULL;
        } else {
            return schemaRefuse(item, "its options hold a key other than indexProvider and indexConfig");
        }
    }
    if (!config || config->as.map.count == 0)
        return ERR_OK;
    bufferAppendF(out, " OPTIONS {indexConfig: {");
    for (uint32_t setting = 0; setting < config->as.map.count; setting++) {
        const BoltValue *name = &config->as.map.entries[setting].key;
        if (name->as.string.length == 0 || name->as.string.length > SCHEMA_CONFIG_TEXT_MAX ||
            strlen(name->as.string.data) != name->as.string.length ||
            !schemaCharsIn(name->as.string.data, name->as.string.length, "._-"))
            return schemaRefuse(item, "its indexConfig has a setting name of unexpected characters");
        if (setting > 0)
            bufferAppendF(out, ", ");
        schemaAppendName(out, name->as.string.data, name->as.string.length);
        bufferAppendF(out, ": ");
        if (!schemaAppendConfigValue(out, &config->as.map.entries[setting].value))
            return schemaRefuse(item, "its indexConfig has a value that is not a boolean, number, "
                                      "list of numbers or plain word");
    }
    bufferAppendF(out, "}}");
    return ERR_OK;
}

/* Property types of type constraints: one or more of these, separated by
 * " | " ("INTEGER | FLOAT"), each alone, as LIST<type NOT NULL>, or (2025.x)
 * a VECTOR<coordinate type>(dimension). */
static const char *const schemaPropertyTypes[] = {
    "BOOLEAN", "STRING", "INTEGER", "FLOAT", "DATE", "LOCAL TIME", "ZONED TIME", "LOCAL DATETIME",
    "ZONED DATETIME", "DURATION", "POINT",
};
static const char *const schemaVectorCoordinates[] = {
    "INTEGER8", "INTEGER16", "INTEGER32", "INTEGER", "INTEGER64", "FLOAT32", "FLOAT", "FLOAT64",
};

static size_t schemaMatchWord(const char *text, const char *const *words, size_t count)
{
    size_t best = 0;
    for (size_t index = 0; index < count; index++) {
        size_t length = strlen(words[index]);
        if (length > best && strncmp(text, words[index], length) == 0)
            best = length;
    }
    return best;
}

static bool schemaPropertyTypeUsable(const char *text)
{
    if (!text || !*text || strlen(text) > 1024)
        return false;
    const size_t simpleCount = sizeof(schemaPropertyTypes) / sizeof(schemaPropertyTypes[0]);
    const size_t coordinateCount = sizeof(schemaVectorCoordinates) / sizeof(schemaVectorCoordinates[0]);
    for (;;) {
        size_t length = 0;
        if (strncmp(text, "LIST<", 5) == 0) {
            size_t inner = schemaMatchWord(text + 5, schemaPropertyTypes, simpleCount);
            if (!inner || strncmp(text + 5 + inner, " NOT NULL>", 10) != 0)
                return false;
            length = 5 + inner + 10;
        } else if (strncmp(text, "VECTOR<", 7) == 0) {
            size_t inner = schemaMatchWord(text + 7, schemaVectorCoordinates, coordinateCount);
            if (!inner || strncmp(text + 7 + inner, ">(", 2) != 0)
                return false;
            length = 7 + inner + 2;
            size_t digits = 0;
            while (isdigit((unsigned char)text[length + digits]) && digits < 6)
                digits++;
            if (!digits || text[length + digits] != ')')
                return false;
            length += digits + 1;
        } else {
            length = schemaMatchWord(text, schemaPropertyTypes, simpleCount);
            if (!length)
                return false;
        }
        text += length;
        if (!*text)
            return true;
        if (strncmp(text, " | ", 3) != 0)
            return false;
        text += 3;
    }
}

/* (n:`A`) or ()-[r:`T`]-(); FULLTEXT indexes join several with |. */
static void schemaAppendPattern(Buffer *out, bool relationship, const BoltValue *tokens)
{
    bufferAppendF(out, relationship ? "()-[r" : "(n");
    for (uint32_t index = 0; tokens && index < tokens->as.list.count; index++) {
        bufferAppendByte(out, index == 0 ? ':' : '|');
        schemaAppendName(out, tokens->as.list.items[index].as.string.data,
                         tokens->as.list.items[index].as.string.length);
    }
    bufferAppendF(out, relationship ? "]-()" : ")");
}

/* v.`p1`, v.`p2` */
static void schemaAppendProperties(Buffer *out, bool relationship, const BoltValue *properties)
{
    for (uint32_t index = 0; index < properties->as.list.count; index++) {
        bufferAppendF(out, "%s%c.", index > 0 ? ", " : "", relationship ? 'r' : 'n');
        schemaAppendName(out, properties->as.list.items[index].as.string.data,
                         properties->as.list.items[index].as.string.length);
    }
}

ErrCode schemaBuildStatement(const SchemaItem *item, Buffer *out)
{
    bufferClear(out);
    const SchemaKind *kind = NULL;
    for (size_t index = 0; index < sizeof(schemaKinds) / sizeof(schemaKinds[0]); index++) {
        if (schemaKinds[index].isConstraint == item->isConstraint && strcmp(schemaKinds[index].type, item->type) == 0)
            kind = &schemaKinds[index];
    }
    if (!kind)
        return schemaRefuse(item, "this tool does not know how to create that type");
    if (!item->entityType || (strcmp(item->entityType, "NODE") != 0 && strcmp(item->entityType, "RELATIONSHIP") != 0))
        return schemaRefuse(item, "its entityType is neither NODE nor RELATIONSHIP");
    if (kind->entityType && strcmp(kind->entityType, item->entityType) != 0)
        return schemaRefuse(item, "its entityType does not match its type");
    bool relationship = strcmp(item->entityType, "RELATIONSHIP") == 0;
    BoltValue nameValue = {.type = BOLT_STRING};
    nameValue.as.string.data = item->name;
    nameValue.as.string.length = (uint32_t)strlen(item->name);
    if (!schemaNameUsable(&nameValue))
        return schemaRefuse(item, "its name is empty or too long");

    const BoltValue *tokens = item->labelsOrTypes;
    const BoltValue *properties = item->properties;
    if (kind->shape == SCHEMA_SHAPE_LOOKUP) {
        if ((tokens && tokens->type != BOLT_NULL) || (properties && properties->type != BOLT_NULL))
            return schemaRefuse(item, "a LOOKUP index has labels or properties");
    } else {
        if (!schemaNameListUsable(tokens) || !schemaNameListUsable(properties))
            return schemaRefuse(item, "its labelsOrTypes or properties are not lists of names");
        if (kind->shape != SCHEMA_SHAPE_INDEX_EACH && tokens->as.list.count != 1)
            return schemaRefuse(item, "it is on more than one label or relationship type");
        if (kind->maxProperties && properties->as.list.count > kind->maxProperties)
            return schemaRefuse(item, "it is on more properties than its type allows");
    }
    if (kind->isConstraint)
        bufferAppendF(out, "CREATE CONSTRAINT ");
    else
        bufferAppendF(out, "CREATE %s INDEX ", kind->keyword);
    schemaAppendName(out, item->name, nameValue.as.string.length);
    bufferAppendF(out, " FOR ");
    switch (kind->shape) {
    case SCHEMA_SHAPE_LOOKUP:
        if (relationship)
            bufferAppendF(out, "()-[r]-() ON EACH type(r)");
        else
            bufferAppendF(out, "(n) ON EACH labels(n)");
        break;
    case SCHEMA_SHAPE_INDEX_ON:
        schemaAppendPattern(out, relationship, tokens);
        bufferAppendF(out, " ON (");
        schemaAppendProperties(out, relationship, properties);
        bufferAppendByte(out, ')');
        break;
    case SCHEMA_SHAPE_INDEX_EACH:
        schemaAppendPattern(out, relationship, tokens);
        bufferAppendF(out, " ON EACH [");
        schemaAppendProperties(out, relationship, properties);
        bufferAppendByte(out, ']');
        break;
    case SCHEMA_SHAPE_PROPERTIES:
        schemaAppendPattern(out, relationship, tokens);
        bufferAppendF(out, " REQUIRE (");
        schemaAppendProperties(out, relationship, properties);
        bufferAppendF(out, ") IS %s", kind->keyword);
        break;
    case SCHEMA_SHAPE_PROPERTY:
        schemaAppendPattern(out, relationship, tokens);
        bufferAppendF(out, " REQUIRE ");
        schemaAppendProperties(out, relationship, properties);
        bufferAppendF(out, " IS %s", kind->keyword);
        break;
    case SCHEMA_SHAPE_TYPED:
        if (!schemaPropertyTypeUsable(item->propertyType))
            return schemaRefuse(item, "its propertyType is not a property type this tool knows");
        schemaAppendPattern(out, relationship, tokens);
        bufferAppendF(out, " REQUIRE ");
        schemaAppendProperties(out, relationship, properties);
        bufferAppendF(out, " IS :: %s", item->propertyType);
        break;
    }
    if (kind->takesOptions) {
        ErrCode code = schemaAppendOptions(item, out);
        if (code != ERR_OK)
            return code;
    }
    bufferAppendByte(out, 0);
    out->length--; /* NUL-terminated, not counted */
    return ERR_OK;
}
