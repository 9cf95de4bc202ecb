#!/usr/bin/env bash
# Cold start, the Lambda case: wall time from process start (fork + exec) to the first
# query result, for the same program (examples/cold_start.rs, release build) with
#   iam       credentials from environment variables with a session token, as Lambda
#             provides them: aws_config::load_defaults (the whole default chain) +
#             .iam_auth(...), user iam_user;
#   iam-env   the same credentials through aws-config's environment provider alone, as
#             examples/lambda.rs reads them (no default chain, no HTTPS client);
#   password  a static password (the test bed's control user), no AWS code at all.
# All use verified TLS against the test bed's CA, one connection, `select 1`.
# Runs rotate (iam, iam-env, password, iam, ...) so that all see the same machine state.
#
#   benches/cold-start.sh              # 30 runs of each (COLD_START_RUNS=N to change)
#
# Needs the test bed (sudo tests/rds-emulator/setup). Prints, per mode, the median, p90,
# min and max of the total, and the median in-process phases: `config` (up to a ready
# IamAuth, or connect options), `connected` (first connection open, token signed and
# checked), `first result`. For every IAM login, PAM runs the test bed's token check
# (tests/rds-emulator/verifier-client.c asking the verifier daemon); its time per login
# is measured separately and printed, since RDS checks tokens its own way.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
runs=${COLD_START_RUNS:-30}
env_file=${RDS_TESTBED_ENV:-/var/lib/rds-emulator/testbed.env}
[ -r "$env_file" ] || { echo "no test bed ($env_file): run sudo tests/rds-emulator/setup" >&2; exit 1; }
# shellcheck disable=SC1090
. "$env_file"

cd "$root"
cargo build --quiet --release -p rds-iam-examples --example cold_start
bin=$root/target/release/examples/cold_start

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/home"

db_url() { echo "postgres://$1@$RDS_TESTBED_PG_HOST:$RDS_TESTBED_PG_PORT/$RDS_TESTBED_DATABASE"; }

# A clean environment: what a Lambda function sees, no ~/.aws, nothing inherited.
run_mode() {
    local mode=$1 out=$2
    case $mode in
    iam | iam-env)
        env -i PATH=/usr/bin:/bin HOME="$work/home" \
            AWS_ACCESS_KEY_ID="$RDS_TESTBED_TEMP_ACCESS_KEY_ID" \
            AWS_SECRET_ACCESS_KEY="$RDS_TESTBED_TEMP_SECRET_ACCESS_KEY" \
            AWS_SESSION_TOKEN="$RDS_TESTBED_TEMP_SESSION_TOKEN" \
            AWS_REGION="$RDS_TESTBED_REGION" AWS_DEFAULT_REGION="$RDS_TESTBED_REGION" \
            AWS_LAMBDA_FUNCTION_NAME=cold-start AWS_EXECUTION_ENV=AWS_Lambda_provided.al2023 \
            RDS_IAM_CA_FILE="$RDS_TESTBED_CA_FILE" RUST_LOG=off \
            DATABASE_URL="$(db_url "$RDS_TESTBED_IAM_USER")" \
            "$bin" "$mode" >"$out"
        ;;
    password)
        env -i PATH=/usr/bin:/bin HOME="$work/home" \
            RDS_IAM_CA_FILE="$RDS_TESTBED_CA_FILE" RUST_LOG=off \
            DATABASE_URL="$(db_url "$RDS_TESTBED_CONTROL_USER")" \
            DATABASE_PASSWORD="$RDS_TESTBED_CONTROL_PASSWORD" \
            "$bin" password >"$out"
        ;;
    esac
}

# One measured run: appends "total_ms config_ms connected_ms first_result_ms".
measure() {
    local mode=$1 start line done_at rest
    start=$EPOCHREALTIME
    run_mode "$mode" "$work/out"
    read -r done_at rest <"$work/out"
    line=$(awk -v s="$start" -v d="$done_at" -v r="$rest" 'BEGIN {
        n = split(r, f, " "); out = sprintf("%.2f", (d - s) * 1000)
        for (i = 1; i <= n; i++) { split(f[i], kv, "="); out = out " " kv[2] }
        print out }')
    echo "$line" >>"$work/$mode.txt"
}

# Warm the page cache and the servers, not measured.
modes=(iam iam-env password)
for _ in 1 2; do
    for mode in "${modes[@]}"; do run_mode "$mode" "$work/out"; done
done
for ((i = 0; i < runs; i++)); do
    for mode in "${modes[@]}"; do measure "$mode"; done
done

# How long the test bed's token check takes per IAM login (the program PAM runs: start
# the verifier client, ask the daemon, which checks and logs), which PAM adds to every
# IAM connect here.
token=$(AWS_ACCESS_KEY_ID=$RDS_TESTBED_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY=$RDS_TESTBED_SECRET_ACCESS_KEY \
    AWS_SESSION_TOKEN='' tests/rds-emulator/mint_token.py --port "$RDS_TESTBED_PG_PORT" --user "$RDS_TESTBED_IAM_USER")
for _ in $(seq 1 10); do
    start=$EPOCHREALTIME
    PAM_SERVICE=rds-iam-postgres PAM_USER=$RDS_TESTBED_IAM_USER PAM_AUTHTOK=$token \
        /var/lib/rds-emulator/pam/pam_script_auth
    awk -v s="$start" -v d="$EPOCHREALTIME" 'BEGIN { printf "%.2f\n", (d - s) * 1000 }' >>"$work/verifier.txt"
done

stats() { # file column -> "median p90 min max"
    cut -d' ' -f"$2" "$1" | sort -n | awk '{ v[NR] = $1 } END {
        p90 = int(NR * 0.9 + 0.5); if (p90 < 1) p90 = 1
        printf "%8.1f %8.1f %8.1f %8.1f", v[int((NR + 1) / 2)], v[p90], v[1], v[NR] }'
}
median() { cut -d' ' -f"$2" "$1" | sort -n | awk '{ v[NR] = $1 } END { printf "%8.1f", v[int((NR + 1) / 2)] }'; }

# benches/report.py parses these lines (the header's first word, then one row per mode):
# keep the columns.
echo "cold start: process start -> first query result, $runs runs each (ms)"
printf '%-9s %8s %8s %8s %8s | %8s %9s %12s | %s\n' mode median p90 min max config connected "first result" "x password"
pw_median=$(median "$work/password.txt" 1)
for mode in "${modes[@]}"; do
    m=$(median "$work/$mode.txt" 1)
    printf '%-9s %s | %s %s %s | %8s\n' "$mode" "$(stats "$work/$mode.txt" 1)" \
        "$(median "$work/$mode.txt" 2)" " $(median "$work/$mode.txt" 3)" "    $(median "$work/$mode.txt" 4)" \
        "$(awk -v a="$m" -v b="$pw_median" 'BEGIN { printf "%.3fx", a / b }')"
done
printf 'test bed token check per IAM login (verifier client + daemon, 10 runs): median %s ms\n' \
    "$(median "$work/verifier.txt" 1 | tr -d ' ')"
