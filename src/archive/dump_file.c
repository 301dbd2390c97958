/* Dump files (dump_file.h): the file neo4j-admin writes, its SHA-256 and a
 * decode of its compressed stream, while it is written or from disk. */
#include "archive/dump_file.h"

#include "common/fsutil.h"
#include "common/mem.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

#define DUMP_IO_CHUNK (256u * 1024u)

typedef enum { DUMP_CODEC_UNKNOWN, DUMP_CODEC_PENDING, DUMP_CODEC_ZSTD, DUMP_CODEC_GZIP } DumpCodec;

/* Decodes the dump's compressed stream as it goes by, counting its bytes. */
typedef struct {
    DumpCodec codec;
    uint8_t head[4];
    size_t headLength;
    ZSTD_DStream *zstd;
    bool zstdFrameDone;  /* the last frame ended (ZSTD_decompressStream returned 0) */
    z_stream gzip;
    bool gzipOpen;
    bool gzipDone;
    uint8_t *scratch;
    size_t scratchSize;
    uint64_t consumed;   /* input bytes seen, for error offsets */
    uint64_t produced;
    char format[8];
} DumpDecoder;

static void dumpDecoderInit(DumpDecoder *decoder)
{
    memset(decoder, 0, sizeof(*decoder));
    decoder->codec = DUMP_CODEC_PENDING;
}

static void dumpDecoderFree(DumpDecoder *decoder)
{
    if (decoder->zstd)
        ZSTD_freeDStream(decoder->zstd);
    if (decoder->gzipOpen)
        inflateEnd(&decoder->gzip);
    free(decoder->scratch);
    decoder->zstd = NULL;
    decoder->gzipOpen = false;
    decoder->scratch = NULL;
}

static ErrCode dumpDecodeZstd(DumpDecoder *decoder, const uint8_t *data, size_t length)
{
    ZSTD_inBuffer input = {data, length, 0};
    ZSTD_outBuffer output;
    do {
        output = (ZSTD_outBuffer){decoder->scratch, decoder->scratchSize, 0};
        size_t result = ZSTD_decompressStream(decoder->zstd, &output, &input);
        if (ZSTD_isError(result))
            return errSet(BACKUP_CORRUPTED, "the dump's zstd stream is damaged near byte %llu: %s",
                          (unsigned long long)(decoder->consumed + input.pos), ZSTD_getErrorName(result));
        decoder->produced += output.pos;
        decoder->zstdFrameDone = result == 0;
    } while (input.pos < input.size || output.pos == output.size);
    return ERR_OK;
}

static ErrCode dumpDecodeGzip(DumpDecoder *decoder, const uint8_t *data, size_t length)
{
    z_stream *stream = &decoder->gzip;
    stream->next_in = (Bytef *)data;
    stream->avail_in = (uInt)length;
    while (stream->avail_in > 0) {
        if (decoder->gzipDone) {
            inflateReset(stream); /* another gzip member follows */
            decoder->gzipDone = false;
        }
        stream->next_out = decoder->scratch;
        stream->avail_out = (uInt)decoder->scratchSize;
        int result = inflate(stream, Z_NO_FLUSH);
        decoder->produced += decoder->scratchSize - stream->avail_out;
        if (result == Z_STREAM_END)
            decoder->gzipDone = true;
        else if (result != Z_OK && result != Z_BUF_ERROR)
            return errSet(BACKUP_CORRUPTED, "the dump's gzip stream is damaged near byte %llu: %s",
                          (unsigned long long)(decoder->consumed + length - stream->avail_in),
                          stream->msg ? stream->msg : "inflate error");
    }
    return ERR_OK;
}

