/* Post-restore health checks and the archive-side facts they compare with
 * (health.h). */
#include "restore/health.h"

#include "archive/archive.h"
#include "graph/schema.h"
#include "bolt/packstream.h"
#include "common/buffer.h"
#include "common/log.h"
#include "common/mem.h"
#include "graph/fingerprint.h"
#include "graph/records.h"
#include "restore/idmap.h"
#include "restore/restore_text.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HEALTH_FETCH_SIZE 10000

void healthFinding(HealthCheckResult *out, const char *name, HealthStatus status, const char *fmt, ...)
{
    out->name = name;
    out->status = status;
    va_list args;
    va_start(args, fmt);
    vsnprintf(out->finding, sizeof(out->finding), fmt, args);
    va_end(args);
    /* One line: a server message may carry newlines. */
    for (char *cursor = out->finding; *cursor; cursor++)
        if (*cursor == '\n' || *cursor == '\r')
            *cursor = ' ';
}

/* "CYPHER 5 " on servers whose default language may be Cypher 25. */
static const char *healthQueryPrefix(BoltConnection *connection)
{
    return restoreCypherPrefix(boltServerAgent(connection));
}

static char *healthQueryText(Buffer *buffer, BoltConnection *connection, const char *query)
{
    bufferClear(buffer);
    bufferAppendF(buffer, "%s%s", healthQueryPrefix(connection), query);
    bufferAppendByte(buffer, 0);
    return (char *)buffer->data;
}

static bool healthStringIs(const BoltValue *value, const char *text)
{
    return value && value->type == BOLT_STRING && value->as.string.length == strlen(text) &&
           memcmp(value->as.string.data, text, value->as.string.length) == 0;
}

static bool healthStringsEqual(const BoltValue *left, const BoltValue *right)
{
    return left && right && left->type == BOLT_STRING && right->type == BOLT_STRING &&
           left->as.string.length == right->as.string.length &&
           memcmp(left->as.string.data, right->as.string.data, left->as.string.length) == 0;
}

static bool healthHasMetadataLabel(const BoltValue *labels)
{
    if (!labels || labels->type != BOLT_LIST)
        return false;
    for (uint32_t index = 0; index < labels->as.list.count; index++)
        if (healthStringIs(&labels->as.list.items[index], HEALTH_METADATA_LABEL))
            return true;
    return false;
}

/* ---- archive side --------------------------------------------------------- */

typedef struct {
    Fingerprint *fingerprint;
    IdMap *metadataKeys;
    uint64_t orphans;
    GraphCounts *counts;
} HealthFingerprintState;

/* Adds a relationship unless it touches a BackupMetadata node; false when an
 * endpoint is unknown (so far). */
static bool healthAddRelationship(HealthFingerprintState *state, const GraphRelationship *relationship)
{
    if (idMapGet(state->metadataKeys, relationship->startKey, NULL) ||
        idMapGet(state->metadataKeys, relationship->endKey, NULL))
        return true;
    if (fingerprintAddRelationship(state->fingerprint, relationship->startKey, relationship->endKey,
                                   relationship->type, relationship->typeLength,
                                   relationship->properties) != ERR_OK)
        return false;
    graphCountsAddRelationship(state->counts, relationship->type, relationship->typeLength);
    return true;
}

ErrCode healthArchiveContentRead(const char *archivePath, ArchiveContent *out)
{
    ArcLocation archive = {.path = archivePath};
    return healthArchiveContentScan(&archive, out, NULL, NULL);
}

ErrCode healthArchiveContentReadAt(const ArcLocation *archive, ArchiveContent *out)
{
    return healthArchiveContentScan(archive, out, NULL, NULL);
}

ErrCode healthArchiveContentScan(const ArcLocation *archive, ArchiveContent *out, HealthRecordVisitor visit,
                                 void *payload)
{
    ArcChainLink link = {.location = *archive};
    return healthArchiveContentScanChain(&link, 1, out, visit, payload);
}

