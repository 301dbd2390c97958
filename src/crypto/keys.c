/* Key management for encryption at rest: key files, key ids, Argon2id
 * passphrase records, data key wrapping and rotation (docs/encryption.md). */
#include "crypto/keys.h"

#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <sodium.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char keyIdLabel[] = "nbk master key id v1";
static const char wrapLabel[] = "nbk data key v1";

ErrCode cryptoInit(void)
{
    if (sodium_init() < 0) {
        return errSet(ERR_INTERNAL, "libsodium could not be initialised");
    }
    return ERR_OK;
}

void cryptoKeyIdCompute(const uint8_t key[CRYPTO_KEY_BYTES], uint8_t id[CRYPTO_KEY_ID_BYTES])
{
    (void)cryptoInit(); /* idempotent; BLAKE2b needs no entropy, so it cannot fail here */
    crypto_generichash(id, CRYPTO_KEY_ID_BYTES, (const uint8_t *)keyIdLabel, strlen(keyIdLabel), key,
                       CRYPTO_KEY_BYTES);
}

void cryptoMasterKeyFromBytes(const uint8_t key[CRYPTO_KEY_BYTES], CryptoMasterKey *out)
{
    memcpy(out->key, key, CRYPTO_KEY_BYTES);
    cryptoKeyIdCompute(out->key, out->id);
}

void cryptoKeyIdHex(const uint8_t id[CRYPTO_KEY_ID_BYTES], char out[2 * CRYPTO_KEY_ID_BYTES + 1])
{
    sodium_bin2hex(out, 2 * CRYPTO_KEY_ID_BYTES + 1, id, CRYPTO_KEY_ID_BYTES);
}

void cryptoMasterKeyWipe(CryptoMasterKey *key)
{
    sodium_memzero(key, sizeof(*key));
}

static ErrCode writeAll(int fd, const char *path, const char *text, size_t length)
{
    while (length > 0) {
        ssize_t written = write(fd, text, length);
        if (written < 0 && errno == EINTR) {
            continue;
        }
        if (written <= 0) {
            return errSet(BACKUP_IO_FAILED, "could not write key file %s: %s", path, strerror(errno));
        }
        text += written;
        length -= (size_t)written;
    }
    return ERR_OK;
}

ErrCode cryptoKeyFileGenerate(const char *path, uint8_t idOut[CRYPTO_KEY_ID_BYTES])
{
    ErrCode code = cryptoInit();
    if (code != ERR_OK) {
        return code;
    }
    /* O_EXCL|O_NOFOLLOW: never overwrite a key, never write through a link. */
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) {
        if (errno == EEXIST) {
            code = errSet(CONFIG_INVALID, "key file %s already exists; refusing to overwrite it", path);
            errSetAction("Choose a new file name, or remove the old key only once no backup needs it");
            return code;
        }
        return errSet(BACKUP_IO_FAILED, "could not create key file %s: %s", path, strerror(errno));
    }
    uint8_t key[CRYPTO_KEY_BYTES];
    char text[CRYPTO_KEY_FILE_BYTES + 1];
    randombytes_buf(key, sizeof(key));
    size_t prefixLength = strlen(CRYPTO_KEY_FILE_PREFIX);
    memcpy(text, CRYPTO_KEY_FILE_PREFIX, prefixLength);
    sodium_bin2hex(text + prefixLength, 2 * CRYPTO_KEY_BYTES + 1, key, sizeof(key));
    text[CRYPTO_KEY_FILE_BYTES - 1] = '\n';
    /* umask may have narrowed the mode further, never widened it; be exact. */
    code = fchmod(fd, 0600) == 0 ? ERR_OK
                                 : errSet(BACKUP_IO_FAILED, "could not set mode 0600 on %s: %s", path, strerror(errno));
    if (code == ERR_OK) {
        code = writeAll(fd, path, text, CRYPTO_KEY_FILE_BYTES);
    }
    if (code == ERR_OK && fsync(fd) != 0) {
        code = errSet(BACKUP_IO_FAILED, "could not sync key file %s: %s", path, strerror(errno));
    }
    if (close(fd) != 0 && code == ERR_OK) {
        code = errSet(BACKUP_IO_FAILED, "could not close key file %s: %s", path, strerror(errno));
    }
    if (code == ERR_OK && idOut != NULL) {
        cryptoKeyIdCompute(key, idOut);
    }
    if (code != ERR_OK) {
        unlink(path); /* a half-written key must not look like a key */
    }
    sodium_memzero(key, sizeof(key));
    sodium_memzero(text, sizeof(text));
    return code;
}

