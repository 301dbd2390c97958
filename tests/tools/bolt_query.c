/* bolt_query: runs one Cypher query over the project's Bolt client and prints
 * the records, for integration checks and benchmarks.
 *
 *   bolt_query [options] QUERY
 *     --uri URI          default $NEO4J_URI, else bolt://localhost:7687
 *     --user NAME        default $NEO4J_USER, else neo4j
 *     --password PW      default $NEO4J_PASSWORD
 *     --bolt X.Y         highest Bolt version to offer (e.g. 4.4, 5.0)
 *     --db NAME          database (default: the user's home database)
 *     --read             access mode read
 *     --fetch N          records per PULL (default 1000, -1 = all)
 *     --count-only       print only the row count (and the time on stderr)
 *     --ca-file PATH     CA bundle for bolt+s://
 *
 * Prints "Bolt X.Y <server agent>" to stderr, then the column names and one
 * line per record (values tab-separated) to stdout. Exit status: 0, or the
 * error registry's status of the failure. */
#include "bolt/connection.h"
#include "common/error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void usage(void)
{
    fputs("usage: bolt_query [--uri URI] [--user NAME] [--password PW] [--bolt X.Y] [--db NAME]\n"
          "                  [--read] [--fetch N] [--count-only] [--ca-file PATH] QUERY\n",
          stderr);
}

static int failWith(ErrCode code, const char *what)
{
    const ErrDetail *detail = errLast();
    fprintf(stderr, "bolt_query: %s failed: %s: %s\n", what, errName(code), detail->reason);
    if (detail->serverCode[0])
        fprintf(stderr, "bolt_query: Neo4j status: %s\n", detail->serverCode);
    return errExitStatus(code);
}

static const char *envOr(const char *name, const char *fallback)
{
    const char *value = getenv(name);
    return value && value[0] ? value : fallback;
}

/* Prints value, growing the buffer when a value is longer than it. */
static void printValue(char **buffer, size_t *size, const BoltValue *value)
{
    size_t needed = boltValueFormat(*buffer, *size, value);
    if (needed >= *size) {
        *size = needed + 1;
        *buffer = realloc(*buffer, *size);
        if (!*buffer)
            abort();
        boltValueFormat(*buffer, *size, value);
    }
    fputs(*buffer, stdout);
}

int main(int argc, char **argv)
{
    BoltConnectOptions connectOptions = {
        .uri = envOr("NEO4J_URI", "bolt://localhost:7687"),
        .user = envOr("NEO4J_USER", "neo4j"),
        .password = envOr("NEO4J_PASSWORD", ""),
    };
    BoltQueryOptions queryOptions = {0};
    bool countOnly = false;
    const char *query = NULL;

    for (int index = 1; index < argc; index++) {
        const char *argument = argv[index];
        bool hasValue = index + 1 < argc;
        if (strcmp(argument, "--uri") == 0 && hasValue)
            connectOptions.uri = argv[++index];
        else if (strcmp(argument, "--user") == 0 && hasValue)
            connectOptions.user = argv[++index];
        else if (strcmp(argument, "--password") == 0 && hasValue)
            connectOptions.password = argv[++index];
        else if (strcmp(argument, "--ca-file") == 0 && hasValue)
            connectOptions.caFile = argv[++index];
        else if (strcmp(argument, "--db") == 0 && hasValue)
            queryOptions.database = argv[++index];
        else if (strcmp(argument, "--fetch") == 0 && hasValue)
            queryOptions.fetchSize = strtoll(argv[++index], NULL, 10);
        else if (strcmp(argument, "--bolt") == 0 && hasValue) {
            unsigned major = 0, minor = 0;
            if (sscanf(argv[++index], "%u.%u", &major, &minor) != 2 || major > 255 || minor > 255) {
                usage();
                return 2;
            }
            connectOptions.maxMajor = (uint8_t)major;
            connectOptions.maxMinor = (uint8_t)minor;
        } else if (strcmp(argument, "--read") == 0)
            queryOptions.mode = BOLT_ACCESS_READ;
        else if (strcmp(argument, "--count-only") == 0)
            countOnly = true;
        else if (argument[0] == '-' && argument[1] == '-') {
            usage();
            return 2;
        } else if (!query)
            query = argument;
        else {
            usage();
            return 2;
        }
    }
    if (!query) {
        usage();
        return 2;
    }

    struct timespec started;
    clock_gettime(CLOCK_MONOTONIC, &started);
    BoltConnection *connection = NULL;
    ErrCode code = boltConnect(&connectOptions, &connection);
    if (code != ERR_OK)
        return failWith(code, "connect");
    fprintf(stderr, "Bolt %u.%u %s\n", (unsigned)boltVersionMajor(connection),
            (unsigned)boltVersionMinor(connection), boltServerAgent(connection));

    code = boltRun(connection, query, NULL, &queryOptions);
    if (code != ERR_OK) {
        int status = failWith(code, "query");
        boltClose(connection);
        return status;
    }
    if (!countOnly) {
        for (uint32_t field = 0; field < boltFieldCount(connection); field++)
            printf("%s%s", field ? "\t" : "", boltFieldName(connection, field));
        putchar('\n');
    }
    size_t size = 4096;
    char *buffer = malloc(size);
    uint64_t rows = 0;
    const BoltValue *record = NULL;
    while ((code = boltFetch(connection, &record)) == ERR_OK && record) {
        rows++;
        if (countOnly)
            continue;
        for (uint32_t item = 0; item < record->as.list.count; item++) {
            if (item)
                putchar('\t');
            printValue(&buffer, &size, &record->as.list.items[item]);
        }
        putchar('\n');
    }
    free(buffer);
    int status = 0;
    if (code != ERR_OK)
        status = failWith(code, "fetch");
    struct timespec finished;
    clock_gettime(CLOCK_MONOTONIC, &finished);
    double seconds = (double)(finished.tv_sec - started.tv_sec) +
                     (double)(finished.tv_nsec - started.tv_nsec) / 1e9;
    if (countOnly)
        printf("%llu\n", (unsigned long long)rows);
    fprintf(stderr, "%llu rows in %.3f s\n", (unsigned long long)rows, seconds);
    boltClose(connection);
    return status;
}
