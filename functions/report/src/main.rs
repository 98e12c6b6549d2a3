//! Lambda entry point of `report` (see the library documentation). Environment:
//! `ARTIFACTS_BUCKET`.

use lambda_runtime::{Diagnostic, Error, LambdaEvent, service_fn};

struct Failure(bak2pg_aws::FunctionError);

impl From<Failure> for Diagnostic {
    fn from(f: Failure) -> Self {
        Diagnostic { error_type: f.0.error_type().into(), error_message: f.0.error_message() }
    }
}

impl std::fmt::Debug for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0.error_message())
    }
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    tracing_subscriber::fmt().json().with_env_filter(tracing_subscriber::EnvFilter::from_default_env()).init();
    let cfg = bak2pg_aws::sdk_config().await;
    let s3 = bak2pg_aws::s3_client(&cfg);
    let bucket = std::env::var("ARTIFACTS_BUCKET").map_err(|_| "ARTIFACTS_BUCKET is not set")?;
    lambda_runtime::run(service_fn(|ev: LambdaEvent<bak2pg_report::ReportInput>| {
        let (s3, bucket) = (&s3, &bucket);
        async move { bak2pg_report::handle(s3, bucket, ev.payload).await.map_err(Failure) }
    }))
    .await
}
