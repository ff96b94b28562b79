//! Deleting an organization or a user reaches the rows that hang off it — whether those rows
//! arrived before or after the deletion.

use serde_json::json;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

use clerk_sync_test_support::*;

const T1: i64 = 1_716_883_200_000;
const T2: i64 = 1_716_883_500_000;
const DELETED_AT: i64 = 1_716_900_000_000;

fn membership(id: &str, org: &str, user: &str) -> String {
    event(
        "organizationMembership.created.json",
        json!({ "id": id, "organization": { "id": org }, "public_user_data": { "user_id": user }, "updated_at": T1 }),
        None,
    )
}

fn invitation(file: &str, id: &str, org: &str, updated_at: i64) -> String {
    event(
        file,
        json!({ "id": id, "organization_id": org, "updated_at": updated_at }),
        None,
    )
}

fn session(file: &str, id: &str, user: &str, updated_at: i64) -> String {
    event(
        file,
        json!({ "id": id, "user_id": user, "updated_at": updated_at }),
        None,
    )
}

fn deleted(file: &str, id: &str) -> String {
    event(file, json!({ "id": id }), Some(DELETED_AT))
}

async fn is_deleted(app: &TestApp, table: &str, id: &str) -> bool {
    sqlx::query_scalar(&format!(
        "select deleted_at is not null from {table} where id = $1"
    ))
    .bind(id)
    .fetch_one(&app.db)
    .await
    .unwrap()
}

async fn session_status(app: &TestApp, id: &str) -> String {
    sqlx::query_scalar("select status from clerk.sessions where id = $1")
        .bind(id)
        .fetch_one(&app.db)
        .await
        .unwrap()
}

#[sqlx::test(migrations = false)]
async fn deleting_an_organization_tombstones_its_memberships_and_pending_invitations(
    _: PgPoolOptions,
    db: PgConnectOptions,
) {
    let app = TestApp::spawn(db).await;
    for body in [
        event("organization.created.json", json!({ "id": "org_1" }), None),
        membership("orgmem_1", "org_1", "user_1"),
        membership("orgmem_other", "org_2", "user_1"),
        invitation(
            "organizationInvitation.created.json",
            "orginv_pending",
            "org_1",
            T1,
        ),
        invitation(
            "organizationInvitation.accepted.json",
            "orginv_accepted",
            "org_1",
            T2,
        ),
        deleted("organization.deleted.json", "org_1"),
    ] {
        expect_status(app.deliver(&body).await, 200).await;
    }
    assert!(is_deleted(&app, "clerk.organizations", "org_1").await);
    assert!(is_deleted(&app, "clerk.organization_memberships", "orgmem_1").await);
    assert!(!is_deleted(&app, "clerk.organization_memberships", "orgmem_other").await);
    assert!(is_deleted(&app, "clerk.organization_invitations", "orginv_pending").await);
    assert!(!is_deleted(&app, "clerk.organization_invitations", "orginv_accepted").await);
    let same_time = app
        .count("select count(*) from clerk.organization_memberships m join clerk.organizations o on o.id = m.organization_id where m.deleted_at = o.deleted_at")
        .await;
    assert_eq!(same_time, 1);
}

#[sqlx::test(migrations = false)]
async fn rows_that_arrive_after_their_organization_was_deleted_are_born_deleted(
    _: PgPoolOptions,
    db: PgConnectOptions,
) {
    let app = TestApp::spawn(db).await;
    expect_status(
        app.deliver(&deleted("organization.deleted.json", "org_1"))
            .await,
        200,
    )
    .await;
    expect_status(
        app.deliver(&membership("orgmem_1", "org_1", "user_1"))
            .await,
        200,
    )
    .await;
    expect_status(
        app.deliver(&invitation(
            "organizationInvitation.created.json",
            "orginv_1",
            "org_1",
            T1,
        ))
        .await,
        200,
    )
    .await;
    assert!(is_deleted(&app, "clerk.organization_memberships", "orgmem_1").await);
    assert!(is_deleted(&app, "clerk.organization_invitations", "orginv_1").await);
}

#[sqlx::test(migrations = false)]
async fn deleting_a_user_tombstones_their_memberships_and_ends_their_sessions(
    _: PgPoolOptions,
    db: PgConnectOptions,
) {
    let app = TestApp::spawn(db).await;
    for body in [
        user_event("user.created", "user_1", T1, "Doe"),
        session("session.created.json", "sess_active", "user_1", T1),
        session("session.revoked.json", "sess_revoked", "user_1", T1),
        session("session.created.json", "sess_other_user", "user_2", T1),
        membership("orgmem_1", "org_1", "user_1"),
        user_deleted("user_1"),
    ] {
        expect_status(app.deliver(&body).await, 200).await;
    }
    assert!(is_deleted(&app, "clerk.users", "user_1").await);
    assert!(is_deleted(&app, "clerk.organization_memberships", "orgmem_1").await);
    assert_eq!(session_status(&app, "sess_active").await, "ended");
    assert_eq!(session_status(&app, "sess_revoked").await, "revoked");
    assert_eq!(session_status(&app, "sess_other_user").await, "active");
}

