/* The backup repository under BACKUP_STORAGE_PATH (mode 0700 on posix),
 * reached only through the catalog's Storage (src/storage/storage.h; names
 * below are relative to its root). Two layouts, chosen by what the storage
 * can do (storageCanMove):
 *
 * A storage that can rename (posix, a directory):
 *
 *   <root>/.lock                         catalog lock (delete, retention, cleanup)
 *   <root>/<backup-id>/                  one committed backup
 *       manifest.json, manifest.json.copy, <archive file>, .lock (per-backup lock)
 *   <root>/.tmp-<backup-id>-<pid>/       a backup being written by process <pid>
 *                                        (holds .lock exclusively while alive)
 *   <root>/.deleting-<backup-id>/        a backup being removed
 *
 * A backup becomes visible only by the rename of its finished, fsynced
 * temporary directory, so a crash never leaves a half backup listed as
 * COMPLETE. Leftover temporary and deleting directories are removed by
 * catCleanLeftovers.
 *
 * A storage that cannot rename (object storage, S3): a backup is written in
 * place, and its manifest is the commit.
 *
 *   .lock                                catalog lock object
 *   <backup-id>/.lock                    per-backup lock object, the first
 *                                        object a writer makes
 *   <backup-id>/<archive file>, ...      written while the writer holds the lock
 *   <backup-id>/manifest.json, .copy     written last: from the moment
 *                                        manifest.json exists the backup exists
 *
 * An id is listed (and found, locked, updated, deleted) only when its
 * manifest or the copy exists; an id with files but neither is being written
 * (its lock held) or a leftover (lock absent or expired), which
 * catCleanLeftovers removes, with the multipart uploads left below it on S3.
 * catList gathers every id's files, sizes and manifest presence in one
 * recursive storageList (then reads each listed manifest), not a request per
 * backup. Deleting removes the copy, then the manifest (invisible from then
 * on; a crash leaves a leftover), then the rest. Lock objects expire unless
 * refreshed: storage.c's keeper thread refreshes every held lock at a third
 * of CAT_LOCK_TTL_SECONDS, and a lock found expired is taken over. Object
 * storage reports no free space (storageSpace: not applicable), so nothing
 * may check it there.
 *
 * The keep flag (--keep) lives in the manifest.
 *
 * Locks: creating a backup needs no catalog lock (it only touches its own
 * temporary directory, or its own id in place). catDelete and
 * catRetentionApply take the catalog lock exclusively, plus the backup's own
 * lock exclusively, so a backup being restored or validated (shared
 * per-backup lock, catLockBackup) is never deleted underneath the reader.
 * Object storage has no shared locks: SHARED is taken as EXCLUSIVE, so a
 * restore and a validation of the same backup wait for each other (up to
 * their time-outs), on one host or several. Within one process nothing
 * waits for a lock it holds itself: the catalog lock nests per Catalog, and
 * the per-backup lock is taken again only by catDelete (retention), which
 * tries once and skips a backup in use.
 *
 * Backup ids from outside (command line, API) go through catIdValid before
 * any name is built.
 *
 * Storage: every listing, look, read, write, rename, removal and lock of the
 * catalog (catalog.c, manifest.c, validate.c and the services on them) goes
 * through the Storage interface; nothing here opens a file itself (the ctest
 * catalog_files_through_storage checks it). A catalog opened on a path uses
 * the posix driver. A logical backup's archive and manifest are written
 * through it as well (catStorage, catBackupDirName, catBackupDirSaveManifest)
 * and read by restore and validation by name (catArchiveLocation in
 * validate.h); the dump method takes paths (catRoot, catBackupPath,
 * catBackupDirPath) on a local repository and streams through the storage
 * where those paths do not exist (NULL, BACKUP_IO_FAILED, ""). */
#ifndef NBK_CATALOG_CATALOG_H
#define NBK_CATALOG_CATALOG_H

#include "catalog/manifest.h"
#include "catalog/retention.h"
#include "common/error.h"
#include "common/lock.h" /* LockMode only */
#include "storage/storage.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CAT_ID_MAX 64
#define CAT_ID_SIZE (CAT_ID_MAX + 1)
#define CAT_LOCK_FILE_NAME ".lock"
/* How long a catalog or per-backup lock stays valid without a refresh where
 * the storage cannot see its holder die (object storage; storage.c refreshes
 * held locks every third of it). A posix lock dies with its process. */
