//! Loyalty ledger against moto: arithmetic, referral and welcome bonuses, NPS and partner
//! statistics, idempotency, concurrency, moderation, tenant isolation, expiry,
//! pagination, bad input and the AWS-call budget.
//!
//! moto does not isolate concurrent DynamoDB requests: `transact_write_items` applies
//! items one by one without a lock and rolls a cancelled transaction back by restoring a
//! deep copy of the whole table taken when *it* started, which erases writes other
//! requests committed meanwhile (moto 5.2, `moto/dynamodb/models/__init__.py`). DynamoDB
//! itself serialises transactions. So the handlers here talk to moto through
//! [`serial_proxy`], which forwards one request at a time: every request is atomic, as
//! on DynamoDB, while the handlers still run concurrently and interleave their reads and
//! transactions freely: the races under test are the application's own.

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, Method, Request, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use http_body_util::BodyExt;
use loyalty::model::{account_key, Account};
use loyalty::{router, Deps, LoyaltyConfig, Store};
use sauda_shared::apikey::{ApiKeyStore, Role};
use sauda_shared::aws::{AwsCallCounter, AwsClients};
use sauda_shared::config::CoreConfig;
use sauda_shared::secrets::TenantSecrets;
use sauda_shared::stats::{self, metric};
use sauda_shared::tenant::{Rounding, TenantConfig};
use sauda_shared::TenantId;
use sauda_tests::{TestEnv, REGION};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use tower::ServiceExt;

// ---------------------------------------------------------------------------- harness

struct ProxyState {
    http: reqwest::Client,
    upstream: String,
    turn: tokio::sync::Mutex<()>,
}

/// A loopback proxy to moto that admits one request at a time (see the module docs).
async fn serial_proxy(upstream: String) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let state = Arc::new(ProxyState {
        http: reqwest::Client::new(),
        upstream: upstream.trim_end_matches('/').to_owned(),
        turn: tokio::sync::Mutex::new(()),
    });
    let app = Router::new().fallback(forward).with_state(state);
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}")
}

async fn forward(
    State(state): State<Arc<ProxyState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let _turn = state.turn.lock().await;
    let path = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    let mut request = state
        .http
        .request(method, format!("{}{path}", state.upstream))
        .body(body);
    for (name, value) in &headers {
        if name != http::header::HOST && name != http::header::CONTENT_LENGTH {
            request = request.header(name, value);
        }
    }
    match request.send().await {
        Ok(upstream) => {
            let status = upstream.status();
            let headers = upstream.headers().clone();
            let bytes = upstream.bytes().await.unwrap_or_default();
            let mut response = (status, bytes).into_response();
            for (name, value) in &headers {
                if name != http::header::CONTENT_LENGTH && name != http::header::TRANSFER_ENCODING {
                    response.headers_mut().insert(name, value.clone());
                }
            }
            response
        }
        Err(e) => (StatusCode::BAD_GATEWAY, e.to_string()).into_response(),
    }
}

/// Milliseconds added to the wall clock of the ledger (to cross days and expiry dates).
#[derive(Clone, Default)]
struct Shift(Arc<AtomicI64>);

impl Shift {
    fn days(&self, days: i64) {
        self.0.store(days * 86_400_000, Ordering::SeqCst);
    }
}

struct Fx {
    env: TestEnv,
    deps: Arc<Deps>,
    /// Counts the calls the loyalty function makes (not the test's own).
    calls: AwsCallCounter,
    tenant: TenantId,
    admin: String,
    shift: Shift,
}

const CURRENCY: &str = "KZT";

async fn deps_for(env: &TestEnv, calls: &AwsCallCounter, shift: &Shift) -> Deps {
    let endpoint = std::env::var("AWS_ENDPOINT_URL").expect("AWS_ENDPOINT_URL (moto)");
    let proxied = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new(REGION))
        .endpoint_url(serial_proxy(endpoint).await)
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
            "test", "test", None, None, "tests",
        ))
        .load()
        .await;
    let clients = AwsClients::counted(&proxied, calls);
    let config = LoyaltyConfig {
        core: CoreConfig {
            stage: env.stage().to_owned(),
            table_name: env.stack.table.clone(),
        },
        notify_queue_url: env.queue_url("NotifyQueue"),
    };
    let mut deps = Deps::from_aws(&clients, &config);
    let offset = shift.0.clone();
    deps.store = deps.store.with_clock(Arc::new(move || {
        sauda_shared::now_ms() + offset.load(Ordering::SeqCst)
    }));
    deps
}

