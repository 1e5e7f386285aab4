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

/// True when `content_type` matches one of `allowed` (`type/subtype`, `type/*`
/// or `*`); an empty list allows everything.
pub fn type_allowed(content_type: &str, allowed: &[String]) -> bool {
    let essence = content_type.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
    allowed.is_empty()
        || allowed.iter().any(|pattern| {
            let pattern = pattern.trim().to_ascii_lowercase();
            pattern == "*"
                || pattern == essence
                || pattern.strip_suffix("/*").is_some_and(|t| essence.split('/').next() == Some(t))
        })
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

    #[test]
    fn content_types() {
        assert_eq!(content_type_for("x.PNG"), "image/png");
        assert_eq!(content_type_for("noext"), "application/octet-stream");
        let allowed = vec!["image/*".to_owned(), "application/pdf".to_owned()];
        assert!(type_allowed("image/png", &allowed));
        assert!(type_allowed("application/pdf; charset=binary", &allowed));
        assert!(!type_allowed("text/html", &allowed));
        assert!(type_allowed("text/html", &[]));
        assert!(type_allowed("text/html", &["*".to_owned()]));
    }
}
