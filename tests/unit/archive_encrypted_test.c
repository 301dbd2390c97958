/* Unit tests for archive format 2 (encrypted, docs/archive-format.md
 * section 9): round trips for every compression with the same records and
 * content digest as format 1, nothing of the graph in clear, a missing or
 * wrong key refused before any record, and damage of every kind (a flipped
 * bit anywhere, truncation anywhere, reordered, duplicated, dropped or
 * foreign blocks, tampering with the CRC recomputed) refused as
 * BACKUP_CORRUPTED with the damaged section named. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "archive/archive.h"
#include "archive/archive_format.h"
#include "common/buffer.h"
#include "crypto/block_codec.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

static const uint8_t testKey[ARC_DATA_KEY_BYTES] = {0x10, 0x20, 0x30, 0x40, 0x50, 0x60, 0x70, 0x80, 0x90};
static const uint8_t otherKey[ARC_DATA_KEY_BYTES] = {0x11, 0x20, 0x30, 0x40, 0x50, 0x60, 0x70, 0x80, 0x90};
/* {v: 1, db: "SecretHeaderDb"}: the header must not be readable either. */
static const uint8_t headerMap[] = {0xA2, 0x81, 'v',  0x01, 0x82, 'd', 'b', 0x8E, 'S', 'e', 'c', 'r', 'e',
                                    't',  'H',  'e',  'a',  'd',  'e', 'r', 'D',  'b'};

static const ArcCompression allCompressions[] = {ARC_COMPRESSION_NONE, ARC_COMPRESSION_GZIP,
                                                 ARC_COMPRESSION_ZSTD};

/* Record number index: varied kinds and sizes, each naming a label
 * "SecretLabel<n>" (no record stores it in clear); record 40 is bigger than
 * the test block size. */
static ArcRecordKind makeRecord(uint32_t index, Buffer *into)
{
    static const ArcRecordKind kinds[] = {ARC_RECORD_SCHEMA, ARC_RECORD_NODE, ARC_RECORD_NODE,
                                          ARC_RECORD_RELATIONSHIP};
    bufferClear(into);
    size_t length = index == 40 ? 9000 : (index * 37u) % 200;
    bufferAppendF(into, "SecretLabel%u", index % 7);
    while (into->length < length)
        bufferAppendF(into, " name%u", index);
    into->length = index % 11 == 0 ? 0 : length < into->length ? into->length : length;
    return kinds[index % 4];
}

/* Writes count records as an archive image in memory (memfd); key NULL is format 1. */
static void writeImage(ArcCompression compression, const uint8_t *key, uint32_t count, size_t blockSize,
                       Buffer *image, ArcTotals *totals)
{
    int fd = memfd_create("archive-encrypted-test", MFD_CLOEXEC);
    assert_true(fd >= 0);
    int keep = dup(fd);
    ArcWriterOptions options = {.compression = compression, .blockSize = blockSize, .dataKey = key};
    ArcWriter *writer = NULL;
    assert_int_equal(arcWriterOpenFdWith(&writer, fd, "memory", &options, headerMap, sizeof(headerMap)), ERR_OK);
    Buffer record;
    bufferInit(&record);
    for (uint32_t index = 0; index < count; index++) {
        ArcRecordKind kind = makeRecord(index, &record);
        assert_int_equal(arcWriterAdd(writer, kind, record.data, record.length), ERR_OK);
    }
    ArcTotals written;
    assert_int_equal(arcWriterFinish(writer, &written), ERR_OK);
    arcWriterFree(writer);
    bufferFree(&record);
    if (totals)
        *totals = written;
    bufferClear(image);
    assert_int_equal(lseek(keep, 0, SEEK_SET), 0);
    uint8_t chunk[65536];
    ssize_t got;
    while ((got = read(keep, chunk, sizeof(chunk))) > 0)
        bufferAppend(image, chunk, (size_t)got);
    close(keep);
    assert_int_equal(image->length, written.compressedBytes);
}

