/* The manifest: full round trip, the self-checksum, the fallback to
 * manifest.json.copy, "manifest damaged" when both are bad, unknown keys kept,
 * strict field types, and awkward label names; saved and loaded through a
 * Storage, where a link, a FIFO or an oversized file counts as damaged with
 * the repository's usual wording. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "catalog/manifest.h"
#include "common/buffer.h"
#include "common/fsutil.h"
#include "common/log.h"
#include "common/timeutil.h"
#include "storage/posix.h"

#include <stdio.h>
#include <stdlib.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char workDir[256];
static char captured[4096];

static void captureSink(LogLevel level, const char *line, void *payload)
{
    (void)payload;
    size_t used = strlen(captured);
    snprintf(captured + used, sizeof(captured) - used, "%d:%s\n", (int)level, line);
}

static int setUp(void **state)
{
    (void)state;
    captured[0] = '\0';
    logSetSink(captureSink, NULL);
    snprintf(workDir, sizeof(workDir), "/tmp/nbk-manifest-XXXXXX");
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

static Manifest *sampleManifest(void)
{
    Manifest *manifest = manifestNew();
    manifestSetString(&manifest->id, "neo4j-20251227-153000");
    manifest->created = timeFromParts(2025, 12, 27, 15, 30, 0);
    manifest->expires = timeFromParts(2026, 1, 3, 15, 30, 0);
    manifestSetString(&manifest->status, MANIFEST_STATUS_VALIDATED);
    manifest->validatedAt = timeFromParts(2025, 12, 27, 16, 0, 0);
    manifestSetString(&manifest->method, "logical");
    manifestSetString(&manifest->source.uri, "bolt://db.example.com:7687");
    manifestSetString(&manifest->source.serverVersion, "5.26.0");
    manifestSetString(&manifest->source.edition, "community");
    manifestSetString(&manifest->source.boltVersion, "5.4");
    manifestSetString(&manifest->source.database, "neo4j");
    manifestSetString(&manifest->toolVersion, "0.1.0");
    manifestSetString(&manifest->compression, "zstd");
    manifestSetString(&manifest->archive.file, "graph.nbk.zst");
    manifest->archive.sizeCompressed = 314500000;
    manifest->archive.sizeUncompressed = 524300000;
    manifestSetString(&manifest->archive.sha256,
                      "abc123def4567890abc123def4567890abc123def4567890abc123def4567890");
    manifest->stats.nodes = 1500;
    manifest->stats.relationships = 3200;
    manifest->stats.schemaItems = 2;
    manifestAddLabel(manifest, "Person", 1000);
    manifestAddLabel(manifest, "Com`pany \"Ltd\" / ünïcødé \\ \x01", 500);
    manifestAddType(manifest, "KNOWS", 3000);
    manifestAddType(manifest, "WORKS AT", 200);
    manifestAddSchemaItem(manifest, "person_id", "UNIQUENESS", "constraint",
                          "CREATE CONSTRAINT person_id FOR (n:Person) REQUIRE n.id IS UNIQUE");
    manifestAddSchemaItem(manifest, "name_index", "RANGE", "index", "CREATE INDEX name_index FOR (n:Person) ON (n.name)");
    manifestSetSchemaState(manifest, "FAILED", "Property value is too large to index");
    manifestSetString(&manifest->contentFingerprint, "sha256:0011223344");
    manifest->durationSeconds = 145.1234;
    manifest->keep = true;
    return manifest;
}

static void assertSameAsSample(const Manifest *loaded)
{
    Manifest *expected = sampleManifest();
    assert_int_equal(loaded->formatVersion, MANIFEST_FORMAT_VERSION);
    assert_string_equal(loaded->id, expected->id);
    assert_int_equal(loaded->created, expected->created);
    assert_int_equal(loaded->expires, expected->expires);
    assert_string_equal(loaded->status, expected->status);
    assert_int_equal(loaded->validatedAt, expected->validatedAt);
    assert_null(loaded->failureReason);
    assert_string_equal(loaded->method, "logical");
    assert_string_equal(loaded->source.uri, expected->source.uri);
    assert_string_equal(loaded->source.serverVersion, "5.26.0");
    assert_string_equal(loaded->source.edition, "community");
    assert_string_equal(loaded->source.boltVersion, "5.4");
    assert_string_equal(loaded->source.database, "neo4j");
    assert_string_equal(loaded->toolVersion, "0.1.0");
    assert_string_equal(loaded->compression, "zstd");
    assert_string_equal(loaded->archive.file, "graph.nbk.zst");
    assert_int_equal(loaded->archive.sizeCompressed, 314500000);
    assert_int_equal(loaded->archive.sizeUncompressed, 524300000);
    assert_string_equal(loaded->archive.sha256, expected->archive.sha256);
    assert_int_equal(loaded->stats.nodes, 1500);
    assert_int_equal(loaded->stats.relationships, 3200);
    assert_int_equal(loaded->stats.schemaItems, 2);
    assert_int_equal(loaded->stats.labelCount, 2);
    assert_string_equal(loaded->stats.labels[1].name, expected->stats.labels[1].name);
    assert_int_equal(loaded->stats.labels[1].count, 500);
    assert_int_equal(loaded->stats.typeCount, 2);
    assert_string_equal(loaded->stats.types[1].name, "WORKS AT");
    assert_int_equal(loaded->schemaCount, 2);
    assert_string_equal(loaded->schema[0].createStatement, expected->schema[0].createStatement);
    assert_string_equal(loaded->schema[1].kind, "index");
    /* Index states: kept when recorded, absent (NULL) otherwise. */
    assert_null(loaded->schema[0].state);
    assert_null(loaded->schema[0].failureMessage);
    assert_string_equal(loaded->schema[1].state, "FAILED");
    assert_string_equal(loaded->schema[1].failureMessage, "Property value is too large to index");
    assert_string_equal(loaded->contentFingerprint, "sha256:0011223344");
    assert_true(loaded->durationSeconds > 145.1229 && loaded->durationSeconds < 145.1231);
    assert_false(loaded->hasDowntime);
    assert_true(loaded->keep);
    manifestFree(expected);
}

