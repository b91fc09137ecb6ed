//! The measurements: each starts its processes, alternates the paths it
//! compares round by round (so drift of this shared machine hits all alike),
//! stops its processes, and adds its tables and targets to the report.

use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::time::Instant;

use anyhow::{Context, bail};
use serde_json::{Value, json};

use crate::fixtures;
use crate::http::{self, Era, Load};
use crate::procs::{Cmd, Proc, free_port};
use crate::report::{Report, Table};
use crate::stats::{Samples, Summary, added_ms, ms};
use crate::stdio::StdioSession;

/// How big each measurement is.
#[derive(Debug, Clone)]
pub struct Sizes {
    /// Rounds per comparison; the paths take turns within each.
    pub rounds: usize,
    /// Serial calls per path per round.
    pub serial: usize,
    /// Pipelined calls per path per round, and the most in flight.
    pub pipelined: (usize, usize),
    /// Concurrent HTTP sessions measured.
    pub sessions: Vec<usize>,
    /// HTTP warm-up and measured time per path per round.
    pub http_time: (Duration, Duration),
    /// Concurrent sessions measured against the peer.
    pub peer_sessions: Vec<usize>,
    /// Listings per path per round.
    pub listings: usize,
    /// Sessions opened for the memory measurement.
    pub memory_sessions: usize,
    /// Timed policy decisions per decision kind.
    pub decisions: usize,
}

impl Sizes {
    /// The full run behind docs/benchmarks.md (about six minutes here).
    pub fn full(rounds: usize, seconds: f64) -> Self {
        Sizes {
            rounds,
            serial: 2000,
            pipelined: (20_000, 256),
            sessions: vec![1, 16, 64, 256],
            http_time: (Duration::from_millis(500), Duration::from_secs_f64(seconds)),
            peer_sessions: vec![1, 16, 64],
            listings: 100,
            memory_sessions: 1000,
            decisions: 50_000,
        }
    }

    /// A run that only proves every measurement works (CI): tiny and untimed.
    pub fn smoke() -> Self {
        Sizes {
            rounds: 1,
            serial: 30,
            pipelined: (300, 32),
            sessions: vec![1, 4],
            http_time: (Duration::from_millis(50), Duration::from_millis(250)),
            peer_sessions: vec![2],
            listings: 3,
            memory_sessions: 20,
            decisions: 1000,
        }
    }
}

/// Where the programs are.
#[derive(Debug, Clone)]
pub struct Programs {
    /// `warden`.
    pub warden: PathBuf,
    /// `warden-demo-server`.
    pub demo: PathBuf,
    /// server-everything's `dist/index.js`, run with `node`.
    pub everything: PathBuf,
    /// The peer gateway's `mcp-proxy`.
    pub peer: PathBuf,
}

/// Files the gateways need: policies and a state directory per process.
#[derive(Debug)]
pub struct Scratch {
    dir: tempfile::TempDir,
    n: usize,
}

impl Scratch {
    /// A new scratch directory.
    pub fn new() -> anyhow::Result<Self> {
        Ok(Scratch {
            dir: tempfile::tempdir().context("cannot make a scratch directory")?,
            n: 0,
        })
    }

    /// `warden run --policy <policy> --state-dir <fresh dir>`.
    fn warden(&mut self, warden: &Path, policy: &Value) -> anyhow::Result<Cmd> {
        self.n += 1;
        let file = self.dir.path().join(format!("policy-{}.json", self.n));
        let state = self.dir.path().join(format!("state-{}", self.n));
        std::fs::write(&file, serde_json::to_string_pretty(policy)?)?;
        std::fs::create_dir_all(&state)?;
        let (file, state) = (file.display().to_string(), state.display().to_string());
        Ok(Cmd::new(
            warden,
            &["run", "--policy", &file, "--state-dir", &state],
        ))
    }
}

/// The order of the paths in round `r`: rotated, so no path is always first.
fn turn(paths: usize, r: usize) -> impl Iterator<Item = usize> {
    (0..paths).map(move |i| (i + r) % paths)
}

