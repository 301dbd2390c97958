/* manifest.json: building, writing (twice, self-checksummed) and reading it
 * back with its copy as a fallback; the canonical form is in manifest.h. */
#include "catalog/manifest.h"

#include "catalog/catalog.h"
#include "catalog/catalog_file.h"
#include "common/buffer.h"
#include "common/log.h"
#include "common/mem.h"
#include "common/timeutil.h"
#include "crypto/keys.h"
#include "crypto/manifest_auth.h"
#include "storage/posix.h"

#include <ctype.h>
#include <math.h>
#include <openssl/evp.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MANIFEST_SHA_KEY "manifest_sha256"
/* A manifest file's storage name: "<backup dir>/manifest.json.copy". */
#define CAT_MANIFEST_NAME_SIZE 512
#define CANONICAL_FLAGS (JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE)

/* Known top-level keys in the order they are written; anything else is kept
 * in `extra`. */
static const char *const knownKeys[] = {
    "format_version", "id", "created", "expires", "status", "validated_at", "failure_reason",
    "method", "source", "tool_version", "compression", "archive", "stats", "schema",
    "content_fingerprint", "duration_seconds", "downtime_seconds", "keep", "backup_type", "parent", "chain_depth",
    "changes", "encryption", MANIFEST_SHA_KEY,
};

static void *manifestAlloc(size_t count, size_t size)
{
    void *memory = memCalloc(count ? count : 1, size);
    return memory;
}

static char *manifestStrdup(const char *text)
{
    char *copy = memStrdup(text);
    return copy;
}

Manifest *manifestNew(void)
{
    Manifest *manifest = manifestAlloc(1, sizeof(*manifest));
    manifest->formatVersion = MANIFEST_FORMAT_VERSION;
    manifest->privateOpen = true;
    return manifest;
}

static void freeCounts(ManifestCount *counts, size_t count)
{
    for (size_t index = 0; index < count; index++)
        free(counts[index].name);
    free(counts);
}

void manifestFree(Manifest *manifest)
{
    if (!manifest)
        return;
    free(manifest->id);
    free(manifest->status);
    free(manifest->failureReason);
    free(manifest->method);
    free(manifest->source.uri);
    free(manifest->source.serverVersion);
    free(manifest->source.edition);
    free(manifest->source.boltVersion);
    free(manifest->source.database);
    free(manifest->toolVersion);
    free(manifest->compression);
    free(manifest->archive.file);
    free(manifest->archive.sha256);
    freeCounts(manifest->stats.labels, manifest->stats.labelCount);
    freeCounts(manifest->stats.types, manifest->stats.typeCount);
    for (size_t index = 0; index < manifest->schemaCount; index++) {
        free(manifest->schema[index].name);
        free(manifest->schema[index].type);
        free(manifest->schema[index].kind);
        free(manifest->schema[index].createStatement);
        free(manifest->schema[index].state);
        free(manifest->schema[index].failureMessage);
    }
    free(manifest->schema);
    free(manifest->contentFingerprint);
    free(manifest->backupType);
    free(manifest->parent.id);
    free(manifest->parent.manifestSha256);
    free(manifest->encryption.keyId);
    free(manifest->encryption.wrappedKey);
    free(manifest->encryption.mac);
    free(manifest->encryption.sealed);
    if (manifest->extra)
        json_object_put(manifest->extra);
    free(manifest);
}

void manifestSetString(char **field, const char *value)
{
    char *copy = value ? manifestStrdup(value) : NULL;
    free(*field);
    *field = copy;
}

static void appendCount(ManifestCount **counts, size_t *count, const char *name, uint64_t value)
{
    ManifestCount *grown = memRealloc(*counts, (*count + 1) * sizeof(*grown));
    grown[*count].name = manifestStrdup(name);
    grown[*count].count = value;
    *counts = grown;
    (*count)++;
}

void manifestAddLabel(Manifest *manifest, const char *label, uint64_t count)
{
    appendCount(&manifest->stats.labels, &manifest->stats.labelCount, label, count);
}

void manifestAddType(Manifest *manifest, const char *type, uint64_t count)
{
    appendCount(&manifest->stats.types, &manifest->stats.typeCount, type, count);
}

static void setCountsFrom(ManifestCount **counts, size_t *count, const CountMap *map)
{
    freeCounts(*counts, *count);
    *counts = NULL;
    *count = 0;
    const CountEntry **sorted = countMapSorted(map);
    for (size_t index = 0; index < map->count; index++)
        appendCount(counts, count, sorted[index]->name, sorted[index]->count);
    free(sorted);
}

void manifestSetCounts(Manifest *manifest, const GraphCounts *counts)
{
    setCountsFrom(&manifest->stats.labels, &manifest->stats.labelCount, &counts->labels);
    setCountsFrom(&manifest->stats.types, &manifest->stats.typeCount, &counts->types);
}

void manifestGetCounts(const Manifest *manifest, GraphCounts *out)
{
    memset(out, 0, sizeof(*out));
    for (size_t index = 0; index < manifest->stats.labelCount; index++) {
        const ManifestCount *entry = &manifest->stats.labels[index];
        countMapAdd(&out->labels, entry->name, strlen(entry->name), entry->count);
    }
    for (size_t index = 0; index < manifest->stats.typeCount; index++) {
        const ManifestCount *entry = &manifest->stats.types[index];
        countMapAdd(&out->types, entry->name, strlen(entry->name), entry->count);
    }
}

bool manifestHasCounts(const Manifest *manifest)
{
    return manifest->stats.labelCount > 0 || manifest->stats.typeCount > 0 ||
           (manifest->stats.nodes == 0 && manifest->stats.relationships == 0);
}

static char *dupOrNull(const char *text) { return text ? manifestStrdup(text) : NULL; }

void manifestAddSchemaItem(Manifest *manifest, const char *name, const char *type, const char *kind,
                           const char *createStatement)
{
    ManifestSchemaItem *grown = memRealloc(manifest->schema, (manifest->schemaCount + 1) * sizeof(*grown));
    ManifestSchemaItem *item = &grown[manifest->schemaCount];
    item->name = dupOrNull(name);
    item->type = dupOrNull(type);
    item->kind = dupOrNull(kind);
    item->createStatement = dupOrNull(createStatement);
    item->state = NULL;
    item->failureMessage = NULL;
    manifest->schema = grown;
    manifest->schemaCount++;
}

void manifestSetSchemaState(Manifest *manifest, const char *state, const char *failureMessage)
{
    if (manifest->schemaCount == 0)
        return;
    ManifestSchemaItem *item = &manifest->schema[manifest->schemaCount - 1];
    manifestSetString(&item->state, state);
    manifestSetString(&item->failureMessage, failureMessage);
}

bool manifestIsValid(const Manifest *manifest)
{
    return manifest && manifest->status && strncmp(manifest->status, MANIFEST_STATUS_COMPLETE, 8) == 0;
}

