/* Configuration: one name per setting, precedence command line > file >
 * environment > defaults, typed getters naming bad values, secrets from X or
 * X_FILE, config file syntax, instances, and masking in cfgDescribe. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "common/config.h"
#include "common/log.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char workDir[256];
static char captured[8192];

static void captureSink(LogLevel level, const char *line, void *payload)
{
    (void)payload;
    size_t used = strlen(captured);
    snprintf(captured + used, sizeof(captured) - used, "%d:%s\n", (int)level, line);
}

static void clearEnvironment(void)
{
    size_t count;
    const CfgSetting *settings = cfgSettingsTable(&count);
    for (size_t index = 0; index < count; index++)
        unsetenv(settings[index].name);
}

static int setUp(void **state)
{
    (void)state;
    clearEnvironment();
    captured[0] = '\0';
    logSetSink(captureSink, NULL);
    snprintf(workDir, sizeof(workDir), "/tmp/nbk-config-XXXXXX");
    return mkdtemp(workDir) ? 0 : -1;
}

static int tearDown(void **state)
{
    (void)state;
    logSetSink(NULL, NULL);
    char command[300];
    snprintf(command, sizeof(command), "rm -rf '%s'", workDir);
    return system(command) == 0 ? 0 : -1;
}

/* Writes a file in the work directory and returns its path (static buffer). */
static const char *writeFile(const char *name, const char *text, mode_t mode)
{
    static char path[512];
    snprintf(path, sizeof(path), "%s/%s", workDir, name);
    FILE *file = fopen(path, "w");
    assert_non_null(file);
    fputs(text, file);
    fclose(file);
    chmod(path, mode);
    return path;
}

static Config *newConfig(void)
{
    Config *config = NULL;
    assert_int_equal(cfgNew(&config), ERR_OK);
    return config;
}

static void testTableIsConsistent(void **state)
{
    (void)state;
    size_t count;
    const CfgSetting *settings = cfgSettingsTable(&count);
    assert_true(count > 30);
    for (size_t index = 0; index < count; index++) {
        const CfgSetting *setting = &settings[index];
        assert_non_null(setting->description);
        assert_true(strlen(setting->description) > 10);
        assert_non_null(setting->group);
        for (size_t other = index + 1; other < count; other++)
            assert_string_not_equal(setting->name, settings[other].name);
        /* Every secret password/token X can also come from X_FILE, and an
         * X_FILE beside an X always belongs to a secret. */
        size_t length = strlen(setting->name);
        if (length > 5 && strcmp(setting->name + length - 5, "_FILE") == 0) {
            char base[128];
            snprintf(base, sizeof(base), "%.*s", (int)(length - 5), setting->name);
            const CfgSetting *secret = cfgSettingFind(base);
            if (secret)
                assert_true(secret->isSecret);
        }
        if (setting->isSecret) {
            assert_null(setting->defaultValue);
            if (setting->type == CFG_TYPE_STRING) {
                char fileName[128];
                snprintf(fileName, sizeof(fileName), "%s_FILE", setting->name);
                assert_non_null(cfgSettingFind(fileName));
            }
        }
    }
    assert_non_null(cfgSettingFind("BACKUP_STORAGE_PATH"));
    assert_null(cfgSettingFind("NO_SUCH_SETTING"));
}

/* The table is indexed by CfgKey: each key finds its own row, by id and by name. */
static void testKeysMatchTheTable(void **state)
{
    (void)state;
    size_t count = 0;
    const CfgSetting *settings = cfgSettingsTable(&count);
    assert_int_equal(count, CFG_KEY_COUNT_);
    for (size_t index = 0; index < count; index++) {
        CfgKey key = (CfgKey)index;
        assert_ptr_equal(cfgSetting(key), &settings[index]);
        assert_string_equal(cfgName(key), settings[index].name);
        CfgKey found = CFG_KEY_COUNT_;
        assert_true(cfgKeyFromName(settings[index].name, &found));
        assert_int_equal(found, key);
    }
    assert_string_equal(cfgName(CFG_BACKUP_STORAGE_PATH), "BACKUP_STORAGE_PATH");
    assert_string_equal(cfgName(CFG_BACKUP_API_MAX_CONNECTIONS_PER_CLIENT), "BACKUP_API_MAX_CONNECTIONS_PER_CLIENT");
    assert_int_equal(cfgSetting(CFG_BACKUP_RETENTION_DAYS)->type, CFG_TYPE_INT);
    assert_true(cfgSetting(CFG_NEO4J_PASSWORD)->isSecret);
    CfgKey unknown = CFG_KEY_COUNT_;
    assert_false(cfgKeyFromName("NO_SUCH_SETTING", &unknown));
    assert_false(cfgKeyFromName(NULL, &unknown));
    assert_int_equal(unknown, CFG_KEY_COUNT_);
    assert_null(cfgSetting(CFG_KEY_COUNT_));
}

