//! Self-checks of the test bed (tests/rds-emulator): clients nobody here wrote
//! (psql, the mariadb client) with tokens minted by botocore must get in over
//! verified TLS, and must be refused with every kind of bad token or without TLS.
//!
//! Tests run in parallel and share the verifier log: each one takes a mark
//! before connecting and only looks at entries for its own token (fingerprint).

use std::fs;
use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime};

use integration_tests::{
    DSQL_PAM_SERVICE, Engine, SHORT_MAX_AGE, Testbed, Tls, VerifierEntry, VerifierLog, fingerprint,
    rds_emulator_dir,
};

/// Connects `user` with `token` over verified TLS and returns whether the client
/// got in, its output (for messages), and the verifier's entry for this login.
fn connect(
    bed: &Testbed,
    engine: Engine,
    user: &str,
    token: &str,
) -> (bool, String, VerifierEntry) {
    let log = VerifierLog::open(bed);
    let mark = log.mark();
    let out = bed.client(engine, user, token).run("select 1");
    let entry = log
        .wait_for_login(mark, user, token, Duration::from_secs(5))
        .unwrap_or_else(|| {
            panic!(
                "{engine:?}: no verifier entry for this login of {user}; client: {out:?}; \
                 entries since the mark: {:#?}",
                log.entries_since(mark)
            )
        });
    (out.success, format!("{out:?}"), entry)
}

/// SQL that returns the session's user and whether it is encrypted.
fn whoami_sql(engine: Engine) -> &'static str {
    match engine {
        Engine::Postgres => {
            "select current_user, ssl from pg_stat_ssl where pid = pg_backend_pid()"
        }
        Engine::MySql => {
            "select substring_index(current_user(), '@', 1), \
             (select variable_value from information_schema.session_status \
              where variable_name = 'Ssl_version') <> ''"
        }
    }
}

fn assert_refused(engine: Engine, out_debug: &str, success: bool) {
    assert!(!success, "{engine:?}: expected a refusal, got {out_debug}");
    match engine {
        Engine::Postgres => assert!(
            out_debug.contains("PAM authentication failed")
                || out_debug.contains("pg_hba.conf rejects"),
            "{out_debug}"
        ),
        Engine::MySql => assert!(out_debug.contains("1045"), "{out_debug}"),
    }
}

/// Expects the server to refuse `token` for `user` and the verifier to say `reason`.
fn expect_refusal(bed: &Testbed, engine: Engine, user: &str, token: &str, reason: &str) {
    let (success, out, entry) = connect(bed, engine, user, token);
    assert_refused(engine, &out, success);
    assert!(!entry.verdict, "{engine:?}: verifier accepted: {entry:?}");
    assert_eq!(entry.reason, reason, "{engine:?}: {entry:?}");
    assert_eq!(entry.service, engine.pam_service());
    assert_eq!(entry.user, user);
}

#[test]
fn accepts_botocore_token_over_verified_tls() {
    let bed = Testbed::load();
    let log = VerifierLog::open(&bed);
    for engine in Engine::ALL {
        let mark = log.mark();
        let token = bed.mint_token(engine, &bed.iam_user);
        let out = bed
            .client(engine, &bed.iam_user, &token)
            .run(whoami_sql(engine));
        assert!(out.success, "{engine:?}: {out:?}");
        let expected = match engine {
            Engine::Postgres => format!("{}\tt", bed.iam_user),
            Engine::MySql => format!("{}\t1", bed.iam_user),
        };
        assert_eq!(out.stdout.trim(), expected, "{engine:?}: user and TLS");
        let entry = log
            .wait_for_login(mark, &bed.iam_user, &token, Duration::from_secs(5))
            .expect("verifier entry");
        assert!(entry.verdict, "{entry:?}");
        assert_eq!(entry.reason, "ok");
        assert_eq!(entry.service, engine.pam_service());
        assert_eq!(entry.user, bed.iam_user);
        assert_eq!(
            entry.key_id.as_deref(),
            Some(bed.access_key.access_key_id.as_str())
        );
        assert!(entry.signed_at.is_some(), "{entry:?}");
    }
}

/// Every AWS-style name of a server, and `localhost`, gets in with verify-full against
/// that name, with a botocore token signed for it in its region (GovCloud and China
/// names included).
#[test]
fn every_endpoint_name_is_accepted_over_verify_full() {
    let bed = Testbed::load();
    for engine in Engine::ALL {
        let names = bed.endpoints(engine).all();
        for host in names.into_iter().chain([bed.host(engine)]) {
            let token = bed
                .token_request(engine, &bed.iam_user)
                .for_host(&bed, host)
                .mint();
            let log = VerifierLog::open(&bed);
            let mark = log.mark();
            let out = bed
                .client(engine, &bed.iam_user, &token)
                .host(host)
                .run(whoami_sql(engine));
            assert!(out.success, "{engine:?} {host}: {out:?}");
            let entry = log
                .wait_for_login(mark, &bed.iam_user, &token, Duration::from_secs(5))
                .expect("verifier entry");
            assert!(entry.verdict && entry.reason == "ok", "{host}: {entry:?}");
        }
    }
}

