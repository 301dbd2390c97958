/* Archive writer: builds one section at a time in memory (a block of records
 * up to the block size), checksums it, compresses it as one independent
 * frame and writes it, hashing the file bytes on the way out. With a data
 * key (format 2) each section's payload is compressed on its own, then
 * encrypted as one secretstream message, then framed and checksummed.
 * Memory stays at about three block sizes whatever the archive's size.
 * The bytes go to a sink: a file descriptor (a file we created, or the
 * caller's descriptor) or a StorageWrite (atomic: committed by
 * arcWriterFinish, aborted by arcWriterFree of an unfinished writer).
 * Format: docs/archive-format.md. */
#include "archive/archive.h"
#include "archive/archive_format.h"
#include "bolt/packstream.h"
#include "bolt/value.h"
#include "common/buffer.h"
#include "crypto/block_codec.h"
#include "common/mem.h"
#include "storage/storage.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

/* Where the archive's bytes go. Each function works on the writer's own
 * fields of its kind (fd and unlinkPath, or storage). */
typedef struct {
    /* Writes all of data, or fails with the error set (not yet remembered). */
    ErrCode (*write)(ArcWriter *writer, const uint8_t *data, size_t length);
    /* Makes the archive durable and visible and releases the sink. */
    ErrCode (*finish)(ArcWriter *writer);
    /* Releases the sink of an unfinished writer, leaving nothing behind.
     * Leaves errLast() untouched. */
    void (*abort)(ArcWriter *writer);
} ArcWriterSink;

struct ArcWriter {
    const ArcWriterSink *sink;
    int fd;           /* fd sink; -1 once closed */
    char *unlinkPath; /* fd sink: the file we created; NULL when the caller gave us the fd */
    StorageWrite *storage; /* storage sink; NULL once committed or aborted */
    char *displayName;
    ArcCompression compression;
    int level;
    size_t blockSize;
    Buffer section;    /* the section being built, prefix and CRC included */
    Buffer compressed; /* one compressed frame on its way to the file */
    bool encrypted;    /* format 2 */
    CryptoBlockCodec codec;
    Buffer sealed; /* format 2: one encrypted section on its way to the file */
    ZSTD_CCtx *zstd;
    z_stream gzip;
    bool gzipReady;
    EVP_MD_CTX *fileSha;
    EVP_MD_CTX *contentSha;
    uint32_t blockRecords; /* records in the block being built; 0 = no block open */
    uint64_t blockCount;
    ArcTotals totals;
    bool finished;
    bool failed; /* a write failed: every later call repeats that failure */
    ErrCode failure;
    char failureReason[sizeof(((ErrDetail *)0)->reason)];
};

/* Remembers the failure so that later calls report it again instead of
 * writing after a hole in the file. */
static ErrCode writerFail(ArcWriter *writer, ErrCode code)
{
    writer->failed = true;
    writer->failure = code;
    snprintf(writer->failureReason, sizeof(writer->failureReason), "%s", errLast()->reason);
    return code;
}

static ErrCode writerRepeatFailure(const ArcWriter *writer)
{
    return errSet(writer->failure, "%s", writer->failureReason);
}

static ErrCode writerFdWrite(ArcWriter *writer, const uint8_t *data, size_t length)
{
    while (length > 0) {
        ssize_t written = write(writer->fd, data, length);
        if (written < 0) {
            if (errno == EINTR)
                continue;
            if (errno == ENOSPC)
                return errSet(BACKUP_NO_SPACE, "No space left on device (%s)", writer->displayName);
            if (errno == EDQUOT)
                return errSet(BACKUP_NO_SPACE, "Disk quota exceeded (%s)", writer->displayName);
            return errSet(BACKUP_IO_FAILED, "cannot write %s: %s", writer->displayName, strerror(errno));
        }
        data += written;
        length -= (size_t)written;
    }
    return ERR_OK;
}

/* The storage's own code and detail go through unchanged (BACKUP_NO_SPACE,
 * STORAGE_UNREACHABLE, ...). */