/// A loyalty tenant (enabled, KZT, high rate limit unless configured) and its admin key.
async fn fx_with(configure: impl FnOnce(&mut TenantConfig)) -> Fx {
    let env = TestEnv::new().await;
    let tenant = env
        .tenant_with(
            |c| {
                c.loyalty.enabled = true;
                c.loyalty.currency = CURRENCY.into();
                c.loyalty.rate_limit_per_minute = 10_000;
                configure(c);
            },
            TenantSecrets::default(),
        )
        .await;
    let calls = AwsCallCounter::default();
    let shift = Shift::default();
    let deps = Arc::new(deps_for(&env, &calls, &shift).await);
    let admin = issue(&env, &tenant, Role::Admin).await;
    Fx {
        env,
        deps,
        calls,
        tenant,
        admin,
        shift,
    }
}

async fn fx() -> Fx {
    fx_with(|_| {}).await
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

struct Reply {
    status: StatusCode,
    body: Value,
    headers: HeaderMap,
}

impl Reply {
    fn code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or("<none>")
    }

    #[track_caller]
    fn ok(self) -> Value {
        assert!(self.status.is_success(), "{} {}", self.status, self.body);
        self.body
    }
}

async fn send(deps: &Arc<Deps>, request: Request<Body>) -> Reply {
    let response = router(deps.clone()).oneshot(request).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let body = serde_json::from_slice(&bytes)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into()));
    Reply {
        status,
        body,
        headers,
    }
}

fn request(
    method: &str,
    tenant: &TenantId,
    path: &str,
    key: Option<&str>,
    idem: Option<&str>,
    body: Option<&Value>,
) -> Request<Body> {
    let mut builder = Request::builder()
        .method(method)
        .uri(format!("/t/{tenant}/loyalty/{path}"))
        .header("content-type", "application/json");
    if let Some(key) = key {
        builder = builder.header("authorization", format!("Bearer {key}"));
    }
    if let Some(idem) = idem {
        builder = builder.header("idempotency-key", idem);
    }
    let body = body.map(|b| Body::from(b.to_string())).unwrap_or_default();
    builder.body(body).unwrap()
}

fn fresh_key() -> String {
    ulid::Ulid::new().to_string()
}

impl Fx {
    async fn post(&self, key: &str, path: &str, body: Value) -> Reply {
        self.post_idem(key, path, &fresh_key(), body).await
    }

    async fn post_idem(&self, key: &str, path: &str, idem: &str, body: Value) -> Reply {
        send(
            &self.deps,
            request("POST", &self.tenant, path, Some(key), Some(idem), Some(&body)),
        )
        .await
    }

    async fn get(&self, key: &str, path: &str) -> Reply {
        send(&self.deps, request("GET", &self.tenant, path, Some(key), None, None)).await
    }

    /// Creates an approved partner through the admin routes and returns its key.
    async fn partner(&self, partner_id: &str, configure: Value) -> String {
        let mut body = json!({"partner_id": partner_id, "name": format!("Partner {partner_id}"), "kind": "cafe"});
        if let (Some(target), Some(extra)) = (body.as_object_mut(), configure.as_object()) {
            target.extend(extra.clone());
        }
        self.post(&self.admin, "admin/partners", body).await.ok();
        self.post(&self.admin, &format!("admin/partners/{partner_id}/approve"), json!({}))
            .await
            .ok();
        issue(
            &self.env,
            &self.tenant,
            Role::Partner {
                partner_id: partner_id.to_owned(),
            },
        )
        .await
    }

    async fn join(&self, key: &str, contact: &str) -> Value {
        self.post(key, "join", json!({"contact_id": contact})).await.ok()
    }

    async fn accrue(&self, key: &str, contact: &str, purchase: &str, amount: i64) -> Reply {
        self.post(
            key,
            "accrue",
            json!({"contact_id": contact, "purchase_ref": purchase, "amount_minor": amount, "currency": CURRENCY}),
        )
        .await
    }

