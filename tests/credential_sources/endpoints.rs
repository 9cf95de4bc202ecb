//! The credential endpoints AWS runs next to a workload, served on 127.0.0.1 with their
//! real protocols:
//! - [`ContainerEndpoint`]: the ECS / EKS Pod Identity container credentials endpoint
//!   (`AWS_CONTAINER_CREDENTIALS_FULL_URI`, `Authorization` from
//!   `AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE`);
//! - [`InstanceMetadata`]: EC2 instance metadata, IMDSv2 only (a session token from
//!   `PUT /latest/api/token`, then the role's credentials);
//! - [`Sts`]: moto's STS in server mode, behind a recording proxy that tells the verifier
//!   about every key STS issues.
//!
//! Each issues keys the verifier knows (see [`KeyTable`]), with an expiry, counts what it
//! served and what it refused.

use std::collections::HashMap;
use std::net::{SocketAddr, TcpStream as StdTcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use integration_tests::{AwsKey, iso8601_utc};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::http::{self, Request, Response, Server};
use crate::keys::{KeyTable, fresh_temporary_key};

/// A key a credential endpoint handed out, and when.
#[derive(Debug, Clone)]
pub(crate) struct Issued {
    /// The credentials.
    pub(crate) key: AwsKey,
    /// When they were handed out.
    pub(crate) at: SystemTime,
    /// The `Expiration` they were handed out with (whole seconds).
    pub(crate) expires: SystemTime,
}

/// What an endpoint did, shared with its request handler.
#[derive(Debug)]
pub(crate) struct Record {
    keys: Arc<KeyTable>,
    lifetime: Duration,
    issued: Mutex<Vec<Issued>>,
    refused: Mutex<Vec<String>>,
}

impl Record {
    fn new(keys: Arc<KeyTable>, lifetime: Duration) -> Arc<Record> {
        Arc::new(Record {
            keys,
            lifetime,
            issued: Mutex::new(Vec::new()),
            refused: Mutex::new(Vec::new()),
        })
    }

    /// A new key, registered with the verifier until it expires.
    fn issue(&self) -> Issued {
        let key = fresh_temporary_key();
        let at = SystemTime::now();
        // What is served: ISO 8601 to the second.
        let expires = truncate_to_second(at + self.lifetime);
        self.keys.register(&key, Some(expires));
        let issued = Issued { key, at, expires };
        self.issued.lock().unwrap().push(issued.clone());
        issued
    }

    fn refuse(&self, status: u16, why: &str) -> Response {
        self.refused.lock().unwrap().push(why.to_owned());
        Response::text(status, why)
    }

    /// The keys handed out so far, oldest first.
    pub(crate) fn issued(&self) -> Vec<Issued> {
        self.issued.lock().unwrap().clone()
    }

    /// Why requests were refused (protocol violations), oldest first.
    pub(crate) fn refused(&self) -> Vec<String> {
        self.refused.lock().unwrap().clone()
    }
}

// ---------------------------------------------------------------------------------------
// ECS / EKS Pod Identity container credentials
// ---------------------------------------------------------------------------------------

/// The container credentials endpoint: `GET <full URI>` with `Authorization: <token>`
/// answers `{"AccessKeyId", "SecretAccessKey", "Token", "Expiration", "RoleArn"}`; a
/// missing or wrong authorization is refused (401), as are other paths and methods.
#[derive(Debug)]
pub(crate) struct ContainerEndpoint {
    server: Server,
    record: Arc<Record>,
}

/// The path the full URI points at.
const CONTAINER_PATH: &str = "/v2/credentials/8d2bd0b4-7f2c-4b83-9c2e-0f6b0ef0a1c5";

impl ContainerEndpoint {
    /// Serves credentials that expire `lifetime` after each request, to callers that
    /// present `authorization`.
    pub(crate) async fn start(
        keys: Arc<KeyTable>,
        authorization: &str,
        lifetime: Duration,
    ) -> ContainerEndpoint {
        let record = Record::new(keys, lifetime);
        let handler_record = record.clone();
        let authorization = authorization.to_owned();
        let server = http::serve(move |request: Request| {
            let record = handler_record.clone();
            let authorization = authorization.clone();
            async move {
                if request.target != CONTAINER_PATH {
                    return record.refuse(404, "unknown path");
                }
                if request.method != "GET" {
                    return record.refuse(405, "only GET");
                }
                match request.header("authorization") {
                    None => return record.refuse(401, "no Authorization header"),
                    Some(given) if given != authorization => {
                        return record.refuse(401, "wrong Authorization header");
                    }
                    Some(_) => {}
                }
                let issued = record.issue();
                Response::json(&serde_json::json!({
                    "RoleArn": "arn:aws:iam::123456789012:role/rds-app-task-role",
                    "AccessKeyId": issued.key.access_key_id,
                    "SecretAccessKey": issued.key.secret_access_key,
                    "Token": issued.key.session_token,
                    "Expiration": iso8601_utc(issued.expires),
                }))
            }
        })
        .await;
        ContainerEndpoint { server, record }
    }

    /// What `AWS_CONTAINER_CREDENTIALS_FULL_URI` is set to.
    pub(crate) fn full_uri(&self) -> String {
        format!("{}{CONTAINER_PATH}", self.server.base_url())
    }

    /// The address it listens on.
    pub(crate) fn addr(&self) -> SocketAddr {
        self.server.addr()
    }

    /// The path of the full URI.
    pub(crate) fn path(&self) -> &'static str {
        CONTAINER_PATH
    }

    /// What it served and refused.
    pub(crate) fn record(&self) -> &Record {
        &self.record
    }
}

