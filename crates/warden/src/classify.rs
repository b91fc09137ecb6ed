//! `warden classify [FILE|-] [--format table|json|jsonl|markdown]`: what each tool of a server
//! does and how dangerous it is (DESIGN.md section 4; docs/risk.md). Reading the input and
//! printing are this file's job; the judgement is `warden-risk`'s.

use std::io::{Read as _, Write as _};
use std::path::PathBuf;
use std::process::ExitCode;

use serde_json::Value;
use warden_gateway::text::{printable, table, truncate};
use warden_risk::{Assessment, classify as assess, markdown, recommend};

/// Classify MCP tools: category, risk and evidence for each.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Input: a tools/list result ({\"tools\": [...]}), a JSON-RPC response \
carrying one (result.tools), a JSON array of tools, or one tool per line (JSONL).\n\n\
Examples:\n  warden classify tools.json\n  \
cat tools.jsonl | warden classify --format jsonl\n  \
warden classify tools.json --format markdown > TOOLS.md"
)]
pub(crate) struct ClassifyArgs {
    /// The file to read; `-` (the default) reads standard input.
    #[arg(value_name = "FILE", default_value = "-")]
    pub input: PathBuf,
    /// Output: a table for people; json (one array); jsonl (one object per tool, in input
    /// order); markdown (a catalogue with the recommended policy's rules).
    #[arg(long, value_enum, default_value_t = ClassifyFormat::Table)]
    pub format: ClassifyFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum ClassifyFormat {
    Table,
    Json,
    Jsonl,
    Markdown,
}

/// The exit status for input that cannot be read as tools.
const BAD_INPUT: u8 = 2;

pub(crate) fn classify(args: ClassifyArgs) -> ExitCode {
    let from_stdin = args.input.as_os_str() == "-";
    let source = if from_stdin {
        "<stdin>".to_owned()
    } else {
        args.input.display().to_string()
    };
    let bytes = if from_stdin {
        let mut buf = Vec::new();
        std::io::stdin().read_to_end(&mut buf).map(|_| buf)
    } else {
        std::fs::read(&args.input)
    };
    let bytes = match bytes {
        Ok(b) => b,
        Err(e) => {
            eprintln!("warden classify: {source}: cannot read: {e}");
            return ExitCode::from(BAD_INPUT);
        }
    };
    let tools = match parse_tools(&bytes) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("warden classify: {source}: {e}");
            return ExitCode::from(BAD_INPUT);
        }
    };
    let pairs: Vec<(Value, Assessment)> = tools
        .into_iter()
        .map(|t| {
            let a = assess(&t);
            (t, a)
        })
        .collect();
    let out = match render(&pairs, args.format) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("warden classify: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut stdout = std::io::stdout().lock();
    match stdout
        .write_all(out.as_bytes())
        .and_then(|()| stdout.flush())
    {
        Ok(()) => ExitCode::SUCCESS,
        // A reader that went away (`| head`) is not an error worth a message.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("warden classify: cannot write the output: {e}");
            ExitCode::FAILURE
        }
    }
}

fn render(
    pairs: &[(Value, Assessment)],
    format: ClassifyFormat,
) -> Result<String, serde_json::Error> {
    Ok(match format {
        ClassifyFormat::Table => {
            let rows: Vec<[String; 4]> = pairs
                .iter()
                .map(|(_, a)| {
                    [
                        truncate(&printable(&a.name), 48),
                        a.category.as_str().to_owned(),
                        a.risk.as_str().to_owned(),
                        truncate(&printable(&a.evidence.join("; ")), 120),
                    ]
                })
                .collect();
            table(["NAME", "CATEGORY", "RISK", "EVIDENCE"], &rows)
        }
        ClassifyFormat::Json => {
            let all: Vec<&Assessment> = pairs.iter().map(|(_, a)| a).collect();
            let mut s = serde_json::to_string_pretty(&all)?;
            s.push('\n');
            s
        }
        ClassifyFormat::Jsonl => {
            let mut s = String::new();
            for (_, a) in pairs {
                s.push_str(&serde_json::to_string(a)?);
                s.push('\n');
            }
            s
        }
        ClassifyFormat::Markdown => {
            let policy = recommend(pairs, &[]);
            markdown("tools", pairs, &policy)
        }
    })
}

