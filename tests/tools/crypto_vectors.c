/* Test tool for the encryption layer (src/crypto/): writes the test vectors
 * of docs/encryption.md, and opens what an independent implementation
 * (tests/e2e/test_crypto_vectors.py, PyNaCl) encrypted.
 *
 *   crypto_vectors emit       JSON vectors on stdout; all randomness comes
 *                             from a fixed seed, so the output never changes
 *   crypto_vectors open       reads a vector JSON on stdin (keys, wrapped key,
 *                             stream, manifest), prints what it decrypted;
 *                             on a failure prints "CODE: reason" on stderr
 *                             and exits with the code's exit status
 *   crypto_vectors write-archive FILE
 *                             writes a format-2 archive with src/archive from
 *                             a JSON on stdin (data key, compression, header,
 *                             records), for the independent Python reader
 *   crypto_vectors read-archive FILE KEY
 *                             reads an archive with src/archive (KEY: data key
 *                             in hex, or - for none), prints its records
 *
 * The deterministic randomness is installed here, with libsodium's
 * randombytes_set_implementation, before the library starts: the library
 * itself has no test mode, so no production path can produce fixed nonces. */
#include "archive/archive.h"
#include "crypto/block_codec.h"
#include "crypto/keys.h"
#include "crypto/manifest_auth.h"

#include <json-c/json.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

/* ---- deterministic randomness (tests only) ---- */

static uint8_t seed[randombytes_SEEDBYTES];

static void fixedBuf(void *const buffer, const size_t size)
{
    /* Each call takes the next output of ChaCha20 under the seed, then the
     * seed moves on, so successive calls never repeat. */
    randombytes_buf_deterministic(buffer, size, seed);
    crypto_generichash(seed, sizeof(seed), seed, sizeof(seed), NULL, 0);
}

static uint32_t fixedRandom(void)
{
    uint32_t value;
    fixedBuf(&value, sizeof(value));
    return value;
}

static const char *fixedName(void)
{
    return "nbk-test-vectors";
}

static struct randombytes_implementation fixedImplementation = {
    .implementation_name = fixedName,
    .random = fixedRandom,
    .stir = NULL,
    .uniform = NULL,
    .buf = fixedBuf,
    .close = NULL,
};

/* ---- hex helpers ---- */

static json_object *hexObject(const uint8_t *bytes, size_t length)
{
    char *text = malloc(2 * length + 1);
    sodium_bin2hex(text, 2 * length + 1, bytes, length);
    json_object *object = json_object_new_string(text);
    free(text);
    return object;
}

static uint8_t *hexField(json_object *object, const char *name, size_t *length)
{
    json_object *field = NULL;
    if (!json_object_object_get_ex(object, name, &field) || !json_object_is_type(field, json_type_string)) {
        fprintf(stderr, "ERR_USAGE: missing string field %s\n", name);
        exit(2);
    }
    const char *text = json_object_get_string(field);
    size_t textLength = strlen(text);
    uint8_t *bytes = malloc(textLength / 2 + 1);
    if (sodium_hex2bin(bytes, textLength / 2 + 1, text, textLength, NULL, length, NULL) != 0) {
        fprintf(stderr, "ERR_USAGE: field %s is not hex\n", name);
        exit(2);
    }
    return bytes;
}

static void fail(ErrCode code)
{
    fprintf(stderr, "%s: %s\n", errName(code), errLast()->reason);
    exit(errExitStatus(code));
}

/* ---- whole format-2 archives, by src/archive (docs/archive-format.md, section 9) ---- */

/* Reads the whole of a descriptor (from its start) into a buffer. */
static void readAll(int fd, Buffer *into)
{
    uint8_t chunk[65536];
    ssize_t got;
    lseek(fd, 0, SEEK_SET);
    while ((got = read(fd, chunk, sizeof(chunk))) > 0) {
        bufferAppend(into, chunk, (size_t)got);
    }
}

typedef struct {
    ArcRecordKind kind;
    const uint8_t *bytes;
    size_t length;
} VectorRecord;

