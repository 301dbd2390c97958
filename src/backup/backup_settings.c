/* Resolves the backup's configuration into request values, the same way for
 * every front end (backup/backup_settings.h). */
#include "backup/backup_settings.h"
#include "catalog/catalog_key.h"
#include "catalog/catalog_settings.h"

#include <stdio.h>
#include <string.h>

ErrCode backupSettingsResolve(const Config *config, BackupSettings *out)
{
    memset(out, 0, sizeof(*out));
    out->minFreePercent = 20;
    const char *method = cfgGet(config, CFG_BACKUP_METHOD);
    if (method && strcmp(method, "dump") == 0) {
        out->method = BACKUP_METHOD_DUMP;
        /* neo4j-admin writes the dump file itself: nothing to encrypt it with
         * the repository's key on the way (docs/encryption.md). */
        if (catKeyConfigured(config)) {
            errSet(CONFIG_INVALID, "the dump method cannot encrypt its backups, and an encryption key is set");
            errSetAction("Use BACKUP_METHOD=logical for encrypted backups, or unset BACKUP_ENCRYPTION_KEY_FILE "
                         "and BACKUP_ENCRYPTION_PASSPHRASE(_FILE) for dump backups");
            return CONFIG_INVALID;
        }
        return ERR_OK;
    }
    if (method && strcmp(method, "logical") != 0)
        return errSet(CONFIG_INVALID, "backup method '%s' is not available in this version", method);
    out->method = BACKUP_METHOD_LOGICAL;
    ErrCode code = arcCompressionParse(cfgGet(config, CFG_BACKUP_COMPRESSION), &out->compression);
    if (code == ERR_OK)
        code = cfgGetInt(config, CFG_BACKUP_MIN_FREE_PERCENT, &out->minFreePercent);
    if (code == ERR_OK)
        code = backupTypeParse(cfgGet(config, CFG_BACKUP_TYPE), &out->type);
    if (code == ERR_OK)
        code = cfgGetInt(config, CFG_BACKUP_DIFF_MAX_CHAIN, &out->diffMaxChain);
    if (code == ERR_OK)
        code = cfgGetInt(config, CFG_BACKUP_DIFF_MAX_PERCENT, &out->diffMaxPercent);
    if (code == ERR_OK)
        code = cfgInstance(config, CFG_PRODUCTION_INSTANCE, &out->source);
    out->storagePath = cfgGet(config, CFG_BACKUP_STORAGE_PATH);
    if (code == ERR_OK && !out->storagePath)
        code = cfgStoragePathMissing();
    out->dataPath = cfgGet(config, CFG_NEO4J_DATA_PATH);
    return code;
}

void backupSettingsFree(BackupSettings *settings)
{
    cfgInstanceFree(&settings->source);
}

void backupSettingsRequest(const BackupSettings *settings, BackupRequest *out)
{
    out->source = &settings->source;
    out->storagePath = settings->storagePath;
    out->compression = settings->compression;
    out->minFreePercent = settings->minFreePercent;
    out->dataPath = settings->dataPath;
    out->type = settings->type;
    out->diffMaxChain = (uint32_t)settings->diffMaxChain;
    out->diffMaxPercent = (uint32_t)settings->diffMaxPercent;
}

typedef struct {
    const Config *config;
    const InstanceConfig *source;
    const BackupInstanceAccess *access;
} BackupConfiguredConnector;

static ErrCode backupConfiguredConnect(void *payload, BoltAccessMode mode, BoltConnection **out)
{
    const BackupConfiguredConnector *connector = payload;
    return connector->access->connect(connector->config, connector->source, mode, out);
}

static ErrCode backupConfiguredVersion(void *payload, BoltConnection *connection, char *version, size_t versionSize,
                                       char *edition, size_t editionSize)
{
    const BackupConfiguredConnector *connector = payload;
    return connector->access->serverVersion(connection, version, versionSize, edition, editionSize);
}

ErrCode backupCreateConfigured(const Config *config, const BackupSettings *settings,
                               const BackupInstanceAccess *access, bool dryRun,
                               volatile sig_atomic_t *cancelFlag, char idOut[CAT_ID_SIZE])
{
    idOut[0] = '\0';
    BackupConfiguredConnector connector = {.config = config, .source = &settings->source, .access = access};
    BackupRequest request = {
        .connector = {.connect = backupConfiguredConnect,
                      .serverVersion = backupConfiguredVersion,
                      .payload = &connector},
        .dryRun = dryRun,
        .cancelFlag = cancelFlag,
    };
    backupSettingsRequest(settings, &request);
    /* Object storage is opened here, from the settings (no request is sent
     * yet); a directory is opened by the service as it always was, after
     * Neo4j answered. A dry run opens nothing. */
    Catalog *catalog = NULL;
    /* A passphrase's key record lives in the repository: open it first then. */
    bool passphrase = catKeyNeedsRepository(config);
    if (!dryRun && (!catStorageIsLocal(config) || passphrase)) {
        ErrCode opened = catOpenConfigured(config, true, &catalog);
        if (opened != ERR_OK) {
            BackupResult failed = {0};
            backupReportFailure(&failed);
            return opened;
        }
        request.catalog = catalog;
    }
    CryptoMasterKey masterKey;
    bool keyed = false;
    ErrCode keyCode = ERR_OK;
    if (!dryRun || !passphrase)
        keyCode = catMasterKeyConfigured(config, catalog, true, &masterKey, &keyed);
    if (keyCode != ERR_OK) {
        BackupResult failed = {0};
        backupReportFailure(&failed);
        catClose(catalog);
        return keyCode;
    }
    request.masterKey = keyed ? &masterKey : NULL;
    BackupReport report;
    backupReportInit(&report);
    BackupResult result;
    ErrCode code = backupCreate(&request, &result, &(BackupEvents){.onEvent = backupReportEvent, .payload = &report});
    if (code == ERR_OK && !dryRun)
        snprintf(idOut, CAT_ID_SIZE, "%s", result.id);
    else if (code != ERR_OK)
        backupReportFailure(&result);
    if (keyed)
        cryptoMasterKeyWipe(&masterKey);
    catClose(catalog);
    return code;
}
