//! Your app: the Clerk sync, a table of the app's own (`migrations/`) that a hook fills in the
//! transaction that stores each new user, and a route that reads it beside the synced user.
//! Everything Clerk-specific comes from the `clerk-sync` library; this file is yours to change.

use clerk_sync::clerk::ClerkEvent;
use clerk_sync::config::Settings;
use clerk_sync::delivery::Delivery;
use clerk_sync::hooks::{HookError, Hooks};
use clerk_sync::hooks::{Outcome, Tx};
use clerk_sync::ClerkSync;
use rocket::fairing::AdHoc;
use rocket::http::Status;
use rocket::serde::json::Json;
use rocket::{get, routes, Build, Rocket, State};
use serde::Serialize;
use sqlx::PgPool;

/// The app's pool: the same database as the sync.
struct Db(PgPool);

/// The app's own logic on Clerk events.
struct Profiles;

#[rocket::async_trait]
impl Hooks for Profiles {
    /// A profile for each new user, atomically with `clerk.users`: if it cannot be written,
    /// neither is the user, and Svix retries the delivery.
    async fn in_transaction(
        &self,
        tx: &mut Tx<'_>,
        delivery: &Delivery,
        _: Outcome,
    ) -> Result<(), HookError> {
        if let ClerkEvent::UserCreated(user) = delivery.event() {
            sqlx::query("insert into profiles (user_id) values ($1) on conflict do nothing")
                .bind(&user.id)
                .execute(&mut **tx)
                .await?;
        }
        Ok(())
    }
}

#[get("/")]
fn index() -> &'static str {
    "your app, with Clerk's users in its own Postgres"
}

#[derive(Serialize, sqlx::FromRow)]
struct Profile {
    user_id: String,
    plan: String,
    first_name: Option<String>,
    last_name: Option<String>,
    primary_email: Option<String>,
}

/// A user's profile, joined to the synced user: no call to Clerk.
#[get("/profiles/<user_id>")]
async fn profile(user_id: &str, db: &State<Db>) -> Result<Json<Profile>, Status> {
    sqlx::query_as(
        "select p.user_id, p.plan, u.first_name, u.last_name, u.primary_email
         from profiles p
         join clerk.users u on u.id = p.user_id and u.deleted_at is null
         where p.user_id = $1",
    )
    .bind(user_id)
    .fetch_optional(&db.0)
    .await
    .map_err(|_| Status::ServiceUnavailable)?
    .map(Json)
    .ok_or(Status::NotFound)
}

/// The app's migrations (`migrations/`), beside the library's in one `_sqlx_migrations` table.
async fn migrate(pool: &PgPool) -> Result<(), sqlx::migrate::MigrateError> {
    let mut migrator = sqlx::migrate!();
    // The library's migrations are in the same table; they are not ours to check.
    migrator.set_ignore_missing(true);
    migrator.run(pool).await
}

/// The whole app: the sync service (`POST /webhooks/clerk`, `/healthz`, `/livez`, `/metrics`)
/// with the app's hook, its migrations, routes and state.
pub fn app(pool: PgPool, settings: Settings) -> Rocket<Build> {
    let migrations = pool.clone();
    ClerkSync::new(pool.clone(), settings)
        .hooks(Profiles)
        .rocket()
        .attach(AdHoc::try_on_ignite(
            "app migrations",
            |rocket| async move {
                match migrate(&migrations).await {
                    Ok(()) => Ok(rocket),
                    Err(err) => {
                        tracing::error!("the app's migrations failed: {err}");
                        Err(rocket)
                    }
                }
            },
        ))
        .manage(Db(pool))
        .mount("/", routes![index, profile])
}