static char *readText(const char *name)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", workDir, name);
    Buffer content;
    bufferInit(&content);
    assert_int_equal(fsReadFile(path, 1 << 20, &content), ERR_OK);
    bufferAppendByte(&content, '\0');
    return (char *)content.data;
}

static void writeText(const char *name, const char *text)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", workDir, name);
    assert_int_equal(fsWriteAtomic(path, text, strlen(text), 0600), ERR_OK);
}

/* Replaces the first occurrence of `from` with `to` in a heap string. */
static char *replaced(const char *text, const char *from, const char *to)
{
    const char *found = strstr(text, from);
    assert_non_null(found);
    size_t prefix = (size_t)(found - text);
    char *result = malloc(strlen(text) + strlen(to) + 1);
    memcpy(result, text, prefix);
    strcpy(result + prefix, to);
    strcat(result, found + strlen(from));
    return result;
}

static void testRoundTrip(void **state)
{
    (void)state;
    Manifest *manifest = sampleManifest();
    assert_int_equal(manifestSave(manifest, workDir), ERR_OK);
    manifestFree(manifest);
    Manifest *loaded = NULL;
    ManifestOrigin origin = MANIFEST_FROM_COPY;
    assert_int_equal(manifestLoad(workDir, &loaded, &origin), ERR_OK);
    assert_int_equal(origin, MANIFEST_FROM_PRIMARY);
    assertSameAsSample(loaded);
    assert_true(manifestIsValid(loaded));
    /* Saving what was loaded gives the same file (stable serialization). */
    char *first = readText(MANIFEST_FILE_NAME);
    assert_int_equal(manifestSave(loaded, workDir), ERR_OK);
    char *second = readText(MANIFEST_FILE_NAME);
    assert_string_equal(first, second);
    char *copy = readText(MANIFEST_COPY_FILE_NAME);
    assert_string_equal(first, copy);
    assert_non_null(strstr(first, "\"manifest_sha256\""));
    assert_non_null(strstr(first, "\"duration_seconds\": 145.123"));
    assert_non_null(strstr(first, "\"created\": \"2025-12-27T15:30:00Z\""));
    free(first);
    free(second);
    free(copy);
    manifestFree(loaded);
}

