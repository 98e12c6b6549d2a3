//! The `trigger` Lambda: SQS messages (S3 event notifications, or failure messages sent
//! back from the dead-letter queue) → one Step Functions execution per uploaded backup.
//!
//! Per message ([`decide`]):
//! - `s3:TestEvent` (sent when the notification is configured): skipped;
//! - each `ObjectCreated:*` record: the key is URL-decoded (`+` is a space), keys that are
//!   not `.rar/.zip/.7z/.bak` (any case) are skipped with a log line saying why; the tenant
//!   is the first key segment and the database name is derived from it
//!   ([`bak2pg::job::database_name`]); a tenant that cannot be made safe fails the message;
//! - a [`FailureMessage`] (a DLQ redrive): a new attempt of the same input.
//!
//! Executions get a deterministic name ([`bak2pg::job::execution_name`]), so a redelivered
//! message cannot start a second run: `ExecutionAlreadyExists` counts as success. The
//! response lists only the messages that failed (`ReportBatchItemFailures`), so one bad
//! message never redelivers the others.

use aws_lambda_events::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};
use bak2pg::job::{
    self, FAILURE_KIND, FailureMessage, NameError, ObjectRef, PipelineInput, database_name, decode_key, execution_name,
    is_backup_key, tenant_of,
};
use serde::Deserialize;

/// Key prefixes the pipeline itself might use; never tenants.
pub const RESERVED_TENANTS: [&str; 3] = ["jobs", "reports", "ssm-output"];

/// What to do with one record of a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Start an execution with this name and input.
    Start {
        /// Execution name.
        name: String,
        /// Execution input (boxed: a skip is a short string).
        input: Box<PipelineInput>,
    },
    /// Nothing to do, and why (logged).
    Skip(String),
}

/// Why a message cannot be handled; it is reported as a batch item failure (and ends in
/// the dead-letter queue after the queue's `maxReceiveCount`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BadMessage {
    /// Not JSON, or JSON of no known shape.
    #[error("unrecognised message: {0}")]
    Unrecognised(String),
    /// A key or tenant that is refused.
    #[error(transparent)]
    Name(#[from] NameError),
}

