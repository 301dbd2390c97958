/* Temporary credentials without a server: the JSON answer of the instance
 * metadata service and of container endpoints (what is accepted, what is
 * refused, and that a refusal never echoes a secret), the expiry's time
 * format, and which container URIs may carry a token. The fetch itself is
 * tested against moto's metadata endpoint in tests/e2e/test_s3_repository.py. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "storage/s3_credentials.h"

#include <string.h>

static ErrCode parse(const char *text, S3Credentials *out)
{
    return s3CredentialsAnswerParse(text, strlen(text), out);
}

static void testInstanceAnswer(void **state)
{
    (void)state;
    S3Credentials credentials;
    assert_int_equal(parse("{\"Code\":\"Success\",\"LastUpdated\":\"2026-12-02T20:00:00Z\",\"Type\":\"AWS-HMAC\","
                           "\"AccessKeyId\":\"ASIAEXAMPLE\",\"SecretAccessKey\":\"s3cr3t\",\"Token\":\"tok==\","
                           "\"Expiration\":\"2026-12-03T02:00:00Z\"}",
                           &credentials),
                     ERR_OK);
    assert_string_equal(credentials.accessKey, "ASIAEXAMPLE");
    assert_string_equal(credentials.secretKey, "s3cr3t");
    assert_string_equal(credentials.sessionToken, "tok==");
    assert_int_equal(credentials.expires, 1796263200); /* 2026-12-03T02:00:00Z */
    /* Container answers have no Code; the token and expiry are optional. */
    assert_int_equal(parse("{\"AccessKeyId\":\"AK\",\"SecretAccessKey\":\"SK\"}", &credentials), ERR_OK);
    assert_string_equal(credentials.sessionToken, "");
    assert_int_equal(credentials.expires, 0);
}

static void testRefusedAnswersNeverEchoSecrets(void **state)
{
    (void)state;
    const char *refused[] = {
        "",
        "not json",
        "[1,2]",
        "{\"AccessKeyId\":\"AK\"}",
        "{\"AccessKeyId\":\"AK\",\"SecretAccessKey\":7}",
        "{\"AccessKeyId\":\"\",\"SecretAccessKey\":\"hunter2\"}",
        "{\"AccessKeyId\":\"AK\",\"SecretAccessKey\":\"hunter2\",\"Token\":\"a\\r\\nX-Evil: 1\"}",
        "{\"AccessKeyId\":\"AK\",\"SecretAccessKey\":\"hunter2\",\"Expiration\":\"tomorrow\"}",
        "{\"AccessKeyId\":\"AK\",\"SecretAccessKey\":\"hunter2\"} trailing",
        "{\"AccessKeyId\":\"A\\u0000K\",\"SecretAccessKey\":\"hunter2\"}",
    };
    for (size_t index = 0; index < sizeof(refused) / sizeof(refused[0]); index++) {
        S3Credentials credentials;
        assert_int_equal(parse(refused[index], &credentials), BACKUP_CORRUPTED);
        assert_null(strstr(errLast()->reason, "hunter2"));
        assert_string_equal(credentials.secretKey, ""); /* wiped */
    }
    S3Credentials credentials;
    assert_int_equal(parse("{\"Code\":\"AssumeRoleUnauthorizedAccess\",\"AccessKeyId\":\"AK\","
                           "\"SecretAccessKey\":\"hunter2\"}",
                           &credentials),
                     STORAGE_AUTH_FAILED);
    assert_null(strstr(errLast()->reason, "hunter2"));
}

static void testIsoTimes(void **state)
{
    (void)state;
    int64_t seconds = 0;
    assert_true(s3ParseIsoTime("1970-01-01T00:00:00Z", &seconds));
    assert_int_equal(seconds, 0);
    assert_true(s3ParseIsoTime("2026-12-03T02:00:00.123Z", &seconds));
    assert_int_equal(seconds, 1796263200);
    assert_true(s3ParseIsoTime("2026-12-03T02:00:00+00:00", &seconds));
    assert_int_equal(seconds, 1796263200);
    const char *refused[] = {"", "2026-12-03", "2026-13-03T02:00:00Z", "2026-12-03T24:00:00Z",
                             "2026-12-03T02:00:00", "2026-12-03T02:00:00+01:00", "2026-12-03T02:00:00.Z",
                             "20x6-12-03T02:00:00Z"};
    for (size_t index = 0; index < sizeof(refused) / sizeof(refused[0]); index++)
        assert_false(s3ParseIsoTime(refused[index], &seconds));
}

static void testContainerUris(void **state)
{
    (void)state;
    const char *allowed[] = {"https://creds.example.com/x", "http://169.254.170.2/v2/credentials/abc",
                             "http://169.254.170.23/v1/credentials", "http://[fd00:ec2::23]/v1/credentials",
                             "http://127.0.0.1:8080/c", "http://localhost/c", "http://[::1]:9/c"};
    for (size_t index = 0; index < sizeof(allowed) / sizeof(allowed[0]); index++)
        assert_int_equal(s3ContainerUriCheck(allowed[index]), ERR_OK);
    const char *refused[] = {"http://10.0.0.5/c", "http://169.254.170.2.evil.com/c", "http://localhost.evil/c", "http://127.0.0.1.evil.com/c",
                             "ftp://127.0.0.1/c", "http://[::1/c", "127.0.0.1/c"};
    for (size_t index = 0; index < sizeof(refused) / sizeof(refused[0]); index++)
        assert_int_equal(s3ContainerUriCheck(refused[index]), CONFIG_INVALID);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(testInstanceAnswer),
        cmocka_unit_test(testRefusedAnswersNeverEchoSecrets),
        cmocka_unit_test(testIsoTimes),
        cmocka_unit_test(testContainerUris),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
