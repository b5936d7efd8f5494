"""controller: VPC Resource Controller (Windows IPAM) re-implementation and admission webhook."""