ErrCode cryptoKeyFileRead(const char *path, CryptoMasterKey *out)
{
    ErrCode code = cryptoInit();
    if (code != ERR_OK) {
        return code;
    }
    /* Links are followed (Kubernetes mounts secrets as links); the mode
     * checked is the target's, from the open descriptor. */
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT) {
            return errSet(BACKUP_KEY_REQUIRED, "key file %s does not exist", path);
        }
        return errSet(BACKUP_IO_FAILED, "could not open key file %s: %s", path, strerror(errno));
    }
    struct stat status;
    if (fstat(fd, &status) != 0 || !S_ISREG(status.st_mode)) {
        close(fd);
        return errSet(CONFIG_INVALID, "key file %s is not a regular file", path);
    }
    if ((status.st_mode & 077) != 0) {
        close(fd);
        code = errSet(CONFIG_INVALID, "key file %s is accessible by group or others (mode %03o)", path,
                      (unsigned)(status.st_mode & 0777));
        errSetAction("Run chmod 600 %s (and consider the key exposed if others could read it)", path);
        return code;
    }
    /* One byte more than the form allows tells a longer file apart. */
    char text[CRYPTO_KEY_FILE_BYTES + 1];
    size_t length = 0;
    while (length < sizeof(text)) {
        ssize_t got = read(fd, text + length, sizeof(text) - length);
        if (got < 0 && errno == EINTR) {
            continue;
        }
        if (got < 0) {
            code = errSet(BACKUP_IO_FAILED, "could not read key file %s: %s", path, strerror(errno));
            break;
        }
        if (got == 0) {
            break;
        }
        length += (size_t)got;
    }
    close(fd);
    size_t prefixLength = strlen(CRYPTO_KEY_FILE_PREFIX);
    /* The final newline is optional, so that an editor cannot break a key. */
    bool formOk = (length == CRYPTO_KEY_FILE_BYTES && text[length - 1] == '\n') ||
                  length == CRYPTO_KEY_FILE_BYTES - 1;
    formOk = formOk && memcmp(text, CRYPTO_KEY_FILE_PREFIX, prefixLength) == 0;
    size_t decoded = 0;
    if (code == ERR_OK && formOk) {
        for (size_t i = prefixLength; i < prefixLength + 2 * CRYPTO_KEY_BYTES; i++) {
            char digit = text[i];
            formOk = formOk && ((digit >= '0' && digit <= '9') || (digit >= 'a' && digit <= 'f'));
        }
        formOk = formOk && sodium_hex2bin(out->key, CRYPTO_KEY_BYTES, text + prefixLength, 2 * CRYPTO_KEY_BYTES,
                                          NULL, &decoded, NULL) == 0 &&
                 decoded == CRYPTO_KEY_BYTES;
    }
    sodium_memzero(text, sizeof(text));
    if (code != ERR_OK) {
        sodium_memzero(out, sizeof(*out));
        return code;
    }
    if (!formOk) {
        sodium_memzero(out, sizeof(*out));
        code = errSet(BACKUP_KEY_INVALID, "key file %s is not a neo4j-backup key (expected \"%s\" and 64 hex digits)",
                      path, CRYPTO_KEY_FILE_PREFIX);
        errSetAction("Point BACKUP_ENCRYPTION_KEY_FILE at a file written by neo4j-backup --generate-key");
        return code;
    }
    cryptoKeyIdCompute(out->key, out->id);
    return ERR_OK;
}

static void storeU64BE(uint8_t *out, uint64_t value)
{
    for (int i = 7; i >= 0; i--) {
        out[i] = (uint8_t)value;
        value >>= 8;
    }
}

static uint64_t loadU64BE(const uint8_t *in)
{
    uint64_t value = 0;
    for (int i = 0; i < 8; i++) {
        value = (value << 8) | in[i];
    }
    return value;
}

static ErrCode stretch(const char *passphrase, size_t passphraseLength, const CryptoKeyRecord *record,
                       CryptoMasterKey *out)
{
    if (passphrase == NULL || passphraseLength == 0) {
        return errSet(BACKUP_KEY_REQUIRED, "the encryption passphrase is empty");
    }
    if (crypto_pwhash(out->key, CRYPTO_KEY_BYTES, passphrase, passphraseLength, record->salt, record->opsLimit,
                      (size_t)record->memLimit, crypto_pwhash_ALG_ARGON2ID13) != 0) {
        sodium_memzero(out, sizeof(*out));
        return errSet(ERR_INTERNAL, "Argon2id could not allocate %llu bytes",
                      (unsigned long long)record->memLimit);
    }
    cryptoKeyIdCompute(out->key, out->id);
    return ERR_OK;
}