/// A stdio upstream and the tool its workload calls.
struct StdioCase {
    label: &'static str,
    upstream: Cmd,
    tool: &'static str,
    arguments: Value,
    expect: &'static str,
}

/// Serial latency and pipelined throughput over stdio, direct and through
/// `warden run`, against the demo server and server-everything.
pub async fn stdio(
    report: &mut Report,
    p: &Programs,
    sizes: &Sizes,
    scratch: &mut Scratch,
) -> anyhow::Result<()> {
    let cases = [
        StdioCase {
            label: "demo (Rust, test kit)",
            upstream: Cmd::new(&p.demo, &[]),
            tool: "connections.list",
            arguments: json!({}),
            expect: "conn-42",
        },
        StdioCase {
            label: "server-everything (Node)",
            upstream: Cmd::new("node", &[]).with(&[&p.everything.display().to_string(), "stdio"]),
            tool: "echo",
            arguments: json!({"message": "bench"}),
            expect: "bench",
        },
    ];
    let mut serial = Table::new(
        "stdio: serial calls",
        &format!(
            "One client calls `tools/call` and waits for each answer, {} calls per path per round, \
             {} rounds with the paths taking turns; latency from writing the request to reading \
             the answer, in milliseconds. Warden runs `warden run` with a policy that allows the \
             tool by name (default deny), with the durable audit log of its defaults: each answer \
             waits until its record is committed and synced to disk. \"+ limit\" adds a \
             per-minute rate limit to the rule; \"audit lag\" answers at once and commits the \
             records within 100 ms (`--audit-max-lag 100ms`).",
            sizes.serial, sizes.rounds
        ),
        &[
            "upstream",
            "path",
            "p50",
            "p90",
            "p99",
            "max",
            "added p50",
            "added p99",
        ],
    );
    let mut pipelined = Table::new(
        "stdio: pipelined calls",
        &format!(
            "The client writes {} calls without waiting, at most {} in flight, and reads the \
             answers; calls per second from the first write to the last answer (median of the rounds). \
             CPU µs/call is the CPU time per call of the process the client talks to: the server \
             itself for direct, `warden` alone (without its upstream) for the others.",
            sizes.pipelined.0, sizes.pipelined.1
        ),
        &["upstream", "path", "calls/s", "of direct", "CPU µs/call"],
    );
    for case in &cases {
        let paths = [
            ("direct", case.upstream.clone()),
            (
                "Warden",
                scratch
                    .warden(&p.warden, &fixtures::relay_policy(false))?
                    .then(&case.upstream),
            ),
            (
                "Warden + limit",
                scratch
                    .warden(&p.warden, &fixtures::relay_policy(true))?
                    .then(&case.upstream),
            ),
            (
                "Warden, audit lag 100 ms",
                scratch
                    .warden(&p.warden, &fixtures::relay_policy(false))?
                    .with(&["--audit-max-lag", "100ms"])
                    .then(&case.upstream),
            ),
        ];
        let mut sessions = Vec::new();
        for (name, cmd) in &paths {
            sessions.push(
                StdioSession::start(name, cmd)
                    .await
                    .with_context(|| format!("{}: starting {name}", case.label))?,
            );
        }
        // One untimed call each: caches, connections and pins settle first.
        for s in &mut sessions {
            s.serial(case.tool, &case.arguments, Some(case.expect), 20)
                .await?;
        }
        let mut lat = vec![Samples::default(); paths.len()];
        let mut rate = vec![Samples::default(); paths.len()];
        for r in 0..sizes.rounds {
            for i in turn(paths.len(), r) {
                let s = sessions[i]
                    .serial(case.tool, &case.arguments, Some(case.expect), sizes.serial)
                    .await
                    .with_context(|| format!("{}: serial calls via {}", case.label, paths[i].0))?;
                lat[i].absorb(s);
            }
            for i in turn(paths.len(), r) {
                let (n, window) = sizes.pipelined;
                let cpu0 = sessions[i].cpu()?;
                let cps = sessions[i]
                    .pipelined(case.tool, &case.arguments, n, window)
                    .await
                    .with_context(|| {
                        format!("{}: pipelined calls via {}", case.label, paths[i].0)
                    })?;
                rate[i].rate(cps);
                let cpu = sessions[i].cpu()?.saturating_sub(cpu0);
                rate[i].cpu(cpu.as_secs_f64() * 1e6 / n as f64);
            }
        }
        for s in sessions {
            s.stop().await;
        }
        let direct = lat[0].summary();
        let direct_rate = rate[0].summary().rate;
        for (i, (name, _)) in paths.iter().enumerate() {
            let s = lat[i].summary();
            serial.row(vec![
                case.label.to_owned(),
                (*name).to_owned(),
                ms(s.p50),
                ms(s.p90),
                ms(s.p99),
                ms(s.max),
                added(i, s.p50, direct.p50),
                added(i, s.p99, direct.p99),
            ]);
            let r = rate[i].summary();
            pipelined.row(vec![
                case.label.to_owned(),
                (*name).to_owned(),
                format!("{:.0}", r.rate),
                percent(r.rate, direct_rate),
                format!("{:.0}", r.cpu_us),
            ]);
        }
        if case.upstream.program == p.demo.display().to_string() {
            let w = lat[1].summary();
            let (a50, a99) = (delta(w.p50, direct.p50), delta(w.p99, direct.p99));
            report.target(
                "stdio serial, added p50",
                "≤ 0.1 ms",
                format!("{a50:+.3} ms"),
                a50 <= 0.1,
            );
            report.target(
                "stdio serial, added p99",
                "≤ 0.5 ms",
                format!("{a99:+.3} ms"),
                a99 <= 0.5,
            );
        }
    }
    report.tables.push(serial);
    report.tables.push(pipelined);
    Ok(())
}

