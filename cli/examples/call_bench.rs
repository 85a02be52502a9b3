//! The call webhook under load: a release `echome serve` (with ElevenLabs as a local stub that
//! answers at once) takes rounds of concurrent signed 3CX `IncomingCall` webhooks, each from a
//! different caller, on the cached path (a fresh clone on file) and on the cloning path (a
//! sample on file: greeting + clone run started in the background, where it soon fails on a
//! file that is not audio and hands the caller over). Prints requests per second
//! and p50/p99 latency beside the target.
//!
//! usage: make bench-calls   (CONCURRENCY=100 ROUNDS=5 by default:
//!        cargo run --release -p echome-cli --example call_bench -- 100 5)

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use chrono::Utc;
use echome_core::{
    BlobRef, BlobStore, CallerId, CloneCache, CloneRecord, CloneStatus, RunId, SampleLog, SampleRecord,
    VoiceId,
};
use echome_local::{FsBlobStore, LocalRecords};
use serde_json::{Value, json};

const SECRET: &str = "3cx-secret-for-the-benchmark-0123";
const TARGET_P99_MS: f64 = 100.0;
const BUDGET_MS: f64 = 500.0;

fn caller(path: &str, i: usize) -> String {
    format!("+1415{}{i:05}", if path == "cached" { "1" } else { "2" })
}

async fn seed(data: &Path, callers: usize, sample_file: &Path) {
    let records = LocalRecords::open(&data.join("echome.redb")).expect("records");
    let blobs = FsBlobStore::new(data.join("blobs"));
    let now = Utc::now();
    for i in 0..callers {
        let cached = CallerId::parse(&caller("cached", i)).expect("caller");
        records
            .put_clone(&CloneRecord {
                caller_id: cached.clone(),
                voice_id: VoiceId::parse("clonedVoice").expect("voice"),
                engine: "elevenlabs".into(),
                pack_digest: format!("d{i}"),
                run_id: RunId::parse(&format!("seed-{i}")).expect("run"),
                created_at: now,
                last_used_at: now,
                reuse_count: 0,
                status: CloneStatus::Active,
                expires_at: now.timestamp() + 86_400,
            })
            .await
            .expect("clone");
        let cloning = CallerId::parse(&caller("cloning", i)).expect("caller");
        let blob = BlobRef::new("recordings", format!("samples/{cloning}/call.wav"));
        if std::env::var("BENCH_NO_BLOB").is_err() {
            blobs.upload_from(&blob, sample_file, "audio/wav").await.expect("sample");
        }
        let sample = SampleRecord {
            caller_id: cloning,
            sample: blob,
            version: "v1".into(),
            uploaded_at: now,
            size: 1,
        };
        records.record_sample(&sample).await.expect("sample record");
    }
}

/// ElevenLabs as the cheapest possible stand-in (a few lines of hyper, not wiremock): the
/// figures are echome's, not the stub's. Every POST starts a call or makes a voice; GETs are
/// the subscription.
async fn stub() -> String {
    use http_body_util::Full;
    use hyper::body::Bytes;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("stub port");
    let addr = listener.local_addr().expect("stub address");
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let service = hyper::service::service_fn(
                    |req: hyper::Request<hyper::body::Incoming>| async move {
                        let body = match (req.method().as_str(), req.uri().path()) {
                            ("POST", "/v1/voices/add") => json!({"voice_id": "benchVoice"}),
                            ("POST", _) => {
                                json!({"success": true, "message": "ok", "conversation_id": "conv_bench", "sip_call_id": "sip"})
                            }
                            _ => json!({"voice_slots_used": 1, "voice_limit": 1000}),
                        };
                        let mut res = hyper::Response::new(Full::new(Bytes::from(body.to_string())));
                        res.headers_mut().insert(
                            "content-type",
                            hyper::header::HeaderValue::from_static("application/json"),
                        );
                        Ok::<_, std::convert::Infallible>(res)
                    },
                );
                let io = hyper_util::rt::TokioIo::new(stream);
                if let Err(e) = hyper::server::conn::http1::Builder::new().serve_connection(io, service).await
                {
                    eprintln!("stub connection: {e}");
                }
            });
        }
    });
    format!("http://{addr}")
}

fn start(echome: &Path, data: &Path, stub: &str) -> (Child, String) {
    let mut child = Command::new(echome)
        .args(["--data-dir", data.to_str().unwrap_or_default(), "serve", "--port", "0"])
        .env("ELEVENLABS_API_KEY", "sk_bench")
        .env("ELEVENLABS_API_BASE", stub)
        .env("ELEVENLABS_AGENT_ID", "agent_bench")
        .env("ELEVENLABS_AGENT_PHONE_NUMBER_ID", "phnum_bench")
        .env("THREECX_WEBHOOK_SECRET", SECRET)
        .env("ELEVENLABS_WEBHOOK_SECRET", "whsec_bench_secret_0123456789")
        .env("ELEVENLABS_INITIATION_SECRET", "initiation_bench_secret_0123")
        .env("ECHOME_LOG", "error")
        .stdout(Stdio::piped())
        .spawn()
        .expect("start echome serve (build it: cargo build --release -p echome-cli)");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout")).read_line(&mut line).expect("address");
    let first: Value = serde_json::from_str(&line).expect("the address line");
    (child, first["listening"].as_str().unwrap_or_default().to_owned())
}

