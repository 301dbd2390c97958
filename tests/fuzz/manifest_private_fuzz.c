/* Fuzz target: the private part of an encrypted manifest (manifestUnseal,
 * src/catalog/manifest.c) as it is read back from a repository. The input is
 * sealed under a valid MAC with the fuzz data key, so the JSON reader behind
 * the authentication is reached with arbitrary bytes: it must never crash,
 * leak or hang; what it accepts must seal, serialize, parse and open again
 * to the same private members. The first byte, when odd, also flips one bit
 * of the sealed bytes, which must then be refused.
 * Build: cmake -DNBK_FUZZ=ON -DCMAKE_C_COMPILER=clang; run: ./manifest_private_fuzz corpus/ */
#include "catalog/manifest.h"
#include "crypto/keys.h"
#include "crypto/manifest_auth.h"

#include <sodium.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static Manifest *fuzzManifest(const uint8_t dataKey[32], const uint8_t keySection[42])
{
    static CryptoMasterKey master;
    static int ready;
    if (!ready) {
        uint8_t bytes[CRYPTO_KEY_BYTES] = {7};
        if (cryptoInit() != ERR_OK)
            abort();
        cryptoMasterKeyFromBytes(bytes, &master);
        ready = 1;
    }
    Manifest *manifest = manifestNew();
    manifestSetString(&manifest->id, "neo4j-20261203-101500");
    manifest->created = 1796292900;
    manifestSetString(&manifest->status, MANIFEST_STATUS_COMPLETE);
    manifestSetString(&manifest->archive.file, "graph.nbk");
    uint8_t wrapped[CRYPTO_WRAPPED_KEY_BYTES];
    if (cryptoDataKeyWrap(&master, dataKey, wrapped) != ERR_OK ||
        manifestSeal(manifest, dataKey, wrapped, keySection) != ERR_OK)
        abort();
    return manifest;
}

static void fuzzSetSealed(Manifest *manifest, const uint8_t *sealed, size_t length)
{
    size_t encoded = sodium_base64_encoded_len(length, sodium_base64_VARIANT_ORIGINAL);
    char *base64 = malloc(encoded);
    if (!base64)
        abort();
    sodium_bin2base64(base64, encoded, sealed, length, sodium_base64_VARIANT_ORIGINAL);
    free(manifest->encryption.sealed);
    manifest->encryption.sealed = base64;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > 65536)
        return 0;
    uint8_t dataKey[32], keySection[42];
    memset(dataKey, 0x5a, sizeof(dataKey));
    memset(keySection, 0xa5, sizeof(keySection));
    Manifest *manifest = fuzzManifest(dataKey, keySection);
    uint8_t mac[CRYPTO_MANIFEST_MAC_BYTES];
    size_t macLength = 0;
    if (sodium_hex2bin(mac, sizeof(mac), manifest->encryption.mac, 64, NULL, &macLength, NULL) != 0)
        abort();
    Buffer sealed;
    bufferInit(&sealed);
    if (cryptoManifestSeal(dataKey, mac, data + 1, size - 1, &sealed) != ERR_OK)
        abort();
    bool flip = (data[0] & 1) != 0;
    if (flip)
        sealed.data[data[0] % sealed.length] ^= 0x10;
    fuzzSetSealed(manifest, sealed.data, sealed.length);
    bufferFree(&sealed);
    ErrCode code = manifestUnseal(manifest, dataKey, keySection);
    if (flip && code == ERR_OK)
        abort(); /* a changed private part opened */
    if (code == ERR_OK) {
        /* Accepted: sealed again, written and read back, it opens the same. */
        uint8_t wrapped[MANIFEST_WRAPPED_KEY_BYTES];
        if (manifestWrappedKey(manifest, wrapped) != ERR_OK ||
            manifestSeal(manifest, dataKey, wrapped, keySection) != ERR_OK)
            abort();
        char *text = manifestSerialize(manifest);
        Manifest *again = NULL;
        if (manifestParse(text, strlen(text), MANIFEST_PARSE_VERIFY, &again) != ERR_OK ||
            manifestUnseal(again, dataKey, keySection) != ERR_OK ||
            again->stats.labelCount != manifest->stats.labelCount ||
            again->stats.typeCount != manifest->stats.typeCount || again->schemaCount != manifest->schemaCount ||
            (manifest->source.uri == NULL) != (again->source.uri == NULL))
            abort();
        manifestFree(again);
        free(text);
    }
    manifestFree(manifest);
    return 0;
}
