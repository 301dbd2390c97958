/* Schema items (src/graph/schema.c): the statements a restore rebuilds from
 * an item's fields, one per kind Neo4j 5.26 and 2025.x/2026.x list, the
 * quoting of names, the options rendered, and the items refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "graph/schema.h"

#include <math.h>
#include <string.h>

static BoltValue strings(Arena *arena, unsigned count, const char *const *texts)
{
    BoltValue list = boltList(arena, count);
    for (unsigned index = 0; index < count; index++)
        list.as.list.items[index] = boltString(arena, texts[index]);
    return list;
}

typedef struct {
    const char *kind;
    const char *name;
    const char *type;
    const char *entityType;
    unsigned tokenCount;
    const char *tokens[3];
    unsigned propertyCount;
    const char *properties[3];
    const char *propertyType;
    BoltValue options; /* BOLT_NULL: absent */
} ItemSpec;

/* The schema item map an archive carries for spec, with a createStatement
 * that must never be used. */
static BoltValue itemValue(Arena *arena, const ItemSpec *spec)
{
    BoltValue map = boltMap(arena, 9);
    uint32_t entry = 0;
    boltMapSet(arena, &map, entry++, "kind", boltString(arena, spec->kind));
    boltMapSet(arena, &map, entry++, "name", boltString(arena, spec->name));
    boltMapSet(arena, &map, entry++, "type", boltString(arena, spec->type));
    boltMapSet(arena, &map, entry++, "entityType", boltString(arena, spec->entityType));
    boltMapSet(arena, &map, entry++, "labelsOrTypes",
               spec->tokenCount ? strings(arena, spec->tokenCount, spec->tokens) : boltNull());
    boltMapSet(arena, &map, entry++, "properties",
               spec->propertyCount ? strings(arena, spec->propertyCount, spec->properties) : boltNull());
    boltMapSet(arena, &map, entry++, "createStatement", boltString(arena, "MATCH (n) DETACH DELETE n"));
    if (spec->propertyType)
        boltMapSet(arena, &map, entry++, "propertyType", boltString(arena, spec->propertyType));
    if (spec->options.type != BOLT_NULL)
        boltMapSet(arena, &map, entry++, "options", spec->options);
    map.as.map.count = entry;
    return map;
}

/* Builds spec's statement: ERR_OK and the text in out, or the error. */
static ErrCode build(const ItemSpec *spec, Buffer *out)
{
    Arena *arena = arenaNew(0);
    BoltValue value = itemValue(arena, spec);
    SchemaItem item;
    ErrCode code = schemaItemFromValue(&value, &item);
    if (code == ERR_OK)
        code = schemaBuildStatement(&item, out);
    arenaFree(arena);
    return code;
}

static void expectStatement(const ItemSpec *spec, const char *expected)
{
    Buffer out;
    bufferInit(&out);
    ErrCode code = build(spec, &out);
    if (code != ERR_OK)
        fail_msg("%s: %s", spec->name, errLast()->reason);
    assert_string_equal((const char *)out.data, expected);
    assert_int_equal(out.length, strlen(expected));
    bufferFree(&out);
}

static void expectRefused(const ItemSpec *spec, const char *reasonPart)
{
    Buffer out;
    bufferInit(&out);
    assert_int_equal(build(spec, &out), BACKUP_CORRUPTED);
    if (!strstr(errLast()->reason, reasonPart))
        fail_msg("reason '%s' lacks '%s'", errLast()->reason, reasonPart);
    bufferFree(&out);
}

static BoltValue providerOnly(Arena *arena, const char *provider)
{
    BoltValue options = boltMap(arena, 2);
    boltMapSet(arena, &options, 0, "indexProvider", boltString(arena, provider));
    boltMapSet(arena, &options, 1, "indexConfig", boltMap(arena, 0));
    return options;
}

