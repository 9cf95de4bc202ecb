#!/usr/bin/env bash
# What the `rds-iam` tool costs to have: its normal dependency count (`cargo tree -e
# normal`), a clean release build's wall time and crates compiled, and the stripped
# binary's size, for this tree ("after") and for a baseline commit ("before": 7cb3646, the
# last commit whose CLI depended on sqlx-rds-iam and so linked sqlx). Both are built the
# same way, one after the other, each from an empty target directory (dependencies are
# fetched first, so download time is not counted).
#
# usage: benches/cli-footprint.sh [--json FILE]
#   CLI_FOOTPRINT_BASELINE=REV   another baseline commit (default 7cb3646)
#   CLI_FOOTPRINT_DIR=DIR        where to build (default target/cli-footprint)
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
json=
case "${1:-}" in
    --json) json=$2 ;;
    "") ;;
    *) echo "usage: benches/cli-footprint.sh [--json FILE]" >&2; exit 2 ;;
esac
baseline=${CLI_FOOTPRINT_BASELINE:-7cb3646}
work=${CLI_FOOTPRINT_DIR:-$root/target/cli-footprint}
rm -rf "$work"
mkdir -p "$work/before" "$work/after"

# The two source trees: the baseline commit from git, this tree as it is (uncommitted
# changes included, as the build of the other benchmarks does).
git -C "$root" rev-parse --verify --quiet "$baseline^{commit}" >/dev/null ||
    { echo "benches/cli-footprint.sh: no commit $baseline in this clone (a shallow clone? git fetch --unshallow)" >&2; exit 1; }
git -C "$root" archive "$baseline" | tar -x -C "$work/before"
(cd "$root" && git ls-files -co --exclude-standard -z |
    tar --null -T - -c 2>/dev/null) | tar -x -C "$work/after"

# measure NAME: prints "NAME deps secs crates bytes" and leaves the build log behind.
measure() {
    local name=$1 dir=$work/$1
    (cd "$dir" && cargo fetch --locked --quiet)
    local deps
    deps=$(cd "$dir" && cargo tree --locked -p rds-iam-cli -e normal --prefix none -f '{p}' |
        sed 's/ (\*)$//; s/ (proc-macro)$//' | sort -u | wc -l)
    local start end
    start=$(date +%s.%N)
    (cd "$dir" && CARGO_TARGET_DIR="$dir/target" cargo build --locked --release -p rds-iam-cli 2>"$dir/build.log")
    end=$(date +%s.%N)
    local crates bytes
    crates=$(grep -c '^ *Compiling ' "$dir/build.log")
    strip -o "$dir/rds-iam.stripped" "$dir/target/release/rds-iam"
    bytes=$(stat -c %s "$dir/rds-iam.stripped")
    echo "$name $deps $(echo "$end - $start" | bc) $crates $bytes"
}

echo "rustc $(rustc --version | cut -d' ' -f2), $(nproc) CPUs, load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
before=$(measure before)
after=$(measure after)
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
python3 - "$baseline" "$json" "$before" "$after" <<'EOF'
import json, sys
baseline, json_path, *rows = sys.argv[1:]
parsed = {}
for row in rows:
    name, deps, secs, crates, size = row.split()
    parsed[name] = {"deps": int(deps), "build_s": float(secs), "crates_compiled": int(crates), "stripped_bytes": int(size)}
b, a = parsed["before"], parsed["after"]
print()
print(f"| rds-iam | normal dependencies | clean release build | crates compiled | stripped binary |")
print(f"|---|---:|---:|---:|---:|")
print(f"| before ({baseline}, with sqlx-rds-iam) | {b['deps']} | {b['build_s']:.1f} s | {b['crates_compiled']} | {b['stripped_bytes'] / 2**20:.2f} MiB |")
print(f"| after (rds-iam-certs, no sqlx) | {a['deps']} | {a['build_s']:.1f} s | {a['crates_compiled']} | {a['stripped_bytes'] / 2**20:.2f} MiB |")
print(f"| after / before | {a['deps'] / b['deps']:.2f}x | {a['build_s'] / b['build_s']:.2f}x | {a['crates_compiled'] / b['crates_compiled']:.2f}x | {a['stripped_bytes'] / b['stripped_bytes']:.2f}x |")
if json_path:
    json.dump({"baseline": baseline, **parsed}, open(json_path, "w"), indent=2)
EOF