/* Reads an image to its end with key; checks every record against
 * makeRecord when checkRecords. Returns the first error, or ERR_OK. */
static ErrCode readImage(const uint8_t *data, size_t length, const uint8_t *key, bool checkRecords,
                         uint64_t *recordsOut, ArcTotals *totalsOut)
{
    int fd = memfd_create("archive-encrypted-read", MFD_CLOEXEC);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, data, length), (ssize_t)length);
    assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
    ArcReader *reader = NULL;
    ErrCode result = arcReaderOpenFdWith(&reader, fd, "memory", key);
    uint64_t records = 0;
    Buffer expected;
    bufferInit(&expected);
    if (result == ERR_OK) {
        size_t headerLength = 0;
        const uint8_t *header = arcReaderHeader(reader, &headerLength);
        assert_int_equal(headerLength, sizeof(headerMap));
        assert_memory_equal(header, headerMap, sizeof(headerMap));
    }
    while (result == ERR_OK) {
        ArcRecordKind kind;
        const uint8_t *packed = NULL;
        size_t recordLength = 0;
        result = arcReaderNext(reader, &kind, &packed, &recordLength);
        if (result != ERR_OK || !packed)
            break;
        if (checkRecords) {
            assert_int_equal(kind, makeRecord((uint32_t)records, &expected));
            assert_int_equal(recordLength, expected.length);
            if (recordLength)
                assert_memory_equal(packed, expected.data, recordLength);
        }
        records++;
    }
    if (totalsOut && reader)
        *totalsOut = *arcReaderTotals(reader);
    if (recordsOut)
        *recordsOut = records;
    arcReaderFree(reader);
    bufferFree(&expected);
    return result;
}

static void testRoundTripEveryCompression(void **state)
{
    (void)state;
    Buffer image;
    Buffer plainImage;
    bufferInit(&image);
    bufferInit(&plainImage);
    for (size_t c = 0; c < 3; c++) {
        ArcTotals written;
        ArcTotals plainWritten;
        writeImage(allCompressions[c], testKey, 300, 4096, &image, &written);
        writeImage(allCompressions[c], NULL, 300, 4096, &plainImage, &plainWritten);
        assert_memory_equal(image.data, ARC_MAGIC_ENCRYPTED "\x00\x02", ARC_PREAMBLE_LENGTH);
        /* The same records give the same counts, digest and clear size in both formats. */
        assert_memory_equal(written.contentDigest, plainWritten.contentDigest, 32);
        assert_int_equal(written.nodeCount, plainWritten.nodeCount);
        assert_int_equal(written.relationshipCount, plainWritten.relationshipCount);
        assert_int_equal(written.schemaCount, plainWritten.schemaCount);
        assert_int_equal(written.uncompressedBytes,
                         plainWritten.uncompressedBytes + ARC_SECTION_PREFIX_LENGTH + ARC_KEY_PAYLOAD_LENGTH +
                             ARC_SECTION_CRC_LENGTH);
        uint64_t records = 0;
        ArcTotals read;
        assert_int_equal(readImage(image.data, image.length, testKey, true, &records, &read), ERR_OK);
        assert_int_equal(records, 300);
        assert_int_equal(read.nodeCount, written.nodeCount);
        assert_int_equal(read.relationshipCount, written.relationshipCount);
        assert_int_equal(read.schemaCount, written.schemaCount);
        assert_int_equal(read.uncompressedBytes, written.uncompressedBytes);
        assert_int_equal(read.compressedBytes, written.compressedBytes);
        assert_memory_equal(read.contentDigest, written.contentDigest, 32);
        assert_memory_equal(read.fileSha256, written.fileSha256, 32);
        /* A format-1 archive reads the same with or without a key. */
        assert_int_equal(readImage(plainImage.data, plainImage.length, testKey, true, &records, NULL), ERR_OK);
        assert_int_equal(records, 300);
        /* Two writes of the same records differ (a fresh stream header each time). */
        Buffer again;
        bufferInit(&again);
        writeImage(allCompressions[c], testKey, 300, 4096, &again, NULL);
        assert_int_equal(again.length, image.length);
        assert_true(memcmp(again.data, image.data, image.length) != 0);
        bufferFree(&again);
    }
    bufferFree(&image);
    bufferFree(&plainImage);
}

