//! Keep your own Postgres in sync with [Clerk](https://clerk.com).
//!
//! Clerk delivers every change as a webhook sent through Svix. This crate verifies each delivery
//! in a Rocket data guard ([`guard::ClerkWebhook`]) before any handler runs, parses it into a
//! [`delivery::Delivery`] holding a typed [`clerk::ClerkEvent`], and writes it into the `clerk`
//! schema of your Postgres: a ledger row keyed by svix-id (so retries are no-ops) and the
//! projection (`clerk.users`, ...) in one transaction (or, for a batch of users without hooks,
//! one statement that commits on its own). 2xx means committed; anything that could
//! not be stored is answered 503 so Svix retries.
//!
//! The whole service, as `clerk-sync serve` runs it:
//!
//! ```no_run
//! use clerk_sync::{config::Settings, db};
//!
//! #[rocket::main]
//! async fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     let settings = Settings::from_env()?;
//!     let url = std::env::var("DATABASE_URL")?;
//!     let pool = db::connect_lazy(&url, &settings.database)?;
//!     clerk_sync::launch(clerk_sync::rocket(pool, settings)).await?;
//!     Ok(())
//! }
//! ```
//!
//! In an existing app, attach [`ClerkSync::stage`] (see `examples/existing_app.rs`), with
//! [`hooks::Hooks`] to write your own tables in the same transaction. Or use only
//! the guard, in a route of your own, and get the verified, typed event:
//!
//! ```no_run
//! use clerk_sync::clerk::ClerkEvent;
//! use clerk_sync::guard::ClerkWebhook;
//! use clerk_sync::svix::Verifier;
//!
//! #[rocket::post("/my/clerk/hook", data = "<webhook>")]
//! fn my_hook(webhook: ClerkWebhook) -> &'static str {
//!     // `webhook` derefs to a `Delivery`, whose origin is `Origin::Webhook`.
//!     match webhook.event() {
//!         ClerkEvent::UserCreated(user) => println!("welcome {}", user.id),
//!         other => println!("{} ignored", other.event_type()),
//!     }
//!     "ok"
//! }
//!
//! #[rocket::launch]
//! fn rocket() -> _ {
//!     let secret = std::env::var("CLERK_WEBHOOK_SIGNING_SECRET").expect("the secret");
//!     rocket::build()
//!         // Without a managed Verifier, launch aborts (the guard is a Sentinel).
//!         .manage(Verifier::from_secrets(&secret).expect("a whsec_ secret"))
//!         .mount("/", rocket::routes![my_hook])
//! }
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

// The public surface: what an app attaches and reads, and what the `clerk-sync` tool runs.
pub mod backfill;
pub mod clerk;
pub mod config;
pub mod db;
pub mod delivery;
pub mod error;
#[cfg(feature = "fixtures")]
pub mod fixtures;
pub mod guard;
pub mod hooks;
pub mod reads;
pub mod replay;
#[cfg(feature = "session")]
pub mod session;
pub mod stats;
pub mod svix;
#[cfg(feature = "telemetry")]
pub mod telemetry;

// The machinery behind the stage.
mod metrics;
mod routes;
mod store;
mod sync;
mod writer;

pub use store::ledger::prune as prune_ledger;
pub use sync::{apply_at_once, apply_batch, ApplyError, AtOnce};

/// For the fuzz targets only (`cargo fuzz` builds with `--cfg fuzzing`); not part of the API.
#[cfg(fuzzing)]
#[doc(hidden)]
pub mod fuzzing {
    pub use crate::sync::changes;
}

use std::sync::Arc;

use rocket::fairing::AdHoc;
use rocket::{catchers, routes, Build, Rocket};
use sqlx::PgPool;

use crate::config::Settings;
use crate::hooks::{Hooks, SharedHooks};
use crate::writer::Writer;

/// The pool the sync writes through, as Rocket managed state.
///
/// A newtype rather than a bare `PgPool`, so an application that manages its own pool can
/// attach the sync beside it.
#[derive(Debug, Clone)]
pub struct Store {
    /// The pool.
    pub pool: PgPool,
}

