//! AWS adapters for the ports: DynamoDB, SQS and Secrets Manager, plus an SDK call
//! counter used by tests and benchmarks to keep the per-message call budget honest.

use crate::cache::TtlCache;
use crate::dynamo::{from_item, is_condition_failed, s, store_err, to_item};
use crate::envelope::Envelope;
use crate::keys;
use crate::message::{DeliveryStatus, InboundMessage, MessageItem, OutboundMessage};
use crate::ports::{
    JobQueue, MessageQueue, MessageStore, PutOutcome, QueueError, SecretError, SecretSource,
    StatusOutcome, StoreError, TenantDirectory,
};
use crate::secrets::{PlatformSecrets, TenantSecrets};
use crate::tenant::{ConfigItem, TenantConfig, TenantId};
use async_trait::async_trait;
use aws_config::{BehaviorVersion, SdkConfig};
use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::BeforeSerializationInterceptorContextRef;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;
use aws_smithy_types::error::display::DisplayErrorContext;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Loads the SDK config once per process: region, credentials and, locally,
/// `AWS_ENDPOINT_URL` pointing at the emulator.
pub async fn load_sdk_config() -> SdkConfig {
    let timeouts = aws_config::timeout::TimeoutConfig::builder()
        .connect_timeout(Duration::from_secs(2))
        .operation_attempt_timeout(Duration::from_secs(5))
        .operation_timeout(Duration::from_secs(12))
        .build();
    aws_config::defaults(BehaviorVersion::latest())
        .timeout_config(timeouts)
        // Stalled-stream protection arms a timer around every body; the attempt timeout
        // above already bounds a stalled call, and the bodies here are small.
        .stalled_stream_protection(
            aws_config::stalled_stream_protection::StalledStreamProtectionConfig::disabled(),
        )
        .load()
        .await
}

/// Counts SDK operations by `Service.Operation` (once per operation, not per retry).
#[derive(Clone, Debug, Default)]
pub struct AwsCallCounter {
    calls: Arc<Mutex<BTreeMap<String, usize>>>,
}

impl AwsCallCounter {
    pub fn snapshot(&self) -> BTreeMap<String, usize> {
        self.calls.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub fn total(&self) -> usize {
        self.snapshot().values().sum()
    }

    pub fn reset(&self) {
        self.calls.lock().unwrap_or_else(|p| p.into_inner()).clear();
    }
}

impl Intercept for AwsCallCounter {
    fn name(&self) -> &'static str {
        "AwsCallCounter"
    }

    // Once per operation (retries are not re-serialised), after the operation's
    // metadata is in the config bag.
    fn read_before_serialization(
        &self,
        _context: &BeforeSerializationInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let name = cfg
            .load::<Metadata>()
            .map(|m| format!("{}.{}", m.service(), m.name()))
            .unwrap_or_else(|| "unknown".to_owned());
        *self
            .calls
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(name)
            .or_default() += 1;
        Ok(())
    }
}

/// One client per service, built once per process and shared by all adapters.
#[derive(Clone, Debug)]
pub struct AwsClients {
    pub dynamo: aws_sdk_dynamodb::Client,
    pub sqs: aws_sdk_sqs::Client,
    pub s3: aws_sdk_s3::Client,
    pub secrets: aws_sdk_secretsmanager::Client,
}

impl AwsClients {
    pub fn new(sdk: &SdkConfig) -> Self {
        Self::build(sdk, None)
    }

    /// The same clients, with every operation counted.
    pub fn counted(sdk: &SdkConfig, counter: &AwsCallCounter) -> Self {
        Self::build(sdk, Some(counter))
    }

    fn build(sdk: &SdkConfig, counter: Option<&AwsCallCounter>) -> Self {
        let mut dynamo = aws_sdk_dynamodb::config::Builder::from(sdk);
        let mut sqs = aws_sdk_sqs::config::Builder::from(sdk);
        // Emulators serve buckets by path, not by virtual host.
        let mut s3 =
            aws_sdk_s3::config::Builder::from(sdk).force_path_style(sdk.endpoint_url().is_some());
        let mut secrets = aws_sdk_secretsmanager::config::Builder::from(sdk);
        if let Some(counter) = counter {
            dynamo = dynamo.interceptor(counter.clone());
            sqs = sqs.interceptor(counter.clone());
            s3 = s3.interceptor(counter.clone());
            secrets = secrets.interceptor(counter.clone());
        }
        Self {
            dynamo: aws_sdk_dynamodb::Client::from_conf(dynamo.build()),
            sqs: aws_sdk_sqs::Client::from_conf(sqs.build()),
            s3: aws_sdk_s3::Client::from_conf(s3.build()),
            secrets: aws_sdk_secretsmanager::Client::from_conf(secrets.build()),
        }
    }
}

