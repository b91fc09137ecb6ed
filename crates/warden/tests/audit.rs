//! `warden audit`, run as an operator runs it, against a state directory whose log was written
//! the way the gateway writes it.

#![allow(clippy::unwrap_used)] // a test: a failed unwrap is a failed test

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use warden_gateway::audit::Signer;
use warden_gateway::{AuditLog, AuditSettings, SystemClock};
use warden_store::{AuditEntry, AuditStore, SqliteState};

/// 2026-11-21T10:00:00Z.
const T0: u64 = 1_795_255_200_000;
const MINUTE: u64 = 60_000;

fn warden_audit(state: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_warden"))
        .arg("audit")
        .args(args)
        .arg("--state-dir")
        .arg(state)
        .env_remove("WARDEN_STATE_DIR")
        .output()
        .unwrap()
}

fn text(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn ok(out: &Output) -> (String, String) {
    let (stdout, stderr) = text(out);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    (stdout, stderr)
}

fn jsonl(text: &str) -> Vec<Value> {
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn call(i: u64, identity: &str, tool: &str, decision: &str) -> AuditEntry {
    AuditEntry {
        time_ms: T0 + i * MINUTE,
        event: "call".into(),
        identity: Some(identity.into()),
        server: Some("crm".into()),
        method: Some("tools/call".into()),
        request_id: Some(i.to_string()),
        tool: Some(tool.into()),
        decision: Some(decision.into()),
        rule: Some(format!("/tools/{tool}")),
        reason: (decision == "deny").then(|| "over the limit, \"ask\"\nfinance".into()),
        argument_keys: vec!["amount".into(), "note".into()],
        arguments: Some(format!(r#"{{"amount":{i},"note":"a,b"}}"#)),
        outcome: (decision == "allow").then(|| "ok".into()),
        latency_us: Some(1_500 + i),
        ..AuditEntry::default()
    }
}

/// Appends `entries` to the log in `state`, as the gateway's store does.
async fn append(state: &Path, entries: &[AuditEntry]) {
    let store = SqliteState::open_audit(state).unwrap();
    store.append(entries).await.unwrap();
}

/// Four records: three calls and a policy_loaded event.
async fn sample(state: &Path) {
    append(
        state,
        &[
            call(0, "ana", "refund", "allow"),
            call(1, "bo", "refund", "deny"),
            call(2, "ana", "lookup", "deny"),
            AuditEntry {
                time_ms: T0 + 3 * MINUTE,
                event: "policy_loaded".into(),
                detail: Some(r#"{"policy":"p.json"}"#.into()),
                ..AuditEntry::default()
            },
        ],
    )
    .await;
}

#[tokio::test]
async fn query_in_every_format() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path();
    sample(state).await;

    let (table, _) = ok(&warden_audit(state, &["query"]));
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 5, "{table}");
    assert!(lines[0].starts_with("SEQ  TIME"), "{table}");
    for col in [
        "IDENTITY", "SERVER", "TOOL", "DECISION", "OUTCOME", "RULE", "LATENCY",
    ] {
        assert!(lines[0].contains(col), "{table}");
    }
    assert!(
        lines[1].starts_with("1    2026-11-21T10:00:00.000Z  ana"),
        "{table}"
    );
    assert!(
        lines[2].contains("deny") && lines[2].ends_with("1.5ms"),
        "{table}"
    );
    assert!(lines[4].contains("policy_loaded"), "{table}");

    let (json, _) = ok(&warden_audit(state, &["query", "--format", "json"]));
    let all: Value = serde_json::from_str(&json).unwrap();
    let all = all.as_array().unwrap();
    assert_eq!(all.len(), 4);
    assert_eq!(all[1]["reason"], "over the limit, \"ask\"\nfinance");
    assert_eq!(all[1]["arguments"]["note"], "a,b");
    assert_eq!(all[3]["detail"]["policy"], "p.json");
    assert_eq!(all[0]["time"], "2026-11-21T10:00:00.000Z");

    let (lines, _) = ok(&warden_audit(state, &["query", "--format", "jsonl"]));
    assert_eq!(jsonl(&lines), *all, "jsonl holds the same records");

    // Filters.
    let (out, _) = ok(&warden_audit(
        state,
        &[
            "query",
            "--identity",
            "ana",
            "--decision",
            "deny",
            "--format",
            "jsonl",
        ],
    ));
    let got = jsonl(&out);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0]["seq"], 3);
    let (out, _) = ok(&warden_audit(
        state,
        &[
            "query",
            "--since",
            "2026-11-21T10:01:00Z",
            "--until",
            "2026-11-21T10:02:00Z",
            "--format",
            "jsonl",
        ],
    ));
    let seqs: Vec<u64> = jsonl(&out)
        .iter()
        .map(|r| r["seq"].as_u64().unwrap())
        .collect();
    assert_eq!(seqs, [2, 3]);
    let (out, _) = ok(&warden_audit(
        state,
        &["query", "--event", "policy_loaded", "--format", "jsonl"],
    ));
    assert_eq!(jsonl(&out)[0]["seq"], 4);

    // The newest N, oldest of them first, and a note that more exist.
    let (out, err) = ok(&warden_audit(
        state,
        &["query", "--limit", "2", "--format", "jsonl"],
    ));
    let seqs: Vec<u64> = jsonl(&out)
        .iter()
        .map(|r| r["seq"].as_u64().unwrap())
        .collect();
    assert_eq!(seqs, [3, 4]);
    assert!(err.contains("newest 2"), "{err}");

    // Nothing matches: said on stderr, not an error.
    let (out, err) = ok(&warden_audit(state, &["query", "--tool", "nope"]));
    assert_eq!(out, "");
    assert!(err.contains("No audit records match"), "{err}");

    // Bad input names the flag and the fix; usage errors exit 2.
    let out = warden_audit(state, &["query", "--since", "last tuesday"]);
    assert_eq!(out.status.code(), Some(2));
    let (_, err) = text(&out);
    assert!(
        err.contains("--since") && err.contains("2026-11-21T10:00:00Z"),
        "{err}"
    );
    let out = warden_audit(
        state,
        &[
            "query",
            "--since",
            "2026-11-21T11:00:00Z",
            "--until",
            "2026-11-21T10:00:00Z",
        ],
    );
    let (_, err) = text(&out);
    assert!(!out.status.success());
    assert!(err.contains("--until") && err.contains("swap"), "{err}");
}

#[tokio::test]
async fn key_events_are_queryable() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path();
    let out = Command::new(env!("CARGO_BIN_EXE_warden"))
        .args(["keys", "create", "ci-bot", "--state-dir"])
        .arg(state)
        .env_remove("WARDEN_STATE_DIR")
        .output()
        .unwrap();
    let (key, _) = ok(&out);
    let (out, _) = ok(&warden_audit(
        state,
        &["query", "--event", "key_created", "--format", "jsonl"],
    ));
    let got = jsonl(&out);
    assert_eq!(got.len(), 1, "{out}");
    assert_eq!(got[0]["identity"], "ci-bot");
    assert!(
        !out.contains(key.trim()),
        "the key itself is never recorded"
    );
    let (table, _) = ok(&warden_audit(state, &["query"]));
    assert!(table.contains("key_created"), "{table}");
}

