#!/usr/bin/env bash
# Build cost: clean release builds of small programs, each from a clean target directory
# (dependencies are fetched first, so download time is not counted):
#   token-only     signs a token with rds-iam-token alone (no optional features);
#   sdk-rds        the same with aws-config + aws-sdk-rds's AuthTokenGenerator, as the AWS
#                  docs suggest: the baseline of token-only;
#   adapter        a sqlx PostgreSQL pool with sqlx-rds-iam and aws-config (the quickstart);
#   sqlx-sdk-rds   the same pool built by hand: aws-config + aws-sdk-rds sign one token that
#                  becomes the password (no refresh): the baseline of adapter;
#   sqlx-password  the same pool with a static password: what IAM adds at all.
#
#   benches/build-cost.sh            # builds under target/build-cost (or $BUILD_COST_DIR)
#   benches/build-cost.sh --check    # only `cargo check` every program (CI: they must build)
#
# Prints wall time and the number of crates compiled for each, and the ratios.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
check=0
case "${1:-}" in
    --check) check=1 ;;
    "") ;;
    *) echo "usage: benches/build-cost.sh [--check]" >&2; exit 2 ;;
esac
# --check keeps away from the measured builds' directory (their logs stay).
if [ "$check" = 1 ]; then
    work=${BUILD_COST_DIR:-$root/target/build-cost-check/programs}
else
    work=${BUILD_COST_DIR:-$root/target/build-cost}
fi
rm -rf "$work"
mkdir -p "$work"

# new_program NAME <<TOML ... TOML: a throwaway package with the dependencies on stdin,
# outside the workspace, with the workspace's lock file (same versions where they overlap).
new_program() {
    local name=$1
    mkdir -p "$work/$name/src"
    cp "$root/Cargo.lock" "$work/$name/Cargo.lock"
    {
        printf '[package]\nname = "%s"\nversion = "0.0.0"\nedition = "2024"\npublish = false\n\n' "$name"
        printf '[dependencies]\n'
        cat
        printf '\n# Not part of the rds-iam workspace.\n[workspace]\n'
    } >"$work/$name/Cargo.toml"
}

new_program token-only <<TOML
rds-iam-token = { path = "$root/crates/rds-iam-token" }
aws-credential-types = "1.3"
TOML
cat >"$work/token-only/src/main.rs" <<'RUST'
use std::time::SystemTime;

use aws_credential_types::Credentials;
use rds_iam_token::AuthTokenSigner;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let key = std::env::var("AWS_ACCESS_KEY_ID").unwrap_or_else(|_| "AKIDEXAMPLE".into());
    let secret = std::env::var("AWS_SECRET_ACCESS_KEY").unwrap_or_else(|_| "secret".into());
    let credentials = Credentials::new(key, secret, None, None, "env");
    let signer = AuthTokenSigner::rds("mydb.abc123.us-east-1.rds.amazonaws.com", 5432, "app")
        .credentials_provider(credentials.clone())
        .build()?;
    println!("{}", signer.sign_with(&credentials, SystemTime::now())?.expose());
    Ok(())
}
RUST

new_program sdk-rds <<TOML
aws-config = { version = "1.13", features = ["behavior-version-latest"] }
aws-sdk-rds = "1.159"
tokio = { version = "1", features = ["macros", "rt"] }
TOML
cat >"$work/sdk-rds/src/main.rs" <<'RUST'
use aws_sdk_rds::auth_token::{AuthTokenGenerator, Config};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let sdk = aws_config::load_from_env().await;
    let generator = AuthTokenGenerator::new(
        Config::builder()
            .hostname("mydb.abc123.us-east-1.rds.amazonaws.com")
            .port(5432)
            .username("app")
            .build()?,
    );
    println!("{}", generator.auth_token(&sdk).await?);
    Ok(())
}
RUST

new_program adapter <<TOML
aws-config = { version = "1.13", features = ["behavior-version-latest"] }
sqlx = { version = "0.9", default-features = false, features = ["postgres", "runtime-tokio"] }
sqlx-rds-iam = { path = "$root/crates/sqlx-rds-iam", default-features = false, features = ["postgres"] }
tokio = { version = "1", features = ["macros", "rt-multi-thread"] }
TOML
cat >"$work/adapter/src/main.rs" <<'RUST'
use sqlx::postgres::PgPoolOptions;
use sqlx_rds_iam::{IamAuth, IamAuthExt};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let sdk = aws_config::load_from_env().await;
    let pool = PgPoolOptions::new()
        .iam_auth(IamAuth::from_sdk_config(&sdk))
        .connect_lazy("postgres://app@mydb.abc123.us-east-1.rds.amazonaws.com:5432/app")
        .await?;
    let answer: i32 = sqlx::query_scalar("select 6 * 7").fetch_one(&pool).await?;
    println!("{answer}");
    Ok(())
}
RUST