#define CAT_LOCK_TTL_SECONDS 120

typedef struct Catalog Catalog;

/* Only [A-Za-z0-9._-], 1..64 characters, no leading '.', no "..". */
bool catIdValid(const char *id);
/* catIdValid with an ERR_USAGE error naming the bad id. */
ErrCode catIdCheck(const char *id);

/* Opens the catalog at root (a posix storage, storagePosixOpen). create: make
 * root (and parents) with mode 0700 when missing; otherwise a missing root is
 * BACKUP_IO_FAILED (action "Check BACKUP_STORAGE_PATH"). */
ErrCode catOpen(Catalog **out, const char *root, bool create);
/* Opens the catalog on storage, which it then owns (freed by catClose). */
ErrCode catOpenStorage(Catalog **out, Storage *storage);
void catClose(Catalog *catalog); /* releases a held catalog lock */
/* The storage the catalog works on (owned by the catalog). */
Storage *catStorage(const Catalog *catalog);
/* The repository's directory for callers that still take paths; NULL when
 * the storage is not a directory (object storage). */
const char *catRoot(const Catalog *catalog);

/* Path of a backup's directory (id validated; BACKUP_IO_FAILED if too long
 * or when the storage has no paths). */
ErrCode catBackupPath(const Catalog *catalog, const char *id, char *out, size_t outSize);

/* A fresh id for a backup created at `created`: "neo4j-YYYYMMDD-HHMMSS", with
 * "-2", "-3"... appended while that name is taken (by a backup or a
 * temporary directory). */
ErrCode catNewId(const Catalog *catalog, int64_t created, char out[CAT_ID_SIZE]);

/* ---- creating a backup ---- */

typedef struct CatBackupDir CatBackupDir;

/* Starts backup id. Fails (BACKUP_IO_FAILED "already exists") when anything
 * of that id exists, committed or not.
 * - posix: creates <root>/.tmp-<id>-<pid>/ (0700) and locks its .lock;
 * - in place (storage that cannot rename): takes <id>/.lock (exclusive, ttl
 *   CAT_LOCK_TTL_SECONDS, kept alive by storage.c's keeper) and refuses an id
 *   below which anything but that lock exists once it holds it.
 * Files go below catBackupDirName() through catStorage() (or by path below
 * catBackupDirPath() while the storage has paths). */
ErrCode catBackupDirBegin(Catalog *catalog, const char *id, CatBackupDir **out);
/* The directory's path: the temporary directory on posix, <root>/<id> in
 * place; "" when the storage has no paths (object storage). */
const char *catBackupDirPath(const CatBackupDir *dir);
/* Its name relative to the storage root: ".tmp-<id>-<pid>" on posix, "<id>"
 * in place; files go below it through catStorage(). */
const char *catBackupDirName(const CatBackupDir *dir);
const char *catBackupDirId(const CatBackupDir *dir);
/* Writes manifest.json, then manifest.json.copy, into the directory: the
 * last files of a backup, once everything else is written.
 * In place this write is the commit point (manifest.json appearing makes the
 * backup exist), so it comes after the check and never before: first the
 * backup's lock is proved still ours (storageLockLost, then a refresh that
 * fails once anyone took the lock over, which also restarts its ttl), then
 * the manifest is written within that ttl. A lost lock is BACKUP_IO_FAILED
 * "lost the lock" and nothing is written: call catBackupDirAbort. Required
 * in place (catBackupDirCommit refuses a manifest written otherwise); on
 * posix the same as manifestSaveTo(catStorage(), catBackupDirName()). */
ErrCode catBackupDirSaveManifest(CatBackupDir *dir, const Manifest *manifest);
/* Publishes the backup and frees dir (also on failure, after removing what
 * was written).
 * - posix: makes every file and the directory durable (storageDirSync),
 *   renames it to <root>/<id> without replacing anything (storageMove, which
 *   makes the rename durable);
 * - in place: writes nothing (the manifest already committed it); verifies
 *   that the lock stayed ours since catBackupDirSaveManifest checked it
 *   (storageLockLost, and a refresh conditional on our lock), then releases
 *   it. A lock lost meanwhile fails the commit (BACKUP_IO_FAILED "lost the
 *   lock"): the copy, then the manifest are removed (the backup is invisible
 *   again), then the rest. */
