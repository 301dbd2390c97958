/* PackStream v1 codec (bolt-facts.md §3). Knows nothing about sockets.
 *
 * Encoding appends to a growable Buffer. Decoding reads from a byte range,
 * allocating values in an Arena; it never trusts sizes from the input: every
 * length is checked against the bytes actually present, and nesting depth is
 * bounded, so hostile input yields an error, never a crash or a huge
 * allocation. */
#ifndef NBK_BOLT_PACKSTREAM_H
#define NBK_BOLT_PACKSTREAM_H

#include "bolt/value.h"
#include "common/buffer.h"
#include "common/error.h"

#define PACKSTREAM_MAX_DEPTH 64

/* Appends the smallest encoding of value. */
void packValue(Buffer *out, const BoltValue *value);
/* Low-level writers for streaming encoders (e.g. the backup writer emits a
 * list header and then its items without building a BoltValue tree). */
void packNull(Buffer *out);
void packBool(Buffer *out, bool value);
void packInt(Buffer *out, int64_t value);
void packFloat(Buffer *out, double value);
void packString(Buffer *out, const char *data, size_t length);
void packBytes(Buffer *out, const uint8_t *data, size_t length);
void packListHeader(Buffer *out, uint32_t count);
void packMapHeader(Buffer *out, uint32_t count);
void packStructHeader(Buffer *out, uint8_t tag, uint8_t fieldCount);

typedef struct {
    const uint8_t *data;
    size_t length;
    size_t offset;
    size_t decodedLimit; /* 0: no limit (see packReaderLimitDecoded) */
    size_t decoded;      /* arena bytes the values decoded so far take */
} PackReader;

void packReaderInit(PackReader *reader, const uint8_t *data, size_t length);
/* Bounds the arena memory that the values decoded through reader may take
 * (value slots of lists, maps and structures, string and byte copies, each
 * counted as the arena rounds it). A tiny encoding can stand for a large
 * value: a list of 20 million empty strings is 20 MB of PackStream and
 * 800 MB decoded. Past maxBytes, unpackValue fails (NEO4J_PROTOCOL_ERROR)
 * before allocating. */
void packReaderLimitDecoded(PackReader *reader, size_t maxBytes);
/* Decodes one value at the reader's offset into out, advancing the offset.
 * Returns ERR_OK, or NEO4J_PROTOCOL_ERROR with errLast() saying what and
 * where (byte offset) the input is wrong. */
ErrCode unpackValue(PackReader *reader, Arena *arena, BoltValue *out);

#endif
