"""``rebac validate FILE.yaml...``: run SpiceDB validation files, as ``zed validate`` does.

Each file is loaded into its own fresh engine (one file = one store, SpiceDB's semantics). Every
failing assertion is printed as ``file:line: ...`` (the form editors and CI annotators pick up),
followed by a one-line summary. Exit status: 0 when every file loaded and every assertion held,
1 otherwise.

``--json`` prints one object instead, for tools::

    {"files": N, "assertions": N, "passed": N, "failed": N, "errors": N, "failures": [...]}

where each failure has ``file``, ``line``, ``kind``, ``assertion``, ``expected``, ``actual`` and
``error`` (a file that did not load appears with ``kind: "load"`` and ``line: null``).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from rebac.validation import run_validation

EXIT_OK = 0
EXIT_FAILED = 1


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    """Add ``validate`` to the ``rebac`` command line."""
    parser = subparsers.add_parser(
        "validate",
        help="run the assertions of SpiceDB validation files",
        description=(
            "Load each validation file (schema, relationships, assertions, expected relations) "
            "into a fresh engine and check it. Exit 0 only if every file loads and every "
            "assertion holds."
        ),
    )
    parser.add_argument("files", type=Path, nargs="+", metavar="FILE.yaml")
    parser.add_argument(
        "--json", action="store_true", help="print a JSON report on stdout instead of text"
    )
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    report = run_validation(args.files)
    if args.json:
        json.dump(report.to_json(), sys.stdout, indent=None, separators=(",", ":"))
        sys.stdout.write("\n")
    else:
        for failure in report.failures:
            print(failure.format())
        print(report.summary())
    return EXIT_OK if report.ok else EXIT_FAILED
