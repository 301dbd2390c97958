/* Unit tests for the archive on a Storage (arcWriterOpenStorage,
 * arcReaderOpenStorage, arcSha256Storage): an archive streamed into a posix
 * storage is byte for byte the one the path writer makes and reads back the
 * same through a descriptor and through the storage; nothing is visible
 * before arcWriterFinish and nothing is left by an unfinished or failed
 * writer; damage is reported exactly as on a descriptor; format 2 works the
 * same; a driver's failures (no space, unreachable) pass through unchanged;
 * an ArcLocation reaches the same archive by path or by storage name. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "archive/archive.h"
#include "archive_records.h"
#include "common/buffer.h"
#include "storage/posix.h"
#include "storage/storage.h"

#include <dirent.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

static char testDir[256];

static const ArcCompression allCompressions[] = {ARC_COMPRESSION_NONE, ARC_COMPRESSION_GZIP,
                                                 ARC_COMPRESSION_ZSTD};
enum { COMPRESSION_COUNT = 3, TEST_BLOCK_SIZE = 4096 };

static const uint8_t testHeader[] = {0xA2, 0x81, 'v', 0x01, 0x81, 'd', 0x83, 'g', 'd', 'b'};
static const uint8_t testKey[ARC_DATA_KEY_BYTES] = {0x21, 0x22, 0x23, 0x24, 0x25, 0x26, 0x27, 0x28};
static const uint8_t otherKey[ARC_DATA_KEY_BYTES] = {0x31, 0x22, 0x23, 0x24, 0x25, 0x26, 0x27, 0x28};

/* On tmpfs when there is one: the damage tests commit (fsync) hundreds of
 * small files. */
static int setUpDir(void **state)
{
    (void)state;
    struct stat shm;
    bool haveShm = stat("/dev/shm", &shm) == 0 && S_ISDIR(shm.st_mode) && access("/dev/shm", W_OK) == 0;
    snprintf(testDir, sizeof(testDir), "%s/nbk-archive-storage-test-XXXXXX", haveShm ? "/dev/shm" : "/tmp");
    return mkdtemp(testDir) ? 0 : -1;
}

static int tearDownDir(void **state)
{
    (void)state;
    char command[512];
    snprintf(command, sizeof(command), "rm -rf '%s'", testDir);
    return system(command) == 0 ? 0 : -1;
}

static void testPath(char *path, size_t size, const char *name)
{
    snprintf(path, size, "%s/%s", testDir, name);
}

static Storage *openStorage(void)
{
    Storage *storage = NULL;
    assert_int_equal(storagePosixNew(testDir, &storage), ERR_OK);
    return storage;
}

/* Every entry of directory path (temporary files included), as the file
 * system has it: what an interrupted write would leave behind. */
static size_t countEntries(const char *path)
{
    DIR *dir = opendir(path);
    assert_non_null(dir);
    size_t count = 0;
    struct dirent *entry;
    while ((entry = readdir(dir)) != NULL) {
        if (strcmp(entry->d_name, ".") != 0 && strcmp(entry->d_name, "..") != 0)
            count++;
    }
    closedir(dir);
    return count;
}

static void emptyTestDir(void)
{
    assert_int_equal(tearDownDir(NULL), 0);
    assert_int_equal(mkdir(testDir, 0700), 0);
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

static void hexOf(const uint8_t digest[32], char hex[65])
{
    for (int index = 0; index < 32; index++)
        snprintf(hex + 2 * index, 3, "%02x", digest[index]);
}

static void addRecords(ArcWriter *writer, uint32_t count)
{
    Buffer record;
    bufferInit(&record);
    for (uint32_t index = 0; index < count; index++) {
        ArcRecordKind kind = makeRecord(index, &record);
        assert_int_equal(arcWriterAdd(writer, kind, record.data, record.length), ERR_OK);
    }
    bufferFree(&record);
}

/* Opens a write of name on storage and an archive writer on it. */
static ArcWriter *openStorageWriter(Storage *storage, const char *name, unsigned flags, ArcCompression compression,
                                    const uint8_t *key)
{
    StorageWrite *destination = NULL;
    assert_int_equal(storageWriteOpen(storage, name, flags, &destination), ERR_OK);
    ArcWriterOptions options = {.compression = compression, .blockSize = TEST_BLOCK_SIZE, .dataKey = key};
    ArcWriter *writer = NULL;
    assert_int_equal(arcWriterOpenStorage(&writer, destination, name, &options, testHeader, sizeof(testHeader)),
                     ERR_OK);
    return writer;
}

/* Reads every record and checks it against makeRecord, then the totals
 * against written; frees the reader. */
static void checkReader(ArcReader *reader, ArcCompression compression, uint32_t count, const ArcTotals *written)
{
    assert_int_equal(arcReaderCompression(reader), compression);
    char hex[65];
    hexOf(written->fileSha256, hex);
    assert_int_equal(arcReaderExpectSha256(reader, hex), ERR_OK);
    size_t headerLength = 0;
    const uint8_t *header = arcReaderHeader(reader, &headerLength);
    assert_int_equal(headerLength, sizeof(testHeader));
    assert_memory_equal(header, testHeader, sizeof(testHeader));
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
        assert_int_equal(kind, makeRecord(seen, &expected));
        assert_int_equal(length, expected.length);
        if (length)
            assert_memory_equal(packed, expected.data, length);
        seen++;
    }
    assert_int_equal(seen, count);
    const ArcTotals *read = arcReaderTotals(reader);
    assert_int_equal(read->schemaCount, written->schemaCount);
    assert_int_equal(read->nodeCount, written->nodeCount);
    assert_int_equal(read->relationshipCount, written->relationshipCount);
    assert_int_equal(read->uncompressedBytes, written->uncompressedBytes);
    assert_int_equal(read->compressedBytes, written->compressedBytes);
    assert_memory_equal(read->contentDigest, written->contentDigest, 32);
    assert_memory_equal(read->fileSha256, written->fileSha256, 32);
    arcReaderFree(reader);
    bufferFree(&expected);
}

