//! Attachments on local disk, under `DATA_DIR/attachments/`.
//!
//! Each upload gets a fresh id and its own folder, `attachments/{id}/`, holding `data` (the
//! bytes) and `meta` (the media type and the sanitised file name, one a line). The client's
//! file name never becomes a path on disk: it only appears, sanitised, in the public URL
//! `/attachments/{id}/{name}`, so no name can escape the folder.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::domain::ids::{is_id, new_id};

/// The spec's limit on an uploaded file.
pub const MAX_ATTACHMENT_BYTES: usize = 50 * 1024 * 1024;

const DATA: &str = "data";
const META: &str = "meta";

/// The local-disk attachment store.
#[derive(Clone, Debug)]
pub struct Attachments {
    root: Arc<Path>,
}

/// A stored attachment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stored {
    pub id: String,
    /// The sanitised file name (the last segment of its URL).
    pub name: String,
    pub media_type: String,
    pub size: usize,
}

impl Stored {
    /// The path of its public URL: `/attachments/{id}/{name}`.
    pub fn url_path(&self) -> String {
        format!("/attachments/{}/{}", self.id, self.name)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AttachmentError {
    #[error("the file is larger than {MAX_ATTACHMENT_BYTES} bytes")]
    TooLarge,
    #[error("attachment storage failed: {0}")]
    Io(#[from] io::Error),
}

impl Attachments {
    /// The store under `data_dir/attachments` (created on first save).
    pub fn new(data_dir: &Path) -> Self {
        Attachments { root: Arc::from(data_dir.join("attachments").as_path()) }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Saves `bytes` under a fresh id; the media type is guessed from `file_name`, else
    /// taken from `content_type` (the multipart part's), else `application/octet-stream`.
    /// `app_id` is recorded as the owner: only that app may delete it.
    pub async fn save(&self, app_id: &str, file_name: Option<&str>, content_type: Option<&str>, bytes: &[u8]) -> Result<Stored, AttachmentError> {
        if bytes.len() > MAX_ATTACHMENT_BYTES {
            return Err(AttachmentError::TooLarge);
        }
        let name = sanitize_name(file_name.unwrap_or(""));
        let media_type = media_type_for(&name, content_type);
        let id = new_id();
        let dir = self.root.join(&id);
        tokio::fs::create_dir_all(&dir).await?;
        tokio::fs::write(dir.join(DATA), bytes).await?;
        // `meta` last: an attachment exists once its meta does.
        let tmp = dir.join("meta.tmp");
        tokio::fs::write(&tmp, format!("{media_type}\n{name}\n{app_id}\n")).await?;
        tokio::fs::rename(&tmp, dir.join(META)).await?;
        Ok(Stored { id, name, media_type, size: bytes.len() })
    }

    /// The attachment `id` if it exists and is named `name`: its description and bytes.
    pub async fn open(&self, id: &str, name: &str) -> Result<Option<(Stored, Vec<u8>)>, AttachmentError> {
        if !is_id(id) {
            return Ok(None);
        }
        let dir = self.root.join(id);
        let meta = match tokio::fs::read_to_string(dir.join(META)).await {
            Ok(m) => m,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        let mut lines = meta.lines();
        let (Some(media_type), Some(stored_name)) = (lines.next(), lines.next()) else { return Ok(None) };
        if stored_name != name {
            return Ok(None);
        }
        let bytes = match tokio::fs::read(dir.join(DATA)).await {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        Ok(Some((Stored { id: id.to_string(), name: stored_name.to_string(), media_type: media_type.to_string(), size: bytes.len() }, bytes)))
    }

    /// Deletes the attachment `id` named `name` if `app_id` owns it; `false` when there is
    /// no such attachment of that app (files from before owners were recorded have none,
    /// so no app can delete them through the API).
    pub async fn delete(&self, app_id: &str, id: &str, name: &str) -> Result<bool, AttachmentError> {
        if !is_id(id) {
            return Ok(false);
        }
        let dir = self.root.join(id);
        let meta = match tokio::fs::read_to_string(dir.join(META)).await {
            Ok(m) => m,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
            Err(e) => return Err(e.into()),
        };
        let mut lines = meta.lines().skip(1);
        if lines.next() != Some(name) || lines.next() != Some(app_id) {
            return Ok(false);
        }
        // `meta` first: an attachment is gone once its meta is.
        tokio::fs::remove_file(dir.join(META)).await?;
        tokio::fs::remove_dir_all(&dir).await?;
        Ok(true)
    }

    /// Where the bytes of `id` live (tests and operators).
    pub fn data_path(&self, id: &str) -> Option<PathBuf> {
        is_id(id).then(|| self.root.join(id).join(DATA))
    }
}

/// The last path segment of `raw`, reduced to `[A-Za-z0-9._-]` (others become `_`), without
/// leading dots, at most 100 characters; `file` when nothing is left.
pub fn sanitize_name(raw: &str) -> String {
    let last = raw.rsplit(['/', '\\']).next().unwrap_or("");
    let cleaned: String = last
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') { c } else { '_' })
        .collect();
    let trimmed = cleaned.trim_start_matches('.');
    let mut name: String = trimmed.chars().take(100).collect();
    if name.is_empty() || name.chars().all(|c| c == '_') {
        name = "file".into();
    }
    name
}

/// The media type of a file: by its extension, else the given content type when it looks
/// like one, else `application/octet-stream`.
pub fn media_type_for(name: &str, content_type: Option<&str>) -> String {
    if let Some(t) = by_extension(name) {
        return t.to_string();
    }
    if let Some(ct) = content_type {
        let essence = ct.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
        if is_media_type(&essence) {
            return essence;
        }
    }
    "application/octet-stream".into()
}

fn is_media_type(s: &str) -> bool {
    let token = |t: &str| !t.is_empty() && t.len() <= 64 && t.chars().all(|c| c.is_ascii_alphanumeric() || "!#$&-^_.+".contains(c));
    matches!(s.split_once('/'), Some((a, b)) if token(a) && token(b))
}

fn by_extension(name: &str) -> Option<&'static str> {
    let (_, ext) = name.rsplit_once('.')?;
    Some(match ext.to_ascii_lowercase().as_str() {
        "png" => "image/png",
        "jpg" | "jpeg" | "jpe" => "image/jpeg",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "bmp" => "image/bmp",
        "svg" => "image/svg+xml",
        "ico" => "image/x-icon",
        "heic" => "image/heic",
        "tif" | "tiff" => "image/tiff",
        "pdf" => "application/pdf",
        "txt" | "log" => "text/plain",
        "csv" => "text/csv",
        "json" => "application/json",
        "zip" => "application/zip",
        "gz" => "application/gzip",
        "doc" => "application/msword",
        "docx" => "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "xls" => "application/vnd.ms-excel",
        "xlsx" => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "ppt" => "application/vnd.ms-powerpoint",
        "pptx" => "application/vnd.openxmlformats-officedocument.presentationml.presentation",
        "mp3" => "audio/mpeg",
        "ogg" => "audio/ogg",
        "wav" => "audio/wav",
        "m4a" => "audio/mp4",
        "mp4" => "video/mp4",
        "mov" => "video/quicktime",
        "webm" => "video/webm",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_sanitised() {
        assert_eq!(sanitize_name("../../etc/passwd"), "passwd");
        assert_eq!(sanitize_name("..\\..\\boot.ini"), "boot.ini");
        assert_eq!(sanitize_name(".."), "file");
        assert_eq!(sanitize_name(".hidden"), "hidden");
        assert_eq!(sanitize_name("my photo (1).png"), "my_photo__1_.png");
        assert_eq!(sanitize_name(""), "file");
        assert_eq!(sanitize_name("été.jpg"), "_t_.jpg");
        assert!(sanitize_name(&"a".repeat(500)).len() <= 100);
    }

    #[test]
    fn media_types_are_guessed() {
        assert_eq!(media_type_for("a.PNG", None), "image/png");
        assert_eq!(media_type_for("a.jpeg", Some("application/octet-stream")), "image/jpeg");
        assert_eq!(media_type_for("blob", Some("image/gif; charset=x")), "image/gif");
        assert_eq!(media_type_for("blob", Some("not a type")), "application/octet-stream");
        assert_eq!(media_type_for("blob", None), "application/octet-stream");
    }

    #[tokio::test]
    async fn save_and_open_stay_inside_the_folder() {
        let dir = tempfile::tempdir().unwrap();
        let store = Attachments::new(dir.path());
        let s = store.save("app", Some("../../etc/passwd"), Some("text/plain"), b"root").await.unwrap();
        assert_eq!(s.name, "passwd");
        assert_eq!(s.media_type, "text/plain");
        assert!(store.data_path(&s.id).unwrap().starts_with(dir.path().join("attachments")));
        let (got, bytes) = store.open(&s.id, "passwd").await.unwrap().unwrap();
        assert_eq!((got, bytes), (s.clone(), b"root".to_vec()));
        assert!(store.open(&s.id, "other").await.unwrap().is_none());
        assert!(store.open("../../etc", "passwd").await.unwrap().is_none());
        let too_big = vec![0u8; MAX_ATTACHMENT_BYTES + 1];
        assert!(matches!(store.save("app", None, None, &too_big).await, Err(AttachmentError::TooLarge)));
    }
}
