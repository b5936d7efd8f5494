"""Malformed EC2 requests against the real standalone server, over raw HTTP.

Each is answered in EC2's XML error format with EC2's code (never HTML, never an
unintended 500), nothing is half-created, and the server keeps serving. The last test
fuzzes the endpoint with hypothesis.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import urllib.error
import urllib.parse
import urllib.request
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fake_ec2.admin import AdminClient
from fake_ec2.exceptions import Ec2Error
from fake_ec2.server import moto_failure
from harness.servers import ListeningServer, ServerGroup
from harness.testing import ec2_client
from harness.waiting import wait_until

from .conftest import FAKE_CREDS, REGION, start_fake_ec2  # type: ignore[import-not-found]

SIGNED = {
    "Authorization": (
        "AWS4-HMAC-SHA256 Credential=testing/20260101/us-west-2/ec2/aws4_request, "
        "SignedHeaders=host;x-amz-date, Signature=0123abcd"
    ),
    "X-Amz-Date": "20260101T000000Z",
}
VERSION = "2016-11-15"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ListeningServer]:
    """Its own fake_ec2 process, so its log holds only this module's requests."""
    with ServerGroup(tmp_path_factory.mktemp("fake_ec2_bad")) as servers:
        srv = start_fake_ec2(servers, "--seed", "11")
        wait_until(AdminClient(srv.url).healthy, 20, "fake_ec2 to answer its health check")
        yield srv
        log = Path(srv.log_path).read_text(errors="replace")
        assert "Traceback" not in log, log[-4000:]


@pytest.fixture
def ec2(server: ListeningServer) -> Any:
    AdminClient(server.url).reset(seed=11)
    return ec2_client(server.url, region=REGION, single_attempt=True)


