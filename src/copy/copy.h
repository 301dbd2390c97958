/* The copy service: puts committed backups of one repository (the primary,
 * BACKUP_STORAGE_PATH) into a second one (BACKUP_COPY_PATH), pgBackRest's
 * multi-repository idea (issue 13, "two places at once"). It never prints,
 * reads argv, the environment or the configuration, and never exits: it
 * reports through CopyEvents and the returned code plus CopyResult.
 *
 * One backup, copied:
 * - the source backup is held with its per-backup lock (shared; exclusive on
 *   object storage) so retention or --delete cannot remove it mid-copy, and
 *   must be restorable by a cheap look (manifest intact, status COMPLETE*,
 *   archive of the manifest's size);
 * - a copy already in the destination whose manifest is intact, whose
 *   archive has the manifest's size and whose SHA-256 entry equals the
 *   source's is skipped; a damaged one is deleted and copied again;
 * - the destination is written like a create writes it: its create lock
 *   (".create.lock", one writer at a time, leftovers of interrupted runs
 *   removed), a backup directory (catBackupDirBegin: a temporary directory
 *   renamed into place on posix, the id's lock object on S3), every file of
 *   the backup streamed through the Storage interface in bounded memory
 *   (on S3 a multipart upload with BACKUP_S3_PARTS_IN_FLIGHT parts at once),
 *   the manifest last (catBackupDirSaveManifest, catBackupDirCommit): a copy
 *   is visible only when complete;
 * - verified: the SHA-256 of the bytes streamed is compared with the
 *   manifest's for the archive (and with the "dump" object's for the other
 *   archives of a dump backup) before the manifest is written, and the
 *   written file must then have the manifest's size. S3 itself checks each
 *   part against the x-amz-content-sha256 it is sent with, so the bytes
 *   stored are the bytes hashed. A mismatch writes no manifest.
 *
 * A failed copy leaves nothing visible in the destination and never touches
 * the source. */
#ifndef NBK_COPY_COPY_H
#define NBK_COPY_COPY_H

#include "catalog/catalog.h"
#include "common/error.h"

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum {
    COPY_EVENT_LEFTOVER_REMOVED, /* text: a leftover of an interrupted run in the destination, removed */
    COPY_EVENT_STARTING,         /* backupId: copying begins; bytes: the archive's size */
    COPY_EVENT_SKIPPED,          /* backupId: already in the destination and valid */
    COPY_EVENT_REPLACING,        /* backupId: the destination's copy is damaged (text: why); copied again */
    COPY_EVENT_NOT_COPIED,       /* backupId: the source is not restorable (text: why) */
    COPY_EVENT_DRY_RUN,          /* backupId: would be copied (bytes); nothing changed */
    COPY_EVENT_COPIED,           /* backupId, bytes, seconds: committed and verified in the destination */
    COPY_EVENT_FAILED,           /* backupId: text: why; nothing visible was left */
} CopyEventKind;

typedef struct {
    CopyEventKind kind;
    const char *backupId;
    const char *text;
    uint64_t bytes;
    double seconds;
} CopyEvent;

typedef struct {
    /* Called on the service's thread; may be NULL. */
    void (*onEvent)(const CopyEvent *event, void *payload);
    void *payload;
} CopyEvents;

typedef struct {
    Catalog *source;       /* borrowed: the primary */
    Catalog *destination;  /* borrowed: the second location (NULL in a dry run: empty) */
    const char *backupId;  /* one backup; NULL: every backup of the source */
    bool dryRun;           /* report what would be copied, change nothing */
    const char *lockPurpose; /* shown to another writer that finds the locks; NULL: "backup --copy" */
    size_t chunkBytes;     /* read size; 0: 1 MiB */
    /* Set asynchronously (signal handler): the copy stops, leaves nothing
     * visible and returns OPERATION_INTERRUPTED. */
    volatile sig_atomic_t *cancelFlag;
} CopyRequest;

typedef struct {
    size_t copied;
    size_t skipped;    /* already there and valid */
    size_t notCopied;  /* source not restorable (every-backup mode only) */
    size_t failed;
    size_t planned;    /* dry run: would be copied */
    uint64_t bytes;    /* copied */
    double seconds;    /* copying (not looking) */
} CopyResult;

/* Copies request->backupId, or every backup of the source. ERR_OK when each
 * was copied or skipped (or, in every-backup mode, was not restorable at the
 * source and so left out). BACKUP_NOT_FOUND (ERR_USAGE for a bad id) when the
 * one backup asked for is not in the source; BACKUP_COPY_FAILED when a copy
 * failed (errLast(): the first failure), or the one backup asked for is not
 * restorable at the source; OPERATION_INTERRUPTED when cancelled;
 * BACKUP_LOCKED when another writer holds the destination's create lock. */
ErrCode copyRun(const CopyRequest *request, CopyResult *out, const CopyEvents *events);

#endif
