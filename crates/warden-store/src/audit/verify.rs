//! Checking an audit log: every record's hash, every link, the anchor and
//! the signed checkpoints, and saying what was done to it.
//!
//! # What can be told
//!
//! Each record stores the hash of the one before it and its own hash over
//! that link and its content ([`entry_hash`]). Read in `seq` order, an
//! untouched log is one chain from the [`Anchor`]. Tampering leaves marks:
//!
//! | act | mark | reported as |
//! |---|---|---|
//! | a field changed | the record's recomputed hash differs from its stored one; the next record still links to the stored one | [`TamperKind::Edited`] |
//! | records deleted | a gap in `seq`, or (renumbered) a link to a hash no record has | [`TamperKind::Deleted`] |
//! | a record inserted | it links nowhere (or its successor links past it) while its neighbours link to each other | [`TamperKind::Inserted`] |
//! | rows swapped, `seq` changed | every record intact, but the links put them in another order | [`TamperKind::Reordered`] |
//! | the chain rewritten from some record on, every hash recomputed | only a signed checkpoint after that record disagrees | [`TamperKind::Checkpoint`] |
//! | records cut from the front, the anchor moved to hide it | the anchor disagrees with the last `retention` event | [`TamperKind::Anchor`] |
//!
//! One act is reported once: after a break the verifier follows the stored
//! links again rather than flagging every record after it. Some acts look
//! alike from the log alone (deleting record 7 and renumbering the rest, or
//! rewriting record 6 with a recomputed hash, both leave record 7 linking
//! to a hash nobody has); the message then names both readings.
//!
//! Without checkpoints, an attacker who can write the database can rewrite
//! the whole chain consistently; only a checkpoint signed with a key the
//! attacker does not hold tells. Records deleted from the end are likewise
//! visible only past a checkpoint.
//!
//! # Memory
//!
//! [`Verifier`] reads records one at a time and keeps, per record, only the
//! hashes of the last [`RECENT_WINDOW`] records (to tell an inserted record
//! from a deleted one); the rest it keeps grows with the number of breaks in
//! the chain, not with the log. A record moved farther than the window from
//! its place is reported as a deletion and an insertion rather than a
//! reordering.

use std::collections::{HashMap, VecDeque};
use std::fmt;

use ed25519_dalek::{Signature, VerifyingKey};

use super::{
    Anchor, AuditQuery, AuditRecord, AuditStore, Checkpoint, EVENT_RETENTION, GENESIS, Hash,
    checkpoint_message, entry_hash, hex,
};
use crate::StoreError;

/// How many recent records' hashes the verifier keeps to place a link that
/// points backwards inside the chain. Default: 100 000 (a few megabytes).
pub const RECENT_WINDOW: usize = 100_000;

/// How many records [`verify`] reads per query. Default: 5 000.
pub const PAGE_SIZE: usize = 5_000;

/// What was done to the log, as far as the chain tells.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TamperKind {
    /// A record's content (or one of its stored hashes) was changed.
    Edited,
    /// Records are missing.
    Deleted,
    /// A record that the chain never contained is present.
    Inserted,
    /// Records are intact but out of their chain order.
    Reordered,
    /// A checkpoint is forged, or disagrees with the log (which then was
    /// rewritten with every hash recomputed).
    Checkpoint,
    /// The anchor disagrees with what retention did: records were cut from
    /// the front outside retention.
    Anchor,
}

impl fmt::Display for TamperKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Edited => "edited",
            Self::Deleted => "deleted",
            Self::Inserted => "inserted",
            Self::Reordered => "reordered",
            Self::Checkpoint => "checkpoint",
            Self::Anchor => "anchor",
        })
    }
}

/// One problem found: which record, what kind, and a sentence for people.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Tamper {
    /// The first record concerned (for a deletion, the first one missing).
    pub seq: u64,
    /// What kind of tampering this is.
    pub kind: TamperKind,
    /// What was found, naming the records.
    pub message: String,
}

impl fmt::Display for Tamper {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at record {}: {}", self.kind, self.seq, self.message)
    }
}

/// The result of checking a log.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct VerifyReport {
    /// How many records were read.
    pub records: u64,
    /// The first record's `seq`, `None` for an empty log.
    pub first_seq: Option<u64>,
    /// The last record's `seq`, `None` for an empty log.
    pub last_seq: Option<u64>,
    /// How many checkpoints the store holds.
    pub checkpoints: usize,
    /// How many checkpoints verified under the public key given and agree
    /// with the log. Stays `0` when no key was given.
    pub checkpoints_verified: usize,
    /// The highest `seq` covered by a verified checkpoint: the log up to
    /// there is exactly what the key's holder signed.
    pub last_signed_seq: Option<u64>,
    /// Every problem, by `seq`. Empty when the log is intact.
    pub problems: Vec<Tamper>,
}

impl VerifyReport {
    /// Whether no problem was found.
    pub fn is_intact(&self) -> bool {
        self.problems.is_empty()
    }
}

/// Checks the whole log in `store`: reads the anchor and checkpoints, then
/// every record in `seq` order, [`PAGE_SIZE`] at a time, through a
/// [`Verifier`]. With `public_key`, checkpoints must carry a valid signature
/// by that Ed25519 key; without one they are compared with the log only.
///
/// Run it on a log nobody prunes meanwhile: a prune between reading the
/// anchor and reading the first records shows as a deletion.
///
/// # Errors
///
/// Whatever the store's reads return; a record the store cannot even decode
/// (a hash of the wrong length, a negative number) is an error, not a report.
pub async fn verify(
    store: &dyn AuditStore,
    public_key: Option<[u8; 32]>,
) -> Result<VerifyReport, StoreError> {
    let anchor = store.anchor().await?;
    let checkpoints = store.checkpoints().await?;
    let mut verifier = Verifier::new(anchor, checkpoints, public_key);
    let mut after_seq = None;
    loop {
        let page = store
            .query(&AuditQuery {
                after_seq,
                limit: PAGE_SIZE,
                ..AuditQuery::default()
            })
            .await?;
        for record in &page {
            verifier.push(record);
        }
        match page.last() {
            Some(last) if page.len() == PAGE_SIZE => after_seq = Some(last.seq),
            _ => break,
        }
    }
    Ok(verifier.finish())
}

/// Checks records pushed one at a time in `seq` order; [`finish`](Self::finish)
/// reports. Memory: see the module docs.
#[derive(Debug)]
pub struct Verifier {
    anchor: Anchor,
    public_key: Option<[u8; 32]>,
    checkpoints: Vec<CheckpointSeen>,
    /// Checkpoint indices by the `seq` they sign.
    checkpoint_by_seq: HashMap<u64, Vec<usize>>,
    /// Checkpoint indices by the hash they sign, to find a record that was
    /// renumbered.
    checkpoint_by_hash: HashMap<Hash, Vec<usize>>,
    records: u64,
    first_seq: Option<u64>,
    last: Last,
    /// Maximal stretches of records each linking to the one before.
    /// `runs[0]` stands for the anchor and holds no record.
    runs: Vec<Run>,
    /// Tail hash → run, for every run but the current one.
    tails: HashMap<Hash, usize>,
    /// Hash → place of the last [`RECENT_WINDOW`] records.
    recent: HashMap<Hash, Place>,
    recent_order: VecDeque<Hash>,
    /// Links to hashes not seen yet: hash → where a record with it turned up.
    pending: HashMap<Hash, Option<Place>>,
    edited: Vec<Edit>,
    /// Problems seen while reading (gaps inside a run, `seq` going back).
    early: Vec<Tamper>,
    /// The last `retention` event: its `seq` and `through_seq`.
    retention: Option<(u64, Option<u64>)>,
}

