//! Stage 3: the answer. The model with tools when the route allows one; otherwise (or
//! when it fails) the retrieval fallback: a manager when asked for, a lead when
//! contact details were given, else the best catalog matches. Everything it touches
//! is a port, so it runs in unit tests with a scripted model.

use super::decide::{FallbackReason, Route};
use super::load::Context;
use super::{transient, JobError};
use crate::agent::{Effects, ToolPorts, Turn, TurnError};
use crate::catalog::{CatalogIndex, CatalogItem};
use crate::conversation::{message_text, ReplyState};
use crate::llm::{ChatMessage, ChatModel, LlmError, Usage};
use crate::notices::{self, OnceNotice};
use crate::prompt;
use crate::usage::{cost_micros, month_of, price_of};
use sauda_shared::funnel::Stage;
use sauda_shared::i18n::{agent as t, Lang};
use sauda_shared::lead::{LeadSource, LeadSubmission};
use sauda_shared::message::{Attachment, Direction};
use sauda_shared::tenant::ModelPrice;
use std::collections::BTreeMap;
use std::time::Instant;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReplyKind {
    Llm,
    Fallback,
    RateLimitNotice,
    /// A command or button, answered without a model (`reply::commands`).
    Command,
}

impl ReplyKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Llm => "llm",
            Self::Fallback => "fallback",
            Self::RateLimitNotice => "rate_limit_notice",
            Self::Command => "command",
        }
    }
}

/// What goes to the customer, with what it cost and did.
#[derive(Clone, Debug, PartialEq)]
pub struct Reply {
    pub text: String,
    pub kind: ReplyKind,
    pub fallback_reason: Option<FallbackReason>,
    pub model: Option<String>,
    pub usage: Usage,
    pub calls: u32,
    pub cost_micros: i64,
    pub tools: Vec<String>,
    /// Handed to a manager (the reason): the agent pauses for this customer.
    pub handoff: Option<String>,
    /// Under the text: Telegram inline keyboard, WhatsApp reply buttons or a list.
    pub buttons: Vec<sauda_shared::outbox::Button>,
    /// The language the customer chose with this message (`/language`).
    pub language: Option<Lang>,
    /// A photo (URL) sent with the text: a product card.
    pub photo: Option<String>,
}

impl Reply {
    pub fn state(&self) -> ReplyState {
        match self.kind {
            ReplyKind::Llm => ReplyState::Replied,
            ReplyKind::Fallback => ReplyState::Fallback,
            ReplyKind::RateLimitNotice => ReplyState::RateLimitNotice,
            ReplyKind::Command => ReplyState::Command,
        }
    }
}

/// The one polite notice to a customer over the rate limit.
pub fn rate_limit_notice(lang: Lang) -> Reply {
    Reply::plain(
        t::RATE_LIMITED.get(lang).to_owned(),
        ReplyKind::RateLimitNotice,
    )
}

impl Reply {
    /// A reply no model wrote: no usage, no tools, no buttons.
    pub fn plain(text: String, kind: ReplyKind) -> Self {
        Reply {
            text,
            kind,
            fallback_reason: None,
            model: None,
            usage: Usage::default(),
            calls: 0,
            cost_micros: 0,
            tools: Vec::new(),
            handoff: None,
            buttons: Vec::new(),
            language: None,
            photo: None,
        }
    }
}

#[derive(Clone, Copy)]
pub struct Ports<'a> {
    pub model: &'a dyn ChatModel,
    pub tools: ToolPorts<'a>,
    /// The platform's price list (the tenant's own comes with its config).
    pub prices: &'a BTreeMap<String, ModelPrice>,
}

pub struct Input<'a> {
    pub ctx: &'a Context,
    pub route: Route,
    pub catalog: Option<&'a CatalogIndex>,
    /// When the model must have answered.
    pub deadline: Instant,
}

