/* libFuzzer target for the routing table parser (src/bolt/routing.c): the
 * `rt` map a server (or anything listening where NEO4J_URI points) returns
 * to ROUTE, and the "host:port" addresses inside it.
 *
 * The input is decoded as one PackStream value and handed to
 * boltRoutingTableParse; the raw bytes are also parsed as one address. Checks
 * that a parsed table keeps its counts within bounds, has only valid ports,
 * and orders candidates without duplicates. Any crash, sanitizer report or
 * abort() here is a bug. See tests/fuzz/README.md. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bolt/packstream.h"
#include "bolt/routing.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzzFail(const char *what)
{
    fprintf(stderr, "routing_fuzz: %s\n", what);
    abort();
}

static void fuzzCheckCandidates(const BoltRoutingTable *table, BoltAccessMode mode, BoltReadFrom readFrom)
{
    BoltRouteCandidate candidates[2 * BOLT_ROUTING_MAX_SERVERS];
    bool fellBack = false;
    unsigned count = boltRoutingCandidates(table, mode, readFrom, candidates, 2 * BOLT_ROUTING_MAX_SERVERS,
                                           &fellBack);
    for (unsigned index = 0; index < count; index++) {
        if (candidates[index].address.port == 0 || !candidates[index].why)
            fuzzFail("candidate without port or reason");
        for (unsigned other = 0; other < index; other++)
            if (candidates[other].address.port == candidates[index].address.port &&
                strcmp(candidates[other].address.host, candidates[index].address.host) == 0)
                fuzzFail("duplicate candidate");
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static Arena *arena;
    if (!arena)
        arena = arenaNew(4096);
    PackReader reader;
    packReaderInit(&reader, data, size);
    BoltValue value;
    if (unpackValue(&reader, arena, &value) == ERR_OK) {
        BoltRoutingTable table;
        if (boltRoutingTableParse(&value, 0, &table) == ERR_OK) {
            if (table.routerCount > BOLT_ROUTING_MAX_SERVERS || table.readerCount > BOLT_ROUTING_MAX_SERVERS ||
                table.writerCount > BOLT_ROUTING_MAX_SERVERS || table.anyCount > 2 * BOLT_ROUTING_MAX_SERVERS)
                fuzzFail("count out of bounds");
            if (table.ttlSeconds < 0 || table.expiresAt <= 0)
                fuzzFail("bad ttl");
            for (BoltReadFrom readFrom = BOLT_READ_FROM_SECONDARY; readFrom <= BOLT_READ_FROM_ANY; readFrom++)
                fuzzCheckCandidates(&table, BOLT_ACCESS_READ, readFrom);
            fuzzCheckCandidates(&table, BOLT_ACCESS_WRITE, BOLT_READ_FROM_SECONDARY);
        }
    }
    arenaReset(arena);

    char text[512];
    size_t length = size < sizeof(text) - 1 ? size : sizeof(text) - 1;
    memcpy(text, data, length);
    text[length] = '\0';
    BoltAddress address;
    if (boltAddressParse(text, &address) == ERR_OK && (address.port == 0 || !address.host[0]))
        fuzzFail("address without host or port");
    return 0;
}
