"""Instruction counts of `rds-iam token` against the minimal signer, phase by phase;
called by benches/cli.sh with each program's `callgrind_annotate --inclusive=yes` output.

usage: python3 benches/cli_instructions.py RDS_IAM.txt MINIMAL.txt

Inclusive counts (a function and all it calls) of a few symbols of the release builds:
the dynamic loader's start (relocations and symbol lookup of the executable and its
libraries), Rust's runtime start before `main`, and inside each program's `main` the
signing itself; for `rds-iam`, also the command (`TokenCommand::try_without_chain`:
credentials, signing, output) and what remains of `main`: reading the command line
(`fast_args`, or clap for anything else) and the logging set-up (a `LazySubscriber`
that builds tracing-subscriber's registry only when something is logged).
"""

import re
import sys


def inclusive(path):
    """{symbol: inclusive count} from a callgrind_annotate --inclusive=yes listing,
    plus "TOTAL"."""
    counts = {}
    for line in open(path, errors="replace"):
        total = re.match(r"\s*([\d,]+)\s+\(100\.0%\)\s+PROGRAM TOTALS", line)
        if total:
            counts["TOTAL"] = int(total.group(1).replace(",", ""))
            continue
        m = re.match(r"\s*([\d,]+)\s+\([^)]*\)\s+(?:\*\s+)?(?:[^:\s]*:)?(\S.*?)(?:\s+\[.*\])?$", line)
        if m:
            symbol = m.group(2)
            count = int(m.group(1).replace(",", ""))
            counts[symbol] = max(counts.get(symbol, 0), count)
    return counts


def find(counts, pattern):
    hits = [c for s, c in counts.items() if re.fullmatch(pattern, s)]
    return max(hits) if hits else None


def main():
    ours, minimal = inclusive(sys.argv[1]), inclusive(sys.argv[2])
    if "TOTAL" not in ours or "TOTAL" not in minimal:
        print("\n(no instruction counts: callgrind_annotate gave no totals)")
        return

    def phases(counts, program_main):
        total = counts["TOTAL"]
        loader = find(counts, r"_dl_start") or 0
        main_fn = find(counts, program_main) or 0
        runtime = (find(counts, r"std::rt::lang_start_internal") or 0) - main_fn
        sign = find(counts, r"rds_iam_token::signer::AuthTokenSigner::sign_with") or 0
        return total, loader, runtime, main_fn, sign

    o_total, o_loader, o_runtime, o_main, o_sign = phases(ours, r"rds_iam::main")
    m_total, m_loader, m_runtime, m_main, m_sign = phases(minimal, r"minimal_signer::main")
    command = (find(ours, r"rds_iam::run::run")
               or find(ours, r"rds_iam::token::TokenCommand::try_without_chain") or 0)
    clap = find(ours, r"clap_builder::derive::Parser::parse_from<.*>") or 0
    rest = max(o_main - command, 0)

    def row(name, a, b):
        ratio = f"{a / b:.2f}x" if b else "–"
        print(f"| {name} | {a:,} | {b:,} | {ratio} | {100 * a / o_total:.1f}% |")

    print()
    print("| instructions (callgrind, inclusive) | `rds-iam token` | minimal-signer | ratio | share of `rds-iam token` |")
    print("|---|---:|---:|---:|---:|")
    row("whole process", o_total, m_total)
    row("dynamic loader (relocations, symbol lookup)", o_loader, m_loader)
    row("Rust runtime start before `main`", o_runtime, m_runtime)
    row("`main`", o_main, m_main)
    print(f"| … the command: credentials, signing, output | {command:,} | – | – | {100 * command / o_total:.1f}% |")
    row("… … of which signing (`sign_with`)", o_sign, m_sign)
    print(f"| … the rest of `main`: command line, logging set-up | {rest:,} | – | – | {100 * rest / o_total:.1f}% |")
    print(f"| … … of which clap (0 when `fast_args` reads the command line) | {clap:,} | – | – | {100 * clap / o_total:.1f}% |")
    print()
    print(f"instructions: rds-iam token executes {o_total / m_total:.2f}x the minimal signer's "
          f"({o_total - m_total:+,}); the loader's share of the difference: "
          f"{100 * (o_loader - m_loader) / max(o_total - m_total, 1):.0f}%, the rest of main's: "
          f"{100 * rest / max(o_total - m_total, 1):.0f}%")


if __name__ == "__main__":
    main()
