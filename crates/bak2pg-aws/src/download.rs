//! [`download`]: an S3 object to a local file, in ranged GETs pinned to one object version,
//! resumed from the first missing byte when a transfer breaks, and checked against every
//! piece of integrity evidence S3 has for the object.
//!
//! S3 facts used here, with their sources (AWS documentation):
//! - The ETag is the MD5 of the bytes only for a single-request upload stored in plaintext or
//!   with SSE-S3; with SSE-KMS, DSSE-KMS or SSE-C, and for every multipart upload, it is not
//!   (S3 API Reference, data type `Object`, field `ETag`).
//! - Additional checksums (CRC64NVME, CRC32, CRC32C, SHA1, SHA256) are returned by HeadObject
//!   and GetObject only with `x-amz-checksum-mode: ENABLED`, and not for a range of the object
//!   (S3 API Reference, HeadObject / GetObject, `ChecksumMode`; User Guide, "Checking object
//!   integrity").
//! - A multipart upload's checksum is either FULL_OBJECT (a CRC of all the bytes; the only type
//!   of CRC64NVME) or COMPOSITE (CRC32, CRC32C, SHA1, SHA256): the checksum of the concatenated
//!   binary checksums of the parts, in part order, shown as `<base64>-<number of parts>`
//!   (User Guide, "Checking object integrity", "Using part-level checksums for multipart
//!   uploads"; HeadObject's `x-amz-checksum-type`).
//! - Part sizes: GetObjectAttributes `ObjectParts` lists them (with `Parts` only when the
//!   object has an additional checksum, up to `MaxParts` per page; S3 API Reference,
//!   `GetObjectAttributesParts`), and HeadObject with `partNumber` gives one part's
//!   `Content-Length` and `x-amz-mp-parts-count` (S3 API Reference, HeadObject).
//! - `If-Match` with another ETag answers 412 Precondition Failed (RFC 9110 §13.1.1; S3 API
//!   Reference, GetObject).

use std::path::Path;
use std::time::Duration;

use aws_sdk_s3::error::SdkError;
use aws_sdk_s3::types::{ChecksumMode, ChecksumType, ObjectAttributes, ServerSideEncryption};
use bak2pg::job::{ErrorClass, ErrorCode, ObjectRef, S3Uri};
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

use crate::{AwsError, HasStatus};

/// What [`download`] wrote, and which evidence the bytes were checked against.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Downloaded {
    /// Bytes written (equal to the object's size).
    pub size: u64,
    /// The object's ETag (quotes removed).
    pub etag: String,
    /// The version downloaded, when the bucket is versioned.
    pub version_id: Option<String>,
    /// SHA-256 of the bytes, lowercase hex.
    pub sha256: String,
    /// True when the ETag is the MD5 of the content (single-request upload, no SSE-KMS or
    /// SSE-C) and matched the bytes.
    pub md5_checked: bool,
    /// The S3 additional checksum that matched the bytes, when the object has one.
    #[serde(default)]
    pub checksum: Option<CheckedChecksum>,
    /// The server-side encryption HeadObject reported (`AES256`, `aws:kms`, `aws:kms:dsse`),
    /// or `SSE-C`.
    #[serde(default)]
    pub encryption: Option<String>,
    /// The evidence checked, for people: `md5, SHA256`, `CRC64NVME`, `SHA256 composite of 3
    /// parts`, `size only (multipart ETag, no additional checksum)`, …
    #[serde(default)]
    pub evidence: String,
    /// Ranged requests made (resumed ones included).
    pub parts: u64,
    /// Requests that resumed a range after a transfer broke.
    #[serde(default)]
    pub resumed: u64,
}

/// An S3 additional checksum verified by [`download`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckedChecksum {
    /// `CRC32`, `CRC32C`, `CRC64NVME`, `SHA1` or `SHA256`.
    pub algorithm: String,
    /// The base64 value (without a `-<parts>` suffix).
    pub value: String,
    /// The number of parts of a composite checksum; `None` for a full-object checksum.
    pub composite_parts: Option<u32>,
}

