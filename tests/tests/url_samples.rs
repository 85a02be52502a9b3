//! A sample from a URL end to end on one machine: a talk's page on a local web site (loopback,
//! allowed through FETCH_ALLOWED_NETWORKS as a test site must be), real yt-dlp, real speech.
//! `echome samples add --url` goes through fetch-sample's handler and clones the person; through
//! `echome serve`, `POST /people/{person}/samples/from-url` files the request, the inbox
//! watcher fetches it and the person's voice follows. Erased, the person's URL samples go too.

use std::path::Path;
use std::time::{Duration, Instant};

use echome_testkit::{Scene, SceneKind, generate};
use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

/// Anna's talk (70 s of clean speech, as MP3) on a page of its own, and a page without media.
async fn site(dir: &Path) -> MockServer {
    let wav = dir.join("talk.wav");
    generate(Scene { kind: SceneKind::Clean, seconds: 70.0, seed: 12 }, &wav).unwrap();
    let mp3 =
        echome_audio::ffmpeg::transcode(&std::fs::read(&wav).unwrap(), &["-c:a", "libmp3lame", "-f", "mp3"])
            .unwrap();
    let server = MockServer::start().await;
    let page = "<!doctype html><html><head><title>Anna Berg at the town hall</title></head>\
                <body><h1>Anna Berg</h1><audio controls src=\"/media/anna.mp3\"></audio></body></html>";
    let ok = |kind: &str, body: Vec<u8>| ResponseTemplate::new(200).set_body_raw(body, kind);
    Mock::given(method("GET"))
        .and(path("/talks/anna"))
        .respond_with(ok("text/html", page.into()))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/media/anna.mp3"))
        .respond_with(ok("audio/mpeg", mp3))
        .mount(&server)
        .await;
    let about = "<html><head><title>About</title></head><body>Nothing to hear.</body></html>";
    Mock::given(method("GET"))
        .and(path("/about"))
        .respond_with(ok("text/html", about.into()))
        .mount(&server)
        .await;
    server
}

const ENV: &[(&str, &str)] = &[("FETCH_ALLOWED_NETWORKS", "127.0.0.0/8"), ("ECHOME_MIN_SPEECH_S", "20")];

async fn echome(data: &Path, args: &[&str]) -> (bool, Value) {
    let (data, args): (std::path::PathBuf, Vec<String>) =
        (data.to_owned(), args.iter().map(|a| (*a).to_owned()).collect());
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        echome_tests::echome_json_with(&data, ENV, &args)
    })
    .await
    .unwrap()
}

fn source_records(data: &Path, person: &str) -> Vec<Value> {
    let dir = data.join(format!("blobs/recordings/samples/{person}/url"));
    let mut out: Vec<Value> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with(".source.json"))
        .map(|e| serde_json::from_slice(&std::fs::read(e.path()).unwrap()).unwrap())
        .collect();
    out.sort_by_key(|v| v["id"].as_str().unwrap_or_default().to_owned());
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn a_talks_page_becomes_the_persons_voice_and_erasure_takes_it() {
    let dir = tempfile::tempdir().unwrap();
    let server = site(dir.path()).await;
    let data = dir.path().join("data");
    let talk = format!("{}/talks/anna", server.uri());
    assert!(echome(&data, &["people", "add", "emp-42", "--name", "Anna Berg", "--json"]).await.0);
    let (ok, refused) =
        echome(&data, &["samples", "add", "--person", "emp-42", "--url", &talk, "--json"]).await;
    assert!(!ok);
    assert_eq!(refused["error"]["code"], "consent_missing", "{refused:#}");
    assert!(server.received_requests().await.unwrap().is_empty(), "nothing fetched without consent");
    let grant = ["consent", "grant", "emp-42", "--method", "written", "--by", "Anna Berg", "--json"];
    assert!(echome(&data, &grant).await.0);

    let (ok, out) = echome(&data, &["samples", "add", "--person", "emp-42", "--url", &talk, "--json"]).await;
    assert!(ok, "{out:#}");
    let voice = out["voice_id"].as_str().expect("a voice").to_owned();
    assert_eq!(out["person"], "emp-42", "{out:#}");
    let records = source_records(&data, "emp-42");
    let stored = records.iter().find(|r| r["state"] == "stored").expect("the stored sample's record");
    println!("{stored:#}");
    assert_eq!((stored["url"].as_str(), stored["extractor"].as_str()), (Some(talk.as_str()), Some("html5")));
    assert!(stored["title"].as_str().unwrap().contains("Anna Berg at the town hall"), "{stored:#}");
    assert!(stored["sample_key"].as_str().unwrap().starts_with("samples/emp-42/url/"), "{stored:#}");
    assert!(
        data.join("blobs/recordings").join(stored["sample_key"].as_str().unwrap()).is_file(),
        "the audio is where the record says"
    );
    let (_, anna) = echome(&data, &["people", "show", "emp-42", "--json"]).await;
    assert_eq!(anna["active_voice_id"], voice.as_str(), "{anna:#}");

    // A page without media: refused with its code and what to do instead; nothing is left waiting.
    let about = format!("{}/about", server.uri());
    let (ok, err) = echome(&data, &["samples", "add", "--person", "emp-42", "--url", &about, "--json"]).await;
    assert!(!ok);
    assert_eq!(err["error"]["code"], "source_not_media", "{err:#}");
    assert!(err["error"]["message"].as_str().unwrap().contains("link the page of one video"), "{err:#}");
    assert!(
        !data
            .join("blobs/recordings/inbox/url-samples/emp-42")
            .read_dir()
            .is_ok_and(|mut d| d.next().is_some())
    );

    // Erased: the audio, every source record (the refused ones too) and the run go, counted.
    let records = source_records(&data, "emp-42");
    let states: Vec<&str> = records.iter().filter_map(|r| r["state"].as_str()).collect();
    assert_eq!(states, ["refused", "stored", "refused"], "{records:#?}");
    let (ok, receipt) = echome(&data, &["people", "erase", "emp-42", "--json"]).await;
    assert!(ok, "{receipt:#}");
    assert_eq!(receipt["deleted"]["sample_files"], 4, "the audio and three source records: {receipt:#}");
    assert!(!data.join("blobs/recordings/samples/emp-42").exists());
}

