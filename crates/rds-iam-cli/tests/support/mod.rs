//! Running the built `rds-iam` in a sealed environment, and botocore as the oracle.

#![allow(dead_code)] // Each test file uses a different part of this module.

use std::collections::HashMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

/// The binary under test.
pub(crate) fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_rds-iam")
}

/// A temp directory removed on drop.
pub(crate) struct TempDir(PathBuf);

impl TempDir {
    pub(crate) fn new() -> Self {
        static COUNT: AtomicU32 = AtomicU32::new(0);
        let path = std::env::temp_dir().join(format!(
            "rds-iam-cli-test-{}-{}",
            std::process::id(),
            COUNT.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).unwrap();
        Self(path)
    }

    pub(crate) fn path(&self) -> &Path {
        &self.0
    }

    pub(crate) fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.0.join(name);
        std::fs::write(&path, text).unwrap();
        path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A command with none of the machine's AWS settings: a cleared environment, empty config
/// and credentials files in a temp directory, and no instance metadata.
pub(crate) struct Sealed {
    pub(crate) dir: TempDir,
    pub(crate) env: Vec<(String, String)>,
}

impl Sealed {
    pub(crate) fn new() -> Self {
        let dir = TempDir::new();
        let config = dir.write("config", "");
        let credentials = dir.write("credentials", "");
        let env = vec![
            ("PATH".into(), std::env::var("PATH").unwrap_or_default()),
            ("HOME".into(), dir.path().display().to_string()),
            ("TMPDIR".into(), dir.path().display().to_string()),
            ("AWS_EC2_METADATA_DISABLED".into(), "true".into()),
            ("AWS_CONFIG_FILE".into(), config.display().to_string()),
            (
                "AWS_SHARED_CREDENTIALS_FILE".into(),
                credentials.display().to_string(),
            ),
        ];
        Self { dir, env }
    }

    /// Adds or replaces an environment variable.
    pub(crate) fn set(mut self, key: &str, value: &str) -> Self {
        self.env.retain(|(k, _)| k != key);
        self.env.push((key.into(), value.into()));
        self
    }

    /// Removes an environment variable.
    pub(crate) fn unset(mut self, key: &str) -> Self {
        self.env.retain(|(k, _)| k != key);
        self
    }

    /// Environment credentials.
    pub(crate) fn keys(self, akid: &str, secret: &str, session_token: Option<&str>) -> Self {
        let this = self
            .set("AWS_ACCESS_KEY_ID", akid)
            .set("AWS_SECRET_ACCESS_KEY", secret);
        match session_token {
            Some(token) => this.set("AWS_SESSION_TOKEN", token),
            None => this.unset("AWS_SESSION_TOKEN"),
        }
    }

    pub(crate) fn command(&self, program: &str) -> Command {
        let mut command = Command::new(program);
        command
            .env_clear()
            .envs(self.env.iter().map(|(k, v)| (k, v)));
        command.stdin(Stdio::null());
        command
    }

    /// Runs `rds-iam ARGS`.
    pub(crate) fn run(&self, args: &[&str]) -> Run {
        Run::from(self.command(bin()).args(args).output().unwrap())
    }
}

/// A finished process, with text output.
#[derive(Debug)]
pub(crate) struct Run {
    pub(crate) code: Option<i32>,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
}

impl From<Output> for Run {
    fn from(output: Output) -> Self {
        Self {
            code: output.status.code(),
            stdout: String::from_utf8(output.stdout).unwrap(),
            stderr: String::from_utf8(output.stderr).unwrap(),
        }
    }
}

impl Run {
    /// The token printed by a successful run: exactly one line on stdout, nothing on stderr.
    #[track_caller]
    pub(crate) fn token(&self) -> &str {
        assert_eq!(self.code, Some(0), "failed: {self:#?}");
        assert_eq!(self.stderr, "", "stderr not empty: {self:#?}");
        let token = self
            .stdout
            .strip_suffix('\n')
            .unwrap_or_else(|| panic!("no newline: {self:#?}"));
        assert!(!token.contains('\n'), "more than one line: {self:#?}");
        token
    }

    /// A failure: non-zero exit, nothing on stdout, one or two lines on stderr naming
    /// `needle`, and no panic or backtrace.
    #[track_caller]
    pub(crate) fn fails_with(&self, needle: &str) {
        assert_ne!(self.code, Some(0), "succeeded: {self:#?}");
        assert!(self.code.is_some(), "killed by a signal: {self:#?}");
        assert_eq!(self.stdout, "", "stdout not empty: {self:#?}");
        assert!(self.stderr.contains(needle), "no {needle:?}: {self:#?}");
        assert!(!self.stderr.contains("panicked"), "panic: {self:#?}");
        assert!(!self.stderr.contains("backtrace"), "backtrace: {self:#?}");
    }

    /// Like [`Run::fails_with`], for our own errors: at most two lines.
    #[track_caller]
    pub(crate) fn fails_briefly_with(&self, needle: &str) {
        self.fails_with(needle);
        assert!(
            self.stderr.lines().count() <= 2,
            "more than two lines: {}",
            self.stderr
        );
        assert!(
            self.stderr.starts_with("rds-iam: error: "),
            "{}",
            self.stderr
        );
    }
}

/// One botocore token request; see `tests/botocore_token.py`.
#[derive(Debug, Clone)]
pub(crate) struct Case {
    pub(crate) kind: &'static str,
    pub(crate) hostname: String,
    pub(crate) port: u16,
    pub(crate) username: String,
    pub(crate) region: String,
    pub(crate) access_key_id: String,
    pub(crate) secret_access_key: String,
    pub(crate) session_token: Option<String>,
    pub(crate) time: u64,
    pub(crate) expires_in: u64,
}

fn json_string(text: &str) -> String {
    let mut out = String::from("\"");
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

impl Case {
    fn to_json(&self) -> String {
        format!(
            "{{\"kind\":{},\"hostname\":{},\"port\":{},\"username\":{},\"region\":{},\
             \"access_key_id\":{},\"secret_access_key\":{},\"session_token\":{},\"time\":{},\
             \"expires_in\":{}}}",
            json_string(self.kind),
            json_string(&self.hostname),
            self.port,
            json_string(&self.username),
            json_string(&self.region),
            json_string(&self.access_key_id),
            json_string(&self.secret_access_key),
            self.session_token
                .as_deref()
                .map_or("null".to_owned(), json_string),
            self.time,
            self.expires_in,
        )
    }
}

/// The tokens botocore makes for `cases`, in order (one python3 process for all).
pub(crate) fn botocore(cases: &[Case]) -> Vec<String> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/botocore_token.py");
    let sealed = Sealed::new();
    let mut child = sealed
        .command("python3")
        .arg(&script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run python3 (with botocore installed): {e}"));
    let input: String = cases.iter().map(|c| c.to_json() + "\n").collect();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "botocore failed (pip install botocore): {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let tokens: Vec<String> = String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    assert_eq!(tokens.len(), cases.len());
    tokens
}

/// Unix seconds as RFC 3339 UTC.
pub(crate) fn rfc3339(secs: u64) -> String {
    let days = i64::try_from(secs / 86_400).unwrap();
    let rem = secs % 86_400;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

/// `X-Amz-Date=YYYYMMDDTHHMMSSZ` in a token, as RFC 3339.
pub(crate) fn amz_date_as_rfc3339(token: &str) -> String {
    let date = token
        .split(['?', '&'])
        .find_map(|part| part.strip_prefix("X-Amz-Date="))
        .unwrap_or_else(|| panic!("no X-Amz-Date in {token}"));
    let b = date.as_bytes();
    assert_eq!(b.len(), 16, "{date}");
    format!(
        "{}-{}-{}T{}:{}:{}Z",
        &date[0..4],
        &date[4..6],
        &date[6..8],
        &date[9..11],
        &date[11..13],
        &date[13..15]
    )
}

/// The query parameters of a token, decoded no further.
pub(crate) fn query(token: &str) -> HashMap<String, String> {
    let (_, query) = token.split_once('?').unwrap();
    query
        .split('&')
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap();
            (k.to_owned(), v.to_owned())
        })
        .collect()
}

/// The test bed's settings (`tests/rds-emulator/setup` writes them), from
/// `$RDS_TESTBED_ENV` or `/var/lib/rds-emulator/testbed.env`.
pub(crate) fn testbed() -> HashMap<String, String> {
    let path = std::env::var("RDS_TESTBED_ENV")
        .unwrap_or_else(|_| "/var/lib/rds-emulator/testbed.env".to_owned());
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!("cannot read the test bed settings {path}: {e}; run tests/rds-emulator/setup as root (or scripts/test)")
    });
    let dir = Path::new(&path).parent().unwrap_or(Path::new("."));
    text.lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .filter_map(|line| line.split_once('='))
        .map(|(k, v)| {
            let v = if k.ends_with("_FILE") && !v.starts_with('/') {
                dir.join(v).display().to_string()
            } else {
                v.to_owned()
            };
            (k.to_owned(), v)
        })
        .collect()
}

