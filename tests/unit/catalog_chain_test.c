/* Differential chains in the catalog: catChainLoad follows parent ids and
 * checks every link (missing parent, parent manifest changed, parent not
 * restorable, depth, database, method), while validating, keeping or
 * re-keying a parent leaves its children intact. Backups are forged the way
 * the backup engine writes them (catalog_test.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "archive/archive.h"
#include "catalog/catalog.h"
#include "catalog/catalog_settings.h"
#include "catalog/removal.h"
#include "catalog/validate.h"
#include "common/fsutil.h"
#include "common/log.h"
#include "common/timeutil.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define DAY TIME_SECONDS_PER_DAY

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
    /* A real (tiny) archive, so that validation's framing pass reads it. */
    static const uint8_t emptyMap[] = {0xA0}, record[] = {0x91, 0x01};
    ArcWriter *writer = NULL;
    assert_int_equal(arcWriterOpen(&writer, archive, ARC_COMPRESSION_NONE, 0, 0, emptyMap, sizeof(emptyMap)), ERR_OK);
    assert_int_equal(arcWriterAdd(writer, ARC_RECORD_NODE, record, sizeof(record)), ERR_OK);
    ArcTotals totals;
    assert_int_equal(arcWriterFinish(writer, &totals), ERR_OK);
    arcWriterFree(writer);
    char sha256[65];
    for (size_t index = 0; index < 32; index++)
        snprintf(sha256 + 2 * index, 3, "%02x", totals.fileSha256[index]);
    struct stat info;
    assert_int_equal(stat(archive, &info), 0);
    Manifest *manifest = manifestNew();
    manifestSetString(&manifest->id, id);
    manifest->created = created;
    manifestSetString(&manifest->status, forge->status ? forge->status : MANIFEST_STATUS_COMPLETE);
    manifestSetString(&manifest->method, "logical");
    manifestSetString(&manifest->source.database, forge->database ? forge->database : "neo4j");
    manifestSetString(&manifest->archive.file, "graph.nbk");
    manifest->archive.sizeCompressed = (uint64_t)info.st_size;
    manifestSetString(&manifest->archive.sha256, sha256);
    if (forge->keyId) {
        manifest->encryption.present = true;
        manifestSetString(&manifest->encryption.keyId, forge->keyId);
    }
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
    char saved[PATH_MAX + 8];
    snprintf(saved, sizeof(saved), "%s.away", archive);
    assert_int_equal(rename(archive, saved), 0);
    expectBroken(catalog, first, full, "INCOMPLETE");
    assert_int_equal(rename(saved, archive), 0);
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

static const CatEntry *listed(const CatList *list, const char *id)
{
    for (size_t index = 0; index < list->count; index++)
        if (strcmp(list->entries[index].id, id) == 0)
            return &list->entries[index];
    fail_msg("%s not listed", id);
    return NULL;
}

static void expectListed(Catalog *catalog, const char *id, bool usable, const char *problem)
{
    CatList list;
    assert_int_equal(catList(catalog, &list), ERR_OK);
    const CatEntry *entry = listed(&list, id);
    char text[1024];
    catEntryProblem(entry, text, sizeof(text));
    if (catEntryUsable(entry) != usable || (problem && !strstr(text, problem)) || (!problem && text[0]))
        fail_msg("%s listed %s (%s), expected %s", id, catEntryStatus(entry), text, problem ? problem : "usable");
    if (!usable)
        assert_string_equal(catEntryStatus(entry), MANIFEST_STATUS_CORRUPTED);
    catListFree(&list);
    /* catFind agrees with the listing. */
    CatEntry found;
    assert_int_equal(catFind(catalog, id, &found), ERR_OK);
    catEntryProblem(&found, text, sizeof(text));
    assert_int_equal(catEntryUsable(&found), usable);
    if (problem)
        assert_non_null(strstr(text, problem));
    catEntryFree(&found);
}

