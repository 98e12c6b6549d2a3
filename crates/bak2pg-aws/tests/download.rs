//! `bak2pg_aws::download` against moto over HTTP (`BAK2PG_TEST_MOTO`, set by scripts/test):
//! a transfer cut mid-body resumes from the first missing byte, an object overwritten
//! between the cut and the resume fails as `object_changed`, multipart uploads' composite
//! checksums are verified over the part boundaries (and a tampered one fails), and an
//! SSE-KMS object, whose ETag is not the MD5 of its bytes, downloads without a false
//! checksum error.
//!
//! A small proxy stands between the client and moto where a test needs to break, observe or
//! rewrite the traffic: it serves one request per connection, can cut the first ranged GET's
//! body after N bytes, and can replace text in request and response headers.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region, RequestChecksumCalculation};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    ChecksumAlgorithm, ChecksumMode, CompletedMultipartUpload, CompletedPart, ServerSideEncryption,
};
use bak2pg::job::{ErrorClass, ObjectRef};
use bak2pg_aws::{DownloadOptions, download_with, s3_checksum};
use base64::Engine as _;
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;

const MIB: usize = 1 << 20;

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name} is not set: run the tests with scripts/test"))
}

/// moto's address (`BAK2PG_TEST_MOTO=http://127.0.0.1:port`).
fn moto() -> SocketAddr {
    let url = env("BAK2PG_TEST_MOTO");
    url.trim_start_matches("http://").trim_end_matches('/').parse().expect("BAK2PG_TEST_MOTO is http://host:port")
}

/// An S3 client of `endpoint`; `sdk_checksums: false` sends no checksum the caller did not ask
/// for (the SDK adds a CRC32 to every PutObject by default).
fn client(endpoint: &str, sdk_checksums: bool) -> aws_sdk_s3::Client {
    use aws_smithy_http_client::tls;
    let http = aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(tls::rustls_provider::CryptoMode::Ring))
        .build_https();
    let mut b = aws_sdk_s3::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("testing", "testing", None, None, "test"))
        .endpoint_url(endpoint)
        .force_path_style(true)
        .http_client(http);
    if !sdk_checksums {
        b = b.request_checksum_calculation(RequestChecksumCalculation::WhenRequired);
    }
    aws_sdk_s3::Client::from_conf(b.build())
}

fn direct() -> aws_sdk_s3::Client {
    client(&format!("http://{}", moto()), true)
}

/// A fresh bucket (moto is shared by the whole test run).
async fn bucket(s3: &aws_sdk_s3::Client, name: &str) -> String {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    let bucket = format!("bak2pg-dl-{name}-{nanos}");
    s3.create_bucket().bucket(&bucket).send().await.expect("CreateBucket");
    bucket
}

