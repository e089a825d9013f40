//! Attachments: uploaded files, their objects in a storage backend and their rows in the
//! store (`store::attachments`).
//!
//! The bytes live in a [`Storage`]: a local folder by default ([`local::LocalStorage`],
//! `DATA_DIR/attachments/`) or any S3-compatible bucket ([`s3::S3Storage`]), always under
//! the attachment's id (24 hex), never under a client's file name, so no name can reach
//! a path. Sunbeam serves both at the public `mediaUrl` `/attachments/{id}/{name}`.
//!
//! An upload streams: its row is written first (`uploading`), the chunks go to storage
//! as they arrive (never the whole file in memory), and only then does the row become
//! `ready` with its size and sniffed media type. Deleting marks the row `doomed`; the
//! [`start_sweeper`]'s task removes the object and then the row, so no crash leaks an object.

pub mod local;
pub mod s3;

use std::io;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use futures::stream::BoxStream;
use futures::StreamExt;

use crate::config::AttachmentsConfig;
use crate::domain::attachment::{media_type_for, sanitize_name, Attachment, AttachmentState, UploadRequest, MAX_ATTACHMENT_BYTES, SNIFF_BYTES, STALE_UPLOAD_MS};
use crate::domain::ids::new_id;
use crate::domain::time::now_ms;
use crate::periodic::Periodic;
use crate::store::{Store, StoreError};

/// The bytes of an object, as they are read.
pub type ByteStream = BoxStream<'static, io::Result<Bytes>>;

/// The chunks of an upload, as they arrive.
pub type Upload<'a> = BoxStream<'a, Result<Bytes, AttachmentError>>;

