/* The S3 driver without a server: the growing part sizes, the AWS
 * environment and credentials file, the XML answers (including a 200 that
 * carries an <Error>), the retry decision and its error codes, key encoding
 * and the configuration checks. tests/e2e/test_storage_s3.py covers the wire. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "storage/s3.h"
#include "storage/s3_internal.h"
#include "storage/s3_xml.h"

#include <curl/curl.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void testPartSizesReachFiveTerabytes(void **state)
{
    (void)state;
    uint64_t total = 0, previous = 0;
    for (unsigned part = 1; part <= S3_PART_COUNT_MAX; part++) {
        uint64_t size = s3PartSize(S3_PART_SIZE_MIN, part);
        assert_true(size >= S3_PART_SIZE_MIN && size <= S3_PART_SIZE_MAX);
        assert_true(size >= previous); /* never shrinks */
        previous = size;
        total += size;
    }
    assert_true(total >= 5000000000000ull); /* 5 TB with the smallest first part */
    assert_int_equal(s3PartSize(8ull << 20, 1), 8ull << 20);
    assert_int_equal(s3PartSize(8ull << 20, 1000), 8ull << 20);
    assert_int_equal(s3PartSize(8ull << 20, 1001), 16ull << 20);
    assert_int_equal(s3PartSize(1, 1), S3_PART_SIZE_MIN);
    assert_int_equal(s3PartSize(S3_PART_SIZE_MAX, 9000), S3_PART_SIZE_MAX);
}

typedef struct {
    const char *pairs[16][2];
} FakeEnvironment;

static const char *fakeLookup(const char *key, void *payload)
{
    FakeEnvironment *environment = payload;
    for (int index = 0; index < 16 && environment->pairs[index][0]; index++)
        if (strcmp(environment->pairs[index][0], key) == 0)
            return environment->pairs[index][1];
    return NULL;
}

static void testConfigFromEnvironment(void **state)
{
    (void)state;
    FakeEnvironment environment = {{{"AWS_ACCESS_KEY_ID", "AKIDEXAMPLE"},
                                    {"AWS_SECRET_ACCESS_KEY", "secret/with+chars"},
                                    {"AWS_SESSION_TOKEN", "token"},
                                    {"AWS_DEFAULT_REGION", "eu-west-1"},
                                    {"AWS_REGION", "eu-central-1"},
                                    {"AWS_ENDPOINT_URL", "http://generic:9000"},
                                    {"AWS_ENDPOINT_URL_S3", "http://s3only:9000"}}};
    S3Config config;
    s3ConfigDefaults(&config);
    assert_int_equal(s3ConfigFromLookup(&config, fakeLookup, &environment), ERR_OK);
    assert_string_equal(config.accessKey, "AKIDEXAMPLE");
    assert_string_equal(config.secretKey, "secret/with+chars");
    assert_string_equal(config.sessionToken, "token");
    assert_string_equal(config.region, "eu-central-1"); /* AWS_REGION wins */
    assert_string_equal(config.endpoint, "http://s3only:9000"); /* the S3-specific one wins */

    FakeEnvironment halfKey = {{{"AWS_ACCESS_KEY_ID", "AKIDEXAMPLE"}}};
    s3ConfigDefaults(&config);
    assert_int_equal(s3ConfigFromLookup(&config, fakeLookup, &halfKey), CONFIG_INVALID);
    assert_null(strstr(errLast()->reason, "AKIDEXAMPLE"));
}

