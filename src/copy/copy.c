/* The copy service (copy/copy.h): committed backups of the primary streamed
 * into the second location through the Storage interface, verified by
 * SHA-256, made visible by their manifest last. */
#include "copy/copy.h"

#include "backup/backup.h"
#include "catalog/catalog_key.h"
#include "common/mem.h"
#include "common/timeutil.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define COPY_DEFAULT_PURPOSE "backup --copy"
#define COPY_DEFAULT_CHUNK (1024u * 1024u)
/* How long to wait for the source backup's lock (a validation may hold it). */
#define COPY_SOURCE_LOCK_TIMEOUT_MS 10000
#define COPY_NAME_SIZE 1024

typedef struct {
    const CopyRequest *request;
    CopyResult *result;
    const CopyEvents *events;
    StorageLock *createLock; /* the destination's, taken at the first copy */
    bool quietSkips;         /* ancestors of a differential: no SKIPPED event for those already there */
} CopyRun;

static void copyEmit(const CopyRun *run, CopyEventKind kind, const char *id, const char *text, uint64_t bytes,
                     double seconds)
{
    if (!run->events || !run->events->onEvent)
        return;
    CopyEvent event = {.kind = kind, .backupId = id, .text = text, .bytes = bytes, .seconds = seconds};
    run->events->onEvent(&event, run->events->payload);
}

static void copyOnLeftover(const char *name, void *payload)
{
    copyEmit(payload, COPY_EVENT_LEFTOVER_REMOVED, NULL, name, 0, 0);
}

static bool copyCancelled(const CopyRun *run)
{
    return run->request->cancelFlag && *run->request->cancelFlag;
}

/* ---- which files a backup has, and the checksum each must have ---- */

typedef struct {
    char **names; /* relative to the backup's directory */
    size_t count;
    size_t capacity;
    const char *prefix; /* "<id>/" */
} CopyFiles;

static ErrCode copyCollectFile(const StorageInfo *info, void *payload)
{
    CopyFiles *files = payload;
    size_t prefixLength = strlen(files->prefix);
    if (strncmp(info->name, files->prefix, prefixLength) != 0)
        return ERR_OK;
    const char *relative = info->name + prefixLength;
    /* The lock belongs to the source; the manifests are written last, by the catalog. */
    if (strcmp(relative, CAT_LOCK_FILE_NAME) == 0 || strcmp(relative, MANIFEST_FILE_NAME) == 0 ||
        strcmp(relative, MANIFEST_COPY_FILE_NAME) == 0 || !relative[0])
        return ERR_OK;
    if (files->count == files->capacity) {
        files->capacity = files->capacity ? files->capacity * 2 : 8;
        files->names = memRealloc(files->names, files->capacity * sizeof(*files->names));
    }
    files->names[files->count++] = memStrdup(relative);
    return ERR_OK;
}

static void copyFilesFree(CopyFiles *files)
{
    for (size_t index = 0; index < files->count; index++)
        free(files->names[index]);
    free(files->names);
    memset(files, 0, sizeof(*files));
}

/* The SHA-256 (and size, when recorded) the manifest promises for file:
 * archive.* for the archive, the "dump" object's archives[] for the others.
 * False when the manifest records none (nothing to compare against). */
static bool copyExpected(const Manifest *manifest, const char *file, const char **sha256, int64_t *size)
{
    *size = -1;
    if (manifest->archive.file && strcmp(file, manifest->archive.file) == 0) {
        *sha256 = manifest->archive.sha256;
        *size = (int64_t)manifest->archive.sizeCompressed;
        return *sha256 != NULL;
    }
    json_object *dump = NULL, *list = NULL;
    if (!manifest->extra || !json_object_object_get_ex(manifest->extra, "dump", &dump) ||
        !json_object_is_type(dump, json_type_object) || !json_object_object_get_ex(dump, "archives", &list) ||
        !json_object_is_type(list, json_type_array))
        return false;
    for (size_t index = 0; index < json_object_array_length(list); index++) {
        json_object *item = json_object_array_get_idx(list, index);
        json_object *field = NULL;
        if (!json_object_is_type(item, json_type_object) || !json_object_object_get_ex(item, "file", &field) ||
            !json_object_is_type(field, json_type_string) || strcmp(json_object_get_string(field), file) != 0)
            continue;
        if (json_object_object_get_ex(item, "size", &field) && json_object_is_type(field, json_type_int))
            *size = json_object_get_int64(field);
        if (json_object_object_get_ex(item, "sha256", &field) && json_object_is_type(field, json_type_string)) {
            *sha256 = json_object_get_string(field);
            return true;
        }
        return false;
    }
    return false;
}

