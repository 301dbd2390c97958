/* Archive reader: decompresses the outer layer frame by frame into a small
 * window, cuts the inner stream into sections, checks every section's CRC
 * before handing out any of its records, and at the end checks the footer
 * (counts, block count, offset, content digest) and that nothing follows it.
 * Memory: two fixed 256 KiB windows plus the largest section, capped at
 * ARC_MAX_SECTION_LENGTH and grown only as bytes really arrive, so a hostile
 * length field cannot make us allocate. Format 2 (encrypted) has no outer
 * layer: each section is checked (CRC), decrypted and authenticated as the
 * next secretstream message, then decompressed on its own, before any byte
 * of it is used. The bytes come from a source: a file descriptor or a
 * StorageRead (a posix file or ranged GETs of an object), both owned by the
 * reader. Format: docs/archive-format.md. */
#include "archive/archive.h"
#include "archive/archive_format.h"
#include "common/buffer.h"
#include "crypto/block_codec.h"
#include "common/mem.h"
#include "storage/storage.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

enum { READER_WINDOW = 256 * 1024 };

typedef enum {
    READER_RECORDS, /* handing out records; the footer was not reached yet */
    READER_DONE,    /* footer verified, nothing after it */
    READER_FAILED,  /* every later call repeats the failure */
} ReaderState;

/* Where the archive's bytes come from; each function works on the reader's
 * own field of its kind (fd or storage). */
typedef struct {
    /* Reads up to room bytes; *got = 0 at the end. On failure the error is
     * set (code and detail), not yet remembered by the reader. */
    ErrCode (*read)(ArcReader *reader, uint8_t *into, size_t room, size_t *got);
    void (*close)(ArcReader *reader);
} ArcReaderSource;

struct ArcReader {
    const ArcReaderSource *source;
    int fd;               /* fd source */
    StorageRead *storage; /* storage source */
    char *displayName;
    ArcCompression compression;
    ReaderState state;
    ErrCode failure;
    char failureReason[sizeof(((ErrDetail *)0)->reason)];

    /* Outer layer: file bytes in, inner bytes out. */
    uint8_t *input;
    size_t inputLength;
    size_t inputPos;
    uint64_t inputFileOffset; /* file offset of input[0] */
    ZSTD_DCtx *zstd;
    z_stream gzip;
    bool gzipReady;
    bool frameOpen;
    uint64_t frameStart;       /* file offset of the frame being decoded */
    uint64_t outputFrameStart; /* file offset of the frame the output window came from */
    uint8_t *output;
    size_t outputLength;
    size_t outputPos;

    /* Inner stream. */
    uint64_t innerOffset; /* inner bytes consumed so far */
    Buffer header;
    Buffer section; /* payload of the current section */
    uint8_t sectionKind;
    uint64_t sectionStart;      /* inner offset of the current section */
    uint64_t sectionFrameStart; /* file offset of the frame holding its first byte */
    uint64_t blockCount;        /* blocks read, the current one included */
    size_t recordPos;
    uint32_t recordsLeft;

    EVP_MD_CTX *fileSha;
    EVP_MD_CTX *contentSha;
    ArcTotals totals;
    bool expectSha;
    uint8_t expectedSha[32];

    /* Format 2 (encrypted): the outer layer is none, the inner stream is the file. */
    bool encrypted;
    ArcCompression blockCompression; /* of each section's payload, from the key section */
    CryptoBlockCodec codec;
    Buffer plain;        /* the decrypted (still compressed) payload of the current section */
    uint64_t plainBytes; /* the sections' bytes in clear, for totals.uncompressedBytes */
    bool framingOnly;    /* no key: check format 2's framing and CRCs only (arcReaderOpenFramingOnly) */
};

__attribute__((format(printf, 3, 0))) static ErrCode readerFailV(ArcReader *reader, ErrCode code,
                                                                  const char *fmt, va_list args)
{
    char detail[sizeof(reader->failureReason)];
    vsnprintf(detail, sizeof(detail), fmt, args);
    errSet(code, "archive %s: %s", reader->displayName, detail);
    reader->state = READER_FAILED;
    reader->failure = code;
    snprintf(reader->failureReason, sizeof(reader->failureReason), "%s", errLast()->reason);
    return code;
}

__attribute__((format(printf, 3, 4))) static ErrCode readerFail(ArcReader *reader, ErrCode code,
                                                                const char *fmt, ...)
{
    va_list args;
    va_start(args, fmt);
    readerFailV(reader, code, fmt, args);
    va_end(args);
    return code;
}

__attribute__((format(printf, 2, 3))) static ErrCode readerCorrupt(ArcReader *reader,
                                                                   const char *fmt, ...)
{
    va_list args;
    va_start(args, fmt);
    readerFailV(reader, BACKUP_CORRUPTED, fmt, args);
    va_end(args);
    return BACKUP_CORRUPTED;
}

static const char *readerFrameName(const ArcReader *reader)
{
    return reader->compression == ARC_COMPRESSION_GZIP ? "gzip member" : "zstd frame";
}

