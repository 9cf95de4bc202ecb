//! Runs the built examples against the test bed, the way a user would start them: a clean
//! environment with only what the example's header documents, so that they cannot rot.
//!
//! `cargo test` / `cargo nextest run` build this package's examples before running its
//! tests; each test starts one from `target/<profile>/examples/`.
//!
//! Where each example runs: `postgres`, `mysql`, `dsql` (against the bed's DSQL
//! look-alike), `migrate` (both engines, twice),
//! `sea_orm`, `axum_service` (probes, with the database up and down; SIGTERM),
//! `lambda` (against a local Lambda Runtime API, with the keys in the environment and,
//! falling back, from a profile file) and `cold_start` (every mode once) here;
//! `scripts/demo` runs `postgres`, `mysql`, `migrate`, `sea_orm` and `dsql` too.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue};
use axum::routing::{get, post};
use integration_tests::{AwsKey, Engine, Testbed};
use tokio::sync::mpsc;

/// The built example `name`, next to this test's binary (`target/<profile>/deps/..`).
fn example(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary's path");
    let path = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("the test binary lives in target/<profile>/deps")
        .join("examples")
        .join(name);
    assert!(
        path.is_file(),
        "{} is missing: build the examples (`cargo build -p rds-iam-examples --examples`, \
         which `cargo test` / `cargo nextest run` do)",
        path.display()
    );
    path
}

/// A fresh, empty directory for the examples' `HOME` (no `~/.aws` of the machine's),
/// removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new() -> Scratch {
        static N: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "rds-iam-examples-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create a scratch directory");
        Scratch(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// `engine`'s URL at its endpoint name (`RDS_TESTBED_PG_ENDPOINT` /
/// `RDS_TESTBED_MYSQL_ENDPOINT`), which the examples read the region from.
fn url(bed: &Testbed, engine: Engine) -> String {
    url_at(bed, engine, bed.endpoint(engine))
}

fn url_at(bed: &Testbed, engine: Engine, host: &str) -> String {
    let scheme = match engine {
        Engine::Postgres => "postgres",
        Engine::MySql => "mysql",
    };
    format!(
        "{scheme}://{}@{host}:{}/{}",
        bed.iam_user,
        bed.port(engine),
        bed.database
    )
}

/// `name` with an environment like `scripts/demo`'s: `key` in `AWS_ACCESS_KEY_ID` /
/// `AWS_SECRET_ACCESS_KEY` (/ `AWS_SESSION_TOKEN`), the bed's CA, `home` as `HOME`; no
/// region anywhere (the examples read it from the endpoint name, as on AWS); nothing
/// inherited.
fn command(bed: &Testbed, name: &str, key: &AwsKey, home: &Scratch) -> Command {
    let mut cmd = Command::new(example(name));
    cmd.env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("HOME", &home.0)
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("RDS_IAM_CA_FILE", &bed.ca_file)
        .env("RUST_LOG", "warn,sqlx_rds_iam=debug");
    set_key(&mut cmd, key);
    cmd
}

fn set_key(cmd: &mut Command, key: &AwsKey) {
    cmd.env("AWS_ACCESS_KEY_ID", &key.access_key_id)
        .env("AWS_SECRET_ACCESS_KEY", &key.secret_access_key);
    if let Some(token) = &key.session_token {
        cmd.env("AWS_SESSION_TOKEN", token);
    }
}

/// Runs to the end; asserts success and that no secret reached its output.
fn run(bed: &Testbed, cmd: &mut Command) -> String {
    let out: Output = cmd.output().expect("start the example");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}):\n{stdout}\n{stderr}",
        out.status
    );
    assert_no_secrets(bed, &stdout);
    assert_no_secrets(bed, &stderr);
    stdout
}

fn assert_no_secrets(bed: &Testbed, text: &str) {
    for key in [&bed.access_key, &bed.temp_key] {
        assert!(
            !text.contains(&key.secret_access_key),
            "a secret key in the output"
        );
        if let Some(token) = &key.session_token {
            assert!(
                !text.contains(token.as_str()),
                "a session token in the output"
            );
        }
    }
    assert!(!text.contains("X-Amz-Signature"), "a token in the output");
}