static void testIndexes(void **state)
{
    (void)state;
    Arena *arena = arenaNew(0);
    ItemSpec range = {"index", "composite_range", "RANGE", "NODE", 1, {"Spoke"}, 2, {"i", "name"}, NULL,
                      providerOnly(arena, "range-1.0")};
    expectStatement(&range, "CREATE RANGE INDEX `composite_range` FOR (n:`Spoke`) ON (n.`i`, n.`name`)");
    ItemSpec text = {"index", "rel_text", "TEXT", "RELATIONSHIP", 1, {"LOOP"}, 1, {"label"}, NULL,
                     providerOnly(arena, "text-2.0")};
    expectStatement(&text, "CREATE TEXT INDEX `rel_text` FOR ()-[r:`LOOP`]-() ON (r.`label`)");

    BoltValue fulltextConfig = boltMap(arena, 2);
    boltMapSet(arena, &fulltextConfig, 0, "fulltext.analyzer", boltString(arena, "standard-no-stop-words"));
    boltMapSet(arena, &fulltextConfig, 1, "fulltext.eventually_consistent", boltBool(false));
    BoltValue fulltextOptions = boltMap(arena, 2);
    boltMapSet(arena, &fulltextOptions, 0, "indexConfig", fulltextConfig);
    boltMapSet(arena, &fulltextOptions, 1, "indexProvider", boltString(arena, "fulltext-1.0"));
    ItemSpec fulltext = {"index", "rel_fulltext", "FULLTEXT", "RELATIONSHIP", 2, {"KNOWS", "WORKS_AT"}, 1,
                         {"note"}, NULL, fulltextOptions};
    expectStatement(&fulltext, "CREATE FULLTEXT INDEX `rel_fulltext` FOR ()-[r:`KNOWS`|`WORKS_AT`]-() "
                               "ON EACH [r.`note`] OPTIONS {indexConfig: {`fulltext.analyzer`: "
                               "'standard-no-stop-words', `fulltext.eventually_consistent`: false}}");

    BoltValue pointConfig = boltMap(arena, 1);
    BoltValue corner = boltList(arena, 2);
    corner.as.list.items[0] = boltFloat(-1000000.0);
    corner.as.list.items[1] = boltFloat(0.5);
    boltMapSet(arena, &pointConfig, 0, "spatial.cartesian.min", corner);
    BoltValue pointOptions = boltMap(arena, 1);
    boltMapSet(arena, &pointOptions, 0, "indexConfig", pointConfig);
    ItemSpec point = {"index", "point_cfg", "POINT", "NODE", 1, {"Zoned"}, 1, {"wgs"}, NULL, pointOptions};
    expectStatement(&point, "CREATE POINT INDEX `point_cfg` FOR (n:`Zoned`) ON (n.`wgs`) "
                            "OPTIONS {indexConfig: {`spatial.cartesian.min`: [-1000000.0, 0.5]}}");

    BoltValue vectorConfig = boltMap(arena, 2);
    boltMapSet(arena, &vectorConfig, 0, "vector.dimensions", boltInt(3));
    boltMapSet(arena, &vectorConfig, 1, "vector.similarity_function", boltString(arena, "COSINE"));
    BoltValue vectorOptions = boltMap(arena, 1);
    boltMapSet(arena, &vectorOptions, 0, "indexConfig", vectorConfig);
    ItemSpec vector = {"index", "embedding", "VECTOR", "NODE", 1, {"Spoke"}, 1, {"embedding"}, NULL,
                       vectorOptions};
    expectStatement(&vector, "CREATE VECTOR INDEX `embedding` FOR (n:`Spoke`) ON (n.`embedding`) OPTIONS "
                             "{indexConfig: {`vector.dimensions`: 3, `vector.similarity_function`: 'COSINE'}}");

    ItemSpec nodeLookup = {"index", "index_343aff4e", "LOOKUP", "NODE", 0, {NULL}, 0, {NULL}, NULL,
                           providerOnly(arena, "token-lookup-1.0")};
    expectStatement(&nodeLookup, "CREATE LOOKUP INDEX `index_343aff4e` FOR (n) ON EACH labels(n)");
    ItemSpec relLookup = {"index", "rels", "LOOKUP", "RELATIONSHIP", 0, {NULL}, 0, {NULL}, NULL, boltNull()};
    expectStatement(&relLookup, "CREATE LOOKUP INDEX `rels` FOR ()-[r]-() ON EACH type(r)");
    arenaFree(arena);
}

