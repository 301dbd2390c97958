/* The growable byte buffer (buffer.h); it grows through the aborting allocator. */
#include "common/buffer.h"

#include "common/mem.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void bufferInit(Buffer *buffer) { memset(buffer, 0, sizeof(*buffer)); }

void bufferFree(Buffer *buffer)
{
    free(buffer->data);
    bufferInit(buffer);
}

void bufferClear(Buffer *buffer) { buffer->length = 0; }

void bufferReserve(Buffer *buffer, size_t extra)
{
    if (buffer->length + extra <= buffer->capacity)
        return;
    size_t capacity = buffer->capacity ? buffer->capacity : 256;
    while (capacity < buffer->length + extra)
        capacity *= 2;
    uint8_t *grown = memRealloc(buffer->data, capacity);
    buffer->data = grown;
    buffer->capacity = capacity;
}

void bufferAppend(Buffer *buffer, const void *data, size_t length)
{
    if (length == 0)
        return;
    bufferReserve(buffer, length);
    memcpy(buffer->data + buffer->length, data, length);
    buffer->length += length;
}

void bufferAppendByte(Buffer *buffer, uint8_t byte)
{
    bufferReserve(buffer, 1);
    buffer->data[buffer->length++] = byte;
}

void bufferAppendU16BE(Buffer *buffer, uint16_t value)
{
    uint8_t bytes[2] = {(uint8_t)(value >> 8), (uint8_t)value};
    bufferAppend(buffer, bytes, sizeof(bytes));
}

void bufferAppendU32BE(Buffer *buffer, uint32_t value)
{
    uint8_t bytes[4] = {(uint8_t)(value >> 24), (uint8_t)(value >> 16), (uint8_t)(value >> 8),
                        (uint8_t)value};
    bufferAppend(buffer, bytes, sizeof(bytes));
}

void bufferAppendU64BE(Buffer *buffer, uint64_t value)
{
    bufferAppendU32BE(buffer, (uint32_t)(value >> 32));
    bufferAppendU32BE(buffer, (uint32_t)value);
}

void bufferAppendF(Buffer *buffer, const char *fmt, ...)
{
    va_list args;
    va_start(args, fmt);
    va_list copy;
    va_copy(copy, args);
    int needed = vsnprintf(NULL, 0, fmt, copy);
    va_end(copy);
    if (needed > 0) {
        bufferReserve(buffer, (size_t)needed + 1);
        vsnprintf((char *)buffer->data + buffer->length, (size_t)needed + 1, fmt, args);
        buffer->length += (size_t)needed;
    }
    va_end(args);
}

void bufferConsume(Buffer *buffer, size_t count)
{
    if (count >= buffer->length) {
        buffer->length = 0;
        return;
    }
    memmove(buffer->data, buffer->data + count, buffer->length - count);
    buffer->length -= count;
}
