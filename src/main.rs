//! The Shuttle entry point: `shuttle run` locally, `shuttle deploy` in the cloud.
//!
//! Shuttle provisions the Postgres and hands us its connection string; we size our own pool
//! (shuttle-shared-db's ready-made `PgPool` is capped at 5 connections). `local_uri` points
//! `shuttle run` at your local Postgres instead of a Docker container.
//!
//! shuttle-codegen 0.57 interpolates `{secrets.DATABASE_URL}` in every environment, so the key
//! must exist in `Secrets.toml` too, though a deployment ignores its value (see
//! `Secrets.toml.example`).

use anyhow::Context;
use clerk_sync::config::Settings;
use clerk_sync::db;

#[shuttle_runtime::main]
async fn main(
    #[shuttle_shared_db::Postgres(local_uri = "{secrets.DATABASE_URL}")] database_url: String,
    #[shuttle_runtime::Secrets] secrets: shuttle_runtime::SecretStore,
) -> shuttle_rocket::ShuttleRocket {
    let settings = Settings::from_lookup(|name| secrets.get(name)).map_err(anyhow::Error::from)?;
    let pool = db::connect_lazy(&database_url, &settings.database)
        .context("Shuttle's database connection string is not a valid Postgres URL")?;
    Ok(clerk_sync::rocket(pool, settings).into())
}
