#!/usr/bin/env bash
# Whole-process cost of one RDS IAM token from the command line:
#   rds-iam token            (this workspace, release build)
#   minimal-signer           (benches/cli/minimal-signer: the least a Rust program can do)
#   aws rds generate-db-auth-token   (the AWS CLI from PyPI)
# with environment credentials. Prints the median wall time of several runs (hyperfine if
# installed, else a `date +%s%N` loop; the two Rust programs in alternating rounds) and
# the median peak RSS (/usr/bin/time), then the ratios the targets are stated in: >= 100x
# faster than the AWS CLI, within 1.5x of the minimal signer (the median of the rounds'
# ratios). Then instruction counts of the two Rust programs (valgrind callgrind:
# the same for the same binary and input whatever the machine's load), with the share of
# `rds-iam token`'s instructions spent parsing arguments, setting up logging and loading
# credentials, so that the cost of each is visible.
#
# usage: benches/cli.sh [RUNS]        (RUNS for the Rust programs, default 200; the AWS CLI gets RUNS/10, at least 10)
#   apt install hyperfine time        (optional hyperfine; `time` gives /usr/bin/time)
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
runs=${1:-200}
aws_runs=$(( runs / 10 > 10 ? runs / 10 : 10 ))

command -v aws >/dev/null || { echo "benches/cli.sh: the AWS CLI is needed (pip install awscli)" >&2; exit 1; }

echo "==> building (release)" >&2
cargo build --quiet --release -p rds-iam-cli
(cd benches/cli/minimal-signer && cargo build --quiet --release --target-dir ../../../target/bench-cli)
rds_iam=$PWD/target/release/rds-iam
minimal=$PWD/target/bench-cli/release/minimal-signer

# A sealed environment: example keys, no config files, no instance metadata.
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
: > "$scratch/config"; : > "$scratch/credentials"
export AWS_ACCESS_KEY_ID=AKIDEXAMPLE
export AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY
unset AWS_SESSION_TOKEN AWS_PROFILE AWS_REGION AWS_DEFAULT_REGION
export AWS_CONFIG_FILE=$scratch/config AWS_SHARED_CREDENTIALS_FILE=$scratch/credentials
export AWS_EC2_METADATA_DISABLED=true

host=mydb.abc123.us-east-1.rds.amazonaws.com
names=("rds-iam token" "minimal-signer" "aws rds generate-db-auth-token")
cmds=(
    "$rds_iam token --hostname $host --port 5432 --username app"
    "$minimal $host 5432 app us-east-1"
    "aws rds generate-db-auth-token --hostname $host --port 5432 --username app --region us-east-1"
)
counts=("$runs" "$runs" "$aws_runs")

# All three must print a token of the same shape (the tests check the bytes).
for cmd in "${cmds[@]}"; do
    out=$($cmd)
    case $out in "$host:5432/?Action=connect&DBUser=app&X-Amz-Algorithm="*) ;; *)
        echo "benches/cli.sh: unexpected output from: $cmd" >&2; exit 1 ;;
    esac
done

# Median wall time and mean CPU time (user + system) in milliseconds. On a busy machine
# wall time includes waiting for a CPU; CPU time does not.
median_ms() {
    local cmd=$1 n=$2
    if command -v hyperfine >/dev/null; then
        hyperfine --style none -N --warmup 3 --runs "$n" --export-json "$scratch/h.json" "$cmd" >/dev/null 2>&1
        python3 -c 'import json,sys; r = json.load(open(sys.argv[1]))["results"][0]; print("%.2f %.2f" % (r["median"] * 1000, (r["user"] + r["system"]) * 1000))' "$scratch/h.json"
    else
        local i start end
        for ((i = 0; i < 3; i++)); do $cmd >/dev/null; done
        # No CPU time without hyperfine: "n/a".
        for ((i = 0; i < n; i++)); do
            start=$(date +%s%N); $cmd >/dev/null; end=$(date +%s%N)
            echo $(( end - start ))
        done | sort -n | awk '{ a[NR] = $1 } END { printf "%.2f n/a\n", (NR % 2 ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2) / 1e6 }'
    fi
}

# Median peak RSS in MiB over a few runs.
median_rss_mib() {
    local cmd=$1 i
    if [ ! -x /usr/bin/time ]; then echo "n/a"; return; fi
    for ((i = 0; i < 9; i++)); do
        /usr/bin/time -f %M -o "$scratch/rss" $cmd >/dev/null
        cat "$scratch/rss"
    done | sort -n | awk '{ a[NR] = $1 } END { printf "%.1f\n", a[(NR + 1) / 2] / 1024 }'
}