/* Writes records with the archive writer into a memory file; returns its bytes. */
static void writeArchive(const uint8_t dataKey[CRYPTO_KEY_BYTES], ArcCompression compression, size_t blockSize,
                         const uint8_t *header, size_t headerLength, const VectorRecord *records, size_t count,
                         Buffer *file)
{
    int fd = memfd_create("crypto-vectors", MFD_CLOEXEC);
    int keep = fd >= 0 ? dup(fd) : -1;
    ArcWriterOptions options = {.compression = compression, .blockSize = blockSize, .dataKey = dataKey};
    ArcWriter *writer = NULL;
    ErrCode code = keep < 0 ? errSet(ERR_INTERNAL, "memfd_create failed")
                            : arcWriterOpenFdWith(&writer, fd, "vectors", &options, header, headerLength);
    for (size_t i = 0; code == ERR_OK && i < count; i++) {
        code = arcWriterAdd(writer, records[i].kind, records[i].bytes, records[i].length);
    }
    if (code == ERR_OK) {
        code = arcWriterFinish(writer, NULL);
    }
    arcWriterFree(writer);
    if (code != ERR_OK) {
        fail(code);
    }
    readAll(keep, file);
    close(keep);
}

/* The example of docs/archive-format.md section 3 (header map {v: 1}, records
 * S "abc", N "", R "xyz12"), as format 2 with compression none. */
static json_object *archiveVector(const uint8_t dataKey[CRYPTO_KEY_BYTES])
{
    static const uint8_t headerMap[] = {0xA1, 0x81, 0x76, 0x01};
    const VectorRecord records[] = {
        {ARC_RECORD_SCHEMA, (const uint8_t *)"abc", 3},
        {ARC_RECORD_NODE, (const uint8_t *)"", 0},
        {ARC_RECORD_RELATIONSHIP, (const uint8_t *)"xyz12", 5},
    };
    Buffer file;
    bufferInit(&file);
    writeArchive(dataKey, ARC_COMPRESSION_NONE, 0, headerMap, sizeof(headerMap), records, 3, &file);
    json_object *object = hexObject(file.data, file.length);
    bufferFree(&file);
    return object;
}

/* write-archive: stdin {"data_key", "compression", "block_size", "header",
 * "records": [[kind, hex], ...]}; the archive's bytes go to path. */
static int writeArchiveCommand(const char *path)
{
    if (cryptoInit() != ERR_OK) {
        fail(ERR_INTERNAL);
    }
    json_object *root = json_object_from_fd(0);
    if (root == NULL) {
        fprintf(stderr, "ERR_USAGE: stdin is not JSON\n");
        return 2;
    }
    size_t length = 0;
    uint8_t *dataKey = hexField(root, "data_key", &length);
    json_object *field = NULL;
    ArcCompression compression = ARC_COMPRESSION_ZSTD;
    if (length != CRYPTO_KEY_BYTES || !json_object_object_get_ex(root, "compression", &field) ||
        arcCompressionParse(json_object_get_string(field), &compression) != ERR_OK) {
        fprintf(stderr, "ERR_USAGE: data_key must be 32 bytes, compression none, gzip or zstd\n");
        return 2;
    }
    size_t blockSize = json_object_object_get_ex(root, "block_size", &field) ? (size_t)json_object_get_int64(field) : 0;
    size_t headerLength = 0;
    uint8_t *header = hexField(root, "header", &headerLength);
    json_object *array = NULL;
    json_object_object_get_ex(root, "records", &array);
    size_t count = array ? json_object_array_length(array) : 0;
    VectorRecord *records = calloc(count + 1, sizeof(*records));
    uint8_t **owned = calloc(count + 1, sizeof(*owned));
    for (size_t i = 0; i < count; i++) {
        json_object *pair = json_object_array_get_idx(array, i);
        json_object *holder = json_object_new_object();
        json_object_object_add(holder, "bytes", json_object_get(json_object_array_get_idx(pair, 1)));
        records[i].kind = (ArcRecordKind)json_object_get_string(json_object_array_get_idx(pair, 0))[0];
        owned[i] = hexField(holder, "bytes", &records[i].length);
        records[i].bytes = owned[i];
        json_object_put(holder);
    }
    Buffer file;
    bufferInit(&file);
    writeArchive(dataKey, compression, blockSize, header, headerLength, records, count, &file);
    FILE *out = fopen(path, "wbx");
    if (out == NULL || fwrite(file.data, 1, file.length, out) != file.length || fclose(out) != 0) {
        fprintf(stderr, "BACKUP_IO_FAILED: cannot write %s\n", path);
        return 2;
    }
    for (size_t i = 0; i < count; i++) {
        free(owned[i]);
    }
    free(owned);
    free(records);
    free(header);
    free(dataKey);
    bufferFree(&file);
    json_object_put(root);
    return 0;
}

