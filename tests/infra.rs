//! The operator CLI's tenant configuration, against moto.

use sauda_infra::tenant::{self, OnboardingError};
use sauda_shared::outbound::{UrlError, UrlPolicy};
use sauda_shared::secrets::TenantSecrets;
use sauda_tests::TestEnv;

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
