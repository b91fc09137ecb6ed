//! Load-time problems, each with a JSON Pointer and a line/column.

use std::fmt;

/// One thing wrong with a policy file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The file name given to [`Policy::from_json`](crate::Policy::from_json).
    pub source: String,
    /// JSON Pointer to the offending value (for an unknown field, the field
    /// itself; for a missing field, where it belongs). Empty for the whole
    /// document (syntax errors).
    pub pointer: String,
    /// 1-based line of the offending value or key.
    pub line: usize,
    /// 1-based column, counted in characters.
    pub column: usize,
    /// What is wrong and how to fix it.
    pub message: String,
}

impl fmt::Display for Problem {
    /// `file:line:col: /pointer: message`; the pointer part is left out when
    /// the problem concerns the whole document.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}: ", self.source, self.line, self.column)?;
        if !self.pointer.is_empty() {
            write!(f, "{}: ", self.pointer)?;
        }
        f.write_str(&self.message)
    }
}

/// Every problem found in a policy file, in document order. Never empty when
/// returned by [`Policy::from_json`](crate::Policy::from_json).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", lines(.0))]
pub struct Problems(pub Vec<Problem>);

fn lines(problems: &[Problem]) -> String {
    let mut out = String::new();
    for (i, p) in problems.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        out.push_str(&p.to_string());
    }
    out
}
