//! Editing a message by replacing a byte range, leaving every other byte as it came.

use std::ops::Range;

/// The byte range of `inner` within `outer`. `inner` must be a sub-slice of `outer` (as the
/// `&RawValue`s borrowed from a parse are); this is computed from the two addresses, so no
/// searching and no ambiguity when the same text occurs twice.
///
/// # Panics
/// If `inner` does not lie within `outer`: that is a bug in the caller, never an input problem.
pub fn span_of(outer: &str, inner: &str) -> Range<usize> {
    let start = (inner.as_ptr() as usize)
        .checked_sub(outer.as_ptr() as usize)
        .filter(|s| s + inner.len() <= outer.len())
        .expect("span_of: inner is not a sub-slice of outer");
    start..start + inner.len()
}

/// `raw` with `span` replaced by `with`.
pub fn replace_span(raw: &str, span: Range<usize>, with: &str) -> String {
    let mut out = String::with_capacity(raw.len() - span.len() + with.len());
    out.push_str(&raw[..span.start]);
    out.push_str(with);
    out.push_str(&raw[span.end..]);
    out
}

/// `raw` (a parsed message) with its id replaced by `new_id` (raw JSON text). `None` when the
/// message has no id.
pub fn replace_id(msg: &crate::Message<'_>, new_id: &str) -> Option<String> {
    msg.id_span()
        .map(|span| replace_span(msg.raw, span, new_id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_only_the_id() {
        let raw = r#"{"jsonrpc":"2.0","id":1,"method":"x","params":{"id":1,"a":  2.50}}"#;
        let m = crate::parse(raw).unwrap();
        assert_eq!(
            replace_id(&m, r#""w-9""#).unwrap(),
            r#"{"jsonrpc":"2.0","id":"w-9","method":"x","params":{"id":1,"a":  2.50}}"#
        );
    }
}
