"""End-to-end suite run by `make e2e`."""