/* "block 17 at inner offset 1234 (zstd frame at file offset 567)" */
static const char *readerSectionWhere(const ArcReader *reader, char *text, size_t size)
{
    char what[64];
    switch (reader->sectionKind) {
    case ARC_SECTION_HEADER:
        snprintf(what, sizeof(what), "header");
        break;
    case ARC_SECTION_BLOCK:
        snprintf(what, sizeof(what), "block %llu", (unsigned long long)reader->blockCount + 1);
        break;
    case ARC_SECTION_FOOTER:
        snprintf(what, sizeof(what), "footer");
        break;
    case ARC_SECTION_KEY:
        snprintf(what, sizeof(what), "key section");
        break;
    default:
        snprintf(what, sizeof(what), "section");
        break;
    }
    if (reader->encrypted)
        snprintf(text, size, "%s at file offset %llu", what, (unsigned long long)reader->sectionStart);
    else if (reader->compression == ARC_COMPRESSION_NONE)
        snprintf(text, size, "%s at inner offset %llu", what,
                 (unsigned long long)reader->sectionStart);
    else
        snprintf(text, size, "%s at inner offset %llu (%s at file offset %llu)", what,
                 (unsigned long long)reader->sectionStart, readerFrameName(reader),
                 (unsigned long long)reader->sectionFrameStart);
    return text;
}

static ErrCode readerFdRead(ArcReader *reader, uint8_t *into, size_t room, size_t *got)
{
    for (;;) {
        ssize_t count = read(reader->fd, into, room);
        if (count < 0 && errno == EINTR)
            continue;
        if (count < 0)
            return errSet(BACKUP_IO_FAILED, "archive %s: cannot read: %s", reader->displayName, strerror(errno));
        *got = (size_t)count;
        return ERR_OK;
    }
}

static void readerFdClose(ArcReader *reader)
{
    if (reader->fd >= 0)
        close(reader->fd);
    reader->fd = -1;
}

/* The storage's own code and detail go through unchanged (BACKUP_IO_FAILED,
 * STORAGE_UNREACHABLE, ...). */
static ErrCode readerStorageRead(ArcReader *reader, uint8_t *into, size_t room, size_t *got)
{
    return storageRead(reader->storage, into, room, got);
}

static void readerStorageClose(ArcReader *reader)
{
    storageReadClose(reader->storage);
    reader->storage = NULL;
}

static const ArcReaderSource readerFdSource = {readerFdRead, readerFdClose};
static const ArcReaderSource readerStorageSource = {readerStorageRead, readerStorageClose};

static ErrCode readerReadFile(ArcReader *reader, uint8_t *into, size_t room, size_t *got)
{
    *got = 0;
    ErrCode result = reader->source->read(reader, into, room, got);
    if (result != ERR_OK) {
        /* Remembered as is: every later call repeats it. */
        reader->state = READER_FAILED;
        reader->failure = result;
        snprintf(reader->failureReason, sizeof(reader->failureReason), "%s", errLast()->reason);
        return result;
    }
    EVP_DigestUpdate(reader->fileSha, into, *got);
    reader->totals.compressedBytes += (uint64_t)*got;
    return ERR_OK;
}

/* Refills the input window once it is used up; inputLength == 0 means the file ended. */
static ErrCode readerFillInput(ArcReader *reader)
{
    reader->inputFileOffset += reader->inputLength;
    reader->inputLength = 0;
    reader->inputPos = 0;
    return readerReadFile(reader, reader->input, READER_WINDOW, &reader->inputLength);
}

/* Decodes the next piece of the inner stream into the output window. Each
 * call yields bytes of one frame only, so outputFrameStart locates them.
 * *ended is set at a clean end: file over and no frame left open. */
static ErrCode readerProduce(ArcReader *reader, bool *ended)
{
    reader->outputPos = 0;
    reader->outputLength = 0;
    *ended = false;
    for (;;) {
        if (reader->inputPos == reader->inputLength) {
            ErrCode result = readerFillInput(reader);
            if (result != ERR_OK)
                return result;
            if (reader->inputLength == 0) {
                if (reader->frameOpen)
                    return readerCorrupt(reader, "%s at file offset %llu is truncated (the file ends at byte %llu)",
                                         readerFrameName(reader),
                                         (unsigned long long)reader->frameStart,
                                         (unsigned long long)reader->inputFileOffset);
                *ended = true;
                return ERR_OK;
            }
        }
        size_t available = reader->inputLength - reader->inputPos;
        if (reader->compression == ARC_COMPRESSION_NONE) {
            size_t take = available < READER_WINDOW ? available : READER_WINDOW;
            memcpy(reader->output, reader->input + reader->inputPos, take);
            reader->inputPos += take;
            reader->outputLength = take;
            return ERR_OK;
        }
        if (!reader->frameOpen) {
            reader->frameOpen = true;
            reader->frameStart = reader->inputFileOffset + reader->inputPos;
        }
        if (reader->compression == ARC_COMPRESSION_ZSTD) {
            ZSTD_inBuffer in = {reader->input, reader->inputLength, reader->inputPos};
            ZSTD_outBuffer out = {reader->output, READER_WINDOW, 0};
            size_t status = ZSTD_decompressStream(reader->zstd, &out, &in);
            reader->inputPos = in.pos;
            reader->outputLength = out.pos;
            if (ZSTD_isError(status))
                return readerCorrupt(reader, "zstd frame at file offset %llu: %s",
                                     (unsigned long long)reader->frameStart,
                                     ZSTD_getErrorName(status));
            if (status == 0)
                reader->frameOpen = false; /* frame complete, its checksum verified */
        } else {
            z_stream *stream = &reader->gzip;
            stream->next_in = reader->input + reader->inputPos;
            stream->avail_in = (uInt)available;
            stream->next_out = reader->output;
            stream->avail_out = READER_WINDOW;
            int status = inflate(stream, Z_NO_FLUSH);
            reader->inputPos = reader->inputLength - stream->avail_in;
            reader->outputLength = READER_WINDOW - stream->avail_out;
            if (status == Z_STREAM_END) {
                reader->frameOpen = false; /* member complete, its CRC-32 verified */
                inflateReset(stream);
            } else if (status != Z_OK && !(status == Z_BUF_ERROR && stream->avail_in == 0)) {
                return readerCorrupt(reader, "gzip member at file offset %llu: %s",
                                     (unsigned long long)reader->frameStart,
                                     stream->msg ? stream->msg : "invalid deflate data");
            }
        }
        if (reader->outputLength > 0) {
            reader->outputFrameStart = reader->frameStart;
            return ERR_OK;
        }
    }
}

