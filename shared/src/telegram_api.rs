//! Telegram Bot API client for outbound messages, with `frankenstein`'s request and
//! response types. The base URL comes from config, so tests and the local stack point
//! it at a fake server and production code paths stay the same.

use crate::outbox::Button;
use crate::secrets::Secret;
use frankenstein::input_file::FileUpload;
use frankenstein::methods::{GetFileParams, SendMessageParams, SendPhotoParams};
use frankenstein::response::{ErrorResponse, MethodResponse};
use frankenstein::types::{
    File, InlineKeyboardButton, InlineKeyboardMarkup, KeyboardButton, LinkPreviewOptions, Message,
    ReplyKeyboardMarkup, ReplyMarkup, ReplyParameters,
};
use frankenstein::ParseMode;
use std::time::Duration;

/// Telegram's limit for one message, counted in UTF-16 code units.
pub const MAX_MESSAGE_UNITS: usize = 4096;
/// Telegram's limit for a photo's caption.
pub const MAX_CAPTION_CHARS: usize = 1024;
/// The most of a Bot API answer read (a `sendMessage` answer is a few KB).
pub const MAX_RESPONSE_BYTES: usize = 1024 * 1024;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TelegramError {
    /// 429: wait this long before the next request to this chat.
    #[error("rate limited by Telegram; retry after {0:?}")]
    RetryAfter(Duration),
    /// A refusal that retrying cannot fix: bot blocked, chat not found, bad request.
    #[error("Telegram refused the request ({code}): {description}")]
    Rejected { code: u16, description: String },
    /// Network failure or a 5xx: retry later.
    #[error("Telegram unavailable: {0}")]
    Unavailable(String),
}

impl TelegramError {
    pub fn is_permanent(&self) -> bool {
        matches!(self, TelegramError::Rejected { .. })
    }
}

/// A failed multi-part send: which parts went out before the failure.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{error} (after {} of the parts were sent)", sent.len())]
pub struct PartialSend {
    pub sent: Vec<i32>,
    pub error: TelegramError,
}

#[derive(Clone, Debug)]
pub struct TelegramApi {
    http: reqwest::Client,
    base_url: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Plain,
    Html,
}

