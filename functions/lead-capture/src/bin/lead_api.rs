use lambda_http::{run, tracing, Error};
use lead_capture::{api, Deps, LeadsConfig};
use sauda_shared::aws::{load_sdk_config, AwsClients};
use std::sync::Arc;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    tracing::init_default_subscriber();
    let sdk = load_sdk_config().await;
    let config = LeadsConfig::from_env()?;
    let deps = Deps::from_aws(&AwsClients::new(&sdk), &config);
    // Page cursors and log digests are keyed with the deployment's signing key.
    sauda_shared::signing::init(deps.secrets.as_ref()).await;
    run(api::router(Arc::new(deps))).await
}
