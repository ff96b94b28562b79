//! The `examples/existing_app.rs` app: its own routes keep working beside the sync, and its
//! endpoints serve the synced tables through the library's typed reads to a signed-in user
//! (tokens signed here with the session tests' keys).

use rocket::http::{Header, Status};
use rocket::local::asynchronous::Client;
use serde_json::{json, Value};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

use clerk_sync::session::SessionVerifier;
use clerk_sync_test_support::*;

use super::session::{sign, v1_claims, verifier, with};

#[path = "../../examples/existing_app.rs"]
#[allow(dead_code)]
mod existing_app;

/// The example app on this test's database, with the session verifier of the session tests.
async fn example_app(db: PgConnectOptions) -> TestApp {
    example_app_with(db, verifier()).await
}

async fn example_app_with(db: PgConnectOptions, verifier: SessionVerifier) -> TestApp {
    let mut settings = settings(SECRET);
    settings.session = Some(verifier);
    let pool = clerk_sync::db::pool_options(&settings.database).connect_lazy_with(db);
    let client = Client::tracked(existing_app::app(pool.clone(), settings))
        .await
        .unwrap();
    TestApp { client, db: pool }
}

/// A valid token for `user_id`, naming `org` as the active organization when given.
fn token_for(user_id: &str, org: Option<&str>) -> String {
    sign(&with(
        v1_claims(),
        json!({ "sub": user_id, "org_id": org, "org_role": org.map(|_| "org:member") }),
    ))
}

/// `GET path` with `token` (or none): the status and the JSON body, when there is one.
async fn get(app: &TestApp, path: &str, token: Option<&str>) -> (Status, Option<Value>) {
    let mut request = app.client.get(path.to_owned());
    if let Some(token) = token {
        request = request.header(Header::new("Authorization", format!("Bearer {token}")));
    }
    let response = request.dispatch().await;
    let status = response.status();
    (status, response.into_json().await)
}

fn membership(id: &str, org: &str, user: &str) -> String {
    event(
        "organizationMembership.created.json",
        json!({ "id": id, "organization": { "id": org }, "public_user_data": { "user_id": user } }),
        None,
    )
}

#[sqlx::test(migrations = false)]
async fn the_example_app_serves_its_own_routes_from_the_synced_tables_to_members(
    _: PgPoolOptions,
    db: PgConnectOptions,
) {
    let app = example_app(db).await;
    assert_eq!(
        app.client
            .get("/")
            .dispatch()
            .await
            .into_string()
            .await
            .unwrap(),
        "my app, now with Clerk data in its own database"
    );
    for body in [
        event("organization.created.json", json!({ "id": "org_1" }), None),
        user_event("user.created", "user_a", 1, "Alpha"),
        user_event("user.created", "user_b", 1, "Beta"),
        user_event("user.created", "user_c", 1, "Gamma"),
        membership("orgmem_a", "org_1", "user_a"),
        membership("orgmem_b", "org_1", "user_b"),
    ] {
        expect_status(app.deliver(&body).await, 200).await;
    }

    // A member, whether or not the token names this organization as the active one.
    for token in [
        token_for("user_a", None),
        token_for("user_b", Some("org_1")),
    ] {
        let (status, members) = get(&app, "/orgs/org_1/members", Some(&token)).await;
        assert_eq!(status, Status::Ok);
        let members = members.unwrap();
        let names: Vec<&str> = members
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["last_name"].as_str().unwrap())
            .collect();
        assert_eq!(names.len(), 2);
        assert!(
            names.contains(&"Alpha") && names.contains(&"Beta"),
            "{members}"
        );
    }

    // Someone else, even naming the organization in their token: 403.
    let (status, _) = get(
        &app,
        "/orgs/org_1/members",
        Some(&token_for("user_c", Some("org_1"))),
    )
    .await;
    assert_eq!(status, Status::Forbidden);
    // An organization nobody here belongs to is 403 too: its existence is not given away.
    let (status, _) = get(
        &app,
        "/orgs/org_unknown/members",
        Some(&token_for("user_a", None)),
    )
    .await;
    assert_eq!(status, Status::Forbidden);

    // No token: the guard's JSON 401.
    let (status, body) = get(&app, "/orgs/org_1/members", None).await;
    assert_eq!(status, Status::Unauthorized);
    assert_eq!(body.unwrap()["error"], "unauthorized");
}

