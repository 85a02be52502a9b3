//! The library's rules, as pure functions: which model becomes a person's active one, which
//! takes over when it goes, and which models cleanup removes.

use chrono::{DateTime, Duration, Utc};

use super::model::{ActiveVoice, VoiceModel};

/// A new ready model with a score above this replaces an active one the rules chose
/// (`ACTIVATE_ABOVE`).
pub const DEFAULT_REPLACE_ABOVE: f64 = 0.8;

/// Whether `new` (just ready) becomes its person's active model, given the current one.
pub fn takes_over(
    current: Option<(&ActiveVoice, Option<&VoiceModel>)>,
    new: &VoiceModel,
    replace_above: f64,
    now: DateTime<Utc>,
) -> bool {
    if !new.is_usable(now) {
        return false;
    }
    match current {
        // The person's first ready model.
        None => true,
        Some((active, _)) if active.model_id == new.id => false,
        // The active model went (deleted, expired, failed): a usable model replaces it.
        Some((_, model)) if !model.is_some_and(|m| m.is_usable(now)) => true,
        Some((active, _)) if active.by_hand => false,
        Some(_) => new.score().is_some_and(|s| s > replace_above),
    }
}

/// The model to activate when the active one goes: the best usable one (highest quality, an
/// unscored model after every scored one), then the newest.
pub fn next_best<'a>(
    models: &'a [VoiceModel],
    except: &super::model::ModelId,
    now: DateTime<Utc>,
) -> Option<&'a VoiceModel> {
    models.iter().filter(|m| &m.id != except && m.is_usable(now)).max_by(|a, b| {
        let q = |m: &VoiceModel| m.score().unwrap_or(f64::NEG_INFINITY);
        q(a).total_cmp(&q(b)).then(a.created_at.cmp(&b.created_at))
    })
}

/// Which models cleanup removes: the original design's four conditions together (old, not
/// active, poor, unused), or past their own expiry.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CleanupRules {
    pub older_than: Duration,
    pub below_quality: f64,
    pub unused_for: Duration,
}

impl Default for CleanupRules {
    fn default() -> Self {
        Self { older_than: Duration::days(182), below_quality: 0.5, unused_for: Duration::days(30) }
    }
}

/// Why cleanup removes a model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CleanupReason {
    Expired,
    /// Old, not active, scored below the bar and unused.
    Stale,
}

