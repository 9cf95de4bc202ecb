#!/usr/bin/env python3
"""Regenerates botocore.json: IAM auth tokens signed by botocore, the AWS SDK for Python.

The Rust test `tests/botocore_vectors.rs` signs every case with this crate and compares
the tokens byte for byte. botocore is an independent implementation of the same format
(the AWS CLI and boto3 use it), so it is the oracle.

    pip install botocore
    python3 crates/rds-iam-token/tests/vectors/generate.py

The signing time is fixed per case by patching `botocore.auth.get_current_datetime`; no
network access and no AWS account are needed (the credentials below are made up).
"""

import datetime
import json
import os
import pathlib
import sys
from unittest import mock

import botocore
import botocore.auth
import botocore.session

# No profile, no environment credentials, no IMDS: only what each case passes.
for var in list(os.environ):
    if var.startswith("AWS_"):
        del os.environ[var]
os.environ["AWS_CONFIG_FILE"] = "/dev/null"
os.environ["AWS_SHARED_CREDENTIALS_FILE"] = "/dev/null"
os.environ["AWS_EC2_METADATA_DISABLED"] = "true"

OUT = pathlib.Path(__file__).with_name("botocore.json")

# AWS's own reference case (aws-sdk-go-v2 and smithy-rs tests).
REF_TIME = "2024-08-26T22:00:00Z"
REF_HOST = "prod-instance.us-east-1.rds.amazonaws.com"

# Made-up credentials shaped like real ones. Secrets contain '/' and '+', as real ones do.
AKID = "AKIAIOSFODNN7EXAMPLE"
SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
STS_AKID = "ASIAIOSFODNN7EXAMPLE"
STS_SECRET = "je7MtGbClwBF/2Zp9Utk/h3yCo8nvbEXAMPLEKEY+x"
# Session tokens are long base64 with '+', '/' and '='; they must be percent-encoded.
SESSION_TOKEN = (
    "IQoJb3JpZ2luX2VjEJr//////////wEaCXVzLWVhc3QtMSJHMEUCIQDZ3p+5/mHQr1Hm0Nn1X7N0q"
    "xH2Jp6Gk4zX0yL1jQK1AiBq8Y9Xm0h6mUj+3kF7l0vGa2xY3B6Q3lWd2f1mPq9r5SqVAwiy//////////"
    "ARAAGgw5ODc2NTQzMjEwOTgiDK8q3B2Jx7Q4oX1PpCrpAmB4R0e7wZ5u9Nq1k2b3c4d5e6f7g8h9i0j1"
    "k2l3m4n5o6p7q8r9s0t1u2v3w4x5y6z7A8B9C0D1E2F3G4H5I6J7K8L9M0N1O2P3Q4R5S6T7U8V9W0X1"
    "Y2Z3+/a==" 
)
SHORT_SESSION_TOKEN = "FwoGZXIvYXdzEBYaDOQlN+eO/FaKe=="


def at(text):
    return datetime.datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ")


def unix(text):
    return int(at(text).replace(tzinfo=datetime.timezone.utc).timestamp())


SESSION = botocore.session.Session()


def client(service, region, akid, secret, session_token):
    return SESSION.create_client(
        service,
        region_name=region,
        aws_access_key_id=akid,
        aws_secret_access_key=secret,
        aws_session_token=session_token,
    )


def sign(case):
    """Signs one case with botocore at its fixed time and returns the token."""
    with mock.patch.object(
        botocore.auth, "get_current_datetime", return_value=at(case["time"])
    ):
        if case["kind"] == "rds":
            rds = client(
                "rds",
                case["region"],
                case["access_key_id"],
                case["secret_access_key"],
                case["session_token"],
            )
            return rds.generate_db_auth_token(
                DBHostname=case["host"],
                Port=case["port"],
                DBUsername=case["user"],
                Region=case["region"],
            )
        dsql = client(
            "dsql",
            case["region"],
            case["access_key_id"],
            case["secret_access_key"],
            case["session_token"],
        )
        kwargs = {"Hostname": case["host"], "Region": case["region"]}
        if case["expires_in"] is not None:
            kwargs["ExpiresIn"] = case["expires_in"]
        if case["kind"] == "dsql":
            return dsql.generate_db_connect_auth_token(**kwargs)
        return dsql.generate_db_connect_admin_auth_token(**kwargs)


