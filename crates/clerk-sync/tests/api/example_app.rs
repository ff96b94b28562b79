//! The `examples/existing_app.rs` app: its own routes keep working beside the sync, and its
//! endpoint serves the synced tables through the library's typed reads.

use rocket::local::asynchronous::Client;
use serde_json::json;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

use clerk_sync_test_support::*;

#[path = "../../examples/existing_app.rs"]
#[allow(dead_code)]
mod existing_app;

#[sqlx::test(migrations = false)]
async fn the_example_app_serves_its_own_routes_from_the_synced_tables(
    _: PgPoolOptions,
    db: PgConnectOptions,
) {
    let settings = settings(SECRET);
    let pool = clerk_sync::db::pool_options(&settings.database).connect_lazy_with(db.clone());
    let client = Client::tracked(existing_app::app(pool.clone(), settings))
        .await
        .unwrap();
    let app = TestApp { client, db: pool };

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
    let membership = |id: &str, user: &str| {
        event(
            "organizationMembership.created.json",
            json!({ "id": id, "organization": { "id": "org_1" }, "public_user_data": { "user_id": user } }),
            None,
        )
    };
    for body in [
        event("organization.created.json", json!({ "id": "org_1" }), None),
        user_event("user.created", "user_a", 1, "Alpha"),
        user_event("user.created", "user_b", 1, "Beta"),
        membership("orgmem_a", "user_a"),
        membership("orgmem_b", "user_b"),
    ] {
        expect_status(app.deliver(&body).await, 200).await;
    }
    let members: serde_json::Value = serde_json::from_str(
        &app.client
            .get("/orgs/org_1/members")
            .dispatch()
            .await
            .into_string()
            .await
            .unwrap(),
    )
    .unwrap();
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
    let unknown = app.client.get("/orgs/org_unknown/members").dispatch().await;
    assert_eq!(unknown.status().code, 404);
}
