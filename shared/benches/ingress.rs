//! CPU cost of the webhook hot path per update, excluding I/O: verify the signature or
//! secret token, parse and normalise the body, build the item key, FIFO group and dedup id.
//! Target: under 50 µs per update.

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use sauda_shared::message::MessageItem;
use sauda_shared::signature::{
    verify_telegram_secret, verify_whatsapp_signature, whatsapp_signature,
};
use sauda_shared::telegram::{parse_update, TelegramUpdate};
use sauda_shared::whatsapp::parse_webhook;
use sauda_shared::TenantId;
use std::hint::black_box;

const TELEGRAM: &str = r#"{"update_id":10000,"message":{"message_id":1365,"date":1732460000,
 "chat":{"id":123456789,"type":"private","first_name":"Aida","last_name":"K","username":"aida"},
 "from":{"id":123456789,"is_bot":false,"first_name":"Aida","last_name":"K","language_code":"ru"},
 "text":"Здравствуйте! Сколько стоит насос Grundfos CR 10 и есть ли он в наличии в Алматы?"}}"#;

const WHATSAPP: &str = r#"{"object":"whatsapp_business_account","entry":[{"id":"102290129340398","changes":[{"field":"messages","value":{
 "messaging_product":"whatsapp","metadata":{"display_phone_number":"15550783881","phone_number_id":"106540352242922"},
 "contacts":[{"profile":{"name":"Bekzat"},"wa_id":"77011234567"}],
 "messages":[{"from":"77011234567","id":"wamid.HBgLNzcwMTEyMzQ1NjcVAgASGBQzQTdBQjA4RkYxMzY3RkQ1Q0Q5MAA=","timestamp":"1749416383","type":"text","text":{"body":"Hello! Do you deliver pumps to Bishkek?"}}]}}]}]}"#;

fn telegram(c: &mut Criterion) {
    let tenant = TenantId::parse("demo").unwrap();
    let secret = "local-demo-telegram-secret";
    let mut group = c.benchmark_group("webhook_update");
    group.throughput(Throughput::Elements(1));
    group.bench_function("telegram", |b| {
        b.iter_batched(
            || TELEGRAM.as_bytes().to_vec(),
            |body| {
                verify_telegram_secret(secret, Some(secret.as_bytes())).unwrap();
                let TelegramUpdate::Message { message, .. } = parse_update(&tenant, &body).unwrap()
                else {
                    unreachable!()
                };
                let item = MessageItem::inbound(&message, 0);
                black_box((item, message.message_group_id(), message.deduplication_id()))
            },
            BatchSize::SmallInput,
        )
    });
    let app_secret = "local-demo-app-secret";
    let signature = whatsapp_signature(app_secret, WHATSAPP.as_bytes());
    group.bench_function("whatsapp", |b| {
        b.iter_batched(
            || WHATSAPP.as_bytes().to_vec(),
            |body| {
                verify_whatsapp_signature(app_secret, &body, Some(signature.as_bytes())).unwrap();
                let batches = parse_webhook(&tenant, &body).unwrap();
                let message = &batches[0].messages[0];
                let item = MessageItem::inbound(message, 0);
                black_box((item, message.message_group_id(), message.deduplication_id()))
            },
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

criterion_group!(benches, telegram);
criterion_main!(benches);
