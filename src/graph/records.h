/* The logical content of a backup: the records that the archive carries.
 * Each record is one PackStream value (docs/archive-format.md, "Record
 * payloads"):
 *
 *   Node (kind 'N'):          List [key:Int, labels:List<String>, properties:Map]
 *   Relationship (kind 'R'):  List [key:Int, startKey:Int, endKey:Int, type:String,
 *                                   properties:Map]
 *   Schema item (kind 'S'):   Map {kind:"constraint"|"index", name, type, entityType,
 *                                  labelsOrTypes, properties, options?, ownedIndex?,
 *                                  owningConstraint?, propertyType?, createStatement,
 *                                  state?, failureMessage?}
 *
 * Keys are the source database's internal ids (id(n), id(r)), read inside one
 * transaction; they only link relationships to nodes inside one archive and
 * mean nothing in any database, so restore maps them to new ids.
 *
 * The header (the archive's 'H' section) is a Map {format:"nbk-logical-1",
 * backup_id, created, tool, tool_version, source_uri, server_agent,
 * server_version, edition, bolt_version, database}. */
#ifndef NBK_GRAPH_RECORDS_H
#define NBK_GRAPH_RECORDS_H

#include "bolt/value.h"
#include "common/error.h"

#include <stdint.h>

/* The label of the tool's own record of a backup in the source database
 * (backup/metadata.h writes it): backups leave these nodes and their
 * relationships out, and health checks do not count them. */
#define GRAPH_METADATA_LABEL "BackupMetadata"

typedef struct {
    int64_t key;
    const BoltValue *labels;     /* list of strings */
    const BoltValue *properties; /* map */
} GraphNode;

typedef struct {
    int64_t key;
    int64_t startKey;
    int64_t endKey;
    const char *type;
    uint32_t typeLength;
    const BoltValue *properties; /* map */
} GraphRelationship;

/* Views into a decoded record value (no copies); BACKUP_CORRUPTED when the
 * value does not have the record's shape. */
ErrCode graphNodeFromValue(const BoltValue *value, GraphNode *out);
ErrCode graphRelationshipFromValue(const BoltValue *value, GraphRelationship *out);

#endif
