//! HTTP handlers: the webhook endpoint, its catcher and the health check.

use rocket::http::{ContentType, Status};
use rocket::serde::json::Json;
use rocket::{catch, get, post, Request, State};
use serde::Serialize;

use crate::clerk::ClerkEvent;
use crate::db;
use crate::error::{json_body, WebhookError};
use crate::guard::{duration_ms, ClerkWebhook, Rejection};
use crate::metrics::{Metrics, MetricsToken};
use crate::store::Outcome;
use crate::writer::{WriteError, Writer};
use crate::Store;

/// The body of a 200 answer to a delivery.
#[derive(Debug, Serialize)]
pub struct Ack {
    /// The svix-id that was stored (or was already there).
    pub svix_id: String,
    /// What the delivery did.
    pub outcome: Outcome,
}

/// `POST <webhook path>`: the guard has verified and parsed the delivery; store it, then answer.
/// 200 means committed; 503 means nothing was written and Svix should retry.
#[post("/", data = "<webhook>")]
pub async fn receive(
    webhook: ClerkWebhook,
    writer: &State<Writer>,
    metrics: &State<Metrics>,
) -> Result<Json<Ack>, WebhookError> {
    let delivery = webhook.into_delivery();
    let svix_id = delivery.svix_id().to_owned();
    let event_type = delivery.envelope().event_type.clone();
    let object_id = delivery.object_id().map(str::to_owned);
    let object_id = object_id.as_deref().unwrap_or("-");
    let unparsed = match delivery.event() {
        ClerkEvent::Unparsed { reason, .. } => Some(reason.clone()),
        _ => None,
    };
    let (received, span) = (delivery.received(), delivery.span().clone());
    // One line per delivery: its ids, outcome (or error code), status and time.
    match writer.write(delivery).await {
        Ok(stored) => {
            let outcome = stored.outcome;
            metrics.delivered(&event_type, outcome);
            let (status, duration_ms) = (Status::Ok.code, duration_ms(received));
            let (queue_ms, commit_ms) = (millis(stored.queued), millis(stored.committing));
            span.record("outcome", outcome.as_str());
            span.record("http.response.status_code", status);
            // One line at three levels: `tracing` needs each event's level at compile time.
            macro_rules! delivery_line {
                ($level:ident, $($message:tt)+) => {
                    tracing::$level!(
                        svix_id,
                        event_type,
                        object_id,
                        outcome = outcome.as_str(),
                        status,
                        duration_ms,
                        queue_ms,
                        commit_ms,
                        $($message)+
                    )
                };
            }
            match unparsed {
                // Acknowledged because it is stored; loud because this version cannot read it.
                Some(reason) if outcome == Outcome::Failed => delivery_line!(
                    error,
                    "delivery kept as failed: the payload is {reason}; kept in the ledger for \
                     `clerk-sync replay --failed`"
                ),
                // The writer logged why Postgres refused it.
                None if outcome == Outcome::Failed => {
                    delivery_line!(warn, "delivery kept as failed: Postgres refused its values")
                }
                _ => delivery_line!(info, "delivery"),
            }
            Ok(Json(Ack { svix_id, outcome }))
        }
        Err(err) => {
            let answer = match err {
                WriteError::Hook(_) => WebhookError::HookFailed,
                WriteError::Unstorable { .. } => WebhookError::UnstorableEvent,
                _ => WebhookError::DatabaseUnavailable,
            };
            let (code, status) = (answer.code(), answer.status().code);
            span.record("code", code);
            span.record("http.response.status_code", status);
            span.record("otel.status_code", "ERROR");
            tracing::error!(
                svix_id,
                event_type,
                object_id,
                code,
                status,
                duration_ms = duration_ms(received),
                "delivery not stored: {err}"
            );
            metrics.failed(code);
            Err(answer)
        }
    }
}

/// A duration in milliseconds to the hundredth, for log lines.
fn millis(duration: std::time::Duration) -> f64 {
    (duration.as_secs_f64() * 100_000.0).round() / 100.0
}

/// Every other method on the webhook path: 405 with `Allow: POST`, rather than Rocket's 404.
#[rocket::get("/")]
pub fn get_not_allowed() -> WebhookError {
    WebhookError::MethodNotAllowed
}

/// See [`get_not_allowed`].
#[rocket::put("/")]
pub fn put_not_allowed() -> WebhookError {
    WebhookError::MethodNotAllowed
}

/// See [`get_not_allowed`].
#[rocket::patch("/")]
pub fn patch_not_allowed() -> WebhookError {
    WebhookError::MethodNotAllowed
}

/// See [`get_not_allowed`].
#[rocket::delete("/")]
pub fn delete_not_allowed() -> WebhookError {
    WebhookError::MethodNotAllowed
}

/// Renders every error under the webhook path as JSON: the guard's reason when it refused the
/// request, otherwise Rocket's own status (404 for other methods and paths, and so on).
#[catch(default)]
pub fn webhook_catcher(
    status: Status,
    req: &Request<'_>,
) -> (Status, (rocket::http::ContentType, String)) {
    match &req.local_cache(Rejection::default).0 {
        Some(err) => json_body(err.status(), err.code(), &err.to_string()),
        None => json_body(status, "http_error", status.reason_lossy()),
    }
}

