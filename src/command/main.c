/* The two command lines: options -> configuration -> one command. */
#include "command/command.h"

#include "common/log.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static volatile sig_atomic_t mainCancelRequested;

static void mainOnSignal(int signalNumber)
{
    (void)signalNumber;
    mainCancelRequested = 1;
}

/* SIGINT/SIGTERM only raise a flag: long operations poll it and stop cleanly,
 * so that nothing partial is left behind. SIGPIPE is ignored: a closed socket
 * is an error to report, not a reason to die. */
static void mainInstallSignals(void)
{
    struct sigaction action;
    memset(&action, 0, sizeof(action));
    action.sa_handler = mainOnSignal;
    sigemptyset(&action.sa_mask);
    sigaction(SIGINT, &action, NULL);
    sigaction(SIGTERM, &action, NULL);
    signal(SIGPIPE, SIG_IGN);
}

/* The context every command runs in; from here on signals only raise the flag. */
static CommandContext mainContext(Config *config, const ParsedOptions *parsed)
{
    mainInstallSignals();
    return (CommandContext){
        .config = config,
        .options = parsed,
        .dryRun = optionsHas(parsed, "dry-run"),
        .json = optionsHas(parsed, "json"),
        .cancelFlag = &mainCancelRequested,
    };
}

static int mainUsageError(const CommandDef *command, const char *message)
{
    fprintf(stderr, "%s: %s\n", command->program, message);
    optionsPrintUsage(command, stderr);
    return errExitStatus(ERR_USAGE);
}

/* Parses the command line and builds the configuration; returns -1 to go on,
 * or the exit status to return right away (help, version, usage errors). */
static int mainPrepare(const CommandDef *command, int argc, char **argv, ParsedOptions *parsed,
                       Config **config)
{
    char message[512];
    if (!optionsParse(command, argc, argv, parsed, message, sizeof(message)))
        return mainUsageError(command, message);
    if (optionsHas(parsed, "help")) {
        optionsPrintHelp(command, stdout);
        return 0;
    }
    if (optionsHas(parsed, "version")) {
        printf("%s %s\n", command->program, NBK_VERSION);
        return 0;
    }
    if (getenv("NBK_PRINT_MAN")) { /* used by the build to generate man pages */
        optionsPrintManPage(command, stdout);
        return 0;
    }
    logSetVerbose(optionsHas(parsed, "verbose"));
    if (optionsHas(parsed, "json"))
        logSetAllToStderr(true);
    ErrCode code = cfgNew(config);
    const char *configFile = optionsValue(parsed, "config");
    if (code == ERR_OK && configFile)
        code = cfgLoadFile(*config, configFile);
    if (code == ERR_OK && optionsValue(parsed, "compression"))
        code = cfgSetOverride(*config, "BACKUP_COMPRESSION", optionsValue(parsed, "compression"));
    if (code == ERR_OK && optionsValue(parsed, "load"))
        code = cfgSetOverride(*config, "RESTORE_LOAD", optionsValue(parsed, "load"));
    if (code == ERR_OK && optionsValue(parsed, "method"))
        code = cfgSetOverride(*config, "BACKUP_METHOD", optionsValue(parsed, "method"));
    if (code == ERR_OK)
        code = cfgValidate(*config);
    if (code != ERR_OK) {
        logErrorBlock("Invalid configuration", false);
        return errExitStatus(code);
    }
    return -1;
}

/* Exactly one action per run, except --schedule with --serve. */
static const char *mainSingleAction(const ParsedOptions *parsed, char *message, size_t size,
                                    bool *conflict)
{
    const CommandDef *command = parsed->command;
    const char *chosen = NULL;
    *conflict = false;
    for (int index = 0; index < command->optionCount; index++) {
        if (command->options[index].role != OPT_ACTION || !parsed->present[index])
            continue;
        const char *name = command->options[index].longName;
        if (chosen && !((strcmp(chosen, "schedule") == 0 && strcmp(name, "serve") == 0))) {
            snprintf(message, size, "choose one action: --%s and --%s cannot be combined", chosen,
                     name);
            *conflict = true;
            return NULL;
        }
        if (!chosen)
            chosen = name;
    }
    return chosen;
}