static ErrCode writerStorageWrite(ArcWriter *writer, const uint8_t *data, size_t length)
{
    return storageWrite(writer->storage, data, length);
}

static ErrCode writerWriteAll(ArcWriter *writer, const uint8_t *data, size_t length)
{
    EVP_DigestUpdate(writer->fileSha, data, length);
    writer->totals.compressedBytes += length;
    ErrCode result = writer->sink->write(writer, data, length);
    return result == ERR_OK ? ERR_OK : writerFail(writer, result);
}

static ErrCode writerCompressGzip(ArcWriter *writer, const uint8_t *data, size_t length)
{
    z_stream *stream = &writer->gzip;
    if (deflateReset(stream) != Z_OK)
        return writerFail(writer, errSet(ERR_INTERNAL, "deflateReset failed"));
    stream->next_in = (Bytef *)data;
    stream->avail_in = (uInt)length; /* sections are below ARC_MAX_SECTION_LENGTH */
    bufferClear(&writer->compressed);
    bufferReserve(&writer->compressed, deflateBound(stream, (uLong)length));
    for (;;) {
        size_t room = writer->compressed.capacity - writer->compressed.length;
        stream->next_out = writer->compressed.data + writer->compressed.length;
        stream->avail_out = (uInt)room;
        int status = deflate(stream, Z_FINISH);
        writer->compressed.length += room - stream->avail_out;
        if (status == Z_STREAM_END)
            return ERR_OK;
        if (status != Z_OK && status != Z_BUF_ERROR)
            return writerFail(writer, errSet(ERR_INTERNAL, "gzip compression failed (%d)", status));
        bufferReserve(&writer->compressed, 64 * 1024); /* deflateBound was too tight */
    }
}

/* Compresses data as one zstd frame or gzip member into writer->compressed;
 * *out points at the result (at data itself for compression none). */
static ErrCode writerCompress(ArcWriter *writer, const uint8_t *data, size_t length, const uint8_t **out,
                              size_t *outLength)
{
    switch (writer->compression) {
    case ARC_COMPRESSION_NONE:
        *out = data;
        *outLength = length;
        return ERR_OK;
    case ARC_COMPRESSION_ZSTD: {
        bufferClear(&writer->compressed);
        bufferReserve(&writer->compressed, ZSTD_compressBound(length));
        size_t produced = ZSTD_compress2(writer->zstd, writer->compressed.data,
                                         writer->compressed.capacity, data, length);
        if (ZSTD_isError(produced))
            return writerFail(writer, errSet(ERR_INTERNAL, "zstd compression failed: %s",
                                             ZSTD_getErrorName(produced)));
        writer->compressed.length = produced;
        break;
    }
    case ARC_COMPRESSION_GZIP: {
        ErrCode result = writerCompressGzip(writer, data, length);
        if (result != ERR_OK)
            return result;
        break;
    }
    }
    *out = writer->compressed.data;
    *outLength = writer->compressed.length;
    return ERR_OK;
}

/* Format 1: writes data (one or more whole sections) as one frame of the
 * outer layer. */
static ErrCode writerEmitFrame(ArcWriter *writer, const uint8_t *data, size_t length)
{
    writer->totals.uncompressedBytes += length;
    const uint8_t *frame = NULL;
    size_t frameLength = 0;
    ErrCode result = writerCompress(writer, data, length, &frame, &frameLength);
    if (result != ERR_OK)
        return result;
    return writerWriteAll(writer, frame, frameLength);
}

/* Format 2: writes one section whose payload is compressed, then encrypted
 * as the stream's next message (final for the footer); the CRC covers the
 * stored bytes, so damage is found and located without the key. */
