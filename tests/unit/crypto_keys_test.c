/* Key management of the encryption layer: key files (form, 0600, O_EXCL,
 * permission checks), key ids, Argon2id records, data key wrap and rotation. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "crypto/keys.h"

#include <fcntl.h>
#include <limits.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct {
    char root[64];
    char keyPath[PATH_MAX];
} Fixture;

static int setUp(void **state)
{
    Fixture *fixture = calloc(1, sizeof(*fixture));
    snprintf(fixture->root, sizeof(fixture->root), "/tmp/nbk-crypto-keys-XXXXXX");
    assert_non_null(mkdtemp(fixture->root));
    snprintf(fixture->keyPath, sizeof(fixture->keyPath), "%s/master.key", fixture->root);
    *state = fixture;
    return 0;
}

static int tearDown(void **state)
{
    Fixture *fixture = *state;
    unlink(fixture->keyPath);
    rmdir(fixture->root);
    free(fixture);
    return 0;
}

static void writeFile(const char *path, const char *text, mode_t mode)
{
    unlink(path);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    assert_int_equal(chmod(path, mode), 0);
}

static void testGenerateWritesAPrivateKeyAndRefusesToOverwrite(void **state)
{
    Fixture *fixture = *state;
    uint8_t id[CRYPTO_KEY_ID_BYTES];
    assert_int_equal(cryptoKeyFileGenerate(fixture->keyPath, id), ERR_OK);
    struct stat status;
    assert_int_equal(stat(fixture->keyPath, &status), 0);
    assert_int_equal(status.st_mode & 0777, 0600);
    assert_int_equal(status.st_size, (off_t)CRYPTO_KEY_FILE_BYTES);

    CryptoMasterKey key;
    assert_int_equal(cryptoKeyFileRead(fixture->keyPath, &key), ERR_OK);
    assert_memory_equal(key.id, id, CRYPTO_KEY_ID_BYTES);

    assert_int_equal(cryptoKeyFileGenerate(fixture->keyPath, NULL), CONFIG_INVALID);
    assert_non_null(strstr(errLast()->reason, "refusing to overwrite"));
    CryptoMasterKey again;
    assert_int_equal(cryptoKeyFileRead(fixture->keyPath, &again), ERR_OK);
    assert_memory_equal(again.key, key.key, CRYPTO_KEY_BYTES); /* untouched */
}

static void testGenerateNeverWritesThroughALink(void **state)
{
    Fixture *fixture = *state;
    char target[PATH_MAX];
    snprintf(target, sizeof(target), "%s/target", fixture->root);
    assert_int_equal(symlink(target, fixture->keyPath), 0); /* dangling */
    assert_int_equal(cryptoKeyFileGenerate(fixture->keyPath, NULL), CONFIG_INVALID);
    assert_int_equal(access(target, F_OK), -1);
    unlink(fixture->keyPath);
    char missingDir[PATH_MAX];
    snprintf(missingDir, sizeof(missingDir), "%s/no/such/dir.key", fixture->root);
    assert_int_equal(cryptoKeyFileGenerate(missingDir, NULL), BACKUP_IO_FAILED);
}

static void testTwoGeneratedKeysDiffer(void **state)
{
    Fixture *fixture = *state;
    uint8_t first[CRYPTO_KEY_ID_BYTES];
    uint8_t second[CRYPTO_KEY_ID_BYTES];
    assert_int_equal(cryptoKeyFileGenerate(fixture->keyPath, first), ERR_OK);
    unlink(fixture->keyPath);
    assert_int_equal(cryptoKeyFileGenerate(fixture->keyPath, second), ERR_OK);
    assert_memory_not_equal(first, second, CRYPTO_KEY_ID_BYTES);
}

static const char knownKeyText[] = "nbk-key-v1:000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\n";

