/* Arena: a bump allocator made of blocks. Decoding a record allocates many
 * small pieces that all die together, so one pointer bump per piece and one
 * reset per record beat malloc/free by far. */
#include "bolt/value.h"

#include "common/mem.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ARENA_ALIGN 16u
#define ARENA_DEFAULT_BLOCK (64u * 1024u)

typedef struct ArenaBlock ArenaBlock;
struct ArenaBlock {
    ArenaBlock *next;
    size_t capacity; /* usable bytes after the header */
    size_t used;
};

struct Arena {
    ArenaBlock *first;   /* kept by arenaReset */
    ArenaBlock *current; /* small allocations bump here */
    size_t blockSize;
    size_t bytesUsed;
};

/* The payload starts at a 16-byte boundary after the header; malloc returns
 * memory aligned for max_align_t (16 on the platforms we build for). */
static const size_t blockHeaderSize = (sizeof(ArenaBlock) + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1);

static unsigned char *blockPayload(ArenaBlock *block) { return (unsigned char *)block + blockHeaderSize; }

static ArenaBlock *blockNew(size_t capacity)
{
    if (capacity > SIZE_MAX - blockHeaderSize)
        memOutOfMemory("arena block larger than the address space");
    ArenaBlock *block = memAlloc(blockHeaderSize + capacity);
    block->next = NULL;
    block->capacity = capacity;
    block->used = 0;
    return block;
}

Arena *arenaNew(size_t blockSize)
{
    Arena *arena = memAlloc(sizeof(*arena));
    if (blockSize == 0)
        blockSize = ARENA_DEFAULT_BLOCK;
    if (blockSize < 256)
        blockSize = 256;
    blockSize = (blockSize + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1);
    arena->blockSize = blockSize;
    arena->first = blockNew(blockSize);
    arena->current = arena->first;
    arena->bytesUsed = 0;
    return arena;
}

void *arenaAlloc(Arena *arena, size_t size)
{
    if (size > SIZE_MAX - ARENA_ALIGN)
        memOutOfMemory("arena piece larger than the address space");
    size_t rounded = (size + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1);
    ArenaBlock *current = arena->current;
    if (rounded <= current->capacity - current->used) {
        void *memory = blockPayload(current) + current->used;
        current->used += rounded;
        arena->bytesUsed += rounded;
        return memory;
    }
    if (rounded > arena->blockSize / 4) {
        /* A big piece gets a block of its own, linked behind the current one,
         * so the room left in the current block is not wasted. */
        ArenaBlock *own = blockNew(rounded);
        own->used = rounded;
        own->next = current->next;
        current->next = own;
        arena->bytesUsed += rounded;
        return blockPayload(own);
    }
    ArenaBlock *fresh = blockNew(arena->blockSize);
    fresh->next = current->next;
    current->next = fresh;
    arena->current = fresh;
    fresh->used = rounded;
    arena->bytesUsed += rounded;
    return blockPayload(fresh);
}

char *arenaStrndup(Arena *arena, const char *text, size_t length)
{
    if (length == SIZE_MAX)
        memOutOfMemory("arena string larger than the address space");
    char *copy = arenaAlloc(arena, length + 1);
    if (length)
        memcpy(copy, text, length);
    copy[length] = '\0';
    return copy;
}

void arenaReset(Arena *arena)
{
    ArenaBlock *block = arena->first->next;
    while (block) {
        ArenaBlock *next = block->next;
        free(block);
        block = next;
    }
    arena->first->next = NULL;
    arena->first->used = 0;
    arena->current = arena->first;
    arena->bytesUsed = 0;
}

size_t arenaBytesUsed(const Arena *arena) { return arena->bytesUsed; }

void arenaFree(Arena *arena)
{
    if (!arena)
        return;
    arenaReset(arena);
    free(arena->first);
    free(arena);
}