impl TelegramApi {
    pub fn new(base_url: impl Into<String>) -> Self {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(3))
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap_or_default();
        Self::with_client(http, base_url)
    }

    pub fn with_client(http: reqwest::Client, base_url: impl Into<String>) -> Self {
        Self {
            http,
            base_url: base_url.into().trim_end_matches('/').to_owned(),
        }
    }

    /// Sends one message of at most [`MAX_MESSAGE_UNITS`]; returns Telegram's message id.
    pub async fn send_message(
        &self,
        token: &Secret,
        chat_id: &str,
        text: &str,
        format: Format,
    ) -> Result<i32, TelegramError> {
        self.send_message_with(token, chat_id, text, format, &Extras::default())
            .await
    }

    /// [`send_message`](Self::send_message) with buttons, a forum topic or a reply.
    pub async fn send_message_with(
        &self,
        token: &Secret,
        chat_id: &str,
        text: &str,
        format: Format,
        extras: &Extras,
    ) -> Result<i32, TelegramError> {
        let params = SendMessageParams::builder()
            .chat_id(chat_id_of(chat_id))
            .text(text)
            .maybe_parse_mode((format == Format::Html).then_some(ParseMode::Html))
            .link_preview_options(LinkPreviewOptions::builder().is_disabled(true).build())
            .maybe_message_thread_id(extras.thread_id)
            .maybe_reply_parameters(extras.reply_parameters())
            .maybe_reply_markup(extras.keyboard())
            .build();
        let sent: Message = self.call(token, "sendMessage", &params).await?;
        Ok(sent.message_id)
    }

    /// Sends a photo by URL (Telegram fetches it) or by the `file_id` of a photo this
    /// bot has seen, with an optional caption (at most 1,024 characters).
    pub async fn send_photo(
        &self,
        token: &Secret,
        chat_id: &str,
        photo: &str,
        caption: Option<&str>,
        extras: &Extras,
    ) -> Result<i32, TelegramError> {
        let params = SendPhotoParams::builder()
            .chat_id(chat_id_of(chat_id))
            .photo(FileUpload::String(photo.to_owned()))
            .maybe_caption(caption.map(str::to_owned))
            .maybe_message_thread_id(extras.thread_id)
            .maybe_reply_parameters(extras.reply_parameters())
            .maybe_reply_markup(extras.keyboard())
            .build();
        let sent: Message = self.call(token, "sendPhoto", &params).await?;
        Ok(sent.message_id)
    }

    /// Where a file this bot received can be downloaded (`getFile`).
    pub async fn file_path(&self, token: &Secret, file_id: &str) -> Result<String, TelegramError> {
        let params = GetFileParams::builder().file_id(file_id).build();
        let file: File = self.call(token, "getFile", &params).await?;
        file.file_path.ok_or_else(|| TelegramError::Rejected {
            code: 400,
            description: "the file is not available for download".into(),
        })
    }

    /// Downloads a file found by [`file_path`](Self::file_path), at most `max` bytes.
    pub async fn download(
        &self,
        token: &Secret,
        file_path: &str,
        max: usize,
    ) -> Result<bytes::Bytes, TelegramError> {
        let url = format!("{}/file/bot{}/{file_path}", self.base_url, token.expose());
        let response = self
            .http
            .get(url)
            .send()
            .await
            .map_err(|e| TelegramError::Unavailable(e.without_url().to_string()))?;
        let status = response.status();
        if status.is_server_error() {
            return Err(TelegramError::Unavailable(format!("HTTP {status}")));
        }
        if !status.is_success() {
            return Err(TelegramError::Rejected {
                code: status.as_u16(),
                description: format!("file download answered HTTP {status}"),
            });
        }
        crate::outbound::read_capped(response, max)
            .await
            .map_err(|e| TelegramError::Rejected {
                code: 413,
                description: e.to_string(),
            })
    }

    /// Calls any Bot API method (`sendInvoice`, `refundStarPayment`, …) and decodes its
    /// `result`, or the error sorted into retry-later (429 with `retry_after`, 5xx,
    /// network) and refused-for-good.
    pub async fn call<P: serde::Serialize + ?Sized, R: serde::de::DeserializeOwned>(
        &self,
        token: &Secret,
        method: &str,
        params: &P,
    ) -> Result<R, TelegramError> {
        let url = format!("{}/bot{}/{method}", self.base_url, token.expose());
        let response = self
            .http
            .post(url)
            .json(params)
            .send()
            .await
            // reqwest errors can carry the URL, and the URL carries the token.
            .map_err(|e| TelegramError::Unavailable(e.without_url().to_string()))?;
        let status = response.status();
        // Read under a cap; a read error never carries the URL (and so the token).
        let body = crate::outbound::read_capped(response, MAX_RESPONSE_BYTES)
            .await
            .map_err(|e| TelegramError::Unavailable(e.to_string()))?;
        if status.is_success() {
            let parsed: MethodResponse<R> = serde_json::from_slice(&body).map_err(|e| {
                TelegramError::Unavailable(format!("unexpected {method} answer: {e}"))
            })?;
            return Ok(parsed.result);
        }
        let error: Option<ErrorResponse> = serde_json::from_slice(&body).ok();
        let description = error
            .as_ref()
            .map(|e| e.description.clone())
            .unwrap_or_else(|| format!("HTTP {status}"));
        if status.as_u16() == 429 {
            let seconds = error
                .as_ref()
                .and_then(|e| e.parameters.as_ref())
                .and_then(|p| p.retry_after)
                .unwrap_or(1);
            return Err(TelegramError::RetryAfter(Duration::from_secs(u64::from(
                seconds.max(1),
            ))));
        }
        if status.is_server_error() {
            return Err(TelegramError::Unavailable(description));
        }
        Err(TelegramError::Rejected {
            code: status.as_u16(),
            description,
        })
    }

    /// Sends a text of any length as consecutive messages, in order. A 429 whose
    /// `retry_after` fits in `max_wait` (summed over the whole call) is waited out;
    /// a longer one is returned so the caller can retry later through its queue.
    pub async fn send_text(
        &self,
        token: &Secret,
        chat_id: &str,
        text: &str,
        format: Format,
        max_wait: Duration,
    ) -> Result<Vec<i32>, PartialSend> {
        self.send_text_with(token, chat_id, text, format, max_wait, &Extras::default())
            .await
    }

    /// [`send_text`](Self::send_text) with extras: the reply goes on the first part,
    /// the buttons under the last, every part in the same forum topic.
    pub async fn send_text_with(
        &self,
        token: &Secret,
        chat_id: &str,
        text: &str,
        format: Format,
        max_wait: Duration,
        extras: &Extras,
    ) -> Result<Vec<i32>, PartialSend> {
        let mut sent = Vec::new();
        let mut waited = Duration::ZERO;
        let parts = split_message(text, MAX_MESSAGE_UNITS);
        let last = parts.len() - 1;
        for (i, part) in parts.iter().enumerate() {
            let extras = Extras {
                thread_id: extras.thread_id,
                reply_to_message_id: extras.reply_to_message_id.filter(|_| i == 0),
                buttons: if i == last {
                    extras.buttons.clone()
                } else {
                    Vec::new()
                },
            };
            loop {
                match self
                    .send_message_with(token, chat_id, part, format, &extras)
                    .await
                {
                    Ok(id) => {
                        sent.push(id);
                        break;
                    }
                    Err(TelegramError::RetryAfter(wait)) if waited + wait <= max_wait => {
                        waited += wait;
                        tokio::time::sleep(wait).await;
                    }
                    Err(error) => return Err(PartialSend { sent, error }),
                }
            }
        }
        Ok(sent)
    }
}

