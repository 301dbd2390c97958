/* PackStream v1 codec (bolt-facts.md §3).
 *
 * The decoder is on the hot path of a backup (every record of every node and
 * relationship passes through it), so it is a single switch on the marker,
 * allocates only from the arena, and checks every declared size against the
 * bytes actually left before it allocates anything. */
#include "bolt/packstream.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- Encoding ---------------------------------------------------------- */

/* Programming errors (a structure with more than 15 fields, a string longer
 * than PackStream can express) cannot be reported through a void writer;
 * emitting a corrupt stream instead would be worse, so stop loudly. */
static void packMisuse(const char *what)
{
    fprintf(stderr, "CRITICAL: PackStream encoder misuse: %s\n", what);
    abort();
}

/* Callers reserve first; these write without further checks. */
static inline uint8_t *packTail(Buffer *out) { return out->data + out->length; }

static inline void putU16(uint8_t *at, uint16_t value)
{
    at[0] = (uint8_t)(value >> 8);
    at[1] = (uint8_t)value;
}

static inline void putU32(uint8_t *at, uint32_t value)
{
    at[0] = (uint8_t)(value >> 24);
    at[1] = (uint8_t)(value >> 16);
    at[2] = (uint8_t)(value >> 8);
    at[3] = (uint8_t)value;
}

static inline void putU64(uint8_t *at, uint64_t value)
{
    putU32(at, (uint32_t)(value >> 32));
    putU32(at + 4, (uint32_t)value);
}

void packNull(Buffer *out) { bufferAppendByte(out, 0xC0); }

void packBool(Buffer *out, bool value) { bufferAppendByte(out, value ? 0xC3 : 0xC2); }

void packInt(Buffer *out, int64_t value)
{
    bufferReserve(out, 9);
    uint8_t *at = packTail(out);
    if (value >= -16 && value <= 127) {
        at[0] = (uint8_t)(int8_t)value;
        out->length += 1;
    } else if (value >= INT8_MIN && value <= INT8_MAX) {
        at[0] = 0xC8;
        at[1] = (uint8_t)(int8_t)value;
        out->length += 2;
    } else if (value >= INT16_MIN && value <= INT16_MAX) {
        at[0] = 0xC9;
        putU16(at + 1, (uint16_t)(int16_t)value);
        out->length += 3;
    } else if (value >= INT32_MIN && value <= INT32_MAX) {
        at[0] = 0xCA;
        putU32(at + 1, (uint32_t)(int32_t)value);
        out->length += 5;
    } else {
        at[0] = 0xCB;
        putU64(at + 1, (uint64_t)value);
        out->length += 9;
    }
}

void packFloat(Buffer *out, double value)
{
    /* Bits are copied as-is, so NaN payloads and -0.0 survive a round trip. */
    uint64_t bits;
    memcpy(&bits, &value, sizeof(bits));
    bufferReserve(out, 9);
    uint8_t *at = packTail(out);
    at[0] = 0xC1;
    putU64(at + 1, bits);
    out->length += 9;
}

/* Writes the size header of a string/bytes/list/map. tinyBase is 0 for types
 * without a tiny form (bytes); marker8 is followed by marker16 and marker32. */
static void packSizedHeader(Buffer *out, uint8_t tinyBase, uint8_t marker8, size_t size)
{
    if (size > UINT32_MAX)
        packMisuse("size does not fit in 32 bits");
    bufferReserve(out, 5);
    uint8_t *at = packTail(out);
    if (tinyBase && size < 16) {
        at[0] = (uint8_t)(tinyBase | size);
        out->length += 1;
    } else if (size <= UINT8_MAX) {
        at[0] = marker8;
        at[1] = (uint8_t)size;
        out->length += 2;
    } else if (size <= UINT16_MAX) {
        at[0] = (uint8_t)(marker8 + 1);
        putU16(at + 1, (uint16_t)size);
        out->length += 3;
    } else {
        at[0] = (uint8_t)(marker8 + 2);
        putU32(at + 1, (uint32_t)size);
        out->length += 5;
    }
}

