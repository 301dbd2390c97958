/* Unit tests for the merged chain reader (archive/chain.h): small archives
 * written with the archive writer, chained, and the merged records checked
 * against the graph at the newest link: changes, deletions with their
 * relationships, id reuse, the emission order, a chain of one read exactly
 * as a plain archive, damaged or misplaced links refused as
 * BACKUP_CORRUPTED naming the link, encrypted links, and a randomized chain
 * checked against a model of the graph. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "archive/archive.h"
#include "archive/chain.h"
#include "bolt/packstream.h"
#include "bolt/value.h"
#include "common/buffer.h"
#include "restore/health.h"
#include "restore/import_csv.h"

#include "archive_records.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char testDir[] = "/tmp/nbk-chain-test-XXXXXX";

static const uint8_t keyOne[ARC_DATA_KEY_BYTES] = {1, 2, 3, 4, 5, 6, 7, 8};
static const uint8_t keyTwo[ARC_DATA_KEY_BYTES] = {9, 8, 7, 6, 5, 4, 3, 2};

typedef struct {
    char path[256];
    char sha[65];
} TestLink;

static int setupDir(void **state)
{
    (void)state;
    return mkdtemp(testDir) ? 0 : -1;
}

static int removeDir(void **state)
{
    (void)state;
    return rmdir(testDir);
}

static void packHeader(Buffer *out, const char *format)
{
    Arena *arena = arenaNew(0);
    BoltValue map = boltMap(arena, format ? 2 : 1);
    boltMapSet(arena, &map, 0, "database", boltString(arena, "neo4j"));
    if (format)
        boltMapSet(arena, &map, 1, "format", boltString(arena, format));
    packValue(out, &map);
    arenaFree(arena);
}

static BoltValue propsOf(Arena *arena, int64_t version)
{
    BoltValue props = boltMap(arena, 1);
    boltMapSet(arena, &props, 0, "v", boltInt(version));
    return props;
}

/* One record from a spec token: "S:<name>", "N<key>:<v>",
 * "R<key>:<start>-<end>:<v>", "DN<key>", "DR<key>", or "X" (a malformed
 * deletion). */
static ArcRecordKind packToken(const char *token, Buffer *out)
{
    Arena *arena = arenaNew(0);
    bufferClear(out);
    ArcRecordKind kind;
    long long key = 0, start = 0, end = 0, version = 0;
    if (token[0] == 'S') {
        BoltValue map = boltMap(arena, 1);
        boltMapSet(arena, &map, 0, "name", boltString(arena, token + 2));
        packValue(out, &map);
        kind = ARC_RECORD_SCHEMA;
    } else if (token[0] == 'N') {
        assert_int_equal(sscanf(token, "N%lld:%lld", &key, &version), 2);
        BoltValue list = boltList(arena, 3);
        list.as.list.items[0] = boltInt(key);
        list.as.list.items[1] = boltList(arena, 1);
        list.as.list.items[1].as.list.items[0] = boltString(arena, "L");
        list.as.list.items[2] = propsOf(arena, version);
        packValue(out, &list);
        kind = ARC_RECORD_NODE;
    } else if (token[0] == 'R') {
        assert_int_equal(sscanf(token, "R%lld:%lld-%lld:%lld", &key, &start, &end, &version), 4);
        BoltValue list = boltList(arena, 5);
        list.as.list.items[0] = boltInt(key);
        list.as.list.items[1] = boltInt(start);
        list.as.list.items[2] = boltInt(end);
        list.as.list.items[3] = boltString(arena, "T");
        list.as.list.items[4] = propsOf(arena, version);
        packValue(out, &list);
        kind = ARC_RECORD_RELATIONSHIP;
    } else if (token[0] == 'D') {
        assert_int_equal(sscanf(token + 2, "%lld", &key), 1);
        arcDeletionPack(out, token[1] == 'N' ? ARC_RECORD_NODE : ARC_RECORD_RELATIONSHIP, key);
        kind = ARC_RECORD_DELETION;
    } else {
        const uint8_t malformed[] = {0x92, 0x81, 'Q', 0x01};
        bufferAppend(out, malformed, sizeof(malformed));
        kind = ARC_RECORD_DELETION;
    }
    arenaFree(arena);
    return kind;
}

static void shaHex(const uint8_t digest[32], char hex[65])
{
    for (int index = 0; index < 32; index++)
        snprintf(hex + 2 * index, 3, "%02x", digest[index]);
}

