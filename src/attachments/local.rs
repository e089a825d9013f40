//! Attachment objects as files of one folder, `{root}/{id}` (ids are 24 hex characters,
//! checked, so a key can never name a path outside the folder). A file is written as
//! `{id}.part`, flushed to disk, then renamed: an object exists whole or not at all.
//!
//! Files stored before attachments had rows in the store are in the legacy layout,
//! `{root}/{id}/data` beside `{root}/{id}/meta` (media type, name, owner app, one a
//! line). They stay where they are: [`LocalStorage::legacy_files`] describes them once so
//! that rows can be made for them, and reading and deleting find them there.

use std::io::{self, SeekFrom};
use std::path::{Path, PathBuf};

use async_trait::async_trait;
use bytes::{Bytes, BytesMut};
use futures::StreamExt;
use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};

use super::{AttachmentError, ByteStream, Storage, Upload};
use crate::domain::attachment::{sanitize_name, Attachment, AttachmentState};
use crate::domain::ids::is_id;

/// Written once the legacy files have been described and recorded.
const LEGACY_IMPORTED: &str = ".legacy-imported";

/// Bytes read from a file per chunk served.
const READ_CHUNK: usize = 64 * 1024;

#[derive(Debug, Clone)]
pub struct LocalStorage {
    root: PathBuf,
}

impl LocalStorage {
    pub fn new(root: PathBuf) -> Self {
        LocalStorage { root }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where the object `key` is (`None` for a key that is not an id).
    pub fn path_of(&self, key: &str) -> Option<PathBuf> {
        is_id(key).then(|| self.root.join(key))
    }

    fn checked(&self, key: &str) -> io::Result<PathBuf> {
        self.path_of(key).ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "an attachment key is an id"))
    }

    /// The file holding the object `key`: `{id}`, or `{id}/data` in the legacy layout.
    async fn object_path(&self, key: &str) -> io::Result<PathBuf> {
        let path = self.checked(key)?;
        match tokio::fs::metadata(&path).await {
            Ok(m) if m.is_dir() => Ok(path.join("data")),
            _ => Ok(path),
        }
    }

    /// The files of the legacy layout, as ready attachments (the owner is `""` for files
    /// from before owners were recorded: no app can delete those). Empty once
    /// [`LocalStorage::legacy_recorded`] has been called.
    pub async fn legacy_files(&self) -> io::Result<Vec<Attachment>> {
        if tokio::fs::metadata(self.root.join(LEGACY_IMPORTED)).await.is_ok() {
            return Ok(Vec::new());
        }
        let mut found = Vec::new();
        let mut dir = match tokio::fs::read_dir(&self.root).await {
            Ok(d) => d,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(found),
            Err(e) => return Err(e),
        };
        while let Some(entry) = dir.next_entry().await? {
            let id = entry.file_name().to_string_lossy().into_owned();
            if !is_id(&id) || !entry.file_type().await?.is_dir() {
                continue;
            }
            let (Ok(meta), Ok(data)) = (tokio::fs::read_to_string(entry.path().join("meta")).await, tokio::fs::metadata(entry.path().join("data")).await) else {
                continue;
            };
            let mut lines = meta.lines();
            let (Some(media_type), Some(name)) = (lines.next(), lines.next()) else { continue };
            if sanitize_name(name) != name {
                continue;
            }
            let created_at = i64::from_str_radix(&id[..12], 16).unwrap_or(0);
            found.push(Attachment {
                id,
                app_id: lines.next().unwrap_or("").to_string(),
                name: name.to_string(),
                media_type: media_type.to_string(),
                size: data.len(),
                for_message: false,
                conversation_id: None,
                message_id: None,
                user_id: None,
                state: AttachmentState::Ready,
                created_at,
            });
        }
        Ok(found)
    }

    /// Every legacy file has its row: [`LocalStorage::legacy_files`] need not look again.
    pub async fn legacy_recorded(&self) -> io::Result<()> {
        tokio::fs::create_dir_all(&self.root).await?;
        tokio::fs::write(self.root.join(LEGACY_IMPORTED), b"").await
    }
}

