//! Lambda entry point of `collect` (see the library documentation).

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
    lambda_runtime::run(service_fn(|ev: LambdaEvent<bak2pg_collect::CollectInput>| {
        let s3 = &s3;
        async move { bak2pg_collect::handle(s3, ev.payload).await.map_err(Failure) }
    }))
    .await
}
