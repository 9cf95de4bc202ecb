//! End to end: `rds-iam psql` and `rds-iam mysql` start the real clients against the
//! local RDS look-alike servers (tests/rds-emulator), which verify the token with PAM.

mod support;

use std::collections::HashMap;

use support::{Run, Sealed};

struct Bed {
    env: HashMap<String, String>,
}

impl Bed {
    fn load() -> Self {
        Self {
            env: support::testbed(),
        }
    }

    fn get(&self, key: &str) -> &str {
        self.env
            .get(key)
            .unwrap_or_else(|| panic!("{key} missing from the test bed settings"))
    }

    /// Environment credentials the verifier knows; temporary ones with a session token
    /// when `temporary`.
    fn sealed(&self, temporary: bool) -> Sealed {
        if temporary {
            Sealed::new().keys(
                self.get("RDS_TESTBED_TEMP_ACCESS_KEY_ID"),
                self.get("RDS_TESTBED_TEMP_SECRET_ACCESS_KEY"),
                Some(self.get("RDS_TESTBED_TEMP_SESSION_TOKEN")),
            )
        } else {
            Sealed::new().keys(
                self.get("RDS_TESTBED_ACCESS_KEY_ID"),
                self.get("RDS_TESTBED_SECRET_ACCESS_KEY"),
                None,
            )
        }
    }

    fn url(&self, scheme: &str, user: &str) -> String {
        let (host, port) = match scheme {
            "postgres" => (
                self.get("RDS_TESTBED_PG_HOST"),
                self.get("RDS_TESTBED_PG_PORT"),
            ),
            _ => (
                self.get("RDS_TESTBED_MYSQL_HOST"),
                self.get("RDS_TESTBED_MYSQL_PORT"),
            ),
        };
        format!(
            "{scheme}://{user}@{host}:{port}/{}",
            self.get("RDS_TESTBED_DATABASE")
        )
    }

    /// `rds-iam CLIENT URL --region R --ca-file TEST_CA -- CLIENT_ARGS`.
    fn run(
        &self,
        sealed: &Sealed,
        client: &str,
        user: &str,
        ca: bool,
        client_args: &[&str],
    ) -> Run {
        let scheme = if client == "psql" {
            "postgres"
        } else {
            "mysql"
        };
        let url = self.url(scheme, user);
        let mut args = vec![client, &url, "--region", self.get("RDS_TESTBED_REGION")];
        if ca {
            args.extend(["--ca-file", self.get("RDS_TESTBED_CA_FILE")]);
        }
        args.push("--");
        args.extend_from_slice(client_args);
        sealed.run(&args)
    }
}

const PSQL_SELECT: &[&str] = &["-XAtq", "-c", "select 1"];
const MYSQL_SELECT: &[&str] = &["--batch", "--skip-column-names", "-e", "select 1"];

#[test]
fn psql_connects_over_verified_tls() {
    let bed = Bed::load();
    let user = bed.get("RDS_TESTBED_IAM_USER");
    for temporary in [false, true] {
        let run = bed.run(&bed.sealed(temporary), "psql", user, true, PSQL_SELECT);
        assert_eq!(run.code, Some(0), "{run:#?}");
        assert_eq!(run.stdout, "1\n");
    }
    // The session really is TLS.
    let run = bed.run(
        &bed.sealed(false),
        "psql",
        user,
        true,
        &[
            "-XAtq",
            "-c",
            "select ssl from pg_stat_ssl where pid = pg_backend_pid()",
        ],
    );
    assert_eq!(run.stdout, "t\n", "{run:#?}");
}

#[test]
fn mysql_connects_over_verified_tls() {
    let bed = Bed::load();
    let user = bed.get("RDS_TESTBED_IAM_USER");
    for temporary in [false, true] {
        let run = bed.run(&bed.sealed(temporary), "mysql", user, true, MYSQL_SELECT);
        assert_eq!(run.code, Some(0), "{run:#?}");
        assert_eq!(run.stdout, "1\n");
    }
    let run = bed.run(
        &bed.sealed(false),
        "mysql",
        user,
        true,
        &[
            "--batch",
            "--skip-column-names",
            "-e",
            "show status like 'Ssl_version'",
        ],
    );
    assert!(run.stdout.starts_with("Ssl_version\tTLS"), "{run:#?}");
}

