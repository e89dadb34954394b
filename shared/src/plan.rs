//! Write plans: what a domain rule wants written, as plain values with no AWS types.
//!
//! Domain code decides ("put this record if absent", "add 5 to `balance` if `revision`
//! is still 7") and returns a [`WritePlan`]; the DynamoDB adapter (`crate::dynamo`)
//! turns it into one `TransactWriteItems` (or a single write) and maps a cancelled
//! condition back to the step's own `on_fail` answer. Rules are therefore unit-tested
//! without an emulator, and the adapter is contract-tested once against moto.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

/// A table key: `(PK, SK)`.
pub type Key = (String, String);

/// An attribute value in a plan. Records written whole are serialised with serde instead.
#[derive(Clone, Debug, PartialEq)]
pub enum Val {
    S(String),
    N(i64),
    Bool(bool),
    /// A list of strings (`L` of `S`).
    List(Vec<String>),
    /// A string set (`SS`); `ADD` unions it, `DELETE` removes from it.
    StrSet(Vec<String>),
    /// A map of numbers (`M` of `N`), written whole (e.g. loyalty's points per credit day).
    NumMap(BTreeMap<String, i64>),
}

impl From<&str> for Val {
    fn from(v: &str) -> Self {
        Val::S(v.to_owned())
    }
}

impl From<String> for Val {
    fn from(v: String) -> Self {
        Val::S(v)
    }
}

impl From<&String> for Val {
    fn from(v: &String) -> Self {
        Val::S(v.clone())
    }
}

impl From<i64> for Val {
    fn from(v: i64) -> Self {
        Val::N(v)
    }
}

impl From<u32> for Val {
    fn from(v: u32) -> Self {
        Val::N(i64::from(v))
    }
}

