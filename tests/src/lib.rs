//! Test harness: each test provisions its own stage on the shared moto instance from
//! `template.yaml` (own table, queues, bucket, secrets) and creates its own tenants,
//! so tests run in parallel without seeing each other's data.

mod catalog;
pub mod chat_env;
pub mod fake;
pub mod fake_kaspi;
pub mod fake_stripe;
pub mod gen;
mod items;
pub mod serial;

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_sqs::types::{Message, MessageSystemAttributeName};
use sauda_infra::provision::{self, Stack};
use sauda_infra::template::Template;
use sauda_infra::tenant;
use sauda_shared::aws::{AwsCallCounter, AwsClients};
use sauda_shared::secrets::{Secret, TenantSecrets};
use sauda_shared::tenant::TenantConfig;
use sauda_shared::TenantId;
use std::collections::HashMap;
use std::path::PathBuf;

pub const REGION: &str = "us-east-1";

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// A short random lowercase id, for stages and tenants.
pub fn unique(prefix: &str) -> String {
    let id = ulid::Ulid::new().to_string().to_ascii_lowercase();
    format!("{prefix}{}", &id[id.len() - 10..])
}

pub struct TestEnv {
    pub sdk: SdkConfig,
    /// Counted clients: every SDK call made through them is tallied in `counter`.
    pub clients: AwsClients,
    pub counter: AwsCallCounter,
    pub stack: Stack,
}

impl TestEnv {
    pub async fn new() -> Self {
        let endpoint = std::env::var("AWS_ENDPOINT_URL")
            .expect("AWS_ENDPOINT_URL must point at moto: run the suite with `make test`");
        let sdk = aws_config::defaults(BehaviorVersion::latest())
            .region(Region::new(REGION))
            .endpoint_url(endpoint)
            .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
                "test", "test", None, None, "tests",
            ))
            .load()
            .await;
        let counter = AwsCallCounter::default();
        let clients = AwsClients::counted(&sdk, &counter);
        let template =
            Template::load(&repo_root().join("template.yaml")).expect("template.yaml loads");
        let stage = unique("t");
        let stack = provision::provision(&clients, &template, &stage, REGION)
            .await
            .expect("provisioning from template.yaml");
        counter.reset();
        Self {
            sdk,
            clients,
            counter,
            stack,
        }
    }

    pub fn stage(&self) -> &str {
        &self.stack.stage
    }

    pub fn queue_url(&self, logical_id: &str) -> String {
        self.stack
            .queue(logical_id)
            .unwrap_or_else(|| panic!("no queue {logical_id}"))
            .url
            .clone()
    }

    /// Creates an active tenant with the given secrets.
    pub async fn tenant_with(
        &self,
        configure: impl FnOnce(&mut TenantConfig),
        secrets: TenantSecrets,
    ) -> TenantId {
        let id = TenantId::parse(&unique("tn")).unwrap();
        let mut config = TenantConfig::new(id.clone(), "Test shop");
        configure(&mut config);
        tenant::create_tenant(&self.clients.dynamo, &self.stack.table, &config)
            .await
            .unwrap();
        tenant::merge_tenant_secrets(&self.clients.secrets, self.stage(), &id, secrets)
            .await
            .unwrap();
        id
    }

    /// A tenant with Telegram and WhatsApp configured; secrets derive from its id.
    pub async fn tenant(&self) -> TestTenant {
        let phone_number_id = unique("");
        let seed = unique("s");
        let secrets = TenantSecrets {
            telegram_bot_token: Some(Secret::new(format!("1:{seed}-bot"))),
            telegram_webhook_secret: Some(Secret::new(format!("{seed}-tg"))),
            whatsapp_app_secret: Some(Secret::new(format!("{seed}-app"))),
            whatsapp_verify_token: Some(Secret::new(format!("{seed}-verify"))),
            whatsapp_access_token: Some(Secret::new(format!("{seed}-access"))),
            ..Default::default()
        };
        let pn = phone_number_id.clone();
        let id = self
            .tenant_with(
                move |c| c.whatsapp_phone_number_id = Some(pn),
                secrets.clone(),
            )
            .await;
        TestTenant {
            id,
            secrets,
            phone_number_id,
        }
    }

    /// Writes an item as it is stored (seeding state that another capability owns).
    pub async fn put(&self, item: impl serde::Serialize) {
        self.clients
            .dynamo
            .put_item()
            .table_name(&self.stack.table)
            .set_item(Some(serde_dynamo::to_item(item).expect("item serialises")))
            .send()
            .await
            .expect("put_item");
    }

    /// Every item in a tenant's contact partitions (a scan: fine for tests).
    pub async fn contact_items(&self, tenant: &TenantId) -> Vec<HashMap<String, AttributeValue>> {
        let out = self
            .clients
            .dynamo
            .scan()
            .table_name(&self.stack.table)
            .filter_expression("begins_with(PK, :p)")
            .expression_attribute_values(":p", AttributeValue::S(format!("T#{tenant}#C#")))
            .send()
            .await
            .unwrap();
        out.items.unwrap_or_default()
    }

    /// Receives and deletes everything on a queue, in delivery order. Deleting matters
    /// for FIFO queues: a group's later messages are held back while earlier ones are in flight.
    pub async fn receive_all(&self, logical_id: &str) -> Vec<Message> {
        let url = self.queue_url(logical_id);
        let mut all = Vec::new();
        loop {
            let out = self
                .clients
                .sqs
                .receive_message()
                .queue_url(&url)
                .max_number_of_messages(10)
                .message_system_attribute_names(MessageSystemAttributeName::All)
                .visibility_timeout(60)
                .send()
                .await
                .unwrap();
            let batch = out.messages.unwrap_or_default();
            if batch.is_empty() {
                return all;
            }
            for m in &batch {
                self.clients
                    .sqs
                    .delete_message()
                    .queue_url(&url)
                    .receipt_handle(m.receipt_handle().unwrap())
                    .send()
                    .await
                    .unwrap();
            }
            all.extend(batch);
        }
    }
}

