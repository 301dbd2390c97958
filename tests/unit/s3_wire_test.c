/* The S3 driver against a scripted HTTP server in this process (loopback):
 * which requests it sends, in which order, with which x-amz-content-sha256,
 * and how it reacts to each answer: a part retried after 503 SlowDown is
 * resent with its own SHA-256, a 200 CompleteMultipartUpload that carries an
 * <Error> is retried, refused credentials are never retried, a failed
 * upload is aborted, and If-None-Match reaches the service. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "storage/s3.h"

#include <openssl/evp.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#define FAKE_MAX 32

typedef struct {
    int status;          /* 0: close the connection without answering */
    const char *headers; /* extra header lines, each ending in \r\n */
    const char *body;
} FakeReply;

typedef struct {
    char method[8];
    char target[512];
    char payloadHash[80];
    char bodyHash[65];
    char ifNoneMatch[8];
    char ifMatch[64];
    char host[96];
    char securityToken[64];
    char sse[32];
    char sseKeyId[64];
    char storageClass[32];
    char body[2048]; /* the start of the body */
} FakeRequest;

typedef struct {
    int listenFd;
    int port;
    FakeReply replies[FAKE_MAX];
    int replyCount;
    FakeRequest requests[FAKE_MAX];
    int requestCount;
    pthread_t thread;
} FakeS3;

static void hexSha256(const void *data, size_t length, char out[65])
{
    unsigned char digest[32];
    EVP_Digest(data, length, digest, NULL, EVP_sha256(), NULL);
    for (int index = 0; index < 32; index++)
        snprintf(out + index * 2, 3, "%02x", digest[index]);
}

static void headerCopy(const char *headers, const char *name, char *out, size_t outSize)
{
    out[0] = '\0';
    size_t nameLength = strlen(name);
    for (const char *line = headers; line && *line; line = strstr(line, "\r\n") ? strstr(line, "\r\n") + 2 : NULL) {
        if (strncasecmp(line, name, nameLength) == 0 && line[nameLength] == ':') {
            const char *value = line + nameLength + 1;
            while (*value == ' ')
                value++;
            size_t valueLength = strcspn(value, "\r\n");
            snprintf(out, outSize, "%.*s", (int)valueLength, value);
            return;
        }
    }
}

/* One connection, one request, one answer, then close. */
static void *fakeServe(void *payload)
{
    FakeS3 *fake = payload;
    for (;;) {
        int connection = accept(fake->listenFd, NULL, NULL);
        if (connection < 0)
            return NULL;
        size_t capacity = 8 * 1024 * 1024, length = 0;
        char *buffer = malloc(capacity);
        char *headerEnd = NULL;
        ssize_t got;
        while (!headerEnd && (got = recv(connection, buffer + length, capacity - length - 1, 0)) > 0) {
            length += (size_t)got;
            buffer[length] = '\0';
            headerEnd = strstr(buffer, "\r\n\r\n");
        }
        if (!headerEnd) {
            free(buffer);
            close(connection);
            continue;
        }
        *headerEnd = '\0';
        char contentLength[32];
        headerCopy(strstr(buffer, "\r\n") + 2, "Content-Length", contentLength, sizeof(contentLength));
        size_t bodyLength = (size_t)strtoull(contentLength, NULL, 10);
        size_t bodyStart = (size_t)(headerEnd + 4 - buffer);
        while (length < bodyStart + bodyLength && (got = recv(connection, buffer + length, capacity - length, 0)) > 0)
            length += (size_t)got;
        int index = fake->requestCount;
        if (index < FAKE_MAX) {
            FakeRequest *request = &fake->requests[index];
            sscanf(buffer, "%7s %511s", request->method, request->target);
            const char *headers = strstr(buffer, "\r\n") + 2;
            headerCopy(headers, "x-amz-content-sha256", request->payloadHash, sizeof(request->payloadHash));
            headerCopy(headers, "If-None-Match", request->ifNoneMatch, sizeof(request->ifNoneMatch));
            headerCopy(headers, "If-Match", request->ifMatch, sizeof(request->ifMatch));
            headerCopy(headers, "Host", request->host, sizeof(request->host));
            headerCopy(headers, "x-amz-security-token", request->securityToken, sizeof(request->securityToken));
            headerCopy(headers, "x-amz-server-side-encryption", request->sse, sizeof(request->sse));
            headerCopy(headers, "x-amz-server-side-encryption-aws-kms-key-id", request->sseKeyId,
                       sizeof(request->sseKeyId));
            headerCopy(headers, "x-amz-storage-class", request->storageClass, sizeof(request->storageClass));
            hexSha256(buffer + bodyStart, bodyLength, request->bodyHash);
            snprintf(request->body, sizeof(request->body), "%.*s", (int)(bodyLength < 2047 ? bodyLength : 2047),
                     buffer + bodyStart);
            fake->requestCount++;
        }
        FakeReply reply = index < fake->replyCount ? fake->replies[index] : (FakeReply){200, NULL, NULL};
        if (reply.status == 0) {
            free(buffer);
            close(connection);
            continue;
        }
        char head[1024];
        const char *body = reply.body ? reply.body : "";
        int headLength = snprintf(head, sizeof(head),
                                  "HTTP/1.1 %d Scripted\r\nContent-Length: %zu\r\nConnection: close\r\n%s\r\n",
                                  reply.status, strlen(body), reply.headers ? reply.headers : "");
        send(connection, head, (size_t)headLength, MSG_NOSIGNAL);
        send(connection, body, strlen(body), MSG_NOSIGNAL);
        free(buffer);
        close(connection);
    }
}

