//! `rds-iam token` and `rds-iam dsql-token`, run as a process, against botocore and the
//! AWS CLI.

mod support;

use std::time::{Duration, Instant};

use support::{Case, Sealed, amz_date_as_rfc3339, botocore, query, rfc3339};

const AKID: &str = "AKIDEXAMPLE";
const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
const SESSION: &str = "FwoGZXIvYXdzEJr//////////wEaDH+session/token==";

fn rds_case(hostname: &str, port: u16, username: &str, region: &str, time: u64) -> Case {
    Case {
        kind: "rds",
        hostname: hostname.into(),
        port,
        username: username.into(),
        region: region.into(),
        access_key_id: AKID.into(),
        secret_access_key: SECRET.into(),
        session_token: None,
        time,
        expires_in: 900,
    }
}

fn dsql_case(kind: &'static str, hostname: &str, region: &str, time: u64, expires_in: u64) -> Case {
    Case {
        kind,
        hostname: hostname.into(),
        port: 0,
        username: String::new(),
        region: region.into(),
        access_key_id: AKID.into(),
        secret_access_key: SECRET.into(),
        session_token: None,
        time,
        expires_in,
    }
}

fn sealed_for(case: &Case) -> Sealed {
    Sealed::new().keys(
        &case.access_key_id,
        &case.secret_access_key,
        case.session_token.as_deref(),
    )
}

fn rds_args(case: &Case, with_region: bool) -> Vec<String> {
    let mut args = vec![
        "token".to_owned(),
        "--hostname".into(),
        case.hostname.clone(),
        "--port".into(),
        case.port.to_string(),
        "--username".into(),
        case.username.clone(),
        "--signing-time".into(),
        rfc3339(case.time),
    ];
    if with_region {
        args.extend(["--region".into(), case.region.clone()]);
    }
    args
}

fn run_args(sealed: &Sealed, args: &[String]) -> support::Run {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    sealed.run(&args)
}

#[test]
fn aws_reference_token() {
    let sealed = Sealed::new().keys("akid", "secret", None);
    let run = sealed.run(&[
        "token",
        "--hostname",
        "prod-instance.us-east-1.rds.amazonaws.com",
        "--port",
        "3306",
        "--username",
        "peccy",
        "--signing-time",
        "2024-08-26T22:00:00Z",
    ]);
    assert_eq!(
        run.token(),
        "prod-instance.us-east-1.rds.amazonaws.com:3306/?Action=connect&DBUser=peccy\
         &X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=akid%2F20240826%2Fus-east-1%2Frds-db%2Faws4_request\
         &X-Amz-Date=20240826T220000Z&X-Amz-Expires=900&X-Amz-SignedHeaders=host\
         &X-Amz-Signature=dd0cba843009474347af724090233265628ace491ea17ce3eb3da098b983ad89"
    );
}

#[test]
fn rds_tokens_match_botocore() {
    let t = 1_724_709_600;
    let mut cases = vec![
        rds_case(
            "mydb.abc123.us-east-1.rds.amazonaws.com",
            5432,
            "app",
            "us-east-1",
            t,
        ),
        rds_case(
            "mydb.abc123.eu-west-3.rds.amazonaws.com",
            3306,
            "app",
            "eu-west-3",
            t + 86_399,
        ),
        rds_case(
            "db.cluster-ro-x.cn-north-1.rds.amazonaws.com.cn",
            3306,
            "app",
            "cn-north-1",
            t,
        ),
        rds_case(
            "db.x.us-gov-west-1.rds.amazonaws.com",
            5432,
            "app",
            "us-gov-west-1",
            t,
        ),
        rds_case(
            "proxy.proxy-x.ap-southeast-2.rds.amazonaws.com",
            5432,
            "app",
            "ap-southeast-2",
            0,
        ),
        // Users that need encoding.
        rds_case(
            "mydb.abc123.us-east-1.rds.amazonaws.com",
            5432,
            "user+a@b",
            "us-east-1",
            t,
        ),
        rds_case(
            "mydb.abc123.us-east-1.rds.amazonaws.com",
            5432,
            "jane doe/x=y&z",
            "us-east-1",
            t,
        ),
        rds_case(
            "mydb.abc123.us-east-1.rds.amazonaws.com",
            5432,
            "ünïcødé",
            "us-east-1",
            t,
        ),
        rds_case(
            "mydb.abc123.us-east-1.rds.amazonaws.com",
            5432,
            "a-b_c.d~e",
            "us-east-1",
            t,
        ),
        rds_case(
            "mydb.abc123.us-east-1.rds.amazonaws.com",
            65535,
            "100%",
            "us-east-1",
            t,
        ),
    ];
    let mut with_session = cases[0].clone();
    with_session.session_token = Some(SESSION.into());
    cases.push(with_session);
    let mut with_session_and_user = cases[5].clone();
    with_session_and_user.session_token = Some("a b+c/d=".into());
    cases.push(with_session_and_user);

    let expected = botocore(&cases);
    for (case, expected) in cases.iter().zip(&expected) {
        let run = run_args(&sealed_for(case), &rds_args(case, false));
        assert_eq!(run.token(), expected, "{case:?}");
    }
}

