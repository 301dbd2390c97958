/* The S3 storage driver (see s3.h): SigV4-signed requests through libcurl,
 * retries with backoff and jitter, streaming multipart writes with parts
 * uploaded by a bounded set of threads, ranged reads, listings and lock
 * objects. */
#include "storage/s3.h"

#include "common/buffer.h"
#include "common/log.h"
#include "common/mem.h"
#include "storage/s3_internal.h"
#include "storage/s3_lock_record.h"
#include "storage/s3_xml.h"

#include <curl/curl.h>
#include <libxml/parser.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define S3_BACKOFF_CAP_MS 20000
#define S3_ERROR_BODY_MAX (64u * 1024u)
#define S3_LOCK_BODY_MAX 4096u
/* Temporary credentials are fetched again this long before they expire (the
 * services hand out new ones at least 5 minutes ahead), at most every 30 s. */
#define S3_CREDENTIALS_REFRESH_SECONDS 300
#define S3_CREDENTIALS_REFETCH_SECONDS 30

typedef struct {
    S3Config config;
    char sigv4[128];
    char scheme[16];
    char hostPort[512];
    CURL *handle; /* the calling thread's connection, reused between requests */
    /* Temporary credentials (credentialSource other than STATIC), shared by
     * the part threads and the lock keeper. */
    pthread_mutex_t credentialsMutex;
    S3Credentials credentials;
    bool credentialsLoaded;
    int64_t credentialsFetched; /* unix seconds of the last fetch */
} S3Storage;

typedef struct {
    const char *method;      /* GET, HEAD, PUT, POST, DELETE */
    const char *key;         /* full object key; NULL = the bucket */
    const char *query;       /* canonical query: sorted, encoded; NULL = none */
    const uint8_t *body;
    size_t bodyLength;
    const char *headers[6];  /* extra "Name: value" lines, NULL-terminated */
    bool objectHeaders;      /* adds the SSE and storage-class headers */
    bool errorIn200;         /* a 200 answer may carry an <Error> (CompleteMultipartUpload) */
    bool conflictIsFinal;    /* 409 ConditionalRequestConflict must not be retried as is */
    size_t maxBody;          /* bound of the answer's body */
} S3Request;

typedef struct {
    long status;
    Buffer body;
    bool bodyTooLarge;
    char etag[128];
    uint64_t contentLength;
    int64_t lastModified;
    S3XmlError error;
    int curlCode;
} S3Response;

/* ---- small helpers ------------------------------------------------------ */

void s3UriEncode(Buffer *out, const char *text, bool keepSlash)
{
    static const char hex[] = "0123456789ABCDEF";
    for (const unsigned char *cursor = (const unsigned char *)text; *cursor; cursor++) {
        unsigned char character = *cursor;
        bool unreserved = (character >= 'A' && character <= 'Z') || (character >= 'a' && character <= 'z')
                          || (character >= '0' && character <= '9') || character == '-' || character == '.'
                          || character == '_' || character == '~' || (keepSlash && character == '/');
        if (unreserved) {
            bufferAppendByte(out, character);
        } else {
            bufferAppendByte(out, '%');
            bufferAppendByte(out, (uint8_t)hex[character >> 4]);
            bufferAppendByte(out, (uint8_t)hex[character & 15]);
        }
    }
}

static void sha256Hex(const void *data, size_t length, char out[65])
{
    unsigned char digest[32];
    unsigned int digestLength = 0;
    EVP_Digest(data, length, digest, &digestLength, EVP_sha256(), NULL);
    for (unsigned index = 0; index < 32; index++)
        snprintf(out + index * 2, 3, "%02x", digest[index]);
}

static bool codeIs(const char *errorCode, const char *name) { return errorCode && strcmp(errorCode, name) == 0; }

S3Outcome s3Classify(int curlCode, long status, const char *errorCode)
{
    if (curlCode != CURLE_OK) {
        switch (curlCode) {
        case CURLE_COULDNT_RESOLVE_HOST:
        case CURLE_COULDNT_CONNECT:
        case CURLE_OPERATION_TIMEDOUT:
        case CURLE_SEND_ERROR:
        case CURLE_RECV_ERROR:
        case CURLE_GOT_NOTHING:
        case CURLE_PARTIAL_FILE:
        case CURLE_SSL_CONNECT_ERROR:
        case CURLE_HTTP2:
        case CURLE_HTTP2_STREAM:
            return S3_OUTCOME_RETRY;
        default:
            return S3_OUTCOME_DONE; /* bad URL, CA file, certificate, our own write abort: final */
        }
    }
    if (codeIs(errorCode, "SlowDown") || codeIs(errorCode, "RequestTimeout") || codeIs(errorCode, "InternalError")
        || codeIs(errorCode, "ServiceUnavailable") || codeIs(errorCode, "ConditionalRequestConflict"))
        return S3_OUTCOME_RETRY;
    if (status == 500 || status == 502 || status == 503 || status == 504 || status == 429)
        return S3_OUTCOME_RETRY;
    return S3_OUTCOME_DONE;
}

ErrCode s3ErrorCodeFor(int curlCode, long status, const char *errorCode)
{
    if (curlCode != CURLE_OK)
        return curlCode == CURLE_WRITE_ERROR ? BACKUP_IO_FAILED : STORAGE_UNREACHABLE;
    if (status == 401 || status == 403 || codeIs(errorCode, "ExpiredToken") || codeIs(errorCode, "InvalidToken")
        || codeIs(errorCode, "InvalidAccessKeyId") || codeIs(errorCode, "SignatureDoesNotMatch")
        || codeIs(errorCode, "AuthorizationHeaderMalformed"))
        return STORAGE_AUTH_FAILED;
    if (codeIs(errorCode, "NoSuchBucket") || codeIs(errorCode, "PermanentRedirect") || status == 301)
        return CONFIG_INVALID;
    if (status == 404)
        return BACKUP_NOT_FOUND;
    if (s3Classify(curlCode, status, errorCode) == S3_OUTCOME_RETRY)
        return STORAGE_UNREACHABLE;
    return BACKUP_IO_FAILED;
}

static void sleepMs(long milliseconds)
{
    struct timespec pause = {milliseconds / 1000, (milliseconds % 1000) * 1000000L};
    while (nanosleep(&pause, &pause) != 0 && errno == EINTR) {
    }
}

/* Full jitter: a random pause between 0 and base x 2^(attempt-1), capped. */
static long backoffMs(int retryBaseMs, unsigned attempt)
{
    long ceiling = retryBaseMs > 0 ? retryBaseMs : 1;
    for (unsigned step = 1; step < attempt && ceiling < S3_BACKOFF_CAP_MS; step++)
        ceiling *= 2;
    if (ceiling > S3_BACKOFF_CAP_MS)
        ceiling = S3_BACKOFF_CAP_MS;
    uint32_t random = 0;
    if (RAND_bytes((unsigned char *)&random, sizeof(random)) != 1)
        random = (uint32_t)time(NULL);
    return (long)(random % (uint32_t)(ceiling + 1));
}

/* ---- one HTTP exchange -------------------------------------------------- */

typedef struct {
    const uint8_t *data;
    size_t remaining;
} S3Body;

static size_t s3ReadBody(char *buffer, size_t size, size_t count, void *payload)
{
    S3Body *body = payload;
    size_t wanted = size * count;
    if (wanted > body->remaining)
        wanted = body->remaining;
    memcpy(buffer, body->data, wanted);
    body->data += wanted;
    body->remaining -= wanted;
    return wanted;
}

typedef struct {
    S3Response *response;
    size_t maxBody;
} S3Sink;

static size_t s3WriteBody(char *data, size_t size, size_t count, void *payload)
{
    S3Sink *sink = payload;
    size_t length = size * count;
    if (sink->response->body.length + length > sink->maxBody) {
        sink->response->bodyTooLarge = true;
        return 0; /* aborts the transfer with CURLE_WRITE_ERROR */
    }
    bufferAppend(&sink->response->body, data, length);
    return length;
}

