//! Logs on stderr, set up only when something is logged.
//!
//! `tracing_subscriber`'s registry allocates its span slab when it is created, about
//! a tenth of what `rds-iam token` costs from `main` on (valgrind callgrind). Most runs
//! log nothing at the default level (warnings), so [`init`] installs a [`LazySubscriber`]
//! that answers the level question itself and builds the real subscriber on the first
//! event or span that passes it.

use std::io::IsTerminal as _;
use std::sync::OnceLock;

use tracing::dispatcher::WeakDispatch;
use tracing::level_filters::LevelFilter;
use tracing::span;
use tracing::subscriber::Interest;
use tracing::{Event, Metadata, Subscriber};
use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::SubscriberExt as _;

/// Logs go to stderr: `-v` (info), `-vv` (debug) or `-vvv` (trace, kept in debug builds
/// only: release builds leave trace events out) if given, else what `RUST_LOG` says
/// (`LEVEL` and `TARGET=LEVEL` directives, comma-separated), else warnings only. A
/// `RUST_LOG` that does not parse is reported, and warnings are shown.
pub(crate) fn init(verbose: u8) {
    let (filter, bad_rust_log) = level_filter(verbose, std::env::var("RUST_LOG").ok().as_deref());
    let with_target = verbose >= 2;
    let lazy = LazySubscriber::new(filter, move |filter| {
        let layer = tracing_subscriber::fmt::layer()
            .with_writer(std::io::stderr)
            .with_ansi(std::io::stderr().is_terminal())
            .without_time()
            .with_target(with_target);
        Box::new(tracing_subscriber::registry().with(layer).with(filter))
    });
    // Only fails when a subscriber is already set, which nothing else here does.
    let _ = tracing::subscriber::set_global_default(lazy);
    if let Some(err) = bad_rust_log {
        tracing::warn!(
            %err,
            "RUST_LOG ignored: it takes LEVEL or TARGET=LEVEL directives, comma-separated \
             (e.g. RUST_LOG=aws_config=debug); showing warnings only"
        );
    }
}

/// The filter for `-v` count and `RUST_LOG`, and why `RUST_LOG` was ignored, if it was.
fn level_filter(verbose: u8, rust_log: Option<&str>) -> (Targets, Option<String>) {
    let level = match verbose {
        0 => LevelFilter::WARN,
        1 => LevelFilter::INFO,
        2 => LevelFilter::DEBUG,
        _ => LevelFilter::TRACE,
    };
    match rust_log {
        // RUST_LOG's directives, parsed only when it is set and no `-v` was given.
        Some(directives) if verbose == 0 && !directives.trim().is_empty() => {
            // `Targets` reads an `EnvFilter` span filter (`aws_config[credentials]=debug`)
            // as a target named `aws_config[credentials]` that matches nothing: it would
            // hide every log, warnings included, without a word.
            let parsed = if directives.contains(['[', ']', '{', '}']) {
                Err("span and field filters ([...]) are not supported".to_owned())
            } else {
                directives.parse::<Targets>().map_err(|err| err.to_string())
            };
            match parsed {
                Ok(targets) => (targets, None),
                Err(err) => (Targets::new().with_default(LevelFilter::WARN), Some(err)),
            }
        }
        _ => (Targets::new().with_default(level), None),
    }
}

/// The most verbose level `filter` lets through: what the subscriber reports as its
/// level hint, so that `tracing`'s macros skip anything below it without asking.
fn max_level(filter: &Targets) -> LevelFilter {
    filter
        .iter()
        .map(|(_, level)| level)
        .chain(filter.default_level())
        .max()
        .unwrap_or(LevelFilter::OFF)
}

type Inner = Box<dyn Subscriber + Send + Sync>;
type Build = Box<dyn Fn(Targets) -> Inner + Send + Sync>;

