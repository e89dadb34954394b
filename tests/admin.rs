//! The tenant admin API against moto: every route with its exact AWS calls, patches
//! refused whole with per-field errors, the channel limit at its boundary, keys issued
//! and revoked, the history of every change with its actor, `sauda tenant plan`, and
//! every cross-tenant and non-admin attempt refused.

use axum::body::Body;
use http::{Request, StatusCode};
use http_body_util::BodyExt;
use sauda_shared::apikey::{ApiKeyStore, Role};
use sauda_shared::limits::PlanId;
use sauda_shared::outbound::UrlPolicy;
use sauda_shared::TenantId;
use sauda_tests::TestEnv;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::Arc;
use tower::ServiceExt;

struct Fx {
    env: TestEnv,
    tenant: TenantId,
    admin: String,
    deps: Arc<tenant_admin::Deps>,
}

async fn issue(env: &TestEnv, tenant: &TenantId, role: Role) -> String {
    ApiKeyStore::new(env.clients.dynamo.clone(), &env.stack.table)
        .issue(tenant, role, "test")
        .await
        .unwrap()
        .presented
        .expose()
        .to_owned()
}

fn deps(env: &TestEnv) -> Arc<tenant_admin::Deps> {
    Arc::new(tenant_admin::Deps::from_aws(
        &env.clients,
        &tenant_admin::AdminConfig {
            core: env.core_config(),
            url_policy: UrlPolicy::default(),
            bucket: env.stack.bucket.clone().unwrap(),
            catalog_jobs_queue_url: env.queue_url("CatalogJobsQueue"),
            notify_queue_url: env.queue_url("NotifyQueue"),
        },
    ))
}

impl Fx {
    async fn new(configure: impl FnOnce(&mut sauda_shared::tenant::TenantConfig)) -> Self {
        let env = TestEnv::new().await;
        let tenant = env.tenant_with(configure, Default::default()).await;
        let admin = issue(&env, &tenant, Role::TenantAdmin).await;
        let deps = deps(&env);
        Self {
            env,
            tenant,
            admin,
            deps,
        }
    }

    async fn call(
        &self,
        key: &str,
        tenant: &TenantId,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let request = Request::builder()
            .method(method)
            .uri(format!("/t/{tenant}/admin{path}"))
            .header("authorization", format!("Bearer {key}"))
            .header("content-type", "application/json")
            .body(Body::from(body.map(|b| b.to_string()).unwrap_or_default()))
            .unwrap();
        let response = tenant_admin::router(self.deps.clone())
            .oneshot(request)
            .await
            .unwrap();
        let status = response.status();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }

    async fn api(&self, method: &str, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        self.call(&self.admin, &self.tenant, method, path, body)
            .await
    }

    fn calls(&self) -> BTreeMap<String, usize> {
        let c = self.env.counter.snapshot();
        self.env.counter.reset();
        c
    }
}

fn code(body: &Value) -> &str {
    body["error"]["code"].as_str().unwrap_or("")
}

fn want(pairs: &[(&str, usize)]) -> BTreeMap<String, usize> {
    pairs.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect()
}

const RATE: (&str, usize) = ("DynamoDB.UpdateItem", 1);