/* Writes link `name` holding the records of spec (space-separated tokens). */
static void writeLink(TestLink *link, const char *name, const char *format, const char *spec, const uint8_t *key,
                      size_t blockSize)
{
    snprintf(link->path, sizeof(link->path), "%s/%s", testDir, name);
    unlink(link->path);
    Buffer header, record;
    bufferInit(&header);
    bufferInit(&record);
    packHeader(&header, format);
    ArcWriterOptions options = {.compression = ARC_COMPRESSION_ZSTD, .blockSize = blockSize, .dataKey = key};
    ArcWriter *writer = NULL;
    assert_int_equal(arcWriterOpenWith(&writer, link->path, &options, header.data, header.length), ERR_OK);
    char *copy = strdup(spec);
    char *saveptr = NULL;
    for (char *token = strtok_r(copy, " ", &saveptr); token; token = strtok_r(NULL, " ", &saveptr)) {
        ArcRecordKind kind = packToken(token, &record);
        assert_int_equal(arcWriterAdd(writer, kind, record.data, record.length), ERR_OK);
    }
    free(copy);
    ArcTotals totals;
    assert_int_equal(arcWriterFinish(writer, &totals), ERR_OK);
    arcWriterFree(writer);
    shaHex(totals.fileSha256, link->sha);
    bufferFree(&header);
    bufferFree(&record);
}

/* Renders one merged record as a spec token. */
static void renderRecord(ArcRecordKind kind, const uint8_t *packed, size_t length, Buffer *out)
{
    Arena *arena = arenaNew(0);
    PackReader reader;
    packReaderInit(&reader, packed, length);
    BoltValue value;
    assert_int_equal(unpackValue(&reader, arena, &value), ERR_OK);
    if (out->length)
        bufferAppendByte(out, ' ');
    if (kind == ARC_RECORD_SCHEMA) {
        bufferAppendF(out, "S:%s", boltMapGetString(&value, "name", "?"));
    } else if (kind == ARC_RECORD_NODE) {
        bufferAppendF(out, "N%lld:%lld", (long long)value.as.list.items[0].as.integer,
                      (long long)boltMapGetInt(&value.as.list.items[2], "v", -1));
    } else {
        assert_int_equal(kind, ARC_RECORD_RELATIONSHIP);
        const BoltValue *items = value.as.list.items;
        bufferAppendF(out, "R%lld:%lld-%lld:%lld", (long long)items[0].as.integer, (long long)items[1].as.integer,
                      (long long)items[2].as.integer, (long long)boltMapGetInt(&items[4], "v", -1));
    }
    arenaFree(arena);
}

/* Reads the chain to its end into out (spec tokens); returns the first
 * error, with what was read before it in out. */
static ErrCode readChain(const ArcChainLink *links, size_t count, Buffer *out, ArcChainTotals *totals)
{
    bufferClear(out);
    ArcChainReader *chain = NULL;
    ErrCode code = arcChainOpen(&chain, links, count);
    while (code == ERR_OK) {
        ArcRecordKind kind;
        const uint8_t *packed = NULL;
        size_t length = 0;
        code = arcChainNext(chain, &kind, &packed, &length);
        if (code != ERR_OK || !packed)
            break;
        assert_int_not_equal(kind, ARC_RECORD_DELETION);
        renderRecord(kind, packed, length, out);
    }
    if (chain && totals)
        *totals = *arcChainTotals(chain);
    if (chain && code == ERR_OK) {
        /* The end repeats. */
        ArcRecordKind kind;
        const uint8_t *packed = (const uint8_t *)"x";
        size_t length = 1;
        assert_int_equal(arcChainNext(chain, &kind, &packed, &length), ERR_OK);
        assert_null(packed);
    }
    arcChainFree(chain);
    bufferAppendByte(out, 0);
    out->length--;
    return code;
}

static void linksOf(ArcChainLink *links, const TestLink *tests, size_t count)
{
    memset(links, 0, count * sizeof(*links));
    for (size_t index = 0; index < count; index++) {
        links[index].location.path = tests[index].path;
        links[index].sha256 = tests[index].sha;
    }
}

static void expectMerged(const TestLink *tests, size_t count, const char *expected)
{
    ArcChainLink links[8];
    linksOf(links, tests, count);
    Buffer out;
    bufferInit(&out);
    assert_int_equal(readChain(links, count, &out, NULL), ERR_OK);
    assert_string_equal((const char *)out.data, expected);
    bufferFree(&out);
}

static void removeLinks(TestLink *tests, size_t count)
{
    for (size_t index = 0; index < count; index++)
        unlink(tests[index].path);
}

/* ---- merge ------------------------------------------------------------------ */

static void testChangedNode(void **state)
{
    (void)state;
    TestLink links[2];
    writeLink(&links[0], "full", ARC_FORMAT_FULL, "S:a N1:1 N2:2 N3:3 R10:1-2:4 R11:2-3:5", NULL, 0);
    writeLink(&links[1], "d1", ARC_FORMAT_DIFF, "S:a S:b N2:20", NULL, 0);
    expectMerged(links, 2, "S:a S:b N2:20 N1:1 N3:3 R10:1-2:4 R11:2-3:5");
    expectMerged(links, 1, "S:a N1:1 N2:2 N3:3 R10:1-2:4 R11:2-3:5");
    removeLinks(links, 2);
}

