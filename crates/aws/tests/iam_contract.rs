//! The IAM contract: every function's AWS calls, made through the real adapters, against a moto
//! server that enforces IAM, signed with an access key whose policy is that function's policy in
//! the SAM-transformed template.yaml (read at test time). A permission missing from the template
//! fails here instead of on the first day in AWS.
//!
//! Three layers, because moto enforces only part of IAM (see `echome_testkit::iam`):
//! 1. moto checks every request's signature and action, and S3's bucket and key, against the
//!    user's policy ([`Policy::for_moto`]: S3 statements as in the template; DynamoDB, SSM and
//!    Step Functions statements on `*`, the only resource moto compares them with).
//! 2. A guard in the SDK's HTTP client works out the action and resource of each request the
//!    SDK sends (table, index, parameter, state machine) and refuses what the template's policy
//!    does not allow, as AWS would; it also answers a GetObject that moto found missing with 403
//!    when the policy lacks `s3:ListBucket` for the key, as S3 does.
//! 3. A static check of the template: every function that probes for an object that may be
//!    missing has `s3:ListBucket` on the bucket, scoped by an `s3:prefix` condition to its prefix.
//!
//! [`CONTRACT`] lists, per function, the port methods its handler calls (read from the handler
//! and its `main.rs`); each test runs exactly that list and fails when the two drift apart.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, OnceLock};

use aws_config::retry::RetryConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_s3::config::{Credentials, SharedCredentialsProvider};
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient,
    SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse};
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_runtime_api::http::StatusCode;
use aws_smithy_types::body::SdkBody;
use chrono::{DateTime, Duration, Utc};
use echome_aws::limits::DynamoRateLimiter;
use echome_aws::{DynamoRecords, S3BlobStore, SfnRunStarter, secrets::ssm_secret};
use echome_core::library::{
    ActiveVoice, AuditAction, AuditEvent, ModelStatus, Person, VoiceLibrary, VoiceModel,
};
use echome_core::limits::{Limit, RateDecision, RateLimiter};
use echome_core::people::People as _;
use echome_core::{
    BlobArchive, BlobRef, BlobStore, CallClaim, CallEventKind, CallEventRecord, CallId, CallLog, CallRecord,
    CallerId, CloneCache, CloneLogRecord, CloneRecord, CloneRunInput, CloneStatus, Delivery, ReferenceVoices,
    RunId, RunLog, RunOutcome, RunRecord, RunStart, RunStarter, SampleLog, SampleRecord, SampleWrite,
    StorageError, VoiceId, WebhookArchive,
};
use echome_testkit::iam::{self, Access, Decision, Patterns, Policy, Principal, Stack};
use echome_testkit::moto::{AccessKey, MotoServer, workspace_root};

/// The stack the tests deploy into moto: the template builds the bucket's name from it.
const STACK: &str = "echome";
/// The table's partition key (crates/aws/src/dynamo.rs), for `dynamodb:LeadingKeys`.
const HASH_KEY: &str = "pk";

/// One principal of the template and what its code does with AWS, in the order the handler does it.
struct Row {
    /// The template's logical id (`UploadTriggerFunction`, or the state machine).
    principal: &'static str,
    /// Where the calls were read from.
    source: &'static str,
    operations: &'static [&'static str],
}

/// Function → operations: the port methods each handler (and its `main.rs`) calls. A reviewer
/// checks this table against the handlers; each test below runs exactly these operations.
const CONTRACT: &[Row] = &[
    Row {
        principal: "UploadTriggerFunction",
        source: "functions/upload-trigger/src/handler.rs accept_upload, short_calls",
        operations: &[
            "People::person (a named person's folder)",
            "SampleLog::record_sample",
            "RunLog::create_run",
            "RunLog::runs_of",
            "RunLog::run",
            "RunStarter::start",
        ],
    },
    Row {
        principal: "ExtractAudioFunction",
        source: "functions/extract-audio/src/handler.rs handle",
        operations: &["BlobStore::download_to samples/", "BlobStore::upload_from runs/"],
    },
    Row {
        principal: "SegmentAudioFunction",
        source: "functions/segment-audio/src/handler.rs handle",
        operations: &[
            "BlobStore::download_to runs/",
            "BlobStore::read_range runs/",
            "BlobStore::upload_from runs/",
            "BlobStore::put_bytes runs/",
        ],
    },
    Row {
        principal: "CloneVoiceFunction",
        source: "functions/clone-voice/src/{main.rs, handler.rs handle_at, create, retire, free_a_slot}",
        operations: &[
            "ssm_secret ELEVENLABS_API_KEY_PARAMETER",
            "BlobStore::get_bytes runs/ (the pack's report)",
            "CloneCache::clone_of",
            "CloneCache::touch_clone",
            "CloneCache::log_clone",
            "ReferenceVoices::reference_voice",
            "ReferenceVoices::put_reference_voice",
            "BlobStore::download_to runs/ (the pack's samples)",
            "CloneCache::clones",
            "CloneCache::put_clone",
            "CloneCache::evict_clone",
            "SampleLog::record_pack",
            "BlobStore::get_bytes runs/ (a kept pack's expired report: NotFound, so PackGone)",
            "VoiceLibrary::create_model",
            "VoiceLibrary::record_audit",
            "VoiceLibrary::active_voice",
            "VoiceLibrary::model",
            "VoiceLibrary::set_active",
            "VoiceLibrary::save_model",
            "VoiceLibrary::models_of",
            "VoiceLibrary::set_active (none left)",
            "People::consent",
        ],
    },
    Row {
        principal: "ScoreVoiceFunction",
        source: "functions/score-voice/src/{main.rs, handler.rs handle}",
        operations: &[
            "ssm_secret ELEVENLABS_API_KEY_PARAMETER",
            "CloneCache::quality_of",
            "BlobStore::get_bytes runs/ (the pack's report)",
            "BlobStore::exists runs/ (a phrase not spoken yet)",
            "BlobStore::put_bytes runs/ (a phrase)",
            "BlobStore::exists runs/ (a phrase an earlier attempt spoke)",
            "BlobStore::download_to runs/ (that phrase)",
            "BlobStore::put_bytes runs/ (the score)",
            "CloneCache::set_quality",
            "CloneCache::clone_of",
            "VoiceLibrary::model",
            "VoiceLibrary::save_model",
            "CloneCache::set_quality (a named person's voice)",
        ],
    },
    Row {
        principal: "ReconcileVoicesFunction",
        source: "functions/reconcile-voices/src/{main.rs, handler.rs handle}, clone-voice retire/mark_evicted, core library::ops::voice_gone",
        operations: &[
            "ssm_secret ELEVENLABS_API_KEY_PARAMETER",
            "CloneCache::clones",
            "CloneCache::evict_clone",
            "VoiceLibrary::models",
            "VoiceLibrary::model",
            "VoiceLibrary::save_model",
            "VoiceLibrary::record_audit",
            "VoiceLibrary::active_voice",
            "VoiceLibrary::models_of",
            "VoiceLibrary::set_active",
            "CloneCache::clone_of",
            "CloneCache::put_clone",
            "VoiceLibrary::set_active (none left)",
            "BlobStore::move_to runs/ → deleted/ (a deleted model's pack)",
            "BlobStore::move_to runs/ (a pack file already expired)",
        ],
    },
    Row {
        principal: "SynthesizeSpeechFunction",
        source: "functions/synthesize-speech/src/{main.rs, handler.rs handle}",
        operations: &[
            "ssm_secret ELEVENLABS_API_KEY_PARAMETER",
            "BlobStore::exists tts/ (the probe: a listing of its own key, absent)",
            "BlobStore::put_bytes tts/",
            "BlobStore::exists tts/ (the probe, present)",
            "BlobStore::get_bytes tts/ (a cached record)",
            "VoiceLibrary::model (a request naming a voice model)",
            "People::consent (its person's, to speech)",
            "VoiceLibrary::save_model (its use counted)",
        ],
    },
    Row {
        principal: "TransitionCallFunction",
        source: "functions/transition-call/src/{main.rs, handler.rs handle, ring}",
        operations: &[
            "ssm_secret ELEVENLABS_API_KEY_PARAMETER",
            "CallLog::call",
            "CallLog::log_event",
            "CallLog::save_call",
        ],
    },
    Row {
        principal: "WebhookIntakeFunction",
        source: "functions/webhook-intake/src/{main.rs, handler.rs, threecx.rs, elevenlabs.rs, conversation_audio.rs}",
        operations: &[
            "ssm_secret THREECX_WEBHOOK_SECRET_PARAMETER",
            "ssm_secret ELEVENLABS_WEBHOOK_SECRET_PARAMETER",
            "ssm_secret ELEVENLABS_INITIATION_SECRET_PARAMETER",
            "ssm_secret ELEVENLABS_API_KEY_PARAMETER",
            "WebhookArchive::keep webhooks/ (BlobStore::put_bytes)",
            "CallLog::claim_call",
            "CallLog::claim_call (a duplicate delivery)",
            "CloneCache::clone_of",
            "SampleLog::current_sample",
            "CallLog::call",
            "CallLog::save_call",
            "RunLog::run",
            "RunLog::create_run",
            "RunStarter::start",
            "CloneCache::touch_clone",
            "CallLog::log_event",
            "BlobStore::put_bytes webhooks/ (a transcript)",
            "People::consent",
            "BlobStore::put_bytes inbox/recordings/ (a CallEnded's recording request)",
            "BlobStore::put_bytes inbox/conversations/ (a conversation's half)",
            "BlobStore::get_bytes inbox/conversations/ (the other half, not there: NotFound)",
            "BlobStore::get_bytes inbox/conversations/ (the other half)",
            "BlobStore::exists samples/ (the caller's turns, not stored yet)",
            "BlobStore::put_bytes samples/ (the caller's turns)",
            "BlobStore::delete_versions inbox/conversations/ (a half settled)",
            "S3 DeleteObject with its versionId inbox/conversations/",
        ],
    },
    Row {
        principal: "FetchRecordingFunction",
        source: "functions/fetch-recording/src/{main.rs, handler.rs fetch_recording, note, settle}",
        operations: &[
            "ssm_secret PBX_RECORDING_CREDENTIALS_PARAMETER",
            "BlobStore::get_bytes inbox/recordings/ (the request)",
            "CallLog::call",
            "People::consent",
            "BlobStore::upload_from samples/ (the recording)",
            "CallLog::save_call",
            "BlobStore::delete_versions inbox/recordings/ (the request settled)",
            "S3 DeleteObject with its versionId inbox/recordings/",
            "BlobStore::get_bytes inbox/recordings/ (a redelivered event: NotFound)",
        ],
    },
    Row {
        principal: "FetchSampleFunction",
        source: "functions/fetch-sample/src/{main.rs, handler.rs fetch_sample, refusal, store, save, settle}",
        operations: &[
            "BlobStore::get_bytes inbox/url-samples/ (the request)",
            "BlobStore::get_bytes samples/ (the sample's record, not there yet: NotFound)",
            "People::person",
            "People::consent",
            "BlobStore::put_bytes samples/ (the sample's record)",
            "BlobStore::get_bytes samples/ (the sample's record)",
            "BlobStore::exists inbox/url-samples/ (the request, checked again)",
            "BlobStore::upload_from samples/ (the audio)",
            "BlobStore::delete_versions inbox/url-samples/ (the request settled)",
            "S3 DeleteObject with its versionId inbox/url-samples/",
            "BlobStore::get_bytes inbox/url-samples/ (a redelivered event: NotFound)",
        ],
    },
    Row {
        principal: "ApiFunction",
        source: "functions/api/src/{main.rs, handler.rs route, health, library.rs}, crates/core/src/{speaker_accept.rs, library/ops.rs}",
        operations: &[
            "RateLimiter::hit",
            "CallLog::events_between",
            "CloneCache::clone_of",
            "RunLog::latest_run",
            "CallLog::call",
            "CallLog::call_events",
            "CallLog::calls_of",
            "RunLog::run",
            "CloneCache::clone_log",
            "CloneCache::quality_of",
            "ReferenceVoices::reference_voice",
            "ReferenceVoices::put_reference_voice",
            "ssm_secret ELEVENLABS_API_KEY_PARAMETER",
            "VoiceLibrary::models",
            "VoiceLibrary::model",
            "VoiceLibrary::models_of",
            "VoiceLibrary::active_voice",
            "VoiceLibrary::save_model",
            "VoiceLibrary::set_active",
            "CloneCache::put_clone",
            "VoiceLibrary::record_audit",
            "VoiceLibrary::audit_of",
            "VoiceLibrary::set_active (none left)",
            "CloneCache::evict_clone",
            "BlobStore::exists samples/ (the recording a model is asked for from)",
            "BlobStore::upload_url samples/ (a person's new recording)",
            "BlobStore::put_bytes samples/ (a URL sample's record)",
            "BlobStore::put_bytes inbox/url-samples/ (a URL sample's request)",
            "BlobStore::get_bytes samples/ (a URL sample's record, asked for)",
            "BlobStore::get_bytes samples/ (a URL sample that is not there: NotFound)",
            "RunLog::create_run",
            "RunStarter::start",
            "BlobStore::exists runs/ (a pack file to export)",
            "BlobStore::download_to runs/ (that file)",
            "BlobStore::upload_from exports/ (the archive)",
            "BlobStore::upload_from backups/ (a backup's archive)",
            "BlobStore::put_bytes backups/ (its record)",
            "BlobStore::get_bytes backups/ (the record, to restore)",
            "BlobStore::download_to backups/ (the archive, to restore)",
            "BlobStore::download_to exports/ (what the export's link serves)",
            "BlobStore::move_to runs/ → deleted/ (a deleted model's pack)",
            "BlobStore::move_to runs/ (a pack file already expired)",
            "CloneCache::clones (analytics: the calls answered in the models' voices)",
            "People::create_person",
            "People::person",
            "People::save_consent",
            "People::consent",
            "ssm_secret ERASURE_HASH_KEY_PARAMETER",
            "People::save_erasure",
            "People::erasures",
            "RunLog::runs_of",
            "BlobStore::delete_prefix samples/ (an erasure: every version)",
            "BlobStore::delete_prefix inbox/recordings/",
            "BlobStore::delete_prefix inbox/url-samples/",
            "BlobStore::delete_prefix runs/",
            "BlobStore::delete_prefix deleted/",
            "BlobStore::delete_prefix exports/",
            "BlobStore::delete_prefix tts/",
            "BlobStore::delete_versions webhooks/ (a transcript)",
            "BlobStore::keys webhooks/ (the bodies of a call's day)",
            "BlobStore::get_bytes webhooks/ (a body read to see whom it names)",
            "BlobStore::delete_versions webhooks/ (a body that names them)",
            "BlobStore::delete_versions inbox/conversations/ (a half still waiting)",
            "S3 DeleteObject with its versionId samples/",
            "S3 DeleteObject with its versionId inbox/",
            "S3 DeleteObject with its versionId inbox/",
            "S3 DeleteObject with its versionId inbox/",
            "S3 DeleteObject with its versionId runs/",
            "S3 DeleteObject with its versionId deleted/",
            "S3 DeleteObject with its versionId exports/",
            "S3 DeleteObject with its versionId tts/",
            "S3 DeleteObject with its versionId webhooks/",
            "S3 DeleteObject with its versionId webhooks/",
            "People::erase_records",
        ],
    },
    Row {
        principal: "CloneRunStateMachine",
        source: "statemachine/clone-run.asl.json RecordSuccess/RecordFailure (what RunLog::finish_run writes)",
        operations: &["RunLog::finish_run"],
    },
];

