/* Health checks run on a target after a restore, and the archive-side facts
 * they compare against.
 *
 * Each check returns PASS or FAIL with a one-line finding, so the command
 * layer can print the contract's "INFO: Health check: <name> ... PASS" and,
 * on failure, "ERROR: Failed check: <name>" + the finding. A check never
 * aborts the others: a query failure is a FAIL whose finding says why.
 *
 *   connectivity        RETURN 1 on the target database
 *   schema_consistency  every constraint and index of the backup exists by
 *                       name with the same type, entity type, labels/types
 *                       and properties; every index (owned ones included)
 *                       is ONLINE
 *   orphan_detection    no relationship of the archive lost an endpoint (the
 *                       archive side: relationships skipped at restore), and
 *                       none in the target (cheap sanity query)
 *   counts              node and relationship counts of the target equal
 *                       the expected ones (the manifest's), and so do its
 *                       nodes per label and relationships per type (the
 *                       archive's own counts, read from its records)
 *   fingerprint         the content fingerprint (graph/fingerprint.h) of the
 *                       target equals the archive's
 *
 * BackupMetadata nodes (the tool's own records) and their relationships are
 * left out of both fingerprints, so a target that holds them still matches.
 *
 * The archive-side facts are an ArchiveContent (archive/archive_content.h),
 * read here because reading it checks that every schema item can be rebuilt
 * (backup/schema.h); release it with arcContentFree. */
#ifndef NBK_RESTORE_HEALTH_H
#define NBK_RESTORE_HEALTH_H

#include "archive/archive.h"
#include "archive/archive_content.h"
#include "archive/chain.h"
#include "bolt/connection.h"
#include "bolt/value.h"
#include "common/error.h"
#include "graph/counts.h"
#include "graph/records.h"

#include <stdbool.h>
#include <stdint.h>

/* The tool's own nodes, spelled once in graph/records.h. */
#define HEALTH_METADATA_LABEL GRAPH_METADATA_LABEL

/* Reads the whole archive once (checksums verified by the reader). */
ErrCode healthArchiveContentRead(const char *archivePath, ArchiveContent *out);
/* The same for an archive where it is: a path or a repository storage name. */
ErrCode healthArchiveContentReadAt(const ArcLocation *archive, ArchiveContent *out);

/* The same read, showing every node and relationship record (decoded, valid
 * until the visitor returns) to visit on the way; an error from visit stops
 * the read and is returned. */
typedef ErrCode (*HealthRecordVisitor)(int recordKind, const BoltValue *record, void *payload);
ErrCode healthArchiveContentScan(const ArcLocation *archive, ArchiveContent *out, HealthRecordVisitor visit,
                                 void *payload);
/* The same over a differential chain (archive/chain.h), read merged: the
 * content of the graph at its newest link. count 1 = healthArchiveContentScan
 * of links[0].location. */
ErrCode healthArchiveContentScanChain(const ArcChainLink *links, size_t count, ArchiveContent *out,
                                      HealthRecordVisitor visit, void *payload);

/* The content fingerprint of an archive, with its node and relationship
 * counts as the fingerprint sees them (BackupMetadata and orphans out). */
typedef struct {
    uint64_t nodes;
    uint64_t relationships;
    uint64_t orphanRelationships;
} FingerprintCounts;

ErrCode healthFingerprintOfArchive(const char *archivePath, char hexOut[66], FingerprintCounts *counts);
/* Same fingerprint of the live graph of database (streams it; memory as
 * fingerprint.h says). NEO4J_* codes when the queries fail. */
ErrCode healthFingerprintOfDatabase(BoltConnection *connection, const char *database, char hexOut[66],
                                    FingerprintCounts *counts);

/* Nodes per label and relationships per type of a database, for every name
 * of expected (may be NULL) and every one the database knows (db.labels(),
 * db.relationshipTypes()), from the count store, leaving out the tool's own
 * BackupMetadata nodes and their relationships. Names counting 0 are left
 * out of the map. out is zeroed first; free it with graphCountsFree. */
ErrCode healthGraphLabelCounts(BoltConnection *connection, const char *database, const GraphCounts *expected,
                               GraphCounts *out);

/* Node and relationship counts of a database from the count store, leaving
 * out the tool's own BackupMetadata nodes and their relationships. */
ErrCode healthGraphCounts(BoltConnection *connection, const char *database, uint64_t *nodes,
                          uint64_t *relationships);

typedef enum { HEALTH_PASS, HEALTH_FAIL } HealthStatus;

typedef struct {
    const char *name;   /* "connectivity", "schema_consistency", ... (static) */
    HealthStatus status;
    char finding[512];  /* one line, no trailing newline */
} HealthCheckResult;

/* Fills a result with a one-line finding (newlines of server messages folded). */
void healthFinding(HealthCheckResult *out, const char *name, HealthStatus status, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

HealthStatus healthCheckConnectivity(BoltConnection *connection, const char *database,
                                     HealthCheckResult *out);
HealthStatus healthCheckSchemaConsistency(BoltConnection *connection, const char *database,
                                          const ArchiveContent *expected, HealthCheckResult *out);
HealthStatus healthCheckOrphans(BoltConnection *connection, const char *database,
                                const ArchiveContent *expected, HealthCheckResult *out);
/* Totals, then per label and type against expectedCounts (NULL: an old
 * backup without them; that part is skipped with a log line). The finding
 * names each label or type that differs, e.g. "label Person: expected 1000,
 * found 998 (-2)". */
HealthStatus healthCheckCounts(BoltConnection *connection, const char *database, uint64_t expectedNodes,
                               uint64_t expectedRelationships, const GraphCounts *expectedCounts,
                               HealthCheckResult *out);
HealthStatus healthCheckFingerprint(BoltConnection *connection, const char *database,
                                    const char *expectedFingerprint, HealthCheckResult *out);

#define HEALTH_CHECK_COUNT 5

typedef struct {
    const ArchiveContent *archive;   /* required */
    uint64_t expectedNodes;          /* the manifest's counts */
    uint64_t expectedRelationships;
} HealthExpectations;

/* Runs all five checks in the order above into results; returns how many
 * failed. */
int healthRunAll(BoltConnection *connection, const char *database, const HealthExpectations *expected,
                 HealthCheckResult results[HEALTH_CHECK_COUNT]);

/* ---- pure parts (unit-tested) ------------------------------------------ */

/* Constraint type names differ between Cypher 5 and 25 (UNIQUENESS vs
 * NODE_PROPERTY_UNIQUENESS); returns the Cypher 5 spelling. */
const char *healthNormalizeSchemaType(const char *type);

/* Compares the backup's schema items with the target's SHOW CONSTRAINTS and
 * SHOW INDEXES rows (maps with name, type, entityType, labelsOrTypes,
 * properties, and for indexes state and owningConstraint). Returns the
 * number of problems; the first one is described in finding. */
uint32_t healthCompareSchema(const BoltValue *expectedItems, uint64_t expectedCount,
                             const BoltValue *targetConstraints, uint32_t constraintCount,
                             const BoltValue *targetIndexes, uint32_t indexCount, char *finding,
                             size_t findingSize);

#endif
