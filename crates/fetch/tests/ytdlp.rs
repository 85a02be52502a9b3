//! A sample from a URL against real yt-dlp (the pinned one `make tools` installs) and local
//! web sites on loopback: a page whose `<audio>` the generic extractor reads, a direct media
//! link, and each way the fence and the source refuse. Every request yt-dlp makes goes
//! through the fenced proxy, so a page cannot lead it to an address the policy refuses.

use std::time::Duration;

use echome_fetch::media::fetch_media;
use echome_fetch::ytdlp::YtDlp;
use echome_fetch::{FetchPolicy, Fetcher, networks};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

/// Stands in for a talk's audio: yt-dlp stores what it gets as it is.
fn media(len: usize) -> Vec<u8> {
    let mut m = b"ID3\x04\0\0\0\0\0\0".to_vec();
    m.extend((0..len - 10).map(|i| (i % 251) as u8));
    m
}

fn page(title: &str, audio_src: &str) -> String {
    format!(
        "<!doctype html><html><head><title>{title}</title></head><body><h1>{title}</h1>\
         <audio controls src=\"{audio_src}\"></audio></body></html>"
    )
}

async fn site(bind: &str) -> MockServer {
    let listener = std::net::TcpListener::bind(format!("{bind}:0")).expect("a loopback address to listen on");
    MockServer::builder().listener(listener).start().await
}

async fn serve(server: &MockServer, at: &str, kind: &str, body: Vec<u8>) {
    Mock::given(method("GET"))
        .and(path(at))
        .respond_with(ResponseTemplate::new(200).set_body_raw(body, kind))
        .mount(server)
        .await;
}

fn fetcher(allowed_networks: &str, max_bytes: u64) -> Fetcher {
    Fetcher::new(FetchPolicy {
        allowed_hosts: vec!["*".into()],
        allowed_networks: networks::parse_networks(allowed_networks).unwrap(),
        max_bytes,
        timeout: Duration::from_secs(30),
    })
}

async fn requests(server: &MockServer) -> Vec<String> {
    server.received_requests().await.unwrap_or_default().iter().map(|r| r.url.path().to_owned()).collect()
}

const HOUR: Duration = Duration::from_secs(3600);

#[tokio::test]
async fn a_pages_audio_and_a_media_link_are_downloaded_through_the_fence() {
    let server = site("127.0.0.1").await;
    let talk = media(4000);
    serve(
        &server,
        "/talks/anna.html",
        "text/html",
        page("Anna Berg at the town hall", "/media/anna.mp3").into_bytes(),
    )
    .await;
    serve(&server, "/media/anna.mp3", "audio/mpeg", talk.clone()).await;
    let ytdlp = YtDlp::from_env().unwrap();
    let fence = fetcher("127.0.0.0/8", 1_000_000);

    let dir = tempfile::tempdir().unwrap();
    let got = fetch_media(&fence, &ytdlp, &format!("{}/talks/anna.html", server.uri()), dir.path(), HOUR)
        .await
        .unwrap_or_else(|e| panic!("{}: {e} ({})", e.code(), e.what_to_do()));
    println!("page: {got:?}");
    assert_eq!(std::fs::read(&got.file).unwrap(), talk, "the audio, as served");
    assert_eq!(got.bytes, talk.len() as u64);
    assert!(got.title.as_deref().is_some_and(|t| t.contains("Anna Berg at the town hall")), "{got:?}");
    assert_eq!(got.extractor.as_deref(), Some("html5"));
    assert!(got.file.starts_with(dir.path()) && got.file.extension().is_some_and(|e| e == "mp3"));
    let seen = requests(&server).await;
    assert!(
        seen.contains(&"/talks/anna.html".to_owned()) && seen.contains(&"/media/anna.mp3".to_owned()),
        "{seen:?}"
    );

    // A link to the media file itself: taken as it is.
    let dir = tempfile::tempdir().unwrap();
    let got = fetch_media(&fence, &ytdlp, &format!("{}/media/anna.mp3", server.uri()), dir.path(), HOUR)
        .await
        .unwrap_or_else(|e| panic!("{}: {e}", e.code()));
    println!("direct: {got:?}");
    assert_eq!((std::fs::read(&got.file).unwrap(), got.extractor.as_deref()), (talk, Some("generic")));
}

