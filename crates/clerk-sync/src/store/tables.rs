//! The projected tables and how each payload fills its typed columns. The rules they all follow
//! live in [`super::projection`]; the DDL in `migrations/`.

use super::projection::{Column, Kind, Row, Table, Value};
use crate::clerk::{
    Organization, OrganizationDomain, OrganizationInvitation, OrganizationMembership,
    PaymentAttempt, Permission, Role, Session, Subscription, SubscriptionItem, User, WaitlistEntry,
};

const fn text(name: &'static str) -> Column {
    Column {
        name,
        kind: Kind::Text,
    }
}

const fn int(name: &'static str) -> Column {
    Column {
        name,
        kind: Kind::Int,
    }
}

const fn boolean(name: &'static str) -> Column {
    Column {
        name,
        kind: Kind::Bool,
    }
}

const fn millis(name: &'static str) -> Column {
    Column {
        name,
        kind: Kind::Millis,
    }
}

fn t(value: Option<&str>) -> Value {
    Value::text(value)
}

fn s(value: &Option<String>) -> Value {
    Value::text(value.as_deref())
}

fn i(value: Option<i64>) -> Value {
    Value::Int(value)
}

fn b(value: Option<bool>) -> Value {
    Value::Bool(value)
}

fn row(id: &str, values: Vec<Value>) -> Row {
    Row {
        id: id.to_owned(),
        values,
    }
}

/// Every projection, parents before children: the order batches write in.
pub static ALL: [&Table; 12] = [
    &USERS,
    &ORGANIZATIONS,
    &ROLES,
    &PERMISSIONS,
    &ORGANIZATION_MEMBERSHIPS,
    &ORGANIZATION_INVITATIONS,
    &ORGANIZATION_DOMAINS,
    &SESSIONS,
    &WAITLIST_ENTRIES,
    &SUBSCRIPTIONS,
    &SUBSCRIPTION_ITEMS,
    &PAYMENT_ATTEMPTS,
];

/// `clerk.users`
pub static USERS: Table = Table::new(
    "clerk.users",
    &[
        text("primary_email"),
        text("primary_phone_number"),
        text("username"),
        text("first_name"),
        text("last_name"),
        text("image_url"),
        text("external_id"),
        boolean("banned"),
        millis("last_sign_in_at"),
        millis("last_active_at"),
        millis("created_at"),
        millis("updated_at"),
    ],
    true,
);

/// A user's row.
pub fn user(u: &User) -> Row {
    row(
        &u.id,
        vec![
            t(u.primary_email()),
            t(u.primary_phone_number()),
            s(&u.username),
            s(&u.first_name),
            s(&u.last_name),
            t(u.image_url()),
            s(&u.external_id),
            b(u.banned),
            i(u.last_sign_in_at),
            i(u.last_active_at),
            i(u.created_at),
            i(u.updated_at),
        ],
    )
}

/// `clerk.sessions`
pub static SESSIONS: Table = Table::new(
    "clerk.sessions",
    &[
        text("user_id"),
        text("client_id"),
        text("status"),
        text("last_active_organization_id"),
        millis("last_active_at"),
        millis("expire_at"),
        millis("abandon_at"),
        millis("created_at"),
        millis("updated_at"),
    ],
    false,
);

/// A session's row.
pub fn session(x: &Session) -> Row {
    row(
        &x.id,
        vec![
            s(&x.user_id),
            s(&x.client_id),
            s(&x.status),
            s(&x.last_active_organization_id),
            i(x.last_active_at),
            i(x.expire_at),
            i(x.abandon_at),
            i(x.created_at),
            i(x.updated_at),
        ],
    )
}

/// `clerk.organizations`
pub static ORGANIZATIONS: Table = Table::new(
    "clerk.organizations",
    &[
        text("name"),
        text("slug"),
        text("image_url"),
        text("created_by"),
        int("members_count"),
        int("max_allowed_memberships"),
        millis("created_at"),
        millis("updated_at"),
    ],
    true,
);

/// An organization's row.
pub fn organization(o: &Organization) -> Row {
    row(
        &o.id,
        vec![
            s(&o.name),
            s(&o.slug),
            t(o.image_url()),
            s(&o.created_by),
            i(o.members_count),
            i(o.max_allowed_memberships),
            i(o.created_at),
            i(o.updated_at),
        ],
    )
}

/// `clerk.organization_domains`
pub static ORGANIZATION_DOMAINS: Table = Table::new(
    "clerk.organization_domains",
    &[
        text("organization_id"),
        text("name"),
        text("enrollment_mode"),
        text("verification_status"),
        millis("created_at"),
        millis("updated_at"),
    ],
    true,
);

/// An organization domain's row.
pub fn organization_domain(d: &OrganizationDomain) -> Row {
    let verification = d.verification.as_ref().and_then(|v| v.status.as_deref());
    row(
        &d.id,
        vec![
            s(&d.organization_id),
            s(&d.name),
            s(&d.enrollment_mode),
            t(verification),
            i(d.created_at),
            i(d.updated_at),
        ],
    )
}

/// `clerk.organization_memberships`
pub static ORGANIZATION_MEMBERSHIPS: Table = Table::new(
    "clerk.organization_memberships",
    &[
        text("organization_id"),
        text("user_id"),
        text("role"),
        text("role_name"),
        millis("created_at"),
        millis("updated_at"),
    ],
    true,
);

/// A membership's row.
pub fn organization_membership(m: &OrganizationMembership) -> Row {
    row(
        &m.id,
        vec![
            t(m.organization_id()),
            t(m.user_id()),
            s(&m.role),
            s(&m.role_name),
            i(m.created_at),
            i(m.updated_at),
        ],
    )
}

