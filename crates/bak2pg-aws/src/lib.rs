//! AWS glue shared by the pipeline's Lambda functions and the agent's `bak2pg step`:
//!
//! - [`sdk_config`]: the SDK configuration from the environment (region, credentials,
//!   `AWS_ENDPOINT_URL` for emulators), with an HTTPS client on rustls + ring (no aws-lc C
//!   build, which keeps the arm64 Lambda cross-build simple);
//! - [`s3_client`] (path-style addressing when an endpoint is overridden, as emulators on
//!   `127.0.0.1` need), [`get_json`] / [`put_json`] for job documents and step results,
//!   [`download`] for the upload itself (ranged parts pinned to one ETag, resumed from the
//!   last good byte, checked against the MD5 ETag and S3's additional checksums, full-object
//!   or composite; SHA-256 computed);
//! - [`get_parameter`] / [`get_parameters_by_path`] for SSM Parameter Store;
//! - [`AwsError`]: every SDK failure classified permanent or transient
//!   ([`bak2pg::job::ErrorClass`]) by the same rules everywhere.
//!
//! Secrets read here (SecureString parameters) are returned to the caller and never logged.

use std::collections::BTreeMap;

use aws_config::BehaviorVersion;
/// The AWS SDK configuration [`sdk_config`] returns (re-exported so callers need no
/// `aws-config` of their own).
pub use aws_config::SdkConfig;
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_smithy_types::error::display::DisplayErrorContext;
use bak2pg::job::{ErrorClass, ErrorCode, S3Uri, StepError};
use serde::Serialize;
use serde::de::DeserializeOwned;

mod download;
pub use download::{CheckedChecksum, DownloadOptions, Downloaded, download, download_with, s3_checksum};

/// A classified AWS failure. Never holds a parameter's value.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{operation}: {message}")]
pub struct AwsError {
    /// Permanent (fix something first) or transient (retry).
    pub class: ErrorClass,
    /// What failed (`s3_get`, `s3_download`, `ssm_parameter`, …).
    pub code: ErrorCode,
    /// The operation and its target (`GetObject s3://b/k`).
    pub operation: String,
    /// The service's error code and message, or the transport error.
    pub message: String,
}

impl AwsError {
    /// A new error.
    pub fn new(class: ErrorClass, code: ErrorCode, operation: impl Into<String>, message: impl Into<String>) -> Self {
        AwsError { class, code, operation: operation.into(), message: message.into() }
    }

    /// Classifies an SDK error: timeouts, dispatch (network) failures, unparsable
    /// responses, HTTP 5xx, 429 and throttling codes are transient; other service errors
    /// (missing object, access denied, validation) need a change and are permanent.
    pub fn from_sdk<E, R>(code: ErrorCode, operation: impl Into<String>, e: &SdkError<E, R>) -> Self
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
        R: std::fmt::Debug + HasStatus,
    {
        let operation = operation.into();
        let message = DisplayErrorContext(e).to_string();
        let class = match e {
            SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
                ErrorClass::Transient
            }
            SdkError::ServiceError(se) => {
                let status = se.raw().status_code();
                let service_code = se.err().code().unwrap_or("");
                if status >= 500 || status == 429 || is_throttling(service_code) {
                    ErrorClass::Transient
                } else {
                    ErrorClass::Permanent
                }
            }
            _ => ErrorClass::Transient,
        };
        AwsError { class, code, operation, message }
    }

    /// The error as a step error (same class and code; operation and message joined).
    pub fn to_step_error(&self) -> StepError {
        StepError { class: self.class, code: self.code.clone(), message: self.to_string() }
    }
}

impl From<AwsError> for StepError {
    fn from(e: AwsError) -> Self {
        e.to_step_error()
    }
}

fn is_throttling(code: &str) -> bool {
    matches!(
        code,
        "Throttling"
            | "ThrottlingException"
            | "ThrottledException"
            | "RequestThrottled"
            | "RequestThrottledException"
            | "TooManyRequestsException"
            | "SlowDown"
            | "RequestLimitExceeded"
            | "ProvisionedThroughputExceededException"
            | "InternalError"
            | "ServiceUnavailable"
    )
}

/// The HTTP status of a raw response (implemented for the SDK's response type).
pub trait HasStatus {
    /// The status code.
    fn status_code(&self) -> u16;
}

impl HasStatus for aws_smithy_runtime_api::http::Response {
    fn status_code(&self) -> u16 {
        self.status().as_u16()
    }
}

/// The SDK configuration from the environment: region (`AWS_REGION`), credentials (the
/// default chain: environment, profile, web identity, container, instance role), and
/// `AWS_ENDPOINT_URL` (moto in tests). HTTPS through rustls with the ring provider.
pub async fn sdk_config() -> SdkConfig {
    use aws_smithy_http_client::tls;
    let http = aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(tls::rustls_provider::CryptoMode::Ring))
        .build_https();
    aws_config::defaults(BehaviorVersion::latest()).http_client(http).load().await
}

/// An S3 client; path-style addressing when an endpoint is configured (an emulator at
/// `http://127.0.0.1:port` cannot serve `bucket.127.0.0.1`).
pub fn s3_client(cfg: &SdkConfig) -> aws_sdk_s3::Client {
    let mut b = aws_sdk_s3::config::Builder::from(cfg);
    if cfg.endpoint_url().is_some() || std::env::var_os("AWS_ENDPOINT_URL_S3").is_some() {
        b = b.force_path_style(true);
    }
    aws_sdk_s3::Client::from_conf(b.build())
}

