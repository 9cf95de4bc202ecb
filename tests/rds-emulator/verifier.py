#!/usr/bin/python3 -I
"""RDS IAM auth token verifier for the rds-emulator test bed.

Installed by `setup` as /var/lib/rds-emulator/verifier.py for the PAM services
`rds-iam-postgres` and `rds-iam-mysql` (RDS tokens: service `rds-db`, `HOST:PORT`,
`Action=connect`, `DBUser`) and `rds-iam-dsql` (Aurora DSQL tokens: service `dsql`,
`HOST` without a port, `Action=DbConnectAdmin` for the admin role and `DbConnect` for
the others, no `DBUser`, up to a week). In PAM mode (no arguments) it reads the
PAM user from PAM_USER, the password (the token) from PAM_AUTHTOK and the
service from PAM_SERVICE; exit status 0 accepts, anything else refuses.

It is written independently of the project's signing code, from the SigV4
specification, with nothing but the Python standard library (hashlib/hmac for
the cryptography): a mistake shared by the signer and the verifier would
otherwise pass every test.

Each decision is appended as one line to the log (see README.md):

  TIME service=S user=U key_id=K signed_at=T verdict=accept|refuse reason=R fp=F

The token, the secret key and the session token are never logged.

Per login, pam_script normally runs `verifier-client` (verifier-client.c), which
hands the three values to this program running as a daemon (`--serve`) over a
Unix socket: starting Python for every login would cost ~20 ms of CPU, far more
than RDS spends checking a token, and would dominate the connection benchmarks.
The daemon makes the same decision with the same code. When the socket is not
there, refuses or does not accept in time, the client runs this file directly
(PAM mode), so logins never depend on the daemon being up. Daemon protocol, one
request per connection:

  request:  b"verify\0SERVICE\0USER\0TOKEN"   reply: b"accept ok\n" or b"refuse REASON\n"
  request:  b"ping"                            reply: b"pong SHA256-OF-THIS-FILE PID\n"

  verifier.py --serve --socket /run/rds-emulator/verifier.sock [--pidfile F]

For checks by hand or from tests, it can also run outside PAM:

  verifier.py --check --service rds-iam-postgres --user iam_user [--config F]
              [--now 2024-08-26T22:00:00Z] [--no-log] < token

prints "accept ok" or "refuse REASON" and exits 0 or 1.
"""

import datetime
import glob
import hashlib
import hmac
import json
import os
import sys
import time

DEFAULT_CONFIG = "/var/lib/rds-emulator/verifier.json"

ALGORITHM = "AWS4-HMAC-SHA256"
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
# What each kind of server ("mode" of a service in the config) wants: the SigV4
# service of the credential scope and the largest X-Amz-Expires. RDS tokens live 15
# minutes; Aurora DSQL tokens as long as they declare, up to a week.
MODES = {
    "rds": {"signing_service": "rds-db", "max_expires": 900},
    "dsql": {"signing_service": "dsql", "max_expires": 604800},
}
# Default maximum age of an RDS token.
MAX_EXPIRES = MODES["rds"]["max_expires"]
# Query parameters of either kind of token (DSQL tokens have no DBUser).
ALLOWED_PARAMS = {
    "Action",
    "DBUser",
    "X-Amz-Algorithm",
    "X-Amz-Credential",
    "X-Amz-Date",
    "X-Amz-Expires",
    "X-Amz-Security-Token",
    "X-Amz-SignedHeaders",
    "X-Amz-Signature",
}
REQUIRED_PARAMS = ALLOWED_PARAMS - {"X-Amz-Security-Token", "DBUser"}
UNRESERVED = frozenset(
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.~"
)
# Characters written as-is in log values; everything else is %XX-escaped.
LOG_SAFE = frozenset(
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.~@+:/"
)
HEX = "0123456789abcdefABCDEF"


class Refuse(Exception):
    """A refusal with a short machine-readable reason."""

    def __init__(self, reason):
        super().__init__(reason)
        self.reason = reason


