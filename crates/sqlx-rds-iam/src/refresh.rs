//! Keeping a pool's password a fresh token: the only module that knows how sqlx 0.9 lets
//! us change it.
//!
//! # How it works
//! sqlx 0.9 has no per-connection hook: a pool reads its connect options (password
//! included) afresh for every new physical connection, and `Pool::set_connect_options`
//! replaces them. So a new token is signed every half of the maximum token age and
//! swapped in; every new connection then presents a token younger than the maximum age.
//! Open connections are unaffected: a token only matters at login.
//!
//! Tokens age by the wall clock (the signer's time source), not by Tokio's timers, which
//! run on the monotonic clock: Linux's monotonic clock stands still while the system is
//! suspended, and may across a VM pause (a frozen Lambda environment). So one driver task
//! per Tokio runtime, whatever the number of pools, looks at every pool's wall clock at
//! least once a second of monotonic time (more often for a `max_token_age` under 4 s) and
//! refreshes, each in a short task of its own, the pools whose refresh point has passed by
//! the wall clock, or whose wall clock jumped (moved more than 2 s away from the monotonic
//! clock since the last look). The refresh point counts from the time the token is dated
//! (the signer reads the clock before it fetches credentials), so a token signed before a
//! freeze is due as soon as the process thaws. So within one second of monotonic time after the wall
//! clock passes the refresh point or jumps, the pool's connect options carry a new token;
//! a connection opened within that second may still carry the old one. A thousand idle
//! pools cost one timer, and one look at each per second (about half a microsecond each:
//! 0.04% of one core for 1,000 idle pools, BENCHMARKS.md).
//!
//! A token dies with the temporary credentials that signed it, even inside its 15
//! minutes, so a token whose credentials expire before the next refresh point brings the
//! refresh forward, to a minute before they expire; the credentials are then fetched anew
//! (the token crate refetches credentials within 5 minutes of their expiry), and while the
//! source has nothing newer, signing is tried again after 1 s, 2 s, 4 s... (at most 30 s),
//! with a warning once the credentials it gives have expired. A token that would die
//! sooner than the one in place does not replace it (unless that one is dated in the
//! future: the wall clock went back).
//!
//! If a token cannot be signed (credentials source down), the last good token stays in
//! place (until `AuthToken::expires_at`: 15 minutes after signing, or its credentials'
//! expiry if sooner; far beyond the maximum age), a warning is logged,
//! and signing is retried with exponential backoff until it succeeds again. A refresh
//! waits for credentials at most half the maximum age (between 1 and 30 s); when it gives
//! up, the credentials request itself goes on (up to 30 s, in a task of its own: see
//! `credentials.rs`), and the next attempt, or another pool's, takes its answer. A
//! panicking credentials provider is a failed refresh like any other.
//!
//! # Lifetime
//! The driver holds a clone of each pool (sqlx 0.9 has no weak pool handle).
//! `pool.close().await` stops all signing for it at once (a closed pool is never signed
//! for), and the driver lets the clone go within 10 looks (10 s).
//! If every handle is dropped without `close()`, the driver's clone keeps the pool and its
//! idle connections alive, signing a token every half max age, until the Tokio runtime
//! shuts down (the driver then ends, and lets all its pools go); so close pools you are
//! done with (a long-running service's single pool is unaffected). With no pool left, the
//! driver ends; the next pool starts another. A pool that outlives its runtime (kept in a
//! global across runtimes) is no longer refreshed until `IamPoolHandle::ensure_fresh_token`
//! is called on another runtime, which hands it to that runtime's driver.
//!
//! # Frozen processes (Lambda)
//! When a process is frozen (Lambda between invocations, SIGSTOP) for longer than the
//! refresh point, the overdue refresh runs as soon as the process thaws, but nothing orders
//! it before the first new connection: the driver and that connection race at resume, and
//! a connection that wins presents the old token (sqlx does not retry a refused login; the
//! next attempt succeeds). Measured on the test bed (`benches/freeze_soak.rs`, 2026-12-03:
//! tokens refused after 5 s, `max_token_age` 2 s, a new connection every 200 ms, 20
//! freezes of 8 s per engine), the first connection started after a resume was refused in
//! 0 of 20 freezes on each engine in the committed BENCHMARKS.md run, and in 2 of 20 on
//! MariaDB in an earlier run (the race is real but rare); with
//! `IamPoolHandle::ensure_fresh_token` called before it (the start of a unit of work, as
//! `examples/lambda.rs` does per invocation), in 0 of 40. (A connection that a freeze
//! catches in the middle of its login is refused whatever the client does: its token was
//! fresh when it started.) A per-connection connector removes the race. A
//! `current_thread` runtime that only runs while the process serves a request (`block_on`
//! per request) is frozen between requests in the same way: call `ensure_fresh_token` at
//! the start of each.
//!
//! # Moving to a connector
//! sqlx plans a per-connection connector (launchbadge/sqlx PR 3582, `PoolConnector`).
//! With it, this module becomes a connector whose `connect` calls `sign_token` (the
//! signer's caches make that a few microseconds), sets the password on a copy of the
//! options and connects; the driver goes away, and so does the lifetime caveat.
//! `IamPoolHandle::ensure_fresh_token` becomes a no-op; its status stays. Nothing outside
//! this module changes.