#[derive(Debug)]
struct CheckpointSeen {
    checkpoint: Checkpoint,
    /// The stored hash of the record at the checkpoint's `seq`.
    at_seq: Option<Hash>,
    /// The `seq` of a record with the checkpoint's hash, elsewhere.
    found_at: Option<u64>,
}

/// The last record read (or the anchor, before the first).
#[derive(Debug, Clone, Copy)]
struct Last {
    seq: u64,
    hash: Hash,
    /// `entry_hash` recomputed from its content.
    computed: Hash,
    pos: u64,
}

/// Where a record is: its position in reading order, its `seq`, its run.
#[derive(Debug, Clone, Copy)]
struct Place {
    pos: u64,
    seq: u64,
    run: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Head {
    /// Links to the last record of that run.
    Tail(usize),
    /// Links to a record inside that run, not its last.
    Inside { run: usize, pos: u64, seq: u64 },
    /// Links to a hash not seen when it was read; resolved in `finish`.
    Pending(Hash),
    /// Links to no record of the log.
    Unknown,
    /// Links to a record another run already continues.
    Fork(usize),
}

#[derive(Debug)]
struct Run {
    head: Head,
    first_pos: u64,
    last_pos: u64,
    first_seq: u64,
    last_seq: u64,
    records: u64,
    /// Set in `finish` when the records after this position are inserted.
    kept_through: Option<(u64, u64)>,
    inserted: bool,
    /// Set in `finish` when its one record was rewritten whole.
    replaced: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum EditHow {
    /// The content no longer matches the stored hash.
    Content,
    /// The stored hash was changed; the next record links to the true one.
    Hash,
    /// The stored link to the record before was changed.
    Link,
}

#[derive(Debug)]
struct Edit {
    seq: u64,
    pos: u64,
    how: EditHow,
}

impl Verifier {
    /// A verifier for a log starting at `anchor`, with the store's
    /// `checkpoints`, checking their signatures against `public_key` when
    /// given.
    pub fn new(anchor: Anchor, checkpoints: Vec<Checkpoint>, public_key: Option<[u8; 32]>) -> Self {
        let mut checkpoint_by_seq: HashMap<u64, Vec<usize>> = HashMap::new();
        let mut checkpoint_by_hash: HashMap<Hash, Vec<usize>> = HashMap::new();
        let checkpoints: Vec<CheckpointSeen> = checkpoints
            .into_iter()
            .enumerate()
            .map(|(i, checkpoint)| {
                checkpoint_by_seq.entry(checkpoint.seq).or_default().push(i);
                checkpoint_by_hash
                    .entry(checkpoint.hash)
                    .or_default()
                    .push(i);
                CheckpointSeen {
                    checkpoint,
                    at_seq: None,
                    found_at: None,
                }
            })
            .collect();
        let before = anchor.first_seq.saturating_sub(1);
        Verifier {
            anchor,
            public_key,
            checkpoints,
            checkpoint_by_seq,
            checkpoint_by_hash,
            records: 0,
            first_seq: None,
            last: Last {
                seq: before,
                hash: anchor.prev_hash,
                computed: anchor.prev_hash,
                pos: 0,
            },
            runs: vec![Run {
                head: Head::Unknown,
                first_pos: 0,
                last_pos: 0,
                first_seq: before,
                last_seq: before,
                records: 0,
                kept_through: None,
                inserted: false,
                replaced: false,
            }],
            tails: HashMap::new(),
            recent: HashMap::new(),
            recent_order: VecDeque::new(),
            pending: HashMap::new(),
            edited: Vec::new(),
            early: Vec::new(),
            retention: None,
        }
    }

    /// Reads the next record (records must come in `seq` order, as
    /// [`AuditStore::query`] returns them).
    pub fn push(&mut self, record: &AuditRecord) {
        self.records += 1;
        let pos = self.records;
        let seq = record.seq;
        self.first_seq.get_or_insert(seq);
        let computed = entry_hash(&record.prev_hash, &record.entry);
        let last = self.last;
        let current = self.runs.len() - 1;

        if record.entry.event == EVENT_RETENTION {
            self.retention = Some((seq, retention_through(record.entry.detail.as_deref())));
        }
        if let Some(ix) = self.checkpoint_by_seq.get(&seq) {
            for &i in ix {
                self.checkpoints[i].at_seq.get_or_insert(record.hash);
            }
        }
        if let Some(ix) = self.checkpoint_by_hash.get(&record.hash) {
            for &i in ix {
                let c = &mut self.checkpoints[i];
                if c.checkpoint.seq != seq {
                    c.found_at.get_or_insert(seq);
                }
            }
        }

        if pos > 1 && seq <= last.seq {
            self.early.push(Tamper {
                seq,
                kind: TamperKind::Reordered,
                message: format!(
                    "record {seq} is stored after record {}: sequence numbers go back",
                    last.seq
                ),
            });
        }

        // Does it continue the chain? Besides the plain link, two edits
        // keep it: the previous record's stored hash was changed (this one
        // links to its true hash), or this record's stored link was changed
        // (its hash is right for the true link).
        let mut self_ok = computed == record.hash;
        let linked = if record.prev_hash == last.hash {
            true
        } else if last.computed != last.hash && record.prev_hash == last.computed {
            if let Some(e) = self.edited.last_mut().filter(|e| e.pos == last.pos) {
                e.how = EditHow::Hash;
            }
            true
        } else if entry_hash(&last.hash, &record.entry) == record.hash {
            self.edited.push(Edit {
                seq,
                pos,
                how: EditHow::Link,
            });
            self_ok = true; // reported as a changed link, not content
            true
        } else {
            false
        };
        if !self_ok {
            self.edited.push(Edit {
                seq,
                pos,
                how: EditHow::Content,
            });
        }

        let expected = last.seq.saturating_add(1);
        if linked && current > 0 {
            if seq > expected {
                self.early.push(Tamper {
                    seq: expected,
                    kind: TamperKind::Deleted,
                    message: format!(
                        "{} missing: sequence numbers jump from {} to {seq}, though record {seq} \
                         links to record {} (the chain was recomputed after a deletion, or the \
                         numbers were changed)",
                        missing(expected, seq - 1),
                        last.seq,
                        last.seq
                    ),
                });
            }
            let run = &mut self.runs[current];
            run.last_pos = pos;
            run.last_seq = seq;
            run.records += 1;
        } else {
            let head = if linked {
                Head::Tail(current)
            } else {
                self.place_link(&record.prev_hash)
            };
            if current > 0 {
                self.tails.insert(last.hash, current);
            }
            if linked && seq > expected {
                self.early.push(Tamper {
                    seq: expected,
                    kind: TamperKind::Deleted,
                    message: format!(
                        "{} missing from the start of the log: record {seq} links to the anchor",
                        missing(expected, seq - 1)
                    ),
                });
            }
            if let Head::Pending(hash) = head {
                self.pending.entry(hash).or_insert(None);
            }
            self.runs.push(Run {
                head,
                first_pos: pos,
                last_pos: pos,
                first_seq: seq,
                last_seq: seq,
                records: 1,
                kept_through: None,
                inserted: false,
                replaced: false,
            });
        }

        let place = Place {
            pos,
            seq,
            run: self.runs.len() - 1,
        };
        if let Some(slot) = self.pending.get_mut(&record.hash) {
            slot.get_or_insert(place);
        }
        self.recent.insert(record.hash, place);
        self.recent_order.push_back(record.hash);
        // Forget the oldest hash, unless a later record with the same hash
        // (a copy) took its slot.
        if self.recent_order.len() > RECENT_WINDOW
            && let Some(old) = self.recent_order.pop_front()
            && self
                .recent
                .get(&old)
                .is_some_and(|p| p.pos + RECENT_WINDOW as u64 <= pos)
        {
            self.recent.remove(&old);
        }
        self.last = Last {
            seq,
            hash: record.hash,
            computed,
            pos,
        };
    }

