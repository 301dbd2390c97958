/* neo4j-backup --create: the configuration resolved into a BackupRequest,
 * the backup service (backup/backup.h) called, its events printed as the
 * contract's lines. The dump method keeps its own flow (command/dump.c). */
#include "command/support.h"

#include "backup/backup_settings.h"
#include "command/dump.h"
#include "common/log.h"

ErrCode cmdCreate(CommandContext *context)
{
    char id[CAT_ID_SIZE];
    ErrCode code = createBackup(context, id);
    /* The second location gets the new backup; a dry run created none. */
    if (code == ERR_OK && !context->dryRun)
        code = supportCopyAfterCreate(context, id, false);
    return code;
}

ErrCode createBackup(CommandContext *context, char idOut[CAT_ID_SIZE])
{
    idOut[0] = '\0';
    BackupSettings settings;
    ErrCode code = backupSettingsResolve(context->config, &settings);
    if (code == ERR_OK && settings.method == BACKUP_METHOD_DUMP)
        code = cmdDumpCreate(context, idOut);
    else if (code == ERR_OK)
        code = backupCreateConfigured(context->config, &settings, &supportInstanceAccess, context->dryRun,
                                      context->cancelFlag, idOut);
    else
        logErrorBlock("Failed to create backup", false);
    backupSettingsFree(&settings);
    return code;
}
