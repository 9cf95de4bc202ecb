#!/usr/bin/env bash
# Build cost of signing IAM auth tokens: a release build of a program that uses only
# rds-iam-token (no optional features) against one that uses aws-config + aws-sdk-rds, as
# the AWS docs suggest. Each is built from a clean target directory; dependencies are
# fetched first so that download time is not counted.
#
#   benches/build-cost.sh            # builds under target/build-cost (or $BUILD_COST_DIR)
#
# Prints wall time and the number of crates compiled for each, and the ratio.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
work=${BUILD_COST_DIR:-$root/target/build-cost}
rm -rf "$work"
mkdir -p "$work"

# Same dependency versions as the workspace, where they overlap.
new_program() {
    local name=$1
    mkdir -p "$work/$name/src"
    cp "$root/Cargo.lock" "$work/$name/Cargo.lock"
}

new_program token-only
cat >"$work/token-only/Cargo.toml" <<TOML
[package]
name = "token-only"
version = "0.0.0"
edition = "2024"
publish = false

[dependencies]
rds-iam-token = { path = "$root/crates/rds-iam-token" }
aws-credential-types = "1.3"

# Not part of the rds-iam workspace.
[workspace]
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

new_program sdk-rds
cat >"$work/sdk-rds/Cargo.toml" <<TOML
[package]
name = "sdk-rds"
version = "0.0.0"
edition = "2024"
publish = false

[dependencies]
aws-config = { version = "1.13", features = ["behavior-version-latest"] }
aws-sdk-rds = "1.159"
tokio = { version = "1", features = ["macros", "rt"] }

# Not part of the rds-iam workspace.
[workspace]
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
    printf '%-12s %7.1f s  %4d crates compiled\n' "$name" "$secs" "$crates"
    eval "${name//-/_}_secs=$secs"
}

echo "rustc $(rustc --version | cut -d' ' -f2), $(nproc) CPUs, release builds from clean target dirs"
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg) (other work on the machine slows both builds)"
measure token-only
measure sdk-rds
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
# shellcheck disable=SC2154 # set by measure through eval
printf 'token-only takes %.1f%% of the time of sdk-rds (%.1fx faster)\n' \
    "$(echo "100 * $token_only_secs / $sdk_rds_secs" | bc -l)" \
    "$(echo "$sdk_rds_secs / $token_only_secs" | bc -l)"
