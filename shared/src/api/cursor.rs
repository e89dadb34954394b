//! Opaque page cursors: the position as JSON, signed with the deployment key over the
//! tenant and the route, so a cursor cannot be forged, edited, or replayed on another
//! tenant or another listing. Stores still rebuild every key from the authenticated
//! tenant; the signature only spares them from reading positions nobody was given.

use super::ApiError;
use crate::signing;
use crate::tenant::TenantId;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::de::DeserializeOwned;
use serde::Serialize;

const TAG_BYTES: usize = 16;
/// A cursor longer than this was not made here.
pub const MAX_CURSOR_LEN: usize = 1024;

/// `route` names the listing and its filters (e.g. `leads:offer`).
pub fn encode<T: Serialize>(tenant: &TenantId, route: &str, position: &T) -> String {
    let json = serde_json::to_vec(position).expect("a position always serialises");
    let tag = signing::mac(
        "cursor",
        &[tenant.as_str().as_bytes(), route.as_bytes(), &json],
    );
    format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(&json),
        URL_SAFE_NO_PAD.encode(&tag[..TAG_BYTES])
    )
}

pub fn invalid() -> ApiError {
    ApiError::bad_request(
        "invalid_cursor",
        "the cursor is not one this listing returned",
    )
}

/// The position in a cursor this listing returned, or 400 `invalid_cursor`.
pub fn decode<T: DeserializeOwned>(
    tenant: &TenantId,
    route: &str,
    raw: &str,
) -> Result<T, ApiError> {
    if raw.len() > MAX_CURSOR_LEN {
        return Err(invalid());
    }
    let (body, tag) = raw.split_once('.').ok_or_else(invalid)?;
    let json = URL_SAFE_NO_PAD.decode(body).map_err(|_| invalid())?;
    let tag = URL_SAFE_NO_PAD.decode(tag).map_err(|_| invalid())?;
    if tag.len() != TAG_BYTES
        || !signing::verify(
            "cursor",
            &[tenant.as_str().as_bytes(), route.as_bytes(), &json],
            &tag,
        )
    {
        return Err(invalid());
    }
    serde_json::from_slice(&json).map_err(|_| invalid())
}

/// The cursor of an optional query parameter (`None` or empty: the first page).
pub fn decode_opt<T: DeserializeOwned>(
    tenant: &TenantId,
    route: &str,
    raw: Option<&str>,
) -> Result<Option<T>, ApiError> {
    raw.filter(|c| !c.is_empty())
        .map(|c| decode(tenant, route, c))
        .transpose()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(id: &str) -> TenantId {
        TenantId::parse(id).unwrap()
    }

    #[test]
    fn round_trips_only_where_it_was_made() {
        let c = encode(&t("acme"), "leads:offer", &("1795552200000#tg-42", 3));
        let back: (String, i32) = decode(&t("acme"), "leads:offer", &c).unwrap();
        assert_eq!(back, ("1795552200000#tg-42".to_owned(), 3));
        for (tenant, route) in [("other", "leads:offer"), ("acme", "leads:new")] {
            let e = decode::<(String, i32)>(&t(tenant), route, &c).unwrap_err();
            assert_eq!(e.code, "invalid_cursor");
        }
    }

    #[test]
    fn edited_or_forged_cursors_are_refused() {
        let c = encode(&t("acme"), "r", &5);
        let (body, tag) = c.split_once('.').unwrap();
        let forged = format!("{}.{tag}", URL_SAFE_NO_PAD.encode(b"6"));
        assert!(decode::<i32>(&t("acme"), "r", &forged).is_err());
        assert!(decode::<i32>(&t("acme"), "r", body).is_err(), "no tag");
        assert!(decode::<i32>(&t("acme"), "r", "!!.??").is_err());
        assert!(decode::<i32>(&t("acme"), "r", &"a".repeat(2000)).is_err());
        assert_eq!(decode_opt::<i32>(&t("acme"), "r", Some("")).unwrap(), None);
    }
}
