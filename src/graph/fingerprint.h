/* Content fingerprint of a graph: equal for two graphs exactly when (up to a
 * negligible hash-collision chance) they hold the same multiset of nodes
 * (labels + properties) and of relationships (type + properties + the content
 * of both endpoint nodes), whatever their ids. Computed from an archive at
 * validation and restore, and from a live database after a restore, so a
 * restore is proven equal to its backup, not just similar in size.
 *
 *   nodeHash = SHA-256(canonical labels ‖ canonical properties)[0..16)
 *   relHash  = SHA-256(canonical type ‖ canonical properties ‖ nodeHash(start) ‖ nodeHash(end))[0..16)
 *   fingerprint = hex(Σ nodeHash mod 2^128) ":" hex(Σ relHash mod 2^128)
 * where canonical labels are PackStream of the labels sorted bytewise, and
 * canonical properties PackStream of the map with keys sorted bytewise (values
 * as PackStream; floats by bit pattern; nested maps sorted too), canonical type
 * the PackStream string of the type. Sums, not XOR, so duplicates count.
 *
 * Memory: a node-key -> nodeHash table, 16 bytes per node when keys are dense
 * (an array indexed by the key, spilled to a scratch file behind a bounded
 * cache past a threshold, common/spill_array.h), 24-byte hash slots for
 * scattered keys (documented in docs/restore.md). Relationships stream while
 * the table is in memory; once it has spilled they are joined with it by a
 * sort-merge in bounded memory at fingerprintHex (scratch files of about
 * 32 bytes plus the size of type and properties per relationship). */
#ifndef NBK_GRAPH_FINGERPRINT_H
#define NBK_GRAPH_FINGERPRINT_H

#include "bolt/value.h"
#include "common/error.h"

#include <stdint.h>

typedef struct Fingerprint Fingerprint;

Fingerprint *fingerprintNew(void);
void fingerprintFree(Fingerprint *fingerprint);
/* Adds a node; its key is remembered for the relationships that follow.
 * Fails (errLast()) when the key table cannot grow: memory, or the scratch
 * file (BACKUP_NO_SPACE when its disk is full). */
ErrCode fingerprintAddNode(Fingerprint *fingerprint, int64_t key, const BoltValue *labels,
                           const BoltValue *properties);
/* Adds a relationship; BACKUP_CORRUPTED if an endpoint key was never added
 * (an orphan), with the key in errLast(). */
ErrCode fingerprintAddRelationship(Fingerprint *fingerprint, int64_t startKey, int64_t endKey,
                                   const char *type, uint32_t typeLength,
                                   const BoltValue *properties);
uint64_t fingerprintNodeCount(const Fingerprint *fingerprint);
uint64_t fingerprintRelationshipCount(const Fingerprint *fingerprint);
/* "<32 hex>:<32 hex>" into out (66 bytes). Completes the relationships'
 * join first when the node table has spilled, which can fail (memory, the
 * scratch files: errLast()); out then holds no fingerprint. Relationships
 * and nodes may still be added afterwards, and the value asked again. */
ErrCode fingerprintHex(Fingerprint *fingerprint, char out[66]);

#endif
