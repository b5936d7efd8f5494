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
) -> Any:
    """A boto3 EC2 client for fake_ec2 (dummy credentials; loopback only). `max_attempts`
    caps botocore's retries (1: none, so a test sees every error); default: botocore's.
    `access_key` is the (dummy) key it signs with: fake_ec2's request log names it."""
    import boto3
    from botocore.config import Config

    retries: Any = {"total_max_attempts": max_attempts, "mode": "standard"}
    return boto3.client(
        "ec2",
        endpoint_url=endpoint_url,
        region_name=region,
        aws_access_key_id=access_key,
        aws_secret_access_key="testing",
        config=Config(retries=retries) if max_attempts is not None else None,
    )


def _instance_info(ec2: Any, inst: dict[str, Any]) -> InstanceInfo:
    eni = next(
        e for e in inst["NetworkInterfaces"] if e.get("Attachment", {}).get("DeviceIndex", 0) == 0
    )
    subnet = ec2.describe_subnets(SubnetIds=[inst["SubnetId"]])["Subnets"][0]
    vpc = ec2.describe_vpcs(VpcIds=[inst["VpcId"]])["Vpcs"][0]
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


def register_instances(
    specs: Sequence[NodeSpec], endpoint_url: str, region: str
) -> list[tuple[NodeSpec, InstanceInfo]]:
    """RunInstances for each spec (its type, in its subnet, Windows platform) and return
    the spec completed with cpu/memory plus the instance's primary-ENI facts."""
    ec2 = ec2_client(endpoint_url, region)
    out: list[tuple[NodeSpec, InstanceInfo]] = []
    for spec in specs:
        if not spec.subnet_id:
            raise ValueError(f"node {spec.name}: subnet_id is required to launch its instance")
        cpu, mem = instance_type_resources(ec2, spec.instance_type)
        resp = ec2.run_instances(
            ImageId=spec.ami_id or WINDOWS_AMI,
            InstanceType=spec.instance_type,
            MinCount=1,
            MaxCount=1,
            SubnetId=spec.subnet_id,
            TagSpecifications=[
                {
                    "ResourceType": "instance",
                    "Tags": [
                        {"Key": "Name", "Value": spec.name},
                        {"Key": "eks:nodegroup-name", "Value": spec.nodegroup},
                        {"Key": "ekswin/node", "Value": spec.name},
                    ],
                }
            ],
        )
        inst = resp["Instances"][0]
        info = _instance_info(ec2, inst)
        out.append(
            (
                dataclasses.replace(
                    spec, cpu=cpu, memory_mib=mem, availability_zone=info.availability_zone
                ),
                info,
            )
        )
    return out
