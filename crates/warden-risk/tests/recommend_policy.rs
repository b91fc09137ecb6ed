//! Every recommended policy must pass the real policy compiler: the development set's tools,
//! and definitions made to be awkward.

#![allow(clippy::unwrap_used)] // a test: a failed unwrap is a failed test

use std::path::PathBuf;

use serde_json::{Value, json};
use warden_policy::Policy;
use warden_risk::{Assessment, classify, recommend};

fn compile(policy: &Value) {
    let text = serde_json::to_string_pretty(policy).unwrap();
    if let Err(problems) = Policy::from_json("recommended.json", &text) {
        panic!("the recommended policy does not compile:\n{problems}\n{text}");
    }
}

fn assess(tools: Vec<Value>) -> Vec<(Value, Assessment)> {
    tools
        .into_iter()
        .map(|t| {
            let a = classify(&t);
            (t, a)
        })
        .collect()
}

#[test]
fn the_dev_sets_policy_compiles() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join("../shared/datasets/risk-dev.jsonl");
    let Ok(text) = std::fs::read_to_string(&path) else {
        println!("risk-dev.jsonl not found beside the repository; skipping");
        return;
    };
    let tools: Vec<Value> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let pairs = assess(tools);
    let policy = recommend(&pairs, &[]);
    compile(&policy);
    // One rule per name (two servers may use one name; the first decides).
    let mut names: Vec<&str> = pairs.iter().map(|(_, a)| a.name.as_str()).collect();
    names.sort_unstable();
    names.dedup();
    assert_eq!(policy["tools"].as_object().unwrap().len(), names.len());
    // And with some of them hidden.
    let hidden = vec![pairs[0].1.name.clone(), "never_listed".to_owned()];
    let policy = recommend(&pairs, &hidden);
    compile(&policy);
    assert!(policy["tools"].get(&pairs[0].1.name).is_none());
}

#[test]
fn awkward_definitions_still_compile() {
    let tools = vec![
        json!({"name": "run\u{1b}[31m", "description": "Run a command."}),
        json!({"name": "a.b/c d", "description": "Send a message.",
               "inputSchema": {"type": "object", "properties": {
                   "url": {"type": "string"}, "to": {"type": 5}, "n": {"type": ["integer", "bogus"]},
                   "e": {"enum": []}, "x": true},
                   "required": "command"}}),
        json!({"name": "dup", "description": "Delete it."}),
        json!({"name": "dup", "description": "List it."}),
        json!({"name": "", "description": "List it."}),
        json!({"name": "star*", "description": "List it."}),
        json!({"description": "no name"}),
        json!({"name": "exec", "inputSchema": {"properties": []}}),
        json!({"name": "名前を送信", "description": "Send a message."}),
    ];
    let pairs = assess(tools);
    let policy = recommend(&pairs, &["h*".to_owned(), String::new()]);
    compile(&policy);
    assert_eq!(policy["tools"]["dup"]["action"], "approve");
}