/// How [`download_with`] splits and retries the transfer.
#[derive(Debug, Clone)]
pub struct DownloadOptions {
    /// Bytes per ranged GET.
    pub part_bytes: u64,
    /// Failed requests in a row without a byte received before the download gives up.
    pub retries: u32,
    /// The pause before the first retry, doubled after each failure in a row (at most 32x).
    pub backoff: Duration,
}

impl DownloadOptions {
    /// `part_bytes` per GET (at least 1 MiB), 5 retries, 500 ms first backoff.
    pub fn new(part_bytes: u64) -> Self {
        DownloadOptions { part_bytes: part_bytes.max(1 << 20), retries: 5, backoff: Duration::from_millis(500) }
    }
}

/// Downloads `object` to `dest` (created or truncated) with [`DownloadOptions::new`]; see
/// [`download_with`].
///
/// # Errors
/// As [`download_with`].
pub async fn download(
    s3: &aws_sdk_s3::Client,
    object: &ObjectRef,
    dest: &Path,
    part_bytes: u64,
) -> Result<Downloaded, AwsError> {
    download_with(s3, object, dest, &DownloadOptions::new(part_bytes)).await
}

/// Downloads `object` to `dest` (created or truncated), streaming: ranged GETs of
/// `part_bytes`, all pinned to the ETag HeadObject gave (`If-Match`) and to its version id
/// when the bucket is versioned, so a concurrent overwrite fails the download instead of
/// mixing two objects. A GET that fails before its range is complete (network, body, 5xx,
/// throttling) is sent again from the first byte not yet written, after a backoff; every byte
/// is written and hashed once. Checks the size, the MD5 when the ETag is one, and the S3
/// additional checksum when the object has one (full-object or composite); computes the
/// SHA-256.
///
/// # Errors
/// S3 failures (a missing object is permanent, network and 5xx transient once the retries
/// are spent), an object changed since HeadObject (permanent, `object_changed`: 412 on a
/// GET), local I/O (transient, `io`), a size, MD5 or checksum mismatch (transient,
/// `checksum`: the bytes were damaged in transit). A failed download removes `dest`.
pub async fn download_with(
    s3: &aws_sdk_s3::Client,
    object: &ObjectRef,
    dest: &Path,
    opts: &DownloadOptions,
) -> Result<Downloaded, AwsError> {
    let r = download_inner(s3, object, dest, opts).await;
    if r.is_err() {
        let _ = tokio::fs::remove_file(dest).await;
    }
    r
}

/// What HeadObject says about the object.
struct Head {
    uri: S3Uri,
    size: u64,
    etag: String,
    version_id: Option<String>,
    encryption: Option<String>,
    /// SSE-KMS, DSSE-KMS or SSE-C: the ETag is not the MD5 of the content.
    etag_not_md5_reason: Option<&'static str>,
    /// `(algorithm, value as returned)`, the first of CRC64NVME, CRC32C, CRC32, SHA256, SHA1.
    checksum: Option<(Algorithm, String)>,
    checksum_type: Option<ChecksumType>,
}

impl Head {
    fn pin_version(&self) -> Option<String> {
        self.version_id.clone()
    }
    fn if_match(&self) -> Option<String> {
        (!self.etag.is_empty()).then(|| format!("\"{}\"", self.etag))
    }
    /// The part count of a multipart ETag (`<hex>-<parts>`).
    fn etag_parts(&self) -> Option<u32> {
        let (hex, n) = self.etag.rsplit_once('-')?;
        (hex.len() == 32 && hex.bytes().all(|b| b.is_ascii_hexdigit())).then_some(())?;
        n.parse().ok()
    }
    fn etag_is_md5(&self) -> bool {
        self.etag_not_md5_reason.is_none() && self.etag.len() == 32 && self.etag.bytes().all(|b| b.is_ascii_hexdigit())
    }
}

