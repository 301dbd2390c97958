/* Manifest authentication of the encryption layer: the canonical form, a
 * changed count, checksum or parent link is refused, and the sealed private
 * part opens only under its own manifest and key. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "crypto/block_codec.h"
#include "crypto/manifest_auth.h"

#include <string.h>

#define FIELD(name, text) {name, (const uint8_t *)(text), sizeof(text) - 1}

static void keyFill(uint8_t key[CRYPTO_KEY_BYTES], uint8_t seed)
{
    for (int i = 0; i < CRYPTO_KEY_BYTES; i++) {
        key[i] = (uint8_t)(seed * 3 + i);
    }
}

static void testCanonicalFormIsSortedAndLengthPrefixed(void **state)
{
    (void)state;
    const CryptoManifestField fields[] = {FIELD("status", "COMPLETE"), FIELD("id", "b1"), FIELD("parent", "")};
    Buffer canonical;
    bufferInit(&canonical);
    assert_int_equal(cryptoManifestCanonical(fields, 3, &canonical), ERR_OK);
    const uint8_t expected[] = "nbk manifest v1\x00\x00\x00\x03"
                               "\x02id\x00\x00\x00\x02" "b1"
                               "\x06parent\x00\x00\x00\x00"
                               "\x06status\x00\x00\x00\x08" "COMPLETE";
    assert_int_equal(canonical.length, sizeof(expected) - 1);
    assert_memory_equal(canonical.data, expected, canonical.length);
    bufferFree(&canonical);

    const CryptoManifestField twice[] = {FIELD("id", "a"), FIELD("id", "b")};
    bufferInit(&canonical);
    assert_int_equal(cryptoManifestCanonical(twice, 2, &canonical), ERR_INTERNAL);
    bufferFree(&canonical);
}

static void testChangedFieldsAreRefused(void **state)
{
    (void)state;
    uint8_t key[CRYPTO_KEY_BYTES];
    keyFill(key, 1);
    CryptoManifestField fields[] = {
        FIELD("id", "2026-12-02T091500Z"), FIELD("node_count", "1000"), FIELD("archive_sha256", "ab12"),
        FIELD("parent", "2026-12-01T091500Z"), FIELD("status", "COMPLETE"),
    };
    const size_t count = sizeof(fields) / sizeof(fields[0]);
    uint8_t mac[CRYPTO_MANIFEST_MAC_BYTES];
    assert_int_equal(cryptoManifestMac(key, fields, count, mac), ERR_OK);
    assert_int_equal(cryptoManifestVerify(key, fields, count, mac, sizeof(mac)), ERR_OK);
    /* Order of the caller's fields does not matter; the content does. */
    CryptoManifestField swapped[5];
    memcpy(swapped, fields, sizeof(fields));
    swapped[0] = fields[4];
    swapped[4] = fields[0];
    assert_int_equal(cryptoManifestVerify(key, swapped, count, mac, sizeof(mac)), ERR_OK);

    const CryptoManifestField changes[] = {
        FIELD("node_count", "1001"), FIELD("archive_sha256", "ab13"), FIELD("parent", "2026-11-30T091500Z"),
        FIELD("status", "COMPLETE "),
    };
    for (size_t change = 0; change < sizeof(changes) / sizeof(changes[0]); change++) {
        CryptoManifestField changed[5];
        memcpy(changed, fields, sizeof(fields));
        for (size_t i = 0; i < count; i++) {
            if (strcmp(changed[i].name, changes[change].name) == 0) {
                changed[i] = changes[change];
            }
        }
        assert_int_equal(cryptoManifestVerify(key, changed, count, mac, sizeof(mac)), BACKUP_CORRUPTED);
        assert_non_null(strstr(errLast()->reason, "manifest authentication failed"));
    }
    /* A dropped field, a wrong key, a flipped MAC bit, a short MAC. */
    assert_int_equal(cryptoManifestVerify(key, fields, count - 1, mac, sizeof(mac)), BACKUP_CORRUPTED);
    uint8_t other[CRYPTO_KEY_BYTES];
    keyFill(other, 2);
    assert_int_equal(cryptoManifestVerify(other, fields, count, mac, sizeof(mac)), BACKUP_CORRUPTED);
    for (size_t bit = 0; bit < 8 * sizeof(mac); bit++) {
        mac[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        assert_int_equal(cryptoManifestVerify(key, fields, count, mac, sizeof(mac)), BACKUP_CORRUPTED);
        mac[bit / 8] ^= (uint8_t)(1u << (bit % 8));
    }
    assert_int_equal(cryptoManifestVerify(key, fields, count, mac, sizeof(mac) - 1), BACKUP_CORRUPTED);
    /* A value boundary moved between name and value is a different form. */
    const CryptoManifestField shiftedA[] = {FIELD("ab", "c")};
    const CryptoManifestField shiftedB[] = {FIELD("a", "bc")};
    uint8_t macA[CRYPTO_MANIFEST_MAC_BYTES];
    assert_int_equal(cryptoManifestMac(key, shiftedA, 1, macA), ERR_OK);
    assert_int_equal(cryptoManifestVerify(key, shiftedB, 1, macA, sizeof(macA)), BACKUP_CORRUPTED);
}

