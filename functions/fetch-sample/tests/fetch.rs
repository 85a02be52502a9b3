//! fetch-sample against real yt-dlp and a local web site on loopback (allowed through
//! `FETCH_ALLOWED_NETWORKS`, as a test server must be), the local records and the file store:
//! a talk's page becomes the person's sample with its source kept beside it; every refusal is
//! recorded with what to do instead and settles the request; only a failure a retry may mend
//! (or a missing downloader) keeps it.

use std::time::Duration;

use chrono::Utc;
use echome_core::people::{ConsentMethod, ConsentRecord, ConsentScope, PersonKind, PersonRecord};
use echome_core::url_samples::{SourceUrl, UrlSampleId, UrlSampleRequest, UrlSampleSource, UrlSampleState};
use echome_core::{BlobRef, BlobStore, ConsentPolicy, ErrorType, People, Person};
use echome_fetch::ytdlp::YtDlp;
use echome_fetch::{FetchPolicy, Fetcher, networks};
use echome_local::{FsBlobStore, LocalRecords};
use echome_testkit::Voice;
use fetch_sample::{Config, Outcome, Source, fetch_sample, handle_json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const BUCKET: &str = "echome-recordings";
const PERSON: &str = "emp-42";

/// Anna's talk: real speech (espeak-ng), as an MP3 (ffmpeg), the way a page offers it.
fn talk() -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let speech = Voice::MAIN
        .speak("Good evening, and thank you all for coming to the town hall tonight.", dir.path())
        .unwrap();
    let wav = echome_testkit::conversation::wav(&speech).unwrap();
    echome_audio::ffmpeg::transcode(&wav, &["-c:a", "libmp3lame", "-b:a", "64k", "-f", "mp3"]).unwrap()
}

struct World {
    dir: tempfile::TempDir,
    blobs: FsBlobStore,
    records: LocalRecords,
    fetcher: Fetcher,
    ytdlp: YtDlp,
    config: Config,
    site: MockServer,
    talk: Vec<u8>,
}

async fn world(consent: ConsentPolicy) -> World {
    let dir = tempfile::tempdir().unwrap();
    let site = MockServer::start().await;
    let talk = talk();
    let page = "<!doctype html><html><head><title>Anna Berg at the town hall</title></head>\
                <body><audio controls src=\"/media/anna.mp3\"></audio></body></html>";
    let ok = |kind: &str, body: Vec<u8>| ResponseTemplate::new(200).set_body_raw(body, kind);
    Mock::given(method("GET"))
        .and(path("/talks/anna"))
        .respond_with(ok("text/html", page.into()))
        .mount(&site)
        .await;
    Mock::given(method("GET"))
        .and(path("/media/anna.mp3"))
        .respond_with(ok("audio/mpeg", talk.clone()))
        .mount(&site)
        .await;
    let about = "<html><head><title>About</title></head><body>No media here.</body></html>";
    Mock::given(method("GET"))
        .and(path("/about"))
        .respond_with(ok("text/html", about.into()))
        .mount(&site)
        .await;
    Mock::given(method("GET")).and(path("/busy")).respond_with(ResponseTemplate::new(503)).mount(&site).await;
    let policy = FetchPolicy {
        allowed_hosts: vec!["*".into()],
        allowed_networks: networks::parse_networks("127.0.0.0/8").unwrap(),
        max_bytes: 10_000_000,
        timeout: Duration::from_secs(30),
    };
    let config =
        Config { consent, scratch: dir.path().join("scratch"), max_duration: Duration::from_secs(3600) };
    let records = LocalRecords::open(&dir.path().join("r.redb")).unwrap();
    let person = Person::parse(PERSON).unwrap();
    let rec = PersonRecord::new(person, "Anna Berg", PersonKind::Employee, "ops-1", Utc::now()).unwrap();
    records.create_person(&rec).await.unwrap();
    World {
        blobs: FsBlobStore::new(dir.path().join("blobs")),
        records,
        fetcher: Fetcher::new(policy),
        ytdlp: YtDlp::from_env().unwrap(),
        config,
        site,
        talk,
        dir,
    }
}

impl World {
    /// The request and its pending record, as the API files them.
    async fn request(&self, person: &str, at: &str) -> (BlobRef, UrlSampleRequest) {
        let url = SourceUrl::parse(&format!("{}{at}", self.site.uri())).unwrap();
        let req = UrlSampleRequest::new(Person::parse(person).unwrap(), url, "ops-1", Utc::now());
        self.file(&req).await
    }

    async fn file(&self, req: &UrlSampleRequest) -> (BlobRef, UrlSampleRequest) {
        let put = |key: String, v: Vec<u8>| async move {
            self.blobs.put_bytes(&BlobRef::new(BUCKET, key), v, "application/json").await.unwrap()
        };
        put(req.source_key(), serde_json::to_vec(&req.pending()).unwrap()).await;
        put(req.key(), serde_json::to_vec(req).unwrap()).await;
        (BlobRef::new(BUCKET, req.key()), req.clone())
    }