static void testReaderReportsFormatAndCompression(void **state)
{
    (void)state;
    Buffer image;
    bufferInit(&image);
    writeImage(ARC_COMPRESSION_GZIP, testKey, 10, 0, &image, NULL);
    int fd = memfd_create("archive-encrypted-read", MFD_CLOEXEC);
    assert_int_equal(write(fd, image.data, image.length), (ssize_t)image.length);
    assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
    ArcReader *reader = NULL;
    assert_int_equal(arcReaderOpenFdWith(&reader, fd, "memory", testKey), ERR_OK);
    assert_true(arcReaderEncrypted(reader));
    assert_int_equal(arcReaderCompression(reader), ARC_COMPRESSION_GZIP);
    arcReaderFree(reader);
    bufferFree(&image);
}

static void testNothingOfTheGraphInClear(void **state)
{
    (void)state;
    Buffer image;
    bufferInit(&image);
    for (size_t c = 0; c < 3; c++) {
        writeImage(allCompressions[c], testKey, 100, 4096, &image, NULL);
        assert_null(memmem(image.data, image.length, "SecretLabel", 11));
        assert_null(memmem(image.data, image.length, "SecretHeader", 12));
        assert_null(memmem(image.data, image.length, " name", 5));
    }
    bufferFree(&image);
}

static void testMissingAndWrongKey(void **state)
{
    (void)state;
    Buffer image;
    bufferInit(&image);
    writeImage(ARC_COMPRESSION_ZSTD, testKey, 50, 0, &image, NULL);
    uint64_t records = 99;
    assert_int_equal(readImage(image.data, image.length, NULL, false, &records, NULL), BACKUP_KEY_REQUIRED);
    assert_int_equal(records, 0);
    assert_non_null(strstr(errLast()->reason, "encrypted"));
    assert_int_equal(readImage(image.data, image.length, otherKey, false, &records, NULL), BACKUP_KEY_INVALID);
    assert_int_equal(records, 0);
    bufferFree(&image);
}

/* Section starts of an image, K first: offsets into starts, count returned. */
static size_t sectionStarts(const Buffer *image, size_t *starts, size_t capacity)
{
    size_t count = 0;
    size_t offset = ARC_PREAMBLE_LENGTH;
    while (offset < image->length && count < capacity) {
        starts[count++] = offset;
        offset += ARC_SECTION_PREFIX_LENGTH + arcReadU32BE(image->data + offset + 1) + ARC_SECTION_CRC_LENGTH;
    }
    assert_int_equal(offset, image->length);
    return count;
}