async fn head(s3: &aws_sdk_s3::Client, object: &ObjectRef) -> Result<Head, AwsError> {
    let uri = S3Uri { bucket: object.bucket.clone(), key: object.key.clone() };
    let h = s3
        .head_object()
        .bucket(&uri.bucket)
        .key(&uri.key)
        .set_version_id(object.version_id.clone())
        .checksum_mode(ChecksumMode::Enabled)
        .send()
        .await
        .map_err(|e| AwsError::from_sdk(ErrorCode::S3Download, format!("HeadObject {uri}"), &e))?;
    let sse = h.server_side_encryption();
    let (encryption, etag_not_md5_reason) = if h.sse_customer_algorithm().is_some() {
        (Some("SSE-C".to_string()), Some("SSE-C"))
    } else {
        let reason = match sse {
            Some(ServerSideEncryption::AwsKms) => Some("SSE-KMS"),
            Some(ServerSideEncryption::AwsKmsDsse) => Some("DSSE-KMS"),
            _ => None,
        };
        (sse.map(|s| s.as_str().to_string()), reason)
    };
    let checksum = [
        (Algorithm::Crc64Nvme, h.checksum_crc64_nvme()),
        (Algorithm::Crc32c, h.checksum_crc32_c()),
        (Algorithm::Crc32, h.checksum_crc32()),
        (Algorithm::Sha256, h.checksum_sha256()),
        (Algorithm::Sha1, h.checksum_sha1()),
    ]
    .into_iter()
    .find_map(|(a, v)| v.filter(|v| !v.is_empty()).map(|v| (a, v.to_string())));
    Ok(Head {
        size: h.content_length().unwrap_or(0).max(0) as u64,
        etag: h.e_tag().unwrap_or("").trim_matches('"').to_string(),
        version_id: h.version_id().map(str::to_string).or_else(|| object.version_id.clone()),
        encryption,
        etag_not_md5_reason,
        checksum,
        checksum_type: h.checksum_type().cloned(),
        uri,
    })
}

async fn download_inner(
    s3: &aws_sdk_s3::Client,
    object: &ObjectRef,
    dest: &Path,
    opts: &DownloadOptions,
) -> Result<Downloaded, AwsError> {
    let head = head(s3, object).await?;
    let uri = &head.uri;
    let checker = match &head.checksum {
        Some((algorithm, value)) => Some(ChecksumCheck::plan(s3, &head, *algorithm, value).await?),
        None => None,
    };
    let io = |action: &str, e: std::io::Error| {
        AwsError::new(ErrorClass::Transient, ErrorCode::Io, format!("{action} {}", dest.display()), e.to_string())
    };
    let file = tokio::fs::File::create(dest).await.map_err(|e| io("create", e))?;
    let mut sink =
        Sink { file, written: 0, sha: Sha256::new(), md5: head.etag_is_md5().then(md5::Md5::new), checksum: checker };
    let mut parts = 0u64;
    let mut resumed = 0u64;
    let part_bytes = opts.part_bytes.max(1);
    // An empty object has no byte to fetch: HeadObject's size and checksum are the evidence.
    while sink.written < head.size {
        let end = (sink.written + part_bytes).min(head.size) - 1;
        let mut failures = 0u32;
        let mut mark = sink.written;
        while sink.written <= end {
            parts += 1;
            let from = sink.written;
            match get_range(s3, &head, from, end, &mut sink).await {
                Ok(()) => {}
                Err(Failure::Fatal(e)) => return Err(e),
                Err(Failure::Retry(e)) => {
                    if sink.written > mark {
                        failures = 0;
                        mark = sink.written;
                    }
                    failures += 1;
                    if failures > opts.retries {
                        return Err(AwsError {
                            message: format!("{} (gave up after {failures} failed requests in a row)", e.message),
                            ..e
                        });
                    }
                    let pause = opts.backoff * 2u32.pow((failures - 1).min(5));
                    tracing::warn!(
                        "GetObject {uri} broke at byte {} ({}); resuming from there in {pause:?}",
                        sink.written,
                        e.message
                    );
                    tokio::time::sleep(pause).await;
                    resumed += 1;
                }
            }
        }
    }
    let Sink { mut file, written, sha, md5, checksum, .. } = sink;
    file.flush().await.map_err(|e| io("flush", e))?;
    file.sync_all().await.map_err(|e| io("sync", e))?;
    let mismatch = |message: String| {
        AwsError::new(ErrorClass::Transient, ErrorCode::Checksum, format!("GetObject {uri}"), message)
    };
    if written != head.size {
        return Err(mismatch(format!("{written} bytes received, the object has {}", head.size)));
    }
    let mut evidence = Vec::new();
    let md5_checked = md5.is_some();
    if let Some(md5) = md5 {
        let got = hex::encode(md5::Digest::finalize(md5));
        if !got.eq_ignore_ascii_case(&head.etag) {
            return Err(mismatch(format!("MD5 of the bytes received is {got}, the ETag says {}", head.etag)));
        }
        evidence.push("md5".to_string());
    }
    let checksum = match checksum {
        Some(c) => {
            let checked = c.finish().map_err(mismatch)?;
            evidence.push(match checked.composite_parts {
                Some(n) => format!("{} composite of {n} parts", checked.algorithm),
                None => checked.algorithm.clone(),
            });
            Some(checked)
        }
        None => None,
    };
    let evidence = if evidence.is_empty() {
        let why = match (head.etag_not_md5_reason, head.etag_parts()) {
            (Some(sse), _) => format!("{sse}: the ETag is not an MD5"),
            (None, Some(_)) => "multipart ETag".to_string(),
            (None, None) => "no MD5 ETag".to_string(),
        };
        format!("size only ({why}, no additional checksum)")
    } else {
        evidence.join(", ")
    };
    Ok(Downloaded {
        size: head.size,
        etag: head.etag.clone(),
        version_id: head.version_id.clone(),
        sha256: hex::encode(sha.finalize()),
        md5_checked,
        checksum,
        encryption: head.encryption.clone(),
        evidence,
        parts,
        resumed,
    })
}

