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

/* Validates backupId in one location. *missing: it is not there (not an
 * error by itself when the other location has it). */
static ErrCode validateIn(CommandContext *context, Catalog *catalog, const char *backupId,
                          const CryptoMasterKey *masterKey, bool *missing, bool *reported, bool *contentNotChecked)
{
    CatValidateResult result = {0};
    CatEntry entry = {0};
    *missing = false;
    ErrCode code = catFind(catalog, backupId, &entry);
    catEntryFree(&entry);
    if (code == BACKUP_NOT_FOUND) {
        *missing = true;
        return code;
    }
    CatValidateRequest request = {
        .masterKey = masterKey,
        .catalog = catalog,
        .backupId = backupId,
        .dryRun = context->dryRun,
        .validateDump = validateDumpWithContext,
        .validateDumpPayload = context,
    };
    code = catValidate(&request, &result, &(CatValidateEvents){.onEvent = catValidateReportEvent});
    *reported = result.reported;
    *contentNotChecked = *contentNotChecked || result.contentNotChecked;
    return code;
}

ErrCode cmdValidate(CommandContext *context, const char *backupId)
{
    Catalog *catalog = NULL;
    bool reported = false, contentNotChecked = false;
    bool copyConfigured = catCopyConfigured(context->config);
    ErrCode code = catIdCheck(backupId);
    if (code == ERR_OK)
        code = supportOpenCatalog(context, false, &catalog);
    /* One master key for both locations: a passphrase's key record is the primary's. */
    CryptoMasterKey masterKey;
    bool keyed = false;
    if (code == ERR_OK)
        code = catMasterKeyConfigured(context->config, catalog, false, &masterKey, &keyed);
    const CryptoMasterKey *key = keyed ? &masterKey : NULL;
    if (code == ERR_OK && !copyConfigured) {
        bool missing = false;
        code = validateIn(context, catalog, backupId, key, &missing, &reported, &contentNotChecked);
    } else if (code == ERR_OK) {
        /* Both locations: each copy is checked in full, the primary first. */
        const char *where = cfgGet(context->config, CFG_BACKUP_COPY_PATH);
        logInfo("Validating backup %s in BACKUP_STORAGE_PATH", backupId);
        bool primaryMissing = false;
        ErrCode primary = validateIn(context, catalog, backupId, key, &primaryMissing, &reported, &contentNotChecked);
        if (primaryMissing)
            logWarn("Backup %s is not in BACKUP_STORAGE_PATH", backupId);
        else if (primary != ERR_OK && !reported)
            logErrorBlock("Backup validation failed in BACKUP_STORAGE_PATH", false);
        else if (primary == ERR_OK)
            logSuccess("Backup %s is valid in BACKUP_STORAGE_PATH", backupId);
        ErrDetail primaryFailure = errSave();
        logInfo("Validating backup %s in the copy location %s", backupId, where);
        Catalog *copy = NULL;
        bool copyMissing = false;
        bool copyReported = false;
        ErrCode second = catCopyOpenConfigured(context->config, false, &copy);
        if (second == ERR_OK)
            second = validateIn(context, copy, backupId, key, &copyMissing, &copyReported, &contentNotChecked);
        catClose(copy);
        if (copyMissing)
            logWarn("Backup %s is not in the copy location %s (neo4j-backup --copy %s copies it)", backupId,
                    where, backupId);
        else if (second != ERR_OK && !copyReported)
            logErrorBlock("Backup validation failed in the copy location", false);
        else if (second == ERR_OK)
            logSuccess("Backup %s is valid in the copy location %s", backupId, where);
        /* Missing from one place is a warning; missing from both, or damaged in either, fails. */
        if (primaryMissing && copyMissing) {
            code = errSet(BACKUP_NOT_FOUND, "backup %s is neither in BACKUP_STORAGE_PATH nor in %s", backupId,
                          where);
        } else if (!primaryMissing && primary != ERR_OK) {
            code = errRestore(&primaryFailure);
            reported = true;
        } else if (!copyMissing && second != ERR_OK) {
            code = second;
            reported = true;
        }
    }
    if (keyed)
        cryptoMasterKeyWipe(&masterKey);
    catClose(catalog);
    if (code == ERR_OK && contentNotChecked) {
        logSuccess("Backup %s: the encrypted archive is intact (checksum and framing); its content was not "
                   "checked without the key", backupId);
    } else if (code == ERR_OK) {
        logSuccess("Backup %s is valid%s", backupId, context->dryRun ? " (dry run: status not updated)" : "");
    } else if (!reported) {
        logErrorBlock("Backup validation failed", false);
    }
    return code;
}
