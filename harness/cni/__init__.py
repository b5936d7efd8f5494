"""The ekswin CNI plugin (console script ``ekswin-cni``): the AWS Windows VPC CNI's
behaviour (vpc-bridge) against fake_hns and the real API server.

Kept free of heavy imports: the kubelet emulation execs the plugin once per pod
sandbox, so every import here is paid per pod (FACTS.md, "Cost of exec").
"""