def rds(name, host, port, user, region, *, signer_region="same", time="2025-03-14T15:09:26Z",
        akid=AKID, secret=SECRET, session_token=None):
    """An RDS case. `signer_region`: "same" gives our signer `region` explicitly; None gives
    it no region, so that it must read the region from the endpoint name."""
    return {
        "name": name,
        "kind": "rds",
        "host": host,
        "port": port,
        "user": user,
        "region": region,
        "signer_region": region if signer_region == "same" else signer_region,
        "expires_in": None,
        "access_key_id": akid,
        "secret_access_key": secret,
        "session_token": session_token,
        "time": time,
    }


def dsql(name, host, region, expires_in, *, admin=False, signer_region="same",
         time="2025-03-14T15:09:26Z", akid=AKID, secret=SECRET, session_token=None):
    """A DSQL case; `expires_in` None means the default (900 s) on both sides."""
    return {
        "name": name,
        "kind": "dsql_admin" if admin else "dsql",
        "host": host,
        "port": None,
        "user": None,
        "region": region,
        "signer_region": region if signer_region == "same" else signer_region,
        "expires_in": expires_in,
        "access_key_id": akid,
        "secret_access_key": secret,
        "session_token": session_token,
        "time": time,
    }


CASES = [
    # AWS's reference value, with the region given and with the region read from the name.
    rds("aws-reference", REF_HOST, 3306, "peccy", "us-east-1", time=REF_TIME,
        akid="akid", secret="secret"),
    rds("aws-reference-region-from-endpoint", REF_HOST, 3306, "peccy", "us-east-1",
        signer_region=None, time=REF_TIME, akid="akid", secret="secret"),
    # Users that need percent-encoding.
    rds("user-plus-at", "mydb.c9akciq32abc.us-east-1.rds.amazonaws.com", 5432,
        "user+tag@example.com", "us-east-1"),
    rds("user-spaces", "mydb.c9akciq32abc.us-east-1.rds.amazonaws.com", 5432,
        "app user with spaces", "us-east-1", signer_region=None),
    rds("user-ampersand-equals", "mydb.c9akciq32abc.eu-west-1.rds.amazonaws.com", 3306,
        "a&b=c&DBUser=admin", "eu-west-1"),
    rds("user-slash", "mydb.c9akciq32abc.eu-west-1.rds.amazonaws.com", 3306,
        "team/app", "eu-west-1", signer_region=None),
    rds("user-non-ascii", "mydb.c9akciq32abc.eu-central-1.rds.amazonaws.com", 5432,
        "müller_ñandú", "eu-central-1"),
    rds("user-cjk-emoji", "mydb.c9akciq32abc.ap-northeast-1.rds.amazonaws.com", 5432,
        "用户🦀", "ap-northeast-1", signer_region=None),
    rds("user-unreserved", "mydb.c9akciq32abc.us-west-2.rds.amazonaws.com", 5432,
        "A-Z_a.z~0-9", "us-west-2"),
    rds("user-reserved-mix", "mydb.c9akciq32abc.us-west-2.rds.amazonaws.com", 5432,
        "!*'();:@&=+$,/?#[]%\"<>\\^`{|} ", "us-west-2"),
    rds("user-percent-literal", "mydb.c9akciq32abc.us-west-2.rds.amazonaws.com", 5432,
        "100%25real", "us-west-2"),
    # Session tokens (temporary credentials).
    rds("session-token", "mydb.c9akciq32abc.us-east-1.rds.amazonaws.com", 5432,
        "app_user", "us-east-1", akid=STS_AKID, secret=STS_SECRET,
        session_token=SESSION_TOKEN),
    rds("session-token-short-from-endpoint",
        "mycluster.cluster-c9akciq32abc.us-east-2.rds.amazonaws.com", 3306, "app",
        "us-east-2", signer_region=None, akid=STS_AKID, secret=STS_SECRET,
        session_token=SHORT_SESSION_TOKEN),
    rds("session-token-encoded-user", "mydb.c9akciq32abc.sa-east-1.rds.amazonaws.com", 5432,
        "user+tag@example.com", "sa-east-1", akid=STS_AKID, secret=STS_SECRET,
        session_token=SESSION_TOKEN),
    # Endpoint kinds.
    rds("cluster-endpoint", "mycluster.cluster-c9akciq32abc.eu-west-3.rds.amazonaws.com",
        5432, "app", "eu-west-3", signer_region=None),
    rds("reader-endpoint", "mycluster.cluster-ro-c9akciq32abc.ap-southeast-2.rds.amazonaws.com",
        5432, "app", "ap-southeast-2", signer_region=None),
    rds("proxy-endpoint", "myproxy.proxy-c9akciq32abc.us-west-2.rds.amazonaws.com", 5432,
        "app", "us-west-2", signer_region=None),
    rds("proxy-read-only-endpoint",
        "myproxy-ro.endpoint.proxy-c9akciq32abc.us-west-2.rds.amazonaws.com", 3306, "app",
        "us-west-2", signer_region=None),
    rds("instance-explicit-region", "mydb.c9akciq32abc.ca-central-1.rds.amazonaws.com",
        3306, "app", "ca-central-1"),
    # Partitions.
    rds("aws-cn-north", "mydb.c9akciq32abc.cn-north-1.rds.amazonaws.com.cn", 3306, "app",
        "cn-north-1", signer_region=None),
    rds("aws-cn-northwest-explicit", "mydb.c9akciq32abc.cn-northwest-1.rds.amazonaws.com.cn",
        5432, "app", "cn-northwest-1"),
    rds("aws-us-gov-west", "mydb.c9akciq32abc.us-gov-west-1.rds.amazonaws.com", 5432, "app",
        "us-gov-west-1", signer_region=None),
    rds("aws-us-gov-east-session", "mydb.c9akciq32abc.us-gov-east-1.rds.amazonaws.com", 3306,
        "app", "us-gov-east-1", akid=STS_AKID, secret=STS_SECRET,
        session_token=SHORT_SESSION_TOKEN),
    rds("aws-us-gov-fips", "mydb.c9akciq32abc.rds-fips.us-gov-west-1.amazonaws.com", 5432,
        "app", "us-gov-west-1", signer_region=None),
    rds("aws-iso", "mydb.c9akciq32abc.us-iso-east-1.rds.c2s.ic.gov", 5432, "app",
        "us-iso-east-1", signer_region=None),
    rds("aws-iso-b", "mydb.c9akciq32abc.us-isob-east-1.rds.sc2s.sgov.gov", 5432, "app",
        "us-isob-east-1", signer_region=None),
    rds("aws-iso-e", "mydb.c9akciq32abc.eu-isoe-west-1.rds.cloud.adc-e.uk", 5432, "app",
        "eu-isoe-west-1", signer_region=None),
    rds("aws-iso-f", "mydb.c9akciq32abc.us-isof-south-1.rds.csp.hci.ic.gov", 5432, "app",
        "us-isof-south-1", signer_region=None),
    rds("aws-eusc", "mydb.c9akciq32abc.eusc-de-east-1.rds.amazonaws.eu", 5432, "app",
        "eusc-de-east-1", signer_region=None),
    # Custom DNS names and tunnels: the region must be given.
    rds("custom-dns-explicit-region", "db.internal.example.com", 5432, "app", "eu-north-1"),
    rds("localhost-tunnel", "localhost", 15432, "app", "us-east-1"),
    rds("ipv4-address", "10.0.12.34", 3306, "app", "us-east-1"),
    # Host names spelled with capitals: botocore signs the lowercased host and keeps the
    # spelling in the text; rds-iam-token writes the lowercased host in both (the test
    # compares the text with the host part lowercased).
    rds("host-capitals-instance", "MyDB.C9AKCIQ32ABC.US-EAST-1.rds.amazonaws.com", 5432, "app",
        "us-east-1", signer_region=None),
    rds("host-capitals-cluster-session", "MyCluster.Cluster-C9AKCIQ32ABC.EU-West-1.RDS.AmazonAWS.com",
        3306, "app", "eu-west-1", signer_region=None, akid=STS_AKID, secret=STS_SECRET,
        session_token=SHORT_SESSION_TOKEN),
    rds("host-capitals-govcloud", "MyDB.C9AKCIQ32ABC.US-GOV-WEST-1.RDS.AMAZONAWS.COM", 5432, "app",
        "us-gov-west-1", signer_region=None),
    rds("host-capitals-localhost", "LocalHost", 5432, "iam_user", "us-east-1"),
    dsql("dsql-host-capitals", "ABCDEFGHIJKLMNOPQRSTUVWXYZ.DSQL.US-EAST-1.ON.AWS", "us-east-1",
         None, signer_region=None),
    dsql("dsql-admin-host-capitals", "AbCdEfGhIjKlMnOpQrStUvWxYz.Dsql.Eu-West-1.On.Aws",
         "eu-west-1", 3600, admin=True, signer_region=None),
    # Port 443, https's default: botocore leaves it out of the signed host, keeps it in the
    # text (RDS never listens on 443; matched to stay byte-identical).
    rds("port-443", "mydb.c9akciq32abc.us-east-1.rds.amazonaws.com", 443, "app", "us-east-1"),
    rds("port-443-capitals", "MyDB.C9AKCIQ32ABC.us-east-1.rds.amazonaws.com", 443, "app",
        "us-east-1", signer_region=None),
    # Ports and times at the edges.
    rds("port-1", "mydb.c9akciq32abc.us-east-1.rds.amazonaws.com", 1, "app", "us-east-1"),
    rds("port-65535", "mydb.c9akciq32abc.us-east-1.rds.amazonaws.com", 65535, "app",
        "us-east-1"),
    rds("time-leap-day", "mydb.c9akciq32abc.us-east-1.rds.amazonaws.com", 5432, "app",
        "us-east-1", time="2024-02-29T23:59:59Z"),
    rds("time-new-year", "mydb.c9akciq32abc.us-east-1.rds.amazonaws.com", 5432, "app",
        "us-east-1", time="2026-01-01T00:00:00Z"),
    rds("time-year-2000", "mydb.c9akciq32abc.us-east-1.rds.amazonaws.com", 5432, "app",
        "us-east-1", time="2000-03-01T12:34:56Z"),
    # Aurora DSQL: both actions, several expiries up to a week.
    dsql("dsql-default-expiry", "abcdefghijklmnopqrstuvwxyz.dsql.us-east-1.on.aws",
         "us-east-1", None, signer_region=None),
    dsql("dsql-1s", "abcdefghijklmnopqrstuvwxyz.dsql.us-east-1.on.aws", "us-east-1", 1),
    dsql("dsql-900s-from-endpoint", "abcdefghijklmnopqrstuvwxyz.dsql.us-east-2.on.aws",
         "us-east-2", 900, signer_region=None),
    dsql("dsql-3600s", "abcdefghijklmnopqrstuvwxyz.dsql.eu-west-1.on.aws", "eu-west-1", 3600),
    dsql("dsql-86400s-session", "abcdefghijklmnopqrstuvwxyz.dsql.ap-northeast-1.on.aws",
         "ap-northeast-1", 86400, signer_region=None, akid=STS_AKID, secret=STS_SECRET,
         session_token=SESSION_TOKEN),
    dsql("dsql-604800s", "abcdefghijklmnopqrstuvwxyz.dsql.us-west-2.on.aws", "us-west-2",
         604800),
    dsql("dsql-admin-default-expiry", "abcdefghijklmnopqrstuvwxyz.dsql.us-east-1.on.aws",
         "us-east-1", None, admin=True, signer_region=None),
    dsql("dsql-admin-1s", "abcdefghijklmnopqrstuvwxyz.dsql.us-east-1.on.aws", "us-east-1", 1,
         admin=True),
    dsql("dsql-admin-3600s-session", "abcdefghijklmnopqrstuvwxyz.dsql.eu-central-1.on.aws",
         "eu-central-1", 3600, admin=True, akid=STS_AKID, secret=STS_SECRET,
         session_token=SHORT_SESSION_TOKEN),
    dsql("dsql-admin-604800s", "abcdefghijklmnopqrstuvwxyz.dsql.us-east-2.on.aws",
         "us-east-2", 604800, admin=True, signer_region=None),
    dsql("dsql-admin-fips", "abcdefghijklmnopqrstuvwxyz.dsql-fips.us-west-2.on.aws",
         "us-west-2", 43200, admin=True, signer_region=None),
    dsql("dsql-custom-dns", "dsql.internal.example.com", "eu-west-2", 7200),
]


def main():
    names = [case["name"] for case in CASES]
    if len(names) != len(set(names)):
        sys.exit("duplicate case names")
    cases = []
    for case in CASES:
        case = dict(case, unix_time=unix(case["time"]))
        case["token"] = sign(case)
        cases.append(case)
    document = {
        "comment": "Generated by generate.py with botocore; do not edit by hand.",
        "botocore_version": botocore.__version__,
        "cases": cases,
    }
    OUT.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote {len(cases)} cases to {OUT}")


if __name__ == "__main__":
    main()
