"""Generated gRPC code for ``hns.proto`` (package ``ekswin.hns.v1``).

Regenerate with ``python -m fake_hns.proto.generate``; never edit ``*_pb2*`` by hand.
"""