/// Where the bytes go: the file and every hash, fed once per byte, in order.
struct Sink {
    file: tokio::fs::File,
    written: u64,
    sha: Sha256,
    md5: Option<md5::Md5>,
    checksum: Option<ChecksumCheck>,
}

enum Failure {
    /// Send the range again from the first byte not yet written.
    Retry(AwsError),
    /// Give up.
    Fatal(AwsError),
}

/// One GET of `from..=end`, written to `sink` as it arrives.
async fn get_range(s3: &aws_sdk_s3::Client, head: &Head, from: u64, end: u64, sink: &mut Sink) -> Result<(), Failure> {
    let uri = &head.uri;
    let op = format!("GetObject {uri} bytes {from}-{end}");
    let out = s3
        .get_object()
        .bucket(&uri.bucket)
        .key(&uri.key)
        .set_version_id(head.pin_version())
        .range(format!("bytes={from}-{end}"))
        .set_if_match(head.if_match())
        .checksum_mode(ChecksumMode::Enabled)
        .send()
        .await;
    let mut out = match out {
        Ok(o) => o,
        Err(e) => return Err(classify_get(uri, &head.etag, &op, &e)),
    };
    loop {
        let chunk = match out.body.try_next().await {
            Ok(Some(c)) => c,
            Ok(None) => break,
            Err(e) => {
                return Err(Failure::Retry(AwsError::new(
                    ErrorClass::Transient,
                    ErrorCode::S3Download,
                    &op,
                    e.to_string(),
                )));
            }
        };
        if sink.written + chunk.len() as u64 > end + 1 {
            return Err(Failure::Fatal(AwsError::new(
                ErrorClass::Transient,
                ErrorCode::Checksum,
                &op,
                format!("the response holds more than the {} bytes asked for", end + 1 - from),
            )));
        }
        sink.sha.update(&chunk);
        if let Some(m) = sink.md5.as_mut() {
            md5::Digest::update(m, &chunk);
        }
        if let Some(c) = sink.checksum.as_mut() {
            c.update(sink.written, &chunk);
        }
        sink.file.write_all(&chunk).await.map_err(|e| {
            Failure::Fatal(AwsError::new(ErrorClass::Transient, ErrorCode::Io, "write the download", e.to_string()))
        })?;
        sink.written += chunk.len() as u64;
    }
    if sink.written != end + 1 {
        return Err(Failure::Retry(AwsError::new(
            ErrorClass::Transient,
            ErrorCode::S3Download,
            &op,
            format!("the response ended at byte {}, expected {}", sink.written, end + 1),
        )));
    }
    Ok(())
}