static ErrCode writerEmitEncrypted(ArcWriter *writer, uint8_t kind, const uint8_t *payload, size_t length,
                                   bool final)
{
    /* Totals count what format 1 would hold: the sections in clear. */
    writer->totals.uncompressedBytes += ARC_SECTION_PREFIX_LENGTH + length + ARC_SECTION_CRC_LENGTH;
    const uint8_t *plain = NULL;
    size_t plainLength = 0;
    ErrCode result = writerCompress(writer, payload, length, &plain, &plainLength);
    if (result != ERR_OK)
        return result;
    if (plainLength > ARC_MAX_SECTION_LENGTH - CRYPTO_BLOCK_OVERHEAD)
        return writerFail(writer, errSet(BACKUP_UNSUPPORTED_VALUE,
                                         "a %s section of %zu bytes (%zu compressed) exceeds the limit of "
                                         "an encrypted archive's section (%u bytes)",
                                         kind == ARC_SECTION_BLOCK ? "block" : "header", length, plainLength,
                                         ARC_MAX_SECTION_LENGTH - CRYPTO_BLOCK_OVERHEAD));
    Buffer *sealed = &writer->sealed;
    bufferClear(sealed);
    bufferReserve(sealed, ARC_SECTION_PREFIX_LENGTH + plainLength + CRYPTO_BLOCK_OVERHEAD + ARC_SECTION_CRC_LENGTH);
    size_t cipherLength = 0;
    result = cryptoEncryptBlock(&writer->codec, kind, plain, plainLength, final,
                                sealed->data + ARC_SECTION_PREFIX_LENGTH, &cipherLength);
    if (result != ERR_OK)
        return writerFail(writer, result);
    sealed->data[0] = kind;
    arcWriteU32BE(sealed->data + 1, (uint32_t)cipherLength);
    sealed->length = ARC_SECTION_PREFIX_LENGTH + cipherLength;
    bufferAppendU32BE(sealed, arcCrc32c(0, sealed->data, sealed->length));
    return writerWriteAll(writer, sealed->data, sealed->length);
}

/* Fills in the prefix of the section that starts at sectionStart in
 * writer->section, appends its CRC. */
static void writerSealSection(ArcWriter *writer, size_t sectionStart, uint8_t kind)
{
    uint8_t *section = writer->section.data + sectionStart;
    size_t payloadLength = writer->section.length - sectionStart - ARC_SECTION_PREFIX_LENGTH;
    section[0] = kind;
    arcWriteU32BE(section + 1, (uint32_t)payloadLength);
    uint32_t crc = arcCrc32c(0, section, writer->section.length - sectionStart);
    bufferAppendU32BE(&writer->section, crc);
}

/* A record bigger than the block size leaves big buffers behind; give the
 * memory back so one huge value does not pin it for the rest of the run. */
static void writerTrimBuffers(ArcWriter *writer)
{
    if (writer->section.capacity > 4 * writer->blockSize)
        bufferFree(&writer->section);
    if (writer->compressed.capacity > 4 * writer->blockSize)
        bufferFree(&writer->compressed);
    if (writer->sealed.capacity > 4 * writer->blockSize)
        bufferFree(&writer->sealed);
}

static ErrCode writerFlushBlock(ArcWriter *writer)
{
    if (writer->blockRecords == 0)
        return ERR_OK;
    Buffer *section = &writer->section;
    arcWriteU32BE(section->data + ARC_SECTION_PREFIX_LENGTH, writer->blockRecords);
    /* The records of a block are stored exactly as the digest hashes them. */
    size_t recordsStart = ARC_SECTION_PREFIX_LENGTH + ARC_BLOCK_COUNT_LENGTH;
    EVP_DigestUpdate(writer->contentSha, section->data + recordsStart,
                     section->length - recordsStart);
    ErrCode result;
    if (writer->encrypted) {
        result = writerEmitEncrypted(writer, ARC_SECTION_BLOCK, section->data + ARC_SECTION_PREFIX_LENGTH,
                                     section->length - ARC_SECTION_PREFIX_LENGTH, false);
    } else {
        writerSealSection(writer, 0, ARC_SECTION_BLOCK);
        result = writerEmitFrame(writer, section->data, section->length);
    }
    writer->blockRecords = 0;
    writer->blockCount++;
    bufferClear(section);
    writerTrimBuffers(writer);
    return result;
}