static ErrCode dumpDecoderStart(DumpDecoder *decoder)
{
    static const uint8_t gzipMagic[2] = {0x1f, 0x8b};
    if (memcmp(decoder->head, "DZV1", 4) == 0) {
        decoder->codec = DUMP_CODEC_ZSTD;
        snprintf(decoder->format, sizeof(decoder->format), "DZV1");
    } else if (memcmp(decoder->head, "DGV1", 4) == 0) {
        decoder->codec = DUMP_CODEC_GZIP;
        snprintf(decoder->format, sizeof(decoder->format), "DGV1");
    } else if (memcmp(decoder->head, gzipMagic, 2) == 0) {
        decoder->codec = DUMP_CODEC_GZIP;
        snprintf(decoder->format, sizeof(decoder->format), "gzip");
    } else {
        decoder->codec = DUMP_CODEC_UNKNOWN; /* a newer format: the checksum still guards it */
        return ERR_OK;
    }
    decoder->scratchSize = decoder->codec == DUMP_CODEC_ZSTD ? ZSTD_DStreamOutSize() : DUMP_IO_CHUNK;
    decoder->scratch = memAlloc(decoder->scratchSize);
    if (decoder->codec == DUMP_CODEC_ZSTD) {
        decoder->zstd = ZSTD_createDStream();
        if (!decoder->zstd || ZSTD_isError(ZSTD_initDStream(decoder->zstd)))
            return errSet(ERR_INTERNAL, "cannot create a zstd decoder");
        return ERR_OK;
    }
    decoder->gzipOpen = inflateInit2(&decoder->gzip, 16 + MAX_WBITS) == Z_OK;
    if (!decoder->gzipOpen)
        return errSet(ERR_INTERNAL, "cannot create a gzip decoder");
    /* A bare gzip stream starts with its own magic: those bytes are data. */
    return decoder->format[0] == 'g' ? dumpDecodeGzip(decoder, decoder->head, decoder->headLength) : ERR_OK;
}

static ErrCode dumpDecoderAdd(DumpDecoder *decoder, const uint8_t *data, size_t length)
{
    ErrCode code = ERR_OK;
    if (decoder->codec == DUMP_CODEC_PENDING) {
        size_t take = sizeof(decoder->head) - decoder->headLength;
        if (take > length)
            take = length;
        memcpy(decoder->head + decoder->headLength, data, take);
        decoder->headLength += take;
        decoder->consumed += take;
        data += take;
        length -= take;
        if (decoder->headLength < sizeof(decoder->head))
            return ERR_OK;
        code = dumpDecoderStart(decoder);
    }
    if (code == ERR_OK && length > 0) {
        if (decoder->codec == DUMP_CODEC_ZSTD)
            code = dumpDecodeZstd(decoder, data, length);
        else if (decoder->codec == DUMP_CODEC_GZIP)
            code = dumpDecodeGzip(decoder, data, length);
    }
    decoder->consumed += length;
    return code;
}

static ErrCode dumpDecoderEnd(DumpDecoder *decoder, const char *path)
{
    if (decoder->codec == DUMP_CODEC_PENDING)
        return errSet(BACKUP_CORRUPTED, "the dump %s is only %zu bytes long", path, decoder->headLength);
    if (decoder->codec == DUMP_CODEC_ZSTD && !decoder->zstdFrameDone)
        return errSet(BACKUP_CORRUPTED, "the dump %s ends in the middle of its zstd stream (cut short)", path);
    if (decoder->codec == DUMP_CODEC_GZIP && !decoder->gzipDone)
        return errSet(BACKUP_CORRUPTED, "the dump %s ends in the middle of its gzip stream (cut short)", path);
    return ERR_OK;
}

static void dumpHex(const unsigned char *digest, unsigned length, char *hex)
{
    static const char digits[] = "0123456789abcdef";
    for (unsigned index = 0; index < length; index++) {
        hex[index * 2] = digits[digest[index] >> 4];
        hex[index * 2 + 1] = digits[digest[index] & 15];
    }
    hex[length * 2] = '\0';
}

struct DumpWriter {
    char path[DUMP_FILE_PATH_SIZE];
    int fd;
    StorageWrite *destination; /* instead of fd: the storage write, until committed */
    EVP_MD_CTX *sha;
    DumpDecoder decoder;
    uint64_t bytes;
};