void packString(Buffer *out, const char *data, size_t length)
{
    packSizedHeader(out, 0x80, 0xD0, length);
    bufferAppend(out, data, length);
}

void packBytes(Buffer *out, const uint8_t *data, size_t length)
{
    packSizedHeader(out, 0, 0xCC, length);
    bufferAppend(out, data, length);
}

void packListHeader(Buffer *out, uint32_t count) { packSizedHeader(out, 0x90, 0xD4, count); }

void packMapHeader(Buffer *out, uint32_t count) { packSizedHeader(out, 0xA0, 0xD8, count); }

void packStructHeader(Buffer *out, uint8_t tag, uint8_t fieldCount)
{
    if (fieldCount > 15)
        packMisuse("a structure has at most 15 fields");
    bufferReserve(out, 2);
    uint8_t *at = packTail(out);
    at[0] = (uint8_t)(0xB0 | fieldCount);
    at[1] = tag;
    out->length += 2;
}

void packValue(Buffer *out, const BoltValue *value)
{
    switch (value->type) {
    case BOLT_NULL:
        packNull(out);
        return;
    case BOLT_BOOL:
        packBool(out, value->as.boolean);
        return;
    case BOLT_INT:
        packInt(out, value->as.integer);
        return;
    case BOLT_FLOAT:
        packFloat(out, value->as.real);
        return;
    case BOLT_STRING:
        packString(out, value->as.string.data, value->as.string.length);
        return;
    case BOLT_BYTES:
        packBytes(out, value->as.bytes.data, value->as.bytes.length);
        return;
    case BOLT_LIST:
        packListHeader(out, value->as.list.count);
        for (uint32_t index = 0; index < value->as.list.count; index++)
            packValue(out, &value->as.list.items[index]);
        return;
    case BOLT_MAP:
        packMapHeader(out, value->as.map.count);
        for (uint32_t index = 0; index < value->as.map.count; index++) {
            const BoltMapEntry *entry = &value->as.map.entries[index];
            if (entry->key.type != BOLT_STRING)
                packMisuse("map key is not a string");
            packString(out, entry->key.as.string.data, entry->key.as.string.length);
            packValue(out, &entry->value);
        }
        return;
    case BOLT_STRUCT:
        packStructHeader(out, value->as.structure.tag, value->as.structure.count);
        for (uint8_t index = 0; index < value->as.structure.count; index++)
            packValue(out, &value->as.structure.fields[index]);
        return;
    }
    packMisuse("unknown value type");
}

/* ---- Decoding ---------------------------------------------------------- */

void packReaderInit(PackReader *reader, const uint8_t *data, size_t length)
{
    reader->data = data;
    reader->length = length;
    reader->offset = 0;
    reader->decodedLimit = 0;
    reader->decoded = 0;
}

void packReaderLimitDecoded(PackReader *reader, size_t maxBytes)
{
    reader->decodedLimit = maxBytes;
}

/* Counts an arena allocation of size bytes against the reader's limit, as
 * arenaAlloc rounds it (16 bytes), before it is made. */
static ErrCode chargeDecoded(PackReader *reader, size_t markerOffset, uint64_t size)
{
    uint64_t rounded = (size + 15u) & ~(uint64_t)15u;
    reader->decoded += (size_t)rounded;
    if (reader->decodedLimit && (rounded > reader->decodedLimit || reader->decoded > reader->decodedLimit))
        return errSet(NEO4J_PROTOCOL_ERROR,
                      "PackStream: the value decodes to more than %zu bytes of memory (at byte offset %zu)",
                      reader->decodedLimit, markerOffset);
    return ERR_OK;
}

static inline uint16_t getU16(const uint8_t *at) { return (uint16_t)((at[0] << 8) | at[1]); }

