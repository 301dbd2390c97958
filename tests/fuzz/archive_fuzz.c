/* libFuzzer target for the archive reader: whatever the bytes, reading must
 * end in ERR_OK or an error code, never a crash, leak or hang.
 *
 * The first input byte picks a mode so the fuzzer gets past the checksums
 * and reaches the structure checks behind them:
 *   bit 0   recompute every section CRC of the (raw) inner stream;
 *   bits 1-2 0 = feed as is, 1 = wrap in one gzip member, 2 = wrap in one
 *            zstd frame, 3 = as is.
 * The rest is the file (or inner stream) itself. */
#include "archive/archive.h"
#include "archive/archive_format.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Walks the sections after the preamble and stores a correct CRC-32C for
 * each one that fits in the input. */
static void fuzzFixCrcs(uint8_t *inner, size_t length)
{
    size_t offset = ARC_PREAMBLE_LENGTH;
    while (offset + ARC_SECTION_PREFIX_LENGTH <= length) {
        uint32_t payloadLength = arcReadU32BE(inner + offset + 1);
        size_t covered = ARC_SECTION_PREFIX_LENGTH + (size_t)payloadLength;
        if (payloadLength > length || offset + covered + ARC_SECTION_CRC_LENGTH > length)
            return;
        arcWriteU32BE(inner + offset + covered, arcCrc32c(0, inner + offset, covered));
        offset += covered + ARC_SECTION_CRC_LENGTH;
    }
}

static uint8_t *fuzzGzip(const uint8_t *data, size_t length, size_t *outLength)
{
    z_stream stream;
    memset(&stream, 0, sizeof(stream));
    if (deflateInit2(&stream, 1, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        return NULL;
    size_t capacity = deflateBound(&stream, (uLong)length) + 64;
    uint8_t *out = malloc(capacity);
    stream.next_in = (Bytef *)data;
    stream.avail_in = (uInt)length;
    stream.next_out = out;
    stream.avail_out = (uInt)capacity;
    if (!out || deflate(&stream, Z_FINISH) != Z_STREAM_END) {
        free(out);
        out = NULL;
    }
    *outLength = capacity - stream.avail_out;
    deflateEnd(&stream);
    return out;
}

static uint8_t *fuzzZstd(const uint8_t *data, size_t length, size_t *outLength)
{
    size_t capacity = ZSTD_compressBound(length);
    uint8_t *out = malloc(capacity);
    if (!out)
        return NULL;
    size_t produced = ZSTD_compress(out, capacity, data, length, 1);
    if (ZSTD_isError(produced)) {
        free(out);
        return NULL;
    }
    *outLength = produced;
    return out;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    uint8_t mode = data[0];
    size_t length = size - 1;
    uint8_t *image = malloc(length ? length : 1);
    if (!image)
        return 0;
    memcpy(image, data + 1, length);
    if (mode & 1)
        fuzzFixCrcs(image, length);
    int wrap = (mode >> 1) & 3;
    if (wrap == 1 || wrap == 2) {
        size_t wrappedLength = 0;
        uint8_t *wrapped = wrap == 1 ? fuzzGzip(image, length, &wrappedLength)
                                     : fuzzZstd(image, length, &wrappedLength);
        free(image);
        if (!wrapped)
            return 0;
        image = wrapped;
        length = wrappedLength;
    }

    int fd = memfd_create("archive-fuzz", MFD_CLOEXEC);
    if (fd < 0 || write(fd, image, length) != (ssize_t)length || lseek(fd, 0, SEEK_SET) != 0) {
        if (fd >= 0)
            close(fd);
        free(image);
        return 0;
    }
    free(image);

    ArcReader *reader = NULL;
    if (arcReaderOpenFd(&reader, fd, "fuzz") == ERR_OK) {
        size_t headerLength = 0;
        const uint8_t *header = arcReaderHeader(reader, &headerLength);
        volatile uint8_t sink = headerLength ? header[headerLength - 1] : 0;
        for (;;) {
            ArcRecordKind kind;
            const uint8_t *packed = NULL;
            size_t recordLength = 0;
            if (arcReaderNext(reader, &kind, &packed, &recordLength) != ERR_OK || !packed)
                break;
            /* Touch the record's ends: ASan checks they are inside the buffer. */
            if (recordLength)
                sink ^= packed[0] ^ packed[recordLength - 1];
        }
        (void)sink;
        (void)arcReaderTotals(reader);
        arcReaderFree(reader);
    }
    return 0;
}
