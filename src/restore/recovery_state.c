/* The recovery state machine persisted in .recovery.json: transitions,
 * history, and --status output. */
#include "restore/recovery_state.h"

#include "common/fsutil.h"
#include "common/timeutil.h"

#include <errno.h>
#include <json-c/json.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define RECOVERY_FILE_NAME ".recovery.json"
#define RECOVERY_HISTORY_MAX 50

static const char *const recoveryNames[] = {
    "NOT_RECOVERING", "RECOVERING", "VALIDATION", "RECOVERY_SUCCESS", "RECOVERY_FAILED",
};

const char *recoveryStateName(RecoveryState state)
{
    return (unsigned)state < sizeof(recoveryNames) / sizeof(recoveryNames[0]) ? recoveryNames[state]
                                                                                : "UNKNOWN";
}

static RecoveryState recoveryStateFromName(const char *name)
{
    for (unsigned index = 0; index < sizeof(recoveryNames) / sizeof(recoveryNames[0]); index++)
        if (name && strcmp(name, recoveryNames[index]) == 0)
            return (RecoveryState)index;
    return RECOVERY_NOT_RECOVERING;
}

static ErrCode recoveryReadJson(const char *storageRoot, json_object **out)
{
    char path[4096];
    *out = NULL;
    ErrCode code = fsPathJoin(path, sizeof(path), storageRoot, RECOVERY_FILE_NAME);
    if (code != ERR_OK || !fsExists(path))
        return code;
    Buffer text;
    bufferInit(&text);
    code = fsReadFile(path, 4u * 1024u * 1024u, &text);
    if (code == ERR_OK) {
        bufferAppendByte(&text, 0);
        *out = json_tokener_parse((const char *)text.data);
        if (!*out || !json_object_is_type(*out, json_type_object)) {
            json_object_put(*out);
            *out = NULL;
            code = errSet(BACKUP_IO_FAILED, "recovery state %s is damaged", path);
        }
    }
    bufferFree(&text);
    return code;
}

static const char *recoveryString(json_object *object, const char *key)
{
    json_object *value = NULL;
    return json_object_object_get_ex(object, key, &value) && json_object_is_type(value, json_type_string)
               ? json_object_get_string(value)
               : "";
}

static int64_t recoveryInt(json_object *object, const char *key)
{
    json_object *value = NULL;
    return json_object_object_get_ex(object, key, &value) ? json_object_get_int64(value) : 0;
}

static void recoveryFromJson(json_object *current, RecoveryStatus *out)
{
    memset(out, 0, sizeof(*out));
    if (!current)
        return;
    out->state = recoveryStateFromName(recoveryString(current, "state"));
    snprintf(out->backupId, sizeof(out->backupId), "%s", recoveryString(current, "backup_id"));
    snprintf(out->target, sizeof(out->target), "%s", recoveryString(current, "target"));
    snprintf(out->reason, sizeof(out->reason), "%s", recoveryString(current, "reason"));
    int64_t since = 0;
    timeParseIso(recoveryString(current, "since"), &since);
    out->since = since;
    out->pid = (long)recoveryInt(current, "pid");
    json_object *promoted = NULL;
    out->promoted = json_object_object_get_ex(current, "promoted", &promoted) &&
                    json_object_get_boolean(promoted);
}

ErrCode recoveryLoad(const char *storageRoot, RecoveryStatus *out)
{
    json_object *root = NULL;
    ErrCode code = recoveryReadJson(storageRoot, &root);
    json_object *current = NULL;
    if (root)
        json_object_object_get_ex(root, "current", &current);
    recoveryFromJson(current, out);
    json_object_put(root);
    return code;
}

bool recoveryIsStale(const RecoveryStatus *status)
{
    if (status->state != RECOVERY_RECOVERING && status->state != RECOVERY_VALIDATION)
        return false;
    return status->pid <= 0 || (kill((pid_t)status->pid, 0) != 0 && errno == ESRCH);
}

