//! fetch-recording against a real local HTTP server (127.0.0.1, allowed through
//! `FETCH_ALLOWED_NETWORKS` as an on-premises PBX would be), the local records and the file
//! store: a recording becomes the caller's sample; every refusal and failure is recorded on the
//! call, and only a failure a retry may mend keeps the request.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use chrono::Utc;
use echome_core::library::Person;
use echome_core::people::{ConsentMethod, ConsentRecord, ConsentScope};
use echome_core::recordings::{RecordingRequest, RecordingStatus, RecordingUrl};
use echome_core::{
    BlobRef, BlobStore, CallId, CallLog, CallRecord, CallerId, ConsentPolicy, ErrorType, People,
};
use echome_fetch::{FetchPolicy, Fetcher, networks};
use echome_local::{FsBlobStore, LocalRecords};
use fetch_recording::{Config, Outcome, fetch_recording, handle_json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const CALLER: &str = "+14155550123";
const BUCKET: &str = "echome-recordings";
/// A WAV header and a little audio: what a PBX hands out.
const WAV: &[u8] =
    b"RIFF\x24\0\0\0WAVEfmt \x10\0\0\0\x01\0\x01\0\x40\x1f\0\0\x80\x3e\0\0\x02\0\x10\0data\0\0\0\0";

/// Answers by path, one request per connection, and counts the requests.
async fn server() -> (u16, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let hits = Arc::new(AtomicUsize::new(0));
    let counted = hits.clone();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            counted.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let mut buf = vec![0u8; 4096];
                let n = s.read(&mut buf).await.unwrap_or(0);
                let head = String::from_utf8_lossy(&buf[..n]).to_string();
                let path = head.split_whitespace().nth(1).unwrap_or("/").to_owned();
                let authorized = head.to_ascii_lowercase().contains("authorization: bearer pbx-token");
                let (status, kind, body): (&str, &str, Vec<u8>) = match path.as_str() {
                    p if p.starts_with("/rec/call.wav") && authorized => {
                        ("200 OK", "audio/wav", WAV.to_vec())
                    }
                    p if p.starts_with("/rec/call.wav") => ("401 Unauthorized", "text/plain", b"no".to_vec()),
                    "/rec/page" => ("200 OK", "text/html", b"<html>login</html>".to_vec()),
                    "/rec/big.wav" => ("200 OK", "audio/wav", vec![0u8; 5000]),
                    "/rec/busy.wav" => ("503 Service Unavailable", "text/plain", b"busy".to_vec()),
                    "/rec/away.wav" => {
                        let moved = format!(
                            "HTTP/1.1 302 Found\r\nLocation: http://localhost:{}/rec/call.wav\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                            s.local_addr().unwrap().port()
                        );
                        let _sent = s.write_all(moved.as_bytes()).await;
                        return;
                    }
                    "/rec/slow.wav" => {
                        tokio::time::sleep(Duration::from_secs(5)).await;
                        ("200 OK", "audio/wav", WAV.to_vec())
                    }
                    _ => ("404 Not Found", "text/plain", b"none".to_vec()),
                };
                let head = format!(
                    "HTTP/1.1 {status}\r\nContent-Type: {kind}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                );
                let _sent = s.write_all(head.as_bytes()).await;
                let _sent = s.write_all(&body).await;
            });
        }
    });
    (port, hits)
}

struct World {
    dir: tempfile::TempDir,
    blobs: FsBlobStore,
    records: LocalRecords,
    fetcher: Fetcher,
    config: Config,
    port: u16,
    hits: Arc<AtomicUsize>,
}

async fn world(networks: &str, consent: ConsentPolicy) -> World {
    let dir = tempfile::tempdir().unwrap();
    let (port, hits) = server().await;
    let policy = FetchPolicy {
        allowed_hosts: vec!["127.0.0.1".into()],
        allowed_networks: networks::parse_networks(networks).unwrap(),
        max_bytes: 1000,
        timeout: Duration::from_secs(2),
    };
    let config = Config {
        consent,
        credentials: Some(echome_fetch::Credentials::parse("Bearer pbx-token").unwrap()),
        scratch: dir.path().join("scratch"),
    };
    World {
        blobs: FsBlobStore::new(dir.path().join("blobs")),
        records: LocalRecords::open(&dir.path().join("r.redb")).unwrap(),
        fetcher: Fetcher::new(policy),
        config,
        port,
        hits,
        dir,
    }
}

