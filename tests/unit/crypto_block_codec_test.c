/* Block codec of the encryption layer: round trips, and every kind of damage
 * (flipped bit anywhere, truncation, reordering, duplication, appended
 * blocks, wrong key) is refused and named by block. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "crypto/block_codec.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { BLOCK_COUNT = 4, MAX_PLAIN = 64 };

typedef struct {
    uint8_t header[CRYPTO_STREAM_HEADER_BYTES];
    uint8_t kinds[BLOCK_COUNT];
    uint8_t cipher[BLOCK_COUNT][MAX_PLAIN + CRYPTO_BLOCK_OVERHEAD];
    size_t cipherLength[BLOCK_COUNT];
} Stream;

static const char *const plains[BLOCK_COUNT] = {"header map", "", "records of block two", "footer"};
static const uint8_t sectionKinds[BLOCK_COUNT] = {'H', 'B', 'B', 'F'};

static void dataKeyFill(uint8_t key[CRYPTO_KEY_BYTES], uint8_t seed)
{
    for (int i = 0; i < CRYPTO_KEY_BYTES; i++) {
        key[i] = (uint8_t)(seed + i);
    }
}

static void streamWrite(Stream *stream, const uint8_t dataKey[CRYPTO_KEY_BYTES])
{
    CryptoBlockCodec codec;
    assert_int_equal(cryptoEncryptorInit(&codec, dataKey, stream->header), ERR_OK);
    for (int i = 0; i < BLOCK_COUNT; i++) {
        stream->kinds[i] = sectionKinds[i];
        assert_int_equal(cryptoEncryptBlock(&codec, sectionKinds[i], (const uint8_t *)plains[i], strlen(plains[i]),
                                            i == BLOCK_COUNT - 1, stream->cipher[i], &stream->cipherLength[i]),
                         ERR_OK);
        assert_int_equal(stream->cipherLength[i], strlen(plains[i]) + CRYPTO_BLOCK_OVERHEAD);
    }
    /* Nothing may be written after the final block. */
    uint8_t extra[CRYPTO_BLOCK_OVERHEAD + 1];
    size_t extraLength;
    assert_int_equal(cryptoEncryptBlock(&codec, 'B', (const uint8_t *)"x", 1, false, extra, &extraLength),
                     ERR_INTERNAL);
    cryptoBlockCodecWipe(&codec);
}

/* Reads blocks in the given order; returns the index of the first failing
 * read (BLOCK_COUNT + ... for Finish) or -1 when all passed. */
static int streamRead(const Stream *stream, const uint8_t dataKey[CRYPTO_KEY_BYTES], const int *order, int count)
{
    CryptoBlockCodec codec;
    if (cryptoDecryptorInit(&codec, dataKey, stream->header) != ERR_OK) {
        return 0;
    }
    for (int i = 0; i < count; i++) {
        int which = order[i];
        uint8_t plain[MAX_PLAIN + 1];
        size_t plainLength = 0;
        bool final = false;
        if (cryptoDecryptBlock(&codec, stream->kinds[which], stream->cipher[which], stream->cipherLength[which],
                               plain, &plainLength, &final) != ERR_OK) {
            return i;
        }
        assert_int_equal(plainLength, strlen(plains[which]));
        assert_memory_equal(plain, plains[which], plainLength);
    }
    if (cryptoDecryptorFinish(&codec) != ERR_OK) {
        return count;
    }
    return -1;
}

static const int inOrder[BLOCK_COUNT] = {0, 1, 2, 3};

static void testRoundTrip(void **state)
{
    (void)state;
    uint8_t key[CRYPTO_KEY_BYTES];
    dataKeyFill(key, 7);
    Stream stream;
    streamWrite(&stream, key);
    assert_int_equal(streamRead(&stream, key, inOrder, BLOCK_COUNT), -1);
    /* A second stream under the same key has another header and ciphertext. */
    Stream other;
    streamWrite(&other, key);
    assert_memory_not_equal(other.header, stream.header, CRYPTO_STREAM_HEADER_BYTES);
    assert_memory_not_equal(other.cipher[0], stream.cipher[0], stream.cipherLength[0]);
}

