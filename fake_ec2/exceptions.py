"""EC2 errors the rules layer raises: one class per literal EC2 error code.

Plain Python (no moto import) so the rules stay testable without a server; the moto
patch layer and the WSGI front turn an :class:`Ec2Error` into EC2's XML error format.
"""

from __future__ import annotations


class Ec2Error(Exception):
    """An EC2 API error: ``code`` and ``message`` as EC2 sends them, plus the HTTP status."""

    code = "InternalError"
    http_status = 400
    message = "An internal error has occurred"

    def __init__(self, message: str | None = None) -> None:
        if message is not None:
            self.message = message
        super().__init__(f"{self.code}: {self.message}")


class PrivateIpAddressLimitExceeded(Ec2Error):
    """Primary + secondary addresses + /28 prefixes would exceed the per-ENI limit."""

    code = "PrivateIpAddressLimitExceeded"
    message = "Number of private addresses will exceed limit."


class AttachmentLimitExceeded(Ec2Error):
    """The instance already has as many ENIs as its type allows."""

    code = "AttachmentLimitExceeded"

    def __init__(self, count: int, instance_type: str) -> None:
        super().__init__(f"Interface count {count} exceeds the limit for {instance_type}")


class InsufficientCidrBlocks(Ec2Error):
    """No aligned, wholly free /28 is left in the subnet."""

    code = "InsufficientCidrBlocks"
    message = "The specified subnet does not have enough free cidr blocks to satisfy the request."


class InsufficientFreeAddressesInSubnet(Ec2Error):
    """Not enough free single addresses left in the subnet."""

    code = "InsufficientFreeAddressesInSubnet"

    def __init__(self, subnet_id: str) -> None:
        super().__init__(
            f"There are not enough free addresses in subnet '{subnet_id}' "
            "to satisfy the requested number of addresses."
        )


class InvalidIPAddressInUse(Ec2Error):
    """An explicitly requested address (or prefix) is already held by something else."""

    code = "InvalidIPAddress.InUse"

    def __init__(self, address: str) -> None:
        super().__init__(f"Address {address} is in use.")


class InvalidParameterValue(Ec2Error):
    """A parameter value EC2 refuses (bad address, prefix, not assigned, not Nitro...)."""

    code = "InvalidParameterValue"


class InvalidParameterCombination(Ec2Error):
    """Parameters that EC2 refuses together."""

    code = "InvalidParameterCombination"


class RequestLimitExceeded(Ec2Error):
    """Throttled: the caller must back off (HTTP 503, like EC2)."""

    code = "RequestLimitExceeded"
    http_status = 503
    message = "Request limit exceeded."


class DependencyViolation(Ec2Error):
    """The resource is still in use (a subnet with interfaces)."""

    code = "DependencyViolation"


class UnknownParameter(Ec2Error):
    """A parameter the action does not have."""

    code = "UnknownParameter"


class MissingParameter(Ec2Error):
    """A required parameter is absent."""

    code = "MissingParameter"


class InvalidAction(Ec2Error):
    """An action EC2 does not have."""

    code = "InvalidAction"


class InvalidFilter(Ec2Error):
    """A filter name the action does not have (the code of some actions; most answer
    InvalidParameterValue with the same message)."""

    code = "InvalidFilter"


class InvalidPaginationToken(Ec2Error):
    """A NextToken this server never handed out."""

    code = "InvalidPaginationToken"


class MissingAction(Ec2Error):
    """No Action parameter at all."""

    code = "MissingAction"
    message = "The request is missing an action or a required parameter."


class UnsupportedOperation(Ec2Error):
    """An EC2 action (or part of one) that fake_ec2 does not implement."""

    code = "UnsupportedOperation"


class MissingAuthenticationToken(Ec2Error):
    """An unsigned request: EC2 refuses it before reading it (HTTP 401)."""

    code = "MissingAuthenticationToken"
    http_status = 401
    message = "Request is missing Authentication Token"


class AuthFailure(Ec2Error):
    """A signature EC2 cannot use (not SigV4 / SigV2, wrong service scope): HTTP 401."""

    code = "AuthFailure"
    http_status = 401
    message = "AWS was not able to validate the provided access credentials"


class InternalError(Ec2Error):
    """EC2's own failure (HTTP 500); fake_ec2 answers it when moto fails unexpectedly."""

    code = "InternalError"
    http_status = 500
    message = "An internal error has occurred"


#: Codes with a dedicated class, for the fault injector ("return this code N times").
KNOWN_CODES: dict[str, type[Ec2Error]] = {
    cls.code: cls
    for cls in (
        PrivateIpAddressLimitExceeded,
        InsufficientCidrBlocks,
        InvalidParameterValue,
        InvalidParameterCombination,
        RequestLimitExceeded,
    )
}


def error_for_code(
    code: str, message: str | None = None, http_status: int | None = None
) -> Ec2Error:
    """Build an error carrying ``code`` (a known class when there is one), e.g. for faults."""
    cls = KNOWN_CODES.get(code)
    if cls is not None:
        err = cls(message) if message is not None else cls()
    else:
        err = Ec2Error(message or f"Injected error {code}")
        err.code = code
        err.message = message or f"Injected error {code}"
    if http_status is not None:
        err.http_status = http_status
    return err
