/* Key management for encryption at rest (issue 14; format 2, docs/encryption.md):
 * the master key file, the key id, passphrase stretching with Argon2id and
 * its repository key record, per-backup data keys and their wrapping by the
 * master key (XChaCha20-Poly1305 with the key id as associated data), and
 * rewrapping for --rotate-key. All primitives are libsodium's.
 *
 * Not yet wired into the archive, catalog or command line.
 *
 * Errors: a missing key is BACKUP_KEY_REQUIRED, a key that does not match
 * (wrong key id, failed unwrap, wrong passphrase) BACKUP_KEY_INVALID, a key
 * file other users can read CONFIG_INVALID. No key byte ever reaches an
 * error message or a log line. */
#ifndef NBK_CRYPTO_KEYS_H
#define NBK_CRYPTO_KEYS_H

#include "common/error.h"

#include <stddef.h>
#include <stdint.h>

#define CRYPTO_KEY_BYTES 32
#define CRYPTO_KEY_ID_BYTES 16
/* Text form of a key file: "nbk-key-v1:" + 64 lowercase hex digits + "\n". */
#define CRYPTO_KEY_FILE_PREFIX "nbk-key-v1:"
#define CRYPTO_KEY_FILE_BYTES (sizeof(CRYPTO_KEY_FILE_PREFIX) - 1 + 2 * CRYPTO_KEY_BYTES + 1)
/* Wrapped data key: version u8, key id, nonce (24), ciphertext + tag (48). */
#define CRYPTO_WRAP_VERSION 1
#define CRYPTO_WRAPPED_KEY_BYTES (1 + CRYPTO_KEY_ID_BYTES + 24 + CRYPTO_KEY_BYTES + 16)
/* Repository key record of a passphrase: magic "NBKKEYR1", algorithm u8,
 * opslimit u64 BE, memlimit u64 BE, salt (16), key id of the derived key. */
#define CRYPTO_KEY_RECORD_MAGIC "NBKKEYR1"
#define CRYPTO_KEY_RECORD_BYTES (8 + 1 + 8 + 8 + 16 + CRYPTO_KEY_ID_BYTES)
#define CRYPTO_PWHASH_ARGON2ID13 2 /* algorithm byte; libsodium's constant */
/* Bounds a record read from storage may ask for, so that a damaged or
 * hostile record cannot make a restore allocate without limit. */
#define CRYPTO_PWHASH_MAX_OPSLIMIT 64u
#define CRYPTO_PWHASH_MAX_MEMLIMIT (4ull * 1024 * 1024 * 1024)

/* A master key (from a key file or a passphrase) and its public id. */
typedef struct {
    uint8_t key[CRYPTO_KEY_BYTES];
    uint8_t id[CRYPTO_KEY_ID_BYTES];
} CryptoMasterKey;

typedef struct {
    uint64_t opsLimit;
    uint64_t memLimit;
    uint8_t salt[16];
    uint8_t keyId[CRYPTO_KEY_ID_BYTES]; /* id of the key the passphrase gives */
} CryptoKeyRecord;

/* Initialises libsodium once; every other function calls it. ERR_INTERNAL
 * when the library cannot start (no entropy source). */
ErrCode cryptoInit(void);

/* Computes the id of a key: BLAKE2b-128 keyed with the key over the label
 * "nbk master key id v1". Safe to show and store. */
void cryptoKeyIdCompute(const uint8_t key[CRYPTO_KEY_BYTES], uint8_t id[CRYPTO_KEY_ID_BYTES]);
/* Fills a master key from raw bytes (computes the id). */
void cryptoMasterKeyFromBytes(const uint8_t key[CRYPTO_KEY_BYTES], CryptoMasterKey *out);
/* Lowercase hex of an id, for logs and manifests: 33 bytes with the NUL. */
void cryptoKeyIdHex(const uint8_t id[CRYPTO_KEY_ID_BYTES], char out[2 * CRYPTO_KEY_ID_BYTES + 1]);
/* Wipes a master key. */
void cryptoMasterKeyWipe(CryptoMasterKey *key);

/* Writes a new random key file, mode 0600, created with O_EXCL: an existing
 * file (or link) is never overwritten (CONFIG_INVALID). The id is returned in
 * idOut when not NULL. */
ErrCode cryptoKeyFileGenerate(const char *path, uint8_t idOut[CRYPTO_KEY_ID_BYTES]);
/* Reads a key file. Missing: BACKUP_KEY_REQUIRED; readable or writable by
 * group or others, or not a regular file: CONFIG_INVALID; wrong form:
 * BACKUP_KEY_INVALID. */
ErrCode cryptoKeyFileRead(const char *path, CryptoMasterKey *out);

/* A new record with a random salt and the given Argon2id cost, and the key
 * the passphrase gives under it (its id goes into the record). */
ErrCode cryptoKeyRecordCreate(const char *passphrase, size_t passphraseLength, uint64_t opsLimit,
                              uint64_t memLimit, CryptoKeyRecord *record, CryptoMasterKey *out);
/* Derives the key of a passphrase under an existing record; a passphrase
 * that gives another key id is BACKUP_KEY_INVALID. */
ErrCode cryptoKeyFromPassphrase(const char *passphrase, size_t passphraseLength,
                                const CryptoKeyRecord *record, CryptoMasterKey *out);
void cryptoKeyRecordEncode(const CryptoKeyRecord *record, uint8_t out[CRYPTO_KEY_RECORD_BYTES]);
/* Parses untrusted bytes: BACKUP_CORRUPTED for a wrong size, magic or
 * algorithm, or a cost outside libsodium's limits and the bounds above. */
ErrCode cryptoKeyRecordDecode(const uint8_t *bytes, size_t length, CryptoKeyRecord *out);

/* A new random data key for one backup. */
ErrCode cryptoDataKeyGenerate(uint8_t dataKey[CRYPTO_KEY_BYTES]);
/* Wraps a data key under a master key (random nonce). */
ErrCode cryptoDataKeyWrap(const CryptoMasterKey *master, const uint8_t dataKey[CRYPTO_KEY_BYTES],
                          uint8_t out[CRYPTO_WRAPPED_KEY_BYTES]);
/* Unwraps untrusted bytes: BACKUP_CORRUPTED for a wrong size or version,
 * BACKUP_KEY_INVALID for another key id or a failed authentication. */
ErrCode cryptoDataKeyUnwrap(const CryptoMasterKey *master, const uint8_t *wrapped, size_t length,
                            uint8_t dataKey[CRYPTO_KEY_BYTES]);
/* Key id a wrapped key names (no key needed), e.g. to pick the right key. */
ErrCode cryptoWrappedKeyId(const uint8_t *wrapped, size_t length, uint8_t id[CRYPTO_KEY_ID_BYTES]);
/* --rotate-key: unwraps with the old master key and wraps with the new one;
 * the data key, and so the archive, stays the same. */
ErrCode cryptoDataKeyRewrap(const CryptoMasterKey *oldMaster, const CryptoMasterKey *newMaster,
                            const uint8_t *wrapped, size_t length, uint8_t out[CRYPTO_WRAPPED_KEY_BYTES]);

#endif