pub struct Composed {
    pub reply: Reply,
    /// Notices to the managers the turn gave cause for (a refused model URL).
    pub once: Vec<OnceNotice>,
}

/// The catalog items matching what the customer wrote, retrieved before the model is
/// called so that most answers need one call.
fn matches(catalog: Option<&CatalogIndex>, ctx: &Context) -> Vec<CatalogItem> {
    let top_k = ctx.config.agent.top_k.clamp(1, 20);
    catalog
        .filter(|_| !ctx.unanswered.trim().is_empty())
        .map(|c| {
            c.search(&ctx.unanswered, top_k)
                .into_iter()
                .map(|h| h.item)
                .collect()
        })
        .unwrap_or_default()
}

/// The system prompt, then the conversation oldest first, ending with this message.
pub fn model_messages(
    ctx: &Context,
    matches: &[CatalogItem],
    has_catalog: bool,
) -> Vec<ChatMessage> {
    let config = &ctx.config;
    let today = sauda_shared::stats::local_day(&config.timezone, ctx.now_ms);
    let system = prompt::system_prompt(&prompt::PromptContext {
        config,
        stage: ctx
            .conv
            .profile
            .as_ref()
            .and_then(|p| p.stage)
            .unwrap_or(Stage::New),
        language: &ctx.language,
        loyalty: config.loyalty.enabled,
        matches,
        has_catalog,
        customer_name: ctx.message.display_name.as_deref(),
        today: &today,
    });
    let mut out = vec![ChatMessage::system(system)];
    out.extend(
        ctx.conv
            .messages
            .iter()
            .rev()
            .filter(|m| m.sk < ctx.inbound_sk)
            .filter_map(|m| {
                let text: String = match m.direction {
                    Direction::In => message_text(m.text.as_deref(), m.attachment.as_ref()),
                    Direction::Out => m.text.clone()?,
                }
                .chars()
                .take(2_000)
                .collect();
                Some(match m.direction {
                    Direction::In => ChatMessage::user(text),
                    Direction::Out => ChatMessage::assistant(text),
                })
            }),
    );
    out.push(ChatMessage::user(
        ctx.text.chars().take(4_000).collect::<String>(),
    ));
    out
}

/// What the model did: its text (none when it failed), and what it cost.
#[derive(Default)]
struct ModelOutcome {
    text: Option<String>,
    model: Option<String>,
    usage: Usage,
    calls: u32,
    effects: Effects,
    failed: Option<FallbackReason>,
}

async fn ask_model(
    ports: &Ports<'_>,
    input: &Input<'_>,
    matches: &[CatalogItem],
    once: &mut Vec<OnceNotice>,
) -> Result<ModelOutcome, JobError> {
    let ctx = input.ctx;
    let Route::Model(endpoint) = &input.route else {
        return Ok(ModelOutcome::default());
    };
    let mut turn = Turn {
        model: ports.model,
        ports: ports.tools,
        config: &ctx.config,
        message: &ctx.message,
        catalog: input.catalog,
        effects: Effects::default(),
        usage: Usage::default(),
        calls: 0,
    };
    let messages = model_messages(ctx, matches, input.catalog.is_some());
    let result = turn.run(endpoint, messages, input.deadline).await;
    let mut out = ModelOutcome {
        model: Some(endpoint.model.clone()),
        usage: turn.usage,
        calls: turn.calls,
        effects: turn.effects,
        ..Default::default()
    };
    match result {
        Ok(answer) => {
            out.model = Some(answer.model);
            out.text = Some(answer.text);
        }
        Err(TurnError::Infra(e)) => return Err(transient("tool", e)),
        Err(TurnError::Llm(e)) => {
            let reason = match e {
                LlmError::Quota(_) => FallbackReason::Quota,
                LlmError::Refused(_) => {
                    let month = month_of(&ctx.config, ctx.now_ms);
                    once.push(notices::llm_url_refused(
                        &ctx.config,
                        &month,
                        &endpoint.base_url,
                    ));
                    FallbackReason::LlmError
                }
                _ => FallbackReason::LlmError,
            };
            tracing::warn!(tenant = %ctx.message.tenant, error = %e, reason = reason.as_str(), "LLM failed; answering from the catalog");
            out.failed = Some(reason);
        }
    }
    Ok(out)
}

