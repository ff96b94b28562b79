//! Out-of-order delivery converges: for each entity family, the same events delivered in every
//! permutation (or a fixed-seed sample of them) end in the same rows as in-order delivery.
//!
//! All permutations share one database: each gets its own copy of the ids (`~` in the events
//! below becomes `#<permutation>#`), and the rows are compared with the marker put back.

use serde_json::json;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

use crate::fixtures::PROJECTED_TABLES;
use clerk_sync_test_support::*;

const T1: i64 = 1_716_883_200_000;
const T2: i64 = 1_716_883_500_000;
const T3: i64 = 1_716_883_800_000;
const T4: i64 = 1_716_884_100_000;
const T5: i64 = 1_716_884_400_000;
const DELETED_AT: i64 = 1_716_900_000_000;

/// Permutations to try: all of them up to 120, else a fixed-seed sample of 120; the first is
/// in order.
fn permutations(n: usize) -> Vec<Vec<usize>> {
    let total: usize = (1..=n).product();
    let mut perms = vec![(0..n).collect::<Vec<_>>()];
    if total <= 120 {
        let mut current: Vec<usize> = (0..n).collect();
        while next_permutation(&mut current) {
            perms.push(current.clone());
        }
        return perms;
    }
    let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for _ in 0..120 {
        let mut perm: Vec<usize> = (0..n).collect();
        for i in (1..n).rev() {
            perm.swap(i, (next() % (i as u64 + 1)) as usize);
        }
        perms.push(perm);
    }
    perms
}

fn next_permutation(v: &mut [usize]) -> bool {
    let Some(i) = (1..v.len()).rev().find(|&i| v[i - 1] < v[i]) else {
        return false;
    };
    let j = (i..v.len()).rev().find(|&j| v[j] > v[i - 1]).unwrap();
    v.swap(i - 1, j);
    v[i..].reverse();
    true
}

async fn rows_of(app: &TestApp, n: usize) -> Vec<String> {
    let marker = format!("#{n}#");
    let mut rows = Vec::new();
    for table in PROJECTED_TABLES {
        let sql = format!(
            "select (to_jsonb(t) - 'synced_at')::text from {table} t where id like $1 order by id"
        );
        let found: Vec<String> = sqlx::query_scalar(&sql)
            .bind(format!("%{marker}%"))
            .fetch_all(&app.db)
            .await
            .unwrap();
        rows.extend(
            found
                .into_iter()
                .map(|row| format!("{table} {}", row.replace(&marker, "~"))),
        );
    }
    rows
}

async fn assert_converges(db: PgConnectOptions, family: &[String]) {
    let app = TestApp::spawn(db).await;
    let perms = permutations(family.len());
    for (n, perm) in perms.iter().enumerate() {
        for &i in perm {
            let marker = format!("#{n}#");
            let body = family[i].replace('~', &marker);
            // Stable per event, so the svix-id tie-break ranks events the same in every order;
            // mixed case, which byte order and ICU / en_US collations sort differently.
            let case = if i % 2 == 0 { "B" } else { "a" };
            let svix_id = format!("msg_{case}{i:02}{marker}");
            expect_status(app.deliver_as(&svix_id, &body).await, 200).await;
        }
    }
    let in_order = rows_of(&app, 0).await;
    assert!(!in_order.is_empty());
    for (n, perm) in perms.iter().enumerate().skip(1) {
        assert_eq!(rows_of(&app, n).await, in_order, "order {perm:?} diverged");
    }
}

fn ev(file: &str, data: serde_json::Value) -> String {
    event(file, data, None)
}

fn deletion(file: &str, id: &str) -> String {
    event(file, json!({ "id": id }), Some(DELETED_AT))
}