/* ---- to JSON -------------------------------------------------------------- */

static void addString(json_object *object, const char *key, const char *value)
{
    if (value)
        json_object_object_add(object, key, json_object_new_string(value));
}

static void addTime(json_object *object, const char *key, int64_t seconds)
{
    if (seconds == 0)
        return;
    char text[TIME_TEXT_SIZE];
    timeFormatIso(seconds, text);
    json_object_object_add(object, key, json_object_new_string(text));
}

static void addUnsigned(json_object *object, const char *key, uint64_t value)
{
    json_object_object_add(object, key, json_object_new_uint64(value));
}

/* Seconds with millisecond precision; the text is what gets serialized, so
 * the canonical form does not depend on printf's rendering of binary floats. */
static void addSeconds(json_object *object, const char *key, double seconds)
{
    if (!isfinite(seconds) || seconds < 0)
        seconds = 0;
    if (seconds > 1e12)
        seconds = 1e12;
    char text[48];
    snprintf(text, sizeof(text), "%.3f", seconds);
    json_object_object_add(object, key, json_object_new_double_s(strtod(text, NULL), text));
}

static json_object *countsToJson(const ManifestCount *counts, size_t count)
{
    json_object *object = json_object_new_object();
    for (size_t index = 0; index < count; index++)
        json_object_object_add(object, counts[index].name, json_object_new_uint64(counts[index].count));
    return object;
}

static json_object *schemaToJson(const Manifest *manifest)
{
    json_object *schema = json_object_new_array();
    for (size_t index = 0; index < manifest->schemaCount; index++) {
        const ManifestSchemaItem *item = &manifest->schema[index];
        json_object *entry = json_object_new_object();
        addString(entry, "name", item->name);
        addString(entry, "type", item->type);
        addString(entry, "kind", item->kind);
        addString(entry, "create_statement", item->createStatement);
        addString(entry, "state", item->state);
        addString(entry, "failure_message", item->failureMessage);
        json_object_array_add(schema, entry);
    }
    return schema;
}

static json_object *manifestPrivateJson(const Manifest *manifest)
{
    json_object *root = json_object_new_object();
    json_object *source = json_object_new_object();
    addString(source, "uri", manifest->source.uri);
    json_object_object_add(root, "source", source);
    json_object *stats = json_object_new_object();
    json_object_object_add(stats, "labels", countsToJson(manifest->stats.labels, manifest->stats.labelCount));
    json_object_object_add(stats, "types", countsToJson(manifest->stats.types, manifest->stats.typeCount));
    json_object_object_add(root, "stats", stats);
    json_object_object_add(root, "schema", schemaToJson(manifest));
    addString(root, "content_fingerprint", manifest->contentFingerprint);
    return root;
}

json_object *manifestToJson(const Manifest *manifest)
{
    /* An encrypted manifest shows only what needs no key; the members that
     * reveal the graph are in encryption.private (docs/encryption.md 3.2). */
    bool sealed = manifest->encryption.present;
    json_object *root = json_object_new_object();
    json_object_object_add(root, "format_version", json_object_new_int(manifest->formatVersion));
    addString(root, "id", manifest->id);
    addTime(root, "created", manifest->created);
    addTime(root, "expires", manifest->expires);
    addString(root, "status", manifest->status);
    addTime(root, "validated_at", manifest->validatedAt);
    addString(root, "failure_reason", manifest->failureReason);
    addString(root, "method", manifest->method);

    json_object *source = json_object_new_object();
    if (!sealed)
        addString(source, "uri", manifest->source.uri);
    addString(source, "server_version", manifest->source.serverVersion);
    addString(source, "edition", manifest->source.edition);
    addString(source, "bolt_version", manifest->source.boltVersion);
    addString(source, "database", manifest->source.database);
    json_object_object_add(root, "source", source);

    addString(root, "tool_version", manifest->toolVersion);
    addString(root, "compression", manifest->compression);

    json_object *archive = json_object_new_object();
    addString(archive, "file", manifest->archive.file);
    addUnsigned(archive, "size_compressed", manifest->archive.sizeCompressed);
    addUnsigned(archive, "size_uncompressed", manifest->archive.sizeUncompressed);
    addString(archive, "sha256", manifest->archive.sha256);
    json_object_object_add(root, "archive", archive);

    json_object *stats = json_object_new_object();
    addUnsigned(stats, "nodes", manifest->stats.nodes);
    addUnsigned(stats, "relationships", manifest->stats.relationships);
    addUnsigned(stats, "schema_items", manifest->stats.schemaItems);
    if (!sealed) {
        json_object_object_add(stats, "labels", countsToJson(manifest->stats.labels, manifest->stats.labelCount));
        json_object_object_add(stats, "types", countsToJson(manifest->stats.types, manifest->stats.typeCount));
    }
    json_object_object_add(root, "stats", stats);

    if (!sealed) {
        json_object_object_add(root, "schema", schemaToJson(manifest));
        addString(root, "content_fingerprint", manifest->contentFingerprint);
    }
    addSeconds(root, "duration_seconds", manifest->durationSeconds);
    if (manifest->hasDowntime)
        addSeconds(root, "downtime_seconds", manifest->downtimeSeconds);
    json_object_object_add(root, "keep", json_object_new_boolean(manifest->keep));
    if (manifest->backupType)
        addString(root, "backup_type", manifest->backupType);
    if (manifestIsDiff(manifest)) {
        json_object *parent = json_object_new_object();
        addString(parent, "id", manifest->parent.id);
        addString(parent, "manifest_sha256", manifest->parent.manifestSha256);
        json_object_object_add(root, "parent", parent);
        json_object_object_add(root, "chain_depth", json_object_new_uint64(manifest->chainDepth));
        json_object *changes = json_object_new_object();
        addUnsigned(changes, "nodes", manifest->changes.nodes);
        addUnsigned(changes, "relationships", manifest->changes.relationships);
        addUnsigned(changes, "deleted_nodes", manifest->changes.deletedNodes);
        addUnsigned(changes, "deleted_relationships", manifest->changes.deletedRelationships);
        json_object_object_add(root, "changes", changes);
    }
    if (sealed) {
        json_object *encryption = json_object_new_object();
        json_object_object_add(encryption, "format", json_object_new_int(1));
        addString(encryption, "key_id", manifest->encryption.keyId);
        addString(encryption, "wrapped_key", manifest->encryption.wrappedKey);
        addString(encryption, "mac", manifest->encryption.mac);
        addString(encryption, "private", manifest->encryption.sealed);
        json_object_object_add(root, "encryption", encryption);
    }

    if (manifest->extra && json_object_is_type(manifest->extra, json_type_object)) {
        json_object_object_foreach(manifest->extra, key, value) {
            if (!json_object_object_get_ex(root, key, NULL))
                json_object_object_add(root, key, json_object_get(value));
        }
    }
    return root;
}

