"""HNS error codes, their Windows message texts, and the hcsshim error line format.

Plain Python, shared by the server (which raises :class:`HnsError`) and the client
(which rebuilds it from gRPC trailing metadata). Texts are the Windows message table
entries for each HRESULT (winerror.h), as HNS returns them.

hcsshim's generated syscall stubs (hcn/zsyscall_windows.go) turn an HRESULT of the Win32
facility (0x8007xxxx) into its bare Win32 code before the error is formatted, so the line
reads ``... (0x57)`` for E_INVALIDARG, while the JSON result record HNS hands back keeps
the whole HRESULT (``"ErrorCode":2147942487``), as real kube-proxy and kubelet logs show.
"""

from __future__ import annotations

import json

# Win32 / COM codes HNS returns.
ERROR_NOT_FOUND = 0x490
ERROR_OBJECT_ALREADY_EXISTS = 0x1392
E_INVALIDARG = 0x80070057
E_FAIL = 0x80004005

# HCN facility codes (winerror.h, HCN_E_*).
HCN_E_NETWORK_NOT_FOUND = 0x803B0001
HCN_E_ENDPOINT_NOT_FOUND = 0x803B0002
HCN_E_SUBNET_NOT_FOUND = 0x803B0005
HCN_E_POLICY_NOT_FOUND = 0x803B0008
HCN_E_INVALID_NETWORK = 0x803B000A
HCN_E_INVALID_NETWORK_TYPE = 0x803B000B
HCN_E_INVALID_ENDPOINT = 0x803B000C
HCN_E_INVALID_POLICY = 0x803B000D
HCN_E_INVALID_POLICY_TYPE = 0x803B000E
HCN_E_NETWORK_ALREADY_EXISTS = 0x803B0010
HCN_E_PORT_ALREADY_EXISTS = 0x803B0013
HCN_E_ENDPOINT_ALREADY_ATTACHED = 0x803B0014
HCN_E_REQUEST_UNSUPPORTED = 0x803B0015
HCN_E_INVALID_IP = 0x803B001E

MESSAGES: dict[int, str] = {
    ERROR_NOT_FOUND: "Element not found.",
    ERROR_OBJECT_ALREADY_EXISTS: "The object already exists.",
    E_INVALIDARG: "The parameter is incorrect.",
    E_FAIL: "Unspecified error",
    HCN_E_NETWORK_NOT_FOUND: "The network was not found.",
    HCN_E_ENDPOINT_NOT_FOUND: "The endpoint was not found.",
    HCN_E_SUBNET_NOT_FOUND: "The network does not have a subnet for this endpoint.",
    HCN_E_POLICY_NOT_FOUND: "An expected policy was not found.",
    HCN_E_INVALID_NETWORK: "The provided network configuration is invalid or missing parameters.",
    HCN_E_INVALID_NETWORK_TYPE: "Invalid network type.",
    HCN_E_INVALID_ENDPOINT: (
        "The provided endpoint configuration is invalid or missing parameters."
    ),
    HCN_E_INVALID_POLICY: "The provided policy configuration is invalid or missing parameters.",
    HCN_E_INVALID_POLICY_TYPE: "Invalid policy type.",
    HCN_E_NETWORK_ALREADY_EXISTS: "A network with this name already exists.",
    HCN_E_PORT_ALREADY_EXISTS: "The specified port already exists.",
    HCN_E_ENDPOINT_ALREADY_ATTACHED: "This endpoint is already attached to the switch.",
    HCN_E_REQUEST_UNSUPPORTED: "The specified request is unsupported.",
    HCN_E_INVALID_IP: "The IP address is either invalid or not part of any configured subnet(s).",
}

# Trailing-metadata keys carrying an HNS error over gRPC.
MD_HRESULT = "hns-hresult"
MD_CALL = "hns-call"
MD_MESSAGE = "hns-message"


def win32_from_hresult(hresult: int) -> int:
    """The code hcsshim keeps of an HRESULT: a failure of the Win32 facility becomes its
    Win32 code (0x80070057 -> 0x57); every other value is left as it is."""
    if hresult & 0x80000000 and hresult & 0x1FFF0000 == 0x00070000:
        return hresult & 0xFFFF
    return hresult


def hresult_from_win32(code: int) -> int:
    """HRESULT_FROM_WIN32: a bare Win32 code (0x490) as the HRESULT HNS returns
    (0x80070490); an HRESULT is left as it is."""
    if 0 < code <= 0xFFFF:
        return 0x80070000 | code
    return code


def message_for(hresult: int) -> str:
    """The Windows text of ``hresult`` ("Unspecified error" when unknown)."""
    return MESSAGES.get(hresult, MESSAGES[E_FAIL])


def format_hns_error(call: str, hresult: int, message: str) -> str:
    """The line hcsshim prints: ``<call> failed in Win32: <message> (0x<code>)``, the
    code as hcsshim keeps it (:func:`win32_from_hresult`)."""
    return f"{call} failed in Win32: {message} (0x{win32_from_hresult(hresult):x})"


def parse_hresult(text: str) -> int:
    """Parse ``0x803b0013`` / ``803B0013`` / a decimal string into an int."""
    text = text.strip().lower()
    if text.startswith("0x"):
        return int(text, 16)
    try:
        return int(text)
    except ValueError:
        return int(text, 16)


class HnsError(Exception):
    """An error HNS returned: an HRESULT, its message, and the hcn call that failed.

    ``str()`` is the hcsshim-formatted line, e.g.
    ``hcnCreateLoadBalancer failed in Win32: The specified port already exists. (0x803b0013)``.
    """

    def __init__(self, hresult: int, message: str | None = None, call: str = "hcnCall") -> None:
        self.hresult = hresult
        self.message = message if message is not None else message_for(hresult)
        self.call = call
        super().__init__(format_hns_error(call, hresult, self.message))

    def result_record(self) -> str:
        """The JSON result record HNS returns with the failure, which hcsshim appends to the
        line in real logs: ``{"Success":false,"Error":"<message> ","ErrorCode":<decimal>}``."""
        code = hresult_from_win32(self.hresult)
        record = {"Success": False, "Error": self.message + " ", "ErrorCode": code}
        return json.dumps(record, separators=(",", ":"))

    def log_line(self) -> str:
        """The line as kube-proxy logs it: ``str(self)`` followed by the result record."""
        return f"{self} {self.result_record()}"

    def __reduce__(self) -> tuple[object, ...]:
        return (type(self), (self.hresult, self.message, self.call))