static void testDefaults(void **state)
{
    (void)state;
    Config *config = newConfig();
    assert_string_equal(cfgGet(config, CFG_NEO4J_URI), "bolt://localhost:7687");
    assert_string_equal(cfgGet(config, CFG_NEO4J_USER), "neo4j");
    assert_string_equal(cfgGet(config, CFG_NEO4J_DATABASE), "neo4j");
    assert_string_equal(cfgGet(config, CFG_BACKUP_SCHEDULE), "0 2 * * *");
    assert_string_equal(cfgGet(config, CFG_BACKUP_COMPRESSION), "zstd");
    assert_string_equal(cfgGet(config, CFG_BACKUP_METHOD), "logical");
    assert_null(cfgGet(config, CFG_BACKUP_ALERT_EMAIL));
    assert_int_equal(cfgSource(config, CFG_BACKUP_ALERT_EMAIL), CFG_SOURCE_UNSET);
    assert_int_equal(cfgSource(config, CFG_NEO4J_URI), CFG_SOURCE_DEFAULT);
    int64_t number;
    assert_int_equal(cfgGetInt(config, CFG_BACKUP_RETENTION_DAYS, &number), ERR_OK);
    assert_int_equal(number, 7);
    assert_int_equal(cfgGetInt(config, CFG_BACKUP_KEEP_WEEKLY, &number), ERR_OK);
    assert_int_equal(number, 0);
    assert_int_equal(cfgGetInt(config, CFG_BACKUP_KEEP_MONTHLY, &number), ERR_OK);
    assert_int_equal(number, 0);
    assert_int_equal(cfgGetInt(config, CFG_BACKUP_MIN_FREE_PERCENT, &number), ERR_OK);
    assert_int_equal(number, 20);
    bool flag = true;
    assert_int_equal(cfgGetBool(config, CFG_PROMOTE_AFTER_VALIDATION, &flag), ERR_OK);
    assert_false(flag);
    int64_t delays[8];
    size_t delayCount;
    assert_int_equal(cfgGetSecondsList(config, CFG_BACKUP_RETRY_DELAYS, delays, 8, &delayCount), ERR_OK);
    assert_int_equal(delayCount, 4);
    assert_int_equal(delays[0], 60);
    assert_int_equal(delays[3], 86400);
    assert_int_equal(cfgValidate(config), ERR_OK);
    cfgFree(config);
}

static void testPrecedence(void **state)
{
    (void)state;
    setenv("BACKUP_RETENTION_DAYS", "10", 1);
    setenv("NEO4J_USER", "envuser", 1);
    setenv("BACKUP_STORAGE_PATH", "/env/backups", 1);
    setenv("BACKUP_ALERT_EMAIL", "", 1); /* empty environment = unset */
    Config *config = newConfig();
    assert_string_equal(cfgGet(config, CFG_NEO4J_USER), "envuser");
    assert_int_equal(cfgSource(config, CFG_NEO4J_USER), CFG_SOURCE_ENVIRONMENT);
    assert_int_equal(cfgSource(config, CFG_BACKUP_ALERT_EMAIL), CFG_SOURCE_UNSET);
    const char *path = writeFile("nbk.conf",
                                 "# comment\n\nBACKUP_RETENTION_DAYS=14\nexport NEO4J_USER=\"file user\"\n", 0600);
    assert_int_equal(cfgLoadFile(config, path), ERR_OK);
    assert_string_equal(cfgFilePath(config), path);
    int64_t days;
    assert_int_equal(cfgGetInt(config, CFG_BACKUP_RETENTION_DAYS, &days), ERR_OK);
    assert_int_equal(days, 14);
    assert_string_equal(cfgGet(config, CFG_NEO4J_USER), "file user");
    assert_int_equal(cfgSource(config, CFG_NEO4J_USER), CFG_SOURCE_FILE);
    assert_string_equal(cfgGet(config, CFG_BACKUP_STORAGE_PATH), "/env/backups");
    assert_int_equal(cfgSetOverride(config, CFG_BACKUP_RETENTION_DAYS, "3"), ERR_OK);
    assert_int_equal(cfgGetInt(config, CFG_BACKUP_RETENTION_DAYS, &days), ERR_OK);
    assert_int_equal(days, 3);
    assert_int_equal(cfgSource(config, CFG_BACKUP_RETENTION_DAYS), CFG_SOURCE_COMMAND_LINE);
    assert_int_equal(cfgSetOverride(config, CFG_BACKUP_RETENTION_DAYS, NULL), ERR_OK);
    assert_int_equal(cfgGetInt(config, CFG_BACKUP_RETENTION_DAYS, &days), ERR_OK);
    assert_int_equal(days, 14);
    assert_int_equal(cfgSetOverride(config, CFG_KEY_COUNT_, "1"), CONFIG_INVALID);
    assert_null(cfgGet(config, CFG_KEY_COUNT_));
    /* The environment is captured at cfgNew: later changes do not leak in. */
    setenv("BACKUP_STORAGE_PATH", "/changed", 1);
    assert_string_equal(cfgGet(config, CFG_BACKUP_STORAGE_PATH), "/env/backups");
    cfgFree(config);
}

