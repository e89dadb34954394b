//! "An NPS survey is due": the one job every purchase path (a partner's chat, the
//! partner API or till, a paid order) sends to `inbound.fifo`, where agent-reply sends
//! the survey inside the tenant's survey window (`loyalty.nps_window`), once per
//! purchase. Outside the window the job is redelivered at the window's start.

use crate::envelope::Envelope;
use crate::ports::{JobQueue, QueueError};
use crate::tenant::NpsWindow;
use crate::TenantId;
use serde::{Deserialize, Serialize};
use std::time::Duration;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NpsDue {
    pub tenant: TenantId,
    /// The customer's contact id (`tg-…`, `wa-…`).
    pub contact: String,
    pub partner_id: String,
    pub purchase_ref: String,
}

impl NpsDue {
    /// Its own FIFO group: a deferred survey never holds up the customer's messages.
    pub fn group_id(&self) -> String {
        format!("{}#nps#{}", self.tenant, self.contact)
    }

    /// One job per purchase within SQS's deduplication interval (128 characters max).
    pub fn deduplication_id(&self) -> String {
        use sha2::{Digest, Sha256};
        let digest = Sha256::digest(
            format!(
                "nps\0{}\0{}\0{}",
                self.tenant, self.partner_id, self.purchase_ref
            )
            .as_bytes(),
        );
        hex::encode(digest)
    }
}

/// Queues the survey for a purchase.
pub async fn enqueue(queue: &dyn JobQueue, due: NpsDue) -> Result<(), QueueError> {
    let (group, dedup) = (due.group_id(), due.deduplication_id());
    let envelope = Envelope::nps_due(due);
    queue.enqueue(&envelope, &group, &dedup).await
}

/// How long until the window opens at `now_ms` in `timezone`; `None` inside it. An
/// unknown zone counts as UTC (settings validation rejects one).
pub fn wait_for_window(window: &NpsWindow, timezone: &str, now_ms: i64) -> Option<Duration> {
    let tz = jiff::tz::TimeZone::get(timezone).unwrap_or(jiff::tz::TimeZone::UTC);
    let at = jiff::Timestamp::from_millisecond(now_ms)
        .unwrap_or(jiff::Timestamp::UNIX_EPOCH)
        .to_zoned(tz);
    let minute = i64::from(at.hour()) * 60 + i64::from(at.minute());
    let (from, to) = (
        i64::from(window.from_hour) * 60,
        i64::from(window.to_hour) * 60,
    );
    if (from..to).contains(&minute) {
        return None;
    }
    let minutes = (from - minute).rem_euclid(24 * 60);
    let seconds = minutes * 60 - i64::from(at.second());
    Some(Duration::from_secs(seconds.max(1) as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_until_the_window_opens() {
        let window = NpsWindow {
            from_hour: 9,
            to_hour: 21,
        };
        // 2026-01-15 12:00 UTC: 17:00 in Almaty (UTC+5), 04:00 in Los Angeles.
        let noon_utc = 1_768_478_400_000;
        assert_eq!(wait_for_window(&window, "Asia/Almaty", noon_utc), None);
        assert_eq!(
            wait_for_window(&window, "America/Los_Angeles", noon_utc),
            Some(Duration::from_secs(5 * 3600))
        );
        // 22:00 in Almaty: 11 hours to 09:00.
        let late = noon_utc + 5 * 3_600_000;
        assert_eq!(
            wait_for_window(&window, "Asia/Almaty", late),
            Some(Duration::from_secs(11 * 3600))
        );
        let due = NpsDue {
            tenant: TenantId::parse("t1").unwrap(),
            contact: "tg-1".into(),
            partner_id: "p".into(),
            purchase_ref: "r".into(),
        };
        assert!(due.deduplication_id().len() <= 128);
    }
}