static void testTamperedPrimaryFallsBackToCopy(void **state)
{
    (void)state;
    Manifest *manifest = sampleManifest();
    assert_int_equal(manifestSave(manifest, workDir), ERR_OK);
    manifestFree(manifest);
    char *text = readText(MANIFEST_FILE_NAME);
    char *tampered = replaced(text, "\"nodes\": 1500", "\"nodes\": 1501");
    writeText(MANIFEST_FILE_NAME, tampered);

    /* The tampered text alone fails verification, but parses unverified. */
    Manifest *parsed = NULL;
    assert_int_equal(manifestParse(tampered, strlen(tampered), MANIFEST_PARSE_VERIFY, &parsed), BACKUP_CORRUPTED);
    assert_non_null(strstr(errLast()->reason, "manifest_sha256 mismatch"));
    assert_int_equal(manifestParse(tampered, strlen(tampered), 0, &parsed), ERR_OK);
    assert_int_equal(parsed->stats.nodes, 1501);
    manifestFree(parsed);

    Manifest *loaded = NULL;
    ManifestOrigin origin = MANIFEST_FROM_PRIMARY;
    assert_int_equal(manifestLoad(workDir, &loaded, &origin), ERR_OK);
    assert_int_equal(origin, MANIFEST_FROM_COPY);
    assert_int_equal(loaded->stats.nodes, 1500);
    assert_non_null(strstr(captured, "using manifest.json.copy"));
    manifestFree(loaded);

    /* Primary missing: the copy too. */
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", workDir, MANIFEST_FILE_NAME);
    unlink(path);
    assert_int_equal(manifestLoad(workDir, &loaded, &origin), ERR_OK);
    assert_int_equal(origin, MANIFEST_FROM_COPY);
    manifestFree(loaded);
    free(text);
    free(tampered);
}

static void testBothDamaged(void **state)
{
    (void)state;
    Manifest *manifest = sampleManifest();
    assert_int_equal(manifestSave(manifest, workDir), ERR_OK);
    manifestFree(manifest);
    char *text = readText(MANIFEST_FILE_NAME);
    char *tampered = replaced(text, "COMPLETE", "COMPLETF");
    writeText(MANIFEST_FILE_NAME, tampered);
    writeText(MANIFEST_COPY_FILE_NAME, "{\"truncated\": ");
    Manifest *loaded = (Manifest *)1;
    assert_int_equal(manifestLoad(workDir, &loaded, NULL), BACKUP_CORRUPTED);
    assert_null(loaded);
    assert_non_null(strstr(errLast()->reason, "manifest damaged"));
    assert_non_null(strstr(errLast()->reason, "mismatch"));
    assert_non_null(strstr(errLast()->reason, "manifest.json.copy: not valid JSON"));
    free(text);
    free(tampered);

    char emptyDir[300];
    snprintf(emptyDir, sizeof(emptyDir), "%s/empty", workDir);
    assert_int_equal(fsMkdirP(emptyDir, 0700), ERR_OK);
    assert_int_equal(manifestLoad(emptyDir, &loaded, NULL), BACKUP_CORRUPTED);
    assert_non_null(strstr(errLast()->reason, "manifest damaged"));
}

/* manifestSaveTo / manifestLoadFrom on a backup directory of a storage: the
 * messages name the files by their paths, as the path API does. */
