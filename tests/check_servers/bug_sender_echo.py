"""A chat server that sends every line back to its sender too.

Protocol: the tutorial NICK handshake (see ok_nick.py): b"NICK", the client's first chunk is its name,
"NAME joined!" / "Connected to server!", lines relayed unchanged to the others, "NAME left!".

Bug: `broadcast(line)` goes to every client, the sender included (many assignments ask to exclude it).
Everything else is done right.
Expected verdicts: sender-echo warns; nothing fails.
"""

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


def clean(line):
    return line.replace(b"\x1b", b"")


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


def handle(conn, address):
    outbox = Outbox()
    writer_thread = threading.Thread(target=writer, args=(conn, outbox), daemon=True)
    name = None
    try:
        conn.sendall(b"NICK")
        first = conn.recv(1024)
        if not first:
            return
        raw_name, _, rest = first.partition(b"\n")
        name = raw_name.strip() or f"guest{address[1]}".encode()
        with clients_lock:
            clients[conn] = outbox
        writer_thread.start()
        print(f"{name.decode(errors='replace')} joined from {address}", flush=True)
        broadcast(name + b" joined!\n")
        outbox.put(b"Connected to server!\n")
        for line in lines_of(conn, rest):
            if line.strip():
                broadcast(clean(line) + b"\n")  # BUG: the sender gets its own line back
    except OSError as error:
        print(f"{address}: {error}", flush=True)
    finally:
        with clients_lock:
            known = clients.pop(conn, None) is not None
        outbox.close()
        if known:
            broadcast(name + b" left!\n")
            print(f"{name.decode(errors='replace')} left", flush=True)
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
