//! Reads `template.yaml` and evaluates the handful of intrinsics the local stack needs
//! (`!Ref`, `!Sub`, `!GetAtt`, and their `Fn::` long forms), so that the emulator is
//! provisioned from the same source of truth as a real deployment.

use serde_yaml::value::TaggedValue;
use serde_yaml::{Mapping, Value};
use std::collections::HashMap;
use std::path::Path;

#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    #[error("cannot read template {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("template is not valid YAML: {0}")]
    Yaml(#[from] serde_yaml::Error),
    #[error("template: {0}")]
    Invalid(String),
    #[error("template: cannot resolve {0}")]
    Unresolved(String),
}

/// Values that `!Ref` and `!GetAtt` resolve to, filled in as resources are created.
#[derive(Clone, Debug, Default)]
pub struct Context {
    pub refs: HashMap<String, String>,
    pub attrs: HashMap<String, String>,
}

impl Context {
    pub fn new(stage: &str, region: &str, account: &str) -> Self {
        let mut refs = HashMap::new();
        refs.insert("Stage".into(), stage.into());
        refs.insert("AWS::Region".into(), region.into());
        refs.insert("AWS::AccountId".into(), account.into());
        refs.insert("AWS::Partition".into(), "aws".into());
        refs.insert("AWS::URLSuffix".into(), "amazonaws.com".into());
        refs.insert("AWS::StackName".into(), format!("sauda-{stage}"));
        Self {
            refs,
            attrs: HashMap::new(),
        }
    }
}

#[derive(Clone, Debug)]
pub struct Template {
    pub root: Value,
}

#[derive(Clone, Debug)]
pub struct Resource<'a> {
    pub logical_id: &'a str,
    pub kind: &'a str,
    pub properties: &'a Value,
    pub metadata: &'a Value,
}

/// An SQS event source mapping of a function.
#[derive(Clone, Debug, PartialEq)]
pub struct SqsTrigger {
    pub queue_logical_id: String,
    pub batch_size: u32,
    pub report_batch_item_failures: bool,
}

/// A scheduled trigger (`ScheduleV2`) of a function.
#[derive(Clone, Debug, PartialEq)]
pub struct ScheduleTrigger {
    pub name: String,
    pub expression: String,
    pub input: Option<String>,
}

#[derive(Clone, Debug)]
pub struct FunctionSpec {
    pub logical_id: String,
    /// The cargo binary `cargo lambda` builds and serves for this function.
    pub binary: String,
    pub environment: Vec<(String, Value)>,
    pub sqs: Vec<SqsTrigger>,
    pub schedules: Vec<ScheduleTrigger>,
}

static NULL: Value = Value::Null;

impl Template {
    pub fn load(path: &Path) -> Result<Self, TemplateError> {
        let raw = std::fs::read_to_string(path).map_err(|source| TemplateError::Io {
            path: path.display().to_string(),
            source,
        })?;
        Self::parse(&raw)
    }

    pub fn parse(raw: &str) -> Result<Self, TemplateError> {
        let root: Value = serde_yaml::from_str(raw)?;
        if root.get("Resources").and_then(Value::as_mapping).is_none() {
            return Err(TemplateError::Invalid("no Resources section".into()));
        }
        Ok(Self { root })
    }

    /// Every parameter's `Default`, as `!Ref` resolves it when nothing overrides it.
    pub fn parameter_defaults(&self) -> HashMap<String, String> {
        let Some(map) = self.root.get("Parameters").and_then(Value::as_mapping) else {
            return HashMap::new();
        };
        map.iter()
            .filter_map(|(k, v)| {
                let default = match v.get("Default")? {
                    Value::String(s) => s.clone(),
                    Value::Number(n) => n.to_string(),
                    Value::Bool(b) => b.to_string(),
                    _ => return None,
                };
                Some((k.as_str()?.to_owned(), default))
            })
            .collect()
    }

