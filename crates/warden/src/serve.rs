//! `warden serve --config warden.toml`: the team gateway.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use notify::Watcher as _;
use warden_auth::{Authenticator, JwksSource, JwtSettings, JwtVerifier};
use warden_config::Config;
use warden_gateway::team::Team;
use warden_gateway::{AuditLog, Clock, SystemClock};
use warden_store::KeyStore;

use crate::state::Location;

#[derive(Debug, clap::Args)]
pub(crate) struct ServeArgs {
    /// The configuration file (TOML, or JSON such as a desktop client's mcpServers file; see
    /// docs/gateway.md). Refuses to start when it is invalid; reloaded when it or a policy it
    /// names changes, and on SIGHUP.
    #[arg(long, value_name = "FILE")]
    pub config: PathBuf,
}

fn authenticator(config: &Config, keys: &Arc<dyn KeyStore>) -> anyhow::Result<Authenticator> {
    let jwt = match &config.jwt {
        None => None,
        Some(j) => {
            let jwks = match &j.jwks {
                warden_config::JwksSource::File(p) => JwksSource::File(p.clone()),
                warden_config::JwksSource::Url(u) => JwksSource::Url(u.clone()),
            };
            let mut settings = JwtSettings::new(jwks, j.issuer.clone(), j.audience.clone());
            settings.algorithms = j.algorithms.clone();
            settings.identity_claim = j.identity_claim.clone();
            settings.leeway_secs = j.leeway.as_secs();
            Some(
                JwtVerifier::new(settings)
                    .with_context(|| format!("{}: [auth.jwt]", config.source.display()))?,
            )
        }
    };
    Ok(Authenticator::new(keys.clone(), jwt))
}

pub(crate) async fn serve(args: ServeArgs) -> anyhow::Result<ExitCode> {
    crate::init_logging("info");
    let config = match warden_config::load(&args.config) {
        Ok(c) => c,
        Err(problems) => {
            eprintln!("{}", problems.to_string().trim_end());
            eprintln!(
                "warden serve: refusing to start: {} is invalid (see docs/gateway.md)",
                args.config.display()
            );
            return Ok(ExitCode::from(2));
        }
    };
    for w in &config.warnings {
        tracing::warn!("{w}");
    }
    crate::state::check_webhooks(policies_of(&config))
        .with_context(|| format!("warden serve: refusing to start: {}", args.config.display()))?;
    let location = Location::of_config(&config)?;
    let stores = crate::state::open(&location).await?;
    let auth = authenticator(&config, &stores.keys)?;
    let address = config.listen.address;
    let names: Vec<String> = config.servers.keys().cloned().collect();
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let settings = crate::state::audit_settings(&config.audit)
        .with_context(|| args.config.display().to_string())?;
    let audit = AuditLog::start(stores.audit.clone(), settings, clock.clone())
        .await
        .with_context(|| format!("cannot open the audit log in {}", location.describe()))?;
    audit
        .record(config_event(&config, clock.now_ms()))
        .await
        .context("cannot write to the audit log")?;
    let admin_config = config.admin.clone();
    let signing_key = config.audit.signing_key.clone();
    let approvals = crate::state::start_approvals(&stores, &audit, clock.clone());
    let team = Team::new(
        config,
        auth,
        stores.counters.clone(),
        clock.clone(),
        Some(audit.clone()),
        Some(approvals.clone()),
    )
    .map_err(|e| anyhow::anyhow!("{}: {e}", args.config.display()))?
    .with_pins(stores.pins.clone());
    let listener = tokio::net::TcpListener::bind(address)
        .await
        .with_context(|| format!("cannot listen on {address} (is the port in use?)"))?;
    let admin = match admin_config {
        None => None,
        Some(a) => Some(
            crate::audit::start_admin(
                a.address,
                &a.token,
                stores.audit.clone(),
                signing_key.as_deref(),
                clock.clone(),
                Some(crate::audit::AdminApprovals {
                    approvals: approvals.clone(),
                    keys: Some(stores.keys.clone()),
                    groups: {
                        // Group memberships as the configuration in force says.
                        let team = Arc::downgrade(&team);
                        Arc::new(move |identity: &str| {
                            team.upgrade()
                                .and_then(|t| {
                                    t.config().identities.get(identity).map(|i| {
                                        warden_gateway::approvals::Answerer::groups_of(
                                            &serde_json::Value::Object(i.attributes.clone()),
                                        )
                                    })
                                })
                                .unwrap_or_default()
                        })
                    },
                }),
            )
            .await?,
        ),
    };
    let local = listener.local_addr()?;
    eprintln!(
        "warden: serving {} server(s) at http://{local}/mcp/<server>: {}",
        names.len(),
        names.join(", ")
    );
    let reloader = tokio::spawn(watch_and_reload(
        team.clone(),
        args.config.clone(),
        stores.keys.clone(),
        audit.clone(),
    ));
    let served = warden_gateway::team::serve(team, listener, crate::run::shutdown_signal()).await;
    reloader.abort();
    if let Some(admin) = admin {
        admin.stop().await;
    }
    audit.flush().await;
    served?;
    Ok(ExitCode::SUCCESS)
}

/// Each policy of a configuration with its name.
fn policies_of(config: &Config) -> impl Iterator<Item = (&str, &warden_policy::Policy)> {
    config.policies.iter().map(|(n, p)| (n.as_str(), &**p))
}

