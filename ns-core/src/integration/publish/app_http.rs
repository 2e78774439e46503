//! Per-application HTTP integrations: each device event POSTed to the HTTP
//! integration its application has in storage (created through
//! `ApplicationService.CreateHttpIntegration`), as ChirpStack does.
//!
//! The design keeps the radio path free of the database and of HTTP:
//!
//! - [`ApplicationHttpSink::publish`] (the pipeline's [`EventSink`]) only
//!   hands a copy of the event to a bounded channel; when the channel is
//!   full the event is dropped and counted.
//! - One resolver task takes the events in order. It finds the
//!   application's integration through a cache (application id → the
//!   stored HTTP settings, or none), read from storage at most once per
//!   [`cache_ttl`](ApplicationHttpSettings::cache_ttl) per application, so
//!   a created, changed or deleted integration takes effect within that
//!   time without a database read per event. Applications without an
//!   integration are cached too (and counted).
//! - Each application with an integration gets its own [`HttpPublisher`]
//!   (bounded queue, worker task, retries with backoff), started from the
//!   stored settings; when the settings change or the integration is
//!   deleted, the old publisher is shut down in the background, delivering
//!   what it has queued. All of them count in one set of counters.
//! - A storage error is logged at most once per ten seconds;
//!   the application's last known settings, if any, keep being used until
//!   the read is retried (after at most a second); without any, its events
//!   are dropped and counted. Settings the HTTP client cannot use (an
//!   `https://` endpoint, a bad header) are logged likewise and their
//!   events dropped and counted.
//! - Entries of applications without events for several TTLs are
//!   forgotten (their publisher shut down), so the cache stays bounded by
//!   the active applications.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tracing::{debug, warn};
use uuid::Uuid;

use super::{Counters, HttpLimits, HttpPublisher, PublishError, bump};
use crate::integration::Event;
use crate::pipeline::EventSink;
use crate::storage::integration::{HttpIntegrationConfig, IntegrationConfig, IntegrationKind};
use crate::storage::{Storage, StorageError};

/// The shortest interval between two warnings about the same kind of
/// problem (storage errors, unusable settings).
const ERROR_LOG_INTERVAL: Duration = Duration::from_secs(10);
/// The longest wait before a failed storage read is retried.
const ERROR_RETRY: Duration = Duration::from_secs(1);
/// How long a replaced publisher may take to deliver what it has queued.
const RETIRE_WAIT: Duration = Duration::from_secs(10);
/// Entries unused for this many TTLs are forgotten.
const IDLE_TTLS: u32 = 6;

/// How the per-application HTTP integrations are run.
///
/// ```
/// use std::time::Duration;
/// use ns_core::integration::publish::ApplicationHttpSettings;
/// let settings = ApplicationHttpSettings::default();
/// assert_eq!(settings.cache_ttl, Duration::from_secs(10));
/// assert_eq!(settings.limits.queue_capacity, 1_000);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct ApplicationHttpSettings {
    /// Events waiting for the resolver task before new ones are dropped.
    pub queue_capacity: usize,
    /// How long an application's integration (or its absence) read from
    /// storage is used before it is read again.
    pub cache_ttl: Duration,
    /// The queue and retry limits of each application's publisher.
    pub limits: HttpLimits,
}

impl Default for ApplicationHttpSettings {
    fn default() -> Self {
        Self {
            queue_capacity: 10_000,
            cache_ttl: Duration::from_secs(10),
            limits: HttpLimits {
                queue_capacity: 1_000,
                ..HttpLimits::default()
            },
        }
    }
}

impl ApplicationHttpSettings {
    /// These settings with `cache_ttl` instead.
    #[must_use]
    pub const fn with_cache_ttl(mut self, cache_ttl: Duration) -> Self {
        self.cache_ttl = cache_ttl;
        self
    }

    /// These settings with `limits` for each application's publisher.
    #[must_use]
    pub const fn with_limits(mut self, limits: HttpLimits) -> Self {
        self.limits = limits;
        self
    }

    /// These settings with a resolver queue of `queue_capacity` events.
    #[must_use]
    pub const fn with_queue_capacity(mut self, queue_capacity: usize) -> Self {
        self.queue_capacity = queue_capacity;
        self
    }
}

/// What the per-application HTTP integrations have done since the sink
/// started; all counts only grow.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ApplicationHttpCounters {
    /// Events handed to an application's publisher.
    pub queued: u64,
    /// Deliveries (one per event and endpoint) answered with a 2xx.
    pub delivered: u64,
    /// Deliveries given up (a 4xx or 3xx answer, or retries exhausted).
    pub failed: u64,
    /// Requests repeated after a 5xx answer or a connection error.
    pub retried: u64,
    /// Events dropped: the sink's or an application's queue was full, the
    /// application's integration could not be read, or its settings
    /// cannot be used.
    pub dropped: u64,
    /// Events of applications without an HTTP integration (or of no
    /// application: no `deviceInfo`, or an application id that is not a
    /// UUID).
    pub no_integration: u64,
    /// Storage reads of an application's integration that failed.
    pub storage_errors: u64,
    /// Integrations whose settings the HTTP client refused (started
    /// publishers that failed).
    pub invalid_configs: u64,
}

