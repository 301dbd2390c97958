/* The HTTP API without Neo4j: the listen address, token checks, the Host,
 * Origin and Content-Type guards, log escaping, the form parser, HTML
 * escaping, the metrics of a real catalog on disk, and the server itself on
 * a loopback port driven by libcurl (authentication, the listing,
 * 400/401/403/404/405/413/415/421, /metrics, the status page, a job that
 * fails because Neo4j is unreachable). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "api/api.h"
#include "api/api_internal.h"
#include "api/metrics.h"
#include "catalog/catalog.h"
#include "catalog/catalog_settings.h"
#include "command/support.h"
#include "common/fsutil.h"
#include "common/log.h"
#include "common/timeutil.h"

#include <curl/curl.h>
#include <libxml/parser.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#define TEST_TOKEN "unit-test-token-0123456789abcdef"

static char workDir[256];
static char storage[300];
static volatile sig_atomic_t cancelFlag;

static void quietSink(LogLevel level, const char *line, void *payload)
{
    (void)level;
    (void)line;
    (void)payload;
}

static int setUp(void **state)
{
    (void)state;
    logSetSink(quietSink, NULL);
    snprintf(workDir, sizeof(workDir), "/tmp/nbk-api-XXXXXX");
    if (!mkdtemp(workDir))
        return -1;
    snprintf(storage, sizeof(storage), "%s/backups", workDir);
    return 0;
}

static int tearDown(void **state)
{
    (void)state;
    logSetSink(NULL, NULL);
    char command[300];
    snprintf(command, sizeof(command), "rm -rf '%s'", workDir);
    return system(command) == 0 ? 0 : -1;
}

static void makeBackup(Catalog *catalog, int64_t created, const char *status, uint64_t size, char id[CAT_ID_SIZE])
{
    assert_int_equal(catNewId(catalog, created, id), ERR_OK);
    CatBackupDir *dir = NULL;
    assert_int_equal(catBackupDirBegin(catalog, id, &dir), ERR_OK);
    char archive[PATH_MAX];
    assert_int_equal(fsPathJoin(archive, sizeof(archive), catBackupDirPath(dir), "graph.nbk"), ERR_OK);
    /* The archive has the manifest's size: listings compare the two. */
    char *content = calloc(1, size ? size : 1);
    assert_non_null(content);
    assert_int_equal(fsWriteAtomic(archive, content, size, 0600), ERR_OK);
    free(content);
    Manifest *manifest = manifestNew();
    manifestSetString(&manifest->id, id);
    manifest->created = created;
    manifestSetString(&manifest->status, status);
    manifestSetString(&manifest->archive.file, "graph.nbk");
    manifest->archive.sizeCompressed = size;
    manifest->archive.sizeUncompressed = size * 2;
    manifest->stats.nodes = 1500;
    manifest->stats.relationships = 3200;
    manifest->durationSeconds = 145.25;
    assert_int_equal(manifestSave(manifest, catBackupDirPath(dir)), ERR_OK);
    manifestFree(manifest);
    assert_int_equal(catBackupDirCommit(dir), ERR_OK);
}

/* ---- pure helpers ---- */

static void testAddressParse(void **state)
{
    (void)state;
    ApiAddress address;
    assert_int_equal(apiAddressParse("127.0.0.1:9090", &address), ERR_OK);
    assert_true(address.loopback);
    assert_int_equal(address.port, 9090);
    assert_string_equal(address.text, "127.0.0.1:9090");
    assert_int_equal(apiAddressParse("[::1]:8080", &address), ERR_OK);
    assert_true(address.loopback);
    assert_string_equal(address.text, "[::1]:8080");
    assert_int_equal(apiAddressParse("127.8.9.10:1", &address), ERR_OK);
    assert_true(address.loopback);
    assert_int_equal(apiAddressParse("0.0.0.0:9090", &address), ERR_OK);
    assert_false(address.loopback);
    assert_int_equal(apiAddressParse("10.1.2.3:0", &address), ERR_OK);
    assert_false(address.loopback);
    assert_int_equal(address.port, 0);
    assert_int_equal(apiAddressParse("localhost:9090", &address), ERR_OK);
    assert_true(address.loopback);

    static const char *const bad[] = {"", "127.0.0.1", "127.0.0.1:", ":9090", "::1:9090", "[::1]9090",
                                      "127.0.0.1:99999", "127.0.0.1:90a", "127.0.0.1:-1", "[]:80"};
    for (size_t index = 0; index < sizeof(bad) / sizeof(bad[0]); index++) {
        if (apiAddressParse(bad[index], &address) != CONFIG_INVALID)
            fail_msg("accepted '%s'", bad[index]);
        assert_non_null(strstr(errLast()->reason, "BACKUP_API_LISTEN"));
    }
    assert_int_equal(apiAddressParse(NULL, &address), CONFIG_INVALID);
}