static ErrCode writerCheckParameters(ArcCompression compression, int *level, size_t *blockSize)
{
    if (*blockSize == 0)
        *blockSize = ARC_DEFAULT_BLOCK_SIZE;
    if (*blockSize < ARC_MIN_BLOCK_SIZE || *blockSize > ARC_MAX_BLOCK_SIZE)
        return errSet(CONFIG_INVALID, "archive block size %zu out of range (%u to %u bytes)",
                      *blockSize, ARC_MIN_BLOCK_SIZE, ARC_MAX_BLOCK_SIZE);
    switch (compression) {
    case ARC_COMPRESSION_NONE:
        *level = 0;
        return ERR_OK;
    case ARC_COMPRESSION_GZIP:
        if (*level == 0)
            *level = ARC_DEFAULT_GZIP_LEVEL;
        if (*level < 1 || *level > 9)
            return errSet(CONFIG_INVALID, "gzip compression level %d out of range (1 to 9)", *level);
        return ERR_OK;
    case ARC_COMPRESSION_ZSTD:
        if (*level == 0)
            *level = ARC_DEFAULT_ZSTD_LEVEL;
        if (*level < ZSTD_minCLevel() || *level > ZSTD_maxCLevel())
            return errSet(CONFIG_INVALID, "zstd compression level %d out of range (%d to %d)",
                          *level, ZSTD_minCLevel(), ZSTD_maxCLevel());
        return ERR_OK;
    }
    return errSet(CONFIG_INVALID, "unknown archive compression %d", (int)compression);
}

static ErrCode writerSetUpCompression(ArcWriter *writer)
{
    if (writer->compression == ARC_COMPRESSION_ZSTD) {
        writer->zstd = ZSTD_createCCtx();
        if (!writer->zstd)
            return errSet(ERR_INTERNAL, "cannot create zstd context");
        /* The content checksum lets `zstd -t` and our reader check each frame
         * on its own; the content size (known: one-shot) is stored too. */
        if (ZSTD_isError(ZSTD_CCtx_setParameter(writer->zstd, ZSTD_c_compressionLevel,
                                                writer->level)) ||
            ZSTD_isError(ZSTD_CCtx_setParameter(writer->zstd, ZSTD_c_checksumFlag, 1)) ||
            ZSTD_isError(ZSTD_CCtx_setParameter(writer->zstd, ZSTD_c_contentSizeFlag, 1)))
            return errSet(ERR_INTERNAL, "cannot configure zstd level %d", writer->level);
    } else if (writer->compression == ARC_COMPRESSION_GZIP) {
        /* windowBits 15 + 16 selects the gzip wrapper: each frame is a member. */
        if (deflateInit2(&writer->gzip, writer->level, Z_DEFLATED, 15 + 16, 8,
                         Z_DEFAULT_STRATEGY) != Z_OK)
            return errSet(ERR_INTERNAL, "cannot set up gzip level %d", writer->level);
        writer->gzipReady = true;
    }
    return ERR_OK;
}

/* Format 2: the preamble and the plain key section (block compression,
 * stream header, key check), then the header as message 0. */
static ErrCode writerStartEncrypted(ArcWriter *writer, const uint8_t *dataKey, const uint8_t *headerPacked,
                                    size_t headerLength)
{
    Buffer *section = &writer->section;
    bufferClear(section);
    bufferAppend(section, ARC_MAGIC_ENCRYPTED, ARC_MAGIC_LENGTH);
    bufferAppendU16BE(section, ARC_FORMAT_VERSION_ENCRYPTED);
    size_t keyStart = section->length;
    bufferAppend(section, "\0\0\0\0\0", ARC_SECTION_PREFIX_LENGTH);
    bufferAppendByte(section, ARC_KEY_SECTION_FORMAT);
    bufferAppendByte(section, writer->compression == ARC_COMPRESSION_ZSTD   ? ARC_KEY_COMPRESSION_ZSTD
                              : writer->compression == ARC_COMPRESSION_GZIP ? ARC_KEY_COMPRESSION_GZIP
                                                                            : ARC_KEY_COMPRESSION_NONE);
    uint8_t streamHeader[CRYPTO_STREAM_HEADER_BYTES];
    ErrCode result = cryptoEncryptorInit(&writer->codec, dataKey, streamHeader);
    if (result != ERR_OK)
        return result;
    bufferAppend(section, streamHeader, sizeof(streamHeader));
    uint8_t keyCheck[CRYPTO_KEY_CHECK_BYTES];
    cryptoKeyCheckCompute(dataKey, keyCheck);
    bufferAppend(section, keyCheck, sizeof(keyCheck));
    writerSealSection(writer, keyStart, ARC_SECTION_KEY);
    writer->totals.uncompressedBytes += section->length;
    result = writerWriteAll(writer, section->data, section->length);
    bufferClear(section);
    if (result != ERR_OK)
        return result;
    return writerEmitEncrypted(writer, ARC_SECTION_HEADER, headerPacked, headerLength, false);
}