/// The sink's own counters (the publishers' are in [`Counters`]).
#[derive(Debug, Default)]
struct SinkCounters {
    queued: AtomicU64,
    dropped: AtomicU64,
    no_integration: AtomicU64,
    storage_errors: AtomicU64,
    invalid_configs: AtomicU64,
}

/// Both sets of counters, shared by the handle and the tasks, and whether
/// any application has an HTTP integration.
#[derive(Debug)]
struct Shared {
    sink: SinkCounters,
    publishers: Arc<Counters>,
    /// Read from storage once per TTL; while false, events are not even
    /// copied (true until the first read says otherwise).
    any: AtomicBool,
}

impl Default for Shared {
    fn default() -> Self {
        Self {
            sink: SinkCounters::default(),
            publishers: Arc::default(),
            any: AtomicBool::new(true),
        }
    }
}

impl Shared {
    fn snapshot(&self) -> ApplicationHttpCounters {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let publishers = self.publishers.snapshot();
        ApplicationHttpCounters {
            queued: get(&self.sink.queued),
            delivered: publishers.published,
            failed: publishers.failed,
            retried: publishers.retried,
            dropped: get(&self.sink.dropped) + publishers.dropped_queue_full,
            no_integration: get(&self.sink.no_integration),
            storage_errors: get(&self.sink.storage_errors),
            invalid_configs: get(&self.sink.invalid_configs),
        }
    }
}

/// Delivers each event to the HTTP integration its application has in
/// storage (`ApplicationService.CreateHttpIntegration`): POSTed to each
/// endpoint with `?event={kind}`, the integration's headers, in its
/// encoding.
///
/// [`publish`](Self::publish) only queues a copy of the event (a full
/// queue drops and counts it). A resolver task looks the application up in
/// a cache (application id → HTTP settings or none, read from storage at
/// most once per [`cache_ttl`](ApplicationHttpSettings::cache_ttl)) and
/// hands the event to that application's own [`HttpPublisher`] (bounded
/// queue, retries with backoff), restarted when the settings change and
/// shut down when the integration is deleted. Storage errors and unusable
/// settings are logged at most every ten seconds and their events dropped
/// and counted; while a read fails, the last settings known keep being
/// used. Dropping the sink ends the resolver and every application's
/// publisher, losing what is queued.
///
/// ```no_run
/// # async fn run(storage: ns_core::storage::Storage, event: ns_core::integration::Event) {
/// use ns_core::integration::publish::{ApplicationHttpSettings, ApplicationHttpSink};
///
/// let sink = ApplicationHttpSink::start(storage, ApplicationHttpSettings::default());
/// let _ = sink.publish(&event); // never waits
/// println!("{:?}", sink.counters());
/// # }
/// ```
#[derive(Debug)]
pub struct ApplicationHttpSink {
    queue: mpsc::Sender<Event>,
    shared: Arc<Shared>,
    task: JoinHandle<()>,
}

impl ApplicationHttpSink {
    /// Starts the resolver task, reading integrations from `storage`.
    ///
    /// Must be called within a tokio runtime.
    pub fn start(storage: Storage, settings: ApplicationHttpSettings) -> Self {
        let (queue, events) = mpsc::channel(settings.queue_capacity.max(1));
        let shared = Arc::new(Shared::default());
        let resolver = Resolver {
            storage,
            ttl: settings.cache_ttl,
            limits: settings.limits,
            shared: Arc::clone(&shared),
            cache: HashMap::new(),
            last_sweep: Instant::now(),
            storage_log: RateLimitedLog::default(),
            config_log: RateLimitedLog::default(),
        };
        let task = tokio::spawn(resolver.run(events));
        Self {
            queue,
            shared,
            task,
        }
    }

    /// Queues `event` for its application's integration. Never waits.
    ///
    /// # Errors
    /// [`PublishError::QueueFull`] when the queue is full (the event is
    /// dropped and counted).
    pub fn publish(&self, event: &Event) -> Result<(), PublishError> {
        if !self.shared.any.load(Ordering::Relaxed) {
            self.shared
                .sink
                .no_integration
                .fetch_add(1, Ordering::Relaxed);
            return Ok(());
        }
        if self.queue.try_send(event.clone()).is_ok() {
            return Ok(());
        }
        let dropped = &self.shared.sink.dropped;
        if bump(dropped) {
            warn!(
                kind = %event.kind(),
                dropped = dropped.load(Ordering::Relaxed),
                "application HTTP integrations: queue full, events dropped"
            );
        }
        Err(PublishError::QueueFull)
    }

