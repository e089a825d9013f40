//! Attachments as the platform sees them: what an upload asks for, the state of a stored
//! file, its public name and media type, and which URLs name one of ours. No I/O.

use super::ids::is_id;

/// The spec's limit on an uploaded file.
pub const MAX_ATTACHMENT_BYTES: u64 = 50 * 1024 * 1024;

/// Where a stored file is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttachmentState {
    /// Its row exists and its bytes are being written; never served. A row left in this
    /// state by a crash is swept after [`STALE_UPLOAD_MS`].
    Uploading,
    /// Stored and served.
    Ready,
    /// Its owner (the app, or for `for=message` the message, conversation or user) is
    /// gone, or it was deleted: never served; the sweeper removes the object, then the row.
    Doomed,
}

/// An upload still `uploading` after this long was interrupted (a crash): swept.
pub const STALE_UPLOAD_MS: i64 = 60 * 60 * 1000;

impl AttachmentState {
    pub fn as_str(self) -> &'static str {
        match self {
            AttachmentState::Uploading => "uploading",
            AttachmentState::Ready => "ready",
            AttachmentState::Doomed => "doomed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "uploading" => AttachmentState::Uploading,
            "ready" => AttachmentState::Ready,
            "doomed" => AttachmentState::Doomed,
            _ => return None,
        })
    }
}

/// A stored file's row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attachment {
    pub id: String,
    pub app_id: String,
    /// The sanitised file name, the last segment of its URL.
    pub name: String,
    pub media_type: String,
    pub size: u64,
    /// Uploaded `for=message`: deleted with the message that references it, its
    /// conversation, its user, or its app.
    pub for_message: bool,
    pub conversation_id: Option<String>,
    pub message_id: Option<String>,
    pub user_id: Option<String>,
    pub state: AttachmentState,
    pub created_at: i64,
}

impl Attachment {
    /// The path of its public URL: `/attachments/{id}/{name}`.
    pub fn url_path(&self) -> String {
        format!("/attachments/{}/{}", self.id, self.name)
    }

    /// A strong validator: an attachment's bytes never change under its id.
    pub fn etag(&self) -> String {
        format!("\"{}\"", self.id)
    }
}

/// What UploadAttachment's query asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadRequest {
    pub for_message: bool,
    pub conversation_id: Option<String>,
}

/// Reads UploadAttachment's query: `access` is required and only `public` exists ("Private
/// is not supported"); `for` may only be `message`; `conversationId` is optional.
pub fn parse_upload_query(access: Option<&str>, for_: Option<&str>, conversation_id: Option<&str>) -> Result<UploadRequest, String> {
    match access {
        Some("public") => {}
        Some(_) => return Err("access must be public: private attachments are not supported".into()),
        None => return Err("access is required (public)".into()),
    }
    let for_message = match for_ {
        None => false,
        Some("message") => true,
        Some(_) => return Err("for must be message".into()),
    };
    let conversation_id = match conversation_id {
        None => None,
        Some(c) if is_id(c) => Some(c.to_string()),
        Some(c) => return Err(format!("conversationId {c} is not a conversation id")),
    };
    Ok(UploadRequest { for_message, conversation_id })
}

/// The `(id, name)` a media URL names when it is one of ours: `{base}/attachments/{id}/{name}`,
/// where `bases` are the URLs this server is reached at (with and without `/sc`).
pub fn parse_media_url<'a>(url: &'a str, bases: &[String]) -> Option<(&'a str, &'a str)> {
    let rest = bases.iter().find_map(|b| url.strip_prefix(b.as_str())?.strip_prefix("/attachments/"))?;
    let (id, name) = rest.split_once('/')?;
    (is_id(id) && !name.is_empty() && !name.contains('/') && sanitize_name(name) == name).then_some((id, name))
}

