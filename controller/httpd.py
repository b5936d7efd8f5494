"""What the controller's two small HTTP servers (health/metrics and webhooks) share."""

from __future__ import annotations

from http.server import BaseHTTPRequestHandler


class ReplyHandler(BaseHTTPRequestHandler):
    """A request handler with one way to send a complete reply."""

    def _send(self, code: int, body: bytes, content_type: str) -> None:
        """Status line, Content-Type and Content-Length, then the body."""
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