static const ArcWriterSink writerFdSink;
static const ArcWriterSink writerStorageSink;

/* Sets up a writer on a sink (its fields already in `writer`, which this
 * call owns from now on) and writes the header; on failure the writer is
 * freed, which releases the sink. */
static ErrCode writerStart(ArcWriter **out, ArcWriter *writer, const char *displayName,
                           const ArcWriterOptions *options, int level, size_t blockSize,
                           const uint8_t *headerPacked, size_t headerLength)
{
    writer->displayName = memStrdup(displayName ? displayName : "archive");
    writer->compression = options->compression;
    writer->level = level;
    writer->blockSize = blockSize;
    bufferInit(&writer->section);
    bufferInit(&writer->compressed);
    bufferInit(&writer->sealed);
    writer->encrypted = options->dataKey != NULL;
    writer->fileSha = EVP_MD_CTX_new();
    writer->contentSha = EVP_MD_CTX_new();
    ErrCode result = ERR_OK;
    if (!writer->displayName || !writer->fileSha || !writer->contentSha ||
        EVP_DigestInit_ex(writer->fileSha, EVP_sha256(), NULL) != 1 ||
        EVP_DigestInit_ex(writer->contentSha, EVP_sha256(), NULL) != 1)
        result = errSet(ERR_INTERNAL, "cannot set up SHA-256 for the archive");
    if (result == ERR_OK)
        result = writerSetUpCompression(writer);
    if (result == ERR_OK && headerLength > ARC_MAX_SECTION_LENGTH)
        result = errSet(ERR_INTERNAL, "archive header of %zu bytes is too large", headerLength);
    if (result == ERR_OK && writer->encrypted) {
        result = writerStartEncrypted(writer, options->dataKey, headerPacked, headerLength);
    } else if (result == ERR_OK) {
        /* The preamble travels in the header's frame: every frame then starts
         * on a section boundary or at the start of the inner stream. */
        Buffer *section = &writer->section;
        bufferAppend(section, ARC_MAGIC, ARC_MAGIC_LENGTH);
        bufferAppendU16BE(section, ARC_FORMAT_VERSION);
        size_t sectionStart = section->length;
        bufferAppend(section, "\0\0\0\0\0", ARC_SECTION_PREFIX_LENGTH);
        bufferAppend(section, headerPacked, headerLength);
        writerSealSection(writer, sectionStart, ARC_SECTION_HEADER);
        result = writerEmitFrame(writer, section->data, section->length);
        bufferClear(section);
    }
    if (result != ERR_OK) {
        arcWriterFree(writer);
        return result;
    }
    *out = writer;
    return ERR_OK;
}

/* A writer on descriptor fd (owned from now on); unlinkPath: the file we
 * created, removed again if the writer is freed unfinished. */
static ArcWriter *writerNewFd(int fd, const char *unlinkPath)
{
    ArcWriter *writer = memCalloc(1, sizeof(*writer));
    writer->sink = &writerFdSink;
    writer->fd = fd;
    writer->unlinkPath = unlinkPath ? memStrdup(unlinkPath) : NULL;
    return writer;
}

