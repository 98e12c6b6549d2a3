//! Lambda entry point of `report` (see the library documentation). Environment:
//! `ARTIFACTS_BUCKET`.

use lambda_runtime::{Error, LambdaEvent, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    bak2pg_aws::init_lambda_logging();
    let cfg = bak2pg_aws::sdk_config().await;
    let s3 = bak2pg_aws::s3_client(&cfg);
    let bucket = std::env::var("ARTIFACTS_BUCKET").map_err(|_| "ARTIFACTS_BUCKET is not set")?;
    lambda_runtime::run(service_fn(|ev: LambdaEvent<bak2pg_report::ReportInput>| {
        let (s3, bucket) = (&s3, &bucket);
        async move { bak2pg_report::handle(s3, bucket, ev.payload).await }
    }))
    .await
}