ErrCode healthArchiveContentScanChain(const ArcChainLink *links, size_t count, ArchiveContent *out,
                                      HealthRecordVisitor visit, void *payload)
{
    /* Messages name the backup asked for: the newest link. */
    const char *archivePath = arcLocationShown(&links[count - 1].location);
    memset(out, 0, sizeof(*out));
    out->arena = arenaNew(0);
    HealthFingerprintState state = {fingerprintNew(), idMapNew(0), 0, &out->counts};
    Arena *scratch = arenaNew(0);
    Arena *deferredArena = arenaNew(0);
    BoltValue *deferred = NULL;
    size_t deferredCount = 0;
    size_t deferredCapacity = 0;
    BoltValue *schema = NULL;
    size_t schemaCapacity = 0;
    ArcChainReader *reader = NULL;
    ErrCode code = state.metadataKeys ? arcChainOpen(&reader, links, count)
                                      : errSet(ERR_INTERNAL, "out of memory");
    while (code == ERR_OK) {
        ArcRecordKind kind;
        const uint8_t *packed = NULL;
        size_t length = 0;
        code = arcChainNext(reader, &kind, &packed, &length);
        if (code != ERR_OK || !packed)
            break;
        PackReader packReader;
        packReaderInit(&packReader, packed, length);
        packReaderLimitDecoded(&packReader, ARC_RECORD_DECODED_MAX);
        BoltValue value;
        bool isSchema = kind == ARC_RECORD_SCHEMA;
        if (!isSchema)
            arenaReset(scratch);
        if (unpackValue(&packReader, isSchema ? out->arena : scratch, &value) != ERR_OK) {
            code = errSet(BACKUP_CORRUPTED, "a record of %s does not decode: %s", archivePath,
                          errLast()->reason);
            break;
        }
        if (isSchema) {
            if (value.type != BOLT_MAP) {
                code = errSet(BACKUP_CORRUPTED, "a schema record of %s is not a map", archivePath);
                break;
            }
            /* Every item must be one a restore can rebuild (schemaBuildStatement):
             * validation and the import then refuse what a restore would. */
            SchemaItem item;
            Buffer statement;
            bufferInit(&statement);
            code = schemaItemFromValue(&value, &item);
            if (code == ERR_OK)
                code = schemaBuildStatement(&item, &statement);
            bufferFree(&statement);
            if (code != ERR_OK) {
                errAddContext("in %s", archivePath);
                break;
            }
            if (out->schemaCount + 1 > schemaCapacity) {
                size_t grown = schemaCapacity ? schemaCapacity * 2 : 16;
                BoltValue *moved = memRealloc(schema, grown * sizeof(BoltValue));
                schema = moved;
                schemaCapacity = grown;
            }
            schema[out->schemaCount++] = value;
        } else if (kind == ARC_RECORD_NODE) {
            GraphNode node;
            code = graphNodeFromValue(&value, &node);
            if (code == ERR_OK && visit)
                code = visit(kind, &value, payload);
            if (code != ERR_OK)
                break;
            out->nodes++;
            if (healthHasMetadataLabel(node.labels)) {
                out->metadataNodes++;
                if (idMapPut(state.metadataKeys, node.key, 0) == IDMAP_NO_MEMORY)
                    code = errLast()->code;
            } else {
                code = fingerprintAddNode(state.fingerprint, node.key, node.labels, node.properties);
                if (code == ERR_OK)
                    graphCountsAddNode(&out->counts, node.labels);
            }
        } else if (kind == ARC_RECORD_RELATIONSHIP) {
            GraphRelationship relationship;
            code = graphRelationshipFromValue(&value, &relationship);
            if (code == ERR_OK && visit)
                code = visit(kind, &value, payload);
            if (code != ERR_OK)
                break;
            out->relationships++;
            if (!healthAddRelationship(&state, &relationship)) {
                /* Its endpoint may still come later in the archive. */
                if (deferredCount + 1 > deferredCapacity) {
                    size_t grown = deferredCapacity ? deferredCapacity * 2 : 64;
                    BoltValue *moved = memRealloc(deferred, grown * sizeof(BoltValue));
                    deferred = moved;
                    deferredCapacity = grown;
                }
                deferred[deferredCount++] = boltValueCopy(deferredArena, &value);
            }
        } else {
            code = errSet(BACKUP_CORRUPTED, "unknown record kind 0x%02x in %s", (unsigned)kind, archivePath);
        }
    }
    for (size_t index = 0; code == ERR_OK && index < deferredCount; index++) {
        GraphRelationship relationship;
        code = graphRelationshipFromValue(&deferred[index], &relationship);
        if (code == ERR_OK && !healthAddRelationship(&state, &relationship))
            state.orphans++;
    }
    if (code == ERR_OK) {
        errClear(); /* orphans were counted, not errors */
        code = fingerprintHex(state.fingerprint, out->fingerprint);
    }
    if (code == ERR_OK) {
        out->orphanRelationships = state.orphans;
        if (out->schemaCount) {
            BoltValue *items = arenaAlloc(out->arena, out->schemaCount * sizeof(BoltValue));
            memcpy(items, schema, out->schemaCount * sizeof(BoltValue));
            out->schemaItems = items;
        }
    }
    arcChainFree(reader);
    free(schema);
    free(deferred);
    arenaFree(deferredArena);
    arenaFree(scratch);
    idMapFree(state.metadataKeys);
    fingerprintFree(state.fingerprint);
    if (code != ERR_OK)
        arcContentFree(out);
    return code;
}