/// Functions that read objects which may be missing, with the prefix they read under. S3 answers
/// a missing key with 404 only to a caller allowed `s3:ListBucket` there, and with 403 to
/// anyone else, which the adapters report as a permission error (`StorageError::Denied`).
/// - synthesize-speech probes `tts/{hash}.json`: NotFound is its cache miss, a 403 fails every
///   first request;
/// - webhook-intake reads the other half of a conversation (`inbox/conversations/`): not there
///   yet is the normal case of the first half to arrive;
/// - extract-audio reads the uploaded sample (`samples/`: the caller may have deleted it since),
///   segment-audio and clone-voice read the run's files (`runs/`: the lifecycle rule expires
///   them): a missing object is bad input for the run (NotFound), not a broken deployment.
const PROBES: &[(&str, &str)] = &[
    ("SynthesizeSpeechFunction", "tts/"),
    ("ExtractAudioFunction", "samples/"),
    ("SegmentAudioFunction", "runs/"),
    ("CloneVoiceFunction", "runs/"),
    ("ScoreVoiceFunction", "runs/"),
    ("ReconcileVoicesFunction", "runs/"),
    ("ApiFunction", "runs/"),
    ("WebhookIntakeFunction", "inbox/conversations/"),
    ("FetchSampleFunction", "samples/"),
    ("FetchSampleFunction", "inbox/url-samples/"),
    ("ApiFunction", "samples/"),
];

// ---------------------------------------------------------------------------------------------
// The template and the moto world, made once per test binary.

fn stack() -> &'static Stack {
    static STACK_CELL: OnceLock<Result<Stack, String>> = OnceLock::new();
    let made = STACK_CELL.get_or_init(|| {
        // The PBX asks for credentials: the conditional grant of its parameter is evaluated.
        iam::transformed_template(&workspace_root()).map(|template| {
            Stack::new(template, STACK)
                .parameter("PbxRecordingCredentialsParameter", "/echome/pbx-recording-credentials")
        })
    });
    made.as_ref().unwrap_or_else(|e| panic!("{e}"))
}

struct World {
    moto: MotoServer,
    admin: AccessKey,
    principals: BTreeMap<String, Principal>,
    /// principal (or a variant's name) → its IAM user's key.
    keys: BTreeMap<String, AccessKey>,
    /// The policies of the negative tests' variants.
    variants: BTreeMap<String, Policy>,
    bucket: String,
    table: String,
}

/// Made once (one moto server for every test of this binary); a failure is kept and reported
/// by every test rather than retried by each.
fn world() -> &'static World {
    static WORLD: OnceLock<Result<World, String>> = OnceLock::new();
    let made = WORLD.get_or_init(|| {
        // Each test has its own runtime; the world is made on a thread of its own.
        std::thread::spawn(|| {
            tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(provision())
        })
        .join()
        .map_err(|panic| {
            let text = panic.downcast_ref::<String>().cloned();
            text.or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned())).unwrap_or_default()
        })
    });
    made.as_ref().unwrap_or_else(|e| panic!("provisioning moto for the IAM contract failed: {e}"))
}

/// The negative tests' policies, made from the template's.
fn variants(principals: &BTreeMap<String, Principal>, table_arn: &str) -> BTreeMap<String, Policy> {
    let policy = |p: &str| principals[p].policy.clone();
    let mut out = BTreeMap::new();
    let no_put = policy("UploadTriggerFunction").without_action("dynamodb:PutItem");
    out.insert("upload-trigger-without-PutItem".into(), no_put.unwrap_or_else(|e| panic!("{e}")));
    let no_put = policy("SynthesizeSpeechFunction").without_action("s3:PutObject");
    out.insert("synthesize-speech-without-PutObject".into(), no_put.unwrap_or_else(|e| panic!("{e}")));
    // Query on the table instead of on its index: moto cannot tell, AWS (and the guard) can.
    let mut on_table = policy("CloneVoiceFunction");
    for st in &mut on_table.statements {
        if let Patterns::Only(resources) = &mut st.resources {
            for r in resources.iter_mut().filter(|r| r.ends_with("/index/gsi1")) {
                *r = table_arn.to_owned();
            }
        }
    }
    out.insert("clone-voice-Query-on-the-table-only".into(), on_table);
    out
}

async fn provision() -> World {
    let stack = stack();
    let principals: BTreeMap<String, Principal> = stack
        .principals()
        .unwrap_or_else(|e| panic!("reading the template's policies: {e}"))
        .into_iter()
        .map(|p| (p.logical_id.clone(), p))
        .collect();
    let table = stack.name_of("Table").unwrap_or_else(|e| panic!("{e}"));
    let bucket = stack.name_of("RecordingsBucket").unwrap_or_else(|e| panic!("{e}"));
    let machine_name = stack.name_of("CloneRunStateMachine").unwrap_or_else(|e| panic!("{e}"));
    let machine_arn = stack.reference("CloneRunStateMachine").unwrap_or_else(|e| panic!("{e}"));
    let table_arn = stack.attribute("Table", "Arn").unwrap_or_else(|e| panic!("{e}"));

    // Unauthenticated until enforce_iam: moto serves the setup with any credentials.
    let moto = MotoServer::start_with_iam(1_000_000_000);
    let setup = echome_aws::config::for_endpoint(&moto.endpoint());
    DynamoRecords::new(&setup, &table).create_table().await.expect("creating the table");
    let s3 = S3BlobStore::new(&setup);
    s3.client().create_bucket().bucket(&bucket).send().await.expect("creating the bucket");
    let created = SfnRunStarter::new(&setup, "unused")
        .client()
        .create_state_machine()
        .name(&machine_name)
        .definition(r#"{"StartAt":"Done","States":{"Done":{"Type":"Succeed"}}}"#)
        .role_arn(stack.attribute("CloneRunStateMachineRole", "Arn").unwrap())
        .send()
        .await
        .expect("creating the state machine");
    assert_eq!(created.state_machine_arn(), machine_arn, "Ref CloneRunStateMachine must name moto's machine");
    let ssm = aws_sdk_ssm::Client::new(&setup);
    let parameters: BTreeSet<&String> = principals
        .values()
        .flat_map(|p| p.environment.iter())
        .filter(|(k, _)| k.ends_with("_PARAMETER"))
        .map(|(_, v)| v)
        .collect();
    for name in parameters {
        ssm.put_parameter()
            .name(name)
            .value(secret_value(name))
            .r#type(aws_sdk_ssm::types::ParameterType::SecureString)
            .send()
            .await
            .unwrap_or_else(|e| panic!("creating the parameter {name}: {e:?}"));
    }

    let user = |name: &str, doc: serde_json::Value| {
        moto.create_user(name, &doc.to_string()).unwrap_or_else(|e| panic!("the IAM user {name}: {e}"))
    };
    let admin = user(
        "admin",
        serde_json::json!({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "*", "Resource": "*"}]}),
    );
    let mut keys = BTreeMap::new();
    for (logical, p) in &principals {
        keys.insert(logical.clone(), user(logical, p.policy.for_moto()));
    }
    let variants = variants(&principals, &table_arn);
    for (name, policy) in &variants {
        keys.insert(name.clone(), user(name, policy.for_moto()));
    }
    moto.enforce_iam();
    World { moto, admin, principals, keys, variants, bucket, table }
}

fn secret_value(parameter: &str) -> String {
    format!("value-of-{}", parameter.trim_start_matches('/').replace('/', "-"))
}

// ---------------------------------------------------------------------------------------------
// The guard: what each request needs, checked against the template's policy.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Checks {
    /// The guard's resource checks and S3's 403 for a missing key, then moto.
    GuardAndMoto,
    /// Only moto (the proof that moto itself refuses).
    MotoOnly,
}

/// What happened to one request.
#[derive(Debug, Clone)]
struct Seen {
    accesses: String,
    outcome: String,
}

#[derive(Debug, Clone)]
struct Guard {
    policy: Arc<Policy>,
    checks: Checks,
    seen: Arc<Mutex<Vec<Seen>>>,
    inner: SharedHttpClient,
}

#[derive(Debug)]
struct GuardConnector {
    guard: Guard,
    inner: SharedHttpConnector,
}

impl HttpClient for Guard {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        SharedHttpConnector::new(GuardConnector {
            guard: self.clone(),
            inner: self.inner.http_connector(settings, components),
        })
    }
}

/// The signing service in the request's credential scope.
fn service_of(request: &HttpRequest) -> Option<String> {
    let auth = request.headers().get("authorization")?;
    let scope = auth.split("Credential=").nth(1)?.split(',').next()?;
    scope.split('/').nth(3).map(str::to_owned)
}

