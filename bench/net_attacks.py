"""Rerun the network attacks of issue 11 against a broker process and print figures.

    python -m bench.net_attacks slowloris --connections 20 --port 19310
    python -m bench.net_attacks fill --connections 20 --port 19311
    python -m bench.net_attacks fds --connections 5000 --port 19312 --soft 1024 --hard 4096

``slowloris``: each connection announces a 100 MiB frame, then sends a byte a
second; prints the broker's RSS over time and when the connections close.
``fill``: each connection sends 99 MiB of a 100 MiB frame at full speed, then
stalls; prints RSS (bounded by ``queued.max.request.bytes``).
``fds``: the broker runs with a lowered fd limit; opens connections until
accept fails, checks that it keeps serving, closes them and checks that the
backlog is accepted.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import resource
import selectors
import socket
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from broker.wire.generated.api_versions_request import ApiVersionsRequest
from broker.wire.protocol import RequestHeader, encode_request

REPO = Path(__file__).resolve().parents[1]
MIB = 1024 * 1024


def start_broker(
    port: int, data: str, fds: tuple[int, int] | None = None
) -> subprocess.Popen[bytes]:
    def preexec() -> None:
        if fds is not None:
            resource.setrlimit(resource.RLIMIT_NOFILE, fds)

    cmd = [sys.executable, "-m", "broker", "serve"]
    cmd += [
        "--override",
        f"listeners=PLAINTEXT://127.0.0.1:{port}",
        "--override",
        f"log.dirs={data}",
    ]
    with open(f"{data}.log", "wb") as log:
        proc = subprocess.Popen(cmd, cwd=REPO, preexec_fn=preexec, stderr=log)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1) as s:
            if api_versions(s, 0, 5):
                return proc
        time.sleep(0.2)
    raise SystemExit("broker did not start")


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def api_versions(sock: socket.socket, corr: int, timeout: float) -> bool:
    sock.settimeout(timeout)
    try:
        sock.sendall(encode_request(RequestHeader(18, 3, corr, "t"), ApiVersionsRequest("n", "1")))
        data = b""
        while len(data) < 4 or len(data) < 4 + struct.unpack(">i", data[:4])[0]:
            chunk = sock.recv(65536)
            if not chunk:
                return False
            data += chunk
        return True
    except OSError:
        return False


def closed(sock: socket.socket) -> bool:
    sock.setblocking(False)
    try:
        return sock.recv(1) == b""
    except BlockingIOError:
        return False
    except OSError:
        return True


def slowloris(args: argparse.Namespace, proc: subprocess.Popen[bytes]) -> None:
    socks = [socket.create_connection(("127.0.0.1", args.port)) for _ in range(args.connections)]
    for s in socks:
        s.sendall(struct.pack(">i", 100 * MIB))
    start = time.monotonic()
    open_ = list(socks)
    while time.monotonic() - start < args.seconds and open_:
        for s in list(open_):
            try:
                s.send(b"x")
            except OSError:
                open_.remove(s)
        open_ = [s for s in open_ if not closed(s)]
        print(
            f"t={time.monotonic() - start:5.1f}s rss={rss_mib(proc.pid):7.1f} MiB open={len(open_)}"
        )
        time.sleep(1)
    with socket.create_connection(("127.0.0.1", args.port)) as s:
        print("a new client is served:", api_versions(s, 1, 5))


def fill(args: argparse.Namespace, proc: subprocess.Popen[bytes]) -> None:
    socks = [socket.create_connection(("127.0.0.1", args.port)) for _ in range(args.connections)]
    chunk = b"\0" * MIB
    for s in socks:
        s.setblocking(False)
        with contextlib.suppress(BlockingIOError):
            s.send(struct.pack(">i", 100 * MIB))
    sent = dict.fromkeys(socks, 0)
    start = time.monotonic()
    while time.monotonic() - start < args.seconds:
        for s in socks:
            if sent[s] < 99 * MIB:
                with contextlib.suppress(BlockingIOError, OSError):
                    sent[s] += s.send(chunk[: 99 * MIB - sent[s]])
        if int((time.monotonic() - start) * 10) % 10 == 0:
            total = sum(sent.values()) / MIB
            print(
                f"t={time.monotonic() - start:5.1f}s rss={rss_mib(proc.pid):7.1f} MiB sent={total:.0f} MiB"
            )
            time.sleep(0.1)
    with socket.create_connection(("127.0.0.1", args.port)) as s:
        print("a new small request is served:", api_versions(s, 1, 5))


def fds(args: argparse.Namespace, proc: subprocess.Popen[bytes]) -> None:
    socks = []
    for i in range(args.connections):
        try:
            s = socket.create_connection(("127.0.0.1", args.port))
        except OSError as exc:
            print(f"connect #{i} failed: {exc}")
            break
        s.sendall(encode_request(RequestHeader(18, 3, i, "t"), ApiVersionsRequest("n", "1")))
        socks.append(s)
    answered: set[socket.socket] = set()
    by_fd = {s.fileno(): s for s in socks}
    with selectors.DefaultSelector() as sel:
        for s in socks:
            sel.register(s, selectors.EVENT_READ)
        while events := sel.select(2):
            for key, _ in events:
                sock = by_fd[key.fd]
                sel.unregister(sock)
                with contextlib.suppress(OSError):
                    if sock.recv(65536):
                        answered.add(sock)
    alive = proc.poll() is None
    waiting_n = len(socks) - len(answered)
    print(f"opened {len(socks)}: answered {len(answered)}, waiting {waiting_n}, alive: {alive}")
    if not alive:
        return
    some = list(answered)[:10]
    print("accepted connections still served:", all(api_versions(s, 99, 5) for s in some))
    for s in answered:
        s.close()
    waiting = [s for s in socks if s not in answered][:100]
    ok = sum(1 for s in waiting if api_versions_reply(s, 30))
    print(f"after closing the answered ones: {ok} of {len(waiting)} waiting connections answered")


def api_versions_reply(sock: socket.socket, timeout: float) -> bool:
    sock.setblocking(True)
    sock.settimeout(timeout)
    try:
        return bool(sock.recv(65536))
    except OSError:
        return False


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("attack", choices=["slowloris", "fill", "fds"])
    parser.add_argument("--connections", type=int, default=20)
    parser.add_argument("--port", type=int, default=19310)
    parser.add_argument("--seconds", type=float, default=40)
    parser.add_argument("--soft", type=int, default=1024)
    parser.add_argument("--hard", type=int, default=4096)
    args = parser.parse_args()
    resource.setrlimit(resource.RLIMIT_NOFILE, (resource.getrlimit(resource.RLIMIT_NOFILE)[1],) * 2)
    with tempfile.TemporaryDirectory() as tmp:
        data = os.path.join(tmp, "data")
        proc = start_broker(
            args.port, data, (args.soft, args.hard) if args.attack == "fds" else None
        )
        try:
            print(f"broker pid {proc.pid}, rss at start {rss_mib(proc.pid):.1f} MiB")
            {"slowloris": slowloris, "fill": fill, "fds": fds}[args.attack](args, proc)
        finally:
            if proc.poll() is None:
                proc.terminate()
            print("broker exit code:", proc.wait(30))
            log = Path(f"{data}.log").read_text().splitlines()
            interesting = [line for line in log if "WARNING" in line or "Error" in line]
            print(f"broker log: {len(log)} lines; warnings/errors (first 5):")
            for line in interesting[:5]:
                print("  ", line[:200])


if __name__ == "__main__":
    main()