static void testReadParsesTheDocumentedFormAndIdIsKeyedBlake2b(void **state)
{
    Fixture *fixture = *state;
    writeFile(fixture->keyPath, knownKeyText, 0600);
    CryptoMasterKey key;
    assert_int_equal(cryptoKeyFileRead(fixture->keyPath, &key), ERR_OK);
    for (int i = 0; i < CRYPTO_KEY_BYTES; i++) {
        assert_int_equal(key.key[i], i);
    }
    uint8_t expected[CRYPTO_KEY_ID_BYTES];
    crypto_generichash(expected, sizeof(expected), (const uint8_t *)"nbk master key id v1", 20, key.key, 32);
    assert_memory_equal(key.id, expected, sizeof(expected));
    char hex[33];
    cryptoKeyIdHex(key.id, hex);
    assert_int_equal(strlen(hex), 32);
    /* The final newline is optional. */
    char withoutNewline[sizeof(knownKeyText)];
    snprintf(withoutNewline, sizeof(withoutNewline), "%.*s", (int)strlen(knownKeyText) - 1, knownKeyText);
    writeFile(fixture->keyPath, withoutNewline, 0600);
    CryptoMasterKey same;
    assert_int_equal(cryptoKeyFileRead(fixture->keyPath, &same), ERR_OK);
    assert_memory_equal(same.key, key.key, CRYPTO_KEY_BYTES);
}

static void testReadRefusesKeysOthersCanAccess(void **state)
{
    Fixture *fixture = *state;
    const mode_t modes[] = {0640, 0604, 0620, 0644, 0660};
    for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
        writeFile(fixture->keyPath, knownKeyText, modes[i]);
        CryptoMasterKey key;
        assert_int_equal(cryptoKeyFileRead(fixture->keyPath, &key), CONFIG_INVALID);
        assert_non_null(strstr(errLast()->reason, "group or others"));
        assert_non_null(strstr(errLast()->action, "chmod 600"));
    }
    writeFile(fixture->keyPath, knownKeyText, 0400);
    CryptoMasterKey key;
    assert_int_equal(cryptoKeyFileRead(fixture->keyPath, &key), ERR_OK);
    /* Through a link (a Kubernetes secret volume), the target's mode counts. */
    char linkPath[PATH_MAX];
    snprintf(linkPath, sizeof(linkPath), "%s/link.key", fixture->root);
    assert_int_equal(symlink(fixture->keyPath, linkPath), 0);
    assert_int_equal(cryptoKeyFileRead(linkPath, &key), ERR_OK);
    assert_int_equal(chmod(fixture->keyPath, 0644), 0);
    assert_int_equal(cryptoKeyFileRead(linkPath, &key), CONFIG_INVALID);
    unlink(linkPath);
}

static void testReadRefusesMalformedKeysWithoutEchoingThem(void **state)
{
    Fixture *fixture = *state;
    const char *bad[] = {
        "",
        "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\n", /* no prefix */
        "nbk-key-v1:000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e\n", /* short */
        "nbk-key-v1:000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f00\n", /* long */
        "nbk-key-v1:000102030405060708090A0B0C0D0E0F101112131415161718191a1b1c1d1e1f\n", /* upper case */
        "nbk-key-v1:000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1g\n",
        "nbk-key-v1:000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\n\n",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        writeFile(fixture->keyPath, bad[i], 0600);
        CryptoMasterKey key;
        assert_int_equal(cryptoKeyFileRead(fixture->keyPath, &key), BACKUP_KEY_INVALID);
        assert_null(strstr(errLast()->reason, "0a0b0c"));
    }
}

static void testMissingKeyFileIsKeyRequired(void **state)
{
    Fixture *fixture = *state;
    CryptoMasterKey key;
    assert_int_equal(cryptoKeyFileRead(fixture->keyPath, &key), BACKUP_KEY_REQUIRED);
}

