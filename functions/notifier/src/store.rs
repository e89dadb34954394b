//! The notifier's ports: the delivery log (which recipients already have a notice, so
//! a redelivered notice reaches each chat once) and the inbox store (customer messages
//! once per id, thread cards, a manager's reply). `dynamo` implements both.

use async_trait::async_trait;
use sauda_shared::contact::ContactProfile;
use sauda_shared::inbox::CardItem;
use sauda_shared::message::MessageItem;
use sauda_shared::plan::WritePlan;
use sauda_shared::ports::StoreError;
use sauda_shared::TenantId;
use std::collections::HashSet;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeliveryState {
    Sent,
    /// Telegram refused for good (bot blocked, chat not found): never retried.
    Undeliverable,
}

impl DeliveryState {
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryState::Sent => "sent",
            DeliveryState::Undeliverable => "undeliverable",
        }
    }
}

#[async_trait]
pub trait DeliveryLog: Send + Sync {
    /// Chats this notice is finished for (sent or undeliverable).
    async fn finished(
        &self,
        tenant: &TenantId,
        notice_id: &str,
    ) -> Result<HashSet<i64>, StoreError>;
    async fn record(
        &self,
        tenant: &TenantId,
        notice_id: &str,
        chat_id: i64,
        state: DeliveryState,
    ) -> Result<(), StoreError>;

    /// Records a thread card as sent to `chat_id`, with the items that let a reply to
    /// any of its Telegram messages find the conversation, in one write.
    async fn record_card(
        &self,
        tenant: &TenantId,
        notice_id: &str,
        chat_id: i64,
        cards: Vec<CardItem>,
    ) -> Result<(), StoreError>;
}

/// A customer message finished before (sent or failed), as its marker says.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Finished {
    /// `sent` or `failed`.
    pub state: String,
    #[serde(default)]
    pub platform_message_ids: Vec<String>,
    /// Why it failed, in the managers' words (HTML-escaped).
    #[serde(default)]
    pub reason: Option<String>,
}

/// The lead, as `/who` shows it (lead-capture owns the item; only these are read).
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Deserialize)]
pub struct LeadSummary {
    #[serde(default)]
    pub stage: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub phone: Option<String>,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub interest: Option<String>,
}

/// A stored outbound message, found from a platform's id (a failed WhatsApp status).
#[derive(Clone, Debug, PartialEq)]
pub struct SentMessage {
    pub contact: String,
    pub item: MessageItem,
}

/// The plan's idempotency guard failed: another delivery of the same customer message
/// recorded it first.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AlreadyRecorded;

/// The conversation side of the notifier: customer messages once per id, thread cards,
/// and the reads a manager's reply needs.
#[async_trait]
pub trait InboxStore: Send + Sync {
    /// The marker of a customer message (if it finished before) and the customer's
    /// profile, in one read.
    async fn before_send(
        &self,
        tenant: &TenantId,
        id: &str,
        contact: &str,
    ) -> Result<(Option<Finished>, Option<ContactProfile>), StoreError>;

    /// Commits a plan; `false` when its guard says another delivery recorded it first.
    async fn commit(&self, plan: &WritePlan<AlreadyRecorded>) -> Result<bool, StoreError>;

    /// The profile and the newest `n` messages, newest first, in one Query.
    async fn thread(
        &self,
        tenant: &TenantId,
        contact: &str,
        n: usize,
    ) -> Result<(Option<ContactProfile>, Vec<MessageItem>), StoreError>;

    /// The conversation a manager's card belongs to.
    async fn card(
        &self,
        tenant: &TenantId,
        chat_id: i64,
        message_id: i64,
    ) -> Result<Option<CardItem>, StoreError>;

    /// The profile and the lead, in one read.
    async fn who(
        &self,
        tenant: &TenantId,
        contact: &str,
    ) -> Result<(Option<ContactProfile>, Option<LeadSummary>), StoreError>;

    /// The outbound message a platform id belongs to.
    async fn sent_message(
        &self,
        tenant: &TenantId,
        platform_message_id: &str,
    ) -> Result<Option<SentMessage>, StoreError>;
}
