use lambda_http::{run, tracing, Error};
use reports::link::{router, Deps, LinkConfig};
use sauda_shared::aws::{load_sdk_config, AwsClients};
use std::sync::Arc;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    tracing::init_default_subscriber();
    let sdk = load_sdk_config().await;
    let config = LinkConfig::from_env()?;
    let deps = Deps::from_aws(&AwsClients::new(&sdk), &config);
    run(router(Arc::new(deps))).await
}