fn accesses_of(request: &HttpRequest) -> Result<Vec<Access>, String> {
    let service = service_of(request).ok_or("an unsigned request")?;
    if service == "s3" {
        let uri = request.uri();
        let path_and_query = uri.split_once("://").map_or(uri, |(_, rest)| rest);
        let path_and_query = &path_and_query[path_and_query.find('/').unwrap_or(path_and_query.len())..];
        let (path, query) = match path_and_query.split_once('?') {
            Some((p, q)) => (p, Some(q)),
            None => (path_and_query, None),
        };
        let copy_source = request.headers().get("x-amz-copy-source");
        return iam::s3_request_accesses(stack(), request.method(), path, query, copy_source);
    }
    let target = request
        .headers()
        .get("x-amz-target")
        .ok_or_else(|| format!("a {service} request without X-Amz-Target"))?;
    iam::json_request_accesses(stack(), target, request.body().bytes().unwrap_or_default(), HASH_KEY)
}

fn refusal(s3: bool, message: &str) -> HttpResponse {
    let (status, body, content_type) = if s3 {
        let body = format!(
            r#"<?xml version="1.0" encoding="UTF-8"?><Error><Code>AccessDenied</Code><Message>{message}</Message></Error>"#
        );
        (403, body, "application/xml")
    } else {
        let body = serde_json::json!({"__type": "AccessDeniedException", "message": message}).to_string();
        (400, body, "application/x-amz-json-1.0")
    };
    let mut res = HttpResponse::new(StatusCode::try_from(status).expect("a status"), SdkBody::from(body));
    res.headers_mut().insert("content-type", content_type);
    if !s3 {
        res.headers_mut().insert("x-amzn-errortype", "AccessDeniedException");
    }
    res
}

impl HttpConnector for GuardConnector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let s3 = service_of(&request).as_deref() == Some("s3");
        let accesses = accesses_of(&request);
        let described = match &accesses {
            Ok(a) => a.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "),
            Err(e) => format!("{} {} ({e})", request.method(), request.uri()),
        };
        let seen = Arc::clone(&self.guard.seen);
        let record = move |outcome: String| {
            seen.lock().unwrap().push(Seen { accesses: described.clone(), outcome });
        };
        if self.guard.checks == Checks::GuardAndMoto {
            let accesses = match accesses {
                Ok(a) => a,
                Err(e) => {
                    record(format!("refused by the guard: {e}"));
                    return HttpConnectorFuture::ready(Ok(refusal(s3, &e)));
                }
            };
            for access in &accesses {
                let (decision, notes) = self.guard.policy.decide(access);
                if !matches!(decision, Decision::Allowed(_)) {
                    let why =
                        format!("the template's policy does not allow {access} ({decision:?}) {notes:?}");
                    record(format!("refused by the guard: {why}"));
                    return HttpConnectorFuture::ready(Ok(refusal(s3, &why)));
                }
            }
            // S3 answers a missing key with 403 unless the caller may list the bucket there.
            let missing_key_check = accesses
                .iter()
                .find(|a| a.action == "s3:GetObject")
                .and_then(|a| a.resource.strip_prefix(&format!("arn:{}:s3:::", stack().partition)))
                .and_then(|r| r.split_once('/'))
                .map(|(bucket, key)| Access::list_bucket(&stack().partition, bucket, key));
            let policy = Arc::clone(&self.guard.policy);
            let sent = self.inner.call(request);
            return HttpConnectorFuture::new(async move {
                let res = sent.await?;
                let status = res.status().as_u16();
                if status == 404
                    && let Some(list) = missing_key_check
                    && !policy.allows(&list)
                {
                    record(format!(
                        "moto 404, answered 403 as S3 does: the policy does not allow {list} (AWS would \
                         answer this missing key with 403 AccessDenied, never NoSuchKey)"
                    ));
                    return Ok(refusal(true, "missing key without s3:ListBucket"));
                }
                record(format!("moto {status}"));
                Ok(res)
            });
        }
        let sent = self.inner.call(request);
        HttpConnectorFuture::new(async move {
            let res = sent.await?;
            record(format!("moto {}", res.status().as_u16()));
            Ok(res)
        })
    }
}

/// An SDK configuration signed with `key`, whose requests go through a guard of `policy`.
fn signed(key: &AccessKey, policy: &Policy, checks: Checks) -> (SdkConfig, Arc<Mutex<Vec<Seen>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let inner = aws_smithy_http_client::Builder::new()
        .tls_provider(aws_smithy_http_client::tls::Provider::Rustls(
            aws_smithy_http_client::tls::rustls_provider::CryptoMode::AwsLc,
        ))
        .build_https();
    let guard = Guard { policy: Arc::new(policy.clone()), checks, seen: Arc::clone(&seen), inner };
    let sdk = SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .endpoint_url(world().moto.endpoint())
        .region(Region::new(iam::REGION))
        .retry_config(RetryConfig::disabled())
        .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
            &key.id,
            &key.secret,
            None,
            None,
            "iam-contract",
        )))
        .http_client(guard)
        .build();
    (sdk, seen)
}

/// The admin's configuration, for seeding what a function expects to find.
fn admin() -> SdkConfig {
    signed(&world().admin, &allow_all(), Checks::MotoOnly).0
}

fn allow_all() -> Policy {
    Policy {
        statements: vec![iam::Statement {
            origin: "admin".into(),
            sid: None,
            effect: iam::Effect::Allow,
            actions: Patterns::Only(vec!["*".into()]),
            resources: Patterns::Only(vec!["*".into()]),
            condition: None,
        }],
    }
}

// ---------------------------------------------------------------------------------------------
// Running one function's operations.

/// One function's run: each operation's outcome, and what its requests met.
struct Run {
    principal: Principal,
    sdk: SdkConfig,
    seen: Arc<Mutex<Vec<Seen>>>,
    steps: Vec<(String, Result<(), String>)>,
}

impl Run {
    fn new(logical: &str) -> Self {
        let w = world();
        let principal =
            w.principals.get(logical).cloned().unwrap_or_else(|| {
                panic!("the transformed template has no function or state machine {logical}")
            });
        let (sdk, seen) = signed(&w.keys[logical], &principal.policy, Checks::GuardAndMoto);
        Self { principal, sdk, seen, steps: Vec::new() }
    }

    /// The function's environment variable, as the template sets it.
    fn env(&self, name: &str) -> String {
        self.principal.environment.get(name).cloned().unwrap_or_else(|| {
            panic!("{} has no environment variable {name} in the template", self.principal.logical_id)
        })
    }

    fn check<T: std::fmt::Debug, E: std::fmt::Debug>(
        &mut self,
        name: &str,
        result: Result<T, E>,
        expected: impl FnOnce(&T) -> bool,
    ) {
        let outcome = match result {
            Ok(v) if expected(&v) => Ok(()),
            Ok(v) => Err(format!("succeeded with an unexpected answer: {v:?}")),
            Err(e) => Err(format!("{e:?}")),
        };
        self.steps.push((name.to_owned(), outcome));
    }

    /// A read of a key that is not there: a 404 (`NotFound`), which S3 answers only to a role
    /// allowed `s3:ListBucket` on its prefix; to any other it is a 403.
    fn check_missing(&mut self, name: &str, result: Result<Vec<u8>, StorageError>) {
        let outcome = match result {
            Err(StorageError::NotFound(_)) => Ok(()),
            other => Err(format!("expected NotFound, got {other:?}")),
        };
        self.steps.push((name.to_owned(), outcome));
    }

    /// A listing of one key (`BlobStore::exists`). moto 5.2 with IAM on miscomputes the
    /// signature of a `ListObjectsV2` whose prefix holds a `/` (every key here does) and answers
    /// SignatureDoesNotMatch; the guard has judged the request against the template's policy
    /// (s3:ListBucket with its s3:prefix condition) before it was sent, and that is the contract.
    fn check_listing(&mut self, name: &str, result: Result<bool, StorageError>, expected: bool) {
        let guard_allowed = {
            let seen = self.seen.lock().unwrap();
            seen.iter()
                .rev()
                .find(|s| s.accesses.starts_with("s3:ListBucket"))
                .is_some_and(|s| !s.outcome.contains("refused by the guard"))
        };
        let outcome = match result {
            Ok(found) if found == expected => Ok(()),
            Ok(found) => Err(format!("found = {found}, expected {expected}")),
            Err(StorageError::Failed(m)) if m.contains("SignatureDoesNotMatch") && guard_allowed => Ok(()),
            Err(e) => Err(format!("{e:?}")),
        };
        self.steps.push((name.to_owned(), outcome));
    }

    /// A presigned URL: whoever holds it acts with this role's permission, so the role's policy
    /// must allow `access`. Judged here: no request of the role's passes the guard, and moto
    /// with IAM on cannot take a presigned request (it reads an `Authorization` header, which
    /// such a request has not, and answers 500). tests/s3.rs uses such a URL on moto.
    fn check_presigned(&mut self, name: &str, url: Result<Option<String>, StorageError>, access: Access) {
        let outcome = match url {
            Ok(Some(_)) => match self.principal.policy.decide(&access).0 {
                Decision::Allowed(_) => Ok(()),
                other => Err(format!("the policy does not allow {access} ({other:?})")),
            },
            Ok(None) => Err("no URL".into()),
            Err(e) => Err(format!("{e:?}")),
        };
        self.steps.push((name.to_owned(), outcome));
    }

    /// An operation that starts with a listing (`action`: `s3:ListBucket` for `keys`,
    /// `s3:ListBucketVersions` for the deletes of every version). moto 5.2 with IAM on answers
    /// these listings SignatureDoesNotMatch (as with `exists`, above); what the contract holds
    /// is the guard's judgement of the listing against the template's policy, and the deletes
    /// that follow are checked one by one with their own requests.
    fn check_listed<T: std::fmt::Debug>(
        &mut self,
        name: &str,
        action: &str,
        result: Result<T, StorageError>,
        expected: impl FnOnce(&T) -> bool,
    ) {
        let guard_allowed = {
            let seen = self.seen.lock().unwrap();
            seen.iter()
                .rev()
                .find(|s| s.accesses.starts_with(&format!("{action} ")))
                .is_some_and(|s| !s.outcome.contains("refused by the guard"))
        };
        let outcome = match result {
            Ok(v) if expected(&v) => Ok(()),
            Ok(v) => Err(format!("succeeded with an unexpected answer: {v:?}")),
            Err(StorageError::Failed(m)) if m.contains("SignatureDoesNotMatch") && guard_allowed => Ok(()),
            Err(e) => Err(format!("{e:?}")),
        };
        self.steps.push((name.to_owned(), outcome));
    }

    async fn secret(&mut self, variable: &str) {
        let name = self.env(variable);
        let got = ssm_secret(&self.sdk, &name).await;
        self.check(&format!("ssm_secret {variable}"), got, |v| *v == secret_value(&name));
    }

    /// Fails unless every operation of the function's row ran and passed.
    fn verdict(self) {
        let row = CONTRACT
            .iter()
            .find(|r| r.principal == self.principal.logical_id)
            .unwrap_or_else(|| panic!("CONTRACT has no row for {}", self.principal.logical_id));
        let ran: Vec<&str> = self.steps.iter().map(|(n, _)| n.as_str()).collect();
        let mut problems = Vec::new();
        if ran != row.operations {
            problems.push(format!(
                "the test ran {ran:#?}\nbut CONTRACT lists {:#?}\n(keep the two the same)",
                row.operations
            ));
        }
        for (name, outcome) in &self.steps {
            if let Err(e) = outcome {
                problems.push(format!("{name}: {e}"));
            }
        }
        let seen = self.seen.lock().unwrap();
        let log: Vec<String> = seen.iter().map(|s| format!("  {} → {}", s.accesses, s.outcome)).collect();
        println!("{} ({}), requests:\n{}", self.principal.logical_id, row.source, log.join("\n"));
        if !problems.is_empty() {
            let managed = if self.principal.managed_policies.is_empty() {
                String::new()
            } else {
                format!(
                    "\n(managed policies not evaluated, they grant none of these services: {:?})",
                    self.principal.managed_policies
                )
            };
            panic!(
                "{} cannot do what its handler does with its policy in template.yaml (role {}):\n- {}\n\
                 requests:\n{}{managed}",
                self.principal.logical_id,
                self.principal.role,
                problems.join("\n- "),
                log.join("\n")
            );
        }
    }
}

