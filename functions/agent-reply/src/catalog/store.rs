//! Catalog versions in S3: `catalogs/{t}/{version}/{source.csv|source.xlsx, index.tar,
//! manifest.json}`. Versions are immutable; the tenant config names the active one.

use super::{CatalogError, CatalogIndex, RejectedRow};
use aws_sdk_s3::primitives::ByteStream;
use aws_smithy_types::error::display::DisplayErrorContext;
use sauda_shared::TenantId;
use serde::{Deserialize, Serialize};

/// What one import produced, stored next to its index.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub tenant: TenantId,
    pub version: String,
    pub created_at_ms: i64,
    pub source_file: String,
    pub source_key: String,
    pub index_key: String,
    pub index_bytes: u64,
    pub items: u64,
    pub data_rows: u64,
    pub blank_rows: u64,
    pub rejected_rows: u64,
    /// The first rejected rows (all of them are printed by the import).
    #[serde(default)]
    pub rejected_sample: Vec<RejectedRow>,
    pub index_format: u32,
}

/// A version id: `v` + UTC time to the millisecond + a random suffix, so versions
/// sort by creation.
pub fn new_version(now_ms: i64) -> String {
    let ts = jiff::Timestamp::from_millisecond(now_ms).unwrap_or(jiff::Timestamp::UNIX_EPOCH);
    let suffix: u16 = rand::random();
    format!(
        "v{}{:03}-{suffix:04x}",
        ts.strftime("%Y%m%d-%H%M%S"),
        now_ms.rem_euclid(1000)
    )
}

/// Version ids are path segments: keep them to a safe alphabet.
pub fn valid_version(raw: &str) -> bool {
    (1..=64).contains(&raw.len())
        && raw
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

pub fn version_prefix(tenant: &TenantId, version: &str) -> String {
    format!("catalogs/{tenant}/{version}/")
}

/// The largest object of a catalog version read back (the index is 8.5 MiB for 40,000
/// items; the cache holds 256 MiB).
pub const MAX_OBJECT_BYTES: u64 = 512 * 1024 * 1024;

pub struct CatalogStore {
    s3: aws_sdk_s3::Client,
    bucket: String,
}

fn storage<E: std::error::Error>(what: &str, e: E) -> CatalogError {
    CatalogError::Storage(format!("{what}: {}", DisplayErrorContext(&e)))
}

impl CatalogStore {
    pub fn new(s3: aws_sdk_s3::Client, bucket: impl Into<String>) -> Self {
        Self {
            s3,
            bucket: bucket.into(),
        }
    }

    async fn put(&self, key: &str, body: Vec<u8>, content_type: &str) -> Result<(), CatalogError> {
        self.s3
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type(content_type)
            .body(ByteStream::from(body))
            .send()
            .await
            .map_err(|e| storage(key, e))?;
        Ok(())
    }

    async fn get(&self, key: &str, version: &str) -> Result<Vec<u8>, CatalogError> {
        self.read_object(key, MAX_OBJECT_BYTES)
            .await?
            .ok_or_else(|| CatalogError::VersionNotFound(version.to_owned()))
    }

    /// An object of the bucket read whole, `None` if absent; refused above `max` bytes
    /// (it is downloaded into memory).
    pub async fn read_object(&self, key: &str, max: u64) -> Result<Option<Vec<u8>>, CatalogError> {
        let out = match self
            .s3
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
        {
            Ok(out) => out,
            Err(e) if e.as_service_error().is_some_and(|se| se.is_no_such_key()) => {
                return Ok(None)
            }
            Err(e) => return Err(storage(key, e)),
        };
        if out
            .content_length()
            .is_some_and(|len| len < 0 || len as u64 > max)
        {
            return Err(CatalogError::Storage(format!(
                "{key} is larger than {max} bytes"
            )));
        }
        let bytes = out
            .body
            .collect()
            .await
            .map_err(|e| CatalogError::Storage(format!("{key}: {e}")))?;
        Ok(Some(bytes.into_bytes().to_vec()))
    }

    /// Uploads a new version: source, index, then the manifest last, so a version
    /// with a manifest is always complete.
    pub async fn put_version(
        &self,
        manifest: &Manifest,
        source: Vec<u8>,
        index_bundle: Vec<u8>,
    ) -> Result<(), CatalogError> {
        self.put(&manifest.source_key, source, "application/octet-stream")
            .await?;
        self.put(&manifest.index_key, index_bundle, "application/x-tar")
            .await?;
        let body = serde_json::to_vec_pretty(manifest)
            .map_err(|e| CatalogError::Storage(format!("manifest: {e}")))?;
        self.put(
            &format!(
                "{}manifest.json",
                version_prefix(&manifest.tenant, &manifest.version)
            ),
            body,
            "application/json",
        )
        .await
    }

    pub async fn manifest(
        &self,
        tenant: &TenantId,
        version: &str,
    ) -> Result<Manifest, CatalogError> {
        if !valid_version(version) {
            return Err(CatalogError::VersionNotFound(version.to_owned()));
        }
        let key = format!("{}manifest.json", version_prefix(tenant, version));
        let raw = self.get(&key, version).await?;
        let manifest: Manifest = serde_json::from_slice(&raw)
            .map_err(|e| CatalogError::Storage(format!("{key}: {e}")))?;
        if manifest.tenant != *tenant || manifest.version != version {
            return Err(CatalogError::Storage(format!(
                "{key} describes another catalog"
            )));
        }
        Ok(manifest)
    }

    /// Downloads and opens a version's index (one GetObject).
    pub async fn load_index(
        &self,
        tenant: &TenantId,
        version: &str,
    ) -> Result<CatalogIndex, CatalogError> {
        if !valid_version(version) {
            return Err(CatalogError::VersionNotFound(version.to_owned()));
        }
        let key = format!("{}index.tar", version_prefix(tenant, version));
        let bundle = self.get(&key, version).await?;
        tokio::task::spawn_blocking(move || CatalogIndex::from_bundle(&bundle))
            .await
            .map_err(|e| CatalogError::Index(format!("index load task: {e}")))?
    }

    /// Every complete version of a tenant's catalog, oldest first.
    pub async fn list(&self, tenant: &TenantId) -> Result<Vec<Manifest>, CatalogError> {
        let prefix = format!("catalogs/{tenant}/");
        let mut versions = Vec::new();
        let mut pages = self
            .s3
            .list_objects_v2()
            .bucket(&self.bucket)
            .prefix(&prefix)
            .delimiter("/")
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| storage(&prefix, e))?;
            for p in page.common_prefixes() {
                if let Some(version) = p
                    .prefix()
                    .and_then(|p| p.strip_prefix(&prefix))
                    .map(|v| v.trim_end_matches('/'))
                {
                    versions.push(version.to_owned());
                }
            }
        }
        versions.sort();
        let mut manifests = Vec::new();
        for version in versions {
            match self.manifest(tenant, &version).await {
                Ok(m) => manifests.push(m),
                // An upload that died before its manifest: not a usable version.
                Err(CatalogError::VersionNotFound(_)) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(manifests)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_sort_by_time_and_are_safe_path_segments() {
        let a = new_version(1_795_552_200_000);
        let b = new_version(1_795_552_201_000);
        assert!(a.starts_with("v20261124-203000000-"), "{a}");
        assert!(a < b);
        assert!(valid_version(&a));
        assert!(!valid_version("../other"));
        assert!(!valid_version(""));
        assert!(!valid_version("V1"));
    }
}
