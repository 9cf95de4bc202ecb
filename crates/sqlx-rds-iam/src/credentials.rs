//! One credentials cache for every pool built from one `IamAuth`.
//!
//! Each pool has a token signer of its own (its host, port and user), and each signer
//! keeps the temporary credentials it fetched. A multi-tenant service builds many pools
//! from one `IamAuth`; without a shared cache, every pool would ask the credentials
//! source (instance or container metadata, STS) for itself at every rotation, and a
//! thousand pools would make a thousand requests where one does. So the signers of one
//! `IamAuth` (and its clones) ask this cache, which:
//! - reuses temporary credentials until 5 minutes before they expire (the token crate's
//!   own margin, so both agree on when credentials are due);
//! - lets one request to the source be in flight at a time on each Tokio runtime, and
//!   hands its result (or its error) to everyone who asked meanwhile or within a second
//!   after it, by both the monotonic and the wall clock (a freeze right after a fetch
//!   makes it old); never credentials that expire within those 5 minutes, however recent;
//! - reads credentials without an expiry (environment, static keys, profile files) again
//!   when asked more than a second after the last read, so a rotated key is picked up.
//!
//! # The request in flight
//! The request runs in a task of its own, not in the caller that started it: a caller
//! that stops waiting (its signing timed out, or its future was dropped) stops only its
//! own wait, and the others, and the next caller, still get that request's answer. The
//! request is bounded by [`FETCH_TIMEOUT`] (as long as any caller waits: the first
//! token's timeout); a request that times out, fails or panics gives every caller waiting
//! for it an error (never a hang), is the answer for a second like any failure, and the
//! next caller after that starts a new request.
//!
//! The task runs on the runtime of the caller that started it, and only callers on that
//! runtime wait for it: pools may live on several runtimes (one refresh driver each), and
//! a runtime can shut down, or stop being driven (a `current_thread` runtime between two
//! `block_on`s), while a request of its own is in flight. Such a request is then dropped
//! with its runtime (or waits with it) and holds up no caller on another runtime; only
//! its callers on that runtime, which end or wait with it anyway, are affected. A
//! process has a handful of runtimes at most, so two runtimes rarely ask at once, and a
//! runtime that asks after another's request finished gets its answer from the cache.
//! When two do ask at once, a failure that answers after the other's credentials does
//! not replace them in the cache (its own callers still get it).

use std::fmt;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::Poll;
use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_credential_types::provider::error::CredentialsError;
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider, future};
use aws_smithy_async::time::SharedTimeSource;
use tokio::sync::watch;
use tracing::Instrument;

/// Temporary credentials are fetched again once they are this close to expiry (the
/// token crate's `REFRESH_BEFORE_EXPIRY`).
const REFRESH_BEFORE_EXPIRY: Duration = Duration::from_secs(5 * 60);
/// A result fetched this recently is handed out again rather than fetched anew.
const REUSE_RECENT: Duration = Duration::from_secs(1);
/// The longest a request to the source may take: as long as any caller waits for one
/// (the first token's timeout; a refresh waits at most as long), so no caller ever gives
/// up on a request that would still have answered it. The AWS providers have their own,
/// shorter timeouts; this only ends a provider that hangs.
const FETCH_TIMEOUT: Duration = crate::refresh::FIRST_TOKEN_TIMEOUT;

/// A request's answer, as every caller that waited for it gets it.
type Outcome = Result<Credentials, Arc<CredentialsError>>;

/// A result of the source, and when it came (by the wall and the monotonic clock).
type Fetched = (SystemTime, tokio::time::Instant, Outcome);

/// A mutex's contents even if a panic poisoned it: every value behind these locks is
/// replaced whole, so none is ever half-written.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The cache an `IamAuth` and its clones share.
#[derive(Default)]
pub(crate) struct SharedCredentialsCache {
    /// The last result: when it was fetched (wall, monotonic), and the credentials or the
    /// error.
    last: Mutex<Option<Fetched>>,
    /// The request in flight on each Tokio runtime. Locked before `last` when both are.
    in_flight: Mutex<Vec<InFlight>>,
    /// Tells requests apart.
    next_id: AtomicU64,
}

