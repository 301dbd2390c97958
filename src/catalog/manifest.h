/* The manifest: manifest.json inside each backup directory describes the
 * backup (id, times, status, method, source server, archive sizes and
 * SHA-256, graph statistics, schema, durations, keep flag).
 *
 * Self-checking: the file carries "manifest_sha256", the SHA-256 (hex) of the
 * CANONICAL form of the manifest, defined as the json-c serialization
 * (JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE) of the top-level
 * object without the "manifest_sha256" key, keys in file order. json-c keeps
 * key order and the source text of numbers, so parsing and re-serializing a
 * file reproduces the text that was hashed when it was written. The file on
 * disk is pretty-printed; only the canonical form is hashed.
 *
 * Saved atomically twice, manifest.json and manifest.json.copy. Loading
 * verifies the checksum of the first, falls back to the copy, and reports
 * which one was used; both damaged gives BACKUP_CORRUPTED "manifest damaged".
 *
 * Unknown top-level keys (written by a newer tool of the same format version)
 * are preserved through load/save in `extra`. Nested unknown keys are not.
 *
 * Ownership: a Manifest and everything it points to belong to it; strings are
 * heap copies (NULL = absent) released by manifestFree. Set them with
 * manifestSetString so the old value is freed. */
#ifndef NBK_CATALOG_MANIFEST_H
#define NBK_CATALOG_MANIFEST_H

#include "common/buffer.h"
#include "common/error.h"
#include "graph/counts.h"
#include "storage/storage.h"

#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MANIFEST_FORMAT_VERSION 1
#define MANIFEST_FILE_NAME "manifest.json"
#define MANIFEST_COPY_FILE_NAME "manifest.json.copy"
/* Largest manifest accepted when loading (the schema list can be long). */
#define MANIFEST_MAX_BYTES (64u * 1024u * 1024u)

/* Status values. A backup is usable when its status starts with "COMPLETE". */
#define MANIFEST_STATUS_COMPLETE "COMPLETE"
#define MANIFEST_STATUS_VALIDATED "COMPLETE, VALIDATED"
#define MANIFEST_STATUS_FAILED "FAILED"
#define MANIFEST_STATUS_CORRUPTED "CORRUPTED" /* validation found damage */

typedef struct {
    char *name;
    uint64_t count;
} ManifestCount;

typedef struct {
    char *name;            /* constraint or index name */
    char *type;            /* e.g. "UNIQUENESS", "RANGE", "FULLTEXT" */
    char *kind;            /* "constraint" | "index" */
    char *createStatement; /* the server's DDL, shown only (a restore rebuilds it) */
    char *state;           /* indexes: state at backup time ("ONLINE", "FAILED"); NULL if not recorded */
    char *failureMessage;  /* indexes that FAILED: the server's reason; NULL otherwise */
} ManifestSchemaItem;

typedef struct {
    int formatVersion;       /* MANIFEST_FORMAT_VERSION when written by us */
    char *id;                /* required */
    int64_t created;         /* required; epoch seconds UTC */
    int64_t expires;         /* 0 = absent */
    char *status;            /* required */
    int64_t validatedAt;     /* 0 = absent */
    char *failureReason;     /* why a FAILED backup failed */
    char *method;            /* "logical" | "dump" */
    struct {
        char *uri;           /* never with credentials */
        char *serverVersion; /* "5.26.0" */
        char *edition;       /* "community" | "enterprise" */
        char *boltVersion;   /* "5.4" */
        char *database;
    } source;
    char *toolVersion;
    char *compression;       /* "zstd" | "gzip" | "none" */
    struct {
        char *file;          /* file name inside the backup directory */
        uint64_t sizeCompressed;
        uint64_t sizeUncompressed;
        char *sha256;        /* 64 lowercase hex digits */
    } archive;
    struct {
        uint64_t nodes;
        uint64_t relationships;
        uint64_t schemaItems;
        ManifestCount *labels; /* nodes per label */
        size_t labelCount;
        ManifestCount *types;  /* relationships per type */
        size_t typeCount;
    } stats;
    ManifestSchemaItem *schema;
    size_t schemaCount;
    char *contentFingerprint;
    double durationSeconds;  /* written with millisecond precision */
    bool hasDowntime;
    double downtimeSeconds;  /* dump method: database offline time */
    bool keep;               /* operator's --keep: retention never deletes it */
    /* Differential backups (docs/differential.md). A full backup has
     * backupType "full" (NULL in manifests written before differentials:
     * also full) and no parent. A differential's archive holds only what
     * changed since its parent; stats, counts and the content fingerprint
     * describe the WHOLE graph at its time. */
    char *backupType;        /* MANIFEST_TYPE_FULL | MANIFEST_TYPE_DIFF; NULL = full */
    struct {
        char *id;            /* the parent backup's id */
        char *manifestSha256; /* manifestLinkSha256 of the parent, 64 hex digits */
    } parent;
    uint32_t chainDepth;     /* differentials since the full: 0 for a full, 1.. for a diff */
    struct {
        uint64_t nodes;         /* node records in this archive (new or changed) */
        uint64_t relationships; /* relationship records in this archive */
        uint64_t deletedNodes;
        uint64_t deletedRelationships;
    } changes;               /* diff only */
    /* Encryption at rest (docs/encryption.md section 3): present for a
     * format-2 backup. The private members (source.uri, stats.labels and
     * .types, schema, content_fingerprint) are then written only sealed,
     * inside `sealed`; in memory they are empty until manifestUnseal. */
    struct {
        bool present;
        char *keyId;         /* 32 hex digits: the wrapping master key's id */
        char *wrappedKey;    /* 178 hex digits: the wrapped data key */
        char *mac;           /* 64 hex digits: MAC over the protected fields */
        char *sealed;        /* base64 of the sealed private part */
    } encryption;
    bool privateOpen;        /* the private members are in memory (unsealed, or not encrypted) */
    json_object *extra;      /* unknown top-level keys, preserved; may be NULL */
} Manifest;