static ArcReader *openStorageReader(Storage *storage, const char *name, const uint8_t *key, ErrCode expected)
{
    StorageRead *source = NULL;
    assert_int_equal(storageReadOpen(storage, name, 0, STORAGE_READ_ALL, &source), ERR_OK);
    ArcReader *reader = NULL;
    assert_int_equal(arcReaderOpenStorage(&reader, source, name, key), expected);
    if (expected != ERR_OK)
        assert_null(reader);
    return reader;
}

static ErrCode countStorageFile(const StorageInfo *info, void *payload)
{
    (void)info;
    (*(size_t *)payload)++;
    return ERR_OK;
}

static void checkRoundTrip(ArcCompression compression, uint32_t count)
{
    emptyTestDir();
    Storage *storage = openStorage();
    char name[64];
    snprintf(name, sizeof(name), "backup/%s", arcFileName(compression));
    ArcWriter *writer = openStorageWriter(storage, name, STORAGE_WRITE_NO_REPLACE, compression, NULL);
    addRecords(writer, count);
    /* Nothing is visible before the commit. */
    StorageInfo info;
    assert_int_equal(storageStat(storage, name, &info), BACKUP_NOT_FOUND);
    size_t listed = 0;
    assert_int_equal(storageList(storage, "", countStorageFile, &listed), ERR_OK);
    assert_int_equal(listed, 0);
    ArcTotals written;
    assert_int_equal(arcWriterFinish(writer, &written), ERR_OK);
    assert_int_equal(arcWriterBytesWritten(writer), written.compressedBytes);
    arcWriterFree(writer);
    assert_int_equal(storageStat(storage, name, &info), ERR_OK);
    assert_int_equal(info.size, written.compressedBytes);

    /* The path writer makes the same bytes. */
    char storedPath[512];
    char fdPath[512];
    testPath(storedPath, sizeof(storedPath), name);
    testPath(fdPath, sizeof(fdPath), arcFileName(compression));
    ArcWriter *fdWriter = NULL;
    assert_int_equal(arcWriterOpen(&fdWriter, fdPath, compression, 0, TEST_BLOCK_SIZE, testHeader,
                                   sizeof(testHeader)),
                     ERR_OK);
    addRecords(fdWriter, count);
    ArcTotals fdWritten;
    assert_int_equal(arcWriterFinish(fdWriter, &fdWritten), ERR_OK);
    arcWriterFree(fdWriter);
    Buffer stored;
    Buffer direct;
    bufferInit(&stored);
    bufferInit(&direct);
    readFileBytes(storedPath, &stored);
    readFileBytes(fdPath, &direct);
    assert_int_equal(stored.length, direct.length);
    assert_memory_equal(stored.data, direct.data, stored.length);
    assert_memory_equal(written.fileSha256, fdWritten.fileSha256, 32);

    /* The checksum, by path and through the storage. */
    char writtenHex[65];
    char fileHex[65];
    char storageHex[65];
    uint64_t fileSize = 0;
    uint64_t storageSize = 0;
    hexOf(written.fileSha256, writtenHex);
    assert_int_equal(arcSha256File(storedPath, fileHex, &fileSize), ERR_OK);
    assert_int_equal(arcSha256Storage(storage, name, storageHex, &storageSize), ERR_OK);
    assert_string_equal(fileHex, writtenHex);
    assert_string_equal(storageHex, writtenHex);
    assert_int_equal(fileSize, written.compressedBytes);
    assert_int_equal(storageSize, written.compressedBytes);

    /* Read back through a descriptor and through the storage. */
    ArcReader *reader = NULL;
    assert_int_equal(arcReaderOpen(&reader, storedPath), ERR_OK);
    checkReader(reader, compression, count, &written);
    checkReader(openStorageReader(storage, name, NULL, ERR_OK), compression, count, &written);
    bufferFree(&stored);
    bufferFree(&direct);
    storageFree(storage);
}

