//! `sauda local demo`: plays a short conversation through the real local HTTP endpoints
//! and shows what was stored, queued and answered.

use crate::demo::{self, DemoTenant};
use crate::provision::Stack;
use aws_sdk_dynamodb::types::AttributeValue;
use sauda_shared::keys;
use serde_json::Value;
use std::path::PathBuf;
use std::time::Duration;

pub struct DemoUrls {
    /// The webhook function's base (`…/lambda-url/webhook`).
    pub webhook: String,
    /// `cargo lambda watch`'s address.
    pub functions: String,
    /// The fake SaaS request log.
    pub outbox: PathBuf,
    /// Where `sauda local seed` left the demo's API keys.
    pub work_dir: PathBuf,
}

type DemoResult = Result<(), Box<dyn std::error::Error>>;

pub async fn play(
    clients: &sauda_shared::aws::AwsClients,
    stack: &Stack,
    demo: &DemoTenant,
    urls: &DemoUrls,
) -> DemoResult {
    let http = reqwest::Client::new();
    let now = jiff::Timestamp::now().as_second();
    // Fresh ids per run, so each demo is a new conversation turn rather than a duplicate.
    let run = (now % 1_000_000) * 10;
    let chat_id = 700_000_001_i64;
    let wa_from = "77011234567";

    println!("\n== demo conversation for tenant {} ==", demo.tenant);
    let outbox_start = outbox_len(&urls.outbox);
    webhook_steps(&http, demo, urls, run, now, chat_id, wa_from).await?;
    await_replies(&urls.outbox, outbox_start, Duration::from_secs(90)).await;

    let keys = crate::demo_seed::load_keys(&urls.work_dir)?;
    inbox_steps(&http, demo, urls, &keys, run, now, chat_id).await?;
    let notices_start = outbox_len(&urls.outbox);
    lead_steps(&http, demo, urls, &keys, run).await?;
    loyalty_steps(&http, demo, urls, &keys, run, wa_from).await?;
    customer_chat_steps(&http, demo, urls, &keys, (run, now), wa_from).await?;
    partner_chat_steps(&http, demo, urls, run, now, wa_from).await?;
    order_steps(&http, demo, urls, &keys, run, now, (chat_id, wa_from)).await?;
    report_step(clients, stack, demo).await?;
    if let Some(link) =
        await_manager_notices(&urls.outbox, notices_start, Duration::from_secs(90)).await
    {
        open_report_link(&link).await?;
    }

    show_stored(
        clients,
        stack,
        demo,
        &[format!("tg-{chat_id}"), format!("wa-{wa_from}")],
    )
    .await?;
    show_queues(clients, stack).await
}

async fn webhook_steps(
    http: &reqwest::Client,
    demo: &DemoTenant,
    urls: &DemoUrls,
    run: i64,
    now: i64,
    chat_id: i64,
    wa_from: &str,
) -> DemoResult {
    let t = &demo.tenant;
    let base = urls.webhook.trim_end_matches('/');
    let expose = |s: &Option<sauda_shared::secrets::Secret>| {
        s.as_ref()
            .map(|s| s.expose().to_owned())
            .unwrap_or_default()
    };
    let tg_secret = expose(&demo.secrets.telegram_webhook_secret);
    let app_secret = expose(&demo.secrets.whatsapp_app_secret);
    let phone_id = demo.whatsapp_phone_number_id.clone().unwrap_or_default();
    let tg_url = format!("{base}/t/{t}/telegram");
    let question = "Здравствуйте! Сколько стоит насос Grundfos CR 10?";
    let steps: Vec<(&str, Value)> = vec![
        (
            "telegram text",
            demo::telegram_text(run as u64 + 1, run + 1, chat_id, now, question),
        ),
        (
            "telegram voice",
            demo::telegram_voice(run as u64 + 2, run + 2, chat_id, now + 1),
        ),
        (
            "telegram redelivery",
            demo::telegram_text(run as u64 + 1, run + 1, chat_id, now, question),
        ),
        (
            "telegram edited (ignored)",
            demo::telegram_edited(run as u64 + 3, run + 1, chat_id, now),
        ),
    ];
    for (label, update) in steps {
        let response = http
            .post(&tg_url)
            .header("x-telegram-bot-api-secret-token", &tg_secret)
            .json(&update)
            .send()
            .await?;
        println!(
            "  {label:<28} -> {} {}",
            response.status().as_u16(),
            response.text().await?
        );
    }
    let response = http
        .post(&tg_url)
        .header("x-telegram-bot-api-secret-token", "wrong")
        .json(&demo::telegram_text(1, 1, chat_id, now, "x"))
        .send()
        .await?;
    println!(
        "  {:<28} -> {} {}",
        "telegram wrong secret",
        response.status().as_u16(),
        response.text().await?
    );

    let wa_url = format!("{base}/t/{t}/whatsapp");
    let body = demo::whatsapp_text(
        &phone_id,
        wa_from,
        &format!("wamid.DEMO{run}"),
        now,
        "Hello! Do you deliver to Bishkek?",
    )
    .to_string();
    let response = http
        .post(&wa_url)
        .header(
            "x-hub-signature-256",
            demo::sign_whatsapp(&app_secret, &body),
        )
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await?;
    println!(
        "  {:<28} -> {} {}",
        "whatsapp text",
        response.status().as_u16(),
        response.text().await?
    );
    Ok(())
}