/// `postgres` and `mysql` at the endpoint names, and at a capitalised spelling of them
/// (`RDSIAM-PG.C0FFEE123456.US-EAST-1.RDS.AMAZONAWS.COM`, as a user may paste it).
#[test]
fn postgres_and_mysql_connect_with_iam_over_tls() {
    let bed = Testbed::load();
    let home = Scratch::new();
    for host in [
        bed.endpoint(Engine::Postgres).to_owned(),
        bed.endpoint(Engine::Postgres).to_ascii_uppercase(),
    ] {
        let out = run(
            &bed,
            command(&bed, "postgres", &bed.access_key, &home)
                .env("DATABASE_URL", url_at(&bed, Engine::Postgres, &host)),
        );
        assert!(
            out.contains(&format!(
                "connected to PostgreSQL as {} over TLSv1.",
                bed.iam_user
            )),
            "{host}: {out}"
        );
        assert!(out.contains("select 6 * 7 = 42"), "{host}: {out}");
    }
    for host in [
        bed.endpoint(Engine::MySql).to_owned(),
        bed.endpoint(Engine::MySql).to_ascii_uppercase(),
    ] {
        let out = run(
            &bed,
            command(&bed, "mysql", &bed.access_key, &home)
                .env("DATABASE_URL", url_at(&bed, Engine::MySql, &host)),
        );
        assert!(
            out.contains(&format!("connected to MySQL as {}@", bed.iam_user)),
            "{host}: {out}"
        );
        assert!(out.contains("select 6 * 7 = 42"), "{host}: {out}");
    }
}

/// `RDS_TESTBED_DSQL_ENDPOINT` and `RDS_TESTBED_DSQL_PORT` from the bed's env file: the
/// Aurora DSQL look-alike (`tests/rds-emulator/setup` makes it).
fn dsql_endpoint(bed: &Testbed) -> (String, String) {
    let text = std::fs::read_to_string(&bed.env_file).expect("the bed's env file");
    let get = |key: &str| {
        text.lines()
            .filter_map(|line| line.trim().split_once('='))
            .find(|(k, _)| k.trim() == key)
            .map(|(_, v)| v.trim().to_owned())
            .unwrap_or_else(|| {
                panic!(
                    "{}: {key} is missing; the DSQL look-alike comes with \
                     `sudo tests/rds-emulator/setup`",
                    bed.env_file.display()
                )
            })
    };
    (
        get("RDS_TESTBED_DSQL_ENDPOINT"),
        get("RDS_TESTBED_DSQL_PORT"),
    )
}

#[test]
fn dsql_connects_with_the_endpoint_name_and_retries_transactions() {
    let bed = Testbed::load();
    let home = Scratch::new();
    let (endpoint, port) = dsql_endpoint(&bed);
    // No region in the environment: the endpoint name carries it.
    let out = run(
        &bed,
        command(&bed, "dsql", &bed.temp_key, &home)
            .env_remove("AWS_REGION")
            .env(
                "DATABASE_URL",
                format!("postgres://admin@{endpoint}:{port}/postgres"),
            ),
    );
    assert!(
        out.contains("connected to Aurora DSQL as admin, with an IAM token"),
        "{out}"
    );
    assert!(
        out.contains("8 concurrent increments: counter = 8, in "),
        "{out}"
    );
}

#[test]
fn migrate_applies_both_migrations_and_is_safe_to_run_again() {
    let bed = Testbed::load();
    let home = Scratch::new();
    for engine in Engine::ALL {
        for _ in 0..2 {
            let out = run(
                &bed,
                command(&bed, "migrate", &bed.access_key, &home)
                    .env("DATABASE_URL", url(&bed, engine)),
            );
            assert_eq!(
                out.trim(),
                "migrations applied: 20261201000001 20261201000002",
                "{engine:?}"
            );
        }
    }
}

#[test]
fn sea_orm_queries_its_entity_through_the_iam_pool() {
    let bed = Testbed::load();
    let home = Scratch::new();
    let out = run(
        &bed,
        command(&bed, "sea_orm", &bed.access_key, &home)
            .env("DATABASE_URL", url(&bed, Engine::Postgres)),
    );
    assert!(
        out.contains("fruits (SeaORM over an IAM pool): apple, pear\n"),
        "{out}"
    );
    assert!(out.contains("after rollback, plum is gone"), "{out}");
}

#[test]
fn cold_start_runs_in_every_mode() {
    let bed = Testbed::load();
    let home = Scratch::new();
    for mode in ["iam", "iam-env"] {
        let out = run(
            &bed,
            command(&bed, "cold_start", &bed.temp_key, &home)
                .arg(mode)
                .env("DATABASE_URL", url(&bed, Engine::Postgres)),
        );
        assert!(out.contains(" config_ms="), "{mode}: {out}");
        assert!(out.contains(" first_result_ms="), "{mode}: {out}");
    }
    let control = format!(
        "postgres://{}@{}:{}/{}",
        bed.control_user, bed.pg_endpoint, bed.pg_port, bed.database
    );
    let out = run(
        &bed,
        Command::new(example("cold_start"))
            .arg("password")
            .env_clear()
            .env("DATABASE_URL", control)
            .env("DATABASE_PASSWORD", &bed.control_password)
            .env("RDS_IAM_CA_FILE", &bed.ca_file),
    );
    assert!(out.contains(" first_result_ms="), "{out}");
}

