-- The app's own table (the `clerk` schema is the library's): a profile for every Clerk user,
-- created by the app's hook in the same transaction that stores the user. Replace it with yours.
create table profiles (
    user_id    text primary key,
    created_at timestamptz not null default now(),
    -- What the app keeps about a user that Clerk does not: an example.
    plan       text not null default 'free' constraint profiles_plan_known check (plan in ('free', 'pro'))
);