static void testDeletedNodeAndItsRelationships(void **state)
{
    (void)state;
    TestLink links[2];
    writeLink(&links[0], "full", ARC_FORMAT_FULL, "N1:1 N2:2 N3:3 R10:1-2:4 R11:2-3:5 R12:3-3:6", NULL, 0);
    writeLink(&links[1], "d1", ARC_FORMAT_DIFF, "DN3 DR11 DR12", NULL, 0);
    ArcChainLink chain[2];
    linksOf(chain, links, 2);
    Buffer out;
    bufferInit(&out);
    ArcChainTotals totals;
    assert_int_equal(readChain(chain, 2, &out, &totals), ERR_OK);
    assert_string_equal((const char *)out.data, "N1:1 N2:2 R10:1-2:4");
    assert_int_equal(totals.nodes, 2);
    assert_int_equal(totals.relationships, 1);
    assert_int_equal(totals.schemaItems, 0);
    assert_int_equal(totals.deletedNodes, 1);
    assert_int_equal(totals.deletedRelationships, 2);
    assert_true(totals.linkBytes > 0);
    bufferFree(&out);
    removeLinks(links, 2);
}

/* An id deleted, then reused with new content and new relationships (and a
 * relationship id reused too): the new entities, never the old ones. */
static void testIdReuse(void **state)
{
    (void)state;
    TestLink links[3];
    writeLink(&links[0], "full", ARC_FORMAT_FULL, "N1:1 N2:2 N3:3 R10:1-2:4 R11:2-3:5", NULL, 0);
    writeLink(&links[1], "d1", ARC_FORMAT_DIFF, "DN2 DR10 DR11", NULL, 0);
    writeLink(&links[2], "d2", ARC_FORMAT_DIFF, "N2:22 R12:3-2:6 R10:2-1:7", NULL, 0);
    expectMerged(links, 3, "N2:22 N1:1 N3:3 R12:3-2:6 R10:2-1:7");
    expectMerged(links, 2, "N1:1 N3:3");
    /* Reused within one differential: deleted and created again between two
     * backups is one changed entity. */
    writeLink(&links[1], "d1", ARC_FORMAT_DIFF, "N2:9 R13:2-2:8 DR10 DR11", NULL, 0);
    expectMerged(links, 2, "N2:9 N1:1 N3:3 R13:2-2:8");
    removeLinks(links, 3);
}

static void testRelationshipChangedAcrossLinks(void **state)
{
    (void)state;
    TestLink links[4];
    writeLink(&links[0], "full", ARC_FORMAT_FULL, "S:a N1:1 N2:2 R10:1-2:1 R11:1-2:1 R12:2-1:1", NULL, 0);
    writeLink(&links[1], "d1", ARC_FORMAT_DIFF, "S:a R10:1-2:2 R11:1-2:2", NULL, 0);
    writeLink(&links[2], "d2", ARC_FORMAT_DIFF, "S:a R10:1-2:3 DR11", NULL, 0);
    writeLink(&links[3], "d3", ARC_FORMAT_DIFF, "S:c N1:4", NULL, 0);
    expectMerged(links, 4, "S:c N1:4 N2:2 R12:2-1:1 R10:1-2:3");
    expectMerged(links, 3, "S:a N1:1 N2:2 R12:2-1:1 R10:1-2:3");
    expectMerged(links, 2, "S:a N1:1 N2:2 R12:2-1:1 R10:1-2:2 R11:1-2:2");
    removeLinks(links, 4);
}

/* Within a differential the records may come in any order: deletions first,
 * relationships before nodes; every relationship still follows both its
 * endpoints in the merged stream. */
static void testOrderEveryRelationshipAfterItsEndpoints(void **state)
{
    (void)state;
    TestLink links[3];
    writeLink(&links[0], "full", ARC_FORMAT_FULL, "N1:1 N2:2 R10:1-2:1", NULL, 0);
    writeLink(&links[1], "d1", ARC_FORMAT_DIFF, "R11:3-1:1 DR10 N3:1 R12:4-3:1 N4:1", NULL, 0);
    writeLink(&links[2], "d2", ARC_FORMAT_DIFF, "R13:5-4:1 N5:1 R12:4-3:2", NULL, 0);
    expectMerged(links, 3, "N5:1 N3:1 N4:1 N1:1 N2:2 R13:5-4:1 R12:4-3:2 R11:3-1:1");
    removeLinks(links, 3);
}

/* A chain of one is the plain reader: same records in the same order, and
 * the same error when the archive is damaged. */
