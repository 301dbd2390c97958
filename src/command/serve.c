/* neo4j-backup --serve: the HTTP API, metrics and status page (src/api/),
 * alone or beside the scheduler (--schedule --serve) in one process.
 *
 * Threads and signals: the server's threads and its jobs' threads block
 * SIGINT/SIGTERM/SIGHUP/SIGUSR1 (api.h). Alone, this thread waits for
 * SIGINT/SIGTERM with ppoll; with --schedule, it runs the scheduler's loop,
 * which handles the four signals exactly as without the server (SIGHUP
 * reloads the SCHEDULER's configuration; the server keeps the one it started
 * with). Either way a stop request sets context->cancelFlag, running jobs
 * stop cleanly, and the server stops after them. */
#include "command/command.h"

#include "api/api.h"
#include "api/jobs.h"
#include "api/metrics.h"
#include "command/dump.h"
#include "command/import.h"
#include "command/support.h"
#include "common/fsutil.h"
#include "common/log.h"
#include "common/timeutil.h"

#include <openssl/crypto.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* PEM files larger than this are not certificates. */
#define SERVE_PEM_MAX_BYTES (1024 * 1024)

typedef struct {
    ApiServerOptions options;
    char *token;
    Buffer cert;
    Buffer key;
} ServeSettings;

static void serveSettingsFree(ServeSettings *settings)
{
    cfgSecretFree(settings->token);
    settings->token = NULL;
    bufferFree(&settings->cert);
    if (settings->key.data)
        OPENSSL_cleanse(settings->key.data, settings->key.capacity);
    bufferFree(&settings->key);
}

static ErrCode serveReadPem(const char *setting, const char *path, Buffer *out)
{
    ErrCode code = fsReadFile(path, SERVE_PEM_MAX_BYTES, out);
    if (code != ERR_OK) {
        errAddContext("%s", setting);
        errSetAction("Point %s at a readable PEM file", setting);
        return code == BACKUP_IO_FAILED ? CONFIG_INVALID : code;
    }
    bufferAppendByte(out, 0);
    return ERR_OK;
}

/* The dump method's flows for the API's jobs: the command line's, without
 * options (no --include-system, no --deep, as the API offers neither). */
static ErrCode serveDumpCreate(Config *config, volatile sig_atomic_t *cancelFlag, char idOut[CAT_ID_SIZE])
{
    CommandContext context = {.config = config, .cancelFlag = cancelFlag};
    return cmdDumpCreate(&context, idOut);
}

static ErrCode serveDumpValidate(void *payload, Catalog *catalog, const CatEntry *entry, const char *archivePath,
                                 bool *reported)
{
    CommandContext context = {.config = payload};
    return cmdDumpValidate(&context, catalog, entry, archivePath, reported);
}

static ErrCode serveResumeScheduler(Config *config)
{
    CommandContext context = {.config = config};
    return cmdResume(&context);
}

/* A restore job's instance work, wired as neo4j-restore wires it (payload:
 * the job's ApiRestoreContext). */
static ErrCode serveRestoreImportLoad(void *payload, const ArcChainLink *chain, size_t chainCount,
                                     uint64_t expectedBytes, uint64_t expectedRecords, const InstanceConfig *instance,
                                     BoltConnection **connection, ArchiveContent *content)
{
    const ApiRestoreContext *job = payload;
    CommandContext context = {.config = job->config, .cancelFlag = job->cancelFlag};
    return cmdImportLoadInto(&context, chain, chainCount, expectedBytes, expectedRecords, instance, connection,
                             content);
}

static ErrCode serveRestoreDump(void *payload, const CatEntry *entry, const ArcLocation *archive,
                                const InstanceConfig *instance, bool validate, char *failedCheck,
                                size_t failedCheckSize)
{
    const ApiRestoreContext *job = payload;
    CommandContext context = {.config = job->config, .cancelFlag = job->cancelFlag};
    return cmdDumpRestoreInto(&context, catStateDirectory(job->config), entry, archive, instance,
                              validate, failedCheck, failedCheckSize);
}

static ErrCode serveCopyAfterCreate(Config *config, volatile sig_atomic_t *cancelFlag, const char *backupId)
{
    CommandContext context = {.config = config, .cancelFlag = cancelFlag};
    return supportCopyAfterCreate(&context, backupId, false);
}

