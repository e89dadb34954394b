//! Report periods in the tenant's zone: `2026-11-24` (day), `2026-W48` (ISO week),
//! `2026-11` (month).
//!
//! A period is a run of tenant-local calendar dates; its instants come from the zone
//! (`Date::to_zoned`), never from 24-hour arithmetic, so DST days have 23 or 25 hours.
//!
//! Only periods inside [`FIRST_YEAR`]..=[`LAST_YEAR`] can be made ([`Period::parse`],
//! [`Period::containing`]): anything else is an [`InvalidPeriod`], so a queued `9999-12`
//! is refused instead of stepping past the calendar's end. That range sits thousands of
//! years inside `jiff`'s, so the arithmetic of a period and its neighbours never fails;
//! it is still checked, and saturates rather than panics if a caller walks
//! `previous()`/`next()` that far.

use jiff::civil::{Date, ISOWeekDate, Weekday};
use jiff::tz::TimeZone;
use jiff::{Timestamp, ToSpan};
use sauda_shared::tenant::ReportPeriodKind;
use serde::Serialize;
use std::fmt;

/// The first and last calendar years a report may cover.
pub const FIRST_YEAR: i16 = 2000;
pub const LAST_YEAR: i16 = 2999;

/// A day, an ISO week or a calendar month, by its kind and first day (a Monday for a
/// week, the 1st for a month). Made only by the constructors, which check the range.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Period {
    kind: ReportPeriodKind,
    first: Date,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum InvalidPeriod {
    #[error("period {0:?} is not a day (2026-11-24), an ISO week (2026-W48) or a month (2026-11)")]
    Malformed(String),
    #[error("period {0:?} is outside the years {FIRST_YEAR}-{LAST_YEAR} that reports cover")]
    OutOfRange(String),
}

impl InvalidPeriod {
    /// A stable machine-readable code for API answers.
    pub fn code(&self) -> &'static str {
        match self {
            InvalidPeriod::Malformed(_) => "invalid_period",
            InvalidPeriod::OutOfRange(_) => "period_out_of_range",
        }
    }
}

fn in_range(date: Date) -> bool {
    (FIRST_YEAR..=LAST_YEAR).contains(&date.year())
}

/// The Monday of `date`'s ISO week (`date` itself at the calendar's very start).
fn monday_of(date: Date) -> Date {
    let back = i64::from(date.weekday().to_monday_zero_offset());
    date.checked_sub(back.days()).unwrap_or(date)
}

impl Period {
    pub fn parse(raw: &str) -> Result<Self, InvalidPeriod> {
        let invalid = || InvalidPeriod::Malformed(raw.to_owned());
        // At most 4 ASCII digits, so the casts below cannot truncate.
        let num = |s: &str| -> Result<i16, InvalidPeriod> {
            if s.is_empty() || s.len() > 4 || !s.bytes().all(|b| b.is_ascii_digit()) {
                return Err(invalid());
            }
            s.parse().map_err(|_| invalid())
        };
        let parts: Vec<&str> = raw.split('-').collect();
        let period = match parts.as_slice() {
            [y, m, d] if y.len() == 4 && m.len() == 2 && d.len() == 2 => {
                let date =
                    Date::new(num(y)?, num(m)? as i8, num(d)? as i8).map_err(|_| invalid())?;
                Period {
                    kind: ReportPeriodKind::Daily,
                    first: date,
                }
            }
            [y, w] if y.len() == 4 && w.len() == 3 && w.starts_with('W') => {
                let monday = ISOWeekDate::new(num(y)?, num(&w[1..])? as i8, Weekday::Monday)
                    .map_err(|_| invalid())?
                    .date();
                Period {
                    kind: ReportPeriodKind::Weekly,
                    first: monday,
                }
            }
            [y, m] if y.len() == 4 && m.len() == 2 => {
                let first = Date::new(num(y)?, num(m)? as i8, 1).map_err(|_| invalid())?;
                Period {
                    kind: ReportPeriodKind::Monthly,
                    first,
                }
            }
            _ => return Err(invalid()),
        };
        period.checked(raw)
    }

    /// The period of `kind` that contains `date`, when inside the years reports cover.
    pub fn containing(kind: ReportPeriodKind, date: Date) -> Result<Self, InvalidPeriod> {
        Self::around(kind, date).checked(&date.to_string())
    }

    /// [`Period::containing`] without the range check, for the neighbours of a period.
    fn around(kind: ReportPeriodKind, date: Date) -> Self {
        let first = match kind {
            ReportPeriodKind::Daily => date,
            ReportPeriodKind::Weekly => monday_of(date),
            ReportPeriodKind::Monthly => date.first_of_month(),
        };
        Period { kind, first }
    }

    fn checked(self, raw: &str) -> Result<Self, InvalidPeriod> {
        if in_range(self.first) && in_range(self.last_day()) {
            Ok(self)
        } else {
            Err(InvalidPeriod::OutOfRange(raw.to_owned()))
        }
    }

    pub fn kind(self) -> ReportPeriodKind {
        self.kind
    }

    pub fn first_day(self) -> Date {
        self.first
    }

    pub fn last_day(self) -> Date {
        match self.kind {
            ReportPeriodKind::Daily => self.first,
            ReportPeriodKind::Weekly => self.first.checked_add(6.days()).unwrap_or(Date::MAX),
            ReportPeriodKind::Monthly => self.first.last_of_month(),
        }
    }

    /// Every date of the period, in order.
    pub fn days(self) -> Vec<Date> {
        let last = self.last_day();
        let mut out = Vec::new();
        let mut d = self.first;
        while d <= last {
            out.push(d);
            match d.tomorrow() {
                Ok(next) => d = next,
                Err(_) => break,
            }
        }
        out
    }

