//! Lambda entry point of `report` (see the library documentation). Environment:
//! `ARTIFACTS_BUCKET`, `DEAD_LETTER_QUEUE_URL`, `UPLOAD_QUEUE_URL` (optional: where a
//! failure whose worker was lost goes to start over).

use lambda_runtime::{Error, LambdaEvent, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    bak2pg_aws::init_lambda_logging();
    let cfg = bak2pg_aws::sdk_config().await;
    let s3 = bak2pg_aws::s3_client(&cfg);
    let sqs = aws_sdk_sqs::Client::new(&cfg);
    let bucket = std::env::var("ARTIFACTS_BUCKET").map_err(|_| "ARTIFACTS_BUCKET is not set")?;
    let queue_url = std::env::var("DEAD_LETTER_QUEUE_URL").map_err(|_| "DEAD_LETTER_QUEUE_URL is not set")?;
    let replay = std::env::var("UPLOAD_QUEUE_URL").ok().filter(|u| !u.is_empty());
    let dlq = bak2pg_report::DeadLetters { sqs: &sqs, queue_url: &queue_url, replay_queue_url: replay.as_deref() };
    lambda_runtime::run(service_fn(|ev: LambdaEvent<bak2pg_report::Event>| {
        let (s3, bucket, dlq) = (&s3, &bucket, &dlq);
        async move { bak2pg_report::handle_event(s3, bucket, dlq, ev.payload).await }
    }))
    .await
}