static void testHostGuard(void **state)
{
    (void)state;
    ApiHostRules loopback = {.port = 9090, .listenHost = "127.0.0.1", .loopback = true};
    static const char *const accepted[] = {"127.0.0.1", "127.0.0.1:9090", "localhost", "LocalHost:9090",
                                           "[::1]", "[::1]:9090", " 127.0.0.1:9090 "};
    for (size_t index = 0; index < sizeof(accepted) / sizeof(accepted[0]); index++)
        if (!apiHostAllowed(&loopback, accepted[index]))
            fail_msg("refused Host '%s'", accepted[index]);
    /* DNS rebinding: the attacker's name, however it resolves; wrong ports; junk. */
    static const char *const refused[] = {"attacker.example", "attacker.example:9090", "127.0.0.1:9091",
                                          "localhost:80", "localhost.", "127.0.0.1:", "127.0.0.1:0",
                                          "127.0.0.1:9090x", "[::1]x", "[::1", "", "user@127.0.0.1",
                                          "127.0.0.1/x", "127.0.0.1\n:9090", "127.0.0.2"};
    for (size_t index = 0; index < sizeof(refused) / sizeof(refused[0]); index++)
        if (apiHostAllowed(&loopback, refused[index]))
            fail_msg("accepted Host '%s'", refused[index]);
    assert_false(apiHostAllowed(&loopback, NULL));

    /* Off loopback: the listen address, the dialled address, and the list. */
    ApiHostRules wide = {.port = 9090, .listenHost = "0.0.0.0", .loopback = false,
                         .allowedHosts = "backup.example.com, Ops.Example.com:443 ,[fd00::5]",
                         .localHost = "10.0.0.5"};
    assert_true(apiHostAllowed(&wide, "10.0.0.5:9090"));
    assert_true(apiHostAllowed(&wide, "10.0.0.5"));
    assert_true(apiHostAllowed(&wide, "backup.example.com"));
    assert_true(apiHostAllowed(&wide, "backup.example.com:9090"));
    assert_true(apiHostAllowed(&wide, "ops.example.com:443"));
    assert_true(apiHostAllowed(&wide, "[fd00::5]:9090"));
    assert_false(apiHostAllowed(&wide, "ops.example.com"));
    assert_false(apiHostAllowed(&wide, "backup.example.com:8080"));
    assert_false(apiHostAllowed(&wide, "localhost:9090"));
    assert_false(apiHostAllowed(&wide, "127.0.0.1:9090"));
    assert_false(apiHostAllowed(&wide, "example.com"));
    assert_false(apiHostAllowed(&wide, "10.0.0.6:9090"));

    char bad[64];
    assert_true(apiAllowedHostsValid("a.example, b.example:8443,[::1],10.0.0.5:9090", bad, sizeof(bad)));
    static const char *const invalid[] = {"a.example,,b", "*", "a b", "a/b", "a:99999", "a:", "[::1", "x@y", ""};
    for (size_t index = 0; index < sizeof(invalid) / sizeof(invalid[0]); index++)
        if (apiAllowedHostsValid(invalid[index], bad, sizeof(bad)) && invalid[index][0])
            fail_msg("accepted BACKUP_API_ALLOWED_HOSTS '%s'", invalid[index]);
}

static void testOriginAndMediaType(void **state)
{
    (void)state;
    ApiHostRules rules = {.port = 9090, .listenHost = "127.0.0.1", .loopback = true,
                          .allowedHosts = "backup.example.com:443"};
    assert_true(apiOriginAllowed(&rules, NULL)); /* curl, scripts */
    assert_true(apiOriginAllowed(&rules, "http://127.0.0.1:9090"));
    assert_true(apiOriginAllowed(&rules, "http://localhost:9090"));
    assert_true(apiOriginAllowed(&rules, "https://backup.example.com:443"));
    assert_false(apiOriginAllowed(&rules, "https://attacker.example"));
    assert_false(apiOriginAllowed(&rules, "http://127.0.0.1:9091"));
    assert_false(apiOriginAllowed(&rules, "null"));
    assert_false(apiOriginAllowed(&rules, ""));
    assert_false(apiOriginAllowed(&rules, "file://"));
    assert_false(apiOriginAllowed(&rules, "http://"));
    assert_false(apiOriginAllowed(&rules, "http://127.0.0.1:9090/path"));
    assert_false(apiOriginAllowed(&rules, "ftp://127.0.0.1:9090"));

    assert_true(apiMediaTypeIs("application/json", "application/json"));
    assert_true(apiMediaTypeIs("Application/JSON; charset=utf-8", "application/json"));
    assert_true(apiMediaTypeIs(" application/json ;charset=utf-8", "application/json"));
    assert_false(apiMediaTypeIs("text/plain", "application/json"));
    assert_false(apiMediaTypeIs("text/plain; a=application/json", "application/json"));
    assert_false(apiMediaTypeIs("application/jsonx", "application/json"));
    assert_false(apiMediaTypeIs("application/json-seq", "application/json"));
    assert_false(apiMediaTypeIs("", "application/json"));
    assert_false(apiMediaTypeIs(NULL, "application/json"));
}

static void testLogEscape(void **state)
{
    (void)state;
    char out[64];
    assert_int_equal(apiLogEscape("/api/v1/backups", out, sizeof(out)), strlen("/api/v1/backups"));
    assert_string_equal(out, "/api/v1/backups");
    apiLogEscape("/x\n2026-01-01 ERROR forged\r\t\x1b[31m\x7f", out, sizeof(out));
    assert_string_equal(out, "/x\\x0a2026-01-01 ERROR forged\\x0d\\x09\\x1b[31m\\x7f");
    apiLogEscape("a\\x0ab", out, sizeof(out)); /* a literal backslash cannot pass for an escape */
    assert_string_equal(out, "a\\\\x0ab");
    char small[6];
    apiLogEscape("ab\ncd", small, sizeof(small)); /* cut before a half escape */
    assert_string_equal(small, "ab");
    apiLogEscape(NULL, small, sizeof(small));
    assert_string_equal(small, "");
    apiLogEscape("caf\xc3\xa9", out, sizeof(out)); /* UTF-8 passes */
    assert_string_equal(out, "caf\xc3\xa9");
}

