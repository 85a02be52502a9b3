//! Who may see, use, change and delete a model. Someone who may not see a model is told it
//! does not exist (404); someone who sees it but may not do what they asked is refused (403).

use crate::auth::{Principal, Role};

use super::model::{SYSTEM_OWNER, SharePermission, VoiceModel};

/// What a request wants to do with a model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Act {
    See,
    /// Speak with it.
    Use,
    /// Rename, re-describe, activate, deactivate.
    Change,
    /// Delete, share, unshare.
    Own,
}

/// The answer to "may `who` do `act` to `m`".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Allowed,
    /// Not theirs to see: answered as if the model did not exist.
    Hidden,
    Forbidden,
}

pub fn check(who: &Principal, m: &VoiceModel, act: Act) -> Verdict {
    if who.role == Role::Admin {
        return Verdict::Allowed;
    }
    let owner = m.owner == who.subject;
    let share = m.share_of(&who.subject).map(|s| s.permission);
    // The call flow's voices are the call centre's: every role reads them (as clone status).
    let account = m.owner == SYSTEM_OWNER;
    if !(owner || share.is_some() || account) {
        return Verdict::Hidden;
    }
    let acts = who.role >= Role::Operator;
    let allowed = match act {
        Act::See => true,
        Act::Use => owner || share.is_some() || (account && acts),
        Act::Change => acts && (owner || share == Some(SharePermission::Manage)),
        Act::Own => acts && owner,
    };
    if allowed { Verdict::Allowed } else { Verdict::Forbidden }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::library::model::Share;

    fn who(sub: &str, role: Role) -> Principal {
        Principal { subject: sub.into(), role }
    }

    fn model(owner: &str, shares: &[(&str, SharePermission)]) -> VoiceModel {
        let mut m: VoiceModel = serde_json::from_value(serde_json::json!({
            "id": "vm-a", "person": "emp-1", "owner": owner, "provider": "elevenlabs",
            "provider_voice_id": "v1", "source": {}, "sample_rate": null, "quality": null,
            "status": "ready", "metadata": {}, "created_at": "2026-01-01T00:00:00Z",
            "updated_at": "2026-01-01T00:00:00Z", "deleted_at": null, "last_used_at": null,
            "usage": {"uses": 0, "characters": 0, "latency_ms_total": 0}, "expires_at": null
        }))
        .unwrap();
        m.shares = shares
            .iter()
            .map(|(u, p)| Share { user: (*u).into(), permission: *p, by: owner.into(), at: m.created_at })
            .collect();
        m
    }

    #[test]
    fn owners_act_sharers_use_others_see_nothing() {
        let m = model("alice", &[("bob", SharePermission::Use), ("carol", SharePermission::Manage)]);
        let alice = who("alice", Role::Operator);
        assert_eq!(check(&alice, &m, Act::Own), Verdict::Allowed);
        let bob = who("bob", Role::Operator);
        assert_eq!(check(&bob, &m, Act::Use), Verdict::Allowed);
        assert_eq!(check(&bob, &m, Act::Change), Verdict::Forbidden);
        let carol = who("carol", Role::Operator);
        assert_eq!(check(&carol, &m, Act::Change), Verdict::Allowed);
        assert_eq!(check(&carol, &m, Act::Own), Verdict::Forbidden);
        assert_eq!(check(&who("dave", Role::Operator), &m, Act::See), Verdict::Hidden);
        assert_eq!(check(&who("dave", Role::Viewer), &m, Act::See), Verdict::Hidden);
        assert_eq!(check(&who("root", Role::Admin), &m, Act::Own), Verdict::Allowed);
        // A viewer owner still only reads.
        assert_eq!(check(&who("alice", Role::Viewer), &m, Act::Change), Verdict::Forbidden);
    }

    #[test]
    fn the_call_flows_voices_are_read_by_all_and_changed_by_admins() {
        let m = model(SYSTEM_OWNER, &[]);
        assert_eq!(check(&who("v", Role::Viewer), &m, Act::See), Verdict::Allowed);
        assert_eq!(check(&who("o", Role::Operator), &m, Act::Use), Verdict::Allowed);
        assert_eq!(check(&who("o", Role::Operator), &m, Act::Change), Verdict::Forbidden);
        assert_eq!(check(&who("a", Role::Admin), &m, Act::Own), Verdict::Allowed);
    }
}
