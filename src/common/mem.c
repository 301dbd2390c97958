/* The one aborting allocator (mem.h): malloc and friends that never return
 * NULL, and the one place that prints and aborts when memory runs out. */
#include "common/mem.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The line goes out with write(2): stdio might need the memory that is missing. */
_Noreturn void memOutOfMemory(const char *what)
{
    char line[160];
    int length = snprintf(line, sizeof(line), "CRITICAL: out of memory (%s)\n", what);
    if (length > 0) {
        size_t size = (size_t)length < sizeof(line) ? (size_t)length : sizeof(line) - 1;
        ssize_t written = write(STDERR_FILENO, line, size);
        (void)written; /* nothing left to do about a failed write */
    }
    abort();
}

static _Noreturn void memFailed(size_t size)
{
    char what[64];
    snprintf(what, sizeof(what), "allocating %zu bytes", size);
    memOutOfMemory(what);
}

void *memAlloc(size_t size)
{
    void *memory = malloc(size ? size : 1);
    if (!memory)
        memFailed(size);
    return memory;
}

void *memCalloc(size_t count, size_t size)
{
    if (size && count > SIZE_MAX / size)
        memFailed(SIZE_MAX);
    void *memory = calloc(count ? count : 1, size ? size : 1);
    if (!memory)
        memFailed(count * size);
    return memory;
}

void *memRealloc(void *memory, size_t size)
{
    void *grown = realloc(memory, size ? size : 1);
    if (!grown)
        memFailed(size);
    return grown;
}

void *memReallocArray(void *memory, size_t count, size_t size)
{
    if (size && count > SIZE_MAX / size)
        memFailed(SIZE_MAX);
    return memRealloc(memory, count * size);
}

char *memStrdup(const char *text) { return memStrndup(text, strlen(text)); }

char *memStrndup(const char *text, size_t length)
{
    size_t used = strnlen(text, length);
    char *copy = memAlloc(used + 1);
    memcpy(copy, text, used);
    copy[used] = '\0';
    return copy;
}