/// The audit event of a configuration taking effect: the file and each policy's digest, so the
/// exact rules in force at any record can be found again.
fn config_event(config: &Config, now_ms: u64) -> warden_store::AuditEntry {
    let policies: Vec<serde_json::Value> = config
        .policy_files
        .iter()
        .map(|f| serde_json::json!({"file": f.display().to_string(), "sha256": crate::state::digest_file(f)}))
        .collect();
    warden_store::AuditEntry::event(
        now_ms,
        "policy_loaded",
        &serde_json::json!({
            "config": config.source.display().to_string(),
            "sha256": crate::state::digest_file(&config.source),
            "policy_files": policies,
            "policies": config.policies.keys().collect::<Vec<_>>(),
        }),
    )
}

/// The audit event of a reload that was refused.
fn rejected_event(path: &Path, problems: &str, now_ms: u64) -> warden_store::AuditEntry {
    warden_store::AuditEntry::event(
        now_ms,
        "policy_rejected",
        &serde_json::json!({"config": path.display().to_string(), "problems": problems}),
    )
}

/// Reloads on SIGHUP and when the config file or a policy file changes. Directories are
/// watched, not files, so editors that save by renaming a new file into place are seen; bursts
/// of events are debounced into one reload.
async fn watch_and_reload(
    team: Arc<Team>,
    path: PathBuf,
    keys: Arc<dyn KeyStore>,
    audit: Arc<AuditLog>,
) {
    let (tx, mut rx) = tokio::sync::mpsc::channel::<()>(16);
    let mut watched = Vec::new();
    // Only changes to the files the configuration is made of count: other files in the same
    // directories (the gateway's own log, an editor's backups) must not cause reloads.
    let files: Arc<std::sync::Mutex<std::collections::HashSet<PathBuf>>> = Arc::default();
    let watcher_files = files.clone();
    let watcher_tx = tx.clone();
    let on_event = move |event: notify::Result<notify::Event>| {
        let Ok(event) = event else { return };
        if event.kind.is_access() {
            return;
        }
        let ours = watcher_files
            .lock()
            .map(|f| event.paths.iter().any(|p| f.contains(p)))
            .unwrap_or(true);
        if ours {
            let _ = watcher_tx.try_send(());
        }
    };
    let mut watcher = match notify::recommended_watcher(on_event) {
        Ok(w) => Some(w),
        Err(e) => {
            tracing::warn!(error = %e, "cannot watch files; reload with SIGHUP");
            None
        }
    };
    let mut rewatch = |w: &mut Option<notify::RecommendedWatcher>, config: &Config| {
        let Some(w) = w else { return };
        let jwks = config.jwt.as_ref().and_then(|j| match &j.jwks {
            warden_config::JwksSource::File(f) => Some(f.clone()),
            warden_config::JwksSource::Url(_) => None,
        });
        let sources: Vec<PathBuf> = std::iter::once(path.clone())
            .chain(config.policy_files.iter().cloned())
            .chain(jwks)
            .map(|f| absolute(&f))
            .collect();
        if let Ok(mut f) = files.lock() {
            *f = sources.iter().cloned().collect();
        }
        let mut dirs: Vec<PathBuf> = sources
            .iter()
            .filter_map(|f| f.parent().map(Path::to_owned))
            .collect();
        dirs.sort();
        dirs.dedup();
        for d in dirs.iter().filter(|d| !watched.contains(*d)) {
            if let Err(e) = w.watch(d, notify::RecursiveMode::NonRecursive) {
                tracing::warn!(dir = %d.display(), error = %e, "cannot watch");
            }
        }
        watched = dirs;
    };
    rewatch(&mut watcher, &team.config());
    let mut hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok();
    loop {
        tokio::select! {
            Some(()) = rx.recv() => {}
            Some(()) = async { match hup.as_mut() { Some(h) => h.recv().await, None => std::future::pending().await } } => {
                tracing::info!("SIGHUP: reloading");
            }
        }
        // Debounce: an editor's save is several events.
        tokio::time::sleep(Duration::from_millis(250)).await;
        while rx.try_recv().is_ok() {}
        let rejected = |why: String| {
            tracing::error!("reload rejected, the running configuration stays in force:\n{why}");
            let audit = audit.clone();
            let entry = rejected_event(&path, &why, audit.now_ms());
            async move {
                if let Err(e) = audit.record(entry).await {
                    tracing::error!(error = %e, "could not record the rejected reload");
                }
            }
        };
        match warden_config::load(&path) {
            Err(problems) => rejected(problems.to_string().trim_end().to_owned()).await,
            Ok(config) => {
                if let Err(e) = crate::state::check_webhooks(policies_of(&config)) {
                    rejected(format!("{e:#}")).await;
                    continue;
                }
                // The authenticator (and the JWKS keys it has cached) is kept unless
                // `[auth.jwt]` changed.
                let auth = if config.jwt == team.config().jwt {
                    None
                } else {
                    match authenticator(&config, &keys) {
                        Ok(a) => Some(a),
                        Err(e) => {
                            rejected(format!("{e:#}")).await;
                            continue;
                        }
                    }
                };
                let policy_files = config.clone();
                let loaded = config_event(&config, audit.now_ms());
                match team.reload(config, auth) {
                    Ok(()) => {
                        tracing::info!("configuration reloaded");
                        if let Err(e) = audit.record(loaded).await {
                            tracing::error!(error = %e, "could not record the reload");
                        }
                        rewatch(&mut watcher, &policy_files);
                    }
                    Err(e) => rejected(e.to_string()).await,
                }
            }
        }
    }
}

fn absolute(p: &Path) -> PathBuf {
    std::path::absolute(p).unwrap_or_else(|_| p.to_owned())
}
