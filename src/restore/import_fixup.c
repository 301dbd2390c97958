/* The import load's Bolt side: after neo4j-admin has built the store, the
 * records CSV could not carry exactly get their real labels, types and
 * properties (import_csv.h). Values travel as parameters, so they keep their
 * exact types as in the Bolt load. */
#include "restore/import_csv.h"

#include "archive/archive.h"
#include "bolt/packstream.h"
#include "common/log.h"
#include "common/mem.h"
#include "graph/records.h"
#include "restore/restore_text.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Rows per UNWIND batch of property fix-ups. */
#define FIXUP_BATCH 1000u

typedef struct {
    BoltConnection *connection;
    BoltQueryOptions options;
    const char *prefix;        /* "CYPHER 5 " where the default may be Cypher 25 */
    const ImportCsv *csv;
    int64_t *newIds;           /* by fix-up ordinal */
    uint64_t count;
    Buffer query;
    Arena *arena;              /* rows of the batch in flight */
    BoltValue *rows;
    uint32_t rowCount;
} FixupRun;

static ErrCode fixupExecute(FixupRun *run, const char *query, const BoltValue *params)
{
    ErrCode code = boltRun(run->connection, query, params, &run->options);
    const BoltValue *record = NULL;
    while (code == ERR_OK) {
        code = boltFetch(run->connection, &record);
        if (!record)
            break;
    }
    if (code == NEO4J_QUERY_FAILED) {
        ErrDetail detail = errSave();
        return errSet(RESTORE_FAILED, "the target refused a fix-up after the import: %s", detail.reason);
    }
    return code;
}

static BoltValue fixupParams(Arena *arena, const char *name, BoltValue value)
{
    BoltValue params = boltMap(arena, 1);
    boltMapSet(arena, &params, 0, name, value);
    return params;
}

/* New ids of the marked records, by marker value. */
static ErrCode fixupFindMarked(FixupRun *run, bool relationships)
{
    run->newIds = memAlloc((size_t)run->count * sizeof(int64_t));
    bool *found = memCalloc((size_t)run->count, sizeof(bool));
    bufferClear(&run->query);
    bufferAppendF(&run->query, "%sMATCH %s WHERE x.%s IS NOT NULL RETURN x.%s, id(x)", run->prefix,
                  relationships ? "()-[x]->()" : "(x)", run->csv->marker, run->csv->marker);
    bufferAppendByte(&run->query, 0);
    uint64_t seen = 0;
    ErrCode code = boltRun(run->connection, (const char *)run->query.data, NULL, &run->options);
    while (code == ERR_OK) {
        const BoltValue *record = NULL;
        code = boltFetch(run->connection, &record);
        if (code != ERR_OK || !record)
            break;
        const BoltValue *fields = record->as.list.items;
        if (record->as.list.count != 2 || fields[0].type != BOLT_INT || fields[1].type != BOLT_INT ||
            fields[0].as.integer < 0 || (uint64_t)fields[0].as.integer >= run->count ||
            found[fields[0].as.integer]) {
            boltDiscard(run->connection);
            code = errSet(RESTORE_FAILED, "the import holds an unexpected fix-up marker %s", run->csv->marker);
            break;
        }
        found[fields[0].as.integer] = true;
        run->newIds[fields[0].as.integer] = fields[1].as.integer;
        seen++;
    }
    free(found);
    if (code == ERR_OK && seen != run->count)
        code = errSet(RESTORE_FAILED, "the import holds %" PRIu64 " of the %" PRIu64 " %s marked for fix-ups", seen,
                      run->count, relationships ? "relationships" : "nodes");
    return code;
}

/* Sends the batched rows [newId, properties]: SET x = properties replaces
 * every property, the marker included. */
static ErrCode fixupFlush(FixupRun *run, bool relationships)
{
    if (!run->rowCount)
        return ERR_OK;
    BoltValue rows = boltList(run->arena, run->rowCount);
    memcpy(rows.as.list.items, run->rows, run->rowCount * sizeof(BoltValue));
    bufferClear(&run->query);
    bufferAppendF(&run->query, "%sUNWIND $rows AS row MATCH %s WHERE id(x) = row[0] SET x = row[1]", run->prefix,
                  relationships ? "()-[x]->()" : "(x)");
    bufferAppendByte(&run->query, 0);
    BoltValue params = fixupParams(run->arena, "rows", rows);
    ErrCode code = fixupExecute(run, (const char *)run->query.data, &params);
    run->rowCount = 0;
    free(run->rows);
    run->rows = NULL;
    arenaReset(run->arena);
    return code;
}

static ErrCode fixupQueue(FixupRun *run, int64_t newId, const BoltValue *properties, bool relationships)
{
    if (!run->rows) {
        run->rows = memAlloc(FIXUP_BATCH * sizeof(BoltValue));
    }
    BoltValue row = boltList(run->arena, 2);
    row.as.list.items[0] = boltInt(newId);
    row.as.list.items[1] = boltValueCopy(run->arena, properties);
    run->rows[run->rowCount++] = row;
    return run->rowCount >= FIXUP_BATCH ? fixupFlush(run, relationships) : ERR_OK;
}

static bool fixupLabelsSafe(const BoltValue *labels)
{
    for (uint32_t index = 0; index < labels->as.list.count; index++)
        if (!importCsvLabelSafe(labels->as.list.items[index].as.string.data,
                                labels->as.list.items[index].as.string.length))
            return false;
    return true;
}

