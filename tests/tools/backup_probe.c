/* backup_probe: runs the logical backup engine against a live server and
 * checks the archive it wrote, for integration tests and measurements.
 *
 *   backup_probe [options] ARCHIVE
 *     --db NAME            database (default: the user's home database)
 *     --fetch N            records per PULL (default: the engine's)
 *     --compression C      zstd (default) | gzip | none
 *     --bolt X.Y           highest Bolt version to offer
 *     --fingerprint        compute the content fingerprint while backing up
 *     --pending-limit B    bytes of pending relationships kept in memory
 *     --verify             read the archive back: counts, referential
 *                          completeness, unique keys, and (with --fingerprint)
 *                          the fingerprint recomputed from the archive
 *     --keep               keep ARCHIVE (default: removed at exit)
 *     --dump               with --verify, print every record
 *   Connection from NEO4J_URI, NEO4J_USER, NEO4J_PASSWORD.
 *
 * Prints "key value" lines to stdout (nodes, relationships, late_nodes,
 * dropped_relationships, seconds, nodes_per_second, ...). Exit status 0, the
 * error registry's status of a failure, or 1 when verification failed. */
#include "archive/archive.h"
#include "backup/logical.h"
#include "graph/schema.h"
#include "bolt/connection.h"
#include "bolt/packstream.h"
#include "common/error.h"
#include "graph/fingerprint.h"
#include "graph/records.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t probeCancel;

static void probeOnSignal(int signalNumber)
{
    (void)signalNumber;
    probeCancel = 1;
}

static int probeFail(ErrCode code, const char *what)
{
    const ErrDetail *detail = errLast();
    fprintf(stderr, "backup_probe: %s failed: %s: %s\n", what, errName(code), detail->reason);
    if (detail->action[0])
        fprintf(stderr, "backup_probe: action: %s\n", detail->action);
    if (detail->serverCode[0])
        fprintf(stderr, "backup_probe: Neo4j status: %s\n", detail->serverCode);
    return errExitStatus(code);
}

static void probeOnProgress(const LogicalBackupProgress *progress, void *payload)
{
    (void)payload;
    fprintf(stderr, "progress %-22s %6.1fs nodes=%llu rels=%llu pending=%llu late=%llu bytes=%llu\n",
            logicalBackupPhaseName(progress->phase), progress->seconds,
            (unsigned long long)progress->nodes, (unsigned long long)progress->relationships,
            (unsigned long long)progress->pendingRelationships, (unsigned long long)progress->lateNodes,
            (unsigned long long)progress->bytesWritten);
}

/* A growable bitmap of keys, for the duplicate and endpoint checks. */
typedef struct {
    uint8_t *bits;
    size_t size;
} ProbeKeys;

static bool probeKeysHas(const ProbeKeys *keys, int64_t key)
{
    return key >= 0 && (size_t)(key / 8) < keys->size && (keys->bits[key / 8] >> (key % 8) & 1);
}

static void probeKeysAdd(ProbeKeys *keys, int64_t key)
{
    if ((size_t)(key / 8) >= keys->size) {
        size_t grown = keys->size ? keys->size : 4096;
        while (grown <= (size_t)(key / 8))
            grown *= 2;
        keys->bits = realloc(keys->bits, grown);
        if (!keys->bits)
            abort();
        memset(keys->bits + keys->size, 0, grown - keys->size);
        keys->size = grown;
    }
    keys->bits[key / 8] |= (uint8_t)(1u << (key % 8));
}

/* Reads the archive back; returns 0 when everything checks out. */
static bool probeDump;

