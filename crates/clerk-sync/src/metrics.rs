//! Prometheus metrics: what `GET /metrics` renders (feature `metrics`; without it, counting is a
//! no-op and the endpoint answers 404).
//!
//! Each app has its own registry (not the process-global one), so several Rocket instances in one
//! process — tests, or an app that embeds the sync — never share counters.

use std::time::Duration;

#[cfg(feature = "metrics")]
use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounterVec, Opts, Registry, TextEncoder,
};

use hmac::digest::CtOutput;
use sha2::{Digest, Sha256};

#[cfg(feature = "metrics")]
use crate::clerk::ClerkEvent;
use crate::store::Outcome;

/// The bearer token `GET /metrics` asks for (`CLERK_SYNC_METRICS_TOKEN`). Never printed.
#[derive(Clone)]
pub struct MetricsToken(String);

impl MetricsToken {
    /// A token; `None` if it is empty.
    pub fn new(token: &str) -> Option<Self> {
        let token = token.trim();
        (!token.is_empty()).then(|| Self(token.to_owned()))
    }

    /// Whether `presented` is the token, compared in constant time (over SHA-256 digests, so the
    /// lengths do not leak either).
    pub fn matches(&self, presented: &str) -> bool {
        let digest = |s: &str| CtOutput::<Sha256>::new(Sha256::digest(s.as_bytes()));
        digest(&self.0) == digest(presented)
    }
}

impl std::fmt::Debug for MetricsToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MetricsToken([redacted])")
    }
}

/// The sync's metrics, as Rocket managed state. Cloning shares the same counters.
#[cfg(feature = "metrics")]
#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
    deliveries: IntCounterVec,
    rejections: IntCounterVec,
    failures: IntCounterVec,
    batch_size: Histogram,
    database_seconds: HistogramVec,
}

#[cfg(feature = "metrics")]
impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(feature = "metrics")]
impl Metrics {
    /// Fresh counters in a registry of their own.
    pub fn new() -> Self {
        let registry = Registry::new_custom(Some("clerk_sync".to_owned()), None)
            .expect("a valid metric prefix");
        let deliveries = IntCounterVec::new(
            Opts::new(
                "deliveries_total",
                "Verified deliveries answered 2xx, by event type and outcome.",
            ),
            &["event_type", "outcome"],
        )
        .expect("valid metric");
        let rejections = IntCounterVec::new(
            Opts::new(
                "rejections_total",
                "Requests refused before storing (4xx), by reason: missing_header, \
                 invalid_signature, timestamp_out_of_tolerance, payload_too_large, ...",
            ),
            &["reason"],
        )
        .expect("valid metric");
        let failures = IntCounterVec::new(
            Opts::new(
                "failures_total",
                "Verified deliveries that could not be stored (5xx, Svix retries), by reason.",
            ),
            &["reason"],
        )
        .expect("valid metric");
        let batch_size = Histogram::with_opts(
            HistogramOpts::new("batch_size", "Deliveries per group-commit transaction.")
                .buckets(vec![1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0]),
        )
        .expect("valid metric");
        let database_seconds = HistogramVec::new(
            HistogramOpts::new(
                "database_seconds",
                "Time from BEGIN to COMMIT of a batch transaction, by result.",
            )
            .buckets(vec![
                0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
            ]),
            &["result"],
        )
        .expect("valid metric");
        for metric in [
            Box::new(deliveries.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(rejections.clone()),
            Box::new(failures.clone()),
            Box::new(batch_size.clone()),
            Box::new(database_seconds.clone()),
        ] {
            registry.register(metric).expect("metric names are unique");
        }
        Self {
            registry,
            deliveries,
            rejections,
            failures,
            batch_size,
            database_seconds,
        }
    }

    /// A delivery answered 2xx. Types this version does not know are counted as `other`, so a
    /// label's values stay a known, small set.
    pub fn delivered(&self, event_type: &str, outcome: Outcome) {
        let event_type = if ClerkEvent::KNOWN_TYPES.contains(&event_type) {
            event_type
        } else {
            "other"
        };
        self.deliveries
            .with_label_values(&[event_type, outcome.as_str()])
            .inc();
    }

    /// A request refused by the guard, by its error code.
    pub fn rejected(&self, reason: &str) {
        self.rejections.with_label_values(&[reason]).inc();
    }

    /// A verified delivery that could not be stored, by its error code.
    pub fn failed(&self, reason: &str) {
        self.failures.with_label_values(&[reason]).inc();
    }

    /// A batch transaction of `size` deliveries took `elapsed`, and committed or not.
    pub fn batch(&self, size: usize, elapsed: Duration, committed: bool) {
        self.batch_size.observe(size as f64);
        let result = if committed { "commit" } else { "error" };
        self.database_seconds
            .with_label_values(&[result])
            .observe(elapsed.as_secs_f64());
    }

    /// Everything, in the Prometheus text exposition format.
    pub fn render(&self) -> String {
        let mut out = Vec::new();
        TextEncoder::new()
            .encode(&self.registry.gather(), &mut out)
            .expect("encoding to a Vec cannot fail");
        String::from_utf8(out).expect("the text format is UTF-8")
    }
}

/// Without the `metrics` feature: counts nothing, renders nothing.
#[cfg(not(feature = "metrics"))]
#[derive(Clone, Default)]
pub struct Metrics;

#[cfg(not(feature = "metrics"))]
impl Metrics {
    /// Nothing to set up.
    pub fn new() -> Self {
        Self
    }

    /// Not counted.
    pub fn delivered(&self, _: &str, _: Outcome) {}

    /// Not counted.
    pub fn rejected(&self, _: &str) {}

    /// Not counted.
    pub fn failed(&self, _: &str) {}

    /// Not counted.
    pub fn batch(&self, _: usize, _: Duration, _: bool) {}
}
