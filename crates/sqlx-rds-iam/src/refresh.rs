//! Keeping a pool's password a fresh token: the only module that knows how sqlx 0.9 lets
//! us change it.
//!
//! # How it works
//! sqlx 0.9 has no per-connection hook: a pool reads its connect options (password
//! included) afresh for every new physical connection, and `Pool::set_connect_options`
//! replaces them. So a task per pool signs a new token every half of the maximum token
//! age and swaps it in; every new connection then presents a token younger than the
//! maximum age. Open connections are unaffected: a token only matters at login.
//!
//! A token dies with the temporary credentials that signed it, even inside its 15
//! minutes, so a token whose credentials expire before the next refresh point brings the
//! refresh forward, to a minute before they expire; the credentials are then fetched anew
//! (the token crate refetches credentials within 5 minutes of their expiry), and while the
//! source has nothing newer, signing is tried again after 1 s, 2 s, 4 s... (at most 30 s),
//! with a warning once the credentials it gives have expired. A token that would die
//! sooner than the one in place does not replace it.
//!
//! If a token cannot be signed (credentials source down), the last good token stays in
//! place (until `AuthToken::expires_at`: 15 minutes after signing, or its credentials'
//! expiry if sooner; far beyond the maximum age), a warning is logged,
//! and signing is retried with exponential backoff until it succeeds again.
//!
//! # Lifetime
//! The task holds a clone of the pool (sqlx 0.9 has no weak pool handle) and ends as soon
//! as the pool is closed: `pool.close().await` stops all signing. If every handle is
//! dropped without `close()`, the task's clone keeps the pool and its idle connections
//! alive, signing a token every half max age, until the Tokio runtime shuts down; so close
//! pools you are done with (a long-running service's single pool is unaffected).
//!
//! # Frozen processes (Lambda)
//! The refresh runs on a timer. When a process is frozen between invocations (Lambda) for
//! longer than the maximum age, the overdue refresh runs as soon as the process thaws, but
//! a connection opened in that same instant may still carry the old token; past 15
//! minutes the server refuses it (sqlx does not retry authentication failures). The next
//! attempt succeeds. A per-connection connector removes this window.
//!
//! # Moving to a connector
//! sqlx plans a per-connection connector (launchbadge/sqlx PR 3582, `PoolConnector`).
//! With it, this module becomes a connector whose `connect` calls `sign_token` (the
//! signer's caches make that a few microseconds), sets the password on a copy of the
//! options and connects; `spawn` and its task go away, and so does the lifetime caveat.
//! Nothing outside this module changes.

use std::future::Future;
use std::pin::pin;
use std::time::{Duration, Instant, SystemTime};

use rds_iam_token::{AuthToken, AuthTokenSigner};
use sqlx::Pool;

use crate::database::IamDatabase;
use crate::error::Error;

/// The longest wait for credentials when a pool starts; the AWS providers have their own,
/// shorter timeouts, so this only catches a provider that hangs.
const FIRST_TOKEN_TIMEOUT: Duration = Duration::from_secs(30);
/// The longest pause between retries when signing keeps failing.
const MAX_RETRY_DELAY: Duration = Duration::from_secs(30);
/// A token in place must stay valid this much longer than the next refresh point, for
/// the connect latency and clock skew between this host and the database.
const EXPIRY_MARGIN: Duration = Duration::from_secs(60);

/// Signs the token a pool starts with.
pub(crate) async fn first_token(signer: &AuthTokenSigner) -> Result<AuthToken, Error> {
    match tokio::time::timeout(FIRST_TOKEN_TIMEOUT, sign_token(signer)).await {
        Ok(signed) => signed.map_err(Error::signer),
        Err(_) => Err(Error::credentials_timeout(FIRST_TOKEN_TIMEOUT)),
    }
}

/// Signs one token and logs it (never its text).
async fn sign_token(signer: &AuthTokenSigner) -> Result<AuthToken, rds_iam_token::Error> {
    let started = Instant::now();
    let token = signer.sign().await?;
    tracing::debug!(
        host = signer.hostname(),
        region = signer.region(),
        access_key_id = token.access_key_id(),
        credentials = if token.is_from_temporary_credentials() {
            "temporary"
        } else {
            "long-term"
        },
        elapsed_us = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX),
        "signed an IAM auth token"
    );
    Ok(token)
}