/// The whole service: the sync [`stage`] plus `GET /healthz` (readiness), `GET /livez`
/// (liveness) and `GET /metrics`.
pub fn rocket(pool: PgPool, settings: Settings) -> Rocket<Build> {
    ClerkSync::new(pool, settings).rocket()
}

/// Runs the whole service until Ctrl-C or SIGTERM: a pool for `database_url` sized by
/// `settings`, [`rocket()`], and Rocket's own configuration (`ROCKET_ADDRESS`, `ROCKET_PORT`, ...).
pub async fn serve(database_url: &str, settings: Settings) -> Result<(), ServeError> {
    let pool = db::connect_lazy(database_url, &settings.database).map_err(ServeError::Url)?;
    launch(rocket(pool, settings)).await
}

/// Launches a Rocket app (the whole service, or an app with the [`stage`] attached) until Ctrl-C
/// or SIGTERM. A stop that had to cut off requests still running is not a failure: a delivery
/// is answered 2xx only after its commit, so Svix retries a cut one.
pub async fn launch(rocket: Rocket<Build>) -> Result<(), ServeError> {
    #[cfg(feature = "telemetry")]
    let rocket = if telemetry::installed() {
        // Rocket's lines reach our subscriber, not a terminal: no colour codes in them.
        let figment = rocket.figment().clone().merge(("cli_colors", false));
        rocket.configure(figment)
    } else {
        rocket
    };
    let rocket = rocket.ignite().await.map_err(ServeError::Start)?;
    match rocket.launch().await {
        Ok(_) => Ok(()),
        // Asked to stop, Rocket closed connections still open after its grace and mercy
        // periods. Nothing is lost: a delivery is answered 2xx only after its commit, so a cut
        // one is retried by Svix. The stop was requested, so it is not a failure.
        Err(err) if matches!(err.kind(), rocket::error::ErrorKind::Shutdown(_, None)) => {
            tracing::warn!("shutdown cut off requests still running (Svix will retry them)");
            Ok(())
        }
        Err(err) => Err(ServeError::Failed(err)),
    }
}

