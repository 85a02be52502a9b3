//! The 3CX call webhook: authentication (HMAC over `"<timestamp>.<raw body>"`, a 300 s window,
//! an optional source allow-list, a size limit) and the payload, checked field by field.
//! Nothing unauthenticated is parsed, stored or acted on.

use std::net::IpAddr;

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::ids::{CallId, CallerId};
use crate::signing;

pub const TIMESTAMP_HEADER: &str = "x-3cx-timestamp";
pub const SIGNATURE_HEADER: &str = "x-3cx-signature";
pub const MAX_BODY_BYTES: usize = 64 * 1024;
pub const TOLERANCE_S: i64 = 300;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebhookError {
    #[error("the {0} header is missing")]
    MissingHeader(&'static str),
    #[error("the {0} header is malformed")]
    MalformedHeader(&'static str),
    #[error("the signature does not match the body")]
    BadSignature,
    #[error("the timestamp is {0} s away from now; the limit is {TOLERANCE_S} s")]
    StaleTimestamp(i64),
    #[error("the body is {0} bytes; the limit is {MAX_BODY_BYTES}")]
    TooLarge(usize),
    #[error("requests from {0} are not accepted")]
    Forbidden(String),
    #[error("the body is not JSON: {0}")]
    BadJson(String),
    #[error("{field}: {problem}")]
    BadField { field: &'static str, problem: String },
}

impl WebhookError {
    /// The HTTP status the webhook answers with.
    pub fn status(&self) -> u16 {
        match self {
            Self::MissingHeader(_)
            | Self::MalformedHeader(_)
            | Self::BadSignature
            | Self::StaleTimestamp(_) => 401,
            Self::Forbidden(_) => 403,
            Self::TooLarge(_) => 413,
            Self::BadJson(_) | Self::BadField { .. } => 400,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            Self::MissingHeader(_) | Self::MalformedHeader(_) | Self::BadSignature => "bad_signature",
            Self::StaleTimestamp(_) => "stale_timestamp",
            Self::Forbidden(_) => "forbidden",
            Self::TooLarge(_) => "too_large",
            Self::BadJson(_) => "bad_json",
            Self::BadField { .. } => "bad_field",
        }
    }
}

/// Checks size, timestamp window and signature, in that order.
pub fn verify(
    secret: &[u8],
    timestamp: Option<&str>,
    signature: Option<&str>,
    body: &[u8],
    now: DateTime<Utc>,
) -> Result<(), WebhookError> {
    if body.len() > MAX_BODY_BYTES {
        return Err(WebhookError::TooLarge(body.len()));
    }
    let ts = timestamp.ok_or(WebhookError::MissingHeader("X-3CX-Timestamp"))?;
    let t: i64 = ts.trim().parse().map_err(|_| WebhookError::MalformedHeader("X-3CX-Timestamp"))?;
    let sig = signature.ok_or(WebhookError::MissingHeader("X-3CX-Signature"))?;
    let hex = sig.trim().strip_prefix("sha256=").ok_or(WebhookError::MalformedHeader("X-3CX-Signature"))?;
    let given = signing::unhex(hex).ok_or(WebhookError::MalformedHeader("X-3CX-Signature"))?;
    // A timestamp so far off that the difference overflows (`i64::MIN`) is stale, not a panic.
    let fresh =
        now.timestamp().checked_sub(t).is_some_and(|skew| skew.unsigned_abs() <= TOLERANCE_S.unsigned_abs());
    if !fresh {
        return Err(WebhookError::StaleTimestamp(now.timestamp().saturating_sub(t)));
    }
    if signing::verify_timestamped(secret, ts.trim(), body, &given) {
        Ok(())
    } else {
        Err(WebhookError::BadSignature)
    }
}

/// The `X-3CX-Signature` value for `body` at `timestamp` (tests, local tools).
pub fn sign(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    format!("sha256={}", signing::sign_timestamped(secret, &timestamp.to_string(), body))
}

/// `THREECX_TRUSTED_IPS`: CIDR blocks (or single addresses), comma separated.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TrustedIps(Vec<(IpAddr, u8)>);

impl TrustedIps {
    pub fn parse(list: &str) -> Result<Self, String> {
        let mut out = Vec::new();
        for item in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let (addr, bits) = match item.split_once('/') {
                Some((a, b)) => (a, Some(b)),
                None => (item, None),
            };
            let ip: IpAddr =
                addr.parse().map_err(|_| format!("{item:?} is not an IP address or CIDR block"))?;
            let max = if ip.is_ipv4() { 32 } else { 128 };
            let bits = match bits {
                Some(b) => b
                    .parse::<u8>()
                    .ok()
                    .filter(|b| *b <= max)
                    .ok_or_else(|| format!("{item:?} has a bad prefix length"))?,
                None => max,
            };
            out.push((ip, bits));
        }
        Ok(Self(out))
    }

    /// An empty list allows everyone.
    pub fn allows(&self, ip: IpAddr) -> bool {
        self.0.is_empty() || self.0.iter().any(|&(net, bits)| in_block(ip, net, bits))
    }
}

fn in_block(ip: IpAddr, net: IpAddr, bits: u8) -> bool {
    let (a, b, width) = match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(b)) => (u32::from(a) as u128, u32::from(b) as u128, 32),
        (IpAddr::V6(a), IpAddr::V6(b)) => (u128::from(a), u128::from(b), 128),
        _ => return false,
    };
    if bits == 0 {
        return true;
    }
    let shift = width - bits as u32;
    (a >> shift) == (b >> shift)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum CallEventType {
    IncomingCall,
    CallStateChanged,
    CallEnded,
}

/// The design's payload says `In` / `Out`; 3CX versions and integrations also write
/// `Inbound` / `Outbound` / `Internal` in any case: all of them are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    Inbound,
    Outbound,
    /// Between two extensions of the PBX.
    Internal,
}

