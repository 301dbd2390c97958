/* Health checks, the parts that need no server: schema comparison and the
 * archive-side facts (fingerprint, orphans, BackupMetadata exclusion). */
#include "restore/health.h"

#include "archive/archive.h"
#include "archive/archive_format.h"
#include "bolt/packstream.h"
#include "graph/fingerprint.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>
#include <cmocka.h>

/* ---- schema comparison -------------------------------------------------- */

static BoltValue stringList(Arena *arena, const char *first, const char *second)
{
    BoltValue list = boltList(arena, second ? 2 : 1);
    list.as.list.items[0] = boltString(arena, first);
    if (second)
        list.as.list.items[1] = boltString(arena, second);
    return list;
}

/* A schema item as the archive carries it, or a SHOW row (kind NULL). */
static BoltValue schemaMap(Arena *arena, const char *kind, const char *name, const char *type,
                           const char *label, const char *property, const char *state)
{
    uint32_t count = 5 + (kind ? 1 : 0) + (state ? 1 : 0);
    BoltValue map = boltMap(arena, count);
    uint32_t entry = 0;
    if (kind)
        boltMapSet(arena, &map, entry++, "kind", boltString(arena, kind));
    boltMapSet(arena, &map, entry++, "name", boltString(arena, name));
    boltMapSet(arena, &map, entry++, "type", boltString(arena, type));
    boltMapSet(arena, &map, entry++, "entityType", boltString(arena, "NODE"));
    boltMapSet(arena, &map, entry++, "labelsOrTypes",
               label ? stringList(arena, label, NULL) : boltNull());
    boltMapSet(arena, &map, entry++, "properties",
               property ? stringList(arena, property, NULL) : boltNull());
    if (state)
        boltMapSet(arena, &map, entry++, "state", boltString(arena, state));
    return map;
}

typedef struct {
    Arena *arena;
    BoltValue expected[3];
    BoltValue constraints[1];
    BoltValue indexes[3];
} SchemaFixture;

static void schemaFixtureInit(SchemaFixture *fixture)
{
    Arena *arena = arenaNew(0);
    fixture->arena = arena;
    fixture->expected[0] = schemaMap(arena, "constraint", "book_isbn", "UNIQUENESS", "Book", "isbn", NULL);
    fixture->expected[1] = schemaMap(arena, "index", "person name", "RANGE", "Person", "name", NULL);
    fixture->expected[2] = schemaMap(arena, "index", "index_343aff4e", "LOOKUP", NULL, NULL, NULL);
    /* Cypher 25 spelling of the same constraint type. */
    fixture->constraints[0] =
        schemaMap(arena, NULL, "book_isbn", "NODE_PROPERTY_UNIQUENESS", "Book", "isbn", NULL);
    fixture->indexes[0] = schemaMap(arena, NULL, "book_isbn", "RANGE", "Book", "isbn", "ONLINE");
    fixture->indexes[1] = schemaMap(arena, NULL, "person name", "RANGE", "Person", "name", "ONLINE");
    /* The target's own LOOKUP index under another name still counts. */
    fixture->indexes[2] = schemaMap(arena, NULL, "node_lookup", "LOOKUP", NULL, NULL, "ONLINE");
}

static uint32_t compareFixture(SchemaFixture *fixture, char *finding, size_t size)
{
    return healthCompareSchema(fixture->expected, 3, fixture->constraints, 1, fixture->indexes, 3, finding,
                               size);
}

static void testSchemaMatches(void **state)
{
    (void)state;
    SchemaFixture fixture;
    schemaFixtureInit(&fixture);
    char finding[512];
    assert_int_equal(compareFixture(&fixture, finding, sizeof(finding)), 0);
    assert_non_null(strstr(finding, "1 constraint and 2 indexes"));
    arenaFree(fixture.arena);
}

static void testSchemaMissingIndex(void **state)
{
    (void)state;
    SchemaFixture fixture;
    schemaFixtureInit(&fixture);
    fixture.indexes[1] = schemaMap(fixture.arena, NULL, "other", "RANGE", "Person", "name", "ONLINE");
    char finding[512];
    assert_int_equal(compareFixture(&fixture, finding, sizeof(finding)), 1);
    assert_string_equal(finding, "index `person name` of the backup is missing");
    arenaFree(fixture.arena);
}