fn outbox_len(path: &std::path::Path) -> usize {
    std::fs::read_to_string(path)
        .map(|s| s.lines().count())
        .unwrap_or(0)
}

/// Waits until the bot has answered both customers (through the pump and agent-reply).
async fn await_replies(outbox: &std::path::Path, start: usize, timeout: Duration) {
    println!(
        "\n== waiting for the bot's answers (queue → agent-reply → fake Telegram/WhatsApp) =="
    );
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let lines: Vec<Value> = std::fs::read_to_string(outbox)
            .unwrap_or_default()
            .lines()
            .skip(start)
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect();
        let answered = |channel: &str| lines.iter().any(|l| l["channel"] == channel);
        if answered("telegram") && answered("whatsapp") {
            for line in &lines {
                let text = line["body"]["text"]
                    .as_str()
                    .or_else(|| line["body"].pointer("/text/body").and_then(Value::as_str))
                    .unwrap_or_default();
                println!(
                    "  {} → {}:\n{}\n",
                    line["channel"].as_str().unwrap_or(""),
                    line["to"],
                    indent(text)
                );
            }
            return;
        }
        if tokio::time::Instant::now() > deadline {
            println!("  no answer within {timeout:?}; see .local/watch.log and .local/pump.log");
            return;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

fn indent(text: &str) -> String {
    text.lines()
        .map(|l| format!("    │ {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

async fn show_stored(
    clients: &sauda_shared::aws::AwsClients,
    stack: &Stack,
    demo: &DemoTenant,
    contacts: &[String],
) -> DemoResult {
    println!("\n== stored (newest first) ==");
    for contact in contacts {
        let out = clients
            .dynamo
            .query()
            .table_name(&stack.table)
            .key_condition_expression("PK = :pk AND begins_with(SK, :m)")
            .expression_attribute_values(
                ":pk",
                AttributeValue::S(keys::contact_pk(&demo.tenant, contact)),
            )
            .expression_attribute_values(":m", AttributeValue::S(keys::MESSAGE_SK_PREFIX.into()))
            .scan_index_forward(false)
            .limit(6)
            .send()
            .await?;
        for item in out.items() {
            let get = |k: &str| {
                item.get(k)
                    .and_then(|v| v.as_s().ok())
                    .cloned()
                    .unwrap_or_default()
            };
            let text: String = get("text").chars().take(70).collect();
            println!(
                "  {} {} [{}] {}",
                get("PK"),
                get("SK"),
                get("kind"),
                text.replace('\n', " ")
            );
        }
    }
    Ok(())
}

async fn show_queues(clients: &sauda_shared::aws::AwsClients, stack: &Stack) -> DemoResult {
    println!("\n== queues ==");
    for (logical, q) in &stack.queues {
        let (visible, in_flight) = crate::queue_ops::depth(&clients.sqs, &q.url).await?;
        println!("  {logical:<24} visible={visible} in_flight={in_flight}");
    }
    Ok(())
}

async fn show(
    label: &str,
    response: reqwest::Response,
) -> Result<Value, Box<dyn std::error::Error>> {
    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    let mut shown = body.to_string();
    if shown.chars().count() > 160 {
        shown = shown.chars().take(157).collect::<String>() + "...";
    }
    println!("  {label:<30} -> {status} {shown}");
    Ok(body)
}

/// A manager takes the Telegram customer over: pauses the agent through the inbox API,
/// gets the customer's next message as a thread card in their own Telegram, replies to
/// the card (the customer receives it), hands back with `/resume`, and reads the
/// transcript with who wrote what.
async fn inbox_steps(
    http: &reqwest::Client,
    demo: &DemoTenant,
    urls: &DemoUrls,
    keys: &crate::demo_seed::DemoKeys,
    run: i64,
    now: i64,
    chat_id: i64,
) -> DemoResult {
    println!(
        "\n== a manager takes over the conversation (inbox API and the manager's Telegram) =="
    );
    let t = &demo.tenant;
    let Some(manager_chat) = demo.settings["managers"][0]["chat_id"].as_i64() else {
        println!("  (the demo tenant has no manager chat; skipped)");
        return Ok(());
    };
    let inbox = format!(
        "{}/lambda-url/inbox-api/t/{t}",
        urls.functions.trim_end_matches('/')
    );
    let contact = format!("tg-{chat_id}");
    let response = http
        .get(format!("{inbox}/conversations?limit=3"))
        .bearer_auth(&keys.manager)
        .send()
        .await?;
    show("inbox: latest conversations", response).await?;
    let response = http
        .post(format!("{inbox}/conversations/{contact}/pause"))
        .bearer_auth(&keys.manager)
        .send()
        .await?;
    show("inbox: pause the agent", response).await?;

    let post_update = |update: Value| post_telegram(http, demo, urls, update);
    let start = outbox_len(&urls.outbox);
    let customer = demo::telegram_text(
        run as u64 + 10,
        run + 10,
        chat_id,
        now + 10,
        "Можно поговорить с менеджером о доставке?",
    );
    show(
        "customer writes (agent paused)",
        post_update(customer).await?,
    )
    .await?;
    let manager = manager_chat.to_string();
    let Some(card) = await_outbox(&urls.outbox, start, |l| {
        l["channel"] == "telegram" && l["to"] == manager.as_str() && l["message_id"].is_i64()
    })
    .await
    else {
        println!("  (no thread card reached the manager; see .local/pump.log)");
        return Ok(());
    };
    println!(
        "  thread card → manager chat {manager}:\n{}",
        indent(card["body"]["text"].as_str().unwrap_or_default())
    );
    let card_id = card["message_id"].as_i64().unwrap_or_default();

    let start = outbox_len(&urls.outbox);
    let answer = "Здравствуйте! Доставим в Бишкек за 3 дня, насос на складе.";
    let reply = demo::telegram_reply(
        run as u64 + 11,
        run + 11,
        manager_chat,
        now + 20,
        answer,
        card_id,
    );
    show("manager replies to the card", post_update(reply).await?).await?;
    let customer_chat = chat_id.to_string();
    match await_outbox(&urls.outbox, start, |l| {
        l["to"] == customer_chat.as_str()
            && l["body"]["text"]
                .as_str()
                .is_some_and(|text| text.contains(answer))
    })
    .await
    {
        Some(_) => println!("  the customer received the manager's answer on Telegram"),
        None => println!("  (the answer did not reach the customer in time; see .local/pump.log)"),
    }
    let resume = demo::telegram_reply(
        run as u64 + 12,
        run + 12,
        manager_chat,
        now + 30,
        "/resume",
        card_id,
    );
    show("manager: /resume on the card", post_update(resume).await?).await?;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let response = http
        .get(format!("{inbox}/conversations/{contact}/messages?limit=4"))
        .bearer_auth(&keys.manager)
        .send()
        .await?;
    let transcript = show("inbox: the transcript", response).await?;
    for message in transcript["messages"].as_array().into_iter().flatten() {
        let author = &message["author"];
        let text = match message["text"].as_str() {
            Some(text) if !text.is_empty() => text.chars().take(60).collect(),
            _ => format!("[{}]", message["kind"].as_str().unwrap_or("message")),
        };
        println!(
            "    {:<4} {:<14} {text}",
            message["direction"].as_str().unwrap_or_default(),
            author["name"]
                .as_str()
                .or(author["type"].as_str())
                .unwrap_or_default(),
        );
    }
    Ok(())
}

/// Posts an update to the demo tenant's Telegram webhook with its secret token, as
/// Telegram does.
async fn post_telegram(
    http: &reqwest::Client,
    demo: &DemoTenant,
    urls: &DemoUrls,
    update: Value,
) -> reqwest::Result<reqwest::Response> {
    let secret = demo
        .secrets
        .telegram_webhook_secret
        .as_ref()
        .map(|s| s.expose().to_owned())
        .unwrap_or_default();
    http.post(format!(
        "{}/t/{}/telegram",
        urls.webhook.trim_end_matches('/'),
        demo.tenant
    ))
    .header("x-telegram-bot-api-secret-token", secret)
    .json(&update)
    .send()
    .await
}

/// The first request logged by the fake SaaS after `start` that `wanted` accepts (30 s).
async fn await_outbox(
    outbox: &std::path::Path,
    start: usize,
    wanted: impl Fn(&Value) -> bool,
) -> Option<Value> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while tokio::time::Instant::now() < deadline {
        let found = std::fs::read_to_string(outbox)
            .unwrap_or_default()
            .lines()
            .skip(start)
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .find(|l| wanted(l));
        if found.is_some() {
            return found;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    None
}

/// A web-form lead, then the manager's view of new leads.
async fn lead_steps(
    http: &reqwest::Client,
    demo: &DemoTenant,
    urls: &DemoUrls,
    keys: &crate::demo_seed::DemoKeys,
    run: i64,
) -> DemoResult {
    println!("\n== a lead from the web form, and the manager API ==");
    let t = &demo.tenant;
    let base = format!(
        "{}/lambda-url/lead-api/t/{t}/leads",
        urls.functions.trim_end_matches('/')
    );
    let form = serde_json::json!({
        "name": "Bekzat Nurlanov",
        "phone": "8 701 123 45 67",
        "email": format!("bekzat+{run}@example.kz"),
        "interest": "Grundfos CR 10 pump, delivery to Bishkek",
        "source": "site/contact",
        "consent": true
    });
    // As the browser on the tenant's site (an allowed origin) posts it.
    let post_form = |body: Value| {
        http.post(&base)
            .header("origin", "http://localhost:8080")
            .json(&body)
            .send()
    };
    // The browser's CORS preflight, answered by lead-api itself (`make local` runs
    // `cargo lambda watch --disable-cors`): the shop's site is allowed, another is not.
    for (label, origin) in [
        ("preflight from the shop's site", "http://localhost:8080"),
        ("preflight from a foreign site", "https://elsewhere.example"),
    ] {
        let response = http
            .request(reqwest::Method::OPTIONS, &base)
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header("access-control-request-headers", "content-type")
            .send()
            .await?;
        let allowed = response
            .headers()
            .get(reqwest::header::ACCESS_CONTROL_ALLOW_ORIGIN)
            .and_then(|v| v.to_str().ok())
            .map(|o| format!("allow-origin {o}"));
        match allowed {
            Some(allowed) => println!("  {label:<30} -> {} {allowed}", response.status().as_u16()),
            None => {
                show(label, response).await?;
            }
        }
    }
    show("web form lead", post_form(form).await?).await?;
    let invalid = serde_json::json!({"name": "", "phone": "12", "consent": true});
    show("invalid form (per field)", post_form(invalid).await?).await?;
    let response = http
        .get(format!("{base}?stage=new&limit=5"))
        .bearer_auth(&keys.manager)
        .send()
        .await?;
    let body = show("manager: new leads", response).await?;
    if let Some(contact) = body["leads"]
        .as_array()
        .and_then(|l| l.first())
        .and_then(|l| l["contact"].as_str())
    {
        let response = http
            .post(format!("{base}/{contact}/stage"))
            .bearer_auth(&keys.manager)
            .json(&serde_json::json!({"stage": "qualification", "reason": "called back"}))
            .send()
            .await?;
        show("manager: to qualification", response).await?;
        let response = http
            .post(format!("{base}/{contact}/stage"))
            .bearer_auth(&keys.manager)
            .json(&serde_json::json!({"stage": "new"}))
            .send()
            .await?;
        show("manager: back two stages", response).await?;
    }
    let response = http
        .get(format!("{base}?stage=new"))
        .bearer_auth("sk_wrong")
        .send()
        .await?;
    show("manager: wrong key", response).await?;
    Ok(())
}

/// The WhatsApp customer joins the loyalty program at the partner's till and buys.
async fn loyalty_steps(
    http: &reqwest::Client,
    demo: &DemoTenant,
    urls: &DemoUrls,
    keys: &crate::demo_seed::DemoKeys,
    run: i64,
    wa_from: &str,
) -> DemoResult {
    println!(
        "\n== loyalty at the partner's till ({}) ==",
        keys.partner_id
    );
    let t = &demo.tenant;
    let base = format!(
        "{}/lambda-url/loyalty/t/{t}/loyalty",
        urls.functions.trim_end_matches('/')
    );
    let phone = format!("+{wa_from}");
    let post = |path: &str, key: String, body: Value| {
        http.post(format!("{base}/{path}"))
            .bearer_auth(&keys.partner)
            .header("idempotency-key", key)
            .json(&body)
            .send()
    };
    let response = post(
        "join",
        format!("join-{run}"),
        serde_json::json!({"phone": phone}),
    )
    .await?;
    show("join (welcome bonus)", response).await?;
    let purchase = format!("R-{run}");
    let accrue = serde_json::json!({"phone": phone, "purchase_ref": purchase, "amount_minor": 1_250_000, "currency": "KZT"});
    let response = post("accrue", format!("{purchase}-accrue"), accrue.clone()).await?;
    show("accrue on 12 500 KZT (5 %)", response).await?;
    let response = post("accrue", format!("{purchase}-accrue"), accrue).await?;
    show("the same request retried", response).await?;
    // The next purchase, 1 000 KZT: at most 50 % of it may be paid in points.
    let next = format!("{purchase}b");
    let too_much = serde_json::json!({"phone": phone, "purchase_ref": next, "amount_minor": 100_000, "currency": "KZT", "points": 1_000_000});
    let response = post("redeem", format!("{next}-redeem-too-much"), too_much).await?;
    show("redeem more than allowed", response).await?;
    let redeem = serde_json::json!({"phone": phone, "purchase_ref": next, "amount_minor": 100_000, "currency": "KZT", "points": 30_000});
    let response = post("redeem", format!("{next}-redeem"), redeem).await?;
    show("redeem 300 KZT in points", response).await?;
    // The customer brings back half of the first purchase.
    let refund = serde_json::json!({"phone": phone, "purchase_ref": purchase, "amount_minor": 625_000, "reason": "half returned"});
    let response = post("refund", format!("{purchase}-refund-1"), refund).await?;
    show("refund half of the first purchase", response).await?;
    let response = http
        .get(format!("{base}/balance?phone=%2B{wa_from}"))
        .bearer_auth(&keys.partner)
        .send()
        .await?;
    show("balance", response).await?;
    Ok(())
}

/// A newcomer joins from chat with the till member's referral link (`/start ref-CODE`)
/// and asks for the balance (`/balance`); the fake Telegram's replies are checked.
async fn customer_chat_steps(
    http: &reqwest::Client,
    demo: &DemoTenant,
    urls: &DemoUrls,
    keys: &crate::demo_seed::DemoKeys,
    (run, now): (i64, i64),
    wa_from: &str,
) -> DemoResult {
    use sauda_shared::i18n::chat as texts;
    println!("\n== a newcomer joins from chat with a referral link ==");
    let response = http
        .post(format!(
            "{}/lambda-url/loyalty/t/{}/loyalty/referral-code",
            urls.functions.trim_end_matches('/'),
            demo.tenant
        ))
        .bearer_auth(&keys.partner)
        .header("idempotency-key", format!("ref-code-{run}"))
        .json(&serde_json::json!({"phone": format!("+{wa_from}")}))
        .send()
        .await?;
    let body: Value = response.json().await?;
    let Some(code) = body["code"].as_str() else {
        return Err(format!("no referral code for the till member: {body}").into());
    };
    // A new chat per run, so every run shows a first join.
    let chat = 710_000_000 + now % 1_000_000;
    let to_chat = |l: &Value| l["channel"] == "telegram" && l["to"] == chat.to_string().as_str();
    // What each reply must say (the update's language is Russian).
    let balance_prefix = texts::BALANCE.ru.split('{').next().unwrap_or_default();
    let steps = [
        (format!("/start ref-{code}"), texts::REFERRED.ru, 40_i64),
        ("/balance".to_owned(), balance_prefix, 41),
    ];
    for (command, expected, offset) in steps {
        let start = outbox_len(&urls.outbox);
        let id = run + offset;
        let update = demo::telegram_text(id as u64, id, chat, now, &command);
        let response = post_telegram(http, demo, urls, update).await?;
        println!("  {command:<28} -> {}", response.status().as_u16());
        let Some(answer) = await_outbox(&urls.outbox, start, to_chat).await else {
            println!("  no reply within 30 s; see .local/watch.log");
            return Ok(());
        };
        let text = answer["body"]["text"].as_str().unwrap_or_default();
        println!("{}", indent(text));
        if !text.contains(expected) {
            return Err(format!("the reply to {command} does not say {expected:?}").into());
        }
    }
    Ok(())
}

/// The demo partner accrues from its Telegram chat: `/accrue`, the bot's confirmation,
/// Confirm pressed twice (one accrual: the button's nonce is the idempotency key).
async fn partner_chat_steps(
    http: &reqwest::Client,
    demo: &DemoTenant,
    urls: &DemoUrls,
    run: i64,
    now: i64,
    wa_from: &str,
) -> DemoResult {
    let chat = crate::demo_seed::DEMO_PARTNER_CHAT;
    println!("\n== the partner accrues from its Telegram chat ==");
    let to_partner = |l: &Value| l["channel"] == "telegram" && l["to"] == chat.to_string().as_str();
    let start = outbox_len(&urls.outbox);
    let command = format!("/accrue +{wa_from} 2000");
    let update = demo::telegram_text(run as u64 + 30, run + 30, chat, now, &command);
    let response = post_telegram(http, demo, urls, update).await?;
    println!("  {command:<28} -> {}", response.status().as_u16());
    let confirmation = await_outbox(&urls.outbox, start, |l| {
        to_partner(l) && l["body"]["reply_markup"]["inline_keyboard"].is_array()
    })
    .await;
    let Some(confirmation) = confirmation else {
        println!("  no confirmation within 30 s; see .local/watch.log");
        return Ok(());
    };
    println!(
        "{}",
        indent(confirmation["body"]["text"].as_str().unwrap_or(""))
    );
    let Some(data) = confirmation["body"]
        .pointer("/reply_markup/inline_keyboard/0/0/callback_data")
        .and_then(Value::as_str)
    else {
        return Ok(());
    };
    for press in 0..2 {
        let start = outbox_len(&urls.outbox);
        let update = serde_json::json!({"update_id": run as u64 + 31 + press, "callback_query": {
            "id": format!("demo-{run}-{press}"), "chat_instance": "demo",
            "from": {"id": chat, "is_bot": false, "first_name": "Demo Café", "language_code": "ru"},
            "message": {"message_id": run + 30, "date": now, "chat": {"id": chat, "type": "private"}, "text": "confirm"},
            "data": data}});
        let response = post_telegram(http, demo, urls, update).await?;
        println!(
            "  Confirm pressed ({}) -> {}",
            press + 1,
            response.status().as_u16()
        );
        let done = await_outbox(&urls.outbox, start, |l| {
            to_partner(l) && l["body"]["reply_markup"].is_null()
        })
        .await;
        if let Some(done) = done {
            println!("{}", indent(done["body"]["text"].as_str().unwrap_or("")));
        }
    }
    Ok(())
}

/// A pump from the demo catalog (the seed's generator is deterministic): its SKU.
fn demo_pump_sku() -> Option<String> {
    agent_reply::catalog::generate::demo_items(64, 7)
        .into_iter()
        .find(|item| {
            item.name.starts_with("Насос")
                && item.availability == agent_reply::catalog::Availability::InStock
                && item.price_minor.is_some()
        })
        .map(|item| item.sku)
}

/// Two sales closing in chat. The Telegram customer orders a pump: the invoice, Telegram's
/// pre-checkout question answered in the webhook's own response, the payment, then the
/// receipt, the managers' order card and the cashback. The WhatsApp customer pays the same
/// through a Stripe Checkout link: the fake Stripe posts the signed event when the link
/// is opened.
async fn order_steps(
    http: &reqwest::Client,
    demo: &DemoTenant,
    urls: &DemoUrls,
    keys: &crate::demo_seed::DemoKeys,
    run: i64,
    now: i64,
    (chat_id, wa_from): (i64, &str),
) -> DemoResult {
    println!("\n== orders and payments: Telegram Payments and a Stripe link ==");
    let t = &demo.tenant;
    let Some(sku) = demo_pump_sku() else {
        println!("  (no pump in the demo catalog; skipped)");
        return Ok(());
    };
    let orders = format!(
        "{}/lambda-url/orders-api/t/{t}/orders",
        urls.functions.trim_end_matches('/')
    );
    let create = |contact: String, provider: &'static str, key: String| {
        http.post(&orders)
            .bearer_auth(&keys.manager)
            .header("idempotency-key", key)
            .json(&serde_json::json!({
                "contact_id": contact,
                "items": [{"sku": sku, "quantity": 1}],
                "invoice": true,
                "provider": provider,
            }))
            .send()
    };

    let start = outbox_len(&urls.outbox);
    let response = create(
        format!("tg-{chat_id}"),
        "telegram",
        format!("demo-tg-{run}"),
    )
    .await?;
    let order = show("manager: order + Telegram invoice", response).await?;
    let order_id = order["order_id"].as_str().unwrap_or_default().to_owned();
    let total = order["total_minor"].as_i64().unwrap_or_default();
    let currency = order["currency"].as_str().unwrap_or("KZT").to_owned();
    let customer = chat_id.to_string();
    if await_outbox(&urls.outbox, start, |l| {
        l["to"] == customer.as_str() && l["body"]["payload"] == order_id.as_str()
    })
    .await
    .is_some()
    {
        println!("  the customer got the invoice (sendInvoice, payload = order id)");
    }
    let post_update = |update: Value| post_telegram(http, demo, urls, update);
    let query = demo::telegram_pre_checkout(
        run as u64 + 20,
        &format!("pcq-{run}"),
        chat_id,
        &currency,
        total,
        &order_id,
    );
    show("pre-checkout (answered inline)", post_update(query).await?).await?;
    let start = outbox_len(&urls.outbox);
    let paid = demo::telegram_successful_payment(
        run as u64 + 21,
        run + 21,
        chat_id,
        now + 40,
        (&currency, total, &order_id),
        &format!("tgcharge-{run}"),
    );
    show("successful_payment", post_update(paid.clone()).await?).await?;
    show("successful_payment, redelivered", post_update(paid).await?).await?;
    let manager = demo.settings["managers"][0]["chat_id"].to_string();
    let receipt = await_outbox(&urls.outbox, start, |l| l["to"] == customer.as_str()).await;
    let card = await_outbox(&urls.outbox, start, |l| {
        l["to"] == manager.as_str()
            && l["body"]["text"]
                .as_str()
                .is_some_and(|text| text.contains(&order_id))
    })
    .await;
    for (label, line) in [
        ("receipt → customer", receipt),
        ("order card → managers", card),
    ] {
        if let Some(line) = line {
            println!(
                "  {label}:\n{}",
                indent(line["body"]["text"].as_str().unwrap_or_default())
            );
        }
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let balance = http
        .get(format!(
            "{}/lambda-url/loyalty/t/{t}/loyalty/balance?contact_id=tg-{chat_id}",
            urls.functions.trim_end_matches('/')
        ))
        .bearer_auth(&keys.partner)
        .send()
        .await?;
    show("cashback on the order (balance)", balance).await?;

    let response = create(format!("wa-{wa_from}"), "stripe", format!("demo-wa-{run}")).await?;
    let order = show("manager: order + Stripe link", response).await?;
    let stripe_order = order["order_id"].as_str().unwrap_or_default().to_owned();
    let Some(link) = order["invoice"]["url"].as_str() else {
        println!("  (no Stripe link; see .local/watch.log)");
        return Ok(());
    };
    let start = outbox_len(&urls.outbox);
    // The customer opens the link and pays; the fake Stripe posts the signed webhook.
    let paid = http.get(link).send().await?;
    println!(
        "  {:<30} -> {} {}",
        "customer pays on the Stripe page",
        paid.status().as_u16(),
        paid.text().await?
    );
    if let Some(line) = await_outbox(&urls.outbox, start, |l| {
        l["channel"] == "whatsapp"
            && l["to"] == wa_from
            && l["body"]["text"]["body"]
                .as_str()
                .is_some_and(|text| !text.contains(link))
    })
    .await
    {
        println!(
            "  receipt → WhatsApp customer:\n{}",
            indent(line["body"]["text"]["body"].as_str().unwrap_or_default())
        );
    }
    let response = http
        .get(format!("{orders}/{stripe_order}"))
        .bearer_auth(&keys.manager)
        .send()
        .await?;
    let order = show("manager: the Stripe order", response).await?;
    println!(
        "  status {} / payment {} / fulfillment {}",
        order["status"], order["payment_status"], order["fulfillment_status"]
    );
    Ok(())
}

/// Yesterday's daily report, through the reports queue and worker like a scheduled one.
async fn report_step(
    clients: &sauda_shared::aws::AwsClients,
    stack: &Stack,
    demo: &DemoTenant,
) -> DemoResult {
    println!("\n== yesterday's report for the managers ==");
    let zone = jiff::tz::TimeZone::get(&demo.timezone).unwrap_or(jiff::tz::TimeZone::UTC);
    let yesterday = jiff::Timestamp::now().to_zoned(zone).date().yesterday()?;
    let envelope =
        sauda_shared::envelope::Envelope::report(demo.tenant.clone(), yesterday.to_string());
    let queue = stack
        .queue("ReportsQueue")
        .ok_or("the template has no ReportsQueue")?;
    clients
        .sqs
        .send_message()
        .queue_url(&queue.url)
        .message_body(envelope.to_json())
        .send()
        .await?;
    println!(
        "  report job for {yesterday} queued: the worker stores it in S3 and tells the managers"
    );
    Ok(())
}

/// Follows the managers' report link as a browser would, then with a tampered token.
async fn open_report_link(link: &str) -> DemoResult {
    println!("== the report link from the summary ==");
    let no_redirects = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let response = no_redirects.get(link).send().await?;
    let location = response
        .headers()
        .get(reqwest::header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    println!(
        "  report link                    -> {} → {}…",
        response.status().as_u16(),
        location.split('?').next().unwrap_or_default()
    );
    if !location.is_empty() {
        let page = reqwest::get(&location).await?;
        let status = page.status().as_u16();
        let kind = page
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let size = page.bytes().await?.len();
        println!("  the presigned S3 URL           -> {status} {kind}, {size} bytes");
    }
    let tampered = format!("{}x", link);
    show(
        "the link with a wrong token",
        no_redirects.get(tampered).send().await?,
    )
    .await?;
    Ok(())
}

/// Waits for the managers' Telegram notices: the lead card and the report summary.
/// Returns the report link the managers got, if one arrived in time.
async fn await_manager_notices(
    outbox: &std::path::Path,
    start: usize,
    timeout: Duration,
) -> Option<String> {
    println!("\n== the managers' notices (notify queue → notifier → fake Telegram) ==");
    let deadline = tokio::time::Instant::now() + timeout;
    let mut shown = 0;
    loop {
        let lines: Vec<Value> = std::fs::read_to_string(outbox)
            .unwrap_or_default()
            .lines()
            .skip(start)
            .filter_map(|l| serde_json::from_str(l).ok())
            .filter(|l: &Value| l["channel"] == "telegram")
            .collect();
        for line in lines.iter().skip(shown) {
            let text = line["body"]["text"].as_str().unwrap_or_default();
            println!("  telegram → chat {}:\n{}\n", line["to"], indent(text));
        }
        shown = lines.len();
        let report_link = lines.iter().find_map(|l| {
            let text = l["body"]["text"].as_str()?;
            let link = text.split("href=\"").nth(1)?.split('"').next()?;
            link.contains("report.html")
                .then(|| link.replace("&amp;", "&"))
        });
        if report_link.is_some() {
            return report_link;
        }
        if tokio::time::Instant::now() > deadline {
            println!("  (no report notice within {timeout:?}; see .local/pump.log)");
            return None;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}
