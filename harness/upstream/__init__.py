"""Running the upstream VPC Resource Controller binary in place of `python -m controller`
(launch plan, manifests, the host lock; docs/upstream-controller.md)."""
