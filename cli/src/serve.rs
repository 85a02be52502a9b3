//! `echome serve`: the webhooks and the read API on one machine, through the same handlers
//! API Gateway invokes in AWS. Each HTTP request becomes the API Gateway (HTTP API, payload
//! 2.0) event those handlers take; clone runs started by calls go on in the background with
//! the local runner, hand-over and deadline included.

use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use api::{Api, Offline, ProviderCheck, ProviderProbe, Reachability};
use aws_lambda_events::apigw::{ApiGatewayV2httpRequest, ApiGatewayV2httpResponse};
use aws_lambda_events::encodings::Body as LambdaBody;
use base64::Engine as _;
use echome_auth::Verifier;
use echome_core::StepError;
use echome_core::limits::RoleLimits;
use echome_local::{Background, FsBlobStore, InProcessLimiter, LocalRecords, Runner};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use serde_json::json;
use webhook_intake::Intake;
use webhook_intake::config::Secrets;

use crate::agent::Agent;
use crate::engine::Engine;
use crate::local::{BUCKET, Local, Steps};
use crate::output::fail_step;
use crate::recordings::Inbox;

/// API Gateway's own limit on a request body.
const MAX_BODY: usize = 10 * 1024 * 1024;

#[derive(clap::Args)]
pub struct ServeArgs {
    /// Port to listen on (0: any free port; the address is printed on stdout).
    #[arg(long, default_value_t = 8080)]
    pub port: u16,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    pub host: IpAddr,
    /// Minimum clean speech (seconds) below which there is no pack.
    #[arg(long, default_value_t = 30.0, env = "ECHOME_MIN_SPEECH_S")]
    pub min_speech: f64,
}

type Webhooks = Intake<LocalRecords, Background<Steps, LocalRecords>, FsBlobStore, Agent, LocalRecords>;

struct Server {
    webhooks: Webhooks,
    api: Api<
        LocalRecords,
        Verifier,
        InProcessLimiter,
        Probe,
        Engine,
        Background<Steps, LocalRecords>,
        FsBlobStore,
        LocalRecords,
    >,
    requests: std::sync::atomic::AtomicU64,
}

/// `/health?detail`'s provider: ElevenLabs' host when a key is set, else the offline engine.
enum Probe {
    Offline(Offline),
    ElevenLabs(Reachability),
}

impl ProviderProbe for Probe {
    fn name(&self) -> &'static str {
        match self {
            Self::Offline(p) => p.name(),
            Self::ElevenLabs(p) => p.name(),
        }
    }

    async fn probe(&self) -> Result<(), String> {
        match self {
            Self::Offline(p) => p.probe().await,
            Self::ElevenLabs(p) => p.probe().await,
        }
    }
}

impl Probe {
    fn from_env() -> Result<Self, StepError> {
        if std::env::var("ELEVENLABS_API_KEY").is_ok_and(|k| !k.trim().is_empty()) {
            let base = std::env::var("ELEVENLABS_API_BASE")
                .unwrap_or_else(|_| echome_elevenlabs::client::DEFAULT_BASE_URL.into());
            return Reachability::elevenlabs(&base).map(Self::ElevenLabs).map_err(StepError::internal);
        }
        Ok(Self::Offline(Offline))
    }
}

fn secret(name: &str) -> Result<Vec<u8>, StepError> {
    std::env::var(name).ok().filter(|s| !s.trim().is_empty()).map(String::into_bytes).ok_or_else(|| {
        StepError::invalid_input(format!("{name} is not set: the webhooks cannot be authenticated"))
    })
}

pub async fn run(data_dir: &Path, args: ServeArgs) -> ExitCode {
    match serve(data_dir, args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail_step(false, &e),
    }
}

