//! `${VAR}` expansion of upstream settings from the gateway's environment.
//!
//! Only the config file's own strings are expanded, never anything a client
//! sends: expanding client input would let an agent read the gateway's
//! secrets.

/// One thing wrong with a string's `${...}` references.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ExpandError {
    /// `${NAME}` names a variable that is not set.
    Unset(String),
    /// `${` without a closing `}`.
    Unclosed,
    /// `${...}` whose inside is not a variable name.
    BadName(String),
}

impl ExpandError {
    /// The message, with the fix.
    pub(crate) fn message(&self) -> String {
        match self {
            ExpandError::Unset(name) => format!(
                "environment variable {name} is not set; set it in warden's environment, \
                 or write $${{ for a literal ${{"
            ),
            ExpandError::Unclosed => {
                "`${` is not closed; write ${NAME}, or $${ for a literal ${".to_owned()
            }
            ExpandError::BadName(inner) => format!(
                "`${{{inner}}}` is not a variable reference: a name is letters, digits and _ \
                 and does not start with a digit (defaults such as ${{NAME:-x}} are not \
                 supported); write $${{ for a literal ${{"
            ),
        }
    }
}

/// Replaces every `${NAME}` with the variable's value and every `$${` with a
/// literal `${`; any other `$` stays as it is. Reports every problem.
pub(crate) fn expand(
    text: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<String, Vec<ExpandError>> {
    let mut out = String::with_capacity(text.len());
    let mut errors = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i..];
        if let Some(tail) = after.strip_prefix("$${") {
            out.push_str("${");
            rest = tail;
        } else if let Some(tail) = after.strip_prefix("${") {
            let Some(end) = tail.find('}') else {
                errors.push(ExpandError::Unclosed);
                rest = "";
                break;
            };
            let name = &tail[..end];
            if is_var_name(name) {
                match env(name) {
                    Some(value) => out.push_str(&value),
                    None => errors.push(ExpandError::Unset(name.to_owned())),
                }
            } else {
                errors.push(ExpandError::BadName(name.to_owned()));
            }
            rest = &tail[end + 1..];
        } else {
            out.push('$');
            rest = &after[1..];
        }
    }
    out.push_str(rest);
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}

fn is_var_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "TOKEN" => Some("s3cret".into()),
            "EMPTY" => Some(String::new()),
            _ => None,
        }
    }

    #[test]
    fn expands_escapes_and_leaves_lone_dollars() {
        let cases = [
            ("Bearer ${TOKEN}", "Bearer s3cret"),
            ("${TOKEN}${TOKEN}", "s3crets3cret"),
            ("a${EMPTY}b", "ab"),
            ("$${TOKEN}", "${TOKEN}"),
            ("$$${TOKEN}", "$${TOKEN}"),
            ("cost: $5 $", "cost: $5 $"),
            ("$TOKEN", "$TOKEN"),
            ("", ""),
        ];
        for (input, want) in cases {
            assert_eq!(expand(input, &env).as_deref(), Ok(want), "{input}");
        }
    }

    #[test]
    fn reports_every_problem() {
        let errs = expand("${NOPE} ${1X} ${TOKEN} ${ALSO_NOPE} ${open", &env).expect_err("bad");
        assert_eq!(
            errs,
            [
                ExpandError::Unset("NOPE".into()),
                ExpandError::BadName("1X".into()),
                ExpandError::Unset("ALSO_NOPE".into()),
                ExpandError::Unclosed,
            ]
        );
    }
}