impl Direction {
    pub fn parse(raw: &str) -> Option<Self> {
        match raw.trim().to_ascii_lowercase().as_str() {
            "in" | "inbound" | "incoming" => Some(Self::Inbound),
            "out" | "outbound" | "outgoing" => Some(Self::Outbound),
            "internal" | "local" => Some(Self::Internal),
            _ => None,
        }
    }
}

/// 9999-12-31T23:59:59.999Z in unix milliseconds.
const LAST_MS: i64 = 253_402_300_799_999;

/// Unix times above this are milliseconds (as seconds it would be the year 5138).
const UNIX_MS_ABOVE: i64 = 100_000_000_000;

/// RFC 3339 (`2026-11-20T09:14:02Z`, any offset); without a zone (`2026-11-20 09:14:02`, `T` or
/// a space, optional fraction) as UTC; unix seconds or milliseconds, as a number or digits.
fn parse_time(v: &Value) -> Option<DateTime<Utc>> {
    // No 3CX event is from before 1970: a negative time is a mistake, not a date.
    let unix = |n: i64| match n {
        ..0 => None,
        // Past the year 9999 is no call's time either (RFC 3339 ends there too).
        n if n > LAST_MS => None,
        n if n > UNIX_MS_ABOVE => DateTime::from_timestamp_millis(n),
        n => DateTime::from_timestamp(n, 0),
    };
    match v {
        Value::Number(n) => match n.as_i64() {
            Some(i) => unix(i),
            None => n.as_f64().filter(|f| f.is_finite() && *f >= 0.0).and_then(|f| {
                if f.fract() == 0.0 && f <= i64::MAX as f64 {
                    // A whole number written as `1795165442.0` is the same time.
                    unix(f as i64)
                } else if f < UNIX_MS_ABOVE as f64 {
                    // Fractional seconds (`1795165442.5`): whole milliseconds are enough.
                    DateTime::from_timestamp_millis((f * 1000.0).round() as i64)
                } else {
                    None
                }
            }),
        },
        Value::String(s) => {
            let s = s.trim();
            if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
                return s.parse().ok().and_then(unix);
            }
            if let Ok(t) = DateTime::parse_from_rfc3339(s) {
                return Some(t.with_timezone(&Utc));
            }
            ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f"]
                .iter()
                .find_map(|f| chrono::NaiveDateTime::parse_from_str(s, f).ok())
                .map(|t| t.and_utc())
        }
        _ => None,
    }
}