ErrCode healthFingerprintOfArchive(const char *archivePath, char hexOut[66], FingerprintCounts *counts)
{
    ArchiveContent content;
    ErrCode code = healthArchiveContentRead(archivePath, &content);
    if (code != ERR_OK)
        return code;
    memcpy(hexOut, content.fingerprint, 66);
    if (counts) {
        counts->nodes = content.nodes - content.metadataNodes;
        counts->relationships = content.relationships - content.orphanRelationships;
        counts->orphanRelationships = content.orphanRelationships;
    }
    arcContentFree(&content);
    return ERR_OK;
}

/* ---- database side ---------------------------------------------------------- */

ErrCode healthFingerprintOfDatabase(BoltConnection *connection, const char *database, char hexOut[66],
                                    FingerprintCounts *counts)
{
    BoltQueryOptions options = {.database = database, .mode = BOLT_ACCESS_READ, .fetchSize = HEALTH_FETCH_SIZE};
    Fingerprint *fingerprint = fingerprintNew();
    Buffer query;
    bufferInit(&query);
    uint64_t orphans = 0;
    /* Nodes first: relationships need the content of both endpoints. */
    ErrCode code = boltRun(connection,
                           healthQueryText(&query, connection,
                                           "MATCH (n) WHERE NOT n:" HEALTH_METADATA_LABEL
                                           " RETURN id(n), labels(n), properties(n)"),
                           NULL, &options);
    while (code == ERR_OK) {
        const BoltValue *record = NULL;
        code = boltFetch(connection, &record);
        if (code != ERR_OK || !record)
            break;
        const BoltValue *fields = record->as.list.items;
        if (record->as.list.count != 3 || fields[0].type != BOLT_INT) {
            boltDiscard(connection);
            code = errSet(NEO4J_PROTOCOL_ERROR, "unexpected node row while fingerprinting");
            break;
        }
        code = fingerprintAddNode(fingerprint, fields[0].as.integer, &fields[1], &fields[2]);
        if (code != ERR_OK)
            boltDiscard(connection);
    }
    if (code == ERR_OK)
        code = boltRun(connection,
                       healthQueryText(&query, connection,
                                       "MATCH (a)-[r]->(b) WHERE NOT a:" HEALTH_METADATA_LABEL
                                       " AND NOT b:" HEALTH_METADATA_LABEL
                                       " RETURN id(a), id(b), type(r), properties(r)"),
                       NULL, &options);
    while (code == ERR_OK) {
        const BoltValue *record = NULL;
        code = boltFetch(connection, &record);
        if (code != ERR_OK || !record)
            break;
        const BoltValue *fields = record->as.list.items;
        if (record->as.list.count != 4 || fields[0].type != BOLT_INT || fields[1].type != BOLT_INT ||
            fields[2].type != BOLT_STRING) {
            boltDiscard(connection);
            code = errSet(NEO4J_PROTOCOL_ERROR, "unexpected relationship row while fingerprinting");
            break;
        }
        /* A node created between the two scans: count it, keep going. */
        if (fingerprintAddRelationship(fingerprint, fields[0].as.integer, fields[1].as.integer,
                                       fields[2].as.string.data, fields[2].as.string.length,
                                       &fields[3]) != ERR_OK) {
            orphans++;
            errClear();
        }
    }
    if (code == ERR_OK)
        code = fingerprintHex(fingerprint, hexOut);
    if (code == ERR_OK) {
        if (counts) {
            counts->nodes = fingerprintNodeCount(fingerprint);
            counts->relationships = fingerprintRelationshipCount(fingerprint);
            counts->orphanRelationships = orphans;
        }
    }
    bufferFree(&query);
    fingerprintFree(fingerprint);
    return code;
}

/* ---- checks ------------------------------------------------------------------ */

