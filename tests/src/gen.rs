//! Generated input for the property tests (`tests/fuzz.rs`): arbitrary JSON whose object
//! keys favour the field names parsers look for, and well-formed samples with one field
//! replaced, so generated bodies get past the first check.

use proptest::prelude::*;
use serde_json::{json, Value};

/// The field names the parsers look for, so generated objects reach past the first check.
const FIELDS: &[&str] = &[
    "update_id",
    "message",
    "edited_message",
    "callback_query",
    "chat",
    "id",
    "type",
    "date",
    "text",
    "caption",
    "from",
    "first_name",
    "language_code",
    "voice",
    "photo",
    "video",
    "document",
    "contact",
    "location",
    "file_id",
    "reply_to_message",
    "message_id",
    "object",
    "entry",
    "changes",
    "value",
    "field",
    "metadata",
    "phone_number_id",
    "contacts",
    "profile",
    "name",
    "wa_id",
    "messages",
    "statuses",
    "timestamp",
    "status",
    "recipient_id",
    "errors",
    "code",
    "title",
    "body",
    "image",
    "interactive",
    "v",
    "kind",
    "tenant",
];

pub fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<u64>().prop_map(|n| json!(n)),
        any::<f64>().prop_map(|f| json!(f)),
        prop_oneof![
            Just(i64::MAX),
            Just(i64::MIN),
            Just(10_i64.pow(16)),
            Just(-1)
        ]
        .prop_map(|n| json!(n)),
        ".{0,40}".prop_map(Value::String),
    ];
    leaf.prop_recursive(5, 96, 8, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            proptest::collection::vec(
                (
                    prop_oneof![
                        proptest::sample::select(FIELDS).prop_map(str::to_owned),
                        ".{0,12}"
                    ],
                    inner
                ),
                0..8
            )
            .prop_map(|fields| Value::Object(fields.into_iter().collect())),
        ]
    })
}

/// A well-formed body with one field, somewhere inside, replaced by generated JSON.
pub fn mutated(sample: Value) -> impl Strategy<Value = Value> {
    (json_value(), any::<proptest::sample::Index>()).prop_map(move |(replacement, index)| {
        let mut body = sample.clone();
        let mut paths = Vec::new();
        collect_paths(&body, &mut Vec::new(), &mut paths);
        if !paths.is_empty() {
            let path = &paths[index.index(paths.len())];
            if let Some(slot) = pointer_mut(&mut body, path) {
                *slot = replacement;
            }
        }
        body
    })
}

fn collect_paths(value: &Value, at: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
    out.push(at.clone());
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                at.push(k.clone());
                collect_paths(v, at, out);
                at.pop();
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                at.push(i.to_string());
                collect_paths(v, at, out);
                at.pop();
            }
        }
        _ => {}
    }
}

fn pointer_mut<'a>(value: &'a mut Value, path: &[String]) -> Option<&'a mut Value> {
    let pointer: String = path.iter().map(|p| format!("/{p}")).collect();
    value.pointer_mut(&pointer)
}
