/* The routes of the HTTP API (docs/api.md lists them), authentication, and
 * the JSON response helpers. Every handler uses the services the command
 * line uses: the listing is --list --json's (catEntryJson), deletion is
 * catRemoveBackup, the recovery state is --status --json's (recoveryStatusJson),
 * resume is the front end's (ApiBackends), and create/validate/restore are jobs
 * (api/jobs.h). */
#include "api/api_internal.h"

#include "catalog/catalog_settings.h"
#include "catalog/removal.h"
#include "common/fsutil.h"
#include "common/lock.h"
#include "common/log.h"
#include "common/mem.h"
#include "common/timeutil.h"
#include "schedule/cron.h"

#include <errno.h>
#include <microhttpd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define API_PREFIX "/api/v1"
#define API_MAX_SEGMENTS 4

/* ---- responses -------------------------------------------------------------- */

void apiRespondJson(ApiResponse *response, unsigned status, json_object *body)
{
    const char *text = json_object_to_json_string_ext(body, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED |
                                                                JSON_C_TO_STRING_NOSLASHESCAPE);
    bufferClear(&response->body);
    bufferAppend(&response->body, text, strlen(text));
    bufferAppendByte(&response->body, '\n');
    json_object_put(body);
    response->status = status;
    response->contentType = "application/json; charset=utf-8";
}

void apiRespondError(ApiResponse *response, unsigned status, const char *code, const char *message,
                     const char *action)
{
    json_object *error = json_object_new_object();
    json_object_object_add(error, "code", json_object_new_string(code));
    json_object_object_add(error, "message", json_object_new_string(message));
    if (action && action[0])
        json_object_object_add(error, "action", json_object_new_string(action));
    json_object_object_add(error, "status", json_object_new_int((int)status));
    json_object *body = json_object_new_object();
    json_object_object_add(body, "error", error);
    apiRespondJson(response, status, body);
}

unsigned apiHttpStatusForError(ErrCode code)
{
    switch (code) {
    case ERR_USAGE:
    case TARGET_UNKNOWN:
    case RESTORE_REFUSED: return 400;
    case BACKUP_NOT_FOUND: return 404;
    case BACKUP_LOCKED:
    case BACKUP_PROTECTED:
    case SCHEDULER_PAUSED: return 409;
    case BACKUP_NO_SPACE: return 507;
    case NEO4J_UNREACHABLE:
    case NEO4J_TIMEOUT: return 502;
    case OPERATION_INTERRUPTED: return 503;
    default: return 500;
    }
}

void apiRespondFailure(ApiResponse *response, ErrCode code)
{
    const ErrDetail *detail = errLast();
    if (code == ERR_OK)
        code = ERR_INTERNAL;
    /* ERR_USAGE is the command line's word for a bad request. */
    const char *name = code == ERR_USAGE ? "API_BAD_REQUEST" : errName(code);
    char message[sizeof(detail->reason) + sizeof(detail->details) + 4];
    const char *reason = detail->reason[0] ? detail->reason : errDefaultMessage(code);
    if (detail->details[0])
        snprintf(message, sizeof(message), "%s (%s)", reason, detail->details);
    else
        snprintf(message, sizeof(message), "%s", reason);
    apiRespondError(response, apiHttpStatusForError(code), name, message,
                    detail->action[0] ? detail->action : errDefaultAction(code));
}

static void apiRespondNotFound(ApiResponse *response, const char *path)
{
    char message[1200];
    snprintf(message, sizeof(message), "no such resource: %s", path);
    apiRespondError(response, 404, "API_NOT_FOUND", message, "See docs/api.md for the endpoints");
}

static void apiRespondBadRequest(ApiResponse *response, const char *message)
{
    apiRespondError(response, 400, "API_BAD_REQUEST", message, "Fix the request (see docs/api.md)");
}

static void apiRespondMethodNotAllowed(ApiResponse *response, const char *allow)
{
    char message[128];
    snprintf(message, sizeof(message), "method not allowed here; allowed: %s", allow);
    apiRespondError(response, 405, "API_METHOD_NOT_ALLOWED", message, NULL);
    response->allow = allow;
}

static void apiRespondSeeOther(ApiResponse *response, const char *location)
{
    response->status = 303;
    response->contentType = "text/plain; charset=utf-8";
    snprintf(response->location, sizeof(response->location), "%s", location);
    bufferAppend(&response->body, "See Other\n", 10);
}

/* ---- requests ---------------------------------------------------------------- */

static bool apiIsGet(const ApiRequest *request)
{
    return strcmp(request->method, "GET") == 0 || strcmp(request->method, "HEAD") == 0;
}

