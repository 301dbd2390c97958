/* Dump files (archive/dump_file.h) without Neo4j: DZV1 zstd, DGV1 gzip,
 * unknown formats, streams cut short or damaged, written as they stream or
 * inspected on disk or from any byte source in pieces. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "archive/dump_file.h"
#include "common/log.h"
#include "storage/posix.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

static char workDir[256];

static int setUp(void **state)
{
    (void)state;
    snprintf(workDir, sizeof(workDir), "/tmp/nbk-dump-XXXXXX");
    return mkdtemp(workDir) ? 0 : -1;
}

static int tearDown(void **state)
{
    (void)state;
    char command[300];
    snprintf(command, sizeof(command), "rm -rf '%s'", workDir);
    return system(command) == 0 ? 0 : -1;
}

static void writeFile(const char *path, const void *data, size_t length, mode_t mode)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, data, length), (ssize_t)length);
    close(fd);
}

static void pathIn(char *out, size_t size, const char *name)
{
    snprintf(out, size, "%s/%s", workDir, name);
}


static uint8_t *samplePayload(size_t length)
{
    uint8_t *payload = malloc(length);
    assert_non_null(payload);
    for (size_t index = 0; index < length; index++)
        payload[index] = (uint8_t)((index * 7919u) >> 5); /* compressible, not constant */
    return payload;
}

/* "DZV1" + a zstd frame with a content checksum, as Neo4j 5 writes. */
static uint8_t *sampleZstdDump(const uint8_t *payload, size_t length, size_t *dumpLength)
{
    size_t bound = ZSTD_compressBound(length);
    uint8_t *dump = malloc(4 + bound);
    assert_non_null(dump);
    memcpy(dump, "DZV1", 4);
    ZSTD_CCtx *context = ZSTD_createCCtx();
    ZSTD_CCtx_setParameter(context, ZSTD_c_checksumFlag, 1);
    size_t written = ZSTD_compress2(context, dump + 4, bound, payload, length);
    assert_false(ZSTD_isError(written));
    ZSTD_freeCCtx(context);
    *dumpLength = 4 + written;
    return dump;
}

static void sha256Hex(const uint8_t *data, size_t length, char hex[65])
{
    unsigned char digest[32];
    unsigned digestLength = 0;
    EVP_Digest(data, length, digest, &digestLength, EVP_sha256(), NULL);
    for (unsigned index = 0; index < digestLength; index++)
        snprintf(hex + index * 2, 3, "%02x", digest[index]);
}

static ErrCode countFile(const StorageInfo *info, void *payload)
{
    (void)info;
    (*(unsigned *)payload)++;
    return ERR_OK;
}

static void testWriterHashesAndDecodesAZstdDump(void **state)
{
    (void)state;
    size_t payloadLength = 3 * 1024 * 1024 + 17;
    uint8_t *payload = samplePayload(payloadLength);
    size_t dumpLength = 0;
    uint8_t *dump = sampleZstdDump(payload, payloadLength, &dumpLength);
    char path[512];
    pathIn(path, sizeof(path), "neo4j.dump");
    DumpWriter *writer = NULL;
    assert_int_equal(dumpWriterOpen(&writer, path), ERR_OK);
    /* Odd pieces: the 4-byte header arrives split. */
    size_t offset = 0;
    size_t piece = 3;
    while (offset < dumpLength) {
        size_t take = dumpLength - offset < piece ? dumpLength - offset : piece;
        assert_int_equal(dumpWriterAdd(dump + offset, take, writer), ERR_OK);
        offset += take;
        piece = piece * 3 + 1;
    }
    DumpFileInfo info;
    assert_int_equal(dumpWriterFinish(writer, &info), ERR_OK);
    dumpWriterFree(writer);
    char expected[65];
    sha256Hex(dump, dumpLength, expected);
    assert_string_equal(info.sha256, expected);
    assert_int_equal(info.bytes, dumpLength);
    assert_int_equal(info.contentBytes, payloadLength);
    assert_string_equal(info.format, "DZV1");

    DumpFileInfo inspected;
    assert_int_equal(dumpFileInspect(path, &inspected), ERR_OK);
    assert_string_equal(inspected.sha256, expected);
    assert_int_equal(inspected.contentBytes, payloadLength);

    /* An existing file is never overwritten. */
    assert_int_not_equal(dumpWriterOpen(&writer, path), ERR_OK);

    /* Cut short: the frame is incomplete. */
    writeFile(path, dump, dumpLength - 10, 0600);
    assert_int_equal(dumpFileInspect(path, &inspected), BACKUP_CORRUPTED);
    assert_non_null(strstr(errLast()->reason, "cut short"));
    assert_int_equal(inspected.bytes, dumpLength - 10);

    /* A flipped byte in the middle: zstd's own checks catch it. */
    dump[dumpLength / 2] ^= 0x5a;
    writeFile(path, dump, dumpLength, 0600);
    assert_int_equal(dumpFileInspect(path, &inspected), BACKUP_CORRUPTED);
    assert_non_null(strstr(errLast()->reason, "damaged"));
    free(dump);
    free(payload);
}

