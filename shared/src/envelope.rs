//! The versioned JSON envelope on every queue: `{"v":1,"kind":…,"tenant":…,…}`.

use crate::message::InboundMessage;
use crate::tenant::TenantId;
use serde::{Deserialize, Serialize};

pub const ENVELOPE_VERSION: u8 = 1;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Envelope {
    pub v: u8,
    pub tenant: TenantId,
    #[serde(flatten)]
    pub job: Job,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Job {
    InboundMessage { message: InboundMessage },
}

#[derive(Debug, thiserror::Error)]
pub enum EnvelopeError {
    #[error("envelope is not valid JSON of a known kind: {0}")]
    Malformed(#[from] serde_json::Error),
    #[error("envelope version {0} is not supported (expected {ENVELOPE_VERSION})")]
    UnsupportedVersion(u8),
    #[error("envelope tenant {envelope} does not match its payload's tenant {payload}")]
    TenantMismatch { envelope: String, payload: String },
}

impl Envelope {
    pub fn inbound(message: InboundMessage) -> Self {
        Self {
            v: ENVELOPE_VERSION,
            tenant: message.tenant.clone(),
            job: Job::InboundMessage { message },
        }
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("envelope fields always serialise")
    }

    /// Decodes and checks the version and that the payload belongs to the envelope's tenant.
    pub fn from_json(raw: &str) -> Result<Self, EnvelopeError> {
        let envelope: Envelope = serde_json::from_str(raw)?;
        if envelope.v != ENVELOPE_VERSION {
            return Err(EnvelopeError::UnsupportedVersion(envelope.v));
        }
        let Job::InboundMessage { message } = &envelope.job;
        if message.tenant != envelope.tenant {
            return Err(EnvelopeError::TenantMismatch {
                envelope: envelope.tenant.to_string(),
                payload: message.tenant.to_string(),
            });
        }
        Ok(envelope)
    }
}
