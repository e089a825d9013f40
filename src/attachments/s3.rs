//! Attachment objects in an S3-compatible bucket (AWS S3, MinIO, Ceph, R2…), through
//! `object_store`. Objects are `{prefix}{id}`. Uploads stream through a buffered multipart
//! writer: at most a few parts of [`PART_BYTES`] are held in memory, whatever the size.

use std::io;
use std::sync::Arc;

use async_trait::async_trait;
use futures::StreamExt;
use object_store::aws::AmazonS3Builder;
use object_store::buffered::BufWriter;
use object_store::path::Path;
use object_store::{GetOptions, GetRange, ObjectStore};
use tokio::io::AsyncWriteExt;

use super::{AttachmentError, ByteStream, Storage, Upload};
use crate::domain::ids::is_id;

/// The multipart part size (S3's minimum is 5 MiB); smaller files are one PUT.
const PART_BYTES: usize = 5 * 1024 * 1024;
/// Parts in flight at once.
const PARTS_IN_FLIGHT: usize = 2;

/// Where the bucket is and how to reach it (see `config::AttachmentsConfig`).
#[derive(Debug, Clone)]
pub struct S3Settings {
    pub bucket: String,
    /// A custom endpoint (`http://127.0.0.1:9000`); unset: AWS's for the region.
    pub endpoint: Option<String>,
    pub region: String,
    /// Unset: the usual AWS environment (`AWS_ACCESS_KEY_ID`…, instance credentials).
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<String>,
    pub prefix: String,
}

pub struct S3Storage {
    store: Arc<dyn ObjectStore>,
    bucket: String,
    prefix: String,
}

impl S3Storage {
    pub fn new(settings: &S3Settings) -> Result<Self, String> {
        let mut b = AmazonS3Builder::from_env().with_bucket_name(&settings.bucket).with_region(&settings.region);
        if let Some(endpoint) = &settings.endpoint {
            b = b.with_endpoint(endpoint).with_allow_http(endpoint.starts_with("http://")).with_virtual_hosted_style_request(false);
        }
        if let Some(k) = &settings.access_key_id {
            b = b.with_access_key_id(k);
        }
        if let Some(s) = &settings.secret_access_key {
            b = b.with_secret_access_key(s);
        }
        let store = b.build().map_err(|e| format!("S3 attachments bucket {}: {e}", settings.bucket))?;
        Ok(S3Storage { store: Arc::new(store), bucket: settings.bucket.clone(), prefix: settings.prefix.clone() })
    }

    fn path(&self, key: &str) -> io::Result<Path> {
        if !is_id(key) {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "an attachment key is an id"));
        }
        Ok(Path::from(format!("{}{key}", self.prefix)))
    }
}

fn storage_error(e: object_store::Error) -> AttachmentError {
    AttachmentError::Storage(e.to_string())
}

#[async_trait]
impl Storage for S3Storage {
    async fn put(&self, key: &str, mut chunks: Upload<'_>) -> Result<u64, AttachmentError> {
        let path = self.path(key)?;
        let mut w = BufWriter::with_capacity(self.store.clone(), path, PART_BYTES).with_max_concurrency(PARTS_IN_FLIGHT);
        let written: Result<u64, AttachmentError> = async {
            let mut size = 0u64;
            while let Some(chunk) = chunks.next().await {
                let chunk = chunk?;
                size += chunk.len() as u64;
                w.put(chunk).await.map_err(storage_error)?;
            }
            w.shutdown().await?;
            Ok(size)
        }
        .await;
        if written.is_err() {
            let _ = w.abort().await;
        }
        written
    }

    async fn get(&self, key: &str, start: u64, end: u64) -> io::Result<ByteStream> {
        let path = self.path(key)?;
        if end <= start {
            return Ok(futures::stream::empty().boxed());
        }
        let options = GetOptions { range: Some(GetRange::Bounded(start..end)), ..Default::default() };
        let got = self.store.get_opts(&path, options).await.map_err(io::Error::other)?;
        Ok(got.into_stream().map(|r| r.map_err(io::Error::other)).boxed())
    }

    async fn delete(&self, key: &str) -> io::Result<()> {
        match self.store.delete(&self.path(key)?).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(io::Error::other(e)),
        }
    }

    fn describe(&self) -> String {
        format!("S3 bucket {} (prefix {:?})", self.bucket, self.prefix)
    }
}