#[sqlx::test(migrations = false)]
async fn users_converge_in_every_order(_: PgPoolOptions, db: PgConnectOptions) {
    let family = [
        ev(
            "user.created.json",
            json!({ "id": "user_~", "first_name": "A", "updated_at": T1 }),
        ),
        ev(
            "user.updated.json",
            json!({ "id": "user_~", "first_name": "B", "updated_at": T2 }),
        ),
        ev(
            "user.updated.json",
            json!({ "id": "user_~", "first_name": "C", "updated_at": T3 }),
        ),
        deletion("user.deleted.json", "user_~"),
    ];
    assert_converges(db, &family).await;
}

#[sqlx::test(migrations = false)]
async fn sessions_converge_in_every_order_even_with_equal_update_times(
    _: PgPoolOptions,
    db: PgConnectOptions,
) {
    // As in Clerk's examples, created, pending and ended share one updated_at.
    let session = |file: &str, updated_at: i64| {
        ev(
            file,
            json!({ "id": "sess_~", "user_id": "user_~", "updated_at": updated_at }),
        )
    };
    let family = [
        session("session.created.json", T1),
        session("session.pending.json", T1),
        session("session.ended.json", T1),
        session("session.removed.json", T2),
    ];
    assert_converges(db, &family).await;
}

#[sqlx::test(migrations = false)]
async fn organizations_with_members_invitations_and_domains_converge(
    _: PgPoolOptions,
    db: PgConnectOptions,
) {
    let family = [
        ev(
            "organization.created.json",
            json!({ "id": "org_~", "updated_at": T1 }),
        ),
        ev(
            "organization.updated.json",
            json!({ "id": "org_~", "updated_at": T2 }),
        ),
        ev(
            "organizationMembership.created.json",
            json!({ "id": "orgmem_~", "organization": { "id": "org_~" }, "public_user_data": { "user_id": "user_~" }, "updated_at": T1 }),
        ),
        ev(
            "organizationMembership.updated.json",
            json!({ "id": "orgmem_~", "organization": { "id": "org_~" }, "public_user_data": { "user_id": "user_~" }, "updated_at": T2 }),
        ),
        ev(
            "organizationInvitation.created.json",
            json!({ "id": "orginv_a~", "organization_id": "org_~", "updated_at": T1 }),
        ),
        ev(
            "organizationInvitation.created.json",
            json!({ "id": "orginv_b~", "organization_id": "org_~", "updated_at": T1 }),
        ),
        ev(
            "organizationInvitation.accepted.json",
            json!({ "id": "orginv_b~", "organization_id": "org_~", "updated_at": T2 }),
        ),
        ev(
            "organizationDomain.created.json",
            json!({ "id": "orgdmn_~", "organization_id": "org_~", "updated_at": T1 }),
        ),
        deletion("organization.deleted.json", "org_~"),
    ];
    assert_converges(db, &family).await;
}

#[sqlx::test(migrations = false)]
async fn a_user_with_sessions_and_memberships_converges(_: PgPoolOptions, db: PgConnectOptions) {
    let session = |file: &str, id: &str, updated_at: i64| {
        ev(
            file,
            json!({ "id": id, "user_id": "user_~", "updated_at": updated_at }),
        )
    };
    let family = [
        ev(
            "user.created.json",
            json!({ "id": "user_~", "updated_at": T1 }),
        ),
        session("session.created.json", "sess_a~", T1),
        session("session.created.json", "sess_b~", T1),
        session("session.revoked.json", "sess_b~", T2),
        ev(
            "organizationMembership.created.json",
            json!({ "id": "orgmem_~", "organization": { "id": "org_~" }, "public_user_data": { "user_id": "user_~" }, "updated_at": T1 }),
        ),
        deletion("user.deleted.json", "user_~"),
    ];
    assert_converges(db, &family).await;
}

#[sqlx::test(migrations = false)]
async fn memberships_converge_including_their_full_deletion_payload(
    _: PgPoolOptions,
    db: PgConnectOptions,
) {
    let membership = |file: &str, role: &str, updated_at: i64, ts: Option<i64>| {
        event(
            file,
            json!({ "id": "orgmem_~", "role": role, "updated_at": updated_at }),
            ts,
        )
    };
    let family = [
        membership(
            "organizationMembership.created.json",
            "org:member",
            T1,
            None,
        ),
        membership("organizationMembership.updated.json", "org:admin", T2, None),
        membership(
            "organizationMembership.deleted.json",
            "org:admin",
            T2,
            Some(DELETED_AT),
        ),
    ];
    assert_converges(db, &family).await;
}

