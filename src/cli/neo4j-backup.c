/* neo4j-backup: everything lives in the library; this file only hands over argv. */
#include "command/command.h"

int main(int argc, char **argv) { return commandBackupMain(argc, argv); }