static void testWrapUnwrapAndWrongKey(void **state)
{
    (void)state;
    uint8_t bytesA[CRYPTO_KEY_BYTES];
    uint8_t bytesB[CRYPTO_KEY_BYTES];
    memset(bytesA, 0xA5, sizeof(bytesA));
    memset(bytesB, 0x5A, sizeof(bytesB));
    CryptoMasterKey masterA;
    CryptoMasterKey masterB;
    cryptoMasterKeyFromBytes(bytesA, &masterA);
    cryptoMasterKeyFromBytes(bytesB, &masterB);

    uint8_t dataKey[CRYPTO_KEY_BYTES];
    uint8_t wrapped[CRYPTO_WRAPPED_KEY_BYTES];
    assert_int_equal(cryptoDataKeyGenerate(dataKey), ERR_OK);
    assert_int_equal(cryptoDataKeyWrap(&masterA, dataKey, wrapped), ERR_OK);
    assert_memory_equal(wrapped + 1, masterA.id, CRYPTO_KEY_ID_BYTES);
    uint8_t opened[CRYPTO_KEY_BYTES];
    assert_int_equal(cryptoDataKeyUnwrap(&masterA, wrapped, sizeof(wrapped), opened), ERR_OK);
    assert_memory_equal(opened, dataKey, CRYPTO_KEY_BYTES);

    assert_int_equal(cryptoDataKeyUnwrap(&masterB, wrapped, sizeof(wrapped), opened), BACKUP_KEY_INVALID);
    /* Another key under the right id (a forged id) still fails authentication. */
    CryptoMasterKey forged = masterB;
    memcpy(forged.id, masterA.id, CRYPTO_KEY_ID_BYTES);
    assert_int_equal(cryptoDataKeyUnwrap(&forged, wrapped, sizeof(wrapped), opened), BACKUP_KEY_INVALID);
    /* Every flipped bit is refused. */
    for (size_t bit = 0; bit < 8 * sizeof(wrapped); bit++) {
        wrapped[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        ErrCode code = cryptoDataKeyUnwrap(&masterA, wrapped, sizeof(wrapped), opened);
        assert_true(code == BACKUP_KEY_INVALID || code == BACKUP_CORRUPTED);
        wrapped[bit / 8] ^= (uint8_t)(1u << (bit % 8));
    }
    assert_int_equal(cryptoDataKeyUnwrap(&masterA, wrapped, sizeof(wrapped) - 1, opened), BACKUP_CORRUPTED);
}

static void testRotationRewrapsTheSameDataKey(void **state)
{
    (void)state;
    uint8_t bytesA[CRYPTO_KEY_BYTES];
    uint8_t bytesB[CRYPTO_KEY_BYTES];
    memset(bytesA, 1, sizeof(bytesA));
    memset(bytesB, 2, sizeof(bytesB));
    CryptoMasterKey oldMaster;
    CryptoMasterKey newMaster;
    cryptoMasterKeyFromBytes(bytesA, &oldMaster);
    cryptoMasterKeyFromBytes(bytesB, &newMaster);
    uint8_t dataKey[CRYPTO_KEY_BYTES];
    uint8_t wrapped[CRYPTO_WRAPPED_KEY_BYTES];
    uint8_t rewrapped[CRYPTO_WRAPPED_KEY_BYTES];
    assert_int_equal(cryptoDataKeyGenerate(dataKey), ERR_OK);
    assert_int_equal(cryptoDataKeyWrap(&oldMaster, dataKey, wrapped), ERR_OK);
    assert_int_equal(cryptoDataKeyRewrap(&oldMaster, &newMaster, wrapped, sizeof(wrapped), rewrapped), ERR_OK);
    uint8_t id[CRYPTO_KEY_ID_BYTES];
    assert_int_equal(cryptoWrappedKeyId(rewrapped, sizeof(rewrapped), id), ERR_OK);
    assert_memory_equal(id, newMaster.id, CRYPTO_KEY_ID_BYTES);
    uint8_t opened[CRYPTO_KEY_BYTES];
    assert_int_equal(cryptoDataKeyUnwrap(&newMaster, rewrapped, sizeof(rewrapped), opened), ERR_OK);
    assert_memory_equal(opened, dataKey, CRYPTO_KEY_BYTES);
    assert_int_equal(cryptoDataKeyUnwrap(&oldMaster, rewrapped, sizeof(rewrapped), opened), BACKUP_KEY_INVALID);
    /* Rotating with the wrong old key changes nothing. */
    assert_int_equal(cryptoDataKeyRewrap(&newMaster, &oldMaster, wrapped, sizeof(wrapped), rewrapped),
                     BACKUP_KEY_INVALID);
}

static void testPassphraseRecordRoundTripAndWrongPassphrase(void **state)
{
    (void)state;
    CryptoKeyRecord record;
    CryptoMasterKey created;
    const char passphrase[] = "correct horse battery staple";
    assert_int_equal(cryptoKeyRecordCreate(passphrase, strlen(passphrase), crypto_pwhash_OPSLIMIT_MIN,
                                           crypto_pwhash_MEMLIMIT_MIN, &record, &created),
                     ERR_OK);
    uint8_t encoded[CRYPTO_KEY_RECORD_BYTES];
    cryptoKeyRecordEncode(&record, encoded);
    assert_memory_equal(encoded, "NBKKEYR1", 8);
    CryptoKeyRecord decoded;
    assert_int_equal(cryptoKeyRecordDecode(encoded, sizeof(encoded), &decoded), ERR_OK);
    CryptoMasterKey derived;
    assert_int_equal(cryptoKeyFromPassphrase(passphrase, strlen(passphrase), &decoded, &derived), ERR_OK);
    assert_memory_equal(derived.key, created.key, CRYPTO_KEY_BYTES);
    /* Same as libsodium's Argon2id with the stored parameters. */
    uint8_t direct[32];
    assert_int_equal(crypto_pwhash(direct, 32, passphrase, strlen(passphrase), record.salt, record.opsLimit,
                                   record.memLimit, crypto_pwhash_ALG_ARGON2ID13),
                     0);
    assert_memory_equal(direct, created.key, 32);

    assert_int_equal(cryptoKeyFromPassphrase("wrong", 5, &decoded, &derived), BACKUP_KEY_INVALID);
    assert_int_equal(cryptoKeyFromPassphrase("", 0, &decoded, &derived), BACKUP_KEY_REQUIRED);

    /* A record asking for an absurd cost or naming another algorithm is damaged. */
    uint8_t hostile[CRYPTO_KEY_RECORD_BYTES];
    memcpy(hostile, encoded, sizeof(hostile));
    memset(hostile + 17, 0xFF, 8);
    assert_int_equal(cryptoKeyRecordDecode(hostile, sizeof(hostile), &decoded), BACKUP_CORRUPTED);
    memcpy(hostile, encoded, sizeof(hostile));
    hostile[8] = 1;
    assert_int_equal(cryptoKeyRecordDecode(hostile, sizeof(hostile), &decoded), BACKUP_CORRUPTED);
    assert_int_equal(cryptoKeyRecordDecode(encoded, sizeof(encoded) - 1, &decoded), BACKUP_CORRUPTED);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(testGenerateWritesAPrivateKeyAndRefusesToOverwrite, setUp, tearDown),
        cmocka_unit_test_setup_teardown(testGenerateNeverWritesThroughALink, setUp, tearDown),
        cmocka_unit_test_setup_teardown(testTwoGeneratedKeysDiffer, setUp, tearDown),
        cmocka_unit_test_setup_teardown(testReadParsesTheDocumentedFormAndIdIsKeyedBlake2b, setUp, tearDown),
        cmocka_unit_test_setup_teardown(testReadRefusesKeysOthersCanAccess, setUp, tearDown),
        cmocka_unit_test_setup_teardown(testReadRefusesMalformedKeysWithoutEchoingThem, setUp, tearDown),
        cmocka_unit_test_setup_teardown(testMissingKeyFileIsKeyRequired, setUp, tearDown),
        cmocka_unit_test(testWrapUnwrapAndWrongKey),
        cmocka_unit_test(testRotationRewrapsTheSameDataKey),
        cmocka_unit_test(testPassphraseRecordRoundTripAndWrongPassphrase),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
