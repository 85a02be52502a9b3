//! The voice library (`VoiceLibrary`): models, each person's active model, the audit trail.
//!
//! | item | pk | sk | gsi1pk / gsi1sk | gsi2pk / gsi2sk |
//! |---|---|---|---|---|
//! | voice model | `MODEL#{id}` | `MODEL` | `PERSON#{person}` / `MODEL#{created_at}#{id}` | `MODELS` / `{created_at}#{id}` |
//! | a person's active model | `PERSON#{person}` | `ACTIVE` | | |
//! | audit event | `MODEL#{id}` | `AUDIT#{at}#{written_at_ns}` | | |
//!
//! Access patterns: a model by id (get); a person's models (query GSI1); every model in time
//! order, a page at a time (query GSI2's one partition: a call centre's library is thousands
//! of models, far below a partition's limits); a person's active model (get; the activation
//! is a conditional put or delete on `model_id`, so two racing activations leave one active);
//! a model's audit (query pk). A model keeps its record as JSON with a `version` that every
//! save is conditioned on.

use echome_core::library::{ActiveVoice, AuditEvent, ModelId, ModelPage, Person, VoiceLibrary, VoiceModel};

use super::*;

pub const GSI2: &str = "gsi2";

fn model_pk(id: &ModelId) -> String {
    format!("MODEL#{id}")
}

fn person_pk(p: &Person) -> String {
    format!("PERSON#{}", p.as_key())
}

fn model_sort(m: &VoiceModel) -> String {
    echome_core::library::port::position(m)
}

fn model_item(m: &VoiceModel) -> Result<Item, StorageError> {
    let body =
        serde_json::to_string(m).map_err(|e| StorageError::Failed(format!("encoding a voice model: {e}")))?;
    Ok(HashMap::from([
        ("pk".into(), s(model_pk(&m.id))),
        ("sk".into(), s("MODEL")),
        ("gsi1pk".into(), s(person_pk(&m.person))),
        ("gsi1sk".into(), s(format!("MODEL#{}", model_sort(m)))),
        ("gsi2pk".into(), s("MODELS")),
        ("gsi2sk".into(), s(model_sort(m))),
        ("version".into(), n(m.version)),
        ("record".into(), s(body)),
    ]))
}

fn model_from(item: &Item) -> Result<VoiceModel, StorageError> {
    let read = Read(item);
    let mut m: VoiceModel = serde_json::from_str(read.str("record")?)
        .map_err(|e| StorageError::Failed(format!("a broken voice model: {e}")))?;
    m.version = read.num("version")?.max(0) as u64;
    Ok(m)
}

impl VoiceLibrary for DynamoRecords {
    async fn create_model(&self, m: &VoiceModel) -> Result<bool, StorageError> {
        let item = model_item(&VoiceModel { version: 1, ..m.clone() })?;
        self.put_if(item, "attribute_not_exists(pk)", vec![]).await
    }

    async fn model(&self, id: &ModelId) -> Result<Option<VoiceModel>, StorageError> {
        self.get(model_pk(id), "MODEL").await?.as_ref().map(model_from).transpose()
    }

    async fn save_model(&self, m: &VoiceModel) -> Result<bool, StorageError> {
        let item = model_item(&VoiceModel { version: m.version + 1, ..m.clone() })?;
        self.put_if(item, "version = :read", vec![(":read", n(m.version))]).await
    }

    async fn models_of(&self, person: &Person) -> Result<Vec<VoiceModel>, StorageError> {
        let pk = person_pk(person);
        let req = self
            .gsi1_query()
            .key_condition_expression("gsi1pk = :pk AND begins_with(gsi1sk, :m)")
            .expression_attribute_values(":pk", s(pk.clone()))
            .expression_attribute_values(":m", s("MODEL#"));
        self.query_items(&pk, req).await?.iter().map(model_from).collect()
    }

