#!/usr/bin/env python3
"""Regenerates the golden replies in this directory (*.hex).

Starts two dnsmasq servers on the loopback interface, with no upstream
servers and without /etc/hosts, so they answer only from the records below:
127.0.0.1:53530 serves tern.test as local data, 127.0.0.1:53531 serves
zone.test authoritatively (its negative answers carry an SOA). Each query is
sent over UDP (or TCP) and the raw reply written as hex. Then the reply is
replayed, byte for byte but for the ID, from a small server on
127.0.0.1:53532 to `dig`, and what dig printed goes into the file's comment
header: the expected values in golden.rs were read from those comments.

Needs dnsmasq (dnsmasq-base) and dig (bind9-dnsutils). Run from anywhere:
    python3 dns/tests/data/capture.py
"""

import os
import socket
import struct
import subprocess
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
LOCAL_PORT, AUTH_PORT, REPLAY_PORT = 53530, 53531, 53532

LOCAL_CONF = """\
port={port}
listen-address=127.0.0.1
bind-interfaces
no-resolv
no-hosts
addn-hosts={hosts}
local=/tern.test/
local-ttl=300
host-record=host.tern.test,192.0.2.10,2001:db8::10
cname=www.tern.test,web.tern.test
cname=web.tern.test,host.tern.test
mx-host=tern.test,mail.tern.test,10
mx-host=tern.test,backup.tern.test,20
txt-record=txt.tern.test,"hello world","v=spf1 -all"
srv-host=_http._tcp.tern.test,host.tern.test,8080,1,5
ptr-record=1.2.0.192.in-addr.arpa,ptr.tern.test
"""

AUTH_CONF = """\
port={port}
listen-address=127.0.0.1
bind-interfaces
no-resolv
no-hosts
auth-server=ns.zone.test,127.0.0.1
auth-zone=zone.test
auth-soa=2024010101,hostmaster.zone.test,1200,180,1209600
host-record=in.zone.test,192.0.2.50
"""

TYPES = {"A": 1, "AAAA": 28, "CNAME": 5, "MX": 15, "TXT": 16, "SRV": 33, "PTR": 12, "SOA": 6}

# file, name, type, EDNS payload (None: no OPT), transport
CASES = [
    ("a", "host.tern.test", "A", 1232, "udp"),
    ("aaaa", "host.tern.test", "AAAA", 1232, "udp"),
    ("cname_chain", "www.tern.test", "A", 1232, "udp"),
    ("mx", "tern.test", "MX", 1232, "udp"),
    ("txt", "txt.tern.test", "TXT", None, "udp"),
    ("srv", "_http._tcp.tern.test", "SRV", 1232, "udp"),
    ("ptr", "1.2.0.192.in-addr.arpa", "PTR", 1232, "udp"),
    ("nxdomain_soa", "nope.zone.test", "A", 1232, "udp"),
    ("nodata_soa", "in.zone.test", "AAAA", 1232, "udp"),
    ("nxdomain_local", "nope.tern.test", "A", None, "udp"),
    ("truncated", "many.tern.test", "A", None, "udp"),
    ("many_tcp", "many.tern.test", "A", None, "tcp"),
]

QUERY_ID = 0x7E57


def port_for(name):
    return AUTH_PORT if name.endswith("zone.test") else LOCAL_PORT


def query(name, rtype, payload):
    msg = struct.pack(">HHHHHH", QUERY_ID, 0x0100, 1, 0, 0, 1 if payload else 0)
    for label in name.split("."):
        msg += bytes([len(label)]) + label.encode()
    msg += b"\x00" + struct.pack(">HH", TYPES[rtype], 1)
    if payload:
        msg += b"\x00" + struct.pack(">HHIH", 41, payload, 0, 0)
    return msg


def read_framed(sock):
    data = b""
    while len(data) < 2 or len(data) < 2 + struct.unpack(">H", data[:2])[0]:
        chunk = sock.recv(65535)
        if not chunk:
            break
        data += chunk
    return data


def exchange(port, msg, transport):
    """The raw reply; over TCP with its length prefix."""
    if transport == "udp":
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.settimeout(2)
            s.sendto(msg, ("127.0.0.1", port))
            return s.recv(65535)
    with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
        s.sendall(struct.pack(">H", len(msg)) + msg)
        return read_framed(s)


def replay_to_dig(reply, name, rtype, payload, transport):
    """What dig prints when given exactly `reply` (ID patched) for its query."""
    body = reply[2:] if transport == "tcp" else reply

    def serve():
        if transport == "udp":
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                s.bind(("127.0.0.1", REPLAY_PORT))
                ready.set()
                s.settimeout(5)
                q, peer = s.recvfrom(65535)
                s.sendto(q[:2] + body[2:], peer)
        else:
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                s.bind(("127.0.0.1", REPLAY_PORT))
                s.listen(1)
                ready.set()
                s.settimeout(5)
                conn, _ = s.accept()
                with conn:
                    q = read_framed(conn)[2:]
                    out = q[:2] + body[2:]
                    conn.sendall(struct.pack(">H", len(out)) + out)

    ready = threading.Event()
    server = threading.Thread(target=serve)
    server.start()
    ready.wait()
    args = ["dig", "@127.0.0.1", "-p", str(REPLAY_PORT), name, rtype, "+nocmd", "+nostats",
            "+tries=1", "+time=3"]
    args += ["+edns=0", f"+bufsize={payload}"] if payload else ["+noedns"]
    args += ["+tcp"] if transport == "tcp" else ["+ignore"]
    out = subprocess.run(args, capture_output=True, text=True, check=False).stdout
    server.join()
    return out


def main():
    with tempfile.TemporaryDirectory() as tmp:
        os.chmod(tmp, 0o755)  # dnsmasq reads it after dropping privileges
        hosts = os.path.join(tmp, "many.hosts")
        with open(hosts, "w") as f:
            for i in range(1, 61):
                f.write(f"192.0.2.{100 + i} many.tern.test\n")
        servers = []
        for conf_text, port in ((LOCAL_CONF, LOCAL_PORT), (AUTH_CONF, AUTH_PORT)):
            conf = os.path.join(tmp, f"dnsmasq-{port}.conf")
            with open(conf, "w") as f:
                f.write(conf_text.format(port=port, hosts=hosts))
            servers.append(subprocess.Popen(["dnsmasq", "-C", conf, "-k", "--log-facility=-"],
                                            stderr=subprocess.DEVNULL, stdout=subprocess.DEVNULL))
        try:
            time.sleep(1)
            for fname, name, rtype, payload, transport in CASES:
                reply = exchange(port_for(name), query(name, rtype, payload), transport)
                edns = f"EDNS payload {payload}" if payload else "no EDNS"
                lines = [f"# Reply from dnsmasq 2.90 to: {name} {rtype}, {edns}, over {transport.upper()}",
                         f"# query ID {QUERY_ID:#06x}, RD set"]
                if transport == "tcp":
                    lines.append("# TCP framing kept: the first two bytes are the length prefix")
                lines.append("# dig's reading of these exact bytes (replayed to it, ID patched):")
                shown = replay_to_dig(reply, name, rtype, payload, transport)
                lines += ["#   " + l if l else "#" for l in shown.splitlines()]
                hexed = reply.hex()
                lines += [hexed[i:i + 64] for i in range(0, len(hexed), 64)]
                with open(os.path.join(HERE, fname + ".hex"), "w") as f:
                    f.write("\n".join(lines) + "\n")
                print(f"{fname}: {len(reply)} bytes")
        finally:
            for server in servers:
                server.terminate()
                server.wait()


if __name__ == "__main__":
    main()