static void testFileSyntax(void **state)
{
    (void)state;
    Config *config = newConfig();
    const char *path = writeFile("syntax.conf",
                                 "  BACKUP_STORAGE_PATH = /data/backups   # trailing comment\n"
                                 "BACKUP_ALERT_EMAIL='ops@example.com # not a comment'\n"
                                 "NEO4J_DATABASE=\"with \\\"quotes\\\" and \\\\\"\n"
                                 "BACKUP_SMTP_FROM=a#b\n"
                                 "UNKNOWN_SETTING=1\n"
                                 "BACKUP_SCHEDULE=\"*/5 * * * *\"\n",
                                 0600);
    assert_int_equal(cfgLoadFile(config, path), ERR_OK);
    assert_string_equal(cfgGet(config, CFG_BACKUP_STORAGE_PATH), "/data/backups");
    assert_string_equal(cfgGet(config, CFG_BACKUP_ALERT_EMAIL), "ops@example.com # not a comment");
    assert_string_equal(cfgGet(config, CFG_NEO4J_DATABASE), "with \"quotes\" and \\");
    assert_string_equal(cfgGet(config, CFG_BACKUP_SMTP_FROM), "a#b");
    assert_string_equal(cfgGet(config, CFG_BACKUP_SCHEDULE), "*/5 * * * *");
    assert_non_null(strstr(captured, "unknown setting 'UNKNOWN_SETTING'"));
    assert_non_null(strstr(captured, "line 5"));
    cfgFree(config);
}

static void testFileErrors(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        const char *fragment;
    } cases[] = {
        {"BACKUP_STORAGE_PATH=/x\nthis is not a setting\n", "line 2: expected KEY=VALUE"},
        {"NEO4J_USER=\"unterminated\n", "line 1: unterminated quoted value"},
        {"NEO4J_USER=\"a\" b\n", "unexpected text after the closing quote"},
        {"9KEY=1\n", "invalid key name"},
        {"[instance prod\n", "without closing"},
        {"[instance production]\nURI=bolt://x\n", "reserved"},
        {"[instance bad/name]\n", "invalid instance name"},
    };
    for (size_t index = 0; index < sizeof(cases) / sizeof(cases[0]); index++) {
        Config *config = newConfig();
        const char *path = writeFile("bad.conf", cases[index].text, 0600);
        assert_int_equal(cfgLoadFile(config, path), CONFIG_INVALID);
        if (!strstr(errLast()->reason, cases[index].fragment))
            fail_msg("case %zu: reason '%s' lacks '%s'", index, errLast()->reason, cases[index].fragment);
        assert_null(cfgFilePath(config));
        cfgFree(config);
    }
    Config *config = newConfig();
    char missing[300];
    snprintf(missing, sizeof(missing), "%s/missing.conf", workDir);
    assert_int_equal(cfgLoadFile(config, missing), CONFIG_INVALID);
    assert_non_null(strstr(errLast()->reason, "missing.conf"));
    cfgFree(config);
}