/// `n` deterministic pseudo-random bytes.
fn bytes(n: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

fn object(bucket: &str, key: &str) -> ObjectRef {
    ObjectRef { bucket: bucket.into(), key: key.into(), version_id: None, sequencer: None, size: None, etag: None }
}

fn options(backoff_ms: u64) -> DownloadOptions {
    DownloadOptions { part_bytes: MIB as u64, retries: 3, backoff: Duration::from_millis(backoff_ms) }
}

fn sha256_hex(b: &[u8]) -> String {
    hex::encode(Sha256::digest(b))
}

// --- the proxy ----------------------------------------------------------------------------

#[derive(Default)]
struct Rules {
    /// Close the first ranged GET's connection after this many bytes of its body.
    cut_after: Option<usize>,
    /// Text replaced in the request headers, then in the response headers.
    request: Vec<(String, String)>,
    response: Vec<(String, String)>,
}

/// A request the proxy passed on.
#[derive(Debug, Clone)]
struct Seen {
    method: String,
    range: Option<String>,
    if_match: Option<String>,
}

struct Shared {
    rules: Rules,
    seen: Mutex<Vec<Seen>>,
    cut_done: AtomicBool,
    cut: Notify,
}

struct Proxy {
    url: String,
    shared: Arc<Shared>,
}

impl Proxy {
    async fn start(rules: Rules) -> Proxy {
        let upstream = moto();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let shared = Arc::new(Shared {
            rules,
            seen: Mutex::new(Vec::new()),
            cut_done: AtomicBool::new(false),
            cut: Notify::new(),
        });
        let s = shared.clone();
        tokio::spawn(async move {
            while let Ok((c, _)) = listener.accept().await {
                let s = s.clone();
                tokio::spawn(async move {
                    let _ = serve(c, upstream, &s).await;
                });
            }
        });
        Proxy { url, shared }
    }

    fn gets(&self) -> Vec<Seen> {
        self.shared.seen.lock().unwrap().iter().filter(|s| s.method == "GET" && s.range.is_some()).cloned().collect()
    }
}

/// Reads up to the end of an HTTP head; `None` at a clean EOF.
async fn read_head(s: &mut TcpStream) -> std::io::Result<Option<(String, Vec<u8>)>> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let rest = buf.split_off(i + 4);
            return Ok(Some((String::from_utf8_lossy(&buf).into_owned(), rest)));
        }
        let n = s.read(&mut chunk).await?;
        if n == 0 {
            return Ok(None);
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// The head's start line and headers, without `Connection`, plus `Connection: close`.
fn close_head(head: &str, subst: &[(String, String)]) -> String {
    let mut head = head.to_string();
    for (a, b) in subst {
        head = head.replace(a.as_str(), b);
    }
    let mut out = String::new();
    for line in head.split("\r\n").filter(|l| !l.is_empty()) {
        let name = line.split(':').next().unwrap_or("").trim().to_ascii_lowercase();
        if name != "connection" && name != "keep-alive" {
            out.push_str(line);
            out.push_str("\r\n");
        }
    }
    out.push_str("Connection: close\r\n\r\n");
    out
}

fn header(head: &str, name: &str) -> Option<String> {
    head.split("\r\n").skip(1).find_map(|l| {
        let (n, v) = l.split_once(':')?;
        n.trim().eq_ignore_ascii_case(name).then(|| v.trim().to_string())
    })
}

async fn serve(mut client: TcpStream, upstream: SocketAddr, s: &Shared) -> std::io::Result<()> {
    let Some((head, mut body)) = read_head(&mut client).await? else { return Ok(()) };
    let head = close_head(&head, &s.rules.request);
    let method = head.split(' ').next().unwrap_or("").to_string();
    let length: usize = header(&head, "content-length").and_then(|v| v.parse().ok()).unwrap_or(0);
    let mut chunk = [0u8; 8192];
    while body.len() < length {
        let n = client.read(&mut chunk).await?;
        if n == 0 {
            break;
        }
        body.extend_from_slice(&chunk[..n]);
    }
    let range = header(&head, "range");
    let cut =
        method == "GET" && range.is_some() && s.rules.cut_after.is_some() && !s.cut_done.swap(true, Ordering::SeqCst);
    s.seen.lock().unwrap().push(Seen { method, range, if_match: header(&head, "if-match") });

    let mut up = TcpStream::connect(upstream).await?;
    up.write_all(head.as_bytes()).await?;
    up.write_all(&body).await?;
    let Some((rhead, rbody)) = read_head(&mut up).await? else { return Ok(()) };
    client.write_all(close_head(&rhead, &s.rules.response).as_bytes()).await?;
    if cut {
        let n = s.rules.cut_after.unwrap();
        let mut sent = rbody.len().min(n);
        client.write_all(&rbody[..sent]).await?;
        while sent < n {
            let k = up.read(&mut chunk).await?;
            if k == 0 {
                break;
            }
            let k = k.min(n - sent);
            client.write_all(&chunk[..k]).await?;
            sent += k;
        }
        client.flush().await?;
        drop(client);
        s.cut.notify_one();
        return Ok(());
    }
    client.write_all(&rbody).await?;
    tokio::io::copy(&mut up, &mut client).await?;
    client.shutdown().await
}

// --- the tests ----------------------------------------------------------------------------

#[tokio::test]
async fn a_body_cut_mid_stream_resumes_from_the_first_missing_byte() {
    let s3 = direct();
    let bucket = bucket(&s3, "resume").await;
    let data = bytes(3 * MIB + MIB / 2, 7);
    s3.put_object()
        .bucket(&bucket)
        .key("big.bak")
        .checksum_algorithm(ChecksumAlgorithm::Sha256)
        .body(ByteStream::from(data.clone()))
        .send()
        .await
        .unwrap();
    let cut_at = 300_001;
    let proxy = Proxy::start(Rules { cut_after: Some(cut_at), ..Rules::default() }).await;
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("big.bak");

    let got = download_with(&client(&proxy.url, true), &object(&bucket, "big.bak"), &dest, &options(10)).await.unwrap();

    assert_eq!(std::fs::read(&dest).unwrap(), data, "identical bytes");
    assert_eq!(got.sha256, sha256_hex(&data));
    assert_eq!(got.size, data.len() as u64);
    assert_eq!(got.resumed, 1);
    assert_eq!(got.parts, 5, "4 ranges, one of them sent twice");
    assert!(got.md5_checked);
    let checksum = got.checksum.as_ref().expect("the SHA256 given at upload");
    assert_eq!((checksum.algorithm.as_str(), checksum.composite_parts), ("SHA256", None));
    assert_eq!(got.evidence, "md5, SHA256");
    let gets = proxy.gets();
    let ranges: Vec<_> = gets.iter().map(|s| s.range.clone().unwrap()).collect();
    assert_eq!(
        ranges,
        [
            "bytes=0-1048575".to_string(),
            format!("bytes={cut_at}-1048575"),
            "bytes=1048576-2097151".into(),
            "bytes=2097152-3145727".into(),
            "bytes=3145728-3670015".into(),
        ]
    );
    let pinned = format!("\"{}\"", got.etag);
    assert!(gets.iter().all(|s| s.if_match.as_deref() == Some(pinned.as_str())), "every GET pinned: {gets:?}");
}

#[tokio::test]
async fn an_object_overwritten_before_the_resume_is_a_permanent_object_changed() {
    let s3 = direct();
    let bucket = bucket(&s3, "changed").await;
    s3.put_object().bucket(&bucket).key("k.bak").body(ByteStream::from(bytes(2 * MIB, 3))).send().await.unwrap();
    let proxy = Proxy::start(Rules { cut_after: Some(100_000), ..Rules::default() }).await;
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("k.bak");
    let (c, o, d) = (client(&proxy.url, true), object(&bucket, "k.bak"), dest.clone());
    // A long first backoff: the overwrite lands between the cut and the resume.
    let run = tokio::spawn(async move { download_with(&c, &o, &d, &options(1500)).await });
    tokio::time::timeout(Duration::from_secs(30), proxy.shared.cut.notified()).await.expect("the proxy cut the body");
    s3.put_object().bucket(&bucket).key("k.bak").body(ByteStream::from(bytes(2 * MIB, 4))).send().await.unwrap();

    let err = run.await.unwrap().expect_err("the object changed");
    assert_eq!(err.class, ErrorClass::Permanent, "{err}");
    assert_eq!(err.code, "object_changed", "{err}");
    let text = err.to_string();
    assert!(text.contains(&bucket) && text.contains("k.bak"), "names bucket and key: {text}");
    assert!(!dest.exists(), "a failed download removes the file");
    assert_eq!(proxy.gets().len(), 2, "the resume was sent once: 412 is not retried");
}

#[tokio::test]
async fn in_a_versioned_bucket_the_version_read_first_is_downloaded_whole_despite_an_overwrite() {
    use aws_sdk_s3::types::{BucketVersioningStatus, VersioningConfiguration};
    let s3 = direct();
    let bucket = bucket(&s3, "versioned").await;
    s3.put_bucket_versioning()
        .bucket(&bucket)
        .versioning_configuration(VersioningConfiguration::builder().status(BucketVersioningStatus::Enabled).build())
        .send()
        .await
        .unwrap();
    let first = bytes(2 * MIB, 5);
    let put = s3.put_object().bucket(&bucket).key("v.bak").body(ByteStream::from(first.clone())).send().await.unwrap();
    let proxy = Proxy::start(Rules { cut_after: Some(100_000), ..Rules::default() }).await;
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("v.bak");
    let (c, o, d) = (client(&proxy.url, true), object(&bucket, "v.bak"), dest.clone());
    let run = tokio::spawn(async move { download_with(&c, &o, &d, &options(1500)).await });
    tokio::time::timeout(Duration::from_secs(30), proxy.shared.cut.notified()).await.expect("the proxy cut the body");
    s3.put_object().bucket(&bucket).key("v.bak").body(ByteStream::from(bytes(2 * MIB, 6))).send().await.unwrap();

    let got = run.await.unwrap().expect("the first version, pinned by its version id");
    assert_eq!(got.version_id.as_deref(), put.version_id());
    assert_eq!(got.sha256, sha256_hex(&first));
    assert_eq!(std::fs::read(&dest).unwrap(), first);
    assert_eq!(got.resumed, 1);
}

/// Uploads `parts` as a multipart upload with `algorithm`; the parts' bytes concatenated.
async fn multipart(s3: &aws_sdk_s3::Client, bucket: &str, key: &str, algorithm: ChecksumAlgorithm, parts: &[Vec<u8>]) {
    let up = s3
        .create_multipart_upload()
        .bucket(bucket)
        .key(key)
        .checksum_algorithm(algorithm.clone())
        .send()
        .await
        .unwrap();
    let id = up.upload_id().unwrap();
    let mut done = Vec::new();
    for (i, p) in parts.iter().enumerate() {
        let n = i as i32 + 1;
        let r = s3
            .upload_part()
            .bucket(bucket)
            .key(key)
            .upload_id(id)
            .part_number(n)
            .checksum_algorithm(algorithm.clone())
            .body(ByteStream::from(p.clone()))
            .send()
            .await
            .unwrap();
        done.push(
            CompletedPart::builder()
                .part_number(n)
                .set_e_tag(r.e_tag().map(str::to_string))
                .set_checksum_sha256(r.checksum_sha256().map(str::to_string))
                .set_checksum_crc32(r.checksum_crc32().map(str::to_string))
                .set_checksum_crc64_nvme(r.checksum_crc64_nvme().map(str::to_string))
                .build(),
        );
    }
    s3.complete_multipart_upload()
        .bucket(bucket)
        .key(key)
        .upload_id(id)
        .multipart_upload(CompletedMultipartUpload::builder().set_parts(Some(done)).build())
        .send()
        .await
        .unwrap();
}

/// Three parts whose boundaries fall inside the 1 MiB download ranges (moto, like S3, wants
/// 5 MiB for all parts but the last).
fn three_parts() -> Vec<Vec<u8>> {
    vec![bytes(5 * MIB + 7, 11), bytes(5 * MIB + 13, 12), bytes(1000, 13)]
}

#[tokio::test]
async fn a_multipart_sha256_composite_checksum_is_verified_and_a_tampered_one_fails() {
    let s3 = direct();
    let bucket = bucket(&s3, "composite").await;
    let parts = three_parts();
    multipart(&s3, &bucket, "mp.bak", ChecksumAlgorithm::Sha256, &parts).await;
    let data = parts.concat();
    let slices: Vec<&[u8]> = parts.iter().map(Vec::as_slice).collect();
    let expected = s3_checksum("SHA256", &slices, true).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("mp.bak");

    let got = download_with(&s3, &object(&bucket, "mp.bak"), &dest, &options(10)).await.unwrap();
    assert_eq!(got.sha256, sha256_hex(&data));
    assert!(!got.md5_checked, "a multipart ETag is no MD5");
    let checksum = got.checksum.as_ref().expect("a composite SHA256");
    assert_eq!(format!("{}-{}", checksum.value, checksum.composite_parts.unwrap()), expected);
    assert_eq!(got.evidence, "SHA256 composite of 3 parts");

    // The same object, with HeadObject's checksum replaced by another valid one.
    let head =
        s3.head_object().bucket(&bucket).key("mp.bak").checksum_mode(ChecksumMode::Enabled).send().await.unwrap();
    let real = head.checksum_sha256().unwrap().split('-').next().unwrap().to_string();
    let other = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(b"not these parts"));
    let proxy = Proxy::start(Rules { response: vec![(real, other)], ..Rules::default() }).await;
    let err = download_with(&client(&proxy.url, true), &object(&bucket, "mp.bak"), &dest, &options(10))
        .await
        .expect_err("a tampered checksum");
    assert_eq!(err.code, "checksum", "{err}");
    assert!(err.to_string().contains("composite SHA256 over 3 parts"), "{err}");
    assert!(!dest.exists());
}

