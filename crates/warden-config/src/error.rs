//! Problems found while loading a config: each names the file, the field, the
//! position when known, what is wrong and the fix.

use std::fmt;
use std::path::PathBuf;

/// A 1-based line and column (columns count characters, not bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Position {
    /// 1-based line.
    pub line: usize,
    /// 1-based column, in characters.
    pub column: usize,
}

impl From<(usize, usize)> for Position {
    /// From a `(line, column)` pair, as [`warden_policy::text::LineIndex`] gives them.
    fn from((line, column): (usize, usize)) -> Position {
        Position { line, column }
    }
}

/// One problem in a config file or in a file it names (a policy file).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The file the problem is in: the config file, or a policy file it names
    /// (then `field` is a JSON Pointer into that policy).
    pub file: PathBuf,
    /// Where in the file: a TOML-style path such as `servers.executor.lifecycle`,
    /// `grants[1].identity` or `identities."alice@example.com"`; a JSON Pointer
    /// such as `/tools/connections.refresh/limits/0` for a problem inside a
    /// policy file. Empty for a problem about the whole file (a syntax error,
    /// an unreadable file).
    pub field: String,
    /// Line and column when known: always for syntax errors, unknown fields
    /// and bad values; `None` when the file could not be read at all.
    pub position: Option<Position>,
    /// What is wrong and how to fix it.
    pub message: String,
}

impl fmt::Display for ConfigError {
    /// `file:line:col: field: message`; `:line:col` is left out when unknown,
    /// `field: ` when the problem concerns the whole file.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(p) = self.position {
            write!(f, ":{}:{}", p.line, p.column)?;
        }
        f.write_str(": ")?;
        if !self.field.is_empty() {
            write!(f, "{}: ", self.field)?;
        }
        f.write_str(&self.message)
    }
}

impl std::error::Error for ConfigError {}

/// Every problem found while loading a config, in the order found (the
/// config file in document order, then the policy files). Never empty when
/// returned by [`load`](crate::load).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", lines(.0))]
pub struct ConfigErrors(pub Vec<ConfigError>);

fn lines(errors: &[ConfigError]) -> String {
    errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n")
}