use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant as StdInstant, SystemTime};

use aws_smithy_async::time::SharedTimeSource;
use rds_iam_token::{AuthToken, AuthTokenSigner};
use sqlx::Pool;
use tokio::time::Instant;

use crate::database::IamDatabase;
use crate::error::Error;
use crate::handle::IamPoolStatus;

/// The longest wait for credentials when a pool starts; the AWS providers have their own,
/// shorter timeouts, so this only catches a provider that hangs. Also how long the shared
/// credentials request may take (`credentials.rs`).
pub(crate) const FIRST_TOKEN_TIMEOUT: Duration = Duration::from_secs(30);
/// The longest pause between retries when signing keeps failing.
const MAX_RETRY_DELAY: Duration = Duration::from_secs(30);
/// A token in place must stay valid this much longer than the next refresh point, for
/// the connect latency and clock skew between this host and the database.
const EXPIRY_MARGIN: Duration = Duration::from_secs(60);
/// The driver looks at the wall clock at least this often (monotonic time).
const TICK: Duration = Duration::from_secs(1);
/// Closed pools are let go every this many looks (a closed pool is never signed for).
const SWEEP_EVERY: u64 = 10;
/// How far the wall clock may move away from the monotonic clock between two looks
/// before it counts as a jump (a suspend, a VM pause, a clock step).
const JUMP_TOLERANCE: Duration = Duration::from_secs(2);
/// What `IamPoolHandle::ensure_fresh_token` promises on success: the token in place is
/// valid at least this much longer (connect latency, clock skew), and younger than the
/// maximum age by this much (or a quarter of it, if less).
pub(crate) const ENSURE_MARGIN: Duration = Duration::from_secs(5);

/// Signs the token a pool starts with.
pub(crate) async fn first_token(signer: &AuthTokenSigner) -> Result<AuthToken, Error> {
    match tokio::time::timeout(FIRST_TOKEN_TIMEOUT, sign_token(signer)).await {
        Ok(signed) => signed.map_err(Error::signer),
        Err(_) => Err(Error::credentials_timeout(FIRST_TOKEN_TIMEOUT)),
    }
}

