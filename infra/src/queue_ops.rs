//! Queue operations for operators: depths, and redriving a dead-letter queue back to its
//! source once the cause is fixed (nothing that reached a DLQ is lost).

use aws_sdk_sqs::types::{MessageSystemAttributeName, QueueAttributeName};
use aws_smithy_types::error::display::DisplayErrorContext;

fn err<E: std::error::Error>(e: E) -> String {
    DisplayErrorContext(&e).to_string()
}

/// Visible and in-flight messages of a queue.
pub async fn depth(sqs: &aws_sdk_sqs::Client, url: &str) -> Result<(u64, u64), String> {
    let out = sqs
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
        .send()
        .await
        .map_err(err)?;
    let get = |n: QueueAttributeName| {
        out.attributes()
            .and_then(|a| a.get(&n))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    Ok((
        get(QueueAttributeName::ApproximateNumberOfMessages),
        get(QueueAttributeName::ApproximateNumberOfMessagesNotVisible),
    ))
}

/// Moves up to `max` messages from `dlq_url` to `source_url`, each deleted from the DLQ
/// only after it was sent. FIFO messages keep their group id, so per-conversation order
/// holds, and get a fresh dedup id, because the original one may still be in the source
/// queue's five-minute dedup window and would swallow the redriven copy.
pub async fn redrive(
    sqs: &aws_sdk_sqs::Client,
    dlq_url: &str,
    source_url: &str,
    max: usize,
) -> Result<usize, String> {
    let fifo = source_url.ends_with(".fifo");
    let mut moved = 0;
    while moved < max {
        let out = sqs
            .receive_message()
            .queue_url(dlq_url)
            .max_number_of_messages(10.min(i32::try_from(max - moved).unwrap_or(10)))
            .message_system_attribute_names(MessageSystemAttributeName::MessageGroupId)
            .visibility_timeout(60)
            .send()
            .await
            .map_err(err)?;
        let messages = out.messages.unwrap_or_default();
        if messages.is_empty() {
            break;
        }
        for m in messages {
            let mut send = sqs
                .send_message()
                .queue_url(source_url)
                .message_body(m.body().unwrap_or_default());
            if fifo {
                let group = m
                    .attributes()
                    .and_then(|a| a.get(&MessageSystemAttributeName::MessageGroupId))
                    .cloned()
                    .unwrap_or_else(|| "redrive".to_owned());
                send = send
                    .message_group_id(group)
                    .message_deduplication_id(ulid::Ulid::new().to_string());
            }
            send.send().await.map_err(err)?;
            if let Some(handle) = m.receipt_handle() {
                sqs.delete_message()
                    .queue_url(dlq_url)
                    .receipt_handle(handle)
                    .send()
                    .await
                    .map_err(err)?;
            }
            moved += 1;
        }
    }
    Ok(moved)
}