static bool apiIsMethod(const ApiRequest *request, const char *method)
{
    return strcmp(request->method, method) == 0;
}

/* The body as a JSON object whose keys are all in `allowed` (NULL-ended).
 * An empty body is an empty object. On failure the 400 is already in response. */
static bool apiParseBody(const ApiRequest *request, const char *const *allowed, ApiResponse *response,
                         json_object **out)
{
    *out = NULL;
    size_t start = 0;
    while (start < request->bodyLength && strchr(" \t\r\n", request->body[start]))
        start++;
    if (start == request->bodyLength) {
        *out = json_object_new_object();
        return true;
    }
    json_tokener *tokener = json_tokener_new_ex(16);
    if (!tokener)
        memOutOfMemory("json-c tokener");
    json_object *parsed = json_tokener_parse_ex(tokener, request->body + start, (int)(request->bodyLength - start));
    enum json_tokener_error status = json_tokener_get_error(tokener);
    size_t consumed = start + json_tokener_get_parse_end(tokener);
    json_tokener_free(tokener);
    while (consumed < request->bodyLength && strchr(" \t\r\n", request->body[consumed]))
        consumed++;
    char message[256];
    if (!parsed && status == json_tokener_success && consumed == request->bodyLength) {
        apiRespondBadRequest(response, "the body must be a JSON object"); /* it was null */
        return false;
    }
    if (!parsed || status != json_tokener_success || consumed != request->bodyLength) {
        const char *why = parsed                            ? "text after the value"
                          : status == json_tokener_continue ? "unexpected end"
                                                            : json_tokener_error_desc(status);
        snprintf(message, sizeof(message), "the body is not valid JSON: %s", why);
        json_object_put(parsed);
        apiRespondBadRequest(response, message);
        return false;
    }
    if (!json_object_is_type(parsed, json_type_object)) {
        json_object_put(parsed);
        apiRespondBadRequest(response, "the body must be a JSON object");
        return false;
    }
    json_object_object_foreach(parsed, key, value) {
        (void)value;
        bool known = false;
        for (size_t index = 0; allowed && allowed[index] && !known; index++)
            known = strcmp(key, allowed[index]) == 0;
        if (!known) {
            snprintf(message, sizeof(message), "unknown field \"%.64s\"", key);
            json_object_put(parsed);
            apiRespondBadRequest(response, message);
            return false;
        }
    }
    *out = parsed;
    return true;
}

/* Reads an optional field of the given type; false (with a 400) when mistyped. */
static bool apiBodyField(json_object *body, const char *key, json_type type, ApiResponse *response,
                         json_object **out)
{
    *out = NULL;
    json_object *value = NULL;
    if (!json_object_object_get_ex(body, key, &value) || !value)
        return true;
    if (!json_object_is_type(value, type)) {
        char message[128];
        snprintf(message, sizeof(message), "field \"%s\" must be a %s", key,
                 type == json_type_boolean ? "boolean" : "string");
        apiRespondBadRequest(response, message);
        return false;
    }
    *out = value;
    return true;
}

/* ---- authentication ------------------------------------------------------------ */

static bool apiBearerValid(const ApiServer *server, const ApiRequest *request)
{
    if (!server->token)
        return true;
    const char *header = MHD_lookup_connection_value(request->connection, MHD_HEADER_KIND,
                                                     MHD_HTTP_HEADER_AUTHORIZATION);
    const char *credentials = apiBearerCredentials(header);
    return credentials && apiTokenEqual(credentials, strlen(credentials), server->token);
}

static bool apiCookieValid(const ApiServer *server, const ApiRequest *request)
{
    if (!server->token)
        return true;
    const char *cookie = MHD_lookup_connection_value(request->connection, MHD_COOKIE_KIND, API_SESSION_COOKIE);
    return cookie && apiTokenEqual(cookie, strlen(cookie), server->sessionCookie);
}

static void apiRespondUnauthorized(const ApiRequest *request, ApiResponse *response)
{
    bool presented = MHD_lookup_connection_value(request->connection, MHD_HEADER_KIND,
                                                 MHD_HTTP_HEADER_AUTHORIZATION) != NULL;
    logWarn("HTTP API: refused %s %s from %s: %s bearer token", request->logMethod, request->logPath, request->client,
            presented ? "wrong or malformed" : "no");
    apiRespondError(response, 401, "API_UNAUTHORIZED",
                    presented ? "the bearer token is not valid" : "a bearer token is required",
                    "Send the header \"Authorization: Bearer <BACKUP_API_TOKEN>\"");
    response->authChallenge = true;
}

/* ---- backups ----------------------------------------------------------------------- */

