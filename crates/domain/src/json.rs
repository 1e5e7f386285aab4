//! Limits on stored JSON documents that serde's own checks do not cover:
//! `RawValue` fields are validated without a recursion limit, so a document
//! could nest arbitrarily deep and break every later reader that builds a tree.

/// The deepest nesting of arrays and objects in `text`, a valid JSON document
/// (a scalar has depth 0). Counts iteratively, so any input is safe.
pub fn nesting_depth(text: &str) -> usize {
    let mut depth = 0usize;
    let mut deepest = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for byte in text.bytes() {
        if in_string {
            match byte {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match byte {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    deepest
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn depths() {
        assert_eq!(nesting_depth("1"), 0);
        assert_eq!(nesting_depth(r#""[[[""#), 0);
        assert_eq!(nesting_depth("{}"), 1);
        assert_eq!(nesting_depth(r#"{"a":[1,{"b":"]}\"{"}],"c":[]}"#), 3);
        assert_eq!(nesting_depth(&format!("{}{}", "[".repeat(500_000), "]".repeat(500_000))), 500_000);
    }
}