impl CleanupRules {
    /// `None`: the model stays. A deleted model has nothing left to clean; an unscored one is
    /// not "below" any bar (its score may be coming).
    pub fn reason(&self, m: &VoiceModel, active: bool, now: DateTime<Utc>) -> Option<CleanupReason> {
        if m.status == super::model::ModelStatus::Deleted {
            return None;
        }
        // An active model's life is its person's use of it (the call flow's voices expire with
        // their cache entry, which the reconciler retires): never cleaned while active.
        if m.expires_at.is_some_and(|e| e <= now) && !active {
            return Some(CleanupReason::Expired);
        }
        let old = now - m.created_at >= self.older_than;
        let poor = m.score().is_some_and(|s| s < self.below_quality);
        let unused = now - m.last_used_at.unwrap_or(m.created_at) >= self.unused_for;
        (old && !active && poor && unused).then_some(CleanupReason::Stale)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::library::model::{ModelId, ModelStatus, Person};
    use crate::{QualityScore, RunId, VoiceId};

    fn model(id: &str, score: Option<f64>, created_days_ago: i64, now: DateTime<Utc>) -> VoiceModel {
        let quality = score.map(|s| QualityScore {
            voice_id: VoiceId::parse("v1").unwrap(),
            engine: "elevenlabs".into(),
            run_id: RunId::parse("r").unwrap(),
            score: Some(s),
            parts: {
                let part = || crate::quality::QualityPart {
                    weight: 0.25,
                    score: Some(s),
                    missing: None,
                    figures: Default::default(),
                };
                crate::quality::QualityParts {
                    similarity: part(),
                    consistency: part(),
                    clarity: part(),
                    naturalness: part(),
                }
            },
            phrases: vec![],
            characters: 0,
            scored_at: now,
        });
        VoiceModel {
            provider_voice_id: Some(VoiceId::parse(&format!("voice{id}")).unwrap()),
            quality,
            status: ModelStatus::Ready,
            version: 1,
            ..VoiceModel::new(
                ModelId::parse(&format!("vm-{id}")).unwrap(),
                Person::parse("emp-1").unwrap(),
                "u1",
                "elevenlabs",
                now - Duration::days(created_days_ago),
            )
        }
    }

    fn active(m: &VoiceModel, by_hand: bool) -> ActiveVoice {
        ActiveVoice {
            person: m.person.clone(),
            model_id: m.id.clone(),
            voice_id: m.provider_voice_id.clone().unwrap(),
            provider: m.provider.clone(),
            by_hand,
            by: "u1".into(),
            since: m.created_at,
        }
    }

    #[test]
    fn the_first_ready_model_and_a_better_one_take_over_but_not_from_a_hand_choice() {
        let now = Utc::now();
        let (old, good, fair) =
            (model("a", Some(0.6), 3, now), model("b", Some(0.85), 1, now), model("c", Some(0.8), 1, now));
        assert!(takes_over(None, &old, 0.8, now));
        assert!(takes_over(Some((&active(&old, false), Some(&old))), &good, 0.8, now));
        // Above, not at, the bar.
        assert!(!takes_over(Some((&active(&old, false), Some(&old))), &fair, 0.8, now));
        assert!(!takes_over(Some((&active(&old, true), Some(&old))), &good, 0.8, now));
        // An active model that is gone is replaced whatever the score.
        let mut gone = old.clone();
        gone.status = ModelStatus::Deleted;
        assert!(takes_over(Some((&active(&gone, true), Some(&gone))), &fair, 0.8, now));
        let mut unready = good.clone();
        unready.status = ModelStatus::Cloning;
        assert!(!takes_over(None, &unready, 0.8, now));
    }

    #[test]
    fn next_best_is_the_highest_scored_then_the_newest() {
        let now = Utc::now();
        let models = vec![
            model("a", Some(0.9), 5, now),
            model("b", Some(0.7), 1, now),
            model("c", None, 0, now),
            model("d", Some(0.7), 2, now),
        ];
        assert_eq!(next_best(&models, &models[1].id, now).unwrap().id, models[0].id);
        assert_eq!(next_best(&models, &models[0].id, now).unwrap().id, models[1].id);
        let unscored = vec![model("c", None, 0, now), model("e", None, 3, now)];
        assert_eq!(next_best(&unscored, &models[0].id, now).unwrap().id, unscored[0].id);
        assert!(next_best(&unscored[..1], &unscored[0].id, now).is_none());
    }

    #[test]
    fn cleanup_takes_only_models_meeting_all_four_conditions_or_expired() {
        let now = Utc::now();
        let rules = CleanupRules::default();
        let stale = model("a", Some(0.49), 182, now);
        assert_eq!(rules.reason(&stale, false, now), Some(CleanupReason::Stale));
        // Each condition short of its edge keeps it.
        assert_eq!(rules.reason(&stale, true, now), None);
        assert_eq!(rules.reason(&model("a", Some(0.5), 182, now), false, now), None);
        assert_eq!(rules.reason(&model("a", Some(0.49), 181, now), false, now), None);
        assert_eq!(rules.reason(&model("a", None, 400, now), false, now), None);
        let mut used = stale.clone();
        used.last_used_at = Some(now - Duration::days(29));
        assert_eq!(rules.reason(&used, false, now), None);
        used.last_used_at = Some(now - Duration::days(30));
        assert_eq!(rules.reason(&used, false, now), Some(CleanupReason::Stale));
        let mut expired = model("b", Some(0.95), 0, now);
        expired.expires_at = Some(now);
        assert_eq!(rules.reason(&expired, false, now), Some(CleanupReason::Expired));
        assert_eq!(rules.reason(&expired, true, now), None, "in use");
        expired.status = ModelStatus::Deleted;
        assert_eq!(rules.reason(&expired, false, now), None);
    }
}
