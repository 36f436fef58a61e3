"""The rebac gRPC server: settings, app (interceptors, health, reflection, shutdown), the one
error table, protobuf conversion and thin servicers over :mod:`rebac`'s engine.

Imports flow one way: ``server`` uses ``rebac``'s public names; nothing in the engine imports
``server`` or ``grpc``.
"""
