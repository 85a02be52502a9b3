//! The world webhook-intake's tests run in: the local adapters (embedded database, folder
//! blobs); the agent and the run starter are in-memory fakes of their ports that record what
//! they were asked; requests signed with the tests' secrets.
#![allow(dead_code, unused_imports)]

pub use std::sync::{Arc, Mutex};

pub use aws_lambda_events::apigw::ApiGatewayV2httpRequest;
pub use chrono::Utc;
pub use echome_core::BlobStore as _;
pub use echome_core::threecx::TrustedIps;
pub use echome_core::{
    AgentCallRequest, AgentCallStarted, AgentCalls, BlobRef, CallEventKind, CallId, CallLog, CallPath,
    CallStatus, CallerId, CloneCache, CloneRecord, CloneRunInput, CloneStatus, ErrorType, RunId, RunStart,
    RunStarter, SampleLog, SampleRecord, StepError, StorageError, VoiceId,
};
pub use echome_local::{FsBlobStore, LocalRecords};
pub use serde_json::{Value, json};
pub use webhook_intake::config::Secrets;
pub use webhook_intake::{Config, Intake};

pub const THREECX: &[u8] = b"3cx-secret-for-the-tests-0123456789";
pub const POST_CALL: &[u8] = b"whsec_post_call_secret_for_tests";
pub const INITIATION: &str = "initiation-bearer-secret-for-tests";
pub const CALLER: &str = "+14155550123";

#[derive(Default, Clone)]
pub struct Agent {
    pub rung: Arc<Mutex<Vec<AgentCallRequest>>>,
    pub down: bool,
    /// How long a call takes to start, when not the usual 30 ms.
    pub slow: Option<std::time::Duration>,
}

impl AgentCalls for Agent {
    async fn start_call(&self, req: &AgentCallRequest) -> Result<AgentCallStarted, StepError> {
        if self.down {
            return Err(StepError::new(
                ErrorType::Retryable,
                "provider_unavailable",
                "503 from the provider",
            ));
        }
        // As slow as a real provider, so concurrent duplicates really overlap.
        tokio::time::sleep(self.slow.unwrap_or(std::time::Duration::from_millis(30))).await;
        let mut rung = self.rung.lock().unwrap();
        rung.push(req.clone());
        Ok(AgentCallStarted { call_id: Some(format!("conv_{}", rung.len())) })
    }
}

/// Records the runs started; fails the first `failures` starts as Step Functions can.
#[derive(Default, Clone)]
pub struct Starter(pub Arc<Mutex<Vec<CloneRunInput>>>, pub Arc<std::sync::atomic::AtomicU32>);

impl RunStarter for Starter {
    async fn start(&self, input: &CloneRunInput) -> Result<RunStart, StorageError> {
        use std::sync::atomic::Ordering;
        if self.1.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)).is_ok() {
            return Err(StorageError::Transient("StartExecution: ThrottlingException".into()));
        }
        let mut runs = self.0.lock().unwrap();
        if runs.iter().any(|r| r.run_id == input.run_id) {
            assert_eq!(
                runs.iter().find(|r| r.run_id == input.run_id),
                Some(input),
                "a named execution's input never changes"
            );
            return Ok(RunStart::AlreadyStarted);
        }
        runs.push(input.clone());
        Ok(RunStart::Started)
    }
}

/// The metrics a function would send to CloudWatch.
#[derive(Default, Clone)]
pub struct Metrics(pub Arc<Mutex<Vec<echome_core::CallEventRecord>>>);

impl echome_core::metrics::MetricsSink for Metrics {
    fn record(&self, event: &echome_core::CallEventRecord) {
        self.0.lock().unwrap().push(event.clone());
    }
}

pub struct World {
    /// Where the records and blobs live, for as long as the world does.
    pub _dir: tempfile::TempDir,
    pub intake: Intake<LocalRecords, Starter, FsBlobStore, Agent, LocalRecords>,
}

pub fn config() -> Config {
    let secrets =
        Secrets { threecx: THREECX.to_vec(), post_call: POST_CALL.to_vec(), initiation: INITIATION.into() };
    let mut cfg = Config::from_env(secrets, "recordings".into()).unwrap();
    cfg.greeting_voice = Some(VoiceId::parse("greetingVoice").unwrap());
    cfg.default_voice = Some(VoiceId::parse("defaultVoice").unwrap());
    cfg.greeting_music_url = Some("https://cdn.example.com/hold.mp3".into());
    // The consent gate's own test requires it.
    cfg.consent = echome_core::ConsentPolicy::NotRequired;
    cfg
}

