//! Scheduled reports: per tenant, daily, weekly and monthly, in the tenant's zone.
//!
//! - `planner` (bin `report-planner`, EventBridge Scheduler, hourly): lists the tenant
//!   registry and enqueues one `report` job per tenant and period that just closed.
//! - `worker` (bin `report-worker`, the reports queue): reads the period's daily
//!   counters (never events), builds the report (`report`), renders `report.json`,
//!   `report.csv` and `report.html` (`render`, `chart`) to S3 and queues the managers'
//!   summary (in their language, texts in `sauda_shared::i18n::reports`) with a link on
//!   the notify queue.
//! - `link` (bin `report-link`, HTTP API): the managers' stable link; checks its token
//!   and redirects to a short-lived presigned S3 URL.
//! - `store`: the port the worker and the link need; `aws`: its DynamoDB + S3 adapter
//!   and the planner's SQS adapter (the only module that names AWS types).
//! - `period`: periods and their boundaries in a zone; `synthetic`: demo data.

pub mod aws;
pub mod chart;
pub mod link;
pub mod period;
pub mod planner;
pub mod render;
pub mod report;
pub mod store;
pub mod synthetic;
pub mod worker;

pub use period::Period;
pub use report::{build, Report, ReportContext};
