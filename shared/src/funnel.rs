//! The sales funnel: stages and the one table of allowed transitions.

use serde::{Deserialize, Serialize};
use std::fmt;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    New,
    Qualification,
    Warming,
    Offer,
    Negotiation,
    Sale,
    Service,
    Feedback,
    RepeatSale,
    Lost,
}

impl Stage {
    /// The funnel in order; `Lost` is outside it.
    pub const FUNNEL: [Stage; 9] = [
        Stage::New,
        Stage::Qualification,
        Stage::Warming,
        Stage::Offer,
        Stage::Negotiation,
        Stage::Sale,
        Stage::Service,
        Stage::Feedback,
        Stage::RepeatSale,
    ];

    pub const ALL: [Stage; 10] = [
        Stage::New,
        Stage::Qualification,
        Stage::Warming,
        Stage::Offer,
        Stage::Negotiation,
        Stage::Sale,
        Stage::Service,
        Stage::Feedback,
        Stage::RepeatSale,
        Stage::Lost,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Stage::New => "new",
            Stage::Qualification => "qualification",
            Stage::Warming => "warming",
            Stage::Offer => "offer",
            Stage::Negotiation => "negotiation",
            Stage::Sale => "sale",
            Stage::Service => "service",
            Stage::Feedback => "feedback",
            Stage::RepeatSale => "repeat_sale",
            Stage::Lost => "lost",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == raw)
    }

    fn position(self) -> Option<usize> {
        Self::FUNNEL.iter().position(|s| *s == self)
    }

    /// Won deals: a lead that reached `sale` counts as won once.
    pub fn is_won(self) -> bool {
        self.position() >= Stage::Sale.position()
    }

    /// Allowed moves, in one place:
    /// - forward by any number of stages (a manager may skip ahead);
    /// - back by exactly one stage, to correct a mistake, but never back out of a sale;
    /// - to `lost` from any stage before `sale`;
    /// - from `lost` back to `qualification` (the customer came back);
    /// - from `repeat_sale` to `offer` (a new buying cycle).
    pub fn can_move_to(self, to: Stage) -> bool {
        if self == to {
            return false;
        }
        match (self, to) {
            (Stage::Lost, Stage::Qualification) => true,
            (Stage::Lost, _) => false,
            (from, Stage::Lost) => !from.is_won(),
            (Stage::RepeatSale, Stage::Offer) => true,
            (from, to) => {
                let (Some(a), Some(b)) = (from.position(), to.position()) else {
                    return false;
                };
                // One step back is a correction, but a won lead stays won.
                b > a || (a == b + 1 && (to.is_won() || !from.is_won()))
            }
        }
    }
}

impl Stage {
    /// Every stage this one may move to, in funnel order (for error messages and UIs).
    pub fn next_stages(self) -> Vec<Stage> {
        Self::ALL
            .into_iter()
            .filter(|to| self.can_move_to(*to))
            .collect()
    }
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for stage in Stage::ALL {
            assert_eq!(Stage::parse(stage.as_str()), Some(stage));
            assert_eq!(
                serde_json::to_value(stage).unwrap(),
                serde_json::json!(stage.as_str())
            );
        }
        assert_eq!(Stage::parse("won"), None);
    }

    #[test]
    fn transition_table() {
        use Stage::*;
        assert!(New.can_move_to(Qualification));
        assert!(New.can_move_to(Offer), "skipping ahead");
        assert!(Offer.can_move_to(Warming), "one step back");
        assert!(!Offer.can_move_to(New), "two steps back");
        assert!(Negotiation.can_move_to(Lost));
        assert!(!Sale.can_move_to(Lost), "a sale is not lost");
        assert!(!Sale.can_move_to(Negotiation), "never back out of a sale");
        assert!(Sale.can_move_to(Service));
        assert!(Service.can_move_to(Sale), "back one within the won part");
        assert!(Lost.can_move_to(Qualification));
        assert!(!Lost.can_move_to(Sale));
        assert!(RepeatSale.can_move_to(Offer));
        assert!(!New.can_move_to(New));
    }

    #[test]
    fn next_stages_follow_the_table() {
        use Stage::*;
        assert_eq!(
            New.next_stages(),
            [
                Qualification,
                Warming,
                Offer,
                Negotiation,
                Sale,
                Service,
                Feedback,
                RepeatSale,
                Lost
            ]
        );
        assert_eq!(Lost.next_stages(), [Qualification]);
        assert_eq!(Sale.next_stages(), [Service, Feedback, RepeatSale]);
        assert_eq!(RepeatSale.next_stages(), [Offer, Feedback]);
        for from in Stage::ALL {
            for to in from.next_stages() {
                assert!(from.can_move_to(to));
            }
        }
    }
}
