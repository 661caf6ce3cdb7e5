#!/usr/bin/env python3
"""The seed's asyncio greeting server, made HTTP-correct: a benchmark peer for greeter.

    python3 asyncio_server.py --port 8888          # HTTP/1.1: keep-alive, pipelining
    python3 asyncio_server.py --port 8888 --raw    # the seed: read once, greet, close

`--loop uvloop` runs it on uvloop (the event loop asyncio users switch to; it must be
installed), `--loop asyncio` (the default) on the standard library's. Answers GET / (and HEAD /) with "Hello, world!",
POST /greet with "Hello, {name}!" from a form body's `name` field (or 400), other paths
with 404, other methods with 405; Content-Length and Date on every response; keep-alive
by default on HTTP/1.1, Connection: close honoured, HTTP/1.0 closes unless it asks for
keep-alive; pipelined requests are answered in order in one write; other bodies with
Content-Length are read and discarded; malformed requests get 400 and a close.
"""

import argparse
import asyncio
import email.utils
import time
import urllib.parse

GREETING = b"Hello, world!"
MAX_HEAD = 8192


class DateCache:
    """The Date header value, rendered at most once a second."""

    def __init__(self):
        self.second = 0
        self.value = b""

    def get(self):
        now = int(time.time())
        if now != self.second:
            self.second = now
            self.value = email.utils.formatdate(now, usegmt=True).encode()
        return self.value


DATE = DateCache()
REASONS = {200: b"OK", 400: b"Bad Request", 404: b"Not Found", 405: b"Method Not Allowed"}


def response(status, body, close, head_only=False, keep_alive_10=False):
    headers = [
        b"HTTP/1.1 %d %s" % (status, REASONS[status]),
        b"Server: asyncio",
        b"Date: " + DATE.get(),
        b"Content-Type: text/plain; charset=utf-8",
        b"Content-Length: %d" % len(body),
    ]
    if close:
        headers.append(b"Connection: close")
    elif keep_alive_10:
        headers.append(b"Connection: keep-alive")
    if status == 405:
        headers.append(b"Allow: GET, HEAD")
    return b"\r\n".join(headers) + b"\r\n\r\n" + (b"" if head_only else body)


def parse_head(head):
    """Returns (method, path, minor, persist, body_length) or None if malformed."""
    lines = head.split(b"\r\n")
    parts = lines[0].split(b" ")
    if len(parts) != 3 or parts[2] not in (b"HTTP/1.1", b"HTTP/1.0"):
        return None
    method, path, version = parts
    minor = 1 if version == b"HTTP/1.1" else 0
    length, connection = 0, b""
    for line in lines[1:]:
        name, sep, value = line.partition(b":")
        if not sep or not name or name != name.strip():
            return None
        name, value = name.lower(), value.strip()
        if name == b"content-length":
            if not value.isdigit():
                return None
            length = int(value)
        elif name == b"transfer-encoding":
            return None
        elif name == b"connection":
            connection = value.lower()
    if b"close" in connection:
        persist = False
    else:
        persist = minor == 1 or b"keep-alive" in connection
    return method, path, minor, persist, length


def greet_from_form(body):
    names = urllib.parse.parse_qs(body.decode("utf-8", "replace")).get("name", [])
    if not names or not 1 <= len(names[0]) <= 64:
        return 400, b"Bad Request"
    return 200, b"Hello, %s!" % names[0].encode()


def answer(method, target):
    if target != b"/":
        return 404, b"Not Found"
    if method not in (b"GET", b"HEAD"):
        return 405, b"Method Not Allowed"
    return 200, GREETING


class Http(asyncio.Protocol):
    def connection_made(self, transport):
        self.transport = transport
        self.buffer = b""
        self.skip = 0  # body bytes still to discard
        self.body = None  # (bytes still to read, bytes so far, persist, minor) of POST /greet

    def read_body(self, buf, out):
        """Reads POST /greet's body from buf; returns the rest and whether to close."""
        left, got, persist, minor = self.body
        taken = buf[:left]
        left, got = left - len(taken), got + taken
        self.body = (left, got, persist, minor) if left else None
        if not left:
            status, text = greet_from_form(got)
            out.append(response(status, text, not persist, False, minor == 0 and persist))
        return buf[len(taken):], not left and not persist

    def data_received(self, data):
        buf = self.buffer + data
        out = []
        closing = False
        while buf and not closing:
            if self.body:
                buf, closing = self.read_body(buf, out)
                continue
            if self.skip:
                taken = min(self.skip, len(buf))
                self.skip -= taken
                buf = buf[taken:]
                continue
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                if len(buf) > MAX_HEAD:
                    out.append(response(400, b"Bad Request", True))
                    closing = True
                break
            head, buf = buf[:end], buf[end + 4:]
            parsed = parse_head(head)
            if parsed is None:
                out.append(response(400, b"Bad Request", True))
                closing = True
                break
            method, path, minor, persist, length = parsed
            target = path.split(b"?", 1)[0]
            if method == b"POST" and target == b"/greet" and length:
                self.body = (length, b"", persist, minor)
                continue
            self.skip = length
            status, body = answer(method, target)
            closing = not persist
            out.append(response(status, body, closing, method == b"HEAD", minor == 0 and persist))
        self.buffer = buf
        if out:
            self.transport.write(b"".join(out))
        if closing:
            self.transport.close()


async def raw(reader, writer):
    """The seed's behaviour: read once, write the greeting, close."""
    await reader.read(1024)
    writer.write(GREETING + b"\n")
    await writer.drain()
    writer.close()


def arguments():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8888)
    parser.add_argument("--raw", action="store_true", help="read once, greet, close")
    parser.add_argument("--loop", choices=["asyncio", "uvloop"], default="asyncio")
    return parser.parse_args()


async def main(args):
    loop = asyncio.get_running_loop()
    if args.raw:
        server = await asyncio.start_server(raw, args.host, args.port, backlog=4096)
    else:
        server = await loop.create_server(Http, args.host, args.port, backlog=4096)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    ARGS = arguments()
    if ARGS.loop == "uvloop":
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    try:
        asyncio.run(main(ARGS))
    except KeyboardInterrupt:
        pass