/* Reads up to length inner bytes into fixed (or appends them to grow);
 * *got < length only at a clean end of the stream. */
static ErrCode readerInnerRead(ArcReader *reader, uint8_t *fixed, Buffer *grow, size_t length,
                               size_t *got)
{
    size_t done = 0;
    while (done < length) {
        if (reader->outputPos == reader->outputLength) {
            bool ended = false;
            ErrCode result = readerProduce(reader, &ended);
            if (result != ERR_OK)
                return result;
            if (ended)
                break;
        }
        size_t available = reader->outputLength - reader->outputPos;
        size_t take = length - done < available ? length - done : available;
        if (fixed)
            memcpy(fixed + done, reader->output + reader->outputPos, take);
        else
            bufferAppend(grow, reader->output + reader->outputPos, take);
        reader->outputPos += take;
        done += take;
    }
    reader->innerOffset += done;
    if (!reader->encrypted)
        reader->totals.uncompressedBytes = reader->innerOffset;
    *got = done;
    return ERR_OK;
}

static const char *sectionKindName(uint8_t kind)
{
    switch (kind) {
    case ARC_SECTION_HEADER:
        return "header";
    case ARC_SECTION_BLOCK:
        return "block";
    case ARC_SECTION_FOOTER:
        return "footer";
    case ARC_SECTION_KEY:
        return "key section";
    }
    return "section";
}

/* Reads one whole section and checks its CRC; *ended at a clean end of the
 * inner stream exactly on a section boundary. */
static ErrCode readerReadSection(ArcReader *reader, bool *ended)
{
    *ended = false;
    char where[160];
    if (reader->section.capacity > ARC_MAX_BLOCK_SIZE)
        bufferFree(&reader->section); /* do not keep a huge record's memory */
    if (reader->plain.capacity > ARC_MAX_BLOCK_SIZE)
        bufferFree(&reader->plain);
    bufferClear(&reader->section);
    reader->sectionStart = reader->innerOffset;
    reader->sectionKind = 0;
    uint8_t prefix[ARC_SECTION_PREFIX_LENGTH];
    size_t got = 0;
    ErrCode result = readerInnerRead(reader, prefix, NULL, sizeof(prefix), &got);
    if (result != ERR_OK)
        return result;
    reader->sectionFrameStart = reader->outputFrameStart;
    if (got == 0) {
        *ended = true;
        return ERR_OK;
    }
    if (got < sizeof(prefix))
        return readerCorrupt(reader, "%s: inner stream ends inside a section prefix",
                             readerSectionWhere(reader, where, sizeof(where)));
    uint8_t kind = prefix[0];
    if (kind != ARC_SECTION_HEADER && kind != ARC_SECTION_BLOCK && kind != ARC_SECTION_FOOTER &&
        !(kind == ARC_SECTION_KEY && reader->encrypted))
        return readerCorrupt(reader, "%s: unknown section kind 0x%02x",
                             readerSectionWhere(reader, where, sizeof(where)), kind);
    reader->sectionKind = kind;
    uint32_t length = arcReadU32BE(prefix + 1);
    if (length > ARC_MAX_SECTION_LENGTH)
        return readerCorrupt(reader, "%s: declared length %u exceeds the limit of %u bytes",
                             readerSectionWhere(reader, where, sizeof(where)), length,
                             ARC_MAX_SECTION_LENGTH);
    result = readerInnerRead(reader, NULL, &reader->section, length, &got);
    if (result != ERR_OK)
        return result;
    uint8_t crcBytes[ARC_SECTION_CRC_LENGTH];
    size_t crcGot = 0;
    if (got == length) {
        result = readerInnerRead(reader, crcBytes, NULL, sizeof(crcBytes), &crcGot);
        if (result != ERR_OK)
            return result;
    }
    if (got < length || crcGot < sizeof(crcBytes))
        return readerCorrupt(reader, "%s: archive truncated inside the %s (%u payload bytes declared, inner stream ends at offset %llu)",
                             readerSectionWhere(reader, where, sizeof(where)),
                             sectionKindName(kind), length,
                             (unsigned long long)reader->innerOffset);
    uint32_t stored = arcReadU32BE(crcBytes);
    uint32_t computed = arcCrc32c(arcCrc32c(0, prefix, sizeof(prefix)), reader->section.data,
                                  reader->section.length);
    if (stored != computed)
        return readerCorrupt(reader, "%s: CRC mismatch (stored %08x, computed %08x)",
                             readerSectionWhere(reader, where, sizeof(where)), stored, computed);
    return ERR_OK;
}

/* Format 2: appends what one zstd frame, exactly the input, decompresses to;
 * refuses more than a section may hold before it is allocated. */
