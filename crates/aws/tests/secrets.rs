//! Secrets from SSM Parameter Store, against a real moto server.

use echome_testkit::moto::MotoServer;

#[tokio::test]
async fn a_secure_string_is_read_decrypted_and_a_missing_one_is_named() {
    let moto = MotoServer::start();
    let sdk = echome_aws::config::for_endpoint(&moto.endpoint());
    aws_sdk_ssm::Client::new(&sdk)
        .put_parameter()
        .name("/echome/elevenlabs-api-key")
        .value("sk_live_not_a_real_key")
        .r#type(aws_sdk_ssm::types::ParameterType::SecureString)
        .send()
        .await
        .unwrap();
    let key = echome_aws::secrets::ssm_secret(&sdk, "/echome/elevenlabs-api-key").await.unwrap();
    assert_eq!(key, "sk_live_not_a_real_key");
    let err = echome_aws::secrets::ssm_secret(&sdk, "/echome/missing").await.unwrap_err();
    assert!(err.contains("/echome/missing"), "{err}");
}
