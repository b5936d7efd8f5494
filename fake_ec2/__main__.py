"""``python -m fake_ec2 --port N [--host 127.0.0.1] [--seed S] [--region us-west-2]``.

Prints ``listening on http://HOST:PORT`` as the first stdout line; logs go to stderr.
SIGTERM or SIGINT stops it.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading


def main(argv: list[str] | None = None) -> int:
    """Run fake_ec2 until SIGTERM/SIGINT."""
    parser = argparse.ArgumentParser(prog="python -m fake_ec2", description=__doc__)
    parser.add_argument("--port", type=int, default=5555, help="TCP port; 0 picks a free one")
    parser.add_argument("--host", default="127.0.0.1", help="loopback address to bind")
    parser.add_argument("--seed", type=int, default=0, help="seed for every random choice")
    parser.add_argument("--region", default="us-west-2", help="default region for admin calls")
    parser.add_argument("--log-level", default="WARNING", help="stderr log level")
    args = parser.parse_args(argv)

    from fake_ec2.server import check_loopback, serve

    try:
        check_loopback(args.host)
    except ValueError as err:
        parser.error(str(err))
    logging.basicConfig(level=args.log_level.upper(), stream=sys.stderr)
    # werkzeug logs every request at INFO; keep stderr quiet unless asked.
    logging.getLogger("werkzeug").setLevel(max(logging.WARNING, logging.getLogger().level))

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    server = serve(args.host, args.port, args.seed, args.region)
    print(f"listening on {server.url}", flush=True)
    try:
        while not stop.wait(0.5):
            pass
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