static ErrCode readerInflateZstd(ArcReader *reader, const Buffer *input, Buffer *output, const char *where)
{
    ZSTD_DCtx_reset(reader->zstd, ZSTD_reset_session_only);
    ZSTD_inBuffer in = {input->data, input->length, 0};
    for (;;) {
        if (output->length == ARC_MAX_SECTION_LENGTH)
            return readerCorrupt(reader, "%s: decompresses to more than %u bytes", where, ARC_MAX_SECTION_LENGTH);
        size_t room = ARC_MAX_SECTION_LENGTH - output->length;
        bufferReserve(output, room < READER_WINDOW ? room : READER_WINDOW);
        ZSTD_outBuffer out = {output->data + output->length, output->capacity - output->length, 0};
        if (out.size > room)
            out.size = room;
        size_t status = ZSTD_decompressStream(reader->zstd, &out, &in);
        output->length += out.pos;
        if (ZSTD_isError(status))
            return readerCorrupt(reader, "%s: zstd: %s", where, ZSTD_getErrorName(status));
        if (status == 0)
            break; /* the frame is complete, its checksum verified */
        if (in.pos == in.size && out.pos < out.size)
            return readerCorrupt(reader, "%s: the zstd frame is truncated", where);
    }
    if (in.pos != in.size)
        return readerCorrupt(reader, "%s: %zu bytes after the zstd frame", where, in.size - in.pos);
    return ERR_OK;
}

/* Format 2: the same for one gzip member. */
static ErrCode readerInflateGzip(ArcReader *reader, const Buffer *input, Buffer *output, const char *where)
{
    z_stream *stream = &reader->gzip;
    inflateReset(stream);
    stream->next_in = input->data;
    stream->avail_in = (uInt)input->length; /* below ARC_MAX_SECTION_LENGTH */
    for (;;) {
        if (output->length == ARC_MAX_SECTION_LENGTH)
            return readerCorrupt(reader, "%s: decompresses to more than %u bytes", where, ARC_MAX_SECTION_LENGTH);
        size_t room = ARC_MAX_SECTION_LENGTH - output->length;
        bufferReserve(output, room < READER_WINDOW ? room : READER_WINDOW);
        size_t size = output->capacity - output->length;
        if (size > room)
            size = room;
        stream->next_out = output->data + output->length;
        stream->avail_out = (uInt)size;
        int status = inflate(stream, Z_NO_FLUSH);
        output->length += size - stream->avail_out;
        if (status == Z_STREAM_END)
            break; /* member complete, its CRC-32 verified */
        if (status != Z_OK && status != Z_BUF_ERROR)
            return readerCorrupt(reader, "%s: gzip: %s", where, stream->msg ? stream->msg : "invalid deflate data");
        if (stream->avail_in == 0 && stream->avail_out > 0)
            return readerCorrupt(reader, "%s: the gzip member is truncated", where);
    }
    if (stream->avail_in != 0)
        return readerCorrupt(reader, "%s: %u bytes after the gzip member", where, stream->avail_in);
    return ERR_OK;
}

/* Format 2: replaces the stored payload of the section just read by its
 * plaintext: authenticated as the stream's next message (only the footer
 * may be the final one), then decompressed. */
static ErrCode readerOpenSection(ArcReader *reader)
{
    char where[160];
    readerSectionWhere(reader, where, sizeof(where));
    size_t cipherLength = reader->section.length;
    bufferClear(&reader->plain);
    bufferReserve(&reader->plain, cipherLength > CRYPTO_BLOCK_OVERHEAD ? cipherLength - CRYPTO_BLOCK_OVERHEAD : 1);
    size_t plainLength = 0;
    bool isFinal = false;
    if (cryptoDecryptBlock(&reader->codec, reader->sectionKind, reader->section.data, cipherLength,
                           reader->plain.data, &plainLength, &isFinal) != ERR_OK)
        return readerCorrupt(reader, "%s: %s", where, errLast()->reason);
    reader->plain.length = plainLength;
    bool footer = reader->sectionKind == ARC_SECTION_FOOTER;
    if (isFinal != footer)
        return readerCorrupt(reader, footer ? "%s: the footer is not the final message of the encrypted stream"
                                            : "%s: a final message before the footer",
                             where);
    bufferClear(&reader->section);
    ErrCode result = ERR_OK;
    if (reader->blockCompression == ARC_COMPRESSION_ZSTD) {
        result = readerInflateZstd(reader, &reader->plain, &reader->section, where);
    } else if (reader->blockCompression == ARC_COMPRESSION_GZIP) {
        result = readerInflateGzip(reader, &reader->plain, &reader->section, where);
    } else {
        Buffer swap = reader->section;
        reader->section = reader->plain;
        reader->plain = swap;
    }
    if (result != ERR_OK)
        return result;
    reader->plainBytes += ARC_SECTION_PREFIX_LENGTH + reader->section.length + ARC_SECTION_CRC_LENGTH;
    reader->totals.uncompressedBytes = reader->plainBytes;
    return ERR_OK;
}

/* Checks a CRC-valid block's structure before any record of it is handed
 * out, so a reader never returns half a block and then fails on it. */
