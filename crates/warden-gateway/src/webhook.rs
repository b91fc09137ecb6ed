//! TEMPORARY STUB (replaced by the real sender at merge).
#![allow(missing_docs, dead_code)]
#[derive(Debug)]
pub struct Webhooks;
impl Webhooks {
    pub fn new(_secret: Option<Vec<u8>>) -> Self { Webhooks }
    pub fn send(&self, _hook: &warden_policy::Webhook, _event: WebhookEvent) -> tokio::task::JoinHandle<Result<u16, String>> {
        tokio::spawn(async { Err("stub".to_owned()) })
    }
}
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WebhookKind { Requested, Approved, Denied, Expired }
#[derive(Debug)]
pub struct WebhookEvent { pub kind: WebhookKind, pub time_ms: u64, pub approval: serde_json::Value, pub summary: String }
