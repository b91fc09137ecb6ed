//! Limits: counter keys, window names and the text the gateway shows for them.

use crate::{LimitRequest, ScopeKind, model::Limit};

/// Separates the parts of a counter key. Counter names may not contain
/// control characters (checked at load), so keys cannot collide.
const SEP: char = '\u{1f}';

impl ScopeKind {
    /// The name used in the policy file and in keys: `grant`, `identity`,
    /// `session` or `global`.
    pub fn as_str(self) -> &'static str {
        match self {
            ScopeKind::Grant => "grant",
            ScopeKind::Identity => "identity",
            ScopeKind::Session => "session",
            ScopeKind::Global => "global",
        }
    }
}

impl std::fmt::Display for ScopeKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Names a window for people: `"second"`, `"minute"`, `"hour"`, `"day"` for
/// those exact lengths, else `"<n> s"` (e.g. `"90 s"`).
pub fn describe_window(secs: u64) -> String {
    match secs {
        1 => "second".to_owned(),
        60 => "minute".to_owned(),
        3600 => "hour".to_owned(),
        86_400 => "day".to_owned(),
        n => format!("{n} s"),
    }
}

impl LimitRequest {
    /// One line for people, e.g. `10 per minute (counter
    /// connections.refresh_rate, scope grant)`, or for a spend cap
    /// `1000 per day of args.amount (counter spend, scope grant)`.
    pub fn describe(&self) -> String {
        let per = describe_window(self.window_secs);
        let of = match &self.increment_from {
            Some(path) => format!(" of {path}"),
            None => String::new(),
        };
        format!(
            "{} per {per}{of} (counter {}, scope {})",
            format_number(self.max),
            self.counter,
            self.scope
        )
    }
}

impl Limit {
    /// The storage key for this limit's counter in this call's scope.
    pub(crate) fn key(&self, scope: &crate::Scope<'_>) -> String {
        let value = match self.scope {
            ScopeKind::Grant => Some(scope.grant),
            ScopeKind::Identity => Some(scope.identity),
            ScopeKind::Session => Some(scope.session),
            ScopeKind::Global => None,
        };
        let kind = self.scope.as_str();
        let mut key =
            String::with_capacity(self.counter.len() + kind.len() + 2 + value.map_or(0, str::len));
        key.push_str(&self.counter);
        key.push(SEP);
        key.push_str(kind);
        if let Some(value) = value {
            key.push(SEP);
            key.push_str(value);
        }
        key
    }
}

/// Formats a number the way it would be written in a policy: `10`, not `10.0`.
pub(crate) fn format_number(n: f64) -> String {
    if n.fract() == 0.0 && n.abs() < 1e15 {
        format!("{}", n as i64)
    } else {
        format!("{n}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_have_names() {
        let cases = [
            (1, "second"),
            (60, "minute"),
            (3600, "hour"),
            (86_400, "day"),
            (90, "90 s"),
            (2, "2 s"),
        ];
        for (secs, want) in cases {
            assert_eq!(describe_window(secs), want, "{secs}");
        }
    }

    #[test]
    fn numbers_print_as_written() {
        assert_eq!(format_number(10.0), "10");
        assert_eq!(format_number(2.5), "2.5");
        assert_eq!(format_number(0.0), "0");
    }
}
