//! One model turn: the conversation plus pre-retrieved catalog matches go to the model,
//! which may call tools for a bounded number of steps before it answers.

use crate::catalog::CatalogIndex;
use crate::llm::{ChatMessage, ChatModel, ChatRequest, Endpoint, LlmError, ToolCall, Usage};
use crate::notices;
use crate::store::ConversationStore;
use sauda_shared::envelope::Envelope;
use sauda_shared::lead::{LeadSource, LeadSubmission};
use sauda_shared::message::InboundMessage;
use sauda_shared::notify;
use sauda_shared::order::{
    self, format_amount, Customer, LineRequest, OrderJob, OrderRequest, OrderSource,
};
use sauda_shared::ports::MessageQueue;
use sauda_shared::tenant::TenantConfig;
use serde_json::{json, Value};
use std::time::Instant;

/// Longest answer the model may write (tokens).
const MAX_TOKENS: u32 = 700;

/// What the tools did during a turn, for the job to store and count.
#[derive(Debug, Default)]
pub struct Effects {
    pub leads: u32,
    /// Orders placed with `create_order` (numbers the next one's id).
    pub orders: u32,
    /// Set by `handoff_to_manager`: the reason; the job pauses the agent.
    pub handoff: Option<String>,
    pub tools: Vec<String>,
}

#[derive(Debug)]
pub struct TurnOutput {
    pub text: String,
    pub model: String,
}

#[derive(Debug, thiserror::Error)]
pub enum TurnError {
    #[error(transparent)]
    Llm(#[from] LlmError),
    /// A tool's own dependency failed (queue, table): the job is retried as a whole.
    #[error("tool dependency failed: {0}")]
    Infra(String),
}

/// What tools reach: the queues they write to and the store they read.
#[derive(Clone, Copy)]
pub struct ToolPorts<'a> {
    pub leads: &'a dyn MessageQueue,
    pub notify: &'a dyn MessageQueue,
    pub store: &'a dyn ConversationStore,
    /// The payments queue, where `create_order` leaves orders for the orders worker;
    /// `None`: the tool is not offered.
    pub orders: Option<&'a dyn MessageQueue>,
}

impl ToolPorts<'_> {
    /// Tells the managers a customer needs a person (the notice id is stable per
    /// inbound message, so a retried job does not notify twice).
    pub async fn hand_off(
        &self,
        config: &TenantConfig,
        message: &InboundMessage,
        reason: &str,
    ) -> Result<(), TurnError> {
        notify::send(self.notify, notices::handoff(config, message, reason))
            .await
            .map_err(|e| TurnError::Infra(e.to_string()))
    }

    /// Passes a lead to lead-capture (idempotent by the submission's key).
    pub async fn capture_lead(&self, lead: LeadSubmission) -> Result<(), TurnError> {
        self.leads
            .send(&Envelope::capture_lead(lead), 0)
            .await
            .map_err(|e| TurnError::Infra(e.to_string()))
    }
}

pub struct Turn<'a> {
    pub model: &'a dyn ChatModel,
    pub ports: ToolPorts<'a>,
    pub config: &'a TenantConfig,
    pub message: &'a InboundMessage,
    pub catalog: Option<&'a CatalogIndex>,
    pub effects: Effects,
    pub usage: Usage,
    pub calls: u32,
}

