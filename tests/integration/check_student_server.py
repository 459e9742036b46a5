"""A students'-style chat server with one classic bug at a time, for `netlab check`'s tests (not a test module).

    python3 check_student_server.py PORT [--greeting NICK|NAME|prompt|none|json] [--bug BUG]...

Written the way students write it: an accept loop, a thread per client, a global client list, a broadcast
that calls `sendall` on every other client from the sender's thread, `recv(1024)` relayed as it comes
with a prefix. Bugs (each the classic one its name says): echo, chunk-prefix (the prefix per recv, so
three lines in one segment look like one message), decode-chunk (decode each recv chunk, strictly),
die-on-reset, busy-close (loop on an empty recv), dead-socket (a closed client stays in the list and a
failed send ends the broadcast), handshake-in-accept (the name is read in the accept loop).
"""

from __future__ import annotations

import argparse
import json
import socket
import sys
import threading

parser = argparse.ArgumentParser()
parser.add_argument("port", type=int)
parser.add_argument("--greeting", default="NICK")
parser.add_argument("--bug", action="append", default=[])
args = parser.parse_args()
BUGS = set(args.bug)
clients: list[socket.socket] = []
lock = threading.Lock()


def broadcast(data: bytes, sender: socket.socket | None) -> None:
    with lock:
        targets = list(clients)
    for client in targets:
        if client is sender and "echo" not in BUGS:
            continue
        try:
            client.sendall(data)
        except OSError:
            if "dead-socket" in BUGS:
                return  # the rest of the list never gets it
            with lock:
                if client in clients:
                    clients.remove(client)


def greet(sock: socket.socket) -> str:
    if args.greeting == "none":
        return ""
    if args.greeting == "json":
        sock.sendall(json.dumps({"type": "hello", "need": "name"}).encode() + b"\n")
        return ""
    sock.sendall(b"Enter your name: " if args.greeting == "prompt" else args.greeting.encode())
    return sock.recv(1024).decode("utf-8", errors="replace").strip()


def serve(sock: socket.socket, name: str | None) -> None:
    if name is None:
        try:
            name = greet(sock)
        except OSError:
            sock.close()
            return
    with lock:
        clients.append(sock)
    try:
        while True:
            try:
                data = sock.recv(1024)
            except ConnectionResetError:
                if "die-on-reset" in BUGS:
                    import os

                    os._exit(3)
                break
            if not data:
                if "busy-close" in BUGS:
                    while True:
                        if sock.recv(1024):
                            break
                if "dead-socket" in BUGS:
                    return  # never removed, never closed
                break
            if "decode-chunk" in BUGS:
                text = data.decode("ascii")  # UnicodeDecodeError ends this client's thread
                data = text.encode()
            if args.greeting == "json":
                broadcast(data, sock)
            elif "chunk-prefix" in BUGS or args.greeting in ("none",):
                broadcast(f"[{sock.getpeername()[1]}]: ".encode() + data, sock)
            else:
                lines = data.split(b"\n")
                broadcast(b"".join(f"{name}: ".encode() + line + b"\n" for line in lines if line), sock)
    finally:
        with lock:
            if sock in clients and "dead-socket" not in BUGS:
                clients.remove(sock)
        if "dead-socket" not in BUGS:
            sock.close()


def main() -> None:
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("127.0.0.1", args.port))
    server.listen(128)
    print(f"listening on {args.port}", file=sys.stderr)
    try:
        while True:
            sock, _ = server.accept()
            name = greet(sock) if "handshake-in-accept" in BUGS else None
            threading.Thread(target=serve, args=(sock, name), daemon=True).start()
    except KeyboardInterrupt:
        server.close()


main()
