//! Voices: instant cloning (`POST /v1/voices/add`), get, the paginated list (`GET /v2/voices`)
//! and delete.

use std::collections::BTreeMap;
use std::path::PathBuf;

use reqwest::multipart::{Form, Part};
use serde::{Deserialize, Serialize};

use crate::client::Client;
use crate::error::{ElevenLabsError, voice_missing};
use crate::limiter::Priority;

/// A clone to make from local files (the sample pack).
#[derive(Debug, Clone)]
pub struct NewVoice {
    pub name: String,
    pub files: Vec<PathBuf>,
    pub remove_background_noise: bool,
    pub description: Option<String>,
    /// Sent as a JSON string, as the API wants.
    pub labels: BTreeMap<String, String>,
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

#[derive(Debug, Deserialize)]
struct VoicePage {
    #[serde(default)]
    voices: Vec<Voice>,
    #[serde(default)]
    has_more: bool,
    #[serde(default)]
    next_page_token: Option<String>,
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
    /// Instant voice cloning. The files stream from disk; each attempt reopens them.
    pub async fn add_voice(
        &self,
        voice: &NewVoice,
        priority: Priority,
    ) -> Result<AddedVoice, ElevenLabsError> {
        let labels =
            serde_json::to_string(&voice.labels).map_err(|e| ElevenLabsError::Decode(e.to_string()))?;
        let answer = self
            .send(priority, "add voice", || {
                let mut form = Form::new()
                    .text("name", voice.name.clone())
                    .text("remove_background_noise", voice.remove_background_noise.to_string())
                    .text("labels", labels.clone());
                if let Some(d) = &voice.description {
                    form = form.text("description", d.clone());
                }
                for f in &voice.files {
                    form = form.part("files", file_part(f)?);
                }
                Ok(self.http().post(self.url("/v1/voices/add")).multipart(form))
            })
            .await?;
        answer.json()
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
            out.extend(page.voices);
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
