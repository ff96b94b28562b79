//! Logs (and, with the `otlp` feature, traces) for the binaries that serve: a `tracing`
//! subscriber that stamps every line with an RFC 3339 UTC time and writes text or, with
//! `CLERK_SYNC_LOG_FORMAT=json`, one JSON object per line; `RUST_LOG` overrides the filter.
//!
//! The library only emits `tracing` events and spans; an application that embeds the stage keeps
//! its own subscriber. Rocket 0.5 logs through `log`, so [`init`] also installs a `log` bridge
//! before Rocket can install its own (uncoloured, untimed) logger: Rocket's `log::init` keeps
//! the first logger set. The Shuttle entry point does not call [`init`]: shuttle-runtime
//! installs a subscriber of its own.

use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, Ordering};

use tracing_subscriber::filter::{EnvFilter, LevelFilter};
use tracing_subscriber::fmt;
use tracing_subscriber::layer::{Layer, SubscriberExt};
use tracing_subscriber::Registry;

use crate::config::ConfigError;

/// `text` (the default) or `json`.
pub const LOG_FORMAT_VAR: &str = "CLERK_SYNC_LOG_FORMAT";

/// Used when `RUST_LOG` is unset: ours and the libraries' at info, but Rocket's at warn (a line
/// per request and per matched route) except its launch lines, which name the address; and
/// not Rocket's own lines about a refused delivery (`::_` targets), which ours replaces.
pub const DEFAULT_FILTER: &str = "info,rocket=warn,rocket::launch=info,rocket::server::_=error,\
                                  clerk_sync::routes::_=error,sqlx::postgres::notice=warn";

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable: `2026-12-04T17:35:35.123456Z  INFO target: message key=value`.
    Text,
    /// One JSON object per line: `timestamp`, `level`, `target`, `message` and the fields.
    Json,
}

impl LogFormat {
    /// [`LOG_FORMAT_VAR`] from the environment; unset or empty means text, anything but `text`
    /// or `json` is refused (a typo must not silently lose an operator's log queries).
    pub fn from_env() -> Result<Self, ConfigError> {
        match std::env::var(LOG_FORMAT_VAR).unwrap_or_default().trim() {
            "" | "text" => Ok(Self::Text),
            "json" => Ok(Self::Json),
            _ => Err(ConfigError::Invalid {
                name: LOG_FORMAT_VAR,
                reason: "expected text or json",
            }),
        }
    }
}

/// Keeps the trace exporter (feature `otlp`) until the server stops; dropping it flushes the
/// spans still buffered, so a SIGTERM does not lose the last deliveries' traces.
#[must_use = "dropping it at once shuts the trace exporter down"]
#[derive(Debug, Default)]
pub struct Telemetry {
    #[cfg(feature = "otlp")]
    provider: Option<opentelemetry_sdk::trace::SdkTracerProvider>,
}

impl Drop for Telemetry {
    fn drop(&mut self) {
        #[cfg(feature = "otlp")]
        if let Some(provider) = self.provider.take() {
            if let Err(err) = provider.shutdown() {
                tracing::warn!("the trace exporter did not flush: {err}");
            }
        }
    }
}

