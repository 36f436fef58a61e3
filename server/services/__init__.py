"""Thin servicers, one module per gRPC service: convert -> engine -> convert.

Each servicer gets its dependencies (:class:`~server.services.base.Deps`) in its constructor;
none reaches for globals or request-context side channels.
"""