/// The "added" cell of path `i` (empty for path 0, the direct one).
fn added(i: usize, gateway: Duration, direct: Duration) -> String {
    if i == 0 {
        String::new()
    } else {
        added_ms(gateway, direct)
    }
}

/// Milliseconds `gateway` adds to `direct`.
fn delta(gateway: Duration, direct: Duration) -> f64 {
    (gateway.as_secs_f64() - direct.as_secs_f64()) * 1e3
}

/// `part` as a percentage of `whole`.
fn percent(part: f64, whole: f64) -> String {
    if whole > 0.0 {
        format!("{:.0}%", part / whole * 100.0)
    } else {
        "n/a".into()
    }
}

/// The demo server over HTTP, and the URL it serves.
async fn demo_http(p: &Programs, extra: &[&str]) -> anyhow::Result<(Proc, String)> {
    let cmd = Cmd::new(&p.demo, &["--http", "127.0.0.1:0"]).with(extra);
    Proc::http("demo server (HTTP)", &cmd, "listening on").await
}

/// `warden run --listen` in front of `upstream` (a URL or a command).
async fn warden_http(
    p: &Programs,
    scratch: &mut Scratch,
    policy: &Value,
    upstream: Result<&str, &Cmd>,
    extra: &[&str],
) -> anyhow::Result<(Proc, String)> {
    let cmd = scratch
        .warden(&p.warden, policy)?
        .with(extra)
        .with(&["--listen", "127.0.0.1:0"]);
    let cmd = match upstream {
        Ok(url) => cmd.with(&["--upstream", url]),
        Err(upstream) => cmd.then(upstream),
    };
    Proc::http("warden run --listen", &cmd, "serving MCP at").await
}

/// The HTTP workload against the demo server: `sessions` sessions of `era`, each calling
/// `connections.list` in a loop.
fn demo_load(era: Era, sessions: usize, sizes: &Sizes) -> Load {
    Load {
        url: String::new(),
        era,
        sessions,
        tool: "connections.list".into(),
        arguments: json!({}),
        expect: Some("conn-42".into()),
        warmup: sizes.http_time.0,
        measure: sizes.http_time.1,
    }
}

