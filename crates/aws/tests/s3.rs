//! The S3 blob store against a real moto server, through the real SDK.

use echome_aws::S3BlobStore;
use echome_core::{BlobRef, BlobStore, StorageError};
use echome_testkit::moto::MotoServer;

async fn store_with_bucket(moto: &MotoServer, bucket: &str) -> S3BlobStore {
    let store = S3BlobStore::new(&echome_aws::config::for_endpoint(&moto.endpoint()));
    store.client().create_bucket().bucket(bucket).send().await.expect("creating the bucket");
    store
}

#[tokio::test]
async fn files_stream_in_and_out_and_ranges_are_exact() {
    let moto = MotoServer::start();
    let store = store_with_bucket(&moto, "echome-test").await;
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("source.wav");
    let content: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
    std::fs::write(&src, &content).unwrap();
    let blob = BlobRef::new("echome-test", "runs/r1/source.wav");

    store.upload_from(&blob, &src, "audio/wav").await.unwrap();
    let dest = dir.path().join("back.wav");
    assert_eq!(store.download_to(&blob, &dest).await.unwrap(), content.len() as u64);
    assert_eq!(std::fs::read(&dest).unwrap(), content);

    assert_eq!(store.read_range(&blob, 1_000_000, 1000).await.unwrap(), &content[1_000_000..1_001_000]);
    assert_eq!(
        store.read_range(&blob, content.len() as u64 - 10, 1000).await.unwrap(),
        &content[content.len() - 10..]
    );
    let head =
        store.client().head_object().bucket("echome-test").key("runs/r1/source.wav").send().await.unwrap();
    assert_eq!(head.content_type(), Some("audio/wav"));

    let report = blob.with_key("runs/r1/report.json");
    store.put_bytes(&report, br#"{"ok":true}"#.to_vec(), "application/json").await.unwrap();
    assert_eq!(store.get_bytes(&report).await.unwrap(), br#"{"ok":true}"#);
}

#[tokio::test]
async fn missing_objects_and_buckets_are_reported_as_such() {
    let moto = MotoServer::start();
    let store = store_with_bucket(&moto, "echome-test").await;
    let missing = BlobRef::new("echome-test", "samples/+14155550123/none.wav");
    assert_eq!(store.get_bytes(&missing).await, Err(StorageError::NotFound(missing.to_string())));
    let dest = tempfile::tempdir().unwrap().path().join("x");
    assert!(matches!(store.download_to(&missing, &dest).await, Err(StorageError::NotFound(_))));
    let no_bucket = BlobRef::new("no-such-bucket", "a");
    let err = store.put_bytes(&no_bucket, vec![1], "text/plain").await.unwrap_err();
    assert!(matches!(err, StorageError::NotFound(_) | StorageError::Failed(_)), "{err:?}");
}

/// The speech cache's probe lists its own key: present, absent, and absent beside a longer key
/// that starts with it (the first key listed is not the one asked for).
#[tokio::test]
async fn an_object_is_found_by_a_listing_of_its_own_key() {
    let moto = MotoServer::start();
    let store = store_with_bucket(&moto, "echome-test").await;
    let record = BlobRef::new("echome-test", "tts/0123abcd.json");
    assert!(!store.exists(&record).await.unwrap(), "nothing there yet");
    store.put_bytes(&record.with_key("tts/0123abcd.json.partial"), vec![1], "text/plain").await.unwrap();
    assert!(!store.exists(&record).await.unwrap(), "a longer key is not this one");
    store.put_bytes(&record, b"{}".to_vec(), "application/json").await.unwrap();
    assert!(store.exists(&record).await.unwrap());
    assert!(
        !store.exists(&BlobRef::new("echome-test", "tts/0123")).await.unwrap(),
        "a prefix is not an object"
    );
}

/// The bucket is versioned: an erasure must leave no noncurrent version or delete marker that
/// would bring a person's recording back.
#[tokio::test]
async fn erasing_a_prefix_deletes_every_version_and_delete_marker() {
    use aws_sdk_s3::types::{BucketVersioningStatus, VersioningConfiguration};
    let moto = MotoServer::start();
    let store = store_with_bucket(&moto, "echome-test").await;
    let on = VersioningConfiguration::builder().status(BucketVersioningStatus::Enabled).build();
    store
        .client()
        .put_bucket_versioning()
        .bucket("echome-test")
        .versioning_configuration(on)
        .send()
        .await
        .unwrap();
    let blob = |k: &str| BlobRef::new("echome-test", k);
    let call = blob("samples/+14155550123/call.mp3");
    store.put_bytes(&call, b"first".to_vec(), "audio/mpeg").await.unwrap();
    store.put_bytes(&call, b"second".to_vec(), "audio/mpeg").await.unwrap();
    store.put_bytes(&blob("samples/+14155550123/old.mp3"), b"x".to_vec(), "audio/mpeg").await.unwrap();
    // A plain delete leaves a marker over the versions.
    store
        .client()
        .delete_object()
        .bucket("echome-test")
        .key("samples/+14155550123/old.mp3")
        .send()
        .await
        .unwrap();
    let other = blob("samples/+14155550999/call.mp3");
    store.put_bytes(&other, b"someone else".to_vec(), "audio/mpeg").await.unwrap();
    let twin = blob("samples/+141555501234/call.mp3");
    store.put_bytes(&twin, b"a longer number".to_vec(), "audio/mpeg").await.unwrap();

    assert_eq!(
        store.keys("echome-test", "samples/+14155550123/").await.unwrap(),
        ["samples/+14155550123/call.mp3"],
        "a listing shows current objects only"
    );
    assert!(store.delete_prefix("echome-test", "samples/+14155550123").await.is_err(), "a prefix ends in /");
    // call.mp3: two versions; old.mp3: one version and its marker.
    assert_eq!(store.delete_prefix("echome-test", "samples/+14155550123/").await.unwrap(), 4);
    let left = store
        .client()
        .list_object_versions()
        .bucket("echome-test")
        .prefix("samples/+14155550123/")
        .send()
        .await
        .unwrap();
    assert!(left.versions().is_empty() && left.delete_markers().is_empty(), "{left:?}");
    assert_eq!(
        store.delete_prefix("echome-test", "samples/+14155550123/").await.unwrap(),
        0,
        "again: nothing"
    );
    assert_eq!(store.get_bytes(&other).await.unwrap(), b"someone else", "another caller's stays");
    assert_eq!(store.get_bytes(&twin).await.unwrap(), b"a longer number");

    // One object: only its own versions, not a key it prefixes.
    let t = blob("webhooks/transcripts/c1.json");
    store.put_bytes(&t, b"1".to_vec(), "application/json").await.unwrap();
    store.put_bytes(&t, b"2".to_vec(), "application/json").await.unwrap();
    let longer = blob("webhooks/transcripts/c1.json.bak");
    store.put_bytes(&longer, b"3".to_vec(), "application/json").await.unwrap();
    assert_eq!(store.delete_versions(&t).await.unwrap(), 2);
    assert!(!store.exists(&t).await.unwrap());
    assert!(store.exists(&longer).await.unwrap());
}

/// The URL `POST /people/{person}/samples` hands out: a plain PUT with the signed
/// `Content-Type` stores the recording, and nothing else is needed to send it.
#[tokio::test]
async fn an_upload_url_takes_a_plain_put_of_the_recording() {
    let moto = MotoServer::start();
    let store = store_with_bucket(&moto, "echome-test").await;
    let blob = BlobRef::new("echome-test", "samples/emp-42/20261203T100000.000Z-interview.wav");
    let url = store.upload_url(&blob, "audio/wav", std::time::Duration::from_secs(60)).await.unwrap();
    let url = url.expect("S3 takes uploads");
    assert!(url.contains("X-Amz-Signature=") && url.contains("X-Amz-Expires=60"), "{url}");
    assert!(url.contains("content-type"), "the Content-Type is signed: {url}");
    let body: Vec<u8> = (0..200_000u32).map(|i| (i % 253) as u8).collect();
    let put = reqwest::Client::new().put(&url).header("content-type", "audio/wav").body(body.clone());
    let answer = put.send().await.unwrap();
    assert!(answer.status().is_success(), "{:?}", answer.text().await);
    assert_eq!(store.get_bytes(&blob).await.unwrap(), body);
    let head = store.client().head_object().bucket("echome-test").key(&blob.key).send().await.unwrap();
    assert_eq!(head.content_type(), Some("audio/wav"));
}
