/* Unit tests for src/archive: round trips for every compression, the exact
 * inner byte layout, standard tools reading the outer layer, and damage of
 * every kind (flipped bytes, truncation, trailing data, hostile lengths)
 * always reported as BACKUP_CORRUPTED. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "archive/archive.h"
#include "archive_records.h"
#include "bolt/packstream.h"
#include "archive/archive_format.h"
#include "common/buffer.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <stdbool.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static char testDir[256];

static const ArcCompression allCompressions[] = {ARC_COMPRESSION_NONE, ARC_COMPRESSION_GZIP,
                                                 ARC_COMPRESSION_ZSTD};
enum { COMPRESSION_COUNT = 3 };

static void testPath(char *path, size_t size, const char *name)
{
    snprintf(path, size, "%s/%s", testDir, name);
}

static int setUpDir(void **state)
{
    snprintf(testDir, sizeof(testDir), "/tmp/nbk-archive-test-XXXXXX");
    return mkdtemp(testDir) ? 0 : -1;
}

static int tearDownDir(void **state)
{
    char command[512];
    snprintf(command, sizeof(command), "rm -rf '%s'", testDir);
    return system(command) == 0 ? 0 : -1;
}

static void writeArchive(const char *path, ArcCompression compression, uint32_t count,
                         size_t blockSize, ArcTotals *totals)
{
    static const uint8_t header[] = {0xA2, 0x81, 'v', 0x01, 0x81, 'd', 0x83, 'g', 'd', 'b'};
    ArcWriter *writer = NULL;
    assert_int_equal(arcWriterOpen(&writer, path, compression, 0, blockSize, header, sizeof(header)),
                     ERR_OK);
    Buffer record;
    bufferInit(&record);
    for (uint32_t index = 0; index < count; index++) {
        ArcRecordKind kind = makeRecord(index, &record);
        assert_int_equal(arcWriterAdd(writer, kind, record.data, record.length), ERR_OK);
    }
    assert_int_equal(arcWriterFinish(writer, totals), ERR_OK);
    arcWriterFree(writer);
    bufferFree(&record);
}

static void readFileBytes(const char *path, Buffer *into)
{
    bufferClear(into);
    FILE *file = fopen(path, "rb");
    assert_non_null(file);
    uint8_t chunk[65536];
    size_t got;
    while ((got = fread(chunk, 1, sizeof(chunk), file)) > 0)
        bufferAppend(into, chunk, got);
    fclose(file);
}

/* Reads an archive image held in memory to its end; returns the first error
 * or ERR_OK after a clean end. */
static ErrCode readAllBytesTotals(const uint8_t *data, size_t length, const char *expectHex,
                                  uint64_t *recordsOut, ArcTotals *totalsOut)
{
    int fd = memfd_create("archive-test", MFD_CLOEXEC);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, data, length), (ssize_t)length);
    assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
    ArcReader *reader = NULL;
    ErrCode result = arcReaderOpenFd(&reader, fd, "memory");
    uint64_t records = 0;
    if (result == ERR_OK && expectHex)
        result = arcReaderExpectSha256(reader, expectHex);
    while (result == ERR_OK) {
        ArcRecordKind kind;
        const uint8_t *packed = NULL;
        size_t recordLength = 0;
        result = arcReaderNext(reader, &kind, &packed, &recordLength);
        if (result != ERR_OK || !packed)
            break;
        records++;
    }
    if (totalsOut && reader)
        *totalsOut = *arcReaderTotals(reader);
    arcReaderFree(reader);
    if (recordsOut)
        *recordsOut = records;
    return result;
}

static ErrCode readAllBytes(const uint8_t *data, size_t length, const char *expectHex,
                            uint64_t *recordsOut)
{
    return readAllBytesTotals(data, length, expectHex, recordsOut, NULL);
}

static void hexOf(const uint8_t digest[32], char hex[65])
{
    for (int index = 0; index < 32; index++)
        snprintf(hex + 2 * index, 3, "%02x", digest[index]);
}

static void testCompressionNames(void **state)
{
    ArcCompression parsed = ARC_COMPRESSION_NONE;
    for (int index = 0; index < COMPRESSION_COUNT; index++) {
        assert_int_equal(arcCompressionParse(arcCompressionName(allCompressions[index]), &parsed),
                         ERR_OK);
        assert_int_equal(parsed, allCompressions[index]);
    }
    assert_int_equal(arcCompressionParse("lz4", &parsed), CONFIG_INVALID);
    assert_int_equal(arcCompressionParse("ZSTD", &parsed), CONFIG_INVALID);
    assert_string_equal(arcFileName(ARC_COMPRESSION_NONE), "graph.nbk");
    assert_string_equal(arcFileName(ARC_COMPRESSION_GZIP), "graph.nbk.gz");
    assert_string_equal(arcFileName(ARC_COMPRESSION_ZSTD), "graph.nbk.zst");
}

static void testCrc32c(void **state)
{
    /* The standard check value of CRC-32C. */
    assert_int_equal(arcCrc32c(0, "123456789", 9), 0xE3069283u);
    assert_int_equal(arcCrc32cSoftware(0, "123456789", 9), 0xE3069283u);
    assert_int_equal(arcCrc32c(0, "", 0), 0);
    /* 32 zero bytes (RFC 3720 B.4). */
    uint8_t zeros[32] = {0};
    assert_int_equal(arcCrc32c(0, zeros, sizeof(zeros)), 0x8A9136AAu);
    uint8_t data[1000];
    uint32_t seed = 7;
    for (size_t index = 0; index < sizeof(data); index++)
        data[index] = (uint8_t)nextRandom(&seed);
    for (size_t start = 0; start < 9; start++) {
        for (size_t length = 0; length + start <= sizeof(data); length += 37) {
            uint32_t whole = arcCrc32cSoftware(0, data + start, length);
            assert_int_equal(arcCrc32c(0, data + start, length), whole);
            size_t half = length / 3;
            assert_int_equal(arcCrc32c(arcCrc32c(0, data + start, half), data + start + half,
                                       length - half),
                             whole);
        }
    }
}