/// One HTTP load per path per round, the paths taking turns. Each path is an
/// endpoint and the process whose CPU time per call is reported with it.
async fn compare_http(
    client: &reqwest::Client,
    paths: &[(&str, &Proc)],
    load: &Load,
    rounds: usize,
) -> anyhow::Result<Vec<Summary>> {
    let mut out = vec![Samples::default(); paths.len()];
    for r in 0..rounds {
        for i in turn(paths.len(), r) {
            let (url, proc) = paths[i];
            let l = Load {
                url: url.to_owned(),
                ..load.clone()
            };
            let cpu0 = proc.cpu()?;
            let run = http::run(client, &l).await.with_context(|| {
                format!("{} sessions of {} at {}", l.sessions, l.era.label(), l.url)
            })?;
            let cpu = proc.cpu()?.saturating_sub(cpu0);
            out[i].cpu(cpu.as_secs_f64() * 1e6 / run.calls.max(1) as f64);
            out[i].absorb(run.samples);
            out[i].rate(run.rate);
        }
    }
    Ok(out.iter().map(Samples::summary).collect())
}

/// N concurrent Streamable HTTP sessions, both eras, direct and through
/// `warden run --listen --upstream`.
pub async fn http(
    report: &mut Report,
    p: &Programs,
    sizes: &Sizes,
    scratch: &mut Scratch,
) -> anyhow::Result<()> {
    let (demo, direct) = demo_http(p, &[]).await?;
    let policy = fixtures::relay_policy(false);
    let (warden, via) = warden_http(p, scratch, &policy, Ok(direct.as_str()), &[]).await?;
    let lag_args = ["--audit-max-lag", "100ms"];
    let (lagging, via_lag) =
        warden_http(p, scratch, &policy, Ok(direct.as_str()), &lag_args).await?;
    let client = http::client()?;
    let mut table = Table::new(
        "Streamable HTTP: concurrent sessions",
        &format!(
            "N sessions call `tools/call` in a loop, all at once, for {:.1} s after a {:.1} s \
             warm-up, per path per round ({} rounds, the paths taking turns). The upstream is the \
             demo server over HTTP; Warden is `warden run --listen --upstream` with the same \
             policy as over stdio, durable audit (the default) or `--audit-max-lag 100ms`. Calls \
             per second are the median of the rounds; latencies in milliseconds over all rounds. \
             CPU µs/call is the CPU time of the path's own process per call: the demo server's \
             for direct, Warden's alone (the demo server's comes on top) for the others.",
            sizes.http_time.1.as_secs_f64(),
            sizes.http_time.0.as_secs_f64(),
            sizes.rounds
        ),
        &[
            "era",
            "sessions",
            "path",
            "calls/s",
            "of direct",
            "p50",
            "p99",
            "added p50",
            "added p99",
            "CPU µs/call",
        ],
    );
    let names = ["direct", "Warden", "Warden, audit lag 100 ms"];
    for era in [Era::Legacy, Era::Modern] {
        for &sessions in &sizes.sessions {
            let load = demo_load(era, sessions, sizes);
            let paths = [(&*direct, &demo), (&*via, &warden), (&*via_lag, &lagging)];
            let s = compare_http(&client, &paths, &load, sizes.rounds).await?;
            let d = s[0];
            for (i, w) in s.iter().enumerate() {
                table.row(vec![
                    era.label().into(),
                    sessions.to_string(),
                    names[i].into(),
                    format!("{:.0}", w.rate),
                    percent(w.rate, d.rate),
                    ms(w.p50),
                    ms(w.p99),
                    added(i, w.p50, d.p50),
                    added(i, w.p99, d.p99),
                    format!("{:.0}", w.cpu_us),
                ]);
            }
            if sessions == 64 {
                let w = s[1];
                let share = if d.rate > 0.0 { w.rate / d.rate } else { 0.0 };
                report.target(
                    &format!("HTTP 64 sessions ({}), throughput", era.label()),
                    "≥ 90% of direct",
                    format!("{:.0}%", share * 100.0),
                    share >= 0.9,
                );
                let added = delta(w.p99, d.p99);
                report.target(
                    &format!("HTTP 64 sessions ({}), added p99", era.label()),
                    "≤ 1 ms",
                    format!("{added:+.3} ms"),
                    added <= 1.0,
                );
            }
        }
    }
    lagging.stop().await;
    warden.stop().await;
    demo.stop().await;
    report.tables.push(table);
    Ok(())
}