/// The body of `/healthz`.
#[derive(Debug, Serialize)]
pub struct Health {
    /// `ok` or `unavailable`.
    pub status: &'static str,
}

/// `GET /healthz`: 200 when the database answers and every writer task runs, 503 otherwise.
#[get("/healthz")]
pub async fn healthz(store: &State<Store>, writer: &State<Writer>) -> (Status, Json<Health>) {
    let stopped = writer.stopped_tasks();
    if stopped > 0 {
        tracing::error!("health check failed: {stopped} writer task(s) stopped");
        return (
            Status::ServiceUnavailable,
            Json(Health {
                status: "unavailable",
            }),
        );
    }
    match crate::store::session::ping(&store.pool).await {
        Ok(_) => (Status::Ok, Json(Health { status: "ok" })),
        Err(err) => {
            tracing::warn!("health check failed: {}", db::describe(&err));
            (
                Status::ServiceUnavailable,
                Json(Health {
                    status: "unavailable",
                }),
            )
        }
    }
}

/// `GET /livez`: 200 while every writer task runs, 503 otherwise. It never touches the
/// database, so a liveness probe does not restart a healthy process because Postgres is down
/// (a restart cannot fix that; readiness on `/healthz` takes the instance out of rotation).
#[get("/livez")]
pub fn livez(writer: &State<Writer>) -> (Status, Json<Health>) {
    if writer.stopped_tasks() > 0 {
        let unavailable = Health {
            status: "unavailable",
        };
        return (Status::ServiceUnavailable, Json(unavailable));
    }
    (Status::Ok, Json(Health { status: "ok" }))
}

/// The token `/metrics` requires, as managed state; `None` when metrics are off.
#[derive(Debug, Clone)]
pub struct MetricsAccess(pub Option<MetricsToken>);

/// `GET /metrics`: the Prometheus text format, for `Authorization: Bearer <token>` only. The
/// counts are business data (sign-ups per hour), and a Shuttle URL is public.
#[get("/metrics")]
pub fn metrics(
    bearer: Bearer<'_>,
    access: &State<MetricsAccess>,
    metrics: &State<Metrics>,
) -> Result<(ContentType, String), MetricsRefusal> {
    let Some(token) = &access.0 else {
        return Err(MetricsRefusal::Disabled);
    };
    if !bearer.0.is_some_and(|presented| token.matches(presented)) {
        return Err(MetricsRefusal::Unauthorized);
    }
    #[cfg(feature = "metrics")]
    {
        let text = ContentType::new("text", "plain")
            .with_params([("version", "0.0.4"), ("charset", "utf-8")]);
        Ok((text, metrics.render()))
    }
    #[cfg(not(feature = "metrics"))]
    {
        let _ = metrics;
        Err(MetricsRefusal::NotBuilt)
    }
}

/// The token of an `Authorization: Bearer <token>` header, if the request has one.
#[derive(Debug)]
pub struct Bearer<'r>(pub Option<&'r str>);

#[rocket::async_trait]
impl<'r> rocket::request::FromRequest<'r> for Bearer<'r> {
    type Error = std::convert::Infallible;

    async fn from_request(req: &'r Request<'_>) -> rocket::request::Outcome<Self, Self::Error> {
        let token = req
            .headers()
            .get_one("authorization")
            .and_then(|value| value.strip_prefix("Bearer "));
        rocket::request::Outcome::Success(Bearer(token))
    }
}

/// Why `/metrics` was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricsRefusal {
    /// 404: no token is configured, so the endpoint is off.
    Disabled,
    /// 401: the bearer token is missing or wrong.
    Unauthorized,
    /// 404: this build has no metrics (the library's `metrics` feature is off).
    #[cfg(not(feature = "metrics"))]
    NotBuilt,
}

impl<'r> rocket::response::Responder<'r, 'static> for MetricsRefusal {
    fn respond_to(self, req: &'r Request<'_>) -> rocket::response::Result<'static> {
        match self {
            Self::Disabled => json_body(
                Status::NotFound,
                "metrics_disabled",
                "set CLERK_SYNC_METRICS_TOKEN to serve /metrics",
            )
            .respond_to(req),
            #[cfg(not(feature = "metrics"))]
            Self::NotBuilt => json_body(
                Status::NotFound,
                "metrics_not_built",
                "this build has no metrics: enable the clerk-sync feature `metrics`",
            )
            .respond_to(req),
            Self::Unauthorized => {
                let mut response = json_body(
                    Status::Unauthorized,
                    "unauthorized",
                    "send Authorization: Bearer <CLERK_SYNC_METRICS_TOKEN>",
                )
                .respond_to(req)?;
                response.set_raw_header("WWW-Authenticate", "Bearer");
                Ok(response)
            }
        }
    }
}
