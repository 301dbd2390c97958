/* Views over decoded node and relationship records (layouts in records.h).
 * Restore and validation read untrusted archive bytes through these, so every
 * field is checked for its type before it is handed out. */
#include "graph/records.h"

static const char *recordTypeName(const BoltValue *value)
{
    return value ? boltTypeName(value) : "nothing";
}

ErrCode graphNodeFromValue(const BoltValue *value, GraphNode *out)
{
    if (!value || value->type != BOLT_LIST || value->as.list.count != 3)
        return errSet(BACKUP_CORRUPTED, "node record is a %s, expected a list [key, labels, properties]",
                      recordTypeName(value));
    const BoltValue *fields = value->as.list.items;
    if (fields[0].type != BOLT_INT)
        return errSet(BACKUP_CORRUPTED, "node record key is a %s, expected an Integer",
                      boltTypeName(&fields[0]));
    if (fields[1].type != BOLT_LIST)
        return errSet(BACKUP_CORRUPTED, "node %lld: labels are a %s, expected a List",
                      (long long)fields[0].as.integer, boltTypeName(&fields[1]));
    for (uint32_t labelIndex = 0; labelIndex < fields[1].as.list.count; labelIndex++) {
        if (fields[1].as.list.items[labelIndex].type != BOLT_STRING)
            return errSet(BACKUP_CORRUPTED, "node %lld: label %u is a %s, expected a String",
                          (long long)fields[0].as.integer, labelIndex,
                          boltTypeName(&fields[1].as.list.items[labelIndex]));
    }
    if (fields[2].type != BOLT_MAP)
        return errSet(BACKUP_CORRUPTED, "node %lld: properties are a %s, expected a Map",
                      (long long)fields[0].as.integer, boltTypeName(&fields[2]));
    out->key = fields[0].as.integer;
    out->labels = &fields[1];
    out->properties = &fields[2];
    return ERR_OK;
}

ErrCode graphRelationshipFromValue(const BoltValue *value, GraphRelationship *out)
{
    if (!value || value->type != BOLT_LIST || value->as.list.count != 5)
        return errSet(BACKUP_CORRUPTED,
                      "relationship record is a %s, expected a list [key, startKey, endKey, type, properties]",
                      recordTypeName(value));
    const BoltValue *fields = value->as.list.items;
    static const char *const keyNames[3] = {"key", "start key", "end key"};
    for (int keyIndex = 0; keyIndex < 3; keyIndex++) {
        if (fields[keyIndex].type != BOLT_INT)
            return errSet(BACKUP_CORRUPTED, "relationship record %s is a %s, expected an Integer",
                          keyNames[keyIndex], boltTypeName(&fields[keyIndex]));
    }
    if (fields[3].type != BOLT_STRING)
        return errSet(BACKUP_CORRUPTED, "relationship %lld: type is a %s, expected a String",
                      (long long)fields[0].as.integer, boltTypeName(&fields[3]));
    if (fields[3].as.string.length == 0)
        return errSet(BACKUP_CORRUPTED, "relationship %lld: type is empty",
                      (long long)fields[0].as.integer);
    if (fields[4].type != BOLT_MAP)
        return errSet(BACKUP_CORRUPTED, "relationship %lld: properties are a %s, expected a Map",
                      (long long)fields[0].as.integer, boltTypeName(&fields[4]));
    out->key = fields[0].as.integer;
    out->startKey = fields[1].as.integer;
    out->endKey = fields[2].as.integer;
    out->type = fields[3].as.string.data;
    out->typeLength = fields[3].as.string.length;
    out->properties = &fields[4];
    return ERR_OK;
}
