/* A differential chain read as one archive: the records of the graph at
 * the newest link, merged from a full backup's archive and the
 * differentials after it (docs/differential.md, docs/archive-format.md
 * section 10), in one streaming pass over the full and two over each
 * (small) differential. Every consumer of an archive's records (the Bolt
 * load, the import load, the health checks' archive scan, --aggregate)
 * reads through a ChainReader, so a plain archive is a chain of one link.
 *
 * Merge rule: for each key (per kind) the newest link that holds the key
 * decides: a record there is the key's state, a deletion there removes it.
 * Emission order keeps the archive promise that every relationship follows
 * both its endpoints:
 *   1. schema records of the newest link (a differential carries the whole
 *      schema at its time);
 *   2. node records of the differentials, newest first, each key once;
 *   3. the full's node and relationship records not decided by a
 *      differential, in the full's order;
 *   4. relationship records of the differentials, newest first, each key once.
 * Deletion records are consumed, never handed out.
 *
 * Each link is checked as it is read: framing, CRCs, footer, content digest
 * and, when the link names one, the SHA-256 of its file (the manifest's).
 * Link 0's header must say format "nbk-logical-1", the others
 * "nbk-logical-diff-1"; a deletion record in a full, or a malformed one, is
 * BACKUP_CORRUPTED naming the link.
 *
 * Memory: per kind a KeySet of the keys the differentials decide (1 bit per
 * id, common/key_set.h) plus one archive reader at a time. */
#ifndef NBK_ARCHIVE_CHAIN_H
#define NBK_ARCHIVE_CHAIN_H

#include "archive/archive.h"
#include "common/buffer.h"
#include "common/error.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Header map "format" of a full archive and of a differential's. */
#define ARC_FORMAT_FULL "nbk-logical-1"
#define ARC_FORMAT_DIFF "nbk-logical-diff-1"

/* One link: where its archive is (with its data key when encrypted) and
 * the SHA-256 its manifest gives (64 hex digits; NULL = not checked). */
typedef struct {
    ArcLocation location;
    const char *sha256;
} ArcChainLink;

typedef struct ArcChainReader ArcChainReader;

/* links[0] is the full backup's archive, links[1..count-1] the
 * differentials in chain order (count >= 1; 1 = a plain archive, read
 * exactly as arcReaderOpenAt + arcReaderNext would). The links array and
 * what it points to must outlive the reader. Opens (and so checks up to its
 * header) the newest link first; errors as arcReaderOpenAt. */
ErrCode arcChainOpen(ArcChainReader **out, const ArcChainLink *links, size_t count);
/* The newest link's header map (valid while the reader lives). */
const uint8_t *arcChainHeader(const ArcChainReader *reader, size_t *length);
/* The next merged record, as arcReaderNext (ERR_OK with *packed NULL at the
 * end, after every link was read to its verified end). Never a deletion. */
ErrCode arcChainNext(ArcChainReader *reader, ArcRecordKind *kind, const uint8_t **packed, size_t *length);
/* Records handed out so far per kind, and keys removed by deletions. */
typedef struct {
    uint64_t schemaItems;
    uint64_t nodes;
    uint64_t relationships;
    uint64_t deletedNodes;         /* deletion records that removed a key */
    uint64_t deletedRelationships;
    uint64_t linkBytes;            /* compressed bytes of every link read (each once) */
} ArcChainTotals;
const ArcChainTotals *arcChainTotals(const ArcChainReader *reader);
void arcChainFree(ArcChainReader *reader); /* NULL is ignored; leaves errLast() untouched */

/* Deletion records: PackStream [entity: "N" | "R", key: Integer]. */
/* Appends the record's bytes to out. */
void arcDeletionPack(Buffer *out, ArcRecordKind entity, int64_t key);
/* Parses one; BACKUP_CORRUPTED unless it is exactly that shape. */
ErrCode arcDeletionParse(const uint8_t *packed, size_t length, ArcRecordKind *entity, int64_t *key);
/* The key (first element) of a node or relationship record without
 * decoding the rest; BACKUP_CORRUPTED when the record does not start with a
 * list whose first element is an integer. */
ErrCode arcRecordKey(const uint8_t *packed, size_t length, int64_t *key);

#endif
