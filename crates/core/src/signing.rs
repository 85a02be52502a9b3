//! HMAC-SHA256 over `"<timestamp>.<raw body>"`: the scheme both 3CX and ElevenLabs sign their
//! webhooks with. Also the hex both the signatures and content hashes are written in.

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Lowercase hex.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Bytes from hex; `None` for an empty, odd-length or non-hex string.
pub fn unhex(s: &str) -> Option<Vec<u8>> {
    if s.is_empty() || !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok()).collect()
}

fn mac(secret: &[u8], timestamp: &str, body: &[u8]) -> Hmac<Sha256> {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret).unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

/// The signature of `body` at `timestamp`, in hex.
pub fn sign_timestamped(secret: &[u8], timestamp: &str, body: &[u8]) -> String {
    hex(&mac(secret, timestamp, body).finalize().into_bytes())
}

/// Whether `given` is the signature of `body` at `timestamp`, compared in constant time.
pub fn verify_timestamped(secret: &[u8], timestamp: &str, body: &[u8], given: &[u8]) -> bool {
    mac(secret, timestamp, body).verify_slice(given).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trips_and_refuses_what_is_not_hex() {
        assert_eq!(hex(&[0, 15, 255]), "000fff");
        assert_eq!(unhex("000fff"), Some(vec![0, 15, 255]));
        for bad in ["", "abc", "zz", "0g"] {
            assert_eq!(unhex(bad), None, "{bad:?}");
        }
    }
}