ErrCode arcWriterOpenWith(ArcWriter **out, const char *path, const ArcWriterOptions *options,
                          const uint8_t *headerPacked, size_t headerLength)
{
    *out = NULL;
    int level = options->level;
    size_t blockSize = options->blockSize;
    ErrCode result = writerCheckParameters(options->compression, &level, &blockSize);
    if (result != ERR_OK)
        return result;
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        if (errno == ENOSPC || errno == EDQUOT)
            return errSet(BACKUP_NO_SPACE, "No space left on device (%s)", path);
        if (errno == EEXIST)
            return errSet(BACKUP_IO_FAILED, "archive file already exists: %s", path);
        return errSet(BACKUP_IO_FAILED, "cannot create %s: %s", path, strerror(errno));
    }
    return writerStart(out, writerNewFd(fd, path), path, options, level, blockSize, headerPacked, headerLength);
}

ErrCode arcWriterOpenFdWith(ArcWriter **out, int fd, const char *displayName, const ArcWriterOptions *options,
                            const uint8_t *headerPacked, size_t headerLength)
{
    *out = NULL;
    int level = options->level;
    size_t blockSize = options->blockSize;
    ErrCode result = writerCheckParameters(options->compression, &level, &blockSize);
    if (result != ERR_OK) {
        close(fd);
        return result;
    }
    return writerStart(out, writerNewFd(fd, NULL), displayName, options, level, blockSize, headerPacked,
                       headerLength);
}

ErrCode arcWriterOpenStorage(ArcWriter **out, StorageWrite *destination, const char *displayName,
                             const ArcWriterOptions *options, const uint8_t *headerPacked, size_t headerLength)
{
    *out = NULL;
    static const ArcWriterOptions defaults = {0};
    if (!options)
        options = &defaults;
    int level = options->level;
    size_t blockSize = options->blockSize;
    ErrCode result = writerCheckParameters(options->compression, &level, &blockSize);
    if (result != ERR_OK) {
        storageWriteAbort(destination);
        return result;
    }
    ArcWriter *writer = memCalloc(1, sizeof(*writer));
    writer->sink = &writerStorageSink;
    writer->fd = -1;
    writer->storage = destination;
    return writerStart(out, writer, displayName, options, level, blockSize, headerPacked, headerLength);
}

ErrCode arcWriterOpen(ArcWriter **out, const char *path, ArcCompression compression, int level,
                      size_t blockSize, const uint8_t *headerPacked, size_t headerLength)
{
    ArcWriterOptions options = {.compression = compression, .level = level, .blockSize = blockSize};
    return arcWriterOpenWith(out, path, &options, headerPacked, headerLength);
}

ErrCode arcWriterOpenFd(ArcWriter **out, int fd, const char *displayName, ArcCompression compression,
                        int level, size_t blockSize, const uint8_t *headerPacked,
                        size_t headerLength)
{
    ArcWriterOptions options = {.compression = compression, .level = level, .blockSize = blockSize};
    return arcWriterOpenFdWith(out, fd, displayName, &options, headerPacked, headerLength);
}

/* A restore refuses a record whose decoded values would pass
 * ARC_RECORD_DECODED_MAX (archive.h). Refuse it while writing instead, so no
 * backup is written that no restore can read. PackStream expands at most
 * about 40 times (an empty string: 1 byte encoded, 40 decoded), so only
 * records longer than a 64th of the bound can pass it and are decoded here. */
static ErrCode writerCheckDecodedSize(ArcRecordKind kind, const uint8_t *packed, size_t length)
{
    if (length <= ARC_RECORD_DECODED_MAX / 64)
        return ERR_OK;
    Arena *arena = arenaNew(0);
    PackReader reader;
    packReaderInit(&reader, packed, length);
    packReaderLimitDecoded(&reader, ARC_RECORD_DECODED_MAX);
    ErrCode code = ERR_OK;
    while (code == ERR_OK && reader.offset < reader.length) {
        BoltValue value;
        code = unpackValue(&reader, arena, &value);
    }
    arenaFree(arena);
    if (code == ERR_OK)
        return ERR_OK;
    return errSet(BACKUP_UNSUPPORTED_VALUE,
                  "a %s record of %zu bytes would take more than %u MiB of memory to restore "
                  "(the archive's bound on one decoded record)",
                  kind == ARC_RECORD_NODE ? "node" : kind == ARC_RECORD_RELATIONSHIP ? "relationship" : "schema",
                  length, ARC_RECORD_DECODED_MAX / (1024u * 1024u));
}

