"""A correct chat server whose protocol is one JSON object per line (a protocol netlab check does not know).

Protocol: the server greets with {"type": "hello", "want": "join"}; the client sends {"type": "join",
"name": NAME}, then {"type": "say", "text": TEXT}; the others get {"type": "said", "from": NAME, "text":
TEXT}, {"type": "joined", ...} and {"type": "left", ...}. A line that is not such an object gets
{"type": "error", ...} and is otherwise ignored.

Bug: none. netlab check must say it did not recognise the protocol (quoting the first bytes), run only the
checks that need no dialect (connect-close, silent-client, clean-disconnect, many-clients, restart: they
pass) and skip every other one with that reason, never fail.
"""

import json
import socket
import sys
import threading

HOST = "127.0.0.1"
PORT = int(sys.argv[1]) if len(sys.argv) > 1 else 55555
OUTBOX_LIMIT = 4 << 20  # bytes waiting for one client before it counts as too slow
MAX_LINE = 1 << 20

clients = {}  # socket -> Outbox
clients_lock = threading.Lock()


class Outbox:
    """Bytes waiting for one client; its writer thread sends them."""

    def __init__(self):
        self.cond = threading.Condition()
        self.chunks = []
        self.size = 0
        self.closed = False

    def put(self, data):
        with self.cond:
            if self.closed or self.size + len(data) > OUTBOX_LIMIT:
                return False
            self.chunks.append(data)
            self.size += len(data)
            self.cond.notify()
            return True

    def take(self):
        with self.cond:
            while not self.chunks and not self.closed:
                self.cond.wait()
            data = b"".join(self.chunks)
            self.chunks.clear()
            self.size = 0
            return data or None

    def close(self):
        with self.cond:
            self.closed = True
            self.cond.notify()


def writer(conn, outbox):
    while (data := outbox.take()) is not None:
        try:
            conn.sendall(data)
        except OSError:
            kick(conn)
            break


def kick(conn):
    try:
        conn.shutdown(socket.SHUT_RDWR)  # the reader sees the end and cleans up
    except OSError:
        pass


def broadcast(data, sender=None):
    with clients_lock:
        targets = [(c, box) for c, box in clients.items() if c is not sender]
    for conn, box in targets:
        if not box.put(data):
            print("a client is too slow: disconnecting it", flush=True)
            kick(conn)


def lines_of(conn, buffer):
    """Yield each complete line (without its newline) sent by `conn`."""
    while True:
        while b"\n" in buffer:
            line, _, buffer = buffer.partition(b"\n")
            yield line
        if len(buffer) > MAX_LINE:
            return
        chunk = conn.recv(65536)
        if not chunk:
            return
        buffer += chunk


def send_json(outbox, **fields):
    outbox.put(json.dumps(fields).encode() + b"\n")


def broadcast_json(sender=None, **fields):
    broadcast(json.dumps(fields).encode() + b"\n", sender)


def handle(conn, address):
    outbox = Outbox()
    writer_thread = threading.Thread(target=writer, args=(conn, outbox), daemon=True)
    writer_thread.start()
    name = None
    try:
        outbox.put(b'{"type": "hello", "want": "join"}\n')
        for line in lines_of(conn, b""):
            try:
                message = json.loads(line)
                kind = message["type"]
            except (ValueError, TypeError, KeyError):
                send_json(outbox, type="error", error="send one JSON object per line")
                continue
            if kind == "join" and name is None and isinstance(message.get("name"), str):
                name = message["name"]
                with clients_lock:
                    clients[conn] = outbox
                print(f"{name} joined from {address}", flush=True)
                broadcast_json(conn, type="joined", name=name)
                send_json(outbox, type="welcome", name=name)
            elif kind == "say" and name is not None:
                text = str(message.get("text", "")).replace("\x1b", "")
                broadcast_json(conn, type="said", text=text, **{"from": name})
            else:
                send_json(outbox, type="error", error=f"unexpected {kind!r}")
    except OSError as error:
        print(f"{address}: {error}", flush=True)
    finally:
        with clients_lock:
            known = clients.pop(conn, None) is not None
        outbox.close()
        if known:
            broadcast_json(type="left", name=name)
        writer_thread.join(5)
        conn.close()


def main():
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind((HOST, PORT))
    server.listen()
    print(f"Server is listening on {HOST}:{PORT}", flush=True)
    try:
        while True:
            conn, address = server.accept()
            threading.Thread(target=handle, args=(conn, address), daemon=True).start()
    except KeyboardInterrupt:
        print("bye", flush=True)
    finally:
        server.close()


if __name__ == "__main__":
    main()
