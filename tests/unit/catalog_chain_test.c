/* Differential chains in the catalog: catChainLoad follows parent ids and
 * checks every link (missing parent, parent manifest changed, parent not
 * restorable, depth, database, method), while validating, keeping or
 * re-keying a parent leaves its children intact. Backups are forged the way
 * the backup engine writes them (catalog_test.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "catalog/catalog.h"
#include "common/fsutil.h"
#include "common/log.h"
#include "common/timeutil.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define DAY TIME_SECONDS_PER_DAY
/* SHA-256 of "0123456789", the archive every forged backup holds. */
#define ARCHIVE_SHA256 "84d89877f0d4041efb6bf91a16f0248f2fd573e6af05c19f96bedb9f882f7882"

static char workDir[256];
static char storage[300];

static void quietSink(LogLevel level, const char *line, void *payload)
{
    (void)level;
    (void)line;
    (void)payload;
}

static int setUp(void **state)
{
    logSetSink(quietSink, NULL);
    snprintf(workDir, sizeof(workDir), "/tmp/nbk-chain-XXXXXX");
    if (!mkdtemp(workDir))
        return -1;
    snprintf(storage, sizeof(storage), "%s/backups", workDir);
    Catalog *catalog = NULL;
    if (catOpen(&catalog, storage, true) != ERR_OK)
        return -1;
    *state = catalog;
    return 0;
}

static int tearDown(void **state)
{
    catClose(*state);
    logSetSink(NULL, NULL);
    char command[300];
    snprintf(command, sizeof(command), "rm -rf '%s'", workDir);
    return system(command) == 0 ? 0 : -1;
}

typedef struct {
    const char *parent;   /* NULL: a full backup */
    const char *database; /* default: the parent's, else "neo4j" */
    const char *status;   /* default COMPLETE */
    int depthDelta;       /* added to the parent's depth + 1 */
    const char *keyId;    /* encryption.keyId to record (not a real seal) */
} Forge;

/* A committed backup created at `created`; a differential names its parent
 * by id and link digest, one deeper. */
static void forgeBackup(Catalog *catalog, int64_t created, const Forge *forge, char id[CAT_ID_SIZE])
{
    assert_int_equal(catNewId(catalog, created, id), ERR_OK);
    CatBackupDir *dir = NULL;
    assert_int_equal(catBackupDirBegin(catalog, id, &dir), ERR_OK);
    char archive[PATH_MAX];
    assert_int_equal(fsPathJoin(archive, sizeof(archive), catBackupDirPath(dir), "graph.nbk"), ERR_OK);
    assert_int_equal(fsWriteAtomic(archive, "0123456789", 10, 0600), ERR_OK);
    Manifest *manifest = manifestNew();
    manifestSetString(&manifest->id, id);
    manifest->created = created;
    manifestSetString(&manifest->status, forge->status ? forge->status : MANIFEST_STATUS_COMPLETE);
    manifestSetString(&manifest->method, "logical");
    manifestSetString(&manifest->source.database, forge->database ? forge->database : "neo4j");
    manifestSetString(&manifest->archive.file, "graph.nbk");
    manifest->archive.sizeCompressed = 10;
    manifestSetString(&manifest->archive.sha256, ARCHIVE_SHA256);
    if (forge->parent) {
        CatEntry parent;
        assert_int_equal(catFind(catalog, forge->parent, &parent), ERR_OK);
        assert_non_null(parent.manifest);
        char digest[65];
        manifestLinkSha256(parent.manifest, digest);
        if (!forge->database)
            manifestSetString(&manifest->source.database, parent.manifest->source.database);
        manifestSetString(&manifest->backupType, MANIFEST_TYPE_DIFF);
        manifestSetString(&manifest->parent.id, forge->parent);
        manifestSetString(&manifest->parent.manifestSha256, digest);
        uint32_t parentDepth = manifestIsDiff(parent.manifest) ? parent.manifest->chainDepth : 0;
        manifest->chainDepth = (uint32_t)((int)parentDepth + 1 + forge->depthDelta);
        manifest->changes.nodes = 3;
        catEntryFree(&parent);
    } else {
        manifestSetString(&manifest->backupType, MANIFEST_TYPE_FULL);
    }
    assert_int_equal(manifestSave(manifest, catBackupDirPath(dir)), ERR_OK);
    manifestFree(manifest);
    assert_int_equal(catBackupDirCommit(dir), ERR_OK);
}

