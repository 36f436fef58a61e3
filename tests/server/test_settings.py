"""Settings: defaults, the precedence of sources, and messages that name what is wrong."""

from __future__ import annotations

from pathlib import Path

import pytest

from server.settings import Settings, SettingsError, load_settings, usable_cores


def test_defaults() -> None:
    s = load_settings(env={})
    assert s.listen == "127.0.0.1:50051" and s.is_loopback
    assert s.store_spec == "sqlite:.rebac-data/rebac.db"
    assert s.workers == min(usable_cores(), 64) and s.default_store == "default"


def test_by_default_every_core_serves_where_several_processes_can() -> None:
    cores = min(usable_cores(), 64)
    assert Settings().workers == cores
    assert load_settings({"listen": "127.0.0.1:7000"}, env={}).workers == cores
    assert load_settings({"workers": "1"}, env={}).workers == 1  # asked for: kept
    assert load_settings(env={"REBAC_WORKERS": "3"}).workers == 3
    # where processes cannot share the configuration, one
    assert Settings(listen="127.0.0.1:0").workers == 1
    assert Settings(store="memory:").workers == 1
    assert Settings(admin_listen="127.0.0.1:7001").workers == 1
    assert Settings(tls_cert=Path("c.pem"), tls_key=Path("k.pem")).workers == 1


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("s.toml", 'max_page_size = 5\nlisten = "127.0.0.1:7000"\n'),
        ("s.json", '{"max-page-size": 5, "listen": "127.0.0.1:7000"}'),
        ("s.yaml", "max_page_size: 5\nlisten: 127.0.0.1:7000\n"),
    ],
)
def test_file_then_environment_then_flags(tmp_path: Path, name: str, text: str) -> None:
    path = tmp_path / name
    path.write_text(text)
    from_file = load_settings(config_file=path, env={})
    assert from_file.max_page_size == 5 and from_file.port == 7000
    env = {"REBAC_MAX_PAGE_SIZE": "7", "REBAC_CONFIG": str(path)}
    assert load_settings(env=env).max_page_size == 7
    assert load_settings({"max_page_size": "9"}, env=env).max_page_size == 9
    assert load_settings({"max_page_size": None}, env=env).max_page_size == 7


def test_every_problem_is_reported_with_its_source(tmp_path: Path) -> None:
    path = tmp_path / "s.toml"
    path.write_text("lisen = 'x'\nthreads = 0\n")
    with pytest.raises(SettingsError) as info:
        load_settings({"listen": "nope"}, env={"REBAC_MAX_PAGE_SIZE": "lots"}, config_file=path)
    message = str(info.value)
    assert "unknown setting 'lisen' (from file" in message
    assert "threads = 0 (from file" in message
    assert "listen = 'nope' (from flag --listen): expected host:port" in message
    assert "max_page_size = 'lots' (from environment variable REBAC_MAX_PAGE_SIZE)" in message


def test_unreadable_and_malformed_files(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="cannot read settings file"):
        load_settings(config_file=tmp_path / "missing.toml", env={})
    bad = tmp_path / "bad.toml"
    bad.write_text("listen = ")
    with pytest.raises(SettingsError, match="does not parse"):
        load_settings(config_file=bad, env={})
    other = tmp_path / "s.ini"
    other.write_text("")
    with pytest.raises(SettingsError, match="unknown extension"):
        load_settings(config_file=other, env={})


def test_workers_need_a_fixed_port_and_loopback_is_recognised() -> None:
    with pytest.raises(SettingsError, match="fixed port"):
        load_settings({"workers": "2", "listen": "127.0.0.1:0"}, env={})
    with pytest.raises(SettingsError, match="shared datastore"):
        load_settings({"workers": "2", "store": "memory:"}, env={})
    assert Settings(listen="[::1]:50051").is_loopback
    assert Settings(listen="localhost:1").is_loopback
    assert not Settings(listen="0.0.0.0:50051").is_loopback
