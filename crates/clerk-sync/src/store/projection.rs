//! The rules every projection follows, written once and turned into SQL per table.
//!
//! Deliveries arrive at least once, in any order, and concurrently. Every projected row carries
//! the ordering key of the payload it holds — `(sync_version, sync_rank, sync_svix_id)`: the
//! payload's `updated_at` (or the envelope time), then how far along its lifecycle the event
//! is, then the svix-id as a last, arbitrary but deterministic tie-break — and a write applies
//! only if its key is not lower. Deletion is separate and absorbing: `deleted_at` only ever moves
//! to an earlier time and is never cleared by a later write, while the last known state keeps
//! following the key. The result depends only on the set of events, not on their order.
//!
//! [`CASCADES`] says what a deleted parent does to its children. The same table drives both
//! directions: the parent's deletion updates existing children, and a child written later
//! inherits the parent's deletion in its upsert. Advisory locks on the parent id order the two
//! when they run concurrently.

use std::sync::OnceLock;

use sqlx::postgres::PgArguments;
use sqlx::query::Query;
use sqlx::{PgConnection, Postgres, Row as _};

use super::ledger::{self, Recorded};
use super::Tx;
use crate::delivery::Delivery;
use crate::store::tables::{
    organization_invitations, organization_memberships, sessions, ORGANIZATIONS,
    ORGANIZATION_INVITATIONS, ORGANIZATION_MEMBERSHIPS, SESSIONS, USERS,
};

/// The type of a typed column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `text`
    Text,
    /// `bigint`
    Int,
    /// `boolean`
    Bool,
    /// `timestamptz`, sent as Unix milliseconds.
    Millis,
}

/// A typed column of a projection: a `static` declared by [`projected_table!`], so statements
/// and cascades name it by reference, never by a string.
#[derive(Debug)]
pub struct Column {
    /// Its name.
    pub name: &'static str,
    /// Its type.
    pub kind: Kind,
}

/// A projected table: `id text primary key`, its typed columns, `data jsonb`, `deleted_at`,
/// `synced_at` and the ordering key. Declared with [`projected_table!`], together with the row
/// its payload type writes.
#[derive(Debug)]
pub struct Table {
    /// Schema-qualified name, e.g. `clerk.users`.
    pub name: &'static str,
    /// The typed columns, in the order rows list their values.
    pub columns: &'static [&'static Column],
    /// Whether Clerk sends deletions for it. If not, `deleted_at` only reflects cascades and is
    /// recomputed on every write.
    pub deletable: bool,
    upsert_sql: OnceLock<String>,
    /// The upsert with the batch's ledger insert in the same statement.
    recording_upsert_sql: OnceLock<String>,
    /// The claim, the upsert and the ledger insert in one statement.
    at_once_sql: OnceLock<String>,
    tombstone_sql: OnceLock<String>,
}

impl Table {
    /// Describes a projected table; only [`projected_table!`] calls it.
    pub(super) const fn new(
        name: &'static str,
        columns: &'static [&'static Column],
        deletable: bool,
    ) -> Self {
        Self {
            name,
            columns,
            deletable,
            upsert_sql: OnceLock::new(),
            recording_upsert_sql: OnceLock::new(),
            at_once_sql: OnceLock::new(),
            tombstone_sql: OnceLock::new(),
        }
    }

    fn column_index(&self, column: &Column) -> usize {
        self.columns
            .iter()
            .position(|c| std::ptr::eq(*c, column))
            .unwrap_or_else(|| panic!("{} has no column {}", self.name, column.name))
    }
}

