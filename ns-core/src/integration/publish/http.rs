//! The HTTP integration's driver: a bounded queue and one worker task that
//! POSTs each event to every endpoint, retrying what may succeed later.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use http_body_util::{BodyExt as _, Full};
use hyper::body::Bytes;
use hyper::header::{CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue};
use hyper::{Request, Uri};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tracing::{debug, warn};

use super::{Counters, PublishConfigError, PublishError, PublisherCounters, bump};
use crate::config::HttpIntegration;
use crate::integration::{
    Encoding, Event, EventKind, content_type, http_endpoints, http_event_url,
};
use crate::storage::integration::HttpIntegrationConfig;

/// The HTTP integration's queue and retry limits.
///
/// ```
/// use ns_core::integration::publish::HttpLimits;
/// let limits = HttpLimits::default();
/// assert_eq!(limits.max_retries, 5);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct HttpLimits {
    /// Events waiting for the worker before new ones are dropped.
    pub queue_capacity: usize,
    /// Repeats of a request after a 5xx answer or a connection error
    /// before the delivery is given up.
    pub max_retries: u32,
    /// The wait before the first repeat; it doubles up to `max_backoff`.
    pub min_backoff: Duration,
    /// The longest wait between repeats.
    pub max_backoff: Duration,
    /// The time a request may take, answer included (ChirpStack: 5 s).
    pub timeout: Duration,
}

impl Default for HttpLimits {
    fn default() -> Self {
        Self {
            queue_capacity: 10_000,
            max_retries: 5,
            min_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(60),
            timeout: Duration::from_secs(5),
        }
    }
}

/// One encoded event waiting for the worker.
#[derive(Debug)]
struct Job {
    kind: EventKind,
    body: Bytes,
}

/// The HTTP integration's driver; see the [module documentation](super).
/// Only plain `http://` endpoints are supported for now. Dropping it ends
/// the worker, losing what is queued; [`shutdown`](Self::shutdown) drains.
#[derive(Debug)]
pub struct HttpPublisher {
    queue: mpsc::Sender<Job>,
    encoding: Encoding,
    counters: Arc<Counters>,
    task: Option<JoinHandle<()>>,
}

impl HttpPublisher {
    /// Starts the worker task for `[integration.http]` with `limits`.
    ///
    /// Must be called within a tokio runtime.
    ///
    /// # Errors
    /// [`PublishConfigError`] when there is no endpoint, an endpoint is not
    /// a plain `http://` URL, or a header is not valid HTTP.
    pub fn start(
        settings: &HttpIntegration,
        limits: HttpLimits,
    ) -> Result<Self, PublishConfigError> {
        Self::start_counted(
            &settings.event_endpoint_url,
            &settings.headers,
            settings.encoding(),
            limits,
            Arc::default(),
        )
    }

    /// Starts the worker task for an application's HTTP integration (as
    /// stored through the management API) with `limits`: the same
    /// requests, headers and encoding rules as [`start`](Self::start).
    ///
    /// Must be called within a tokio runtime.
    ///
    /// # Errors
    /// As [`start`](Self::start).
    pub fn start_application(
        config: &HttpIntegrationConfig,
        limits: HttpLimits,
    ) -> Result<Self, PublishConfigError> {
        Self::start_application_counted(config, limits, Arc::default())
    }

    /// [`start_application`](Self::start_application), counting in
    /// `counters` (shared by the publishers of every application).
    pub(super) fn start_application_counted(
        config: &HttpIntegrationConfig,
        limits: HttpLimits,
        counters: Arc<Counters>,
    ) -> Result<Self, PublishConfigError> {
        let encoding = if config.json {
            Encoding::Json
        } else {
            Encoding::Protobuf
        };
        Self::start_counted(
            &config.event_endpoint_url,
            &config.headers,
            encoding,
            limits,
            counters,
        )
    }

    /// Checks the settings and starts the worker, counting in `counters`.
    fn start_counted(
        event_endpoint_url: &str,
        settings_headers: &BTreeMap<String, String>,
        encoding: Encoding,
        limits: HttpLimits,
        counters: Arc<Counters>,
    ) -> Result<Self, PublishConfigError> {
        let endpoints = http_endpoints(event_endpoint_url);
        if endpoints.is_empty() {
            return Err(PublishConfigError::NoEndpoint);
        }
        for endpoint in &endpoints {
            check_endpoint(endpoint)?;
        }
        let mut headers = HeaderMap::new();
        for (name, value) in settings_headers {
            let bad = || PublishConfigError::Header { name: name.clone() };
            let header_name = HeaderName::from_bytes(name.as_bytes()).map_err(|_| bad())?;
            let header_value = HeaderValue::from_str(value).map_err(|_| bad())?;
            headers.insert(header_name, header_value);
        }
        let content_type = HeaderValue::from_static(content_type(encoding));
        headers.insert(CONTENT_TYPE, content_type);
        let (queue, jobs) = mpsc::channel(limits.queue_capacity.max(1));
        let worker = Worker {
            client: Client::builder(TokioExecutor::new()).build_http(),
            endpoints,
            headers,
            limits,
            counters: Arc::clone(&counters),
        };
        let task = tokio::spawn(worker.run(jobs));
        Ok(Self {
            queue,
            encoding,
            counters,
            task: Some(task),
        })
    }

