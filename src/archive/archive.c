/* Archive helpers shared by writer and reader users: compression names, the
 * streamed SHA-256 of a whole file (by path or through a Storage), and
 * opening an archive where it is (ArcLocation: a path or a storage name). */
#include "archive/archive.h"
#include "archive/archive_format.h"
#include "common/fsutil.h"
#include "common/mem.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

const char *arcCompressionName(ArcCompression compression)
{
    switch (compression) {
    case ARC_COMPRESSION_NONE:
        return "none";
    case ARC_COMPRESSION_GZIP:
        return "gzip";
    case ARC_COMPRESSION_ZSTD:
        return "zstd";
    }
    return "unknown";
}

ErrCode arcCompressionParse(const char *name, ArcCompression *out)
{
    static const ArcCompression all[] = {ARC_COMPRESSION_NONE, ARC_COMPRESSION_GZIP,
                                         ARC_COMPRESSION_ZSTD};
    for (size_t index = 0; name && index < sizeof(all) / sizeof(all[0]); index++) {
        if (strcmp(name, arcCompressionName(all[index])) == 0) {
            *out = all[index];
            return ERR_OK;
        }
    }
    return errSet(CONFIG_INVALID, "unknown compression '%s' (expected none, gzip or zstd)",
                  name ? name : "");
}

const char *arcFileName(ArcCompression compression)
{
    switch (compression) {
    case ARC_COMPRESSION_NONE:
        return "graph.nbk";
    case ARC_COMPRESSION_GZIP:
        return "graph.nbk.gz";
    case ARC_COMPRESSION_ZSTD:
        return "graph.nbk.zst";
    }
    return "graph.nbk";
}

ErrCode arcOpenFile(const char *path, int *fd)
{
    /* Never blocks on a FIFO, never follows a link: see fsOpenRegular. */
    *fd = -1;
    ErrCode opened = fsOpenRegular(path, fd, NULL);
    if (opened == BACKUP_NOT_FOUND)
        return errSet(BACKUP_NOT_FOUND, "archive file missing: %s", path);
    return opened;
}

/* One chunk of the file being hashed; *got = 0 at its end. */
typedef ErrCode (*ArcShaRead)(void *source, const char *name, uint8_t *into, size_t room, size_t *got);

static ErrCode arcShaReadFd(void *source, const char *name, uint8_t *into, size_t room, size_t *got)
{
    int fd = *(const int *)source;
    for (;;) {
        ssize_t count = read(fd, into, room);
        if (count >= 0) {
            *got = (size_t)count;
            return ERR_OK;
        }
        if (errno != EINTR)
            return errSet(BACKUP_IO_FAILED, "cannot read %s: %s", name, strerror(errno));
    }
}

static ErrCode arcShaReadStorage(void *source, const char *name, uint8_t *into, size_t room, size_t *got)
{
    (void)name; /* the storage's detail names the file */
    return storageRead(source, into, room, got);
}

static ErrCode arcSha256Stream(ArcShaRead readChunk, void *source, const char *name, char hex[65],
                               uint64_t *sizeOut)
{
    enum { READ_CHUNK = 1024 * 1024 };
    uint8_t *chunk = memAlloc(READ_CHUNK);
    EVP_MD_CTX *sha = EVP_MD_CTX_new();
    ErrCode result = ERR_OK;
    uint64_t total = 0;
    if (!sha || EVP_DigestInit_ex(sha, EVP_sha256(), NULL) != 1)
        result = errSet(ERR_INTERNAL, "cannot set up SHA-256 for %s", name);
    while (result == ERR_OK) {
        size_t got = 0;
        result = readChunk(source, name, chunk, READ_CHUNK, &got);
        if (result != ERR_OK || got == 0)
            break;
        EVP_DigestUpdate(sha, chunk, got);
        total += got;
    }
    if (result == ERR_OK) {
        uint8_t digest[32];
        unsigned int digestLength = 0;
        EVP_DigestFinal_ex(sha, digest, &digestLength);
        for (unsigned int index = 0; index < 32; index++)
            snprintf(hex + 2 * index, 3, "%02x", digest[index]);
        hex[64] = '\0';
        if (sizeOut)
            *sizeOut = total;
    }
    EVP_MD_CTX_free(sha);
    free(chunk);
    return result;
}

ErrCode arcSha256File(const char *path, char hex[65], uint64_t *sizeOut)
{
    int fd = -1;
    ErrCode result = arcOpenFile(path, &fd);
    if (result != ERR_OK)
        return result;
    result = arcSha256Stream(arcShaReadFd, &fd, path, hex, sizeOut);
    close(fd);
    return result;
}

ErrCode arcSha256Storage(Storage *storage, const char *name, char hex[65], uint64_t *sizeOut)
{
    StorageRead *reader = NULL;
    ErrCode result = storageReadOpen(storage, name, 0, STORAGE_READ_ALL, &reader);
    if (result != ERR_OK)
        return result;
    result = arcSha256Stream(arcShaReadStorage, reader, name, hex, sizeOut);
    storageReadClose(reader);
    return result;
}