static void testChainOfOneIsThePlainReader(void **state)
{
    (void)state;
    char path[256];
    snprintf(path, sizeof(path), "%s/plain", testDir);
    unlink(path);
    ArcWriter *writer = NULL;
    assert_int_equal(arcWriterOpen(&writer, path, ARC_COMPRESSION_GZIP, 0, 4096, NULL, 0), ERR_OK);
    Buffer record;
    bufferInit(&record);
    for (uint32_t index = 0; index < 3000; index++) {
        ArcRecordKind kind = makeRecord(index, &record);
        assert_int_equal(arcWriterAdd(writer, kind, record.data, record.length), ERR_OK);
    }
    ArcTotals written;
    assert_int_equal(arcWriterFinish(writer, &written), ERR_OK);
    arcWriterFree(writer);
    bufferFree(&record);

    for (int damaged = 0; damaged < 2; damaged++) {
        if (damaged) {
            FILE *file = fopen(path, "r+b");
            assert_non_null(file);
            fseek(file, (long)(written.compressedBytes / 2), SEEK_SET);
            int byte = fgetc(file);
            fseek(file, (long)(written.compressedBytes / 2), SEEK_SET);
            fputc(byte ^ 0x40, file);
            fclose(file);
        }
        ArcLocation location = {.path = path};
        ArcChainLink link = {.location = location};
        ArcReader *plain = NULL;
        ArcChainReader *chain = NULL;
        ErrCode plainCode = arcReaderOpenAt(&plain, &location, NULL);
        ErrCode chainCode = arcChainOpen(&chain, &link, 1);
        assert_int_equal(plainCode, ERR_OK);
        assert_int_equal(chainCode, ERR_OK);
        uint64_t count = 0;
        for (;;) {
            ArcRecordKind plainKind = 0, chainKind = 0;
            const uint8_t *plainPacked = NULL, *chainPacked = NULL;
            size_t plainLength = 0, chainLength = 0;
            plainCode = arcReaderNext(plain, &plainKind, &plainPacked, &plainLength);
            char plainReason[sizeof(errLast()->reason)];
            snprintf(plainReason, sizeof(plainReason), "%s", errLast()->reason);
            chainCode = arcChainNext(chain, &chainKind, &chainPacked, &chainLength);
            assert_int_equal(chainCode, plainCode);
            if (plainCode != ERR_OK) {
                assert_string_equal(errLast()->reason, plainReason);
                break;
            }
            if (!plainPacked) {
                assert_null(chainPacked);
                break;
            }
            assert_int_equal(chainKind, plainKind);
            assert_int_equal(chainLength, plainLength);
            assert_memory_equal(chainPacked, plainPacked, plainLength);
            count++;
        }
        assert_true(damaged ? count < 3000 : count == 3000);
        if (!damaged) {
            const ArcChainTotals *totals = arcChainTotals(chain);
            assert_int_equal(totals->schemaItems + totals->nodes + totals->relationships, 3000);
            assert_int_equal(totals->nodes, written.nodeCount);
            assert_int_equal(totals->linkBytes, written.compressedBytes);
        }
        arcReaderFree(plain);
        arcChainFree(chain);
    }
    unlink(path);
}

/* ---- refusals ------------------------------------------------------------------ */

static void expectRefused(const TestLink *tests, size_t count, ErrCode expected, const char *inReason)
{
    ArcChainLink links[8];
    linksOf(links, tests, count);
    Buffer out;
    bufferInit(&out);
    assert_int_equal(readChain(links, count, &out, NULL), expected);
    if (!strstr(errLast()->reason, inReason))
        fail_msg("'%s' not in '%s'", inReason, errLast()->reason);
    bufferFree(&out);
}

static void testWrongSha256(void **state)
{
    (void)state;
    TestLink links[3];
    writeLink(&links[0], "full", ARC_FORMAT_FULL, "N1:1 N2:2", NULL, 0);
    writeLink(&links[1], "d1", ARC_FORMAT_DIFF, "N1:2", NULL, 0);
    writeLink(&links[2], "d2", ARC_FORMAT_DIFF, "N1:3", NULL, 0);
    TestLink bad[3];
    memcpy(bad, links, sizeof(bad));
    bad[1].sha[5] = bad[1].sha[5] == '0' ? '1' : '0';
    expectRefused(bad, 3, BACKUP_CORRUPTED, "link 1 of 3 of the chain");
    memcpy(bad, links, sizeof(bad));
    bad[0].sha[63] = bad[0].sha[63] == '0' ? '1' : '0';
    expectRefused(bad, 3, BACKUP_CORRUPTED, "link 0 of 3 of the chain");
    expectRefused(bad, 1, BACKUP_CORRUPTED, "SHA-256");
    /* A link swapped for another: its SHA-256 is not the manifest's. */
    memcpy(bad, links, sizeof(bad));
    memcpy(bad[1].sha, links[2].sha, sizeof(bad[1].sha));
    expectRefused(bad, 3, BACKUP_CORRUPTED, "link 1 of 3");
    /* A missing link. */
    memcpy(bad, links, sizeof(bad));
    snprintf(bad[1].path, sizeof(bad[1].path), "%s/missing", testDir);
    expectRefused(bad, 3, BACKUP_NOT_FOUND, "link 1 of 3");
    removeLinks(links, 3);
}

