"""Who may call the server, and what they may do: authentication, API authorization, audit.

The decisions live in modules without gRPC, so they can be read and tested on their own; only
:mod:`~server.auth.interceptor` (the plug) and :mod:`~server.auth.runtime` (assembly from
settings, TLS credentials) touch gRPC. As in Starlette, the auth check is separate from the
middleware that plugs it in.

Modules, in the order a call meets them:

* :mod:`~server.auth.settings` -- the ``auth_*``, ``tls_*``, ``admin_listen`` and ``audit_*``
  settings, refused at start-up when incomplete;
* :mod:`~server.auth.keys`, :mod:`~server.auth.jwks` -- verification keys bound to one
  algorithm each; the JWKS cache with its fetch thread (rotation, flood limits, fail closed);
* :mod:`~server.auth.authenticate` -- the ``authorization`` header, then
  :mod:`~server.auth.verify` (JWTs), :mod:`~server.auth.apikeys` (static keys) or
  :mod:`~server.auth.mtls` (client certificates), each yielding a
  :class:`~server.auth.principal.Principal`;
* :mod:`~server.auth.scopes` -- the RPC -> scope table and which listener serves what;
* :mod:`~server.auth.stepup` -- recent multi-factor authentication for high-risk actions;
* :mod:`~server.auth.audit` -- one JSON line per call;
* :mod:`~server.auth.interceptor` -- all of the above before any handler, on every RPC kind,
  one :mod:`~server.auth.gate` per call, ending refused calls with :mod:`~server.auth.statuses`;
* :mod:`~server.auth.runtime` -- builds it all, and the listeners, from settings;
* :mod:`~server.auth.devmode` -- the local development key, JWKS and token.

Failures tell the caller as little as possible (one constant UNAUTHENTICATED message; a store
of another tenant answers like a store that does not exist) and the operator everything (the
precise reason in the server log and the audit log, attacker-supplied text escaped).
"""