fn classify_get<E, R>(uri: &S3Uri, etag: &str, op: &str, e: &SdkError<E, R>) -> Failure
where
    E: aws_sdk_s3::error::ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + HasStatus,
{
    if e.raw_response().is_some_and(|r| r.status_code() == 412) {
        return Failure::Fatal(object_changed(uri, etag, "GetObject answered 412 Precondition Failed"));
    }
    let err = AwsError::from_sdk(ErrorCode::S3Download, op, e);
    match err.class {
        ErrorClass::Transient => Failure::Retry(err),
        _ => Failure::Fatal(err),
    }
}

fn object_changed(uri: &S3Uri, etag: &str, why: &str) -> AwsError {
    AwsError::new(
        ErrorClass::Permanent,
        ErrorCode::ObjectChanged,
        format!("download of bucket {} key {}", uri.bucket, uri.key),
        format!("the object changed during the download (ETag {etag} no longer matches: {why}); replay the upload"),
    )
}

/// An S3 additional checksum algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Algorithm {
    Crc32,
    Crc32c,
    Crc64Nvme,
    Sha1,
    Sha256,
}

impl Algorithm {
    fn name(self) -> &'static str {
        match self {
            Algorithm::Crc32 => "CRC32",
            Algorithm::Crc32c => "CRC32C",
            Algorithm::Crc64Nvme => "CRC64NVME",
            Algorithm::Sha1 => "SHA1",
            Algorithm::Sha256 => "SHA256",
        }
    }
}

/// A running checksum; [`Hasher::finish`] gives the binary value S3 base64-encodes (CRCs
/// big-endian, as in the User Guide's examples).
enum Hasher {
    Crc(crc_fast::Digest, usize),
    Sha1(sha1::Sha1),
    Sha256(Sha256),
}

impl Hasher {
    fn new(a: Algorithm) -> Self {
        use crc_fast::CrcAlgorithm;
        match a {
            Algorithm::Crc32 => Hasher::Crc(crc_fast::Digest::new(CrcAlgorithm::Crc32IsoHdlc), 4),
            Algorithm::Crc32c => Hasher::Crc(crc_fast::Digest::new(CrcAlgorithm::Crc32Iscsi), 4),
            Algorithm::Crc64Nvme => Hasher::Crc(crc_fast::Digest::new(CrcAlgorithm::Crc64Nvme), 8),
            Algorithm::Sha1 => Hasher::Sha1(sha1::Sha1::new()),
            Algorithm::Sha256 => Hasher::Sha256(Sha256::new()),
        }
    }
    fn update(&mut self, data: &[u8]) {
        match self {
            Hasher::Crc(d, _) => d.update(data),
            Hasher::Sha1(h) => Digest::update(h, data),
            Hasher::Sha256(h) => Digest::update(h, data),
        }
    }
    fn finish(self) -> Vec<u8> {
        match self {
            Hasher::Crc(d, width) => d.finalize().to_be_bytes()[8 - width..].to_vec(),
            Hasher::Sha1(h) => h.finalize().to_vec(),
            Hasher::Sha256(h) => h.finalize().to_vec(),
        }
    }
}

/// The checksum S3 gives an object made of `parts` with `algorithm` (`CRC32`, `CRC32C`,
/// `CRC64NVME`, `SHA1`, `SHA256`): full-object (base64 of the checksum of all the bytes) or,
/// when `composite`, base64 of the checksum of the parts' binary checksums followed by
/// `-<number of parts>`. `None` for an unknown algorithm.
pub fn s3_checksum(algorithm: &str, parts: &[&[u8]], composite: bool) -> Option<String> {
    let a = parse_algorithm(algorithm)?;
    let mut layout = Layout::new(a, composite.then(|| parts.iter().map(|p| p.len() as u64).collect()));
    let mut at = 0;
    for p in parts {
        layout.update(at, p);
        at += p.len() as u64;
    }
    let (value, _) = layout.finish().ok()?;
    Some(if composite { format!("{value}-{}", parts.len()) } else { value })
}