/// A token is good for the names of the server it was signed for, and no other: a name
/// of the other server (same port), a name nobody serves, a custom DNS name, and the
/// right name spelled with capitals in the token text (botocore keeps the caller's
/// spelling; the bed wants the lowercase name RDS serves) are refused for the host.
#[test]
fn refuses_tokens_for_names_of_another_server_or_unknown_names() {
    let bed = Testbed::load();
    for engine in Engine::ALL {
        let other = match engine {
            Engine::Postgres => Engine::MySql,
            Engine::MySql => Engine::Postgres,
        };
        let unknown = bed
            .endpoint(engine)
            .replacen("rdsiam-", "rdsiam-unknown-", 1);
        let capitalised = bed.endpoint(engine).to_ascii_uppercase();
        for host in [
            bed.endpoint(other),
            &bed.endpoints(other).govcloud,
            &unknown,
            "db.example.com",
            &capitalised,
        ] {
            let token = bed
                .token_request(engine, &bed.iam_user)
                .for_host(&bed, host)
                .mint();
            assert!(token.starts_with(&format!("{host}:{}/?", bed.port(engine))));
            expect_refusal(&bed, engine, &bed.iam_user, &token, "host");
        }
    }
}

/// The region must be that of the signed name: us-east-1 for the GovCloud or China
/// name, or us-gov-west-1 for the us-east-1 name, is refused.
#[test]
fn refuses_tokens_signed_for_another_region_than_the_names() {
    let bed = Testbed::load();
    for engine in Engine::ALL {
        let names = bed.endpoints(engine);
        for (host, region) in [
            (&names.govcloud, &bed.region),
            (&names.china, &bed.region),
            (&names.instance, &bed.govcloud_region),
        ] {
            let mut request = bed
                .token_request(engine, &bed.iam_user)
                .for_host(&bed, host);
            request.region = region.clone();
            expect_refusal(&bed, engine, &bed.iam_user, &request.mint(), "region");
        }
    }
}

#[test]
fn iam_users_can_use_the_test_database() {
    let bed = Testbed::load();
    for engine in Engine::ALL {
        let token = bed.mint_token(engine, &bed.other_iam_user);
        let table = format!("bed_check_{}", std::process::id());
        let sql = format!(
            "create temporary table {table} (x int); insert into {table} values (42); \
             select x from {table}"
        );
        let out = bed.client(engine, &bed.other_iam_user, &token).run(&sql);
        assert!(out.success, "{engine:?}: {out:?}");
        assert_eq!(out.stdout.trim(), "42", "{engine:?}");
    }
}

#[test]
fn refuses_tampered_token() {
    let bed = Testbed::load();
    for engine in Engine::ALL {
        let good = bed.mint_token(engine, &bed.iam_user);
        // Flip the last hex digit of the signature.
        let mut tampered = good.clone();
        let last = tampered.pop().expect("non-empty");
        tampered.push(if last == '0' { '1' } else { '0' });
        expect_refusal(&bed, engine, &bed.iam_user, &tampered, "signature");

        // A changed query parameter (same signature) breaks it too.
        let tampered = good.replace("X-Amz-Expires=900", "X-Amz-Expires=899");
        assert_ne!(tampered, good);
        expect_refusal(&bed, engine, &bed.iam_user, &tampered, "signature");
    }
}

#[test]
fn refuses_expired_token() {
    let bed = Testbed::load();
    let twenty_minutes_ago = SystemTime::now() - Duration::from_secs(20 * 60);
    for engine in Engine::ALL {
        let token = bed
            .token_request(engine, &bed.iam_user)
            .signed_at(twenty_minutes_ago)
            .mint();
        expect_refusal(&bed, engine, &bed.iam_user, &token, "expired");
    }
}

#[test]
fn refuses_token_from_the_future() {
    let bed = Testbed::load();
    let in_ten_minutes = SystemTime::now() + Duration::from_secs(10 * 60);
    for engine in Engine::ALL {
        let token = bed
            .token_request(engine, &bed.iam_user)
            .signed_at(in_ten_minutes)
            .mint();
        expect_refusal(&bed, engine, &bed.iam_user, &token, "future");
    }
}

#[test]
fn short_user_tokens_expire_after_seconds() {
    let bed = Testbed::load();
    for engine in Engine::ALL {
        // Fresh: accepted.
        let fresh = bed.mint_token(engine, &bed.short_iam_user);
        let (success, out, entry) = connect(&bed, engine, &bed.short_iam_user, &fresh);
        assert!(success && entry.verdict, "{engine:?}: {out} {entry:?}");
        // Older than the user's maximum age (but well within X-Amz-Expires): refused.
        let old = bed
            .token_request(engine, &bed.short_iam_user)
            .signed_at(SystemTime::now() - SHORT_MAX_AGE - Duration::from_secs(5))
            .mint();
        expect_refusal(&bed, engine, &bed.short_iam_user, &old, "expired");
    }
}