    /// Where a link that does not point to the record just before lands,
    /// as far as known now.
    fn place_link(&self, prev: &Hash) -> Head {
        if *prev == self.anchor.prev_hash {
            return Head::Tail(0);
        }
        if let Some(&run) = self.tails.get(prev) {
            return Head::Tail(run);
        }
        match self.recent.get(prev) {
            Some(p) if self.runs[p.run].last_pos == p.pos && p.run != self.runs.len() - 1 => {
                Head::Tail(p.run)
            }
            Some(p) => Head::Inside {
                run: p.run,
                pos: p.pos,
                seq: p.seq,
            },
            None => Head::Pending(*prev),
        }
    }

    /// Analyses what was read and reports.
    pub fn finish(mut self) -> VerifyReport {
        let n = self.runs.len();
        // Links to records read later.
        for i in 1..n {
            if let Head::Pending(hash) = self.runs[i].head {
                self.runs[i].head = match self.pending.get(&hash).copied().flatten() {
                    Some(p) if self.runs[p.run].last_pos == p.pos => Head::Tail(p.run),
                    Some(p) => Head::Inside {
                        run: p.run,
                        pos: p.pos,
                        seq: p.seq,
                    },
                    None => Head::Unknown,
                };
            }
        }

        // Which run continues each run's last record: the one right after it
        // when that one links there, else the first that does.
        let mut succ: Vec<Option<usize>> = vec![None; n];
        for i in 1..n {
            if self.runs[i].head == Head::Tail(i - 1) {
                succ[i - 1] = Some(i);
            }
        }
        for i in 1..n {
            if let Head::Tail(j) = self.runs[i].head {
                match succ[j] {
                    None => succ[j] = Some(i),
                    Some(s) if s == i => {}
                    Some(_) => self.runs[i].head = Head::Fork(j),
                }
            }
        }

        let mut problems = std::mem::take(&mut self.early);
        self.find_insertions(&mut succ, &mut problems);
        self.find_reorders(&succ, &mut problems);
        self.check_anchor(&mut problems);
        self.find_deletions(&succ, &mut problems);
        self.report_edits(&mut problems);
        let (checkpoints_verified, last_signed_seq) = self.check_checkpoints(&mut problems);

        problems.sort_by_key(|p| p.seq);
        VerifyReport {
            records: self.records,
            first_seq: self.first_seq,
            last_seq: (self.records > 0).then_some(self.last.seq),
            checkpoints: self.checkpoints.len(),
            checkpoints_verified,
            last_signed_seq,
            problems,
        }
    }

    fn find_insertions(&mut self, succ: &mut [Option<usize>], problems: &mut Vec<Tamper>) {
        let n = self.runs.len();
        for i in 1..n {
            let Head::Inside { run: j, pos, seq } = self.runs[i].head else {
                if let Head::Fork(j) = self.runs[i].head {
                    let to = self.runs[j].last_seq;
                    problems.push(self.mark_forged(i, to));
                }
                continue;
            };
            // Two branches leave record `seq`: the rest of its run, and run
            // i with what follows it. The shorter one was slipped in (a
            // forged record with a recomputed hash, a copied record); on a
            // tie, the one read first, which the other skips.
            let skipped = self.runs[j].last_pos - pos;
            let mut following = 0;
            let mut at = Some(i);
            let mut steps = 0;
            while let Some(k) = at.filter(|_| steps < n) {
                following += self.runs[k].records;
                at = succ[k];
                steps += 1;
            }
            if j == i - 1 && succ[j].is_none() && skipped <= following {
                let last_seq = self.runs[j].last_seq;
                let (first, count) = (seq + 1, skipped);
                problems.push(Tamper {
                    seq: first,
                    kind: TamperKind::Inserted,
                    message: format!(
                        "{} not part of the chain: record {} links to record {seq}, skipping {}",
                        span(first, last_seq, "is", "are"),
                        self.runs[i].first_seq,
                        if count == 1 { "it" } else { "them" },
                    ),
                });
                self.runs[j].kept_through = Some((pos, seq));
                self.runs[i].head = Head::Tail(j);
                succ[j] = Some(i);
            } else {
                problems.push(self.mark_forged(i, seq));
            }
        }
        // Runs nobody links to and that link nowhere, between two runs that
        // link to each other: inserted.
        for k in 2..n {
            let Head::Tail(p) = self.runs[k].head else {
                continue;
            };
            if p + 1 >= k || self.runs[p].inserted {
                continue;
            }
            let orphans = (p + 1..k).all(|m| {
                self.runs[m].inserted || (succ[m].is_none() && self.runs[m].head == Head::Unknown)
            });
            if !orphans {
                continue;
            }
            let fresh: Vec<usize> = (p + 1..k).filter(|&m| !self.runs[m].inserted).collect();
            for &m in &fresh {
                self.runs[m].inserted = true;
            }
            // Forks were reported above; the rest in one sentence.
            if let (Some(&a), Some(&b)) = (fresh.first(), fresh.last()) {
                let first = self.runs[a].first_seq;
                let last = self.runs[b].last_seq;
                let before = self.runs[p]
                    .kept_through
                    .map_or(self.runs[p].last_seq, |k| k.1);
                problems.push(Tamper {
                    seq: first,
                    kind: TamperKind::Inserted,
                    message: format!(
                        "{} not part of the chain: {} to no record, and record {} links \
                         straight to record {before}",
                        span(first, last, "is", "are"),
                        if first == last {
                            "it links"
                        } else {
                            "they link"
                        },
                        self.runs[k].first_seq,
                    ),
                });
            }
        }
    }

