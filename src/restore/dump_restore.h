/* Restoring a dump (method "dump", archive/dump_file.h): loading it into a Neo4j
 * installation with neo4j-admin, checking it with Neo4j's own consistency
 * checker, and the health checks after the load.
 *
 * A dump cannot be read without Neo4j, so the checks compare the target with
 * what was recorded over Bolt just before the source was stopped for the dump
 * (the manifest's counts, content fingerprint and schema names) rather than
 * with the archive's content as the logical method does.
 *
 * Ownership: nothing here keeps memory beyond a call. */
#ifndef NBK_RESTORE_DUMP_RESTORE_H
#define NBK_RESTORE_DUMP_RESTORE_H

#include "archive/archive.h"
#include "neo4j/admin.h"
#include "bolt/connection.h"
#include "catalog/manifest.h"
#include "common/error.h"
#include "restore/health.h"

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>


/* `neo4j-admin database load --from-stdin --overwrite-destination=true
 * <database>`, fed from dump: the file at dump->path when dump->storage is
 * NULL, else file dump->name of that storage, streamed (ranged GETs on
 * object storage, nothing staged on local disk). The bytes sent are hashed
 * on the way and the last chunk is held back until the hash equals
 * expectedSha256, so a dump that changed since it was verified (or was
 * damaged in transit) never loads completely: BACKUP_CORRUPTED, and
 * neo4j-admin is stopped before its input ends. The target DBMS must be
 * stopped (neo4j-admin refuses otherwise). */
ErrCode dumpRestoreLoad(const Neo4jAdmin *admin, const char *database, const ArcLocation *dump,
                        const char *expectedSha256, volatile sig_atomic_t *cancelFlag, ProcRun *run);

#define DUMP_REPORT_LINES 20

typedef struct {
    unsigned reportLineCount;  /* first lines of Neo4j's inconsistency report */
    char reportLines[DUMP_REPORT_LINES][PROC_TAIL_LINE_SIZE];
} DumpCheckFindings;

/* `neo4j-admin database check --from-path=...` of one dump file: the dump is
 * linked as <scratchDir>/dump/<database>.dump and unpacked under
 * <scratchDir>/temp; the report goes to <scratchDir>/report. scratchDir must
 * exist and be empty; the caller removes it. Works while the installation's
 * server runs (the check never touches its databases). ERR_OK when
 * consistent; BACKUP_CORRUPTED "Neo4j's consistency check found
 * inconsistencies" with the report's first lines in findings; other failures
 * NEO4J_ADMIN_FAILED. */
ErrCode dumpRestoreCheckConsistency(const Neo4jAdmin *admin, const char *dumpPath, const char *database,
                                    const char *scratchDir, volatile sig_atomic_t *cancelFlag, ProcRun *run,
                                    DumpCheckFindings *findings);

/* What the target must show after the load; absent parts are skipped. */
typedef struct {
    const char *fingerprint;              /* NULL: fingerprint skipped */
    bool haveCounts;                      /* false: counts skipped */
    uint64_t nodes;
    uint64_t relationships;
    const GraphCounts *counts;            /* per label and type; NULL: that part skipped */
    bool haveSchema;                      /* false: schema names skipped */
    const ManifestSchemaItem *schema;
    size_t schemaCount;
} DumpHealthExpectations;

/* The five checks of health.h in their order (connectivity,
 * schema_consistency, orphan_detection, counts, fingerprint), against the
 * recorded expectations. Waits for index population first. A skipped check
 * is PASS with skipped[i] set and its finding saying why. Returns the number
 * of failed checks. */
int dumpRestoreHealth(BoltConnection *connection, const char *database, const DumpHealthExpectations *expected,
                      HealthCheckResult results[HEALTH_CHECK_COUNT], bool skipped[HEALTH_CHECK_COUNT]);

#endif