static const ApiBackends serveJobBackends = {
    .instances = {.connect = supportConnectMode, .serverVersion = neo4jServerVersion},
    .dumpCreate = serveDumpCreate,
    .dumpValidate = serveDumpValidate,
    .resumeScheduler = serveResumeScheduler,
    .copyAfterCreate = serveCopyAfterCreate,
    .restoreOps =
        {
            .connect = neo4jConnect,
            .importLoad = serveRestoreImportLoad,
            .dumpPreflight = cmdDumpRestorePreflight,
            .dumpRestore = serveRestoreDump,
        },
};

/* Reads and checks the API's settings; every refusal names the fix. */
static ErrCode serveLoadSettings(CommandContext *context, ServeSettings *settings)
{
    memset(settings, 0, sizeof(*settings));
    bufferInit(&settings->cert);
    bufferInit(&settings->key);
    const Config *config = context->config;
    bool noAuth = optionsHas(context->options, OPT_NO_AUTH);
    ErrCode code = apiAddressParse(cfgGet(config, CFG_BACKUP_API_LISTEN), &settings->options.address);
    if (code == ERR_OK)
        code = cfgGetSecret(config, CFG_BACKUP_API_TOKEN, &settings->token);
    if (code != ERR_OK)
        return code;
    const ApiAddress *address = &settings->options.address;
    if (noAuth && !address->loopback) {
        errSet(CONFIG_INVALID, "--no-auth is allowed only on a loopback address, and BACKUP_API_LISTEN is %s",
               address->text);
        errSetAction("Set BACKUP_API_TOKEN (or BACKUP_API_TOKEN_FILE), or listen on 127.0.0.1");
        return CONFIG_INVALID;
    }
    if (!noAuth && !settings->token) {
        errSet(CONFIG_INVALID, "the HTTP API needs a token: BACKUP_API_TOKEN (or BACKUP_API_TOKEN_FILE) is not set");
        errSetAction("Set BACKUP_API_TOKEN to a random secret (e.g. openssl rand -hex 32)%s",
                     address->loopback ? ", or pass --no-auth to serve loopback clients without one" : "");
        return CONFIG_INVALID;
    }
    if (noAuth && settings->token) {
        logWarn("--no-auth: the HTTP API ignores BACKUP_API_TOKEN and serves loopback clients without a token");
        cfgSecretFree(settings->token);
        settings->token = NULL;
    }
    if (settings->token && strlen(settings->token) < API_TOKEN_MIN_LENGTH) {
        errSet(CONFIG_INVALID, "BACKUP_API_TOKEN is too short (at least %d characters)", API_TOKEN_MIN_LENGTH);
        errSetAction("Use a random secret, e.g. openssl rand -hex 32");
        return CONFIG_INVALID;
    }
    const char *certPath = cfgGet(config, CFG_BACKUP_API_TLS_CERT);
    const char *keyPath = cfgGet(config, CFG_BACKUP_API_TLS_KEY);
    if ((certPath != NULL) != (keyPath != NULL)) {
        errSet(CONFIG_INVALID, "HTTPS needs both BACKUP_API_TLS_CERT and BACKUP_API_TLS_KEY; only %s is set",
               certPath ? "BACKUP_API_TLS_CERT" : "BACKUP_API_TLS_KEY");
        errSetAction("Set both (PEM files), or neither for plain HTTP");
        return CONFIG_INVALID;
    }
    if (certPath) {
        code = serveReadPem("BACKUP_API_TLS_CERT", certPath, &settings->cert);
        if (code == ERR_OK)
            code = serveReadPem("BACKUP_API_TLS_KEY", keyPath, &settings->key);
        if (code != ERR_OK)
            return code;
        settings->options.tlsCertPem = (const char *)settings->cert.data;
        settings->options.tlsKeyPem = (const char *)settings->key.data;
    } else if (!address->loopback) {
        logWarn("The HTTP API on %s speaks plain HTTP: the token crosses the network in clear. Set "
                "BACKUP_API_TLS_CERT and BACKUP_API_TLS_KEY, or put a TLS proxy in front.", address->text);
    }
    const char *allowedHosts = cfgGet(config, CFG_BACKUP_API_ALLOWED_HOSTS);
    char badHost[128];
    if (allowedHosts && !apiAllowedHostsValid(allowedHosts, badHost, sizeof(badHost))) {
        errSet(CONFIG_INVALID, "BACKUP_API_ALLOWED_HOSTS: invalid entry '%s'", badHost);
        errSetAction("List host names or addresses, optionally with :port, separated by commas "
                     "(e.g. backup.example.com,10.0.0.5:9090)");
        return CONFIG_INVALID;
    }
    settings->options.allowedHosts = allowedHosts;
    if (!address->loopback && !allowedHosts)
        logInfo("The HTTP API answers requests addressed to %s or to this machine's address only; list the DNS "
                "names clients use (Prometheus, a proxy) in BACKUP_API_ALLOWED_HOSTS", address->text);
    int64_t timeout = 0;
    int64_t perClient = 0;
    code = cfgGetInt(config, CFG_BACKUP_API_CONNECTION_TIMEOUT, &timeout);
    if (code == ERR_OK)
        code = cfgGetInt(config, CFG_BACKUP_API_MAX_CONNECTIONS_PER_CLIENT, &perClient);
    if (code != ERR_OK)
        return code;
    settings->options.connectionTimeout = (unsigned)timeout;
    settings->options.connectionsPerClient = (unsigned)perClient;
    settings->options.config = context->config;
    settings->options.cancelFlag = context->cancelFlag;
    settings->options.token = settings->token;
    settings->options.backends = &serveJobBackends;
    return ERR_OK;
}