static void testTokenChecks(void **state)
{
    (void)state;
    const char *token = "s3cret-token-value";
    assert_true(apiTokenEqual(token, strlen(token), token));
    assert_false(apiTokenEqual("s3cret-token-valuX", strlen(token), token));
    assert_false(apiTokenEqual(token, strlen(token) - 1, token)); /* a prefix */
    assert_false(apiTokenEqual("s3cret-token-value-and-more", 27, token));
    assert_false(apiTokenEqual("", 0, token));
    assert_false(apiTokenEqual(NULL, 0, token));
    assert_false(apiTokenEqual(token, strlen(token), NULL));

    assert_string_equal(apiBearerCredentials("Bearer abc"), "abc");
    assert_string_equal(apiBearerCredentials("bearer \t abc def"), "abc def");
    assert_string_equal(apiBearerCredentials("  BEARER x"), "x");
    assert_null(apiBearerCredentials("Basic abc"));
    assert_null(apiBearerCredentials("Bearer"));
    assert_null(apiBearerCredentials("Bearer   "));
    assert_null(apiBearerCredentials("Bearerabc"));
    assert_null(apiBearerCredentials(NULL));

    char cookie[65];
    char again[65];
    char other[65];
    apiSessionCookieValue(token, cookie);
    apiSessionCookieValue(token, again);
    apiSessionCookieValue("another-token-value", other);
    assert_int_equal(strlen(cookie), 64);
    assert_int_equal(strspn(cookie, "0123456789abcdef"), 64);
    assert_string_equal(cookie, again);
    assert_string_not_equal(cookie, other);
    assert_null(strstr(cookie, token));
}

static void testFormField(void **state)
{
    (void)state;
    char value[16];
    const char *body = "tokenx=1&token=a%2Bb+c%21&x=2";
    assert_true(apiFormField(body, strlen(body), "token", value, sizeof(value)));
    assert_string_equal(value, "a+b c!");
    assert_true(apiFormField(body, strlen(body), "x", value, sizeof(value)));
    assert_string_equal(value, "2");
    assert_false(apiFormField(body, strlen(body), "missing", value, sizeof(value)));
    assert_true(apiFormField("token=", 6, "token", value, sizeof(value)));
    assert_string_equal(value, "");
    static const char *const bad[] = {"token=%zz", "token=%4", "token=%", "token=%00", "token=0123456789abcdefXYZ"};
    for (size_t index = 0; index < sizeof(bad) / sizeof(bad[0]); index++)
        if (apiFormField(bad[index], strlen(bad[index]), "token", value, sizeof(value)))
            fail_msg("accepted '%s'", bad[index]);
    /* Only `length` bytes count: no read past them. */
    assert_true(apiFormField("token=abcdef", 8, "token", value, sizeof(value)));
    assert_string_equal(value, "ab");
}

static void testHtmlEscape(void **state)
{
    (void)state;
    Buffer out;
    bufferInit(&out);
    apiHtmlEscape(&out, "<a href=\"x\">Tom & 'Jerry'</a>");
    bufferAppendByte(&out, 0);
    assert_string_equal((const char *)out.data, "&lt;a href=&quot;x&quot;&gt;Tom &amp; &#39;Jerry&#39;&lt;/a&gt;");
    bufferFree(&out);
}

/* ---- metrics of a real catalog ---- */

static Config *newConfig(void)
{
    Config *config = NULL;
    assert_int_equal(cfgNew(&config), ERR_OK);
    assert_int_equal(cfgSetOverride(config, CFG_BACKUP_STORAGE_PATH, storage), ERR_OK);
    assert_int_equal(cfgSetOverride(config, CFG_BACKUP_RETENTION_DAYS, "7"), ERR_OK);
    assert_int_equal(cfgSetOverride(config, CFG_BACKUP_MIN_FREE_PERCENT, "0"), ERR_OK);
    /* Nothing listens on port 1: a job fails at once with NEO4J_UNREACHABLE. */
    assert_int_equal(cfgSetOverride(config, CFG_NEO4J_URI, "bolt://127.0.0.1:1"), ERR_OK);
    return config;
}

static char newestId[CAT_ID_SIZE];

static void makeCatalog(void)
{
    Catalog *catalog = NULL;
    assert_int_equal(catOpen(&catalog, storage, true), ERR_OK);
    int64_t now = timeNow();
    char id[CAT_ID_SIZE];
    makeBackup(catalog, now - 7200, MANIFEST_STATUS_VALIDATED, 1000, id);
    makeBackup(catalog, now - 3600, MANIFEST_STATUS_COMPLETE, 2000, newestId);
    makeBackup(catalog, now - 60, MANIFEST_STATUS_FAILED, 5, id);
    catClose(catalog);
}

static const char *findLine(const char *text, const char *prefix)
{
    const char *cursor = text;
    size_t length = strlen(prefix);
    while (cursor && *cursor) {
        if (strncmp(cursor, prefix, length) == 0)
            return cursor + length;
        cursor = strchr(cursor, '\n');
        if (cursor)
            cursor++;
    }
    return NULL;
}