/* ---- one file, streamed ---- */

/* Streams source/<from> into destination/<to>, hashing what passes; the
 * write is committed only when every byte arrived and the hash (when the
 * manifest records one) matches. Bounded memory: one chunk here, plus the
 * driver's own buffers (S3: the parts in flight). */
static ErrCode copyFile(CopyRun *run, const char *from, const char *to, const Manifest *manifest,
                        const char *relative, unsigned char *chunk, size_t chunkBytes, uint64_t *copiedBytes)
{
    Storage *source = catStorage(run->request->source);
    Storage *destination = catStorage(run->request->destination);
    StorageRead *reader = NULL;
    StorageWrite *writer = NULL;
    EVP_MD_CTX *sha = EVP_MD_CTX_new();
    ErrCode code = storageReadOpen(source, from, 0, STORAGE_READ_ALL, &reader);
    if (code == ERR_OK && (!sha || EVP_DigestInit_ex(sha, EVP_sha256(), NULL) != 1))
        code = errSet(ERR_INTERNAL, "cannot set up SHA-256 for %s", from);
    if (code == ERR_OK)
        code = storageWriteOpen(destination, to, STORAGE_WRITE_NO_REPLACE, &writer);
    uint64_t total = 0;
    while (code == ERR_OK) {
        if (copyCancelled(run)) {
            code = errSet(OPERATION_INTERRUPTED, "copy of %s interrupted", from);
            break;
        }
        size_t got = 0;
        code = storageRead(reader, chunk, chunkBytes, &got);
        if (code != ERR_OK || got == 0)
            break;
        EVP_DigestUpdate(sha, chunk, got);
        code = storageWrite(writer, chunk, got);
        total += got;
    }
    char hex[65] = "";
    if (code == ERR_OK) {
        unsigned char digest[EVP_MAX_MD_SIZE];
        unsigned int digestLength = 0;
        EVP_DigestFinal_ex(sha, digest, &digestLength);
        for (unsigned int index = 0; index < 32 && index < digestLength; index++)
            snprintf(hex + 2 * index, 3, "%02x", digest[index]);
    }
    const char *expected = NULL;
    int64_t expectedSize = -1;
    bool recorded = copyExpected(manifest, relative, &expected, &expectedSize);
    if (code == ERR_OK && expectedSize >= 0 && total != (uint64_t)expectedSize)
        code = errSet(BACKUP_CORRUPTED, "%s has %llu bytes, the manifest says %lld: not copied", from,
                      (unsigned long long)total, (long long)expectedSize);
    if (code == ERR_OK && recorded && strcmp(hex, expected) != 0)
        code = errSet(BACKUP_CORRUPTED, "%s: checksum mismatch (manifest %.16s..., read %.16s...): not copied", from,
                      expected, hex);
    if (code == ERR_OK) {
        code = storageWriteCommit(writer);
        writer = NULL;
    }
    /* The file as the destination now holds it must have the size streamed. */
    StorageInfo info;
    if (code == ERR_OK && (code = storageStat(destination, to, &info)) == ERR_OK && info.size != total)
        code = errSet(BACKUP_IO_FAILED, "the copy of %s has %llu bytes instead of %llu", from,
                      (unsigned long long)info.size, (unsigned long long)total);
    storageWriteAbort(writer);
    storageReadClose(reader);
    EVP_MD_CTX_free(sha);
    if (code == ERR_OK)
        *copiedBytes += total;
    return code;
}

/* ---- one backup ---- */

/* True when the destination holds a valid backup of that id that is not
 * this one (another archive checksum): never deleted to make room. */
static bool copyOtherBackup(const CatEntry *source, const CatEntry *copy)
{
    const char *mine = source->manifest->archive.sha256;
    const char *theirs = copy->manifest ? copy->manifest->archive.sha256 : NULL;
    return catEntryUsable(copy) && (!mine || !theirs || strcmp(mine, theirs) != 0);
}

/* True when the destination's entry is a valid copy of source's (cheap look:
 * manifest intact, status COMPLETE*, archive present with its size, the
 * same archive checksum recorded). why explains a false. */
