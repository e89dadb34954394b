//! `sauda local demo`: plays a short conversation through the real local HTTP endpoint
//! and prints what was stored and queued.

use crate::demo::{self, DemoTenant};
use crate::provision::Stack;
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_sqs::types::QueueAttributeName;
use sauda_shared::keys;
use serde_json::Value;

pub async fn play(
    clients: &sauda_shared::aws::AwsClients,
    stack: &Stack,
    demo: &DemoTenant,
    webhook_url: &str,
) -> Result<(), Box<dyn std::error::Error>> {
    let http = reqwest::Client::new();
    let base = webhook_url.trim_end_matches('/');
    let t = &demo.tenant;
    let expose = |s: &Option<sauda_shared::secrets::Secret>| {
        s.as_ref()
            .map(|s| s.expose().to_owned())
            .unwrap_or_default()
    };
    let tg_secret = expose(&demo.secrets.telegram_webhook_secret);
    let app_secret = expose(&demo.secrets.whatsapp_app_secret);
    let phone_id = demo.whatsapp_phone_number_id.clone().unwrap_or_default();
    let now = jiff::Timestamp::now().as_second();
    // Fresh ids per run, so each demo is a new conversation turn rather than a duplicate.
    let run = (now % 1_000_000) * 10;
    let chat_id = 700_000_001_i64;
    let wa_from = "77011234567";

    println!("\n== demo conversation for tenant {t} ==");
    let tg_url = format!("{base}/t/{t}/telegram");
    let steps: Vec<(&str, Value)> = vec![
        (
            "telegram text",
            demo::telegram_text(
                run as u64 + 1,
                run + 1,
                chat_id,
                now,
                "Здравствуйте! Сколько стоит насос Grundfos CR 10?",
            ),
        ),
        (
            "telegram voice",
            demo::telegram_voice(run as u64 + 2, run + 2, chat_id, now + 1),
        ),
        (
            "telegram redelivery",
            demo::telegram_text(
                run as u64 + 1,
                run + 1,
                chat_id,
                now,
                "Здравствуйте! Сколько стоит насос Grundfos CR 10?",
            ),
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

    println!("\n== stored ==");
    for contact in [format!("tg-{chat_id}"), format!("wa-{wa_from}")] {
        let out = clients
            .dynamo
            .query()
            .table_name(&stack.table)
            .key_condition_expression("PK = :pk AND begins_with(SK, :m)")
            .expression_attribute_values(":pk", AttributeValue::S(keys::contact_pk(t, &contact)))
            .expression_attribute_values(":m", AttributeValue::S(keys::MESSAGE_SK_PREFIX.into()))
            .scan_index_forward(false)
            .limit(5)
            .send()
            .await?;
        for item in out.items() {
            let get = |k: &str| {
                item.get(k)
                    .and_then(|v| v.as_s().ok())
                    .cloned()
                    .unwrap_or_default()
            };
            println!(
                "  {} {} [{}] {}",
                get("PK"),
                get("SK"),
                get("kind"),
                get("text")
            );
        }
    }
    println!("\n== queued ==");
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
