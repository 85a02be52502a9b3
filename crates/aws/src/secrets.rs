//! Secrets (the ElevenLabs key, webhook secrets) live in SSM Parameter Store as SecureStrings.
//! A function reads each once at start; the template passes only the parameter's name.

use aws_sdk_ssm::Client;

/// The decrypted value of the parameter `name`. The error names the parameter, never a value.
pub async fn ssm_secret(sdk: &aws_config::SdkConfig, name: &str) -> Result<String, String> {
    let out =
        Client::new(sdk).get_parameter().name(name).with_decryption(true).send().await.map_err(|e| {
            format!(
                "cannot read the secret parameter {name}: {}",
                aws_sdk_ssm::error::DisplayErrorContext(&e)
            )
        })?;
    clean(name, out.parameter.and_then(|p| p.value))
}

/// A pasted secret often ends in a newline (`echo … | aws ssm put-parameter`, an editor):
/// signatures are computed over the secret's bytes, so surrounding whitespace is never part of it.
fn clean(name: &str, value: Option<String>) -> Result<String, String> {
    value
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
        .ok_or_else(|| format!("the secret parameter {name} is empty"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whitespace_around_a_pasted_secret_is_not_part_of_it() {
        let got = clean("/echome/x", Some("whsec_abc123\n".into()));
        assert_eq!(got.as_deref(), Ok("whsec_abc123"));
        assert_eq!(clean("/echome/x", Some("  sk_1 \r\n".into())).as_deref(), Ok("sk_1"));
        assert!(clean("/echome/x", Some(" \n".into())).unwrap_err().contains("/echome/x"));
        assert!(clean("/echome/x", None).is_err());
    }
}