static void testFormatsPerLink(void **state)
{
    (void)state;
    TestLink links[2];
    /* A differential as link 0, alone or in a chain. */
    writeLink(&links[0], "full", ARC_FORMAT_DIFF, "N1:1", NULL, 0);
    writeLink(&links[1], "d1", ARC_FORMAT_DIFF, "N1:2", NULL, 0);
    expectRefused(links, 2, BACKUP_CORRUPTED, "where the chain's full backup needs 'nbk-logical-1'");
    expectRefused(links, 1, BACKUP_CORRUPTED, "'nbk-logical-diff-1' where the chain's full backup");
    /* A full as a differential. */
    writeLink(&links[0], "full", ARC_FORMAT_FULL, "N1:1", NULL, 0);
    writeLink(&links[1], "d1", ARC_FORMAT_FULL, "N1:2", NULL, 0);
    expectRefused(links, 2, BACKUP_CORRUPTED, "where a differential needs");
    /* No format: fine for a plain archive, not in a chain. */
    writeLink(&links[0], "full", NULL, "N1:1", NULL, 0);
    writeLink(&links[1], "d1", ARC_FORMAT_DIFF, "N1:2", NULL, 0);
    expectMerged(links, 1, "N1:1");
    expectRefused(links, 2, BACKUP_CORRUPTED, "names no format");
    removeLinks(links, 2);
}

static void testDeletionRecords(void **state)
{
    (void)state;
    TestLink links[2];
    /* In a full, alone or in a chain. */
    writeLink(&links[0], "full", ARC_FORMAT_FULL, "N1:1 DN1", NULL, 0);
    writeLink(&links[1], "d1", ARC_FORMAT_DIFF, "N2:2", NULL, 0);
    expectRefused(links, 1, BACKUP_CORRUPTED, "a deletion record in a full");
    expectRefused(links, 2, BACKUP_CORRUPTED, "link 0 of 2");
    /* Malformed in a differential. */
    writeLink(&links[0], "full", ARC_FORMAT_FULL, "N1:1", NULL, 0);
    writeLink(&links[1], "d1", ARC_FORMAT_DIFF, "N2:2 X", NULL, 0);
    expectRefused(links, 2, BACKUP_CORRUPTED, "a deletion record is not");
    removeLinks(links, 2);
}

/* A record without a key where the merge needs it. */
static void testRecordWithoutKey(void **state)
{
    (void)state;
    TestLink links[2];
    writeLink(&links[0], "full", ARC_FORMAT_FULL, "S:n1", NULL, 0);
    writeLink(&links[1], "d1", ARC_FORMAT_DIFF, "N2:2", NULL, 0);
    /* A schema-looking map written as a node of the differential. */
    char path[256];
    snprintf(path, sizeof(path), "%s/nokey", testDir);
    unlink(path);
    Buffer header, record;
    bufferInit(&header);
    bufferInit(&record);
    packHeader(&header, ARC_FORMAT_DIFF);
    ArcWriter *writer = NULL;
    assert_int_equal(arcWriterOpen(&writer, path, ARC_COMPRESSION_NONE, 0, 0, header.data, header.length), ERR_OK);
    packToken("S:x", &record);
    assert_int_equal(arcWriterAdd(writer, ARC_RECORD_NODE, record.data, record.length), ERR_OK);
    ArcTotals totals;
    assert_int_equal(arcWriterFinish(writer, &totals), ERR_OK);
    arcWriterFree(writer);
    snprintf(links[1].path, sizeof(links[1].path), "%s", path);
    shaHex(totals.fileSha256, links[1].sha);
    expectRefused(links, 2, BACKUP_CORRUPTED, "does not start with its key");
    bufferFree(&header);
    bufferFree(&record);
    unlink(path);
    snprintf(path, sizeof(path), "%s/d1", testDir);
    unlink(path);
    unlink(links[0].path);
}

static void testEncryptedLinks(void **state)
{
    (void)state;
    TestLink tests[3];
    writeLink(&tests[0], "full", ARC_FORMAT_FULL, "S:a N1:1 N2:2 R10:1-2:1", keyOne, 0);
    writeLink(&tests[1], "d1", ARC_FORMAT_DIFF, "S:a N1:2", keyTwo, 0);
    writeLink(&tests[2], "d2", ARC_FORMAT_DIFF, "S:b R10:1-2:5", NULL, 0);
    ArcChainLink links[3];
    linksOf(links, tests, 3);
    links[0].location.dataKey = keyOne;
    links[1].location.dataKey = keyTwo;
    Buffer out;
    bufferInit(&out);
    assert_int_equal(readChain(links, 3, &out, NULL), ERR_OK);
    assert_string_equal((const char *)out.data, "S:b N1:2 N2:2 R10:1-2:5");
    links[1].location.dataKey = NULL;
    assert_int_equal(readChain(links, 3, &out, NULL), BACKUP_KEY_REQUIRED);
    assert_non_null(strstr(errLast()->reason, "link 1 of 3"));
    links[1].location.dataKey = keyOne;
    assert_int_equal(readChain(links, 3, &out, NULL), BACKUP_KEY_INVALID);
    /* The newest link first: its header is the chain's. */
    links[1].location.dataKey = keyTwo;
    ArcChainReader *chain = NULL;
    assert_int_equal(arcChainOpen(&chain, links, 2), ERR_OK);
    size_t length = 0;
    const uint8_t *header = arcChainHeader(chain, &length);
    Buffer expected;
    bufferInit(&expected);
    packHeader(&expected, ARC_FORMAT_DIFF);
    assert_int_equal(length, expected.length);
    assert_memory_equal(header, expected.data, length);
    arcChainFree(chain);
    bufferFree(&expected);
    bufferFree(&out);
    removeLinks(tests, 3);
}