static void testConstraints(void **state)
{
    (void)state;
    Arena *arena = arenaNew(0);
    ItemSpec unique = {"constraint", "composite_unique", "UNIQUENESS", "NODE", 1, {"Twin"}, 2,
                       {"side", "extra"}, NULL, providerOnly(arena, "range-1.0")};
    expectStatement(&unique, "CREATE CONSTRAINT `composite_unique` FOR (n:`Twin`) REQUIRE (n.`side`, "
                             "n.`extra`) IS UNIQUE");
    ItemSpec relUnique = {"constraint", "rel_uid", "RELATIONSHIP_PROPERTY_UNIQUENESS", "RELATIONSHIP", 1,
                          {"SAME"}, 1, {"uid"}, NULL, boltNull()};
    expectStatement(&relUnique, "CREATE CONSTRAINT `rel_uid` FOR ()-[r:`SAME`]-() REQUIRE (r.`uid`) IS UNIQUE");
    ItemSpec nodeKey = {"constraint", "key", "NODE_KEY", "NODE", 1, {"P"}, 1, {"id"}, NULL, boltNull()};
    expectStatement(&nodeKey, "CREATE CONSTRAINT `key` FOR (n:`P`) REQUIRE (n.`id`) IS NODE KEY");
    ItemSpec relKey = {"constraint", "rkey", "RELATIONSHIP_KEY", "RELATIONSHIP", 1, {"T"}, 1, {"id"}, NULL,
                       boltNull()};
    expectStatement(&relKey, "CREATE CONSTRAINT `rkey` FOR ()-[r:`T`]-() REQUIRE (r.`id`) IS RELATIONSHIP KEY");
    ItemSpec exists = {"constraint", "has_name", "NODE_PROPERTY_EXISTENCE", "NODE", 1, {"P"}, 1, {"name"}, NULL,
                       boltNull()};
    expectStatement(&exists, "CREATE CONSTRAINT `has_name` FOR (n:`P`) REQUIRE n.`name` IS NOT NULL");
    ItemSpec relExists = {"constraint", "has_w", "RELATIONSHIP_PROPERTY_EXISTENCE", "RELATIONSHIP", 1, {"T"}, 1,
                          {"w"}, NULL, boltNull()};
    expectStatement(&relExists, "CREATE CONSTRAINT `has_w` FOR ()-[r:`T`]-() REQUIRE r.`w` IS NOT NULL");
    ItemSpec typed = {"constraint", "typed", "NODE_PROPERTY_TYPE", "NODE", 1, {"P"}, 1, {"age"},
                      "INTEGER | FLOAT", boltNull()};
    expectStatement(&typed, "CREATE CONSTRAINT `typed` FOR (n:`P`) REQUIRE n.`age` IS :: INTEGER | FLOAT");
    ItemSpec relTyped = {"constraint", "tags", "RELATIONSHIP_PROPERTY_TYPE", "RELATIONSHIP", 1, {"T"}, 1,
                         {"tags"}, "LIST<STRING NOT NULL> | ZONED DATETIME | VECTOR<FLOAT32>(3)", boltNull()};
    expectStatement(&relTyped, "CREATE CONSTRAINT `tags` FOR ()-[r:`T`]-() REQUIRE r.`tags` IS :: "
                               "LIST<STRING NOT NULL> | ZONED DATETIME | VECTOR<FLOAT32>(3)");
    arenaFree(arena);
}

/* Backticks are doubled inside a quoted name; nothing else can end it. */
static void testNamesQuoted(void **state)
{
    (void)state;
    ItemSpec odd = {"index", "odd `name` index", "RANGE", "NODE", 1, {"Label with spaces"}, 1,
                    {"key`) DETACH DELETE n //"}, NULL, {.type = BOLT_NULL}};
    expectStatement(&odd, "CREATE RANGE INDEX `odd ``name`` index` FOR (n:`Label with spaces`) "
                          "ON (n.`key``) DETACH DELETE n //`)");
    ItemSpec unicode = {"constraint", "😀", "UNIQUENESS", "NODE", 1, {"we`ird"}, 1, {"ΑΓΑΠΑ"}, NULL,
                        {.type = BOLT_NULL}};
    expectStatement(&unicode, "CREATE CONSTRAINT `😀` FOR (n:`we``ird`) REQUIRE (n.`ΑΓΑΠΑ`) IS UNIQUE");
}

/* The tampered item: whatever createStatement holds, the statement
 * is the one its fields describe. */
static void testCreateStatementNeverUsed(void **state)
{
    (void)state;
    ItemSpec item = {"index", "x", "RANGE", "NODE", 1, {"L"}, 1, {"p"}, NULL, {.type = BOLT_NULL}};
    Buffer out;
    bufferInit(&out);
    assert_int_equal(build(&item, &out), ERR_OK);
    assert_null(strstr((const char *)out.data, "DELETE"));
    assert_string_equal((const char *)out.data, "CREATE RANGE INDEX `x` FOR (n:`L`) ON (n.`p`)");
    bufferFree(&out);
}

