//! The fetcher against a real local HTTPS server (a throwaway CA and certificate made with the
//! openssl command) and a plain HTTP one: what passes, and every way a fetch is refused.

use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use base64::Engine as _;
use echome_fetch::{Credentials, FetchError, FetchPolicy, Fetcher, networks};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

const LIMIT: u64 = 1000;

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl").args(args).current_dir(dir).output().expect("the openssl command");
    assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

/// A CA and a certificate for localhost / 127.0.0.1 signed by it: (ca pem, cert der, key der).
fn certificates(dir: &Path) -> (Vec<u8>, Vec<u8>, Vec<u8>) {
    let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"];
    openssl(
        dir,
        &[
            &["req", "-x509"][..],
            &ec,
            &["-keyout", "ca.key", "-out", "ca.pem", "-days", "1", "-subj", "/CN=echome test CA"],
        ]
        .concat(),
    );
    openssl(
        dir,
        &[&["req"][..], &ec, &["-keyout", "leaf.key", "-out", "leaf.csr", "-subj", "/CN=localhost"]].concat(),
    );
    std::fs::write(
        dir.join("ext.cnf"),
        "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n",
    )
    .unwrap();
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "leaf.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "leaf.pem",
            "-days",
            "1",
            "-extfile",
            "ext.cnf",
        ],
    );
    openssl(dir, &["x509", "-in", "leaf.pem", "-outform", "DER", "-out", "leaf.der"]);
    openssl(
        dir,
        &["pkcs8", "-topk8", "-nocrypt", "-in", "leaf.key", "-outform", "DER", "-out", "leaf.key.der"],
    );
    let read = |n: &str| std::fs::read(dir.join(n)).unwrap();
    (read("ca.pem"), read("leaf.der"), read("leaf.key.der"))
}

struct Server {
    port: u16,
    requests: Arc<AtomicUsize>,
}

/// Answers by path; one request per connection.
async fn serve<S: AsyncRead + AsyncWrite + Unpin>(mut s: S, port: u16) {
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match s.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    let head = String::from_utf8_lossy(&head).to_string();
    let path = head.split_whitespace().nth(1).unwrap_or("/").to_owned();
    let authorized = head.lines().any(|l| {
        l.to_ascii_lowercase().starts_with("authorization:")
            && l.ends_with(&format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode("pbx:s3cret")
            ))
    });
    let ok = |body: Vec<u8>| {
        let mut r = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: audio/wav\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        )
        .into_bytes();
        r.extend(body);
        r
    };
    let redirect = |to: String| {
        format!("HTTP/1.1 302 Found\r\nLocation: {to}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            .into_bytes()
    };
    let answer = match path.as_str() {
        "/rec.wav" => ok(vec![7u8; 300]),
        "/redirect-same" => redirect("/rec.wav".into()),
        "/redirect-away" => redirect("https://elsewhere.example.com/rec.wav".into()),
        "/redirect-down" => redirect(format!("http://localhost:{port}/rec.wav")),
        "/big-declared" => ok(vec![1u8; 5000]),
        "/big-chunked" => {
            let mut r =
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n".to_vec();
            for _ in 0..10 {
                r.extend(b"190\r\n");
                r.extend(vec![2u8; 400]);
                r.extend(b"\r\n");
            }
            r.extend(b"0\r\n\r\n");
            r
        }
        "/slow" => {
            tokio::time::sleep(Duration::from_secs(5)).await;
            ok(vec![0u8; 10])
        }
        "/private" if authorized => ok(vec![9u8; 50]),
        "/private" => b"HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_vec(),
        _ => b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_vec(),
    };
    // A client that went away is no failure of the server's.
    if s.write_all(&answer).await.is_ok() {
        s.shutdown().await.ok();
    }
}

async fn start(tls: Option<TlsAcceptor>) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let requests = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&requests);
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            counted.fetch_add(1, Ordering::SeqCst);
            let tls = tls.clone();
            tokio::spawn(async move {
                match tls {
                    Some(acceptor) => {
                        if let Ok(stream) = acceptor.accept(tcp).await {
                            serve(stream, port).await;
                        }
                    }
                    None => serve(tcp, port).await,
                }
            });
        }
    });
    Server { port, requests }
}

fn policy(networks: &str, timeout_s: u64) -> FetchPolicy {
    FetchPolicy {
        allowed_hosts: vec!["localhost".into(), "127.0.0.1".into()],
        allowed_networks: networks::parse_networks(networks).unwrap(),
        max_bytes: LIMIT,
        timeout: Duration::from_secs(timeout_s),
    }
}

