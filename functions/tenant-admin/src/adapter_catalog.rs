//! Adapters of the catalog ports: uploads and versions in S3 (versions through the
//! agent's `CatalogStore`, the one the CLI writes with), import jobs as items
//! `T#{t}#CATJOB` / `{job id}`, handed to the worker through the catalog-jobs queue.

use crate::catalog::{ImportJob, JobMessage, JOB_KIND};
use crate::store::{CatalogFiles, ImportJobs};
use agent_reply::catalog::{CatalogError, CatalogStore, Manifest};
use async_trait::async_trait;
use aws_sdk_s3::presigning::PresigningConfig;
use aws_smithy_types::error::display::DisplayErrorContext;
use sauda_shared::changes;
use sauda_shared::dynamo::{self, s, store_err};
use sauda_shared::plan::{Cond, Op, PlanError, Record, WritePlan};
use sauda_shared::ports::StoreError;
use sauda_shared::TenantId;
use serde::Serialize;
use std::time::Duration;

pub struct S3CatalogFiles {
    s3: aws_sdk_s3::Client,
    bucket: String,
    versions: CatalogStore,
}

impl S3CatalogFiles {
    pub fn new(s3: aws_sdk_s3::Client, bucket: &str) -> Self {
        Self {
            versions: CatalogStore::new(s3.clone(), bucket),
            s3,
            bucket: bucket.to_owned(),
        }
    }
}

fn s3_err<E: std::error::Error>(what: &str, e: E) -> StoreError {
    StoreError::Unavailable(format!("{what}: {}", DisplayErrorContext(&e)))
}

fn catalog_err(e: CatalogError) -> StoreError {
    StoreError::Unavailable(e.to_string())
}

#[async_trait]
impl CatalogFiles for S3CatalogFiles {
    async fn presign_upload(
        &self,
        key: &str,
        content_type: &str,
        size: u64,
        ttl: Duration,
    ) -> Result<String, StoreError> {
        let config = PresigningConfig::expires_in(ttl).map_err(|e| s3_err("presign", e))?;
        // Type and length are signed: S3 refuses a PUT of another type or size.
        let request = self
            .s3
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type(content_type)
            .content_length(i64::try_from(size).unwrap_or(i64::MAX))
            .presigned(config)
            .await
            .map_err(|e| s3_err("presign", e))?;
        Ok(request.uri().to_owned())
    }

    async fn read_upload(&self, key: &str, max: u64) -> Result<Option<Vec<u8>>, StoreError> {
        // The upload URL signs the length, so nothing larger than `max` arrives there.
        self.versions
            .read_object(key, max)
            .await
            .map_err(catalog_err)
    }

    async fn put_version(
        &self,
        manifest: &Manifest,
        source: Vec<u8>,
        bundle: Vec<u8>,
    ) -> Result<(), StoreError> {
        self.versions
            .put_version(manifest, source, bundle)
            .await
            .map_err(catalog_err)
    }

    async fn manifest(
        &self,
        tenant: &TenantId,
        version: &str,
    ) -> Result<Option<Manifest>, StoreError> {
        match self.versions.manifest(tenant, version).await {
            Ok(m) => Ok(Some(m)),
            Err(CatalogError::VersionNotFound(_)) => Ok(None),
            Err(e) => Err(catalog_err(e)),
        }
    }
}

pub struct DynamoImportJobs {
    dynamo: aws_sdk_dynamodb::Client,
    table: String,
    sqs: aws_sdk_sqs::Client,
    queue_url: String,
}

impl DynamoImportJobs {
    pub fn new(
        dynamo: aws_sdk_dynamodb::Client,
        table: &str,
        sqs: aws_sdk_sqs::Client,
        queue_url: &str,
    ) -> Self {
        Self {
            dynamo,
            table: table.to_owned(),
            sqs,
            queue_url: queue_url.to_owned(),
        }
    }
}

fn job_pk(tenant: &TenantId) -> String {
    format!("T#{tenant}#CATJOB")
}

#[derive(Serialize)]
struct JobItem<'a> {
    #[serde(rename = "PK")]
    pk: String,
    #[serde(rename = "SK")]
    sk: &'a str,
    #[serde(flatten)]
    job: &'a ImportJob,
}

fn job_item(job: &ImportJob) -> JobItem<'_> {
    JobItem {
        pk: job_pk(&job.tenant),
        sk: &job.id,
        job,
    }
}

#[async_trait]
impl ImportJobs for DynamoImportJobs {
    async fn create(&self, job: &ImportJob, change: &changes::Change) -> Result<(), StoreError> {
        let item = serde_json::to_value(job_item(job))
            .map_err(|e| StoreError::Rejected(format!("job: {e}")))?;
        let mut plan = WritePlan::new();
        plan.push_or(
            Op::Put {
                record: Record::new(item),
                cond: Some(Cond::item_absent()),
            },
            (),
        );
        plan.push_or(changes::history_put(&job.tenant, change), ());
        dynamo::execute(&self.dynamo, &self.table, &plan)
            .await
            .map_err(|e| match e {
                PlanError::Store(e) => e,
                PlanError::Rejected(()) | PlanError::Stale(_) => {
                    StoreError::Rejected("an import job id collided".into())
                }
            })
    }

    async fn get(&self, tenant: &TenantId, id: &str) -> Result<Option<ImportJob>, StoreError> {
        let out = self
            .dynamo
            .get_item()
            .table_name(&self.table)
            .key("PK", s(job_pk(tenant)))
            .key("SK", s(id))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| store_err("get import job", e))?;
        out.item.map(dynamo::from_item::<ImportJob>).transpose()
    }

    async fn put(&self, job: &ImportJob) -> Result<(), StoreError> {
        self.dynamo
            .put_item()
            .table_name(&self.table)
            .set_item(Some(dynamo::to_item(&job_item(job))?))
            .send()
            .await
            .map_err(|e| store_err("put import job", e))?;
        Ok(())
    }

    async fn enqueue(&self, tenant: &TenantId, id: &str) -> Result<(), StoreError> {
        let body = serde_json::to_string(&JobMessage {
            kind: JOB_KIND.to_owned(),
            tenant: tenant.clone(),
            job_id: id.to_owned(),
        })
        .map_err(|e| StoreError::Rejected(format!("job message: {e}")))?;
        self.sqs
            .send_message()
            .queue_url(&self.queue_url)
            .message_body(body)
            .send()
            .await
            .map_err(|e| {
                StoreError::Unavailable(format!("enqueue import: {}", DisplayErrorContext(&e)))
            })?;
        Ok(())
    }
}