pub async fn compose(ports: &Ports<'_>, input: Input<'_>) -> Result<Composed, JobError> {
    let ctx = input.ctx;
    let matches = matches(input.catalog, ctx);
    let mut once = Vec::new();
    let mut model = ask_model(ports, &input, &matches, &mut once).await?;
    let fallback_reason = match &input.route {
        Route::Fallback(reason) => Some(*reason),
        Route::Model(_) => model.failed,
    };
    let cost = model.model.as_deref().map_or(0, |m| {
        let price = price_of(&ctx.config.agent.prices, ports.prices, m);
        cost_micros(
            &price,
            model.usage.prompt_tokens,
            model.usage.completion_tokens,
        )
    });
    let mut buttons = Vec::new();
    let mut photo = None;
    let text = match model.text.take() {
        Some(text) => text,
        None => {
            let (text, listed) = fallback(ports.tools, ctx, &matches, &mut model.effects).await?;
            // A catalog answer without a model: the first match's photo and buttons.
            if listed {
                if let Some(first) = matches.first() {
                    let shop = super::shop::Ports {
                        orders: None,
                        payments: ports.tools.orders,
                    };
                    (photo, buttons) = super::shop::extras(&shop, ctx, first, None);
                }
            }
            text
        }
    };
    Ok(Composed {
        reply: Reply {
            text,
            kind: if fallback_reason.is_some() {
                ReplyKind::Fallback
            } else {
                ReplyKind::Llm
            },
            fallback_reason,
            model: model.model,
            usage: model.usage,
            calls: model.calls,
            cost_micros: cost,
            tools: model.effects.tools,
            handoff: model.effects.handoff,
            buttons,
            language: None,
            photo,
        },
        once,
    })
}

/// What the retrieval fallback does, from the message alone.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FallbackPlan {
    /// The model handed off before it failed: just say so.
    AlreadyHandedOff,
    /// The customer asked for a person.
    HandOff,
    /// The customer gave a phone number or email: a lead.
    CaptureLead {
        phone: Option<String>,
        email: Option<String>,
    },
    /// The best catalog matches (after a word about voice notes, for one).
    Catalog { voice: bool },
}

pub fn fallback_plan(ctx: &Context, effects: &Effects) -> FallbackPlan {
    if effects.handoff.is_some() {
        return FallbackPlan::AlreadyHandedOff;
    }
    if prompt::asks_for_manager(&ctx.text) {
        return FallbackPlan::HandOff;
    }
    let (mut phone, email) = prompt::contact_details(&ctx.text, &ctx.config.leads.default_region);
    if let Some(Attachment::Contact { phone: shared, .. }) = &ctx.message.attachment {
        phone = phone.or_else(|| Some(shared.clone()));
    }
    if effects.leads == 0 && (phone.is_some() || email.is_some()) {
        return FallbackPlan::CaptureLead { phone, email };
    }
    let words = ctx
        .message
        .text
        .as_deref()
        .map(str::trim)
        .unwrap_or_default();
    FallbackPlan::Catalog {
        voice: words.is_empty() && matches!(ctx.message.attachment, Some(Attachment::Voice { .. })),
    }
}

