//! `rds-iam psql`, `rds-iam mysql` and `rds-iam ca-bundle`, with stand-in clients that
//! record what they were given; the real clients run in `testbed.rs`.

mod support;

use std::collections::HashMap;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};

use rds_iam_certs::RDS_AND_AMAZON_CA_BUNDLE_PEM;
use support::{Sealed, query};

const AKID: &str = "AKIDEXAMPLE";
const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";

/// A stand-in client: answers `--version` like MariaDB's mysql, otherwise writes its
/// arguments, the variables that matter (if set), and the mode and a copy of the CA file
/// it was pointed at (`--ssl-ca`, or `sslrootcert` in psql's conninfo) into `record`, prints `stderr_text` to stderr and exits with `code`.
fn fake_client(dir: &Path, record: &Path, stderr_text: &str, code: i32) -> PathBuf {
    let script = format!(
        r#"#!/bin/sh
if [ "$1" = --version ]; then echo "mysql  Ver 15.1 Distrib 10.11.6-MariaDB, for debian-linux-gnu"; exit 0; fi
out={record}
: > "$out"
for a in "$@"; do printf 'ARG=%s\n' "$a" >> "$out"; done
for v in PGSERVICE PGSERVICEFILE PGHOST PGHOSTADDR PGSSLMODE PGSSLROOTCERT PGPASSWORD MYSQL_HOST MYSQL_PWD; do
  eval "val=\${{$v-}}"; [ -n "$val" ] && printf '%s=%s\n' "$v" "$val" >> "$out"
done
ca=
for a in "$@"; do case "$a" in
  --ssl-ca=*) ca="${{a#--ssl-ca=}}";;
  --dbname=*) ca=$(printf '%s' "$a" | sed -n "s/.*sslrootcert='\([^']*\)'.*/\1/p");;
esac; done
printf 'CA=%s\nCA_MODE=%s\n' "$ca" "$(stat -c %a "$ca")" >> "$out"
cp "$ca" "$out.ca"
printf '%s' '{stderr_text}' >&2
exit {code}
"#,
        record = record.display(),
    );
    let path = dir.join(format!("fake-client-{code}"));
    std::fs::write(&path, script).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

struct Record {
    args: Vec<String>,
    vars: HashMap<String, String>,
    ca_copy: String,
}

fn read_record(record: &Path) -> Record {
    let text = std::fs::read_to_string(record).unwrap();
    let mut args = Vec::new();
    let mut vars = HashMap::new();
    for line in text.lines() {
        let (k, v) = line.split_once('=').unwrap();
        if k == "ARG" {
            args.push(v.to_owned());
        } else {
            vars.insert(k.to_owned(), v.to_owned());
        }
    }
    let ca_copy = std::fs::read_to_string(record.with_extension("ca")).unwrap_or_default();
    Record {
        args,
        vars,
        ca_copy,
    }
}