/// A request to the source that has not answered yet.
struct InFlight {
    /// The runtime it runs on; only callers on that runtime wait for it.
    runtime: tokio::runtime::Id,
    id: u64,
    /// `None` until it answers.
    outcome: watch::Receiver<Option<Outcome>>,
}

impl SharedCredentialsCache {
    /// A provider for one signer: `provider` behind this cache, judging expiry by `time`.
    pub(crate) fn provider(
        self: &Arc<Self>,
        provider: SharedCredentialsProvider,
        time: SharedTimeSource,
    ) -> CachedProvider {
        CachedProvider {
            cache: Arc::clone(self),
            provider,
            time,
        }
    }

    /// The last result, if it may be handed out again at `now` (wall) / `at` (monotonic).
    fn reusable(&self, now: SystemTime, at: tokio::time::Instant) -> Option<Outcome> {
        let last = lock(&self.last);
        let (fetched_wall, fetched_at, result) = last.as_ref()?;
        // Recent by both clocks: the monotonic clock may stand still through a freeze,
        // and the wall clock may be stepped.
        let recent = at.saturating_duration_since(*fetched_at) < REUSE_RECENT
            && now
                .duration_since(*fetched_wall)
                .is_ok_and(|since| since < REUSE_RECENT);
        match result {
            Ok(credentials) => {
                let usable = match credentials.expiry() {
                    // Never credentials about to expire, however recent.
                    Some(expiry) => now + REFRESH_BEFORE_EXPIRY < expiry,
                    // Keys without an expiry are read again after a second.
                    None => recent,
                };
                usable.then(|| Ok(credentials.clone()))
            }
            Err(err) if recent => Some(Err(Arc::clone(err))),
            Err(_) => None,
        }
    }

    /// The number of requests in flight (on any runtime).
    #[cfg(test)]
    fn requests_in_flight(&self) -> usize {
        lock(&self.in_flight).len()
    }
}

impl fmt::Debug for SharedCredentialsCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SharedCredentialsCache")
            .finish_non_exhaustive()
    }
}

/// Answers the callers of one request, however its task ends: with the request's result
/// ([`Answer::publish`]), or, if the task is dropped first (its runtime shut down) or
/// panics outside the request, with an error.
struct Answer {
    cache: Arc<SharedCredentialsCache>,
    id: u64,
    outcome: watch::Sender<Option<Outcome>>,
    published: bool,
}

impl Answer {
    /// Keeps `fetched` as the last result and hands it to the request's callers.
    fn publish(mut self, (wall, at, outcome): Fetched) {
        {
            // Both under the `in_flight` lock: a caller sees either this request in
            // flight, or its result in `last`.
            let mut in_flight = lock(&self.cache.in_flight);
            // A failure does not replace credentials still good to hand out: another
            // runtime's request, in flight at the same time, got them meanwhile. (Every
            // writer of `last` holds `in_flight`, so nothing writes between the two.)
            let keep_last =
                outcome.is_err() && matches!(self.cache.reusable(wall, at), Some(Ok(_)));
            if !keep_last {
                *lock(&self.cache.last) = Some((wall, at, outcome.clone()));
            }
            in_flight.retain(|request| request.id != self.id);
        }
        self.outcome.send_replace(Some(outcome));
        self.published = true;
    }
}

impl Drop for Answer {
    fn drop(&mut self) {
        if self.published {
            return;
        }
        // Not kept as the last result: the source did not answer this.
        lock(&self.cache.in_flight).retain(|request| request.id != self.id);
        let why = if std::thread::panicking() {
            "the credentials request panicked"
        } else {
            "the credentials request ended without an answer: its Tokio runtime shut down"
        };
        self.outcome
            .send_replace(Some(Err(Arc::new(CredentialsError::provider_error(why)))));
    }
}

