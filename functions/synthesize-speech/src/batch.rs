//! Batch speech from SQS: one request per message; failed messages go back to the queue (and,
//! after the queue's retries, to its dead-letter queue: nothing sent is lost).

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};
use echome_core::library::VoiceLibrary;
use echome_core::{BlobStore, StepError, SynthesizeInput, SynthesizeOutput, VoiceEngine};
use serde::{Deserialize, Serialize};

use crate::{Config, handle};

/// The function is invoked directly (one request) or by SQS (a batch).
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum Invocation {
    Batch(SqsEvent),
    Single(SynthesizeInput),
}

#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum Answer {
    Batch(SqsBatchResponse),
    Single(SynthesizeOutput),
}

pub async fn invoke<B: BlobStore, E: VoiceEngine, L: VoiceLibrary + echome_core::People>(
    blobs: &B,
    engine: &E,
    lib: &L,
    cfg: &Config,
    invocation: Invocation,
) -> Result<Answer, StepError> {
    match invocation {
        Invocation::Single(input) => Ok(Answer::Single(handle(blobs, engine, lib, cfg, input).await?)),
        Invocation::Batch(event) => Ok(Answer::Batch(handle_batch(blobs, engine, lib, cfg, event).await)),
    }
}

pub async fn handle_batch<B: BlobStore, E: VoiceEngine, L: VoiceLibrary + echome_core::People>(
    blobs: &B,
    engine: &E,
    lib: &L,
    cfg: &Config,
    event: SqsEvent,
) -> SqsBatchResponse {
    let mut failures = Vec::new();
    for msg in event.records {
        let id = msg.message_id.clone().unwrap_or_default();
        let parsed =
            msg.body.as_deref().ok_or_else(|| StepError::invalid_input("an empty message")).and_then(|b| {
                serde_json::from_str::<SynthesizeInput>(b)
                    .map_err(|e| StepError::invalid_input(format!("not a speech request: {e}")))
            });
        let result = match parsed {
            Ok(input) => handle(blobs, engine, lib, cfg, input).await.map(drop),
            Err(e) => Err(e),
        };
        if let Err(e) = result {
            tracing::warn!(message_id = %id, error_type = e.error_type.as_str(), code = %e.code, message = %echome_core::redact::phone_numbers(&e.message), "speech request failed");
            let mut failure = BatchItemFailure::default();
            failure.item_identifier = id;
            failures.push(failure);
        }
    }
    let mut out = SqsBatchResponse::default();
    out.batch_item_failures = failures;
    out
}