static void testSealedPrivatePartOpensOnlyUnderItsManifest(void **state)
{
    (void)state;
    uint8_t key[CRYPTO_KEY_BYTES];
    keyFill(key, 3);
    const CryptoManifestField fields[] = {FIELD("id", "b1")};
    const CryptoManifestField otherFields[] = {FIELD("id", "b2")};
    uint8_t mac[CRYPTO_MANIFEST_MAC_BYTES];
    uint8_t otherMac[CRYPTO_MANIFEST_MAC_BYTES];
    assert_int_equal(cryptoManifestMac(key, fields, 1, mac), ERR_OK);
    assert_int_equal(cryptoManifestMac(key, otherFields, 1, otherMac), ERR_OK);
    const char privateJson[] = "{\"schema\":[\"CREATE CONSTRAINT person_id FOR (p:Person) REQUIRE p.id IS UNIQUE\"]}";
    Buffer sealed;
    Buffer opened;
    bufferInit(&sealed);
    bufferInit(&opened);
    assert_int_equal(cryptoManifestSeal(key, mac, (const uint8_t *)privateJson, strlen(privateJson), &sealed), ERR_OK);
    assert_int_equal(sealed.length, strlen(privateJson) + CRYPTO_MANIFEST_SEAL_OVERHEAD);
    assert_null(memmem(sealed.data, sealed.length, "Person", 6));
    assert_int_equal(cryptoManifestOpen(key, mac, sealed.data, sealed.length, &opened), ERR_OK);
    assert_int_equal(opened.length, strlen(privateJson));
    assert_memory_equal(opened.data, privateJson, opened.length);

    assert_int_equal(cryptoManifestOpen(key, otherMac, sealed.data, sealed.length, &opened), BACKUP_CORRUPTED);
    uint8_t other[CRYPTO_KEY_BYTES];
    keyFill(other, 4);
    assert_int_equal(cryptoManifestOpen(other, mac, sealed.data, sealed.length, &opened), BACKUP_CORRUPTED);
    for (size_t bit = 0; bit < 8 * sealed.length; bit++) {
        sealed.data[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        assert_int_equal(cryptoManifestOpen(key, mac, sealed.data, sealed.length, &opened), BACKUP_CORRUPTED);
        sealed.data[bit / 8] ^= (uint8_t)(1u << (bit % 8));
    }
    assert_int_equal(cryptoManifestOpen(key, mac, sealed.data, CRYPTO_MANIFEST_SEAL_OVERHEAD - 1, &opened),
                     BACKUP_CORRUPTED);
    bufferFree(&sealed);
    bufferFree(&opened);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(testCanonicalFormIsSortedAndLengthPrefixed),
        cmocka_unit_test(testChangedFieldsAreRefused),
        cmocka_unit_test(testSealedPrivatePartOpensOnlyUnderItsManifest),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