fn t(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

fn caller(n: u32) -> CallerId {
    CallerId::parse(&format!("+1415555{n:04}")).unwrap()
}

fn voice() -> VoiceId {
    VoiceId::parse("voiceIamContract").unwrap()
}

/// The caller's current sample, as upload-trigger records an upload.
fn uploaded(who: &CallerId, sample: BlobRef, at: DateTime<Utc>) -> SampleRecord {
    SampleRecord {
        person: echome_core::Person::from(who.clone()),
        sample,
        version: "v1".into(),
        uploaded_at: at,
        size: 1,
        pack: None,
    }
}

fn clone_record(who: &CallerId, run: &RunId, at: DateTime<Utc>) -> CloneRecord {
    CloneRecord {
        person: echome_core::Person::from(who.clone()),
        voice_id: voice(),
        engine: "elevenlabs".into(),
        pack_digest: "abc".into(),
        run_id: run.clone(),
        created_at: at,
        last_used_at: at,
        reuse_count: 0,
        status: CloneStatus::Active,
        expires_at: (at + Duration::hours(24)).timestamp(),
    }
}

/// A caller's folder in S3 keys, without the `+`: moto (5.2, server mode) miscomputes the
/// signature of a path holding `+` or `=` once IAM is enforced (boto3's requests too), and
/// answers SignatureDoesNotMatch. IAM matches the prefix (`samples/*`), not the folder.
/// As the run left it before a function's turn (written by an admin): the pack's report, one
/// more file of 4,000 bytes under the run's prefix, and the caller's clone entry.
async fn seed_run(
    key: &impl Fn(&str) -> BlobRef,
    file: &str,
    who: &CallerId,
    run_id: &RunId,
    at: DateTime<Utc>,
) {
    let admin = admin();
    let seed = S3BlobStore::new(&admin);
    seed.put_bytes(&key("report.json"), b"{}".to_vec(), "application/json").await.expect("seeding");
    seed.put_bytes(&key(file), wav_bytes(4000), "application/octet-stream").await.expect("seeding");
    DynamoRecords::new(&admin, &world().table)
        .put_clone(&clone_record(who, run_id, at))
        .await
        .expect("seeding");
}

fn s3_folder(who: &CallerId) -> String {
    who.as_str().trim_start_matches('+').to_owned()
}

fn wav_bytes(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i % 251) as u8).collect()
}

// ---------------------------------------------------------------------------------------------
// The functions.

#[tokio::test]
async fn upload_trigger_works_with_its_template_policy() {
    let mut run = Run::new("UploadTriggerFunction");
    let records = DynamoRecords::new(&run.sdk, run.env("TABLE_NAME"));
    let starter = SfnRunStarter::new(&run.sdk, run.env("STATE_MACHINE_ARN"));
    let who = caller(101);
    let sample = BlobRef::new(run.env("BUCKET_NAME"), format!("samples/{who}/call.wav"));
    let at = t("2026-11-20T10:00:00.000Z");
    let rec = uploaded(&who, sample.clone(), at);
    // samples/emp-…/: a named person's folder counts once their record exists.
    let named = records.person(&Person::parse("emp-nobody-made").unwrap()).await;
    run.check("People::person (a named person's folder)", named, Option::is_none);
    run.check("SampleLog::record_sample", records.record_sample(&rec).await, |w| *w == SampleWrite::Newest);
    let run_id = RunId::for_upload(&who, &sample.key, "v1");
    let created =
        records.create_run(&RunRecord::started(run_id.clone(), who.clone(), sample.clone(), at)).await;
    run.check("RunLog::create_run", created, |c| *c);
    // A call's recording: the caller's earlier runs are read for short calls to join.
    run.check("RunLog::runs_of", records.runs_of(&Person::from(&who)).await, |r| {
        r == std::slice::from_ref(&run_id)
    });
    run.check("RunLog::run", records.run(&run_id).await, |r| r.is_some());
    let input =
        CloneRunInput { run_id, person: Person::from(who), sample, pack: None, call: None, combine: vec![] };
    run.check("RunStarter::start", starter.start(&input).await, |s| *s == RunStart::Started);
    run.verdict();
}

#[tokio::test]
async fn extract_audio_works_with_its_template_policy() {
    let mut run = Run::new("ExtractAudioFunction");
    let bucket = run.env("BUCKET_NAME");
    let who = caller(102);
    let sample = BlobRef::new(&bucket, format!("samples/{}/call.mp3", s3_folder(&who)));
    let content = wav_bytes(3000);
    S3BlobStore::new(&admin()).put_bytes(&sample, content.clone(), "audio/mpeg").await.expect("seeding");
    let blobs = S3BlobStore::new(&run.sdk);
    let dir = tempfile::tempdir().unwrap();
    let original = dir.path().join("original.mp3");
    run.check("BlobStore::download_to samples/", blobs.download_to(&sample, &original).await, |n| {
        *n == content.len() as u64
    });
    let source =
        BlobRef::new(&bucket, format!("{}source.wav", RunId::parse("iam-extract").unwrap().prefix()));
    run.check(
        "BlobStore::upload_from runs/",
        blobs.upload_from(&source, &original, "audio/wav").await,
        |()| true,
    );
    run.verdict();
}

#[tokio::test]
async fn segment_audio_works_with_its_template_policy() {
    let mut run = Run::new("SegmentAudioFunction");
    let bucket = run.env("BUCKET_NAME");
    let prefix = RunId::parse("iam-segment").unwrap().prefix();
    let key = |name: &str| BlobRef::new(&bucket, format!("{prefix}{name}"));
    let seed = S3BlobStore::new(&admin());
    for name in ["analysis.wav", "source.wav"] {
        seed.put_bytes(&key(name), wav_bytes(8192), "audio/wav").await.expect("seeding");
    }
    let blobs = S3BlobStore::new(&run.sdk);
    let dir = tempfile::tempdir().unwrap();
    let analysis = dir.path().join("analysis.wav");
    run.check(
        "BlobStore::download_to runs/",
        blobs.download_to(&key("analysis.wav"), &analysis).await,
        |n| *n == 8192,
    );
    run.check("BlobStore::read_range runs/", blobs.read_range(&key("source.wav"), 0, 4096).await, |b| {
        b.len() == 4096
    });
    let sample = key("sample_1.wav");
    run.check(
        "BlobStore::upload_from runs/",
        blobs.upload_from(&sample, &analysis, "audio/wav").await,
        |()| true,
    );
    let report = blobs.put_bytes(&key("report.json"), b"{}".to_vec(), "application/json").await;
    run.check("BlobStore::put_bytes runs/", report, |()| true);
    run.verdict();
}

/// A model of `who`'s voice made by `run_id`, and the pointer naming it active.
fn library_model(who: &CallerId, run_id: &RunId, at: DateTime<Utc>) -> (VoiceModel, ActiveVoice) {
    let m = echome_testkit::fixtures::voice_model(
        run_id.as_str(),
        who.as_str(),
        "system",
        voice().as_str(),
        None,
        at,
    );
    let a = ActiveVoice {
        person: m.person.clone(),
        model_id: m.id.clone(),
        voice_id: voice(),
        provider: m.provider.clone(),
        by_hand: false,
        by: "system".into(),
        since: at,
    };
    (m, a)
}

fn audit_event(m: &VoiceModel, at: DateTime<Utc>) -> AuditEvent {
    AuditEvent {
        at,
        actor: "system".into(),
        action: AuditAction::Create,
        model_id: m.id.clone(),
        person: m.person.clone(),
        detail: serde_json::json!({}),
    }
}

#[tokio::test]
async fn clone_voice_works_with_its_template_policy() {
    let mut run = Run::new("CloneVoiceFunction");
    let bucket = run.env("BUCKET_NAME");
    let run_id = RunId::parse("iam-clone").unwrap();
    let key = |name: &str| BlobRef::new(&bucket, format!("{}{name}", run_id.prefix()));
    let who = caller(104);
    let at = t("2026-11-20T10:00:00.000Z");
    let admin = admin();
    seed_run(&key, "sample_1.wav", &who, &run_id, at).await;

    run.secret("ELEVENLABS_API_KEY_PARAMETER").await;
    let blobs = S3BlobStore::new(&run.sdk);
    let cache = DynamoRecords::new(&run.sdk, run.env("TABLE_NAME"));
    run.check(
        "BlobStore::get_bytes runs/ (the pack's report)",
        blobs.get_bytes(&key("report.json")).await,
        |b| b == b"{}",
    );
    run.check("CloneCache::clone_of", cache.clone_of(&Person::from(&who)).await, Option::is_some);
    run.check(
        "CloneCache::touch_clone",
        cache
            .touch_clone(&Person::from(&who), &voice(), at + Duration::minutes(1), Duration::hours(24))
            .await,
        |t| *t,
    );
    let log = CloneLogRecord {
        run_id: run_id.clone(),
        person: echome_core::Person::from(who.clone()),
        engine: "elevenlabs".into(),
        voice_id: None,
        status: "reused".into(),
        latency_ms: 1,
        bytes_uploaded: 0,
        error: None,
        at,
        speaker_check: None,
        note: None,
    };
    run.check("CloneCache::log_clone", cache.log_clone(&log).await, |()| true);
    // Whose voice it is: the caller's reference voice is read, then replaced by the new pack's.
    run.check(
        "ReferenceVoices::reference_voice",
        cache.reference_voice(&Person::from(&who)).await,
        Option::is_none,
    );
    let reference = echome_core::ReferenceVoice {
        person: echome_core::Person::from(who.clone()),
        voiceprint: echome_core::Voiceprint { model: "ge2e".into(), embedding: vec![0.6, 0.8] },
        report: key("report.json"),
        run_id: run_id.clone(),
        recorded_at: at,
        accepted_by: None,
    };
    run.check("ReferenceVoices::put_reference_voice", cache.put_reference_voice(&reference).await, |()| true);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sample_1.wav");
    let got = blobs.download_to(&key("sample_1.wav"), &path).await;
    run.check("BlobStore::download_to runs/ (the pack's samples)", got, |n| *n == 4000);
    run.check("CloneCache::clones", cache.clones().await, |c| {
        c.iter().any(|c| c.person.caller() == Some(&who))
    });
    // Retiring the victim of a full account, then recording the new voice: both are puts.
    let evicted = CloneRecord { status: CloneStatus::Evicted, ..clone_record(&who, &run_id, at) };
    run.check("CloneCache::put_clone", cache.put_clone(&evicted).await, |()| true);
    // Freeing a slot marks the victim's entry evicted, only while it holds that voice.
    run.check("CloneCache::evict_clone", cache.evict_clone(&Person::from(&who), &voice()).await, |marked| {
        *marked
    });
    // The pack is kept with the recording it was cut from, for the caller's next clone.
    let sample = BlobRef::new(&bucket, format!("samples/{}/call.wav", who.as_str()));
    let on_file = uploaded(&who, sample.clone(), at);
    DynamoRecords::new(&admin, &world().table).record_sample(&on_file).await.expect("seeding");
    let pack = echome_testkit::fixtures::pack(&bucket, run_id.as_str());
    run.check(
        "SampleLog::record_pack",
        cache.record_pack(&Person::from(&who), &sample, &pack).await,
        |kept| *kept,
    );
    let expired = BlobRef::new(&bucket, "runs/iam-expired/report.json");
    run.check(
        "BlobStore::get_bytes runs/ (a kept pack's expired report: NotFound, so PackGone)",
        match blobs.get_bytes(&expired).await {
            Err(e) => Ok(e.code()),
            Ok(_) => Err("an object that was never written was read"),
        },
        |code| *code == "not_found",
    );
    // The new voice is a model of the library, made the caller's active one; the older voice's
    // model is marked deleted when it is replaced.
    let (m, active) = library_model(&who, &run_id, at);
    run.check("VoiceLibrary::create_model", cache.create_model(&m).await, |made| *made);
    run.check("VoiceLibrary::record_audit", cache.record_audit(&audit_event(&m, at)).await, |()| true);
    run.check("VoiceLibrary::active_voice", cache.active_voice(&m.person).await, Option::is_none);
    let stored = cache.model(&m.id).await;
    run.check("VoiceLibrary::model", stored.clone(), Option::is_some);
    run.check("VoiceLibrary::set_active", cache.set_active(&m.person, Some(&active), None).await, |set| *set);
    let deleted = VoiceModel { status: ModelStatus::Deleted, version: 1, ..m.clone() };
    run.check("VoiceLibrary::save_model", cache.save_model(&deleted).await, |saved| *saved);
    run.check("VoiceLibrary::models_of", cache.models_of(&m.person).await, |ms| ms.len() == 1);
    let cleared = cache.set_active(&m.person, None, Some(&m.id)).await;
    run.check("VoiceLibrary::set_active (none left)", cleared, |set| *set);
    // Before anything reaches the provider: the caller's consent (CONSENT_POLICY).
    run.check("People::consent", cache.consent(&Person::Caller(who.clone())).await, Option::is_none);
    run.verdict();
}

