/* Repository validation (catalog/validate.h): the archive's checksum, then
 * every block, record, count and relationship endpoint of a logical
 * backup's archive, and the verdict written into the manifest. */
#include "catalog/validate.h"

#include "archive/archive.h"
#include "catalog/catalog_file.h"
#include "catalog/catalog_key.h"
#include "common/mem.h"
#include "common/timeutil.h"
#include "restore/health.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#define CAT_VALIDATE_LOCK_WAIT_MS 5000

bool catManifestIsDump(const Manifest *manifest)
{
    return manifest && manifest->method && strcmp(manifest->method, "dump") == 0;
}

ErrCode catChecksumVerify(const Catalog *catalog, const CatEntry *entry, char *archivePath, size_t archivePathSize,
                          CatChecksum *out)
{
    memset(out, 0, sizeof(*out));
    if (archivePathSize)
        archivePath[0] = '\0';
    if (!entry->manifest)
        return errSet(BACKUP_CORRUPTED, "%s", entry->damage);
    const Manifest *manifest = entry->manifest;
    Storage *storage = catStorage(catalog);
    char name[512];
    ErrCode code = catFileJoin(name, sizeof(name), entry->id, manifest->archive.file ? manifest->archive.file : "");
    if (code != ERR_OK)
        return code;
    catFileShow(storage, name, archivePath, archivePathSize);
    StorageInfo info;
    if (!manifest->archive.file || storageInfo(storage, name, &info) != ERR_OK)
        return errSet(BACKUP_CORRUPTED, "the archive file %s is missing", archivePath);
    uint64_t size = 0;
    code = catFileSha256(storage, name, out->got, &size, NULL);
    if (code == BACKUP_NOT_FOUND)
        return errSet(BACKUP_NOT_FOUND, "archive file missing: %s", archivePath);
    if (code != ERR_OK)
        return code;
    snprintf(out->expected, sizeof(out->expected), "%s", manifest->archive.sha256 ? manifest->archive.sha256 : "(none)");
    if (strcmp(out->got, out->expected) != 0) {
        out->mismatch = true;
        return errSet(BACKUP_CORRUPTED, "checksum mismatch for %s", archivePath);
    }
    return ERR_OK;
}

ErrCode catArchiveLocation(const Catalog *catalog, const CatEntry *entry, const char *archivePath, char *name,
                           size_t nameSize, ArcLocation *out)
{
    memset(out, 0, sizeof(*out));
    if (!entry->manifest)
        return errSet(BACKUP_CORRUPTED, "%s", entry->damage);
    if (!entry->manifest->archive.file)
        return errSet(BACKUP_CORRUPTED, "the manifest of %s names no archive file", entry->id);
    ErrCode code = catFileJoin(name, nameSize, entry->id, entry->manifest->archive.file);
    if (code != ERR_OK)
        return code;
    out->storage = catStorage(catalog);
    out->name = name;
    out->path = archivePath && archivePath[0] ? archivePath : NULL;
    out->dataKey = entry->unlocked ? entry->dataKey : NULL;
    return ERR_OK;
}

typedef struct {
    const CatValidateRequest *request;
    CatValidateResult *result;
    const CatValidateEvents *events;
} CatValidateRun;

static void catValidateEmit(const CatValidateRun *run, CatValidateEvent *event)
{
    event->backupId = run->request->backupId;
    if (run->events && run->events->onEvent)
        run->events->onEvent(event, run->events->payload);
}

static void catValidateSimple(const CatValidateRun *run, CatValidateEventKind kind)
{
    CatValidateEvent event = {.kind = kind};
    catValidateEmit(run, &event);
}

static void catValidateCorrupted(const CatValidateRun *run, const CatChecksum *checksum)
{
    CatValidateEvent event = {.kind = CAT_VALIDATE_CORRUPTED, .checksum = checksum && checksum->mismatch ? checksum : NULL};
    catValidateEmit(run, &event);
    run->result->reported = true;
}