#[test]
fn explicit_region_for_a_host_without_one() {
    let case = rds_case("localhost", 5432, "iam_user", "us-east-1", 1_700_000_000);
    let expected = botocore(std::slice::from_ref(&case));
    let run = run_args(&sealed_for(&case), &rds_args(&case, true));
    assert_eq!(run.token(), expected[0]);
    // AWS_REGION works as well.
    let run = run_args(
        &sealed_for(&case).set("AWS_REGION", "us-east-1"),
        &rds_args(&case, false),
    );
    assert_eq!(run.token(), expected[0]);
    // And so does AWS_DEFAULT_REGION, the AWS CLI's variable.
    let run = run_args(
        &sealed_for(&case).set("AWS_DEFAULT_REGION", "us-east-1"),
        &rds_args(&case, false),
    );
    assert_eq!(run.token(), expected[0]);
}

#[test]
fn the_aws_cli_command_name_is_an_alias() {
    let case = rds_case(
        "mydb.abc123.us-east-1.rds.amazonaws.com",
        5432,
        "app",
        "us-east-1",
        1_724_709_600,
    );
    let sealed = sealed_for(&case);
    let mut args = rds_args(&case, true);
    let token = run_args(&sealed, &args).token().to_owned();
    args[0] = "generate-db-auth-token".into();
    assert_eq!(run_args(&sealed, &args).token(), token);
}

#[test]
fn dsql_tokens_match_botocore() {
    let t = 1_724_709_600;
    let host = "abcdefghijklmnopqrstuvwxyz.dsql.us-east-1.on.aws";
    let mut cases = vec![
        dsql_case("dsql", host, "us-east-1", t, 900),
        dsql_case("dsql_admin", host, "us-east-1", t, 900),
        dsql_case("dsql", host, "us-east-1", t + 12_345, 3600),
        dsql_case(
            "dsql_admin",
            "x.dsql.eu-west-1.on.aws",
            "eu-west-1",
            t,
            604_800,
        ),
        dsql_case("dsql", "x.dsql.eu-west-1.on.aws", "eu-west-1", t, 1),
    ];
    let mut with_session = cases[1].clone();
    with_session.session_token = Some(SESSION.into());
    cases.push(with_session);
    let expected = botocore(&cases);
    for (case, expected) in cases.iter().zip(&expected) {
        let mut args = vec![
            "dsql-token".to_owned(),
            "--hostname".into(),
            case.hostname.clone(),
            "--signing-time".into(),
            rfc3339(case.time),
        ];
        if case.expires_in != 900 {
            args.extend(["--expires-in".into(), case.expires_in.to_string()]);
        }
        if case.kind == "dsql_admin" {
            args.push("--admin".into());
        }
        let run = run_args(&sealed_for(case), &args);
        assert_eq!(run.token(), expected, "{case:?}");
        // The AWS CLI's names and flags (`aws dsql generate-db-connect[-admin]-auth-token
        // --hostname H --region R --expires-in S`): the same bytes.
        let name = if case.kind == "dsql_admin" {
            "generate-db-connect-admin-auth-token"
        } else {
            "generate-db-connect-auth-token"
        };
        let aws_args = vec![
            name.to_owned(),
            "--hostname".into(),
            case.hostname.clone(),
            "--region".into(),
            case.region.clone(),
            "--expires-in".into(),
            case.expires_in.to_string(),
            "--signing-time".into(),
            rfc3339(case.time),
        ];
        let run = run_args(&sealed_for(case), &aws_args);
        assert_eq!(run.token(), expected, "{aws_args:?}");
    }
}