/// A column's name from its identifier: `r#type` is `type`.
#[doc(hidden)]
pub const fn unraw(ident: &'static str) -> &'static str {
    match ident.as_bytes() {
        [b'r', b'#', ..] => ident.split_at(2).1,
        _ => ident,
    }
}

/// A payload type that has a projected table. Implemented only by [`projected_table!`], from
/// the same list of columns the table's statements are built from.
pub trait Projected {
    /// Its table.
    const TABLE: &'static Table;
    /// Its Clerk id.
    fn id(&self) -> &str;
    /// The row it writes when it came from Clerk instance `instance` (the envelope's
    /// `instance_id`): one value per column of [`Projected::TABLE`], in their order.
    fn row(&self, instance: Option<&str>) -> Row;
    /// Its `updated_at`, which orders its writes (else the envelope time does).
    fn updated_at(&self) -> Option<i64>;
}

/// Declares a projected table from one list of `column: Kind = value` lines (a value may use
/// the payload and `instance`, the id of the Clerk instance it came from): the column
/// `static`s (in a module named after the table), the [`Table`] and the payload type's
/// [`Projected`] impl all come from it, so a column's name, type, value and bind position cannot
/// disagree. A value that does not fit its kind does not compile; the names and kinds are
/// checked against the migrated schema by a test.
macro_rules! projected_table {
    (
        $(#[$doc:meta])*
        $table:ident in $columns:ident = $name:literal, deletable: $deletable:literal,
        from $payload:ident: $type:ty, instance $instance:ident {
            $( $column:ident: $kind:ident = $value:expr, )+
        }
    ) => {
        #[doc = concat!("The typed columns of `", $name, "`.")]
        #[allow(non_upper_case_globals)]
        pub mod $columns {
            use $crate::store::projection::{Column, Kind};
            $(
                #[doc = concat!("`", stringify!($column), "`")]
                pub static $column: Column = Column {
                    name: $crate::store::projection::unraw(stringify!($column)),
                    kind: Kind::$kind,
                };
            )+
        }

        $(#[$doc])*
        pub static $table: Table = Table::new($name, &[$(&$columns::$column),+], $deletable);

        impl Projected for $type {
            const TABLE: &'static Table = &$table;

            fn id(&self) -> &str {
                &self.id
            }

            fn row(&self, instance: Option<&str>) -> Row {
                let $payload = self;
                let $instance = instance;
                Row::new(&$payload.id, vec![$( Value::$kind(Cell::cell($value)), )+])
            }

            fn updated_at(&self) -> Option<i64> {
                self.updated_at
            }
        }
    };
}
pub(super) use projected_table;

/// A typed column value; its variant is its column's [`Kind`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// For [`Kind::Text`].
    Text(Option<String>),
    /// For [`Kind::Int`].
    Int(Option<i64>),
    /// For [`Kind::Bool`].
    Bool(Option<bool>),
    /// For [`Kind::Millis`].
    Millis(Option<i64>),
}

impl Value {
    fn text_value(&self) -> Option<String> {
        match self {
            Self::Text(value) => value.clone(),
            _ => None,
        }
    }

    fn int_value(&self) -> Option<i64> {
        match self {
            Self::Int(value) | Self::Millis(value) => *value,
            _ => None,
        }
    }

    fn bool_value(&self) -> Option<bool> {
        match self {
            Self::Bool(value) => *value,
            _ => None,
        }
    }
}

/// What a payload field can be turned into for a column: `Option<&str>` and `&Option<String>`
/// for text, `Option<i64>` for numbers and times, `Option<bool>` for booleans.
pub trait Cell<T> {
    /// The column value.
    fn cell(self) -> T;
}

impl Cell<Option<String>> for Option<&str> {
    fn cell(self) -> Option<String> {
        self.map(str::to_owned)
    }
}

impl Cell<Option<String>> for &Option<String> {
    fn cell(self) -> Option<String> {
        self.clone()
    }
}

impl Cell<Option<i64>> for Option<i64> {
    fn cell(self) -> Option<i64> {
        self
    }
}

impl Cell<Option<bool>> for Option<bool> {
    fn cell(self) -> Option<bool> {
        self
    }
}

/// How far along its lifecycle an event is; breaks ties between payloads with the same
/// `updated_at` (Clerk's examples send `session.created` and `session.ended` with equal times).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Rank {
    /// `*.created`
    Created = 0,
    /// `*.updated` and other intermediate states.
    Changed = 1,
    /// Terminal states: a session ended, an invitation accepted, a subscription item ended.
    Final = 2,
    /// A deletion that carries the whole object (`organizationMembership.deleted`).
    Deleted = 3,
}

/// One row to write: the id and the typed values in the table's column order. Only a
/// [`Projected`] payload makes one.
#[derive(Debug, Clone)]
pub struct Row {
    id: String,
    values: Vec<Value>,
}

impl Row {
    pub(super) fn new(id: &str, values: Vec<Value>) -> Self {
        Self {
            id: id.to_owned(),
            values,
        }
    }

    /// The Clerk id.
    pub fn id(&self) -> &str {
        &self.id
    }
}

/// A write of a payload into its table.
#[derive(Debug, Clone)]
pub struct Upsert<'a> {
    /// The row.
    pub row: Row,
    /// The payload, verbatim, for `data`.
    pub data: &'a str,
    /// Milliseconds: the payload's `updated_at`, or the envelope time.
    pub version: i64,
    /// Lifecycle rank of the event.
    pub rank: Rank,
    /// The delivery, for the tie-break.
    pub svix_id: &'a str,
}

