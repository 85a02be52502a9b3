//! Phone numbers never reach a log. Two shapes are caught:
//!
//! - `+` and 8–15 digits, also written with separators (`+1 415-555-0123`, `+44 (20) 7183 8750`,
//!   `+1.415.555.0123`, and S3 keys `samples/+14155550123/…`): shown as `CallerId` shows it;
//! - a bare run of 8–15 digits in a word without letters (`to_number 14155550123 is invalid`,
//!   as providers echo numbers back): its middle digits are starred.
//!
//! Short numbers (`404`, `2026`, `09:14:02`) and digits inside ids with letters
//! (`conv_01234567890abc`, `3cx-call-20261120-0001`) are kept: nobody can ring them.

const MIN_DIGITS: usize = 8;
const MAX_DIGITS: usize = 15;

/// `text` with every phone-number-looking run redacted.
pub fn phone_numbers(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    let mut i = 0;
    while i < bytes.len() {
        let found = match bytes[i] {
            b'+' => plus_number(bytes, i),
            b'0'..=b'9' if i == 0 || !bytes[i - 1].is_ascii_digit() => bare_number(bytes, i),
            _ => None,
        };
        match found {
            Some((end, shown)) => {
                out.push_str(&text[copied..i]);
                out.push_str(&shown);
                copied = end;
                i = end;
            }
            None => {
                // Skip the rest of a digit run, so its tail is never read as a run of its own.
                i += 1;
                while bytes[i - 1].is_ascii_digit() && i < bytes.len() && bytes[i].is_ascii_digit() {
                    i += 1;
                }
            }
        }
    }
    out.push_str(&text[copied..]);
    out
}

/// Letters, digits and `_` make a word: digits touching them belong to an id, not a number.
fn is_word(bytes: &[u8], at: Option<usize>) -> bool {
    at.and_then(|i| bytes.get(i)).is_some_and(|b| b.is_ascii_alphanumeric() || *b == b'_')
}

/// What ends a word for [`bare_number`]: space, quotes, brackets, and the punctuation between
/// fields (`to=…`, `"to":"…"`, `a/b`). `-`, `_`, `.` and the like join the parts of an id.
fn ends_word(b: u8) -> bool {
    b.is_ascii_whitespace() || !b.is_ascii() || b"\"'`,;:=()[]{}<>/\\|?&*".contains(&b)
}

fn digit_run(bytes: &[u8], from: usize) -> usize {
    bytes[from..].iter().take_while(|b| b.is_ascii_digit()).count()
}

/// `+` at `start`, then digit groups joined by at most two separators (` `, `-`, `.`, `(`,
/// `)`), while they add up to at most 15 digits. Returns where it ends and how it is shown.
fn plus_number(bytes: &[u8], start: usize) -> Option<(usize, String)> {
    let mut digits = String::new();
    let mut end = start + 1;
    let mut next = end;
    loop {
        let run = digit_run(bytes, next);
        if run == 0 || digits.len() + run > MAX_DIGITS {
            break;
        }
        digits.push_str(std::str::from_utf8(&bytes[next..next + run]).ok()?);
        end = next + run;
        let seps =
            bytes[end..].iter().take(2).take_while(|b| matches!(b, b' ' | b'-' | b'.' | b'(' | b')')).count();
        next = end + seps;
        if seps == 0 || !bytes.get(next).is_some_and(u8::is_ascii_digit) {
            break;
        }
    }
    if digits.len() < MIN_DIGITS || is_word(bytes, Some(end)) {
        return None;
    }
    // E.164 has no leading 0 after the `+`.
    if digits.starts_with('0') {
        return None;
    }
    Some((end, e164(&format!("+{digits}"))))
}

/// A URL as logs and errors show it: `https://host/…`. Its path and query may carry a token,
/// and its user info a password, so neither is shown.
pub fn url(raw: &str) -> String {
    let (scheme, rest) = raw.split_once("://").unwrap_or(("?", raw));
    let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host = host.rsplit('@').next().unwrap_or_default();
    format!("{scheme}://{host}/…")
}

/// `+44*******961`: how an E.164 number is shown anywhere it is shown (`CallerId` too): the
/// country code's first digits and the last three stay readable.
pub fn e164(number: &str) -> String {
    let n = number.len();
    let keep_head = 3.min(n);
    let keep_tail = 3.min(n.saturating_sub(keep_head));
    match (number.get(..keep_head), number.get(n - keep_tail..)) {
        (Some(head), Some(tail)) => format!("{head}{}{tail}", "*".repeat(n - keep_head - keep_tail)),
        _ => "*".repeat(number.chars().count()),
    }
}

/// A run of 8–15 digits in a word that holds no letter (`14155550123`, not `conv_0123456789a`).
fn bare_number(bytes: &[u8], start: usize) -> Option<(usize, String)> {
    let run = digit_run(bytes, start);
    let end = start + run;
    if !(MIN_DIGITS..=MAX_DIGITS).contains(&run) {
        return None;
    }
    let word_start = bytes[..start].iter().rposition(|b| ends_word(*b)).map_or(0, |p| p + 1);
    let word_end = bytes[end..].iter().position(|b| ends_word(*b)).map_or(bytes.len(), |p| end + p);
    if bytes[word_start..word_end].iter().any(|b| b.is_ascii_alphabetic() || *b == b'_') {
        return None;
    }
    let digits = std::str::from_utf8(&bytes[start..end]).ok()?;
    // As `CallerId` shows E.164 without its `+`: the first two and the last three digits.
    Some((end, format!("{}{}{}", &digits[..2], "*".repeat(run - 5), &digits[run - 3..])))
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

    #[test]
    fn numbers_written_with_separators_are_redacted() {
        assert_eq!(phone_numbers("call +1 415-555-0123 now"), "call +14******123 now");
        assert_eq!(phone_numbers("rang +44 (20) 7183 8750."), "rang +44*******750.");
        assert_eq!(phone_numbers("+1.415.555.0123"), "+14******123");
        assert_eq!(phone_numbers("(+1 415 555 0123)"), "(+14******123)");
        for text in ["+1 415-555-0123", "+44 (20) 7183 8750", "+1.415.555.0123"] {
            let out = phone_numbers(&format!("to {text}, twice: {text}"));
            assert!(!out.contains("555") && !out.contains("7183"), "{out}");
        }
    }

    #[test]
    fn bare_digit_runs_in_provider_messages_are_redacted() {
        assert_eq!(phone_numbers("to_number 14155550123 is invalid"), "to_number 14******123 is invalid");
        assert_eq!(phone_numbers("number: 02071838750"), "number: 02******750");
        assert_eq!(phone_numbers("\"to\":\"4155550123\""), "\"to\":\"41*****123\"");
        assert_eq!(phone_numbers("runs/14155550123/x"), "runs/14******123/x");
    }

    #[test]
    fn short_numbers_dates_and_ids_are_kept() {
        for keep in [
            "HTTP 404 after 2026 ms",
            "at 2026-11-20T09:14:02Z",
            "conv_01234567890abc and voice 21m00Tcm4TlvDq8ikWAM",
            "run up-0123-4a5b6c7d8e9f",
            "call 3cx-call-20261120-0001 at 1.25 s",
            "job_123456789012",
            "a 1234567 b",
            "+1234567",
            "+1234567890123456789",
        ] {
            assert_eq!(phone_numbers(keep), keep);
        }
    }
}