static void testRoundTripEveryCompression(void **state)
{
    (void)state;
    for (int index = 0; index < COMPRESSION_COUNT; index++) {
        checkRoundTrip(allCompressions[index], 3000);
        checkRoundTrip(allCompressions[index], 0);
    }
}

static void testUnfinishedWriterLeavesNothing(void **state)
{
    (void)state;
    emptyTestDir();
    Storage *storage = openStorage();
    for (int index = 0; index < COMPRESSION_COUNT; index++) {
        ArcWriter *writer = openStorageWriter(storage, "partial.nbk", 0, allCompressions[index], NULL);
        addRecords(writer, 500);
        assert_true(arcWriterBytesWritten(writer) > 0);
        assert_int_equal(countEntries(testDir), 1); /* the driver's temporary file */
        errSet(OPERATION_INTERRUPTED, "the caller's failure");
        arcWriterFree(writer);
        /* Freeing an unfinished writer keeps the caller's error. */
        assert_int_equal(errLast()->code, OPERATION_INTERRUPTED);
        assert_string_equal(errLast()->reason, "the caller's failure");
        assert_int_equal(countEntries(testDir), 0);
    }
    arcWriterFree(NULL);

    /* A refused open aborts the write it was given. */
    StorageWrite *destination = NULL;
    assert_int_equal(storageWriteOpen(storage, "refused.nbk", 0, &destination), ERR_OK);
    assert_int_equal(countEntries(testDir), 1);
    ArcWriterOptions badBlock = {.compression = ARC_COMPRESSION_ZSTD, .blockSize = 100};
    ArcWriter *writer = (ArcWriter *)1;
    assert_int_equal(arcWriterOpenStorage(&writer, destination, "refused.nbk", &badBlock, NULL, 0), CONFIG_INVALID);
    assert_null(writer);
    assert_int_equal(countEntries(testDir), 0);

    /* No options: a zeroed struct's (format 1, no compression, 1 MiB blocks). */
    assert_int_equal(storageWriteOpen(storage, "defaults.nbk", 0, &destination), ERR_OK);
    assert_int_equal(arcWriterOpenStorage(&writer, destination, "defaults", NULL, testHeader, sizeof(testHeader)),
                     ERR_OK);
    addRecords(writer, 100);
    ArcTotals totals;
    assert_int_equal(arcWriterFinish(writer, &totals), ERR_OK);
    arcWriterFree(writer);
    checkReader(openStorageReader(storage, "defaults.nbk", NULL, ERR_OK), ARC_COMPRESSION_NONE, 100, &totals);
    assert_int_equal(storageRemove(storage, "defaults.nbk"), ERR_OK);

    /* A commit refused (the name exists) leaves the existing file as it was
     * and nothing else; the failure repeats. */
    StorageWrite *existing = NULL;
    assert_int_equal(storageWriteOpen(storage, "taken.nbk", 0, &existing), ERR_OK);
    assert_int_equal(storageWrite(existing, "old", 3), ERR_OK);
    assert_int_equal(storageWriteCommit(existing), ERR_OK);
    writer = openStorageWriter(storage, "taken.nbk", STORAGE_WRITE_NO_REPLACE, ARC_COMPRESSION_GZIP, NULL);
    addRecords(writer, 200);
    assert_int_equal(arcWriterFinish(writer, &totals), BACKUP_IO_FAILED);
    assert_non_null(strstr(errLast()->reason, "already exists"));
    char reason[sizeof(errLast()->reason)];
    snprintf(reason, sizeof(reason), "%s", errLast()->reason);
    assert_int_equal(arcWriterFinish(writer, &totals), BACKUP_IO_FAILED);
    assert_string_equal(errLast()->reason, reason);
    assert_int_equal(arcWriterAdd(writer, ARC_RECORD_NODE, (const uint8_t *)"x", 1), BACKUP_IO_FAILED);
    arcWriterFree(writer);
    assert_int_equal(countEntries(testDir), 1);
    char path[512];
    testPath(path, sizeof(path), "taken.nbk");
    Buffer content;
    bufferInit(&content);
    readFileBytes(path, &content);
    assert_int_equal(content.length, 3);
    assert_memory_equal(content.data, "old", 3);
    bufferFree(&content);
    storageFree(storage);
}

/* ---- a scripted driver: failures of every kind, reads in small pieces ---- */

typedef struct {
    /* writes */
    uint64_t written;
    uint64_t failWriteAfter; /* bytes accepted before a write fails */
    ErrCode writeFailure;
    ErrCode commitFailure;
    int commits;
    int aborts;
    /* reads */
    const uint8_t *image;
    size_t imageLength;
    size_t readChunk;       /* most bytes one read returns */
    size_t failReadAt;      /* offset at which a read fails */
    ErrCode readFailure;
    int closes;
} FakeDriver;

