/* Keys of an encrypted repository (catalog/catalog_key.h). */
#include "catalog/catalog_key.h"

#include "archive/archive.h"
#include "catalog/catalog_file.h"
#include "catalog/validate.h"
#include "common/buffer.h"

#include <sodium.h>
#include <stdio.h>
#include <string.h>

static bool catKeySet(const Config *config, CfgKey key) { return cfgGet(config, key) != NULL; }

bool catKeyNeedsRepository(const Config *config)
{
    return catKeySet(config, CFG_BACKUP_ENCRYPTION_PASSPHRASE) || catKeySet(config, CFG_BACKUP_ENCRYPTION_PASSPHRASE_FILE);
}

bool catKeyConfigured(const Config *config)
{
    return catKeySet(config, CFG_BACKUP_ENCRYPTION_KEY_FILE) || catKeyNeedsRepository(config);
}

ErrCode catKeyRecordLoad(Catalog *catalog, CryptoKeyRecord *out, bool *found)
{
    *found = false;
    Buffer content;
    bufferInit(&content);
    ErrCode code = catFileReadAll(catStorage(catalog), CAT_KEY_RECORD_NAME, 4096, &content);
    if (code == BACKUP_NOT_FOUND) {
        bufferFree(&content);
        return ERR_OK;
    }
    if (code == ERR_OK) {
        code = cryptoKeyRecordDecode(content.data, content.length, out);
        *found = code == ERR_OK;
    }
    bufferFree(&content);
    return code;
}

ErrCode catKeyRecordSave(Catalog *catalog, const CryptoKeyRecord *record)
{
    uint8_t bytes[CRYPTO_KEY_RECORD_BYTES];
    cryptoKeyRecordEncode(record, bytes);
    StorageWrite *writer = NULL;
    ErrCode code = storageWriteOpen(catStorage(catalog), CAT_KEY_RECORD_NAME, STORAGE_WRITE_NO_REPLACE, &writer);
    if (code != ERR_OK)
        return code;
    code = storageWrite(writer, bytes, sizeof(bytes));
    if (code != ERR_OK) {
        storageWriteAbort(writer);
        return code;
    }
    return storageWriteCommit(writer);
}

/* The passphrase's key: under the repository's record, or a new record. */
static ErrCode catKeyFromPassphrase(const Config *config, Catalog *catalog, bool createRecord, const char *passphrase,
                                    CryptoMasterKey *out)
{
    if (!catalog)
        return errSet(ERR_INTERNAL, "a passphrase needs the repository's key record and no repository is open");
    CryptoKeyRecord record;
    bool found = false;
    ErrCode code = catKeyRecordLoad(catalog, &record, &found);
    if (code != ERR_OK) {
        errAddContext("key record %s", CAT_KEY_RECORD_NAME);
        return code;
    }
    if (found)
        return cryptoKeyFromPassphrase(passphrase, strlen(passphrase), &record, out);
    if (!createRecord) {
        errSet(BACKUP_KEY_INVALID,
               "the repository has no key record (%s): no backup in it was encrypted with a passphrase",
               CAT_KEY_RECORD_NAME);
        errSetAction("Use the key file the backups were made with (BACKUP_ENCRYPTION_KEY_FILE)");
        return BACKUP_KEY_INVALID;
    }
    int64_t memoryMib = 256, passes = 3;
    code = cfgGetInt(config, CFG_BACKUP_ENCRYPTION_ARGON2_MEMORY_MIB, &memoryMib);
    if (code == ERR_OK)
        code = cfgGetInt(config, CFG_BACKUP_ENCRYPTION_ARGON2_PASSES, &passes);
    if (code == ERR_OK)
        code = cryptoKeyRecordCreate(passphrase, strlen(passphrase), (uint64_t)passes,
                                     (uint64_t)memoryMib * 1024u * 1024u, &record, out);
    if (code == ERR_OK)
        code = catKeyRecordSave(catalog, &record);
    if (code != ERR_OK) {
        cryptoMasterKeyWipe(out);
        /* Another run created the record first: use that one. */
        bool raced = false;
        if (catKeyRecordLoad(catalog, &record, &raced) == ERR_OK && raced)
            return cryptoKeyFromPassphrase(passphrase, strlen(passphrase), &record, out);
    }
    return code;
}