def uri_encode(text):
    """RFC 3986 percent-encoding as SigV4 wants it (everything but unreserved)."""
    out = []
    for byte in text.encode("utf-8"):
        if byte in UNRESERVED:
            out.append(chr(byte))
        else:
            out.append("%%%02X" % byte)
    return "".join(out)


def percent_decode(text):
    """Strict percent-decoding ('+' stays '+'); malformed escapes are refused."""
    raw = text.encode("utf-8")
    out = bytearray()
    i = 0
    while i < len(raw):
        c = raw[i]
        if c == 0x25:  # '%'
            pair = raw[i + 1 : i + 3].decode("ascii", "replace")
            if len(pair) != 2 or any(ch not in HEX for ch in pair):
                raise Refuse("malformed")
            out.append(int(pair, 16))
            i += 3
        else:
            out.append(c)
            i += 1
    try:
        return out.decode("utf-8")
    except UnicodeDecodeError:
        raise Refuse("malformed") from None


def parse_token(token):
    """Split 'HOST[:PORT]/?QUERY' into (host, {param: value}) with decoded values."""
    if not token:
        raise Refuse("no_token")
    if any(ord(ch) < 0x21 or ord(ch) > 0x7E for ch in token):
        raise Refuse("malformed")
    host, sep, query = token.partition("/?")
    if not sep or not host or "/" in host:
        raise Refuse("malformed")
    params = {}
    for item in query.split("&"):
        key, eq, value = item.partition("=")
        if not eq:
            raise Refuse("malformed")
        key = percent_decode(key)
        if key in params or key not in ALLOWED_PARAMS:
            raise Refuse("malformed")
        params[key] = percent_decode(value)
    if not REQUIRED_PARAMS <= params.keys():
        raise Refuse("malformed")
    return host, params


def parse_amz_date(value):
    """'YYYYMMDDTHHMMSSZ' -> aware datetime, or refuse."""
    if len(value) != 16 or value[8] != "T" or value[15] != "Z":
        raise Refuse("malformed")
    try:
        return datetime.datetime.strptime(value, "%Y%m%dT%H%M%SZ").replace(
            tzinfo=datetime.timezone.utc
        )
    except ValueError:
        raise Refuse("malformed") from None


def hmac_sha256(key, msg):
    return hmac.new(key, msg.encode("utf-8"), hashlib.sha256).digest()


def expected_signature(host, params, secret, scope_date, region, service):
    """Recompute the SigV4 query-string signature (GET /, only `host` signed)."""
    pairs = sorted(
        (uri_encode(k), uri_encode(v))
        for k, v in params.items()
        if k != "X-Amz-Signature"
    )
    canonical_query = "&".join("%s=%s" % kv for kv in pairs)
    canonical_request = "\n".join(
        [
            "GET",
            "/",
            canonical_query,
            "host:" + host,
            "",
            "host",
            EMPTY_SHA256,  # RDS tokens sign an empty payload (not UNSIGNED-PAYLOAD)
        ]
    )
    scope = "/".join([scope_date, region, service, "aws4_request"])
    string_to_sign = "\n".join(
        [
            ALGORITHM,
            params["X-Amz-Date"],
            scope,
            hashlib.sha256(canonical_request.encode("utf-8")).hexdigest(),
        ]
    )
    key = hmac_sha256(("AWS4" + secret).encode("utf-8"), scope_date)
    key = hmac_sha256(key, region)
    key = hmac_sha256(key, service)
    key = hmac_sha256(key, "aws4_request")
    return hmac.new(key, string_to_sign.encode("utf-8"), hashlib.sha256).hexdigest()


