/* restore_probe: drives the logical restore engine and the health checks
 * against a real server, and writes synthetic archives for them.
 *
 *   restore_probe restore ARCHIVE [--static|--dynamic] [--node-batch N]
 *                 [--rel-batch N] [--no-wipe] [--no-health] [--db NAME]
 *       wipes the target, restores ARCHIVE, prints throughput, runs the five
 *       health checks (exit 13 when one fails)
 *   restore_probe health ARCHIVE [--db NAME]   health checks only
 *   restore_probe wipe [--db NAME]             empties the target
 *   restore_probe fingerprint ARCHIVE          prints the archive's fingerprint
 *   restore_probe dbfingerprint [--db NAME]    prints the target's fingerprint
 *   restore_probe generate ARCHIVE NODES RELS [--hostile] [--label-sets N]
 *       writes a synthetic archive: NODES nodes over a few label sets (one
 *       empty), RELS relationships over four types (self-loops and parallel
 *       ones included); --hostile adds labels, types and keys with backticks,
 *       spaces, unicode and escape-like text, and every property value type;
 *       --label-sets N gives node n the labels {Set<n % N>, Common}
 *
 * Target: $TEST_NEO4J_URI / $TEST_NEO4J_USER / $TEST_NEO4J_PASSWORD, falling
 * back to $NEO4J_URI / $NEO4J_USER / $NEO4J_PASSWORD. */
#include "archive/archive.h"
#include "bolt/connection.h"
#include "bolt/packstream.h"
#include "common/error.h"
#include "common/log.h"
#include "graph/records.h"
#include "restore/health.h"
#include "restore/import_csv.h"
#include "restore/logical_restore.h"

#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static volatile sig_atomic_t probeCancel;

static void probeOnSignal(int signalNumber)
{
    (void)signalNumber;
    probeCancel = 1;
}

static const char *envFirst(const char *first, const char *second, const char *fallback)
{
    const char *value = getenv(first);
    if (value && value[0])
        return value;
    value = getenv(second);
    return value && value[0] ? value : fallback;
}

static int failWith(ErrCode code, const char *what)
{
    const ErrDetail *detail = errLast();
    fprintf(stderr, "restore_probe: %s failed: %s: %s\n", what, errName(code), detail->reason);
    if (detail->serverCode[0])
        fprintf(stderr, "restore_probe: Neo4j status: %s\n", detail->serverCode);
    return errExitStatus(code);
}

static ErrCode connectTarget(BoltConnection **out)
{
    BoltConnectOptions options = {
        .uri = envFirst("TEST_NEO4J_URI", "NEO4J_URI", "bolt://localhost:7687"),
        .user = envFirst("TEST_NEO4J_USER", "NEO4J_USER", "neo4j"),
        .password = envFirst("TEST_NEO4J_PASSWORD", "NEO4J_PASSWORD", ""),
    };
    return boltConnect(&options, out);
}

/* ---- synthetic archives ---------------------------------------------------- */

static uint64_t randomState = 0x9e3779b97f4a7c15ULL;

static uint64_t nextRandom(void)
{
    randomState ^= randomState << 13;
    randomState ^= randomState >> 7;
    randomState ^= randomState << 17;
    return randomState;
}

static BoltValue makeStruct(Arena *arena, uint8_t tag, int count, const BoltValue *fields)
{
    BoltValue value = boltStruct(arena, tag, (uint8_t)count);
    for (int index = 0; index < count; index++)
        value.as.structure.fields[index] = fields[index];
    return value;
}