static void testListMarksBrokenChains(void **state)
{
    Catalog *catalog = *state;
    int64_t base = timeFromParts(2026, 11, 1, 2, 0, 0);
    char full[CAT_ID_SIZE], first[CAT_ID_SIZE], second[CAT_ID_SIZE], later[CAT_ID_SIZE];
    forgeBackup(catalog, base, &(Forge){0}, full);
    forgeBackup(catalog, base + DAY, &(Forge){.parent = full}, first);
    forgeBackup(catalog, base + 2 * DAY, &(Forge){.parent = first}, second);
    expectListed(catalog, second, true, NULL);

    assert_int_equal(catManifestUpdate(catalog, first, setNodesEditor, NULL), ERR_OK);
    char problem[256];
    snprintf(problem, sizeof(problem), "the chain is broken at %s: its manifest changed", first);
    expectListed(catalog, second, false, problem);
    expectListed(catalog, first, true, NULL);

    /* Retention and the newest restorable backup skip the broken one. */
    CatList list;
    assert_int_equal(catList(catalog, &list), ERR_OK);
    size_t newest = CAT_NONE;
    catNewestRestorable(catalog, &list, NULL, false, &newest);
    assert_int_not_equal(newest, CAT_NONE);
    assert_string_equal(list.entries[newest].id, first);
    RetBackup inputs[3];
    catRetentionInput(catalog, &list, inputs);
    assert_false(inputs[0].valid); /* second, newest first */
    assert_true(inputs[1].valid);
    catListFree(&list);

    /* The full gone: every differential after it is broken there. */
    forgeBackup(catalog, base + 3 * DAY, &(Forge){0}, later);
    assert_int_equal(catDelete(catalog, full), ERR_OK);
    snprintf(problem, sizeof(problem), "the chain is broken at %s: it is missing", full);
    expectListed(catalog, first, false, problem);
    snprintf(problem, sizeof(problem), "the chain is broken at %s: its manifest changed", first);
    expectListed(catalog, second, false, problem); /* the first break from the differential up */
    expectListed(catalog, later, true, NULL);
}

typedef struct {
    unsigned linksPassed, archivesPassed, notChecked, corrupted, chainSeen;
    size_t links;
} ChainSeen;

static void seeChain(const CatValidateEvent *event, void *payload)
{
    ChainSeen *seen = payload;
    switch (event->kind) {
    case CAT_VALIDATE_CHAIN_LINKS_PASSED:
        seen->linksPassed++;
        seen->links = event->links;
        break;
    case CAT_VALIDATE_CHAIN_ARCHIVE_PASSED:
        seen->archivesPassed++;
        break;
    case CAT_VALIDATE_CHAIN_CONTENT_NOT_CHECKED:
        seen->notChecked++;
        break;
    case CAT_VALIDATE_CORRUPTED:
        seen->corrupted++;
        break;
    default:
        break;
    }
}

static ErrCode readChainHook(void *payload, Catalog *catalog, const CatChain *chain, ArchiveContent *content)
{
    (void)catalog;
    ChainSeen *seen = payload;
    seen->chainSeen = (unsigned)chain->count;
    assert_false(manifestIsDiff(chain->links[0].manifest));
    memset(content, 0, sizeof(*content)); /* what the forged manifests say: nothing */
    return ERR_OK;
}

static const char *statusOf(Catalog *catalog, const char *id, char *out, size_t size)
{
    CatEntry entry;
    assert_int_equal(catFind(catalog, id, &entry), ERR_OK);
    snprintf(out, size, "%s", entry.manifest->status);
    if (entry.manifest->failureReason)
        snprintf(out + strlen(out), size - strlen(out), " / %s", entry.manifest->failureReason);
    catEntryFree(&entry);
    return out;
}

