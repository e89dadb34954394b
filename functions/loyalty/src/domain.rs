//! Pure ledger arithmetic: cashback, the redeem cap, FIFO expiry and NPS classes.
//! No AWS here, so every rule is unit-tested on its own.
//!
//! One point is worth one minor unit of the tenant's currency: cashback of 5 % on a
//! purchase of 10 000 minor units is 500 points, and redeeming 500 points takes 500
//! minor units off a purchase.

use jiff::civil::Date;
use sauda_shared::tenant::Rounding;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Largest purchase amount accepted, in minor units (10^12: ten billion in a two-decimal currency).
pub const MAX_AMOUNT_MINOR: i64 = 1_000_000_000_000;
/// Largest number of points moved by one operation.
pub const MAX_POINTS: i64 = 1_000_000_000_000;
/// Basis points in 100 %.
pub const BP_SCALE: i64 = 10_000;

/// Points earned on `amount_minor` at `cashback_bp` basis points, rounded as the tenant
/// says; `None` when the result does not fit in an `i64`.
pub fn cashback_points(amount_minor: i64, cashback_bp: u32, rounding: Rounding) -> Option<i64> {
    // i64 × u32 always fits in i128, and so does the rounding step.
    let raw = i128::from(amount_minor) * i128::from(cashback_bp);
    let scale = i128::from(BP_SCALE);
    let (whole, rest) = (raw.div_euclid(scale), raw.rem_euclid(scale));
    let rounded = match rounding {
        Rounding::Floor => whole,
        Rounding::Ceil => whole + i128::from(rest > 0),
        // Half up: 0.5 point becomes 1.
        Rounding::Nearest => whole + i128::from(rest * 2 >= scale),
    };
    i64::try_from(rounded).ok()
}

/// The most points one purchase may be paid with: `max_redeem_percent` of its amount, floored.
pub fn max_redeemable(amount_minor: i64, max_redeem_percent: u32) -> i64 {
    let cap = i128::from(amount_minor) * i128::from(max_redeem_percent.min(100)) / 100;
    // |cap| <= |amount_minor|, so it always fits.
    i64::try_from(cap).unwrap_or(0)
}

/// NPS class of a 0-10 score.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NpsClass {
    Detractor,
    Passive,
    Promoter,
}

pub fn nps_class(score: u8) -> NpsClass {
    match score {
        0..=6 => NpsClass::Detractor,
        7..=8 => NpsClass::Passive,
        _ => NpsClass::Promoter,
    }
}

/// Net Promoter Score (−100..=100) from counts; `None` without responses.
pub fn nps_score(responses: i64, promoters: i64, detractors: i64) -> Option<f64> {
    (responses > 0).then(|| {
        // In i128: stored counts are trusted to be sane, not to be small.
        let net = i128::from(promoters) - i128::from(detractors);
        let raw = net as f64 * 100.0 / responses as f64;
        (raw * 10.0).round() / 10.0
    })
}

/// `part` of `whole` scaled to `of`, rounded down; exact at `part == whole`, so
/// successive partial refunds add up to the whole figure. `None` when the share does
/// not fit in an `i64` (only possible with `part > whole`).
pub fn share(of: i64, part: i64, whole: i64) -> Option<i64> {
    if whole <= 0 {
        return Some(0);
    }
    i64::try_from(i128::from(of) * i128::from(part) / i128::from(whole)).ok()
}

/// Why a ledger change cannot be made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum LedgerError {
    #[error("insufficient points: balance {balance}, requested {requested}")]
    Insufficient { balance: i64, requested: i64 },
    /// A negative amount, or a total that would leave the range of an `i64`.
    #[error("points out of range")]
    OutOfRange,
}

/// The points state of one account, with what FIFO expiry needs.
///
/// Debits (redeem, expire, negative adjustments) consume the oldest credits first, so the
/// points still outstanding from the credits of a day are known from totals alone:
/// walk the credit days oldest first and let `debited` eat them. Invariants:
/// - `balance == credited - debited >= 0`;
/// - `settled_credits + Σ credit_days == credited`;
/// - `settled_credits <= debited` (a day leaves the map only once fully consumed).
///
/// Every change is checked arithmetic and all-or-nothing: a change that would overflow
/// is refused and leaves the ledger as it was.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ledger {
    pub balance: i64,
    /// Every point ever credited.
    pub credited: i64,
    /// Every point ever debited.
    pub debited: i64,
    /// Tenant-local credit day (`yyyy-mm-dd`) → points credited that day, for the days
    /// that may still hold outstanding points.
    pub credit_days: BTreeMap<String, i64>,
    /// Credits of the days dropped from `credit_days` (fully consumed).
    pub settled_credits: i64,
}