static int compareStrings(const void *left, const void *right)
{
    return strcmp(*(char *const *)left, *(char *const *)right);
}

/* ---- a randomized chain against a model -------------------------------------- */

enum { MODEL_KEYS = 300, MODEL_LINKS = 6 };

typedef struct {
    int64_t node[MODEL_KEYS];     /* version, 0 = absent */
    int64_t rel[MODEL_KEYS];
    int64_t relStart[MODEL_KEYS];
    int64_t relEnd[MODEL_KEYS];
} Model;

/* Appends the tokens of what changed from before to after, in a shuffled
 * order (a differential's order is not promised), deletions included. */
static void appendDiff(const Model *before, const Model *after, Buffer *spec, uint32_t *seed)
{
    char tokens[4 * MODEL_KEYS][48];
    size_t count = 0;
    for (int key = 0; key < MODEL_KEYS; key++) {
        if (after->node[key] && after->node[key] != before->node[key])
            snprintf(tokens[count++], 48, "N%d:%lld", key, (long long)after->node[key]);
        else if (!after->node[key] && before->node[key])
            snprintf(tokens[count++], 48, "DN%d", key);
        if (after->rel[key] && after->rel[key] != before->rel[key])
            snprintf(tokens[count++], 48, "R%d:%lld-%lld:%lld", key, (long long)after->relStart[key],
                     (long long)after->relEnd[key], (long long)after->rel[key]);
        else if (!after->rel[key] && before->rel[key])
            snprintf(tokens[count++], 48, "DR%d", key);
    }
    for (size_t index = count; index > 1; index--) {
        size_t other = nextRandom(seed) % index;
        char swap[48];
        memcpy(swap, tokens[index - 1], 48);
        memcpy(tokens[index - 1], tokens[other], 48);
        memcpy(tokens[other], swap, 48);
    }
    for (size_t index = 0; index < count; index++)
        bufferAppendF(spec, " %s", tokens[index]);
}

static void modelStep(Model *model, int64_t version, uint32_t *seed)
{
    for (int change = 0; change < 40; change++) {
        int key = (int)(nextRandom(seed) % MODEL_KEYS);
        switch (nextRandom(seed) % 4) {
        case 0: /* a node created (an id reused when it was deleted) or changed */
            model->node[key] = version * 1000 + key;
            break;
        case 1: /* a node deleted, with its relationships */
            model->node[key] = 0;
            for (int rel = 0; rel < MODEL_KEYS; rel++)
                if (model->rel[rel] && (model->relStart[rel] == key || model->relEnd[rel] == key))
                    model->rel[rel] = 0;
            break;
        case 2: { /* a relationship created or changed between two live nodes */
            int start = (int)(nextRandom(seed) % MODEL_KEYS), end = (int)(nextRandom(seed) % MODEL_KEYS);
            if (model->node[start] && model->node[end]) {
                model->rel[key] = version * 1000 + key;
                model->relStart[key] = start;
                model->relEnd[key] = end;
            }
            break;
        }
        default:
            model->rel[key] = 0;
        }
    }
}

/* Writes a full and MODEL_LINKS - 1 differentials of a graph changing at
 * random; models[i] is the graph at link i. withSchema adds a schema record
 * naming the link ("full", "link<i>") at the head of each. */
static void writeModelChain(uint32_t *seed, bool withSchema, Model *models, TestLink *tests)
{
    memset(&models[0], 0, sizeof(Model));
    for (int step = 0; step < 6; step++)
        modelStep(&models[0], 1, seed);
    Buffer spec;
    bufferInit(&spec);
    if (withSchema)
        bufferAppendF(&spec, "S:full");
    for (int key = 0; key < MODEL_KEYS; key++)
        if (models[0].node[key])
            bufferAppendF(&spec, " N%d:%lld", key, (long long)models[0].node[key]);
    for (int key = 0; key < MODEL_KEYS; key++)
        if (models[0].rel[key])
            bufferAppendF(&spec, " R%d:%lld-%lld:%lld", key, (long long)models[0].relStart[key],
                          (long long)models[0].relEnd[key], (long long)models[0].rel[key]);
    bufferAppendByte(&spec, 0);
    writeLink(&tests[0], "full", ARC_FORMAT_FULL, (const char *)spec.data, NULL, 4096);
    for (int link = 1; link < MODEL_LINKS; link++) {
        models[link] = models[link - 1];
        modelStep(&models[link], link + 1, seed);
        bufferClear(&spec);
        if (withSchema)
            bufferAppendF(&spec, "S:link%d", link);
        appendDiff(&models[link - 1], &models[link], &spec, seed);
        bufferAppendByte(&spec, 0);
        char name[16];
        snprintf(name, sizeof(name), "d%d", link);
        writeLink(&tests[link], name, ARC_FORMAT_DIFF, (const char *)spec.data, NULL, 4096);
    }
    bufferFree(&spec);
}