/// An SQS event as Lambda hands it over, from raw bodies (ids `m0`, `m1`, ...).
pub fn sqs_event(bodies: &[String]) -> aws_lambda_events::event::sqs::SqsEvent {
    let mut event = aws_lambda_events::event::sqs::SqsEvent::default();
    for (i, body) in bodies.iter().enumerate() {
        let mut record = aws_lambda_events::event::sqs::SqsMessage::default();
        record.message_id = Some(format!("m{i}"));
        record.body = Some(body.clone());
        record
            .attributes
            .insert("ApproximateReceiveCount".into(), "1".into());
        event.records.push(record);
    }
    event
}

/// A `LambdaEvent` with a default context, for calling handlers directly.
pub fn lambda_event<T>(payload: T) -> lambda_runtime::LambdaEvent<T> {
    lambda_runtime::LambdaEvent::new(payload, lambda_runtime::Context::default())
}

/// The message ids a batch response reports as failed.
pub fn failed_ids(response: &aws_lambda_events::event::sqs::SqsBatchResponse) -> Vec<String> {
    response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.clone())
        .collect()
}

impl TestEnv {
    /// Receives up to 10 messages without deleting them (visible again after
    /// `visibility_s`) and wraps them as Lambda's SQS event, receipt handles included.
    pub async fn sqs_event_from_queue(
        &self,
        logical_id: &str,
        visibility_s: i32,
    ) -> aws_lambda_events::event::sqs::SqsEvent {
        let out = self
            .clients
            .sqs
            .receive_message()
            .queue_url(self.queue_url(logical_id))
            .max_number_of_messages(10)
            .visibility_timeout(visibility_s)
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .send()
            .await
            .unwrap();
        let arn = self.stack.queue(logical_id).map(|q| q.arn.clone());
        let mut event = aws_lambda_events::event::sqs::SqsEvent::default();
        for m in out.messages.unwrap_or_default() {
            let mut record = aws_lambda_events::event::sqs::SqsMessage::default();
            record.event_source_arn = arn.clone();
            record.message_id = m.message_id.clone();
            record.receipt_handle = m.receipt_handle.clone();
            record.body = m.body.clone();
            record.attributes = m
                .attributes
                .clone()
                .unwrap_or_default()
                .into_iter()
                .map(|(k, v)| (k.as_str().to_owned(), v))
                .collect();
            event.records.push(record);
        }
        event
    }

    /// An SQS event as Lambda hands it over from the queue `logical_id` (its ARN set, so
    /// consumers can dead-letter and delay records), from raw bodies.
    pub fn sqs_event_on(
        &self,
        logical_id: &str,
        bodies: &[String],
    ) -> aws_lambda_events::event::sqs::SqsEvent {
        let mut event = sqs_event(bodies);
        let arn = self.stack.queue(logical_id).map(|q| q.arn.clone());
        for record in &mut event.records {
            record.event_source_arn = arn.clone();
        }
        event
    }

    /// The notifier, as `main` builds it, sending to a fake Telegram.
    pub fn notifier(&self, telegram_base_url: &str) -> notifier::Deps {
        self.notifier_with(telegram_base_url, telegram_base_url)
    }

    /// The notifier with fake Telegram and WhatsApp servers.
    pub fn notifier_with(
        &self,
        telegram_base_url: &str,
        whatsapp_base_url: &str,
    ) -> notifier::Deps {
        notifier::Deps::from_aws(
            &self.clients,
            &notifier::NotifierConfig {
                core: self.core_config(),
                telegram_api_base: telegram_base_url.to_owned(),
                whatsapp_api_base: whatsapp_base_url.to_owned(),
            },
        )
    }

    /// Stage and table, as every function's config names them.
    pub fn core_config(&self) -> sauda_shared::config::CoreConfig {
        sauda_shared::config::CoreConfig {
            stage: self.stage().to_owned(),
            table_name: self.stack.table.clone(),
        }
    }

    /// Sums a tenant-day's counters over their shards.
    pub async fn counters(
        &self,
        tenant: &TenantId,
        day: &str,
    ) -> std::collections::BTreeMap<String, i64> {
        sauda_shared::stats::read_day(&self.clients.dynamo, &self.stack.table, tenant, day)
            .await
            .unwrap()
    }
}

pub struct TestTenant {
    pub id: TenantId,
    pub secrets: TenantSecrets,
    pub phone_number_id: String,
}

impl TestTenant {
    pub fn telegram_secret(&self) -> &str {
        self.secrets
            .telegram_webhook_secret
            .as_ref()
            .unwrap()
            .expose()
    }

    pub fn app_secret(&self) -> &str {
        self.secrets.whatsapp_app_secret.as_ref().unwrap().expose()
    }

    pub fn verify_token(&self) -> &str {
        self.secrets
            .whatsapp_verify_token
            .as_ref()
            .unwrap()
            .expose()
    }
}

pub fn attr_s<'a>(item: &'a HashMap<String, AttributeValue>, key: &str) -> &'a str {
    item.get(key)
        .and_then(|v| v.as_s().ok())
        .map(String::as_str)
        .unwrap_or("")
}