/// Signs one token and logs it (never its text).
async fn sign_token(signer: &AuthTokenSigner) -> Result<AuthToken, rds_iam_token::Error> {
    let started = StdInstant::now();
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

/// A mutex's contents even if a panic poisoned it: every value behind these locks is
/// replaced whole, so none is ever half-written.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// What the refresh needs of a pool, whatever its database.
trait PasswordSlot: Send + Sync {
    /// New connections present `password`.
    fn set_password(&self, password: &str);
    /// Whether `close()` was called.
    fn is_closed(&self) -> bool;
}

impl<DB: IamDatabase> PasswordSlot for Pool<DB> {
    fn set_password(&self, password: &str) {
        self.set_connect_options(DB::with_password(&self.connect_options(), password));
    }

    fn is_closed(&self) -> bool {
        Pool::is_closed(self)
    }
}

/// One pool's token: the one in place, when to replace it, and how the last attempt went.
pub(crate) struct Refresher {
    /// The signer's time source (the wall clock unless set), kept here too so that the
    /// driver's look at a pool touches as little memory as it can.
    clock: SharedTimeSource,
    pool: Box<dyn PasswordSlot>,
    signer: AuthTokenSigner,
    schedule: Schedule,
    max_age: Duration,
    state: Mutex<State>,
    /// Held while signing, so that the driver and `ensure_fresh` never sign at once.
    signing: tokio::sync::Mutex<()>,
    /// A driver looks at this pool: set by [`register`], cleared when that driver's
    /// runtime shuts down (or the driver ends).
    watched: AtomicBool,
}

struct State {
    current: AuthToken,
    /// When (by the signer's wall clock) to sign next.
    next_at: SystemTime,
    /// The wall and monotonic clocks at the driver's last look, to tell a jump.
    seen: (SystemTime, Instant),
    /// The driver has started a refresh that has not finished.
    queued: bool,
    /// Failed signings in a row.
    failures: u32,
    /// Signing attempts so far, successful or not: a caller that waited for another's
    /// attempt takes its outcome.
    attempts: u64,
    /// Signings in a row whose credentials were about to expire.
    dying: u32,
    /// Why the last refresh failed, while it has not succeeded since.
    last_error: Option<String>,
}

/// Clears a pool's `queued` mark when its refresh task ends, even by a panic.
struct Unqueue<'a>(&'a Refresher);

impl Drop for Unqueue<'_> {
    fn drop(&mut self) {
        lock(&self.0.state).queued = false;
    }
}

/// Why the driver refreshes a pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Why {
    /// The refresh point has passed.
    Due,
    /// The wall clock jumped.
    Jumped,
}

impl Refresher {
    /// Keeps `pool`'s password a token younger than `max_age`, starting from `current`
    /// (the token the pool was created with), once [`register`]ed.
    pub(crate) fn new<DB: IamDatabase>(
        pool: Pool<DB>,
        signer: AuthTokenSigner,
        clock: SharedTimeSource,
        current: AuthToken,
        max_age: Duration,
    ) -> Arc<Self> {
        let schedule = Schedule::new(max_age);
        let dying = u32::from(schedule.after_token(&current).is_none());
        let wait = schedule
            .after_token(&current)
            .unwrap_or_else(|| schedule.next_wait(dying));
        let now = clock.now();
        // From when the token was signed, not from now: a token signed before a freeze
        // (the signer reads the clock before it fetches credentials) is due at once.
        let next_at = current.signed_at() + wait;
        Arc::new(Self {
            clock,
            pool: Box::new(pool),
            schedule,
            max_age,
            state: Mutex::new(State {
                current,
                next_at,
                seen: (now, Instant::now()),
                queued: false,
                failures: 0,
                attempts: 0,
                dying,
                last_error: None,
            }),
            signing: tokio::sync::Mutex::new(()),
            watched: AtomicBool::new(false),
            signer,
        })
    }