static void testThroughStorage(void **state)
{
    (void)state;
    Storage *storage = NULL;
    assert_int_equal(storagePosixOpen(workDir, false, &storage), ERR_OK);
    char dir[300], path[512];
    snprintf(dir, sizeof(dir), "%s/neo4j-20251227-153000", workDir);
    assert_int_equal(fsMkdirP(dir, 0700), ERR_OK);
    Manifest *manifest = sampleManifest();
    assert_int_equal(manifestSaveTo(storage, "neo4j-20251227-153000", manifest), ERR_OK);
    manifestFree(manifest);
    Manifest *loaded = NULL;
    ManifestOrigin origin = MANIFEST_FROM_COPY;
    assert_int_equal(manifestLoadFrom(storage, "neo4j-20251227-153000", &loaded, &origin), ERR_OK);
    assert_int_equal(origin, MANIFEST_FROM_PRIMARY);
    assertSameAsSample(loaded);
    manifestFree(loaded);
    /* The path API reads what the storage API wrote. */
    assert_int_equal(manifestLoad(dir, &loaded, NULL), ERR_OK);
    manifestFree(loaded);

    /* A FIFO as manifest.json: refused at once (never waited on), the copy is used. */
    snprintf(path, sizeof(path), "%s/%s", dir, MANIFEST_FILE_NAME);
    assert_int_equal(unlink(path), 0);
    assert_int_equal(mkfifo(path, 0600), 0);
    captured[0] = '\0';
    assert_int_equal(manifestLoadFrom(storage, "neo4j-20251227-153000", &loaded, &origin), ERR_OK);
    assert_int_equal(origin, MANIFEST_FROM_COPY);
    manifestFree(loaded);
    char expected[4096];
    snprintf(expected, sizeof(expected), "%s is damaged (refusing to read %s: not a regular file); using %s", path,
             path, MANIFEST_COPY_FILE_NAME);
    assert_non_null(strstr(captured, expected));

    /* The copy a symbolic link (to a good manifest elsewhere), the primary
     * larger than MANIFEST_MAX_BYTES: both damaged, each with its reason. */
    char copyPath[512], outside[512];
    snprintf(copyPath, sizeof(copyPath), "%s/%s", dir, MANIFEST_COPY_FILE_NAME);
    snprintf(outside, sizeof(outside), "%s/outside.json", workDir);
    assert_int_equal(rename(copyPath, outside), 0);
    assert_int_equal(symlink(outside, copyPath), 0);
    assert_int_equal(unlink(path), 0);
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
    assert_true(fd >= 0);
    assert_int_equal(ftruncate(fd, (off_t)MANIFEST_MAX_BYTES + 1), 0);
    close(fd);
    loaded = (Manifest *)1;
    assert_int_equal(manifestLoadFrom(storage, "neo4j-20251227-153000", &loaded, NULL), BACKUP_CORRUPTED);
    assert_null(loaded);
    snprintf(expected, sizeof(expected),
             "manifest damaged: %s (manifest.json: cannot read %s: larger than %u bytes; manifest.json.copy: "
             "refusing to open %s: it is a symbolic link)",
             dir, path, MANIFEST_MAX_BYTES, copyPath);
    assert_string_equal(errLast()->reason, expected);

    /* Both missing. */
    assert_int_equal(unlink(path), 0);
    assert_int_equal(unlink(copyPath), 0);
    assert_int_equal(manifestLoadFrom(storage, "neo4j-20251227-153000", &loaded, NULL), BACKUP_CORRUPTED);
    snprintf(expected, sizeof(expected), "manifest.json: cannot open %s: no such file;", path);
    assert_non_null(strstr(errLast()->reason, expected));
    storageFree(storage);
}

static void testUnknownKeysPreserved(void **state)
{
    (void)state;
    Manifest *manifest = sampleManifest();
    manifest->extra = json_object_new_object();
    json_object *future = json_object_new_array();
    json_object_array_add(future, json_object_new_int(7));
    json_object_object_add(manifest->extra, "future_field", future);
    json_object_object_add(manifest->extra, "id", json_object_new_string("ignored: known key"));
    char *text = manifestSerialize(manifest);
    manifestFree(manifest);

    Manifest *parsed = NULL;
    assert_int_equal(manifestParse(text, strlen(text), MANIFEST_PARSE_VERIFY, &parsed), ERR_OK);
    assert_string_equal(parsed->id, "neo4j-20251227-153000");
    assert_non_null(parsed->extra);
    json_object *kept = NULL;
    assert_true(json_object_object_get_ex(parsed->extra, "future_field", &kept));
    assert_int_equal(json_object_array_length(kept), 1);
    char *again = manifestSerialize(parsed);
    assert_non_null(strstr(again, "\"future_field\""));
    manifestFree(parsed);
    free(again);
    free(text);
}

static void testToJsonHasNoChecksum(void **state)
{
    (void)state;
    Manifest *manifest = sampleManifest();
    json_object *object = manifestToJson(manifest);
    assert_false(json_object_object_get_ex(object, "manifest_sha256", NULL));
    json_object *id = NULL;
    assert_true(json_object_object_get_ex(object, "id", &id));
    assert_string_equal(json_object_get_string(id), "neo4j-20251227-153000");
    json_object_put(object);
    manifestFree(manifest);
}