static void testMetricsOfCatalog(void **state)
{
    (void)state;
    makeCatalog();
    Config *config = newConfig();
    SchedState scheduler;
    schedStateInit(&scheduler);
    scheduler.paused = true;
    scheduler.consecutiveFailures = 5;
    ApiSnapshot snapshot;
    assert_int_equal(apiSnapshotTake(config, &scheduler, &snapshot), ERR_OK);
    assert_int_equal(snapshot.list.count, 3);
    assert_int_equal(snapshot.validCount, 2);
    assert_int_equal(snapshot.failedCount, 1);
    assert_string_equal(snapshot.list.entries[snapshot.newestValid].id, newestId);

    Buffer text;
    bufferInit(&text);
    apiMetricsFormat(&snapshot, &text);
    bufferAppendByte(&text, 0);
    const char *metrics = (const char *)text.data;
    assert_int_equal(atoi(findLine(metrics, "neo4j_backup_scheduler_paused ")), 1);
    assert_int_equal(atoi(findLine(metrics, "neo4j_backup_consecutive_failures ")), 5);
    assert_int_equal(atoi(findLine(metrics, "neo4j_backup_catalog_backups{status=\"valid\"} ")), 2);
    assert_int_equal(atoi(findLine(metrics, "neo4j_backup_catalog_backups{status=\"failed\"} ")), 1);
    assert_int_equal(strtoull(findLine(metrics, "neo4j_backup_catalog_bytes "), NULL, 10),
                     catListTotalBytes(&snapshot.list));
    assert_int_equal(strtoll(findLine(metrics, "neo4j_backup_latest_timestamp_seconds "), NULL, 10),
                     snapshot.list.entries[snapshot.newestValid].created);
    assert_int_equal(atoi(findLine(metrics, "neo4j_backup_latest_size_bytes{kind=\"compressed\"} ")), 2000);
    assert_int_equal(atoi(findLine(metrics, "neo4j_backup_latest_size_bytes{kind=\"uncompressed\"} ")), 4000);
    const char *duration = findLine(metrics, "neo4j_backup_latest_duration_seconds ");
    assert_non_null(duration);
    assert_int_equal(strncmp(duration, "145.250\n", 8), 0);
    assert_int_equal(atoi(findLine(metrics, "neo4j_backup_latest_validated ")), 0);
    assert_int_equal(atoi(findLine(metrics, "neo4j_backup_recovery_state{state=\"NOT_RECOVERING\"} ")), 1);
    assert_null(findLine(metrics, "neo4j_backup_last_restore_success "));
    assert_non_null(findLine(metrics, "neo4j_backup_storage_free_bytes "));

    /* Exposition format: each family's HELP and TYPE once, before its samples. */
    char family[128] = "";
    for (const char *line = metrics; *line; line = strchr(line, '\n') + 1) {
        char name[128];
        if (sscanf(line, "# TYPE %127s", name) == 1) {
            char pattern[160];
            snprintf(pattern, sizeof(pattern), "# TYPE %s ", name);
            assert_ptr_equal(strstr(metrics, pattern), line);
            snprintf(family, sizeof(family), "%s", name);
        } else if (line[0] != '#') {
            assert_int_equal(strncmp(line, family, strlen(family)), 0);
            char next = line[strlen(family)];
            assert_true(next == ' ' || next == '{');
        }
    }
    bufferFree(&text);
    apiSnapshotFree(&snapshot);

    /* BACKUP_METRICS_FILE gets the same text. */
    char metricsPath[PATH_MAX];
    snprintf(metricsPath, sizeof(metricsPath), "%s/metrics.prom", workDir);
    assert_int_equal(cfgSetOverride(config, CFG_BACKUP_METRICS_FILE, metricsPath), ERR_OK);
    apiMetricsWriteFile(config, &scheduler);
    Buffer written;
    bufferInit(&written);
    assert_int_equal(fsReadFile(metricsPath, 1 << 20, &written), ERR_OK);
    bufferAppendByte(&written, 0);
    assert_non_null(strstr((const char *)written.data, "\nneo4j_backup_scheduler_paused 1\n"));
    assert_non_null(strstr((const char *)written.data, "neo4j_backup_catalog_backups{status=\"valid\"} 2\n"));
    bufferFree(&written);
    cfgFree(config);
}

/* ---- the server over HTTP ---- */

typedef struct {
    long status;
    Buffer body;
    char location[256];
} HttpResult;

static size_t onBody(char *data, size_t size, size_t count, void *payload)
{
    bufferAppend(payload, data, size * count);
    return size * count;
}

static size_t onHeader(char *data, size_t size, size_t count, void *payload)
{
    HttpResult *result = payload;
    size_t length = size * count;
    if (length > 10 && strncasecmp(data, "Location: ", 10) == 0)
        snprintf(result->location, sizeof(result->location), "%.*s", (int)(length - 12), data + 10);
    return length;
}

/* One request; contentType and extraHeader ("Name: value") are sent when
 * not NULL. */
static void httpDoWith(uint16_t port, const char *method, const char *path, const char *token, const char *body,
                       size_t bodyLength, const char *contentType, const char *extraHeader, HttpResult *out)
{
    memset(out, 0, sizeof(*out));
    bufferInit(&out->body);
    CURL *curl = curl_easy_init();
    assert_non_null(curl);
    char url[256];
    snprintf(url, sizeof(url), "http://127.0.0.1:%u%s", port, path);
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, onBody);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &out->body);
    curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, onHeader);
    curl_easy_setopt(curl, CURLOPT_HEADERDATA, out);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT, 30L);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    struct curl_slist *headers = NULL;
    char authorization[256];
    if (token) {
        snprintf(authorization, sizeof(authorization), "Authorization: Bearer %s", token);
        headers = curl_slist_append(headers, authorization);
    }
    char contentTypeHeader[128];
    if (contentType) {
        snprintf(contentTypeHeader, sizeof(contentTypeHeader), "Content-Type: %s", contentType);
        headers = curl_slist_append(headers, contentTypeHeader);
    }
    if (extraHeader)
        headers = curl_slist_append(headers, extraHeader);
    if (body) {
        curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, (long)bodyLength);
    }
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    CURLcode code = curl_easy_perform(curl);
    if (code != CURLE_OK)
        fail_msg("%s %s: %s", method, path, curl_easy_strerror(code));
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &out->status);
    bufferAppendByte(&out->body, 0);
    curl_slist_free_all(headers);
    curl_easy_cleanup(curl);
}

static void httpDo(uint16_t port, const char *method, const char *path, const char *token, const char *body,
                   size_t bodyLength, HttpResult *out)
{
    httpDoWith(port, method, path, token, body, bodyLength, body ? "application/json" : NULL, NULL, out);
}

static const char *bodyText(const HttpResult *result)
{
    return (const char *)result->body.data;
}

static void expectError(uint16_t port, const char *method, const char *path, const char *token, const char *body,
                        long status, const char *code)
{
    HttpResult result;
    httpDo(port, method, path, token, body, body ? strlen(body) : 0, &result);
    char expected[128];
    snprintf(expected, sizeof(expected), "\"code\": \"%s\"", code);
    if (result.status != status || !strstr(bodyText(&result), expected))
        fail_msg("%s %s: %ld %s", method, path, result.status, bodyText(&result));
    bufferFree(&result.body);
}

