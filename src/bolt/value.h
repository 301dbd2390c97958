/* The value model: every value Neo4j can send or receive over Bolt.
 *
 * Ownership: values never own memory on their own. Every string, list, map and
 * structure is allocated from an Arena, and lives exactly as long as that
 * arena (until arenaReset or arenaFree). A result stream decodes each record
 * into its own arena, so a record is valid only until the next fetch: copy
 * with boltValueCopy into your own arena to keep it.
 *
 * Structures are kept as (tag, fields) exactly as they travel, so a value
 * decoded and encoded again is byte-identical; the typed accessors below read
 * the fields of the known tags. DateTime values are always in the UTC-based
 * form of Bolt 5 (tags 'I' and 'i'): on Bolt 4.4 the connection asks for the
 * "utc" patch and refuses a server that does not accept it (connection.c). */
#ifndef NBK_BOLT_VALUE_H
#define NBK_BOLT_VALUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- Arena ------------------------------------------------------------ */
typedef struct Arena Arena;

Arena *arenaNew(size_t blockSize);            /* blockSize 0 = 64 KiB default */
void *arenaAlloc(Arena *arena, size_t size);  /* 16-byte aligned; aborts on OOM */
char *arenaStrndup(Arena *arena, const char *text, size_t length); /* NUL-terminates */
void arenaReset(Arena *arena);                /* frees all but the first block */
size_t arenaBytesUsed(const Arena *arena);
void arenaFree(Arena *arena);

/* ---- Values ----------------------------------------------------------- */
typedef enum {
    BOLT_NULL,
    BOLT_BOOL,
    BOLT_INT,
    BOLT_FLOAT,
    BOLT_STRING,
    BOLT_BYTES,
    BOLT_LIST,
    BOLT_MAP,
    BOLT_STRUCT,
} BoltType;

/* Structure tags (bolt-facts.md §4). */
enum {
    BOLT_TAG_NODE = 0x4E,                 /* N: id, labels, props[, element_id] */
    BOLT_TAG_RELATIONSHIP = 0x52,         /* R: id, start, end, type, props[, eids x3] */
    BOLT_TAG_UNBOUND_RELATIONSHIP = 0x72, /* r: id, type, props[, element_id] */
    BOLT_TAG_PATH = 0x50,                 /* P: nodes, rels, indices */
    BOLT_TAG_DATE = 0x44,                 /* D: days */
    BOLT_TAG_TIME = 0x54,                 /* T: nanos, tz_offset_seconds */
    BOLT_TAG_LOCAL_TIME = 0x74,           /* t: nanos */
    BOLT_TAG_DATE_TIME = 0x49,            /* I: utc seconds, nanos, tz_offset_seconds */
    BOLT_TAG_DATE_TIME_ZONE_ID = 0x69,    /* i: utc seconds, nanos, tz_id */
    BOLT_TAG_LEGACY_DATE_TIME = 0x46,     /* F: local seconds, nanos, offset (4.4) */
    BOLT_TAG_LEGACY_DATE_TIME_ZONE_ID = 0x66, /* f: local seconds, nanos, tz_id (4.4) */
    BOLT_TAG_LOCAL_DATE_TIME = 0x64,      /* d: seconds, nanos */
    BOLT_TAG_DURATION = 0x45,             /* E: months, days, seconds, nanos */
    BOLT_TAG_POINT_2D = 0x58,             /* X: srid, x, y */
    BOLT_TAG_POINT_3D = 0x59,             /* Y: srid, x, y, z */
    BOLT_TAG_VECTOR = 0x56,               /* V: type marker (1 byte), data (6.0+) */
    BOLT_TAG_UNSUPPORTED = 0x3F,          /* ?: name, min_major, min_minor, extra (6.0+) */
};

typedef struct BoltValue BoltValue;
typedef struct BoltMapEntry BoltMapEntry;

struct BoltValue {
    BoltType type;
    union {
        bool boolean;
        int64_t integer;
        double real;
        struct { const char *data; uint32_t length; } string; /* UTF-8, NUL-terminated too */
        struct { const uint8_t *data; uint32_t length; } bytes;
        struct { BoltValue *items; uint32_t count; } list;
        struct { BoltMapEntry *entries; uint32_t count; } map;
        struct { uint8_t tag; uint8_t count; BoltValue *fields; } structure;
    } as;
};

struct BoltMapEntry {
    BoltValue key; /* always BOLT_STRING */
    BoltValue value;
};

/* Constructors: scalars need no arena; strings/bytes are copied into it. */
BoltValue boltNull(void);
BoltValue boltBool(bool value);
BoltValue boltInt(int64_t value);
BoltValue boltFloat(double value);
BoltValue boltString(Arena *arena, const char *text);             /* copies */
BoltValue boltStringN(Arena *arena, const char *text, size_t length);
BoltValue boltBytes(Arena *arena, const uint8_t *data, size_t length);
BoltValue boltList(Arena *arena, uint32_t count);     /* items set to null; fill them */
BoltValue boltMap(Arena *arena, uint32_t count);      /* entries zeroed; fill them */
BoltValue boltStruct(Arena *arena, uint8_t tag, uint8_t count);
/* Sets entry index of a map value built with boltMap. */
void boltMapSet(Arena *arena, BoltValue *map, uint32_t index, const char *key, BoltValue value);

/* Map lookup by key (last duplicate wins, as PackStream says); NULL if absent. */
const BoltValue *boltMapGet(const BoltValue *map, const char *key);
/* Convenience getters with a fallback when the key is absent or of another type. */
int64_t boltMapGetInt(const BoltValue *map, const char *key, int64_t fallback);
const char *boltMapGetString(const BoltValue *map, const char *key, const char *fallback);
bool boltMapGetBool(const BoltValue *map, const char *key, bool fallback);

/* Deep copy into another arena. */
BoltValue boltValueCopy(Arena *arena, const BoltValue *value);
/* Exact equality: floats compare by bit pattern (NaN == NaN, -0.0 != 0.0),
 * maps compare as key sets regardless of entry order. */
bool boltValueEqual(const BoltValue *left, const BoltValue *right);
/* Human-readable rendering for logs and tests (Cypher-like literal syntax). */
size_t boltValueFormat(char *buffer, size_t size, const BoltValue *value);
const char *boltTypeName(const BoltValue *value); /* "Integer", "Date", "Node", ... */

/* A map that a newer server sends in place of a value the negotiated Bolt
 * version cannot carry (e.g. a vector over 5.x). Such values must never be
 * stored as if they were data. Returns true and the type name if found
 * anywhere inside value (recursively). */
bool boltValueFindPlaceholder(const BoltValue *value, const char **typeNameOut);

#endif
