/* Schema capture (see schema.h). Rows are matched to columns by name, not
 * position, so servers that add or reorder columns (newer 5.x, 2025.x) are
 * read the same way. */
#include "backup/schema.h"

#include "common/log.h"

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
    {"createStatement", false},
};
#define SCHEMA_COLUMN_COUNT (sizeof(schemaColumns) / sizeof(schemaColumns[0]))

static bool schemaIsString(const BoltValue *value, const char *text)
{
    return value && value->type == BOLT_STRING && strcmp(value->as.string.data, text) == 0;
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
            bool absent = !cells[column] || cells[column]->type == BOLT_NULL;
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
            boltMapSet(arena, &item, entry++, schemaColumns[column].column,
                       cells[column] ? *cells[column] : boltNull());
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
    out->labelsOrTypes = boltMapGet(value, "labelsOrTypes");
    out->properties = boltMapGet(value, "properties");
    const BoltValue *options = boltMapGet(value, "options");
    out->options = options && options->type == BOLT_MAP ? options : NULL;
    return ERR_OK;
}