    pub fn resources(&self) -> Vec<Resource<'_>> {
        let Some(map) = self.root.get("Resources").and_then(Value::as_mapping) else {
            return Vec::new();
        };
        map.iter()
            .filter_map(|(k, v)| {
                Some(Resource {
                    logical_id: k.as_str()?,
                    kind: v.get("Type")?.as_str()?,
                    properties: v.get("Properties").unwrap_or(&NULL),
                    metadata: v.get("Metadata").unwrap_or(&NULL),
                })
            })
            .collect()
    }

    pub fn resources_of(&self, kind: &str) -> Vec<Resource<'_>> {
        self.resources()
            .into_iter()
            .filter(|r| r.kind == kind)
            .collect()
    }

    pub fn functions(&self) -> Result<Vec<FunctionSpec>, TemplateError> {
        let globals = self
            .root
            .get("Globals")
            .and_then(|g| g.get("Function"))
            .and_then(|f| f.get("Environment"))
            .and_then(|e| e.get("Variables"))
            .and_then(Value::as_mapping)
            .cloned()
            .unwrap_or_default();
        let mut out = Vec::new();
        for r in self.resources_of("AWS::Serverless::Function") {
            let binary = r
                .metadata
                .get("BuildProperties")
                .and_then(|b| b.get("Binary"))
                .and_then(Value::as_str)
                .ok_or_else(|| {
                    TemplateError::Invalid(format!(
                        "{}: Metadata.BuildProperties.Binary missing",
                        r.logical_id
                    ))
                })?;
            let mut env: Mapping = globals.clone();
            if let Some(own) = r
                .properties
                .get("Environment")
                .and_then(|e| e.get("Variables"))
                .and_then(Value::as_mapping)
            {
                for (k, v) in own {
                    env.insert(k.clone(), v.clone());
                }
            }
            let environment = env
                .into_iter()
                .filter_map(|(k, v)| Some((k.as_str()?.to_owned(), v)))
                .collect();
            let mut sqs = Vec::new();
            let mut schedules = Vec::new();
            if let Some(events) = r.properties.get("Events").and_then(Value::as_mapping) {
                for (name, event) in events {
                    let props = event.get("Properties").unwrap_or(&NULL);
                    match event.get("Type").and_then(Value::as_str) {
                        Some("SQS") => {
                            let queue =
                                props.get("Queue").and_then(getatt_target).ok_or_else(|| {
                                    TemplateError::Invalid(format!(
                                        "{}: SQS Queue must be !GetAtt X.Arn",
                                        r.logical_id
                                    ))
                                })?;
                            sqs.push(SqsTrigger {
                                queue_logical_id: queue,
                                batch_size: props
                                    .get("BatchSize")
                                    .and_then(Value::as_u64)
                                    .unwrap_or(10)
                                    as u32,
                                report_batch_item_failures: props
                                    .get("FunctionResponseTypes")
                                    .and_then(Value::as_sequence)
                                    .is_some_and(|s| {
                                        s.iter()
                                            .any(|t| t.as_str() == Some("ReportBatchItemFailures"))
                                    }),
                            });
                        }
                        Some("ScheduleV2") | Some("Schedule") => schedules.push(ScheduleTrigger {
                            name: name.as_str().unwrap_or_default().to_owned(),
                            expression: props
                                .get("ScheduleExpression")
                                .or_else(|| props.get("Schedule"))
                                .and_then(Value::as_str)
                                .unwrap_or_default()
                                .to_owned(),
                            input: props
                                .get("Input")
                                .and_then(Value::as_str)
                                .map(str::to_owned),
                        }),
                        _ => {}
                    }
                }
            }
            out.push(FunctionSpec {
                logical_id: r.logical_id.to_owned(),
                binary: binary.to_owned(),
                environment,
                sqs,
                schedules,
            });
        }
        Ok(out)
    }
}

/// `!GetAtt X.Arn` → `X`.
fn getatt_target(v: &Value) -> Option<String> {
    let target = match v {
        Value::Tagged(t) if t.tag == "GetAtt" => t.value.as_str().map(str::to_owned),
        Value::Mapping(m) => m.get("Fn::GetAtt").and_then(|g| match g {
            Value::Sequence(s) => s.first().and_then(Value::as_str).map(str::to_owned),
            Value::String(s) => Some(s.clone()),
            _ => None,
        }),
        _ => None,
    }?;
    Some(target.split('.').next().unwrap_or_default().to_owned())
}

