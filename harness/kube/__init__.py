"""The harness's raw-JSON Kubernetes layer (the node agent, kube-proxy, the CNI plugin).

No kubernetes-client models: the agent drives hundreds of nodes and decoding every
watch event into model objects costs more than the work itself, and the exec'd CNI
plugin cannot pay the client's import (FACTS.md "Cost of exec").

- ``config``: a kubeconfig's current context as server URL, TLS context and headers.
- ``api``: what every transport shares: ``ApiError``, Status decoding, paths, watch
  queries.
- ``client``: ``KubeClient``, GETs and watches over the standard library (optionally
  on kept-alive connections): the subset the CNI plugin uses.
- ``rest``: ``RestClient``, every verb on a urllib3 connection pool (agent, kube-proxy).
- ``informer``: ``Informer``, a list+watch cache feeding an asyncio loop.

``config``, ``api`` and ``client`` import only the standard library (yaml only for a
YAML kubeconfig); this package's ``__init__`` imports nothing.
"""
