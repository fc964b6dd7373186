"""Run every bad input of the error table through the sgdlab CLI and write ``docs/errors.md``.

    .venv/bin/python scripts/errors_table.py           # rewrite docs/errors.md
    .venv/bin/python scripts/errors_table.py --check   # exit 1 if docs/errors.md is stale

The cases and the runner live in ``tests/support/`` (``errors_cases.py``, ``errors_options.py``,
``errors_runner.py``); ``tests/test_errors.py`` runs the same cases (and checks that the doc is
what they render), so the table and the tests cannot drift apart. To add a row, add a ``Case``
there and rerun this script.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

SUPPORT = Path(__file__).resolve().parent.parent / "tests" / "support"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--check", action="store_true", help="exit 1 if docs/errors.md is stale")
    args = p.parse_args(argv)
    sys.path.insert(0, str(SUPPORT))
    from errors_runner import ALL, DOC, generate

    text = generate()
    if args.check:
        if not DOC.exists() or DOC.read_text() != text:
            print(f"{DOC} is stale: run {Path(__file__).name}", file=sys.stderr)
            return 1
        return 0
    DOC.parent.mkdir(exist_ok=True)
    DOC.write_text(text)
    print(f"wrote {DOC} ({len(ALL)} rows)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
