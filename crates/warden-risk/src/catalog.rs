//! A server's tools as a Markdown catalogue for people: a summary table, then one section per
//! tool with its category, risk, rationale, evidence, description and recommended rule.
//!
//! Tool names, descriptions and property names come from the server and are untrusted: they
//! are written so that Markdown and HTML in them show as text (no links, no images, no
//! headings, no raw HTML), control and invisible characters are made visible, and code blocks
//! are fenced so that nothing inside can close them.

use std::fmt::Write as _;

use serde_json::Value;

use crate::classify::{Assessment, Category, Risk};

/// How much of a description a section quotes.
const DESCRIPTION_CHARS: usize = 600;

/// The catalogue of `server`'s `tools` (in the order given) with the rules of `policy` (as
/// [`recommend`](crate::recommend::recommend) makes it; a tool without a rule is reported as
/// hidden or denied by default).
pub fn markdown(server: &str, tools: &[(Value, Assessment)], policy: &Value) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# Tools of {}\n", escape(server));
    let _ = writeln!(out, "{}\n", summary(tools));
    out.push_str("| Tool | Category | Risk |\n|---|---|---|\n");
    for (i, (_, a)) in tools.iter().enumerate() {
        let _ = writeln!(
            out,
            "| [{}](#tool-{}) | {} | {} |",
            escape_or_unnamed(&a.name),
            i + 1,
            a.category,
            a.risk
        );
    }
    for (i, (tool, a)) in tools.iter().enumerate() {
        let _ = writeln!(out, "\n<a id=\"tool-{}\"></a>\n", i + 1);
        let _ = writeln!(out, "## {}\n", escape_or_unnamed(&a.name));
        let _ = writeln!(out, "- **Category:** {}", a.category);
        let _ = writeln!(out, "- **Risk:** {}", a.risk);
        let _ = writeln!(out, "- **Rationale:** {}", escape(&a.rationale));
        let evidence: Vec<String> = a.evidence.iter().map(|e| escape(e)).collect();
        let _ = writeln!(out, "- **Evidence:** {}", evidence.join("; "));
        if let Some(d) = tool.get("description").and_then(Value::as_str) {
            let d = d.split_whitespace().collect::<Vec<_>>().join(" ");
            if !d.is_empty() {
                let cut: String = d.chars().take(DESCRIPTION_CHARS).collect();
                let more = if cut.len() < d.len() { "…" } else { "" };
                let _ = writeln!(out, "- **Description:** {}{more}", escape(&cut));
            }
        }
        out.push('\n');
        out.push_str(&rule_text(&a.name, policy));
    }
    out
}

fn summary(tools: &[(Value, Assessment)]) -> String {
    let n = tools.len();
    let mut parts = Vec::new();
    for c in [
        Category::Read,
        Category::Write,
        Category::Destructive,
        Category::Execute,
        Category::Send,
        Category::Financial,
        Category::Admin,
    ] {
        let k = tools.iter().filter(|(_, a)| a.category == c).count();
        if k > 0 {
            parts.push(format!("{k} {c}"));
        }
    }
    let risky = tools.iter().filter(|(_, a)| a.risk >= Risk::High).count();
    let critical = tools
        .iter()
        .filter(|(_, a)| a.risk == Risk::Critical)
        .count();
    format!(
        "{n} tool{}{}{}; {risky} of high or critical risk ({critical} critical).",
        if n == 1 { "" } else { "s" },
        if parts.is_empty() { "" } else { ": " },
        parts.join(", ")
    )
}

/// The recommended rule for `name`, as a fenced JSON block, or why there is none.
fn rule_text(name: &str, policy: &Value) -> String {
    if let Some(rule) = policy.get("tools").and_then(|t| t.get(name)) {
        let json = visible_json(&serde_json::to_string_pretty(rule).unwrap_or_default());
        let fence = "`".repeat(3.max(longest_run(&json, '`') + 1));
        return format!("Recommended rule:\n\n{fence}json\n{json}\n{fence}\n");
    }
    let hidden = policy
        .get("hide")
        .and_then(Value::as_array)
        .is_some_and(|h| h.iter().any(|v| v.as_str() == Some(name)));
    if hidden {
        "Recommended: hidden (`hide`): neither listed nor callable.\n".to_owned()
    } else {
        "Recommended: no rule, so the policy's default (`deny`) refuses it.\n".to_owned()
    }
}

fn longest_run(text: &str, c: char) -> usize {
    let (mut best, mut cur) = (0, 0);
    for ch in text.chars() {
        if ch == c {
            cur += 1;
            best = best.max(cur);
        } else {
            cur = 0;
        }
    }
    best
}