typedef struct {
    FakeDriver *driver;
    size_t position;
} FakeRead;

static ErrCode fakeReadOpen(void *driver, const char *name, uint64_t offset, uint64_t length, void **out)
{
    (void)name;
    (void)offset;
    (void)length;
    FakeRead *reader = calloc(1, sizeof(*reader));
    reader->driver = driver;
    *out = reader;
    return ERR_OK;
}

static ErrCode fakeRead(void *handle, void *buffer, size_t size, size_t *got)
{
    FakeRead *reader = handle;
    FakeDriver *driver = reader->driver;
    *got = 0;
    if (reader->position >= driver->failReadAt)
        return errSet(driver->readFailure, "fake: GET failed at offset %zu", reader->position);
    size_t take = driver->imageLength - reader->position;
    if (take > size)
        take = size;
    if (take > driver->readChunk)
        take = driver->readChunk;
    memcpy(buffer, driver->image + reader->position, take);
    reader->position += take;
    *got = take;
    return ERR_OK;
}

static void fakeReadClose(void *handle)
{
    FakeRead *reader = handle;
    reader->driver->closes++;
    errSet(ERR_INTERNAL, "a driver's cleanup clobbering the error");
    free(reader);
}

static ErrCode fakeWriteOpen(void *driver, const char *name, unsigned flags, void **out)
{
    (void)name;
    (void)flags;
    *out = driver;
    return ERR_OK;
}

static ErrCode fakeWrite(void *handle, const void *data, size_t length)
{
    (void)data;
    FakeDriver *driver = handle;
    if (driver->written + length > driver->failWriteAfter)
        return errSet(driver->writeFailure, "fake: the write failed after %llu bytes",
                      (unsigned long long)driver->written);
    driver->written += length;
    return ERR_OK;
}

static ErrCode fakeWriteCommit(void *handle)
{
    FakeDriver *driver = handle;
    driver->commits++;
    return driver->commitFailure == ERR_OK ? ERR_OK : errSet(driver->commitFailure, "fake: the completion failed");
}

static void fakeWriteAbort(void *handle)
{
    FakeDriver *driver = handle;
    driver->aborts++;
    errSet(ERR_INTERNAL, "a driver's cleanup clobbering the error");
}

static void fakeFree(void *driver) { (void)driver; }

static const StorageInterface fakeInterface = {
    .name = "fake",
    .readOpen = fakeReadOpen,
    .read = fakeRead,
    .readClose = fakeReadClose,
    .writeOpen = fakeWriteOpen,
    .write = fakeWrite,
    .writeCommit = fakeWriteCommit,
    .writeAbort = fakeWriteAbort,
    .free = fakeFree,
};

static ErrCode openFakeWriter(Storage *storage, ArcWriter **writer)
{
    StorageWrite *destination = NULL;
    assert_int_equal(storageWriteOpen(storage, "graph.nbk.zst", 0, &destination), ERR_OK);
    ArcWriterOptions options = {.compression = ARC_COMPRESSION_ZSTD, .blockSize = TEST_BLOCK_SIZE};
    return arcWriterOpenStorage(writer, destination, "graph.nbk.zst", &options, testHeader, sizeof(testHeader));
}