#[tokio::test]
async fn multipart_crc32_composite_and_crc64nvme_full_object_checksums_are_verified() {
    let s3 = direct();
    let bucket = bucket(&s3, "crc").await;
    let parts = three_parts();
    let data = parts.concat();
    let dir = tempfile::tempdir().unwrap();
    for (algorithm, key, evidence) in [
        (ChecksumAlgorithm::Crc32, "crc32.bak", "CRC32 composite of 3 parts"),
        // CRC64NVME is full-object only: the CRC of all the bytes, whatever the parts.
        (ChecksumAlgorithm::Crc64Nvme, "crc64.bak", "CRC64NVME"),
    ] {
        multipart(&s3, &bucket, key, algorithm, &parts).await;
        let dest = dir.path().join(key);
        let got = download_with(&s3, &object(&bucket, key), &dest, &options(10)).await.unwrap();
        assert_eq!(got.sha256, sha256_hex(&data), "{key}");
        assert_eq!(got.evidence, evidence, "{key}");
    }
}

/// A KMS key created in moto (the JSON protocol by hand: the workspace has no KMS SDK).
async fn kms_key() -> String {
    let body = r#"{"Description":"bak2pg download test"}"#;
    let req = format!(
        "POST / HTTP/1.1\r\nHost: {moto}\r\nContent-Type: application/x-amz-json-1.1\r\n\
         X-Amz-Target: TrentService.CreateKey\r\n\
         Authorization: AWS4-HMAC-SHA256 Credential=testing/20240101/us-east-1/kms/aws4_request, SignedHeaders=host, Signature=0\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len(),
        moto = moto()
    );
    let mut s = TcpStream::connect(moto()).await.unwrap();
    s.write_all(req.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).await.unwrap();
    let text = String::from_utf8_lossy(&out);
    let (head, json) = text.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("HTTP/1.1 200") || head.starts_with("HTTP/1.0 200"), "CreateKey: {text}");
    let v: serde_json::Value = serde_json::from_str(json).unwrap();
    v["KeyMetadata"]["Arn"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn an_sse_kms_object_downloads_without_a_false_checksum_error() {
    let key_arn = kms_key().await;
    let s3 = client(&format!("http://{}", moto()), false);
    let bucket = bucket(&s3, "kms").await;
    let data = bytes(MIB + 5, 21);
    for (key, algorithm) in [("plain.bak", None), ("sha.bak", Some(ChecksumAlgorithm::Sha256))] {
        s3.put_object()
            .bucket(&bucket)
            .key(key)
            .server_side_encryption(ServerSideEncryption::AwsKms)
            .ssekms_key_id(&key_arn)
            .set_checksum_algorithm(algorithm)
            .body(ByteStream::from(data.clone()))
            .send()
            .await
            .unwrap();
    }
    let dir = tempfile::tempdir().unwrap();
    for (key, evidence, algorithm) in [
        ("plain.bak", "size only (SSE-KMS: the ETag is not an MD5, no additional checksum)", None),
        ("sha.bak", "SHA256", Some("SHA256")),
    ] {
        // moto gives an SSE-KMS object its MD5 as ETag; S3 does not (S3 API Reference, `Object`
        // ETag). The proxy shows the client an ETag that is not the MD5, as S3 would, and
        // turns it back into moto's in `If-Match`.
        let head = s3.head_object().bucket(&bucket).key(key).send().await.unwrap();
        assert_eq!(head.server_side_encryption(), Some(&ServerSideEncryption::AwsKms));
        let real = head.e_tag().unwrap().trim_matches('"').to_string();
        let shown = hex::encode(md5::Digest::finalize(<md5::Md5 as md5::Digest>::new_with_prefix(b"kms")));
        assert_ne!(real, shown);
        let proxy = Proxy::start(Rules {
            request: vec![(shown.clone(), real.clone())],
            response: vec![(real.clone(), shown.clone())],
            ..Rules::default()
        })
        .await;
        let dest = dir.path().join(key);
        let got = download_with(&client(&proxy.url, true), &object(&bucket, key), &dest, &options(10)).await.unwrap();
        assert_eq!(got.etag, shown, "{key}");
        assert_eq!(got.sha256, sha256_hex(&data), "{key}");
        assert!(!got.md5_checked, "{key}: an SSE-KMS ETag is not compared with the MD5");
        assert_eq!(got.encryption.as_deref(), Some("aws:kms"), "{key}");
        assert_eq!(got.evidence, evidence, "{key}");
        assert_eq!(got.checksum.as_ref().map(|c| c.algorithm.as_str()), algorithm, "{key}");
        assert!(Path::new(&dest).exists());
    }
}
