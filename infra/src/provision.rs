//! Creates the template's table, queues, bucket and secrets on the local emulator.
//! Idempotent: resources that exist are left as they are.

use crate::template::{eval, Context, FunctionSpec, Template, TemplateError};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType, TimeToLiveSpecification,
};
use aws_sdk_sqs::types::QueueAttributeName;
use sauda_shared::aws::AwsClients;
use serde_yaml::Value;
use std::collections::{BTreeMap, HashMap};

pub const LOCAL_ACCOUNT: &str = "123456789012";

#[derive(Debug, thiserror::Error)]
pub enum ProvisionError {
    #[error(transparent)]
    Template(#[from] TemplateError),
    #[error("{resource}: {message}")]
    Aws { resource: String, message: String },
}

fn aws_err<E: std::error::Error>(resource: &str, e: E) -> ProvisionError {
    ProvisionError::Aws {
        resource: resource.to_owned(),
        message: aws_smithy_types::error::display::DisplayErrorContext(&e).to_string(),
    }
}

#[derive(Clone, Debug)]
pub struct QueueInfo {
    pub name: String,
    pub url: String,
    pub arn: String,
}

/// What was provisioned, with every `!Ref` of the template resolved.
#[derive(Clone, Debug)]
pub struct Stack {
    pub stage: String,
    pub context: Context,
    pub table: String,
    pub bucket: Option<String>,
    pub queues: BTreeMap<String, QueueInfo>,
    pub functions: Vec<FunctionSpec>,
}

impl Stack {
    pub fn queue(&self, logical_id: &str) -> Option<&QueueInfo> {
        self.queues.get(logical_id)
    }

    /// A function's environment with every intrinsic resolved, as Lambda would see it.
    pub fn function_env(&self, binary: &str) -> Result<Vec<(String, String)>, TemplateError> {
        let f = self
            .functions
            .iter()
            .find(|f| f.binary == binary)
            .ok_or_else(|| TemplateError::Invalid(format!("no function with binary {binary}")))?;
        f.environment
            .iter()
            .map(|(k, v)| Ok((k.clone(), eval(v, &self.context)?)))
            .collect()
    }
}

/// The one environment `cargo lambda watch --env-file` gives every function: each
/// function's template variables (they must agree, the file is shared), then
/// `overrides` (`NAME=VALUE`, only for variables the template uses), and
/// `OUTBOUND_ALLOW_LOOPBACK=true`: the local fakes a tenant's URLs point at listen on
/// loopback, which the outbound URL policy refuses everywhere else.
pub fn local_env(
    stack: &Stack,
    overrides: &[String],
) -> Result<BTreeMap<String, String>, Box<dyn std::error::Error>> {
    let mut env = BTreeMap::new();
    for f in &stack.functions {
        for (k, v) in stack.function_env(&f.binary)? {
            if let Some(previous) = env.insert(k.clone(), v.clone()) {
                if previous != v {
                    return Err(format!(
                        "{k} differs between functions; cargo lambda watch shares one env"
                    )
                    .into());
                }
            }
        }
    }
    for raw in overrides {
        let (k, v) = raw
            .split_once('=')
            .ok_or_else(|| format!("--env {raw:?} must be NAME=VALUE"))?;
        if !env.contains_key(k) {
            return Err(format!("--env {k}: no function of the template uses it").into());
        }
        env.insert(k.to_owned(), v.to_owned());
    }
    env.insert(
        sauda_shared::outbound::ALLOW_LOOPBACK_ENV.to_owned(),
        "true".to_owned(),
    );
    Ok(env)
}

fn prop<'a>(props: &'a Value, key: &str) -> Option<&'a Value> {
    props.get(key)
}

fn key_schema(v: Option<&Value>) -> Vec<KeySchemaElement> {
    v.and_then(Value::as_sequence)
        .map(|s| {
            s.iter()
                .filter_map(|k| {
                    let name = k.get("AttributeName")?.as_str()?;
                    let kind = match k.get("KeyType")?.as_str()? {
                        "HASH" => KeyType::Hash,
                        _ => KeyType::Range,
                    };
                    KeySchemaElement::builder()
                        .attribute_name(name)
                        .key_type(kind)
                        .build()
                        .ok()
                })
                .collect()
        })
        .unwrap_or_default()
}