static void testWriteFailuresPassThrough(void **state)
{
    (void)state;
    /* Failing on the header: the open fails with the storage's error and the
     * write is aborted. */
    FakeDriver driver = {.failWriteAfter = 0, .writeFailure = BACKUP_NO_SPACE};
    Storage *storage = storageNew(&fakeInterface, &driver);
    ArcWriter *writer = NULL;
    assert_int_equal(openFakeWriter(storage, &writer), BACKUP_NO_SPACE);
    assert_null(writer);
    assert_string_equal(errLast()->reason, "fake: the write failed after 0 bytes");
    assert_int_equal(driver.aborts, 1);
    assert_int_equal(driver.commits, 0);

    /* Failing mid-way: every code as the driver gave it, then repeated. */
    static const ErrCode failures[] = {BACKUP_NO_SPACE, STORAGE_UNREACHABLE, STORAGE_AUTH_FAILED, BACKUP_IO_FAILED};
    for (size_t index = 0; index < sizeof(failures) / sizeof(failures[0]); index++) {
        driver = (FakeDriver){.failWriteAfter = 20000, .writeFailure = failures[index]};
        assert_int_equal(openFakeWriter(storage, &writer), ERR_OK);
        Buffer record;
        bufferInit(&record);
        ErrCode result = ERR_OK;
        for (uint32_t count = 0; result == ERR_OK && count < 100000; count++) {
            ArcRecordKind kind = makeRecord(count, &record);
            result = arcWriterAdd(writer, kind, record.data, record.length);
        }
        bufferFree(&record);
        assert_int_equal(result, failures[index]);
        char reason[sizeof(errLast()->reason)];
        snprintf(reason, sizeof(reason), "%s", errLast()->reason);
        assert_non_null(strstr(reason, "fake: the write failed after "));
        assert_int_equal(arcWriterAdd(writer, ARC_RECORD_NODE, (const uint8_t *)"x", 1), failures[index]);
        assert_string_equal(errLast()->reason, reason);
        ArcTotals totals;
        assert_int_equal(arcWriterFinish(writer, &totals), failures[index]);
        assert_string_equal(errLast()->reason, reason);
        assert_int_equal(driver.commits, 0);
        arcWriterFree(writer);
        assert_string_equal(errLast()->reason, reason); /* the abort kept it */
        assert_int_equal(driver.aborts, 1);
    }

    /* The commit fails: its error, and no abort after it (the commit ended
     * the write). */
    driver = (FakeDriver){.failWriteAfter = UINT64_MAX, .commitFailure = STORAGE_UNREACHABLE};
    assert_int_equal(openFakeWriter(storage, &writer), ERR_OK);
    addRecords(writer, 300);
    ArcTotals totals;
    assert_int_equal(arcWriterFinish(writer, &totals), STORAGE_UNREACHABLE);
    assert_string_equal(errLast()->reason, "fake: the completion failed");
    assert_int_equal(arcWriterFinish(writer, &totals), STORAGE_UNREACHABLE);
    arcWriterFree(writer);
    assert_int_equal(driver.commits, 1);
    assert_int_equal(driver.aborts, 0);

    /* A good write is committed once and never aborted. */
    driver = (FakeDriver){.failWriteAfter = UINT64_MAX};
    assert_int_equal(openFakeWriter(storage, &writer), ERR_OK);
    addRecords(writer, 300);
    assert_int_equal(arcWriterFinish(writer, &totals), ERR_OK);
    arcWriterFree(writer);
    assert_int_equal(driver.commits, 1);
    assert_int_equal(driver.aborts, 0);
    assert_int_equal(driver.written, totals.compressedBytes);
    storageFree(storage);
}

/* Writes count records as an archive image in memory (a memfd). */
static void writeImage(ArcCompression compression, const uint8_t *key, uint32_t count, Buffer *image,
                       ArcTotals *totals)
{
    int fd = memfd_create("archive-storage-test", MFD_CLOEXEC);
    assert_true(fd >= 0);
    int keep = dup(fd);
    ArcWriterOptions options = {.compression = compression, .blockSize = TEST_BLOCK_SIZE, .dataKey = key};
    ArcWriter *writer = NULL;
    assert_int_equal(arcWriterOpenFdWith(&writer, fd, "memory", &options, testHeader, sizeof(testHeader)), ERR_OK);
    addRecords(writer, count);
    assert_int_equal(arcWriterFinish(writer, totals), ERR_OK);
    arcWriterFree(writer);
    bufferClear(image);
    assert_int_equal(lseek(keep, 0, SEEK_SET), 0);
    uint8_t chunk[65536];
    ssize_t got;
    while ((got = read(keep, chunk, sizeof(chunk))) > 0)
        bufferAppend(image, chunk, (size_t)got);
    close(keep);
    assert_int_equal(image->length, totals->compressedBytes);
}

