/* Per-label and per-type counts (counts.h): a small string-keyed hash map,
 * its sorted view, and the comparison that names what differs. */
#include "graph/counts.h"

#include "common/mem.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Room kept at the end of a finding for " (and N more)". */
#define COUNTS_MORE_ROOM 32

static uint64_t countsHash(const char *name, size_t length)
{
    uint64_t hash = 0xcbf29ce484222325ULL; /* FNV-1a */
    for (size_t index = 0; index < length; index++) {
        hash ^= (unsigned char)name[index];
        hash *= 0x100000001b3ULL;
    }
    return hash;
}

static CountEntry *countsProbe(CountEntry *slots, size_t slotCount, const char *name, size_t length)
{
    size_t slotIndex = (size_t)countsHash(name, length) & (slotCount - 1);
    while (slots[slotIndex].name &&
           (slots[slotIndex].length != length || memcmp(slots[slotIndex].name, name, length) != 0))
        slotIndex = (slotIndex + 1) & (slotCount - 1);
    return &slots[slotIndex];
}

void countMapFree(CountMap *map)
{
    if (!map)
        return;
    for (size_t slotIndex = 0; slotIndex < map->slotCount; slotIndex++)
        free(map->slots[slotIndex].name);
    free(map->slots);
    memset(map, 0, sizeof(*map));
}

void countMapAdd(CountMap *map, const char *name, size_t length, uint64_t delta)
{
    if ((map->count + 1) * 2 > map->slotCount) {
        size_t grownCount = map->slotCount ? map->slotCount * 2 : 16;
        CountEntry *grown = memCalloc(grownCount, sizeof(CountEntry));
        for (size_t slotIndex = 0; slotIndex < map->slotCount; slotIndex++) {
            const CountEntry *entry = &map->slots[slotIndex];
            if (entry->name)
                *countsProbe(grown, grownCount, entry->name, entry->length) = *entry;
        }
        free(map->slots);
        map->slots = grown;
        map->slotCount = grownCount;
    }
    CountEntry *entry = countsProbe(map->slots, map->slotCount, name, length);
    if (!entry->name) {
        entry->name = memAlloc(length + 1);
        memcpy(entry->name, name, length);
        entry->name[length] = '\0';
        entry->length = length;
        entry->count = 0;
        map->count++;
    }
    entry->count += delta;
}

uint64_t countMapGet(const CountMap *map, const char *name, size_t length)
{
    if (map->slotCount == 0)
        return 0;
    const CountEntry *entry = countsProbe(map->slots, map->slotCount, name, length);
    return entry->name ? entry->count : 0;
}

static int countsCompareNames(const CountEntry *left, const CountEntry *right)
{
    size_t shorter = left->length < right->length ? left->length : right->length;
    int order = memcmp(left->name, right->name, shorter);
    if (order != 0)
        return order;
    return left->length < right->length ? -1 : left->length > right->length;
}

static int countsCompareEntryPointers(const void *left, const void *right)
{
    return countsCompareNames(*(const CountEntry *const *)left, *(const CountEntry *const *)right);
}

const CountEntry **countMapSorted(const CountMap *map)
{
    if (map->count == 0)
        return NULL;
    const CountEntry **sorted = memAlloc(map->count * sizeof(*sorted));
    size_t used = 0;
    for (size_t slotIndex = 0; slotIndex < map->slotCount; slotIndex++)
        if (map->slots[slotIndex].name)
            sorted[used++] = &map->slots[slotIndex];
    qsort(sorted, used, sizeof(*sorted), countsCompareEntryPointers);
    return sorted;
}

void graphCountsFree(GraphCounts *counts)
{
    if (!counts)
        return;
    countMapFree(&counts->labels);
    countMapFree(&counts->types);
}

void graphCountsAddNode(GraphCounts *counts, const BoltValue *labels)
{
    if (!labels || labels->type != BOLT_LIST)
        return;
    for (uint32_t index = 0; index < labels->as.list.count; index++) {
        const BoltValue *label = &labels->as.list.items[index];
        if (label->type == BOLT_STRING)
            countMapAdd(&counts->labels, label->as.string.data, label->as.string.length, 1);
    }
}

void graphCountsAddRelationship(GraphCounts *counts, const char *type, size_t length)
{
    countMapAdd(&counts->types, type, length, 1);
}

typedef struct {
    char *finding;
    size_t size;
    size_t used;
    uint32_t differences;
    uint32_t left; /* differences that did not fit */
} CountsReport;

static void countsReportOne(CountsReport *report, const char *kind, const CountEntry *entry, uint64_t expected,
                            uint64_t found)
{
    if (expected == found)
        return;
    report->differences++;
    char item[384];
    snprintf(item, sizeof(item), "%s%s %s: expected %" PRIu64 ", found %" PRIu64 " (%c%" PRIu64 ")",
             report->used ? "; " : "", kind, entry->name, expected, found, found > expected ? '+' : '-',
             found > expected ? found - expected : expected - found);
    size_t length = strlen(item);
    if (report->left == 0 && report->used + length + COUNTS_MORE_ROOM < report->size) {
        memcpy(report->finding + report->used, item, length + 1);
        report->used += length;
    } else {
        report->left++;
    }
}

/* Walks both maps' names in order (a merge of the two sorted views). */
static void countsReportMap(CountsReport *report, const char *kind, const CountMap *expected,
                            const CountMap *actual)
{
    const CountEntry **wanted = countMapSorted(expected);
    const CountEntry **found = countMapSorted(actual);
    size_t wantedIndex = 0;
    size_t foundIndex = 0;
    while (wantedIndex < expected->count || foundIndex < actual->count) {
        int order = wantedIndex == expected->count  ? 1
                    : foundIndex == actual->count   ? -1
                                                    : countsCompareNames(wanted[wantedIndex], found[foundIndex]);
        if (order < 0) {
            countsReportOne(report, kind, wanted[wantedIndex], wanted[wantedIndex]->count, 0);
            wantedIndex++;
        } else if (order > 0) {
            countsReportOne(report, kind, found[foundIndex], 0, found[foundIndex]->count);
            foundIndex++;
        } else {
            countsReportOne(report, kind, wanted[wantedIndex], wanted[wantedIndex]->count,
                            found[foundIndex]->count);
            wantedIndex++;
            foundIndex++;
        }
    }
    free(wanted);
    free(found);
}

uint32_t graphCountsCompare(const GraphCounts *expected, const GraphCounts *actual, char *finding,
                            size_t findingSize)
{
    if (findingSize == 0)
        return 0;
    finding[0] = '\0';
    CountsReport report = {finding, findingSize, 0, 0, 0};
    countsReportMap(&report, "label", &expected->labels, &actual->labels);
    countsReportMap(&report, "type", &expected->types, &actual->types);
    if (report.left)
        snprintf(finding + report.used, findingSize - report.used, "%s(and %u more)", report.used ? " " : "",
                 report.left);
    return report.differences;
}