/// A subscriber that builds its inner subscriber on first use. Its level hint comes from
/// the filter alone, so events and spans below that level never reach it and never build
/// anything; nor do callsites the filter turns down. Everything else is handed to the
/// inner subscriber, `current_span` included (`Span::current()`, `in_current_span()`).
/// `downcast_raw` keeps its default (implementing it takes `unsafe`, which this crate
/// forbids): `dispatch.downcast_ref::<Registry>()` finds nothing, so tools that need it
/// (`tracing-error`'s `SpanTrace`) cannot be added as they are.
pub(crate) struct LazySubscriber {
    filter: Targets,
    hint: LevelFilter,
    build: Build,
    inner: OnceLock<Inner>,
    dispatch: OnceLock<WeakDispatch>,
}

impl LazySubscriber {
    /// A subscriber that calls `build(filter)` the first time it is needed.
    pub(crate) fn new(
        filter: Targets,
        build: impl Fn(Targets) -> Inner + Send + Sync + 'static,
    ) -> Self {
        Self {
            hint: max_level(&filter),
            filter,
            build: Box::new(build),
            inner: OnceLock::new(),
            dispatch: OnceLock::new(),
        }
    }

    /// Whether the inner subscriber has been built.
    #[cfg(test)]
    pub(crate) fn is_built(&self) -> bool {
        self.inner.get().is_some()
    }

    fn inner(&self) -> &Inner {
        self.inner.get_or_init(|| {
            let inner = (self.build)(self.filter.clone());
            if let Some(dispatch) = self.dispatch.get().and_then(WeakDispatch::upgrade) {
                inner.on_register_dispatch(&dispatch);
            }
            inner
        })
    }
}

impl Subscriber for LazySubscriber {
    fn on_register_dispatch(&self, dispatch: &tracing::Dispatch) {
        let _ = self.dispatch.set(dispatch.downgrade());
        if let Some(inner) = self.inner.get() {
            inner.on_register_dispatch(dispatch);
        }
    }