const char *arcLocationShown(const ArcLocation *location)
{
    if (location->path)
        return location->path;
    return location->name ? location->name : "archive";
}

/* A missing file reads the same whichever way the archive is reached. */
static ErrCode arcLocationMissing(const ArcLocation *location, ErrCode code)
{
    if (code == BACKUP_NOT_FOUND)
        return errSet(BACKUP_NOT_FOUND, "archive file missing: %s", arcLocationShown(location));
    return code;
}

ErrCode arcWriterOpenAt(ArcWriter **out, const ArcLocation *location, const ArcWriterOptions *options,
                        const uint8_t *headerPacked, size_t headerLength)
{
    *out = NULL;
    ArcWriterOptions keyed = options ? *options : (ArcWriterOptions){0};
    if (!keyed.dataKey)
        keyed.dataKey = location->dataKey;
    options = &keyed;
    if (!location->storage)
        return arcWriterOpenWith(out, location->path, options, headerPacked, headerLength);
    StorageWrite *destination = NULL;
    ErrCode result = storageWriteOpen(location->storage, location->name, STORAGE_WRITE_NO_REPLACE, &destination);
    if (result != ERR_OK)
        return result;
    return arcWriterOpenStorage(out, destination, arcLocationShown(location), options, headerPacked, headerLength);
}

ErrCode arcReaderOpenAt(ArcReader **out, const ArcLocation *location, const uint8_t *dataKey)
{
    *out = NULL;
    if (!dataKey)
        dataKey = location->dataKey;
    if (!location->storage)
        return arcReaderOpenWith(out, location->path, dataKey);
    StorageRead *source = NULL;
    ErrCode result = storageReadOpen(location->storage, location->name, 0, STORAGE_READ_ALL, &source);
    if (result != ERR_OK)
        return arcLocationMissing(location, result);
    return arcReaderOpenStorage(out, source, arcLocationShown(location), dataKey);
}

ErrCode arcReaderOpenFramingOnlyAt(ArcReader **out, const ArcLocation *location)
{
    *out = NULL;
    if (!location->storage) {
        int fd = -1;
        ErrCode opened = arcOpenFile(location->path, &fd);
        if (opened != ERR_OK)
            return opened;
        return arcReaderOpenFramingOnly(out, fd, location->path);
    }
    StorageRead *source = NULL;
    ErrCode result = storageReadOpen(location->storage, location->name, 0, STORAGE_READ_ALL, &source);
    if (result != ERR_OK)
        return arcLocationMissing(location, result);
    return arcReaderOpenStorageFramingOnly(out, source, arcLocationShown(location));
}

ErrCode arcSha256At(const ArcLocation *location, char hex[65], uint64_t *sizeOut)
{
    if (!location->storage)
        return arcSha256File(location->path, hex, sizeOut);
    return arcLocationMissing(location, arcSha256Storage(location->storage, location->name, hex, sizeOut));
}

ErrCode arcKeySectionAt(const ArcLocation *location, uint8_t out[ARC_KEY_SECTION_BYTES])
{
    enum { PREFIX = ARC_PREAMBLE_LENGTH + ARC_SECTION_PREFIX_LENGTH, TOTAL = PREFIX + ARC_KEY_SECTION_BYTES };
    uint8_t head[TOTAL];
    size_t got = 0;
    ErrCode result = ERR_OK;
    if (location->storage) {
        StorageRead *source = NULL;
        result = storageReadOpen(location->storage, location->name, 0, TOTAL, &source);
        if (result != ERR_OK)
            return arcLocationMissing(location, result);
        while (result == ERR_OK && got < TOTAL) {
            size_t chunk = 0;
            result = storageRead(source, head + got, TOTAL - got, &chunk);
            if (chunk == 0)
                break;
            got += chunk;
        }
        storageReadClose(source);
    } else {
        int fd = -1;
        result = arcOpenFile(location->path, &fd);
        if (result != ERR_OK)
            return result;
        while (got < TOTAL) {
            ssize_t chunk = read(fd, head + got, TOTAL - got);
            if (chunk < 0 && errno == EINTR)
                continue;
            if (chunk <= 0)
                break;
            got += (size_t)chunk;
        }
        close(fd);
    }
    if (result != ERR_OK)
        return result;
    if (got < TOTAL || memcmp(head, ARC_MAGIC_ENCRYPTED, ARC_MAGIC_LENGTH) != 0 ||
        head[ARC_PREAMBLE_LENGTH] != ARC_SECTION_KEY || head[PREFIX - 4] != 0 || head[PREFIX - 3] != 0 ||
        head[PREFIX - 2] != 0 || head[PREFIX - 1] != ARC_KEY_SECTION_BYTES)
        return errSet(BACKUP_CORRUPTED, "%s does not start with an encrypted archive's key section",
                      arcLocationShown(location));
    memcpy(out, head + PREFIX, ARC_KEY_SECTION_BYTES);
    return ERR_OK;
}