#[test]
fn refuses_another_users_token() {
    let bed = Testbed::load();
    for engine in Engine::ALL {
        let token = bed.mint_token(engine, &bed.other_iam_user);
        expect_refusal(&bed, engine, &bed.iam_user, &token, "user");
    }
}

#[test]
fn refuses_token_signed_for_another_port_or_host() {
    let bed = Testbed::load();
    for engine in Engine::ALL {
        let mut request = bed.token_request(engine, &bed.iam_user);
        request.port += 1;
        expect_refusal(&bed, engine, &bed.iam_user, &request.mint(), "host");

        let mut request = bed.token_request(engine, &bed.iam_user);
        request.host = "127.0.0.1".to_owned();
        expect_refusal(&bed, engine, &bed.iam_user, &request.mint(), "host");
    }
}

#[test]
fn refuses_other_region_and_unknown_key() {
    let bed = Testbed::load();
    for engine in Engine::ALL {
        let mut request = bed.token_request(engine, &bed.iam_user);
        request.region = "us-west-2".to_owned();
        expect_refusal(&bed, engine, &bed.iam_user, &request.mint(), "region");

        let mut request = bed.token_request(engine, &bed.iam_user);
        request.key.access_key_id = "AKIAUNKNOWNTESTKEY00".to_owned();
        expect_refusal(&bed, engine, &bed.iam_user, &request.mint(), "unknown_key");

        // Right key id, wrong secret.
        let mut request = bed.token_request(engine, &bed.iam_user);
        request.key.secret_access_key.push('x');
        expect_refusal(&bed, engine, &bed.iam_user, &request.mint(), "signature");
    }
}

#[test]
fn accepts_the_rotated_key() {
    let bed = Testbed::load();
    for engine in Engine::ALL {
        let mut request = bed.token_request(engine, &bed.iam_user);
        request.key = bed.rotated_key.clone();
        let token = request.mint();
        let (success, out, entry) = connect(&bed, engine, &bed.iam_user, &token);
        assert!(success && entry.verdict, "{engine:?}: {out} {entry:?}");
        assert_eq!(
            entry.key_id.as_deref(),
            Some(bed.rotated_key.access_key_id.as_str())
        );
    }
}

#[test]
fn refuses_plain_text_connections() {
    let bed = Testbed::load();
    for engine in Engine::ALL {
        let token = bed.mint_token(engine, &bed.iam_user);
        let out = bed
            .client(engine, &bed.iam_user, &token)
            .tls(Tls::Disabled)
            .run("select 1");
        assert_refused(engine, &format!("{out:?}"), out.success);
        if engine == Engine::Postgres {
            // PostgreSQL refuses before asking for a password.
            assert!(out.stderr.contains("no encryption"), "{out:?}");
        }
        // (MariaDB asks for the cleartext password before it enforces TLS, so the
        // token crossed the wire in clear before the refusal: the reason clients
        // must insist on verified TLS.)

        let out = bed
            .client(engine, &bed.control_user, &bed.control_password)
            .tls(Tls::Disabled)
            .run("select 1");
        assert_refused(engine, &format!("{out:?}"), out.success);
    }
}

#[test]
fn refuses_server_certificate_from_another_ca() {
    let bed = Testbed::load();
    for engine in Engine::ALL {
        let token = bed.mint_token(engine, &bed.iam_user);
        let mut call = bed.client(engine, &bed.iam_user, &token);
        // The RDS bundle does not sign the local test certificate.
        call.ca_file = rds_emulator_dir().join("../../certs/global-bundle.pem");
        assert!(call.ca_file.exists(), "{}", call.ca_file.display());
        let out = call.run("select 1");
        assert!(!out.success, "{engine:?}: {out:?}");
    }
}

#[test]
fn temporary_credentials_need_their_session_token() {
    let bed = Testbed::load();
    let session = bed
        .temp_key
        .session_token
        .clone()
        .expect("temp key has a session token");
    assert!(
        session.len() > 1000,
        "session token should be long: {}",
        session.len()
    );
    for engine in Engine::ALL {
        let mut request = bed.token_request(engine, &bed.iam_user);
        request.key = bed.temp_key.clone();
        let token = request.mint();
        assert!(
            token.len() > 1500,
            "token with session token: {} bytes",
            token.len()
        );
        let (success, out, entry) = connect(&bed, engine, &bed.iam_user, &token);
        assert!(success && entry.verdict, "{engine:?}: {out} {entry:?}");
        assert_eq!(
            entry.key_id.as_deref(),
            Some(bed.temp_key.access_key_id.as_str())
        );

        // Another session token (validly signed with it): refused.
        let mut wrong = request.clone();
        let mut other = session.clone();
        other.replace_range(40..44, "AAAA");
        assert_ne!(other, session);
        wrong.key.session_token = Some(other);
        expect_refusal(&bed, engine, &bed.iam_user, &wrong.mint(), "session_token");

        // No session token at all: refused.
        let mut missing = request.clone();
        missing.key.session_token = None;
        expect_refusal(
            &bed,
            engine,
            &bed.iam_user,
            &missing.mint(),
            "session_token",
        );
    }
}

