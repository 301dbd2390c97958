/* libFuzzer target for the encryption layer's parsers of untrusted bytes:
 * the block decryptor (stream header + blocks), the manifest authenticator
 * and private-part opener, the wrapped data key and the key record. Checks
 * that nothing crashes or over-reads, that forged input is never accepted,
 * that a failed block poisons the stream, and that what the encryptor
 * writes from the same input always decrypts back to it. */
#include "crypto/block_codec.h"
#include "crypto/keys.h"
#include "crypto/manifest_auth.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint8_t dataKey[CRYPTO_KEY_BYTES] = {1, 2, 3};

static void fuzzDecryptor(const uint8_t *data, size_t size)
{
    if (size < CRYPTO_STREAM_HEADER_BYTES) {
        return;
    }
    CryptoBlockCodec codec;
    if (cryptoDecryptorInit(&codec, dataKey, data) != ERR_OK) {
        return;
    }
    size_t offset = CRYPTO_STREAM_HEADER_BYTES;
    bool failed = false;
    /* Blocks: kind u8, length u16 LE, bytes. */
    while (offset + 3 <= size) {
        uint8_t kind = data[offset];
        size_t length = (size_t)data[offset + 1] | (size_t)data[offset + 2] << 8;
        offset += 3;
        if (length > size - offset) {
            length = size - offset;
        }
        uint8_t *plain = malloc(length + 1);
        size_t plainLength = 0;
        ErrCode code = cryptoDecryptBlock(&codec, kind, data + offset, length, plain, &plainLength, NULL);
        /* A seed encrypted under the fuzz key may authenticate; then the
         * length must add up. After one failure nothing is handed out. */
        if ((code == ERR_OK && (failed || plainLength + CRYPTO_BLOCK_OVERHEAD != length)) ||
            (code != ERR_OK && code != BACKUP_CORRUPTED)) {
            abort();
        }
        failed = failed || code != ERR_OK;
        free(plain);
        offset += length;
    }
    if (cryptoDecryptorFinish(&codec) == ERR_OK && failed) {
        abort();
    }
}

static void fuzzRoundTrip(const uint8_t *data, size_t size)
{
    uint8_t header[CRYPTO_STREAM_HEADER_BYTES];
    CryptoBlockCodec writer;
    CryptoBlockCodec reader;
    if (cryptoEncryptorInit(&writer, dataKey, header) != ERR_OK ||
        cryptoDecryptorInit(&reader, dataKey, header) != ERR_OK) {
        abort();
    }
    /* Split the input into blocks at the positions its own bytes name. */
    size_t offset = 0;
    uint64_t index = 0;
    do {
        size_t length = size - offset;
        if (length > 0 && (size_t)data[offset] + 1 < length) {
            length = (size_t)data[offset] + 1; /* never 0, so the loop advances */
        }
        bool final = offset + length == size;
        uint8_t *cipher = malloc(length + CRYPTO_BLOCK_OVERHEAD);
        uint8_t *plain = malloc(length + 1);
        size_t cipherLength = 0;
        size_t plainLength = 0;
        bool isFinal = false;
        uint8_t kind = final ? 'F' : (index == 0 ? 'H' : 'B');
        if (cryptoEncryptBlock(&writer, kind, data + offset, length, final, cipher, &cipherLength) != ERR_OK ||
            cipherLength != length + CRYPTO_BLOCK_OVERHEAD ||
            cryptoDecryptBlock(&reader, kind, cipher, cipherLength, plain, &plainLength, &isFinal) != ERR_OK ||
            plainLength != length || isFinal != final || (length > 0 && memcmp(plain, data + offset, length) != 0)) {
            abort();
        }
        free(cipher);
        free(plain);
        offset += length;
        index++;
        if (final) {
            break;
        }
    } while (1);
    if (cryptoDecryptorFinish(&reader) != ERR_OK) {
        abort();
    }
}

static void fuzzManifest(const uint8_t *data, size_t size)
{
    /* Fields: NUL-separated name=value pairs from the input. */
    enum { MAX_FIELDS = 16 };
    CryptoManifestField fields[MAX_FIELDS];
    char *text = malloc(size + 1);
    memcpy(text, data, size);
    text[size] = '\0';
    size_t count = 0;
    for (char *cursor = text; count < MAX_FIELDS && cursor < text + size;) {
        char *end = cursor + strlen(cursor);
        char *equals = strchr(cursor, '=');
        if (equals != NULL && equals > cursor && equals - cursor <= 255) {
            *equals = '\0';
            fields[count++] = (CryptoManifestField){cursor, (const uint8_t *)equals + 1, (size_t)(end - equals - 1)};
        }
        cursor = end + 1;
    }
    uint8_t mac[CRYPTO_MANIFEST_MAC_BYTES];
    ErrCode code = cryptoManifestMac(dataKey, fields, count, mac);
    if (code == ERR_OK) {
        if (cryptoManifestVerify(dataKey, fields, count, mac, sizeof(mac)) != ERR_OK) {
            abort();
        }
        /* The input's first bytes as a MAC are a forgery. */
        if (size >= CRYPTO_MANIFEST_MAC_BYTES && memcmp(data, mac, sizeof(mac)) != 0 &&
            cryptoManifestVerify(dataKey, fields, count, data, CRYPTO_MANIFEST_MAC_BYTES) == ERR_OK) {
            abort();
        }
        Buffer sealed;
        Buffer opened;
        bufferInit(&sealed);
        bufferInit(&opened);
        if (cryptoManifestSeal(dataKey, mac, data, size, &sealed) != ERR_OK ||
            cryptoManifestOpen(dataKey, mac, sealed.data, sealed.length, &opened) != ERR_OK ||
            opened.length != size || (size > 0 && memcmp(opened.data, data, size) != 0)) {
            abort();
        }
        /* The raw input as a sealed part never opens. */
        if (cryptoManifestOpen(dataKey, mac, data, size, &opened) == ERR_OK) {
            abort();
        }
        bufferFree(&sealed);
        bufferFree(&opened);
    } else if (code != ERR_INTERNAL) { /* only duplicate names are refused */
        abort();
    }
    free(text);
}

static void fuzzKeys(const uint8_t *data, size_t size)
{
    CryptoKeyRecord record;
    if (cryptoKeyRecordDecode(data, size, &record) == ERR_OK) {
        uint8_t encoded[CRYPTO_KEY_RECORD_BYTES];
        cryptoKeyRecordEncode(&record, encoded);
        if (size != sizeof(encoded) || memcmp(encoded, data, size) != 0) {
            abort();
        }
    }
    CryptoMasterKey master;
    cryptoMasterKeyFromBytes(dataKey, &master);
    uint8_t unwrapped[CRYPTO_KEY_BYTES];
    ErrCode code = cryptoDataKeyUnwrap(&master, data, size, unwrapped);
    if (code == ERR_OK || (code != BACKUP_CORRUPTED && code != BACKUP_KEY_INVALID)) {
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 1 << 16) {
        return 0;
    }
    fuzzDecryptor(data, size);
    fuzzRoundTrip(data, size);
    fuzzManifest(data, size);
    fuzzKeys(data, size);
    return 0;
}