static int probeVerify(const char *path, const LogicalBackupResult *result, bool withFingerprint)
{
    ArcReader *reader = NULL;
    ErrCode code = arcReaderOpen(&reader, path);
    if (code != ERR_OK)
        return probeFail(code, "opening the archive");
    size_t headerLength = 0;
    const uint8_t *headerBytes = arcReaderHeader(reader, &headerLength);
    Arena *arena = arenaNew(0);
    PackReader packReader;
    packReaderInit(&packReader, headerBytes, headerLength);
    BoltValue header;
    int failures = 0;
    if (unpackValue(&packReader, arena, &header) != ERR_OK || header.type != BOLT_MAP ||
        strcmp(boltMapGetString(&header, "format", ""), LOGICAL_FORMAT_NAME) != 0) {
        fprintf(stderr, "verify: header is not an %s map\n", LOGICAL_FORMAT_NAME);
        failures++;
    } else {
        char text[1024];
        boltValueFormat(text, sizeof(text), &header);
        printf("header %s\n", text);
    }

    Fingerprint *fingerprint = fingerprintNew();
    ProbeKeys nodeKeys = {0}, relationshipKeys = {0};
    uint64_t counts[3] = {0, 0, 0};
    uint64_t lookupIndexes = 0, ownedIndexes = 0;
    for (;;) {
        ArcRecordKind kind;
        const uint8_t *packed = NULL;
        size_t length = 0;
        code = arcReaderNext(reader, &kind, &packed, &length);
        if (code != ERR_OK) {
            probeFail(code, "reading the archive");
            failures++;
            break;
        }
        if (!packed)
            break;
        arenaReset(arena);
        packReaderInit(&packReader, packed, length);
        BoltValue value;
        code = unpackValue(&packReader, arena, &value);
        if (code != ERR_OK) {
            probeFail(code, "decoding a record");
            failures++;
            break;
        }
        if (probeDump) {
            char text[4096];
            boltValueFormat(text, sizeof(text), &value);
            printf("record %c %s\n", (char)kind, text);
        }
        if (kind == ARC_RECORD_SCHEMA) {
            SchemaItem item;
            if (schemaItemFromValue(&value, &item) != ERR_OK) {
                probeFail(BACKUP_CORRUPTED, "schema record");
                failures++;
            } else {
                printf("schema %s %s %s: %s\n", item.isConstraint ? "constraint" : "index", item.type,
                       item.name, item.createStatement ? item.createStatement : "(none)");
                lookupIndexes += strcmp(item.type, "LOOKUP") == 0;
                ownedIndexes += item.owningConstraint != NULL;
            }
            counts[0]++;
        } else if (kind == ARC_RECORD_NODE) {
            GraphNode node;
            if (graphNodeFromValue(&value, &node) != ERR_OK) {
                probeFail(BACKUP_CORRUPTED, "node record");
                failures++;
                continue;
            }
            if (probeKeysHas(&nodeKeys, node.key)) {
                fprintf(stderr, "verify: node key %lld written twice\n", (long long)node.key);
                failures++;
            }
            probeKeysAdd(&nodeKeys, node.key);
            fingerprintAddNode(fingerprint, node.key, node.labels, node.properties);
            counts[1]++;
        } else if (kind == ARC_RECORD_RELATIONSHIP) {
            GraphRelationship relationship;
            if (graphRelationshipFromValue(&value, &relationship) != ERR_OK) {
                probeFail(BACKUP_CORRUPTED, "relationship record");
                failures++;
                continue;
            }
            if (probeKeysHas(&relationshipKeys, relationship.key)) {
                fprintf(stderr, "verify: relationship key %lld written twice\n", (long long)relationship.key);
                failures++;
            }
            probeKeysAdd(&relationshipKeys, relationship.key);
            /* Also the orphan check: an endpoint must precede its relationship. */
            if (fingerprintAddRelationship(fingerprint, relationship.startKey, relationship.endKey,
                                           relationship.type, relationship.typeLength,
                                           relationship.properties) != ERR_OK) {
                if (failures < 10)
                    fprintf(stderr, "verify: orphan: %s\n", errLast()->reason);
                failures++;
            }
            counts[2]++;
        }
    }
    const ArcTotals *totals = arcReaderTotals(reader);
    printf("verify_schema %llu\nverify_nodes %llu\nverify_relationships %llu\n", (unsigned long long)counts[0],
           (unsigned long long)counts[1], (unsigned long long)counts[2]);
    printf("verify_lookup_indexes %llu\nverify_owned_indexes %llu\n", (unsigned long long)lookupIndexes,
           (unsigned long long)ownedIndexes);
    if (counts[0] != result->schemaItems || counts[1] != result->nodes || counts[2] != result->relationships ||
        totals->nodeCount != result->nodes || totals->relationshipCount != result->relationships ||
        totals->schemaCount != result->schemaItems) {
        fprintf(stderr, "verify: counts differ from the backup's result\n");
        failures++;
    }
    char archiveHex[66];
    fingerprintHex(fingerprint, archiveHex);
    printf("verify_fingerprint %s\n", archiveHex);
    if (withFingerprint && strcmp(archiveHex, result->fingerprint) != 0) {
        fprintf(stderr, "verify: fingerprint from the archive %s != from the backup %s\n", archiveHex,
                result->fingerprint);
        failures++;
    }
    printf("verify %s\n", failures ? "FAILED" : "ok");
    fingerprintFree(fingerprint);
    free(nodeKeys.bits);
    free(relationshipKeys.bits);
    arenaFree(arena);
    arcReaderFree(reader);
    return failures ? 1 : 0;
}

static void probeUsage(void)
{
    fputs("usage: backup_probe [--db NAME] [--fetch N] [--compression C] [--bolt X.Y] [--fingerprint]\n"
          "                    [--pending-limit BYTES] [--verify] [--dump] [--keep] ARCHIVE\n",
          stderr);
}