    /// The driver's look: whether to refresh now, and why. Marks the refresh as queued.
    fn due(&self) -> Option<Why> {
        // Both clocks read together: under load, a monotonic time read once per look
        // would lag this pool's wall time and look like a jump.
        let now = self.clock.now();
        let at = Instant::now();
        let mut state = lock(&self.state);
        let (seen_wall, seen_at) = std::mem::replace(&mut state.seen, (now, at));
        if state.queued {
            return None;
        }
        let monotonic = at.saturating_duration_since(seen_at);
        let jumped = match now.duration_since(seen_wall) {
            Ok(wall) => wall.abs_diff(monotonic) > JUMP_TOLERANCE,
            Err(backwards) => backwards.duration() + monotonic > JUMP_TOLERANCE,
        };
        let why = if jumped {
            Why::Jumped
        } else if now >= state.next_at {
            Why::Due
        } else {
            return None;
        };
        state.queued = true;
        Some(why)
    }

    /// The driver's refresh, in a task of its own.
    async fn refresh(self: Arc<Self>, why: Why) {
        // However the task ends (a panicking provider, signer or time source included),
        // the pool is refreshed again.
        let _unqueue = Unqueue(&self);
        {
            let _signing = self.signing.lock().await;
            // `ensure_fresh` may have signed meanwhile.
            let still_due = why == Why::Jumped || self.clock.now() >= lock(&self.state).next_at;
            if still_due && !self.pool.is_closed() {
                // Failures are logged and kept for the status.
                let _ = self.sign_and_apply().await;
            }
        }
    }

    /// Whether the token in place fails what [`Self::ensure_fresh`] promises at `now`:
    /// younger than the maximum age minus [`Self::age_margin`], and valid for at least
    /// [`ENSURE_MARGIN`] more (by its own 15 minutes and its credentials' expiry). A token
    /// signed in the future (the wall clock went back) fails it too.
    fn is_unusable(&self, state: &State, now: SystemTime) -> bool {
        let too_old = now
            .duration_since(state.current.signed_at())
            .map_or(true, |age| {
                age >= self.max_age.saturating_sub(self.age_margin())
            });
        too_old || state.current.is_expired_at(now + ENSURE_MARGIN)
    }

    /// How much younger than the maximum age [`Self::ensure_fresh`] wants the token in
    /// place: a quarter of the maximum age, at most [`ENSURE_MARGIN`].
    fn age_margin(&self) -> Duration {
        (self.max_age / 4).min(ENSURE_MARGIN)
    }

    /// See [`crate::IamPoolHandle::ensure_fresh_token`]. Signs inline only when the token
    /// in place is unusable ([`Self::is_unusable`]), or when its refresh point has passed
    /// by the wall clock, no refresh has failed since, it is at least half the maximum age
    /// old, and no other refresh is running (a thaw: the driver has not looked yet).
    /// Callers that wait for another's attempt take its outcome rather than start one.
    pub(crate) async fn ensure_fresh(self: &Arc<Self>) -> Result<(), Error> {
        if self.pool.is_closed() {
            return Err(Error::config(
                "the pool is closed: IAM tokens are no longer refreshed for it",
            ));
        }
        if !self.watched.load(Ordering::Acquire) {
            // The runtime whose driver refreshed this pool has shut down.
            tracing::debug!(
                host = self.signer.hostname(),
                "the IAM pool's refresh moves to the current Tokio runtime"
            );
            register(Arc::clone(self));
        }
        let now = self.clock.now();
        let (unusable, due, attempts) = {
            let state = lock(&self.state);
            let due = state.failures == 0
                && now >= state.next_at
                && now
                    .duration_since(state.current.signed_at())
                    .map_or(true, |age| age >= self.schedule.interval);
            (self.is_unusable(&state, now), due, state.attempts)
        };
        if unusable {
            let _signing = self.signing.lock().await;
            // Another caller or the driver may have tried while this one waited: its
            // outcome is this caller's.
            let waited_out = lock(&self.state).attempts != attempts;
            let now = self.clock.now();
            if !waited_out && self.is_unusable(&lock(&self.state), now) {
                let _ = self.sign_and_apply().await;
            }
        } else if due {
            // The token in place keeps the promise whatever happens: never wait for a
            // refresh that is already running (the driver's, or another caller's).
            if let Ok(_signing) = self.signing.try_lock() {
                let _ = self.sign_and_apply().await;
            }
            return Ok(());
        } else {
            return Ok(());
        }
        let now = self.clock.now();
        let state = lock(&self.state);
        if !self.is_unusable(&state, now) {
            return Ok(());
        }
        Err(Error::credentials(format!(
            "no IAM token younger than max_token_age ({}s) minus {}s and valid for {}s more \
             could be signed for {}: {}",
            self.max_age.as_secs_f32(),
            self.age_margin().as_secs_f32(),
            ENSURE_MARGIN.as_secs(),
            self.signer.hostname(),
            state
                .last_error
                .as_deref()
                .unwrap_or("the credentials source gives only credentials about to expire"),
        )))
    }

