//! Media types and wire URLs for file parts, as assistant-ui declares them when
//! it hands an image, file or audio part to the AI SDK (`@assistant-ui/core`'s
//! `resolveImageMediaType`, `resolveFileMediaType` and `toMediaWireUrl`): an AI
//! SDK file part carries a `url` and a `mediaType`, while an `aui/v0` part may
//! carry a bare base64 payload and no type at all.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

/// The floor for an image whose type nothing declares: the AI SDK refuses a wildcard.
const IMAGE_FALLBACK: &str = "image/png";
const BINARY_FALLBACK: &str = "application/octet-stream";
const TEXT_FALLBACK: &str = "text/plain";

/// Leading bytes of the image formats browsers and attachment adapters produce;
/// `None` matches any byte (size fields of WebP, AVIF and HEIC).
const IMAGE_SIGNATURES: &[(&str, &[Option<u8>])] = &[
    ("image/gif", &[Some(0x47), Some(0x49), Some(0x46)]),
    ("image/png", &[Some(0x89), Some(0x50), Some(0x4e), Some(0x47)]),
    ("image/jpeg", &[Some(0xff), Some(0xd8)]),
    (
        "image/webp",
        &[
            Some(0x52),
            Some(0x49),
            Some(0x46),
            Some(0x46),
            None,
            None,
            None,
            None,
            Some(0x57),
            Some(0x45),
            Some(0x42),
            Some(0x50),
        ],
    ),
    ("image/bmp", &[Some(0x42), Some(0x4d)]),
    ("image/tiff", &[Some(0x49), Some(0x49), Some(0x2a), Some(0x00)]),
    ("image/tiff", &[Some(0x4d), Some(0x4d), Some(0x00), Some(0x2a)]),
    (
        "image/avif",
        &[
            None,
            None,
            None,
            None,
            Some(0x66),
            Some(0x74),
            Some(0x79),
            Some(0x70),
            Some(0x61),
            Some(0x76),
            Some(0x69),
            Some(0x66),
        ],
    ),
    (
        "image/heic",
        &[
            None,
            None,
            None,
            None,
            Some(0x66),
            Some(0x74),
            Some(0x79),
            Some(0x70),
            Some(0x68),
            Some(0x65),
            Some(0x69),
            Some(0x63),
        ],
    ),
];

/// A base64 data URL split into its media type (lowercase, without parameters;
/// `fallback` when it names none) and its compact payload.
struct DataUrl {
    media_type: String,
    payload: String,
}

fn parse_base64_data_url(value: &str, fallback: &str) -> Option<DataUrl> {
    let rest = strip_prefix_ignore_case(value, "data:")?;
    let (header, payload) = rest.split_once(',')?;
    let mut params = header.split(';');
    let media_type = params.next().unwrap_or_default();
    let params: Vec<&str> = params.collect();
    // `;base64` must be the last parameter, and every parameter must be non-empty.
    let (last, others) = params.split_last()?;
    if !last.eq_ignore_ascii_case("base64") || others.iter().any(|p| p.is_empty()) {
        return None;
    }
    let media_type = if media_type.is_empty() { fallback.to_owned() } else { media_type.to_ascii_lowercase() };
    Some(DataUrl { media_type, payload: percent_decode(payload).replace(['\t', '\n', '\r', ' '], "") })
}

/// A data URL's media type without parameters: `application/octet-stream` for
/// a base64 payload that names none, `text/plain` for any other.
pub fn data_url_media_type(value: &str) -> Option<String> {
    let rest = strip_prefix_ignore_case(value, "data:")?;
    let (header, _) = rest.split_once(',')?;
    let media_type = header.split(';').next().unwrap_or_default();
    if !media_type.is_empty() {
        return Some(media_type.to_ascii_lowercase());
    }
    let base64 = header.to_ascii_lowercase().ends_with(";base64");
    Some(if base64 { BINARY_FALLBACK } else { TEXT_FALLBACK }.to_owned())
}

/// Whether a payload is an absolute URL (a base64 payload never has a scheme).
pub fn is_url(value: &str) -> bool {
    url::Url::parse(value).is_ok()
}

/// The image type the leading bytes of a base64 payload identify.
fn sniff_image(base64: &str) -> Option<&'static str> {
    let prefix: String = base64.chars().take(16).collect();
    let aligned = &prefix[..prefix.len() - prefix.len() % 4];
    let bytes = STANDARD.decode(aligned).ok()?;
    IMAGE_SIGNATURES
        .iter()
        .find(|(_, signature)| {
            bytes.len() >= signature.len()
                && signature.iter().zip(&bytes).all(|(expected, byte)| expected.is_none_or(|e| e == *byte))
        })
        .map(|(media_type, _)| *media_type)
}