static void checkRoundTrip(ArcCompression compression, uint32_t count)
{
    char path[512];
    testPath(path, sizeof(path), arcFileName(compression));
    unlink(path);
    ArcTotals written;
    writeArchive(path, compression, count, 4096, &written);

    struct stat status;
    assert_int_equal(stat(path, &status), 0);
    assert_int_equal(status.st_mode & 0777, 0600);
    assert_int_equal((uint64_t)status.st_size, written.compressedBytes);
    char hex[65];
    uint64_t size = 0;
    assert_int_equal(arcSha256File(path, hex, &size), ERR_OK);
    assert_int_equal(size, written.compressedBytes);
    char writtenHex[65];
    hexOf(written.fileSha256, writtenHex);
    assert_string_equal(hex, writtenHex);

    ArcReader *reader = NULL;
    assert_int_equal(arcReaderOpen(&reader, path), ERR_OK);
    assert_int_equal(arcReaderCompression(reader), compression);
    assert_int_equal(arcReaderExpectSha256(reader, hex), ERR_OK);
    size_t headerLength = 0;
    const uint8_t *header = arcReaderHeader(reader, &headerLength);
    assert_int_equal(headerLength, 10);
    assert_int_equal(header[0], 0xA2);
    Buffer expected;
    bufferInit(&expected);
    uint32_t seen = 0;
    for (;;) {
        ArcRecordKind kind;
        const uint8_t *packed = NULL;
        size_t length = 0;
        assert_int_equal(arcReaderNext(reader, &kind, &packed, &length), ERR_OK);
        if (!packed)
            break;
        assert_true(seen < count);
        ArcRecordKind expectedKind = makeRecord(seen, &expected);
        assert_int_equal(kind, expectedKind);
        assert_int_equal(length, expected.length);
        assert_memory_equal(packed, expected.data, length);
        seen++;
    }
    assert_int_equal(seen, count);
    /* After the end, the end again. */
    ArcRecordKind kind;
    const uint8_t *packed = (const uint8_t *)"x";
    size_t length = 1;
    assert_int_equal(arcReaderNext(reader, &kind, &packed, &length), ERR_OK);
    assert_null(packed);

    const ArcTotals *read = arcReaderTotals(reader);
    assert_int_equal(read->schemaCount, written.schemaCount);
    assert_int_equal(read->nodeCount, written.nodeCount);
    assert_int_equal(read->relationshipCount, written.relationshipCount);
    assert_int_equal(read->schemaCount + read->nodeCount + read->relationshipCount, count);
    assert_int_equal(read->uncompressedBytes, written.uncompressedBytes);
    assert_int_equal(read->compressedBytes, written.compressedBytes);
    assert_memory_equal(read->contentDigest, written.contentDigest, 32);
    assert_memory_equal(read->fileSha256, written.fileSha256, 32);
    arcReaderFree(reader);
    bufferFree(&expected);
}

static void testRoundTripNone(void **state) { checkRoundTrip(ARC_COMPRESSION_NONE, 3000); }
static void testRoundTripGzip(void **state) { checkRoundTrip(ARC_COMPRESSION_GZIP, 3000); }
static void testRoundTripZstd(void **state) { checkRoundTrip(ARC_COMPRESSION_ZSTD, 3000); }

static void testZeroRecords(void **state)
{
    for (int index = 0; index < COMPRESSION_COUNT; index++)
        checkRoundTrip(allCompressions[index], 0);
}

static void testDefaultBlockSize(void **state)
{
    /* The 1 MiB default: everything in few blocks, still a round trip. */
    char path[512];
    testPath(path, sizeof(path), "default.nbk.zst");
    ArcTotals totals;
    writeArchive(path, ARC_COMPRESSION_ZSTD, 20000, 0, &totals);
    ArcReader *reader = NULL;
    assert_int_equal(arcReaderOpen(&reader, path), ERR_OK);
    uint64_t records = 0;
    ArcRecordKind kind;
    const uint8_t *packed = NULL;
    size_t length = 0;
    while (arcReaderNext(reader, &kind, &packed, &length) == ERR_OK && packed)
        records++;
    assert_int_equal(records, 20000);
    assert_memory_equal(arcReaderTotals(reader)->contentDigest, totals.contentDigest, 32);
    arcReaderFree(reader);
    unlink(path);
}

static void appendSection(Buffer *into, uint8_t kind, const uint8_t *payload, size_t length)
{
    size_t start = into->length;
    bufferAppendByte(into, kind);
    bufferAppendU32BE(into, (uint32_t)length);
    bufferAppend(into, payload, length);
    bufferAppendU32BE(into, arcCrc32c(0, into->data + start, into->length - start));
}

/* The inner stream, rebuilt here from the spec, must equal the file byte
 * for byte. */