static FakeS3 *fakeStart(void)
{
    FakeS3 *fake = calloc(1, sizeof(*fake));
    fake->listenFd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in address = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(fake->listenFd, (struct sockaddr *)&address, sizeof(address)), 0);
    socklen_t addressLength = sizeof(address);
    getsockname(fake->listenFd, (struct sockaddr *)&address, &addressLength);
    fake->port = ntohs(address.sin_port);
    assert_int_equal(listen(fake->listenFd, 16), 0);
    pthread_create(&fake->thread, NULL, fakeServe, fake);
    return fake;
}

static void fakeStop(FakeS3 *fake)
{
    shutdown(fake->listenFd, SHUT_RDWR);
    close(fake->listenFd);
    pthread_join(fake->thread, NULL);
    free(fake);
}

static Storage *openFakeWith(const FakeS3 *fake, unsigned attempts, void (*adjust)(S3Config *config))
{
    S3Config config;
    s3ConfigDefaults(&config);
    snprintf(config.bucket, sizeof(config.bucket), "bucket");
    snprintf(config.prefix, sizeof(config.prefix), "repo");
    snprintf(config.endpoint, sizeof(config.endpoint), "http://127.0.0.1:%d", fake->port);
    snprintf(config.accessKey, sizeof(config.accessKey), "AKID");
    snprintf(config.secretKey, sizeof(config.secretKey), "TOPSECRET");
    config.uriStyle = S3_URI_STYLE_PATH;
    config.partSize = S3_PART_SIZE_MIN;
    config.partsInFlight = 1; /* one part at a time: the order of requests is fixed */
    config.attempts = attempts;
    config.retryBaseMs = 1;
    if (adjust)
        adjust(&config);
    Storage *storage = NULL;
    assert_int_equal(storageS3New(&config, &storage), ERR_OK);
    return storage;
}

static Storage *openFake(const FakeS3 *fake, unsigned attempts) { return openFakeWith(fake, attempts, NULL); }

static const char *initiated = "<InitiateMultipartUploadResult><UploadId>up-1</UploadId>"
                               "</InitiateMultipartUploadResult>";