impl World {
    /// A call on record and its request in the inbox, as webhook-intake leaves them.
    async fn request(&self, call: &str, url: String) -> BlobRef {
        let caller = CallerId::parse(CALLER).unwrap();
        let call_id = CallId::parse(call).unwrap();
        let rec = CallRecord::new(call_id.clone(), caller.clone(), "+18005550199".into(), Utc::now());
        self.records.claim_call(&rec).await.unwrap();
        let req = RecordingRequest {
            call_id,
            caller_id: caller,
            url: RecordingUrl::new(url),
            requested_at: Utc::now(),
        };
        let blob = BlobRef::new(BUCKET, req.key());
        self.blobs.put_bytes(&blob, serde_json::to_vec(&req).unwrap(), "application/json").await.unwrap();
        blob
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    async fn run(&self, request: &BlobRef) -> Result<Outcome, echome_core::StepError> {
        fetch_recording(&self.blobs, &self.records, &self.fetcher, &self.config, request).await
    }

    async fn state(&self, call: &str) -> echome_core::recordings::RecordingState {
        let rec = self.records.call(&CallId::parse(call).unwrap()).await.unwrap().unwrap();
        rec.recording.expect("the call's record says what became of its recording")
    }
}

#[tokio::test]
async fn a_recording_becomes_the_callers_sample_once() {
    let w = world("127.0.0.0/8", ConsentPolicy::NotRequired).await;
    let request = w.request("call-1", w.url("/rec/call.wav?token=abc")).await;
    let out = w.run(&request).await.unwrap();
    let sample = BlobRef::new(BUCKET, format!("samples/{CALLER}/calls/call-1.wav"));
    assert_eq!(out, Outcome::Stored { sample: sample.clone(), bytes: WAV.len() as u64 });
    assert_eq!(w.blobs.get_bytes(&sample).await.unwrap(), WAV, "the recording is stored as fetched");
    let state = w.state("call-1").await;
    assert_eq!(
        (state.status, state.key.as_deref(), state.bytes),
        (RecordingStatus::Stored, Some(sample.key.as_str()), Some(WAV.len() as u64))
    );
    assert!(!w.blobs.exists(&request).await.unwrap(), "the request (with its token) is deleted");
    assert!(!std::fs::read_dir(w.dir.path().join("scratch")).unwrap().any(|_| true), "no scratch file stays");

    // A redelivered event: the request is gone, nothing is fetched again.
    let hits = w.hits.load(Ordering::SeqCst);
    assert!(matches!(w.run(&request).await.unwrap(), Outcome::Skipped { .. }));
    // A request written again after the recording was stored (a replayed CallEnded racing).
    let again = w.request("call-1", w.url("/rec/call.wav")).await;
    assert_eq!(w.run(&again).await.unwrap(), Outcome::AlreadyStored);
    assert_eq!(w.hits.load(Ordering::SeqCst), hits, "a stored recording is not fetched twice");
}

#[tokio::test]
async fn every_refusal_is_recorded_on_the_call_and_settles_the_request() {
    let w = world("127.0.0.0/8", ConsentPolicy::NotRequired).await;
    let cases = [
        ("c-page", w.url("/rec/page"), "not_audio"),
        ("c-big", w.url("/rec/big.wav"), "too_large"),
        ("c-away", w.url("/rec/away.wav"), "redirect_refused"),
        ("c-host", "https://pbx.example.com/rec/call.wav".to_owned(), "host_not_allowed"),
        ("c-scheme", format!("ftp://127.0.0.1:{}/x.wav", w.port), "scheme_not_allowed"),
        ("c-missing", w.url("/rec/none.wav"), "source_status"),
    ];
    for (call, url, code) in cases {
        let request = w.request(call, url).await;
        match w.run(&request).await.unwrap() {
            Outcome::Refused { code: got, reason } => {
                assert_eq!(got, code, "{call}: {reason}");
                assert!(!reason.contains("token"), "{reason}");
            }
            other => panic!("{call}: {other:?}"),
        }
        let state = w.state(call).await;
        assert_eq!((state.status, state.code.as_deref()), (RecordingStatus::Refused, Some(code)), "{call}");
        assert!(!w.blobs.exists(&request).await.unwrap(), "{call}: a refused request is settled");
    }
    let calls = w.blobs.keys(BUCKET, &format!("samples/{CALLER}/")).await.unwrap();
    assert!(calls.is_empty(), "nothing refused became a sample: {calls:?}");
}

#[tokio::test]
async fn a_private_address_is_refused_unless_its_network_is_allowed() {
    let w = world("", ConsentPolicy::NotRequired).await;
    let request = w.request("c-private", w.url("/rec/call.wav")).await;
    assert!(
        matches!(w.run(&request).await.unwrap(), Outcome::Refused { code, .. } if code == "address_refused")
    );
    assert_eq!(w.hits.load(Ordering::SeqCst), 0, "nothing was sent to a refused address");
}

#[tokio::test]
async fn a_busy_or_slow_pbx_fails_the_invocation_and_keeps_the_request() {
    let w = world("127.0.0.0/8", ConsentPolicy::NotRequired).await;
    for (call, path, code) in
        [("c-busy", "/rec/busy.wav", "source_status"), ("c-slow", "/rec/slow.wav", "timeout")]
    {
        let request = w.request(call, w.url(path)).await;
        let err = w.run(&request).await.unwrap_err();
        assert_eq!((err.error_type, err.code.as_str()), (ErrorType::Retryable, code), "{call}");
        let state = w.state(call).await;
        assert_eq!((state.status, state.code.as_deref()), (RecordingStatus::Failed, Some(code)), "{call}");
        assert!(w.blobs.exists(&request).await.unwrap(), "{call}: the request waits for the retry");
    }
}

#[tokio::test]
async fn without_consent_nothing_is_fetched() {
    let w = world("127.0.0.0/8", ConsentPolicy::Required).await;
    let request = w.request("c-consent", w.url("/rec/call.wav")).await;
    assert!(
        matches!(w.run(&request).await.unwrap(), Outcome::Skipped { reason } if reason.contains("consent_missing"))
    );
    assert_eq!(w.hits.load(Ordering::SeqCst), 0);
    let state = w.state("c-consent").await;
    assert_eq!((state.status, state.code.as_deref()), (RecordingStatus::Skipped, Some("consent_missing")));

    // Given consent, the next call's recording is fetched.
    let person = Person::parse(CALLER).unwrap();
    let consent = ConsentRecord::grant(
        person,
        "the caller",
        ConsentMethod::RecordedVerbal,
        [ConsentScope::Clone].into(),
        None,
        "front-desk",
        Utc::now(),
    );
    w.records.save_consent(&consent.unwrap()).await.unwrap();
    let request = w.request("c-consent-2", w.url("/rec/call.wav")).await;
    assert!(matches!(w.run(&request).await.unwrap(), Outcome::Stored { .. }));
}

#[tokio::test]
async fn the_s3_event_names_the_requests() {
    let w = world("127.0.0.0/8", ConsentPolicy::NotRequired).await;
    let request = w.request("c-event", w.url("/rec/call.wav")).await;
    let key = request.key.replace('+', "%2B");
    let event = serde_json::json!({ "Records": [
        { "eventName": "ObjectCreated:Put", "s3": { "bucket": { "name": BUCKET }, "object": { "key": key } } },
        { "eventName": "ObjectCreated:Put", "s3": { "bucket": { "name": BUCKET }, "object": { "key": "samples/x.wav" } } },
    ]});
    let out = handle_json(&w.blobs, &w.records, &w.fetcher, &w.config, event).await.unwrap();
    assert!(matches!(&out[0], Outcome::Stored { .. }), "{out:?}");
    assert!(matches!(&out[1], Outcome::Skipped { reason } if reason.contains("not a recording request")));
}

#[tokio::test]
async fn every_event_gets_the_answer_a_user_expects() {
    let w = world("127.0.0.0/8", ConsentPolicy::NotRequired).await;
    let names = echome_testkit::events::names("fetch-recording");
    assert_eq!(names, ["outside-inbox", "recording-requested"], "every event needs a case here");
    for name in names {
        let event: serde_json::Value =
            serde_json::from_slice(&echome_testkit::events::read("fetch-recording", &name)).unwrap();
        if name == "recording-requested" {
            // The request the event names, as webhook-intake left it.
            w.request("3cx-call-20261120-0001", w.url("/rec/call.wav")).await;
        }
        let out = handle_json(&w.blobs, &w.records, &w.fetcher, &w.config, event).await.unwrap();
        match name.as_str() {
            "recording-requested" => assert!(
                matches!(&out[..], [Outcome::Stored { sample, .. }]
                    if sample.key == format!("samples/{CALLER}/calls/3cx-call-20261120-0001.wav")),
                "{out:?}"
            ),
            "outside-inbox" => assert!(matches!(&out[..], [Outcome::Skipped { .. }]), "{out:?}"),
            other => panic!("no expectation for event {other}"),
        }
    }
}