def load_keys(config):
    """Key table: config key_files, then every *.json in key_dirs (later wins)."""
    files = list(config.get("key_files", []))
    for directory in config.get("key_dirs", []):
        files.extend(sorted(glob.glob(os.path.join(directory, "*.json"))))
    keys = {}
    for path in files:
        try:
            with open(path, encoding="utf-8") as f:
                doc = json.load(f)
        except FileNotFoundError:
            continue
        for entry in doc.get("keys", []):
            keys[entry["access_key_id"]] = entry
    return keys


def parse_iso(value):
    """ISO 8601 UTC ('...Z' or with offset) -> aware datetime."""
    value = value.strip()
    if value.endswith("Z"):
        value = value[:-1] + "+00:00"
    parsed = datetime.datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=datetime.timezone.utc)
    return parsed


def verify(token, user, service, config, now, info):
    """Raise Refuse(reason) unless `token` is valid for `user` on `service`.

    `info` is filled with loggable facts (key id, signing time, fingerprint)
    as soon as they are known, so refusals are logged with them.
    """
    services = config.get("services", {})
    if service not in services:
        raise Refuse("service_unknown")
    server = services[service]
    mode = MODES[server.get("mode", "rds")]
    # Signed host (lowercase; "HOST:PORT" for RDS, "HOST" for DSQL) -> the region a token
    # for it must be signed for: every name that routes to this server, as an Aurora
    # instance accepts its instance, cluster, reader and proxy endpoints, and nothing else.
    host_regions = server["hosts"]

    host, params = parse_token(token)
    signature = params["X-Amz-Signature"]
    info["fp"] = hashlib.sha256(signature.encode("utf-8")).hexdigest()[:12]
    info["signed_at"] = params["X-Amz-Date"]
    credential = params["X-Amz-Credential"].split("/")
    if len(credential) != 5:
        raise Refuse("malformed")
    key_id, scope_date, region, scope_service, terminator = credential
    info["key_id"] = key_id

    # An rds-db token at a DSQL server, or a dsql token at an RDS server.
    if scope_service != mode["signing_service"] or terminator != "aws4_request":
        raise Refuse("service")
    if host not in host_regions:
        raise Refuse("host")
    if server.get("mode") == "dsql":
        # DbConnectAdmin for the admin role only, DbConnect for every other role.
        wanted_action = "DbConnectAdmin" if user == server["admin_role"] else "DbConnect"
        if params["Action"] != wanted_action:
            raise Refuse("action")
        if "DBUser" in params:
            raise Refuse("malformed")
    else:
        if params["Action"] != "connect":
            raise Refuse("action")
        if "DBUser" not in params:
            raise Refuse("malformed")
        if params["DBUser"] != user:
            raise Refuse("user")
    if params["X-Amz-Algorithm"] != ALGORITHM:
        raise Refuse("algorithm")
    if params["X-Amz-SignedHeaders"] != "host":
        raise Refuse("signed_headers")
    if region != host_regions[host]:
        raise Refuse("region")
    signed_at = parse_amz_date(params["X-Amz-Date"])
    if scope_date != params["X-Amz-Date"][:8]:
        raise Refuse("date")
    expires = params["X-Amz-Expires"]
    if not expires.isdigit() or not 1 <= int(expires) <= mode["max_expires"]:
        raise Refuse("expires")

    keys = load_keys(config)
    key = keys.get(key_id)
    if key is None:
        raise Refuse("unknown_key")
    if key.get("expires_at") and now > parse_iso(key["expires_at"]):
        raise Refuse("key_expired")
    wanted_session = key.get("session_token")
    given_session = params.get("X-Amz-Security-Token")
    if wanted_session:
        if given_session is None or not hmac.compare_digest(
            given_session.encode("utf-8"), wanted_session.encode("utf-8")
        ):
            raise Refuse("session_token")
    elif given_session is not None:
        raise Refuse("session_token")

    good = expected_signature(
        host, params, key["secret_access_key"], scope_date, region, scope_service
    )
    if not hmac.compare_digest(good.encode("ascii"), signature.encode("utf-8")):
        raise Refuse("signature")

    age = (now - signed_at).total_seconds()
    skew = config.get("max_future_skew_seconds", 30)
    if age < -skew:
        raise Refuse("future")
    max_age = config.get("user_max_age_seconds", {}).get(
        user, server.get("max_age_seconds", config.get("default_max_age_seconds", MAX_EXPIRES))
    )
    if age > min(int(expires), max_age):
        raise Refuse("expired")