static ErrCode readerLoadBlock(ArcReader *reader)
{
    char where[160];
    const uint8_t *payload = reader->section.data;
    size_t length = reader->section.length;
    if (length < ARC_BLOCK_COUNT_LENGTH)
        return readerCorrupt(reader, "%s: block of %zu bytes has no record count",
                             readerSectionWhere(reader, where, sizeof(where)), length);
    uint32_t count = arcReadU32BE(payload);
    if (count > (length - ARC_BLOCK_COUNT_LENGTH) / ARC_RECORD_PREFIX_LENGTH)
        return readerCorrupt(reader, "%s: declares %u records, more than its %zu bytes can hold",
                             readerSectionWhere(reader, where, sizeof(where)), count, length);
    uint64_t kindCounts[4] = {0, 0, 0, 0};
    size_t pos = ARC_BLOCK_COUNT_LENGTH;
    for (uint32_t index = 0; index < count; index++) {
        if (length - pos < ARC_RECORD_PREFIX_LENGTH)
            return readerCorrupt(reader, "%s: record %u overruns the block",
                                 readerSectionWhere(reader, where, sizeof(where)), index + 1);
        uint8_t kind = payload[pos];
        uint32_t recordLength = arcReadU32BE(payload + pos + 1);
        pos += ARC_RECORD_PREFIX_LENGTH;
        if (recordLength > length - pos)
            return readerCorrupt(reader, "%s: record %u of %u bytes overruns the block",
                                 readerSectionWhere(reader, where, sizeof(where)), index + 1,
                                 recordLength);
        pos += recordLength;
        if (kind == ARC_RECORD_SCHEMA)
            kindCounts[0]++;
        else if (kind == ARC_RECORD_NODE)
            kindCounts[1]++;
        else if (kind == ARC_RECORD_RELATIONSHIP)
            kindCounts[2]++;
        else if (kind == ARC_RECORD_DELETION)
            kindCounts[3]++;
        else
            return readerCorrupt(reader, "%s: record %u has unknown kind 0x%02x",
                                 readerSectionWhere(reader, where, sizeof(where)), index + 1, kind);
    }
    if (pos != length)
        return readerCorrupt(reader, "%s: %zu bytes after the last of its %u records",
                             readerSectionWhere(reader, where, sizeof(where)), length - pos, count);
    /* The record area is byte for byte what the content digest covers. */
    EVP_DigestUpdate(reader->contentSha, payload + ARC_BLOCK_COUNT_LENGTH,
                     length - ARC_BLOCK_COUNT_LENGTH);
    reader->totals.schemaCount += kindCounts[0];
    reader->totals.nodeCount += kindCounts[1];
    reader->totals.relationshipCount += kindCounts[2];
    reader->totals.deletionCount += kindCounts[3];
    reader->blockCount++;
    reader->recordPos = ARC_BLOCK_COUNT_LENGTH;
    reader->recordsLeft = count;
    return ERR_OK;
}

static ErrCode readerCheckCount(ArcReader *reader, const char *what, uint64_t declared,
                                uint64_t seen)
{
    if (declared == seen)
        return ERR_OK;
    char where[160];
    return readerCorrupt(reader, "%s: footer counts %llu %s but %llu were read",
                         readerSectionWhere(reader, where, sizeof(where)),
                         (unsigned long long)declared, what, (unsigned long long)seen);
}

/* After the footer the file must end: nothing in the inner stream, no
 * further frame (not even an empty or skippable one), no stray bytes. */
static ErrCode readerCheckEnd(ArcReader *reader)
{
    uint64_t footerFrameStart = reader->sectionFrameStart;
    uint64_t footerEnd = reader->innerOffset;
    uint8_t extra = 0;
    size_t got = 0;
    ErrCode result = readerInnerRead(reader, &extra, NULL, 1, &got);
    bool raw = reader->compression == ARC_COMPRESSION_NONE;
    bool newFrame = !raw && reader->frameStart != footerFrameStart;
    if (result != ERR_OK && !newFrame)
        return result; /* the footer's own frame is damaged (its checksum, its end) */
    if (result == ERR_OK && got == 0 && !newFrame)
        return ERR_OK;
    uint64_t fileOffset = raw ? footerEnd : newFrame ? reader->frameStart : reader->outputFrameStart;
    return readerCorrupt(reader, "unexpected data after the footer (file offset %llu, inner offset %llu)",
                         (unsigned long long)fileOffset, (unsigned long long)footerEnd);
}

/* After the footer: nothing may follow, and the file's SHA-256 must be the
 * expected one (when one was given). */
static ErrCode readerFinish(ArcReader *reader)
{
    ErrCode result = readerCheckEnd(reader);
    if (result != ERR_OK)
        return result;
    unsigned int digestLength = 0;
    EVP_DigestFinal_ex(reader->fileSha, reader->totals.fileSha256, &digestLength);
    if (reader->expectSha && memcmp(reader->expectedSha, reader->totals.fileSha256, 32) != 0) {
        char actual[65];
        for (int index = 0; index < 32; index++)
            snprintf(actual + 2 * index, 3, "%02x", reader->totals.fileSha256[index]);
        return readerCorrupt(reader, "file SHA-256 %s does not match the expected one", actual);
    }
    reader->state = READER_DONE;
    return ERR_OK;
}

static ErrCode readerVerifyFooter(ArcReader *reader)
{
    char where[160];
    const uint8_t *payload = reader->section.data;
    if (reader->section.length != ARC_FOOTER_PAYLOAD_LENGTH)
        return readerCorrupt(reader, "%s: footer is %zu bytes, expected %d",
                             readerSectionWhere(reader, where, sizeof(where)),
                             reader->section.length, ARC_FOOTER_PAYLOAD_LENGTH);
    unsigned int digestLength = 0;
    EVP_DigestFinal_ex(reader->contentSha, reader->totals.contentDigest, &digestLength);
    ErrCode result = readerCheckCount(reader, "schema records", arcReadU64BE(payload),
                                      reader->totals.schemaCount);
    if (result == ERR_OK)
        result = readerCheckCount(reader, "nodes", arcReadU64BE(payload + 8),
                                  reader->totals.nodeCount);
    if (result == ERR_OK)
        result = readerCheckCount(reader, "relationships", arcReadU64BE(payload + 16),
                                  reader->totals.relationshipCount);
    if (result == ERR_OK)
        result = readerCheckCount(reader, "blocks", arcReadU64BE(payload + 24), reader->blockCount);
    if (result != ERR_OK)
        return result;
    uint64_t declaredOffset = arcReadU64BE(payload + 32);
    if (declaredOffset != reader->sectionStart)
        return readerCorrupt(reader, "%s: footer says it starts at inner offset %llu",
                             readerSectionWhere(reader, where, sizeof(where)),
                             (unsigned long long)declaredOffset);
    if (memcmp(payload + 40, reader->totals.contentDigest, 32) != 0)
        return readerCorrupt(reader, "%s: content digest does not match the records read",
                             readerSectionWhere(reader, where, sizeof(where)));
    return readerFinish(reader);
}

