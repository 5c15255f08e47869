//! The apply owner the safe-apply machinery talks to: restores through
//! [`Restorer`] and turns every end of a pending change and every failed revert
//! attempt into a system log entry with structured `HOSTWALL_*` fields.

use hostwall::apply::restore::Restorer;
use hostwall::safe::{BoxError, End, Event, Outcome, Revert, RevertReason};
use hostwall::syslog::{Entry, Priority, SystemLog};

pub struct Owner {
    pub log: SystemLog,
}

impl Revert for Owner {
    fn revert(&self, previous: &[u8]) -> Result<(), BoxError> {
        Restorer.revert(previous)
    }

    fn namespace(&self, previous: &[u8]) -> Option<String> {
        Restorer.namespace(previous)
    }

    fn report(&self, event: &Event) {
        // A log that cannot be written must never fail (or delay) the revert.
        let _ = self.log.send(&entry(event));
    }
}

impl Owner {
    /// A change was committed (`id`: its pending id under `--confirm`).
    pub fn applied(&self, policy: &str, netns: Option<&str>, generation: u32, id: Option<&str>) {
        let ns = netns.unwrap_or("host");
        let message = match id {
            Some(id) => format!(
                "applied policy {policy} (netns {ns}, generation {generation}) as change {id}, pending confirmation"
            ),
            None => format!("applied policy {policy} (netns {ns}, generation {generation})"),
        };
        let mut fields = vec![
            ("HOSTWALL_EVENT", "applied".to_string()),
            ("HOSTWALL_POLICY", policy.to_string()),
            ("HOSTWALL_NETNS", ns.to_string()),
            ("HOSTWALL_GENERATION", generation.to_string()),
        ];
        if let Some(id) = id {
            fields.push(("HOSTWALL_ID", id.to_string()));
        }
        let _ = self.log.send(&Entry {
            priority: Priority::Info,
            message,
            fields,
        });
    }

    /// The confirm prompt stopped waiting without an answer: the change stays pending.
    pub fn prompt_lost(&self, id: &str, policy: &str, why: &str, deadline: u64) {
        let message = format!(
            "the confirm prompt of change {id} (policy {policy}) ended without an answer ({why}); the change stays pending until its deadline (Unix time {deadline}): `hostwall confirm` keeps it, else it is reverted then"
        );
        let _ = self.log.send(&Entry {
            priority: Priority::Notice,
            message,
            fields: vec![
                ("HOSTWALL_EVENT", "prompt-ended".into()),
                ("HOSTWALL_ID", id.into()),
                ("HOSTWALL_POLICY", policy.into()),
                ("HOSTWALL_REASON", why.into()),
            ],
        });
    }
}

fn netns_text(netns: &Option<String>) -> &str {
    netns.as_deref().unwrap_or("unknown")
}

fn entry(event: &Event) -> Entry {
    match event {
        Event::Ended(o) => ended(o),
        Event::RevertFailed {
            id,
            policy,
            netns,
            reason,
            error,
        } => Entry {
            priority: Priority::Err,
            message: format!(
                "reverting change {id} (policy {policy}, netns {}) failed: {error}; the change stays pending and the revert is retried (reverting because {})",
                netns_text(netns),
                reason.text()
            ),
            fields: fields("revert-failed", id, policy, netns, Some(*reason))
                .into_iter()
                .chain([("HOSTWALL_ERROR", error.clone())])
                .collect(),
        },
    }
}

fn ended(o: &Outcome) -> Entry {
    let ns = netns_text(&o.netns);
    let (priority, message, event, reason) = match &o.end {
        End::Confirmed => (
            Priority::Info,
            format!(
                "confirmed change {} (policy {}, netns {ns}): it stays",
                o.id, o.policy
            ),
            "confirmed",
            None,
        ),
        End::Reverted { reason } => (
            if reason.automatic() {
                Priority::Warning
            } else {
                Priority::Notice
            },
            format!(
                "reverted change {} (policy {}, netns {ns}): {}",
                o.id,
                o.policy,
                reason.text()
            ),
            "reverted",
            Some(*reason),
        ),
        End::Dropped { reason, note } => (
            Priority::Notice,
            format!(
                "dropped pending change {} (policy {}, netns {ns}): {note}",
                o.id, o.policy
            ),
            "dropped",
            Some(*reason),
        ),
    };
    Entry {
        priority,
        message,
        fields: fields(event, &o.id, &o.policy, &o.netns, reason),
    }
}

fn fields(
    event: &str,
    id: &str,
    policy: &str,
    netns: &Option<String>,
    reason: Option<RevertReason>,
) -> Vec<(&'static str, String)> {
    let mut f = vec![
        ("HOSTWALL_EVENT", event.to_string()),
        ("HOSTWALL_ID", id.to_string()),
        ("HOSTWALL_POLICY", policy.to_string()),
        ("HOSTWALL_NETNS", netns_text(netns).to_string()),
    ];
    if let Some(r) = reason {
        f.push(("HOSTWALL_REASON", r.token().to_string()));
    }
    f
}