static void testCredentialsFile(void **state)
{
    (void)state;
    const char *text = "# comment\n[default]\naws_access_key_id = DEFAULTKEY\naws_secret_access_key=defaultsecret\n"
                       "\n[backup]\r\naws_access_key_id=BACKUPKEY\r\naws_secret_access_key = backupsecret \r\n"
                       "aws_session_token=backuptoken\r\n[broken]\naws_access_key_id=ONLYKEY\n";
    S3Config config;
    s3ConfigDefaults(&config);
    assert_int_equal(s3CredentialsParse(text, strlen(text), "backup", &config), ERR_OK);
    assert_string_equal(config.accessKey, "BACKUPKEY");
    assert_string_equal(config.secretKey, "backupsecret");
    assert_string_equal(config.sessionToken, "backuptoken");
    assert_int_equal(s3CredentialsParse(text, strlen(text), "default", &config), ERR_OK);
    assert_string_equal(config.accessKey, "DEFAULTKEY");
    assert_string_equal(config.sessionToken, "");
    assert_int_equal(s3CredentialsParse(text, strlen(text), "missing", &config), BACKUP_NOT_FOUND);
    assert_int_equal(s3CredentialsParse(text, strlen(text), "broken", &config), CONFIG_INVALID);

    /* Through the environment: AWS_SHARED_CREDENTIALS_FILE + AWS_PROFILE. */
    char path[] = "/tmp/nbk-s3-credentials-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    FakeEnvironment environment = {{{"AWS_SHARED_CREDENTIALS_FILE", path}, {"AWS_PROFILE", "backup"}}};
    s3ConfigDefaults(&config);
    assert_int_equal(s3ConfigFromLookup(&config, fakeLookup, &environment), ERR_OK);
    assert_string_equal(config.accessKey, "BACKUPKEY");
    FakeEnvironment missingProfile = {{{"AWS_SHARED_CREDENTIALS_FILE", path}, {"AWS_PROFILE", "nope"}}};
    assert_int_equal(s3ConfigFromLookup(&config, fakeLookup, &missingProfile), BACKUP_NOT_FOUND);
    assert_non_null(strstr(errLast()->reason, path));
    unlink(path);
}

typedef struct {
    char keys[8][64];
    uint64_t sizes[8];
    int64_t mtimes[8];
    int count;
} Collected;

static ErrCode collectObject(const char *key, uint64_t size, int64_t mtime, void *payload)
{
    Collected *collected = payload;
    snprintf(collected->keys[collected->count], sizeof(collected->keys[0]), "%s", key);
    collected->sizes[collected->count] = size;
    collected->mtimes[collected->count++] = mtime;
    return ERR_OK;
}

static void testXmlList(void **state)
{
    (void)state;
    const char *page = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>"
                       "<ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Name>b</Name>"
                       "<IsTruncated>true</IsTruncated><NextContinuationToken>tok/en==</NextContinuationToken>"
                       "<Contents><Key>p/a &amp; b</Key><Size>12</Size>"
                       "<LastModified>2026-01-02T03:04:05.000Z</LastModified></Contents>"
                       "<Contents><Key>p/c</Key><Size>0</Size></Contents></ListBucketResult>";
    Collected collected = {0};
    bool truncated = false;
    char token[64];
    assert_int_equal(s3XmlParseList(page, strlen(page), collectObject, &collected, &truncated, token, sizeof(token)),
                     ERR_OK);
    assert_true(truncated);
    assert_string_equal(token, "tok/en==");
    assert_int_equal(collected.count, 2);
    assert_string_equal(collected.keys[0], "p/a & b");
    assert_int_equal(collected.sizes[0], 12);
    assert_int_equal(collected.mtimes[0], 1767323045);
    const char *truncatedWithoutToken = "<ListBucketResult><IsTruncated>true</IsTruncated></ListBucketResult>";
    assert_int_equal(s3XmlParseList(truncatedWithoutToken, strlen(truncatedWithoutToken), collectObject, &collected,
                                    &truncated, token, sizeof(token)),
                     BACKUP_IO_FAILED);
    const char *negative = "<ListBucketResult><Contents><Key>k</Key><Size>-1</Size></Contents></ListBucketResult>";
    assert_int_equal(s3XmlParseList(negative, strlen(negative), collectObject, &collected, &truncated, token,
                                    sizeof(token)),
                     BACKUP_IO_FAILED);
    assert_int_equal(s3XmlParseList("<Error/>", 8, collectObject, &collected, &truncated, token, sizeof(token)),
                     BACKUP_IO_FAILED);
    assert_int_equal(s3XmlParseList("not xml", 7, collectObject, &collected, &truncated, token, sizeof(token)),
                     BACKUP_IO_FAILED);
}

