//! A stateful stub of an ElevenLabs account for the tests that clone through the real client:
//! the voices `POST /v1/voices/add` makes, `GET /v2/voices` lists (filtered by `search` over
//! names, descriptions and label values, as the API describes the parameter), `DELETE
//! /v1/voices/{id}` removes, and the subscription's slots counted from them.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use wiremock::matchers::{method, path, path_regex};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

#[derive(Clone, Default)]
pub struct Account {
    pub voices: Arc<Mutex<Vec<Value>>>,
    /// Voice slots of the plan (`GET /v1/user/subscription`'s `voice_limit`).
    pub limit: usize,
}

impl Account {
    pub fn with(voices: Vec<Value>, limit: usize) -> Self {
        Self { voices: Arc::new(Mutex::new(voices)), limit }
    }

    pub fn ids(&self) -> Vec<String> {
        self.voices.lock().unwrap().iter().filter_map(|v| v["voice_id"].as_str().map(str::to_owned)).collect()
    }

    /// Making and listing voices; a made voice's answer comes after `add_delay` (longer than
    /// the client waits: the voice exists, the answer is lost).
    pub async fn mount_voices(&self, server: &MockServer, add_delay: Duration) {
        Mock::given(method("POST"))
            .and(path("/v1/voices/add"))
            .respond_with(AddVoice { account: self.clone(), delay: add_delay })
            .mount(server)
            .await;
        Mock::given(method("GET"))
            .and(path("/v2/voices"))
            .respond_with(List(self.clone()))
            .mount(server)
            .await;
    }

    /// Deleting voices and the subscription's slots.
    pub async fn mount_slots(&self, server: &MockServer) {
        Mock::given(method("DELETE"))
            .and(path_regex("^/v1/voices/[^/]+$"))
            .respond_with(Delete(self.clone()))
            .mount(server)
            .await;
        Mock::given(method("GET"))
            .and(path("/v1/user/subscription"))
            .respond_with(Subscription(self.clone()))
            .mount(server)
            .await;
    }
}

struct AddVoice {
    account: Account,
    delay: Duration,
}

impl Respond for AddVoice {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        let parts = multipart(req);
        let text = |name: &str| {
            parts
                .iter()
                .find(|(n, _, _)| n == name)
                .map(|(_, _, d)| String::from_utf8_lossy(d).into_owned())
                .unwrap_or_default()
        };
        let labels: Value = serde_json::from_str(&text("labels")).unwrap_or_else(|_| json!({}));
        let mut voices = self.account.voices.lock().unwrap();
        let id = format!("stubVoice{}", voices.len() + 1);
        voices.push(json!({"voice_id": id, "name": text("name"), "category": "cloned", "labels": labels,
            "description": text("description")}));
        ResponseTemplate::new(200)
            .set_body_json(json!({"voice_id": id, "requires_verification": false}))
            .set_delay(self.delay)
    }
}

struct List(Account);

impl Respond for List {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        let search = req.url.query_pairs().find(|(k, _)| k == "search").map(|(_, v)| v.into_owned());
        let voices: Vec<Value> = self
            .0
            .voices
            .lock()
            .unwrap()
            .iter()
            .filter(|v| {
                let Some(term) = &search else { return true };
                let mut fields = vec![v["name"].as_str(), v["description"].as_str()];
                if let Some(labels) = v["labels"].as_object() {
                    fields.extend(labels.values().map(Value::as_str));
                }
                fields.into_iter().flatten().any(|f| f.contains(term.as_str()))
            })
            .cloned()
            .collect();
        ResponseTemplate::new(200)
            .set_body_json(json!({"voices": voices, "has_more": false, "next_page_token": null}))
    }
}

struct Delete(Account);

impl Respond for Delete {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        let id = req.url.path().rsplit('/').next().unwrap_or_default().to_owned();
        let mut voices = self.0.voices.lock().unwrap();
        let before = voices.len();
        voices.retain(|v| v["voice_id"] != id.as_str());
        if voices.len() == before {
            return ResponseTemplate::new(404)
                .set_body_json(json!({"detail": {"status": "voice_not_found", "message": "no voice"}}));
        }
        ResponseTemplate::new(200).set_body_json(json!({"status": "ok"}))
    }
}

struct Subscription(Account);

impl Respond for Subscription {
    fn respond(&self, _: &Request) -> ResponseTemplate {
        let used = self.0.voices.lock().unwrap().len();
        ResponseTemplate::new(200).set_body_json(json!({"tier": "creator", "status": "active",
            "voice_slots_used": used, "voice_limit": self.0.limit, "can_use_instant_voice_cloning": true}))
    }
}

/// A multipart body's parts as `(name, filename, bytes)`.
pub fn multipart(req: &Request) -> Vec<(String, Option<String>, Vec<u8>)> {
    let ct = req.headers.get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default();
    let boundary = ct.split("boundary=").nth(1).expect("a multipart boundary").trim_matches('"');
    let delim = format!("--{boundary}");
    let body = &req.body;
    let mut parts = Vec::new();
    let mut starts: Vec<usize> = Vec::new();
    let mut i = 0;
    while let Some(pos) = find(&body[i..], delim.as_bytes()) {
        starts.push(i + pos);
        i += pos + delim.len();
    }
    for w in starts.windows(2) {
        let chunk = &body[w[0] + delim.len()..w[1]];
        let chunk = chunk.strip_prefix(b"\r\n").unwrap_or(chunk);
        let split = find(chunk, b"\r\n\r\n").expect("part headers");
        let head = String::from_utf8_lossy(&chunk[..split]).into_owned();
        let headers = head
            .lines()
            .find(|l| l.to_ascii_lowercase().starts_with("content-disposition"))
            .expect("a Content-Disposition header")
            .to_owned();
        let data = chunk[split + 4..].strip_suffix(b"\r\n").unwrap_or(&chunk[split + 4..]).to_vec();
        let attr = |key: &str| {
            headers
                .split(';')
                .map(str::trim)
                .find_map(|p| p.strip_prefix(&format!("{key}=\"")))
                .map(|v| v.trim_end_matches('"').to_owned())
        };
        parts.push((attr("name").expect("a part name"), attr("filename"), data));
    }
    parts
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}
