"""Where verification keys come from, and the cache that keeps them fresh off the request path.

Sources: a JWKS over HTTPS (plain HTTP only on a loopback address, where nobody can tamper
with it in transit), a JWKS file, or PEM keys from the settings. :class:`KeyCache` holds the
current keys and one background thread that fetches them; request threads never fetch.

Why these rules:

* **Rotation without restart**: the set is refetched every half cache lifetime, and a token
  with a ``kid`` the cache does not know asks the background thread for a refetch.
* **No fetch floods**: a ``kid`` lookup may cause a refetch only when none was attempted for
  ``refetch_interval`` seconds. A flood of tokens with random kids is one fetch, then instant
  refusals until the interval has passed.
* **Bounded waits**: a request that did cause (or arrived during) a fetch waits for it at most
  the fetch timeout; the fetch itself runs on the cache's thread, never in the gRPC worker pool.
* **Revocation**: keys are only used for ``lifetime`` seconds after the fetch that returned
  them, so a key removed from the JWKS stops verifying within the lifetime.
* **Fail closed**: when no fetch has succeeded within the lifetime (endpoint down, broken
  document), there are no keys and every token is refused.
"""

from __future__ import annotations

import ipaddress
import logging
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Protocol

from server.auth.keys import KeyError_, VerificationKey, parse_jwks
from server.auth.quote import quote

log = logging.getLogger("rebac.auth")

MAX_JWKS_BYTES = 1024 * 1024


class FetchError(Exception):
    """The key set could not be fetched or parsed; ``str()`` is for the operator's log."""


class KeySource(Protocol):
    """Something that yields the current key set (may block up to its timeout)."""

    name: str

    def fetch(self) -> dict[str, VerificationKey]: ...


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A redirect could lead off HTTPS or to another host: the configured URL is the one."""

    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


class UrlSource:
    """A JWKS document over HTTP(S), read with a total deadline and a size cap."""

    def __init__(self, url: str, timeout: float):
        parsed = urllib.parse.urlsplit(url)
        if parsed.scheme not in ("https", "http") or not parsed.hostname:
            raise ValueError(f"JWKS URL must be https:// (got {url!r})")
        if parsed.scheme == "http" and not _is_loopback(parsed.hostname):
            raise ValueError(
                f"JWKS URL {url!r}: plain http is only allowed on a loopback address; "
                "anyone on the path could substitute their own keys"
            )
        self.url = url
        self.name = url
        self.timeout = timeout
        self._opener = urllib.request.build_opener(_NoRedirect)

    def fetch(self) -> dict[str, VerificationKey]:
        deadline = time.monotonic() + self.timeout
        request = urllib.request.Request(self.url, headers={"Accept": "application/json"})
        try:
            with self._opener.open(request, timeout=self.timeout) as response:
                if response.status != 200:
                    raise FetchError(f"{self.url}: HTTP {response.status}")
                body = b""
                while len(body) <= MAX_JWKS_BYTES:
                    if time.monotonic() > deadline:
                        raise FetchError(f"{self.url}: timed out after {self.timeout} s")
                    chunk = response.read(65536)
                    if not chunk:
                        break
                    body += chunk
        except urllib.error.HTTPError as exc:
            raise FetchError(f"{self.url}: HTTP {exc.code}") from None
        except (urllib.error.URLError, OSError, ValueError) as exc:
            raise FetchError(f"{self.url}: {quote(str(exc))}") from None
        if len(body) > MAX_JWKS_BYTES:
            raise FetchError(f"{self.url}: larger than {MAX_JWKS_BYTES} bytes")
        try:
            return parse_jwks(body, self.url)
        except KeyError_ as exc:
            raise FetchError(str(exc)) from None


class FileSource:
    """A JWKS file (re-read on every fetch: rotating it is replacing the file)."""

    def __init__(self, path: Path):
        self.path = path
        self.name = str(path)

    def fetch(self) -> dict[str, VerificationKey]:
        try:
            with self.path.open("rb") as f:
                body = f.read(MAX_JWKS_BYTES + 1)
        except OSError as exc:
            raise FetchError(f"{self.path}: {exc.strerror or exc}") from None
        if len(body) > MAX_JWKS_BYTES:
            raise FetchError(f"{self.path}: larger than {MAX_JWKS_BYTES} bytes")
        try:
            return parse_jwks(body, str(self.path))
        except KeyError_ as exc:
            raise FetchError(str(exc)) from None


def source_for(location: str, timeout: float) -> KeySource:
    """``https://...`` (or loopback ``http://``) -> UrlSource; ``file:PATH`` or a path -> file."""
    if location.startswith(("https://", "http://")):
        return UrlSource(location, timeout)
    if location.startswith("file://"):
        return FileSource(Path(urllib.parse.urlsplit(location).path))
    return FileSource(Path(location.removeprefix("file:")))


