//! The library's parameters (the rules' thresholds, cleanup's conditions, prices), read once at
//! start (`env::library_settings`).

use std::collections::BTreeMap;

use super::rules::{CleanupRules, DEFAULT_REPLACE_ABOVE};

#[derive(Debug, Clone, PartialEq)]
pub struct LibrarySettings {
    /// A new model scoring above this replaces an active one the rules chose.
    pub replace_above: f64,
    pub cleanup: CleanupRules,
    /// Price per 1,000 characters by provider (the account's plan); a provider without one
    /// has no cost figure rather than a made-up one.
    pub prices: BTreeMap<String, f64>,
    /// Changes one user may make to the library per window (the original design's 20 an hour).
    pub update_limit: crate::limits::Limit,
    /// Backups one user may make per window (2 a day).
    pub backup_limit: crate::limits::Limit,
    /// Models one user may ask to be made per window (5 an hour).
    pub creation_limit: crate::limits::Limit,
    /// Analytics one user may ask for per window (60 an hour).
    pub analytics_limit: crate::limits::Limit,
}

impl Default for LibrarySettings {
    fn default() -> Self {
        Self {
            replace_above: DEFAULT_REPLACE_ABOVE,
            cleanup: CleanupRules::default(),
            prices: BTreeMap::new(),
            update_limit: crate::limits::Limit { requests: 20, window_s: 3600 },
            analytics_limit: crate::limits::Limit { requests: 60, window_s: 3600 },
            creation_limit: crate::limits::Limit { requests: 5, window_s: 3600 },
            backup_limit: crate::limits::Limit { requests: 2, window_s: 86_400 },
        }
    }
}

impl LibrarySettings {
    /// The voice library's parameters: `ACTIVATE_ABOVE` (0 to 1, default 0.8),
    /// `CLEANUP_OLDER_THAN` (default 182d), `CLEANUP_BELOW_QUALITY` (default 0.5),
    /// `CLEANUP_UNUSED_FOR` (default 30d), `RATE_LIMIT_UPDATES` (changes per user and hour, default
    /// 20), `RATE_LIMIT_CREATIONS` (5), `RATE_LIMIT_BACKUPS` (a day, 2), `RATE_LIMIT_ANALYTICS` (per user and hour, default 60) and `PRICE_PER_1K_CHARACTERS`
    /// (`elevenlabs=0.30,…`).
    pub fn from_env() -> Result<Self, String> {
        let mut s = Self::default();
        let unit = |name: &str, v: Option<f64>, default: f64| match v {
            Some(v) if (0.0..=1.0).contains(&v) => Ok(v),
            Some(v) => Err(format!("{name} is {v}; a score is 0 to 1")),
            None => Ok(default),
        };
        s.replace_above =
            unit("ACTIVATE_ABOVE", crate::env::parsed("ACTIVATE_ABOVE", "a number")?, s.replace_above)?;
        s.cleanup.below_quality = unit(
            "CLEANUP_BELOW_QUALITY",
            crate::env::parsed("CLEANUP_BELOW_QUALITY", "a number")?,
            s.cleanup.below_quality,
        )?;
        s.cleanup.older_than = crate::env::duration("CLEANUP_OLDER_THAN")?.unwrap_or(s.cleanup.older_than);
        s.cleanup.unused_for = crate::env::duration("CLEANUP_UNUSED_FOR")?.unwrap_or(s.cleanup.unused_for);
        if let Some(n) = crate::env::parsed::<u32>("RATE_LIMIT_UPDATES", "a number of changes per hour")? {
            if n == 0 {
                return Err("RATE_LIMIT_UPDATES is 0: nobody could change a voice model".into());
            }
            s.update_limit.requests = n;
        }
        if let Some(n) = crate::env::parsed::<u32>("RATE_LIMIT_BACKUPS", "a number of backups per day")? {
            if n == 0 {
                return Err("RATE_LIMIT_BACKUPS is 0: nobody could back up a voice model".into());
            }
            s.backup_limit.requests = n;
        }
        if let Some(n) = crate::env::parsed::<u32>("RATE_LIMIT_CREATIONS", "a number of models per hour")? {
            if n == 0 {
                return Err("RATE_LIMIT_CREATIONS is 0: nobody could make a voice model".into());
            }
            s.creation_limit.requests = n;
        }
        if let Some(n) = crate::env::parsed::<u32>("RATE_LIMIT_ANALYTICS", "a number of requests per hour")? {
            if n == 0 {
                return Err("RATE_LIMIT_ANALYTICS is 0: nobody could read the analytics".into());
            }
            s.analytics_limit.requests = n;
        }
        if let Ok(raw) = std::env::var("PRICE_PER_1K_CHARACTERS") {
            s.prices = parse_prices(&raw).map_err(|e| format!("PRICE_PER_1K_CHARACTERS: {e}"))?;
        }
        Ok(s)
    }

    /// What `characters` cost at `provider`; `None` without a price.
    pub fn cost(&self, provider: &str, characters: u64) -> Option<f64> {
        self.prices.get(provider).map(|p| (characters as f64 / 1000.0 * p * 10_000.0).round() / 10_000.0)
    }
}

/// `elevenlabs=0.30,offline=0`: provider names and non-negative prices.
pub fn parse_prices(raw: &str) -> Result<BTreeMap<String, f64>, String> {
    raw.split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (name, price) =
                pair.split_once('=').ok_or_else(|| format!("{pair:?} is not provider=price"))?;
            let price: f64 =
                price.trim().parse().map_err(|_| format!("{pair:?}: the price is not a number"))?;
            if !(price.is_finite() && price >= 0.0) {
                return Err(format!("{pair:?}: a price is zero or more"));
            }
            Ok((name.trim().to_owned(), price))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prices_are_per_provider_and_cost_is_per_thousand_characters() {
        let prices = parse_prices("elevenlabs=0.30, offline=0").unwrap();
        let s = LibrarySettings { prices, ..Default::default() };
        assert_eq!(s.cost("elevenlabs", 2500), Some(0.75));
        assert_eq!(s.cost("offline", 2500), Some(0.0));
        assert_eq!(s.cost("other", 2500), None);
        assert!(parse_prices("elevenlabs").is_err());
        assert!(parse_prices("elevenlabs=-1").is_err());
    }
}
