//! Webhook deliveries as received (`WebhookArchive`), and their listing for `echome webhooks`.

use super::*;

/// A transaction per delivery would be an fsync per call; the writer groups them.
impl WebhookArchive for LocalRecords {
    async fn keep(&self, delivery: &Delivery<'_>) -> Result<String, StorageError> {
        let (key, body) = (delivery.key(), delivery.body.to_vec());
        let stored = key.clone();
        self.update(WEBHOOKS, move |t| {
            t.insert(stored.as_str(), body.as_slice()).map_err(failed)?;
            Ok(())
        })
        .await?;
        Ok(key)
    }

    async fn forget(&self, prefixes: &[String], needles: &[String]) -> Result<u64, StorageError> {
        let needles: Vec<Vec<u8>> =
            needles.iter().filter(|n| !n.is_empty()).map(|n| n.clone().into_bytes()).collect();
        let prefixes = prefixes.to_vec();
        self.update(WEBHOOKS, move |t| {
            let mut naming = Vec::new();
            for prefix in &prefixes {
                for entry in t.range(prefix.as_str()..).map_err(failed)? {
                    let (k, v) = entry.map_err(failed)?;
                    if !k.value().starts_with(prefix.as_str()) {
                        break;
                    }
                    if needles.iter().any(|n| echome_core::archive::names_number(v.value(), n)) {
                        naming.push(k.value().to_owned());
                    }
                }
            }
            for k in &naming {
                t.remove(k.as_str()).map_err(failed)?;
            }
            Ok(naming.len() as u64)
        })
        .await
    }
}

impl LocalRecords {
    /// Kept webhook deliveries whose key starts with `prefix` (`webhooks/3cx/2026-11-22/`), in
    /// key order: by source, day and time.
    pub fn kept_webhooks(&self, prefix: &str) -> Result<Vec<(String, Vec<u8>)>, StorageError> {
        let tx = self.db.begin_read().map_err(failed)?;
        let t = tx.open_table(WEBHOOKS).map_err(failed)?;
        let mut out = Vec::new();
        for entry in t.range(prefix..).map_err(failed)? {
            let (k, v) = entry.map_err(failed)?;
            if !k.value().starts_with(prefix) {
                break;
            }
            out.push((k.value().to_owned(), v.value().to_vec()));
        }
        Ok(out)
    }
}