impl Ledger {
    /// Adds `points` (a no-op for 0) credited on `day`.
    pub fn credit(&mut self, day: &str, points: i64) -> Result<(), LedgerError> {
        if points < 0 {
            return Err(LedgerError::OutOfRange);
        }
        if points == 0 {
            return Ok(());
        }
        let on_day = self.credit_days.get(day).copied().unwrap_or(0);
        let (Some(credited), Some(balance), Some(on_day)) = (
            self.credited.checked_add(points),
            self.balance.checked_add(points),
            on_day.checked_add(points),
        ) else {
            return Err(LedgerError::OutOfRange);
        };
        self.credited = credited;
        self.balance = balance;
        self.credit_days.insert(day.to_owned(), on_day);
        Ok(())
    }

    /// Takes `points` from the balance, oldest credits first.
    pub fn debit(&mut self, points: i64) -> Result<(), LedgerError> {
        if points < 0 {
            return Err(LedgerError::OutOfRange);
        }
        if points > self.balance {
            return Err(LedgerError::Insufficient {
                balance: self.balance,
                requested: points,
            });
        }
        if points > 0 {
            let (Some(debited), Some(balance)) = (
                self.debited.checked_add(points),
                self.balance.checked_sub(points),
            ) else {
                return Err(LedgerError::OutOfRange);
            };
            self.debited = debited;
            self.balance = balance;
            self.compact();
        }
        Ok(())
    }

    /// Points still outstanding per credit day, oldest first (FIFO consumption).
    pub fn outstanding(&self) -> Vec<(String, i64)> {
        let mut consumed = self.debited.saturating_sub(self.settled_credits).max(0);
        let mut out = Vec::new();
        for (day, credited) in &self.credit_days {
            let left = credited.saturating_sub(consumed).max(0);
            consumed = consumed.saturating_sub(*credited).max(0);
            if left > 0 {
                out.push((day.clone(), left));
            }
        }
        out
    }

    /// Drops the oldest days whose credits are fully consumed.
    pub fn compact(&mut self) {
        loop {
            let Some((day, credited)) = self
                .credit_days
                .first_key_value()
                .map(|(d, c)| (d.clone(), *c))
            else {
                return;
            };
            let consumed = self.debited.saturating_sub(self.settled_credits);
            let Some(settled) = self.settled_credits.checked_add(credited) else {
                return;
            };
            if consumed < credited {
                return;
            }
            self.settled_credits = settled;
            self.credit_days.remove(&day);
        }
    }

    /// Expires what is left of the credits made on or before `last_expired_day`; returns
    /// the points expired.
    pub fn expire_through(&mut self, last_expired_day: &str) -> Result<i64, LedgerError> {
        let due = self
            .outstanding()
            .iter()
            .filter(|(day, _)| day.as_str() <= last_expired_day)
            .try_fold(0i64, |sum, (_, points)| sum.checked_add(*points))
            .ok_or(LedgerError::OutOfRange)?;
        // Outstanding points never exceed the balance of a consistent ledger; a corrupt
        // one is not taken below zero.
        let due = due.min(self.balance);
        self.debit(due)?;
        Ok(due)
    }

    /// The oldest credit day that still holds points: the account's place in the expiry index.
    pub fn oldest_outstanding_day(&self) -> Option<String> {
        self.outstanding().into_iter().next().map(|(day, _)| day)
    }

    /// Points that will expire, grouped by expiry date, soonest first.
    pub fn expiring(&self, expiry_days: u32) -> Vec<(String, i64)> {
        let mut by_date: BTreeMap<String, i64> = BTreeMap::new();
        for (day, points) in self.outstanding() {
            if let Some(date) = expiry_date(&day, expiry_days) {
                // Outstanding points sum to the balance, so this cannot saturate.
                let total = by_date.entry(date).or_default();
                *total = total.saturating_add(points);
            }
        }
        by_date.into_iter().collect()
    }

