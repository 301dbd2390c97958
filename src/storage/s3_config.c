/* S3 driver configuration: defaults, the AWS environment variables and the
 * shared credentials file turned into an S3Config (pure apart from reading
 * the credentials file), and the growing part-size schedule. */
#include "storage/s3.h"

#include "common/buffer.h"
#include "common/fsutil.h"
#include "common/mem.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Credentials files are small; anything bigger is not one. */
#define S3_CREDENTIALS_MAX_BYTES (1024 * 1024)

void s3ConfigDefaults(S3Config *config)
{
    memset(config, 0, sizeof(*config));
    config->uriStyle = S3_URI_STYLE_HOST;
    config->partSize = 8ull * 1024 * 1024;
    config->partsInFlight = 4;
    config->readChunk = 8ull * 1024 * 1024;
    config->connectTimeoutMs = 10000;
    config->stallTimeoutMs = 60000;
    config->attempts = 6;
    config->retryBaseMs = 200;
}

uint64_t s3PartSize(uint64_t firstPartSize, unsigned partNumber)
{
    /* Doubling every 1,000 parts: 1000 x (1 + 2 + ... + 512) x 5 MiB is about
     * 5.4 TB at the smallest first part, above S3's largest object. */
    unsigned doublings = partNumber > 0 ? (partNumber - 1) / 1000 : 0;
    uint64_t size = firstPartSize < S3_PART_SIZE_MIN ? S3_PART_SIZE_MIN : firstPartSize;
    for (unsigned step = 0; step < doublings && size < S3_PART_SIZE_MAX; step++)
        size *= 2;
    return size > S3_PART_SIZE_MAX ? S3_PART_SIZE_MAX : size;
}

static ErrCode copyField(char *out, size_t outSize, const char *value, const char *what)
{
    size_t length = strlen(value);
    if (length >= outSize)
        return errSet(CONFIG_INVALID, "%s is longer than %zu characters", what, outSize - 1);
    memcpy(out, value, length + 1);
    return ERR_OK;
}

/* Trims blanks at both ends in place; returns the start. */
static char *trim(char *text)
{
    while (*text && isspace((unsigned char)*text))
        text++;
    size_t length = strlen(text);
    while (length > 0 && isspace((unsigned char)text[length - 1]))
        text[--length] = '\0';
    return text;
}

ErrCode s3CredentialsParse(const char *text, size_t length, const char *profile, S3Config *config)
{
    char *copy = memAlloc(length + 1);
    memcpy(copy, text, length);
    copy[length] = '\0';
    bool inProfile = false, profileFound = false;
    char accessKey[sizeof(config->accessKey)] = "", secretKey[sizeof(config->secretKey)] = "";
    char sessionToken[sizeof(config->sessionToken)] = "";
    ErrCode result = ERR_OK;
    char *cursor = copy;
    while (cursor && result == ERR_OK) {
        char *lineEnd = strchr(cursor, '\n');
        if (lineEnd)
            *lineEnd = '\0';
        char *line = trim(cursor);
        cursor = lineEnd ? lineEnd + 1 : NULL;
        if (line[0] == '\0' || line[0] == '#' || line[0] == ';')
            continue;
        if (line[0] == '[') {
            char *close = strchr(line, ']');
            if (!close)
                continue;
            *close = '\0';
            inProfile = strcmp(trim(line + 1), profile) == 0;
            profileFound = profileFound || inProfile;
            continue;
        }
        char *equals = strchr(line, '=');
        if (!inProfile || !equals)
            continue;
        *equals = '\0';
        char *key = trim(line), *value = trim(equals + 1);
        if (strcmp(key, "aws_access_key_id") == 0)
            result = copyField(accessKey, sizeof(accessKey), value, "aws_access_key_id");
        else if (strcmp(key, "aws_secret_access_key") == 0)
            result = copyField(secretKey, sizeof(secretKey), value, "aws_secret_access_key");
        else if (strcmp(key, "aws_session_token") == 0)
            result = copyField(sessionToken, sizeof(sessionToken), value, "aws_session_token");
    }
    free(copy);
    if (result != ERR_OK)
        return result;
    if (!profileFound)
        return errSet(BACKUP_NOT_FOUND, "credentials file has no profile [%s]", profile);
    if (accessKey[0] == '\0' || secretKey[0] == '\0')
        return errSet(CONFIG_INVALID, "profile [%s] of the credentials file lacks aws_access_key_id or "
                                      "aws_secret_access_key", profile);
    memcpy(config->accessKey, accessKey, sizeof(accessKey));
    memcpy(config->secretKey, secretKey, sizeof(secretKey));
    memcpy(config->sessionToken, sessionToken, sizeof(sessionToken));
    return ERR_OK;
}

static const char *lookupSet(S3Lookup lookup, void *payload, const char *key)
{
    const char *value = lookup(key, payload);
    return value && value[0] ? value : NULL;
}

/* The tail of the chain: a container endpoint, else the instance metadata
 * service. Nothing is fetched here; the driver asks at its first request. */
