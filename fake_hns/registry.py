"""HostRegistry: the nodes one server hosts, each an isolated :class:`HostHns`."""

from __future__ import annotations

import threading

from fake_hns.host import HostConfig, HostHns
from fake_hns.names import shown


class UnknownHost(LookupError):
    """No node by that name."""


class HostExists(ValueError):
    """A node by that name already exists."""


class HostRegistry:
    """Name -> HostHns. Its lock guards only the table; each host has its own lock."""

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed
        self._hosts: dict[str, HostHns] = {}
        self._lock = threading.Lock()

    def create(self, config: HostConfig) -> HostHns:
        """Add a node; HostExists when the name is taken."""
        host = HostHns(config, self.seed)
        with self._lock:
            if config.name in self._hosts:
                raise HostExists(f"host {shown(config.name)} already exists")
            self._hosts[config.name] = host
        return host

    def configure(self, config: HostConfig) -> HostHns:
        """Create the node, or reconfigure it keeping its objects."""
        with self._lock:
            host = self._hosts.get(config.name)
            if host is None:
                host = HostHns(config, self.seed)
                self._hosts[config.name] = host
                return host
        with host.lock:
            host.reconfigure(config)
        return host

    def get(self, name: str) -> HostHns:
        """The node; UnknownHost with a clear message otherwise."""
        host = self._hosts.get(name)
        if host is None:
            if not name:
                raise UnknownHost("request has no host: set `host` to the node name")
            known = sorted(self._hosts)
            listed = ", ".join(known[:10]) + (
                f" and {len(known) - 10} more" if len(known) > 10 else ""
            )
            raise UnknownHost(
                f"unknown host {shown(name)}: create it first with CreateHost "
                f"(known hosts: {listed or 'none'})"
            )
        return host

    def delete(self, name: str) -> bool:
        """Remove a node; False when it did not exist."""
        with self._lock:
            return self._hosts.pop(name, None) is not None

    def names(self) -> list[str]:
        """Node names, sorted."""
        with self._lock:
            return sorted(self._hosts)
