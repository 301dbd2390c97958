/* Manifest authentication (keyed BLAKE2b over a canonical form) and sealing
 * of the manifest's private part for archive format 2 (docs/encryption.md). */
#include "crypto/manifest_auth.h"

#include "crypto/block_codec.h"

#include <sodium.h>
#include <string.h>

ErrCode cryptoManifestCanonical(const CryptoManifestField *fields, size_t count, Buffer *out)
{
    if (count > CRYPTO_MANIFEST_MAX_FIELDS) {
        return errSet(ERR_INTERNAL, "manifest has %zu protected fields, at most %d allowed", count,
                      CRYPTO_MANIFEST_MAX_FIELDS);
    }
    size_t order[CRYPTO_MANIFEST_MAX_FIELDS];
    for (size_t i = 0; i < count; i++) {
        size_t nameLength = strlen(fields[i].name);
        if (nameLength == 0 || nameLength > 255 || fields[i].valueLength > UINT32_MAX) {
            return errSet(ERR_INTERNAL, "manifest field %zu has an empty or oversized name or value", i);
        }
        order[i] = i;
    }
    /* Insertion sort: a manifest has a few dozen fields, and qsort would need
     * shared state (not thread-safe). strcmp orders bytes as unsigned char,
     * which is the documented order. */
    for (size_t i = 1; i < count; i++) {
        size_t current = order[i];
        size_t j = i;
        while (j > 0 && strcmp(fields[order[j - 1]].name, fields[current].name) > 0) {
            order[j] = order[j - 1];
            j--;
        }
        order[j] = current;
    }
    bufferAppend(out, CRYPTO_MANIFEST_LABEL, strlen(CRYPTO_MANIFEST_LABEL));
    bufferAppendU32BE(out, (uint32_t)count);
    for (size_t i = 0; i < count; i++) {
        const CryptoManifestField *field = &fields[order[i]];
        if (i > 0 && strcmp(fields[order[i - 1]].name, field->name) == 0) {
            return errSet(ERR_INTERNAL, "manifest field \"%s\" given twice", field->name);
        }
        size_t nameLength = strlen(field->name);
        bufferAppendByte(out, (uint8_t)nameLength);
        bufferAppend(out, field->name, nameLength);
        bufferAppendU32BE(out, (uint32_t)field->valueLength);
        if (field->valueLength > 0) {
            bufferAppend(out, field->value, field->valueLength);
        }
    }
    return ERR_OK;
}

ErrCode cryptoManifestMac(const uint8_t dataKey[CRYPTO_KEY_BYTES], const CryptoManifestField *fields, size_t count,
                          uint8_t mac[CRYPTO_MANIFEST_MAC_BYTES])
{
    Buffer canonical;
    bufferInit(&canonical);
    ErrCode code = cryptoManifestCanonical(fields, count, &canonical);
    if (code == ERR_OK) {
        uint8_t macKey[32];
        cryptoSubkeyDerive(dataKey, CRYPTO_SUBKEY_MANIFEST_MAC, macKey);
        crypto_generichash(mac, CRYPTO_MANIFEST_MAC_BYTES, canonical.data, canonical.length, macKey, sizeof(macKey));
        sodium_memzero(macKey, sizeof(macKey));
    }
    bufferFree(&canonical);
    return code;
}

ErrCode cryptoManifestVerify(const uint8_t dataKey[CRYPTO_KEY_BYTES], const CryptoManifestField *fields,
                             size_t count, const uint8_t *mac, size_t macLength)
{
    uint8_t expected[CRYPTO_MANIFEST_MAC_BYTES];
    ErrCode code = cryptoManifestMac(dataKey, fields, count, expected);
    if (code != ERR_OK) {
        return code;
    }
    if (macLength != CRYPTO_MANIFEST_MAC_BYTES || crypto_verify_32(expected, mac) != 0) {
        return errSet(BACKUP_CORRUPTED,
                      "manifest authentication failed: a protected field (count, checksum, parent, status, ...) "
                      "was changed, or the manifest belongs to another backup");
    }
    return ERR_OK;
}