#[tokio::test]
async fn every_route_works_for_the_tenant_admin_with_exact_calls_and_a_history() {
    let fx = Fx::new(|_| {}).await;
    // Warm the tenant and key caches.
    let (status, settings) = fx.api("GET", "/settings", None).await;
    assert_eq!(status, StatusCode::OK, "{settings}");
    assert_eq!(settings["tenant"], fx.tenant.as_str());
    fx.env.counter.reset();

    let (status, _) = fx.api("GET", "/settings", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(fx.calls(), want(&[RATE, ("DynamoDB.GetItem", 1)]));

    let (status, patched) = fx
        .api(
            "PATCH",
            "/settings",
            Some(json!({"timezone": "Asia/Almaty", "agent": {"persona": "Айгерим"}})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{patched}");
    assert_eq!(
        (
            patched["timezone"].as_str(),
            patched["agent"]["persona"].as_str()
        ),
        (Some("Asia/Almaty"), Some("Айгерим"))
    );
    assert_eq!(
        fx.calls(),
        want(&[
            RATE,
            ("DynamoDB.GetItem", 1),
            ("DynamoDB.TransactWriteItems", 1)
        ])
    );
    let stored =
        sauda_infra::tenant::read_config(&fx.env.clients.dynamo, &fx.env.stack.table, &fx.tenant)
            .await
            .unwrap();
    assert_eq!(stored.timezone, "Asia/Almaty");
    fx.env.counter.reset();

    let (status, managers) = fx
        .api(
            "POST",
            "/managers",
            Some(json!({"chat_id": 77, "name": "Dana"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{managers}");
    assert_eq!(
        managers["managers"],
        json!([{"chat_id": 77, "name": "Dana"}])
    );
    assert_eq!(
        fx.calls(),
        want(&[
            RATE,
            ("DynamoDB.GetItem", 1),
            ("DynamoDB.TransactWriteItems", 1)
        ])
    );
    let (status, again) = fx
        .api("POST", "/managers", Some(json!({"chat_id": 77})))
        .await;
    assert_eq!(
        (status, code(&again)),
        (StatusCode::CONFLICT, "manager_exists")
    );
    let (status, listed) = fx.api("GET", "/managers", None).await;
    assert_eq!(
        (status, listed["managers"][0]["chat_id"].as_i64()),
        (StatusCode::OK, Some(77))
    );
    let (status, gone) = fx.api("DELETE", "/managers/77", None).await;
    assert_eq!(
        (status, gone["managers"].clone()),
        (StatusCode::OK, json!([]))
    );
    let (status, missing) = fx.api("DELETE", "/managers/77", None).await;
    assert_eq!(
        (status, code(&missing)),
        (StatusCode::NOT_FOUND, "manager_not_found")
    );

    let template = json!({"name": "order_ready", "language": "ru", "category": "utility", "params": [{"name": "order", "example": "A-1"}]});
    let (status, templates) = fx.api("PUT", "/templates", Some(template.clone())).await;
    assert_eq!(status, StatusCode::OK, "{templates}");
    assert_eq!(templates["templates"][0]["name"], "order_ready");
    let (status, bad) = fx
        .api(
            "PUT",
            "/templates",
            Some(json!({"name": "Order Ready", "language": "", "category": "spam"})),
        )
        .await;
    assert_eq!(
        (status, code(&bad)),
        (StatusCode::UNPROCESSABLE_ENTITY, "validation_failed")
    );
    let mut fields: Vec<&str> = bad["error"]["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["field"].as_str().unwrap())
        .collect();
    fields.sort();
    assert_eq!(fields, ["category", "language", "name"]);
    let (status, listed) = fx.api("GET", "/templates", None).await;
    assert_eq!(
        (status, listed["templates"].as_array().unwrap().len()),
        (StatusCode::OK, 1)
    );
    let (status, removed) = fx.api("DELETE", "/templates/order_ready/ru", None).await;
    assert_eq!(
        (status, removed["templates"].clone()),
        (StatusCode::OK, json!([]))
    );
    fx.env.counter.reset();

    // Keys: a manager key and a partner key, shown once; the manager key works on the
    // manager routes of other functions, and stops once revoked.
    let (status, manager) = fx
        .api(
            "POST",
            "/keys",
            Some(json!({"role": "manager", "label": "Dana"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{manager}");
    assert!(manager["key"].as_str().unwrap().starts_with("sk_"));
    assert_eq!(fx.calls(), want(&[RATE, ("DynamoDB.PutItem", 2)]));
    let (status, partner) = fx
        .api(
            "POST",
            "/keys",
            Some(json!({"role": "partner", "partner_id": "shop-1"})),
        )
        .await;
    assert_eq!(
        (status, partner["partner_id"].as_str()),
        (StatusCode::CREATED, Some("shop-1"))
    );
    for (body, field) in [
        (json!({"role": "tenant_admin"}), "role"),
        (json!({"role": "admin"}), "role"),
        (json!({"role": "partner"}), "partner_id"),
        (
            json!({"role": "manager", "partner_id": "shop-1"}),
            "partner_id",
        ),
    ] {
        let (status, refused) = fx.api("POST", "/keys", Some(body.clone())).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert_eq!(refused["error"]["fields"][0]["field"], field, "{body}");
    }
    fx.env.counter.reset();
    let (status, keys) = fx.api("GET", "/keys", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(fx.calls(), want(&[RATE, ("DynamoDB.Query", 1)]));
    let keys = keys["keys"].as_array().unwrap().clone();
    assert_eq!(
        keys.len(),
        3,
        "the admin's own, the manager's, the partner's"
    );
    assert!(keys
        .iter()
        .all(|k| k.get("hash").is_none() && k.get("key").is_none()));
    let manager_id = manager["key_id"].as_str().unwrap();
    let (status, revoked) = fx.api("DELETE", &format!("/keys/{manager_id}"), None).await;
    assert_eq!(
        (status, revoked["status"].as_str()),
        (StatusCode::OK, Some("revoked"))
    );
    // The rate limit's update, the key's revocation, the history item.
    assert_eq!(
        fx.calls(),
        want(&[
            ("DynamoDB.UpdateItem", 2),
            ("DynamoDB.Query", 1),
            ("DynamoDB.PutItem", 1)
        ])
    );
    let own = keys.iter().find(|k| k["role"] == "tenant_admin").unwrap()["key_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, refused) = fx.api("DELETE", &format!("/keys/{own}"), None).await;
    assert_eq!(
        (status, code(&refused)),
        (StatusCode::FORBIDDEN, "key_not_revocable")
    );
    let (status, refused) = fx.api("DELETE", "/keys/01unknown", None).await;
    assert_eq!(
        (status, code(&refused)),
        (StatusCode::NOT_FOUND, "key_not_found")
    );
    let revoked_key = manager["key"].as_str().unwrap();
    let fresh = ApiKeyStore::new(fx.env.clients.dynamo.clone(), &fx.env.stack.table);
    assert!(
        fresh
            .authenticate(&fx.tenant, Some(revoked_key))
            .await
            .is_err(),
        "revoked"
    );
    fx.env.counter.reset();

    let (status, usage) = fx.api("GET", "/usage", None).await;
    assert_eq!(status, StatusCode::OK, "{usage}");
    assert_eq!(
        fx.calls(),
        want(&[RATE, ("DynamoDB.GetItem", 1), ("DynamoDB.Query", 1)])
    );
    assert_eq!(usage["plan"], "start");
    assert_eq!(
        usage["usage"]["orders_per_month"],
        json!({"used": 0, "limit": 10000, "over": false})
    );
    assert_eq!(usage["usage"]["channels"]["limit"], 5);

    // The history: every change, newest first, with its actor, paged.
    let (status, page) = fx.api("GET", "/history?limit=3", None).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(fx.calls(), want(&[RATE, ("DynamoDB.Query", 1)]));
    let actions: Vec<&str> = page["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["key.revoke", "key.issue", "key.issue"]);
    let actor = page["changes"][0]["actor"].as_str().unwrap();
    assert_eq!(actor, format!("tenant_admin:{own}"));
    let cursor = page["next_cursor"].as_str().unwrap().to_owned();
    let (_, rest) = fx
        .api("GET", &format!("/history?limit=100&cursor={cursor}"), None)
        .await;
    let actions: Vec<&str> = rest["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        [
            "template.remove",
            "template.put",
            "manager.remove",
            "manager.add",
            "settings.patch"
        ]
    );
    assert_eq!(rest["next_cursor"], Value::Null);
    let (status, forged) = fx.api("GET", "/history?cursor=abc", None).await;
    assert_eq!(
        (status, code(&forged)),
        (StatusCode::BAD_REQUEST, "invalid_cursor")
    );
}

#[tokio::test]
async fn a_patch_that_would_break_the_config_is_refused_whole_with_per_field_errors() {
    let fx = Fx::new(|_| {}).await;
    let before =
        sauda_infra::tenant::read_config(&fx.env.clients.dynamo, &fx.env.stack.table, &fx.tenant)
            .await
            .unwrap();
    let (status, refused) = fx
        .api(
            "PATCH",
            "/settings",
            Some(json!({
                "name": "Renamed",
                "timezone": "Mars/Olympus",
                "default_language": "fr",
                "agent": {"llm_base_url": "https://169.254.169.254/latest"},
                "leads": {"crm_webhook_url": "http://crm.example.kz/hook"}
            })),
        )
        .await;
    assert_eq!(
        (status, code(&refused)),
        (StatusCode::UNPROCESSABLE_ENTITY, "validation_failed")
    );
    let mut fields: Vec<(String, String)> = refused["error"]["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["field"].as_str().unwrap().to_owned(),
                f["code"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    fields.sort();
    assert_eq!(
        fields,
        [
            (
                "agent.llm_base_url".to_owned(),
                "url_forbidden_address".to_owned()
            ),
            (
                "default_language".to_owned(),
                "unsupported_language".to_owned()
            ),
            (
                "leads.crm_webhook_url".to_owned(),
                "url_not_https".to_owned()
            ),
            ("timezone".to_owned(), "unknown_time_zone".to_owned()),
        ]
    );
    for (patch, field, code_) in [
        (
            json!({"plan": {"id": "business"}}),
            "plan",
            "field_read_only",
        ),
        (json!({"status": "suspended"}), "status", "field_read_only"),
        (
            json!({"catalog": {"active_version": "v9"}}),
            "catalog",
            "field_read_only",
        ),
        (json!({"tenant": "other"}), "tenant", "field_read_only"),
        (
            json!({"agent": {"temperature": "hot"}}),
            "agent",
            "invalid_value",
        ),
    ] {
        let (status, refused) = fx.api("PATCH", "/settings", Some(patch.clone())).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{patch}");
        assert_eq!(
            (
                refused["error"]["fields"][0]["field"].as_str(),
                refused["error"]["fields"][0]["code"].as_str()
            ),
            (Some(field), Some(code_)),
            "{patch}"
        );
    }
    let after =
        sauda_infra::tenant::read_config(&fx.env.clients.dynamo, &fx.env.stack.table, &fx.tenant)
            .await
            .unwrap();
    assert_eq!(after, before, "nothing of a refused patch is stored");
    let (_, history) = fx.api("GET", "/history", None).await;
    assert_eq!(history["changes"], json!([]), "nothing recorded");
}

#[tokio::test]
async fn the_channel_limit_admits_exactly_the_limit_and_refuses_one_over() {
    let fx = Fx::new(|c| c.plan.id = PlanId::Free).await;
    let (status, body) = fx
        .api(
            "PATCH",
            "/settings",
            Some(json!({"whatsapp_phone_number_id": "1001"})),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::OK,
        "one channel on free: at the limit, {body}"
    );
    let (status, refused) = fx
        .api(
            "PATCH",
            "/settings",
            Some(json!({"telegram_bot_username": "shop_bot"})),
        )
        .await;
    assert_eq!(status, StatusCode::PAYMENT_REQUIRED, "{refused}");
    assert_eq!(code(&refused), "plan_limit_exceeded");
    assert_eq!(
        (
            refused["error"]["limit"].as_u64(),
            refused["error"]["usage"].as_u64()
        ),
        (Some(1), Some(2))
    );
    assert_eq!(refused["error"]["limit_name"], "channels");
    let stored =
        sauda_infra::tenant::read_config(&fx.env.clients.dynamo, &fx.env.stack.table, &fx.tenant)
            .await
            .unwrap();
    assert_eq!(stored.telegram_bot_username, None, "nothing half-done");
    // The operator raises the tenant's limit with `sauda tenant plan`: now it fits.
    let args = sauda_infra::plan_cli::PlanArgs {
        tenant: fx.tenant.to_string(),
        plan: None,
        channels: Some(2),
        catalog_items: None,
        orders_per_month: None,
        conversations_per_month: None,
        ai_budget_micros: None,
        api_rate_per_key: None,
        clear_overrides: false,
    };
    sauda_infra::plan_cli::plan_command(&fx.env.clients, &fx.env.stack.table, args)
        .await
        .unwrap();
    // A new instance: its tenant directory reads the config again.
    let mut admin = fx;
    admin.deps = deps(&admin.env);
    let (status, body) = admin
        .api(
            "PATCH",
            "/settings",
            Some(json!({"telegram_bot_username": "shop_bot"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["plan"]["id"], "free");
    let (_, usage) = admin.api("GET", "/usage", None).await;
    assert_eq!(
        usage["usage"]["channels"],
        json!({"used": 2, "limit": 2, "over": false})
    );
}

#[tokio::test]
async fn another_tenants_key_and_other_roles_do_nothing() {
    let fx = Fx::new(|_| {}).await;
    let other = fx.env.tenant_with(|_| {}, Default::default()).await;
    let other_admin = issue(&fx.env, &other, Role::TenantAdmin).await;
    let manager = issue(&fx.env, &fx.tenant, Role::Manager).await;
    let loyalty_admin = issue(&fx.env, &fx.tenant, Role::Admin).await;
    let other_manager_key = ApiKeyStore::new(fx.env.clients.dynamo.clone(), &fx.env.stack.table)
        .issue(&other, Role::Manager, "victim")
        .await
        .unwrap();
    let routes: [(&str, &str, Option<Value>); 20] = [
        ("GET", "/settings", None),
        ("PATCH", "/settings", Some(json!({"name": "Hijacked"}))),
        ("GET", "/managers", None),
        ("POST", "/managers", Some(json!({"chat_id": 1}))),
        ("DELETE", "/managers/1", None),
        ("GET", "/templates", None),
        (
            "PUT",
            "/templates",
            Some(json!({"name": "x", "language": "ru", "category": "utility"})),
        ),
        ("DELETE", "/templates/x/ru", None),
        ("GET", "/keys", None),
        ("POST", "/keys", Some(json!({"role": "manager"}))),
        ("DELETE", "/keys/k", None),
        ("GET", "/usage", None),
        ("GET", "/history", None),
        (
            "POST",
            "/catalog/uploads",
            Some(json!({"content_type": "text/csv", "size_bytes": 10})),
        ),
        (
            "POST",
            "/catalog/imports",
            Some(json!({"upload_id": "up-01jx0000000000000000000000-csv"})),
        ),
        ("GET", "/catalog/imports/imp-x", None),
        ("POST", "/catalog/versions/v1/activate", None),
        ("POST", "/catalog/rollback", None),
        ("GET", "/partners", None),
        ("POST", "/partners/cafe/approve", None),
    ];
    for (method, path, body) in routes {
        // Tenant B's admin key on tenant A's routes: not a key of A.
        let (status, refused) = fx
            .call(&other_admin, &fx.tenant, method, path, body.clone())
            .await;
        assert_eq!(
            (status, code(&refused)),
            (StatusCode::UNAUTHORIZED, "invalid_api_key"),
            "{method} {path}"
        );
        for key in [&manager, &loyalty_admin] {
            let (status, refused) = fx.call(key, &fx.tenant, method, path, body.clone()).await;
            assert_eq!(
                (status, code(&refused)),
                (StatusCode::FORBIDDEN, "role_not_allowed"),
                "{method} {path}"
            );
        }
        let (status, _) = fx
            .call(&fx.admin, &fx.tenant, "GET", "/settings", None)
            .await;
        assert_eq!(status, StatusCode::OK);
    }
    // A's admin naming B's key on A's routes: B's key is not found in A.
    let (status, refused) = fx
        .api(
            "DELETE",
            &format!("/keys/{}", other_manager_key.record.key_id),
            None,
        )
        .await;
    assert_eq!(
        (status, code(&refused)),
        (StatusCode::NOT_FOUND, "key_not_found")
    );
    let b = sauda_infra::tenant::read_config(&fx.env.clients.dynamo, &fx.env.stack.table, &other)
        .await
        .unwrap();
    assert_eq!(b.name, "Test shop", "B untouched");
    let keys = ApiKeyStore::new(fx.env.clients.dynamo.clone(), &fx.env.stack.table);
    assert!(keys
        .authenticate(&other, Some(other_manager_key.presented.expose()))
        .await
        .is_ok());
    let (_, history) = fx.call(&other_admin, &other, "GET", "/history", None).await;
    assert_eq!(history["changes"], json!([]), "nothing happened to B");
}

/// The catalog item limit is hard: an import of exactly the limit is activated, one over
/// is refused before anything is uploaded, and the active catalog stays.
#[tokio::test]
async fn a_catalog_import_over_the_item_limit_is_refused_and_the_active_one_stays() {
    use agent_reply::catalog::{generate, CatalogItem};
    use sauda_infra::catalog_cli::{self, CatalogCliError};
    let env = TestEnv::new().await;
    let tenant = env
        .tenant_with(
            |c| {
                c.plan.id = PlanId::Free;
                c.plan.overrides.catalog_items = Some(3);
            },
            Default::default(),
        )
        .await;
    let dir = std::env::temp_dir().join(sauda_tests::unique("catalog"));
    std::fs::create_dir_all(&dir).unwrap();
    let import = |n: usize| {
        let path = dir.join(format!("catalog-{n}.csv"));
        let items: Vec<CatalogItem> = (0..n)
            .map(|i| CatalogItem {
                price_minor: Some(100_000),
                currency: Some("KZT".into()),
                availability: agent_reply::catalog::Availability::InStock,
                ..CatalogItem::new(format!("SKU-{i}"), format!("Item {i}"))
            })
            .collect();
        generate::write_csv(&items, std::fs::File::create(&path).unwrap()).unwrap();
        let env = &env;
        let tenant = &tenant;
        async move {
            catalog_cli::import_catalog(
                &env.clients,
                &env.stack.table,
                env.stack.bucket.as_deref().unwrap(),
                tenant,
                &path,
                None,
                true,
                &catalog_cli::Quiet,
            )
            .await
        }
    };
    let at_limit = import(3).await.expect("exactly the limit is accepted");
    assert!(at_limit.activated);
    let bucket = env.stack.bucket.clone().unwrap();
    let versions_before = agent_reply::catalog::CatalogStore::new(env.clients.s3.clone(), &bucket)
        .list(&tenant)
        .await
        .unwrap()
        .len();
    let refused = import(4).await.unwrap_err();
    let CatalogCliError::PlanLimit(e) = refused else {
        panic!("{refused}");
    };
    assert_eq!((e.limit, e.usage), (3, 4));
    let config = sauda_infra::tenant::read_config(&env.clients.dynamo, &env.stack.table, &tenant)
        .await
        .unwrap();
    assert_eq!(
        config.catalog.active_version.as_deref(),
        Some(at_limit.manifest.version.as_str())
    );
    let versions_after = agent_reply::catalog::CatalogStore::new(env.clients.s3.clone(), &bucket)
        .list(&tenant)
        .await
        .unwrap()
        .len();
    assert_eq!(versions_after, versions_before, "nothing uploaded");
}

/// A price list as CSV: `n` priced, in-stock items.
fn price_list(n: usize, prefix: &str) -> Vec<u8> {
    use agent_reply::catalog::{generate, Availability, CatalogItem};
    let items: Vec<CatalogItem> = (0..n)
        .map(|i| CatalogItem {
            price_minor: Some(100_000),
            currency: Some("KZT".into()),
            availability: Availability::InStock,
            ..CatalogItem::new(format!("{prefix}-{i}"), format!("Item {i}"))
        })
        .collect();
    let mut out = Vec::new();
    generate::write_csv(&items, &mut out).unwrap();
    out
}

impl Fx {
    /// Asks for an upload URL and PUTs `body` to it over real HTTP; the upload id.
    async fn upload(&self, body: Vec<u8>) -> String {
        let (status, upload) = self
            .api(
                "POST",
                "/catalog/uploads",
                Some(json!({"content_type": "text/csv", "size_bytes": body.len()})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{upload}");
        let url = upload["url"].as_str().unwrap();
        assert!(
            url.contains(&format!("uploads/{}/", self.tenant)),
            "tenant-prefixed key: {url}"
        );
        let put = reqwest::Client::new()
            .put(url)
            .header("content-type", "text/csv")
            .body(body)
            .send()
            .await
            .unwrap();
        assert!(put.status().is_success(), "{}", put.status());
        upload["upload_id"].as_str().unwrap().to_owned()
    }

    /// Queues an import of `upload_id`, runs the worker on the queue, and returns the
    /// job as polled afterwards.
    async fn import(&self, upload_id: &str) -> Value {
        let (status, job) = self
            .api(
                "POST",
                "/catalog/imports",
                Some(json!({"upload_id": upload_id})),
            )
            .await;
        assert_eq!(status, StatusCode::ACCEPTED, "{job}");
        assert_eq!(job["status"], "queued");
        let event = self.env.sqs_event_from_queue("CatalogJobsQueue", 60).await;
        assert_eq!(event.records.len(), 1);
        let response = tenant_admin::worker::handle_sqs(&self.deps, event).await;
        assert!(response.batch_item_failures.is_empty());
        let (status, polled) = self
            .api(
                "GET",
                &format!("/catalog/imports/{}", job["id"].as_str().unwrap()),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{polled}");
        polled
    }

    async fn active_version(&self) -> Option<String> {
        sauda_infra::tenant::read_config(
            &self.env.clients.dynamo,
            &self.env.stack.table,
            &self.tenant,
        )
        .await
        .unwrap()
        .catalog
        .active_version
    }
}

/// The catalog through the admin API on moto: a presigned upload PUT over HTTP, an
/// import job run by the worker and polled, activate and roll back with exact calls;
/// the item limit at its boundary; an invalid file ends the job with its row and
/// reason; the active catalog never moves on a failure; tenants stay apart.
#[tokio::test]
async fn a_catalog_is_uploaded_imported_activated_and_rolled_back_through_the_api() {
    let fx = Fx::new(|c| {
        c.plan.id = PlanId::Free;
        c.plan.overrides.catalog_items = Some(3);
    })
    .await;
    let (status, _) = fx.api("GET", "/settings", None).await;
    assert_eq!(status, StatusCode::OK);
    fx.env.counter.reset();

    // Upload URL: the counter sees the PutObject being presigned; signing sends no
    // request (the client's PUT goes straight to S3).
    let first = price_list(3, "A");
    let upload_a = fx.upload(first).await;
    assert_eq!(fx.calls(), want(&[RATE, ("S3.PutObject", 1)]));

    // Import: the job and its history in one transaction, one message.
    let (status, queued) = fx
        .api(
            "POST",
            "/catalog/imports",
            Some(json!({"upload_id": upload_a})),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{queued}");
    assert_eq!(queued["status"], "queued");
    assert_eq!(
        fx.calls(),
        want(&[
            RATE,
            ("DynamoDB.TransactWriteItems", 1),
            ("SQS.SendMessage", 1)
        ])
    );
    let job_id = queued["id"].as_str().unwrap().to_owned();
    let (status, polled) = fx
        .api("GET", &format!("/catalog/imports/{job_id}"), None)
        .await;
    assert_eq!(
        (status, polled["status"].as_str()),
        (StatusCode::OK, Some("queued"))
    );
    assert_eq!(fx.calls(), want(&[RATE, ("DynamoDB.GetItem", 1)]));

    // The worker: job and config read, the upload read, progress and result written,
    // the version's three objects stored.
    let event = fx.env.sqs_event_from_queue("CatalogJobsQueue", 60).await;
    fx.env.counter.reset();
    let response = tenant_admin::worker::handle_sqs(&fx.deps, event).await;
    assert!(response.batch_item_failures.is_empty());
    assert_eq!(
        fx.calls(),
        want(&[
            ("DynamoDB.GetItem", 2),
            ("DynamoDB.PutItem", 2),
            ("S3.GetObject", 1),
            ("S3.PutObject", 3)
        ])
    );
    let (_, done) = fx
        .api("GET", &format!("/catalog/imports/{job_id}"), None)
        .await;
    assert_eq!(done["status"], "succeeded", "{done}");
    assert_eq!(done["items"], 3);
    assert_eq!(done["progress"], json!({"rows_done": 3, "rows_total": 3}));
    let v1 = done["version"].as_str().unwrap().to_owned();
    assert_eq!(fx.active_version().await, None, "a job activates nothing");
    fx.env.counter.reset();

    // Activate: the manifest read, the config read and written with its history.
    let (status, active) = fx
        .api("POST", &format!("/catalog/versions/{v1}/activate"), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{active}");
    assert_eq!(active["active_version"], v1.as_str());
    assert_eq!(
        fx.calls(),
        want(&[
            RATE,
            ("S3.GetObject", 1),
            ("DynamoDB.GetItem", 1),
            ("DynamoDB.TransactWriteItems", 1)
        ])
    );
    assert_eq!(fx.active_version().await.as_deref(), Some(v1.as_str()));

    // One over the limit: the job ends with 402's code, limit and usage; nothing stored.
    let over = fx.upload(price_list(4, "B")).await;
    let failed = fx.import(&over).await;
    assert_eq!(failed["status"], "failed", "{failed}");
    assert_eq!(failed["error"]["code"], "plan_limit_exceeded");
    assert_eq!(
        (
            &failed["error"]["details"]["limit"],
            &failed["error"]["details"]["usage"]
        ),
        (&json!(3), &json!(4))
    );
    assert_eq!(failed["version"], Value::Null);
    assert_eq!(fx.active_version().await.as_deref(), Some(v1.as_str()));

    // Not a valid price list: the row and the reason; the active catalog stays.
    let bad = "sku,name,price\nC-1,One,100\nC-2,Two,200\nC-3,Broken,not-a-price\n";
    let invalid = fx.upload(bad.as_bytes().to_vec()).await;
    let failed = fx.import(&invalid).await;
    assert_eq!(failed["status"], "failed", "{failed}");
    assert_eq!(failed["error"]["code"], "invalid_row");
    assert_eq!(failed["error"]["row"], 4, "{failed}");
    assert!(
        failed["error"]["reason"]
            .as_str()
            .unwrap()
            .contains("not-a-price"),
        "{failed}"
    );
    let not_csv = fx.upload(b"\xff\xfe\x00garbage".to_vec()).await;
    let failed = fx.import(&not_csv).await;
    assert_eq!(
        (failed["status"].as_str(), failed["error"]["code"].as_str()),
        (Some("failed"), Some("invalid_file")),
        "{failed}"
    );
    assert_eq!(fx.active_version().await.as_deref(), Some(v1.as_str()));

    // Exactly at the limit again: a second version, activated, then rolled back.
    let second = fx.upload(price_list(3, "D")).await;
    let done = fx.import(&second).await;
    assert_eq!(done["status"], "succeeded", "{done}");
    let v2 = done["version"].as_str().unwrap().to_owned();
    let (status, _) = fx
        .api("POST", &format!("/catalog/versions/{v2}/activate"), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    fx.env.counter.reset();
    let (status, rolled) = fx.api("POST", "/catalog/rollback", None).await;
    assert_eq!(status, StatusCode::OK, "{rolled}");
    assert_eq!(rolled["active_version"], v1.as_str());
    assert_eq!(
        fx.calls(),
        want(&[
            RATE,
            ("DynamoDB.GetItem", 1),
            ("DynamoDB.TransactWriteItems", 1)
        ])
    );
    assert_eq!(fx.active_version().await.as_deref(), Some(v1.as_str()));
    let (status, refused) = fx.api("POST", "/catalog/rollback", None).await;
    assert_eq!(
        (status, code(&refused)),
        (StatusCode::CONFLICT, "no_previous_version")
    );

    // A downgrade below a stored version: activating it is refused with 402.
    let (status, refused) = fx
        .api("POST", &format!("/catalog/versions/{v2}/activate"), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{refused}");
    let mut config =
        sauda_infra::tenant::read_config(&fx.env.clients.dynamo, &fx.env.stack.table, &fx.tenant)
            .await
            .unwrap();
    config.plan.overrides.catalog_items = Some(2);
    sauda_infra::tenant::update_config(
        &fx.env.clients.dynamo,
        &fx.env.stack.table,
        &fx.tenant,
        |c| c.plan = config.plan.clone(),
    )
    .await
    .unwrap();
    let (status, refused) = fx
        .api("POST", &format!("/catalog/versions/{v1}/activate"), None)
        .await;
    assert_eq!(
        (status, code(&refused)),
        (StatusCode::PAYMENT_REQUIRED, "plan_limit_exceeded"),
        "{refused}"
    );
    assert_eq!(
        (&refused["error"]["limit"], &refused["error"]["usage"]),
        (&json!(2), &json!(3))
    );
    assert_eq!(fx.active_version().await.as_deref(), Some(v2.as_str()));

    // Bad requests: clear 4xx codes.
    for (body, want_code) in [
        (
            json!({"content_type": "image/png", "size_bytes": 10}),
            "unsupported_content_type",
        ),
        (
            json!({"content_type": "text/csv", "size_bytes": 0}),
            "invalid_size",
        ),
        (
            json!({"content_type": "text/csv", "size_bytes": 50 * 1024 * 1024 + 1}),
            "invalid_size",
        ),
    ] {
        let (status, refused) = fx.api("POST", "/catalog/uploads", Some(body)).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");
        assert_eq!(
            refused["error"]["fields"][0]["code"], want_code,
            "{refused}"
        );
    }
    let (status, refused) = fx
        .api(
            "POST",
            "/catalog/imports",
            Some(json!({"upload_id": "../x"})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");
    let (status, refused) = fx
        .api(
            "POST",
            "/catalog/versions/v20990101-000000000-ffff/activate",
            None,
        )
        .await;
    assert_eq!(
        (status, code(&refused)),
        (StatusCode::NOT_FOUND, "version_not_found")
    );

    // Tenant B's admin: A's job and A's version are not found in B.
    let other = fx.env.tenant_with(|_| {}, Default::default()).await;
    let other_admin = issue(&fx.env, &other, Role::TenantAdmin).await;
    let (status, refused) = fx
        .call(
            &other_admin,
            &other,
            "GET",
            &format!("/catalog/imports/{job_id}"),
            None,
        )
        .await;
    assert_eq!(
        (status, code(&refused)),
        (StatusCode::NOT_FOUND, "import_not_found")
    );
    let (status, refused) = fx
        .call(
            &other_admin,
            &other,
            "POST",
            &format!("/catalog/versions/{v1}/activate"),
            None,
        )
        .await;
    assert_eq!(
        (status, code(&refused)),
        (StatusCode::NOT_FOUND, "version_not_found")
    );
    // B importing A's upload id: B's prefix holds no such file, so the job fails.
    let failed = {
        let (status, job) = fx
            .call(
                &other_admin,
                &other,
                "POST",
                "/catalog/imports",
                Some(json!({"upload_id": second})),
            )
            .await;
        assert_eq!(status, StatusCode::ACCEPTED, "{job}");
        let event = fx.env.sqs_event_from_queue("CatalogJobsQueue", 60).await;
        tenant_admin::worker::handle_sqs(&fx.deps, event).await;
        fx.call(
            &other_admin,
            &other,
            "GET",
            &format!("/catalog/imports/{}", job["id"].as_str().unwrap()),
            None,
        )
        .await
        .1
    };
    assert_eq!(failed["error"]["code"], "upload_missing", "{failed}");

    // Every change with its actor.
    let (_, history) = fx.api("GET", "/history?limit=100", None).await;
    let actions: Vec<&str> = history["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["action"].as_str().unwrap())
        .collect();
    for action in ["catalog.import", "catalog.activate", "catalog.rollback"] {
        assert!(actions.contains(&action), "{action}: {actions:?}");
    }
    assert!(history["changes"]
        .as_array()
        .unwrap()
        .iter()
        .all(|c| c["actor"].as_str().unwrap().starts_with("tenant_admin:")));
}

/// Partners through the admin API with the loyalty programme switched off (the loyalty
/// API's gate does not apply here): created pending, approved (the partner told once),
/// suspended, listed; every change in the history; tenant B sees none of them.
#[tokio::test]
async fn partners_are_created_approved_and_suspended_without_the_loyalty_gate() {
    let fx = Fx::new(|c| c.loyalty.enabled = false).await;
    let (status, _) = fx.api("GET", "/settings", None).await;
    assert_eq!(status, StatusCode::OK);
    fx.env.counter.reset();

    let (status, created) = fx
        .api(
            "POST",
            "/partners",
            Some(json!({"partner_id": "cafe", "name": "Кофейня", "telegram_chat_id": 555})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["status"], "pending");
    assert_eq!(
        fx.calls(),
        want(&[RATE, ("DynamoDB.BatchGetItem", 1), ("DynamoDB.PutItem", 2)])
    );
    let (status, refused) = fx
        .api(
            "POST",
            "/partners",
            Some(json!({"partner_id": "cafe", "name": "Again"})),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{refused}");
    fx.env.counter.reset();

    let (status, approved) = fx.api("POST", "/partners/cafe/approve", None).await;
    assert_eq!(status, StatusCode::OK, "{approved}");
    assert_eq!(approved["status"], "active");
    assert_eq!(
        fx.calls(),
        want(&[
            RATE,
            ("DynamoDB.BatchGetItem", 1),
            ("DynamoDB.PutItem", 2),
            ("SQS.SendMessage", 1)
        ])
    );
    let notices = fx.env.receive_all("NotifyQueue").await;
    assert_eq!(notices.len(), 1, "the partner is told once");
    // Approving again changes nothing and records nothing.
    let (status, again) = fx.api("POST", "/partners/cafe/approve", None).await;
    assert_eq!((status, &again["changed"]), (StatusCode::OK, &json!(false)));
    assert!(fx.env.receive_all("NotifyQueue").await.is_empty());

    let (status, suspended) = fx.api("POST", "/partners/cafe/suspend", None).await;
    assert_eq!(status, StatusCode::OK, "{suspended}");
    assert_eq!(suspended["status"], "suspended");
    fx.env.counter.reset();
    let (status, listed) = fx.api("GET", "/partners", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(fx.calls(), want(&[RATE, ("DynamoDB.Query", 1)]));
    let listed = listed["partners"].as_array().unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(
        (
            listed[0]["partner_id"].as_str(),
            listed[0]["status"].as_str()
        ),
        (Some("cafe"), Some("suspended"))
    );
    let (_, active) = fx.api("GET", "/partners?status=active", None).await;
    assert_eq!(active["partners"], json!([]));
    // The loyalty library's own refusal, as the loyalty API answers it.
    let (status, refused) = fx.api("GET", "/partners?status=gone", None).await;
    assert_eq!(
        (status, code(&refused)),
        (StatusCode::BAD_REQUEST, "invalid_status")
    );
    let (status, refused) = fx.api("POST", "/partners/cafe/promote", None).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");
    let (status, refused) = fx.api("POST", "/partners/nobody/approve", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{refused}");

    // Tenant B: A's partner is not there.
    let other = fx.env.tenant_with(|_| {}, Default::default()).await;
    let other_admin = issue(&fx.env, &other, Role::TenantAdmin).await;
    let (_, listed) = fx
        .call(&other_admin, &other, "GET", "/partners", None)
        .await;
    assert_eq!(listed["partners"], json!([]));
    let (status, _) = fx
        .call(&other_admin, &other, "POST", "/partners/cafe/approve", None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let (_, history) = fx.api("GET", "/history", None).await;
    let actions: Vec<&str> = history["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        vec!["partner.suspend", "partner.approve", "partner.create"]
    );
}