#[test]
fn the_aws_cli_dsql_names_take_only_its_flags_and_ours() {
    let sealed = Sealed::new().keys(AKID, SECRET, None);
    // The admin name has no --admin: it is always the admin token.
    sealed
        .run(&[
            "generate-db-connect-admin-auth-token",
            "--hostname",
            "x.dsql.us-east-1.on.aws",
            "--admin",
        ])
        .fails_with("--admin");
    // A week at most, as for dsql-token.
    sealed
        .run(&[
            "generate-db-connect-auth-token",
            "--hostname",
            "x.dsql.us-east-1.on.aws",
            "--expires-in",
            "604801",
        ])
        .fails_briefly_with("604800");
    let help = sealed.run(&["--help"]).stdout;
    assert!(help.contains("generate-db-connect-auth-token"), "{help}");
    assert!(
        help.contains("generate-db-connect-admin-auth-token"),
        "{help}"
    );
}

/// The AWS CLI has no signing-time option: run it, read the second it signed at from its
/// token, and sign at that second. The whole output, newline included, must be the same.
#[test]
fn output_is_byte_identical_to_the_aws_cli() {
    let cases: [(&str, &str, Option<&str>); 3] = [
        ("mydb.abc123.us-east-1.rds.amazonaws.com", "app", None),
        (
            "mydb.abc123.eu-central-1.rds.amazonaws.com",
            "user+a@b",
            Some(SESSION),
        ),
        ("localhost", "iam_user", None),
    ];
    for (host, user, session) in cases {
        let sealed = Sealed::new().keys(AKID, SECRET, session);
        let aws = sealed
            .command("aws")
            .args([
                "rds",
                "generate-db-auth-token",
                "--hostname",
                host,
                "--port",
                "5432",
                "--username",
                user,
                "--region",
            ])
            .arg(if host == "localhost" {
                "us-east-1"
            } else {
                host.split('.').nth(2).unwrap()
            })
            .output()
            .expect("the AWS CLI (pip install awscli) is needed for this test");
        assert!(aws.status.success(), "{aws:?}");
        let aws_stdout = String::from_utf8(aws.stdout).unwrap();
        let time = amz_date_as_rfc3339(&aws_stdout);
        let mut args = vec![
            "token",
            "--hostname",
            host,
            "--port",
            "5432",
            "--username",
            user,
            "--signing-time",
            &time,
        ];
        if host == "localhost" {
            args.extend(["--region", "us-east-1"]);
        }
        let ours = sealed.run(&args);
        assert_eq!(ours.code, Some(0), "{ours:?}");
        assert_eq!(ours.stdout, aws_stdout, "{host} {user}");
    }
}

#[test]
fn without_signing_time_the_current_time_is_used() {
    let sealed = Sealed::new().keys(AKID, SECRET, None);
    let before = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let run = sealed.run(&[
        "token",
        "--hostname",
        "db.x.us-east-1.rds.amazonaws.com",
        "--port",
        "5432",
        "--username",
        "app",
    ]);
    let after = before + 5;
    let token = run.token();
    let signed = amz_date_as_rfc3339(token);
    let candidates: Vec<String> = (before..=after).map(rfc3339).collect();
    assert!(
        candidates.contains(&signed),
        "{signed} not in {candidates:?}"
    );
    let q = query(token);
    assert_eq!(q["X-Amz-Expires"], "900");
    assert_eq!(q["DBUser"], "app");
}

#[test]
fn named_profile_wins_over_environment_keys() {
    let sealed = Sealed::new().keys("AKIDFROMENV", SECRET, None);
    sealed.dir.write(
        "credentials",
        "[dev]\naws_access_key_id = AKIDFROMPROFILE\naws_secret_access_key = profilesecret\n",
    );
    sealed
        .dir
        .write("config", "[profile dev]\nregion = eu-central-1\n");
    let t = 1_724_709_600;
    let mut case = rds_case("localhost", 5432, "app", "eu-central-1", t);
    case.access_key_id = "AKIDFROMPROFILE".into();
    case.secret_access_key = "profilesecret".into();
    let expected = botocore(std::slice::from_ref(&case));

    // --profile: the profile's keys and region, though environment keys are set.
    let mut args = rds_args(&case, false);
    args.extend(["--profile".into(), "dev".into()]);
    assert_eq!(run_args(&sealed, &args).token(), expected[0]);

    // AWS_PROFILE without environment keys: the same.
    let sealed = sealed
        .unset("AWS_ACCESS_KEY_ID")
        .unset("AWS_SECRET_ACCESS_KEY")
        .set("AWS_PROFILE", "dev");
    assert_eq!(
        run_args(&sealed, &rds_args(&case, false)).token(),
        expected[0]
    );

    // A profile that does not exist.
    let mut args = rds_args(&case, true);
    args.extend(["--profile".into(), "nope".into()]);
    run_args(&sealed, &args).fails_briefly_with("profile \"nope\"");
}

