//! Loyalty ledger against moto: arithmetic, referral and welcome bonuses, NPS and partner
//! statistics, idempotency, concurrency, moderation, tenant isolation, expiry,
//! pagination, bad input and the AWS-call budget.
//!
//! moto does not isolate concurrent DynamoDB requests: `transact_write_items` applies
//! items one by one without a lock and rolls a cancelled transaction back by restoring a
//! deep copy of the whole table taken when *it* started, which erases writes other
//! requests committed meanwhile (moto 5.2, `moto/dynamodb/models/__init__.py`). DynamoDB
//! itself serialises transactions. So the handlers here talk to moto through
//! [`sauda_tests::serial::serial_proxy`], which forwards one request at a time: every request is atomic, as
//! on DynamoDB, while the handlers still run concurrently and interleave their reads and
//! transactions freely: the races under test are the application's own.

use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode};
use http_body_util::BodyExt;
use loyalty::model::{account_key, Account};
use loyalty::store::{self as ledger, LoyaltyStore};
use loyalty::{router, Deps, DynamoStore, LoyaltyConfig};
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
        .endpoint_url(sauda_tests::serial::serial_proxy(endpoint).await)
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
        inbound_queue_url: None,
    };
    let mut deps = Deps::from_aws(&clients, &config);
    let offset = shift.0.clone();
    deps.store = Arc::new(
        DynamoStore::new(clients.dynamo.clone(), &env.stack.table).with_clock(Arc::new(
            move || sauda_shared::now_ms() + offset.load(Ordering::SeqCst),
        )),
    );
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
            request(
                "POST",
                &self.tenant,
                path,
                Some(key),
                Some(idem),
                Some(&body),
            ),
        )
        .await
    }

    async fn get(&self, key: &str, path: &str) -> Reply {
        send(
            &self.deps,
            request("GET", &self.tenant, path, Some(key), None, None),
        )
        .await
    }

    /// Creates an approved partner through the admin routes and returns its key.
    async fn partner(&self, partner_id: &str, configure: Value) -> String {
        let mut body = json!({"partner_id": partner_id, "name": format!("Partner {partner_id}"), "kind": "cafe"});
        if let (Some(target), Some(extra)) = (body.as_object_mut(), configure.as_object()) {
            target.extend(extra.clone());
        }
        self.post(&self.admin, "admin/partners", body).await.ok();
        self.post(
            &self.admin,
            &format!("admin/partners/{partner_id}/approve"),
            json!({}),
        )
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
        self.post(key, "join", json!({"contact_id": contact}))
            .await
            .ok()
    }

    async fn accrue(&self, key: &str, contact: &str, purchase: &str, amount: i64) -> Reply {
        self.post(
            key,
            "accrue",
            json!({"contact_id": contact, "purchase_ref": purchase, "amount_minor": amount, "currency": CURRENCY}),
        )
        .await
    }

    async fn redeem(
        &self,
        key: &str,
        contact: &str,
        purchase: &str,
        amount: i64,
        points: i64,
    ) -> Reply {
        self.post(
            key,
            "redeem",
            json!({"contact_id": contact, "purchase_ref": purchase, "amount_minor": amount, "currency": CURRENCY, "points": points}),
        )
        .await
    }

    async fn account(&self, contact: &str) -> Option<Account> {
        ledger::get(self.store().as_ref(), &account_key(&self.tenant, contact))
            .await
            .unwrap()
    }

    /// The store on the test's own (uncounted, unproxied) client.
    fn store(&self) -> Arc<dyn LoyaltyStore> {
        Arc::new(DynamoStore::new(
            self.env.clients.dynamo.clone(),
            &self.env.stack.table,
        ))
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

    async fn ledger(&self, contact: &str) -> (i128, usize) {
        loyalty::views::ledger_sum(self.store().as_ref(), &self.tenant, contact)
            .await
            .unwrap()
    }

    async fn counters(&self) -> BTreeMap<String, i64> {
        let day = stats::local_day("UTC", self.deps.store.now_ms());
        self.env.counters(&self.tenant, &day).await
    }

    async fn assert_audit_clean(&self) -> usize {
        let (accounts, findings) = loyalty::views::audit(self.store().as_ref(), &self.tenant)
            .await
            .unwrap();
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
    assert_eq!(
        n(&fx.accrue(&shop, "tg-1", "R-2", 1_989).await.ok()["points"]),
        99
    );
    // The salon's own rate: 7 % of 1 234 = 86.38 → 86.
    let salon_accrual = fx.accrue(&salon, "tg-1", "S-1", 1_234).await.ok();
    assert_eq!(n(&salon_accrual["points"]), 86);
    assert_eq!(n(&salon_accrual["cashback_bp"]), 700);
    assert_eq!(n(&salon_accrual["balance"]), 285);

    assert_eq!(
        fx.balance_attr("tg-1").await,
        285,
        "the agent reads `balance`"
    );
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
    assert_eq!(
        n(&floor.accrue(&key, "tg-1", "A", 1_999).await.ok()["points"]),
        99
    );
    assert_eq!(
        n(&floor.accrue(&key, "tg-1", "B", 19).await.ok()["points"]),
        0
    );

    let ceil = fx_with(|c| c.loyalty.rounding = Rounding::Ceil).await;
    let key = ceil.partner("p1", json!({})).await;
    ceil.join(&key, "tg-1").await;
    assert_eq!(
        n(&ceil.accrue(&key, "tg-1", "A", 1_981).await.ok()["points"]),
        100
    );
    assert_eq!(
        n(&ceil.accrue(&key, "tg-1", "B", 1).await.ok()["points"]),
        1
    );
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
    assert_eq!(
        fx.redeem(&key, "tg-1", "R-3", 100, 1).await.code(),
        "insufficient_points"
    );
    assert_eq!(fx.balance_attr("tg-1").await, 0);
    assert_eq!(fx.ledger("tg-1").await, (0, 3));
    let c = fx.counters().await;
    assert_eq!(c[metric::LOYALTY_REDEEMED], 100);
    assert_eq!(c[&metric::partner("shop", "redeemed")], 100);
    fx.assert_audit_clean().await;
}

#[tokio::test]
async fn refunds_return_paid_points_and_take_back_cashback_once() {
    let fx = fx_with(|c| {
        c.loyalty.welcome_bonus = 100;
        c.loyalty.max_redeem_percent = 50;
        c.loyalty.cashback_bp = 1_000;
    })
    .await;
    let shop = fx.partner("shop", json!({})).await;
    let other = fx.partner("other", json!({})).await;
    fx.join(&shop, "tg-1").await;
    let refund = |purchase: &str| json!({"contact_id": "tg-1", "purchase_ref": purchase, "reason": "goods returned"});

    // 50 points pay part of 1 000, then 10 % cashback on the 950 paid in money.
    fx.redeem(&shop, "tg-1", "R-1", 1_000, 50).await.ok();
    fx.accrue(&shop, "tg-1", "R-1", 950).await.ok();
    assert_eq!(fx.balance_attr("tg-1").await, 145);
    let back = fx.post(&shop, "refund", refund("R-1")).await.ok();
    assert_eq!(back["kind"], "refund");
    assert_eq!(n(&back["points_returned"]), 50);
    assert_eq!(n(&back["cashback_taken_back"]), 95);
    assert_eq!(n(&back["cashback_not_recovered"]), 0);
    assert_eq!(n(&back["points"]), -45);
    assert_eq!(n(&back["balance"]), 100);
    assert!(back["reason"].as_str().unwrap().contains("goods returned"));

    // Once per purchase, and a refunded purchase earns or takes no more points.
    for refused in [
        fx.post(&shop, "refund", refund("R-1")).await,
        fx.accrue(&shop, "tg-1", "R-1", 950).await,
        fx.redeem(&shop, "tg-1", "R-1", 1_000, 10).await,
    ] {
        assert_eq!(
            (refused.status, refused.code()),
            (StatusCode::CONFLICT, "duplicate_purchase")
        );
    }
    // Purchases belong to the partner that booked them; unknown ones are 404.
    for path_owner in [&other, &shop] {
        let purchase = if path_owner == &other { "R-1" } else { "R-404" };
        let refused = fx.post(path_owner, "refund", refund(purchase)).await;
        assert_eq!(
            (refused.status, refused.code()),
            (StatusCode::NOT_FOUND, "unknown_purchase")
        );
    }
    // Another member cannot be named on this member's purchase.
    fx.join(&shop, "tg-2").await;
    let wrong = fx
        .post(
            &shop,
            "refund",
            json!({"contact_id": "tg-2", "purchase_ref": "R-1"}),
        )
        .await;
    assert_eq!(wrong.code(), "purchase_customer_mismatch");

    // Cashback already spent is not recovered below zero, and the answer says so.
    fx.accrue(&shop, "tg-1", "R-2", 2_000).await.ok();
    fx.redeem(&shop, "tg-1", "R-3", 1_000, 280).await.ok();
    assert_eq!(fx.balance_attr("tg-1").await, 20);
    let first = fx
        .post_idem(&shop, "refund", "refund-R-2", refund("R-2"))
        .await
        .ok();
    assert_eq!(n(&first["cashback_taken_back"]), 20);
    assert_eq!(n(&first["cashback_not_recovered"]), 180);
    assert_eq!(n(&first["balance"]), 0);
    // A retried request answers the same and applies nothing more.
    let retried = fx
        .post_idem(&shop, "refund", "refund-R-2", refund("R-2"))
        .await
        .ok();
    assert_eq!(retried, first);
    assert_eq!(fx.ledger("tg-1").await, (0, 7));

    let c = fx.counters().await;
    assert_eq!(c[metric::LOYALTY_REFUNDS], 2);
    assert_eq!(c[metric::LOYALTY_REFUND_RETURNED], 50);
    assert_eq!(c[metric::LOYALTY_REFUND_CLAWBACK], 115);
    assert_eq!(c[metric::LOYALTY_TURNOVER_MINOR], 950 + 2_000 - 950 - 2_000);
    let stats = fx.get(&shop, "partners/shop/stats").await.ok();
    assert_eq!(n(&stats["points_accrued"]), 95 + 200 - 115, "{stats}");
    assert_eq!(n(&stats["points_redeemed"]), 280, "{stats}");
    fx.assert_audit_clean().await;

    // Part of a purchase: shares of its points, adding up exactly over several refunds.
    fx.accrue(&shop, "tg-2", "R-5", 1_000).await.ok();
    let part = |amount: Option<i64>| {
        let mut body = json!({"contact_id": "tg-2", "purchase_ref": "R-5"});
        if let Some(amount) = amount {
            body["amount_minor"] = json!(amount);
        }
        body
    };
    let third = fx.post(&shop, "refund", part(Some(333))).await.ok();
    assert_eq!(n(&third["cashback_taken_back"]), 33);
    assert_eq!(n(&third["remaining_minor"]), 667);
    let too_much = fx.post(&shop, "refund", part(Some(668))).await;
    assert_eq!(
        (too_much.status, too_much.code()),
        (StatusCode::UNPROCESSABLE_ENTITY, "refund_exceeds_purchase")
    );
    let rest = fx.post(&shop, "refund", part(None)).await.ok();
    assert_eq!(
        n(&rest["cashback_taken_back"]),
        67,
        "the remainder, exactly"
    );
    assert_eq!(n(&rest["remaining_minor"]), 0);
    assert_eq!(
        fx.post(&shop, "refund", part(None)).await.code(),
        "duplicate_purchase"
    );
    assert_eq!(
        fx.ledger("tg-2").await,
        (100, 4),
        "welcome 100 + 100 - 33 - 67"
    );
    fx.assert_audit_clean().await;
}

// ---------------------------------------------------------------------------- bonuses

#[tokio::test]
async fn welcome_and_referral_bonus_paid_exactly_once() {
    let fx = fx_with(|c| {
        c.loyalty.welcome_bonus = 100;
        c.loyalty.referral_bonus = 300;
        c.telegram_bot_username = Some("demo_bot".into());
    })
    .await;
    let key = fx.partner("shop", json!({})).await;
    let joined = fx.join(&key, "tg-1").await;
    assert_eq!(n(&joined["welcome_bonus"]), 100);
    assert_eq!(n(&joined["balance"]), 100);

    let code = fx
        .post(&key, "referral-code", json!({"contact_id": "tg-1"}))
        .await
        .ok();
    let code = code["code"].as_str().unwrap().to_owned();
    // Asking again gives the same code and link.
    let same = fx
        .post(&key, "referral-code", json!({"contact_id": "tg-1"}))
        .await
        .ok();
    assert_eq!(same["code"], code.as_str());
    assert_eq!(
        same["link"],
        format!("https://t.me/demo_bot?start=ref-{code}")
    );

    // Unknown codes are refused and nothing is written; a member cannot join again,
    // not even with their own code.
    let unknown = fx
        .post(
            &key,
            "join",
            json!({"contact_id": "tg-9", "referral_code": "ZZZZZZZZ"}),
        )
        .await;
    assert_eq!(
        (unknown.status, unknown.code()),
        (StatusCode::NOT_FOUND, "unknown_referral_code")
    );
    assert!(fx.account("tg-9").await.is_none());
    let own = fx
        .post(
            &key,
            "join",
            json!({"contact_id": "tg-1", "referral_code": code.to_lowercase()}),
        )
        .await;
    assert_eq!(own.code(), "already_member");

    // A newcomer joins with the code: welcome bonus now, the referrer's bonus later.
    let newcomer = fx
        .post(
            &key,
            "join",
            json!({"contact_id": "tg-2", "referral_code": code}),
        )
        .await
        .ok();
    assert_eq!(newcomer["referred"], true);
    assert_eq!(fx.balance_attr("tg-1").await, 100);
    assert_eq!(fx.account("tg-1").await.unwrap().referrals_joined, 1);
    let twice = fx.post(&key, "join", json!({"contact_id": "tg-2"})).await;
    assert_eq!(
        (twice.status, twice.code()),
        (StatusCode::CONFLICT, "already_member")
    );

    // The first purchase pays the referrer once; later ones do not.
    let first = fx.accrue(&key, "tg-2", "R-1", 1_000).await.ok();
    assert_eq!(n(&first["referral_bonus_points"]), 300);
    assert_eq!(fx.balance_attr("tg-1").await, 400);
    let second = fx.accrue(&key, "tg-2", "R-2", 1_000).await.ok();
    assert_eq!(n(&second["referral_bonus_points"]), 0);
    assert_eq!(fx.balance_attr("tg-1").await, 400);

    // Concurrent first purchases of another newcomer still pay exactly once.
    fx.post(
        &key,
        "join",
        json!({"contact_id": "tg-3", "referral_code": code}),
    )
    .await
    .ok();
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..6 {
        let (deps, tenant, key) = (fx.deps.clone(), fx.tenant.clone(), key.clone());
        tasks.spawn(async move {
            let body = json!({"contact_id": "tg-3", "purchase_ref": format!("C-{i}"), "amount_minor": 1_000, "currency": CURRENCY});
            send(&deps, request("POST", &tenant, "accrue", Some(&key), Some(&fresh_key()), Some(&body))).await
        });
    }
    let mut bonuses = 0;
    while let Some(reply) = tasks.join_next().await {
        bonuses += n(&reply.unwrap().ok()["referral_bonus_points"]);
    }
    assert_eq!(bonuses, 300, "exactly one first purchase");
    assert_eq!(fx.balance_attr("tg-1").await, 700);

    let history = fx.get(&key, "history?contact_id=tg-1").await.ok();
    let kinds: Vec<&str> = history["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["referral_bonus", "referral_bonus", "welcome"]);
    let c = fx.counters().await;
    assert_eq!(c[metric::LOYALTY_REFERRAL_BONUS], 600);
    assert_eq!(c[metric::LOYALTY_REFERRAL_JOINS], 2);
    assert_eq!(c[metric::LOYALTY_WELCOME], 300);
    assert_eq!(c[metric::LOYALTY_MEMBERS_NEW], 3);
    assert_eq!(fx.assert_audit_clean().await, 3);
}

#[tokio::test]
async fn members_are_found_by_phone() {
    let fx = fx().await;
    let key = fx.partner("shop", json!({})).await;
    // A Telegram member who gave a phone number, and a WhatsApp member who did not.
    fx.post(
        &key,
        "join",
        json!({"contact_id": "tg-77", "phone": "8 701 123 45 67"}),
    )
    .await
    .ok();
    fx.join(&key, "wa-77019998877").await;

    let found = fx
        .get(&key, "customers/lookup?phone=%2B77011234567")
        .await
        .ok();
    assert_eq!(found["contact_id"], "tg-77");
    assert_eq!(found["phone"], "+77011234567");
    assert_eq!(n(&found["at_partner"]["purchases"]), 0);
    // A WhatsApp contact's phone is its id.
    let wa = fx
        .get(&key, "customers/lookup?phone=87019998877")
        .await
        .ok();
    assert_eq!(wa["contact_id"], "wa-77019998877");

    let accrued = fx
        .post(
            &key,
            "accrue",
            json!({"phone": "+7 701 123-45-67", "purchase_ref": "P-1", "amount_minor": 2_000, "currency": "kzt"}),
        )
        .await
        .ok();
    assert_eq!(accrued["contact_id"], "tg-77");
    let found = fx
        .get(&key, "customers/lookup?phone=87011234567")
        .await
        .ok();
    assert_eq!(n(&found["balance"]), 100);
    assert_eq!(n(&found["at_partner"]["purchases"]), 1);
    assert_eq!(n(&found["at_partner"]["turnover_minor"]), 2_000);

    // The number belongs to tg-77 now.
    let taken = fx
        .post(
            &key,
            "join",
            json!({"contact_id": "tg-78", "phone": "+77011234567"}),
        )
        .await;
    assert_eq!(
        (taken.status, taken.code()),
        (StatusCode::CONFLICT, "phone_taken")
    );
    // An identity another capability wrote (`contact_id` attribute) resolves as well.
    fx.join(&key, "tg-90").await;
    let (pk, sk) = sauda_shared::keys::identity(&fx.tenant, "phone", "+77017776655");
    fx.env
        .clients
        .dynamo
        .put_item()
        .table_name(&fx.env.stack.table)
        .item("PK", aws_sdk_dynamodb::types::AttributeValue::S(pk))
        .item("SK", aws_sdk_dynamodb::types::AttributeValue::S(sk))
        .item(
            "contact_id",
            aws_sdk_dynamodb::types::AttributeValue::S("tg-90".into()),
        )
        .send()
        .await
        .unwrap();
    let by_lead = fx
        .get(&key, "customers/lookup?phone=87017776655")
        .await
        .ok();
    assert_eq!(by_lead["contact_id"], "tg-90");
    let nobody = fx.get(&key, "customers/lookup?phone=%2B77015550000").await;
    assert_eq!(
        (nobody.status, nobody.code()),
        (StatusCode::NOT_FOUND, "unknown_customer")
    );
}

// ---------------------------------------------------------------------------- NPS and statistics

#[tokio::test]
async fn nps_once_per_purchase_and_partner_statistics() {
    let fx = fx_with(|c| c.loyalty.welcome_bonus = 1_000).await;
    let cafe = fx.partner("cafe", json!({})).await;
    let other = fx.partner("other", json!({})).await;
    for contact in ["tg-1", "tg-2"] {
        fx.join(&cafe, contact).await;
    }
    fx.accrue(&cafe, "tg-1", "R-1", 10_000).await.ok();
    fx.accrue(&cafe, "tg-1", "R-2", 20_000).await.ok();
    fx.accrue(&cafe, "tg-2", "R-3", 30_000).await.ok();
    fx.redeem(&cafe, "tg-2", "R-4", 1_000, 200).await.ok();

    let rate = |contact: &str, purchase: &str, score: i64| json!({"contact_id": contact, "purchase_ref": purchase, "score": score});
    let promoter = fx.post(&cafe, "nps", rate("tg-1", "R-1", 10)).await.ok();
    assert_eq!(promoter["class"], "promoter");
    fx.post(&cafe, "nps", rate("tg-1", "R-2", 6)).await.ok();
    // The tenant's customer bot (an admin key) rates on the partner's behalf.
    let mut by_bot = rate("tg-2", "R-3", 8);
    by_bot["partner_id"] = json!("cafe");
    fx.post(&fx.admin, "nps", by_bot).await.ok();

    let again = fx.post(&cafe, "nps", rate("tg-1", "R-1", 9)).await;
    assert_eq!(
        (again.status, again.code()),
        (StatusCode::CONFLICT, "already_rated")
    );
    assert_eq!(
        fx.post(&cafe, "nps", rate("tg-1", "R-404", 9)).await.code(),
        "unknown_purchase"
    );
    assert_eq!(
        fx.post(&cafe, "nps", rate("tg-2", "R-1", 9)).await.code(),
        "purchase_customer_mismatch"
    );
    assert_eq!(
        fx.post(&cafe, "nps", rate("tg-1", "R-1", 11)).await.code(),
        "invalid_score"
    );
    // Another partner cannot rate the café's purchases as its own.
    assert_eq!(
        fx.post(&other, "nps", rate("tg-1", "R-1", 0)).await.code(),
        "unknown_purchase"
    );

    let stats = fx.get(&cafe, "partners/cafe/stats").await.ok();
    assert_eq!(n(&stats["turnover_minor"]), 60_000);
    assert_eq!(n(&stats["purchases"]), 3);
    assert_eq!(n(&stats["points_accrued"]), 3_000);
    assert_eq!(n(&stats["points_redeemed"]), 200);
    assert_eq!(n(&stats["clients"]), 2);
    assert_eq!(n(&stats["nps"]["responses"]), 3);
    assert_eq!(n(&stats["nps"]["promoters"]), 1);
    assert_eq!(n(&stats["nps"]["passives"]), 1);
    assert_eq!(n(&stats["nps"]["detractors"]), 1);
    assert_eq!(stats["nps"]["score"], json!(0.0));
    assert_eq!(stats["nps"]["average"], json!(8.0));

    // Statistics are the partner's own; the admin sees any partner's.
    let foreign = fx.get(&other, "partners/cafe/stats").await;
    assert_eq!(
        (foreign.status, foreign.code()),
        (StatusCode::FORBIDDEN, "forbidden")
    );
    assert_eq!(
        n(&fx.get(&fx.admin, "partners/cafe/stats").await.ok()["clients"]),
        2
    );
    assert_eq!(
        fx.get(&fx.admin, "partners/nobody/stats").await.code(),
        "unknown_partner"
    );

    let c = fx.counters().await;
    assert_eq!(c[&metric::partner("cafe", "nps_count")], 3);
    assert_eq!(c[&metric::partner("cafe", "nps_sum")], 24);
    assert_eq!(c[&metric::partner("cafe", "nps_promoters")], 1);
    assert_eq!(c[&metric::partner("cafe", "nps_detractors")], 1);
    assert_eq!(c[metric::LOYALTY_NPS_COUNT], 3);
    assert_eq!(c[&metric::partner("cafe", metric::PARTNER_CLIENTS_NEW)], 2);
}

// ---------------------------------------------------------------------------- idempotency

#[tokio::test]
async fn retries_replay_and_a_reused_key_conflicts() {
    let fx = fx_with(|c| c.loyalty.welcome_bonus = 50).await;
    let key = fx.partner("shop", json!({})).await;
    let other = fx.partner("other", json!({})).await;
    fx.join(&key, "tg-1").await;
    let accrue = json!({"contact_id": "tg-1", "purchase_ref": "R-1", "amount_minor": 1_000, "currency": CURRENCY});

    let first = fx
        .post_idem(&key, "accrue", "order-1", accrue.clone())
        .await;
    assert_eq!(first.status, StatusCode::OK);
    assert!(first.headers.get("idempotent-replayed").is_none());
    let retry = fx
        .post_idem(&key, "accrue", "order-1", accrue.clone())
        .await;
    assert_eq!(retry.status, StatusCode::OK);
    assert_eq!(retry.headers["idempotent-replayed"], "true");
    assert_eq!(retry.body, first.body, "the original result, byte for byte");
    assert_eq!(fx.ledger("tg-1").await, (100, 2), "applied once");

    let mut changed = accrue.clone();
    changed["amount_minor"] = json!(2_000);
    let reused = fx.post_idem(&key, "accrue", "order-1", changed).await;
    assert_eq!(
        (reused.status, reused.code()),
        (StatusCode::CONFLICT, "idempotency_key_reused")
    );
    // The same key on another operation is a different request too.
    let other_op = fx
        .post_idem(&key, "redeem", "order-1", json!({"contact_id": "tg-1", "purchase_ref": "R-1", "amount_minor": 1_000, "currency": CURRENCY, "points": 10}))
        .await;
    assert_eq!(other_op.code(), "idempotency_key_reused");

    // Keys are per partner: another partner's "order-1" is its own request.
    let mut elsewhere = accrue.clone();
    elsewhere["purchase_ref"] = json!("X-1");
    fx.post_idem(&other, "accrue", "order-1", elsewhere)
        .await
        .ok();
    assert_eq!(fx.ledger("tg-1").await, (150, 3));

    // A redeem that emptied the balance replays as the success it was.
    let spend = json!({"contact_id": "tg-1", "purchase_ref": "R-9", "amount_minor": 1_000, "currency": CURRENCY, "points": 150});
    let spent = fx
        .post_idem(&key, "redeem", "pay-9", spend.clone())
        .await
        .ok();
    let replayed = fx.post_idem(&key, "redeem", "pay-9", spend).await;
    assert_eq!(replayed.status, StatusCode::OK);
    assert_eq!(replayed.body, spent);
    assert_eq!(fx.balance_attr("tg-1").await, 0);

    // Concurrent duplicates: one application, the same answer for all.
    let mut tasks = tokio::task::JoinSet::new();
    let body = json!({"contact_id": "tg-1", "purchase_ref": "R-20", "amount_minor": 4_000, "currency": CURRENCY});
    for _ in 0..8 {
        let (deps, tenant, key, body) = (
            fx.deps.clone(),
            fx.tenant.clone(),
            key.clone(),
            body.clone(),
        );
        tasks.spawn(async move {
            send(
                &deps,
                request(
                    "POST",
                    &tenant,
                    "accrue",
                    Some(&key),
                    Some("dup-20"),
                    Some(&body),
                ),
            )
            .await
        });
    }
    let mut answers = Vec::new();
    while let Some(reply) = tasks.join_next().await {
        answers.push(reply.unwrap().ok());
    }
    assert!(answers.windows(2).all(|w| w[0] == w[1]), "{answers:?}");
    assert_eq!(fx.ledger("tg-1").await, (200, 5));

    let missing = send(
        &fx.deps,
        request(
            "POST",
            &fx.tenant,
            "accrue",
            Some(&key),
            None,
            Some(&accrue),
        ),
    )
    .await;
    assert_eq!(
        (missing.status, missing.code()),
        (StatusCode::BAD_REQUEST, "idempotency_key_required")
    );
    let bad = fx
        .post_idem(&key, "accrue", "no spaces allowed", accrue)
        .await;
    assert_eq!(bad.code(), "invalid_idempotency_key");
}

// ---------------------------------------------------------------------------- concurrency

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_parallel_redeems_of_ten_on_a_hundred() {
    let fx = fx_with(|c| {
        c.loyalty.welcome_bonus = 100;
        c.loyalty.max_redeem_percent = 100;
    })
    .await;
    let key = fx.partner("shop", json!({})).await;
    fx.join(&key, "tg-1").await;
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..50 {
        let (deps, tenant, key) = (fx.deps.clone(), fx.tenant.clone(), key.clone());
        tasks.spawn(async move {
            let body = json!({"contact_id": "tg-1", "purchase_ref": format!("R-{i}"), "amount_minor": 10, "currency": CURRENCY, "points": 10});
            send(&deps, request("POST", &tenant, "redeem", Some(&key), Some(&fresh_key()), Some(&body))).await
        });
    }
    let (mut ok, mut refused) = (0, 0);
    while let Some(reply) = tasks.join_next().await {
        let reply = reply.unwrap();
        match reply.status {
            StatusCode::OK => ok += 1,
            _ => {
                assert_eq!(reply.code(), "insufficient_points", "{}", reply.body);
                refused += 1;
            }
        }
    }
    assert_eq!((ok, refused), (10, 40));
    assert_eq!(fx.balance_attr("tg-1").await, 0);
    assert_eq!(fx.ledger("tg-1").await, (0, 11), "welcome + 10 redemptions");
    assert_eq!(fx.counters().await[metric::LOYALTY_REDEEMED], 100);
    fx.assert_audit_clean().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_accrue_and_redeem_mix_preserves_the_invariant() {
    use rand::{Rng, SeedableRng};
    let fx = fx_with(|c| {
        c.loyalty.welcome_bonus = 200;
        c.loyalty.max_redeem_percent = 100;
    })
    .await;
    let partners = [
        ("p1", fx.partner("p1", json!({})).await),
        ("p2", fx.partner("p2", json!({"cashback_bp": 1_000})).await),
    ];
    let members = ["tg-1", "tg-2", "tg-3"];
    for m in members {
        fx.join(&partners[0].1, m).await;
    }
    let mut rng = rand::rngs::StdRng::seed_from_u64(42);
    let mut tasks = tokio::task::JoinSet::new();
    // Twelve requests in flight over three accounts: four writers per account at a time.
    let in_flight = Arc::new(tokio::sync::Semaphore::new(12));
    for i in 0..120 {
        let (pid, key) = partners[rng.random_range(0..2)].clone();
        let member = members[rng.random_range(0..3)];
        let redeem = rng.random_bool(0.5);
        let amount: i64 = rng.random_range(300..5_000);
        let points: i64 = rng.random_range(1..300);
        let (deps, tenant) = (fx.deps.clone(), fx.tenant.clone());
        let slot = in_flight.clone().acquire_owned().await.unwrap();
        tasks.spawn(async move {
            let _slot = slot;
            let (path, body) = if redeem {
                ("redeem", json!({"contact_id": member, "purchase_ref": format!("M-{i}"), "amount_minor": amount, "currency": CURRENCY, "points": points}))
            } else {
                ("accrue", json!({"contact_id": member, "purchase_ref": format!("M-{i}"), "amount_minor": amount, "currency": CURRENCY}))
            };
            let reply = send(&deps, request("POST", &tenant, path, Some(&key), Some(&fresh_key()), Some(&body))).await;
            (pid, member, reply)
        });
    }
    let mut expected: BTreeMap<&str, i64> = members.iter().map(|m| (*m, 200)).collect();
    let (mut accrued, mut redeemed) = (0, 0);
    let mut per_partner: BTreeMap<&str, (i64, i64)> = BTreeMap::new();
    while let Some(done) = tasks.join_next().await {
        let (pid, member, reply) = done.unwrap();
        match reply.status {
            StatusCode::OK => {
                let points = n(&reply.body["points"]);
                *expected.get_mut(member).unwrap() += points;
                let entry = per_partner.entry(pid).or_default();
                if points >= 0 {
                    accrued += points;
                    entry.0 += points;
                } else {
                    redeemed -= points;
                    entry.1 -= points;
                }
            }
            _ => assert_eq!(reply.code(), "insufficient_points", "{}", reply.body),
        }
    }
    for (member, balance) in &expected {
        assert!(*balance >= 0);
        assert_eq!(fx.balance_attr(member).await, *balance, "{member}");
        assert_eq!(fx.ledger(member).await.0, i128::from(*balance), "{member}");
    }
    assert!(redeemed > 0 && accrued > 0, "the mix exercised both sides");
    let c = fx.counters().await;
    assert_eq!(c[metric::LOYALTY_ACCRUED], accrued);
    assert_eq!(c[metric::LOYALTY_REDEEMED], redeemed);
    for (pid, (acc, red)) in per_partner {
        let stats = fx
            .get(&fx.admin, &format!("partners/{pid}/stats"))
            .await
            .ok();
        assert_eq!(n(&stats["points_accrued"]), acc, "{pid}");
        assert_eq!(n(&stats["points_redeemed"]), red, "{pid}");
    }
    assert_eq!(fx.assert_audit_clean().await, 3);
}

// ---------------------------------------------------------------------------- partners

#[tokio::test]
async fn pending_and_suspended_partners_are_refused() {
    let fx = fx_with(|c| c.loyalty.welcome_bonus = 100).await;
    let approved = fx.partner("approved", json!({})).await;
    fx.join(&approved, "tg-1").await;

    let created = fx
        .post(
            &fx.admin,
            "admin/partners",
            json!({"partner_id": "newcafe", "name": "New café", "telegram_chat_id": 4242}),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED);
    assert_eq!(created.body["status"], "pending");
    let duplicate = fx
        .post(
            &fx.admin,
            "admin/partners",
            json!({"partner_id": "newcafe", "name": "Again"}),
        )
        .await;
    assert_eq!(duplicate.code(), "partner_exists");
    let key = issue(
        &fx.env,
        &fx.tenant,
        Role::Partner {
            partner_id: "newcafe".into(),
        },
    )
    .await;

    // Pending: may see its own status, may not touch the ledger.
    assert_eq!(fx.get(&key, "partner").await.ok()["status"], "pending");
    let refused = fx.accrue(&key, "tg-1", "R-1", 1_000).await;
    assert_eq!(
        (refused.status, refused.code()),
        (StatusCode::FORBIDDEN, "partner_pending")
    );
    assert_eq!(
        fx.redeem(&key, "tg-1", "R-1", 1_000, 10).await.code(),
        "partner_pending"
    );
    assert_eq!(
        fx.get(&key, "balance?contact_id=tg-1").await.code(),
        "partner_pending"
    );
    assert_eq!(fx.ledger("tg-1").await, (100, 1), "nothing applied");
    // It may propose a service, which waits for moderation too.
    let service = fx
        .post(&key, "partner/services", json!({"name": "Latte art class"}))
        .await;
    assert_eq!(service.status, StatusCode::CREATED);
    let service_id = service.body["service_id"].as_str().unwrap().to_owned();

    let pending = fx
        .get(&fx.admin, "admin/partners?status=pending")
        .await
        .ok();
    let ids: Vec<&str> = pending["partners"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["partner_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["newcafe"]);

    // Only the admin moderates.
    let by_partner = fx
        .post(&approved, "admin/partners/newcafe/approve", json!({}))
        .await;
    assert_eq!(
        (by_partner.status, by_partner.code()),
        (StatusCode::FORBIDDEN, "role_not_allowed")
    );
    let approval = fx
        .post(&fx.admin, "admin/partners/newcafe/approve", json!({}))
        .await
        .ok();
    assert_eq!(approval["status"], "active");
    assert_eq!(approval["changed"], true);
    let svc = fx
        .post(
            &fx.admin,
            &format!("admin/partners/newcafe/services/{service_id}/approve"),
            json!({}),
        )
        .await
        .ok();
    assert_eq!(svc["services"][0]["status"], "active");
    assert_eq!(
        fx.accrue(&key, "tg-1", "R-1", 1_000).await.ok()["balance"],
        150
    );

    let suspended = fx
        .post(&fx.admin, "admin/partners/newcafe/suspend", json!({}))
        .await
        .ok();
    assert_eq!(suspended["status"], "suspended");
    assert_eq!(
        fx.accrue(&key, "tg-1", "R-2", 1_000).await.code(),
        "partner_suspended"
    );
    let invalid = fx
        .post(&fx.admin, "admin/partners/newcafe/reject", json!({}))
        .await;
    assert_eq!(
        (invalid.status, invalid.code()),
        (StatusCode::CONFLICT, "invalid_transition")
    );
    assert_eq!(
        fx.post(&fx.admin, "admin/partners/newcafe/delete", json!({}))
            .await
            .code(),
        "invalid_action"
    );
    assert_eq!(
        fx.post(&fx.admin, "admin/partners/ghost/approve", json!({}))
            .await
            .code(),
        "unknown_partner"
    );

    // The partner's settings: a cashback override and its removal.
    let patched = send(
        &fx.deps,
        request(
            "PATCH",
            &fx.tenant,
            "admin/partners/approved",
            Some(&fx.admin),
            Some(&fresh_key()),
            Some(&json!({"cashback_bp": 1_000})),
        ),
    )
    .await
    .ok();
    assert_eq!(patched["cashback_bp"], 1_000);
    assert_eq!(
        n(&fx.accrue(&approved, "tg-1", "Q-1", 1_000).await.ok()["points"]),
        100
    );

    // The partner heard about approval and suspension in Telegram, once each.
    let notices: Vec<Value> = fx
        .env
        .receive_all("NotifyQueue")
        .await
        .iter()
        .map(|m| serde_json::from_str(m.body().unwrap()).unwrap())
        .collect();
    let about_newcafe: Vec<&Value> = notices
        .iter()
        .filter(|n| {
            n["notice"]["id"]
                .as_str()
                .unwrap_or("")
                .starts_with("partner:newcafe:")
        })
        .collect();
    assert_eq!(about_newcafe.len(), 2, "{notices:?}");
    assert!(about_newcafe
        .iter()
        .all(|n| n["notice"]["to"]["chat_ids"] == json!([4242])));
}

#[tokio::test]
async fn keys_never_cross_tenants() {
    let a = fx().await;
    let b_tenant = a
        .env
        .tenant_with(|c| c.loyalty.enabled = true, TenantSecrets::default())
        .await;
    let a_key = a.partner("shop", json!({})).await;
    a.join(&a_key, "tg-1").await;
    // Tenant B has a partner with the same id and a member with the same contact id.
    let b_admin = issue(&a.env, &b_tenant, Role::Admin).await;
    let b_key = issue(
        &a.env,
        &b_tenant,
        Role::Partner {
            partner_id: "shop".into(),
        },
    )
    .await;

    let on_b = |key: &str, path: &str, body: Value| {
        send(
            &a.deps,
            request(
                "POST",
                &b_tenant,
                path,
                Some(key),
                Some(&fresh_key()),
                Some(&body),
            ),
        )
    };
    let crossed = on_b(&a_key, "join", json!({"contact_id": "tg-1"})).await;
    assert_eq!(
        (crossed.status, crossed.code()),
        (StatusCode::UNAUTHORIZED, "invalid_api_key")
    );
    let crossed = on_b(
        &a.admin,
        "admin/partners",
        json!({"partner_id": "evil", "name": "x"}),
    )
    .await;
    assert_eq!(crossed.code(), "invalid_api_key");
    let read = send(
        &a.deps,
        request(
            "GET",
            &b_tenant,
            "balance?contact_id=tg-1",
            Some(&a_key),
            None,
            None,
        ),
    )
    .await;
    assert_eq!(read.code(), "invalid_api_key");
    // And the other way round.
    let back = a.accrue(&b_key, "tg-1", "R-1", 1_000).await;
    assert_eq!(back.code(), "invalid_api_key");
    assert_eq!(a.ledger("tg-1").await, (0, 0), "nothing reached tenant A");

    let missing = send(
        &a.deps,
        request(
            "GET",
            &a.tenant,
            "balance?contact_id=tg-1",
            None,
            None,
            None,
        ),
    )
    .await;
    assert_eq!(
        (missing.status, missing.code()),
        (StatusCode::UNAUTHORIZED, "api_key_required")
    );
    let malformed = a.get("sk_not-a-key", "balance?contact_id=tg-1").await;
    assert_eq!(
        (malformed.status, malformed.code()),
        (StatusCode::UNAUTHORIZED, "invalid_api_key")
    );
    // Change the last character to a different one: a key ending in 'x' must not stay valid.
    let last = if a_key.ends_with('x') { 'y' } else { 'x' };
    let forged = format!("{}{last}", &a_key[..a_key.len() - 1]);
    assert_eq!(
        a.get(&forged, "balance?contact_id=tg-1").await.code(),
        "invalid_api_key"
    );

    // A history cursor is bound to its tenant and customer.
    for i in 0..3 {
        a.post(
            &a.admin,
            "admin/adjust",
            json!({"contact_id": "tg-1", "points": 10 + i, "reason": "goodwill"}),
        )
        .await
        .ok();
    }
    let page = a
        .get(&a.admin, "history?contact_id=tg-1&limit=1")
        .await
        .ok();
    let cursor = page["next_cursor"].as_str().unwrap().to_owned();
    // Tenant B's member tg-1 exists too, and A's cursor does not page through B's ledger.
    on_b(&b_admin, "join", json!({"contact_id": "tg-1"}))
        .await
        .ok();
    let b_history = send(
        &a.deps,
        request(
            "GET",
            &b_tenant,
            &format!("history?contact_id=tg-1&cursor={cursor}"),
            Some(&b_admin),
            None,
            None,
        ),
    )
    .await;
    assert_eq!(
        (b_history.status, b_history.code()),
        (StatusCode::BAD_REQUEST, "invalid_cursor")
    );
    a.join(&a_key, "tg-2").await;
    let other_customer = a
        .get(
            &a.admin,
            &format!("history?contact_id=tg-2&cursor={cursor}"),
        )
        .await;
    assert_eq!(
        (other_customer.status, other_customer.code()),
        (StatusCode::BAD_REQUEST, "invalid_cursor")
    );
}

#[tokio::test]
async fn roles_limit_what_a_key_may_do() {
    let fx = fx_with(|c| c.loyalty.welcome_bonus = 10).await;
    let partner = fx.partner("shop", json!({})).await;
    fx.join(&partner, "tg-1").await;
    let manager = issue(&fx.env, &fx.tenant, Role::Manager).await;
    assert_eq!(
        n(&fx.get(&manager, "balance?contact_id=tg-1").await.ok()["balance"]),
        10
    );
    let write = fx
        .post(&manager, "join", json!({"contact_id": "tg-2"}))
        .await;
    assert_eq!(
        (write.status, write.code()),
        (StatusCode::FORBIDDEN, "role_not_allowed")
    );
    assert_eq!(
        fx.accrue(&fx.admin, "tg-1", "R-1", 100).await.code(),
        "role_not_allowed",
        "accrual is a partner's act"
    );
    assert_eq!(
        fx.get(&partner, "admin/partners").await.code(),
        "role_not_allowed"
    );
    let adjust = fx
        .post(
            &partner,
            "admin/adjust",
            json!({"contact_id": "tg-1", "points": 5, "reason": "x"}),
        )
        .await;
    assert_eq!(adjust.code(), "role_not_allowed");

    // The admin corrects balances, with the reason on the ledger, never below zero.
    let credit = fx
        .post(
            &fx.admin,
            "admin/adjust",
            json!({"contact_id": "tg-1", "points": 40, "reason": "complaint #12"}),
        )
        .await
        .ok();
    assert_eq!(n(&credit["balance"]), 50);
    let debit = fx
        .post(
            &fx.admin,
            "admin/adjust",
            json!({"contact_id": "tg-1", "points": -20, "reason": "reversed purchase"}),
        )
        .await
        .ok();
    assert_eq!(n(&debit["balance"]), 30);
    assert_eq!(
        fx.post(
            &fx.admin,
            "admin/adjust",
            json!({"contact_id": "tg-1", "points": -31, "reason": "too much"})
        )
        .await
        .code(),
        "insufficient_points"
    );
    let history = fx.get(&manager, "history?contact_id=tg-1").await.ok();
    assert_eq!(history["entries"][0]["reason"], "reversed purchase");
    assert_eq!(history["entries"][0]["kind"], "adjust");
    assert_eq!(fx.counters().await[metric::LOYALTY_ADJUSTED], 20);

    // A tenant that has not enabled the programme answers with a stable code.
    let off = fx.env.tenant_with(|_| {}, TenantSecrets::default()).await;
    let off_admin = issue(&fx.env, &off, Role::Admin).await;
    let disabled = send(
        &fx.deps,
        request(
            "GET",
            &off,
            "balance?contact_id=tg-1",
            Some(&off_admin),
            None,
            None,
        ),
    )
    .await;
    assert_eq!(
        (disabled.status, disabled.code()),
        (StatusCode::FORBIDDEN, "loyalty_disabled")
    );
}

#[tokio::test]
async fn mutations_are_rate_limited_per_key() {
    let fx = fx_with(|c| {
        c.loyalty.rate_limit_per_minute = 3;
        c.loyalty.welcome_bonus = 10;
    })
    .await;
    let key = fx.partner("shop", json!({})).await;
    // Stay inside one one-minute window.
    let second = (sauda_shared::now_ms() / 1000) % 60;
    if second > 50 {
        tokio::time::sleep(std::time::Duration::from_secs(61 - second as u64)).await;
    }
    fx.post_idem(&key, "join", "j-1", json!({"contact_id": "tg-1"}))
        .await
        .ok();
    fx.accrue(&key, "tg-1", "R-1", 1_000).await.ok();
    // Refused requests count too: spamming impossible redemptions is limited as well.
    let refused = fx.redeem(&key, "tg-1", "R-2", 10_000, 5_000).await;
    assert_eq!(refused.code(), "insufficient_points");
    let limited = fx.accrue(&key, "tg-1", "R-3", 1_000).await;
    assert_eq!(
        (limited.status, limited.code()),
        (StatusCode::TOO_MANY_REQUESTS, "rate_limited")
    );
    assert!(limited.headers.contains_key("retry-after"));
    assert_eq!(
        fx.redeem(&key, "tg-1", "R-4", 10_000, 5_000).await.code(),
        "rate_limited"
    );
    assert_eq!(
        fx.ledger("tg-1").await,
        (60, 2),
        "the limited requests applied nothing"
    );
    // A retry of an accepted request is still answered: it changes nothing.
    let replay = fx
        .post_idem(&key, "join", "j-1", json!({"contact_id": "tg-1"}))
        .await;
    assert_eq!(replay.status, StatusCode::CREATED);
    // Reads are not limited.
    fx.get(&key, "balance?contact_id=tg-1").await.ok();
}

// ---------------------------------------------------------------------------- expiry

#[tokio::test]
async fn expiry_takes_the_oldest_points_first() {
    let fx = fx_with(|c| {
        c.loyalty.expiry_days = Some(30);
        c.loyalty.welcome_bonus = 100;
        c.loyalty.max_redeem_percent = 100;
    })
    .await;
    let key = fx.partner("shop", json!({})).await;
    let day = |offset: i64| stats::local_day("UTC", sauda_shared::now_ms() + offset * 86_400_000);

    // Day 0: welcome 100. Day 10: +50. Day 15: −120, which eats day 0's points first.
    let joined = fx.join(&key, "tg-1").await;
    assert_eq!(joined["expires_on"], day(30));
    fx.shift.days(10);
    let accrued = fx.accrue(&key, "tg-1", "R-1", 1_000).await.ok();
    assert_eq!(accrued["expires_on"], day(40));
    fx.shift.days(15);
    fx.redeem(&key, "tg-1", "R-2", 1_000, 120).await.ok();
    // Left: 30 from day 10 (100 from day 0 and 20 from day 10 are spent).
    let balance = fx.get(&key, "balance?contact_id=tg-1").await.ok();
    assert_eq!(balance["expiring"], json!([{"on": day(40), "points": 30}]));
    // Another member keeps day-0 points to lose.
    fx.shift.days(0);
    fx.join(&key, "tg-2").await;

    let store = fx.deps.store.clone();
    let config = loyalty_config(&fx).await;
    // Day 29: nothing is due yet.
    fx.shift.days(29);
    let early = loyalty::expiry::expire_tenant(&store, &config, store.now_ms())
        .await
        .unwrap();
    assert_eq!(early.points_expired, 0);
    // Day 30: tg-2's welcome points expire; tg-1 spent its day-0 points already.
    fx.shift.days(30);
    let (done, failed) =
        loyalty::expiry::run_all(&store, fx.deps.api.tenants.as_ref(), store.now_ms()).await;
    assert!(failed.is_empty(), "{failed:?}");
    let run = done
        .iter()
        .find(|r| r.tenant == fx.tenant.as_str())
        .unwrap();
    assert_eq!((run.accounts_expired, run.points_expired), (1, 100));
    assert_eq!(fx.balance_attr("tg-2").await, 0);
    assert_eq!(fx.balance_attr("tg-1").await, 30);
    // Running again the same day changes nothing.
    let again = loyalty::expiry::expire_tenant(&store, &config, store.now_ms())
        .await
        .unwrap();
    assert_eq!(again.points_expired, 0);
    // Day 40: what is left of day 10's credit expires.
    fx.shift.days(40);
    let later = loyalty::expiry::expire_tenant(&store, &config, store.now_ms())
        .await
        .unwrap();
    assert_eq!((later.accounts_expired, later.points_expired), (1, 30));
    assert_eq!(fx.balance_attr("tg-1").await, 0);
    let history = fx.get(&key, "history?contact_id=tg-1").await.ok();
    let newest = &history["entries"][0];
    assert_eq!(
        (
            newest["kind"].as_str(),
            n(&newest["points"]),
            n(&newest["balance_after"])
        ),
        (Some("expire"), -30, 0)
    );
    for member in ["tg-1", "tg-2"] {
        assert_eq!(
            fx.ledger(member).await.0,
            0,
            "history and balance agree for {member}"
        );
        let account = fx.account(member).await.unwrap();
        assert_eq!(
            account.gsi1pk, None,
            "nothing left to expire: out of the index"
        );
    }
    let expired_day30 = fx.env.counters(&fx.tenant, &day(30)).await;
    assert_eq!(expired_day30[metric::LOYALTY_EXPIRED], 100);
    fx.assert_audit_clean().await;
}

async fn loyalty_config(fx: &Fx) -> TenantConfig {
    sauda_infra::tenant::read_config(&fx.env.clients.dynamo, &fx.env.stack.table, &fx.tenant)
        .await
        .unwrap()
}

// ---------------------------------------------------------------------------- pagination

#[tokio::test]
async fn history_pages_with_a_cursor() {
    let fx = fx().await;
    let key = fx.partner("shop", json!({})).await;
    fx.join(&key, "tg-1").await;
    for i in 0..25 {
        fx.accrue(&key, "tg-1", &format!("R-{i:02}"), 1_000 + i)
            .await
            .ok();
    }
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = Vec::new();
    loop {
        let path = match &cursor {
            Some(c) => format!("history?contact_id=tg-1&limit=10&cursor={c}"),
            None => "history?contact_id=tg-1&limit=10".to_owned(),
        };
        let page = fx.get(&key, &path).await.ok();
        let entries = page["entries"].as_array().unwrap().clone();
        pages.push(entries.len());
        seen.extend(entries);
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    assert_eq!(&pages[..3], [10, 10, 5]);
    assert_eq!(seen.len(), 25);
    let refs: Vec<&str> = seen
        .iter()
        .map(|e| e["purchase_ref"].as_str().unwrap())
        .collect();
    let mut expected: Vec<String> = (0..25).rev().map(|i| format!("R-{i:02}")).collect();
    assert_eq!(
        refs,
        expected.iter_mut().map(|s| s.as_str()).collect::<Vec<_>>(),
        "newest first, each once"
    );
    let balances: Vec<i64> = seen.iter().map(|e| n(&e["balance_after"])).collect();
    assert!(
        balances.windows(2).all(|w| w[0] > w[1]),
        "running balances descend"
    );

    assert_eq!(
        fx.get(&key, "history?contact_id=tg-1&limit=0").await.code(),
        "invalid_limit"
    );
    assert_eq!(
        fx.get(&key, "history?contact_id=tg-1&limit=101")
            .await
            .code(),
        "invalid_limit"
    );
    assert_eq!(
        fx.get(&key, "history?contact_id=tg-1&cursor=%%%")
            .await
            .code(),
        "invalid_cursor"
    );
    assert_eq!(
        fx.get(&key, "history?contact_id=tg-1&cursor=bm9wZQ")
            .await
            .code(),
        "invalid_cursor"
    );
}

// ---------------------------------------------------------------------------- bad input

#[tokio::test]
async fn bad_input_gets_stable_codes_and_applies_nothing() {
    let fx = fx_with(|c| c.loyalty.welcome_bonus = 100).await;
    let key = fx.partner("shop", json!({})).await;
    fx.join(&key, "tg-1").await;
    let accrue = |patch: Value| {
        let mut body = json!({"contact_id": "tg-1", "purchase_ref": "R-1", "amount_minor": 1_000, "currency": CURRENCY});
        for (k, v) in patch.as_object().unwrap() {
            if v.is_null() {
                body.as_object_mut().unwrap().remove(k);
            } else {
                body[k] = v.clone();
            }
        }
        body
    };
    let cases: Vec<(&str, Value, StatusCode, &str)> = vec![
        (
            "accrue",
            accrue(json!({"contact_id": "tg-404"})),
            StatusCode::NOT_FOUND,
            "unknown_customer",
        ),
        (
            "accrue",
            accrue(json!({"contact_id": null, "phone": "+77015550000"})),
            StatusCode::NOT_FOUND,
            "unknown_customer",
        ),
        (
            "accrue",
            accrue(json!({"amount_minor": 0})),
            StatusCode::BAD_REQUEST,
            "amount_not_positive",
        ),
        (
            "accrue",
            accrue(json!({"amount_minor": -500})),
            StatusCode::BAD_REQUEST,
            "amount_not_positive",
        ),
        (
            "accrue",
            accrue(json!({"amount_minor": 10_000_000_000_000_i64})),
            StatusCode::BAD_REQUEST,
            "amount_out_of_range",
        ),
        (
            "accrue",
            accrue(json!({"amount_minor": 12.5})),
            StatusCode::BAD_REQUEST,
            "amount_not_integer",
        ),
        (
            "accrue",
            accrue(json!({"amount_minor": "1000"})),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_body",
        ),
        (
            "accrue",
            accrue(json!({"currency": "USD"})),
            StatusCode::UNPROCESSABLE_ENTITY,
            "currency_mismatch",
        ),
        (
            "accrue",
            accrue(json!({"currency": "tenge"})),
            StatusCode::BAD_REQUEST,
            "invalid_currency",
        ),
        (
            "accrue",
            accrue(json!({"purchase_ref": null})),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_body",
        ),
        (
            "accrue",
            accrue(json!({"purchase_ref": "a#b"})),
            StatusCode::BAD_REQUEST,
            "invalid_purchase_ref",
        ),
        (
            "accrue",
            accrue(json!({"bonus": 5})),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_body",
        ),
        (
            "accrue",
            accrue(json!({"contact_id": "TG 1"})),
            StatusCode::BAD_REQUEST,
            "invalid_contact_id",
        ),
        (
            "accrue",
            accrue(json!({"phone": "+77011234567"})),
            StatusCode::BAD_REQUEST,
            "ambiguous_customer",
        ),
        (
            "accrue",
            accrue(json!({"contact_id": null, "phone": "call me"})),
            StatusCode::BAD_REQUEST,
            "invalid_phone",
        ),
        (
            "accrue",
            accrue(json!({"contact_id": null})),
            StatusCode::BAD_REQUEST,
            "customer_required",
        ),
        (
            "redeem",
            accrue(json!({"points": 0})),
            StatusCode::BAD_REQUEST,
            "points_not_positive",
        ),
        (
            "redeem",
            accrue(json!({"points": -3})),
            StatusCode::BAD_REQUEST,
            "points_not_positive",
        ),
        (
            "redeem",
            accrue(json!({"points": 400})),
            StatusCode::UNPROCESSABLE_ENTITY,
            "insufficient_points",
        ),
        (
            "redeem",
            accrue(json!({"points": 600})),
            StatusCode::UNPROCESSABLE_ENTITY,
            "redeem_limit_exceeded",
        ),
        (
            "join",
            json!({"referral_code": "ABCDEFGH"}),
            StatusCode::BAD_REQUEST,
            "customer_required",
        ),
        (
            "join",
            json!({"contact_id": "tg-5", "referral_code": "!!"}),
            StatusCode::BAD_REQUEST,
            "invalid_referral_code",
        ),
        (
            "nps",
            json!({"contact_id": "tg-1", "purchase_ref": "R-1", "score": -1}),
            StatusCode::BAD_REQUEST,
            "invalid_score",
        ),
    ];
    for (path, body, status, code) in cases {
        let reply = fx.post(&key, path, body.clone()).await;
        assert_eq!(
            (reply.status, reply.code()),
            (status, code),
            "{path} {body}: {}",
            reply.body
        );
        assert!(reply.body["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()));
    }
    let raw = |body: &'static str| {
        Request::post(format!("/t/{}/loyalty/accrue", fx.tenant))
            .header("authorization", format!("Bearer {key}"))
            .header("idempotency-key", fresh_key())
            .body(Body::from(body))
            .unwrap()
    };
    let malformed = send(&fx.deps, raw("{not json")).await;
    assert_eq!(
        (malformed.status, malformed.code()),
        (StatusCode::BAD_REQUEST, "malformed_json")
    );
    // One empty-body rule: an empty body is `{}`, which lacks the required fields.
    let empty = send(&fx.deps, raw("")).await;
    assert_eq!(
        (empty.status, empty.code()),
        (StatusCode::UNPROCESSABLE_ENTITY, "invalid_body")
    );
    let huge = format!(
        "{{\"contact_id\":\"tg-1\",\"pad\":\"{}\"}}",
        "x".repeat(70_000)
    );
    let too_big = send(
        &fx.deps,
        request(
            "POST",
            &fx.tenant,
            "accrue",
            Some(&key),
            Some(&fresh_key()),
            Some(&Value::String(huge)),
        ),
    )
    .await;
    assert_eq!(
        (too_big.status, too_big.code()),
        (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large")
    );
    let unknown_tenant = send(
        &fx.deps,
        request(
            "GET",
            &TenantId::parse("zz-none").unwrap(),
            "balance?contact_id=tg-1",
            Some(&key),
            None,
            None,
        ),
    )
    .await;
    assert_eq!(
        (unknown_tenant.status, unknown_tenant.code()),
        (StatusCode::NOT_FOUND, "tenant_not_found")
    );
    let no_route = send(
        &fx.deps,
        request("GET", &fx.tenant, "nowhere", Some(&key), None, None),
    )
    .await;
    assert_eq!(
        (no_route.status, no_route.code()),
        (StatusCode::NOT_FOUND, "route_not_found")
    );

    // Nothing of the above was applied.
    assert_eq!(fx.ledger("tg-1").await, (100, 1));
    assert!(fx.account("tg-5").await.is_none());
    let c = fx.counters().await;
    assert_eq!(c.get(metric::LOYALTY_ACCRUED), None);
    assert_eq!(c.get(metric::LOYALTY_REDEEMED), None);
}

// ---------------------------------------------------------------------------- call budget

#[tokio::test]
async fn one_transaction_and_one_read_per_operation() {
    let fx = fx_with(|c| {
        c.loyalty.welcome_bonus = 500;
        c.loyalty.max_redeem_percent = 100;
    })
    .await;
    let key = fx.partner("shop", json!({})).await;
    // Warm the API-key and tenant caches, as a warm Lambda has them.
    fx.get(&key, "partner").await.ok();

    let measure = |calls: &AwsCallCounter| {
        let snapshot = calls.snapshot();
        calls.reset();
        snapshot
    };
    let calls = |pairs: &[(&str, usize)]| -> BTreeMap<String, usize> {
        pairs
            .iter()
            .map(|(op, n)| (format!("DynamoDB.{op}"), *n))
            .collect()
    };
    // The README's figure for accrue, redeem, refund and join.
    let budget = calls(&[("BatchGetItem", 1), ("TransactWriteItems", 1)]);
    fx.calls.reset();
    fx.join(&key, "tg-1").await;
    assert_eq!(measure(&fx.calls), budget, "join by contact id");
    fx.post(&key, "join", json!({"phone": "+77011112233"}))
        .await
        .ok();
    assert_eq!(measure(&fx.calls), budget, "join by phone");
    fx.accrue(&key, "tg-1", "R-1", 1_000).await.ok();
    assert_eq!(measure(&fx.calls), budget, "accrue by contact id");
    fx.post(&key, "accrue", json!({"phone": "87011112233", "purchase_ref": "R-2", "amount_minor": 1_000, "currency": CURRENCY}))
        .await
        .ok();
    assert_eq!(measure(&fx.calls), budget, "accrue by phone");
    fx.redeem(&key, "tg-1", "R-3", 1_000, 100).await.ok();
    assert_eq!(measure(&fx.calls), budget, "redeem");
    fx.post(
        &key,
        "refund",
        json!({"contact_id": "tg-1", "purchase_ref": "R-1"}),
    )
    .await
    .ok();
    assert_eq!(measure(&fx.calls), budget, "refund");
    let body = json!({"contact_id": "tg-1", "purchase_ref": "R-4", "amount_minor": 1_000, "currency": CURRENCY});
    fx.post_idem(&key, "accrue", "replay-me", body.clone())
        .await
        .ok();
    measure(&fx.calls);
    fx.post_idem(&key, "accrue", "replay-me", body).await.ok();
    assert_eq!(
        measure(&fx.calls),
        calls(&[("BatchGetItem", 1)]),
        "a replay is one read"
    );
    // A refusal is counted in the key's window: one read, one write on the window.
    let refused = fx.redeem(&key, "tg-1", "R-5", 100_000, 50_000).await;
    assert_eq!(refused.code(), "insufficient_points");
    assert_eq!(
        measure(&fx.calls),
        calls(&[("BatchGetItem", 1), ("UpdateItem", 1)]),
        "a refusal"
    );
    fx.get(&key, "balance?contact_id=tg-1").await.ok();
    assert_eq!(measure(&fx.calls), calls(&[("BatchGetItem", 1)]), "balance");
    fx.get(&key, "history?contact_id=tg-1").await.ok();
    assert_eq!(
        measure(&fx.calls),
        calls(&[("BatchGetItem", 1), ("Query", 1)]),
        "history"
    );
    fx.get(&key, "partners/shop/stats").await.ok();
    assert_eq!(measure(&fx.calls), calls(&[("BatchGetItem", 1)]), "stats");
    let refused = fx.accrue(&key, "tg-1", "R-6", 0).await;
    assert_eq!(refused.code(), "amount_not_positive");
    assert_eq!(measure(&fx.calls), calls(&[]), "bad input costs no call");
}

// ---------------------------------------------------------------------------- tenant status

#[tokio::test]
async fn a_suspended_tenant_is_not_found_on_every_route() {
    let fx = fx().await;
    let key = fx.partner("shop", json!({})).await;
    let suspended = fx
        .env
        .tenant_with(|c| c.loyalty.enabled = true, TenantSecrets::default())
        .await;
    let admin = issue(&fx.env, &suspended, Role::Admin).await;
    sauda_infra::tenant::set_tenant_status(
        &fx.env.clients.dynamo,
        &fx.env.stack.table,
        &suspended,
        sauda_shared::tenant::TenantStatus::Suspended,
    )
    .await
    .unwrap();
    let routes = [
        ("POST", "join"),
        ("POST", "accrue"),
        ("POST", "redeem"),
        ("POST", "refund"),
        ("POST", "nps"),
        ("POST", "referral-code"),
        ("GET", "balance?contact_id=tg-1"),
        ("GET", "history?contact_id=tg-1"),
        ("GET", "customers/lookup?phone=%2B77011234567"),
        ("GET", "partner"),
        ("POST", "partner/services"),
        ("GET", "partners/shop/stats"),
        ("GET", "admin/partners"),
        ("POST", "admin/partners"),
        ("PATCH", "admin/partners/shop"),
        ("POST", "admin/partners/shop/approve"),
        ("POST", "admin/partners/shop/services/svc-1/approve"),
        ("POST", "admin/adjust"),
    ];
    for (method, path) in routes {
        for presented in [Some(admin.as_str()), Some(key.as_str()), None] {
            let reply = send(
                &fx.deps,
                request(
                    method,
                    &suspended,
                    path,
                    presented,
                    Some(&fresh_key()),
                    Some(&json!({"contact_id": "tg-1"})),
                ),
            )
            .await;
            assert_eq!(
                (reply.status, reply.code()),
                (StatusCode::NOT_FOUND, "tenant_suspended"),
                "{method} {path} with {presented:?}"
            );
        }
    }
    assert!(fx.env.contact_items(&suspended).await.is_empty());
}

// ---------------------------------------------------------------------------- overflow

/// A member as it is stored, with `balance` points credited on one day and one ledger
/// entry saying so (the books are consistent; the numbers are just large).
async fn seed_member(fx: &Fx, contact: &str, balance: i64, referred_by: Option<&str>) {
    let (pk, sk) = account_key(&fx.tenant, contact);
    let mut account = Account {
        pk: pk.clone(),
        sk,
        contact: contact.to_owned(),
        rev: 1,
        created_ms: 1,
        updated_ms: 1,
        referred_by: referred_by.map(str::to_owned),
        ..Default::default()
    };
    let mut books = account.ledger();
    books.credit("2020-01-01", balance).unwrap();
    account.set_ledger(books);
    let entry = seed_entry(fx, &account, balance);
    fx.env.put(account).await;
    if balance > 0 {
        fx.env.put(entry).await;
    }
}

/// A ledger entry of `points` on `account` as the ledger writes one.
fn seed_entry(fx: &Fx, account: &Account, points: i64) -> loyalty::model::LedgerEntry {
    let draft =
        loyalty::ops::EntryDraft::plain(loyalty::model::EntryKind::Adjust, points, "seed".into());
    let mut entry = draft.build(&fx.tenant, account, 1);
    entry.balance_after = points;
    entry
}

#[tokio::test]
async fn points_and_balances_never_overflow() {
    let fx = fx_with(|c| c.loyalty.welcome_bonus = 100).await;
    let key = fx.partner("shop", json!({})).await;
    fx.join(&key, "tg-1").await;
    let adjust =
        |points: Value| json!({"contact_id": "tg-1", "points": points, "reason": "correction"});

    // i64::MIN has no absolute value: `abs()` panicked in debug builds and let it
    // through in release, writing an entry the balance never saw.
    for points in [json!(i64::MIN), json!(i64::MIN + 1), json!(i64::MAX)] {
        let reply = fx
            .post(&fx.admin, "admin/adjust", adjust(points.clone()))
            .await;
        assert_eq!(
            (reply.status, reply.code()),
            (StatusCode::BAD_REQUEST, "points_out_of_range"),
            "{points}"
        );
    }
    assert_eq!(fx.ledger("tg-1").await, (100, 1), "no entry was written");
    assert_eq!(fx.balance_attr("tg-1").await, 100);

    // A balance at the top of the range takes no more, and refuses whole: no entry,
    // no counter, no purchase booked.
    let near = i64::MAX - 10;
    seed_member(&fx, "tg-rich", near, None).await;
    let accrual = fx.accrue(&key, "tg-rich", "R-1", 1_000).await;
    assert_eq!(
        (accrual.status, accrual.code()),
        (StatusCode::BAD_REQUEST, "points_out_of_range")
    );
    let over = fx
        .post(
            &fx.admin,
            "admin/adjust",
            json!({"contact_id": "tg-rich", "points": 11, "reason": "too much"}),
        )
        .await;
    assert_eq!(over.code(), "points_out_of_range");
    assert_eq!(fx.ledger("tg-rich").await, (i128::from(near), 1));
    // Exactly to the top is fine, and so is spending from there.
    let top = fx
        .post(
            &fx.admin,
            "admin/adjust",
            json!({"contact_id": "tg-rich", "points": 10, "reason": "to the top"}),
        )
        .await
        .ok();
    assert_eq!(n(&top["balance"]), i64::MAX);
    let spent = fx.redeem(&key, "tg-rich", "R-2", 2_000, 1_000).await.ok();
    assert_eq!(n(&spent["balance"]), i64::MAX - 1_000);
    assert_eq!(fx.counters().await.get(metric::LOYALTY_ACCRUED), None);

    // A referrer at the top cannot be paid a bonus: the newcomer's purchase is refused
    // whole rather than wrapping the referrer's balance.
    let fx_ref = fx_with(|c| c.loyalty.referral_bonus = 50).await;
    let shop = fx_ref.partner("shop", json!({})).await;
    seed_member(&fx_ref, "tg-top", i64::MAX - 10, None).await;
    seed_member(&fx_ref, "tg-new", 0, Some("tg-top")).await;
    let first = fx_ref.accrue(&shop, "tg-new", "R-1", 1_000).await;
    assert_eq!(first.code(), "points_out_of_range");
    assert_eq!(fx_ref.ledger("tg-new").await, (0, 0));

    fx.assert_audit_clean().await;
    fx_ref.assert_audit_clean().await;
}

#[tokio::test]
async fn refunds_and_audits_never_wrap() {
    let fx = fx().await;
    let key = fx.partner("shop", json!({})).await;
    fx.join(&key, "tg-1").await;
    // A purchase record whose figures do not fit a subtraction (a corrupt item).
    let (pk, sk) = loyalty::model::purchase_key(&fx.tenant, "shop", "R-9");
    fx.env
        .put(loyalty::model::Purchase {
            pk,
            sk,
            contact: "tg-1".into(),
            accrue_entry: Some("01J".into()),
            accrue_amount_minor: i64::MAX,
            accrue_points: 10,
            refunded_minor: -1,
            ..Default::default()
        })
        .await;
    let refund = fx
        .post(
            &key,
            "refund",
            json!({"contact_id": "tg-1", "purchase_ref": "R-9"}),
        )
        .await;
    assert_eq!(
        (refund.status, refund.code()),
        (StatusCode::BAD_REQUEST, "amount_out_of_range")
    );
    assert_eq!(fx.ledger("tg-1").await, (0, 0));

    // Ledger entries whose sum leaves the i64 range: the audit reports, never panics.
    seed_member(&fx, "tg-2", i64::MAX, None).await;
    let duplicate = seed_entry(&fx, &fx.account("tg-2").await.unwrap(), i64::MAX);
    fx.env.put(duplicate).await;
    assert_eq!(fx.ledger("tg-2").await, (2 * i128::from(i64::MAX), 2));
    let (_, findings) = loyalty::views::audit(fx.store().as_ref(), &fx.tenant)
        .await
        .unwrap();
    assert_eq!(findings.len(), 1, "{findings:?}");
    assert_eq!(findings[0].contact, "tg-2");
    assert_eq!(findings[0].ledger_sum, 2 * i128::from(i64::MAX));
}

// ---------------------------------------------------------------------------- logs

#[derive(Clone, Default)]
struct LogBuffer(Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for LogBuffer {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn logs_name_members_by_digest_only() {
    use lambda_runtime::tracing::subscriber::util::SubscriberInitExt;
    let fx = fx_with(|c| c.loyalty.referral_bonus = 50).await;
    let key = fx.partner("shop", json!({})).await;
    // A member (named by phone) whose referrer's account is gone: the ledger logs it.
    seed_member(&fx, "wa-77019990011", 0, Some("wa-77015550099")).await;
    let logs = LogBuffer::default();
    let writer = logs.clone();
    let subscriber = lambda_runtime::tracing::subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_max_level(lambda_runtime::tracing::Level::INFO)
        .with_ansi(false)
        .finish();
    let guard = subscriber.set_default();
    fx.post(
        &key,
        "accrue",
        json!({"phone": "+77019990011", "purchase_ref": "R-1", "amount_minor": 1_000, "currency": CURRENCY}),
    )
    .await
    .ok();
    drop(guard);
    let logged = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    assert!(
        logged.contains("referrer has no account"),
        "the line under test was logged: {logged}"
    );
    for secret in ["7701999", "7701555"] {
        assert!(
            !logged.contains(secret),
            "a phone number in the logs: {logged}"
        );
    }
    assert!(logged.contains(&sauda_shared::redact::contact(&fx.tenant, "wa-77015550099")));
}

// ---------------------------------------------------------------------------- operator CLI and template

#[tokio::test]
async fn operator_cli_onboards_and_moderates_partners() {
    use sauda_infra::loyalty_cli::{
        self as cli, LoyaltyCommand, ModerateArgs, PartnerCommand, PartnerKeyCommand,
    };
    let fx = fx_with(|c| {
        c.loyalty.expiry_days = Some(30);
        c.loyalty.welcome_bonus = 10;
    })
    .await;
    let ctx = sauda_infra::cli::CliContext {
        sdk: fx.env.sdk.clone(),
        clients: fx.env.clients.clone(),
        stage: fx.env.stage().to_owned(),
        table: fx.env.stack.table.clone(),
        region: REGION.to_owned(),
    };
    let t = fx.tenant.to_string();
    let partner = |cmd| LoyaltyCommand::Partner(cmd);
    cli::run(
        &ctx,
        partner(PartnerCommand::Create {
            tenant: t.clone(),
            partner_id: "bakery".into(),
            name: "Bakery".into(),
            kind: Some("bakery".into()),
            telegram_chat_id: None,
            cashback_bp: Some(300),
        }),
    )
    .await
    .unwrap();
    let store = fx.store();
    let stored = || {
        let (store, tenant) = (store.clone(), fx.tenant.clone());
        async move {
            ledger::get::<sauda_shared::partner::Partner>(
                store.as_ref(),
                &sauda_shared::keys::partner(&tenant, "bakery"),
            )
            .await
            .unwrap()
            .unwrap()
        }
    };
    assert_eq!(
        stored().await.status,
        sauda_shared::partner::PartnerStatus::Pending
    );
    let moderate = || ModerateArgs {
        tenant: t.clone(),
        partner_id: "bakery".into(),
        notify_queue_url: Some(fx.env.queue_url("NotifyQueue")),
    };
    cli::run(&ctx, partner(PartnerCommand::Approve(moderate())))
        .await
        .unwrap();
    assert!(stored().await.is_active());
    cli::run(
        &ctx,
        partner(PartnerCommand::Update {
            tenant: t.clone(),
            partner_id: "bakery".into(),
            name: None,
            kind: None,
            telegram_chat_id: Some(777),
            clear_telegram_chat_id: false,
            cashback_bp: None,
            clear_cashback: true,
        }),
    )
    .await
    .unwrap();
    assert_eq!(stored().await.cashback_bp, None);
    assert_eq!(stored().await.telegram_chat_id, Some(777));
    cli::run(&ctx, partner(PartnerCommand::Suspend(moderate())))
        .await
        .unwrap();
    let notices = fx.env.receive_all("NotifyQueue").await;
    assert_eq!(
        notices.len(),
        1,
        "the suspension reached the partner's chat"
    );
    assert!(notices[0].body().unwrap().contains("777"));
    cli::run(&ctx, partner(PartnerCommand::Approve(moderate())))
        .await
        .unwrap();

    let issue_for = |pid: &str| {
        partner(PartnerCommand::Key(PartnerKeyCommand::Issue {
            tenant: t.clone(),
            partner_id: pid.into(),
            label: "till 1".into(),
        }))
    };
    cli::run(&ctx, issue_for("bakery")).await.unwrap();
    let keys = ApiKeyStore::new(fx.env.clients.dynamo.clone(), &fx.env.stack.table)
        .list(&fx.tenant)
        .await
        .unwrap();
    assert!(keys.iter().any(|k| k.role
        == Role::Partner {
            partner_id: "bakery".into()
        }));
    assert!(
        cli::run(&ctx, issue_for("ghost")).await.is_err(),
        "no key for an unknown partner"
    );

    let key = fx.partner("shop", json!({})).await;
    fx.join(&key, "tg-1").await;
    let customer = cli::CustomerArgs {
        contact_id: Some("tg-1".into()),
        phone: None,
    };
    cli::run(
        &ctx,
        LoyaltyCommand::Adjust {
            tenant: t.clone(),
            customer: customer.clone(),
            points: -4,
            reason: "typo".into(),
        },
    )
    .await
    .unwrap();
    assert_eq!(fx.balance_attr("tg-1").await, 6);
    let as_of = stats::local_day("UTC", sauda_shared::now_ms() + 31 * 86_400_000);
    cli::run(
        &ctx,
        LoyaltyCommand::Expire {
            tenant: t.clone(),
            as_of: Some(as_of),
        },
    )
    .await
    .unwrap();
    assert_eq!(fx.balance_attr("tg-1").await, 0);
    cli::run(
        &ctx,
        LoyaltyCommand::Member {
            tenant: t.clone(),
            customer,
            entries: 5,
        },
    )
    .await
    .unwrap();
    cli::run(&ctx, LoyaltyCommand::Audit { tenant: t })
        .await
        .unwrap();
}

#[test]
fn the_template_declares_both_functions() {
    let template =
        sauda_infra::template::Template::load(&sauda_tests::repo_root().join("template.yaml"))
            .unwrap();
    let functions = template.functions().unwrap();
    let http = functions
        .iter()
        .find(|f| f.binary == "loyalty")
        .expect("loyalty function");
    assert!(http.sqs.is_empty() && http.schedules.is_empty());
    let expiry = functions
        .iter()
        .find(|f| f.binary == "loyalty-expiry")
        .expect("expiry function");
    assert_eq!(expiry.schedules.len(), 1);
    assert_eq!(expiry.schedules[0].expression, "rate(1 hour)");
    assert_eq!(expiry.schedules[0].input.as_deref(), Some("{}"));
}