static void testEveryFlippedBitIsDetectedAndLocatedToItsBlock(void **state)
{
    (void)state;
    uint8_t key[CRYPTO_KEY_BYTES];
    dataKeyFill(key, 1);
    Stream stream;
    streamWrite(&stream, key);
    for (size_t bit = 0; bit < 8 * CRYPTO_STREAM_HEADER_BYTES; bit++) {
        stream.header[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        assert_int_equal(streamRead(&stream, key, inOrder, BLOCK_COUNT), 0);
        stream.header[bit / 8] ^= (uint8_t)(1u << (bit % 8));
    }
    for (int block = 0; block < BLOCK_COUNT; block++) {
        for (size_t bit = 0; bit < 8 * stream.cipherLength[block]; bit++) {
            stream.cipher[block][bit / 8] ^= (uint8_t)(1u << (bit % 8));
            assert_int_equal(streamRead(&stream, key, inOrder, BLOCK_COUNT), block);
            char expected[32];
            snprintf(expected, sizeof(expected), "block %d ", block);
            assert_non_null(strstr(errLast()->reason, expected));
            stream.cipher[block][bit / 8] ^= (uint8_t)(1u << (bit % 8));
        }
    }
    /* A section kind that differs from the one written is damage too. */
    stream.kinds[2] = 'H';
    assert_int_equal(streamRead(&stream, key, inOrder, BLOCK_COUNT), 2);
    assert_non_null(strstr(errLast()->reason, "block 2 (section 'H') failed authentication"));
    stream.kinds[2] = 'B';
    assert_int_equal(streamRead(&stream, key, inOrder, BLOCK_COUNT), -1);
}

static void testTruncationReorderingDuplicationAndAppendingAreRefused(void **state)
{
    (void)state;
    uint8_t key[CRYPTO_KEY_BYTES];
    dataKeyFill(key, 2);
    Stream stream;
    streamWrite(&stream, key);
    /* Truncated: the final block is missing; all read blocks were fine. */
    assert_int_equal(streamRead(&stream, key, inOrder, BLOCK_COUNT - 1), BLOCK_COUNT - 1);
    assert_non_null(strstr(errLast()->reason, "truncated"));
    assert_int_equal(streamRead(&stream, key, inOrder, 0), 0); /* nothing at all */
    const int swapped[BLOCK_COUNT] = {0, 2, 1, 3};
    assert_int_equal(streamRead(&stream, key, swapped, BLOCK_COUNT), 1);
    const int duplicated[BLOCK_COUNT + 1] = {0, 1, 1, 2, 3};
    assert_int_equal(streamRead(&stream, key, duplicated, BLOCK_COUNT + 1), 2);
    const int dropped[BLOCK_COUNT - 1] = {0, 2, 3};
    assert_int_equal(streamRead(&stream, key, dropped, BLOCK_COUNT - 1), 1);
    const int appended[BLOCK_COUNT + 1] = {0, 1, 2, 3, 3};
    assert_int_equal(streamRead(&stream, key, appended, BLOCK_COUNT + 1), BLOCK_COUNT);
    assert_non_null(strstr(errLast()->reason, "follows the final block"));
    /* A block of another stream under the same key does not fit in. */
    Stream other;
    streamWrite(&other, key);
    memcpy(stream.cipher[1], other.cipher[1], other.cipherLength[1]);
    assert_int_equal(streamRead(&stream, key, inOrder, BLOCK_COUNT), 1);
}

static void testWrongKeyFailsAtTheFirstBlock(void **state)
{
    (void)state;
    uint8_t key[CRYPTO_KEY_BYTES];
    uint8_t wrong[CRYPTO_KEY_BYTES];
    dataKeyFill(key, 3);
    dataKeyFill(wrong, 4);
    Stream stream;
    streamWrite(&stream, key);
    assert_int_equal(streamRead(&stream, wrong, inOrder, BLOCK_COUNT), 0);
    assert_int_equal(errLast()->code, BACKUP_CORRUPTED);
}

static void testImpossibleLengthsAndPoisoning(void **state)
{
    (void)state;
    uint8_t key[CRYPTO_KEY_BYTES];
    dataKeyFill(key, 5);
    Stream stream;
    streamWrite(&stream, key);
    CryptoBlockCodec codec;
    assert_int_equal(cryptoDecryptorInit(&codec, key, stream.header), ERR_OK);
    uint8_t plain[MAX_PLAIN];
    size_t plainLength;
    assert_int_equal(cryptoDecryptBlock(&codec, 'H', stream.cipher[0], CRYPTO_BLOCK_OVERHEAD - 1, plain, &plainLength,
                                        NULL),
                     BACKUP_CORRUPTED);
    /* After a failure even the genuine block is refused. */
    assert_int_equal(cryptoDecryptBlock(&codec, 'H', stream.cipher[0], stream.cipherLength[0], plain, &plainLength,
                                        NULL),
                     BACKUP_CORRUPTED);
    assert_int_equal(cryptoDecryptorFinish(&codec), BACKUP_CORRUPTED);
}

static void testSubkeysAreDistinctAndFollowCryptoKdf(void **state)
{
    (void)state;
    uint8_t key[CRYPTO_KEY_BYTES];
    dataKeyFill(key, 0);
    uint8_t stream[32];
    uint8_t mac[32];
    uint8_t seal[32];
    cryptoSubkeyDerive(key, CRYPTO_SUBKEY_STREAM, stream);
    cryptoSubkeyDerive(key, CRYPTO_SUBKEY_MANIFEST_MAC, mac);
    cryptoSubkeyDerive(key, CRYPTO_SUBKEY_MANIFEST_SEAL, seal);
    assert_memory_not_equal(stream, mac, 32);
    assert_memory_not_equal(mac, seal, 32);
    /* crypto_kdf is BLAKE2b with the id (LE) as salt and the context as personal. */
    uint8_t salt[16] = {2};
    uint8_t personal[16] = {'N', 'B', 'K', 'A', 'R', 'C', 'H', '2'};
    uint8_t expected[32];
    crypto_generichash_blake2b_salt_personal(expected, 32, NULL, 0, key, 32, salt, personal);
    assert_memory_equal(mac, expected, 32);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(testRoundTrip),
        cmocka_unit_test(testEveryFlippedBitIsDetectedAndLocatedToItsBlock),
        cmocka_unit_test(testTruncationReorderingDuplicationAndAppendingAreRefused),
        cmocka_unit_test(testWrongKeyFailsAtTheFirstBlock),
        cmocka_unit_test(testImpossibleLengthsAndPoisoning),
        cmocka_unit_test(testSubkeysAreDistinctAndFollowCryptoKdf),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
