"""A chat server that holds one global lock while it sends to every client.

Protocol: the tutorial NICK handshake (see ok_nick.py): b"NICK", the client's first chunk is its name,
"NAME joined!" / "Connected to server!", lines relayed unchanged to the others, "NAME left!".

Bug: `with lock: for client in clients: client.sendall(line)`, from the sender's thread. A client that
stops reading fills its socket buffers, sendall() blocks for good while holding the lock, and every other
sender then blocks on the lock: the whole chat freezes. Lines are framed, bytes relayed undecoded, the
handshake runs in the client's thread; with clients that read, it works.
Expected verdicts: slow-consumer fails.
"""

import socket
import sys
import threading

HOST = "127.0.0.1"
PORT = int(sys.argv[1]) if len(sys.argv) > 1 else 55555

clients = []
lock = threading.Lock()


def broadcast(data, sender=None):
    with lock:  # BUG: held while sending; one client that does not read blocks everyone
        for client in clients:
            if client is not sender:
                try:
                    client.sendall(data)
                except OSError:
                    pass  # its own thread notices and removes it


def handle(conn, address):
    name = None
    try:
        conn.sendall(b"NICK")
        first = conn.recv(1024)
        if not first:
            return
        name, _, buffer = first.partition(b"\n")
        name = name.strip() or b"guest"
        with lock:
            clients.append(conn)
        print(f"{name!r} joined from {address}", flush=True)
        broadcast(name + b" joined!\n")
        while True:
            while b"\n" in buffer:
                line, _, buffer = buffer.partition(b"\n")
                if line.strip():
                    broadcast(line.replace(b"\x1b", b"") + b"\n", conn)
            data = conn.recv(4096)
            if not data:
                break
            buffer += data
    except OSError as error:
        print(f"{address}: {error}", flush=True)
    finally:
        with lock:
            joined = conn in clients
            if joined:
                clients.remove(conn)
        conn.close()
        if joined:
            broadcast(name + b" left!\n")


def main():
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind((HOST, PORT))
    server.listen()
    print(f"listening on {HOST}:{PORT}", flush=True)
    try:
        while True:
            conn, address = server.accept()
            threading.Thread(target=handle, args=(conn, address), daemon=True).start()
    except KeyboardInterrupt:
        pass
    finally:
        server.close()


if __name__ == "__main__":
    main()