static void testStrictFields(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        const char *fragment;
    } cases[] = {
        {"[]", "not a JSON object"},
        {"{\"format_version\": 1, \"id\": \"x\"}", "created is missing"},
        {"{\"format_version\": 1, \"created\": \"2025-12-27T15:30:00Z\", \"status\": \"COMPLETE\"}", "id is missing"},
        {"{\"format_version\": 2, \"id\": \"x\", \"created\": \"2025-12-27T15:30:00Z\", \"status\": \"COMPLETE\"}",
         "newer than this tool"},
        {"{\"format_version\": 0}", "format_version 0 is invalid"},
        {"{\"format_version\": \"1\"}", "format_version is missing"},
        {"{\"format_version\": 1, \"id\": 5}", "id is not a string"},
        {"{\"format_version\": 1, \"id\": \"x\", \"created\": \"yesterday\"}", "created is not an ISO-8601"},
        {"{\"format_version\": 1, \"id\": \"x\", \"created\": \"2025-12-27T15:30:00Z\", \"status\": \"COMPLETE\", "
         "\"archive\": {\"size_compressed\": -1}}",
         "size_compressed is not a non-negative"},
        {"{\"format_version\": 1, \"id\": \"x\", \"created\": \"2025-12-27T15:30:00Z\", \"status\": \"COMPLETE\", "
         "\"archive\": {\"file\": \"../../etc/passwd\"}}",
         "archive.file is not a plain file name"},
        {"{\"format_version\": 1, \"id\": \"x\", \"created\": \"2025-12-27T15:30:00Z\", \"status\": \"COMPLETE\", "
         "\"stats\": {\"labels\": {\"A\": 1.5}}}",
         "count of labels 'A'"},
        {"{\"format_version\": 1, \"id\": \"x\", \"created\": \"2025-12-27T15:30:00Z\", \"status\": \"COMPLETE\", "
         "\"schema\": [1]}",
         "schema item 0 is not an object"},
        {"{\"format_version\": 1, \"id\": \"x\", \"created\": \"2025-12-27T15:30:00Z\", \"status\": \"COMPLETE\", "
         "\"keep\": \"yes\"}",
         "keep is not a boolean"},
        {"{\"format_version\": 1, \"id\": \"x\", \"created\": \"2025-12-27T15:30:00Z\", \"status\": \"COMPLETE\", "
         "\"duration_seconds\": -3}",
         "duration_seconds is not a non-negative"},
        /* Names that become paths or neo4j-admin arguments. */
        {"{\"format_version\": 1, \"id\": \"../x\", \"created\": \"2025-12-27T15:30:00Z\", \"status\": \"COMPLETE\"}",
         "id is not a backup id"},
        {"{\"format_version\": 1, \"id\": \"--expand-commands\", \"created\": \"2025-12-27T15:30:00Z\", "
         "\"status\": \"COMPLETE\"}",
         "id is not a backup id"},
        {"{\"format_version\": 1, \"id\": \"x\", \"created\": \"2025-12-27T15:30:00Z\", \"status\": \"COMPLETE\", "
         "\"source\": {\"database\": \"../../x\"}}",
         "source.database is not a database name"},
        {"{\"format_version\": 1, \"id\": \"x\", \"created\": \"2025-12-27T15:30:00Z\", \"status\": \"COMPLETE\", "
         "\"source\": {\"database\": \"--expand-commands\"}}",
         "source.database is not a database name"},
        {"{\"format_version\": 1, \"id\": \"x\", \"created\": \"2025-12-27T15:30:00Z\", \"status\": \"COMPLETE\", "
         "\"source\": {\"database\": \"neo4j\\nx\"}}",
         "source.database is not a database name"},
        {"{\"format_version\": 1, \"id\": \"x\", \"created\": \"2025-12-27T15:30:00Z\", \"status\": \"COMPLETE\", "
         "\"source\": {\"database\": \"a234567890123456789012345678901234567890123456789012345678901234\"}}",
         "source.database is not a database name"},
        {"{\"format_version\": 1, \"id\": \"x\", \"created\": \"2025-12-27T15:30:00Z\", \"status\": \"COMPLETE\", "
         "\"archive\": {\"file\": \"--expand-commands\"}}",
         "archive.file is not a plain file name"},
        {"{\"format_version\": 1, \"id\": \"x\", \"created\": \"2025-12-27T15:30:00Z\", \"status\": \"COMPLETE\", "
         "\"dump\": {\"archives\": [{\"file\": \"system.dump\", \"database\": \"--expand-commands\"}]}}",
         "dump archive 0: database is not a database name"},
        {"{\"format_version\": 1, \"id\": \"x\", \"created\": \"2025-12-27T15:30:00Z\", \"status\": \"COMPLETE\", "
         "\"dump\": {\"archives\": [{\"file\": \"../system.dump\", \"database\": \"system\"}]}}",
         "dump archive 0: file is not a plain file name"},
        {"{\"format_version\": 1} trailing", "unexpected text after"},
        {"{\"format_version\": 1", "truncated"},
    };
    for (size_t index = 0; index < sizeof(cases) / sizeof(cases[0]); index++) {
        Manifest *parsed = (Manifest *)1;
        ErrCode result = manifestParse(cases[index].text, strlen(cases[index].text), 0, &parsed);
        if (result != BACKUP_CORRUPTED)
            fail_msg("case %zu accepted", index);
        assert_null(parsed);
        if (!strstr(errLast()->reason, cases[index].fragment))
            fail_msg("case %zu: reason '%s' lacks '%s'", index, errLast()->reason, cases[index].fragment);
    }
    /* NUL bytes are rejected before JSON parsing. */
    Manifest *parsed = NULL;
    assert_int_equal(manifestParse("{\"a\":\0}", 7, 0, &parsed), BACKUP_CORRUPTED);
    /* Verification requires the checksum to be present. */
    const char *minimal = "{\"format_version\": 1, \"id\": \"x\", \"created\": \"2025-12-27T15:30:00Z\", "
                          "\"status\": \"FAILED\", \"expires\": null}";
    assert_int_equal(manifestParse(minimal, strlen(minimal), MANIFEST_PARSE_VERIFY, &parsed), BACKUP_CORRUPTED);
    assert_non_null(strstr(errLast()->reason, "manifest_sha256 is missing"));
    assert_int_equal(manifestParse(minimal, strlen(minimal), 0, &parsed), ERR_OK);
    assert_false(manifestIsValid(parsed));
    manifestFree(parsed);
    /* Names Neo4j and this tool write are accepted. */
    const char *names = "{\"format_version\": 1, \"id\": \"neo4j-20251227-153000\", "
                        "\"created\": \"2025-12-27T15:30:00Z\", \"status\": \"COMPLETE\", "
                        "\"source\": {\"database\": \"sales.eu-west_2\"}, \"archive\": {\"file\": \"neo4j.dump\"}, "
                        "\"dump\": {\"archives\": [{\"file\": \"system.dump\", \"database\": \"system\"}]}}";
    assert_int_equal(manifestParse(names, strlen(names), 0, &parsed), ERR_OK);
    assert_string_equal(parsed->source.database, "sales.eu-west_2");
    assert_int_equal(parsed->expires, 0);
    manifestFree(parsed);
}

