//! Attachment keys, content types and the links between messages and files.

use crate::ids::random_secret;

/// Every key starts with this; the public URL of a file is `<base>/files/<key>`.
pub const KEY_PREFIX: &str = "attachments/";
/// Where the file server answers.
pub const FILES_PATH: &str = "/files/";

/// `attachments/<project>/<32 random base62>[.<ext>]`: about 190 bits, unguessable.
pub fn new_key(project_id: &str, filename: &str) -> String {
    let mut key = format!("{KEY_PREFIX}{project_id}/{}", random_secret(32));
    if let Some(extension) = extension(filename) {
        key.push('.');
        key.push_str(&extension);
    }
    key
}

/// A short, lowercase, alphanumeric file extension, if the name has one.
fn extension(filename: &str) -> Option<String> {
    let (stem, extension) = filename.rsplit_once('.')?;
    let ok =
        !stem.is_empty() && (1..=10).contains(&extension.len()) && extension.bytes().all(|b| b.is_ascii_alphanumeric());
    ok.then(|| extension.to_ascii_lowercase())
}

/// True for keys this server could have made; refuses traversal and URL tricks.
pub fn is_valid_key(key: &str) -> bool {
    key.starts_with(KEY_PREFIX)
        && key.len() <= 200
        && !key.contains("..")
        && !key.contains("//")
        && key.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'/' | b'.' | b'-' | b'_'))
}

/// The key named by a file URL (`…/files/<key>[?…]`), if any.
pub fn key_from_url(url: &str) -> Option<&str> {
    let start = url.find(FILES_PATH)? + FILES_PATH.len();
    let rest = &url[start..];
    let key = rest.split(['?', '#']).next()?;
    is_valid_key(key).then_some(key)
}

/// Every attachment key referenced from a JSON document's text (message content).
pub fn keys_in(text: &str) -> Vec<String> {
    let needle = format!("{FILES_PATH}{KEY_PREFIX}");
    let mut keys = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find(&needle) {
        let tail = &rest[at + FILES_PATH.len()..];
        let end = tail
            .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '/' | '.' | '-' | '_')))
            .unwrap_or(tail.len());
        let key = &tail[..end];
        if is_valid_key(key) && !keys.iter().any(|k| k == key) {
            keys.push(key.to_owned());
        }
        rest = &tail[end..];
    }
    keys
}

/// The content type a file name implies (the browser's `file.type` may be empty).
pub fn content_type_for(filename: &str) -> &'static str {
    match extension(filename).as_deref() {
        Some("png") => "image/png",
        Some("jpg" | "jpeg") => "image/jpeg",
        Some("gif") => "image/gif",
        Some("webp") => "image/webp",
        Some("svg") => "image/svg+xml",
        Some("pdf") => "application/pdf",
        Some("txt") => "text/plain",
        Some("md") => "text/markdown",
        Some("csv") => "text/csv",
        Some("json") => "application/json",
        Some("mp3") => "audio/mpeg",
        Some("wav") => "audio/wav",
        Some("mp4") => "video/mp4",
        _ => "application/octet-stream",
    }
}

/// Types served inline (displayed by the browser): raster images, PDF and plain
/// text. Every other type is served as a download (`Content-Disposition: attachment`).
pub const INLINE_TYPES: [&str; 8] =
    ["image/png", "image/jpeg", "image/gif", "image/webp", "image/avif", "image/bmp", "application/pdf", "text/plain"];

/// The longest content type accepted.
const CONTENT_TYPE_MAX: usize = 255;

/// The catch-all type of bytes nothing more is known about.
pub const OCTET_STREAM: &str = "application/octet-stream";

/// An attachment's content type, parsed as a MIME type (RFC 9110 §8.3.1):
/// a concrete `type/subtype` and, if given, its charset; lowercase.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContentType {
    essence: String,
    charset: Option<String>,
}