static void testWriterReportsACutStream(void **state)
{
    (void)state;
    size_t payloadLength = 100000;
    uint8_t *payload = samplePayload(payloadLength);
    size_t dumpLength = 0;
    uint8_t *dump = sampleZstdDump(payload, payloadLength, &dumpLength);
    char path[512];
    pathIn(path, sizeof(path), "cut.dump");
    DumpWriter *writer = NULL;
    assert_int_equal(dumpWriterOpen(&writer, path), ERR_OK);
    assert_int_equal(dumpWriterAdd(dump, dumpLength - 1, writer), ERR_OK);
    DumpFileInfo info;
    assert_int_equal(dumpWriterFinish(writer, &info), BACKUP_CORRUPTED);
    dumpWriterFree(writer);
    free(dump);
    free(payload);
}

/* Into a Storage (what an s3:// repository gets): the same facts, the file
 * visible only once a whole stream was committed, a cut stream or a freed
 * writer leaving nothing, and the inspection read back through the storage. */
static void testWriterIntoAStorage(void **state)
{
    (void)state;
    size_t payloadLength = 2 * 1024 * 1024 + 5;
    uint8_t *payload = samplePayload(payloadLength);
    size_t dumpLength = 0;
    uint8_t *dump = sampleZstdDump(payload, payloadLength, &dumpLength);
    Storage *storage = NULL;
    assert_int_equal(storagePosixOpen(workDir, false, &storage), ERR_OK);
    StorageInfo info;
    DumpWriter *writer = NULL;
    assert_int_equal(dumpWriterOpenStorage(&writer, storage, "neo4j.dump", "s3://b/p/neo4j.dump"), ERR_OK);
    assert_int_equal(dumpWriterAdd(dump, 3, writer), ERR_OK);
    assert_int_equal(dumpWriterAdd(dump + 3, dumpLength - 3, writer), ERR_OK);
    assert_int_equal(storageStat(storage, "neo4j.dump", &info), BACKUP_NOT_FOUND); /* not yet visible */
    DumpFileInfo written;
    assert_int_equal(dumpWriterFinish(writer, &written), ERR_OK);
    dumpWriterFree(writer);
    char expected[65];
    sha256Hex(dump, dumpLength, expected);
    assert_string_equal(written.sha256, expected);
    assert_int_equal(written.bytes, dumpLength);
    assert_int_equal(written.contentBytes, payloadLength);
    assert_int_equal(storageStat(storage, "neo4j.dump", &info), ERR_OK);
    assert_int_equal(info.size, dumpLength);

    DumpFileInfo inspected;
    assert_int_equal(dumpStorageInspect(storage, "neo4j.dump", NULL, &inspected), ERR_OK);
    assert_string_equal(inspected.sha256, expected);
    assert_int_equal(inspected.contentBytes, payloadLength);
    assert_string_equal(inspected.format, "DZV1");
    assert_int_equal(dumpStorageInspect(storage, "missing.dump", NULL, &inspected), BACKUP_NOT_FOUND);

    /* Never replaces a file. */
    assert_int_equal(dumpWriterOpenStorage(&writer, storage, "neo4j.dump", NULL), ERR_OK);
    assert_int_equal(dumpWriterAdd(dump, dumpLength, writer), ERR_OK);
    assert_int_not_equal(dumpWriterFinish(writer, &written), ERR_OK);
    dumpWriterFree(writer);

    /* A stream cut short is not committed, and names the file as shown. */
    assert_int_equal(dumpWriterOpenStorage(&writer, storage, "cut.dump", "s3://b/p/cut.dump"), ERR_OK);
    assert_int_equal(dumpWriterAdd(dump, dumpLength - 1, writer), ERR_OK);
    assert_int_equal(dumpWriterFinish(writer, &written), BACKUP_CORRUPTED);
    assert_non_null(strstr(errLast()->reason, "s3://b/p/cut.dump"));
    dumpWriterFree(writer);
    assert_int_equal(storageStat(storage, "cut.dump", &info), BACKUP_NOT_FOUND);

    /* A writer freed unfinished (a failed dump) leaves nothing either. */
    assert_int_equal(dumpWriterOpenStorage(&writer, storage, "dropped.dump", NULL), ERR_OK);
    assert_int_equal(dumpWriterAdd(dump, dumpLength / 2, writer), ERR_OK);
    dumpWriterFree(writer);
    assert_int_equal(storageStat(storage, "dropped.dump", &info), BACKUP_NOT_FOUND);
    unsigned files = 0;
    assert_int_equal(storageList(storage, "", countFile, &files), ERR_OK);
    assert_int_equal(files, 1);

    /* Damage is found through the storage too. */
    dump[dumpLength / 2] ^= 0x5a;
    char path[512];
    pathIn(path, sizeof(path), "neo4j.dump");
    writeFile(path, dump, dumpLength, 0600);
    assert_int_equal(dumpStorageInspect(storage, "neo4j.dump", NULL, &inspected), BACKUP_CORRUPTED);
    storageFree(storage);
    free(dump);
    free(payload);
}