#[test]
fn psql_gets_the_token_in_pgpassword_and_verify_full_with_the_embedded_bundle() {
    let sealed = Sealed::new()
        .keys(AKID, SECRET, None)
        .set("PGSERVICE", "evil")
        .set("PGSERVICEFILE", "/nonexistent/pg_service.conf")
        .set("PGHOST", "evil.example")
        .set("PGHOSTADDR", "192.0.2.1")
        .set("PGSSLMODE", "disable")
        .set("PGSSLROOTCERT", "/nonexistent/evil-ca.pem");
    let record = sealed.dir.path().join("record");
    let client = fake_client(sealed.dir.path(), &record, "", 7);
    let run = sealed.run(&[
        "psql",
        "postgres://user%2Ba%40b@mydb.abc123.eu-west-1.rds.amazonaws.com:6543/app%20db",
        "--client",
        client.to_str().unwrap(),
        "--",
        "-c",
        "select 1",
    ]);
    // The client's exit status is ours.
    assert_eq!(run.code, Some(7), "{run:?}");
    assert_eq!(run.stdout, "");
    let rec = read_record(&record);
    // Where to connect and how, in a conninfo string (which beats service files and PG*
    // variables); the user's arguments after it.
    assert_eq!(rec.args.len(), 3, "{:?}", rec.args);
    assert_eq!(
        rec.args[0],
        format!(
            "--dbname=host='mydb.abc123.eu-west-1.rds.amazonaws.com' port=6543 user='user+a@b' \
             dbname='app db' hostaddr='' sslmode=verify-full gssencmode=disable sslrootcert='{}'",
            rec.vars["CA"]
        )
    );
    assert_eq!(rec.args[1..], ["-c", "select 1"]);
    // The variables that could redirect the client are gone; the TLS ones are ours, the
    // defaults for a later \connect.
    for var in ["PGSERVICE", "PGSERVICEFILE", "PGHOST", "PGHOSTADDR"] {
        assert!(!rec.vars.contains_key(var), "{var} reached psql");
    }
    assert_eq!(rec.vars["PGSSLMODE"], "verify-full");
    assert_eq!(rec.vars["PGSSLROOTCERT"], rec.vars["CA"]);
    let token = &rec.vars["PGPASSWORD"];
    assert!(
        token.starts_with(
            "mydb.abc123.eu-west-1.rds.amazonaws.com:6543/?Action=connect&DBUser=user%2Ba%40b&"
        ),
        "{token}"
    );
    assert!(query(token)["X-Amz-Credential"].contains("%2Feu-west-1%2Frds-db%2F"));
    // The embedded bundle (RDS roots and Amazon Root CA 1-4), in a file only the user can
    // read, gone once the client exits.
    assert_eq!(rec.vars["CA_MODE"], "600");
    assert_eq!(rec.ca_copy, RDS_AND_AMAZON_CA_BUNDLE_PEM);
    let ca = Path::new(&rec.vars["CA"]);
    assert!(ca.starts_with(sealed.dir.path()), "not in TMPDIR: {ca:?}");
    assert!(!ca.exists(), "the temporary CA bundle was left behind");
}

#[test]
fn mysql_gets_mysql_pwd_verified_tls_and_the_cleartext_plugin() {
    let sealed = Sealed::new()
        .keys(AKID, SECRET, None)
        .set("MYSQL_HOST", "evil.example");
    let record = sealed.dir.path().join("record");
    let client = fake_client(sealed.dir.path(), &record, "", 0);
    let ca_file = sealed.dir.write("my-ca.pem", "not really a CA\n");
    let run = sealed.run(&[
        "mysql",
        "--hostname",
        "localhost",
        "--username",
        "iam_user",
        "--dbname",
        "rdsiam",
        "--region",
        "us-east-1",
        "--ca-file",
        ca_file.to_str().unwrap(),
        "--client",
        client.to_str().unwrap(),
        "--",
        "-e",
        "select 1",
    ]);
    assert_eq!(run.code, Some(0), "{run:?}");
    let rec = read_record(&record);
    for expected in [
        "--host=localhost",
        "--port=3306",
        "--user=iam_user",
        "--protocol=TCP",
        &format!("--ssl-ca={}", ca_file.display()),
        "--ssl-verify-server-cert",
        "--database=rdsiam",
    ] {
        assert!(
            rec.args.iter().any(|a| a == expected),
            "{expected} missing: {:?}",
            rec.args
        );
    }
    assert_eq!(rec.args[rec.args.len() - 2..], ["-e", "select 1"]);
    assert!(
        !rec.vars.contains_key("MYSQL_HOST"),
        "MYSQL_HOST reached mysql"
    );
    // An empty private CA directory stands in for any `ssl-capath` in an option file,
    // gone with the rest once the client exits.
    let capath = rec
        .args
        .iter()
        .find_map(|a| a.strip_prefix("--ssl-capath="))
        .expect("no --ssl-capath");
    assert!(
        Path::new(capath).starts_with(sealed.dir.path()),
        "not in TMPDIR: {capath}"
    );
    assert!(
        !Path::new(capath).exists(),
        "the private directory was left behind"
    );
    // MariaDB's client always allows the cleartext plugin and warns on stdout about the
    // option; Oracle's gets it (see the unit tests).
    assert!(!rec.args.iter().any(|a| a == "--enable-cleartext-plugin"));
    let token = &rec.vars["MYSQL_PWD"];
    assert!(
        token.starts_with("localhost:3306/?Action=connect&DBUser=iam_user&"),
        "{token}"
    );
    // Never on the command line, where `ps` shows it to everyone.
    assert!(
        !rec.args.iter().any(|a| a.contains("X-Amz-Signature")),
        "{:?}",
        rec.args
    );
    // --ca-file is used as is.
    assert_eq!(rec.ca_copy, "not really a CA\n");
    assert!(ca_file.exists());
}

