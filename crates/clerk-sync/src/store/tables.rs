//! The projected tables, each declared once: its columns and how its payload fills them, one
//! `column: Kind = value` line per column. The rules they all follow live in
//! [`super::projection`]; the DDL in `migrations/`.

use super::projection::{projected_table, Cell, Projected, Row, Table, Value};
use crate::clerk::{
    Organization, OrganizationDomain, OrganizationInvitation, OrganizationMembership,
    PaymentAttempt, Permission, Role, Session, Subscription, SubscriptionItem, User, WaitlistEntry,
};

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

projected_table! {
    /// `clerk.users`
    USERS in users = "clerk.users", deletable: true,
    from u: User, instance i {
        primary_email: Text = u.primary_email(),
        primary_phone_number: Text = u.primary_phone_number(),
        username: Text = &u.username,
        first_name: Text = &u.first_name,
        last_name: Text = &u.last_name,
        image_url: Text = u.image_url(),
        external_id: Text = &u.external_id,
        banned: Bool = u.banned,
        last_sign_in_at: Millis = u.last_sign_in_at,
        last_active_at: Millis = u.last_active_at,
        created_at: Millis = u.created_at,
        updated_at: Millis = u.updated_at,
        instance_id: Text = i,
    }
}

projected_table! {
    /// `clerk.sessions`
    SESSIONS in sessions = "clerk.sessions", deletable: false,
    from x: Session, instance i {
        user_id: Text = &x.user_id,
        client_id: Text = &x.client_id,
        status: Text = &x.status,
        last_active_organization_id: Text = &x.last_active_organization_id,
        last_active_at: Millis = x.last_active_at,
        expire_at: Millis = x.expire_at,
        abandon_at: Millis = x.abandon_at,
        created_at: Millis = x.created_at,
        updated_at: Millis = x.updated_at,
        instance_id: Text = i,
    }
}

projected_table! {
    /// `clerk.organizations`
    ORGANIZATIONS in organizations = "clerk.organizations", deletable: true,
    from o: Organization, instance i {
        name: Text = &o.name,
        slug: Text = &o.slug,
        image_url: Text = o.image_url(),
        created_by: Text = &o.created_by,
        members_count: Int = o.members_count,
        max_allowed_memberships: Int = o.max_allowed_memberships,
        created_at: Millis = o.created_at,
        updated_at: Millis = o.updated_at,
        instance_id: Text = i,
    }
}

projected_table! {
    /// `clerk.organization_domains`
    ORGANIZATION_DOMAINS in organization_domains = "clerk.organization_domains", deletable: true,
    from d: OrganizationDomain, instance i {
        organization_id: Text = &d.organization_id,
        name: Text = &d.name,
        enrollment_mode: Text = &d.enrollment_mode,
        verification_status: Text = d.verification.as_ref().and_then(|v| v.status.as_deref()),
        created_at: Millis = d.created_at,
        updated_at: Millis = d.updated_at,
        instance_id: Text = i,
    }
}

projected_table! {
    /// `clerk.organization_memberships`
    ORGANIZATION_MEMBERSHIPS in organization_memberships = "clerk.organization_memberships",
    deletable: true,
    from m: OrganizationMembership, instance i {
        organization_id: Text = m.organization_id(),
        user_id: Text = m.user_id(),
        role: Text = &m.role,
        role_name: Text = &m.role_name,
        created_at: Millis = m.created_at,
        updated_at: Millis = m.updated_at,
        instance_id: Text = i,
    }
}

projected_table! {
    /// `clerk.organization_invitations`
    ORGANIZATION_INVITATIONS in organization_invitations = "clerk.organization_invitations",
    deletable: false,
    from x: OrganizationInvitation, instance i {
        organization_id: Text = &x.organization_id,
        email_address: Text = &x.email_address,
        role: Text = &x.role,
        status: Text = &x.status,
        user_id: Text = &x.user_id,
        expires_at: Millis = x.expires_at,
        created_at: Millis = x.created_at,
        updated_at: Millis = x.updated_at,
        instance_id: Text = i,
    }
}

projected_table! {
    /// `clerk.roles`
    ROLES in roles = "clerk.roles", deletable: true,
    from r: Role, instance i {
        key: Text = &r.key,
        name: Text = &r.name,
        description: Text = &r.description,
        created_at: Millis = r.created_at,
        updated_at: Millis = r.updated_at,
        instance_id: Text = i,
    }
}

projected_table! {
    /// `clerk.permissions`
    PERMISSIONS in permissions = "clerk.permissions", deletable: true,
    from p: Permission, instance i {
        key: Text = &p.key,
        name: Text = &p.name,
        description: Text = &p.description,
        r#type: Text = &p.permission_type,
        created_at: Millis = p.created_at,
        updated_at: Millis = p.updated_at,
        instance_id: Text = i,
    }
}

