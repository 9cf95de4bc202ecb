"""Instruction counts of `rds-iam token` against the minimal signer, and where the
tool's instructions go; called by benches/cli.sh with the two totals and the
`callgrind_annotate --inclusive=yes` output of the `rds-iam token` run.

usage: python3 benches/cli_instructions.py OURS_TOTAL MINIMAL_TOTAL ANNOTATED.txt
"""

import re
import sys

# Phases of `rds-iam token`, by the symbols of the release build (inclusive counts: the
# largest matching function's count is the phase's).
PHASES = [
    ("argument parsing (clap)", r"as clap_builder::derive::Parser>::parse\b"),
    ("logging set-up (tracing-subscriber)", r"rds_iam::init_logging\b|SubscriberBuilder<.*>>::init\b|SubscriberBuilder.*::try_init\b"),
    ("Tokio runtime start", r"tokio::runtime::builder::Builder::build\b"),
    ("credentials and region (aws-config's chain)", r"aws_config::default_provider::|aws_config::profile::|aws_config::environment::"),
    ("signing (rds-iam-token)", r"rds_iam_token::signer::AuthTokenSigner::sign\w*\b"),
]


def main():
    ours, minimal, annotated = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    print()
    print("| instructions (callgrind) | count | × minimal signer |")
    print("|---|---:|---:|")
    print(f"| `rds-iam token` | {ours:,} | {ours / minimal:.2f}x |")
    print(f"| minimal-signer | {minimal:,} | 1.00x |")
    counts = {}
    try:
        lines = open(annotated, errors="replace").read().splitlines()
    except OSError:
        lines = []
    for line in lines:
        m = re.match(r"\s*([\d,]+)\s+(?:\([^)]*\)\s+)?(?:\*\s+)?(\S.*)$", line)
        if not m:
            continue
        count, symbol = int(m.group(1).replace(",", "")), m.group(2)
        for name, pattern in PHASES:
            if re.search(pattern, symbol):
                counts[name] = max(counts.get(name, 0), count)
    if counts:
        print()
        print("| where `rds-iam token`'s instructions go (inclusive) | count | share |")
        print("|---|---:|---:|")
        for name, _ in PHASES:
            if name in counts:
                print(f"| {name} | {counts[name]:,} | {100 * counts[name] / ours:.1f}% |")
        print(f"| the whole process (start, dynamic loading, the above, exit) | {ours:,} | 100% |")
    print()
    print(f"instructions: rds-iam token executes {ours / minimal:.2f}x the minimal signer's "
          f"({ours - minimal:+,})")


if __name__ == "__main__":
    main()
