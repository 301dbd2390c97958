/* Configuration: every setting has ONE name, the environment variable name,
 * used alike in the environment, the config file and the documentation. The
 * settings table (config.def, served by cfgSettingsTable) is the single source
 * of names, defaults, descriptions and secrecy; docs and man pages are
 * generated from it, and code names a setting by its CfgKey (CFG_<NAME>), so a
 * misspelt key does not compile.
 *
 * Precedence, highest first:
 *   command line (cfgSetOverride) > config file (cfgLoadFile) > environment > defaults.
 * Empty environment variables count as unset (docker-compose often exports
 * "VAR="); an empty value in the config file or on the command line is an
 * explicit empty value that hides lower layers.
 *
 * Config file format (--config FILE):
 *   # comment                      blank lines are ignored
 *   KEY=VALUE                      "export KEY=VALUE" is tolerated
 *   KEY="VALUE"  KEY='VALUE'       double quotes allow \" and \\ escapes;
 *                                  single quotes are literal
 *   KEY=value # note               unquoted: whitespace + '#' starts a comment
 *   [instance NAME]                starts a named restore target; its keys:
 *                                  URI, USER, PASSWORD, PASSWORD_FILE, DATABASE,
 *                                  START_COMMAND, STOP_COMMAND, NEO4J_HOME,
 *                                  CONTAINER, CA_FILE
 * Unknown keys and sections are logged as warnings and ignored.
 *
 * Secrets (isSecret) are never logged; cfgDescribe masks them as "****" and
 * also masks passwords embedded in URLs ("smtp://user:****@host"). */
#ifndef NBK_COMMON_CONFIG_H
#define NBK_COMMON_CONFIG_H

#include "common/buffer.h"
#include "common/error.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum {
    CFG_TYPE_STRING,
    CFG_TYPE_PATH,
    CFG_TYPE_URI,
    CFG_TYPE_INT,          /* whole number within [minValue, maxValue] */
    CFG_TYPE_BOOL,         /* true/false, yes/no, on/off, 1/0 (any case) */
    CFG_TYPE_CHOICE,       /* one of `choices` ("none|gzip|zstd") */
    CFG_TYPE_SECONDS_LIST, /* "60,300,1800,86400"; items may use s/m/h/d suffixes */
    CFG_TYPE_CRON,         /* validated by the scheduler, a string here */
} CfgType;

typedef struct {
    const char *name;         /* the one name, e.g. "BACKUP_RETENTION_DAYS" */
    const char *group;        /* documentation section: "Storage", "Neo4j", ... */
    CfgType type;
    const char *defaultValue; /* NULL: no default (unset) */
    const char *description;  /* one sentence for --help, docs and man pages */
    bool isSecret;            /* masked in every output */
    const char *choices;      /* CFG_TYPE_CHOICE only: "a|b|c" */
    int64_t minValue;         /* CFG_TYPE_INT only */
    int64_t maxValue;
} CfgSetting;

/* One identifier per setting: CFG_BACKUP_STORAGE_PATH, CFG_NEO4J_URI, ... */
typedef enum {
#define NBK_SETTING(name, ...) CFG_##name,
#include "common/config.def"
#undef NBK_SETTING
    CFG_KEY_COUNT_
} CfgKey;

/* The table, in documentation order and indexed by CfgKey; *count receives
 * its length. Static data. */
const CfgSetting *cfgSettingsTable(size_t *count);
/* Entry of a key. */
const CfgSetting *cfgSetting(CfgKey key);
/* The setting's one name, e.g. "BACKUP_STORAGE_PATH". */
const char *cfgName(CfgKey key);
/* Entry by exact name (config file keys, environment names), NULL when unknown. */
const CfgSetting *cfgSettingFind(const char *name);
/* Key by exact name; false when unknown. */
bool cfgKeyFromName(const char *name, CfgKey *out);

typedef enum {
    CFG_SOURCE_UNSET,
    CFG_SOURCE_DEFAULT,
    CFG_SOURCE_ENVIRONMENT,
    CFG_SOURCE_FILE,
    CFG_SOURCE_COMMAND_LINE,
} CfgSource;

const char *cfgSourceName(CfgSource source); /* "default", "environment", ... */

typedef struct Config Config;

/* New configuration with the environment captured now and defaults. */
ErrCode cfgNew(Config **out);
void cfgFree(Config *config);

/* Loads a config file (replacing any file loaded before). CONFIG_INVALID
 * with "<file> line <n>: <problem>" on syntax errors or an unreadable file. */