/* One pass over the archive's framing (no key needed: every section's
 * framing and CRC-32C and their order; with checkSha256 the file's SHA-256
 * in the same pass), the records left sealed. *compressedBytes: what was read. */
static ErrCode catFramingPass(const CatValidateRun *run, const CatEntry *entry, const char *archivePath,
                              bool checkSha256, uint64_t *compressedBytes)
{
    char name[512];
    ArcLocation archive;
    ArcReader *reader = NULL;
    ErrCode code = catArchiveLocation(run->request->catalog, entry, archivePath, name, sizeof(name), &archive);
    if (code == ERR_OK)
        code = arcReaderOpenFramingOnlyAt(&reader, &archive);
    if (code == ERR_OK && checkSha256 && entry->manifest->archive.sha256)
        code = arcReaderExpectSha256(reader, entry->manifest->archive.sha256);
    while (code == ERR_OK) {
        ArcRecordKind kind;
        const uint8_t *packed = NULL;
        size_t length = 0;
        code = arcReaderNext(reader, &kind, &packed, &length);
        if (code != ERR_OK || !packed)
            break;
    }
    if (code == ERR_OK && compressedBytes)
        *compressedBytes = arcReaderTotals(reader)->compressedBytes;
    arcReaderFree(reader);
    return code;
}

/* An encrypted backup validated without its key: the framing pass with the
 * file's SHA-256; the content is said not to be checked. */
static ErrCode catValidateFraming(const CatValidateRun *run, const CatEntry *entry, const char *archivePath)
{
    uint64_t compressedBytes = 0;
    ErrCode code = catFramingPass(run, entry, archivePath, true, &compressedBytes);
    if (code == ERR_OK) {
        CatValidateEvent event = {.kind = CAT_VALIDATE_CONTENT_NOT_CHECKED, .bytes = compressedBytes};
        catValidateEmit(run, &event);
        run->result->contentNotChecked = true;
    }
    return code;
}

/* After a checksum mismatch: the framing pass (no key needed) names the
 * first damaged section, so an operator knows which block was hit. */
static void catValidateLocate(const CatValidateRun *run, const CatEntry *entry, const char *archivePath)
{
    ErrDetail mismatch = errSave();
    if (catFramingPass(run, entry, archivePath, false, NULL) == BACKUP_CORRUPTED) {
        CatValidateEvent event = {.kind = CAT_VALIDATE_DAMAGE_LOCATED, .text = errLast()->reason};
        catValidateEmit(run, &event);
    }
    errRestore(&mismatch);
}

/* Compares an archive's content (a full's, or a chain's merged) with the
 * manifest. */
static ErrCode catValidateCompare(const CatValidateRun *run, const Manifest *manifest, const ArchiveContent *content)
{
    CatValidateEvent blocks = {.kind = CAT_VALIDATE_BLOCKS_PASSED,
                               .nodes = content->nodes,
                               .relationships = content->relationships,
                               .schemaItems = content->schemaCount};
    catValidateEmit(run, &blocks);
    if (content->nodes != manifest->stats.nodes || content->relationships != manifest->stats.relationships)
        return errSet(BACKUP_CORRUPTED,
                      "the archive holds %" PRIu64 " nodes and %" PRIu64 " relationships, the manifest "
                      "says %" PRIu64 " and %" PRIu64, content->nodes, content->relationships,
                      manifest->stats.nodes, manifest->stats.relationships);
    catValidateSimple(run, CAT_VALIDATE_COUNTS_PASSED);
    if (!manifestHasCounts(manifest)) {
        catValidateSimple(run, CAT_VALIDATE_LABEL_COUNTS_SKIPPED);
    } else {
        GraphCounts recorded;
        manifestGetCounts(manifest, &recorded);
        char finding[512];
        uint32_t differences = graphCountsCompare(&recorded, &content->counts, finding, sizeof(finding));
        graphCountsFree(&recorded);
        if (differences)
            return errSet(BACKUP_CORRUPTED,
                          "the archive's counts per label and type differ from the manifest's: %s", finding);
        CatValidateEvent labels = {.kind = CAT_VALIDATE_LABEL_COUNTS_PASSED,
                                   .labels = content->counts.labels.count,
                                   .types = content->counts.types.count};
        catValidateEmit(run, &labels);
    }
    if (content->orphanRelationships)
        return errSet(BACKUP_CORRUPTED, "Found %" PRIu64 " orphaned relationships in the archive",
                      content->orphanRelationships);
    catValidateSimple(run, CAT_VALIDATE_ORPHANS_PASSED);
    if (manifest->contentFingerprint && strcmp(manifest->contentFingerprint, content->fingerprint) != 0)
        return errSet(BACKUP_CORRUPTED, "content fingerprint %s differs from the manifest's %s",
                      content->fingerprint, manifest->contentFingerprint);
    return ERR_OK;
}

