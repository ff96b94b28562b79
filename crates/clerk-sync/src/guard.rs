//! The Rocket data guard: a handler that takes a [`ClerkWebhook`] only ever sees a delivery whose
//! size, headers, signature and timestamp were checked and whose body parsed as a Clerk event.
//!
//! Everything the headers alone can refuse (missing or malformed headers, a timestamp out of
//! tolerance, a signature header with no usable `v1` entry, a declared length over the limit) is
//! refused before the body is read, and the body must then arrive within [`BodyTimeout`]: a slow
//! sender cannot hold a connection open without limit.
//!
//! No SQL here. A refused request is answered by the guard's status and the JSON body that
//! the webhook route's catcher renders from the reason stashed in the request.

use std::ops::Deref;
use std::time::{Duration, Instant, SystemTime};

use rocket::data::{self, ByteUnit, Data, FromData};
use rocket::request::Request;
use rocket::{Ignite, Rocket, Sentinel};

use crate::clerk::{describe_json_error, EnvelopeError};
use crate::delivery::Delivery;
use crate::error::WebhookError;
use crate::metrics::Metrics;
use crate::svix::{SignedHeaders, Verifier};

/// The name of the Rocket limit on webhook bodies: `ROCKET_LIMITS={clerk_webhook="2MiB"}`.
pub const LIMIT_NAME: &str = "clerk_webhook";

/// Used when no `clerk_webhook` limit is configured. Rocket's 8 KiB `bytes` default would refuse
/// real Clerk payloads (a user with a few addresses and metadata passes it easily).
pub const DEFAULT_LIMIT: ByteUnit = ByteUnit::Mebibyte(1);

/// How long the whole body may take to arrive when no [`BodyTimeout`] is managed.
pub const DEFAULT_BODY_TIMEOUT: Duration = Duration::from_millis(10_000);

/// How long the guard waits for the whole body once the headers passed their checks, as Rocket
/// managed state (the sync stage manages `CLERK_WEBHOOK_BODY_TIMEOUT_MS`). Optional: without it
/// the guard waits [`DEFAULT_BODY_TIMEOUT`]. A body still arriving then is answered 408.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BodyTimeout(pub Duration);

/// Longest accepted `svix-id`; real ones are about 30 characters.
const MAX_ID_LEN: usize = 256;
/// Longest accepted `svix-signature`; one entry is 47 bytes, rotations add a few.
const MAX_SIGNATURE_LEN: usize = 4096;

/// Header names of a Svix-branded sender (Clerk) and of an unbranded Standard Webhooks sender.
struct HeaderNames {
    id: &'static str,
    timestamp: &'static str,
    signature: &'static str,
}

const SVIX: HeaderNames = HeaderNames {
    id: "svix-id",
    timestamp: "svix-timestamp",
    signature: "svix-signature",
};

const STANDARD: HeaderNames = HeaderNames {
    id: "webhook-id",
    timestamp: "webhook-timestamp",
    signature: "webhook-signature",
};

/// A verified Clerk webhook delivery, as a Rocket data guard: the [`Delivery`] it wraps has
/// [`Origin::Webhook`](crate::delivery::Origin::Webhook). Read it through `Deref`, or take it
/// with [`ClerkWebhook::into_delivery`] to hand it to code that knows nothing of Rocket.
#[derive(Debug, Clone)]
pub struct ClerkWebhook(Delivery);

impl ClerkWebhook {
    /// The delivery, for the writer or your own code.
    pub fn into_delivery(self) -> Delivery {
        self.0
    }
}

impl Deref for ClerkWebhook {
    type Target = Delivery;

    fn deref(&self) -> &Delivery {
        &self.0
    }
}

/// The reason a request was refused, kept for the catcher (Rocket 0.5 does not pass a data
/// guard's error to catchers).
#[derive(Debug, Default)]
pub(crate) struct Rejection(pub(crate) Option<WebhookError>);

#[rocket::async_trait]
impl<'r> FromData<'r> for ClerkWebhook {
    type Error = WebhookError;

