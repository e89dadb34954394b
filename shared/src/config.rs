//! Typed configuration from the environment. Secrets never come from here.

use std::env;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error("environment variable {0} is required but not set")]
    Missing(&'static str),
    #[error("environment variable {name} is invalid: {reason}")]
    Invalid { name: &'static str, reason: String },
}

pub fn required(name: &'static str) -> Result<String, ConfigError> {
    match env::var(name) {
        Ok(v) if !v.trim().is_empty() => Ok(v),
        _ => Err(ConfigError::Missing(name)),
    }
}

pub fn optional(name: &'static str) -> Option<String> {
    env::var(name).ok().filter(|v| !v.trim().is_empty())
}

pub fn parse_or<T: std::str::FromStr>(name: &'static str, default: T) -> Result<T, ConfigError>
where
    T::Err: std::fmt::Display,
{
    match optional(name) {
        None => Ok(default),
        Some(raw) => raw.parse().map_err(|e: T::Err| ConfigError::Invalid {
            name,
            reason: e.to_string(),
        }),
    }
}

/// Settings every function shares: where the table lives and how secrets are named.
#[derive(Clone, Debug)]
pub struct CoreConfig {
    /// Deployment stage (`prod`, `dev`, `local`); part of every secret's name.
    pub stage: String,
    pub table_name: String,
}

impl CoreConfig {
    pub fn from_env() -> Result<Self, ConfigError> {
        Ok(Self {
            stage: required("STAGE")?,
            table_name: required("TABLE_NAME")?,
        })
    }

    pub fn tenant_secret_name(&self, tenant: &crate::TenantId) -> String {
        format!("sauda/{}/tenant/{tenant}", self.stage)
    }

    pub fn platform_secret_name(&self) -> String {
        format!("sauda/{}/platform", self.stage)
    }
}
