"""``python -m fake_hns --port N [--seed S]``: serve the fake HNS standalone.

Prints ``listening on grpc://127.0.0.1:PORT`` as its first stdout line; logs go to
stderr; SIGTERM/SIGINT stop it cleanly.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading

from fake_hns.registry import HostRegistry
from fake_hns.server import DEFAULT_WORKERS, build_server


def main(argv: list[str] | None = None) -> int:
    """Run the server until SIGTERM/SIGINT."""
    parser = argparse.ArgumentParser(prog="python -m fake_hns", description=__doc__)
    parser.add_argument("--port", type=int, default=0, help="TCP port on 127.0.0.1 (0: free)")
    parser.add_argument("--seed", type=int, default=0, help="seed for GUIDs and MACs")
    parser.add_argument("--workers", type=int, default=DEFAULT_WORKERS, help="thread pool size")
    parser.add_argument("--log-level", default="WARNING", help="stderr log level")
    args = parser.parse_args(argv)
    logging.basicConfig(
        stream=sys.stderr, level=args.log_level.upper(), format="%(asctime)s %(name)s %(message)s"
    )
    server, port = build_server(HostRegistry(seed=args.seed), args.port, args.workers)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    server.start()
    print(f"listening on grpc://127.0.0.1:{port}", flush=True)
    stop.wait()
    server.stop(grace=1).wait(5)
    return 0


if __name__ == "__main__":
    sys.exit(main())
