"""fake_ec2's instance metadata routes, asked as the AWS SDKs ask them (IMDSv2)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from datetime import datetime
from typing import Any

import pytest

from fake_ec2.imds import MAX_TTL_S, TOKEN_HEADER, TTL_HEADER, Identity, Imds

SDK_TTL = str(MAX_TTL_S)  # the TTL the SDKs ask for


def _request(
    url: str, method: str = "GET", headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], str]:
    req = urllib.request.Request(url, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return (
                resp.status,
                {k.lower(): v for k, v in resp.headers.items()},
                resp.read().decode(),
            )
    except urllib.error.HTTPError as e:
        return e.code, {k.lower(): v for k, v in e.headers.items()}, e.read().decode()


def _token(base: str, ttl: str = SDK_TTL) -> str:
    status, headers, body = _request(f"{base}/latest/api/token", "PUT", {TTL_HEADER: ttl})
    assert status == 200, (status, body)
    # The Go SDK parses this header as an integer and refuses the token without it.
    assert headers[TTL_HEADER.lower()] == ttl
    assert body and "\n" not in body
    return body


def test_token_then_identity_document_as_the_go_sdk_reads_it(fake_ec2_url: str, ec2: Any) -> None:
    token = _token(fake_ec2_url)
    status, _, body = _request(
        f"{fake_ec2_url}/latest/dynamic/instance-identity/document", headers={TOKEN_HEADER: token}
    )
    assert status == 200
    doc = json.loads(body)
    # GetRegion takes `region` from this document; the wrapper takes `accountId`.
    assert doc["region"] == "us-west-2"
    assert doc["instanceId"].startswith("i-") and len(doc["instanceId"]) == 19
    # pendingTime is decoded into a time.Time: it must be RFC 3339.
    assert datetime.fromisoformat(doc["pendingTime"].replace("Z", "+00:00")).tzinfo is not None
    # The account is the one fake_ec2 keeps its EC2 state in.
    vpc = ec2.create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]
    assert doc["accountId"] == vpc["OwnerId"]


def test_meta_data_region_and_listing(fake_ec2_url: str) -> None:
    token = _token(fake_ec2_url)
    hdr = {TOKEN_HEADER: token}
    assert _request(f"{fake_ec2_url}/latest/meta-data/placement/region", headers=hdr)[2] == (
        "us-west-2"
    )
    status, _, listing = _request(f"{fake_ec2_url}/latest/meta-data/", headers=hdr)
    assert status == 200 and {"placement/", "instance-id"} <= set(listing.splitlines())
    assert _request(f"{fake_ec2_url}/latest/meta-data/no-such-key", headers=hdr)[0] == 404


@pytest.mark.parametrize(
    "headers",
    [{}, {TOKEN_HEADER: "not-a-token"}],
    ids=["no token", "unknown token"],
)
def test_gets_need_a_live_token(fake_ec2_url: str, headers: dict[str, str]) -> None:
    url = f"{fake_ec2_url}/latest/dynamic/instance-identity/document"
    assert _request(url, headers=headers)[0] == 401


@pytest.mark.parametrize("ttl", ["", "0", "21601", "abc"])
def test_token_ttl_out_of_range_is_400(fake_ec2_url: str, ttl: str) -> None:
    headers = {TTL_HEADER: ttl} if ttl else {}
    assert _request(f"{fake_ec2_url}/latest/api/token", "PUT", headers)[0] == 400


def test_token_through_a_proxy_is_refused_and_get_is_not_a_token_call(fake_ec2_url: str) -> None:
    hdr = {TTL_HEADER: SDK_TTL, "X-Forwarded-For": "10.0.0.1"}
    assert _request(f"{fake_ec2_url}/latest/api/token", "PUT", hdr)[0] == 403
    assert _request(f"{fake_ec2_url}/latest/api/token")[0] == 405


def test_botocore_fetches_the_region_from_it(fake_ec2_url: str) -> None:
    from botocore.utils import InstanceMetadataRegionFetcher

    fetcher = InstanceMetadataRegionFetcher(timeout=5, num_attempts=1, base_url=fake_ec2_url)
    assert fetcher.retrieve_region() == "us-west-2"


def test_token_expires_after_its_ttl() -> None:
    now = [100.0]
    imds = Imds(Identity.for_seed("eu-west-1", 3), clock=lambda: now[0])
    status, token, headers = imds.answer(
        {"REQUEST_METHOD": "PUT", "PATH_INFO": "/latest/api/token", "HTTP_" + _env(TTL_HEADER): "5"}
    )
    assert status.startswith("200") and headers == [(TTL_HEADER, "5")]
    get = {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": "/latest/meta-data/placement/region",
        "HTTP_" + _env(TOKEN_HEADER): token,
    }
    assert imds.answer(get)[:2] == ("200 OK", "eu-west-1")
    now[0] += 5.0
    assert imds.answer(get)[0].startswith("401")


def test_identity_is_deterministic_per_seed() -> None:
    assert Identity.for_seed("us-west-2", 1) == Identity.for_seed("us-west-2", 1)
    assert (
        Identity.for_seed("us-west-2", 1).instance_id
        != Identity.for_seed("us-west-2", 2).instance_id
    )


def _env(header: str) -> str:
    return header.upper().replace("-", "_")
