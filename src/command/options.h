/* Command-line options of both executables, declared once as data. The
 * parser, --help and the man pages are all generated from these tables, so
 * they cannot drift apart. */
#ifndef NBK_COMMAND_OPTIONS_H
#define NBK_COMMAND_OPTIONS_H

#include <stdbool.h>
#include <stdio.h>

typedef enum {
    OPT_ACTION,   /* selects what the command does (--create, --list...) */
    OPT_MODIFIER, /* changes how an action runs (--dry-run, --compression...) */
} OptionRole;

typedef struct {
    const char *longName;   /* without the dashes, e.g. "backup-id" */
    char shortName;         /* 0 when none */
    const char *argName;    /* NULL for a flag, e.g. "<backup_id>" */
    OptionRole role;
    const char *help;       /* one sentence */
} OptionDef;

typedef struct {
    const char *program;        /* "neo4j-backup" */
    const char *summary;        /* one line */
    const char *description;    /* paragraph for --help and the man page */
    const OptionDef *options;
    int optionCount;
    const char *environment;    /* text block listing environment variables */
    const char *examples;       /* text block */
} CommandDef;

const CommandDef *optionsBackupCommand(void);
const CommandDef *optionsRestoreCommand(void);

#define OPTIONS_MAX 48

/* Parsed command line: which options were given, with their arguments. */
typedef struct {
    const CommandDef *command;
    bool present[OPTIONS_MAX];
    const char *value[OPTIONS_MAX];   /* borrowed from argv */
} ParsedOptions;

/* Parses argv. On an unknown option, a missing argument or a stray word it
 * writes a one-line message to errorOut (size bytes) and returns false. */
bool optionsParse(const CommandDef *command, int argc, char **argv, ParsedOptions *out,
                  char *errorOut, size_t size);
bool optionsHas(const ParsedOptions *parsed, const char *longName);
const char *optionsValue(const ParsedOptions *parsed, const char *longName);

void optionsPrintUsage(const CommandDef *command, FILE *stream);  /* short form */
void optionsPrintHelp(const CommandDef *command, FILE *stream);   /* full --help */
void optionsPrintManPage(const CommandDef *command, FILE *stream); /* roff */

#endif