impl crate::api::ApiDeps {
    /// The shared API layer on DynamoDB: tenant configs, API keys and rate limits from
    /// the table, each cached as its adapter does.
    pub fn on_dynamo(client: &aws_sdk_dynamodb::Client, table: &str) -> Self {
        Self {
            tenants: Arc::new(DynamoTenantDirectory::new(client.clone(), table)),
            keys: Arc::new(crate::apikey::ApiKeyStore::new(client.clone(), table)),
            limiter: Arc::new(crate::ratelimit::RateLimiter::new(client.clone(), table)),
        }
    }
}

/// Tenant configs from the table, cached per warm instance (positive and negative).
pub struct DynamoTenantDirectory {
    client: aws_sdk_dynamodb::Client,
    table: String,
    cache: TtlCache<TenantId, Option<Arc<TenantConfig>>>,
}

impl DynamoTenantDirectory {
    pub const TTL: Duration = Duration::from_secs(60);

    pub fn new(client: aws_sdk_dynamodb::Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
            cache: TtlCache::new(Self::TTL, 10_000),
        }
    }
}

#[async_trait]
impl TenantDirectory for DynamoTenantDirectory {
    async fn tenant(&self, tenant: &TenantId) -> Result<Option<Arc<TenantConfig>>, StoreError> {
        if let Some(hit) = self.cache.get(tenant) {
            return Ok(hit);
        }
        let config = read_tenant_config(&self.client, &self.table, tenant, false)
            .await?
            .map(Arc::new);
        self.cache.insert(tenant.clone(), config.clone());
        Ok(config)
    }
}

/// One GetItem of a tenant's config; `consistent` for a read-modify-write.
pub async fn read_tenant_config(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
    tenant: &TenantId,
    consistent: bool,
) -> Result<Option<TenantConfig>, StoreError> {
    let (pk, sk) = keys::tenant_config(tenant);
    let out = client
        .get_item()
        .table_name(table)
        .key("PK", s(pk))
        .key("SK", s(sk))
        .consistent_read(consistent)
        .send()
        .await
        .map_err(|e| store_err("get tenant config", e))?;
    out.item
        .map(|item| from_item::<ConfigItem>(item).map(|parsed| parsed.config))
        .transpose()
}

/// Secrets Manager reader with a 5-minute in-memory cache. Values are never logged.
pub struct SecretsManagerSource {
    client: aws_sdk_secretsmanager::Client,
    stage: String,
    cache: TtlCache<TenantId, Option<Arc<TenantSecrets>>>,
    platform: TtlCache<(), Arc<PlatformSecrets>>,
    refreshed: TtlCache<TenantId, ()>,
}

impl SecretsManagerSource {
    pub const TTL: Duration = Duration::from_secs(300);

    pub fn new(client: aws_sdk_secretsmanager::Client, stage: impl Into<String>) -> Self {
        Self {
            client,
            stage: stage.into(),
            cache: TtlCache::new(Self::TTL, 10_000),
            platform: TtlCache::new(Self::TTL, 1),
            refreshed: TtlCache::new(Self::REFRESH_EVERY, 10_000),
        }
    }

    pub fn platform_secret_name(stage: &str) -> String {
        format!("sauda/{stage}/platform")
    }

    pub fn tenant_secret_name(stage: &str, tenant: &TenantId) -> String {
        format!("sauda/{stage}/tenant/{tenant}")
    }

    /// Fresh reads of one tenant's secret after a failed signature check: at most one
    /// this often, so a flood of forged requests cannot turn into Secrets Manager calls.
    pub const REFRESH_EVERY: Duration = Duration::from_secs(10);
}

#[async_trait]
impl SecretSource for SecretsManagerSource {
    async fn tenant_secrets(
        &self,
        tenant: &TenantId,
    ) -> Result<Option<Arc<TenantSecrets>>, SecretError> {
        if let Some(hit) = self.cache.get(tenant) {
            return Ok(hit);
        }
        let name = Self::tenant_secret_name(&self.stage, tenant);
        let result = self.client.get_secret_value().secret_id(&name).send().await;
        let secrets = match result {
            Ok(out) => {
                let raw = out.secret_string.unwrap_or_default();
                let parsed: TenantSecrets = serde_json::from_str(&raw)
                    .map_err(|_| SecretError::Malformed { name: name.clone() })?;
                Some(Arc::new(parsed))
            }
            Err(e)
                if e.as_service_error()
                    .is_some_and(|se| se.is_resource_not_found_exception()) =>
            {
                None
            }
            Err(e) => {
                return Err(SecretError::Unavailable(
                    DisplayErrorContext(&e).to_string(),
                ))
            }
        };
        self.cache.insert(tenant.clone(), secrets.clone());
        Ok(secrets)
    }

