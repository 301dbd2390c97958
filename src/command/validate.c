/* neo4j-backup --validate: the repository validation service
 * (catalog/validate.h) called with the command line's settings, its events
 * printed as the contract's lines. */
#include "command/dump.h"
#include "command/support.h"

#include "catalog/catalog_key.h"
#include "catalog/validate.h"
#include "common/log.h"

static ErrCode validateDumpWithContext(void *payload, Catalog *catalog, const CatEntry *entry,
                                       const char *archivePath, bool *reported)
{
    return cmdDumpValidate(payload, catalog, entry, archivePath, reported);
}

ErrCode cmdValidate(CommandContext *context, const char *backupId)
{
    Catalog *catalog = NULL;
    CatValidateResult result = {0};
    ErrCode code = catIdCheck(backupId);
    if (code == ERR_OK)
        code = supportOpenCatalog(context, false, &catalog);
    CryptoMasterKey masterKey;
    bool keyed = false;
    if (code == ERR_OK)
        code = catMasterKeyConfigured(context->config, catalog, false, &masterKey, &keyed);
    if (code == ERR_OK) {
        CatValidateRequest request = {
            .masterKey = keyed ? &masterKey : NULL,
            .catalog = catalog,
            .backupId = backupId,
            .dryRun = context->dryRun,
            .validateDump = validateDumpWithContext,
            .validateDumpPayload = context,
        };
        code = catValidate(&request, &result, &(CatValidateEvents){.onEvent = catValidateReportEvent});
    }
    if (keyed)
        cryptoMasterKeyWipe(&masterKey);
    catClose(catalog);
    if (code == ERR_OK && result.contentNotChecked) {
        logSuccess("Backup %s: the encrypted archive is intact (checksum and framing); its content was not "
                   "checked without the key", backupId);
    } else if (code == ERR_OK) {
        logSuccess("Backup %s is valid%s", backupId, context->dryRun ? " (dry run: status not updated)" : "");
    } else if (!result.reported) {
        logErrorBlock("Backup validation failed", false);
    }
    return code;
}