async fn fallback(
    tools: ToolPorts<'_>,
    ctx: &Context,
    matches: &[CatalogItem],
    effects: &mut Effects,
) -> Result<(String, bool), JobError> {
    let lang = ctx.lang;
    let m = &ctx.message;
    let plan = fallback_plan(ctx, effects);
    let listed = matches!(plan, FallbackPlan::Catalog { .. });
    let text = match plan {
        FallbackPlan::AlreadyHandedOff => t::HANDOFF_DONE.get(lang).to_owned(),
        FallbackPlan::HandOff => {
            let reason = t::HANDOFF_ASKED
                .get(notices::managers_lang(&ctx.config))
                .to_owned();
            tools
                .hand_off(&ctx.config, m, &reason)
                .await
                .map_err(|e| transient("notify", e))?;
            effects.handoff = Some(reason);
            effects.tools.push("handoff_to_manager".into());
            t::HANDOFF_DONE.get(lang).to_owned()
        }
        FallbackPlan::CaptureLead { phone, email } => {
            let lead = LeadSubmission {
                tenant: m.tenant.clone(),
                source: LeadSource::Agent,
                idempotency_key: format!("agent:{}:{}:contact", m.contact, m.platform_message_id),
                contact: Some(m.contact.clone()),
                name: m.display_name.clone(),
                phone,
                email,
                interest: None,
                message: m.text.clone(),
                language: Some(ctx.language.clone()),
                consent: true,
                submitted_at_ms: ctx.now_ms,
            };
            tools
                .capture_lead(lead)
                .await
                .map_err(|e| transient("leads", e))?;
            effects.leads += 1;
            effects.tools.push("capture_lead".into());
            t::LEAD_THANKS.get(lang).to_owned()
        }
        FallbackPlan::Catalog { voice } => {
            let reply = prompt::fallback_reply(lang, matches);
            if voice {
                format!("{}\n{reply}", t::VOICE_UNSUPPORTED.get(lang))
            } else {
                reply
            }
        }
    };
    Ok((text, listed))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{self, MemoryQueue, MemoryStore, ScriptedModel};
    use sauda_shared::envelope::Job;
    use sauda_shared::message::MessageKind;
    use std::time::Duration;

    struct World {
        model: ScriptedModel,
        leads: MemoryQueue,
        notify: MemoryQueue,
        orders: MemoryQueue,
        store: MemoryStore,
        prices: BTreeMap<String, ModelPrice>,
        catalog: Option<CatalogIndex>,
    }

    impl World {
        fn new(model: ScriptedModel) -> Self {
            Self {
                model,
                leads: MemoryQueue::default(),
                notify: MemoryQueue::default(),
                orders: MemoryQueue::default(),
                store: MemoryStore::default(),
                prices: crate::config::builtin_prices(),
                catalog: None,
            }
        }

        async fn compose(&self, ctx: &Context, route: Route) -> Composed {
            let ports = Ports {
                model: &self.model,
                tools: ToolPorts {
                    leads: &self.leads,
                    notify: &self.notify,
                    store: &self.store,
                    orders: Some(&self.orders),
                },
                prices: &self.prices,
            };
            let input = Input {
                ctx,
                route,
                catalog: self.catalog.as_ref(),
                deadline: Instant::now() + Duration::from_secs(10),
            };
            compose(&ports, input).await.unwrap()
        }
    }

    #[tokio::test]
    async fn the_model_answers_and_its_cost_is_priced() {
        let w = World::new(ScriptedModel::answers(vec![testing::text_answer(
            "Есть, 12 500 KZT.",
        )]));
        let ctx = testing::ctx(|_| {}, |_| {});
        let out = w.compose(&ctx, Route::Model(testing::endpoint())).await;
        assert_eq!(out.reply.text, "Есть, 12 500 KZT.");
        assert_eq!(
            (out.reply.kind, out.reply.state()),
            (ReplyKind::Llm, ReplyState::Replied)
        );
        assert_eq!(out.reply.calls, 1);
        // gpt-4o-mini: 100 × 0.15 + 10 × 0.60 $/Mtok, rounded up to a micro.
        assert_eq!(out.reply.cost_micros, 15 + 6);
        let request = &w.model.requests.lock().unwrap()[0];
        let messages = request["messages"].as_array().unwrap();
        assert!(messages[0]["content"].as_str().unwrap().contains("Russian"));
        assert_eq!(messages.last().unwrap()["content"], "Сколько стоит насос?");
    }

    #[tokio::test]
    async fn a_handoff_tool_pauses_and_a_failed_model_still_answers() {
        let w = World::new(ScriptedModel::answers(vec![
            testing::tool_answer(
                "handoff_to_manager",
                serde_json::json!({"reason": "wants 50 pumps"}),
            ),
            Err(LlmError::Unavailable {
                attempts: 3,
                message: "down".into(),
            }),
        ]));
        let ctx = testing::ctx(|_| {}, |_| {});
        let out = w.compose(&ctx, Route::Model(testing::endpoint())).await;
        assert_eq!(out.reply.handoff.as_deref(), Some("wants 50 pumps"));
        assert_eq!(out.reply.fallback_reason, Some(FallbackReason::LlmError));
        assert_eq!(
            out.reply.text,
            t::HANDOFF_DONE.ru,
            "the handoff is not lost"
        );
        let notices = w.notify.sent();
        assert_eq!(notices.len(), 1);
        assert!(matches!(&notices[0].job, Job::Notify { notice } if notice.kind == "handoff"));
    }

    #[tokio::test]
    async fn a_refused_model_url_falls_back_and_tells_the_managers_once_a_month() {
        let w = World::new(ScriptedModel::answers(vec![Err(LlmError::Refused(
            sauda_shared::outbound::UrlError::ForbiddenAddress,
        ))]));
        let ctx = testing::ctx(|_| {}, |_| {});
        let out = w.compose(&ctx, Route::Model(testing::endpoint())).await;
        assert_eq!(out.reply.fallback_reason, Some(FallbackReason::LlmError));
        assert_eq!(out.once.len(), 1);
        assert_eq!(out.once[0].marker, crate::usage::Marker::LlmUrlRefused);
    }

    #[tokio::test]
    async fn without_a_model_the_fallback_speaks_the_customers_language() {
        let w = World::new(ScriptedModel::default());
        let kazakh = testing::ctx_for(
            testing::message("Сәлеметсіз бе, сорғы бар ма?"),
            |_| {},
            |_| {},
        );
        let out = w
            .compose(&kazakh, Route::Fallback(FallbackReason::NoLlm))
            .await;
        assert_eq!(
            out.reply.text,
            format!("{}\n{}", t::NOTHING_FOUND.kk, t::OFFER_MANAGER.kk)
        );
        let kyrgyz = testing::ctx_for(voice("ky"), |_| {}, |_| {});
        let out = w
            .compose(&kyrgyz, Route::Fallback(FallbackReason::Budget))
            .await;
        assert!(
            out.reply.text.starts_with(t::VOICE_UNSUPPORTED.ky),
            "{}",
            out.reply.text
        );
        assert_eq!(w.model.calls(), 0);
    }

    #[tokio::test]
    async fn the_fallback_hands_off_or_captures_a_lead() {
        let w = World::new(ScriptedModel::default());
        let ctx = testing::ctx_for(testing::message("Позовите менеджера"), |_| {}, |_| {});
        assert_eq!(
            fallback_plan(&ctx, &Effects::default()),
            FallbackPlan::HandOff
        );
        let out = w
            .compose(&ctx, Route::Fallback(FallbackReason::NoLlm))
            .await;
        assert_eq!(out.reply.handoff.as_deref(), Some(t::HANDOFF_ASKED.ru));
        assert_eq!(out.reply.tools, ["handoff_to_manager"]);

        let ctx = testing::ctx_for(
            testing::message("Мой номер +7 701 765 43 21"),
            |_| {},
            |_| {},
        );
        let out = w
            .compose(&ctx, Route::Fallback(FallbackReason::NoLlm))
            .await;
        assert_eq!(out.reply.text, t::LEAD_THANKS.ru);
        let leads = w.leads.sent();
        let Job::CaptureLead { lead } = &leads[0].job else {
            panic!()
        };
        assert_eq!(lead.phone.as_deref(), Some("+77017654321"));
        assert_eq!(lead.idempotency_key, "agent:tg-42:7:contact");
    }

    #[tokio::test]
    async fn an_order_is_confirmed_with_catalog_prices_then_queued_once() {
        let item = CatalogItem {
            price_minor: Some(4_500_000),
            currency: Some("KZT".into()),
            ..CatalogItem::new("GR-CR10-2", "Насос Grundfos CR 10-2")
        };
        let mut w = World::new(ScriptedModel::answers(vec![
            // A price in the model's arguments is ignored: the catalog's is used.
            testing::tool_answer(
                "create_order",
                serde_json::json!({"items": [{"sku": "GR-CR10-2", "quantity": 2, "price": 1}]}),
            ),
            testing::tool_answer(
                "create_order",
                serde_json::json!({"items": [{"sku": "GR-CR10-2", "quantity": 2}], "confirmed": true}),
            ),
            testing::text_answer("Заказ оформлен: 90 000 ₸. Ссылка на оплату придёт сейчас."),
        ]));
        w.catalog = Some(CatalogIndex::build(&[item], |_, _| {}).unwrap());
        let ctx = testing::ctx(
            |c| c.orders.providers = vec![sauda_shared::order::Provider::Kaspi],
            |_| {},
        );
        let out = w.compose(&ctx, Route::Model(testing::endpoint())).await;
        assert_eq!(out.reply.tools, ["create_order", "create_order"]);
        let requests = w.model.requests.lock().unwrap().clone();
        let offered: Vec<&str> = requests[0]["tools"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["function"]["name"].as_str().unwrap())
            .collect();
        assert!(offered.contains(&"create_order"), "{offered:?}");
        let preview: serde_json::Value = serde_json::from_str(
            requests[1]["messages"].as_array().unwrap().last().unwrap()["content"]
                .as_str()
                .unwrap(),
        )
        .unwrap();
        assert_eq!(preview["status"], "needs_confirmation");
        assert_eq!(
            preview["total"], "90\u{a0}000\u{a0}₸",
            "2 × 45 000 ₸ from the catalog"
        );
        let jobs = w.orders.sent();
        assert_eq!(jobs.len(), 1, "only the confirmed call queues an order");
        let Job::Order {
            job: sauda_shared::order::OrderJob::Create { request, provider },
        } = &jobs[0].job
        else {
            panic!("{:?}", jobs[0].job)
        };
        assert_eq!(*provider, None);
        assert_eq!(request.items[0].quantity, 2);
        assert_eq!(request.customer.contact, ctx.message.contact);
        assert_eq!(request.source, sauda_shared::order::OrderSource::Agent);
        let seed = format!(
            "agent:{}:{}:0",
            ctx.message.contact, ctx.message.platform_message_id
        );
        assert_eq!(
            request.order_id.as_deref(),
            Some(sauda_shared::order::stable_id(ctx.message.timestamp_ms, &seed).as_str()),
            "stable for this message: a redelivery places the same order"
        );
    }

    #[tokio::test]
    async fn without_payment_providers_no_order_tool_is_offered() {
        let w = World::new(ScriptedModel::answers(vec![testing::text_answer("ok")]));
        let ctx = testing::ctx(|_| {}, |_| {});
        w.compose(&ctx, Route::Model(testing::endpoint())).await;
        let requests = w.model.requests.lock().unwrap().clone();
        let offered = requests[0]["tools"].to_string();
        assert!(!offered.contains("create_order"), "{offered}");
    }

    fn voice(app_language: &str) -> sauda_shared::message::InboundMessage {
        sauda_shared::message::InboundMessage {
            kind: MessageKind::Voice,
            text: None,
            attachment: Some(Attachment::Voice {
                file_id: "f".into(),
                duration_s: Some(3),
            }),
            language: Some(app_language.into()),
            ..testing::message("")
        }
    }
}
