"""A correct chat server whose messages are 4-byte length-prefixed frames (a protocol netlab check does not know).

Protocol: every message is a 4-byte big-endian length and that many bytes of UTF-8. The server greets with
the frame "HELLO"; the client's first frame is its name; every later frame reaches every other client as
the frame "NAME: text"; joins and leaves are frames too. A frame longer than 1 MiB (such as a text line
read as a length) closes that client.

Bug: none. netlab check must say it did not recognise the protocol (quoting the first bytes), run only the
checks that need no dialect (connect-close, silent-client, clean-disconnect, many-clients, restart: they
pass) and skip every other one with that reason, never fail.
"""

import socket
import struct
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


def frame(payload):
    return struct.pack("!I", len(payload)) + payload


def read_exactly(conn, size):
    data = b""
    while len(data) < size:
        chunk = conn.recv(size - len(data))
        if not chunk:
            return None
        data += chunk
    return data


def read_frame(conn):
    header = read_exactly(conn, 4)
    if header is None:
        return None
    (size,) = struct.unpack("!I", header)
    if size > MAX_LINE:
        return None
    return read_exactly(conn, size)


def handle(conn, address):
    outbox = Outbox()
    writer_thread = threading.Thread(target=writer, args=(conn, outbox), daemon=True)
    writer_thread.start()
    name = None
    try:
        outbox.put(frame(b"HELLO"))
        name = read_frame(conn)
        if not name:
            return
        with clients_lock:
            clients[conn] = outbox
        print(f"{name!r} joined from {address}", flush=True)
        broadcast(frame(name + b" joined"), conn)
        while (payload := read_frame(conn)) is not None:
            broadcast(frame(name + b": " + payload.replace(b"\x1b", b"")), conn)
    except OSError as error:
        print(f"{address}: {error}", flush=True)
    finally:
        with clients_lock:
            known = clients.pop(conn, None) is not None
        outbox.close()
        if known:
            broadcast(frame(name + b" left"))
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