#[tokio::test]
async fn export_round_trips_through_csv() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path();
    // More than one page (1000), with quotes, commas and line breaks in values.
    let entries: Vec<AuditEntry> = (0..2_345)
        .map(|i| {
            call(
                i,
                "ana",
                "refund",
                if i % 3 == 0 { "deny" } else { "allow" },
            )
        })
        .collect();
    append(state, &entries).await;

    let file = dir.path().join("export.csv");
    let (out, err) = ok(&warden_audit(
        state,
        &["export", "--format", "csv", "--out", file.to_str().unwrap()],
    ));
    assert_eq!(out, "");
    assert!(err.contains("Exported 2345 records (seq 1–2345)"), "{err}");
    let (lines, _) = ok(&warden_audit(state, &["export", "--format", "jsonl"]));
    let records = jsonl(&lines);
    assert_eq!(records.len(), 2_345);

    let mut reader = csv::Reader::from_path(&file).unwrap();
    let header: Vec<String> = reader.headers().unwrap().iter().map(String::from).collect();
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 2_345);
    for (row, record) in rows.iter().zip(&records) {
        for (name, cell) in header.iter().zip(row) {
            let want = match &record[name.as_str()] {
                Value::Null => String::new(),
                Value::String(s) => s.clone(),
                Value::Number(n) => n.to_string(),
                other => other.to_string(),
            };
            assert_eq!(cell, want, "seq {} field {name}", record["seq"]);
        }
    }
    // Every record of the log, by identity: a filtered export.
    let (out, _) = ok(&warden_audit(
        state,
        &["export", "--format", "jsonl", "--decision", "deny"],
    ));
    assert_eq!(jsonl(&out).len(), 782);
}

