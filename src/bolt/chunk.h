/* Bolt message framing (bolt-facts.md §2): a message travels as chunks of
 * <u16 big-endian length><payload>, ended by an empty chunk 00 00. A lone 00 00
 * between messages is a NOOP keep-alive. Pure byte logic, no I/O.
 *
 * Ownership: a BoltChunkReader owns the Buffer holding the message it is
 * assembling; the bytes stay valid until boltChunkReaderNext or Free. */
#ifndef NBK_BOLT_CHUNK_H
#define NBK_BOLT_CHUNK_H

#include "common/buffer.h"
#include "common/error.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define BOLT_CHUNK_MAX_PAYLOAD 65535u
/* Chunk size the writer uses: large enough to keep header overhead negligible. */
#define BOLT_CHUNK_WRITE_SIZE 65535u
/* Hostile input must not make us allocate without bound. */
#define BOLT_MAX_MESSAGE_SIZE ((size_t)256 * 1024 * 1024)

/* Appends message framed as chunks of at most chunkSize (1..65535) bytes,
 * then the 00 00 end marker. An empty message is not legal Bolt and is not
 * framed (it would read as a NOOP). */
void boltChunkWrite(Buffer *out, const uint8_t *message, size_t length, size_t chunkSize);

typedef struct {
    Buffer message;         /* the payload assembled so far */
    size_t maxMessageSize;
    uint8_t header[2];
    uint8_t headerBytes;    /* 0..2 bytes of the next chunk header seen */
    size_t chunkRemaining;  /* payload bytes still due in the current chunk */
    bool complete;          /* message holds one whole message */
    uint64_t noopCount;     /* NOOPs skipped so far (for tests and debugging) */
} BoltChunkReader;

void boltChunkReaderInit(BoltChunkReader *reader, size_t maxMessageSize); /* 0 = default */
void boltChunkReaderFree(BoltChunkReader *reader);
/* Consumes bytes until one message is complete (then stops right after its
 * end marker, so bytes of the next message stay unconsumed) or the input is
 * used up. *consumed says how much was used. NEO4J_PROTOCOL_ERROR when the
 * message would exceed maxMessageSize. */
ErrCode boltChunkReaderFeed(BoltChunkReader *reader, const uint8_t *data, size_t length,
                            size_t *consumed);
/* True while a message has been started but not finished (so an end of stream
 * here cuts a message in half). */
bool boltChunkReaderInMessage(const BoltChunkReader *reader);
/* Forgets the complete message (keeps the buffer's memory) to read the next. */
void boltChunkReaderNext(BoltChunkReader *reader);

#endif
