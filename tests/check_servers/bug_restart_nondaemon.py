"""A chat server whose threads are not daemons: SIGINT and SIGTERM leave it running.

Protocol: the tutorial NICK handshake (see ok_nick.py): b"NICK", the client's first chunk is its name,
"NAME joined!" / "Connected to server!", lines relayed unchanged to the others, "NAME left!".
A printer thread writes the log lines from a queue (so that they do not interleave).

Bug: every thread is started without daemon=True and nothing ever stops them. Ctrl-C (SIGINT) ends the
main thread, but the process then waits for the printer thread and the client threads for ever. SIGTERM
only sets a `stopping` flag that the printer checks between two lines, while it waits in queue.get():
nothing stops. It must be killed (SIGKILL).
Expected verdicts: restart fails (does not exit: threads not daemon).
"""

import queue
import signal
import socket
import sys
import threading

HOST = "127.0.0.1"
PORT = int(sys.argv[1]) if len(sys.argv) > 1 else 55555
OUTBOX_LIMIT = 4 << 20  # bytes waiting for one client before it counts as too slow
MAX_LINE = 1 << 20
log_lines = queue.Queue()


stopping = False


def printer():
    while not stopping:
        print(log_lines.get(), flush=True)  # waits here for ever once nobody logs


def stop(signum, frame):
    global stopping
    stopping = True


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
            log_lines.put("a client is too slow: disconnecting it")
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
    writer_thread = threading.Thread(target=writer, args=(conn, outbox), daemon=False)
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
        log_lines.put(f"{name.decode(errors='replace')} joined from {address}")
        broadcast(name + b" joined!\n")
        outbox.put(b"Connected to server!\n")
        for line in lines_of(conn, rest):
            if line.strip():
                broadcast(clean(line) + b"\n", conn)
    except OSError as error:
        log_lines.put(f"{address}: {error}")
    finally:
        with clients_lock:
            known = clients.pop(conn, None) is not None
        outbox.close()
        if known:
            broadcast(name + b" left!\n")
            log_lines.put(f"{name.decode(errors='replace')} left")
            writer_thread.join(5)
        conn.close()


def main():
    threading.Thread(target=printer).start()  # BUG: not a daemon, never stopped
    signal.signal(signal.SIGTERM, stop)
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind((HOST, PORT))
    server.listen()
    log_lines.put(f"Server is listening on {HOST}:{PORT}")
    try:
        while True:
            conn, address = server.accept()
            threading.Thread(target=handle, args=(conn, address), daemon=False).start()
    except KeyboardInterrupt:
        log_lines.put("bye")
    finally:
        server.close()


if __name__ == "__main__":
    main()
