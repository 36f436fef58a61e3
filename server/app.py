"""Build and run the gRPC server: servicers, interceptors in a fixed order, health, reflection,
and graceful shutdown.

Interceptor order (outermost first), fixed here and nowhere else:

1. :class:`~server.interceptors.RequestInterceptor` -- request id, error table, internal errors
   logged and hidden;
2. ``interceptors`` passed to :func:`build_server`, in the order given -- **the extension point
   for authentication, authorization and audit**: they run before any servicer, on every RPC
   kind, and may end a call with their own status (the error layer leaves such a status alone);
3. the servicer.

The leading ``interceptors`` that are also :class:`~server.interceptors.HandlerLayer` (the auth
layer is) are folded into the request interceptor, which wraps each method once instead of on
every call; the order above is unchanged. When all of them fold, the handlers are wrapped at
registration (:class:`~server.interceptors.Registrar`) and gRPC runs no interceptor per call;
otherwise it runs the request interceptor and the plain ones that follow.

Listeners: one :class:`RebacServer` is one listener. ``services`` picks which rebac services it
serves (the data-plane and admin listeners of :mod:`server.auth` differ), ``credentials`` makes
it TLS, ``extra_options`` adds gRPC server options, and ``companions`` are further listeners
over the same datastore that start and stop with it (the admin listener); only the server that
``owns_datastore`` closes the datastore.

Shutdown (:meth:`RebacServer.stop`), in this order: health reports NOT_SERVING (load balancers
stop routing here), endless streams (Watch) end with UNAVAILABLE so clients reconnect
elsewhere, new calls are refused with UNAVAILABLE while in-flight calls get ``grace_period``
seconds to finish, then the datastore is closed. A write is acknowledged only after its
transaction committed, so no acknowledged write is lost.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable, Collection, Sequence
from concurrent import futures
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from rebac.api.v1 import (
    permission_service_pb2,
    permission_service_pb2_grpc,
    relationship_service_pb2,
    relationship_service_pb2_grpc,
    schema_service_pb2,
    schema_service_pb2_grpc,
    store_service_pb2,
    store_service_pb2_grpc,
    watch_service_pb2,
    watch_service_pb2_grpc,
)
from rebac.datastore import Datastore
from rebac.errors import StoreAlreadyExists
from rebac.store import StoreConfig, open_store
from rebac.tuning import settle
from server.calls import CallControl
from server.interceptors import HandlerLayer, Registrar, RequestInterceptor
from server.services.base import Deps
from server.services.permissions import PermissionServicer
from server.services.relationships import RelationshipServicer
from server.services.schema import SchemaServicer
from server.services.stores import StoreServicer
from server.services.watch import WatchServicer
from server.settings import Settings, SettingsError

log = logging.getLogger("rebac.server")

if TYPE_CHECKING:  # generic in grpc-stubs only
    Interceptor = grpc.ServerInterceptor[Any, Any]
else:
    Interceptor = grpc.ServerInterceptor

#: Fully qualified names of the rebac services, as health checking and reflection know them.
SERVICE_NAMES = (
    permission_service_pb2.DESCRIPTOR.services_by_name["PermissionService"].full_name,
    relationship_service_pb2.DESCRIPTOR.services_by_name["RelationshipService"].full_name,
    schema_service_pb2.DESCRIPTOR.services_by_name["SchemaService"].full_name,
    watch_service_pb2.DESCRIPTOR.services_by_name["WatchService"].full_name,
    store_service_pb2.DESCRIPTOR.services_by_name["StoreService"].full_name,
)


def configure_logging(settings: Settings) -> None:
    """Log lines with time, level and process (several workers write to one terminal)."""
    logging.basicConfig(
        level=settings.log_level,
        format="%(asctime)s %(levelname)s %(name)s[%(process)d]: %(message)s",
    )


def open_datastore(settings: Settings) -> Datastore:
    """The datastore the settings name, with the write limits enforced by the store itself."""
    spec = settings.store_spec
    if spec.startswith("sqlite:"):
        Path(spec.removeprefix("sqlite:")).parent.mkdir(parents=True, exist_ok=True)
    config = StoreConfig(
        max_updates=settings.max_updates_per_write,
        max_preconditions=settings.max_preconditions_per_write,
    )
    return Datastore(
        open_store(spec, config), max_depth=settings.max_depth, quantum=settings.quantum
    )


def ensure_default_store(datastore: Datastore, store_id: str) -> bool:
    """Create ``store_id`` when the datastore has no store at all; True if it was created."""
    if datastore.list_stores():
        return False
    try:
        datastore.create_store(store_id)
    except StoreAlreadyExists:  # another worker was first
        return False
    return True


def split_layers(
    interceptors: Sequence[Interceptor],
) -> tuple[list[HandlerLayer], list[Interceptor]]:
    """The leading interceptors that can wrap a method once (``wrap``), and the rest, which
    stay gRPC interceptors after them: only a prefix is folded, so the order never changes."""
    layers: list[HandlerLayer] = []
    for n, interceptor in enumerate(interceptors):
        if not isinstance(interceptor, HandlerLayer):
            return layers, list(interceptors[n:])
        layers.append(interceptor)
    return layers, []


#: Seconds between garbage-collection rounds of the store (see Datastore.gc).
GC_INTERVAL = 600.0


class RebacServer:
    """One server process: a grpc.Server with the rebac services, health and reflection."""

    def __init__(
        self,
        settings: Settings,
        datastore: Datastore,
        interceptors: Sequence[Interceptor] = (),
        *,
        services: Collection[str] = SERVICE_NAMES,
        credentials: grpc.ServerCredentials | None = None,
        extra_options: Sequence[tuple[str, Any]] = (),
        companions: Sequence[RebacServer] = (),
        owns_datastore: bool = True,
    ):
        self.settings = settings
        self.services = tuple(name for name in SERVICE_NAMES if name in services)
        self.companions = tuple(companions)
        self.owns_datastore = owns_datastore
        self.datastore = datastore
        self.control = CallControl(settings.default_deadline)
        self.health = health.HealthServicer()
        self._stopped = threading.Event()
        self._stop_lock = threading.Lock()
        self._gc_stop: threading.Event | None = None
        size = settings.max_message_bytes
        options: list[tuple[str, Any]] = [
            ("grpc.max_send_message_length", size),
            ("grpc.max_receive_message_length", size),
            # Several workers share the port only when asked to; otherwise a second server on
            # the same port must fail to bind instead of silently splitting the traffic.
            ("grpc.so_reuseport", 1 if settings.workers > 1 else 0),
            *extra_options,
        ]
        layers, rest = split_layers(interceptors)
        request = RequestInterceptor(layers)
        pool = futures.ThreadPoolExecutor(max_workers=settings.threads, thread_name_prefix="rebac")
        add: grpc.Server
        if rest:
            self.server = grpc.server(pool, interceptors=[request, *rest], options=options)
            add = self.server
        else:  # every layer folds: handlers wrapped at registration, no per-call pipeline
            self.server = grpc.server(pool, options=options)
            add = Registrar(self.server, request)
        deps = Deps(datastore, settings, self.control)
        perm, rels, schema, watch, stores = SERVICE_NAMES
        if perm in self.services:
            permission_service_pb2_grpc.add_PermissionServiceServicer_to_server(
                PermissionServicer(deps), add
            )
        if rels in self.services:
            relationship_service_pb2_grpc.add_RelationshipServiceServicer_to_server(
                RelationshipServicer(deps), add
            )
        if schema in self.services:
            schema_service_pb2_grpc.add_SchemaServiceServicer_to_server(SchemaServicer(deps), add)
        if watch in self.services:
            watch_service_pb2_grpc.add_WatchServiceServicer_to_server(WatchServicer(deps), add)
        if stores in self.services:
            store_service_pb2_grpc.add_StoreServiceServicer_to_server(StoreServicer(deps), add)
        health_pb2_grpc.add_HealthServicer_to_server(self.health, add)
        health_name = health_pb2.DESCRIPTOR.services_by_name["Health"].full_name
        reflection.enable_server_reflection(
            (*self.services, health_name, reflection.SERVICE_NAME), add
        )
        try:
            if credentials is not None:
                self.port = self.server.add_secure_port(settings.listen, credentials)
            else:
                self.port = self.server.add_insecure_port(settings.listen)
        except RuntimeError as exc:
            raise SettingsError(
                f"cannot listen on {settings.listen}: {exc} (is another server using the port?)"
            ) from exc

    @property
    def address(self) -> str:
        """The address clients dial (with the real port when the settings asked for port 0)."""
        host = self.settings.host
        host = f"[{host}]" if ":" in host else host
        return f"{host}:{self.port}"

    def start(self) -> None:
        if self.owns_datastore:
            # Old revisions past the GC window and long-expired relationships are dropped in
            # the background; the store keeps serving meanwhile.
            self._gc_stop = self.datastore.start_gc(GC_INTERVAL)
        self.server.start()
        for name in ("", *self.services):
            self.health.set(name, health_pb2.HealthCheckResponse.SERVING)
        for companion in self.companions:
            companion.start()

    def stop(self, grace: float | None = None) -> None:
        """Graceful shutdown (see the module docstring); safe to call more than once."""
        with self._stop_lock:
            if self._stopped.is_set():
                return
            grace = self.settings.grace_period if grace is None else grace
            for companion in self.companions:
                companion.stop(grace)
            log.info("shutting down: draining in-flight calls for up to %.1f s", grace)
            self.health.enter_graceful_shutdown()
            self.control.stopping.set()
            self.server.stop(grace).wait()
            if self._gc_stop is not None:
                self._gc_stop.set()
            if self.owns_datastore:
                self.datastore.close()
            self._stopped.set()
            log.info("stopped")

    def wait(self, timeout: float | None = None) -> bool:
        """Block until :meth:`stop` finished; True if it did within ``timeout``."""
        return self._stopped.wait(timeout)


def build_server(
    settings: Settings,
    datastore: Datastore,
    interceptors: Sequence[Interceptor] = (),
    **listener: Any,
) -> RebacServer:
    """A server, not yet started. ``interceptors`` run after the request/error layer and before
    any servicer, in the order given: this is where authentication plugs in. ``listener``:
    the keyword arguments of :class:`RebacServer` (services, credentials, companions, ...)."""
    return RebacServer(settings, datastore, interceptors, **listener)


def check_exposure(settings: Settings, *, authenticated: bool) -> None:
    """Refuse to listen beyond this machine while calls are not authenticated."""
    if not authenticated and not settings.is_loopback:
        raise SettingsError(
            f"refusing to listen on {settings.listen} without authentication: anyone who can "
            "reach it could read and change every store. Listen on a loopback address "
            "(127.0.0.1, ::1, localhost) until authentication is configured."
        )


def serve(
    settings: Settings,
    *,
    interceptors: Sequence[Interceptor] = (),
    authenticated: bool = False,
    on_ready: Callable[[RebacServer], None] | None = None,
    signals: Sequence[signal.Signals] = (signal.SIGTERM, signal.SIGINT),
    build: Callable[[Settings, Datastore], RebacServer] | None = None,
) -> None:
    """Run one server process until SIGTERM or SIGINT, then shut down gracefully.

    ``authenticated`` says that ``interceptors`` authenticate every call; without it only a
    loopback address is accepted. A second signal during the grace period stops at once.
    ``build`` replaces :func:`build_server` (``interceptors`` then unused): the auth layer
    builds its listeners this way (:meth:`server.auth.runtime.AuthRuntime.build_server`).
    """
    check_exposure(settings, authenticated=authenticated)
    datastore = open_datastore(settings)
    try:
        ensure_default_store(datastore, settings.default_store)
        # Load the default store's index now, then keep the garbage collector off it.
        if settings.default_store in datastore.list_stores():
            datastore.engine(settings.default_store).catch_up()
        settle()
        if build is not None:
            server = build(settings, datastore)
        else:
            server = build_server(settings, datastore, interceptors)
    except BaseException:
        datastore.close()
        raise
    requested = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        if requested.is_set():
            log.warning("second signal: stopping now")
            for companion in server.companions:
                companion.server.stop(None)
            server.server.stop(None)
        requested.set()

    previous = {s: signal.signal(s, on_signal) for s in signals}
    try:
        server.start()
        if on_ready is not None:
            on_ready(server)
        while not requested.wait(0.5):
            pass
        server.stop()
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