    async fn run(&self, request: &BlobRef) -> Result<Outcome, echome_core::StepError> {
        self.run_with(&self.ytdlp, request).await
    }

    async fn run_with(&self, ytdlp: &YtDlp, request: &BlobRef) -> Result<Outcome, echome_core::StepError> {
        let source = Source { fetcher: &self.fetcher, ytdlp };
        fetch_sample(&self.blobs, &self.records, &source, &self.config, request).await
    }

    async fn source(&self, req: &UrlSampleRequest) -> UrlSampleSource {
        let body = self.blobs.get_bytes(&BlobRef::new(BUCKET, req.source_key())).await.unwrap();
        serde_json::from_slice(&body).unwrap()
    }

    fn scratch_is_empty(&self) -> bool {
        std::fs::read_dir(self.dir.path().join("scratch")).map_or(true, |mut d| d.next().is_none())
    }
}

#[tokio::test]
async fn a_talks_page_becomes_the_persons_sample_with_its_source() {
    let w = world(ConsentPolicy::NotRequired).await;
    let (request, req) = w.request(PERSON, "/talks/anna").await;
    let out = w.run(&request).await.unwrap();
    let sample = BlobRef::new(BUCKET, req.sample_key("mp3"));
    assert_eq!(out, Outcome::Stored { sample: sample.clone(), bytes: w.talk.len() as u64 });
    assert_eq!(
        w.blobs.get_bytes(&sample).await.unwrap(),
        w.talk,
        "the audio is stored as the page serves it"
    );
    let src = w.source(&req).await;
    println!("{}", serde_json::to_string_pretty(&src).unwrap());
    assert_eq!(src.state, UrlSampleState::Stored);
    assert_eq!(src.url.as_str(), format!("{}/talks/anna", w.site.uri()), "the source URL is kept whole");
    assert!(src.title.as_deref().is_some_and(|t| t.contains("Anna Berg at the town hall")), "{src:?}");
    assert_eq!(src.extractor.as_deref(), Some("html5"));
    assert_eq!(
        (src.sample_key.as_deref(), src.bytes),
        (Some(sample.key.as_str()), Some(w.talk.len() as u64))
    );
    assert_eq!(src.requested_by, "ops-1");
    assert!(!w.blobs.exists(&request).await.unwrap(), "the request is settled");
    assert!(w.scratch_is_empty(), "no download stays in the scratch folder");
    // The upload trigger takes the sample, and leaves the record beside it alone.
    assert!(upload_trigger::person_of(&sample.key).is_ok());
    assert!(upload_trigger::person_of(&req.source_key()).is_err());

    // A redelivered event: the request is gone; filed again after it was stored: not fetched twice.
    let seen = w.site.received_requests().await.unwrap().len();
    assert!(matches!(w.run(&request).await.unwrap(), Outcome::Skipped { .. }));
    w.blobs.put_bytes(&request, serde_json::to_vec(&req).unwrap(), "application/json").await.unwrap();
    assert_eq!(w.run(&request).await.unwrap(), Outcome::AlreadyStored);
    assert_eq!(w.site.received_requests().await.unwrap().len(), seen);
}

#[tokio::test]
async fn every_refusal_is_recorded_with_what_to_do_and_settles_the_request() {
    let w = world(ConsentPolicy::NotRequired).await;
    let cases = [
        (w.request(PERSON, "/about").await, "source_not_media"),
        (w.request(PERSON, "/none").await, "source_unavailable"),
        (w.request("emp-77", "/talks/anna").await, "person_unknown"),
    ];
    for ((request, req), code) in cases {
        let out = w.run(&request).await.unwrap();
        assert!(matches!(&out, Outcome::Refused { code: c, .. } if c == code), "{code}: {out:?}");
        let src = w.source(&req).await;
        assert_eq!((src.state, src.code.as_deref()), (UrlSampleState::Refused, Some(code)), "{code}");
        assert!(src.what_to_do.as_deref().is_some_and(|t| !t.is_empty()), "{code}: {src:?}");
        assert!(!w.blobs.exists(&request).await.unwrap(), "{code}: a refused request is settled");
    }
    let kept = w.blobs.keys(BUCKET, "samples/").await.unwrap();
    assert!(kept.iter().all(|k| k.ends_with(".source.json")), "nothing refused became a sample: {kept:?}");
    assert!(w.scratch_is_empty());
}

#[tokio::test]
async fn without_consent_nothing_is_fetched() {
    let w = world(ConsentPolicy::Required).await;
    let (request, req) = w.request(PERSON, "/talks/anna").await;
    assert!(
        matches!(w.run(&request).await.unwrap(), Outcome::Refused { code, .. } if code == "consent_missing")
    );
    assert!(w.site.received_requests().await.unwrap().is_empty(), "nothing was fetched");
    assert_eq!(w.source(&req).await.code.as_deref(), Some("consent_missing"));

    let person = Person::parse(PERSON).unwrap();
    let consent = ConsentRecord::grant(
        person,
        "Anna Berg",
        ConsentMethod::Written,
        [ConsentScope::Clone].into(),
        None,
        "ops-1",
        Utc::now(),
    );
    w.records.save_consent(&consent.unwrap()).await.unwrap();
    let (request, _) = w.request(PERSON, "/talks/anna").await;
    assert!(matches!(w.run(&request).await.unwrap(), Outcome::Stored { .. }));
}

