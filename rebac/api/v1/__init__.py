"""Generated stubs of ``proto/rebac/api/v1/*.proto`` (package ``rebac.api.v1``).

Do not edit the ``*_pb2*`` modules: run ``python proto/generate.py`` after changing a .proto
file; ``tests/server/test_stubs_fresh.py`` fails while the committed stubs are stale.
"""