/// JSON text with invisible and reordering characters written as `\u` escapes (still the
/// same JSON), so a code block shows them.
fn visible_json(json: &str) -> String {
    let mut out = String::with_capacity(json.len());
    for c in json.chars() {
        // Layout newlines stay; inside strings serde_json has escaped control characters.
        if invisible(c) && c != '\n' {
            let mut buf = [0u16; 2];
            for unit in c.encode_utf16(&mut buf) {
                let _ = write!(out, "\\u{unit:04x}");
            }
        } else {
            out.push(c);
        }
    }
    out
}

fn invisible(c: char) -> bool {
    c.is_control()
        || matches!(c,
            '\u{00ad}'
            | '\u{200b}'..='\u{200f}'
            | '\u{2028}'..='\u{202e}'
            | '\u{2060}'..='\u{2064}'
            | '\u{2066}'..='\u{2069}'
            | '\u{feff}'
            | '\u{e0000}'..='\u{e007f}')
}

fn escape_or_unnamed(name: &str) -> String {
    if name.is_empty() {
        "(unnamed)".to_owned()
    } else {
        escape(name)
    }
}

/// Untrusted text as inline Markdown that shows exactly the text: line breaks become spaces,
/// control and invisible characters are written as `\u{…}`, HTML's `<`, `>` and `&` become
/// entities, the characters that start Markdown syntax are backslash-escaped, and so are the
/// parts of what GitHub would turn into a link by itself (`www.`, `://`, `@`).
pub fn escape(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len() + 8);
    for (i, &c) in chars.iter().enumerate() {
        match c {
            '\n' | '\r' | '\t' => out.push(' '),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '\\' | '`' | '*' | '_' | '{' | '}' | '[' | ']' | '(' | ')' | '#' | '+' | '-' | '!'
            | '|' | '~' | '@' => {
                out.push('\\');
                out.push(c);
            }
            ':' if chars.get(i + 1) == Some(&'/') => out.push_str("\\:"),
            '.' if i >= 3
                && chars[i - 3..i]
                    .iter()
                    .collect::<String>()
                    .eq_ignore_ascii_case("www") =>
            {
                out.push_str("\\.")
            }
            c if invisible(c) => {
                let _ = write!(out, "\\\\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::{classify, recommend};
    use serde_json::json;

    #[test]
    fn escapes_markdown_and_html() {
        assert_eq!(escape("plain words 42"), "plain words 42");
        assert_eq!(escape("a_b*c"), "a\\_b\\*c");
        assert_eq!(escape("[x](http://e)"), "\\[x\\]\\(http\\://e\\)");
        assert_eq!(
            escape("see www.x.com or a@b.c: ok."),
            "see www\\.x.com or a\\@b.c: ok."
        );
        assert_eq!(escape("<img src=x>"), "&lt;img src=x&gt;");
        assert_eq!(escape("# H\n| t |"), "\\# H \\| t \\|");
        assert_eq!(escape("a\u{202e}b\u{1b}"), "a\\\\u{202e}b\\\\u{1b}");
    }

    #[test]
    fn a_catalogue() {
        let tools: Vec<(Value, Assessment)> = [
            json!({"name": "list_things", "description": "List things."}),
            json!({"name": "evil_`[x](y)`", "description": "Delete <b>all</b> things.\n# Heading"}),
            json!({"name": "gone", "description": "List gone things."}),
        ]
        .into_iter()
        .map(|t| {
            let a = classify(&t);
            (t, a)
        })
        .collect();
        let policy = recommend(&tools, &["gone".to_owned()]);
        let md = markdown("my*server", &tools, &policy);
        assert!(md.starts_with("# Tools of my\\*server\n"), "{md}");
        assert!(
            md.contains("| [list\\_things](#tool-1) | read | low |"),
            "{md}"
        );
        assert!(md.contains("## evil\\_\\`\\[x\\]\\(y\\)\\`"), "{md}");
        assert!(md.contains("&lt;b&gt;all&lt;/b&gt;"), "{md}");
        assert!(!md.contains("\n# Heading"), "{md}");
        assert!(md.contains("```json\n{\n  \"action\": \"allow\""), "{md}");
        assert!(md.contains("Recommended: hidden"), "{md}");
        assert!(
            md.contains("3 tools: 2 read, 1 destructive; 1 of high or critical risk (0 critical)."),
            "{md}"
        );
    }

    #[test]
    fn fences_outlast_backticks_and_show_invisibles() {
        let t = json!({"name": "x```y\u{202e}", "description": "Run a command."});
        let a = classify(&t);
        let tools = vec![(t, a)];
        let policy = recommend(&tools, &[]);
        let md = markdown("s", &tools, &policy);
        assert!(md.contains("````json\n"), "{md}");
        assert!(md.contains("\\u202e"), "{md}");
        assert!(!md.contains('\u{202e}'), "{md}");
    }
}
