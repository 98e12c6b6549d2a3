//! Lambda entry point of `prepare` (see the library documentation). Environment:
//! `CONFIG_PATH`, `ARTIFACTS_BUCKET`, `SSM_DOCUMENT`.

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
    let env = bak2pg_prepare::Env::from_env()?;
    let cfg = bak2pg_aws::sdk_config().await;
    let (s3, ssm) = (bak2pg_aws::s3_client(&cfg), bak2pg_aws::ssm_client(&cfg));
    lambda_runtime::run(service_fn(|ev: LambdaEvent<bak2pg_prepare::PrepareInput>| {
        let (s3, ssm, env) = (&s3, &ssm, &env);
        async move { bak2pg_prepare::handle(s3, ssm, env, ev.payload).await.map_err(Failure) }
    }))
    .await
}
