/* Settings to Storage (src/storage/storage_settings.c): a path opens the
 * posix driver, s3:// the S3 driver filled from AWS_* and BACKUP_S3_*
 * (keys, *_FILE secrets, the shared credentials file and its profile, the
 * region and endpoint fallbacks, encryption and part settings), and the
 * errors an operator sees for missing or contradictory settings. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "storage/storage_settings.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char home[256];

static int setUp(void **state)
{
    (void)state;
    snprintf(home, sizeof(home), "/tmp/nbk-storage-settings-XXXXXX");
    if (!mkdtemp(home))
        return -1;
    /* No credentials of the machine running the tests may leak in. */
    setenv("HOME", home, 1);
    const char *aws[] = {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SECRET_ACCESS_KEY_FILE",
                         "AWS_SESSION_TOKEN", "AWS_SESSION_TOKEN_FILE", "AWS_SHARED_CREDENTIALS_FILE",
                         "AWS_PROFILE", "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL_S3",
                         "AWS_ENDPOINT_URL", "BACKUP_STORAGE_PATH"};
    for (size_t index = 0; index < sizeof(aws) / sizeof(aws[0]); index++)
        unsetenv(aws[index]);
    return 0;
}

static int tearDown(void **state)
{
    (void)state;
    char command[512];
    snprintf(command, sizeof(command), "rm -rf '%s'", home);
    return system(command) == 0 ? 0 : -1;
}

static void writeFile(const char *path, const char *text)
{
    FILE *file = fopen(path, "w");
    assert_non_null(file);
    fputs(text, file);
    fclose(file);
}

static Config *newConfig(const char *storagePath)
{
    Config *config = NULL;
    assert_int_equal(cfgNew(&config), ERR_OK);
    assert_int_equal(cfgSetOverride(config, CFG_BACKUP_STORAGE_PATH, storagePath), ERR_OK);
    return config;
}

static void testPathOpensPosix(void **state)
{
    (void)state;
    char path[512];
    snprintf(path, sizeof(path), "%s/repo", home);
    Config *config = newConfig(path);
    Storage *storage = NULL;
    assert_int_equal(storageOpenConfigured(config, false, &storage), BACKUP_IO_FAILED);
    assert_non_null(strstr(errLast()->action, "BACKUP_STORAGE_PATH"));
    assert_int_equal(storageOpenConfigured(config, true, &storage), ERR_OK);
    assert_string_equal(storageDriverName(storage), "posix");
    struct stat info;
    assert_int_equal(stat(path, &info), 0);
    storageFree(storage);
    assert_int_equal(cfgSetOverride(config, CFG_BACKUP_STORAGE_PATH, "gs://bucket/x"), ERR_OK);
    assert_int_equal(storageOpenConfigured(config, true, &storage), CONFIG_INVALID);
    assert_non_null(strstr(errLast()->action, "s3://bucket/prefix"));
    cfgFree(config);
}

