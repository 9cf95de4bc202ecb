#!/usr/bin/env python3
"""An STS stand-in over HTTPS on loopback, for tests: answers every POST with an
AssumeRoleWithWebIdentity response carrying temporary credentials
(ASIASTSLOOPBACK00001 / stssecret / stssession, valid one hour).

usage: sts.py DIR

Writes a fresh self-signed certificate for localhost into DIR, listens on 127.0.0.1 (a
free port) and prints "PORT CERT_FILE" on stdout once ready. Each request appends a line
"POST" to DIR/requests. Runs until killed.
"""

import datetime
import http.server
import os
import ssl
import subprocess
import sys


def main():
    directory = sys.argv[1]
    cert = os.path.join(directory, "sts-cert.pem")
    key = os.path.join(directory, "sts-key.pem")
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
         "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key, "-out", cert,
         "-days", "1", "-subj", "/CN=localhost",
         "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
         # An end-entity certificate (webpki refuses a CA as a server's certificate),
         # trusted as its own anchor through SSL_CERT_FILE.
         "-addext", "basicConstraints=critical,CA:FALSE",
         "-addext", "extendedKeyUsage=serverAuth"],
        check=True, capture_output=True,
    )
    expiration = (datetime.datetime.now(datetime.timezone.utc)
                  + datetime.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    body = (
        '<AssumeRoleWithWebIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">'
        "<AssumeRoleWithWebIdentityResult><Credentials>"
        "<AccessKeyId>ASIASTSLOOPBACK00001</AccessKeyId>"
        "<SecretAccessKey>stssecret</SecretAccessKey>"
        "<SessionToken>stssession</SessionToken>"
        f"<Expiration>{expiration}</Expiration></Credentials>"
        "<AssumedRoleUser><Arn>arn:aws:sts::123456789012:assumed-role/r/s</Arn>"
        "<AssumedRoleId>AROAEXAMPLE:s</AssumedRoleId></AssumedRoleUser>"
        "</AssumeRoleWithWebIdentityResult>"
        "<ResponseMetadata><RequestId>1</RequestId></ResponseMetadata>"
        "</AssumeRoleWithWebIdentityResponse>"
    ).encode()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            self.rfile.read(int(self.headers.get("content-length", 0)))
            with open(os.path.join(directory, "requests"), "a") as log:
                log.write("POST\n")
            self.send_response(200)
            self.send_header("content-type", "text/xml")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    print(server.server_address[1], cert, flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
