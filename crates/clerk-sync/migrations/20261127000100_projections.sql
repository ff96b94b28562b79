-- The projections beyond users: id, typed columns, then the common frame.

create table clerk.sessions (
    id                          text primary key,
    user_id                     text,
    client_id                   text,
    status                      text,
    last_active_organization_id text,
    last_active_at              timestamptz,
    expire_at                   timestamptz,
    abandon_at                  timestamptz,
    created_at                  timestamptz,
    updated_at                  timestamptz,
    like clerk.projection_frame including defaults
);
create index sessions_user_id_idx on clerk.sessions (user_id);

create table clerk.organizations (
    id                      text primary key,
    name                    text,
    slug                    text,
    image_url               text,
    created_by              text,
    members_count           bigint,
    max_allowed_memberships bigint,
    created_at              timestamptz,
    updated_at              timestamptz,
    like clerk.projection_frame including defaults
);
create index organizations_slug_idx on clerk.organizations (slug);

create table clerk.organization_domains (
    id                  text primary key,
    organization_id     text,
    name                text,
    enrollment_mode     text,
    verification_status text,
    created_at          timestamptz,
    updated_at          timestamptz,
    like clerk.projection_frame including defaults
);
create index organization_domains_organization_id_idx on clerk.organization_domains (organization_id);
create index organization_domains_name_idx on clerk.organization_domains (lower(name));

create table clerk.organization_memberships (
    id              text primary key,
    organization_id text,
    user_id         text,
    role            text,
    role_name       text,
    created_at      timestamptz,
    updated_at      timestamptz,
    like clerk.projection_frame including defaults
);
create index organization_memberships_organization_id_idx on clerk.organization_memberships (organization_id);
create index organization_memberships_user_id_idx on clerk.organization_memberships (user_id);

create table clerk.organization_invitations (
    id              text primary key,
    organization_id text,
    email_address   text,
    role            text,
    status          text,
    user_id         text,
    expires_at      timestamptz,
    created_at      timestamptz,
    updated_at      timestamptz,
    like clerk.projection_frame including defaults
);
create index organization_invitations_organization_id_idx on clerk.organization_invitations (organization_id);
create index organization_invitations_email_idx on clerk.organization_invitations (lower(email_address));

create table clerk.roles (
    id           text primary key,
    key          text,
    name         text,
    description  text,
    created_at   timestamptz,
    updated_at   timestamptz,
    like clerk.projection_frame including defaults
);
create index roles_key_idx on clerk.roles (key);

create table clerk.permissions (
    id           text primary key,
    key          text,
    name         text,
    description  text,
    type         text,
    created_at   timestamptz,
    updated_at   timestamptz,
    like clerk.projection_frame including defaults
);
create index permissions_key_idx on clerk.permissions (key);

create table clerk.waitlist_entries (
    id            text primary key,
    email_address text,
    status        text,
    is_locked     boolean,
    created_at    timestamptz,
    updated_at    timestamptz,
    like clerk.projection_frame including defaults
);
create index waitlist_entries_email_idx on clerk.waitlist_entries (lower(email_address));

create table clerk.subscriptions (
    id              text primary key,
    status          text,
    payer_id        text,
    user_id         text,
    organization_id text,
    active_at       timestamptz,
    past_due_at     timestamptz,
    canceled_at     timestamptz,
    ended_at        timestamptz,
    created_at      timestamptz,
    updated_at      timestamptz,
    like clerk.projection_frame including defaults
);
create index subscriptions_user_id_idx on clerk.subscriptions (user_id);
create index subscriptions_organization_id_idx on clerk.subscriptions (organization_id);

create table clerk.subscription_items (
    id              text primary key,
    subscription_id text,
    status          text,
    plan_id         text,
    plan_slug       text,
    is_free_trial   boolean,
    interval        text,
    user_id         text,
    organization_id text,
    period_start    timestamptz,
    period_end      timestamptz,
    created_at      timestamptz,
    updated_at      timestamptz,
    like clerk.projection_frame including defaults
);
create index subscription_items_subscription_id_idx on clerk.subscription_items (subscription_id);
create index subscription_items_user_id_idx on clerk.subscription_items (user_id);
create index subscription_items_organization_id_idx on clerk.subscription_items (organization_id);

create table clerk.payment_attempts (
    id              text primary key,
    payment_id      text,
    statement_id    text,
    status          text,
    charge_type     text,
    user_id         text,
    organization_id text,
    amount          bigint,
    currency        text,
    billing_date    timestamptz,
    paid_at         timestamptz,
    failed_at       timestamptz,
    created_at      timestamptz,
    updated_at      timestamptz,
    like clerk.projection_frame including defaults
);
create index payment_attempts_payment_id_idx on clerk.payment_attempts (payment_id);
create index payment_attempts_user_id_idx on clerk.payment_attempts (user_id);
