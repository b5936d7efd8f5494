"""fake_hns: gRPC Host Network Service emulation, one isolated HNS per Windows node."""