    /// The invariants above, summed in i128 so that a corrupt account is reported, not a panic.
    pub fn is_consistent(&self) -> bool {
        let wide = i128::from;
        let in_days: i128 = self.credit_days.values().copied().map(wide).sum();
        let outstanding: i128 = self.outstanding().iter().map(|(_, p)| wide(*p)).sum();
        wide(self.balance) == wide(self.credited) - wide(self.debited)
            && self.balance >= 0
            && wide(self.settled_credits) + in_days == wide(self.credited)
            && self.settled_credits <= self.debited
            && outstanding == wide(self.balance)
    }
}

/// `day + expiry_days` as `yyyy-mm-dd`: the date the points of that credit day expire.
pub fn expiry_date(day: &str, expiry_days: u32) -> Option<String> {
    let date: Date = day.parse().ok()?;
    date.checked_add(jiff::Span::new().days(i64::from(expiry_days)))
        .ok()
        .map(|d| d.to_string())
}

/// The last credit day whose points have expired on `today`: `today − expiry_days`.
pub fn last_expired_day(today: &str, expiry_days: u32) -> Option<String> {
    let date: Date = today.parse().ok()?;
    date.checked_sub(jiff::Span::new().days(i64::from(expiry_days)))
        .ok()
        .map(|d| d.to_string())
}

/// The day after `day`, for exclusive upper bounds in key ranges.
pub fn next_day(day: &str) -> Option<String> {
    let date: Date = day.parse().ok()?;
    date.tomorrow().ok().map(|d| d.to_string())
}

#[cfg(test)]
mod tests {
    #[test]
    fn partial_shares_add_up_to_the_whole() {
        let (figure, total) = (95, 1_000);
        let cuts = [0, 333, 334, 999, 1_000];
        let parts: i64 = cuts
            .windows(2)
            .map(|w| share(figure, w[1], total).unwrap() - share(figure, w[0], total).unwrap())
            .sum();
        assert_eq!(parts, figure);
        assert_eq!(share(figure, total, total), Some(figure));
        assert_eq!(share(figure, 0, total), Some(0));
        assert_eq!(
            share(figure, 10, 0),
            Some(0),
            "an empty purchase has nothing to share"
        );
        assert_eq!(share(i64::MAX / 2, 3, 3), Some(i64::MAX / 2), "no overflow");
        assert_eq!(
            share(i64::MAX, 2, 1),
            None,
            "more than the whole does not fit"
        );
    }

    use super::*;

    #[test]
    fn cashback_rounds_as_configured() {
        // 5 % of 1 999 = 99.95
        assert_eq!(cashback_points(1_999, 500, Rounding::Floor), Some(99));
        assert_eq!(cashback_points(1_999, 500, Rounding::Ceil), Some(100));
        assert_eq!(cashback_points(1_999, 500, Rounding::Nearest), Some(100));
        // 5 % of 1 990 = 99.5: half rounds up; 5 % of 1 989 = 99.45 rounds down.
        assert_eq!(cashback_points(1_990, 500, Rounding::Nearest), Some(100));
        assert_eq!(cashback_points(1_989, 500, Rounding::Nearest), Some(99));
        // Exact amounts never move.
        for rounding in [Rounding::Floor, Rounding::Ceil, Rounding::Nearest] {
            assert_eq!(cashback_points(10_000, 500, rounding), Some(500));
            assert_eq!(cashback_points(10_000, 0, rounding), Some(0));
        }
        assert_eq!(cashback_points(1, 1, Rounding::Ceil), Some(1));
        assert_eq!(cashback_points(1, 1, Rounding::Floor), Some(0));
        // No overflow at the limits.
        assert_eq!(
            cashback_points(MAX_AMOUNT_MINOR, 10_000, Rounding::Floor),
            Some(MAX_AMOUNT_MINOR)
        );
    }

    #[test]
    fn redeem_cap_is_a_floored_percentage() {
        assert_eq!(max_redeemable(10_000, 50), 5_000);
        assert_eq!(max_redeemable(999, 50), 499);
        assert_eq!(max_redeemable(999, 0), 0);
        assert_eq!(max_redeemable(999, 250), 999, "capped at 100 %");
    }

