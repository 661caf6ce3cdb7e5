#!/usr/bin/env python3
"""Sends every request vector of AWS's http-desync-guardian suite (its tests/*.yaml) to a
running greeter and scores the answers against the suite's tiers, read as an origin server
must honour them:

- Severe: a 400 and the connection closed (the suite: "MUST be treated as irrecoverable
  error (400 + closing FE connection)").
- Ambiguous: refused, or answered and the connection closed after the answer (the suite:
  "either reject such requests, or close ... immediately after the response was sent").
- Compliant: answered, not refused.
- Acceptable: reported only (not RFC-compliant, no known threat: either answer is fine).

The suite lists a head per vector; what is sent around it is ours. A vector without a
Host field gets `Host: suite` (HTTP/1.1 requires one, and without it every vector would
be a 400 for that alone), and a body is sent as the compliant reading frames it
(`body_for`), so that an answer never waits on bytes the vector did not mean to withhold.

Usage: desync.py PORT SUITE_TESTS_DIR. Prints a line per vector that misses its tier (and
per deliberate refusal, with its reason) and a summary per tier; exits 1 if a Severe,
Ambiguous or Compliant vector missed its tier other than as DELIBERATE lists.
"""
import glob
import os
import socket
import sys
import time

import yaml

ANSWER_WAIT = 2.0  # seconds for the first answer
CLOSE_WAIT = 0.5  # seconds after it for the close, if one comes (greeter closes at once)


def as_bytes(value):
    """A YAML scalar as the suite's own harness sends it: its UTF-8 bytes."""
    return ("" if value is None else str(value)).encode("utf-8")


def body_for(headers):
    """The body a message with these fields carries, as the suite's compliant reading has it:
    a last chunk if any Transfer-Encoding is present, else Content-Length bytes."""
    names = {as_bytes(h["name"]).strip().lower(): as_bytes(h.get("value")) for h in headers}
    if any(b"transfer-encoding" in n for n in names):
        return b"0\r\n\r\n"
    length = names.get(b"content-length", b"").strip()
    return b"x" * int(length) if length.isdigit() and int(length) <= 65536 else b""


def request_bytes(case):
    version = as_bytes(case.get("version"))
    line = as_bytes(case["method"]) + b" " + as_bytes(case["uri"])
    line += (b" " + version) if version else b""
    headers = case.get("headers") or []
    fields = b"".join(as_bytes(h["name"]) + b": " + as_bytes(h.get("value")) + b"\r\n" for h in headers)
    if not any(as_bytes(h["name"]).lower() == b"host" for h in headers):
        fields = b"Host: suite\r\n" + fields
    return line + b"\r\n" + fields + b"\r\n" + body_for(headers)


def exchange(port, payload):
    """(status or None, closed after the answer?) for one request on a fresh connection."""
    with socket.create_connection(("127.0.0.1", port), timeout=ANSWER_WAIT) as s:
        s.sendall(payload)
        got, closed, deadline = b"", False, time.monotonic() + ANSWER_WAIT
        while b"\r\n\r\n" not in got and time.monotonic() < deadline:
            try:
                chunk = s.recv(65536)
            except (socket.timeout, ConnectionResetError):
                break
            if not chunk:
                closed = True
                break
            got += chunk
        status = int(got.split(b" ", 2)[1]) if got.startswith(b"HTTP/1.") else None
        if status is not None and not closed:
            closed = drains_to_close(s)
        return status, closed


def drains_to_close(s):
    """Whether the server closes within CLOSE_WAIT (reading past the rest of the answer)."""
    s.settimeout(CLOSE_WAIT)
    try:
        while s.recv(65536):
            pass
        return True
    except socket.timeout:
        return False
    except ConnectionResetError:
        return True


# Compliant vectors greeter refuses on purpose, each where the RFC (or a limit) decides and
# the suite is lenient; docs/http.md says the same.
DELIBERATE = {
    "Compliant URL": "a '#' fragment in the target is 400 (RFC 9112 §3.2, RFC 3986)",
    "International in URI": "raw non-ASCII bytes in the target are 400 (RFC 9112 §3.2)",
    "Empty URI": "an empty request-target is 400 (RFC 9112 §3.2: origin-form starts with '/')",
    "Transfer-Encoding with a param: chunked;custom_param":
        "a transfer-parameter needs '=' (RFC 9110 §10.1.4); chunked takes none",
    "TE with custom parameters OK": "a transfer-parameter needs '=' (RFC 9110 §10.1.4)",
    "Large Size OK": "Content-Length 4000000 is over --max-body-bytes: 413",
}


def verdict(tier, status, closed):
    """Whether the answer is what the tier asks of an origin server."""
    if tier == "Severe":
        return status == 400 and closed
    if tier == "Ambiguous":
        return status is not None and closed
    if tier == "Compliant":
        return status is not None and not 400 <= status < 500 or status in (404, 405)
    return True


def describe(status, closed):
    answer = "no answer" if status is None else str(status)
    return f"{answer}, {'closed' if closed else 'kept open'}"


def main():
    port, suite = int(sys.argv[1]), sys.argv[2]
    tally, missed = {}, 0
    for path in sorted(glob.glob(os.path.join(suite, "*.yaml"))):
        for case in yaml.safe_load(open(path, encoding="utf-8")) or []:
            tier = case["expected"]["tier"]
            status, closed = exchange(port, request_bytes(case))
            ok = verdict(tier, status, closed)
            counts = tally.setdefault(tier, {"met": 0, "all": 0, "answers": {}})
            counts["all"] += 1
            counts["met"] += ok
            key = describe(status, closed)
            counts["answers"][key] = counts["answers"].get(key, 0) + 1
            if ok or tier == "Acceptable":
                continue
            why = DELIBERATE.get(case["name"])
            if why:
                print(f"deliberate, {tier}: {case['name']!r}: {key}: {why}")
            else:
                missed += 1
                print(f"MISSED {tier}: {os.path.basename(path)}: {case['name']!r}: {key}")
    for tier in ("Severe", "Ambiguous", "Compliant", "Acceptable"):
        c = tally.get(tier, {"met": 0, "all": 0, "answers": {}})
        answers = "; ".join(f"{n}x {k}" for k, n in sorted(c["answers"].items()))
        print(f"{tier}: {c['met']}/{c['all']} as the tier asks ({answers})")
    sys.exit(1 if missed else 0)


if __name__ == "__main__":
    main()