static void testDowntimeAndLargeNumbers(void **state)
{
    (void)state;
    Manifest *manifest = sampleManifest();
    manifestSetString(&manifest->method, "dump");
    manifest->hasDowntime = true;
    manifest->downtimeSeconds = 12.5;
    manifest->archive.sizeUncompressed = UINT64_MAX;
    manifest->durationSeconds = 1.0 / 0.0;
    char *text = manifestSerialize(manifest);
    Manifest *parsed = NULL;
    assert_int_equal(manifestParse(text, strlen(text), MANIFEST_PARSE_VERIFY, &parsed), ERR_OK);
    assert_true(parsed->hasDowntime);
    assert_true(parsed->downtimeSeconds == 12.5);
    assert_true(parsed->archive.sizeUncompressed == UINT64_MAX);
    assert_true(parsed->durationSeconds == 0); /* infinity is written as 0 */
    manifestFree(parsed);
    manifestFree(manifest);
    free(text);
}


/* stats.labels/types from GraphCounts (sorted), back, and through a file;
 * manifests written before the maps were filled are recognised. */
static void testStatsCounts(void **state)
{
    (void)state;
    Manifest *manifest = manifestNew();
    manifestSetString(&manifest->id, "neo4j-20251227-153000");
    manifest->created = 1766849400;
    manifestSetString(&manifest->status, MANIFEST_STATUS_COMPLETE);
    manifest->stats.nodes = 3;
    manifest->stats.relationships = 1;
    assert_false(manifestHasCounts(manifest)); /* an old manifest: totals, empty maps */

    GraphCounts counts = {0};
    countMapAdd(&counts.labels, "Person", 6, 3);
    countMapAdd(&counts.labels, "Admin", 5, 1);
    countMapAdd(&counts.types, "KNOWS", 5, 1);
    manifestAddLabel(manifest, "Stale", 9); /* replaced, not appended to */
    manifestSetCounts(manifest, &counts);
    assert_true(manifestHasCounts(manifest));
    assert_int_equal(manifest->stats.labelCount, 2);
    assert_string_equal(manifest->stats.labels[0].name, "Admin");
    assert_string_equal(manifest->stats.labels[1].name, "Person");
    assert_int_equal(manifest->stats.labels[1].count, 3);
    assert_int_equal(manifest->stats.typeCount, 1);

    char *text = manifestSerialize(manifest);
    Manifest *loaded = NULL;
    assert_int_equal(manifestParse(text, strlen(text), MANIFEST_PARSE_VERIFY, &loaded), ERR_OK);
    GraphCounts back = {0};
    manifestGetCounts(loaded, &back);
    char finding[256];
    assert_int_equal(graphCountsCompare(&counts, &back, finding, sizeof(finding)), 0);
    assert_true(manifestHasCounts(loaded));

    /* An empty graph has nothing to count: its empty maps are complete. */
    Manifest *empty = manifestNew();
    assert_true(manifestHasCounts(empty));
    manifestFree(empty);
    graphCountsFree(&back);
    graphCountsFree(&counts);
    manifestFree(loaded);
    free(text);
    manifestFree(manifest);
}

