/* libFuzzer target for the dump file decoder (src/archive/dump_file.c,
 * dumpStreamInspect: the decode behind dumpFileInspect and the dump writer):
 * whatever the bytes, inspection ends in ERR_OK or BACKUP_CORRUPTED, never a
 * crash, leak, hang or other code. Each input is inspected twice, in one
 * piece and in small pieces the input chooses, and both must agree: the same
 * verdict, size and SHA-256 (that of the bytes), and once they pass the same
 * format and content size. A dump is only proven whole by its stream, so
 * the fuzzer can also build a real one from the rest of its input:
 *
 *   byte 0, bits 0-1  0 = the rest is the dump as is; 1 = "DZV1" and one
 *                     zstd frame (with its checksum) of the rest; 2 = "DGV1"
 *                     and a gzip member of it; 3 = a bare gzip member of it;
 *           bit 2     (built dumps) the frame or member twice, concatenated;
 *           bit 3     (built dumps) the last byte cut off;
 *   byte 1            seeds the sizes of the small pieces (1 to 64 bytes,
 *                     now and then a large one).
 * A built dump must pass with the rest as its content (twice as long with
 * bit 2), and must fail as BACKUP_CORRUPTED when its last byte is cut.
 * Build: cmake -DNBK_FUZZ=ON -DCMAKE_C_COMPILER=clang; run: ./dump_file_fuzz corpus/ */
#include "archive/dump_file.h"

#include <openssl/evp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#include <zstd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct {
    const uint8_t *data;
    size_t length;
    size_t offset;
    uint32_t state; /* 0: one piece as large as the reader asks for */
} FuzzSource;

static ErrCode fuzzRead(void *payload, uint8_t *buffer, size_t capacity, size_t *got)
{
    FuzzSource *source = payload;
    size_t piece = capacity;
    if (source->state) {
        source->state ^= source->state << 13;
        source->state ^= source->state >> 17;
        source->state ^= source->state << 5;
        piece = (source->state & 0xf0) == 0 ? 4096 : 1 + (source->state >> 8) % 64;
        if (piece > capacity)
            piece = capacity;
    }
    size_t left = source->length - source->offset;
    if (piece > left)
        piece = left;
    memcpy(buffer, source->data + source->offset, piece);
    source->offset += piece;
    *got = piece;
    return ERR_OK;
}

static ErrCode fuzzInspect(const uint8_t *data, size_t length, uint32_t state, DumpFileInfo *info)
{
    FuzzSource source = {.data = data, .length = length, .state = state};
    ErrCode code = dumpStreamInspect(fuzzRead, &source, "fuzz.dump", info);
    if (code != ERR_OK && code != BACKUP_CORRUPTED)
        abort(); /* only a damaged stream may fail */
    if (source.offset != length || info->bytes != length)
        abort(); /* every byte is read and counted, even past damage */
    return code;
}

/* One zstd frame with its content checksum, or NULL. */
static uint8_t *fuzzZstd(const uint8_t *data, size_t length, size_t *outLength)
{
    ZSTD_CCtx *context = ZSTD_createCCtx();
    size_t capacity = ZSTD_compressBound(length);
    uint8_t *out = malloc(capacity);
    size_t result = 1;
    if (context && out) {
        ZSTD_CCtx_setParameter(context, ZSTD_c_compressionLevel, 1);
        ZSTD_CCtx_setParameter(context, ZSTD_c_checksumFlag, 1);
        result = ZSTD_compress2(context, out, capacity, data, length);
    }
    ZSTD_freeCCtx(context);
    if (!out || ZSTD_isError(result)) {
        free(out);
        return NULL;
    }
    *outLength = result;
    return out;
}

/* One gzip member, or NULL. */
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
    int result = out ? deflate(&stream, Z_FINISH) : Z_MEM_ERROR;
    *outLength = capacity - stream.avail_out;
    deflateEnd(&stream);
    if (result != Z_STREAM_END) {
        free(out);
        return NULL;
    }
    return out;
}

/* The dump mode asks for (see the top), or NULL when the codec failed. */
static uint8_t *fuzzBuild(unsigned mode, const uint8_t *rest, size_t restLength, size_t *outLength)
{
    unsigned codec = mode & 3;
    size_t streamLength = 0;
    uint8_t *stream = codec == 1 ? fuzzZstd(rest, restLength, &streamLength) : fuzzGzip(rest, restLength, &streamLength);
    if (!stream)
        return NULL;
    size_t copies = (mode & 4) ? 2 : 1;
    size_t magicLength = codec == 3 ? 0 : 4;
    uint8_t *dump = malloc(magicLength + copies * streamLength);
    if (!dump) {
        free(stream);
        return NULL;
    }
    memcpy(dump, codec == 1 ? "DZV1" : "DGV1", magicLength);
    for (size_t copy = 0; copy < copies; copy++)
        memcpy(dump + magicLength + copy * streamLength, stream, streamLength);
    free(stream);
    *outLength = magicLength + copies * streamLength;
    if (mode & 8)
        (*outLength)--; /* a stream is never shorter than one byte */
    return dump;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    unsigned mode = data[0];
    uint32_t pieceSeed = 0x9e3779b9u ^ ((uint32_t)data[1] << 8) ^ data[1];
    const uint8_t *rest = data + 2;
    size_t restLength = size - 2;

    uint8_t *built = NULL;
    const uint8_t *dump = rest;
    size_t dumpLength = restLength;
    if (mode & 3) {
        built = fuzzBuild(mode, rest, restLength, &dumpLength);
        if (!built)
            return 0;
        dump = built;
    }

    DumpFileInfo whole, pieces;
    ErrCode wholeCode = fuzzInspect(dump, dumpLength, 0, &whole);
    ErrCode piecesCode = fuzzInspect(dump, dumpLength, pieceSeed, &pieces);
    if (wholeCode != piecesCode || strcmp(whole.sha256, pieces.sha256) != 0)
        abort(); /* the verdict depends on how the bytes were cut */

    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned digestLength = 0;
    char hex[2 * EVP_MAX_MD_SIZE + 1];
    if (EVP_Digest(dump, dumpLength, digest, &digestLength, EVP_sha256(), NULL) != 1)
        abort();
    for (unsigned index = 0; index < digestLength; index++)
        snprintf(hex + 2 * index, 3, "%02x", digest[index]);
    if (strcmp(whole.sha256, hex) != 0)
        abort(); /* the SHA-256 is not that of the bytes */

    if (wholeCode == ERR_OK && (strcmp(whole.format, pieces.format) != 0 || whole.contentBytes != pieces.contentBytes))
        abort();
    static const char *const formats[] = {"DZV1", "DGV1", "gzip", ""};
    bool known = false;
    for (size_t index = 0; index < sizeof(formats) / sizeof(formats[0]); index++)
        known = known || strcmp(whole.format, formats[index]) == 0;
    if (!known)
        abort();

    if (built) {
        static const char *const builtFormats[] = {"", "DZV1", "DGV1", "gzip"};
        if (mode & 8) {
            if (wholeCode != BACKUP_CORRUPTED)
                abort(); /* a dump cut short passed */
        } else if (wholeCode != ERR_OK || strcmp(whole.format, builtFormats[mode & 3]) != 0
                   || whole.contentBytes != ((mode & 4) ? 2 : 1) * (uint64_t)restLength) {
            abort(); /* a whole dump failed, or its content was miscounted */
        }
    }
    free(built);
    return 0;
}
