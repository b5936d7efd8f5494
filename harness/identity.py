"""Give each component its own Kubernetes identity (never the admin kubeconfig).

Service accounts get a token from the TokenRequest API; node agents get client
certificates signed by the cluster CA (see LocalCluster.issue_client_kubeconfig).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from harness import kubeconfig as kc

TOKEN_TTL_S = 24 * 3600


def ensure_service_account(api: Any, namespace: str, name: str) -> None:
    """Create namespace/name ServiceAccount unless it exists (namespace must exist)."""
    from kubernetes import client
    from kubernetes.client.rest import ApiException

    core = client.CoreV1Api(api)
    try:
        core.create_namespaced_service_account(
            namespace, client.V1ServiceAccount(metadata=client.V1ObjectMeta(name=name))
        )
    except ApiException as e:
        if e.status != 409:
            raise


def service_account_token(api: Any, namespace: str, name: str, ttl_s: int = TOKEN_TTL_S) -> str:
    """A bound token for the ServiceAccount from the TokenRequest API."""
    from kubernetes import client

    core = client.CoreV1Api(api)
    body = client.AuthenticationV1TokenRequest(
        spec=client.V1TokenRequestSpec(audiences=[], expiration_seconds=ttl_s)
    )
    resp = core.create_namespaced_service_account_token(name, namespace, body)
    return str(resp.status.token)


def service_account_kubeconfig(
    api: Any,
    server: str,
    ca_pem: bytes,
    namespace: str,
    name: str,
    path: Path,
    cluster_name: str = "ekswin",
) -> Path:
    """Ensure the ServiceAccount exists and write a kubeconfig with a token for it."""
    ensure_service_account(api, namespace, name)
    token = service_account_token(api, namespace, name)
    return kc.write(path, kc.build(cluster_name, server, ca_pem, token=token))


def api_client(kubeconfig: Path) -> Any:
    """A kubernetes.client.ApiClient for a kubeconfig file."""
    from kubernetes import client, config

    cfg = client.Configuration()
    config.load_kube_config(config_file=str(kubeconfig), client_configuration=cfg)
    return client.ApiClient(cfg)
