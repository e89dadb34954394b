//! Report periods in the tenant's zone: `2026-11-24` (day), `2026-W48` (ISO week),
//! `2026-11` (month).
//!
//! A period is a run of tenant-local calendar dates; its instants come from the zone
//! (`Date::to_zoned`), never from 24-hour arithmetic, so DST days have 23 or 25 hours.

use jiff::civil::{Date, ISOWeekDate, Weekday};
use jiff::tz::TimeZone;
use jiff::{Timestamp, ToSpan};
use sauda_shared::tenant::ReportPeriodKind;
use serde::Serialize;
use std::fmt;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Period {
    Day(Date),
    /// ISO week-numbering year and week.
    Week {
        year: i16,
        week: i8,
    },
    Month {
        year: i16,
        month: i8,
    },
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("period {0:?} is not a day (2026-11-24), an ISO week (2026-W48) or a month (2026-11)")]
pub struct InvalidPeriod(pub String);

impl Period {
    pub fn parse(raw: &str) -> Result<Self, InvalidPeriod> {
        let invalid = || InvalidPeriod(raw.to_owned());
        let num = |s: &str| -> Result<i64, InvalidPeriod> {
            if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
                return Err(invalid());
            }
            s.parse().map_err(|_| invalid())
        };
        let parts: Vec<&str> = raw.split('-').collect();
        match parts.as_slice() {
            [y, m, d] if y.len() == 4 && m.len() == 2 && d.len() == 2 => {
                let date = Date::new(num(y)? as i16, num(m)? as i8, num(d)? as i8)
                    .map_err(|_| invalid())?;
                Ok(Period::Day(date))
            }
            [y, w] if y.len() == 4 && w.len() == 3 && w.starts_with('W') => {
                let (year, week) = (num(y)? as i16, num(&w[1..])? as i8);
                ISOWeekDate::new(year, week, Weekday::Monday).map_err(|_| invalid())?;
                Ok(Period::Week { year, week })
            }
            [y, m] if y.len() == 4 && m.len() == 2 => {
                let (year, month) = (num(y)? as i16, num(m)? as i8);
                Date::new(year, month, 1).map_err(|_| invalid())?;
                Ok(Period::Month { year, month })
            }
            _ => Err(invalid()),
        }
    }

    /// The period of `kind` that contains `date`.
    pub fn containing(kind: ReportPeriodKind, date: Date) -> Self {
        match kind {
            ReportPeriodKind::Daily => Period::Day(date),
            ReportPeriodKind::Weekly => {
                let iso = date.iso_week_date();
                Period::Week {
                    year: iso.year(),
                    week: iso.week(),
                }
            }
            ReportPeriodKind::Monthly => Period::Month {
                year: date.year(),
                month: date.month(),
            },
        }
    }

    pub fn kind(self) -> ReportPeriodKind {
        match self {
            Period::Day(_) => ReportPeriodKind::Daily,
            Period::Week { .. } => ReportPeriodKind::Weekly,
            Period::Month { .. } => ReportPeriodKind::Monthly,
        }
    }

    pub fn first_day(self) -> Date {
        match self {
            Period::Day(d) => d,
            Period::Week { year, week } => ISOWeekDate::new(year, week, Weekday::Monday)
                .expect("validated on construction")
                .date(),
            Period::Month { year, month } => {
                Date::new(year, month, 1).expect("validated on construction")
            }
        }
    }

    pub fn last_day(self) -> Date {
        match self {
            Period::Day(d) => d,
            Period::Week { .. } => self.first_day() + 6.days(),
            Period::Month { .. } => self.first_day().last_of_month(),
        }
    }

    /// Every date of the period, in order.
    pub fn days(self) -> Vec<Date> {
        let last = self.last_day();
        let mut out = Vec::new();
        let mut d = self.first_day();
        while d <= last {
            out.push(d);
            d = d.tomorrow().expect("dates stay in range");
        }
        out
    }

    /// The previous period of the same kind: the comparison base of every figure.
    pub fn previous(self) -> Self {
        let before = self.first_day().yesterday().expect("dates stay in range");
        Self::containing(self.kind(), before)
    }

    pub fn next(self) -> Self {
        let after = self.last_day().tomorrow().expect("dates stay in range");
        Self::containing(self.kind(), after)
    }

    /// The instant the period starts in `tz` (local midnight of its first day, or the
    /// first instant after it when a DST gap swallows midnight).
    pub fn start(self, tz: &TimeZone) -> Timestamp {
        day_start(self.first_day(), tz)
    }

    /// The instant the period ends (exclusive): the start of the next period.
    pub fn end(self, tz: &TimeZone) -> Timestamp {
        day_start(self.last_day().tomorrow().expect("dates stay in range"), tz)
    }

    /// The month (`yyyy-mm`) of the period's last day: the budget month a report shows.
    pub fn budget_month(self) -> Period {
        Self::containing(ReportPeriodKind::Monthly, self.last_day())
    }

    /// Periods of `kind` that ended in `(at - window, at]`, oldest first: what a planner
    /// run at `at` enqueues. Windows of consecutive hourly runs tile time, so each period
    /// is planned exactly once, whatever the zone's offset (including :30 and :45 ones).
    pub fn ended_within(
        kind: ReportPeriodKind,
        tz: &TimeZone,
        at: Timestamp,
        window: jiff::SignedDuration,
    ) -> Vec<Period> {
        let from = at - window;
        let mut current = Self::containing(kind, at.to_zoned(tz.clone()).date());
        let mut due = Vec::new();
        // `current` contains `at`, so it has not ended; walk back while the previous
        // period's end (the start of the one after it) is inside the window.
        while current.start(tz) > from {
            current = current.previous();
            due.push(current);
        }
        due.reverse();
        due
    }

    /// Whether the period has fully ended at `now` in `tz`.
    pub fn has_ended(self, tz: &TimeZone, now: Timestamp) -> bool {
        self.end(tz) <= now
    }
}