static void testInnerStreamLayout(void **state)
{
    char path[512];
    testPath(path, sizeof(path), "layout.nbk");
    unlink(path);
    ArcWriter *writer = NULL;
    assert_int_equal(arcWriterOpen(&writer, path, ARC_COMPRESSION_NONE, 0, 0,
                                   (const uint8_t *)"HDR", 3),
                     ERR_OK);
    assert_int_equal(arcWriterAdd(writer, ARC_RECORD_SCHEMA, (const uint8_t *)"abc", 3), ERR_OK);
    assert_int_equal(arcWriterAdd(writer, ARC_RECORD_NODE, (const uint8_t *)"", 0), ERR_OK);
    assert_int_equal(arcWriterAdd(writer, ARC_RECORD_RELATIONSHIP, (const uint8_t *)"xyz12", 5),
                     ERR_OK);
    assert_true(arcWriterBytesWritten(writer) > 0);
    ArcTotals totals;
    assert_int_equal(arcWriterFinish(writer, &totals), ERR_OK);
    arcWriterFree(writer);

    Buffer expected;
    bufferInit(&expected);
    bufferAppend(&expected, "NBKARCH1", 8);
    bufferAppendU16BE(&expected, 1);
    appendSection(&expected, 'H', (const uint8_t *)"HDR", 3);
    Buffer block;
    bufferInit(&block);
    bufferAppendU32BE(&block, 3);
    size_t recordsStart = block.length;
    bufferAppendByte(&block, 'S');
    bufferAppendU32BE(&block, 3);
    bufferAppend(&block, "abc", 3);
    bufferAppendByte(&block, 'N');
    bufferAppendU32BE(&block, 0);
    bufferAppendByte(&block, 'R');
    bufferAppendU32BE(&block, 5);
    bufferAppend(&block, "xyz12", 5);
    appendSection(&expected, 'B', block.data, block.length);
    uint8_t digest[32];
    unsigned int digestLength = 0;
    EVP_Digest(block.data + recordsStart, block.length - recordsStart, digest, &digestLength,
               EVP_sha256(), NULL);
    uint64_t footerOffset = expected.length;
    Buffer footer;
    bufferInit(&footer);
    bufferAppendU64BE(&footer, 1);
    bufferAppendU64BE(&footer, 1);
    bufferAppendU64BE(&footer, 1);
    bufferAppendU64BE(&footer, 1);
    bufferAppendU64BE(&footer, footerOffset);
    bufferAppend(&footer, digest, sizeof(digest));
    assert_int_equal(footer.length, ARC_FOOTER_PAYLOAD_LENGTH);
    appendSection(&expected, 'F', footer.data, footer.length);

    Buffer actual;
    bufferInit(&actual);
    readFileBytes(path, &actual);
    assert_int_equal(actual.length, expected.length);
    assert_memory_equal(actual.data, expected.data, expected.length);
    assert_memory_equal(totals.contentDigest, digest, 32);
    assert_int_equal(totals.uncompressedBytes, expected.length);
    assert_int_equal(totals.compressedBytes, expected.length);
    assert_int_equal(totals.schemaCount, 1);
    bufferFree(&expected);
    bufferFree(&block);
    bufferFree(&footer);
    bufferFree(&actual);
    unlink(path);
}

/* zstd -d and gunzip of the file give exactly the inner stream, which is
 * the uncompressed archive of the same records. */
static void testStandardToolsReadOuterLayer(void **state)
{
    char rawPath[512], gzipPath[512], zstdPath[512], outPath[512], command[2048];
    testPath(rawPath, sizeof(rawPath), "tools.nbk");
    testPath(gzipPath, sizeof(gzipPath), "tools.nbk.gz");
    testPath(zstdPath, sizeof(zstdPath), "tools.nbk.zst");
    testPath(outPath, sizeof(outPath), "tools.out");
    ArcTotals totals;
    writeArchive(rawPath, ARC_COMPRESSION_NONE, 2000, 4096, &totals);
    writeArchive(gzipPath, ARC_COMPRESSION_GZIP, 2000, 4096, &totals);
    writeArchive(zstdPath, ARC_COMPRESSION_ZSTD, 2000, 4096, &totals);
    Buffer raw, decoded;
    bufferInit(&raw);
    bufferInit(&decoded);
    readFileBytes(rawPath, &raw);
    assert_memory_equal(raw.data, "NBKARCH1", 8);

    snprintf(command, sizeof(command), "zstd -q -t '%s' && zstd -q -dc '%s' > '%s'", zstdPath,
             zstdPath, outPath);
    assert_int_equal(system(command), 0);
    readFileBytes(outPath, &decoded);
    assert_int_equal(decoded.length, raw.length);
    assert_memory_equal(decoded.data, raw.data, raw.length);

    snprintf(command, sizeof(command), "gzip -t '%s' && gunzip -c '%s' > '%s'", gzipPath,
             gzipPath, outPath);
    assert_int_equal(system(command), 0);
    readFileBytes(outPath, &decoded);
    assert_int_equal(decoded.length, raw.length);
    assert_memory_equal(decoded.data, raw.data, raw.length);

    /* One frame per section: header, every block, footer. */
    uint64_t blocks = arcReadU64BE(raw.data + raw.length - ARC_SECTION_CRC_LENGTH -
                                   ARC_FOOTER_PAYLOAD_LENGTH + 24);
    assert_true(blocks > 10);
    snprintf(command, sizeof(command), "zstd -lv '%s' 2>/dev/null | sed -n 's/# Zstandard Frames: //p'",
             zstdPath);
    FILE *pipe = popen(command, "r");
    assert_non_null(pipe);
    char line[64] = {0};
    assert_non_null(fgets(line, sizeof(line), pipe));
    pclose(pipe);
    assert_int_equal(strtoull(line, NULL, 10), blocks + 2);
    bufferFree(&raw);
    bufferFree(&decoded);
}

/* Flips a byte at many positions of each kind of file: never a crash, and
 * with the expected SHA-256 always BACKUP_CORRUPTED. Without it, a flip may
 * pass only where no data depends on the bits (gzip MTIME/XFL/OS, deflate
 * padding bits): the records read must then be exactly the ones written. */