static void testPartRetriedWithItsOwnHashAndCompleteErrorRetried(void **state)
{
    (void)state;
    FakeS3 *fake = fakeStart();
    FakeReply script[] = {
        {200, NULL, initiated},
        {503, NULL, "<Error><Code>SlowDown</Code><Message>Reduce your request rate.</Message></Error>"},
        {200, "ETag: \"etag-1\"\r\n", NULL},
        {200, "ETag: \"etag-2\"\r\n", NULL},
        {200, NULL, "<Error><Code>InternalError</Code><Message>try again</Message></Error>"},
        {200, NULL, "<CompleteMultipartUploadResult><ETag>\"x-2\"</ETag></CompleteMultipartUploadResult>"},
    };
    memcpy(fake->replies, script, sizeof(script));
    fake->replyCount = (int)(sizeof(script) / sizeof(script[0]));
    Storage *storage = openFake(fake, 3);

    size_t total = S3_PART_SIZE_MIN + 10;
    unsigned char *data = malloc(total);
    for (size_t index = 0; index < total; index++)
        data[index] = (unsigned char)(index * 7 + 3);
    StorageWrite *writer = NULL;
    assert_int_equal(storageWriteOpen(storage, "b1/archive.nbk", 0, &writer), ERR_OK);
    for (size_t offset = 0; offset < total; offset += 100000)
        assert_int_equal(storageWrite(writer, data + offset, total - offset < 100000 ? total - offset : 100000),
                         ERR_OK);
    assert_int_equal(storageWriteCommit(writer), ERR_OK);

    assert_int_equal(fake->requestCount, 6);
    assert_string_equal(fake->requests[0].method, "POST");
    assert_string_equal(fake->requests[0].target, "/bucket/repo/b1/archive.nbk?uploads=");
    char partHash[65], lastHash[65];
    hexSha256(data, S3_PART_SIZE_MIN, partHash);
    hexSha256(data + S3_PART_SIZE_MIN, 10, lastHash);
    for (int index = 1; index <= 2; index++) { /* the first try and its retry */
        assert_string_equal(fake->requests[index].method, "PUT");
        assert_string_equal(fake->requests[index].target, "/bucket/repo/b1/archive.nbk?partNumber=1&uploadId=up-1");
        assert_string_equal(fake->requests[index].payloadHash, partHash);
        assert_string_equal(fake->requests[index].bodyHash, partHash);
    }
    assert_string_equal(fake->requests[3].target, "/bucket/repo/b1/archive.nbk?partNumber=2&uploadId=up-1");
    assert_string_equal(fake->requests[3].payloadHash, lastHash);
    for (int index = 4; index <= 5; index++) {
        FakeRequest *complete = &fake->requests[index];
        assert_string_equal(complete->method, "POST");
        assert_string_equal(complete->target, "/bucket/repo/b1/archive.nbk?uploadId=up-1");
        assert_string_equal(complete->payloadHash, complete->bodyHash);
        assert_non_null(strstr(complete->body, "<PartNumber>1</PartNumber><ETag>\"etag-1\"</ETag>"));
        assert_non_null(strstr(complete->body, "<PartNumber>2</PartNumber><ETag>\"etag-2\"</ETag>"));
    }
    free(data);
    storageFree(storage);
    fakeStop(fake);
}

static void testDroppedConnectionIsRetried(void **state)
{
    (void)state;
    FakeS3 *fake = fakeStart();
    fake->replies[0] = (FakeReply){0, NULL, NULL};
    fake->replies[1] = (FakeReply){200, "ETag: \"e\"\r\nLast-Modified: Wed, 02 Dec 2026 08:00:00 GMT\r\n", NULL};
    fake->replyCount = 2;
    Storage *storage = openFake(fake, 3);
    StorageInfo info;
    assert_int_equal(storageStat(storage, "x", &info), ERR_OK);
    assert_int_equal(fake->requestCount, 2);
    assert_int_equal(info.mtime, 1796198400);
    storageFree(storage);
    fakeStop(fake);
}

