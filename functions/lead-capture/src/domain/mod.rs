//! The lead rules, free of AWS and of I/O: what a capture, a stage move, an assignment,
//! a note or a resume writes, decided from what was read and returned as one
//! [`WritePlan`] plus the domain value the caller gets once it commits.
//!
//! - [`capture`]: create a lead, or merge a submission into the customer's lead, exactly
//!   once per idempotency key and deduplicated by conversation, phone and email.
//! - [`changes`]: the funnel's moves, partner handoffs, notes and resuming the agent.
//!
//! Every plan writes the lead with a condition on what was read (so concurrent changes
//! cannot interleave), its history entry, the profiles that mirror its stage and the
//! tenant's day counters together. The adapter (`crate::dynamo`) executes plans; the
//! service (`crate::service`) re-reads and re-plans when one lost a race.

pub mod capture;
pub mod changes;

use crate::model::{HistoryEntry, Lead};
use sauda_shared::funnel::Stage;
use sauda_shared::plan::{Update, WritePlan};
use sauda_shared::stats::{self, CounterDelta};
use sauda_shared::TenantId;
use serde::{Deserialize, Serialize};

pub use capture::{CaptureLookup, CaptureState, Decision};
pub use changes::{Planned, StageMove};

/// Attempts of one capture or change before giving up (lost races and conflicts).
pub const MAX_ATTEMPTS: u32 = 8;

/// A failed condition that is a definite answer rather than a lost race.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The item the step needs does not exist.
    NotFound,
}

pub type Plan = WritePlan<Refusal>;

/// Where and when a change happens: the tenant (every key is built from it), its
/// day for the counters, and a seed that spreads counter writes over shards, so
/// concurrent transactions rarely touch the same counter item.
#[derive(Clone, Copy, Debug)]
pub struct Ctx<'a> {
    pub tenant: &'a TenantId,
    pub timezone: &'a str,
    pub now_ms: i64,
    pub seed: u64,
}

impl Ctx<'_> {
    /// The day-counter update of this change, inside its transaction.
    pub fn counters(&self, delta: &CounterDelta) -> Update {
        let day = stats::local_day(self.timezone, self.now_ms);
        delta.plan_update(self.tenant, &day, self.seed)
    }

    /// A fresh plan whose retries within 10 minutes are idempotent.
    pub fn plan(&self) -> Plan {
        WritePlan {
            steps: Vec::new(),
            token: Some(ulid::Ulid::new().to_string()),
        }
    }
}

/// What a capture did to the funnel.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Applied {
    Created,
    Merged,
    /// Merged into a `lost` lead, which moved back to `qualification`.
    Reopened,
}

#[derive(Clone, Debug)]
pub struct Captured {
    pub applied: Applied,
    /// The same submission was captured before: nothing was written this time, and the
    /// caller re-sends its notices (their ids are stable, so nobody gets them twice).
    pub duplicate: bool,
    /// The lead as it is after the capture.
    pub lead: Lead,
    pub history_id: String,
    pub at_ms: i64,
}

#[derive(Clone, Debug)]
pub enum StageChange {
    Unchanged(Box<Lead>),
    Changed {
        lead: Box<Lead>,
        from: Stage,
        history: Box<HistoryEntry>,
    },
}

#[derive(Clone, Debug)]
pub enum Assignment {
    Unchanged(Box<Lead>),
    Assigned {
        lead: Box<Lead>,
        previous: Option<String>,
        history: Box<HistoryEntry>,
    },
}
