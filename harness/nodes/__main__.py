"""``python -m harness.nodes --config agent.json``: run the node agent.

First stdout line once every node is registered: ``listening on URL`` (the CNI socket
``unix://…`` in exec mode, else ``file://`` of the status file), then ``ready N nodes``.
SIGTERM/SIGINT stop it; the nodes are left registered (their Leases stop, so the node
lifecycle controller marks them NotReady). SIGHUP (once ready) reads the config again and
stops driving the nodes it no longer lists, then prints ``nodes removed N``. Exit 2 for
a bad config, 1 when start-up fails.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from pathlib import Path


async def _run(config_path: Path) -> int:
    from harness.nodes.agent import Agent
    from harness.nodes.config import AgentConfig

    agent = Agent(AgentConfig.read(config_path))
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, agent.stopping.set)
    try:
        await agent.start()
    except Exception:
        logging.getLogger("ekswin.nodes").exception("agent start-up failed")
        await agent.stop()
        return 1

    def reload() -> None:
        try:
            agent.reload(config_path)
        except Exception:  # a bad config: the agent goes on with the nodes it has
            logging.getLogger("ekswin.nodes").exception("config reload failed")
            agent.reloads += 1
        print(f"nodes removed {agent.reloads}", flush=True)

    loop.add_signal_handler(signal.SIGHUP, reload)
    print(f"listening on {agent.listen_url}", flush=True)
    print(f"ready {len(agent.nodes)} nodes", flush=True)
    await agent.stopping.wait()
    await agent.stop()
    return 0


def main(argv: list[str] | None = None) -> int:
    """Parse arguments and run until stopped."""
    parser = argparse.ArgumentParser(prog="python -m harness.nodes", description=__doc__)
    parser.add_argument("--config", required=True, type=Path, help="agent JSON (docs/nodes.md)")
    parser.add_argument("--log-level", default="INFO")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(),
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    from harness.kubeproxy.flags import KubeProxyConfigError
    from harness.nodes.config import AgentConfigError
    from harness.nodes.profiles import ProfileError
    from harness.nodes.spec import NodeSpecError

    try:
        from harness.nodes.config import AgentConfig

        AgentConfig.read(args.config)
    except (AgentConfigError, NodeSpecError, KubeProxyConfigError, ProfileError, OSError) as e:
        print(f"python -m harness.nodes: {e}", file=sys.stderr)
        return 2
    return asyncio.run(_run(args.config))


if __name__ == "__main__":
    sys.exit(main())
