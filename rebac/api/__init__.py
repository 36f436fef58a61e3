"""The rebac gRPC API: generated protobuf and gRPC stubs, one subpackage per API version.

Only ``rebac.client`` and the ``server`` package import these; the engine never does.
"""