static void expectChain(Catalog *catalog, const char *id, size_t count, const char *const *ids)
{
    CatChain chain;
    if (catChainLoad(catalog, id, &chain) != ERR_OK)
        fail_msg("chain of %s: %s", id, errLast()->reason);
    assert_int_equal(chain.count, count);
    for (size_t index = 0; index < count; index++)
        assert_string_equal(chain.links[index].id, ids[index]);
    assert_false(manifestIsDiff(chain.links[0].manifest));
    catChainFree(&chain);
}

static void expectBroken(Catalog *catalog, const char *id, const char *at, const char *why)
{
    CatChain chain = {(CatEntry *)1, 7};
    assert_int_equal(catChainLoad(catalog, id, &chain), BACKUP_CORRUPTED);
    assert_null(chain.links);
    assert_int_equal(chain.count, 0);
    char expected[256];
    snprintf(expected, sizeof(expected), "the chain of %s is broken at %s: ", id, at);
    if (!strstr(errLast()->reason, expected) || !strstr(errLast()->reason, why))
        fail_msg("unexpected reason: %s", errLast()->reason);
    assert_non_null(strstr(errLast()->action, "full"));
}

static ErrCode setNodesEditor(Manifest *manifest, void *payload)
{
    (void)payload;
    manifest->stats.nodes++;
    return ERR_OK;
}

static ErrCode setStatusEditor(Manifest *manifest, void *payload)
{
    manifestSetString(&manifest->status, payload);
    if (strcmp(payload, MANIFEST_STATUS_VALIDATED) == 0)
        manifest->validatedAt = 1234567;
    return ERR_OK;
}

static void testChainLoads(void **state)
{
    Catalog *catalog = *state;
    int64_t base = timeFromParts(2026, 11, 1, 2, 0, 0);
    char full[CAT_ID_SIZE], first[CAT_ID_SIZE], second[CAT_ID_SIZE];
    forgeBackup(catalog, base, &(Forge){0}, full);
    forgeBackup(catalog, base + DAY, &(Forge){.parent = full}, first);
    forgeBackup(catalog, base + 2 * DAY, &(Forge){.parent = first}, second);
    expectChain(catalog, full, 1, (const char *const[]){full});
    expectChain(catalog, first, 2, (const char *const[]){full, first});
    expectChain(catalog, second, 3, (const char *const[]){full, first, second});
    /* Validating and keeping a parent change only mutable fields. */
    assert_int_equal(catManifestUpdate(catalog, full, setStatusEditor, MANIFEST_STATUS_VALIDATED), ERR_OK);
    assert_int_equal(catSetKeep(catalog, first, true), ERR_OK);
    expectChain(catalog, second, 3, (const char *const[]){full, first, second});

    CatChain chain;
    assert_int_equal(catChainLoad(catalog, "neo4j-20990101-000000", &chain), BACKUP_NOT_FOUND);
    assert_int_equal(catChainLoad(catalog, "../x", &chain), ERR_USAGE);
}

