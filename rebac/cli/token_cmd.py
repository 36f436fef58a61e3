"""``rebac token``: development tokens and API keys.

``rebac token mint --sub SUB --scope SCOPE --store STORE`` prints a token signed with the
development key that ``rebac serve`` (development mode) keeps in ``DATA_DIR/dev-auth``: for
local work and tests only -- a production server never trusts that key. ``--step-up`` adds a
fresh multi-factor authentication (``amr: ["mfa"]``, ``auth_time`` now), which high-risk
actions (schema writes, store deletion, deletes by filter) require.

``rebac token api-key --id NAME --sub SUB --scope SCOPE --store STORE`` creates a static API
key: it prints the key once, and the entry (holding only its SHA-256) for the keys file.

Exit codes: 0 on success, 2 for unusable arguments or no development key.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

EXIT_OK = 0
EXIT_USAGE = 2


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    parser = subparsers.add_parser(
        "token", help="mint development tokens and API keys", description=__doc__.split("\n\n")[1]
    )
    sub = parser.add_subparsers(dest="token_command", required=True, metavar="ACTION")

    mint = sub.add_parser("mint", help="a development token signed by the local dev key")
    mint.add_argument("--sub", required=True, help="the principal (subject) the token names")
    mint.add_argument(
        "--scope",
        action="append",
        default=[],
        help="a scope to grant (repeatable; default: every scope)",
    )
    mint.add_argument(
        "--store", action="append", required=True, help="a store to grant (repeatable; '*': all)"
    )
    mint.add_argument("--step-up", action="store_true", help="with a fresh MFA authentication")
    mint.add_argument(
        "--lifetime", type=int, default=3600, help="seconds until it expires (default: 3600)"
    )
    mint.add_argument("--data-dir", type=Path, help="the server's data directory")
    mint.set_defaults(func=_mint)

    key = sub.add_parser("api-key", help="a static API key and its keys-file entry")
    key.add_argument("--id", required=True, help="a name for the key (shown in audit lines)")
    key.add_argument("--sub", required=True, help="the principal (subject) the key stands for")
    key.add_argument("--scope", action="append", required=True, help="a scope (repeatable)")
    key.add_argument("--store", action="append", required=True, help="a store (repeatable)")
    key.set_defaults(func=_api_key)


def _split(values: list[str]) -> list[str]:
    return [v for value in values for v in value.replace(",", " ").split()]


def _mint(args: argparse.Namespace) -> int:
    from server.auth import devmode
    from server.auth.scopes import ALL_SCOPES

    scopes = _split(args.scope) or list(ALL_SCOPES)
    unknown = sorted(set(scopes) - set(ALL_SCOPES))
    if unknown:
        print(
            f"rebac token mint: unknown scopes {unknown}; known: {', '.join(ALL_SCOPES)}",
            file=sys.stderr,
        )
        return EXIT_USAGE
    if not 1 <= args.lifetime <= 86_400:
        print("rebac token mint: --lifetime must be 1 to 86400 seconds", file=sys.stderr)
        return EXIT_USAGE
    if args.lifetime > devmode.DEV_LIFETIME:
        print(
            f"rebac token mint: warning: a server refuses tokens living longer than its "
            f"auth_max_lifetime (default {devmode.DEV_LIFETIME} s)",
            file=sys.stderr,
        )
    data_dir = args.data_dir or devmode.default_data_dir()
    try:
        key, kid = devmode.load_key(data_dir)
    except devmode.DevKeyError as exc:
        print(f"rebac token mint: {exc}", file=sys.stderr)
        return EXIT_USAGE
    token = devmode.mint(
        key,
        kid,
        sub=args.sub,
        scopes=scopes,
        stores=_split(args.store),
        lifetime=args.lifetime,
        step_up=args.step_up,
    )
    print(token)
    return EXIT_OK


def _api_key(args: argparse.Namespace) -> int:
    from server.auth.apikeys import digest, new_key
    from server.auth.grants import FORBIDDEN_STATIC_SCOPES
    from server.auth.scopes import ALL_SCOPES

    scopes = _split(args.scope)
    bad = sorted(set(scopes) - (set(ALL_SCOPES) - set(FORBIDDEN_STATIC_SCOPES)))
    if bad:
        print(f"rebac token api-key: scopes {bad} cannot be given to an API key", file=sys.stderr)
        return EXIT_USAGE
    key = new_key()
    entry = "\n".join(
        [
            "[[key]]",
            f"id = {json.dumps(args.id)}",
            f'sha256 = "{digest(key).hex()}"',
            f"sub = {json.dumps(args.sub)}",
            f"scopes = {json.dumps(scopes)}",
            f"stores = {json.dumps(_split(args.store))}",
        ]
    )
    print(f"API key (shown once, store it as a secret): {key}")
    print("Add to the file named by auth_api_keys_file:")
    print(entry)
    return EXIT_OK