#[test]
fn control_user_logs_in_with_password_over_tls() {
    let bed = Testbed::load();
    let log = VerifierLog::open(&bed);
    for engine in Engine::ALL {
        let mark = log.mark();
        let out = bed
            .client(engine, &bed.control_user, &bed.control_password)
            .run(whoami_sql(engine));
        assert!(out.success, "{engine:?}: {out:?}");
        assert!(out.stdout.starts_with(&bed.control_user), "{out:?}");
        let wrong = bed
            .client(engine, &bed.control_user, "not-the-password")
            .run("select 1");
        assert!(!wrong.success, "{engine:?}: {wrong:?}");
        // Passwords do not go through the token verifier.
        assert!(
            log.entries_since(mark)
                .iter()
                .all(|e| e.user != bed.control_user),
            "control user reached the verifier"
        );
    }
}

#[test]
fn verifier_log_never_contains_secrets() {
    let bed = Testbed::load();
    let log = VerifierLog::open(&bed);
    let mut tokens = Vec::new();
    for engine in Engine::ALL {
        let mut request = bed.token_request(engine, &bed.iam_user);
        request.key = bed.temp_key.clone();
        let token = request.mint();
        let (success, out, entry) = connect(&bed, engine, &bed.iam_user, &token);
        assert!(success, "{out}");
        assert_eq!(
            entry.fingerprint.as_deref(),
            Some(fingerprint(&token).as_str())
        );
        // A refused one too.
        let refused = format!("{token}0");
        let _ = connect(&bed, engine, &bed.iam_user, &refused);
        tokens.push(token);
    }
    let text = log.raw();
    let mut secrets: Vec<String> = vec![
        bed.access_key.secret_access_key.clone(),
        bed.rotated_key.secret_access_key.clone(),
        bed.temp_key.secret_access_key.clone(),
        bed.temp_key.session_token.clone().expect("session token"),
    ];
    for token in &tokens {
        secrets.push(token.clone());
        let signature = token.rsplit("X-Amz-Signature=").next().expect("signature");
        secrets.push(signature.to_owned());
        secrets.push(signature[..16].to_owned());
    }
    for secret in &secrets {
        assert!(
            !text.contains(secret.as_str()),
            "the verifier log contains a secret ({} chars)",
            secret.len()
        );
    }
    // Pieces of the session token, raw or percent-encoded, must not show up either.
    let session = bed.temp_key.session_token.clone().expect("session token");
    for start in (0..session.len() - 24).step_by(100) {
        assert!(
            !text.contains(&session[start..start + 24]),
            "log contains session token"
        );
    }
    for line in text.lines().filter(|l| !l.is_empty()) {
        assert!(
            VerifierEntry::parse(line).is_some(),
            "unparsable log line: {line}"
        );
        assert!(line.len() < 400, "suspiciously long log line: {line}");
    }
}

#[test]
fn verifier_matches_aws_reference_signature() {
    // AWS's own test vector: akid/secret, 2024-08-26T22:00:00Z, port 3306, user peccy.
    const TOKEN: &str = "prod-instance.us-east-1.rds.amazonaws.com:3306/?Action=connect\
        &DBUser=peccy&X-Amz-Algorithm=AWS4-HMAC-SHA256\
        &X-Amz-Credential=akid%2F20240826%2Fus-east-1%2Frds-db%2Faws4_request\
        &X-Amz-Date=20240826T220000Z&X-Amz-Expires=900&X-Amz-SignedHeaders=host\
        &X-Amz-Signature=dd0cba843009474347af724090233265628ace491ea17ce3eb3da098b983ad89";
    let dir = std::env::temp_dir().join(format!("rds-verifier-ref-{}", std::process::id()));
    fs::create_dir_all(&dir).expect("temp dir");
    let keys = dir.join("keys.json");
    fs::write(
        &keys,
        r#"{"keys": [{"access_key_id": "akid", "secret_access_key": "secret"}]}"#,
    )
    .expect("write keys");
    let config = dir.join("verifier.json");
    fs::write(
        &config,
        format!(
            r#"{{"services": {{"ref": {{"hosts":
                    {{"prod-instance.us-east-1.rds.amazonaws.com:3306": "us-east-1"}}}}}},
                "key_files": ["{}"], "key_dirs": [], "log_file": "/dev/null"}}"#,
            keys.display()
        ),
    )
    .expect("write config");
    let check = |user: &str, now: &str, token: &str| -> String {
        let mut child = Command::new("/usr/bin/python3")
            .arg(rds_emulator_dir().join("verifier.py"))
            .args([
                "--check",
                "--no-log",
                "--service",
                "ref",
                "--user",
                user,
                "--now",
                now,
            ])
            .arg("--config")
            .arg(&config)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("run verifier.py");
        use std::io::Write;
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(token.as_bytes())
            .expect("write token");
        let out = child.wait_with_output().expect("verifier.py");
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    };
    let results = [
        check("peccy", "2024-08-26T22:05:00Z", TOKEN),
        check("peccy", "2024-08-26T22:20:01Z", TOKEN),
        check(
            "peccy",
            "2024-08-26T22:05:00Z",
            &TOKEN.replace("dd0cba", "dd0cbb"),
        ),
        check("other", "2024-08-26T22:05:00Z", TOKEN),
    ];
    fs::remove_dir_all(&dir).ok();
    assert_eq!(
        results,
        [
            "accept ok",
            "refuse expired",
            "refuse signature",
            "refuse user"
        ]
    );
}