#[tokio::test]
async fn score_voice_works_with_its_template_policy() {
    let mut run = Run::new("ScoreVoiceFunction");
    let bucket = run.env("BUCKET_NAME");
    let run_id = RunId::parse("iam-score").unwrap();
    let key = |name: &str| BlobRef::new(&bucket, format!("{}{name}", run_id.prefix()));
    let who = caller(105);
    let at = t("2026-11-20T10:00:00.000Z");
    let admin = admin();
    seed_run(&key, "quality/phrase-1.mp3", &who, &run_id, at).await;

    run.secret("ELEVENLABS_API_KEY_PARAMETER").await;
    let blobs = S3BlobStore::new(&run.sdk);
    let cache = DynamoRecords::new(&run.sdk, run.env("TABLE_NAME"));
    run.check(
        "CloneCache::quality_of",
        cache.quality_of(&Person::from(&who), &voice()).await,
        Option::is_none,
    );
    run.check(
        "BlobStore::get_bytes runs/ (the pack's report)",
        blobs.get_bytes(&key("report.json")).await,
        |b| b == b"{}",
    );
    let spoken = blobs.exists(&key("quality/phrase-2.mp3")).await;
    run.check_listing("BlobStore::exists runs/ (a phrase not spoken yet)", spoken, false);
    run.check(
        "BlobStore::put_bytes runs/ (a phrase)",
        blobs.put_bytes(&key("quality/phrase-2.mp3"), wav_bytes(100), "audio/mpeg").await,
        |()| true,
    );
    let spoken = blobs.exists(&key("quality/phrase-1.mp3")).await;
    run.check_listing("BlobStore::exists runs/ (a phrase an earlier attempt spoke)", spoken, true);
    let dir = tempfile::tempdir().unwrap();
    let got = blobs.download_to(&key("quality/phrase-1.mp3"), &dir.path().join("p.mp3")).await;
    run.check("BlobStore::download_to runs/ (that phrase)", got, |n| *n == 4000);
    run.check(
        "BlobStore::put_bytes runs/ (the score)",
        blobs.put_bytes(&key("quality/score.json"), b"{}".to_vec(), "application/json").await,
        |()| true,
    );
    let quality =
        echome_testkit::fixtures::quality_score(voice().as_str(), run_id.as_str(), &Default::default(), at);
    run.check("CloneCache::set_quality", cache.set_quality(&Person::from(&who), &quality).await, |stored| {
        *stored
    });
    let read = DynamoRecords::new(&admin, &world().table).quality_of(&Person::from(&who), &voice()).await;
    assert_eq!(read.expect("reading the score back"), Some(quality.clone()), "stored with the voice");
    // And with the voice's model.
    let (m, _) = library_model(&who, &run_id, at);
    DynamoRecords::new(&admin, &world().table).create_model(&m).await.expect("seeding");
    run.check("CloneCache::clone_of", cache.clone_of(&Person::from(&who)).await, Option::is_some);
    let stored = cache.model(&m.id).await;
    run.check("VoiceLibrary::model", stored, Option::is_some);
    let scored = VoiceModel { quality: Some(quality.clone()), version: 1, ..m };
    run.check("VoiceLibrary::save_model", cache.save_model(&scored).await, |saved| *saved);
    // A named person's voice records live apart from callers' (NAMED#): scored the same way.
    let anna = Person::parse("emp-iam").unwrap();
    let entry = CloneRecord {
        person: anna.clone(),
        ..echome_testkit::fixtures::clone_entry("+14155550105", voice().as_str(), at)
    };
    DynamoRecords::new(&admin, &world().table).put_clone(&entry).await.expect("seeding");
    let named = cache.set_quality(&anna, &quality).await;
    run.check("CloneCache::set_quality (a named person's voice)", named, |stored| *stored);
    run.verdict();
}

#[tokio::test]
async fn reconcile_voices_works_with_its_template_policy() {
    let mut run = Run::new("ReconcileVoicesFunction");
    let run_id = RunId::parse("iam-reconcile").unwrap();
    let who = caller(106);
    let at = t("2026-11-20T10:00:00.000Z");
    DynamoRecords::new(&admin(), &world().table)
        .put_clone(&clone_record(&who, &run_id, at))
        .await
        .expect("seeding");
    run.secret("ELEVENLABS_API_KEY_PARAMETER").await;
    let cache = DynamoRecords::new(&run.sdk, run.env("TABLE_NAME"));
    run.check("CloneCache::clones", cache.clones().await, |c| {
        c.iter().any(|c| c.person.caller() == Some(&who))
    });
    run.check("CloneCache::evict_clone", cache.evict_clone(&Person::from(&who), &voice()).await, |marked| {
        *marked
    });
    // The library: every model; one whose voice went is deleted, the next best activated.
    let (m, active) = library_model(&who, &run_id, at);
    let seed = DynamoRecords::new(&admin(), &world().table);
    seed.create_model(&m).await.expect("seeding");
    seed.set_active(&m.person, Some(&active), None).await.expect("seeding");
    run.check("VoiceLibrary::models", cache.models(100, None).await, |p| {
        p.models.iter().any(|x| x.id == m.id)
    });
    run.check("VoiceLibrary::model", cache.model(&m.id).await, Option::is_some);
    let deleted = VoiceModel { status: ModelStatus::Deleted, version: 1, ..m.clone() };
    run.check("VoiceLibrary::save_model", cache.save_model(&deleted).await, |saved| *saved);
    run.check("VoiceLibrary::record_audit", cache.record_audit(&audit_event(&m, at)).await, |()| true);
    run.check("VoiceLibrary::active_voice", cache.active_voice(&m.person).await, Option::is_some);
    run.check("VoiceLibrary::models_of", cache.models_of(&m.person).await, |ms| !ms.is_empty());
    run.check(
        "VoiceLibrary::set_active",
        cache.set_active(&m.person, Some(&active), Some(&m.id)).await,
        |s| *s,
    );
    run.check("CloneCache::clone_of", cache.clone_of(&Person::from(&who)).await, Option::is_some);
    run.check("CloneCache::put_clone", cache.put_clone(&clone_record(&who, &run_id, at)).await, |()| true);
    let cleared = cache.set_active(&m.person, None, Some(&m.id)).await;
    run.check("VoiceLibrary::set_active (none left)", cleared, |set| *set);
    let bucket = stack().name_of("RecordingsBucket").unwrap_or_else(|e| panic!("{e}"));
    check_moves(&mut run, &bucket, &run_id).await;
    run.verdict();
}

/// A deleted model's pack file moved under deleted/, and one that expired already a miss.
async fn check_moves(run: &mut Run, bucket: &str, run_id: &RunId) {
    let blobs = S3BlobStore::new(&run.sdk);
    let pack = BlobRef::new(bucket, format!("{}sample_2.wav", run_id.prefix()));
    S3BlobStore::new(&admin()).put_bytes(&pack, wav_bytes(100), "audio/wav").await.expect("seeding");
    let to = BlobRef::new(bucket, format!("deleted/vm-{run_id}/sample_2.wav"));
    let moved = blobs.move_to(&pack, &to).await;
    run.check("BlobStore::move_to runs/ → deleted/ (a deleted model's pack)", moved, |m| *m);
    let there = S3BlobStore::new(&admin());
    assert_eq!(there.get_bytes(&to).await.expect("the moved copy").len(), wav_bytes(100).len());
    let original = there.get_bytes(&pack).await;
    assert!(matches!(original, Err(StorageError::NotFound(_))), "{pack} left runs/: {original:?}");
    let expired = BlobRef::new(bucket, format!("{}sample_9.wav", run_id.prefix()));
    let gone = blobs.move_to(&expired, &to).await;
    run.check_listing("BlobStore::move_to runs/ (a pack file already expired)", gone, false);
}

#[tokio::test]
async fn synthesize_speech_works_with_its_template_policy() {
    let mut run = Run::new("SynthesizeSpeechFunction");
    let bucket = run.env("BUCKET_NAME");
    run.secret("ELEVENLABS_API_KEY_PARAMETER").await;
    let blobs = S3BlobStore::new(&run.sdk);
    let record = BlobRef::new(&bucket, "tts/iamcontract0123456789abcdef.json");
    run.check_listing(
        "BlobStore::exists tts/ (the probe: a listing of its own key, absent)",
        blobs.exists(&record).await,
        false,
    );
    let audio = record.with_key("tts/iamcontract0123456789abcdef.mp3");
    let stored = match blobs.put_bytes(&audio, vec![1, 2, 3], "audio/mpeg").await {
        Ok(()) => blobs.put_bytes(&record, b"{}".to_vec(), "application/json").await,
        Err(e) => Err(e),
    };
    run.check("BlobStore::put_bytes tts/", stored, |()| true);
    run.check_listing("BlobStore::exists tts/ (the probe, present)", blobs.exists(&record).await, true);
    run.check("BlobStore::get_bytes tts/ (a cached record)", blobs.get_bytes(&record).await, |b| b == b"{}");
    let run_id = RunId::parse("iam-speech").unwrap();
    let (m, _) = library_model(&caller(109), &run_id, t("2026-11-20T10:00:00.000Z"));
    DynamoRecords::new(&admin(), &world().table).create_model(&m).await.expect("seeding");
    let records = DynamoRecords::new(&run.sdk, run.env("TABLE_NAME"));
    run.check(
        "VoiceLibrary::model (a request naming a voice model)",
        records.model(&m.id).await,
        Option::is_some,
    );
    run.check("People::consent (its person's, to speech)", records.consent(&m.person).await, Option::is_none);
    let used =
        VoiceModel { usage: echome_core::library::Usage { uses: 1, ..m.usage }, version: 1, ..m.clone() };
    run.check("VoiceLibrary::save_model (its use counted)", records.save_model(&used).await, |saved| *saved);
    run.verdict();
}

#[tokio::test]
async fn transition_call_works_with_its_template_policy() {
    let mut run = Run::new("TransitionCallFunction");
    let who = caller(106);
    let call_id = CallId::parse("iam-transition").unwrap();
    let at = t("2026-11-20T10:00:00.000Z");
    let seed = DynamoRecords::new(&admin(), &world().table);
    seed.claim_call(&CallRecord::new(call_id.clone(), who, "+18005550199".into(), at))
        .await
        .expect("seeding");

    run.secret("ELEVENLABS_API_KEY_PARAMETER").await;
    let calls = DynamoRecords::new(&run.sdk, run.env("TABLE_NAME"));
    let found = calls.call(&call_id).await;
    let current = found.as_ref().ok().cloned().flatten();
    run.check("CallLog::call", found, Option::is_some);
    let ev = CallEventRecord::new(CallEventKind::CloneReady, Some(&call_id), at);
    run.check("CallLog::log_event", calls.log_event(&ev).await, |()| true);
    match current {
        Some(mut c) => {
            c.note = Some("handed over".into());
            run.check("CallLog::save_call", calls.save_call(&c).await, |saved| *saved);
        }
        None => {
            run.check::<(), _>("CallLog::save_call", Err("no call to save (CallLog::call failed)"), |_| true)
        }
    }
    run.verdict();
}