#[test]
fn profile_with_a_session_token() {
    let sealed = Sealed::new();
    sealed.dir.write(
        "credentials",
        &format!(
            "[temp]\naws_access_key_id = ASIATEMP\naws_secret_access_key = tempsecret\n\
             aws_session_token = {SESSION}\n"
        ),
    );
    let mut case = rds_case(
        "db.x.us-west-2.rds.amazonaws.com",
        3306,
        "app",
        "us-west-2",
        1_724_709_600,
    );
    case.access_key_id = "ASIATEMP".into();
    case.secret_access_key = "tempsecret".into();
    case.session_token = Some(SESSION.into());
    let expected = botocore(std::slice::from_ref(&case));
    let mut args = rds_args(&case, false);
    args.extend(["--profile".into(), "temp".into()]);
    assert_eq!(run_args(&sealed, &args).token(), expected[0]);
}

/// With the region in the endpoint name, nothing waits on the instance metadata service,
/// even when credentials come through the full chain and IMDS is enabled but unreachable.
#[test]
fn a_known_region_never_waits_on_instance_metadata() {
    let sealed = Sealed::new()
        .unset("AWS_EC2_METADATA_DISABLED")
        // A non-routable address: a connection attempt would hang until its timeout.
        .set("AWS_EC2_METADATA_SERVICE_ENDPOINT", "http://10.255.255.1")
        .set("AWS_PROFILE", "dev");
    sealed.dir.write(
        "credentials",
        "[dev]\naws_access_key_id = AKIDFROMPROFILE\naws_secret_access_key = s\n",
    );
    for args in [
        vec![
            "token",
            "--hostname",
            "db.x.sa-east-1.rds.amazonaws.com",
            "--port",
            "5432",
            "--username",
            "app",
        ],
        vec![
            "token",
            "--hostname",
            "localhost",
            "--port",
            "5432",
            "--username",
            "app",
            "--region",
            "sa-east-1",
        ],
        vec!["dsql-token", "--hostname", "x.dsql.sa-east-1.on.aws"],
    ] {
        let start = Instant::now();
        let run = sealed.run(&args);
        let elapsed = start.elapsed();
        assert!(run.token().contains("%2Fsa-east-1%2F"), "{run:?}");
        assert!(
            elapsed < Duration::from_millis(900),
            "{args:?} took {elapsed:?}"
        );
    }
}

#[test]
fn bad_input_fails_in_a_line_or_two() {
    let sealed = Sealed::new().keys(AKID, SECRET, None);
    let rds = |extra: &[&str]| {
        let mut args = vec![
            "token",
            "--hostname",
            "db.x.us-east-1.rds.amazonaws.com",
            "--port",
            "5432",
            "--username",
            "app",
        ];
        args.extend_from_slice(extra);
        sealed.run(&args)
    };
    rds(&["--signing-time", "yesterday"]).fails_with("--signing-time");
    rds(&["--signing-time", "1969-12-31T23:59:59Z"]).fails_with("1970");
    rds(&["--region", "Not A Region"]).fails_briefly_with("region");
    sealed
        .run(&[
            "token",
            "--hostname",
            "h.us-east-1.rds.amazonaws.com",
            "--port",
            "0",
            "--username",
            "app",
        ])
        .fails_with("--port");
    sealed
        .run(&[
            "token",
            "--hostname",
            "h.us-east-1.rds.amazonaws.com",
            "--port",
            "x",
            "--username",
            "app",
        ])
        .fails_with("--port");
    sealed
        .run(&[
            "token",
            "--hostname",
            "h.us-east-1.rds.amazonaws.com",
            "--port",
            "5432",
        ])
        .fails_with("--username");
    sealed
        .run(&[
            "token",
            "--hostname",
            "h.us-east-1.rds.amazonaws.com",
            "--port",
            "5432",
            "--username",
            "",
        ])
        .fails_briefly_with("username");
    sealed
        .run(&[
            "token",
            "--hostname",
            "postgres://h.us-east-1.rds.amazonaws.com",
            "--port",
            "5432",
            "--username",
            "a",
        ])
        .fails_briefly_with("scheme");
    sealed
        .run(&[
            "token",
            "--hostname",
            "localhost",
            "--port",
            "5432",
            "--username",
            "a",
        ])
        .fails_briefly_with("--region");
    sealed
        .run(&[
            "dsql-token",
            "--hostname",
            "x.dsql.us-east-1.on.aws",
            "--expires-in",
            "0",
        ])
        .fails_briefly_with("604800");
    sealed
        .run(&[
            "dsql-token",
            "--hostname",
            "x.dsql.us-east-1.on.aws",
            "--expires-in",
            "604801",
        ])
        .fails_briefly_with("604800");
    sealed
        .run(&["dsql-token", "--hostname", "localhost"])
        .fails_briefly_with("--region");
    sealed
        .run(&["no-such-command"])
        .fails_with("no-such-command");
}