// ---------------------------------------------------------------------------------------
// EC2 instance metadata, IMDSv2
// ---------------------------------------------------------------------------------------

/// The instance profile's role name, as IMDS lists it.
pub(crate) const INSTANCE_ROLE: &str = "rds-app-instance-role";

/// IMDSv2: `PUT /latest/api/token` with `x-aws-ec2-metadata-token-ttl-seconds` (1..=21600)
/// gives a session token; `GET /latest/meta-data/iam/security-credentials/` (the role
/// name) and `.../security-credentials/ROLE` (its credentials) need that token in
/// `x-aws-ec2-metadata-token`. Requests without a valid token are refused (401, IMDSv1 is
/// off), so are token requests without a TTL (400) or through a proxy (`x-forwarded-for`,
/// 403).
#[derive(Debug)]
pub(crate) struct InstanceMetadata {
    server: Server,
    record: Arc<Record>,
    token_puts: Arc<AtomicUsize>,
}

impl InstanceMetadata {
    /// Serves role credentials that expire `lifetime` after each request.
    pub(crate) async fn start(keys: Arc<KeyTable>, lifetime: Duration) -> InstanceMetadata {
        let record = Record::new(keys, lifetime);
        let token_puts = Arc::new(AtomicUsize::new(0));
        let sessions: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
        let (handler_record, handler_puts) = (record.clone(), token_puts.clone());
        let server = http::serve(move |request: Request| {
            let (record, puts, sessions) = (
                handler_record.clone(),
                handler_puts.clone(),
                sessions.clone(),
            );
            async move { imds(&request, &record, &puts, &sessions) }
        })
        .await;
        InstanceMetadata {
            server,
            record,
            token_puts,
        }
    }

    /// What `AWS_EC2_METADATA_SERVICE_ENDPOINT` is set to.
    pub(crate) fn endpoint(&self) -> String {
        self.server.base_url()
    }

    /// The address it listens on.
    pub(crate) fn addr(&self) -> SocketAddr {
        self.server.addr()
    }

    /// How many session tokens were handed out.
    pub(crate) fn token_puts(&self) -> usize {
        self.token_puts.load(Ordering::SeqCst)
    }

    /// What it served and refused.
    pub(crate) fn record(&self) -> &Record {
        &self.record
    }
}

fn imds(
    request: &Request,
    record: &Record,
    puts: &AtomicUsize,
    sessions: &Mutex<HashMap<String, Instant>>,
) -> Response {
    const CREDENTIALS: &str = "/latest/meta-data/iam/security-credentials/";
    if request.header("x-forwarded-for").is_some() {
        return record.refuse(403, "forwarded request");
    }
    if request.target == "/latest/api/token" {
        if request.method != "PUT" {
            return record.refuse(405, "token requests are PUTs");
        }
        let Some(ttl) = request
            .header("x-aws-ec2-metadata-token-ttl-seconds")
            .and_then(|v| v.parse::<u64>().ok())
            .filter(|ttl| (1..=21_600).contains(ttl))
        else {
            return record.refuse(400, "missing or invalid token TTL");
        };
        let n = puts.fetch_add(1, Ordering::SeqCst);
        let token = format!("AQAEA{}-imds-session-{n}", std::process::id());
        sessions
            .lock()
            .unwrap()
            .insert(token.clone(), Instant::now() + Duration::from_secs(ttl));
        return Response::text(200, token)
            .with_header("x-aws-ec2-metadata-token-ttl-seconds", ttl.to_string());
    }
    if request.method != "GET" {
        return record.refuse(405, "metadata requests are GETs");
    }
    let valid = request
        .header("x-aws-ec2-metadata-token")
        .and_then(|token| sessions.lock().unwrap().get(token).copied())
        .is_some_and(|deadline| Instant::now() < deadline);
    if !valid {
        return record.refuse(401, "no valid IMDSv2 session token");
    }
    match request.target.strip_prefix(CREDENTIALS) {
        Some("") => Response::text(200, INSTANCE_ROLE),
        Some(INSTANCE_ROLE) => {
            let issued = record.issue();
            Response::json(&serde_json::json!({
                "Code": "Success",
                "LastUpdated": iso8601_utc(issued.at),
                "Type": "AWS-HMAC",
                "AccessKeyId": issued.key.access_key_id,
                "SecretAccessKey": issued.key.secret_access_key,
                "Token": issued.key.session_token,
                "Expiration": iso8601_utc(issued.expires),
            }))
        }
        _ => Response::text(404, "not found"),
    }
}