struct Round {
    latencies_ms: Vec<f64>,
    wall: Duration,
    errors: usize,
}

async fn round(http: &reqwest::Client, base: &str, path_name: &str, n: usize, round_no: usize) -> Round {
    let started = Instant::now();
    let mut tasks = Vec::new();
    for i in 0..n {
        let body = json!({
            "event_type": "IncomingCall", "call_id": format!("bench-{path_name}-{round_no}-{i}"),
            "caller_id": caller(path_name, round_no * n + i), "called_number": "+18005550199",
            "timestamp": Utc::now().to_rfc3339(), "direction": "inbound",
        })
        .to_string();
        let ts = Utc::now().timestamp();
        let sig = echome_core::threecx::sign(SECRET.as_bytes(), ts, body.as_bytes());
        let req = http
            .post(format!("{base}/webhook/3cx-call"))
            .header("content-type", "application/json")
            .header("X-3CX-Timestamp", ts.to_string())
            .header("X-3CX-Signature", sig)
            .body(body);
        let want = path_name.to_owned();
        tasks.push(tokio::spawn(async move {
            let t0 = Instant::now();
            let ok = match req.send().await {
                Ok(res) if res.status() == 200 => {
                    res.json::<Value>().await.is_ok_and(|v| v["path"] == want.as_str())
                }
                _ => false,
            };
            (t0.elapsed().as_secs_f64() * 1000.0, ok)
        }));
    }
    let mut out = Round { latencies_ms: Vec::new(), wall: Duration::ZERO, errors: 0 };
    for t in tasks {
        match t.await {
            Ok((ms, ok)) => {
                out.latencies_ms.push(ms);
                out.errors += usize::from(!ok);
            }
            Err(_) => out.errors += 1,
        }
    }
    out.wall = started.elapsed();
    out
}

fn pct(sorted: &[f64], p: f64) -> f64 {
    let rank = ((sorted.len() as f64) * p).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

#[tokio::main]
async fn main() {
    let args: Vec<usize> = std::env::args().skip(1).filter_map(|a| a.parse().ok()).collect();
    let (n, rounds) = (args.first().copied().unwrap_or(100), args.get(1).copied().unwrap_or(5));
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let echome = root.join("target/release/echome");
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("data");
    // The cloning path's background runs end quickly (this is not audio): what is measured is
    // the webhook's answer, with the greeting placed and the run started.
    let sample = dir.path().join("call.wav");
    std::fs::write(&sample, b"not audio").expect("a sample file");
    seed(&data, n * rounds, &sample).await;
    let stub = stub().await;
    let (mut child, base) = start(&echome, &data, &stub);
    let http = reqwest::Client::builder().pool_max_idle_per_host(n).build().expect("client");

    println!(
        "echome serve, {n} concurrent signed IncomingCall webhooks x {rounds} rounds, each from a new caller"
    );
    println!(
        "{:<8} {:>9} {:>8} {:>9} {:>9} {:>9} {:>7}   target",
        "path", "requests", "req/s", "p50 ms", "p99 ms", "max ms", "errors"
    );
    for path_name in ["cached", "cloning"] {
        let mut all = Vec::new();
        let (mut wall, mut errors) = (Duration::ZERO, 0);
        for r in 0..rounds {
            // Each round's callers are new: caller i of round r is caller r*n+i.
            let res = round(&http, &base, path_name, n, r).await;
            all.extend(res.latencies_ms);
            wall += res.wall;
            errors += res.errors;
        }
        all.sort_by(f64::total_cmp);
        let target = if path_name == "cached" {
            format!("p99 < {TARGET_P99_MS} ms, no errors")
        } else {
            format!("reply < {BUDGET_MS} ms")
        };
        println!(
            "{:<8} {:>9} {:>8.0} {:>9.1} {:>9.1} {:>9.1} {:>7}   {target}",
            path_name,
            all.len(),
            all.len() as f64 / wall.as_secs_f64(),
            pct(&all, 0.50),
            pct(&all, 0.99),
            all.last().copied().unwrap_or_default(),
            errors
        );
    }
    if let Err(e) = child.kill() {
        eprintln!("stopping echome serve: {e}");
    }
    if let Err(e) = child.wait() {
        eprintln!("waiting for echome serve: {e}");
    }
}
