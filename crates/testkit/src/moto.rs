//! A real moto server for the AWS adapter tests: started on a free loopback port, stopped when
//! the handle drops. `make test` installs it (`pip install "moto[server]"`); a missing moto is a
//! test failure with instructions, never a skipped test.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct MotoServer {
    child: Child,
    port: u16,
}

impl MotoServer {
    /// Starts `moto_server` (or `$MOTO_SERVER`) and waits until it answers.
    pub fn start() -> Self {
        let program = std::env::var("MOTO_SERVER").unwrap_or_else(|_| "moto_server".into());
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

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Lets the server run state machines (it cannot run our Lambda code, only the ASL itself).
    pub fn enable_state_machine_execution(&self) {
        let body = r#"{"stepfunctions":{"execute_state_machine":true}}"#;
        let status = self.post("/moto-api/config", body);
        assert!(status.starts_with("HTTP/1.1 20"), "moto refused its config: {status}");
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
        // Best effort: the process may already be gone; nothing else depends on it.
        if self.child.kill().is_ok() {
            self.child.wait().ok();
        }
    }
}

fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("binding a loopback port");
    listener.local_addr().expect("reading the bound port").port()
}