static void testGzipAndUnknownFormats(void **state)
{
    (void)state;
    size_t payloadLength = 200000;
    uint8_t *payload = samplePayload(payloadLength);
    uLong bound = compressBound(payloadLength) + 64;
    uint8_t *dump = malloc(4 + bound);
    memcpy(dump, "DGV1", 4);
    z_stream stream;
    memset(&stream, 0, sizeof(stream));
    assert_int_equal(deflateInit2(&stream, 6, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY), Z_OK);
    stream.next_in = payload;
    stream.avail_in = (uInt)payloadLength;
    stream.next_out = dump + 4;
    stream.avail_out = (uInt)bound;
    assert_int_equal(deflate(&stream, Z_FINISH), Z_STREAM_END);
    size_t dumpLength = 4 + stream.total_out;
    deflateEnd(&stream);
    char path[512];
    pathIn(path, sizeof(path), "gzip.dump");
    writeFile(path, dump, dumpLength, 0600);
    DumpFileInfo info;
    assert_int_equal(dumpFileInspect(path, &info), ERR_OK);
    assert_string_equal(info.format, "DGV1");
    assert_int_equal(info.contentBytes, payloadLength);

    /* A bare gzip stream (no header) is recognised too. */
    writeFile(path, dump + 4, dumpLength - 4, 0600);
    assert_int_equal(dumpFileInspect(path, &info), ERR_OK);
    assert_string_equal(info.format, "gzip");
    assert_int_equal(info.contentBytes, payloadLength);

    /* Unknown: checksummed, not decoded. */
    writeFile(path, "XYZ1 something newer", 20, 0600);
    assert_int_equal(dumpFileInspect(path, &info), ERR_OK);
    assert_string_equal(info.format, "");
    assert_int_equal(info.bytes, 20);
    assert_int_equal(info.contentBytes, 0);

    /* Too short to hold a header. */
    writeFile(path, "DZ", 2, 0600);
    assert_int_equal(dumpFileInspect(path, &info), BACKUP_CORRUPTED);
    free(dump);
    free(payload);
}