fn day_start(date: Date, tz: &TimeZone) -> Timestamp {
    date.to_zoned(tz.clone())
        .expect("dates of reports are far from the range limits")
        .timestamp()
}

impl fmt::Display for Period {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Period::Day(d) => write!(f, "{d}"),
            Period::Week { year, week } => write!(f, "{year:04}-W{week:02}"),
            Period::Month { year, month } => write!(f, "{year:04}-{month:02}"),
        }
    }
}

/// A period as a report states it: id, dates and the instants it covers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct PeriodInfo {
    pub id: String,
    pub kind: ReportPeriodKind,
    pub first_day: String,
    pub last_day: String,
    pub days: usize,
    /// Length in hours: 23 or 25 on a DST change day.
    pub hours: i64,
    pub start_utc: String,
    pub end_utc: String,
}

impl PeriodInfo {
    pub fn new(period: Period, tz: &TimeZone) -> Self {
        let (start, end) = (period.start(tz), period.end(tz));
        Self {
            id: period.to_string(),
            kind: period.kind(),
            first_day: period.first_day().to_string(),
            last_day: period.last_day().to_string(),
            days: period.days().len(),
            hours: end.duration_since(start).as_secs() / 3600,
            start_utc: start.to_string(),
            end_utc: end.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::SignedDuration;

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn parses_and_prints_every_kind() {
        for raw in [
            "2026-11-24",
            "2026-W48",
            "2026-11",
            "2020-W53",
            "2024-02-29",
        ] {
            assert_eq!(Period::parse(raw).unwrap().to_string(), raw);
        }
        for bad in [
            "",
            "2026",
            "2026-13",
            "2026-W54",
            "2025-W53",
            "2026-02-30",
            "26-11",
            "2026-W4",
            "2026-1-01",
            "2026-11-24x",
            "+026-11",
            "2026-W+1",
        ] {
            assert!(Period::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn days_previous_and_iso_weeks_across_years() {
        let week = Period::parse("2026-W01").unwrap();
        assert_eq!(week.first_day().to_string(), "2025-12-29");
        assert_eq!(week.last_day().to_string(), "2026-01-04");
        assert_eq!(week.previous().to_string(), "2025-W52");
        assert_eq!(
            Period::parse("2020-W53").unwrap().next().to_string(),
            "2021-W01"
        );
        let feb = Period::parse("2028-02").unwrap();
        assert_eq!(feb.days().len(), 29);
        assert_eq!(feb.previous().to_string(), "2028-01");
        assert_eq!(
            Period::parse("2026-01").unwrap().previous().to_string(),
            "2025-12"
        );
        assert_eq!(
            Period::parse("2026-03-01").unwrap().previous().to_string(),
            "2026-02-28"
        );
    }

    #[test]
    fn dst_days_have_23_and_25_hours() {
        let ny = TimeZone::get("America/New_York").unwrap();
        let spring = PeriodInfo::new(Period::parse("2026-03-08").unwrap(), &ny);
        assert_eq!(spring.hours, 23);
        assert_eq!(spring.start_utc, "2026-03-08T05:00:00Z");
        assert_eq!(spring.end_utc, "2026-03-09T04:00:00Z");
        let fall = PeriodInfo::new(Period::parse("2026-11-01").unwrap(), &ny);
        assert_eq!(fall.hours, 25);
        let week = PeriodInfo::new(Period::parse("2026-W10").unwrap(), &ny);
        assert_eq!(week.hours, 7 * 24 - 1);
    }

    #[test]
    fn planning_windows_follow_the_zone() {
        let hour = SignedDuration::from_hours(1);
        let almaty = TimeZone::get("Asia/Almaty").unwrap();
        // Midnight 2026-12-01 in Almaty (UTC+5) is 19:00 UTC on Nov 30: day, month close.
        let at = ts("2026-11-30T19:05:00Z");
        let daily = Period::ended_within(ReportPeriodKind::Daily, &almaty, at, hour);
        assert_eq!(daily, [Period::parse("2026-11-30").unwrap()]);
        let monthly = Period::ended_within(ReportPeriodKind::Monthly, &almaty, at, hour);
        assert_eq!(monthly, [Period::parse("2026-11").unwrap()]);
        // 2026-11-30 is a Monday, so no week closed at that midnight.
        assert!(Period::ended_within(ReportPeriodKind::Weekly, &almaty, at, hour).is_empty());
        // An hour later nothing is due any more.
        let later = ts("2026-11-30T20:05:00Z");
        assert!(Period::ended_within(ReportPeriodKind::Daily, &almaty, later, hour).is_empty());
        // Kathmandu (+05:45): midnight is 18:15 UTC, inside (18:05, 19:05].
        let ktm = TimeZone::get("Asia/Kathmandu").unwrap();
        assert!(Period::ended_within(
            ReportPeriodKind::Daily,
            &ktm,
            ts("2026-11-30T18:05:00Z"),
            hour
        )
        .is_empty());
        assert_eq!(
            Period::ended_within(
                ReportPeriodKind::Daily,
                &ktm,
                ts("2026-11-30T19:05:00Z"),
                hour
            ),
            [Period::parse("2026-11-30").unwrap()]
        );
        // A 3-day catch-up window after an outage yields three days, oldest first.
        let catch_up = Period::ended_within(
            ReportPeriodKind::Daily,
            &TimeZone::UTC,
            ts("2026-11-30T00:30:00Z"),
            SignedDuration::from_hours(72),
        );
        let ids: Vec<String> = catch_up.iter().map(ToString::to_string).collect();
        assert_eq!(ids, ["2026-11-27", "2026-11-28", "2026-11-29"]);
    }

    #[test]
    fn each_instant_is_planned_exactly_once_over_a_dst_year() {
        let hour = SignedDuration::from_hours(1);
        for zone in [
            "America/New_York",
            "Europe/Berlin",
            "Asia/Kolkata",
            "Australia/Lord_Howe",
        ] {
            let tz = TimeZone::get(zone).unwrap();
            let mut planned = Vec::new();
            let mut at = ts("2026-01-01T00:05:00Z");
            while at < ts("2027-01-01T00:05:00Z") {
                planned.extend(Period::ended_within(ReportPeriodKind::Daily, &tz, at, hour));
                at += hour;
            }
            let mut unique = planned.clone();
            unique.dedup();
            assert_eq!(planned, unique, "{zone}: no day twice");
            assert!(
                planned.len() >= 364,
                "{zone}: every day once ({})",
                planned.len()
            );
            assert!(
                planned.windows(2).all(|w| w[0].next() == w[1]),
                "{zone}: no gaps"
            );
        }
    }
}
