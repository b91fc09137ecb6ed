//! Text for people: values made safe to print on a terminal, and aligned tables. Shared by the
//! audit view and the command line, so every table Warden prints looks alike.

/// `text` with what could garble or deceive a terminal made visible: control characters
/// (including ANSI escapes) and the invisible or reordering Unicode format characters used to
/// hide text (zero-width characters, bidirectional overrides, the BOM) are written as escapes
/// (`\n`, `\u{1b}`, `\u{202e}`). Audit values come from clients and servers, so they are
/// untrusted; a table must show them, not obey them.
pub fn printable(text: &str) -> String {
    if !text.chars().any(needs_escape) {
        return text.to_owned();
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if c.is_control() {
            out.extend(c.escape_debug());
        } else if needs_escape(c) {
            out.push_str(&format!("\\u{{{:x}}}", c as u32));
        } else {
            out.push(c);
        }
    }
    out
}

fn needs_escape(c: char) -> bool {
    c.is_control()
        || matches!(c,
            '\u{00ad}'                  // soft hyphen
            | '\u{200b}'..='\u{200f}'   // zero-width space/joiners, LRM, RLM
            | '\u{2028}'..='\u{202e}'   // separators, bidirectional embeddings and overrides
            | '\u{2060}'..='\u{2064}'   // word joiner, invisible operators
            | '\u{2066}'..='\u{2069}'   // bidirectional isolates
            | '\u{feff}'                // byte order mark
            | '\u{e0000}'..='\u{e007f}' // tag characters
        )
}

/// `text` cut to at most `max` characters, ending in `…` when cut.
pub fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut out: String = text.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// Left-aligned columns, two spaces apart, a header row first. The last column is not padded
/// and no line has trailing spaces.
pub fn table<const N: usize>(header: [&str; N], rows: &[[String; N]]) -> String {
    let mut widths = header.map(|h| h.chars().count());
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    out.push_str(&table_line(&header, &widths));
    for row in rows {
        out.push_str(&table_line(row, &widths));
    }
    out
}

/// One line of a table with these column `widths` (a cell wider than its column pushes the
/// rest right rather than being cut), ending in a newline.
pub fn table_line<S: AsRef<str>>(cells: &[S], widths: &[usize]) -> String {
    let mut text = String::new();
    for (i, cell) in cells.iter().enumerate() {
        let cell = cell.as_ref();
        text.push_str(cell);
        if i + 1 < cells.len() {
            let w = widths.get(i).copied().unwrap_or(0);
            let pad = w.saturating_sub(cell.chars().count()) + 2;
            text.extend(std::iter::repeat_n(' ', pad));
        }
    }
    let mut line = text.trim_end().to_owned();
    line.push('\n');
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn printable_shows_what_would_hide() {
        assert_eq!(printable("plain é 名"), "plain é 名");
        assert_eq!(printable("a\nb\tc"), "a\\nb\\tc");
        assert_eq!(printable("\u{1b}[31mred"), "\\u{1b}[31mred");
        assert_eq!(printable("safe\u{202e}txt.exe"), "safe\\u{202e}txt.exe");
        assert_eq!(printable("zero\u{200b}width"), "zero\\u{200b}width");
    }

    #[test]
    fn truncation() {
        assert_eq!(truncate("short", 10), "short");
        assert_eq!(truncate("abcdefghij", 5), "abcd…");
    }

    #[test]
    fn table_aligns_columns() {
        let rows = [
            ["a".to_owned(), "long value".to_owned()],
            ["bbb".to_owned(), "x".to_owned()],
        ];
        assert_eq!(
            table(["K", "V"], &rows),
            "K    V\na    long value\nbbb  x\n"
        );
    }
}