    async fn redeem(&self, key: &str, contact: &str, purchase: &str, amount: i64, points: i64) -> Reply {
        self.post(
            key,
            "redeem",
            json!({"contact_id": contact, "purchase_ref": purchase, "amount_minor": amount, "currency": CURRENCY, "points": points}),
        )
        .await
    }

    async fn account(&self, contact: &str) -> Option<Account> {
        self.store().get(&account_key(&self.tenant, contact)).await.unwrap()
    }

    fn store(&self) -> Store {
        Store::new(self.env.clients.dynamo.clone(), &self.env.stack.table)
    }

    async fn balance_attr(&self, contact: &str) -> i64 {
        // Exactly what the agent's get_loyalty_balance tool reads.
        let (pk, sk) = account_key(&self.tenant, contact);
        let item = self
            .env
            .clients
            .dynamo
            .get_item()
            .table_name(&self.env.stack.table)
            .key("PK", aws_sdk_dynamodb::types::AttributeValue::S(pk))
            .key("SK", aws_sdk_dynamodb::types::AttributeValue::S(sk))
            .consistent_read(true)
            .send()
            .await
            .unwrap()
            .item
            .expect("account item");
        item["balance"].as_n().unwrap().parse().unwrap()
    }

    async fn ledger(&self, contact: &str) -> (i64, usize) {
        loyalty::views::ledger_sum(&self.store(), &self.tenant, contact)
            .await
            .unwrap()
    }

    async fn counters(&self) -> BTreeMap<String, i64> {
        let day = stats::local_day("UTC", self.deps.store.now_ms());
        self.env.counters(&self.tenant, &day).await
    }

    async fn assert_audit_clean(&self) -> usize {
        let (accounts, findings) = loyalty::views::audit(&self.store(), &self.tenant).await.unwrap();
        assert!(findings.is_empty(), "{findings:?}");
        accounts
    }
}

fn n(v: &Value) -> i64 {
    v.as_i64().unwrap_or_else(|| panic!("not an integer: {v}"))
}

// ---------------------------------------------------------------------------- arithmetic

#[tokio::test]
async fn accrue_applies_cashback_rounding_and_partner_override() {
    let fx = fx_with(|c| c.loyalty.rounding = Rounding::Nearest).await;
    let shop = fx.partner("shop", json!({})).await;
    let salon = fx.partner("salon", json!({"cashback_bp": 700})).await;
    fx.join(&shop, "tg-1").await;

    // 5 % of 1 990 = 99.5 → 100 (nearest, half up).
    let first = fx.accrue(&shop, "tg-1", "R-1", 1_990).await.ok();
    assert_eq!(n(&first["points"]), 100);
    assert_eq!(n(&first["balance"]), 100);
    assert_eq!(n(&first["cashback_bp"]), 500);
    assert_eq!(first["kind"], "accrue");
    assert_eq!(first["partner_id"], "shop");
    assert_eq!(first["purchase_ref"], "R-1");
    assert_eq!(n(&first["amount_minor"]), 1_990);
    assert_eq!(first["currency"], CURRENCY);
    assert_eq!(first["expires_on"], Value::Null, "expiry is off by default");
    // 5 % of 1 989 = 99.45 → 99.
    assert_eq!(n(&fx.accrue(&shop, "tg-1", "R-2", 1_989).await.ok()["points"]), 99);
    // The salon's own rate: 7 % of 1 234 = 86.38 → 86.
    let salon_accrual = fx.accrue(&salon, "tg-1", "S-1", 1_234).await.ok();
    assert_eq!(n(&salon_accrual["points"]), 86);
    assert_eq!(n(&salon_accrual["cashback_bp"]), 700);
    assert_eq!(n(&salon_accrual["balance"]), 285);

    assert_eq!(fx.balance_attr("tg-1").await, 285, "the agent reads `balance`");
    assert_eq!(fx.ledger("tg-1").await, (285, 3));
    let balance = fx.get(&shop, "balance?contact_id=tg-1").await.ok();
    assert_eq!(n(&balance["balance"]), 285);
    assert_eq!(n(&balance["purchases"]), 3);

    let c = fx.counters().await;
    assert_eq!(c[metric::LOYALTY_ACCRUED], 285);
    assert_eq!(c[metric::LOYALTY_PURCHASES], 3);
    assert_eq!(c[metric::LOYALTY_TURNOVER_MINOR], 1_990 + 1_989 + 1_234);
    assert_eq!(c[metric::LOYALTY_MEMBERS_NEW], 1);
    assert_eq!(c[&metric::partner("shop", "accrued")], 199);
    assert_eq!(c[&metric::partner("shop", "purchases")], 2);
    assert_eq!(c[&metric::partner("shop", "turnover_minor")], 3_979);
    assert_eq!(c[&metric::partner("salon", "accrued")], 86);
    assert_eq!(c[&metric::partner("shop", metric::PARTNER_CLIENTS_NEW)], 1);
    // One member, active today: counted once per period however many operations.
    assert_eq!(c[metric::LOYALTY_ACTIVE_DAY], 1);
    assert_eq!(c[metric::LOYALTY_ACTIVE_WEEK], 1);
    assert_eq!(c[metric::LOYALTY_ACTIVE_MONTH], 1);
}

