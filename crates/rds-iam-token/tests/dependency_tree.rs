//! The crate stays small: `cargo tree -p rds-iam-token -e normal` has no AWS service
//! client, no HTTP client, no database driver and no async runtime.
//!
//! One qualification: `tokio` itself cannot be absent. `aws-smithy-async`, which
//! `aws-credential-types` and `aws-types` depend on, has a non-optional
//! dependency on it with only the `sync` feature (channels and locks, no runtime, no I/O).
//! So the test allows `tokio` with exactly that feature and forbids everything its runtime,
//! timers or networking would bring (`mio`, `socket2`, the `rt`/`net`/`time` features).

use std::collections::BTreeSet;
use std::process::Command;

/// Crates that must never be normal dependencies of rds-iam-token (without features).
const FORBIDDEN: &[&str] = &[
    "aws-sdk-rds",
    "aws-config",
    "aws-smithy-http-client",
    "hyper",
    "hyper-util",
    "hyper-rustls",
    "reqwest",
    "h2",
    "sqlx",
    "sqlx-core",
    // tokio's runtime and networking.
    "mio",
    "socket2",
    "signal-hook-registry",
];

/// The only tokio features allowed: `default` is empty, `sync` has no runtime.
const ALLOWED_TOKIO_FEATURES: &[&str] = &["default", "sync"];

fn cargo_tree(edges: &str) -> String {
    let output = Command::new(env!("CARGO"))
        .args([
            "tree",
            "-p",
            "rds-iam-token",
            "-e",
            edges,
            "--prefix",
            "none",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo tree runs");
    assert!(
        output.status.success(),
        "cargo tree failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("UTF-8 output")
}

#[test]
fn normal_dependency_tree_has_no_service_client_http_client_sqlx_or_runtime() {
    let stdout = cargo_tree("normal");
    // Lines look like `name v1.2.3 (path) (*)`.
    let crates: BTreeSet<&str> = stdout
        .lines()
        .filter_map(|line| line.split_whitespace().next())
        .collect();
    assert!(crates.contains("rds-iam-token"), "{stdout}");
    assert!(crates.contains("aws-credential-types"), "{stdout}");
    let found: Vec<&str> = FORBIDDEN
        .iter()
        .copied()
        .filter(|name| crates.contains(name))
        .collect();
    assert!(
        found.is_empty(),
        "forbidden dependencies {found:?} in:\n{stdout}"
    );
    // A guard against slow growth: the tree is about 50 crates today.
    assert!(crates.len() < 80, "{} crates:\n{stdout}", crates.len());
}

#[test]
fn tokio_comes_only_with_its_sync_feature() {
    let stdout = cargo_tree("normal,features");
    // Feature lines look like `tokio feature "sync"`.
    let features: BTreeSet<&str> = stdout
        .lines()
        .filter_map(|line| line.strip_prefix("tokio feature \""))
        .filter_map(|rest| rest.split('"').next())
        .collect();
    let extra: Vec<&str> = features
        .iter()
        .copied()
        .filter(|feature| !ALLOWED_TOKIO_FEATURES.contains(feature))
        .collect();
    assert!(extra.is_empty(), "tokio features {extra:?} in:\n{stdout}");
}