/// A deletion.
#[derive(Debug, Clone)]
pub struct Tombstone<'a> {
    /// The deleted object's id.
    pub id: &'a str,
    /// The payload, for `data` when the row did not exist yet.
    pub data: &'a str,
    /// When it was deleted, in milliseconds (the envelope time).
    pub at: i64,
    /// The Clerk instance it came from, for a row created by the tombstone.
    pub instance_id: Option<&'a str>,
}

/// A condition on a column of the child row: it holds one of some values.
#[derive(Debug)]
pub struct Condition {
    /// The column.
    pub column: &'static Column,
    /// The values, as text literals (constants of this crate, never data).
    pub any_of: &'static [&'static str],
}

impl Condition {
    /// The condition over the child row `v`, as SQL.
    fn sql(&self) -> String {
        let literals: Vec<String> = self.any_of.iter().map(|value| literal(value)).collect();
        match literals.as_slice() {
            [one] => format!("v.{} = {one}", self.column.name),
            _ => format!("v.{} in ({})", self.column.name, literals.join(", ")),
        }
    }
}

/// A text constant as SQL. Every one is a `&'static str` of this crate; a quote in one is a bug.
fn literal(value: &'static str) -> String {
    assert!(!value.contains('\''), "a quote in the constant {value}");
    format!("'{value}'")
}

/// What a deleted parent does to a child row.
#[derive(Debug)]
pub enum Effect {
    /// The child is deleted too — when the condition on the child holds, if one is given.
    Tombstone {
        /// Which children.
        when: Option<Condition>,
    },
    /// A column of the child is set, when the condition on the child holds.
    Set {
        /// The column.
        column: &'static Column,
        /// Its new value, a text constant.
        to: &'static str,
        /// Which children.
        when: Condition,
    },
}

/// A parent-to-child rule.
#[derive(Debug)]
pub struct Cascade {
    /// The parent table.
    pub parent: &'static Table,
    /// The child table.
    pub child: &'static Table,
    /// The child's column that holds the parent id.
    pub via: &'static Column,
    /// What the parent's deletion does.
    pub effect: Effect,
}

/// What deleting an organization or a user does.
pub static CASCADES: [Cascade; 4] = [
    Cascade {
        parent: &ORGANIZATIONS,
        child: &ORGANIZATION_MEMBERSHIPS,
        via: &organization_memberships::organization_id,
        effect: Effect::Tombstone { when: None },
    },
    Cascade {
        parent: &ORGANIZATIONS,
        child: &ORGANIZATION_INVITATIONS,
        via: &organization_invitations::organization_id,
        effect: Effect::Tombstone {
            when: Some(Condition {
                column: &organization_invitations::status,
                any_of: &["pending"],
            }),
        },
    },
    Cascade {
        parent: &USERS,
        child: &ORGANIZATION_MEMBERSHIPS,
        via: &organization_memberships::user_id,
        effect: Effect::Tombstone { when: None },
    },
    Cascade {
        parent: &USERS,
        child: &SESSIONS,
        via: &sessions::user_id,
        effect: Effect::Set {
            column: &sessions::status,
            to: "ended",
            when: Condition {
                column: &sessions::status,
                any_of: &["active", "pending"],
            },
        },
    },
];

fn cascades_to(child: &Table) -> impl Iterator<Item = &'static Cascade> + '_ {
    CASCADES
        .iter()
        .filter(move |c| std::ptr::eq(c.child, child))
}