/// One request to the source, at most [`FETCH_TIMEOUT`]; a panic in the provider is an
/// error like any other.
async fn fetch(provider: SharedCredentialsProvider, time: SharedTimeSource) -> Fetched {
    // Made inside the caught future: a provider may panic in `provide_credentials`
    // itself, before it returns a future.
    let request =
        async { tokio::time::timeout(FETCH_TIMEOUT, provider.provide_credentials()).await };
    let outcome = match catch_unwind(request).await {
        Some(Ok(Ok(credentials))) => Ok(credentials),
        Some(Ok(Err(err))) => Err(Arc::new(err)),
        Some(Err(_elapsed)) => Err(Arc::new(CredentialsError::provider_timed_out(
            FETCH_TIMEOUT,
        ))),
        None => {
            // The panic hook has printed the provider's message; it is not repeated here
            // (it may say anything).
            tracing::error!(
                "the credentials provider panicked; every signing waiting for it fails, \
                 and the next one asks again"
            );
            Err(Arc::new(CredentialsError::provider_error(
                "the credentials provider panicked",
            )))
        }
    };
    (time.now(), tokio::time::Instant::now(), outcome)
}

/// `future`'s output, or `None` if polling it panicked.
async fn catch_unwind<F: Future>(future: F) -> Option<F::Output> {
    let mut future = Box::pin(future);
    std::future::poll_fn(move |cx| {
        match std::panic::catch_unwind(AssertUnwindSafe(|| future.as_mut().poll(cx))) {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(output)) => Poll::Ready(Some(output)),
            Err(_panic) => Poll::Ready(None),
        }
    })
    .await
}

/// An error that is one request's error, shared by every caller that waited for it
/// (`CredentialsError` is not `Clone`): it reads, and has the sources of, the original.
#[derive(Debug)]
struct SharedError(Arc<CredentialsError>);

impl fmt::Display for SharedError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl std::error::Error for SharedError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.0.source()
    }
}

/// What one caller gets of a request's answer.
fn for_caller(outcome: Outcome) -> Result<Credentials, CredentialsError> {
    outcome.map_err(|err| CredentialsError::provider_error(SharedError(err)))
}

/// A credentials provider behind the shared cache.
#[derive(Clone)]
pub(crate) struct CachedProvider {
    cache: Arc<SharedCredentialsCache>,
    provider: SharedCredentialsProvider,
    time: SharedTimeSource,
}

impl CachedProvider {
    async fn credentials(&self) -> Result<Credentials, CredentialsError> {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return Err(CredentialsError::provider_error(
                "IAM auth tokens are signed on a Tokio runtime: no runtime is running",
            ));
        };
        let (mut outcome, start) = {
            let mut in_flight = lock(&self.cache.in_flight);
            // Under the lock: a request that answers meanwhile is either still in flight
            // here or its result is in `last`.
            let (wall, mono) = (self.time.now(), tokio::time::Instant::now());
            if let Some(result) = self.cache.reusable(wall, mono) {
                return for_caller(result);
            }
            match in_flight.iter().find(|r| r.runtime == runtime.id()) {
                Some(request) => (request.outcome.clone(), None),
                None => {
                    let id = self.cache.next_id.fetch_add(1, Ordering::Relaxed);
                    let (sender, receiver) = watch::channel(None);
                    in_flight.push(InFlight {
                        runtime: runtime.id(),
                        id,
                        outcome: receiver.clone(),
                    });
                    let answer = Answer {
                        cache: Arc::clone(&self.cache),
                        id,
                        outcome: sender,
                        published: false,
                    };
                    (receiver, Some(answer))
                }
            }
        };
        if let Some(answer) = start {
            // Spawned outside the lock: a runtime that is shutting down drops the task at
            // once, and the answer's `Drop` takes the lock.
            let provider = self.provider.clone();
            let time = self.time.clone();
            // In the starting caller's span, so that the provider's own events (and ours)
            // sit where that signing is logged.
            let request = async move {
                let fetched = fetch(provider, time).await;
                answer.publish(fetched);
            };
            runtime.spawn(request.in_current_span());
        }
        // Dropping this future (a timeout, a cancelled caller) stops only this wait.
        let answered = match outcome.wait_for(Option::is_some).await {
            Ok(answer) => answer.clone(),
            // Not reached: the request's `Answer` answers before it goes.
            Err(_) => None,
        };
        for_caller(answered.unwrap_or_else(|| {
            Err(Arc::new(CredentialsError::provider_error(
                "the credentials request ended without an answer",
            )))
        }))
    }
}

impl ProvideCredentials for CachedProvider {
    fn provide_credentials<'a>(&'a self) -> future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        future::ProvideCredentials::new(self.credentials())
    }
}