static void testReadsInPiecesAndReadFailures(void **state)
{
    (void)state;
    Buffer image;
    bufferInit(&image);
    ArcTotals totals;
    writeImage(ARC_COMPRESSION_GZIP, NULL, 1500, &image, &totals);
    /* An object store hands out whatever a GET brought: odd, small pieces. */
    static const size_t chunks[] = {1, 7, 4093, 1 << 20};
    FakeDriver driver;
    Storage *storage = storageNew(&fakeInterface, &driver);
    for (size_t index = 0; index < sizeof(chunks) / sizeof(chunks[0]); index++) {
        driver = (FakeDriver){.image = image.data, .imageLength = image.length, .readChunk = chunks[index],
                              .failReadAt = SIZE_MAX};
        checkReader(openStorageReader(storage, "graph.nbk.gz", NULL, ERR_OK), ARC_COMPRESSION_GZIP, 1500, &totals);
        assert_int_equal(driver.closes, 1);
    }

    /* A read failing at the start: the open fails and closes the read. */
    driver = (FakeDriver){.image = image.data, .imageLength = image.length, .readChunk = 4096, .failReadAt = 0,
                          .readFailure = STORAGE_UNREACHABLE};
    openStorageReader(storage, "graph.nbk.gz", NULL, STORAGE_UNREACHABLE);
    assert_string_equal(errLast()->reason, "fake: GET failed at offset 0");
    assert_int_equal(driver.closes, 1);

    /* Failing in the middle: the storage's code and detail, then again. */
    static const ErrCode failures[] = {STORAGE_UNREACHABLE, BACKUP_IO_FAILED, STORAGE_AUTH_FAILED};
    for (size_t index = 0; index < sizeof(failures) / sizeof(failures[0]); index++) {
        driver = (FakeDriver){.image = image.data, .imageLength = image.length, .readChunk = 4096,
                              .failReadAt = image.length / 2, .readFailure = failures[index]};
        ArcReader *reader = openStorageReader(storage, "graph.nbk.gz", NULL, ERR_OK);
        ErrCode result = ERR_OK;
        uint64_t records = 0;
        while (result == ERR_OK) {
            ArcRecordKind kind;
            const uint8_t *packed = NULL;
            size_t length = 0;
            result = arcReaderNext(reader, &kind, &packed, &length);
            if (result == ERR_OK && !packed)
                break;
            records += result == ERR_OK;
        }
        assert_int_equal(result, failures[index]);
        assert_true(records > 0 && records < 1500);
        char expected[128];
        snprintf(expected, sizeof(expected), "fake: GET failed at offset %zu", (image.length / 2 + 4095) / 4096 * 4096);
        assert_string_equal(errLast()->reason, expected);
        ArcRecordKind kind;
        const uint8_t *packed = NULL;
        size_t length = 0;
        assert_int_equal(arcReaderNext(reader, &kind, &packed, &length), failures[index]);
        assert_string_equal(errLast()->reason, expected);
        arcReaderFree(reader);
        assert_string_equal(errLast()->reason, expected); /* the close kept it */
        assert_int_equal(driver.closes, 1);
    }
    arcReaderFree(NULL);
    storageFree(storage);
    bufferFree(&image);
}

/* Reads data to its end through a descriptor or through the storage (as
 * file "damaged.nbk"); returns the first error with its reason. */
static ErrCode readDamaged(Storage *storage, bool throughStorage, const Buffer *data, const char *expectHex,
                           const uint8_t *key, char *reason, size_t reasonSize)
{
    ArcReader *reader = NULL;
    ErrCode result;
    if (throughStorage) {
        StorageWrite *destination = NULL;
        assert_int_equal(storageWriteOpen(storage, "damaged.nbk", 0, &destination), ERR_OK);
        assert_int_equal(storageWrite(destination, data->data, data->length), ERR_OK);
        assert_int_equal(storageWriteCommit(destination), ERR_OK);
        StorageRead *source = NULL;
        assert_int_equal(storageReadOpen(storage, "damaged.nbk", 0, STORAGE_READ_ALL, &source), ERR_OK);
        result = arcReaderOpenStorage(&reader, source, "damaged", key);
    } else {
        int fd = memfd_create("archive-storage-damaged", MFD_CLOEXEC);
        assert_true(fd >= 0);
        if (data->length)
            assert_int_equal(write(fd, data->data, data->length), (ssize_t)data->length);
        assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
        result = arcReaderOpenFdWith(&reader, fd, "damaged", key);
    }
    if (result == ERR_OK && expectHex)
        result = arcReaderExpectSha256(reader, expectHex);
    while (result == ERR_OK) {
        ArcRecordKind kind;
        const uint8_t *packed = NULL;
        size_t length = 0;
        result = arcReaderNext(reader, &kind, &packed, &length);
        if (result != ERR_OK || !packed)
            break;
    }
    snprintf(reason, reasonSize, "%s", result == ERR_OK ? "" : errLast()->reason);
    arcReaderFree(reader);
    return result;
}

/* The same bytes give the same verdict and the same message both ways. */
static ErrCode checkSameVerdict(Storage *storage, const Buffer *data, const char *expectHex, const uint8_t *key)
{
    char viaFd[sizeof(errLast()->reason)];
    char viaStorage[sizeof(errLast()->reason)];
    ErrCode fdResult = readDamaged(storage, false, data, expectHex, key, viaFd, sizeof(viaFd));
    ErrCode storageResult = readDamaged(storage, true, data, expectHex, key, viaStorage, sizeof(viaStorage));
    assert_int_equal(storageResult, fdResult);
    assert_string_equal(viaStorage, viaFd);
    return storageResult;
}

