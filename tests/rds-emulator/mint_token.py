#!/usr/bin/env python3
"""Mint an RDS or Aurora DSQL IAM auth token with botocore (the reference implementation).

    mint_token.py --port 5432 --user iam_user [--host localhost] [--region us-east-1]
                  [--signing-time 2024-08-26T22:00:00Z]
                  [--access-key-id AKIA... --secret-access-key ... [--session-token ...]]
    mint_token.py --dsql connect|admin --host ID.dsql.REGION.on.aws [--region ...]
                  [--expires-in 900] [--signing-time ...] [credentials as above]

RDS tokens come from `generate_db_auth_token`; DSQL ones from
`generate_db_connect_auth_token` (`--dsql connect`, any role but admin) or
`generate_db_connect_admin_auth_token` (`--dsql admin`, the admin role), which take no
port and no user.

Credentials default to AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY /
AWS_SESSION_TOKEN. The token is printed on stdout, nothing else.

If the Python running this has no botocore, it re-runs itself with the
virtualenv that tests/rds-emulator/setup creates in that case.
"""

import argparse
import datetime
import os
import sys

FALLBACK_PYTHON = "/var/lib/rds-emulator/venv/bin/python3"

try:
    import botocore.auth
    import botocore.session
except ImportError:
    if os.path.exists(FALLBACK_PYTHON) and os.path.realpath(sys.executable) != os.path.realpath(
        FALLBACK_PYTHON
    ):
        os.execv(FALLBACK_PYTHON, [FALLBACK_PYTHON, os.path.abspath(__file__)] + sys.argv[1:])
    sys.exit("mint_token.py: botocore is not installed (run tests/rds-emulator/setup)")


def parse_time(value):
    text = value.strip()
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    parsed = datetime.datetime.fromisoformat(text)
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(datetime.timezone.utc).replace(tzinfo=None)
    return parsed


class _FixedClock:
    """Stands in for the `datetime` module in old botocore versions."""

    def __init__(self, fixed):
        fixed_time = fixed

        class _Datetime(datetime.datetime):
            @classmethod
            def utcnow(cls):
                return fixed_time

            @classmethod
            def now(cls, tz=None):
                return fixed_time if tz is None else fixed_time.replace(tzinfo=tz)

        self.datetime = _Datetime

    def __getattr__(self, name):
        return getattr(datetime, name)


def mint(args):
    session = botocore.session.get_session()
    client = session.create_client(
        "dsql" if args.dsql else "rds",
        region_name=args.region,
        aws_access_key_id=args.access_key_id,
        aws_secret_access_key=args.secret_access_key,
        aws_session_token=args.session_token or None,
    )
    if args.dsql == "connect":
        return client.generate_db_connect_auth_token(
            Hostname=args.host, Region=args.region, ExpiresIn=args.expires_in
        )
    if args.dsql == "admin":
        return client.generate_db_connect_admin_auth_token(
            Hostname=args.host, Region=args.region, ExpiresIn=args.expires_in
        )
    return client.generate_db_auth_token(
        DBHostname=args.host, Port=args.port, DBUsername=args.user, Region=args.region
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--host", default="localhost")
    parser.add_argument("--port", type=int, help="RDS only (required there)")
    parser.add_argument("--user", help="RDS only (required there)")
    parser.add_argument(
        "--dsql",
        choices=["connect", "admin"],
        help="an Aurora DSQL token: DbConnect (connect) or DbConnectAdmin (admin)",
    )
    parser.add_argument(
        "--expires-in", type=int, default=900, help="DSQL only: X-Amz-Expires (seconds)"
    )
    parser.add_argument("--region", default="us-east-1")
    parser.add_argument("--signing-time", help="ISO 8601 UTC, e.g. 2024-08-26T22:00:00Z")
    parser.add_argument("--access-key-id", default=os.environ.get("AWS_ACCESS_KEY_ID"))
    parser.add_argument("--secret-access-key", default=os.environ.get("AWS_SECRET_ACCESS_KEY"))
    parser.add_argument("--session-token", default=os.environ.get("AWS_SESSION_TOKEN"))
    args = parser.parse_args()
    if args.dsql:
        if args.port is not None or args.user is not None:
            parser.error("DSQL tokens carry no port and no user: drop --port/--user")
    elif args.port is None or args.user is None:
        parser.error("RDS tokens need --port and --user")
    if not args.access_key_id or not args.secret_access_key:
        parser.error("no credentials: pass --access-key-id/--secret-access-key or set AWS_*")

    if args.signing_time:
        fixed = parse_time(args.signing_time)
        original_get = getattr(botocore.auth, "get_current_datetime", None)
        original_datetime = botocore.auth.datetime
        if original_get is not None:
            botocore.auth.get_current_datetime = lambda *a, **k: fixed
        else:  # botocore before get_current_datetime existed
            botocore.auth.datetime = _FixedClock(fixed)
        try:
            token = mint(args)
        finally:
            if original_get is not None:
                botocore.auth.get_current_datetime = original_get
            botocore.auth.datetime = original_datetime
    else:
        token = mint(args)
    sys.stdout.write(token + "\n")


if __name__ == "__main__":
    main()