/// Starts the task that keeps `pool`'s password a token younger than `max_age`, until the
/// pool closes. `current` is the token the pool was created with.
pub(crate) fn spawn<DB: IamDatabase>(
    pool: Pool<DB>,
    signer: AuthTokenSigner,
    current: AuthToken,
    max_age: Duration,
) {
    let close = pool.close_event();
    tokio::spawn(async move {
        let mut close = pin!(close);
        let schedule = Schedule::new(max_age);
        // Signings in a row whose credentials were about to expire.
        let mut dying: u32 = u32::from(schedule.after_token(&current).is_none());
        let mut wait = schedule
            .after_token(&current)
            .unwrap_or_else(|| schedule.next_wait(dying));
        let mut current = current;
        let mut failures: u32 = 0;
        loop {
            let Some(()) = until_closed(&mut close, tokio::time::sleep(wait)).await else {
                break;
            };
            let attempt = tokio::time::timeout(schedule.sign_timeout(), sign_token(&signer));
            let Some(signed) = until_closed(&mut close, attempt).await else {
                break;
            };
            match signed {
                Ok(Ok(token)) => {
                    failures = 0;
                    // A token that dies sooner than the one in place (its credentials
                    // expire first) does not replace it.
                    if token.expires_at() >= current.expires_at() {
                        let options = DB::with_password(&pool.connect_options(), token.expose());
                        pool.set_connect_options(options);
                        current = token;
                    }
                    match schedule.after_token(&current) {
                        // The usual case: the token lives well past the next refresh.
                        Some(next) => {
                            dying = 0;
                            wait = next;
                        }
                        // Its credentials expire within the margin and the source has
                        // nothing newer yet: ask again, backing off.
                        None => {
                            dying = dying.saturating_add(1);
                            wait = schedule.next_wait(dying);
                            let remaining = current
                                .expires_at()
                                .duration_since(current.signed_at())
                                .unwrap_or_default();
                            if current.is_expired_at(SystemTime::now()) {
                                tracing::warn!(
                                    host = signer.hostname(),
                                    access_key_id = current.access_key_id(),
                                    retry_in_ms =
                                        u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
                                    "the credentials source gives only expired credentials; \
                                     new connections will be refused until it has new ones"
                                );
                            } else if dying == 1 {
                                tracing::info!(
                                    host = signer.hostname(),
                                    access_key_id = current.access_key_id(),
                                    credentials_valid_for_s = remaining.as_secs(),
                                    retry_in_ms =
                                        u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
                                    "the credentials that signed the token expire soon; \
                                     signing again with credentials fetched anew"
                                );
                            }
                        }
                    }
                }
                outcome => {
                    failures = failures.saturating_add(1);
                    wait = schedule.next_wait(failures);
                    let reason = match outcome {
                        Ok(Err(err)) => error_chain(&err),
                        _ => "signing timed out waiting for credentials".to_owned(),
                    };
                    let remaining = current
                        .expires_at()
                        .duration_since(SystemTime::now())
                        .unwrap_or_default();
                    tracing::warn!(
                        host = signer.hostname(),
                        region = signer.region(),
                        error = %reason,
                        failures,
                        retry_in_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
                        last_token_valid_for_s = remaining.as_secs(),
                        "could not refresh the IAM auth token; new connections use the last \
                         token while it is valid"
                    );
                }
            }
        }
        tracing::debug!(
            host = signer.hostname(),
            "pool closed; IAM token refresh stopped"
        );
    });
}