    /// Signs a token, swaps it in, and decides when to sign next.
    async fn sign_and_apply(&self) -> Result<(), Error> {
        let signer = &self.signer;
        let schedule = self.schedule;
        let attempt = tokio::time::timeout(schedule.sign_timeout(), sign_token(signer)).await;
        let now = self.clock.now();
        let mut state = lock(&self.state);
        let state = &mut *state;
        state.attempts = state.attempts.wrapping_add(1);
        match attempt {
            Ok(Ok(token)) => {
                state.failures = 0;
                state.last_error = None;
                // Schedule from when the new token was signed, not from now: a token
                // signed before a freeze (the signer reads the clock before it fetches
                // credentials) is then due at once.
                let signed_at = token.signed_at();
                // A token that dies sooner than the one in place (its credentials expire
                // first) does not replace it, unless that one is dated in the future (the
                // wall clock went back: the server would refuse it).
                if token.expires_at() >= state.current.expires_at()
                    || state.current.signed_at() > token.signed_at()
                {
                    self.pool.set_password(token.expose());
                    state.current = token;
                }
                match schedule.after_token(&state.current) {
                    // The usual case: the token lives well past the next refresh.
                    Some(next) => {
                        state.dying = 0;
                        state.next_at = signed_at + next;
                    }
                    // Its credentials expire within the margin and the source has nothing
                    // newer yet: ask again, backing off.
                    None => {
                        state.dying = state.dying.saturating_add(1);
                        let wait = schedule.next_wait(state.dying);
                        state.next_at = signed_at + wait;
                        let current = &state.current;
                        let remaining = current
                            .expires_at()
                            .duration_since(current.signed_at())
                            .unwrap_or_default();
                        if current.is_expired_at(now) {
                            state.last_error = Some(
                                "the credentials source gives only expired credentials".into(),
                            );
                            tracing::warn!(
                                host = signer.hostname(),
                                access_key_id = current.access_key_id(),
                                retry_in_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
                                "the credentials source gives only expired credentials; \
                                 new connections will be refused until it has new ones"
                            );
                        } else if state.dying == 1 {
                            tracing::info!(
                                host = signer.hostname(),
                                access_key_id = current.access_key_id(),
                                credentials_valid_for_s = remaining.as_secs(),
                                retry_in_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
                                "the credentials that signed the token expire soon; \
                                 signing again with credentials fetched anew"
                            );
                        }
                    }
                }
                Ok(())
            }
            outcome => {
                state.failures = state.failures.saturating_add(1);
                let wait = schedule.next_wait(state.failures);
                state.next_at = now + wait;
                let (reason, err) = match outcome {
                    Ok(Err(err)) => (error_chain(&err), Error::signer(err)),
                    _ => (
                        "signing timed out waiting for credentials".to_owned(),
                        Error::credentials_timeout(schedule.sign_timeout()),
                    ),
                };
                let remaining = state
                    .current
                    .expires_at()
                    .duration_since(now)
                    .unwrap_or_default();
                tracing::warn!(
                    host = signer.hostname(),
                    region = signer.region(),
                    error = %reason,
                    failures = state.failures,
                    retry_in_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
                    last_token_valid_for_s = remaining.as_secs(),
                    "could not refresh the IAM auth token; new connections use the last \
                     token while it is valid"
                );
                state.last_error = Some(reason);
                Err(err)
            }
        }
    }

