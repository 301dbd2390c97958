/* The scheduler's decisions (retries, backoff, pause after repeated failures;
 * rules in scheduler.h) and its persisted state in JSON, as pure functions. */
#include "schedule/scheduler.h"

#include "common/fsutil.h"
#include "common/timeutil.h"

#include <inttypes.h>
#include <json-c/json.h>
#include <stdio.h>
#include <string.h>

/* A state file is a few hundred bytes; anything much larger is not ours. */
#define SCHED_STATE_FILE_MAX (256 * 1024)

static void schedCopy(char *out, size_t size, const char *text)
{
    snprintf(out, size, "%s", text ? text : "");
}

void schedStateInit(SchedState *out)
{
    memset(out, 0, sizeof(*out));
}

/* ---- state file ------------------------------------------------------------ */

static void addTime(json_object *object, const char *key, int64_t seconds)
{
    if (seconds == 0)
        return;
    char text[TIME_TEXT_SIZE];
    timeFormatIso(seconds, text);
    json_object_object_add(object, key, json_object_new_string(text));
}

static void addText(json_object *object, const char *key, const char *text)
{
    if (text[0])
        json_object_object_add(object, key, json_object_new_string(text));
}

void schedStateFormat(const SchedState *state, Buffer *out)
{
    json_object *root = json_object_new_object();
    json_object_object_add(root, "format_version", json_object_new_int(SCHED_STATE_FORMAT));
    json_object_object_add(root, "paused", json_object_new_boolean(state->paused));
    addText(root, "pause_reason", state->pauseReason);
    addTime(root, "paused_at", state->pausedAt);
    json_object_object_add(root, "consecutive_failures", json_object_new_int(state->consecutiveFailures));
    addTime(root, "last_run", state->lastRun);
    addTime(root, "last_success", state->lastSuccess);
    char duration[32];
    snprintf(duration, sizeof(duration), "%.3f", state->lastDurationSeconds);
    json_object_object_add(root, "last_duration_seconds",
                           json_object_new_double_s(state->lastDurationSeconds, duration));
    addText(root, "last_backup_id", state->lastBackupId);
    addText(root, "last_error_code", state->lastErrorCode);
    addText(root, "last_error", state->lastError);
    addTime(root, "next_run", state->nextRun);
    json_object_object_add(root, "next_is_retry", json_object_new_boolean(state->nextIsRetry));
    json_object_object_add(root, "pid", json_object_new_int64(state->pid));
    json_object_object_add(root, "runs_total", json_object_new_uint64(state->runsTotal));
    json_object_object_add(root, "failures_total", json_object_new_uint64(state->failuresTotal));
    const char *text = json_object_to_json_string_ext(root, JSON_C_TO_STRING_PRETTY |
                                                                JSON_C_TO_STRING_NOSLASHESCAPE);
    bufferAppend(out, text, strlen(text));
    bufferAppend(out, "\n", 2); /* newline and terminator */
    json_object_put(root);
}

static bool getTime(json_object *root, const char *key, int64_t *out)
{
    json_object *value;
    if (!json_object_object_get_ex(root, key, &value) || json_object_is_type(value, json_type_null)) {
        *out = 0;
        return true;
    }
    return json_object_is_type(value, json_type_string) &&
           timeParseIso(json_object_get_string(value), out);
}

static void getText(json_object *root, const char *key, char *out, size_t size)
{
    json_object *value;
    if (json_object_object_get_ex(root, key, &value) && json_object_is_type(value, json_type_string))
        schedCopy(out, size, json_object_get_string(value));
}

static bool getBool(json_object *root, const char *key)
{
    json_object *value;
    return json_object_object_get_ex(root, key, &value) && json_object_get_boolean(value);
}

static int64_t getInt(json_object *root, const char *key)
{
    json_object *value;
    if (!json_object_object_get_ex(root, key, &value) || !json_object_is_type(value, json_type_int))
        return 0;
    return json_object_get_int64(value);
}