int main(int argc, char **argv)
{
    BoltConnectOptions connectOptions = {
        .uri = getenv("NEO4J_URI") ? getenv("NEO4J_URI") : "bolt://localhost:7687",
        .user = getenv("NEO4J_USER") ? getenv("NEO4J_USER") : "neo4j",
        .password = getenv("NEO4J_PASSWORD"),
    };
    LogicalBackupRequest request = {
        .compression = ARC_COMPRESSION_ZSTD,
        .backupId = "probe",
        .createdUtc = "1970-01-01T00:00:00Z",
        .progress = probeOnProgress,
        .cancelFlag = &probeCancel,
    };
    bool verify = false, keep = false;
    for (int argIndex = 1; argIndex < argc; argIndex++) {
        const char *argument = argv[argIndex];
        bool hasValue = argIndex + 1 < argc;
        if (strcmp(argument, "--db") == 0 && hasValue) {
            request.database = argv[++argIndex];
        } else if (strcmp(argument, "--fetch") == 0 && hasValue) {
            request.fetchSize = strtoll(argv[++argIndex], NULL, 10);
        } else if (strcmp(argument, "--pending-limit") == 0 && hasValue) {
            request.pendingMemoryLimit = strtoull(argv[++argIndex], NULL, 10);
        } else if (strcmp(argument, "--compression") == 0 && hasValue) {
            if (arcCompressionParse(argv[++argIndex], &request.compression) != ERR_OK)
                return probeFail(CONFIG_INVALID, "--compression");
        } else if (strcmp(argument, "--bolt") == 0 && hasValue) {
            unsigned major = 0, minor = 0;
            if (sscanf(argv[++argIndex], "%u.%u", &major, &minor) != 2 || major > 255 || minor > 255) {
                probeUsage();
                return 2;
            }
            connectOptions.maxMajor = (uint8_t)major;
            connectOptions.maxMinor = (uint8_t)minor;
        } else if (strcmp(argument, "--fingerprint") == 0) {
            request.computeFingerprint = true;
        } else if (strcmp(argument, "--verify") == 0) {
            verify = true;
        } else if (strcmp(argument, "--dump") == 0) {
            probeDump = true;
        } else if (strcmp(argument, "--keep") == 0) {
            keep = true;
        } else if (argument[0] != '-' && !request.archive.path) {
            request.archive.path = argument;
        } else {
            probeUsage();
            return 2;
        }
    }
    if (!request.archive.path) {
        probeUsage();
        return 2;
    }
    request.sourceUri = connectOptions.uri;
    signal(SIGINT, probeOnSignal);
    signal(SIGTERM, probeOnSignal);

    BoltConnection *connection = NULL;
    ErrCode code = boltConnect(&connectOptions, &connection);
    if (code != ERR_OK)
        return probeFail(code, "connecting");
    fprintf(stderr, "Bolt %u.%u %s\n", boltVersionMajor(connection), boltVersionMinor(connection),
            boltServerAgent(connection));
    request.connection = connection;
    LogicalBackupResult result;
    code = logicalBackupRun(&request, &result);
    boltClose(connection);
    if (code != ERR_OK) {
        int status = probeFail(code, "backup");
        if (access(request.archive.path, F_OK) == 0)
            fprintf(stderr, "backup_probe: the archive was left behind after a failure\n");
        else
            fprintf(stderr, "backup_probe: no archive left behind\n");
        return status;
    }
    printf("database %s\nserver_version %s\nedition %s\n", result.database, result.serverVersion, result.edition);
    printf("schema_items %llu\nconstraints %u\nindexes %u\nnodes %llu\nrelationships %llu\n",
           (unsigned long long)result.schemaItems, result.schema.constraints, result.schema.indexes,
           (unsigned long long)result.nodes, (unsigned long long)result.relationships);
    printf("late_nodes %llu\ndropped_relationships %llu\nexcluded_relationships %llu\nduplicates %llu\n",
           (unsigned long long)result.lateNodes, (unsigned long long)result.droppedRelationships,
           (unsigned long long)result.excludedRelationships, (unsigned long long)result.duplicateRecords);
    printf("uncompressed_bytes %llu\ncompressed_bytes %llu\nseconds %.3f\n",
           (unsigned long long)result.totals.uncompressedBytes, (unsigned long long)result.totals.compressedBytes,
           result.seconds);
    if (result.seconds > 0)
        printf("records_per_second %.0f\n", (double)(result.nodes + result.relationships) / result.seconds);
    if (result.fingerprint[0])
        printf("fingerprint %s\n", result.fingerprint);
    int status = verify ? probeVerify(request.archive.path, &result, request.computeFingerprint) : 0;
    if (!keep)
        unlink(request.archive.path);
    logicalBackupResultFree(&result);
    return status;
}