static bool apiTakeSnapshot(ApiServer *server, ApiResponse *response, ApiSnapshot *snapshot)
{
    ErrCode code = apiSnapshotTake(server->config, NULL, snapshot);
    if (code == ERR_OK)
        return true;
    apiRespondFailure(response, code);
    apiSnapshotFree(snapshot);
    return false;
}

static void apiListBackups(ApiServer *server, ApiResponse *response)
{
    ApiSnapshot snapshot;
    if (!apiTakeSnapshot(server, response, &snapshot))
        return;
    /* With a second location, each backup says where it is (one more listing). */
    bool copyConfigured = catCopyConfigured(server->config);
    Catalog *copy = NULL;
    CatList copyList = {0};
    bool copyListed = copyConfigured && catCopyOpenConfigured(server->config, false, &copy) == ERR_OK &&
                      catList(copy, &copyList) == ERR_OK;
    json_object *root = json_object_new_object();
    json_object *backups = json_object_new_array();
    for (size_t index = 0; index < snapshot.list.count; index++) {
        const CatEntry *entry = &snapshot.list.entries[index];
        json_object *item = catEntryJson(entry, &snapshot.decisions[index], snapshot.now);
        catEntryAddChain(item, &snapshot.list, index);
        if (copyConfigured) {
            const CatEntry *copied = NULL;
            for (size_t other = 0; other < copyList.count && !copied; other++)
                if (strcmp(copyList.entries[other].id, entry->id) == 0)
                    copied = &copyList.entries[other];
            catEntryAddLocations(item, entry, copied, copyListed);
        }
        json_object_array_add(backups, item);
    }
    catListFree(&copyList);
    catClose(copy);
    json_object_object_add(root, "backups", backups);
    json_object_object_add(root, "total_backups", json_object_new_int64((int64_t)snapshot.list.count));
    json_object_object_add(root, "total_bytes", json_object_new_int64((int64_t)snapshot.totalBytes));
    apiSnapshotFree(&snapshot);
    apiRespondJson(response, 200, root);
}

/* 400 for an id that could never name a backup, 404 for one that is not
 * in the catalog. */
static bool apiFindBackup(ApiServer *server, const char *id, ApiResponse *response)
{
    ErrCode code = catIdCheck(id);
    Catalog *catalog = NULL;
    CatEntry entry = {0};
    if (code == ERR_OK) {
        const char *root = cfgGet(server->config, CFG_BACKUP_STORAGE_PATH);
        if (root && catStorageIsLocal(server->config) && !fsIsDirectory(root))
            code = errSet(BACKUP_NOT_FOUND, "backup %s not found: nothing is stored yet", id);
        else
            code = catOpenConfigured(server->config, false, &catalog);
    }
    if (code == ERR_OK)
        code = catFind(catalog, id, &entry);
    catEntryFree(&entry);
    catClose(catalog);
    if (code != ERR_OK)
        apiRespondFailure(response, code);
    return code == ERR_OK;
}

static void apiShowBackup(ApiServer *server, const char *id, ApiResponse *response)
{
    if (!apiFindBackup(server, id, response))
        return;
    ApiSnapshot snapshot;
    if (!apiTakeSnapshot(server, response, &snapshot))
        return;
    json_object *item = NULL;
    for (size_t index = 0; index < snapshot.list.count && !item; index++)
        if (strcmp(snapshot.list.entries[index].id, id) == 0) {
            item = catEntryJson(&snapshot.list.entries[index], &snapshot.decisions[index], snapshot.now);
            catEntryAddChain(item, &snapshot.list, index);
        }
    apiSnapshotFree(&snapshot);
    if (item) {
        apiRespondJson(response, 200, item);
    } else { /* deleted between the two looks */
        errSet(BACKUP_NOT_FOUND, "backup %s not found", id);
        apiRespondFailure(response, BACKUP_NOT_FOUND);
    }
}

static void apiRespondJobStarted(ApiResponse *response, ApiServer *server, const char *jobId)
{
    ApiJobInfo info;
    if (!apiJobsFind(server->jobs, jobId, &info)) {
        errSet(ERR_INTERNAL, "job %s vanished", jobId);
        apiRespondFailure(response, ERR_INTERNAL);
        return;
    }
    snprintf(response->location, sizeof(response->location), API_PREFIX "/jobs/%s", jobId);
    apiRespondJson(response, 202, apiJobJson(&info));
}

