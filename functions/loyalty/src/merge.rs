//! Linking a verified phone number to a chat: the chat's account absorbs the account the
//! till created for that number, in ONE atomic write plan, without losing a point.
//!
//! The chat's contact survives (the chat reads its account by contact id) and the phone
//! identity is repointed to it (the till finds the member by phone). The absorbed
//! account keeps its history: a `merge` entry takes its balance to 0 and the survivor
//! gets the same points in a `merge` entry, credited on their original days so that
//! expiry stays FIFO; both accounts therefore keep `balance = Σ ledger`. The absorbed
//! account is marked `merged_into`. Once the identity points at the chat, a repeat plans
//! nothing.

use crate::error::LoyaltyError;
use crate::model::*;
use crate::ops::{account_write, apply_ledger, push_entry, EntryDraft, Scope, Writes};
use crate::store::{LoyaltyStore, Plan, Planner};
use async_trait::async_trait;
use http::StatusCode;
use sauda_shared::dynamo::Reads;
use sauda_shared::i18n::loyalty as texts;
use sauda_shared::plan::Cond;
use serde_json::json;

/// Links `phone` (E.164, verified by the channel) to the chat of `contact`.
pub struct LinkPhone<'a> {
    pub scope: Scope<'a>,
    pub contact: &'a str,
    pub phone: &'a str,
}

#[async_trait]
impl Planner for LinkPhone<'_> {
    fn keys(&self) -> Vec<Key> {
        let t = self.scope.tenant;
        vec![
            account_key(t, self.contact),
            phone_identity_key(t, self.phone),
        ]
    }

    async fn plan(
        &self,
        store: &dyn LoyaltyStore,
        reads: &mut Reads,
        now_ms: i64,
    ) -> Result<Plan, LoyaltyError> {
        let (t, contact, phone) = (self.scope.tenant, self.contact, self.phone);
        let chat_key = account_key(t, contact);
        let chat: Option<Account> = reads.get(&chat_key)?;
        if chat.as_ref().is_some_and(|a| a.merged_into.is_some()) {
            // This chat's own account was absorbed into another member's earlier.
            return Err(LoyaltyError::PhoneTaken);
        }
        let identity_key = phone_identity_key(t, phone);
        let previous = reads
            .get::<PhoneIdentity>(&identity_key)?
            .map(|identity| identity.contact)
            .filter(|c| !c.is_empty());
        let answer = |merged_from: Option<&str>, moved: i64, balance: i64, changed: bool| {
            json!({
                "contact_id": contact,
                "phone_linked": true,
                "changed": changed,
                "merged_from": merged_from,
                "merged_points": moved,
                "balance": balance,
            })
        };
        if previous.as_deref() == Some(contact) {
            let balance = chat.as_ref().map_or(0, |a| a.balance);
            return Ok(Plan::answer(answer(None, 0, balance, false)));
        }

        let mut writes = Writes::new();
        // The identity moves only from the contact it was read with.
        let identity_cond = match &previous {
            Some(old) => Cond::eq("contact", old.as_str()),
            None => Cond::item_absent(),
        };
        writes.put(
            PhoneIdentity {
                pk: identity_key.0.clone(),
                sk: identity_key.1.clone(),
                contact: contact.to_owned(),
                kind: "phone".into(),
                value: phone.to_owned(),
                created_ms: now_ms,
            },
            Some(identity_cond),
        );

        let absorbed = match &previous {
            Some(old) => {
                let key = account_key(t, old);
                store.read_more(reads, std::slice::from_ref(&key)).await?;
                reads
                    .get::<Account>(&key)?
                    .filter(|a| a.merged_into.is_none())
            }
            None => None,
        };
        let Some(absorbed) = absorbed else {
            // Nothing to merge: the number only becomes this chat's.
            let balance = chat.as_ref().map_or(0, |a| a.balance);
            if chat.as_ref().is_some_and(|a| a.phone.is_none()) {
                writes.update(
                    sauda_shared::plan::Update::new(chat_key)
                        .set("phone", phone)
                        .when(Cond::item_exists()),
                );
            }
            return Ok(Plan::new(
                writes,
                StatusCode::OK,
                answer(None, 0, balance, true),
            ));
        };

        let moved = absorbed.balance;
        let outstanding = absorbed.ledger().outstanding();
        if outstanding
            .iter()
            .map(|(_, p)| i128::from(*p))
            .sum::<i128>()
            != i128::from(moved)
        {
            return Err(LoyaltyError::Internal(
                "the absorbed account fails the ledger audit".into(),
            ));
        }
        let reason = texts::REASON_MERGE.get(self.scope.lang()).to_owned();

        // The survivor: the chat's account, or a new one holding the absorbed points.
        let before = chat.clone().unwrap_or_else(|| Account {
            pk: chat_key.0.clone(),
            sk: chat_key.1.clone(),
            contact: contact.to_owned(),
            created_ms: now_ms,
            joined_partner: absorbed.joined_partner.clone(),
            ..Default::default()
        });
        let mut ledger = before.ledger();
        for (day, points) in &outstanding {
            ledger.credit(day, *points)?;
        }
        let mut survivor = before.clone();
        apply_ledger(t, &mut survivor, ledger, now_ms)?;
        survivor.purchases = survivor
            .purchases
            .checked_add(absorbed.purchases)
            .ok_or(LoyaltyError::PointsOverflow)?;
        survivor.last_active_ms = survivor.last_active_ms.max(absorbed.last_active_ms);
        survivor.phone = Some(phone.to_owned());
        if chat.is_some() {
            writes.update(account_write(&before, &survivor)?.set("phone", phone));
        } else {
            writes.put(survivor.clone(), Some(Cond::item_absent()));
        }

        let mut emptied = absorbed.ledger();
        emptied.debit(moved)?;
        let mut gone = absorbed.clone();
        apply_ledger(t, &mut gone, emptied, now_ms)?;
        writes.update(account_write(&absorbed, &gone)?.set("merged_into", contact));

        if moved > 0 {
            let entry = |points: i64, on: &Account, other: &str| {
                EntryDraft {
                    related_contact: Some(other),
                    ..EntryDraft::plain(EntryKind::Merge, points, reason.clone())
                }
                .build(t, on, now_ms)
            };
            push_entry(&mut writes, &entry(moved, &survivor, &absorbed.contact));
            push_entry(&mut writes, &entry(-moved, &gone, contact));
        }
        Ok(Plan::new(
            writes,
            StatusCode::OK,
            answer(Some(&absorbed.contact), moved, survivor.balance, true),
        ))
    }
}
