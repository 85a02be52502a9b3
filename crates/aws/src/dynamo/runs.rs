//! Clone runs (`RUN#{run_id}` / `RUN`), as the state machine's record states also write them.

use super::*;

impl RunLog for DynamoRecords {
    async fn create_run(&self, rec: &RunRecord) -> Result<bool, StorageError> {
        let mut item = HashMap::from([
            ("pk".into(), s(format!("RUN#{}", rec.run_id))),
            ("sk".into(), s("RUN")),
            ("gsi1pk".into(), s(voice_pk(&rec.person))),
            ("gsi1sk".into(), s(format!("RUN#{}", timestamp(rec.started_at)))),
            ("run_id".into(), s(rec.run_id.as_str())),
            ("bucket".into(), s(&rec.sample.bucket)),
            ("key".into(), s(&rec.sample.key)),
            ("status".into(), s(rec.status.as_str())),
            ("started_at".into(), s(timestamp(rec.started_at))),
            (TTL_ATTRIBUTE.into(), n(rec.expires_at)),
        ]);
        name_person(&mut item, &rec.person);
        self.put_if(item, "attribute_not_exists(pk)", vec![]).await
    }

    /// Writes what the state machine's RecordSuccess and RecordFailure states write.
    async fn finish_run(
        &self,
        run_id: &RunId,
        outcome: &RunOutcome,
        at: DateTime<Utc>,
    ) -> Result<(), StorageError> {
        let pk = format!("RUN#{run_id}");
        let mut req = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(pk.clone()))
            .key("sk", s("RUN"))
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":at", s(timestamp(at)));
        req = match outcome {
            RunOutcome::Succeeded { report, voice_id } => req
                .update_expression(
                    "SET #status = :s, finished_at = :at, report_bucket = :rb, report_key = :rk, voice_id = :v",
                )
                .expression_attribute_values(":s", s(RunStatus::Succeeded.as_str()))
                .expression_attribute_values(":v", s(voice_id.as_ref().map_or("", VoiceId::as_str)))
                .expression_attribute_values(":rb", s(&report.bucket))
                .expression_attribute_values(":rk", s(&report.key)),
            RunOutcome::Failed(err) => req
                .update_expression("SET #status = :s, finished_at = :at, error_type = :et, cause = :c")
                .expression_attribute_values(":s", s(RunStatus::Failed.as_str()))
                .expression_attribute_values(":et", s(err.error_type.as_str()))
                .expression_attribute_values(":c", s(err.to_string())),
        };
        // The condition is that the run exists.
        if written(req.send().await, &pk, "updating")? { Ok(()) } else { Err(StorageError::NotFound(pk)) }
    }

    async fn latest_run(&self, person: &Person) -> Result<Option<RunRecord>, StorageError> {
        let pk = voice_pk(person);
        let out = self
            .gsi1_query()
            .key_condition_expression("gsi1pk = :pk AND begins_with(gsi1sk, :run)")
            .expression_attribute_values(":pk", s(pk.clone()))
            .expression_attribute_values(":run", s("RUN#"))
            .scan_index_forward(false)
            .limit(1)
            .send()
            .await
            .map_err(|e| storage_error(&pk, "querying runs of", e))?;
        match out.items().first().map(|i| Read(i).str("run_id").map(str::to_owned)).transpose()? {
            Some(id) => self.run(&RunId::parse(&id).map_err(|e| StorageError::Failed(e.to_string()))?).await,
            None => Ok(None),
        }
    }

    async fn runs_of(&self, person: &Person) -> Result<Vec<RunId>, StorageError> {
        let pk = voice_pk(person);
        let req = self
            .gsi1_query()
            .key_condition_expression("gsi1pk = :pk AND begins_with(gsi1sk, :run)")
            .expression_attribute_values(":pk", s(pk.clone()))
            .expression_attribute_values(":run", s("RUN#"));
        self.query_items(&pk, req)
            .await?
            .iter()
            .map(|i| RunId::parse(Read(i).str("run_id")?).map_err(|e| StorageError::Failed(e.to_string())))
            .collect()
    }

    async fn run(&self, run_id: &RunId) -> Result<Option<RunRecord>, StorageError> {
        let Some(item) = self.get(format!("RUN#{run_id}"), "RUN").await? else { return Ok(None) };
        let r = Read(&item);
        let status = r.str("status")?;
        let error = r
            .opt("error_type")
            .map(|t| StepError::from_cause(ErrorType::parse_or_internal(t), r.opt("cause").unwrap_or("")));
        let report = match (r.opt("report_bucket"), r.opt("report_key")) {
            (Some(b), Some(k)) => Some(BlobRef::new(b, k)),
            _ => None,
        };
        Ok(Some(RunRecord {
            run_id: run_id.clone(),
            person: r.person()?,
            sample: BlobRef::new(r.str("bucket")?, r.str("key")?),
            status: RunStatus::parse(status)
                .ok_or_else(|| StorageError::Failed(format!("unknown run status {status:?}")))?,
            started_at: r.time("started_at")?,
            finished_at: r.opt("finished_at").map(parse_time).transpose()?,
            report,
            voice_id: r.opt("voice_id").filter(|v| !v.is_empty()).and_then(|v| VoiceId::parse(v).ok()),
            error,
            expires_at: r.num(TTL_ATTRIBUTE)?,
        }))
    }
}