pub fn tool_definitions(loyalty: bool, orders: bool) -> Value {
    let mut tools = vec![
        json!({"type": "function", "function": {
            "name": "search_catalog",
            "description": "Search the shop's catalog by product type, name, brand or SKU, in any language; typos are fine. Returns items with price, availability and link.",
            "parameters": {"type": "object", "properties": {
                "query": {"type": "string", "description": "What to look for, e.g. \"насос Grundfos CR 10\" or \"GR-CR10-2\""}
            }, "required": ["query"]}
        }}),
        json!({"type": "function", "function": {
            "name": "capture_lead",
            "description": "Pass the customer to a sales manager as a lead: when they want to buy, need an invoice or a call back, or shared a name, phone or email.",
            "parameters": {"type": "object", "properties": {
                "name": {"type": "string"},
                "phone": {"type": "string", "description": "As the customer wrote it"},
                "email": {"type": "string"},
                "interest": {"type": "string", "description": "What the customer wants, in a few words"}
            }, "required": ["interest"]}
        }}),
        json!({"type": "function", "function": {
            "name": "handoff_to_manager",
            "description": "Hand the conversation to a human manager (the customer asks for a person, is unhappy, or needs what you cannot do). You stay silent afterwards until a manager resumes you.",
            "parameters": {"type": "object", "properties": {
                "reason": {"type": "string", "description": "Why, in one sentence, for the manager"}
            }, "required": ["reason"]}
        }}),
    ];
    if orders {
        tools.push(json!({"type": "function", "function": {
            "name": "create_order",
            "description": "Place an order for catalog items the customer chose. First call it without confirmed: it returns the lines and the total from the catalog; read them back and ask the customer to confirm. Only after the customer clearly agrees, call it again with the same items and confirmed=true: the order is placed and the customer gets a payment link or invoice in this chat.",
            "parameters": {"type": "object", "properties": {
                "items": {"type": "array", "description": "SKUs exactly as in the catalog results, with quantities", "items": {
                    "type": "object", "properties": {
                        "sku": {"type": "string"},
                        "quantity": {"type": "integer", "minimum": 1}
                    }, "required": ["sku", "quantity"]}},
                "confirmed": {"type": "boolean", "description": "true only after the customer confirmed these items, quantities and total"},
                "delivery": {"type": "string", "description": "Delivery address or notes the customer gave, if any"}
            }, "required": ["items"]}
        }}));
    }
    if loyalty {
        tools.push(json!({"type": "function", "function": {
            "name": "get_loyalty_balance",
            "description": "The customer's loyalty points balance.",
            "parameters": {"type": "object", "properties": {}}
        }}));
    }
    Value::Array(tools)
}

