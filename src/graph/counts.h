/* Per-label and per-relationship-type counts of a graph: nodes per label (a
 * node with two labels counts under both) and relationships per type.
 * Filled while a backup streams (the manifest's stats.labels/stats.types),
 * while a restore or validation reads an archive (the archive's own counts),
 * and from a live target after a restore (the counts health check).
 *
 * Memory: one entry per distinct name (the name's bytes plus ~32 bytes),
 * never per record. A zeroed CountMap / GraphCounts is a valid empty one. */
#ifndef NBK_GRAPH_COUNTS_H
#define NBK_GRAPH_COUNTS_H

#include "bolt/value.h"

#include <stddef.h>
#include <stdint.h>

typedef struct {
    char *name;     /* NUL-terminated heap copy; NULL marks a free slot */
    size_t length;  /* bytes of name */
    uint64_t count;
} CountEntry;

typedef struct {
    CountEntry *slots; /* open addressing, at most half full */
    size_t slotCount;  /* power of two, or 0 before the first add */
    size_t count;      /* distinct names held */
} CountMap;

void countMapFree(CountMap *map);
/* Adds delta to name's count (the entry is created at 0 first). */
void countMapAdd(CountMap *map, const char *name, size_t length, uint64_t delta);
/* 0 when name is not held. */
uint64_t countMapGet(const CountMap *map, const char *name, size_t length);
/* The entries sorted bytewise by name: a malloc'd array of count pointers
 * into the map (valid until the map changes); caller frees the array. NULL
 * when the map is empty. */
const CountEntry **countMapSorted(const CountMap *map);

typedef struct {
    CountMap labels; /* nodes per label */
    CountMap types;  /* relationships per type */
} GraphCounts;

void graphCountsFree(GraphCounts *counts);
/* Counts a node under each of its labels (a BOLT_LIST of strings; other
 * items are ignored). */
void graphCountsAddNode(GraphCounts *counts, const BoltValue *labels);
void graphCountsAddRelationship(GraphCounts *counts, const char *type, size_t length);

/* Compares actual against expected; a name absent from one side counts 0
 * there. Returns the number of labels and types that differ. finding gets
 * one line: the differences, labels first, each sorted by name, as
 * "label Person: expected 1000, found 998 (-2); type KNOWS: expected 5, found
 * 6 (+1)", as many as fit, then " (and N more)"; empty when none differ. */
uint32_t graphCountsCompare(const GraphCounts *expected, const GraphCounts *actual, char *finding,
                            size_t findingSize);

#endif