    #[test]
    fn nps_classes_and_score() {
        assert_eq!(nps_class(0), NpsClass::Detractor);
        assert_eq!(nps_class(6), NpsClass::Detractor);
        assert_eq!(nps_class(7), NpsClass::Passive);
        assert_eq!(nps_class(8), NpsClass::Passive);
        assert_eq!(nps_class(9), NpsClass::Promoter);
        assert_eq!(nps_class(10), NpsClass::Promoter);
        assert_eq!(nps_score(0, 0, 0), None);
        assert_eq!(nps_score(4, 2, 1), Some(25.0));
        assert_eq!(nps_score(3, 0, 3), Some(-100.0));
        assert_eq!(nps_score(3, 1, 0), Some(33.3));
    }

    #[test]
    fn debits_consume_the_oldest_credits_first() {
        let mut l = Ledger::default();
        l.credit("2026-01-01", 100).unwrap();
        l.credit("2026-01-05", 50).unwrap();
        l.credit("2026-01-05", 10).unwrap();
        l.debit(30).unwrap();
        assert_eq!(
            l.outstanding(),
            vec![("2026-01-01".into(), 70), ("2026-01-05".into(), 60)]
        );
        l.debit(80).unwrap();
        // The first day is gone from the map once consumed.
        assert_eq!(l.outstanding(), vec![("2026-01-05".into(), 50)]);
        assert_eq!(l.credit_days.len(), 1);
        assert_eq!(l.settled_credits, 100);
        assert!(l.is_consistent());
        assert_eq!(
            l.debit(51),
            Err(LedgerError::Insufficient {
                balance: 50,
                requested: 51
            })
        );
        assert_eq!(l.balance, 50, "a refused debit changes nothing");
    }

    #[test]
    fn expiry_takes_only_what_is_left_of_old_credits() {
        let mut l = Ledger::default();
        l.credit("2026-01-01", 100).unwrap();
        l.credit("2026-01-10", 40).unwrap();
        l.debit(30).unwrap();
        // 70 left from Jan 1; Jan 10 is not due yet.
        assert_eq!(l.expire_through("2026-01-05"), Ok(70));
        assert_eq!(l.balance, 40);
        assert_eq!(l.oldest_outstanding_day().as_deref(), Some("2026-01-10"));
        // Running it again expires nothing: idempotent by construction.
        assert_eq!(l.expire_through("2026-01-05"), Ok(0));
        assert!(l.is_consistent());
        // Spending the rest leaves nothing to expire and nothing indexed.
        l.debit(40).unwrap();
        assert_eq!(l.expire_through("2026-12-31"), Ok(0));
        assert_eq!(l.oldest_outstanding_day(), None);
        assert!(l.credit_days.is_empty());
        assert!(l.is_consistent());
    }

    #[test]
    fn expiring_groups_by_date() {
        let mut l = Ledger::default();
        l.credit("2026-01-01", 100).unwrap();
        l.credit("2026-01-02", 20).unwrap();
        l.debit(10).unwrap();
        assert_eq!(
            l.expiring(30),
            vec![("2026-01-31".into(), 90), ("2026-02-01".into(), 20)]
        );
    }

    #[test]
    fn dates() {
        assert_eq!(expiry_date("2026-01-31", 30).as_deref(), Some("2026-03-02"));
        assert_eq!(
            last_expired_day("2026-03-02", 30).as_deref(),
            Some("2026-01-31")
        );
        assert_eq!(next_day("2026-12-31").as_deref(), Some("2027-01-01"));
        assert_eq!(expiry_date("nope", 1), None);
    }

