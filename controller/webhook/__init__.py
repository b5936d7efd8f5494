"""The VPC Resource Controller's pod admission webhooks.

- `admission`: the decisions (mutate_pod, validate_pod) over plain dicts;
- `review`: AdmissionReview v1 parsing and responses;
- `server`: WebhookServer, the HTTPS endpoint the API server calls;
- `certs`: self-signed serving certificates when none are given.
"""
