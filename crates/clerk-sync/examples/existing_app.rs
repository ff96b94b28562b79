//! An existing Rocket app that adds Clerk sync with one `attach`, keeps its own routes and its
//! own pool, writes its own table atomically with ours, and serves an endpoint from the synced
//! tables.
//!
//! ```sh
//! CLERK_WEBHOOK_SIGNING_SECRET=whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw cargo run --example existing_app
//! curl http://127.0.0.1:8000/orgs/org_2g7np7Hrk0SN6kj5EDMLDaKNL0S/members
//! ```

use clerk_sync::clerk::ClerkEvent;
use clerk_sync::config::Settings;
use clerk_sync::delivery::Delivery;
use clerk_sync::hooks::{HookError, Hooks};
use clerk_sync::hooks::{Outcome, Tx};
use clerk_sync::ClerkSync;
use rocket::serde::json::Json;
use rocket::{get, routes, Build, Rocket, State};
use serde::Serialize;
use sqlx::PgPool;

/// The app's own state: its pool (the same database as the sync, any schema it likes).
struct Db(PgPool);

/// The app's own logic on Clerk events.
struct Profiles;

#[rocket::async_trait]
impl Hooks for Profiles {
    /// A `profiles` row for each new user, in the same transaction as `clerk.users`.
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

    /// Side effects after the commit, off the request path.
    async fn after_commit(&self, delivery: &Delivery, _: Outcome) {
        if let ClerkEvent::UserCreated(user) = delivery.event() {
            println!("would send a welcome email to {}", user.id);
        }
    }
}

#[get("/")]
fn index() -> &'static str {
    "my app, now with Clerk data in its own database"
}

#[derive(Serialize, sqlx::FromRow)]
struct Member {
    user_id: Option<String>,
    role: Option<String>,
    first_name: Option<String>,
    last_name: Option<String>,
}

/// Members of an organization, straight from the synced tables: no call to Clerk.
#[get("/orgs/<org_id>/members")]
async fn members(org_id: &str, db: &State<Db>) -> Result<Json<Vec<Member>>, rocket::http::Status> {
    sqlx::query_as(
        "select m.user_id, m.role, u.first_name, u.last_name
         from clerk.organization_memberships m
         left join clerk.users u on u.id = m.user_id and u.deleted_at is null
         where m.organization_id = $1 and m.deleted_at is null
         order by m.created_at",
    )
    .bind(org_id)
    .fetch_all(&db.0)
    .await
    .map(Json)
    .map_err(|_| rocket::http::Status::ServiceUnavailable)
}

/// The app: its own routes and state, plus the sync stage.
pub fn app(pool: PgPool, settings: Settings) -> Rocket<Build> {
    rocket::build()
        .manage(Db(pool.clone()))
        .mount("/", routes![index, members])
        .attach(ClerkSync::new(pool, settings).hooks(Profiles).stage())
}

#[rocket::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = std::env::var("DATABASE_URL")?;
    let settings = Settings::from_env()?;
    let pool = clerk_sync::db::connect_lazy(&url, &settings.database)?;
    // The app's own migration; in a real app, its own `sqlx::migrate!`.
    sqlx::query("create table if not exists profiles (user_id text primary key)")
        .execute(&pool)
        .await?;
    let _ = app(pool, settings).launch().await?;
    Ok(())
}