/* --list --json must stay valid JSON: a manifest whose strings are not valid
 * UTF-8 is damaged; control characters parse (json-c escapes them on output). */
/* A differential's chain fields: round trip, the link digest's invariance
 * under the fields that change after a backup is written, and refusal of
 * a parent that could not be one. */
static void testDifferentialFields(void **state)
{
    (void)state;
    Manifest *parent = sampleManifest();
    char before[65], after[65];
    manifestLinkSha256(parent, before);
    manifestSetString(&parent->status, MANIFEST_STATUS_COMPLETE);
    parent->validatedAt = 0;
    parent->keep = !parent->keep;
    manifestLinkSha256(parent, after);
    assert_string_equal(before, after);
    parent->stats.nodes++;
    manifestLinkSha256(parent, after);
    assert_string_not_equal(before, after);

    Manifest *diff = sampleManifest();
    manifestSetString(&diff->id, "neo4j-20251228-153000");
    manifestSetString(&diff->backupType, MANIFEST_TYPE_DIFF);
    manifestSetString(&diff->parent.id, "neo4j-20251227-153000");
    manifestSetString(&diff->parent.manifestSha256, before);
    diff->chainDepth = 3;
    diff->changes.nodes = 7;
    diff->changes.relationships = 8;
    diff->changes.deletedNodes = 9;
    diff->changes.deletedRelationships = 10;
    char *text = manifestSerialize(diff);
    Manifest *loaded = NULL;
    assert_int_equal(manifestParse(text, strlen(text), MANIFEST_PARSE_VERIFY, &loaded), ERR_OK);
    assert_true(manifestIsDiff(loaded));
    assert_string_equal(loaded->parent.id, "neo4j-20251227-153000");
    assert_string_equal(loaded->parent.manifestSha256, before);
    assert_int_equal(loaded->chainDepth, 3);
    assert_int_equal(loaded->changes.nodes, 7);
    assert_int_equal(loaded->changes.deletedRelationships, 10);
    char reloaded[65], original[65];
    manifestLinkSha256(loaded, reloaded);
    manifestLinkSha256(diff, original);
    assert_string_equal(reloaded, original);
    manifestFree(loaded);
    free(text);

    static const struct {
        const char *fields;
        const char *fragment;
    } cases[] = {
        {"\"backup_type\": \"incremental\"", "neither"},
        {"\"backup_type\": \"diff\"", "names no parent"},
        {"\"backup_type\": \"full\", \"parent\": {\"id\": \"a\"}", "a full backup names a parent"},
        {"\"backup_type\": \"diff\", \"chain_depth\": 1, \"parent\": {\"id\": \"../x\", \"manifest_sha256\": "
         "\"0000000000000000000000000000000000000000000000000000000000000000\"}",
         "parent.id is not a backup id"},
        {"\"backup_type\": \"diff\", \"chain_depth\": 1, \"parent\": {\"id\": \"x\", \"manifest_sha256\": "
         "\"0000000000000000000000000000000000000000000000000000000000000000\"}",
         "names itself"},
        {"\"backup_type\": \"diff\", \"chain_depth\": 1, \"parent\": {\"id\": \"p\", \"manifest_sha256\": \"ABC\"}",
         "manifest_sha256 is not 64"},
        {"\"backup_type\": \"diff\", \"chain_depth\": 0, \"parent\": {\"id\": \"p\", \"manifest_sha256\": "
         "\"0000000000000000000000000000000000000000000000000000000000000000\"}",
         "chain_depth 0"},
        {"\"backup_type\": \"diff\", \"chain_depth\": 1001, \"parent\": {\"id\": \"p\", \"manifest_sha256\": "
         "\"0000000000000000000000000000000000000000000000000000000000000000\"}",
         "chain_depth 1001"},
    };
    for (size_t index = 0; index < sizeof(cases) / sizeof(cases[0]); index++) {
        char json[1024];
        snprintf(json, sizeof(json),
                 "{\"format_version\": 1, \"id\": \"x\", \"created\": \"2025-12-27T15:30:00Z\", \"status\": "
                 "\"COMPLETE\", %s}",
                 cases[index].fields);
        Manifest *refused = NULL;
        assert_int_equal(manifestParse(json, strlen(json), 0, &refused), BACKUP_CORRUPTED);
        if (!strstr(errLast()->reason, cases[index].fragment))
            fail_msg("case %zu: '%s' lacks '%s'", index, errLast()->reason, cases[index].fragment);
        assert_null(refused);
    }
    manifestFree(diff);
    manifestFree(parent);
}

