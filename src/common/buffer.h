/* A growable byte buffer, the one place the codebase grows memory by hand. */
#ifndef NBK_COMMON_BUFFER_H
#define NBK_COMMON_BUFFER_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    uint8_t *data;
    size_t length;
    size_t capacity;
} Buffer;

void bufferInit(Buffer *buffer);
void bufferFree(Buffer *buffer);
void bufferClear(Buffer *buffer);                 /* length = 0, keeps memory */
void bufferReserve(Buffer *buffer, size_t extra); /* aborts on OOM */
void bufferAppend(Buffer *buffer, const void *data, size_t length);
void bufferAppendByte(Buffer *buffer, uint8_t byte);
void bufferAppendU16BE(Buffer *buffer, uint16_t value);
void bufferAppendU32BE(Buffer *buffer, uint32_t value);
void bufferAppendU64BE(Buffer *buffer, uint64_t value);
void bufferAppendF(Buffer *buffer, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Removes the first count bytes. */
void bufferConsume(Buffer *buffer, size_t count);

#endif
