"""The admin API refuses what a web page in the user's browser could send it."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest

from fake_ec2.admin import AdminClient


def _send(url: str, method: str, headers: dict[str, str], body: bytes | None) -> tuple[int, str]:
    req = urllib.request.Request(url, data=body, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, json.loads(resp.read()).get("error", "")
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read()).get("error", "")


def _seed_of(admin: AdminClient) -> int:
    return int(admin.faults()["seed"])


@pytest.mark.parametrize(
    ("headers", "status", "message"),
    [
        # A cross-origin <form> or fetch "simple request": text/plain, no custom header.
        ({"Content-Type": "text/plain"}, 403, "needs the header X-Ekswin-Admin: 1"),
        # The header alone is not enough: a state change must be JSON.
        (
            {"Content-Type": "text/plain", "X-Ekswin-Admin": "1"},
            415,
            "Content-Type: expected application/json for POST, got 'text/plain'",
        ),
        ({"X-Ekswin-Admin": "1"}, 415, "got 'application/x-www-form-urlencoded'"),
        # What a browser adds to any cross-origin (or rebound) POST.
        (
            {"Content-Type": "application/json", "X-Ekswin-Admin": "1", "Origin": "http://x.test"},
            403,
            "cross-origin requests are refused (Origin: http://x.test)",
        ),
        # DNS rebinding: a page's own host name resolving to 127.0.0.1.
        (
            {"Content-Type": "application/json", "X-Ekswin-Admin": "1", "Host": "evil.test"},
            403,
            "Host 'evil.test' is not a loopback address",
        ),
    ],
)
def test_browser_shaped_requests_are_refused_and_change_nothing(
    fake_ec2_url: str, admin: AdminClient, headers: dict[str, str], status: int, message: str
) -> None:
    admin.set_seed(11)
    got = _send(f"{fake_ec2_url}/_ekswin/seed", "POST", headers, json.dumps({"seed": 99}).encode())
    assert got[0] == status
    assert message in got[1]
    assert _seed_of(admin) == 11  # the refused request did not reach the admin API


def test_reads_need_the_header_too(fake_ec2_url: str) -> None:
    status, message = _send(f"{fake_ec2_url}/_ekswin/state", "GET", {}, None)
    assert status == 403 and "X-Ekswin-Admin" in message


def test_the_admin_client_passes(fake_ec2_url: str, admin: AdminClient) -> None:
    admin.set_seed(5)
    assert _seed_of(admin) == 5
    admin.clear_faults()  # DELETE without a body still carries the JSON type
    assert admin.healthy()
    headers = {"Content-Type": "application/json; charset=utf-8", "X-Ekswin-Admin": "1"}
    assert _send(f"{fake_ec2_url}/_ekswin/seed", "POST", headers, b'{"seed": 6}')[0] == 200
    assert _seed_of(admin) == 6