static void testValidateDifferential(void **state)
{
    Catalog *catalog = *state;
    int64_t base = timeFromParts(2026, 11, 1, 2, 0, 0);
    char full[CAT_ID_SIZE], first[CAT_ID_SIZE], second[CAT_ID_SIZE], status[1200];
    forgeBackup(catalog, base, &(Forge){0}, full);
    forgeBackup(catalog, base + DAY, &(Forge){.parent = full}, first);
    forgeBackup(catalog, base + 2 * DAY, &(Forge){.parent = first}, second);

    /* No chain reader: links, checksums and framing, but no VALIDATED verdict. */
    ChainSeen seen = {0};
    CatValidateRequest request = {.catalog = catalog, .backupId = second};
    CatValidateResult result;
    assert_int_equal(catValidate(&request, &result, &(CatValidateEvents){seeChain, &seen}), ERR_OK);
    assert_int_equal(seen.linksPassed, 1);
    assert_int_equal(seen.links, 3);
    assert_int_equal(seen.archivesPassed, 2);
    assert_int_equal(seen.notChecked, 1);
    assert_true(result.contentNotChecked);
    assert_string_equal(statusOf(catalog, second, status, sizeof(status)), MANIFEST_STATUS_COMPLETE);

    /* With a chain reader: the merged content compared, VALIDATED recorded. */
    request.validateChain = readChainHook;
    request.validateChainPayload = &seen;
    assert_int_equal(catValidate(&request, &result, &(CatValidateEvents){seeChain, &seen}), ERR_OK);
    assert_int_equal(seen.chainSeen, 3);
    assert_string_equal(statusOf(catalog, second, status, sizeof(status)), MANIFEST_STATUS_VALIDATED);
    /* Validating the last link changed no link digest of the others. */
    expectChain(catalog, second, 3, (const char *const[]){full, first, second});

    /* A changed parent: CORRUPTED, recorded only outside a dry run. */
    assert_int_equal(catManifestUpdate(catalog, first, setNodesEditor, NULL), ERR_OK);
    request.dryRun = true;
    memset(&seen, 0, sizeof(seen));
    assert_int_equal(catValidate(&request, &result, &(CatValidateEvents){seeChain, &seen}), BACKUP_CORRUPTED);
    assert_true(result.chainBroken);
    assert_true(result.reported);
    assert_int_equal(seen.corrupted, 1);
    assert_non_null(strstr(errLast()->reason, "broken at"));
    assert_string_equal(statusOf(catalog, second, status, sizeof(status)), MANIFEST_STATUS_VALIDATED);
    request.dryRun = false;
    assert_int_equal(catValidate(&request, &result, NULL), BACKUP_CORRUPTED);
    assert_non_null(strstr(errLast()->reason, "broken at"));
    statusOf(catalog, second, status, sizeof(status));
    if (strncmp(status, "CORRUPTED / the chain of", 24) != 0)
        fail_msg("status %s", status);

    /* An ancestor whose archive fails its checksum: recorded on it and on the differential. */
    char archive[PATH_MAX];
    snprintf(archive, sizeof(archive), "%s/%s/graph.nbk", storage, full);
    FILE *file = fopen(archive, "r+b");
    assert_non_null(file);
    fseek(file, -3, SEEK_END);
    fputc('X', file);
    fclose(file);
    assert_int_equal(catValidate(&(CatValidateRequest){.catalog = catalog, .backupId = first}, &result, NULL),
                     BACKUP_CORRUPTED);
    assert_true(result.chainBroken);
    assert_string_equal(statusOf(catalog, full, status, sizeof(status)), "CORRUPTED / archive checksum mismatch");
    assert_int_equal(strncmp(statusOf(catalog, first, status, sizeof(status)), "CORRUPTED / the chain of", 24), 0);
}

typedef struct {
    char ids[8][CAT_ID_SIZE];
    int kinds[8];
    bool dependant[8];
    unsigned count;
} RemovalSeen;

static void seeRemoval(const CatRemovalEvent *event, void *payload)
{
    RemovalSeen *seen = payload;
    if (seen->count >= 8)
        return;
    snprintf(seen->ids[seen->count], CAT_ID_SIZE, "%s", event->backupId);
    seen->dependant[seen->count] = event->dependantOf != NULL;
    seen->kinds[seen->count++] = (int)event->kind;
}

static bool exists(Catalog *catalog, const char *id)
{
    CatEntry entry;
    bool found = catFind(catalog, id, &entry) == ERR_OK;
    catEntryFree(&entry);
    return found;
}