HealthStatus healthCheckConnectivity(BoltConnection *connection, const char *database, HealthCheckResult *out)
{
    static const char name[] = "connectivity";
    BoltQueryOptions options = {.database = database, .mode = BOLT_ACCESS_READ};
    Arena *arena = arenaNew(1024);
    BoltValue value;
    ErrCode code = boltQuerySingle(connection, "RETURN 1", NULL, &options, arena, &value);
    if (code != ERR_OK)
        healthFinding(out, name, HEALTH_FAIL, "RETURN 1 failed on database %s: %s", database ? database : "(home)",
                      errLast()->reason);
    else if (value.type != BOLT_INT || value.as.integer != 1)
        healthFinding(out, name, HEALTH_FAIL, "RETURN 1 answered something else");
    else
        healthFinding(out, name, HEALTH_PASS, "database %s answers queries (%s)", database ? database : "(home)",
                      boltServerAgent(connection));
    arenaFree(arena);
    return out->status;
}

/* Runs query and turns each row into a map keyed by the column names. */
static ErrCode healthRowsAsMaps(BoltConnection *connection, const char *query, const BoltQueryOptions *options,
                                Arena *arena, BoltValue **rows, uint32_t *count)
{
    *rows = NULL;
    *count = 0;
    uint32_t capacity = 0;
    ErrCode code = boltRun(connection, query, NULL, options);
    while (code == ERR_OK) {
        const BoltValue *record = NULL;
        code = boltFetch(connection, &record);
        if (code != ERR_OK || !record)
            break;
        if (*count == capacity) {
            uint32_t grown = capacity ? capacity * 2 : 32;
            BoltValue *moved = memRealloc(*rows, grown * sizeof(BoltValue));
            *rows = moved;
            capacity = grown;
        }
        uint32_t columns = record->as.list.count;
        BoltValue row = boltMap(arena, columns);
        for (uint32_t column = 0; column < columns; column++)
            boltMapSet(arena, &row, column, boltFieldName(connection, column),
                       boltValueCopy(arena, &record->as.list.items[column]));
        (*rows)[(*count)++] = row;
    }
    if (code != ERR_OK) {
        free(*rows);
        *rows = NULL;
        *count = 0;
    }
    return code;
}

const char *healthNormalizeSchemaType(const char *type)
{
    if (!type)
        return "";
    if (strcmp(type, "NODE_PROPERTY_UNIQUENESS") == 0)
        return "UNIQUENESS";
    if (strcmp(type, "RELATIONSHIP_PROPERTY_UNIQUENESS") == 0)
        return "RELATIONSHIP_UNIQUENESS";
    return type;
}

static const BoltValue *healthFindByName(const BoltValue *rows, uint32_t count, const BoltValue *name)
{
    for (uint32_t index = 0; index < count; index++)
        if (healthStringsEqual(boltMapGet(&rows[index], "name"), name))
            return &rows[index];
    return NULL;
}

static const char *healthText(const BoltValue *value)
{
    return value && value->type == BOLT_STRING ? value->as.string.data : "";
}

/* Fields of expected and actual that must agree; NULL when all do. */
static const char *healthSchemaDifference(const BoltValue *expected, const BoltValue *actual)
{
    const BoltValue *expectedType = boltMapGet(expected, "type");
    if (expectedType && strcmp(healthNormalizeSchemaType(healthText(expectedType)),
                               healthNormalizeSchemaType(healthText(boltMapGet(actual, "type")))) != 0)
        return "type";
    static const char *const fields[] = {"entityType", "labelsOrTypes", "properties"};
    for (size_t index = 0; index < sizeof(fields) / sizeof(fields[0]); index++) {
        const BoltValue *want = boltMapGet(expected, fields[index]);
        if (!want)
            continue; /* an older archive may not carry the field */
        const BoltValue *have = boltMapGet(actual, fields[index]);
        BoltValue null = boltNull();
        if (!boltValueEqual(want, have ? have : &null))
            return fields[index];
    }
    return NULL;
}