/* The labels CSV could not carry: one statement per node (rare). */
static ErrCode fixupLabels(FixupRun *run, int64_t newId, const BoltValue *labels)
{
    bufferClear(&run->query);
    bufferAppendF(&run->query, "%sMATCH (x) WHERE id(x) = $id SET x", run->prefix);
    restoreAppendLabels(&run->query, labels);
    bufferAppendByte(&run->query, 0);
    Arena *arena = arenaNew(256);
    BoltValue params = fixupParams(arena, "id", boltInt(newId));
    ErrCode code = fixupExecute(run, (const char *)run->query.data, &params);
    arenaFree(arena);
    return code;
}

/* A relationship under the placeholder type: recreated with its own type
 * between the same nodes, one statement each (rare). */
static ErrCode fixupRetype(FixupRun *run, int64_t newId, const GraphRelationship *relationship)
{
    bufferClear(&run->query);
    bufferAppendF(&run->query, "%sMATCH (a)-[x]->(b) WHERE id(x) = $id CREATE (a)-[y:", run->prefix);
    restoreQuoteName(&run->query, relationship->type, relationship->typeLength);
    bufferAppendF(&run->query, "]->(b) SET y = $properties DELETE x");
    bufferAppendByte(&run->query, 0);
    Arena *arena = arenaNew(0);
    BoltValue params = boltMap(arena, 2);
    boltMapSet(arena, &params, 0, "id", boltInt(newId));
    boltMapSet(arena, &params, 1, "properties", boltValueCopy(arena, relationship->properties));
    ErrCode code = fixupExecute(run, (const char *)run->query.data, &params);
    arenaFree(arena);
    return code;
}

static ErrCode fixupRecord(FixupRun *run, const BoltValue *record, uint64_t ordinal, bool relationships)
{
    int64_t newId = run->newIds[ordinal];
    if (!relationships) {
        GraphNode node;
        ErrCode code = graphNodeFromValue(record, &node);
        if (code == ERR_OK && !fixupLabelsSafe(node.labels))
            code = fixupLabels(run, newId, node.labels);
        return code == ERR_OK ? fixupQueue(run, newId, node.properties, false) : code;
    }
    GraphRelationship relationship;
    ErrCode code = graphRelationshipFromValue(record, &relationship);
    if (code != ERR_OK)
        return code;
    if (!importCsvTypeSafe(relationship.type, relationship.typeLength))
        return fixupRetype(run, newId, &relationship);
    return fixupQueue(run, newId, relationship.properties, true);
}

static ErrCode fixupFile(FixupRun *run, const char *path, bool relationships)
{
    FILE *file = fopen(path, "rb");
    if (!file)
        return errSet(RESTORE_FAILED, "cannot open the fix-up file %s: %s", path, strerror(errno));
    Arena *recordArena = arenaNew(0);
    uint8_t *packed = NULL;
    size_t capacity = 0;
    ErrCode code = ERR_OK;
    for (uint64_t ordinal = 0; code == ERR_OK && ordinal < run->count; ordinal++) {
        uint8_t prefix[4];
        if (fread(prefix, 1, 4, file) != 4) {
            code = errSet(RESTORE_FAILED, "the fix-up file %s ends early", path);
            break;
        }
        size_t length = (size_t)prefix[0] << 24 | (size_t)prefix[1] << 16 | (size_t)prefix[2] << 8 | prefix[3];
        if (length > capacity) {
            uint8_t *grown = memRealloc(packed, length);
            packed = grown;
            capacity = length;
        }
        if (fread(packed, 1, length, file) != length) {
            code = errSet(RESTORE_FAILED, "the fix-up file %s ends early", path);
            break;
        }
        arenaReset(recordArena);
        PackReader reader;
        packReaderInit(&reader, packed, length);
        packReaderLimitDecoded(&reader, ARC_RECORD_DECODED_MAX);
        BoltValue record;
        code = unpackValue(&reader, recordArena, &record);
        if (code == ERR_OK)
            code = fixupRecord(run, &record, ordinal, relationships);
    }
    if (code == ERR_OK)
        code = fixupFlush(run, relationships);
    free(packed);
    arenaFree(recordArena);
    fclose(file);
    return code;
}

static ErrCode fixupKind(FixupRun *run, bool relationships)
{
    run->count = relationships ? run->csv->fixupRelationships : run->csv->fixupNodes;
    if (!run->count)
        return ERR_OK;
    ErrCode code = fixupFindMarked(run, relationships);
    if (code == ERR_OK)
        code = fixupFile(run, relationships ? run->csv->relationshipFixups : run->csv->nodeFixups, relationships);
    free(run->newIds);
    run->newIds = NULL;
    free(run->rows);
    run->rows = NULL;
    run->rowCount = 0;
    if (code == ERR_OK)
        logInfo("Applied %" PRIu64 " %s fix-ups (values CSV cannot carry exactly)", run->count,
                relationships ? "relationship" : "node");
    return code;
}

ErrCode importCsvApplyFixups(BoltConnection *connection, const char *database, const ImportCsv *csv)
{
    FixupRun run;
    memset(&run, 0, sizeof(run));
    run.connection = connection;
    run.options.database = database;
    run.options.mode = BOLT_ACCESS_WRITE;
    run.options.fetchSize = -1;
    run.prefix = restoreCypherPrefix(boltServerAgent(connection));
    run.csv = csv;
    run.arena = arenaNew(0);
    bufferInit(&run.query);
    /* Nodes first: a retyped relationship's endpoints are then final. */
    ErrCode code = fixupKind(&run, false);
    if (code == ERR_OK)
        code = fixupKind(&run, true);
    bufferFree(&run.query);
    arenaFree(run.arena);
    return code;
}
