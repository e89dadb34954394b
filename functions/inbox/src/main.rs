use inbox::{router, Deps, InboxConfig};
use lambda_http::{run, tracing, Error};
use sauda_shared::aws::{load_sdk_config, AwsClients};
use std::sync::Arc;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    tracing::init_default_subscriber();
    let sdk = load_sdk_config().await;
    let config = InboxConfig::from_env()?;
    let deps = Deps::from_aws(&AwsClients::new(&sdk), &config);
    sauda_shared::signing::init(deps.secrets.as_ref()).await;
    run(router(Arc::new(deps))).await
}