static void testS3FromKeys(void **state)
{
    (void)state;
    char secretFile[512];
    snprintf(secretFile, sizeof(secretFile), "%s/secret", home);
    writeFile(secretFile, "s3cr3t-from-file\n");
    chmod(secretFile, 0600);
    Config *config = newConfig("s3://backups-bucket/neo4j/prod/");
    assert_int_equal(cfgSetOverride(config, CFG_AWS_ACCESS_KEY_ID, "AKIDEXAMPLE"), ERR_OK);
    assert_int_equal(cfgSetOverride(config, CFG_AWS_SECRET_ACCESS_KEY_FILE, secretFile), ERR_OK);
    assert_int_equal(cfgSetOverride(config, CFG_AWS_DEFAULT_REGION, "eu-west-3"), ERR_OK);
    assert_int_equal(cfgSetOverride(config, CFG_AWS_ENDPOINT_URL, "http://127.0.0.1:9000"), ERR_OK);
    assert_int_equal(cfgSetOverride(config, CFG_BACKUP_S3_URI_STYLE, "path"), ERR_OK);
    assert_int_equal(cfgSetOverride(config, CFG_BACKUP_S3_SSE, "aws:kms"), ERR_OK);
    assert_int_equal(cfgSetOverride(config, CFG_BACKUP_S3_SSE_KMS_KEY_ID, "alias/backups"), ERR_OK);
    assert_int_equal(cfgSetOverride(config, CFG_BACKUP_S3_STORAGE_CLASS, "STANDARD_IA"), ERR_OK);
    assert_int_equal(cfgSetOverride(config, CFG_BACKUP_S3_PART_SIZE_MB, "16"), ERR_OK);
    assert_int_equal(cfgSetOverride(config, CFG_BACKUP_S3_PARTS_IN_FLIGHT, "2"), ERR_OK);
    assert_int_equal(cfgSetOverride(config, CFG_BACKUP_S3_STALL_TIMEOUT_SECONDS, "5"), ERR_OK);
    StorageLocation location;
    assert_int_equal(storageLocationParse(cfgGet(config, CFG_BACKUP_STORAGE_PATH), &location), ERR_OK);
    S3Config s3;
    assert_int_equal(storageS3ConfigFromSettings(config, &location, &s3), ERR_OK);
    assert_string_equal(s3.bucket, "backups-bucket");
    assert_string_equal(s3.prefix, "neo4j/prod");
    assert_string_equal(s3.accessKey, "AKIDEXAMPLE");
    assert_string_equal(s3.secretKey, "s3cr3t-from-file");
    assert_string_equal(s3.region, "eu-west-3");
    assert_string_equal(s3.endpoint, "http://127.0.0.1:9000");
    assert_int_equal(s3.uriStyle, S3_URI_STYLE_PATH);
    assert_string_equal(s3.sse, "aws:kms");
    assert_string_equal(s3.sseKmsKeyId, "alias/backups");
    assert_string_equal(s3.storageClass, "STANDARD_IA");
    assert_int_equal(s3.partSize, 16ull * 1024 * 1024);
    assert_int_equal(s3.partsInFlight, 2);
    assert_int_equal(s3.stallTimeoutMs, 5000);
    /* AWS_REGION wins over AWS_DEFAULT_REGION, AWS_ENDPOINT_URL_S3 over AWS_ENDPOINT_URL. */
    assert_int_equal(cfgSetOverride(config, CFG_AWS_REGION, "us-west-2"), ERR_OK);
    assert_int_equal(cfgSetOverride(config, CFG_AWS_ENDPOINT_URL_S3, "http://127.0.0.1:9001"), ERR_OK);
    assert_int_equal(storageS3ConfigFromSettings(config, &location, &s3), ERR_OK);
    assert_string_equal(s3.region, "us-west-2");
    assert_string_equal(s3.endpoint, "http://127.0.0.1:9001");
    /* Opening sends nothing: the driver is ready without a server. */
    Storage *storage = NULL;
    assert_int_equal(storageOpenConfigured(config, true, &storage), ERR_OK);
    assert_string_equal(storageDriverName(storage), "s3");
    storageFree(storage);
    /* A KMS key without aws:kms is a contradiction, not silently ignored. */
    assert_int_equal(cfgSetOverride(config, CFG_BACKUP_S3_SSE, "AES256"), ERR_OK);
    assert_int_equal(storageS3ConfigFromSettings(config, &location, &s3), CONFIG_INVALID);
    assert_non_null(strstr(errLast()->reason, "BACKUP_S3_SSE_KMS_KEY_ID"));
    assert_null(strstr(errLast()->reason, "s3cr3t"));
    cfgFree(config);
}