#[sqlx::test(migrations = false)]
async fn me_is_the_synced_user_once_delivered_and_none_after_deletion(
    _: PgPoolOptions,
    db: PgConnectOptions,
) {
    let app = example_app(db).await;
    let token = token_for("user_a", Some("org_1"));

    // Signed in before the webhook delivered the user: the claims, not a 500.
    let (status, body) = get(&app, "/me", Some(&token)).await;
    assert_eq!(status, Status::Ok);
    assert_eq!(
        body.unwrap(),
        json!({
            "user_id": "user_a", "synced": false,
            "org": { "id": "org_1", "role": "org:member", "member": false },
        })
    );

    for body in [
        event("organization.created.json", json!({ "id": "org_1" }), None),
        user_event("user.created", "user_a", 1, "Alpha"),
        membership("orgmem_a", "org_1", "user_a"),
    ] {
        expect_status(app.deliver(&body).await, 200).await;
    }
    let (status, body) = get(&app, "/me", Some(&token)).await;
    assert_eq!(status, Status::Ok);
    let body = body.unwrap();
    assert_eq!(body["user_id"], "user_a");
    assert_eq!(body["synced"], true);
    assert_eq!(body["last_name"], "Alpha");
    assert_eq!(body["email"], "primary@example.com");
    assert_eq!(body["org"]["member"], true, "{body}");

    // Deleted in Clerk: the same (still unexpired) token gets no user.
    expect_status(app.deliver(&user_deleted("user_a")).await, 200).await;
    let (status, body) = get(&app, "/me", Some(&token)).await;
    assert_eq!(status, Status::Ok);
    let body = body.unwrap();
    assert_eq!(body["synced"], false, "{body}");
    assert_eq!(body.get("last_name"), None);

    // Without a valid token: 401.
    assert_eq!(get(&app, "/me", None).await.0, Status::Unauthorized);
    let (status, _) = get(&app, "/me", Some("not.a.token")).await;
    assert_eq!(status, Status::Unauthorized);
}

/// `body` (an envelope) as sent by `instance`.
fn from_instance(instance: &str, body: String) -> String {
    let mut envelope: Value = serde_json::from_str(&body).unwrap();
    envelope["instance_id"] = json!(instance);
    envelope.to_string()
}

#[sqlx::test(migrations = false)]
async fn with_an_instance_the_example_app_reads_only_that_instances_rows(
    _: PgPoolOptions,
    db: PgConnectOptions,
) {
    let app = example_app_with(db, verifier().with_instance("ins_here")).await;
    for (instance, body) in [
        ("ins_here", user_event("user.created", "user_a", 1, "Alpha")),
        (
            "ins_here",
            event(
                "organization.created.json",
                json!({ "id": "org_here" }),
                None,
            ),
        ),
        ("ins_here", membership("orgmem_here", "org_here", "user_a")),
        (
            "ins_other",
            event(
                "organization.created.json",
                json!({ "id": "org_other" }),
                None,
            ),
        ),
        (
            "ins_other",
            membership("orgmem_other", "org_other", "user_a"),
        ),
    ] {
        expect_status(app.deliver(&from_instance(instance, body)).await, 200).await;
    }
    let token = token_for("user_a", Some("org_here"));
    let (status, body) = get(&app, "/me", Some(&token)).await;
    assert_eq!(status, Status::Ok);
    let body = body.unwrap();
    assert_eq!(
        (&body["synced"], &body["org"]["member"]),
        (&json!(true), &json!(true))
    );
    let (status, members) = get(&app, "/orgs/org_here/members", Some(&token)).await;
    assert_eq!(status, Status::Ok);
    assert_eq!(members.unwrap().as_array().unwrap().len(), 1);
    // The other instance's organization is not this app's: 403, as for an unknown one.
    let (status, _) = get(&app, "/orgs/org_other/members", Some(&token)).await;
    assert_eq!(status, Status::Forbidden);
    // Its membership is not the session's either.
    let (_, body) = get(&app, "/me", Some(&token_for("user_a", Some("org_other")))).await;
    assert_eq!(body.unwrap()["org"]["member"], false);
}