static ErrCode testResumeScheduler(Config *config)
{
    CommandContext context = {.config = config};
    return cmdResume(&context);
}

/* The command line's instance access and resume, as cmdServe wires them (no dump here). */
static const ApiBackends testBackends = {
    .instances = {.connect = supportConnectMode, .serverVersion = neo4jServerVersion},
    .resumeScheduler = testResumeScheduler,
};

static ApiServer *startServer(Config *config, const char *token)
{
    ApiServerOptions options = {.config = config, .cancelFlag = &cancelFlag, .token = token, .backends = &testBackends};
    assert_int_equal(apiAddressParse("127.0.0.1:0", &options.address), ERR_OK);
    ApiServer *server = NULL;
    assert_int_equal(apiServerStart(&options, &server), ERR_OK);
    assert_int_not_equal(apiServerPort(server), 0);
    return server;
}

static void testServerRoutes(void **state)
{
    (void)state;
    makeCatalog();
    Config *config = newConfig();
    ApiServer *server = startServer(config, TEST_TOKEN);
    uint16_t port = apiServerPort(server);
    HttpResult result;

    httpDo(port, "GET", "/healthz", NULL, NULL, 0, &result);
    assert_int_equal(result.status, 200);
    bufferFree(&result.body);

    expectError(port, "GET", "/api/v1/backups", NULL, NULL, 401, "API_UNAUTHORIZED");
    expectError(port, "GET", "/api/v1/backups", "wrong-token-wrong-token", NULL, 401, "API_UNAUTHORIZED");
    expectError(port, "GET", "/metrics", NULL, NULL, 401, "API_UNAUTHORIZED");

    httpDo(port, "GET", "/api/v1/backups", TEST_TOKEN, NULL, 0, &result);
    assert_int_equal(result.status, 200);
    assert_non_null(strstr(bodyText(&result), "\"total_backups\": 3"));
    assert_non_null(strstr(bodyText(&result), newestId));
    assert_null(strstr(bodyText(&result), TEST_TOKEN));
    bufferFree(&result.body);

    char path[128];
    snprintf(path, sizeof(path), "/api/v1/backups/%s/", newestId); /* a trailing slash is fine */
    httpDo(port, "GET", path, TEST_TOKEN, NULL, 0, &result);
    assert_int_equal(result.status, 200);
    assert_non_null(strstr(bodyText(&result), "\"disk_bytes\""));
    bufferFree(&result.body);

    expectError(port, "GET", "/api/v1/backups/neo4j-20000101-000000", TEST_TOKEN, NULL, 404, "BACKUP_NOT_FOUND");
    expectError(port, "GET", "/api/v1/backups/a..b", TEST_TOKEN, NULL, 400, "API_BAD_REQUEST");
    expectError(port, "GET", "/api/v1/nowhere", TEST_TOKEN, NULL, 404, "API_NOT_FOUND");
    expectError(port, "PATCH", "/api/v1/backups", TEST_TOKEN, NULL, 405, "API_METHOD_NOT_ALLOWED");
    expectError(port, "POST", "/api/v1/backups", TEST_TOKEN, "{\"a\":", 400, "API_BAD_REQUEST");
    expectError(port, "POST", "/api/v1/backups", TEST_TOKEN, "null", 400, "API_BAD_REQUEST");
    expectError(port, "POST", "/api/v1/backups", TEST_TOKEN, "{\"unexpected\": 1}", 400, "API_BAD_REQUEST");
    snprintf(path, sizeof(path), "/api/v1/backups/%s/restore", newestId);
    expectError(port, "POST", path, TEST_TOKEN, "{\"promote\": true}", 400, "RESTORE_REFUSED");
    expectError(port, "POST", path, TEST_TOKEN, "{\"target\": \"nowhere\"}", 400, "TARGET_UNKNOWN");
    expectError(port, "GET", "/api/v1/jobs/job-42", TEST_TOKEN, NULL, 404, "API_NOT_FOUND");

    size_t bigLength = API_MAX_BODY_BYTES + 1;
    char *big = malloc(bigLength + 1);
    assert_non_null(big);
    memset(big, ' ', bigLength);
    big[bigLength] = '\0';
    /* The server answers 413 from the Content-Length, before the body: with
     * "Expect: 100-continue" the client waits for that answer instead of
     * racing to send a body the server will not read (a slow client, e.g.
     * under valgrind, otherwise sees the connection closed mid-send). */
    httpDoWith(port, "POST", "/api/v1/backups", TEST_TOKEN, big, bigLength, "application/json",
               "Expect: 100-continue", &result);
    assert_int_equal(result.status, 413);
    assert_non_null(strstr(bodyText(&result), "API_PAYLOAD_TOO_LARGE"));
    bufferFree(&result.body);
    free(big);

    /* What a web page could send: a simple-request body, a rebound name, a
     * foreign origin; and a path that a %00 would cut short. */
    static const struct {
        const char *method;
        const char *path;
        const char *body;
        const char *contentType;
        const char *header;
        long status;
        const char *code;
    } refused[] = {
        {"POST", "/api/v1/backups", "{}", "text/plain", NULL, 415, "API_UNSUPPORTED_MEDIA_TYPE"},
        {"POST", "/api/v1/backups", "{}", "", NULL, 415, "API_UNSUPPORTED_MEDIA_TYPE"},
        {"POST", "/api/v1/backups", "{}", "application/x-www-form-urlencoded", NULL, 415,
         "API_UNSUPPORTED_MEDIA_TYPE"},
        {"POST", "/login", "token=x", "application/json", NULL, 415, "API_UNSUPPORTED_MEDIA_TYPE"},
        {"GET", "/api/v1/backups", NULL, NULL, "Host: attacker.example:80", 421, "API_HOST_NOT_ALLOWED"},
        {"GET", "/metrics", NULL, NULL, "Host: attacker.example", 421, "API_HOST_NOT_ALLOWED"},
        {"GET", "/", NULL, NULL, "Host: attacker.example", 421, "API_HOST_NOT_ALLOWED"},
        {"POST", "/api/v1/backups", NULL, NULL, "Origin: https://attacker.example", 403, "API_ORIGIN_NOT_ALLOWED"},
        {"DELETE", "/api/v1/backups/x", NULL, NULL, "Origin: null", 403, "API_ORIGIN_NOT_ALLOWED"},
        {"POST", "/login", NULL, NULL, "Origin: http://attacker.example", 403, "API_ORIGIN_NOT_ALLOWED"},
        {"GET", "/api/v1/backups/neo4j-20000101-000000%00x", NULL, NULL, NULL, 400, "API_BAD_REQUEST"},
        {"GET", "/api/v1/jobs%00/x", NULL, NULL, NULL, 400, "API_BAD_REQUEST"},
    };
    for (size_t index = 0; index < sizeof(refused) / sizeof(refused[0]); index++) {
        httpDoWith(port, refused[index].method, refused[index].path, TEST_TOKEN, refused[index].body,
                   refused[index].body ? strlen(refused[index].body) : 0, refused[index].contentType,
                   refused[index].header, &result);
        char expected[128];
        snprintf(expected, sizeof(expected), "\"code\": \"%s\"", refused[index].code);
        if (result.status != refused[index].status || !strstr(bodyText(&result), expected))
            fail_msg("%s %s (%s): %ld %s", refused[index].method, refused[index].path,
                     refused[index].header ? refused[index].header : "", result.status, bodyText(&result));
        bufferFree(&result.body);
    }
    /* The same origin, and a JSON type with parameters, pass; /healthz answers any name. */
    char origin[64];
    snprintf(origin, sizeof(origin), "Origin: http://127.0.0.1:%u", port);
    httpDoWith(port, "POST", "/api/v1/scheduler/resume", TEST_TOKEN, "{}", 2, "application/json; charset=utf-8",
               origin, &result);
    assert_int_equal(result.status, 200);
    bufferFree(&result.body);
    httpDoWith(port, "GET", "/healthz", NULL, NULL, 0, NULL, "Host: anything.example", &result);
    assert_int_equal(result.status, 200);
    bufferFree(&result.body);

    httpDo(port, "GET", "/metrics", TEST_TOKEN, NULL, 0, &result);
    assert_int_equal(result.status, 200);
    assert_non_null(strstr(bodyText(&result), "neo4j_backup_catalog_backups{status=\"valid\"} 2\n"));
    bufferFree(&result.body);

    httpDo(port, "GET", "/", NULL, NULL, 0, &result);
    assert_int_equal(result.status, 401);
    assert_non_null(strstr(bodyText(&result), "name=\"token\""));
    bufferFree(&result.body);
    httpDo(port, "GET", "/", TEST_TOKEN, NULL, 0, &result);
    assert_int_equal(result.status, 200);
    assert_non_null(strstr(bodyText(&result), newestId));
    assert_non_null(strstr(bodyText(&result), "1 failed backup kept for diagnosis"));
    assert_null(strstr(bodyText(&result), "<script"));
    bufferFree(&result.body);

    /* A job: Neo4j is unreachable, so the create job fails with that code. */
    httpDo(port, "POST", "/api/v1/backups", TEST_TOKEN, NULL, 0, &result);
    assert_int_equal(result.status, 202);
    assert_int_equal(strncmp(result.location, "/api/v1/jobs/job-", 17), 0);
    char location[256];
    snprintf(location, sizeof(location), "%s", result.location);
    bufferFree(&result.body);
    double deadline = timeMonotonic() + 60;
    bool finished = false;
    while (!finished && timeMonotonic() < deadline) {
        httpDo(port, "GET", location, TEST_TOKEN, NULL, 0, &result);
        assert_int_equal(result.status, 200);
        finished = strstr(bodyText(&result), "\"state\": \"running\"") == NULL;
        if (finished) {
            assert_non_null(strstr(bodyText(&result), "\"state\": \"failed\""));
            assert_non_null(strstr(bodyText(&result), "NEO4J_UNREACHABLE"));
        }
        bufferFree(&result.body);
        if (!finished)
            nanosleep(&(struct timespec){0, 20 * 1000 * 1000}, NULL); /* polling a job, not a timer */
    }
    assert_true(finished);
    apiServerStop(server);
    cfgFree(config);
}

