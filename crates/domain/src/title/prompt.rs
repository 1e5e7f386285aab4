//! What a title model reads and what comes back: the text it is given (the
//! first user message and the first reply, within the hosted limits), its
//! instructions, and the cleaning every answer goes through before it becomes
//! a thread title.

use serde_json::Value;

use super::settings::TitleSettings;
use super::{message_role, message_text, title_from_text};
use crate::limits::TEXT_ID_MAX;

/// The text a model reads: at most this many characters, of which the first
/// reply keeps at most [`REPLY_MAX_CHARS`].
pub const INPUT_MAX_CHARS: usize = 8_000;
pub const REPLY_MAX_CHARS: usize = 500;
/// A title: one line of 1–255 characters, like any title a client sets.
pub const TITLE_MAX_CHARS: usize = TEXT_ID_MAX;

/// The text of a conversation a title is made from: the first user message
/// with text, and the first assistant message (its text, if any).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TitleSource {
    pub user: String,
    pub reply: Option<String>,
}

impl TitleSource {
    /// From messages oldest first, in any shape the client sends or stores
    /// (`aui/v0` `content`, AI SDK `parts`, a plain string). Only `user` and
    /// `assistant` messages count, and only their text parts; `None` when no
    /// user message has text.
    pub fn from_messages<'a>(messages: impl IntoIterator<Item = &'a Value>) -> Option<Self> {
        let mut user = None;
        let mut reply = None;
        for message in messages {
            match message_role(message) {
                Some("user") if user.is_none() => {
                    let text = message_text(message);
                    if !text.trim().is_empty() {
                        user = Some(text);
                    }
                }
                Some("assistant") if reply.is_none() => reply = Some(message_text(message)),
                _ => {}
            }
        }
        let reply = reply.filter(|text| !text.trim().is_empty());
        user.map(|user| TitleSource { user, reply })
    }

    /// What the model reads: the reply cut to 500 characters, the user's text
    /// to what is left of 8,000.
    pub fn model_input(&self) -> String {
        let reply = self.reply.as_deref().map(|reply| cut(reply.trim(), REPLY_MAX_CHARS));
        let budget = INPUT_MAX_CHARS - reply.map_or(0, |reply| reply.chars().count());
        let user = cut(self.user.trim(), budget);
        match reply {
            Some(reply) => format!("User: {user}\n\nAssistant: {reply}"),
            None => format!("User: {user}"),
        }
    }

    /// The built-in title of this conversation (the fallback).
    pub fn builtin_title(&self) -> Option<String> {
        title_from_text(&self.user)
    }
}

/// The system prompt: the hosted service's, with the length and language
/// settings filled in and the instructions as a second line.
pub fn system_prompt(settings: &TitleSettings) -> String {
    let language = match &settings.language {
        Some(tag) => format!("the language with code {tag}"),
        None => "the language the user writes in".to_owned(),
    };
    let mut prompt = format!(
        "Write a title for this conversation. At most {} words, in {language}, no quotes and no trailing \
         punctuation. Name the subject, not the assistant. Answer with the title alone.",
        settings.words
    );
    if !settings.instructions.is_empty() {
        prompt.push('\n');
        prompt.push_str(&settings.instructions);
    }
    prompt
}

/// A model's answer as a thread title: its first line without reasoning
/// blocks, markdown, quotes, a `Title:` label, control characters or trailing
/// punctuation, whitespace collapsed, at most 255 characters (cut at a word
/// where one is near). `None` when nothing is left.
pub fn clean_title(raw: &str) -> Option<String> {
    let text = without_thinking(raw);
    let line = text
        .lines()
        .map(str::trim)
        .find(|line| !line.is_empty() && !line.starts_with("```") && !line.chars().all(is_decoration))?;
    let line = line.trim_start_matches(|c: char| matches!(c, '#' | '>' | '-' | '+' | '•') || c.is_whitespace());
    let mut plain = String::with_capacity(line.len());
    for c in unlink(line).chars() {
        if c.is_control() || c.is_whitespace() {
            if !plain.ends_with(' ') && !plain.is_empty() {
                plain.push(' ');
            }
        } else if !is_decoration(c) {
            plain.push(c);
        }
    }
    let mut title = strip_label(plain.trim());
    for (open, close) in [('\'', '\''), ('‘', '’'), ('(', ')'), ('[', ']')] {
        if let Some(inner) = title.strip_prefix(open).and_then(|rest| rest.strip_suffix(close))
            && !inner.contains([open, close])
        {
            title = inner.trim();
        }
    }
    let title = trim_trailing(title);
    let title = trim_trailing(cut_at_word(title, TITLE_MAX_CHARS));
    (!title.is_empty()).then(|| title.to_owned())
}