/// Evaluates a scalar-producing value: plain scalars, `!Ref`, `!Sub`, `!GetAtt`.
pub fn eval(v: &Value, ctx: &Context) -> Result<String, TemplateError> {
    match v {
        Value::String(s) => Ok(s.clone()),
        Value::Number(n) => Ok(n.to_string()),
        Value::Bool(b) => Ok(b.to_string()),
        Value::Tagged(t) => eval_tagged(t, ctx),
        Value::Mapping(m) if m.len() == 1 => {
            let (k, inner) = m.iter().next().expect("len is 1");
            let tag = match k.as_str() {
                Some("Ref") => "Ref",
                Some("Fn::Sub") => "Sub",
                Some("Fn::GetAtt") => "GetAtt",
                _ => return Err(TemplateError::Unresolved(format!("{v:?}"))),
            };
            let inner = match (tag, inner) {
                ("GetAtt", Value::Sequence(parts)) => Value::String(
                    parts
                        .iter()
                        .filter_map(Value::as_str)
                        .collect::<Vec<_>>()
                        .join("."),
                ),
                _ => inner.clone(),
            };
            eval_tagged(
                &TaggedValue {
                    tag: serde_yaml::value::Tag::new(tag),
                    value: inner,
                },
                ctx,
            )
        }
        other => Err(TemplateError::Unresolved(format!("{other:?}"))),
    }
}

fn eval_tagged(t: &TaggedValue, ctx: &Context) -> Result<String, TemplateError> {
    let arg = t
        .value
        .as_str()
        .ok_or_else(|| TemplateError::Unresolved(format!("!{} {:?}", t.tag, t.value)))?;
    if t.tag == "Ref" {
        ctx.refs
            .get(arg)
            .cloned()
            .ok_or_else(|| TemplateError::Unresolved(format!("!Ref {arg}")))
    } else if t.tag == "GetAtt" {
        ctx.attrs
            .get(arg)
            .cloned()
            .ok_or_else(|| TemplateError::Unresolved(format!("!GetAtt {arg}")))
    } else if t.tag == "Sub" {
        substitute(arg, ctx)
    } else {
        Err(TemplateError::Unresolved(format!(
            "!{} is not supported locally",
            t.tag
        )))
    }
}

fn substitute(pattern: &str, ctx: &Context) -> Result<String, TemplateError> {
    let mut out = String::with_capacity(pattern.len());
    let mut rest = pattern;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after
            .find('}')
            .ok_or_else(|| TemplateError::Invalid(format!("unclosed ${{ in {pattern:?}")))?;
        let name = &after[..end];
        let value = if name.contains('.') {
            ctx.attrs.get(name)
        } else {
            ctx.refs.get(name)
        };
        out.push_str(
            value
                .ok_or_else(|| TemplateError::Unresolved(format!("${{{name}}} in {pattern:?}")))?,
        );
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn evaluates_short_and_long_forms() {
        let t = Template::parse(
            "Resources:\n  Q:\n    Type: AWS::SQS::Queue\n    Properties:\n      A: !Sub \"sauda-${Stage}-x.fifo\"\n      B: !Ref Q\n      C: !GetAtt Q.Arn\n      D: {\"Fn::Sub\": \"${AWS::Region}\"}\n      E: {\"Fn::GetAtt\": [Q, Arn]}\n",
        )
        .unwrap();
        let mut ctx = Context::new("local", "us-east-1", "123456789012");
        ctx.refs.insert("Q".into(), "url".into());
        ctx.attrs.insert("Q.Arn".into(), "arn".into());
        let props = t.resources()[0].properties;
        let got: Vec<String> = ["A", "B", "C", "D", "E"]
            .iter()
            .map(|k| eval(props.get(*k).unwrap(), &ctx).unwrap())
            .collect();
        assert_eq!(
            got,
            ["sauda-local-x.fifo", "url", "arn", "us-east-1", "arn"]
        );
    }

    #[test]
    fn reads_the_real_template() {
        let t = Template::load(Path::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../template.yaml"
        )))
        .unwrap();
        let functions = t.functions().unwrap();
        let webhook = functions
            .iter()
            .find(|f| f.binary == "webhook")
            .expect("webhook function");
        let env: Vec<&str> = webhook
            .environment
            .iter()
            .map(|(k, _)| k.as_str())
            .collect();
        assert!(
            env.contains(&"TABLE_NAME") && env.contains(&"INBOUND_QUEUE_URL"),
            "{env:?}"
        );
        assert!(!t.resources_of("AWS::DynamoDB::Table").is_empty());
    }
}
