/* The encrypted manifest (catalog/manifest.h, docs/encryption.md section 3):
 * sealed, written and read back it opens with its data key and archive key
 * section; what reveals the graph is not in its text; a changed protected
 * field, another key section or another data key is refused; the operator's
 * mutable fields (status, keep) change without the key; a re-wrapped data
 * key keeps the MAC; the parser refuses malformed encryption objects. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "catalog/manifest.h"
#include "crypto/keys.h"

#include <stdlib.h>
#include <string.h>

static void fill(uint8_t *bytes, size_t size, uint8_t seed)
{
    for (size_t index = 0; index < size; index++)
        bytes[index] = (uint8_t)(seed + index * 7);
}

static Manifest *sampleManifest(void)
{
    Manifest *manifest = manifestNew();
    manifestSetString(&manifest->id, "neo4j-20261203-101500");
    manifest->created = 1796292900;
    manifestSetString(&manifest->status, MANIFEST_STATUS_COMPLETE);
    manifestSetString(&manifest->method, "logical");
    manifestSetString(&manifest->source.uri, "bolt://secret-host.example:7687");
    manifestSetString(&manifest->source.database, "neo4j");
    manifestSetString(&manifest->compression, "none");
    manifestSetString(&manifest->archive.file, "graph.nbk");
    manifest->archive.sizeCompressed = 1234;
    manifestSetString(&manifest->archive.sha256, "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08");
    manifest->stats.nodes = 10;
    manifest->stats.relationships = 9;
    manifest->durationSeconds = 1.23456;
    manifestAddLabel(manifest, "SecretLabel", 10);
    manifestAddType(manifest, "SECRET_TYPE", 9);
    manifestAddSchemaItem(manifest, "secret_index", "RANGE", "index",
                          "CREATE INDEX secret_index FOR (n:SecretLabel) ON (n.secretProp)");
    return manifest;
}

typedef struct {
    uint8_t dataKey[MANIFEST_DATA_KEY_BYTES];
    uint8_t keySection[MANIFEST_KEY_SECTION_BYTES];
    CryptoMasterKey master;
    char *text;
} Sealed;

static void sealSample(Sealed *sealed)
{
    fill(sealed->dataKey, sizeof(sealed->dataKey), 1);
    fill(sealed->keySection, sizeof(sealed->keySection), 2);
    uint8_t masterBytes[CRYPTO_KEY_BYTES];
    fill(masterBytes, sizeof(masterBytes), 3);
    cryptoMasterKeyFromBytes(masterBytes, &sealed->master);
    uint8_t wrapped[CRYPTO_WRAPPED_KEY_BYTES];
    assert_int_equal(cryptoDataKeyWrap(&sealed->master, sealed->dataKey, wrapped), ERR_OK);
    Manifest *manifest = sampleManifest();
    assert_int_equal(manifestSeal(manifest, sealed->dataKey, wrapped, sealed->keySection), ERR_OK);
    sealed->text = manifestSerialize(manifest);
    manifestFree(manifest);
}

static Manifest *parse(const char *text)
{
    Manifest *manifest = NULL;
    assert_int_equal(manifestParse(text, strlen(text), MANIFEST_PARSE_VERIFY, &manifest), ERR_OK);
    return manifest;
}

static void testRoundTripHidesTheGraph(void **state)
{
    (void)state;
    Sealed sealed;
    sealSample(&sealed);
    for (const char *secret = "SecretLabel\0SECRET_TYPE\0secret_index\0secretProp\0secret-host\0"; *secret;
         secret += strlen(secret) + 1)
        assert_null(strstr(sealed.text, secret));
    Manifest *manifest = parse(sealed.text);
    assert_true(manifest->encryption.present);
    assert_false(manifest->privateOpen);
    assert_int_equal(manifest->stats.labelCount, 0);
    assert_int_equal(manifest->stats.nodes, 10); /* what --list shows stays plain */
    assert_int_equal(manifestUnseal(manifest, sealed.dataKey, sealed.keySection), ERR_OK);
    assert_true(manifest->privateOpen);
    assert_string_equal(manifest->source.uri, "bolt://secret-host.example:7687");
    assert_int_equal(manifest->stats.labelCount, 1);
    assert_string_equal(manifest->stats.labels[0].name, "SecretLabel");
    assert_int_equal(manifest->schemaCount, 1);
    assert_string_equal(manifest->schema[0].name, "secret_index");
    /* Serialized again (e.g. after a status update) it is the same text. */
    char *again = manifestSerialize(manifest);
    assert_string_equal(again, sealed.text);
    free(again);
    manifestFree(manifest);
    free(sealed.text);
}

static void testMutableFieldsChangeWithoutTheKey(void **state)
{
    (void)state;
    Sealed sealed;
    sealSample(&sealed);
    Manifest *manifest = parse(sealed.text);
    manifestSetString(&manifest->status, MANIFEST_STATUS_VALIDATED);
    manifest->validatedAt = 1796293000;
    manifest->keep = true;
    char *text = manifestSerialize(manifest);
    manifestFree(manifest);
    manifest = parse(text);
    assert_int_equal(manifestUnseal(manifest, sealed.dataKey, sealed.keySection), ERR_OK);
    manifestFree(manifest);
    free(text);
    free(sealed.text);
}

