/* Bolt chunk framing: splits outgoing messages into length-prefixed chunks
 * and reassembles incoming ones (format in chunk.h). */
#include "bolt/chunk.h"

#include <string.h>

void boltChunkWrite(Buffer *out, const uint8_t *message, size_t length, size_t chunkSize)
{
    if (chunkSize == 0 || chunkSize > BOLT_CHUNK_MAX_PAYLOAD)
        chunkSize = BOLT_CHUNK_MAX_PAYLOAD;
    if (length == 0)
        return;
    /* One reservation for headers, payload and end marker. */
    bufferReserve(out, length + 2 * (length / chunkSize + 1) + 2);
    while (length > 0) {
        size_t piece = length < chunkSize ? length : chunkSize;
        bufferAppendU16BE(out, (uint16_t)piece);
        bufferAppend(out, message, piece);
        message += piece;
        length -= piece;
    }
    bufferAppendU16BE(out, 0);
}

void boltChunkReaderInit(BoltChunkReader *reader, size_t maxMessageSize)
{
    memset(reader, 0, sizeof(*reader));
    bufferInit(&reader->message);
    reader->maxMessageSize = maxMessageSize ? maxMessageSize : BOLT_MAX_MESSAGE_SIZE;
}

void boltChunkReaderFree(BoltChunkReader *reader)
{
    bufferFree(&reader->message);
    memset(reader, 0, sizeof(*reader));
}

bool boltChunkReaderInMessage(const BoltChunkReader *reader)
{
    return !reader->complete &&
           (reader->message.length > 0 || reader->headerBytes > 0 || reader->chunkRemaining > 0);
}

void boltChunkReaderNext(BoltChunkReader *reader)
{
    bufferClear(&reader->message);
    reader->complete = false;
    reader->headerBytes = 0;
    reader->chunkRemaining = 0;
}

ErrCode boltChunkReaderFeed(BoltChunkReader *reader, const uint8_t *data, size_t length,
                            size_t *consumed)
{
    size_t offset = 0;
    while (offset < length && !reader->complete) {
        if (reader->chunkRemaining > 0) {
            size_t available = length - offset;
            size_t piece = available < reader->chunkRemaining ? available : reader->chunkRemaining;
            bufferAppend(&reader->message, data + offset, piece);
            offset += piece;
            reader->chunkRemaining -= piece;
            continue;
        }
        reader->header[reader->headerBytes++] = data[offset++];
        if (reader->headerBytes < 2)
            continue;
        reader->headerBytes = 0;
        size_t chunkLength = ((size_t)reader->header[0] << 8) | reader->header[1];
        if (chunkLength == 0) {
            /* 00 00 ends a message, or is a NOOP when no message was started. */
            if (reader->message.length > 0)
                reader->complete = true;
            else
                reader->noopCount++;
            continue;
        }
        if (reader->message.length + chunkLength > reader->maxMessageSize) {
            *consumed = offset;
            return errSet(NEO4J_PROTOCOL_ERROR,
                          "the server sent a message larger than the limit of %zu bytes",
                          reader->maxMessageSize);
        }
        reader->chunkRemaining = chunkLength;
    }
    *consumed = offset;
    return ERR_OK;
}
