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
        .dryRun = optionsHas(parsed, OPT_DRY_RUN),
        .json = optionsHas(parsed, OPT_JSON),
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
    if (optionsHas(parsed, OPT_HELP)) {
        optionsPrintHelp(command, stdout);
        return 0;
    }
    if (optionsHas(parsed, OPT_VERSION)) {
        printf("%s %s\n", command->program, NBK_VERSION);
        return 0;
    }
    if (getenv("NBK_PRINT_MAN")) { /* used by the build to generate man pages */
        optionsPrintManPage(command, stdout);
        return 0;
    }
    logSetVerbose(optionsHas(parsed, OPT_VERBOSE));
    if (optionsHas(parsed, OPT_JSON))
        logSetAllToStderr(true);
    ErrCode code = cfgNew(config);
    const char *configFile = optionsValue(parsed, OPT_CONFIG);
    if (code == ERR_OK && configFile)
        code = cfgLoadFile(*config, configFile);
    if (code == ERR_OK && optionsValue(parsed, OPT_COMPRESSION))
        code = cfgSetOverride(*config, CFG_BACKUP_COMPRESSION, optionsValue(parsed, OPT_COMPRESSION));
    if (code == ERR_OK && optionsValue(parsed, OPT_TYPE))
        code = cfgSetOverride(*config, CFG_BACKUP_TYPE, optionsValue(parsed, OPT_TYPE));
    if (code == ERR_OK && optionsValue(parsed, OPT_LOAD))
        code = cfgSetOverride(*config, CFG_RESTORE_LOAD, optionsValue(parsed, OPT_LOAD));
    if (code == ERR_OK && optionsValue(parsed, OPT_METHOD))
        code = cfgSetOverride(*config, CFG_BACKUP_METHOD, optionsValue(parsed, OPT_METHOD));
    if (code == ERR_OK)
        code = cfgValidate(*config);
    if (code != ERR_OK) {
        logErrorBlock("Invalid configuration", false);
        return errExitStatus(code);
    }
    return -1;
}

/* Exactly one action per run, except --schedule with --serve. OPT_COUNT_ when none. */
static OptionId mainSingleAction(const ParsedOptions *parsed, char *message, size_t size, bool *conflict)
{
    const CommandDef *command = parsed->command;
    OptionId chosen = OPT_COUNT_;
    *conflict = false;
    for (int index = 0; index < command->optionCount; index++) {
        OptionId id = command->options[index].id;
        if (command->options[index].role != OPT_ROLE_ACTION || !optionsHas(parsed, id))
            continue;
        if (chosen != OPT_COUNT_ && !(chosen == OPT_SCHEDULE && id == OPT_SERVE)) {
            snprintf(message, size, "choose one action: --%s and --%s cannot be combined", optionsName(chosen),
                     optionsName(id));
            *conflict = true;
            return OPT_COUNT_;
        }
        if (chosen == OPT_COUNT_)
            chosen = id;
    }
    return chosen;
}

/* mainPrepare plus the choice of the one action; on an early return the
 * configuration is already freed. */
static int mainPrepareAction(const CommandDef *command, int argc, char **argv, const char *noActionMessage,
                             ParsedOptions *parsed, Config **config, OptionId *action)
{
    int early = mainPrepare(command, argc, argv, parsed, config);
    if (early < 0) {
        char message[256];
        bool conflict;
        *action = mainSingleAction(parsed, message, sizeof(message), &conflict);
        if (*action == OPT_COUNT_)
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
    OptionId action = OPT_COUNT_;
    int early = mainPrepareAction(command, argc, argv, "no action given (e.g. --create, --list, --check)",
                                  &parsed, &config, &action);
    if (early >= 0)
        return early;
    if (optionsHas(&parsed, OPT_DELETE_EXPIRED) && action != OPT_CLEANUP) {
        cfgFree(config);
        return mainUsageError(command, "--delete-expired goes with --cleanup");
    }
    if (optionsHas(&parsed, OPT_FORCE) && action != OPT_DELETE) {
        cfgFree(config);
        return mainUsageError(command, "--force goes with --delete");
    }
    if (optionsHas(&parsed, OPT_TYPE) && action != OPT_CREATE && action != OPT_SCHEDULE && action != OPT_SERVE) {
        cfgFree(config);
        return mainUsageError(command, "--type goes with --create or --schedule");
    }
    if (optionsHas(&parsed, OPT_NO_AUTH) && !optionsHas(&parsed, OPT_SERVE)) {
        cfgFree(config);
        return mainUsageError(command, "--no-auth goes with --serve");
    }
    CommandContext context = mainContext(config, &parsed);
    ErrCode code;
    switch (action) {
    case OPT_CHECK: code = cmdCheck(&context); break;
    case OPT_CREATE: code = cmdCreate(&context); break;
    case OPT_LIST: code = cmdList(&context); break;
    case OPT_DELETE: code = cmdDelete(&context, optionsValue(&parsed, OPT_DELETE)); break;
    case OPT_VALIDATE: code = cmdValidate(&context, optionsValue(&parsed, OPT_VALIDATE)); break;
    case OPT_CLEANUP: code = cmdCleanup(&context); break;
    case OPT_COPY: code = cmdCopy(&context, optionsValue(&parsed, OPT_COPY)); break;
    case OPT_AGGREGATE: code = cmdAggregate(&context, optionsValue(&parsed, OPT_AGGREGATE)); break;
    case OPT_KEEP: code = cmdKeep(&context, optionsValue(&parsed, OPT_KEEP), true); break;
    case OPT_UNKEEP: code = cmdKeep(&context, optionsValue(&parsed, OPT_UNKEEP), false); break;
    case OPT_SCHEDULE: /* with --serve the scheduler runs inside the server */
    case OPT_SERVE: code = optionsHas(&parsed, OPT_SERVE) ? cmdServe(&context) : cmdSchedule(&context); break;
    case OPT_RESUME: code = cmdResume(&context); break;
    case OPT_GENERATE_KEY: code = cmdGenerateKey(&context, optionsValue(&parsed, OPT_GENERATE_KEY)); break;
    case OPT_ROTATE_KEY: code = cmdRotateKey(&context); break;
    default:
        errSet(ERR_USAGE, "--%s is not available in this version", optionsName(action));
        logErrorBlock("Unsupported action", false);
        code = ERR_USAGE;
        break;
    }
    cfgFree(config);
    return errExitStatus(code);
}

int commandRestoreMain(int argc, char **argv)
{
    const CommandDef *command = optionsRestoreCommand();
    ParsedOptions parsed;
    Config *config = NULL;
    OptionId action = OPT_COUNT_;
    int early = mainPrepareAction(command, argc, argv, "--backup-id <id> is required", &parsed, &config,
                                  &action);
    if (early >= 0)
        return early;
    if (optionsHas(&parsed, OPT_VALIDATE) && optionsHas(&parsed, OPT_NO_VALIDATE)) {
        cfgFree(config);
        return mainUsageError(command, "--validate and --no-validate contradict each other");
    }
    CommandContext context = mainContext(config, &parsed);
    ErrCode code;
    if (action == OPT_STATUS)
        code = cmdRestoreStatus(&context);
    else if (action == OPT_CANCEL)
        code = cmdRestoreCancel(&context);
    else
        code = cmdRestore(&context, optionsValue(&parsed, OPT_BACKUP_ID));
    cfgFree(config);
    return errExitStatus(code);
}