    /// The pool's IAM state now.
    pub(crate) fn status(&self) -> IamPoolStatus {
        let now = self.clock.now();
        let state = lock(&self.state);
        let current = &state.current;
        IamPoolStatus {
            token_signed_at: current.signed_at(),
            token_age: now.duration_since(current.signed_at()).unwrap_or_default(),
            token_expires_at: current.expires_at(),
            credentials_expire_at: current.credentials_expire_at(),
            max_token_age: self.max_age,
            last_refresh_error: state.last_error.clone(),
            refresh_failures: state.failures,
            pool_closed: self.pool.is_closed(),
        }
    }

    /// How often the driver must look at this pool: often enough that a token is replaced
    /// at most a quarter of the maximum age after its refresh point.
    fn period(&self) -> Duration {
        (self.schedule.interval / 2).min(TICK)
    }
}

/// The pools of one Tokio runtime, which its driver task looks at.
#[derive(Default)]
struct Watched {
    pools: Mutex<Vec<Arc<Refresher>>>,
}

/// Every runtime's watched pools. A process has a handful of runtimes at most.
static DRIVERS: Mutex<Vec<(tokio::runtime::Id, Arc<Watched>)>> = Mutex::new(Vec::new());

/// Hands `refresher` to the current Tokio runtime's driver, starting one if there is none.
/// Must be called from within a Tokio runtime (every `connect*` is async).
pub(crate) fn register(refresher: Arc<Refresher>) {
    let runtime = tokio::runtime::Handle::current();
    let id = runtime.id();
    let mut drivers = lock(&DRIVERS);
    // Under the registry's lock: two callers never both register one pool.
    if refresher.watched.swap(true, Ordering::AcqRel) {
        return;
    }
    if let Some((_, watched)) = drivers.iter().find(|(of, _)| *of == id) {
        lock(&watched.pools).push(refresher);
        return;
    }
    let watched = Arc::new(Watched {
        pools: Mutex::new(vec![refresher]),
    });
    drivers.push((id, Arc::clone(&watched)));
    drop(drivers);
    // Made before the task is spawned, so that the entry goes even if the task is never
    // polled (a runtime shutting down drops it unpolled).
    let deregister = Deregister(id, Arc::clone(&watched));
    runtime.spawn(drive(deregister, watched));
}

/// Removes a driver's entry however its task ends (the runtime shutting down drops it).
struct Deregister(tokio::runtime::Id, Arc<Watched>);

impl Drop for Deregister {
    fn drop(&mut self) {
        let mut drivers = lock(&DRIVERS);
        drivers.retain(|(id, watched)| *id != self.0 || !Arc::ptr_eq(watched, &self.1));
        // Under the registry's lock, so that no pool joins this list meanwhile: its pools
        // are registered again by their next `ensure_fresh` (on another runtime).
        let pools = lock(&self.1.pools);
        for pool in pools.iter() {
            pool.watched.store(false, Ordering::Release);
        }
        if std::thread::panicking() {
            tracing::error!(
                pools = pools.len(),
                "the IAM token refresh driver panicked: its pools are no longer refreshed \
                 until IamPoolHandle::ensure_fresh_token is called"
            );
        }
    }
}