static void testInvalidUtf8IsDamaged(void **state)
{
    (void)state;
    Manifest *manifest = sampleManifest();
    char *text = manifestSerialize(manifest);
    manifestFree(manifest);
    char *invalid = replaced(text, "\"COMPLETE, VALIDATED\"", "\"COMPLETE\xff\xfe\"");
    Manifest *parsed = NULL;
    assert_int_equal(manifestParse(invalid, strlen(invalid), 0, &parsed), BACKUP_CORRUPTED);
    assert_null(parsed);
    assert_null(strchr(errLast()->reason, '\xff'));
    char *escaped = replaced(text, "\"COMPLETE, VALIDATED\"", "\"COMPLETE\\u001b[2J\"");
    assert_int_equal(manifestParse(escaped, strlen(escaped), 0, &parsed), ERR_OK);
    assert_string_equal(parsed->status, "COMPLETE\x1b[2J");
    json_object *json = manifestToJson(parsed);
    assert_non_null(strstr(json_object_to_json_string(json), "COMPLETE\\u001b[2J"));
    json_object_put(json);
    manifestFree(parsed);
    free(escaped);
    free(invalid);
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(testRoundTrip, setUp, tearDown),
        cmocka_unit_test_setup_teardown(testTamperedPrimaryFallsBackToCopy, setUp, tearDown),
        cmocka_unit_test_setup_teardown(testBothDamaged, setUp, tearDown),
        cmocka_unit_test_setup_teardown(testThroughStorage, setUp, tearDown),
        cmocka_unit_test(testUnknownKeysPreserved),
        cmocka_unit_test(testToJsonHasNoChecksum),
        cmocka_unit_test(testStrictFields),
        cmocka_unit_test(testDowntimeAndLargeNumbers),
        cmocka_unit_test(testStatsCounts),
        cmocka_unit_test(testInvalidUtf8IsDamaged),
        cmocka_unit_test(testDifferentialFields),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
