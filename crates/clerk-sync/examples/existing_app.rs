//! An existing Rocket app that adds Clerk sync with one `attach`, keeps its own routes and its
//! own pool, acts after each new user is stored, and serves the signed-in user and their
//! organization from the synced tables (feature `session`: Clerk's session token, verified with
//! the instance's PEM key in `CLERK_JWT_KEY`; with several Clerk instances in one database,
//! `CLERK_INSTANCE_ID` keeps the reads to this one's rows).
//!
//! ```sh
//! CLERK_WEBHOOK_SIGNING_SECRET=whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw CLERK_JWT_KEY="$(cat clerk.pem)" \
//!   cargo run -p clerk-sync --features session --example existing_app
//! curl -H "Authorization: Bearer $SESSION_TOKEN" http://127.0.0.1:8000/me
//! curl -H "Authorization: Bearer $SESSION_TOKEN" http://127.0.0.1:8000/orgs/org_2g7np7Hrk0SN6kj5EDMLDaKNL0S/members
//! ```

use clerk_sync::clerk::ClerkEvent;
use clerk_sync::config::Settings;
use clerk_sync::delivery::Delivery;
use clerk_sync::hooks::{Hooks, Outcome};
use clerk_sync::reads;
use clerk_sync::session::{self, ClerkSession, SessionVerifier, SignedIn};
use clerk_sync::ClerkSync;
use rocket::http::Status;
use rocket::serde::json::Json;
use rocket::{get, routes, Build, Rocket, State};
use serde::Serialize;
use serde_json::{json, Value};
use sqlx::PgPool;

/// The app's own state: its pool (the same database as the sync).
struct Db(PgPool);

/// The app's own logic on Clerk events. (To write your own tables atomically with ours, use
/// `Hooks::in_transaction`, as the template app at the top of the repository does.)
struct Welcome;

#[rocket::async_trait]
impl Hooks for Welcome {
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

#[derive(Serialize)]
struct Member {
    user_id: Option<String>,
    role: Option<String>,
    first_name: Option<String>,
    last_name: Option<String>,
}

/// The signed-in user, from the synced tables (no call to Clerk). Signed in seconds ago, before
/// the webhook delivered them, the user is not synced yet: the token's claims still say who it is.
/// 401 without a valid token.
#[get("/me")]
fn me(signed_in: SignedIn) -> Json<Value> {
    let org = signed_in.org().map(|org| {
        json!({
            "id": org.id,
            "role": org.role,
            "member": signed_in.membership.is_some(),
        })
    });
    Json(match &signed_in.user {
        Some(user) => json!({
            "user_id": user.id,
            "synced": true,
            "first_name": user.first_name,
            "last_name": user.last_name,
            "email": user.primary_email(),
            "org": org,
        }),
        None => json!({ "user_id": signed_in.user_id(), "synced": false, "org": org }),
    })
}

/// Members of an organization, from the synced tables through the library's typed reads: no
/// call to Clerk, no SQL of ours. Only for a member of it: 401 without a valid token, 403 for
/// anyone else (an unknown organization too, so its existence is not given away). Read in the
/// verifier's scope, as `SignedIn` reads: only `CLERK_INSTANCE_ID`'s rows when it is set.
#[get("/orgs/<org_id>/members")]
async fn members(
    org_id: &str,
    session: ClerkSession,
    verifier: &State<SessionVerifier>,
    db: &State<Db>,
) -> Result<Json<Vec<Member>>, Status> {
    let organization = reads::organization_with_members(&db.0, org_id, verifier.scope())
        .await
        .map_err(|_| Status::ServiceUnavailable)?
        .ok_or(Status::Forbidden)?;
    let is_member = organization
        .members
        .iter()
        .any(|member| member.membership.user_id() == Some(session.user_id()));
    if !is_member {
        return Err(Status::Forbidden);
    }
    let members = organization.members.iter().map(|member| {
        let user = member.user.as_ref();
        Member {
            user_id: member.membership.user_id().map(str::to_owned),
            role: member.membership.role.clone(),
            first_name: user.and_then(|u| u.first_name.clone()),
            last_name: user.and_then(|u| u.last_name.clone()),
        }
    });
    Ok(Json(members.collect()))
}

/// The app: its own routes and state, plus the sync stage.
pub fn app(pool: PgPool, settings: Settings) -> Rocket<Build> {
    rocket::build()
        .manage(Db(pool.clone()))
        .mount("/", routes![index, me, members])
        .register("/", session::catchers())
        .attach(ClerkSync::new(pool, settings).hooks(Welcome).stage())
}

#[rocket::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = std::env::var("DATABASE_URL")?;
    let settings = Settings::from_env()?;
    let pool = clerk_sync::db::connect_lazy(&url, &settings.database)?;
    let _ = app(pool, settings).launch().await?;
    Ok(())
}