static void testServerWithoutToken(void **state)
{
    (void)state;
    Config *config = newConfig();
    ApiServer *server = startServer(config, NULL);
    HttpResult result;
    httpDo(apiServerPort(server), "GET", "/api/v1/backups", NULL, NULL, 0, &result);
    assert_int_equal(result.status, 200);
    assert_non_null(strstr(bodyText(&result), "\"total_backups\": 0"));
    bufferFree(&result.body);
    httpDo(apiServerPort(server), "GET", "/", NULL, NULL, 0, &result);
    assert_int_equal(result.status, 200);
    assert_non_null(strstr(bodyText(&result), "No backups yet"));
    bufferFree(&result.body);
    apiServerStop(server);

    /* A taken port is a clear configuration error. */
    ApiServer *first = startServer(config, NULL);
    char listen[64];
    snprintf(listen, sizeof(listen), "127.0.0.1:%u", apiServerPort(first));
    ApiServerOptions options = {.config = config, .cancelFlag = &cancelFlag};
    assert_int_equal(apiAddressParse(listen, &options.address), ERR_OK);
    ApiServer *second = NULL;
    assert_int_equal(apiServerStart(&options, &second), CONFIG_INVALID);
    assert_null(second);
    assert_non_null(strstr(errLast()->reason, listen));
    apiServerStop(first);
    cfgFree(config);
}

