//! The typed reads (`clerk_sync::reads`) over rows written by the real webhook path: signed
//! deliveries through the app, then the reads against its database.

use serde_json::{json, Value};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

use clerk_sync::reads::{self, Instance, Scope};
use clerk_sync_test_support::*;

const DEV: &str = "ins_development";
const PROD: &str = "ins_production";
const T1: i64 = 1_716_883_200_000;
const T2: i64 = 1_716_883_500_000;
/// Sessions expire in the future: the published examples expired long ago.
const LATER: i64 = 4_102_444_800_000;

/// A fixture with `edits` merged into its `data`, sent by `instance`.
fn from(instance: &str, file: &str, edits: Value) -> String {
    let mut envelope: Value = serde_json::from_str(&event(file, edits, None)).unwrap();
    envelope["instance_id"] = json!(instance);
    envelope.to_string()
}

fn user(instance: &str, id: &str, email: &str, external_id: &str) -> String {
    from(
        instance,
        "user.created.json",
        json!({
            "id": id,
            "external_id": external_id,
            "primary_email_address_id": "idn_primary",
            "email_addresses": [
                { "id": "idn_other", "email_address": "other@example.com" },
                { "id": "idn_primary", "email_address": email },
            ],
            "updated_at": T1,
        }),
    )
}

fn deleted(instance: &str, file: &str, id: &str) -> String {
    let mut envelope: Value =
        serde_json::from_str(&from(instance, file, json!({ "id": id }))).unwrap();
    envelope["timestamp"] = json!(T2);
    envelope.to_string()
}

fn organization(instance: &str, id: &str, name: &str) -> String {
    from(
        instance,
        "organization.created.json",
        json!({ "id": id, "name": name, "updated_at": T1 }),
    )
}

/// A membership created at `at` (and changed then, unless the event is a deletion, a little
/// later: Clerk keeps `created_at`).
fn membership(instance: &str, file: &str, id: &str, org: &str, user: &str, at: i64) -> String {
    let updated_at = if file.contains("deleted") { at + 1 } else { at };
    from(
        instance,
        file,
        json!({
            "id": id,
            "organization": { "id": org },
            "public_user_data": { "user_id": user },
            "created_at": at,
            "updated_at": updated_at,
        }),
    )
}

fn session(file: &str, id: &str, user: &str, updated_at: i64) -> String {
    from(
        DEV,
        file,
        json!({ "id": id, "user_id": user, "updated_at": updated_at, "expire_at": LATER }),
    )
}

async fn deliver_all(app: &TestApp, bodies: &[String]) {
    for body in bodies {
        expect_status(app.deliver(body).await, 200).await;
    }
}

#[sqlx::test(migrations = false)]
async fn a_user_is_read_by_id_email_and_external_id_as_the_event_carried_it(
    _: PgPoolOptions,
    db: PgConnectOptions,
) {
    let app = TestApp::spawn(db).await;
    deliver_all(&app, &[user(DEV, "user_ada", "Ada@Example.com", "ext_ada")]).await;
    let any = Scope::default();

    let by_id = reads::user(&app.db, "user_ada", any)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(by_id.id, "user_ada");
    assert_eq!(by_id.primary_email(), Some("Ada@Example.com"));
    assert_eq!(by_id.instance_id.as_deref(), Some(DEV));
    assert!(!by_id.deleted);

    for email in ["ada@example.com", "ADA@EXAMPLE.COM", "Ada@Example.com"] {
        let found = reads::user_by_email(&app.db, email, any).await.unwrap();
        assert_eq!(
            found.map(|u| u.object.id),
            Some("user_ada".into()),
            "{email}"
        );
    }
    let other = reads::user_by_email(&app.db, "other@example.com", any).await;
    assert!(
        other.unwrap().is_none(),
        "only the primary address finds a user"
    );

    let by_external = reads::user_by_external_id(&app.db, "ext_ada", any)
        .await
        .unwrap();
    assert_eq!(by_external.map(|u| u.object.id), Some("user_ada".into()));
    assert!(reads::user(&app.db, "user_nobody", any)
        .await
        .unwrap()
        .is_none());
}

