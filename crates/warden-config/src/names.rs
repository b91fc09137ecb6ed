//! Name rules and "did you mean" suggestions.

/// Server and policy names: `[a-z0-9][a-z0-9_-]{0,62}` without `__`. They appear in URL
/// paths (`/mcp/<server>`) and in the aggregated endpoint's tool-name prefix
/// (`<server>__<tool>`, split at the first `__`), so they stay plain.
pub(crate) fn is_plain_name(name: &str) -> bool {
    let bytes = name.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= 63
        && (bytes[0].is_ascii_lowercase() || bytes[0].is_ascii_digit())
        && bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'_' || *b == b'-')
        && !name.contains("__")
}

/// The regular expression of [`is_plain_name`], for the schema and messages.
pub(crate) const PLAIN_NAME_PATTERN: &str = "^(?!.*__)[a-z0-9][a-z0-9_-]{0,62}$";

/// A plain name close to `name`, to suggest when it breaks the rule.
pub(crate) fn plain_version(name: &str) -> Option<String> {
    let mut out = String::new();
    for c in name.chars() {
        let c = c.to_ascii_lowercase();
        if c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-' {
            out.push(c);
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    while out.contains("__") {
        out = out.replace("__", "_");
    }
    let out = out.trim_matches(|c| c == '-' || c == '_');
    let out: String = out.chars().take(63).collect();
    is_plain_name(&out).then_some(out)
}

/// Identity names: what a JWT claim or `warden keys create` may carry, so any
/// text of 1 to 256 characters without whitespace or control characters
/// (`ci-agent`, `alice@example.com`, `auth0|12345`).
pub(crate) fn is_identity_name(name: &str) -> bool {
    let count = name.chars().count();
    (1..=256).contains(&count) && !name.chars().any(|c| c.is_whitespace() || c.is_control())
}

/// The candidate closest to `name`, if it is close enough to be a typo.
pub(crate) fn closest<'a>(
    name: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let lower = name.to_lowercase();
    candidates
        .into_iter()
        .map(|c| {
            (
                warden_policy::text::edit_distance(&lower, &c.to_lowercase()),
                c,
            )
        })
        .filter(|(d, c)| *d <= (c.chars().count().max(name.chars().count()) / 3).max(2))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// ` (did you mean "x"?)` or nothing.
pub(crate) fn did_you_mean<'a>(
    name: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> String {
    closest(name, candidates)
        .map(|c| format!(" (did you mean {c:?}?)"))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_names() {
        for ok in ["executor", "a", "0", "send-it_2", &"a".repeat(63)] {
            assert!(is_plain_name(ok), "{ok}");
        }
        for bad in [
            "",
            "Executor",
            "-a",
            "_a",
            "a.b",
            "a b",
            "é",
            &"a".repeat(64),
        ] {
            assert!(!is_plain_name(bad), "{bad}");
        }
        assert_eq!(
            plain_version("GitHub Server").as_deref(),
            Some("github-server")
        );
        assert_eq!(plain_version("@scope/pkg").as_deref(), Some("scope-pkg"));
        assert_eq!(plain_version("!!"), None);
    }

    #[test]
    fn identity_names() {
        assert!(is_identity_name("alice@example.com"));
        assert!(is_identity_name("auth0|12345"));
        assert!(!is_identity_name(""));
        assert!(!is_identity_name("a b"));
        assert!(!is_identity_name("a\u{7}"));
    }

    #[test]
    fn suggestions() {
        let names = ["executor", "sendit", "ci-agent"];
        assert_eq!(closest("exector", names), Some("executor"));
        assert_eq!(closest("SENDIT", names), Some("sendit"));
        assert_eq!(closest("ci-agnet", names), Some("ci-agent"));
        assert_eq!(closest("database", names), None);
    }
}