/* A newer backup whose archive is gone is INCOMPLETE, not the latest. */
static void testMetricsSkipBackupWithoutArchive(void **state)
{
    (void)state;
    makeCatalog();
    Catalog *catalog = NULL;
    assert_int_equal(catOpen(&catalog, storage, true), ERR_OK);
    char lost[CAT_ID_SIZE], path[PATH_MAX];
    makeBackup(catalog, timeNow() - 30, MANIFEST_STATUS_VALIDATED, 3000, lost);
    catClose(catalog);
    snprintf(path, sizeof(path), "%s/%s/graph.nbk", storage, lost);
    assert_int_equal(unlink(path), 0);
    Config *config = newConfig();
    ApiSnapshot snapshot;
    assert_int_equal(apiSnapshotTake(config, NULL, &snapshot), ERR_OK);
    assert_int_equal(snapshot.validCount, 2);
    assert_int_equal(snapshot.incompleteCount, 1);
    assert_string_equal(snapshot.list.entries[snapshot.newestValid].id, newestId);
    Buffer text;
    bufferInit(&text);
    apiMetricsFormat(&snapshot, &text);
    bufferAppendByte(&text, 0);
    const char *metrics = (const char *)text.data;
    assert_int_equal(atoi(findLine(metrics, "neo4j_backup_catalog_backups{status=\"incomplete\"} ")), 1);
    assert_int_equal(atoi(findLine(metrics, "neo4j_backup_latest_size_bytes{kind=\"compressed\"} ")), 2000);
    json_object *item = catEntryJson(&snapshot.list.entries[0], &snapshot.decisions[0], snapshot.now);
    json_object *field = NULL;
    assert_true(json_object_object_get_ex(item, "status", &field));
    assert_string_equal(json_object_get_string(field), "INCOMPLETE");
    assert_true(json_object_object_get_ex(item, "recorded_status", &field));
    assert_string_equal(json_object_get_string(field), MANIFEST_STATUS_VALIDATED);
    json_object_put(item);
    bufferFree(&text);
    apiSnapshotFree(&snapshot);
    cfgFree(config);
}

/* Counts non-overlapping occurrences of needle between from and to. */
static size_t countBetween(const char *from, const char *to, const char *needle)
{
    size_t count = 0;
    for (const char *at = strstr(from, needle); at && at < to; at = strstr(at + 1, needle))
        count++;
    return count;
}

/* The chart of class chart-<name>: its SVG parses as XML, and has marks
 * (circles or bars) for exactly the backups it should draw. */
static void checkChart(const char *page, const char *name, const char *mark, size_t marks)
{
    char open[64];
    snprintf(open, sizeof(open), "<svg class=\"chart-%s\"", name);
    const char *start = strstr(page, open);
    assert_non_null(start);
    const char *end = strstr(start, "</svg>");
    assert_non_null(end);
    end += strlen("</svg>");
    xmlDocPtr document = xmlReadMemory(start, (int)(end - start), "chart.svg", NULL, XML_PARSE_NONET);
    if (!document)
        fail_msg("the %s chart is not well-formed XML: %.*s", name, (int)(end - start), start);
    xmlFreeDoc(document);
    assert_int_equal(countBetween(start, end, mark), marks);
    assert_int_equal(countBetween(start, end, "<title>neo4j-"), marks); /* a hover text per mark */
    assert_null(strstr(start, "<script"));
}

static ErrCode chartLogicalEditor(Manifest *manifest, void *payload)
{
    (void)payload;
    manifestSetString(&manifest->method, "logical");
    return ERR_OK;
}

/* Makes the backup a differential of newestId, whose link digest is payload. */
static ErrCode chartDiffEditor(Manifest *manifest, void *payload)
{
    manifestSetString(&manifest->method, "logical");
    manifestSetString(&manifest->backupType, MANIFEST_TYPE_DIFF);
    manifestSetString(&manifest->parent.id, newestId);
    manifestSetString(&manifest->parent.manifestSha256, payload);
    manifest->chainDepth = 1;
    return ERR_OK;
}

static void testStatusPageCharts(void **state)
{
    (void)state;
    Config *config = newConfig();
    ApiSnapshot snapshot;
    Buffer page;
    bufferInit(&page);
    /* No backups: each chart says so instead of drawing nothing. */
    assert_int_equal(apiSnapshotTake(config, NULL, &snapshot), ERR_OK);
    apiPageCharts(&snapshot, &page);
    bufferAppendByte(&page, 0);
    assert_int_equal(countBetween((const char *)page.data, (const char *)page.data + page.length,
                                  "No backups to draw yet."),
                     3);
    apiSnapshotFree(&snapshot);

    makeCatalog(); /* two usable backups (1000 and 2000 bytes) and a failed one */
    assert_int_equal(apiSnapshotTake(config, NULL, &snapshot), ERR_OK);
    bufferClear(&page);
    apiPageCharts(&snapshot, &page);
    bufferAppendByte(&page, 0);
    const char *text = (const char *)page.data;
    checkChart(text, "size", "<circle class=\"dot\"", 2);      /* failed backups have no size */
    checkChart(text, "total", "<circle class=\"dot\"", 3);     /* every backup's files are stored */
    checkChart(text, "duration", "<rect class=\"bar\"", 2);
    assert_non_null(strstr(text, "2 backups, newest 2.0 KB"));
    assert_non_null(strstr(text, ": 2.0 KB</title>"));
    assert_non_null(strstr(text, ": 145 seconds</title>")); /* the 145.25 s duration */
    assert_null(strstr(text, "class=\"legend")); /* no differentials: no legend */
    apiSnapshotFree(&snapshot);

    /* A differential of the newest: drawn apart (its own series and colour). */
    Catalog *catalog = NULL;
    assert_int_equal(catOpen(&catalog, storage, true), ERR_OK);
    assert_int_equal(catManifestUpdate(catalog, newestId, chartLogicalEditor, NULL), ERR_OK);
    CatEntry parent;
    assert_int_equal(catFind(catalog, newestId, &parent), ERR_OK);
    char digest[65], diffId[CAT_ID_SIZE];
    manifestLinkSha256(parent.manifest, digest);
    catEntryFree(&parent);
    makeBackup(catalog, timeNow() - 1800, MANIFEST_STATUS_COMPLETE, 300, diffId);
    assert_int_equal(catManifestUpdate(catalog, diffId, chartDiffEditor, digest), ERR_OK);
    catClose(catalog);
    assert_int_equal(apiSnapshotTake(config, NULL, &snapshot), ERR_OK);
    bufferClear(&page);
    apiPageCharts(&snapshot, &page);
    bufferAppendByte(&page, 0);
    text = (const char *)page.data;
    checkChart(text, "size", "<circle class=\"dot", 3);
    const char *end = text + strlen(text);
    assert_int_equal(countBetween(text, end, "<circle class=\"dot diff\""), 1);
    assert_int_equal(countBetween(text, end, "<path class=\"line diff\""), 1);
    assert_non_null(strstr(text, " (differential): 300 B</title>"));
    assert_non_null(strstr(text, "2 full and 1 differential, drawn as two series"));
    assert_non_null(strstr(text, "<p class=\"legend muted\">"));
    bufferFree(&page);
    apiSnapshotFree(&snapshot);
    cfgFree(config);
}