static bool costInBounds(uint64_t opsLimit, uint64_t memLimit)
{
    return opsLimit >= crypto_pwhash_OPSLIMIT_MIN && opsLimit <= CRYPTO_PWHASH_MAX_OPSLIMIT &&
           memLimit >= crypto_pwhash_MEMLIMIT_MIN && memLimit <= CRYPTO_PWHASH_MAX_MEMLIMIT &&
           memLimit <= SIZE_MAX;
}

ErrCode cryptoKeyRecordCreate(const char *passphrase, size_t passphraseLength, uint64_t opsLimit,
                              uint64_t memLimit, CryptoKeyRecord *record, CryptoMasterKey *out)
{
    ErrCode code = cryptoInit();
    if (code != ERR_OK) {
        return code;
    }
    if (!costInBounds(opsLimit, memLimit)) {
        return errSet(CONFIG_INVALID, "Argon2id cost out of range (opslimit %llu, memlimit %llu)",
                      (unsigned long long)opsLimit, (unsigned long long)memLimit);
    }
    memset(record, 0, sizeof(*record));
    record->opsLimit = opsLimit;
    record->memLimit = memLimit;
    randombytes_buf(record->salt, sizeof(record->salt));
    code = stretch(passphrase, passphraseLength, record, out);
    if (code == ERR_OK) {
        memcpy(record->keyId, out->id, CRYPTO_KEY_ID_BYTES);
    }
    return code;
}

ErrCode cryptoKeyFromPassphrase(const char *passphrase, size_t passphraseLength,
                                const CryptoKeyRecord *record, CryptoMasterKey *out)
{
    ErrCode code = cryptoInit();
    if (code == ERR_OK) {
        code = stretch(passphrase, passphraseLength, record, out);
    }
    if (code == ERR_OK && sodium_memcmp(out->id, record->keyId, CRYPTO_KEY_ID_BYTES) != 0) {
        sodium_memzero(out, sizeof(*out));
        char expected[2 * CRYPTO_KEY_ID_BYTES + 1];
        cryptoKeyIdHex(record->keyId, expected);
        code = errSet(BACKUP_KEY_INVALID, "the passphrase does not give the repository's key (key id %s)", expected);
    }
    return code;
}

void cryptoKeyRecordEncode(const CryptoKeyRecord *record, uint8_t out[CRYPTO_KEY_RECORD_BYTES])
{
    memcpy(out, CRYPTO_KEY_RECORD_MAGIC, 8);
    out[8] = CRYPTO_PWHASH_ARGON2ID13;
    storeU64BE(out + 9, record->opsLimit);
    storeU64BE(out + 17, record->memLimit);
    memcpy(out + 25, record->salt, 16);
    memcpy(out + 41, record->keyId, CRYPTO_KEY_ID_BYTES);
}

ErrCode cryptoKeyRecordDecode(const uint8_t *bytes, size_t length, CryptoKeyRecord *out)
{
    if (length != CRYPTO_KEY_RECORD_BYTES || memcmp(bytes, CRYPTO_KEY_RECORD_MAGIC, 8) != 0) {
        return errSet(BACKUP_CORRUPTED, "repository key record damaged (%zu bytes, expected %d starting %s)", length,
                      CRYPTO_KEY_RECORD_BYTES, CRYPTO_KEY_RECORD_MAGIC);
    }
    if (bytes[8] != CRYPTO_PWHASH_ARGON2ID13) {
        return errSet(BACKUP_CORRUPTED, "repository key record names unknown algorithm %u", bytes[8]);
    }
    out->opsLimit = loadU64BE(bytes + 9);
    out->memLimit = loadU64BE(bytes + 17);
    if (!costInBounds(out->opsLimit, out->memLimit)) {
        return errSet(BACKUP_CORRUPTED, "repository key record asks for an Argon2id cost out of range");
    }
    memcpy(out->salt, bytes + 25, 16);
    memcpy(out->keyId, bytes + 41, CRYPTO_KEY_ID_BYTES);
    return ERR_OK;
}

ErrCode cryptoDataKeyGenerate(uint8_t dataKey[CRYPTO_KEY_BYTES])
{
    ErrCode code = cryptoInit();
    if (code == ERR_OK) {
        randombytes_buf(dataKey, CRYPTO_KEY_BYTES);
    }
    return code;
}

/* Associated data of a wrap: the label, the version byte and the key id, so
 * a wrapped key cannot be passed off under another id or version. */
static size_t wrapAssociatedData(uint8_t version, const uint8_t id[CRYPTO_KEY_ID_BYTES], uint8_t *out)
{
    size_t labelLength = strlen(wrapLabel);
    memcpy(out, wrapLabel, labelLength);
    out[labelLength] = version;
    memcpy(out + labelLength + 1, id, CRYPTO_KEY_ID_BYTES);
    return labelLength + 1 + CRYPTO_KEY_ID_BYTES;
}