/// `tools/list` of a 1,005-tool server over stdio: direct, and through Warden
/// with filtering and each pinning mode.
pub async fn listing(
    report: &mut Report,
    p: &Programs,
    sizes: &Sizes,
    scratch: &mut Scratch,
) -> anyhow::Result<()> {
    let upstream = Cmd::new(&p.demo, &["--extra-tools", "1000"]);
    let mut paths: Vec<(&str, Cmd, usize)> = vec![("direct", upstream.clone(), 1005)];
    for (name, hide, pinning, listed) in [
        ("Warden, allow all, pinning off", false, "off", 1005),
        (
            "Warden, 100 hidden by a glob, pinning off",
            true,
            "off",
            905,
        ),
        (
            "Warden, 100 hidden, pinning warn (the default)",
            true,
            "warn",
            905,
        ),
        ("Warden, 100 hidden, pinning enforce", true, "enforce", 905),
    ] {
        let policy = fixtures::listing_policy(hide, pinning);
        paths.push((
            name,
            scratch.warden(&p.warden, &policy)?.then(&upstream),
            listed,
        ));
    }
    let mut sessions = Vec::new();
    for (name, cmd, tools) in &paths {
        let mut s = StdioSession::start(name, cmd).await?;
        let listed = s
            .count_tools()
            .await
            .with_context(|| format!("listing via {name}"))?;
        if listed != *tools {
            bail!("{name} listed {listed} tools, expected {tools}");
        }
        sessions.push(s);
    }
    let mut lat = vec![Samples::default(); paths.len()];
    for r in 0..sizes.rounds {
        for i in turn(paths.len(), r) {
            let s = sessions[i]
                .list_serial("bench.tool_0999", sizes.listings)
                .await
                .with_context(|| format!("listing via {}", paths[i].0))?;
            lat[i].absorb(s);
        }
    }
    for s in sessions {
        s.stop().await;
    }
    let mut table = Table::new(
        "tools/list of 1,005 tools",
        &format!(
            "The demo server with 1,000 synthetic tools (about 400 KB of JSON), listed {} times \
             per path per round over stdio; latency in milliseconds. Hiding runs the policy's \
             globs over every name and rewrites the page; pinning fingerprints every definition \
             and compares it with the pins.",
            sizes.listings
        ),
        &[
            "path",
            "tools listed",
            "p50",
            "p99",
            "added p50",
            "added p99",
        ],
    );
    let direct = lat[0].summary();
    for (i, (name, _, tools)) in paths.iter().enumerate() {
        let s = lat[i].summary();
        table.row(vec![
            (*name).to_owned(),
            tools.to_string(),
            ms(s.p50),
            ms(s.p99),
            added(i, s.p50, direct.p50),
            added(i, s.p99, direct.p99),
        ]);
    }
    report.tables.push(table);
    Ok(())
}

