/* The option tables of neo4j-backup and neo4j-restore, their parser, and
 * --help and man pages generated from them. */
#include "command/options.h"

#include <string.h>

static const char *const optionNames[] = {
#define NBK_OPTION(id, longName) [OPT_##id] = longName,
#include "command/options.def"
#undef NBK_OPTION
};
_Static_assert(sizeof(optionNames) / sizeof(optionNames[0]) == OPT_COUNT_, "one name per OptionId");

const char *optionsName(OptionId id)
{
    return (int)id >= 0 && id < OPT_COUNT_ ? optionNames[id] : "(unknown option)";
}

static const OptionDef backupOptions[] = {
    {OPT_CREATE, 0, NULL, OPT_ROLE_ACTION, "Create a new backup now."},
    {OPT_LIST, 0, NULL, OPT_ROLE_ACTION, "List all available backups."},
    {OPT_DELETE, 0, "<backup_id>", OPT_ROLE_ACTION, "Delete a specific backup."},
    {OPT_VALIDATE, 0, "<backup_id>", OPT_ROLE_ACTION,
     "Validate backup integrity: checksum, every block, record structure, counts and orphans."},
    {OPT_SCHEDULE, 0, NULL, OPT_ROLE_ACTION,
     "Start the backup scheduler (runs continuously, BACKUP_SCHEDULE in UTC)."},
    {OPT_CLEANUP, 0, NULL, OPT_ROLE_ACTION, "Delete the backups that the retention policy does not keep."},
    {OPT_COPY, 0, "[<backup_id>]", OPT_ROLE_ACTION,
     "Copy one backup, or every backup, to the second location (BACKUP_COPY_PATH), skipping those already "
     "there and valid."},
    {OPT_AGGREGATE, 0, "<backup_id>", OPT_ROLE_ACTION,
     "Write a full backup of the state at a differential from its chain, without touching Neo4j; the older "
     "links then become prunable."},
    {OPT_CHECK, 0, NULL, OPT_ROLE_ACTION,
     "Preflight: connect to Neo4j and check the storage path, changing nothing."},
    {OPT_KEEP, 0, "<backup_id>", OPT_ROLE_ACTION, "Mark a backup so that retention never deletes it."},
    {OPT_GENERATE_KEY, 0, "<file>", OPT_ROLE_ACTION,
     "Write a new random 256-bit encryption key to file (mode 0600) for BACKUP_ENCRYPTION_KEY_FILE; never "
     "overwrites an existing file."},
    {OPT_ROTATE_KEY, 0, NULL, OPT_ROLE_ACTION,
     "Re-wrap every encrypted backup's data key from the current key (BACKUP_ENCRYPTION_KEY_FILE or the "
     "passphrase) to BACKUP_ENCRYPTION_NEW_KEY_FILE; archives are not rewritten; resumable."},
    {OPT_UNKEEP, 0, "<backup_id>", OPT_ROLE_ACTION, "Remove the keep mark of a backup."},
    {OPT_RESUME, 0, NULL, OPT_ROLE_ACTION, "Resume a scheduler paused after repeated failures."},
    {OPT_SERVE, 0, NULL, OPT_ROLE_ACTION, "Serve the HTTP API, metrics and status page (BACKUP_API_LISTEN)."},
    {OPT_DELETE_EXPIRED, 0, NULL, OPT_ROLE_MODIFIER, "With --cleanup: delete all expired backups."},
    {OPT_FORCE, 0, NULL, OPT_ROLE_MODIFIER,
     "With --delete: delete even a backup with the keep mark or the last restorable backup."},
    {OPT_CONFIG, 0, "<file>", OPT_ROLE_MODIFIER,
     "Load configuration from file (KEY=VALUE lines; default: environment variables)."},
    {OPT_COMPRESSION, 0, "<zstd|gzip|none>", OPT_ROLE_MODIFIER,
     "Compression of the archive, overrides BACKUP_COMPRESSION (default zstd)."},
    {OPT_TYPE, 0, "<auto|full|diff>", OPT_ROLE_MODIFIER,
     "With --create: full, differential (only what changed since the newest valid backup) or auto (a "
     "differential unless a full is due); overrides BACKUP_TYPE (default auto)."},
    {OPT_METHOD, 0, "<logical|dump>", OPT_ROLE_MODIFIER,
     "Backup method, overrides BACKUP_METHOD (default logical, online over Bolt)."},
    {OPT_DEEP, 0, NULL, OPT_ROLE_MODIFIER,
     "With --validate of a dump: also run Neo4j's consistency check on a scratch copy."},
    {OPT_INCLUDE_SYSTEM, 0, NULL, OPT_ROLE_MODIFIER, "With --method dump: also dump the system database."},
    {OPT_NO_AUTH, 0, NULL, OPT_ROLE_MODIFIER, "With --serve on loopback: run the API without a token."},
    {OPT_JSON, 0, NULL, OPT_ROLE_MODIFIER, "Print machine-readable JSON on stdout (logs go to stderr)."},
    {OPT_DRY_RUN, 0, NULL, OPT_ROLE_MODIFIER, "Show what would happen without making changes anywhere."},
    {OPT_VERBOSE, 'v', NULL, OPT_ROLE_MODIFIER, "Verbose output."},
    {OPT_HELP, 'h', NULL, OPT_ROLE_MODIFIER, "Show this help and exit."},
    {OPT_VERSION, 0, NULL, OPT_ROLE_MODIFIER, "Show the version and exit."},
};