/// A started `axum_service`, killed on drop if the test did not stop it.
struct Service {
    child: Child,
    addr: String,
}

impl Service {
    fn start(bed: &Testbed, home: &Scratch, database_url: &str) -> Service {
        let mut child = command(bed, "axum_service", &bed.access_key, home)
            .env("DATABASE_URL", database_url)
            .env("BIND_ADDR", "127.0.0.1:0")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start axum_service");
        let stderr = child.stderr.take().expect("piped stderr");
        let mut lines = BufReader::new(stderr).lines();
        let addr = loop {
            match lines.next() {
                Some(Ok(line)) => {
                    if let Some(addr) = line.strip_prefix("listening on http://") {
                        break addr.to_owned();
                    }
                }
                other => panic!("axum_service ended before listening: {other:?}"),
            }
        };
        // Keep draining stderr so that the service never blocks on a full pipe.
        std::thread::spawn(move || lines.for_each(drop));
        Service { child, addr }
    }

    /// `GET path`: the status code and the body.
    fn get(&self, path: &str) -> (u16, String) {
        let mut stream = TcpStream::connect(&self.addr).expect("connect to the service");
        stream
            .set_read_timeout(Some(Duration::from_secs(20)))
            .expect("set a read timeout");
        write!(
            stream,
            "GET {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
            self.addr
        )
        .expect("send the request");
        let mut response = String::new();
        stream
            .read_to_string(&mut response)
            .expect("read the response");
        let status = response
            .split(' ')
            .nth(1)
            .and_then(|code| code.parse().ok())
            .unwrap_or_else(|| panic!("not an HTTP response: {response:?}"));
        let body = response
            .split_once("\r\n\r\n")
            .map(|(_, body)| body.to_owned())
            .unwrap_or_default();
        (status, body)
    }