static ErrCode s3TemporaryCredentialsFromLookup(S3Config *config, S3Lookup lookup, void *payload)
{
    const char *relative = lookupSet(lookup, payload, "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI");
    const char *full = lookupSet(lookup, payload, "AWS_CONTAINER_CREDENTIALS_FULL_URI");
    ErrCode result = ERR_OK;
    if (relative || full) {
        if (relative && relative[0] != '/')
            return errSet(CONFIG_INVALID, "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI must start with '/'");
        if (relative)
            snprintf(config->credentialsUri, sizeof(config->credentialsUri), "%s%s", S3_CONTAINER_CREDENTIALS_HOST,
                     relative);
        else if ((result = copyField(config->credentialsUri, sizeof(config->credentialsUri), full,
                                     "AWS_CONTAINER_CREDENTIALS_FULL_URI")) != ERR_OK)
            return result;
        if (!relative && (result = s3ContainerUriCheck(full)) != ERR_OK) {
            errSetAction("Use an https:// AWS_CONTAINER_CREDENTIALS_FULL_URI, or one on this machine");
            return result;
        }
        const char *token = lookupSet(lookup, payload, "AWS_CONTAINER_AUTHORIZATION_TOKEN");
        if (token && (result = copyField(config->credentialsToken, sizeof(config->credentialsToken), token,
                                         "AWS_CONTAINER_AUTHORIZATION_TOKEN")) != ERR_OK)
            return result;
        config->credentialSource = S3_CREDENTIALS_CONTAINER;
        return ERR_OK;
    }
    const char *disabled = lookupSet(lookup, payload, "AWS_EC2_METADATA_DISABLED");
    if (disabled && strcasecmp(disabled, "true") == 0)
        return ERR_OK; /* no source: the caller reports missing credentials */
    const char *endpoint = lookupSet(lookup, payload, "AWS_EC2_METADATA_SERVICE_ENDPOINT");
    if ((result = copyField(config->credentialsUri, sizeof(config->credentialsUri),
                            endpoint ? endpoint : S3_INSTANCE_METADATA_DEFAULT, "AWS_EC2_METADATA_SERVICE_ENDPOINT"))
        != ERR_OK)
        return result;
    if (strncmp(config->credentialsUri, "http://", 7) != 0 && strncmp(config->credentialsUri, "https://", 8) != 0)
        return errSet(CONFIG_INVALID, "AWS_EC2_METADATA_SERVICE_ENDPOINT must start with http:// or https://");
    config->credentialSource = S3_CREDENTIALS_INSTANCE;
    return ERR_OK;
}

ErrCode s3ConfigFromLookup(S3Config *config, S3Lookup lookup, void *payload)
{
    const char *accessKey = lookupSet(lookup, payload, "AWS_ACCESS_KEY_ID");
    const char *secretKey = lookupSet(lookup, payload, "AWS_SECRET_ACCESS_KEY");
    ErrCode result = ERR_OK;
    if (accessKey || secretKey) {
        if (!accessKey || !secretKey)
            return errSet(CONFIG_INVALID, "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY must be set together");
        const char *token = lookupSet(lookup, payload, "AWS_SESSION_TOKEN");
        if ((result = copyField(config->accessKey, sizeof(config->accessKey), accessKey, "AWS_ACCESS_KEY_ID")) != ERR_OK
            || (result = copyField(config->secretKey, sizeof(config->secretKey), secretKey, "AWS_SECRET_ACCESS_KEY"))
                   != ERR_OK
            || (result = copyField(config->sessionToken, sizeof(config->sessionToken), token ? token : "",
                                   "AWS_SESSION_TOKEN")) != ERR_OK)
            return result;
    } else {
        const char *file = lookupSet(lookup, payload, "AWS_SHARED_CREDENTIALS_FILE");
        char defaultFile[4096];
        const char *home = lookupSet(lookup, payload, "HOME");
        if (!file && home) {
            snprintf(defaultFile, sizeof(defaultFile), "%s/.aws/credentials", home);
            file = fsExists(defaultFile) ? defaultFile : NULL;
        }
        if (file) {
            const char *profile = lookupSet(lookup, payload, "AWS_PROFILE");
            Buffer text;
            bufferInit(&text);
            result = fsReadFile(file, S3_CREDENTIALS_MAX_BYTES, &text);
            if (result == ERR_OK)
                result = s3CredentialsParse((const char *)text.data, text.length, profile ? profile : "default", config);
            bufferFree(&text);
            if (result != ERR_OK) {
                errAddContext("reading AWS credentials file %s", file);
                return result;
            }
        }
    }
    if (config->accessKey[0] == '\0' && (result = s3TemporaryCredentialsFromLookup(config, lookup, payload)) != ERR_OK)
        return result;
    const char *region = lookupSet(lookup, payload, "AWS_REGION");
    if (!region)
        region = lookupSet(lookup, payload, "AWS_DEFAULT_REGION");
    if (region && (result = copyField(config->region, sizeof(config->region), region, "AWS_REGION")) != ERR_OK)
        return result;
    const char *endpoint = lookupSet(lookup, payload, "AWS_ENDPOINT_URL_S3");
    if (!endpoint)
        endpoint = lookupSet(lookup, payload, "AWS_ENDPOINT_URL");
    if (endpoint && (result = copyField(config->endpoint, sizeof(config->endpoint), endpoint, "AWS_ENDPOINT_URL"))
                        != ERR_OK)
        return result;
    return ERR_OK;
}