static void checkDamageDetected(const uint8_t *key)
{
    emptyTestDir();
    Storage *storage = openStorage();
    Buffer image;
    Buffer damaged;
    bufferInit(&image);
    bufferInit(&damaged);
    for (int index = 0; index < COMPRESSION_COUNT; index++) {
        ArcTotals totals;
        writeImage(allCompressions[index], key, 600, &image, &totals);
        char hex[65];
        hexOf(totals.fileSha256, hex);
        assert_int_equal(checkSameVerdict(storage, &image, hex, key), ERR_OK);
        /* Flipped bytes, at both ends and spread over the middle. */
        size_t flips = 0;
        for (size_t position = 0; position < image.length; position++) {
            bool edge = position < 32 || position + 32 >= image.length;
            if (!edge && position % 211 != 0)
                continue;
            bufferClear(&damaged);
            bufferAppend(&damaged, image.data, image.length);
            damaged.data[position] ^= (uint8_t)(1u << (position % 8));
            if (checkSameVerdict(storage, &damaged, hex, key) != BACKUP_CORRUPTED)
                fail_msg("%s: flip at %zu not reported as BACKUP_CORRUPTED", arcCompressionName(allCompressions[index]),
                         position);
            checkSameVerdict(storage, &damaged, NULL, key);
            flips++;
        }
        assert_true(flips > 64);
        /* Truncated anywhere, with trailing data. */
        for (size_t length = 0; length < image.length; length += length < 64 ? 1 : 173) {
            bufferClear(&damaged);
            bufferAppend(&damaged, image.data, length);
            assert_int_equal(checkSameVerdict(storage, &damaged, NULL, key), BACKUP_CORRUPTED);
        }
        bufferClear(&damaged);
        bufferAppend(&damaged, image.data, image.length);
        bufferAppend(&damaged, "x", 1);
        assert_int_equal(checkSameVerdict(storage, &damaged, NULL, key), BACKUP_CORRUPTED);
        /* The right file, the wrong expected checksum. */
        char wrongHex[65];
        snprintf(wrongHex, sizeof(wrongHex), "%s", hex);
        wrongHex[0] = wrongHex[0] == '0' ? '1' : '0';
        assert_int_equal(checkSameVerdict(storage, &image, wrongHex, key), BACKUP_CORRUPTED);
    }
    bufferFree(&image);
    bufferFree(&damaged);
    storageFree(storage);
}

static void testDamageReportedAsOnDescriptor(void **state)
{
    (void)state;
    checkDamageDetected(NULL);
}

static void testEncryptedDamageReportedAsOnDescriptor(void **state)
{
    (void)state;
    checkDamageDetected(testKey);
}

static void testEncryptedThroughStorage(void **state)
{
    (void)state;
    emptyTestDir();
    Storage *storage = openStorage();
    for (int index = 0; index < COMPRESSION_COUNT; index++) {
        ArcCompression compression = allCompressions[index];
        const char *name = arcFileName(compression);
        ArcWriter *writer = openStorageWriter(storage, name, STORAGE_WRITE_NO_REPLACE, compression, testKey);
        addRecords(writer, 2000);
        ArcTotals written;
        assert_int_equal(arcWriterFinish(writer, &written), ERR_OK);
        arcWriterFree(writer);
        char path[512];
        testPath(path, sizeof(path), name);
        Buffer stored;
        bufferInit(&stored);
        readFileBytes(path, &stored);
        assert_int_equal(stored.length, written.compressedBytes);
        assert_null(memmem(stored.data, stored.length, "name1", 5)); /* nothing in clear */
        bufferFree(&stored);

        /* With the key, through the storage and through a descriptor. */
        ArcReader *reader = openStorageReader(storage, name, testKey, ERR_OK);
        assert_true(arcReaderEncrypted(reader));
        checkReader(reader, compression, 2000, &written);
        assert_int_equal(arcReaderOpenWith(&reader, path, testKey), ERR_OK);
        checkReader(reader, compression, 2000, &written);
        /* Without it or with another: refused before any record. */
        openStorageReader(storage, name, NULL, BACKUP_KEY_REQUIRED);
        openStorageReader(storage, name, otherKey, BACKUP_KEY_INVALID);
        /* Framing only, on a descriptor: what --validate without the key reads. */
        int fd = -1;
        assert_int_equal(arcOpenFile(path, &fd), ERR_OK);
        assert_int_equal(arcReaderOpenFramingOnly(&reader, fd, name), ERR_OK);
        char hex[65];
        hexOf(written.fileSha256, hex);
        assert_int_equal(arcReaderExpectSha256(reader, hex), ERR_OK);
        ArcRecordKind kind;
        const uint8_t *packed = (const uint8_t *)"x";
        size_t length = 0;
        assert_int_equal(arcReaderNext(reader, &kind, &packed, &length), ERR_OK);
        assert_null(packed);
        arcReaderFree(reader);
        char storageHex[65];
        uint64_t size = 0;
        assert_int_equal(arcSha256Storage(storage, name, storageHex, &size), ERR_OK);
        assert_string_equal(storageHex, hex);
        assert_int_equal(size, written.compressedBytes);
    }
    storageFree(storage);
}