static void testRefused(void **state)
{
    (void)state;
    Arena *arena = arenaNew(0);
    ItemSpec unknown = {"index", "future", "QUANTUM", "NODE", 1, {"L"}, 1, {"p"}, NULL, {.type = BOLT_NULL}};
    expectRefused(&unknown, "'future' (index QUANTUM) cannot be rebuilt");
    ItemSpec kindSwap = {"constraint", "c", "RANGE", "NODE", 1, {"L"}, 1, {"p"}, NULL, {.type = BOLT_NULL}};
    expectRefused(&kindSwap, "does not know how to create that type");
    ItemSpec entity = {"index", "e", "RANGE", "NODE) DETACH DELETE n", 1, {"L"}, 1, {"p"}, NULL,
                       {.type = BOLT_NULL}};
    expectRefused(&entity, "entityType");
    ItemSpec mismatch = {"constraint", "m", "UNIQUENESS", "RELATIONSHIP", 1, {"L"}, 1, {"p"}, NULL,
                         {.type = BOLT_NULL}};
    expectRefused(&mismatch, "does not match its type");
    ItemSpec noProperties = {"index", "np", "RANGE", "NODE", 1, {"L"}, 0, {NULL}, NULL, {.type = BOLT_NULL}};
    expectRefused(&noProperties, "not lists of names");
    ItemSpec twoLabels = {"index", "tl", "TEXT", "NODE", 2, {"A", "B"}, 1, {"p"}, NULL, {.type = BOLT_NULL}};
    expectRefused(&twoLabels, "more than one label");
    ItemSpec twoProperties = {"index", "tp", "VECTOR", "NODE", 1, {"A"}, 2, {"p", "q"}, NULL,
                              {.type = BOLT_NULL}};
    expectRefused(&twoProperties, "more properties");
    ItemSpec lookupWithLabel = {"index", "lk", "LOOKUP", "NODE", 1, {"A"}, 0, {NULL}, NULL, {.type = BOLT_NULL}};
    expectRefused(&lookupWithLabel, "LOOKUP index has labels");
    ItemSpec badType = {"constraint", "bt", "NODE_PROPERTY_TYPE", "NODE", 1, {"P"}, 1, {"age"},
                        "INTEGER MATCH (n) DETACH DELETE n", {.type = BOLT_NULL}};
    expectRefused(&badType, "propertyType");
    ItemSpec noType = {"constraint", "nt", "NODE_PROPERTY_TYPE", "NODE", 1, {"P"}, 1, {"age"}, NULL,
                       {.type = BOLT_NULL}};
    expectRefused(&noType, "propertyType");

    /* The provider is never sent, whatever it holds. */
    ItemSpec provider = {"index", "pv", "RANGE", "NODE", 1, {"L"}, 1, {"p"}, NULL,
                         providerOnly(arena, "range-1.0'}) MATCH (n) DETACH DELETE n //")};
    expectStatement(&provider, "CREATE RANGE INDEX `pv` FOR (n:`L`) ON (n.`p`)");
    BoltValue numericProvider = boltMap(arena, 1);
    boltMapSet(arena, &numericProvider, 0, "indexProvider", boltInt(1));
    ItemSpec badProvider = {"index", "bp", "RANGE", "NODE", 1, {"L"}, 1, {"p"}, NULL, numericProvider};
    expectRefused(&badProvider, "indexProvider");
    BoltValue extraKey = boltMap(arena, 1);
    boltMapSet(arena, &extraKey, 0, "indexProvider}) MATCH (n", boltString(arena, "range-1.0"));
    ItemSpec extra = {"index", "ek", "RANGE", "NODE", 1, {"L"}, 1, {"p"}, NULL, extraKey};
    expectRefused(&extra, "other than indexProvider");

    BoltValue quoteConfig = boltMap(arena, 1);
    boltMapSet(arena, &quoteConfig, 0, "fulltext.analyzer", boltString(arena, "x'}} MATCH (n) DELETE n //"));
    BoltValue quoteOptions = boltMap(arena, 1);
    boltMapSet(arena, &quoteOptions, 0, "indexConfig", quoteConfig);
    ItemSpec quote = {"index", "q", "FULLTEXT", "NODE", 1, {"L"}, 1, {"p"}, NULL, quoteOptions};
    expectRefused(&quote, "indexConfig has a value");
    BoltValue keyConfig = boltMap(arena, 1);
    boltMapSet(arena, &keyConfig, 0, "a`: 1}} MATCH (n", boltInt(1));
    BoltValue keyOptions = boltMap(arena, 1);
    boltMapSet(arena, &keyOptions, 0, "indexConfig", keyConfig);
    ItemSpec key = {"index", "k", "FULLTEXT", "NODE", 1, {"L"}, 1, {"p"}, NULL, keyOptions};
    expectRefused(&key, "setting name");
    BoltValue nanConfig = boltMap(arena, 1);
    boltMapSet(arena, &nanConfig, 0, "spatial.wgs-84.min", boltFloat(NAN));
    BoltValue nanOptions = boltMap(arena, 1);
    boltMapSet(arena, &nanOptions, 0, "indexConfig", nanConfig);
    ItemSpec nan = {"index", "nan", "POINT", "NODE", 1, {"L"}, 1, {"p"}, NULL, nanOptions};
    expectRefused(&nan, "indexConfig has a value");

    ItemSpec nulInName = {"index", "", "RANGE", "NODE", 1, {"L"}, 1, {"p"}, NULL, {.type = BOLT_NULL}};
    expectRefused(&nulInName, "name is empty");
    arenaFree(arena);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(testIndexes),
        cmocka_unit_test(testConstraints),
        cmocka_unit_test(testNamesQuoted),
        cmocka_unit_test(testCreateStatementNeverUsed),
        cmocka_unit_test(testRefused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
