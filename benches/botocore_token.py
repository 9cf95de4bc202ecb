#!/usr/bin/env python3
"""Time per IAM auth token with botocore's generate_db_auth_token (what the AWS CLI and
boto3 use), static credentials, same endpoint, user and region as benches/token.rs; plus
Python's own HMAC-SHA256 floor (the four-HMAC key chain and the final signature).

    python3 benches/botocore_token.py [--repeat 7] [--json out.json]

Each of `--repeat` runs times enough calls to take ~0.5 s; reports the median and the
spread of the runs' per-token times.
"""

import argparse
import hashlib
import hmac
import json
import statistics
import sys
import timeit

HOST = "mydb.c9akciq32abc.us-east-1.rds.amazonaws.com"
PORT = 5432
USER = "app_user"
REGION = "us-east-1"
KEY = "AKIAIOSFODNN7EXAMPLE"
SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"


def per_call_us(fn, repeat):
    timer = timeit.Timer(fn)
    number, _ = timer.autorange()
    number = max(number, 1) * 2  # autorange aims at 0.2 s; ~0.4-0.5 s per run
    runs = [t / number * 1e6 for t in timer.repeat(repeat=repeat, number=number)]
    return {"median": statistics.median(runs), "min": min(runs), "max": max(runs), "runs": runs, "calls_per_run": number}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--json")
    args = parser.parse_args()

    import botocore
    import botocore.session

    session = botocore.session.get_session()
    session.set_credentials(KEY, SECRET)
    client = session.create_client("rds", region_name=REGION)

    def mint():
        return client.generate_db_auth_token(DBHostname=HOST, Port=PORT, DBUsername=USER, Region=REGION)

    assert mint().startswith(f"{HOST}:{PORT}/?Action=connect")

    canonical = (
        f"GET\n/\nAction=connect&DBUser={USER}&X-Amz-Algorithm=AWS4-HMAC-SHA256"
        f"&X-Amz-Credential={KEY}%2F20240826%2F{REGION}%2Frds-db%2Faws4_request"
        f"&X-Amz-Date=20240826T220000Z&X-Amz-Expires=900&X-Amz-SignedHeaders=host\n"
        f"host:{HOST}:{PORT}\n\nhost\n"
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    ).encode()
    prefix = f"AWS4-HMAC-SHA256\n20240826T220000Z\n20240826/{REGION}/rds-db/aws4_request\n".encode()

    def h(key, msg):
        return hmac.new(key, msg, hashlib.sha256).digest()

    def floor_full():
        k = h(h(h(h(("AWS4" + SECRET).encode(), b"20240826"), REGION.encode()), b"rds-db"), b"aws4_request")
        return hmac.new(k, prefix + hashlib.sha256(canonical).hexdigest().encode(), hashlib.sha256).digest()

    result = {
        "python": sys.version.split()[0],
        "botocore": botocore.__version__,
        "botocore_generate_db_auth_token_us": per_call_us(mint, args.repeat),
        "python_hmac_floor_full_key_chain_us": per_call_us(floor_full, args.repeat),
    }
    for name, value in result.items():
        if isinstance(value, dict):
            print(f"{name:<40} median {value['median']:8.2f} us  (min {value['min']:.2f}, max {value['max']:.2f}, {args.repeat} runs)")
        else:
            print(f"{name:<40} {value}")
    if args.json:
        with open(args.json, "w") as out:
            json.dump(result, out, indent=2)


if __name__ == "__main__":
    main()