#[test]
fn a_refused_token_gets_a_hint() {
    let sealed = Sealed::new().keys(AKID, SECRET, None);
    let record = sealed.dir.path().join("record");
    let client = fake_client(
        sealed.dir.path(),
        &record,
        "psql: error: connection to server at \"localhost\" (127.0.0.1), port 5432 failed: FATAL:  PAM authentication failed for user \"iam_other\"\n",
        2,
    );
    let run = sealed.run(&[
        "psql",
        "postgres://iam_other@localhost/rdsiam",
        "--region",
        "us-east-1",
        "--client",
        client.to_str().unwrap(),
    ]);
    assert_eq!(run.code, Some(2), "{run:?}");
    // The client's own message first, then one hint line.
    assert!(run.stderr.starts_with("psql: error:"), "{}", run.stderr);
    let hint = run.stderr.lines().last().unwrap();
    assert!(hint.starts_with("rds-iam: hint: "), "{hint}");
    for needle in [
        "rds_iam",
        "rds-db:connect",
        "arn:aws:rds-db:us-east-1:",
        "/iam_other",
        "localhost:5432",
    ] {
        assert!(hint.contains(needle), "{needle} missing: {hint}");
    }
}

/// An Aurora DSQL endpoint: a DSQL token (DbConnectAdmin for admin, DbConnect for other
/// roles, no port, region from the name), the database `postgres` unless one is named,
/// verified TLS with the bundle that holds the Amazon roots.
#[test]
fn psql_signs_dsql_tokens_for_dsql_endpoints() {
    let sealed = Sealed::new().keys(AKID, SECRET, None);
    let record = sealed.dir.path().join("record");
    let client = fake_client(sealed.dir.path(), &record, "", 0);
    let host = "abcdefghijklmnopqrstuvwxyz.dsql.eu-west-1.on.aws";
    for (url, action, database) in [
        (
            format!("postgres://admin@{host}"),
            "DbConnectAdmin",
            "postgres",
        ),
        (
            format!("postgres://app@{host}/postgres"),
            "DbConnect",
            "postgres",
        ),
        (
            format!("postgresql://app@{host}:6543/other"),
            "DbConnect",
            "other",
        ),
    ] {
        let run = sealed.run(&["psql", &url, "--client", client.to_str().unwrap()]);
        assert_eq!(run.code, Some(0), "{run:?}");
        let rec = read_record(&record);
        assert!(
            rec.args[0].starts_with(&format!("--dbname=host='{host}' port=")),
            "{:?}",
            rec.args
        );
        assert!(
            rec.args[0].contains(&format!(
                " dbname='{database}' hostaddr='' sslmode=verify-full "
            )),
            "{:?}",
            rec.args
        );
        let token = &rec.vars["PGPASSWORD"];
        assert!(
            token.starts_with(&format!("{host}/?Action={action}&")),
            "{url}: {token}"
        );
        assert!(query(token)["X-Amz-Credential"].contains("%2Feu-west-1%2Fdsql%2Faws4_request"));
        assert_eq!(rec.ca_copy, RDS_AND_AMAZON_CA_BUNDLE_PEM);
    }
}