#[sqlx::test(migrations = false)]
async fn roles_converge_in_every_order(_: PgPoolOptions, db: PgConnectOptions) {
    let family = [
        ev(
            "role.created.json",
            json!({ "id": "role_~", "updated_at": T1 }),
        ),
        ev(
            "role.updated.json",
            json!({ "id": "role_~", "updated_at": T2 }),
        ),
        deletion("role.deleted.json", "role_~"),
    ];
    assert_converges(db, &family).await;
}

#[sqlx::test(migrations = false)]
async fn permissions_converge_in_every_order(_: PgPoolOptions, db: PgConnectOptions) {
    let family = [
        ev(
            "permission.created.json",
            json!({ "id": "perm_~", "updated_at": T1 }),
        ),
        ev(
            "permission.updated.json",
            json!({ "id": "perm_~", "updated_at": T2 }),
        ),
        deletion("permission.deleted.json", "perm_~"),
    ];
    assert_converges(db, &family).await;
}

#[sqlx::test(migrations = false)]
async fn organization_domains_converge_in_every_order(_: PgPoolOptions, db: PgConnectOptions) {
    let family = [
        ev(
            "organizationDomain.created.json",
            json!({ "id": "orgdmn_~", "updated_at": T1 }),
        ),
        ev(
            "organizationDomain.updated.json",
            json!({ "id": "orgdmn_~", "updated_at": T2 }),
        ),
        deletion("organizationDomain.deleted.json", "orgdmn_~"),
    ];
    assert_converges(db, &family).await;
}

#[sqlx::test(migrations = false)]
async fn waitlist_entries_converge_in_every_order(_: PgPoolOptions, db: PgConnectOptions) {
    let family = [
        ev(
            "waitlistEntry.created.json",
            json!({ "id": "wle_~", "updated_at": T1 }),
        ),
        ev(
            "waitlistEntry.updated.json",
            json!({ "id": "wle_~", "updated_at": T2 }),
        ),
    ];
    assert_converges(db, &family).await;
}

#[sqlx::test(migrations = false)]
async fn subscriptions_converge_in_every_order(_: PgPoolOptions, db: PgConnectOptions) {
    let sub =
        |file: &str, updated_at: i64| ev(file, json!({ "id": "csub_~", "updated_at": updated_at }));
    let family = [
        sub("subscription.created.json", T1),
        sub("subscription.active.json", T2),
        sub("subscription.pastDue.json", T3),
        sub("subscription.updated.json", T4),
    ];
    assert_converges(db, &family).await;
}

#[sqlx::test(migrations = false)]
async fn subscription_items_converge_in_every_order(_: PgPoolOptions, db: PgConnectOptions) {
    let item = |file: &str, updated_at: i64| {
        ev(
            file,
            json!({ "id": "csub_item_~", "subscription_id": "csub_~", "updated_at": updated_at }),
        )
    };
    let family = [
        item("subscriptionItem.upcoming.json", T1),
        item("subscriptionItem.active.json", T2),
        item("subscriptionItem.pastDue.json", T3),
        item("subscriptionItem.canceled.json", T4),
        item("subscriptionItem.ended.json", T5),
    ];
    assert_converges(db, &family).await;
}

#[sqlx::test(migrations = false)]
async fn payment_attempts_converge_in_every_order(_: PgPoolOptions, db: PgConnectOptions) {
    let family = [
        ev(
            "paymentAttempt.created.json",
            json!({ "id": "pa_~", "updated_at": T1 }),
        ),
        ev(
            "paymentAttempt.updated.json",
            json!({ "id": "pa_~", "updated_at": T2 }),
        ),
    ];
    assert_converges(db, &family).await;
}