/* Every property type Neo4j stores, with edge values. */
static BoltValue hostileProperties(Arena *arena, int64_t index)
{
    enum { COUNT = 24 };
    BoltValue map = boltMap(arena, COUNT);
    uint32_t entry = 0;
    boltMapSet(arena, &map, entry++, "id", boltInt(index));
    boltMapSet(arena, &map, entry++, "int min", boltInt(INT64_MIN));
    boltMapSet(arena, &map, entry++, "int`max", boltInt(INT64_MAX));
    boltMapSet(arena, &map, entry++, "nan", boltFloat(NAN));
    boltMapSet(arena, &map, entry++, "negative zero", boltFloat(-0.0));
    boltMapSet(arena, &map, entry++, "infinity", boltFloat(-INFINITY));
    boltMapSet(arena, &map, entry++, "ünïcødé 日本", boltString(arena, "välue \"quoted\" `tick` \\u0060 ✓"));
    boltMapSet(arena, &map, entry++, "flag", boltBool(index % 2 == 0));
    uint8_t bytes[] = {0, 1, 2, 0xfe, 0xff};
    boltMapSet(arena, &map, entry++, "bytes", boltBytes(arena, bytes, sizeof(bytes)));
    BoltValue numbers = boltList(arena, 3);
    numbers.as.list.items[0] = boltInt(-1);
    numbers.as.list.items[1] = boltInt(INT64_MAX);
    numbers.as.list.items[2] = boltInt(0);
    boltMapSet(arena, &map, entry++, "int list", numbers);
    BoltValue words = boltList(arena, 2);
    words.as.list.items[0] = boltString(arena, "a`b");
    words.as.list.items[1] = boltString(arena, "");
    boltMapSet(arena, &map, entry++, "string list", words);
    BoltValue date[] = {boltInt(-719162 + index)};
    boltMapSet(arena, &map, entry++, "date", makeStruct(arena, BOLT_TAG_DATE, 1, date));
    BoltValue time[] = {boltInt(3723000000123LL), boltInt(-5 * 3600 - 1800)};
    boltMapSet(arena, &map, entry++, "time", makeStruct(arena, BOLT_TAG_TIME, 2, time));
    BoltValue localTime[] = {boltInt(86399999999999LL)};
    boltMapSet(arena, &map, entry++, "local time", makeStruct(arena, BOLT_TAG_LOCAL_TIME, 1, localTime));
    BoltValue offsetDateTime[] = {boltInt(1735300200), boltInt(123456789), boltInt(3600 + 45 * 60)};
    boltMapSet(arena, &map, entry++, "datetime offset",
               makeStruct(arena, BOLT_TAG_DATE_TIME, 3, offsetDateTime));
    BoltValue zonedDateTime[] = {boltInt(-2208988800LL), boltInt(1), boltString(arena, "Europe/Berlin")};
    boltMapSet(arena, &map, entry++, "datetime zone",
               makeStruct(arena, BOLT_TAG_DATE_TIME_ZONE_ID, 3, zonedDateTime));
    BoltValue localDateTime[] = {boltInt(253402300799LL), boltInt(999999999)};
    boltMapSet(arena, &map, entry++, "local datetime",
               makeStruct(arena, BOLT_TAG_LOCAL_DATE_TIME, 2, localDateTime));
    BoltValue duration[] = {boltInt(14), boltInt(-3), boltInt(86401), boltInt(5)};
    boltMapSet(arena, &map, entry++, "duration", makeStruct(arena, BOLT_TAG_DURATION, 4, duration));
    BoltValue cartesian[] = {boltInt(7203), boltFloat(1.5), boltFloat(-2.25)};
    boltMapSet(arena, &map, entry++, "point cartesian", makeStruct(arena, BOLT_TAG_POINT_2D, 3, cartesian));
    BoltValue wgs[] = {boltInt(4326), boltFloat(13.4), boltFloat(52.5)};
    boltMapSet(arena, &map, entry++, "point wgs84", makeStruct(arena, BOLT_TAG_POINT_2D, 3, wgs));
    BoltValue cartesian3d[] = {boltInt(9157), boltFloat(1), boltFloat(2), boltFloat(-0.0)};
    boltMapSet(arena, &map, entry++, "point 3d", makeStruct(arena, BOLT_TAG_POINT_3D, 4, cartesian3d));
    BoltValue wgs3d[] = {boltInt(4979), boltFloat(-179.5), boltFloat(-89.5), boltFloat(8848.86)};
    boltMapSet(arena, &map, entry++, "point wgs84 3d", makeStruct(arena, BOLT_TAG_POINT_3D, 4, wgs3d));
    BoltValue floats = boltList(arena, 2);
    floats.as.list.items[0] = boltFloat(1e308);
    floats.as.list.items[1] = boltFloat(5e-324);
    boltMapSet(arena, &map, entry++, "float list", floats);
    boltMapSet(arena, &map, entry++, "long string", boltString(arena, "x"));
    map.as.map.count = entry;
    return map;
}