#[tokio::test(flavor = "multi_thread")]
async fn through_serve_a_url_is_filed_fetched_and_followed() {
    let dir = tempfile::tempdir().unwrap();
    let server = site(dir.path()).await;
    let data = dir.path().join("data");
    let echome = echome_tests::echome();
    let mut env: Vec<(&str, String)> = ENV.iter().map(|(k, v)| (*k, (*v).to_owned())).collect();
    // serve takes no webhook without its secret; none is sent here.
    for name in ["THREECX_WEBHOOK_SECRET", "ELEVENLABS_WEBHOOK_SECRET", "ELEVENLABS_INITIATION_SECRET"] {
        env.push((name, format!("{name}-of-the-url-sample-test")));
    }
    let running = echome_testkit::serve::Serve::start(&echome, &data, &env);
    let token = echome_testkit::serve::token(&echome, &data, "ops-1", "operator", "15m");
    let http = reqwest::Client::new();
    let call = |m: reqwest::Method, p: &str, body: Option<Value>| {
        let mut r = http.request(m, format!("{}{p}", running.base)).bearer_auth(&token);
        if let Some(b) = body {
            r = r.json(&b);
        }
        async move {
            let res = r.send().await.unwrap();
            let status = res.status().as_u16();
            (status, res.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    let anna = json!({"id": "emp-43", "display_name": "Anna Berg", "kind": "presenter"});
    assert_eq!(call(reqwest::Method::POST, "/people", Some(anna)).await.0, 201);
    let grant = json!({"given_by": "Anna Berg", "method": "written"});
    assert_eq!(call(reqwest::Method::POST, "/people/emp-43/consent", Some(grant)).await.0, 201);
    let body = json!({"url": format!("{}/talks/anna", server.uri())});
    let (status, filed) = call(reqwest::Method::POST, "/people/emp-43/samples/from-url", Some(body)).await;
    assert_eq!(status, 202, "{filed:#}");
    let status_path = filed["status_path"].as_str().unwrap().to_owned();

    let started = Instant::now();
    let done = loop {
        let (_, s) = call(reqwest::Method::GET, &status_path, None).await;
        if s["state"] == "stored" || s["state"] == "refused" {
            break s;
        }
        assert!(started.elapsed() < Duration::from_secs(60), "still {s:#}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    assert_eq!(done["state"], "stored", "{done:#}");
    assert!(done["title"].as_str().unwrap().contains("Anna Berg"), "{done:#}");
    // The stored sample is taken as an upload: her clone run makes her voice.
    let person = loop {
        let (_, p) = call(reqwest::Method::GET, "/people/emp-43", None).await;
        if p["latest_run"]["status"] == "succeeded" || p["latest_run"]["status"] == "failed" {
            break p;
        }
        assert!(started.elapsed() < Duration::from_secs(180), "no voice yet: {p:#}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    assert!(person["active_voice_id"].is_string(), "{person:#}");
    assert_eq!(person["latest_run"]["status"], "succeeded", "{person:#}");
}