typedef enum {
    MANIFEST_FROM_PRIMARY, /* manifest.json was intact */
    MANIFEST_FROM_COPY,    /* manifest.json was damaged or missing; the copy was used */
} ManifestOrigin;

/* New zeroed manifest with formatVersion set. Never NULL (aborts on OOM). */
Manifest *manifestNew(void);
void manifestFree(Manifest *manifest);
/* Replaces *field with a copy of value (NULL clears). */
void manifestSetString(char **field, const char *value);
/* Appends a count / schema item (strings copied). */
void manifestAddLabel(Manifest *manifest, const char *label, uint64_t count);
void manifestAddType(Manifest *manifest, const char *type, uint64_t count);
/* Replaces stats.labels and stats.types with counts, sorted by name. */
void manifestSetCounts(Manifest *manifest, const GraphCounts *counts);
/* stats.labels and stats.types as GraphCounts (out zeroed first; the caller
 * frees it with graphCountsFree). */
void manifestGetCounts(const Manifest *manifest, GraphCounts *out);
/* False for manifests written before the maps were filled (both empty while
 * the backup has nodes or relationships): the per-label comparisons are then
 * skipped. A graph of unlabelled nodes only also answers false; comparing
 * its empty maps would prove nothing anyway. */
bool manifestHasCounts(const Manifest *manifest);
void manifestAddSchemaItem(Manifest *manifest, const char *name, const char *type, const char *kind,
                           const char *createStatement);
/* Sets the state and failure message of the last schema item added (copied;
 * NULL leaves a field out). */
void manifestSetSchemaState(Manifest *manifest, const char *state, const char *failureMessage);

/* ---- encryption (catalog/manifest_crypt.c, docs/encryption.md section 3) ---- */

/* Top-level fields left out of the MAC: the operator's and validation's
 * state, which --keep, --validate and retention change without the key. */
#define MANIFEST_MUTABLE_FIELDS "status, validated_at, keep"
/* Bytes of the data key, the wrapped key and the archive's key section. */
#define MANIFEST_DATA_KEY_BYTES 32
#define MANIFEST_WRAPPED_KEY_BYTES 89
#define MANIFEST_KEY_SECTION_BYTES 42

/* Makes manifest an encrypted one: records the wrapped data key and its
 * key id, MACs the protected fields (plus the archive's key section) with
 * the data key and seals the private members. Call after every other field
 * is set; a later change of a protected field breaks the MAC. */
ErrCode manifestSeal(Manifest *manifest, const uint8_t dataKey[MANIFEST_DATA_KEY_BYTES],
                     const uint8_t wrapped[MANIFEST_WRAPPED_KEY_BYTES],
                     const uint8_t keySection[MANIFEST_KEY_SECTION_BYTES]);
/* Checks the MAC of an encrypted manifest (BACKUP_CORRUPTED "manifest
 * authentication failed") and opens its private part into the manifest's
 * fields. ERR_OK without doing anything for an unencrypted manifest. */
ErrCode manifestUnseal(Manifest *manifest, const uint8_t dataKey[MANIFEST_DATA_KEY_BYTES],
                       const uint8_t keySection[MANIFEST_KEY_SECTION_BYTES]);