/* dumpStreamInspect's source in memory: pieces of 1, 2, 3, ... bytes, or a
 * read error after failAfter bytes. */
typedef struct {
    const uint8_t *data;
    size_t length;
    size_t offset;
    size_t piece;
    size_t failAfter;
} PieceSource;

static ErrCode readPieces(void *payload, uint8_t *buffer, size_t capacity, size_t *got)
{
    PieceSource *source = payload;
    if (source->offset >= source->failAfter)
        return errSet(BACKUP_IO_FAILED, "cannot read piece.dump: Input/output error");
    size_t take = ++source->piece;
    if (take > capacity)
        take = capacity;
    if (take > source->length - source->offset)
        take = source->length - source->offset;
    memcpy(buffer, source->data + source->offset, take);
    source->offset += take;
    *got = take;
    return ERR_OK;
}

static void testStreamInspectInPieces(void **state)
{
    (void)state;
    size_t payloadLength = 70000;
    uint8_t *payload = samplePayload(payloadLength);
    size_t dumpLength = 0;
    uint8_t *dump = sampleZstdDump(payload, payloadLength, &dumpLength);
    char expected[65];
    sha256Hex(dump, dumpLength, expected);

    /* Pieces growing from one byte: the header arrives split, then every
     * cut through the frame; the result is that of the file. */
    PieceSource source = {.data = dump, .length = dumpLength, .failAfter = SIZE_MAX};
    DumpFileInfo info;
    assert_int_equal(dumpStreamInspect(readPieces, &source, "piece.dump", &info), ERR_OK);
    assert_int_equal(source.offset, dumpLength);
    assert_int_equal(info.bytes, dumpLength);
    assert_int_equal(info.contentBytes, payloadLength);
    assert_string_equal(info.format, "DZV1");
    assert_string_equal(info.sha256, expected);
    char path[512];
    pathIn(path, sizeof(path), "piece.dump");
    writeFile(path, dump, dumpLength, 0600);
    DumpFileInfo inspected;
    assert_int_equal(dumpFileInspect(path, &inspected), ERR_OK);
    assert_int_equal(inspected.bytes, info.bytes);
    assert_int_equal(inspected.contentBytes, info.contentBytes);
    assert_string_equal(inspected.format, info.format);
    assert_string_equal(inspected.sha256, info.sha256);

    /* Cut short in pieces: named as the caller named it. */
    source = (PieceSource){.data = dump, .length = dumpLength - 1, .failAfter = SIZE_MAX};
    assert_int_equal(dumpStreamInspect(readPieces, &source, "piece.dump", &info), BACKUP_CORRUPTED);
    assert_non_null(strstr(errLast()->reason, "the dump piece.dump ends in the middle"));

    /* A read error ends the inspection with it. */
    source = (PieceSource){.data = dump, .length = dumpLength, .failAfter = 100};
    assert_int_equal(dumpStreamInspect(readPieces, &source, "piece.dump", &info), BACKUP_IO_FAILED);
    assert_non_null(strstr(errLast()->reason, "Input/output error"));
    free(dump);
    free(payload);
}

/* ---- child processes ---- */

int main(void)
{
    logSetVerbose(false);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(testWriterHashesAndDecodesAZstdDump, setUp, tearDown),
        cmocka_unit_test_setup_teardown(testWriterReportsACutStream, setUp, tearDown),
        cmocka_unit_test_setup_teardown(testWriterIntoAStorage, setUp, tearDown),
        cmocka_unit_test_setup_teardown(testGzipAndUnknownFormats, setUp, tearDown),
        cmocka_unit_test_setup_teardown(testStreamInspectInPieces, setUp, tearDown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