#[sqlx::test(migrations = false)]
async fn a_session_that_arrives_after_its_user_was_deleted_is_ended(
    _: PgPoolOptions,
    db: PgConnectOptions,
) {
    let app = TestApp::spawn(db).await;
    expect_status(app.deliver(&user_deleted("user_1")).await, 200).await;
    expect_status(
        app.deliver(&session("session.created.json", "sess_1", "user_1", T1))
            .await,
        200,
    )
    .await;
    assert_eq!(session_status(&app, "sess_1").await, "ended");
}

#[sqlx::test(migrations = false)]
async fn a_membership_deletion_keeps_the_last_membership_beside_the_tombstone(
    _: PgPoolOptions,
    db: PgConnectOptions,
) {
    let app = TestApp::spawn(db).await;
    let deleted_membership = event(
        "organizationMembership.deleted.json",
        json!({ "id": "orgmem_1", "role": "org:admin", "updated_at": T2 }),
        Some(DELETED_AT),
    );
    expect_status(app.deliver(&deleted_membership).await, 200).await;
    expect_status(
        app.deliver(&membership("orgmem_1", "org_1", "user_1"))
            .await,
        200,
    )
    .await;
    assert!(is_deleted(&app, "clerk.organization_memberships", "orgmem_1").await);
    let role: String =
        sqlx::query_scalar("select role from clerk.organization_memberships where id = 'orgmem_1'")
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!(role, "org:admin");
}

#[sqlx::test(migrations = false)]
async fn a_terminal_session_state_wins_over_an_equally_timed_creation(
    _: PgPoolOptions,
    db: PgConnectOptions,
) {
    let app = TestApp::spawn(db).await;
    // Same updated_at (as in Clerk's examples), and the creation's svix-id sorts last: only the
    // lifecycle rank can keep the session ended.
    expect_status(
        app.deliver_as(
            "msg_a",
            &session("session.ended.json", "sess_1", "user_1", T1),
        )
        .await,
        200,
    )
    .await;
    let ack = expect_status(
        app.deliver_as(
            "msg_z",
            &session("session.created.json", "sess_1", "user_1", T1),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(ack["outcome"], "stale");
    assert_eq!(session_status(&app, "sess_1").await, "ended");
}

/// Holds every membership's transaction open a while after its write, so that an organization's
/// deletion can start meanwhile.
struct SlowMemberships;

#[rocket::async_trait]
impl clerk_sync::hooks::Hooks for SlowMemberships {
    async fn in_transaction(
        &self,
        tx: &mut clerk_sync::hooks::Tx<'_>,
        webhook: &clerk_sync::delivery::Delivery,
        _: clerk_sync::hooks::Outcome,
    ) -> Result<(), clerk_sync::hooks::HookError> {
        if webhook
            .envelope()
            .event_type
            .starts_with("organizationMembership.")
        {
            sqlx::query("select pg_sleep(0.6)")
                .execute(&mut **tx)
                .await?;
        }
        Ok(())
    }
}

/// The organization's deletion begins (and, at repeatable read, takes its snapshot) while the
/// membership's transaction is still open, and waits on the advisory lock until it commits. Its
/// cascade must still see the membership: every write transaction runs at READ COMMITTED,
/// whatever the database's default.
#[sqlx::test(migrations = false)]
async fn a_membership_written_while_its_organization_is_deleted_does_not_survive_it(
    _: PgPoolOptions,
    db: PgConnectOptions,
) {
    let mut settings = settings(SECRET);
    settings.batch.writers = 2;
    settings.batch.max_events = 1;
    let app = TestApp::with_hooks(db, settings, SlowMemberships).await;
    let member = async {
        expect_status(
            app.deliver(&membership("orgmem_1", "org_1", "user_1"))
                .await,
            200,
        )
        .await
    };
    let deletion = async {
        rocket::tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        expect_status(
            app.deliver(&deleted("organization.deleted.json", "org_1"))
                .await,
            200,
        )
        .await
    };
    rocket::tokio::join!(member, deletion);
    assert!(is_deleted(&app, "clerk.organizations", "org_1").await);
    assert!(
        is_deleted(&app, "clerk.organization_memberships", "orgmem_1").await,
        "the membership survived its organization's deletion"
    );
}