def send(
    url: str,
    params: dict[str, str] | None = None,
    *,
    headers: dict[str, str] | None = SIGNED,
    method: str = "POST",
    query: str = "",
) -> tuple[int, str, bytes]:
    """One raw request: (status, Content-Type, body)."""
    body = urllib.parse.urlencode(params or {}).encode() if method == "POST" else None
    hdrs = {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8", **(headers or {})}
    req = urllib.request.Request(f"{url}/{query}", data=body, headers=hdrs, method=method)
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, resp.headers.get("Content-Type", ""), resp.read()
    except urllib.error.HTTPError as err:
        return err.code, err.headers.get("Content-Type", ""), err.read()


def ec2_error(status: int, ctype: str, body: bytes) -> tuple[int, str, str]:
    """Parse EC2's XML error format: (status, code, message); fails on anything else."""
    assert "xml" in ctype, (ctype, body[:200])
    root = ET.fromstring(body)
    for el in root.iter():  # moto's own errors carry EC2's XML namespace, ours none
        el.tag = el.tag.rsplit("}", 1)[-1]
    assert root.tag == "Response", body[:200]
    err = root.find("Errors/Error")
    assert err is not None and root.find("RequestID") is not None, body[:200]
    return status, err.findtext("Code") or "", err.findtext("Message") or ""


def call(url: str, action: str, **params: str) -> tuple[int, str, str]:
    return ec2_error(*send(url, {"Action": action, "Version": VERSION, **params}))


# ------------------------------------------------------------------ authentication
@pytest.mark.parametrize(
    ("headers", "code", "message"),
    [
        ({}, "MissingAuthenticationToken", "Request is missing Authentication Token"),
        ({"Authorization": "Bearer abc"}, "AuthFailure", "expected AWS4-HMAC-SHA256"),
        (
            {"Authorization": "AWS4-HMAC-SHA256 Credential=k/20260101/us-west-2/ec2/aws4_request"},
            "AuthFailure",
            "requires SignedHeaders, Signature",
        ),
        (
            {
                "Authorization": "AWS4-HMAC-SHA256 Credential=k/20260101/us-west-2/s3/aws4_request,"
                " SignedHeaders=host, Signature=ab"
            },
            "AuthFailure",
            "Credential should be scoped to correct service: 'ec2'.",
        ),
    ],
)
def test_unsigned_or_badly_signed_requests_are_refused(
    server: ListeningServer, headers: dict[str, str], code: str, message: str
) -> None:
    params = {"Action": "DescribeInstances", "Version": VERSION}
    status, got, msg = ec2_error(*send(server.url, params, headers=headers))
    assert (status, got) == (401, code) and message in msg


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_an_unsigned_request_without_action_is_not_an_s3_bucket_list(
    server: ListeningServer, method: str
) -> None:
    status, ctype, body = send(server.url, headers={}, method=method)
    assert ec2_error(status, ctype, body)[:2] == (401, "MissingAuthenticationToken")
    assert b"ListAllMyBucketsResult" not in body


def test_any_signature_value_is_accepted(server: ListeningServer) -> None:
    """Clients sign with dummy credentials: only the presence of a signature is checked."""
    status, _, body = send(server.url, {"Action": "DescribeInstances", "Version": VERSION})
    assert status == 200 and b"DescribeInstancesResponse" in body
    presigned = urllib.parse.urlencode(
        {
            "Action": "DescribeRegions",
            "Version": VERSION,
            "X-Amz-Algorithm": "AWS4-HMAC-SHA256",
            "X-Amz-Credential": "k/20260101/us-west-2/ec2/aws4_request",
            "X-Amz-Date": "20260101T000000Z",
            "X-Amz-SignedHeaders": "host",
            "X-Amz-Signature": "00",
        }
    )
    status, _, body = send(server.url, headers={}, method="GET", query="?" + presigned)
    assert status == 200 and b"DescribeRegionsResponse" in body


# ------------------------------------------------------------------ actions and parameters
@pytest.mark.parametrize(
    ("params", "code", "message"),
    [
        ({}, "MissingAction", "missing an action"),
        (
            {"Action": "Bogus"},
            "InvalidAction",
            "The action Bogus is not valid for this web service.",
        ),
        (
            {"Action": "DescribeInstances", "Filter.1.Name": "bogus", "Filter.1.Value.1": "x"},
            "InvalidParameterValue",
            "The filter 'bogus' is invalid",
        ),
        (
            {
                "Action": "DescribeNetworkInterfaces",
                "Filter.1.Name": "nope",
                "Filter.1.Value.1": "x",
            },
            "InvalidParameterValue",
            "The filter 'nope' is invalid",
        ),
        (
            {"Action": "DescribeVpcEndpointServices", "Filter.1.Name": "vpc-id"},
            "InvalidFilter",
            "The filter 'vpc-id' is invalid",
        ),
        (
            {
                "Action": "AssignPrivateIpAddresses",
                "NetworkInterfaceId": "eni-1",
                "SecondaryPrivateIpAddressCount": "abc",
            },
            "InvalidParameterValue",
            "Value (abc) for parameter secondaryPrivateIpAddressCount is invalid. "
            "Expected an integer.",
        ),
        (
            {
                "Action": "AssignPrivateIpAddresses",
                "NetworkInterfaceId": "eni-1",
                "SecondaryPrivateIpAddressCount": "1.5",
            },
            "InvalidParameterValue",
            "Value (1.5) for parameter secondaryPrivateIpAddressCount is invalid.",
        ),
        (
            {
                "Action": "AssignPrivateIpAddresses",
                "NetworkInterfaceId": "eni-1",
                "Ipv4PrefixCount": "99999999999",
            },
            "InvalidParameterValue",
            "Expected a value between -2147483648 and 2147483647.",
        ),
        (
            {"Action": "DescribeInstances", "MaxResults": "ten"},
            "InvalidParameterValue",
            "parameter maxResults",
        ),
        (
            {"Action": "DescribeNetworkInterfaces", "MaxResults": "1"},
            "InvalidParameterValue",
            "Value (1) for parameter maxResults is invalid. Expected a value between 5 and 1000.",
        ),
        (
            {"Action": "DescribeInstances", "MaxResults": "-1"},
            "InvalidParameterValue",
            "Expected a value between 5 and 1000.",
        ),
        (
            {"Action": "DescribeInstances", "NextToken": "never-issued"},
            "InvalidPaginationToken",
            "The pagination token 'never-issued' is not valid or is expired.",
        ),
        (
            {"Action": "DescribeInstances", "DryRun": "maybe"},
            "InvalidParameterValue",
            "Value (maybe) for parameter dryRun is invalid. Expected a boolean",
        ),
        (
            {"Action": "DescribeInstances", "InstanceCount": "1"},
            "UnknownParameter",
            "The parameter InstanceCount is not recognized",
        ),
        (
            {"Action": "DescribeInstances", "Filter.x.Name": "instance-id"},
            "UnknownParameter",
            "The parameter Filter.x.Name is not recognized",
        ),
        (
            {"Action": "AssignPrivateIpAddresses", "SecondaryPrivateIpAddressCount": "1"},
            "MissingParameter",
            "The request must contain the parameter NetworkInterfaceId",
        ),
    ],
)
def test_malformed_requests_get_ec2_errors(
    server: ListeningServer, params: dict[str, str], code: str, message: str
) -> None:
    status, got, msg = ec2_error(*send(server.url, {"Version": VERSION, **params}))
    assert (status, got) == (400, code)
    assert message in msg


def test_error_messages_quote_a_bounded_part_of_the_input(server: ListeningServer) -> None:
    huge = "9" * 6_000_000 + "x"
    status, ctype, body = send(
        server.url,
        {"Action": "AssignPrivateIpAddresses", "NetworkInterfaceId": "e", "Ipv4PrefixCount": huge},
    )
    assert ec2_error(status, ctype, body)[:2] == (400, "InvalidParameterValue")
    assert len(body) < 1000 and b"(6000001 characters)" in body
    status, _, msg = call(server.url, "Describe" + "X" * 10_000)
    assert (status, len(msg) < 200) == (400, True)


def test_refused_requests_change_nothing(server: ListeningServer, ec2: Any) -> None:
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.0.0/24")["Subnet"]["SubnetId"]
    eni = ec2.create_network_interface(SubnetId=subnet)["NetworkInterface"]["NetworkInterfaceId"]
    for count in ("abc", "1.5", "", "99999999999"):
        status, code, _ = call(
            server.url,
            "AssignPrivateIpAddresses",
            NetworkInterfaceId=eni,
            SecondaryPrivateIpAddressCount=count,
        )
        assert (status, code) == (400, "InvalidParameterValue")
    status, code, _ = call(server.url, "CreateNetworkInterface", SubnetId=subnet, Bogus="1")
    assert (status, code) == (400, "UnknownParameter")
    got = ec2.describe_network_interfaces(NetworkInterfaceIds=[eni])["NetworkInterfaces"][0]
    assert len(got["PrivateIpAddresses"]) == 1  # the primary only
    enis = ec2.describe_network_interfaces(Filters=[{"Name": "subnet-id", "Values": [subnet]}])
    assert [e["NetworkInterfaceId"] for e in enis["NetworkInterfaces"]] == [eni]
    # A subnet with an interface cannot be deleted (moto alone would delete it).
    status, code, msg = call(server.url, "DeleteSubnet", SubnetId=subnet)
    assert (status, code) == (400, "DependencyViolation") and subnet in msg
    assert ec2.describe_subnets(SubnetIds=[subnet])["Subnets"][0]["SubnetId"] == subnet
    # The request log records the refusals with their codes.
    logged = AdminClient(server.url).requests(action="AssignPrivateIpAddresses")
    assert [r["code"] for r in logged][-4:] == ["InvalidParameterValue"] * 4


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("aws") is None, reason="the AWS CLI is not installed")
def test_the_aws_cli_works_and_gets_ec2_errors(server: ListeningServer) -> None:
    env = {**os.environ, **FAKE_CREDS, "AWS_PAGER": ""}

    def aws(*args: str) -> subprocess.CompletedProcess[str]:
        cmd = ["aws", "--endpoint-url", server.url, "--region", REGION, "ec2", *args]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=env)

    ok = aws("describe-instance-types", "--instance-types", "m5.large", "--output", "json")
    assert ok.returncode == 0 and '"Ipv4AddressesPerInterface": 10' in ok.stdout, ok.stderr
    bad = aws("describe-instances", "--filters", "Name=bogus,Values=x")
    assert bad.returncode != 0
    assert "(InvalidParameterValue)" in bad.stderr and "The filter 'bogus' is invalid" in bad.stderr