// ---------------------------------------------------------------------------------------
// STS: moto in server mode, behind a recording proxy
// ---------------------------------------------------------------------------------------

/// One STS call that went through the proxy.
#[derive(Debug, Clone)]
pub(crate) struct StsCall {
    /// `Action` (`AssumeRole`, `AssumeRoleWithWebIdentity`).
    pub(crate) action: String,
    /// `RoleArn`.
    pub(crate) role_arn: Option<String>,
    /// `WebIdentityToken`.
    pub(crate) web_identity_token: Option<String>,
    /// The access key id that signed the request (`None`: unsigned).
    pub(crate) signed_by: Option<String>,
    /// The access key id STS answered with.
    pub(crate) issued_key_id: Option<String>,
}

/// moto's STS (`python3 -m moto.server`), started for one test, behind a proxy on
/// 127.0.0.1 that records each call and registers each key STS issues with the verifier
/// (moto's keys are random; real IAM knows every key STS issues, and the verifier must
/// too). The AWS SDK talks to the proxy through `AWS_ENDPOINT_URL_STS`.
#[derive(Debug)]
pub(crate) struct Sts {
    /// Held for its `Drop`, which stops moto.
    _moto: MotoServer,
    proxy: Server,
    calls: Arc<Mutex<Vec<StsCall>>>,
}

impl Sts {
    /// Starts moto and the proxy.
    ///
    /// # Panics
    /// When moto is not installed (`pip install 'moto[server]'`) or does not start.
    pub(crate) async fn start(keys: Arc<KeyTable>) -> Sts {
        let moto = MotoServer::start();
        let calls: Arc<Mutex<Vec<StsCall>>> = Arc::default();
        let (moto_addr, handler_calls) = (moto.addr, calls.clone());
        let proxy = http::serve(move |request: Request| {
            let (keys, calls) = (keys.clone(), handler_calls.clone());
            async move { relay(request, moto_addr, &keys, &calls).await }
        })
        .await;
        Sts {
            _moto: moto,
            proxy,
            calls,
        }
    }

    /// What `AWS_ENDPOINT_URL_STS` is set to.
    pub(crate) fn endpoint(&self) -> String {
        self.proxy.base_url()
    }

    /// The calls so far, oldest first.
    pub(crate) fn calls(&self) -> Vec<StsCall> {
        self.calls.lock().unwrap().clone()
    }
}

async fn relay(
    request: Request,
    moto: SocketAddr,
    keys: &KeyTable,
    calls: &Mutex<Vec<StsCall>>,
) -> Response {
    let form = parse_form(&String::from_utf8_lossy(&request.body));
    let signed_by = request.header("authorization").and_then(|auth| {
        let credential = auth.split("Credential=").nth(1)?;
        Some(credential.split('/').next()?.to_owned())
    });
    let response = match forward(&request, moto).await {
        Ok(response) => response,
        Err(err) => return Response::text(502, format!("moto: {err}")),
    };
    let text = String::from_utf8_lossy(&response).into_owned();
    let issued = match (
        xml_text(&text, "AccessKeyId"),
        xml_text(&text, "SecretAccessKey"),
        xml_text(&text, "SessionToken"),
    ) {
        (Some(id), Some(secret), token) => {
            let key = AwsKey {
                access_key_id: id.to_owned(),
                secret_access_key: secret.to_owned(),
                session_token: token.map(str::to_owned),
            };
            let expires = xml_text(&text, "Expiration").and_then(parse_iso8601);
            keys.register(&key, expires);
            Some(key.access_key_id)
        }
        _ => None,
    };
    calls.lock().unwrap().push(StsCall {
        action: form.get("Action").cloned().unwrap_or_default(),
        role_arn: form.get("RoleArn").cloned(),
        web_identity_token: form.get("WebIdentityToken").cloned(),
        signed_by,
        issued_key_id: issued,
    });
    Response::Raw(response)
}

