//! Texts several capabilities share.

use super::Text;

pub const DEPENDENCY_BUSY: Text = Text {
    key: "common.try_again_later",
    ru: "Сейчас не получается ответить. Пожалуйста, напишите чуть позже.",
    en: "We can't answer right now. Please write again a little later.",
    kk: "Қазір жауап бере алмаймыз. Сәл кейінірек жазыңызшы.",
    ky: "Азыр жооп бере албай жатабыз. Бир аздан кийин жазыңызчы.",
};

pub const ALL: &[&Text] = &[&DEPENDENCY_BUSY];