#[test]
fn a_refused_dsql_token_gets_dsql_advice() {
    let sealed = Sealed::new().keys(AKID, SECRET, None);
    let record = sealed.dir.path().join("record");
    let client = fake_client(
        sealed.dir.path(),
        &record,
        "psql: error: connection to server failed: FATAL:  password authentication failed for user \"app\"\n",
        2,
    );
    let run = sealed.run(&[
        "psql",
        "postgres://app@abc.dsql.us-east-1.on.aws/postgres",
        "--client",
        client.to_str().unwrap(),
    ]);
    assert_eq!(run.code, Some(2), "{run:?}");
    let hint = run.stderr.lines().last().unwrap();
    for needle in [
        "dsql:DbConnect on arn:aws:dsql:us-east-1:ACCOUNT:cluster/abc",
        "AWS IAM GRANT \"app\"",
        "us-east-1",
    ] {
        assert!(hint.contains(needle), "{needle} missing: {hint}");
    }
    assert!(
        !hint.contains("rds_iam") && !hint.contains("rds-db"),
        "{hint}"
    );
}

#[test]
fn mysql_refuses_a_dsql_endpoint_before_signing() {
    // No credentials: signing would fail with another message.
    let sealed = Sealed::new();
    let record = sealed.dir.path().join("record");
    let client = fake_client(sealed.dir.path(), &record, "", 0);
    sealed
        .run(&[
            "mysql",
            "mysql://admin@abc.dsql.us-east-1.on.aws/postgres",
            "--client",
            client.to_str().unwrap(),
        ])
        .fails_briefly_with("PostgreSQL protocol only");
    assert!(!record.exists(), "the client was started");
    for command in ["url", "exec"] {
        let mut argv = vec![command, "mysql://admin@abc.dsql.us-east-1.on.aws/x"];
        if command == "exec" {
            argv.extend(["--", "true"]);
        }
        sealed
            .run(&argv)
            .fails_briefly_with("PostgreSQL protocol only");
    }
}

/// `rds-iam url` for a DSQL endpoint: the DSQL token, percent-encoded, and the database
/// `postgres` when the URL names none.
#[test]
fn url_signs_dsql_tokens_for_dsql_endpoints() {
    let sealed = Sealed::new().keys(AKID, SECRET, None);
    let ca = sealed.dir.path().join("ca.pem");
    let run = sealed.run(&[
        "url",
        "postgres://admin@abc.dsql.us-east-1.on.aws",
        "--ca-output",
        ca.to_str().unwrap(),
    ]);
    let url = run.token();
    assert!(
        url.starts_with(
            "postgres://admin:abc.dsql.us-east-1.on.aws%2F%3FAction%3DDbConnectAdmin%26"
        ),
        "{url}"
    );
    assert!(
        url.contains("@abc.dsql.us-east-1.on.aws:5432/postgres?sslmode=verify-full&sslrootcert="),
        "{url}"
    );
    assert_eq!(
        std::fs::read_to_string(&ca).unwrap(),
        RDS_AND_AMAZON_CA_BUNDLE_PEM
    );
}

