//! Lambda entry point of `collect` (see the library documentation).

use lambda_runtime::{Error, LambdaEvent, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    bak2pg_aws::init_lambda_logging();
    let cfg = bak2pg_aws::sdk_config().await;
    let s3 = bak2pg_aws::s3_client(&cfg);
    lambda_runtime::run(service_fn(|ev: LambdaEvent<bak2pg_collect::CollectInput>| {
        let s3 = &s3;
        async move { bak2pg_collect::handle(s3, ev.payload).await }
    }))
    .await
}
