#!/usr/bin/env python3
"""Rewrites configuration and option lookups by string into typed ids.

    cfgGet(config, "BACKUP_STORAGE_PATH")     ->  cfgGet(config, CFG_BACKUP_STORAGE_PATH)
    optionsHas(parsed, "dry-run")             ->  optionsHas(parsed, OPT_DRY_RUN)
    OPT_ACTION / OPT_MODIFIER (option roles)  ->  OPT_ROLE_ACTION / OPT_ROLE_MODIFIER

and two more call-site rewrites of the same integration (issue 12):

    ErrDetail failure = *errLast();           ->  ErrDetail failure = errSave();
    *(ErrDetail *)errLast() = failure;        ->  errRestore(&failure);
    errSet(CONFIG_INVALID, "BACKUP_STORAGE_PATH is not set")  ->  cfgStoragePathMissing()

The ids come from src/common/config.def and src/command/options.def. The
rewrite is idempotent: run it after merging code written against the string
API; a second run changes nothing. A name that is in neither table is reported
(file:line) and makes the script exit 1, as the compiler would.

Usage: python3 scripts/typed-keys.py [--check] [paths...]
  (default paths: src tests bench tools; --check: change nothing, exit 1 if
  something would change or a name is unknown)
"""
import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent

CFG_FUNCTIONS = ("cfgGet", "cfgSource", "cfgGetInt", "cfgGetBool", "cfgGetSecondsList", "cfgGetSecret",
                 "cfgSetOverride")
OPTION_FUNCTIONS = ("optionsHas", "optionsValue")

# A first argument: anything without a top-level comma, parentheses nested two deep.
FIRST_ARG = r"(?:[^(),\"]|\((?:[^()]|\([^()]*\))*\))+"


def settingNames():
    text = (ROOT / "src/common/config.def").read_text()
    return set(re.findall(r"^NBK_CFG_[A-Z_]+\(([A-Z0-9_]+),", text, re.M))


def optionIds():
    text = (ROOT / "src/command/options.def").read_text()
    return {longName: ident for ident, longName in re.findall(r'^NBK_OPTION\((\w+), "([^"]+)"\)', text, re.M)}


def lineOf(text, offset):
    return text.count("\n", 0, offset) + 1


def rewrite(path, text, settings, options, problems):
    def cfgCall(match):
        name = match.group("name")
        if name not in settings:
            problems.append(f"{path}:{lineOf(text, match.start())}: unknown setting \"{name}\"")
            return match.group(0)
        return f"{match.group('head')}CFG_{name}"

    def optionCall(match):
        name = match.group("name")
        if name not in options:
            problems.append(f"{path}:{lineOf(text, match.start())}: unknown option \"{name}\"")
            return match.group(0)
        return f"{match.group('head')}OPT_{options[name]}"

    cfgPattern = re.compile(r"(?P<head>\b(?:%s)\s*\(\s*%s,\s*)\"(?P<name>[A-Za-z0-9_]+)\"" %
                            ("|".join(CFG_FUNCTIONS), FIRST_ARG))
    optionPattern = re.compile(r"(?P<head>\b(?:%s)\s*\(\s*%s,\s*)\"(?P<name>[a-z0-9-]+)\"" %
                               ("|".join(OPTION_FUNCTIONS), FIRST_ARG))
    text = cfgPattern.sub(cfgCall, text)
    text = optionPattern.sub(optionCall, text)
    text = re.sub(r"\b(\w+) = \*errLast\(\);", r"\1 = errSave();", text)
    text = re.sub(r"\*\s*\(ErrDetail\s*\*\)\s*errLast\(\)\s*=\s*(\w+);", r"errRestore(&\1);", text)
    if pathlib.PurePath(path).as_posix() != "src/common/config.c":  # where the one message lives
        text = re.sub(r"\berrSet\(\s*CONFIG_INVALID,\s*\"BACKUP_STORAGE_PATH is not set\"\s*\)",
                      "cfgStoragePathMissing()", text)
    text = re.sub(r"\bOPT_ACTION\b", "OPT_ROLE_ACTION", text)
    text = re.sub(r"\bOPT_MODIFIER\b", "OPT_ROLE_MODIFIER", text)
    return text


def main(argv):
    check = "--check" in argv
    paths = [arg for arg in argv if arg != "--check"] or ["src", "tests", "bench", "tools"]
    settings = settingNames()
    options = optionIds()
    problems = []
    changed = []
    for base in paths:
        base = (ROOT / base) if not pathlib.Path(base).is_absolute() else pathlib.Path(base)
        files = [base] if base.is_file() else sorted(base.rglob("*.[ch]")) if base.exists() else []
        for path in files:
            text = path.read_text()
            relative = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
            updated = rewrite(relative, text, settings, options, problems)
            if updated != text:
                changed.append(str(relative))
                if not check:
                    path.write_text(updated)
    for name in changed:
        print(("would rewrite " if check else "rewrote ") + name)
    for problem in problems:
        print(problem, file=sys.stderr)
    return 1 if problems or (check and changed) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