ErrCode arcWriterAdd(ArcWriter *writer, ArcRecordKind kind, const uint8_t *packed, size_t length)
{
    /* Records past the section limit are refused below before a byte is read. */
    bool readable = !writer->failed && !writer->finished &&
                    length <= ARC_MAX_SECTION_LENGTH - ARC_BLOCK_COUNT_LENGTH - ARC_RECORD_PREFIX_LENGTH;
    ErrCode decodable = readable ? writerCheckDecodedSize(kind, packed, length) : ERR_OK;
    if (decodable != ERR_OK)
        return decodable;
    return arcWriterAddUnchecked(writer, kind, packed, length);
}

ErrCode arcWriterAddUnchecked(ArcWriter *writer, ArcRecordKind kind, const uint8_t *packed, size_t length)
{
    if (writer->failed)
        return writerRepeatFailure(writer);
    if (writer->finished)
        return errSet(ERR_INTERNAL, "archive writer used after it was finished");
    if (kind != ARC_RECORD_SCHEMA && kind != ARC_RECORD_NODE && kind != ARC_RECORD_RELATIONSHIP
        && kind != ARC_RECORD_DELETION)
        return errSet(ERR_INTERNAL, "unknown archive record kind 0x%02x", (unsigned)kind);
    size_t limit = ARC_MAX_SECTION_LENGTH - ARC_BLOCK_COUNT_LENGTH - ARC_RECORD_PREFIX_LENGTH;
    if (writer->encrypted)
        limit -= CRYPTO_BLOCK_OVERHEAD; /* the stored section holds the tag too */
    if (length > limit)
        return errSet(BACKUP_UNSUPPORTED_VALUE,
                      "a record of %zu bytes exceeds the archive's limit of %zu bytes", length,
                      limit);
    Buffer *section = &writer->section;
    size_t grown = section->length + ARC_RECORD_PREFIX_LENGTH + length + ARC_SECTION_CRC_LENGTH;
    if (writer->blockRecords > 0 && (grown > writer->blockSize || writer->blockRecords == UINT32_MAX)) {
        ErrCode result = writerFlushBlock(writer);
        if (result != ERR_OK)
            return result;
    }
    if (writer->blockRecords == 0) {
        bufferClear(section);
        /* Prefix and record count are filled in when the block is sealed. */
        bufferAppend(section, "\0\0\0\0\0\0\0\0\0", ARC_SECTION_PREFIX_LENGTH + ARC_BLOCK_COUNT_LENGTH);
    }
    bufferAppendByte(section, (uint8_t)kind);
    bufferAppendU32BE(section, (uint32_t)length);
    bufferAppend(section, packed, length);
    writer->blockRecords++;
    if (kind == ARC_RECORD_SCHEMA)
        writer->totals.schemaCount++;
    else if (kind == ARC_RECORD_NODE)
        writer->totals.nodeCount++;
    else if (kind == ARC_RECORD_DELETION)
        writer->totals.deletionCount++;
    else
        writer->totals.relationshipCount++;
    if (section->length + ARC_SECTION_CRC_LENGTH >= writer->blockSize)
        return writerFlushBlock(writer);
    return ERR_OK;
}

/* fsyncs a regular file and closes the descriptor. */
static ErrCode writerFdFinish(ArcWriter *writer)
{
    struct stat status;
    if (fstat(writer->fd, &status) == 0 && S_ISREG(status.st_mode) && fsync(writer->fd) != 0) {
        if (errno == ENOSPC || errno == EDQUOT)
            return errSet(BACKUP_NO_SPACE, "No space left on device (%s)", writer->displayName);
        return errSet(BACKUP_IO_FAILED, "cannot fsync %s: %s", writer->displayName, strerror(errno));
    }
    int closeStatus = close(writer->fd);
    writer->fd = -1;
    /* Network file systems may report a failed write only at close. */
    if (closeStatus != 0 && errno != EINTR) {
        if (errno == ENOSPC || errno == EDQUOT)
            return errSet(BACKUP_NO_SPACE, "No space left on device (%s)", writer->displayName);
        return errSet(BACKUP_IO_FAILED, "cannot close %s: %s", writer->displayName, strerror(errno));
    }
    return ERR_OK;
}