ErrCode catBackupDirCommit(CatBackupDir *dir);
/* Removes the directory (everything below <id>/ in place) while still holding
 * its lock, then releases the lock and frees dir; NULL is ignored. */
void catBackupDirAbort(CatBackupDir *dir);

/* ---- reading ---- */

/* What a cheap look (one storageInfo, no read) or retention's verification found
 * about the archive of a backup whose manifest says COMPLETE*. */
typedef enum {
    CAT_ARCHIVE_UNCHECKED,    /* manifest damaged or status not COMPLETE*: not looked at */
    CAT_ARCHIVE_PRESENT,      /* a regular file of the manifest's size */
    CAT_ARCHIVE_MISSING,      /* no such file, or the manifest names none: INCOMPLETE */
    CAT_ARCHIVE_WRONG_SIZE,   /* size differs from the manifest's: CORRUPTED */
    CAT_ARCHIVE_NOT_REGULAR,  /* a link, FIFO, directory...: CORRUPTED */
    CAT_ARCHIVE_BAD_CHECKSUM, /* SHA-256 differs from the manifest's: CORRUPTED */
    CAT_ARCHIVE_UNREADABLE,   /* verification could not read it (I/O error) */
} CatArchiveState;

/* Status words shown for backups whose archive contradicts their manifest. */
#define CAT_STATUS_INCOMPLETE "INCOMPLETE"
#define CAT_STATUS_DAMAGED "DAMAGED"

typedef struct {
    char id[CAT_ID_SIZE];
    Manifest *manifest;      /* NULL when both manifest files are damaged */
    CatArchiveState archiveState;
    uint64_t archiveBytes;   /* size on disk when the archive is a regular file */
    int64_t archiveMtime;    /* its modification time (epoch seconds) */
    ManifestOrigin origin;   /* which manifest file was used */
    char damage[1024];       /* why manifest is NULL (empty otherwise) */
    int64_t created;         /* manifest's, else from the id, else the dir's mtime */
    uint64_t diskBytes;      /* size of all files of the backup */
    /* An encrypted backup after catEntryUnlock (catalog/catalog_key.h): its
     * data key (wiped by catEntryFree), which catArchiveLocation passes on. */
    bool unlocked;
    uint8_t dataKey[32];
    /* A differential whose chain is broken (a parent missing, changed since,
     * not restorable...): why, as catChainLoad words it; "" otherwise. Set
     * by catList (from the listed manifests) and catFind (a manifest read per
     * link); such a backup is CORRUPTED and not usable. */
    char chainProblem[768];
} CatEntry;

typedef struct {
    CatEntry *entries;       /* newest first (created, then id, descending) */
    size_t count;
} CatList;

/* True when the backup can be restored as far as a cheap look tells: status
 * COMPLETE*, archive present with the manifest's size (and, after
 * verification, the right checksum), and for a differential an intact chain
 * (chainProblem empty). */
bool catEntryUsable(const CatEntry *entry);
/* The status to show: DAMAGED (no manifest), INCOMPLETE (archive missing),
 * CORRUPTED (archive of the wrong size or checksum, or not a regular file;
 * or a differential whose chain is broken), UNREADABLE, else the manifest's
 * own status. */
const char *catEntryStatus(const CatEntry *entry);
/* Why catEntryStatus differs from the manifest's status ("" when it does
 * not); writes into out and returns it. */
const char *catEntryProblem(const CatEntry *entry, char *out, size_t outSize);

/* Lists committed backups: directories whose name is a valid id and that hold
 * a manifest file or whose name is a backup id (in place: ids whose manifest
 * or its copy exists, from one recursive listing). Damaged manifests are listed
 * (manifest NULL) rather than hidden. Symbolic links are never followed (a
 * linked backup directory is skipped with a warning), and repository files
 * are read only when regular (storage reads refuse links and special files),
 * so a FIFO or device cannot hang a listing.
 * Free with catListFree. */
ErrCode catList(Catalog *catalog, CatList *out);
void catListFree(CatList *list);
uint64_t catListTotalBytes(const CatList *list);

/* One backup; BACKUP_NOT_FOUND (action "List available backups with --list")
 * when missing (in place: no manifest nor copy, e.g. still being written),
 * ERR_USAGE for an invalid id, BACKUP_IO_FAILED when the backup's directory
 * is a symbolic link. Free with catEntryFree. A damaged manifest is not an
 * error here: entry->manifest is NULL. */