static void sha256Hex(const char *text, char hex[65])
{
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int digestLength = 0;
    if (EVP_Digest(text, strlen(text), digest, &digestLength, EVP_sha256(), NULL) != 1 || digestLength != 32)
        abort(); /* SHA-256 of memory cannot fail short of a broken libcrypto */
    for (unsigned int index = 0; index < 32; index++)
        snprintf(hex + index * 2, 3, "%02x", digest[index]);
}

void manifestLinkSha256(const Manifest *manifest, char hex[65])
{
    json_object *root = manifestToJson(manifest);
    json_object_object_del(root, "status");
    json_object_object_del(root, "validated_at");
    json_object_object_del(root, "keep");
    json_object *encryption = NULL;
    if (json_object_object_get_ex(root, "encryption", &encryption) && json_object_is_type(encryption, json_type_object)) {
        json_object_object_del(encryption, "key_id");
        json_object_object_del(encryption, "wrapped_key");
    }
    sha256Hex(json_object_to_json_string_ext(root, CANONICAL_FLAGS), hex);
    json_object_put(root);
}

char *manifestSerialize(const Manifest *manifest)
{
    json_object *root = manifestToJson(manifest);
    char checksum[65];
    sha256Hex(json_object_to_json_string_ext(root, CANONICAL_FLAGS), checksum);
    json_object_object_add(root, MANIFEST_SHA_KEY, json_object_new_string(checksum));
    const char *pretty =
        json_object_to_json_string_ext(root, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED
                                                   | JSON_C_TO_STRING_NOSLASHESCAPE);
    size_t length = strlen(pretty);
    char *text = memAlloc(length + 2);
    memcpy(text, pretty, length);
    text[length] = '\n';
    text[length + 1] = '\0';
    json_object_put(root);
    return text;
}

/* ---- from JSON ------------------------------------------------------------ */

typedef struct {
    char reason[256];
} ParseProblem;