static void apiStartJob(ApiServer *server, const ApiRequest *request, const ApiJobRequest *job,
                        ApiResponse *response)
{
    char jobId[API_JOB_ID_SIZE];
    ErrCode code = apiJobsStart(server->jobs, job, jobId);
    if (code != ERR_OK) {
        apiRespondFailure(response, code);
        return;
    }
    logInfo("HTTP API: %s %s from %s started job %s", request->logMethod, request->logPath, request->client, jobId);
    apiRespondJobStarted(response, server, jobId);
}

/* True when another process (or the scheduler in this one) is creating a
 * backup: the holder of .create.lock records its pid while it holds it.
 * Reading the record never takes the lock, so nobody is disturbed. */
static bool apiCreateLockHolder(ApiServer *server, pid_t *holder, char *purpose, size_t purposeSize)
{
    const char *root = cfgGet(server->config, CFG_BACKUP_STORAGE_PATH);
    char path[4096];
    if (!root || fsPathJoin(path, sizeof(path), root, ".create.lock") != ERR_OK || !fsExists(path))
        return false;
    *holder = 0;
    if (!lockReadHolder(path, holder, purpose, purposeSize) || *holder <= 0)
        return false;
    return kill(*holder, 0) == 0 || errno == EPERM;
}

static void apiCreateBackup(ApiServer *server, const ApiRequest *request, ApiResponse *response)
{
    json_object *body = NULL;
    if (!apiParseBody(request, NULL, response, &body))
        return;
    json_object_put(body);
    pid_t holder = 0;
    char purpose[128] = "";
    if (!apiJobsKindRunning(server->jobs, API_JOB_CREATE) &&
        apiCreateLockHolder(server, &holder, purpose, sizeof(purpose))) {
        errSet(BACKUP_LOCKED, "a backup is being created by pid %ld (%s)", (long)holder,
               purpose[0] ? purpose : "neo4j-backup");
        errSetAction("Wait for that backup to finish, then retry");
        apiRespondFailure(response, BACKUP_LOCKED);
        return;
    }
    ApiJobRequest job = {.kind = API_JOB_CREATE};
    apiStartJob(server, request, &job, response);
}

/* force: the body's "force" (boolean) or the query parameter force=true|false. */
static bool apiDeleteForce(const ApiRequest *request, ApiResponse *response, bool *force)
{
    static const char *const allowed[] = {"force", NULL};
    json_object *body = NULL;
    json_object *field = NULL;
    if (!apiParseBody(request, allowed, response, &body))
        return false;
    bool ok = apiBodyField(body, "force", json_type_boolean, response, &field);
    *force = ok && field && json_object_get_boolean(field);
    json_object_put(body);
    const char *query = request->connection
                            ? MHD_lookup_connection_value(request->connection, MHD_GET_ARGUMENT_KIND, "force")
                            : NULL;
    if (ok && query) {
        if (strcmp(query, "true") != 0 && strcmp(query, "false") != 0) {
            apiRespondBadRequest(response, "query parameter force must be true or false");
            return false;
        }
        *force = *force || strcmp(query, "true") == 0;
    }
    return ok;
}

static void apiDeleteBackup(ApiServer *server, const ApiRequest *request, const char *id, ApiResponse *response)
{
    bool force = false;
    if (!apiDeleteForce(request, response, &force))
        return;
    if (!apiFindBackup(server, id, response))
        return;
    logInfo("HTTP API: DELETE %s%s from %s", request->logPath, force ? " (force)" : "", request->client);
    Catalog *catalog = NULL;
    ErrCode code = catOpenConfigured(server->config, false, &catalog);
    if (code == ERR_OK) {
        CatRemovalRequest removal = {
            .catalog = catalog, .backupId = id, .force = force, .onEvent = catRemovalReportEvent};
        code = catRemoveBackup(&removal);
    }
    catClose(catalog);
    catRemovalReportOutcome(code, id, false);
    if (code != ERR_OK) {
        apiRespondFailure(response, code);
        return;
    }
    json_object *body = json_object_new_object();
    json_object_object_add(body, "deleted", json_object_new_string(id));
    apiRespondJson(response, 200, body);
}

static void apiValidateBackup(ApiServer *server, const ApiRequest *request, const char *id, ApiResponse *response)
{
    json_object *body = NULL;
    if (!apiParseBody(request, NULL, response, &body))
        return;
    json_object_put(body);
    if (!apiFindBackup(server, id, response))
        return;
    ApiJobRequest job = {.kind = API_JOB_VALIDATE};
    snprintf(job.backupId, sizeof(job.backupId), "%s", id);
    apiStartJob(server, request, &job, response);
}

/* Checks a restore request before it becomes a job, so that mistakes get a
 * 400/404/409 at once rather than a failed job later. */