#[test]
fn no_credentials_says_where_to_put_them() {
    let sealed = Sealed::new();
    let start = Instant::now();
    sealed
        .run(&[
            "token",
            "--hostname",
            "db.x.us-east-1.rds.amazonaws.com",
            "--port",
            "5432",
            "--username",
            "app",
        ])
        .fails_briefly_with("AWS_ACCESS_KEY_ID");
    assert!(start.elapsed() < Duration::from_secs(5));
    // Only one of the two keys is not enough either.
    sealed
        .set("AWS_ACCESS_KEY_ID", AKID)
        .run(&[
            "token",
            "--hostname",
            "db.x.us-east-1.rds.amazonaws.com",
            "--port",
            "5432",
            "--username",
            "app",
        ])
        .fails_briefly_with("credentials");
}

#[test]
fn help_shows_examples() {
    let sealed = Sealed::new();
    for args in [
        &["--help"][..],
        &["token", "--help"],
        &["psql", "--help"],
        &["mysql", "--help"],
        &["dsql-token", "--help"],
    ] {
        let run = sealed.run(args);
        assert_eq!(run.code, Some(0), "{run:?}");
        assert!(run.stdout.contains("Examples:"), "{args:?}: {}", run.stdout);
    }
    let run = sealed.run(&["--help"]);
    for command in [
        "token",
        "generate-db-auth-token",
        "dsql-token",
        "psql",
        "mysql",
        "ca-bundle",
    ] {
        assert!(
            run.stdout.contains(command),
            "{command} missing from --help"
        );
    }
}

/// The credential chain's HTTPS client (rustls with ring, the system's roots): web-identity
/// credentials from an STS stand-in on loopback, whose certificate is trusted through
/// SSL_CERT_FILE; without that, the same server is refused (verified TLS).
#[test]
fn credentials_from_sts_over_verified_https() {
    let sealed = Sealed::new();
    let dir = sealed.dir.path().to_owned();
    let (mut child, port, cert) = support::start_server("sts.py", &[], &dir, &dir);
    let web_identity = sealed.dir.write("web-identity-token", "a-jwt");
    let sealed = sealed
        .set(
            "AWS_WEB_IDENTITY_TOKEN_FILE",
            web_identity.to_str().unwrap(),
        )
        .set("AWS_ROLE_ARN", "arn:aws:iam::123456789012:role/r")
        .set("AWS_ROLE_SESSION_NAME", "s")
        .set("AWS_ENDPOINT_URL_STS", &format!("https://localhost:{port}"));
    let args = [
        "token",
        "--hostname",
        "mydb.abc123.us-east-1.rds.amazonaws.com",
        "--port",
        "5432",
        "--username",
        "app",
    ];
    let requests = || std::fs::read_to_string(dir.join("requests")).unwrap_or_default();
    // Untrusted certificate: no request reaches the server, no token.
    let refused = sealed.run(&args);
    let requests_refused = requests();
    let trusted_sealed = sealed.set("SSL_CERT_FILE", &cert);
    let trusted = trusted_sealed.run(&args);
    let requests_trusted = requests();
    let _ = child.kill();
    let _ = child.wait();
    assert_ne!(refused.code, Some(0), "{refused:#?}");
    assert_eq!(refused.stdout, "");
    assert_eq!(requests_refused, "", "a request got through unverified TLS");
    assert_eq!(requests_trusted.lines().count(), 1, "{trusted:#?}");
    let token = trusted.token();
    let query = query(token);
    assert!(
        query["X-Amz-Credential"].starts_with("ASIASTSLOOPBACK00001%2F"),
        "{token}"
    );
    assert_eq!(query["X-Amz-Security-Token"], "stssession");
}