pub async fn provision(
    clients: &AwsClients,
    template: &Template,
    stage: &str,
    region: &str,
) -> Result<Stack, ProvisionError> {
    provision_with(clients, template, stage, region, &HashMap::new()).await
}

/// Like [`provision`], with template parameters overridden (`sam deploy --parameter-overrides`).
pub async fn provision_with(
    clients: &AwsClients,
    template: &Template,
    stage: &str,
    region: &str,
    parameters: &HashMap<String, String>,
) -> Result<Stack, ProvisionError> {
    let mut ctx = Context::new(stage, region, LOCAL_ACCOUNT);
    for (name, value) in template
        .parameter_defaults()
        .into_iter()
        .chain(parameters.clone())
    {
        if name != "Stage" {
            ctx.refs.insert(name, value);
        }
    }
    let mut table = None;
    let mut bucket = None;
    let mut queues = BTreeMap::new();

    for r in template.resources_of("AWS::DynamoDB::Table") {
        let name = eval(
            prop(r.properties, "TableName").unwrap_or(&Value::Null),
            &ctx,
        )?;
        create_table(clients, &name, r.properties).await?;
        ctx.refs.insert(r.logical_id.into(), name.clone());
        ctx.attrs.insert(
            format!("{}.Arn", r.logical_id),
            format!("arn:aws:dynamodb:{region}:{LOCAL_ACCOUNT}:table/{name}"),
        );
        table.get_or_insert(name);
    }

    // Dead-letter queues first: a queue's redrive policy names its DLQ's ARN.
    let mut sqs = template.resources_of("AWS::SQS::Queue");
    sqs.sort_by_key(|r| prop(r.properties, "RedrivePolicy").is_some());
    for r in sqs {
        let name = eval(
            prop(r.properties, "QueueName").unwrap_or(&Value::Null),
            &ctx,
        )?;
        let mut attrs: HashMap<QueueAttributeName, String> = HashMap::new();
        for (key, attr) in [
            ("FifoQueue", QueueAttributeName::FifoQueue),
            (
                "ContentBasedDeduplication",
                QueueAttributeName::ContentBasedDeduplication,
            ),
            ("VisibilityTimeout", QueueAttributeName::VisibilityTimeout),
            (
                "MessageRetentionPeriod",
                QueueAttributeName::MessageRetentionPeriod,
            ),
            ("DeduplicationScope", QueueAttributeName::DeduplicationScope),
            (
                "FifoThroughputLimit",
                QueueAttributeName::FifoThroughputLimit,
            ),
            ("DelaySeconds", QueueAttributeName::DelaySeconds),
        ] {
            if let Some(v) = prop(r.properties, key) {
                attrs.insert(attr, eval(v, &ctx)?);
            }
        }
        if let Some(redrive) = prop(r.properties, "RedrivePolicy") {
            let target = eval(
                redrive.get("deadLetterTargetArn").unwrap_or(&Value::Null),
                &ctx,
            )?;
            let max = redrive
                .get("maxReceiveCount")
                .and_then(Value::as_u64)
                .unwrap_or(5);
            attrs.insert(
                QueueAttributeName::RedrivePolicy,
                serde_json::json!({"deadLetterTargetArn": target, "maxReceiveCount": max})
                    .to_string(),
            );
        }
        let out = clients
            .sqs
            .create_queue()
            .queue_name(&name)
            .set_attributes(Some(attrs))
            .send()
            .await
            .map_err(|e| aws_err(r.logical_id, e))?;
        let url = out.queue_url.unwrap_or_default();
        let arn = format!("arn:aws:sqs:{region}:{LOCAL_ACCOUNT}:{name}");
        ctx.refs.insert(r.logical_id.into(), url.clone());
        ctx.attrs
            .insert(format!("{}.Arn", r.logical_id), arn.clone());
        ctx.attrs
            .insert(format!("{}.QueueName", r.logical_id), name.clone());
        ctx.attrs
            .insert(format!("{}.QueueUrl", r.logical_id), url.clone());
        queues.insert(r.logical_id.to_owned(), QueueInfo { name, url, arn });
    }

    for r in template.resources_of("AWS::S3::Bucket") {
        let name = eval(
            prop(r.properties, "BucketName").unwrap_or(&Value::Null),
            &ctx,
        )?;
        match clients.s3.create_bucket().bucket(&name).send().await {
            Ok(_) => {}
            Err(e)
                if e.as_service_error().is_some_and(|se| {
                    se.is_bucket_already_owned_by_you() || se.is_bucket_already_exists()
                }) => {}
            Err(e) => return Err(aws_err(r.logical_id, e)),
        }
        ctx.refs.insert(r.logical_id.into(), name.clone());
        ctx.attrs.insert(
            format!("{}.Arn", r.logical_id),
            format!("arn:aws:s3:::{name}"),
        );
        bucket.get_or_insert(name);
    }

    for r in template.resources_of("AWS::SecretsManager::Secret") {
        let name = eval(prop(r.properties, "Name").unwrap_or(&Value::Null), &ctx)?;
        let initial = match prop(r.properties, "GenerateSecretString") {
            Some(spec) => generate_secret_string(spec, &ctx)?,
            None => prop(r.properties, "SecretString")
                .map(|v| eval(v, &ctx))
                .transpose()?
                .unwrap_or_else(|| "{}".to_owned()),
        };
        let arn = match clients
            .secrets
            .create_secret()
            .name(&name)
            .secret_string(initial)
            .send()
            .await
        {
            Ok(out) => out.arn.unwrap_or_default(),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|se| se.is_resource_exists_exception()) =>
            {
                name.clone()
            }
            Err(e) => return Err(aws_err(r.logical_id, e)),
        };
        ctx.refs.insert(r.logical_id.into(), arn);
    }

    for r in template.resources_of("AWS::Serverless::HttpApi") {
        ctx.refs.insert(r.logical_id.into(), "local".into());
    }

    Ok(Stack {
        stage: stage.to_owned(),
        context: ctx,
        table: table.ok_or_else(|| TemplateError::Invalid("no DynamoDB table".into()))?,
        bucket,
        queues,
        functions: template.functions()?,
    })
}