ErrCode catMasterKeyConfigured(const Config *config, Catalog *catalog, bool createRecord, CryptoMasterKey *out,
                               bool *present)
{
    memset(out, 0, sizeof(*out));
    *present = false;
    const char *keyFile = cfgGet(config, CFG_BACKUP_ENCRYPTION_KEY_FILE);
    bool passphraseSet = catKeyNeedsRepository(config);
    if (keyFile && passphraseSet) {
        errSet(CONFIG_INVALID, "BACKUP_ENCRYPTION_KEY_FILE and BACKUP_ENCRYPTION_PASSPHRASE are both set");
        errSetAction("Set only one of them: the key file, or the passphrase (or its _FILE)");
        return CONFIG_INVALID;
    }
    ErrCode code = ERR_OK;
    if (keyFile) {
        code = cryptoKeyFileRead(keyFile, out);
    } else if (passphraseSet) {
        char *passphrase = NULL;
        code = cfgGetSecret(config, CFG_BACKUP_ENCRYPTION_PASSPHRASE, &passphrase);
        if (code == ERR_OK && (!passphrase || !passphrase[0]))
            code = errSet(CONFIG_INVALID, "BACKUP_ENCRYPTION_PASSPHRASE is empty");
        if (code == ERR_OK)
            code = catKeyFromPassphrase(config, catalog, createRecord, passphrase, out);
        cfgSecretFree(passphrase);
    } else {
        return ERR_OK;
    }
    if (code != ERR_OK) {
        cryptoMasterKeyWipe(out);
        return code;
    }
    *present = true;
    return ERR_OK;
}

ErrCode catNewMasterKeyConfigured(const Config *config, CryptoMasterKey *out, bool *present)
{
    memset(out, 0, sizeof(*out));
    *present = false;
    const char *keyFile = cfgGet(config, CFG_BACKUP_ENCRYPTION_NEW_KEY_FILE);
    if (!keyFile)
        return ERR_OK;
    ErrCode code = cryptoKeyFileRead(keyFile, out);
    if (code != ERR_OK) {
        errAddContext("BACKUP_ENCRYPTION_NEW_KEY_FILE");
        cryptoMasterKeyWipe(out);
        return code;
    }
    *present = true;
    return ERR_OK;
}

bool catEntryEncrypted(const CatEntry *entry)
{
    return entry->manifest && entry->manifest->encryption.present;
}

ErrCode catEntryUnlock(Catalog *catalog, CatEntry *entry, const CryptoMasterKey *key)
{
    if (!entry->manifest)
        return errSet(BACKUP_CORRUPTED, "%s", entry->damage);
    if (!entry->manifest->encryption.present || entry->unlocked)
        return ERR_OK;
    Manifest *manifest = entry->manifest;
    if (!key)
        return errSet(BACKUP_KEY_REQUIRED, "backup %s is encrypted (master key id %s) and no key was given",
                      entry->id, manifest->encryption.keyId);
    uint8_t wrapped[MANIFEST_WRAPPED_KEY_BYTES];
    ErrCode code = manifestWrappedKey(manifest, wrapped);
    if (code == ERR_OK)
        code = cryptoDataKeyUnwrap(key, wrapped, sizeof(wrapped), entry->dataKey);
    if (code != ERR_OK) {
        if (code == BACKUP_KEY_INVALID)
            errAddContext("backup %s", entry->id);
        sodium_memzero(entry->dataKey, sizeof(entry->dataKey));
        return code;
    }
    char name[512];
    ArcLocation archive;
    uint8_t keySection[ARC_KEY_SECTION_BYTES];
    code = catArchiveLocation(catalog, entry, NULL, name, sizeof(name), &archive);
    if (code == ERR_OK)
        code = arcKeySectionAt(&archive, keySection);
    if (code == ERR_OK)
        code = manifestUnseal(manifest, entry->dataKey, keySection);
    if (code != ERR_OK) {
        sodium_memzero(entry->dataKey, sizeof(entry->dataKey));
        return code;
    }
    entry->unlocked = true;
    return ERR_OK;
}