#[sqlx::test(migrations = false)]
async fn a_deleted_user_is_skipped_unless_asked_and_its_address_finds_the_new_user(
    _: PgPoolOptions,
    db: PgConnectOptions,
) {
    let app = TestApp::spawn(db).await;
    deliver_all(
        &app,
        &[
            user(DEV, "user_old", "ada@example.com", "ext_ada"),
            deleted(DEV, "user.deleted.json", "user_old"),
        ],
    )
    .await;
    let any = Scope::default();
    assert!(reads::user(&app.db, "user_old", any)
        .await
        .unwrap()
        .is_none());
    assert!(reads::user_by_email(&app.db, "ada@example.com", any)
        .await
        .unwrap()
        .is_none());
    assert!(reads::user_by_external_id(&app.db, "ext_ada", any)
        .await
        .unwrap()
        .is_none());

    let kept = reads::user(&app.db, "user_old", any.with_deleted())
        .await
        .unwrap()
        .expect("a deleted user is kept");
    assert!(kept.deleted);
    assert_eq!(
        kept.primary_email(),
        Some("ada@example.com"),
        "its last state"
    );

    // The same person signs up again: a new user with the old address and external id.
    deliver_all(&app, &[user(DEV, "user_new", "ADA@example.com", "ext_ada")]).await;
    for scope in [any, any.with_deleted()] {
        let found = reads::user_by_email(&app.db, "ada@example.com", scope)
            .await
            .unwrap();
        assert_eq!(found.map(|u| u.object.id), Some("user_new".into()));
        let found = reads::user_by_external_id(&app.db, "ext_ada", scope)
            .await
            .unwrap();
        assert_eq!(found.map(|u| u.object.id), Some("user_new".into()));
    }
}

#[sqlx::test(migrations = false)]
async fn an_organization_lists_its_active_members_with_their_users(
    _: PgPoolOptions,
    db: PgConnectOptions,
) {
    let app = TestApp::spawn(db).await;
    let created = "organizationMembership.created.json";
    deliver_all(
        &app,
        &[
            organization(DEV, "org_1", "Acme"),
            user(DEV, "user_a", "a@example.com", "ext_a"),
            user(DEV, "user_b", "b@example.com", "ext_b"),
            membership(DEV, created, "orgmem_a", "org_1", "user_a", T1),
            membership(DEV, created, "orgmem_b", "org_1", "user_b", T1 + 1),
            // Not synced yet: the member is listed without a user.
            membership(DEV, created, "orgmem_c", "org_1", "user_c", T1 + 2),
            membership(DEV, created, "orgmem_other", "org_2", "user_a", T1),
        ],
    )
    .await;
    let any = Scope::default();
    let org = reads::organization_with_members(&app.db, "org_1", any)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(org.organization.name.as_deref(), Some("Acme"));
    let members: Vec<(&str, Option<&str>)> = org
        .members
        .iter()
        .map(|m| {
            (
                m.membership.id.as_str(),
                m.user.as_ref().map(|u| u.id.as_str()),
            )
        })
        .collect();
    assert_eq!(
        members,
        [
            ("orgmem_a", Some("user_a")),
            ("orgmem_b", Some("user_b")),
            ("orgmem_c", None)
        ]
    );

    // user_b leaves.
    deliver_all(
        &app,
        &[membership(
            DEV,
            "organizationMembership.deleted.json",
            "orgmem_b",
            "org_1",
            "user_b",
            T1 + 1,
        )],
    )
    .await;
    let org = reads::organization_with_members(&app.db, "org_1", any)
        .await
        .unwrap()
        .unwrap();
    let ids: Vec<&str> = org
        .members
        .iter()
        .map(|m| m.membership.id.as_str())
        .collect();
    assert_eq!(ids, ["orgmem_a", "orgmem_c"]);
    let with_deleted = reads::organization_with_members(&app.db, "org_1", any.with_deleted())
        .await
        .unwrap()
        .unwrap();
    let left: Vec<(&str, bool)> = with_deleted
        .members
        .iter()
        .map(|m| (m.membership.id.as_str(), m.membership.deleted))
        .collect();
    assert_eq!(
        left,
        [("orgmem_a", false), ("orgmem_b", true), ("orgmem_c", false)]
    );

    let of_a = reads::memberships_of_user(&app.db, "user_a", any)
        .await
        .unwrap();
    let orgs: Vec<Option<&str>> = of_a.iter().map(|m| m.organization_id()).collect();
    assert_eq!(orgs, [Some("org_1"), Some("org_2")]);
    assert!(reads::memberships_of_user(&app.db, "user_b", any)
        .await
        .unwrap()
        .is_empty());

    // user_b joins again: a new membership.
    deliver_all(
        &app,
        &[membership(DEV, created, "orgmem_b2", "org_1", "user_b", T2)],
    )
    .await;
    let of_b = reads::memberships_of_user(&app.db, "user_b", any)
        .await
        .unwrap();
    let ids: Vec<&str> = of_b.iter().map(|m| m.id.as_str()).collect();
    assert_eq!(ids, ["orgmem_b2"]);
}

