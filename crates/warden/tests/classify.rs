//! `warden classify`, run as a user runs it: every input shape, every output format, and the
//! JSONL contract scripts rely on (one object per input tool, in input order, with `name`,
//! `category`, `risk`, `evidence` and `rationale`).

#![allow(clippy::unwrap_used)] // a test: a failed unwrap is a failed test

use std::io::Write as _;
use std::process::{Command, Output, Stdio};

use serde_json::{Value, json};

fn classify(args: &[&str], stdin: &[u8]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_warden"))
        .arg("classify")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    child.wait_with_output().unwrap()
}

fn stdout(out: &Output) -> String {
    let text = String::from_utf8(out.stdout.clone()).unwrap();
    assert!(
        out.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    text
}

fn tools() -> Vec<Value> {
    vec![
        json!({"name": "list_issues", "description": "List issues in a repository.",
               "annotations": {"readOnlyHint": true}}),
        json!({"name": "delete_repository", "description": "Delete a repository and everything in it."}),
        json!({"name": "run_command", "description": "Run a shell command.",
               "inputSchema": {"type": "object", "properties": {"command": {"type": "string"}}}}),
        json!({"name": "create_refund", "description": "Refund a charge.", "annotations": {"readOnlyHint": true}}),
    ]
}

/// The JSONL contract.
fn check_jsonl(text: &str, expected: &[(&str, &str, &str)]) {
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), expected.len(), "{text}");
    for (line, (name, category, risk)) in lines.iter().zip(expected) {
        assert_eq!(line["name"], *name, "{line}");
        assert_eq!(line["category"], *category, "{line}");
        assert_eq!(line["risk"], *risk, "{line}");
        let evidence = line["evidence"].as_array().unwrap();
        assert!(
            !evidence.is_empty() && evidence.iter().all(Value::is_string),
            "{line}"
        );
        assert!(
            line["rationale"].as_str().unwrap().contains(" risk: "),
            "{line}"
        );
    }
}

const EXPECTED: &[(&str, &str, &str)] = &[
    ("list_issues", "read", "low"),
    ("delete_repository", "destructive", "critical"),
    ("run_command", "execute", "critical"),
    ("create_refund", "financial", "critical"),
];

#[test]
fn every_input_shape_gives_the_same_jsonl() {
    let t = tools();
    let list = serde_json::to_vec(&json!({"tools": t})).unwrap();
    let rpc =
        serde_json::to_vec(&json!({"jsonrpc": "2.0", "id": 7, "result": {"tools": t}})).unwrap();
    let array = serde_json::to_vec_pretty(&t).unwrap();
    let jsonl: Vec<u8> = t
        .iter()
        .flat_map(|v| {
            let mut l = serde_json::to_vec(v).unwrap();
            l.push(b'\n');
            l
        })
        .collect();
    for (shape, input) in [
        ("tools/list", &list),
        ("json-rpc", &rpc),
        ("array", &array),
        ("jsonl", &jsonl),
    ] {
        let out = classify(&["--format", "jsonl"], input);
        let text = stdout(&out);
        check_jsonl(&text, EXPECTED);
        // `-` is stdin too, and a file works the same.
        let out2 = classify(&["-", "--format", "jsonl"], input);
        assert_eq!(stdout(&out2), text, "{shape}");
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("tools.json");
        std::fs::write(&file, input).unwrap();
        let out3 = classify(&[file.to_str().unwrap(), "--format", "jsonl"], b"");
        assert_eq!(stdout(&out3), text, "{shape}");
    }
}

#[test]
fn every_output_format() {
    let input = serde_json::to_vec(&json!({"tools": tools()})).unwrap();

    let table = stdout(&classify(&[], &input));
    let lines: Vec<&str> = table.lines().collect();
    assert!(
        lines[0].starts_with("NAME")
            && lines[0].contains("CATEGORY")
            && lines[0].contains("RISK")
            && lines[0].ends_with("EVIDENCE"),
        "{table}"
    );
    assert_eq!(lines.len(), 5, "{table}");
    assert!(
        lines[2].starts_with("delete_repository")
            && lines[2].contains("destructive")
            && lines[2].contains("critical"),
        "{table}"
    );

    let json_out: Value =
        serde_json::from_str(&stdout(&classify(&["--format", "json"], &input))).unwrap();
    let arr = json_out.as_array().unwrap();
    assert_eq!(arr.len(), 4);
    assert_eq!(arr[3]["name"], "create_refund");
    assert!(arr[3]["evidence"].as_array().unwrap().iter().any(|e| {
        e.as_str()
            .unwrap()
            .starts_with("annotation readOnlyHint ignored")
    }));

    let md = stdout(&classify(&["--format", "markdown"], &input));
    assert!(md.starts_with("# Tools of tools\n"), "{md}");
    assert!(
        md.contains("| [run\\_command](#tool-3) | execute | critical |"),
        "{md}"
    );
    assert!(md.contains("\"maxLength\": 4096"), "{md}");
}

#[test]
fn untrusted_names_are_printed_safely() {
    let input = br#"{"name": "evil\u001b[2J\u202etxt", "description": "List things."}"#;
    let table = stdout(&classify(&[], input));
    assert!(
        !table.contains('\u{1b}') && !table.contains('\u{202e}'),
        "{table:?}"
    );
    assert!(table.contains("evil\\u{1b}[2J\\u{202e}txt"), "{table}");
}

#[test]
fn bad_input_is_exit_2_and_says_where() {
    let out = classify(
        &["--format", "jsonl"],
        b"{\"name\": \"a\"}\n{\"name\": \"b\",}\n",
    );
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("<stdin>: line 2, column 14: not valid JSON: trailing comma"),
        "{err}"
    );
    assert!(out.stdout.is_empty());

    let out = classify(
        &[],
        br#"{"tools": [{"name": "a"}, {"description": "no name"}]}"#,
    );
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("tool 1 (tools[1]): has no \"name\""), "{err}");

    let out = classify(&[], b"");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no tools"));

    let out = classify(&["/nonexistent/tools.json"], b"");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/tools.json: cannot read"));
}