impl fmt::Debug for CachedProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CachedProvider").finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::UNIX_EPOCH;

    use aws_smithy_async::time::TimeSource;
    use tokio::sync::{Notify, Semaphore};
    use tokio::time::Instant;

    /// 2026-12-03T09:00:00Z.
    const START: u64 = 1_796_288_400;
    /// Far beyond any test: credentials that are never due.
    const EXPIRY: u64 = START + 100 * 24 * 3600;

    /// What the source does at one call.
    #[derive(Debug, Clone, Copy)]
    enum Step {
        /// Credentials (`AKIDTEST<call>`), at once.
        Answer,
        /// Credentials, once the test opens the gate.
        AnswerWhenOpened,
        /// An error, once the test opens the gate.
        FailWhenOpened,
        /// A panic, once the test opens the gate.
        PanicWhenOpened,
        /// A panic in `provide_credentials` itself, before it returns a future.
        PanicAtOnce,
        /// Never answers.
        Hang,
    }

    /// A credentials source the test drives: each call takes the next step of its script
    /// (the last one repeats), tells the test it started, and waits for the gate if the
    /// step says so.
    #[derive(Debug)]
    struct Scripted {
        steps: Vec<Step>,
        calls: AtomicUsize,
        started: Notify,
        gate: Semaphore,
    }

    impl Scripted {
        fn new(steps: &[Step]) -> Arc<Self> {
            Arc::new(Self {
                steps: steps.to_vec(),
                calls: AtomicUsize::new(0),
                started: Notify::new(),
                gate: Semaphore::new(0),
            })
        }
        fn calls(&self) -> usize {
            self.calls.load(Ordering::SeqCst)
        }
        /// Lets one waiting call answer.
        fn open(&self) {
            self.gate.add_permits(1);
        }
    }

    impl ProvideCredentials for Scripted {
        fn provide_credentials<'a>(&'a self) -> future::ProvideCredentials<'a>
        where
            Self: 'a,
        {
            let call = self.calls.fetch_add(1, Ordering::SeqCst);
            let step = self.steps[call.min(self.steps.len() - 1)];
            assert!(
                !matches!(step, Step::PanicAtOnce),
                "a credentials provider that panics"
            );
            future::ProvideCredentials::new(async move {
                self.started.notify_one();
                if !matches!(step, Step::Answer) {
                    self.gate.acquire().await.unwrap().forget();
                }
                match step {
                    Step::Answer | Step::AnswerWhenOpened => Ok(Credentials::new(
                        format!("AKIDTEST{call}"),
                        "secret",
                        Some("session".to_owned()),
                        Some(UNIX_EPOCH + Duration::from_secs(EXPIRY)),
                        "test",
                    )),
                    Step::FailWhenOpened => {
                        Err(CredentialsError::provider_error("the test source is down"))
                    }
                    Step::PanicWhenOpened | Step::PanicAtOnce => {
                        panic!("a credentials provider that panics")
                    }
                    Step::Hang => std::future::pending().await,
                }
            })
        }
    }

    /// A wall clock that moves with Tokio's (paused) clock.
    #[derive(Debug)]
    struct TokioWall(Instant);

    impl TimeSource for TokioWall {
        fn now(&self) -> SystemTime {
            UNIX_EPOCH + Duration::from_secs(START) + self.0.elapsed()
        }
    }

    /// A provider behind a new cache, with the wall clock following Tokio's.
    fn cached(source: &Arc<Scripted>) -> CachedProvider {
        Arc::new(SharedCredentialsCache::default()).provider(
            SharedCredentialsProvider::new(Arc::clone(source) as Arc<dyn ProvideCredentials>),
            SharedTimeSource::new(TokioWall(Instant::now())),
        )
    }

    /// A caller that waits at most `patience` for credentials.
    fn caller(
        provider: &CachedProvider,
        patience: Duration,
    ) -> tokio::task::JoinHandle<
        Result<Result<Credentials, CredentialsError>, tokio::time::error::Elapsed>,
    > {
        let provider = provider.clone();
        tokio::spawn(
            async move { tokio::time::timeout(patience, provider.provide_credentials()).await },
        )
    }

    fn key(credentials: &Credentials) -> &str {
        credentials.access_key_id()
    }

    /// `err` and its sources, `: `-separated.
    fn chain(err: &CredentialsError) -> String {
        crate::refresh::error_chain(err)
    }

    #[tokio::test(start_paused = true)]
    async fn a_caller_that_times_out_leaves_the_request_to_the_others() {
        let source = Scripted::new(&[Step::AnswerWhenOpened, Step::Answer]);
        let provider = cached(&source);
        let impatient = caller(&provider, Duration::from_secs(1));
        let patient = caller(&provider, Duration::from_secs(60));
        source.started.notified().await;
        // The impatient caller gives up after a second (paused time moves to it).
        let gave_up = impatient.await.unwrap();
        assert!(gave_up.is_err(), "{gave_up:?}");
        assert!(
            !patient.is_finished(),
            "the patient caller did not wait for the request in flight"
        );
        // The request it started goes on, and answers the patient caller.
        source.open();
        let credentials = patient.await.unwrap().unwrap().unwrap();
        assert_eq!(key(&credentials), "AKIDTEST0");
        assert_eq!(source.calls(), 1, "one request for both callers");
        assert_eq!(provider.cache.requests_in_flight(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn a_dropped_caller_leaves_the_answer_to_the_next_one() {
        let source = Scripted::new(&[Step::AnswerWhenOpened, Step::Answer]);
        let provider = cached(&source);
        let only = caller(&provider, Duration::from_secs(60));
        source.started.notified().await;
        only.abort();
        assert!(only.await.unwrap_err().is_cancelled());
        source.open();
        // Whether the request has answered yet or not, the next caller gets its answer.
        let next = caller(&provider, Duration::from_secs(60));
        let credentials = next.await.unwrap().unwrap().unwrap();
        assert_eq!(key(&credentials), "AKIDTEST0");
        assert_eq!(source.calls(), 1, "the request was made again");
        // Answered and cached: later callers get it without a request.
        let later = caller(&provider, Duration::from_secs(60));
        assert_eq!(key(&later.await.unwrap().unwrap().unwrap()), "AKIDTEST0");
        assert_eq!(source.calls(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_failed_request_is_the_answer_for_a_second_then_asked_again() {
        let source = Scripted::new(&[Step::FailWhenOpened, Step::Answer]);
        let provider = cached(&source);
        let only = caller(&provider, Duration::from_secs(60));
        source.started.notified().await;
        only.abort();
        assert!(only.await.unwrap_err().is_cancelled());
        source.open();
        // The next caller gets the failure of the request in flight...
        let next = caller(&provider, Duration::from_secs(60));
        let err = next.await.unwrap().unwrap().unwrap_err();
        assert!(
            chain(&err).contains("the test source is down"),
            "{}",
            chain(&err)
        );
        assert_eq!(source.calls(), 1, "the request was made again");
        // ...and so does a caller within the second after it (a failing source is not
        // asked once per pool)...
        tokio::time::advance(Duration::from_millis(500)).await;
        let within = caller(&provider, Duration::from_secs(60));
        assert!(within.await.unwrap().unwrap().is_err());
        assert_eq!(source.calls(), 1);
        // ...and the next caller after that asks again.
        tokio::time::advance(Duration::from_millis(500)).await;
        let after = caller(&provider, Duration::from_secs(60));
        assert_eq!(key(&after.await.unwrap().unwrap().unwrap()), "AKIDTEST1");
        assert_eq!(source.calls(), 2);
        assert_eq!(provider.cache.requests_in_flight(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn a_panicking_provider_gives_every_caller_an_error() {
        for panics in [Step::PanicWhenOpened, Step::PanicAtOnce] {
            let source = Scripted::new(&[panics, Step::Answer]);
            let provider = cached(&source);
            let callers = [
                caller(&provider, Duration::from_secs(60)),
                caller(&provider, Duration::from_secs(60)),
            ];
            if matches!(panics, Step::PanicWhenOpened) {
                source.started.notified().await;
                source.open();
            }
            for caller in callers {
                // An error, not a panic in the caller, nor a wait until its timeout.
                let err = caller.await.unwrap().unwrap().unwrap_err();
                assert!(
                    chain(&err).contains("the credentials provider panicked"),
                    "{panics:?}: {}",
                    chain(&err)
                );
            }
            assert_eq!(source.calls(), 1);
            assert_eq!(provider.cache.requests_in_flight(), 0);
            tokio::time::advance(REUSE_RECENT).await;
            let after = caller(&provider, Duration::from_secs(60));
            assert_eq!(key(&after.await.unwrap().unwrap().unwrap()), "AKIDTEST1");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_hanging_request_ends_at_its_own_timeout() {
        let source = Scripted::new(&[Step::Hang, Step::Answer]);
        let provider = cached(&source);
        let started = Instant::now();
        let patient = caller(&provider, Duration::from_secs(600));
        let err = patient.await.unwrap().unwrap().unwrap_err();
        assert_eq!(started.elapsed(), FETCH_TIMEOUT);
        assert!(chain(&err).contains("timed out"), "{}", chain(&err));
        assert_eq!(provider.cache.requests_in_flight(), 0);
        tokio::time::advance(REUSE_RECENT).await;
        let after = caller(&provider, Duration::from_secs(600));
        assert_eq!(key(&after.await.unwrap().unwrap().unwrap()), "AKIDTEST1");
    }

    /// A request in flight on one runtime holds up no caller on another, and goes when its
    /// runtime shuts down.
    #[test]
    fn a_request_belongs_to_the_runtime_that_started_it() {
        let runtime = || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .start_paused(true)
                .build()
                .unwrap()
        };
        let source = Scripted::new(&[Step::Hang, Step::Answer]);
        let provider = Arc::new(SharedCredentialsCache::default()).provider(
            SharedCredentialsProvider::new(Arc::clone(&source) as Arc<dyn ProvideCredentials>),
            SharedTimeSource::default(),
        );
        // A runtime that runs only inside `block_on` starts a request, and stops being
        // driven while it is in flight.
        let first = runtime();
        first.block_on(async {
            let _waits = caller(&provider, Duration::from_secs(600));
            source.started.notified().await;
        });
        assert_eq!(provider.cache.requests_in_flight(), 1);
        // A caller on another runtime does not wait for it.
        let second = runtime();
        let credentials = second
            .block_on(async { caller(&provider, Duration::from_secs(60)).await })
            .unwrap()
            .expect("the caller waited for another runtime's request")
            .unwrap();
        assert_eq!(key(&credentials), "AKIDTEST1");
        // The first runtime shuts down: its request goes with it.
        drop(first);
        assert_eq!(provider.cache.requests_in_flight(), 0);
    }

    /// Two runtimes ask at once at a rotation (each has its own request): a failure that
    /// lands after the other runtime's credentials does not replace them in the cache.
    #[test]
    fn a_failure_does_not_replace_another_runtimes_credentials() {
        let runtime = || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap()
        };
        let source = Scripted::new(&[Step::FailWhenOpened, Step::Answer]);
        let provider = Arc::new(SharedCredentialsCache::default()).provider(
            SharedCredentialsProvider::new(Arc::clone(&source) as Arc<dyn ProvideCredentials>),
            // Dated by the test, not the real date: the credentials must not be due.
            SharedTimeSource::new(TokioWall(Instant::now())),
        );
        // The first runtime's request is in flight (it will fail)...
        let first = runtime();
        let failing = {
            let _on_first = first.enter();
            caller(&provider, Duration::from_secs(60))
        };
        first.block_on(source.started.notified());
        // ...when the second runtime's request answers.
        let second = runtime();
        let credentials = second
            .block_on(async { caller(&provider, Duration::from_secs(60)).await })
            .unwrap()
            .unwrap()
            .unwrap();
        assert_eq!(key(&credentials), "AKIDTEST1");
        // Then the first request fails: its own callers get its error...
        source.open();
        let err = first.block_on(failing).unwrap().unwrap().unwrap_err();
        assert!(
            chain(&err).contains("the test source is down"),
            "{}",
            chain(&err)
        );
        // ...and the next caller still gets the good credentials, without a request.
        let next = second
            .block_on(async { caller(&provider, Duration::from_secs(60)).await })
            .unwrap()
            .unwrap();
        assert_eq!(
            key(&next.expect("the failure replaced good credentials")),
            "AKIDTEST1"
        );
        assert_eq!(source.calls(), 2);
    }
}