fn cascades_from(parent: &Table) -> impl Iterator<Item = &'static Cascade> + '_ {
    CASCADES
        .iter()
        .filter(move |c| std::ptr::eq(c.parent, parent))
}

fn array_type(kind: Kind) -> &'static str {
    match kind {
        Kind::Text => "text[]",
        Kind::Int | Kind::Millis => "bigint[]",
        Kind::Bool => "boolean[]",
    }
}

/// The value the upsert writes for a column: the payload's, unless a cascade overrides it.
fn column_expr(table: &Table, column: &Column) -> String {
    let plain = match column.kind {
        Kind::Millis => format!("clerk.from_millis(v.{})", column.name),
        _ => format!("v.{}", column.name),
    };
    cascades_to(table)
        .find_map(|cascade| match &cascade.effect {
            Effect::Set {
                column: set,
                to,
                when,
            } if std::ptr::eq(*set, column) => Some(format!(
                "case when ({when}) and exists (select 1 from {parent} p where p.id = v.{via} \
                 and p.deleted_at is not null) then {to} else {plain} end",
                when = when.sql(),
                parent = cascade.parent.name,
                via = cascade.via.name,
                to = literal(to),
            )),
            _ => None,
        })
        .unwrap_or(plain)
}

/// The `deleted_at` a written row inherits from deleted parents.
fn inherited_deleted_at(table: &Table) -> String {
    let inherited: Vec<String> = cascades_to(table)
        .filter_map(|cascade| match &cascade.effect {
            Effect::Tombstone { when } => {
                let parent = format!(
                    "(select p.deleted_at from {} p where p.id = v.{})",
                    cascade.parent.name, cascade.via.name
                );
                Some(match when {
                    Some(when) => format!("case when {} then {parent} end", when.sql()),
                    None => parent,
                })
            }
            Effect::Set { .. } => None,
        })
        .collect();
    match inherited.len() {
        0 => "null::timestamptz".to_owned(),
        1 => inherited[0].clone(),
        _ => format!("least({})", inherited.join(", ")),
    }
}

/// The upsert of `table`'s rows; with `only`, of the rows for which that condition holds.
fn build_upsert_sql(table: &Table, only: Option<&str>) -> String {
    let names: Vec<&str> = table.columns.iter().map(|c| c.name).collect();
    let n = table.columns.len();
    let params: Vec<String> = table
        .columns
        .iter()
        .enumerate()
        .map(|(i, c)| format!("${}::{}", i + 2, array_type(c.kind)))
        .collect();
    let values: Vec<String> = table
        .columns
        .iter()
        .map(|c| column_expr(table, c))
        .collect();
    // A later payload from a source that does not know its instance (an old envelope, a
    // backfill without `--instance-id`) does not forget the instance already recorded.
    let updates: Vec<String> = names
        .iter()
        .map(|&c| match c {
            "instance_id" => format!("{c} = coalesce(excluded.{c}, t.{c})"),
            _ => format!("{c} = excluded.{c}"),
        })
        .collect();
    // Own deletions are absorbing; a table Clerk never deletes from only mirrors its parents.
    let deleted_at = if table.deletable {
        "least(t.deleted_at, excluded.deleted_at)"
    } else {
        "excluded.deleted_at"
    };
    format!(
        "insert into {table} as t (id, {names}, data, sync_version, sync_rank, sync_svix_id, deleted_at)
         select v.id, {values}, v.data::jsonb, v.sync_version, v.sync_rank, v.sync_svix_id, {inherited}
         from unnest($1::text[], {params}, ${d}::text[], ${d1}::bigint[], ${d2}::smallint[], ${d3}::text[])
             as v(id, {names}, data, sync_version, sync_rank, sync_svix_id){only}
         on conflict (id) do update set
             {updates}, data = excluded.data, sync_version = excluded.sync_version,
             sync_rank = excluded.sync_rank, sync_svix_id = excluded.sync_svix_id,
             deleted_at = {deleted_at}, synced_at = now()
         where t.sync_version is null
            or (excluded.sync_version, excluded.sync_rank, excluded.sync_svix_id)
               >= (t.sync_version, t.sync_rank, t.sync_svix_id)
         returning id",
        table = table.name,
        names = names.join(", "),
        values = values.join(", "),
        inherited = inherited_deleted_at(table),
        params = params.join(", "),
        updates = updates.join(", "),
        d = n + 2,
        d1 = n + 3,
        d2 = n + 4,
        d3 = n + 5,
        only = only.map(|only| format!("\n         where {only}")).unwrap_or_default(),
    )
}