#[async_trait]
impl Storage for LocalStorage {
    async fn put(&self, key: &str, mut chunks: Upload<'_>) -> Result<u64, AttachmentError> {
        let path = self.checked(key)?;
        tokio::fs::create_dir_all(&self.root).await?;
        let part = path.with_extension("part");
        let mut file = tokio::fs::File::create(&part).await?;
        let written: Result<u64, AttachmentError> = async {
            let mut size = 0u64;
            while let Some(chunk) = chunks.next().await {
                let chunk = chunk?;
                file.write_all(&chunk).await?;
                size += chunk.len() as u64;
            }
            file.sync_all().await?;
            Ok(size)
        }
        .await;
        drop(file);
        match written {
            Ok(size) => {
                tokio::fs::rename(&part, &path).await?;
                Ok(size)
            }
            Err(e) => {
                let _ = tokio::fs::remove_file(&part).await;
                Err(e)
            }
        }
    }

    async fn get(&self, key: &str, start: u64, end: u64) -> io::Result<ByteStream> {
        let mut file = tokio::fs::File::open(self.object_path(key).await?).await?;
        file.seek(SeekFrom::Start(start)).await?;
        let remaining = end.saturating_sub(start);
        let stream = futures::stream::try_unfold((file, remaining), |(mut file, remaining)| async move {
            if remaining == 0 {
                return Ok(None);
            }
            let want = READ_CHUNK.min(usize::try_from(remaining).unwrap_or(READ_CHUNK));
            let mut buf = BytesMut::zeroed(want);
            let n = file.read(&mut buf).await?;
            if n == 0 {
                return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "attachment file is shorter than its row says"));
            }
            buf.truncate(n);
            Ok(Some((Bytes::from(buf), (file, remaining - n as u64))))
        });
        Ok(stream.boxed())
    }

    async fn delete(&self, key: &str) -> io::Result<()> {
        let path = self.checked(key)?;
        if tokio::fs::metadata(&path).await.is_ok_and(|m| m.is_dir()) {
            // The legacy layout: `meta` first, as it was written last.
            for p in [path.join("meta"), path.join("data")] {
                remove_if_there(&p).await?;
            }
            return match tokio::fs::remove_dir(&path).await {
                Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
                _ => Ok(()),
            };
        }
        for p in [path.with_extension("part"), path] {
            remove_if_there(&p).await?;
        }
        Ok(())
    }

    fn describe(&self) -> String {
        format!("folder {}", self.root.display())
    }
}

async fn remove_if_there(path: &Path) -> io::Result<()> {
    match tokio::fs::remove_file(path).await {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunks(parts: &[&'static [u8]]) -> Upload<'static> {
        futures::stream::iter(parts.iter().map(|p| Ok(Bytes::from_static(p))).collect::<Vec<_>>()).boxed()
    }

    async fn read_all(s: &LocalStorage, key: &str, start: u64, end: u64) -> Vec<u8> {
        let mut out = Vec::new();
        let mut st = s.get(key, start, end).await.unwrap();
        while let Some(c) = st.next().await {
            out.extend_from_slice(&c.unwrap());
        }
        out
    }

    #[tokio::test]
    async fn objects_are_written_whole_read_in_ranges_and_deleted() {
        let dir = tempfile::tempdir().unwrap();
        let s = LocalStorage::new(dir.path().join("attachments"));
        let key = crate::domain::ids::new_id();
        assert_eq!(s.put(&key, chunks(&[b"hello ", b"world"])).await.unwrap(), 11);
        assert_eq!(read_all(&s, &key, 0, 11).await, b"hello world");
        assert_eq!(read_all(&s, &key, 6, 9).await, b"wor");
        s.delete(&key).await.unwrap();
        assert!(s.get(&key, 0, 1).await.is_err());
        s.delete(&key).await.unwrap();
    }

    #[tokio::test]
    async fn a_failed_upload_leaves_nothing_and_keys_cannot_be_paths() {
        let dir = tempfile::tempdir().unwrap();
        let s = LocalStorage::new(dir.path().to_path_buf());
        let key = crate::domain::ids::new_id();
        let failing = futures::stream::iter(vec![Ok(Bytes::from_static(b"abc")), Err(AttachmentError::TooLarge)]).boxed();
        assert!(matches!(s.put(&key, failing).await, Err(AttachmentError::TooLarge)));
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
        assert!(s.put("../../etc/passwd", chunks(&[b"x"])).await.is_err());
        assert!(s.get("../x", 0, 1).await.is_err());
    }
}
