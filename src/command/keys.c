/* The key commands of neo4j-backup (issue 14, docs/encryption.md):
 * --generate-key writes a new master key file. The key itself never reaches
 * the log; its id (a keyed hash, safe to show) does. */
#include "command/command.h"
#include "command/support.h"
#include "catalog/catalog_key.h"
#include "common/format.h"
#include "common/log.h"
#include "crypto/keys.h"

ErrCode cmdGenerateKey(CommandContext *context, const char *path)
{
    if (context->dryRun) {
        logInfo("Dry run: would write a new encryption key to %s (mode 0600)", path);
        return ERR_OK;
    }
    logInfo("Generating a new encryption key...");
    uint8_t id[CRYPTO_KEY_ID_BYTES];
    ErrCode code = cryptoKeyFileGenerate(path, id);
    if (code != ERR_OK) {
        logErrorBlock("Failed to generate encryption key", false);
        return code;
    }
    char idHex[2 * CRYPTO_KEY_ID_BYTES + 1];
    cryptoKeyIdHex(id, idHex);
    logInfo("Key file: %s (mode 0600)", path);
    logInfo("Key ID: %s", idHex);
    logInfo("Keep a copy of this file somewhere safe: without it, encrypted backups cannot be restored");
    logSuccess("Encryption key generated");
    return ERR_OK;
}

typedef struct {
    bool dryRun;
} RotateReport;

static void rotateReport(const char *id, CatRotateOutcome outcome, void *payload)
{
    const RotateReport *report = payload;
    char safe[256];
    fmtPrintable(safe, sizeof(safe), id);
    switch (outcome) {
    case CAT_ROTATE_REWRAPPED:
        logInfo("%s: data key %s", safe, report->dryRun ? "would be re-wrapped (dry run)" : "re-wrapped");
        break;
    case CAT_ROTATE_ALREADY:
        logInfo("%s: already wrapped by the new key", safe);
        break;
    case CAT_ROTATE_UNENCRYPTED:
        logInfo("%s: not encrypted, nothing to do", safe);
        break;
    case CAT_ROTATE_FAILED:
        logError("%s: %s", safe, errLast()->reason);
        break;
    }
}

/* --rotate-key: every backup's data key re-wrapped for the new master key
 * (docs/encryption.md section 1.4); the archives stay as they are. */
ErrCode cmdRotateKey(CommandContext *context)
{
    Catalog *catalog = NULL;
    CryptoMasterKey oldKey, newKey;
    bool hasOld = false, hasNew = false;
    ErrCode code = supportOpenCatalog(context, false, &catalog);
    if (code == ERR_OK)
        code = catMasterKeyConfigured(context->config, catalog, false, &oldKey, &hasOld);
    if (code == ERR_OK && !hasOld) {
        errSet(CONFIG_INVALID, "--rotate-key needs the current key and none is set");
        errSetAction("Set BACKUP_ENCRYPTION_KEY_FILE (or BACKUP_ENCRYPTION_PASSPHRASE) to the current key and "
                     "BACKUP_ENCRYPTION_NEW_KEY_FILE to the new one");
        code = CONFIG_INVALID;
    }
    if (code == ERR_OK)
        code = catNewMasterKeyConfigured(context->config, &newKey, &hasNew);
    if (code == ERR_OK && !hasNew) {
        errSet(CONFIG_INVALID, "--rotate-key needs the new key and BACKUP_ENCRYPTION_NEW_KEY_FILE is not set");
        errSetAction("Write a new key with neo4j-backup --generate-key <file> and set "
                     "BACKUP_ENCRYPTION_NEW_KEY_FILE to it");
        code = CONFIG_INVALID;
    }
    CatRotateResult result = {0};
    if (code == ERR_OK) {
        char oldId[2 * CRYPTO_KEY_ID_BYTES + 1], newId[2 * CRYPTO_KEY_ID_BYTES + 1];
        cryptoKeyIdHex(oldKey.id, oldId);
        cryptoKeyIdHex(newKey.id, newId);
        logInfo("Rotating the encryption key: %s -> %s%s", oldId, newId, context->dryRun ? " (dry run)" : "");
        RotateReport report = {context->dryRun};
        code = catRotateKey(catalog, &oldKey, &newKey, context->dryRun, rotateReport, &report, &result);
        logInfo("Re-wrapped: %zu, already on the new key: %zu, not encrypted: %zu, failed: %zu", result.rewrapped,
                result.already, result.unencrypted, result.failed);
    }
    if (hasOld)
        cryptoMasterKeyWipe(&oldKey);
    if (hasNew)
        cryptoMasterKeyWipe(&newKey);
    catClose(catalog);
    if (code != ERR_OK) {
        logErrorBlock("Key rotation failed", false);
        return code;
    }
    if (context->dryRun)
        logSuccess("Dry run: nothing was changed");
    else
        logSuccess("Key rotated: set BACKUP_ENCRYPTION_KEY_FILE to the new key file; the old key no longer "
                   "opens these backups");
    return ERR_OK;
}
