//! Stage 1: the tenant and the conversation (one Query), and the facts every later
//! stage reads from them, computed once.

use super::{transient, JobError};
use crate::conversation::{message_text, Conversation, RateWindow, Stored};
use crate::prompt;
use crate::store::ConversationStore;
use sauda_shared::i18n::Lang;
use sauda_shared::message::{Direction, InboundMessage};
use sauda_shared::ports::TenantDirectory;
use sauda_shared::stats;
use sauda_shared::tenant::TenantConfig;
use std::sync::Arc;

/// One job's inputs: the message, its tenant, its conversation, and what follows
/// from them.
pub struct Context {
    pub config: Arc<TenantConfig>,
    pub message: InboundMessage,
    pub conv: Conversation,
    pub now_ms: i64,
    pub inbound_sk: String,
    /// The inbound message as stored (absent when it is older than the history read).
    pub current: Option<Stored>,
    /// A newer message of the same customer is already stored.
    pub newer_inbound: bool,
    /// The message as the model reads it (attachments described).
    pub text: String,
    /// What the customer wrote since our last reply, oldest first.
    pub unanswered: String,
    /// The language to answer in (`ru`, `kk`, `de`…), for the model.
    pub language: String,
    /// The language of the texts Sauda itself writes to the customer.
    pub lang: Lang,
    /// The rate window with this message counted.
    pub rate: RateWindow,
    /// The tenant-local day the job's counters go to.
    pub day: String,
}

impl Context {
    pub fn new(
        config: Arc<TenantConfig>,
        message: InboundMessage,
        conv: Conversation,
        now_ms: i64,
    ) -> Self {
        let inbound_sk = message.sk();
        let current = conv.messages.iter().find(|m| m.sk == inbound_sk).cloned();
        // Newer by arrival-clamped time, so a message dated in the future never
        // supersedes the customer's later messages.
        let position = current
            .as_ref()
            .map(|c| c.order_ms.unwrap_or(c.timestamp_ms))
            .unwrap_or(message.timestamp_ms);
        let newer_inbound = conv.messages.iter().any(|m| {
            m.direction == Direction::In
                && m.sk != inbound_sk
                && m.order() > (position, inbound_sk.as_str())
        });
        let text = message_text(message.text.as_deref(), message.attachment.as_ref());
        let unanswered = conv.unanswered_words(&inbound_sk, message.text.as_deref());
        let profile = conv.profile.as_ref();
        // The customer's own words decide the language, never our notes about attachments.
        // A language the customer chose in chat wins over detection.
        // A command or a button says nothing about the customer's language.
        let words = match message.text.as_deref().map(str::trim_start) {
            Some(t) if t.starts_with('/') || sauda_shared::chat::is_button_data(t) => "",
            _ => unanswered.as_str(),
        };
        let language = match profile.and_then(|p| p.language_chosen.clone()) {
            Some(chosen) => chosen,
            None => prompt::detect_language(
                words,
                profile
                    .and_then(|p| p.language.as_deref())
                    .or(message.language.as_deref()),
                &config.default_language,
            ),
        };
        let lang = Lang::pick(Some(&language), &config.default_language);
        let rate = RateWindow::after(profile, message.timestamp_ms);
        let day = stats::local_day(&config.timezone, now_ms);
        Self {
            config,
            message,
            conv,
            now_ms,
            inbound_sk,
            current,
            newer_inbound,
            text,
            unanswered,
            language,
            lang,
            rate,
            day,
        }
    }
}

/// `None` for a tenant that does not exist (its messages are dropped).
pub async fn load(
    tenants: &dyn TenantDirectory,
    store: &dyn ConversationStore,
    message: InboundMessage,
    now_ms: i64,
) -> Result<Option<Context>, JobError> {
    let Some(config) = tenants
        .tenant(&message.tenant)
        .await
        .map_err(|e| transient("tenant", e))?
    else {
        tracing::warn!(tenant = %message.tenant, "inbound message of an unknown tenant dropped");
        return Ok(None);
    };
    let conv = store
        .read(&message.tenant, &message.contact)
        .await
        .map_err(|e| transient("conversation", e))?;
    Ok(Some(Context::new(config, message, conv, now_ms)))
}
