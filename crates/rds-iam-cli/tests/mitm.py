#!/usr/bin/env python3
"""A server in the middle, for tests: speaks just enough of the PostgreSQL or MySQL
protocol to ask the client for a cleartext password, and logs whether one arrives.

usage: mitm.py {pg,mysql} {plain,tls} LOG_FILE

Listens on 127.0.0.1 (a free port) and prints "PORT CERT_FILE" on stdout once ready. In
`tls` mode it offers TLS with a fresh self-signed certificate for localhost (CERT_FILE),
which no client should trust unless told to; in `plain` mode it refuses TLS. Each
connection appends lines to LOG_FILE: CONNECT, TLS (handshake done), then PASSWORD TOKEN
if an IAM token arrived (a password with X-Amz-Signature in it) or PASSWORD OTHER. It
never writes what it received. Runs until killed.
"""

import os
import socket
import ssl
import struct
import subprocess
import sys
import tempfile
import threading


def log(path, line):
    with open(path, "a") as f:
        f.write(line + "\n")


def recv_exact(sock, n):
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise EOFError
        data += chunk
    return data


def password_line(data):
    return "PASSWORD TOKEN" if b"X-Amz-Signature" in data else "PASSWORD OTHER"


def serve_pg(conn, tls, log_path):
    sock = conn
    while True:
        length, code = struct.unpack("!ii", recv_exact(sock, 8))
        body = recv_exact(sock, length - 8)
        if code == 80877103:  # SSLRequest
            if tls is None:
                sock.sendall(b"N")
            else:
                sock.sendall(b"S")
                sock = tls.wrap_socket(sock, server_side=True)
                log(log_path, "TLS")
            continue
        if code == 80877104:  # GSSENCRequest
            sock.sendall(b"N")
            continue
        break
    del body
    # AuthenticationCleartextPassword.
    sock.sendall(b"R" + struct.pack("!ii", 8, 3))
    kind = recv_exact(sock, 1)
    (length,) = struct.unpack("!i", recv_exact(sock, 4))
    data = recv_exact(sock, length - 4)
    if kind == b"p":
        log(log_path, password_line(data))
    message = b"SFATAL\x00C28000\x00Mno\x00\x00"
    sock.sendall(b"E" + struct.pack("!i", len(message) + 4) + message)


def mysql_packet(seq, payload):
    return struct.pack("<I", len(payload))[:3] + bytes([seq]) + payload


def mysql_read(sock):
    header = recv_exact(sock, 4)
    length = header[0] | header[1] << 8 | header[2] << 16
    return header[3], recv_exact(sock, length)


def serve_mysql(conn, tls, log_path):
    caps = 0x1 | 0x8 | 0x200 | 0x2000 | 0x8000 | 0x20000 | 0x80000 | 0x200000
    if tls is not None:
        caps |= 0x800  # CLIENT_SSL
    scramble = b"abcdefghijklmnopqrst"
    greeting = (
        b"\x0a"
        + b"5.7.99-mitm\x00"
        + struct.pack("<I", 7)
        + scramble[:8]
        + b"\x00"
        + struct.pack("<H", caps & 0xFFFF)
        + b"\x21"
        + struct.pack("<H", 2)
        + struct.pack("<H", caps >> 16)
        + bytes([21])
        + b"\x00" * 10
        + scramble[8:]
        + b"\x00"
        + b"mysql_clear_password\x00"
    )
    sock = conn
    sock.sendall(mysql_packet(0, greeting))
    seq, payload = mysql_read(sock)
    client_caps = struct.unpack("<I", payload[:4])[0]
    if len(payload) == 32 and client_caps & 0x800 and tls is not None:
        sock = tls.wrap_socket(sock, server_side=True)
        log(log_path, "TLS")
        seq, payload = mysql_read(sock)
    if b"X-Amz-Signature" in payload:
        log(log_path, "PASSWORD TOKEN")
    # Switch to the cleartext plugin, as RDS does.
    sock.sendall(mysql_packet(seq + 1, b"\xfemysql_clear_password\x00" + scramble + b"\x00"))
    seq, payload = mysql_read(sock)
    log(log_path, password_line(payload))
    error = b"\xff" + struct.pack("<H", 1045) + b"#28000no"
    sock.sendall(mysql_packet(seq + 1, error))


def main():
    protocol, mode, log_path = sys.argv[1:4]
    tls = None
    cert = "-"
    if mode == "tls":
        workdir = tempfile.mkdtemp(prefix="mitm-")
        cert = os.path.join(workdir, "cert.pem")
        key = os.path.join(workdir, "key.pem")
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
             "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key, "-out", cert,
             "-days", "1", "-subj", "/CN=localhost",
             "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
            check=True, capture_output=True,
        )
        tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        tls.load_cert_chain(cert, key)
    serve = serve_pg if protocol == "pg" else serve_mysql
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    print(listener.getsockname()[1], cert, flush=True)

    def handle(conn):
        log(log_path, "CONNECT")
        try:
            serve(conn, tls, log_path)
        except (EOFError, OSError, ssl.SSLError, struct.error):
            pass
        finally:
            conn.close()

    while True:
        conn, _ = listener.accept()
        threading.Thread(target=handle, args=(conn,), daemon=True).start()


if __name__ == "__main__":
    main()