// The fields read, and only those: `aws_lambda_events::s3::S3Event` requires fields this
// trigger never uses (`userIdentity`, `requestParameters`, `eventTime`), which moto's
// notifications lack, and one missing field would refuse the whole upload.
#[derive(Deserialize)]
struct S3Notification {
    #[serde(rename = "Records", default)]
    records: Vec<Record>,
    #[serde(rename = "Event")]
    event: Option<String>,
    kind: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Record {
    event_name: Option<String>,
    s3: Entity,
}

#[derive(Deserialize)]
struct Entity {
    bucket: Bucket,
    object: Object,
}

#[derive(Deserialize)]
struct Bucket {
    name: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Object {
    key: String,
    size: Option<u64>,
    version_id: Option<String>,
    e_tag: Option<String>,
    sequencer: Option<String>,
}

/// Decides what one SQS message body asks for.
///
/// # Errors
/// [`BadMessage`] for a body of no known shape, a key that is not valid URL-encoded
/// UTF-8, a key without tenant folder, or a tenant that cannot be a database name.
pub fn decide(body: &str) -> Result<Vec<Decision>, BadMessage> {
    let value: serde_json::Value =
        serde_json::from_str(body).map_err(|e| BadMessage::Unrecognised(format!("not JSON: {e}")))?;
    if value.get("kind").and_then(|k| k.as_str()) == Some(FAILURE_KIND) {
        let f: FailureMessage = serde_json::from_value(value)
            .map_err(|e| BadMessage::Unrecognised(format!("failure message without its input: {e}")))?;
        let mut input = f.input;
        input.attempt += 1;
        // A replay is a fresh attempt: it starts from the download, whatever it resumed.
        input.resume = None;
        // The names are checked again: the message came back from outside.
        check_names(&input)?;
        let name = execution_name(&input.database, &input.object, input.attempt);
        return Ok(vec![Decision::Start { name, input: Box::new(input) }]);
    }
    let n: S3Notification =
        serde_json::from_value(value).map_err(|e| BadMessage::Unrecognised(format!("not an S3 event: {e}")))?;
    if n.event.as_deref() == Some("s3:TestEvent") {
        return Ok(vec![Decision::Skip("s3:TestEvent".into())]);
    }
    if n.records.is_empty() {
        return Err(BadMessage::Unrecognised(format!(
            "no Records (kind {:?}, Event {:?})",
            n.kind.unwrap_or_default(),
            n.event.unwrap_or_default()
        )));
    }
    let mut out = Vec::new();
    for r in n.records {
        let event = r.event_name.unwrap_or_default();
        if !event.starts_with("ObjectCreated:") {
            out.push(Decision::Skip(format!("event {event:?} is not an upload")));
            continue;
        }
        let key = decode_key(&r.s3.object.key)?;
        if !is_backup_key(&key) {
            out.push(Decision::Skip(format!(
                "key {key:?} is not a backup upload (expected {})",
                job::BACKUP_EXTENSIONS.join(", ")
            )));
            continue;
        }
        let tenant = tenant_of(&key)?;
        let object = ObjectRef {
            bucket: r.s3.bucket.name,
            key,
            version_id: r.s3.object.version_id.filter(|v| !v.is_empty() && v != "null"),
            sequencer: r.s3.object.sequencer,
            size: r.s3.object.size,
            etag: r.s3.object.e_tag.map(|e| e.trim_matches('"').to_string()),
        };
        let input =
            PipelineInput { database: String::new(), tenant, object, attempt: 0, backup_set: None, resume: None };
        let input = PipelineInput { database: check_names(&input)?, ..input };
        let name = execution_name(&input.database, &input.object, 0);
        out.push(Decision::Start { name, input: Box::new(input) });
    }
    Ok(out)
}

/// The database for the input's tenant, refusing reserved tenants.
fn check_names(input: &PipelineInput) -> Result<String, NameError> {
    if RESERVED_TENANTS.contains(&input.tenant.to_ascii_lowercase().as_str()) {
        return Err(NameError::UnsafeTenant { tenant: input.tenant.clone(), reason: "reserved by the pipeline" });
    }
    let db = database_name(&input.tenant)?;
    if !input.database.is_empty() && input.database != db {
        return Err(NameError::UnsafeTenant { tenant: input.tenant.clone(), reason: "database does not match tenant" });
    }
    Ok(db)
}

/// Handles one SQS batch: starts executions, returns the messages that failed.
pub async fn handle(sfn: &aws_sdk_sfn::Client, state_machine_arn: &str, event: SqsEvent) -> SqsBatchResponse {
    let mut failures = Vec::new();
    for m in event.records {
        let id = m.message_id.clone().unwrap_or_default();
        let ok = match decide(m.body.as_deref().unwrap_or("")) {
            Err(e) => {
                tracing::error!(message_id = %id, error = %e, "message refused");
                false
            }
            Ok(decisions) => {
                let mut all = true;
                for d in decisions {
                    match d {
                        Decision::Skip(why) => tracing::info!(message_id = %id, "skipped: {why}"),
                        Decision::Start { name, input } => {
                            all &= start(sfn, state_machine_arn, &id, &name, &input).await;
                        }
                    }
                }
                all
            }
        };
        if !ok {
            let mut f = BatchItemFailure::default();
            f.item_identifier = id;
            failures.push(f);
        }
    }
    let mut r = SqsBatchResponse::default();
    r.batch_item_failures = failures;
    r
}

async fn start(sfn: &aws_sdk_sfn::Client, arn: &str, message_id: &str, name: &str, input: &PipelineInput) -> bool {
    let body = serde_json::to_string(input).expect("input serializes");
    match sfn.start_execution().state_machine_arn(arn).name(name).input(body).send().await {
        Ok(out) => {
            tracing::info!(message_id, execution = %out.execution_arn(), key = %input.object.key, "execution started");
            true
        }
        Err(e) => {
            use aws_sdk_sfn::error::ProvideErrorMetadata;
            let already = e.as_service_error().is_some_and(|s| s.is_execution_already_exists())
                || e.code() == Some("ExecutionAlreadyExists");
            if already {
                tracing::info!(message_id, execution = name, "execution already exists: a redelivery, nothing to do");
                true
            } else {
                let err = aws_sdk_sfn::error::DisplayErrorContext(&e);
                tracing::error!(message_id, execution = name, error = %err, "StartExecution failed");
                false
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s3_event(key: &str, size: u64) -> String {
        // The shape S3 sends (trimmed of fields the trigger ignores is not needed: it is
        // the full record as documented, with an encoded key).
        serde_json::json!({"Records": [{
            "eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1",
            "eventTime": "2026-11-21T10:00:00.000Z", "eventName": "ObjectCreated:Put",
            "userIdentity": {"principalId": "AWS:EXAMPLE"},
            "requestParameters": {"sourceIPAddress": "127.0.0.1"},
            "responseElements": {"x-amz-request-id": "C3D13FE58DE4C810", "x-amz-id-2": "FMyUVURIY8/IgAtTv8xRjskZQpcIZ9KG4V5Wp6S7S/JRWeUWerMUE5JgHvANOjpD"},
            "s3": {"s3SchemaVersion": "1.0", "configurationId": "uploads",
                "bucket": {"name": "uploads-bucket", "ownerIdentity": {"principalId": "A3NL1KOZZKExample"}, "arn": "arn:aws:s3:::uploads-bucket"},
                "object": {"key": key, "size": size, "eTag": "d41d8cd98f00b204e9800998ecf8427e", "sequencer": "0055AED6DCD90281E5"}}
        }]})
        .to_string()
    }

    #[test]
    fn test_event_is_skipped() {
        let body = r#"{"Service":"Amazon S3","Event":"s3:TestEvent","Time":"2026-11-21T10:00:00.000Z","Bucket":"uploads-bucket","RequestId":"5582815E1AEA5ADF","HostId":"8cLeGAmw098X5cv4Zkwcmo8vvZa3eH3eKxsPzbB9wrR+YstdA6Knx4Ip8EXAMPLE"}"#;
        assert_eq!(decide(body).unwrap(), vec![Decision::Skip("s3:TestEvent".into())]);
    }

    #[test]
    fn encoded_keys_with_spaces_and_non_ascii() {
        let d = decide(&s3_event("hotel123/Sauvegarde+H%C3%B4tel+%282025%29.RAR", 420940)).unwrap();
        let Decision::Start { name, input } = &d[0] else { panic!("{d:?}") };
        assert_eq!(input.object.key, "hotel123/Sauvegarde Hôtel (2025).RAR");
        assert_eq!(input.tenant, "hotel123");
        assert_eq!(input.database, "hotel123");
        assert_eq!(input.object.size, Some(420940));
        assert_eq!(input.object.etag.as_deref(), Some("d41d8cd98f00b204e9800998ecf8427e"));
        assert!(name.starts_with("hotel123-"), "{name}");
    }

    #[test]
    fn non_backup_keys_are_skipped_with_a_reason() {
        for key in ["hotel123/notes.txt", "hotel123/", "hotel123/dump.sql.gz"] {
            let d = decide(&s3_event(key, 1)).unwrap();
            assert!(matches!(&d[0], Decision::Skip(why) if why.contains("not a backup upload")), "{key}: {d:?}");
        }
    }

    #[test]
    fn redelivery_gives_the_same_name() {
        let a = decide(&s3_event("hotel123/a.bak", 1)).unwrap();
        let b = decide(&s3_event("hotel123/a.bak", 1)).unwrap();
        assert_eq!(a, b);
    }

    #[test]
    fn hostile_tenants_are_refused() {
        for key in [
            "hotel%22%3B+DROP+DATABASE+x%3B--/a.bak",
            "h%C3%B4tel/a.bak",
            "postgres/a.bak",
            "reports/a.bak",
            "a.bak",
            "..%2F..%2Fetc/a.bak",
            "x__loading/a.bak",
            "bad%ZZ/a.bak",
        ] {
            assert!(decide(&s3_event(key, 1)).is_err(), "{key}");
        }
        assert!(decide("not json").is_err());
        assert!(decide("{}").is_err());
    }

    #[test]
    fn a_failure_message_replays_as_a_new_attempt() {
        let Decision::Start { name, input } = decide(&s3_event("hotel123/a.bak", 1)).unwrap().remove(0) else {
            panic!()
        };
        let msg = FailureMessage {
            kind: FAILURE_KIND.into(),
            execution: format!("arn:aws:states:us-east-1:123456789012:execution:m:{name}"),
            failed_step: "load".into(),
            error: job::ERROR_TRANSIENT.into(),
            cause: "{}".into(),
            input: *input.clone(),
        };
        let d = decide(&serde_json::to_string(&msg).unwrap()).unwrap();
        let Decision::Start { name: again, input: replay } = &d[0] else { panic!() };
        assert_eq!(replay.attempt, 1);
        assert_eq!(again, &format!("{name}-r1"));
        assert_eq!(replay.object, input.object);
    }
}