#[sqlx::test(migrations = false)]
async fn a_deleted_organization_is_gone_with_its_members(_: PgPoolOptions, db: PgConnectOptions) {
    let app = TestApp::spawn(db).await;
    deliver_all(
        &app,
        &[
            organization(DEV, "org_1", "Acme"),
            user(DEV, "user_a", "a@example.com", "ext_a"),
            membership(
                DEV,
                "organizationMembership.created.json",
                "orgmem_a",
                "org_1",
                "user_a",
                T1,
            ),
            deleted(DEV, "organization.deleted.json", "org_1"),
        ],
    )
    .await;
    let any = Scope::default();
    assert!(reads::organization_with_members(&app.db, "org_1", any)
        .await
        .unwrap()
        .is_none());
    assert!(reads::memberships_of_user(&app.db, "user_a", any)
        .await
        .unwrap()
        .is_empty());
    let kept = reads::organization_with_members(&app.db, "org_1", any.with_deleted())
        .await
        .unwrap()
        .unwrap();
    assert!(kept.organization.deleted);
    assert_eq!(kept.members.len(), 1);
    assert!(kept.members[0].membership.deleted);
}

#[sqlx::test(migrations = false)]
async fn only_active_sessions_are_listed_and_an_ended_one_drops_out(
    _: PgPoolOptions,
    db: PgConnectOptions,
) {
    let app = TestApp::spawn(db).await;
    deliver_all(
        &app,
        &[
            session("session.created.json", "sess_1", "user_a", T1),
            session("session.created.json", "sess_2", "user_a", T1),
            session("session.created.json", "sess_other", "user_b", T1),
        ],
    )
    .await;
    let any = Scope::default();
    let ids = |sessions: Vec<reads::Synced<clerk_sync::clerk::Session>>| {
        let mut ids: Vec<String> = sessions.into_iter().map(|s| s.object.id).collect();
        ids.sort();
        ids
    };
    let active = reads::active_sessions_of_user(&app.db, "user_a", any)
        .await
        .unwrap();
    assert_eq!(ids(active), ["sess_1", "sess_2"]);

    deliver_all(
        &app,
        &[session("session.ended.json", "sess_1", "user_a", T2)],
    )
    .await;
    let active = reads::active_sessions_of_user(&app.db, "user_a", any)
        .await
        .unwrap();
    assert_eq!(ids(active), ["sess_2"]);

    // An expired session is not active, though Clerk sends no event for it.
    let expired = from(
        DEV,
        "session.created.json",
        json!({ "id": "sess_3", "user_id": "user_a", "updated_at": T1, "expire_at": T2 }),
    );
    deliver_all(&app, &[expired]).await;
    let active = reads::active_sessions_of_user(&app.db, "user_a", any)
        .await
        .unwrap();
    assert_eq!(ids(active), ["sess_2"]);
}