static void testFlippedBitAnywhereIsLocated(void **state)
{
    (void)state;
    Buffer image;
    bufferInit(&image);
    for (size_t c = 0; c < 3; c++) {
        writeImage(allCompressions[c], testKey, 30, 4096, &image, NULL);
        size_t starts[64];
        size_t sections = sectionStarts(&image, starts, 64);
        assert_true(sections >= 4); /* K, H, at least one block, F */
        for (size_t bit = 0; bit < 8 * image.length; bit++) {
            image.data[bit / 8] ^= (uint8_t)(1u << (bit % 8));
            ErrCode result = readImage(image.data, image.length, testKey, false, NULL, NULL);
            assert_int_equal(result, BACKUP_CORRUPTED);
            size_t byte = bit / 8;
            if (byte >= ARC_PREAMBLE_LENGTH) {
                /* The message names the damaged section's file offset. */
                size_t section = sections - 1;
                while (starts[section] > byte)
                    section--;
                char where[64];
                snprintf(where, sizeof(where), "at file offset %zu", starts[section]);
                if (!strstr(errLast()->reason, where))
                    fail_msg("bit %zu: '%s' does not say '%s'", bit, errLast()->reason, where);
            }
            image.data[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        }
        assert_int_equal(readImage(image.data, image.length, testKey, true, NULL, NULL), ERR_OK);
    }
    bufferFree(&image);
}

/* Deliberate tampering: a changed stored byte with its CRC recomputed is
 * caught by the authentication tag, and the error names the block. */
static void testTamperingWithCrcRecomputed(void **state)
{
    (void)state;
    Buffer image;
    bufferInit(&image);
    writeImage(ARC_COMPRESSION_ZSTD, testKey, 60, 4096, &image, NULL);
    size_t starts[64];
    size_t sections = sectionStarts(&image, starts, 64);
    for (size_t section = 1; section < sections; section++) {
        size_t start = starts[section];
        uint32_t length = arcReadU32BE(image.data + start + 1);
        for (uint32_t at = 0; at < length; at += length / 5 + 1) {
            uint8_t *payload = image.data + start + ARC_SECTION_PREFIX_LENGTH;
            payload[at] ^= 0x80;
            uint32_t saved = arcReadU32BE(payload + length);
            arcWriteU32BE(payload + length, arcCrc32c(0, image.data + start, ARC_SECTION_PREFIX_LENGTH + length));
            assert_int_equal(readImage(image.data, image.length, testKey, false, NULL, NULL), BACKUP_CORRUPTED);
            char where[96];
            if (section == 1)
                snprintf(where, sizeof(where), "header at file offset %zu", start);
            else if (section + 1 == sections)
                snprintf(where, sizeof(where), "footer at file offset %zu", start);
            else
                snprintf(where, sizeof(where), "block %zu at file offset %zu", section - 1, start);
            if (!strstr(errLast()->reason, where) || !strstr(errLast()->reason, "failed authentication"))
                fail_msg("'%s' does not say '%s' failed authentication", errLast()->reason, where);
            payload[at] ^= 0x80;
            arcWriteU32BE(payload + length, saved);
        }
    }
    /* A tampered key section (stream header) fails on the header's tag. */
    uint8_t *keyPayload = image.data + starts[0] + ARC_SECTION_PREFIX_LENGTH;
    keyPayload[5] ^= 1;
    arcWriteU32BE(keyPayload + ARC_KEY_PAYLOAD_LENGTH,
                  arcCrc32c(0, image.data + starts[0], ARC_SECTION_PREFIX_LENGTH + ARC_KEY_PAYLOAD_LENGTH));
    assert_int_equal(readImage(image.data, image.length, testKey, false, NULL, NULL), BACKUP_CORRUPTED);
    assert_non_null(strstr(errLast()->reason, "header at file offset"));
    bufferFree(&image);
}

static void testTruncationAnywhere(void **state)
{
    (void)state;
    Buffer image;
    bufferInit(&image);
    for (size_t c = 0; c < 3; c++) {
        writeImage(allCompressions[c], testKey, 30, 4096, &image, NULL);
        for (size_t length = 0; length < image.length; length++)
            assert_int_equal(readImage(image.data, length, testKey, false, NULL, NULL), BACKUP_CORRUPTED);
    }
    /* Cut exactly after a block: no final message. */
    size_t starts[64];
    size_t sections = sectionStarts(&image, starts, 64);
    assert_int_equal(readImage(image.data, starts[sections - 1], testKey, false, NULL, NULL), BACKUP_CORRUPTED);
    assert_non_null(strstr(errLast()->reason, "truncated"));
    bufferFree(&image);
}

static void testAppendedData(void **state)
{
    (void)state;
    Buffer image;
    bufferInit(&image);
    writeImage(ARC_COMPRESSION_NONE, testKey, 10, 0, &image, NULL);
    bufferAppendByte(&image, 0);
    assert_int_equal(readImage(image.data, image.length, testKey, false, NULL, NULL), BACKUP_CORRUPTED);
    assert_non_null(strstr(errLast()->reason, "after the footer"));
    bufferFree(&image);
}

/* Copies image with its sections rearranged: order lists section indexes. */
static void rearrange(const Buffer *image, const size_t *starts, size_t sections, const size_t *order,
                      size_t count, Buffer *out)
{
    bufferClear(out);
    bufferAppend(out, image->data, ARC_PREAMBLE_LENGTH);
    for (size_t i = 0; i < count; i++) {
        size_t start = starts[order[i]];
        size_t end = order[i] + 1 < sections ? starts[order[i] + 1] : image->length;
        bufferAppend(out, image->data + start, end - start);
    }
}

static void testReorderedDuplicatedDroppedForeignBlocks(void **state)
{
    (void)state;
    Buffer image;
    Buffer changed;
    Buffer foreign;
    bufferInit(&image);
    bufferInit(&changed);
    bufferInit(&foreign);
    writeImage(ARC_COMPRESSION_ZSTD, testKey, 80, 4096, &image, NULL);
    size_t starts[64];
    size_t sections = sectionStarts(&image, starts, 64);
    assert_true(sections >= 6); /* K, H, blocks 1..3 at least, F */
    size_t last = sections - 1;
    /* Each case: a changed prefix of the section order, then the rest from
     * `from` on (none when from is 0), and what the refusal must say. */
    struct {
        size_t prefix[5];
        size_t prefixCount;
        size_t from;
        const char *reason;
    } cases[] = {
        {{0, 1, 3, 2}, 4, 4, "block 1 at file offset"},                /* blocks 1 and 2 swapped */
        {{0, 1, 2, 2}, 4, 3, "block 2 at file offset"},                /* block 1 twice */
        {{0, 1, 3}, 3, 4, "block 1 at file offset"},                   /* block 1 dropped */
        {{0, 2}, 2, 3, "expected the header after the key section"},   /* header dropped */
        {{0, 1, last}, 3, 2, "footer at file offset"},                 /* footer moved up */
        {{0, 1, 2, 0}, 4, 3, "a second key section"},                  /* a key section again */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        size_t order[64];
        size_t count = 0;
        for (size_t p = 0; p < cases[i].prefixCount; p++)
            order[count++] = cases[i].prefix[p];
        for (size_t s = cases[i].from; cases[i].from > 0 && s < sections; s++)
            order[count++] = s;
        rearrange(&image, starts, sections, order, count, &changed);
        assert_int_equal(readImage(changed.data, changed.length, testKey, false, NULL, NULL), BACKUP_CORRUPTED);
        if (!strstr(errLast()->reason, cases[i].reason))
            fail_msg("case %zu: '%s' does not say '%s'", i, errLast()->reason, cases[i].reason);
    }
    /* A block of another archive under the same key: its stream differs. */
    writeImage(ARC_COMPRESSION_ZSTD, testKey, 80, 4096, &foreign, NULL);
    size_t foreignStarts[64];
    assert_int_equal(sectionStarts(&foreign, foreignStarts, 64), sections);
    bufferClear(&changed);
    bufferAppend(&changed, image.data, starts[3]);
    bufferAppend(&changed, foreign.data + foreignStarts[3], foreignStarts[4] - foreignStarts[3]);
    bufferAppend(&changed, image.data + starts[4], image.length - starts[4]);
    assert_int_equal(readImage(changed.data, changed.length, testKey, false, NULL, NULL), BACKUP_CORRUPTED);
    assert_non_null(strstr(errLast()->reason, "block 2 at file offset"));
    assert_non_null(strstr(errLast()->reason, "failed authentication"));
    bufferFree(&image);
    bufferFree(&changed);
    bufferFree(&foreign);
}

/* Sections forged with the right key but the wrong structure: what the
 * archive layer checks after decryption. */
static void appendSection(Buffer *out, uint8_t kind, const uint8_t *payload, size_t length)
{
    size_t start = out->length;
    bufferAppendByte(out, kind);
    bufferAppendU32BE(out, (uint32_t)length);
    bufferAppend(out, payload, length);
    bufferAppendU32BE(out, arcCrc32c(0, out->data + start, out->length - start));
}

static void appendEncrypted(Buffer *out, CryptoBlockCodec *codec, uint8_t kind, const void *plain, size_t length,
                            bool final)
{
    uint8_t cipher[512];
    size_t cipherLength = 0;
    assert_true(length + CRYPTO_BLOCK_OVERHEAD <= sizeof(cipher));
    assert_int_equal(cryptoEncryptBlock(codec, kind, plain, length, final, cipher, &cipherLength), ERR_OK);
    appendSection(out, kind, cipher, cipherLength);
}

static void startForged(Buffer *out, CryptoBlockCodec *codec, uint8_t compression)
{
    bufferClear(out);
    bufferAppend(out, ARC_MAGIC_ENCRYPTED "\x00\x02", ARC_PREAMBLE_LENGTH);
    uint8_t keyPayload[ARC_KEY_PAYLOAD_LENGTH] = {ARC_KEY_SECTION_FORMAT, compression};
    assert_int_equal(cryptoEncryptorInit(codec, testKey, keyPayload + 2), ERR_OK);
    cryptoKeyCheckCompute(testKey, keyPayload + 2 + CRYPTO_STREAM_HEADER_BYTES);
    appendSection(out, ARC_SECTION_KEY, keyPayload, sizeof(keyPayload));
    uint8_t packed[256];
    size_t packedLength = sizeof(headerMap);
    memcpy(packed, headerMap, sizeof(headerMap));
    if (compression == ARC_KEY_COMPRESSION_ZSTD) {
        packedLength = ZSTD_compress(packed, sizeof(packed), headerMap, sizeof(headerMap), 1);
        assert_false(ZSTD_isError(packedLength));
    } else if (compression == ARC_KEY_COMPRESSION_GZIP) {
        z_stream stream;
        memset(&stream, 0, sizeof(stream));
        assert_int_equal(deflateInit2(&stream, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY), Z_OK);
        stream.next_in = (Bytef *)headerMap;
        stream.avail_in = sizeof(headerMap);
        stream.next_out = packed;
        stream.avail_out = sizeof(packed);
        assert_int_equal(deflate(&stream, Z_FINISH), Z_STREAM_END);
        packedLength = sizeof(packed) - stream.avail_out;
        deflateEnd(&stream);
    }
    appendEncrypted(out, codec, ARC_SECTION_HEADER, packed, packedLength, false);
}

static void expectForgedRefused(const Buffer *image, const char *reason)
{
    assert_int_equal(readImage(image->data, image->length, testKey, false, NULL, NULL), BACKUP_CORRUPTED);
    if (!strstr(errLast()->reason, reason))
        fail_msg("'%s' does not say '%s'", errLast()->reason, reason);
}

static void testForgedStructureRefused(void **state)
{
    (void)state;
    Buffer image;
    CryptoBlockCodec codec;
    bufferInit(&image);
    uint8_t footer[ARC_FOOTER_PAYLOAD_LENGTH] = {0};

    /* A footer that is not the final message. */
    startForged(&image, &codec, ARC_KEY_COMPRESSION_NONE);
    appendEncrypted(&image, &codec, ARC_SECTION_FOOTER, footer, sizeof(footer), false);
    expectForgedRefused(&image, "not the final message");

    /* A block that is the final message. */
    startForged(&image, &codec, ARC_KEY_COMPRESSION_NONE);
    uint8_t emptyBlock[4] = {0};
    appendEncrypted(&image, &codec, ARC_SECTION_BLOCK, emptyBlock, sizeof(emptyBlock), true);
    expectForgedRefused(&image, "a final message before the footer");

    /* A payload that is not a zstd frame, and one with bytes after it. */
    startForged(&image, &codec, ARC_KEY_COMPRESSION_ZSTD);
    appendEncrypted(&image, &codec, ARC_SECTION_BLOCK, "not zstd", 8, false);
    expectForgedRefused(&image, "block 1 at file offset");
    startForged(&image, &codec, ARC_KEY_COMPRESSION_GZIP);
    appendEncrypted(&image, &codec, ARC_SECTION_BLOCK, "", 0, false);
    expectForgedRefused(&image, "gzip member is truncated");

    /* A correct footer whose offset is the inner one, not the file's. */
    startForged(&image, &codec, ARC_KEY_COMPRESSION_NONE);
    memset(footer, 0, sizeof(footer));
    arcWriteU32BE(footer + 36, (uint32_t)(image.length - ARC_SECTION_PREFIX_LENGTH - ARC_KEY_PAYLOAD_LENGTH -
                                          ARC_SECTION_CRC_LENGTH));
    uint8_t emptyDigest[32];
    crypto_hash_sha256(emptyDigest, (const uint8_t *)"", 0);
    memcpy(footer + 40, emptyDigest, 32);
    appendEncrypted(&image, &codec, ARC_SECTION_FOOTER, footer, sizeof(footer), true);
    expectForgedRefused(&image, "footer says it starts at");

    /* The same with the right offset reads as an empty archive. */
    startForged(&image, &codec, ARC_KEY_COMPRESSION_NONE);
    arcWriteU32BE(footer + 36, (uint32_t)image.length);
    appendEncrypted(&image, &codec, ARC_SECTION_FOOTER, footer, sizeof(footer), true);
    uint64_t records = 9;
    assert_int_equal(readImage(image.data, image.length, testKey, false, &records, NULL), ERR_OK);
    assert_int_equal(records, 0);

    /* Key sections of the wrong size, format or compression. */
    static const struct {
        size_t length;
        uint8_t format;
        uint8_t compression;
    } keyCases[] = {{ARC_KEY_PAYLOAD_LENGTH - 1, 1, 0}, {ARC_KEY_PAYLOAD_LENGTH, 2, 0}, {ARC_KEY_PAYLOAD_LENGTH, 1, 3}};
    for (size_t i = 0; i < 3; i++) {
        bufferClear(&image);
        bufferAppend(&image, ARC_MAGIC_ENCRYPTED "\x00\x02", ARC_PREAMBLE_LENGTH);
        uint8_t keyPayload[ARC_KEY_PAYLOAD_LENGTH] = {keyCases[i].format, keyCases[i].compression};
        appendSection(&image, ARC_SECTION_KEY, keyPayload, keyCases[i].length);
        expectForgedRefused(&image, "key section at file offset 10");
    }
    /* Format 2 inside an outer zstd layer is refused: it never has one. */
    Buffer valid;
    bufferInit(&valid);
    writeImage(ARC_COMPRESSION_NONE, testKey, 5, 0, &valid, NULL);
    bufferClear(&image);
    bufferReserve(&image, ZSTD_compressBound(valid.length));
    image.length = ZSTD_compress(image.data, image.capacity, valid.data, valid.length, 1);
    assert_false(ZSTD_isError(image.length));
    expectForgedRefused(&image, "does not start with the magic");
    bufferFree(&valid);
    cryptoBlockCodecWipe(&codec);
    bufferFree(&image);
}

static void testNoKeyNeededToSeeDamage(void **state)
{
    (void)state;
    /* A damaged key section is BACKUP_CORRUPTED, key or no key. */
    Buffer image;
    bufferInit(&image);
    writeImage(ARC_COMPRESSION_ZSTD, testKey, 10, 0, &image, NULL);
    image.data[ARC_PREAMBLE_LENGTH + ARC_SECTION_PREFIX_LENGTH + 3] ^= 1;
    assert_int_equal(readImage(image.data, image.length, NULL, false, NULL, NULL), BACKUP_CORRUPTED);
    assert_int_equal(readImage(image.data, image.length, otherKey, false, NULL, NULL), BACKUP_CORRUPTED);
    bufferFree(&image);
}

/* Reads an image without the key, framing only; expectHex may be NULL. */
static ErrCode readFramingOnly(const uint8_t *data, size_t length, const char *expectHex, uint64_t *records,
                               ArcTotals *totals)
{
    int fd = memfd_create("archive-framing", MFD_CLOEXEC);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, data, length), (ssize_t)length);
    assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
    ArcReader *reader = NULL;
    ErrCode result = arcReaderOpenFramingOnly(&reader, fd, "memory");
    if (result == ERR_OK && expectHex)
        result = arcReaderExpectSha256(reader, expectHex);
    *records = 0;
    while (result == ERR_OK) {
        ArcRecordKind kind;
        const uint8_t *packed = NULL;
        size_t recordLength = 0;
        result = arcReaderNext(reader, &kind, &packed, &recordLength);
        if (result != ERR_OK || !packed)
            break;
        (*records)++;
    }
    if (totals && reader)
        *totals = *arcReaderTotals(reader);
    arcReaderFree(reader);
    return result;
}

