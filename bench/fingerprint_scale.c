/* Fingerprint at scale (issue 16): times the content fingerprint of a
 * generated graph of N nodes and 3N relationships (restore_memory.py's
 * shape: start keys ascending, end keys pseudo-random) with the restore's
 * spill settings, and prints the process's peak RSS. Built by hand against
 * a build's library, so two versions run side by side:
 *   cc -O2 -I src bench/fingerprint_scale.c BUILD/libnbk.a -lcrypto -lzstd -lpthread -o /tmp/fp
 *   /tmp/fp NODES [RESIDENT_MB]       (RESIDENT_MB: spilled-array cache, default 16) */
#include "bolt/value.h"
#include "common/spill_array.h"
#include "graph/fingerprint.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

static double nowSeconds(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)now.tv_sec + (double)now.tv_nsec / 1e9;
}

/* CPU seconds of this process (user + system): less noisy than wall time
 * on a shared machine. */
static double cpuSeconds(void)
{
    struct rusage usage;
    getrusage(RUSAGE_SELF, &usage);
    return (double)usage.ru_utime.tv_sec + (double)usage.ru_utime.tv_usec / 1e6 + (double)usage.ru_stime.tv_sec +
           (double)usage.ru_stime.tv_usec / 1e6;
}

static long peakKb(void)
{
    FILE *status = fopen("/proc/self/status", "r");
    char line[256];
    long kb = -1;
    while (status && fgets(line, sizeof(line), status))
        if (sscanf(line, "VmHWM: %ld kB", &kb) == 1)
            break;
    if (status)
        fclose(status);
    return kb;
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return 2;
    long long nodes = atoll(argv[1]);
    size_t residentMb = argc > 2 ? (size_t)atoll(argv[2]) : 16;
    spillConfigure(NULL, 0, residentMb << 20);
    Arena *arena = arenaNew(0);
    Fingerprint *fingerprint = fingerprintNew();
    double started = nowSeconds();
    char name[32];
    for (long long index = 0; index < nodes; index++) {
        arenaReset(arena);
        BoltValue labels = boltList(arena, index % 10 == 0 ? 2 : 1);
        labels.as.list.items[0] = boltString(arena, "Bench");
        if (index % 10 == 0)
            labels.as.list.items[1] = boltString(arena, "Hub");
        BoltValue properties = boltMap(arena, 3);
        snprintf(name, sizeof(name), "node-%lld", index);
        boltMapSet(arena, &properties, 0, "id", boltInt(index));
        boltMapSet(arena, &properties, 1, "name", boltString(arena, name));
        boltMapSet(arena, &properties, 2, "score", boltFloat((double)index * 0.25));
        if (fingerprintAddNode(fingerprint, index, &labels, &properties) != ERR_OK)
            return 1;
    }
    double nodesDone = nowSeconds();
    static const char *const types[] = {"LINKS", "KNOWS", "LIKES"};
    static const long long multipliers[] = {7919, 104729, 1299709};
    for (long long index = 0; index < nodes; index++) {
        for (int kind = 0; kind < 3; kind++) {
            arenaReset(arena);
            BoltValue properties = boltMap(arena, 2);
            boltMapSet(arena, &properties, 0, "weight", boltFloat((double)(index % 100) / 8));
            boltMapSet(arena, &properties, 1, "since", boltInt(index * 3 + kind));
            long long endKey = (index * multipliers[kind] + 13) % nodes;
            if (fingerprintAddRelationship(fingerprint, index, endKey, types[kind], 5, &properties) != ERR_OK)
                return 1;
        }
    }
    double relationshipsDone = nowSeconds();
    char hex[66];
    fingerprintHex(fingerprint, hex);
    double finished = nowSeconds();
    printf("nodes %lld: nodes %.1f s, relationships %.1f s, join %.1f s, total %.1f s (CPU %.1f s), "
           "peak RSS %.1f MB, %s\n",
           nodes, nodesDone - started, relationshipsDone - nodesDone, finished - relationshipsDone,
           finished - started, cpuSeconds(), (double)peakKb() / 1024, hex);
    fingerprintFree(fingerprint);
    arenaFree(arena);
    return 0;
}
