"""A chat server that listens on another port than the one it is given (an off-by-one).

Protocol: a raw relay: every line goes unchanged to every other client.

Bug: `server.bind((HOST, PORT + 1))`: netlab check --port PORT waits for PORT to listen, which never happens
(the server itself runs fine, on the wrong port).
Expected verdicts: "did not start" (never listened on PORT), every check skips, exit status 1.
"""

import socket
import sys
import threading

HOST = "127.0.0.1"
PORT = int(sys.argv[1]) if len(sys.argv) > 1 else 55555
clients = []
lock = threading.Lock()


def handle(conn):
    buffer = b""
    with lock:
        clients.append(conn)
    try:
        while data := conn.recv(4096):
            buffer += data
            while b"\n" in buffer:
                line, _, buffer = buffer.partition(b"\n")
                with lock:
                    targets = [client for client in clients if client is not conn]
                for client in targets:
                    client.sendall(line + b"\n")
    except OSError:
        pass
    finally:
        with lock:
            clients.remove(conn)
        conn.close()


def main():
    server = socket.create_server((HOST, PORT + 1))  # BUG: not the port it was asked for
    print(f"listening on {HOST}:{PORT + 1}", flush=True)
    try:
        while True:
            conn, _ = server.accept()
            threading.Thread(target=handle, args=(conn,), daemon=True).start()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