/// What a message carries besides its text.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Extras {
    /// Inline keyboard, one button per row.
    pub buttons: Vec<Button>,
    /// Forum topic (`message_thread_id`).
    pub thread_id: Option<i32>,
    /// Shown as a reply to this message of the same chat.
    pub reply_to_message_id: Option<i32>,
}

impl Extras {
    fn reply_parameters(&self) -> Option<ReplyParameters> {
        self.reply_to_message_id.map(|id| {
            ReplyParameters::builder()
                .message_id(id)
                .allow_sending_without_reply(true)
                .build()
        })
    }

    fn keyboard(&self) -> Option<ReplyMarkup> {
        if self.buttons.is_empty() {
            return None;
        }
        // Sharing a phone needs a reply keyboard (inline buttons cannot request a contact);
        // it shows once and hides after the tap.
        if self.buttons.iter().any(|b| b.request_contact) {
            let rows = self
                .buttons
                .iter()
                .map(|b| {
                    vec![KeyboardButton::builder()
                        .text(b.title.clone())
                        .maybe_request_contact(b.request_contact.then_some(true))
                        .build()]
                })
                .collect();
            return Some(ReplyMarkup::ReplyKeyboardMarkup(
                ReplyKeyboardMarkup::builder()
                    .keyboard(rows)
                    .resize_keyboard(true)
                    .one_time_keyboard(true)
                    .build(),
            ));
        }
        let rows = self
            .buttons
            .iter()
            .map(|b| {
                vec![InlineKeyboardButton::builder()
                    .text(b.title.clone())
                    .maybe_url(b.url.clone())
                    .maybe_callback_data(if b.url.is_some() {
                        None
                    } else {
                        b.data.clone()
                    })
                    .build()]
            })
            .collect();
        Some(ReplyMarkup::InlineKeyboardMarkup(
            InlineKeyboardMarkup::builder()
                .inline_keyboard(rows)
                .build(),
        ))
    }
}

/// A numeric chat id as a number, anything else (`@channel`) as a string.
pub fn chat_id_of(chat_id: &str) -> frankenstein::types::ChatId {
    match chat_id.parse::<i64>() {
        Ok(id) => id.into(),
        Err(_) => chat_id.to_owned().into(),
    }
}

fn utf16_len(s: &str) -> usize {
    s.chars().map(char::len_utf16).sum()
}

/// Splits a text into parts of at most `limit` UTF-16 units, preferring to break after a
/// paragraph, then a line, then a sentence, then a space; never inside a character.
pub fn split_message(text: &str, limit: usize) -> Vec<String> {
    let limit = limit.max(1);
    let mut parts = Vec::new();
    let mut rest = text.trim();
    while utf16_len(rest) > limit {
        // The longest prefix within the limit, on a char boundary.
        let mut units = 0;
        let mut hard_end = 0;
        for (i, c) in rest.char_indices() {
            if units + c.len_utf16() > limit {
                break;
            }
            units += c.len_utf16();
            hard_end = i + c.len_utf8();
        }
        let window = &rest[..hard_end];
        let min_useful = hard_end / 2;
        let cut = ["\n\n", "\n", ". ", "! ", "? ", " "]
            .iter()
            .filter_map(|sep| window.rfind(sep).map(|i| i + sep.len()))
            .find(|&i| i > min_useful)
            .unwrap_or(hard_end);
        parts.push(rest[..cut].trim_end().to_owned());
        rest = rest[cut..].trim_start();
    }
    if !rest.is_empty() || parts.is_empty() {
        parts.push(rest.to_owned());
    }
    parts
}

/// Escapes text for `parse_mode=HTML`.
pub fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            _ => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_text_is_one_part() {
        assert_eq!(split_message("hello", 4096), vec!["hello"]);
        assert_eq!(split_message("", 4096), vec![""]);
    }

    #[test]
    fn long_text_splits_on_boundaries_within_the_limit() {
        let sentence = "Насос Grundfos CR 10 есть в наличии. ";
        let text = sentence.repeat(300);
        let parts = split_message(&text, 4096);
        assert!(parts.len() >= 3, "{}", parts.len());
        for part in &parts {
            assert!(utf16_len(part) <= 4096);
            assert!(
                part.ends_with('.'),
                "breaks after a sentence: {:?}",
                &part[part.len() - 10..]
            );
        }
        assert_eq!(
            parts.join(" ").split_whitespace().count(),
            text.split_whitespace().count(),
            "nothing lost"
        );
    }

    #[test]
    fn counts_utf16_units_and_never_splits_a_character() {
        // Each emoji is 2 UTF-16 units: 3000 of them need two messages.
        let text = "😀".repeat(3000);
        let parts = split_message(&text, 4096);
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[0].chars().count(), 2048);
        assert_eq!(parts.concat(), text);
    }

    #[test]
    fn escapes_html() {
        assert_eq!(escape_html("<b>&\"x\""), "&lt;b&gt;&amp;&quot;x&quot;");
    }
}