static void testDeleteWithDependants(void **state)
{
    Catalog *catalog = *state;
    int64_t base = timeFromParts(2026, 11, 1, 2, 0, 0);
    char full[CAT_ID_SIZE], first[CAT_ID_SIZE], second[CAT_ID_SIZE], other[CAT_ID_SIZE];
    forgeBackup(catalog, base, &(Forge){0}, full);
    forgeBackup(catalog, base + DAY, &(Forge){.parent = full}, first);
    forgeBackup(catalog, base + 2 * DAY, &(Forge){.parent = first}, second);
    forgeBackup(catalog, base + 3 * DAY, &(Forge){0}, other);

    RemovalSeen seen = {0};
    CatRemovalRequest request = {.catalog = catalog, .backupId = full, .onEvent = seeRemoval, .payload = &seen};
    assert_int_equal(catRemoveBackup(&request), BACKUP_PROTECTED);
    assert_non_null(strstr(errLast()->reason, "has 2 dependants"));
    assert_non_null(strstr(errLast()->reason, second));
    assert_non_null(strstr(errLast()->action, "Use --force to delete it and its 2 dependants"));
    assert_int_equal(seen.count, 0);
    /* A dry run with --force names all three, dependants first; deletes nothing. */
    request.force = true;
    request.dryRun = true;
    assert_int_equal(catRemoveBackup(&request), ERR_OK);
    assert_int_equal(seen.count, 4);
    assert_int_equal(seen.kinds[0], CAT_REMOVAL_FORCED);
    assert_string_equal(seen.ids[1], second);
    assert_true(seen.dependant[1]);
    assert_string_equal(seen.ids[2], first);
    assert_string_equal(seen.ids[3], full);
    assert_false(seen.dependant[3]);
    assert_true(exists(catalog, full) && exists(catalog, first) && exists(catalog, second));

    /* A dependant in use: nothing of the chain above it goes. */
    StorageLock *lock = NULL;
    assert_int_equal(catLockBackup(catalog, second, LOCK_SHARED, 1000, "test", &lock), ERR_OK);
    request.dryRun = false;
    assert_int_equal(catRemoveBackup(&request), BACKUP_LOCKED);
    storageLockRelease(lock);
    assert_true(exists(catalog, full) && exists(catalog, first) && exists(catalog, second));

    /* The newest differential has no dependants: it goes alone. */
    request.force = false;
    request.backupId = second;
    assert_int_equal(catRemoveBackup(&request), ERR_OK);
    assert_false(exists(catalog, second));
    expectChain(catalog, first, 2, (const char *const[]){full, first});

    /* --force: the dependant first, then the full. */
    memset(&seen, 0, sizeof(seen));
    request.backupId = full;
    request.force = true;
    assert_int_equal(catRemoveBackup(&request), ERR_OK);
    assert_int_equal(seen.count, 3);
    assert_int_equal(seen.kinds[1], CAT_REMOVAL_DELETING);
    assert_string_equal(seen.ids[1], first);
    assert_string_equal(seen.ids[2], full);
    assert_false(exists(catalog, first) || exists(catalog, full));
    assert_true(exists(catalog, other));
}

static void testRetentionKeepsChains(void **state)
{
    Catalog *catalog = *state;
    int64_t now = timeFromParts(2026, 11, 30, 12, 0, 0);
    char full[CAT_ID_SIZE], first[CAT_ID_SIZE], second[CAT_ID_SIZE], oldFull[CAT_ID_SIZE], oldDiff[CAT_ID_SIZE];
    forgeBackup(catalog, now - 40 * DAY, &(Forge){0}, oldFull);
    forgeBackup(catalog, now - 39 * DAY, &(Forge){.parent = oldFull}, oldDiff);
    forgeBackup(catalog, now - 20 * DAY, &(Forge){0}, full);
    forgeBackup(catalog, now - 10 * DAY, &(Forge){.parent = full}, first);
    forgeBackup(catalog, now - 2 * DAY, &(Forge){.parent = first}, second);
    RetPolicy policy = {7, 0, 0};
    CatNameList deleted;
    assert_int_equal(catRetentionApply(catalog, &policy, now, true, &deleted), ERR_OK);
    assert_int_equal(deleted.count, 2);
    assert_string_equal(deleted.names[0], oldDiff); /* the dependant first */
    assert_string_equal(deleted.names[1], oldFull);
    catNameListFree(&deleted);
    assert_true(exists(catalog, oldDiff)); /* a dry run */

    /* The old differential in use: it and its full stay. */
    StorageLock *lock = NULL;
    assert_int_equal(catLockBackup(catalog, oldDiff, LOCK_SHARED, 1000, "test", &lock), ERR_OK);
    assert_int_equal(catRetentionApply(catalog, &policy, now, false, &deleted), ERR_OK);
    assert_int_equal(deleted.count, 0);
    catNameListFree(&deleted);
    storageLockRelease(lock);

    assert_int_equal(catRetentionApply(catalog, &policy, now, false, &deleted), ERR_OK);
    assert_int_equal(deleted.count, 2);
    catNameListFree(&deleted);
    assert_false(exists(catalog, oldDiff) || exists(catalog, oldFull));
    /* The daily differential keeps its whole chain, 20 days old or not. */
    expectChain(catalog, second, 3, (const char *const[]){full, first, second});
}