static void testTypedGettersNameKeyAndValue(void **state)
{
    (void)state;
    setenv("BACKUP_RETENTION_DAYS", "seven", 1);
    setenv("BACKUP_MIN_FREE_PERCENT", "150", 1);
    setenv("PROMOTE_AFTER_VALIDATION", "maybe", 1);
    setenv("BACKUP_COMPRESSION", "lz4", 1);
    setenv("BACKUP_RETRY_DELAYS", "60,5m,,1h", 1);
    Config *config = newConfig();
    int64_t number;
    assert_int_equal(cfgGetInt(config, CFG_BACKUP_RETENTION_DAYS, &number), CONFIG_INVALID);
    assert_non_null(strstr(errLast()->reason, "BACKUP_RETENTION_DAYS"));
    assert_non_null(strstr(errLast()->reason, "'seven'"));
    assert_non_null(strstr(errLast()->action, "environment"));
    assert_int_equal(cfgGetInt(config, CFG_BACKUP_MIN_FREE_PERCENT, &number), CONFIG_INVALID);
    assert_non_null(strstr(errLast()->reason, "from 0 to 99"));
    bool flag;
    assert_int_equal(cfgGetBool(config, CFG_PROMOTE_AFTER_VALIDATION, &flag), CONFIG_INVALID);
    assert_non_null(strstr(errLast()->reason, "'maybe'"));
    int64_t delays[8];
    size_t count;
    assert_int_equal(cfgGetSecondsList(config, CFG_BACKUP_RETRY_DELAYS, delays, 8, &count), CONFIG_INVALID);
    assert_int_equal(cfgValidate(config), CONFIG_INVALID);
    assert_non_null(strstr(errLast()->reason, "BACKUP_"));
    cfgFree(config);

    clearEnvironment();
    setenv("BACKUP_COMPRESSION", "lz4", 1);
    config = newConfig();
    assert_int_equal(cfgValidate(config), CONFIG_INVALID);
    assert_non_null(strstr(errLast()->reason, "BACKUP_COMPRESSION"));
    assert_non_null(strstr(errLast()->reason, "zstd|gzip|none"));
    cfgFree(config);

    clearEnvironment();
    setenv("PROMOTE_AFTER_VALIDATION", "YES", 1);
    setenv("BACKUP_RETRY_DELAYS", "1m, 2h,3d ,45s", 1);
    config = newConfig();
    assert_int_equal(cfgGetBool(config, CFG_PROMOTE_AFTER_VALIDATION, &flag), ERR_OK);
    assert_true(flag);
    assert_int_equal(cfgGetSecondsList(config, CFG_BACKUP_RETRY_DELAYS, delays, 8, &count), ERR_OK);
    assert_int_equal(count, 4);
    assert_int_equal(delays[0], 60);
    assert_int_equal(delays[1], 7200);
    assert_int_equal(delays[2], 259200);
    assert_int_equal(delays[3], 45);
    assert_int_equal(cfgGetSecondsList(config, CFG_BACKUP_RETRY_DELAYS, delays, 2, &count), CONFIG_INVALID);
    assert_int_equal(cfgValidate(config), ERR_OK);
    cfgFree(config);
}

static void testSecrets(void **state)
{
    (void)state;
    const char *passwordFile = writeFile("password", "s3cret\r\n\n", 0600);
    char passwordPath[512];
    snprintf(passwordPath, sizeof(passwordPath), "%s", passwordFile);
    setenv("NEO4J_PASSWORD_FILE", passwordPath, 1);
    Config *config = newConfig();
    char *secret = NULL;
    assert_int_equal(cfgGetSecret(config, CFG_NEO4J_PASSWORD, &secret), ERR_OK);
    assert_string_equal(secret, "s3cret");
    cfgSecretFree(secret);
    /* Unset entirely: NULL, no error. */
    assert_int_equal(cfgGetSecret(config, CFG_BACKUP_API_TOKEN, &secret), ERR_OK);
    assert_null(secret);
    cfgFree(config);

    /* Both in one layer: error naming both. */
    setenv("NEO4J_PASSWORD", "direct", 1);
    config = newConfig();
    assert_int_equal(cfgGetSecret(config, CFG_NEO4J_PASSWORD, &secret), CONFIG_INVALID);
    assert_null(secret);
    assert_non_null(strstr(errLast()->reason, "NEO4J_PASSWORD_FILE"));
    assert_int_equal(cfgValidate(config), CONFIG_INVALID);
    /* A higher layer wins over the other name in a lower one. */
    assert_int_equal(cfgSetOverride(config, CFG_NEO4J_PASSWORD, "from-cli"), ERR_OK);
    assert_int_equal(cfgGetSecret(config, CFG_NEO4J_PASSWORD, &secret), ERR_OK);
    assert_string_equal(secret, "from-cli");
    cfgSecretFree(secret);
    cfgFree(config);

    /* Unreadable file: error names the file, never its content. */
    clearEnvironment();
    setenv("NEO4J_PASSWORD_FILE", "/nonexistent/nbk-password", 1);
    config = newConfig();
    assert_int_equal(cfgGetSecret(config, CFG_NEO4J_PASSWORD, &secret), CONFIG_INVALID);
    assert_non_null(strstr(errLast()->reason, "/nonexistent/nbk-password"));
    assert_non_null(strstr(errLast()->reason, "NEO4J_PASSWORD_FILE"));
    cfgFree(config);
}

