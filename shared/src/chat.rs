//! The deterministic side of a chat with the bot: commands (`/start ref-CODE`,
//! `/balance`, ...), deep-link payloads, and button data signed for one tenant and one
//! chat, so that a stale, forged or foreign button changes nothing.
//!
//! A button's data is `s1|{action}|{arg}|{tag}` (at most 64 bytes, Telegram's limit for
//! `callback_data`; WhatsApp reply ids allow 256): the tag is a keyed MAC
//! (`crate::signing`) over the tenant, the chat's contact id, the action and the argument.
//! The same text arrives from a Telegram `callback_query` and from a WhatsApp
//! `button_reply` / `list_reply`, so one parser serves both channels.

use crate::i18n::Lang;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

/// Telegram's limit for `callback_data`.
pub const MAX_BUTTON_DATA: usize = 64;
const PREFIX: &str = "s1|";
const LABEL: &str = "chat-button";
/// Bytes of MAC kept in the data (64 bits: forging one takes 2^63 tries per chat).
const TAG_BYTES: usize = 8;

/// What a command or a button asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    /// `/start` with its deep-link payload, if any.
    Start(Option<DeepLink>),
    Balance,
    /// My referral link (and its QR code).
    Referral,
    Help,
    /// `/language` alone shows the choice; with a code it sets it.
    Language(Option<Lang>),
    /// Contact a manager (the handoff).
    Manager,
    Orders,
    /// Link my phone (shows the "share my phone" button).
    Phone,
}

/// A `/start` payload (`t.me/{bot}?start=...`, at most 64 characters of `[A-Za-z0-9_-]`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DeepLink {
    Referral(String),
    Product(String),
    Order(String),
    /// A payload Sauda does not know: a plain `/start`.
    Other(String),
}

impl DeepLink {
    pub fn parse(payload: &str) -> Option<Self> {
        let payload = payload.trim();
        if payload.is_empty() {
            return None;
        }
        let valid = |s: &str| {
            !s.is_empty()
                && s.len() <= 64
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        };
        Some(
            // A malformed code is still a referral link: the join says it is unknown.
            if let Some(code) = payload.strip_prefix("ref-") {
                DeepLink::Referral(code.chars().take(64).collect())
            } else if let Some(sku) = payload.strip_prefix("p-").filter(|s| valid(s)) {
                DeepLink::Product(sku.to_owned())
            } else if let Some(id) = payload.strip_prefix("o-").filter(|s| valid(s)) {
                DeepLink::Order(id.to_owned())
            } else {
                DeepLink::Other(payload.chars().take(64).collect())
            },
        )
    }
}

/// A slash command as typed (`/balance`, `/start ref-ABC`, `/help@shop_bot`). A command
/// addressed to another bot (`/help@other_bot`) is not ours.
pub fn parse_command(text: &str, bot_username: Option<&str>) -> Option<Command> {
    let text = text.trim();
    let rest = text.strip_prefix('/')?;
    let (head, args) = match rest.split_once(char::is_whitespace) {
        Some((head, args)) => (head, args.trim()),
        None => (rest, ""),
    };
    let (name, addressee) = match head.split_once('@') {
        Some((name, bot)) => (name, Some(bot)),
        None => (head, None),
    };
    if let (Some(to), Some(ours)) = (addressee, bot_username) {
        if !to.eq_ignore_ascii_case(ours.trim_start_matches('@')) {
            return None;
        }
    }
    command_named(&name.to_ascii_lowercase(), args)
}

fn command_named(name: &str, args: &str) -> Option<Command> {
    Some(match name {
        "start" => Command::Start(DeepLink::parse(args)),
        "balance" | "bal" => Command::Balance,
        "referral" | "ref" | "invite" => Command::Referral,
        "help" | "menu" => Command::Help,
        "language" | "lang" => Command::Language(Lang::parse(args)),
        "manager" | "operator" => Command::Manager,
        "orders" => Command::Orders,
        "phone" => Command::Phone,
        _ => return None,
    })
}

/// A button's action: a [`Command`] or one of the steps of a multi-step flow.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pressed {
    pub action: String,
    pub arg: String,
}

impl Pressed {
    /// The command a menu button stands for.
    pub fn command(&self) -> Option<Command> {
        let lang = if self.action == "lang" {
            Lang::parse(&self.arg)
        } else {
            None
        };
        match self.action.as_str() {
            "lang" => Some(Command::Language(lang)),
            other => command_named(other, &self.arg),
        }
    }
}

/// Why button data was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ButtonError {
    /// Not button data at all (typed text).
    NotButton,
    /// Button data whose tag does not match this tenant and chat: stale, forged or
    /// someone else's.
    Forged,
}

fn tag(tenant: &str, contact: &str, action: &str, arg: &str) -> String {
    let mac = crate::signing::mac(
        LABEL,
        &[
            tenant.as_bytes(),
            contact.as_bytes(),
            action.as_bytes(),
            arg.as_bytes(),
        ],
    );
    URL_SAFE_NO_PAD.encode(&mac[..TAG_BYTES])
}

/// The data of a button for this tenant's chat `contact`; `None` when it would exceed
/// [`MAX_BUTTON_DATA`] or the action or argument contains `|`.
pub fn button_data(tenant: &str, contact: &str, action: &str, arg: &str) -> Option<String> {
    if action.is_empty() || action.contains('|') || arg.contains('|') {
        return None;
    }
    let data = format!(
        "{PREFIX}{action}|{arg}|{}",
        tag(tenant, contact, action, arg)
    );
    (data.len() <= MAX_BUTTON_DATA).then_some(data)
}

