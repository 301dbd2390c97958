/* neo4j-restore: everything lives in the library; this file only hands over argv. */
#include "command/command.h"

int main(int argc, char **argv) { return commandRestoreMain(argc, argv); }
