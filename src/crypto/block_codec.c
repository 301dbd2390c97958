/* Block codec of archive format 2: secretstream encryption of the archive's
 * sections, one message per section, with the section kind and index as
 * associated data (docs/encryption.md, "Block stream"). */
#include "crypto/block_codec.h"

#include <string.h>

void cryptoSubkeyDerive(const uint8_t dataKey[CRYPTO_KEY_BYTES], CryptoSubkey which, uint8_t out[32])
{
    (void)cryptoInit();
    crypto_kdf_derive_from_key(out, 32, (uint64_t)which, CRYPTO_KDF_CONTEXT, dataKey);
}

void cryptoKeyCheckCompute(const uint8_t dataKey[CRYPTO_KEY_BYTES], uint8_t out[CRYPTO_KEY_CHECK_BYTES])
{
    (void)cryptoInit();
    crypto_kdf_derive_from_key(out, CRYPTO_KEY_CHECK_BYTES, (uint64_t)CRYPTO_SUBKEY_KEY_CHECK, CRYPTO_KDF_CONTEXT,
                               dataKey);
}

static void associatedData(uint8_t sectionKind, uint64_t index, uint8_t out[CRYPTO_BLOCK_AD_BYTES])
{
    out[0] = sectionKind;
    for (int i = 8; i >= 1; i--) {
        out[i] = (uint8_t)index;
        index >>= 8;
    }
}

static const char *kindText(uint8_t sectionKind, char buffer[8])
{
    if (sectionKind >= 0x21 && sectionKind <= 0x7E) {
        buffer[0] = '\'';
        buffer[1] = (char)sectionKind;
        buffer[2] = '\'';
        buffer[3] = '\0';
    } else {
        buffer[0] = '?';
        buffer[1] = '\0';
    }
    return buffer;
}

ErrCode cryptoEncryptorInit(CryptoBlockCodec *codec, const uint8_t dataKey[CRYPTO_KEY_BYTES],
                            uint8_t header[CRYPTO_STREAM_HEADER_BYTES])
{
    ErrCode code = cryptoInit();
    if (code != ERR_OK) {
        return code;
    }
    memset(codec, 0, sizeof(*codec));
    uint8_t streamKey[32];
    cryptoSubkeyDerive(dataKey, CRYPTO_SUBKEY_STREAM, streamKey);
    crypto_secretstream_xchacha20poly1305_init_push(&codec->state, header, streamKey);
    sodium_memzero(streamKey, sizeof(streamKey));
    return ERR_OK;
}

ErrCode cryptoEncryptBlock(CryptoBlockCodec *codec, uint8_t sectionKind, const uint8_t *plain, size_t plainLength,
                           bool final, uint8_t *out, size_t *outLength)
{
    if (codec->finished || codec->failed) {
        return errSet(ERR_INTERNAL, "block %llu written after the final block", (unsigned long long)codec->nextIndex);
    }
    if (plainLength > CRYPTO_BLOCK_MAX_PLAIN) {
        return errSet(ERR_INTERNAL, "block of %zu bytes exceeds the section limit", plainLength);
    }
    uint8_t associated[CRYPTO_BLOCK_AD_BYTES];
    associatedData(sectionKind, codec->nextIndex, associated);
    unsigned long long written = 0;
    uint8_t tag = final ? crypto_secretstream_xchacha20poly1305_TAG_FINAL
                        : crypto_secretstream_xchacha20poly1305_TAG_MESSAGE;
    crypto_secretstream_xchacha20poly1305_push(&codec->state, out, &written, plain, plainLength, associated,
                                               sizeof(associated), tag);
    *outLength = (size_t)written;
    codec->nextIndex++;
    codec->finished = final;
    return ERR_OK;
}

ErrCode cryptoDecryptorInit(CryptoBlockCodec *codec, const uint8_t dataKey[CRYPTO_KEY_BYTES],
                            const uint8_t header[CRYPTO_STREAM_HEADER_BYTES])
{
    ErrCode code = cryptoInit();
    if (code != ERR_OK) {
        return code;
    }
    memset(codec, 0, sizeof(*codec));
    uint8_t streamKey[32];
    cryptoSubkeyDerive(dataKey, CRYPTO_SUBKEY_STREAM, streamKey);
    int status = crypto_secretstream_xchacha20poly1305_init_pull(&codec->state, header, streamKey);
    sodium_memzero(streamKey, sizeof(streamKey));
    if (status != 0) {
        codec->failed = true;
        return errSet(BACKUP_CORRUPTED, "encryption stream header damaged");
    }
    return ERR_OK;
}

ErrCode cryptoDecryptBlock(CryptoBlockCodec *codec, uint8_t sectionKind, const uint8_t *cipher, size_t cipherLength,
                           uint8_t *out, size_t *outLength, bool *isFinal)
{
    char kind[8];
    unsigned long long index = (unsigned long long)codec->nextIndex;
    if (codec->failed) {
        return errSet(BACKUP_CORRUPTED, "block %llu not read: an earlier block failed authentication", index);
    }
    if (codec->finished) {
        codec->failed = true;
        return errSet(BACKUP_CORRUPTED, "block %llu (section %s) follows the final block", index,
                      kindText(sectionKind, kind));
    }
    if (cipherLength < CRYPTO_BLOCK_OVERHEAD || cipherLength - CRYPTO_BLOCK_OVERHEAD > CRYPTO_BLOCK_MAX_PLAIN) {
        codec->failed = true;
        return errSet(BACKUP_CORRUPTED, "block %llu (section %s) has an impossible length of %zu bytes", index,
                      kindText(sectionKind, kind), cipherLength);
    }
    uint8_t associated[CRYPTO_BLOCK_AD_BYTES];
    associatedData(sectionKind, codec->nextIndex, associated);
    unsigned long long plainLength = 0;
    uint8_t tag = 0;
    if (crypto_secretstream_xchacha20poly1305_pull(&codec->state, out, &plainLength, &tag, cipher, cipherLength,
                                                   associated, sizeof(associated)) != 0 ||
        (tag != crypto_secretstream_xchacha20poly1305_TAG_MESSAGE &&
         tag != crypto_secretstream_xchacha20poly1305_TAG_FINAL)) {
        codec->failed = true;
        sodium_memzero(out, cipherLength - CRYPTO_BLOCK_OVERHEAD);
        return errSet(BACKUP_CORRUPTED,
                      "block %llu (section %s) failed authentication: changed, reordered, or from another backup",
                      index, kindText(sectionKind, kind));
    }
    *outLength = (size_t)plainLength;
    codec->nextIndex++;
    codec->finished = tag == crypto_secretstream_xchacha20poly1305_TAG_FINAL;
    if (isFinal != NULL) {
        *isFinal = codec->finished;
    }
    return ERR_OK;
}

ErrCode cryptoDecryptorFinish(CryptoBlockCodec *codec)
{
    if (codec->failed) {
        return errSet(BACKUP_CORRUPTED, "encrypted stream failed authentication before its end");
    }
    if (!codec->finished) {
        return errSet(BACKUP_CORRUPTED, "encrypted stream truncated: it ends after %llu blocks without the final block",
                      (unsigned long long)codec->nextIndex);
    }
    return ERR_OK;
}

void cryptoBlockCodecWipe(CryptoBlockCodec *codec)
{
    sodium_memzero(codec, sizeof(*codec));
}