/// Why [`init`] could not install the subscriber.
#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    /// [`LOG_FORMAT_VAR`] is neither `text` nor `json`.
    #[error(transparent)]
    Format(#[from] ConfigError),
    /// `RUST_LOG` does not parse.
    #[error("RUST_LOG is invalid: {0}")]
    Filter(#[from] tracing_subscriber::filter::ParseError),
    /// Another subscriber was installed first.
    #[error("a tracing subscriber is already installed")]
    AlreadyInstalled(#[from] tracing::subscriber::SetGlobalDefaultError),
    /// The OTLP exporter could not be built from the `OTEL_*` variables.
    #[cfg(feature = "otlp")]
    #[error("the OTLP trace exporter could not be built")]
    Exporter(#[from] opentelemetry_otlp::ExporterBuildError),
}

/// Installs the subscriber and the `log` bridge for this process, reading [`LOG_FORMAT_VAR`],
/// `RUST_LOG` and (feature `otlp`) the `OTEL_*` variables. Fails on a bad format value, a bad
/// `RUST_LOG`, or when a subscriber is already installed.
pub fn init() -> Result<Telemetry, TelemetryError> {
    let format = LogFormat::from_env()?;
    let filter = match std::env::var(EnvFilter::DEFAULT_ENV) {
        Ok(directives) if !directives.trim().is_empty() => EnvFilter::try_new(&directives)?,
        _ => EnvFilter::new(DEFAULT_FILTER),
    };
    let logs = match format {
        LogFormat::Text => fmt::layer()
            .with_ansi(std::io::stdout().is_terminal())
            .boxed(),
        // The delivery's fields are on its event, so the enclosing spans are left out.
        LogFormat::Json => fmt::layer()
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_span_list(false)
            .boxed(),
    };
    let subscriber = Registry::default().with(logs.with_filter(filter));
    #[cfg(feature = "otlp")]
    let (subscriber, telemetry) = {
        let provider = otlp::provider()?;
        let layer = provider.as_ref().map(otlp::layer);
        (subscriber.with(layer), Telemetry { provider })
    };
    #[cfg(not(feature = "otlp"))]
    let telemetry = Telemetry::default();
    tracing::subscriber::set_global_default(subscriber)?;
    // Rocket logs through `log`. Another logger may be installed already (in a test): keep it.
    if log::set_boxed_logger(Box::new(LogBridge(tracing_log::LogTracer::new()))).is_ok() {
        log::set_max_level(tracing_log::AsLog::as_log(&LevelFilter::current()));
        BRIDGED.store(true, Ordering::Release);
    }
    Ok(telemetry)
}

/// Whether [`init`] installed the `log` bridge in this process: then Rocket must not colour its
/// lines (`cli_colors`), since they are no longer written to a terminal by Rocket.
pub fn installed() -> bool {
    BRIDGED.load(Ordering::Acquire)
}

static BRIDGED: AtomicBool = AtomicBool::new(false);

/// Forwards `log` records to `tracing`, with Rocket's launch announcements at info: Rocket logs
/// them at warn so that they show even at its `critical` level, but they are not warnings. The
/// source file and line are left out: a path into the cargo registry on every JSON line.
struct LogBridge(tracing_log::LogTracer);

impl LogBridge {
    fn is_launch(target: &str, level: log::Level) -> bool {
        level == log::Level::Warn && target.starts_with("rocket::launch")
    }
}

impl log::Log for LogBridge {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        if Self::is_launch(metadata.target(), metadata.level()) {
            let info = log::Metadata::builder()
                .level(log::Level::Info)
                .target(metadata.target())
                .build();
            return self.0.enabled(&info);
        }
        self.0.enabled(metadata)
    }

    fn log(&self, record: &log::Record<'_>) {
        let level = match Self::is_launch(record.target(), record.level()) {
            true => log::Level::Info,
            false => record.level(),
        };
        let record = log::Record::builder()
            .level(level)
            .target(record.target())
            .args(*record.args())
            .build();
        self.0.log(&record);
    }

    fn flush(&self) {}
}

/// Feature `otlp`: spans exported over OTLP HTTP/protobuf.
#[cfg(feature = "otlp")]
mod otlp {
    use opentelemetry::trace::TracerProvider as _;
    use opentelemetry_otlp::{Protocol, WithExportConfig};
    use opentelemetry_sdk::trace::SdkTracerProvider;
    use opentelemetry_sdk::Resource;
    use tracing_subscriber::filter::Targets;
    use tracing_subscriber::Layer;

    fn set(name: &str) -> Option<String> {
        std::env::var(name)
            .ok()
            .filter(|value| !value.trim().is_empty())
    }

    /// A provider exporting in batches when an OTLP endpoint is configured; `None` otherwise.
    /// The exporter reads the endpoint, headers and timeout from the standard `OTEL_*`
    /// variables itself.
    pub(super) fn provider() -> Result<Option<SdkTracerProvider>, super::TelemetryError> {
        if set("OTEL_EXPORTER_OTLP_ENDPOINT").is_none()
            && set("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT").is_none()
        {
            return Ok(None);
        }
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_protocol(Protocol::HttpBinary)
            .build()?;
        let service = set("OTEL_SERVICE_NAME").unwrap_or_else(|| "clerk-sync".to_owned());
        let resource = Resource::builder().with_service_name(service).build();
        Ok(Some(
            SdkTracerProvider::builder()
                .with_batch_exporter(exporter)
                .with_resource(resource)
                .build(),
        ))
    }

    /// Our spans only, at info, whatever `RUST_LOG` says about the log lines.
    pub(super) fn layer<S>(provider: &SdkTracerProvider) -> impl Layer<S>
    where
        S: tracing::Subscriber + for<'span> tracing_subscriber::registry::LookupSpan<'span>,
    {
        tracing_opentelemetry::layer()
            .with_tracer(provider.tracer("clerk-sync"))
            .with_filter(Targets::new().with_target("clerk_sync", tracing::Level::INFO))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_filter_parses() {
        // `EnvFilter::new` would skip a bad directive silently.
        EnvFilter::try_new(DEFAULT_FILTER).unwrap();
    }
}
