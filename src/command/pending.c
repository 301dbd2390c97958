/* Commands whose implementation has not landed yet. */
#include "command/command.h"

#include "common/log.h"

static ErrCode pendingCommand(const char *name)
{
    errSet(ERR_USAGE, "%s is not implemented yet", name);
    logErrorBlock("Not available", false);
    return ERR_USAGE;
}

ErrCode cmdSchedule(CommandContext *context) { (void)context; return pendingCommand("--schedule"); }
ErrCode cmdResume(CommandContext *context) { (void)context; return pendingCommand("--resume"); }