static bool copyPresentValid(const CatEntry *source, const CatEntry *copy, char *why, size_t whySize)
{
    if (!copy->manifest) {
        snprintf(why, whySize, "its manifest is damaged (%s)", copy->damage);
        return false;
    }
    if (!catEntryUsable(copy)) {
        char problem[512];
        catEntryProblem(copy, problem, sizeof(problem));
        snprintf(why, whySize, "it is %s%s%s", catEntryStatus(copy), problem[0] ? ": " : "", problem);
        return false;
    }
    const char *mine = source->manifest->archive.sha256, *theirs = copy->manifest->archive.sha256;
    if (!mine || !theirs || strcmp(mine, theirs) != 0) {
        snprintf(why, whySize, "its manifest records another archive checksum");
        return false;
    }
    return true;
}

static ErrCode copyWrite(CopyRun *run, const CatEntry *entry, uint64_t *bytes)
{
    const CopyRequest *request = run->request;
    const char *id = entry->id;
    ErrCode code = ERR_OK;
    if (!run->createLock)
        code = backupBeginCreate(request->destination, request->lockPurpose ? request->lockPurpose
                                                                             : COPY_DEFAULT_PURPOSE,
                                 &run->createLock, copyOnLeftover, run);
    CopyFiles files = {0};
    char prefix[CAT_ID_SIZE + 1];
    snprintf(prefix, sizeof(prefix), "%s/", id);
    files.prefix = prefix;
    if (code == ERR_OK)
        code = storageList(catStorage(request->source), id, copyCollectFile, &files);
    if (code == ERR_OK && entry->manifest->archive.file) {
        bool listed = false;
        for (size_t index = 0; index < files.count && !listed; index++)
            listed = strcmp(files.names[index], entry->manifest->archive.file) == 0;
        if (!listed)
            code = errSet(BACKUP_NOT_FOUND, "backup %s: archive %s is missing at the source", id,
                          entry->manifest->archive.file);
    }
    CatBackupDir *dir = NULL;
    if (code == ERR_OK)
        code = catBackupDirBegin(request->destination, id, &dir);
    size_t chunkBytes = request->chunkBytes ? request->chunkBytes : COPY_DEFAULT_CHUNK;
    unsigned char *chunk = memAlloc(chunkBytes);
    for (size_t index = 0; code == ERR_OK && index < files.count; index++) {
        char from[COPY_NAME_SIZE], to[COPY_NAME_SIZE];
        int fromLength = snprintf(from, sizeof(from), "%s%s", prefix, files.names[index]);
        int toLength = snprintf(to, sizeof(to), "%s/%s", catBackupDirName(dir), files.names[index]);
        if (fromLength < 0 || toLength < 0 || (size_t)fromLength >= sizeof(from) || (size_t)toLength >= sizeof(to)) {
            code = errSet(BACKUP_IO_FAILED, "backup %s: file name too long: %s", id, files.names[index]);
            break;
        }
        if (strchr(files.names[index], '/')) {
            /* A file in a sub-directory: its directory first (posix; a no-op on S3). */
            char parent[COPY_NAME_SIZE];
            snprintf(parent, sizeof(parent), "%s", to);
            *strrchr(parent, '/') = '\0';
            StorageInfo info;
            if (storageInfo(catStorage(request->destination), parent, &info) != ERR_OK)
                code = storageDirCreate(catStorage(request->destination), parent);
        }
        if (code == ERR_OK)
            code = copyFile(run, from, to, entry->manifest, files.names[index], chunk, chunkBytes, bytes);
    }
    free(chunk);
    if (code == ERR_OK)
        code = catBackupDirSaveManifest(dir, entry->manifest);
    if (code == ERR_OK) {
        code = catBackupDirCommit(dir);
        dir = NULL;
    }
    catBackupDirAbort(dir);
    copyFilesFree(&files);
    return code;
}

/* Copies one backup of the source: ERR_OK when copied or skipped. *notRestorable
 * tells a source that cannot be copied from a failure. */