#[sqlx::test(migrations = false)]
async fn two_instances_in_one_database_do_not_mix(_: PgPoolOptions, db: PgConnectOptions) {
    let app = TestApp::spawn(db).await;
    let created = "organizationMembership.created.json";
    deliver_all(
        &app,
        &[
            // The same person signed up in both instances: two users, one address.
            user(DEV, "user_dev", "ada@example.com", "ext_ada"),
            user(PROD, "user_prod", "ada@example.com", "ext_ada"),
            organization(PROD, "org_prod", "Acme"),
            membership(PROD, created, "orgmem_prod", "org_prod", "user_prod", T1),
            membership(DEV, created, "orgmem_dev", "org_prod", "user_dev", T1),
        ],
    )
    .await;
    let dev = Scope::instance(DEV);
    let prod = Scope::instance(PROD);

    let found = reads::user_by_email(&app.db, "ADA@example.com", dev)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (found.id.as_str(), found.instance_id.as_deref()),
        ("user_dev", Some(DEV))
    );
    let found = reads::user_by_email(&app.db, "ada@example.com", prod)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.id, "user_prod");
    let found = reads::user_by_external_id(&app.db, "ext_ada", dev)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.id, "user_dev");

    assert!(reads::user(&app.db, "user_prod", dev)
        .await
        .unwrap()
        .is_none());
    assert!(reads::user(&app.db, "user_prod", prod)
        .await
        .unwrap()
        .is_some());
    let any = Scope {
        instance: Instance::Any,
        ..Scope::default()
    };
    assert!(reads::user(&app.db, "user_prod", any)
        .await
        .unwrap()
        .is_some());

    assert!(reads::organization_with_members(&app.db, "org_prod", dev)
        .await
        .unwrap()
        .is_none());
    let org = reads::organization_with_members(&app.db, "org_prod", prod)
        .await
        .unwrap()
        .unwrap();
    let members: Vec<&str> = org
        .members
        .iter()
        .map(|m| m.membership.id.as_str())
        .collect();
    assert_eq!(
        members,
        ["orgmem_prod"],
        "a row of another instance is not a member"
    );
    assert!(reads::memberships_of_user(&app.db, "user_prod", dev)
        .await
        .unwrap()
        .is_empty());
}

#[sqlx::test(migrations = false)]
async fn a_later_event_without_an_instance_keeps_the_recorded_one(
    _: PgPoolOptions,
    db: PgConnectOptions,
) {
    let app = TestApp::spawn(db).await;
    let mut older: Value =
        serde_json::from_str(&user_event("user.updated", "user_ada", T2, "Lovelace")).unwrap();
    older.as_object_mut().unwrap().remove("instance_id");
    deliver_all(
        &app,
        &[
            user(DEV, "user_ada", "ada@example.com", "ext_ada"),
            older.to_string(),
        ],
    )
    .await;
    let ada = reads::user(&app.db, "user_ada", Scope::instance(DEV))
        .await
        .unwrap()
        .expect("still in its instance");
    assert_eq!(ada.last_name.as_deref(), Some("Lovelace"));
}

#[sqlx::test(migrations = false)]
async fn a_backfilled_user_belongs_to_the_instance_it_was_read_from(
    _: PgPoolOptions,
    db: PgConnectOptions,
) {
    use clerk_sync::backfill::{self, Cursor, Resource};

    let app = TestApp::spawn(db).await;
    let object = serde_json::value::to_raw_value(&json!({
        "id": "user_ada", "object": "user", "updated_at": T1,
        "primary_email_address_id": "idn_1",
        "email_addresses": [{ "id": "idn_1", "email_address": "ada@example.com" }],
    }))
    .unwrap();
    let snapshot = backfill::snapshot(Resource::Users, &object, T2, Some(PROD)).unwrap();
    backfill::restart(&app.db, Resource::Users).await.unwrap();
    let report = backfill::write_page(
        &app.db,
        Resource::Users,
        &[snapshot],
        &Cursor::default(),
        false,
    )
    .await
    .unwrap();
    assert_eq!(report.applied, 1);
    assert!(
        reads::user_by_email(&app.db, "ada@example.com", Scope::instance(DEV))
            .await
            .unwrap()
            .is_none()
    );
    let ada = reads::user_by_email(&app.db, "ada@example.com", Scope::instance(PROD))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(ada.instance_id.as_deref(), Some(PROD));
}
