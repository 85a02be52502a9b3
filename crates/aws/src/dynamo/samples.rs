//! A person's current sample (`{voice pk}` / `SAMPLE`).

use super::*;

fn sample_item(r: &SampleRecord) -> Result<Item, StorageError> {
    let mut item = HashMap::from([
        ("pk".into(), s(voice_pk(&r.person))),
        ("sk".into(), s("SAMPLE")),
        ("bucket".into(), s(&r.sample.bucket)),
        ("key".into(), s(&r.sample.key)),
        ("version".into(), s(&r.version)),
        ("uploaded_at".into(), s(timestamp(r.uploaded_at))),
        ("size".into(), n(r.size)),
    ]);
    name_person(&mut item, &r.person);
    if let Some(pack) = &r.pack {
        item.insert("pack".into(), s(pack_json(pack)?));
    }
    Ok(item)
}

fn pack_json(pack: &SegmentOutput) -> Result<String, StorageError> {
    serde_json::to_string(pack).map_err(|e| StorageError::Failed(format!("encoding a pack: {e}")))
}

impl SampleLog for DynamoRecords {
    async fn record_sample(&self, rec: &SampleRecord) -> Result<SampleWrite, StorageError> {
        // The same upload delivered twice counts as newest again, so a retried event still
        // starts its run.
        let cond = "attribute_not_exists(pk) OR uploaded_at < :t OR (uploaded_at = :t AND version = :v)";
        let written = self
            .put_if(
                sample_item(rec)?,
                cond,
                vec![(":t", s(timestamp(rec.uploaded_at))), (":v", s(&rec.version))],
            )
            .await?;
        Ok(if written { SampleWrite::Newest } else { SampleWrite::Superseded })
    }

    async fn current_sample(&self, person: &Person) -> Result<Option<SampleRecord>, StorageError> {
        let Some(item) = self.get(voice_pk(person), "SAMPLE").await? else { return Ok(None) };
        let r = Read(&item);
        Ok(Some(SampleRecord {
            person: r.person()?,
            sample: BlobRef::new(r.str("bucket")?, r.str("key")?),
            version: r.str("version")?.to_owned(),
            uploaded_at: r.time("uploaded_at")?,
            size: r.num("size")?.max(0) as u64,
            // A kept pack that does not read back is only a lost shortcut: the recording is
            // analysed again.
            pack: r.opt("pack").and_then(|v| {
                serde_json::from_str(v)
                    .inspect_err(|e| tracing::warn!(error = %e, "a kept pack does not read back"))
                    .ok()
            }),
        }))
    }

    async fn record_pack(
        &self,
        person: &Person,
        sample: &BlobRef,
        pack: &SegmentOutput,
    ) -> Result<bool, StorageError> {
        let pk = voice_pk(person);
        let sent = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(pk.clone()))
            .key("sk", s("SAMPLE"))
            .update_expression("SET pack = :p")
            .condition_expression("#b = :b AND #k = :k")
            .expression_attribute_names("#b", "bucket")
            .expression_attribute_names("#k", "key")
            .expression_attribute_values(":p", s(pack_json(pack)?))
            .expression_attribute_values(":b", s(&sample.bucket))
            .expression_attribute_values(":k", s(&sample.key))
            .send()
            .await;
        written(sent, &pk, "keeping a pack with")
    }
}