static ErrCode copyOne(CopyRun *run, const char *id, bool *notRestorable)
{
    const CopyRequest *request = run->request;
    CopyResult *result = run->result;
    *notRestorable = false;
    StorageLock *sourceLock = NULL;
    CatEntry entry = {0};
    CatEntry there = {0};
    ErrCode code = catLockBackup(request->source, id, LOCK_SHARED, COPY_SOURCE_LOCK_TIMEOUT_MS,
                                 request->lockPurpose ? request->lockPurpose : COPY_DEFAULT_PURPOSE, &sourceLock);
    if (code == BACKUP_LOCKED) {
        /* One backup in use at the source fails alone; BACKUP_LOCKED stops a
         * whole run only for the destination's create lock. */
        char reason[1100];
        snprintf(reason, sizeof(reason), "%s", errLast()->reason);
        code = errSet(BACKUP_COPY_FAILED, "%s is in use at the source: %s", id, reason);
        errSetAction("Copy it once the operation holding it has finished: neo4j-backup --copy %s", id);
    }
    if (code == ERR_OK)
        code = catFind(request->source, id, &entry);
    char why[1200] = "";
    if (code == ERR_OK && (!entry.manifest || !catEntryUsable(&entry))) {
        char problem[512] = "";
        if (entry.manifest)
            catEntryProblem(&entry, problem, sizeof(problem));
        snprintf(why, sizeof(why), "the backup is %s at the source%s%s", catEntryStatus(&entry),
                 problem[0] || !entry.manifest ? ": " : "", entry.manifest ? problem : entry.damage);
        *notRestorable = true;
        code = errSet(BACKUP_COPY_FAILED, "%s not copied: %s", id, why);
        copyEmit(run, COPY_EVENT_NOT_COPIED, id, why, 0, 0);
    }
    bool replace = false;
    if (code == ERR_OK) {
        /* No destination in a dry run whose directory does not exist yet: nothing is there. */
        ErrCode found = request->destination ? catFind(request->destination, id, &there) : BACKUP_NOT_FOUND;
        if (found == ERR_OK && copyPresentValid(&entry, &there, why, sizeof(why))) {
            if (!run->quietSkips) {
                result->skipped++;
                copyEmit(run, COPY_EVENT_SKIPPED, id, NULL, entry.manifest->archive.sizeCompressed, 0);
            }
            catEntryFree(&there);
            catEntryFree(&entry);
            storageLockRelease(sourceLock);
            return ERR_OK;
        }
        if (found == ERR_OK && copyOtherBackup(&entry, &there)) {
            /* Two repositories sharing one copy location can make the same id. */
            code = errSet(BACKUP_COPY_FAILED, "%s not copied: the second location holds another valid backup of "
                          "that id (archive SHA-256 %.16s..., not %.16s...); it is left alone",
                          id, there.manifest->archive.sha256 ? there.manifest->archive.sha256 : "(none)",
                          entry.manifest->archive.sha256 ? entry.manifest->archive.sha256 : "(none)");
            errSetAction("Give each repository its own BACKUP_COPY_PATH, or delete the other backup there first");
        } else if (found == ERR_OK) {
            replace = true;
            copyEmit(run, COPY_EVENT_REPLACING, id, why, 0, 0);
        } else if (found != BACKUP_NOT_FOUND) {
            code = found;
        }
    }
    if (code == ERR_OK && request->dryRun) {
        result->planned++;
        copyEmit(run, COPY_EVENT_DRY_RUN, id, replace ? why : NULL, entry.manifest->archive.sizeCompressed, 0);
    } else if (code == ERR_OK) {
        /* A damaged copy goes first, under the destination's locks like any deletion. */
        if (replace)
            code = catDelete(request->destination, id);
        copyEmit(run, COPY_EVENT_STARTING, id, NULL, entry.manifest->archive.sizeCompressed, 0);
        double started = timeMonotonic();
        uint64_t bytes = 0;
        if (code == ERR_OK)
            code = copyWrite(run, &entry, &bytes);
        double seconds = timeMonotonic() - started;
        if (code == ERR_OK) {
            result->copied++;
            result->bytes += bytes;
            result->seconds += seconds;
            copyEmit(run, COPY_EVENT_COPIED, id, NULL, bytes, seconds);
        }
    }
    catEntryFree(&there);
    catEntryFree(&entry);
    ErrDetail failure = errSave();
    storageLockRelease(sourceLock);
    errRestore(&failure);
    return code;
}

/* A failed copy, as the caller sees it: BACKUP_COPY_FAILED with the cause,
 * except an interrupt and a busy destination, which say so themselves. */
static ErrCode copyFailure(CopyRun *run, const char *id, ErrCode code)
{
    run->result->failed++;
    char reason[1100];
    snprintf(reason, sizeof(reason), "%s", errLast()->reason);
    copyEmit(run, COPY_EVENT_FAILED, id, reason, 0, 0);
    if (code == OPERATION_INTERRUPTED || code == BACKUP_LOCKED || code == BACKUP_COPY_FAILED)
        return code;
    return errSet(BACKUP_COPY_FAILED, "backup %s was not copied: %s", id, reason);
}

/* A passphrase's key record goes with the backups: without it the second
 * location could not give the master key back (a restore from it would be
 * BACKUP_KEY_INVALID). A record there for another key would make the same
 * passphrase give another key: refused rather than mixed. */