/// A server in the middle (`tests/mitm.py`) on 127.0.0.1: it asks for a cleartext
/// password, over plain TCP or TLS with a fresh self-signed certificate, and logs whether
/// an IAM token arrived. Killed on drop.
/// Starts `python3 tests/SCRIPT ARGS... LAST` (a loopback server of these tests) with
/// `TMPDIR` set to `tmpdir`, and reads the first line it prints: `PORT CERT` (`-` when it
/// has no certificate).
pub(crate) fn start_server(
    script: &str,
    args: &[&str],
    last: &Path,
    tmpdir: &Path,
) -> (std::process::Child, u16, String) {
    use std::io::BufRead as _;
    let script = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join(script);
    let mut child = Command::new("python3")
        .arg(&script)
        .args(args)
        .arg(last)
        .env("TMPDIR", tmpdir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run python3 {}: {e}", script.display()));
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let (port, cert) = line
        .trim()
        .split_once(' ')
        .unwrap_or_else(|| panic!("{} did not start: {line:?}", script.display()));
    (child, port.parse().unwrap(), cert.to_owned())
}

pub(crate) struct Mitm {
    child: std::process::Child,
    /// Its port.
    pub(crate) port: u16,
    /// Its certificate (`tls` mode): trusted by no one unless a hostile setting says so.
    pub(crate) cert: Option<PathBuf>,
    log: PathBuf,
    _dir: TempDir,
}

impl Mitm {
    /// Starts one; `protocol` is `pg` or `mysql`, `mode` is `plain` or `tls`.
    pub(crate) fn start(protocol: &str, mode: &str) -> Self {
        let dir = TempDir::new();
        let log = dir.path().join("mitm.log");
        let (child, port, cert) = start_server("mitm.py", &[protocol, mode], &log, dir.path());
        Self {
            child,
            port,
            cert: (cert != "-").then(|| PathBuf::from(cert)),
            log,
            _dir: dir,
        }
    }

    /// The lines logged so far: CONNECT, TLS, PASSWORD TOKEN, PASSWORD OTHER.
    pub(crate) fn log(&self) -> Vec<String> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect()
    }

    /// Forgets what was logged so far.
    pub(crate) fn clear(&self) {
        std::fs::write(&self.log, "").unwrap();
    }

    /// How many passwords (tokens or other) reached it so far.
    pub(crate) fn passwords(&self) -> usize {
        self.log()
            .iter()
            .filter(|line| line.starts_with("PASSWORD"))
            .count()
    }

    /// How many IAM tokens reached it so far.
    pub(crate) fn tokens(&self) -> usize {
        self.log()
            .iter()
            .filter(|line| *line == "PASSWORD TOKEN")
            .count()
    }
}

impl Drop for Mitm {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