#[test]
fn the_client_exit_status_is_passed_on() {
    let bed = Bed::load();
    let user = bed.get("RDS_TESTBED_IAM_USER");
    let run = bed.run(
        &bed.sealed(false),
        "psql",
        user,
        true,
        &["-Xq", "-v", "ON_ERROR_STOP=1", "-c", "select 1/0"],
    );
    assert_eq!(run.code, Some(1), "{run:#?}");
    assert!(run.stderr.contains("division by zero"), "{run:#?}");
    assert!(!run.stderr.contains("hint"), "{run:#?}");
    let run = bed.run(
        &bed.sealed(false),
        "mysql",
        user,
        true,
        &["-e", "select nosuchcolumn"],
    );
    assert_eq!(run.code, Some(1), "{run:#?}");
    assert!(run.stderr.contains("ERROR 1054"), "{run:#?}");
}

/// A token signed for one user but presented for another (the client's own `-U` /
/// `--user` overrides ours), and a key the server does not know: the server refuses,
/// the client says so, and rds-iam adds a line on what to check.
#[test]
fn a_refused_token_is_explained() {
    let bed = Bed::load();
    let user = bed.get("RDS_TESTBED_IAM_USER");
    let other = bed.get("RDS_TESTBED_OTHER_IAM_USER");
    let unknown_key = Sealed::new().keys("AKIANOTINTHEKEYTABLE", "not-a-known-secret", None);
    let other_user_flag = format!("--user={other}");
    let psql_cases: [(&Sealed, Vec<&str>); 2] = [
        (
            &bed.sealed(false),
            vec!["-XAtq", "-U", other, "-c", "select 1"],
        ),
        (&unknown_key, PSQL_SELECT.to_vec()),
    ];
    for (sealed, client_args) in psql_cases {
        let run = bed.run(sealed, "psql", user, true, &client_args);
        assert_eq!(run.code, Some(2), "{run:#?}");
        assert!(
            run.stderr.contains("PAM authentication failed for user"),
            "{run:#?}"
        );
        let hint = run.stderr.lines().last().unwrap();
        assert!(hint.starts_with("rds-iam: hint:"), "{run:#?}");
        for needle in [
            "rds_iam",
            "rds-db:connect",
            &format!("dbuser:RESOURCE_ID/{user}"),
            "localhost:",
        ] {
            assert!(hint.contains(needle), "{needle} missing: {hint}");
        }
    }
    let mysql_cases: [(&Sealed, Vec<&str>); 2] = [
        (
            &bed.sealed(false),
            vec![other_user_flag.as_str(), "-e", "select 1"],
        ),
        (&unknown_key, MYSQL_SELECT.to_vec()),
    ];
    for (sealed, client_args) in mysql_cases {
        let run = bed.run(sealed, "mysql", user, true, &client_args);
        assert_eq!(run.code, Some(1), "{run:#?}");
        assert!(run.stderr.contains("ERROR 1045"), "{run:#?}");
        let hint = run.stderr.lines().last().unwrap();
        assert!(hint.starts_with("rds-iam: hint:"), "{run:#?}");
        assert!(hint.contains("AWSAuthenticationPlugin"), "{hint}");
    }
}

/// A token signed for the wrong region is refused like any bad token.
#[test]
fn a_token_for_another_region_is_refused() {
    let bed = Bed::load();
    let url = bed.url("postgres", bed.get("RDS_TESTBED_IAM_USER"));
    let run = bed.sealed(false).run(&[
        "psql",
        &url,
        "--region",
        "eu-west-1",
        "--ca-file",
        bed.get("RDS_TESTBED_CA_FILE"),
        "--",
        "-XAtq",
        "-c",
        "select 1",
    ]);
    assert_eq!(run.code, Some(2), "{run:#?}");
    assert!(
        run.stderr.contains("rds-iam: hint:") && run.stderr.contains("eu-west-1"),
        "{run:#?}"
    );
}

/// Without --ca-file the embedded RDS bundle is used, which does not know the test CA:
/// the clients must refuse the server, before sending the token.
#[test]
fn the_embedded_bundle_rejects_a_server_it_does_not_know() {
    let bed = Bed::load();
    let user = bed.get("RDS_TESTBED_IAM_USER");
    let run = bed.run(&bed.sealed(false), "psql", user, false, PSQL_SELECT);
    assert_ne!(run.code, Some(0), "{run:#?}");
    assert!(run.stderr.contains("certificate verify failed"), "{run:#?}");
    assert!(
        run.stderr
            .contains("rds-iam: hint: TLS verification failed"),
        "{run:#?}"
    );
    let run = bed.run(&bed.sealed(false), "mysql", user, false, MYSQL_SELECT);
    assert_ne!(run.code, Some(0), "{run:#?}");
    assert!(
        run.stderr
            .contains("rds-iam: hint: TLS verification failed"),
        "{run:#?}"
    );
}