/* mainPrepare plus the choice of the one action; on an early return the
 * configuration is already freed. */
static int mainPrepareAction(const CommandDef *command, int argc, char **argv, const char *noActionMessage,
                             ParsedOptions *parsed, Config **config, const char **action)
{
    int early = mainPrepare(command, argc, argv, parsed, config);
    if (early < 0) {
        char message[256];
        bool conflict;
        *action = mainSingleAction(parsed, message, sizeof(message), &conflict);
        if (!*action)
            early = mainUsageError(command, conflict ? message : noActionMessage);
    }
    if (early >= 0) {
        cfgFree(*config);
        *config = NULL;
    }
    return early;
}

int commandBackupMain(int argc, char **argv)
{
    const CommandDef *command = optionsBackupCommand();
    ParsedOptions parsed;
    Config *config = NULL;
    const char *action = NULL;
    int early = mainPrepareAction(command, argc, argv, "no action given (e.g. --create, --list, --check)",
                                  &parsed, &config, &action);
    if (early >= 0)
        return early;
    if (optionsHas(&parsed, "delete-expired") && strcmp(action, "cleanup") != 0) {
        cfgFree(config);
        return mainUsageError(command, "--delete-expired goes with --cleanup");
    }
    if (optionsHas(&parsed, "force") && strcmp(action, "delete") != 0) {
        cfgFree(config);
        return mainUsageError(command, "--force goes with --delete");
    }
    if (optionsHas(&parsed, "no-auth") && !optionsHas(&parsed, "serve")) {
        cfgFree(config);
        return mainUsageError(command, "--no-auth goes with --serve");
    }
    CommandContext context = mainContext(config, &parsed);
    ErrCode code;
    if (strcmp(action, "check") == 0)
        code = cmdCheck(&context);
    else if (strcmp(action, "create") == 0)
        code = cmdCreate(&context);
    else if (strcmp(action, "list") == 0)
        code = cmdList(&context);
    else if (strcmp(action, "delete") == 0)
        code = cmdDelete(&context, optionsValue(&parsed, "delete"));
    else if (strcmp(action, "validate") == 0)
        code = cmdValidate(&context, optionsValue(&parsed, "validate"));
    else if (strcmp(action, "cleanup") == 0)
        code = cmdCleanup(&context);
    else if (strcmp(action, "keep") == 0)
        code = cmdKeep(&context, optionsValue(&parsed, "keep"), true);
    else if (strcmp(action, "unkeep") == 0)
        code = cmdKeep(&context, optionsValue(&parsed, "unkeep"), false);
    else if (optionsHas(&parsed, "serve")) /* alone or with --schedule */
        code = cmdServe(&context);
    else if (strcmp(action, "schedule") == 0)
        code = cmdSchedule(&context);
    else if (strcmp(action, "resume") == 0)
        code = cmdResume(&context);
    else {
        errSet(ERR_USAGE, "--%s is not available in this version", action);
        logErrorBlock("Unsupported action", false);
        code = ERR_USAGE;
    }
    cfgFree(config);
    return errExitStatus(code);
}

int commandRestoreMain(int argc, char **argv)
{
    const CommandDef *command = optionsRestoreCommand();
    ParsedOptions parsed;
    Config *config = NULL;
    const char *action = NULL;
    int early = mainPrepareAction(command, argc, argv, "--backup-id <id> is required", &parsed, &config,
                                  &action);
    if (early >= 0)
        return early;
    if (optionsHas(&parsed, "validate") && optionsHas(&parsed, "no-validate")) {
        cfgFree(config);
        return mainUsageError(command, "--validate and --no-validate contradict each other");
    }
    CommandContext context = mainContext(config, &parsed);
    ErrCode code;
    if (strcmp(action, "status") == 0)
        code = cmdRestoreStatus(&context);
    else if (strcmp(action, "cancel") == 0)
        code = cmdRestoreCancel(&context);
    else
        code = cmdRestore(&context, optionsValue(&parsed, "backup-id"));
    cfgFree(config);
    return errExitStatus(code);
}
