//! A real moto server for the AWS adapter tests: started on a free loopback port, stopped when
//! the handle drops. `make test` installs it (`pip install "moto[server]"`); a missing moto is a
//! test failure with instructions, never a skipped test.
//!
//! [`MotoServer::start_with_iam`] starts one that enforces IAM the way moto can (see
//! [`crate::iam`] for what that covers): requests are unauthenticated until
//! [`MotoServer::enforce_iam`], so a test creates its resources and IAM users first
//! ([`MotoServer::create_user`]), then every request must be signed with a user's access key
//! and is allowed only by that user's policy.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct MotoServer {
    child: Child,
    port: u16,
}

/// An IAM user's access key, as moto made it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessKey {
    pub user: String,
    pub id: String,
    pub secret: String,
}

/// An answer from moto: the status and the whole body.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub body: String,
}

impl MotoServer {
    /// Starts `moto_server` (or `$MOTO_SERVER`) and waits until it answers.
    pub fn start() -> Self {
        let program = program();
        let port = free_port();
        let child = Command::new(&program)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot start {program} ({e}): run `make test`, which installs moto[server]")
            });
        let server = Self { child, port };
        server.wait_ready();
        server
    }

    /// Starts a moto server that authenticates and authorizes requests against its IAM users
    /// once `initial_no_auth_actions` requests have been served (moto's
    /// `INITIAL_NO_AUTH_ACTION_COUNT`; moto counts them server-wide). Call [`Self::enforce_iam`]
    /// when the setup is done, so that enforcement starts exactly there whatever the setup's
    /// count was.
    ///
    /// The server also stops when the test process ends, so the handle may live in a `static`
    /// shared by the tests of one binary.
    pub fn start_with_iam(initial_no_auth_actions: u64) -> Self {
        let program = program();
        let port = free_port();
        // A watchdog shell holds moto: when our end of its stdin closes (the handle dropped, or
        // this process gone, however it ended), it stops moto and exits.
        let script = r#""$@" </dev/null & pid=$!; read -r _; kill "$pid" 2>/dev/null; wait "$pid""#;
        let child = Command::new("sh")
            .args(["-c", script, "sh", &program, "-H", "127.0.0.1", "-p", &port.to_string()])
            .env("INITIAL_NO_AUTH_ACTION_COUNT", initial_no_auth_actions.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start sh to run {program} ({e})"));
        let server = Self { child, port };
        server.wait_ready();
        server
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Lets the server run state machines (it cannot run our Lambda code, only the ASL itself).
    pub fn enable_state_machine_execution(&self) {
        let body = r#"{"stepfunctions":{"execute_state_machine":true}}"#;
        let status = self.post("/moto-api/config", body);
        assert!(status.starts_with("HTTP/1.1 20"), "moto refused its config: {status}");
    }

    /// From the next request on, every request must carry a valid signature of a known access
    /// key and be allowed by its user's policies. Checks that moto now refuses an unknown key.
    pub fn enforce_iam(&self) {
        // moto reads the new count from the raw body: a form content type would hide it.
        let reset = self.request("POST", "/moto-api/reset-auth", &[("Content-Type", "text/plain")], b"0");
        assert_eq!(reset.status, 200, "moto refused to enforce IAM: {}", reset.body);
        let probe = self.request(
            "POST",
            "/",
            &[
                ("Authorization", &fake_authorization("AKIANOSUCHKEY0000000", "dynamodb")),
                ("X-Amz-Target", "DynamoDB_20120810.ListTables"),
                ("X-Amz-Date", "20260101T000000Z"),
                ("Content-Type", "application/x-amz-json-1.0"),
            ],
            b"{}",
        );
        assert_eq!(
            probe.status, 403,
            "moto still serves a request signed with an unknown key, so IAM is not enforced: {}",
            probe.body
        );
    }

    /// Creates the IAM user `name` with one inline policy (`policy_document`, IAM JSON) and an
    /// access key. Only before [`Self::enforce_iam`]: these requests are not signed.
    pub fn create_user(&self, name: &str, policy_document: &str) -> Result<AccessKey, String> {
        self.iam(&[("Action", "CreateUser"), ("UserName", name)])?;
        self.iam(&[
            ("Action", "PutUserPolicy"),
            ("UserName", name),
            ("PolicyName", &format!("{name}-policy")),
            ("PolicyDocument", policy_document),
        ])?;
        let created = self.iam(&[("Action", "CreateAccessKey"), ("UserName", name)])?;
        let field = |tag: &str| {
            xml_text(&created, tag)
                .ok_or_else(|| format!("moto's CreateAccessKey answer has no {tag}: {created}"))
        };
        Ok(AccessKey { user: name.to_owned(), id: field("AccessKeyId")?, secret: field("SecretAccessKey")? })
    }

    /// One IAM query-protocol call, unsigned (moto routes it by the credential scope).
    fn iam(&self, params: &[(&str, &str)]) -> Result<String, String> {
        let mut body = String::from("Version=2010-05-08");
        for (k, v) in params {
            body.push_str(&format!("&{}={}", percent_encode(k), percent_encode(v)));
        }
        let answer = self.request(
            "POST",
            "/",
            &[
                ("Authorization", &fake_authorization("AKIAIAMSETUP00000000", "iam")),
                ("Content-Type", "application/x-www-form-urlencoded"),
            ],
            body.as_bytes(),
        );
        if answer.status == 200 {
            Ok(answer.body)
        } else {
            let action = params.first().map_or("?", |p| p.1);
            Err(format!("moto answered IAM {action} with {}: {}", answer.status, answer.body))
        }
    }

    /// A plain HTTP/1.1 exchange with the server.
    pub fn request(&self, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Answer {
        let mut s = TcpStream::connect(("127.0.0.1", self.port)).expect("moto is not listening");
        let mut head = format!(
            "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nContent-Length: {}\r\nConnection: close\r\n",
            self.port,
            body.len()
        );
        for (k, v) in headers {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        head.push_str("\r\n");
        s.write_all(head.as_bytes()).and_then(|()| s.write_all(body)).expect("writing to moto");
        let mut raw = Vec::new();
        s.read_to_end(&mut raw).expect("reading moto's answer");
        let text = String::from_utf8_lossy(&raw);
        let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
        let status = head.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
        Answer { status, body: body.to_owned() }
    }

    fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(mut s) = TcpStream::connect(("127.0.0.1", self.port)) {
                let req = "GET /moto-api/ HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";
                let mut buf = [0u8; 12];
                if s.write_all(req.as_bytes()).is_ok() && s.read_exact(&mut buf).is_ok() {
                    return;
                }
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("moto_server did not answer on port {} within 30 s", self.port);
    }

    fn post(&self, path: &str, body: &str) -> String {
        let mut s = TcpStream::connect(("127.0.0.1", self.port)).expect("moto is not listening");
        let req = format!(
            "POST {path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        s.write_all(req.as_bytes()).expect("writing to moto");
        let mut out = String::new();
        s.read_to_string(&mut out).expect("reading moto's answer");
        out.lines().next().unwrap_or_default().to_owned()
    }
}

impl Drop for MotoServer {
    fn drop(&mut self) {
        // Under the watchdog, closing its stdin stops moto and then the watchdog.
        if let Some(stdin) = self.child.stdin.take() {
            drop(stdin);
            self.child.wait().ok();
            return;
        }
        // Best effort: the process may already be gone; nothing else depends on it.
        if self.child.kill().is_ok() {
            self.child.wait().ok();
        }
    }
}

/// `$MOTO_SERVER`, else `moto_server` on `PATH`, else the one `make tools` installs in the
/// workspace's `.tools/venv`.
fn program() -> String {
    if let Ok(p) = std::env::var("MOTO_SERVER") {
        return p;
    }
    let on_path = std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join("moto_server").is_file()));
    let venv = workspace_root().join(".tools/venv/bin/moto_server");
    if !on_path && venv.is_file() {
        return venv.display().to_string();
    }
    if !on_path {
        panic!(
            "moto_server is neither on PATH nor at {}: run `make tools` (or `make test`), which \
             installs moto[server] into .tools/venv",
            venv.display()
        );
    }
    "moto_server".into()
}

/// The workspace this crate is part of.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap_or_else(|_| Path::new(env!("CARGO_MANIFEST_DIR")).join("../.."))
}

/// An `Authorization` header that routes a request to `service` (moto reads the credential
/// scope); its signature is checked only once IAM is enforced.
fn fake_authorization(key: &str, service: &str) -> String {
    format!(
        "AWS4-HMAC-SHA256 Credential={key}/20260101/us-east-1/{service}/aws4_request, \
         SignedHeaders=host;x-amz-date, Signature=00"
    )
}

fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The text of the first `<tag>` element (moto's XML answers are flat enough for this).
fn xml_text(xml: &str, tag: &str) -> Option<String> {
    let open = format!("<{tag}>");
    let start = xml.find(&open)? + open.len();
    let end = start + xml[start..].find(&format!("</{tag}>"))?;
    Some(
        xml[start..end]
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&quot;", "\"")
            .replace("&apos;", "'")
            .replace("&amp;", "&"),
    )
}

fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("binding a loopback port");
    listener.local_addr().expect("reading the bound port").port()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_values_and_xml_text_round_trip() {
        assert_eq!(percent_encode(r#"{"a": "b/*"}"#), "%7B%22a%22%3A%20%22b%2F%2A%22%7D");
        let xml = "<R><AccessKeyId>AKIA1</AccessKeyId><SecretAccessKey>a+b/c&amp;d</SecretAccessKey></R>";
        assert_eq!(xml_text(xml, "AccessKeyId").as_deref(), Some("AKIA1"));
        assert_eq!(xml_text(xml, "SecretAccessKey").as_deref(), Some("a+b/c&d"));
        assert_eq!(xml_text(xml, "Missing"), None);
    }
}