async fn serve(data_dir: &Path, args: ServeArgs) -> Result<(), StepError> {
    let local = Local::open(data_dir)?;
    let secrets = Secrets {
        threecx: secret("THREECX_WEBHOOK_SECRET")?,
        post_call: secret("ELEVENLABS_WEBHOOK_SECRET")?,
        initiation: secret("ELEVENLABS_INITIATION_SECRET")?,
    };
    let mut config =
        webhook_intake::Config::from_env(secrets, BUCKET.into()).map_err(StepError::invalid_input)?;
    let agent = Agent::from_env()?;
    if matches!(agent, Agent::NotConfigured) {
        tracing::warn!("no voice agent configured: incoming calls will be answered 502 agent_not_configured");
    }
    // Clone runs (ffmpeg, analysis) get half the cores; the webhooks keep the rest.
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    let runner: Runner<Steps, LocalRecords> = local
        .runner(args.min_speech, Engine::from_env()?, agent.clone(), |_| {})?
        .with_concurrency((cores / 2).max(1));
    // One runner for the webhooks' runs and the models the API is asked for.
    let runner = Arc::new(runner);
    let inbox =
        Inbox::from_env(local.blobs.clone(), local.records.clone(), runner.clone(), data_dir.join("tmp"))?;
    tokio::spawn(inbox.watch());
    let (arrivals, arrived) = tokio::sync::mpsc::unbounded_channel();
    config.sample_arrivals = Some(arrivals);
    tokio::spawn(crate::recordings::take_arrivals(
        local.records.clone(),
        Background(runner.clone()),
        arrived,
    ));
    let server = Arc::new(Server {
        webhooks: Intake {
            records: local.records.clone(),
            runs: Background(runner.clone()),
            blobs: local.blobs.clone(),
            agent,
            archive: local.records.clone(),
            config,
        },
        api: Api {
            records: local.records.clone(),
            tokens: Verifier::from_env(data_dir).await.map_err(StepError::invalid_input)?,
            limiter: InProcessLimiter::default(),
            limits: RoleLimits::from_env().map_err(StepError::invalid_input)?,
            provider: ProviderCheck::new(Probe::from_env()?),
            engine: Engine::from_env()?,
            runs: Background(runner),
            blobs: local.blobs.clone(),
            bucket: BUCKET.into(),
            library: echome_core::library::LibrarySettings::from_env().map_err(StepError::invalid_input)?,
            consent: echome_core::ConsentPolicy::from_env().map_err(StepError::invalid_input)?,
            archive: local.records.clone(),
            erasure_key: Some(local.erasure_key()?),
        },
        requests: Default::default(),
    });
    let listener = listen(SocketAddr::new(args.host, args.port)).map_err(|e| {
        StepError::invalid_input(format!("cannot listen on {}:{}: {e}", args.host, args.port))
    })?;
    let addr = listener.local_addr().map_err(|e| StepError::internal(e.to_string()))?;
    println!("{}", json!({ "listening": format!("http://{addr}") }));
    eprintln!("echome serve: listening on http://{addr} (Ctrl-C stops)");
    eprintln!(
        "echome serve: the API needs a bearer token: `echome --data-dir {} token --sub YOU --role viewer|operator|admin`",
        data_dir.display()
    );
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = tokio::signal::ctrl_c() => return Ok(()),
        };
        let (stream, peer) = match accepted {
            Ok(a) => a,
            Err(e) => {
                tracing::warn!(error = %e, "accept failed");
                continue;
            }
        };
        let server = server.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req| {
                let server = server.clone();
                async move { Ok::<_, Infallible>(server.answer(req, peer).await) }
            });
            if let Err(e) = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await
            {
                tracing::debug!(error = %e, "connection closed");
            }
        });
    }
}

/// Connections a burst may leave waiting to be accepted: tokio's default (128) drops some of
/// 500 calls arriving at once, which then wait a second for the client's retry.
const BACKLOG: u32 = 1024;

fn listen(addr: SocketAddr) -> std::io::Result<tokio::net::TcpListener> {
    let socket = match addr {
        SocketAddr::V4(_) => tokio::net::TcpSocket::new_v4()?,
        SocketAddr::V6(_) => tokio::net::TcpSocket::new_v6()?,
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(BACKLOG)
}

impl Server {
    async fn answer(&self, req: Request<Incoming>, peer: SocketAddr) -> Response<Full<Bytes>> {
        let (parts, body) = req.into_parts();
        let body = match Limited::new(body, MAX_BODY).collect().await {
            Ok(b) => b.to_bytes(),
            Err(_) => {
                return plain(413, r#"{"error":{"code":"too_large","message":"the body is over 10 MiB"}}"#);
            }
        };
        let mut event = ApiGatewayV2httpRequest::default();
        event.version = Some("2.0".into());
        event.raw_path = Some(parts.uri.path().to_owned());
        event.raw_query_string = parts.uri.query().map(str::to_owned);
        event.headers = parts.headers;
        event.request_context.http.method = parts.method;
        event.request_context.http.path = Some(parts.uri.path().to_owned());
        event.request_context.http.source_ip = Some(peer.ip().to_string());
        let n = self.requests.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        event.request_context.request_id =
            Some(format!("local-{:x}-{n}", chrono::Utc::now().timestamp_millis()));
        match String::from_utf8(body.to_vec()) {
            Ok(text) => event.body = Some(text),
            Err(_) => {
                event.body = Some(base64::engine::general_purpose::STANDARD.encode(&body));
                event.is_base64_encoded = true;
            }
        }
        let res = if parts.uri.path().starts_with("/webhook/") {
            self.webhooks.handle(event).await
        } else {
            self.api.handle(event).await
        };
        to_http(res)
    }
}

fn to_http(res: ApiGatewayV2httpResponse) -> Response<Full<Bytes>> {
    let body = match res.body {
        Some(LambdaBody::Text(t)) => Bytes::from(t),
        Some(LambdaBody::Binary(b)) => Bytes::from(b),
        _ => Bytes::new(),
    };
    let mut out = Response::new(Full::new(body));
    *out.status_mut() = u16::try_from(res.status_code)
        .ok()
        .and_then(|s| hyper::StatusCode::from_u16(s).ok())
        .unwrap_or(hyper::StatusCode::INTERNAL_SERVER_ERROR);
    *out.headers_mut() = res.headers;
    out
}

fn plain(status: u16, body: &'static str) -> Response<Full<Bytes>> {
    let mut out = Response::new(Full::new(Bytes::from_static(body.as_bytes())));
    *out.status_mut() = hyper::StatusCode::from_u16(status).unwrap_or(hyper::StatusCode::BAD_REQUEST);
    out
}