static void testSha256StorageMissing(void **state)
{
    (void)state;
    emptyTestDir();
    Storage *storage = openStorage();
    char hex[65] = "";
    assert_int_equal(arcSha256Storage(storage, "absent/graph.nbk.zst", hex, NULL), BACKUP_NOT_FOUND);
    assert_int_equal(arcSha256Storage(storage, "../escape", hex, NULL), CONFIG_INVALID);
    /* An empty file has the empty string's digest. */
    StorageWrite *destination = NULL;
    assert_int_equal(storageWriteOpen(storage, "empty", 0, &destination), ERR_OK);
    assert_int_equal(storageWriteCommit(destination), ERR_OK);
    uint64_t size = 1;
    assert_int_equal(arcSha256Storage(storage, "empty", hex, &size), ERR_OK);
    assert_string_equal(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    assert_int_equal(size, 0);
    storageFree(storage);
}

/* ArcLocation: a path or a storage name, the same archive and the same
 * messages either way. */
static void testLocations(void **state)
{
    (void)state;
    emptyTestDir();
    Storage *storage = openStorage();
    char path[512];
    testPath(path, sizeof(path), "id/graph.nbk.gz");
    ArcLocation inStorage = {.storage = storage, .name = "id/graph.nbk.gz", .path = path};
    ArcLocation byPath = {.path = path};
    ArcLocation nameOnly = {.storage = storage, .name = "id/graph.nbk.gz"};
    assert_string_equal(arcLocationShown(&inStorage), path);
    assert_string_equal(arcLocationShown(&nameOnly), "id/graph.nbk.gz");

    /* Missing: the same code and message whichever way. */
    char expected[600];
    snprintf(expected, sizeof(expected), "archive file missing: %s", path);
    ArcReader *reader = NULL;
    char hex[65];
    const ArcLocation *both[] = {&inStorage, &byPath};
    for (size_t index = 0; index < 2; index++) {
        assert_int_equal(arcReaderOpenAt(&reader, both[index], NULL), BACKUP_NOT_FOUND);
        assert_null(reader);
        assert_string_equal(errLast()->reason, expected);
        assert_int_equal(arcSha256At(both[index], hex, NULL), BACKUP_NOT_FOUND);
        assert_string_equal(errLast()->reason, expected);
    }
    assert_int_equal(arcReaderOpenAt(&reader, &nameOnly, NULL), BACKUP_NOT_FOUND);
    assert_string_equal(errLast()->reason, "archive file missing: id/graph.nbk.gz");

    /* Written through the storage (parents made), read back both ways. */
    ArcWriterOptions options = {.compression = ARC_COMPRESSION_GZIP, .blockSize = TEST_BLOCK_SIZE};
    ArcWriter *writer = NULL;
    assert_int_equal(arcWriterOpenAt(&writer, &inStorage, &options, testHeader, sizeof(testHeader)), ERR_OK);
    addRecords(writer, 700);
    assert_int_equal(access(path, F_OK), -1); /* not before the commit */
    ArcTotals totals;
    assert_int_equal(arcWriterFinish(writer, &totals), ERR_OK);
    arcWriterFree(writer);
    assert_int_equal(arcReaderOpenAt(&reader, &inStorage, NULL), ERR_OK);
    checkReader(reader, ARC_COMPRESSION_GZIP, 700, &totals);
    assert_int_equal(arcReaderOpenAt(&reader, &byPath, NULL), ERR_OK);
    checkReader(reader, ARC_COMPRESSION_GZIP, 700, &totals);
    char writtenHex[65];
    hexOf(totals.fileSha256, writtenHex);
    for (size_t index = 0; index < 2; index++) {
        uint64_t size = 0;
        assert_int_equal(arcSha256At(both[index], hex, &size), ERR_OK);
        assert_string_equal(hex, writtenHex);
        assert_int_equal(size, totals.compressedBytes);
    }

    /* Never over an existing archive: the path refuses at the open, the
     * storage at the commit, and the first archive stays as it was. */
    assert_int_equal(arcWriterOpenAt(&writer, &byPath, &options, NULL, 0), BACKUP_IO_FAILED);
    assert_int_equal(arcWriterOpenAt(&writer, &inStorage, &options, NULL, 0), ERR_OK);
    addRecords(writer, 10);
    assert_int_equal(arcWriterFinish(writer, &totals), BACKUP_IO_FAILED);
    arcWriterFree(writer);
    snprintf(expected, sizeof(expected), "%s/id", testDir);
    assert_int_equal(countEntries(expected), 1);
    assert_int_equal(arcSha256At(&inStorage, hex, NULL), ERR_OK);
    assert_string_equal(hex, writtenHex);
    storageFree(storage);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(testRoundTripEveryCompression),
        cmocka_unit_test(testUnfinishedWriterLeavesNothing),
        cmocka_unit_test(testWriteFailuresPassThrough),
        cmocka_unit_test(testReadsInPiecesAndReadFailures),
        cmocka_unit_test(testDamageReportedAsOnDescriptor),
        cmocka_unit_test(testEncryptedDamageReportedAsOnDescriptor),
        cmocka_unit_test(testEncryptedThroughStorage),
        cmocka_unit_test(testSha256StorageMissing),
        cmocka_unit_test(testLocations),
    };
    return cmocka_run_group_tests(tests, setUpDir, tearDownDir);
}
