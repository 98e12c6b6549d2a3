//! The AWS pipeline against moto (real AWS SDK for Rust over HTTP), the real state machine
//! (`statemachine/migration.asl.json`, executed by moto's Step Functions), the real Lambda
//! handlers (served by `cargo lambda watch`), the real agent (`bak2pg step`, run on this
//! machine by the test shim in place of the worker's SSM agent), the real fixtures and the
//! test PostgreSQL.
//!
//! What is emulated (see tests/pipeline/shim.py): S3, SQS, SSM Parameter Store and Step
//! Functions are moto; Lambda is `cargo lambda watch` (handler errors mapped to Lambda's
//! `X-Amz-Function-Error` by the shim); the SQS → Lambda event source mapping is this
//! harness (it receives the messages and invokes the trigger with them, deleting those not
//! reported as failures); SSM Run Command is the shim (runs the agent binary, reports its
//! exit status). Everything else is the code that runs in AWS.
//!
//! Needs `scripts/test` (moto, the shim, `cargo lambda watch`, PostgreSQL); fails without.
//! The scenarios share the deployment and run one at a time.

use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use aws_sdk_sfn::types::ExecutionStatus;
use bak2pg::job::{FailureMessage, PipelineInput};
use serde_json::{Value, json};

/// The scenarios run one at a time: they share moto's resources and the SSM configuration.
static SERIAL: Mutex<()> = Mutex::new(());

const PASSWORD: &str = "pw-never-logged-7f3c1e";
const ACCOUNT: &str = "123456789012";
/// The one worker of every scenario but the pool's (`worker/instance-id`).
const WORKER: &str = "i-0123456789abcdef0";

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name} is not set: run the tests with scripts/test"))
}

/// The deployment's names, as scripts/test gave them to `cargo lambda watch`.
struct Names {
    moto: String,
    shim: String,
    lambda: String,
    config_path: String,
    artifacts: String,
    document: String,
    state_machine_arn: String,
    uploads: String,
    queue: String,
    dlq: String,
}

fn names() -> Names {
    Names {
        moto: env("BAK2PG_TEST_MOTO"),
        shim: env("BAK2PG_TEST_MOTO_SHIM"),
        lambda: env("BAK2PG_TEST_LAMBDA"),
        config_path: env("BAK2PG_TEST_CONFIG_PATH"),
        artifacts: env("BAK2PG_TEST_ARTIFACTS_BUCKET"),
        document: env("BAK2PG_TEST_SSM_DOCUMENT"),
        state_machine_arn: env("BAK2PG_TEST_STATE_MACHINE_ARN"),
        uploads: "bak2pg-test-uploads".into(),
        queue: "bak2pg-test-uploads".into(),
        dlq: "bak2pg-test-dlq".into(),
    }
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn fixture(rel: &str) -> PathBuf {
    bak2pg_tests::fixture(rel)
}

/// The agent binary built next to this test (`target/debug/bak2pg`).
fn agent() -> PathBuf {
    let exe = std::env::current_exe().expect("test path");
    let p = exe.parent().and_then(|d| d.parent()).expect("target dir").join("bak2pg");
    assert!(p.exists(), "{} is missing: scripts/test builds it (cargo build -p bak2pg-agent)", p.display());
    p
}

struct Aws {
    s3: aws_sdk_s3::Client,
    sqs: aws_sdk_sqs::Client,
    sfn: aws_sdk_sfn::Client,
    ssm: aws_sdk_ssm::Client,
}

async fn aws(endpoint: &str) -> Aws {
    // SAFETY: set before any thread reads the environment for the SDK; tests are serialized.
    unsafe {
        std::env::set_var("AWS_ACCESS_KEY_ID", "testing");
        std::env::set_var("AWS_SECRET_ACCESS_KEY", "testing");
        std::env::set_var("AWS_REGION", "us-east-1");
        std::env::set_var("AWS_ENDPOINT_URL", endpoint);
    }
    let cfg = bak2pg_aws::sdk_config().await;
    Aws {
        s3: bak2pg_aws::s3_client(&cfg),
        sqs: aws_sdk_sqs::Client::new(&cfg),
        sfn: aws_sdk_sfn::Client::new(&cfg),
        ssm: aws_sdk_ssm::Client::new(&cfg),
    }
}

async fn http_post(url: &str, body: &Value) -> (u16, Value) {
    // A minimal HTTP/1.1 client: the shim and cargo lambda watch speak plain HTTP on loopback.
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let rest = url.strip_prefix("http://").expect("http URL");
    let (host, path) = rest.split_once('/').map(|(h, p)| (h, format!("/{p}"))).unwrap_or((rest, "/".into()));
    let mut s = tokio::net::TcpStream::connect(host).await.expect("connect");
    let data = serde_json::to_vec(body).unwrap();
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        data.len()
    );
    s.write_all(head.as_bytes()).await.unwrap();
    s.write_all(&data).await.unwrap();
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).await.unwrap();
    let text = String::from_utf8_lossy(&buf).to_string();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    let body =
        if head.to_ascii_lowercase().contains("transfer-encoding: chunked") { dechunk(body) } else { body.into() };
    (status, serde_json::from_str(&body).unwrap_or(Value::String(body)))
}

fn dechunk(s: &str) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some((size, after)) = rest.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 || after.len() < n {
            break;
        }
        out.push_str(&after[..n]);
        rest = after[n..].trim_start_matches("\r\n");
    }
    out
}

async fn http_get(url: &str) -> Value {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let rest = url.strip_prefix("http://").expect("http URL");
    let (host, path) = rest.split_once('/').map(|(h, p)| (h, format!("/{p}"))).unwrap();
    let mut s = tokio::net::TcpStream::connect(host).await.expect("connect");
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n").as_bytes()).await.unwrap();
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).await.unwrap();
    let text = String::from_utf8_lossy(&buf).to_string();
    serde_json::from_str(text.split_once("\r\n\r\n").map(|x| x.1).unwrap_or("")).expect("JSON")
}