static BoltValue plainProperties(Arena *arena, int64_t index)
{
    BoltValue map = boltMap(arena, 4);
    char name[32];
    snprintf(name, sizeof(name), "node-%lld", (long long)index);
    boltMapSet(arena, &map, 0, "id", boltInt(index));
    boltMapSet(arena, &map, 1, "name", boltString(arena, name));
    boltMapSet(arena, &map, 2, "score", boltFloat((double)index * 0.5));
    boltMapSet(arena, &map, 3, "active", boltBool(index % 3 == 0));
    return map;
}

static ErrCode writeRecord(ArcWriter *writer, Buffer *packed, ArcRecordKind kind, const BoltValue *value)
{
    bufferClear(packed);
    packValue(packed, value);
    return arcWriterAdd(writer, kind, packed->data, packed->length);
}

static int generateArchive(const char *path, uint64_t nodeCount, uint64_t relationshipCount, bool hostile,
                           uint32_t labelSets)
{
    static const char *const plainLabels[][3] = {
        {"Person", NULL, NULL}, {"Person", "Employee", NULL}, {"Company", NULL, NULL}, {NULL, NULL, NULL},
        {"City", "Place", "Capital"},
    };
    static const char *const hostileLabels[][3] = {
        {"back`tick", NULL, NULL},   {"with space", "Ünïcødé 日本", NULL}, {"a\\u0060b", NULL, NULL},
        {NULL, NULL, NULL},          {"``", ":colon", "$(dollar)"},
    };
    static const char *const plainTypes[] = {"KNOWS", "WORKS_AT", "LIVES_IN", "LIKES"};
    static const char *const hostileTypes[] = {"RE`L", "has space", "тип", "a\\u0060b"};
    const char *const(*labels)[3] = hostile ? hostileLabels : plainLabels;
    const char *const *types = hostile ? hostileTypes : plainTypes;

    Arena *arena = arenaNew(0);
    Buffer packed;
    bufferInit(&packed);
    BoltValue header = boltMap(arena, 2);
    boltMapSet(arena, &header, 0, "format", boltString(arena, "nbk-logical-1"));
    boltMapSet(arena, &header, 1, "tool", boltString(arena, "restore_probe generate"));
    packValue(&packed, &header);
    unlink(path);
    ArcWriter *writer = NULL;
    ErrCode code = arcWriterOpen(&writer, path, ARC_COMPRESSION_ZSTD, 0, 0, packed.data, packed.length);
    if (code != ERR_OK)
        return failWith(code, "opening the archive");

    /* Schema: a uniqueness constraint and an index with a hostile name. */
    BoltValue constraint = boltMap(arena, 7);
    boltMapSet(arena, &constraint, 0, "kind", boltString(arena, "constraint"));
    boltMapSet(arena, &constraint, 1, "name", boltString(arena, "person_id"));
    boltMapSet(arena, &constraint, 2, "type", boltString(arena, "UNIQUENESS"));
    boltMapSet(arena, &constraint, 3, "entityType", boltString(arena, "NODE"));
    BoltValue constraintLabels = boltList(arena, 1);
    constraintLabels.as.list.items[0] = boltString(arena, hostile ? "back`tick" : "Person");
    boltMapSet(arena, &constraint, 4, "labelsOrTypes", constraintLabels);
    BoltValue constraintProperties = boltList(arena, 1);
    constraintProperties.as.list.items[0] = boltString(arena, "id");
    boltMapSet(arena, &constraint, 5, "properties", constraintProperties);
    boltMapSet(arena, &constraint, 6, "createStatement",
               boltString(arena, hostile ? "CREATE CONSTRAINT `person_id` FOR (n:`back``tick`) REQUIRE (n.`id`) IS UNIQUE"
                                         : "CREATE CONSTRAINT `person_id` FOR (n:`Person`) REQUIRE (n.`id`) IS UNIQUE"));
    code = writeRecord(writer, &packed, ARC_RECORD_SCHEMA, &constraint);
    BoltValue index = boltMap(arena, 8);
    boltMapSet(arena, &index, 0, "kind", boltString(arena, "index"));
    boltMapSet(arena, &index, 1, "name", boltString(arena, hostile ? "idx `odd` name" : "company_name"));
    boltMapSet(arena, &index, 2, "type", boltString(arena, "RANGE"));
    boltMapSet(arena, &index, 3, "entityType", boltString(arena, "RELATIONSHIP"));
    BoltValue indexTypes = boltList(arena, 1);
    indexTypes.as.list.items[0] = boltString(arena, types[1]);
    boltMapSet(arena, &index, 4, "labelsOrTypes", indexTypes);
    BoltValue indexProperties = boltList(arena, 1);
    indexProperties.as.list.items[0] = boltString(arena, "weight");
    boltMapSet(arena, &index, 5, "properties", indexProperties);
    boltMapSet(arena, &index, 6, "owningConstraint", boltNull());
    boltMapSet(arena, &index, 7, "createStatement",
               boltString(arena, hostile ? "CREATE RANGE INDEX `idx ``odd`` name` FOR ()-[r:`has space`]-() ON (r.`weight`)"
                                         : "CREATE RANGE INDEX `company_name` FOR ()-[r:`WORKS_AT`]-() ON (r.`weight`)"));
    if (code == ERR_OK)
        code = writeRecord(writer, &packed, ARC_RECORD_SCHEMA, &index);

    /* Keys are sparse and start negative: nothing may assume dense ids. */
    for (uint64_t nodeIndex = 0; code == ERR_OK && nodeIndex < nodeCount; nodeIndex++) {
        arenaReset(arena);
        const char *const *set = labels[nodeIndex % 5];
        uint32_t labelCount = set[0] ? (set[1] ? (set[2] ? 3 : 2) : 1) : 0;
        BoltValue record = boltList(arena, 3);
        record.as.list.items[0] = boltInt((int64_t)nodeIndex * 7 - 1000);
        record.as.list.items[1] = boltList(arena, labelCount);
        for (uint32_t labelIndex = 0; labelIndex < labelCount; labelIndex++)
            record.as.list.items[1].as.list.items[labelIndex] = boltString(arena, set[labelIndex]);
        if (labelSets) {
            /* Many distinct label sets: {Set<n>, Common}. */
            char label[32];
            snprintf(label, sizeof(label), "Set%llu", (unsigned long long)(nodeIndex % labelSets));
            record.as.list.items[1] = boltList(arena, 2);
            record.as.list.items[1].as.list.items[0] = boltString(arena, label);
            record.as.list.items[1].as.list.items[1] = boltString(arena, "Common");
        }
        record.as.list.items[2] = hostile ? hostileProperties(arena, (int64_t)nodeIndex)
                                          : plainProperties(arena, (int64_t)nodeIndex);
        code = writeRecord(writer, &packed, ARC_RECORD_NODE, &record);
    }
    for (uint64_t relationshipIndex = 0; code == ERR_OK && nodeCount && relationshipIndex < relationshipCount;
         relationshipIndex++) {
        arenaReset(arena);
        uint64_t start = nextRandom() % nodeCount;
        uint64_t end = nextRandom() % nodeCount;
        if (relationshipIndex % 50 == 0)
            end = start; /* self-loop */
        BoltValue record = boltList(arena, 5);
        record.as.list.items[0] = boltInt((int64_t)relationshipIndex);
        record.as.list.items[1] = boltInt((int64_t)start * 7 - 1000);
        record.as.list.items[2] = boltInt((int64_t)end * 7 - 1000);
        record.as.list.items[3] = boltString(arena, types[relationshipIndex % 4]);
        record.as.list.items[4] = boltMap(arena, 1);
        boltMapSet(arena, &record.as.list.items[4], 0, "weight", boltInt((int64_t)(relationshipIndex % 10)));
        code = writeRecord(writer, &packed, ARC_RECORD_RELATIONSHIP, &record);
        /* A parallel twin with the same type and properties every 40th. */
        if (code == ERR_OK && relationshipIndex % 40 == 1 && relationshipIndex + 1 < relationshipCount) {
            relationshipIndex++;
            record.as.list.items[0] = boltInt((int64_t)relationshipIndex);
            code = writeRecord(writer, &packed, ARC_RECORD_RELATIONSHIP, &record);
        }
    }
    ArcTotals totals;
    if (code == ERR_OK)
        code = arcWriterFinish(writer, &totals);
    arcWriterFree(writer);
    bufferFree(&packed);
    arenaFree(arena);
    if (code != ERR_OK)
        return failWith(code, "writing the archive");
    printf("generated %s: %llu nodes, %llu relationships, %llu bytes\n", path,
           (unsigned long long)totals.nodeCount, (unsigned long long)totals.relationshipCount,
           (unsigned long long)totals.compressedBytes);
    return 0;
}

