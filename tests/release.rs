//! What the published crates carry stays true to the repository: the CA bundles that
//! `rds-iam-certs` embeds are byte-identical to the top-level `certs/` (where a reader
//! looks, with the provenance), and every published package has the licence files.
//!
//! `scripts/check-package` builds each package on its own and `scripts/check-msrv`
//! checks `rust-version`; both run in `scripts/test`.

use std::fs;
use std::path::{Path, PathBuf};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ is inside the workspace")
        .to_owned()
}

fn read(path: &Path) -> Vec<u8> {
    fs::read(path).unwrap_or_else(|err| panic!("cannot read {}: {err}", path.display()))
}

#[test]
fn embedded_bundles_are_the_top_level_certs() {
    let root = workspace();
    let embedded = root.join("crates/rds-iam-certs/certs");
    let mut names: Vec<_> = fs::read_dir(root.join("certs"))
        .unwrap()
        .map(|entry| entry.unwrap().file_name())
        .collect();
    names.sort();
    assert!(
        names.iter().any(|n| n == "global-bundle.pem") && names.iter().any(|n| n == "SOURCES.md"),
        "certs/ lost its bundles: {names:?}"
    );
    for name in &names {
        assert!(
            read(&root.join("certs").join(name)) == read(&embedded.join(name)),
            "crates/rds-iam-certs/certs/{} differs from certs/{}: copy certs/ into the crate \
             (cp certs/* crates/rds-iam-certs/certs/)",
            name.to_string_lossy(),
            name.to_string_lossy()
        );
    }
    let mut embedded_names: Vec<_> = fs::read_dir(&embedded)
        .unwrap()
        .map(|entry| entry.unwrap().file_name())
        .collect();
    embedded_names.sort();
    assert_eq!(
        embedded_names, names,
        "the crate's certs/ has other files than certs/"
    );

    // And what the constant holds is those files.
    let global = String::from_utf8(read(&root.join("certs/global-bundle.pem"))).unwrap();
    let govcloud = String::from_utf8(read(&root.join("certs/govcloud-bundle.pem"))).unwrap();
    assert_eq!(rds_iam_certs::RDS_GLOBAL_BUNDLE_PEM, global);
    assert_eq!(rds_iam_certs::RDS_GOVCLOUD_BUNDLE_PEM, govcloud);
    assert_eq!(rds_iam_certs::RDS_CA_BUNDLE_PEM, global + &govcloud);
    assert_eq!(
        sqlx_rds_iam::RDS_CA_BUNDLE_PEM,
        rds_iam_certs::RDS_CA_BUNDLE_PEM
    );
}

#[test]
fn every_published_crate_has_the_licence_files_and_a_readme() {
    let root = workspace();
    let mut crates = 0;
    for entry in fs::read_dir(root.join("crates")).unwrap() {
        let dir = entry.unwrap().path();
        let manifest = fs::read_to_string(dir.join("Cargo.toml")).unwrap();
        assert!(
            !manifest.contains("publish = false"),
            "{}: crates/ holds the published crates only",
            dir.display()
        );
        for licence in ["LICENSE-MIT", "LICENSE-APACHE"] {
            assert!(
                read(&dir.join(licence)) == read(&root.join(licence)),
                "{}/{licence} differs from the top-level one: copy it",
                dir.display()
            );
        }
        assert!(
            dir.join("README.md").is_file(),
            "{} has no README.md",
            dir.display()
        );
        crates += 1;
    }
    assert!(crates >= 4, "found {crates} crates");
}

/// The token tool links no database driver: `rds-iam-cli`'s normal dependency tree has no
/// sqlx crate and not the adapter (it shares only the token crate and the bundles).
#[test]
fn the_cli_links_no_sqlx() {
    let output = std::process::Command::new(env!("CARGO"))
        .args(["tree", "--locked", "-p", "rds-iam-cli", "-e", "normal"])
        .args(["--prefix", "none", "-f", "{p}"])
        .current_dir(workspace())
        .output()
        .expect("cargo tree runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let tree = String::from_utf8(output.stdout).unwrap();
    let names: std::collections::BTreeSet<&str> = tree
        .lines()
        .filter_map(|line| line.split_whitespace().next())
        .collect();
    assert!(names.contains("rds-iam-token") && names.contains("rds-iam-certs"));
    let linked: Vec<_> = names
        .iter()
        .filter(|name| name.starts_with("sqlx"))
        .collect();
    assert!(linked.is_empty(), "rds-iam-cli links {linked:?}");
}
