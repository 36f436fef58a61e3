"""``rebac serve``: run the gRPC server.

With no arguments it listens on 127.0.0.1:50051 with the embedded SQLite datastore in
``./.rebac-data/rebac.db``, creates a store named ``default`` if there is none, and prints
where it listens and how to call it. Every setting of :class:`server.settings.Settings` is a
flag (``--max-page-size``), an environment variable (``REBAC_MAX_PAGE_SIZE``) or a key of the
``--config`` file; flags win over the environment, which wins over the file.

Exit codes: 0 after a clean shutdown, 2 for settings that cannot be used (printed, nothing
started).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

EXIT_OK = 0
EXIT_BAD_SETTINGS = 2


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    """Add ``serve`` to the ``rebac`` command line, one flag per setting."""
    # Imported here: the rest of the CLI (offline validation, schema checks) must not pay for
    # importing grpc.
    from server.settings import Settings

    parser = subparsers.add_parser(
        "serve",
        help="run the gRPC server",
        description="Run the rebac gRPC server. Without flags: 127.0.0.1:50051, SQLite in "
        "./.rebac-data, no authentication (loopback only).",
    )
    parser.add_argument(
        "--config", type=Path, metavar="FILE", help="settings file (.toml, .json or .yaml)"
    )
    for name, field in Settings.model_fields.items():
        default = field.default
        shown = f" (default: {default})" if default is not None else ""
        parser.add_argument(
            f"--{name.replace('_', '-')}",
            dest=name,
            default=None,
            metavar=name.upper(),
            help=(field.description or name.replace("_", " ")) + shown,
        )
    parser.set_defaults(func=_serve)


def banner(address: str, settings: Any, *, workers: int) -> str:
    """What an operator needs first: where, with what data, how to call it, what is missing."""
    store = settings.default_store
    plural = "s" if workers != 1 else ""
    request = json.dumps({"store_id": store})
    return "\n".join(
        [
            f"rebac server listening on {address} ({workers} worker{plural})",
            f"  datastore:      {settings.store_spec}",
            f"  default store:  {store}",
            "  authentication: NONE - local development only; listening on loopback, no tokens",
            "                  are checked (authentication configuration is not available yet)",
            f"  try:  grpcurl -plaintext -d '{request}' {address} "
            "rebac.api.v1.SchemaService/ReadSchema",
            f"        grpcurl -plaintext {address} list   (every service, by reflection)",
            f'  or:   python -c "from rebac.client import Client; '
            f"print(Client('{address}', '{store}').list_stores())\"",
            "  stop: Ctrl-C or SIGTERM (in-flight calls finish; press twice to stop at once)",
        ]
    )


def _serve(args: argparse.Namespace) -> int:
    from server.app import RebacServer, configure_logging, serve
    from server.settings import Settings, SettingsError, load_settings
    from server.workers import run_workers

    flags = {name: getattr(args, name) for name in Settings.model_fields}
    try:
        settings = load_settings(flags, config_file=args.config)
    except SettingsError as exc:
        print(f"rebac serve: {exc}", file=sys.stderr)
        return EXIT_BAD_SETTINGS
    configure_logging(settings)

    def ready(server: RebacServer) -> None:
        print(banner(server.address, settings, workers=1), flush=True)

    try:
        if settings.workers > 1:
            print(banner(settings.listen, settings, workers=settings.workers), flush=True)
            return run_workers(settings)
        serve(settings, on_ready=ready)
    except SettingsError as exc:
        print(f"rebac serve: {exc}", file=sys.stderr)
        return EXIT_BAD_SETTINGS
    return EXIT_OK