static ErrCode readerDetect(ArcReader *reader)
{
    /* Enough bytes to tell the formats apart, even from a pipe. */
    while (reader->inputLength < ARC_MAGIC_LENGTH) {
        size_t got = 0;
        ErrCode result = readerReadFile(reader, reader->input + reader->inputLength,
                                        READER_WINDOW - reader->inputLength, &got);
        if (result != ERR_OK)
            return result;
        if (got == 0)
            break;
        reader->inputLength += got;
    }
    const uint8_t *start = reader->input;
    size_t length = reader->inputLength;
    if (length == 0)
        return readerCorrupt(reader, "the file is empty");
    if (length >= 4 && start[0] == 0x28 && start[1] == 0xB5 && start[2] == 0x2F && start[3] == 0xFD) {
        reader->compression = ARC_COMPRESSION_ZSTD;
        reader->zstd = ZSTD_createDCtx();
        if (!reader->zstd)
            return readerFail(reader, ERR_INTERNAL, "cannot create a zstd decoder");
    } else if (length >= 2 && start[0] == 0x1F && start[1] == 0x8B) {
        reader->compression = ARC_COMPRESSION_GZIP;
        if (inflateInit2(&reader->gzip, 15 + 16) != Z_OK)
            return readerFail(reader, ERR_INTERNAL, "cannot set up gzip decoding");
        reader->gzipReady = true;
    } else if (length >= ARC_MAGIC_LENGTH - 1 && memcmp(start, ARC_MAGIC, ARC_MAGIC_LENGTH - 1) == 0) {
        reader->compression = ARC_COMPRESSION_NONE;
    } else {
        return readerCorrupt(reader,
                             "not a backup archive (file starts with %02x %02x %02x %02x, expected zstd, gzip or NBKARCH)",
                             start[0], length > 1 ? start[1] : 0, length > 2 ? start[2] : 0,
                             length > 3 ? start[3] : 0);
    }
    return ERR_OK;
}

/* Format 2: reads the plain key section, checks the key against it and
 * starts the decryptor. No key: BACKUP_KEY_REQUIRED; another key's check:
 * BACKUP_KEY_INVALID; both before any encrypted byte is used. */
static ErrCode readerStartEncrypted(ArcReader *reader, const uint8_t *dataKey)
{
    char where[160];
    bool ended = false;
    ErrCode result = readerReadSection(reader, &ended);
    if (result != ERR_OK)
        return result;
    if (ended)
        return readerCorrupt(reader, "archive truncated: no key section after the preamble");
    const uint8_t *payload = reader->section.data;
    if (reader->sectionKind != ARC_SECTION_KEY)
        return readerCorrupt(reader, "%s: expected the key section first",
                             readerSectionWhere(reader, where, sizeof(where)));
    if (reader->section.length != ARC_KEY_PAYLOAD_LENGTH || payload[0] != ARC_KEY_SECTION_FORMAT ||
        payload[1] > ARC_KEY_COMPRESSION_ZSTD)
        return readerCorrupt(reader, "%s: a key section of %zu bytes, format %u, compression %u is not supported "
                             "(expected %d bytes, format %d, compression 0 to 2)",
                             readerSectionWhere(reader, where, sizeof(where)), reader->section.length,
                             reader->section.length > 0 ? payload[0] : 0u, reader->section.length > 1 ? payload[1] : 0u,
                             ARC_KEY_PAYLOAD_LENGTH, ARC_KEY_SECTION_FORMAT);
    reader->blockCompression = payload[1] == ARC_KEY_COMPRESSION_ZSTD   ? ARC_COMPRESSION_ZSTD
                               : payload[1] == ARC_KEY_COMPRESSION_GZIP ? ARC_COMPRESSION_GZIP
                                                                        : ARC_COMPRESSION_NONE;
    if (!dataKey && reader->framingOnly)
        return ERR_OK; /* nothing is decrypted: no key check, no decryptor */
    if (!dataKey)
        return readerFail(reader, BACKUP_KEY_REQUIRED, "the archive is encrypted (format 2) and no key was given");
    uint8_t keyCheck[CRYPTO_KEY_CHECK_BYTES];
    cryptoKeyCheckCompute(dataKey, keyCheck);
    if (sodium_memcmp(keyCheck, payload + 2 + CRYPTO_STREAM_HEADER_BYTES, sizeof(keyCheck)) != 0)
        return readerFail(reader, BACKUP_KEY_INVALID,
                          "the key given is not the one the archive was encrypted with (its key check differs)");
    if (cryptoDecryptorInit(&reader->codec, dataKey, payload + 2) != ERR_OK)
        return readerCorrupt(reader, "%s: %s", readerSectionWhere(reader, where, sizeof(where)), errLast()->reason);
    if (reader->blockCompression == ARC_COMPRESSION_ZSTD) {
        reader->zstd = ZSTD_createDCtx();
        if (!reader->zstd)
            return readerFail(reader, ERR_INTERNAL, "cannot create a zstd decoder");
    } else if (reader->blockCompression == ARC_COMPRESSION_GZIP) {
        if (inflateInit2(&reader->gzip, 15 + 16) != Z_OK)
            return readerFail(reader, ERR_INTERNAL, "cannot set up gzip decoding");
        reader->gzipReady = true;
    }
    reader->plainBytes = reader->innerOffset; /* preamble and key section, stored in clear */
    reader->totals.uncompressedBytes = reader->plainBytes;
    return ERR_OK;
}