ErrCode schedStateParse(const char *text, SchedState *out)
{
    schedStateInit(out);
    json_object *root = json_tokener_parse(text);
    if (!root || !json_object_is_type(root, json_type_object)) {
        json_object_put(root);
        return errSet(BACKUP_IO_FAILED, "the scheduler state is damaged (not a JSON object)");
    }
    bool timesValid = getTime(root, "paused_at", &out->pausedAt) && getTime(root, "last_run", &out->lastRun) &&
                      getTime(root, "last_success", &out->lastSuccess) &&
                      getTime(root, "next_run", &out->nextRun);
    out->paused = getBool(root, "paused");
    getText(root, "pause_reason", out->pauseReason, sizeof(out->pauseReason));
    int64_t failures = getInt(root, "consecutive_failures");
    out->consecutiveFailures = failures < 0 ? 0 : failures > 1000000 ? 1000000 : (int)failures;
    json_object *duration;
    if (json_object_object_get_ex(root, "last_duration_seconds", &duration))
        out->lastDurationSeconds = json_object_get_double(duration);
    getText(root, "last_backup_id", out->lastBackupId, sizeof(out->lastBackupId));
    getText(root, "last_error_code", out->lastErrorCode, sizeof(out->lastErrorCode));
    getText(root, "last_error", out->lastError, sizeof(out->lastError));
    out->nextIsRetry = getBool(root, "next_is_retry");
    out->pid = getInt(root, "pid");
    int64_t runs = getInt(root, "runs_total");
    int64_t failed = getInt(root, "failures_total");
    out->runsTotal = runs > 0 ? (uint64_t)runs : 0;
    out->failuresTotal = failed > 0 ? (uint64_t)failed : 0;
    json_object_put(root);
    if (!timesValid)
        return errSet(BACKUP_IO_FAILED, "the scheduler state is damaged (a time is not ISO-8601)");
    return ERR_OK;
}

ErrCode schedStateLoad(const char *path, SchedState *out, bool *found)
{
    schedStateInit(out);
    *found = false;
    if (!fsExists(path))
        return ERR_OK;
    Buffer content;
    bufferInit(&content);
    ErrCode code = fsReadFile(path, SCHED_STATE_FILE_MAX, &content);
    if (code == ERR_OK) {
        bufferAppendByte(&content, 0);
        code = schedStateParse((const char *)content.data, out);
        if (code != ERR_OK)
            errAddContext("%s", path);
    }
    bufferFree(&content);
    *found = code == ERR_OK;
    return code;
}

ErrCode schedStateSave(const char *path, const SchedState *state)
{
    Buffer content;
    bufferInit(&content);
    schedStateFormat(state, &content);
    ErrCode code = fsWriteAtomic(path, content.data, content.length - 1, 0600);
    bufferFree(&content);
    return code;
}

/* ---- decisions ------------------------------------------------------------- */

int64_t schedRetryDelay(const SchedPolicy *policy, int failures)
{
    if (policy->retryDelayCount == 0)
        return -1;
    size_t index = failures <= 1 ? 0 : (size_t)(failures - 1);
    if (index >= policy->retryDelayCount)
        index = policy->retryDelayCount - 1;
    return policy->retryDelays[index];
}

SchedAfter schedRecordSuccess(SchedState *state, int64_t started, double durationSeconds,
                              const char *backupId, int64_t nextScheduled)
{
    state->runsTotal++;
    state->lastRun = started;
    state->lastSuccess = started;
    state->lastDurationSeconds = durationSeconds;
    schedCopy(state->lastBackupId, sizeof(state->lastBackupId), backupId);
    state->consecutiveFailures = 0;
    state->lastErrorCode[0] = '\0';
    state->lastError[0] = '\0';
    state->nextRun = nextScheduled;
    state->nextIsRetry = false;
    return SCHED_AFTER_SCHEDULED;
}

SchedAfter schedRecordFailure(SchedState *state, const SchedPolicy *policy, int64_t started,
                              double durationSeconds, int64_t now, int64_t nextScheduled,
                              const char *code, const char *reason)
{
    state->runsTotal++;
    state->failuresTotal++;
    state->lastRun = started;
    state->lastDurationSeconds = durationSeconds;
    state->consecutiveFailures++;
    schedCopy(state->lastErrorCode, sizeof(state->lastErrorCode), code);
    schedCopy(state->lastError, sizeof(state->lastError), reason);
    int maxFailures = policy->maxFailures > 0 ? policy->maxFailures : SCHED_DEFAULT_MAX_FAILURES;
    if (state->consecutiveFailures >= maxFailures) {
        state->paused = true;
        state->pausedAt = now;
        /* A very long last error is cut here; last_error keeps it whole. */
        snprintf(state->pauseReason, sizeof(state->pauseReason),
                 "%d scheduled backups failed in a row (last: %s: %.880s)", state->consecutiveFailures,
                 state->lastErrorCode, state->lastError);
        state->nextRun = 0;
        state->nextIsRetry = false;
        return SCHED_AFTER_PAUSED;
    }
    int64_t delay = schedRetryDelay(policy, state->consecutiveFailures);
    int64_t retryAt = delay >= 0 ? now + delay : 0;
    if (retryAt != 0 && (nextScheduled == 0 || retryAt < nextScheduled)) {
        state->nextRun = retryAt;
        state->nextIsRetry = true;
    } else {
        state->nextRun = nextScheduled;
        state->nextIsRetry = false;
    }
    return SCHED_AFTER_RETRY;
}