#[tokio::test]
async fn the_fence_holds_for_the_page_and_for_where_it_leads() {
    let page_site = site("127.0.0.1").await;
    let media_site = site("127.0.0.2").await;
    serve(&media_site, "/anna.mp3", "audio/mpeg", media(2000)).await;
    let elsewhere = format!("{}/anna.mp3", media_site.uri());
    serve(&page_site, "/talk.html", "text/html", page("Anna Berg", &elsewhere).into_bytes()).await;
    let ytdlp = YtDlp::from_env().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let url = format!("{}/talk.html", page_site.uri());

    // No network allowed: a loopback address is refused before anything runs.
    let e = fetch_media(&fetcher("", 1_000_000), &ytdlp, &url, dir.path(), HOUR).await.unwrap_err();
    assert_eq!(e.code(), "address_refused", "{e}");
    assert!(!e.is_transient());
    assert!(requests(&page_site).await.is_empty(), "nothing reached a refused address");

    // The page's host is allowed, the media's (127.0.0.2) is not: the proxy refuses it, and
    // the fence's reason is the one told.
    let e =
        fetch_media(&fetcher("127.0.0.1/32", 1_000_000), &ytdlp, &url, dir.path(), HOUR).await.unwrap_err();
    println!("{}: {e} ({})", e.code(), e.what_to_do());
    assert_eq!(e.code(), "address_refused", "{e}");
    assert!(e.message.contains("127.0.0.2"), "{e}");
    assert_eq!(requests(&page_site).await, ["/talk.html"]);
    assert!(requests(&media_site).await.is_empty(), "yt-dlp never reached the refused host");
    assert!(std::fs::read_dir(dir.path()).unwrap().next().is_none(), "nothing downloaded stays");
}

#[tokio::test]
async fn each_source_that_gives_no_sample_says_why() {
    let server = site("127.0.0.1").await;
    serve(
        &server,
        "/about.html",
        "text/html",
        b"<html><head><title>About us</title></head><body>Hello</body></html>".to_vec(),
    )
    .await;
    serve(&server, "/big.mp3", "audio/mpeg", media(50_000)).await;
    serve(&server, "/big.html", "text/html", page("A long talk", "/big.mp3").into_bytes()).await;
    let ytdlp = YtDlp::from_env().unwrap();
    let fence = fetcher("127.0.0.0/8", 20_000);
    let dir = tempfile::tempdir().unwrap();
    for (at, code) in [
        ("/about.html", "source_not_media"),
        ("/gone.html", "source_unavailable"),
        ("/big.mp3", "source_too_large"),
        ("/big.html", "source_too_large"),
    ] {
        let url = format!("{}{at}", server.uri());
        let e = fetch_media(&fence, &ytdlp, &url, dir.path(), HOUR).await.unwrap_err();
        println!("{at}: {}: {e} — {}", e.code(), e.what_to_do());
        assert_eq!(e.code(), code, "{at}: {e}");
        assert!(!e.is_transient(), "{at}");
    }
    let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert!(left.is_empty(), "no partial download stays: {left:?}");

    // yt-dlp not installed where the fetch runs: a set-up error, not the source's.
    let missing = YtDlp::new("/nonexistent/yt-dlp").unwrap();
    let e = fetch_media(&fence, &missing, &format!("{}/big.mp3", server.uri()), dir.path(), HOUR)
        .await
        .unwrap_err();
    assert_eq!(e.code(), "downloader_missing");
    assert!(e.is_setup());
}

/// The yt-dlp these tests run (`tools/requirements.txt`, installed by `make tools`) is the one
/// the Lambda layer ships (`layers/yt-dlp/build.sh`): a bump of one is a bump of both.
#[test]
fn the_layer_ships_the_yt_dlp_the_tests_run() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let read = |p: &str| std::fs::read_to_string(root.join(p)).unwrap();
    let pinned = |text: &str, prefix: &str| {
        text.lines().find_map(|l| l.trim().strip_prefix(prefix)).map(|v| v.trim().to_owned())
    };
    let tools =
        pinned(&read("tools/requirements.txt"), "yt-dlp==").expect("yt-dlp pinned in tools/requirements.txt");
    let layer =
        pinned(&read("layers/yt-dlp/build.sh"), "version=").expect("version= in layers/yt-dlp/build.sh");
    assert_eq!(
        tools, layer,
        "tools/requirements.txt and layers/yt-dlp/build.sh pin different yt-dlp versions"
    );
    let out = std::process::Command::new("yt-dlp")
        .arg("--version")
        .output()
        .expect("yt-dlp on the PATH (make tools)");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        tools,
        "the yt-dlp on the PATH is the pinned one"
    );
}