static ErrCode readerReadStart(ArcReader *reader, const uint8_t *dataKey)
{
    ErrCode result = readerDetect(reader);
    if (result != ERR_OK)
        return result;
    uint8_t preamble[ARC_PREAMBLE_LENGTH];
    size_t got = 0;
    result = readerInnerRead(reader, preamble, NULL, sizeof(preamble), &got);
    if (result != ERR_OK)
        return result;
    if (got < sizeof(preamble))
        return readerCorrupt(reader, "archive truncated: inner stream ends after %zu bytes, inside the preamble", got);
    unsigned version = ((unsigned)preamble[ARC_MAGIC_LENGTH] << 8) | preamble[ARC_MAGIC_LENGTH + 1];
    /* Format 2 is never inside an outer layer: encrypted bytes do not compress. */
    reader->encrypted = reader->compression == ARC_COMPRESSION_NONE &&
                        memcmp(preamble, ARC_MAGIC_ENCRYPTED, ARC_MAGIC_LENGTH) == 0 &&
                        version == ARC_FORMAT_VERSION_ENCRYPTED;
    if (!reader->encrypted && memcmp(preamble, ARC_MAGIC, ARC_MAGIC_LENGTH) != 0)
        return readerCorrupt(reader, "inner stream does not start with the magic %s or %s", ARC_MAGIC,
                             ARC_MAGIC_ENCRYPTED);
    if (!reader->encrypted && version != ARC_FORMAT_VERSION)
        return readerCorrupt(reader, "format version %u is not supported (this tool reads versions %d and %d); the file is damaged or from a newer tool",
                             version, ARC_FORMAT_VERSION, ARC_FORMAT_VERSION_ENCRYPTED);
    if (reader->encrypted) {
        result = readerStartEncrypted(reader, dataKey);
        if (result != ERR_OK)
            return result;
    }
    bool ended = false;
    result = readerReadSection(reader, &ended);
    if (result != ERR_OK)
        return result;
    if (ended)
        return readerCorrupt(reader, "archive truncated: no header after the preamble");
    if (reader->sectionKind != ARC_SECTION_HEADER) {
        char where[160];
        return readerCorrupt(reader, "%s: expected the header %s",
                             readerSectionWhere(reader, where, sizeof(where)),
                             reader->encrypted ? "after the key section" : "first");
    }
    if (reader->encrypted && reader->framingOnly)
        bufferClear(&reader->section); /* the header is ciphertext: hand out none */
    else if (reader->encrypted && (result = readerOpenSection(reader)) != ERR_OK)
        return result;
    /* Keep the header; the section buffer is reused for blocks. */
    Buffer swap = reader->header;
    reader->header = reader->section;
    reader->section = swap;
    return ERR_OK;
}

/* A reader on a source whose field is set by the caller. */
static ArcReader *readerNew(const ArcReaderSource *source)
{
    ArcReader *reader = memCalloc(1, sizeof(*reader));
    reader->source = source;
    reader->fd = -1;
    return reader;
}

/* Reads and checks everything up to the header; on failure the reader is
 * freed, which closes its source. */
static ErrCode readerOpen(ArcReader **out, ArcReader *reader, const char *displayName, const uint8_t *dataKey,
                          bool framingOnly)
{
    *out = NULL;
    reader->framingOnly = framingOnly;
    reader->displayName = memStrdup(displayName ? displayName : "archive");
    reader->input = memAlloc(READER_WINDOW);
    reader->output = memAlloc(READER_WINDOW);
    bufferInit(&reader->header);
    bufferInit(&reader->section);
    bufferInit(&reader->plain);
    reader->fileSha = EVP_MD_CTX_new();
    reader->contentSha = EVP_MD_CTX_new();
    ErrCode result = ERR_OK;
    if (!reader->fileSha || !reader->contentSha || EVP_DigestInit_ex(reader->fileSha, EVP_sha256(), NULL) != 1 ||
        EVP_DigestInit_ex(reader->contentSha, EVP_sha256(), NULL) != 1)
        result = errSet(ERR_INTERNAL, "cannot set up the archive reader");
    if (result == ERR_OK)
        result = readerReadStart(reader, dataKey);
    if (result != ERR_OK) {
        arcReaderFree(reader);
        return result;
    }
    *out = reader;
    return ERR_OK;
}

static ArcReader *readerNewFd(int fd)
{
    ArcReader *reader = readerNew(&readerFdSource);
    reader->fd = fd;
    return reader;
}

ErrCode arcReaderOpenFdWith(ArcReader **out, int fd, const char *displayName, const uint8_t *dataKey)
{
    return readerOpen(out, readerNewFd(fd), displayName, dataKey, false);
}

ErrCode arcReaderOpenFramingOnly(ArcReader **out, int fd, const char *displayName)
{
    return readerOpen(out, readerNewFd(fd), displayName, NULL, true);
}

ErrCode arcReaderOpenStorage(ArcReader **out, StorageRead *source, const char *displayName, const uint8_t *dataKey)
{
    ArcReader *reader = readerNew(&readerStorageSource);
    reader->storage = source;
    return readerOpen(out, reader, displayName, dataKey, false);
}