/// The last path segment of `raw`, reduced to `[A-Za-z0-9._-]` (others become `_`), without
/// leading dots, at most 100 characters; `file` when nothing is left. The name is only ever
/// part of a URL, never of a path in storage (objects are stored under their id).
pub fn sanitize_name(raw: &str) -> String {
    let last = raw.rsplit(['/', '\\']).next().unwrap_or("");
    let cleaned: String = last.chars().map(|c| if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') { c } else { '_' }).collect();
    let trimmed = cleaned.trim_start_matches('.');
    let mut name: String = trimmed.chars().take(100).collect();
    if name.is_empty() || name.chars().all(|c| c == '_') {
        name = "file".into();
    }
    name
}

/// How many leading bytes [`media_type_for`] looks at.
pub const SNIFF_BYTES: usize = 512;

/// The media type of an uploaded file: what its first bytes say (the magic numbers of the
/// common image, document, audio and video formats), else its extension, else the
/// part's content type when it looks like one, else `application/octet-stream`. A ZIP
/// container defers to the extension (`.docx`, `.xlsx` are ZIPs).
pub fn media_type_for(head: &[u8], name: &str, content_type: Option<&str>) -> String {
    let sniffed = sniff(head);
    if let Some(t) = sniffed.filter(|t| *t != "application/zip") {
        return t.to_string();
    }
    if let Some(t) = by_extension(name) {
        return t.to_string();
    }
    if let Some(ct) = content_type {
        let essence = ct.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
        if is_media_type(&essence) {
            return essence;
        }
    }
    sniffed.unwrap_or("application/octet-stream").to_string()
}

/// Is this media type one that the messages' `image` type displays?
pub fn is_image(media_type: &str) -> bool {
    media_type.starts_with("image/")
}

fn sniff(head: &[u8]) -> Option<&'static str> {
    let starts = |magic: &[u8]| head.starts_with(magic);
    Some(if starts(b"\x89PNG\r\n\x1a\n") {
        "image/png"
    } else if starts(b"\xff\xd8\xff") {
        "image/jpeg"
    } else if starts(b"GIF87a") || starts(b"GIF89a") {
        "image/gif"
    } else if head.len() >= 12 && &head[..4] == b"RIFF" && &head[8..12] == b"WEBP" {
        "image/webp"
    } else if head.len() >= 12 && &head[..4] == b"RIFF" && &head[8..12] == b"WAVE" {
        "audio/wav"
    } else if starts(b"BM") && head.len() >= 14 {
        "image/bmp"
    } else if starts(b"%PDF-") {
        "application/pdf"
    } else if starts(b"PK\x03\x04") {
        "application/zip"
    } else if starts(b"\x1f\x8b") {
        "application/gzip"
    } else if starts(b"OggS") {
        "audio/ogg"
    } else if starts(b"ID3") {
        "audio/mpeg"
    } else if starts(b"\x1a\x45\xdf\xa3") {
        "video/webm"
    } else if head.len() >= 12 && &head[4..8] == b"ftyp" {
        match &head[8..12] {
            b"qt  " => "video/quicktime",
            b"M4A " => "audio/mp4",
            b"heic" | b"heix" | b"mif1" => "image/heic",
            _ => "video/mp4",
        }
    } else {
        return None;
    })
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

/// One byte range of a GET, resolved against the file's size: `start..end` (end exclusive).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RangeAnswer {
    /// No (usable) Range header: the whole file, 200.
    Whole,
    /// 206 with this part.
    Part { start: u64, end: u64 },
    /// 416: nothing of the file is in the range.
    Unsatisfiable,
}