static const OptionDef restoreOptions[] = {
    {OPT_BACKUP_ID, 0, "<id>", OPT_ROLE_ACTION, "Restore this backup (required for a restore)."},
    {OPT_STATUS, 0, NULL, OPT_ROLE_ACTION,
     "Show the recovery state, the backup and target involved, and the history."},
    {OPT_CANCEL, 0, NULL, OPT_ROLE_ACTION, "Operator cancel: mark a recovery in progress as failed."},
    {OPT_TARGET, 0, "<instance>", OPT_ROLE_MODIFIER, "Target Neo4j instance (default: test-neo4j)."},
    {OPT_LOAD, 0, "<auto|bolt|import>", OPT_ROLE_MODIFIER,
     "How the data reaches the target, overrides RESTORE_LOAD: auto (default: import when the target can be "
     "stopped, bolt otherwise), bolt (Cypher writes, online) or import (neo4j-admin on the stopped target)."},
    {OPT_VALIDATE, 0, NULL, OPT_ROLE_MODIFIER, "Run health checks after restore (default: yes)."},
    {OPT_NO_VALIDATE, 0, NULL, OPT_ROLE_MODIFIER, "Skip the health checks after restore."},
    {OPT_PROMOTE, 0, NULL, OPT_ROLE_MODIFIER,
     "Promote the validated backup to production (requires manual confirmation)."},
    {OPT_YES, 'y', NULL, OPT_ROLE_MODIFIER, "Confirm --promote without asking."},
    {OPT_CONFIG, 0, "<file>", OPT_ROLE_MODIFIER,
     "Load configuration from file (KEY=VALUE lines; default: environment variables)."},
    {OPT_JSON, 0, NULL, OPT_ROLE_MODIFIER, "Print machine-readable JSON on stdout (logs go to stderr)."},
    {OPT_DRY_RUN, 0, NULL, OPT_ROLE_MODIFIER, "Show what would happen without making changes anywhere."},
    {OPT_VERBOSE, 'v', NULL, OPT_ROLE_MODIFIER, "Verbose output."},
    {OPT_HELP, 'h', NULL, OPT_ROLE_MODIFIER, "Show this help and exit."},
    {OPT_VERSION, 0, NULL, OPT_ROLE_MODIFIER, "Show the version and exit."},
};

static const CommandDef backupCommand = {
    .program = "neo4j-backup",
    .summary = "create, list, validate, prune and schedule Neo4j backups",
    .description =
        "Operator-facing tool to create and manage backups of a Neo4j database, manually or on a "
        "schedule. The default method is an online logical backup over Bolt that works on every "
        "Neo4j edition; --method dump uses neo4j-admin on a stopped database.",
    .options = backupOptions,
    .optionCount = (int)(sizeof(backupOptions) / sizeof(backupOptions[0])),
    .environment =
        "BACKUP_STORAGE_PATH      Where backups are stored\n"
        "BACKUP_COPY_PATH         Second location keeping a copy of each backup (optional)\n"
        "NEO4J_URI                Bolt URI of the database to back up (bolt://localhost:7687)\n"
        "NEO4J_USER               User name (neo4j)\n"
        "NEO4J_PASSWORD           Password (or NEO4J_PASSWORD_FILE: a file holding it)\n"
        "NEO4J_DATABASE           Database name (neo4j)\n"
        "NEO4J_DATA_PATH          Neo4j data directory (space estimates, dumps)\n"
        "BACKUP_SCHEDULE          Cron expression in UTC (\"0 2 * * *\")\n"
        "BACKUP_RETENTION_DAYS    How long to keep backups (7)\n"
        "BACKUP_COMPRESSION       zstd | gzip | none (zstd)\n"
        "BACKUP_TYPE              auto | full | diff (auto)\n"
        "BACKUP_ALERT_EMAIL       Email for alerts (optional)\n"
        "BACKUP_API_LISTEN        Address of --serve (127.0.0.1:9090)\n"
        "BACKUP_API_TOKEN         Bearer token of the HTTP API (or BACKUP_API_TOKEN_FILE)\n"
        "See docs/configuration.md for every setting.\n",
    .examples = "neo4j-backup --check\n"
                "neo4j-backup --create\n"
                "neo4j-backup --list\n"
                "neo4j-backup --validate neo4j-20251227-153000\n"
                "neo4j-backup --cleanup --dry-run\n"
                "neo4j-backup --copy --dry-run\n"
                "neo4j-backup --schedule\n"
                "neo4j-backup --schedule --serve\n",
};