def log_value(value):
    if value is None or value == "":
        return "-"
    out = []
    for byte in str(value).encode("utf-8"):
        out.append(chr(byte) if byte in LOG_SAFE else "%%%02X" % byte)
    return "".join(out)


def format_line(now, service, user, info, accepted, reason):
    stamp = now.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (now.microsecond // 1000)
    fields = [
        ("service", service),
        ("user", user),
        ("key_id", info.get("key_id")),
        ("signed_at", info.get("signed_at")),
        ("verdict", "accept" if accepted else "refuse"),
        ("reason", reason),
        ("fp", info.get("fp")),
    ]
    return stamp + "".join(" %s=%s" % (k, log_value(v)) for k, v in fields) + "\n"


def append_log(path, line):
    created = False
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND)
    except FileNotFoundError:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o664)
        created = True
    try:
        if created:
            # (Re)created, e.g. by the root daemon after the log was removed: 0664
            # root:postgres like setup makes it, so the fallback under PostgreSQL
            # (user postgres) can still append to it.
            # Best effort: a machine without a postgres group, or a file another
            # process created first, must not cost the login its log line.
            try:
                os.fchmod(fd, 0o664)
                if os.geteuid() == 0:
                    import grp

                    os.fchown(fd, 0, grp.getgrnam("postgres").gr_gid)
            except (OSError, KeyError):
                pass
        os.write(fd, line.encode("utf-8"))  # one write: lines never interleave
    finally:
        os.close(fd)


def decide(token, user, service, config, now):
    info = {}
    try:
        verify(token, user, service, config, now, info)
        return True, "ok", info
    except Refuse as refusal:
        return False, refusal.reason, info
    except Exception as exc:  # never let a bug turn into an accept
        return False, "internal:" + type(exc).__name__, info


