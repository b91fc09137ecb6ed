//! Condition evaluation and the generated reasons that explain it.

use serde_json::Value;

use crate::Call;
use crate::model::{Condition, Op, Path, Root};

/// What evaluating one condition against one call found.
#[derive(Debug)]
pub(crate) enum Outcome<'v> {
    /// The condition holds.
    Holds(Option<&'v Value>),
    /// The condition does not hold.
    Fails(Option<&'v Value>),
    /// No value at the path (for every op but `exists`).
    Missing,
    /// The value has the wrong type for the op: an evaluation error, which
    /// callers treat as fail-closed. Carries the explanation.
    WrongType(String),
}

/// The value at `path` in this call, if any. Absent arguments (`null`) have
/// no values at all, not even `args` itself.
pub(crate) fn resolve<'v>(path: &Path, call: &Call<'v>) -> Option<&'v Value> {
    let mut node = match path.root {
        Root::Args if call.arguments.is_null() => return None,
        Root::Args => call.arguments,
        Root::Identity => call.identity,
    };
    for (name, index) in &path.segments {
        node = match node {
            Value::Object(map) => map.get(name)?,
            Value::Array(items) => items.get((*index)?)?,
            _ => return None,
        };
    }
    Some(node)
}

pub(crate) fn evaluate<'v>(cond: &Condition, call: &Call<'v>) -> Outcome<'v> {
    let actual = resolve(&cond.path, call);
    if let Op::Exists(want) = cond.op {
        return if actual.is_some() == want {
            Outcome::Holds(actual)
        } else {
            Outcome::Fails(actual)
        };
    }
    let Some(v) = actual else {
        return Outcome::Missing;
    };
    let holds = match &cond.op {
        Op::Eq(want) => json_eq(v, want),
        Op::Neq(want) => !json_eq(v, want),
        Op::In(set) => set.iter().any(|w| json_eq(v, w)),
        Op::NotIn(set) => !set.iter().any(|w| json_eq(v, w)),
        Op::Lt(n) | Op::Lte(n) | Op::Gt(n) | Op::Gte(n) => {
            let Some(x) = v.as_f64() else {
                return wrong_type(cond, v, "a number");
            };
            match cond.op {
                Op::Lt(_) => x < *n,
                Op::Lte(_) => x <= *n,
                Op::Gt(_) => x > *n,
                _ => x >= *n,
            }
        }
        Op::Regex(re) => match v {
            Value::String(s) => re.is_match(s),
            _ => return wrong_type(cond, v, "a string"),
        },
        Op::Contains(want) => match (v, want) {
            (Value::String(s), Value::String(w)) => s.contains(w.as_str()),
            (Value::String(_), _) => {
                return Outcome::WrongType(format!(
                    r#"{} is a string, but op "contains" was given {}, which is not text"#,
                    cond.path.text, cond.value_text
                ));
            }
            (Value::Array(items), _) => items.iter().any(|item| json_eq(item, want)),
            _ => return wrong_type(cond, v, "a string or an array"),
        },
        Op::Exists(_) => false, // handled above
    };
    if holds {
        Outcome::Holds(actual)
    } else {
        Outcome::Fails(actual)
    }
}

fn wrong_type<'v>(cond: &Condition, v: &Value, needs: &str) -> Outcome<'v> {
    Outcome::WrongType(format!(
        r#"{} is {}, but op "{}" needs {}"#,
        cond.path.text,
        type_name(v),
        cond.op.name(),
        needs
    ))
}

/// JSON equality where numbers compare by value (`1 == 1.0`).
pub(crate) fn json_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            if let (Some(x), Some(y)) = (x.as_i64(), y.as_i64()) {
                x == y
            } else if let (Some(x), Some(y)) = (x.as_u64(), y.as_u64()) {
                x == y
            } else {
                x.as_f64() == y.as_f64()
            }
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| json_eq(a, b))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| json_eq(v, w)))
        }
        _ => a == b,
    }
}

/// Why a condition holds, for `deny_if` and `approve_if`, e.g.
/// `args.amount is 20000, which is greater than 10000`.
pub(crate) fn holds_text(cond: &Condition, actual: Option<&Value>) -> String {
    let path = &cond.path.text;
    let w = &cond.value_text;
    let Some(v) = actual else {
        // Only `exists: false` holds without a value.
        return format!("{path} is absent");
    };
    let v = show(v);
    match cond.op {
        Op::Eq(_) => format!("{path} is {v}"),
        Op::Neq(_) => format!("{path} is {v}, which is not {w}"),
        Op::In(_) => format!("{path} is {v}, which is one of {w}"),
        Op::NotIn(_) => format!("{path} is {v}, which is not one of {w}"),
        Op::Lt(_) => format!("{path} is {v}, which is less than {w}"),
        Op::Lte(_) => format!("{path} is {v}, which is at most {w}"),
        Op::Gt(_) => format!("{path} is {v}, which is greater than {w}"),
        Op::Gte(_) => format!("{path} is {v}, which is at least {w}"),
        Op::Regex(_) => format!("{path} is {v}, which matches {w}"),
        Op::Contains(_) => format!("{path} contains {w}"),
        Op::Exists(_) => format!("{path} is present"),
    }
}

/// Why a `require` condition does not hold, e.g.
/// `args.reason is required but missing`.
pub(crate) fn fails_text(cond: &Condition, actual: Option<&Value>) -> String {
    let path = &cond.path.text;
    let w = &cond.value_text;
    let Some(v) = actual else {
        return match cond.op {
            Op::Exists(false) => format!("{path} must be absent"),
            _ => format!("{path} is required but missing"),
        };
    };
    let v = show(v);
    match cond.op {
        Op::Eq(_) => format!("{path} is {v}, but must be {w}"),
        Op::Neq(_) => format!("{path} is {v}, but must not be {w}"),
        Op::In(_) => format!("{path} is {v}, but must be one of {w}"),
        Op::NotIn(_) => format!("{path} is {v}, but must not be one of {w}"),
        Op::Lt(_) => format!("{path} is {v}, but must be less than {w}"),
        Op::Lte(_) => format!("{path} is {v}, but must be at most {w}"),
        Op::Gt(_) => format!("{path} is {v}, but must be greater than {w}"),
        Op::Gte(_) => format!("{path} is {v}, but must be at least {w}"),
        Op::Regex(_) => format!("{path} is {v}, but must match {w}"),
        Op::Contains(_) => format!("{path} is {v}, but must contain {w}"),
        Op::Exists(_) => format!("{path} must be absent"),
    }
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// A call's value as JSON, shortened: reasons are for reading, and
/// arguments can be large.
fn show(v: &Value) -> String {
    truncate(&v.to_string(), 60)
}

/// At most `max` characters, with `…` when cut.
pub(crate) fn truncate(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn numbers_compare_by_value() {
        let cases = [
            (json!(1), json!(1.0), true),
            (json!(-1), json!(-1.0), true),
            (json!(u64::MAX), json!(u64::MAX), true),
            (json!(1), json!("1"), false),
            (json!([1, {"a": 2}]), json!([1.0, {"a": 2.0}]), true),
            (json!({"a": 1}), json!({"a": 1, "b": 2}), false),
        ];
        for (a, b, want) in cases {
            assert_eq!(json_eq(&a, &b), want, "{a} vs {b}");
        }
    }

    #[test]
    fn truncation_respects_characters() {
        assert_eq!(truncate("héllo", 2), "hé…");
        assert_eq!(truncate("hi", 2), "hi");
    }
}