static void testXmlCompleteAndError(void **state)
{
    (void)state;
    S3XmlError error;
    const char *done = "<CompleteMultipartUploadResult><ETag>\"x-2\"</ETag></CompleteMultipartUploadResult>";
    assert_int_equal(s3XmlParseComplete(done, strlen(done), &error), ERR_OK);
    const char *motoDone = "<CompleteMultipartUploadResponse xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
                           "<Key>t</Key></CompleteMultipartUploadResponse>";
    assert_int_equal(s3XmlParseComplete(motoDone, strlen(motoDone), &error), ERR_OK);
    /* HTTP 200 with an error inside: the upload did NOT complete. */
    const char *failed = "<?xml version=\"1.0\"?>\n<Error><Code>InternalError</Code>"
                         "<Message>We encountered an internal error.</Message></Error>";
    assert_int_equal(s3XmlParseComplete(failed, strlen(failed), &error), BACKUP_IO_FAILED);
    assert_string_equal(error.code, "InternalError");
    assert_int_equal(s3Classify(0, 200, error.code), S3_OUTCOME_RETRY);
    assert_int_equal(s3XmlParseComplete("", 0, &error), BACKUP_IO_FAILED);
    assert_true(s3XmlParseError(failed, strlen(failed), &error));
    assert_string_equal(error.message, "We encountered an internal error.");
    assert_false(s3XmlParseError(done, strlen(done), &error));
    /* No entity expansion: an external entity stays unresolved. */
    const char *external = "<!DOCTYPE e [<!ENTITY x SYSTEM \"file:///etc/passwd\">]><Error><Code>&x;</Code></Error>";
    if (s3XmlParseError(external, strlen(external), &error))
        assert_null(strstr(error.code, "root"));
}

static void testXmlInitiateAndUploads(void **state)
{
    (void)state;
    char uploadId[64];
    const char *initiated = "<InitiateMultipartUploadResult><Bucket>b</Bucket><Key>k</Key>"
                            "<UploadId>abc-123</UploadId></InitiateMultipartUploadResult>";
    assert_int_equal(s3XmlParseInitiate(initiated, strlen(initiated), uploadId, sizeof(uploadId)), ERR_OK);
    assert_string_equal(uploadId, "abc-123");
    const char *empty = "<InitiateMultipartUploadResult></InitiateMultipartUploadResult>";
    assert_int_equal(s3XmlParseInitiate(empty, strlen(empty), uploadId, sizeof(uploadId)), BACKUP_IO_FAILED);
    char oversized[256];
    snprintf(oversized, sizeof(oversized),
             "<InitiateMultipartUploadResult><UploadId>%0100d</UploadId></InitiateMultipartUploadResult>", 7);
    assert_int_equal(s3XmlParseInitiate(oversized, strlen(oversized), uploadId, 32), BACKUP_IO_FAILED);
}

static void testRetryDecision(void **state)
{
    (void)state;
    assert_int_equal(s3Classify(0, 503, "SlowDown"), S3_OUTCOME_RETRY);
    assert_int_equal(s3Classify(0, 500, ""), S3_OUTCOME_RETRY);
    assert_int_equal(s3Classify(0, 400, "RequestTimeout"), S3_OUTCOME_RETRY);
    assert_int_equal(s3Classify(0, 409, "ConditionalRequestConflict"), S3_OUTCOME_RETRY);
    assert_int_equal(s3Classify(CURLE_OPERATION_TIMEDOUT, 0, ""), S3_OUTCOME_RETRY);
    assert_int_equal(s3Classify(CURLE_RECV_ERROR, 0, ""), S3_OUTCOME_RETRY);
    assert_int_equal(s3Classify(CURLE_COULDNT_CONNECT, 0, ""), S3_OUTCOME_RETRY);
    assert_int_equal(s3Classify(0, 403, "AccessDenied"), S3_OUTCOME_DONE);
    assert_int_equal(s3Classify(0, 403, "SignatureDoesNotMatch"), S3_OUTCOME_DONE);
    assert_int_equal(s3Classify(0, 404, "NoSuchBucket"), S3_OUTCOME_DONE);
    assert_int_equal(s3Classify(0, 400, "ExpiredToken"), S3_OUTCOME_DONE);
    assert_int_equal(s3Classify(CURLE_PEER_FAILED_VERIFICATION, 0, ""), S3_OUTCOME_DONE);

    assert_int_equal(s3ErrorCodeFor(0, 403, "InvalidAccessKeyId"), STORAGE_AUTH_FAILED);
    assert_int_equal(s3ErrorCodeFor(0, 400, "ExpiredToken"), STORAGE_AUTH_FAILED);
    assert_int_equal(s3ErrorCodeFor(0, 404, "NoSuchKey"), BACKUP_NOT_FOUND);
    assert_int_equal(s3ErrorCodeFor(0, 404, "NoSuchBucket"), CONFIG_INVALID);
    assert_int_equal(s3ErrorCodeFor(CURLE_COULDNT_CONNECT, 0, ""), STORAGE_UNREACHABLE);
    assert_int_equal(s3ErrorCodeFor(0, 503, "SlowDown"), STORAGE_UNREACHABLE);
    assert_int_equal(s3ErrorCodeFor(0, 400, "InvalidPart"), BACKUP_IO_FAILED);
    assert_int_equal(s3ErrorCodeFor(0, 301, "PermanentRedirect"), CONFIG_INVALID); /* wrong region */
}