/* read-archive: opens path with the data key (hex, or "-" for none) and
 * prints {"encrypted", "compression", "header", "records": [[kind, hex]...]}. */
static int readArchiveCommand(const char *path, const char *keyHex)
{
    uint8_t dataKey[CRYPTO_KEY_BYTES];
    size_t keyLength = 0;
    bool haveKey = strcmp(keyHex, "-") != 0;
    if (haveKey && (sodium_hex2bin(dataKey, sizeof(dataKey), keyHex, strlen(keyHex), NULL, &keyLength, NULL) != 0 ||
                    keyLength != sizeof(dataKey))) {
        fprintf(stderr, "ERR_USAGE: the data key must be 64 hex digits\n");
        return 2;
    }
    ArcReader *reader = NULL;
    ErrCode code = arcReaderOpenWith(&reader, path, haveKey ? dataKey : NULL);
    if (code != ERR_OK) {
        fail(code);
    }
    json_object *out = json_object_new_object();
    json_object_object_add(out, "encrypted", json_object_new_boolean(arcReaderEncrypted(reader)));
    json_object_object_add(out, "compression",
                           json_object_new_string(arcCompressionName(arcReaderCompression(reader))));
    size_t headerLength = 0;
    const uint8_t *header = arcReaderHeader(reader, &headerLength);
    json_object_object_add(out, "header", hexObject(header, headerLength));
    json_object *records = json_object_new_array();
    for (;;) {
        ArcRecordKind kind;
        const uint8_t *packed = NULL;
        size_t length = 0;
        if ((code = arcReaderNext(reader, &kind, &packed, &length)) != ERR_OK) {
            fail(code);
        }
        if (packed == NULL) {
            break;
        }
        json_object *pair = json_object_new_array();
        char kindText[2] = {(char)kind, '\0'};
        json_object_array_add(pair, json_object_new_string(kindText));
        json_object_array_add(pair, hexObject(packed, length));
        json_object_array_add(records, pair);
    }
    json_object_object_add(out, "records", records);
    arcReaderFree(reader);
    puts(json_object_to_json_string_ext(out, JSON_C_TO_STRING_PLAIN));
    json_object_put(out);
    return 0;
}

/* ---- the vectors ---- */

static const char *const blockKinds = "HBBF";
static const char *const blockPlains[] = {"header section", "records: block one", "", "footer section"};
static const char *const fieldNames[] = {"id", "created", "type", "status", "parent", "node_count", "archive_sha256"};
static const char *const fieldValues[] = {
    "2026-12-02T091500Z", "1796202900", "logical", "COMPLETE", "", "1000",
    "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
};
static const char privatePart[] = "{\"labels\":[\"Person\"],\"schema\":[\"CREATE INDEX person_name FOR (p:Person) ON (p.name)\"]}";
static const char passphrase[] = "correct horse battery staple";

