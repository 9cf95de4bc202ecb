#!/usr/bin/env bash
# Peak memory (maximum resident set size, from /usr/bin/time -v) of the PostgreSQL
# quickstart with IAM (examples/postgres.rs, run as scripts/demo runs it) against the same
# program with the control user's password (benches/quickstart_password.rs), all release
# builds, on the test bed (tests/rds-emulator/setup first). A third program
# (benches/quickstart_iam_static.rs: IAM with credentials given directly, no aws-config)
# splits the difference between aws-config and the adapter.
#
#   benches/memory.sh [RUNS] [--json out.json]      # default 5 runs each, alternating
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
runs=5
json=
while [ $# -gt 0 ]; do
    case $1 in
    --json) json=$2; shift 2 ;;
    *) runs=$1; shift ;;
    esac
done
[ -x /usr/bin/time ] || { echo "memory.sh: needs /usr/bin/time (apt-get install time)" >&2; exit 1; }

env_file=${RDS_TESTBED_ENV:-/var/lib/rds-emulator/testbed.env}
# shellcheck disable=SC1090
. "$env_file"

cargo build --quiet --release -p rds-iam-examples --example postgres
cargo build --quiet --release -p rds-iam-benches --bin quickstart-password --bin quickstart-iam-static
target_dir=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
iam_bin=$target_dir/release/examples/postgres
password_bin=$target_dir/release/quickstart-password
static_bin=$target_dir/release/quickstart-iam-static

run_iam() {
    env -u AWS_SESSION_TOKEN -u AWS_PROFILE \
        AWS_ACCESS_KEY_ID="$RDS_TESTBED_ACCESS_KEY_ID" \
        AWS_SECRET_ACCESS_KEY="$RDS_TESTBED_SECRET_ACCESS_KEY" \
        AWS_REGION="$RDS_TESTBED_REGION" AWS_EC2_METADATA_DISABLED=true \
        RDS_IAM_CA_FILE="$RDS_TESTBED_CA_FILE" RUST_LOG=warn \
        DATABASE_URL="postgres://$RDS_TESTBED_IAM_USER@$RDS_TESTBED_PG_HOST:$RDS_TESTBED_PG_PORT/$RDS_TESTBED_DATABASE" \
        /usr/bin/time -v "$iam_bin"
}
run_static() {
    env -u AWS_SESSION_TOKEN \
        AWS_ACCESS_KEY_ID="$RDS_TESTBED_ACCESS_KEY_ID" \
        AWS_SECRET_ACCESS_KEY="$RDS_TESTBED_SECRET_ACCESS_KEY" \
        AWS_REGION="$RDS_TESTBED_REGION" \
        RDS_IAM_CA_FILE="$RDS_TESTBED_CA_FILE" RUST_LOG=warn \
        DATABASE_URL="postgres://$RDS_TESTBED_IAM_USER@$RDS_TESTBED_PG_HOST:$RDS_TESTBED_PG_PORT/$RDS_TESTBED_DATABASE" \
        /usr/bin/time -v "$static_bin"
}
run_password() {
    env RUST_LOG=warn \
        DATABASE_URL="postgres://$RDS_TESTBED_CONTROL_USER:$RDS_TESTBED_CONTROL_PASSWORD@$RDS_TESTBED_PG_HOST:$RDS_TESTBED_PG_PORT/$RDS_TESTBED_DATABASE?sslmode=verify-full&sslrootcert=$RDS_TESTBED_CA_FILE" \
        /usr/bin/time -v "$password_bin"
}
peak_kb() { sed -n 's/^\s*Maximum resident set size (kbytes): //p'; }
wall_s() {
    # "Elapsed (wall clock) time (h:mm:ss or m:ss): 0:00.05"
    sed -n 's/^\s*Elapsed (wall clock) time.*: \([0-9:.]*\)$/\1/p' | awk -F: '{ s = 0; for (i = 1; i <= NF; i++) s = s * 60 + $i; print s }'
}

iam_kb=() password_kb=() static_kb=() iam_s=() password_s=() static_s=()
for ((i = 0; i < runs; i++)); do
    out=$(run_iam 2>&1 >/dev/null) || { echo "$out" >&2; exit 1; }
    iam_kb+=("$(peak_kb <<<"$out")"); iam_s+=("$(wall_s <<<"$out")")
    out=$(run_password 2>&1 >/dev/null) || { echo "$out" >&2; exit 1; }
    password_kb+=("$(peak_kb <<<"$out")"); password_s+=("$(wall_s <<<"$out")")
    out=$(run_static 2>&1 >/dev/null) || { echo "$out" >&2; exit 1; }
    static_kb+=("$(peak_kb <<<"$out")"); static_s+=("$(wall_s <<<"$out")")
done

python3 - "$json" "${iam_kb[*]}" "${password_kb[*]}" "${iam_s[*]}" "${password_s[*]}" "${static_kb[*]}" "${static_s[*]}" <<'PY'
import json, statistics, sys
out, iam, pw, iam_s, pw_s, st, st_s = sys.argv[1], *[list(map(float, a.split())) for a in sys.argv[2:]]
def stats(v):
    return {"median": statistics.median(v), "min": min(v), "max": max(v), "runs": v}
result = {"iam_peak_rss_kb": stats(iam), "password_peak_rss_kb": stats(pw),
          "iam_wall_s": stats(iam_s), "password_wall_s": stats(pw_s),
          "iam_static_peak_rss_kb": stats(st), "iam_static_wall_s": stats(st_s)}
r = result["iam_peak_rss_kb"]["median"] / result["password_peak_rss_kb"]["median"]
result["ratio_iam_over_password"] = r
print(f"peak RSS, median of {len(iam)} runs: IAM quickstart {result['iam_peak_rss_kb']['median'] / 1024:.1f} MiB "
      f"(min {min(iam) / 1024:.1f}, max {max(iam) / 1024:.1f}), password {result['password_peak_rss_kb']['median'] / 1024:.1f} MiB "
      f"(min {min(pw) / 1024:.1f}, max {max(pw) / 1024:.1f}), IAM without aws-config {statistics.median(st) / 1024:.1f} MiB: "
      f"IAM / password = {r:.2f}x")
if out:
    with open(out, "w") as f:
        json.dump(result, f, indent=2)
PY