/// Every login runs the bed's compiled `pam_script_auth`, which asks the verifier
/// daemon (`verifier.py --serve`); without the daemon it runs verifier.py itself
/// (`RDS_EMULATOR_VERIFIER_DIRECT=1` forces that). Both paths must decide alike, and
/// the daemon must run this checkout's verifier.py.
#[test]
fn verifier_daemon_and_its_fallback_decide_alike() {
    let bed = Testbed::load();
    if bed.env_file != std::path::Path::new("/var/lib/rds-emulator/testbed.env") {
        // An exported bed (docker compose) runs the verifier inside its container.
        eprintln!("skipped: the bed's PAM script is not on this machine");
        return;
    }
    let engine = Engine::Postgres;
    let token = bed.mint_token(engine, &bed.iam_user);
    let log = VerifierLog::open(&bed);
    let login = |direct: bool, user: &str| {
        let mark = log.mark();
        let mut command = Command::new("/var/lib/rds-emulator/pam/pam_script_auth");
        command
            .env_clear()
            .env("PAM_SERVICE", engine.pam_service())
            .env("PAM_USER", user)
            .env("PAM_AUTHTOK", &token);
        if direct {
            command.env("RDS_EMULATOR_VERIFIER_DIRECT", "1");
        }
        let out = command.output().expect("run pam_script_auth");
        let entry = log
            .wait_for_login(mark, user, &token, Duration::from_secs(5))
            .expect("a verifier log entry for this check");
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
            entry,
        )
    };

    let (code, stderr, entry) = login(false, &bed.iam_user);
    assert_eq!((code, entry.verdict), (Some(0), true), "{stderr} {entry:?}");
    assert!(
        stderr.is_empty(),
        "the daemon should have answered: {stderr}"
    );
    let (code, stderr, entry) = login(false, &bed.other_iam_user);
    assert_eq!(code, Some(1), "{stderr}");
    assert_eq!((entry.verdict, entry.reason.as_str()), (false, "user"));

    // The fallback runs verifier.py as this test's user, and it must append to the
    // log (0664 root:postgres): true for root and postgres, not for other users.
    if fs::OpenOptions::new()
        .append(true)
        .open(&bed.verifier_log)
        .is_ok()
    {
        let (code, stderr, entry) = login(true, &bed.iam_user);
        assert_eq!((code, entry.verdict), (Some(0), true), "{stderr} {entry:?}");
        assert!(
            stderr.contains("running"),
            "expected the fallback: {stderr}"
        );
        let (code, stderr, entry) = login(true, &bed.other_iam_user);
        assert_eq!(code, Some(1), "{stderr}");
        assert_eq!((entry.verdict, entry.reason.as_str()), (false, "user"));
    } else {
        eprintln!(
            "fallback not checked: this user cannot append to {} (run the tests as root \
             to check it)",
            bed.verifier_log.display()
        );
    }

    let ping = Command::new("/usr/bin/python3")
        .args([
            "-I",
            "-c",
            "import socket; s = socket.socket(socket.AF_UNIX); \
             s.connect('/run/rds-emulator/verifier.sock'); s.sendall(b'ping'); \
             s.shutdown(socket.SHUT_WR); print(s.recv(200).decode().split()[1])",
        ])
        .output()
        .expect("ping the verifier daemon");
    let digest = Command::new("sha256sum")
        .arg(rds_emulator_dir().join("verifier.py"))
        .output()
        .expect("sha256sum");
    let running = String::from_utf8_lossy(&ping.stdout).trim().to_owned();
    let checkout = String::from_utf8_lossy(&digest.stdout);
    assert!(
        !running.is_empty() && checkout.starts_with(&running),
        "the verifier daemon runs another verifier.py ({running:?}) than this checkout's \
         ({checkout:?}): run tests/rds-emulator/setup"
    );
}

