//! HTTP handlers: the webhook endpoint, its catcher and the health check.

use rocket::http::Status;
use rocket::serde::json::Json;
use rocket::{catch, get, post, Request, State};
use serde::Serialize;

use crate::clerk::ClerkEvent;
use crate::db;
use crate::error::{json_body, WebhookError};
use crate::guard::{ClerkWebhook, Rejection};
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
) -> Result<Json<Ack>, WebhookError> {
    let svix_id = webhook.svix_id.clone();
    let event_type = webhook.envelope.event_type.clone();
    let object_id = webhook.object_id.clone();
    let object_id = object_id.as_deref().unwrap_or("-");
    let unparsed = match &webhook.event {
        ClerkEvent::Unparsed { reason, .. } => Some(reason.clone()),
        _ => None,
    };
    match writer.write(webhook).await {
        Ok(Outcome::Failed) => {
            // Acknowledged because it is stored; loud because this version cannot read it.
            log::error!(
                "webhook {svix_id} {event_type} {object_id} -> failed: the payload is {}; \
                 kept in the ledger for `clerk-sync replay --failed`",
                unparsed.as_deref().unwrap_or("unreadable")
            );
            Ok(Json(Ack {
                svix_id,
                outcome: Outcome::Failed,
            }))
        }
        Ok(outcome) => {
            log::info!(
                "webhook {svix_id} {event_type} {object_id} -> {}",
                outcome.as_str()
            );
            Ok(Json(Ack { svix_id, outcome }))
        }
        Err(err) => {
            log::error!("webhook {svix_id} {event_type} {object_id} not stored: {err}");
            Err(match err {
                WriteError::Hook(_) => WebhookError::HookFailed,
                _ => WebhookError::DatabaseUnavailable,
            })
        }
    }
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

/// `GET /healthz`: 200 when the database answers, 503 when it does not.
#[get("/healthz")]
pub async fn healthz(store: &State<Store>) -> (Status, Json<Health>) {
    match sqlx::query("select 1").execute(&store.pool).await {
        Ok(_) => (Status::Ok, Json(Health { status: "ok" })),
        Err(err) => {
            log::warn!("health check failed: {}", db::describe(&err));
            (
                Status::ServiceUnavailable,
                Json(Health {
                    status: "unavailable",
                }),
            )
        }
    }
}
