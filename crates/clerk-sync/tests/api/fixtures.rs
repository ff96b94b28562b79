//! Every published Clerk example (and the older shapes under `variants/`) is typed, delivered,
//! acknowledged and lands where it belongs.

use clerk_sync::clerk::{ClerkEvent, Envelope};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

use clerk_sync_test_support::*;

/// The table an event type is projected into; `None` for ledger-only messages.
fn table_for(event_type: &str) -> Option<&'static str> {
    Some(match event_type.split('.').next().unwrap() {
        "user" => "clerk.users",
        "session" => "clerk.sessions",
        "organization" => "clerk.organizations",
        "organizationDomain" => "clerk.organization_domains",
        "organizationMembership" => "clerk.organization_memberships",
        "organizationInvitation" => "clerk.organization_invitations",
        "role" => "clerk.roles",
        "permission" => "clerk.permissions",
        "waitlistEntry" => "clerk.waitlist_entries",
        "subscription" => "clerk.subscriptions",
        "subscriptionItem" => "clerk.subscription_items",
        "paymentAttempt" => "clerk.payment_attempts",
        "email" | "sms" => return None,
        other => panic!("no table for {other}"),
    })
}

#[test]
fn every_published_event_type_has_a_typed_variant() {
    let files = all_fixture_files();
    let top_level: Vec<&String> = files.iter().filter(|f| !f.contains('/')).collect();
    assert_eq!(top_level.len(), 45);
    for file in files {
        let body = fixture(&file);
        let envelope = Envelope::parse(&body).unwrap_or_else(|e| panic!("{file}: {e}"));
        let event = ClerkEvent::from_envelope(&envelope).unwrap_or_else(|e| panic!("{file}: {e}"));
        assert!(
            !matches!(event, ClerkEvent::Unknown { .. }),
            "{file} is Unknown"
        );
        let expected_type = file
            .rsplit('/')
            .next()
            .unwrap()
            .split(".json")
            .next()
            .unwrap();
        let expected_type = expected_type.split(".clerk-docs").next().unwrap();
        assert_eq!(event.event_type(), expected_type, "{file}");
        assert!(ClerkEvent::KNOWN_TYPES.contains(&expected_type));
    }
}

#[sqlx::test(migrations = false)]
async fn every_fixture_is_acknowledged_and_lands_where_it_belongs(
    _: PgPoolOptions,
    db: PgConnectOptions,
) {
    let app = TestApp::spawn(db).await;
    for file in all_fixture_files() {
        let body = fixture(&file);
        let envelope = Envelope::parse(&body).unwrap();
        let object_id = envelope.object_id().unwrap();
        let svix_id = new_svix_id();
        let ack = expect_status(app.deliver_as(&svix_id, &body).await, 200).await;
        let status: String =
            sqlx::query_scalar("select status from clerk.webhook_events where svix_id = $1")
                .bind(&svix_id)
                .fetch_one(&app.db)
                .await
                .unwrap();
        assert_eq!(ack["outcome"], status.as_str(), "{file}");
        match table_for(&envelope.event_type) {
            Some(table) => {
                assert!(status == "applied" || status == "stale", "{file}: {status}");
                let rows = app
                    .count(&format!(
                        "select count(*) from {table} where id = '{object_id}'"
                    ))
                    .await;
                assert_eq!(rows, 1, "{file} not in {table}");
            }
            None => assert_eq!(status, "recorded", "{file}"),
        }
    }
}