/* Reads the whole archive (through the catalog's storage) and compares it
 * with the manifest. */
static ErrCode catValidateContent(const CatValidateRun *run, const CatEntry *entry, const char *archivePath,
                                  ArchiveContent *content)
{
    char name[512];
    ArcLocation archive;
    ErrCode code = catArchiveLocation(run->request->catalog, entry, archivePath, name, sizeof(name), &archive);
    if (code == ERR_OK)
        code = healthArchiveContentReadAt(&archive, content);
    if (code != ERR_OK)
        return code;
    return catValidateCompare(run, entry->manifest, content);
}

static ErrCode catValidateMarkCorrupted(Manifest *manifest, void *payload)
{
    manifestSetString(&manifest->status, MANIFEST_STATUS_CORRUPTED);
    manifestSetString(&manifest->failureReason, payload);
    return ERR_OK;
}

/* A differential's chain: every link (catChainLoad), then each ancestor's
 * archive under its shared lock (held in locks until the caller releases
 * them, so that none is deleted while the chain is read). */
static ErrCode catValidateChainLinks(const CatValidateRun *run, CatChain *chain, StorageLock **locks)
{
    const CatValidateRequest *request = run->request;
    Catalog *catalog = request->catalog;
    ErrCode code = catChainLoad(catalog, request->backupId, chain);
    if (code == BACKUP_CORRUPTED)
        run->result->chainBroken = true;
    if (code != ERR_OK)
        return code;
    CatValidateEvent links = {.kind = CAT_VALIDATE_CHAIN_LINKS_PASSED, .links = chain->count};
    catValidateEmit(run, &links);
    for (size_t index = 0; index + 1 < chain->count && code == ERR_OK; index++) {
        CatEntry *link = &chain->links[index];
        code = catLockBackup(catalog, link->id, LOCK_SHARED, CAT_VALIDATE_LOCK_WAIT_MS,
                             request->lockPurpose ? request->lockPurpose : "backup --validate (a chain link)",
                             &locks[index]);
        if (code == BACKUP_NOT_FOUND) {
            run->result->chainBroken = true;
            return errSet(BACKUP_CORRUPTED, "the chain of %s is broken at %s: it was deleted meanwhile",
                          request->backupId, link->id);
        }
        if (code == ERR_OK)
            code = catVerifyArchive(catalog, link);
        if (code == BACKUP_CORRUPTED) {
            char reason[sizeof(errLast()->reason)];
            snprintf(reason, sizeof(reason), "%s", errLast()->reason);
            if (!request->dryRun && link->archiveState == CAT_ARCHIVE_BAD_CHECKSUM)
                catManifestUpdate(catalog, link->id, catValidateMarkCorrupted, "archive checksum mismatch");
            run->result->chainBroken = true;
            return errSet(BACKUP_CORRUPTED, "the chain of %s is broken at %s: %s", request->backupId, link->id,
                          reason);
        }
        if (code == ERR_OK && request->masterKey && catEntryEncrypted(link))
            code = catEntryUnlock(catalog, link, request->masterKey);
        if (code == ERR_OK) {
            CatValidateEvent passed = {.kind = CAT_VALIDATE_CHAIN_ARCHIVE_PASSED, .text = link->id};
            catValidateEmit(run, &passed);
        }
    }
    return code;
}