    async fn from_data(req: &'r Request<'_>, data: Data<'r>) -> data::Outcome<'r, Self> {
        let received = Instant::now();
        // Ids only: the route records the outcome; never anything from the payload's data.
        let span = tracing::info_span!(
            "clerk_sync.delivery",
            svix_id = tracing::field::Empty,
            event_type = tracing::field::Empty,
            object_id = tracing::field::Empty,
            outcome = tracing::field::Empty,
            code = tracing::field::Empty,
            http.response.status_code = tracing::field::Empty,
            otel.status_code = tracing::field::Empty,
        );
        match read(req, data).await {
            Ok(mut delivery) => {
                span.record("svix_id", delivery.svix_id());
                span.record("event_type", delivery.envelope().event_type.as_str());
                if let Some(id) = delivery.object_id() {
                    span.record("object_id", id);
                }
                delivery.received = received;
                delivery.span = span;
                data::Outcome::Success(ClerkWebhook(delivery))
            }
            Err(err) => {
                // A refused request's svix-id is not trusted, but it is only an id and it lets an
                // operator find Svix's attempt.
                let svix_id = req
                    .headers()
                    .get_one(SVIX.id)
                    .or_else(|| req.headers().get_one(STANDARD.id))
                    .filter(|id| id.len() <= MAX_ID_LEN);
                let status = err.status().code;
                span.record("code", err.code());
                span.record("http.response.status_code", status);
                span.record("otel.status_code", "ERROR");
                if let Some(id) = svix_id {
                    span.record("svix_id", id);
                }
                tracing::warn!(
                    svix_id,
                    code = err.code(),
                    status,
                    duration_ms = duration_ms(received),
                    "delivery refused"
                );
                if let Some(metrics) = req.rocket().state::<Metrics>() {
                    metrics.rejected(err.code());
                }
                req.local_cache(|| Rejection(Some(err.clone())));
                data::Outcome::Error((err.status(), err))
            }
        }
    }
}

/// A route that takes a `ClerkWebhook` cannot work without a [`Verifier`] in managed state, so
/// launch is aborted instead of every delivery failing.
impl Sentinel for ClerkWebhook {
    fn abort(rocket: &Rocket<Ignite>) -> bool {
        let missing = rocket.state::<Verifier>().is_none();
        if missing {
            tracing::error!(
                "a route takes a ClerkWebhook but no svix::Verifier is managed: \
                 attach clerk_sync::stage(..) or .manage(verifier)"
            );
        }
        missing
    }
}

async fn read(req: &Request<'_>, data: Data<'_>) -> Result<Delivery, WebhookError> {
    let verifier = req
        .rocket()
        .state::<Verifier>()
        .ok_or(WebhookError::Internal)?;
    if req.content_type().is_some_and(|ct| !ct.is_json()) {
        return Err(WebhookError::UnsupportedMediaType);
    }
    let headers = signed_headers(req)?;
    // Refuse what the headers alone can refuse before waiting for a single byte of body.
    let checked = verifier.check_headers(&headers, SystemTime::now())?;
    let body = read_body(req, data).await?;
    let verified = verifier.accept(&checked, body)?;
    Delivery::from_verified(verified).map_err(|err| match err {
        EnvelopeError::Json(err) => WebhookError::InvalidEvent(describe_json_error(&err)),
        EnvelopeError::Unstorable(reason) => WebhookError::InvalidEvent(reason.to_owned()),
    })
}

/// Milliseconds since `start`, for log lines.
pub(crate) fn duration_ms(start: Instant) -> u64 {
    u64::try_from(start.elapsed().as_millis()).unwrap_or(u64::MAX)
}

/// Reads the whole body up to the limit; a larger body is refused, never truncated, and one that
/// does not arrive within the [`BodyTimeout`] is refused too.
async fn read_body(req: &Request<'_>, data: Data<'_>) -> Result<Vec<u8>, WebhookError> {
    let limit = req.limits().get(LIMIT_NAME).unwrap_or(DEFAULT_LIMIT);
    let too_large = WebhookError::PayloadTooLarge {
        limit: limit.as_u64(),
    };
    let declared = req
        .headers()
        .get_one("content-length")
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > limit.as_u64()) {
        return Err(too_large);
    }
    let deadline = req
        .rocket()
        .state::<BodyTimeout>()
        .map_or(DEFAULT_BODY_TIMEOUT, |timeout| timeout.0);
    let read = rocket::tokio::time::timeout(deadline, data.open(limit).into_bytes());
    let body = read
        .await
        .map_err(|_| WebhookError::BodyTimeout {
            timeout_ms: u64::try_from(deadline.as_millis()).unwrap_or(u64::MAX),
        })?
        .map_err(|err| {
            // The client hung up or sent a broken chunked body: nothing to verify.
            tracing::warn!(kind = %err.kind(), "webhook body could not be read");
            WebhookError::UnreadableBody
        })?;
    if !body.is_complete() {
        return Err(too_large);
    }
    Ok(body.into_inner())
}

/// Picks the `svix-*` headers if any is present, else the unbranded `webhook-*` ones.
fn signed_headers<'r>(req: &'r Request<'_>) -> Result<SignedHeaders<'r>, WebhookError> {
    let present = |names: &HeaderNames| {
        [names.id, names.timestamp, names.signature]
            .iter()
            .any(|name| req.headers().contains(*name))
    };
    // Svix's names unless only the unbranded ones came; a request with neither is told what
    // Svix sends.
    let names = if present(&STANDARD) && !present(&SVIX) {
        &STANDARD
    } else {
        &SVIX
    };
    let id = single_header(req, names.id, MAX_ID_LEN)?;
    if id.contains(' ') {
        return Err(WebhookError::MalformedHeader(names.id));
    }
    Ok(SignedHeaders {
        id,
        timestamp: single_header(req, names.timestamp, 32)?,
        signature: single_header(req, names.signature, MAX_SIGNATURE_LEN)?,
    })
}

/// One header value: present, not repeated, not empty, bounded, printable ASCII.
fn single_header<'r>(
    req: &'r Request<'_>,
    name: &'static str,
    max_len: usize,
) -> Result<&'r str, WebhookError> {
    let mut values = req.headers().get(name);
    let value = values.next().ok_or(WebhookError::MissingHeader(name))?;
    let printable = value.bytes().all(|b| b.is_ascii_graphic() || b == b' ');
    if values.next().is_some() || value.is_empty() || value.len() > max_len || !printable {
        return Err(WebhookError::MalformedHeader(name));
    }
    Ok(value)
}