def load_config(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def pam_main():
    user = os.environ.get("PAM_USER", "")
    service = os.environ.get("PAM_SERVICE", "")
    token = os.environ.get("PAM_AUTHTOK", "")
    now = datetime.datetime.fromtimestamp(time.time(), datetime.timezone.utc)
    try:
        config = load_config(DEFAULT_CONFIG)
    except Exception as exc:
        sys.stderr.write("rds-emulator verifier: cannot read config: %s\n" % exc)
        return 2
    accepted, reason, info = decide(token, user, service, config, now)
    try:
        append_log(config["log_file"], format_line(now, service, user, info, accepted, reason))
    except Exception as exc:
        # Tests depend on the log: fail closed when it cannot be written.
        sys.stderr.write("rds-emulator verifier: cannot write log: %s\n" % exc)
        return 2
    return 0 if accepted else 1


def check_main(argv):
    import argparse

    parser = argparse.ArgumentParser(description="check one token (reads it on stdin)")
    parser.add_argument("--check", action="store_true")
    parser.add_argument("--config", default=DEFAULT_CONFIG)
    parser.add_argument("--service", required=True)
    parser.add_argument("--user", required=True)
    parser.add_argument("--now", help="ISO 8601 time to check against (default: now)")
    parser.add_argument("--no-log", action="store_true", help="do not append to the log")
    args = parser.parse_args(argv)
    config = load_config(args.config)
    if args.now:
        now = parse_iso(args.now)
    else:
        now = datetime.datetime.fromtimestamp(time.time(), datetime.timezone.utc)
    token = sys.stdin.read().strip()
    accepted, reason, info = decide(token, args.user, args.service, config, now)
    if not args.no_log:
        append_log(config["log_file"], format_line(now, args.service, args.user, info, accepted, reason))
    print("accept ok" if accepted else "refuse " + reason)
    return 0 if accepted else 1


# Largest request the daemon reads: a token with a session token is ~2 KB.
MAX_REQUEST = 64 * 1024


def source_digest():
    """SHA-256 of this file: lets setup tell whether the daemon runs the current code."""
    with open(os.path.abspath(__file__), "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def answer(request, digest):
    """The daemon's reply to one request (bytes in, bytes out)."""
    if request == b"ping":
        return ("pong %s %d\n" % (digest, os.getpid())).encode("ascii")
    parts = request.split(b"\0")
    if len(parts) != 4 or parts[0] != b"verify":
        return b"refuse bad_request\n"
    try:
        service, user, token = (part.decode("utf-8") for part in parts[1:])
    except UnicodeDecodeError:
        return b"refuse malformed\n"
    now = datetime.datetime.fromtimestamp(time.time(), datetime.timezone.utc)
    try:
        config = load_config(DEFAULT_CONFIG)
    except Exception as exc:
        sys.stderr.write("rds-emulator verifier: cannot read config: %s\n" % exc)
        return b"refuse config\n"
    accepted, reason, info = decide(token, user, service, config, now)
    try:
        append_log(config["log_file"], format_line(now, service, user, info, accepted, reason))
    except Exception as exc:
        # Tests depend on the log: fail closed when it cannot be written.
        sys.stderr.write("rds-emulator verifier: cannot write log: %s\n" % exc)
        return b"refuse log\n"
    return ("accept ok\n" if accepted else "refuse %s\n" % reason).encode("ascii")


def serve_main(argv):
    import argparse
    import socketserver

    parser = argparse.ArgumentParser(description="serve verifications on a Unix socket")
    parser.add_argument("--serve", action="store_true")
    parser.add_argument("--socket", required=True)
    parser.add_argument("--pidfile")
    args = parser.parse_args(argv)
    # Hold on to nothing the starting shell had open (a caller waiting for its
    # pipes to close would otherwise wait for this daemon).
    os.closerange(3, 65536)
    os.chdir("/")
    digest = source_digest()

    class Handler(socketserver.BaseRequestHandler):
        def handle(self):
            self.request.settimeout(10)
            chunks, size = [], 0
            try:
                while size <= MAX_REQUEST:
                    chunk = self.request.recv(65536)
                    if not chunk:
                        break
                    chunks.append(chunk)
                    size += len(chunk)
                reply = answer(b"".join(chunks), digest) if size <= MAX_REQUEST else b"refuse too_large\n"
                self.request.sendall(reply)
            except OSError as exc:
                sys.stderr.write("rds-emulator verifier: request failed: %s\n" % exc)

    class Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
        daemon_threads = True
        # Bursts of logins (benchmarks open many at once) must not overflow the
        # listen queue (default 5); clients wait in it at most their send timeout.
        request_queue_size = 128

    try:
        os.unlink(args.socket)
    except FileNotFoundError:
        pass
    # Created 0660 (umask first: no moment when others may connect) with the group of
    # its directory: the database servers' PAM stacks connect (PostgreSQL's as
    # `postgres`, a member of that group; MariaDB's auth_pam_tool as root), other local
    # users do not.
    old_umask = os.umask(0o117)
    try:
        server = Server(args.socket, Handler)
    finally:
        os.umask(old_umask)
    os.chown(args.socket, -1, os.stat(os.path.dirname(args.socket)).st_gid)
    os.chmod(args.socket, 0o660)
    if args.pidfile:
        with open(args.pidfile, "w", encoding="ascii") as f:
            f.write("%d\n" % os.getpid())
    server.serve_forever()


if __name__ == "__main__":
    if "--check" in sys.argv[1:]:
        sys.exit(check_main(sys.argv[1:]))
    if "--serve" in sys.argv[1:]:
        sys.exit(serve_main(sys.argv[1:]))
    sys.exit(pam_main())