/* After the differential's own checksum: its chain's merged content, or,
 * without a chain reader or a key, its own archive's framing only. */
static ErrCode catValidateChainContent(const CatValidateRun *run, CatChain *chain, const CatEntry *entry,
                                       const char *archivePath, bool keyless, ArchiveContent *content)
{
    const CatValidateRequest *request = run->request;
    if (!keyless) {
        /* The last link as validated above: unlocked with the key. */
        CatEntry *last = &chain->links[chain->count - 1];
        CatEntry mine = *last;
        *last = *entry;
        ErrCode code = ERR_OK;
        if (request->validateChain) {
            code = request->validateChain(request->validateChainPayload, request->catalog, chain, content);
        } else {
            /* The chain read merged, every link's SHA-256 checked on the way. */
            CatChainLinks links = {0};
            code = catChainLinksOpen(request->catalog, chain, request->masterKey, &links);
            if (code == ERR_OK)
                code = healthArchiveContentScanChain(links.links, links.count, content, NULL, NULL);
            catChainLinksFree(&links);
        }
        *last = mine;
        if (code == ERR_OK)
            code = catValidateCompare(run, entry->manifest, content);
        return code;
    }
    ErrCode code = catFramingPass(run, entry, archivePath, false, NULL);
    if (code == ERR_OK) {
        CatValidateEvent event = {.kind = CAT_VALIDATE_CHAIN_CONTENT_NOT_CHECKED,
                                  .text = "the chain is encrypted and no key was given"};
        catValidateEmit(run, &event);
        run->result->contentNotChecked = true;
    }
    return code;
}

typedef struct {
    bool valid;
    const char *fingerprint;
    const char *failureReason; /* a broken chain: where; NULL otherwise */
} CatValidateVerdict;

static ErrCode catValidateRecordVerdict(Manifest *manifest, void *payload)
{
    const CatValidateVerdict *verdict = payload;
    manifestSetString(&manifest->status, verdict->valid ? MANIFEST_STATUS_VALIDATED : MANIFEST_STATUS_CORRUPTED);
    if (verdict->failureReason)
        manifestSetString(&manifest->failureReason, verdict->failureReason);
    if (verdict->valid) {
        manifest->validatedAt = timeNow();
        /* An encrypted manifest keeps its fingerprint sealed: not added without re-sealing. */
        if (!manifest->contentFingerprint && verdict->fingerprint[0] && !manifest->encryption.present)
            manifestSetString(&manifest->contentFingerprint, verdict->fingerprint);
    }
    return ERR_OK;
}