uint32_t healthCompareSchema(const BoltValue *expectedItems, uint64_t expectedCount,
                             const BoltValue *targetConstraints, uint32_t constraintCount,
                             const BoltValue *targetIndexes, uint32_t indexCount, char *finding,
                             size_t findingSize)
{
    uint32_t problems = 0;
    finding[0] = '\0';
#define HEALTH_PROBLEM(...)                                                                                  \
    do {                                                                                                     \
        if (problems++ == 0)                                                                                 \
            snprintf(finding, findingSize, __VA_ARGS__);                                                     \
    } while (0)
    uint64_t constraints = 0;
    uint64_t indexes = 0;
    for (uint64_t index = 0; index < expectedCount; index++) {
        const BoltValue *item = &expectedItems[index];
        const BoltValue *name = boltMapGet(item, "name");
        bool isConstraint = healthStringIs(boltMapGet(item, "kind"), "constraint");
        const BoltValue *actual = NULL;
        if (isConstraint) {
            constraints++;
            actual = healthFindByName(targetConstraints, constraintCount, name);
        } else {
            indexes++;
            actual = healthFindByName(targetIndexes, indexCount, name);
            /* The target's own LOOKUP index counts, whatever its name. */
            if (!actual && healthStringIs(boltMapGet(item, "type"), "LOOKUP")) {
                for (uint32_t candidate = 0; candidate < indexCount && !actual; candidate++) {
                    const BoltValue *row = &targetIndexes[candidate];
                    if (healthStringIs(boltMapGet(row, "type"), "LOOKUP") &&
                        healthStringsEqual(boltMapGet(row, "entityType"), boltMapGet(item, "entityType")))
                        actual = row;
                }
            }
        }
        if (!actual) {
            HEALTH_PROBLEM("%s `%s` of the backup is missing", isConstraint ? "constraint" : "index",
                           healthText(name));
            continue;
        }
        const char *difference = healthSchemaDifference(item, actual);
        if (difference)
            HEALTH_PROBLEM("%s `%s` differs from the backup in %s", isConstraint ? "constraint" : "index",
                           healthText(name), difference);
    }
    /* Every index, the ones constraints own included, must be usable, but
     * for those that had FAILED in the source too (recorded since the
     * archive carries index states). */
    uint32_t failedAsInSource = 0;
    const char *firstFailedAsInSource = "";
    for (uint32_t index = 0; index < indexCount; index++) {
        const BoltValue *state = boltMapGet(&targetIndexes[index], "state");
        const BoltValue *name = boltMapGet(&targetIndexes[index], "name");
        if (healthStringIs(state, "ONLINE"))
            continue;
        if (healthStringIs(state, "FAILED")) {
            const BoltValue *source = NULL;
            for (uint64_t item = 0; item < expectedCount && !source; item++) {
                if (healthStringIs(boltMapGet(&expectedItems[item], "kind"), "index") &&
                    healthStringsEqual(boltMapGet(&expectedItems[item], "name"), name))
                    source = &expectedItems[item];
            }
            if (source && healthStringIs(boltMapGet(source, "state"), "FAILED")) {
                if (failedAsInSource++ == 0)
                    firstFailedAsInSource = healthText(name);
                continue;
            }
        }
        HEALTH_PROBLEM("index `%s` is %s, not ONLINE", healthText(name),
                       state && state->type == BOLT_STRING ? state->as.string.data : "in an unknown state");
    }
#undef HEALTH_PROBLEM
    if (problems > 1) {
        size_t used = strlen(finding);
        snprintf(finding + used, findingSize - used, " (and %u more problem%s)", problems - 1,
                 problems - 1 == 1 ? "" : "s");
    } else if (problems == 0) {
        if (failedAsInSource)
            snprintf(finding, findingSize, "%" PRIu64 " constraint%s and %" PRIu64 " index%s of the backup present, "
                     "%u indexes ONLINE; WARNING: %u FAILED as in the source (`%s`%s)", constraints,
                     constraints == 1 ? "" : "s", indexes, indexes == 1 ? "" : "es", indexCount - failedAsInSource,
                     failedAsInSource, firstFailedAsInSource, failedAsInSource > 1 ? ", ..." : "");
        else
            snprintf(finding, findingSize, "%" PRIu64 " constraint%s and %" PRIu64 " index%s of the backup present, "
                     "all %u indexes ONLINE", constraints, constraints == 1 ? "" : "s", indexes,
                     indexes == 1 ? "" : "es", indexCount);
    }
    return problems;
}

