"""The ekswin CNI plugin (console script ``ekswin-cni``): the AWS Windows VPC CNI's
behaviour (vpc-bridge) against fake_hns and the real API server.

``plugin`` is the exec'd entry point and ``shim`` its fast path to the node agent's
socket (standard library only: they run per pod sandbox, FACTS.md "Cost of exec");
``vpcbridge`` is the plugin itself, ``clients`` its fresh or pooled connections.
"""