ErrCode cfgLoadFile(Config *config, const char *path);
/* Path of the loaded config file, NULL if none. */
const char *cfgFilePath(const Config *config);

/* Command-line value for a setting; value NULL removes the override.
 * The value is copied. CONFIG_INVALID only for a key out of range. */
ErrCode cfgSetOverride(Config *config, CfgKey key, const char *value);

/* Effective value, NULL when unset or empty. Borrowed: valid until the
 * setting is changed or the config is freed. */
const char *cfgGet(const Config *config, CfgKey key);
/* Where the effective value comes from (CFG_SOURCE_UNSET if none). */
CfgSource cfgSource(const Config *config, CfgKey key);

/* Typed getters; CONFIG_INVALID names the key, the bad value and where it was
 * set. An unset setting without default gives CONFIG_INVALID "not set". */
ErrCode cfgGetInt(const Config *config, CfgKey key, int64_t *out);
ErrCode cfgGetBool(const Config *config, CfgKey key, bool *out);
/* Items in seconds; at most maxItems; *count receives the number read. */
ErrCode cfgGetSecondsList(const Config *config, CfgKey key, int64_t *out, size_t maxItems, size_t *count);
/* Parses "90", "90s", "5m", "2h", "1d" into seconds (false on bad input). */
bool cfgParseSeconds(const char *text, int64_t *out);

/* Secret X: the value of X, or the content of the file named by X_FILE with
 * trailing newlines (\n, \r\n) stripped. When both are set, the one from the
 * higher-precedence layer wins; both in the same layer is CONFIG_INVALID. An
 * unreadable file is CONFIG_INVALID naming the file (never its content).
 * *out is NULL when neither is set; otherwise owned by the caller, released
 * with cfgSecretFree (which wipes it). */
ErrCode cfgGetSecret(const Config *config, CfgKey key, char **out);
void cfgSecretFree(char *secret);

/* Records the one error for a missing BACKUP_STORAGE_PATH (CONFIG_INVALID,
 * with the action saying what to set) and returns CONFIG_INVALID. */
ErrCode cfgStoragePathMissing(void);

/* Checks every set value against its type (ints in range, booleans,
 * choices, seconds lists, *_FILE secrets readable, X and X_FILE not both
 * in one layer). Returns the first problem. */
ErrCode cfgValidate(const Config *config);

/* Appends the effective settings, one per line with their source, secrets
 * masked, followed by the instances of the config file, to out. */
void cfgDescribe(const Config *config, Buffer *out);

/* Restore targets. */
#define CFG_PRODUCTION_INSTANCE "production" /* always NEO4J_* settings */
#define CFG_DEFAULT_TARGET "test-neo4j"      /* [instance test-neo4j], else TEST_NEO4J_* */
#define CFG_INSTANCE_NAME_SIZE 65

typedef struct {
    char name[CFG_INSTANCE_NAME_SIZE];
    char *uri;
    char *user;
    char *password;     /* secret: wiped by cfgInstanceFree */
    char *database;
    char *startCommand; /* shell command, NULL if none */
    char *stopCommand;
    char *neo4jHome;
    char *container;    /* container name, informational */
    char *caFile;
    bool isProduction;   /* the NEO4J_* instance backups are taken from */
    bool fromConfigFile; /* defined by an [instance] section */
} InstanceConfig;

/* Resolves a target name. "production" maps to NEO4J_URI, NEO4J_USER,
 * NEO4J_PASSWORD(_FILE), NEO4J_DATABASE, NEO4J_START/STOP_COMMAND, NEO4J_HOME,
 * NEO4J_CA_FILE. "test-neo4j" maps to its [instance] section if there is one,
 * else to TEST_NEO4J_URI/USER/PASSWORD(_FILE)/DATABASE/CONTAINER (and
 * NEO4J_CA_FILE). Any other name needs an [instance NAME] section.
 * TARGET_UNKNOWN for an undefined name or a test target without URI;
 * CONFIG_INVALID for a bad section. out is owned by the caller:
 * cfgInstanceFree. USER and DATABASE default to "neo4j". */
ErrCode cfgInstance(const Config *config, const char *name, InstanceConfig *out);
void cfgInstanceFree(InstanceConfig *instance);
/* Names of the [instance] sections in file order (borrowed). */
size_t cfgInstanceCount(const Config *config);
const char *cfgInstanceName(const Config *config, size_t index);

#endif
