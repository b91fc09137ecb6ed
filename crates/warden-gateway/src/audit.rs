//! The audit writer: every decision goes through one task that appends to the audit store in
//! batches, so a burst of calls costs one commit, not one per call.
//!
//! # The durability contract
//!
//! - [`Durability::Durable`] (the default): [`AuditLog::record`] returns only once the record
//!   is committed. The relay sends a call's answer to the client after that, so every answer a
//!   client received is in the log, even if the gateway is killed the next instant. Records
//!   queued while a commit runs go into the next one (group commit).
//! - [`Durability::Lag`]: `record` returns at once and the writer commits at least every
//!   `max_lag`; a crash can lose the records of that last interval.
//!
//! When the store cannot write, the log turns *unhealthy*: under [`OnFailure::Deny`] (the
//! default) calls are denied until a write succeeds again (fail closed), and a call already
//! answered upstream gets an error instead of its result, since its record is not durable. The
//! writer keeps the unwritten records and retries them with backoff, so they are stored once
//! the store is back. Under [`OnFailure::Allow`] calls go on and failures are only logged.
//!
//! The queue between callers and the writer is bounded: when it is full, callers wait
//! (backpressure) rather than records being dropped. Only the denials made *because* the log is
//! unhealthy are queued without waiting, and dropped with an error line when the queue is full.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use ed25519_dalek::Signer as _;
use tokio::sync::{mpsc, oneshot};
use warden_store::audit::{Checkpoint, checkpoint_message};
use warden_store::{AuditEntry, AuditStore, Retention};

use crate::clock::Clock;

/// When a call's answer may go to the client relative to its record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// Only after the record is committed.
    Durable,
    /// At once; the record is committed within this long.
    Lag(Duration),
}

/// What to do with calls while the audit store cannot write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnFailure {
    /// Deny them (fail closed).
    Deny,
    /// Let them through and log the failure.
    Allow,
}

/// Signs checkpoints of the chain with the operator's Ed25519 key.
#[derive(Debug)]
pub struct Signer {
    /// The key.
    pub key: ed25519_dalek::SigningKey,
    /// A checkpoint after at least this many records…
    pub every_records: u64,
    /// …or at least this often while records are written.
    pub every: Duration,
}

/// How the audit log behaves.
#[derive(Debug)]
pub struct AuditSettings {
    /// See [`Durability`]. Default: durable.
    pub durability: Durability,
    /// See [`OnFailure`]. Default: deny.
    pub on_failure: OnFailure,
    /// Records waiting for the writer at most. Default 8192.
    pub queue: usize,
    /// Records per commit at most. Default 1024.
    pub batch: usize,
    /// Signed checkpoints, when a key is configured. Default none.
    pub signer: Option<Signer>,
    /// How much history to keep. Default: everything.
    pub retention: Retention,
    /// How often retention is applied (and once at start). Default 1 hour.
    pub retention_every: Duration,
}

impl Default for AuditSettings {
    fn default() -> Self {
        AuditSettings {
            durability: Durability::Durable,
            on_failure: OnFailure::Deny,
            queue: 8192,
            batch: 1024,
            signer: None,
            retention: Retention::default(),
            retention_every: Duration::from_secs(3600),
        }
    }
}

/// Why a record is not durable.
#[derive(Debug, Clone, thiserror::Error)]
#[error("the audit log could not be written: {0}")]
pub struct AuditFailure(Arc<str>);

enum Job {
    Record {
        entry: Box<AuditEntry>,
        done: Option<oneshot::Sender<Result<(), AuditFailure>>>,
    },
    Flush(oneshot::Sender<()>),
}

/// The handle callers record through. Cheap to share (`Arc`).
#[derive(Debug)]
pub struct AuditLog {
    tx: mpsc::Sender<Job>,
    durability: Durability,
    on_failure: OnFailure,
    healthy: Arc<AtomicBool>,
    dropped: Arc<AtomicU64>,
    salt: [u8; 32],
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for Job {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Job::Record { .. } => "Job::Record",
            Job::Flush(_) => "Job::Flush",
        })
    }
}

