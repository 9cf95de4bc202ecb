//! End to end: `rds-iam psql` and `rds-iam mysql` start the real clients against the
//! local RDS look-alike servers (tests/rds-emulator), which verify the token with PAM.

mod support;

use std::collections::HashMap;

use std::path::{Path, PathBuf};

use support::{Mitm, Run, Sealed};

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

/// A token signed with the wrong secret for a known key, and with a key the server does
/// not know: the server refuses, the client says so, and rds-iam adds a line on what to
/// check. (Presenting the token for another user, with the client's own `-U` / `--user`,
/// is refused by rds-iam itself: `client.rs`.)
#[test]
fn a_refused_token_is_explained() {
    let bed = Bed::load();
    let user = bed.get("RDS_TESTBED_IAM_USER");
    let wrong_secret = Sealed::new().keys(
        bed.get("RDS_TESTBED_ACCESS_KEY_ID"),
        "not-the-secret-of-this-key",
        None,
    );
    let unknown_key = Sealed::new().keys("AKIANOTINTHEKEYTABLE", "not-a-known-secret", None);
    for sealed in [&wrong_secret, &unknown_key] {
        let run = bed.run(sealed, "psql", user, true, PSQL_SELECT);
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
    for sealed in [&wrong_secret, &unknown_key] {
        let run = bed.run(sealed, "mysql", user, true, MYSQL_SELECT);
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

/// `rds-iam psql postgres://ROLE@ID.dsql.us-east-1.on.aws:PORT/` against the DSQL
/// look-alike, as `admin` and as a non-admin role: a DSQL token (its verifier refuses
/// `rds-db` tokens and the wrong action for the role), region from the name, database
/// `postgres` by default, over verified TLS; without the bed CA the server is refused.
#[test]
fn psql_connects_to_dsql_as_admin_and_as_another_role() {
    let bed = Bed::load();
    let host = bed.get("RDS_TESTBED_DSQL_ENDPOINT");
    let port = bed.get("RDS_TESTBED_DSQL_PORT");
    let ca = bed.get("RDS_TESTBED_CA_FILE");
    let query = &[
        "-XAtq",
        "-c",
        "select current_user || ' ' || current_database() || ' ' || ssl \
         from pg_stat_ssl where pid = pg_backend_pid()",
    ][..];
    for role in ["admin", bed.get("RDS_TESTBED_DSQL_ROLE")] {
        assert_ne!(role, "", "RDS_TESTBED_DSQL_ROLE is empty");
        let url = format!("postgres://{role}@{host}:{port}");
        let run = bed
            .sealed(false)
            .run(&[&["psql", &url, "--ca-file", ca, "--"][..], query].concat());
        assert_eq!(run.code, Some(0), "{role}: {run:#?}");
        assert_eq!(run.stdout, format!("{role} postgres true\n"), "{run:#?}");
    }
    // The embedded bundle does not know the bed's CA: verify-full refuses the server.
    let url = format!("postgres://admin@{host}:{port}/postgres");
    let run = bed
        .sealed(false)
        .run(&[&["psql", &url, "--"][..], query].concat());
    assert_ne!(run.code, Some(0), "{run:#?}");
    assert!(run.stderr.contains("certificate verify failed"), "{run:#?}");
}

/// What a stand-in token looks like to the server in the middle.
const FAKE_TOKEN: &str = "localhost:5432/?Action=connect&DBUser=iam_user&X-Amz-Signature=0";

const PSQL_SSL: &[&str] = &[
    "-XAtq",
    "-c",
    "select ssl from pg_stat_ssl where pid = pg_backend_pid()",
];
const MYSQL_SSL: &[&str] = &[
    "--batch",
    "--skip-column-names",
    "-e",
    "select variable_value <> '' from information_schema.session_status \
     where variable_name = 'Ssl_cipher'",
];

/// The user's settings that point psql at `mitm` without verified TLS (plain mode), or
/// with TLS that trusts its certificate (tls mode): a service file named by
/// PGSERVICEFILE, `~/.pg_service.conf`, one in PGSYSCONFDIR, and the PG* variables.
fn hostile_pg_settings(bed: &Bed, mitm: &Mitm) -> Vec<(&'static str, Sealed)> {
    let port = mitm.port.to_string();
    let (sslmode, rootcert) = match &mitm.cert {
        None => ("disable", String::new()),
        Some(cert) => ("verify-ca", cert.display().to_string()),
    };
    let mut entry =
        format!("[evil]\nhost=localhost\nhostaddr=127.0.0.1\nport={port}\nsslmode={sslmode}\n");
    if !rootcert.is_empty() {
        entry.push_str(&format!("sslrootcert={rootcert}\n"));
    }
    let service_file = bed.sealed(false);
    let path = service_file.dir.write("evil-service.conf", &entry);
    let service_file = service_file
        .set("PGSERVICEFILE", path.to_str().unwrap())
        .set("PGSERVICE", "evil");
    let home_file = bed.sealed(false);
    home_file.dir.write(".pg_service.conf", &entry);
    let home_file = home_file.set("PGSERVICE", "evil");
    let sysconf = bed.sealed(false);
    sysconf.dir.write("pg_service.conf", &entry);
    let sysconf_dir = sysconf.dir.path().display().to_string();
    let sysconf = sysconf
        .set("PGSYSCONFDIR", &sysconf_dir)
        .set("PGSERVICE", "evil");
    let mut env = bed
        .sealed(false)
        .set("PGHOST", "127.0.0.1")
        .set("PGHOSTADDR", "127.0.0.1")
        .set("PGPORT", &port)
        .set("PGSSLMODE", sslmode)
        .set("PGREQUIRESSL", "0")
        .set("PGGSSENCMODE", "disable");
    if !rootcert.is_empty() {
        env = env.set("PGSSLROOTCERT", &rootcert);
    }
    vec![
        ("PGSERVICEFILE", service_file),
        ("~/.pg_service.conf", home_file),
        ("PGSYSCONFDIR", sysconf),
        ("PG* variables", env),
    ]
}

/// The user's settings that point mysql / mariadb at `mitm` with TLS off (plain mode), or
/// with TLS that trusts its certificate (tls mode, through `ssl-ca` and a hashed
/// `ssl-capath`): `~/.my.cnf`, `$MYSQL_HOME/my.cnf`, MYSQL_HOST and MYSQL_TCP_PORT.
fn hostile_mysql_settings(bed: &Bed, mitm: &Mitm) -> Vec<(&'static str, Sealed)> {
    let port = mitm.port.to_string();
    let ssl = match &mitm.cert {
        None => "skip-ssl\nssl=0\nskip-ssl-verify-server-cert\n".to_owned(),
        Some(cert) => format!(
            "ssl-ca={}\nssl-capath={}\n",
            cert.display(),
            hashed_ca_dir(cert).display()
        ),
    };
    let file = format!(
        "[client]\nhost=127.0.0.1\nport={port}\nprotocol=tcp\nuser=evil\n{ssl}\
         [mysql]\nhost=127.0.0.1\nport={port}\n[mariadb-client]\nhost=127.0.0.1\nport={port}\n"
    );
    let home = bed.sealed(false);
    home.dir.write(".my.cnf", &file);
    // The clients read option names in any case.
    let upper_ssl = match &mitm.cert {
        None => "SKIP-SSL\nSSL=0\nSKIP-SSL-VERIFY-SERVER-CERT\n".to_owned(),
        Some(cert) => format!(
            "SSL-CA={}\nSsl_Capath={}\n",
            cert.display(),
            hashed_ca_dir(cert).display()
        ),
    };
    let upper = bed.sealed(false);
    upper.dir.write(
        ".my.cnf",
        &format!("[client]\nHOST=127.0.0.1\nPORT={port}\nPROTOCOL=TCP\n{upper_ssl}"),
    );
    let mysql_home = bed.sealed(false);
    mysql_home.dir.write("my.cnf", &file);
    let mysql_home_dir = mysql_home.dir.path().display().to_string();
    let mysql_home = mysql_home.set("MYSQL_HOME", &mysql_home_dir);
    let env = bed
        .sealed(false)
        .set("MYSQL_HOST", "127.0.0.1")
        .set("MYSQL_TCP_PORT", &port);
    vec![
        ("~/.my.cnf", home),
        ("~/.my.cnf in upper case", upper),
        ("MYSQL_HOME/my.cnf", mysql_home),
        ("MYSQL_HOST", env),
    ]
}

/// A CA directory (`openssl rehash`) holding `cert`, next to it.
fn hashed_ca_dir(cert: &Path) -> PathBuf {
    let dir = cert.parent().unwrap().join("hashed");
    if !dir.exists() {
        std::fs::create_dir(&dir).unwrap();
        std::fs::copy(cert, dir.join("mitm.pem")).unwrap();
        let status = std::process::Command::new("openssl")
            .arg("rehash")
            .arg(&dir)
            .status()
            .unwrap();
        assert!(status.success());
    }
    dir
}

/// Service files and PG* variables that point elsewhere, turn TLS off or trust another
/// certificate do not move `rds-iam psql`: it reaches the bed over TLS, and the server in
/// the middle they point at never sees a password. The same settings do send plain psql
/// (and its password) there, which shows each one is live.
#[test]
fn psql_ignores_hostile_service_files_and_variables() {
    let bed = Bed::load();
    let user = bed.get("RDS_TESTBED_IAM_USER");
    for mode in ["plain", "tls"] {
        let mitm = Mitm::start("pg", mode);
        for (name, sealed) in hostile_pg_settings(&bed, &mitm) {
            let run = bed.run(&sealed, "psql", user, true, PSQL_SSL);
            assert_eq!(run.code, Some(0), "{mode} {name}: {run:#?}");
            assert_eq!(run.stdout, "t\n", "{mode} {name}: not TLS: {run:#?}");
            assert_eq!(mitm.passwords(), 0, "{mode} {name}: {:?}", mitm.log());
            // Plain psql, same settings: they do reach the server in the middle.
            let control = sealed
                .command("psql")
                .args(["-XAtq", "-c", "select 1"])
                .env("PGPASSWORD", FAKE_TOKEN)
                .output()
                .unwrap();
            assert!(!control.status.success());
            assert_eq!(mitm.tokens(), 1, "{mode} {name}: the setting is not live");
            mitm.clear();
        }
    }
}

/// A `\connect` in ~/.psqlrc (or the file PSQLRC names) to another server, with no TLS
/// setting of its own, gets the token's verified TLS too: psql keeps PGPASSWORD for every
/// connection it makes, so without TLS the token went to the server in the middle.
#[test]
fn a_connect_in_psqlrc_keeps_verified_tls() {
    let bed = Bed::load();
    let user = bed.get("RDS_TESTBED_IAM_USER");
    let mitm = Mitm::start("pg", "plain");
    let connect = format!("\\connect \"host=127.0.0.1 port={}\"\n", mitm.port);
    let home = bed.sealed(false);
    home.dir.write(".psqlrc", &connect);
    let named = bed.sealed(false);
    let path = named.dir.write("rc", &connect);
    let named = named.set("PSQLRC", path.to_str().unwrap());
    for (name, sealed) in [("~/.psqlrc", home), ("PSQLRC", named)] {
        let run = bed.run(&sealed, "psql", user, true, &["-Atq", "-c", "select 1"]);
        assert!(
            run.stderr.contains("\\connect"),
            "{name}: not read: {run:#?}"
        );
        assert!(
            mitm.log().iter().any(|l| l == "CONNECT"),
            "{name}: {:?}",
            mitm.log()
        );
        assert_eq!(mitm.passwords(), 0, "{name}: {:?}", mitm.log());
        mitm.clear();
    }
}

/// Option files and variables that point elsewhere, turn TLS off or trust another
/// certificate do not move `rds-iam mysql` (its command-line options win): it reaches the
/// bed over TLS, and the server in the middle never sees a password. The same settings
/// do send plain mariadb (and its password) there.
#[test]
fn mysql_ignores_hostile_option_files_and_variables() {
    let bed = Bed::load();
    let user = bed.get("RDS_TESTBED_IAM_USER");
    for mode in ["plain", "tls"] {
        let mitm = Mitm::start("mysql", mode);
        for (name, sealed) in hostile_mysql_settings(&bed, &mitm) {
            let run = bed.run(&sealed, "mysql", user, true, MYSQL_SSL);
            assert_eq!(run.code, Some(0), "{mode} {name}: {run:#?}");
            assert_eq!(run.stdout, "1\n", "{mode} {name}: not TLS: {run:#?}");
            assert_eq!(mitm.passwords(), 0, "{mode} {name}: {:?}", mitm.log());
            let control = sealed
                .command("mariadb")
                .args(["-e", "select 1"])
                .env("MYSQL_PWD", FAKE_TOKEN)
                .output()
                .unwrap();
            assert!(!control.status.success());
            assert!(mitm.tokens() >= 1, "{mode} {name}: the setting is not live");
            mitm.clear();
        }
    }
}

/// A server in the middle on the very host and port the token is signed for: without
/// TLS, or with a certificate that only the user's hostile settings trust (sslrootcert in
/// a service file or PGSSLROOTCERT; ssl-ca and a hashed ssl-capath in ~/.my.cnf). The
/// clients refuse it before sending the token. (Before rds-iam passed an empty
/// --ssl-capath, an option file's CA directory did add roots: the control shows it.)
#[test]
fn a_server_in_the_middle_on_the_signed_host_never_gets_the_token() {
    let bed = Bed::load();
    let user = bed.get("RDS_TESTBED_IAM_USER");
    let ca = bed.get("RDS_TESTBED_CA_FILE");
    for mode in ["plain", "tls"] {
        let mitm = Mitm::start("pg", mode);
        let port = mitm.port.to_string();
        let url = format!("postgres://{user}@localhost:{port}/rdsiam");
        for (name, sealed) in hostile_pg_settings(&bed, &mitm) {
            let run = sealed.run(&[
                "psql",
                &url,
                "--region",
                "us-east-1",
                "--ca-file",
                ca,
                "--",
                "-XAtqc",
                "select 1",
            ]);
            assert_ne!(run.code, Some(0), "{mode} {name}: {run:#?}");
            assert_eq!(mitm.passwords(), 0, "{mode} {name}: {:?}", mitm.log());
        }
        let mitm = Mitm::start("mysql", mode);
        let port = mitm.port.to_string();
        let url = format!("mysql://{user}@localhost:{port}/rdsiam");
        for (name, sealed) in hostile_mysql_settings(&bed, &mitm) {
            let run = sealed.run(&[
                "mysql",
                &url,
                "--region",
                "us-east-1",
                "--ca-file",
                ca,
                "--",
                "-e",
                "select 1",
            ]);
            assert_ne!(run.code, Some(0), "{mode} {name}: {run:#?}");
            assert_eq!(mitm.passwords(), 0, "{mode} {name}: {:?}", mitm.log());
            if mode == "tls" && name == "~/.my.cnf" {
                // What rds-iam passed before: --ssl-ca and verification, no --ssl-capath.
                let control = sealed
                    .command("mariadb")
                    .args(["--host=localhost", "--protocol=TCP", "--ssl"])
                    .arg(format!("--port={port}"))
                    .arg(format!("--ssl-ca={ca}"))
                    .args(["--ssl-verify-server-cert", "-e", "select 1"])
                    .env("MYSQL_PWD", FAKE_TOKEN)
                    .output()
                    .unwrap();
                assert!(!control.status.success());
                assert!(mitm.tokens() >= 1, "the ssl-capath control did not leak");
                mitm.clear();
            }
        }
    }
}

impl Bed {
    /// `rds-iam exec URL --region R --ca-file TEST_CA -- COMMAND...`.
    fn exec(&self, sealed: &Sealed, scheme: &str, command: &[&str]) -> Run {
        let url = self.url(scheme, self.get("RDS_TESTBED_IAM_USER"));
        let mut args = vec![
            "exec",
            &url,
            "--region",
            self.get("RDS_TESTBED_REGION"),
            "--ca-file",
            self.get("RDS_TESTBED_CA_FILE"),
            "--",
        ];
        args.extend_from_slice(command);
        sealed.run(&args)
    }
}

/// `rds-iam url`: one line on stdout, a URL psql takes as is, with the token as the
/// password and verified TLS; the embedded bundle is written to the documented default.
#[test]
fn url_gives_psql_a_verified_tls_session() {
    let bed = Bed::load();
    let sealed = bed.sealed(false);
    let url = bed.url("postgres", bed.get("RDS_TESTBED_IAM_USER"));
    let args = ["url", &url, "--region", "us-east-1"];
    let run = sealed.run(&[&args[..], &["--ca-file", bed.get("RDS_TESTBED_CA_FILE")]].concat());
    let database_url = run.token();
    assert!(
        database_url.starts_with("postgres://iam_user:localhost%3A5432%2F%3FAction%3Dconnect%26"),
        "{database_url}"
    );
    assert!(
        database_url.ends_with(&format!(
            "@localhost:5432/rdsiam?sslmode=verify-full&sslrootcert={}",
            bed.get("RDS_TESTBED_CA_FILE").replace('/', "%2F")
        )),
        "{database_url}"
    );
    // Hostile libpq settings do not weaken a URL's own sslmode and sslrootcert.
    let mitm = Mitm::start("pg", "plain");
    let (_, hostile) = hostile_pg_settings(&bed, &mitm).remove(3);
    let output = hostile
        .command("psql")
        .arg(database_url)
        .args(PSQL_SSL)
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        "t\n",
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    // Without --ca-file: the embedded bundle, in $HOME/.cache/rds-iam (or --ca-output).
    let run = sealed.run(&args);
    let bundle = sealed.dir.path().join(".cache/rds-iam/rds-ca-bundle.pem");
    assert!(
        run.token().ends_with(&format!(
            "sslrootcert={}",
            bundle.display().to_string().replace('/', "%2F")
        )),
        "{run:#?}"
    );
    let embedded = sealed.run(&["ca-bundle"]).stdout;
    assert_eq!(std::fs::read_to_string(&bundle).unwrap(), embedded);
    let chosen = sealed.dir.path().join("chosen.pem");
    let run = sealed.run(&[&args[..], &["--ca-output", chosen.to_str().unwrap()]].concat());
    assert!(run.token().contains("chosen.pem"), "{run:#?}");
    assert_eq!(std::fs::read_to_string(&chosen).unwrap(), embedded);
}

/// `rds-iam exec` with psql (through DATABASE_URL and through the PG* variables) and
/// pg_dump, under each hostile libpq setting: the bed, over TLS; the server in the middle
/// never gets a password.
#[test]
fn exec_runs_postgres_tools_over_verified_tls_whatever_libpq_settings_say() {
    let bed = Bed::load();
    let script = "psql \"$DATABASE_URL\" -XAtqc \"$1\" && psql -XAtqc \"$1\" && \
                  pg_dump --schema-only | grep -c '^-- PostgreSQL database dump complete'";
    for mode in ["plain", "tls"] {
        let mitm = Mitm::start("pg", mode);
        for (name, sealed) in hostile_pg_settings(&bed, &mitm) {
            let run = bed.exec(
                &sealed,
                "postgres",
                &["sh", "-c", script, "sh", PSQL_SSL[2]],
            );
            assert_eq!(run.code, Some(0), "{mode} {name}: {run:#?}");
            assert_eq!(run.stdout, "t\nt\n1\n", "{mode} {name}: {run:#?}");
            assert_eq!(mitm.passwords(), 0, "{mode} {name}: {:?}", mitm.log());
        }
    }
}

/// `rds-iam exec` with mariadb and mariadb-dump, under MYSQL_HOST / MYSQL_TCP_PORT and a
/// user's MYSQL_HOME pointing at the server in the middle: rds-iam's own option file wins,
/// the session is TLS. A `~/.my.cnf` that would win over that file is refused, before a
/// token is signed; a harmless one is read.
#[test]
fn exec_runs_mysql_tools_over_verified_tls_or_refuses() {
    let bed = Bed::load();
    let script = "mariadb --batch --skip-column-names -e \"$1\" && \
                  mariadb-dump --no-data rdsiam | grep -c '^-- Dump completed'";
    for mode in ["plain", "tls"] {
        let mitm = Mitm::start("mysql", mode);
        for (name, sealed) in hostile_mysql_settings(&bed, &mitm) {
            let run = bed.exec(&sealed, "mysql", &["sh", "-c", script, "sh", MYSQL_SSL[3]]);
            if name == "~/.my.cnf" {
                run.fails_briefly_with(".my.cnf sets host in [client]");
            } else if name == "~/.my.cnf in upper case" {
                run.fails_briefly_with(".my.cnf sets HOST in [client]");
            } else {
                assert_eq!(run.code, Some(0), "{mode} {name}: {run:#?}");
                assert_eq!(run.stdout, "1\n1\n", "{mode} {name}: {run:#?}");
            }
            assert_eq!(mitm.passwords(), 0, "{mode} {name}: {:?}", mitm.log());
        }
    }
    let sealed = bed.sealed(false);
    sealed.dir.write(
        ".my.cnf",
        "[client]\ndefault-character-set=utf8mb4\n[mysql]\nprompt=x> \n",
    );
    let run = bed.exec(
        &sealed,
        "mysql",
        &["mariadb", "-BNe", "select @@character_set_client"],
    );
    assert_eq!(
        (run.code, run.stdout.as_str()),
        (Some(0), "utf8mb4\n"),
        "{run:#?}"
    );
    // Variables that add option files read after rds-iam's are removed.
    let run = bed.exec(
        &bed.sealed(false)
            .set("MYSQL_TEST_LOGIN_FILE", "/tmp/evil.cnf")
            .set("MYSQL_GROUP_SUFFIX", "_evil"),
        "mysql",
        &[
            "sh",
            "-c",
            "echo \"${MYSQL_TEST_LOGIN_FILE-unset} ${MYSQL_GROUP_SUFFIX-unset}\"",
        ],
    );
    assert_eq!(
        (run.code, run.stdout.as_str()),
        (Some(0), "unset unset\n"),
        "{run:#?}"
    );
}

/// A MySQL tool told to skip rds-iam's option file (`--no-defaults`, `--defaults-file`)
/// or to read a hostile one after it (`--defaults-extra-file`) is refused before a token
/// is signed: with `--no-defaults`, mariadb took MYSQL_HOST and MYSQL_PWD and sent the
/// token over TLS it did not verify, to the server in the middle.
#[test]
fn exec_refuses_mysql_tools_told_to_skip_its_option_file() {
    let bed = Bed::load();
    let user = bed.get("RDS_TESTBED_IAM_USER");
    let mitm = Mitm::start("mysql", "tls");
    let sealed = bed.sealed(false);
    let extra = sealed.dir.write(
        "extra.cnf",
        &format!(
            "[client]\nport={}\nssl-ca={}\n",
            mitm.port,
            mitm.cert.as_ref().unwrap().display()
        ),
    );
    let extra = format!("--defaults-extra-file={}", extra.display());
    let url = format!("mysql://{user}@127.0.0.1:{}/rdsiam", mitm.port);
    for (option, needle) in [
        ("--no-defaults", "--no-defaults in the command"),
        (
            "--defaults-file=/dev/null",
            "--defaults-file in the command",
        ),
        (extra.as_str(), "extra.cnf sets port in [client]"),
    ] {
        sealed
            .run(&[
                "exec",
                &url,
                "--region",
                "us-east-1",
                "--ca-file",
                bed.get("RDS_TESTBED_CA_FILE"),
                "--",
                "mariadb",
                option,
                "-e",
                "select 1",
            ])
            .fails_briefly_with(needle);
        assert_eq!(mitm.passwords(), 0, "{option}: {:?}", mitm.log());
    }
}

/// The command's exit status is rds-iam's; SIGTERM is passed on to it; the private
/// directory with the CA bundle is gone afterwards; nothing but the command's output on
/// stdout.
#[test]
fn exec_passes_on_status_and_signals_and_cleans_up() {
    let bed = Bed::load();
    let url = bed.url("postgres", bed.get("RDS_TESTBED_IAM_USER"));
    let sealed = bed.sealed(false);
    let run = sealed.run(&[
        "exec",
        &url,
        "--region",
        "us-east-1",
        "--",
        "sh",
        "-c",
        "echo \"$PGSSLROOTCERT\"; test -r \"$PGSSLROOTCERT\" || exit 3; exit 7",
    ]);
    assert_eq!(run.code, Some(7), "{run:#?}");
    let ca = PathBuf::from(run.stdout.trim());
    assert!(ca.starts_with(sealed.dir.path()), "not in TMPDIR: {ca:?}");
    assert!(
        !ca.parent().unwrap().exists(),
        "the private directory was left behind"
    );
    // The shell asks rds-iam (its parent) to stop; rds-iam passes SIGTERM on to the shell,
    // whose trap exits 42.
    let run = sealed.run(&[
        "exec",
        &url,
        "--region",
        "us-east-1",
        "--",
        "sh",
        "-c",
        "trap 'exit 42' TERM; kill -TERM $PPID; while :; do sleep 1; done",
    ]);
    assert_eq!(run.code, Some(42), "{run:#?}");
    sealed
        .run(&[
            "exec",
            &url,
            "--region",
            "us-east-1",
            "--",
            "/nonexistent/tool",
        ])
        .fails_briefly_with("could not start /nonexistent/tool");
    sealed
        .run(&["url", "postgres://iam_user:secret-pw@localhost/rdsiam"])
        .fails_briefly_with("password");
    let run = sealed.run(&["url", "redis://iam_user:secret-pw@localhost/rdsiam"]);
    run.fails_briefly_with("expected postgres://");
    assert!(!run.stderr.contains("secret-pw"), "{run:#?}");
}

/// sqlx-cli 0.9 (`scripts/install-sqlx-cli` puts it in target/tools) runs migrations
/// through `rds-iam exec` against the bed's PostgreSQL. Each run applies its own
/// migration in a schema of its own, which it drops afterwards.
#[test]
fn sqlx_migrate_run_through_exec() {
    let sqlx = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/tools/bin/sqlx");
    // scripts/test installs it first; a missing tool is a failure, not a skip.
    assert!(
        sqlx.exists(),
        "{} is missing: run scripts/install-sqlx-cli (scripts/test does)",
        sqlx.display()
    );
    let bed = Bed::load();
    let mut sealed = bed.sealed(false);
    let version = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_micros()
        .to_string();
    let table = format!("rds_iam_cli_sqlx_{version}");
    // A schema of its own (first on the search path, through PGOPTIONS, which sqlx and
    // psql read): its `_sqlx_migrations` never meets the examples' migrations in public.
    let schema = format!("rds_iam_cli_sqlx_{version}");
    let create = bed.run(
        &sealed,
        "psql",
        bed.get("RDS_TESTBED_IAM_USER"),
        true,
        &["-XAtq", "-c", &format!("create schema {schema}")],
    );
    assert_eq!(create.code, Some(0), "{create:#?}");
    sealed
        .env
        .push(("PGOPTIONS".into(), format!("-c search_path={schema}")));
    let migrations = sealed.dir.path().join("migrations");
    std::fs::create_dir(&migrations).unwrap();
    std::fs::write(
        migrations.join(format!("{version}_rds_iam_cli_test.sql")),
        format!("create table {table} (id int primary key);\ninsert into {table} values (1);\n"),
    )
    .unwrap();
    let sqlx = sqlx.to_str().unwrap();
    let source = migrations.to_str().unwrap();
    let run = bed.exec(
        &sealed,
        "postgres",
        &[sqlx, "migrate", "run", "--no-dotenv", "--source", source],
    );
    let check = bed.run(
        &sealed,
        "psql",
        bed.get("RDS_TESTBED_IAM_USER"),
        true,
        &[
            "-XAtq",
            "-c",
            &format!("select count(*) from {table}"),
            "-c",
            &format!("drop schema {schema} cascade"),
        ],
    );
    assert_eq!(run.code, Some(0), "{run:#?}");
    assert!(
        run.stdout.contains(&format!("Applied {version}/")),
        "{run:#?}"
    );
    assert_eq!(check.stdout, "1\n", "{check:#?}");
}