static const CommandDef restoreCommand = {
    .program = "neo4j-restore",
    .summary = "restore a Neo4j backup into a test instance, validate it, promote it",
    .description =
        "Restores a backup into a separate test Neo4j instance, runs health checks on it, and "
        "only then, with an operator's confirmation, promotes it to production.",
    .options = restoreOptions,
    .optionCount = (int)(sizeof(restoreOptions) / sizeof(restoreOptions[0])),
    .environment =
        "BACKUP_STORAGE_PATH      Where backups are stored\n"
        "BACKUP_COPY_PATH         Second location, used when a backup is missing or damaged there\n"
        "NEO4J_URI                Production instance (written only by --promote)\n"
        "TEST_NEO4J_URI           Bolt URI of the default test instance\n"
        "TEST_NEO4J_USER          User of the test instance (neo4j)\n"
        "TEST_NEO4J_PASSWORD      Password (or TEST_NEO4J_PASSWORD_FILE)\n"
        "TEST_NEO4J_DATABASE      Database of the test instance (neo4j)\n"
        "TEST_NEO4J_CONTAINER     Name of the test instance (test-neo4j)\n"
        "PROMOTE_AFTER_VALIDATION Auto-promote if validation passes (false)\n"
        "See docs/configuration.md for every setting.\n",
    .examples = "neo4j-restore --backup-id neo4j-20251227-150000\n"
                "neo4j-restore --backup-id neo4j-20251227-150000 --promote\n"
                "neo4j-restore --status\n",
};

const CommandDef *optionsBackupCommand(void) { return &backupCommand; }
const CommandDef *optionsRestoreCommand(void) { return &restoreCommand; }

static int optionsFindLong(const CommandDef *command, const char *name, size_t length)
{
    for (int index = 0; index < command->optionCount; index++) {
        const char *candidate = optionsName(command->options[index].id);
        if (strlen(candidate) == length && strncmp(candidate, name, length) == 0)
            return index;
    }
    return -1;
}

static int optionsFindShort(const CommandDef *command, char name)
{
    for (int index = 0; index < command->optionCount; index++)
        if (command->options[index].shortName == name)
            return index;
    return -1;
}

bool optionsParse(const CommandDef *command, int argc, char **argv, ParsedOptions *out,
                  char *errorOut, size_t size)
{
    memset(out, 0, sizeof(*out));
    out->command = command;
    for (int argIndex = 1; argIndex < argc; argIndex++) {
        const char *word = argv[argIndex];
        int found = -1;
        const char *inlineValue = NULL;
        if (strncmp(word, "--", 2) == 0 && word[2]) {
            const char *name = word + 2;
            const char *equals = strchr(name, '=');
            size_t length = equals ? (size_t)(equals - name) : strlen(name);
            found = optionsFindLong(command, name, length);
            if (equals)
                inlineValue = equals + 1;
        } else if (word[0] == '-' && word[1] && !word[2]) {
            found = optionsFindShort(command, word[1]);
        } else {
            snprintf(errorOut, size, "unexpected argument '%s'", word);
            return false;
        }
        if (found < 0) {
            snprintf(errorOut, size, "unknown option '%s'", word);
            return false;
        }
        const OptionDef *option = &command->options[found];
        /* "[<x>]": the argument may be left out (--copy [<backup_id>]). */
        bool optional = option->argName && option->argName[0] == '[';
        if (optional && !inlineValue && (argIndex + 1 >= argc || argv[argIndex + 1][0] == '-')) {
            out->present[option->id] = true;
            continue;
        }
        if (option->argName) {
            const char *value = inlineValue;
            if (!value) {
                if (argIndex + 1 >= argc || (argv[argIndex + 1][0] == '-' && argv[argIndex + 1][1])) {
                    snprintf(errorOut, size, "option '--%s' needs an argument %s", optionsName(option->id),
                             option->argName);
                    return false;
                }
                value = argv[++argIndex];
            }
            if (!value[0]) {
                snprintf(errorOut, size, "option '--%s' needs a non-empty argument %s",
                         optionsName(option->id), option->argName);
                return false;
            }
            out->value[option->id] = value;
        } else if (inlineValue) {
            snprintf(errorOut, size, "option '--%s' takes no argument", optionsName(option->id));
            return false;
        }
        out->present[option->id] = true;
    }
    return true;
}

