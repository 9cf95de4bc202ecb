#!/usr/bin/env python3
"""Prints the token benchmark's times and ratios from criterion's saved estimates.

    cargo bench -p rds-iam-benches --bench token
    python3 benches/ratios.py            # reads target/criterion (or $CARGO_TARGET_DIR)

Every ratio compares results of the same run, so the machine's speed cancels out.
"""

import json
import os
import pathlib
import sys

target = pathlib.Path(os.environ.get("CARGO_TARGET_DIR", pathlib.Path(__file__).parent.parent / "target"))
root = target / "criterion" / "token"
if not root.is_dir():
    sys.exit(f"no results under {root}: run `cargo bench -p rds-iam-benches --bench token` first")

times = {}
for bench in root.iterdir():
    new = bench / "new"
    if not (new / "estimates.json").is_file():
        continue
    name = json.loads((new / "benchmark.json").read_text())["function_id"]
    estimates = json.loads((new / "estimates.json").read_text())
    times[name] = estimates["median"]["point_estimate"] / 1000.0  # ns -> us

width = max(map(len, times))
print("median time per token")
for name, us in sorted(times.items(), key=lambda item: item[1]):
    print(f"  {name:<{width}}  {us:8.3f} us")

cached = times["rds-iam-token/cached-key"]
first = times["rds-iam-token/first-of-day"]
sdk = times["aws-sdk-rds/AuthTokenGenerator"]
sigv4 = times["aws-sigv4/presign"]
floor_full = times["floor/full-key-chain"]
floor_cached = times["floor/cached-key"]
checks = [
    ("aws-sdk-rds / rds-iam-token (cached key)", sdk / cached, ">= 5", sdk / cached >= 5),
    ("aws-sdk-rds / rds-iam-token (first of day)", sdk / first, "", True),
    ("aws-sigv4 presign / rds-iam-token (cached key)", sigv4 / cached, "", True),
    ("aws-sigv4 presign / rds-iam-token (first of day)", sigv4 / first, "", True),
    ("rds-iam-token (cached key) / cached floor", cached / floor_cached, "<= 3", cached / floor_cached <= 3),
    ("rds-iam-token (first of day) / full floor", first / floor_full, "<= 3", first / floor_full <= 3),
]
print("ratios (same run)")
failed = False
for label, ratio, target_text, ok in checks:
    verdict = "" if not target_text else ("  target " + target_text + (": met" if ok else ": MISSED"))
    failed |= not ok
    print(f"  {label:<50} {ratio:6.2f}x{verdict}")
sys.exit(1 if failed else 0)