/* The graph of model as one full archive, in key order. */
static void writeModelFull(const Model *model, TestLink *test)
{
    Buffer spec;
    bufferInit(&spec);
    for (int key = 0; key < MODEL_KEYS; key++)
        if (model->node[key])
            bufferAppendF(&spec, " N%d:%lld", key, (long long)model->node[key]);
    for (int key = 0; key < MODEL_KEYS; key++)
        if (model->rel[key])
            bufferAppendF(&spec, " R%d:%lld-%lld:%lld", key, (long long)model->relStart[key],
                          (long long)model->relEnd[key], (long long)model->rel[key]);
    bufferAppendByte(&spec, 0);
    writeLink(test, "equal", ARC_FORMAT_FULL, (const char *)spec.data, NULL, 4096);
    bufferFree(&spec);
}

static void testRandomChainsAgainstAModel(void **state)
{
    (void)state;
    uint32_t seed = 12345;
    for (int round = 0; round < 8; round++) {
        Model models[MODEL_LINKS];
        TestLink tests[MODEL_LINKS];
        writeModelChain(&seed, true, models, tests);

        ArcChainLink links[MODEL_LINKS];
        linksOf(links, tests, MODEL_LINKS);
        for (size_t count = 1; count <= MODEL_LINKS; count++) {
            const Model *model = &models[count - 1];
            bool nodeSeen[MODEL_KEYS] = {false}, relSeen[MODEL_KEYS] = {false};
            ArcChainReader *chain = NULL;
            assert_int_equal(arcChainOpen(&chain, links, count), ERR_OK);
            uint64_t schema = 0, entities = 0;
            Arena *arena = arenaNew(0);
            for (;;) {
                ArcRecordKind kind;
                const uint8_t *packed = NULL;
                size_t length = 0;
                assert_int_equal(arcChainNext(chain, &kind, &packed, &length), ERR_OK);
                if (!packed)
                    break;
                arenaReset(arena);
                PackReader reader;
                packReaderInit(&reader, packed, length);
                BoltValue value;
                assert_int_equal(unpackValue(&reader, arena, &value), ERR_OK);
                if (kind == ARC_RECORD_SCHEMA) {
                    char expected[16];
                    snprintf(expected, sizeof(expected), count == 1 ? "full" : "link%zu", count - 1);
                    assert_string_equal(boltMapGetString(&value, "name", ""), expected);
                    assert_int_equal(entities, 0);
                    schema++;
                    continue;
                }
                entities++;
                const BoltValue *items = value.as.list.items;
                int64_t key = items[0].as.integer;
                assert_true(key >= 0 && key < MODEL_KEYS);
                if (kind == ARC_RECORD_NODE) {
                    assert_false(nodeSeen[key]);
                    nodeSeen[key] = true;
                    assert_int_equal(boltMapGetInt(&items[2], "v", -1), model->node[key]);
                } else {
                    assert_false(relSeen[key]);
                    relSeen[key] = true;
                    assert_int_equal(boltMapGetInt(&items[4], "v", -1), model->rel[key]);
                    assert_int_equal(items[1].as.integer, model->relStart[key]);
                    assert_int_equal(items[2].as.integer, model->relEnd[key]);
                    /* Both endpoints came before. */
                    assert_true(nodeSeen[items[1].as.integer]);
                    assert_true(nodeSeen[items[2].as.integer]);
                }
            }
            arenaFree(arena);
            assert_int_equal(schema, 1);
            for (int key = 0; key < MODEL_KEYS; key++) {
                assert_int_equal(nodeSeen[key], model->node[key] != 0);
                assert_int_equal(relSeen[key], model->rel[key] != 0);
            }
            arcChainFree(chain);
        }
        removeLinks(tests, MODEL_LINKS);
    }
}

/* Sorted lines of a file, joined: the rows whatever their order. */
static void sortedLines(const char *path, Buffer *out)
{
    FILE *file = fopen(path, "r");
    assert_non_null(file);
    char **lines = NULL;
    size_t count = 0;
    char line[512];
    while (fgets(line, sizeof(line), file)) {
        lines = realloc(lines, (count + 1) * sizeof(char *));
        lines[count++] = strdup(line);
    }
    fclose(file);
    qsort(lines, count, sizeof(char *), compareStrings);
    bufferClear(out);
    for (size_t index = 0; index < count; index++) {
        bufferAppend(out, lines[index], strlen(lines[index]));
        free(lines[index]);
    }
    free(lines);
    bufferAppendByte(out, 0);
}

