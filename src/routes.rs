//! HTTP handlers: the webhook endpoint, its catcher and the health check.

use rocket::http::Status;
use rocket::serde::json::Json;
use rocket::{catch, get, post, Request, State};
use serde::Serialize;

use crate::error::{json_body, WebhookError};
use crate::guard::{ClerkWebhook, Rejection};
use crate::store::Outcome;
use crate::sync;
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
    store: &State<Store>,
) -> Result<Json<Ack>, WebhookError> {
    let outcome = sync::apply(&store.pool, &webhook).await.map_err(|err| {
        log::error!(
            "webhook {} ({}) not stored: {}",
            webhook.svix_id,
            webhook.envelope.event_type,
            describe(&err)
        );
        WebhookError::DatabaseUnavailable
    })?;
    log::info!(
        "webhook {} {} {} -> {}",
        webhook.svix_id,
        webhook.envelope.event_type,
        webhook.envelope.object_id().as_deref().unwrap_or("-"),
        outcome.as_str()
    );
    Ok(Json(Ack {
        svix_id: webhook.svix_id,
        outcome,
    }))
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
            log::warn!("health check failed: {}", describe(&err));
            (
                Status::ServiceUnavailable,
                Json(Health {
                    status: "unavailable",
                }),
            )
        }
    }
}

/// A database error for the logs: the SQLSTATE and message, never the `detail`, which can quote
/// row values (emails).
fn describe(err: &sqlx::Error) -> String {
    match err {
        sqlx::Error::Database(db) => {
            format!(
                "database error {}: {}",
                db.code().as_deref().unwrap_or("?"),
                db.message()
            )
        }
        other => other.to_string(),
    }
}