static void testProtectedFieldsKeySectionAndKeyAreChecked(void **state)
{
    (void)state;
    Sealed sealed;
    sealSample(&sealed);
    Manifest *manifest = parse(sealed.text);
    manifest->stats.nodes++;
    assert_int_equal(manifestUnseal(manifest, sealed.dataKey, sealed.keySection), BACKUP_CORRUPTED);
    assert_non_null(strstr(errLast()->reason, "manifest authentication failed"));
    manifestFree(manifest);

    manifest = parse(sealed.text);
    manifestSetString(&manifest->archive.sha256, "0000000000000000000000000000000000000000000000000000000000000000");
    assert_int_equal(manifestUnseal(manifest, sealed.dataKey, sealed.keySection), BACKUP_CORRUPTED);
    manifestFree(manifest);

    manifest = parse(sealed.text);
    uint8_t otherSection[MANIFEST_KEY_SECTION_BYTES];
    memcpy(otherSection, sealed.keySection, sizeof(otherSection));
    otherSection[5] ^= 1;
    assert_int_equal(manifestUnseal(manifest, sealed.dataKey, otherSection), BACKUP_CORRUPTED);
    uint8_t otherKey[MANIFEST_DATA_KEY_BYTES];
    fill(otherKey, sizeof(otherKey), 9);
    assert_int_equal(manifestUnseal(manifest, otherKey, sealed.keySection), BACKUP_CORRUPTED);
    assert_false(manifest->privateOpen);
    manifestFree(manifest);
    free(sealed.text);
}

static void testRewrapKeepsTheMac(void **state)
{
    (void)state;
    Sealed sealed;
    sealSample(&sealed);
    Manifest *manifest = parse(sealed.text);
    uint8_t wrapped[MANIFEST_WRAPPED_KEY_BYTES], rewrapped[CRYPTO_WRAPPED_KEY_BYTES];
    uint8_t newBytes[CRYPTO_KEY_BYTES], dataKey[CRYPTO_KEY_BYTES];
    fill(newBytes, sizeof(newBytes), 77);
    CryptoMasterKey newMaster;
    cryptoMasterKeyFromBytes(newBytes, &newMaster);
    assert_int_equal(manifestWrappedKey(manifest, wrapped), ERR_OK);
    assert_int_equal(cryptoDataKeyRewrap(&sealed.master, &newMaster, wrapped, sizeof(wrapped), rewrapped), ERR_OK);
    assert_int_equal(manifestSetWrappedKey(manifest, rewrapped), ERR_OK);
    char *text = manifestSerialize(manifest);
    manifestFree(manifest);
    manifest = parse(text);
    char newId[33];
    cryptoKeyIdHex(newMaster.id, newId);
    assert_string_equal(manifest->encryption.keyId, newId);
    assert_int_equal(manifestWrappedKey(manifest, wrapped), ERR_OK);
    assert_int_equal(cryptoDataKeyUnwrap(&sealed.master, wrapped, sizeof(wrapped), dataKey), BACKUP_KEY_INVALID);
    assert_int_equal(cryptoDataKeyUnwrap(&newMaster, wrapped, sizeof(wrapped), dataKey), ERR_OK);
    assert_memory_equal(dataKey, sealed.dataKey, sizeof(dataKey));
    assert_int_equal(manifestUnseal(manifest, dataKey, sealed.keySection), ERR_OK);
    manifestFree(manifest);
    free(text);
    free(sealed.text);
}

/* Replaces the first occurrence of from in text (same manifest otherwise)
 * and parses without the checksum: the parser's own checks are under test. */
static ErrCode parseEdited(const char *text, const char *from, const char *to)
{
    const char *at = strstr(text, from);
    assert_non_null(at);
    size_t length = strlen(text) - strlen(from) + strlen(to);
    char *edited = malloc(length + 1);
    size_t head = (size_t)(at - text);
    memcpy(edited, text, head);
    strcpy(edited + head, to);
    strcat(edited, at + strlen(from));
    Manifest *manifest = NULL;
    ErrCode code = manifestParse(edited, strlen(edited), 0, &manifest);
    manifestFree(manifest);
    free(edited);
    return code;
}

static void testParserRefusesMalformedEncryption(void **state)
{
    (void)state;
    Sealed sealed;
    sealSample(&sealed);
    assert_int_equal(parseEdited(sealed.text, "\"format\": 1", "\"format\": 2"), BACKUP_CORRUPTED);
    assert_int_equal(parseEdited(sealed.text, "\"key_id\": \"", "\"key_id\": \"X"), BACKUP_CORRUPTED);
    assert_int_equal(parseEdited(sealed.text, "\"mac\": \"", "\"mac\": \"0"), BACKUP_CORRUPTED);
    assert_int_equal(parseEdited(sealed.text, "\"private\": \"", "\"private\": \"*"), BACKUP_CORRUPTED);
    assert_int_equal(parseEdited(sealed.text, "\"keep\": false", "\"keep\": false, \"schema\": []"),
                     BACKUP_CORRUPTED);
    assert_int_equal(parseEdited(sealed.text, "\"database\": \"neo4j\"",
                                 "\"database\": \"neo4j\", \"uri\": \"bolt://x\""),
                     BACKUP_CORRUPTED);
    assert_int_equal(parseEdited(sealed.text, "\"keep\": false", "\"keep\": false"), ERR_OK);
    free(sealed.text);
}

int main(void)
{
    assert_int_equal(cryptoInit(), ERR_OK);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(testRoundTripHidesTheGraph),
        cmocka_unit_test(testMutableFieldsChangeWithoutTheKey),
        cmocka_unit_test(testProtectedFieldsKeySectionAndKeyAreChecked),
        cmocka_unit_test(testRewrapKeepsTheMac),
        cmocka_unit_test(testParserRefusesMalformedEncryption),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