bool optionsHas(const ParsedOptions *parsed, OptionId id)
{
    return (int)id >= 0 && id < OPT_COUNT_ && parsed->present[id];
}

const char *optionsValue(const ParsedOptions *parsed, OptionId id)
{
    return optionsHas(parsed, id) ? parsed->value[id] : NULL;
}

static void optionsFormatName(const OptionDef *option, char *buffer, size_t size)
{
    if (option->shortName)
        snprintf(buffer, size, "-%c, --%s%s%s", option->shortName, optionsName(option->id),
                 option->argName ? " " : "", option->argName ? option->argName : "");
    else
        snprintf(buffer, size, "--%s%s%s", optionsName(option->id), option->argName ? " " : "",
                 option->argName ? option->argName : "");
}

void optionsPrintUsage(const CommandDef *command, FILE *stream)
{
    fprintf(stream, "Usage: %s [OPTIONS]\n", command->program);
    fprintf(stream, "Try '%s --help' for more information.\n", command->program);
}

void optionsPrintHelp(const CommandDef *command, FILE *stream)
{
    fprintf(stream, "Usage: %s [OPTIONS]\n\n%s: %s\n\n", command->program, command->program,
            command->summary);
    for (int role = OPT_ROLE_ACTION; role <= OPT_ROLE_MODIFIER; role++) {
        fprintf(stream, "%s:\n", role == OPT_ROLE_ACTION ? "Actions" : "Options");
        for (int index = 0; index < command->optionCount; index++) {
            const OptionDef *option = &command->options[index];
            if ((int)option->role != role)
                continue;
            char name[96];
            optionsFormatName(option, name, sizeof(name));
            fprintf(stream, "  %-34s %s\n", name, option->help);
        }
        fputc('\n', stream);
    }
    fprintf(stream, "Environment variables:\n");
    const char *line = command->environment;
    while (*line) {
        const char *end = strchr(line, '\n');
        size_t length = end ? (size_t)(end - line) : strlen(line);
        fprintf(stream, "  %.*s\n", (int)length, line);
        line += length + (end ? 1 : 0);
    }
    fprintf(stream, "\nExit status: 0 on success, 2 for a usage error; each error code has its own "
                    "status (docs/exit-codes.md).\n");
}

/* Escapes roff's special characters: a leading dot or quote, and backslashes/dashes. */
static void manEscape(FILE *stream, const char *text)
{
    for (const char *cursor = text; *cursor; cursor++) {
        if (*cursor == '\\')
            fputs("\\\\", stream);
        else if (*cursor == '-')
            fputs("\\-", stream);
        else
            fputc(*cursor, stream);
    }
}

void optionsPrintManPage(const CommandDef *command, FILE *stream)
{
    fprintf(stream, ".TH %s 1 \"\" \"%s %s\" \"User Commands\"\n", command->program,
            command->program, NBK_VERSION);
    fprintf(stream, ".SH NAME\n");
    manEscape(stream, command->program);
    fprintf(stream, " \\- ");
    manEscape(stream, command->summary);
    fprintf(stream, "\n.SH SYNOPSIS\n.B %s\n[\\fIOPTIONS\\fR]\n.SH DESCRIPTION\n", command->program);
    manEscape(stream, command->description);
    fprintf(stream, "\n.SH OPTIONS\n");
    for (int index = 0; index < command->optionCount; index++) {
        const OptionDef *option = &command->options[index];
        char name[96];
        optionsFormatName(option, name, sizeof(name));
        fprintf(stream, ".TP\n.B ");
        manEscape(stream, name);
        fprintf(stream, "\n");
        manEscape(stream, option->help);
        fprintf(stream, "\n");
    }
    fprintf(stream, ".SH ENVIRONMENT\n.nf\n");
    manEscape(stream, command->environment);
    fprintf(stream, ".fi\n.SH EXAMPLES\n.nf\n");
    manEscape(stream, command->examples);
    fprintf(stream, ".fi\n.SH EXIT STATUS\n0 on success, 2 for a usage error; every error code has its "
                    "own status, listed in docs/exit\\-codes.md.\n");
}