/* Copies a header's value (after "name:") without blanks and line ends. */
static bool headerValue(const char *line, size_t length, const char *name, char *out, size_t outSize)
{
    size_t nameLength = strlen(name);
    if (length <= nameLength || strncasecmp(line, name, nameLength) != 0 || line[nameLength] != ':')
        return false;
    const char *value = line + nameLength + 1;
    size_t valueLength = length - nameLength - 1;
    while (valueLength > 0 && (*value == ' ' || *value == '\t')) {
        value++;
        valueLength--;
    }
    while (valueLength > 0 && (value[valueLength - 1] == '\r' || value[valueLength - 1] == '\n'
                               || value[valueLength - 1] == ' '))
        valueLength--;
    if (valueLength >= outSize)
        valueLength = outSize - 1;
    memcpy(out, value, valueLength);
    out[valueLength] = '\0';
    return true;
}

static size_t s3Header(char *line, size_t size, size_t count, void *payload)
{
    S3Response *response = payload;
    size_t length = size * count;
    char value[256];
    if (headerValue(line, length, "etag", response->etag, sizeof(response->etag))) {
    } else if (headerValue(line, length, "content-length", value, sizeof(value))) {
        response->contentLength = strtoull(value, NULL, 10);
    } else if (headerValue(line, length, "last-modified", value, sizeof(value))) {
        time_t parsed = curl_getdate(value, NULL);
        response->lastModified = parsed > 0 ? (int64_t)parsed : 0;
    }
    return length;
}

static void responseReset(S3Response *response)
{
    bufferClear(&response->body);
    response->status = 0;
    response->bodyTooLarge = false;
    response->etag[0] = '\0';
    response->contentLength = 0;
    response->lastModified = 0;
    memset(&response->error, 0, sizeof(response->error));
    response->curlCode = 0;
}

static ErrCode s3Url(const S3Storage *storage, const char *key, const char *query, Buffer *url)
{
    bufferClear(url);
    const S3Config *config = &storage->config;
    if (config->uriStyle == S3_URI_STYLE_PATH) {
        bufferAppendF(url, "%s://%s/%s", storage->scheme, storage->hostPort, config->bucket);
        if (key) {
            bufferAppendByte(url, '/');
            s3UriEncode(url, key, true);
        }
    } else {
        bufferAppendF(url, "%s://%s.%s/", storage->scheme, config->bucket, storage->hostPort);
        if (key)
            s3UriEncode(url, key, true);
    }
    if (query && query[0])
        bufferAppendF(url, "?%s", query);
    bufferAppendByte(url, '\0');
    return ERR_OK;
}