static ErrCode copyKeyRecord(CopyRun *run)
{
    CryptoKeyRecord source, there;
    bool hasSource = false, hasThere = false;
    ErrCode code = catKeyRecordLoad(run->request->source, &source, &hasSource);
    if (code == ERR_OK && hasSource)
        code = catKeyRecordLoad(run->request->destination, &there, &hasThere);
    if (code != ERR_OK || !hasSource)
        return code;
    if (!hasThere)
        return catKeyRecordSave(run->request->destination, &source);
    if (memcmp(source.keyId, there.keyId, sizeof(source.keyId)) != 0) {
        errSet(BACKUP_COPY_FAILED, "the second location has a passphrase key record (%s) for another key",
               CAT_KEY_RECORD_NAME);
        errSetAction("Use a second location of its own for this repository, or remove its %s if no backup there "
                     "needs it",
                     CAT_KEY_RECORD_NAME);
        return BACKUP_COPY_FAILED;
    }
    return ERR_OK;
}

ErrCode copyRun(const CopyRequest *request, CopyResult *out, const CopyEvents *events)
{
    memset(out, 0, sizeof(*out));
    CopyRun run = {.request = request, .result = out, .events = events};
    if (!request->source || (!request->destination && !request->dryRun))
        return errSet(ERR_INTERNAL, "copy: a source and a destination are required");
    ErrCode code = request->dryRun ? ERR_OK : copyKeyRecord(&run);
    if (code == ERR_OK && request->backupId) {
        code = catIdCheck(request->backupId);
        CatEntry entry = {0};
        if (code == ERR_OK)
            code = catFind(request->source, request->backupId, &entry);
        bool differential = code == ERR_OK && entry.manifest && manifestIsDiff(entry.manifest);
        catEntryFree(&entry);
        bool notRestorable = false;
        /* A differential is no use at the second location without its chain:
         * the ancestors missing there go first, oldest first. */
        CatChain chain = {0};
        if (differential && catChainLoad(request->source, request->backupId, &chain) == ERR_OK) {
            run.quietSkips = true;
            for (size_t index = 0; code == ERR_OK && index + 1 < chain.count; index++) {
                code = copyOne(&run, chain.links[index].id, &notRestorable);
                if (code != ERR_OK && !notRestorable)
                    code = copyFailure(&run, chain.links[index].id, code);
            }
            run.quietSkips = false;
        }
        catChainFree(&chain);
        if (code == ERR_OK) {
            code = copyOne(&run, request->backupId, &notRestorable);
            if (code != ERR_OK && notRestorable)
                out->failed++; /* said by COPY_EVENT_NOT_COPIED */
            else if (code != ERR_OK)
                code = copyFailure(&run, request->backupId, code);
        }
    } else if (code == ERR_OK) {
        CatList list = {0};
        int64_t newest = INT64_MIN;
        if (request->newerOnly && request->destination) {
            CatList there = {0};
            code = catList(request->destination, &there);
            for (size_t index = 0; code == ERR_OK && index < there.count; index++)
                if (catEntryUsable(&there.entries[index]) && there.entries[index].created > newest)
                    newest = there.entries[index].created;
            catListFree(&there);
        }
        if (code == ERR_OK)
            code = catList(request->source, &list);
        ErrDetail first = {0};
        ErrCode firstCode = ERR_OK;
        /* Oldest first, so that an interrupted run has copied the oldest ones. */
        for (size_t index = list.count; code == ERR_OK && index-- > 0;) {
            if (copyCancelled(&run)) {
                code = errSet(OPERATION_INTERRUPTED, "copy interrupted");
                break;
            }
            if (list.entries[index].created <= newest)
                continue;
            bool notRestorable = false;
            ErrCode one = copyOne(&run, list.entries[index].id, &notRestorable);
            if (one == ERR_OK)
                continue;
            if (notRestorable) {
                out->notCopied++;
                continue;
            }
            one = copyFailure(&run, list.entries[index].id, one);
            if (one == OPERATION_INTERRUPTED || one == BACKUP_LOCKED) {
                code = one;
                break;
            }
            if (firstCode == ERR_OK) {
                firstCode = one;
                first = errSave();
            }
        }
        catListFree(&list);
        if (code == ERR_OK && firstCode != ERR_OK)
            code = errRestore(&first);
    }
    ErrDetail failure = errSave();
    storageLockRelease(run.createLock);
    errRestore(&failure);
    return code;
}