ErrCode catFind(Catalog *catalog, const char *id, CatEntry *out);
void catEntryFree(CatEntry *entry);

/* Read-modify-write of a committed backup's manifest under the catalog lock:
 * loads it, calls edit (which changes the manifest and returns ERR_OK to
 * save, anything else to abandon with that code), and saves both copies.
 * Used for status updates after validation and for the keep flag. */
typedef ErrCode (*CatManifestEditor)(Manifest *manifest, void *payload);
ErrCode catManifestUpdate(Catalog *catalog, const char *id, CatManifestEditor edit, void *payload);
/* Sets or clears the keep flag in the manifest. */
ErrCode catSetKeep(Catalog *catalog, const char *id, bool keep);

/* ---- locks ---- */

/* Catalog-wide lock, held by the Catalog until the matching catUnlock (calls
 * nest: catalog functions that need the lock reuse a held one, so a caller may
 * take it first with its own timeout). Catalog functions that take it
 * themselves wait up to CAT_LOCK_TIMEOUT_MS. timeoutMs as
 * storageLockAcquireMode; purpose is shown to a refused caller ("... is held
 * by pid N (<purpose>)"). */
#define CAT_LOCK_TIMEOUT_MS 10000
ErrCode catLock(Catalog *catalog, LockMode mode, int timeoutMs, const char *purpose);
void catUnlock(Catalog *catalog);
/* Per-backup lock (<root>/<id>/.lock); the caller owns *out (storageLockRelease).
 * Restore and validation hold it SHARED for as long as they read the backup,
 * so retention and --delete leave it alone. Use a timeout of a second or
 * more: retention briefly probes the lock to report backups in use.
 * BACKUP_NOT_FOUND for a backup that is not committed; in place also when it
 * was deleted between the look and the lock (looked at again once held). On
 * object storage SHARED is EXCLUSIVE (see the top of this file). */
ErrCode catLockBackup(Catalog *catalog, const char *id, LockMode mode, int timeoutMs, const char *purpose,
                      StorageLock **out);

/* ---- removing ---- */

/* Deletes one backup: takes the catalog lock (unless held) and the backup's
 * exclusive lock (BACKUP_LOCKED when in use), renames it to .deleting-<id>,
 * then removes that tree; in place removes manifest.json.copy, then
 * manifest.json (invisible from then on), then everything below <id>/.
 * BACKUP_NOT_FOUND when missing. */
ErrCode catDelete(Catalog *catalog, const char *id);

/* The operator's protections against --delete: ERR_OK when id may be
 * deleted, else BACKUP_PROTECTED with the reason and the way out in errLast():
 * the backup carries the keep mark, or it is restorable and no other backup
 * is (catNewestRestorable, which may hash archives), so deleting it would
 * leave none. force skips both checks. Call under the catalog lock so that
 * the check and the deletion see the same catalog. dryRun: record nothing
 * (see catNewestRestorable). */
ErrCode catDeleteAllowed(Catalog *catalog, const char *id, bool force, bool dryRun);

typedef struct {
    char **names;
    size_t count;
} CatNameList;
void catNameListFree(CatNameList *list);

/* Removes .tmp-* directories of dead writers (lock not held and the pid in
 * the name gone, or no change for an hour) and .deleting-* directories; in
 * place, the ids with files but no manifest whose .lock is not held
 * (storageLockHeld: absent or expired), each taken under its lock (an
 * expired one taken over, so its writer cannot commit any more), looked at
 * again and removed, with the multipart uploads below it aborted on S3. Their
 * names are returned for reporting. dryRun: report only. Takes the catalog
 * lock (unless held). */
ErrCode catCleanLeftovers(Catalog *catalog, bool dryRun, CatNameList *removed);

/* Retention input for each entry of list (same order): created, valid
 * (catEntryUsable), keep flag, in use (per-backup lock held), and the
 * listed parent a differential depends on (catListParent). A backup whose
 * manifests are both damaged counts as invalid, like a failed one: it cannot
 * be verified, so it is kept only inside the daily window (the listing shows
 * it as damaged meanwhile). out has list->count elements. */