static void testSchemaDifferentPropertiesAndState(void **state)
{
    (void)state;
    SchemaFixture fixture;
    schemaFixtureInit(&fixture);
    fixture.indexes[1] = schemaMap(fixture.arena, NULL, "person name", "RANGE", "Person", "age", "ONLINE");
    fixture.indexes[0] = schemaMap(fixture.arena, NULL, "book_isbn", "RANGE", "Book", "isbn", "POPULATING");
    char finding[512];
    assert_int_equal(compareFixture(&fixture, finding, sizeof(finding)), 2);
    assert_non_null(strstr(finding, "index `person name` differs from the backup in properties"));
    assert_non_null(strstr(finding, "and 1 more problem"));
    arenaFree(fixture.arena);
}

/* An index FAILED on the target passes only when the backup recorded it
 * FAILED too; the finding still warns about it. */
static void testSchemaIndexFailedAsInSource(void **state)
{
    (void)state;
    SchemaFixture fixture;
    schemaFixtureInit(&fixture);
    fixture.indexes[1] = schemaMap(fixture.arena, NULL, "person name", "RANGE", "Person", "name", "FAILED");
    char finding[512];
    assert_int_equal(compareFixture(&fixture, finding, sizeof(finding)), 1);
    assert_non_null(strstr(finding, "index `person name` is FAILED, not ONLINE"));
    fixture.expected[1] = schemaMap(fixture.arena, "index", "person name", "RANGE", "Person", "name", "FAILED");
    assert_int_equal(compareFixture(&fixture, finding, sizeof(finding)), 0);
    assert_non_null(strstr(finding, "WARNING: 1 FAILED as in the source (`person name`)"));
    /* FAILED in the source does not excuse a POPULATING one. */
    fixture.indexes[1] = schemaMap(fixture.arena, NULL, "person name", "RANGE", "Person", "name", "POPULATING");
    assert_int_equal(compareFixture(&fixture, finding, sizeof(finding)), 1);
    arenaFree(fixture.arena);
}

static void testSchemaConstraintTypeDiffers(void **state)
{
    (void)state;
    SchemaFixture fixture;
    schemaFixtureInit(&fixture);
    fixture.constraints[0] = schemaMap(fixture.arena, NULL, "book_isbn", "NODE_KEY", "Book", "isbn", NULL);
    char finding[512];
    assert_int_equal(compareFixture(&fixture, finding, sizeof(finding)), 1);
    assert_string_equal(finding, "constraint `book_isbn` differs from the backup in type");
    arenaFree(fixture.arena);
}

static void testSchemaLookupMissing(void **state)
{
    (void)state;
    SchemaFixture fixture;
    schemaFixtureInit(&fixture);
    char finding[512];
    /* Without the LOOKUP row the backup's LOOKUP index is missing. */
    assert_int_equal(healthCompareSchema(fixture.expected, 3, fixture.constraints, 1, fixture.indexes, 2,
                                         finding, sizeof(finding)),
                     1);
    assert_string_equal(finding, "index `index_343aff4e` of the backup is missing");
    arenaFree(fixture.arena);
}

static void testNormalizeSchemaType(void **state)
{
    (void)state;
    assert_string_equal(healthNormalizeSchemaType("NODE_PROPERTY_UNIQUENESS"), "UNIQUENESS");
    assert_string_equal(healthNormalizeSchemaType("RELATIONSHIP_PROPERTY_UNIQUENESS"), "RELATIONSHIP_UNIQUENESS");
    assert_string_equal(healthNormalizeSchemaType("NODE_KEY"), "NODE_KEY");
    assert_string_equal(healthNormalizeSchemaType(NULL), "");
}

/* ---- archive side --------------------------------------------------------- */

static char archivePath[256];

static void addRecord(ArcWriter *writer, ArcRecordKind kind, const BoltValue *value)
{
    Buffer packed;
    bufferInit(&packed);
    packValue(&packed, value);
    assert_int_equal(arcWriterAdd(writer, kind, packed.data, packed.length), ERR_OK);
    bufferFree(&packed);
}