    /// Marks run `i` inserted: it links to record `to`, which the chain
    /// continues elsewhere.
    fn mark_forged(&mut self, i: usize, to: u64) -> Tamper {
        let run = &mut self.runs[i];
        run.inserted = true;
        Tamper {
            seq: run.first_seq,
            kind: TamperKind::Inserted,
            message: format!(
                "{} not part of the chain: {} links to record {to}, which another record \
                 already follows (a copy or a forgery)",
                span(run.first_seq, run.last_seq, "is", "are"),
                if run.records == 1 { "it" } else { "the first" },
            ),
        }
    }

    /// Runs in reading order, without the inserted ones.
    fn kept(&self) -> Vec<usize> {
        (0..self.runs.len())
            .filter(|&i| !self.runs[i].inserted)
            .collect()
    }

    fn find_reorders(&self, succ: &[Option<usize>], problems: &mut Vec<Tamper>) {
        let order = self.kept();
        // The chain's order: from the anchor along the links, then from
        // each run that links to nothing known, in reading order.
        let mut chain_index: Vec<Option<usize>> = vec![None; self.runs.len()];
        let mut chain: Vec<usize> = Vec::with_capacity(order.len());
        let starts: Vec<usize> = order
            .iter()
            .copied()
            .filter(|&i| {
                i == 0 || !matches!(self.runs[i].head, Head::Tail(j) if !self.runs[j].inserted)
            })
            .chain(order.iter().copied())
            .collect();
        for start in starts {
            let mut at = Some(start);
            while let Some(i) = at {
                if chain_index[i].is_some() || self.runs[i].inserted {
                    break;
                }
                chain_index[i] = Some(chain.len());
                chain.push(i);
                at = succ[i];
            }
        }
        // Stretches of reading order holding the same runs as the same
        // stretch of chain order; those longer than one run are reordered.
        let mut start = 0;
        let mut reach = 0;
        for (t, &i) in order.iter().enumerate() {
            reach = reach.max(chain_index[i].unwrap_or(t));
            if reach == t {
                if t > start {
                    problems.push(self.reorder_problem(&order[start..=t], &chain_index));
                }
                start = t + 1;
            }
        }
    }

    /// One problem for a stretch of runs whose chain order differs from
    /// their reading order: the runs not on the heaviest stretch already in
    /// order are named as moved.
    fn reorder_problem(&self, stretch: &[usize], chain_index: &[Option<usize>]) -> Tamper {
        let first = &self.runs[stretch[0]];
        let last = &self.runs[stretch[stretch.len() - 1]];
        // In chain order, the reading positions; the heaviest increasing
        // subsequence (by records) stayed in place.
        let mut by_chain: Vec<(usize, usize)> = stretch
            .iter()
            .enumerate()
            .map(|(reading, &i)| (chain_index[i].unwrap_or(usize::MAX), reading))
            .collect();
        by_chain.sort_unstable();
        let positions: Vec<usize> = by_chain.iter().map(|&(_, r)| r).collect();
        let moved: Vec<usize> = if positions.len() > 2_000 {
            stretch.to_vec()
        } else {
            let weight = |r: usize| self.runs[stretch[r]].records.max(1);
            let mut best: Vec<u64> = Vec::with_capacity(positions.len());
            let mut from: Vec<Option<usize>> = Vec::with_capacity(positions.len());
            for (a, &pa) in positions.iter().enumerate() {
                let mut b_best = (weight(pa), None);
                for (b, &pb) in positions[..a].iter().enumerate() {
                    if pb < pa && best[b] + weight(pa) > b_best.0 {
                        b_best = (best[b] + weight(pa), Some(b));
                    }
                }
                best.push(b_best.0);
                from.push(b_best.1);
            }
            let mut in_place = vec![false; stretch.len()];
            let mut at = (0..best.len()).max_by_key(|&a| (best[a], std::cmp::Reverse(a)));
            while let Some(a) = at {
                in_place[positions[a]] = true;
                at = from[a];
            }
            (0..stretch.len())
                .filter(|&r| !in_place[r])
                .map(|r| stretch[r])
                .collect()
        };
        let names: Vec<String> = moved
            .iter()
            .take(6)
            .map(|&i| {
                let run = &self.runs[i];
                if run.records > 1 {
                    format!("{} to {}", run.first_seq, run.last_seq)
                } else {
                    run.first_seq.to_string()
                }
            })
            .collect();
        let more = moved.len().saturating_sub(names.len());
        let moved_count: u64 = moved.iter().map(|&i| self.runs[i].records).sum();
        let (noun, verb, each, pronoun) = if moved_count == 1 {
            ("record", "is", "it is", "it")
        } else {
            ("records", "are", "each is", "them")
        };
        let more = if more > 0 {
            format!(" and {more} more stretches")
        } else {
            String::new()
        };
        Tamper {
            seq: first.first_seq,
            kind: TamperKind::Reordered,
            message: format!(
                "{noun} {}{more} {verb} out of place among records {} to {}: {each} intact, but \
                 the hash links put {pronoun} elsewhere (rows swapped, or sequence numbers \
                 changed)",
                join_and(&names),
                first.first_seq,
                last.last_seq,
            ),
        }
    }

    fn find_deletions(&mut self, succ: &[Option<usize>], problems: &mut Vec<Tamper>) {
        let order = self.kept();
        let anchored = self.anchor != Anchor::default();
        let reported_anchor = problems.iter().any(|p| p.kind == TamperKind::Anchor);
        let mut skip = false;
        for t in 1..order.len() {
            if std::mem::take(&mut skip) {
                continue;
            }
            let (before, i) = (&self.runs[order[t - 1]], &self.runs[order[t]]);
            if i.head != Head::Unknown {
                continue;
            }
            let expected = before
                .kept_through
                .map_or(before.last_seq, |k| k.1)
                .saturating_add(1);
            let at_start = t == 1;
            // One record linking nowhere, nobody linking to it, and the next
            // one linking to a hash nobody has, no number missing: that
            // record was replaced (rewritten, links and hash included).
            let replaced = !at_start
                && i.records == 1
                && i.first_seq == expected
                && succ[order[t]].is_none()
                && order.get(t + 1).is_some_and(|&next| {
                    let next = &self.runs[next];
                    next.head == Head::Unknown && next.first_seq == i.last_seq.saturating_add(1)
                });
            if replaced {
                let seq = i.first_seq;
                problems.push(Tamper {
                    seq,
                    kind: TamperKind::Edited,
                    message: format!(
                        "record {seq} was replaced: it links to no record, and record {} links \
                         to a hash no record has (its content and hashes were rewritten)",
                        seq + 1
                    ),
                });
                self.runs[order[t]].replaced = true;
                skip = true;
                continue;
            }
            let tamper = if i.first_seq > expected {
                Tamper {
                    seq: expected,
                    kind: TamperKind::Deleted,
                    message: format!(
                        "{} missing{}: record {} links to a hash no record has",
                        missing(expected, i.first_seq - 1),
                        if at_start {
                            " from the start of the log"
                        } else {
                            ""
                        },
                        i.first_seq
                    ),
                }
            } else if at_start && anchored {
                if reported_anchor {
                    continue;
                }
                Tamper {
                    seq: i.first_seq,
                    kind: TamperKind::Anchor,
                    message: format!(
                        "record {} does not link to the anchor's hash {}: the anchor or the \
                         records before it were changed",
                        i.first_seq,
                        hex(&self.anchor.prev_hash)
                    ),
                }
            } else if at_start {
                Tamper {
                    seq: i.first_seq,
                    kind: TamperKind::Deleted,
                    message: format!(
                        "records are missing from the start of the log: record {} is the first \
                         but links to a hash no record has (deleted, and the rest renumbered)",
                        i.first_seq
                    ),
                }
            } else {
                Tamper {
                    seq: i.first_seq,
                    kind: TamperKind::Deleted,
                    message: format!(
                        "a record before record {0} is missing: record {0} links to a hash no \
                         record has (a record was deleted and the rest renumbered, or record {1} \
                         was rewritten with its hash recomputed)",
                        i.first_seq,
                        expected.saturating_sub(1)
                    ),
                }
            };
            problems.push(tamper);
        }
    }