fn build_tombstone_sql(table: &Table) -> String {
    format!(
        "insert into {table} as t (id, data, deleted_at, instance_id)
         select v.id, v.data::jsonb, clerk.from_millis(v.at), v.instance_id
         from unnest($1::text[], $2::text[], $3::bigint[], $4::text[])
             as v(id, data, at, instance_id)
         on conflict (id) do update set deleted_at = excluded.deleted_at, synced_at = now(),
             instance_id = coalesce(t.instance_id, excluded.instance_id)
         where t.deleted_at is null or excluded.deleted_at < t.deleted_at
         returning id",
        table = table.name,
    )
}

/// The statement that applies `cascade` to the children of the parents in `$1`. The children
/// are locked in id order first, so two cascades meeting on the same rows (a user's and an
/// organization's, on their memberships) take them in one order and cannot deadlock.
fn cascade_sql(cascade: &Cascade) -> String {
    let (set, when) = match &cascade.effect {
        Effect::Tombstone { when } => (
            "deleted_at = least(v.deleted_at, p.deleted_at)".to_owned(),
            when.as_ref(),
        ),
        Effect::Set { column, to, when } => {
            (format!("{} = {}", column.name, literal(to)), Some(when))
        }
    };
    format!(
        "update {child} as v set {set}, synced_at = now()
         from (select v.id, p.deleted_at
               from {child} v join {parent} p on v.{via} = p.id
               where p.id = any($1) and p.deleted_at is not null{when}
               order by v.id
               for update of v) p
         where v.id = p.id",
        child = cascade.child.name,
        parent = cascade.parent.name,
        via = cascade.via.name,
        when = when
            .map(|w| format!(" and ({})", w.sql()))
            .unwrap_or_default(),
    )
}

/// The upsert, then the ledger rows of the batch, in one statement (a round trip fewer).
fn build_recording_upsert_sql(table: &Table) -> String {
    let upsert = table
        .upsert_sql
        .get_or_init(|| build_upsert_sql(table, None));
    format!(
        "with changed as ({upsert}), recorded as ({insert}) select id from changed",
        insert = ledger::insert_sql(table.columns.len() + 6, Some("changed"), None),
    )
}

/// The claim of the batch's svix-ids with their row locks, the upsert of the claimed
/// deliveries' rows and their ledger rows, in one statement that Postgres commits on its own,
/// at READ COMMITTED only (the snapshot then comes before the lock waits, which only a write
/// that reads no other row than its own, locked by `on conflict`, can afford). At another
/// isolation level it claims nothing and returns one row of nulls. Parameters: the upsert's,
/// then the ledger's, then the claim's.
fn build_at_once_sql(table: &Table) -> String {
    let n = table.columns.len();
    let upsert = build_upsert_sql(
        table,
        Some(
            "v.sync_svix_id in (select svix_id from claimed) \
             and (select count(*) from locked) >= 0",
        ),
    );
    format!(
        "with {claim}, changed as ({upsert}), recorded as ({insert})
         select svix_id, status = 'applied' from recorded
         union all
         select null, null where current_setting('transaction_isolation') <> 'read committed'",
        claim = ledger::claim_ctes(
            n + 14,
            "current_setting('transaction_isolation') = 'read committed'"
        ),
        insert = ledger::insert_sql(n + 6, Some("changed"), Some("claimed")),
    )
}