static BoltValue nodeRecord(Arena *arena, int64_t key, const char *label, int64_t value)
{
    BoltValue record = boltList(arena, 3);
    record.as.list.items[0] = boltInt(key);
    record.as.list.items[1] = label ? stringList(arena, label, NULL) : boltList(arena, 0);
    record.as.list.items[2] = boltMap(arena, 1);
    boltMapSet(arena, &record.as.list.items[2], 0, "v", boltInt(value));
    return record;
}

static BoltValue relationshipRecord(Arena *arena, int64_t key, int64_t start, int64_t end, const char *type)
{
    BoltValue record = boltList(arena, 5);
    record.as.list.items[0] = boltInt(key);
    record.as.list.items[1] = boltInt(start);
    record.as.list.items[2] = boltInt(end);
    record.as.list.items[3] = boltString(arena, type);
    record.as.list.items[4] = boltMap(arena, 0);
    return record;
}

/* Archive: a schema item, nodes 1..3 (2 is BackupMetadata), a relationship
 * whose end node comes later in the file, one touching the metadata node,
 * one orphan, then node 4. */
static void writeArchive(Arena *arena)
{
    snprintf(archivePath, sizeof(archivePath), "/tmp/health_test_%d.nbk", (int)getpid());
    unlink(archivePath);
    BoltValue header = boltMap(arena, 1);
    boltMapSet(arena, &header, 0, "format", boltString(arena, "nbk-logical-1"));
    Buffer headerPacked;
    bufferInit(&headerPacked);
    packValue(&headerPacked, &header);
    ArcWriter *writer = NULL;
    assert_int_equal(arcWriterOpen(&writer, archivePath, ARC_COMPRESSION_ZSTD, 0, 0, headerPacked.data,
                                   headerPacked.length),
                     ERR_OK);
    bufferFree(&headerPacked);
    BoltValue schema = schemaMap(arena, "index", "person name", "RANGE", "Person", "name", NULL);
    addRecord(writer, ARC_RECORD_SCHEMA, &schema);
    BoltValue node1 = nodeRecord(arena, 1, "Person", 10);
    BoltValue node2 = nodeRecord(arena, 2, "BackupMetadata", 20);
    BoltValue node3 = nodeRecord(arena, 3, NULL, 30);
    BoltValue node4 = nodeRecord(arena, 4, "Person", 40);
    addRecord(writer, ARC_RECORD_NODE, &node1);
    addRecord(writer, ARC_RECORD_NODE, &node2);
    addRecord(writer, ARC_RECORD_NODE, &node3);
    BoltValue forward = relationshipRecord(arena, 100, 1, 4, "KNOWS");
    BoltValue toMetadata = relationshipRecord(arena, 101, 1, 2, "DESCRIBED");
    BoltValue orphan = relationshipRecord(arena, 102, 3, 999, "LOST");
    BoltValue selfLoop = relationshipRecord(arena, 103, 3, 3, "SELF");
    addRecord(writer, ARC_RECORD_RELATIONSHIP, &forward);
    addRecord(writer, ARC_RECORD_RELATIONSHIP, &toMetadata);
    addRecord(writer, ARC_RECORD_RELATIONSHIP, &orphan);
    addRecord(writer, ARC_RECORD_RELATIONSHIP, &selfLoop);
    addRecord(writer, ARC_RECORD_NODE, &node4);
    ArcTotals totals;
    assert_int_equal(arcWriterFinish(writer, &totals), ERR_OK);
    arcWriterFree(writer);
}

