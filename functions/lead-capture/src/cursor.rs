//! Opaque pagination cursors for listing leads by stage.
//!
//! A cursor carries only the last lead's position in its stage (`GSI1SK` and contact).
//! The store rebuilds every key from the authenticated tenant, so a forged cursor can
//! at most skip within the caller's own stage listing, never reach another tenant.

use crate::validate::valid_contact_id;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use sauda_shared::funnel::Stage;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize)]
struct Position {
    /// Stage the cursor belongs to.
    s: Stage,
    /// `GSI1SK` of the last lead returned: `{updated_ms:013}#{contact}`.
    k: String,
}

pub fn encode(stage: Stage, gsi1sk: &str) -> String {
    let json = serde_json::to_vec(&Position {
        s: stage,
        k: gsi1sk.to_owned(),
    })
    .expect("a position always serialises");
    URL_SAFE_NO_PAD.encode(json)
}

/// `(GSI1SK, contact)` to resume after, if the cursor is well-formed and for `stage`.
pub fn decode(raw: &str, stage: Stage) -> Option<(String, String)> {
    if raw.len() > 400 {
        return None;
    }
    let bytes = URL_SAFE_NO_PAD.decode(raw).ok()?;
    let position: Position = serde_json::from_slice(&bytes).ok()?;
    if position.s != stage {
        return None;
    }
    let (ms, contact) = position.k.split_once('#')?;
    let ms_ok = ms.len() == 13 && ms.bytes().all(|b| b.is_ascii_digit());
    (ms_ok && valid_contact_id(contact)).then(|| (position.k.clone(), contact.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_rejects_tampering() {
        let c = encode(Stage::Offer, "1795552200000#tg-42");
        assert_eq!(
            decode(&c, Stage::Offer),
            Some(("1795552200000#tg-42".into(), "tg-42".into()))
        );
        assert_eq!(decode(&c, Stage::New), None, "bound to its stage");
        assert_eq!(decode("not base64!", Stage::Offer), None);
        let forged = URL_SAFE_NO_PAD.encode(br#"{"s":"offer","k":"1795552200000#tg-1#T#other"}"#);
        assert_eq!(decode(&forged, Stage::Offer), None);
        let short = URL_SAFE_NO_PAD.encode(br#"{"s":"offer","k":"17#tg-1"}"#);
        assert_eq!(decode(&short, Stage::Offer), None);
    }
}
