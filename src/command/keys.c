/* The key commands of neo4j-backup (issue 14, docs/encryption.md):
 * --generate-key writes a new master key file. The key itself never reaches
 * the log; its id (a keyed hash, safe to show) does. */
#include "command/command.h"
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