static void testDescribeMasksSecrets(void **state)
{
    (void)state;
    setenv("NEO4J_PASSWORD", "hunter2-topsecret", 1);
    setenv("NEO4J_URI", "bolt://admin:urlpass@db:7687", 1);
    setenv("BACKUP_SMTP_URL", "smtp://mailer:mailpass@mail:587", 1);
    Config *config = newConfig();
    const char *path = writeFile("secrets.conf",
                                 "BACKUP_API_TOKEN=tok-abcdef\n[instance staging]\nURI=bolt://staging:7687\n"
                                 "PASSWORD=staging-pw\n",
                                 0644);
    assert_int_equal(cfgLoadFile(config, path), ERR_OK);
    /* A group-readable file with secrets gets a warning. */
    assert_non_null(strstr(captured, "chmod 600"));
    Buffer out;
    bufferInit(&out);
    cfgDescribe(config, &out);
    bufferAppendByte(&out, '\0');
    const char *text = (const char *)out.data;
    assert_null(strstr(text, "hunter2"));
    assert_null(strstr(text, "urlpass"));
    assert_null(strstr(text, "mailpass"));
    assert_null(strstr(text, "tok-abcdef"));
    assert_null(strstr(text, "staging-pw"));
    assert_non_null(strstr(text, "NEO4J_PASSWORD"));
    assert_non_null(strstr(text, "****"));
    assert_non_null(strstr(text, "bolt://admin:****@db:7687"));
    assert_non_null(strstr(text, "BACKUP_RETENTION_DAYS"));
    assert_non_null(strstr(text, "(default)"));
    assert_non_null(strstr(text, "(environment)"));
    assert_non_null(strstr(text, "(config file)"));
    assert_non_null(strstr(text, "[instance staging]"));
    bufferFree(&out);
    cfgFree(config);
}