/// The media type of an image part: the attachment's declared type, the data
/// URL's, the payload's leading bytes, then `image/png`.
pub fn image_media_type(image: &str, content_type: Option<&str>) -> String {
    let concrete_image = |t: &str| t.starts_with("image/") && !t.contains('*');
    if let Some(declared) = content_type.filter(|t| concrete_image(t)) {
        return declared.to_owned();
    }
    if let Some(declared) = data_url_media_type(image).filter(|t| concrete_image(t)) {
        return declared;
    }
    let payload = match parse_base64_data_url(image, BINARY_FALLBACK) {
        Some(data_url) => Some(data_url.payload),
        None if !is_url(image) => Some(image.to_owned()),
        None => None,
    };
    payload.as_deref().and_then(sniff_image).unwrap_or(IMAGE_FALLBACK).to_owned()
}

/// The media type of a file part: its own, the data URL's, then `application/octet-stream`.
pub fn file_media_type(data: &str, mime_type: Option<&str>) -> String {
    match mime_type.filter(|t| !t.is_empty()) {
        Some(declared) => declared.to_owned(),
        None => data_url_media_type(data).unwrap_or_else(|| BINARY_FALLBACK.to_owned()),
    }
}

/// A payload for a URL field: URLs pass unchanged, a data URL is re-declared
/// when its type disagrees with `media_type`, a bare payload is wrapped as base64.
pub fn wire_url(payload: &str, media_type: &str) -> String {
    if let Some(data_url) = parse_base64_data_url(payload, "") {
        if data_url.media_type != media_type {
            return format!("data:{media_type};base64,{}", data_url.payload);
        }
        let (head, tail) = payload.split_once(',').unwrap_or((payload, ""));
        return if data_url.payload == tail { payload.to_owned() } else { format!("{head},{}", data_url.payload) };
    }
    if let Some(rest) = strip_prefix_ignore_case(payload, "data:")
        && let Some((header, body)) = rest.split_once(',')
        && header.split(';').next() == Some("")
    {
        return format!("data:{media_type}{header},{body}");
    }
    if is_url(payload) {
        return payload.to_owned();
    }
    format!("data:{media_type};base64,{payload}")
}

fn strip_prefix_ignore_case<'a>(value: &'a str, prefix: &str) -> Option<&'a str> {
    let head = value.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix).then(|| &value[prefix.len()..])
}

/// Decodes `%XX` escapes (base64 never contains `%`, so this only undoes URL escaping).
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%'
            && let (Some(high), Some(low)) =
                (bytes.get(i + 1).copied().and_then(hex), bytes.get(i + 2).copied().and_then(hex))
        {
            out.push((high * 16 + low) as u8);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    const PNG_BASE64: &str =
        "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==";

    #[test]
    fn image_types_come_from_the_declaration_then_the_data_url_then_the_bytes() {
        assert_eq!(image_media_type("https://x.example/a", Some("image/webp")), "image/webp");
        assert_eq!(image_media_type("https://x.example/a", Some("image/*")), "image/png");
        assert_eq!(image_media_type("data:image/gif;base64,R0lGOD", None), "image/gif");
        assert_eq!(image_media_type(&format!("data:application/octet-stream;base64,{PNG_BASE64}"), None), "image/png");
        assert_eq!(image_media_type("/9j/4AAQSkZJRgABAQ", None), "image/jpeg");
        assert_eq!(image_media_type("https://x.example/cat", None), "image/png");
    }

    #[test]
    fn file_types_fall_back_to_the_data_url_then_octet_stream() {
        assert_eq!(file_media_type("x", Some("application/pdf")), "application/pdf");
        assert_eq!(file_media_type("data:text/csv;base64,YQ==", Some("")), "text/csv");
        assert_eq!(file_media_type("data:;base64,YQ==", None), "application/octet-stream");
        assert_eq!(file_media_type("data:,hello", None), "text/plain");
        assert_eq!(file_media_type("https://x.example/f", None), "application/octet-stream");
    }

    #[test]
    fn wire_urls_wrap_bare_payloads_and_keep_urls() {
        assert_eq!(wire_url("https://x.example/f.pdf", "application/pdf"), "https://x.example/f.pdf");
        assert_eq!(wire_url("YWJj", "text/plain"), "data:text/plain;base64,YWJj");
        assert_eq!(wire_url("data:image/png;base64,YWJj", "image/png"), "data:image/png;base64,YWJj");
        assert_eq!(wire_url("data:application/octet-stream;base64,YWJj", "image/png"), "data:image/png;base64,YWJj");
        assert_eq!(wire_url("data:image/png;base64,YW%4Aj", "image/png"), "data:image/png;base64,YWJj");
        assert_eq!(wire_url("data:,hi%20there", "text/plain"), "data:text/plain,hi%20there");
    }
}
