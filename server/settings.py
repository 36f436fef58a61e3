"""Server settings: defaults in one place, validated once at start-up.

Sources, weakest first: built-in defaults, a settings file (TOML, JSON or YAML, chosen by
extension; ``--config FILE`` or ``REBAC_CONFIG``), environment variables ``REBAC_<NAME>`` (e.g.
``REBAC_LISTEN``, ``REBAC_MAX_PAGE_SIZE``), command-line flags. Every problem is reported at
once, each naming the setting, where its value came from and what was wrong, so a bad deployment
fails before it binds a port rather than on the first request.

Why a flat model: each setting has one name, the same in a file, as ``REBAC_<NAME>`` and as
``--<name>`` (dashes for underscores), which is what an operator greps for.
"""

from __future__ import annotations

import ipaddress
import json
import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import (
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from server.auth.settings import AuthSettings

ENV_PREFIX = "REBAC_"
CONFIG_ENV = "REBAC_CONFIG"
DB_NAME = "rebac.db"


class SettingsError(Exception):
    """Settings that cannot be used; ``str()`` is a message for the operator."""


def split_address(address: str) -> tuple[str, int]:
    """``host:port`` (``[v6]:port`` for IPv6) -> (host, port); ValueError naming the problem."""
    host, sep, port_text = address.rpartition(":")
    if not sep or not host:
        raise ValueError("expected host:port, e.g. 127.0.0.1:50051")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if not port_text.isdigit() or not 0 <= int(port_text) <= 65535:
        raise ValueError(f"port must be a number from 0 to 65535, got {port_text!r}")
    return host, int(port_text)


def is_loopback_host(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def usable_cores() -> int:
    """Cores this process may run on (its CPU affinity where the platform tells it)."""
    affinity = getattr(os, "sched_getaffinity", None)
    return len(affinity(0)) if affinity is not None else os.cpu_count() or 1


def auto_workers(settings: Mapping[str, Any]) -> int:
    """The default worker count for (already validated) ``settings``: one process per core,
    since one CPython process runs Python on one core at a time; 1 where several processes
    cannot share the configuration (port 0, an in-memory store, TLS or an admin listener)."""
    listen = settings.get("listen")
    if not isinstance(listen, str) or split_address(listen)[1] == 0:
        return 1
    if settings.get("store") == "memory:":
        return 1
    if settings.get("tls_cert") is not None or settings.get("admin_listen"):
        return 1
    return max(1, min(usable_cores(), 64))


class Settings(AuthSettings):
    """Everything ``rebac serve`` can be told. All durations are in seconds.

    The authentication, authorization and audit settings (``auth_*``, ``tls_*``,
    ``admin_listen``, ``audit_*``) are inherited from :class:`server.auth.settings.AuthSettings`.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    listen: str = Field("127.0.0.1:50051", description="address to listen on (host:port)")
    data_dir: Path = Field(Path(".rebac-data"), description="directory of the SQLite file")
    store: str | None = Field(
        None, description="datastore: 'memory:' or 'sqlite:PATH' (default: DATA_DIR/rebac.db)"
    )
    default_store: str = Field(
        "default", min_length=1, description="store created at start-up when none exists"
    )
    workers: int = Field(
        None,
        validate_default=True,
        ge=1,
        le=64,
        description="server processes sharing the port (default: one per core when the "
        "configuration allows several -- a fixed port, SQLite, no TLS, no admin listener -- "
        "else 1; each process holds its own index, so memory grows with the count)",
    )
    threads: int = Field(16, ge=1, le=1024, description="request threads per process")
    quantum: float = Field(
        0.1, ge=0, le=60, description="max staleness of minimize_latency reads (index refresh)"
    )
    max_depth: int = Field(50, ge=1, le=1000, description="max nested dispatches per query")
    max_message_bytes: int = Field(
        4 * 1024 * 1024, ge=1024, le=1024**3, description="max gRPC message size"
    )
    max_updates_per_write: int = Field(1000, ge=1, le=100_000)
    max_preconditions_per_write: int = Field(1000, ge=1, le=100_000)
    max_bulk_check_items: int = Field(1000, ge=1, le=100_000)
    max_page_size: int = Field(
        1000, ge=1, le=100_000, description="max optional_limit of lookups and reads"
    )
    max_export_page_size: int = Field(10_000, ge=1, le=1_000_000)
    default_deadline: float = Field(
        30.0,
        gt=0,
        le=3600,
        description="deadline of calls whose client sets none",
    )
    grace_period: float = Field(
        10.0, ge=0, le=3600, description="how long in-flight calls may finish at shutdown"
    )
    watch_poll_interval: float = Field(0.05, gt=0, le=60)
    log_level: str = Field("INFO", description="DEBUG, INFO, WARNING or ERROR")

    @field_validator("listen")
    @classmethod
    def _valid_listen(cls, value: str) -> str:
        split_address(value)
        return value

    @field_validator("workers", mode="before")
    @classmethod
    def _default_workers(cls, value: object, info: ValidationInfo) -> object:
        """Unset: every core, where several processes can share this configuration."""
        return auto_workers(info.data) if value is None else value

    @field_validator("log_level")
    @classmethod
    def _valid_level(cls, value: str) -> str:
        upper = value.upper()
        if upper not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
            raise ValueError("must be DEBUG, INFO, WARNING or ERROR")
        return upper

    @field_validator("store")
    @classmethod
    def _valid_store(cls, value: str | None) -> str | None:
        if value is not None and value != "memory:" and not value.removeprefix("sqlite:"):
            raise ValueError("expected 'memory:' or 'sqlite:PATH'")
        return value

    @model_validator(mode="after")
    def _port_for_workers(self) -> Settings:
        if self.workers > 1 and self.port == 0:
            raise ValueError("several workers need a fixed port to share (not port 0)")
        if self.workers > 1 and self.store == "memory:":
            raise ValueError("several workers need a shared datastore (SQLite), not 'memory:'")
        return self

    # -- derived -------------------------------------------------------------------------------

    @property
    def store_spec(self) -> str:
        """The datastore to open (see :func:`rebac.store.open_store`)."""
        return self.store if self.store is not None else f"sqlite:{self.data_dir / DB_NAME}"

    @property
    def host(self) -> str:
        return split_address(self.listen)[0]

    @property
    def port(self) -> int:
        return split_address(self.listen)[1]

    @property
    def is_loopback(self) -> bool:
        return is_loopback_host(self.host)


FIELDS = tuple(Settings.model_fields)


def read_file(path: Path) -> dict[str, Any]:
    """A settings file as a mapping; SettingsError naming the file when it cannot be read."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise SettingsError(f"cannot read settings file {path}: {exc.strerror or exc}") from exc
    suffix = path.suffix.lower()
    try:
        if suffix == ".toml":
            data: object = tomllib.loads(text)
        elif suffix == ".json":
            data = json.loads(text)
        elif suffix in (".yaml", ".yml"):
            data = yaml.safe_load(text) or {}
        else:
            raise SettingsError(
                f"settings file {path}: unknown extension {suffix!r} (use .toml, .json or .yaml)"
            )
    except (tomllib.TOMLDecodeError, json.JSONDecodeError, yaml.YAMLError) as exc:
        raise SettingsError(f"settings file {path} does not parse: {exc}") from exc
    if not isinstance(data, dict):
        raise SettingsError(f"settings file {path} must hold a mapping of setting names")
    return {str(k).replace("-", "_"): v for k, v in data.items()}


def from_env(env: Mapping[str, str]) -> dict[str, str]:
    """``REBAC_<NAME>`` variables of known settings (others belong to other components)."""
    out = {}
    for name in FIELDS:
        value = env.get(ENV_PREFIX + name.upper())
        if value is not None:
            out[name] = value
    return out


def load_settings(
    flags: Mapping[str, Any] | None = None,
    *,
    env: Mapping[str, str] | None = None,
    config_file: Path | None = None,
) -> Settings:
    """Merge defaults < file < environment < flags and validate; SettingsError on any problem.

    ``flags`` holds only what was given on the command line (None values are ignored).
    """
    env = os.environ if env is None else env
    if config_file is None and env.get(CONFIG_ENV):
        config_file = Path(env[CONFIG_ENV])
    layers: list[tuple[str, dict[str, Any]]] = []
    if config_file is not None:
        layers.append((f"file {config_file}", read_file(config_file)))
    layers.append(("environment", from_env(env)))
    layers.append(("command line", {k: v for k, v in (flags or {}).items() if v is not None}))
    merged: dict[str, Any] = {}
    origin: dict[str, str] = {}
    for source, values in layers:
        for key, value in values.items():
            merged[key] = value
            origin[key] = source
    try:
        return Settings(**merged)
    except ValidationError as exc:
        raise SettingsError(_explain(exc, origin)) from None


def _explain(exc: ValidationError, origin: Mapping[str, str]) -> str:
    lines = ["invalid settings:"]
    for err in exc.errors():
        name = ".".join(str(p) for p in err["loc"]) or "settings"
        source = origin.get(name.split(".")[0], "default")
        where = source
        if source == "environment":
            where = f"environment variable {ENV_PREFIX}{name.upper()}"
        elif source == "command line":
            where = f"flag --{name.replace('_', '-')}"
        if err["type"] == "extra_forbidden":
            lines.append(f"  unknown setting {name!r} (from {where})")
            continue
        message = str(err["msg"]).removeprefix("Value error, ")
        lines.append(f"  {name} = {err.get('input')!r} (from {where}): {message}")
    return "\n".join(lines)