/// Writes payloads into `table` under the ordering rule; returns the ids that changed.
/// `upserts` must not repeat an id (one statement cannot touch a row twice), and the caller
/// holds the [`row_lock`] and [`parent_locks`] of every row. `recorded`, the batch's ledger rows,
/// are written by the same statement.
pub async fn upsert(
    tx: &mut Tx<'_>,
    table: &'static Table,
    upserts: &[Upsert<'_>],
    recorded: Option<Recorded<'_>>,
) -> Result<Vec<String>, sqlx::Error> {
    let sql = match recorded {
        Some(_) => table
            .recording_upsert_sql
            .get_or_init(|| build_recording_upsert_sql(table)),
        None => table
            .upsert_sql
            .get_or_init(|| build_upsert_sql(table, None)),
    };
    let mut query = bind_upserts(sqlx::query(sql), table, upserts.iter());
    if let Some(recorded) = recorded {
        query = recorded.bind(query);
    }
    let rows = query.fetch_all(&mut **tx).await?;
    Ok(rows.iter().map(|row| row.get(0)).collect())
}

/// Writes `upserts` into `table` and `recorded`, the batch's ledger rows, for the deliveries of
/// `webhooks` whose svix-ids are new, after taking their `locks`, in one statement outside any
/// transaction; returns each claimed svix-id and whether its delivery changed its row. `None`
/// when the connection's transactions are not READ COMMITTED: then nothing was done. Only for
/// a table without parents, since the statement's snapshot predates its lock waits.
pub async fn upsert_at_once<'q>(
    conn: &mut PgConnection,
    table: &'static Table,
    upserts: &[&'q Upsert<'q>],
    recorded: Recorded<'q>,
    webhooks: &[&'q Delivery],
    locks: &[(&'q str, &'q LockKey)],
) -> Result<Option<Vec<(String, bool)>>, sqlx::Error> {
    debug_assert!(!has_parents(table));
    let sql = table.at_once_sql.get_or_init(|| build_at_once_sql(table));
    let query = recorded.bind(bind_upserts(
        sqlx::query(sql),
        table,
        upserts.iter().copied(),
    ));
    let rows = ledger::bind_claim(query, webhooks, locks)
        .fetch_all(conn)
        .await?;
    let claimed: Option<Vec<(String, bool)>> = rows
        .iter()
        .map(|row| Some((row.get::<Option<String>, _>(0)?, row.get(1))))
        .collect();
    Ok(claimed)
}

/// Binds the rows of `upserts`, as the parameters of [`build_upsert_sql`].
fn bind_upserts<'q>(
    query: Query<'q, Postgres, PgArguments>,
    table: &Table,
    upserts: impl Iterator<Item = &'q Upsert<'q>> + Clone,
) -> Query<'q, Postgres, PgArguments> {
    let mut query = query.bind(
        upserts
            .clone()
            .map(|u| u.row.id.as_str())
            .collect::<Vec<_>>(),
    );
    for (i, column) in table.columns.iter().enumerate() {
        query = bind_column(
            query,
            column.kind,
            upserts.clone().map(|u| &u.row.values[i]),
        );
    }
    query
        .bind(upserts.clone().map(|u| u.data).collect::<Vec<_>>())
        .bind(upserts.clone().map(|u| u.version).collect::<Vec<_>>())
        .bind(upserts.clone().map(|u| u.rank as i16).collect::<Vec<_>>())
        .bind(upserts.map(|u| u.svix_id).collect::<Vec<_>>())
}

/// Whether rows of `table` have parents whose deletion they inherit or follow.
pub fn has_parents(table: &Table) -> bool {
    cascades_to(table).next().is_some()
}

/// Marks objects deleted (creating tombstone rows for ones never seen) and applies the
/// cascades of the ones whose deletion changed something; returns those ids. The caller holds
/// the [`row_lock`] of every id.
pub async fn tombstone(
    tx: &mut Tx<'_>,
    table: &'static Table,
    tombstones: &[Tombstone<'_>],
) -> Result<Vec<String>, sqlx::Error> {
    let sql = table
        .tombstone_sql
        .get_or_init(|| build_tombstone_sql(table));
    let changed: Vec<String> = sqlx::query_scalar(sql)
        .bind(tombstones.iter().map(|t| t.id).collect::<Vec<_>>())
        .bind(tombstones.iter().map(|t| t.data).collect::<Vec<_>>())
        .bind(tombstones.iter().map(|t| t.at).collect::<Vec<_>>())
        .bind(tombstones.iter().map(|t| t.instance_id).collect::<Vec<_>>())
        .fetch_all(&mut **tx)
        .await?;
    if !changed.is_empty() {
        for cascade in cascades_from(table) {
            sqlx::query(&cascade_sql(cascade))
                .bind(&changed)
                .execute(&mut **tx)
                .await?;
        }
    }
    Ok(changed)
}

fn bind_column<'q, 'v>(
    query: Query<'q, Postgres, PgArguments>,
    kind: Kind,
    values: impl Iterator<Item = &'v Value>,
) -> Query<'q, Postgres, PgArguments> {
    match kind {
        Kind::Text => query.bind(values.map(Value::text_value).collect::<Vec<_>>()),
        Kind::Int | Kind::Millis => query.bind(values.map(Value::int_value).collect::<Vec<_>>()),
        Kind::Bool => query.bind(values.map(Value::bool_value).collect::<Vec<_>>()),
    }
}