    async fn refresh_tenant_secrets(
        &self,
        tenant: &TenantId,
    ) -> Result<Option<Arc<TenantSecrets>>, SecretError> {
        if self.refreshed.get(tenant).is_none() {
            self.refreshed.insert(tenant.clone(), ());
            self.cache.invalidate(tenant);
        }
        self.tenant_secrets(tenant).await
    }

    async fn platform_secrets(&self) -> Result<Arc<PlatformSecrets>, SecretError> {
        if let Some(hit) = self.platform.get(&()) {
            return Ok(hit);
        }
        let name = Self::platform_secret_name(&self.stage);
        let secrets = match self.client.get_secret_value().secret_id(&name).send().await {
            Ok(out) => {
                let raw = out.secret_string.unwrap_or_default();
                Arc::new(
                    serde_json::from_str::<PlatformSecrets>(&raw)
                        .map_err(|_| SecretError::Malformed { name: name.clone() })?,
                )
            }
            Err(e)
                if e.as_service_error()
                    .is_some_and(|se| se.is_resource_not_found_exception()) =>
            {
                Arc::new(PlatformSecrets::default())
            }
            Err(e) => {
                return Err(SecretError::Unavailable(
                    DisplayErrorContext(&e).to_string(),
                ))
            }
        };
        self.platform.insert((), secrets.clone());
        Ok(secrets)
    }
}

/// Messages and delivery states in the single table.
pub struct DynamoMessageStore {
    client: aws_sdk_dynamodb::Client,
    table: String,
}

impl DynamoMessageStore {
    pub fn new(client: aws_sdk_dynamodb::Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }
}

#[derive(serde::Serialize, serde::Deserialize)]
struct OutboundPointer {
    #[serde(rename = "PK")]
    pk: String,
    #[serde(rename = "SK")]
    sk: String,
    message_pk: String,
    message_sk: String,
}

#[async_trait]
impl MessageStore for DynamoMessageStore {
    async fn put_inbound(&self, message: &InboundMessage) -> Result<PutOutcome, StoreError> {
        let item = to_item(&MessageItem::inbound(message, crate::now_ms()))?;
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(PK)")
            .send()
            .await;
        match result {
            Ok(_) => Ok(PutOutcome::Stored),
            Err(e) if is_condition_failed(&e) => Ok(PutOutcome::Duplicate),
            Err(e) => Err(store_err("put inbound message", e)),
        }
    }

    async fn put_outbound(&self, message: &OutboundMessage) -> Result<(), StoreError> {
        let item = MessageItem::outbound(message, crate::now_ms());
        let (pointer_pk, pointer_sk) =
            keys::outbound_pointer(&message.tenant, &message.platform_message_id);
        let pointer = OutboundPointer {
            pk: pointer_pk,
            sk: pointer_sk,
            message_pk: item.pk.clone(),
            message_sk: item.sk.clone(),
        };
        let put = |item: HashMap<String, AttributeValue>| -> Result<TransactWriteItem, StoreError> {
            let put = Put::builder()
                .table_name(&self.table)
                .set_item(Some(item))
                .build()
                .map_err(|e| StoreError::Rejected(format!("build put: {e}")))?;
            Ok(TransactWriteItem::builder().put(put).build())
        };
        self.client
            .transact_write_items()
            .transact_items(put(to_item(&item)?)?)
            .transact_items(put(to_item(&pointer)?)?)
            .send()
            .await
            .map_err(|e| store_err("put outbound message", e))?;
        Ok(())
    }