static void testChainBrokenLinks(void **state)
{
    Catalog *catalog = *state;
    int64_t base = timeFromParts(2026, 11, 1, 2, 0, 0);
    char full[CAT_ID_SIZE], first[CAT_ID_SIZE], second[CAT_ID_SIZE];
    forgeBackup(catalog, base, &(Forge){0}, full);
    forgeBackup(catalog, base + DAY, &(Forge){.parent = full}, first);
    forgeBackup(catalog, base + 2 * DAY, &(Forge){.parent = first}, second);

    /* The parent's manifest changed: the link digest differs. */
    assert_int_equal(catManifestUpdate(catalog, first, setNodesEditor, NULL), ERR_OK);
    expectBroken(catalog, second, first, "manifest changed");
    expectChain(catalog, first, 2, (const char *const[]){full, first});

    /* A parent that validation found corrupted, or that failed. */
    assert_int_equal(catManifestUpdate(catalog, full, setStatusEditor, MANIFEST_STATUS_CORRUPTED), ERR_OK);
    expectBroken(catalog, first, full, "it is CORRUPTED");
    assert_int_equal(catManifestUpdate(catalog, full, setStatusEditor, MANIFEST_STATUS_FAILED), ERR_OK);
    expectBroken(catalog, first, full, "it is FAILED");
    assert_int_equal(catManifestUpdate(catalog, full, setStatusEditor, MANIFEST_STATUS_COMPLETE), ERR_OK);
    expectChain(catalog, first, 2, (const char *const[]){full, first});

    /* A parent whose archive is gone (the cheap look). */
    char archive[PATH_MAX];
    snprintf(archive, sizeof(archive), "%s/%s/graph.nbk", storage, full);
    assert_int_equal(unlink(archive), 0);
    expectBroken(catalog, first, full, "INCOMPLETE");
    assert_int_equal(fsWriteAtomic(archive, "0123456789", 10, 0600), ERR_OK);
    expectChain(catalog, first, 2, (const char *const[]){full, first});

    /* A parent deleted: missing. */
    assert_int_equal(catDelete(catalog, full), ERR_OK);
    expectBroken(catalog, first, full, "it is missing");
}

static void testChainBadShape(void **state)
{
    Catalog *catalog = *state;
    int64_t base = timeFromParts(2026, 11, 1, 2, 0, 0);
    char full[CAT_ID_SIZE], other[CAT_ID_SIZE], deep[CAT_ID_SIZE], foreign[CAT_ID_SIZE];
    forgeBackup(catalog, base, &(Forge){0}, full);
    forgeBackup(catalog, base + DAY, &(Forge){.parent = full, .depthDelta = 1}, deep);
    expectBroken(catalog, deep, full, "chain depth is 0");
    forgeBackup(catalog, base + 2 * DAY, &(Forge){.database = "other"}, other);
    forgeBackup(catalog, base + 3 * DAY, &(Forge){.parent = other}, foreign);
    expectChain(catalog, foreign, 2, (const char *const[]){other, foreign});
    /* A differential of neo4j on a full of "other". */
    char mixed[CAT_ID_SIZE];
    Forge forge = {.parent = other};
    forgeBackup(catalog, base + 4 * DAY, &forge, mixed);
    Manifest *manifest = NULL;
    char dir[PATH_MAX];
    snprintf(dir, sizeof(dir), "%s/%s", storage, mixed);
    assert_int_equal(manifestLoad(dir, &manifest, NULL), ERR_OK);
    manifestSetString(&manifest->source.database, "neo4j");
    assert_int_equal(manifestSave(manifest, dir), ERR_OK);
    manifestFree(manifest);
    expectBroken(catalog, mixed, other, "database other");

    /* A damaged manifest at the end of the chain. */
    char path[PATH_MAX + 32];
    snprintf(path, sizeof(path), "%s/manifest.json", dir);
    assert_int_equal(fsWriteAtomic(path, "x", 1, 0600), ERR_OK);
    snprintf(path, sizeof(path), "%s/manifest.json.copy", dir);
    assert_int_equal(fsWriteAtomic(path, "x", 1, 0600), ERR_OK);
    CatChain chain;
    assert_int_equal(catChainLoad(catalog, mixed, &chain), BACKUP_CORRUPTED);
    assert_null(chain.links);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(testChainLoads, setUp, tearDown),
        cmocka_unit_test_setup_teardown(testChainBrokenLinks, setUp, tearDown),
        cmocka_unit_test_setup_teardown(testChainBadShape, setUp, tearDown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