static bool apiCheckRestore(ApiServer *server, const char *id, ApiJobRequest *job, json_object *body,
                            ApiResponse *response)
{
    json_object *target = NULL;
    json_object *validate = NULL;
    json_object *promote = NULL;
    json_object *confirm = NULL;
    if (!apiBodyField(body, "target", json_type_string, response, &target) ||
        !apiBodyField(body, "validate", json_type_boolean, response, &validate) ||
        !apiBodyField(body, "promote", json_type_boolean, response, &promote) ||
        !apiBodyField(body, "confirm", json_type_string, response, &confirm))
        return false;
    /* The command line's default: TEST_NEO4J_CONTAINER names a container
     * of that instance, not an instance. */
    const char *targetName = target ? json_object_get_string(target) : CFG_DEFAULT_TARGET;
    if (strlen(targetName) >= sizeof(job->target)) {
        apiRespondBadRequest(response, "field \"target\" is too long");
        return false;
    }
    job->kind = API_JOB_RESTORE;
    snprintf(job->backupId, sizeof(job->backupId), "%s", id);
    snprintf(job->target, sizeof(job->target), "%s", targetName);
    job->validate = validate ? json_object_get_boolean(validate) : true;
    job->promote = promote ? json_object_get_boolean(promote) : false;
    if (job->promote && !job->validate) {
        errSet(RESTORE_REFUSED, "promotion needs the health checks; drop \"validate\": false");
        apiRespondFailure(response, RESTORE_REFUSED);
        return false;
    }
    if (job->promote && (!confirm || strcmp(json_object_get_string(confirm), id) != 0)) {
        errSet(RESTORE_REFUSED, "promotion replaces production: confirm it with \"confirm\": \"%s\"", id);
        errSetAction("Check the restored test instance, then repeat the request with the backup id in \"confirm\"");
        apiRespondFailure(response, RESTORE_REFUSED);
        return false;
    }
    InstanceConfig instance = {0};
    ErrCode code = cfgInstance(server->config, job->target, &instance);
    if (code == ERR_OK && instance.isProduction)
        code = errSet(RESTORE_REFUSED, "target %s is production; production is written only by a promotion",
                      job->target);
    cfgInstanceFree(&instance);
    if (code != ERR_OK) {
        apiRespondFailure(response, code);
        return false;
    }
    if (!apiFindBackup(server, id, response))
        return false;
    RecoveryStatus recovery;
    const char *root = catStateDirectory(server->config);
    if (root && recoveryLoad(root, &recovery) == ERR_OK &&
        (recovery.state == RECOVERY_RECOVERING || recovery.state == RECOVERY_VALIDATION) &&
        !recoveryIsStale(&recovery)) {
        errSet(BACKUP_LOCKED, "a recovery of %s into %s is in progress (%s, pid %ld)", recovery.backupId,
               recovery.target, recoveryStateName(recovery.state), recovery.pid);
        errSetAction("Wait for it to finish (GET /api/v1/recovery), then retry");
        apiRespondFailure(response, BACKUP_LOCKED);
        return false;
    }
    return true;
}

static void apiRestoreBackup(ApiServer *server, const ApiRequest *request, const char *id, ApiResponse *response)
{
    static const char *const allowed[] = {"target", "validate", "promote", "confirm", NULL};
    json_object *body = NULL;
    if (!apiParseBody(request, allowed, response, &body))
        return;
    ApiJobRequest job;
    memset(&job, 0, sizeof(job));
    bool ready = apiCheckRestore(server, id, &job, body, response);
    json_object_put(body);
    if (ready)
        apiStartJob(server, request, &job, response);
}

/* ---- jobs, recovery, scheduler ------------------------------------------------------- */

static void apiListJobs(ApiServer *server, ApiResponse *response)
{
    ApiJobInfo *infos = memCalloc(API_JOBS_KEPT + API_JOB_KIND_COUNT, sizeof(*infos));
    size_t count = apiJobsList(server->jobs, infos, API_JOBS_KEPT + API_JOB_KIND_COUNT);
    json_object *jobs = json_object_new_array();
    for (size_t index = 0; index < count; index++)
        json_object_array_add(jobs, apiJobJson(&infos[index]));
    free(infos);
    json_object *body = json_object_new_object();
    json_object_object_add(body, "jobs", jobs);
    apiRespondJson(response, 200, body);
}

static void apiShowJob(ApiServer *server, const char *id, ApiResponse *response)
{
    ApiJobInfo info;
    if (!apiJobsFind(server->jobs, id, &info)) {
        char message[160];
        snprintf(message, sizeof(message), "no job %.64s (jobs are kept in memory, the last %d)", id, API_JOBS_KEPT);
        apiRespondError(response, 404, "API_NOT_FOUND", message, "List the jobs with GET /api/v1/jobs");
        return;
    }
    apiRespondJson(response, 200, apiJobJson(&info));
}