/* An in-memory listing (newest first) of a full and two differentials. */
static void fakeList(CatList *list, const char *const keys[3])
{
    static const char *const ids[3] = {"d2", "d1", "f"};
    list->count = 3;
    list->entries = calloc(3, sizeof(CatEntry));
    for (size_t index = 0; index < 3; index++) {
        CatEntry *entry = &list->entries[index];
        snprintf(entry->id, sizeof(entry->id), "%s", ids[index]);
        Manifest *manifest = manifestNew();
        manifestSetString(&manifest->id, ids[index]);
        manifest->archive.sizeCompressed = index == 2 ? 1000 : 10 * (index + 1);
        if (index < 2) {
            manifestSetString(&manifest->backupType, MANIFEST_TYPE_DIFF);
            manifestSetString(&manifest->parent.id, ids[index + 1]);
            manifest->chainDepth = (uint32_t)(2 - index);
        }
        if (keys[index]) {
            manifest->encryption.present = true;
            manifestSetString(&manifest->encryption.keyId, keys[index]);
        }
        entry->manifest = manifest;
    }
}

static void testListChainInfo(void **state)
{
    (void)state;
    CatList list;
    fakeList(&list, (const char *const[]){"k1", "k1", "k1"});
    CatChainInfo info;
    catListChainInfo(&list, 0, &info);
    assert_true(info.diff);
    assert_string_equal(info.parentId, "d1");
    assert_int_equal(info.ownBytes, 10);
    assert_int_equal(info.chainBytes, 1030);
    assert_int_equal(info.links, 3);
    assert_true(info.complete);
    assert_false(info.mixedKeys);
    catListChainInfo(&list, 2, &info);
    assert_false(info.diff);
    assert_null(info.parentId);
    assert_int_equal(info.chainBytes, 1000);
    assert_true(catListHasDiffs(&list));
    size_t *order = NULL, count = 0;
    catListDependants(&list, 2, &order, &count);
    assert_int_equal(count, 2);
    assert_int_equal(order[0], 0);
    assert_int_equal(order[1], 1);
    free(order);

    json_object *item = json_object_new_object();
    catEntryAddChain(item, &list, 0);
    const char *text = json_object_to_json_string_ext(item, JSON_C_TO_STRING_PLAIN);
    if (!strstr(text, "\"type\":\"diff\"") || !strstr(text, "\"parent_id\":\"d1\"")
        || !strstr(text, "\"own_bytes\":10") || !strstr(text, "\"chain_bytes\":1030")
        || !strstr(text, "\"chain_mixed_keys\":false"))
        fail_msg("%s", text);
    json_object_put(item);
    catListFree(&list);

    /* Another key in the chain, or a link not encrypted: mixed. */
    fakeList(&list, (const char *const[]){"k2", "k1", "k1"});
    catListChainInfo(&list, 0, &info);
    assert_true(info.mixedKeys);
    catListChainInfo(&list, 1, &info);
    assert_false(info.mixedKeys);
    catListFree(&list);
    fakeList(&list, (const char *const[]){"k1", "k1", NULL});
    catListChainInfo(&list, 0, &info);
    assert_true(info.mixedKeys);
    /* The full not listed: incomplete. */
    snprintf(list.entries[2].id, sizeof(list.entries[2].id), "gone");
    catListChainInfo(&list, 0, &info);
    assert_false(info.complete);
    assert_int_equal(info.links, 2);
    catListFree(&list);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(testChainLoads, setUp, tearDown),
        cmocka_unit_test_setup_teardown(testChainBrokenLinks, setUp, tearDown),
        cmocka_unit_test_setup_teardown(testChainBadShape, setUp, tearDown),
        cmocka_unit_test_setup_teardown(testListMarksBrokenChains, setUp, tearDown),
        cmocka_unit_test_setup_teardown(testValidateDifferential, setUp, tearDown),
        cmocka_unit_test_setup_teardown(testDeleteWithDependants, setUp, tearDown),
        cmocka_unit_test_setup_teardown(testRetentionKeepsChains, setUp, tearDown),
        cmocka_unit_test(testListChainInfo),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
