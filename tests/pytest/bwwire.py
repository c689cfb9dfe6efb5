# SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
"""ibv_dmabuf_bw's wire protocol (tools/bw/bw_net.c, bw_proto.c) for host tests that play the
peer: framed big-endian messages, the HELLO parameters, and a fake server that answers a real
client's HELLO and records what the client sends next.

Not a test module itself (pytest collects test_*.py only).
"""
import socket
import struct
import threading

MAGIC = 0x444D4257  # "DMBW"
PROTO = 2
HELLO, SETUP, READY, START, GO, HEARTBEAT, DONE, CHECK, BYE, ERROR = range(1, 11)

# struct params, in the order it travels (bw_proto.c param_fields)
PARAMS = [("op", "I"), ("all", "I"), ("size", "Q"), ("iters", "Q"), ("depth", "I"),
          ("qps", "I"), ("paths", "I"), ("check", "I"), ("duration", "I"), ("margin", "I"),
          ("bidir", "I")]
PARAMS_FMT = ">" + "".join(f for _, f in PARAMS)
DEFAULTS = dict(op=0, all=0, size=65536, iters=5000, depth=128, qps=1, paths=1, check=0,
                duration=0, margin=0, bidir=0)


def frame(mtype, body=b"", version=PROTO):
    return struct.pack(">IHHI", MAGIC, version, mtype, len(body)) + body


def hello(**params):
    p = dict(DEFAULTS, **params)
    return frame(HELLO, struct.pack(PARAMS_FMT, *(p[n] for n, _ in PARAMS)))


def parse_hello(body):
    return dict(zip((n for n, _ in PARAMS), struct.unpack(PARAMS_FMT, body)))


def string(body, pos=0):
    (n,) = struct.unpack_from(">H", body, pos)
    return body[pos + 2:pos + 2 + n].decode()


def _read_exact(sock, n):
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            return None
        buf += chunk
    return buf


def read_msg(sock):
    """(type, body) of the next message, or None at EOF."""
    hdr = _read_exact(sock, 12)
    if hdr is None:
        return None
    magic, version, mtype, length = struct.unpack(">IHHI", hdr)
    assert magic == MAGIC and version == PROTO, (hex(magic), version)
    body = _read_exact(sock, length)
    assert body is not None, "EOF inside a message"
    return mtype, body


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class FakeServer(threading.Thread):
    """Listens on a free port; answers the client's HELLO with `reply` (a dict of params, or
    None: the client's own, so they agree) and records the client's HELLO (`client_hello`)
    and every message it sends afterwards (`after`, (type, body) pairs) until EOF."""

    def __init__(self, reply=None, timeout=20):
        super().__init__(daemon=True)
        self.port = free_port()
        self.reply = reply
        self.timeout = timeout
        self.client_hello = None
        self.after = []
        self.eof = False
        self.ready = threading.Event()

    def run(self):
        ls = socket.socket()
        ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        ls.bind(("127.0.0.1", self.port))
        ls.listen(1)
        ls.settimeout(self.timeout)
        self.ready.set()
        try:
            c, _ = ls.accept()
        except OSError:
            return
        finally:
            ls.close()
        with c:
            c.settimeout(self.timeout)
            msg = read_msg(c)
            if msg is None or msg[0] != HELLO:
                return
            self.client_hello = parse_hello(msg[1])
            reply = self.client_hello if self.reply is None else dict(DEFAULTS, **self.reply)
            c.sendall(hello(**reply))
            while True:
                msg = read_msg(c)
                if msg is None:
                    self.eof = True
                    return
                self.after.append(msg)

    def start(self):
        super().start()
        self.ready.wait(5)
        return self