static void apiShowRecovery(ApiServer *server, ApiResponse *response)
{
    const char *root = catStateDirectory(server->config);
    json_object *body = NULL;
    ErrCode code = root ? recoveryStatusJson(root, &body) : cfgStoragePathMissing();
    if (code != ERR_OK) {
        apiRespondFailure(response, code);
        return;
    }
    apiRespondJson(response, 200, body);
}

/* The scheduler's state file as JSON, plus whether it runs and its schedule. */
static json_object *apiSchedulerJson(ApiServer *server, const ApiSnapshot *snapshot)
{
    Buffer text;
    bufferInit(&text);
    schedStateFormat(&snapshot->scheduler, &text);
    json_object *body = json_tokener_parse((const char *)text.data);
    bufferFree(&text);
    if (!body || !json_object_is_type(body, json_type_object)) {
        json_object_put(body);
        body = json_object_new_object();
    }
    json_object_object_add(body, "running", json_object_new_boolean(snapshot->schedulerRunning));
    json_object_object_add(body, "state_file", json_object_new_boolean(snapshot->haveScheduler));
    const char *expression = cfgGet(server->config, CFG_BACKUP_SCHEDULE);
    CronSchedule schedule;
    if (expression && cronParse(expression, &schedule) == ERR_OK) {
        char description[256];
        json_object_object_add(body, "schedule", json_object_new_string(expression));
        json_object_object_add(body, "schedule_description",
                               json_object_new_string(cronDescribe(&schedule, description, sizeof(description))));
    }
    return body;
}

static void apiShowScheduler(ApiServer *server, ApiResponse *response)
{
    ApiSnapshot snapshot;
    if (!apiTakeSnapshot(server, response, &snapshot))
        return;
    json_object *body = apiSchedulerJson(server, &snapshot);
    apiSnapshotFree(&snapshot);
    apiRespondJson(response, 200, body);
}

static void apiResumeScheduler(ApiServer *server, const ApiRequest *request, ApiResponse *response)
{
    json_object *body = NULL;
    if (!apiParseBody(request, NULL, response, &body))
        return;
    json_object_put(body);
    ApiSnapshot before;
    if (!apiTakeSnapshot(server, response, &before))
        return;
    bool wasPaused = before.scheduler.paused;
    apiSnapshotFree(&before);
    logInfo("HTTP API: scheduler resume requested from %s", request->client);
    ErrCode code = server->backends && server->backends->resumeScheduler
                       ? server->backends->resumeScheduler(server->config)
                       : errSet(ERR_INTERNAL, "the API was started without the scheduler's resume");
    if (code != ERR_OK) {
        apiRespondFailure(response, code);
        return;
    }
    ApiSnapshot after;
    if (!apiTakeSnapshot(server, response, &after))
        return;
    json_object *result = apiSchedulerJson(server, &after);
    apiSnapshotFree(&after);
    json_object_object_add(result, "resumed", json_object_new_boolean(wasPaused));
    apiRespondJson(response, 200, result);
}

static void apiIndex(ApiResponse *response)
{
    static const char *const endpoints[] = {
        "GET /api/v1/backups",
        "POST /api/v1/backups",
        "GET /api/v1/backups/{id}",
        "DELETE /api/v1/backups/{id}",
        "POST /api/v1/backups/{id}/validate",
        "POST /api/v1/backups/{id}/restore",
        "GET /api/v1/jobs",
        "GET /api/v1/jobs/{id}",
        "GET /api/v1/recovery",
        "GET /api/v1/scheduler",
        "POST /api/v1/scheduler/resume",
        "GET /metrics",
        "GET /healthz",
        "GET /",
    };
    json_object *list = json_object_new_array();
    for (size_t index = 0; index < sizeof(endpoints) / sizeof(endpoints[0]); index++)
        json_object_array_add(list, json_object_new_string(endpoints[index]));
    json_object *body = json_object_new_object();
    json_object_object_add(body, "version", json_object_new_string(NBK_VERSION));
    json_object_object_add(body, "endpoints", list);
    apiRespondJson(response, 200, body);
}

/* ---- routing ---------------------------------------------------------------------------- */

static size_t apiSplitPath(char *path, char *segments[API_MAX_SEGMENTS + 1])
{
    size_t count = 0;
    char *cursor = path;
    while (*cursor == '/')
        cursor++;
    while (*cursor) {
        if (count == API_MAX_SEGMENTS + 1)
            return count; /* too many: no route matches */
        segments[count++] = cursor;
        char *slash = strchr(cursor, '/');
        if (!slash)
            break;
        *slash = '\0';
        cursor = slash + 1;
    }
    return count;
}

