/* Credentials from a container endpoint or the EC2 instance metadata service
 * (see s3_credentials.h). */
#include "storage/s3_credentials.h"

#include "common/buffer.h"
#include "common/log.h"

#include <curl/curl.h>
#include <json-c/json.h>
#include <openssl/crypto.h>

#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* The services are on this machine or its link: answers come fast or never. */
#define CREDENTIALS_CONNECT_TIMEOUT_MS 1000L
#define CREDENTIALS_TIMEOUT_MS 5000L
#define CREDENTIALS_ATTEMPTS 3
#define IMDS_TOKEN_TTL_SECONDS 21600

void s3CredentialsWipe(S3Credentials *credentials)
{
    OPENSSL_cleanse(credentials, sizeof(*credentials));
}

static int twoDigits(const char *text)
{
    if (text[0] < '0' || text[0] > '9' || text[1] < '0' || text[1] > '9')
        return -1;
    return (text[0] - '0') * 10 + (text[1] - '0');
}

bool s3ParseIsoTime(const char *text, int64_t *out)
{
    /* YYYY-MM-DDTHH:MM:SS, then optional .fraction, then Z or +00:00 */
    if (strlen(text) < 20 || text[4] != '-' || text[7] != '-' || (text[10] != 'T' && text[10] != ' ')
        || text[13] != ':' || text[16] != ':')
        return false;
    int century = twoDigits(text), yearInCentury = twoDigits(text + 2);
    int month = twoDigits(text + 5), day = twoDigits(text + 8);
    int hour = twoDigits(text + 11), minute = twoDigits(text + 14), second = twoDigits(text + 17);
    if (century < 0 || yearInCentury < 0 || month < 1 || month > 12 || day < 1 || day > 31 || hour < 0 || hour > 23
        || minute < 0 || minute > 59 || second < 0 || second > 60)
        return false;
    const char *rest = text + 19;
    if (*rest == '.') {
        rest++;
        if (*rest < '0' || *rest > '9')
            return false;
        while (*rest >= '0' && *rest <= '9')
            rest++;
    }
    if (strcmp(rest, "Z") != 0 && strcmp(rest, "+00:00") != 0)
        return false;
    struct tm parts = {.tm_year = century * 100 + yearInCentury - 1900, .tm_mon = month - 1, .tm_mday = day,
                       .tm_hour = hour, .tm_min = minute, .tm_sec = second};
    time_t seconds = timegm(&parts);
    if (seconds == (time_t)-1)
        return false;
    *out = (int64_t)seconds;
    return true;
}

/* Copies a string member; false when missing, not a string, empty, too long
 * or holding a byte that could break a header line. */
static bool copyMember(json_object *root, const char *name, char *out, size_t outSize)
{
    json_object *member;
    if (!json_object_object_get_ex(root, name, &member) || !json_object_is_type(member, json_type_string))
        return false;
    const char *value = json_object_get_string(member);
    size_t length = (size_t)json_object_get_string_len(member);
    if (length == 0 || length >= outSize || memchr(value, '\0', length))
        return false;
    for (size_t index = 0; index < length; index++)
        if ((unsigned char)value[index] < 0x20 || value[index] == 0x7f)
            return false;
    memcpy(out, value, length);
    out[length] = '\0';
    return true;
}

