//! Clerk's published example of every event type, embedded (feature `fixtures`): what
//! `clerk-sync send` posts, and what an application's own tests can sign and deliver.
//! Sources: `fixtures/clerk/SOURCES.md` in this crate. A test checks this list against the directory.

/// `(file name, JSON)` for each top-level file of `fixtures/clerk`.
const EXAMPLES: &[(&str, &str)] = &[
    (
        "email.created.json",
        include_str!("../fixtures/clerk/email.created.json"),
    ),
    (
        "organization.created.json",
        include_str!("../fixtures/clerk/organization.created.json"),
    ),
    (
        "organization.deleted.json",
        include_str!("../fixtures/clerk/organization.deleted.json"),
    ),
    (
        "organization.updated.json",
        include_str!("../fixtures/clerk/organization.updated.json"),
    ),
    (
        "organizationDomain.created.json",
        include_str!("../fixtures/clerk/organizationDomain.created.json"),
    ),
    (
        "organizationDomain.deleted.json",
        include_str!("../fixtures/clerk/organizationDomain.deleted.json"),
    ),
    (
        "organizationDomain.updated.json",
        include_str!("../fixtures/clerk/organizationDomain.updated.json"),
    ),
    (
        "organizationInvitation.accepted.json",
        include_str!("../fixtures/clerk/organizationInvitation.accepted.json"),
    ),
    (
        "organizationInvitation.created.json",
        include_str!("../fixtures/clerk/organizationInvitation.created.json"),
    ),
    (
        "organizationInvitation.revoked.json",
        include_str!("../fixtures/clerk/organizationInvitation.revoked.json"),
    ),
    (
        "organizationMembership.created.json",
        include_str!("../fixtures/clerk/organizationMembership.created.json"),
    ),
    (
        "organizationMembership.deleted.json",
        include_str!("../fixtures/clerk/organizationMembership.deleted.json"),
    ),
    (
        "organizationMembership.updated.json",
        include_str!("../fixtures/clerk/organizationMembership.updated.json"),
    ),
    (
        "paymentAttempt.created.json",
        include_str!("../fixtures/clerk/paymentAttempt.created.json"),
    ),
    (
        "paymentAttempt.updated.json",
        include_str!("../fixtures/clerk/paymentAttempt.updated.json"),
    ),
    (
        "permission.created.json",
        include_str!("../fixtures/clerk/permission.created.json"),
    ),
    (
        "permission.deleted.json",
        include_str!("../fixtures/clerk/permission.deleted.json"),
    ),
    (
        "permission.updated.json",
        include_str!("../fixtures/clerk/permission.updated.json"),
    ),
    (
        "role.created.json",
        include_str!("../fixtures/clerk/role.created.json"),
    ),
    (
        "role.deleted.json",
        include_str!("../fixtures/clerk/role.deleted.json"),
    ),
    (
        "role.updated.json",
        include_str!("../fixtures/clerk/role.updated.json"),
    ),
    (
        "session.created.json",
        include_str!("../fixtures/clerk/session.created.json"),
    ),
    (
        "session.ended.json",
        include_str!("../fixtures/clerk/session.ended.json"),
    ),
    (
        "session.pending.json",
        include_str!("../fixtures/clerk/session.pending.json"),
    ),
    (
        "session.removed.json",
        include_str!("../fixtures/clerk/session.removed.json"),
    ),
    (
        "session.revoked.json",
        include_str!("../fixtures/clerk/session.revoked.json"),
    ),
    (
        "sms.created.json",
        include_str!("../fixtures/clerk/sms.created.json"),
    ),
    (
        "subscription.active.json",
        include_str!("../fixtures/clerk/subscription.active.json"),
    ),
    (
        "subscription.created.json",
        include_str!("../fixtures/clerk/subscription.created.json"),
    ),
    (
        "subscription.pastDue.json",
        include_str!("../fixtures/clerk/subscription.pastDue.json"),
    ),
    (
        "subscription.updated.json",
        include_str!("../fixtures/clerk/subscription.updated.json"),
    ),
    (
        "subscriptionItem.abandoned.json",
        include_str!("../fixtures/clerk/subscriptionItem.abandoned.json"),
    ),
    (
        "subscriptionItem.active.json",
        include_str!("../fixtures/clerk/subscriptionItem.active.json"),
    ),
    (
        "subscriptionItem.canceled.json",
        include_str!("../fixtures/clerk/subscriptionItem.canceled.json"),
    ),
    (
        "subscriptionItem.ended.json",
        include_str!("../fixtures/clerk/subscriptionItem.ended.json"),
    ),
    (
        "subscriptionItem.freeTrialEnding.json",
        include_str!("../fixtures/clerk/subscriptionItem.freeTrialEnding.json"),
    ),
    (
        "subscriptionItem.incomplete.json",
        include_str!("../fixtures/clerk/subscriptionItem.incomplete.json"),
    ),
    (
        "subscriptionItem.pastDue.json",
        include_str!("../fixtures/clerk/subscriptionItem.pastDue.json"),
    ),
    (
        "subscriptionItem.upcoming.json",
        include_str!("../fixtures/clerk/subscriptionItem.upcoming.json"),
    ),
    (
        "subscriptionItem.updated.json",
        include_str!("../fixtures/clerk/subscriptionItem.updated.json"),
    ),
    (
        "user.created.json",
        include_str!("../fixtures/clerk/user.created.json"),
    ),
    (
        "user.deleted.json",
        include_str!("../fixtures/clerk/user.deleted.json"),
    ),
    (
        "user.updated.json",
        include_str!("../fixtures/clerk/user.updated.json"),
    ),
    (
        "waitlistEntry.created.json",
        include_str!("../fixtures/clerk/waitlistEntry.created.json"),
    ),
    (
        "waitlistEntry.updated.json",
        include_str!("../fixtures/clerk/waitlistEntry.updated.json"),
    ),
];

/// `(event type, JSON)` of every example, in file order (each file is named for its type).
pub fn all() -> impl Iterator<Item = (&'static str, &'static str)> {
    EXAMPLES
        .iter()
        .map(|(file, json)| (file.trim_end_matches(".json"), *json))
}

/// The published example of `event_type` (`"user.created"`), if Clerk publishes one.
pub fn example(event_type: &str) -> Option<&'static str> {
    all()
        .find(|(name, _)| *name == event_type)
        .map(|(_, json)| json)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every top-level file of `fixtures/clerk` is embedded, and each is named for its `type`,
    /// a known one.
    #[test]
    fn every_example_file_is_embedded_and_typed() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/clerk");
        let mut files: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|name| name.ends_with(".json"))
            .collect();
        files.sort();
        let embedded: Vec<&str> = EXAMPLES.iter().map(|(file, _)| *file).collect();
        assert_eq!(embedded, files);
        for (event_type, json) in all() {
            assert!(
                crate::clerk::ClerkEvent::KNOWN_TYPES.contains(&event_type),
                "{event_type}"
            );
            let typed: serde_json::Value = serde_json::from_str(json).unwrap();
            assert_eq!(typed["type"], event_type);
        }
        assert!(example("user.created")
            .unwrap()
            .contains(r#""type": "user.created""#));
        assert_eq!(example("user.renamed"), None);
    }
}