    async fn apply_delivery_status(
        &self,
        status: &DeliveryStatus,
    ) -> Result<StatusOutcome, StoreError> {
        let (pk, sk) = keys::outbound_pointer(&status.tenant, &status.platform_message_id);
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("PK", s(pk))
            .key("SK", s(sk))
            .send()
            .await
            .map_err(|e| store_err("get outbound pointer", e))?;
        let Some(item) = out.item else {
            return Ok(StatusOutcome::UnknownMessage);
        };
        let pointer: OutboundPointer = from_item(item)?;
        let mut update =
            "SET delivery_state = :state, delivery_rank = :rank, delivery_updated_ms = :ts"
                .to_owned();
        let mut request = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("PK", s(pointer.message_pk))
            .key("SK", s(pointer.message_sk))
            .expression_attribute_values(":state", s(status.state.as_str()))
            .expression_attribute_values(":rank", AttributeValue::N(status.state.rank().to_string()))
            .expression_attribute_values(":ts", AttributeValue::N(status.timestamp_ms.to_string()))
            // Monotonic: a late "delivered" never overwrites "read".
            .condition_expression(
                "attribute_exists(PK) AND (attribute_not_exists(delivery_rank) OR delivery_rank < :rank)",
            );
        if let Some(code) = status.error_code {
            update.push_str(", delivery_error_code = :code");
            request =
                request.expression_attribute_values(":code", AttributeValue::N(code.to_string()));
        }
        if let Some(title) = &status.error_title {
            update.push_str(", delivery_error_title = :title");
            request = request.expression_attribute_values(":title", s(title.clone()));
        }
        match request.update_expression(update).send().await {
            Ok(_) => Ok(StatusOutcome::Applied),
            Err(e) if is_condition_failed(&e) => Ok(StatusOutcome::Stale),
            Err(e) => Err(store_err("update delivery state", e)),
        }
    }

    async fn recent_messages(
        &self,
        tenant: &TenantId,
        contact: &str,
        limit: i32,
    ) -> Result<Vec<MessageItem>, StoreError> {
        crate::dynamo::query_newest(
            &self.client,
            &self.table,
            &keys::contact_pk(tenant, contact),
            keys::MESSAGE_SK_PREFIX,
            limit,
        )
        .await?
        .into_iter()
        .map(from_item)
        .collect()
    }
}

/// A FIFO queue: ordering per `group_id`, deduplication per `deduplication_id`.
pub struct SqsJobQueue {
    client: aws_sdk_sqs::Client,
    queue_url: String,
}

impl SqsJobQueue {
    pub fn new(client: aws_sdk_sqs::Client, queue_url: impl Into<String>) -> Self {
        Self {
            client,
            queue_url: queue_url.into(),
        }
    }
}

#[async_trait]
impl JobQueue for SqsJobQueue {
    async fn enqueue(
        &self,
        envelope: &Envelope,
        group_id: &str,
        deduplication_id: &str,
    ) -> Result<(), QueueError> {
        self.client
            .send_message()
            .queue_url(&self.queue_url)
            .message_body(envelope.to_json())
            .message_group_id(group_id)
            .message_deduplication_id(deduplication_id)
            .send()
            .await
            .map_err(|e| QueueError(DisplayErrorContext(&e).to_string()))?;
        Ok(())
    }
}

/// A standard SQS queue (leads, notify, crm, reports).
pub struct SqsQueue {
    client: aws_sdk_sqs::Client,
    queue_url: String,
}

impl SqsQueue {
    pub fn new(client: aws_sdk_sqs::Client, queue_url: impl Into<String>) -> Self {
        Self {
            client,
            queue_url: queue_url.into(),
        }
    }
}

#[async_trait]
impl MessageQueue for SqsQueue {
    async fn send(&self, envelope: &Envelope, delay_seconds: i32) -> Result<(), QueueError> {
        let mut request = self
            .client
            .send_message()
            .queue_url(&self.queue_url)
            .message_body(envelope.to_json());
        if delay_seconds > 0 {
            request = request.delay_seconds(delay_seconds.min(900));
        }
        request
            .send()
            .await
            .map_err(|e| QueueError(DisplayErrorContext(&e).to_string()))?;
        Ok(())
    }
}

/// The queue a record came from, found from its `eventSourceARN`: redelivery delays
/// and dead-lettering need no per-function configuration. Queue URLs and each queue's
/// dead-letter target are looked up once per warm instance.
pub struct SqsQueueControl {
    client: aws_sdk_sqs::Client,
    urls: Mutex<HashMap<String, String>>,
    dead_letter_urls: Mutex<HashMap<String, String>>,
}

impl SqsQueueControl {
    pub fn new(client: aws_sdk_sqs::Client) -> Self {
        Self {
            client,
            urls: Mutex::new(HashMap::new()),
            dead_letter_urls: Mutex::new(HashMap::new()),
        }
    }

