/* The commands of both executables. Each takes the parsed options and the
 * layered configuration, does one job, reports through the log, and returns
 * an ErrCode whose exit status the executable returns. */
#ifndef NBK_COMMAND_COMMAND_H
#define NBK_COMMAND_COMMAND_H

#include "command/options.h"
#include "common/config.h"
#include "common/error.h"

#include <signal.h>
#include <stdbool.h>

typedef struct {
    Config *config;
    const ParsedOptions *options;
    bool dryRun;
    bool json;
    /* Set by SIGINT/SIGTERM: long operations stop cleanly and leave nothing partial. */
    volatile sig_atomic_t *cancelFlag;
} CommandContext;

/* Runs the whole neo4j-backup / neo4j-restore command line; returns the exit status. */
int commandBackupMain(int argc, char **argv);
int commandRestoreMain(int argc, char **argv);

ErrCode cmdCheck(CommandContext *context);
ErrCode cmdCreate(CommandContext *context);
ErrCode cmdList(CommandContext *context);
ErrCode cmdDelete(CommandContext *context, const char *backupId); /* --force from the options */
/* --delete: refuses a kept backup or the last restorable one unless force. */
ErrCode cmdDeleteBackup(CommandContext *context, const char *backupId, bool force);
ErrCode cmdValidate(CommandContext *context, const char *backupId);
ErrCode cmdCleanup(CommandContext *context);
/* --copy [<backup_id>]: one or every backup to BACKUP_COPY_PATH (command/copy.c). */
ErrCode cmdCopy(CommandContext *context, const char *backupId);
/* --aggregate <id>: a full backup of a differential's state from its chain. */
ErrCode cmdAggregate(CommandContext *context, const char *backupId);
ErrCode cmdKeep(CommandContext *context, const char *backupId, bool keep);
ErrCode cmdSchedule(CommandContext *context);
/* cmdSchedule that calls started(payload) once the scheduler holds its lock
 * and is recorded as running, before its loop (--schedule --serve starts
 * its server there); an error from it stops the scheduler. */
ErrCode cmdScheduleWith(CommandContext *context, ErrCode (*started)(void *payload), void *payload);
ErrCode cmdResume(CommandContext *context);
/* --generate-key <file>: a new random master key file, mode 0600, never over an existing file. */
ErrCode cmdGenerateKey(CommandContext *context, const char *path);
ErrCode cmdRotateKey(CommandContext *context);
/* --serve, and --schedule --serve (the scheduler with the server beside it). */
ErrCode cmdServe(CommandContext *context);
ErrCode cmdRestore(CommandContext *context, const char *backupId);
ErrCode cmdRestoreStatus(CommandContext *context);
ErrCode cmdRestoreCancel(CommandContext *context);

#endif