#[test]
fn env_file_describes_the_bed() {
    use std::net::ToSocketAddrs;
    let bed = Testbed::load();
    assert_eq!(bed.region, "us-east-1");
    assert_eq!(bed.govcloud_region, "us-gov-west-1");
    assert_eq!(bed.china_region, "cn-north-1");
    let mut names = Vec::new();
    for engine in Engine::ALL {
        let endpoints = bed.endpoints(engine);
        assert_eq!(bed.endpoint(engine), endpoints.instance);
        assert!(endpoints.cluster.contains(".cluster-"), "{endpoints:?}");
        assert!(endpoints.reader.contains(".cluster-ro-"), "{endpoints:?}");
        assert!(endpoints.proxy.contains(".proxy-"), "{endpoints:?}");
        assert!(
            endpoints
                .govcloud
                .contains(".us-gov-west-1.rds.amazonaws.com"),
            "{endpoints:?}"
        );
        assert!(
            endpoints
                .china
                .ends_with(".cn-north-1.rds.amazonaws.com.cn"),
            "{endpoints:?}"
        );
        names.extend(endpoints.all());
    }
    assert!(
        bed.dsql_endpoint.ends_with(".dsql.us-east-1.on.aws"),
        "{}",
        bed.dsql_endpoint
    );
    names.push(&bed.dsql_endpoint);
    assert_ne!(bed.dsql_role, bed.dsql_admin_role);
    assert_eq!(bed.dsql_admin_role, "admin");
    assert_eq!(bed.dsql_database, "postgres");
    for name in &names {
        assert_eq!(name.to_ascii_lowercase(), *name);
        // (An exported bed's names resolve only where `setup --hosts-only` ran.)
        let addrs: Vec<_> = (*name, 1)
            .to_socket_addrs()
            .unwrap_or_else(|e| panic!("{name} does not resolve ({e}): run setup"))
            .collect();
        assert!(
            addrs.iter().all(|a| a.ip().is_loopback()),
            "{name}: {addrs:?}"
        );
    }
    let mut unique = names.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(unique.len(), names.len(), "{names:?}");
    assert!(bed.ca_file.is_file(), "{}", bed.ca_file.display());
    assert!(bed.verifier_log.is_file(), "{}", bed.verifier_log.display());
    assert!(bed.keys_dir.is_dir(), "{}", bed.keys_dir.display());
    assert!(bed.access_key.access_key_id.starts_with("AKIA"));
    assert!(bed.rotated_key.access_key_id.starts_with("AKIA"));
    assert!(bed.temp_key.access_key_id.starts_with("ASIA"));
    let users = [
        &bed.iam_user,
        &bed.other_iam_user,
        &bed.short_iam_user,
        &bed.control_user,
    ];
    for (i, a) in users.iter().enumerate() {
        for b in &users[i + 1..] {
            assert_ne!(a, b);
        }
    }
}

// ---- The Aurora DSQL look-alike -------------------------------------------------

/// Logs in to the DSQL look-alike as `role` with `token` (psql, verify-full against
/// `host`): whether it got in, the client's output, the verifier's entry.
fn dsql_connect(
    bed: &Testbed,
    host: &str,
    role: &str,
    token: &str,
) -> (bool, String, VerifierEntry) {
    let log = VerifierLog::open(bed);
    let mark = log.mark();
    let out = bed
        .dsql_client(role, token)
        .host(host)
        .run("select current_user, ssl from pg_stat_ssl where pid = pg_backend_pid()");
    let entry = log
        .wait_for_login(mark, role, token, Duration::from_secs(5))
        .unwrap_or_else(|| panic!("DSQL: no verifier entry for this login of {role}: {out:?}"));
    assert_eq!(entry.service, DSQL_PAM_SERVICE, "{entry:?}");
    assert_eq!(entry.user, role);
    let success = out.success && out.stdout.trim() == format!("{role}\tt");
    (success, format!("{out:?}"), entry)
}

fn expect_dsql_refusal(bed: &Testbed, role: &str, token: &str, reason: &str) {
    let (success, out, entry) = dsql_connect(bed, &bed.dsql_endpoint, role, token);
    assert!(!success, "DSQL {role}: expected a refusal, got {out}");
    assert!(out.contains("PAM authentication failed"), "{out}");
    assert!(!entry.verdict, "DSQL: verifier accepted: {entry:?}");
    assert_eq!(entry.reason, reason, "DSQL {role}: {entry:?}");
}

