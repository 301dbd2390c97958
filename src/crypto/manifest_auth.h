/* Manifest authentication and sealing for archive format 2
 * (docs/encryption.md, "Manifest"). The fields --list must show without the
 * key stay plain in manifest.json, and are authenticated by a MAC: keyed
 * BLAKE2b-256 (subkey 2 of the data key) over their canonical form. The
 * private part (schema statements, label and type names, statistics maps:
 * anything that reveals the graph) is one JSON text sealed with
 * XChaCha20-Poly1305 (subkey 3), with the MAC as associated data, so it
 * cannot be moved to another manifest either.
 *
 * Canonical form: "nbk manifest v1", u32 BE field count, then each field in
 * ascending bytewise order of name: u8 name length, name, u32 BE value length,
 * value. Names are unique, 1..255 bytes; values are the manifest's text for
 * the field (numbers in decimal, no sign for non-negative values).
 * Not yet wired into src/catalog/. */
#ifndef NBK_CRYPTO_MANIFEST_AUTH_H
#define NBK_CRYPTO_MANIFEST_AUTH_H

#include "common/buffer.h"
#include "common/error.h"
#include "crypto/keys.h"

#include <stddef.h>
#include <stdint.h>

#define CRYPTO_MANIFEST_MAC_BYTES 32
#define CRYPTO_MANIFEST_LABEL "nbk manifest v1"
#define CRYPTO_MANIFEST_SEAL_LABEL "nbk manifest private v1"
#define CRYPTO_MANIFEST_SEAL_OVERHEAD (24 + 16) /* nonce, tag */
#define CRYPTO_MANIFEST_MAX_FIELDS 1024
/* Largest sealed private part accepted (same bound as a whole manifest). */
#define CRYPTO_MANIFEST_MAX_SEALED (64u * 1024u * 1024u)

typedef struct {
    const char *name;     /* NUL-terminated */
    const uint8_t *value; /* value bytes (need not be NUL-terminated) */
    size_t valueLength;
} CryptoManifestField;

/* Appends the canonical form of the fields to out; ERR_INTERNAL for an empty,
 * too long or duplicate name, or too many fields (a caller bug). */
ErrCode cryptoManifestCanonical(const CryptoManifestField *fields, size_t count, Buffer *out);
ErrCode cryptoManifestMac(const uint8_t dataKey[CRYPTO_KEY_BYTES], const CryptoManifestField *fields, size_t count,
                          uint8_t mac[CRYPTO_MANIFEST_MAC_BYTES]);
/* BACKUP_CORRUPTED when the fields are not those the MAC was made over. */
ErrCode cryptoManifestVerify(const uint8_t dataKey[CRYPTO_KEY_BYTES], const CryptoManifestField *fields,
                             size_t count, const uint8_t *mac, size_t macLength);
/* Seals the private part: out gets nonce (24) || ciphertext || tag (16). */
ErrCode cryptoManifestSeal(const uint8_t dataKey[CRYPTO_KEY_BYTES], const uint8_t mac[CRYPTO_MANIFEST_MAC_BYTES],
                           const uint8_t *plain, size_t plainLength, Buffer *out);
/* Opens untrusted sealed bytes into out (replacing its content);
 * BACKUP_CORRUPTED when damaged or sealed under another MAC or key. */
ErrCode cryptoManifestOpen(const uint8_t dataKey[CRYPTO_KEY_BYTES], const uint8_t mac[CRYPTO_MANIFEST_MAC_BYTES],
                           const uint8_t *sealed, size_t sealedLength, Buffer *out);

#endif
