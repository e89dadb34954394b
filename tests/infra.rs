//! The operator CLI's tenant configuration and log lookup, against moto.

use hmac::{Hmac, Mac};
use sauda_infra::tenant::{self, OnboardingError};
use sauda_shared::outbound::{UrlError, UrlPolicy};
use sauda_shared::secrets::TenantSecrets;
use sauda_tests::TestEnv;
use sha2::{Digest, Sha256};

const PRODUCTION: UrlPolicy = UrlPolicy {
    allow_loopback: false,
};
const LOCAL: UrlPolicy = UrlPolicy {
    allow_loopback: true,
};

#[tokio::test]
async fn tenant_configure_stores_only_urls_the_outbound_policy_allows() {
    let env = TestEnv::new().await;
    let t = env.tenant_with(|_| {}, TenantSecrets::default()).await;
    let table = &env.stack.table;
    let stored = || tenant::read_config(&env.clients.dynamo, table, &t);

    for (patch, policy, field, error) in [
        (
            serde_json::json!({"agent": {"llm_base_url": "http://127.0.0.1:9100/llm"}}),
            PRODUCTION,
            "agent.llm_base_url",
            UrlError::NotHttps,
        ),
        (
            serde_json::json!({"leads": {"crm_webhook_url": "https://10.1.2.3/hook"}}),
            LOCAL,
            "leads.crm_webhook_url",
            UrlError::ForbiddenAddress,
        ),
        (
            serde_json::json!({"leads": {"crm_webhook_url": "https://169.254.169.254/latest/meta-data"}}),
            LOCAL,
            "leads.crm_webhook_url",
            UrlError::ForbiddenAddress,
        ),
    ] {
        env.counter.reset();
        let refused = tenant::configure(&env.clients.dynamo, table, &t, &patch, policy)
            .await
            .unwrap_err();
        let OnboardingError::Url { field: f, error: e } = &refused else {
            panic!("{patch}: {refused}");
        };
        assert_eq!((f.as_str(), e), (field, &error), "{patch}");
        // Read the config, refused before any write.
        let calls = env.counter.snapshot();
        assert_eq!(calls.get("DynamoDB.GetItem"), Some(&1), "{calls:?}");
        assert_eq!(env.counter.total(), 1, "{calls:?}");
    }
    let config = stored().await.unwrap();
    assert_eq!(config.agent.llm_base_url, None);
    assert_eq!(config.leads.crm_webhook_url, None);

    // The local stage opens loopback (its fakes); production takes public https only.
    let local = serde_json::json!({
        "agent": {"llm_base_url": "http://127.0.0.1:9100/llm"},
        "leads": {"crm_webhook_url": "http://localhost:9100/crm"}
    });
    env.counter.reset();
    tenant::configure(&env.clients.dynamo, table, &t, &local, LOCAL)
        .await
        .unwrap();
    let calls = env.counter.snapshot();
    assert_eq!(calls.get("DynamoDB.GetItem"), Some(&1), "{calls:?}");
    assert_eq!(
        calls.get("DynamoDB.TransactWriteItems"),
        Some(&1),
        "{calls:?}"
    );
    assert_eq!(env.counter.total(), 2, "{calls:?}");
    let config = stored().await.unwrap();
    assert_eq!(
        config.agent.llm_base_url.as_deref(),
        Some("http://127.0.0.1:9100/llm")
    );
    assert_eq!(
        config.leads.crm_webhook_url.as_deref(),
        Some("http://localhost:9100/crm")
    );

    let public = serde_json::json!({
        "agent": {"llm_base_url": "https://llm.example.com/v1"},
        "leads": {"crm_webhook_url": "https://crm.example.kz/hook"}
    });
    tenant::configure(&env.clients.dynamo, table, &t, &public, PRODUCTION)
        .await
        .unwrap();
    let config = stored().await.unwrap();
    assert_eq!(
        config.leads.crm_webhook_url.as_deref(),
        Some("https://crm.example.kz/hook")
    );
}

/// `c_` and the first 8 bytes of HMAC-SHA256(SHA-256(signing key), "log-contact", 0,
/// then each part with its length): computed here from the stored key, independently
/// of the process-wide key that `sauda_shared::signing` holds.
fn expected_digest(signing_key: &str, tenant: &str, contact: &str) -> String {
    let key = Sha256::digest(signing_key.as_bytes());
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&key).unwrap();
    mac.update(b"log-contact\0");
    for part in [tenant.as_bytes(), contact.as_bytes()] {
        mac.update(&(part.len() as u64).to_be_bytes());
        mac.update(part);
    }
    format!("c_{}", hex::encode(&mac.finalize().into_bytes()[..8]))
}

#[tokio::test]
async fn log_id_is_the_digest_the_functions_log_under_the_deployment_key() {
    let env = TestEnv::new().await;
    let t = env.tenant_with(|_| {}, TenantSecrets::default()).await;
    let platform = env
        .clients
        .secrets
        .get_secret_value()
        .secret_id(format!("sauda/{}/platform", env.stage()))
        .send()
        .await
        .unwrap();
    let document: serde_json::Value =
        serde_json::from_str(platform.secret_string().unwrap()).unwrap();
    let signing_key = document["signing_key"].as_str().unwrap().to_owned();

    env.counter.reset();
    let shown = tenant::log_id(&env.clients.secrets, env.stage(), &t, "wa-77011234567")
        .await
        .unwrap();
    assert_eq!(
        shown,
        expected_digest(&signing_key, t.as_str(), "wa-77011234567")
    );
    assert_eq!(
        shown,
        sauda_shared::redact::Contact(&t, "wa-77011234567").to_string()
    );
    let calls = env.counter.snapshot();
    assert_eq!(
        calls.get("Secrets Manager.GetSecretValue"),
        Some(&1),
        "{calls:?}"
    );
    assert_eq!(env.counter.total(), 1, "{calls:?}");

    // Without the deployment's key there is no digest to give.
    let mut removal = serde_json::Map::new();
    removal.insert("signing_key".into(), serde_json::Value::Null);
    tenant::merge_platform_secrets_json(&env.clients.secrets, env.stage(), removal)
        .await
        .unwrap();
    let refused = tenant::log_id(&env.clients.secrets, env.stage(), &t, "tg-42")
        .await
        .unwrap_err();
    assert!(refused.to_string().contains("no signing_key"), "{refused}");
}
