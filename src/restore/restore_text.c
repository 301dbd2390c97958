/* Cypher text and error-code helpers of the restore engine (restore_text.h). */
#include "restore/restore_text.h"

#include <string.h>

void restoreQuoteName(Buffer *out, const char *name, size_t length)
{
    bufferAppendByte(out, '`');
    size_t runStart = 0;
    for (size_t offset = 0; offset < length; offset++) {
        char byte = name[offset];
        if (byte != '`' && byte != '\\')
            continue;
        bufferAppend(out, name + runStart, offset - runStart);
        if (byte == '`')
            bufferAppend(out, "``", 2);
        else
            bufferAppend(out, "\\u005C", 6);
        runStart = offset + 1;
    }
    bufferAppend(out, name + runStart, length - runStart);
    bufferAppendByte(out, '`');
}

void restoreAppendLabels(Buffer *out, const BoltValue *labels)
{
    if (!labels || labels->type != BOLT_LIST)
        return;
    for (uint32_t index = 0; index < labels->as.list.count; index++) {
        const BoltValue *label = &labels->as.list.items[index];
        if (label->type != BOLT_STRING)
            continue;
        bufferAppendByte(out, ':');
        restoreQuoteName(out, label->as.string.data, label->as.string.length);
    }
}

static bool restoreParseNumber(const char **cursor, int *out)
{
    const char *text = *cursor;
    if (*text < '0' || *text > '9')
        return false;
    long value = 0;
    while (*text >= '0' && *text <= '9') {
        value = value * 10 + (*text - '0');
        if (value > 1000000)
            return false;
        text++;
    }
    *out = (int)value;
    *cursor = text;
    return true;
}

bool restoreParseServerAgent(const char *agent, RestoreServerVersion *out)
{
    if (!agent)
        return false;
    const char *slash = strchr(agent, '/');
    const char *cursor = slash ? slash + 1 : agent;
    RestoreServerVersion version = {0, 0, 0};
    if (!restoreParseNumber(&cursor, &version.major) || *cursor != '.')
        return false;
    cursor++;
    if (!restoreParseNumber(&cursor, &version.minor))
        return false;
    if (*cursor == '.') {
        cursor++;
        if (!restoreParseNumber(&cursor, &version.patch))
            version.patch = 0;
    }
    *out = version;
    return true;
}

bool restoreVersionAtLeast(const RestoreServerVersion *version, int major, int minor)
{
    return version->major > major || (version->major == major && version->minor >= minor);
}

bool restoreIsTransientCode(const char *serverCode)
{
    if (!serverCode)
        return false;
    return strncmp(serverCode, "Neo.TransientError.", strlen("Neo.TransientError.")) == 0 &&
           !restoreIsMemoryLimitCode(serverCode);
}

bool restoreIsMemoryLimitCode(const char *serverCode)
{
    if (!serverCode)
        return false;
    static const char *const memoryCodes[] = {
        "Neo.TransientError.General.MemoryPoolOutOfMemoryError",
        "Neo.TransientError.General.OutOfMemoryError",
        "Neo.TransientError.General.TransactionMemoryLimit",
        "Neo.ClientError.General.TransactionOutOfMemoryError",
    };
    for (size_t index = 0; index < sizeof(memoryCodes) / sizeof(memoryCodes[0]); index++)
        if (strcmp(serverCode, memoryCodes[index]) == 0)
            return true;
    return false;
}

const char *restoreCypherPrefix(const char *serverAgent)
{
    RestoreServerVersion version;
    return restoreParseServerAgent(serverAgent, &version) && restoreVersionAtLeast(&version, 2025, 6) ? "CYPHER 5 "
                                                                                                       : "";
}