impl ContentType {
    /// Parses one media type; lists (`a/b, c/d`), wildcards, control characters
    /// and stray whitespace are refused. Parameters other than `charset` are dropped.
    pub fn parse(text: &str) -> Result<ContentType, String> {
        if text.len() > CONTENT_TYPE_MAX {
            return Err(format!("a content type has at most {CONTENT_TYPE_MAX} characters"));
        }
        let mime: mime::Mime = text.parse().map_err(|error| format!("{text:?} is not a MIME type ({error})"))?;
        let (kind, subtype) = (mime.type_().as_str(), mime.subtype().as_str());
        if kind.is_empty() || subtype.is_empty() || kind == "*" || subtype == "*" {
            return Err(format!("{text:?} is not a concrete type/subtype"));
        }
        let charset = mime.get_param(mime::CHARSET).map(|charset| charset.as_str().to_ascii_lowercase());
        if charset
            .as_deref()
            .is_some_and(|c| c.is_empty() || !c.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.:+".contains(&b)))
        {
            return Err(format!("{text:?} has an invalid charset"));
        }
        Ok(ContentType { essence: mime.essence_str().to_ascii_lowercase(), charset })
    }

    /// A stored type; one that does not parse (stored before types were
    /// checked) counts as generic bytes.
    pub fn stored(text: &str) -> ContentType {
        ContentType::parse(text).unwrap_or_else(|_| ContentType { essence: OCTET_STREAM.to_owned(), charset: None })
    }

    /// `type/subtype`, lowercase.
    pub fn essence(&self) -> &str {
        &self.essence
    }

    /// The form stored and sent in `Content-Type`: the essence and its charset.
    pub fn header_value(&self) -> String {
        match &self.charset {
            Some(charset) => format!("{}; charset={charset}", self.essence),
            None => self.essence.clone(),
        }
    }

    /// True for the types a browser may display inline ([`INLINE_TYPES`]).
    pub fn is_inline_safe(&self) -> bool {
        INLINE_TYPES.contains(&self.essence.as_str())
    }

    /// True when one of `patterns` (`type/subtype`, `type/*`, `*/*` or `*`)
    /// matches; an empty list allows everything. Patterns that do not parse match nothing.
    pub fn allowed_by(&self, patterns: &[String]) -> bool {
        patterns.is_empty() || patterns.iter().any(|pattern| pattern_matches(pattern, &self.essence))
    }
}

/// Checks an allowlist entry (`image/*`, `application/pdf`, `*`).
pub fn check_type_pattern(pattern: &str) -> Result<(), String> {
    let pattern = pattern.trim();
    if pattern == "*" {
        return Ok(());
    }
    let mime: mime::Mime = pattern.parse().map_err(|error| format!("{pattern:?} is not a MIME type ({error})"))?;
    if mime.type_() == "*" && mime.subtype() != "*"
        || mime.subtype().as_str().is_empty()
        || mime.params().next().is_some()
    {
        return Err(format!("{pattern:?} is not type/subtype, type/* or */*"));
    }
    Ok(())
}

fn pattern_matches(pattern: &str, essence: &str) -> bool {
    let pattern = pattern.trim();
    if pattern == "*" {
        return true;
    }
    let Ok(pattern) = pattern.parse::<mime::Mime>() else { return false };
    let Some((kind, subtype)) = essence.split_once('/') else { return false };
    (pattern.type_() == "*" || pattern.type_().as_str().eq_ignore_ascii_case(kind))
        && (pattern.subtype() == "*" || pattern.subtype().as_str().eq_ignore_ascii_case(subtype))
        && !(pattern.type_() == "*" && pattern.subtype() != "*")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_unguessable_and_keep_a_clean_extension() {
        let key = new_key("default", "Holiday Photo.JPG");
        assert!(key.starts_with("attachments/default/") && key.ends_with(".jpg"), "{key}");
        assert!(is_valid_key(&key));
        assert_ne!(new_key("p", "a.png"), new_key("p", "a.png"));
        assert!(!new_key("p", "weird.ex!t").contains('!'));
        assert!(!new_key("p", ".bashrc").ends_with(".bashrc"));
    }

    #[test]
    fn key_validation() {
        assert!(!is_valid_key("attachments/../secret"));
        assert!(!is_valid_key("/attachments/x"));
        assert!(!is_valid_key("attachments/x?y"));
        assert!(!is_valid_key("attachments/x#y"));
        assert!(!is_valid_key("other/x"));
        assert!(!is_valid_key("attachments//x"));
    }

    #[test]
    fn urls_and_content() {
        assert_eq!(key_from_url("http://h:1/files/attachments/p/abc.png?x=1"), Some("attachments/p/abc.png"));
        assert_eq!(key_from_url("http://h/projects/p/files/attachments/p/abc"), Some("attachments/p/abc"));
        assert_eq!(key_from_url("http://h/other/attachments/p/abc"), None);
        let content = r#"{"content":[{"type":"image","image":"http://h/files/attachments/p/a.png"},{"type":"file","data":"http://h/files/attachments/p/b.pdf?sig=1"},{"type":"image","image":"http://h/files/attachments/p/a.png"}]}"#;
        assert_eq!(keys_in(content), vec!["attachments/p/a.png", "attachments/p/b.pdf"]);
        assert!(keys_in(r#"{"text":"no files here"}"#).is_empty());
    }

    fn parsed(text: &str) -> ContentType {
        ContentType::parse(text).unwrap_or_else(|error| panic!("{text}: {error}"))
    }

    #[test]
    fn content_types() {
        assert_eq!(content_type_for("x.PNG"), "image/png");
        assert_eq!(content_type_for("noext"), OCTET_STREAM);
        for name in ["a.png", "a.svg", "a.md", "a.csv", "a.json", "a.mp4", "a"] {
            assert!(ContentType::parse(content_type_for(name)).is_ok(), "{name}");
        }
        let allowed = vec!["image/*".to_owned(), "application/pdf".to_owned()];
        assert!(parsed("image/png").allowed_by(&allowed));
        assert!(parsed("IMAGE/PNG").allowed_by(&allowed));
        assert!(parsed("application/pdf; charset=binary").allowed_by(&allowed));
        assert!(!parsed("text/html").allowed_by(&allowed));
        assert!(parsed("text/html").allowed_by(&[]));
        assert!(parsed("text/html").allowed_by(&["*".to_owned()]));
        assert!(parsed("text/html").allowed_by(&["*/*".to_owned()]));
        assert!(!parsed("text/html").allowed_by(&["nonsense".to_owned()]));
    }

    #[test]
    fn content_types_are_parsed_strictly() {
        for bad in [
            "text/plain\r\nX-Injected: yes",
            "text/plain\0",
            "image/png, text/html",
            "image/gif,image/svg+xml",
            "image/svg+xml ",
            " image/png",
            "image/*",
            "*/*",
            "image/",
            "image",
            "",
            "text/plain; charset=\"a b\"",
        ] {
            assert!(ContentType::parse(bad).is_err(), "{bad:?}");
        }
        assert!(ContentType::parse(&format!("application/{}", "x".repeat(250))).is_err());
        assert_eq!(ContentType::stored("text/plain\r\nX: y").header_value(), OCTET_STREAM);
        assert_eq!(ContentType::stored("text/plain").header_value(), "text/plain");
        let svg = parsed("image/SVG+xml; Charset=UTF-8; foo=bar");
        assert_eq!((svg.essence(), svg.header_value().as_str()), ("image/svg+xml", "image/svg+xml; charset=utf-8"));
        assert!(!svg.is_inline_safe());
        for inline in ["image/png", "image/jpeg", "application/pdf", "text/plain; charset=utf-8"] {
            assert!(parsed(inline).is_inline_safe(), "{inline}");
        }
        for download in [
            "text/html",
            "image/svg+xml",
            "application/xhtml+xml",
            "text/xml",
            "audio/mpeg",
            "video/mp4",
            "application/octet-stream",
        ] {
            assert!(!parsed(download).is_inline_safe(), "{download}");
        }
    }

    #[test]
    fn allowlist_patterns() {
        for good in ["image/*", "application/pdf", "*", "*/*", " text/plain "] {
            assert!(check_type_pattern(good).is_ok(), "{good}");
        }
        for bad in ["image", "*/png", "image/png; charset=utf-8", "image/png, text/html", ""] {
            assert!(check_type_pattern(bad).is_err(), "{bad}");
        }
    }
}