static void testS3FromSharedCredentials(void **state)
{
    (void)state;
    char dir[512], file[600];
    snprintf(dir, sizeof(dir), "%s/.aws", home);
    assert_int_equal(mkdir(dir, 0700), 0);
    snprintf(file, sizeof(file), "%s/credentials", dir);
    writeFile(file, "[default]\naws_access_key_id = AKIDDEFAULT\naws_secret_access_key = defaultsecret\n"
                    "[backup]\naws_access_key_id=AKIDBACKUP\naws_secret_access_key=backupsecret\n"
                    "aws_session_token=tok\n");
    /* $HOME/.aws/credentials is the default file. */
    Config *config = newConfig("s3://bucket-one");
    StorageLocation location;
    assert_int_equal(storageLocationParse("s3://bucket-one", &location), ERR_OK);
    S3Config s3;
    assert_int_equal(storageS3ConfigFromSettings(config, &location, &s3), ERR_OK);
    assert_string_equal(s3.accessKey, "AKIDDEFAULT");
    assert_string_equal(s3.secretKey, "defaultsecret");
    assert_string_equal(s3.region, "");
    assert_int_equal(s3.uriStyle, S3_URI_STYLE_HOST);
    assert_string_equal(s3.sse, "");
    assert_int_equal(cfgSetOverride(config, CFG_AWS_PROFILE, "backup"), ERR_OK);
    assert_int_equal(storageS3ConfigFromSettings(config, &location, &s3), ERR_OK);
    assert_string_equal(s3.accessKey, "AKIDBACKUP");
    assert_string_equal(s3.sessionToken, "tok");
    assert_int_equal(cfgSetOverride(config, CFG_AWS_PROFILE, "absent"), ERR_OK);
    assert_int_equal(storageS3ConfigFromSettings(config, &location, &s3), BACKUP_NOT_FOUND);
    assert_non_null(strstr(errLast()->reason, "absent"));
    cfgFree(config);
    unlink(file);
    /* Without keys and without a file: the instance metadata service, asked
     * only at the first request, at its default address or the one set. */
    config = newConfig("s3://bucket-one");
    assert_int_equal(storageS3ConfigFromSettings(config, &location, &s3), ERR_OK);
    assert_int_equal(s3.credentialSource, S3_CREDENTIALS_INSTANCE);
    assert_string_equal(s3.credentialsUri, "http://169.254.169.254");
    assert_int_equal(cfgSetOverride(config, CFG_AWS_EC2_METADATA_SERVICE_ENDPOINT, "http://127.0.0.1:1338"), ERR_OK);
    assert_int_equal(storageS3ConfigFromSettings(config, &location, &s3), ERR_OK);
    assert_string_equal(s3.credentialsUri, "http://127.0.0.1:1338");
    /* A container endpoint comes first: relative (ECS) over full (EKS). */
    assert_int_equal(cfgSetOverride(config, CFG_AWS_CONTAINER_CREDENTIALS_FULL_URI, "http://127.0.0.1:9/creds"),
                     ERR_OK);
    assert_int_equal(cfgSetOverride(config, CFG_AWS_CONTAINER_AUTHORIZATION_TOKEN, "Bearer abc"), ERR_OK);
    assert_int_equal(storageS3ConfigFromSettings(config, &location, &s3), ERR_OK);
    assert_int_equal(s3.credentialSource, S3_CREDENTIALS_CONTAINER);
    assert_string_equal(s3.credentialsUri, "http://127.0.0.1:9/creds");
    assert_string_equal(s3.credentialsToken, "Bearer abc");
    assert_int_equal(cfgSetOverride(config, CFG_AWS_CONTAINER_CREDENTIALS_RELATIVE_URI, "/v2/credentials/x"), ERR_OK);
    assert_int_equal(storageS3ConfigFromSettings(config, &location, &s3), ERR_OK);
    assert_string_equal(s3.credentialsUri, "http://169.254.170.2/v2/credentials/x");
    /* A token must never cross a network in clear. */
    assert_int_equal(cfgSetOverride(config, CFG_AWS_CONTAINER_CREDENTIALS_RELATIVE_URI, ""), ERR_OK);
    assert_int_equal(cfgSetOverride(config, CFG_AWS_CONTAINER_CREDENTIALS_FULL_URI, "http://10.0.0.5/creds"), ERR_OK);
    assert_int_equal(storageS3ConfigFromSettings(config, &location, &s3), CONFIG_INVALID);
    assert_non_null(strstr(errLast()->reason, "in clear"));
    cfgFree(config);
    /* With the metadata service disabled: a clear error and what to set. */
    config = newConfig("s3://bucket-one");
    assert_int_equal(cfgSetOverride(config, CFG_AWS_EC2_METADATA_DISABLED, "true"), ERR_OK);
    assert_int_equal(storageS3ConfigFromSettings(config, &location, &s3), CONFIG_INVALID);
    assert_non_null(strstr(errLast()->action, "AWS_ACCESS_KEY_ID"));
    /* A key without its secret. */
    assert_int_equal(cfgSetOverride(config, CFG_AWS_ACCESS_KEY_ID, "AKIDONLY"), ERR_OK);
    assert_int_equal(storageS3ConfigFromSettings(config, &location, &s3), CONFIG_INVALID);
    assert_non_null(strstr(errLast()->reason, "together"));
    cfgFree(config);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(testPathOpensPosix, setUp, tearDown),
        cmocka_unit_test_setup_teardown(testS3FromKeys, setUp, tearDown),
        cmocka_unit_test_setup_teardown(testS3FromSharedCredentials, setUp, tearDown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