/// A 3CX call event, after its signature checked out.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct CallEvent {
    pub event_type: CallEventType,
    pub call_id: CallId,
    pub caller_id: CallerId,
    pub called_number: String,
    pub timestamp: DateTime<Utc>,
    pub direction: Direction,
    pub duration_s: Option<f64>,
    /// Shown only as its host: it may carry a token.
    pub recording_url: Option<crate::recordings::RecordingUrl>,
}

impl CallEvent {
    /// Field by field, so a 400 names what is wrong.
    pub fn parse(body: &[u8]) -> Result<Self, WebhookError> {
        let v: Value = serde_json::from_slice(body).map_err(|e| WebhookError::BadJson(e.to_string()))?;
        let obj = v.as_object().ok_or_else(|| WebhookError::BadJson("expected a JSON object".into()))?;
        let bad = |field: &'static str, problem: &str| WebhookError::BadField {
            field,
            problem: problem.to_owned(),
        };
        let text = |field: &'static str| -> Result<&str, WebhookError> {
            match obj.get(field) {
                None | Some(Value::Null) => Err(bad(field, "is required")),
                Some(Value::String(s)) if !s.trim().is_empty() => Ok(s.trim()),
                Some(_) => Err(bad(field, "must be a non-empty string")),
            }
        };
        let event_type = match text("event_type")?.to_ascii_lowercase().as_str() {
            "incomingcall" => CallEventType::IncomingCall,
            "callstatechanged" => CallEventType::CallStateChanged,
            "callended" => CallEventType::CallEnded,
            _ => return Err(bad("event_type", "must be IncomingCall, CallStateChanged or CallEnded")),
        };
        let call_id = CallId::parse(text("call_id")?)
            .map_err(|_| bad("call_id", "must be 1 to 128 letters, digits, '-', '_', '.' or ':'"))?;
        let caller_id = CallerId::parse(text("caller_id")?)
            .map_err(|_| bad("caller_id", "must be an E.164 phone number"))?;
        let called_number = text("called_number")?.to_owned();
        const TIME: &str =
            "must be an RFC 3339 time, YYYY-MM-DD HH:MM:SS (UTC), or unix seconds or milliseconds";
        let timestamp = match obj.get("timestamp") {
            None | Some(Value::Null) => return Err(bad("timestamp", "is required")),
            Some(v) => parse_time(v).ok_or_else(|| bad("timestamp", TIME))?,
        };
        let direction = Direction::parse(text("direction")?)
            .ok_or_else(|| bad("direction", "must be In, Out, Inbound, Outbound or Internal"))?;
        let duration_s = match obj.get("duration") {
            None | Some(Value::Null) => None,
            Some(Value::Number(n)) => Some(
                n.as_f64()
                    .filter(|d| *d >= 0.0)
                    .ok_or_else(|| bad("duration", "must be seconds, 0 or more"))?,
            ),
            Some(_) => return Err(bad("duration", "must be seconds, 0 or more")),
        };
        // CallStateChanged's state is read later, from the body; anything but text is wrong.
        if !matches!(obj.get("state"), None | Some(Value::Null | Value::String(_))) {
            return Err(bad("state", "must be a string"));
        }
        let recording_url = match obj.get("recording_url") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) if s.trim().is_empty() => None,
            Some(Value::String(s)) if s.starts_with("https://") || s.starts_with("http://") => {
                Some(crate::recordings::RecordingUrl::new(s.trim()))
            }
            Some(_) => return Err(bad("recording_url", "must be an http(s) URL")),
        };
        Ok(Self {
            event_type,
            call_id,
            caller_id,
            called_number,
            timestamp,
            direction,
            duration_s,
            recording_url,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"3cx-webhook-secret-for-tests";
    const BODY: &[u8] = br#"{"event_type":"IncomingCall","call_id":"3cx-8812","caller_id":"+14155550123","called_number":"+18005550199","timestamp":"2026-11-20T09:14:02Z","direction":"inbound"}"#;

    fn now() -> DateTime<Utc> {
        DateTime::from_timestamp(1_795_165_442, 0).unwrap()
    }

    #[test]
    fn a_signed_fresh_request_passes_and_parses() {
        let t = now().timestamp() - 10;
        let sig = sign(SECRET, t, BODY);
        assert_eq!(verify(SECRET, Some(&t.to_string()), Some(&sig), BODY, now()), Ok(()));
        let ev = CallEvent::parse(BODY).unwrap();
        assert_eq!(
            (ev.event_type, ev.call_id.as_str(), ev.direction),
            (CallEventType::IncomingCall, "3cx-8812", Direction::Inbound)
        );
        assert_eq!(ev.caller_id.as_str(), "+14155550123");
    }

    #[test]
    fn a_known_vector_computed_independently() {
        // Python: hmac.new(b"s3cret", b"1700000000.{}", hashlib.sha256).hexdigest()
        let sig = "sha256=97926816e98fbb41ccb1673225ff29a2f35369099990e1b1561651e7bd097ebf";
        assert_eq!(sign(b"s3cret", 1_700_000_000, b"{}"), sig);
    }

    #[test]
    fn everything_unauthenticated_gets_401_403_or_413() {
        let t = now().timestamp();
        let sig = sign(SECRET, t, BODY);
        let ts = t.to_string();
        let check = |ts: Option<&str>, sig: Option<&str>, body: &[u8]| {
            verify(SECRET, ts, sig, body, now()).unwrap_err().status()
        };
        assert_eq!(check(None, Some(&sig), BODY), 401);
        assert_eq!(check(Some(&ts), None, BODY), 401);
        assert_eq!(check(Some(&ts), Some("sha256=zz"), BODY), 401);
        assert_eq!(check(Some(&ts), Some(&sig.replace("sha256=", "md5=")), BODY), 401);
        assert_eq!(check(Some(&ts), Some(&sign(b"wrong", t, BODY)), BODY), 401);
        assert_eq!(check(Some(&ts), Some(&sig), &BODY[..BODY.len() - 1]), 401, "tampered body");
        let old = (t - 301).to_string();
        assert_eq!(
            verify(SECRET, Some(&old), Some(&sign(SECRET, t - 301, BODY)), BODY, now()),
            Err(WebhookError::StaleTimestamp(301))
        );
        let future = (t + 301).to_string();
        assert_eq!(
            check(Some(&future), Some(&sign(SECRET, t + 301, BODY)), BODY),
            401,
            "the future is stale too"
        );
        let big = vec![b' '; MAX_BODY_BYTES + 1];
        assert_eq!(check(Some(&ts), Some(&sign(SECRET, t, &big)), &big), 413);
    }

    #[test]
    fn bad_payloads_name_the_field() {
        let field = |body: &str| match CallEvent::parse(body.as_bytes()) {
            Err(WebhookError::BadField { field, .. }) => field,
            other => panic!("{body}: {other:?}"),
        };
        let base: Value = serde_json::from_slice(BODY).unwrap();
        let with = |k: &str, v: Value| {
            let mut o = base.clone();
            o[k] = v;
            o.to_string()
        };
        assert_eq!(field(&with("caller_id", "0044123".into())), "caller_id");
        assert_eq!(field(&with("event_type", "Ringing".into())), "event_type");
        assert_eq!(field(&with("call_id", "a/b".into())), "call_id");
        assert_eq!(field(&with("timestamp", "yesterday".into())), "timestamp");
        assert_eq!(field(&with("direction", "sideways".into())), "direction");
        assert_eq!(field(&with("duration", (-3).into())), "duration");
        assert_eq!(field(&with("recording_url", "ftp://x".into())), "recording_url");
        assert_eq!(field(&with("state", serde_json::json!({}))), "state");
        assert_eq!(field(&with("called_number", Value::Null)), "called_number");
        assert!(matches!(CallEvent::parse(b"not json"), Err(WebhookError::BadJson(_))));
        let ended = with("event_type", "CallEnded".into());
        let ended = {
            let mut v: Value = serde_json::from_str(&ended).unwrap();
            v["duration"] = 42.5.into();
            v["timestamp"] = 1_795_165_442.into();
            v.to_string()
        };
        let ev = CallEvent::parse(ended.as_bytes()).unwrap();
        assert_eq!((ev.event_type, ev.duration_s), (CallEventType::CallEnded, Some(42.5)));
    }

    #[test]
    fn timestamps_at_the_ends_of_i64_are_stale_not_a_panic() {
        for t in [i64::MIN, i64::MIN + 1, i64::MAX, -1] {
            let ts = t.to_string();
            let got = verify(SECRET, Some(&ts), Some(&sign(SECRET, t, BODY)), BODY, now());
            assert!(matches!(got, Err(WebhookError::StaleTimestamp(_))), "{t}: {got:?}");
            assert_eq!(got.unwrap_err().status(), 401);
        }
    }

    /// The original design's example payload, as events/webhook-intake/incoming-call-3cx-design.json carries it.
    const DESIGN_BODY: &[u8] = br#"{"event_type":"IncomingCall","call_id":"3cx-call-20261120-0001","caller_id":"+14155550123","called_number":"+18005550199","timestamp":"2026-11-20T09:14:02Z","direction":"In","extension":"100","queue":"support","recording_url":null}"#;

    fn at_0914() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-11-20T09:14:02Z").unwrap().with_timezone(&Utc)
    }

    #[test]
    fn the_designs_example_payload_is_accepted() {
        let ev = CallEvent::parse(DESIGN_BODY).unwrap();
        assert_eq!(ev.event_type, CallEventType::IncomingCall);
        assert_eq!(ev.call_id.as_str(), "3cx-call-20261120-0001");
        assert_eq!(ev.caller_id.as_str(), "+14155550123");
        assert_eq!(ev.called_number, "+18005550199");
        assert_eq!(ev.timestamp, at_0914());
        assert_eq!(ev.direction, Direction::Inbound);
        assert_eq!((ev.recording_url, ev.duration_s), (None, None));
    }

    #[test]
    fn the_fixture_carries_the_designs_payload() {
        let path =
            concat!(env!("CARGO_MANIFEST_DIR"), "/../../events/webhook-intake/incoming-call-3cx-design.json");
        let event: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
        let body = event["body"].as_str().expect("an API Gateway event with a body");
        let (fixture, design): (Value, Value) =
            (serde_json::from_str(body).unwrap(), serde_json::from_slice(DESIGN_BODY).unwrap());
        assert_eq!(fixture, design);
        assert!(CallEvent::parse(body.as_bytes()).is_ok());
    }

    #[test]
    fn every_spelling_of_the_direction_is_read() {
        let base: Value = serde_json::from_slice(DESIGN_BODY).unwrap();
        for (raw, want) in [
            ("In", Direction::Inbound),
            ("Out", Direction::Outbound),
            ("IN", Direction::Inbound),
            ("out", Direction::Outbound),
            ("Inbound", Direction::Inbound),
            ("OUTBOUND", Direction::Outbound),
            ("inbound", Direction::Inbound),
            ("Internal", Direction::Internal),
            (" internal ", Direction::Internal),
        ] {
            let mut v = base.clone();
            v["direction"] = raw.into();
            let ev = CallEvent::parse(v.to_string().as_bytes()).unwrap_or_else(|e| panic!("{raw:?}: {e}"));
            assert_eq!(ev.direction, want, "{raw:?}");
        }
    }

    #[test]
    fn a_time_before_1970_is_refused_and_a_whole_number_with_a_point_is_read() {
        let mut v: Value = serde_json::from_slice(BODY).unwrap();
        v["timestamp"] = (-1).into();
        assert!(matches!(
            CallEvent::parse(v.to_string().as_bytes()),
            Err(WebhookError::BadField { field: "timestamp", .. })
        ));
        v["timestamp"] = serde_json::json!(1_795_165_442.0);
        assert_eq!(CallEvent::parse(v.to_string().as_bytes()).unwrap().timestamp.timestamp(), 1_795_165_442);
        v["timestamp"] = serde_json::json!(253_402_300_800_000_i64);
        assert!(CallEvent::parse(v.to_string().as_bytes()).is_err(), "after the year 9999");
        v["timestamp"] = serde_json::json!(36_572_506_144_831.0);
        assert!(CallEvent::parse(v.to_string().as_bytes()).is_ok(), "milliseconds written with a point");
    }

    #[test]
    fn every_common_timestamp_form_is_read() {
        let base: Value = serde_json::from_slice(DESIGN_BODY).unwrap();
        for raw in [
            Value::from("2026-11-20T09:14:02Z"),
            Value::from("2026-11-20T10:14:02+01:00"),
            Value::from("2026-11-20T09:14:02.000Z"),
            Value::from("2026-11-20 09:14:02"),
            Value::from("2026-11-20T09:14:02"),
            Value::from("1795166042"),
            Value::from(1_795_166_042_i64),
            Value::from(1_795_166_042_000_i64),
            Value::from(1_795_166_042.0_f64),
        ] {
            let mut v = base.clone();
            v["timestamp"] = raw.clone();
            let ev = CallEvent::parse(v.to_string().as_bytes()).unwrap_or_else(|e| panic!("{raw}: {e}"));
            assert_eq!(ev.timestamp, at_0914(), "{raw}");
        }
        let mut v = base.clone();
        v["timestamp"] = "2026-11-20 09:14:02.250".into();
        let ev = CallEvent::parse(v.to_string().as_bytes()).unwrap();
        assert_eq!(ev.timestamp, at_0914() + chrono::Duration::milliseconds(250));
    }

    #[test]
    fn optional_fields_may_be_absent_or_null_and_extra_fields_are_ignored() {
        let mut v: Value = serde_json::from_slice(DESIGN_BODY).unwrap();
        let obj = v.as_object_mut().unwrap();
        for k in ["extension", "queue", "recording_url"] {
            obj.remove(k);
        }
        obj.insert("duration".into(), Value::Null);
        obj.insert("agent_name".into(), "Ana".into());
        obj.insert("custom".into(), serde_json::json!({"nested": [1, 2]}));
        let ev = CallEvent::parse(v.to_string().as_bytes()).unwrap();
        assert_eq!((ev.recording_url, ev.duration_s), (None, None));
        v["recording_url"] = "".into();
        assert_eq!(CallEvent::parse(v.to_string().as_bytes()).unwrap().recording_url, None);
        v["event_type"] = "incomingcall".into();
        assert_eq!(
            CallEvent::parse(v.to_string().as_bytes()).unwrap().event_type,
            CallEventType::IncomingCall
        );
    }

    #[test]
    fn the_allow_list_takes_cidr_blocks_of_both_families() {
        let ips = TrustedIps::parse("203.0.113.0/24, 198.51.100.7, 2001:db8::/32").unwrap();
        assert!(ips.allows("203.0.113.99".parse().unwrap()));
        assert!(ips.allows("198.51.100.7".parse().unwrap()));
        assert!(!ips.allows("198.51.100.8".parse().unwrap()));
        assert!(ips.allows("2001:db8:1::5".parse().unwrap()));
        assert!(!ips.allows("2001:db9::1".parse().unwrap()));
        assert!(TrustedIps::parse("").unwrap().allows("192.0.2.1".parse().unwrap()), "empty allows all");
        assert!(TrustedIps::parse("10.0.0.0/33").is_err() && TrustedIps::parse("ten").is_err());
    }
}
