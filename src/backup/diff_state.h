/* What a differential compares with: the state of its parent, per kind a
 * table key -> 8-byte content hash of the key's record, loaded from the
 * parent's chain read merged (archive/chain.h). A record of the new scan
 * whose hash equals its key's is unchanged and left out of the differential;
 * a parent key the scan never met is deleted (docs/differential.md).
 *
 * The hash is SHA-256 of the record's bytes, first 8 bytes. Unequal bytes for
 * an equal entity (a server that reorders properties) only make a record
 * "changed": never wrong, at most larger. Equal hashes for unequal records
 * need a 64-bit collision on one key (2^-64 per changed entity).
 *
 * Memory: the tables are spill arrays (common/spill_array.h: 8 bytes per key
 * up to the highest key, in a scratch file behind a bounded cache past the
 * spill threshold), plus a KeySet per kind of the keys met by the scan (1
 * bit per key). So a differential's state costs 8 bytes of scratch disk and
 * 1 bit of memory per entity, beyond the caches' constant. */
#ifndef NBK_BACKUP_DIFF_STATE_H
#define NBK_BACKUP_DIFF_STATE_H

#include "archive/chain.h"
#include "common/error.h"

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct DiffState DiffState;

/* Reads the chain (links[0] the full, ... the parent last) merged and
 * fills the tables. Errors: those of the chain reader (BACKUP_CORRUPTED,
 * BACKUP_NOT_FOUND, BACKUP_KEY_*, storage codes), the scratch files
 * (BACKUP_NO_SPACE), BACKUP_CORRUPTED for a key that is negative or far too
 * sparse for a table, OPERATION_INTERRUPTED when *cancelFlag is set. */
ErrCode diffStateLoad(DiffState **out, const ArcChainLink *links, size_t count, volatile sig_atomic_t *cancelFlag);
void diffStateFree(DiffState *state);

/* The content hash of a record (never 0: 0 marks an absent key). */
uint64_t diffRecordHash(const uint8_t *packed, size_t length);

/* Records that key (a node or relationship) is in the new state and
 * whether its record is unchanged since the parent. Errors: the scratch
 * file's. */
ErrCode diffStateMeet(DiffState *state, ArcRecordKind kind, int64_t key, uint64_t hash, bool *unchanged);

/* Calls visit for each key of kind that the parent had and the scan never
 * met, in key order; stops at the first error. */
typedef ErrCode (*DiffDeletedVisitor)(ArcRecordKind kind, int64_t key, void *payload);
ErrCode diffStateForEachDeleted(DiffState *state, ArcRecordKind kind, DiffDeletedVisitor visit, void *payload);

/* The parent's schema as a sorted list of item hashes (name and create
 * statement only: an index that finished populating is no change), and the
 * same for a new schema item, to tell whether the schema changed. */
uint64_t diffSchemaItemHash(const uint8_t *packed, size_t length);
bool diffStateSchemaEquals(const DiffState *state, const uint64_t *hashes, size_t count);

/* Parent keys per kind (for the log and the docs' figures). */
uint64_t diffStateParentCount(const DiffState *state, ArcRecordKind kind);

#endif