static ErrCode validatedNowEditor(Manifest *manifest, void *payload)
{
    (void)payload;
    manifestSetString(&manifest->status, MANIFEST_STATUS_VALIDATED);
    manifest->validatedAt = (int64_t)time(NULL) + 5; /* after the archive was written: trusted */
    return ERR_OK;
}

/* DELETE refuses the keep mark and the last restorable backup unless forced
 * (body field "force" or query parameter force=true). */
static void testDeleteRefusesProtectedBackups(void **state)
{
    (void)state;
    Catalog *catalog = NULL;
    assert_int_equal(catOpen(&catalog, storage, true), ERR_OK);
    char only[CAT_ID_SIZE], kept[CAT_ID_SIZE];
    int64_t now = timeNow();
    makeBackup(catalog, now - 7200, MANIFEST_STATUS_COMPLETE, 100, kept);
    makeBackup(catalog, now - 3600, MANIFEST_STATUS_COMPLETE, 100, only);
    assert_int_equal(catManifestUpdate(catalog, only, validatedNowEditor, NULL), ERR_OK);
    assert_int_equal(catSetKeep(catalog, kept, true), ERR_OK);
    Config *config = newConfig();
    ApiServer *server = startServer(config, TEST_TOKEN);
    uint16_t port = apiServerPort(server);
    char path[128], forced[160];
    HttpResult result;

    /* kept is not restorable here (no checksum recorded), but it is kept */
    snprintf(path, sizeof(path), "/api/v1/backups/%s", kept);
    httpDo(port, "DELETE", path, TEST_TOKEN, NULL, 0, &result);
    assert_int_equal(result.status, 409);
    assert_non_null(strstr(bodyText(&result), "BACKUP_PROTECTED"));
    assert_non_null(strstr(bodyText(&result), "keep mark"));
    bufferFree(&result.body);
    snprintf(forced, sizeof(forced), "%s?force=maybe", path);
    expectError(port, "DELETE", forced, TEST_TOKEN, NULL, 400, "API_BAD_REQUEST");
    snprintf(forced, sizeof(forced), "%s?force=true", path);
    httpDo(port, "DELETE", forced, TEST_TOKEN, NULL, 0, &result);
    assert_int_equal(result.status, 200);
    bufferFree(&result.body);

    snprintf(path, sizeof(path), "/api/v1/backups/%s", only);
    httpDo(port, "DELETE", path, TEST_TOKEN, NULL, 0, &result);
    assert_int_equal(result.status, 409);
    assert_non_null(strstr(bodyText(&result), "only restorable backup"));
    bufferFree(&result.body);
    expectError(port, "DELETE", path, TEST_TOKEN, "{\"force\": \"yes\"}", 400, "API_BAD_REQUEST");
    expectError(port, "DELETE", path, TEST_TOKEN, "{\"forced\": true}", 400, "API_BAD_REQUEST");
    CatEntry entry;
    assert_int_equal(catFind(catalog, only, &entry), ERR_OK); /* refusals deleted nothing */
    catEntryFree(&entry);
    httpDo(port, "DELETE", path, TEST_TOKEN, "{\"force\": true}", 16, &result);
    assert_int_equal(result.status, 200);
    bufferFree(&result.body);
    assert_int_equal(catFind(catalog, only, &entry), BACKUP_NOT_FOUND);
    apiServerStop(server);
    cfgFree(config);
    catClose(catalog);
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(testAddressParse),
        cmocka_unit_test(testTokenChecks),
        cmocka_unit_test(testHostGuard),
        cmocka_unit_test(testOriginAndMediaType),
        cmocka_unit_test(testLogEscape),
        cmocka_unit_test(testFormField),
        cmocka_unit_test(testHtmlEscape),
        cmocka_unit_test_setup_teardown(testMetricsOfCatalog, setUp, tearDown),
        cmocka_unit_test_setup_teardown(testMetricsSkipBackupWithoutArchive, setUp, tearDown),
        cmocka_unit_test_setup_teardown(testStatusPageCharts, setUp, tearDown),
        cmocka_unit_test_setup_teardown(testServerRoutes, setUp, tearDown),
        cmocka_unit_test_setup_teardown(testDeleteRefusesProtectedBackups, setUp, tearDown),
        cmocka_unit_test_setup_teardown(testServerWithoutToken, setUp, tearDown),
    };
    int failures = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return failures;
}
