//! The call flow's figures: `/metrics` computes them from the call log's events, and every
//! function hands the same events to a [`MetricsSink`] (CloudWatch embedded-metric-format lines
//! in Lambda), so dashboards and alarms see what `/metrics` sees.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::{Value, json};

use crate::calls::{CallEventKind, CallEventRecord, CallPath};

/// The CloudWatch namespace of every echome metric.
pub const NAMESPACE: &str = "echome";

/// Where metrics leave the domain: EMF lines on stdout in Lambda (crates/aws), nowhere locally.
pub trait MetricsSink: Send + Sync {
    fn record(&self, event: &CallEventRecord);

    /// One request to the voice provider (each attempt, retries too), for its error rate.
    fn provider_call(&self, _call: &ProviderCall) {}
}

/// One attempt at a provider request and how it went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderCall {
    pub provider: &'static str,
    /// The HTTP status, 0 when no answer came.
    pub status: u16,
    pub ok: bool,
}

/// The EMF document for one provider request: `ProviderRequests` 1 and `ProviderErrors` 0 or 1,
/// which the stack's error-rate alarm divides.
pub fn emf_provider_document(call: &ProviderCall, at_millis: i64) -> Value {
    json!({
        "ProviderRequests": 1,
        "ProviderErrors": u8::from(!call.ok),
        "provider": call.provider,
        "status": call.status,
        "_aws": {
            "Timestamp": at_millis,
            "CloudWatchMetrics": [{
                "Namespace": NAMESPACE,
                "Dimensions": [[]],
                "Metrics": [{ "Name": "ProviderRequests", "Unit": "Count" }, { "Name": "ProviderErrors", "Unit": "Count" }],
            }],
        },
    })
}

/// No metrics beyond the call log (local runs, tests).
#[derive(Debug, Clone, Copy, Default)]
pub struct NoMetrics;

impl MetricsSink for NoMetrics {
    fn record(&self, _event: &CallEventRecord) {}
}

/// A sink shared by every part of a function; `Debug` so configurations can hold it.
#[derive(Clone)]
pub struct Sink(std::sync::Arc<dyn MetricsSink>);

impl Sink {
    pub fn new(sink: impl MetricsSink + 'static) -> Self {
        Self(std::sync::Arc::new(sink))
    }

    pub fn record(&self, event: &CallEventRecord) {
        self.0.record(event);
    }

    pub fn provider_call(&self, call: &ProviderCall) {
        self.0.provider_call(call);
    }
}

impl Default for Sink {
    fn default() -> Self {
        Self::new(NoMetrics)
    }
}

impl std::fmt::Debug for Sink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("metrics::Sink")
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Durations {
    pub count: usize,
    pub mean_ms: Option<f64>,
    pub p95_ms: Option<u64>,
}

impl Durations {
    fn of(mut ms: Vec<u64>) -> Self {
        if ms.is_empty() {
            return Self::default();
        }
        ms.sort_unstable();
        let mean = ms.iter().sum::<u64>() as f64 / ms.len() as f64;
        // Nearest rank: the smallest value with at least 95 % of the values at or below it.
        let rank = ((ms.len() as f64) * 0.95).ceil() as usize;
        Self { count: ms.len(), mean_ms: Some(mean), p95_ms: Some(ms[rank.clamp(1, ms.len()) - 1]) }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Metrics {
    /// Incoming calls answered, by path.
    pub calls: BTreeMap<&'static str, usize>,
    pub calls_total: usize,
    /// Cached calls among those that had a sample (cached + cloning); `None` before any.
    pub cache_hit_rate: Option<f64>,
    /// From the call's start to the clone being ready.
    pub clone_time: Durations,
    /// From the greeting's start to the agent speaking with the cloned voice.
    pub time_to_cloned_voice: Durations,
    pub transfers: usize,
    pub fallbacks: usize,
    pub clone_failures: usize,
    pub not_rung: usize,
    pub calls_ended: usize,
}

impl Metrics {
    pub fn from_events<'a>(events: impl IntoIterator<Item = &'a CallEventRecord>) -> Self {
        let mut m = Self::default();
        let mut clone_ms = Vec::new();
        let mut transfer_ms = Vec::new();
        for e in events {
            match e.kind {
                CallEventKind::Incoming => {
                    if let Some(p) = e.path {
                        *m.calls.entry(p.as_str()).or_default() += 1;
                    }
                    m.calls_total += 1;
                }
                CallEventKind::CloneReady => clone_ms.extend(e.duration_ms),
                CallEventKind::CloneTransfer => {
                    m.transfers += 1;
                    transfer_ms.extend(e.duration_ms);
                }
                CallEventKind::Fallback => m.fallbacks += 1,
                CallEventKind::CloneFailed => m.clone_failures += 1,
                CallEventKind::NotRung => m.not_rung += 1,
                CallEventKind::Ended => m.calls_ended += 1,
                // Refused webhooks are counted as metrics only (CloudWatch `WebhookRejections`):
                // they are never stored, so that a flood of them costs nothing.
                CallEventKind::WebhookRejected | CallEventKind::StateChanged | CallEventKind::PostCall => {}
            }
        }
        let hits = m.calls.get(CallPath::Cached.as_str()).copied().unwrap_or(0);
        let misses = m.calls.get(CallPath::Cloning.as_str()).copied().unwrap_or(0);
        if hits + misses > 0 {
            m.cache_hit_rate = Some(hits as f64 / (hits + misses) as f64);
        }
        m.clone_time = Durations::of(clone_ms);
        m.time_to_cloned_voice = Durations::of(transfer_ms);
        m
    }
}

/// The CloudWatch embedded-metric-format document for one event: a count (`Calls`,
/// `CloneFailures`, …) and, when the event has one, its duration, with `Path` as a dimension
/// for incoming calls. One JSON line on stdout in Lambda becomes these metrics.
pub fn emf_document(event: &CallEventRecord) -> Value {
    let name = match event.kind {
        CallEventKind::Incoming => "Calls",
        CallEventKind::StateChanged => "CallStateChanges",
        CallEventKind::Ended => "CallsEnded",
        CallEventKind::CloneReady => "ClonesReady",
        CallEventKind::CloneFailed => "CloneFailures",
        CallEventKind::CloneTransfer => "Transfers",
        CallEventKind::Fallback => "Fallbacks",
        CallEventKind::NotRung => "NotRung",
        CallEventKind::PostCall => "PostCallEvents",
        CallEventKind::WebhookRejected => "WebhookRejections",
    };
    let duration_name = match event.kind {
        CallEventKind::CloneReady => Some("CloneTimeMs"),
        CallEventKind::CloneTransfer => Some("TimeToClonedVoiceMs"),
        _ => None,
    };
    let mut metrics = vec![json!({ "Name": name, "Unit": "Count" })];
    let mut doc = json!({ name: 1 });
    if let (Some(d), Some(ms)) = (duration_name, event.duration_ms) {
        metrics.push(json!({ "Name": d, "Unit": "Milliseconds" }));
        doc[d] = ms.into();
    }
    let dimensions = match event.path {
        Some(p) => {
            doc["Path"] = p.as_str().into();
            json!([["Path"], []])
        }
        None => json!([[]]),
    };
    doc["_aws"] = json!({
        "Timestamp": event.at.timestamp_millis(),
        "CloudWatchMetrics": [{ "Namespace": NAMESPACE, "Dimensions": dimensions, "Metrics": metrics }],
    });
    doc["event"] = event.kind.as_str().into();
    doc
}

#[cfg(test)]
mod tests {
    use chrono::{DateTime, Duration, Utc};