static void testInstances(void **state)
{
    (void)state;
    const char *secretPath = writeFile("staging-pw", "from-file\n", 0600);
    char secretCopy[512];
    snprintf(secretCopy, sizeof(secretCopy), "%s", secretPath);
    char text[2048];
    snprintf(text, sizeof(text),
             "NEO4J_URI=bolt+s://prod:7687\nNEO4J_PASSWORD=prod-pw\nNEO4J_START_COMMAND=systemctl start neo4j\n"
             "[instance staging]\nURI=bolt://staging:7687\nUSER=restorer\nPASSWORD_FILE=%s\n"
             "DATABASE=graph\nSTART_COMMAND=docker start staging\nNEO4J_HOME=/opt/neo4j\nBOGUS=1\n"
             "[instance test-neo4j]\nURI=bolt://test:7687\nPASSWORD=test-pw\n"
             "[instance broken]\nUSER=x\n"
             "[instance both]\nURI=bolt://b\nPASSWORD=a\nPASSWORD_FILE=%s\n"
             "[other]\nKEY=ignored\n",
             secretCopy, secretCopy);
    const char *path = writeFile("instances.conf", text, 0600);
    Config *config = newConfig();
    assert_int_equal(cfgLoadFile(config, path), ERR_OK);
    assert_non_null(strstr(captured, "unknown key 'BOGUS' in [instance staging]"));
    assert_non_null(strstr(captured, "unknown section [other]"));
    assert_int_equal(cfgInstanceCount(config), 4);
    assert_string_equal(cfgInstanceName(config, 0), "staging");
    assert_null(cfgInstanceName(config, 9));

    InstanceConfig instance;
    assert_int_equal(cfgInstance(config, "staging", &instance), ERR_OK);
    assert_string_equal(instance.uri, "bolt://staging:7687");
    assert_string_equal(instance.user, "restorer");
    assert_string_equal(instance.password, "from-file");
    assert_string_equal(instance.database, "graph");
    assert_string_equal(instance.startCommand, "docker start staging");
    assert_null(instance.stopCommand);
    assert_string_equal(instance.neo4jHome, "/opt/neo4j");
    assert_true(instance.fromConfigFile);
    assert_false(instance.isProduction);
    cfgInstanceFree(&instance);

    /* The default target prefers its section over TEST_NEO4J_*. */
    assert_int_equal(cfgInstance(config, NULL, &instance), ERR_OK);
    assert_string_equal(instance.name, "test-neo4j");
    assert_string_equal(instance.uri, "bolt://test:7687");
    assert_string_equal(instance.user, "neo4j");
    assert_string_equal(instance.database, "neo4j");
    assert_string_equal(instance.password, "test-pw");
    cfgInstanceFree(&instance);

    assert_int_equal(cfgInstance(config, "production", &instance), ERR_OK);
    assert_true(instance.isProduction);
    assert_string_equal(instance.uri, "bolt+s://prod:7687");
    assert_string_equal(instance.password, "prod-pw");
    assert_string_equal(instance.startCommand, "systemctl start neo4j");
    cfgInstanceFree(&instance);

    assert_int_equal(cfgInstance(config, "broken", &instance), CONFIG_INVALID);
    assert_non_null(strstr(errLast()->reason, "has no URI"));
    assert_int_equal(cfgInstance(config, "both", &instance), CONFIG_INVALID);
    assert_int_equal(cfgInstance(config, "nowhere", &instance), TARGET_UNKNOWN);
    assert_non_null(strstr(errLast()->reason, "staging"));
    assert_int_equal(cfgValidate(config), CONFIG_INVALID); /* the broken sections */
    cfgFree(config);
}

static void testDefaultTargetFromEnvironment(void **state)
{
    (void)state;
    Config *config = newConfig();
    InstanceConfig instance;
    assert_int_equal(cfgInstance(config, "test-neo4j", &instance), TARGET_UNKNOWN);
    assert_non_null(strstr(errLast()->action, "TEST_NEO4J_URI"));
    cfgFree(config);

    setenv("TEST_NEO4J_URI", "bolt://localhost:7688", 1);
    setenv("TEST_NEO4J_PASSWORD", "pw", 1);
    setenv("TEST_NEO4J_DATABASE", "restored", 1);
    config = newConfig();
    assert_int_equal(cfgInstance(config, "test-neo4j", &instance), ERR_OK);
    assert_string_equal(instance.uri, "bolt://localhost:7688");
    assert_string_equal(instance.password, "pw");
    assert_string_equal(instance.database, "restored");
    assert_string_equal(instance.container, "test-neo4j");
    assert_false(instance.isProduction);
    cfgInstanceFree(&instance);
    cfgFree(config);
}

static void testParseSeconds(void **state)
{
    (void)state;
    int64_t seconds;
    assert_true(cfgParseSeconds("90", &seconds));
    assert_int_equal(seconds, 90);
    assert_true(cfgParseSeconds("24h", &seconds));
    assert_int_equal(seconds, 86400);
    assert_false(cfgParseSeconds("-5", &seconds));
    assert_false(cfgParseSeconds("5x", &seconds));
    assert_false(cfgParseSeconds("", &seconds));
    assert_false(cfgParseSeconds("99999999999999999999d", &seconds));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(testTableIsConsistent),
        cmocka_unit_test(testKeysMatchTheTable),
        cmocka_unit_test_setup_teardown(testDefaults, setUp, tearDown),
        cmocka_unit_test_setup_teardown(testPrecedence, setUp, tearDown),
        cmocka_unit_test_setup_teardown(testFileSyntax, setUp, tearDown),
        cmocka_unit_test_setup_teardown(testFileErrors, setUp, tearDown),
        cmocka_unit_test_setup_teardown(testTypedGettersNameKeyAndValue, setUp, tearDown),
        cmocka_unit_test_setup_teardown(testSecrets, setUp, tearDown),
        cmocka_unit_test_setup_teardown(testDescribeMasksSecrets, setUp, tearDown),
        cmocka_unit_test_setup_teardown(testInstances, setUp, tearDown),
        cmocka_unit_test_setup_teardown(testDefaultTargetFromEnvironment, setUp, tearDown),
        cmocka_unit_test(testParseSeconds),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