/// Resident memory of `warden run`: idle over stdio, idle over HTTP, and with
/// many open HTTP sessions.
pub async fn memory(
    report: &mut Report,
    p: &Programs,
    sizes: &Sizes,
    scratch: &mut Scratch,
) -> anyhow::Result<()> {
    let settle = Duration::from_millis(if sizes.rounds > 1 { 1000 } else { 200 });
    let policy = fixtures::relay_policy(true);
    let mut table = Table::new(
        "Memory",
        &format!(
            "Resident set size (VmRSS) of the `warden` process after one call and {} ms idle, \
             then with {} Streamable HTTP sessions open (handshake done, idle), in front of the \
             demo server over HTTP (a session of its own upstream per client session) and over \
             stdio (one upstream process shared by every session).",
            settle.as_millis(),
            sizes.memory_sessions
        ),
        &["process", "resident"],
    );
    let stdio_cmd = scratch
        .warden(&p.warden, &policy)?
        .then(&Cmd::new(&p.demo, &[]));
    let mut s = StdioSession::start("warden run (stdio)", &stdio_cmd).await?;
    s.serial("connections.list", &json!({}), Some("conn-42"), 1)
        .await?;
    tokio::time::sleep(settle).await;
    let stdio_idle = s.rss_kib()?;
    s.stop().await;
    table.row(vec!["`warden run`, stdio, idle".into(), mib(stdio_idle)]);

    let (demo, direct) = demo_http(p, &[]).await?;
    let (warden, via) = warden_http(p, scratch, &policy, Ok(direct.as_str()), &[]).await?;
    let (idle, per_session_kib) = sessions_memory(&warden, &via, sizes, settle).await?;
    warden.stop().await;
    demo.stop().await;
    let upstream = Cmd::new(&p.demo, &[]);
    let (shared, via_shared) = warden_http(p, scratch, &policy, Err(&upstream), &[]).await?;
    let (shared_idle, shared_per_session) =
        sessions_memory(&shared, &via_shared, sizes, settle).await?;
    shared.stop().await;
    for (what, idle, per_session) in [
        (
            "`warden run --listen --upstream URL`",
            idle,
            per_session_kib,
        ),
        (
            "`warden run --listen -- COMMAND`",
            shared_idle,
            shared_per_session,
        ),
    ] {
        table.row(vec![format!("{what}, idle"), mib(idle)]);
        table.row(vec![
            format!("… per open session ({} open)", sizes.memory_sessions),
            format!("{per_session:.1} KiB"),
        ]);
    }
    let idle_mib = idle.max(stdio_idle).max(shared_idle) as f64 / 1024.0;
    report.target(
        "memory idle",
        "< 30 MB resident",
        format!("{idle_mib:.1} MiB"),
        idle_mib < 30.0,
    );
    report.target(
        "memory per idle session (HTTP upstream; shared stdio upstream)",
        "< 20 KB",
        format!("{per_session_kib:.1} KiB; {shared_per_session:.1} KiB"),
        per_session_kib.max(shared_per_session) * 1.024 < 20.0,
    );
    report.tables.push(table);
    Ok(())
}

/// Resident memory of the gateway `proc` serving `url` after one call and a rest, and how
/// much more each of `sizes.memory_sessions` open, idle sessions adds (KiB).
async fn sessions_memory(
    proc: &Proc,
    url: &str,
    sizes: &Sizes,
    settle: Duration,
) -> anyhow::Result<(u64, f64)> {
    let client = http::client()?;
    let mut one = http::Session::open(&client, url, Era::Legacy).await?;
    one.call("connections.list", &json!({}), Some("conn-42"))
        .await?;
    tokio::time::sleep(settle).await;
    let idle = proc.rss_kib()?;
    let open = http::open_many(&client, url, sizes.memory_sessions).await?;
    tokio::time::sleep(settle).await;
    let busy = proc.rss_kib()?;
    for s in open {
        s.close().await;
    }
    one.close().await;
    let per_session = busy.saturating_sub(idle) as f64 / sizes.memory_sessions as f64;
    Ok((idle, per_session))
}

fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

