//! Lambda entry point of `prepare` (see the library documentation). Environment:
//! `CONFIG_PATH`, `ARTIFACTS_BUCKET`, `SSM_DOCUMENT`.

use lambda_runtime::{Error, LambdaEvent, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    bak2pg_aws::init_lambda_logging();
    let env = bak2pg_prepare::Env::from_env()?;
    let cfg = bak2pg_aws::sdk_config().await;
    let (s3, ssm) = (bak2pg_aws::s3_client(&cfg), bak2pg_aws::ssm_client(&cfg));
    lambda_runtime::run(service_fn(|ev: LambdaEvent<bak2pg_prepare::PrepareInput>| {
        let (s3, ssm, env) = (&s3, &ssm, &env);
        async move { bak2pg_prepare::handle(s3, ssm, env, ev.payload).await }
    }))
    .await
}
