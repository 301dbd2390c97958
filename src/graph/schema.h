/* Schema capture: the constraints and indexes of a database as schema items,
 * the archive's 'S' records (layout in graph/records.h and
 * docs/archive-format.md, "Record payloads").
 *
 * Kept columns are the stable ones of SHOW CONSTRAINTS / SHOW INDEXES (name,
 * type, entityType, labelsOrTypes, properties, options, ownedIndex,
 * owningConstraint, propertyType, createStatement) and, for indexes, state
 * and failureMessage (when not empty): a restore must know which indexes
 * had FAILED in the source (docs/restore.md, "Indexes that failed in the
 * source"). Other volatile ones (id, populationPercent, lastRead, readCount,
 * trackedSince) are left out. Every
 * index is kept, including LOOKUP indexes (type "LOOKUP") and the indexes
 * that back a constraint (owningConstraint set): restore decides what to
 * create from the type and owningConstraint. */
#ifndef NBK_GRAPH_SCHEMA_H
#define NBK_GRAPH_SCHEMA_H

#include "bolt/connection.h"
#include "bolt/value.h"
#include "common/buffer.h"
#include "common/error.h"

#include <stdbool.h>
#include <stdint.h>

typedef struct {
    uint32_t constraints;
    uint32_t indexes;       /* every index row, owned and LOOKUP ones included */
    uint32_t ownedIndexes;  /* created by a constraint (owningConstraint set) */
    uint32_t lookupIndexes; /* token lookup indexes (exist by default) */
} SchemaSummary;

/* Receives one schema item: a map in the 'S' layout, valid only during the
 * call. Returning an error stops the capture with that error. */
typedef ErrCode (*SchemaItemSink)(const BoltValue *item, void *payload);

/* Runs SHOW CONSTRAINTS YIELD * and then SHOW INDEXES YIELD * on connection
 * (inside the caller's transaction when one is open), hands each row as a
 * schema item to sink (constraints first, each list in the server's order)
 * and fills summary (may be NULL). Errors: those of the connection
 * (NEO4J_QUERY_FAILED when the user may not list the schema), or the sink's. */
ErrCode schemaCapture(BoltConnection *connection, SchemaItemSink sink, void *payload,
                      SchemaSummary *summary);

/* Length of the first line of a string value: a failureMessage is the
 * exception's message followed by its Java stack trace. */
size_t schemaFirstLineLength(const BoltValue *text);

/* A view of a schema item (no copies; strings live as long as the value). */
typedef struct {
    bool isConstraint;             /* kind "constraint", else "index" */
    const char *name;
    const char *type;              /* e.g. "UNIQUENESS", "RANGE", "LOOKUP" */
    const char *entityType;        /* "NODE" | "RELATIONSHIP" */
    const char *createStatement;   /* the server's DDL: shown, never sent (schemaBuildStatement) */
    const char *owningConstraint;  /* NULL unless an index backs a constraint */
    const char *ownedIndex;        /* NULL unless a constraint owns an index */
    const BoltValue *labelsOrTypes; /* list of strings, or null value for LOOKUP */
    const BoltValue *properties;   /* list of strings, or null value for LOOKUP */
    const BoltValue *options;      /* map, or NULL when absent */
    const char *propertyType;      /* property type constraints, else NULL */
    const char *state;             /* indexes: "ONLINE", "FAILED", ...; NULL in older archives */
    const char *failureMessage;    /* indexes that FAILED: the server's reason, else NULL */
} SchemaItem;

/* BACKUP_CORRUPTED when value is not a schema item map (kind must be
 * "constraint" or "index", name and type strings); the other fields are NULL
 * when absent or not of their type. */
ErrCode schemaItemFromValue(const BoltValue *value, SchemaItem *out);

/* Writes into out (cleared first; NUL-terminated, the NUL not counted) the
 * Cypher 5 statement that creates item, built from its structured fields
 * only: every name backtick-quoted (backticks doubled), OPTIONS holding the
 * indexConfig only (as the server's own statement; settings named by
 * letters, digits and ._- whose values are booleans, integers, finite
 * floats, lists of numbers or plain words), the propertyType of a type
 * constraint checked against the known types. The item's stored createStatement is never used: an archive is not
 * trusted to hold Cypher. BACKUP_CORRUPTED, naming the item, when the item
 * is of a type this tool does not know or of a shape its type cannot have
 * (docs/restore.md, "Schema"). */
ErrCode schemaBuildStatement(const SchemaItem *item, Buffer *out);

#endif
