use lambda_http::{run, tracing, Error};
use loyalty::{router, Deps, LoyaltyConfig};
use sauda_shared::aws::{load_sdk_config, AwsClients, SecretsManagerSource};
use std::sync::Arc;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    tracing::init_default_subscriber();
    let sdk = load_sdk_config().await;
    let config = LoyaltyConfig::from_env()?;
    let clients = AwsClients::new(&sdk);
    // History cursors and log digests are keyed with the deployment's signing key.
    let secrets = SecretsManagerSource::new(clients.secrets.clone(), &config.core.stage);
    sauda_shared::signing::init(&secrets).await;
    let deps = Deps::from_aws(&clients, &config);
    run(router(Arc::new(deps))).await
}