#[derive(Debug, thiserror::Error)]
pub enum AttachmentError {
    #[error("the file is larger than {MAX_ATTACHMENT_BYTES} bytes")]
    TooLarge,
    /// The client's body could not be read (malformed multipart, a broken connection).
    #[error("the upload could not be read: {0}")]
    Client(String),
    #[error("attachment storage failed: {0}")]
    Storage(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<io::Error> for AttachmentError {
    fn from(e: io::Error) -> Self {
        AttachmentError::Storage(e.to_string())
    }
}

/// Where attachment objects live. Keys are attachment ids.
#[async_trait]
pub trait Storage: Send + Sync + 'static {
    /// Writes `chunks` as the object `key`; returns its size. On any error (the
    /// stream's included, which are passed through as they are) nothing usable is left
    /// under `key` (a partial object may remain until [`Storage::delete`]).
    async fn put(&self, key: &str, chunks: Upload<'_>) -> Result<u64, AttachmentError>;
    /// Bytes `start..end` of the object `key` (`end` at most its size).
    async fn get(&self, key: &str, start: u64, end: u64) -> io::Result<ByteStream>;
    /// Deletes the object `key`; an object that is not there is deleted.
    async fn delete(&self, key: &str) -> io::Result<()>;
    /// Where the objects are, for the logs.
    fn describe(&self) -> String;
}

/// The attachments service: storage plus the rows.
#[derive(Clone)]
pub struct Attachments {
    store: Store,
    storage: Arc<dyn Storage>,
    /// The local folder, whose legacy files get rows at start-up.
    local: Option<local::LocalStorage>,
}

impl Attachments {
    pub fn new(store: Store, storage: Arc<dyn Storage>) -> Self {
        Attachments { store, storage, local: None }
    }

    /// Over a local folder, including the files it holds in the legacy layout.
    pub fn local(store: Store, folder: local::LocalStorage) -> Self {
        Attachments { store, storage: Arc::new(folder.clone()), local: Some(folder) }
    }

    /// Gives the local folder's legacy files (stored before attachments had rows) their
    /// rows, once; they are then served, deleted and swept like any other. Returns how
    /// many were found.
    pub async fn import_legacy(&self) -> Result<usize, AttachmentError> {
        let Some(folder) = &self.local else { return Ok(0) };
        let files = folder.legacy_files().await?;
        for a in &files {
            self.store.import_attachment(a).await?;
        }
        folder.legacy_recorded().await?;
        Ok(files.len())
    }

    /// The backend the configuration names: S3 when a bucket is set, else the local folder.
    pub fn from_config(config: &AttachmentsConfig, data_dir: &std::path::Path, store: Store) -> Result<Self, String> {
        let storage: Arc<dyn Storage> = match &config.s3_bucket {
            None => return Ok(Attachments::local(store, local::LocalStorage::new(config.dir.clone().unwrap_or_else(|| data_dir.join("attachments"))))),
            Some(bucket) => Arc::new(s3::S3Storage::new(&s3::S3Settings {
                bucket: bucket.clone(),
                endpoint: config.s3_endpoint.clone(),
                region: config.s3_region.clone(),
                access_key_id: config.s3_access_key_id.clone(),
                secret_access_key: config.s3_secret_access_key.clone(),
                prefix: config.s3_prefix.clone(),
            })?),
        };
        Ok(Attachments::new(store, storage))
    }

    pub fn storage(&self) -> &Arc<dyn Storage> {
        &self.storage
    }

    /// Stores an upload of `app_id` and returns its row, `ready`. The media type is
    /// sniffed from the first bytes (see `domain::attachment::media_type_for`).
    pub async fn upload(
        &self,
        app_id: &str,
        request: &UploadRequest,
        file_name: Option<&str>,
        content_type: Option<&str>,
        chunks: Upload<'_>,
    ) -> Result<Attachment, AttachmentError> {
        let name = sanitize_name(file_name.unwrap_or(""));
        let row = Attachment {
            id: new_id(),
            app_id: app_id.to_string(),
            name,
            media_type: "application/octet-stream".into(),
            size: 0,
            for_message: request.for_message,
            conversation_id: request.conversation_id.clone(),
            message_id: None,
            user_id: None,
            state: AttachmentState::Uploading,
            created_at: now_ms(),
        };
        self.store.begin_attachment(&row).await?;
        let mut head: Vec<u8> = Vec::with_capacity(SNIFF_BYTES);
        let mut total: u64 = 0;
        let counted = chunks.map(|chunk| {
            let chunk = chunk?;
            total += chunk.len() as u64;
            if total > MAX_ATTACHMENT_BYTES {
                return Err(AttachmentError::TooLarge);
            }
            if head.len() < SNIFF_BYTES {
                let take = (SNIFF_BYTES - head.len()).min(chunk.len());
                head.extend_from_slice(&chunk[..take]);
            }
            Ok(chunk)
        });
        let put = self.storage.put(&row.id, counted.boxed()).await;
        let stored = match put {
            Ok(size) => self.store.finish_attachment(&row.id, &media_type_for(&head, &row.name, content_type), size).await.map_err(AttachmentError::from),
            Err(e) => Err(e),
        };
        if stored.is_err() {
            self.discard(&row.id).await;
        }
        stored
    }

    /// A ready attachment named `name`, if there is one.
    pub async fn find(&self, id: &str, name: &str) -> Result<Option<Attachment>, AttachmentError> {
        Ok(self.store.get_attachment(id).await?.filter(|a| a.state == AttachmentState::Ready && a.name == name))
    }

    /// Bytes `start..end` of an attachment.
    pub async fn read(&self, a: &Attachment, start: u64, end: u64) -> io::Result<ByteStream> {
        self.storage.get(&a.id, start, end).await
    }

    /// DeleteAttachment: `false` when `app_id` has no such attachment. The object goes at
    /// once when it can, else with the next sweep.
    pub async fn delete(&self, app_id: &str, id: &str, name: &str) -> Result<bool, AttachmentError> {
        if !self.store.doom_attachment(app_id, id, name).await? {
            return Ok(false);
        }
        self.remove_now(id).await;
        Ok(true)
    }

    async fn discard(&self, id: &str) {
        if let Err(e) = self.store.abandon_attachment(id).await {
            tracing::warn!(error = %e, attachment = id, "attachments: could not mark a failed upload; it is swept within an hour");
            return;
        }
        self.remove_now(id).await;
    }

    /// Deletes a doomed attachment's object, then its row; on failure the sweeper retries.
    async fn remove_now(&self, id: &str) {
        match self.storage.delete(id).await {
            Ok(()) => {
                if let Err(e) = self.store.forget_attachments(vec![id.to_string()]).await {
                    tracing::warn!(error = %e, attachment = id, "attachments: object deleted, row left for the sweeper");
                }
            }
            Err(e) => tracing::warn!(error = %e, attachment = id, "attachments: object not deleted yet; the sweeper retries"),
        }
    }

    /// One sweep: deletes the objects of doomed attachments (and of uploads interrupted
    /// for more than an hour before `now`), then their rows. Returns how many went.
    pub async fn sweep_once(&self, now: i64) -> Result<usize, AttachmentError> {
        const BATCH: i64 = 100;
        let mut swept = 0;
        loop {
            let ids = self.store.attachments_to_sweep(now - STALE_UPLOAD_MS, BATCH).await?;
            let n = ids.len();
            let mut gone = Vec::with_capacity(n);
            for id in ids {
                match self.storage.delete(&id).await {
                    Ok(()) => gone.push(id),
                    Err(e) => tracing::warn!(error = %e, attachment = %id, "attachments: sweep could not delete an object; retrying later"),
                }
            }
            let deleted = gone.len();
            self.store.forget_attachments(gone).await?;
            swept += deleted;
            if (n as i64) < BATCH || deleted == 0 {
                return Ok(swept);
            }
        }
    }
}

/// How often the sweeper runs: doomed files are gone from storage within this (they are
/// no longer served from the moment they are doomed).
pub const SWEEP_EVERY: Duration = Duration::from_secs(60);

/// Runs [`Attachments::sweep_once`] at start and then every [`SWEEP_EVERY`].
pub fn start_sweeper(attachments: Attachments) -> Periodic {
    Periodic::start(SWEEP_EVERY, move || {
        let attachments = attachments.clone();
        async move {
            match attachments.sweep_once(now_ms()).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(attachments = n, "attachments: deleted the files of deleted owners"),
                Err(e) => tracing::warn!(error = %e, "attachments: sweep failed; retrying at the next tick"),
            }
        }
    })
}