    fn queue_err<E: std::error::Error + 'static, R: std::fmt::Debug>(
        what: &str,
        e: aws_sdk_sqs::error::SdkError<E, R>,
    ) -> QueueError {
        QueueError(format!("{what}: {}", DisplayErrorContext(&e)))
    }

    /// `arn:aws:sqs:{region}:{account}:{name}` → its URL.
    async fn url_of_arn(&self, arn: &str) -> Result<String, QueueError> {
        if let Some(url) = self.urls.lock().unwrap_or_else(|p| p.into_inner()).get(arn) {
            return Ok(url.clone());
        }
        let parts: Vec<&str> = arn.split(':').collect();
        let [_, _, "sqs", _, account, name] = parts.as_slice() else {
            return Err(QueueError(format!("not an SQS queue ARN: {arn}")));
        };
        let url = self
            .client
            .get_queue_url()
            .queue_name(*name)
            .queue_owner_aws_account_id(*account)
            .send()
            .await
            .map_err(|e| Self::queue_err("queue url", e))?
            .queue_url
            .ok_or_else(|| QueueError(format!("no URL for {arn}")))?;
        self.urls
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(arn.to_owned(), url.clone());
        Ok(url)
    }

    fn source_arn(record: &aws_lambda_events::event::sqs::SqsMessage) -> Result<&str, QueueError> {
        record
            .event_source_arn
            .as_deref()
            .filter(|a| !a.is_empty())
            .ok_or_else(|| QueueError("the record names no source queue".into()))
    }

    async fn dead_letter_url(&self, source_arn: &str) -> Result<String, QueueError> {
        if let Some(url) = self
            .dead_letter_urls
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(source_arn)
        {
            return Ok(url.clone());
        }
        let source = self.url_of_arn(source_arn).await?;
        let attributes = self
            .client
            .get_queue_attributes()
            .queue_url(&source)
            .attribute_names(aws_sdk_sqs::types::QueueAttributeName::RedrivePolicy)
            .send()
            .await
            .map_err(|e| Self::queue_err("queue attributes", e))?;
        let policy = attributes
            .attributes
            .and_then(|a| {
                a.get(&aws_sdk_sqs::types::QueueAttributeName::RedrivePolicy)
                    .cloned()
            })
            .ok_or_else(|| QueueError(format!("{source_arn} has no dead-letter queue")))?;
        let target = serde_json::from_str::<serde_json::Value>(&policy)
            .ok()
            .and_then(|p| p["deadLetterTargetArn"].as_str().map(str::to_owned))
            .ok_or_else(|| QueueError(format!("redrive policy of {source_arn} is unreadable")))?;
        let url = self.url_of_arn(&target).await?;
        self.dead_letter_urls
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(source_arn.to_owned(), url.clone());
        Ok(url)
    }
}

#[async_trait]
impl crate::consumer::QueueControl for SqsQueueControl {
    async fn delay(
        &self,
        record: &aws_lambda_events::event::sqs::SqsMessage,
        wait: Duration,
    ) -> Result<(), QueueError> {
        let handle = record
            .receipt_handle
            .as_deref()
            .ok_or_else(|| QueueError("the record has no receipt handle".into()))?;
        let url = self.url_of_arn(Self::source_arn(record)?).await?;
        self.client
            .change_message_visibility()
            .queue_url(url)
            .receipt_handle(handle)
            .visibility_timeout(crate::consumer::clamp_delay(wait))
            .send()
            .await
            .map_err(|e| Self::queue_err("change visibility", e))?;
        Ok(())
    }

    async fn dead_letter(
        &self,
        record: &aws_lambda_events::event::sqs::SqsMessage,
        reason: &str,
    ) -> Result<(), QueueError> {
        let url = self.dead_letter_url(Self::source_arn(record)?).await?;
        let reason: String = reason.chars().take(1000).collect();
        let mut request = self
            .client
            .send_message()
            .queue_url(&url)
            .message_body(record.body.clone().unwrap_or_default())
            .message_attributes(
                "poison_reason",
                aws_sdk_sqs::types::MessageAttributeValue::builder()
                    .data_type("String")
                    .string_value(if reason.is_empty() {
                        "unknown".to_owned()
                    } else {
                        reason
                    })
                    .build()
                    .map_err(|e| QueueError(format!("message attribute: {e}")))?,
            );
        if url.ends_with(".fifo") {
            let group = crate::consumer::message_group(record);
            request = request
                .message_group_id(if group.is_empty() { "poison" } else { group })
                .message_deduplication_id(record.message_id.clone().unwrap_or_default());
        }
        request
            .send()
            .await
            .map_err(|e| Self::queue_err("dead-letter send", e))?;
        Ok(())
    }
}
