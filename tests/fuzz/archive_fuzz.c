/* libFuzzer target for the archive reader, formats 1 and 2: whatever the
 * bytes, reading must end in ERR_OK or an error code, never a crash, leak
 * or hang. The reader always gets the fuzz data key, so format 2 (encrypted)
 * files are read as far as the bytes allow.
 *
 * The first input byte picks a mode so the fuzzer gets past the checksums
 * and the authentication tags, and reaches the checks behind them:
 *   bit 0    recompute every section CRC of the (raw) inner stream;
 *   bits 1-2 0 = feed as is, 1 = wrap in one gzip member, 2 = wrap in one
 *            zstd frame, 3 = as is;
 *   bit 3    encrypt: cut the rest, after a 10-byte preamble, into sections
 *            (kind, u32 length, payload; no CRC) and write them as a format-2
 *            file under the fuzz key: a K section (block compression from
 *            bits 4-5, 3 being an unknown code), then each payload compressed
 *            (unless bit 6: hostile bytes go to the decompressor as they are)
 *            and encrypted as the next message, the FINAL tag on each 'F'
 *            (bit 7: on none), with correct CRCs. The reader then decrypts
 *            what the fuzzer chose and checks its structure after
 *            decryption: order of kinds, FINAL placement, decompression
 *            bounds, block records, footer.
 * The rest is the file (or inner stream) itself. */
#include "archive/archive.h"
#include "archive/archive_format.h"
#include "common/buffer.h"
#include "crypto/block_codec.h"

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

static const uint8_t fuzzKey[ARC_DATA_KEY_BYTES] = {0xF0, 0x22, 0x2E};

static void fuzzAppendSection(Buffer *out, uint8_t kind, const uint8_t *payload, size_t length)
{
    size_t start = out->length;
    bufferAppendByte(out, kind);
    bufferAppendU32BE(out, (uint32_t)length);
    bufferAppend(out, payload, length);
    bufferAppendU32BE(out, arcCrc32c(0, out->data + start, out->length - start));
}

/* Bit 3 of the mode: the input's sections, encrypted as a format-2 file. */
static uint8_t *fuzzEncrypt(const uint8_t *input, size_t length, uint8_t mode, size_t *outLength)
{
    uint8_t compression = (mode >> 4) & 3;
    bool rawPayloads = mode & 0x40;
    bool neverFinal = mode & 0x80;
    Buffer out;
    bufferInit(&out);
    bufferAppend(&out, ARC_MAGIC_ENCRYPTED, ARC_MAGIC_LENGTH);
    bufferAppendU16BE(&out, ARC_FORMAT_VERSION_ENCRYPTED);
    uint8_t keyPayload[ARC_KEY_PAYLOAD_LENGTH] = {ARC_KEY_SECTION_FORMAT, compression};
    CryptoBlockCodec codec;
    if (cryptoEncryptorInit(&codec, fuzzKey, keyPayload + 2) != ERR_OK) {
        bufferFree(&out);
        return NULL;
    }
    cryptoKeyCheckCompute(fuzzKey, keyPayload + 2 + CRYPTO_STREAM_HEADER_BYTES);
    fuzzAppendSection(&out, ARC_SECTION_KEY, keyPayload, sizeof(keyPayload));
    size_t offset = length < ARC_PREAMBLE_LENGTH ? length : ARC_PREAMBLE_LENGTH;
    Buffer cipher;
    bufferInit(&cipher);
    while (offset + ARC_SECTION_PREFIX_LENGTH <= length && !codec.finished) {
        uint8_t kind = input[offset];
        size_t payloadLength = arcReadU32BE(input + offset + 1);
        offset += ARC_SECTION_PREFIX_LENGTH;
        if (payloadLength > length - offset)
            payloadLength = length - offset;
        const uint8_t *payload = input + offset;
        offset += payloadLength;
        uint8_t *packed = NULL;
        size_t packedLength = payloadLength;
        if (!rawPayloads && compression == ARC_KEY_COMPRESSION_GZIP)
            packed = fuzzGzip(payload, payloadLength, &packedLength);
        else if (!rawPayloads && compression == ARC_KEY_COMPRESSION_ZSTD)
            packed = fuzzZstd(payload, payloadLength, &packedLength);
        bufferClear(&cipher);
        bufferReserve(&cipher, packedLength + CRYPTO_BLOCK_OVERHEAD);
        size_t cipherLength = 0;
        bool final = kind == ARC_SECTION_FOOTER && !neverFinal;
        ErrCode code = cryptoEncryptBlock(&codec, kind, packed ? packed : payload, packedLength, final,
                                          cipher.data, &cipherLength);
        free(packed);
        if (code != ERR_OK)
            break;
        fuzzAppendSection(&out, kind, cipher.data, cipherLength);
    }
    cryptoBlockCodecWipe(&codec);
    bufferFree(&cipher);
    *outLength = out.length;
    return out.data; /* the caller frees it */
}

/* Reads the archive on fd to its end; framing only hands out no record of
 * an encrypted archive. */
static void fuzzRead(int fd, bool framingOnly)
{
    ArcReader *reader = NULL;
    ErrCode opened = framingOnly ? arcReaderOpenFramingOnly(&reader, fd, "fuzz")
                                 : arcReaderOpenFdWith(&reader, fd, "fuzz", fuzzKey);
    if (opened != ERR_OK)
        return;
    size_t headerLength = 0;
    const uint8_t *header = arcReaderHeader(reader, &headerLength);
    volatile uint8_t sink = headerLength ? header[headerLength - 1] : 0;
    for (;;) {
        ArcRecordKind kind;
        const uint8_t *packed = NULL;
        size_t recordLength = 0;
        if (arcReaderNext(reader, &kind, &packed, &recordLength) != ERR_OK || !packed)
            break;
        if (framingOnly && arcReaderEncrypted(reader))
            abort(); /* without the key nothing may be decrypted */
        /* Touch the record's ends: ASan checks they are inside the buffer. */
        if (recordLength)
            sink ^= packed[0] ^ packed[recordLength - 1];
    }
    (void)sink;
    (void)arcReaderTotals(reader);
    arcReaderFree(reader);
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
    if (mode & 8) {
        size_t encryptedLength = 0;
        uint8_t *encrypted = fuzzEncrypt(image, length, mode, &encryptedLength);
        free(image);
        if (!encrypted)
            return 0;
        image = encrypted;
        length = encryptedLength;
        mode &= (uint8_t)~7u; /* no CRC fixing, no outer layer: format 2 has none */
    }
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

    /* Read twice: with the fuzz key, then without a key, framing only. */
    for (int pass = 0; pass < 2; pass++) {
        int fd = memfd_create("archive-fuzz", MFD_CLOEXEC);
        if (fd < 0 || write(fd, image, length) != (ssize_t)length || lseek(fd, 0, SEEK_SET) != 0) {
            if (fd >= 0)
                close(fd);
            break;
        }
        fuzzRead(fd, pass == 1);
    }
    free(image);
    return 0;
}