/// Writes `n` calls through the gateway's audit writer, signing a checkpoint after every two.
async fn signed_records(state: &Path, key_file: &Path, n: u64) {
    use ed25519_dalek::pkcs8::DecodePrivateKey as _;
    let pem = std::fs::read_to_string(key_file).unwrap();
    let key = ed25519_dalek::SigningKey::from_pkcs8_pem(&pem).unwrap();
    let store = Arc::new(SqliteState::open_audit(state).unwrap());
    let settings = AuditSettings {
        signer: Some(Signer {
            key,
            every_records: 2,
            every: Duration::from_secs(3600),
        }),
        ..AuditSettings::default()
    };
    let log = AuditLog::start(store, settings, Arc::new(SystemClock))
        .await
        .unwrap();
    for i in 0..n {
        log.record(call(i, "ana", "refund", "allow")).await.unwrap();
    }
    log.flush().await;
}

#[tokio::test]
async fn keygen_then_verify() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let key_file = dir.path().join("audit-key.pem");

    let (public, notes) = ok(&warden_audit(
        &state,
        &["keygen", "--out", key_file.to_str().unwrap()],
    ));
    let public = public.trim().to_owned();
    assert_eq!(public.len(), 44, "base64 of 32 bytes: {public:?}");
    assert!(notes.contains("signing_key = \""), "{notes}");
    assert!(
        notes.contains(&format!("warden audit verify --public-key {public}")),
        "{notes}"
    );
    // Never overwritten.
    let pem = std::fs::read(&key_file).unwrap();
    let out = warden_audit(&state, &["keygen", "--out", key_file.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(text(&out).1.contains("already exists"));
    assert_eq!(std::fs::read(&key_file).unwrap(), pem);

    signed_records(&state, &key_file, 6).await;

    let (summary, _) = ok(&warden_audit(&state, &["verify", "--public-key", &public]));
    assert!(
        summary.starts_with("Audit log intact: 6 records checked (seq 1–6)."),
        "{summary}"
    );
    assert!(
        summary.contains("3 verified with the public key; signed up to seq 6"),
        "{summary}"
    );
    let (json, _) = ok(&warden_audit(
        &state,
        &["verify", "--public-key", &public, "--format", "json"],
    ));
    let report: Value = serde_json::from_str(&json).unwrap();
    assert_eq!(report["records"], 6);
    assert_eq!(report["checkpoints_verified"], 3);
    assert_eq!(report["problems"], serde_json::json!([]));
    // The key from a file works the same.
    let pub_file = dir.path().join("audit.pub");
    std::fs::write(&pub_file, format!("{public}\n")).unwrap();
    ok(&warden_audit(
        &state,
        &["verify", "--public-key", pub_file.to_str().unwrap()],
    ));

    // Someone with access to the database changes a decision.
    let db = rusqlite::Connection::open(state.join("warden.db")).unwrap();
    db.execute(
        "UPDATE audit_records SET decision = 'deny' WHERE seq = 3",
        [],
    )
    .unwrap();
    drop(db);
    let out = warden_audit(&state, &["verify", "--public-key", &public]);
    assert_eq!(out.status.code(), Some(1), "tampering exits 1");
    let (summary, _) = text(&out);
    assert!(summary.starts_with("Audit log TAMPERED"), "{summary}");
    assert!(
        summary
            .lines()
            .any(|l| l.contains("seq 3") && l.contains("edited")),
        "{summary}"
    );
    let out = warden_audit(&state, &["verify", "--format", "json"]);
    assert_eq!(out.status.code(), Some(1));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["problems"][0]["seq"], 3);
    assert_eq!(report["problems"][0]["kind"], "edited");

    // Usage errors exit 2 and say what to give.
    let out = warden_audit(&state, &["verify", "--public-key", "not-a-key"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).1.contains("--public-key"), "{}", text(&out).1);
    let out = warden_audit(
        &state,
        &["verify", "--public-key", key_file.to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).1.contains("private key"), "{}", text(&out).1);
}