impl AuditLog {
    /// Starts the writer task over `store`. Reads the store's salt first, so a store that
    /// cannot be read fails here, at startup, rather than on the first call.
    pub async fn start(
        store: Arc<dyn AuditStore>,
        settings: AuditSettings,
        clock: Arc<dyn Clock>,
    ) -> Result<Arc<AuditLog>, warden_store::StoreError> {
        let salt = store.salt().await?;
        let (tx, rx) = mpsc::channel(settings.queue.max(1));
        let healthy = Arc::new(AtomicBool::new(true));
        let log = Arc::new(AuditLog {
            tx,
            durability: settings.durability,
            on_failure: settings.on_failure,
            healthy: healthy.clone(),
            dropped: Arc::new(AtomicU64::new(0)),
            salt,
            clock: clock.clone(),
        });
        let writer = Writer {
            store,
            settings,
            clock,
            healthy,
            dropped: log.dropped.clone(),
            since_checkpoint: 0,
            last_checkpoint: tokio::time::Instant::now(),
        };
        tokio::spawn(writer.run(rx));
        Ok(log)
    }

    /// This installation's salt for hashed argument values.
    pub fn salt(&self) -> &[u8; 32] {
        &self.salt
    }

    /// Milliseconds since the Unix epoch, from the gateway's clock.
    pub fn now_ms(&self) -> u64 {
        self.clock.now_ms()
    }

    /// Whether calls may proceed: the store is writing, or failures are configured to allow.
    pub fn accepting(&self) -> bool {
        self.on_failure == OnFailure::Allow || self.healthy.load(Ordering::Acquire)
    }

    /// Records `entry`: durably before returning under [`Durability::Durable`], queued under
    /// [`Durability::Lag`]. `Err` only when the record is not durable and failures deny.
    pub async fn record(&self, entry: AuditEntry) -> Result<(), AuditFailure> {
        let result = match self.durability {
            Durability::Lag(_) => self.send(entry, None).await,
            Durability::Durable => {
                let (done, wait) = oneshot::channel();
                match self.send(entry, Some(done)).await {
                    Ok(()) => wait.await.unwrap_or_else(|_| Err(writer_gone())),
                    Err(e) => Err(e),
                }
            }
        };
        match result {
            Err(e) if self.on_failure == OnFailure::Allow => {
                tracing::error!(error = %e, "audit record not durable; continuing (audit.on_failure = \"allow\")");
                Ok(())
            }
            other => other,
        }
    }

    /// Queues `entry` without waiting for room or for the commit: for records of denials the
    /// gateway makes because the log is failing, which must not hang the client.
    pub fn record_nowait(&self, entry: AuditEntry) {
        let job = Job::Record {
            entry: Box::new(entry),
            done: None,
        };
        if self.tx.try_send(job).is_err() {
            let n = self.dropped.fetch_add(1, Ordering::Relaxed) + 1;
            tracing::error!(
                dropped = n,
                "audit queue full while the store is failing; record dropped"
            );
        }
    }

    /// Waits until everything queued before this call is committed (or has failed): at
    /// shutdown, so lag mode loses nothing on a clean stop.
    pub async fn flush(&self) {
        let (done, wait) = oneshot::channel();
        if self.tx.send(Job::Flush(done)).await.is_ok() {
            let _ = wait.await;
        }
    }

    async fn send(
        &self,
        entry: AuditEntry,
        done: Option<oneshot::Sender<Result<(), AuditFailure>>>,
    ) -> Result<(), AuditFailure> {
        self.tx
            .send(Job::Record {
                entry: Box::new(entry),
                done,
            })
            .await
            .map_err(|_| writer_gone())
    }
}

fn writer_gone() -> AuditFailure {
    AuditFailure("the audit writer has stopped".into())
}

struct Writer {
    store: Arc<dyn AuditStore>,
    settings: AuditSettings,
    clock: Arc<dyn Clock>,
    healthy: Arc<AtomicBool>,
    dropped: Arc<AtomicU64>,
    since_checkpoint: u64,
    last_checkpoint: tokio::time::Instant,
}

/// Backoff between retries of a batch the store refused.
const RETRY_MIN: Duration = Duration::from_millis(50);
const RETRY_MAX: Duration = Duration::from_secs(2);

