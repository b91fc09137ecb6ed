//! `warden keys`, run as an operator runs it, and the keys it makes checked
//! the way the gateway checks them.

#![allow(clippy::unwrap_used)] // a test: a failed unwrap is a failed test

use std::path::Path;
use std::process::{Command, Output};
use std::sync::Arc;

use serde_json::Value;
use warden_auth::{AuthError, Authenticator};
use warden_store::SqliteState;

fn warden_keys(state: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_warden"))
        .arg("keys")
        .args(args)
        .arg("--state-dir")
        .arg(state)
        .env_remove("WARDEN_STATE_DIR")
        .output()
        .unwrap()
}

fn ok(out: &Output) -> (String, String) {
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{stdout}\n{stderr}");
    (stdout, stderr)
}

/// Checks a key as the gateway does, against the same state directory.
async fn authenticate(state: &Path, key: &str) -> Result<String, AuthError> {
    let store = SqliteState::open(state).unwrap();
    let auth = Authenticator::new(Arc::new(store), None);
    #[allow(clippy::disallowed_methods)] // the test stands in for the gateway edge
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    auth.authenticate(Some(&format!("Bearer {key}")), now_ms)
        .await
        .map(|a| a.identity)
}

#[tokio::test]
async fn create_list_revoke() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path();

    // Text output: the key alone on stdout, the warning on stderr.
    let (stdout, stderr) = ok(&warden_keys(
        state,
        &["create", "ci-bot", "--label", "CI runner"],
    ));
    let key = stdout.trim().to_owned();
    assert!(
        key.starts_with("wdn_") && !key.contains(char::is_whitespace),
        "{stdout:?}"
    );
    assert!(stderr.contains("cannot be shown again"), "{stderr}");
    let id = key[4..16].to_owned();
    assert!(stderr.contains(&id), "{stderr}");
    assert_eq!(authenticate(state, &key).await, Ok("ci-bot".to_owned()));

    // JSON output for scripts, with an expiry.
    let (stdout, _) = ok(&warden_keys(
        state,
        &["create", "ana", "--expires", "12h", "--format", "json"],
    ));
    let made: Value = serde_json::from_str(&stdout).unwrap();
    let ana_key = made["key"].as_str().unwrap().to_owned();
    assert_eq!(made["identity"], "ana");
    assert_eq!(made["status"], "active");
    assert!(made["expires"].as_str().unwrap().ends_with('Z'));
    assert_eq!(authenticate(state, &ana_key).await, Ok("ana".to_owned()));

    // Listings never show a key.
    let (table, _) = ok(&warden_keys(state, &["list"]));
    assert!(table.starts_with("ID "), "{table}");
    for word in [
        "IDENTITY",
        "LABEL",
        "CREATED",
        "EXPIRES",
        "STATUS",
        &id,
        "CI runner",
        "never",
    ] {
        assert!(table.contains(word), "{word:?} missing in:\n{table}");
    }
    assert!(!table.contains("wdn_"), "{table}");
    let (json, _) = ok(&warden_keys(
        state,
        &["list", "--identity", "ana", "--format", "json"],
    ));
    let listed: Value = serde_json::from_str(&json).unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 1);
    assert_eq!(listed[0]["id"], made["id"]);
    assert!(!json.contains("wdn_"), "{json}");

    // Revoke: refused from then on, listed as revoked.
    let (stdout, _) = ok(&warden_keys(state, &["revoke", &id]));
    assert!(stdout.contains("Revoked"), "{stdout}");
    assert_eq!(authenticate(state, &key).await, Err(AuthError::Revoked));
    let (json, _) = ok(&warden_keys(
        state,
        &["list", "--identity", "ci-bot", "--format", "json"],
    ));
    let listed: Value = serde_json::from_str(&json).unwrap();
    assert_eq!(listed[0]["status"], "revoked");
    // Revoking again is not an error; an unknown id is.
    ok(&warden_keys(state, &["revoke", &id]));
    let out = warden_keys(state, &["revoke", "ffffffffffff"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("warden keys list"));
}

#[test]
fn bad_input_is_explained() {
    let dir = tempfile::tempdir().unwrap();
    for args in [
        &["create", "ana", "--expires", "soon"][..],
        &["create", "ana", "--expires", "0s"],
        &["create", ""],
        &["list", "--format", "yaml"],
    ] {
        let out = warden_keys(dir.path(), args);
        assert!(!out.status.success(), "{args:?}");
        assert!(!out.stderr.is_empty(), "{args:?}");
    }
}

#[tokio::test]
async fn keys_can_use_the_state_a_gateway_configuration_names() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let config = dir.path().join("warden.toml");
    std::fs::write(&config, "state = \"state\"\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_warden"))
        .args(["keys", "--config"])
        .arg(&config)
        .args(["create", "ci-agent"])
        .env("WARDEN_STATE_DIR", dir.path().join("elsewhere"))
        .output()
        .unwrap();
    let (key, _) = ok(&out);
    // The key is in the configuration's state (relative to the config file), where
    // `warden serve --config` looks, not in WARDEN_STATE_DIR.
    assert_eq!(authenticate(&state, key.trim()).await.unwrap(), "ci-agent");
    assert!(!dir.path().join("elsewhere").exists());
}