    /// The previous period of the same kind: the comparison base of every figure.
    pub fn previous(self) -> Self {
        match self.first.yesterday() {
            Ok(before) => Self::around(self.kind, before),
            Err(_) => self,
        }
    }

    pub fn next(self) -> Self {
        match self.last_day().tomorrow() {
            Ok(after) => Self::around(self.kind, after),
            Err(_) => self,
        }
    }

    /// The instant the period starts in `tz` (local midnight of its first day, or the
    /// first instant after it when a DST gap swallows midnight).
    pub fn start(self, tz: &TimeZone) -> Timestamp {
        day_start(self.first, tz).unwrap_or(Timestamp::MIN)
    }

    /// The instant the period ends (exclusive): the start of the next period.
    pub fn end(self, tz: &TimeZone) -> Timestamp {
        self.last_day()
            .tomorrow()
            .ok()
            .and_then(|d| day_start(d, tz))
            .unwrap_or(Timestamp::MAX)
    }

    /// The month (`yyyy-mm`) of the period's last day: the budget month a report shows.
    pub fn budget_month(self) -> Period {
        Self::around(ReportPeriodKind::Monthly, self.last_day())
    }

    /// Periods of `kind` that ended in `(at - window, at]`, oldest first: what a planner
    /// run at `at` enqueues. Windows of consecutive hourly runs tile time, so each period
    /// is planned exactly once, whatever the zone's offset (including :30 and :45 ones).
    /// An `at` outside the years reports cover plans nothing.
    pub fn ended_within(
        kind: ReportPeriodKind,
        tz: &TimeZone,
        at: Timestamp,
        window: jiff::SignedDuration,
    ) -> Vec<Period> {
        let from = at.checked_sub(window).unwrap_or(Timestamp::MIN);
        let Ok(mut current) = Self::containing(kind, at.to_zoned(tz.clone()).date()) else {
            return Vec::new();
        };
        let mut due = Vec::new();
        // `current` contains `at`, so it has not ended; walk back while the previous
        // period's end (the start of the one after it) is inside the window.
        while current.start(tz) > from {
            let previous = current.previous();
            if previous == current || !in_range(previous.first) {
                break;
            }
            current = previous;
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

fn day_start(date: Date, tz: &TimeZone) -> Option<Timestamp> {
    date.to_zoned(tz.clone()).ok().map(|z| z.timestamp())
}

impl fmt::Display for Period {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            ReportPeriodKind::Daily => write!(f, "{}", self.first),
            ReportPeriodKind::Weekly => {
                let iso = self.first.iso_week_date();
                write!(f, "{:04}-W{:02}", iso.year(), iso.week())
            }
            ReportPeriodKind::Monthly => {
                write!(f, "{:04}-{:02}", self.first.year(), self.first.month())
            }
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
    fn periods_outside_the_covered_years_are_refused_with_their_own_code() {
        for raw in [
            "9999-12",
            "9999-12-31",
            "9999-W52",
            "0000-01",
            "1999-12-31",
            "3000-01",
        ] {
            let e = Period::parse(raw).unwrap_err();
            assert_eq!(e, InvalidPeriod::OutOfRange(raw.into()), "{raw}");
            assert_eq!(e.code(), "period_out_of_range");
        }
        // The week 2000-W01 starts on 2000-01-03; the one before it is in 1999.
        assert_eq!(
            Period::parse("1999-W52").unwrap_err().code(),
            "period_out_of_range"
        );
        assert_eq!(
            Period::parse("2026-13").unwrap_err().code(),
            "invalid_period"
        );
        assert!(Period::containing(ReportPeriodKind::Monthly, Date::MAX).is_err());
        assert!(Period::containing(ReportPeriodKind::Weekly, Date::MIN).is_err());

        // The edges of the range and their neighbours are plain arithmetic.
        let last = Period::parse("2999-12").unwrap();
        assert_eq!(last.next().to_string(), "3000-01");
        assert_eq!(last.end(&TimeZone::UTC).to_string(), "3000-01-01T00:00:00Z");
        let first = Period::parse("2000-01-01").unwrap();
        assert_eq!(first.previous().to_string(), "1999-12-31");
        assert_eq!(crate::report::days_needed(last).len(), 61);
    }

    #[test]
    fn arithmetic_saturates_at_the_calendar_limits_instead_of_panicking() {
        // Walks to the end of the calendar (20,000 years of days at most) and back.
        fn walk(mut p: Period, step: fn(Period) -> Period) -> Period {
            for _ in 0..8_000_000 {
                let q = step(p);
                if q == p {
                    return p;
                }
                p = q;
            }
            panic!("{p} is no fixed point")
        }
        for raw in ["2000-01-01", "2000-W01", "2000-01"] {
            let start = Period::parse(raw).unwrap();
            for end in [walk(start, Period::previous), walk(start, Period::next)] {
                assert!(end.first_day().year().abs() > 9000, "{raw}: {end}");
                let _ = (
                    end.to_string(),
                    end.days(),
                    PeriodInfo::new(end, &TimeZone::UTC),
                );
                assert!(end.start(&TimeZone::UTC) <= end.end(&TimeZone::UTC));
            }
        }
        let hour = SignedDuration::from_hours(1);
        for at in [Timestamp::MIN, Timestamp::MAX] {
            for kind in [
                ReportPeriodKind::Daily,
                ReportPeriodKind::Weekly,
                ReportPeriodKind::Monthly,
            ] {
                assert!(Period::ended_within(kind, &TimeZone::UTC, at, hour).is_empty());
            }
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