/// An advisory lock a write needs. Every row a batch writes is locked exclusively under its
/// `table:id` key, so two batches never hold rows the other wants (a batch writes in several
/// statements, and two could otherwise lock the same rows in opposite orders). Children take
/// their parents' keys shared, so a parent's deletion and its children's writes are ordered:
/// whichever transaction commits second sees the other.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct LockKey {
    /// `table:id`.
    pub key: String,
    /// Exclusive, or shared.
    pub exclusive: bool,
}

impl LockKey {
    fn new(table: &Table, id: &str, exclusive: bool) -> Self {
        Self {
            key: format!("{}:{id}", table.name),
            exclusive,
        }
    }
}

/// The lock writing row `id` of `table` needs: its own, exclusive.
pub fn row_lock(table: &Table, id: &str) -> LockKey {
    LockKey::new(table, id, true)
}

/// The locks writing `row` into `table` needs besides its own: its parents', shared.
pub fn parent_locks(table: &Table, row: &Row) -> Vec<LockKey> {
    cascades_to(table)
        .filter_map(
            |cascade| match &row.values[table.column_index(cascade.via)] {
                Value::Text(Some(parent_id)) => {
                    Some(LockKey::new(cascade.parent, parent_id, false))
                }
                _ => None,
            },
        )
        .collect()
}

/// Takes transaction-scoped advisory locks in one statement, in a fixed order, so writers cannot
/// deadlock on them. `hashtextextended` is Postgres's, so every instance agrees on the keys.
pub async fn take_locks(tx: &mut Tx<'_>, locks: &[LockKey]) -> Result<(), sqlx::Error> {
    if locks.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "select case when x then pg_advisory_xact_lock(h) else pg_advisory_xact_lock_shared(h) end
         from (select hashtextextended(k, 0) as h, bool_or(x) as x
               from unnest($1::text[], $2::boolean[]) as l(k, x)
               group by 1 order by 1) s",
    )
    .bind(locks.iter().map(|l| l.key.as_str()).collect::<Vec<_>>())
    .bind(locks.iter().map(|l| l.exclusive).collect::<Vec<_>>())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_cascade_names_columns_of_its_child() {
        for cascade in &CASCADES {
            cascade.child.column_index(cascade.via);
            match &cascade.effect {
                Effect::Tombstone { when } => {
                    if let Some(when) = when {
                        cascade.child.column_index(when.column);
                    }
                }
                Effect::Set { column, when, .. } => {
                    cascade.child.column_index(column);
                    cascade.child.column_index(when.column);
                }
            }
        }
    }

    #[test]
    fn a_child_inherits_every_parent_deletion_in_its_upsert() {
        let sql = build_upsert_sql(&ORGANIZATION_MEMBERSHIPS, None);
        assert!(sql.contains("least((select p.deleted_at from clerk.organizations p where p.id = v.organization_id), (select p.deleted_at from clerk.users p where p.id = v.user_id))"), "{sql}");
        let sql = build_upsert_sql(&ORGANIZATION_INVITATIONS, None);
        assert!(sql.contains("case when v.status = 'pending' then (select p.deleted_at from clerk.organizations p"), "{sql}");
        let sql = build_upsert_sql(&SESSIONS, None);
        assert!(sql.contains("then 'ended' else v.status end"), "{sql}");
    }
}