static void apiRouteV1(ApiServer *server, const ApiRequest *request, ApiResponse *response)
{
    char path[1024];
    snprintf(path, sizeof(path), "%s", request->path + strlen(API_PREFIX));
    char *segment[API_MAX_SEGMENTS + 1] = {0};
    size_t count = apiSplitPath(path, segment);
    bool get = apiIsGet(request);
    bool post = apiIsMethod(request, "POST");
    if (count == 0) {
        get ? apiIndex(response) : apiRespondMethodNotAllowed(response, "GET");
    } else if (strcmp(segment[0], "backups") == 0 && count == 1) {
        if (get)
            apiListBackups(server, response);
        else if (post)
            apiCreateBackup(server, request, response);
        else
            apiRespondMethodNotAllowed(response, "GET, POST");
    } else if (strcmp(segment[0], "backups") == 0 && count == 2) {
        if (get)
            apiShowBackup(server, segment[1], response);
        else if (apiIsMethod(request, "DELETE"))
            apiDeleteBackup(server, request, segment[1], response);
        else
            apiRespondMethodNotAllowed(response, "GET, DELETE");
    } else if (strcmp(segment[0], "backups") == 0 && count == 3 &&
               (strcmp(segment[2], "validate") == 0 || strcmp(segment[2], "restore") == 0)) {
        if (!post)
            apiRespondMethodNotAllowed(response, "POST");
        else if (strcmp(segment[2], "validate") == 0)
            apiValidateBackup(server, request, segment[1], response);
        else
            apiRestoreBackup(server, request, segment[1], response);
    } else if (strcmp(segment[0], "jobs") == 0 && count <= 2) {
        if (!get)
            apiRespondMethodNotAllowed(response, "GET");
        else if (count == 1)
            apiListJobs(server, response);
        else
            apiShowJob(server, segment[1], response);
    } else if (strcmp(segment[0], "recovery") == 0 && count == 1) {
        get ? apiShowRecovery(server, response) : apiRespondMethodNotAllowed(response, "GET");
    } else if (strcmp(segment[0], "scheduler") == 0 && count == 1) {
        get ? apiShowScheduler(server, response) : apiRespondMethodNotAllowed(response, "GET");
    } else if (strcmp(segment[0], "scheduler") == 0 && count == 2 && strcmp(segment[1], "resume") == 0) {
        post ? apiResumeScheduler(server, request, response) : apiRespondMethodNotAllowed(response, "POST");
    } else {
        apiRespondNotFound(response, request->path);
    }
}

static void apiMetrics(ApiServer *server, ApiResponse *response)
{
    ApiSnapshot snapshot;
    if (!apiTakeSnapshot(server, response, &snapshot))
        return;
    bufferClear(&response->body);
    apiMetricsFormat(&snapshot, &response->body);
    apiSnapshotFree(&snapshot);
    response->status = 200;
    response->contentType = "text/plain; version=0.0.4; charset=utf-8";
}

static void apiLogin(ApiServer *server, const ApiRequest *request, ApiResponse *response)
{
    if (!server->token) {
        apiRespondSeeOther(response, "/");
        return;
    }
    char presented[1024];
    if (!apiFormField(request->body, request->bodyLength, "token", presented, sizeof(presented)) ||
        !apiTokenEqual(presented, strlen(presented), server->token)) {
        memset(presented, 0, sizeof(presented));
        logWarn("HTTP API: failed status page login from %s", request->client);
        apiLoginPage(server, true, response);
        return;
    }
    memset(presented, 0, sizeof(presented));
    apiRespondSeeOther(response, "/");
    snprintf(response->setCookie, sizeof(response->setCookie), "%s=%s; Path=/; HttpOnly; SameSite=Strict%s",
             API_SESSION_COOKIE, server->sessionCookie, server->tls ? "; Secure" : "");
}

static void apiLogout(ApiServer *server, ApiResponse *response)
{
    apiRespondSeeOther(response, "/");
    snprintf(response->setCookie, sizeof(response->setCookie),
             "%s=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict%s", API_SESSION_COOKIE, server->tls ? "; Secure" : "");
}

/* ---- guards: what a web page could abuse --------------------------------------------------- */

static bool apiIsLoopbackText(const char *host)
{
    return host && (strncmp(host, "127.", 4) == 0 || strcmp(host, "[::1]") == 0 ||
                    strncmp(host, "[::ffff:127.", 12) == 0);
}