/// Whether `text` looks like button data (whatever its tag).
pub fn is_button_data(text: &str) -> bool {
    text.starts_with(PREFIX)
}

/// The action of button data pressed in this tenant's chat `contact`.
pub fn verify_button(tenant: &str, contact: &str, data: &str) -> Result<Pressed, ButtonError> {
    let rest = data.strip_prefix(PREFIX).ok_or(ButtonError::NotButton)?;
    let mut parts = rest.splitn(3, '|');
    let (Some(action), Some(arg), Some(presented)) = (parts.next(), parts.next(), parts.next())
    else {
        return Err(ButtonError::Forged);
    };
    let Ok(presented) = URL_SAFE_NO_PAD.decode(presented) else {
        return Err(ButtonError::Forged);
    };
    if presented.len() != TAG_BYTES
        || !crate::signing::verify(
            LABEL,
            &[
                tenant.as_bytes(),
                contact.as_bytes(),
                action.as_bytes(),
                arg.as_bytes(),
            ],
            &presented,
        )
    {
        return Err(ButtonError::Forged);
    }
    Ok(Pressed {
        action: action.to_owned(),
        arg: arg.to_owned(),
    })
}

/// Whether a group message is addressed to the bot: a command, a mention of its
/// username, or a reply to one of its messages.
pub fn addressed_in_group(text: &str, bot_username: Option<&str>, replies_to_bot: bool) -> bool {
    if replies_to_bot {
        return true;
    }
    let text = text.trim();
    if let Some(rest) = text.strip_prefix('/') {
        // `/cmd@other_bot` is for another bot; a bare `/cmd` is for every bot.
        let head = rest.split(char::is_whitespace).next().unwrap_or_default();
        return match (head.split_once('@'), bot_username) {
            (Some((_, to)), Some(ours)) => to.eq_ignore_ascii_case(ours.trim_start_matches('@')),
            (Some(_), None) => false,
            (None, _) => true,
        };
    }
    bot_username.is_some_and(|bot| {
        let mention = format!("@{}", bot.trim_start_matches('@')).to_lowercase();
        text.to_lowercase().contains(&mention)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_and_deep_links() {
        assert_eq!(
            parse_command("/start ref-AB12cd", Some("shop_bot")),
            Some(Command::Start(Some(DeepLink::Referral("AB12cd".into()))))
        );
        assert_eq!(
            parse_command("/start p-GR-CR10", None),
            Some(Command::Start(Some(DeepLink::Product("GR-CR10".into()))))
        );
        assert_eq!(
            parse_command("/start o-01J", None),
            Some(Command::Start(Some(DeepLink::Order("01J".into()))))
        );
        assert_eq!(parse_command("/start", None), Some(Command::Start(None)));
        assert_eq!(
            parse_command("/start ref-", None),
            Some(Command::Start(Some(DeepLink::Referral(String::new()))))
        );
        assert_eq!(
            parse_command("/balance@Shop_Bot", Some("@shop_bot")),
            Some(Command::Balance)
        );
        assert_eq!(parse_command("/balance@other_bot", Some("shop_bot")), None);
        assert_eq!(
            parse_command("/lang kk", None),
            Some(Command::Language(Some(Lang::Kk)))
        );
        assert_eq!(parse_command("/lang", None), Some(Command::Language(None)));
        assert_eq!(parse_command("/unknown", None), None);
        assert_eq!(parse_command("balance", None), None);
        assert_eq!(parse_command("", None), None);
    }

    #[test]
    fn button_data_is_bound_to_tenant_and_chat() {
        let data = button_data("acme", "tg-1", "lang", "kk").unwrap();
        assert!(data.len() <= MAX_BUTTON_DATA);
        assert!(is_button_data(&data));
        let pressed = verify_button("acme", "tg-1", &data).unwrap();
        assert_eq!(pressed.command(), Some(Command::Language(Some(Lang::Kk))));
        assert_eq!(
            verify_button("other", "tg-1", &data),
            Err(ButtonError::Forged)
        );
        assert_eq!(
            verify_button("acme", "tg-2", &data),
            Err(ButtonError::Forged)
        );
        let tampered = data.replace("|kk|", "|en|");
        assert_eq!(
            verify_button("acme", "tg-1", &tampered),
            Err(ButtonError::Forged)
        );
        assert_eq!(
            verify_button("acme", "tg-1", "s1|balance||"),
            Err(ButtonError::Forged)
        );
        assert_eq!(
            verify_button("acme", "tg-1", "s1|x"),
            Err(ButtonError::Forged)
        );
        assert_eq!(
            verify_button("acme", "tg-1", "hello"),
            Err(ButtonError::NotButton)
        );
        assert!(button_data("acme", "tg-1", "a|b", "").is_none());
        assert!(button_data("acme", "tg-1", "x", &"y".repeat(60)).is_none());
    }

    #[test]
    fn groups_answer_only_when_addressed() {
        let bot = Some("shop_bot");
        assert!(addressed_in_group("/help", bot, false));
        assert!(addressed_in_group("/help@shop_bot", bot, false));
        assert!(!addressed_in_group("/help@other_bot", bot, false));
        assert!(addressed_in_group("@Shop_Bot есть насосы?", bot, false));
        assert!(addressed_in_group("спасибо", bot, true));
        assert!(!addressed_in_group("всем привет", bot, false));
        assert!(!addressed_in_group("всем привет", None, false));
    }
}