static inline uint32_t getU32(const uint8_t *at)
{
    return ((uint32_t)at[0] << 24) | ((uint32_t)at[1] << 16) | ((uint32_t)at[2] << 8) | at[3];
}

static inline uint64_t getU64(const uint8_t *at) { return ((uint64_t)getU32(at) << 32) | getU32(at + 4); }

static ErrCode failTruncated(const PackReader *reader, size_t markerOffset, const char *what, uint64_t needed)
{
    return errSet(NEO4J_PROTOCOL_ERROR,
                  "PackStream: truncated %s at byte offset %zu: needs at least %llu more bytes, %zu left", what,
                  markerOffset, (unsigned long long)needed, reader->length - reader->offset);
}

/* Reads the 1/2/4-byte size that follows a marker. */
static inline bool readSize(PackReader *reader, unsigned width, uint32_t *size)
{
    if (reader->length - reader->offset < width)
        return false;
    const uint8_t *at = reader->data + reader->offset;
    *size = width == 1 ? at[0] : width == 2 ? getU16(at) : getU32(at);
    reader->offset += width;
    return true;
}

static ErrCode unpackAt(PackReader *reader, Arena *arena, BoltValue *out, unsigned depth);

static ErrCode unpackStringBody(PackReader *reader, Arena *arena, BoltValue *out, size_t markerOffset,
                                uint32_t length)
{
    if (length > reader->length - reader->offset)
        return failTruncated(reader, markerOffset, "string", length);
    ErrCode charged = chargeDecoded(reader, markerOffset, (uint64_t)length + 1);
    if (charged != ERR_OK)
        return charged;
    out->type = BOLT_STRING;
    out->as.string.data = arenaStrndup(arena, (const char *)reader->data + reader->offset, length);
    out->as.string.length = length;
    reader->offset += length;
    return ERR_OK;
}

static ErrCode unpackList(PackReader *reader, Arena *arena, BoltValue *out, size_t markerOffset,
                          uint32_t count, unsigned depth)
{
    /* Every item takes at least one byte: reject impossible counts before
     * allocating count items. */
    if (count > reader->length - reader->offset)
        return failTruncated(reader, markerOffset, "list", count);
    if (depth >= PACKSTREAM_MAX_DEPTH)
        return errSet(NEO4J_PROTOCOL_ERROR, "PackStream: nesting deeper than %d at byte offset %zu",
                      PACKSTREAM_MAX_DEPTH, markerOffset);
    ErrCode charged = chargeDecoded(reader, markerOffset, (uint64_t)count * sizeof(BoltValue));
    if (charged != ERR_OK)
        return charged;
    BoltValue *items = arenaAlloc(arena, (size_t)count * sizeof(BoltValue));
    for (uint32_t index = 0; index < count; index++) {
        ErrCode code = unpackAt(reader, arena, &items[index], depth + 1);
        if (code != ERR_OK)
            return code;
    }
    out->type = BOLT_LIST;
    out->as.list.items = items;
    out->as.list.count = count;
    return ERR_OK;
}