static CryptoManifestField *manifestFields(json_object *array, size_t *count)
{
    size_t length = json_object_array_length(array);
    CryptoManifestField *fields = calloc(length + 1, sizeof(*fields));
    for (size_t i = 0; i < length; i++) {
        json_object *pair = json_object_array_get_idx(array, i);
        fields[i].name = json_object_get_string(json_object_array_get_idx(pair, 0));
        const char *value = json_object_get_string(json_object_array_get_idx(pair, 1));
        fields[i].value = (const uint8_t *)value;
        fields[i].valueLength = strlen(value);
    }
    *count = length;
    return fields;
}

static int emit(void)
{
    memset(seed, 0, sizeof(seed));
    memcpy(seed, "nbk test vectors v1", 19);
    randombytes_set_implementation(&fixedImplementation);
    if (cryptoInit() != ERR_OK) {
        fail(ERR_INTERNAL);
    }
    json_object *root = json_object_new_object();

    uint8_t masterBytes[CRYPTO_KEY_BYTES];
    for (int i = 0; i < CRYPTO_KEY_BYTES; i++) {
        masterBytes[i] = (uint8_t)i;
    }
    CryptoMasterKey master;
    cryptoMasterKeyFromBytes(masterBytes, &master);
    json_object_object_add(root, "master_key", hexObject(master.key, CRYPTO_KEY_BYTES));
    json_object_object_add(root, "key_id", hexObject(master.id, CRYPTO_KEY_ID_BYTES));

    uint8_t dataKey[CRYPTO_KEY_BYTES];
    uint8_t wrapped[CRYPTO_WRAPPED_KEY_BYTES];
    cryptoDataKeyGenerate(dataKey);
    cryptoDataKeyWrap(&master, dataKey, wrapped);
    json_object_object_add(root, "data_key", hexObject(dataKey, sizeof(dataKey)));
    json_object_object_add(root, "wrapped_key", hexObject(wrapped, sizeof(wrapped)));
    uint8_t subkey[32];
    cryptoSubkeyDerive(dataKey, CRYPTO_SUBKEY_STREAM, subkey);
    json_object_object_add(root, "stream_key", hexObject(subkey, sizeof(subkey)));
    cryptoSubkeyDerive(dataKey, CRYPTO_SUBKEY_MANIFEST_MAC, subkey);
    json_object_object_add(root, "manifest_mac_key", hexObject(subkey, sizeof(subkey)));
    cryptoSubkeyDerive(dataKey, CRYPTO_SUBKEY_MANIFEST_SEAL, subkey);
    json_object_object_add(root, "manifest_seal_key", hexObject(subkey, sizeof(subkey)));
    uint8_t keyCheck[CRYPTO_KEY_CHECK_BYTES];
    cryptoKeyCheckCompute(dataKey, keyCheck);
    json_object_object_add(root, "key_check", hexObject(keyCheck, sizeof(keyCheck)));

    CryptoBlockCodec codec;
    uint8_t header[CRYPTO_STREAM_HEADER_BYTES];
    cryptoEncryptorInit(&codec, dataKey, header);
    json_object_object_add(root, "stream_header", hexObject(header, sizeof(header)));
    json_object *blocks = json_object_new_array();
    for (size_t i = 0; i < strlen(blockKinds); i++) {
        uint8_t cipher[64];
        size_t cipherLength = 0;
        size_t plainLength = strlen(blockPlains[i]);
        cryptoEncryptBlock(&codec, (uint8_t)blockKinds[i], (const uint8_t *)blockPlains[i], plainLength,
                           i + 1 == strlen(blockKinds), cipher, &cipherLength);
        json_object *block = json_object_new_object();
        char kind[2] = {blockKinds[i], '\0'};
        json_object_object_add(block, "kind", json_object_new_string(kind));
        json_object_object_add(block, "plain", hexObject((const uint8_t *)blockPlains[i], plainLength));
        json_object_object_add(block, "cipher", hexObject(cipher, cipherLength));
        json_object_array_add(blocks, block);
    }
    json_object_object_add(root, "blocks", blocks);

    size_t fieldCount = sizeof(fieldNames) / sizeof(fieldNames[0]);
    CryptoManifestField fields[sizeof(fieldNames) / sizeof(fieldNames[0])];
    json_object *fieldArray = json_object_new_array();
    for (size_t i = 0; i < fieldCount; i++) {
        fields[i] = (CryptoManifestField){fieldNames[i], (const uint8_t *)fieldValues[i], strlen(fieldValues[i])};
        json_object *pair = json_object_new_array();
        json_object_array_add(pair, json_object_new_string(fieldNames[i]));
        json_object_array_add(pair, json_object_new_string(fieldValues[i]));
        json_object_array_add(fieldArray, pair);
    }
    json_object_object_add(root, "manifest_fields", fieldArray);
    Buffer canonical;
    bufferInit(&canonical);
    cryptoManifestCanonical(fields, fieldCount, &canonical);
    json_object_object_add(root, "manifest_canonical", hexObject(canonical.data, canonical.length));
    bufferFree(&canonical);
    uint8_t mac[CRYPTO_MANIFEST_MAC_BYTES];
    cryptoManifestMac(dataKey, fields, fieldCount, mac);
    json_object_object_add(root, "manifest_mac", hexObject(mac, sizeof(mac)));
    Buffer sealed;
    bufferInit(&sealed);
    cryptoManifestSeal(dataKey, mac, (const uint8_t *)privatePart, strlen(privatePart), &sealed);
    json_object_object_add(root, "private_plain", json_object_new_string(privatePart));
    json_object_object_add(root, "private_sealed", hexObject(sealed.data, sealed.length));
    bufferFree(&sealed);

    CryptoKeyRecord record;
    CryptoMasterKey fromPassphrase;
    if (cryptoKeyRecordCreate(passphrase, strlen(passphrase), crypto_pwhash_OPSLIMIT_MIN, crypto_pwhash_MEMLIMIT_MIN,
                              &record, &fromPassphrase) != ERR_OK) {
        fail(errLast()->code);
    }
    uint8_t encodedRecord[CRYPTO_KEY_RECORD_BYTES];
    cryptoKeyRecordEncode(&record, encodedRecord);
    json_object_object_add(root, "passphrase", json_object_new_string(passphrase));
    json_object_object_add(root, "key_record", hexObject(encodedRecord, sizeof(encodedRecord)));
    json_object_object_add(root, "passphrase_key", hexObject(fromPassphrase.key, CRYPTO_KEY_BYTES));
    json_object_object_add(root, "archive", archiveVector(dataKey));

    puts(json_object_to_json_string_ext(root, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED |
                                                  JSON_C_TO_STRING_NOSLASHESCAPE));
    json_object_put(root);
    return 0;
}