void catRetentionInput(Catalog *catalog, const CatList *list, RetBackup *out);
/* Verifies one usable entry's archive: a recorded --validate pass is trusted
 * when the archive has the manifest's size and has not been modified since
 * (mtime <= validated_at); otherwise its SHA-256 is computed and compared.
 * ERR_OK when intact; BACKUP_CORRUPTED on a mismatch; other codes when it
 * cannot be read. Sets entry->archiveState accordingly. */
ErrCode catVerifyArchive(Catalog *catalog, CatEntry *entry);
/* Finds the newest backup of list that is actually restorable: verifies the
 * usable ones from newest down until one passes (usually one hash). A backup
 * whose checksum fails is marked so in list and, when record is true (not in
 * dry runs), recorded as CORRUPTED in its manifest; one that cannot be read
 * is only marked in list. skipId (may be NULL) is left out
 * (for "would deleting it leave one?"). *index is the entry's index, or
 * CAT_NONE when no backup is restorable. Never fails: problems are logged. */
#define CAT_NONE ((size_t)-1)
void catNewestRestorable(Catalog *catalog, CatList *list, const char *skipId, bool record, size_t *index);

/* Applies the policy: lists, establishes the newest restorable backup
 * (catNewestRestorable), evaluates at `now` (ancestors of kept backups are
 * kept), deletes what is not kept (skipping backups in use, with a
 * warning), dependants before what they depend on, and never a backup
 * whose dependant could not be deleted. Deleted ids (or would-be deleted
 * when dryRun) are returned in deleted. When no backup is restorable it
 * deletes nothing and fails with BACKUP_NONE_RESTORABLE (an empty catalog is
 * fine). Takes the catalog lock (unless held). */
ErrCode catRetentionApply(Catalog *catalog, const RetPolicy *policy, int64_t now, bool dryRun,
                          CatNameList *deleted);

/* ---- differential chains (docs/differential.md) ---- */

/* A backup's chain: the full backup first, then each differential in order,
 * the backup asked for last (count 1 for a full backup). */
typedef struct {
    CatEntry *links;
    size_t count;
} CatChain;

/* Loads the chain that ends at backup id by following parent ids (catFind).
 * Each link is checked: the parent exists with a readable manifest, is
 * COMPLETE* with its archive present at the manifest's size (catFind's cheap
 * look, catEntryUsable), its manifestLinkSha256 equals the child's parent.manifest_sha256,
 * its chain_depth is the child's minus one (the full's is 0), and it was taken
 * of the same database by the logical method. A broken link is
 * BACKUP_CORRUPTED "the chain of <id> is broken at <parent>: <reason>" with an
 * action; a missing backup id BACKUP_NOT_FOUND. The links are not unlocked
 * (catalog_key.h) and their archives not read. */
ErrCode catChainLoad(Catalog *catalog, const char *id, CatChain *out);
void catChainFree(CatChain *chain);

/* The index in list of the parent of list->entries[index] (a differential's
 * parent.id), or CAT_NONE: a full backup, a damaged manifest, or a parent
 * not listed. */
size_t catListParent(const CatList *list, size_t index);
/* Hops from list->entries[index] up to the first entry without a listed
 * parent (0 for a full backup), at most list->count (parents forming a
 * cycle stop there). */
size_t catListDepth(const CatList *list, size_t index);
/* The entries of list that depend on list->entries[index]: every backup
 * whose chain of listed parents reaches it, ordered so that each comes
 * before what it depends on (deepest first, then newest first): the order
 * to delete them in. *out (indexes, count in *count) is freed by the
 * caller; NULL when none. */
void catListDependants(const CatList *list, size_t index, size_t **out, size_t *count);

/* What --list shows of a backup's chain, from the listing alone. */
typedef struct {
    bool diff;               /* a differential */
    const char *parentId;    /* its parent's id (the manifest's); NULL for a full */
    uint64_t ownBytes;       /* its own archive (archive.sizeCompressed) */
    uint64_t chainBytes;     /* own sizes of the listed chain, the full up to it */
    size_t links;            /* backups counted in chainBytes */
    bool complete;           /* the walk reached a full backup */
    /* Links differ in encryption: another encryption.keyId, or some
     * encrypted and some not. A chain never mixes keys silently. */
    bool mixedKeys;
} CatChainInfo;
void catListChainInfo(const CatList *list, size_t index, CatChainInfo *out);
/* True when any listed backup is a differential. */
bool catListHasDiffs(const CatList *list);

#endif
