//! `sauda queue stats|redrive`: the template's queues on a deployed stage or locally.

use crate::cli::{CliContext, CliResult};
use crate::queue_ops;
use crate::template::{eval, Context, Template};
use clap::Subcommand;
use serde_yaml::Value;
use std::path::PathBuf;

#[derive(Subcommand, Debug)]
pub enum QueueCommand {
    /// Depth of every queue and dead-letter queue of the stage.
    Stats {
        #[arg(long, default_value = "template.yaml")]
        template: PathBuf,
    },
    /// Move a queue's dead-lettered messages back to it, after fixing the cause.
    Redrive {
        /// The queue's logical id in the template, e.g. `NotifyQueue`.
        #[arg(long)]
        queue: String,
        #[arg(long, default_value_t = 1000)]
        max: usize,
        #[arg(long, default_value = "template.yaml")]
        template: PathBuf,
    },
}

struct QueueRef {
    logical_id: String,
    name: String,
    dead_letter: Option<String>,
}

fn queues(
    template: &Template,
    ctx: &CliContext,
) -> Result<Vec<QueueRef>, Box<dyn std::error::Error>> {
    let context = Context::new(&ctx.stage, &ctx.region, "");
    let mut out = Vec::new();
    for r in template.resources_of("AWS::SQS::Queue") {
        let name = eval(
            r.properties.get("QueueName").unwrap_or(&Value::Null),
            &context,
        )?;
        let dead_letter = r
            .properties
            .get("RedrivePolicy")
            .and_then(|p| p.get("deadLetterTargetArn"))
            .and_then(|v| match v {
                Value::Tagged(t) => t.value.as_str().map(str::to_owned),
                _ => None,
            })
            .map(|target| target.split('.').next().unwrap_or_default().to_owned());
        out.push(QueueRef {
            logical_id: r.logical_id.to_owned(),
            name,
            dead_letter,
        });
    }
    Ok(out)
}

async fn url(ctx: &CliContext, name: &str) -> Result<String, String> {
    ctx.clients
        .sqs
        .get_queue_url()
        .queue_name(name)
        .send()
        .await
        .map_err(|e| {
            format!(
                "queue {name}: {}",
                aws_smithy_types::error::display::DisplayErrorContext(&e)
            )
        })?
        .queue_url
        .ok_or_else(|| format!("queue {name} has no URL"))
}

pub async fn run(ctx: &CliContext, command: QueueCommand) -> CliResult {
    match command {
        QueueCommand::Stats { template } => {
            println!(
                "{:<26} {:<40} {:>8} {:>9}",
                "queue", "name", "visible", "in flight"
            );
            for q in queues(&Template::load(&template)?, ctx)? {
                let (visible, in_flight) =
                    queue_ops::depth(&ctx.clients.sqs, &url(ctx, &q.name).await?).await?;
                println!(
                    "{:<26} {:<40} {visible:>8} {in_flight:>9}",
                    q.logical_id, q.name
                );
            }
        }
        QueueCommand::Redrive {
            queue,
            max,
            template,
        } => {
            let all = queues(&Template::load(&template)?, ctx)?;
            let source = all
                .iter()
                .find(|q| q.logical_id == queue)
                .ok_or_else(|| format!("no queue {queue} in the template"))?;
            let dlq_id = source
                .dead_letter
                .as_ref()
                .ok_or_else(|| format!("{queue} has no dead-letter queue"))?;
            let dlq = all
                .iter()
                .find(|q| &q.logical_id == dlq_id)
                .ok_or_else(|| format!("dead-letter queue {dlq_id} is not in the template"))?;
            let moved = queue_ops::redrive(
                &ctx.clients.sqs,
                &url(ctx, &dlq.name).await?,
                &url(ctx, &source.name).await?,
                max,
            )
            .await?;
            println!(
                "moved {moved} message(s) from {} back to {}",
                dlq.name, source.name
            );
        }
    }
    Ok(())
}