#[tokio::test]
async fn a_failing_site_or_a_missing_downloader_keeps_the_request_for_a_retry() {
    let w = world(ConsentPolicy::NotRequired).await;
    let (request, req) = w.request(PERSON, "/busy").await;
    let err = w.run(&request).await.unwrap_err();
    assert_eq!(
        (err.error_type, err.code.as_str()),
        (ErrorType::Retryable, "source_failed"),
        "{}",
        err.message
    );
    assert_eq!(w.source(&req).await.state, UrlSampleState::Failed);
    assert!(w.blobs.exists(&request).await.unwrap(), "the request waits for the retry");

    let (request, req) = w.request(PERSON, "/talks/anna").await;
    let missing = YtDlp::new("/nonexistent/yt-dlp").unwrap();
    let err = w.run_with(&missing, &request).await.unwrap_err();
    assert_eq!((err.error_type, err.code.as_str()), (ErrorType::Internal, "downloader_missing"));
    let src = w.source(&req).await;
    assert_eq!((src.state, src.code.as_deref()), (UrlSampleState::Failed, Some("downloader_missing")));
    assert!(w.blobs.exists(&request).await.unwrap());
    // Once it is installed, the retry stores the sample.
    assert!(matches!(w.run(&request).await.unwrap(), Outcome::Stored { .. }));
}

#[tokio::test]
async fn every_event_gets_the_answer_a_user_expects() {
    let w = world(ConsentPolicy::NotRequired).await;
    let names = echome_testkit::events::names("fetch-sample");
    assert_eq!(names, ["outside-inbox", "url-sample-requested"], "every event needs a case here");
    let source = Source { fetcher: &w.fetcher, ytdlp: &w.ytdlp };
    for name in names {
        let event: serde_json::Value =
            serde_json::from_slice(&echome_testkit::events::read("fetch-sample", &name)).unwrap();
        if name == "url-sample-requested" {
            // The request the event names, as the API filed it.
            let req = UrlSampleRequest {
                id: UrlSampleId::parse("u20261206t101112345-0a1b2c3d").unwrap(),
                person: Person::parse(PERSON).unwrap(),
                url: SourceUrl::parse(&format!("{}/talks/anna", w.site.uri())).unwrap(),
                requested_by: "ops-1".into(),
                requested_at: Utc::now(),
            };
            w.file(&req).await;
        }
        let out = handle_json(&w.blobs, &w.records, &source, &w.config, event).await.unwrap();
        match name.as_str() {
            "url-sample-requested" => assert!(
                matches!(&out[..], [Outcome::Stored { sample, .. }]
                    if sample.key == format!("samples/{PERSON}/url/u20261206t101112345-0a1b2c3d.mp3")),
                "{out:?}"
            ),
            "outside-inbox" => assert!(matches!(&out[..], [Outcome::Skipped { .. }]), "{out:?}"),
            other => panic!("no expectation for event {other}"),
        }
    }
}

/// What an erasure does while the download runs: the person's request and folder go.
struct ErasedMeanwhile {
    files: Vec<std::path::PathBuf>,
    talk: Vec<u8>,
}

impl wiremock::Respond for ErasedMeanwhile {
    fn respond(&self, _: &wiremock::Request) -> ResponseTemplate {
        for f in &self.files {
            std::fs::remove_file(f).unwrap();
        }
        ResponseTemplate::new(200).set_body_raw(self.talk.clone(), "audio/mpeg")
    }
}

#[tokio::test]
async fn a_person_erased_while_their_audio_downloads_gets_nothing_stored() {
    let w = world(ConsentPolicy::NotRequired).await;
    let page =
        "<html><head><title>Anna</title></head><body><audio src=\"/media/erased.mp3\"></audio></body></html>";
    Mock::given(method("GET"))
        .and(path("/talks/erased"))
        .respond_with(ResponseTemplate::new(200).set_body_raw(page, "text/html"))
        .mount(&w.site)
        .await;
    let (request, req) = w.request(PERSON, "/talks/erased").await;
    let on_disk = |key: &str| w.dir.path().join("blobs").join(BUCKET).join(key);
    let erased = ErasedMeanwhile {
        files: vec![on_disk(&req.key()), on_disk(&req.source_key())],
        talk: w.talk.clone(),
    };
    Mock::given(method("GET")).and(path("/media/erased.mp3")).respond_with(erased).mount(&w.site).await;

    let out = w.run(&request).await.unwrap();
    assert!(matches!(&out, Outcome::Skipped { reason } if reason.contains("withdrawn")), "{out:?}");
    let left = w.blobs.keys(BUCKET, &format!("samples/{PERSON}/")).await.unwrap();
    assert!(left.is_empty(), "nothing of theirs is written after the erasure: {left:?}");
    assert!(w.scratch_is_empty());
}
