"""Mint IAM auth tokens with botocore, the oracle the rds-iam tests compare against.

Reads one JSON object per line on stdin and prints one token per line:
  {"kind": "rds" | "dsql" | "dsql_admin", "hostname": ..., "port": 5432, "username": ...,
   "region": ..., "access_key_id": ..., "secret_access_key": ..., "session_token": null,
   "time": <unix seconds>, "expires_in": 900}
The signing time is fixed by patching botocore.auth.get_current_datetime.
"""

import datetime
import json
import sys

import botocore.auth
import botocore.session


def mint(case):
    fixed = datetime.datetime.fromtimestamp(case["time"], datetime.timezone.utc).replace(tzinfo=None)
    botocore.auth.get_current_datetime = lambda: fixed
    session = botocore.session.Session()
    session.set_credentials(
        case["access_key_id"], case["secret_access_key"], case.get("session_token")
    )
    kind = case["kind"]
    if kind == "rds":
        client = session.create_client("rds", region_name=case["region"])
        return client.generate_db_auth_token(
            DBHostname=case["hostname"],
            Port=case["port"],
            DBUsername=case["username"],
            Region=case["region"],
        )
    client = session.create_client("dsql", region_name=case["region"])
    generate = (
        client.generate_db_connect_admin_auth_token
        if kind == "dsql_admin"
        else client.generate_db_connect_auth_token
    )
    return generate(case["hostname"], case["region"], case.get("expires_in", 900))


for line in sys.stdin:
    if line.strip():
        print(mint(json.loads(line)))
