"""Requests the HTTP server itself refuses (a request line with raw UTF-8 or spaces in the URL,
malformed headers) get the API's error shape instead of uvicorn's plain-text line.

uvicorn answers those before any application code runs and offers no hook for the body, so the
one method that writes that answer is replaced on its protocol classes. `install()` is
idempotent and is called when the app is made, whatever command starts the server.
"""
from __future__ import annotations

import json

MESSAGE = ("the request line or headers are malformed: the URL must be ASCII, with anything else "
           "percent-encoded (RFC 3986)")
BODY = json.dumps({"error": {"code": "bad_request", "message": MESSAGE}}).encode()


def _send_json_400(self, msg: str) -> None:
    import h11
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(BODY)).encode()),
               (b"connection", b"close")]
    for event in (h11.Response(status_code=400, headers=headers, reason=b"Bad Request"), h11.Data(data=BODY),
                  h11.EndOfMessage()):
        self.transport.write(self.conn.send(event))
    self.transport.close()


def _send_json_400_httptools(self, msg: str) -> None:
    head = (b"HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\n"
            b"content-length: " + str(len(BODY)).encode() + b"\r\nconnection: close\r\n\r\n")
    self.transport.write(head + BODY)
    self.transport.close()


def install() -> None:
    try:
        from uvicorn.protocols.http.h11_impl import H11Protocol
        H11Protocol.send_400_response = _send_json_400  # type: ignore[method-assign]
    except ImportError:  # another server: it keeps its own answer
        pass
    try:
        from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
        HttpToolsProtocol.send_400_response = _send_json_400_httptools  # type: ignore[method-assign]
    except ImportError:  # httptools is not installed
        pass