/// psql gets in as `admin` with botocore's `generate_db_connect_admin_auth_token` and
/// as the other role with `generate_db_connect_auth_token`, over verify-full against the
/// DSQL name (and through `localhost`, with a token signed for `localhost`); a token
/// that declares a week is good two days after it was signed.
#[test]
fn dsql_accepts_botocore_admin_and_role_tokens_over_verify_full() {
    let bed = Testbed::load();
    for role in [&bed.dsql_admin_role, &bed.dsql_role] {
        let token = bed.mint_dsql_token(role);
        assert!(token.starts_with(&format!("{}/?Action=DbConnect", bed.dsql_endpoint)));
        let (success, out, entry) = dsql_connect(&bed, &bed.dsql_endpoint, role, &token);
        assert!(
            success && entry.verdict && entry.reason == "ok",
            "{out} {entry:?}"
        );

        let mut request = bed.dsql_token_request(role);
        request.host = "localhost".to_owned();
        let token = request.mint();
        let (success, out, entry) = dsql_connect(&bed, "localhost", role, &token);
        assert!(success && entry.verdict, "localhost: {out} {entry:?}");

        let mut request = bed
            .dsql_token_request(role)
            .signed_at(SystemTime::now() - Duration::from_secs(2 * 86_400));
        request.expires_in = 604_800;
        let token = request.mint();
        let (success, out, entry) = dsql_connect(&bed, &bed.dsql_endpoint, role, &token);
        assert!(
            success && entry.verdict,
            "a week-long token: {out} {entry:?}"
        );
    }
}

/// What DSQL checks: the action for the role, the service, the host, the region, the
/// declared expiry (at most a week), and TLS.
#[test]
fn dsql_refuses_wrong_action_service_host_region_or_expiry() {
    let bed = Testbed::load();
    let (admin, role) = (&bed.dsql_admin_role, &bed.dsql_role);

    // DbConnect for admin, DbConnectAdmin for another role.
    let mut request = bed.dsql_token_request(admin);
    request.admin = false;
    expect_dsql_refusal(&bed, admin, &request.mint(), "action");
    let mut request = bed.dsql_token_request(role);
    request.admin = true;
    expect_dsql_refusal(&bed, role, &request.mint(), "action");

    // An RDS token (rds-db, HOST:PORT, DBUser) for the DSQL name.
    let rds = integration_tests::TokenRequest {
        host: bed.dsql_endpoint.clone(),
        port: bed.dsql_port,
        user: admin.clone(),
        region: bed.dsql_region.clone(),
        key: bed.access_key.clone(),
        signing_time: None,
    };
    expect_dsql_refusal(&bed, admin, &rds.mint(), "service");

    // Another host: an RDS endpoint name, a DSQL name of another cluster.
    for host in [
        bed.pg_endpoint.clone(),
        bed.dsql_endpoint.replacen("abc", "zzz", 1),
    ] {
        let mut request = bed.dsql_token_request(role);
        request.host = host;
        expect_dsql_refusal(&bed, role, &request.mint(), "host");
    }

    let mut request = bed.dsql_token_request(role);
    request.region = "us-west-2".to_owned();
    expect_dsql_refusal(&bed, role, &request.mint(), "region");

    // Expired: 900 s declared, signed 20 minutes ago; and more than a week declared.
    let expired = bed
        .dsql_token_request(admin)
        .signed_at(SystemTime::now() - Duration::from_secs(20 * 60));
    expect_dsql_refusal(&bed, admin, &expired.mint(), "expired");
    let mut too_long = bed.dsql_token_request(admin);
    too_long.expires_in = 604_801;
    expect_dsql_refusal(&bed, admin, &too_long.mint(), "expires");

    // Tampered.
    let mut tampered = bed.mint_dsql_token(role);
    let last = tampered.pop().expect("non-empty");
    tampered.push(if last == '0' { '1' } else { '0' });
    expect_dsql_refusal(&bed, role, &tampered, "signature");

    // No TLS: refused before any token is asked for.
    let out = bed
        .dsql_client(admin, &bed.mint_dsql_token(admin))
        .tls(Tls::Disabled)
        .run("select 1");
    assert!(
        !out.success && out.stderr.contains("no encryption"),
        "{out:?}"
    );
}

/// The RDS servers refuse DSQL tokens (service), even for their own names.
#[test]
fn rds_servers_refuse_dsql_tokens() {
    let bed = Testbed::load();
    for engine in Engine::ALL {
        let mut request = bed.dsql_token_request(&bed.dsql_role);
        request.host = bed.endpoint(engine).to_owned();
        expect_refusal(&bed, engine, &bed.iam_user, &request.mint(), "service");
    }
}

/// The DSQL look-alike's certificate names the DSQL endpoint, not the RDS ones, and the
/// RDS servers' certificate does not name the DSQL endpoint.
#[test]
fn dsql_and_rds_servers_have_their_own_certificates() {
    let bed = Testbed::load();
    let token = bed.mint_dsql_token(&bed.dsql_role);
    let out = bed
        .dsql_client(&bed.dsql_role, &token)
        .host(&bed.pg_endpoint)
        .run("select 1");
    assert!(
        !out.success && out.stderr.contains("does not match host name"),
        "{out:?}"
    );
    let mut call = bed.client(Engine::Postgres, &bed.iam_user, "unused");
    call.port = bed.pg_port;
    let out = call.host(&bed.dsql_endpoint).run("select 1");
    assert!(
        !out.success && out.stderr.contains("does not match host name"),
        "{out:?}"
    );
}