fn parse_algorithm(s: &str) -> Option<Algorithm> {
    [Algorithm::Crc32, Algorithm::Crc32c, Algorithm::Crc64Nvme, Algorithm::Sha1, Algorithm::Sha256]
        .into_iter()
        .find(|a| a.name().eq_ignore_ascii_case(s))
}

/// A full-object checksum, or a composite one over known part boundaries.
enum Layout {
    Full(Hasher),
    Composite {
        algorithm: Algorithm,
        /// The end offset (exclusive) of each part.
        ends: Vec<u64>,
        /// The part being hashed.
        index: usize,
        current: Hasher,
        /// The binary checksums of the finished parts, concatenated.
        digests: Vec<u8>,
    },
}

impl Layout {
    fn new(a: Algorithm, part_sizes: Option<Vec<u64>>) -> Self {
        match part_sizes {
            None => Layout::Full(Hasher::new(a)),
            Some(sizes) => {
                let ends = sizes
                    .iter()
                    .scan(0u64, |at, s| {
                        *at += s;
                        Some(*at)
                    })
                    .collect();
                Layout::Composite { algorithm: a, ends, index: 0, current: Hasher::new(a), digests: Vec::new() }
            }
        }
    }

    /// `data` starts at byte `at` of the object.
    fn update(&mut self, mut at: u64, mut data: &[u8]) {
        match self {
            Layout::Full(h) => h.update(data),
            Layout::Composite { algorithm, ends, index, current, digests } => {
                while !data.is_empty() && *index < ends.len() {
                    let take = (ends[*index] - at).min(data.len() as u64) as usize;
                    current.update(&data[..take]);
                    at += take as u64;
                    data = &data[take..];
                    if at == ends[*index] {
                        let done = std::mem::replace(current, Hasher::new(*algorithm));
                        digests.extend(done.finish());
                        *index += 1;
                    }
                }
            }
        }
    }

    /// The base64 checksum and the number of parts it is composed of.
    fn finish(self) -> Result<(String, Option<u32>), String> {
        let b64 = |v: Vec<u8>| base64::engine::general_purpose::STANDARD.encode(v);
        match self {
            Layout::Full(h) => Ok((b64(h.finish()), None)),
            Layout::Composite { algorithm, ends, index, digests, .. } => {
                if index != ends.len() {
                    return Err(format!("the bytes ended in part {} of {}", index + 1, ends.len()));
                }
                let mut h = Hasher::new(algorithm);
                h.update(&digests);
                Ok((b64(h.finish()), Some(ends.len() as u32)))
            }
        }
    }
}

/// The object's additional checksum, computed as the bytes arrive.
struct ChecksumCheck {
    algorithm: Algorithm,
    /// The base64 value S3 gave (suffix removed).
    expected: String,
    layout: Layout,
}

impl ChecksumCheck {
    /// Reads how S3 computed `value` (full-object or composite, and then the part sizes).
    async fn plan(s3: &aws_sdk_s3::Client, head: &Head, algorithm: Algorithm, value: &str) -> Result<Self, AwsError> {
        let (expected, suffix_parts) = match value.rsplit_once('-') {
            Some((b64, n)) => (b64.to_string(), n.parse::<u32>().ok()),
            None => (value.to_string(), None),
        };
        // The part count: the value's suffix; else, for a COMPOSITE type or (a server that
        // omits the type) a multipart ETag with an algorithm S3 computes per part by default
        // (all but CRC64NVME, which is full-object only), the ETag's.
        let composite = match (suffix_parts, &head.checksum_type) {
            (Some(n), _) => Some(n),
            (None, Some(ChecksumType::FullObject)) => None,
            (None, Some(ChecksumType::Composite)) => Some(match head.etag_parts() {
                Some(n) => n,
                None => part_count(s3, head).await?,
            }),
            (None, _) => head.etag_parts().filter(|_| algorithm != Algorithm::Crc64Nvme),
        };
        let sizes = match composite {
            Some(n) => Some(part_sizes(s3, head, n).await?),
            None => None,
        };
        Ok(ChecksumCheck { algorithm, expected, layout: Layout::new(algorithm, sizes) })
    }

