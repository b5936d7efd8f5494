"""Launch the EC2 instances behind emulated nodes (fake_ec2, boto3 with endpoint_url)."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from harness.nodes.spec import InstanceInfo, NodeSpec

WINDOWS_AMI = "ami-0e0f1d2c3b4a59687"  # any id moto accepts; the platform is what matters


def ec2_client(
    endpoint_url: str,
    region: str,
    *,
    max_attempts: int | None = None,
    access_key: str = "testing",
    timeout_s: float | None = None,
) -> Any:
    """A boto3 EC2 client for fake_ec2 (dummy credentials). `max_attempts` caps
    botocore's retries (1: none, so a test sees every error); default: botocore's.
    `access_key` is the (dummy) key it signs with: fake_ec2's request log names it.
    `timeout_s`: connect and read timeout (default: botocore's 60 s)."""
    import boto3
    from botocore.config import Config

    options: dict[str, Any] = {}
    if max_attempts is not None:
        options["retries"] = {"total_max_attempts": max_attempts, "mode": "standard"}
    if timeout_s is not None:
        options["connect_timeout"] = options["read_timeout"] = timeout_s
    return boto3.client(
        "ec2",
        endpoint_url=endpoint_url,
        region_name=region,
        aws_access_key_id=access_key,
        aws_secret_access_key="testing",
        config=Config(**options) if options else None,
    )


def _instance_info(
    ec2: Any, inst: dict[str, Any], seen: dict[str, dict[str, Any]] | None = None
) -> InstanceInfo:
    """The instance's primary-ENI facts; `seen` caches subnets and VPCs across calls (a
    thousand nodes in one subnet ask for it once)."""
    seen = seen if seen is not None else {}
    eni = next(
        e for e in inst["NetworkInterfaces"] if e.get("Attachment", {}).get("DeviceIndex", 0) == 0
    )
    sid, vid = inst["SubnetId"], inst["VpcId"]
    if sid not in seen:
        seen[sid] = ec2.describe_subnets(SubnetIds=[sid])["Subnets"][0]
    if vid not in seen:
        seen[vid] = ec2.describe_vpcs(VpcIds=[vid])["Vpcs"][0]
    subnet, vpc = seen[sid], seen[vid]
    cidrs = [a["CidrBlock"] for a in vpc.get("CidrBlockAssociationSet") or []] or [vpc["CidrBlock"]]
    return InstanceInfo(
        instance_id=inst["InstanceId"],
        private_ip=eni["PrivateIpAddress"],
        eni_id=eni["NetworkInterfaceId"],
        mac=eni["MacAddress"].lower(),
        subnet_cidr=subnet["CidrBlock"],
        availability_zone=subnet["AvailabilityZone"],
        vpc_cidrs=tuple(cidrs),
    )


def instance_type_resources(ec2: Any, instance_type: str) -> tuple[int, int]:
    """(vCPUs, memory MiB) from DescribeInstanceTypes."""
    info = ec2.describe_instance_types(InstanceTypes=[instance_type])["InstanceTypes"][0]
    return int(info["VCpuInfo"]["DefaultVCpus"]), int(info["MemoryInfo"]["SizeInMiB"])


LAUNCH_BATCH = 50  # instances per RunInstances call (one group, type and subnet)


def register_instances(
    specs: Sequence[NodeSpec], endpoint_url: str, region: str
) -> list[tuple[NodeSpec, InstanceInfo]]:
    """RunInstances for the specs (their type, in their subnet, Windows platform) and
    return each spec completed with cpu/memory plus the instance's primary-ENI facts.

    Nodes of one group, type and subnet are launched together (MinCount = MaxCount =
    up to LAUNCH_BATCH, as a node group's Auto Scaling group does), then each is given
    its own Name tag: a thousand nodes cost tens of calls, not a thousand."""
    ec2 = ec2_client(endpoint_url, region)
    out: list[tuple[NodeSpec, InstanceInfo]] = []
    types: dict[str, tuple[int, int]] = {}
    seen: dict[str, dict[str, Any]] = {}
    for spec in specs:
        if not spec.subnet_id:
            raise ValueError(f"node {spec.name}: subnet_id is required to launch its instance")
    for batch in _batches(specs):
        first = batch[0]
        if first.instance_type not in types:
            types[first.instance_type] = instance_type_resources(ec2, first.instance_type)
        cpu, mem = types[first.instance_type]
        resp = ec2.run_instances(
            ImageId=first.ami_id or WINDOWS_AMI,
            InstanceType=first.instance_type,
            MinCount=len(batch),
            MaxCount=len(batch),
            SubnetId=first.subnet_id,
            TagSpecifications=[
                {
                    "ResourceType": "instance",
                    "Tags": [{"Key": "eks:nodegroup-name", "Value": first.nodegroup}],
                }
            ],
        )
        instances = sorted(resp["Instances"], key=lambda i: int(i.get("AmiLaunchIndex", 0)))
        for spec, inst in zip(batch, instances, strict=True):
            ec2.create_tags(
                Resources=[inst["InstanceId"]],
                Tags=[
                    {"Key": "Name", "Value": spec.name},
                    {"Key": "ekswin/node", "Value": spec.name},
                ],
            )
            info = _instance_info(ec2, inst, seen)
            out.append(
                (
                    dataclasses.replace(
                        spec, cpu=cpu, memory_mib=mem, availability_zone=info.availability_zone
                    ),
                    info,
                )
            )
    return out


def _batches(specs: Sequence[NodeSpec]) -> list[list[NodeSpec]]:
    """Consecutive specs launched by one RunInstances call (same group, type, subnet,
    AMI), at most LAUNCH_BATCH each."""
    out: list[list[NodeSpec]] = []
    for spec in specs:
        key = (spec.nodegroup, spec.instance_type, spec.subnet_id, spec.ami_id)
        last = out[-1] if out else None
        if (
            last is not None
            and len(last) < LAUNCH_BATCH
            and (last[0].nodegroup, last[0].instance_type, last[0].subnet_id, last[0].ami_id) == key
        ):
            last.append(spec)
        else:
            out.append([spec])
    return out