ErrCode s3CredentialsAnswerParse(const char *body, size_t length, S3Credentials *out)
{
    memset(out, 0, sizeof(*out));
    if (length == 0 || length > S3_CREDENTIALS_ANSWER_MAX)
        return errSet(BACKUP_CORRUPTED, "the credentials answer is empty or too large (%zu bytes)", length);
    json_tokener *tokener = json_tokener_new();
    if (!tokener)
        return errSet(ERR_INTERNAL, "out of memory");
    json_tokener_set_flags(tokener, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
    json_object *root = json_tokener_parse_ex(tokener, body, (int)length);
    bool complete = json_tokener_get_error(tokener) == json_tokener_success
                    && json_tokener_get_parse_end(tokener) == length;
    json_tokener_free(tokener);
    ErrCode result = ERR_OK;
    json_object *code;
    char expiration[64] = "";
    if (!root || !complete || !json_object_is_type(root, json_type_object)) {
        result = errSet(BACKUP_CORRUPTED, "the credentials answer is not one JSON object");
    } else if (json_object_object_get_ex(root, "Code", &code)
               && (!json_object_is_type(code, json_type_string)
                   || strcmp(json_object_get_string(code), "Success") != 0)) {
        result = errSet(STORAGE_AUTH_FAILED, "the metadata service did not hand out credentials (Code is not "
                                             "Success)");
    } else if (!copyMember(root, "AccessKeyId", out->accessKey, sizeof(out->accessKey))
               || !copyMember(root, "SecretAccessKey", out->secretKey, sizeof(out->secretKey))) {
        result = errSet(BACKUP_CORRUPTED, "the credentials answer lacks a usable AccessKeyId or SecretAccessKey");
    } else if (json_object_object_get_ex(root, "Token", &code)
               && !copyMember(root, "Token", out->sessionToken, sizeof(out->sessionToken))) {
        result = errSet(BACKUP_CORRUPTED, "the credentials answer has an unusable Token");
    } else if (json_object_object_get_ex(root, "Expiration", &code)
               && (!copyMember(root, "Expiration", expiration, sizeof(expiration))
                   || !s3ParseIsoTime(expiration, &out->expires))) {
        result = errSet(BACKUP_CORRUPTED, "the credentials answer has an unreadable Expiration");
    }
    json_object_put(root);
    if (result != ERR_OK)
        s3CredentialsWipe(out);
    return result;
}

static bool hostIs(const char *host, size_t length, const char *name)
{
    return strlen(name) == length && strncmp(host, name, length) == 0;
}

ErrCode s3ContainerUriCheck(const char *uri)
{
    if (strncmp(uri, "https://", 8) == 0)
        return ERR_OK;
    if (strncmp(uri, "http://", 7) != 0)
        return errSet(CONFIG_INVALID, "the container credentials URI must start with https:// or http://");
    const char *host = uri + 7;
    size_t length;
    if (*host == '[') {
        const char *close = strchr(host, ']');
        if (!close)
            return errSet(CONFIG_INVALID, "the container credentials URI has an unterminated [address]");
        length = (size_t)(close - host) + 1;
    } else {
        length = strcspn(host, ":/?#");
    }
    /* The container agents' link-local addresses and this machine only. */
    if (hostIs(host, length, "169.254.170.2") || hostIs(host, length, "169.254.170.23")
        || hostIs(host, length, "[fd00:ec2::23]") || hostIs(host, length, "localhost")
        || hostIs(host, length, "[::1]")
        || (length > 4 && strncmp(host, "127.", 4) == 0 && strspn(host, "0123456789.") >= length))
        return ERR_OK;
    return errSet(CONFIG_INVALID, "the container credentials URI is http:// to a host that is neither loopback "
                                  "nor the container agent: its token would cross a network in clear");
}

typedef struct {
    Buffer *body;
    bool tooLarge;
} Sink;

static size_t sinkWrite(char *data, size_t size, size_t count, void *payload)
{
    Sink *sink = payload;
    size_t length = size * count;
    if (sink->body->length + length > S3_CREDENTIALS_ANSWER_MAX) {
        sink->tooLarge = true;
        return 0;
    }
    bufferAppend(sink->body, data, length);
    return length;
}

/* One request with a few quick retries on the network and on 5xx. Fills
 * body with the 200 answer. */
static ErrCode credentialsRequest(const char *method, const char *url, const char *header, const char *caFile,
                                  const char *what, Buffer *body)
{
    CURL *handle = curl_easy_init();
    if (!handle)
        return errSet(ERR_INTERNAL, "cannot create a curl handle");
    struct curl_slist *headers = NULL;
    if (header)
        headers = curl_slist_append(headers, header);
    ErrCode result = ERR_OK;
    for (int attempt = 1; attempt <= CREDENTIALS_ATTEMPTS; attempt++) {
        bufferClear(body);
        Sink sink = {body, false};
        curl_easy_reset(handle);
        curl_easy_setopt(handle, CURLOPT_URL, url);
        curl_easy_setopt(handle, CURLOPT_PROTOCOLS_STR, "http,https");
        curl_easy_setopt(handle, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(handle, CURLOPT_CONNECTTIMEOUT_MS, CREDENTIALS_CONNECT_TIMEOUT_MS);
        curl_easy_setopt(handle, CURLOPT_TIMEOUT_MS, CREDENTIALS_TIMEOUT_MS);
        curl_easy_setopt(handle, CURLOPT_NOPROXY, "*"); /* a proxy must never see these answers */
        curl_easy_setopt(handle, CURLOPT_HTTPHEADER, headers);
        curl_easy_setopt(handle, CURLOPT_WRITEFUNCTION, sinkWrite);
        curl_easy_setopt(handle, CURLOPT_WRITEDATA, &sink);
        if (caFile && caFile[0])
            curl_easy_setopt(handle, CURLOPT_CAINFO, caFile);
        if (strcmp(method, "PUT") == 0) {
            curl_easy_setopt(handle, CURLOPT_CUSTOMREQUEST, "PUT");
            curl_easy_setopt(handle, CURLOPT_POSTFIELDS, "");
        }
        CURLcode code = curl_easy_perform(handle);
        long status = 0;
        curl_easy_getinfo(handle, CURLINFO_RESPONSE_CODE, &status);
        if (code == CURLE_OK && status == 200) {
            result = ERR_OK;
            break;
        }
        if (sink.tooLarge) {
            result = errSet(BACKUP_CORRUPTED, "%s: the answer is larger than %u bytes", what,
                            S3_CREDENTIALS_ANSWER_MAX);
            break;
        }
        if (code != CURLE_OK) {
            result = errSet(STORAGE_UNREACHABLE, "%s: %s", what, curl_easy_strerror(code));
        } else if (status >= 500) {
            result = errSet(STORAGE_UNREACHABLE, "%s: HTTP %ld", what, status);
        } else {
            result = errSet(STORAGE_AUTH_FAILED, "%s: HTTP %ld", what, status);
            break; /* 4xx: asking again gives the same answer */
        }
        if (attempt < CREDENTIALS_ATTEMPTS)
            usleep((useconds_t)(200000 * attempt));
    }
    curl_slist_free_all(headers);
    curl_easy_cleanup(handle);
    return result;
}

static ErrCode fetchInstance(const char *endpoint, S3Credentials *out)
{
    char base[1100];
    size_t endpointLength = strlen(endpoint);
    while (endpointLength > 0 && endpoint[endpointLength - 1] == '/')
        endpointLength--;
    snprintf(base, sizeof(base), "%.*s", (int)endpointLength, endpoint);
    Buffer body;
    bufferInit(&body);
    char url[1400], header[4200];
    /* IMDSv2: a session token first, then every GET carries it. */
    snprintf(url, sizeof(url), "%s/latest/api/token", base);
    snprintf(header, sizeof(header), "X-aws-ec2-metadata-token-ttl-seconds: %d", IMDS_TOKEN_TTL_SECONDS);
    ErrCode result = credentialsRequest("PUT", url, header, NULL, "instance metadata token", &body);
    if (result == ERR_OK) {
        if (body.length == 0 || body.length >= 1024 || memchr(body.data, '\r', body.length)
            || memchr(body.data, '\n', body.length))
            result = errSet(BACKUP_CORRUPTED, "the instance metadata token is empty or malformed");
        else
            snprintf(header, sizeof(header), "X-aws-ec2-metadata-token: %.*s", (int)body.length,
                     (const char *)body.data);
    }
    char role[256] = "";
    if (result == ERR_OK) {
        snprintf(url, sizeof(url), "%s/latest/meta-data/iam/security-credentials/", base);
        result = credentialsRequest("GET", url, header, NULL, "instance role name", &body);
        if (result == STORAGE_AUTH_FAILED)
            errSetAction("Attach an IAM role (instance profile) to this instance, or set AWS_ACCESS_KEY_ID");
    }
    if (result == ERR_OK) {
        /* The first line names the role; it becomes a URL path segment. */
        size_t length = 0;
        while (length < body.length && length < sizeof(role) - 1 && body.data[length] != '\n'
               && body.data[length] != '\r')
            length++;
        memcpy(role, body.data, length);
        role[length] = '\0';
        if (length == 0 || strspn(role, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+=,.@_-")
                               != length)
            result = errSet(BACKUP_CORRUPTED, "the instance metadata service named no usable role");
    }
    if (result == ERR_OK) {
        snprintf(url, sizeof(url), "%s/latest/meta-data/iam/security-credentials/%s", base, role);
        result = credentialsRequest("GET", url, header, NULL, "instance role credentials", &body);
    }
    OPENSSL_cleanse(header, sizeof(header));
    if (result == ERR_OK)
        result = s3CredentialsAnswerParse((const char *)body.data, body.length, out);
    if (body.data)
        OPENSSL_cleanse(body.data, body.length);
    bufferFree(&body);
    return result;
}

static ErrCode fetchContainer(const char *uri, const char *authorization, const char *caFile, S3Credentials *out)
{
    ErrCode result = s3ContainerUriCheck(uri);
    if (result != ERR_OK)
        return result;
    char header[4200] = "";
    if (authorization && authorization[0]) {
        if (strpbrk(authorization, "\r\n"))
            return errSet(CONFIG_INVALID, "AWS_CONTAINER_AUTHORIZATION_TOKEN contains a line break");
        snprintf(header, sizeof(header), "Authorization: %s", authorization);
    }
    Buffer body;
    bufferInit(&body);
    result = credentialsRequest("GET", uri, header[0] ? header : NULL, caFile, "container credentials", &body);
    OPENSSL_cleanse(header, sizeof(header));
    if (result == ERR_OK)
        result = s3CredentialsAnswerParse((const char *)body.data, body.length, out);
    if (body.data)
        OPENSSL_cleanse(body.data, body.length);
    bufferFree(&body);
    return result;
}

ErrCode s3CredentialsFetch(S3CredentialSource source, const char *uri, const char *authorization,
                           const char *caFile, S3Credentials *out)
{
    memset(out, 0, sizeof(*out));
    if (source == S3_CREDENTIALS_CONTAINER)
        return fetchContainer(uri, authorization, caFile, out);
    if (source == S3_CREDENTIALS_INSTANCE)
        return fetchInstance(uri, out);
    return errSet(ERR_INTERNAL, "no credentials source to fetch from");
}