impl Writer {
    async fn run(mut self, mut rx: mpsc::Receiver<Job>) {
        let mut entries: Vec<AuditEntry> = Vec::new();
        let mut waiters: Vec<oneshot::Sender<Result<(), AuditFailure>>> = Vec::new();
        let mut flushes: Vec<oneshot::Sender<()>> = Vec::new();
        let mut retention = tokio::time::interval(self.settings.retention_every);
        retention.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut open = true;
        while open || !entries.is_empty() {
            if entries.is_empty() && flushes.is_empty() {
                tokio::select! {
                    job = rx.recv() => match job {
                        Some(job) => self.take(job, &mut entries, &mut waiters, &mut flushes),
                        None => open = false,
                    },
                    _ = retention.tick() => self.prune().await,
                }
                if let Durability::Lag(max) = self.settings.durability
                    && !entries.is_empty()
                {
                    // Collect for up to `max_lag`, or until a batch is full or a flush asks.
                    let deadline = tokio::time::Instant::now() + max;
                    while entries.len() < self.settings.batch && flushes.is_empty() {
                        match tokio::time::timeout_at(deadline, rx.recv()).await {
                            Ok(Some(job)) => {
                                self.take(job, &mut entries, &mut waiters, &mut flushes);
                            }
                            Ok(None) => {
                                open = false;
                                break;
                            }
                            Err(_) => break,
                        }
                    }
                }
            }
            while entries.len() < self.settings.batch {
                match rx.try_recv() {
                    Ok(job) => self.take(job, &mut entries, &mut waiters, &mut flushes),
                    Err(_) => break,
                }
            }
            if !entries.is_empty() {
                self.commit(&mut entries, &mut waiters).await;
            }
            if entries.is_empty() {
                for f in flushes.drain(..) {
                    let _ = f.send(());
                }
            }
        }
        self.checkpoint().await;
    }

    fn take(
        &self,
        job: Job,
        entries: &mut Vec<AuditEntry>,
        waiters: &mut Vec<oneshot::Sender<Result<(), AuditFailure>>>,
        flushes: &mut Vec<oneshot::Sender<()>>,
    ) {
        match job {
            Job::Record { entry, done } => {
                entries.push(*entry);
                waiters.extend(done);
            }
            Job::Flush(done) => flushes.push(done),
        }
    }

    /// Appends `entries`; on success they are cleared and their waiters told. On failure the
    /// waiters get the error at once, the entries stay for the retry, and the writer backs off.
    async fn commit(
        &mut self,
        entries: &mut Vec<AuditEntry>,
        waiters: &mut Vec<oneshot::Sender<Result<(), AuditFailure>>>,
    ) {
        let mut delay = RETRY_MIN;
        loop {
            match self.store.append(entries).await {
                Ok(seqs) => {
                    if !self.healthy.swap(true, Ordering::AcqRel) {
                        tracing::info!("audit store writing again; calls are accepted");
                    }
                    self.since_checkpoint += seqs.len() as u64;
                    entries.clear();
                    for w in waiters.drain(..) {
                        let _ = w.send(Ok(()));
                    }
                    self.note_dropped().await;
                    self.maybe_checkpoint().await;
                    return;
                }
                Err(e) => {
                    let failure = AuditFailure(e.to_string().into());
                    if self.healthy.swap(false, Ordering::AcqRel) {
                        tracing::error!(error = %e, records = entries.len(), "audit store cannot write; retrying");
                    }
                    for w in waiters.drain(..) {
                        let _ = w.send(Err(failure.clone()));
                    }
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(RETRY_MAX);
                }
            }
        }
    }

    /// After an outage that dropped records, says so in the log itself.
    async fn note_dropped(&self) {
        let n = self.dropped.swap(0, Ordering::Relaxed);
        if n == 0 {
            return;
        }
        let entry = AuditEntry::event(
            self.clock.now_ms(),
            "audit_records_dropped",
            &serde_json::json!({ "dropped": n }),
        );
        if let Err(e) = self.store.append(std::slice::from_ref(&entry)).await {
            tracing::error!(error = %e, dropped = n, "could not record the count of dropped audit records");
        }
    }

    async fn maybe_checkpoint(&mut self) {
        let Some(signer) = &self.settings.signer else {
            return;
        };
        if self.since_checkpoint >= signer.every_records
            || (self.since_checkpoint > 0 && self.last_checkpoint.elapsed() >= signer.every)
        {
            self.checkpoint().await;
        }
    }

