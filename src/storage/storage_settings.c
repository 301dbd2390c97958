/* Settings to Storage: BACKUP_STORAGE_PATH chooses the driver; the AWS_* and
 * BACKUP_S3_* settings fill the S3 driver's configuration. */
#include "storage/storage_settings.h"

#include "storage/posix.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const Config *config;
    char *secretKey;    /* resolved AWS_SECRET_ACCESS_KEY[_FILE] */
    char *sessionToken; /* resolved AWS_SESSION_TOKEN[_FILE] */
    char *containerToken; /* resolved AWS_CONTAINER_AUTHORIZATION_TOKEN[_FILE] */
} SettingsLookup;

/* s3ConfigFromLookup asks by name; the settings table knows the same names. */
static const char *settingsLookup(const char *key, void *payload)
{
    const SettingsLookup *lookup = payload;
    if (strcmp(key, "AWS_SECRET_ACCESS_KEY") == 0)
        return lookup->secretKey;
    if (strcmp(key, "AWS_SESSION_TOKEN") == 0)
        return lookup->sessionToken;
    if (strcmp(key, "AWS_CONTAINER_AUTHORIZATION_TOKEN") == 0)
        return lookup->containerToken;
    CfgKey cfgKey;
    if (!cfgKeyFromName(key, &cfgKey))
        return NULL; /* HOME: the settings already hold the default credentials file */
    return cfgGet(lookup->config, cfgKey);
}

static ErrCode copySetting(char *out, size_t outSize, const Config *config, CfgKey key)
{
    const char *value = cfgGet(config, key);
    if (!value)
        return ERR_OK;
    if (strlen(value) >= outSize)
        return errSet(CONFIG_INVALID, "%s is too long (at most %zu characters)", cfgName(key), outSize - 1);
    snprintf(out, outSize, "%s", value);
    return ERR_OK;
}

ErrCode storageS3ConfigFromSettings(const Config *config, const StorageLocation *location, S3Config *out)
{
    s3ConfigDefaults(out);
    snprintf(out->bucket, sizeof(out->bucket), "%s", location->bucket);
    snprintf(out->prefix, sizeof(out->prefix), "%s", location->prefix);
    SettingsLookup lookup = {.config = config};
    ErrCode result = cfgGetSecret(config, CFG_AWS_SECRET_ACCESS_KEY, &lookup.secretKey);
    if (result == ERR_OK)
        result = cfgGetSecret(config, CFG_AWS_SESSION_TOKEN, &lookup.sessionToken);
    if (result == ERR_OK)
        result = cfgGetSecret(config, CFG_AWS_CONTAINER_AUTHORIZATION_TOKEN, &lookup.containerToken);
    if (result == ERR_OK)
        result = s3ConfigFromLookup(out, settingsLookup, &lookup);
    cfgSecretFree(lookup.secretKey);
    cfgSecretFree(lookup.sessionToken);
    cfgSecretFree(lookup.containerToken);
    if (result == ERR_OK && out->accessKey[0] == '\0' && out->credentialSource == S3_CREDENTIALS_STATIC) {
        result = errSet(CONFIG_INVALID, "no credentials for %s://%s: AWS_ACCESS_KEY_ID is unset, no shared "
                                        "credentials file was found, and AWS_EC2_METADATA_DISABLED is true",
                        "s3", location->bucket);
        errSetAction("Set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or _FILE), AWS_SHARED_CREDENTIALS_FILE, "
                     "or an instance or container role");
    }
    const char *style = cfgGet(config, CFG_BACKUP_S3_URI_STYLE);
    out->uriStyle = style && strcmp(style, "path") == 0 ? S3_URI_STYLE_PATH : S3_URI_STYLE_HOST;
    if (result == ERR_OK)
        result = copySetting(out->caFile, sizeof(out->caFile), config, CFG_BACKUP_S3_CA_FILE);
    const char *sse = cfgGet(config, CFG_BACKUP_S3_SSE);
    if (result == ERR_OK && sse && strcmp(sse, "none") != 0)
        snprintf(out->sse, sizeof(out->sse), "%s", sse);
    if (result == ERR_OK)
        result = copySetting(out->sseKmsKeyId, sizeof(out->sseKmsKeyId), config, CFG_BACKUP_S3_SSE_KMS_KEY_ID);
    if (result == ERR_OK && out->sseKmsKeyId[0] && strcmp(out->sse, "aws:kms") != 0)
        result = errSet(CONFIG_INVALID, "BACKUP_S3_SSE_KMS_KEY_ID is set but BACKUP_S3_SSE is not aws:kms");
    if (result == ERR_OK)
        result = copySetting(out->storageClass, sizeof(out->storageClass), config, CFG_BACKUP_S3_STORAGE_CLASS);
    int64_t partSizeMb = 8, partsInFlight = 4, stallSeconds = 60;
    if (result == ERR_OK)
        result = cfgGetInt(config, CFG_BACKUP_S3_PART_SIZE_MB, &partSizeMb);
    if (result == ERR_OK)
        result = cfgGetInt(config, CFG_BACKUP_S3_PARTS_IN_FLIGHT, &partsInFlight);
    if (result == ERR_OK)
        result = cfgGetInt(config, CFG_BACKUP_S3_STALL_TIMEOUT_SECONDS, &stallSeconds);
    out->partSize = (uint64_t)partSizeMb * 1024 * 1024;
    out->partsInFlight = (unsigned)partsInFlight;
    out->stallTimeoutMs = (int)(stallSeconds * 1000);
    if (result != ERR_OK)
        explicit_bzero(out, sizeof(*out));
    return result;
}

ErrCode storageOpenLocation(const Config *config, const char *text, const char *settingName, bool create,
                            Storage **out)
{
    *out = NULL;
    StorageLocation location;
    ErrCode result = storageLocationParse(text, &location);
    if (result != ERR_OK) {
        errSetAction("Check %s: a directory, or s3://bucket/prefix", settingName);
        return result;
    }
    if (location.kind == STORAGE_LOCATION_POSIX) {
        result = storagePosixOpen(location.path, create, out);
        if (result != ERR_OK)
            errSetAction("Check %s", settingName);
        return result;
    }
    S3Config s3;
    result = storageS3ConfigFromSettings(config, &location, &s3);
    if (result == ERR_OK)
        result = storageS3New(&s3, out);
    explicit_bzero(&s3, sizeof(s3));
    return result;
}

ErrCode storageOpenConfigured(const Config *config, bool create, Storage **out)
{
    *out = NULL;
    const char *path = cfgGet(config, CFG_BACKUP_STORAGE_PATH);
    if (!path || !path[0]) {
        cfgStoragePathMissing();
        return CONFIG_INVALID;
    }
    return storageOpenLocation(config, path, "BACKUP_STORAGE_PATH", create, out);
}