/// Logging is set up only when something is logged: a warning on the fast path (an
/// explicit region that differs from the endpoint's) still reaches stderr, once, with
/// no secret; `RUST_LOG` can silence it; `-v` shows more; a `RUST_LOG` that does not
/// parse is reported.
#[test]
fn warnings_reach_stderr_and_rust_log_is_honoured() {
    let host = "mydb.abc123.us-east-1.rds.amazonaws.com";
    let args = [
        "token",
        "--hostname",
        host,
        "--port",
        "5432",
        "--username",
        "app",
        "--region",
        "eu-west-1",
    ];
    let sealed = Sealed::new().keys(AKID, SECRET, Some(SESSION));
    let run = sealed.run(&args);
    assert_eq!(run.code, Some(0), "{run:#?}");
    assert!(
        run.stdout.contains("%2Feu-west-1%2Frds-db%2Faws4_request"),
        "{run:#?}"
    );
    assert_eq!(run.stderr.matches("WARN").count(), 1, "{run:#?}");
    assert!(
        run.stderr
            .contains("differs from the region in the endpoint name"),
        "{run:#?}"
    );
    assert!(
        run.stderr.contains("endpoint_region=\"us-east-1\"")
            || run.stderr.contains("endpoint_region=us-east-1"),
        "{run:#?}"
    );
    for secret in [SECRET, SESSION, "X-Amz-Signature"] {
        assert!(!run.stderr.contains(secret), "secret on stderr: {run:#?}");
    }

    let quiet = Sealed::new()
        .keys(AKID, SECRET, None)
        .set("RUST_LOG", "error");
    let run = quiet.run(&args);
    assert_eq!((run.code, run.stderr.as_str()), (Some(0), ""), "{run:#?}");

    let targeted = Sealed::new()
        .keys(AKID, SECRET, None)
        .set("RUST_LOG", "warn,rds_iam_token=off");
    let run = targeted.run(&args);
    assert_eq!((run.code, run.stderr.as_str()), (Some(0), ""), "{run:#?}");

    let bad = Sealed::new()
        .keys(AKID, SECRET, None)
        .set("RUST_LOG", "rds_iam_token=loud");
    let run = bad.run(&args);
    assert_eq!(run.code, Some(0), "{run:#?}");
    assert!(run.stderr.contains("RUST_LOG ignored"), "{run:#?}");
    assert!(run.stderr.contains("differs from the region"), "{run:#?}");

    // An EnvFilter span filter is reported too, not read as a target that matches
    // nothing (which would hide the warning).
    let spans = Sealed::new()
        .keys(AKID, SECRET, None)
        .set("RUST_LOG", "rds_iam_token[sign]=warn");
    let run = spans.run(&args);
    assert_eq!(run.code, Some(0), "{run:#?}");
    assert!(run.stderr.contains("RUST_LOG ignored"), "{run:#?}");
    assert!(run.stderr.contains("differs from the region"), "{run:#?}");

    let verbose = Sealed::new().keys(AKID, SECRET, None);
    let mut more = vec!["-vv"];
    more.extend(args);
    let run = verbose.run(&more);
    assert_eq!(run.code, Some(0), "{run:#?}");
    assert!(run.stderr.contains("DEBUG"), "{run:#?}");
    assert!(!run.stderr.contains(SECRET), "{run:#?}");
}

/// The region-mismatch warning is logged once on the chain path too (`--profile`, or no
/// environment keys), where the probe and the chain's signer are two builds.
#[test]
fn the_region_warning_is_logged_once_on_the_chain_path() {
    let host = "mydb.abc123.us-east-1.rds.amazonaws.com";
    let sealed = Sealed::new();
    sealed.dir.write(
        "credentials",
        &format!("[p]\naws_access_key_id = {AKID}\naws_secret_access_key = {SECRET}\n"),
    );
    let mut args = vec![
        "token",
        "--hostname",
        host,
        "--port",
        "5432",
        "--username",
        "app",
        "--region",
        "eu-west-1",
    ];
    let run = sealed.run(&args);
    assert_ne!(
        run.code,
        Some(0),
        "no credentials without the profile: {run:#?}"
    );
    assert_eq!(
        run.stderr.matches("differs from the region").count(),
        1,
        "{run:#?}"
    );
    args.extend(["--profile", "p"]);
    let run = sealed.run(&args);
    assert_eq!(run.code, Some(0), "{run:#?}");
    assert!(
        run.stdout.contains("%2Feu-west-1%2Frds-db%2Faws4_request"),
        "{run:#?}"
    );
    assert_eq!(
        run.stderr.matches("differs from the region").count(),
        1,
        "{run:#?}"
    );
    assert!(!run.stderr.contains(SECRET), "{run:#?}");
}