/// Reads a `Range` header (`bytes=a-b`, `bytes=a-`, `bytes=-n`). Several ranges, other
/// units and malformed values are ignored (the whole file is served, as RFC 9110 allows).
pub fn resolve_range(header: Option<&str>, size: u64) -> RangeAnswer {
    let Some(spec) = header.and_then(|h| h.trim().strip_prefix("bytes=")) else { return RangeAnswer::Whole };
    if spec.contains(',') {
        return RangeAnswer::Whole;
    }
    let Some((a, b)) = spec.trim().split_once('-') else { return RangeAnswer::Whole };
    let (a, b) = (a.trim(), b.trim());
    let parse = |s: &str| if s.bytes().all(|c| c.is_ascii_digit()) && !s.is_empty() { s.parse::<u64>().ok() } else { None };
    match (a.is_empty(), b.is_empty()) {
        (true, true) => RangeAnswer::Whole,
        (true, false) => match parse(b) {
            None => RangeAnswer::Whole,
            Some(0) => RangeAnswer::Unsatisfiable,
            Some(_) if size == 0 => RangeAnswer::Unsatisfiable,
            Some(n) => RangeAnswer::Part { start: size.saturating_sub(n), end: size },
        },
        (false, _) => {
            let Some(start) = parse(a) else { return RangeAnswer::Whole };
            let last = if b.is_empty() { Some(u64::MAX) } else { parse(b) };
            match last {
                None => RangeAnswer::Whole,
                Some(last) if last < start => RangeAnswer::Whole,
                Some(_) if start >= size => RangeAnswer::Unsatisfiable,
                Some(last) => RangeAnswer::Part { start, end: last.saturating_add(1).min(size) },
            }
        }
    }
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
    fn media_types_are_sniffed_then_guessed() {
        assert_eq!(media_type_for(b"\x89PNG\r\n\x1a\n....", "a.txt", Some("text/plain")), "image/png");
        assert_eq!(media_type_for(b"plain", "a.PNG", None), "image/png");
        assert_eq!(media_type_for(b"PK\x03\x04...", "r.docx", None), "application/vnd.openxmlformats-officedocument.wordprocessingml.document");
        assert_eq!(media_type_for(b"PK\x03\x04...", "blob", None), "application/zip");
        assert_eq!(media_type_for(b"x", "blob", Some("image/gif; charset=x")), "image/gif");
        assert_eq!(media_type_for(b"x", "blob", Some("not a type")), "application/octet-stream");
        assert_eq!(media_type_for(b"", "blob", None), "application/octet-stream");
        assert_eq!(media_type_for(b"%PDF-1.4", "report", None), "application/pdf");
    }

    #[test]
    fn upload_queries() {
        assert_eq!(parse_upload_query(Some("public"), None, None), Ok(UploadRequest { for_message: false, conversation_id: None }));
        let c = "5e4af71a81966cfff3ef6550";
        assert_eq!(parse_upload_query(Some("public"), Some("message"), Some(c)), Ok(UploadRequest { for_message: true, conversation_id: Some(c.into()) }));
        assert!(parse_upload_query(None, None, None).is_err());
        assert!(parse_upload_query(Some("private"), None, None).is_err());
        assert!(parse_upload_query(Some("public"), Some("avatar"), None).is_err());
        assert!(parse_upload_query(Some("public"), None, Some("../x")).is_err());
    }

    #[test]
    fn media_urls_of_ours() {
        let bases = vec!["http://h:1".to_string(), "http://h:1/sc".to_string()];
        let id = "5e4af71a81966cfff3ef6550";
        assert_eq!(parse_media_url(&format!("http://h:1/attachments/{id}/a.png"), &bases), Some((id, "a.png")));
        assert_eq!(parse_media_url(&format!("http://h:1/sc/attachments/{id}/a.png"), &bases), Some((id, "a.png")));
        assert_eq!(parse_media_url(&format!("http://other/attachments/{id}/a.png"), &bases), None);
        assert_eq!(parse_media_url(&format!("http://h:1/attachments/{id}/a/b.png"), &bases), None);
        assert_eq!(parse_media_url("http://h:1/attachments/../etc/passwd", &bases), None);
        assert_eq!(parse_media_url(&format!("http://h:1/attachments/{id}/..%2Fx"), &bases), None);
    }

    #[test]
    fn ranges() {
        assert_eq!(resolve_range(None, 10), RangeAnswer::Whole);
        assert_eq!(resolve_range(Some("bytes=0-3"), 10), RangeAnswer::Part { start: 0, end: 4 });
        assert_eq!(resolve_range(Some("bytes=4-"), 10), RangeAnswer::Part { start: 4, end: 10 });
        assert_eq!(resolve_range(Some("bytes=-3"), 10), RangeAnswer::Part { start: 7, end: 10 });
        assert_eq!(resolve_range(Some("bytes=-30"), 10), RangeAnswer::Part { start: 0, end: 10 });
        assert_eq!(resolve_range(Some("bytes=5-100"), 10), RangeAnswer::Part { start: 5, end: 10 });
        assert_eq!(resolve_range(Some("bytes=10-"), 10), RangeAnswer::Unsatisfiable);
        assert_eq!(resolve_range(Some("bytes=-0"), 10), RangeAnswer::Unsatisfiable);
        assert_eq!(resolve_range(Some("bytes=0-1,3-4"), 10), RangeAnswer::Whole);
        assert_eq!(resolve_range(Some("items=0-1"), 10), RangeAnswer::Whole);
        assert_eq!(resolve_range(Some("bytes=5-2"), 10), RangeAnswer::Whole);
        assert_eq!(resolve_range(Some("bytes=x-2"), 10), RangeAnswer::Whole);
    }
}