ErrCode catValidate(const CatValidateRequest *request, CatValidateResult *out, const CatValidateEvents *events)
{
    memset(out, 0, sizeof(*out));
    CatValidateRun run = {.request = request, .result = out, .events = events};
    Catalog *catalog = request->catalog;
    const char *backupId = request->backupId;
    CatEntry entry = {0};
    StorageLock *backupLock = NULL;
    ArchiveContent content;
    memset(&content, 0, sizeof(content));
    ErrCode code = catIdCheck(backupId);
    if (code == ERR_OK)
        code = catFind(catalog, backupId, &entry);
    if (code == ERR_OK)
        code = catLockBackup(catalog, backupId, LOCK_SHARED, CAT_VALIDATE_LOCK_WAIT_MS,
                             request->lockPurpose ? request->lockPurpose : "backup --validate", &backupLock);
    char archivePath[4096] = "";
    /* An encrypted backup with a key: the key and the manifest first. */
    bool keyless = code == ERR_OK && catEntryEncrypted(&entry) && !request->masterKey;
    if (code == ERR_OK && catEntryEncrypted(&entry) && request->masterKey) {
        code = catEntryUnlock(catalog, &entry, request->masterKey);
        if (code == ERR_OK) {
            CatValidateEvent event = {.kind = CAT_VALIDATE_KEY_ACCEPTED, .text = entry.manifest->encryption.keyId};
            catValidateEmit(&run, &event);
        }
    }
    bool isDiff = code == ERR_OK && entry.manifest && manifestIsDiff(entry.manifest);
    CatChain chain = {0};
    StorageLock **linkLocks = NULL;
    if (isDiff) {
        catValidateSimple(&run, CAT_VALIDATE_STARTING);
        linkLocks = memCalloc(entry.manifest->chainDepth + 1, sizeof(*linkLocks));
        code = catValidateChainLinks(&run, &chain, linkLocks);
        if (code == BACKUP_CORRUPTED)
            catValidateCorrupted(&run, NULL);
    }
    if (code == ERR_OK) {
        if (!isDiff)
            catValidateSimple(&run, CAT_VALIDATE_STARTING);
        CatChecksum checksum;
        code = catChecksumVerify(catalog, &entry, archivePath, sizeof(archivePath), &checksum);
        if (code == BACKUP_CORRUPTED && checksum.mismatch && !catManifestIsDump(entry.manifest))
            catValidateLocate(&run, &entry, archivePath);
        if (code == BACKUP_CORRUPTED)
            catValidateCorrupted(&run, &checksum);
        else if (code == ERR_OK)
            catValidateSimple(&run, CAT_VALIDATE_CHECKSUM_PASSED);
    }
    out->isDump = catManifestIsDump(entry.manifest);
    if (code == ERR_OK && out->isDump) {
        if (request->validateDump)
            code = request->validateDump(request->validateDumpPayload, catalog, &entry, archivePath, &out->reported);
        else
            code = errSet(CONFIG_INVALID, "backup %s is a dump: this front end cannot validate dumps", backupId);
    } else if (code == ERR_OK && keyless) {
        code = catValidateFraming(&run, &entry, archivePath);
        if (code == BACKUP_CORRUPTED)
            catValidateCorrupted(&run, NULL);
    } else if (code == ERR_OK && isDiff) {
        code = catValidateChainContent(&run, &chain, &entry, archivePath, keyless, &content);
        if (code == BACKUP_CORRUPTED)
            catValidateCorrupted(&run, NULL);
    } else if (code == ERR_OK) {
        code = catValidateContent(&run, &entry, archivePath, &content);
        if (code == BACKUP_CORRUPTED)
            catValidateCorrupted(&run, NULL);
    }
    /* Record the verdict so that --list and retention see it (not in a dry run). */
    for (size_t index = 0; linkLocks && index < chain.count; index++)
        storageLockRelease(linkLocks[index]);
    free(linkLocks);
    catChainFree(&chain);
    storageLockRelease(backupLock);
    /* Without the key only damage is a verdict: "valid" needs the content checked. */
    bool hasVerdict = code == BACKUP_CORRUPTED || (code == ERR_OK && !out->contentNotChecked);
    if (entry.manifest && !request->dryRun && hasVerdict) {
        ErrDetail failure = errSave();
        CatValidateVerdict verdict = {code == ERR_OK, content.fingerprint, out->chainBroken ? failure.reason : NULL};
        ErrCode saveCode = catManifestUpdate(catalog, backupId, catValidateRecordVerdict, &verdict);
        if (saveCode != ERR_OK && code == ERR_OK) {
            code = saveCode;
        } else if (saveCode != ERR_OK) {
            CatValidateEvent event = {.kind = CAT_VALIDATE_VERDICT_NOT_RECORDED, .text = errLast()->reason};
            catValidateEmit(&run, &event);
        }
        if (code == BACKUP_CORRUPTED)
            errRestore(&failure);
    }
    arcContentFree(&content);
    catEntryFree(&entry);
    return code;
}