/// The tools in `bytes`, in input order. Errors name the line and column (or the tool's index)
/// and say what was expected.
pub(crate) fn parse_tools(bytes: &[u8]) -> Result<Vec<Value>, String> {
    let text = std::str::from_utf8(bytes).map_err(|e| {
        let (line, col) = line_col(
            &String::from_utf8_lossy(&bytes[..e.valid_up_to()]),
            e.valid_up_to(),
        );
        format!("line {line}, column {col}: the input is not UTF-8 text")
    })?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    // A stream of JSON values separated by whitespace: one document, or one per line.
    let mut values: Vec<(usize, Value)> = Vec::new();
    let mut stream = serde_json::Deserializer::from_str(text).into_iter::<Value>();
    loop {
        let start = stream.byte_offset();
        match stream.next() {
            None => break,
            Some(Ok(v)) => {
                let skipped = text[start..].len() - text[start..].trim_start().len();
                values.push((start + skipped, v));
            }
            Some(Err(e)) => {
                return Err(format!(
                    "line {}, column {}: not valid JSON: {}{}",
                    e.line(),
                    e.column(),
                    strip_position(&e.to_string()),
                    if values.is_empty() {
                        ""
                    } else {
                        " (reading one tool per line)"
                    },
                ));
            }
        }
    }
    let line_of = |offset: usize| line_col(text, offset).0;
    let tools: Vec<(String, Value)> = match values.len() {
        0 => return Err(format!("no tools: the input is empty; {EXPECTED}")),
        1 => {
            let (offset, v) = values.remove(0);
            match v {
                Value::Array(items) => items
                    .into_iter()
                    .enumerate()
                    .map(|(i, t)| (format!("tool {i} (index {i} of the array)"), t))
                    .collect(),
                Value::Object(ref o) if o.get("tools").is_some() => list(v, "tools")?,
                Value::Object(ref o) if o.get("result").is_some() => {
                    let result = o.get("result").cloned().unwrap_or(Value::Null);
                    if result.get("tools").is_none() {
                        return Err(format!(
                            "the JSON-RPC response's result has no \"tools\" array; {EXPECTED}"
                        ));
                    }
                    list(result, "result.tools")?
                }
                Value::Object(ref o) if o.get("error").is_some() && o.get("jsonrpc").is_some() => {
                    let msg = o
                        .get("error")
                        .and_then(|e| e.get("message"))
                        .and_then(Value::as_str)
                        .unwrap_or("");
                    return Err(format!(
                        "the input is a JSON-RPC error response ({}), not a tools/list result",
                        printable(msg)
                    ));
                }
                Value::Object(_) => vec![(format!("tool 0 (line {})", line_of(offset)), v)],
                other => {
                    return Err(format!(
                        "line {}: a JSON {} is not a tool; {EXPECTED}",
                        line_of(offset),
                        kind(&other)
                    ));
                }
            }
        }
        _ => values
            .into_iter()
            .enumerate()
            .map(|(i, (offset, v))| (format!("tool {i} (line {})", line_of(offset)), v))
            .collect(),
    };
    let mut out = Vec::with_capacity(tools.len());
    for (label, t) in tools {
        match t.get("name") {
            Some(Value::String(_)) => out.push(t),
            _ if !t.is_object() => {
                return Err(format!("{label}: a JSON {} is not a tool object", kind(&t)));
            }
            None => {
                return Err(format!(
                    "{label}: has no \"name\"; every tool needs a string name"
                ));
            }
            Some(other) => {
                return Err(format!(
                    "{label}: \"name\" is a {}, not a string; every tool needs a string name",
                    kind(other)
                ));
            }
        }
    }
    Ok(out)
}

const EXPECTED: &str = "expected a tools/list result ({\"tools\": [...]}), a JSON-RPC response \
with result.tools, a JSON array of tools, or one tool object per line";