ErrCode arcReaderOpenStorageFramingOnly(ArcReader **out, StorageRead *source, const char *displayName)
{
    ArcReader *reader = readerNew(&readerStorageSource);
    reader->storage = source;
    return readerOpen(out, reader, displayName, NULL, true);
}

ErrCode arcReaderOpenFd(ArcReader **out, int fd, const char *displayName)
{
    return arcReaderOpenFdWith(out, fd, displayName, NULL);
}

ErrCode arcReaderOpenWith(ArcReader **out, const char *path, const uint8_t *dataKey)
{
    *out = NULL;
    int fd = -1;
    ErrCode opened = arcOpenFile(path, &fd);
    if (opened != ERR_OK)
        return opened;
    return arcReaderOpenFdWith(out, fd, path, dataKey);
}

ErrCode arcReaderOpen(ArcReader **out, const char *path)
{
    return arcReaderOpenWith(out, path, NULL);
}

bool arcReaderEncrypted(const ArcReader *reader) { return reader->encrypted; }

const uint8_t *arcReaderHeader(const ArcReader *reader, size_t *length)
{
    *length = reader->header.length;
    return reader->header.data;
}

ArcCompression arcReaderCompression(const ArcReader *reader)
{
    return reader->encrypted ? reader->blockCompression : reader->compression;
}

ErrCode arcReaderNext(ArcReader *reader, ArcRecordKind *kind, const uint8_t **packed, size_t *length)
{
    *packed = NULL;
    *length = 0;
    if (reader->state == READER_FAILED)
        return errSet(reader->failure, "%s", reader->failureReason);
    while (reader->state == READER_RECORDS) {
        if (reader->recordsLeft > 0) {
            const uint8_t *record = reader->section.data + reader->recordPos;
            uint32_t recordLength = arcReadU32BE(record + 1);
            *kind = (ArcRecordKind)record[0];
            *packed = record + ARC_RECORD_PREFIX_LENGTH;
            *length = recordLength;
            reader->recordPos += ARC_RECORD_PREFIX_LENGTH + recordLength;
            reader->recordsLeft--;
            return ERR_OK;
        }
        bool ended = false;
        ErrCode result = readerReadSection(reader, &ended);
        if (result != ERR_OK)
            return result;
        if (ended) {
            if (reader->blockCount == 0)
                return readerCorrupt(reader, "archive truncated: no footer after the header (inner stream ends at offset %llu)",
                                     (unsigned long long)reader->innerOffset);
            return readerCorrupt(reader, "archive truncated: no footer after block %llu (inner stream ends at offset %llu)",
                                 (unsigned long long)reader->blockCount,
                                 (unsigned long long)reader->innerOffset);
        }
        if (reader->sectionKind == ARC_SECTION_HEADER || reader->sectionKind == ARC_SECTION_KEY) {
            char where[160];
            return readerCorrupt(reader, "%s: a second %s", readerSectionWhere(reader, where, sizeof(where)),
                                 sectionKindName(reader->sectionKind));
        }
        if (reader->encrypted && reader->framingOnly) {
            /* Blocks are only counted; after the footer the file must end. */
            if (reader->sectionKind == ARC_SECTION_BLOCK) {
                reader->blockCount++;
                continue;
            }
            result = readerFinish(reader);
            if (result != ERR_OK)
                return result;
            continue;
        }
        if (reader->encrypted && (result = readerOpenSection(reader)) != ERR_OK)
            return result;
        result = reader->sectionKind == ARC_SECTION_BLOCK ? readerLoadBlock(reader)
                                                          : readerVerifyFooter(reader);
        if (result != ERR_OK)
            return result;
    }
    return ERR_OK; /* READER_DONE: *packed stays NULL */
}

static int hexDigitValue(char digit)
{
    if (digit >= '0' && digit <= '9')
        return digit - '0';
    if (digit >= 'a' && digit <= 'f')
        return digit - 'a' + 10;
    if (digit >= 'A' && digit <= 'F')
        return digit - 'A' + 10;
    return -1;
}

ErrCode arcReaderExpectSha256(ArcReader *reader, const char *hex)
{
    for (size_t index = 0; index < 32; index++) {
        int high = hex ? hexDigitValue(hex[2 * index]) : -1;
        int low = high >= 0 ? hexDigitValue(hex[2 * index + 1]) : -1;
        if (low < 0)
            return errSet(BACKUP_CORRUPTED, "expected SHA-256 '%s' is not 64 hex digits",
                          hex ? hex : "");
        reader->expectedSha[index] = (uint8_t)(high << 4 | low);
    }
    if (hex[64] != '\0')
        return errSet(BACKUP_CORRUPTED, "expected SHA-256 '%s' is not 64 hex digits", hex);
    reader->expectSha = true;
    return ERR_OK;
}

const ArcTotals *arcReaderTotals(const ArcReader *reader) { return &reader->totals; }

void arcReaderFree(ArcReader *reader)
{
    if (!reader)
        return;
    reader->source->close(reader); /* leaves errLast() alone */
    ZSTD_freeDCtx(reader->zstd);
    if (reader->gzipReady)
        inflateEnd(&reader->gzip);
    EVP_MD_CTX_free(reader->fileSha);
    EVP_MD_CTX_free(reader->contentSha);
    bufferFree(&reader->header);
    bufferFree(&reader->section);
    bufferFree(&reader->plain);
    cryptoBlockCodecWipe(&reader->codec);
    free(reader->input);
    free(reader->output);
    free(reader->displayName);
    free(reader);
}