/// The deployment in moto, created or brought back to its defaults (idempotent).
async fn deploy(n: &Names, a: &Aws, pg_port: &str) {
    for b in [&n.uploads, &n.artifacts] {
        let _ = a.s3.create_bucket().bucket(b.as_str()).send().await;
    }
    let dlq_url = a.sqs.create_queue().queue_name(&n.dlq).send().await.unwrap().queue_url.unwrap();
    let q_url = a.sqs.create_queue().queue_name(&n.queue).send().await.unwrap().queue_url.unwrap();
    let q_arn = format!("arn:aws:sqs:us-east-1:{ACCOUNT}:{}", n.queue);
    use aws_sdk_s3::types::{Event, NotificationConfiguration, QueueConfiguration};
    a.s3.put_bucket_notification_configuration()
        .bucket(&n.uploads)
        .notification_configuration(
            NotificationConfiguration::builder()
                .queue_configurations(
                    QueueConfiguration::builder().queue_arn(&q_arn).events(Event::S3ObjectCreated).build().unwrap(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap();
    // The real ASL, with the substitutions SAM makes.
    let asl = std::fs::read_to_string(repo().join("statemachine/migration.asl.json")).unwrap();
    let fun = |f: &str| format!("arn:aws:lambda:us-east-1:{ACCOUNT}:function:bak2pg-{f}");
    let asl = asl.replace("${PrepareFunctionArn}", &fun("prepare")).replace("${ReportFunctionArn}", &fun("report"));
    assert!(!asl.contains("${"), "a substitution SAM would make is not made here");
    let name = n.state_machine_arn.rsplit(':').next().unwrap();
    let role = format!("arn:aws:iam::{ACCOUNT}:role/bak2pg-test");
    if a.sfn.describe_state_machine().state_machine_arn(&n.state_machine_arn).send().await.is_ok() {
        a.sfn.update_state_machine().state_machine_arn(&n.state_machine_arn).definition(&asl).send().await.unwrap();
    } else {
        let made = a.sfn.create_state_machine().name(name).definition(&asl).role_arn(&role).send().await.unwrap();
        assert_eq!(made.state_machine_arn, n.state_machine_arn);
    }
    // Configuration (plain) and the secret (SecureString, elsewhere).
    let work = repo().join(".moto/work");
    let config = [
        ("pg/host", "127.0.0.1".to_string()),
        ("pg/port", pg_port.to_string()),
        ("pg/user", pg_user()),
        ("pg/sslmode", "disable".into()),
        ("pg/password-parameter", "/bak2pg/test/secrets/pg-password".into()),
        ("pg/replace", "true".into()),
        ("worker/instance-id", WORKER.into()),
        ("worker/work-root", work.display().to_string()),
        ("worker/slots", "2".into()),
        ("worker/jobs", "2".into()),
        ("worker/part-bytes", "1048576".into()),
        ("limits/min-free-bytes", "1048576".into()),
        ("limits/heartbeat-seconds", "60".into()),
        ("limits/step-timeout-seconds", "900".into()),
    ];
    // Settings a scenario may have changed go back to their absence (the defaults).
    for k in ["engine", "sqlserver/url", "sqlserver/password-parameter", "worker/tag"] {
        let _ = a.ssm.delete_parameter().name(format!("{}{k}", n.config_path)).send().await;
    }
    for (k, v) in config {
        a.ssm
            .put_parameter()
            .name(format!("{}{k}", n.config_path))
            .value(v)
            .r#type(aws_sdk_ssm::types::ParameterType::String)
            .overwrite(true)
            .send()
            .await
            .unwrap();
    }
    a.ssm
        .put_parameter()
        .name("/bak2pg/test/secrets/pg-password")
        .value(PASSWORD)
        .r#type(aws_sdk_ssm::types::ParameterType::SecureString)
        .overwrite(true)
        .send()
        .await
        .unwrap();
    // The shim: the real handlers and the real agent.
    let (status, _) = http_post(
        &format!("{}/_shim/config", n.shim),
        &json!({
            "lambda_url": n.lambda,
            "agent": agent(),
            "agent_env": {
                "AWS_ENDPOINT_URL": n.shim, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                "AWS_REGION": "us-east-1", "BAK2PG_LOG": "info"
            },
            "workers": {WORKER: {"tags": {"bak2pg:worker": "test"}}},
            "s3_faults": {"flaky-s3": 1000},
            "kill_faults": {"killedload": "table_loaded"}
        }),
    )
    .await;
    assert_eq!(status, 200);
    let _ = (q_url, dlq_url);
}

fn pg_url() -> String {
    env("BAK2PG_TEST_PG")
}

fn pg_port() -> String {
    let u = pg_url();
    let after = u.rsplit_once(':').unwrap().1;
    after.split('/').next().unwrap().to_string()
}

fn pg_user() -> String {
    let u = pg_url();
    u.split("://").nth(1).and_then(|r| r.split('@').next()).unwrap_or("postgres").to_string()
}

async fn pg(db: &str) -> tokio_postgres::Client {
    let base = pg_url().rsplit_once('/').unwrap().0.to_string();
    let (c, conn) = tokio_postgres::connect(&format!("{base}/{db}"), tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(async move {
        let _ = conn.await;
    });
    c
}

async fn drop_databases(prefix: &str) {
    let c = pg("postgres").await;
    for r in c.query("SELECT datname::text FROM pg_database WHERE starts_with(datname, $1)", &[&prefix]).await.unwrap()
    {
        let d: String = r.get(0);
        c.batch_execute(&format!("DROP DATABASE IF EXISTS \"{d}\" WITH (FORCE)")).await.unwrap();
    }
}

/// Empties a queue (messages of earlier scenarios).
async fn drain(a: &Aws, queue: &str) -> Vec<aws_sdk_sqs::types::Message> {
    let url = a.sqs.get_queue_url().queue_name(queue).send().await.unwrap().queue_url.unwrap();
    let mut all = Vec::new();
    loop {
        let got = a.sqs.receive_message().queue_url(&url).max_number_of_messages(10).send().await.unwrap();
        let msgs = got.messages.unwrap_or_default();
        if msgs.is_empty() {
            return all;
        }
        for m in &msgs {
            a.sqs.delete_message().queue_url(&url).receipt_handle(m.receipt_handle().unwrap()).send().await.unwrap();
        }
        all.extend(msgs);
    }
}

/// The SQS event Lambda's event source mapping would deliver for these messages.
fn sqs_event(queue_arn: &str, msgs: &[aws_sdk_sqs::types::Message]) -> Value {
    json!({"Records": msgs.iter().map(|m| json!({
        "messageId": m.message_id(), "receiptHandle": m.receipt_handle(), "body": m.body(),
        "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "1700000000000",
                        "SenderId": "AIDAEXAMPLE", "ApproximateFirstReceiveTimestamp": "1700000000000"},
        "messageAttributes": {}, "md5OfBody": m.md5_of_body(), "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn, "awsRegion": "us-east-1"
    })).collect::<Vec<_>>()})
}

/// `tenant/file` → `tenant/r<pid>-file`: a new object per test run, so a rerun against the
/// same moto starts new executions (names derive from the object).
fn unique(key: &str) -> String {
    let (tenant, rest) = key.split_once('/').unwrap();
    format!("{tenant}/r{}-{rest}", std::process::id())
}

/// Uploads a fixture and plays the event source mapping: the queue's messages go to the
/// real trigger (through `cargo lambda watch`); returns the execution names started.
async fn upload_and_trigger(n: &Names, a: &Aws, key: &str, file: &str) -> Vec<String> {
    drain(a, &n.queue).await;
    let body = aws_sdk_s3::primitives::ByteStream::from_path(fixture(file)).await.unwrap();
    a.s3.put_object().bucket(&n.uploads).key(unique(key)).body(body).send().await.unwrap();
    let msgs = drain(a, &n.queue).await;
    assert!(!msgs.is_empty(), "the upload sent no notification");
    let q_arn = format!("arn:aws:sqs:us-east-1:{ACCOUNT}:{}", n.queue);
    let (status, resp) =
        http_post(&format!("{}/2015-03-31/functions/bak2pg-trigger/invocations", n.lambda), &sqs_event(&q_arn, &msgs))
            .await;
    assert_eq!(status, 200, "{resp}");
    assert_eq!(resp["batchItemFailures"], json!([]), "{resp}");
    let mut names = Vec::new();
    for m in &msgs {
        for d in bak2pg_trigger::decide(m.body().unwrap()).unwrap() {
            if let bak2pg_trigger::Decision::Start { name, .. } = d {
                names.push(name);
            }
        }
    }
    names
}

async fn wait_execution(n: &Names, a: &Aws, name: &str, limit: Duration) -> ExecutionStatus {
    let arn = format!("{}:{name}", n.state_machine_arn.replace(":stateMachine:", ":execution:"));
    let start = Instant::now();
    loop {
        let d = a.sfn.describe_execution().execution_arn(&arn).send().await.unwrap();
        if d.status != ExecutionStatus::Running {
            if d.status != ExecutionStatus::Succeeded {
                deliver_status_change(n, &d).await;
            }
            return d.status;
        }
        assert!(start.elapsed() < limit, "execution {name} still running after {limit:?}");
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// Plays the EventBridge rule of infra/template.yaml (moto's Step Functions emits no
/// events): the "Execution Status Change" event of an unsuccessful execution, as AWS
/// shapes it, to the report function. scripts/pipeline-checks.sh checks that the rule's
/// pattern matches this event.
async fn deliver_status_change(n: &Names, d: &aws_sdk_sfn::operation::describe_execution::DescribeExecutionOutput) {
    let event = status_change_event(d);
    // For scripts/pipeline-checks.sh, which matches them against the template's rule.
    let log = repo().join(".moto/status-change-events.jsonl");
    let mut f = std::fs::OpenOptions::new().create(true).append(true).open(&log).unwrap();
    std::io::Write::write_all(&mut f, format!("{event}\n").as_bytes()).unwrap();
    let url = format!("{}/2015-03-31/functions/bak2pg-report/invocations", n.lambda);
    let (status, resp) = http_post(&url, &event).await;
    assert_eq!(status, 200, "the report function refused the status change event: {resp}");
}

fn status_change_event(d: &aws_sdk_sfn::operation::describe_execution::DescribeExecutionOutput) -> Value {
    let status = match d.status {
        ExecutionStatus::Failed => "FAILED",
        ExecutionStatus::TimedOut => "TIMED_OUT",
        ExecutionStatus::Aborted => "ABORTED",
        ref other => panic!("no event for {other:?}"),
    };
    json!({
        "version": "0", "id": "00000000-0000-0000-0000-000000000000",
        "detail-type": "Step Functions Execution Status Change", "source": "aws.states",
        "account": ACCOUNT, "time": "2026-12-06T00:00:00Z", "region": "us-east-1",
        "resources": [d.execution_arn],
        "detail": {
            "executionArn": d.execution_arn, "stateMachineArn": d.state_machine_arn, "name": d.name,
            "status": status, "startDate": 0, "stopDate": 0, "input": d.input, "output": d.output,
            "error": d.error, "cause": d.cause
        }
    })
}

async fn commands(n: &Names) -> Vec<Value> {
    http_get(&format!("{}/_shim/commands", n.shim)).await.as_array().cloned().unwrap_or_default()
}

fn commands_of(all: &[Value], execution: &str, step: &str) -> Vec<Value> {
    all.iter()
        .filter(|c| {
            c["Parameters"]["JobUri"][0].as_str().is_some_and(|u| u.contains(execution))
                && c["Parameters"]["Step"][0] == step
        })
        .cloned()
        .collect()
}

async fn s3_text(a: &Aws, bucket: &str, key: &str) -> String {
    let o =
        a.s3.get_object().bucket(bucket).key(key).send().await.unwrap_or_else(|e| panic!("s3://{bucket}/{key}: {e:?}"));
    String::from_utf8(o.body.collect().await.unwrap().into_bytes().to_vec()).unwrap()
}

async fn all_artifacts(a: &Aws, bucket: &str, prefix: &str) -> String {
    let mut text = String::new();
    let list = a.s3.list_objects_v2().bucket(bucket).prefix(prefix).send().await.unwrap();
    for o in list.contents() {
        text.push_str(&s3_text(a, bucket, o.key().unwrap()).await);
    }
    text
}

/// One scenario: its own runtime, the shared deployment, one at a time.
fn scenario<F: std::future::Future<Output = ()>>(f: impl FnOnce(Names, Aws) -> F) {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let n = names();
        let a = aws(&n.moto).await;
        deploy(&n, &a, &pg_port()).await;
        f(n, a).await;
    });
}

/// Starts a new execution resuming `exec` at `step` (what a console Redrive does; moto has
/// none), named `<exec>-<suffix>`; returns its name.
async fn resume(n: &Names, a: &Aws, exec: &str, step: bak2pg::job::StepName, suffix: &str) -> String {
    let arn = format!("{}:{exec}", n.state_machine_arn.replace(":stateMachine:", ":execution:"));
    let first = a.sfn.describe_execution().execution_arn(&arn).send().await.unwrap();
    let mut input: PipelineInput = serde_json::from_str(first.input.as_deref().unwrap()).unwrap();
    input.resume = Some(bak2pg::job::Resume { execution: exec.to_string(), step });
    let again = format!("{}-{suffix}", &exec[..exec.len().min(70)]);
    a.sfn
        .start_execution()
        .state_machine_arn(&n.state_machine_arn)
        .name(&again)
        .input(serde_json::to_string(&input).unwrap())
        .send()
        .await
        .unwrap();
    again
}

/// The shim's configuration of emulated workers `ids`, tagged for this stack, each with
/// its own (emptied) work root under `.moto/pool/`.
fn pool_workers<S: AsRef<str>>(ids: &[S]) -> serde_json::Map<String, Value> {
    let mut workers = serde_json::Map::new();
    for id in ids.iter().map(AsRef::as_ref) {
        let root = repo().join(".moto/pool").join(id);
        let _ = std::fs::remove_dir_all(&root);
        workers.insert(
            id.to_string(),
            json!({"tags": {"bak2pg:worker": "test"}, "env": {"BAK2PG_WORK_ROOT": root.display().to_string()}}),
        );
    }
    workers
}

async fn dlq_messages(n: &Names, a: &Aws) -> Vec<FailureMessage> {
    drain(a, &n.dlq).await.iter().map(|m| serde_json::from_str(m.body().unwrap()).expect("a failure message")).collect()
}

#[test]
fn s3_notification_reaches_the_trigger_which_starts_one_execution_per_upload() {
    scenario(|n, a| async move {
        drain(&a, &n.queue).await;
        // Keys with a space, non-ASCII, any-case extension; a non-backup key; a hostile tenant.
        let keys = ["trig1/Sauvegarde Hôtel (1).BAK", "trig1/readme.txt", "trig1\"; drop/x.bak"];
        for k in keys {
            a.s3.put_object().bucket(&n.uploads).key(k).body(b"x".to_vec().into()).send().await.unwrap();
        }
        let msgs = drain(&a, &n.queue).await;
        assert_eq!(msgs.len(), 3, "one notification per upload");
        for m in &msgs {
            assert!(m.body().unwrap().contains("ObjectCreated"), "{:?}", m.body());
        }
        // The trigger in-process, against moto's Step Functions, with a state machine that
        // does nothing (this test is about the trigger, not the pipeline).
        let sm = a
            .sfn
            .create_state_machine()
            .name(format!("bak2pg-trigger-test-{}", std::process::id()))
            .definition(r#"{"StartAt":"Done","States":{"Done":{"Type":"Succeed"}}}"#)
            .role_arn(format!("arn:aws:iam::{ACCOUNT}:role/x"))
            .send()
            .await
            .unwrap()
            .state_machine_arn;
        let q_arn = format!("arn:aws:sqs:us-east-1:{ACCOUNT}:{}", n.queue);
        let event: aws_lambda_events::sqs::SqsEvent = serde_json::from_value(sqs_event(&q_arn, &msgs)).unwrap();
        let resp = bak2pg_trigger::handle(&a.sfn, &sm, event.clone()).await;
        // Only the hostile tenant's message fails; the others are not redelivered.
        let failed: Vec<_> = resp.batch_item_failures.iter().map(|f| f.item_identifier.clone()).collect();
        let hostile = msgs.iter().find(|m| m.body().unwrap().contains("drop")).unwrap();
        assert_eq!(failed, vec![hostile.message_id().unwrap().to_string()]);
        // Redelivery of the whole batch: still one execution.
        let again = bak2pg_trigger::handle(&a.sfn, &sm, event).await;
        assert_eq!(again.batch_item_failures.len(), 1);
        let execs = a.sfn.list_executions().state_machine_arn(&sm).send().await.unwrap().executions;
        assert_eq!(execs.len(), 1, "{execs:?}");
        let input: PipelineInput = serde_json::from_str(
            &a.sfn.describe_execution().execution_arn(&execs[0].execution_arn).send().await.unwrap().input.unwrap(),
        )
        .unwrap();
        assert_eq!(input.object.key, "trig1/Sauvegarde Hôtel (1).BAK");
        assert_eq!((input.tenant.as_str(), input.database.as_str()), ("trig1", "trig1"));
    });
}

#[test]
fn rar_upload_becomes_a_validated_database_through_the_whole_pipeline() {
    scenario(|n, a| async move {
        drop_databases("e2ehotel").await;
        let names =
            upload_and_trigger(&n, &a, "e2ehotel/Northwind Backup (RAR5).rar", "rar/northwind-sql2005-rar5.rar").await;
        assert_eq!(names.len(), 1);
        let exec = &names[0];
        let status = wait_execution(&n, &a, exec, Duration::from_secs(900)).await;
        let dlq = dlq_messages(&n, &a).await;
        assert_eq!(status, ExecutionStatus::Succeeded, "dead-letter messages: {dlq:?}");
        assert!(dlq.is_empty());

        // The report: every table matched, with the oracle's row counts.
        let report: Value =
            serde_json::from_str(&s3_text(&a, &n.artifacts, &format!("reports/e2ehotel/{exec}.json")).await).unwrap();
        let tables = report["migration"]["tables"].as_array().expect("tables").clone();
        let rows_of = |name: &str| {
            tables
                .iter()
                .find(|t| t["source"] == name)
                .map(|t| t["rows"].as_u64().unwrap())
                .unwrap_or_else(|| panic!("{name}"))
        };
        for (table, rows) in
            [("dbo.Orders", 830), ("dbo.Order Details", 2155), ("dbo.Customers", 91), ("dbo.Territories", 53)]
        {
            assert_eq!(rows_of(table), rows, "{table}");
        }
        // …and PostgreSQL holds exactly those rows, in the database named after the tenant.
        let c = pg("e2ehotel").await;
        let total: i64 = c
            .query_one(
                "SELECT sum((xpath('/row/c/text()', query_to_xml(format('select count(*) as c from %I.%I', table_schema, table_name), false, true, '')))[1]::text::bigint)::bigint \
                 FROM information_schema.tables WHERE table_schema NOT IN ('pg_catalog', 'information_schema', 'bak2pg') \
                 AND table_type = 'BASE TABLE'",
                &[],
            )
            .await
            .unwrap()
            .get(0);
        assert_eq!(total as u64, report["migration"]["totals"]["rows"].as_u64().unwrap());
        assert_eq!(total, 8 + 91 + 9 + 49 + 2155 + 830 + 77 + 4 + 3 + 29 + 53, "every oracle row");
        // The views, created by the load step and counted by the validate step, and every
        // module's source kept.
        let objects = report["migration"]["objects"].as_array().expect("objects").clone();
        let views: Vec<&Value> = objects.iter().filter(|o| o["kind"] == "view").collect();
        assert_eq!(views.len(), 16);
        assert!(views.iter().all(|v| v["translated"] == true && v["rows"].as_u64().is_some()), "{views:?}");
        let subtotals = views.iter().find(|v| v["name"] == "Order Subtotals").expect("Order Subtotals");
        assert_eq!(subtotals["rows"], 830);
        let created: i64 =
            c.query_one("SELECT count(*) FROM pg_views WHERE schemaname = 'public'", &[]).await.unwrap().get(0);
        assert_eq!(created, 16);
        let kept: i64 = c.query_one("SELECT count(*) FROM bak2pg.source_objects", &[]).await.unwrap().get(0);
        assert_eq!(kept as usize, objects.len());

        assert_eq!(report["status"], "succeeded");
        assert_eq!(report["migration"]["status"], "passed");
        assert_eq!(report["migration"]["totals"]["matched"], report["migration"]["totals"]["tables"]);
        assert_eq!(report["migration"]["totals"]["mismatched"], 0);
        assert_eq!(report["migration"]["input"]["archive"], "RAR5");
        // `auto` (the default) chose the native reader and says why.
        assert_eq!(report["migration"]["source"]["engine"], "native");
        let reason = report["migration"]["source"]["engine_reason"].as_str().unwrap();
        assert!(reason.starts_with("pipeline: ") && reason.contains("native"), "{reason}");
        let steps: Vec<&str> =
            report["steps"].as_array().unwrap().iter().map(|s| s["step"].as_str().unwrap()).collect();
        assert_eq!(steps, ["fetch", "read", "load", "validate", "swap"]);

        // The password is nowhere: not in command parameters, outputs, results or report.
        let cmds = commands(&n).await;
        let ours: Vec<_> = cmds.iter().filter(|c| c.to_string().contains(exec.as_str())).collect();
        assert_eq!(ours.len(), 5, "one command per step");
        assert!(ours.iter().all(|c| c["DocumentName"] == n.document.as_str()), "the configured SSM document");
        let artifacts = all_artifacts(&a, &n.artifacts, "jobs/e2ehotel/").await
            + &all_artifacts(&a, &n.artifacts, "reports/e2ehotel/").await;
        for text in ours.iter().map(|c| c.to_string()).chain([artifacts]) {
            assert!(!text.contains(PASSWORD), "the password leaked: {text}");
        }
        // …nor in the Lambda logs (`cargo lambda watch`, started by scripts/test).
        let lambda_log = std::fs::read_to_string(repo().join(".moto/lambda.log")).expect("scripts/test's lambda log");
        assert!(
            lambda_log.contains("bak2pg-prepare") || lambda_log.contains("job document written"),
            "the log is the handlers'"
        );
        assert!(!lambda_log.contains(PASSWORD), "the password leaked into the Lambda logs");
        for c in &ours {
            let out = c["StandardOutputContent"].as_str().unwrap();
            assert!(out.contains("succeeded in"), "one summary line per step: {out}");
            assert!(c["Parameters"]["TaskToken"][0].as_str().is_some_and(|t| !t.is_empty()), "{c}");
        }
        // Each step reported to the state machine itself, with a heartbeat on the way.
        let beats = http_get(&format!("{}/_shim/heartbeats", n.shim)).await["count"].as_u64().unwrap();
        assert!(beats >= 5, "{beats} heartbeats for five steps");

        // A replay of a finished step is skipped (same input digest): run `validate` again by hand.
        let job = format!("s3://{}/jobs/e2ehotel/{exec}/job.json", n.artifacts);
        let out = std::process::Command::new(agent())
            .args(["step", "validate", "--job", &job])
            .env("AWS_ENDPOINT_URL", &n.moto)
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success() && stdout.contains("skipped, already succeeded"), "{stdout}");

        // A swap whose result was lost (the agent died after the rename): running it again
        // finds no loading database and proves, by reading the database back, that the
        // validated rows are in place.
        a.s3.delete_object().bucket(&n.artifacts).key(format!("jobs/e2ehotel/{exec}/swap.json")).send().await.unwrap();
        let out = std::process::Command::new(agent())
            .args(["step", "swap", "--job", &job])
            .env("AWS_ENDPOINT_URL", &n.moto)
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && stdout.contains("was already in place (read back: every table matches)"),
            "{stdout}"
        );
    });
}

#[test]
fn a_flaky_download_is_retried_and_the_run_succeeds() {
    scenario(|n, a| async move {
        drop_databases("flakypubs").await;
        let names = upload_and_trigger(&n, &a, "flakypubs/flaky-s3 pubs.bak", "bak/pubs-sql2012.bak").await;
        let exec = &names[0];
        let status = wait_execution(&n, &a, exec, Duration::from_secs(600)).await;
        let dlq = dlq_messages(&n, &a).await;
        assert_eq!(status, ExecutionStatus::Succeeded, "{dlq:?}");
        let cmds = commands(&n).await;
        let fetches = commands_of(&cmds, exec, "fetch");
        assert_eq!(
            fetches.len(),
            2,
            "the first fetch fails on 503s beyond its retries, the state machine's retry succeeds"
        );
        assert_eq!(fetches[0]["Status"], "Failed");
        assert!(
            fetches[0]["StandardOutputContent"].as_str().unwrap().contains("Transient s3_download"),
            "{}",
            fetches[0]
        );
        let c = pg("flakypubs").await;
        let authors: i64 = c.query_one("SELECT count(*) FROM public.authors", &[]).await.unwrap().get(0);
        assert_eq!(authors, 23);
    });
}

/// The worker's `load` is killed (SIGKILL) after its first table's COPY: the command
/// ends without a result, the state machine retries the step, and the retry rebuilds the
/// loading database and completes; nothing is left beside the migrated database.
#[test]
fn a_load_killed_mid_way_is_retried_and_completes_with_nothing_left_over() {
    scenario(|n, a| async move {
        drop_databases("killedload").await;
        let names = upload_and_trigger(&n, &a, "killedload/pubs.bak", "bak/pubs-sql2012.bak").await;
        let exec = &names[0];
        let status = wait_execution(&n, &a, exec, Duration::from_secs(600)).await;
        let dlq = dlq_messages(&n, &a).await;
        assert_eq!(status, ExecutionStatus::Succeeded, "{dlq:?}");
        let loads = commands_of(&commands(&n).await, exec, "load");
        assert_eq!(loads.len(), 2, "the killed load and its retry");
        assert_eq!(loads[0]["Status"], "Failed", "{}", loads[0]);
        assert_eq!(loads[1]["Status"], "Success", "{}", loads[1]);
        let m = pg("postgres").await;
        let left: Vec<String> = m
            .query("SELECT datname::text FROM pg_database WHERE starts_with(datname, 'killedload') ORDER BY 1", &[])
            .await
            .unwrap()
            .iter()
            .map(|r| r.get(0))
            .collect();
        assert_eq!(left, vec!["killedload".to_string()], "no __loading or __creating left");
        let c = pg("killedload").await;
        let authors: i64 = c.query_one("SELECT count(*) FROM public.authors", &[]).await.unwrap().get(0);
        assert_eq!(authors, 23);
    });
}

/// A step that fails permanently ends the execution failed at that step (no Catch, so a
/// console Redrive would resume there); its report and dead-letter message come from the
/// status change event. Once the cause is removed, the execution is resumed from the failed
/// step — what Redrive does, played as a new execution with `resume` (moto has no
/// RedriveExecution) — and completes without fetching or reading again.
#[test]
fn a_permanently_failed_step_is_resumed_after_the_fix_and_completes() {
    scenario(|n, a| async move {
        drop_databases("redrive").await;
        // Someone else's database in the way of the load (not ours: refused, never dropped).
        let m = pg("postgres").await;
        m.batch_execute("CREATE DATABASE redrive__loading").await.unwrap();
        pg("redrive__loading").await.batch_execute("CREATE TABLE theirs (x int)").await.unwrap();
        let names = upload_and_trigger(&n, &a, "redrive/pubs.bak", "bak/pubs-sql2012.bak").await;
        let exec = names[0].clone();
        assert_eq!(wait_execution(&n, &a, &exec, Duration::from_secs(600)).await, ExecutionStatus::Failed);
        let dlq = dlq_messages(&n, &a).await;
        assert_eq!(dlq.len(), 1, "{dlq:?}");
        assert_eq!((dlq[0].failed_step.as_str(), dlq[0].error.as_str()), ("load", "Bak2pg.Permanent"));
        assert!(dlq[0].cause.contains("redrive__loading"), "names the database in the way: {}", dlq[0].cause);
        let report: Value =
            serde_json::from_str(&s3_text(&a, &n.artifacts, &format!("reports/redrive/{exec}.json")).await).unwrap();
        assert_eq!((report["status"].as_str(), report["failed_step"].as_str()), (Some("failed"), Some("load")));
        // The execution stopped at the step: nothing after it ran.
        let cmds = commands(&n).await;
        assert_eq!(commands_of(&cmds, &exec, "load").len(), 1, "a permanent failure is not retried");
        assert!(commands_of(&cmds, &exec, "validate").is_empty());

        // The operator removes the cause and resumes at the failed step.
        m.batch_execute("DROP DATABASE redrive__loading").await.unwrap();
        let again = resume(&n, &a, &exec, bak2pg::job::StepName::Load, "resume").await;
        let status = wait_execution(&n, &a, &again, Duration::from_secs(600)).await;
        assert_eq!(status, ExecutionStatus::Succeeded, "{:?}", dlq_messages(&n, &a).await);
        // fetch and read ran once, for the first execution; load twice; the rest once.
        let cmds = commands(&n).await;
        let count = |step| commands_of(&cmds, &exec, step).len();
        assert_eq!([count("fetch"), count("read"), count("load"), count("validate"), count("swap")], [1, 1, 2, 1, 1]);
        let report: Value =
            serde_json::from_str(&s3_text(&a, &n.artifacts, &format!("reports/redrive/{again}.json")).await).unwrap();
        assert_eq!(report["status"], "succeeded");
        assert_eq!(report["migration"]["status"], "passed");
        let steps: Vec<&str> =
            report["steps"].as_array().unwrap().iter().map(|s| s["step"].as_str().unwrap()).collect();
        assert_eq!(steps, ["fetch", "read", "load", "validate", "swap"], "the report has every step's result");
        let c = pg("redrive").await;
        let authors: i64 = c.query_one("SELECT count(*) FROM public.authors", &[]).await.unwrap().get(0);
        assert_eq!(authors, 23);
    });
}

/// A step whose task the state machine gave up on (its heartbeat is answered
/// `TaskTimedOut`: the execution was stopped, or sent the step again) stops its work and
/// exits 4 without reporting, instead of running on unseen.
#[test]
fn a_step_the_state_machine_gave_up_on_stops() {
    scenario(|n, a| async move {
        // A job whose fetch would wait for the worker's only slot, held here: the step is
        // surely still running when its first heartbeat is answered.
        let work = repo().join(".moto/work-gone");
        let _ = std::fs::remove_dir_all(&work);
        let slots = work.join(".slots");
        std::fs::create_dir_all(&slots).unwrap();
        let held =
            std::fs::File::options().create(true).truncate(false).write(true).open(slots.join("slot-0.lock")).unwrap();
        held.try_lock().unwrap();
        let job: bak2pg::job::JobDocument = serde_json::from_value(json!({
            "version": bak2pg::job::JOB_VERSION, "execution": "gone-1", "tenant": "gone",
            "object": {"bucket": n.uploads, "key": "gone/pubs.bak"},
            "target": {"host": "127.0.0.1", "port": 5432, "user": "u", "maintenance_db": "postgres",
                       "sslmode": "disable", "password_parameter": "/p", "database": "gone", "replace": false},
            "worker": {"work_root": work.display().to_string(), "slots": 1, "jobs": 1, "max_member_bytes": 1,
                       "min_free_bytes": 1, "part_bytes": 1048576, "heartbeat_seconds": 10},
            "results": format!("s3://{}/jobs/gone/gone-1/", n.artifacts)
        }))
        .unwrap();
        let uri = bak2pg::job::S3Uri::parse(&format!("s3://{}/jobs/gone/gone-1/job.json", n.artifacts)).unwrap();
        bak2pg_aws::put_json(&a.s3, &uri, &job).await.unwrap();
        let started = Instant::now();
        let out = tokio::process::Command::new(agent())
            .args(["step", "fetch", "--job", &uri.to_string()])
            .env("AWS_ENDPOINT_URL", &n.shim)
            .env("BAK2PG_TASK_TOKEN", "gone-token")
            .output()
            .await
            .unwrap();
        drop(held);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(4), "{stdout}");
        assert!(stdout.contains("stopped: the state machine no longer waits for it (TaskTimedOut)"), "{stdout}");
        assert!(started.elapsed() < Duration::from_secs(30), "stopped at the first heartbeat");
        // The work stopped with it: no result was written, and the lock is free again.
        let result = a.s3.get_object().bucket(&n.artifacts).key("jobs/gone/gone-1/fetch.json").send().await;
        assert!(result.is_err(), "the stopped step wrote no result");
        let lock = std::fs::File::open(work.join(".running/gone-1.lock")).unwrap();
        assert!(lock.try_lock().is_ok(), "no process of the step holds the execution's lock");
    });
}

#[test]
fn an_archive_without_a_backup_goes_to_the_dead_letter_queue_without_retry() {
    scenario(|n, a| async move {
        let key = "csvtenant/Northwind Dataset.rar";
        let names = upload_and_trigger(&n, &a, key, "rar/northwind-csv-no-bak-rar5.rar").await;
        let exec = &names[0];
        assert_eq!(wait_execution(&n, &a, exec, Duration::from_secs(300)).await, ExecutionStatus::Failed);
        let dlq = dlq_messages(&n, &a).await;
        assert_eq!(dlq.len(), 1, "{dlq:?}");
        let m = &dlq[0];
        assert_eq!(m.kind, "bak2pg.failure");
        assert!(m.execution.ends_with(exec.as_str()), "{}", m.execution);
        assert_eq!(m.failed_step, "fetch");
        assert_eq!(m.error, "Bak2pg.Permanent");
        assert!(m.cause.contains("no_backup_in_archive"), "{}", m.cause);
        assert_eq!(m.input.object.key, unique(key));
        assert_eq!(commands_of(&commands(&n).await, exec, "fetch").len(), 1, "a permanent failure is not retried");
        let report: Value =
            serde_json::from_str(&s3_text(&a, &n.artifacts, &format!("reports/csvtenant/{exec}.json")).await).unwrap();
        assert_eq!((report["status"].as_str(), report["failed_step"].as_str()), (Some("failed"), Some("fetch")));
        // The message replays: the trigger accepts it back as attempt 1.
        let body = serde_json::to_string(m).unwrap();
        let d = bak2pg_trigger::decide(&body).unwrap();
        assert!(matches!(&d[0], bak2pg_trigger::Decision::Start { name, .. } if name == &format!("{exec}-r1")));
    });
}

#[test]
fn an_incomplete_backup_fails_permanently_at_read() {
    scenario(|n, a| async move {
        let names =
            upload_and_trigger(&n, &a, "stripe/northwind-stripe.bak", "bak/northwind-sql2014-stripe-partial.bak").await;
        let exec = &names[0];
        assert_eq!(wait_execution(&n, &a, exec, Duration::from_secs(300)).await, ExecutionStatus::Failed);
        let dlq = dlq_messages(&n, &a).await;
        assert_eq!(dlq.len(), 1, "{dlq:?}");
        assert_eq!((dlq[0].failed_step.as_str(), dlq[0].error.as_str()), ("read", "Bak2pg.Permanent"));
        assert!(dlq[0].cause.contains("incomplete"), "{}", dlq[0].cause);
        assert_eq!(commands_of(&commands(&n).await, exec, "read").len(), 1);
    });
}

#[test]
fn load_is_retried_while_postgres_is_down_then_dead_lettered() {
    scenario(|n, a| async move {
        // A port nothing listens on: PostgreSQL is "down" for this run.
        let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port().to_string();
        deploy(&n, &a, &closed).await;
        let names = upload_and_trigger(&n, &a, "pgdown/pubs.bak", "bak/pubs-sql2012.bak").await;
        let exec = &names[0];
        let status = wait_execution(&n, &a, exec, Duration::from_secs(600)).await;
        deploy(&n, &a, &pg_port()).await;
        assert_eq!(status, ExecutionStatus::Failed);
        let dlq = dlq_messages(&n, &a).await;
        assert_eq!(dlq.len(), 1, "{dlq:?}");
        assert_eq!((dlq[0].failed_step.as_str(), dlq[0].error.as_str()), ("load", "Bak2pg.Transient"));
        assert!(dlq[0].cause.contains("cannot connect"), "{}", dlq[0].cause);
        assert_eq!(commands_of(&commands(&n).await, exec, "load").len(), 3, "the first try and two retries");
    });
}

async fn set_config(n: &Names, a: &Aws, key: &str, value: &str) {
    a.ssm
        .put_parameter()
        .name(format!("{}{key}", n.config_path))
        .value(value)
        .r#type(aws_sdk_ssm::types::ParameterType::String)
        .overwrite(true)
        .send()
        .await
        .unwrap();
}

#[test]
fn a_step_waits_for_a_free_slot_and_says_so() {
    scenario(|n, a| async move {
        drop_databases("slotwait").await;
        // One slot on the worker, and this test holds it (as a step of another upload would).
        set_config(&n, &a, "worker/slots", "1").await;
        let slots = repo().join(".moto/work/.slots");
        std::fs::create_dir_all(&slots).unwrap();
        let held =
            std::fs::File::options().create(true).truncate(false).write(true).open(slots.join("slot-0.lock")).unwrap();
        held.try_lock().expect("the slot is free before the test takes it");
        let names = upload_and_trigger(&n, &a, "slotwait/pubs.bak", "bak/pubs-sql2012.bak").await;
        let exec = names[0].clone();
        // Held until the fetch command has been sent and has had time to find the slot busy
        // (the execution's start, Lambda cold starts and SSM polling vary from run to run).
        let sent = Instant::now();
        while commands_of(&commands(&n).await, &exec, "fetch").is_empty() {
            assert!(sent.elapsed() < Duration::from_secs(300), "no fetch command was sent");
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        tokio::time::sleep(Duration::from_secs(5)).await;
        drop(held);
        let status = wait_execution(&n, &a, &exec, Duration::from_secs(600)).await;
        set_config(&n, &a, "worker/slots", "2").await;
        assert_eq!(status, ExecutionStatus::Succeeded, "{:?}", dlq_messages(&n, &a).await);
        let fetch = commands_of(&commands(&n).await, &exec, "fetch");
        assert_eq!(fetch.len(), 1, "waiting is not failing: no retry");
        let out = fetch[0]["StandardOutputContent"].as_str().unwrap();
        assert!(out.contains("waiting for a free slot: all 1 heavy-step slots of this worker are busy"), "{out}");
        assert!(out.contains("got slot 0 of 1 after waiting"), "{out}");
        let result: Value =
            serde_json::from_str(&s3_text(&a, &n.artifacts, &format!("jobs/slotwait/{exec}/fetch.json")).await)
                .unwrap();
        assert!(result["waited_seconds"].as_f64().unwrap() >= 3.0, "{result}");
    });
}

#[test]
fn the_sqlserver_engine_reads_its_password_from_ssm_and_an_unreachable_server_is_retried_then_dead_lettered() {
    scenario(|n, a| async move {
        const MSSQL_SECRET: &str = "Mssql-Secret-7f3a91";
        // The worker's SQL Server is "down": a port nothing listens on.
        let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        set_config(&n, &a, "engine", "sqlserver").await;
        set_config(&n, &a, "sqlserver/url", &format!("mssql://bak2pg@127.0.0.1:{closed}")).await;
        set_config(&n, &a, "sqlserver/password-parameter", "/bak2pg/test/secrets/mssql-password").await;
        a.ssm
            .put_parameter()
            .name("/bak2pg/test/secrets/mssql-password")
            .value(MSSQL_SECRET)
            .r#type(aws_sdk_ssm::types::ParameterType::SecureString)
            .overwrite(true)
            .send()
            .await
            .unwrap();
        let names = upload_and_trigger(&n, &a, "mssqldown/pubs.bak", "bak/pubs-sql2012.bak").await;
        let exec = &names[0];
        let status = wait_execution(&n, &a, exec, Duration::from_secs(600)).await;
        assert_eq!(status, ExecutionStatus::Failed);
        let dlq = dlq_messages(&n, &a).await;
        assert_eq!(dlq.len(), 1, "{dlq:?}");
        assert_eq!((dlq[0].failed_step.as_str(), dlq[0].error.as_str()), ("read", "Bak2pg.Transient"));
        assert!(dlq[0].cause.contains(&format!("SQL Server 127.0.0.1:{closed}")), "{}", dlq[0].cause);
        let reads = commands_of(&commands(&n).await, exec, "read");
        assert_eq!(reads.len(), 3, "the first try and two retries");
        // The job names the secret; its value is nowhere.
        let job = s3_text(&a, &n.artifacts, &format!("jobs/mssqldown/{exec}/job.json")).await;
        assert!(job.contains("/bak2pg/test/secrets/mssql-password") && job.contains("\"sqlserver\""), "{job}");
        let artifacts = all_artifacts(&a, &n.artifacts, "jobs/mssqldown/").await
            + &all_artifacts(&a, &n.artifacts, "reports/mssqldown/").await;
        let dlq_text = serde_json::to_string(&dlq).unwrap();
        for text in reads.iter().map(|c| c.to_string()).chain([artifacts, dlq_text]) {
            assert!(!text.contains(MSSQL_SECRET), "the SQL Server password leaked: {text}");
        }
        let lambda_log = std::fs::read_to_string(repo().join(".moto/lambda.log")).expect("scripts/test's lambda log");
        assert!(!lambda_log.contains(MSSQL_SECRET), "the SQL Server password leaked into the Lambda logs");
    });
}

#[test]
fn the_sqlserver_engine_without_a_configured_server_fails_permanently_at_read() {
    scenario(|n, a| async move {
        set_config(&n, &a, "engine", "sqlserver").await;
        let names = upload_and_trigger(&n, &a, "nomssql/pubs.bak", "bak/pubs-sql2012.bak").await;
        let exec = &names[0];
        assert_eq!(wait_execution(&n, &a, exec, Duration::from_secs(300)).await, ExecutionStatus::Failed);
        let dlq = dlq_messages(&n, &a).await;
        assert_eq!(dlq.len(), 1, "{dlq:?}");
        assert_eq!((dlq[0].failed_step.as_str(), dlq[0].error.as_str()), ("read", "Bak2pg.Permanent"));
        assert!(dlq[0].cause.contains("--mssql"), "says how to configure it: {}", dlq[0].cause);
        assert_eq!(commands_of(&commands(&n).await, exec, "read").len(), 1, "no retry");
    });
}

#[test]
fn fifty_uploads_within_a_minute_spread_over_a_pool_of_three_workers() {
    scenario(|n, a| async move {
        const UPLOADS: usize = 50;
        let pool: Vec<String> = (1..=3).map(|i| format!("i-0pool{i:012}")).collect();
        // Three workers on this machine, each with its own work folders and slots; the
        // configuration names the pool by its tag instead of one instance.
        let mut workers = pool_workers(&pool);
        // A worker tagged for another stack and one whose SSM agent is offline: never chosen.
        workers.insert("i-0otherstack0000".into(), json!({"tags": {"bak2pg:worker": "other"}}));
        workers.insert("i-0offline0000000".into(), json!({"tags": {"bak2pg:worker": "test"}, "online": false}));
        let (status, _) = http_post(&format!("{}/_shim/config", n.shim), &json!({"workers": workers.clone()})).await;
        assert_eq!(status, 200);
        a.ssm.delete_parameter().name(format!("{}worker/instance-id", n.config_path)).send().await.unwrap();
        set_config(&n, &a, "worker/tag", "bak2pg:worker=test").await;
        drop_databases("pool").await;

        // 50 uploads of 50 tenants, then the queue's messages to the trigger in batches of
        // ten (the event source mapping's batch size).
        drain(&a, &n.queue).await;
        let started = Instant::now();
        let body = std::fs::read(fixture("bak/hotel-management-time-sql2017.bak")).unwrap();
        for t in 1..=UPLOADS {
            let key = unique(&format!("pool{t:02}/HotelManagementSystem.bak"));
            let bytes = aws_sdk_s3::primitives::ByteStream::from(body.clone());
            a.s3.put_object().bucket(&n.uploads).key(key).body(bytes).send().await.unwrap();
        }
        let uploaded = started.elapsed();
        assert!(uploaded < Duration::from_secs(60), "the uploads took {uploaded:?}");
        let msgs = drain(&a, &n.queue).await;
        let q_arn = format!("arn:aws:sqs:us-east-1:{ACCOUNT}:{}", n.queue);
        let mut names = Vec::new();
        for batch in msgs.chunks(10) {
            let url = format!("{}/2015-03-31/functions/bak2pg-trigger/invocations", n.lambda);
            let (status, resp) = http_post(&url, &sqs_event(&q_arn, batch)).await;
            assert_eq!((status, &resp["batchItemFailures"]), (200, &json!([])), "{resp}");
            for m in batch {
                for d in bak2pg_trigger::decide(m.body().unwrap()).unwrap() {
                    if let bak2pg_trigger::Decision::Start { name, .. } = d {
                        names.push(name);
                    }
                }
            }
        }
        eprintln!("50 uploads in {uploaded:?}, their executions started {:?} later", started.elapsed() - uploaded);
        assert_eq!(names.len(), UPLOADS, "one execution per upload");

        let mut failed = Vec::new();
        for name in &names {
            let status = wait_execution(&n, &a, name, Duration::from_secs(1200)).await;
            if status != ExecutionStatus::Succeeded {
                failed.push((name.clone(), status));
            }
        }
        assert!(failed.is_empty(), "{failed:?}, dead letters: {:?}", dlq_messages(&n, &a).await);

        // Every database is there, validated, with the backup's rows; none was migrated twice.
        let cmds = commands(&n).await;
        let mut per_worker = std::collections::BTreeMap::<String, usize>::new();
        for exec in &names {
            let tenant = exec.split('-').next().unwrap();
            let report: Value =
                serde_json::from_str(&s3_text(&a, &n.artifacts, &format!("reports/{tenant}/{exec}.json")).await)
                    .unwrap();
            assert_eq!(report["status"], "succeeded", "{exec}");
            assert_eq!(report["migration"]["status"], "passed", "{exec}");
            assert_eq!(report["migration"]["totals"]["mismatched"], 0, "{exec}");
            let ours: Vec<&Value> = cmds.iter().filter(|c| c.to_string().contains(exec.as_str())).collect();
            let steps: Vec<&str> = ours.iter().map(|c| c["Parameters"]["Step"][0].as_str().unwrap()).collect();
            assert_eq!(steps, ["fetch", "read", "load", "validate", "swap"], "{exec}: each step once, in order");
            let on: std::collections::BTreeSet<&str> = ours.iter().map(|c| c["InstanceId"].as_str().unwrap()).collect();
            assert_eq!(on.len(), 1, "{exec}: every step on the worker holding its folder: {on:?}");
            let worker = on.into_iter().next().unwrap().to_string();
            assert!(pool.contains(&worker), "{exec} ran on {worker}, outside the online pool");
            *per_worker.entry(worker).or_insert(0) += 1;
        }
        let dbs: i64 = pg("postgres")
            .await
            .query_one("SELECT count(*) FROM pg_database WHERE datname ~ '^pool[0-9]{2}$'", &[])
            .await
            .unwrap()
            .get(0);
        assert_eq!(dbs as usize, UPLOADS, "one database per tenant");
        let rooms: i64 =
            pg("pool37").await.query_one(r#"SELECT count(*) FROM public."Room""#, &[]).await.unwrap().get(0);
        assert_eq!(rooms, 20, "the backup's rows (MANIFEST: Room 20)");
        // The work was spread: each of the three took a fair share (17 each on average).
        assert_eq!(per_worker.len(), 3, "{per_worker:?}");
        assert!(per_worker.values().all(|&k| k >= 8), "{per_worker:?}");
        // Each worker used its own folders and slots.
        for id in &pool {
            assert!(repo().join(".moto/pool").join(id).join(".slots").is_dir(), "{id} took no slot");
        }

        // A resumed execution whose worker is gone starts over, every step, on another.
        let exec = names[0].clone();
        let cmds = commands(&n).await;
        let first_worker = commands_of(&cmds, &exec, "fetch")[0]["InstanceId"].as_str().unwrap().to_string();
        workers[&first_worker]["online"] = json!(false);
        let (status, _) = http_post(&format!("{}/_shim/config", n.shim), &json!({"workers": workers})).await;
        assert_eq!(status, 200);
        let again = resume(&n, &a, &exec, bak2pg::job::StepName::Validate, "moved").await;
        let status = wait_execution(&n, &a, &again, Duration::from_secs(600)).await;
        assert_eq!(status, ExecutionStatus::Succeeded, "{:?}", dlq_messages(&n, &a).await);
        let cmds = commands(&n).await;
        for step in ["fetch", "read", "load", "validate", "swap"] {
            let sent = commands_of(&cmds, &exec, step);
            assert_eq!(sent.len(), 2, "{step}: once for the first execution, once for the moved one");
            let moved_to = sent[1]["InstanceId"].as_str().unwrap();
            assert!(moved_to != first_worker && pool.iter().any(|p| p == moved_to), "{step} sent to {moved_to}");
        }
        drop_databases("pool").await;
    });
}

/// A worker terminated between two steps: SendCommand refuses it, the execution fails, and
/// the report function starts the upload over (through the queue and the trigger, as a new
/// attempt) on the worker still online, instead of dead-lettering it.
#[test]
fn an_execution_whose_worker_is_terminated_starts_over_on_another() {
    scenario(|n, a| async move {
        let pool = ["i-0lost0000000001", "i-0lost0000000002"];
        let workers = pool_workers(&pool);
        let config = json!({"workers": workers, "lose_worker": "lostworker"});
        let (status, _) = http_post(&format!("{}/_shim/config", n.shim), &config).await;
        assert_eq!(status, 200);
        a.ssm.delete_parameter().name(format!("{}worker/instance-id", n.config_path)).send().await.unwrap();
        set_config(&n, &a, "worker/tag", "bak2pg:worker=test").await;
        drop_databases("lostworker").await;

        let names = upload_and_trigger(&n, &a, "lostworker/pubs.bak", "bak/pubs-sql2012.bak").await;
        let exec = names[0].clone();
        let status = wait_execution(&n, &a, &exec, Duration::from_secs(600)).await;
        assert_eq!(status, ExecutionStatus::Failed);
        let cmds = commands(&n).await;
        let lost = commands_of(&cmds, &exec, "fetch")[0]["InstanceId"].as_str().unwrap().to_string();
        assert!(commands_of(&cmds, &exec, "read").is_empty(), "no command reached the terminated worker");
        let report: Value =
            serde_json::from_str(&s3_text(&a, &n.artifacts, &format!("reports/lostworker/{exec}.json")).await).unwrap();
        // AWS: `Ssm.InvalidInstanceIdException`; moto 5.2.5 writes the service in lower case.
        let error = report["error"]["Error"].as_str().unwrap_or_default();
        assert!(error.eq_ignore_ascii_case("Ssm.InvalidInstanceIdException"), "{report}");
        let replayed = report["replayed"].as_str().unwrap_or_else(|| panic!("not replayed: {report}"));
        assert!(replayed.contains("attempt 1"), "{replayed}");
        assert!(dlq_messages(&n, &a).await.is_empty(), "started over, not dead-lettered");

        // The event source mapping delivers the replay to the trigger: attempt 1.
        let msgs = drain(&a, &n.queue).await;
        assert_eq!(msgs.len(), 1, "one replay message");
        let q_arn = format!("arn:aws:sqs:us-east-1:{ACCOUNT}:{}", n.queue);
        let url = format!("{}/2015-03-31/functions/bak2pg-trigger/invocations", n.lambda);
        let (status, resp) = http_post(&url, &sqs_event(&q_arn, &msgs)).await;
        assert_eq!((status, &resp["batchItemFailures"]), (200, &json!([])), "{resp}");
        let again = match bak2pg_trigger::decide(msgs[0].body().unwrap()).unwrap().pop() {
            Some(bak2pg_trigger::Decision::Start { name, input }) => {
                assert_eq!(input.attempt, 1);
                name
            }
            other => panic!("{other:?}"),
        };
        let status = wait_execution(&n, &a, &again, Duration::from_secs(600)).await;
        assert_eq!(status, ExecutionStatus::Succeeded, "{:?}", dlq_messages(&n, &a).await);
        let cmds = commands(&n).await;
        for step in ["fetch", "read", "load", "validate", "swap"] {
            let sent = commands_of(&cmds, &again, step);
            assert_eq!(sent.len(), 1, "{step}");
            assert!(sent[0]["InstanceId"] != lost.as_str(), "{step} went to the terminated worker");
        }
        let authors: i64 =
            pg("lostworker").await.query_one("SELECT count(*) FROM public.authors", &[]).await.unwrap().get(0);
        assert_eq!(authors, 23);
    });
}

#[test]
fn a_tenants_mapping_file_next_to_its_uploads_shapes_its_database() {
    scenario(|n, a| async move {
        drop_databases("e2emap").await;
        let toml = "exclude = [\"dbo.Customer*\", \"dbo.sysdiagrams\"]\n\
                    [rename.tables]\n\"dbo.Order Details\" = \"order_lines\"\n\
                    [types]\n\"dbo.Orders.Freight\" = \"numeric(21,6)\"\n";
        a.s3.put_object()
            .bucket(&n.uploads)
            .key(bak2pg::job::mapping_key("e2emap"))
            .body(toml.as_bytes().to_vec().into())
            .send()
            .await
            .unwrap();
        let names = upload_and_trigger(&n, &a, "e2emap/nw.bak", "bak/northwind-sql2005-tornpage.bak").await;
        assert_eq!(names.len(), 1, "the mapping file's own upload starts nothing");
        let exec = &names[0];
        let status = wait_execution(&n, &a, exec, Duration::from_secs(900)).await;
        let dlq = dlq_messages(&n, &a).await;
        assert_eq!(status, ExecutionStatus::Succeeded, "dead-letter messages: {dlq:?}");

        let job: Value =
            serde_json::from_str(&s3_text(&a, &n.artifacts, &format!("jobs/e2emap/{exec}/job.json")).await).unwrap();
        assert_eq!(job["mapping"]["text"], toml);
        let report: Value =
            serde_json::from_str(&s3_text(&a, &n.artifacts, &format!("reports/e2emap/{exec}.json")).await).unwrap();
        let m = &report["migration"]["mapping"];
        assert_eq!(m["excluded"].as_array().map(Vec::len), Some(4), "{m}");
        assert_eq!(report["migration"]["totals"]["tables"], 10);
        assert_eq!(report["migration"]["totals"]["mismatched"], 0);

        let c = pg("e2emap").await;
        let n_lines: i64 = c.query_one("SELECT count(*) FROM order_lines", &[]).await.unwrap().get(0);
        assert_eq!(n_lines, 2155);
        let freight: String =
            c.query_one(r#"SELECT "Freight"::text FROM "Orders" WHERE "OrderID" = 10248"#, &[]).await.unwrap().get(0);
        assert_eq!(freight, "32.380000");
        let customers: Option<String> =
            c.query_one("SELECT to_regclass('\"Customers\"')::text", &[]).await.unwrap().get(0);
        assert_eq!(customers, None);
        a.s3.delete_object().bucket(&n.uploads).key(bak2pg::job::mapping_key("e2emap")).send().await.unwrap();
    });
}
