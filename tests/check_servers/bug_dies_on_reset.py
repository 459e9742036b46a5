"""A single-threaded select() chat server that dies when a client resets its connection.

Protocol: a raw relay (see ok_raw.py): no handshake; every line goes unchanged to every other client;
"*** a client left (N online)" when one goes.

Bug: `data = sock.recv(4096)` (and `sock.send(...)`) with no `except ConnectionResetError`. A clean close
(FIN) is handled (recv returns b""), but a reset (RST: a client killed, a laptop lid closed) raises in the
only thread: the whole server exits with a traceback. Otherwise it is a careful select() server:
non-blocking sockets, lines framed, a bounded output buffer per client, nobody waits for anybody.
Expected verdicts: abrupt-disconnect fails (the server dies). Any other check whose clients happen to
close with unread bytes in their buffers (the kernel then sends RST, not FIN) kills it too.
"""

import select
import socket
import sys

HOST = "127.0.0.1"
PORT = int(sys.argv[1]) if len(sys.argv) > 1 else 55555
OUT_LIMIT = 4 << 20


class Peer:
    def __init__(self, sock):
        self.sock = sock
        self.inbox = b""
        self.outbox = bytearray()


peers = {}  # socket -> Peer


def broadcast(data, sender=None):
    for peer in list(peers.values()):
        if peer is not sender:
            if len(peer.outbox) + len(data) > OUT_LIMIT:
                drop(peer)  # too slow
            else:
                peer.outbox += data


def drop(peer):
    del peers[peer.sock]
    peer.sock.close()
    print("a client left", flush=True)
    broadcast(f"*** a client left ({len(peers)} online)\n".encode())


def on_data(peer, data):
    peer.inbox += data
    while b"\n" in peer.inbox:
        line, _, peer.inbox = peer.inbox.partition(b"\n")
        if line.strip():
            broadcast(line.replace(b"\x1b", b"") + b"\n", peer)
    if len(peer.inbox) > 1 << 20:
        drop(peer)


def main():
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind((HOST, PORT))
    server.listen()
    server.setblocking(False)
    print(f"listening on {HOST}:{PORT}", flush=True)
    while True:
        writers = [sock for sock, peer in peers.items() if peer.outbox]
        readable, writable, _ = select.select([server, *peers], writers, [])
        for sock in readable:
            if sock is server:
                conn, address = server.accept()
                conn.setblocking(False)
                peers[conn] = Peer(conn)
                print(f"a client joined from {address}", flush=True)
                continue
            peer = peers.get(sock)
            if peer is None:
                continue
            data = sock.recv(4096)  # BUG: ConnectionResetError is not caught: the server dies
            if data:
                on_data(peer, data)
            else:
                drop(peer)
        for sock in writable:
            peer = peers.get(sock)
            if peer is not None and peer.outbox:
                sent = sock.send(peer.outbox)  # BUG: same here
                del peer.outbox[:sent]


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        pass
