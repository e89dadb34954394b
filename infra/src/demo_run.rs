//! `sauda local demo`: plays a short conversation through the real local HTTP endpoints
//! and shows what was stored, queued and answered.

use crate::demo::{self, DemoTenant};
use crate::provision::Stack;
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_sqs::types::QueueAttributeName;
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
        let attrs = clients
            .sqs
            .get_queue_attributes()
            .queue_url(&q.url)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
            .send()
            .await?;
        let get = |n: QueueAttributeName| {
            attrs
                .attributes()
                .and_then(|a| a.get(&n))
                .cloned()
                .unwrap_or_default()
        };
        println!(
            "  {logical:<24} visible={} in_flight={}",
            get(QueueAttributeName::ApproximateNumberOfMessages),
            get(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
        );
    }
    Ok(())
}