static int openVectors(void)
{
    if (cryptoInit() != ERR_OK) {
        fail(ERR_INTERNAL);
    }
    json_object *root = json_object_from_fd(0);
    if (root == NULL) {
        fprintf(stderr, "ERR_USAGE: stdin is not JSON\n");
        return 2;
    }
    json_object *out = json_object_new_object();
    size_t length = 0;
    uint8_t *masterBytes = hexField(root, "master_key", &length);
    if (length != CRYPTO_KEY_BYTES) {
        fprintf(stderr, "ERR_USAGE: master_key must be 32 bytes\n");
        return 2;
    }
    CryptoMasterKey master;
    cryptoMasterKeyFromBytes(masterBytes, &master);
    json_object_object_add(out, "key_id", hexObject(master.id, CRYPTO_KEY_ID_BYTES));

    uint8_t *wrapped = hexField(root, "wrapped_key", &length);
    uint8_t dataKey[CRYPTO_KEY_BYTES];
    ErrCode code = cryptoDataKeyUnwrap(&master, wrapped, length, dataKey);
    if (code != ERR_OK) {
        fail(code);
    }
    json_object_object_add(out, "data_key", hexObject(dataKey, sizeof(dataKey)));

    uint8_t *header = hexField(root, "stream_header", &length);
    if (length != CRYPTO_STREAM_HEADER_BYTES) {
        errSet(BACKUP_CORRUPTED, "stream header of %zu bytes", length);
        fail(BACKUP_CORRUPTED);
    }
    CryptoBlockCodec codec;
    if ((code = cryptoDecryptorInit(&codec, dataKey, header)) != ERR_OK) {
        fail(code);
    }
    json_object *blocks = NULL;
    json_object_object_get_ex(root, "blocks", &blocks);
    json_object *plains = json_object_new_array();
    for (size_t i = 0; blocks != NULL && i < json_object_array_length(blocks); i++) {
        json_object *block = json_object_array_get_idx(blocks, i);
        json_object *kind = NULL;
        json_object_object_get_ex(block, "kind", &kind);
        uint8_t *cipher = hexField(block, "cipher", &length);
        uint8_t *plain = malloc(length + 1);
        size_t plainLength = 0;
        code = cryptoDecryptBlock(&codec, (uint8_t)json_object_get_string(kind)[0], cipher, length, plain,
                                  &plainLength, NULL);
        if (code != ERR_OK) {
            fail(code);
        }
        json_object_array_add(plains, hexObject(plain, plainLength));
        free(cipher);
        free(plain);
    }
    if ((code = cryptoDecryptorFinish(&codec)) != ERR_OK) {
        fail(code);
    }
    json_object_object_add(out, "blocks", plains);

    json_object *fieldArray = NULL;
    if (json_object_object_get_ex(root, "manifest_fields", &fieldArray)) {
        size_t fieldCount = 0;
        CryptoManifestField *fields = manifestFields(fieldArray, &fieldCount);
        uint8_t *mac = hexField(root, "manifest_mac", &length);
        if ((code = cryptoManifestVerify(dataKey, fields, fieldCount, mac, length)) != ERR_OK) {
            fail(code);
        }
        uint8_t *sealed = hexField(root, "private_sealed", &length);
        Buffer opened;
        bufferInit(&opened);
        if ((code = cryptoManifestOpen(dataKey, mac, sealed, length, &opened)) != ERR_OK) {
            fail(code);
        }
        bufferAppendByte(&opened, 0);
        json_object_object_add(out, "private_plain", json_object_new_string((const char *)opened.data));
        bufferFree(&opened);
        free(mac);
        free(sealed);
        free(fields);
    }

    json_object *passphraseObject = NULL;
    if (json_object_object_get_ex(root, "passphrase", &passphraseObject)) {
        uint8_t *recordBytes = hexField(root, "key_record", &length);
        CryptoKeyRecord record;
        if ((code = cryptoKeyRecordDecode(recordBytes, length, &record)) != ERR_OK) {
            fail(code);
        }
        const char *text = json_object_get_string(passphraseObject);
        CryptoMasterKey derived;
        if ((code = cryptoKeyFromPassphrase(text, strlen(text), &record, &derived)) != ERR_OK) {
            fail(code);
        }
        json_object_object_add(out, "passphrase_key", hexObject(derived.key, CRYPTO_KEY_BYTES));
        free(recordBytes);
    }
    puts(json_object_to_json_string_ext(out, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED));
    json_object_put(out);
    json_object_put(root);
    free(masterBytes);
    free(wrapped);
    free(header);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 2 && strcmp(argv[1], "emit") == 0) {
        return emit();
    }
    if (argc == 2 && strcmp(argv[1], "open") == 0) {
        return openVectors();
    }
    if (argc == 3 && strcmp(argv[1], "write-archive") == 0) {
        return writeArchiveCommand(argv[2]);
    }
    if (argc == 4 && strcmp(argv[1], "read-archive") == 0) {
        return readArchiveCommand(argv[2], argv[3]);
    }
    fprintf(stderr, "usage: crypto_vectors emit | open < vectors.json\n"
                    "       crypto_vectors write-archive FILE < archive.json\n"
                    "       crypto_vectors read-archive FILE DATA_KEY_HEX|-\n");
    return 2;
}