static size_t sealAssociatedData(const uint8_t mac[CRYPTO_MANIFEST_MAC_BYTES], uint8_t *out)
{
    size_t labelLength = strlen(CRYPTO_MANIFEST_SEAL_LABEL);
    memcpy(out, CRYPTO_MANIFEST_SEAL_LABEL, labelLength);
    memcpy(out + labelLength, mac, CRYPTO_MANIFEST_MAC_BYTES);
    return labelLength + CRYPTO_MANIFEST_MAC_BYTES;
}

ErrCode cryptoManifestSeal(const uint8_t dataKey[CRYPTO_KEY_BYTES], const uint8_t mac[CRYPTO_MANIFEST_MAC_BYTES],
                           const uint8_t *plain, size_t plainLength, Buffer *out)
{
    ErrCode code = cryptoInit();
    if (code != ERR_OK) {
        return code;
    }
    if (plainLength > CRYPTO_MANIFEST_MAX_SEALED - CRYPTO_MANIFEST_SEAL_OVERHEAD) {
        return errSet(ERR_INTERNAL, "manifest private part of %zu bytes is too large", plainLength);
    }
    uint8_t sealKey[32];
    uint8_t associated[64];
    size_t associatedLength = sealAssociatedData(mac, associated);
    cryptoSubkeyDerive(dataKey, CRYPTO_SUBKEY_MANIFEST_SEAL, sealKey);
    bufferReserve(out, plainLength + CRYPTO_MANIFEST_SEAL_OVERHEAD);
    uint8_t *nonce = out->data + out->length;
    randombytes_buf(nonce, crypto_aead_xchacha20poly1305_ietf_NPUBBYTES);
    unsigned long long cipherLength = 0;
    crypto_aead_xchacha20poly1305_ietf_encrypt(nonce + crypto_aead_xchacha20poly1305_ietf_NPUBBYTES, &cipherLength,
                                               plain, plainLength, associated, associatedLength, NULL, nonce, sealKey);
    out->length += crypto_aead_xchacha20poly1305_ietf_NPUBBYTES + (size_t)cipherLength;
    sodium_memzero(sealKey, sizeof(sealKey));
    return ERR_OK;
}

ErrCode cryptoManifestOpen(const uint8_t dataKey[CRYPTO_KEY_BYTES], const uint8_t mac[CRYPTO_MANIFEST_MAC_BYTES],
                           const uint8_t *sealed, size_t sealedLength, Buffer *out)
{
    ErrCode code = cryptoInit();
    if (code != ERR_OK) {
        return code;
    }
    bufferClear(out);
    if (sealedLength < CRYPTO_MANIFEST_SEAL_OVERHEAD || sealedLength > CRYPTO_MANIFEST_MAX_SEALED) {
        return errSet(BACKUP_CORRUPTED, "manifest private part damaged (%zu bytes)", sealedLength);
    }
    uint8_t sealKey[32];
    uint8_t associated[64];
    size_t associatedLength = sealAssociatedData(mac, associated);
    cryptoSubkeyDerive(dataKey, CRYPTO_SUBKEY_MANIFEST_SEAL, sealKey);
    size_t plainCapacity = sealedLength - CRYPTO_MANIFEST_SEAL_OVERHEAD;
    bufferReserve(out, plainCapacity + 1);
    unsigned long long plainLength = 0;
    int status = crypto_aead_xchacha20poly1305_ietf_decrypt(
        out->data, &plainLength, NULL, sealed + crypto_aead_xchacha20poly1305_ietf_NPUBBYTES,
        sealedLength - crypto_aead_xchacha20poly1305_ietf_NPUBBYTES, associated, associatedLength, sealed, sealKey);
    sodium_memzero(sealKey, sizeof(sealKey));
    if (status != 0) {
        sodium_memzero(out->data, plainCapacity);
        return errSet(BACKUP_CORRUPTED,
                      "manifest private part failed authentication: damaged, or moved from another manifest");
    }
    out->length = (size_t)plainLength;
    return ERR_OK;
}