HealthStatus healthCheckSchemaConsistency(BoltConnection *connection, const char *database,
                                          const ArchiveContent *expected, HealthCheckResult *out)
{
    static const char name[] = "schema_consistency";
    BoltQueryOptions options = {.database = database, .mode = BOLT_ACCESS_READ, .fetchSize = -1};
    Arena *arena = arenaNew(0);
    Buffer query;
    bufferInit(&query);
    BoltValue *constraints = NULL;
    BoltValue *indexes = NULL;
    uint32_t constraintCount = 0;
    uint32_t indexCount = 0;
    ErrCode code = healthRowsAsMaps(connection,
                                    healthQueryText(&query, connection,
                                                    "SHOW CONSTRAINTS YIELD name, type, entityType, "
                                                    "labelsOrTypes, properties"),
                                    &options, arena, &constraints, &constraintCount);
    if (code == ERR_OK)
        code = healthRowsAsMaps(connection,
                                healthQueryText(&query, connection,
                                                "SHOW INDEXES YIELD name, type, entityType, labelsOrTypes, "
                                                "properties, state, owningConstraint"),
                                &options, arena, &indexes, &indexCount);
    if (code != ERR_OK) {
        healthFinding(out, name, HEALTH_FAIL, "cannot list the target's schema: %s", errLast()->reason);
    } else {
        char finding[sizeof(out->finding)];
        uint32_t problems = healthCompareSchema(expected->schemaItems, expected->schemaCount, constraints,
                                                constraintCount, indexes, indexCount, finding, sizeof(finding));
        healthFinding(out, name, problems ? HEALTH_FAIL : HEALTH_PASS, "%s", finding);
    }
    free(constraints);
    free(indexes);
    bufferFree(&query);
    arenaFree(arena);
    return out->status;
}

static ErrCode healthCount(BoltConnection *connection, const char *database, const char *query, uint64_t *out)
{
    BoltQueryOptions options = {.database = database, .mode = BOLT_ACCESS_READ};
    Arena *arena = arenaNew(1024);
    Buffer text;
    bufferInit(&text);
    BoltValue value;
    ErrCode code = boltQuerySingle(connection, healthQueryText(&text, connection, query), NULL, &options,
                                   arena, &value);
    if (code == ERR_OK && (value.type != BOLT_INT || value.as.integer < 0))
        code = errSet(NEO4J_PROTOCOL_ERROR, "count query returned no count");
    if (code == ERR_OK)
        *out = (uint64_t)value.as.integer;
    bufferFree(&text);
    arenaFree(arena);
    return code;
}

ErrCode healthGraphCounts(BoltConnection *connection, const char *database, uint64_t *nodes,
                          uint64_t *relationships)
{
    /* Totals come from the count store (cheap at any size); only the tool's
     * few metadata nodes are looked at one by one. */
    uint64_t allNodes = 0;
    uint64_t metadataNodes = 0;
    uint64_t allRelationships = 0;
    uint64_t metadataRelationships = 0;
    ErrCode code = healthCount(connection, database, "MATCH (n) RETURN count(n)", &allNodes);
    if (code == ERR_OK)
        code = healthCount(connection, database, "MATCH (n:" HEALTH_METADATA_LABEL ") RETURN count(n)",
                           &metadataNodes);
    if (code == ERR_OK)
        code = healthCount(connection, database, "MATCH ()-[r]->() RETURN count(r)", &allRelationships);
    if (code == ERR_OK && metadataNodes)
        code = healthCount(connection, database,
                           "MATCH (m:" HEALTH_METADATA_LABEL ")-[r]-() RETURN count(DISTINCT r)",
                           &metadataRelationships);
    *nodes = allNodes >= metadataNodes ? allNodes - metadataNodes : 0;
    *relationships = allRelationships >= metadataRelationships ? allRelationships - metadataRelationships : 0;
    return code;
}

/* Rows of [name, count] into map (counts added). */
static ErrCode healthCountRows(BoltConnection *connection, const char *database, const char *query, CountMap *map)
{
    BoltQueryOptions options = {.database = database, .mode = BOLT_ACCESS_READ, .fetchSize = HEALTH_FETCH_SIZE};
    Buffer text;
    bufferInit(&text);
    ErrCode code = boltRun(connection, healthQueryText(&text, connection, query), NULL, &options);
    while (code == ERR_OK) {
        const BoltValue *record = NULL;
        code = boltFetch(connection, &record);
        if (code != ERR_OK || !record)
            break;
        const BoltValue *fields = record->as.list.items;
        if (record->as.list.count != 2 || fields[0].type != BOLT_STRING || fields[1].type != BOLT_INT ||
            fields[1].as.integer < 0) {
            boltDiscard(connection);
            code = errSet(NEO4J_PROTOCOL_ERROR, "unexpected row while counting per label or type");
            break;
        }
        countMapAdd(map, fields[0].as.string.data, fields[0].as.string.length, (uint64_t)fields[1].as.integer);
    }
    bufferFree(&text);
    return code;
}

/* Counts each name of names with pattern ("MATCH (n:%s) ..." filled with the
 * quoted name), less what the metadata nodes account for, into out. */