#[tokio::test]
async fn webhook_intake_works_with_its_template_policy() {
    let mut run = Run::new("WebhookIntakeFunction");
    let bucket = run.env("BUCKET_NAME");
    let who = caller(107);
    let at = t("2026-11-20T10:00:00.000Z");
    let run_id = RunId::for_call(&CallId::parse("iam-intake").unwrap());
    let sample = BlobRef::new(&bucket, format!("samples/{who}/call.wav"));
    let admin = admin();
    let seed = DynamoRecords::new(&admin, &world().table);
    let rec = uploaded(&who, sample.clone(), at);
    seed.record_sample(&rec).await.expect("seeding");
    seed.put_clone(&clone_record(&who, &run_id, at)).await.expect("seeding");

    for variable in [
        "THREECX_WEBHOOK_SECRET_PARAMETER",
        "ELEVENLABS_WEBHOOK_SECRET_PARAMETER",
        "ELEVENLABS_INITIATION_SECRET_PARAMETER",
        "ELEVENLABS_API_KEY_PARAMETER",
    ] {
        run.secret(variable).await;
    }
    let blobs = S3BlobStore::new(&run.sdk);
    let records = DynamoRecords::new(&run.sdk, run.env("TABLE_NAME"));
    let starter = SfnRunStarter::new(&run.sdk, run.env("STATE_MACHINE_ARN"));
    let archive = BlobArchive { blobs: blobs.clone(), bucket: bucket.clone() };
    let body = br#"{"event_type":"IncomingCall"}"#;
    let kept = archive.keep(&Delivery { source: "3cx", received_at: at, body }).await;
    run.check("WebhookArchive::keep webhooks/ (BlobStore::put_bytes)", kept, |k| {
        k.starts_with("webhooks/3cx/")
    });
    let call_id = CallId::parse("iam-intake").unwrap();
    let fresh = CallRecord::new(call_id.clone(), who.clone(), "+18005550199".into(), at);
    run.check("CallLog::claim_call", records.claim_call(&fresh).await, |c| matches!(c, CallClaim::New(_)));
    let again = records.claim_call(&fresh).await;
    run.check("CallLog::claim_call (a duplicate delivery)", again, |c| matches!(c, CallClaim::Existing(_)));
    run.check("CloneCache::clone_of", records.clone_of(&Person::from(&who)).await, Option::is_some);
    run.check(
        "SampleLog::current_sample",
        records.current_sample(&Person::from(&who)).await,
        Option::is_some,
    );
    let found = records.call(&call_id).await;
    let current = found.as_ref().ok().cloned().flatten();
    run.check("CallLog::call", found, Option::is_some);
    match current {
        Some(mut c) => {
            c.run_id = Some(run_id.clone());
            run.check("CallLog::save_call", records.save_call(&c).await, |saved| *saved);
        }
        None => {
            run.check::<(), _>("CallLog::save_call", Err("no call to save (CallLog::call failed)"), |_| true)
        }
    }
    run.check("RunLog::run", records.run(&run_id).await, Option::is_none);
    let created =
        records.create_run(&RunRecord::started(run_id.clone(), who.clone(), sample.clone(), at)).await;
    run.check("RunLog::create_run", created, |c| *c);
    let input = CloneRunInput {
        run_id,
        person: echome_core::Person::from(who.clone()),
        sample,
        pack: None,
        call: None,
        combine: vec![],
    };
    run.check("RunStarter::start", starter.start(&input).await, |s| *s == RunStart::Started);
    let touched = records.touch_clone(&Person::from(&who), &voice(), at, Duration::hours(24)).await;
    run.check("CloneCache::touch_clone", touched, |t| *t);
    let ev = CallEventRecord::new(CallEventKind::Incoming, Some(&call_id), at);
    run.check("CallLog::log_event", records.log_event(&ev).await, |()| true);
    let transcript = BlobRef::new(&bucket, "webhooks/transcripts/conv_iam.json");
    let put = blobs.put_bytes(&transcript, b"[]".to_vec(), "application/json").await;
    run.check("BlobStore::put_bytes webhooks/ (a transcript)", put, |()| true);
    // A caller about to be cloned: their consent (CONSENT_POLICY).
    run.check("People::consent", records.consent(&Person::Caller(who.clone())).await, Option::is_none);
    let request = BlobRef::new(&bucket, format!("inbox/recordings/{}/iam-intake.json", s3_folder(&who)));
    let put = blobs.put_bytes(&request, b"{}".to_vec(), "application/json").await;
    run.check("BlobStore::put_bytes inbox/recordings/ (a CallEnded's recording request)", put, |()| true);
    // A conversation's two halves (conversation_audio.rs): one put, the other looked for.
    let audio = BlobRef::new(&bucket, "inbox/conversations/conv_iam.mp3");
    let turns = BlobRef::new(&bucket, "inbox/conversations/conv_iam.json");
    let put = blobs.put_bytes(&audio, vec![0xFF, 0xFB, 0x90, 0x00], "audio/mpeg").await;
    run.check("BlobStore::put_bytes inbox/conversations/ (a conversation's half)", put, |()| true);
    run.check_missing(
        "BlobStore::get_bytes inbox/conversations/ (the other half, not there: NotFound)",
        blobs.get_bytes(&turns).await,
    );
    let got = blobs.get_bytes(&audio).await;
    run.check("BlobStore::get_bytes inbox/conversations/ (the other half)", got, |b| b.len() == 4);
    let caller_turns = BlobRef::new(&bucket, format!("samples/{}/calls/conv_iam.mp3", s3_folder(&who)));
    let found = blobs.exists(&caller_turns).await;
    let name = "BlobStore::exists samples/ (the caller's turns, not stored yet)";
    run.check_listed(name, "s3:ListBucket", found, |e| !*e);
    let put = blobs.put_bytes(&caller_turns, vec![0xFF, 0xFB], "audio/mpeg").await;
    run.check("BlobStore::put_bytes samples/ (the caller's turns)", put, |()| true);
    let deleted = blobs.delete_versions(&audio).await;
    let name = "BlobStore::delete_versions inbox/conversations/ (a half settled)";
    run.check_listed(name, "s3:ListBucketVersions", deleted, |n| *n >= 1);
    let sent = blobs.client().delete_object().bucket(&bucket).key(&audio.key).version_id("null").send().await;
    run.check("S3 DeleteObject with its versionId inbox/conversations/", sent, |_| true);
    run.verdict();
}

#[tokio::test]
async fn fetch_recording_works_with_its_template_policy() {
    let mut run = Run::new("FetchRecordingFunction");
    let bucket = run.env("BUCKET_NAME");
    let who = caller(111);
    let at = t("2026-11-20T10:00:00.000Z");
    let call_id = CallId::parse("iam-fetch").unwrap();
    let request = BlobRef::new(&bucket, format!("inbox/recordings/{}/iam-fetch.json", s3_folder(&who)));
    let admin = admin();
    S3BlobStore::new(&admin).put_bytes(&request, b"{}".to_vec(), "application/json").await.expect("seeding");
    let seed = DynamoRecords::new(&admin, &world().table);
    seed.claim_call(&CallRecord::new(call_id.clone(), who.clone(), "+18005550199".into(), at))
        .await
        .expect("seeding");

    run.secret("PBX_RECORDING_CREDENTIALS_PARAMETER").await;
    let blobs = S3BlobStore::new(&run.sdk);
    let records = DynamoRecords::new(&run.sdk, run.env("TABLE_NAME"));
    let got = blobs.get_bytes(&request).await;
    run.check("BlobStore::get_bytes inbox/recordings/ (the request)", got, |b| b == b"{}");
    let found = records.call(&call_id).await;
    let current = found.as_ref().ok().cloned().flatten();
    run.check("CallLog::call", found, Option::is_some);
    run.check("People::consent", records.consent(&Person::Caller(who.clone())).await, Option::is_none);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("recording");
    std::fs::write(&file, wav_bytes(4000)).unwrap();
    let sample = BlobRef::new(&bucket, format!("samples/{}/calls/iam-fetch.wav", s3_folder(&who)));
    let stored = blobs.upload_from(&sample, &file, "audio/wav").await;
    run.check("BlobStore::upload_from samples/ (the recording)", stored, |()| true);
    match current {
        Some(mut c) => {
            let state = echome_core::recordings::RecordingState::new(
                echome_core::recordings::RecordingStatus::Stored,
                at,
            );
            c.recording = Some(state);
            run.check("CallLog::save_call", records.save_call(&c).await, |saved| *saved);
        }
        None => {
            run.check::<(), _>("CallLog::save_call", Err("no call to save (CallLog::call failed)"), |_| true)
        }
    }
    // The listing of its versions (see check_listed), then each version deleted by its id.
    let deleted = blobs.delete_versions(&request).await;
    let name = "BlobStore::delete_versions inbox/recordings/ (the request settled)";
    run.check_listed(name, "s3:ListBucketVersions", deleted, |n| *n >= 1);
    let sent =
        blobs.client().delete_object().bucket(&bucket).key(&request.key).version_id("null").send().await;
    run.check("S3 DeleteObject with its versionId inbox/recordings/", sent, |_| true);
    // Gone: a redelivered event's read is a 404 (s3:ListBucket on the prefix), not a 403.
    run.check_missing(
        "BlobStore::get_bytes inbox/recordings/ (a redelivered event: NotFound)",
        blobs.get_bytes(&request).await,
    );
    run.verdict();
}

#[tokio::test]
async fn fetch_sample_works_with_its_template_policy() {
    let mut run = Run::new("FetchSampleFunction");
    let bucket = run.env("BUCKET_NAME");
    let person = Person::parse("emp-iam-url").unwrap();
    let id = "u20261120t100000000-0a1b2c3d";
    let request = BlobRef::new(&bucket, format!("inbox/url-samples/emp-iam-url/{id}.json"));
    let record = BlobRef::new(&bucket, format!("samples/emp-iam-url/url/{id}.source.json"));
    S3BlobStore::new(&admin())
        .put_bytes(&request, b"{}".to_vec(), "application/json")
        .await
        .expect("seeding");

    let blobs = S3BlobStore::new(&run.sdk);
    let records = DynamoRecords::new(&run.sdk, run.env("TABLE_NAME"));
    let got = blobs.get_bytes(&request).await;
    run.check("BlobStore::get_bytes inbox/url-samples/ (the request)", got, |b| b == b"{}");
    run.check_missing(
        "BlobStore::get_bytes samples/ (the sample's record, not there yet: NotFound)",
        blobs.get_bytes(&record).await,
    );
    run.check("People::person", echome_core::People::person(&records, &person).await, Option::is_none);
    run.check("People::consent", records.consent(&person).await, Option::is_none);
    let saved = blobs.put_bytes(&record, b"{\"state\":\"fetching\"}".to_vec(), "application/json").await;
    run.check("BlobStore::put_bytes samples/ (the sample's record)", saved, |()| true);
    let read = blobs.get_bytes(&record).await;
    run.check("BlobStore::get_bytes samples/ (the sample's record)", read, |b| b.starts_with(b"{"));
    let still = blobs.exists(&request).await;
    run.check_listing("BlobStore::exists inbox/url-samples/ (the request, checked again)", still, true);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("media.mp3");
    std::fs::write(&file, wav_bytes(4000)).unwrap();
    let sample = BlobRef::new(&bucket, format!("samples/emp-iam-url/url/{id}.mp3"));
    let stored = blobs.upload_from(&sample, &file, "audio/mpeg").await;
    run.check("BlobStore::upload_from samples/ (the audio)", stored, |()| true);
    let deleted = blobs.delete_versions(&request).await;
    let name = "BlobStore::delete_versions inbox/url-samples/ (the request settled)";
    run.check_listed(name, "s3:ListBucketVersions", deleted, |n| *n >= 1);
    let sent =
        blobs.client().delete_object().bucket(&bucket).key(&request.key).version_id("null").send().await;
    run.check("S3 DeleteObject with its versionId inbox/url-samples/", sent, |_| true);
    run.check_missing(
        "BlobStore::get_bytes inbox/url-samples/ (a redelivered event: NotFound)",
        blobs.get_bytes(&request).await,
    );
    run.verdict();
}

