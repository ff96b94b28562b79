//! The one error type of the webhook endpoint. Each variant documents its status; the response is
//! a small JSON object (`{"error": "<code>", "message": "..."}`) that never carries internals.

use rocket::http::{ContentType, Status};
use rocket::response::{self, Responder};
use rocket::serde::json::serde_json::json;
use rocket::Request;

use crate::svix::VerifyError;

/// Why a delivery was refused or could not be stored.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebhookError {
    /// 413: the body is larger than the `clerk_webhook` limit. Never truncated and then verified.
    #[error("the body is larger than the {limit} byte limit")]
    PayloadTooLarge {
        /// The limit in force, in bytes.
        limit: u64,
    },
    /// 405: the webhook endpoint only takes POST.
    #[error("the webhook endpoint only accepts POST")]
    MethodNotAllowed,
    /// 415: a content type other than JSON was declared.
    #[error("the content type must be application/json")]
    UnsupportedMediaType,
    /// 400: a required header is absent.
    #[error("the {0} header is missing")]
    MissingHeader(&'static str),
    /// 400: a header is empty, repeated, too long or not printable ASCII.
    #[error("the {0} header is malformed")]
    MalformedHeader(&'static str),
    /// 400: the timestamp header is not plain decimal seconds.
    #[error("the timestamp header is not a plain Unix time in seconds")]
    MalformedTimestamp,
    /// 401: the timestamp is too far from our clock (a replay, or a skewed clock).
    #[error("the timestamp is outside the allowed tolerance")]
    TimestampOutOfTolerance,
    /// 401: no signature matches any of our signing secrets.
    #[error("no signature matches the signing secret")]
    InvalidSignature,
    /// 400: the body ended early or its chunked encoding is broken.
    #[error("the body could not be read")]
    UnreadableBody,
    /// 408: the headers passed their checks but the whole body did not arrive within the
    /// deadline: a slow sender may not hold a connection without limit.
    #[error("the body did not arrive within {timeout_ms} ms")]
    BodyTimeout {
        /// The deadline in force, in milliseconds.
        timeout_ms: u64,
    },
    /// 400: the body is not UTF-8, so it cannot be a Standard Webhooks payload.
    #[error("the body is not UTF-8")]
    BodyNotUtf8,
    /// 422: the verified body is not a Clerk event envelope (a known type whose `data` does not
    /// fit is stored as `failed` instead).
    #[error("the body is not a Clerk event: {0}")]
    InvalidEvent(String),
    /// 422: a verified event that Postgres refuses to store, even as a `failed` ledger row.
    #[error("the event holds values Postgres cannot store")]
    UnstorableEvent,
    /// 503: the database is unreachable, slow or failing; Svix will retry.
    #[error("the database is unavailable; retry later")]
    DatabaseUnavailable,
    /// 500: the application's hook refused or failed; nothing was stored and Svix will retry.
    #[error("the application could not process this event; retry later")]
    HookFailed,
    /// 500: the service is misconfigured (should be impossible: a sentinel checks at launch).
    #[error("internal error")]
    Internal,
}

impl WebhookError {
    /// The HTTP status this error is answered with.
    pub fn status(&self) -> Status {
        match self {
            Self::PayloadTooLarge { .. } => Status::PayloadTooLarge,
            Self::MethodNotAllowed => Status::MethodNotAllowed,
            Self::UnsupportedMediaType => Status::UnsupportedMediaType,
            Self::BodyTimeout { .. } => Status::RequestTimeout,
            Self::MissingHeader(_)
            | Self::MalformedHeader(_)
            | Self::MalformedTimestamp
            | Self::UnreadableBody
            | Self::BodyNotUtf8 => Status::BadRequest,
            Self::TimestampOutOfTolerance | Self::InvalidSignature => Status::Unauthorized,
            Self::InvalidEvent(_) | Self::UnstorableEvent => Status::UnprocessableEntity,
            Self::DatabaseUnavailable => Status::ServiceUnavailable,
            Self::HookFailed | Self::Internal => Status::InternalServerError,
        }
    }

    /// A stable, machine-readable code for the response body and the logs.
    pub fn code(&self) -> &'static str {
        match self {
            Self::PayloadTooLarge { .. } => "payload_too_large",
            Self::MethodNotAllowed => "method_not_allowed",
            Self::UnsupportedMediaType => "unsupported_media_type",
            Self::MissingHeader(_) => "missing_header",
            Self::MalformedHeader(_) => "malformed_header",
            Self::MalformedTimestamp => "malformed_timestamp",
            Self::TimestampOutOfTolerance => "timestamp_out_of_tolerance",
            Self::InvalidSignature => "invalid_signature",
            Self::UnreadableBody => "unreadable_body",
            Self::BodyTimeout { .. } => "body_timeout",
            Self::BodyNotUtf8 => "body_not_utf8",
            Self::InvalidEvent(_) => "invalid_event",
            Self::UnstorableEvent => "unstorable_event",
            Self::DatabaseUnavailable => "database_unavailable",
            Self::HookFailed => "hook_failed",
            Self::Internal => "internal_error",
        }
    }
}

impl From<VerifyError> for WebhookError {
    fn from(err: VerifyError) -> Self {
        match err {
            VerifyError::MalformedTimestamp => Self::MalformedTimestamp,
            VerifyError::TimestampOutOfTolerance => Self::TimestampOutOfTolerance,
            VerifyError::NoMatchingSignature => Self::InvalidSignature,
            VerifyError::PayloadNotUtf8 => Self::BodyNotUtf8,
        }
    }
}

/// Renders `{"error": code, "message": text}` with any status; used for errors Rocket raises
/// itself (404 and the like) under the webhook path, too.
pub(crate) fn json_body(
    status: Status,
    code: &str,
    message: &str,
) -> (Status, (ContentType, String)) {
    let body = json!({ "error": code, "message": message }).to_string();
    (status, (ContentType::JSON, body))
}

impl<'r> Responder<'r, 'static> for WebhookError {
    fn respond_to(self, req: &'r Request<'_>) -> response::Result<'static> {
        let mut response =
            json_body(self.status(), self.code(), &self.to_string()).respond_to(req)?;
        if self == Self::MethodNotAllowed {
            response.set_raw_header("Allow", "POST");
        }
        Ok(response)
    }
}