    fn report_edits(&self, problems: &mut Vec<Tamper>) {
        for e in &self.edited {
            if self.is_explained(e.pos) {
                continue;
            }
            let seq = e.seq;
            let message = match e.how {
                EditHow::Content => format!(
                    "record {seq} was changed after it was written: its content no longer \
                     matches its hash"
                ),
                EditHow::Hash => format!(
                    "record {seq}'s stored hash was changed: the next record links to the hash \
                     of its content"
                ),
                EditHow::Link => format!(
                    "record {seq}'s link to the record before was changed: its hash matches \
                     the true link"
                ),
            };
            problems.push(Tamper {
                seq,
                kind: TamperKind::Edited,
                message,
            });
        }
    }

    /// Whether the record at `pos` is part of an insertion or replacement
    /// already reported.
    fn is_explained(&self, pos: u64) -> bool {
        // Runs are in reading order: the last one starting at or before pos.
        let i = self.runs.partition_point(|r| r.first_pos <= pos);
        let Some(run) = i.checked_sub(1).map(|i| &self.runs[i]) else {
            return false;
        };
        run.inserted || run.replaced || run.kept_through.is_some_and(|(kept, _)| pos > kept)
    }

    fn check_anchor(&self, problems: &mut Vec<Tamper>) {
        let first = self.anchor.first_seq;
        let message = match self.retention {
            Some((event, Some(through))) if through.saturating_add(1) != first => format!(
                "the anchor says the log starts at record {first}, but the last retention event \
                 (record {event}) removed records through {through}: {}",
                if first > through {
                    format!(
                        "{} cut from the front outside retention",
                        span(through + 1, first - 1, "was", "were")
                    )
                } else {
                    "the anchor was moved back".to_owned()
                }
            ),
            None if first != 1 => format!(
                "the anchor says the log starts at record {first}, but no retention event \
                 removed records: {} cut from the front outside retention",
                span(1, first - 1, "was", "were")
            ),
            None if self.anchor.prev_hash != GENESIS => format!(
                "the log was never pruned, but its anchor links record 1 to {} instead of the \
                 genesis hash",
                hex(&self.anchor.prev_hash)
            ),
            _ => return,
        };
        problems.push(Tamper {
            seq: first,
            kind: TamperKind::Anchor,
            message,
        });
    }

