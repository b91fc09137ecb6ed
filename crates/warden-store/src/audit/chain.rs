//! The hash chain: how an entry is hashed, and the text forms of hashes.
//!
//! `hash = SHA-256("warden-audit-v1\0" ‖ prev_hash ‖ canonical(entry))`,
//! where `canonical` writes every field of [`AuditEntry`] in declaration
//! order, each unambiguously: integers as 8 big-endian bytes, an absent
//! optional as one `0` byte, a present one as a `1` byte and the value,
//! strings as their 8-byte big-endian length and UTF-8 bytes, the argument
//! key list as its count and each key. Every field is covered, so changing
//! any byte of a stored record changes its hash; the sequence number is not,
//! because the chain itself (each record naming the hash before it) fixes
//! the order.

use sha2::{Digest, Sha256};

use super::AuditEntry;

/// Length of a chain hash (SHA-256).
pub const HASH_LEN: usize = 32;
/// A chain hash.
pub type Hash = [u8; HASH_LEN];
/// What the first record of a log links to.
pub const GENESIS: Hash = [0; HASH_LEN];

const DOMAIN: &[u8] = b"warden-audit-v1\0";
const CHECKPOINT_DOMAIN: &str = "warden-audit-checkpoint-v1";

/// The hash of `entry` chained after `prev`.
pub fn entry_hash(prev: &Hash, entry: &AuditEntry) -> Hash {
    let mut h = Sha256::new();
    h.update(DOMAIN);
    h.update(prev);
    let AuditEntry {
        time_ms,
        event,
        identity,
        grant,
        server,
        session,
        request_id,
        method,
        tool,
        decision,
        rule,
        reason,
        argument_keys,
        arguments,
        outcome,
        result_bytes,
        latency_us,
        detail,
    } = entry;
    h.update(time_ms.to_be_bytes());
    text(&mut h, event);
    for field in [
        identity, grant, server, session, request_id, method, tool, decision, rule, reason,
    ] {
        optional_text(&mut h, field.as_deref());
    }
    h.update((argument_keys.len() as u64).to_be_bytes());
    for key in argument_keys {
        text(&mut h, key);
    }
    optional_text(&mut h, arguments.as_deref());
    optional_text(&mut h, outcome.as_deref());
    for n in [result_bytes, latency_us] {
        match n {
            None => h.update([0]),
            Some(n) => {
                h.update([1]);
                h.update(n.to_be_bytes());
            }
        }
    }
    optional_text(&mut h, detail.as_deref());
    h.finalize().into()
}

fn text(h: &mut Sha256, s: &str) {
    h.update((s.len() as u64).to_be_bytes());
    h.update(s.as_bytes());
}

fn optional_text(h: &mut Sha256, s: Option<&str>) {
    match s {
        None => h.update([0]),
        Some(s) => {
            h.update([1]);
            text(h, s);
        }
    }
}

/// The bytes a checkpoint signs: `warden-audit-checkpoint-v1 <seq> <hash hex> <time_ms>`.
pub fn checkpoint_message(seq: u64, hash: &Hash, time_ms: u64) -> Vec<u8> {
    format!("{CHECKPOINT_DOMAIN} {seq} {} {time_ms}", hex(hash)).into_bytes()
}

/// Lower-case hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// Parses 64 hex digits into a hash.
pub(crate) fn parse_hex(s: &str) -> Option<Hash> {
    if s.len() != HASH_LEN * 2 || !s.is_ascii() {
        return None;
    }
    let mut out = [0u8; HASH_LEN];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&s[i * 2..i * 2 + 2], 16).ok()?;
    }
    Some(out)
}

/// Serde as hex text, for hashes in JSON output.
pub(crate) mod hex_serde {
    use super::{Hash, hex, parse_hex};

    pub(crate) fn serialize<S: serde::Serializer>(h: &Hash, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex(h))
    }

    pub(crate) fn deserialize<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Hash, D::Error> {
        let s: String = serde::Deserialize::deserialize(d)?;
        parse_hex(&s).ok_or_else(|| serde::de::Error::custom("expected 64 hex digits"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry() -> AuditEntry {
        AuditEntry {
            time_ms: 1,
            event: "call".into(),
            tool: Some("a".into()),
            ..AuditEntry::default()
        }
    }

    #[test]
    fn every_field_counts() {
        let base = entry_hash(&GENESIS, &entry());
        let mut moved = entry();
        // The same bytes in a neighbouring field must not hash alike.
        moved.tool = None;
        moved.method = Some("a".into());
        assert_ne!(base, entry_hash(&GENESIS, &moved));
        let mut later = entry();
        later.time_ms = 2;
        assert_ne!(base, entry_hash(&GENESIS, &later));
        assert_ne!(base, entry_hash(&[1; 32], &entry()));
        assert_eq!(base, entry_hash(&GENESIS, &entry()));
    }

    #[test]
    fn hex_round_trips() {
        let h = entry_hash(&GENESIS, &entry());
        assert_eq!(parse_hex(&hex(&h)), Some(h));
        assert_eq!(parse_hex("zz"), None);
    }
}