static void apiLogRefusal(const ApiRequest *request, const char *why, const char *value)
{
    char escaped[256];
    apiLogEscape(value ? value : "(none)", escaped, sizeof(escaped));
    logWarn("HTTP API: refused %s %s from %s: %s %s", request->logMethod, request->logPath, request->client, why,
            escaped);
}

/* DNS rebinding (Host), cross-site requests (Origin) and bodies a page can
 * send without a CORS preflight (Content-Type); with or without a token.
 * False with the refusal in response. */
static bool apiGuard(ApiServer *server, const ApiRequest *request, ApiResponse *response)
{
    if (request->pathHasNul) {
        apiLogRefusal(request, "NUL in the path", "%00");
        apiRespondBadRequest(response, "the path contains a NUL byte (%00)");
        return false;
    }
    /* Load balancers and container health checks probe /healthz by any
     * name; it answers "ok" and nothing else. */
    if (strcmp(request->path, "/healthz") == 0)
        return true;
    ApiHostRules rules = {
        .port = request->localPort,
        .listenHost = server->listenHost,
        .loopback = server->address.loopback || apiIsLoopbackText(request->localHost),
        .allowedHosts = server->allowedHosts,
        .localHost = request->localHost,
    };
    if (!apiHostAllowed(&rules, request->host)) {
        apiLogRefusal(request, "Host", request->host);
        apiRespondError(response, 421, "API_HOST_NOT_ALLOWED",
                        "the Host header does not name this server (DNS rebinding protection)",
                        "Use the address of BACKUP_API_LISTEN, or list the name in BACKUP_API_ALLOWED_HOSTS");
        return false;
    }
    if (!apiIsGet(request) && !apiOriginAllowed(&rules, request->origin)) {
        apiLogRefusal(request, "cross-origin request from", request->origin);
        apiRespondError(response, 403, "API_ORIGIN_NOT_ALLOWED",
                        "a page from another origin cannot change anything here",
                        "Call the API from a script or a tool, not from another site's page");
        return false;
    }
    if (request->bodyLength > 0) {
        bool form = strcmp(request->path, "/login") == 0 || strcmp(request->path, "/logout") == 0;
        const char *expected = form ? "application/x-www-form-urlencoded" : "application/json";
        if (!apiMediaTypeIs(request->contentType, expected)) {
            apiLogRefusal(request, "Content-Type", request->contentType);
            char message[160];
            snprintf(message, sizeof(message), "a request body must be sent as Content-Type: %s", expected);
            char action[160];
            snprintf(action, sizeof(action), "Send the header \"Content-Type: %s\"", expected);
            apiRespondError(response, 415, "API_UNSUPPORTED_MEDIA_TYPE", message, action);
            return false;
        }
    }
    return true;
}

void apiRoute(ApiServer *server, const ApiRequest *request, ApiResponse *response)
{
    const char *path = request->path;
    bool get = apiIsGet(request);
    if (!apiGuard(server, request, response))
        return;
    if (strcmp(path, "/healthz") == 0) {
        if (!get) {
            apiRespondMethodNotAllowed(response, "GET");
            return;
        }
        json_object *body = json_object_new_object();
        json_object_object_add(body, "status", json_object_new_string("ok"));
        apiRespondJson(response, 200, body);
        return;
    }
    if (strcmp(path, "/") == 0) {
        if (!get) {
            apiRespondMethodNotAllowed(response, "GET");
        } else if (apiCookieValid(server, request) || apiBearerValid(server, request)) {
            ApiSnapshot snapshot;
            if (apiTakeSnapshot(server, response, &snapshot)) {
                apiStatusPage(server, &snapshot, response);
                apiSnapshotFree(&snapshot);
            }
        } else {
            apiLoginPage(server, false, response);
        }
        return;
    }
    if (strcmp(path, "/login") == 0 || strcmp(path, "/logout") == 0) {
        if (!apiIsMethod(request, "POST"))
            apiRespondMethodNotAllowed(response, "POST");
        else if (strcmp(path, "/login") == 0)
            apiLogin(server, request, response);
        else
            apiLogout(server, response);
        return;
    }
    bool isApi = strncmp(path, API_PREFIX, strlen(API_PREFIX)) == 0 &&
                 (path[strlen(API_PREFIX)] == '\0' || path[strlen(API_PREFIX)] == '/');
    if (!isApi && strcmp(path, "/metrics") != 0) {
        apiRespondNotFound(response, path);
        return;
    }
    if (!apiBearerValid(server, request)) {
        apiRespondUnauthorized(request, response);
        return;
    }
    if (!isApi)
        get ? apiMetrics(server, response) : apiRespondMethodNotAllowed(response, "GET");
    else
        apiRouteV1(server, request, response);
}