    #[test]
    fn random_operations_keep_the_invariants() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let mut l = Ledger::default();
        let mut day = "2026-01-01".parse::<Date>().unwrap();
        let mut expired_total = 0;
        for _ in 0..5_000 {
            match rng.random_range(0..10) {
                0..=4 => l
                    .credit(&day.to_string(), rng.random_range(0..500))
                    .unwrap(),
                5..=7 => {
                    let _ = l.debit(rng.random_range(1..400));
                }
                8 => day = day.tomorrow().unwrap(),
                _ => {
                    let last = last_expired_day(&day.to_string(), 20).unwrap();
                    expired_total += l.expire_through(&last).unwrap();
                    assert!(l
                        .outstanding()
                        .iter()
                        .all(|(d, _)| d.as_str() > last.as_str()));
                }
            }
            assert!(l.is_consistent(), "{l:?}");
        }
        assert!(expired_total > 0);
    }

    const EXTREMES: [i64; 7] = [i64::MIN, i64::MIN + 1, -1, 0, 1, i64::MAX - 1, i64::MAX];

    #[test]
    fn ledger_changes_at_the_extremes_are_refused_whole_or_exact() {
        for start in [0, 1, i64::MAX - 1, i64::MAX] {
            for points in EXTREMES {
                let mut l = Ledger::default();
                if start > 0 {
                    l.credit("2026-01-01", start).unwrap();
                }
                let before = l.clone();
                match l.credit("2026-01-02", points) {
                    Ok(()) => {
                        assert!(points >= 0, "{start} + {points}");
                        assert_eq!(
                            i128::from(l.balance),
                            i128::from(start) + i128::from(points),
                            "exact"
                        );
                    }
                    Err(LedgerError::OutOfRange) => {
                        assert!(
                            points < 0
                                || i128::from(start) + i128::from(points) > i128::from(i64::MAX)
                        );
                        assert_eq!(l, before, "a refused credit changes nothing");
                    }
                    Err(other) => panic!("{other:?}"),
                }
                assert!(l.is_consistent(), "{l:?}");

                let mut l = before.clone();
                match l.debit(points) {
                    Ok(()) => {
                        assert!((0..=start).contains(&points), "{start} - {points}");
                        assert_eq!(l.balance, start - points);
                    }
                    Err(LedgerError::OutOfRange) => {
                        assert!(points < 0);
                        assert_eq!(l, before);
                    }
                    Err(LedgerError::Insufficient { balance, requested }) => {
                        assert_eq!((balance, requested), (start, points));
                        assert!(points > start);
                        assert_eq!(l, before);
                    }
                }
                assert!(l.is_consistent(), "{l:?}");
            }
        }
    }

    #[test]
    fn all_time_totals_cannot_wrap() {
        // Credit and spend the maximum twice: `credited` and `debited` would pass i64::MAX.
        let mut l = Ledger::default();
        l.credit("2026-01-01", i64::MAX).unwrap();
        l.debit(i64::MAX).unwrap();
        assert_eq!(
            l.credit("2026-01-02", 1),
            Err(LedgerError::OutOfRange),
            "credited would wrap"
        );
        assert_eq!((l.balance, l.credited), (0, i64::MAX));
        assert!(l.is_consistent());
    }

    #[test]
    fn arithmetic_helpers_at_the_extremes() {
        for amount in EXTREMES {
            for bp in [0, 1, 500, 10_000, u32::MAX] {
                for rounding in [Rounding::Floor, Rounding::Ceil, Rounding::Nearest] {
                    let exact = i128::from(amount) * i128::from(bp);
                    match cashback_points(amount, bp, rounding) {
                        Some(points) => {
                            let diff = i128::from(points) * 10_000 - exact;
                            assert!(diff.abs() < 10_000, "{amount} at {bp}: {points}");
                        }
                        None => assert!((exact / 10_000).abs() >= i128::from(i64::MAX) - 1),
                    }
                }
            }
            for percent in [0, 50, 100, u32::MAX] {
                let cap = max_redeemable(amount, percent);
                assert!(i128::from(cap).abs() <= i128::from(amount).abs());
            }
            for whole in EXTREMES {
                for part in EXTREMES {
                    if let Some(s) = share(amount, part, whole) {
                        if (0..=whole).contains(&part) && amount >= 0 {
                            assert!((0..=amount).contains(&s), "{amount} {part}/{whole}");
                        }
                    }
                }
                // Within the whole, a share always fits.
                if whole > 0 {
                    assert!(share(amount, whole, whole).is_some());
                    assert!(share(amount, 0, whole).is_some());
                }
            }
            assert!(nps_score(amount, amount, amount.saturating_neg()).is_none_or(f64::is_finite));
        }
        assert!(nps_score(1, i64::MAX, i64::MIN).is_some_and(f64::is_finite));
    }
}