    use super::*;
    use crate::ids::CallId;

    fn at(s: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_795_000_000 + s, 0).unwrap()
    }

    fn ev(kind: CallEventKind) -> CallEventRecord {
        CallEventRecord::new(kind, Some(&CallId::parse("c1").unwrap()), at(100))
    }

    #[test]
    fn figures_come_from_the_events() {
        let mut events = vec![
            ev(CallEventKind::Incoming).path(CallPath::Cached),
            ev(CallEventKind::Incoming).path(CallPath::Cached),
            ev(CallEventKind::Incoming).path(CallPath::Cached),
            ev(CallEventKind::Incoming).path(CallPath::Cloning),
            ev(CallEventKind::Incoming).path(CallPath::NoSample),
            ev(CallEventKind::Fallback).detail("clone_failed"),
            ev(CallEventKind::CloneFailed),
            ev(CallEventKind::WebhookRejected).detail("3cx-call bad_signature"),
            ev(CallEventKind::WebhookRejected).detail("3cx-call bad_signature"),
            ev(CallEventKind::WebhookRejected).detail("post-call stale_timestamp"),
        ];
        for s in 1..=20 {
            events.push(ev(CallEventKind::CloneReady).since(at(100) - Duration::seconds(s)));
        }
        events.push(ev(CallEventKind::CloneTransfer).since(at(90)));
        let m = Metrics::from_events(&events);
        assert_eq!((m.calls_total, m.calls["cached"], m.calls["no_sample"]), (5, 3, 1));
        assert_eq!(m.cache_hit_rate, Some(0.75));
        assert_eq!(m.clone_time.count, 20);
        assert_eq!(m.clone_time.mean_ms, Some(10_500.0));
        assert_eq!(m.clone_time.p95_ms, Some(19_000), "nearest rank of 1..=20 s");
        assert_eq!((m.time_to_cloned_voice.p95_ms, m.transfers), (Some(10_000), 1));
        assert_eq!((m.fallbacks, m.clone_failures), (1, 1));
        assert_eq!(Metrics::from_events(&[]).cache_hit_rate, None);
    }

    #[test]
    fn a_provider_request_counts_once_and_its_failure_once() {
        let failed =
            emf_provider_document(&ProviderCall { provider: "elevenlabs", status: 503, ok: false }, 7);
        assert_eq!(
            (failed["ProviderRequests"].clone(), failed["ProviderErrors"].clone()),
            (json!(1), json!(1))
        );
        let cw = &failed["_aws"]["CloudWatchMetrics"][0];
        assert_eq!((cw["Namespace"].as_str(), cw["Dimensions"].clone()), (Some(NAMESPACE), json!([[]])));
        let ok = emf_provider_document(&ProviderCall { provider: "elevenlabs", status: 200, ok: true }, 7);
        assert_eq!(ok["ProviderErrors"], 0);
    }

    #[test]
    fn the_emf_document_declares_what_it_carries() {
        let doc = emf_document(&ev(CallEventKind::CloneReady).since(at(88)));
        assert_eq!(doc["ClonesReady"], 1);
        assert_eq!(doc["CloneTimeMs"], 12_000);
        let cw = &doc["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(cw["Namespace"], NAMESPACE);
        let names: Vec<_> = cw["Metrics"].as_array().unwrap().iter().map(|m| m["Name"].clone()).collect();
        assert_eq!(names, ["ClonesReady", "CloneTimeMs"]);
        assert_eq!(doc["_aws"]["Timestamp"], at(100).timestamp_millis());

        let call = emf_document(&ev(CallEventKind::Incoming).path(CallPath::Cloning));
        assert_eq!((call["Calls"].clone(), call["Path"].clone()), (json!(1), json!("cloning")));
        assert_eq!(call["_aws"]["CloudWatchMetrics"][0]["Dimensions"], json!([["Path"], []]));
    }
}
