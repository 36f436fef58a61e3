"""``rebac serve``: run the gRPC server.

With no arguments it listens on 127.0.0.1:50051 with the embedded SQLite datastore in
``./.rebac-data/rebac.db``, creates a store named ``default`` if there is none, and prints
where it listens and how to call it. Every setting of :class:`server.settings.Settings` is a
flag (``--max-page-size``), an environment variable (``REBAC_MAX_PAGE_SIZE``) or a key of the
``--config`` file; flags win over the environment, which wins over the file.

Authentication (:mod:`server.auth`): with ``auth_*`` settings the server verifies workload
tokens (and/or API keys, client certificates) and serves the admin APIs on ``admin_listen``
only. Without them it runs in development mode: loopback only, a signing key of its own in
``DATA_DIR/dev-auth``, and an all-scopes token in ``DATA_DIR/dev-auth/token`` (where the
``rebac`` command line finds it). Nothing ever runs unauthenticated.

Exit codes: 0 after a clean shutdown, 2 for settings that cannot be used (printed, nothing
started).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
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
        "./.rebac-data, development-mode authentication (loopback only, a local signing key, "
        "a token in ./.rebac-data/dev-auth/token).",
    )
    parser.add_argument(
        "--config", type=Path, metavar="FILE", help="settings file (.toml, .json or .yaml)"
    )
    for name, field in Settings.model_fields.items():
        default = field.get_default(call_default_factory=True)
        shown = f" (default: {default})" if default is not None else ""
        parser.add_argument(
            f"--{name.replace('_', '-')}",
            dest=name,
            default=None,
            metavar=name.upper(),
            help=(field.description or name.replace("_", " ")) + shown,
        )
    parser.set_defaults(func=_serve)


def banner(
    address: str,
    settings: Any,
    *,
    workers: int,
    auth: Sequence[str] = (),
    token_file: Path | None = None,
    admin_address: str | None = None,
) -> str:
    """What an operator needs first: where, with what data, how to call it, what is missing.

    ``auth``: the authentication lines (:meth:`server.auth.runtime.AuthRuntime.describe`);
    ``token_file``: the development token, shown in the example calls."""
    store = settings.default_store
    plural = "s" if workers != 1 else ""
    request = json.dumps({"store_id": store})
    header = f' -H "authorization: Bearer $(cat {token_file})"' if token_file else ""
    client_auth = (
        f", metadata=[('authorization', 'Bearer ' + open('{token_file}').read().strip())]"
        if token_file
        else ""
    )
    transport = "" if getattr(settings, "tls_cert", None) else " -plaintext"
    auth_lines = list(auth) or [
        "  authentication: NONE - local development only; listening on loopback, no tokens",
        "                  are checked (set auth_* settings to require them)",
    ]
    admin = [f"  admin listener: {admin_address} (schema writes, stores)"] if admin_address else []
    return "\n".join(
        [
            f"rebac server listening on {address} ({workers} worker{plural})",
            *admin,
            f"  datastore:      {settings.store_spec}",
            f"  default store:  {store}",
            *auth_lines,
            f"  try:  grpcurl{transport}{header} -d '{request}' {address} "
            "rebac.api.v1.SchemaService/ReadSchema",
            f"        grpcurl{transport}{header} {address} list   (every service, by reflection)",
            f'  or:   python -c "from rebac.client import Client; '
            f"print(Client('{address}', '{store}'{client_auth}).list_stores())\"",
            "  stop: Ctrl-C or SIGTERM (in-flight calls finish; press twice to stop at once)",
        ]
    )


def _serve(args: argparse.Namespace) -> int:
    from server.app import configure_logging
    from server.settings import Settings, SettingsError, load_settings

    flags = {name: getattr(args, name) for name in Settings.model_fields}
    try:
        settings = load_settings(flags, config_file=args.config)
    except SettingsError as exc:
        print(f"rebac serve: {exc}", file=sys.stderr)
        return EXIT_BAD_SETTINGS
    configure_logging(settings)
    return _serve_authenticated(settings)


def _serve_authenticated(settings: Any) -> int:
    """With :mod:`server.auth` in front: the data-plane listener, the admin listener when
    ``admin_listen`` is set, or -- without authentication settings -- development mode (one
    loopback listener, a local signing key, a token in ``DATA_DIR/dev-auth/token``)."""
    from server.app import RebacServer, check_exposure, serve
    from server.auth.devmode import write_token
    from server.auth.runtime import AuthSetupError, build_auth, worker_interceptors
    from server.settings import SettingsError
    from server.workers import run_workers

    dev_mode = not settings.auth_configured
    try:  # before anything is written to the data directory
        check_exposure(settings, authenticated=not dev_mode)
        if dev_mode and settings.admin_listen:
            raise SettingsError(
                "admin_listen needs authentication configured (auth_issuer, auth_audience, "
                "auth_admin_audience and keys): development mode serves every API on one "
                "loopback listener"
            )
        runtime = build_auth(settings, settings.data_dir)
    except (SettingsError, AuthSetupError) as exc:
        print(f"rebac serve: {exc}", file=sys.stderr)
        return EXIT_BAD_SETTINGS
    token_file = write_token(settings.data_dir) if runtime.dev_mode else None

    def ready(server: RebacServer) -> None:
        admin = server.companions[0].address if server.companions else None
        text = banner(
            server.address,
            settings,
            workers=1,
            auth=runtime.describe(),
            token_file=token_file,
            admin_address=admin,
        )
        print(text, flush=True)

    try:
        if settings.workers > 1:
            if settings.admin_listen or settings.tls_cert:
                raise SettingsError(
                    "with several workers, TLS and admin_listen are not available yet "
                    "(use --workers 1)"
                )
            runtime.close()  # each worker builds its own
            text = banner(
                settings.listen,
                settings,
                workers=settings.workers,
                auth=runtime.describe(),
                token_file=token_file,
            )
            print(text, flush=True)
            return run_workers(settings, interceptor_factory=worker_interceptors)
        serve(
            settings,
            authenticated=not runtime.dev_mode,
            on_ready=ready,
            build=runtime.build_server,
        )
    except SettingsError as exc:
        print(f"rebac serve: {exc}", file=sys.stderr)
        return EXIT_BAD_SETTINGS
    finally:
        runtime.close()
    return EXIT_OK