pub fn world_with(agent: Agent, cfg: Config) -> World {
    let dir = tempfile::tempdir().unwrap();
    let records = LocalRecords::open(&dir.path().join("r.redb")).unwrap();
    let intake = Intake {
        records: records.clone(),
        runs: Starter::default(),
        blobs: FsBlobStore::new(dir.path().join("blobs")),
        agent,
        archive: records,
        config: cfg,
    };
    World { _dir: dir, intake }
}

pub fn world() -> World {
    world_with(Agent::default(), config())
}

pub fn caller() -> CallerId {
    CallerId::parse(CALLER).unwrap()
}

impl World {
    pub async fn with_sample(self) -> Self {
        let rec = SampleRecord {
            person: echome_core::Person::from(caller()),
            sample: BlobRef::new("recordings", "samples/+14155550123/call.mp3"),
            version: "v1".into(),
            uploaded_at: Utc::now(),
            size: 1000,
            pack: None,
        };
        self.intake.records.record_sample(&rec).await.unwrap();
        self
    }

    pub async fn with_clone(self) -> Self {
        let now = Utc::now();
        let rec = CloneRecord {
            person: echome_core::Person::from(caller()),
            voice_id: VoiceId::parse("clonedVoice").unwrap(),
            engine: "elevenlabs".into(),
            pack_digest: "d".into(),
            run_id: RunId::parse("up-0123-abc").unwrap(),
            created_at: now,
            last_used_at: now,
            reuse_count: 0,
            status: CloneStatus::Active,
            expires_at: now.timestamp() + 3600,
        };
        self.intake.records.put_clone(&rec).await.unwrap();
        self
    }

    pub async fn send(&self, req: ApiGatewayV2httpRequest) -> (i64, Value) {
        let res = self.intake.handle(req).await;
        let body = match res.body {
            Some(aws_lambda_events::encodings::Body::Text(t)) => serde_json::from_str(&t).unwrap(),
            other => panic!("{other:?}"),
        };
        (res.status_code, body)
    }

    pub fn rung(&self) -> Vec<AgentCallRequest> {
        self.intake.agent.rung.lock().unwrap().clone()
    }

    pub fn runs(&self) -> Vec<CloneRunInput> {
        self.intake.runs.0.lock().unwrap().clone()
    }
}

/// A fixture with its `SIGNED_BY_TEST` placeholders signed now with the tests' secrets.
pub fn fixture(name: &str) -> ApiGatewayV2httpRequest {
    let mut v: Value = serde_json::from_slice(&echome_testkit::events::read("webhook-intake", name)).unwrap();
    sign(&mut v);
    serde_json::from_value(v).unwrap()
}

pub fn sign(v: &mut Value) {
    let now = Utc::now().timestamp();
    let body = v["body"].as_str().unwrap_or_default().as_bytes().to_vec();
    let headers = v["headers"].as_object_mut().unwrap();
    if headers.get("x-3cx-timestamp").and_then(Value::as_str) == Some("SIGNED_BY_TEST") {
        headers.insert("x-3cx-timestamp".into(), now.to_string().into());
    }
    if headers.get("x-3cx-signature").and_then(Value::as_str) == Some("sha256=SIGNED_BY_TEST") {
        let ts: i64 = headers["x-3cx-timestamp"].as_str().unwrap().parse().unwrap();
        headers.insert("x-3cx-signature".into(), echome_core::threecx::sign(THREECX, ts, &body).into());
    }
    if headers.get("elevenlabs-signature").and_then(Value::as_str)
        == Some("t=SIGNED_BY_TEST,v0=SIGNED_BY_TEST")
    {
        let sig = echome_elevenlabs::webhooks::sign(POST_CALL, now, &body);
        headers.insert("elevenlabs-signature".into(), sig.into());
    }
    if headers.get("authorization").and_then(Value::as_str) == Some("Bearer SIGNED_BY_TEST") {
        headers.insert("authorization".into(), format!("Bearer {INITIATION}").into());
    }
}

/// A signed 3CX event like the fixture, with fields replaced.
pub fn threecx(event_type: &str, call_id: &str, extra: Value) -> ApiGatewayV2httpRequest {
    let mut v: Value =
        serde_json::from_slice(&echome_testkit::events::read("webhook-intake", "incoming-call")).unwrap();
    let mut body: Value = serde_json::from_str(v["body"].as_str().unwrap()).unwrap();
    body["event_type"] = event_type.into();
    body["call_id"] = call_id.into();
    for (k, val) in extra.as_object().unwrap() {
        body[k] = val.clone();
    }
    v["body"] = body.to_string().into();
    sign(&mut v);
    serde_json::from_value(v).unwrap()
}

/// The deliveries kept under `prefix`, as (key, body).
pub fn kept(w: &World, prefix: &str) -> Vec<(String, Vec<u8>)> {
    w.intake.archive.kept_webhooks(prefix).unwrap()
}