static void testRefusedCredentialsAreNotRetried(void **state)
{
    (void)state;
    FakeS3 *fake = fakeStart();
    fake->replies[0] = (FakeReply){403, NULL, "<Error><Code>SignatureDoesNotMatch</Code><Message>no</Message></Error>"};
    fake->replyCount = 1;
    Storage *storage = openFake(fake, 6);
    StorageInfo info;
    assert_int_equal(storageStat(storage, "x", &info), STORAGE_AUTH_FAILED);
    assert_int_equal(fake->requestCount, 1);
    assert_null(strstr(errLast()->reason, "TOPSECRET"));
    /* An empty body gets the empty string's hash. */
    assert_string_equal(fake->requests[0].payloadHash,
                        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    storageFree(storage);
    fakeStop(fake);
}

static void testFailedUploadIsAborted(void **state)
{
    (void)state;
    FakeS3 *fake = fakeStart();
    FakeReply script[] = {
        {200, NULL, initiated},
        {500, NULL, "<Error><Code>InternalError</Code></Error>"},
        {500, NULL, "<Error><Code>InternalError</Code></Error>"},
        {204, NULL, NULL}, /* the abort */
    };
    memcpy(fake->replies, script, sizeof(script));
    fake->replyCount = 4;
    Storage *storage = openFake(fake, 2);
    size_t total = S3_PART_SIZE_MIN + 1;
    unsigned char *data = calloc(1, total);
    StorageWrite *writer = NULL;
    assert_int_equal(storageWriteOpen(storage, "b1/archive.nbk", 0, &writer), ERR_OK);
    assert_int_equal(storageWrite(writer, data, total), ERR_OK);
    assert_int_equal(storageWriteCommit(writer), STORAGE_UNREACHABLE);
    assert_non_null(strstr(errLast()->reason, "InternalError"));
    assert_int_equal(fake->requestCount, 4);
    assert_string_equal(fake->requests[3].method, "DELETE");
    assert_string_equal(fake->requests[3].target, "/bucket/repo/b1/archive.nbk?uploadId=up-1");

    /* A failure inside storageWrite (while handing over a part) poisons the
     * writer: a later write or commit fails and the upload is aborted. */
    FakeReply second[] = {
        {200, NULL, initiated},
        {500, NULL, "<Error><Code>InternalError</Code></Error>"},
        {500, NULL, "<Error><Code>InternalError</Code></Error>"},
        {204, NULL, NULL},
    };
    fake->requestCount = 0;
    memcpy(fake->replies, second, sizeof(second));
    assert_int_equal(storageWriteOpen(storage, "b1/archive.nbk", 0, &writer), ERR_OK);
    assert_int_equal(storageWrite(writer, data, S3_PART_SIZE_MIN + 1), ERR_OK);       /* part 1 sent */
    assert_int_equal(storageWrite(writer, data, S3_PART_SIZE_MIN), STORAGE_UNREACHABLE); /* joins part 1 */
    assert_int_equal(storageWrite(writer, data, 1), BACKUP_IO_FAILED);
    assert_int_equal(storageWriteCommit(writer), BACKUP_IO_FAILED);
    assert_non_null(strstr(errLast()->reason, "earlier write failed"));
    assert_int_equal(fake->requestCount, 4);
    assert_string_equal(fake->requests[3].method, "DELETE");
    assert_string_equal(fake->requests[3].method, "DELETE");
    assert_string_equal(fake->requests[3].target, "/bucket/repo/b1/archive.nbk?uploadId=up-1");
    free(data);
    storageFree(storage);
    fakeStop(fake);
}

static void testNoReplaceSendsIfNoneMatch(void **state)
{
    (void)state;
    FakeS3 *fake = fakeStart();
    fake->replies[0] = (FakeReply){412, NULL, "<Error><Code>PreconditionFailed</Code></Error>"};
    fake->replyCount = 1;
    Storage *storage = openFake(fake, 3);
    StorageWrite *writer = NULL;
    assert_int_equal(storageWriteOpen(storage, "manifest.json", STORAGE_WRITE_NO_REPLACE, &writer), ERR_OK);
    assert_int_equal(storageWrite(writer, "{}", 2), ERR_OK);
    assert_int_equal(storageWriteCommit(writer), BACKUP_IO_FAILED);
    assert_non_null(strstr(errLast()->reason, "already exists"));
    assert_int_equal(fake->requestCount, 1);
    assert_string_equal(fake->requests[0].method, "PUT");
    assert_string_equal(fake->requests[0].target, "/bucket/repo/manifest.json");
    assert_string_equal(fake->requests[0].ifNoneMatch, "*");
    assert_string_equal(fake->requests[0].body, "{}");
    storageFree(storage);
    fakeStop(fake);
}

static void withTokenAndEncryption(S3Config *config)
{
    snprintf(config->sessionToken, sizeof(config->sessionToken), "session-token-1");
    snprintf(config->sse, sizeof(config->sse), "aws:kms");
    snprintf(config->sseKmsKeyId, sizeof(config->sseKmsKeyId), "key-1");
    snprintf(config->storageClass, sizeof(config->storageClass), "STANDARD_IA");
}

static void testSessionTokenEncryptionAndStorageClass(void **state)
{
    (void)state;
    FakeS3 *fake = fakeStart();
    Storage *storage = openFakeWith(fake, 3, withTokenAndEncryption);
    StorageWrite *writer = NULL;
    assert_int_equal(storageWriteOpen(storage, "a", 0, &writer), ERR_OK);
    assert_int_equal(storageWrite(writer, "data", 4), ERR_OK);
    assert_int_equal(storageWriteCommit(writer), ERR_OK);
    StorageInfo info;
    assert_int_equal(storageStat(storage, "a", &info), ERR_OK);
    assert_int_equal(fake->requestCount, 2);
    /* Every request carries the token; object writes carry encryption and class. */
    assert_string_equal(fake->requests[0].securityToken, "session-token-1");
    assert_string_equal(fake->requests[0].sse, "aws:kms");
    assert_string_equal(fake->requests[0].sseKeyId, "key-1");
    assert_string_equal(fake->requests[0].storageClass, "STANDARD_IA");
    assert_string_equal(fake->requests[1].method, "HEAD");
    assert_string_equal(fake->requests[1].securityToken, "session-token-1");
    assert_string_equal(fake->requests[1].sse, "");
    storageFree(storage);
    fakeStop(fake);
}

static void testLockIsConditionalAndReleaseKeepsTheCallersError(void **state)
{
    (void)state;
    FakeS3 *fake = fakeStart();
    FakeReply script[] = {
        {200, "ETag: \"lock-1\"\r\n", NULL},                        /* created */
        {200, "ETag: \"lock-2\"\r\n", NULL},                        /* refreshed */
        {412, NULL, "<Error><Code>PreconditionFailed</Code></Error>"}, /* release: taken over meanwhile */
    };
    memcpy(fake->replies, script, sizeof(script));
    fake->replyCount = 3;
    Storage *storage = openFake(fake, 3);
    StorageLockOwner owner = {.owner = "test", .host = "h", .pid = 42};
    StorageLock *lock = NULL;
    assert_int_equal(storageLockAcquire(storage, "locks/repo", &owner, 60, &lock), ERR_OK);
    assert_int_equal(storageLockRefresh(lock), ERR_OK);
    errSet(BACKUP_CORRUPTED, "the caller's failure");
    storageLockRelease(lock);
    assert_int_equal(errLast()->code, BACKUP_CORRUPTED);
    assert_string_equal(errLast()->reason, "the caller's failure");
    assert_int_equal(fake->requestCount, 3);
    assert_string_equal(fake->requests[0].ifNoneMatch, "*");
    assert_non_null(strstr(fake->requests[0].body, "owner=test\nhost=h\npid=42\nexpires="));
    assert_string_equal(fake->requests[1].ifMatch, "\"lock-1\"");
    assert_string_equal(fake->requests[2].method, "DELETE");
    assert_string_equal(fake->requests[2].ifMatch, "\"lock-2\"");
    storageFree(storage);
    fakeStop(fake);
}

static void virtualHostOnLocalhost(S3Config *config)
{
    /* curl resolves every *.localhost name to loopback itself, no DNS needed. */
    char *port = strrchr(config->endpoint, ':');
    char endpoint[64];
    snprintf(endpoint, sizeof(endpoint), "http://localhost%s", port);
    snprintf(config->endpoint, sizeof(config->endpoint), "%s", endpoint);
    config->uriStyle = S3_URI_STYLE_HOST;
}

static void testVirtualHostedAddressing(void **state)
{
    (void)state;
    FakeS3 *fake = fakeStart();
    fake->replies[0] = (FakeReply){200, "ETag: \"e\"\r\n", NULL};
    fake->replyCount = 1;
    Storage *storage = openFakeWith(fake, 1, virtualHostOnLocalhost);
    StorageInfo info;
    assert_int_equal(storageStat(storage, "dir/a b", &info), ERR_OK);
    assert_int_equal(fake->requestCount, 1);
    char expectedHost[64];
    snprintf(expectedHost, sizeof(expectedHost), "bucket.localhost:%d", fake->port);
    assert_string_equal(fake->requests[0].host, expectedHost);
    assert_string_equal(fake->requests[0].target, "/repo/dir/a%20b");
    storageFree(storage);
    fakeStop(fake);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(testPartRetriedWithItsOwnHashAndCompleteErrorRetried),
        cmocka_unit_test(testDroppedConnectionIsRetried),
        cmocka_unit_test(testRefusedCredentialsAreNotRetried),
        cmocka_unit_test(testFailedUploadIsAborted),
        cmocka_unit_test(testNoReplaceSendsIfNoneMatch),
        cmocka_unit_test(testSessionTokenEncryptionAndStorageClass),
        cmocka_unit_test(testLockIsConditionalAndReleaseKeepsTheCallersError),
        cmocka_unit_test(testVirtualHostedAddressing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