impl Turn<'_> {
    /// Runs the model with tools for at most `max_tool_steps` calls, the last of which
    /// must answer in text.
    pub async fn run(
        &mut self,
        endpoint: &Endpoint,
        mut messages: Vec<ChatMessage>,
        deadline: Instant,
    ) -> Result<TurnOutput, TurnError> {
        let loyalty = self.config.loyalty.enabled;
        let tools = tool_definitions(loyalty, self.orders_offered());
        let steps = self.config.agent.max_tool_steps.clamp(1, 8);
        for step in 1..=steps {
            let last = step == steps;
            let request = ChatRequest {
                model: &endpoint.model,
                messages: &messages,
                tools: Some(&tools),
                tool_choice: Some(if last { "none" } else { "auto" }),
                temperature: self.config.agent.temperature.clamp(0.0, 2.0),
                max_tokens: MAX_TOKENS,
            };
            let response = self.model.complete(endpoint, &request, deadline).await?;
            self.calls += 1;
            if let Some(u) = response.usage {
                self.usage.prompt_tokens += u.prompt_tokens;
                self.usage.completion_tokens += u.completion_tokens;
            }
            let model = response
                .model
                .clone()
                .unwrap_or_else(|| endpoint.model.clone());
            let message = response
                .choices
                .into_iter()
                .next()
                .map(|c| c.message)
                .unwrap_or_default();
            if !message.tool_calls.is_empty() && !last {
                let calls = message.tool_calls.clone();
                messages.push(ChatMessage {
                    role: "assistant".into(),
                    content: message.content.clone(),
                    tool_calls: calls.clone(),
                    tool_call_id: None,
                });
                for call in &calls {
                    let result = self.execute(call).await?;
                    messages.push(ChatMessage::tool_result(&call.id, &result));
                }
                continue;
            }
            let text = message.content.unwrap_or_default().trim().to_owned();
            if text.is_empty() {
                return Err(LlmError::Malformed("the model answered with no text".into()).into());
            }
            return Ok(TurnOutput { text, model });
        }
        Err(LlmError::Malformed("no answer within the tool steps".into()).into())
    }

    async fn execute(&mut self, call: &ToolCall) -> Result<Value, TurnError> {
        let args: Value = serde_json::from_str(&call.function.arguments).unwrap_or(Value::Null);
        let arg = |name: &str| -> Option<String> {
            args.get(name)
                .and_then(Value::as_str)
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|s| s.chars().take(500).collect())
        };
        self.effects.tools.push(call.function.name.clone());
        tracing::info!(tenant = %self.message.tenant, tool = %call.function.name, "tool call");
        Ok(match call.function.name.as_str() {
            "search_catalog" => {
                let Some(query) = arg("query") else {
                    return Ok(json!({"error": "query is required"}));
                };
                match self.catalog {
                    None => json!({"items": [], "note": "no catalog is loaded"}),
                    Some(catalog) => {
                        let k = self.config.agent.top_k.clamp(1, 20);
                        let items: Vec<Value> = catalog
                            .search(&query, k)
                            .into_iter()
                            .map(|h| h.item.for_model())
                            .collect();
                        json!({ "items": items })
                    }
                }
            }
            "capture_lead" => self.capture_lead(&arg).await?,
            "handoff_to_manager" => {
                let reason = arg("reason").unwrap_or_else(|| {
                    let lang = notices::managers_lang(self.config);
                    sauda_shared::i18n::agent::HANDOFF_ASKED
                        .get(lang)
                        .to_owned()
                });
                if self.effects.handoff.is_none() {
                    self.ports
                        .hand_off(self.config, self.message, &reason)
                        .await?;
                    self.effects.handoff = Some(reason);
                }
                json!({"ok": true, "note": "A manager was notified. Tell the customer a manager will reply soon; you will stay silent until then."})
            }
            "get_loyalty_balance" if self.config.loyalty.enabled => self.loyalty_balance().await?,
            "create_order" if self.orders_offered() => self.create_order(&args).await?,
            other => json!({"error": format!("unknown tool {other}")}),
        })
    }

    async fn capture_lead(
        &mut self,
        arg: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Value, TurnError> {
        let region = &self.config.leads.default_region;
        let phone = arg("phone");
        if let Some(p) = &phone {
            if sauda_shared::phone::normalise(p, region).is_err() {
                return Ok(
                    json!({"ok": false, "error": "the phone number looks invalid; ask the customer to check it"}),
                );
            }
        }
        let email = arg("email");
        if let Some(e) = &email {
            let valid = e
                .split_once('@')
                .is_some_and(|(l, d)| !l.is_empty() && d.contains('.'));
            if !valid {
                return Ok(
                    json!({"ok": false, "error": "the email looks invalid; ask the customer to check it"}),
                );
            }
        }
        let m = self.message;
        // Stable across redeliveries of this message: lead-capture applies it once.
        let key = format!(
            "agent:{}:{}:{}",
            m.contact, m.platform_message_id, self.effects.leads
        );
        let lead = LeadSubmission {
            tenant: m.tenant.clone(),
            source: LeadSource::Agent,
            idempotency_key: key,
            contact: Some(m.contact.clone()),
            name: arg("name").or_else(|| m.display_name.clone()),
            phone,
            email,
            interest: arg("interest"),
            message: m.text.clone(),
            language: m.language.clone(),
            consent: true,
            submitted_at_ms: sauda_shared::now_ms(),
        };
        self.ports.capture_lead(lead).await?;
        self.effects.leads += 1;
        Ok(json!({"ok": true, "note": "The lead was passed to the sales team."}))
    }

    /// Orders are offered when the tenant takes payments, the queue is wired and a
    /// catalog is loaded (prices come from it, never from the model).
    fn orders_offered(&self) -> bool {
        self.ports.orders.is_some()
            && self.catalog.is_some()
            && !self.config.orders.providers.is_empty()
    }

    /// Prices the items from the catalog by SKU; unconfirmed, returns the summary to
    /// read back; confirmed, queues the order (its id stable for this message, so a
    /// redelivered job places the same order) for the orders worker, which places it
    /// and sends the invoice.
    async fn create_order(&mut self, args: &Value) -> Result<Value, TurnError> {
        let (Some(queue), Some(catalog)) = (self.ports.orders, self.catalog) else {
            return Ok(json!({"ok": false, "error": "orders are not available"}));
        };
        let items: Option<Vec<LineRequest>> = args
            .get("items")
            .and_then(Value::as_array)
            .map(|items| {
                items
                    .iter()
                    .map(|i| {
                        Some(LineRequest {
                            sku: i.get("sku")?.as_str()?.chars().take(200).collect(),
                            quantity: u32::try_from(i.get("quantity")?.as_u64()?).ok()?,
                        })
                    })
                    .collect::<Option<Vec<_>>>()
            })
            .unwrap_or_default();
        let Some(items) = items.filter(|i| !i.is_empty()) else {
            return Ok(
                json!({"ok": false, "error": "items must be a non-empty list of {sku, quantity}"}),
            );
        };
        let currency = self.config.orders.currency.to_ascii_uppercase();
        let priced = order::price_from_catalog(
            &items,
            |sku| crate::reply::shop::catalog_price(catalog, sku),
            &currency,
        );
        let (lines, total) = match priced {
            Ok(priced) => priced,
            Err(e) => {
                return Ok(
                    json!({"ok": false, "code": e.code(), "error": e.to_string(),
                    "note": "Use SKUs exactly as search_catalog returned them; offer a manager for items without a price."}),
                )
            }
        };
        let summary: Vec<Value> = lines
            .iter()
            .map(|l| {
                json!({"sku": l.sku, "name": l.name, "quantity": l.quantity,
                    "unit_price": format_amount(l.unit_price_minor, &currency),
                    "line_total": format_amount(l.line_total_minor, &currency)})
            })
            .collect();
        let total = format_amount(total, &currency);
        if args.get("confirmed").and_then(Value::as_bool) != Some(true) {
            return Ok(
                json!({"ok": true, "status": "needs_confirmation", "lines": summary, "total": total,
                "note": "Read these items, quantities and the total back to the customer and ask them to confirm. Call create_order again with confirmed=true only after they clearly agree."}),
            );
        }
        let m = self.message;
        let seed = format!(
            "agent:{}:{}:{}",
            m.contact, m.platform_message_id, self.effects.orders
        );
        let order_id = order::stable_id(m.timestamp_ms, &seed);
        let delivery = args
            .get("delivery")
            .and_then(Value::as_str)
            .map(|d| d.trim().chars().take(1_000).collect::<String>())
            .filter(|d| !d.is_empty());
        let request = OrderRequest {
            order_id: Some(order_id.clone()),
            customer: Customer {
                contact: m.contact.clone(),
                channel: m.channel,
                reply_to: m.reply_to.clone(),
                language: m.language.clone(),
            },
            items,
            source: OrderSource::Agent,
            actor: "agent".into(),
            catalog_version: self.config.catalog.active_version.clone(),
            delivery,
        };
        let job = OrderJob::Create {
            request,
            provider: None,
        };
        queue
            .send(&Envelope::order(m.tenant.clone(), job), 0)
            .await
            .map_err(|e| TurnError::Infra(e.to_string()))?;
        self.effects.orders += 1;
        let number = &order_id[order_id.len().saturating_sub(8)..];
        Ok(
            json!({"ok": true, "status": "placed", "order_number": number, "lines": summary, "total": total,
            "note": "The order is placed. The customer receives the invoice or payment link in this chat in a moment; tell them so, with the order number and total."}),
        )
    }

    async fn loyalty_balance(&self) -> Result<Value, TurnError> {
        let m = self.message;
        let balance = self
            .ports
            .store
            .loyalty_balance(&m.tenant, &m.contact)
            .await
            .map_err(|e| TurnError::Infra(e.to_string()))?;
        Ok(match balance {
            Some(points) => json!({"member": true, "balance_points": points}),
            None => json!({"member": false, "balance_points": 0}),
        })
    }
}
