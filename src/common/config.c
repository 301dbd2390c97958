/* Configuration: the settings table (config.def), the layers (command line,
 * config file, environment, defaults), typed getters, secrets and restore
 * targets. */
#include "common/config.h"

#include "common/fsutil.h"
#include "common/log.h"
#include "common/mem.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

/* Largest secret file read: passwords and tokens, not documents. */
#define CFG_SECRET_FILE_MAX 65536
#define CFG_FILE_MAX (4 * 1024 * 1024)

static const CfgSetting cfgSettings[] = {
#define NBK_SETTING(name, group, type, def, text, secret, choices, min, max) \
    [CFG_##name] = {#name, group, type, def, text, secret, choices, min, max},
#include "common/config.def"
#undef NBK_SETTING
};

enum { CFG_SETTING_COUNT = CFG_KEY_COUNT_ };
_Static_assert(sizeof(cfgSettings) / sizeof(cfgSettings[0]) == CFG_KEY_COUNT_, "one row per CfgKey");

/* Layers in increasing precedence (defaults live in the table). */
enum { LAYER_ENVIRONMENT, LAYER_FILE, LAYER_COMMAND_LINE, LAYER_COUNT };

static const char *const instanceKeys[] = {
    "URI", "USER", "PASSWORD", "PASSWORD_FILE", "DATABASE", "START_COMMAND",
    "STOP_COMMAND", "NEO4J_HOME", "CONTAINER", "CA_FILE",
};
enum {
    KEY_URI, KEY_USER, KEY_PASSWORD, KEY_PASSWORD_FILE, KEY_DATABASE, KEY_START_COMMAND,
    KEY_STOP_COMMAND, KEY_NEO4J_HOME, KEY_CONTAINER, KEY_CA_FILE, INSTANCE_KEY_COUNT
};

typedef struct {
    char name[CFG_INSTANCE_NAME_SIZE];
    char *values[INSTANCE_KEY_COUNT];
    int line; /* where the section starts, for messages */
} CfgInstanceSection;

struct Config {
    char *values[LAYER_COUNT][CFG_SETTING_COUNT];
    CfgInstanceSection *instances;
    size_t instanceCount;
    char *filePath;
};

const CfgSetting *cfgSettingsTable(size_t *count)
{
    *count = CFG_SETTING_COUNT;
    return cfgSettings;
}

static int settingIndex(const char *name)
{
    if (!name)
        return -1;
    for (int index = 0; index < CFG_SETTING_COUNT; index++)
        if (strcmp(cfgSettings[index].name, name) == 0)
            return index;
    return -1;
}

const CfgSetting *cfgSettingFind(const char *name)
{
    int index = settingIndex(name);
    return index < 0 ? NULL : &cfgSettings[index];
}

bool cfgKeyFromName(const char *name, CfgKey *out)
{
    int index = settingIndex(name);
    if (index < 0)
        return false;
    *out = (CfgKey)index;
    return true;
}

static bool keyValid(CfgKey key) { return (int)key >= 0 && (int)key < CFG_SETTING_COUNT; }

const CfgSetting *cfgSetting(CfgKey key) { return keyValid(key) ? &cfgSettings[key] : NULL; }

const char *cfgName(CfgKey key) { return keyValid(key) ? cfgSettings[key].name : "(unknown setting)"; }

const char *cfgSourceName(CfgSource source)
{
    switch (source) {
    case CFG_SOURCE_UNSET: return "not set";
    case CFG_SOURCE_DEFAULT: return "default";
    case CFG_SOURCE_ENVIRONMENT: return "environment";
    case CFG_SOURCE_FILE: return "config file";
    case CFG_SOURCE_COMMAND_LINE: return "command line";
    }
    return "unknown";
}

static char *cfgStrdup(const char *text)
{
    char *copy = memStrdup(text);
    return copy;
}

/* Frees a string that may hold a secret, wiping it first. */
static void freeWiped(char *text)
{
    if (!text)
        return;
    explicit_bzero(text, strlen(text));
    free(text);
}

ErrCode cfgNew(Config **out)
{
    Config *config = memCalloc(1, sizeof(*config));
    for (int index = 0; index < CFG_SETTING_COUNT; index++) {
        const char *value = getenv(cfgSettings[index].name);
        if (value && value[0])
            config->values[LAYER_ENVIRONMENT][index] = cfgStrdup(value);
    }
    *out = config;
    return ERR_OK;
}

static void cfgClearFileLayer(Config *config)
{
    for (int index = 0; index < CFG_SETTING_COUNT; index++) {
        freeWiped(config->values[LAYER_FILE][index]);
        config->values[LAYER_FILE][index] = NULL;
    }
    for (size_t section = 0; section < config->instanceCount; section++)
        for (int key = 0; key < INSTANCE_KEY_COUNT; key++)
            freeWiped(config->instances[section].values[key]);
    free(config->instances);
    config->instances = NULL;
    config->instanceCount = 0;
    free(config->filePath);
    config->filePath = NULL;
}

void cfgFree(Config *config)
{
    if (!config)
        return;
    cfgClearFileLayer(config);
    for (int layer = 0; layer < LAYER_COUNT; layer++)
        for (int index = 0; index < CFG_SETTING_COUNT; index++)
            freeWiped(config->values[layer][index]);
    free(config);
}

const char *cfgFilePath(const Config *config) { return config->filePath; }

ErrCode cfgSetOverride(Config *config, CfgKey key, const char *value)
{
    if (!keyValid(key))
        return errSet(CONFIG_INVALID, "unknown setting %d", (int)key);
    int index = (int)key;
    freeWiped(config->values[LAYER_COMMAND_LINE][index]);
    config->values[LAYER_COMMAND_LINE][index] = value ? cfgStrdup(value) : NULL;
    return ERR_OK;
}

/* Effective value including empty strings, and its source. */
static const char *cfgLookup(const Config *config, int index, CfgSource *source)
{
    static const CfgSource layerSources[LAYER_COUNT] = {
        CFG_SOURCE_ENVIRONMENT, CFG_SOURCE_FILE, CFG_SOURCE_COMMAND_LINE};
    for (int layer = LAYER_COUNT - 1; layer >= 0; layer--) {
        if (config->values[layer][index]) {
            if (source)
                *source = layerSources[layer];
            return config->values[layer][index];
        }
    }
    if (source)
        *source = cfgSettings[index].defaultValue ? CFG_SOURCE_DEFAULT : CFG_SOURCE_UNSET;
    return cfgSettings[index].defaultValue;
}

const char *cfgGet(const Config *config, CfgKey key)
{
    if (!keyValid(key))
        return NULL;
    const char *value = cfgLookup(config, (int)key, NULL);
    return value && value[0] ? value : NULL;
}

CfgSource cfgSource(const Config *config, CfgKey key)
{
    if (!keyValid(key))
        return CFG_SOURCE_UNSET;
    CfgSource source;
    cfgLookup(config, (int)key, &source);
    return source;
}

ErrCode cfgStoragePathMissing(void)
{
    errSet(CONFIG_INVALID, "BACKUP_STORAGE_PATH is not set");
    errSetAction("Set BACKUP_STORAGE_PATH to the directory that holds the backups");
    return CONFIG_INVALID;
}

/* Sets the action to "Fix NAME in the <source>" so the operator knows where. */
static ErrCode cfgInvalid(const char *name, CfgSource source, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static ErrCode cfgInvalid(const char *name, CfgSource source, const char *fmt, ...)
{
    char reason[768];
    va_list args;
    va_start(args, fmt);
    vsnprintf(reason, sizeof(reason), fmt, args);
    va_end(args);
    errSet(CONFIG_INVALID, "%s: %s", name, reason);
    if (source == CFG_SOURCE_ENVIRONMENT || source == CFG_SOURCE_FILE || source == CFG_SOURCE_COMMAND_LINE)
        errSetAction("Fix %s in the %s", name, cfgSourceName(source));
    else
        errSetAction("Set %s in the environment or the config file", name);
    return CONFIG_INVALID;
}

static bool parseInt(const char *text, int64_t *out)
{
    if (!text || !text[0] || isspace((unsigned char)text[0]))
        return false;
    char *end = NULL;
    errno = 0;
    long long value = strtoll(text, &end, 10);
    if (errno != 0 || end == text || *end != '\0')
        return false;
    *out = (int64_t)value;
    return true;
}

static bool parseBool(const char *text, bool *out)
{
    static const char *const trueWords[] = {"true", "yes", "on", "1"};
    static const char *const falseWords[] = {"false", "no", "off", "0"};
    if (!text)
        return false;
    for (size_t word = 0; word < sizeof(trueWords) / sizeof(trueWords[0]); word++) {
        if (strcasecmp(text, trueWords[word]) == 0) {
            *out = true;
            return true;
        }
        if (strcasecmp(text, falseWords[word]) == 0) {
            *out = false;
            return true;
        }
    }
    return false;
}

bool cfgParseSeconds(const char *text, int64_t *out)
{
    if (!text)
        return false;
    while (isspace((unsigned char)*text))
        text++;
    if (!isdigit((unsigned char)*text))
        return false;
    char *end = NULL;
    errno = 0;
    unsigned long long value = strtoull(text, &end, 10);
    if (errno != 0)
        return false;
    uint64_t multiplier = 1;
    switch (*end) {
    case 's': multiplier = 1; end++; break;
    case 'm': multiplier = 60; end++; break;
    case 'h': multiplier = 3600; end++; break;
    case 'd': multiplier = 86400; end++; break;
    default: break;
    }
    while (isspace((unsigned char)*end))
        end++;
    if (*end != '\0' || value > (uint64_t)INT64_MAX / multiplier)
        return false;
    *out = (int64_t)(value * multiplier);
    return true;
}

/* Fetches a value for a typed getter; "not set" is an error there. *value
 * and *source are set on every path, the unknown key included. */
static ErrCode cfgRequire(const Config *config, CfgKey key, const char **value, CfgSource *source)
{
    *value = NULL;
    *source = CFG_SOURCE_UNSET;
    if (!keyValid(key)) {
        /* CONFIG_INVALID by name: the callers index cfgSettings[key] once this
         * returned ERR_OK, and the compiler cannot see what errSet returns. */
        errSet(CONFIG_INVALID, "unknown setting %d", (int)key);
        return CONFIG_INVALID;
    }
    *value = cfgLookup(config, (int)key, source);
    if (!*value)
        return cfgInvalid(cfgSettings[key].name, *source, "not set");
    return ERR_OK;
}

ErrCode cfgGetInt(const Config *config, CfgKey key, int64_t *out)
{
    const char *value;
    CfgSource source;
    ErrCode result = cfgRequire(config, key, &value, &source);
    if (result != ERR_OK)
        return result;
    const CfgSetting *setting = &cfgSettings[key];
    const char *name = setting->name;
    int64_t number;
    bool ranged = setting->type == CFG_TYPE_INT;
    if (!parseInt(value, &number) || (ranged && (number < setting->minValue || number > setting->maxValue))) {
        if (ranged)
            return cfgInvalid(name, source, "invalid value '%s' (expected a whole number from %" PRId64
                              " to %" PRId64 ")", value, setting->minValue, setting->maxValue);
        return cfgInvalid(name, source, "invalid value '%s' (expected a whole number)", value);
    }
    *out = number;
    return ERR_OK;
}

ErrCode cfgGetBool(const Config *config, CfgKey key, bool *out)
{
    const char *value;
    CfgSource source;
    ErrCode result = cfgRequire(config, key, &value, &source);
    if (result != ERR_OK)
        return result;
    if (!parseBool(value, out))
        return cfgInvalid(cfgSettings[key].name, source, "invalid value '%s' (expected true or false)", value);
    return ERR_OK;
}

ErrCode cfgGetSecondsList(const Config *config, CfgKey key, int64_t *out, size_t maxItems, size_t *count)
{
    const char *value;
    CfgSource source;
    *count = 0;
    ErrCode result = cfgRequire(config, key, &value, &source);
    if (result != ERR_OK)
        return result;
    const char *name = cfgSettings[key].name;
    char item[64];
    const char *cursor = value;
    size_t found = 0;
    for (;;) {
        size_t itemLength = strcspn(cursor, ",");
        if (itemLength >= sizeof(item))
            return cfgInvalid(name, source, "invalid value '%s' (item too long)", value);
        memcpy(item, cursor, itemLength);
        item[itemLength] = '\0';
        int64_t seconds;
        if (!cfgParseSeconds(item, &seconds))
            return cfgInvalid(name, source,
                              "invalid value '%s' (expected comma-separated durations like 60,5m,1h,1d)",
                              value);
        if (found == maxItems)
            return cfgInvalid(name, source, "invalid value '%s' (more than %zu items)", value, maxItems);
        out[found++] = seconds;
        if (cursor[itemLength] == '\0')
            break;
        cursor += itemLength + 1;
    }
    *count = found;
    return ERR_OK;
}

void cfgSecretFree(char *secret) { freeWiped(secret); }

/* Reads a secret file; CONFIG_INVALID names the setting and the file. */
static ErrCode readSecretFile(const char *settingName, CfgSource source, const char *path, char **out)
{
    Buffer content;
    bufferInit(&content);
    ErrCode result = fsReadFile(path, CFG_SECRET_FILE_MAX, &content);
    if (result != ERR_OK) {
        char reason[sizeof(errLast()->reason)];
        snprintf(reason, sizeof(reason), "%s", errLast()->reason);
        bufferFree(&content);
        return cfgInvalid(settingName, source, "cannot read secret file: %s", reason);
    }
    size_t length = content.length;
    while (length > 0 && (content.data[length - 1] == '\n' || content.data[length - 1] == '\r'))
        length--;
    if (memchr(content.data, '\0', length)) {
        explicit_bzero(content.data, content.length);
        bufferFree(&content);
        return cfgInvalid(settingName, source, "secret file %s contains a NUL byte", path);
    }
    char *secret = memAlloc(length + 1);
    if (length)
        memcpy(secret, content.data, length);
    secret[length] = '\0';
    if (content.data)
        explicit_bzero(content.data, content.length);
    bufferFree(&content);
    *out = secret;
    return ERR_OK;
}

/* Resolution shared by settings and instance sections: a direct value and a
 * file name, each with its layer rank (-1 = unset). */
static ErrCode resolveSecret(const char *name, const char *direct, int directRank, const char *fileName,
                             const char *filePath, int fileRank, CfgSource fileSource, char **out)
{
    *out = NULL;
    if (directRank >= 0 && fileRank >= 0 && directRank == fileRank)
        return cfgInvalid(name, fileSource, "both %s and %s are set; set only one", name, fileName);
    if (fileRank > directRank)
        return readSecretFile(fileName, fileSource, filePath, out);
    if (directRank >= 0)
        *out = cfgStrdup(direct);
    return ERR_OK;
}

static int layerRank(CfgSource source)
{
    switch (source) {
    case CFG_SOURCE_ENVIRONMENT: return LAYER_ENVIRONMENT;
    case CFG_SOURCE_FILE: return LAYER_FILE;
    case CFG_SOURCE_COMMAND_LINE: return LAYER_COMMAND_LINE;
    default: return -1;
    }
}

ErrCode cfgGetSecret(const Config *config, CfgKey key, char **out)
{
    *out = NULL;
    if (!keyValid(key))
        return errSet(CONFIG_INVALID, "unknown setting %d", (int)key);
    int index = (int)key;
    const char *name = cfgSettings[key].name;
    char fileName[128];
    snprintf(fileName, sizeof(fileName), "%s_FILE", name);
    int fileIndex = settingIndex(fileName);
    CfgSource directSource, fileSource = CFG_SOURCE_UNSET;
    const char *direct = cfgLookup(config, index, &directSource);
    const char *filePath = fileIndex >= 0 ? cfgLookup(config, fileIndex, &fileSource) : NULL;
    /* An explicitly empty X_FILE means "no file", like an unset one. */
    int directRank = direct && direct[0] ? layerRank(directSource) : -1;
    int fileRank = filePath && filePath[0] ? layerRank(fileSource) : -1;
    return resolveSecret(name, direct, directRank, fileName, filePath, fileRank, fileSource, out);
}

static bool choiceAllowed(const char *choices, const char *value)
{
    size_t valueLength = strlen(value);
    const char *cursor = choices;
    for (;;) {
        size_t itemLength = strcspn(cursor, "|");
        if (itemLength == valueLength && strncmp(cursor, value, itemLength) == 0)
            return true;
        if (cursor[itemLength] == '\0')
            return false;
        cursor += itemLength + 1;
    }
}

static ErrCode cfgValidateInstance(const Config *config, size_t sectionIndex);

ErrCode cfgValidate(const Config *config)
{
    for (int index = 0; index < CFG_SETTING_COUNT; index++) {
        const CfgSetting *setting = &cfgSettings[index];
        CfgSource source;
        const char *value = cfgLookup(config, index, &source);
        if (!value)
            continue; /* an explicit empty value is checked: "" is no number */
        ErrCode result = ERR_OK;
        switch (setting->type) {
        case CFG_TYPE_INT: {
            int64_t number;
            result = cfgGetInt(config, (CfgKey)index, &number);
            break;
        }
        case CFG_TYPE_BOOL: {
            bool flag;
            result = cfgGetBool(config, (CfgKey)index, &flag);
            break;
        }
        case CFG_TYPE_CHOICE:
            if (!choiceAllowed(setting->choices, value))
                result = cfgInvalid(setting->name, source, "invalid value '%s' (expected one of %s)", value,
                                    setting->choices);
            break;
        case CFG_TYPE_SECONDS_LIST: {
            int64_t items[64];
            size_t count;
            result = cfgGetSecondsList(config, (CfgKey)index, items, 64, &count);
            break;
        }
        default:
            break;
        }
        if (result != ERR_OK)
            return result;
    }
    /* Reading each secret checks its X_FILE too. */
    for (int index = 0; index < CFG_SETTING_COUNT; index++) {
        if (!cfgSettings[index].isSecret)
            continue;
        char *secret = NULL;
        ErrCode result = cfgGetSecret(config, (CfgKey)index, &secret);
        cfgSecretFree(secret);
        if (result != ERR_OK)
            return result;
    }
    for (size_t section = 0; section < config->instanceCount; section++) {
        ErrCode result = cfgValidateInstance(config, section);
        if (result != ERR_OK)
            return result;
    }
    return ERR_OK;
}

/* ---- config file ---------------------------------------------------------- */

typedef struct {
    const char *path;
    int line;
} CfgFileCursor;

static ErrCode fileError(const CfgFileCursor *cursor, const char *problem, const char *detail)
{
    errSet(CONFIG_INVALID, "config file %s line %d: %s%s%s", cursor->path, cursor->line, problem,
           detail ? ": " : "", detail ? detail : "");
    errSetAction("Fix line %d of %s", cursor->line, cursor->path);
    return CONFIG_INVALID;
}

static char *trimInPlace(char *text)
{
    while (isspace((unsigned char)*text))
        text++;
    size_t length = strlen(text);
    while (length > 0 && isspace((unsigned char)text[length - 1]))
        text[--length] = '\0';
    return text;
}

static bool validKey(const char *key)
{
    if (!(isalpha((unsigned char)key[0]) || key[0] == '_'))
        return false;
    for (const char *cursor = key; *cursor; cursor++)
        if (!(isalnum((unsigned char)*cursor) || *cursor == '_'))
            return false;
    return true;
}

static bool validInstanceName(const char *name)
{
    size_t length = strlen(name);
    if (length == 0 || length >= CFG_INSTANCE_NAME_SIZE || name[0] == '.')
        return false;
    for (const char *cursor = name; *cursor; cursor++)
        if (!(isalnum((unsigned char)*cursor) || *cursor == '.' || *cursor == '_' || *cursor == '-'))
            return false;
    return true;
}

/* Decodes the value part of KEY=VALUE in place; *out points into raw. */
static ErrCode decodeValue(const CfgFileCursor *cursor, char *raw, char **out)
{
    char *value = trimInPlace(raw);
    if (value[0] == '"' || value[0] == '\'') {
        char quote = value[0];
        char *write = value;
        char *read = value + 1;
        while (*read && *read != quote) {
            if (quote == '"' && *read == '\\' && (read[1] == '"' || read[1] == '\\'))
                read++;
            *write++ = *read++;
        }
        if (*read != quote)
            return fileError(cursor, "unterminated quoted value", NULL);
        char *rest = trimInPlace(read + 1);
        if (rest[0] != '\0' && rest[0] != '#')
            return fileError(cursor, "unexpected text after the closing quote", NULL);
        *write = '\0';
        *out = value;
        return ERR_OK;
    }
    for (char *scan = value; *scan; scan++) {
        if (*scan == '#' && (scan == value || isspace((unsigned char)scan[-1]))) {
            *scan = '\0';
            break;
        }
    }
    *out = trimInPlace(value);
    return ERR_OK;
}

static CfgInstanceSection *findSection(const Config *config, const char *name)
{
    for (size_t section = 0; section < config->instanceCount; section++)
        if (strcmp(config->instances[section].name, name) == 0)
            return &config->instances[section];
    return NULL;
}

static CfgInstanceSection *addSection(Config *config, const char *name, int line)
{
    CfgInstanceSection *existing = findSection(config, name);
    if (existing)
        return existing; /* a repeated section continues the first one */
    CfgInstanceSection *grown = memRealloc(config->instances, (config->instanceCount + 1) * sizeof(*grown));
    config->instances = grown;
    CfgInstanceSection *section = &grown[config->instanceCount++];
    memset(section, 0, sizeof(*section));
    snprintf(section->name, sizeof(section->name), "%s", name);
    section->line = line;
    return section;
}

typedef enum { SECTION_TOP, SECTION_INSTANCE, SECTION_UNKNOWN } SectionKind;

static ErrCode parseSectionHeader(Config *config, const CfgFileCursor *cursor, char *line,
                                  SectionKind *kind, CfgInstanceSection **section)
{
    size_t length = strlen(line);
    if (line[length - 1] != ']')
        return fileError(cursor, "section header without closing ']'", NULL);
    line[length - 1] = '\0';
    char *inside = trimInPlace(line + 1);
    if (strncmp(inside, "instance", 8) == 0 && isspace((unsigned char)inside[8])) {
        char *name = trimInPlace(inside + 8);
        if (!validInstanceName(name))
            return fileError(cursor, "invalid instance name (letters, digits, '.', '_', '-'; up to 64)", name);
        if (strcmp(name, CFG_PRODUCTION_INSTANCE) == 0)
            return fileError(cursor, "the instance name 'production' is reserved",
                             "set NEO4J_URI, NEO4J_USER... at the top of the file instead");
        *kind = SECTION_INSTANCE;
        *section = addSection(config, name, cursor->line);
        return ERR_OK;
    }
    logWarn("config file %s line %d: unknown section [%s]; its keys are ignored", cursor->path, cursor->line,
            inside);
    *kind = SECTION_UNKNOWN;
    *section = NULL;
    return ERR_OK;
}

static int instanceKeyIndex(const char *key)
{
    for (int index = 0; index < INSTANCE_KEY_COUNT; index++)
        if (strcmp(instanceKeys[index], key) == 0)
            return index;
    return -1;
}

static ErrCode parseConfigText(Config *config, const char *path, char *text, bool *holdsSecrets)
{
    CfgFileCursor cursor = {path, 0};
    SectionKind kind = SECTION_TOP;
    CfgInstanceSection *section = NULL;
    char *next = text;
    while (next) {
        char *line = next;
        char *newline = strchr(line, '\n');
        next = newline ? newline + 1 : NULL;
        if (newline)
            *newline = '\0';
        cursor.line++;
        line = trimInPlace(line);
        if (line[0] == '\0' || line[0] == '#')
            continue;
        if (line[0] == '[') {
            ErrCode result = parseSectionHeader(config, &cursor, line, &kind, &section);
            if (result != ERR_OK)
                return result;
            continue;
        }
        if (strncmp(line, "export", 6) == 0 && isspace((unsigned char)line[6]))
            line = trimInPlace(line + 6);
        char *equals = strchr(line, '=');
        if (!equals)
            return fileError(&cursor, "expected KEY=VALUE", NULL);
        *equals = '\0';
        char *key = trimInPlace(line);
        if (!validKey(key))
            return fileError(&cursor, "invalid key name", key);
        char *value = NULL;
        ErrCode result = decodeValue(&cursor, equals + 1, &value);
        if (result != ERR_OK)
            return result;
        if (kind == SECTION_UNKNOWN)
            continue;
        if (kind == SECTION_INSTANCE) {
            int keyIndex = instanceKeyIndex(key);
            if (keyIndex < 0) {
                logWarn("config file %s line %d: unknown key '%s' in [instance %s] ignored", path, cursor.line,
                        key, section->name);
                continue;
            }
            freeWiped(section->values[keyIndex]);
            section->values[keyIndex] = cfgStrdup(value);
            if (keyIndex == KEY_PASSWORD)
                *holdsSecrets = true;
            continue;
        }
        int index = settingIndex(key);
        if (index < 0) {
            logWarn("config file %s line %d: unknown setting '%s' ignored", path, cursor.line, key);
            continue;
        }
        freeWiped(config->values[LAYER_FILE][index]);
        config->values[LAYER_FILE][index] = cfgStrdup(value);
        if (cfgSettings[index].isSecret && value[0])
            *holdsSecrets = true;
    }
    return ERR_OK;
}

ErrCode cfgLoadFile(Config *config, const char *path)
{
    cfgClearFileLayer(config);
    Buffer content;
    bufferInit(&content);
    ErrCode result = fsReadFile(path, CFG_FILE_MAX, &content);
    if (result != ERR_OK) {
        char reason[sizeof(errLast()->reason)];
        snprintf(reason, sizeof(reason), "%s", errLast()->reason);
        bufferFree(&content);
        errSet(CONFIG_INVALID, "cannot load config file: %s", reason);
        errSetAction("Check the path given to --config");
        return CONFIG_INVALID;
    }
    bufferAppendByte(&content, '\0');
    if (memchr(content.data, '\0', content.length - 1)) {
        explicit_bzero(content.data, content.length);
        bufferFree(&content);
        errSet(CONFIG_INVALID, "config file %s is not a text file (contains NUL bytes)", path);
        return CONFIG_INVALID;
    }
    bool holdsSecrets = false;
    result = parseConfigText(config, path, (char *)content.data, &holdsSecrets);
    explicit_bzero(content.data, content.length);
    bufferFree(&content);
    if (result != ERR_OK) {
        cfgClearFileLayer(config);
        return result;
    }
    config->filePath = cfgStrdup(path);
    struct stat info;
    if (holdsSecrets && stat(path, &info) == 0 && (info.st_mode & 077))
        logWarn("config file %s holds secrets and is readable by other users (mode %04o); run chmod 600 %s",
                path, (unsigned)(info.st_mode & 07777), path);
    return ERR_OK;
}

/* ---- instances ------------------------------------------------------------ */

size_t cfgInstanceCount(const Config *config) { return config->instanceCount; }

const char *cfgInstanceName(const Config *config, size_t index)
{
    return index < config->instanceCount ? config->instances[index].name : NULL;
}

static char *dupOrNull(const char *value) { return value && value[0] ? cfgStrdup(value) : NULL; }

void cfgInstanceFree(InstanceConfig *instance)
{
    if (!instance)
        return;
    free(instance->uri);
    free(instance->user);
    freeWiped(instance->password);
    free(instance->database);
    free(instance->startCommand);
    free(instance->stopCommand);
    free(instance->neo4jHome);
    free(instance->container);
    free(instance->caFile);
    memset(instance, 0, sizeof(*instance));
}

static ErrCode instanceFromSection(const CfgInstanceSection *section, const char *filePath,
                                   InstanceConfig *out)
{
    char label[CFG_INSTANCE_NAME_SIZE + 16];
    snprintf(label, sizeof(label), "[instance %s]", section->name);
    const char *uri = section->values[KEY_URI];
    if (!uri || !uri[0]) {
        errSet(CONFIG_INVALID, "%s in %s (line %d) has no URI", label, filePath ? filePath : "config file",
               section->line);
        errSetAction("Add URI=bolt://host:port to the section");
        return CONFIG_INVALID;
    }
    const char *password = section->values[KEY_PASSWORD];
    const char *passwordFile = section->values[KEY_PASSWORD_FILE];
    char *secret = NULL;
    ErrCode result = resolveSecret(label, password, password && password[0] ? LAYER_FILE : -1, "PASSWORD_FILE",
                                   passwordFile, passwordFile && passwordFile[0] ? LAYER_FILE : -1,
                                   CFG_SOURCE_FILE, &secret);
    if (result != ERR_OK)
        return result;
    memset(out, 0, sizeof(*out));
    snprintf(out->name, sizeof(out->name), "%s", section->name);
    out->uri = cfgStrdup(uri);
    out->user = cfgStrdup(section->values[KEY_USER] && section->values[KEY_USER][0] ? section->values[KEY_USER]
                                                                                     : "neo4j");
    out->password = secret;
    out->database = cfgStrdup(section->values[KEY_DATABASE] && section->values[KEY_DATABASE][0]
                                  ? section->values[KEY_DATABASE]
                                  : "neo4j");
    out->startCommand = dupOrNull(section->values[KEY_START_COMMAND]);
    out->stopCommand = dupOrNull(section->values[KEY_STOP_COMMAND]);
    out->neo4jHome = dupOrNull(section->values[KEY_NEO4J_HOME]);
    out->container = dupOrNull(section->values[KEY_CONTAINER]);
    out->caFile = dupOrNull(section->values[KEY_CA_FILE]);
    out->fromConfigFile = true;
    return ERR_OK;
}

static ErrCode cfgValidateInstance(const Config *config, size_t sectionIndex)
{
    InstanceConfig instance;
    ErrCode result = instanceFromSection(&config->instances[sectionIndex], config->filePath, &instance);
    if (result == ERR_OK)
        cfgInstanceFree(&instance);
    return result;
}

static const char *orDefault(const char *value, const char *fallback) { return value ? value : fallback; }

ErrCode cfgInstance(const Config *config, const char *name, InstanceConfig *out)
{
    memset(out, 0, sizeof(*out));
    if (!name || !name[0])
        name = CFG_DEFAULT_TARGET;
    if (strcmp(name, CFG_PRODUCTION_INSTANCE) == 0) {
        char *password = NULL;
        ErrCode result = cfgGetSecret(config, CFG_NEO4J_PASSWORD, &password);
        if (result != ERR_OK)
            return result;
        snprintf(out->name, sizeof(out->name), "%s", name);
        out->uri = cfgStrdup(orDefault(cfgGet(config, CFG_NEO4J_URI), "bolt://localhost:7687"));
        out->user = cfgStrdup(orDefault(cfgGet(config, CFG_NEO4J_USER), "neo4j"));
        out->password = password;
        out->database = cfgStrdup(orDefault(cfgGet(config, CFG_NEO4J_DATABASE), "neo4j"));
        out->startCommand = dupOrNull(cfgGet(config, CFG_NEO4J_START_COMMAND));
        out->stopCommand = dupOrNull(cfgGet(config, CFG_NEO4J_STOP_COMMAND));
        out->neo4jHome = dupOrNull(cfgGet(config, CFG_NEO4J_HOME));
        out->caFile = dupOrNull(cfgGet(config, CFG_NEO4J_CA_FILE));
        out->isProduction = true;
        return ERR_OK;
    }
    const CfgInstanceSection *section = findSection(config, name);
    if (section)
        return instanceFromSection(section, config->filePath, out);
    if (strcmp(name, CFG_DEFAULT_TARGET) == 0) {
        const char *uri = cfgGet(config, CFG_TEST_NEO4J_URI);
        if (!uri) {
            errSet(TARGET_UNKNOWN, "restore target %s is not configured (TEST_NEO4J_URI is not set)", name);
            errSetAction("Set TEST_NEO4J_URI or define [instance %s] in the config file", name);
            return TARGET_UNKNOWN;
        }
        char *password = NULL;
        ErrCode result = cfgGetSecret(config, CFG_TEST_NEO4J_PASSWORD, &password);
        if (result != ERR_OK)
            return result;
        snprintf(out->name, sizeof(out->name), "%s", name);
        out->uri = cfgStrdup(uri);
        out->user = cfgStrdup(orDefault(cfgGet(config, CFG_TEST_NEO4J_USER), "neo4j"));
        out->password = password;
        out->database = cfgStrdup(orDefault(cfgGet(config, CFG_TEST_NEO4J_DATABASE), "neo4j"));
        out->container = dupOrNull(cfgGet(config, CFG_TEST_NEO4J_CONTAINER));
        out->caFile = dupOrNull(cfgGet(config, CFG_NEO4J_CA_FILE));
        out->neo4jHome = dupOrNull(cfgGet(config, CFG_TEST_NEO4J_HOME));
        out->startCommand = dupOrNull(cfgGet(config, CFG_TEST_NEO4J_START_COMMAND));
        out->stopCommand = dupOrNull(cfgGet(config, CFG_TEST_NEO4J_STOP_COMMAND));
        return ERR_OK;
    }
    char known[512] = CFG_DEFAULT_TARGET;
    for (size_t index = 0; index < config->instanceCount; index++) {
        size_t used = strlen(known);
        snprintf(known + used, sizeof(known) - used, ", %s", config->instances[index].name);
    }
    errSet(TARGET_UNKNOWN, "unknown restore target '%s' (known: %s)", name, known);
    return TARGET_UNKNOWN;
}

/* ---- describe ------------------------------------------------------------- */

/* Copies a URL with the password of "scheme://user:password@host" masked. */
static void maskUrlPassword(const char *value, char *out, size_t outSize)
{
    snprintf(out, outSize, "%s", value);
    char *scheme = strstr(out, "://");
    if (!scheme)
        return;
    char *authority = scheme + 3;
    size_t authorityLength = strcspn(authority, "/?#");
    char *at = memchr(authority, '@', authorityLength);
    if (!at)
        return;
    char *colon = memchr(authority, ':', (size_t)(at - authority));
    if (!colon)
        return;
    char rest[1024];
    snprintf(rest, sizeof(rest), "%s", at);
    snprintf(colon, outSize - (size_t)(colon - out), ":****%s", rest);
}

static void describeValue(Buffer *out, const char *name, const char *value, bool secret, const char *source)
{
    char shown[1024];
    if (!value)
        snprintf(shown, sizeof(shown), "(not set)");
    else if (secret)
        snprintf(shown, sizeof(shown), "****");
    else
        maskUrlPassword(value, shown, sizeof(shown));
    bufferAppendF(out, "  %-26s = %s%s%s%s\n", name, shown, source ? "  (" : "", source ? source : "",
                  source ? ")" : "");
}

void cfgDescribe(const Config *config, Buffer *out)
{
    bufferAppendF(out, "Effective settings (command line > config file > environment > defaults):\n");
    if (config->filePath)
        bufferAppendF(out, "  config file: %s\n", config->filePath);
    for (int index = 0; index < CFG_SETTING_COUNT; index++) {
        CfgSource source;
        const char *value = cfgLookup(config, index, &source);
        describeValue(out, cfgSettings[index].name, value, cfgSettings[index].isSecret,
                      source == CFG_SOURCE_UNSET ? NULL : cfgSourceName(source));
    }
    for (size_t section = 0; section < config->instanceCount; section++) {
        const CfgInstanceSection *instance = &config->instances[section];
        bufferAppendF(out, "[instance %s]\n", instance->name);
        for (int key = 0; key < INSTANCE_KEY_COUNT; key++) {
            if (!instance->values[key])
                continue;
            describeValue(out, instanceKeys[key], instance->values[key], key == KEY_PASSWORD, NULL);
        }
    }
}
