//! Phone numbers never reach a log: anything shaped like E.164 (`+` and 8–15 digits, as in S3
//! keys `samples/+14155550123/…`) is shown as `CallerId` shows it.

use crate::ids::CallerId;

/// `text` with every E.164-looking number redacted.
pub fn phone_numbers(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(pos) = rest.find('+') {
        out.push_str(&rest[..pos]);
        let after = &rest[pos + 1..];
        let digits = after.bytes().take_while(u8::is_ascii_digit).count();
        let candidate = &rest[pos..pos + 1 + digits];
        match CallerId::parse(candidate) {
            Ok(id) if digits >= 8 => out.push_str(&id.redacted()),
            _ => out.push_str(candidate),
        }
        rest = &rest[pos + 1 + digits..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_in_keys_and_messages_are_redacted() {
        assert_eq!(
            phone_numbers("no object at echome-recordings/samples/+14155550123/call.mp3"),
            "no object at echome-recordings/samples/+14******123/call.mp3"
        );
        assert_eq!(phone_numbers("+442071838750 and +14155550123"), "+44*******750 and +14******123");
        assert_eq!(phone_numbers("a + b, C++ and +12"), "a + b, C++ and +12");
        assert_eq!(phone_numbers(""), "");
    }
}
