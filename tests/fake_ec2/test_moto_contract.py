"""Contract with moto: what fake_ec2/moto_patch.py replaces must still look as recorded."""

from __future__ import annotations

import subprocess
import sys

import moto
import pytest

from fake_ec2 import moto_patch


def test_moto_version_is_the_pinned_one() -> None:
    assert moto.__version__ == moto_patch.MOTO_VERSION, (
        "moto changed: re-check every entry of fake_ec2.moto_patch.PATCHED"
    )


@pytest.mark.parametrize("dotted", sorted(moto_patch.PATCHED))
def test_patched_attribute_exists_with_recorded_signature(dotted: str) -> None:
    assert moto_patch.describe_original(dotted) == moto_patch.PATCHED[dotted], (
        f"moto's {dotted} changed; the patch in fake_ec2/moto_patch.py may no longer apply"
    )


def test_import_fake_ec2_and_admin_client_stay_light() -> None:
    code = (
        "import sys, fake_ec2, fake_ec2.admin, fake_ec2.allocator, fake_ec2.ipam;"
        "heavy = [m for m in ('moto', 'boto3', 'botocore', 'werkzeug') if m in sys.modules];"
        "print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