static void removeImportFiles(const ImportCsv *csv, const char *directory)
{
    const char *files[] = {csv->nodeHeader, csv->nodeData, csv->relationshipHeader, csv->relationshipData,
                           csv->nodeFixups, csv->relationshipFixups, csv->reportFile};
    for (size_t index = 0; index < sizeof(files) / sizeof(files[0]); index++)
        if (files[index][0])
            unlink(files[index]);
    rmdir(directory);
}

static void importInto(const char *name, const ArcChainLink *links, size_t count, ImportCsv *csv, char *directory)
{
    snprintf(directory, 256, "%s/%s", testDir, name);
    assert_int_equal(mkdir(directory, 0700), 0);
    ImportCsvRequest request = {.directory = directory};
    if (count == 1)
        request.archive = links[0].location;
    else
        request.chain = links, request.chainCount = count;
    assert_int_equal(importCsvWrite(&request, csv), ERR_OK);
}

/* The consumers read a chain as the graph at its newest link: the health
 * checks' archive content (fingerprint, counts) and the import files equal
 * those of one full archive of that graph. */
static void testConsumersReadTheMergedGraph(void **state)
{
    (void)state;
    uint32_t seed = 777;
    Model models[MODEL_LINKS];
    TestLink tests[MODEL_LINKS + 1];
    writeModelChain(&seed, false, models, tests);
    writeModelFull(&models[MODEL_LINKS - 1], &tests[MODEL_LINKS]);
    ArcChainLink links[MODEL_LINKS + 1];
    linksOf(links, tests, MODEL_LINKS + 1);

    ArchiveContent merged, equal;
    assert_int_equal(healthArchiveContentScanChain(links, MODEL_LINKS, &merged, NULL, NULL), ERR_OK);
    assert_int_equal(healthArchiveContentScan(&links[MODEL_LINKS].location, &equal, NULL, NULL), ERR_OK);
    assert_string_equal(merged.fingerprint, equal.fingerprint);
    assert_int_equal(merged.nodes, equal.nodes);
    assert_int_equal(merged.relationships, equal.relationships);
    assert_int_equal(merged.orphanRelationships, 0);
    assert_true(merged.nodes > 0 && merged.relationships > 0);
    arcContentFree(&merged);
    arcContentFree(&equal);
    /* The full alone is another graph. */
    assert_int_equal(healthArchiveContentScanChain(links, 1, &merged, NULL, NULL), ERR_OK);
    assert_int_equal(healthArchiveContentScan(&links[MODEL_LINKS].location, &equal, NULL, NULL), ERR_OK);
    assert_string_not_equal(merged.fingerprint, equal.fingerprint);
    arcContentFree(&merged);
    arcContentFree(&equal);

    ImportCsv fromChain, fromFull;
    char chainDir[256], fullDir[256];
    importInto("import-chain", links, MODEL_LINKS, &fromChain, chainDir);
    importInto("import-full", &links[MODEL_LINKS], 1, &fromFull, fullDir);
    assert_int_equal(fromChain.nodes, fromFull.nodes);
    assert_int_equal(fromChain.relationships, fromFull.relationships);
    assert_int_equal(fromChain.orphanRelationships, 0);
    assert_string_equal(fromChain.archive.fingerprint, fromFull.archive.fingerprint);
    Buffer left, right;
    bufferInit(&left);
    bufferInit(&right);
    sortedLines(fromChain.nodeData, &left);
    sortedLines(fromFull.nodeData, &right);
    assert_string_equal((const char *)left.data, (const char *)right.data);
    sortedLines(fromChain.relationshipData, &left);
    sortedLines(fromFull.relationshipData, &right);
    assert_string_equal((const char *)left.data, (const char *)right.data);
    bufferFree(&left);
    bufferFree(&right);
    removeImportFiles(&fromChain, chainDir);
    removeImportFiles(&fromFull, fullDir);
    importCsvFree(&fromChain);
    importCsvFree(&fromFull);
    removeLinks(tests, MODEL_LINKS + 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(testChangedNode),
        cmocka_unit_test(testDeletedNodeAndItsRelationships),
        cmocka_unit_test(testIdReuse),
        cmocka_unit_test(testRelationshipChangedAcrossLinks),
        cmocka_unit_test(testOrderEveryRelationshipAfterItsEndpoints),
        cmocka_unit_test(testChainOfOneIsThePlainReader),
        cmocka_unit_test(testWrongSha256),
        cmocka_unit_test(testFormatsPerLink),
        cmocka_unit_test(testDeletionRecords),
        cmocka_unit_test(testRecordWithoutKey),
        cmocka_unit_test(testEncryptedLinks),
        cmocka_unit_test(testRandomChainsAgainstAModel),
        cmocka_unit_test(testConsumersReadTheMergedGraph),
    };
    return cmocka_run_group_tests(tests, setupDir, removeDir);
}