/// One runtime's driver: looks at every pool's wall clock once a period and starts the
/// refreshes that are due; lets closed pools go (a sweep every [`SWEEP_EVERY`] looks, and
/// a closed pool is never signed for); ends when none is left.
async fn drive(deregister: Deregister, watched: Arc<Watched>) {
    let _deregister = deregister;
    let mut next = Instant::now();
    let mut period = TICK;
    for look in 0u64.. {
        if look % SWEEP_EVERY == 0 {
            let mut drivers = lock(&DRIVERS);
            let mut pools = lock(&watched.pools);
            pools.retain(|pool| !pool.pool.is_closed());
            if pools.is_empty() {
                // Under the registry's lock, so that no pool is added to a list that no
                // driver looks at any more.
                drivers.retain(|(_, other)| !Arc::ptr_eq(other, &watched));
                drop(pools);
                drop(drivers);
                tracing::debug!("no open IAM pool left on this runtime; token refresh stopped");
                return;
            }
        }
        next = (next + period).max(Instant::now());
        tokio::time::sleep_until(next).await;
        let mut due = Vec::new();
        period = TICK;
        for pool in lock(&watched.pools).iter() {
            period = period.min(pool.period());
            // A time source that panics must not end the driver (and every pool's
            // refresh with it): that pool is looked at again next time.
            match std::panic::catch_unwind(AssertUnwindSafe(|| pool.due())) {
                Ok(Some(why)) => due.push((Arc::clone(pool), why)),
                Ok(None) => {}
                Err(_) => tracing::error!(
                    host = pool.signer.hostname(),
                    "the time source panicked while the IAM token refresh looked at the \
                     pool; looking again at the next tick"
                ),
            }
        }
        for (pool, why) in due {
            tokio::spawn(pool.refresh(why));
        }
    }
}

/// The longest [`error_chain`] text, in characters: it goes into logs and the status.
const MAX_REASON_CHARS: usize = 1000;

/// `err` and every source under it, `: `-separated (the credentials provider's own
/// reason, such as AccessDenied or a timeout, is usually a few levels down), at most
/// [`MAX_REASON_CHARS`] characters (a credential process's stderr can be long).
pub(crate) fn error_chain(err: &(dyn std::error::Error + 'static)) -> String {
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
    if let Some((cut, _)) = text.char_indices().nth(MAX_REASON_CHARS) {
        text.truncate(cut);
        text.push_str("...");
    }
    text
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
        let long = "é".repeat(5000);
        let leaked: &'static str = Box::leak(long.into_boxed_str());
        let capped = error_chain(&Layer("failed", Some(Box::new(Layer(leaked, None)))));
        assert_eq!(capped.chars().count(), MAX_REASON_CHARS + 3);
        assert!(capped.starts_with("failed: éé") && capped.ends_with("é..."));
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

    /// The driver lets a closed pool go within [`SWEEP_EVERY`] looks, and ends (its
    /// registry entry gone) when no pool is left.
    #[cfg(feature = "postgres")]
    #[tokio::test(start_paused = true)]
    async fn a_closed_pool_is_let_go_and_the_driver_ends() {
        use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
        let pool = PgPoolOptions::new()
            .connect_lazy_with(PgConnectOptions::new().host("localhost").username("app"));
        let token = token(None);
        let signer = AuthTokenSigner::rds("localhost", 5432, "app")
            .region("us-east-1")
            .credentials_provider(aws_credential_types::Credentials::from_keys(
                "AKIAEXAMPLE",
                "secret",
                None,
            ))
            .build()
            .unwrap();
        let clock = SharedTimeSource::new(aws_smithy_async::time::StaticTimeSource::new(
            token.signed_at(),
        ));
        let refresher =
            Refresher::new(pool.clone(), signer, clock, token, Duration::from_secs(300));
        register(Arc::clone(&refresher));
        let id = tokio::runtime::Handle::current().id();
        let registered = || lock(&DRIVERS).iter().any(|(of, _)| *of == id);
        assert!(registered());
        assert!(refresher.watched.load(Ordering::Acquire));
        tokio::time::sleep(Duration::from_secs(12)).await;
        assert_eq!(Arc::strong_count(&refresher), 2, "an open pool is kept");
        pool.close().await;
        tokio::time::sleep(Duration::from_secs(SWEEP_EVERY + 1)).await;
        assert_eq!(
            Arc::strong_count(&refresher),
            1,
            "the driver still holds the pool"
        );
        assert!(!registered(), "the driver's entry is still registered");
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