/* Sleeps until SIGINT/SIGTERM; they are blocked except inside ppoll, so a
 * signal cannot slip in between the check and the wait. */
static void serveWaitForStop(CommandContext *context)
{
    sigset_t stopSignals;
    sigset_t previous;
    sigemptyset(&stopSignals);
    sigaddset(&stopSignals, SIGINT);
    sigaddset(&stopSignals, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stopSignals, &previous);
    sigset_t waitMask = previous;
    sigdelset(&waitMask, SIGINT);
    sigdelset(&waitMask, SIGTERM);
    while (!*context->cancelFlag)
        ppoll(NULL, 0, NULL, &waitMask);
    pthread_sigmask(SIG_SETMASK, &previous, NULL);
}

typedef struct {
    CommandContext *context;
    ServeSettings *settings;
    const char *scheme;
    const char *authText;
    ApiServer *server; /* once started */
} ServeStart;

/* Starts the server and says where it listens. The server keeps main's
 * configuration: the scheduler may swap its own on SIGHUP and free the one
 * before, the server's never changes. */
static ErrCode serveStart(void *payload)
{
    ServeStart *start = payload;
    ErrCode code = apiServerStart(&start->settings->options, &start->server);
    if (code != ERR_OK) {
        logErrorBlock("HTTP API not started", false);
        return code;
    }
    /* The port actually bound (BACKUP_API_LISTEN may say port 0). */
    const char *address = start->settings->options.address.text;
    char where[128];
    snprintf(where, sizeof(where), "%.*s:%u", (int)(strrchr(address, ':') - address), address,
             (unsigned)apiServerPort(start->server));
    logInfo("HTTP API listening on %s://%s (%s): status page at /, metrics at /metrics, JSON under /api/v1",
            start->scheme, where, start->authText);
    apiMetricsWriteFile(start->context->config, NULL);
    return ERR_OK;
}

ErrCode cmdServe(CommandContext *context)
{
    bool withScheduler = optionsHas(context->options, OPT_SCHEDULE);
    ServeSettings settings;
    ErrCode code = serveLoadSettings(context, &settings);
    if (code != ERR_OK) {
        logErrorBlock("HTTP API not started", false);
        serveSettingsFree(&settings);
        return code;
    }
    const char *scheme = settings.options.tlsCertPem ? "https" : "http";
    const char *authText = settings.token ? "bearer token required" : "NO authentication (--no-auth, loopback only)";
    if (context->dryRun) {
        logInfo("Dry run: would serve the HTTP API on %s://%s (%s)", scheme, settings.options.address.text, authText);
        serveSettingsFree(&settings);
        return withScheduler ? cmdSchedule(context) : ERR_OK;
    }

    timeNow(); /* fixes NBK_NOW's offset before any other thread reads the clock */
    ServeStart start = {.context = context, .settings = &settings, .scheme = scheme, .authText = authText};
    if (withScheduler) {
        /* The server starts once the scheduler is recorded as running, so the
         * API never reports it stopped in between. */
        code = cmdScheduleWith(context, serveStart, &start);
    } else {
        code = serveStart(&start);
        if (code == ERR_OK) {
            signal(SIGHUP, SIG_IGN); /* nothing to reload without the scheduler */
            serveWaitForStop(context);
            logInfo("HTTP API stopped by a signal");
        }
    }
    apiServerStop(start.server);
    serveSettingsFree(&settings);
    return code;
}
