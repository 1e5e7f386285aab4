//! The built-in thread title generator: no model, just a short, clean title
//! taken from the first user message. It is the default, and the fallback when
//! a project's title model fails ([`settings`], [`prompt`]).

pub mod prompt;
pub mod settings;
pub mod state;

use serde_json::Value;

const MAX_WORDS: usize = 8;
const MAX_CHARS: usize = 60;

/// The plain text of a message in any of the shapes the client sends:
/// `aui/v0` (`content: [{type:"text", text}]`), AI SDK (`parts: [...]`), the
/// title request (`content` as parts or a string).
pub fn message_text(message: &Value) -> String {
    let parts = message.get("content").or_else(|| message.get("parts"));
    match parts {
        Some(Value::String(text)) => text.clone(),
        Some(Value::Array(parts)) => parts
            .iter()
            .filter(|part| part.get("type").and_then(Value::as_str) == Some("text"))
            .filter_map(|part| part.get("text").and_then(Value::as_str))
            .collect::<Vec<_>>()
            .join(" "),
        _ => String::new(),
    }
}

/// The role of a message (`content.role` in stored rows, `role` in requests).
pub fn message_role(message: &Value) -> Option<&str> {
    message.get("role").and_then(Value::as_str)
}

/// A title from the first user message among `messages` that has text.
pub fn title_from_messages<'a>(messages: impl IntoIterator<Item = &'a Value>) -> Option<String> {
    messages.into_iter().filter(|m| message_role(m) == Some("user")).find_map(|m| title_from_text(&message_text(m)))
}

/// A short title from free text: the first line, at most eight words or about
/// sixty characters, without markdown decoration or trailing punctuation.
pub fn title_from_text(text: &str) -> Option<String> {
    // Titles never hold control characters: a NUL or tab in the text separates words.
    let text: String = text.chars().map(|c| if c.is_control() && c != '\n' { ' ' } else { c }).collect();
    let line = text.lines().map(str::trim).find(|l| !l.is_empty())?;
    let line = line.trim_start_matches(|c: char| matches!(c, '#' | '>' | '*' | '-' | '`' | '_') || c.is_whitespace());
    let mut title = String::new();
    for (count, word) in line.split_whitespace().enumerate() {
        let grown = title.chars().count() + word.chars().count() + usize::from(!title.is_empty());
        if count == MAX_WORDS || (count > 0 && grown > MAX_CHARS) {
            break;
        }
        if !title.is_empty() {
            title.push(' ');
        }
        title.push_str(word);
    }
    let mut title: String = title.chars().take(MAX_CHARS).collect();
    let trimmed_len = title.trim_end_matches(|c: char| c.is_ascii_punctuation() && c != ')' || c.is_whitespace()).len();
    title.truncate(trimmed_len);
    let title = title.trim_matches(|c: char| matches!(c, '"' | '\'' | '“' | '”' | '`'));
    let mut chars = title.chars();
    let first = chars.next()?;
    Some(first.to_uppercase().chain(chars).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn short_question() {
        assert_eq!(
            title_from_text("how do I bake sourdough bread at home?").as_deref(),
            Some("How do I bake sourdough bread at home")
        );
    }

    #[test]
    fn long_text_is_cut_at_a_word() {
        let title =
            title_from_text("Please summarise the following quarterly report for the board of directors in detail")
                .unwrap();
        assert_eq!(title, "Please summarise the following quarterly report for the");
        assert!(title.chars().count() <= MAX_CHARS);
    }

    #[test]
    fn markdown_and_blank_lines() {
        assert_eq!(title_from_text("\n\n  ## Fix my *Rust* code\nmore").as_deref(), Some("Fix my *Rust* code"));
        assert_eq!(title_from_text("   \n "), None);
        assert_eq!(title_from_text("hello\0world\tagain").as_deref(), Some("Hello world again"));
        assert_eq!(title_from_text("\0\u{7}\n\u{85}"), None);
        assert_eq!(title_from_text("???"), None);
    }

    #[test]
    fn one_huge_word_is_bounded() {
        let title = title_from_text(&"x".repeat(500)).unwrap();
        assert_eq!(title.chars().count(), MAX_CHARS);
    }

    #[test]
    fn unicode_is_kept_whole() {
        assert_eq!(title_from_text("¿cómo estás, señor?").as_deref(), Some("¿cómo estás, señor"));
        assert_eq!(title_from_text("日本語のタイトル").as_deref(), Some("日本語のタイトル"));
    }

    #[test]
    fn from_message_shapes() {
        let aui = json!({"role":"user","content":[{"type":"image","image":"x"},{"type":"text","text":"Plan a trip to Lisbon"}]});
        let sdk = json!({"role":"user","parts":[{"type":"text","text":"Explain monads"}]});
        let plain = json!({"role":"user","content":"hello there"});
        let assistant = json!({"role":"assistant","content":[{"type":"text","text":"Hi"}]});
        assert_eq!(title_from_messages([&assistant, &aui]).as_deref(), Some("Plan a trip to Lisbon"));
        assert_eq!(title_from_messages([&sdk]).as_deref(), Some("Explain monads"));
        assert_eq!(title_from_messages([&plain]).as_deref(), Some("Hello there"));
        assert_eq!(title_from_messages([&assistant]), None);
    }
}
