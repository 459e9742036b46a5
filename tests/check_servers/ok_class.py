"""A correct chat server written as a class, with a plain-text name prompt and an address prefix.

Protocol: the server sends "Now, type your name and press enter\n"; the client's first line (or first
chunk without a newline) is its name. The newcomer gets "Welcome, NAME. Say something!", the others
"NAME joined". Every line is relayed to every other client as "('127.0.0.1', 33256) >>> text" (the
sender's address); "NAME left" when it goes.

Bug: none (lines framed, bytes relayed undecoded, escapes dropped, a bounded outbox and a writer thread per
client, handshake in the client's thread, daemon threads, SO_REUSEADDR).
Expected verdicts: every check passes (no fail, no warn).
"""

import socket
import sys
import threading


class Client:
    """One connection: its socket, its name and the bytes waiting to be sent to it."""

    LIMIT = 4 << 20

    def __init__(self, conn, address):
        self.conn = conn
        self.address = address
        self.name = b""
        self.pending = []
        self.size = 0
        self.closed = False
        self.cond = threading.Condition()

    def queue(self, data):
        with self.cond:
            if self.closed or self.size + len(data) > self.LIMIT:
                return False
            self.pending.append(data)
            self.size += len(data)
            self.cond.notify()
            return True

    def write_loop(self):
        while True:
            with self.cond:
                while not self.pending and not self.closed:
                    self.cond.wait()
                data, self.pending, self.size = b"".join(self.pending), [], 0
            if not data:
                return
            try:
                self.conn.sendall(data)
            except OSError:
                self.kick()
                return

    def finish(self):
        with self.cond:
            self.closed = True
            self.cond.notify()

    def kick(self):
        try:
            self.conn.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


class ChatServer:
    def __init__(self, host, port):
        self.address = (host, port)
        self.clients = []
        self.lock = threading.Lock()

    def broadcast(self, data, sender=None):
        with self.lock:
            targets = [client for client in self.clients if client is not sender]
        for client in targets:
            if not client.queue(data):
                client.kick()

    def read_lines(self, client, buffer):
        while True:
            while b"\n" in buffer:
                line, _, buffer = buffer.partition(b"\n")
                yield line
            if len(buffer) > 1 << 20:
                return
            chunk = client.conn.recv(65536)
            if not chunk:
                return
            buffer += chunk

    def serve_client(self, client):
        writer = threading.Thread(target=client.write_loop, daemon=True)
        joined = False
        try:
            client.conn.sendall(b"Now, type your name and press enter\n")
            first = client.conn.recv(1024)
            if not first:
                return
            name, _, rest = first.partition(b"\n")
            client.name = name.strip() or b"anonymous"
            with self.lock:
                self.clients.append(client)
            joined = True
            writer.start()
            print(f"{client.name!r} joined from {client.address}", flush=True)
            client.queue(b"Welcome, " + client.name + b". Say something!\n")
            self.broadcast(client.name + b" joined\n", client)
            prefix = f"{client.address} >>> ".encode()
            for line in self.read_lines(client, rest):
                if line.strip():
                    self.broadcast(prefix + line.replace(b"\x1b", b"") + b"\n", client)
        except OSError as error:
            print(f"{client.address}: {error}", flush=True)
        finally:
            client.finish()
            if joined:
                with self.lock:
                    self.clients.remove(client)
                self.broadcast(client.name + b" left\n")
                writer.join(5)
            client.conn.close()

    def run(self):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as server:
            server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            server.bind(self.address)
            server.listen()
            print("listening on", self.address, flush=True)
            while True:
                conn, address = server.accept()
                client = Client(conn, address)
                threading.Thread(target=self.serve_client, args=(client,), daemon=True).start()


if __name__ == "__main__":
    try:
        ChatServer("127.0.0.1", int(sys.argv[1]) if len(sys.argv) > 1 else 12345).run()
    except KeyboardInterrupt:
        print("server stopped", flush=True)