#[test]
fn client_errors_are_brief() {
    let sealed = Sealed::new().keys(AKID, SECRET, None);
    sealed
        .run(&[
            "psql",
            "--hostname",
            "db.x.us-east-1.rds.amazonaws.com",
            "--client",
            "/nonexistent/psql",
        ])
        .fails_briefly_with("--username");
    sealed
        .run(&[
            "psql",
            "postgres://u@db.x.us-east-1.rds.amazonaws.com",
            "--client",
            "/nonexistent/psql",
        ])
        .fails_briefly_with("/nonexistent/psql not found");
    Sealed::new()
        .keys(AKID, SECRET, None)
        .set("PATH", "/nonexistent")
        .run(&["mysql", "mysql://u@db.x.us-east-1.rds.amazonaws.com"])
        .fails_briefly_with("mysql not found on PATH");
    sealed
        .run(&["psql", "mysql://u@db.x.us-east-1.rds.amazonaws.com"])
        .fails_briefly_with("scheme");
    sealed
        .run(&[
            "psql",
            "postgres://u:secret@db.x.us-east-1.rds.amazonaws.com",
        ])
        .fails_briefly_with("password");
    let record = sealed.dir.path().join("record");
    let client = fake_client(sealed.dir.path(), &record, "", 0);
    sealed
        .run(&[
            "psql",
            "postgres://u@db.x.us-east-1.rds.amazonaws.com",
            "--ca-file",
            "/nonexistent/ca.pem",
            "--client",
            client.to_str().unwrap(),
        ])
        .fails_briefly_with("--ca-file");
}

/// Client arguments that would pick another server, user or database, or weaken TLS, are
/// refused before any token is signed or any client started.
#[test]
fn client_arguments_that_move_the_connection_are_refused_before_signing() {
    // No credentials at all: signing would fail with another message.
    let sealed = Sealed::new();
    let record = sealed.dir.path().join("record");
    let client = fake_client(sealed.dir.path(), &record, "", 0);
    let client = client.to_str().unwrap();
    for (command, url, args, needle) in [
        ("psql", "postgres://u@h", &["-h", "evil"][..], "-h"),
        ("psql", "postgres://u@h", &["--port=1"], "--port"),
        ("psql", "postgres://u@h", &["-XU", "other"], "--username"),
        (
            "psql",
            "postgres://u@h",
            &["-c", "select 1", "host=evil sslmode=disable"],
            "connection string",
        ),
        (
            "psql",
            "postgres://u@h",
            &["-d", "service=evil"],
            "--dbname",
        ),
        ("mysql", "mysql://u@h", &["--host=evil"], "--hostname"),
        ("mysql", "mysql://u@h", &["-BNhevil"], "--hostname"),
        ("mysql", "mysql://u@h", &["--skip-ssl"], "verified TLS"),
        (
            "mysql",
            "mysql://u@h",
            &["--ssl-verify-server-cert=0"],
            "verified TLS",
        ),
        ("mysql", "mysql://u@h", &["--user=other"], "--username"),
    ] {
        let mut argv = vec![
            command,
            url,
            "--region",
            "us-east-1",
            "--client",
            client,
            "--",
        ];
        argv.extend_from_slice(args);
        let run = sealed.run(&argv);
        run.fails_briefly_with(needle);
        assert!(run.stderr.contains("is refused"), "{run:#?}");
        assert!(!record.exists(), "the client was started: {args:?}");
    }
}

#[test]
fn ca_bundle_to_stdout_and_to_a_file() {
    let sealed = Sealed::new();
    let run = sealed.run(&["ca-bundle"]);
    assert_eq!(run.code, Some(0));
    assert_eq!(run.stdout, RDS_AND_AMAZON_CA_BUNDLE_PEM);
    assert!(run.stdout.starts_with("-----BEGIN CERTIFICATE-----"));
    let path = sealed.dir.path().join("bundle.pem");
    let run = sealed.run(&["ca-bundle", "--output", path.to_str().unwrap()]);
    assert_eq!(
        (run.code, run.stdout.as_str(), run.stderr.as_str()),
        (Some(0), "", "")
    );
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        RDS_AND_AMAZON_CA_BUNDLE_PEM
    );
    sealed
        .run(&["ca-bundle", "--output", "/nonexistent/dir/bundle.pem"])
        .fails_briefly_with("/nonexistent/dir/bundle.pem");
}
