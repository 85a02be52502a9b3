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
    out.parameter
        .and_then(|p| p.value)
        .filter(|v| !v.trim().is_empty())
        .ok_or_else(|| format!("the secret parameter {name} is empty"))
}