static ErrCode healthCountEach(BoltConnection *connection, const char *database, const CountMap *names,
                               const char *before, const char *after, const CountMap *metadata, CountMap *out)
{
    const CountEntry **sorted = countMapSorted(names);
    Buffer query;
    bufferInit(&query);
    ErrCode code = ERR_OK;
    for (size_t index = 0; code == ERR_OK && index < names->count; index++) {
        const CountEntry *name = sorted[index];
        if (name->length == strlen(HEALTH_METADATA_LABEL) &&
            memcmp(name->name, HEALTH_METADATA_LABEL, name->length) == 0)
            continue;
        bufferClear(&query);
        bufferAppendF(&query, "%s", before);
        restoreQuoteName(&query, name->name, name->length);
        bufferAppendF(&query, "%s", after);
        bufferAppendByte(&query, 0);
        uint64_t count = 0;
        code = healthCount(connection, database, (const char *)query.data, &count);
        uint64_t excluded = countMapGet(metadata, name->name, name->length);
        if (code == ERR_OK && count > excluded)
            countMapAdd(out, name->name, name->length, count - excluded);
    }
    bufferFree(&query);
    free(sorted);
    return code;
}

/* Adds every name of from to names (with count 0). */
static void healthAddNames(CountMap *names, const CountMap *from)
{
    for (size_t slot = 0; slot < from->slotCount; slot++)
        if (from->slots[slot].name)
            countMapAdd(names, from->slots[slot].name, from->slots[slot].length, 0);
}

ErrCode healthGraphLabelCounts(BoltConnection *connection, const char *database, const GraphCounts *expected,
                               GraphCounts *out)
{
    memset(out, 0, sizeof(*out));
    /* Every name either side knows: a label only the target has is a
     * difference too. */
    GraphCounts names = {0};
    GraphCounts metadata = {0};
    if (expected) {
        healthAddNames(&names.labels, &expected->labels);
        healthAddNames(&names.types, &expected->types);
    }
    uint64_t metadataNodes = 0;
    ErrCode code =
        healthCountRows(connection, database, "CALL db.labels() YIELD label RETURN label, 0", &names.labels);
    if (code == ERR_OK)
        code = healthCountRows(connection, database,
                               "CALL db.relationshipTypes() YIELD relationshipType RETURN relationshipType, 0",
                               &names.types);
    if (code == ERR_OK)
        code = healthCount(connection, database, "MATCH (n:" HEALTH_METADATA_LABEL ") RETURN count(n)",
                           &metadataNodes);
    /* The count store cannot leave the tool's few metadata nodes out: count
     * them apart and subtract. */
    if (code == ERR_OK && metadataNodes)
        code = healthCountRows(connection, database,
                               "MATCH (m:" HEALTH_METADATA_LABEL ") UNWIND labels(m) AS label "
                               "RETURN label, count(*)",
                               &metadata.labels);
    if (code == ERR_OK && metadataNodes)
        code = healthCountRows(connection, database,
                               "MATCH (m:" HEALTH_METADATA_LABEL ")-[r]-() WITH DISTINCT r "
                               "RETURN type(r), count(*)",
                               &metadata.types);
    if (code == ERR_OK)
        code = healthCountEach(connection, database, &names.labels, "MATCH (n:", ") RETURN count(n)",
                               &metadata.labels, &out->labels);
    if (code == ERR_OK)
        code = healthCountEach(connection, database, &names.types, "MATCH ()-[r:", "]->() RETURN count(r)",
                               &metadata.types, &out->types);
    graphCountsFree(&names);
    graphCountsFree(&metadata);
    if (code != ERR_OK)
        graphCountsFree(out);
    return code;
}

HealthStatus healthCheckOrphans(BoltConnection *connection, const char *database, const ArchiveContent *expected,
                                HealthCheckResult *out)
{
    static const char name[] = "orphan_detection";
    uint64_t targetOrphans = 0;
    ErrCode code = healthCount(connection, database,
                               "MATCH ()-[r]->() WHERE startNode(r) IS NULL OR endNode(r) IS NULL "
                               "RETURN count(r)",
                               &targetOrphans);
    if (code != ERR_OK) {
        healthFinding(out, name, HEALTH_FAIL, "cannot count orphaned relationships: %s", errLast()->reason);
        return out->status;
    }
    uint64_t archiveOrphans = expected ? expected->orphanRelationships : 0;
    uint64_t total = archiveOrphans + targetOrphans;
    if (total == 0)
        healthFinding(out, name, HEALTH_PASS, "no orphaned relationships (every relationship has both endpoints)");
    else
        healthFinding(out, name, HEALTH_FAIL,
                      "Found %" PRIu64 " orphaned relationships (%" PRIu64 " in the backup whose endpoints are "
                      "missing, %" PRIu64 " in the target)",
                      total, archiveOrphans, targetOrphans);
    return out->status;
}