static void testUriEncode(void **state)
{
    (void)state;
    Buffer out;
    bufferInit(&out);
    s3UriEncode(&out, "dir/a b+c~d_e.f-g=h&é", true);
    bufferAppendByte(&out, '\0');
    assert_string_equal((const char *)out.data, "dir/a%20b%2Bc~d_e.f-g%3Dh%26%C3%A9");
    bufferClear(&out);
    s3UriEncode(&out, "a/b", false);
    bufferAppendByte(&out, '\0');
    assert_string_equal((const char *)out.data, "a%2Fb");
    bufferFree(&out);
}

static void testConfigChecks(void **state)
{
    (void)state;
    S3Config config;
    s3ConfigDefaults(&config);
    Storage *storage = NULL;
    assert_int_equal(storageS3New(&config, &storage), CONFIG_INVALID); /* no bucket */
    snprintf(config.bucket, sizeof(config.bucket), "bucket");
    assert_int_equal(storageS3New(&config, &storage), CONFIG_INVALID); /* no keys */
    snprintf(config.accessKey, sizeof(config.accessKey), "AKID");
    snprintf(config.secretKey, sizeof(config.secretKey), "TOPSECRET");
    config.partSize = 1024;
    assert_int_equal(storageS3New(&config, &storage), CONFIG_INVALID);
    config.partSize = 8ull << 20;
    snprintf(config.sse, sizeof(config.sse), "rot13");
    assert_int_equal(storageS3New(&config, &storage), CONFIG_INVALID);
    config.sse[0] = '\0';
    snprintf(config.endpoint, sizeof(config.endpoint), "ftp://host");
    assert_int_equal(storageS3New(&config, &storage), CONFIG_INVALID);
    assert_null(strstr(errLast()->reason, "TOPSECRET"));
    snprintf(config.endpoint, sizeof(config.endpoint), "http://127.0.0.1:9/");
    assert_int_equal(storageS3New(&config, &storage), ERR_OK);
    assert_string_equal(storageDriverName(storage), "s3");
    StorageSpace space;
    assert_int_equal(storageSpace(storage, &space), ERR_OK);
    assert_false(space.applicable);
    /* Port 9 (discard) refuses on loopback: unreachable after the retries, promptly. */
    storageFree(storage);
    config.attempts = 2;
    config.retryBaseMs = 1;
    assert_int_equal(storageS3New(&config, &storage), ERR_OK);
    StorageInfo info;
    assert_int_equal(storageStat(storage, "x", &info), STORAGE_UNREACHABLE);
    assert_null(strstr(errLast()->reason, "TOPSECRET"));
    storageFree(storage);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(testPartSizesReachFiveTerabytes),
        cmocka_unit_test(testConfigFromEnvironment),
        cmocka_unit_test(testCredentialsFile),
        cmocka_unit_test(testXmlList),
        cmocka_unit_test(testXmlCompleteAndError),
        cmocka_unit_test(testXmlInitiateAndUploads),
        cmocka_unit_test(testRetryDecision),
        cmocka_unit_test(testUriEncode),
        cmocka_unit_test(testConfigChecks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