/* An unfinished archive is never left behind to be mistaken for a backup. */
static void writerFdAbort(ArcWriter *writer)
{
    if (writer->fd >= 0)
        close(writer->fd);
    writer->fd = -1;
    if (writer->unlinkPath)
        unlink(writer->unlinkPath);
}

/* The commit publishes the archive and frees the handle whatever its result. */
static ErrCode writerStorageFinish(ArcWriter *writer)
{
    StorageWrite *storage = writer->storage;
    writer->storage = NULL;
    return storageWriteCommit(storage);
}

static void writerStorageAbort(ArcWriter *writer)
{
    storageWriteAbort(writer->storage);
    writer->storage = NULL;
}

static const ArcWriterSink writerFdSink = {writerFdWrite, writerFdFinish, writerFdAbort};
static const ArcWriterSink writerStorageSink = {writerStorageWrite, writerStorageFinish, writerStorageAbort};

ErrCode arcWriterFinish(ArcWriter *writer, ArcTotals *totals)
{
    if (writer->failed)
        return writerRepeatFailure(writer);
    if (writer->finished)
        return errSet(ERR_INTERNAL, "archive writer finished twice");
    ErrCode result = writerFlushBlock(writer);
    if (result != ERR_OK)
        return result;

    unsigned int digestLength = 0;
    EVP_DigestFinal_ex(writer->contentSha, writer->totals.contentDigest, &digestLength);
    Buffer *section = &writer->section;
    bufferClear(section);
    bufferAppend(section, "\0\0\0\0\0", ARC_SECTION_PREFIX_LENGTH);
    bufferAppendU64BE(section, writer->totals.schemaCount);
    bufferAppendU64BE(section, writer->totals.nodeCount);
    bufferAppendU64BE(section, writer->totals.relationshipCount);
    bufferAppendU64BE(section, writer->blockCount);
    /* Offset of the footer's kind byte: in format 1 in the inner stream,
     * preamble included; in format 2 (no outer layer) in the file. */
    bufferAppendU64BE(section, writer->encrypted ? writer->totals.compressedBytes
                                                 : writer->totals.uncompressedBytes);
    bufferAppend(section, writer->totals.contentDigest, sizeof(writer->totals.contentDigest));
    if (writer->encrypted) {
        result = writerEmitEncrypted(writer, ARC_SECTION_FOOTER, section->data + ARC_SECTION_PREFIX_LENGTH,
                                     section->length - ARC_SECTION_PREFIX_LENGTH, true);
    } else {
        writerSealSection(writer, 0, ARC_SECTION_FOOTER);
        result = writerEmitFrame(writer, section->data, section->length);
    }
    if (result != ERR_OK)
        return result;
    result = writer->sink->finish(writer);
    if (result != ERR_OK)
        return writerFail(writer, result);
    EVP_DigestFinal_ex(writer->fileSha, writer->totals.fileSha256, &digestLength);
    writer->finished = true;
    if (totals)
        *totals = writer->totals;
    return ERR_OK;
}

uint64_t arcWriterBytesWritten(const ArcWriter *writer) { return writer->totals.compressedBytes; }

void arcWriterFree(ArcWriter *writer)
{
    if (!writer)
        return;
    if (!writer->finished)
        writer->sink->abort(writer); /* leaves errLast() alone */
    ZSTD_freeCCtx(writer->zstd);
    if (writer->gzipReady)
        deflateEnd(&writer->gzip);
    EVP_MD_CTX_free(writer->fileSha);
    EVP_MD_CTX_free(writer->contentSha);
    bufferFree(&writer->section);
    bufferFree(&writer->compressed);
    bufferFree(&writer->sealed);
    cryptoBlockCodecWipe(&writer->codec);
    free(writer->unlinkPath);
    free(writer->displayName);
    free(writer);
}