    /// Signs the head of the chain, if anything was written since the last checkpoint.
    async fn checkpoint(&mut self) {
        let Some(signer) = &self.settings.signer else {
            return;
        };
        if self.since_checkpoint == 0 {
            return;
        }
        let head = match self.store.head().await {
            Ok(Some(head)) => head,
            Ok(None) => return,
            Err(e) => {
                tracing::warn!(error = %e, "could not read the audit head for a checkpoint");
                return;
            }
        };
        let time_ms = self.clock.now_ms();
        let (seq, hash) = head;
        let signature = signer
            .key
            .sign(&checkpoint_message(seq, &hash, time_ms))
            .to_bytes();
        let checkpoint = Checkpoint {
            seq,
            hash,
            time_ms,
            public_key: signer.key.verifying_key().to_bytes(),
            signature,
        };
        match self.store.add_checkpoint(&checkpoint).await {
            Ok(()) => {
                self.since_checkpoint = 0;
                self.last_checkpoint = tokio::time::Instant::now();
            }
            Err(e) => tracing::warn!(error = %e, "could not store an audit checkpoint"),
        }
    }

    async fn prune(&self) {
        let r = self.settings.retention;
        if r.max_age_ms.is_none() && r.max_records.is_none() {
            return;
        }
        match self.store.prune(&r, self.clock.now_ms()).await {
            Ok(Some(p)) => tracing::info!(
                deleted = p.records,
                first_kept = p.anchor.first_seq,
                "audit retention applied"
            ),
            Ok(None) => {}
            Err(e) => tracing::warn!(error = %e, "audit retention failed; will retry"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::SystemClock;
    use warden_store::{AuditQuery, MemoryAudit};

    fn entry(tool: &str) -> AuditEntry {
        AuditEntry {
            time_ms: 1,
            event: "call".into(),
            tool: Some(tool.into()),
            ..AuditEntry::default()
        }
    }

    #[tokio::test]
    async fn durable_record_is_stored_when_it_returns() {
        let store = Arc::new(MemoryAudit::new());
        let log = AuditLog::start(
            store.clone(),
            AuditSettings::default(),
            Arc::new(SystemClock),
        )
        .await
        .unwrap();
        log.record(entry("a")).await.unwrap();
        let got = store.query(&AuditQuery::default()).await.unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].entry.tool.as_deref(), Some("a"));
    }

    #[tokio::test]
    async fn lag_mode_commits_on_flush() {
        let store = Arc::new(MemoryAudit::new());
        let settings = AuditSettings {
            durability: Durability::Lag(Duration::from_secs(3600)),
            ..AuditSettings::default()
        };
        let log = AuditLog::start(store.clone(), settings, Arc::new(SystemClock))
            .await
            .unwrap();
        for i in 0..10 {
            log.record(entry(&format!("t{i}"))).await.unwrap();
        }
        log.flush().await;
        let got = store.query(&AuditQuery::default()).await.unwrap();
        let tools: Vec<_> = got.iter().map(|r| r.entry.tool.clone().unwrap()).collect();
        assert_eq!(tools, (0..10).map(|i| format!("t{i}")).collect::<Vec<_>>());
    }

    #[tokio::test]
    async fn concurrent_durable_records_share_commits_and_keep_all() {
        let store = Arc::new(MemoryAudit::new());
        let log = AuditLog::start(
            store.clone(),
            AuditSettings::default(),
            Arc::new(SystemClock),
        )
        .await
        .unwrap();
        let tasks: Vec<_> = (0..200)
            .map(|i| {
                let log = log.clone();
                tokio::spawn(async move { log.record(entry(&format!("t{i}"))).await })
            })
            .collect();
        for t in tasks {
            t.await.unwrap().unwrap();
        }
        assert_eq!(
            store.query(&AuditQuery::default()).await.unwrap().len(),
            200
        );
    }

    /// A store that fails while `failing` is set.
    #[derive(Debug, Default)]
    struct Flaky {
        inner: MemoryAudit,
        failing: AtomicBool,
    }

    impl AuditStore for Flaky {
        fn append<'a>(
            &'a self,
            entries: &'a [AuditEntry],
        ) -> warden_store::StoreFuture<'a, Vec<u64>> {
            if self.failing.load(Ordering::SeqCst) {
                return Box::pin(async {
                    Err(warden_store::StoreError::Random {
                        message: "disk on fire (test)".into(),
                    })
                });
            }
            self.inner.append(entries)
        }
        fn query<'a>(
            &'a self,
            q: &'a AuditQuery,
        ) -> warden_store::StoreFuture<'a, Vec<warden_store::AuditRecord>> {
            self.inner.query(q)
        }
        fn head(&self) -> warden_store::StoreFuture<'_, Option<(u64, warden_store::audit::Hash)>> {
            self.inner.head()
        }
        fn anchor(&self) -> warden_store::StoreFuture<'_, warden_store::Anchor> {
            self.inner.anchor()
        }
        fn add_checkpoint<'a>(&'a self, c: &'a Checkpoint) -> warden_store::StoreFuture<'a, ()> {
            self.inner.add_checkpoint(c)
        }
        fn checkpoints(&self) -> warden_store::StoreFuture<'_, Vec<Checkpoint>> {
            self.inner.checkpoints()
        }
        fn prune<'a>(
            &'a self,
            r: &'a Retention,
            now_ms: u64,
        ) -> warden_store::StoreFuture<'a, Option<warden_store::Pruned>> {
            self.inner.prune(r, now_ms)
        }
        fn salt(&self) -> warden_store::StoreFuture<'_, [u8; 32]> {
            self.inner.salt()
        }
    }

    #[tokio::test]
    async fn a_failing_store_closes_the_gate_until_it_writes_again_and_loses_nothing() {
        let store = Arc::new(Flaky::default());
        let log = AuditLog::start(
            store.clone(),
            AuditSettings::default(),
            Arc::new(SystemClock),
        )
        .await
        .unwrap();
        assert!(log.accepting());
        store.failing.store(true, Ordering::SeqCst);
        assert!(log.record(entry("during")).await.is_err());
        assert!(
            !log.accepting(),
            "calls must be refused while records cannot be written"
        );
        log.record_nowait(entry("refusal"));
        store.failing.store(false, Ordering::SeqCst);
        log.flush().await;
        assert!(log.accepting());
        let tools: Vec<_> = store
            .query(&AuditQuery::default())
            .await
            .unwrap()
            .into_iter()
            .map(|r| r.entry.tool.unwrap())
            .collect();
        // The record whose caller was told "not durable" is written once the store is back.
        assert_eq!(tools, ["during", "refusal"]);
    }

    #[tokio::test]
    async fn fail_open_lets_calls_through() {
        let store = Arc::new(Flaky::default());
        store.failing.store(true, Ordering::SeqCst);
        let settings = AuditSettings {
            on_failure: OnFailure::Allow,
            ..AuditSettings::default()
        };
        let log = AuditLog::start(store.clone(), settings, Arc::new(SystemClock))
            .await
            .unwrap();
        assert!(log.record(entry("a")).await.is_ok());
        assert!(log.accepting());
    }

    #[tokio::test]
    async fn checkpoints_are_signed_with_the_configured_key() {
        let store = Arc::new(MemoryAudit::new());
        let key = ed25519_dalek::SigningKey::from_bytes(&[9u8; 32]);
        let public = key.verifying_key();
        let settings = AuditSettings {
            signer: Some(Signer {
                key,
                every_records: 3,
                every: Duration::from_secs(3600),
            }),
            ..AuditSettings::default()
        };
        let log = AuditLog::start(store.clone(), settings, Arc::new(SystemClock))
            .await
            .unwrap();
        for i in 0..3 {
            log.record(entry(&format!("t{i}"))).await.unwrap();
        }
        let cps = store.checkpoints().await.unwrap();
        assert_eq!(cps.len(), 1);
        let cp = &cps[0];
        let records = store.query(&AuditQuery::default()).await.unwrap();
        let at = records.iter().find(|r| r.seq == cp.seq).unwrap();
        assert_eq!(at.hash, cp.hash);
        assert_eq!(cp.public_key, public.to_bytes());
        let signature = ed25519_dalek::Signature::from_bytes(&cp.signature);
        public
            .verify_strict(
                &checkpoint_message(cp.seq, &cp.hash, cp.time_ms),
                &signature,
            )
            .unwrap();
    }
}