static ErrCode parseFail(ParseProblem *problem, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static ErrCode parseFail(ParseProblem *problem, const char *fmt, ...)
{
    va_list args;
    va_start(args, fmt);
    vsnprintf(problem->reason, sizeof(problem->reason), fmt, args);
    va_end(args);
    return BACKUP_CORRUPTED;
}

/* Optional member: NULL when absent or JSON null. */
static json_object *member(json_object *object, const char *key)
{
    json_object *value = NULL;
    if (!json_object_object_get_ex(object, key, &value))
        return NULL;
    return value; /* json null is stored as a NULL pointer by json-c */
}

static ErrCode readString(json_object *object, const char *key, char **out, ParseProblem *problem)
{
    json_object *value = member(object, key);
    if (!value)
        return ERR_OK;
    if (!json_object_is_type(value, json_type_string))
        return parseFail(problem, "field %s is not a string", key);
    manifestSetString(out, json_object_get_string(value));
    return ERR_OK;
}

static ErrCode readUnsigned(json_object *object, const char *key, uint64_t *out, ParseProblem *problem)
{
    json_object *value = member(object, key);
    if (!value)
        return ERR_OK;
    if (!json_object_is_type(value, json_type_int) || json_object_get_int64(value) < 0)
        return parseFail(problem, "field %s is not a non-negative integer", key);
    *out = json_object_get_uint64(value);
    return ERR_OK;
}

static ErrCode readSeconds(json_object *object, const char *key, double *out, bool *present,
                           ParseProblem *problem)
{
    json_object *value = member(object, key);
    if (present)
        *present = value != NULL;
    if (!value)
        return ERR_OK;
    if (!json_object_is_type(value, json_type_double) && !json_object_is_type(value, json_type_int))
        return parseFail(problem, "field %s is not a number", key);
    double seconds = json_object_get_double(value);
    if (!isfinite(seconds) || seconds < 0)
        return parseFail(problem, "field %s is not a non-negative number", key);
    *out = seconds;
    return ERR_OK;
}

static ErrCode readTime(json_object *object, const char *key, int64_t *out, ParseProblem *problem)
{
    json_object *value = member(object, key);
    if (!value)
        return ERR_OK;
    int64_t seconds;
    if (!json_object_is_type(value, json_type_string) || !timeParseIso(json_object_get_string(value), &seconds))
        return parseFail(problem, "field %s is not an ISO-8601 time", key);
    *out = seconds;
    return ERR_OK;
}

static ErrCode readObject(json_object *object, const char *key, json_object **out, ParseProblem *problem)
{
    *out = member(object, key);
    if (*out && !json_object_is_type(*out, json_type_object))
        return parseFail(problem, "field %s is not an object", key);
    return ERR_OK;
}

static ErrCode readCounts(json_object *object, const char *key, ManifestCount **counts, size_t *count,
                          ParseProblem *problem)
{
    json_object *map;
    if (readObject(object, key, &map, problem) != ERR_OK)
        return BACKUP_CORRUPTED;
    if (!map)
        return ERR_OK;
    json_object_object_foreach(map, name, value) {
        if (!value || !json_object_is_type(value, json_type_int) || json_object_get_int64(value) < 0)
            return parseFail(problem, "count of %s '%s' is not a non-negative integer", key, name);
        appendCount(counts, count, name, json_object_get_uint64(value));
    }
    return ERR_OK;
}

static ErrCode readSchema(json_object *root, Manifest *manifest, ParseProblem *problem)
{
    json_object *schema = member(root, "schema");
    if (!schema)
        return ERR_OK;
    if (!json_object_is_type(schema, json_type_array))
        return parseFail(problem, "field schema is not an array");
    size_t count = json_object_array_length(schema);
    for (size_t index = 0; index < count; index++) {
        json_object *entry = json_object_array_get_idx(schema, index);
        if (!entry || !json_object_is_type(entry, json_type_object))
            return parseFail(problem, "schema item %zu is not an object", index);
        manifestAddSchemaItem(manifest, NULL, NULL, NULL, NULL);
        ManifestSchemaItem *item = &manifest->schema[manifest->schemaCount - 1];
        if (readString(entry, "name", &item->name, problem) != ERR_OK
            || readString(entry, "type", &item->type, problem) != ERR_OK
            || readString(entry, "kind", &item->kind, problem) != ERR_OK
            || readString(entry, "create_statement", &item->createStatement, problem) != ERR_OK
            || readString(entry, "state", &item->state, problem) != ERR_OK
            || readString(entry, "failure_message", &item->failureMessage, problem) != ERR_OK)
            return BACKUP_CORRUPTED;
    }
    return ERR_OK;
}

/* Names the tools use as a path component or as an argument of a child
 * command (neo4j-admin): never "..", "/", or a leading "-" (an option). */
bool manifestNameValid(const char *name, size_t maxLength)
{
    if (!name || !isalnum((unsigned char)name[0]))
        return false;
    size_t length = strnlen(name, maxLength + 1);
    if (length > maxLength)
        return false;
    for (size_t index = 0; index < length; index++) {
        char character = name[index];
        if (!isalnum((unsigned char)character) && character != '.' && character != '_' && character != '-')
            return false;
    }
    return true;
}

/* The dump method's extra files ("dump": {"archives": [{file, database}]}):
 * their names are paths and neo4j-admin arguments too. */
static ErrCode readDumpNames(json_object *root, ParseProblem *problem)
{
    json_object *dump = member(root, "dump");
    json_object *archives = NULL;
    if (!dump || !json_object_is_type(dump, json_type_object) ||
        !json_object_object_get_ex(dump, "archives", &archives) || !archives)
        return ERR_OK;
    if (!json_object_is_type(archives, json_type_array))
        return parseFail(problem, "field dump.archives is not an array");
    for (size_t index = 0; index < json_object_array_length(archives); index++) {
        json_object *item = json_object_array_get_idx(archives, index);
        json_object *field = NULL;
        if (!item || !json_object_is_type(item, json_type_object))
            return parseFail(problem, "dump archive %zu is not an object", index);
        if (json_object_object_get_ex(item, "file", &field) && field &&
            (!json_object_is_type(field, json_type_string) ||
             !manifestNameValid(json_object_get_string(field), MANIFEST_FILE_NAME_MAX)))
            return parseFail(problem, "dump archive %zu: file is not a plain file name (%s)", index,
                             MANIFEST_NAME_RULE);
        if (json_object_object_get_ex(item, "database", &field) && field &&
            (!json_object_is_type(field, json_type_string) ||
             !manifestNameValid(json_object_get_string(field), MANIFEST_DATABASE_NAME_MAX)))
            return parseFail(problem, "dump archive %zu: database is not a database name (%s, up to %u)", index,
                             MANIFEST_NAME_RULE, MANIFEST_DATABASE_NAME_MAX);
    }
    return ERR_OK;
}

static bool isLowerHex(const char *text, size_t length)
{
    if (strlen(text) != length)
        return false;
    for (size_t index = 0; index < length; index++)
        if (!isdigit((unsigned char)text[index]) && !(text[index] >= 'a' && text[index] <= 'f'))
            return false;
    return true;
}

/* The encryption object (untrusted): its shape only; the key checks the rest. */
static ErrCode readEncryption(json_object *root, Manifest *manifest, ParseProblem *problem)
{
    json_object *encryption;
    if (readObject(root, "encryption", &encryption, problem) != ERR_OK)
        return BACKUP_CORRUPTED;
    if (!encryption)
        return ERR_OK;
    json_object *format = member(encryption, "format");
    if (!format || !json_object_is_type(format, json_type_int) || json_object_get_int64(format) != 1)
        return parseFail(problem, "field encryption.format is not 1");
    if (readString(encryption, "key_id", &manifest->encryption.keyId, problem) != ERR_OK
        || readString(encryption, "wrapped_key", &manifest->encryption.wrappedKey, problem) != ERR_OK
        || readString(encryption, "mac", &manifest->encryption.mac, problem) != ERR_OK
        || readString(encryption, "private", &manifest->encryption.sealed, problem) != ERR_OK)
        return BACKUP_CORRUPTED;
    const char *keyId = manifest->encryption.keyId, *wrapped = manifest->encryption.wrappedKey;
    if (!keyId || !isLowerHex(keyId, 32))
        return parseFail(problem, "field encryption.key_id is not 32 hex digits");
    if (!wrapped || !isLowerHex(wrapped, 2 * MANIFEST_WRAPPED_KEY_BYTES))
        return parseFail(problem, "field encryption.wrapped_key is not %d hex digits", 2 * MANIFEST_WRAPPED_KEY_BYTES);
    if (strncmp(wrapped + 2, keyId, 32) != 0)
        return parseFail(problem, "field encryption.key_id differs from the wrapped key's");
    if (!manifest->encryption.mac || !isLowerHex(manifest->encryption.mac, 64))
        return parseFail(problem, "field encryption.mac is not 64 hex digits");
    const char *sealed = manifest->encryption.sealed;
    if (!sealed || !sealed[0])
        return parseFail(problem, "field encryption.private is missing");
    for (const char *at = sealed; *at; at++)
        if (!isalnum((unsigned char)*at) && *at != '+' && *at != '/' && *at != '=')
            return parseFail(problem, "field encryption.private is not base64");
    /* What reveals the graph is only ever sealed: a plain copy is not ours. */
    json_object *source = member(root, "source"), *stats = member(root, "stats");
    if (member(root, "schema") || member(root, "content_fingerprint") || (source && member(source, "uri"))
        || (stats && (member(stats, "labels") || member(stats, "types"))))
        return parseFail(problem, "an encrypted manifest has private fields in plain text");
    manifest->encryption.present = true;
    return ERR_OK;
}

static bool isKnownKey(const char *key)
{
    for (size_t index = 0; index < sizeof(knownKeys) / sizeof(knownKeys[0]); index++)
        if (strcmp(knownKeys[index], key) == 0)
            return true;
    return false;
}

static bool hexDigest(const char *text)
{
    if (!text || strlen(text) != 64)
        return false;
    for (const char *at = text; *at; at++)
        if (!((*at >= '0' && *at <= '9') || (*at >= 'a' && *at <= 'f')))
            return false;
    return true;
}

/* backup_type, parent, chain_depth and changes (docs/differential.md). A
 * differential must name its parent by a valid id and a link digest, and
 * declare a depth of 1 to MANIFEST_CHAIN_DEPTH_MAX; a full must not have a
 * parent. */
static ErrCode readChain(json_object *root, Manifest *manifest, ParseProblem *problem)
{
    json_object *parent = NULL, *changes = NULL;
    if (readString(root, "backup_type", &manifest->backupType, problem) != ERR_OK
        || readObject(root, "parent", &parent, problem) != ERR_OK
        || readObject(root, "changes", &changes, problem) != ERR_OK)
        return BACKUP_CORRUPTED;
    if (manifest->backupType && strcmp(manifest->backupType, MANIFEST_TYPE_FULL) != 0
        && strcmp(manifest->backupType, MANIFEST_TYPE_DIFF) != 0)
        return parseFail(problem, "field backup_type is neither \"full\" nor \"diff\"");
    if (!manifestIsDiff(manifest)) {
        if (parent || member(root, "chain_depth"))
            return parseFail(problem, "a full backup names a parent");
        return ERR_OK;
    }
    if (!parent)
        return parseFail(problem, "a differential backup names no parent");
    if (readString(parent, "id", &manifest->parent.id, problem) != ERR_OK
        || readString(parent, "manifest_sha256", &manifest->parent.manifestSha256, problem) != ERR_OK)
        return BACKUP_CORRUPTED;
    if (!manifest->parent.id || !catIdValid(manifest->parent.id) || manifest->parent.id[0] == '-')
        return parseFail(problem, "field parent.id is not a backup id (%s, up to %d)", MANIFEST_NAME_RULE, CAT_ID_MAX);
    if (manifest->id && strcmp(manifest->parent.id, manifest->id) == 0)
        return parseFail(problem, "the backup names itself as its parent");
    if (!hexDigest(manifest->parent.manifestSha256))
        return parseFail(problem, "field parent.manifest_sha256 is not 64 lowercase hex digits");
    uint64_t depth = 0;
    if (readUnsigned(root, "chain_depth", &depth, problem) != ERR_OK)
        return BACKUP_CORRUPTED;
    if (depth < 1 || depth > MANIFEST_CHAIN_DEPTH_MAX)
        return parseFail(problem, "field chain_depth %llu is not 1 to %u", (unsigned long long)depth,
                         MANIFEST_CHAIN_DEPTH_MAX);
    manifest->chainDepth = (uint32_t)depth;
    if (changes
        && (readUnsigned(changes, "nodes", &manifest->changes.nodes, problem) != ERR_OK
            || readUnsigned(changes, "relationships", &manifest->changes.relationships, problem) != ERR_OK
            || readUnsigned(changes, "deleted_nodes", &manifest->changes.deletedNodes, problem) != ERR_OK
            || readUnsigned(changes, "deleted_relationships", &manifest->changes.deletedRelationships, problem)
                   != ERR_OK))
        return BACKUP_CORRUPTED;
    return ERR_OK;
}

bool manifestIsDiff(const Manifest *manifest)
{
    return manifest->backupType && strcmp(manifest->backupType, MANIFEST_TYPE_DIFF) == 0;
}

static ErrCode readFields(json_object *root, Manifest *manifest, ParseProblem *problem)
{
    json_object *version = member(root, "format_version");
    if (!version || !json_object_is_type(version, json_type_int))
        return parseFail(problem, "field format_version is missing or not an integer");
    int64_t formatVersion = json_object_get_int64(version);
    if (formatVersion < 1)
        return parseFail(problem, "format_version %lld is invalid", (long long)formatVersion);
    if (formatVersion > MANIFEST_FORMAT_VERSION)
        return parseFail(problem, "format_version %lld is newer than this tool supports (%d)",
                         (long long)formatVersion, MANIFEST_FORMAT_VERSION);
    manifest->formatVersion = (int)formatVersion;

    json_object *source, *archive, *stats;
    if (readString(root, "id", &manifest->id, problem) != ERR_OK
        || readTime(root, "created", &manifest->created, problem) != ERR_OK
        || readTime(root, "expires", &manifest->expires, problem) != ERR_OK
        || readString(root, "status", &manifest->status, problem) != ERR_OK
        || readTime(root, "validated_at", &manifest->validatedAt, problem) != ERR_OK
        || readString(root, "failure_reason", &manifest->failureReason, problem) != ERR_OK
        || readString(root, "method", &manifest->method, problem) != ERR_OK
        || readString(root, "tool_version", &manifest->toolVersion, problem) != ERR_OK
        || readString(root, "compression", &manifest->compression, problem) != ERR_OK
        || readString(root, "content_fingerprint", &manifest->contentFingerprint, problem) != ERR_OK
        || readSeconds(root, "duration_seconds", &manifest->durationSeconds, NULL, problem) != ERR_OK
        || readSeconds(root, "downtime_seconds", &manifest->downtimeSeconds, &manifest->hasDowntime, problem)
               != ERR_OK
        || readObject(root, "source", &source, problem) != ERR_OK
        || readObject(root, "archive", &archive, problem) != ERR_OK
        || readObject(root, "stats", &stats, problem) != ERR_OK)
        return BACKUP_CORRUPTED;
    if (!manifest->id || !manifest->id[0])
        return parseFail(problem, "field id is missing");
    if (!catIdValid(manifest->id) || manifest->id[0] == '-')
        return parseFail(problem, "field id is not a backup id (%s, up to %d)", MANIFEST_NAME_RULE, CAT_ID_MAX);
    if (manifest->created == 0)
        return parseFail(problem, "field created is missing");
    if (!manifest->status || !manifest->status[0])
        return parseFail(problem, "field status is missing");

    if (source
        && (readString(source, "uri", &manifest->source.uri, problem) != ERR_OK
            || readString(source, "server_version", &manifest->source.serverVersion, problem) != ERR_OK
            || readString(source, "edition", &manifest->source.edition, problem) != ERR_OK
            || readString(source, "bolt_version", &manifest->source.boltVersion, problem) != ERR_OK
            || readString(source, "database", &manifest->source.database, problem) != ERR_OK))
        return BACKUP_CORRUPTED;
    if (archive
        && (readString(archive, "file", &manifest->archive.file, problem) != ERR_OK
            || readUnsigned(archive, "size_compressed", &manifest->archive.sizeCompressed, problem) != ERR_OK
            || readUnsigned(archive, "size_uncompressed", &manifest->archive.sizeUncompressed, problem) != ERR_OK
            || readString(archive, "sha256", &manifest->archive.sha256, problem) != ERR_OK))
        return BACKUP_CORRUPTED;
    if (manifest->archive.file && !manifestNameValid(manifest->archive.file, MANIFEST_FILE_NAME_MAX))
        return parseFail(problem, "field archive.file is not a plain file name (%s)", MANIFEST_NAME_RULE);
    if (manifest->source.database && !manifestNameValid(manifest->source.database, MANIFEST_DATABASE_NAME_MAX))
        return parseFail(problem, "field source.database is not a database name (%s, up to %u)", MANIFEST_NAME_RULE,
                         MANIFEST_DATABASE_NAME_MAX);
    if (stats
        && (readUnsigned(stats, "nodes", &manifest->stats.nodes, problem) != ERR_OK
            || readUnsigned(stats, "relationships", &manifest->stats.relationships, problem) != ERR_OK
            || readUnsigned(stats, "schema_items", &manifest->stats.schemaItems, problem) != ERR_OK
            || readCounts(stats, "labels", &manifest->stats.labels, &manifest->stats.labelCount, problem) != ERR_OK
            || readCounts(stats, "types", &manifest->stats.types, &manifest->stats.typeCount, problem) != ERR_OK))
        return BACKUP_CORRUPTED;
    if (readSchema(root, manifest, problem) != ERR_OK || readDumpNames(root, problem) != ERR_OK)
        return BACKUP_CORRUPTED;

    json_object *keep = member(root, "keep");
    if (keep && !json_object_is_type(keep, json_type_boolean))
        return parseFail(problem, "field keep is not a boolean");
    manifest->keep = keep && json_object_get_boolean(keep);
    if (readEncryption(root, manifest, problem) != ERR_OK || readChain(root, manifest, problem) != ERR_OK)
        return BACKUP_CORRUPTED;
    manifest->privateOpen = !manifest->encryption.present;

    json_object_object_foreach(root, key, value) {
        if (isKnownKey(key))
            continue;
        if (!manifest->extra)
            manifest->extra = json_object_new_object();
        json_object_object_add(manifest->extra, key, json_object_get(value));
    }
    return ERR_OK;
}

/* Checks manifest_sha256 against the canonical form and removes the key. */
static ErrCode verifyChecksum(json_object *root, bool required, ParseProblem *problem)
{
    json_object *stored = member(root, MANIFEST_SHA_KEY);
    if (!stored) {
        if (required)
            return parseFail(problem, "manifest_sha256 is missing");
        return ERR_OK;
    }
    if (!json_object_is_type(stored, json_type_string))
        return parseFail(problem, "manifest_sha256 is not a string");
    char expected[65];
    snprintf(expected, sizeof(expected), "%s", json_object_get_string(stored));
    json_object_object_del(root, MANIFEST_SHA_KEY);
    if (!required)
        return ERR_OK;
    char actual[65];
    sha256Hex(json_object_to_json_string_ext(root, CANONICAL_FLAGS), actual);
    if (strcmp(expected, actual) != 0)
        return parseFail(problem, "manifest_sha256 mismatch (expected %.16s..., got %.16s...)", expected, actual);
    return ERR_OK;
}

static ErrCode parseWithProblem(const char *text, size_t length, unsigned flags, Manifest **out,
                                ParseProblem *problem)
{
    *out = NULL;
    if (length > MANIFEST_MAX_BYTES || length > (size_t)INT32_MAX)
        return parseFail(problem, "larger than %u bytes", MANIFEST_MAX_BYTES);
    if (memchr(text, '\0', length))
        return parseFail(problem, "not JSON text (contains a NUL byte)");
    json_tokener *tokener = json_tokener_new();
    if (!tokener)
        memOutOfMemory("json-c tokener");
    /* Invalid UTF-8 would make --list --json invalid JSON: such a file is damaged. */
    json_tokener_set_flags(tokener, JSON_TOKENER_VALIDATE_UTF8);
    json_object *root = json_tokener_parse_ex(tokener, text, (int)length);
    enum json_tokener_error parseError = json_tokener_get_error(tokener);
    size_t consumed = json_tokener_get_parse_end(tokener);
    json_tokener_free(tokener);
    if (!root || parseError != json_tokener_success) {
        if (root)
            json_object_put(root);
        return parseFail(problem, "not valid JSON (%s)",
                         parseError == json_tokener_continue ? "truncated" : json_tokener_error_desc(parseError));
    }
    for (size_t position = consumed; position < length; position++) {
        if (!strchr(" \t\r\n", text[position])) {
            json_object_put(root);
            return parseFail(problem, "unexpected text after the JSON object");
        }
    }
    if (!json_object_is_type(root, json_type_object)) {
        json_object_put(root);
        return parseFail(problem, "not a JSON object");
    }
    ErrCode result = verifyChecksum(root, (flags & MANIFEST_PARSE_VERIFY) != 0, problem);
    Manifest *manifest = NULL;
    if (result == ERR_OK) {
        manifest = manifestNew();
        result = readFields(root, manifest, problem);
    }
    json_object_put(root);
    if (result != ERR_OK) {
        manifestFree(manifest);
        return result;
    }
    *out = manifest;
    return ERR_OK;
}

ErrCode manifestParse(const char *text, size_t length, unsigned flags, Manifest **out)
{
    ParseProblem problem = {{0}};
    ErrCode result = parseWithProblem(text, length, flags, out, &problem);
    if (result != ERR_OK)
        errSet(BACKUP_CORRUPTED, "manifest damaged: %s", problem.reason);
    return result;
}

static ErrCode writeOne(Storage *storage, const char *dir, const char *fileName, const char *text, size_t length)
{
    char name[CAT_MANIFEST_NAME_SIZE];
    ErrCode result = catFileJoin(name, sizeof(name), dir, fileName);
    StorageWrite *writer = NULL;
    if (result == ERR_OK)
        result = storageWriteOpen(storage, name, 0, &writer);
    if (result != ERR_OK)
        return result;
    result = storageWrite(writer, text, length);
    if (result != ERR_OK) {
        storageWriteAbort(writer);
        return result;
    }
    return storageWriteCommit(writer);
}

ErrCode manifestSaveTo(Storage *storage, const char *dir, const Manifest *manifest)
{
    char *text = manifestSerialize(manifest);
    size_t length = strlen(text);
    /* The primary first: if we crash in between, the old copy still verifies
     * and the new primary is complete (both are checked independently). */
    ErrCode result = writeOne(storage, dir, MANIFEST_FILE_NAME, text, length);
    if (result == ERR_OK)
        result = writeOne(storage, dir, MANIFEST_COPY_FILE_NAME, text, length);
    free(text);
    return result;
}

/* Loads one file; on failure writes the reason to problem. */
static ErrCode loadOne(Storage *storage, const char *name, Manifest **out, ParseProblem *problem)
{
    Buffer content;
    bufferInit(&content);
    ErrCode result = catFileReadAll(storage, name, MANIFEST_MAX_BYTES, &content);
    if (result != ERR_OK) {
        parseFail(problem, "%s", errLast()->reason);
    } else {
        result = parseWithProblem(content.length ? (const char *)content.data : "", content.length,
                                  MANIFEST_PARSE_VERIFY, out, problem);
    }
    bufferFree(&content);
    return result;
}

ErrCode manifestLoadFrom(Storage *storage, const char *dir, Manifest **out, ManifestOrigin *origin)
{
    *out = NULL;
    char primary[CAT_MANIFEST_NAME_SIZE], copy[CAT_MANIFEST_NAME_SIZE];
    ErrCode result = catFileJoin(primary, sizeof(primary), dir, MANIFEST_FILE_NAME);
    if (result == ERR_OK)
        result = catFileJoin(copy, sizeof(copy), dir, MANIFEST_COPY_FILE_NAME);
    if (result != ERR_OK)
        return result;
    ParseProblem primaryProblem = {{0}}, copyProblem = {{0}};
    if (loadOne(storage, primary, out, &primaryProblem) == ERR_OK) {
        if (origin)
            *origin = MANIFEST_FROM_PRIMARY;
        return ERR_OK;
    }
    char shown[4096];
    if (loadOne(storage, copy, out, &copyProblem) == ERR_OK) {
        logWarn("%s is damaged (%s); using %s", catFileShow(storage, primary, shown, sizeof(shown)),
                primaryProblem.reason, MANIFEST_COPY_FILE_NAME);
        if (origin)
            *origin = MANIFEST_FROM_COPY;
        return ERR_OK;
    }
    errSet(BACKUP_CORRUPTED, "manifest damaged: %s (%s: %s; %s: %s)", catFileShow(storage, dir, shown, sizeof(shown)),
           MANIFEST_FILE_NAME, primaryProblem.reason, MANIFEST_COPY_FILE_NAME, copyProblem.reason);
    return BACKUP_CORRUPTED;
}

ErrCode manifestSave(const Manifest *manifest, const char *dirPath)
{
    Storage *storage = NULL;
    ErrCode result = storagePosixOpen(dirPath, false, &storage);
    if (result == ERR_OK)
        result = manifestSaveTo(storage, "", manifest);
    storageFree(storage);
    return result;
}

ErrCode manifestLoad(const char *dirPath, Manifest **out, ManifestOrigin *origin)
{
    *out = NULL;
    Storage *storage = NULL;
    ErrCode result = storagePosixOpen(dirPath, false, &storage);
    if (result == ERR_OK)
        result = manifestLoadFrom(storage, "", out, origin);
    storageFree(storage);
    return result;
}

/* ---- encryption (docs/encryption.md section 3) ---------------------------- */

static bool isMutableField(const char *key)
{
    return strcmp(key, "status") == 0 || strcmp(key, "validated_at") == 0 || strcmp(key, "keep") == 0;
}

typedef struct {
    CryptoManifestField *fields;
    size_t count;
    size_t capacity;
} AuthFields;

static void authAdd(AuthFields *fields, const char *name, const void *value, size_t length)
{
    if (fields->count == fields->capacity) {
        fields->capacity = fields->capacity ? 2 * fields->capacity : 32;
        fields->fields = memRealloc(fields->fields, fields->capacity * sizeof(*fields->fields));
    }
    uint8_t *copy = memAlloc(length + 1);
    if (length)
        memcpy(copy, value, length);
    fields->fields[fields->count++] = (CryptoManifestField){manifestStrdup(name), copy, length};
}

static void authFree(AuthFields *fields)
{
    for (size_t index = 0; index < fields->count; index++) {
        free((char *)fields->fields[index].name);
        free((uint8_t *)fields->fields[index].value);
    }
    free(fields->fields);
}

/* Flattens the plain manifest into named fields: nested members as
 * "outer.inner", strings as their bytes, numbers and booleans as their JSON
 * text, arrays of strings joined with newlines (other arrays: JSON text). */
static void authFlatten(AuthFields *fields, const char *prefix, json_object *object)
{
    json_object_object_foreach(object, key, value) {
        if (!prefix && (strcmp(key, "encryption") == 0 || strcmp(key, MANIFEST_SHA_KEY) == 0 || isMutableField(key)))
            continue;
        if (!value)
            continue;
        Buffer name;
        bufferInit(&name);
        if (prefix)
            bufferAppendF(&name, "%s.", prefix);
        bufferAppendF(&name, "%s", key);
        bufferAppendByte(&name, 0);
        const char *fieldName = (const char *)name.data;
        if (json_object_is_type(value, json_type_object)) {
            authFlatten(fields, fieldName, value);
        } else if (json_object_is_type(value, json_type_string)) {
            authAdd(fields, fieldName, json_object_get_string(value), (size_t)json_object_get_string_len(value));
        } else if (json_object_is_type(value, json_type_array)) {
            bool strings = true;
            size_t length = json_object_array_length(value);
            for (size_t index = 0; index < length; index++)
                strings = strings && json_object_is_type(json_object_array_get_idx(value, index), json_type_string);
            if (strings) {
                Buffer joined;
                bufferInit(&joined);
                for (size_t index = 0; index < length; index++) {
                    json_object *item = json_object_array_get_idx(value, index);
                    if (index)
                        bufferAppendByte(&joined, '\n');
                    bufferAppend(&joined, json_object_get_string(item), (size_t)json_object_get_string_len(item));
                }
                authAdd(fields, fieldName, joined.data, joined.length);
                bufferFree(&joined);
            } else {
                const char *text = json_object_to_json_string_ext(value, CANONICAL_FLAGS);
                authAdd(fields, fieldName, text, strlen(text));
            }
        } else {
            const char *text = json_object_to_json_string_ext(value, CANONICAL_FLAGS);
            authAdd(fields, fieldName, text, strlen(text));
        }
        bufferFree(&name);
    }
}

static void authCollect(const Manifest *manifest, const uint8_t keySection[MANIFEST_KEY_SECTION_BYTES],
                        AuthFields *fields)
{
    memset(fields, 0, sizeof(*fields));
    json_object *root = manifestToJson(manifest);
    authFlatten(fields, NULL, root);
    json_object_put(root);
    char hex[2 * MANIFEST_KEY_SECTION_BYTES + 1];
    sodium_bin2hex(hex, sizeof(hex), keySection, MANIFEST_KEY_SECTION_BYTES);
    authAdd(fields, "archive_key_section", hex, strlen(hex));
    authAdd(fields, "encryption.format", "1", 1);
}

ErrCode manifestAuthCanonical(const Manifest *manifest, const uint8_t keySection[MANIFEST_KEY_SECTION_BYTES],
                              Buffer *out)
{
    AuthFields fields;
    authCollect(manifest, keySection, &fields);
    ErrCode code = cryptoManifestCanonical(fields.fields, fields.count, out);
    authFree(&fields);
    return code;
}

static bool hexDecode(const char *hex, uint8_t *out, size_t size)
{
    size_t got = 0;
    return hex && strlen(hex) == 2 * size && sodium_hex2bin(out, size, hex, 2 * size, NULL, &got, NULL) == 0 &&
           got == size;
}

ErrCode manifestWrappedKey(const Manifest *manifest, uint8_t wrapped[MANIFEST_WRAPPED_KEY_BYTES])
{
    if (!manifest->encryption.present || !hexDecode(manifest->encryption.wrappedKey, wrapped,
                                                    MANIFEST_WRAPPED_KEY_BYTES))
        return errSet(BACKUP_CORRUPTED, "manifest damaged: the wrapped data key of %s is not %d hex digits",
                      manifest->id ? manifest->id : "the backup", 2 * MANIFEST_WRAPPED_KEY_BYTES);
    return ERR_OK;
}

ErrCode manifestSetWrappedKey(Manifest *manifest, const uint8_t wrapped[MANIFEST_WRAPPED_KEY_BYTES])
{
    char hex[2 * MANIFEST_WRAPPED_KEY_BYTES + 1];
    char idHex[2 * CRYPTO_KEY_ID_BYTES + 1];
    uint8_t id[CRYPTO_KEY_ID_BYTES];
    ErrCode code = cryptoWrappedKeyId(wrapped, MANIFEST_WRAPPED_KEY_BYTES, id);
    if (code != ERR_OK)
        return code;
    sodium_bin2hex(hex, sizeof(hex), wrapped, MANIFEST_WRAPPED_KEY_BYTES);
    cryptoKeyIdHex(id, idHex);
    manifestSetString(&manifest->encryption.wrappedKey, hex);
    manifestSetString(&manifest->encryption.keyId, idHex);
    return ERR_OK;
}

ErrCode manifestSeal(Manifest *manifest, const uint8_t dataKey[MANIFEST_DATA_KEY_BYTES],
                     const uint8_t wrapped[MANIFEST_WRAPPED_KEY_BYTES],
                     const uint8_t keySection[MANIFEST_KEY_SECTION_BYTES])
{
    _Static_assert(MANIFEST_WRAPPED_KEY_BYTES == CRYPTO_WRAPPED_KEY_BYTES, "wrapped key size");
    _Static_assert(MANIFEST_DATA_KEY_BYTES == CRYPTO_KEY_BYTES, "data key size");
    ErrCode code = cryptoInit();
    if (code == ERR_OK)
        code = manifestSetWrappedKey(manifest, wrapped);
    if (code != ERR_OK)
        return code;
    manifest->encryption.present = true;
    manifestSetString(&manifest->encryption.mac, NULL);
    manifestSetString(&manifest->encryption.sealed, NULL);
    AuthFields fields;
    authCollect(manifest, keySection, &fields);
    uint8_t mac[CRYPTO_MANIFEST_MAC_BYTES];
    code = cryptoManifestMac(dataKey, fields.fields, fields.count, mac);
    authFree(&fields);
    Buffer sealed;
    bufferInit(&sealed);
    if (code == ERR_OK) {
        json_object *private = manifestPrivateJson(manifest);
        const char *text = json_object_to_json_string_ext(private, CANONICAL_FLAGS);
        code = cryptoManifestSeal(dataKey, mac, (const uint8_t *)text, strlen(text), &sealed);
        json_object_put(private);
    }
    if (code == ERR_OK) {
        char macHex[2 * CRYPTO_MANIFEST_MAC_BYTES + 1];
        sodium_bin2hex(macHex, sizeof(macHex), mac, sizeof(mac));
        manifestSetString(&manifest->encryption.mac, macHex);
        size_t size = sodium_base64_encoded_len(sealed.length, sodium_base64_VARIANT_ORIGINAL);
        char *base64 = memAlloc(size);
        sodium_bin2base64(base64, size, sealed.data, sealed.length, sodium_base64_VARIANT_ORIGINAL);
        free(manifest->encryption.sealed);
        manifest->encryption.sealed = base64;
    } else {
        manifest->encryption.present = false;
    }
    bufferFree(&sealed);
    return code;
}

/* Replaces the private members with those of the opened private part. */
static ErrCode readPrivate(Manifest *manifest, const uint8_t *text, size_t length, ParseProblem *problem)
{
    if (length > MANIFEST_MAX_BYTES || memchr(text, '\0', length))
        return parseFail(problem, "the private part is not JSON text");
    json_tokener *tokener = json_tokener_new();
    if (!tokener)
        memOutOfMemory("json-c tokener");
    json_tokener_set_flags(tokener, JSON_TOKENER_VALIDATE_UTF8 | JSON_TOKENER_STRICT);
    json_object *root = json_tokener_parse_ex(tokener, (const char *)text, (int)length);
    bool complete = json_tokener_get_error(tokener) == json_tokener_success &&
                    json_tokener_get_parse_end(tokener) == length;
    json_tokener_free(tokener);
    ErrCode code = ERR_OK;
    if (!root || !complete || !json_object_is_type(root, json_type_object))
        code = parseFail(problem, "the private part is not a JSON object");
    freeCounts(manifest->stats.labels, manifest->stats.labelCount);
    freeCounts(manifest->stats.types, manifest->stats.typeCount);
    manifest->stats.labels = manifest->stats.types = NULL;
    manifest->stats.labelCount = manifest->stats.typeCount = 0;
    for (size_t index = 0; index < manifest->schemaCount; index++) {
        ManifestSchemaItem *item = &manifest->schema[index];
        free(item->name), free(item->type), free(item->kind), free(item->createStatement);
        free(item->state), free(item->failureMessage);
    }
    free(manifest->schema);
    manifest->schema = NULL;
    manifest->schemaCount = 0;
    manifestSetString(&manifest->source.uri, NULL);
    manifestSetString(&manifest->contentFingerprint, NULL);
    json_object *source = NULL, *stats = NULL;
    if (code == ERR_OK
        && (readObject(root, "source", &source, problem) != ERR_OK
            || readObject(root, "stats", &stats, problem) != ERR_OK
            || (source && readString(source, "uri", &manifest->source.uri, problem) != ERR_OK)
            || (stats && readCounts(stats, "labels", &manifest->stats.labels, &manifest->stats.labelCount, problem)
                             != ERR_OK)
            || (stats && readCounts(stats, "types", &manifest->stats.types, &manifest->stats.typeCount, problem)
                             != ERR_OK)
            || readSchema(root, manifest, problem) != ERR_OK
            || readString(root, "content_fingerprint", &manifest->contentFingerprint, problem) != ERR_OK))
        code = BACKUP_CORRUPTED;
    if (root)
        json_object_put(root);
    return code;
}

ErrCode manifestUnseal(Manifest *manifest, const uint8_t dataKey[MANIFEST_DATA_KEY_BYTES],
                       const uint8_t keySection[MANIFEST_KEY_SECTION_BYTES])
{
    if (!manifest->encryption.present)
        return ERR_OK;
    ErrCode code = cryptoInit();
    if (code != ERR_OK)
        return code;
    const char *id = manifest->id ? manifest->id : "the backup";
    uint8_t mac[CRYPTO_MANIFEST_MAC_BYTES];
    if (!hexDecode(manifest->encryption.mac, mac, sizeof(mac)))
        return errSet(BACKUP_CORRUPTED, "manifest authentication failed for %s: the MAC is not 64 hex digits", id);
    AuthFields fields;
    authCollect(manifest, keySection, &fields);
    code = cryptoManifestVerify(dataKey, fields.fields, fields.count, mac, sizeof(mac));
    authFree(&fields);
    if (code != ERR_OK)
        return errSet(BACKUP_CORRUPTED,
                      "manifest authentication failed for %s: a protected field (counts, sizes, checksum, "
                      "times...) was changed, or the manifest belongs to another backup", id);
    const char *base64 = manifest->encryption.sealed;
    size_t capacity = strlen(base64) / 4 * 3 + 3;
    uint8_t *sealed = memAlloc(capacity);
    size_t sealedLength = 0;
    Buffer plain;
    bufferInit(&plain);
    if (sodium_base642bin(sealed, capacity, base64, strlen(base64), NULL, &sealedLength, NULL,
                          sodium_base64_VARIANT_ORIGINAL) != 0)
        code = errSet(BACKUP_CORRUPTED, "manifest damaged: the private part of %s is not base64", id);
    if (code == ERR_OK && cryptoManifestOpen(dataKey, mac, sealed, sealedLength, &plain) != ERR_OK)
        code = errSet(BACKUP_CORRUPTED, "manifest private part failed authentication (%s)", id);
    ParseProblem problem = {{0}};
    if (code == ERR_OK && readPrivate(manifest, plain.data, plain.length, &problem) != ERR_OK)
        code = errSet(BACKUP_CORRUPTED, "manifest damaged: %s (%s)", problem.reason, id);
    sodium_memzero(plain.data, plain.length);
    bufferFree(&plain);
    free(sealed);
    if (code == ERR_OK)
        manifest->privateOpen = true;
    return code;
}