ErrCode dumpWriterOpen(DumpWriter **out, const char *path)
{
    *out = NULL;
    DumpWriter *writer = memCalloc(1, sizeof(*writer));
    writer->fd = -1;
    snprintf(writer->path, sizeof(writer->path), "%s", path);
    dumpDecoderInit(&writer->decoder);
    writer->sha = EVP_MD_CTX_new();
    if (!writer->sha || EVP_DigestInit_ex(writer->sha, EVP_sha256(), NULL) != 1) {
        dumpWriterFree(writer);
        return errSet(ERR_INTERNAL, "cannot initialise SHA-256");
    }
    writer->fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (writer->fd < 0) {
        ErrCode code = fsErrorFromErrno(errno, "cannot create", path);
        dumpWriterFree(writer);
        return code;
    }
    *out = writer;
    return ERR_OK;
}

ErrCode dumpWriterOpenStorage(DumpWriter **out, Storage *storage, const char *name, const char *shown)
{
    *out = NULL;
    DumpWriter *writer = memCalloc(1, sizeof(*writer));
    writer->fd = -1;
    snprintf(writer->path, sizeof(writer->path), "%s", shown ? shown : name);
    dumpDecoderInit(&writer->decoder);
    writer->sha = EVP_MD_CTX_new();
    if (!writer->sha || EVP_DigestInit_ex(writer->sha, EVP_sha256(), NULL) != 1) {
        dumpWriterFree(writer);
        return errSet(ERR_INTERNAL, "cannot initialise SHA-256");
    }
    ErrCode code = storageWriteOpen(storage, name, STORAGE_WRITE_NO_REPLACE, &writer->destination);
    if (code != ERR_OK) {
        dumpWriterFree(writer);
        return code;
    }
    *out = writer;
    return ERR_OK;
}

ErrCode dumpWriterAdd(const uint8_t *data, size_t length, void *payload)
{
    DumpWriter *writer = payload;
    if (writer->destination) {
        ErrCode code = storageWrite(writer->destination, data, length);
        if (code != ERR_OK)
            return code;
        writer->bytes += length;
        EVP_DigestUpdate(writer->sha, data, length);
        return dumpDecoderAdd(&writer->decoder, data, length);
    }
    size_t done = 0;
    while (done < length) {
        ssize_t wrote = write(writer->fd, data + done, length - done);
        if (wrote < 0 && errno == EINTR)
            continue;
        if (wrote <= 0)
            return fsErrorFromErrno(wrote < 0 ? errno : ENOSPC, "cannot write", writer->path);
        done += (size_t)wrote;
    }
    writer->bytes += length;
    EVP_DigestUpdate(writer->sha, data, length);
    return dumpDecoderAdd(&writer->decoder, data, length);
}

ErrCode dumpWriterFinish(DumpWriter *writer, DumpFileInfo *out)
{
    memset(out, 0, sizeof(*out));
    if (writer->destination) {
        /* A stream that does not decode whole is never published. */
        ErrCode code = dumpDecoderEnd(&writer->decoder, writer->path);
        StorageWrite *destination = writer->destination;
        writer->destination = NULL;
        if (code != ERR_OK) {
            storageWriteAbort(destination);
            return code;
        }
        code = storageWriteCommit(destination);
        if (code != ERR_OK)
            return code;
    } else {
        int fd = writer->fd;
        writer->fd = -1;
        if (fsync(fd) != 0 || close(fd) != 0)
            return fsErrorFromErrno(errno, "cannot write", writer->path);
    }
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned digestLength = 0;
    EVP_DigestFinal_ex(writer->sha, digest, &digestLength);
    dumpHex(digest, digestLength, out->sha256);
    out->bytes = writer->bytes;
    ErrCode code = dumpDecoderEnd(&writer->decoder, writer->path);
    out->contentBytes = writer->decoder.produced;
    snprintf(out->format, sizeof(out->format), "%s", writer->decoder.format);
    return code;
}