/// Markdown emphasis and code marks, and every kind of double quote.
fn is_decoration(c: char) -> bool {
    matches!(c, '*' | '`' | '"' | '“' | '”' | '„' | '«' | '»' | '「' | '」' | '『' | '』' | '＂')
}

/// Removes `<think>…</think>` blocks (reasoning models served by Ollama or
/// vLLM put them into the answer); an unclosed one takes the rest with it.
fn without_thinking(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find("<think>") {
        out.push_str(&rest[..start]);
        match rest[start..].find("</think>") {
            Some(end) => rest = &rest[start + end + "</think>".len()..],
            None => return out,
        }
    }
    out.push_str(rest);
    out
}

/// Markdown links `[text](url)` become their text.
fn unlink(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(open) = rest.find('[') {
        let Some(close) = rest[open..].find("](").map(|i| open + i) else { break };
        let Some(end) = rest[close..].find(')').map(|i| close + i) else { break };
        out.push_str(&rest[..open]);
        out.push_str(&rest[open + 1..close]);
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    out
}

/// Drops a leading `Title:` label, in any case.
fn strip_label(text: &str) -> &str {
    let label = "title:";
    match text.get(..label.len()) {
        Some(head) if head.eq_ignore_ascii_case(label) => text[label.len()..].trim_start(),
        _ => text,
    }
}

fn trim_trailing(text: &str) -> &str {
    text.trim_end_matches(|c: char| matches!(c, '.' | ',' | ';' | ':' | '…' | '-' | '–' | '—') || c.is_whitespace())
        .trim_start()
}

/// At most `max` characters: cut at the last space when one is in the last
/// fifth, else mid-word.
fn cut_at_word(text: &str, max: usize) -> &str {
    let head = cut(text, max);
    if head.len() == text.len() {
        return head;
    }
    match head.rfind(' ') {
        Some(space) if head[..space].chars().count() >= max * 4 / 5 => &head[..space],
        _ => head,
    }
}

/// The first `max` characters of `text`.
fn cut(text: &str, max: usize) -> &str {
    match text.char_indices().nth(max) {
        Some((end, _)) => &text[..end],
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::title::settings::{ApiKeySource, TitleSettings};
    use proptest::prelude::*;
    use serde_json::json;

    #[test]
    fn answers_become_clean_titles() {
        let cases = [
            ("Sourdough baking basics", "Sourdough baking basics"),
            ("  \"Sourdough Baking Basics.\"  \n", "Sourdough Baking Basics"),
            ("“Planning a Kyoto trip”", "Planning a Kyoto trip"),
            ("**Title:** Rust *lifetimes* explained", "Rust lifetimes explained"),
            ("Title: Refund for order 1042", "Refund for order 1042"),
            ("## Fixing `serde` errors\nsecond line", "Fixing serde errors"),
            ("\n\n- Monads in Haskell;", "Monads in Haskell"),
            ("'Tax questions'", "Tax questions"),
            ("Don't panic: a Rust guide", "Don't panic: a Rust guide"),
            ("<think>The user asks about bread.\nMaybe.</think>\nBread basics", "Bread basics"),
            ("[Lisbon travel](https://example.com) tips", "Lisbon travel tips"),
            ("What is a monad?", "What is a monad?"),
            ("Fix\tmy\u{7}code", "Fix my code"),
            ("```\nCode review\n```", "Code review"),
            ("¿Cómo hornear pan?", "¿Cómo hornear pan?"),
            ("日本語のタイトル。", "日本語のタイトル。"),
        ];
        for (answer, title) in cases {
            assert_eq!(clean_title(answer).as_deref(), Some(title), "{answer:?}");
        }
    }

    #[test]
    fn empty_answers_are_no_title() {
        for answer in ["", "   \n\t", "\"\"", "**", "<think>still thinking", "...", "```\n```", "Title:"] {
            assert_eq!(clean_title(answer), None, "{answer:?}");
        }
    }

    #[test]
    fn long_answers_are_cut_to_255_characters_at_a_word() {
        let title = clean_title(&"word ".repeat(100)).expect("title");
        assert!(title.chars().count() <= 255 && title.ends_with("word"), "{title}");
        let unbroken = clean_title(&"é".repeat(400)).expect("title");
        assert_eq!(unbroken.chars().count(), 255);
    }

    #[test]
    fn the_source_is_the_first_user_text_and_the_first_reply() {
        let messages = [
            json!({"role": "system", "content": [{"type": "text", "text": "You are helpful"}]}),
            json!({"role": "user", "content": [{"type": "image", "image": "data:"}]}),
            json!({"role": "assistant", "parts": [{"type": "text", "text": "Hello! Ask me anything."}]}),
            json!({"role": "user", "content": [{"type": "text", "text": "Explain monads"}]}),
            json!({"role": "assistant", "content": "A second reply"}),
            json!({"role": "user", "content": "later"}),
        ];
        let source = TitleSource::from_messages(&messages).expect("source");
        assert_eq!(source.user, "Explain monads");
        assert_eq!(source.reply.as_deref(), Some("Hello! Ask me anything."));
        assert_eq!(source.builtin_title().as_deref(), Some("Explain monads"));
        assert_eq!(TitleSource::from_messages(&messages[..3]), None, "no user text: no title");
        let empty_reply = [json!({"role": "assistant", "content": []}), json!({"role": "user", "content": "Hi"})];
        assert_eq!(TitleSource::from_messages(&empty_reply).expect("source").reply, None);
    }

    #[test]
    fn the_input_keeps_the_hosted_limits() {
        let long = TitleSource { user: "y".repeat(20_000), reply: Some("x".repeat(2_000)) };
        let input = long.model_input();
        assert_eq!(input.matches('x').count(), REPLY_MAX_CHARS);
        assert_eq!(input.matches('y').count(), INPUT_MAX_CHARS - REPLY_MAX_CHARS);
        let alone = TitleSource { user: "ü".repeat(20_000), reply: None };
        assert_eq!(alone.model_input().matches('ü').count(), INPUT_MAX_CHARS, "the user's text alone fills 8,000");
        let short = TitleSource { user: " Hi ".into(), reply: Some("Hello".into()) };
        assert_eq!(short.model_input(), "User: Hi\n\nAssistant: Hello");
    }

    #[test]
    fn the_prompt_carries_length_language_and_instructions() {
        let mut settings = TitleSettings::new("p", "http://x", "m", ApiKeySource::None);
        let prompt = system_prompt(&settings);
        assert!(prompt.starts_with("Write a title for this conversation. At most 6 words, in the language the user"));
        assert!(!prompt.contains('\n'));
        settings.words = 3;
        settings.language = Some("de".into());
        settings.instructions = "Call the product Acme.".into();
        let prompt = system_prompt(&settings);
        assert!(prompt.contains("At most 3 words, in the language with code de,"), "{prompt}");
        assert!(prompt.ends_with("\nCall the product Acme."), "{prompt}");
    }

    proptest! {
        #[test]
        fn cleaned_titles_are_one_short_clean_line(answer in any::<String>()) {
            if let Some(title) = clean_title(&answer) {
                prop_assert!(!title.is_empty() && title.chars().count() <= TITLE_MAX_CHARS);
                prop_assert!(!title.chars().any(|c| c.is_control() || is_decoration(c)), "{:?}", title);
                prop_assert_eq!(title.trim(), title.as_str());
                prop_assert!(!title.contains("  "));
            }
        }
    }
}