/* The wrapped data key's bytes (BACKUP_CORRUPTED when not 178 hex digits). */
ErrCode manifestWrappedKey(const Manifest *manifest, uint8_t wrapped[MANIFEST_WRAPPED_KEY_BYTES]);
/* Replaces the wrapped key (and key id) after --rotate-key; the MAC stays. */
ErrCode manifestSetWrappedKey(Manifest *manifest, const uint8_t wrapped[MANIFEST_WRAPPED_KEY_BYTES]);
/* The protected fields' canonical text, for tests and the fuzz target:
 * appended to out (see cryptoManifestCanonical). */
ErrCode manifestAuthCanonical(const Manifest *manifest, const uint8_t keySection[MANIFEST_KEY_SECTION_BYTES],
                              Buffer *out);

/* Names read from a manifest that become path components or arguments of
 * child commands: the backup id, source.database, archive.file, and the dump
 * method's dump.archives[].file/database. manifestParse refuses a manifest
 * (BACKUP_CORRUPTED) whose names break the rule, so that "../../x" or
 * "--expand-commands" never reaches a path or a command line. */
#define MANIFEST_NAME_RULE "ASCII letters, digits, '.', '_' and '-', starting with a letter or digit"
#define MANIFEST_DATABASE_NAME_MAX 63u /* Neo4j's own limit */
#define MANIFEST_FILE_NAME_MAX 255u
/* True when name follows MANIFEST_NAME_RULE and has 1..maxLength characters. */
bool manifestNameValid(const char *name, size_t maxLength);

#define MANIFEST_TYPE_FULL "full"
#define MANIFEST_TYPE_DIFF "diff"
/* Longest chain a manifest may declare (chain_depth); a link deeper than
 * this is refused as damaged, so that a hostile repository cannot make a
 * restore walk an endless chain. */
#define MANIFEST_CHAIN_DEPTH_MAX 1000u
/* True for a differential (backupType "diff"). */
bool manifestIsDiff(const Manifest *manifest);
/* The link digest a differential keeps of its parent: SHA-256 (hex) of the
 * canonical manifest without the fields that change after the backup is
 * written (status, validated_at, keep, and the wrapped key and key id that
 * --rotate-key replaces). So validating, keeping or re-keying a parent does
 * not break its children, and any other change to it does. */
void manifestLinkSha256(const Manifest *manifest, char hex[65]);

/* True when status starts with "COMPLETE" (a restorable backup). */
bool manifestIsValid(const Manifest *manifest);

/* JSON object of the manifest without manifest_sha256 (new reference, caller
 * puts it): known keys in a fixed order, then the preserved unknown ones.
 * This is also the shape of one backup in `--list --json`. */
json_object *manifestToJson(const Manifest *manifest);
/* Full file text (pretty, with manifest_sha256), malloc'd; caller frees. */
char *manifestSerialize(const Manifest *manifest);

typedef enum {
    MANIFEST_PARSE_VERIFY = 1, /* require a correct manifest_sha256 */
} ManifestParseFlags;

/* Parses manifest text. Errors are BACKUP_CORRUPTED with the reason (bad JSON,
 * missing or mistyped field, checksum mismatch, newer format version). */
ErrCode manifestParse(const char *text, size_t length, unsigned flags, Manifest **out);

/* Writes manifest.json and manifest.json.copy into directory dir of storage
 * ("" = its root), each atomically, replacing the old ones: the primary
 * first, so that a crash in between leaves one that verifies. */
ErrCode manifestSaveTo(Storage *storage, const char *dir, const Manifest *manifest);
/* Loads and verifies dir's manifest.json, falling back to the copy (logged
 * as a warning). origin may be NULL. A file larger than MANIFEST_MAX_BYTES,
 * a link or a special file counts as damaged. Both damaged: BACKUP_CORRUPTED
 * "manifest damaged: <dir> (manifest.json: ...; manifest.json.copy: ...)",
 * <dir> being the directory's path on a posix storage. */
ErrCode manifestLoadFrom(Storage *storage, const char *dir, Manifest **out, ManifestOrigin *origin);

/* The same on the directory at dirPath (a posix storage opened on it), for
 * callers outside the catalog that still work with paths (the backup writer
 * fills its temporary directory by path). A missing dirPath fails as
 * storagePosixOpen does. */
ErrCode manifestSave(const Manifest *manifest, const char *dirPath);
ErrCode manifestLoad(const char *dirPath, Manifest **out, ManifestOrigin *origin);

#endif