static void testFlippedBytesDetected(void **state)
{
    static const uint8_t masks[] = {0xFF, 0x01, 0x80, 0x10, 0x40, 0x04};
    for (int index = 0; index < COMPRESSION_COUNT; index++) {
        ArcCompression compression = allCompressions[index];
        char path[512];
        testPath(path, sizeof(path), "flip.nbk");
        unlink(path);
        ArcTotals totals;
        writeArchive(path, compression, 600, 4096, &totals);
        char hex[65];
        hexOf(totals.fileSha256, hex);
        Buffer original;
        bufferInit(&original);
        readFileBytes(path, &original);
        unlink(path);
        assert_int_equal(readAllBytes(original.data, original.length, hex, NULL), ERR_OK);

        uint8_t *damaged = malloc(original.length);
        size_t tried = 0, passedWithoutSha = 0;
        for (size_t position = 0; position < original.length; position++) {
            bool edge = position < 48 || position + 48 >= original.length;
            if (!edge && position % 97 != 0)
                continue;
            memcpy(damaged, original.data, original.length);
            damaged[position] ^= masks[tried % sizeof(masks)];
            tried++;
            ErrCode withSha = readAllBytes(damaged, original.length, hex, NULL);
            if (withSha != BACKUP_CORRUPTED)
                fail_msg("%s: flip at %zu gave %s", arcCompressionName(compression), position,
                         errName(withSha));
            ArcTotals read;
            uint64_t records = 0;
            if (readAllBytesTotals(damaged, original.length, NULL, &records, &read) == ERR_OK) {
                passedWithoutSha++;
                if (compression == ARC_COMPRESSION_NONE)
                    fail_msg("none: flip at %zu passed unnoticed", position);
                assert_int_equal(records, 600);
                assert_memory_equal(read.contentDigest, totals.contentDigest, 32);
                assert_int_equal(read.uncompressedBytes, totals.uncompressedBytes);
            }
        }
        printf("%s: %zu flips tried on %zu bytes, %zu caught only by the file SHA-256\n",
               arcCompressionName(compression), tried, original.length, passedWithoutSha);
        free(damaged);
        bufferFree(&original);
    }
}

static void testTruncationDetected(void **state)
{
    for (int index = 0; index < COMPRESSION_COUNT; index++) {
        ArcCompression compression = allCompressions[index];
        char path[512];
        testPath(path, sizeof(path), "truncate.nbk");
        unlink(path);
        ArcTotals totals;
        writeArchive(path, compression, 600, 4096, &totals);
        Buffer original;
        bufferInit(&original);
        readFileBytes(path, &original);
        unlink(path);
        for (size_t length = 0; length < original.length; length++) {
            if (length % 53 != 0 && length + 40 < original.length && length > 40)
                continue;
            uint64_t records = 0;
            ErrCode result = readAllBytes(original.data, length, NULL, &records);
            if (result != BACKUP_CORRUPTED)
                fail_msg("%s truncated to %zu of %zu bytes gave %s",
                         arcCompressionName(compression), length, original.length,
                         errName(result));
        }
        bufferFree(&original);
    }
}

static void testTrailingDataDetected(void **state)
{
    /* An empty zstd frame and a zstd skippable frame: both decode to nothing. */
    static const uint8_t emptyZstdFrame[] = {0x28, 0xB5, 0x2F, 0xFD, 0x20, 0x00, 0x01, 0x00, 0x00};
    static const uint8_t skippableFrame[] = {0x50, 0x2A, 0x4D, 0x18, 0x00, 0x00, 0x00, 0x00};
    static const uint8_t emptyGzipMember[] = {0x1F, 0x8B, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
                                              0x03, 0x03, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
                                              0x00, 0x00};
    struct {
        const uint8_t *bytes;
        size_t length;
    } tails[] = {{(const uint8_t *)"x", 1},
                 {(const uint8_t *)"\0\0\0\0", 4},
                 {emptyZstdFrame, sizeof(emptyZstdFrame)},
                 {skippableFrame, sizeof(skippableFrame)},
                 {emptyGzipMember, sizeof(emptyGzipMember)}};
    for (int index = 0; index < COMPRESSION_COUNT; index++) {
        ArcCompression compression = allCompressions[index];
        char path[512];
        testPath(path, sizeof(path), "trailing.nbk");
        unlink(path);
        ArcTotals totals;
        writeArchive(path, compression, 100, 4096, &totals);
        Buffer image;
        bufferInit(&image);
        readFileBytes(path, &image);
        unlink(path);
        size_t originalLength = image.length;
        for (size_t tail = 0; tail < sizeof(tails) / sizeof(tails[0]); tail++) {
            image.length = originalLength;
            bufferAppend(&image, tails[tail].bytes, tails[tail].length);
            ErrCode result = readAllBytes(image.data, image.length, NULL, NULL);
            if (result != BACKUP_CORRUPTED)
                fail_msg("%s with trailing data %zu gave %s", arcCompressionName(compression),
                         tail, errName(result));
        }
        /* The archive twice in a row. */
        image.length = originalLength;
        bufferReserve(&image, originalLength);
        memcpy(image.data + originalLength, image.data, originalLength);
        image.length = 2 * originalLength;
        assert_int_equal(readAllBytes(image.data, image.length, NULL, NULL), BACKUP_CORRUPTED);
        assert_non_null(strstr(errLast()->reason, "after the footer"));
        bufferFree(&image);
    }
}

