/* The one aborting allocator. Running out of memory is not an error the
 * product can report or recover from (the message would need memory too), so
 * every heap allocation of the library goes through these functions: they
 * return usable memory or print one short line to stderr and abort. This is
 * the only place in src/ allowed to do so.
 *
 * Limits that bound memory on purpose (the Bolt arena's limit, tables sized
 * from an archive's counts) are not out-of-memory: those return an error
 * before asking for the memory. */
#ifndef NBK_COMMON_MEM_H
#define NBK_COMMON_MEM_H

#include <stddef.h>

/* malloc that never returns NULL (size 0 gives a unique, freeable pointer). */
void *memAlloc(size_t size);
/* calloc that never returns NULL; count * size overflowing aborts too. */
void *memCalloc(size_t count, size_t size);
/* realloc that never returns NULL; memory may be NULL. */
void *memRealloc(void *memory, size_t size);
/* realloc to count * size bytes; overflow aborts. */
void *memReallocArray(void *memory, size_t count, size_t size);
/* strdup / strndup that never return NULL. */
char *memStrdup(const char *text);
char *memStrndup(const char *text, size_t length);
/* For allocators outside this module (json-c, OpenSSL, libcurl) that returned
 * NULL: prints "out of memory (<what>)" and aborts. */
_Noreturn void memOutOfMemory(const char *what);

#endif