static void testFramingOnlyWithoutKey(void **state)
{
    (void)state;
    Buffer image;
    bufferInit(&image);
    ArcTotals written;
    writeImage(ARC_COMPRESSION_ZSTD, testKey, 60, 4096, &image, &written);
    char hex[65];
    for (int index = 0; index < 32; index++)
        snprintf(hex + 2 * index, 3, "%02x", written.fileSha256[index]);
    uint64_t records = 9;
    ArcTotals read;
    assert_int_equal(readFramingOnly(image.data, image.length, hex, &records, &read), ERR_OK);
    assert_int_equal(records, 0); /* nothing is decrypted */
    assert_memory_equal(read.fileSha256, written.fileSha256, 32);
    assert_int_equal(read.compressedBytes, image.length);
    assert_int_equal(read.nodeCount, 0);
    /* A flipped bit anywhere, a cut anywhere, or anything appended: refused. */
    for (size_t bit = 0; bit < 8 * image.length; bit += 7) {
        image.data[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        assert_int_equal(readFramingOnly(image.data, image.length, NULL, &records, NULL), BACKUP_CORRUPTED);
        image.data[bit / 8] ^= (uint8_t)(1u << (bit % 8));
    }
    for (size_t length = 0; length < image.length; length += 5)
        assert_int_equal(readFramingOnly(image.data, length, NULL, &records, NULL), BACKUP_CORRUPTED);
    /* Tampering with the CRC recomputed passes the framing (only the key
     * can tell), but not the file's SHA-256 from the manifest. */
    size_t starts[64];
    sectionStarts(&image, starts, 64);
    uint8_t *payload = image.data + starts[2] + ARC_SECTION_PREFIX_LENGTH;
    uint32_t length = arcReadU32BE(image.data + starts[2] + 1);
    payload[3] ^= 0x10;
    arcWriteU32BE(payload + length, arcCrc32c(0, image.data + starts[2], ARC_SECTION_PREFIX_LENGTH + length));
    assert_int_equal(readFramingOnly(image.data, image.length, NULL, &records, NULL), ERR_OK);
    assert_int_equal(readFramingOnly(image.data, image.length, hex, &records, NULL), BACKUP_CORRUPTED);
    assert_non_null(strstr(errLast()->reason, "SHA-256"));
    /* A format-1 archive is checked in full, records included. */
    writeImage(ARC_COMPRESSION_GZIP, NULL, 60, 4096, &image, NULL);
    assert_int_equal(readFramingOnly(image.data, image.length, NULL, &records, &read), ERR_OK);
    assert_int_equal(records, 60);
    bufferFree(&image);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(testRoundTripEveryCompression),
        cmocka_unit_test(testReaderReportsFormatAndCompression),
        cmocka_unit_test(testNothingOfTheGraphInClear),
        cmocka_unit_test(testMissingAndWrongKey),
        cmocka_unit_test(testFlippedBitAnywhereIsLocated),
        cmocka_unit_test(testTamperingWithCrcRecomputed),
        cmocka_unit_test(testTruncationAnywhere),
        cmocka_unit_test(testAppendedData),
        cmocka_unit_test(testReorderedDuplicatedDroppedForeignBlocks),
        cmocka_unit_test(testForgedStructureRefused),
        cmocka_unit_test(testNoKeyNeededToSeeDamage),
        cmocka_unit_test(testFramingOnlyWithoutKey),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