static void testArchiveContent(void **state)
{
    (void)state;
    Arena *arena = arenaNew(0);
    writeArchive(arena);

    ArchiveContent content;
    assert_int_equal(healthArchiveContentRead(archivePath, &content), ERR_OK);
    assert_int_equal(content.nodes, 4);
    assert_int_equal(content.metadataNodes, 1);
    assert_int_equal(content.relationships, 4);
    assert_int_equal(content.orphanRelationships, 1);
    assert_int_equal(content.schemaCount, 1);
    assert_string_equal(boltMapGetString(&content.schemaItems[0], "name", ""), "person name");
    /* The archive's own counts per label and type, as the fingerprint sees
     * the graph: the forward relationship (its end node came later) in; the
     * metadata node, its relationship and the orphan out. */
    assert_int_equal(content.counts.labels.count, 1);
    assert_int_equal(countMapGet(&content.counts.labels, "Person", 6), 2);
    assert_int_equal(content.counts.types.count, 2);
    assert_int_equal(countMapGet(&content.counts.types, "KNOWS", 5), 1);
    assert_int_equal(countMapGet(&content.counts.types, "SELF", 4), 1);

    /* The same graph fingerprinted directly: metadata node, its
     * relationship and the orphan left out. */
    Fingerprint *direct = fingerprintNew();
    const int64_t keys[] = {1, 3, 4};
    const char *labels[] = {"Person", NULL, "Person"};
    const int64_t values[] = {10, 30, 40};
    for (int index = 0; index < 3; index++) {
        BoltValue node = nodeRecord(arena, keys[index], labels[index], values[index]);
        fingerprintAddNode(direct, keys[index], &node.as.list.items[1], &node.as.list.items[2]);
    }
    BoltValue noProperties = boltMap(arena, 0);
    assert_int_equal(fingerprintAddRelationship(direct, 1, 4, "KNOWS", 5, &noProperties), ERR_OK);
    assert_int_equal(fingerprintAddRelationship(direct, 3, 3, "SELF", 4, &noProperties), ERR_OK);
    char expected[66];
    fingerprintHex(direct, expected);
    assert_string_equal(content.fingerprint, expected);

    char hex[66];
    FingerprintCounts counts;
    assert_int_equal(healthFingerprintOfArchive(archivePath, hex, &counts), ERR_OK);
    assert_string_equal(hex, expected);
    assert_int_equal(counts.nodes, 3);
    assert_int_equal(counts.orphanRelationships, 1);

    fingerprintFree(direct);
    arcContentFree(&content);
    unlink(archivePath);
    arenaFree(arena);
}

/* The archive: one record, a list of 20 million empty strings. It
 * compresses to under a kilobyte and would take 800 MB decoded; reading it
 * (as --validate and a restore do) must fail as corrupted, cheaply. */
static void testArchiveRecordDecodedSizeBounded(void **state)
{
    (void)state;
    snprintf(archivePath, sizeof(archivePath), "/tmp/health_test_%d.nbk", (int)getpid());
    unlink(archivePath);
    ArcWriter *writer = NULL;
    assert_int_equal(arcWriterOpen(&writer, archivePath, ARC_COMPRESSION_ZSTD, 0, 0, NULL, 0), ERR_OK);
    const uint32_t count = 20u * 1000u * 1000u;
    Buffer record;
    bufferInit(&record);
    packListHeader(&record, count);
    bufferReserve(&record, count);
    memset(record.data + record.length, 0x80, count); /* "" */
    record.length += count;
    assert_int_equal(arcWriterAddUnchecked(writer, ARC_RECORD_NODE, record.data, record.length), ERR_OK);
    bufferFree(&record);
    ArcTotals totals;
    assert_int_equal(arcWriterFinish(writer, &totals), ERR_OK);
    arcWriterFree(writer);

    ArchiveContent content;
    assert_int_equal(healthArchiveContentRead(archivePath, &content), BACKUP_CORRUPTED);
    if (!strstr(errLast()->reason, "decodes to more than"))
        fail_msg("reason: %s", errLast()->reason);
    struct rusage usage;
    assert_int_equal(getrusage(RUSAGE_SELF, &usage), 0);
    assert_true((uint64_t)usage.ru_maxrss * 1024u < 200u * 1024u * 1024u); /* not 800 MB */
    unlink(archivePath);
}

static void testArchiveMissing(void **state)
{
    (void)state;
    ArchiveContent content;
    assert_int_not_equal(healthArchiveContentRead("/nonexistent/graph.nbk.zst", &content), ERR_OK);
    assert_null(content.arena);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(testSchemaMatches),
        cmocka_unit_test(testSchemaMissingIndex),
        cmocka_unit_test(testSchemaDifferentPropertiesAndState),
        cmocka_unit_test(testSchemaIndexFailedAsInSource),
        cmocka_unit_test(testSchemaConstraintTypeDiffers),
        cmocka_unit_test(testSchemaLookupMissing),
        cmocka_unit_test(testNormalizeSchemaType),
        cmocka_unit_test(testArchiveContent),
        cmocka_unit_test(testArchiveRecordDecodedSizeBounded),
        cmocka_unit_test(testArchiveMissing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