#[tokio::test]
async fn floor_and_ceil_rounding() {
    let floor = fx().await; // Floor is the default: never give away a fraction.
    let key = floor.partner("p1", json!({})).await;
    floor.join(&key, "tg-1").await;
    assert_eq!(n(&floor.accrue(&key, "tg-1", "A", 1_999).await.ok()["points"]), 99);
    assert_eq!(n(&floor.accrue(&key, "tg-1", "B", 19).await.ok()["points"]), 0);

    let ceil = fx_with(|c| c.loyalty.rounding = Rounding::Ceil).await;
    let key = ceil.partner("p1", json!({})).await;
    ceil.join(&key, "tg-1").await;
    assert_eq!(n(&ceil.accrue(&key, "tg-1", "A", 1_981).await.ok()["points"]), 100);
    assert_eq!(n(&ceil.accrue(&key, "tg-1", "B", 1).await.ok()["points"]), 1);
}

#[tokio::test]
async fn redeem_respects_the_cap_and_the_balance() {
    let fx = fx_with(|c| {
        c.loyalty.welcome_bonus = 100;
        c.loyalty.max_redeem_percent = 50;
    })
    .await;
    let key = fx.partner("shop", json!({})).await;
    fx.join(&key, "tg-1").await;

    // 60 points on a purchase of 100: above the 50 % cap.
    let capped = fx.redeem(&key, "tg-1", "R-1", 100, 60).await;
    assert_eq!(capped.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(capped.code(), "redeem_limit_exceeded");
    // 120 points on a purchase of 1 000: within the cap, above the balance.
    let short = fx.redeem(&key, "tg-1", "R-1", 1_000, 120).await;
    assert_eq!(short.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(short.code(), "insufficient_points");
    assert_eq!(fx.ledger("tg-1").await, (100, 1), "refusals apply nothing");

    let paid = fx.redeem(&key, "tg-1", "R-1", 100, 50).await.ok();
    assert_eq!(n(&paid["points"]), -50);
    assert_eq!(n(&paid["balance_after"]), 50);
    assert_eq!(n(&paid["amount_due_minor"]), 50);
    assert_eq!(paid["kind"], "redeem");
    // The same purchase cannot be paid with points twice (it would dodge the cap).
    let again = fx.redeem(&key, "tg-1", "R-1", 100, 10).await;
    assert_eq!(again.status, StatusCode::CONFLICT);
    assert_eq!(again.code(), "duplicate_purchase");
    // The whole balance can go, and then nothing more.
    fx.redeem(&key, "tg-1", "R-2", 100, 50).await.ok();
    assert_eq!(fx.redeem(&key, "tg-1", "R-3", 100, 1).await.code(), "insufficient_points");
    assert_eq!(fx.balance_attr("tg-1").await, 0);
    assert_eq!(fx.ledger("tg-1").await, (0, 3));
    let c = fx.counters().await;
    assert_eq!(c[metric::LOYALTY_REDEEMED], 100);
    assert_eq!(c[&metric::partner("shop", "redeemed")], 100);
    fx.assert_audit_clean().await;
}
