"""PortPool unit tests: the documented exhaustion model, no server."""

from __future__ import annotations

import pytest

from fake_hns.portpool import PortBlock, PortPool


def test_defaults_give_256_blocks_of_64() -> None:
    pool = PortPool()
    assert (pool.start, pool.end, pool.block_size) == (49152, 65535, 64)
    assert pool.total_blocks == 16384 // 64 == 256
    blocks = [pool.allocate() for _ in range(256)]
    assert all(b is not None for b in blocks)
    assert pool.allocate() is None
    assert pool.free_blocks == 0 and pool.used_blocks == 256


def test_blocks_are_aligned_disjoint_and_lowest_first() -> None:
    pool = PortPool()
    first, second = pool.allocate(), pool.allocate()
    assert first == PortBlock(49152, 49215)
    assert second == PortBlock(49216, 49279)
    assert first is not None and first.size == 64


def test_release_returns_the_block_and_it_is_reused() -> None:
    pool = PortPool(block_size=64)
    blocks = [pool.allocate() for _ in range(3)]
    assert blocks[1] is not None
    pool.release(blocks[1])
    assert pool.free_blocks == 254
    assert pool.allocate() == blocks[1]


def test_double_release_is_refused() -> None:
    pool = PortPool()
    block = pool.allocate()
    assert block is not None
    pool.release(block)
    with pytest.raises(ValueError, match="not allocated"):
        pool.release(block)


def test_excluded_ranges_and_host_held_ports_remove_blocks() -> None:
    # 49200-49300 touches three blocks (49152.., 49216.., 49280..); 50000 lies in a fourth
    pool = PortPool(excluded=[(49200, 49300)], host_held=[50000])
    assert pool.total_blocks == 256 - 4
    taken = set()
    while (block := pool.allocate()) is not None:
        taken.add(block.start)
        assert block.end < 49200 or block.start > 49300
        assert not block.start <= 50000 <= block.end
    assert len(taken) == 252


def test_partial_last_block_is_unusable_and_a_wider_range_moves_the_limit() -> None:
    assert PortPool(start=1000, end=1099, block_size=64).total_blocks == 1
    assert PortPool(start=32768, end=65535).total_blocks == 512


def test_bad_parameters_name_the_field() -> None:
    with pytest.raises(ValueError, match="dynamic port range 70000-1"):
        PortPool(start=70000, end=1)
    with pytest.raises(ValueError, match="block size 0"):
        PortPool(block_size=0)
    with pytest.raises(ValueError, match="host-held port 0"):
        PortPool(host_held=[0])