/// `err` and every source under it, `: `-separated (the credentials provider's own
/// reason, such as AccessDenied or a timeout, is usually a few levels down).
fn error_chain(err: &(dyn std::error::Error + 'static)) -> String {
    // One line: a cause's own line breaks (a credential process's stderr) are folded.
    let one_line = |e: &dyn std::error::Error| e.to_string().lines().collect::<Vec<_>>().join(" ");
    let mut text = one_line(err);
    let mut source = err.source();
    while let Some(cause) = source {
        let cause_text = one_line(cause);
        // Some errors repeat their source in their own message; say each thing once.
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

/// Runs `work` unless the pool closes first (`None`).
async fn until_closed<T>(
    close: &mut (impl Future<Output = ()> + Unpin),
    work: impl Future<Output = T>,
) -> Option<T> {
    tokio::select! {
        biased;
        () = close => None,
        done = work => Some(done),
    }
}

/// When to sign next.
#[derive(Debug, Clone, Copy)]
struct Schedule {
    interval: Duration,
}

impl Schedule {
    fn new(max_age: Duration) -> Self {
        Self {
            interval: max_age / 2,
        }
    }

    /// Half the maximum age after a success; after failures, exponential backoff from
    /// a fraction of that, never longer than the interval or [`MAX_RETRY_DELAY`].
    fn next_wait(&self, failures: u32) -> Duration {
        if failures == 0 {
            return self.interval;
        }
        let cap = self.interval.min(MAX_RETRY_DELAY);
        let base = (self.interval / 8).clamp(Duration::from_millis(50), Duration::from_secs(1));
        let factor = 1u32 << failures.saturating_sub(1).min(16);
        base.saturating_mul(factor).min(cap)
    }

    /// When to sign after `token`: half the maximum age, or sooner when the token dies
    /// sooner (its credentials expire) so that a new one, from credentials fetched anew,
    /// is in place [`EXPIRY_MARGIN`] before it does. `None` for a token already inside
    /// that margin (the credentials source has nothing newer yet): the caller backs off.
    fn after_token(&self, token: &AuthToken) -> Option<Duration> {
        let usable = token
            .expires_at()
            .duration_since(token.signed_at())
            .unwrap_or_default()
            .saturating_sub(EXPIRY_MARGIN);
        (!usable.is_zero()).then(|| self.interval.min(usable))
    }

    /// How long one refresh may wait for credentials before it counts as a failure.
    fn sign_timeout(&self) -> Duration {
        self.interval.clamp(Duration::from_secs(1), MAX_RETRY_DELAY)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_refresh_warning_carries_every_source() {
        #[derive(Debug)]
        struct Layer(&'static str, Option<Box<Layer>>);
        impl std::fmt::Display for Layer {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.0)
            }
        }
        impl std::error::Error for Layer {
            fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
                self.1.as_deref().map(|l| l as _)
            }
        }
        let err = Layer(
            "could not load credentials",
            Some(Box::new(Layer(
                "the provider failed",
                Some(Box::new(Layer("AccessDenied: not authorized", None))),
            ))),
        );
        assert_eq!(
            error_chain(&err),
            "could not load credentials: the provider failed: AccessDenied: not authorized"
        );
        let repeats = Layer(
            "loading failed: timed out",
            Some(Box::new(Layer("timed out", None))),
        );
        assert_eq!(error_chain(&repeats), "loading failed: timed out");
    }

    fn token(lifetime: Option<Duration>) -> AuthToken {
        let signed = SystemTime::UNIX_EPOCH + Duration::from_secs(1_724_709_600);
        let credentials = aws_credential_types::Credentials::new(
            "ASIAEXAMPLE",
            "secret",
            Some("session".into()),
            lifetime.map(|l| signed + l),
            "test",
        );
        AuthTokenSigner::rds("mydb.abc123.us-east-1.rds.amazonaws.com", 5432, "app")
            .credentials_provider(credentials.clone())
            .build()
            .unwrap()
            .sign_with(&credentials, signed)
            .unwrap()
    }

    #[test]
    fn the_schedule_follows_the_credentials_expiry() {
        // max_token_age 14 minutes: every 7 minutes, unless the credentials die sooner.
        let schedule = Schedule::new(Duration::from_secs(14 * 60));
        let seven = Some(Duration::from_secs(7 * 60));
        assert_eq!(schedule.after_token(&token(None)), seven);
        let hour = Some(Duration::from_secs(3600));
        assert_eq!(schedule.after_token(&token(hour)), seven);
        // Credentials valid 4 more minutes: the next token 60 s before they expire.
        let four = Some(Duration::from_secs(240));
        assert_eq!(
            schedule.after_token(&token(four)),
            Some(Duration::from_secs(180))
        );
        // Inside the margin (or expired): the caller backs off, 1 s, 2 s, 4 s...
        for dying in [
            Duration::from_secs(5),
            Duration::from_secs(60),
            Duration::ZERO,
        ] {
            assert_eq!(schedule.after_token(&token(Some(dying))), None, "{dying:?}");
        }
        let backoff: Vec<_> = (1..=4).map(|streak| schedule.next_wait(streak)).collect();
        assert_eq!(backoff, [1, 2, 4, 8].map(Duration::from_secs));
    }

    #[test]
    fn refreshes_at_half_the_max_age_and_backs_off_within_it() {
        let schedule = Schedule::new(Duration::from_secs(300));
        assert_eq!(schedule.next_wait(0), Duration::from_secs(150));
        assert_eq!(schedule.next_wait(1), Duration::from_secs(1));
        assert_eq!(schedule.next_wait(2), Duration::from_secs(2));
        assert_eq!(schedule.next_wait(6), Duration::from_secs(30));
        assert_eq!(schedule.next_wait(u32::MAX), Duration::from_secs(30));

        let short = Schedule::new(Duration::from_secs(2));
        assert_eq!(short.next_wait(0), Duration::from_secs(1));
        assert_eq!(short.next_wait(1), Duration::from_millis(125));
        assert_eq!(short.next_wait(10), Duration::from_secs(1));
        assert_eq!(short.sign_timeout(), Duration::from_secs(1));
    }
}