/// The same HTTP workload through Warden and through the peer, each in front of
/// the demo server over stdio.
pub async fn peer(
    report: &mut Report,
    p: &Programs,
    sizes: &Sizes,
    scratch: &mut Scratch,
) -> anyhow::Result<()> {
    if !p.peer.exists() {
        bail!(
            "the peer is not installed at {}: run bench/peer/setup.sh (or pass --skip peer)",
            p.peer.display()
        );
    }
    let upstream = Cmd::new(&p.demo, &[]);
    let (warden, via) = warden_http(
        p,
        scratch,
        &fixtures::relay_policy(false),
        Err(&upstream),
        &[],
    )
    .await?;
    let port = free_port()?;
    let port_s = port.to_string();
    let peer_cmd = Cmd::new(&p.peer, &crate::peer::ARGS)
        .with(&["--port", &port_s])
        .with(&["--", &p.demo.display().to_string()]);
    let peer = Proc::http_on_port("mcp-proxy", &peer_cmd, port).await?;
    let peer_url = format!("http://127.0.0.1:{port}{}", crate::peer::PATH);
    let client = http::client()?;
    let mut table = Table::new(
        &format!("Against a peer: {}", crate::peer::NAME),
        &format!(
            "The HTTP workload above ({} era) through Warden (`warden run --listen -- \
             warden-demo-server`) and through {} in front of the same stdio server, {:.1} s \
             per path per round, {} rounds. Both relay every session to one upstream process.",
            Era::Legacy.label(),
            crate::peer::NAME,
            sizes.http_time.1.as_secs_f64(),
            sizes.rounds
        ),
        &[
            "sessions",
            "peer calls/s",
            "Warden calls/s",
            "Warden / peer",
            "peer p50",
            "Warden p50",
            "peer p99",
            "Warden p99",
            "peer CPU µs/call",
            "Warden CPU µs/call",
        ],
    );
    for &sessions in &sizes.peer_sessions {
        let load = demo_load(Era::Legacy, sessions, sizes);
        let paths = [(&*peer_url, &peer), (&*via, &warden)];
        let s = compare_http(&client, &paths, &load, sizes.rounds).await?;
        let (pr, w) = (s[0], s[1]);
        let ratio = if pr.rate > 0.0 { w.rate / pr.rate } else { 0.0 };
        table.row(vec![
            sessions.to_string(),
            format!("{:.0}", pr.rate),
            format!("{:.0}", w.rate),
            format!("{ratio:.1}×"),
            ms(pr.p50),
            ms(w.p50),
            ms(pr.p99),
            ms(w.p99),
            format!("{:.0}", pr.cpu_us),
            format!("{:.0}", w.cpu_us),
        ]);
        if sessions == *sizes.peer_sessions.iter().max().unwrap_or(&sessions) {
            report.target(
                &format!(
                    "throughput against {} ({sessions} sessions)",
                    crate::peer::NAME
                ),
                "≥ 10× the peer",
                format!("{ratio:.1}×"),
                ratio >= 10.0,
            );
        }
    }
    peer.stop().await;
    warden.stop().await;
    report.tables.push(table);
    Ok(())
}

/// Policy evaluation alone, in this process: each decision timed on its own.
pub fn policy(report: &mut Report, sizes: &Sizes) -> anyhow::Result<()> {
    let policy = fixtures::thousand_tool_policy();
    let identity = fixtures::identity();
    let mut table = Table::new(
        "Policy evaluation (1,000-tool policy)",
        &format!(
            "`Policy::evaluate` on a policy of 700 exact rules and 300 globs with conditions \
             (regex included), argument schemas and limits; {} decisions of each kind, each \
             timed on its own (the clock's own cost, some 20 ns, included), in microseconds. \
             `cargo bench -p warden-bench --bench policy` measures the same with criterion.",
            sizes.decisions
        ),
        &["decision", "p50 µs", "p99 µs", "max µs"],
    );
    let mut worst = 0.0_f64;
    for d in fixtures::decisions() {
        let call = fixtures::call(d.tool, &d.arguments, &identity);
        let allowed = matches!(policy.evaluate(&call), warden_policy::Verdict::Allow(_));
        if allowed != d.allowed {
            bail!("the benchmark policy decided {:?} wrongly", d.label);
        }
        let mut samples = Samples::default();
        for _ in 0..sizes.decisions {
            let t0 = Instant::now();
            std::hint::black_box(policy.evaluate(std::hint::black_box(&call)));
            samples.push(t0.elapsed());
        }
        let s = samples.summary();
        let us = |d: Duration| format!("{:.2}", d.as_secs_f64() * 1e6);
        worst = worst.max(s.p50.as_secs_f64() * 1e6);
        table.row(vec![d.label.into(), us(s.p50), us(s.p99), us(s.max)]);
    }
    report.target(
        "policy evaluation p50 (slowest decision kind)",
        "< 2 µs",
        format!("{worst:.2} µs"),
        worst < 2.0,
    );
    report.tables.push(table);
    Ok(())
}
