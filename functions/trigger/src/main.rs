//! Lambda entry point of `trigger` (see the library documentation). Environment:
//! `STATE_MACHINE_ARN`.

use lambda_runtime::{Error, LambdaEvent, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    bak2pg_aws::init_lambda_logging();
    let arn = std::env::var("STATE_MACHINE_ARN").map_err(|_| "STATE_MACHINE_ARN is not set")?;
    let cfg = bak2pg_aws::sdk_config().await;
    let sfn = aws_sdk_sfn::Client::new(&cfg);
    lambda_runtime::run(service_fn(|ev: LambdaEvent<aws_lambda_events::sqs::SqsEvent>| {
        let (sfn, arn) = (&sfn, arn.as_str());
        async move { Ok::<_, Error>(bak2pg_trigger::handle(sfn, arn, ev.payload).await) }
    }))
    .await
}
