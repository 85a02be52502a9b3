//! The formats speech is delivered in.

/// Speech audio formats callers get.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SpeechFormat {
    Mp3,
    /// Raw G.711 μ-law at 8 kHz, for phone lines.
    Ulaw,
    /// Opus in an OGG container, for messaging apps.
    Ogg,
}

impl SpeechFormat {
    pub fn extension(self) -> &'static str {
        match self {
            Self::Mp3 => "mp3",
            Self::Ulaw => "ulaw",
            Self::Ogg => "ogg",
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Self::Mp3 => "audio/mpeg",
            Self::Ulaw => "audio/basic",
            Self::Ogg => "audio/ogg",
        }
    }
}