/// Why [`serve`] or [`launch`] stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// `DATABASE_URL` is not a Postgres URL.
    #[error("DATABASE_URL is not a valid Postgres URL")]
    Url(#[source] sqlx::Error),
    /// Rocket could not ignite: bad configuration, or the migrations failed (logged).
    #[error("could not start")]
    Start(#[source] rocket::Error),
    /// The server failed while running.
    #[error("the server failed")]
    Failed(#[source] rocket::Error),
}

/// Prunes the ledger every ten minutes, a thousand rows per statement. Several instances may
/// prune at once: they only skip each other's rows.
fn spawn_pruner(pool: PgPool, retention: std::time::Duration) {
    rocket::tokio::spawn(async move {
        let mut every = rocket::tokio::time::interval(std::time::Duration::from_secs(600));
        // The first tick is immediate; skip it, so pruning never races the migrations at start.
        every.tick().await;
        loop {
            every.tick().await;
            match store::ledger::prune(&pool, retention, 1000).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(
                    "pruned {n} ledger rows older than {}h",
                    retention.as_secs() / 3600
                ),
                Err(err) => tracing::warn!("ledger pruning failed: {}", db::describe(&err)),
            }
        }
    });
}

/// The Clerk sync as a Rocket stage, with defaults for everything but the pool and settings.
pub fn stage(pool: PgPool, settings: Settings) -> AdHoc {
    ClerkSync::new(pool, settings).stage()
}

/// Builds the Clerk sync stage for a Rocket app.
///
/// ```no_run
/// # use clerk_sync::{config::Settings, hooks::Hooks, ClerkSync};
/// struct Welcome;
/// impl Hooks for Welcome {}
/// # fn build(pool: sqlx::PgPool, settings: Settings) -> rocket::Rocket<rocket::Build> {
/// rocket::build().attach(ClerkSync::new(pool, settings).hooks(Welcome).stage())
/// # }
/// ```
pub struct ClerkSync {
    pool: PgPool,
    settings: Settings,
    hooks: Option<SharedHooks>,
}

impl ClerkSync {
    /// The sync over `pool`, configured by `settings`, with no hooks.
    pub fn new(pool: PgPool, settings: Settings) -> Self {
        Self {
            pool,
            settings,
            hooks: None,
        }
    }

    /// Runs your [`Hooks`] on every newly stored event.
    pub fn hooks(mut self, hooks: impl Hooks) -> Self {
        self.hooks = Some(Arc::new(hooks));
        self
    }

    /// The whole service as a new Rocket app: the [`ClerkSync::stage`] plus `GET /healthz`
    /// (readiness), `GET /livez` (liveness) and `GET /metrics`. Mount your own routes on it.
    pub fn rocket(self) -> Rocket<Build> {
        let metrics_access = routes::MetricsAccess(self.settings.metrics_token.clone());
        rocket::build()
            .attach(self.stage())
            .manage(metrics_access)
            .mount(
                "/",
                routes![routes::healthz, routes::livez, routes::metrics],
            )
    }

    /// The Rocket stage: runs the migrations at ignition (launch fails if they cannot run),
    /// starts the writer, manages the pool ([`Store`]), the [`svix::Verifier`], the
    /// [`guard::BodyTimeout`], the writer (group commit) and, with feature `session` and a key
    /// set, the `session::SessionVerifier`, and mounts the webhook route and its
    /// JSON catcher at `settings.webhook_path`.
    pub fn stage(self) -> AdHoc {
        let Self {
            pool,
            settings,
            hooks,
        } = self;
        AdHoc::on_ignite("Clerk sync", move |rocket| async move {
            let rocket = cover_request_timeout(rocket, settings.batch.request_timeout);
            let path = settings.webhook_path.clone();
            let migrations_pool = pool.clone();
            let metrics = metrics::Metrics::new();
            let writer =
                Writer::start(pool.clone(), settings.batch.clone(), hooks, metrics.clone());
            spawn_pruner(pool.clone(), settings.ledger_retention);
            #[cfg(feature = "session")]
            let rocket = match settings.session {
                Some(verifier) => rocket.manage(verifier),
                None => rocket,
            };
            rocket
                .attach(AdHoc::try_on_ignite(
                    "Clerk sync migrations",
                    |rocket| async move {
                        match db::migrate(&migrations_pool).await {
                            Ok(()) => Ok(rocket),
                            Err(err) => {
                                tracing::error!("clerk-sync migrations failed: {err}");
                                Err(rocket)
                            }
                        }
                    },
                ))
                .manage(Store { pool })
                .manage(writer)
                .manage(metrics)
                .manage(guard::BodyTimeout(settings.body_timeout))
                .manage(settings.verifier)
                .mount(
                    path.as_str(),
                    routes![
                        routes::receive,
                        routes::get_not_allowed,
                        routes::put_not_allowed,
                        routes::patch_not_allowed,
                        routes::delete_not_allowed,
                    ],
                )
                .register(path.as_str(), catchers![routes::webhook_catcher])
        })
    }
}

/// Raises Rocket's shutdown grace period to cover the request timeout when it is left at
/// Rocket's default (2 s, against our 10 s), so that on SIGTERM a delivery waiting for its commit
/// is still answered instead of being cut off. A grace period set on purpose is kept.
fn cover_request_timeout(
    rocket: Rocket<Build>,
    request_timeout: std::time::Duration,
) -> Rocket<Build> {
    let needed = u32::try_from(request_timeout.as_secs() + 1).unwrap_or(u32::MAX);
    let default = rocket::config::Shutdown::default().grace;
    let grace: u32 = rocket
        .figment()
        .extract_inner("shutdown.grace")
        .unwrap_or(default);
    if grace >= needed {
        return rocket;
    }
    if grace != default {
        tracing::warn!(
            "the shutdown grace period ({grace}s) is shorter than the request timeout: a stop \
             may cut off deliveries waiting for their commit (Svix retries them)"
        );
        return rocket;
    }
    let figment = rocket.figment().clone().merge(("shutdown.grace", needed));
    rocket.configure(figment)
}
