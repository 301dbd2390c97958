/* --aggregate: a synthetic full backup of the state at a differential,
 * written from its chain without touching Neo4j (Enterprise's
 * aggregate-backup; docs/differential.md). The chain is read merged
 * (archive/chain.h) into a new full archive, which is then verified like any
 * backup: read back for its SHA-256, and its content fingerprint and counts
 * computed from the new archive and compared with the differential's
 * manifest (the whole graph at its time). Only then is the manifest written
 * and the backup committed; on any failure nothing is left.
 *
 * The new backup is a full one: it has no parent, its id is taken at the
 * differential's creation time (so "neo4j-YYYYMMDD-HHMMSS-2" sorts next to
 * it), its manifest copies the differential's source, stats, schema and
 * fingerprint and names it in "aggregate_of". The chain stays as it was:
 * retention prunes it once nothing kept depends on it. */
#ifndef NBK_BACKUP_AGGREGATE_H
#define NBK_BACKUP_AGGREGATE_H

#include "archive/archive.h"
#include "catalog/catalog.h"
#include "common/error.h"
#include "crypto/keys.h"

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct {
    Catalog *catalog;                   /* borrowed */
    const char *backupId;               /* the differential (or full) whose state is written */
    ArcCompression compression;
    const CryptoMasterKey *masterKey;   /* set: the links are unlocked with it and the new backup encrypted */
    bool dryRun;                        /* check the chain only; write nothing */
    const char *lockPurpose;            /* NULL: "backup --aggregate" */
    volatile sig_atomic_t *cancelFlag;
} AggregateRequest;

typedef struct {
    char id[CAT_ID_SIZE];               /* the new full backup (empty in a dry run or on failure) */
    size_t chainLinks;                  /* links read */
    uint64_t nodes;
    uint64_t relationships;
    uint64_t schemaItems;
    uint64_t chainBytes;                /* archive bytes of the chain */
    uint64_t compressedBytes;           /* of the new archive */
    char sha256[65];
    double seconds;
} AggregateResult;

/* ERR_OK: committed (dry run: the chain loads and is readable). Errors:
 * BACKUP_NOT_FOUND, BACKUP_CORRUPTED (a broken chain, or the new archive's
 * content differs from the differential's manifest), BACKUP_KEY_*,
 * BACKUP_LOCKED, BACKUP_NO_SPACE, storage codes, OPERATION_INTERRUPTED. */
ErrCode backupAggregate(const AggregateRequest *request, AggregateResult *out);

#endif
