"""winkernel kube-proxy emulation: Services/Endpoints -> HNS load balancers per node.

``desired`` holds the pure rules (what load balancers a Service needs), ``flags`` the
command-line/feature-gate validation, ``proxier`` the sync loop against fake_hns.
"""