/// `clerk.organization_invitations`
pub static ORGANIZATION_INVITATIONS: Table = Table::new(
    "clerk.organization_invitations",
    &[
        text("organization_id"),
        text("email_address"),
        text("role"),
        text("status"),
        text("user_id"),
        millis("expires_at"),
        millis("created_at"),
        millis("updated_at"),
    ],
    false,
);

/// An invitation's row.
pub fn organization_invitation(x: &OrganizationInvitation) -> Row {
    row(
        &x.id,
        vec![
            s(&x.organization_id),
            s(&x.email_address),
            s(&x.role),
            s(&x.status),
            s(&x.user_id),
            i(x.expires_at),
            i(x.created_at),
            i(x.updated_at),
        ],
    )
}

/// `clerk.roles`
pub static ROLES: Table = Table::new(
    "clerk.roles",
    &[
        text("key"),
        text("name"),
        text("description"),
        millis("created_at"),
        millis("updated_at"),
    ],
    true,
);

/// A role's row.
pub fn role(r: &Role) -> Row {
    row(
        &r.id,
        vec![
            s(&r.key),
            s(&r.name),
            s(&r.description),
            i(r.created_at),
            i(r.updated_at),
        ],
    )
}

/// `clerk.permissions`
pub static PERMISSIONS: Table = Table::new(
    "clerk.permissions",
    &[
        text("key"),
        text("name"),
        text("description"),
        text("type"),
        millis("created_at"),
        millis("updated_at"),
    ],
    true,
);

/// A permission's row.
pub fn permission(p: &Permission) -> Row {
    row(
        &p.id,
        vec![
            s(&p.key),
            s(&p.name),
            s(&p.description),
            s(&p.permission_type),
            i(p.created_at),
            i(p.updated_at),
        ],
    )
}

/// `clerk.waitlist_entries`
pub static WAITLIST_ENTRIES: Table = Table::new(
    "clerk.waitlist_entries",
    &[
        text("email_address"),
        text("status"),
        boolean("is_locked"),
        millis("created_at"),
        millis("updated_at"),
    ],
    false,
);

/// A waitlist entry's row.
pub fn waitlist_entry(w: &WaitlistEntry) -> Row {
    row(
        &w.id,
        vec![
            s(&w.email_address),
            s(&w.status),
            b(w.is_locked),
            i(w.created_at),
            i(w.updated_at),
        ],
    )
}

/// `clerk.subscriptions`
pub static SUBSCRIPTIONS: Table = Table::new(
    "clerk.subscriptions",
    &[
        text("status"),
        text("payer_id"),
        text("user_id"),
        text("organization_id"),
        millis("active_at"),
        millis("past_due_at"),
        millis("canceled_at"),
        millis("ended_at"),
        millis("created_at"),
        millis("updated_at"),
    ],
    false,
);

/// A subscription's row.
pub fn subscription(x: &Subscription) -> Row {
    let payer = x.payer.as_ref();
    row(
        &x.id,
        vec![
            s(&x.status),
            s(&x.payer_id),
            t(payer.and_then(|p| p.user_id())),
            t(payer.and_then(|p| p.organization_id())),
            i(x.active_at),
            i(x.past_due_at),
            i(x.canceled_at),
            i(x.ended_at),
            i(x.created_at),
            i(x.updated_at),
        ],
    )
}

/// `clerk.subscription_items`
pub static SUBSCRIPTION_ITEMS: Table = Table::new(
    "clerk.subscription_items",
    &[
        text("subscription_id"),
        text("status"),
        text("plan_id"),
        text("plan_slug"),
        boolean("is_free_trial"),
        text("interval"),
        text("user_id"),
        text("organization_id"),
        millis("period_start"),
        millis("period_end"),
        millis("created_at"),
        millis("updated_at"),
    ],
    false,
);

/// A subscription item's row.
pub fn subscription_item(x: &SubscriptionItem) -> Row {
    let payer = x.payer.as_ref();
    let plan = x.plan.as_ref();
    row(
        &x.id,
        vec![
            s(&x.subscription_id),
            s(&x.status),
            t(x.plan_id.as_deref().or(plan.and_then(|p| p.id.as_deref()))),
            t(plan.and_then(|p| p.slug.as_deref())),
            b(x.is_free_trial),
            s(&x.interval),
            t(payer.and_then(|p| p.user_id())),
            t(payer.and_then(|p| p.organization_id())),
            i(x.period_start),
            i(x.period_end),
            i(x.created_at),
            i(x.updated_at),
        ],
    )
}

/// `clerk.payment_attempts`
pub static PAYMENT_ATTEMPTS: Table = Table::new(
    "clerk.payment_attempts",
    &[
        text("payment_id"),
        text("statement_id"),
        text("status"),
        text("charge_type"),
        text("user_id"),
        text("organization_id"),
        int("amount"),
        text("currency"),
        millis("billing_date"),
        millis("paid_at"),
        millis("failed_at"),
        millis("created_at"),
        millis("updated_at"),
    ],
    false,
);

/// A payment attempt's row.
pub fn payment_attempt(x: &PaymentAttempt) -> Row {
    let payer = x.payer.as_ref();
    let total = x.totals.as_ref().and_then(|t| t.grand_total.as_ref());
    row(
        &x.id,
        vec![
            s(&x.payment_id),
            s(&x.statement_id),
            s(&x.status),
            s(&x.charge_type),
            t(payer.and_then(|p| p.user_id())),
            t(payer.and_then(|p| p.organization_id())),
            i(total.and_then(|m| m.amount)),
            t(total.and_then(|m| m.currency.as_deref())),
            i(x.billing_date),
            i(x.paid_at),
            i(x.failed_at),
            i(x.created_at),
            i(x.updated_at),
        ],
    )
}