static void testErrorMessagesLocateDamage(void **state)
{
    char path[512];
    testPath(path, sizeof(path), "locate.nbk");
    unlink(path);
    ArcTotals totals;
    writeArchive(path, ARC_COMPRESSION_NONE, 600, 4096, &totals);
    Buffer image;
    bufferInit(&image);
    readFileBytes(path, &image);
    unlink(path);

    /* Damage inside block 3's records. */
    size_t offset = ARC_PREAMBLE_LENGTH;
    for (int section = 0; section < 3; section++)
        offset += ARC_SECTION_PREFIX_LENGTH + arcReadU32BE(image.data + offset + 1) +
                  ARC_SECTION_CRC_LENGTH;
    size_t block3 = offset;
    image.data[block3 + 20] ^= 0x55;
    uint64_t records = 0;
    assert_int_equal(readAllBytes(image.data, image.length, NULL, &records), BACKUP_CORRUPTED);
    char expected[128];
    snprintf(expected, sizeof(expected), "block 3 at inner offset %zu: CRC mismatch", block3);
    if (!strstr(errLast()->reason, expected))
        fail_msg("reason '%s' lacks '%s'", errLast()->reason, expected);
    assert_true(records > 0); /* blocks 1 and 2 were handed out before */
    image.data[block3 + 20] ^= 0x55;

    /* Cut right after block 2: no footer. */
    assert_int_equal(readAllBytes(image.data, block3, NULL, NULL), BACKUP_CORRUPTED);
    if (!strstr(errLast()->reason, "no footer after block 2"))
        fail_msg("reason '%s'", errLast()->reason);

    /* A footer that counts one node more than was written, CRC made valid:
     * the counts are checked, not only the checksums. */
    size_t footer = image.length - ARC_SECTION_CRC_LENGTH - ARC_FOOTER_PAYLOAD_LENGTH -
                    ARC_SECTION_PREFIX_LENGTH;
    assert_int_equal(image.data[footer], 'F');
    uint8_t *nodeCount = image.data + footer + ARC_SECTION_PREFIX_LENGTH + 8;
    nodeCount[7]++;
    arcWriteU32BE(image.data + image.length - 4,
                  arcCrc32c(0, image.data + footer, image.length - 4 - footer));
    assert_int_equal(readAllBytes(image.data, image.length, NULL, NULL), BACKUP_CORRUPTED);
    snprintf(expected, sizeof(expected), "footer counts %llu nodes but %llu were read",
             (unsigned long long)totals.nodeCount + 1, (unsigned long long)totals.nodeCount);
    if (!strstr(errLast()->reason, expected))
        fail_msg("reason '%s' lacks '%s'", errLast()->reason, expected);
    bufferFree(&image);

    /* zstd: the frame's file offset is named. */
    testPath(path, sizeof(path), "locate.nbk.zst");
    unlink(path);
    writeArchive(path, ARC_COMPRESSION_ZSTD, 600, 4096, &totals);
    bufferInit(&image);
    readFileBytes(path, &image);
    unlink(path);
    image.data[image.length / 2] ^= 0xFF;
    assert_int_equal(readAllBytes(image.data, image.length, NULL, NULL), BACKUP_CORRUPTED);
    if (!strstr(errLast()->reason, "zstd frame at file offset"))
        fail_msg("reason '%s'", errLast()->reason);
    bufferFree(&image);
}

/* CRC-valid sections with lying lengths and counts, as a hostile writer
 * would make them. */
static void testHostileStructure(void **state)
{
    Buffer image, payload;
    bufferInit(&image);
    bufferInit(&payload);

    /* A section length beyond the limit. */
    bufferAppend(&image, "NBKARCH1\0\1", 10);
    bufferAppendByte(&image, 'H');
    bufferAppendU32BE(&image, 0xFFFFFFF0u);
    assert_int_equal(readAllBytes(image.data, image.length, NULL, NULL), BACKUP_CORRUPTED);
    assert_non_null(strstr(errLast()->reason, "exceeds the limit"));

    /* A block declaring far more records than it can hold. */
    bufferClear(&image);
    bufferAppend(&image, "NBKARCH1\0\1", 10);
    appendSection(&image, 'H', (const uint8_t *)"", 0);
    bufferAppendU32BE(&payload, 0x7FFFFFFF);
    bufferAppend(&payload, "N\0\0\0\0", 5);
    appendSection(&image, 'B', payload.data, payload.length);
    assert_int_equal(readAllBytes(image.data, image.length, NULL, NULL), BACKUP_CORRUPTED);
    assert_non_null(strstr(errLast()->reason, "declares 2147483647 records"));

    /* A record whose length runs past its block. */
    bufferClear(&image);
    bufferClear(&payload);
    bufferAppend(&image, "NBKARCH1\0\1", 10);
    appendSection(&image, 'H', (const uint8_t *)"", 0);
    bufferAppendU32BE(&payload, 1);
    bufferAppend(&payload, "N\0\0\1\0abc", 8);
    appendSection(&image, 'B', payload.data, payload.length);
    assert_int_equal(readAllBytes(image.data, image.length, NULL, NULL), BACKUP_CORRUPTED);
    assert_non_null(strstr(errLast()->reason, "overruns the block"));

    /* An unknown record kind and an unknown format version. */
    bufferClear(&image);
    bufferClear(&payload);
    bufferAppend(&image, "NBKARCH1\0\1", 10);
    appendSection(&image, 'H', (const uint8_t *)"", 0);
    bufferAppendU32BE(&payload, 1);
    bufferAppend(&payload, "X\0\0\0\0", 5);
    appendSection(&image, 'B', payload.data, payload.length);
    assert_int_equal(readAllBytes(image.data, image.length, NULL, NULL), BACKUP_CORRUPTED);
    assert_non_null(strstr(errLast()->reason, "unknown kind 0x58"));
    image.data[9] = 2;
    assert_int_equal(readAllBytes(image.data, image.length, NULL, NULL), BACKUP_CORRUPTED);
    assert_non_null(strstr(errLast()->reason, "format version 2"));

    /* Not an archive at all, and an empty file. */
    assert_int_equal(readAllBytes((const uint8_t *)"hello world", 11, NULL, NULL), BACKUP_CORRUPTED);
    assert_int_equal(readAllBytes((const uint8_t *)"", 0, NULL, NULL), BACKUP_CORRUPTED);
    bufferFree(&image);
    bufferFree(&payload);
}