projected_table! {
    /// `clerk.waitlist_entries`
    WAITLIST_ENTRIES in waitlist_entries = "clerk.waitlist_entries", deletable: false,
    from w: WaitlistEntry, instance i {
        email_address: Text = &w.email_address,
        status: Text = &w.status,
        is_locked: Bool = w.is_locked,
        created_at: Millis = w.created_at,
        updated_at: Millis = w.updated_at,
        instance_id: Text = i,
    }
}

projected_table! {
    /// `clerk.subscriptions`
    SUBSCRIPTIONS in subscriptions = "clerk.subscriptions", deletable: false,
    from x: Subscription, instance i {
        status: Text = &x.status,
        payer_id: Text = &x.payer_id,
        user_id: Text = x.payer.as_ref().and_then(|p| p.user_id()),
        organization_id: Text = x.payer.as_ref().and_then(|p| p.organization_id()),
        active_at: Millis = x.active_at,
        past_due_at: Millis = x.past_due_at,
        canceled_at: Millis = x.canceled_at,
        ended_at: Millis = x.ended_at,
        created_at: Millis = x.created_at,
        updated_at: Millis = x.updated_at,
        instance_id: Text = i,
    }
}

projected_table! {
    /// `clerk.subscription_items`
    SUBSCRIPTION_ITEMS in subscription_items = "clerk.subscription_items", deletable: false,
    from x: SubscriptionItem, instance i {
        subscription_id: Text = &x.subscription_id,
        status: Text = &x.status,
        plan_id: Text = x.plan_id.as_deref().or(x.plan.as_ref().and_then(|p| p.id.as_deref())),
        plan_slug: Text = x.plan.as_ref().and_then(|p| p.slug.as_deref()),
        is_free_trial: Bool = x.is_free_trial,
        interval: Text = &x.interval,
        user_id: Text = x.payer.as_ref().and_then(|p| p.user_id()),
        organization_id: Text = x.payer.as_ref().and_then(|p| p.organization_id()),
        period_start: Millis = x.period_start,
        period_end: Millis = x.period_end,
        created_at: Millis = x.created_at,
        updated_at: Millis = x.updated_at,
        instance_id: Text = i,
    }
}

projected_table! {
    /// `clerk.payment_attempts`
    PAYMENT_ATTEMPTS in payment_attempts = "clerk.payment_attempts", deletable: false,
    from x: PaymentAttempt, instance i {
        payment_id: Text = &x.payment_id,
        statement_id: Text = &x.statement_id,
        status: Text = &x.status,
        charge_type: Text = &x.charge_type,
        user_id: Text = x.payer.as_ref().and_then(|p| p.user_id()),
        organization_id: Text = x.payer.as_ref().and_then(|p| p.organization_id()),
        amount: Int = x.totals.as_ref().and_then(|t| t.grand_total.as_ref()).and_then(|m| m.amount),
        currency: Text = x
            .totals
            .as_ref()
            .and_then(|t| t.grand_total.as_ref())
            .and_then(|m| m.currency.as_deref()),
        billing_date: Millis = x.billing_date,
        paid_at: Millis = x.paid_at,
        failed_at: Millis = x.failed_at,
        created_at: Millis = x.created_at,
        updated_at: Millis = x.updated_at,
        instance_id: Text = i,
    }
}

#[cfg(test)]
mod tests {
    use super::super::projection::Kind;
    use super::ALL;

    /// The columns `like clerk.projection_frame` adds to every projection, after the typed ones.
    const FRAME: [&str; 6] = [
        "data",
        "deleted_at",
        "synced_at",
        "sync_version",
        "sync_rank",
        "sync_svix_id",
    ];

    /// A declaration that names a column the schema does not have, gives it another type, or
    /// lists the columns in another order than the migrations fails here, not at run time.
    #[sqlx::test]
    async fn every_table_declares_the_columns_of_the_migrated_schema(pool: sqlx::PgPool) {
        for table in ALL {
            let (schema, name) = table.name.split_once('.').expect("schema-qualified");
            let columns: Vec<(String, String)> = sqlx::query_as(
                "select column_name::text, data_type::text from information_schema.columns
                 where table_schema = $1 and table_name = $2 order by ordinal_position",
            )
            .bind(schema)
            .bind(name)
            .fetch_all(&pool)
            .await
            .unwrap();
            let schema_columns: Vec<(&str, &str)> = columns
                .iter()
                .map(|(column, kind)| (column.as_str(), kind.as_str()))
                .filter(|(column, _)| *column != "id" && !FRAME.contains(column))
                .collect();
            let declared: Vec<(&str, &str)> = table
                .columns
                .iter()
                .map(|column| {
                    let kind = match column.kind {
                        Kind::Text => "text",
                        Kind::Int => "bigint",
                        Kind::Bool => "boolean",
                        Kind::Millis => "timestamp with time zone",
                    };
                    (column.name, kind)
                })
                .collect();
            assert_eq!(declared, schema_columns, "{}", table.name);
        }
    }
}