void dumpWriterFree(DumpWriter *writer)
{
    if (!writer)
        return;
    if (writer->fd >= 0)
        close(writer->fd);
    storageWriteAbort(writer->destination);
    EVP_MD_CTX_free(writer->sha);
    dumpDecoderFree(&writer->decoder);
    free(writer);
}

ErrCode dumpStreamInspect(DumpReadFn readMore, void *payload, const char *name, DumpFileInfo *out)
{
    memset(out, 0, sizeof(*out));
    EVP_MD_CTX *sha = EVP_MD_CTX_new();
    uint8_t *buffer = memAlloc(DUMP_IO_CHUNK);
    DumpDecoder decoder;
    dumpDecoderInit(&decoder);
    ErrCode code = sha && EVP_DigestInit_ex(sha, EVP_sha256(), NULL) == 1
                       ? ERR_OK
                       : errSet(ERR_INTERNAL, "cannot set up SHA-256 for the dump");
    ErrCode streamCode = ERR_OK; /* a damaged stream: keep hashing, report after */
    while (code == ERR_OK) {
        size_t got = 0;
        code = readMore(payload, buffer, DUMP_IO_CHUNK, &got);
        if (code != ERR_OK || got == 0)
            break;
        out->bytes += (uint64_t)got;
        EVP_DigestUpdate(sha, buffer, got);
        if (streamCode == ERR_OK)
            streamCode = dumpDecoderAdd(&decoder, buffer, got);
    }
    if (code == ERR_OK) {
        ErrDetail streamFailure = errSave();
        unsigned char digest[EVP_MAX_MD_SIZE];
        unsigned digestLength = 0;
        EVP_DigestFinal_ex(sha, digest, &digestLength);
        dumpHex(digest, digestLength, out->sha256);
        out->contentBytes = decoder.produced;
        snprintf(out->format, sizeof(out->format), "%s", decoder.format);
        if (streamCode != ERR_OK) {
            errRestore(&streamFailure);
            code = streamCode;
        } else {
            code = dumpDecoderEnd(&decoder, name);
        }
    }
    dumpDecoderFree(&decoder);
    EVP_MD_CTX_free(sha);
    free(buffer);
    return code;
}

typedef struct {
    int fd;
    const char *path;
} DumpFileSource;

/* A DumpReadFn over a file descriptor. */
static ErrCode dumpFileRead(void *payload, uint8_t *buffer, size_t capacity, size_t *got)
{
    const DumpFileSource *source = payload;
    for (;;) {
        ssize_t result = read(source->fd, buffer, capacity);
        if (result < 0 && errno == EINTR)
            continue;
        if (result < 0)
            return fsErrorFromErrno(errno, "cannot read", source->path);
        *got = (size_t)result;
        return ERR_OK;
    }
}

ErrCode dumpFileInspect(const char *path, DumpFileInfo *out)
{
    memset(out, 0, sizeof(*out));
    int fd = -1;
    ErrCode opened = fsOpenRegular(path, &fd, NULL); /* no FIFO, no link */
    if (opened != ERR_OK)
        return opened;
    DumpFileSource source = {.fd = fd, .path = path};
    ErrCode code = dumpStreamInspect(dumpFileRead, &source, path, out);
    close(fd);
    return code;
}

/* A DumpReadFn over a storage read. */
static ErrCode dumpStorageRead(void *payload, uint8_t *buffer, size_t capacity, size_t *got)
{
    return storageRead(payload, buffer, capacity, got);
}

ErrCode dumpStorageInspect(Storage *storage, const char *name, const char *shown, DumpFileInfo *out)
{
    memset(out, 0, sizeof(*out));
    StorageRead *reader = NULL;
    ErrCode code = storageReadOpen(storage, name, 0, STORAGE_READ_ALL, &reader);
    if (code != ERR_OK)
        return code;
    code = dumpStreamInspect(dumpStorageRead, reader, shown ? shown : name, out);
    storageReadClose(reader);
    return code;
}