#[tokio::test]
async fn a_recording_is_fetched_only_as_the_policy_allows() {
    let dir = tempfile::tempdir().unwrap();
    let (ca, cert, key) = certificates(dir.path());
    let config = ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(
            vec![CertificateDer::from(cert)],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key)),
        )
        .unwrap();
    let https = start(Some(TlsAcceptor::from(Arc::new(config)))).await;
    let http = start(None).await;
    let local = "127.0.0.0/8, ::1/128";
    let fetcher = Fetcher::new(policy(local, 2)).with_root(&ca).unwrap();
    let dest = dir.path().join("got.wav");
    let url = |path: &str| format!("https://localhost:{}{path}", https.port);

    // Allowed: the local server's network is named.
    let got = fetcher.fetch_to(&url("/rec.wav"), None, &dest).await.unwrap();
    assert_eq!((got.bytes, got.content_type.as_deref()), (300, Some("audio/wav")));
    assert_eq!(std::fs::read(&dest).unwrap(), vec![7u8; 300]);
    let got = fetcher.fetch_to(&url("/redirect-same"), None, &dest).await.unwrap();
    assert!(got.url.ends_with("/rec.wav") && got.bytes == 300, "{got:?}");

    // Credentials for the PBX: sent, and needed.
    let creds = Credentials::Basic { user: "pbx".into(), password: "s3cret".into() };
    assert_eq!(fetcher.fetch_to(&url("/private"), Some(&creds), &dest).await.unwrap().bytes, 50);
    assert_eq!(fetcher.fetch_to(&url("/private"), None, &dest).await.unwrap_err(), FetchError::Status(401));
    assert!(!dest.exists(), "a failed fetch leaves no file");

    // Redirects away from the host, or down to http, are refused.
    let away = fetcher.fetch_to(&url("/redirect-away"), None, &dest).await.unwrap_err();
    assert!(
        matches!(&away, FetchError::Redirect { to, .. } if to.contains("elsewhere.example.com")),
        "{away}"
    );
    let down = fetcher.fetch_to(&url("/redirect-down"), None, &dest).await.unwrap_err();
    assert!(matches!(down, FetchError::Redirect { .. }), "{down}");

    // Bounded: a declared or a streamed body over the limit, and a host that does not answer.
    let big = fetcher.fetch_to(&url("/big-declared"), None, &dest).await.unwrap_err();
    assert_eq!(big, FetchError::TooLarge { limit: LIMIT });
    let big = fetcher.fetch_to(&url("/big-chunked"), None, &dest).await.unwrap_err();
    assert_eq!(big, FetchError::TooLarge { limit: LIMIT });
    assert!(!dest.exists(), "no partial file");
    let slow = fetcher.fetch_to(&url("/slow"), None, &dest).await.unwrap_err();
    assert_eq!(slow, FetchError::Timeout(Duration::from_secs(2)));
    assert!(slow.is_transient());

    // The certificate is checked: without the test CA the server is not trusted.
    let untrusting = Fetcher::new(policy(local, 2));
    let refused = untrusting.fetch_to(&url("/rec.wav"), None, &dest).await.unwrap_err();
    println!("untrusted: {refused}");
    assert!(
        matches!(&refused, FetchError::Failed(m) if m.to_lowercase().contains("certificate")),
        "{refused}"
    );

    // Without the network named, a loopback address is refused before any connection.
    let before = https.requests.load(Ordering::SeqCst);
    let default = Fetcher::new(policy("", 2)).with_root(&ca).unwrap();
    for raw in [url("/rec.wav"), format!("https://127.0.0.1:{}/rec.wav", https.port)] {
        let e = default.fetch_to(&raw, None, &dest).await.unwrap_err();
        assert!(matches!(&e, FetchError::AddressRefused { why, .. } if why.contains("loopback")), "{e}");
    }
    assert_eq!(https.requests.load(Ordering::SeqCst), before, "nothing was sent");

    // Plain http: only to a host inside FETCH_ALLOWED_NETWORKS.
    let plain = format!("http://127.0.0.1:{}/rec.wav", http.port);
    assert_eq!(fetcher.fetch_to(&plain, None, &dest).await.unwrap().bytes, 300);
    let e = default.fetch_to(&plain, None, &dest).await.unwrap_err();
    assert!(matches!(e, FetchError::AddressRefused { .. }), "{e}");
    let e = fetcher
        .fetch_to(&format!("https://pbx.example.org:{}/rec.wav", https.port), None, &dest)
        .await
        .unwrap_err();
    assert_eq!(e, FetchError::HostNotAllowed("pbx.example.org".into()));
}