    fn update(&mut self, at: u64, data: &[u8]) {
        self.layout.update(at, data);
    }

    fn finish(self) -> Result<CheckedChecksum, String> {
        let name = self.algorithm.name();
        let (got, composite_parts) = self.layout.finish().map_err(|e| format!("{name} checksum: {e}"))?;
        if got != self.expected {
            let kind = match composite_parts {
                Some(n) => format!("composite {name} over {n} parts"),
                None => name.to_string(),
            };
            return Err(format!("{kind} of the bytes received is {got}, S3 says {}", self.expected));
        }
        Ok(CheckedChecksum { algorithm: name.to_string(), value: self.expected, composite_parts })
    }
}

/// The number of parts, from HeadObject `partNumber=1` (`x-amz-mp-parts-count`).
async fn part_count(s3: &aws_sdk_s3::Client, head: &Head) -> Result<u32, AwsError> {
    let (_, count) = head_part(s3, head, 1).await?;
    Ok(count.unwrap_or(1))
}

/// One part's size and the object's part count, from HeadObject `partNumber`. Not pinned with
/// `If-Match` (moto compares it with the part's ETag, S3 with the object's): the GETs that
/// follow are, so sizes read from a newer object end in `object_changed` all the same.
async fn head_part(s3: &aws_sdk_s3::Client, head: &Head, n: u32) -> Result<(u64, Option<u32>), AwsError> {
    let uri = &head.uri;
    let h = s3
        .head_object()
        .bucket(&uri.bucket)
        .key(&uri.key)
        .set_version_id(head.pin_version())
        .part_number(n as i32)
        .send()
        .await
        .map_err(|e| AwsError::from_sdk(ErrorCode::S3Download, format!("HeadObject {uri} part {n}"), &e))?;
    Ok((h.content_length().unwrap_or(0).max(0) as u64, h.parts_count().map(|c| c.max(0) as u32)))
}

/// The sizes of the `n` parts: GetObjectAttributes `ObjectParts` (1000 a request), else (no
/// permission, or a server that does not list them) HeadObject `partNumber` for each part.
async fn part_sizes(s3: &aws_sdk_s3::Client, head: &Head, n: u32) -> Result<Vec<u64>, AwsError> {
    let uri = &head.uri;
    let listed = match list_part_sizes(s3, head).await {
        Ok(sizes) => sizes,
        Err(e) if e.code == "object_changed" => return Err(e),
        Err(e) => {
            tracing::warn!("{e}; reading the part sizes of {uri} with HeadObject instead");
            None
        }
    };
    let sizes = match listed.filter(|s| s.len() == n as usize) {
        Some(s) => s,
        None => {
            let mut sizes = Vec::with_capacity(n as usize);
            for part in 1..=n {
                sizes.push(head_part(s3, head, part).await?.0);
            }
            sizes
        }
    };
    let total: u64 = sizes.iter().sum();
    if total != head.size {
        return Err(AwsError::new(
            ErrorClass::Transient,
            ErrorCode::Checksum,
            format!("GetObject {uri}"),
            format!("the {n} parts of the composite checksum add up to {total} bytes, the object has {}", head.size),
        ));
    }
    Ok(sizes)
}