#[tokio::test]
async fn verify_with_the_wrong_key_fails() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let key_file = dir.path().join("k.pem");
    let other_file = dir.path().join("other.pem");
    ok(&warden_audit(
        &state,
        &["keygen", "--out", key_file.to_str().unwrap()],
    ));
    let (other, _) = ok(&warden_audit(
        &state,
        &["keygen", "--out", other_file.to_str().unwrap()],
    ));
    signed_records(&state, &key_file, 4).await;
    let out = warden_audit(&state, &["verify", "--public-key", other.trim()]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out).0);
    assert!(text(&out).0.contains("checkpoint"), "{}", text(&out).0);
}

#[tokio::test]
async fn tail_prints_the_last_records_then_follows() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path();
    sample(state).await;

    let (out, _) = ok(&warden_audit(state, &["tail", "-n", "2", "--no-follow"]));
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 3, "{out}");
    assert!(lines[0].starts_with("SEQ"));
    assert!(
        lines[1].starts_with("3 ") && lines[2].starts_with("4 "),
        "{out}"
    );

    let mut child = Command::new(env!("CARGO_BIN_EXE_warden"))
        .args([
            "audit",
            "tail",
            "-n",
            "1",
            "--format",
            "jsonl",
            "--identity",
            "ana",
        ])
        .arg("--state-dir")
        .arg(state)
        .env_remove("WARDEN_STATE_DIR")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first: Value = serde_json::from_str(&lines.next().unwrap().unwrap()).unwrap();
    assert_eq!(first["seq"], 3, "the last of ana's records");
    append(
        state,
        &[
            call(10, "bo", "refund", "allow"),
            call(11, "ana", "refund", "allow"),
        ],
    )
    .await;
    let next: Value = serde_json::from_str(&lines.next().unwrap().unwrap()).unwrap();
    assert_eq!(next["seq"], 6, "followed, filtered");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let status = child.wait().unwrap();
    assert!(status.success(), "{status:?}");
}

#[tokio::test]
async fn prune_deletes_old_records_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path();
    let entries: Vec<AuditEntry> = (0..5).map(|i| call(i, "ana", "t", "allow")).collect();
    append(state, &entries).await;

    let out = warden_audit(state, &["prune"]);
    assert!(!out.status.success());
    assert!(text(&out).1.contains("--max-age"), "{}", text(&out).1);

    let (out, _) = ok(&warden_audit(state, &["prune", "--max-records", "2"]));
    assert!(out.contains("Deleted 3 records (seq 1–3)"), "{out}");
    assert!(out.contains("now starts at seq 4"), "{out}");
    let (out, _) = ok(&warden_audit(state, &["query", "--format", "jsonl"]));
    let got = jsonl(&out);
    let seqs: Vec<u64> = got.iter().map(|r| r["seq"].as_u64().unwrap()).collect();
    assert_eq!(seqs, [4, 5, 6]);
    assert_eq!(got[2]["event"], "retention");
    let (out, _) = ok(&warden_audit(state, &["verify"]));
    assert!(out.starts_with("Audit log intact"), "{out}");

    let (out, _) = ok(&warden_audit(state, &["prune", "--max-age", "3650d"]));
    assert!(out.contains("Nothing to delete"), "{out}");
}