impl From<bool> for Val {
    fn from(v: bool) -> Self {
        Val::Bool(v)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CmpOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

/// A condition on the item a step writes.
#[derive(Clone, Debug, PartialEq)]
pub enum Cond {
    Exists(String),
    Absent(String),
    Cmp(String, CmpOp, Val),
    BeginsWith(String, String),
    And(Vec<Cond>),
    Or(Vec<Cond>),
    Not(Box<Cond>),
}

impl Cond {
    /// No item has this key yet.
    pub fn item_absent() -> Self {
        Cond::Absent("PK".into())
    }

    /// An item has this key.
    pub fn item_exists() -> Self {
        Cond::Exists("PK".into())
    }

    pub fn exists(attr: &str) -> Self {
        Cond::Exists(attr.into())
    }

    pub fn absent(attr: &str) -> Self {
        Cond::Absent(attr.into())
    }

    pub fn eq(attr: &str, v: impl Into<Val>) -> Self {
        Cond::Cmp(attr.into(), CmpOp::Eq, v.into())
    }

    pub fn ne(attr: &str, v: impl Into<Val>) -> Self {
        Cond::Cmp(attr.into(), CmpOp::Ne, v.into())
    }

    pub fn lt(attr: &str, v: impl Into<Val>) -> Self {
        Cond::Cmp(attr.into(), CmpOp::Lt, v.into())
    }

    pub fn le(attr: &str, v: impl Into<Val>) -> Self {
        Cond::Cmp(attr.into(), CmpOp::Le, v.into())
    }

    pub fn gt(attr: &str, v: impl Into<Val>) -> Self {
        Cond::Cmp(attr.into(), CmpOp::Gt, v.into())
    }

    pub fn ge(attr: &str, v: impl Into<Val>) -> Self {
        Cond::Cmp(attr.into(), CmpOp::Ge, v.into())
    }

    pub fn and(self, other: Cond) -> Self {
        match self {
            Cond::And(mut all) => {
                all.push(other);
                Cond::And(all)
            }
            first => Cond::And(vec![first, other]),
        }
    }

    pub fn or(self, other: Cond) -> Self {
        match self {
            Cond::Or(mut any) => {
                any.push(other);
                Cond::Or(any)
            }
            first => Cond::Or(vec![first, other]),
        }
    }
}

impl std::ops::Not for Cond {
    type Output = Cond;

    fn not(self) -> Cond {
        Cond::Not(Box::new(self))
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum SetValue {
    Always(Val),
    /// `if_not_exists`: keeps a value written earlier.
    IfAbsent(Val),
}

/// An in-place change to one item. Attribute names are always placeholders in the
/// adapter, so reserved words (`name`, `status`, …) are safe.
#[derive(Clone, Debug, PartialEq)]
pub struct Update {
    pub key: Key,
    pub set: Vec<(String, SetValue)>,
    /// `ADD`: numbers are incremented, string sets unioned.
    pub add: Vec<(String, Val)>,
    /// `DELETE`: elements removed from a string set.
    pub delete: Vec<(String, Val)>,
    pub remove: Vec<String>,
    pub cond: Option<Cond>,
}

impl Update {
    pub fn new(key: Key) -> Self {
        Self {
            key,
            set: Vec::new(),
            add: Vec::new(),
            delete: Vec::new(),
            remove: Vec::new(),
            cond: None,
        }
    }

    pub fn set(mut self, attr: &str, v: impl Into<Val>) -> Self {
        self.set.push((attr.into(), SetValue::Always(v.into())));
        self
    }

    pub fn set_opt(self, attr: &str, v: Option<impl Into<Val>>) -> Self {
        match v {
            Some(v) => self.set(attr, v),
            None => self,
        }
    }

    pub fn set_if_absent(mut self, attr: &str, v: impl Into<Val>) -> Self {
        self.set.push((attr.into(), SetValue::IfAbsent(v.into())));
        self
    }

    /// Adds `delta` to a number (created at 0). A zero delta is dropped.
    pub fn add(mut self, attr: &str, delta: i64) -> Self {
        if delta != 0 {
            self.add.push((attr.into(), Val::N(delta)));
        }
        self
    }

    pub fn add_to_set(mut self, attr: &str, values: Vec<String>) -> Self {
        if !values.is_empty() {
            self.add.push((attr.into(), Val::StrSet(values)));
        }
        self
    }

    pub fn delete_from_set(mut self, attr: &str, values: Vec<String>) -> Self {
        if !values.is_empty() {
            self.delete.push((attr.into(), Val::StrSet(values)));
        }
        self
    }

    pub fn remove(mut self, attr: &str) -> Self {
        self.remove.push(attr.into());
        self
    }

    pub fn when(mut self, cond: Cond) -> Self {
        self.cond = Some(match self.cond.take() {
            Some(existing) => existing.and(cond),
            None => cond,
        });
        self
    }

    pub fn is_empty(&self) -> bool {
        self.set.is_empty()
            && self.add.is_empty()
            && self.delete.is_empty()
            && self.remove.is_empty()
    }
}

/// A whole record to write; serialised by the adapter with `serde_dynamo`, so the
/// record's own serde attributes (string sets, skipped fields) apply.
#[derive(Clone)]
pub struct Record(Arc<dyn erased_serde::Serialize + Send + Sync>);

impl Record {
    pub fn new<T: serde::Serialize + Send + Sync + 'static>(record: T) -> Self {
        Self(Arc::new(record))
    }

    pub fn as_serialize(&self) -> &(dyn erased_serde::Serialize + Send + Sync) {
        self.0.as_ref()
    }
}

impl fmt::Debug for Record {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Record(..)")
    }
}

#[derive(Clone, Debug)]
pub enum Op {
    Put {
        record: Record,
        cond: Option<Cond>,
    },
    Update(Update),
    Delete {
        key: Key,
        cond: Option<Cond>,
    },
    /// Writes nothing; the whole plan fails if `cond` does not hold.
    Check {
        key: Key,
        cond: Cond,
    },
}

/// One write and what a failed condition on it means for the caller.
#[derive(Clone, Debug)]
pub struct Step<F> {
    pub op: Op,
    /// `None`: the state moved under us; the caller reads again and re-plans.
    pub on_fail: Option<F>,
}

/// Writes that commit together or not at all.
#[derive(Clone, Debug)]
pub struct WritePlan<F> {
    pub steps: Vec<Step<F>>,
    /// Makes a retried transaction idempotent for 10 minutes (`ClientRequestToken`).
    pub token: Option<String>,
}

impl<F> Default for WritePlan<F> {
    fn default() -> Self {
        Self {
            steps: Vec::new(),
            token: None,
        }
    }
}

impl<F> WritePlan<F> {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn is_empty(&self) -> bool {
        self.steps.is_empty()
    }

    pub fn len(&self) -> usize {
        self.steps.len()
    }

    /// Adds a step whose failed condition means "re-read and re-plan".
    pub fn push(&mut self, op: Op) -> &mut Self {
        self.steps.push(Step { op, on_fail: None });
        self
    }

    /// Adds a step whose failed condition is a definite answer.
    pub fn push_or(&mut self, op: Op, on_fail: F) -> &mut Self {
        self.steps.push(Step {
            op,
            on_fail: Some(on_fail),
        });
        self
    }

    pub fn put<T: serde::Serialize + Send + Sync + 'static>(
        &mut self,
        record: T,
        cond: Option<Cond>,
    ) -> &mut Self {
        self.push(Op::Put {
            record: Record::new(record),
            cond,
        })
    }

    pub fn update(&mut self, update: Update) -> &mut Self {
        self.push(Op::Update(update))
    }

    pub fn extend(&mut self, other: WritePlan<F>) -> &mut Self {
        self.steps.extend(other.steps);
        self
    }
}

/// Why one step of a cancelled transaction failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CancelReason {
    /// The step was fine; another one failed.
    None,
    ConditionFailed,
    /// Another transaction touched the same item: retry.
    Conflict,
    /// Throttled or similar: retry later.
    Throttled,
    /// The request itself is invalid for the store (too large, bad key): do not retry.
    Invalid(String),
    Other(String),
}

/// The outcome of a plan that did not commit.
#[derive(Debug)]
pub enum PlanError<F> {
    /// A step with an `on_fail` answer failed its condition.
    Rejected(F),
    /// A step without one failed, or the transaction conflicted: re-read and re-plan.
    Stale(Vec<CancelReason>),
    Store(crate::ports::StoreError),
}

/// Sums of counter deltas by attribute, e.g. `{"orders_paid": 1, "revenue_minor": 4500}`.
pub type Counters = BTreeMap<String, i64>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conditions_compose() {
        let c = Cond::eq("revision", 7i64).and(Cond::absent("closed_ms"));
        assert_eq!(
            c,
            Cond::And(vec![
                Cond::Cmp("revision".into(), CmpOp::Eq, Val::N(7)),
                Cond::Absent("closed_ms".into())
            ])
        );
        let u = Update::new(("p".into(), "s".into()))
            .add("n", 0)
            .when(Cond::item_exists())
            .when(Cond::gt("n", 1i64));
        assert!(u.add.is_empty(), "a zero delta is dropped");
        assert!(matches!(u.cond, Some(Cond::And(ref all)) if all.len() == 2));
    }
}
