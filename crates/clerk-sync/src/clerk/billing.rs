//! Clerk Billing: `subscription.*`, `subscriptionItem.*` and `paymentAttempt.*` payloads.

use serde::Deserialize;

/// A payer's subscription (the set of their plan items).
#[derive(Debug, Clone, Deserialize)]
pub struct Subscription {
    /// `csub_...`
    pub id: String,
    /// `active`, `past_due`, `canceled`, `ended`, ...
    #[serde(default)]
    pub status: Option<String>,
    /// The payer (`cpayer_...`).
    #[serde(default)]
    pub payer_id: Option<String>,
    /// The payer: a user or an organization.
    #[serde(default)]
    pub payer: Option<Payer>,
    /// The latest payment.
    #[serde(default)]
    pub latest_payment_id: Option<String>,
    /// The items (one per plan).
    #[serde(default, deserialize_with = "super::null_as_default")]
    pub items: Vec<SubscriptionItem>,
    /// Became active.
    #[serde(default)]
    pub active_at: Option<i64>,
    /// Became past due.
    #[serde(default)]
    pub past_due_at: Option<i64>,
    /// Canceled.
    #[serde(default)]
    pub canceled_at: Option<i64>,
    /// Ended.
    #[serde(default)]
    pub ended_at: Option<i64>,
    /// Creation time.
    #[serde(default)]
    pub created_at: Option<i64>,
    /// Last change.
    #[serde(default)]
    pub updated_at: Option<i64>,
}

/// One plan of a subscription.
#[derive(Debug, Clone, Deserialize)]
pub struct SubscriptionItem {
    /// `csub_item_...`
    pub id: String,
    /// The subscription it belongs to.
    #[serde(default)]
    pub subscription_id: Option<String>,
    /// `active`, `upcoming`, `past_due`, `canceled`, `ended`, `abandoned`, `incomplete`, ...
    #[serde(default)]
    pub status: Option<String>,
    /// Whether this is a free trial.
    #[serde(default)]
    pub is_free_trial: Option<bool>,
    /// The plan id.
    #[serde(default)]
    pub plan_id: Option<String>,
    /// The plan.
    #[serde(default)]
    pub plan: Option<Plan>,
    /// `month` or `annual`.
    #[serde(default)]
    pub interval: Option<String>,
    /// Start of the current period.
    #[serde(default)]
    pub period_start: Option<i64>,
    /// End of the current period.
    #[serde(default)]
    pub period_end: Option<i64>,
    /// The payer.
    #[serde(default)]
    pub payer: Option<Payer>,
    /// Creation time.
    #[serde(default)]
    pub created_at: Option<i64>,
    /// Last change.
    #[serde(default)]
    pub updated_at: Option<i64>,
}

/// A billing plan, as embedded in subscription items.
#[derive(Debug, Clone, Deserialize)]
pub struct Plan {
    /// `cplan_...`
    #[serde(default)]
    pub id: Option<String>,
    /// Plan slug, e.g. `pro-plan`.
    #[serde(default)]
    pub slug: Option<String>,
    /// Display name.
    #[serde(default)]
    pub name: Option<String>,
    /// Price in the currency's minor unit.
    #[serde(default)]
    pub amount: Option<i64>,
    /// ISO currency code.
    #[serde(default)]
    pub currency: Option<String>,
}

/// Who pays: a user or an organization.
#[derive(Debug, Clone, Deserialize)]
pub struct Payer {
    /// `cpayer_...`
    #[serde(default)]
    pub id: Option<String>,
    /// The paying user, when a user pays.
    #[serde(default)]
    pub user_id: Option<String>,
    /// The paying organization, when an organization pays (`""` otherwise in examples).
    #[serde(default)]
    pub organization_id: Option<String>,
    /// Payer email.
    #[serde(default)]
    pub email: Option<String>,
}

impl Payer {
    /// The organization id, with the `""` that examples use for "none" read as none.
    pub fn organization_id(&self) -> Option<&str> {
        self.organization_id.as_deref().filter(|id| !id.is_empty())
    }

    /// The user id, with `""` read as none.
    pub fn user_id(&self) -> Option<&str> {
        self.user_id.as_deref().filter(|id| !id.is_empty())
    }
}

/// One attempt to collect a payment.
#[derive(Debug, Clone, Deserialize)]
pub struct PaymentAttempt {
    /// `pa_...`
    pub id: String,
    /// The payment (`cpa_...`).
    #[serde(default)]
    pub payment_id: Option<String>,
    /// The statement it belongs to.
    #[serde(default)]
    pub statement_id: Option<String>,
    /// `pending`, `paid`, `failed`.
    #[serde(default)]
    pub status: Option<String>,
    /// `checkout` or `recurring`.
    #[serde(default)]
    pub charge_type: Option<String>,
    /// The payer.
    #[serde(default)]
    pub payer: Option<Payer>,
    /// Amounts.
    #[serde(default)]
    pub totals: Option<Totals>,
    /// Why it failed, when it did.
    #[serde(default)]
    pub failed_reason: Option<Box<serde_json::value::RawValue>>,
    /// Billing date.
    #[serde(default)]
    pub billing_date: Option<i64>,
    /// Paid.
    #[serde(default)]
    pub paid_at: Option<i64>,
    /// Failed.
    #[serde(default)]
    pub failed_at: Option<i64>,
    /// Creation time.
    #[serde(default)]
    pub created_at: Option<i64>,
    /// Last change.
    #[serde(default)]
    pub updated_at: Option<i64>,
}

/// `payment_attempt.totals`.
#[derive(Debug, Clone, Deserialize)]
pub struct Totals {
    /// What is charged.
    #[serde(default)]
    pub grand_total: Option<Money>,
}

/// An amount of money.
#[derive(Debug, Clone, Deserialize)]
pub struct Money {
    /// In the currency's minor unit (cents).
    #[serde(default)]
    pub amount: Option<i64>,
    /// ISO currency code.
    #[serde(default)]
    pub currency: Option<String>,
}