static ErrCode unpackMap(PackReader *reader, Arena *arena, BoltValue *out, size_t markerOffset,
                         uint32_t count, unsigned depth)
{
    /* Every entry takes at least two bytes (a tiny key and a tiny value). */
    if ((uint64_t)count * 2 > reader->length - reader->offset)
        return failTruncated(reader, markerOffset, "map", (uint64_t)count * 2);
    if (depth >= PACKSTREAM_MAX_DEPTH)
        return errSet(NEO4J_PROTOCOL_ERROR, "PackStream: nesting deeper than %d at byte offset %zu",
                      PACKSTREAM_MAX_DEPTH, markerOffset);
    ErrCode charged = chargeDecoded(reader, markerOffset, (uint64_t)count * sizeof(BoltMapEntry));
    if (charged != ERR_OK)
        return charged;
    BoltMapEntry *entries = arenaAlloc(arena, (size_t)count * sizeof(BoltMapEntry));
    for (uint32_t index = 0; index < count; index++) {
        size_t keyOffset = reader->offset;
        if (keyOffset >= reader->length)
            return failTruncated(reader, markerOffset, "map", 2);
        uint8_t keyMarker = reader->data[keyOffset];
        uint32_t keyLength;
        reader->offset++;
        if (keyMarker >= 0x80 && keyMarker <= 0x8F) {
            keyLength = keyMarker & 0x0F;
        } else if (keyMarker >= 0xD0 && keyMarker <= 0xD2) {
            static const unsigned widths[] = {1, 2, 4};
            if (!readSize(reader, widths[keyMarker - 0xD0], &keyLength))
                return failTruncated(reader, keyOffset, "string size", widths[keyMarker - 0xD0]);
        } else {
            return errSet(NEO4J_PROTOCOL_ERROR,
                          "PackStream: map key is not a string (marker 0x%02X) at byte offset %zu",
                          keyMarker, keyOffset);
        }
        ErrCode code = unpackStringBody(reader, arena, &entries[index].key, keyOffset, keyLength);
        if (code == ERR_OK)
            code = unpackAt(reader, arena, &entries[index].value, depth + 1);
        if (code != ERR_OK)
            return code;
    }
    out->type = BOLT_MAP;
    out->as.map.entries = entries;
    out->as.map.count = count;
    return ERR_OK;
}

