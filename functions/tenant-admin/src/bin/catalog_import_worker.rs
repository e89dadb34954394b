use lambda_runtime::{run, service_fn, tracing, Error};
use sauda_shared::aws::{load_sdk_config, AwsClients};
use tenant_admin::{worker, AdminConfig, Deps};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    tracing::init_default_subscriber();
    let sdk = load_sdk_config().await;
    let config = AdminConfig::from_env()?;
    let deps = Deps::from_aws(&AwsClients::new(&sdk), &config);
    sauda_shared::signing::init(deps.secrets.as_ref()).await;
    run(service_fn(|event| worker::handle(&deps, event))).await
}