ErrCode recoveryTransition(const char *storageRoot, RecoveryState state, const char *backupId,
                           const char *target, const char *reason, bool promoted)
{
    json_object *root = NULL;
    ErrCode code = recoveryReadJson(storageRoot, &root);
    if (code != ERR_OK || !root) {
        json_object_put(root);
        root = json_object_new_object();
    }
    char since[TIME_TEXT_SIZE];
    timeFormatIso(timeNow(), since);
    json_object *current = json_object_new_object();
    json_object_object_add(current, "state", json_object_new_string(recoveryStateName(state)));
    json_object_object_add(current, "backup_id", json_object_new_string(backupId ? backupId : ""));
    json_object_object_add(current, "target", json_object_new_string(target ? target : ""));
    json_object_object_add(current, "reason", json_object_new_string(reason ? reason : ""));
    json_object_object_add(current, "since", json_object_new_string(since));
    json_object_object_add(current, "pid", json_object_new_int64((int64_t)getpid()));
    json_object_object_add(current, "promoted", json_object_new_boolean(promoted));
    json_object *history = NULL;
    if (!json_object_object_get_ex(root, "history", &history) ||
        !json_object_is_type(history, json_type_array)) {
        history = json_object_new_array();
        json_object_object_add(root, "history", history);
    }
    json_object_array_add(history, json_object_get(current));
    size_t length = json_object_array_length(history);
    if (length > RECOVERY_HISTORY_MAX)
        json_object_array_del_idx(history, 0, length - RECOVERY_HISTORY_MAX);
    json_object_object_add(root, "current", current);
    const char *text = json_object_to_json_string_ext(root, JSON_C_TO_STRING_PRETTY);
    char path[4096];
    code = fsMkdirP(storageRoot, 0700); /* a state directory apart from the repository may not exist yet */
    if (code == ERR_OK)
        code = fsPathJoin(path, sizeof(path), storageRoot, RECOVERY_FILE_NAME);
    if (code == ERR_OK)
        code = fsWriteAtomic(path, text, strlen(text), 0600);
    json_object_put(root);
    return code;
}

ErrCode recoveryStatusJson(const char *storageRoot, json_object **out)
{
    *out = NULL;
    json_object *root = NULL;
    ErrCode code = recoveryReadJson(storageRoot, &root);
    if (code != ERR_OK)
        return code;
    json_object *current = NULL;
    if (root)
        json_object_object_get_ex(root, "current", &current);
    RecoveryStatus status;
    recoveryFromJson(current, &status);
    json_object *body = json_object_new_object();
    json_object_object_add(body, "state", json_object_new_string(recoveryStateName(status.state)));
    if (status.state != RECOVERY_NOT_RECOVERING) {
        char since[TIME_TEXT_SIZE];
        timeFormatIso(status.since, since);
        json_object_object_add(body, "backup_id", json_object_new_string(status.backupId));
        json_object_object_add(body, "target", json_object_new_string(status.target));
        json_object_object_add(body, "since", json_object_new_string(since));
        json_object_object_add(body, "promoted", json_object_new_boolean(status.promoted));
        if (status.reason[0])
            json_object_object_add(body, "reason", json_object_new_string(status.reason));
    }
    json_object_object_add(body, "interrupted", json_object_new_boolean(recoveryIsStale(&status)));
    if (current) {
        json_object_object_add(body, "current", json_object_get(current));
    } else {
        current = json_object_new_object();
        json_object_object_add(current, "state", json_object_new_string(recoveryStateName(RECOVERY_NOT_RECOVERING)));
        json_object_object_add(body, "current", current);
    }
    json_object *history = NULL;
    if (root && json_object_object_get_ex(root, "history", &history) && json_object_is_type(history, json_type_array))
        json_object_object_add(body, "history", json_object_get(history));
    else
        json_object_object_add(body, "history", json_object_new_array());
    json_object_put(root);
    *out = body;
    return ERR_OK;
}
