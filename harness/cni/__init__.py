"""The ekswin CNI plugin (console script ``ekswin-cni``): the AWS Windows VPC CNI's
behaviour (vpc-bridge) against fake_hns and the real API server.

``plugin`` is the exec'd entry point and ``shim`` its fast path to the node agent's
socket (standard library only, JSON through ``wirejson``: they run per pod sandbox,
FACTS.md "Cost of exec"); ``install`` writes the ``python -S`` launcher the agent puts
in its CNI bin dir; ``vpcbridge`` is the plugin itself, ``clients`` its fresh or
pooled connections.
"""