class Lookup(Protocol):
    def __call__(self, kid: str) -> VerificationKey | None: ...


class KeyCache:
    """The current keys of one source plus configured static keys; see the module docstring.

    ``clock`` is monotonic time (injectable for tests). :meth:`unavailable` tells a refusal
    caused by having no keys at all (endpoint down) from an unknown ``kid``, for the log.
    """

    def __init__(
        self,
        source: KeySource | None,
        *,
        static: Mapping[str, VerificationKey] | None = None,
        lifetime: float = 300.0,
        refetch_interval: float = 30.0,
        wait: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.source = source
        self.static = dict(static or {})
        self.lifetime = lifetime
        self.refetch_interval = refetch_interval
        self.wait = wait
        self.clock = clock
        self.fetches = 0
        self._keys: dict[str, VerificationKey] = {}
        self._fetched_at: float | None = None
        self._attempted_at: float | None = None
        self._generation = 0
        self._requested = False
        self._fetching = False
        self._stopped = False
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------------------------

    def start(self, *, wait: bool = True) -> None:
        """Start the fetch thread; with ``wait``, block (up to the wait bound) for a first fetch."""
        if self.source is None or self._thread is not None:
            return
        with self._cond:
            self._requested = True
            generation = self._generation
        self._thread = threading.Thread(target=self._run, name="rebac-jwks", daemon=True)
        self._thread.start()
        if wait:
            with self._cond:
                self._cond.wait_for(
                    lambda: self._generation != generation or self._stopped, self.wait + 0.5
                )

    @property
    def running(self) -> bool:
        return self._thread is not None

    def stop(self) -> None:
        with self._cond:
            self._stopped = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=self.wait + 1)

    # -- lookups ---------------------------------------------------------------------------------

    def _current(self) -> dict[str, VerificationKey]:
        fetched = self._fetched_at
        if fetched is None or self.clock() - fetched >= self.lifetime:
            return {}
        return self._keys

    def unavailable(self) -> bool:
        """True when a source is configured but no fetched key set is current."""
        with self._cond:
            return self.source is not None and not self._current()

    def current(self, kid: str) -> VerificationKey | None:
        """The key for ``kid`` in the current set, or None: no refetch and no lock (two
        attribute reads), for checking that a remembered token's key is still the one."""
        key = self.static.get(kid)
        if key is not None:
            return key
        return self._current().get(kid)

    def get(self, kid: str) -> VerificationKey | None:
        """The key for ``kid``, refetching at most once per interval; None if there is none."""
        key = self.static.get(kid)
        if key is not None:
            return key
        if self.source is None:
            return None
        with self._cond:
            key = self._current().get(kid)
            if key is not None or self._thread is None:
                return key  # not started: nobody would answer a refetch request
            if not self._fetching and not self._requested:
                last = self._attempted_at
                if last is not None and self.clock() - last < self.refetch_interval:
                    return None  # rate-limited: refuse at once
                self._requested = True
                self._cond.notify_all()
            generation = self._generation
            self._cond.wait_for(lambda: self._generation != generation, self.wait + 0.25)
            return self._current().get(kid)

    # -- the fetch thread ------------------------------------------------------------------------

    def _next_due(self) -> float:
        """When the next scheduled fetch is due (clock time)."""
        if self._attempted_at is None:
            return self.clock()
        if self._fetched_at is not None and self._fetched_at >= self._attempted_at:
            return self._fetched_at + self.lifetime / 2
        # The last attempt failed: retry soon, yet not more often than the refetch interval.
        return self._attempted_at + min(self.refetch_interval, self.lifetime / 2)

    def _run(self) -> None:
        assert self.source is not None
        while True:
            with self._cond:
                while not self._stopped and not self._requested:
                    delay = self._next_due() - self.clock()
                    if delay <= 0:
                        break
                    self._cond.wait(min(delay, 0.25))
                if self._stopped:
                    return
                self._requested = False
                self._fetching = True
                self._attempted_at = self.clock()
            keys: dict[str, VerificationKey] | None = None
            try:
                keys = self.source.fetch()
            except FetchError as exc:
                log.error("JWKS fetch from %s failed: %s", self.source.name, exc)
            except Exception:  # a bug must not kill the thread: fail closed and retry
                log.exception("JWKS fetch from %s failed unexpectedly", self.source.name)
            with self._cond:
                self.fetches += 1
                if keys is not None:
                    self._keys = keys
                    self._fetched_at = self.clock()
                    if not keys:
                        log.error("JWKS from %s has no usable key", self.source.name)
                self._fetching = False
                self._generation += 1
                self._cond.notify_all()