    /// Checks signatures and agreement with the log; returns the count of
    /// verified checkpoints and the last `seq` they cover.
    fn check_checkpoints(&self, problems: &mut Vec<Tamper>) -> (usize, Option<u64>) {
        let key = self.public_key.map(|k| (k, VerifyingKey::from_bytes(&k)));
        let mut order: Vec<&CheckpointSeen> = self.checkpoints.iter().collect();
        order.sort_by_key(|c| c.checkpoint.seq);
        let structural = |seq: u64| {
            problems.iter().any(|p| {
                p.seq <= seq
                    && matches!(
                        p.kind,
                        TamperKind::Deleted | TamperKind::Inserted | TamperKind::Reordered
                    )
            })
        };
        let mut found: Vec<Tamper> = Vec::new();
        let mut verified = 0;
        let mut last_signed = None;
        let mut last_good: Option<u64> = None;
        // The open "rewritten" problem: index in `found` and how many
        // checkpoints it stands for.
        let mut rewrite: Option<(usize, usize)> = None;
        let mut truncated: Option<usize> = None;
        let log_end = (self.records > 0).then_some(self.last.seq);
        for seen in order {
            let c = &seen.checkpoint;
            if let Some((want, parsed)) = &key {
                let problem = if c.public_key != *want {
                    Some(format!(
                        "the checkpoint of record {} was signed by another key ({}), not the \
                         one given",
                        c.seq,
                        hex(&c.public_key)
                    ))
                } else {
                    match parsed {
                        Err(_) => Some(format!(
                            "the checkpoint of record {} cannot be checked: the public key \
                             given is not a valid Ed25519 key",
                            c.seq
                        )),
                        Ok(vk) => vk
                            .verify_strict(
                                &checkpoint_message(c.seq, &c.hash, c.time_ms),
                                &Signature::from_bytes(&c.signature),
                            )
                            .err()
                            .map(|_| {
                                format!(
                                    "the checkpoint of record {} has a signature that does not \
                                     verify: it was forged or altered",
                                    c.seq
                                )
                            }),
                    }
                };
                if let Some(message) = problem {
                    found.push(Tamper {
                        seq: c.seq,
                        kind: TamperKind::Checkpoint,
                        message,
                    });
                    continue;
                }
            }
            if c.seq < self.anchor.first_seq {
                // Before the log: retention removes these with the records.
                continue;
            }
            if seen.at_seq == Some(c.hash) {
                if key.is_some() {
                    verified += 1;
                    last_signed = Some(c.seq);
                }
                last_good = Some(c.seq);
                rewrite = None;
                continue;
            }
            if seen.found_at.is_some() && structural(c.seq) {
                // The signed record is there under another number; the
                // deletion, insertion or reordering reported explains it.
                continue;
            }
            if let Some(found_at) = seen.found_at {
                found.push(Tamper {
                    seq: c.seq,
                    kind: TamperKind::Checkpoint,
                    message: format!(
                        "the record the checkpoint of record {} signed is stored as record \
                         {found_at}: sequence numbers were changed",
                        c.seq
                    ),
                });
                continue;
            }
            if log_end.is_none_or(|end| c.seq > end) {
                let from = log_end.map_or(self.anchor.first_seq, |end| end + 1);
                let message = format!(
                    "{} missing from the end of the log: a checkpoint signed record {}",
                    missing(from, c.seq),
                    c.seq
                );
                match truncated {
                    Some(i) => found[i].message = message,
                    None => {
                        truncated = Some(found.len());
                        found.push(Tamper {
                            seq: from,
                            kind: TamperKind::Deleted,
                            message,
                        });
                    }
                }
                continue;
            }
            if seen.at_seq.is_none() && structural(c.seq) {
                continue; // inside a deletion already reported
            }
            match &mut rewrite {
                Some((i, count)) => {
                    *count += 1;
                    let (i, count) = (*i, *count);
                    found[i].message = rewritten(&found[i], count, last_good);
                }
                None => {
                    let mut t = Tamper {
                        seq: c.seq,
                        kind: TamperKind::Checkpoint,
                        message: String::new(),
                    };
                    t.message = rewritten(&t, 1, last_good);
                    rewrite = Some((found.len(), 1));
                    found.push(t);
                }
            }
        }
        problems.extend(found);
        (verified, last_signed)
    }
}

/// The message for a checkpoint that disagrees with a log whose links hold:
/// everything from some record on was rewritten.
fn rewritten(t: &Tamper, count: usize, last_good: Option<u64>) -> String {
    let seq = t.seq;
    let mut s = format!(
        "record {seq} does not have the hash its checkpoint signed, though every link holds: \
         the log was rewritten at or before record {seq}"
    );
    if let Some(good) = last_good {
        s.push_str(&format!(
            " and after record {good} (whose checkpoint agrees)"
        ));
    }
    s.push_str(", with every hash recomputed");
    if count > 1 {
        s.push_str(&format!(
            "; {} later checkpoint{} disagree{} too",
            count - 1,
            if count == 2 { "" } else { "s" },
            if count == 2 { "s" } else { "" },
        ));
    }
    s
}

/// `through_seq` from a `retention` event's detail.
fn retention_through(detail: Option<&str>) -> Option<u64> {
    let v: serde_json::Value = serde_json::from_str(detail?).ok()?;
    v.get("through_seq")?.as_u64()
}

/// "record 7 is" / "records 7 to 9 are".
fn missing(from: u64, to: u64) -> String {
    span(from, to, "is", "are")
}

fn span(from: u64, to: u64, one: &str, many: &str) -> String {
    if from == to {
        format!("record {from} {one}")
    } else {
        format!("records {from} to {to} {many}")
    }
}

/// "a", "a and b", "a, b and c".
fn join_and(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use ed25519_dalek::{Signer, SigningKey};

    use super::*;
    use crate::audit::{AuditEntry, Retention, retention_entry};

    const T0: u64 = 1_760_000_000_000;

    fn entry(i: u64) -> AuditEntry {
        AuditEntry {
            time_ms: T0 + i,
            event: "call".into(),
            identity: Some("ana".into()),
            tool: Some(format!("tool-{i}")),
            decision: Some("allow".into()),
            argument_keys: vec!["a".into()],
            ..AuditEntry::default()
        }
    }

    /// Records `1..=n`, chained from the genesis hash.
    fn chain(n: u64) -> Vec<AuditRecord> {
        let mut records: Vec<AuditRecord> = (1..=n)
            .map(|i| AuditRecord {
                seq: i,
                prev_hash: GENESIS,
                hash: GENESIS,
                entry: entry(i),
            })
            .collect();
        relink(&mut records, 0, GENESIS);
        records
    }

    /// Recomputes links and hashes from index `from` on, as an attacker
    /// with the hashing code would.
    fn relink(records: &mut [AuditRecord], from: usize, before: Hash) {
        let mut prev = if from == 0 {
            before
        } else {
            records[from - 1].hash
        };
        for r in &mut records[from..] {
            r.prev_hash = prev;
            r.hash = entry_hash(&prev, &r.entry);
            prev = r.hash;
        }
    }

    fn renumber(records: &mut [AuditRecord], first: u64) {
        for (i, r) in records.iter_mut().enumerate() {
            r.seq = first + i as u64;
        }
    }

    fn key() -> SigningKey {
        SigningKey::from_bytes(&[7; 32])
    }

    fn signed(key: &SigningKey, record: &AuditRecord) -> Checkpoint {
        let time_ms = T0 + 1_000_000;
        Checkpoint {
            seq: record.seq,
            hash: record.hash,
            time_ms,
            public_key: key.verifying_key().to_bytes(),
            signature: key
                .sign(&checkpoint_message(record.seq, &record.hash, time_ms))
                .to_bytes(),
        }
    }

    fn run(
        records: &[AuditRecord],
        anchor: Anchor,
        checkpoints: Vec<Checkpoint>,
        key: Option<[u8; 32]>,
    ) -> VerifyReport {
        let mut v = Verifier::new(anchor, checkpoints, key);
        for r in records {
            v.push(r);
        }
        v.finish()
    }

    fn found(records: &[AuditRecord]) -> Vec<(TamperKind, u64)> {
        kinds(&run(records, Anchor::default(), Vec::new(), None))
    }

    fn kinds(report: &VerifyReport) -> Vec<(TamperKind, u64)> {
        report.problems.iter().map(|p| (p.kind, p.seq)).collect()
    }

    use TamperKind as K;

    #[test]
    fn intact_chain() {
        let records = chain(50);
        let report = run(&records, Anchor::default(), Vec::new(), None);
        assert!(report.is_intact(), "{:?}", report.problems);
        assert_eq!(report.records, 50);
        assert_eq!((report.first_seq, report.last_seq), (Some(1), Some(50)));
        let empty = run(&[], Anchor::default(), Vec::new(), None);
        assert!(empty.is_intact());
        assert_eq!(
            (empty.records, empty.first_seq, empty.last_seq),
            (0, None, None)
        );
    }

    #[test]
    fn edited_content() {
        let mut records = chain(20);
        records[6].entry.tool = Some("forged".into());
        let report = run(&records, Anchor::default(), Vec::new(), None);
        assert_eq!(kinds(&report), [(K::Edited, 7)]);
        assert!(
            report.problems[0].message.contains("record 7"),
            "{}",
            report.problems[0]
        );
    }

    #[test]
    fn edited_stored_hash_or_link() {
        let mut records = chain(20);
        records[6].hash = [9; 32];
        assert_eq!(found(&records), [(K::Edited, 7)]);
        let mut records = chain(20);
        records[6].prev_hash = [9; 32];
        assert_eq!(found(&records), [(K::Edited, 7)]);
        let mut records = chain(20);
        records[0].prev_hash = [9; 32];
        assert_eq!(found(&records), [(K::Edited, 1)]);
    }

    #[test]
    fn two_acts_two_problems() {
        let mut records = chain(40);
        records[4].entry.decision = Some("deny".into());
        records.remove(29); // seq 30
        assert_eq!(found(&records), [(K::Edited, 5), (K::Deleted, 30)]);
    }

    #[test]
    fn deleted_records() {
        let mut records = chain(20);
        records.remove(6);
        assert_eq!(found(&records), [(K::Deleted, 7)]);

        let mut records = chain(20);
        records.drain(6..9);
        let report = run(&records, Anchor::default(), Vec::new(), None);
        assert_eq!(kinds(&report), [(K::Deleted, 7)]);
        assert!(
            report.problems[0].message.contains("records 7 to 9"),
            "{}",
            report.problems[0]
        );

        // Renumbered to hide the gap.
        let mut records = chain(20);
        records.drain(6..9);
        renumber(&mut records, 1);
        assert_eq!(found(&records), [(K::Deleted, 7)]);
    }

    #[test]
    fn deleted_from_the_front() {
        let mut records = chain(20);
        records.drain(..5);
        let report = run(&records, Anchor::default(), Vec::new(), None);
        assert_eq!(kinds(&report), [(K::Deleted, 1)]);
        assert!(
            report.problems[0].message.contains("records 1 to 5"),
            "{}",
            report.problems[0]
        );
        renumber(&mut records, 1);
        assert_eq!(found(&records), [(K::Deleted, 1)]);
    }

    #[test]
    fn deleted_and_chain_recomputed_leaves_a_gap() {
        let mut records = chain(20);
        records.remove(6);
        relink(&mut records, 6, GENESIS);
        assert_eq!(found(&records), [(K::Deleted, 7)]);
    }

    fn forged(seq: u64) -> AuditRecord {
        let mut entry = entry(seq);
        entry.tool = Some("exfiltrate".into());
        AuditRecord {
            seq,
            prev_hash: [3; 32],
            hash: [4; 32],
            entry,
        }
    }

    #[test]
    fn inserted_record_linking_nowhere() {
        let mut records = chain(20);
        records.insert(6, forged(7));
        renumber(&mut records, 1);
        let report = run(&records, Anchor::default(), Vec::new(), None);
        assert_eq!(kinds(&report), [(K::Inserted, 7)]);
        assert!(
            report.problems[0].message.contains("record 7"),
            "{}",
            report.problems[0]
        );
    }

    #[test]
    fn inserted_record_with_recomputed_hash() {
        let mut records = chain(20);
        let mut f = forged(7);
        f.prev_hash = records[5].hash;
        f.hash = entry_hash(&f.prev_hash, &f.entry);
        records.insert(6, f);
        renumber(&mut records, 1);
        assert_eq!(found(&records), [(K::Inserted, 7)]);
        // Two of them.
        let mut records = chain(20);
        let mut prev = records[5].hash;
        for k in 0..2 {
            let mut f = forged(7 + k);
            f.prev_hash = prev;
            f.hash = entry_hash(&prev, &f.entry);
            prev = f.hash;
            records.insert(6 + k as usize, f);
        }
        renumber(&mut records, 1);
        assert_eq!(found(&records), [(K::Inserted, 7)]);
    }

    #[test]
    fn inserted_at_the_front_and_copied_at_the_end() {
        let mut records = chain(20);
        records.insert(0, forged(1));
        renumber(&mut records, 1);
        assert_eq!(found(&records), [(K::Inserted, 1)]);

        let mut records = chain(20);
        let mut copy = records[9].clone();
        copy.seq = 21;
        records.push(copy);
        assert_eq!(found(&records), [(K::Inserted, 21)]);
    }

    fn swap(records: &mut [AuditRecord], a: u64, b: u64) {
        let (a, b) = (a as usize - 1, b as usize - 1);
        let (sa, sb) = (records[a].seq, records[b].seq);
        records.swap(a, b);
        records[a].seq = sa;
        records[b].seq = sb;
    }

    #[test]
    fn swapped_records() {
        let mut records = chain(30);
        swap(&mut records, 10, 11);
        assert_eq!(found(&records), [(K::Reordered, 10)]);

        let mut records = chain(30);
        swap(&mut records, 10, 20);
        let report = run(&records, Anchor::default(), Vec::new(), None);
        assert_eq!(kinds(&report), [(K::Reordered, 10)]);
        let message = &report.problems[0].message;
        assert!(
            message.contains("records 10 and 20 are out of place"),
            "{message}"
        );

        // The first and the last.
        let mut records = chain(30);
        swap(&mut records, 1, 30);
        assert_eq!(found(&records), [(K::Reordered, 1)]);
    }

    #[test]
    fn moved_record() {
        // Record 5 moved after record 15, the rest renumbered.
        let mut records = chain(30);
        let moved = records.remove(4);
        records.insert(14, moved);
        renumber(&mut records, 1);
        let report = run(&records, Anchor::default(), Vec::new(), None);
        assert_eq!(kinds(&report), [(K::Reordered, 5)]);
        let message = &report.problems[0].message;
        assert!(
            message.starts_with("record 15 is out of place"),
            "{message}"
        );
    }

    #[test]
    fn sequence_going_back_is_reordered() {
        let mut records = chain(10);
        records[4].seq = 2;
        let report = found(&records);
        assert!(report.contains(&(K::Reordered, 2)), "{report:?}");
    }

    #[test]
    fn rewritten_chain_needs_a_checkpoint() {
        let key = key();
        let pk = key.verifying_key().to_bytes();
        let original = chain(30);
        let checkpoints: Vec<Checkpoint> = [10, 20, 30]
            .iter()
            .map(|&s| signed(&key, &original[s - 1]))
            .collect();
        let mut records = original.clone();
        records[14].entry.tool = Some("covered-up".into());
        relink(&mut records, 14, GENESIS);
        assert!(found(&records).is_empty(), "links alone cannot tell");

        let report = run(&records, Anchor::default(), checkpoints.clone(), Some(pk));
        assert_eq!(kinds(&report), [(K::Checkpoint, 20)]);
        let message = &report.problems[0].message;
        assert!(message.contains("after record 10"), "{message}");
        assert!(
            message.contains("1 later checkpoint disagrees"),
            "{message}"
        );
        assert_eq!(report.checkpoints, 3);
        assert_eq!(report.checkpoints_verified, 1);
        assert_eq!(report.last_signed_seq, Some(10));

        // Without the key, checkpoints still have to agree with the log.
        let report = run(&records, Anchor::default(), checkpoints.clone(), None);
        assert_eq!(kinds(&report), [(K::Checkpoint, 20)]);
        assert_eq!(report.checkpoints_verified, 0);
        assert_eq!(report.last_signed_seq, None);

        let intact = run(&original, Anchor::default(), checkpoints, Some(pk));
        assert!(intact.is_intact(), "{:?}", intact.problems);
        assert_eq!(intact.checkpoints_verified, 3);
        assert_eq!(intact.last_signed_seq, Some(30));
    }

    #[test]
    fn forged_checkpoints() {
        let key = key();
        let pk = key.verifying_key().to_bytes();
        let records = chain(30);
        let other = SigningKey::from_bytes(&[8; 32]);
        let mut bad_sig = signed(&key, &records[9]);
        bad_sig.signature[0] ^= 1;
        let mut moved = signed(&key, &records[19]);
        moved.hash = records[20].hash; // signature no longer covers it
        let checkpoints = vec![bad_sig, moved, signed(&other, &records[24])];
        let report = run(&records, Anchor::default(), checkpoints, Some(pk));
        assert_eq!(
            kinds(&report),
            [
                (K::Checkpoint, 10),
                (K::Checkpoint, 20),
                (K::Checkpoint, 25)
            ]
        );
        assert!(report.problems[2].message.contains("another key"));
        assert_eq!(report.checkpoints_verified, 0);
    }

    #[test]
    fn truncated_end_shows_past_a_checkpoint() {
        let key = key();
        let records = chain(30);
        let checkpoints = vec![signed(&key, &records[29])];
        let report = run(
            &records[..25],
            Anchor::default(),
            checkpoints,
            Some(key.verifying_key().to_bytes()),
        );
        assert_eq!(kinds(&report), [(K::Deleted, 26)]);
        assert!(report.problems[0].message.contains("records 26 to 30"));
    }

    #[test]
    fn renumbering_does_not_also_fail_checkpoints() {
        let key = key();
        let pk = key.verifying_key().to_bytes();
        let mut records = chain(30);
        let checkpoints = vec![signed(&key, &records[19]), signed(&key, &records[29])];
        records.remove(6);
        renumber(&mut records, 1);
        let report = run(&records, Anchor::default(), checkpoints, Some(pk));
        assert_eq!(kinds(&report), [(K::Deleted, 7)]);
    }

    /// A log pruned through `through` by retention, as a store does it.
    fn pruned(n: u64, through: u64) -> (Vec<AuditRecord>, Anchor) {
        let mut records = chain(n);
        let gone: Vec<AuditRecord> = records.drain(..through as usize).collect();
        let anchor = Anchor {
            first_seq: through + 1,
            prev_hash: gone.last().map_or(GENESIS, |r| r.hash),
        };
        let last = records.last().map_or(anchor.prev_hash, |r| r.hash);
        let event = retention_entry(through, through, &Retention::default(), T0 + n + 1);
        records.push(AuditRecord {
            seq: n + 1,
            prev_hash: last,
            hash: entry_hash(&last, &event),
            entry: event,
        });
        (records, anchor)
    }

    #[test]
    fn anchor_follows_retention() {
        let (records, anchor) = pruned(30, 10);
        assert!(run(&records, anchor, Vec::new(), None).is_intact());

        // Five more cut, the anchor moved to hide it.
        let (mut records, _) = pruned(30, 10);
        let cut: Vec<AuditRecord> = records.drain(..5).collect();
        let moved = Anchor {
            first_seq: 16,
            prev_hash: cut[4].hash,
        };
        let report = run(&records, moved, Vec::new(), None);
        assert_eq!(kinds(&report), [(K::Anchor, 16)]);
        let message = &report.problems[0].message;
        assert!(message.contains("records 11 to 15 were cut"), "{message}");

        // Cut without moving the anchor: a deletion.
        let report = run(&records, anchor, Vec::new(), None);
        assert_eq!(kinds(&report), [(K::Deleted, 11)]);

        // Never pruned, but the anchor says otherwise.
        let mut records = chain(20);
        let cut: Vec<AuditRecord> = records.drain(..4).collect();
        let moved = Anchor {
            first_seq: 5,
            prev_hash: cut[3].hash,
        };
        assert_eq!(
            kinds(&run(&records, moved, Vec::new(), None)),
            [(K::Anchor, 5)]
        );
    }

    #[test]
    fn everything_pruned() {
        let (records, anchor) = pruned(10, 10);
        assert_eq!(records.len(), 1);
        assert!(run(&records, anchor, Vec::new(), None).is_intact());
    }

    #[test]
    fn one_edit_in_a_long_log_is_one_problem() {
        let mut records = chain(3_000);
        records[1_234].entry.reason = Some("quietly".into());
        records[2_000].prev_hash = [1; 32];
        records[2_000].hash = entry_hash(&records[2_000].prev_hash, &records[2_000].entry);
        // Record 2001 rewritten with a recomputed hash over a bogus link:
        // record 2002 links to a hash nobody has.
        assert_eq!(found(&records), [(K::Edited, 1_235), (K::Edited, 2_001)]);
        // Replaced with garbage hashes: still one problem.
        records[2_000].hash = [2; 32];
        assert_eq!(found(&records), [(K::Edited, 1_235), (K::Edited, 2_001)]);
    }

    /// One act of tampering on a log of [`PROP_LEN`] records.
    #[derive(Clone, Debug)]
    enum Act {
        Edit(usize),
        Delete(usize, bool),
        Insert(usize, bool),
        Swap(usize, usize),
        Move(usize, usize),
        /// An edit with every hash after it recomputed.
        Rewrite(usize),
    }

    const PROP_LEN: usize = 40;

    fn act() -> impl proptest::strategy::Strategy<Value = Act> {
        use proptest::prelude::*;
        let i = 0..PROP_LEN;
        prop_oneof![
            i.clone().prop_map(Act::Edit),
            (i.clone(), any::<bool>()).prop_map(|(i, r)| Act::Delete(i, r)),
            (0..PROP_LEN - 1, any::<bool>()).prop_map(|(i, l)| Act::Insert(i, l)),
            (i.clone(), i.clone()).prop_map(|(a, b)| Act::Swap(a, b)),
            (i.clone(), i.clone()).prop_map(|(a, b)| Act::Move(a, b)),
            i.prop_map(Act::Rewrite),
        ]
    }

    fn apply(records: &mut Vec<AuditRecord>, act: &Act) {
        match *act {
            Act::Edit(i) => {
                let i = i.min(records.len() - 1);
                records[i].entry.reason = Some(format!("edited {i}"));
            }
            Act::Delete(i, renumbered) => {
                let i = i.min(records.len() - 1);
                let first = records[0].seq;
                records.remove(i);
                if renumbered {
                    renumber(records, first);
                }
            }
            Act::Insert(i, linked) => {
                let i = i.min(records.len() - 1);
                let mut f = forged(0);
                if linked && i > 0 {
                    f.prev_hash = records[i - 1].hash;
                    f.hash = entry_hash(&f.prev_hash, &f.entry);
                }
                let first = records[0].seq;
                records.insert(i, f);
                renumber(records, first);
            }
            Act::Swap(a, b) => {
                let n = records.len() as u64;
                swap(
                    records,
                    (a as u64).min(n - 1) + 1,
                    (b as u64).min(n - 1) + 1,
                );
            }
            Act::Rewrite(i) => {
                let i = i.min(records.len() - 1);
                records[i].entry.tool = Some(format!("rewritten {i}"));
                let before = records[i].prev_hash;
                relink(records, i, before);
            }
            Act::Move(a, b) => {
                let (a, b) = (a.min(records.len() - 1), b.min(records.len() - 1));
                let first = records[0].seq;
                let r = records.remove(a);
                records.insert(b, r);
                renumber(records, first);
            }
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(128))]

        /// Every single act shows as exactly one problem.
        #[test]
        fn one_act_one_problem(act in act()) {
            let key = key();
            let original = chain(PROP_LEN as u64);
            let checkpoints = vec![signed(&key, &original[PROP_LEN - 1])];
            let mut records = original.clone();
            apply(&mut records, &act);
            proptest::prop_assume!(records != original);
            let report = run(&records, Anchor::default(), checkpoints, Some(key.verifying_key().to_bytes()));
            proptest::prop_assert_eq!(report.problems.len(), 1, "{:?}", report.problems);
        }

        /// Several acts never pass, never panic, never cascade.
        #[test]
        fn acts_never_pass(acts in proptest::collection::vec(act(), 1..5)) {
            let key = key();
            let original = chain(PROP_LEN as u64);
            let checkpoints = vec![signed(&key, &original[PROP_LEN - 1])];
            let mut records = original.clone();
            for a in &acts {
                apply(&mut records, a);
            }
            proptest::prop_assume!(records != original);
            let report = run(&records, Anchor::default(), checkpoints, Some(key.verifying_key().to_bytes()));
            proptest::prop_assert!(!report.is_intact());
            proptest::prop_assert!(report.problems.len() <= 2 * acts.len(), "{:?}", report.problems);
        }
    }
}