typedef struct {
    const CryptoMasterKey *oldKey;
    const CryptoMasterKey *newKey;
    bool dryRun;
    CatRotateOutcome outcome;
} CatRotateEdit;

static ErrCode catRotateEditor(Manifest *manifest, void *payload)
{
    CatRotateEdit *edit = payload;
    if (!manifest->encryption.present) {
        edit->outcome = CAT_ROTATE_UNENCRYPTED;
        return ERR_USAGE; /* nothing to save */
    }
    char newId[2 * CRYPTO_KEY_ID_BYTES + 1];
    cryptoKeyIdHex(edit->newKey->id, newId);
    if (manifest->encryption.keyId && strcmp(manifest->encryption.keyId, newId) == 0) {
        edit->outcome = CAT_ROTATE_ALREADY;
        return ERR_USAGE;
    }
    uint8_t wrapped[MANIFEST_WRAPPED_KEY_BYTES], rewrapped[CRYPTO_WRAPPED_KEY_BYTES];
    ErrCode code = manifestWrappedKey(manifest, wrapped);
    if (code == ERR_OK)
        code = cryptoDataKeyRewrap(edit->oldKey, edit->newKey, wrapped, sizeof(wrapped), rewrapped);
    if (code == ERR_OK && !edit->dryRun)
        code = manifestSetWrappedKey(manifest, rewrapped);
    edit->outcome = code == ERR_OK ? CAT_ROTATE_REWRAPPED : CAT_ROTATE_FAILED;
    if (code == ERR_OK && edit->dryRun)
        return ERR_USAGE; /* checked, not saved */
    return code;
}

ErrCode catRotateKey(Catalog *catalog, const CryptoMasterKey *oldKey, const CryptoMasterKey *newKey, bool dryRun,
                     CatRotateReport report, void *payload, CatRotateResult *out)
{
    memset(out, 0, sizeof(*out));
    CatList list;
    ErrCode code = catList(catalog, &list);
    if (code != ERR_OK)
        return code;
    ErrCode last = ERR_OK;
    ErrDetail lastDetail = errSave();
    for (size_t index = 0; index < list.count; index++) {
        const CatEntry *entry = &list.entries[index];
        CatRotateEdit edit = {oldKey, newKey, dryRun, CAT_ROTATE_FAILED};
        if (!entry->manifest) {
            errSet(BACKUP_CORRUPTED, "%s", entry->damage);
            code = BACKUP_CORRUPTED;
        } else if (!entry->manifest->encryption.present) {
            edit.outcome = CAT_ROTATE_UNENCRYPTED;
            code = ERR_OK;
        } else {
            code = catManifestUpdate(catalog, entry->id, catRotateEditor, &edit);
            if (code == ERR_USAGE && edit.outcome != CAT_ROTATE_FAILED)
                code = ERR_OK;
        }
        if (code != ERR_OK)
            edit.outcome = CAT_ROTATE_FAILED;
        switch (edit.outcome) {
        case CAT_ROTATE_REWRAPPED: out->rewrapped++; break;
        case CAT_ROTATE_ALREADY: out->already++; break;
        case CAT_ROTATE_UNENCRYPTED: out->unencrypted++; break;
        case CAT_ROTATE_FAILED:
            out->failed++;
            last = code;
            lastDetail = errSave();
            break;
        }
        if (report)
            report(entry->id, edit.outcome, payload);
    }
    catListFree(&list);
    if (last != ERR_OK)
        errRestore(&lastDetail);
    return last;
}
