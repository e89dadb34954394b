//! One model turn: the conversation plus pre-retrieved catalog matches go to the model,
//! which may call tools for a bounded number of steps before it answers.

use crate::catalog::CatalogIndex;
use crate::llm::{ChatMessage, ChatRequest, Endpoint, LlmError, ToolCall, Usage};
use crate::Deps;
use aws_sdk_dynamodb::types::AttributeValue;
use sauda_shared::envelope::Envelope;
use sauda_shared::keys;
use sauda_shared::lead::{LeadSource, LeadSubmission};
use sauda_shared::message::InboundMessage;
use sauda_shared::tenant::TenantConfig;
use serde_json::{json, Value};
use std::time::Instant;

/// Longest answer the model may write (tokens).
const MAX_TOKENS: u32 = 700;

/// What the tools did during a turn, for the job to store and count.
#[derive(Debug, Default)]
pub struct Effects {
    pub leads: u32,
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

pub struct Turn<'a> {
    pub deps: &'a Deps,
    pub config: &'a TenantConfig,
    pub message: &'a InboundMessage,
    pub catalog: Option<&'a CatalogIndex>,
    pub effects: Effects,
    pub usage: Usage,
    pub calls: u32,
}

pub fn tool_definitions(loyalty: bool) -> Value {
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
        let tools = tool_definitions(loyalty);
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
            let response = self.deps.llm.complete(endpoint, &request, deadline).await?;
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
                let reason =
                    arg("reason").unwrap_or_else(|| "the customer asked for a manager".into());
                if self.effects.handoff.is_none() {
                    crate::reply::notify_handoff(self.deps, self.config, self.message, &reason)
                        .await
                        .map_err(|e| TurnError::Infra(e.to_string()))?;
                    self.effects.handoff = Some(reason);
                }
                json!({"ok": true, "note": "A manager was notified. Tell the customer a manager will reply soon; you will stay silent until then."})
            }
            "get_loyalty_balance" if self.config.loyalty.enabled => self.loyalty_balance().await?,
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
        self.deps
            .leads
            .send(&Envelope::capture_lead(lead), 0)
            .await
            .map_err(|e| TurnError::Infra(e.to_string()))?;
        self.effects.leads += 1;
        Ok(json!({"ok": true, "note": "The lead was passed to the sales team."}))
    }

    async fn loyalty_balance(&self) -> Result<Value, TurnError> {
        let m = self.message;
        let out = self
            .deps
            .dynamo
            .get_item()
            .table_name(&self.deps.table)
            .key(
                "PK",
                AttributeValue::S(keys::contact_pk(&m.tenant, &m.contact)),
            )
            .key("SK", AttributeValue::S(keys::LOYALTY_SK.to_owned()))
            .projection_expression("balance")
            .send()
            .await
            .map_err(|e| {
                TurnError::Infra(
                    aws_smithy_types::error::display::DisplayErrorContext(&e).to_string(),
                )
            })?;
        Ok(
            match out
                .item
                .as_ref()
                .and_then(|i| i.get("balance"))
                .and_then(|b| b.as_n().ok())
            {
                Some(balance) => {
                    json!({"member": true, "balance_points": balance.parse::<i64>().unwrap_or(0)})
                }
                None => json!({"member": false, "balance_points": 0}),
            },
        )
    }
}