/// People, consent and an erasure's every kind of access, with the API's policy.
async fn check_people_and_erasure(
    run: &mut Run,
    records: &DynamoRecords,
    bucket: &str,
    who: &CallerId,
    at: DateTime<Utc>,
) {
    use echome_core::people::{
        ConsentMethod, ConsentRecord, ConsentScope, ErasureReceipt, ErasureStatus, People, PersonKind,
        PersonRecord,
    };
    let anna = PersonRecord::new(Person::parse("emp-iam").unwrap(), "Anna", PersonKind::Employee, "iam", at)
        .unwrap();
    run.check("People::create_person", records.create_person(&anna).await, |c| *c);
    run.check("People::person", records.person(&anna.id).await, Option::is_some);
    let scopes = ConsentScope::parse_list(["clone"]).unwrap();
    let consent =
        ConsentRecord::grant(Person::Caller(who.clone()), "x", ConsentMethod::Api, scopes, None, "iam", at)
            .unwrap();
    run.check("People::save_consent", records.save_consent(&consent).await, |()| true);
    run.check("People::consent", records.consent(&consent.person).await, Option::is_some);
    run.secret("ERASURE_HASH_KEY_PARAMETER").await;
    let receipt = ErasureReceipt {
        id: "er-iam".into(),
        person_hash: "0123456789abcdef".into(),
        person_kind: "caller".into(),
        requested_by: "iam".into(),
        started_at: at,
        finished_at: None,
        status: ErasureStatus::InProgress,
        deleted: Default::default(),
    };
    run.check("People::save_erasure", records.save_erasure(&receipt).await, |()| true);
    run.check("People::erasures", records.erasures().await, |all| all.iter().any(|r| r.id == "er-iam"));
    run.check("RunLog::runs_of", records.runs_of(&Person::from(who)).await, |r| !r.is_empty());
    // The files (folders without the `+`, as above: the policy is about the prefixes).
    let folder = who.as_str().trim_start_matches('+');
    let admin_blobs = S3BlobStore::new(&admin());
    let blobs = S3BlobStore::new(&run.sdk);
    let seeded = [
        format!("samples/{folder}/erase.wav"),
        format!("inbox/recordings/{folder}/iam-erase.json"),
        "inbox/url-samples/emp-iam/u20261120t100000000-0a1b2c3d.json".to_owned(),
        "inbox/conversations/conv_iam_erase.mp3".to_owned(),
        "runs/iam-erase/sample_1.wav".to_owned(),
        "deleted/vm-iam-erase/sample_1.wav".to_owned(),
        "exports/vm-iam-erase/export.zip".to_owned(),
        "tts/voiceIamErase/h.mp3".to_owned(),
        "webhooks/transcripts/iam-erase.json".to_owned(),
        format!("webhooks/3cx/2026-11-20/000000.000-iam-{folder}.json"),
    ];
    for key in &seeded {
        let body = if key.starts_with("webhooks/3cx") {
            format!("{{\"caller_id\":\"{folder}\"}}")
        } else {
            "x".into()
        };
        admin_blobs
            .put_bytes(&BlobRef::new(bucket, key.as_str()), body.into_bytes(), "application/octet-stream")
            .await
            .expect("seeding");
    }
    let versions = "s3:ListBucketVersions";
    let gone = blobs.delete_prefix(bucket, &format!("samples/{folder}/")).await;
    run.check_listed("BlobStore::delete_prefix samples/ (an erasure: every version)", versions, gone, |n| {
        *n == 1
    });
    let gone = blobs.delete_prefix(bucket, &format!("inbox/recordings/{folder}/")).await;
    run.check_listed("BlobStore::delete_prefix inbox/recordings/", versions, gone, |n| *n == 1);
    let gone = blobs.delete_prefix(bucket, "inbox/url-samples/emp-iam/").await;
    run.check_listed("BlobStore::delete_prefix inbox/url-samples/", versions, gone, |n| *n == 1);
    let gone = blobs.delete_prefix(bucket, "runs/iam-erase/").await;
    run.check_listed("BlobStore::delete_prefix runs/", versions, gone, |n| *n == 1);
    let gone = blobs.delete_prefix(bucket, "deleted/vm-iam-erase/").await;
    run.check_listed("BlobStore::delete_prefix deleted/", versions, gone, |n| *n == 1);
    let gone = blobs.delete_prefix(bucket, "exports/vm-iam-erase/").await;
    run.check_listed("BlobStore::delete_prefix exports/", versions, gone, |n| *n == 1);
    let gone = blobs.delete_prefix(bucket, "tts/voiceIamErase/").await;
    run.check_listed("BlobStore::delete_prefix tts/", versions, gone, |n| *n == 1);
    let transcript = BlobRef::new(bucket, "webhooks/transcripts/iam-erase.json");
    let gone = blobs.delete_versions(&transcript).await;
    run.check_listed("BlobStore::delete_versions webhooks/ (a transcript)", versions, gone, |n| *n == 1);
    let day = blobs.keys(bucket, "webhooks/3cx/2026-11-20/").await;
    run.check_listed("BlobStore::keys webhooks/ (the bodies of a call's day)", "s3:ListBucket", day, |k| {
        k.len() == 1
    });
    let body = BlobRef::new(bucket, format!("webhooks/3cx/2026-11-20/000000.000-iam-{folder}.json"));
    run.check(
        "BlobStore::get_bytes webhooks/ (a body read to see whom it names)",
        blobs.get_bytes(&body).await,
        |b| String::from_utf8_lossy(b).contains(folder),
    );
    let gone = blobs.delete_versions(&body).await;
    run.check_listed("BlobStore::delete_versions webhooks/ (a body that names them)", versions, gone, |n| {
        *n == 1
    });
    let half = BlobRef::new(bucket, "inbox/conversations/conv_iam_erase.mp3");
    let gone = blobs.delete_versions(&half).await;
    let name = "BlobStore::delete_versions inbox/conversations/ (a half still waiting)";
    run.check_listed(name, versions, gone, |n| *n == 1);
    // What those listings are followed by: each version deleted by its id (`null` in a bucket
    // without versioning), which S3 authorizes as s3:DeleteObjectVersion.
    for key in &seeded {
        let prefix = key.split('/').next().unwrap_or_default().to_owned();
        let sent = blobs.client().delete_object().bucket(bucket).key(key).version_id("null").send().await;
        run.check(&format!("S3 DeleteObject with its versionId {prefix}/"), sent, |_| true);
    }
    let erased = records.erase_records(&Person::Caller(who.clone())).await;
    run.check("People::erase_records", erased, |c| c.get("runs").copied().unwrap_or(0) >= 1);
}

#[tokio::test]
async fn api_works_with_its_template_policy() {
    let mut run = Run::new("ApiFunction");
    let bucket = run.env("BUCKET_NAME");
    let who = caller(108);
    let call_id = CallId::parse("iam-api").unwrap();
    let run_id = RunId::parse("iam-api").unwrap();
    let at = t("2026-11-20T10:00:00.000Z");
    let seed = DynamoRecords::new(&admin(), &world().table);
    seed.claim_call(&CallRecord::new(call_id.clone(), who.clone(), "+18005550199".into(), at))
        .await
        .expect("seeding");
    seed.log_event(&CallEventRecord::new(CallEventKind::Incoming, Some(&call_id), at))
        .await
        .expect("seeding");
    let sample = BlobRef::new(&bucket, format!("samples/{who}/call.wav"));
    seed.create_run(&RunRecord::started(run_id.clone(), who.clone(), sample, at)).await.expect("seeding");
    seed.put_clone(&clone_record(&who, &run_id, at)).await.expect("seeding");

    let table = run.env("TABLE_NAME");
    let limiter = DynamoRateLimiter::new(&run.sdk, &table);
    let limit = Limit { requests: 10, window_s: 60 };
    let hit = limiter.hit("iam-contract-viewer", limit, Utc::now()).await;
    run.check("RateLimiter::hit", hit, |d| matches!(d, RateDecision::Allowed { .. }));
    let records = DynamoRecords::new(&run.sdk, &table);
    let events = records.events_between(at - Duration::hours(1), at + Duration::hours(1)).await;
    run.check("CallLog::events_between", events, |e| !e.is_empty());
    run.check("CloneCache::clone_of", records.clone_of(&Person::from(&who)).await, Option::is_some);
    run.check("RunLog::latest_run", records.latest_run(&Person::from(&who)).await, Option::is_some);
    run.check("CallLog::call", records.call(&call_id).await, Option::is_some);
    run.check("CallLog::call_events", records.call_events(&call_id).await, |e| !e.is_empty());
    run.check("CallLog::calls_of", records.calls_of(&who, 10, None).await, |p| !p.calls.is_empty());
    run.check("RunLog::run", records.run(&run_id).await, Option::is_some);
    run.check("CloneCache::clone_log", records.clone_log(&run_id).await, Vec::is_empty);
    run.check(
        "CloneCache::quality_of",
        records.quality_of(&Person::from(&who), &voice()).await,
        Option::is_none,
    );
    // An operator accepts a speaker the check refused: the caller's reference voice is replaced.
    run.check(
        "ReferenceVoices::reference_voice",
        records.reference_voice(&Person::from(&who)).await,
        Option::is_none,
    );
    let reference = echome_core::ReferenceVoice {
        person: echome_core::Person::from(who.clone()),
        voiceprint: echome_core::Voiceprint { model: "ge2e".into(), embedding: vec![0.6, 0.8] },
        report: BlobRef::new(&bucket, format!("{}report.json", run_id.prefix())),
        run_id: run_id.clone(),
        recorded_at: at,
        accepted_by: Some("iam-operator".into()),
    };
    run.check("ReferenceVoices::put_reference_voice", records.put_reference_voice(&reference).await, |()| {
        true
    });
    // The voice library's routes: deleting at the provider needs the key; the records are
    // models, pointers and the audit.
    run.secret("ELEVENLABS_API_KEY_PARAMETER").await;
    let (m, active) = library_model(&who, &run_id, at);
    seed.create_model(&m).await.expect("seeding");
    run.check("VoiceLibrary::models", records.models(10, None).await, |p| !p.models.is_empty());
    run.check("VoiceLibrary::model", records.model(&m.id).await, Option::is_some);
    run.check("VoiceLibrary::models_of", records.models_of(&m.person).await, |ms| ms.len() == 1);
    run.check("VoiceLibrary::active_voice", records.active_voice(&m.person).await, Option::is_none);
    let renamed = VoiceModel { name: Some("desk".into()), version: 1, ..m.clone() };
    run.check("VoiceLibrary::save_model", records.save_model(&renamed).await, |saved| *saved);
    run.check("VoiceLibrary::set_active", records.set_active(&m.person, Some(&active), None).await, |s| *s);
    run.check("CloneCache::put_clone", records.put_clone(&clone_record(&who, &run_id, at)).await, |()| true);
    run.check("VoiceLibrary::record_audit", records.record_audit(&audit_event(&m, at)).await, |()| true);
    run.check("VoiceLibrary::audit_of", records.audit_of(&m.id).await, |e| e.len() == 1);
    let cleared = records.set_active(&m.person, None, Some(&m.id)).await;
    run.check("VoiceLibrary::set_active (none left)", cleared, |set| *set);
    run.check(
        "CloneCache::evict_clone",
        records.evict_clone(&Person::from(&who), &voice()).await,
        |marked| *marked,
    );
    // A model asked for from a recording: it must be there, and its clone run starts.
    // (Its folder without the `+`: moto with IAM on miscomputes the signature of a key holding
    // one; the policy is about the samples/ prefix either way.)
    let folder = who.as_str().trim_start_matches('+');
    let recording = BlobRef::new(&bucket, format!("samples/{folder}/interview.wav"));
    S3BlobStore::new(&admin()).put_bytes(&recording, wav_bytes(100), "audio/wav").await.expect("seeding");
    let there = S3BlobStore::new(&run.sdk).exists(&recording).await;
    run.check_listing("BlobStore::exists samples/ (the recording a model is asked for from)", there, true);
    // A person's new recording: the upload URL POST /people/{person}/samples hands out.
    let upload = BlobRef::new(&bucket, "samples/emp-iam/20261120T100000.000Z-interview.wav");
    let url =
        S3BlobStore::new(&run.sdk).upload_url(&upload, "audio/wav", std::time::Duration::from_secs(60)).await;
    let object = format!("arn:{}:s3:::{bucket}/{}", stack().partition, upload.key);
    let wanted = Access::new("s3:PutObject", object);
    run.check_presigned("BlobStore::upload_url samples/ (a person's new recording)", url, wanted);
    // A sample from a URL: its record and its request filed, the record read back; one that
    // is not there is a 404 (s3:ListBucket on samples/), not a 403.
    let api_blobs = S3BlobStore::new(&run.sdk);
    let record = BlobRef::new(&bucket, "samples/emp-iam/url/u20261120t100000000-0a1b2c3d.source.json");
    let filed = api_blobs.put_bytes(&record, b"{}".to_vec(), "application/json").await;
    run.check("BlobStore::put_bytes samples/ (a URL sample's record)", filed, |()| true);
    let request = BlobRef::new(&bucket, "inbox/url-samples/emp-iam/u20261120t100000000-0a1b2c3d.json");
    let filed = api_blobs.put_bytes(&request, b"{}".to_vec(), "application/json").await;
    run.check("BlobStore::put_bytes inbox/url-samples/ (a URL sample's request)", filed, |()| true);
    let read = api_blobs.get_bytes(&record).await;
    run.check("BlobStore::get_bytes samples/ (a URL sample's record, asked for)", read, |b| b == b"{}");
    let missing = api_blobs
        .get_bytes(&record.with_key("samples/emp-iam/url/u20200101t000000000-00000000.source.json"))
        .await;
    run.check_missing("BlobStore::get_bytes samples/ (a URL sample that is not there: NotFound)", missing);
    let asked = RunId::for_upload(&who, &recording.key, "model-by-iam");
    let created =
        records.create_run(&RunRecord::started(asked.clone(), who.clone(), recording.clone(), at)).await;
    run.check("RunLog::create_run", created, |c| *c);
    let starter = SfnRunStarter::new(&run.sdk, run.env("STATE_MACHINE_ARN"));
    let input = CloneRunInput {
        run_id: asked,
        person: echome_core::Person::from(who.clone()),
        sample: recording,
        pack: None,
        call: None,
        combine: vec![],
    };
    run.check("RunStarter::start", starter.start(&input).await, |s| *s == RunStart::Started);
    // Exports and backups: a pack file read, archives written, a backup read back.
    let blobs = S3BlobStore::new(&run.sdk);
    let pack = BlobRef::new(&bucket, format!("{}sample_1.wav", run_id.prefix()));
    S3BlobStore::new(&admin()).put_bytes(&pack, wav_bytes(100), "audio/wav").await.expect("seeding");
    run.check_listing("BlobStore::exists runs/ (a pack file to export)", blobs.exists(&pack).await, true);
    let dir = tempfile::tempdir().unwrap();
    let local = dir.path().join("p.wav");
    run.check("BlobStore::download_to runs/ (that file)", blobs.download_to(&pack, &local).await, |n| {
        *n == 100
    });
    let export = BlobRef::new(&bucket, "exports/vm-iam/x.tar");
    run.check(
        "BlobStore::upload_from exports/ (the archive)",
        blobs.upload_from(&export, &local, "application/x-tar").await,
        |()| true,
    );
    let archive = BlobRef::new(&bucket, "backups/bk-iam/archive.tar");
    run.check(
        "BlobStore::upload_from backups/ (a backup's archive)",
        blobs.upload_from(&archive, &local, "application/x-tar").await,
        |()| true,
    );
    let record = BlobRef::new(&bucket, "backups/bk-iam/backup.json");
    run.check(
        "BlobStore::put_bytes backups/ (its record)",
        blobs.put_bytes(&record, b"{}".to_vec(), "application/json").await,
        |()| true,
    );
    run.check(
        "BlobStore::get_bytes backups/ (the record, to restore)",
        blobs.get_bytes(&record).await,
        |b| b == b"{}",
    );
    let back = dir.path().join("a.tar");
    run.check(
        "BlobStore::download_to backups/ (the archive, to restore)",
        blobs.download_to(&archive, &back).await,
        |n| *n == 100,
    );
    // The link is signed with the function's role: what it serves, the role may read.
    let served = dir.path().join("e.tar");
    run.check(
        "BlobStore::download_to exports/ (what the export's link serves)",
        blobs.download_to(&export, &served).await,
        |n| *n == 100,
    );
    check_moves(&mut run, &bucket, &run_id).await;
    let entries = records.clones().await;
    run.check("CloneCache::clones (analytics: the calls answered in the models' voices)", entries, |c| {
        c.iter().any(|c| c.person.caller() == Some(&who))
    });
    check_people_and_erasure(&mut run, &records, &bucket, &who, at).await;
    run.verdict();
}