new_program sqlx-sdk-rds <<TOML
aws-config = { version = "1.13", features = ["behavior-version-latest"] }
aws-sdk-rds = "1.159"
sqlx = { version = "0.9", default-features = false, features = ["postgres", "runtime-tokio", "tls-rustls-ring-webpki"] }
tokio = { version = "1", features = ["macros", "rt-multi-thread"] }
TOML
cat >"$work/sqlx-sdk-rds/src/main.rs" <<'RUST'
use aws_sdk_rds::auth_token::{AuthTokenGenerator, Config};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions, PgSslMode};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let host = "mydb.abc123.us-east-1.rds.amazonaws.com";
    let sdk = aws_config::load_from_env().await;
    let generator = AuthTokenGenerator::new(
        Config::builder().hostname(host).port(5432).username("app").build()?,
    );
    let token = generator.auth_token(&sdk).await?;
    let options = PgConnectOptions::new()
        .host(host)
        .port(5432)
        .username("app")
        .password(token.as_str())
        .database("app")
        .ssl_mode(PgSslMode::VerifyFull)
        .ssl_root_cert("global-bundle.pem");
    let pool = PgPoolOptions::new().connect_lazy_with(options);
    let answer: i32 = sqlx::query_scalar("select 6 * 7").fetch_one(&pool).await?;
    println!("{answer}");
    Ok(())
}
RUST

new_program sqlx-password <<TOML
sqlx = { version = "0.9", default-features = false, features = ["postgres", "runtime-tokio", "tls-rustls-ring-webpki"] }
tokio = { version = "1", features = ["macros", "rt-multi-thread"] }
TOML
cat >"$work/sqlx-password/src/main.rs" <<'RUST'
use sqlx::postgres::PgPoolOptions;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = std::env::var("DATABASE_URL")?;
    let pool = PgPoolOptions::new().connect_lazy(&url)?;
    let answer: i32 = sqlx::query_scalar("select 6 * 7").fetch_one(&pool).await?;
    println!("{answer}");
    Ok(())
}
RUST

measure() {
    local name=$1 dir=$work/$1
    (cd "$dir" && cargo fetch --quiet)
    local start end
    start=$(date +%s.%N)
    (cd "$dir" && CARGO_TARGET_DIR="$dir/target" cargo build --release 2>"$dir/build.log")
    end=$(date +%s.%N)
    local crates
    crates=$(grep -c '^ *Compiling ' "$dir/build.log")
    local secs
    secs=$(echo "$end - $start" | bc)
    printf '%-14s %7.1f s  %4d crates compiled\n' "$name" "$secs" "$crates"
    eval "${name//-/_}_secs=$secs"
}

if [ "$check" = 1 ]; then
    # One shared target directory: only that every program still compiles matters here.
    for name in token-only sdk-rds adapter sqlx-sdk-rds sqlx-password; do
        (cd "$work/$name" && CARGO_TARGET_DIR="$root/target/build-cost-check/target" cargo check --quiet)
        echo "$name: builds"
    done
    exit 0
fi

ratio() { # ratio NAME_A SECS_A NAME_B SECS_B
    printf '%s takes %.1f%% of the time of %s (%.1fx faster)\n' "$1" \
        "$(echo "100 * $2 / $4" | bc -l)" "$3" "$(echo "$4 / $2" | bc -l)"
}

echo "rustc $(rustc --version | cut -d' ' -f2), $(nproc) CPUs, release builds from clean target dirs"
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg) (other work on the machine slows every build)"
measure token-only
measure sdk-rds
measure adapter
measure sqlx-sdk-rds
measure sqlx-password
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
# shellcheck disable=SC2154 # set by measure through eval
{
    ratio token-only "$token_only_secs" sdk-rds "$sdk_rds_secs"
    ratio adapter "$adapter_secs" sqlx-sdk-rds "$sqlx_sdk_rds_secs"
    printf 'adapter takes %.2fx the time of sqlx-password (what IAM adds to a sqlx program)\n' \
        "$(echo "$adapter_secs / $sqlx_password_secs" | bc -l)"
}
