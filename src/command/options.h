/* Command-line options of both executables, declared once as data. The
 * parser, --help and the man pages are all generated from these tables, so
 * they cannot drift apart. Code names an option by its OptionId (OPT_<ID>,
 * from options.def), so a misspelt option does not compile. */
#ifndef NBK_COMMAND_OPTIONS_H
#define NBK_COMMAND_OPTIONS_H

#include <stdbool.h>
#include <stdio.h>

/* One identifier per option: OPT_CREATE, OPT_BACKUP_ID, OPT_DRY_RUN, ... */
typedef enum {
#define NBK_OPTION(id, longName) OPT_##id,
#include "command/options.def"
#undef NBK_OPTION
    OPT_COUNT_
} OptionId;

/* The long name without the dashes, e.g. "backup-id". */
const char *optionsName(OptionId id);

typedef enum {
    OPT_ROLE_ACTION,   /* selects what the command does (--create, --list...) */
    OPT_ROLE_MODIFIER, /* changes how an action runs (--dry-run, --compression...) */
} OptionRole;

typedef struct {
    OptionId id;            /* its long name is optionsName(id) */
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

/* Parsed command line: which options were given, with their arguments,
 * indexed by OptionId. */
typedef struct {
    const CommandDef *command;
    bool present[OPT_COUNT_];
    const char *value[OPT_COUNT_];   /* borrowed from argv */
} ParsedOptions;

/* Parses argv. On an unknown option, a missing argument or a stray word it
 * writes a one-line message to errorOut (size bytes) and returns false. */
bool optionsParse(const CommandDef *command, int argc, char **argv, ParsedOptions *out,
                  char *errorOut, size_t size);
bool optionsHas(const ParsedOptions *parsed, OptionId id);
/* The option's argument, NULL when the option was not given. */
const char *optionsValue(const ParsedOptions *parsed, OptionId id);

void optionsPrintUsage(const CommandDef *command, FILE *stream);  /* short form */
void optionsPrintHelp(const CommandDef *command, FILE *stream);   /* full --help */
void optionsPrintManPage(const CommandDef *command, FILE *stream); /* roff */

#endif
