//! `user.*` events into `clerk.users`: at-least-once, out-of-order delivery converges.

use clerk_sync::clerk::{ClerkEvent, Envelope};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

use clerk_sync_test_support::*;

const T1: i64 = 1_716_883_200_000;
const T2: i64 = 1_716_883_500_000;

#[derive(Debug, PartialEq, sqlx::FromRow)]
struct UserRow {
    id: String,
    primary_email: Option<String>,
    last_name: Option<String>,
    updated_ms: Option<i64>,
    deleted: bool,
}

async fn user(app: &TestApp, id: &str) -> Option<UserRow> {
    sqlx::query_as(
        "select id, primary_email, last_name,
                (extract(epoch from updated_at) * 1000)::bigint as updated_ms,
                deleted_at is not null as deleted
         from clerk.users where id = $1",
    )
    .bind(id)
    .fetch_optional(&app.db)
    .await
    .unwrap()
}

#[sqlx::test(migrations = false)]
async fn user_created_lands_in_users_with_its_primary_email(
    _: PgPoolOptions,
    db: PgConnectOptions,
) {
    let app = TestApp::spawn(db).await;
    let ack = expect_status(
        app.deliver(&user_event("user.created", "user_1", T1, "Doe"))
            .await,
        200,
    )
    .await;
    assert_eq!(ack["outcome"], "applied");
    let row = user(&app, "user_1").await.unwrap();
    assert_eq!(row.primary_email.as_deref(), Some("primary@example.com"));
    assert_eq!(row.updated_ms, Some(T1));
    let (first_name, data_id): (String, String) =
        sqlx::query_as("select first_name, data->>'id' from clerk.users where id = 'user_1'")
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!((first_name.as_str(), data_id.as_str()), ("John", "user_1"));
    assert_eq!(app.ledger_rows().await, 1);
}

#[sqlx::test(migrations = false)]
async fn user_updated_replaces_the_stored_user(_: PgPoolOptions, db: PgConnectOptions) {
    let app = TestApp::spawn(db).await;
    expect_status(
        app.deliver(&user_event("user.created", "user_1", T1, "Doe"))
            .await,
        200,
    )
    .await;
    expect_status(
        app.deliver(&user_event("user.updated", "user_1", T2, "Smith"))
            .await,
        200,
    )
    .await;
    let row = user(&app, "user_1").await.unwrap();
    assert_eq!(
        (row.last_name.as_deref(), row.updated_ms),
        (Some("Smith"), Some(T2))
    );
}

#[sqlx::test(migrations = false)]
async fn user_deleted_leaves_a_tombstone(_: PgPoolOptions, db: PgConnectOptions) {
    let app = TestApp::spawn(db).await;
    expect_status(
        app.deliver(&user_event("user.created", "user_1", T1, "Doe"))
            .await,
        200,
    )
    .await;
    expect_status(app.deliver(&user_deleted("user_1")).await, 200).await;
    let row = user(&app, "user_1").await.unwrap();
    assert!(row.deleted);
    // The last known state is kept beside the tombstone.
    assert_eq!(row.last_name.as_deref(), Some("Doe"));
}

#[sqlx::test(migrations = false)]
async fn an_update_before_its_create_converges_to_the_update(
    _: PgPoolOptions,
    db: PgConnectOptions,
) {
    let app = TestApp::spawn(db).await;
    expect_status(
        app.deliver(&user_event("user.updated", "user_1", T2, "Smith"))
            .await,
        200,
    )
    .await;
    let ack = expect_status(
        app.deliver(&user_event("user.created", "user_1", T1, "Doe"))
            .await,
        200,
    )
    .await;
    assert_eq!(ack["outcome"], "stale");
    let row = user(&app, "user_1").await.unwrap();
    assert_eq!(
        (row.last_name.as_deref(), row.updated_ms),
        (Some("Smith"), Some(T2))
    );
    assert_eq!(
        app.count("select count(*) from clerk.webhook_events where status = 'stale'")
            .await,
        1
    );
}

#[sqlx::test(migrations = false)]
async fn stale_update_does_not_overwrite_newer_user(_: PgPoolOptions, db: PgConnectOptions) {
    let app = TestApp::spawn(db).await;
    expect_status(
        app.deliver(&user_event("user.created", "user_1", T1, "Doe"))
            .await,
        200,
    )
    .await;
    expect_status(
        app.deliver(&user_event("user.updated", "user_1", T2, "Newest"))
            .await,
        200,
    )
    .await;
    expect_status(
        app.deliver(&user_event("user.updated", "user_1", T1 + 1, "Older"))
            .await,
        200,
    )
    .await;
    let row = user(&app, "user_1").await.unwrap();
    assert_eq!(
        (row.last_name.as_deref(), row.updated_ms),
        (Some("Newest"), Some(T2))
    );
}