/// The tools array at `key` of `v`, labelled with their indexes.
fn list(v: Value, path: &str) -> Result<Vec<(String, Value)>, String> {
    let key = path.rsplit('.').next().unwrap_or(path);
    match v.get(key) {
        Some(Value::Array(items)) => Ok(items
            .iter()
            .cloned()
            .enumerate()
            .map(|(i, t)| (format!("tool {i} ({path}[{i}])"), t))
            .collect()),
        Some(other) => Err(format!(
            "\"{path}\" is a {}, not an array of tools",
            kind(other)
        )),
        None => Err(format!("no \"{path}\" array; {EXPECTED}")),
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// serde_json's message without its own " at line L column C" suffix (the position is given
/// first, in our words).
fn strip_position(msg: &str) -> &str {
    match msg.rfind(" at line ") {
        Some(i) => &msg[..i],
        None => msg,
    }
}

/// 1-based line and column (in characters) of a byte offset.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(r: Result<Vec<Value>, String>) -> Vec<String> {
        match r {
            Ok(ts) => ts
                .iter()
                .map(|t| t["name"].as_str().unwrap_or("?").to_owned())
                .collect(),
            Err(e) => vec![format!("error: {e}")],
        }
    }

    #[test]
    fn every_input_shape() {
        let list = br#"{"tools": [{"name": "a"}, {"name": "b"}]}"#;
        assert_eq!(names(parse_tools(list)), ["a", "b"]);
        let rpc = br#"{"jsonrpc": "2.0", "id": 1, "result": {"tools": [{"name": "a"}], "nextCursor": "x"}}"#;
        assert_eq!(names(parse_tools(rpc)), ["a"]);
        let array = b"[{\"name\": \"a\"},\n {\"name\": \"b\"}]";
        assert_eq!(names(parse_tools(array)), ["a", "b"]);
        let jsonl = b"{\"name\": \"a\"}\n\n{\"name\": \"b\"}\n{\"name\": \"c\"}\n";
        assert_eq!(names(parse_tools(jsonl)), ["a", "b", "c"]);
        let one = b"\xef\xbb\xbf{\"name\": \"solo\", \"description\": \"x\"}";
        assert_eq!(names(parse_tools(one)), ["solo"]);
        assert_eq!(names(parse_tools(b"[]")), Vec::<String>::new());
    }

    #[test]
    fn errors_say_where() {
        let e = parse_tools(b"{\"name\": \"a\"}\n{\"name\": }\n").unwrap_err();
        assert!(e.starts_with("line 2, column 10: not valid JSON"), "{e}");
        let e = parse_tools(b"[{\"name\": \"a\"}, {\"title\": \"b\"}]").unwrap_err();
        assert!(
            e.contains("tool 1 (index 1 of the array): has no \"name\""),
            "{e}"
        );
        let e = parse_tools(b"{\"name\": \"a\"}\n{\"name\": 7}").unwrap_err();
        assert!(e.contains("tool 1 (line 2): \"name\" is a number"), "{e}");
        let e = parse_tools(b"{\"tools\": [3]}").unwrap_err();
        assert!(
            e.contains("tool 0 (tools[0]): a JSON number is not a tool object"),
            "{e}"
        );
        let e = parse_tools(b"  \n").unwrap_err();
        assert!(e.starts_with("no tools"), "{e}");
        let e = parse_tools(b"{\"jsonrpc\": \"2.0\", \"id\": 1, \"error\": {\"code\": -32601, \"message\": \"nope\"}}").unwrap_err();
        assert!(e.contains("JSON-RPC error response (nope)"), "{e}");
        let e = parse_tools(b"\"tools\"").unwrap_err();
        assert!(e.contains("a JSON string is not a tool"), "{e}");
        let e = parse_tools(b"{\"name\": \"a\xff\"}").unwrap_err();
        assert!(
            e.contains("line 1, column 12: the input is not UTF-8"),
            "{e}"
        );
        let e = parse_tools(b"{\"result\": {}}").unwrap_err();
        assert!(e.contains("result has no \"tools\""), "{e}");
    }
}