static void testFailureIsSticky(void **state)
{
    char path[512];
    testPath(path, sizeof(path), "sticky.nbk.zst");
    unlink(path);
    ArcTotals totals;
    writeArchive(path, ARC_COMPRESSION_ZSTD, 600, 4096, &totals);
    Buffer image;
    bufferInit(&image);
    readFileBytes(path, &image);
    unlink(path);
    image.length -= 100;
    int fd = memfd_create("sticky", MFD_CLOEXEC);
    assert_int_equal(write(fd, image.data, image.length), (ssize_t)image.length);
    lseek(fd, 0, SEEK_SET);
    ArcReader *reader = NULL;
    assert_int_equal(arcReaderOpenFd(&reader, fd, "sticky"), ERR_OK);
    ErrCode result;
    ArcRecordKind kind;
    const uint8_t *packed;
    size_t length;
    while ((result = arcReaderNext(reader, &kind, &packed, &length)) == ERR_OK && packed)
        ;
    assert_int_equal(result, BACKUP_CORRUPTED);
    char first[1024];
    snprintf(first, sizeof(first), "%s", errLast()->reason);
    errClear();
    assert_int_equal(arcReaderNext(reader, &kind, &packed, &length), BACKUP_CORRUPTED);
    assert_null(packed);
    assert_string_equal(errLast()->reason, first);
    arcReaderFree(reader);
    bufferFree(&image);
}

static void testMissingFileAndBadExpectation(void **state)
{
    char path[512];
    testPath(path, sizeof(path), "does-not-exist.nbk");
    ArcReader *reader = NULL;
    assert_int_equal(arcReaderOpen(&reader, path), BACKUP_NOT_FOUND);
    assert_null(reader);
    char hex[65];
    assert_int_equal(arcSha256File(path, hex, NULL), BACKUP_NOT_FOUND);

    testPath(path, sizeof(path), "expect.nbk");
    unlink(path);
    ArcTotals totals;
    writeArchive(path, ARC_COMPRESSION_NONE, 10, 4096, &totals);
    assert_int_equal(arcReaderOpen(&reader, path), ERR_OK);
    assert_int_equal(arcReaderExpectSha256(reader, "abc"), BACKUP_CORRUPTED);
    assert_int_equal(arcReaderExpectSha256(reader, NULL), BACKUP_CORRUPTED);
    /* A well-formed but wrong digest fails at the end. */
    assert_int_equal(arcReaderExpectSha256(
                         reader, "00000000000000000000000000000000000000000000000000000000000000ff"),
                     ERR_OK);
    ErrCode result;
    ArcRecordKind kind;
    const uint8_t *packed;
    size_t length;
    while ((result = arcReaderNext(reader, &kind, &packed, &length)) == ERR_OK && packed)
        ;
    assert_int_equal(result, BACKUP_CORRUPTED);
    assert_non_null(strstr(errLast()->reason, "does not match the expected"));
    arcReaderFree(reader);
    unlink(path);
}

static void testWriterRefusals(void **state)
{
    char path[512];
    testPath(path, sizeof(path), "refuse.nbk.gz");
    unlink(path);
    ArcWriter *writer = NULL;
    /* Bad settings are refused before the file is created. */
    assert_int_equal(arcWriterOpen(&writer, path, ARC_COMPRESSION_GZIP, 10, 0, NULL, 0),
                     CONFIG_INVALID);
    assert_int_equal(arcWriterOpen(&writer, path, ARC_COMPRESSION_ZSTD, 0, 100, NULL, 0),
                     CONFIG_INVALID);
    assert_null(writer);
    assert_int_equal(access(path, F_OK), -1);

    /* An existing file is never overwritten. */
    FILE *existing = fopen(path, "w");
    fputs("keep me", existing);
    fclose(existing);
    assert_int_equal(arcWriterOpen(&writer, path, ARC_COMPRESSION_GZIP, 0, 0, NULL, 0),
                     BACKUP_IO_FAILED);
    assert_non_null(strstr(errLast()->reason, "already exists"));
    Buffer content;
    bufferInit(&content);
    readFileBytes(path, &content);
    assert_int_equal(content.length, 7);
    unlink(path);

    /* A record over the limit (the length is checked before the bytes are read). */
    assert_int_equal(arcWriterOpen(&writer, path, ARC_COMPRESSION_GZIP, 1, 0, NULL, 0), ERR_OK);
    assert_int_equal(arcWriterAdd(writer, ARC_RECORD_NODE, (const uint8_t *)"x",
                                  (size_t)ARC_MAX_SECTION_LENGTH),
                     BACKUP_UNSUPPORTED_VALUE);
    assert_int_equal(arcWriterAdd(writer, (ArcRecordKind)'Q', (const uint8_t *)"x", 1),
                     ERR_INTERNAL);
    ArcTotals totals;
    assert_int_equal(arcWriterFinish(writer, &totals), ERR_OK);
    assert_int_equal(arcWriterFinish(writer, &totals), ERR_INTERNAL);
    assert_int_equal(arcWriterAdd(writer, ARC_RECORD_NODE, (const uint8_t *)"x", 1), ERR_INTERNAL);
    arcWriterFree(writer);
    assert_int_equal(access(path, F_OK), 0); /* finished: kept */
    bufferFree(&content);
    unlink(path);
}

static void testUnfinishedWriterRemovesFile(void **state)
{
    char path[512];
    testPath(path, sizeof(path), "partial.nbk.zst");
    unlink(path);
    ArcWriter *writer = NULL;
    assert_int_equal(arcWriterOpen(&writer, path, ARC_COMPRESSION_ZSTD, 0, 4096, NULL, 0), ERR_OK);
    Buffer record;
    bufferInit(&record);
    for (uint32_t index = 0; index < 500; index++) {
        ArcRecordKind kind = makeRecord(index, &record);
        assert_int_equal(arcWriterAdd(writer, kind, record.data, record.length), ERR_OK);
    }
    assert_int_equal(access(path, F_OK), 0);
    assert_true(arcWriterBytesWritten(writer) > 0);
    arcWriterFree(writer);
    assert_int_equal(access(path, F_OK), -1);
    assert_int_equal(errno, ENOENT);
    bufferFree(&record);
    arcWriterFree(NULL);
    arcReaderFree(NULL);
}