# ------------------------------------------------------------------ moto's own failures
@pytest.mark.parametrize(
    ("exc", "code", "status"),
    [
        (
            NotImplementedError("The filter 'foo' for DescribeThings has not been implemented"),
            "InvalidParameterValue",
            400,
        ),
        (
            NotImplementedError("The frob action has not been implemented"),
            "UnsupportedOperation",
            400,
        ),
        (ValueError("invalid literal for int() with base 10: 'x'"), "InvalidParameterValue", 400),
        (KeyError("Name"), "InvalidParameterValue", 400),
        (RuntimeError("boom"), "InternalError", 500),
    ],
)
def test_what_moto_raises_becomes_an_ec2_error(exc: Exception, code: str, status: int) -> None:
    err = moto_failure("DescribeThings", exc)
    assert isinstance(err, Ec2Error) and (err.code, err.http_status) == (code, status)
    assert "Traceback" not in err.message and len(err.message) < 400


# ------------------------------------------------------------------ fuzzing
ACTIONS = [
    "DescribeInstances",
    "DescribeNetworkInterfaces",
    "DescribeSubnets",
    "DescribeInstanceTypes",
    "AssignPrivateIpAddresses",
    "UnassignPrivateIpAddresses",
    "CreateNetworkInterface",
    "DeleteNetworkInterface",
    "AttachNetworkInterface",
    "ModifyNetworkInterfaceAttribute",
    "CreateSubnetCidrReservation",
    "GetSubnetCidrReservations",
    "CreateVpc",
    "DescribeVpcs",
]
KEYS = [
    "NetworkInterfaceId",
    "SecondaryPrivateIpAddressCount",
    "Ipv4PrefixCount",
    "PrivateIpAddress.1",
    "Ipv4Prefix.1",
    "InstanceId",
    "InstanceId.1",
    "InstanceType.1",
    "NetworkInterfaceId.1",
    "SubnetId",
    "SubnetId.1",
    "Cidr",
    "CidrBlock",
    "ReservationType",
    "DeviceIndex",
    "MaxResults",
    "NextToken",
    "DryRun",
    "AllowReassignment",
    "Filter.1.Name",
    "Filter.1.Value.1",
    "Description.Value",
]
VALUES = st.one_of(
    st.sampled_from(
        [
            "",
            "0",
            "-1",
            "1",
            "2",
            "abc",
            "1.5",
            "true",
            "eni-00000000",
            "i-00000000",
            "subnet-0",
            "10.0.0.0/24",
            "10.0.0.300",
            "prefix",
            "explicit",
            "m5.large",
            "instance-id",
            "99999999999999999999",
        ]
    ),
    st.integers(min_value=-(2**40), max_value=2**40).map(str),
    st.text(max_size=40),
)
PARAMS = st.dictionaries(
    st.one_of(st.sampled_from(KEYS), st.text(min_size=1, max_size=20)), VALUES, max_size=6
)
FUZZ_HEADERS = st.sampled_from([SIGNED, {}, {"Authorization": "AWS4-HMAC-SHA256 x"}])


@settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    action=st.one_of(st.sampled_from(ACTIONS), st.text(max_size=30)),
    params=PARAMS,
    headers=FUZZ_HEADERS,
    method=st.sampled_from(["POST", "GET"]),
)
def test_fuzzed_requests_get_xml_answers_and_the_server_keeps_serving(
    server: ListeningServer,
    action: str,
    params: dict[str, str],
    headers: dict[str, str],
    method: str,
) -> None:
    fields = {**params, "Action": action, "Version": VERSION}
    if method == "GET":
        query = "?" + urllib.parse.urlencode(fields)
        status, ctype, body = send(server.url, headers=headers, method="GET", query=query)
    else:
        status, ctype, body = send(server.url, fields, headers=headers)
    assert "xml" in ctype, (status, ctype, body[:300])
    assert status in (200, 400, 401), (status, body[:300])
    if status != 200:
        status, code, message = ec2_error(status, ctype, body)
        assert code and message and "Traceback" not in message
    else:
        ET.fromstring(body)  # well-formed XML
    assert AdminClient(server.url).healthy()
