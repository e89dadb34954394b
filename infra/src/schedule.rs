//! EventBridge Scheduler expressions (`rate(…)`, `cron(…)`, `at(…)`) evaluated locally,
//! so the pump can fire the template's schedules the way AWS would (in UTC).

use chrono::{DateTime, NaiveDateTime, Utc};
use std::str::FromStr;
use std::time::Duration;

#[derive(Debug, Clone)]
pub enum Expression {
    Rate(Duration),
    /// AWS's six fields (minute hour day-of-month month day-of-week year), day of week
    /// 1-7 from Sunday, as the `cron` crate reads them with a seconds field prepended.
    Cron(Box<cron::Schedule>),
    At(DateTime<Utc>),
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("schedule expression {expression:?}: {reason}")]
pub struct ExpressionError {
    pub expression: String,
    pub reason: String,
}

impl FromStr for Expression {
    type Err = ExpressionError;

    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        let err = |reason: &str| ExpressionError {
            expression: raw.to_owned(),
            reason: reason.to_owned(),
        };
        let inner = |prefix: &str| {
            raw.trim()
                .strip_prefix(prefix)
                .and_then(|r| r.strip_suffix(')'))
                .map(str::trim)
        };
        if let Some(body) = inner("rate(") {
            let (n, unit) = body
                .split_once(' ')
                .ok_or_else(|| err("expected `rate(N unit)`"))?;
            let n: u64 = n
                .parse()
                .map_err(|_| err("rate value must be a positive integer"))?;
            let seconds = match unit.trim_end_matches('s') {
                "minute" => 60,
                "hour" => 3600,
                "day" => 86_400,
                _ => return Err(err("rate unit must be minutes, hours or days")),
            };
            if n == 0 {
                return Err(err("rate value must be a positive integer"));
            }
            return Ok(Expression::Rate(Duration::from_secs(n * seconds)));
        }
        if let Some(body) = inner("cron(") {
            if body.split_whitespace().count() != 6 {
                return Err(err(
                    "cron needs six fields: minute hour day-of-month month day-of-week year",
                ));
            }
            let schedule =
                cron::Schedule::from_str(&format!("0 {body}")).map_err(|e| err(&e.to_string()))?;
            return Ok(Expression::Cron(Box::new(schedule)));
        }
        if let Some(body) = inner("at(") {
            let at = NaiveDateTime::parse_from_str(body, "%Y-%m-%dT%H:%M:%S")
                .map_err(|_| err("at() takes yyyy-mm-ddThh:mm:ss"))?;
            return Ok(Expression::At(at.and_utc()));
        }
        Err(err("expected rate(…), cron(…) or at(…)"))
    }
}

impl Expression {
    /// The first firing strictly after `after`; `rate` schedules count from `started`.
    pub fn next_after(
        &self,
        after: DateTime<Utc>,
        started: DateTime<Utc>,
    ) -> Option<DateTime<Utc>> {
        match self {
            Expression::Rate(every) => {
                let every = chrono::Duration::from_std(*every).ok()?;
                let elapsed = after.signed_duration_since(started);
                let periods = elapsed.num_seconds().div_euclid(every.num_seconds()) + 1;
                Some(started + every * i32::try_from(periods.max(1)).ok()?)
            }
            Expression::Cron(schedule) => schedule.after(&after).next(),
            Expression::At(at) => (*at > after).then_some(*at),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, mo, d, h, mi, 0).unwrap()
    }

    #[test]
    fn rates_count_from_the_start() {
        let e: Expression = "rate(15 minutes)".parse().unwrap();
        let start = t(2026, 11, 25, 10, 0);
        assert_eq!(e.next_after(start, start), Some(t(2026, 11, 25, 10, 15)));
        assert_eq!(
            e.next_after(t(2026, 11, 25, 10, 16), start),
            Some(t(2026, 11, 25, 10, 30))
        );
        assert!("rate(1 hour)".parse::<Expression>().is_ok());
        assert!("rate(0 minutes)".parse::<Expression>().is_err());
        assert!("rate(5 weeks)".parse::<Expression>().is_err());
    }

    #[test]
    fn aws_cron_fields_and_weekdays() {
        let hourly: Expression = "cron(5 * * * ? *)".parse().unwrap();
        let now = t(2026, 11, 25, 10, 7);
        assert_eq!(hourly.next_after(now, now), Some(t(2026, 11, 25, 11, 5)));
        // AWS: day of week 2 is Monday. 2026-11-25 is a Wednesday.
        let monday: Expression = "cron(0 6 ? * 2 *)".parse().unwrap();
        assert_eq!(monday.next_after(now, now), Some(t(2026, 11, 30, 6, 0)));
        let named: Expression = "cron(30 0 1 * ? *)".parse().unwrap();
        assert_eq!(named.next_after(now, now), Some(t(2026, 12, 1, 0, 30)));
        assert!(
            "cron(5 * * * ?)".parse::<Expression>().is_err(),
            "five fields"
        );
    }

    #[test]
    fn at_fires_once() {
        let e: Expression = "at(2026-11-25T12:00:00)".parse().unwrap();
        assert_eq!(
            e.next_after(t(2026, 11, 25, 10, 0), t(2026, 11, 25, 10, 0)),
            Some(t(2026, 11, 25, 12, 0))
        );
        assert_eq!(
            e.next_after(t(2026, 11, 25, 13, 0), t(2026, 11, 25, 10, 0)),
            None
        );
        assert!("every(5)".parse::<Expression>().is_err());
    }
}
