//! Per-user rate limits in the table, so that every Lambda instance counts the same requests.
//!
//! | item | pk | sk |
//! |---|---|---|
//! | a subject's count in one window | `RATE#{subject}` | `{window start, epoch s}` |
//!
//! One conditional `UpdateItem` per request: `ADD hits :one` only while `hits < :limit`, so two
//! instances racing for the last request of a window cannot both get it. Items expire with the
//! table's TTL a minute after their window ends.

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Utc};
use echome_core::StorageError;
use echome_core::limits::{Limit, RateDecision, RateLimiter, window};

use crate::dynamo::TTL_ATTRIBUTE;
use crate::errors::storage_error;

#[derive(Debug, Clone)]
pub struct DynamoRateLimiter {
    client: Client,
    table: String,
}

impl DynamoRateLimiter {
    pub fn new(sdk: &aws_config::SdkConfig, table: impl Into<String>) -> Self {
        Self { client: Client::new(sdk), table: table.into() }
    }
}

impl RateLimiter for DynamoRateLimiter {
    async fn hit(
        &self,
        subject: &str,
        limit: Limit,
        now: DateTime<Utc>,
    ) -> Result<RateDecision, StorageError> {
        let (start, left) = window(limit, now);
        let pk = format!("RATE#{subject}");
        let sent = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(pk.clone()))
            .key("sk", AttributeValue::S(start.to_string()))
            .update_expression("ADD hits :one SET #ttl = :ttl")
            .condition_expression("attribute_not_exists(hits) OR hits < :limit")
            .expression_attribute_names("#ttl", TTL_ATTRIBUTE)
            .expression_attribute_values(":one", AttributeValue::N("1".into()))
            .expression_attribute_values(":limit", AttributeValue::N(limit.requests.to_string()))
            .expression_attribute_values(
                ":ttl",
                AttributeValue::N((start + i64::from(limit.window_s) + 60).to_string()),
            )
            .return_values(aws_sdk_dynamodb::types::ReturnValue::UpdatedNew)
            .send()
            .await;
        match sent {
            Ok(out) => {
                let hits = out
                    .attributes()
                    .and_then(|a| a.get("hits"))
                    .and_then(|v| v.as_n().ok())
                    .and_then(|n| n.parse::<u32>().ok())
                    .unwrap_or(limit.requests);
                Ok(RateDecision::Allowed { remaining: limit.requests.saturating_sub(hits) })
            }
            Err(e)
                if e.as_service_error().is_some_and(|s| {
                    aws_sdk_dynamodb::error::ProvideErrorMetadata::code(s)
                        == Some("ConditionalCheckFailedException")
                }) =>
            {
                Ok(RateDecision::Limited { retry_after_s: left.max(1) })
            }
            Err(e) => Err(storage_error(&pk, "counting a request of", e)),
        }
    }
}