static void testNoSpace(void **state)
{
    int fd = open("/dev/full", O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        skip();
    ArcWriter *writer = NULL;
    /* The header frame is written at open, so the open already fails. */
    assert_int_equal(arcWriterOpenFd(&writer, fd, "/dev/full", ARC_COMPRESSION_ZSTD, 0, 0,
                                     (const uint8_t *)"H", 1),
                     BACKUP_NO_SPACE);
    assert_null(writer);
    assert_string_equal(errLast()->reason, "No space left on device (/dev/full)");

    for (int index = 0; index < COMPRESSION_COUNT; index++) {
        fd = open("/dev/full", O_WRONLY | O_CLOEXEC);
        assert_true(fd >= 0);
        assert_int_equal(arcWriterOpenFd(&writer, fd, "/dev/full", allCompressions[index], 0, 0,
                                         NULL, 0),
                         BACKUP_NO_SPACE);
    }
}

/* Runs in a child with its own mount namespace: fills a 64 KiB tmpfs.
 * Exit status 0 = behaved, 77 = cannot set up (no privilege), else failed. */
static int fillTinyFileSystem(const char *mountPoint)
{
    if (unshare(CLONE_NEWNS) != 0 || mount("none", "/", "none", MS_REC | MS_PRIVATE, NULL) != 0 ||
        mount("tmpfs", mountPoint, "tmpfs", 0, "size=64k") != 0)
        return 77;
    char path[600];
    snprintf(path, sizeof(path), "%s/graph.nbk.zst", mountPoint);
    ArcWriter *writer = NULL;
    if (arcWriterOpen(&writer, path, ARC_COMPRESSION_ZSTD, 0, 4096, NULL, 0) != ERR_OK)
        return 1;
    uint8_t record[1000];
    uint32_t seed = 5;
    ErrCode result = ERR_OK;
    for (int count = 0; count < 1000 && result == ERR_OK; count++) {
        for (size_t index = 0; index < sizeof(record); index++)
            record[index] = (uint8_t)nextRandom(&seed); /* incompressible */
        result = arcWriterAdd(writer, ARC_RECORD_NODE, record, sizeof(record));
    }
    char expected[700];
    snprintf(expected, sizeof(expected), "No space left on device (%s)", path);
    int status = 0;
    if (result != BACKUP_NO_SPACE || strcmp(errLast()->reason, expected) != 0)
        status = 2;
    ArcTotals totals;
    if (arcWriterFinish(writer, &totals) != BACKUP_NO_SPACE)
        status = 3;
    arcWriterFree(writer);
    if (access(path, F_OK) == 0)
        status = 4; /* a real ENOSPC must leave nothing behind */
    umount(mountPoint);
    return status;
}

/* ENOSPC in the middle of an archive on a real (tiny) file system; needs
 * the privilege to mount, skipped without it. */
static void testNoSpaceMidWrite(void **state)
{
    char mountPoint[512];
    testPath(mountPoint, sizeof(mountPoint), "tiny-fs");
    assert_int_equal(mkdir(mountPoint, 0700), 0);
    fflush(NULL);
    pid_t child = fork();
    assert_true(child >= 0);
    if (child == 0)
        _exit(fillTinyFileSystem(mountPoint));
    int status = 0;
    assert_int_equal(waitpid(child, &status, 0), child);
    rmdir(mountPoint);
    assert_true(WIFEXITED(status));
    if (WEXITSTATUS(status) == 77)
        skip();
    assert_int_equal(WEXITSTATUS(status), 0);
}

/* A write failing mid-archive (here: the file size limit) fails every later
 * call the same way, and freeing the writer removes the partial file. */
static void testMidWriteFailure(void **state)
{
    char path[512];
    testPath(path, sizeof(path), "limited.nbk");
    unlink(path);
    struct rlimit saved;
    assert_int_equal(getrlimit(RLIMIT_FSIZE, &saved), 0);
    void (*savedHandler)(int) = signal(SIGXFSZ, SIG_IGN);
    struct rlimit limited = saved;
    limited.rlim_cur = 64 * 1024;
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &limited), 0);

    ArcWriter *writer = NULL;
    ErrCode result = arcWriterOpen(&writer, path, ARC_COMPRESSION_NONE, 0, 4096, NULL, 0);
    assert_int_equal(result, ERR_OK);
    Buffer record;
    bufferInit(&record);
    uint32_t index = 0;
    for (; index < 100000 && result == ERR_OK; index++) {
        ArcRecordKind kind = makeRecord(index, &record);
        result = arcWriterAdd(writer, kind, record.data, record.length);
    }
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &saved), 0);
    signal(SIGXFSZ, savedHandler);
    assert_int_equal(result, BACKUP_IO_FAILED);
    assert_true(index < 100000);
    char first[1024];
    snprintf(first, sizeof(first), "%s", errLast()->reason);
    assert_non_null(strstr(first, path));
    assert_int_equal(arcWriterAdd(writer, ARC_RECORD_NODE, (const uint8_t *)"x", 1),
                     BACKUP_IO_FAILED);
    ArcTotals totals;
    assert_int_equal(arcWriterFinish(writer, &totals), BACKUP_IO_FAILED);
    assert_string_equal(errLast()->reason, first);
    assert_int_equal(access(path, F_OK), 0);
    arcWriterFree(writer);
    assert_int_equal(access(path, F_OK), -1);
    bufferFree(&record);
}

static void testSha256File(void **state)
{
    char path[512];
    testPath(path, sizeof(path), "sha.txt");
    FILE *file = fopen(path, "w");
    fputs("abc", file);
    fclose(file);
    char hex[65];
    uint64_t size = 0;
    assert_int_equal(arcSha256File(path, hex, &size), ERR_OK);
    assert_int_equal(size, 3);
    assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    unlink(path);
}