static ErrCode unpackAt(PackReader *reader, Arena *arena, BoltValue *out, unsigned depth)
{
    size_t markerOffset = reader->offset;
    if (markerOffset >= reader->length)
        return errSet(NEO4J_PROTOCOL_ERROR, "PackStream: input ends at byte offset %zu where a value was expected",
                      markerOffset);
    uint8_t marker = reader->data[markerOffset];
    reader->offset++;
    size_t left = reader->length - reader->offset;
    const uint8_t *at = reader->data + reader->offset;
    uint32_t size;

    /* Tiny forms first: the high nibble says it all. */
    if (marker < 0x80 || marker >= 0xF0) {
        out->type = BOLT_INT;
        out->as.integer = (int8_t)marker;
        return ERR_OK;
    }
    switch (marker >> 4) {
    case 0x8:
        return unpackStringBody(reader, arena, out, markerOffset, marker & 0x0F);
    case 0x9:
        return unpackList(reader, arena, out, markerOffset, marker & 0x0F, depth);
    case 0xA:
        return unpackMap(reader, arena, out, markerOffset, marker & 0x0F, depth);
    case 0xB: {
        uint8_t count = marker & 0x0F;
        /* tag byte + at least one byte per field */
        if ((size_t)count + 1 > left)
            return failTruncated(reader, markerOffset, "structure", (uint64_t)count + 1);
        if (depth >= PACKSTREAM_MAX_DEPTH)
            return errSet(NEO4J_PROTOCOL_ERROR, "PackStream: nesting deeper than %d at byte offset %zu",
                          PACKSTREAM_MAX_DEPTH, markerOffset);
        uint8_t tag = at[0];
        reader->offset++;
        ErrCode charged = chargeDecoded(reader, markerOffset, (uint64_t)count * sizeof(BoltValue));
        if (charged != ERR_OK)
            return charged;
        BoltValue *fields = arenaAlloc(arena, (size_t)count * sizeof(BoltValue));
        for (uint8_t index = 0; index < count; index++) {
            ErrCode code = unpackAt(reader, arena, &fields[index], depth + 1);
            if (code != ERR_OK)
                return code;
        }
        out->type = BOLT_STRUCT;
        out->as.structure.tag = tag;
        out->as.structure.count = count;
        out->as.structure.fields = fields;
        return ERR_OK;
    }
    default:
        break;
    }

    switch (marker) {
    case 0xC0:
        out->type = BOLT_NULL;
        return ERR_OK;
    case 0xC2:
    case 0xC3:
        out->type = BOLT_BOOL;
        out->as.boolean = marker == 0xC3;
        return ERR_OK;
    case 0xC1: {
        if (left < 8)
            return failTruncated(reader, markerOffset, "float", 8);
        uint64_t bits = getU64(at);
        out->type = BOLT_FLOAT;
        memcpy(&out->as.real, &bits, sizeof(bits));
        reader->offset += 8;
        return ERR_OK;
    }
    case 0xC8:
        if (left < 1)
            return failTruncated(reader, markerOffset, "INT_8", 1);
        out->type = BOLT_INT;
        out->as.integer = (int8_t)at[0];
        reader->offset += 1;
        return ERR_OK;
    case 0xC9:
        if (left < 2)
            return failTruncated(reader, markerOffset, "INT_16", 2);
        out->type = BOLT_INT;
        out->as.integer = (int16_t)getU16(at);
        reader->offset += 2;
        return ERR_OK;
    case 0xCA:
        if (left < 4)
            return failTruncated(reader, markerOffset, "INT_32", 4);
        out->type = BOLT_INT;
        out->as.integer = (int32_t)getU32(at);
        reader->offset += 4;
        return ERR_OK;
    case 0xCB:
        if (left < 8)
            return failTruncated(reader, markerOffset, "INT_64", 8);
        out->type = BOLT_INT;
        out->as.integer = (int64_t)getU64(at);
        reader->offset += 8;
        return ERR_OK;
    case 0xCC:
    case 0xCD:
    case 0xCE: {
        unsigned width = 1u << (marker - 0xCC);
        if (!readSize(reader, width, &size))
            return failTruncated(reader, markerOffset, "bytes size", width);
        if (size > reader->length - reader->offset)
            return failTruncated(reader, markerOffset, "bytes", size);
        ErrCode charged = chargeDecoded(reader, markerOffset, size);
        if (charged != ERR_OK)
            return charged;
        uint8_t *copy = arenaAlloc(arena, size);
        if (size)
            memcpy(copy, reader->data + reader->offset, size);
        out->type = BOLT_BYTES;
        out->as.bytes.data = copy;
        out->as.bytes.length = size;
        reader->offset += size;
        return ERR_OK;
    }
    case 0xD0:
    case 0xD1:
    case 0xD2: {
        unsigned width = 1u << (marker - 0xD0);
        if (!readSize(reader, width, &size))
            return failTruncated(reader, markerOffset, "string size", width);
        return unpackStringBody(reader, arena, out, markerOffset, size);
    }
    case 0xD4:
    case 0xD5:
    case 0xD6: {
        unsigned width = 1u << (marker - 0xD4);
        if (!readSize(reader, width, &size))
            return failTruncated(reader, markerOffset, "list size", width);
        return unpackList(reader, arena, out, markerOffset, size, depth);
    }
    case 0xD8:
    case 0xD9:
    case 0xDA: {
        unsigned width = 1u << (marker - 0xD8);
        if (!readSize(reader, width, &size))
            return failTruncated(reader, markerOffset, "map size", width);
        return unpackMap(reader, arena, out, markerOffset, size, depth);
    }
    default:
        /* C4-C7, CF, D3, D7, DB-DF, E0-EF: reserved (DC/DD were STRUCT_8/16
         * in PackStream v0 and are not allowed any more). */
        return errSet(NEO4J_PROTOCOL_ERROR, "PackStream: reserved marker 0x%02X at byte offset %zu", marker,
                      markerOffset);
    }
}

ErrCode unpackValue(PackReader *reader, Arena *arena, BoltValue *out)
{
    size_t start = reader->offset;
    size_t decodedBefore = reader->decoded;
    ErrCode code = unpackAt(reader, arena, out, 0);
    if (code != ERR_OK) {
        /* Leave the reader where it was, and never a half-built value. */
        reader->offset = start;
        reader->decoded = decodedBefore;
        out->type = BOLT_NULL;
    }
    return code;
}
