#!/usr/bin/env python3
"""Prints the line coverage of src/ from a coverage build (gcovr over its
.gcda files), per folder and in total, and fails below a floor.

    python3 scripts/coverage-report.py build-cov               # print only
    python3 scripts/coverage-report.py --floor 80 build-cov    # exit 1 below 80 %

scripts/test.sh runs it after the unit and end-to-end tests have driven the
coverage build, with the floor it states at its top (CONTRIBUTING.md, Coverage).
"""

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


def gcovr_summary(build_dir: Path) -> dict:
    if shutil.which("gcovr") is None:
        sys.exit("coverage: gcovr is not installed (bash scripts/setup.sh installs it)")
    with tempfile.TemporaryDirectory() as scratch:
        summary_path = Path(scratch) / "summary.json"
        # Only the library and the executables' sources count, not the tests.
        subprocess.run(["gcovr", "--root", str(REPO_ROOT), "--filter", str(REPO_ROOT / "src") + "/",
                        "--json-summary", str(summary_path), str(build_dir)],
                       check=True, stdout=subprocess.DEVNULL)
        return json.loads(summary_path.read_text())


def percent(covered: int, total: int) -> float:
    return 100.0 * covered / total if total else 100.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("build_dir", type=Path, help="a build configured with --coverage")
    parser.add_argument("--floor", type=float, help="fail (exit 1) when the total is below this percentage")
    parser.add_argument("--files", action="store_true", help="also list every file, least covered first")
    arguments = parser.parse_args()

    if not any(arguments.build_dir.rglob("*.gcda")):
        sys.exit(f"coverage: no .gcda files under {arguments.build_dir}: configure it with --coverage "
                 "and run the tests first")
    summary = gcovr_summary(arguments.build_dir)

    folders = defaultdict(lambda: [0, 0])
    for entry in summary["files"]:
        folder = str(Path(entry["filename"]).parent)
        folders[folder][0] += entry["line_covered"]
        folders[folder][1] += entry["line_total"]
    print(f"{'folder':<16} {'lines':>7} {'covered':>8}")
    for folder, (covered, total) in sorted(folders.items()):
        print(f"{folder:<16} {total:>7} {percent(covered, total):>7.1f}%")
    if arguments.files:
        print()
        for entry in sorted(summary["files"], key=lambda e: (e["line_percent"], e["filename"])):
            print(f"{entry['filename']:<40} {entry['line_total']:>6} {entry['line_percent']:>6.1f}%")

    covered, total = summary["line_covered"], summary["line_total"]
    figure = percent(covered, total)
    print(f"{'src/ total':<16} {total:>7} {figure:>7.1f}%  ({covered} of {total} lines)")
    if arguments.floor is not None:
        # Compare the rounded figure that is printed, so what one reads is what is judged.
        if round(figure, 1) < arguments.floor:
            print(f"coverage: FAIL: {figure:.1f}% of src/ is below the floor of {arguments.floor:g}%")
            return 1
        print(f"coverage: ok: {figure:.1f}% of src/ meets the floor of {arguments.floor:g}%")
    return 0


if __name__ == "__main__":
    sys.exit(main())
