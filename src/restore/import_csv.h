/* The import load: a logical archive written as the CSV files of
 * `neo4j-admin database import full`, so that a stopped target is rebuilt by
 * Neo4j's offline bulk importer instead of millions of Cypher writes
 * (docs/restore.md, "Import load").
 *
 * CSV cannot carry everything a property graph holds exactly (a string with
 * a line break, a DateTime with a zone id, an empty list, a label holding
 * the array delimiter, a property whose type differs from its column's...).
 * Such a record still goes into the CSV with what CSV can carry, tagged with
 * a marker property, and is kept whole in a fix-up file; after the import
 * importCsvApplyFixups sets its exact labels, type and properties over Bolt
 * (as parameters, like the Bolt load) and removes the marker. The content
 * fingerprint of the health checks then proves the result equal to the
 * backup, whichever way each record came.
 *
 * Files written into the request's directory:
 *   nodes-header.csv, nodes.csv                  :ID,:LABEL,<key>:<type>...
 *   relationships-header.csv, relationships.csv  :START_ID,:END_ID,:TYPE,<key>:<type>...
 *   node-fixups.bin, relationship-fixups.bin     [u32 BE length][packed record]...
 *   import.report                                neo4j-admin's report (--report-file)
 * The record's ordinal in its fix-up file is the marker's value.
 *
 * Two passes over the archive: the first (with the health checks' archive
 * read) learns the columns and the node keys, the second writes. Memory:
 * the node key set (21-43 bytes per node, restore/idmap.h) and the columns.
 *
 * Ownership: an ImportCsv owns its ArchiveContent; free with importCsvFree. */
#ifndef NBK_RESTORE_IMPORT_CSV_H
#define NBK_RESTORE_IMPORT_CSV_H

#include "archive/archive.h"
#include "archive/chain.h"
#include "bolt/connection.h"
#include "common/buffer.h"
#include "common/error.h"
#include "restore/health.h"

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

#define IMPORT_PATH_SIZE 4096
/* Between the elements of a list and between labels: a control character no
 * label or list element of real data is likely to hold (one that does goes
 * through the fix-ups). neo4j-admin spells it U+001F. */
#define IMPORT_ARRAY_DELIMITER '\x1f'
#define IMPORT_ARRAY_DELIMITER_OPTION "--array-delimiter=U+001F"
/* Type of the relationships whose real type CSV cannot carry, until the
 * fix-ups recreate them with it. */
#define IMPORT_PLACEHOLDER_TYPE "NBK_IMPORT_FIXUP"

typedef struct {
    ArcLocation archive;                  /* read twice: a survey, then the files */
    /* A differential's chain (archive/chain.h), read merged in place of
     * archive; NULL/0 = the single archive above. */
    const ArcChainLink *chain;
    size_t chainCount;
    const char *directory;                /* exists and holds none of the files below */
    volatile sig_atomic_t *cancelFlag;    /* may be NULL */
    /* Called every 65536 records of the writing pass and at its end; may be NULL. */
    void (*progress)(uint64_t records, uint64_t expected, void *payload);
    void *progressPayload;
    uint64_t expectedRecords;             /* for progress only; 0 = unknown */
} ImportCsvRequest;

typedef struct {
    uint64_t nodes;                       /* rows written */
    uint64_t relationships;
    uint64_t orphanRelationships;         /* left out: an endpoint is not in the archive */
    uint64_t fixupNodes;
    uint64_t fixupRelationships;
    uint64_t csvBytes;
    uint32_t nodeColumns;                 /* property columns */
    uint32_t relationshipColumns;
    bool stringIds;                       /* a node key is negative: --id-type=string */
    char marker[64];                      /* property that tags fix-up records */
    char nodeHeader[IMPORT_PATH_SIZE];
    char nodeData[IMPORT_PATH_SIZE];
    char relationshipHeader[IMPORT_PATH_SIZE];
    char relationshipData[IMPORT_PATH_SIZE];
    char nodeFixups[IMPORT_PATH_SIZE];
    char relationshipFixups[IMPORT_PATH_SIZE];
    char reportFile[IMPORT_PATH_SIZE];   /* neo4j-admin's import.report, beside the CSV */
    double seconds;
    ArchiveContent archive;               /* for the health checks */
} ImportCsv;

/* Writes the files. BACKUP_CORRUPTED for an archive that does not read,
 * OPERATION_INTERRUPTED when cancelled, filesystem codes when a file cannot
 * be written (BACKUP_NO_SPACE on a full disk). */
ErrCode importCsvWrite(const ImportCsvRequest *request, ImportCsv *out);
void importCsvFree(ImportCsv *csv);

/* The neo4j-admin arguments after the executable, NULL-terminated, for
 * database: "database", "import", "full", ... Pointers into csv and
 * storage, which must outlive args. Returns the argument count. */
#define IMPORT_ADMIN_ARGS 16
size_t importCsvAdminArgs(const ImportCsv *csv, const char *database, char storage[3][2 * IMPORT_PATH_SIZE + 32],
                          const char *args[IMPORT_ADMIN_ARGS]);

/* After the import, on the started target: the exact labels, types and
 * properties of the fix-up records, markers removed. RESTORE_FAILED when a
 * marked record is missing or the server refuses a statement. */
ErrCode importCsvApplyFixups(BoltConnection *connection, const char *database, const ImportCsv *csv);

/* ---- pure parts (unit-tested) ------------------------------------------ */

/* CSV column types: a base type, optionally an array of it. */
typedef enum {
    IMPORT_TYPE_NONE,
    IMPORT_TYPE_BOOLEAN,
    IMPORT_TYPE_LONG,
    IMPORT_TYPE_DOUBLE,
    IMPORT_TYPE_STRING,
    IMPORT_TYPE_BYTE,          /* only as byte[] (a Bolt byte array) */
    IMPORT_TYPE_DATE,
    IMPORT_TYPE_LOCALTIME,
    IMPORT_TYPE_TIME,
    IMPORT_TYPE_LOCALDATETIME,
    IMPORT_TYPE_DATETIME,
    IMPORT_TYPE_DURATION,
    IMPORT_TYPE_POINT,
} ImportBaseType;

typedef struct {
    ImportBaseType base;
    bool array;
} ImportCsvType;

/* "long", "string[]", "byte[]"... as the header spells it. */
const char *importCsvTypeName(ImportCsvType type);

/* Appends value as one CSV field (quoted where needed) and sets *type;
 * false, with out unchanged, when CSV cannot carry the value exactly. */
bool importCsvAppendValue(Buffer *out, const BoltValue *value, ImportCsvType *type);

/* Whether a name can stand in the CSV as it is: a property key in a header
 * ("key:type"), a label in a :LABEL field, a relationship type. */
bool importCsvKeySafe(const char *name, size_t length);
bool importCsvLabelSafe(const char *name, size_t length);
bool importCsvTypeSafe(const char *name, size_t length);

#endif
