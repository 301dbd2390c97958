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
           "This page is generated from `src/common/config.c` by `scripts/gen-docs.sh`.\n");
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