    /// SIGTERM, as ECS and Kubernetes stop a task; the exit status.
    fn terminate(mut self) -> std::process::ExitStatus {
        let sent = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(sent.success());
        self.child.wait().expect("wait for axum_service")
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn axum_service_separates_liveness_from_readiness() {
    let bed = Testbed::load();
    let home = Scratch::new();
    let up = Service::start(&bed, &home, &url(&bed, Engine::Postgres));
    assert_eq!(up.get("/livez"), (200, "ok\n".to_owned()));
    assert_eq!(up.get("/readyz"), (200, "ready\n".to_owned()));
    let (status, body) = up.get("/whoami");
    assert_eq!(status, 200, "{body}");
    assert!(
        body.contains(&format!("\"database_user\":\"{}\"", bed.iam_user)),
        "{body}"
    );
    assert!(body.contains("\"tls\":\"TLSv1."), "{body}");

    // A database nobody listens on: the service still starts and is alive, but not ready.
    let closed_port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a port");
        listener.local_addr().expect("its address").port()
    };
    let down = Service::start(
        &bed,
        &home,
        &format!(
            "postgres://{}@{}:{closed_port}/{}",
            bed.iam_user, bed.pg_endpoint, bed.database
        ),
    );
    assert_eq!(down.get("/livez"), (200, "ok\n".to_owned()));
    let (status, _) = down.get("/readyz");
    assert_eq!(status, 503);

    assert!(up.terminate().success(), "SIGTERM is a clean shutdown");
    assert!(down.terminate().success());
}

/// What the local Lambda Runtime API saw: the function's response or error bodies.
type Reports = mpsc::UnboundedSender<(&'static str, String)>;

/// A Lambda Runtime API on 127.0.0.1 that hands out one API Gateway HTTP API event,
/// reports what the function answers, and then has no more events (the function
/// waits, as in a frozen execution environment).
async fn runtime_api() -> (String, mpsc::UnboundedReceiver<(&'static str, String)>) {
    const EVENT: &str = r#"{"version":"2.0","routeKey":"$default","rawPath":"/","rawQueryString":"","headers":{"host":"example.lambda-url.us-east-1.on.aws"},"requestContext":{"accountId":"123456789012","apiId":"example","domainName":"example.lambda-url.us-east-1.on.aws","domainPrefix":"example","http":{"method":"GET","path":"/","protocol":"HTTP/1.1","sourceIp":"127.0.0.1","userAgent":"test"},"requestId":"request-1","routeKey":"$default","stage":"$default","time":"01/Dec/2026:00:00:00 +0000","timeEpoch":1796083200000},"isBase64Encoded":false}"#;
    let (tx, rx) = mpsc::unbounded_channel();
    let served = std::sync::Arc::new(AtomicU32::new(0));
    let next = {
        let served = served.clone();
        move || async move {
            if served.fetch_add(1, Ordering::SeqCst) > 0 {
                std::future::pending::<()>().await;
            }
            let mut headers = HeaderMap::new();
            headers.insert(
                "lambda-runtime-aws-request-id",
                HeaderValue::from_static("request-1"),
            );
            headers.insert(
                "lambda-runtime-deadline-ms",
                HeaderValue::from_static("4102444800000"),
            );
            headers.insert(
                "lambda-runtime-invoked-function-arn",
                HeaderValue::from_static("arn:aws:lambda:us-east-1:123456789012:function:example"),
            );
            (headers, EVENT)
        }
    };
    let app = Router::new()
        .route("/2018-06-01/runtime/invocation/next", get(next))
        .route(
            "/2018-06-01/runtime/invocation/{id}/response",
            post(
                |State(tx): State<Reports>, Path(_id): Path<String>, body: String| async move {
                    let _ = tx.send(("response", body));
                    ""
                },
            ),
        )
        .route(
            "/2018-06-01/runtime/invocation/{id}/error",
            post(
                |State(tx): State<Reports>, Path(_id): Path<String>, body: String| async move {
                    let _ = tx.send(("error", body));
                    ""
                },
            ),
        )
        .route(
            "/2018-06-01/runtime/init/error",
            post(|State(tx): State<Reports>, body: String| async move {
                let _ = tx.send(("init error", body));
                ""
            }),
        )
        .with_state(tx);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind the runtime API");
    let addr = listener.local_addr().expect("its address").to_string();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (addr, rx)
}

/// Runs `lambda` for one invocation; the Runtime API's report.
async fn invoke_lambda(mut cmd: Command) -> (&'static str, String) {
    let (addr, mut reports) = runtime_api().await;
    let mut child = cmd
        .env("AWS_LAMBDA_RUNTIME_API", addr)
        .env("AWS_LAMBDA_FUNCTION_NAME", "example")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start lambda");
    let report = tokio::time::timeout(Duration::from_secs(30), reports.recv())
        .await
        .expect("the function answers within 30 s")
        .expect("a report");
    let _ = child.kill();
    let _ = child.wait();
    report
}

#[tokio::test]
async fn lambda_answers_an_invocation_with_the_keys_in_the_environment_or_from_the_chain() {
    let bed = Testbed::load();
    let home = Scratch::new();
    let expected_user = format!("\\\"database_user\\\":\\\"{}\\\"", bed.iam_user);

    // As on Lambda: the execution role's temporary keys in the environment, and the
    // function's region in AWS_REGION, here another one than the database's (a
    // cross-region call): the token is signed for the endpoint name's region, which the
    // bed checks, with AWS_REGION only the fallback.
    let mut on_lambda = command(&bed, "lambda", &bed.temp_key, &home);
    on_lambda
        .env("AWS_REGION", "eu-west-1")
        .env("DATABASE_URL", url(&bed, Engine::Postgres));
    let (kind, body) = invoke_lambda(on_lambda).await;
    assert_eq!(kind, "response", "{body}");
    assert!(body.contains("\"statusCode\":200"), "{body}");
    assert!(body.contains(&expected_user), "{body}");
    assert_no_secrets(&bed, &body);

    // No keys in the environment (as with SnapStart): the default chain finds them, here
    // in a shared credentials file.
    let profile_home = Scratch::new();
    std::fs::create_dir_all(profile_home.0.join(".aws")).expect("create ~/.aws");
    std::fs::write(
        profile_home.0.join(".aws/credentials"),
        format!(
            "[default]\naws_access_key_id = {}\naws_secret_access_key = {}\n",
            bed.access_key.access_key_id, bed.access_key.secret_access_key
        ),
    )
    .expect("write the credentials file");
    let mut elsewhere = command(&bed, "lambda", &bed.access_key, &home);
    elsewhere
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .env("HOME", &profile_home.0)
        .env("DATABASE_URL", url(&bed, Engine::Postgres));
    let (kind, body) = invoke_lambda(elsewhere).await;
    assert_eq!(kind, "response", "{body}");
    assert!(body.contains(&expected_user), "{body}");
}