declare -a ms cpu rss
# The two Rust programs run in alternating rounds (rds-iam, minimal, rds-iam, ...), so that
# a drift in the machine's speed (other work, frequency, the hypervisor) lands on both:
# they are a few hundred microseconds apart, and one slow minute would otherwise decide
# the ratio. The ratio reported is the median of the rounds' ratios, with their range.
rounds=10
per_round=$(( runs / rounds > 10 ? runs / rounds : 10 ))
round_ratios=""
if command -v hyperfine >/dev/null; then
    echo "==> rds-iam token / minimal-signer: $rounds alternating rounds of $per_round runs" >&2
    for ((r = 0; r < rounds; r++)); do
        for i in 0 1; do
            hyperfine --style none -N --warmup 3 --runs "$per_round" \
                --export-json "$scratch/round-$r-$i.json" "${cmds[$i]}" >/dev/null 2>&1
        done
    done
    read -r ms[0] cpu[0] ms[1] cpu[1] round_ratios < <(python3 - "$scratch" "$rounds" <<'EOF_PY'
import json, statistics, sys
scratch, rounds = sys.argv[1], int(sys.argv[2])
times, cpu, ratios = {0: [], 1: []}, {0: [], 1: []}, []
for r in range(rounds):
    medians = []
    for i in (0, 1):
        result = json.load(open(f"{scratch}/round-{r}-{i}.json"))["results"][0]
        times[i] += result["times"]
        cpu[i].append(result["user"] + result["system"])
        medians.append(statistics.median(result["times"]))
    ratios.append(medians[0] / medians[1])
ratios.sort()
print("%.2f %.2f %.2f %.2f %.3f,%.3f,%.3f" % (
    statistics.median(times[0]) * 1000, statistics.mean(cpu[0]) * 1000,
    statistics.median(times[1]) * 1000, statistics.mean(cpu[1]) * 1000,
    statistics.median(ratios), ratios[0], ratios[-1]))
EOF_PY
    )
    echo "==> ${names[2]} (${counts[2]} runs)" >&2
    read -r ms[2] cpu[2] < <(median_ms "${cmds[2]}" "${counts[2]}")
else
    for i in "${!cmds[@]}"; do
        echo "==> ${names[$i]} (${counts[$i]} runs)" >&2
        read -r ms[$i] cpu[$i] < <(median_ms "${cmds[$i]}" "${counts[$i]}")
    done
fi
for i in "${!cmds[@]}"; do
    rss[$i]=$(median_rss_mib "${cmds[$i]}")
done

echo
echo "| command | median wall time | mean CPU time | peak RSS |"
echo "|---|---:|---:|---:|"
for i in "${!cmds[@]}"; do
    printf '| `%s` | %s ms | %s ms | %s MiB |\n' "${names[$i]}" "${ms[$i]}" "${cpu[$i]}" "${rss[$i]}"
done
echo
python3 - "${ms[@]}" "${cpu[@]}" "$rounds" "$round_ratios" <<'EOF'
import sys
ours, minimal, aws, ours_cpu, minimal_cpu, aws_cpu, rounds = sys.argv[1:8]
rounds_text = sys.argv[8] if len(sys.argv) > 8 else ""
ours, minimal, aws = float(ours), float(minimal), float(aws)
if rounds_text:
    ratio, low, high = (float(x) for x in rounds_text.split(","))
    how = f"median of {rounds} alternating rounds; range {low:.2f}x-{high:.2f}x"
else:
    ratio, how = ours / minimal, "one block of runs each, no hyperfine"
print(f"wall: rds-iam is {aws / ours:.0f}x faster than the AWS CLI (target >= 100x: "
      f"{'met' if aws / ours >= 100 else 'NOT met'}) and takes {ratio:.2f}x the "
      f"minimal signer's time ({how}; target <= 1.5x: {'met' if ratio <= 1.5 else 'NOT met'})")
if ours_cpu != "n/a":
    o, m, a = float(ours_cpu), float(minimal_cpu), float(aws_cpu)
    print(f"CPU:  rds-iam uses {a / o:.0f}x less than the AWS CLI and {o / m:.2f}x the minimal signer")
EOF

# Instruction counts (callgrind counts every instruction the process executes in user
# space, from the dynamic loader on). The breakdown is inclusive: a function's own
# instructions plus those of everything it calls.
if command -v valgrind >/dev/null && command -v callgrind_annotate >/dev/null; then
    echo "==> instruction counts (valgrind --tool=callgrind)" >&2
    # annotate NAME COMMAND...: runs it under callgrind, writes the inclusive listing.
    annotate() {
        local name=$1; shift
        valgrind --tool=callgrind --callgrind-out-file="$scratch/$name.cg" "$@" \
            2>"$scratch/$name.log" >/dev/null
        callgrind_annotate --inclusive=yes --threshold=100 "$scratch/$name.cg" >"$scratch/$name.txt"
    }
    # shellcheck disable=SC2086 # the commands' words are the arguments
    annotate ours ${cmds[0]}
    # shellcheck disable=SC2086
    annotate minimal ${cmds[1]}
    python3 benches/cli_instructions.py "$scratch/ours.txt" "$scratch/minimal.txt"
else
    echo
    echo "(no instruction counts: valgrind is not installed; apt install valgrind)"
fi
echo
echo "($(nproc) CPUs, $(uname -sr), $(aws --version 2>&1 | cut -d' ' -f1), $(date -u +%Y-%m-%d))"