    /// Whether any application had an HTTP integration at the last read
    /// (true before the first): while not, [`publish`](Self::publish)
    /// only counts events.
    pub fn is_active(&self) -> bool {
        self.shared.any.load(Ordering::Relaxed)
    }

    /// The counts so far, the publishers of every application included.
    pub fn counters(&self) -> ApplicationHttpCounters {
        self.shared.snapshot()
    }
}

impl Drop for ApplicationHttpSink {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl EventSink for ApplicationHttpSink {
    fn publish(&self, event: &Event) {
        // Dropped events are counted by the sink.
        let _ = Self::publish(self, event);
    }
}

/// What is known of an application's HTTP integration.
enum State {
    /// It has none.
    Absent,
    /// Its publisher, and the settings it was started from.
    Active {
        config: HttpIntegrationConfig,
        publisher: HttpPublisher,
    },
    /// Settings the HTTP client refused.
    Invalid(HttpIntegrationConfig),
    /// Nothing yet: the storage read failed.
    Unknown,
}

/// A cached state and when it is to be read again.
struct Entry {
    state: State,
    expires: Instant,
}

/// Warns at most once per [`ERROR_LOG_INTERVAL`], saying how many
/// occurrences were not logged.
#[derive(Default)]
struct RateLimitedLog {
    last: Option<Instant>,
    suppressed: u64,
}

impl RateLimitedLog {
    /// Whether to log now, and how many were suppressed since the last.
    fn check(&mut self, now: Instant) -> Option<u64> {
        if self
            .last
            .is_some_and(|last| now.duration_since(last) < ERROR_LOG_INTERVAL)
        {
            self.suppressed += 1;
            return None;
        }
        self.last = Some(now);
        Some(std::mem::take(&mut self.suppressed))
    }
}

/// The resolver task's state.
struct Resolver {
    storage: Storage,
    ttl: Duration,
    limits: HttpLimits,
    shared: Arc<Shared>,
    cache: HashMap<Uuid, Entry>,
    last_sweep: Instant,
    storage_log: RateLimitedLog,
    config_log: RateLimitedLog,
}

impl Resolver {
    async fn run(mut self, mut events: mpsc::Receiver<Event>) {
        // The first tick is at once.
        let mut refresh = tokio::time::interval(self.ttl.max(Duration::from_millis(1)));
        refresh.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                event = events.recv() => {
                    let Some(event) = event else { return };
                    self.handle(&event).await;
                    self.sweep();
                }
                _ = refresh.tick() => self.refresh_any().await,
            }
        }
    }

    /// Reads whether any application has an HTTP integration. While none
    /// has, the sink drops events unseen and the cache is emptied (its
    /// publishers retired), so that the first events after an integration
    /// is created read it afresh.
    async fn refresh_any(&mut self) {
        match self
            .storage
            .has_application_integrations(IntegrationKind::Http)
            .await
        {
            Ok(any) => {
                self.shared.any.store(any, Ordering::Relaxed);
                if !any {
                    for (_, entry) in self.cache.drain() {
                        retire(entry.state);
                    }
                }
            }
            // What was known stays: events keep flowing if they did.
            Err(error) => {
                self.shared
                    .sink
                    .storage_errors
                    .fetch_add(1, Ordering::Relaxed);
                if let Some(suppressed) = self.storage_log.check(Instant::now()) {
                    warn!(
                        %error,
                        suppressed,
                        "application HTTP integrations: storage read failed"
                    );
                }
            }
        }
    }

    /// Hands `event` to its application's publisher, if it has one.
    async fn handle(&mut self, event: &Event) {
        let shared = Arc::clone(&self.shared);
        let counters = &shared.sink;
        let Some(application_id) = event
            .device_info()
            .and_then(|info| Uuid::parse_str(&info.application_id).ok())
        else {
            counters.no_integration.fetch_add(1, Ordering::Relaxed);
            return;
        };
        let state = self.resolve(application_id).await;
        match state {
            State::Active { publisher, .. } => {
                // A full queue is counted by the publisher.
                if publisher.publish(event).is_ok() {
                    counters.queued.fetch_add(1, Ordering::Relaxed);
                }
            }
            State::Absent => {
                counters.no_integration.fetch_add(1, Ordering::Relaxed);
            }
            State::Invalid(_) | State::Unknown => {
                counters.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// The application's state, read from storage if not cached or
    /// expired.
    async fn resolve(&mut self, application_id: Uuid) -> &State {
        let now = Instant::now();
        let fresh = self
            .cache
            .get(&application_id)
            .is_some_and(|entry| now < entry.expires);
        if !fresh {
            let read = self
                .storage
                .get_application_integration(application_id, IntegrationKind::Http)
                .await;
            let now = Instant::now();
            match read {
                Ok(integration) => {
                    let config = match integration.config {
                        IntegrationConfig::Http(config) => Some(config),
                        #[allow(unreachable_patterns)]
                        _ => None,
                    };
                    self.update(application_id, config, now);
                }
                Err(StorageError::NotFound(_)) => self.update(application_id, None, now),
                Err(error) => self.read_failed(application_id, &error, now),
            }
        }
        // Every branch above leaves an entry.
        &self
            .cache
            .entry(application_id)
            .or_insert_with(|| Entry {
                state: State::Unknown,
                expires: now,
            })
            .state
    }

    /// Caches what storage said, starting, keeping or retiring the
    /// application's publisher.
    fn update(
        &mut self,
        application_id: Uuid,
        config: Option<HttpIntegrationConfig>,
        now: Instant,
    ) {
        let expires = now + self.ttl;
        if let Some(entry) = self.cache.get_mut(&application_id) {
            let unchanged = match (&entry.state, &config) {
                (State::Active { config: old, .. } | State::Invalid(old), Some(new)) => old == new,
                (State::Absent, None) => true,
                _ => false,
            };
            if unchanged {
                entry.expires = expires;
                return;
            }
        }
        let state = match config {
            None => State::Absent,
            Some(config) => self.start_publisher(application_id, config, now),
        };
        debug!(
            application_id = %application_id,
            active = matches!(state, State::Active { .. }),
            "application HTTP integration (re)loaded"
        );
        if let Some(old) = self.cache.insert(application_id, Entry { state, expires }) {
            retire(old.state);
        }
    }

    /// A publisher for `config`, or [`State::Invalid`] (logged and counted)
    /// when the settings cannot be used.
    fn start_publisher(
        &mut self,
        application_id: Uuid,
        config: HttpIntegrationConfig,
        now: Instant,
    ) -> State {
        match HttpPublisher::start_application_counted(
            &config,
            self.limits,
            Arc::clone(&self.shared.publishers),
        ) {
            Ok(publisher) => State::Active { config, publisher },
            Err(error) => {
                self.shared
                    .sink
                    .invalid_configs
                    .fetch_add(1, Ordering::Relaxed);
                if let Some(suppressed) = self.config_log.check(now) {
                    warn!(
                        application_id = %application_id,
                        %error,
                        suppressed,
                        "application HTTP integration cannot be used: its events are dropped"
                    );
                }
                State::Invalid(config)
            }
        }
    }

    /// Logs (rate-limited) and counts a failed read; what was known stays
    /// in use until the read is retried.
    fn read_failed(&mut self, application_id: Uuid, error: &StorageError, now: Instant) {
        self.shared
            .sink
            .storage_errors
            .fetch_add(1, Ordering::Relaxed);
        if let Some(suppressed) = self.storage_log.check(now) {
            warn!(
                application_id = %application_id,
                %error,
                suppressed,
                "application HTTP integration: storage read failed"
            );
        }
        let expires = now + self.ttl.min(ERROR_RETRY);
        self.cache
            .entry(application_id)
            .and_modify(|entry| entry.expires = expires)
            .or_insert(Entry {
                state: State::Unknown,
                expires,
            });
    }

    /// Forgets, once per TTL, the applications without events for
    /// several TTLs.
    fn sweep(&mut self) {
        let now = Instant::now();
        if now.duration_since(self.last_sweep) < self.ttl {
            return;
        }
        self.last_sweep = now;
        let idle = self.ttl * IDLE_TTLS;
        let forgotten: Vec<Uuid> = self
            .cache
            .iter()
            .filter(|(_, entry)| now.saturating_duration_since(entry.expires) > idle)
            .map(|(id, _)| *id)
            .collect();
        for id in forgotten {
            if let Some(entry) = self.cache.remove(&id) {
                retire(entry.state);
            }
        }
    }
}

/// Lets a replaced publisher deliver what it has queued, in the
/// background.
fn retire(state: State) {
    if let State::Active { publisher, .. } = state {
        tokio::spawn(publisher.shutdown(RETIRE_WAIT));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_limited_log_logs_once_per_interval_and_counts_the_rest() {
        let mut log = RateLimitedLog::default();
        let start = Instant::now();
        assert_eq!(log.check(start), Some(0));
        assert_eq!(log.check(start + Duration::from_secs(1)), None);
        assert_eq!(log.check(start + Duration::from_secs(2)), None);
        assert_eq!(log.check(start + ERROR_LOG_INTERVAL), Some(2));
    }
}
