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
ErrCode cmdRestore(CommandContext *context, const char *backupId) { (void)context; (void)backupId; return pendingCommand("restore"); }
ErrCode cmdRestoreStatus(CommandContext *context) { (void)context; return pendingCommand("--status"); }
ErrCode cmdRestoreCancel(CommandContext *context) { (void)context; return pendingCommand("--cancel"); }