HealthStatus healthCheckCounts(BoltConnection *connection, const char *database, uint64_t expectedNodes,
                               uint64_t expectedRelationships, const GraphCounts *expectedCounts,
                               HealthCheckResult *out)
{
    static const char name[] = "counts";
    uint64_t nodes = 0;
    uint64_t relationships = 0;
    GraphCounts found = {0};
    ErrCode code = healthCount(connection, database, "MATCH (n) RETURN count(n)", &nodes);
    if (code == ERR_OK)
        code = healthCount(connection, database, "MATCH ()-[r]->() RETURN count(r)", &relationships);
    if (code == ERR_OK && expectedCounts)
        code = healthGraphLabelCounts(connection, database, expectedCounts, &found);
    if (code != ERR_OK) {
        healthFinding(out, name, HEALTH_FAIL, "cannot count the target's graph: %s", errLast()->reason);
        return out->status;
    }
    if (!expectedCounts)
        logInfo("The backup carries no counts per label and type (an older backup): only the totals are compared");
    char perName[sizeof(out->finding)] = "";
    uint32_t differences =
        expectedCounts ? graphCountsCompare(expectedCounts, &found, perName, sizeof(perName)) : 0;
    graphCountsFree(&found);
    bool totalsDiffer = nodes != expectedNodes || relationships != expectedRelationships;
    if (totalsDiffer)
        healthFinding(out, name, HEALTH_FAIL,
                      "target has %" PRIu64 " nodes, %" PRIu64 " relationships; the backup has %" PRIu64
                      " nodes, %" PRIu64 " relationships%s%s",
                      nodes, relationships, expectedNodes, expectedRelationships, differences ? "; " : "",
                      perName);
    else if (differences)
        healthFinding(out, name, HEALTH_FAIL, "%s", perName);
    else if (expectedCounts)
        healthFinding(out, name, HEALTH_PASS, "%" PRIu64 " nodes, %" PRIu64 " relationships, %zu labels and %zu "
                      "relationship types, as in the backup",
                      nodes, relationships, expectedCounts->labels.count, expectedCounts->types.count);
    else
        healthFinding(out, name, HEALTH_PASS, "%" PRIu64 " nodes, %" PRIu64 " relationships, as in the backup",
                      nodes, relationships);
    return out->status;
}

HealthStatus healthCheckFingerprint(BoltConnection *connection, const char *database,
                                    const char *expectedFingerprint, HealthCheckResult *out)
{
    static const char name[] = "fingerprint";
    char actual[66];
    FingerprintCounts counts;
    ErrCode code = healthFingerprintOfDatabase(connection, database, actual, &counts);
    if (code != ERR_OK)
        healthFinding(out, name, HEALTH_FAIL, "cannot read the target's graph: %s", errLast()->reason);
    else if (!expectedFingerprint || strcmp(actual, expectedFingerprint) != 0)
        healthFinding(out, name, HEALTH_FAIL, "content differs from the backup: target %s, backup %s", actual,
                      expectedFingerprint ? expectedFingerprint : "(unknown)");
    else
        healthFinding(out, name, HEALTH_PASS, "content equals the backup (%.12s..., %" PRIu64 " nodes, %" PRIu64
                      " relationships)", actual, counts.nodes, counts.relationships);
    return out->status;
}

int healthRunAll(BoltConnection *connection, const char *database, const HealthExpectations *expected,
                 HealthCheckResult results[HEALTH_CHECK_COUNT])
{
    int failed = 0;
    failed += healthCheckConnectivity(connection, database, &results[0]) == HEALTH_FAIL;
    failed += healthCheckSchemaConsistency(connection, database, expected->archive, &results[1]) == HEALTH_FAIL;
    failed += healthCheckOrphans(connection, database, expected->archive, &results[2]) == HEALTH_FAIL;
    failed += healthCheckCounts(connection, database, expected->expectedNodes, expected->expectedRelationships,
                                &expected->archive->counts, &results[3]) == HEALTH_FAIL;
    failed += healthCheckFingerprint(connection, database, expected->archive->fingerprint, &results[4]) ==
              HEALTH_FAIL;
    for (int index = 0; index < HEALTH_CHECK_COUNT; index++)
        logDebug("health check %s: %s: %s", results[index].name,
                 results[index].status == HEALTH_PASS ? "PASS" : "FAIL", results[index].finding);
    return failed;
}
