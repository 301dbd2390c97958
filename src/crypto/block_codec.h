/* The block codec of archive format 2 (docs/encryption.md): one
 * crypto_secretstream_xchacha20poly1305 stream per archive, one message per
 * section (header, each record block, footer), each message's plaintext the
 * section's compressed bytes. The associated data of message i is its
 * section kind and i, and the last message carries the FINAL tag, so a
 * changed, reordered, duplicated, dropped or appended block is refused and
 * the error names the block. Memory is bounded: the state is a fixed struct,
 * the caller owns every buffer, one block at a time.
 *
 * Usage (writer): cryptoEncryptorInit(header), then cryptoEncryptBlock for
 * each section in file order with final=true for the footer. Reader:
 * cryptoDecryptorInit(header), cryptoDecryptBlock per section, then
 * cryptoDecryptorFinish, which refuses a stream that ended before FINAL.
 * The codec does not know which kind is last: the archive reader checks
 * that isFinal is true exactly for the footer ('F').
 * Used by the archive writer and reader (src/archive/, format 2). */
#ifndef NBK_CRYPTO_BLOCK_CODEC_H
#define NBK_CRYPTO_BLOCK_CODEC_H

#include "common/error.h"
#include "crypto/keys.h"

#include <sodium.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CRYPTO_STREAM_HEADER_BYTES 24 /* crypto_secretstream_xchacha20poly1305_HEADERBYTES */
#define CRYPTO_BLOCK_OVERHEAD 17      /* crypto_secretstream_xchacha20poly1305_ABYTES */
#define CRYPTO_BLOCK_AD_BYTES 9       /* section kind u8, block index u64 BE */
/* Largest plaintext of one block: the archive's section limit (256 MiB). */
#define CRYPTO_BLOCK_MAX_PLAIN (256u * 1024u * 1024u)

/* crypto_kdf subkeys of a backup's data key (context "NBKARCH2"). */
#define CRYPTO_KDF_CONTEXT "NBKARCH2"
typedef enum {
    CRYPTO_SUBKEY_STREAM = 1,        /* the secretstream key of the archive */
    CRYPTO_SUBKEY_MANIFEST_MAC = 2,  /* BLAKE2b key of the manifest MAC */
    CRYPTO_SUBKEY_MANIFEST_SEAL = 3, /* AEAD key of the manifest's private part */
    CRYPTO_SUBKEY_KEY_CHECK = 4,     /* 16 bytes in the archive's K section */
} CryptoSubkey;

#define CRYPTO_KEY_CHECK_BYTES 16

/* Derives a 32-byte subkey of a data key (crypto_kdf_derive_from_key). */
void cryptoSubkeyDerive(const uint8_t dataKey[CRYPTO_KEY_BYTES], CryptoSubkey which, uint8_t out[32]);
/* The key check of a data key: subkey 4, 16 bytes long. Stored in the clear
 * in a format-2 archive so that a reader given another key says "wrong key"
 * (BACKUP_KEY_INVALID) instead of "damaged"; it reveals nothing of the key. */
void cryptoKeyCheckCompute(const uint8_t dataKey[CRYPTO_KEY_BYTES], uint8_t out[CRYPTO_KEY_CHECK_BYTES]);

typedef struct {
    crypto_secretstream_xchacha20poly1305_state state;
    uint64_t nextIndex;
    bool finished; /* FINAL written/read: nothing may follow */
    bool failed;   /* a failed block poisons the stream */
} CryptoBlockCodec;

/* Starts a stream with the data key; writes the 24-byte header to store
 * before the first block. */
ErrCode cryptoEncryptorInit(CryptoBlockCodec *codec, const uint8_t dataKey[CRYPTO_KEY_BYTES],
                            uint8_t header[CRYPTO_STREAM_HEADER_BYTES]);
/* Encrypts the next block; out needs plainLength + CRYPTO_BLOCK_OVERHEAD
 * bytes. final marks the last block; none may follow. */
ErrCode cryptoEncryptBlock(CryptoBlockCodec *codec, uint8_t sectionKind, const uint8_t *plain, size_t plainLength,
                           bool final, uint8_t *out, size_t *outLength);

ErrCode cryptoDecryptorInit(CryptoBlockCodec *codec, const uint8_t dataKey[CRYPTO_KEY_BYTES],
                            const uint8_t header[CRYPTO_STREAM_HEADER_BYTES]);
/* Decrypts and authenticates the next block (untrusted bytes); out needs
 * cipherLength - CRYPTO_BLOCK_OVERHEAD bytes (or 1 when that is 0).
 * BACKUP_CORRUPTED naming the block index and section when it fails (then
 * every later call fails too), or when a block follows the FINAL one.
 * isFinal tells whether this was the last block. */
ErrCode cryptoDecryptBlock(CryptoBlockCodec *codec, uint8_t sectionKind, const uint8_t *cipher, size_t cipherLength,
                           uint8_t *out, size_t *outLength, bool *isFinal);
/* The reader reached the end of the file: BACKUP_CORRUPTED ("truncated")
 * unless the FINAL block was read. */
ErrCode cryptoDecryptorFinish(CryptoBlockCodec *codec);
/* Wipes the state. */
void cryptoBlockCodecWipe(CryptoBlockCodec *codec);

#endif