async fn create_table(
    clients: &AwsClients,
    name: &str,
    props: &Value,
) -> Result<(), ProvisionError> {
    let attributes = prop(props, "AttributeDefinitions")
        .and_then(Value::as_sequence)
        .map(|s| {
            s.iter()
                .filter_map(|a| {
                    let kind = match a.get("AttributeType")?.as_str()? {
                        "N" => ScalarAttributeType::N,
                        "B" => ScalarAttributeType::B,
                        _ => ScalarAttributeType::S,
                    };
                    AttributeDefinition::builder()
                        .attribute_name(a.get("AttributeName")?.as_str()?)
                        .attribute_type(kind)
                        .build()
                        .ok()
                })
                .collect::<Vec<_>>()
        })
        .unwrap_or_default();
    let gsis = prop(props, "GlobalSecondaryIndexes")
        .and_then(Value::as_sequence)
        .map(|s| {
            s.iter()
                .filter_map(|g| {
                    GlobalSecondaryIndex::builder()
                        .index_name(g.get("IndexName")?.as_str()?)
                        .set_key_schema(Some(key_schema(g.get("KeySchema"))))
                        .projection(
                            Projection::builder()
                                .projection_type(ProjectionType::All)
                                .build(),
                        )
                        .build()
                        .ok()
                })
                .collect::<Vec<_>>()
        })
        .filter(|g| !g.is_empty());
    let result = clients
        .dynamo
        .create_table()
        .table_name(name)
        .billing_mode(BillingMode::PayPerRequest)
        .set_attribute_definitions(Some(attributes))
        .set_key_schema(Some(key_schema(prop(props, "KeySchema"))))
        .set_global_secondary_indexes(gsis)
        .send()
        .await;
    match result {
        Ok(_) => {}
        Err(e)
            if e.as_service_error()
                .is_some_and(|se| se.is_resource_in_use_exception()) =>
        {
            return Ok(())
        }
        Err(e) => return Err(aws_err(name, e)),
    }
    if let Some(ttl) = prop(props, "TimeToLiveSpecification") {
        if let Some(attr) = ttl.get("AttributeName").and_then(Value::as_str) {
            clients
                .dynamo
                .update_time_to_live()
                .table_name(name)
                .time_to_live_specification(
                    TimeToLiveSpecification::builder()
                        .attribute_name(attr)
                        .enabled(true)
                        .build()
                        .map_err(|e| aws_err(name, e))?,
                )
                .send()
                .await
                .map_err(|e| aws_err(name, e))?;
        }
    }
    Ok(())
}