/* One attempt; fills response. Returns the CURLcode. */
static int s3Perform(S3Storage *storage, CURL *handle, const S3Request *request, const S3Credentials *keys,
                     S3Response *response)
{
    const S3Config *config = &storage->config;
    responseReset(response);
    Buffer url;
    bufferInit(&url);
    s3Url(storage, request->key, request->query, &url);
    char payloadHash[65];
    sha256Hex(request->body ? (const void *)request->body : (const void *)"", request->bodyLength, payloadHash);
    struct curl_slist *headers = NULL;
    char line[4200];
    snprintf(line, sizeof(line), "x-amz-content-sha256: %s", payloadHash);
    headers = curl_slist_append(headers, line);
    if (keys->sessionToken[0]) {
        snprintf(line, sizeof(line), "x-amz-security-token: %s", keys->sessionToken);
        headers = curl_slist_append(headers, line);
    }
    if (request->objectHeaders) {
        if (config->sse[0]) {
            snprintf(line, sizeof(line), "x-amz-server-side-encryption: %s", config->sse);
            headers = curl_slist_append(headers, line);
            if (strcmp(config->sse, "aws:kms") == 0 && config->sseKmsKeyId[0]) {
                snprintf(line, sizeof(line), "x-amz-server-side-encryption-aws-kms-key-id: %s", config->sseKmsKeyId);
                headers = curl_slist_append(headers, line);
            }
        }
        if (config->storageClass[0]) {
            snprintf(line, sizeof(line), "x-amz-storage-class: %s", config->storageClass);
            headers = curl_slist_append(headers, line);
        }
    }
    for (size_t index = 0; index < sizeof(request->headers) / sizeof(request->headers[0]) && request->headers[index];
         index++)
        headers = curl_slist_append(headers, request->headers[index]);
    bool hasBody = strcmp(request->method, "PUT") == 0 || strcmp(request->method, "POST") == 0;
    if (hasBody) {
        headers = curl_slist_append(headers, "Content-Type: application/octet-stream");
        headers = curl_slist_append(headers, "Expect:"); /* no 100-continue round trip */
    }

    curl_easy_reset(handle);
    curl_easy_setopt(handle, CURLOPT_URL, (const char *)url.data);
    curl_easy_setopt(handle, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(handle, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(handle, CURLOPT_AWS_SIGV4, storage->sigv4);
    curl_easy_setopt(handle, CURLOPT_USERNAME, keys->accessKey);
    curl_easy_setopt(handle, CURLOPT_PASSWORD, keys->secretKey);
    curl_easy_setopt(handle, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(handle, CURLOPT_CONNECTTIMEOUT_MS, (long)config->connectTimeoutMs);
    /* A stalled transfer (less than 1 byte/s for the stall time) is a time-out;
     * a total time-out would cut off big parts on slow links. */
    curl_easy_setopt(handle, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(handle, CURLOPT_LOW_SPEED_TIME, (long)((config->stallTimeoutMs + 999) / 1000));
    if (config->caFile[0])
        curl_easy_setopt(handle, CURLOPT_CAINFO, config->caFile);
    S3Sink sink = {response, request->maxBody ? request->maxBody : S3_ERROR_BODY_MAX};
    curl_easy_setopt(handle, CURLOPT_WRITEFUNCTION, s3WriteBody);
    curl_easy_setopt(handle, CURLOPT_WRITEDATA, &sink);
    curl_easy_setopt(handle, CURLOPT_HEADERFUNCTION, s3Header);
    curl_easy_setopt(handle, CURLOPT_HEADERDATA, response);
    S3Body body = {request->body, request->bodyLength};
    if (hasBody) {
        curl_easy_setopt(handle, CURLOPT_UPLOAD, 1L);
        curl_easy_setopt(handle, CURLOPT_READFUNCTION, s3ReadBody);
        curl_easy_setopt(handle, CURLOPT_READDATA, &body);
        curl_easy_setopt(handle, CURLOPT_INFILESIZE_LARGE, (curl_off_t)request->bodyLength);
        if (strcmp(request->method, "PUT") != 0)
            curl_easy_setopt(handle, CURLOPT_CUSTOMREQUEST, request->method);
    } else if (strcmp(request->method, "HEAD") == 0) {
        curl_easy_setopt(handle, CURLOPT_NOBODY, 1L);
    } else if (strcmp(request->method, "GET") != 0) {
        curl_easy_setopt(handle, CURLOPT_CUSTOMREQUEST, request->method);
    }
    CURLcode code = curl_easy_perform(handle);
    curl_easy_getinfo(handle, CURLINFO_RESPONSE_CODE, &response->status);
    /* The list held the session token. */
    for (struct curl_slist *item = headers; item; item = item->next)
        OPENSSL_cleanse(item->data, strlen(item->data));
    OPENSSL_cleanse(line, sizeof(line));
    curl_slist_free_all(headers);
    bufferFree(&url);
    response->curlCode = (int)code;
    if (code == CURLE_OK && (response->status >= 300 || (request->errorIn200 && response->status == 200)))
        s3XmlParseError((const char *)response->body.data, response->body.length, &response->error);
    return (int)code;
}

/* The keys to sign with now: the configured ones, or temporary credentials
 * fetched on first use and again shortly before they expire. A failed
 * refresh keeps the current credentials while they are still valid. */
static ErrCode s3CurrentCredentials(S3Storage *storage, S3Credentials *out)
{
    const S3Config *config = &storage->config;
    if (config->credentialSource == S3_CREDENTIALS_STATIC) {
        memset(out, 0, sizeof(*out));
        memcpy(out->accessKey, config->accessKey, sizeof(out->accessKey));
        memcpy(out->secretKey, config->secretKey, sizeof(out->secretKey));
        memcpy(out->sessionToken, config->sessionToken, sizeof(out->sessionToken));
        return ERR_OK;
    }
    pthread_mutex_lock(&storage->credentialsMutex);
    int64_t now = (int64_t)time(NULL);
    const S3Credentials *current = &storage->credentials;
    bool due = !storage->credentialsLoaded
               || (current->expires && now >= current->expires - S3_CREDENTIALS_REFRESH_SECONDS
                   && now - storage->credentialsFetched >= S3_CREDENTIALS_REFETCH_SECONDS);
    ErrCode result = ERR_OK;
    if (due) {
        const char *source = config->credentialSource == S3_CREDENTIALS_CONTAINER ? "the container credentials endpoint"
                                                                                   : "the instance metadata service";
        S3Credentials fresh;
        result = s3CredentialsFetch(config->credentialSource, config->credentialsUri, config->credentialsToken,
                                    config->caFile, &fresh);
        storage->credentialsFetched = now;
        if (result == ERR_OK) {
            storage->credentials = fresh;
            storage->credentialsLoaded = true;
            logDebug("S3 credentials from %s (%s)", source, config->credentialsUri);
        } else if (storage->credentialsLoaded && current->expires > now) {
            logWarn("could not refresh the S3 credentials from %s (%s); the current ones stay valid until they "
                    "expire", source, errLast()->reason);
            errClear();
            result = ERR_OK;
        } else if (config->credentialSource == S3_CREDENTIALS_INSTANCE && result == STORAGE_UNREACHABLE) {
            /* Most likely not an EC2 instance at all: say what is missing. */
            char reason[512];
            snprintf(reason, sizeof(reason), "%.400s", errLast()->reason);
            result = errSet(CONFIG_INVALID,
                            "no credentials for s3://%s: AWS_ACCESS_KEY_ID is unset, no shared credentials file "
                            "was found, and the instance metadata service at %s did not answer (%s)",
                            config->bucket, config->credentialsUri, reason);
            errSetAction("Set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or _FILE) or AWS_SHARED_CREDENTIALS_FILE, "
                         "or run on an instance with an IAM role; AWS_EC2_METADATA_DISABLED=true skips the metadata "
                         "service");
        } else {
            errAddContext("fetching S3 credentials from %s", source);
        }
        s3CredentialsWipe(&fresh);
    }
    if (result == ERR_OK)
        *out = storage->credentials;
    pthread_mutex_unlock(&storage->credentialsMutex);
    return result;
}

/* Sends the request, retrying transient failures. Returns ERR_OK for a 2xx
 * answer (without <Error>); otherwise the mapped ErrCode with the reason set,
 * response->status telling callers about 404 or 412. */
static ErrCode s3Request(S3Storage *storage, CURL *handle, const S3Request *request, S3Response *response)
{
    const S3Config *config = &storage->config;
    const char *shownKey = request->key ? request->key : "(bucket)";
    S3Credentials keys;
    for (unsigned attempt = 1;; attempt++) {
        ErrCode keysResult = s3CurrentCredentials(storage, &keys);
        if (keysResult != ERR_OK)
            return keysResult;
        int curlCode = s3Perform(storage, handle, request, &keys, response);
        s3CredentialsWipe(&keys);
        bool success = curlCode == CURLE_OK && response->status >= 200 && response->status < 300
                       && response->error.code[0] == '\0';
        if (success)
            return ERR_OK;
        if (curlCode == CURLE_OK && response->status == 200 && request->errorIn200 && response->error.code[0] == '\0')
            return ERR_OK;
        S3Outcome outcome = s3Classify(curlCode, response->status, response->error.code);
        if (request->conflictIsFinal && response->status == 409)
            outcome = S3_OUTCOME_DONE;
        if (outcome == S3_OUTCOME_RETRY && attempt < config->attempts) {
            long pause = backoffMs(config->retryBaseMs, attempt);
            if (curlCode != CURLE_OK)
                logDebug("S3 %s %s: %s; retry %u of %u in %ld ms", request->method, shownKey,
                         curl_easy_strerror((CURLcode)curlCode), attempt, config->attempts - 1, pause);
            else
                logDebug("S3 %s %s: HTTP %ld %s; retry %u of %u in %ld ms", request->method, shownKey,
                         response->status, response->error.code, attempt, config->attempts - 1, pause);
            sleepMs(pause);
            continue;
        }
        ErrCode code = s3ErrorCodeFor(curlCode, response->status, response->error.code);
        if (response->bodyTooLarge)
            return errSet(BACKUP_IO_FAILED, "S3 %s %s: the answer is larger than expected", request->method, shownKey);
        const char *tries = attempt > 1 ? " (after retries)" : "";
        if (curlCode != CURLE_OK)
            return errSet(code, "S3 %s %s: %s%s", request->method, shownKey, curl_easy_strerror((CURLcode)curlCode),
                          tries);
        errSet(code, "S3 %s %s: HTTP %ld%s%s%s%s%s", request->method, shownKey, response->status,
               response->error.code[0] ? " " : "", response->error.code, response->error.message[0] ? ": " : "",
               response->error.message, tries);
        if (code == STORAGE_AUTH_FAILED && codeIs(response->error.code, "AuthorizationHeaderMalformed"))
            errSetAction("Check the region setting: the bucket lives in another region");
        if (code == CONFIG_INVALID && response->status == 301)
            errSetAction("Check the region and endpoint settings: the bucket '%s' lives elsewhere", config->bucket);
        else if (code == CONFIG_INVALID)
            errSetAction("Check that the bucket '%s' exists and the endpoint is right", config->bucket);
        return code;
    }
}

static void responseInit(S3Response *response)
{
    memset(response, 0, sizeof(*response));
    bufferInit(&response->body);
}

/* Full object key of a storage name ("" = the prefix itself). */
static void s3Key(const S3Storage *storage, const char *name, char *out, size_t outSize)
{
    const char *prefix = storage->config.prefix;
    snprintf(out, outSize, "%s%s%s", prefix, prefix[0] && name[0] ? "/" : "", name);
}

/* ---- reads -------------------------------------------------------------- */

typedef struct {
    S3Storage *storage;
    char key[1100];
    char etag[128];
    uint64_t position;
    uint64_t end;
    uint64_t size;  /* of the object, from the HEAD */
    int64_t mtime;  /* its Last-Modified */
    Buffer chunk;
    size_t chunkOffset;
} S3Read;

static ErrCode s3Head(S3Storage *storage, const char *key, S3Response *response)
{
    S3Request request = {.method = "HEAD", .key = key};
    ErrCode result = s3Request(storage, storage->handle, &request, response);
    if (result == BACKUP_NOT_FOUND)
        errSet(BACKUP_NOT_FOUND, "s3://%s/%s does not exist", storage->config.bucket, key);
    return result;
}

static ErrCode s3ReadOpen(void *driver, const char *name, uint64_t offset, uint64_t length, void **out)
{
    S3Storage *storage = driver;
    S3Read *reader = memCalloc(1, sizeof(*reader));
    reader->storage = storage;
    s3Key(storage, name, reader->key, sizeof(reader->key));
    bufferInit(&reader->chunk);
    S3Response response;
    responseInit(&response);
    ErrCode result = s3Head(storage, reader->key, &response);
    if (result == ERR_OK) {
        snprintf(reader->etag, sizeof(reader->etag), "%s", response.etag);
        uint64_t size = response.contentLength;
        reader->size = size;
        reader->mtime = response.lastModified;
        reader->position = offset < size ? offset : size;
        reader->end = length == STORAGE_READ_ALL || length > size - reader->position ? size
                                                                                     : reader->position + length;
    }
    bufferFree(&response.body);
    if (result != ERR_OK) {
        bufferFree(&reader->chunk);
        free(reader);
        return result;
    }
    *out = reader;
    return ERR_OK;
}

static ErrCode s3ReadChunk(S3Read *reader)
{
    S3Storage *storage = reader->storage;
    uint64_t chunkEnd = reader->end - reader->position > storage->config.readChunk
                            ? reader->position + storage->config.readChunk
                            : reader->end;
    char range[96], ifMatch[160];
    snprintf(range, sizeof(range), "Range: bytes=%" PRIu64 "-%" PRIu64, reader->position, chunkEnd - 1);
    snprintf(ifMatch, sizeof(ifMatch), "If-Match: %s", reader->etag);
    S3Request request = {.method = "GET", .key = reader->key, .headers = {range, reader->etag[0] ? ifMatch : NULL},
                         .maxBody = (size_t)(chunkEnd - reader->position)};
    /* The consumed chunk's memory takes the next one, reserved whole at once:
     * one chunk held, not the old one beside a new one growing by doubling. */
    S3Response response;
    responseInit(&response);
    response.body = reader->chunk;
    bufferInit(&reader->chunk);
    reader->chunkOffset = 0;
    bufferClear(&response.body);
    bufferReserve(&response.body, request.maxBody);
    ErrCode result = s3Request(storage, storage->handle, &request, &response);
    if (result != ERR_OK && response.status == 412)
        result = errSet(BACKUP_IO_FAILED, "s3://%s/%s changed while being read", storage->config.bucket, reader->key);
    else if (result == ERR_OK && response.body.length != chunkEnd - reader->position)
        result = errSet(BACKUP_IO_FAILED, "s3://%s/%s: asked for %" PRIu64 " bytes, got %zu", storage->config.bucket,
                        reader->key, chunkEnd - reader->position, response.body.length);
    if (result == ERR_OK) {
        reader->chunk = response.body;
        reader->position = chunkEnd;
    } else {
        bufferFree(&response.body);
    }
    return result;
}

static ErrCode s3Read(void *handle, void *buffer, size_t size, size_t *got)
{
    S3Read *reader = handle;
    *got = 0;
    if (reader->chunkOffset >= reader->chunk.length) {
        if (reader->position >= reader->end)
            return ERR_OK;
        ErrCode result = s3ReadChunk(reader);
        if (result != ERR_OK)
            return result;
    }
    size_t available = reader->chunk.length - reader->chunkOffset;
    size_t count = size < available ? size : available;
    memcpy(buffer, reader->chunk.data + reader->chunkOffset, count);
    reader->chunkOffset += count;
    *got = count;
    return ERR_OK;
}

/* Size and time of the version being read (every GET is pinned to its ETag). */
static ErrCode s3ReadInfo(void *handle, StorageInfo *out)
{
    const S3Read *reader = handle;
    out->size = reader->size;
    out->mtime = reader->mtime;
    return ERR_OK;
}

static void s3ReadClose(void *handle)
{
    S3Read *reader = handle;
    bufferFree(&reader->chunk);
    free(reader);
}

/* ---- writes ------------------------------------------------------------- */

typedef struct S3Write S3Write;

typedef struct {
    S3Write *writer;
    pthread_t thread;
    bool running;
    unsigned partNumber;
    Buffer data;
    CURL *handle;
    ErrCode result;
    char reason[1024];
    char etag[128]; /* the part's ETag; copied into the writer's table on join */
} S3PartSlot;

typedef struct {
    char etag[128];
} S3PartEtag;

struct S3Write {
    S3Storage *storage;
    char key[1100];
    unsigned flags;
    Buffer current;          /* the part being filled */
    unsigned nextPartNumber; /* number of the part being filled */
    char uploadId[1024];     /* non-empty once the multipart upload exists */
    S3PartSlot *slots;
    unsigned slotCount;
    S3PartEtag *etags; /* by part number - 1 */
    unsigned etagCapacity;
    bool failed; /* a write failed: only an abort (or a failing commit) may follow */
};

static void *s3PartThread(void *payload)
{
    S3PartSlot *slot = payload;
    S3Write *writer = slot->writer;
    if (!slot->handle)
        slot->handle = curl_easy_init();
    char query[1200];
    Buffer encodedId;
    bufferInit(&encodedId);
    s3UriEncode(&encodedId, writer->uploadId, false);
    bufferAppendByte(&encodedId, '\0');
    snprintf(query, sizeof(query), "partNumber=%u&uploadId=%s", slot->partNumber, (const char *)encodedId.data);
    bufferFree(&encodedId);
    S3Request request = {.method = "PUT", .key = writer->key, .query = query, .body = slot->data.data,
                         .bodyLength = slot->data.length};
    S3Response response;
    responseInit(&response);
    slot->result = slot->handle ? s3Request(writer->storage, slot->handle, &request, &response)
                                : errSet(ERR_INTERNAL, "cannot create a curl handle");
    if (slot->result == ERR_OK && response.etag[0] == '\0')
        slot->result = errSet(BACKUP_IO_FAILED, "S3 PUT %s part %u: the answer has no ETag", writer->key,
                              slot->partNumber);
    /* Only the slot is written here: the writer's ETag table may be reallocated
     * by the main thread meanwhile. */
    if (slot->result == ERR_OK)
        snprintf(slot->etag, sizeof(slot->etag), "%s", response.etag);
    else
        snprintf(slot->reason, sizeof(slot->reason), "%s", errLast()->reason);
    bufferFree(&response.body);
    return NULL;
}

/* Waits for the slot's part; carries its error into this thread's errLast(). */
static ErrCode s3PartJoin(S3PartSlot *slot)
{
    if (!slot->running)
        return ERR_OK;
    pthread_join(slot->thread, NULL);
    slot->running = false;
    bufferClear(&slot->data);
    if (slot->result != ERR_OK)
        return errSet(slot->result, "%s", slot->reason);
    snprintf(slot->writer->etags[slot->partNumber - 1].etag, sizeof(slot->writer->etags[0].etag), "%s", slot->etag);
    return ERR_OK;
}

static ErrCode s3PartJoinAll(S3Write *writer)
{
    ErrCode first = ERR_OK;
    for (unsigned index = 0; index < writer->slotCount; index++) {
        ErrCode result = s3PartJoin(&writer->slots[index]);
        if (first == ERR_OK)
            first = result;
    }
    return first;
}

static ErrCode s3MultipartInitiate(S3Write *writer)
{
    S3Request request = {.method = "POST", .key = writer->key, .query = "uploads=", .objectHeaders = true};
    S3Response response;
    responseInit(&response);
    ErrCode result = s3Request(writer->storage, writer->storage->handle, &request, &response);
    if (result == ERR_OK)
        result = s3XmlParseInitiate((const char *)response.body.data, response.body.length, writer->uploadId,
                                    sizeof(writer->uploadId));
    bufferFree(&response.body);
    if (result != ERR_OK)
        writer->uploadId[0] = '\0';
    return result;
}

/* Hands writer->current to a part slot as part nextPartNumber. */
static ErrCode s3PartDispatch(S3Write *writer)
{
    if (writer->nextPartNumber > S3_PART_COUNT_MAX)
        return errSet(BACKUP_IO_FAILED, "s3://%s/%s: more than %u parts", writer->storage->config.bucket,
                      writer->key, S3_PART_COUNT_MAX);
    if (writer->uploadId[0] == '\0') {
        ErrCode result = s3MultipartInitiate(writer);
        if (result != ERR_OK)
            return result;
    }
    if (writer->nextPartNumber > writer->etagCapacity) {
        unsigned capacity = writer->etagCapacity ? writer->etagCapacity * 2 : 64;
        if (capacity > S3_PART_COUNT_MAX)
            capacity = S3_PART_COUNT_MAX;
        S3PartEtag *grown = memRealloc(writer->etags, capacity * sizeof(*grown));
        memset(grown + writer->etagCapacity, 0, (capacity - writer->etagCapacity) * sizeof(*grown));
        writer->etags = grown;
        writer->etagCapacity = capacity;
    }
    /* Slots are used in turn, so waiting on this one waits on the oldest part. */
    S3PartSlot *slot = &writer->slots[(writer->nextPartNumber - 1) % writer->slotCount];
    ErrCode result = s3PartJoin(slot);
    if (result != ERR_OK)
        return result;
    Buffer swap = slot->data;
    slot->data = writer->current;
    writer->current = swap;
    bufferClear(&writer->current);
    slot->writer = writer;
    slot->partNumber = writer->nextPartNumber++;
    slot->result = ERR_OK;
    slot->reason[0] = '\0';
    slot->etag[0] = '\0';
    if (pthread_create(&slot->thread, NULL, s3PartThread, slot) != 0) {
        writer->current = slot->data;
        slot->data = swap;
        return errSet(ERR_INTERNAL, "cannot start an upload thread");
    }
    slot->running = true;
    return ERR_OK;
}

static ErrCode s3WriteOpen(void *driver, const char *name, unsigned flags, void **out)
{
    S3Storage *storage = driver;
    S3Write *writer = memCalloc(1, sizeof(*writer));
    writer->storage = storage;
    writer->flags = flags;
    writer->nextPartNumber = 1;
    writer->slotCount = storage->config.partsInFlight;
    writer->slots = memCalloc(writer->slotCount, sizeof(*writer->slots));
    for (unsigned index = 0; index < writer->slotCount; index++)
        bufferInit(&writer->slots[index].data);
    bufferInit(&writer->current);
    s3Key(storage, name, writer->key, sizeof(writer->key));
    *out = writer;
    return ERR_OK;
}

static ErrCode s3Write(void *handle, const void *data, size_t length)
{
    S3Write *writer = handle;
    if (writer->failed)
        return errSet(BACKUP_IO_FAILED, "s3://%s/%s: an earlier write failed", writer->storage->config.bucket,
                      writer->key);
    const uint8_t *cursor = data;
    while (length > 0) {
        uint64_t partSize = s3PartSize(writer->storage->config.partSize, writer->nextPartNumber);
        size_t room = (size_t)(partSize - writer->current.length);
        size_t take = length < room ? length : room;
        bufferAppend(&writer->current, cursor, take);
        cursor += take;
        length -= take;
        /* A full part is sent only when more data follows, so the last part
         * is never empty and a file of exactly one part stays a single PUT. */
        if (writer->current.length == partSize && length > 0) {
            ErrCode result = s3PartDispatch(writer);
            if (result != ERR_OK) {
                writer->failed = true;
                return result;
            }
        }
    }
    return ERR_OK;
}

static void s3WriteFree(S3Write *writer)
{
    for (unsigned index = 0; index < writer->slotCount; index++) {
        bufferFree(&writer->slots[index].data);
        if (writer->slots[index].handle)
            curl_easy_cleanup(writer->slots[index].handle);
    }
    free(writer->slots);
    free(writer->etags);
    bufferFree(&writer->current);
    free(writer);
}

static void s3MultipartAbort(S3Write *writer)
{
    if (writer->uploadId[0] == '\0')
        return;
    Buffer query;
    bufferInit(&query);
    bufferAppendF(&query, "uploadId=");
    s3UriEncode(&query, writer->uploadId, false);
    bufferAppendByte(&query, '\0');
    S3Request request = {.method = "DELETE", .key = writer->key, .query = (const char *)query.data};
    S3Response response;
    responseInit(&response);
    if (s3Request(writer->storage, writer->storage->handle, &request, &response) != ERR_OK
        && response.status != 404)
        logWarn("could not abort the multipart upload of s3://%s/%s (%s); a lifecycle rule or a later "
                "cleanup removes it", writer->storage->config.bucket, writer->key, errLast()->reason);
    bufferFree(&response.body);
    bufferFree(&query);
    writer->uploadId[0] = '\0';
}

static ErrCode s3AlreadyExists(S3Write *writer)
{
    return errSet(BACKUP_IO_FAILED, "cannot write s3://%s/%s: already exists", writer->storage->config.bucket,
                  writer->key);
}

static ErrCode s3MultipartComplete(S3Write *writer)
{
    Buffer body, query;
    bufferInit(&body);
    bufferInit(&query);
    bufferAppendF(&body, "<CompleteMultipartUpload xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">");
    for (unsigned part = 1; part < writer->nextPartNumber; part++) {
        bufferAppendF(&body, "<Part><PartNumber>%u</PartNumber><ETag>", part);
        for (const char *cursor = writer->etags[part - 1].etag; *cursor; cursor++) {
            if (*cursor == '&')
                bufferAppendF(&body, "&amp;");
            else if (*cursor == '<')
                bufferAppendF(&body, "&lt;");
            else if (*cursor == '>')
                bufferAppendF(&body, "&gt;");
            else
                bufferAppendByte(&body, (uint8_t)*cursor);
        }
        bufferAppendF(&body, "</ETag></Part>");
    }
    bufferAppendF(&body, "</CompleteMultipartUpload>");
    bufferAppendF(&query, "uploadId=");
    s3UriEncode(&query, writer->uploadId, false);
    bufferAppendByte(&query, '\0');
    S3Request request = {.method = "POST", .key = writer->key, .query = (const char *)query.data,
                         .body = body.data, .bodyLength = body.length, .errorIn200 = true,
                         /* AWS: after a conflict the upload must start again from its first part. */
                         .conflictIsFinal = true,
                         .headers = {(writer->flags & STORAGE_WRITE_NO_REPLACE) ? "If-None-Match: *" : NULL}};
    S3Response response;
    responseInit(&response);
    ErrCode result = s3Request(writer->storage, writer->storage->handle, &request, &response);
    if (result == ERR_OK) {
        S3XmlError error;
        result = s3XmlParseComplete((const char *)response.body.data, response.body.length, &error);
    } else if (response.status == 412) {
        result = s3AlreadyExists(writer);
    }
    bufferFree(&response.body);
    bufferFree(&body);
    bufferFree(&query);
    return result;
}

static void s3WriteAbort(void *handle);

static ErrCode s3WriteCommit(void *handle)
{
    S3Write *writer = handle;
    ErrCode result = ERR_OK;
    if (writer->failed) {
        const S3Storage *storage = writer->storage;
        char key[sizeof(writer->key)];
        memcpy(key, writer->key, sizeof(key));
        s3WriteAbort(writer);
        return errSet(BACKUP_IO_FAILED, "s3://%s/%s: an earlier write failed; nothing was stored",
                      storage->config.bucket, key);
    }
    if (writer->uploadId[0] == '\0') {
        /* Everything fits in one part: one PUT makes the object appear whole. */
        S3Request request = {.method = "PUT", .key = writer->key, .body = writer->current.data,
                             .bodyLength = writer->current.length, .objectHeaders = true,
                             .headers = {(writer->flags & STORAGE_WRITE_NO_REPLACE) ? "If-None-Match: *" : NULL}};
        S3Response response;
        responseInit(&response);
        result = s3Request(writer->storage, writer->storage->handle, &request, &response);
        if (result != ERR_OK && response.status == 412)
            result = s3AlreadyExists(writer);
        bufferFree(&response.body);
    } else {
        result = s3PartDispatch(writer);
        ErrCode joined = s3PartJoinAll(writer);
        if (result == ERR_OK)
            result = joined;
        if (result == ERR_OK)
            result = s3MultipartComplete(writer);
        if (result != ERR_OK) {
            ErrDetail saved = errSave();
            s3MultipartAbort(writer);
            result = errRestore(&saved);
        }
    }
    s3WriteFree(writer);
    return result;
}

static void s3WriteAbort(void *handle)
{
    S3Write *writer = handle;
    s3PartJoinAll(writer);
    s3MultipartAbort(writer);
    s3WriteFree(writer);
}

/* ---- listing, stat, remove ---------------------------------------------- */

typedef struct {
    const S3Storage *storage;
    size_t prefixLength; /* of the storage prefix plus its '/' */
    StorageListCallback callback;
    void *payload;
} S3ListState;

static ErrCode s3ListEntry(const char *key, uint64_t size, int64_t mtime, void *payload)
{
    S3ListState *state = payload;
    if (strlen(key) <= state->prefixLength || strncmp(key, state->storage->config.prefix, state->prefixLength ? state->prefixLength - 1 : 0) != 0)
        return ERR_OK; /* not below our prefix: the service ignored it */
    const char *name = key + state->prefixLength;
    if (storageNameCheck(name, false) != ERR_OK)
        return ERR_OK; /* a key no storage name can reach, e.g. "a//b": not ours */
    StorageInfo info = {.name = name, .size = size, .mtime = mtime};
    return state->callback(&info, state->payload);
}

static ErrCode s3List(void *driver, const char *dir, StorageListCallback callback, void *payload)
{
    S3Storage *storage = driver;
    char listPrefix[1200];
    s3Key(storage, dir, listPrefix, sizeof(listPrefix));
    if (listPrefix[0])
        strncat(listPrefix, "/", sizeof(listPrefix) - strlen(listPrefix) - 1);
    S3ListState state = {storage, storage->config.prefix[0] ? strlen(storage->config.prefix) + 1 : 0, callback,
                         payload};
    char token[2048] = "";
    Buffer query;
    bufferInit(&query);
    S3Response response;
    responseInit(&response);
    ErrCode result = ERR_OK;
    for (;;) {
        bufferClear(&query);
        if (token[0]) {
            bufferAppendF(&query, "continuation-token=");
            s3UriEncode(&query, token, false);
            bufferAppendByte(&query, '&');
        }
        bufferAppendF(&query, "list-type=2&prefix=");
        s3UriEncode(&query, listPrefix, false);
        bufferAppendByte(&query, '\0');
        S3Request request = {.method = "GET", .query = (const char *)query.data, .maxBody = S3_XML_MAX_BODY};
        result = s3Request(storage, storage->handle, &request, &response);
        bool truncated = false;
        if (result == ERR_OK)
            result = s3XmlParseList((const char *)response.body.data, response.body.length, s3ListEntry, &state,
                                    &truncated, token, sizeof(token));
        if (result != ERR_OK || !truncated)
            break;
    }
    bufferFree(&response.body);
    bufferFree(&query);
    return result;
}

static ErrCode s3Stat(void *driver, const char *name, StorageInfo *out)
{
    S3Storage *storage = driver;
    char key[1100];
    s3Key(storage, name, key, sizeof(key));
    S3Response response;
    responseInit(&response);
    ErrCode result = s3Head(storage, key, &response);
    if (result == ERR_OK) {
        out->name = name;
        out->size = response.contentLength;
        out->mtime = response.lastModified;
    }
    bufferFree(&response.body);
    return result;
}

/* Stops a listing at its first entry. */
static ErrCode s3FoundOne(const StorageInfo *info, void *payload)
{
    (void)info;
    *(bool *)payload = true;
    return BACKUP_LOCKED; /* any code other than ERR_OK stops the listing */
}

/* An object is a file; a name with objects below it is a directory (object
 * storage has no directories of its own). */
static ErrCode s3Info(void *driver, const char *name, StorageInfo *out)
{
    ErrCode result = s3Stat(driver, name, out);
    if (result != BACKUP_NOT_FOUND) {
        out->kind = STORAGE_KIND_FILE;
        return result;
    }
    ErrDetail missing = errSave();
    bool found = false;
    result = s3List(driver, name, s3FoundOne, &found);
    if (found) {
        errClear();
        out->name = name;
        out->size = 0;
        out->mtime = 0;
        out->kind = STORAGE_KIND_DIR;
        return ERR_OK;
    }
    if (result != ERR_OK)
        return result;
    errRestore(&missing);
    return BACKUP_NOT_FOUND;
}

static ErrCode s3DeleteKey(S3Storage *storage, const char *key)
{
    S3Request request = {.method = "DELETE", .key = key};
    S3Response response;
    responseInit(&response);
    ErrCode result = s3Request(storage, storage->handle, &request, &response);
    if (result == BACKUP_NOT_FOUND)
        result = ERR_OK;
    bufferFree(&response.body);
    return result;
}

static ErrCode s3Remove(void *driver, const char *name)
{
    S3Storage *storage = driver;
    char key[1100];
    s3Key(storage, name, key, sizeof(key));
    return s3DeleteKey(storage, key);
}

static ErrCode s3CollectName(const StorageInfo *info, void *payload)
{
    Buffer *names = payload;
    bufferAppend(names, info->name, strlen(info->name) + 1);
    return ERR_OK;
}

static ErrCode s3RemoveDir(void *driver, const char *dir)
{
    /* Collected first: deleting while paging could skip keys. */
    Buffer names;
    bufferInit(&names);
    ErrCode result = s3List(driver, dir, s3CollectName, &names);
    for (size_t offset = 0; result == ERR_OK && offset < names.length;) {
        const char *name = (const char *)names.data + offset;
        result = s3Remove(driver, name);
        offset += strlen(name) + 1;
    }
    bufferFree(&names);
    return result;
}

/* ---- locks ------------------------------------------------------------ */

/* The lock object is written only with a precondition: created with
 * If-None-Match: *, taken over (when expired), refreshed and removed with
 * If-Match: <the ETag we last saw>, so two processes can never both believe
 * they hold it (AWS: conditional writes 2024, conditional deletes 2025). */
typedef struct {
    S3Storage *storage;
    char key[1100];
    char owner[256];
    char host[256];
    long pid;
    int ttlSeconds;
    char etag[128]; /* of our lock object; empty when the service sent none */
    CURL *handle;   /* its own connection: storage.c refreshes it from a keeper thread */
} S3Lock;

/* Keeps a recorded field on one line. */
static void s3LockField(char *out, size_t outSize, const char *value)
{
    snprintf(out, outSize, "%s", value ? value : "");
    for (char *cursor = out; *cursor; cursor++)
        if (*cursor == '\n' || *cursor == '\r')
            *cursor = ' ';
}

/* Writes our record with the given precondition header ("If-None-Match: *"
 * or "If-Match: <etag>"); remembers the new ETag on success. */
static ErrCode s3LockPut(S3Lock *lock, const char *condition, S3Response *response)
{
    char body[1024];
    int length = snprintf(body, sizeof(body), "owner=%s\nhost=%s\npid=%ld\nexpires=%lld\n", lock->owner, lock->host,
                          lock->pid, (long long)time(NULL) + lock->ttlSeconds);
    S3Request request = {.method = "PUT", .key = lock->key, .body = (const uint8_t *)body,
                         .bodyLength = (size_t)length, .headers = {condition}};
    ErrCode result = s3Request(lock->storage, lock->handle, &request, response);
    if (result == ERR_OK)
        snprintf(lock->etag, sizeof(lock->etag), "%s", response->etag);
    return result;
}

static ErrCode s3LockAcquire(void *driver, const char *name, const StorageLockOwner *owner, int ttlSeconds, void **out)
{
    S3Storage *storage = driver;
    S3Lock *lock = memCalloc(1, sizeof(*lock));
    lock->storage = storage;
    lock->ttlSeconds = ttlSeconds;
    lock->handle = curl_easy_init();
    if (!lock->handle) {
        free(lock);
        return errSet(ERR_INTERNAL, "cannot create a curl handle");
    }
    s3Key(storage, name, lock->key, sizeof(lock->key));
    s3LockField(lock->owner, sizeof(lock->owner), owner && owner->owner ? owner->owner : "neo4j-backup");
    char host[256] = "";
    if (owner && owner->host)
        snprintf(host, sizeof(host), "%s", owner->host);
    else
        gethostname(host, sizeof(host) - 1);
    s3LockField(lock->host, sizeof(lock->host), host);
    lock->pid = owner && owner->pid ? (long)owner->pid : (long)getpid();
    S3Response response;
    responseInit(&response);
    ErrCode result = ERR_OK;
    /* A few rounds: the holder may release or another process take over
     * between our requests. */
    for (int round = 0; round < 3; round++) {
        result = s3LockPut(lock, "If-None-Match: *", &response);
        if (result == ERR_OK || response.status != 412)
            break;
        S3Request get = {.method = "GET", .key = lock->key, .maxBody = S3_LOCK_BODY_MAX};
        ErrCode read = s3Request(storage, lock->handle, &get, &response);
        if (read == BACKUP_NOT_FOUND)
            continue; /* released meanwhile */
        if (read != ERR_OK) {
            result = read;
            break;
        }
        char staleEtag[128];
        snprintf(staleEtag, sizeof(staleEtag), "%s", response.etag);
        S3LockRecord record;
        s3LockRecordParse((const char *)response.body.data, response.body.length, &record);
        if (s3LockRecordExpired(&record, (int64_t)time(NULL)) && staleEtag[0]) {
            /* Take over only the version we read: if its holder refreshed it
             * or another process took it over meanwhile, the ETag differs. */
            char condition[160];
            snprintf(condition, sizeof(condition), "If-Match: %s", staleEtag);
            result = s3LockPut(lock, condition, &response);
            if (result == ERR_OK) {
                logWarn("took over the expired lock s3://%s/%s of %s on %s (pid %s)", storage->config.bucket,
                        lock->key, record.owner, record.host, record.pid);
                break;
            }
            if (response.status == 412 || response.status == 404)
                continue; /* changed meanwhile: look again */
            break;
        }
        time_t expiry = (time_t)record.expires;
        struct tm parts;
        char expiryText[32] = "?";
        if (gmtime_r(&expiry, &parts))
            strftime(expiryText, sizeof(expiryText), "%Y-%m-%dT%H:%M:%SZ", &parts);
        if (!record.hasExpires)
            result = errSet(BACKUP_LOCKED,
                            "s3://%s/%s holds no expiry this tool can read, so it is never taken over; if no "
                            "neo4j-backup process uses this repository, delete that object",
                            storage->config.bucket, lock->key);
        else
            result = errSet(BACKUP_LOCKED, "s3://%s/%s is held by pid %s (%s on %s) until %s", storage->config.bucket,
                            lock->key, record.pid[0] ? record.pid : "?", record.owner, record.host, expiryText);
        break;
    }
    if (result != ERR_OK && result != BACKUP_LOCKED && (response.status == 412 || response.status == 404))
        result = errSet(BACKUP_LOCKED, "s3://%s/%s keeps changing hands", storage->config.bucket, lock->key);
    bufferFree(&response.body);
    if (result != ERR_OK) {
        curl_easy_cleanup(lock->handle);
        free(lock);
        return result;
    }
    *out = lock;
    return ERR_OK;
}

static ErrCode s3LockRefresh(void *handle)
{
    S3Lock *lock = handle;
    S3Response response;
    responseInit(&response);
    char condition[160] = "";
    if (lock->etag[0])
        snprintf(condition, sizeof(condition), "If-Match: %s", lock->etag);
    ErrCode result = s3LockPut(lock, condition[0] ? condition : NULL, &response);
    if (result != ERR_OK && (response.status == 412 || response.status == 404))
        result = errSet(BACKUP_LOCKED, "lost the lock s3://%s/%s: it expired and was taken over or removed",
                        lock->storage->config.bucket, lock->key);
    bufferFree(&response.body);
    return result;
}

static void s3LockRelease(void *handle)
{
    S3Lock *lock = handle;
    char condition[160] = "";
    if (lock->etag[0])
        snprintf(condition, sizeof(condition), "If-Match: %s", lock->etag);
    S3Request request = {.method = "DELETE", .key = lock->key, .headers = {condition[0] ? condition : NULL}};
    S3Response response;
    responseInit(&response);
    ErrCode result = s3Request(lock->storage, lock->handle, &request, &response);
    if (result != ERR_OK && response.status == 412)
        logWarn("the lock s3://%s/%s now belongs to another process; left in place", lock->storage->config.bucket,
                lock->key);
    else if (result != ERR_OK && result != BACKUP_NOT_FOUND)
        logWarn("could not remove the lock s3://%s/%s (%s); it expires by itself", lock->storage->config.bucket,
                lock->key, errLast()->reason);
    bufferFree(&response.body);
    curl_easy_cleanup(lock->handle);
    free(lock);
}

/* Held: the lock object exists and has not expired. */
static bool s3LockHeld(void *driver, const char *name)
{
    S3Storage *storage = driver;
    char key[1100];
    s3Key(storage, name, key, sizeof(key));
    S3Request get = {.method = "GET", .key = key, .maxBody = S3_LOCK_BODY_MAX};
    S3Response response;
    responseInit(&response);
    ErrCode result = s3Request(storage, storage->handle, &get, &response);
    bool held = false;
    if (result == ERR_OK) {
        S3LockRecord record;
        s3LockRecordParse((const char *)response.body.data, response.body.length, &record);
        held = !s3LockRecordExpired(&record, (int64_t)time(NULL));
    } else if (result != BACKUP_NOT_FOUND) {
        held = true; /* cannot tell: never call a lock free that may be held */
    }
    errClear();
    bufferFree(&response.body);
    return held;
}

static ErrCode s3Space(void *driver, StorageSpace *out)
{
    out->applicable = false;
    return ERR_OK;
}

static void s3Free(void *driver)
{
    S3Storage *storage = driver;
    if (!storage)
        return;
    if (storage->handle)
        curl_easy_cleanup(storage->handle);
    /* The secrets do not outlive the driver in freed memory. */
    OPENSSL_cleanse(storage->config.secretKey, sizeof(storage->config.secretKey));
    OPENSSL_cleanse(storage->config.sessionToken, sizeof(storage->config.sessionToken));
    OPENSSL_cleanse(storage->config.credentialsToken, sizeof(storage->config.credentialsToken));
    s3CredentialsWipe(&storage->credentials);
    pthread_mutex_destroy(&storage->credentialsMutex);
    free(storage);
}

static const StorageInterface s3Interface = {
    .name = "s3",
    .readOpen = s3ReadOpen,
    .read = s3Read,
    .readClose = s3ReadClose,
    .writeOpen = s3WriteOpen,
    .write = s3Write,
    .writeCommit = s3WriteCommit,
    .writeAbort = s3WriteAbort,
    .list = s3List,
    .stat = s3Stat,
    .remove = s3Remove,
    .removeDir = s3RemoveDir,
    .lockAcquire = s3LockAcquire,
    .lockRefresh = s3LockRefresh,
    .lockRelease = s3LockRelease,
    .space = s3Space,
    .free = s3Free,
    .info = s3Info,
    .readInfo = s3ReadInfo,
    .lockHeld = s3LockHeld,
    .lockExpires = true,
};

/* ---- leftover uploads --------------------------------------------------- */

typedef struct {
    Buffer pairs; /* key\0uploadId\0 ... */
    int64_t olderThan;
} S3Leftovers;

static ErrCode s3CollectUpload(const char *key, const char *uploadId, int64_t initiated, void *payload)
{
    S3Leftovers *leftovers = payload;
    if (initiated >= 0 && initiated >= leftovers->olderThan)
        return ERR_OK;
    bufferAppend(&leftovers->pairs, key, strlen(key) + 1);
    bufferAppend(&leftovers->pairs, uploadId, strlen(uploadId) + 1);
    return ERR_OK;
}

ErrCode storageS3AbortUploads(Storage *handle, const char *dir, int64_t olderThan, unsigned *aborted)
{
    *aborted = 0;
    S3Storage *storage = storageDriverState(handle, &s3Interface);
    if (!storage)
        return errSet(BACKUP_IO_FAILED, "not an S3 repository");
    ErrCode result = storageNameCheck(dir, true);
    if (result != ERR_OK)
        return result;
    char listPrefix[1200];
    s3Key(storage, dir, listPrefix, sizeof(listPrefix));
    if (listPrefix[0])
        strncat(listPrefix, "/", sizeof(listPrefix) - strlen(listPrefix) - 1);
    S3Leftovers leftovers = {.olderThan = olderThan};
    bufferInit(&leftovers.pairs);
    char keyMarker[1024] = "", uploadIdMarker[1024] = "";
    Buffer query;
    bufferInit(&query);
    S3Response response;
    responseInit(&response);
    for (;;) {
        bufferClear(&query);
        if (keyMarker[0]) {
            bufferAppendF(&query, "key-marker=");
            s3UriEncode(&query, keyMarker, false);
            bufferAppendByte(&query, '&');
        }
        bufferAppendF(&query, "prefix=");
        s3UriEncode(&query, listPrefix, false);
        if (uploadIdMarker[0]) {
            bufferAppendF(&query, "&upload-id-marker=");
            s3UriEncode(&query, uploadIdMarker, false);
        }
        bufferAppendF(&query, "&uploads=");
        bufferAppendByte(&query, '\0');
        S3Request request = {.method = "GET", .query = (const char *)query.data, .maxBody = S3_XML_MAX_BODY};
        result = s3Request(storage, storage->handle, &request, &response);
        bool truncated = false;
        if (result == ERR_OK)
            result = s3XmlParseUploads((const char *)response.body.data, response.body.length, s3CollectUpload,
                                       &leftovers, &truncated, keyMarker, sizeof(keyMarker), uploadIdMarker,
                                       sizeof(uploadIdMarker));
        if (result != ERR_OK || !truncated)
            break;
    }
    for (size_t offset = 0; result == ERR_OK && offset < leftovers.pairs.length;) {
        const char *key = (const char *)leftovers.pairs.data + offset;
        const char *uploadId = key + strlen(key) + 1;
        offset += strlen(key) + strlen(uploadId) + 2;
        bufferClear(&query);
        bufferAppendF(&query, "uploadId=");
        s3UriEncode(&query, uploadId, false);
        bufferAppendByte(&query, '\0');
        S3Request request = {.method = "DELETE", .key = key, .query = (const char *)query.data};
        result = s3Request(storage, storage->handle, &request, &response);
        if (result == BACKUP_NOT_FOUND)
            result = ERR_OK; /* completed or aborted meanwhile */
        else if (result == ERR_OK)
            (*aborted)++;
    }
    bufferFree(&response.body);
    bufferFree(&query);
    bufferFree(&leftovers.pairs);
    return result;
}

/* ---- construction ------------------------------------------------------- */

static pthread_once_t s3GlobalOnce = PTHREAD_ONCE_INIT;

static void s3GlobalInit(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    xmlInitParser();
}

static ErrCode s3ConfigCheck(const S3Config *config)
{
    if (config->bucket[0] == '\0')
        return errSet(CONFIG_INVALID, "S3 bucket is not set");
    if (config->prefix[0] && storageNameCheck(config->prefix, false) != ERR_OK)
        return errSet(CONFIG_INVALID, "S3 prefix '%s' is not a valid key prefix", config->prefix);
    if (config->credentialSource == S3_CREDENTIALS_STATIC && (config->accessKey[0] == '\0' || config->secretKey[0] == '\0'))
        return errSet(CONFIG_INVALID, "S3 access key or secret key is not set");
    if (config->credentialSource != S3_CREDENTIALS_STATIC && config->credentialsUri[0] == '\0')
        return errSet(CONFIG_INVALID, "S3 credentials endpoint is not set");
    if (strpbrk(config->credentialsToken, "\r\n"))
        return errSet(CONFIG_INVALID, "the container authorization token contains a line break");
    if (config->partSize < S3_PART_SIZE_MIN || config->partSize > S3_PART_SIZE_MAX)
        return errSet(CONFIG_INVALID, "S3 part size must be between 5 MiB and 5 GiB, got %" PRIu64, config->partSize);
    if (config->partsInFlight < 1 || config->partsInFlight > 64)
        return errSet(CONFIG_INVALID, "S3 parts in flight must be 1..64, got %u", config->partsInFlight);
    if (config->readChunk < 64 * 1024 || config->readChunk > S3_PART_SIZE_MAX)
        return errSet(CONFIG_INVALID, "S3 read chunk must be between 64 KiB and 5 GiB");
    if (config->attempts < 1 || config->connectTimeoutMs <= 0 || config->stallTimeoutMs <= 0)
        return errSet(CONFIG_INVALID, "S3 attempts and time-outs must be positive");
    if (config->sse[0] && strcmp(config->sse, "AES256") != 0 && strcmp(config->sse, "aws:kms") != 0)
        return errSet(CONFIG_INVALID, "S3 server-side encryption must be AES256 or aws:kms, got '%s'", config->sse);
    if (config->sseKmsKeyId[0] && strcmp(config->sse, "aws:kms") != 0)
        return errSet(CONFIG_INVALID, "an S3 KMS key id needs server-side encryption aws:kms");
    for (const char *cursor = config->storageClass; *cursor; cursor++)
        if (!((*cursor >= 'A' && *cursor <= 'Z') || *cursor == '_'))
            return errSet(CONFIG_INVALID, "S3 storage class '%s' is not a storage class name", config->storageClass);
    for (const char *cursor = config->region; *cursor; cursor++)
        if (!((*cursor >= 'a' && *cursor <= 'z') || (*cursor >= '0' && *cursor <= '9') || *cursor == '-'))
            return errSet(CONFIG_INVALID, "S3 region '%s' is not a region name", config->region);
    /* Header values must stay on their line. */
    if (strpbrk(config->sessionToken, "\r\n") || strpbrk(config->sseKmsKeyId, "\r\n"))
        return errSet(CONFIG_INVALID, "S3 session token or KMS key id contains a line break");
    return ERR_OK;
}

ErrCode storageS3New(const S3Config *config, Storage **out)
{
    *out = NULL;
    ErrCode result = s3ConfigCheck(config);
    if (result != ERR_OK)
        return result;
    pthread_once(&s3GlobalOnce, s3GlobalInit);
    S3Storage *storage = memCalloc(1, sizeof(*storage));
    storage->config = *config;
    pthread_mutex_init(&storage->credentialsMutex, NULL);
    if (storage->config.region[0] == '\0')
        snprintf(storage->config.region, sizeof(storage->config.region), "us-east-1");
    const char *endpoint = config->endpoint;
    char defaultEndpoint[160];
    if (endpoint[0] == '\0') {
        snprintf(defaultEndpoint, sizeof(defaultEndpoint), "https://s3.%s.amazonaws.com", storage->config.region);
        endpoint = defaultEndpoint;
    }
    const char *separator = strstr(endpoint, "://");
    size_t schemeLength = separator ? (size_t)(separator - endpoint) : 0;
    if (!separator || !((schemeLength == 5 && strncmp(endpoint, "https", 5) == 0)
                        || (schemeLength == 4 && strncmp(endpoint, "http", 4) == 0))) {
        free(storage);
        return errSet(CONFIG_INVALID, "S3 endpoint '%s' must start with https:// or http://", endpoint);
    }
    memcpy(storage->scheme, endpoint, schemeLength);
    const char *host = separator + 3;
    size_t hostLength = strcspn(host, "/?#");
    if (hostLength == 0 || hostLength >= sizeof(storage->hostPort) || strpbrk(host, "@ ")
        || (host[hostLength] != '\0' && strcmp(host + hostLength, "/") != 0)) {
        free(storage);
        return errSet(CONFIG_INVALID, "S3 endpoint '%s' must be scheme://host[:port] without a path", endpoint);
    }
    memcpy(storage->hostPort, host, hostLength);
    snprintf(storage->sigv4, sizeof(storage->sigv4), "aws:amz:%s:s3", storage->config.region);
    storage->handle = curl_easy_init();
    if (!storage->handle) {
        free(storage);
        return errSet(ERR_INTERNAL, "cannot create a curl handle");
    }
    *out = storageNew(&s3Interface, storage);
    return ERR_OK;
}