#[sqlx::test(migrations = false)]
async fn typed_columns_hold_what_apps_query(_: PgPoolOptions, db: PgConnectOptions) {
    let app = TestApp::spawn(db).await;
    for file in [
        "organization.created.json",
        "organizationMembership.created.json",
        "organizationInvitation.created.json",
        "organizationDomain.updated.json",
        "session.created.json",
        "subscription.created.json",
        "subscriptionItem.active.json",
        "paymentAttempt.updated.json",
        "waitlistEntry.updated.json",
        "role.created.json",
        "permission.created.json",
    ] {
        expect_status(app.deliver(&fixture(file)).await, 200).await;
    }
    let checks = [
        ("select name || '/' || slug from clerk.organizations", "Acme Corp/acme-corp"),
        (
            "select organization_id || '/' || user_id || '/' || role from clerk.organization_memberships",
            "org_2g7np7Hrk0SN6kj5EDMLDaKNL0S/user_2h8op3Isl1QR7tKu5FGNfaLKEoU/org:member",
        ),
        (
            "select email_address || '/' || status || '/' || organization_id from clerk.organization_invitations",
            "jane.doe@acme.com/pending/org_2g7np7Hrk0SN6kj5EDMLDaKNL0S",
        ),
        ("select name || '/' || verification_status from clerk.organization_domains", "acme.com/verified"),
        (
            "select user_id || '/' || client_id || '/' || status || '/' || (extract(epoch from expire_at) * 1000)::bigint from clerk.sessions",
            "user_2g7np7Hrk0SN6kj5EDMLDaKNL0S/client_2g7np7Hrk0SN6kj5EDMLDaKNL0S/active/1716969600000",
        ),
        ("select status || '/' || user_id || '/' || coalesce(organization_id, 'none') from clerk.subscriptions", "active/user_34D368EufHwugfYh4yyGNEheM0S/none"),
        ("select status || '/' || plan_slug || '/' || subscription_id from clerk.subscription_items", "active/free-plan/csub_2g7np7Hrk0SN6kj5EDMLDaKNL0S"),
        ("select status || '/' || amount || '/' || currency from clerk.payment_attempts", "paid/2200/USD"),
        ("select email_address || '/' || status from clerk.waitlist_entries", "john.doe@example.com/invited"),
        ("select key from clerk.roles", "org:content_manager"),
        ("select key || '/' || type from clerk.permissions", "org:posts:create/custom"),
    ];
    for (sql, expected) in checks {
        let got: String = sqlx::query_scalar(sql).fetch_one(&app.db).await.unwrap();
        assert_eq!(got, expected, "{sql}");
    }
}

#[sqlx::test(migrations = false)]
async fn a_redelivery_of_any_fixture_changes_nothing(_: PgPoolOptions, db: PgConnectOptions) {
    let app = TestApp::spawn(db).await;
    for file in all_fixture_files() {
        let body = fixture(&file);
        let svix_id = new_svix_id();
        expect_status(app.deliver_as(&svix_id, &body).await, 200).await;
        let before = snapshot(&app).await;
        let ack = expect_status(app.deliver_as(&svix_id, &body).await, 200).await;
        assert_eq!(ack["outcome"], "duplicate", "{file}");
        assert_eq!(snapshot(&app).await, before, "{file}");
    }
}

/// Every projected row and ledger row, as JSON text, without the time of writing.
pub async fn snapshot(app: &TestApp) -> Vec<String> {
    let mut rows = Vec::new();
    for table in PROJECTED_TABLES.iter().chain(&["clerk.webhook_events"]) {
        let sql = format!(
            "select (to_jsonb(t) - 'synced_at' - 'received_at')::text from {table} t order by 1"
        );
        rows.extend(
            sqlx::query_scalar::<_, String>(&sql)
                .fetch_all(&app.db)
                .await
                .unwrap(),
        );
    }
    rows
}

pub const PROJECTED_TABLES: [&str; 12] = [
    "clerk.users",
    "clerk.sessions",
    "clerk.organizations",
    "clerk.organization_domains",
    "clerk.organization_memberships",
    "clerk.organization_invitations",
    "clerk.roles",
    "clerk.permissions",
    "clerk.waitlist_entries",
    "clerk.subscriptions",
    "clerk.subscription_items",
    "clerk.payment_attempts",
];