    fn register_callsite(&self, metadata: &'static Metadata<'static>) -> Interest {
        // The inner subscriber's `Targets` layer answers never for these too; asking the
        // filter first keeps it unbuilt when, say, `RUST_LOG=rds_iam=debug` and a debug
        // callsite of another crate is reached.
        if !self
            .filter
            .would_enable(metadata.target(), metadata.level())
        {
            return Interest::never();
        }
        self.inner().register_callsite(metadata)
    }

    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        self.filter
            .would_enable(metadata.target(), metadata.level())
            && self.inner().enabled(metadata)
    }

    fn current_span(&self) -> tracing_core::span::Current {
        // No span exists before the inner subscriber does.
        self.inner
            .get()
            .map_or_else(tracing_core::span::Current::none, |inner| {
                inner.current_span()
            })
    }

    fn max_level_hint(&self) -> Option<LevelFilter> {
        Some(self.hint)
    }

    fn new_span(&self, span: &span::Attributes<'_>) -> span::Id {
        self.inner().new_span(span)
    }

    fn record(&self, span: &span::Id, values: &span::Record<'_>) {
        self.inner().record(span, values);
    }

    fn record_follows_from(&self, span: &span::Id, follows: &span::Id) {
        self.inner().record_follows_from(span, follows);
    }

    fn event_enabled(&self, event: &Event<'_>) -> bool {
        self.inner().event_enabled(event)
    }

    fn event(&self, event: &Event<'_>) {
        self.inner().event(event);
    }

    fn enter(&self, span: &span::Id) {
        self.inner().enter(span);
    }

    fn exit(&self, span: &span::Id) {
        self.inner().exit(span);
    }

    fn clone_span(&self, id: &span::Id) -> span::Id {
        self.inner().clone_span(id)
    }

    fn try_close(&self, id: span::Id) -> bool {
        self.inner().try_close(id)
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::sync::{Arc, Mutex};

    use super::*;

    /// Collects what the fmt layer writes.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl Captured {
        fn text(&self) -> String {
            String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
        }
    }

    fn lazy(verbose: u8, rust_log: Option<&str>, out: &Captured) -> Arc<LazySubscriber> {
        let (filter, err) = level_filter(verbose, rust_log);
        assert!(err.is_none(), "{err:?}");
        let out = out.clone();
        Arc::new(LazySubscriber::new(filter, move |filter| {
            let out = out.clone();
            let layer = tracing_subscriber::fmt::layer()
                .with_writer(move || out.clone())
                .with_ansi(false)
                .without_time();
            Box::new(tracing_subscriber::registry().with(layer).with(filter))
        }))
    }

    #[test]
    fn nothing_is_built_until_something_is_logged() {
        let out = Captured::default();
        let subscriber = lazy(0, None, &out);
        tracing::subscriber::with_default(subscriber.clone(), || {
            tracing::info!("not at the default level");
            tracing::debug!("nor this");
            let _span = tracing::info_span!("quiet").entered();
            assert!(!subscriber.is_built());
            tracing::warn!(code = 7, "shown");
            assert!(subscriber.is_built());
        });
        let text = out.text();
        assert!(text.contains("WARN") && text.contains("shown") && text.contains("code=7"));
        assert!(!text.contains("not at the default level"), "{text}");
    }

    #[test]
    fn verbose_and_rust_log_set_the_level() {
        let out = Captured::default();
        let subscriber = lazy(2, None, &out);
        tracing::subscriber::with_default(subscriber, || {
            tracing::debug!("debug shown");
            tracing::trace!("trace hidden");
        });
        let text = out.text();
        assert!(
            text.contains("debug shown") && !text.contains("trace hidden"),
            "{text}"
        );

        let out = Captured::default();
        let subscriber = lazy(0, Some("warn,rds_iam=info"), &out);
        tracing::subscriber::with_default(subscriber, || {
            tracing::info!("ours");
            tracing::info!(target: "aws_config", "theirs");
        });
        let text = out.text();
        assert!(text.contains("ours") && !text.contains("theirs"), "{text}");
    }

    #[test]
    fn spans_reach_the_events_inside_them() {
        let out = Captured::default();
        let subscriber = lazy(1, None, &out);
        tracing::subscriber::with_default(subscriber, || {
            let _span = tracing::info_span!("signing", host = "db").entered();
            tracing::info!("inside");
        });
        assert!(
            out.text().contains("signing{host=\"db\"}: "),
            "{}",
            out.text()
        );
    }

    /// `Span::current()` (and so `in_current_span()`, which aws-config's assume-role
    /// provider uses) sees the span entered through the lazy subscriber.
    #[test]
    fn the_current_span_is_known() {
        let out = Captured::default();
        let subscriber = lazy(1, None, &out);
        tracing::subscriber::with_default(subscriber, || {
            assert!(tracing::Span::current().is_none());
            let span = tracing::info_span!("signing");
            let _entered = span.clone().entered();
            let current = tracing::Span::current();
            assert_eq!(current.metadata().map(Metadata::name), Some("signing"));
            assert_eq!(current.id(), span.id());
        });
    }

    /// A callsite the filter turns down builds nothing, even at a level the hint lets
    /// through.
    #[test]
    fn callsites_the_filter_refuses_build_nothing() {
        let out = Captured::default();
        let subscriber = lazy(0, Some("warn,rds_iam=debug"), &out);
        tracing::subscriber::with_default(subscriber.clone(), || {
            tracing::debug!(target: "aws_config", "not for us");
            assert!(!subscriber.is_built());
            tracing::debug!("ours");
            assert!(subscriber.is_built());
        });
        let text = out.text();
        assert!(
            text.contains("ours") && !text.contains("not for us"),
            "{text}"
        );
    }

    #[test]
    fn a_bad_rust_log_is_reported_and_warnings_still_show() {
        let (filter, err) = level_filter(0, Some("aws_config=loud"));
        assert!(err.is_some());
        assert_eq!(max_level(&filter), LevelFilter::WARN);
        // EnvFilter's span filters would parse as targets that match nothing, which
        // would silence everything, warnings included.
        for spans in ["aws_config[credentials]=debug", "[load_config_file]=debug"] {
            let (filter, err) = level_filter(0, Some(spans));
            assert!(err.is_some_and(|err| err.contains("span")), "{spans}");
            assert!(filter.would_enable("rds_iam", &tracing::Level::WARN));
        }
        // `-v` wins over RUST_LOG, which is then not parsed at all.
        let (filter, err) = level_filter(1, Some("aws_config=loud"));
        assert!(err.is_none());
        assert_eq!(max_level(&filter), LevelFilter::INFO);
    }
}
