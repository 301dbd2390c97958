/* Prints docs/configuration.md from the settings table (the single source of
 * names, defaults and descriptions), or a man page with --man backup|restore.
 * scripts/gen-docs.sh runs it; tests/unit/docs_test.c checks the result is current. */
#include "command/options.h"
#include "common/config.h"

#include <stdio.h>
#include <string.h>

static void printConfiguration(void)
{
    size_t count = 0;
    const CfgSetting *settings = cfgSettingsTable(&count);
    printf("# Configuration\n\n"
           "Every setting has one name, used alike as an environment variable, as a `KEY=VALUE` line "
           "in the file given with `--config`, and here. Precedence, highest first: command line "
           "(`--compression`, `--method`) > config file > environment > defaults. Secrets are never "
           "printed; `X_FILE` reads the secret `X` from a file.\n\n"
           "Restore targets other than the default `test-neo4j` are `[instance NAME]` sections of the "
           "config file with the keys URI, USER, PASSWORD, PASSWORD_FILE, DATABASE, START_COMMAND, "
           "STOP_COMMAND, NEO4J_HOME, CONTAINER, CA_FILE.\n\n"
           "This page is generated from `src/common/config.def` by `scripts/gen-docs.sh`.\n");
    const char *group = "";
    for (size_t index = 0; index < count; index++) {
        const CfgSetting *setting = &settings[index];
        if (strcmp(group, setting->group) != 0) {
            group = setting->group;
            printf("\n## %s\n\n| Setting | Default | Description |\n|---|---|---|\n", group);
        }
        printf("| `%s` | %s%s%s | %s%s |\n", setting->name, setting->defaultValue ? "`" : "",
               setting->defaultValue ? setting->defaultValue : "(unset)", setting->defaultValue ? "`" : "",
               setting->description, setting->isSecret ? " (secret)" : "");
    }
    /* The policy lives in src/common/process.h (procEnvIsSecret). */
    printf("\n## Child processes\n\n"
           "`neo4j-admin` and the stop and start commands (`NEO4J_STOP_COMMAND`, `START_COMMAND` of an "
           "instance, ...) get this process's environment minus every variable whose name looks secret: "
           "names containing `PASSWORD`, `PASSWD`, `TOKEN`, `SECRET`, `CREDENTIAL`, `PRIVATE`, `APIKEY`, "
           "`API_KEY` or `_KEY_`, names ending in `_KEY`, `NEO4J_AUTH`, `AWS_*`, `AZURE_*`, and every "
           "setting above marked (secret) (so `NEO4J_PASSWORD`, `BACKUP_API_TOKEN`, `BACKUP_SMTP_PASSWORD`, "
           "`BACKUP_SMTP_URL`, `BACKUP_ALERT_WEBHOOK`; the `X_FILE` settings go too). Everything else "
           "passes (`PATH`, `HOME`, `LANG`, `LC_*`, `TZ`, `JAVA_HOME`, `NEO4J_CONF`, your own variables), "
           "and `neo4j-admin` also gets `NEO4J_HOME`. A stop or start command that needs a secret reads it "
           "from a file itself. Stop and start commands run as `/bin/sh -c COMMAND`, at most 600 seconds "
           "each, and are logged with anything that looks like a password (`NAME=value` and "
           "`--name value` with a secret-looking name, `-p<value>`, `user:password@` in URIs, "
           "`-u user:password`, `Authorization: Bearer ...`) shown as `****`.\n");
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "--man") == 0) {
        optionsPrintManPage(strcmp(argv[2], "restore") == 0 ? optionsRestoreCommand() : optionsBackupCommand(),
                            stdout);
        return 0;
    }
    printConfiguration();
    return 0;
}