/// `Ok(None)` when the answer lists no parts.
async fn list_part_sizes(s3: &aws_sdk_s3::Client, head: &Head) -> Result<Option<Vec<u64>>, AwsError> {
    let uri = &head.uri;
    let mut sizes = Vec::new();
    let mut marker: Option<String> = None;
    loop {
        let out = s3
            .get_object_attributes()
            .bucket(&uri.bucket)
            .key(&uri.key)
            .set_version_id(head.pin_version())
            .object_attributes(ObjectAttributes::Etag)
            .object_attributes(ObjectAttributes::ObjectParts)
            .max_parts(1000)
            .set_part_number_marker(marker.clone())
            .send()
            .await
            .map_err(|e| AwsError::from_sdk(ErrorCode::S3Download, format!("GetObjectAttributes {uri}"), &e))?;
        if let Some(etag) = out.e_tag()
            && etag.trim_matches('"') != head.etag
        {
            return Err(object_changed(uri, &head.etag, &format!("GetObjectAttributes gave ETag {etag}")));
        }
        let Some(parts) = out.object_parts().filter(|p| !p.parts().is_empty()) else {
            return Ok(None);
        };
        for p in parts.parts() {
            if p.part_number() != Some(sizes.len() as i32 + 1) {
                return Ok(None);
            }
            sizes.push(p.size().unwrap_or(0).max(0) as u64);
        }
        marker = parts.next_part_number_marker().map(str::to_string);
        if !parts.is_truncated().unwrap_or(false) || marker.is_none() {
            return Ok(Some(sizes));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // The expected values were computed independently with Python's hashlib, zlib and
    // awscrt.checksums (crc32c, crc64nvme): composite = b64(H(H(p1) || H(p2) || …)).
    const P1: &[u8] = b"The quick brown fox ";
    const P2: &[u8] = b"jumps over the lazy dog";
    const P3: &[u8] = b"!";

    #[test]
    fn full_object_checksums() {
        let all: &[&[u8]] = &[P1, P2, P3];
        for (algorithm, expected) in FULL {
            assert_eq!(s3_checksum(algorithm, all, false).as_deref(), Some(*expected), "{algorithm}");
        }
    }

    #[test]
    fn composite_checksums() {
        let all: &[&[u8]] = &[P1, P2, P3];
        for (algorithm, expected) in COMPOSITE {
            assert_eq!(s3_checksum(algorithm, all, true).as_deref(), Some(*expected), "{algorithm}");
        }
    }

    #[test]
    fn composite_is_independent_of_chunking() {
        // The parts' bytes arriving in chunks that straddle the part boundaries.
        let all = [P1, P2, P3].concat();
        for chunk in [1, 3, 7, 20, 64] {
            let mut l = Layout::new(Algorithm::Sha256, Some(vec![P1.len() as u64, P2.len() as u64, 1]));
            for (i, c) in all.chunks(chunk).enumerate() {
                l.update((i * chunk) as u64, c);
            }
            let (v, n) = l.finish().unwrap();
            assert_eq!(format!("{v}-{}", n.unwrap()), COMPOSITE[3].1, "chunks of {chunk}");
        }
    }

    #[test]
    fn composite_short_of_the_last_part_is_an_error() {
        let mut l = Layout::new(Algorithm::Crc32, Some(vec![4, 4]));
        l.update(0, b"12345");
        assert!(l.finish().unwrap_err().contains("part 2 of 2"));
    }

    const FULL: &[(&str, &str)] = &[
        ("CRC32", "wS84eA=="),
        ("CRC32C", "RxOrlw=="),
        ("CRC64NVME", "DUv5SeHcM3Y="),
        ("SHA1", "I8Tbals2LpZRnyKmaYfQGQGN0G0="),
        ("SHA256", "ZhY82qqtT6T39eOFd40QCWXzwshlOXQDO62sjK8ZWNU="),
    ];
    // CRC64NVME has no composite type in S3.
    const COMPOSITE: &[(&str, &str)] = &[
        ("CRC32", "kniA6Q==-3"),
        ("CRC32C", "IG+WIg==-3"),
        ("SHA1", "PS5W+pX1cu8PhwahBzMxcXPK+M0=-3"),
        ("SHA256", "uMh9KYFZ4vsjnKyLuicqlXLLhrkidmhOStwZjy0IiWY=-3"),
    ];
}
