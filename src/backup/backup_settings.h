/* The backup's settings from the layered configuration, resolved once for
 * every front end (command line, scheduler, HTTP API) into the values a
 * BackupRequest carries: the part of "options -> request" that does not
 * depend on the front end. */
#ifndef NBK_BACKUP_BACKUP_SETTINGS_H
#define NBK_BACKUP_BACKUP_SETTINGS_H

#include "backup/backup.h"
#include "common/config.h"

typedef enum {
    BACKUP_METHOD_LOGICAL,
    BACKUP_METHOD_DUMP,
} BackupMethod;

typedef struct {
    BackupMethod method;         /* BACKUP_METHOD */
    InstanceConfig source;       /* the production instance; owned */
    const char *storagePath;     /* BACKUP_STORAGE_PATH; borrowed from the config */
    ArcCompression compression;  /* BACKUP_COMPRESSION (logical only) */
    int64_t minFreePercent;      /* BACKUP_MIN_FREE_PERCENT */
    BackupType type;             /* BACKUP_TYPE */
    int64_t diffMaxChain;        /* BACKUP_DIFF_MAX_CHAIN */
    int64_t diffMaxPercent;      /* BACKUP_DIFF_MAX_PERCENT */
    const char *dataPath;        /* NEO4J_DATA_PATH or NULL; borrowed */
} BackupSettings;

/* Fills out from config. CONFIG_INVALID for an unknown method, a bad
 * compression or percentage, or no BACKUP_STORAGE_PATH; the instance's own
 * errors (cfgInstance). For the dump method only method is resolved: the
 * dump flow reads its own settings. out is freed with backupSettingsFree,
 * also after a failure. */
ErrCode backupSettingsResolve(const Config *config, BackupSettings *out);
void backupSettingsFree(BackupSettings *settings);
/* The request's settings part (source, storage, compression, space); the
 * caller adds the connector, dryRun, cancelFlag and lockPurpose. settings
 * must outlive the request. */
void backupSettingsRequest(const BackupSettings *settings, BackupRequest *out);

/* How a front end reaches instances (connection code with routing, the
 * version query), until that lives below the front ends. */
typedef struct {
    /* BOLT_ACCESS_READ: routed as NEO4J_READ_FROM says; WRITE: a primary. */
    ErrCode (*connect)(const Config *config, const InstanceConfig *instance, BoltAccessMode mode,
                       BoltConnection **out);
    ErrCode (*serverVersion)(BoltConnection *connection, char *version, size_t versionSize, char *edition,
                             size_t editionSize);
} BackupInstanceAccess;

/* A logical backup with resolved settings as every front end runs it:
 * request built, backupCreate called with the contract's report
 * (backupReportEvent), the failure block shown on failure. idOut: the new
 * backup's id, empty after a dry run or a failure. */
ErrCode backupCreateConfigured(const Config *config, const BackupSettings *settings,
                               const BackupInstanceAccess *access, bool dryRun,
                               volatile sig_atomic_t *cancelFlag, char idOut[CAT_ID_SIZE]);

#endif