bool schedResume(SchedState *state, int64_t now)
{
    if (!state->paused)
        return false;
    state->paused = false;
    state->pauseReason[0] = '\0';
    state->pausedAt = 0;
    state->consecutiveFailures = 0;
    state->nextRun = now;
    state->nextIsRetry = false;
    return true;
}

ErrCode schedCountMissed(const CronSchedule *schedule, int64_t since, int64_t now, uint64_t limit,
                         uint64_t *count, int64_t *first)
{
    *count = 0;
    *first = 0;
    time_t cursor = (time_t)since;
    while (*count < limit) {
        time_t next;
        ErrCode code = cronNext(schedule, cursor, &next);
        if (code != ERR_OK)
            return code;
        if ((int64_t)next > now)
            break;
        if (*count == 0)
            *first = (int64_t)next;
        (*count)++;
        cursor = next;
    }
    return ERR_OK;
}

ErrCode schedPlanStart(const SchedState *state, const CronSchedule *schedule, int64_t now,
                       SchedStartPlan *out)
{
    memset(out, 0, sizeof(*out));
    if (state->paused)
        return ERR_OK;
    time_t regular;
    ErrCode code = cronNext(schedule, (time_t)now, &regular);
    if (code != ERR_OK)
        return code;
    if (state->lastRun > 0 && state->lastRun < now) {
        code = schedCountMissed(schedule, state->lastRun, now, SCHED_MISSED_LIMIT, &out->missedRuns,
                                &out->firstMissed);
        if (code != ERR_OK)
            return code;
        out->missedAtLimit = out->missedRuns >= SCHED_MISSED_LIMIT;
    }
    out->retryOverdue = state->nextIsRetry && state->nextRun > 0 && state->nextRun <= now;
    out->catchUp = out->missedRuns > 0 || out->retryOverdue;
    if (out->catchUp)
        out->nextRun = now;
    else if (state->nextIsRetry && state->nextRun > now && state->nextRun < (int64_t)regular)
        out->nextRun = state->nextRun;
    else
        out->nextRun = (int64_t)regular;
    return ERR_OK;
}

/* ---- metrics --------------------------------------------------------------- */

static void metric(Buffer *out, const char *name, const char *type, const char *help, const char *value)
{
    bufferAppendF(out, "# HELP %s %s\n# TYPE %s %s\n%s %s\n", name, help, name, type, name, value);
}

static void metricInt(Buffer *out, const char *name, const char *type, const char *help, int64_t value)
{
    char text[32];
    snprintf(text, sizeof(text), "%" PRId64, value);
    metric(out, name, type, help, text);
}

void schedMetricsFormat(const SchedState *state, Buffer *out)
{
    metricInt(out, "neo4j_backup_scheduler_paused", "gauge",
              "1 while the scheduler is paused after repeated failures.", state->paused ? 1 : 0);
    metricInt(out, "neo4j_backup_consecutive_failures", "gauge",
              "Scheduled backups that failed in a row.", state->consecutiveFailures);
    metricInt(out, "neo4j_backup_last_run_timestamp_seconds", "gauge",
              "Start of the last scheduled backup attempt (0: never).", state->lastRun);
    metricInt(out, "neo4j_backup_last_success_timestamp_seconds", "gauge",
              "Start of the last successful scheduled backup (0: never).", state->lastSuccess);
    char duration[32];
    snprintf(duration, sizeof(duration), "%.3f", state->lastDurationSeconds);
    metric(out, "neo4j_backup_last_duration_seconds", "gauge", "Duration of the last attempt.", duration);
    metricInt(out, "neo4j_backup_next_run_timestamp_seconds", "gauge",
              "When the next attempt is due (0: paused).", state->nextRun);
    metricInt(out, "neo4j_backup_runs_total", "counter", "Scheduled backup attempts.",
              (int64_t)state->runsTotal);
    metricInt(out, "neo4j_backup_failures_total", "counter", "Scheduled backup attempts that failed.",
              (int64_t)state->failuresTotal);
    bufferAppendByte(out, 0);
}