// ---- The bed's own hygiene ---------------------------------------------------------

/// Whether this test runs as root (needed to act as other local users, or to read the
/// servers' account tables); the checks below say so and return otherwise.
fn running_as_root() -> bool {
    let out = Command::new("id").arg("-u").output().expect("run id -u");
    String::from_utf8_lossy(&out.stdout).trim() == "0"
}

/// Whether `bed` is this machine's bed (not an exported, docker-compose one).
fn local_bed(bed: &Testbed) -> bool {
    bed.env_file == std::path::Path::new("/var/lib/rds-emulator/testbed.env")
}

/// Asks the verifier daemon for a `ping` as local user `user`: its reply, or the error.
fn ping_daemon_as(user: &str) -> Result<String, String> {
    let out = Command::new("runuser")
        .args(["-u", user, "--", "/usr/bin/python3", "-I", "-c"])
        .arg(
            "import socket; s = socket.socket(socket.AF_UNIX); \
             s.connect('/run/rds-emulator/verifier.sock'); s.sendall(b'ping'); \
             s.shutdown(socket.SHUT_WR); print(s.recv(200).decode().split()[0])",
        )
        .current_dir("/")
        .output()
        .expect("run runuser");
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

/// The verifier daemon (root) answers the database servers' PAM stacks only: `postgres`
/// (PostgreSQL's, both clusters) reaches its socket, an unprivileged local user
/// (`nobody`) does not, and the PAM client run by `nobody` with a good token does not
/// get an accept.
#[test]
fn verifier_socket_is_reachable_by_the_database_servers_only() {
    let bed = Testbed::load();
    if !local_bed(&bed) || !running_as_root() {
        eprintln!("skipped: needs this machine's bed and root (to act as other users)");
        return;
    }
    assert_eq!(ping_daemon_as("postgres").as_deref(), Ok("pong"));
    let refused = ping_daemon_as("nobody").expect_err("nobody reached the verifier daemon");
    assert!(refused.contains("PermissionError"), "{refused}");

    let token = bed.mint_token(Engine::Postgres, &bed.iam_user);
    let out = Command::new("runuser")
        .args([
            "-u",
            "nobody",
            "--",
            "/var/lib/rds-emulator/pam/pam_script_auth",
        ])
        .env_clear()
        .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
        .env("PAM_SERVICE", Engine::Postgres.pam_service())
        .env("PAM_USER", &bed.iam_user)
        .env("PAM_AUTHTOK", &token)
        .current_dir("/")
        .output()
        .expect("run pam_script_auth as nobody");
    assert_ne!(
        out.status.code(),
        Some(0),
        "nobody got an accept: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// MariaDB's IAM and control users exist for loopback hosts only (whatever address the
/// server listens on), and PostgreSQL's IAM and control users may log in over TCP from
/// loopback only.
#[test]
fn bed_users_log_in_from_loopback_only() {
    let bed = Testbed::load();
    if !local_bed(&bed) || !running_as_root() {
        eprintln!("skipped: needs this machine's bed and root (to read the account tables)");
        return;
    }
    let users = [
        &bed.iam_user,
        &bed.other_iam_user,
        &bed.short_iam_user,
        &bed.control_user,
    ];
    let list = users
        .iter()
        .map(|u| format!("'{u}'"))
        .collect::<Vec<_>>()
        .join(",");
    let out = Command::new("mariadb")
        .args(["--protocol=socket", "-u", "root", "-N", "-B", "-e"])
        .arg(format!(
            "select distinct Host from mysql.global_priv where User in ({list}) order by Host"
        ))
        .output()
        .expect("run mariadb as root");
    assert!(out.status.success(), "{out:?}");
    let hosts = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(
        hosts.lines().collect::<Vec<_>>(),
        ["127.0.0.1", "::1", "localhost"]
    );

    for (cluster, port) in [("main", "5432"), ("dsql", "5433")] {
        let out = Command::new("runuser")
            .args([
                "-u", "postgres", "--", "psql", "-X", "-At", "-p", port, "-d", "postgres",
            ])
            .arg("-c")
            .arg(
                "select distinct coalesce(address, 'all') from pg_hba_file_rules \
                 where type = 'hostssl' and auth_method <> 'reject'",
            )
            .current_dir("/")
            .output()
            .expect("run psql as postgres");
        assert!(out.status.success(), "{cluster}: {out:?}");
        let mut addresses: Vec<String> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::to_owned)
            .collect();
        addresses.sort();
        assert_eq!(addresses, ["127.0.0.1", "::1"], "{cluster}");
    }
}