/* ---- restore and checks -------------------------------------------------------- */

static void printProgress(const LogicalRestoreProgress *progress, void *payload)
{
    double *lastPrinted = payload;
    if (progress->phase != RESTORE_PHASE_DONE && progress->elapsedSeconds - *lastPrinted < 5.0)
        return;
    *lastPrinted = progress->elapsedSeconds;
    fprintf(stderr, "  progress: phase %d, %llu nodes, %llu relationships, %.1f s\n", (int)progress->phase,
            (unsigned long long)progress->nodesDone, (unsigned long long)progress->relationshipsDone,
            progress->elapsedSeconds);
}

static int runHealth(BoltConnection *connection, const char *database, const ArchiveContent *content)
{
    HealthExpectations expected = {
        .archive = content,
        .expectedNodes = content->nodes,
        .expectedRelationships = content->relationships - content->orphanRelationships,
    };
    HealthCheckResult results[HEALTH_CHECK_COUNT];
    int failed = healthRunAll(connection, database, &expected, results);
    for (int index = 0; index < HEALTH_CHECK_COUNT; index++)
        printf("INFO: Health check: %s ... %s (%s)\n", results[index].name,
               results[index].status == HEALTH_PASS ? "PASS" : "FAIL", results[index].finding);
    return failed ? errExitStatus(RESTORE_HEALTH_FAILED) : 0;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fputs("usage: restore_probe restore|health|wipe|fingerprint|dbfingerprint|generate|csv ...\n", stderr);
        return 2;
    }
    const char *command = argv[1];
    const char *positional[4] = {NULL, NULL, NULL, NULL};
    int positionalCount = 0;
    LogicalRestoreRequest request = {.wipeTarget = true};
    bool hostile = false;
    uint32_t labelSets = 0;
    bool runChecks = true;
    for (int index = 2; index < argc; index++) {
        const char *argument = argv[index];
        bool hasValue = index + 1 < argc;
        if (strcmp(argument, "--static") == 0)
            request.tokenMode = RESTORE_TOKENS_STATIC;
        else if (strcmp(argument, "--dynamic") == 0)
            request.tokenMode = RESTORE_TOKENS_DYNAMIC;
        else if (strcmp(argument, "--node-batch") == 0 && hasValue)
            request.nodeBatchSize = (uint32_t)strtoul(argv[++index], NULL, 10);
        else if (strcmp(argument, "--rel-batch") == 0 && hasValue)
            request.relationshipBatchSize = (uint32_t)strtoul(argv[++index], NULL, 10);
        else if (strcmp(argument, "--no-wipe") == 0)
            request.wipeTarget = false;
        else if (strcmp(argument, "--no-health") == 0)
            runChecks = false;
        else if (strcmp(argument, "--db") == 0 && hasValue)
            request.database = argv[++index];
        else if (strcmp(argument, "--hostile") == 0)
            hostile = true;
        else if (strcmp(argument, "--label-sets") == 0 && hasValue)
            labelSets = (uint32_t)strtoul(argv[++index], NULL, 10);
        else if (strcmp(argument, "-v") == 0)
            logSetVerbose(true);
        else if (positionalCount < 4)
            positional[positionalCount++] = argument;
    }

    if (strcmp(command, "generate") == 0) {
        if (positionalCount != 3)
            return 2;
        return generateArchive(positional[0], strtoull(positional[1], NULL, 10),
                               strtoull(positional[2], NULL, 10), hostile, labelSets);
    }
    if (strcmp(command, "fingerprint") == 0) {
        if (positionalCount != 1)
            return 2;
        char hex[66];
        FingerprintCounts counts;
        ErrCode code = healthFingerprintOfArchive(positional[0], hex, &counts);
        if (code != ERR_OK)
            return failWith(code, "fingerprinting the archive");
        printf("%s %llu nodes %llu relationships %llu orphans\n", hex, (unsigned long long)counts.nodes,
               (unsigned long long)counts.relationships, (unsigned long long)counts.orphanRelationships);
        return 0;
    }

    if (strcmp(command, "csv") == 0) {
        /* csv <archive> <empty directory>: the import load's files alone. */
        if (positionalCount != 2)
            return 2;
        ImportCsvRequest csvRequest = {.archive = {.path = positional[0]}, .directory = positional[1]};
        ImportCsv csv;
        ErrCode code = importCsvWrite(&csvRequest, &csv);
        if (code != ERR_OK)
            return failWith(code, "writing import files");
        printf("%llu nodes, %llu relationships, %llu orphans, %llu+%llu fix-ups, %llu bytes, %.2f s\n",
               (unsigned long long)csv.nodes, (unsigned long long)csv.relationships,
               (unsigned long long)csv.orphanRelationships, (unsigned long long)csv.fixupNodes,
               (unsigned long long)csv.fixupRelationships, (unsigned long long)csv.csvBytes, csv.seconds);
        importCsvFree(&csv);
        return 0;
    }

    BoltConnection *connection = NULL;
    ErrCode code = connectTarget(&connection);
    if (code != ERR_OK)
        return failWith(code, "connecting to the target");
    fprintf(stderr, "target: %s, Bolt %u.%u\n", boltServerAgent(connection), boltVersionMajor(connection),
            boltVersionMinor(connection));
    int status = 0;
    if (strcmp(command, "wipe") == 0) {
        code = restoreWipeTarget(connection, request.database);
        status = code == ERR_OK ? 0 : failWith(code, "wiping the target");
    } else if (strcmp(command, "dbfingerprint") == 0) {
        char hex[66];
        FingerprintCounts counts;
        code = healthFingerprintOfDatabase(connection, request.database, hex, &counts);
        if (code == ERR_OK)
            printf("%s %llu nodes %llu relationships %llu orphans\n", hex, (unsigned long long)counts.nodes,
                   (unsigned long long)counts.relationships, (unsigned long long)counts.orphanRelationships);
        status = code == ERR_OK ? 0 : failWith(code, "fingerprinting the target");
    } else if (strcmp(command, "health") == 0 && positionalCount == 1) {
        ArchiveContent content;
        code = healthArchiveContentRead(positional[0], &content);
        if (code != ERR_OK) {
            status = failWith(code, "reading the archive");
        } else {
            status = runHealth(connection, request.database, &content);
            arcContentFree(&content);
        }
    } else if (strcmp(command, "restore") == 0 && positionalCount == 1) {
        double lastPrinted = 0;
        request.connection = connection;
        request.archive.path = positional[0];
        request.progress = printProgress;
        request.progressPayload = &lastPrinted;
        request.cancelFlag = &probeCancel;
        signal(SIGINT, probeOnSignal);
        signal(SIGTERM, probeOnSignal);
        LogicalRestoreResult result;
        code = logicalRestoreRun(&request, &result);
        if (code != ERR_OK) {
            status = failWith(code, "restore");
        } else {
            printf("restored %llu nodes, %llu relationships, %llu schema items in %.2f s "
                   "(%s tokens, %llu batches, %llu retries, %llu splits, %llu orphans skipped)\n",
                   (unsigned long long)result.nodes, (unsigned long long)result.relationships,
                   (unsigned long long)result.schemaItems, result.seconds,
                   result.dynamicLabels ? (result.dynamicTypes ? "dynamic" : "dynamic-label/static-type")
                                        : (result.dynamicTypes ? "static-label/dynamic-type" : "static"), (unsigned long long)result.batches,
                   (unsigned long long)result.retries, (unsigned long long)result.memorySplits,
                   (unsigned long long)result.orphanRelationships);
            printf("  wipe %.2f s; nodes %.2f s (%.0f nodes/s); relationships %.2f s (%.0f rels/s); "
                   "schema %.2f s; id map %zu bytes (%.1f bytes/node)\n",
                   result.wipeSeconds, result.nodeSeconds,
                   result.nodeSeconds > 0 ? (double)result.nodes / result.nodeSeconds : 0.0,
                   result.relationshipSeconds,
                   result.relationshipSeconds > 0 ? (double)result.relationships / result.relationshipSeconds
                                                  : 0.0,
                   result.schemaSeconds, result.idMapBytes,
                   result.nodes ? (double)result.idMapBytes / (double)result.nodes : 0.0);
            printf("  archive fingerprint %s\n", result.archive.fingerprint);
            if (runChecks)
                status = runHealth(connection, request.database, &result.archive);
            logicalRestoreResultFree(&result);
        }
    } else {
        fputs("restore_probe: unknown command or missing argument\n", stderr);
        status = 2;
    }
    boltClose(connection);
    return status;
}