#[tokio::test]
async fn the_clone_run_state_machine_records_how_a_run_ended() {
    let mut run = Run::new("CloneRunStateMachine");
    let bucket = world().bucket.clone();
    let who = caller(109);
    let run_id = RunId::parse("iam-machine").unwrap();
    let at = t("2026-11-20T10:00:00.000Z");
    let sample = BlobRef::new(&bucket, format!("samples/{who}/call.wav"));
    let seed = DynamoRecords::new(&admin(), &world().table);
    seed.create_run(&RunRecord::started(run_id.clone(), who, sample, at)).await.expect("seeding");
    // The state machine's own DynamoDB task writes the table the DefinitionSubstitutions name.
    let records = DynamoRecords::new(&run.sdk, &world().table);
    let report = BlobRef::new(&bucket, format!("{}report.json", run_id.prefix()));
    let outcome = RunOutcome::Succeeded { report, voice_id: None };
    run.check("RunLog::finish_run", records.finish_run(&run_id, &outcome, at).await, |()| true);
    run.verdict();
}

#[test]
fn every_function_of_the_template_has_a_row_in_the_contract() {
    let principals: BTreeSet<String> =
        stack().principals().unwrap_or_else(|e| panic!("{e}")).into_iter().map(|p| p.logical_id).collect();
    let rows: BTreeSet<String> = CONTRACT.iter().map(|r| r.principal.to_owned()).collect();
    assert_eq!(
        principals, rows,
        "every function and state machine in template.yaml needs a CONTRACT row listing its AWS calls \
         (and a test running them); every row needs its resource in the template"
    );
    // The design's naming: crate functions/upload-trigger ↔ SAM UploadTriggerFunction.
    for row in CONTRACT.iter().filter(|r| r.principal.ends_with("Function")) {
        let crate_name = kebab(row.principal.trim_end_matches("Function"));
        assert_eq!(iam::function_logical_id(&crate_name), row.principal);
        let handler = workspace_root().join("functions").join(&crate_name).join("src/handler.rs");
        assert!(handler.is_file(), "{} has no handler at {}", row.principal, handler.display());
    }
}

/// `UploadTrigger` → `upload-trigger`.
fn kebab(pascal: &str) -> String {
    let mut out = String::new();
    for c in pascal.chars() {
        if c.is_ascii_uppercase() && !out.is_empty() {
            out.push('-');
        }
        out.push(c.to_ascii_lowercase());
    }
    out
}

// ---------------------------------------------------------------------------------------------
// The harness can fail.

#[tokio::test]
async fn moto_refuses_a_policy_missing_one_action() {
    let w = world();
    // DynamoDB: upload-trigger without dynamodb:PutItem, moto alone (no guard) deciding.
    let name = "upload-trigger-without-PutItem";
    let (sdk, seen) = signed(&w.keys[name], &w.variants[name], Checks::MotoOnly);
    let records = DynamoRecords::new(&sdk, &w.table);
    let who = caller(201);
    let at = t("2026-11-20T10:00:00.000Z");
    let sample = BlobRef::new(&w.bucket, format!("samples/{who}/call.wav"));
    let rec = uploaded(&who, sample, at);
    let refused = records.record_sample(&rec).await;
    assert!(matches!(refused, Err(StorageError::Denied(_))), "PutItem without dynamodb:PutItem: {refused:?}");
    assert_eq!(outcomes(&seen), ["moto 403"], "moto itself refused the PutItem");
    assert_eq!(records.current_sample(&Person::from(&who)).await.unwrap(), None, "GetItem is still allowed");
    assert_eq!(outcomes(&seen), ["moto 403", "moto 200"]);

    // S3: synthesize-speech without s3:PutObject on tts/.
    let name = "synthesize-speech-without-PutObject";
    let (sdk, seen) = signed(&w.keys[name], &w.variants[name], Checks::MotoOnly);
    let blobs = S3BlobStore::new(&sdk);
    let audio = BlobRef::new(&w.bucket, "tts/iamnegative.mp3");
    let refused = blobs.put_bytes(&audio, vec![1], "audio/mpeg").await;
    assert!(matches!(refused, Err(StorageError::Denied(_))), "PutObject without s3:PutObject: {refused:?}");
    assert_eq!(outcomes(&seen), ["moto 403"], "moto itself refused the PutObject");

    // And the exact template policy is what made the difference: the same call, its own key.
    let p = &w.principals["SynthesizeSpeechFunction"];
    let (sdk, _) = signed(&w.keys["SynthesizeSpeechFunction"], &p.policy, Checks::MotoOnly);
    S3BlobStore::new(&sdk).put_bytes(&audio, vec![1], "audio/mpeg").await.expect("its own policy allows it");
}

#[tokio::test]
async fn the_guard_refuses_a_resource_moto_cannot_see() {
    let w = world();
    let name = "clone-voice-Query-on-the-table-only";
    // moto alone lets the index Query through: it compares DynamoDB statements with `*` only.
    let (sdk, seen) = signed(&w.keys[name], &w.variants[name], Checks::MotoOnly);
    DynamoRecords::new(&sdk, &w.table).clones().await.expect("moto cannot see the index");
    assert_eq!(outcomes(&seen), ["moto 200"]);
    // The guard sees that the Query is on index/gsi1, which that policy does not grant.
    let (sdk, seen) = signed(&w.keys[name], &w.variants[name], Checks::GuardAndMoto);
    let refused = DynamoRecords::new(&sdk, &w.table).clones().await;
    assert!(matches!(refused, Err(StorageError::Denied(_))), "{refused:?}");
    let seen = seen.lock().unwrap();
    assert!(
        seen[0].accesses.ends_with("/index/gsi1") && seen[0].outcome.starts_with("refused by the guard"),
        "{seen:?}"
    );
}

fn outcomes(seen: &Mutex<Vec<Seen>>) -> Vec<String> {
    seen.lock().unwrap().iter().map(|s| s.outcome.clone()).collect()
}

// ---------------------------------------------------------------------------------------------
// What moto cannot show: S3's answer to a missing key.

/// S3 answers a GetObject on a missing key with 404 only to a caller allowed `s3:ListBucket` on
/// the bucket; anyone else gets 403, which the adapters rightly report as a failure, not a miss.
/// moto answers 404 regardless. So every function that probes for objects that may be missing
/// must hold `s3:ListBucket` on the bucket ARN, scoped with an `s3:prefix` condition that covers
/// its prefix (and no wider grant).
#[test]
fn every_probe_for_a_missing_object_may_list_its_prefix() {
    let stack = stack();
    let bucket = stack.name_of("RecordingsBucket").unwrap_or_else(|e| panic!("{e}"));
    let bucket_arn = stack.attribute("RecordingsBucket", "Arn").unwrap_or_else(|e| panic!("{e}"));
    let mut problems = Vec::new();
    for (logical, prefix) in PROBES {
        let p = stack.principal(logical).unwrap_or_else(|e| panic!("{e}"));
        let probe = Access::list_bucket(&stack.partition, &bucket, &format!("{prefix}0123abcd.json"));
        let (decision, notes) = p.policy.decide(&probe);
        if !matches!(decision, Decision::Allowed(_)) {
            problems.push(format!(
                "{logical} looks up objects under {prefix} that may be missing, but its role {} does not \
                 allow {probe} ({decision:?} {notes:?}): S3 will answer a missing key with 403, not 404. \
                 Grant s3:ListBucket on {bucket_arn} with Condition StringLike s3:prefix [\"{prefix}*\"].",
                p.role
            ));
        }
        for st in p.policy.grants_of("s3:ListBucket", &bucket_arn) {
            let scoped = st.condition.as_ref().is_some_and(|c| {
                c.values().any(|block| {
                    block.as_object().is_some_and(|b| b.keys().any(|k| k.eq_ignore_ascii_case("s3:prefix")))
                })
            });
            if !scoped {
                problems.push(format!(
                    "{logical}: {} grants s3:ListBucket on {bucket_arn} without an s3:prefix condition \
                     (scope it to {prefix}*)",
                    st.origin
                ));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