#[sqlx::test(migrations = false)]
async fn an_update_after_delete_does_not_resurrect_the_user(
    _: PgPoolOptions,
    db: PgConnectOptions,
) {
    let app = TestApp::spawn(db).await;
    expect_status(
        app.deliver(&user_event("user.created", "user_1", T1, "Doe"))
            .await,
        200,
    )
    .await;
    expect_status(app.deliver(&user_deleted("user_1")).await, 200).await;
    expect_status(
        app.deliver(&user_event("user.updated", "user_1", T2, "Late"))
            .await,
        200,
    )
    .await;
    let row = user(&app, "user_1").await.unwrap();
    // Deleted for good; the late update only refreshes the last known state beside the tombstone,
    // so the final row does not depend on the order the three events came in.
    assert!(row.deleted);
    assert_eq!(row.last_name.as_deref(), Some("Late"));
}

#[sqlx::test(migrations = false)]
async fn a_delete_before_the_create_leaves_a_tombstone(_: PgPoolOptions, db: PgConnectOptions) {
    let app = TestApp::spawn(db).await;
    expect_status(app.deliver(&user_deleted("user_1")).await, 200).await;
    let tombstone = user(&app, "user_1").await.unwrap();
    assert!(tombstone.deleted);
    assert_eq!(tombstone.last_name, None);
    expect_status(
        app.deliver(&user_event("user.created", "user_1", T1, "Doe"))
            .await,
        200,
    )
    .await;
    let row = user(&app, "user_1").await.unwrap();
    assert!(row.deleted);
    assert_eq!(row.last_name.as_deref(), Some("Doe"));
}

#[sqlx::test(migrations = false)]
async fn replayed_svix_id_is_a_no_op(_: PgPoolOptions, db: PgConnectOptions) {
    let app = TestApp::spawn(db).await;
    let svix_id = new_svix_id();
    expect_status(
        app.deliver_as(&svix_id, &user_event("user.created", "user_1", T1, "Doe"))
            .await,
        200,
    )
    .await;
    // Same svix-id, different content: a retry is the same message, so nothing may change.
    let ack = expect_status(
        app.deliver_as(
            &svix_id,
            &user_event("user.updated", "user_1", T2, "Changed"),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(ack["outcome"], "duplicate");
    assert_eq!(app.ledger_rows().await, 1);
    assert_eq!(
        user(&app, "user_1").await.unwrap().last_name.as_deref(),
        Some("Doe")
    );
}

#[sqlx::test(migrations = false)]
async fn no_unique_constraint_on_email(_: PgPoolOptions, db: PgConnectOptions) {
    let app = TestApp::spawn(db).await;
    expect_status(
        app.deliver(&user_event("user.created", "user_1", T1, "Doe"))
            .await,
        200,
    )
    .await;
    expect_status(
        app.deliver(&user_event("user.created", "user_2", T1, "Doe"))
            .await,
        200,
    )
    .await;
    assert_eq!(
        app.count("select count(*) from clerk.users where primary_email = 'primary@example.com'")
            .await,
        2
    );
}

#[sqlx::test(migrations = false)]
async fn every_published_user_fixture_is_typed_and_stored(_: PgPoolOptions, db: PgConnectOptions) {
    let app = TestApp::spawn(db).await;
    let files = [
        "user.created.json",
        "user.updated.json",
        "user.deleted.json",
        "variants/user.created.clerk-docs-overview.json",
        "variants/dashboard-catalog/user.created.json",
        "variants/dashboard-catalog/user.updated.json",
        "variants/dashboard-catalog/user.deleted.json",
    ];
    for file in files {
        let body = fixture(file);
        let envelope = Envelope::parse(&body).unwrap();
        let event = ClerkEvent::from_envelope(&envelope).unwrap();
        let expected = file.rsplit('/').next().unwrap();
        let typed = matches!(
            (&event, expected),
            (
                ClerkEvent::UserCreated(_),
                "user.created.json" | "user.created.clerk-docs-overview.json"
            ) | (ClerkEvent::UserUpdated(_), "user.updated.json")
                | (ClerkEvent::UserDeleted(_), "user.deleted.json")
        );
        assert!(typed, "{file} parsed as {event:?}");
        let ack = expect_status(app.deliver(&body).await, 200).await;
        assert_ne!(ack["outcome"], "unhandled", "{file}");
    }
    assert_eq!(app.ledger_rows().await, files.len() as i64);
    // The docs example names its primary address; the published example has none.
    assert_eq!(
        app.count("select count(*) from clerk.users where id = 'user_29w83sxmDNGwOuEthce5gg56FcC' and primary_email = 'example@example.org'").await,
        1
    );
}