/// What CloudFormation's `GenerateSecretString` makes: the JSON template with one key
/// set to a random string (letters and digits; the template asks for no punctuation).
fn generate_secret_string(spec: &Value, ctx: &Context) -> Result<String, TemplateError> {
    use rand::distr::{Alphanumeric, SampleString};
    let template = prop(spec, "SecretStringTemplate")
        .map(|v| eval(v, ctx))
        .transpose()?
        .unwrap_or_else(|| "{}".to_owned());
    let key = prop(spec, "GenerateStringKey")
        .map(|v| eval(v, ctx))
        .transpose()?
        .ok_or_else(|| {
            TemplateError::Invalid("GenerateSecretString needs GenerateStringKey".into())
        })?;
    let length = prop(spec, "PasswordLength")
        .and_then(Value::as_u64)
        .unwrap_or(32) as usize;
    let mut document: serde_json::Map<String, serde_json::Value> = serde_json::from_str(&template)
        .map_err(|e| TemplateError::Invalid(format!("SecretStringTemplate: {e}")))?;
    document.insert(
        key,
        serde_json::Value::String(Alphanumeric.sample_string(&mut rand::rng(), length)),
    );
    Ok(serde_json::Value::Object(document).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stack(yaml: &str) -> Stack {
        Stack {
            stage: "local".into(),
            context: Context::new("local", "us-east-1", LOCAL_ACCOUNT),
            table: "sauda-local".into(),
            bucket: None,
            queues: BTreeMap::new(),
            functions: Template::parse(yaml).unwrap().functions().unwrap(),
        }
    }

    const TWO_FUNCTIONS: &str = r#"
Resources:
  A:
    Type: AWS::Serverless::Function
    Metadata: {BuildMethod: rust-cargolambda, BuildProperties: {Binary: a}}
    Properties:
      Environment: {Variables: {TABLE_NAME: sauda-local, REPORT_LINK_BASE_URL: "https://x"}}
  B:
    Type: AWS::Serverless::Function
    Metadata: {BuildMethod: rust-cargolambda, BuildProperties: {Binary: b}}
    Properties:
      Environment: {Variables: {TABLE_NAME: sauda-local}}
"#;

    #[test]
    fn the_local_env_opens_loopback_to_outbound_calls() {
        let env = local_env(
            &stack(TWO_FUNCTIONS),
            &["REPORT_LINK_BASE_URL=http://127.0.0.1:9000/lambda-url/report-link".into()],
        )
        .unwrap();
        assert_eq!(
            env.get("OUTBOUND_ALLOW_LOOPBACK").map(String::as_str),
            Some("true")
        );
        assert_eq!(env["TABLE_NAME"], "sauda-local");
        assert_eq!(
            env["REPORT_LINK_BASE_URL"],
            "http://127.0.0.1:9000/lambda-url/report-link"
        );
        assert_eq!(env.len(), 3);
    }

    /// `make local` serves every function of the real template from one env file, so
    /// their variables must agree (a per-function value needs a name of its own).
    #[test]
    fn the_template_gives_one_local_env() {
        let template = include_str!("../../template.yaml");
        let mut stack = stack(template);
        // Values naming provisioned resources (queue URLs) cannot resolve without the
        // emulator; every plain value must agree.
        let context = stack.context.clone();
        for f in &mut stack.functions {
            f.environment.retain(|(_, v)| eval(v, &context).is_ok());
        }
        let env = local_env(&stack, &[]).unwrap();
        assert!(env.contains_key("CATALOG_CACHE_MB"), "{env:?}");
        assert!(env.contains_key("PRICE_BOOK_CACHE_MB"), "{env:?}");
    }

    #[test]
    fn the_local_env_refuses_unknown_overrides_and_disagreeing_functions() {
        let unknown = local_env(&stack(TWO_FUNCTIONS), &["NOPE=1".into()]).unwrap_err();
        assert!(unknown.to_string().contains("NOPE"), "{unknown}");
        let disagree = TWO_FUNCTIONS.replace(
            "Variables: {TABLE_NAME: sauda-local}}",
            "Variables: {TABLE_NAME: other}}",
        );
        let error = local_env(&stack(&disagree), &[]).unwrap_err();
        assert!(error.to_string().contains("TABLE_NAME"), "{error}");
    }
}