static double secondsNow(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)now.tv_sec + (double)now.tv_nsec / 1e9;
}

/* A record small enough to write but too large to decode within
 * ARC_RECORD_DECODED_MAX (a list of 9 million empty strings: 9 MB written,
 * about 360 MB decoded) is refused while writing, so no backup holds a record
 * that every restore would refuse. A large record that decodes within the
 * bound (a 6 MiB string) is still written. */
static void testWriterRefusesRecordTooLargeToDecode(void **state)
{
    (void)state;
    char path[512];
    testPath(path, sizeof(path), "decoded.nbk");
    unlink(path);
    ArcWriter *writer = NULL;
    assert_int_equal(arcWriterOpen(&writer, path, ARC_COMPRESSION_NONE, 0, 0, NULL, 0), ERR_OK);

    Buffer packed;
    bufferInit(&packed);
    const uint32_t strings = 9u * 1000u * 1000u;
    packListHeader(&packed, strings);
    for (uint32_t index = 0; index < strings; index++)
        bufferAppendByte(&packed, 0x80);
    assert_int_equal(arcWriterAdd(writer, ARC_RECORD_NODE, packed.data, packed.length),
                     BACKUP_UNSUPPORTED_VALUE);
    assert_non_null(strstr(errLast()->reason, "MiB of memory to restore"));

    bufferClear(&packed);
    size_t stringLength = 6u * 1024u * 1024u;
    char *text = malloc(stringLength);
    assert_non_null(text);
    memset(text, 'a', stringLength);
    packString(&packed, text, stringLength);
    free(text);
    arcWriterFree(writer);
    writer = NULL;
    unlink(path);
    assert_int_equal(arcWriterOpen(&writer, path, ARC_COMPRESSION_NONE, 0, 0, NULL, 0), ERR_OK);
    assert_int_equal(arcWriterAdd(writer, ARC_RECORD_NODE, packed.data, packed.length), ERR_OK);
    bufferFree(&packed);
    arcWriterFree(writer);
    unlink(path);
}

/* Prints figures only: timing depends on the machine and the build. */
static void testThroughputFigure(void **state)
{
    char path[512];
    testPath(path, sizeof(path), "speed.nbk.zst");
    unlink(path);
    enum { RECORDS = 150000 };
    uint8_t record[400];
    uint32_t seed = 99;
    ArcWriter *writer = NULL;
    double start = secondsNow();
    assert_int_equal(arcWriterOpen(&writer, path, ARC_COMPRESSION_ZSTD, 0, 0, NULL, 0), ERR_OK);
    for (uint32_t index = 0; index < RECORDS; index++) {
        /* Node-like: a few label and key strings, some varying numbers. */
        int length = snprintf((char *)record, sizeof(record),
                              "\xB4N\x81\xC9%u\x91\x86Person\xA3\x84name\x8Cperson-%08u\x83"
                              "age\xC9%u\x85" "email\xD0\x20user%u@example%u.org",
                              index, nextRandom(&seed) % 100000000, nextRandom(&seed) % 100,
                              nextRandom(&seed), nextRandom(&seed) % 1000);
        for (int pad = 0; pad < 120; pad += 4) {
            uint32_t value = nextRandom(&seed) % 4 == 0 ? nextRandom(&seed) : 0x20202020;
            memcpy(record + length + pad, &value, 4);
        }
        assert_int_equal(arcWriterAdd(writer, ARC_RECORD_NODE, record, (size_t)length + 120),
                         ERR_OK);
    }
    ArcTotals totals;
    assert_int_equal(arcWriterFinish(writer, &totals), ERR_OK);
    double written = secondsNow();
    arcWriterFree(writer);
    ArcReader *reader = NULL;
    assert_int_equal(arcReaderOpen(&reader, path), ERR_OK);
    ArcRecordKind kind;
    const uint8_t *packed;
    size_t length;
    uint64_t records = 0;
    while (arcReaderNext(reader, &kind, &packed, &length) == ERR_OK && packed)
        records++;
    double read = secondsNow();
    assert_int_equal(records, RECORDS);
    arcReaderFree(reader);
    double megabytes = (double)totals.uncompressedBytes / 1e6;
    printf("zstd-3: %.1f MB inner -> %.1f MB file; write %.0f MB/s, read %.0f MB/s (inner)\n",
           megabytes, (double)totals.compressedBytes / 1e6, megabytes / (written - start),
           megabytes / (read - written));
    unlink(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(testCompressionNames),
        cmocka_unit_test(testCrc32c),
        cmocka_unit_test(testRoundTripNone),
        cmocka_unit_test(testRoundTripGzip),
        cmocka_unit_test(testRoundTripZstd),
        cmocka_unit_test(testZeroRecords),
        cmocka_unit_test(testDefaultBlockSize),
        cmocka_unit_test(testInnerStreamLayout),
        cmocka_unit_test(testStandardToolsReadOuterLayer),
        cmocka_unit_test(testFlippedBytesDetected),
        cmocka_unit_test(testTruncationDetected),
        cmocka_unit_test(testTrailingDataDetected),
        cmocka_unit_test(testErrorMessagesLocateDamage),
        cmocka_unit_test(testHostileStructure),
        cmocka_unit_test(testFailureIsSticky),
        cmocka_unit_test(testMissingFileAndBadExpectation),
        cmocka_unit_test(testWriterRefusals),
        cmocka_unit_test(testUnfinishedWriterRemovesFile),
        cmocka_unit_test(testNoSpace),
        cmocka_unit_test(testNoSpaceMidWrite),
        cmocka_unit_test(testMidWriteFailure),
        cmocka_unit_test(testSha256File),
        cmocka_unit_test(testWriterRefusesRecordTooLargeToDecode),
        cmocka_unit_test(testThroughputFigure),
    };
    return cmocka_run_group_tests(tests, setUpDir, tearDownDir);
}
