//! Voices: instant cloning (`POST /v1/voices/add`), get, the paginated list (`GET /v2/voices`)
//! and delete.
//!
//! The account's voice list is not ours: other people's voices come in any shape, so each is
//! read on its own and one that does not parse is skipped, never the whole list. A clone is
//! made at most once: its answer lost (a timeout, a 5xx), the voice is looked up by the
//! request id it was labelled with rather than uploaded again.

use std::collections::BTreeMap;
use std::path::PathBuf;

use reqwest::multipart::{Form, Part};
use serde::{Deserialize, Serialize};

use crate::client::Client;
use crate::error::{ElevenLabsError, voice_missing};
use crate::limiter::Priority;

/// The label that carries a clone request's id ([`NewVoice::request_id`]).
pub const REQUEST_LABEL: &str = "echome_request";

/// A clone to make from local files (the sample pack).
#[derive(Debug, Clone)]
pub struct NewVoice {
    pub name: String,
    pub files: Vec<PathBuf>,
    pub remove_background_noise: bool,
    pub description: Option<String>,
    /// Sent as a JSON string, as the API wants.
    pub labels: BTreeMap<String, String>,
    /// Unique to this request: sent as the label `echome_request` (and in the description,
    /// which the voice search also reads), so a voice whose answer was lost can be found.
    pub request_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct AddedVoice {
    pub voice_id: String,
    #[serde(default)]
    pub requires_verification: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Voice {
    pub voice_id: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub category: String,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub created_at_unix: Option<i64>,
}

/// `GET /v2/voices` filters.
#[derive(Debug, Clone, Default)]
pub struct VoiceQuery {
    pub voice_type: Option<String>,
    pub category: Option<String>,
    pub search: Option<String>,
}

/// A page whose voices are read one by one ([`Voice::lenient`]).
#[derive(Debug, Deserialize)]
struct VoicePage {
    #[serde(default)]
    voices: Vec<serde_json::Value>,
    #[serde(default)]
    has_more: bool,
    #[serde(default)]
    next_page_token: Option<String>,
}

impl Voice {
    /// A voice from the account's list, taking what is usable: anything without a string
    /// `voice_id` is skipped; labels that are not strings are dropped; other odd fields are
    /// left empty.
    pub fn lenient(v: &serde_json::Value) -> Option<Self> {
        let text = |k: &str| v.get(k).and_then(serde_json::Value::as_str).map(str::to_owned);
        let labels = v
            .get("labels")
            .and_then(serde_json::Value::as_object)
            .map(|m| m.iter().filter_map(|(k, x)| Some((k.clone(), x.as_str()?.to_owned()))).collect())
            .unwrap_or_default();
        Some(Self {
            voice_id: text("voice_id").filter(|id| !id.is_empty())?,
            name: text("name").unwrap_or_default(),
            category: text("category").unwrap_or_default(),
            labels,
            description: text("description"),
            created_at_unix: v.get("created_at_unix").and_then(serde_json::Value::as_i64),
        })
    }
}

fn file_part(path: &PathBuf) -> Result<Part, ElevenLabsError> {
    let file = std::fs::File::open(path)
        .map_err(|e| ElevenLabsError::Decode(format!("cannot open {}: {e}", path.display())))?;
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    let stream = tokio_util::io::ReaderStream::new(tokio::fs::File::from_std(file));
    let name = path.file_name().map_or_else(|| "sample.wav".into(), |n| n.to_string_lossy().into_owned());
    let mime = match path.extension().and_then(|e| e.to_str()) {
        Some("mp3") => "audio/mpeg",
        Some("flac") => "audio/flac",
        _ => "audio/wav",
    };
    Part::stream_with_length(reqwest::Body::wrap_stream(stream), len)
        .file_name(name)
        .mime_str(mime)
        .map_err(|e| ElevenLabsError::Decode(e.to_string()))
}

impl Client {
    /// Instant voice cloning. The files stream from disk; each attempt reopens them. The upload
    /// is sent again only when nothing can have been made (see `Client::send_create`); when the
    /// answer is lost, the voice is looked up by its request id and used if it exists.
    pub async fn add_voice(
        &self,
        voice: &NewVoice,
        priority: Priority,
    ) -> Result<AddedVoice, ElevenLabsError> {
        let mut labels = voice.labels.clone();
        let mut description = voice.description.clone();
        if let Some(id) = &voice.request_id {
            labels.insert(REQUEST_LABEL.to_owned(), id.clone());
            description = Some(match description {
                Some(d) => format!("{d} ({REQUEST_LABEL} {id})"),
                None => format!("{REQUEST_LABEL} {id}"),
            });
        }
        let labels = serde_json::to_string(&labels).map_err(|e| ElevenLabsError::Decode(e.to_string()))?;
        let answer = self
            .send_create(priority, "add voice", || {
                let mut form = Form::new()
                    .text("name", voice.name.clone())
                    .text("remove_background_noise", voice.remove_background_noise.to_string())
                    .text("labels", labels.clone());
                if let Some(d) = &description {
                    form = form.text("description", d.clone());
                }
                for f in &voice.files {
                    form = form.part("files", file_part(f)?);
                }
                Ok(self.http().post(self.url("/v1/voices/add")).multipart(form))
            })
            .await
            .and_then(|a| a.json::<AddedVoice>());
        match (answer, &voice.request_id) {
            (Err(lost @ (ElevenLabsError::OutcomeUnknown { .. } | ElevenLabsError::Decode(_))), Some(id)) => {
                self.find_added(id, priority, lost).await
            }
            (answer, _) => answer,
        }
    }

    /// After a lost answer: the voice labelled with `request_id`, looked for a few times as the
    /// voice may still be in the making. None found after an answered 500 or 503 (the server
    /// was done with the request) is a failure worth retrying; after a timeout or a gateway
    /// error the outcome stays unknown.
    async fn find_added(
        &self,
        request_id: &str,
        priority: Priority,
        lost: ElevenLabsError,
    ) -> Result<AddedVoice, ElevenLabsError> {
        let query = VoiceQuery {
            voice_type: Some("personal".into()),
            search: Some(request_id.to_owned()),
            ..Default::default()
        };
        let looks = self.max_retries() + 1;
        for look in 0..looks {
            if look > 0 {
                tokio::time::sleep(self.backoff(look - 1)).await;
            }
            let found = match self.list_voices(&query, priority).await {
                Ok(voices) => voices,
                Err(e) => {
                    tracing::warn!(error = %e, "looking for a voice whose answer was lost");
                    continue;
                }
            };
            let mut found =
                found.into_iter().filter(|v| v.labels.get(REQUEST_LABEL).is_some_and(|r| r == request_id));
            if let Some(v) = found.next() {
                if found.next().is_some() {
                    tracing::warn!(
                        request_id,
                        "more than one voice carries this request id; the first is used"
                    );
                }
                tracing::info!(request_id, voice_id = %v.voice_id, "the voice whose answer was lost was found");
                return Ok(AddedVoice { voice_id: v.voice_id, requires_verification: false });
            }
        }
        tracing::warn!(request_id, error = %lost, "no voice carries the request id of a lost answer");
        Err(match lost {
            ElevenLabsError::OutcomeUnknown { status: status @ (500 | 503), message, .. } => {
                ElevenLabsError::Unavailable { status, message }
            }
            ElevenLabsError::OutcomeUnknown { what, status, message } => ElevenLabsError::OutcomeUnknown {
                what,
                status,
                message: format!(
                    "{message}; no voice labelled {REQUEST_LABEL}={request_id} was found after {looks} looks (reconciliation deletes it if it appears)"
                ),
            },
            other => other,
        })
    }

    pub async fn get_voice(&self, voice_id: &str, priority: Priority) -> Result<Voice, ElevenLabsError> {
        let url = self.url(&format!("/v1/voices/{voice_id}"));
        self.send(priority, "get voice", || Ok(self.http().get(&url))).await.map_err(voice_missing)?.json()
    }

    /// Every page of `GET /v2/voices`.
    pub async fn list_voices(
        &self,
        query: &VoiceQuery,
        priority: Priority,
    ) -> Result<Vec<Voice>, ElevenLabsError> {
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut params: Vec<(&str, String)> =
                vec![("page_size", "100".into()), ("include_total_count", "false".into())];
            if let Some(t) = &query.voice_type {
                params.push(("voice_type", t.clone()));
            }
            if let Some(c) = &query.category {
                params.push(("category", c.clone()));
            }
            if let Some(s) = &query.search {
                params.push(("search", s.clone()));
            }
            if let Some(t) = &token {
                params.push(("next_page_token", t.clone()));
            }
            let url = self.url("/v2/voices");
            let page: VoicePage = self
                .send(priority, "list voices", || Ok(self.http().get(&url).query(&params)))
                .await?
                .json()?;
            let before = out.len();
            out.extend(page.voices.iter().filter_map(Voice::lenient));
            let skipped = page.voices.len() - (out.len() - before);
            if skipped > 0 {
                tracing::warn!(skipped, "voices in the account's list that could not be read were skipped");
            }
            match page.next_page_token {
                Some(t) if page.has_more && !t.is_empty() => token = Some(t),
                _ => return Ok(out),
            }
        }
    }

    pub async fn delete_voice(&self, voice_id: &str, priority: Priority) -> Result<(), ElevenLabsError> {
        let url = self.url(&format!("/v1/voices/{voice_id}"));
        self.send(priority, "delete voice", || Ok(self.http().delete(&url))).await.map_err(voice_missing)?;
        Ok(())
    }
}