ErrCode cryptoDataKeyWrap(const CryptoMasterKey *master, const uint8_t dataKey[CRYPTO_KEY_BYTES],
                          uint8_t out[CRYPTO_WRAPPED_KEY_BYTES])
{
    ErrCode code = cryptoInit();
    if (code != ERR_OK) {
        return code;
    }
    uint8_t associated[64];
    size_t associatedLength = wrapAssociatedData(CRYPTO_WRAP_VERSION, master->id, associated);
    out[0] = CRYPTO_WRAP_VERSION;
    memcpy(out + 1, master->id, CRYPTO_KEY_ID_BYTES);
    uint8_t *nonce = out + 1 + CRYPTO_KEY_ID_BYTES;
    randombytes_buf(nonce, crypto_aead_xchacha20poly1305_ietf_NPUBBYTES);
    unsigned long long cipherLength = 0;
    crypto_aead_xchacha20poly1305_ietf_encrypt(nonce + crypto_aead_xchacha20poly1305_ietf_NPUBBYTES, &cipherLength,
                                               dataKey, CRYPTO_KEY_BYTES, associated, associatedLength, NULL, nonce,
                                               master->key);
    return ERR_OK;
}

ErrCode cryptoWrappedKeyId(const uint8_t *wrapped, size_t length, uint8_t id[CRYPTO_KEY_ID_BYTES])
{
    if (length != CRYPTO_WRAPPED_KEY_BYTES || wrapped[0] != CRYPTO_WRAP_VERSION) {
        return errSet(BACKUP_CORRUPTED, "wrapped data key damaged (%zu bytes, version %u)", length,
                      length > 0 ? wrapped[0] : 0u);
    }
    memcpy(id, wrapped + 1, CRYPTO_KEY_ID_BYTES);
    return ERR_OK;
}

ErrCode cryptoDataKeyUnwrap(const CryptoMasterKey *master, const uint8_t *wrapped, size_t length,
                            uint8_t dataKey[CRYPTO_KEY_BYTES])
{
    uint8_t id[CRYPTO_KEY_ID_BYTES];
    ErrCode code = cryptoInit();
    if (code == ERR_OK) {
        code = cryptoWrappedKeyId(wrapped, length, id);
    }
    if (code != ERR_OK) {
        return code;
    }
    char wantedHex[2 * CRYPTO_KEY_ID_BYTES + 1];
    char givenHex[2 * CRYPTO_KEY_ID_BYTES + 1];
    cryptoKeyIdHex(id, wantedHex);
    cryptoKeyIdHex(master->id, givenHex);
    if (sodium_memcmp(id, master->id, CRYPTO_KEY_ID_BYTES) != 0) {
        return errSet(BACKUP_KEY_INVALID, "the backup's data key is wrapped by key %s, the key given is %s",
                      wantedHex, givenHex);
    }
    uint8_t associated[64];
    size_t associatedLength = wrapAssociatedData(wrapped[0], id, associated);
    const uint8_t *nonce = wrapped + 1 + CRYPTO_KEY_ID_BYTES;
    unsigned long long plainLength = 0;
    if (crypto_aead_xchacha20poly1305_ietf_decrypt(
            dataKey, &plainLength, NULL, nonce + crypto_aead_xchacha20poly1305_ietf_NPUBBYTES,
            CRYPTO_KEY_BYTES + crypto_aead_xchacha20poly1305_ietf_ABYTES, associated, associatedLength, nonce,
            master->key) != 0 ||
        plainLength != CRYPTO_KEY_BYTES) {
        sodium_memzero(dataKey, CRYPTO_KEY_BYTES);
        return errSet(BACKUP_KEY_INVALID,
                      "the backup's data key does not open with key %s (wrong key, or the wrapped key is damaged)",
                      givenHex);
    }
    return ERR_OK;
}

ErrCode cryptoDataKeyRewrap(const CryptoMasterKey *oldMaster, const CryptoMasterKey *newMaster,
                            const uint8_t *wrapped, size_t length, uint8_t out[CRYPTO_WRAPPED_KEY_BYTES])
{
    uint8_t dataKey[CRYPTO_KEY_BYTES];
    ErrCode code = cryptoDataKeyUnwrap(oldMaster, wrapped, length, dataKey);
    if (code == ERR_OK) {
        code = cryptoDataKeyWrap(newMaster, dataKey, out);
    }
    sodium_memzero(dataKey, sizeof(dataKey));
    return code;
}