/// An SSM client.
pub fn ssm_client(cfg: &SdkConfig) -> aws_sdk_ssm::Client {
    aws_sdk_ssm::Client::new(cfg)
}

/// Reads a JSON document; `Ok(None)` when the object does not exist.
///
/// # Errors
/// S3 failures (classified), or a document that does not parse (permanent, `bad_document`).
pub async fn get_json<T: DeserializeOwned>(s3: &aws_sdk_s3::Client, uri: &S3Uri) -> Result<Option<T>, AwsError> {
    let op = format!("GetObject {uri}");
    let out = match s3.get_object().bucket(&uri.bucket).key(&uri.key).send().await {
        Ok(o) => o,
        Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_key()) => return Ok(None),
        Err(e) => return Err(AwsError::from_sdk(ErrorCode::S3Get, op, &e)),
    };
    let bytes = out
        .body
        .collect()
        .await
        .map_err(|e| AwsError::new(ErrorClass::Transient, ErrorCode::S3Get, &op, e.to_string()))?
        .into_bytes();
    serde_json::from_slice(&bytes).map(Some).map_err(|e| {
        AwsError::new(ErrorClass::Permanent, ErrorCode::BadDocument, op, format!("not the expected JSON: {e}"))
    })
}

/// Writes a value as pretty JSON (`application/json`).
///
/// # Errors
/// S3 failures (classified).
pub async fn put_json<T: Serialize + ?Sized>(s3: &aws_sdk_s3::Client, uri: &S3Uri, value: &T) -> Result<(), AwsError> {
    let body = serde_json::to_vec_pretty(value).expect("serializable");
    s3.put_object()
        .bucket(&uri.bucket)
        .key(&uri.key)
        .content_type("application/json")
        .body(body.into())
        .send()
        .await
        .map_err(|e| AwsError::from_sdk(ErrorCode::S3Put, format!("PutObject {uri}"), &e))?;
    Ok(())
}

/// One SSM parameter's value (`decrypt` for SecureString). The value is never logged.
///
/// # Errors
/// A missing parameter is permanent (`ssm_parameter`); throttling and network errors
/// transient.
pub async fn get_parameter(ssm: &aws_sdk_ssm::Client, name: &str, decrypt: bool) -> Result<String, AwsError> {
    let op = format!("GetParameter {name}");
    let out = ssm
        .get_parameter()
        .name(name)
        .with_decryption(decrypt)
        .send()
        .await
        .map_err(|e| AwsError::from_sdk(ErrorCode::SsmParameter, &op, &e))?;
    out.parameter()
        .and_then(|p| p.value())
        .map(str::to_string)
        .ok_or_else(|| AwsError::new(ErrorClass::Permanent, ErrorCode::SsmParameter, op, "the parameter has no value"))
}

/// All parameters under `path` (recursively), keyed by the name relative to `path`
/// (`/bak2pg/prod/pg/host` under `/bak2pg/prod/` → `pg/host`). SecureStrings are returned
/// encrypted unless `decrypt`.
///
/// # Errors
/// SSM failures (classified).
pub async fn get_parameters_by_path(
    ssm: &aws_sdk_ssm::Client,
    path: &str,
    decrypt: bool,
) -> Result<BTreeMap<String, String>, AwsError> {
    let prefix = if path.ends_with('/') { path.to_string() } else { format!("{path}/") };
    let mut out = BTreeMap::new();
    let mut token = None;
    loop {
        let page = ssm
            .get_parameters_by_path()
            .path(prefix.trim_end_matches('/'))
            .recursive(true)
            .with_decryption(decrypt)
            .set_next_token(token)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk(ErrorCode::SsmParameter, format!("GetParametersByPath {prefix}"), &e))?;
        for p in page.parameters() {
            if let (Some(n), Some(v)) = (p.name(), p.value()) {
                out.insert(n.strip_prefix(&prefix).unwrap_or(n).to_string(), v.to_string());
            }
        }
        token = page.next_token().map(str::to_string);
        if token.is_none() {
            return Ok(out);
        }
    }
}

/// An error for a Lambda function's response: `errorType` is the class's error name
/// (`Bak2pg.Permanent` / `Bak2pg.Transient`, which the state machine matches) and
/// `errorMessage` the [`StepError`] as JSON (which the state machine passes on as `Cause`).
#[derive(Debug, Clone)]
pub struct FunctionError(pub StepError);

impl FunctionError {
    /// `errorType`.
    pub fn error_type(&self) -> &'static str {
        self.0.class.error_name()
    }
    /// `errorMessage`, bounded (see [`StepError::bounded_cause`]): the function's log has
    /// the whole message.
    pub fn error_message(&self) -> String {
        self.0.bounded_cause("the function's log")
    }
}

/// What the Lambda runtime reports for a failed invocation.
#[cfg(feature = "lambda")]
impl From<FunctionError> for lambda_runtime::Diagnostic {
    fn from(e: FunctionError) -> Self {
        lambda_runtime::Diagnostic { error_type: e.error_type().into(), error_message: e.error_message() }
    }
}

/// JSON log lines to CloudWatch, filtered by `RUST_LOG`: every function's first call.
#[cfg(feature = "lambda")]
pub fn init_lambda_logging() {
    tracing_subscriber::fmt().json().with_env_filter(tracing_subscriber::EnvFilter::from_default_env()).init();
}

impl From<StepError> for FunctionError {
    fn from(e: StepError) -> Self {
        FunctionError(e)
    }
}

impl From<AwsError> for FunctionError {
    fn from(e: AwsError) -> Self {
        FunctionError(e.to_step_error())
    }
}