    /// Encodes `event` and queues it for every endpoint. Never waits.
    ///
    /// # Errors
    /// [`PublishError::QueueFull`] when the queue is full (the event is
    /// dropped and counted).
    pub fn publish(&self, event: &Event) -> Result<(), PublishError> {
        let job = Job {
            kind: event.kind(),
            body: Bytes::from(event.encode(self.encoding)),
        };
        if self.queue.try_send(job).is_ok() {
            return Ok(());
        }
        let counters = &self.counters;
        if bump(&counters.dropped_queue_full) {
            warn!(
                kind = %event.kind(),
                dropped = counters.dropped_queue_full.load(Ordering::Relaxed),
                "HTTP integration queue full: events dropped"
            );
        }
        Err(PublishError::QueueFull)
    }

    /// The counts so far.
    pub fn counters(&self) -> PublisherCounters {
        self.counters.snapshot()
    }

    /// Closes the queue and lets the worker deliver what is queued, for up
    /// to `wait`; the worker is ended regardless.
    pub async fn shutdown(mut self, wait: Duration) {
        let task = self.task.take();
        drop(self);
        if let Some(mut task) = task {
            let _ = tokio::time::timeout(wait, &mut task).await;
            task.abort();
        }
    }
}

impl Drop for HttpPublisher {
    fn drop(&mut self) {
        if let Some(task) = &self.task {
            task.abort();
        }
    }
}

/// Accepts only what the client can reach: an `http://` URL with a host.
fn check_endpoint(endpoint: &str) -> Result<(), PublishConfigError> {
    let bad = |reason: String| PublishConfigError::Endpoint {
        url: endpoint.to_owned(),
        reason,
    };
    let uri: Uri = http_event_url(endpoint, EventKind::Up)
        .parse()
        .map_err(|e: hyper::http::uri::InvalidUri| bad(e.to_string()))?;
    if uri.scheme_str() != Some("http") {
        return Err(bad("only plain http:// endpoints are supported".into()));
    }
    if uri.host().is_none_or(str::is_empty) {
        return Err(bad("no host".into()));
    }
    Ok(())
}

/// How one request went.
enum Outcome {
    /// A 2xx answer.
    Delivered,
    /// An answer that repeating will not change (3xx, 4xx), or a URL that
    /// does not parse.
    Refused(String),
    /// A 5xx answer, a connection error or a timeout.
    Retry(String),
}

/// The worker task's state.
struct Worker {
    client: Client<HttpConnector, Full<Bytes>>,
    endpoints: Vec<String>,
    headers: HeaderMap,
    limits: HttpLimits,
    counters: Arc<Counters>,
}

impl Worker {
    async fn run(self, mut jobs: mpsc::Receiver<Job>) {
        while let Some(job) = jobs.recv().await {
            for endpoint in &self.endpoints {
                self.deliver(endpoint, &job).await;
            }
        }
    }

    /// POSTs `job` to `endpoint`, repeating after 5xx answers and connection
    /// errors up to the limit.
    async fn deliver(&self, endpoint: &str, job: &Job) {
        let counters = &self.counters;
        let url = http_event_url(endpoint, job.kind);
        let mut backoff = self.limits.min_backoff;
        let mut attempt = 0;
        loop {
            let reason = match self.post(&url, job).await {
                Outcome::Delivered => {
                    counters.published.fetch_add(1, Ordering::Relaxed);
                    return;
                }
                Outcome::Refused(reason) => {
                    if bump(&counters.failed) {
                        warn!(url, reason, "HTTP integration: event refused, not retried");
                    }
                    return;
                }
                Outcome::Retry(reason) => reason,
            };
            if attempt >= self.limits.max_retries {
                if bump(&counters.failed) {
                    warn!(
                        url,
                        reason,
                        attempts = attempt + 1,
                        "HTTP integration: event dropped"
                    );
                }
                return;
            }
            debug!(url, reason, retry_in = ?backoff, "HTTP integration: retrying");
            counters.retried.fetch_add(1, Ordering::Relaxed);
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(self.limits.max_backoff);
            attempt += 1;
        }
    }

    async fn post(&self, url: &str, job: &Job) -> Outcome {
        let mut request = Request::new(Full::new(job.body.clone()));
        *request.method_mut() = hyper::Method::POST;
        *request.headers_mut() = self.headers.clone();
        // The endpoint was checked at start; the kind cannot break it.
        match url.parse() {
            Ok(uri) => *request.uri_mut() = uri,
            Err(e) => return Outcome::Refused(format!("bad URL: {e}")),
        }
        let exchange = async {
            let response = self.client.request(request).await?;
            let status = response.status();
            // Read the answer so the connection can be reused.
            let _ = response.into_body().collect().await;
            Ok::<_, hyper_util::client::legacy::Error>(status)
        };
        match tokio::time::timeout(self.limits.timeout, exchange).await {
            Err(_) => Outcome::Retry(format!("no answer within {:?}", self.limits.timeout)),
            Ok(Err(error)) => Outcome::Retry(error.to_string()),
            Ok(Ok(status)) if status.is_success() => Outcome::Delivered,
            Ok(Ok(status)) if status.is_server_error() => Outcome::Retry(status.to_string()),
            Ok(Ok(status)) => Outcome::Refused(status.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_http_endpoints_are_accepted() {
        assert!(check_endpoint("http://127.0.0.1:8080/events").is_ok());
        assert!(check_endpoint("http://a.example/?key=1").is_ok());
        assert!(check_endpoint("https://a.example/events").is_err());
        assert!(check_endpoint("a.example/events").is_err());
        assert!(check_endpoint("http:// bad").is_err());
    }
}