async fn forward(request: &Request, to: SocketAddr) -> std::io::Result<Vec<u8>> {
    let mut stream = TcpStream::connect(to).await?;
    stream.write_all(&request.to_bytes()).await?;
    let mut response = Vec::new();
    tokio::time::timeout(Duration::from_secs(20), stream.read_to_end(&mut response))
        .await
        .map_err(|_| std::io::Error::other("moto did not answer in 20 s"))??;
    Ok(response)
}

fn parse_form(body: &str) -> HashMap<String, String> {
    body.split('&')
        .filter_map(|pair| pair.split_once('='))
        .map(|(k, v)| (form_decode(k), form_decode(v)))
        .collect()
}

fn form_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                if let Some(b) = text
                    .get(i + 1..i + 3)
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                {
                    out.push(b);
                    i += 3;
                    continue;
                }
                out.push(b'%');
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn xml_text<'a>(xml: &'a str, tag: &str) -> Option<&'a str> {
    let open = format!("<{tag}>");
    let start = xml.find(&open)? + open.len();
    let end = start + xml[start..].find(&format!("</{tag}>"))?;
    Some(&xml[start..end])
}

fn truncate_to_second(time: SystemTime) -> SystemTime {
    let since = time
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default();
    SystemTime::UNIX_EPOCH + Duration::from_secs(since.as_secs())
}

/// `2026-11-22T04:56:14.553112Z` (STS's format) to a time, to the second.
fn parse_iso8601(text: &str) -> Option<SystemTime> {
    let num = |range: std::ops::Range<usize>| -> Option<i64> { text.get(range)?.parse().ok() };
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, s) = (num(11..13)?, num(14..16)?, num(17..19)?);
    // Howard Hinnant's days_from_civil.
    let y = if mo <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if mo > 2 { mo - 3 } else { mo + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let secs = u64::try_from(days * 86_400 + h * 3600 + mi * 60 + s).ok()?;
    Some(SystemTime::UNIX_EPOCH + Duration::from_secs(secs))
}

/// `python3 -m moto.server` on a free loopback port; killed on drop.
#[derive(Debug)]
struct MotoServer {
    child: Child,
    addr: SocketAddr,
}

impl MotoServer {
    fn start() -> MotoServer {
        let check = Command::new("python3")
            .args(["-c", "import moto.server, flask, flask_cors"])
            .output();
        match check {
            Ok(out) if out.status.success() => {}
            Ok(out) => panic!(
                "moto's server mode is not installed for python3 ({}); the STS tests use it \
                 as the STS endpoint: pip install 'moto[server]'",
                String::from_utf8_lossy(&out.stderr).trim()
            ),
            Err(e) => panic!("cannot run python3: {e}"),
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let mut child = Command::new("python3")
            .args([
                "-m",
                "moto.server",
                "-H",
                "127.0.0.1",
                "-p",
                &port.to_string(),
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start moto.server");
        let deadline = Instant::now() + Duration::from_secs(30);
        while StdTcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
            if let Ok(Some(status)) = child.try_wait() {
                panic!("moto.server exited at start: {status}");
            }
            assert!(
                Instant::now() < deadline,
                "moto.server did not listen on {addr} within 30 s"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        MotoServer { child, addr }
    }
}

impl Drop for MotoServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_sts_times() {
        let t = parse_iso8601("2024-08-26T22:00:00.553112Z").unwrap();
        assert_eq!(iso8601_utc(t), "2024-08-26T22:00:00Z");
        let t = parse_iso8601("2000-02-29T23:59:59Z").unwrap();
        assert_eq!(iso8601_utc(t), "2000-02-29T23:59:59Z");
    }

    #[test]
    fn decodes_forms() {
        let form = parse_form("Action=AssumeRole&RoleArn=arn%3Aaws%3Aiam%3A%3A1%3Arole%2Fx&A=b+c");
        assert_eq!(form["Action"], "AssumeRole");
        assert_eq!(form["RoleArn"], "arn:aws:iam::1:role/x");
        assert_eq!(form["A"], "b c");
    }
}