    async fn models(&self, limit: usize, after: Option<&str>) -> Result<ModelPage, StorageError> {
        // After a position by a key condition, not an ExclusiveStartKey: any text is a place in
        // the order (a cursor a client made up lists what sorts after it, never fails).
        let mut req = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(GSI2)
            .expression_attribute_values(":pk", s("MODELS"))
            .limit(i32::try_from(limit).unwrap_or(i32::MAX));
        req = match after {
            Some(after) => req
                .key_condition_expression("gsi2pk = :pk AND gsi2sk > :after")
                .expression_attribute_values(":after", s(after)),
            None => req.key_condition_expression("gsi2pk = :pk"),
        };
        let out = req.send().await.map_err(|e| storage_error("MODELS", "listing", e))?;
        let models = out.items().iter().map(model_from).collect::<Result<Vec<_>, _>>()?;
        let next =
            out.last_evaluated_key().and_then(|k| k.get("gsi2sk")).and_then(|v| v.as_s().ok()).cloned();
        Ok(ModelPage { models, next })
    }

    async fn active_voice(&self, person: &Person) -> Result<Option<ActiveVoice>, StorageError> {
        let Some(item) = self.get(person_pk(person), "ACTIVE").await? else { return Ok(None) };
        Read(&item).record("active voice").map(Some)
    }

    /// A put (or delete) conditioned on the `model_id` attribute: absent when `expected` is
    /// `None`, equal to it otherwise.
    async fn set_active(
        &self,
        person: &Person,
        new: Option<&ActiveVoice>,
        expected: Option<&ModelId>,
    ) -> Result<bool, StorageError> {
        let pk = person_pk(person);
        let (condition, values) = match expected {
            None => ("attribute_not_exists(model_id)", vec![]),
            Some(id) => ("model_id = :expected", vec![(":expected", s(id.as_str()))]),
        };
        let Some(new) = new else {
            let mut req = self
                .client
                .delete_item()
                .table_name(&self.table)
                .key("pk", s(pk.clone()))
                .key("sk", s("ACTIVE"))
                .condition_expression(condition);
            for (k, v) in values {
                req = req.expression_attribute_values(k, v);
            }
            return written(req.send().await, &pk, "clearing the active voice of");
        };
        let body = serde_json::to_string(new)
            .map_err(|e| StorageError::Failed(format!("encoding an active voice: {e}")))?;
        let item = HashMap::from([
            ("pk".into(), s(pk)),
            ("sk".into(), s("ACTIVE")),
            ("model_id".into(), s(new.model_id.as_str())),
            ("record".into(), s(body)),
        ]);
        self.put_if(item, condition, values).await
    }

    async fn record_audit(&self, event: &AuditEvent) -> Result<(), StorageError> {
        let body = serde_json::to_string(event)
            .map_err(|e| StorageError::Failed(format!("encoding an audit event: {e}")))?;
        // Events of one instant (a delete and its successor's activation) keep the order they
        // were written in.
        let written_at = Utc::now().timestamp_nanos_opt().unwrap_or_default();
        let item = HashMap::from([
            ("pk".into(), s(model_pk(&event.model_id))),
            ("sk".into(), s(format!("AUDIT#{}#{written_at:020}", timestamp(event.at)))),
            ("actor".into(), s(&event.actor)),
            ("record".into(), s(body)),
        ]);
        self.put(item, "auditing").await
    }

    async fn audit_of(&self, id: &ModelId) -> Result<Vec<AuditEvent>, StorageError> {
        let pk = model_pk(id);
        let req = self
            .client
            .query()
            .table_name(&self.table)
            .consistent_read(true)
            .key_condition_expression("pk = :pk AND begins_with(sk, :a)")
            .expression_attribute_values(":pk", s(pk.clone()))
            .expression_attribute_values(":a", s("AUDIT#"));
        self.query_items(&pk, req).await?.iter().map(|item| Read(item).record("audit event")).collect()
    }
}
