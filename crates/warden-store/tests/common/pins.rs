//! The pin test suite every `PinStore` backend must pass, and the races every backend
//! shared by several processes or replicas must win.
//!
//! `pin_suite!(name, make())` instantiates the behaviour cases, each on a fresh, empty
//! store; `make()` returns `(store, guard)`. `pin_race_suite!(name, make_two())`
//! instantiates the races, where `make_two()` returns `(a, b, guard)`: two handles
//! (`Arc<dyn PinStore>`) on one fresh store, as two processes or replicas would hold them.

use std::sync::Arc;

use warden_store::pins::FIRST_USE;
use warden_store::{ObservedTool, Pin, PinChange, PinChangeKind, PinStatus, PinStore, StoreError};

use super::{MINUTE, T0};

pub const SERVER: &str = "github";

/// A fingerprint: 64 lowercase hex digits made from `n`.
pub fn fp(n: u32) -> String {
    format!("{n:064x}")
}

/// The definition that goes with `fp(n)` for `tool`.
pub fn def(tool: &str, n: u32) -> String {
    format!(
        r#"{{"description":"version {n}","name":{}}}"#,
        serde_json::Value::from(tool)
    )
}

/// One listed tool at version `n`.
pub fn obs(tool: &str, n: u32) -> ObservedTool {
    (tool.to_owned(), fp(n), def(tool, n))
}

/// The pin a first listing makes of `tool` at version `n`, at `at`.
pub fn first_use(server: &str, tool: &str, n: u32, at: u64) -> Pin {
    Pin {
        server: server.to_owned(),
        tool: tool.to_owned(),
        fingerprint: fp(n),
        definition: def(tool, n),
        status: PinStatus::Approved,
        first_seen_ms: at,
        changed_ms: at,
        approved_ms: Some(at),
        approved_by: Some(FIRST_USE.to_owned()),
        approved_fingerprint: Some(fp(n)),
        approved_definition: Some(def(tool, n)),
    }
}

pub fn change(tool: &str, kind: PinChangeKind, old: Option<u32>, new: u32) -> PinChange {
    PinChange {
        tool: tool.to_owned(),
        kind,
        old_fingerprint: old.map(fp),
        new_fingerprint: fp(new),
    }
}

pub async fn observe(
    store: &dyn PinStore,
    server: &str,
    tools: &[ObservedTool],
    at: u64,
) -> Vec<PinChange> {
    store.observe(server, tools, at).await.expect("observe")
}

pub async fn get(store: &dyn PinStore, server: &str, tool: &str) -> Pin {
    store
        .get(server, tool)
        .await
        .expect("get")
        .unwrap_or_else(|| panic!("{server}/{tool} is pinned"))
}

pub async fn list(store: &dyn PinStore, server: Option<&str>) -> Vec<Pin> {
    store.list(server).await.expect("list")
}

fn names(pins: &[Pin]) -> Vec<(String, String)> {
    pins.iter()
        .map(|p| (p.server.clone(), p.tool.clone()))
        .collect()
}

// ---------------------------------------------------------------- behaviour

pub async fn first_listing_is_trusted(store: &dyn PinStore) {
    assert!(list(store, None).await.is_empty());
    // An empty page pins nothing, so the next listing is still the first.
    assert!(observe(store, SERVER, &[], T0).await.is_empty());
    assert!(list(store, None).await.is_empty());
    let changes = observe(
        store,
        SERVER,
        &[obs("search", 1), obs("create_issue", 2)],
        T0 + 1,
    )
    .await;
    assert!(
        changes.is_empty(),
        "trust on first use reports nothing: {changes:?}"
    );
    assert_eq!(
        list(store, Some(SERVER)).await,
        [
            first_use(SERVER, "create_issue", 2, T0 + 1),
            first_use(SERVER, "search", 1, T0 + 1),
        ]
    );
    assert_eq!(
        get(store, SERVER, "search").await,
        first_use(SERVER, "search", 1, T0 + 1)
    );
    assert_eq!(store.get(SERVER, "nope").await.expect("get"), None);
    assert_eq!(store.get("other", "search").await.expect("get"), None);
    // The same listing again changes nothing.
    assert!(
        observe(
            store,
            SERVER,
            &[obs("create_issue", 2), obs("search", 1)],
            T0 + 2
        )
        .await
        .is_empty()
    );
    assert_eq!(
        get(store, SERVER, "search").await,
        first_use(SERVER, "search", 1, T0 + 1)
    );
}

pub async fn a_new_tool_is_pending(store: &dyn PinStore) {
    observe(store, SERVER, &[obs("search", 1)], T0).await;
    let changes = observe(
        store,
        SERVER,
        &[obs("search", 1), obs("delete_repo", 7)],
        T0 + MINUTE,
    )
    .await;
    assert_eq!(
        changes,
        [change("delete_repo", PinChangeKind::New, None, 7)]
    );
    let want = Pin {
        server: SERVER.to_owned(),
        tool: "delete_repo".to_owned(),
        fingerprint: fp(7),
        definition: def("delete_repo", 7),
        status: PinStatus::Pending,
        first_seen_ms: T0 + MINUTE,
        changed_ms: T0 + MINUTE,
        approved_ms: None,
        approved_by: None,
        approved_fingerprint: None,
        approved_definition: None,
    };
    assert_eq!(get(store, SERVER, "delete_repo").await, want);
    // Seen again as it is: nothing; with another definition: changed, still never approved.
    assert!(
        observe(store, SERVER, &[obs("delete_repo", 7)], T0 + MINUTE + 1)
            .await
            .is_empty()
    );
    let changes = observe(store, SERVER, &[obs("delete_repo", 8)], T0 + MINUTE + 2).await;
    assert_eq!(
        changes,
        [change("delete_repo", PinChangeKind::Changed, Some(7), 8)]
    );
    assert_eq!(
        get(store, SERVER, "delete_repo").await,
        Pin {
            fingerprint: fp(8),
            definition: def("delete_repo", 8),
            changed_ms: T0 + MINUTE + 2,
            ..want
        }
    );
}

pub async fn a_changed_tool_keeps_both_definitions(store: &dyn PinStore) {
    observe(store, SERVER, &[obs("search", 1), obs("read_file", 1)], T0).await;
    let changes = observe(
        store,
        SERVER,
        &[obs("search", 1), obs("read_file", 2)],
        T0 + 10,
    )
    .await;
    assert_eq!(
        changes,
        [change("read_file", PinChangeKind::Changed, Some(1), 2)]
    );
    let changed = Pin {
        fingerprint: fp(2),
        definition: def("read_file", 2),
        status: PinStatus::Pending,
        changed_ms: T0 + 10,
        ..first_use(SERVER, "read_file", 1, T0)
    };
    assert_eq!(get(store, SERVER, "read_file").await, changed);
    assert_eq!(
        changed.approved_definition,
        Some(def("read_file", 1)),
        "the diff's other side"
    );

    // Changed again while pending: the pending definition is replaced, the approved kept.
    let changes = observe(store, SERVER, &[obs("read_file", 3)], T0 + 20).await;
    assert_eq!(
        changes,
        [change("read_file", PinChangeKind::Changed, Some(2), 3)]
    );
    let again = Pin {
        fingerprint: fp(3),
        definition: def("read_file", 3),
        changed_ms: T0 + 20,
        ..changed
    };
    assert_eq!(get(store, SERVER, "read_file").await, again);
    assert!(
        observe(store, SERVER, &[obs("read_file", 3)], T0 + 30)
            .await
            .is_empty()
    );
    assert_eq!(get(store, SERVER, "read_file").await, again);
    // The other tool was not touched.
    assert_eq!(
        get(store, SERVER, "search").await,
        first_use(SERVER, "search", 1, T0)
    );
}

pub async fn a_revert_is_approved_again(store: &dyn PinStore) {
    observe(store, SERVER, &[obs("search", 1)], T0).await;
    observe(store, SERVER, &[obs("search", 2)], T0 + 1).await;
    observe(store, SERVER, &[obs("search", 3)], T0 + 2).await;
    let changes = observe(store, SERVER, &[obs("search", 1)], T0 + 3).await;
    assert_eq!(
        changes,
        [change("search", PinChangeKind::Reverted, Some(3), 1)]
    );
    assert_eq!(
        get(store, SERVER, "search").await,
        Pin {
            changed_ms: T0 + 3,
            ..first_use(SERVER, "search", 1, T0)
        }
    );
    assert!(
        observe(store, SERVER, &[obs("search", 1)], T0 + 4)
            .await
            .is_empty()
    );
}

pub async fn absent_tools_are_left_alone(store: &dyn PinStore) {
    observe(store, SERVER, &[obs("a", 1), obs("b", 1), obs("c", 1)], T0).await;
    observe(store, SERVER, &[obs("c", 2)], T0 + 1).await;
    // A later page without a, b or c changes none of them.
    let changes = observe(store, SERVER, &[obs("d", 1)], T0 + 2).await;
    assert_eq!(changes, [change("d", PinChangeKind::New, None, 1)]);
    assert_eq!(get(store, SERVER, "a").await, first_use(SERVER, "a", 1, T0));
    assert_eq!(get(store, SERVER, "c").await.status, PinStatus::Pending);
    assert_eq!(list(store, Some(SERVER)).await.len(), 4);
}

pub async fn changes_are_reported_in_listing_order(store: &dyn PinStore) {
    observe(store, SERVER, &[obs("m", 1), obs("b", 1), obs("y", 1)], T0).await;
    observe(store, SERVER, &[obs("y", 2)], T0 + 1).await;
    let changes = observe(
        store,
        SERVER,
        &[
            obs("z", 1),
            obs("y", 1),
            obs("m", 1),
            obs("b", 5),
            obs("a", 1),
        ],
        T0 + 2,
    )
    .await;
    assert_eq!(
        changes,
        [
            change("z", PinChangeKind::New, None, 1),
            change("y", PinChangeKind::Reverted, Some(2), 1),
            change("b", PinChangeKind::Changed, Some(1), 5),
            change("a", PinChangeKind::New, None, 1),
        ]
    );
}

pub async fn a_tool_listed_twice_is_pending_on_its_second_definition(store: &dyn PinStore) {
    // First use: the first entry is trusted, the second, different one is a change.
    let changes = observe(store, SERVER, &[obs("t", 1), obs("t", 2), obs("u", 1)], T0).await;
    assert_eq!(changes, [change("t", PinChangeKind::Changed, Some(1), 2)]);
    let t = get(store, SERVER, "t").await;
    assert_eq!(
        (t.status, t.fingerprint, t.approved_fingerprint),
        (PinStatus::Pending, fp(2), Some(fp(1)))
    );
    assert_eq!(get(store, SERVER, "u").await, first_use(SERVER, "u", 1, T0));
    // Later: twice the same is one observation.
    let changes = observe(store, SERVER, &[obs("v", 1), obs("v", 1)], T0 + 1).await;
    assert_eq!(changes, [change("v", PinChangeKind::New, None, 1)]);
}

pub async fn approve_takes_the_pending_definition(store: &dyn PinStore) {
    observe(store, SERVER, &[obs("search", 1)], T0).await;
    observe(store, SERVER, &[obs("search", 2), obs("fork", 4)], T0 + 1).await;
    let got = store
        .approve(SERVER, "search", "operator:ana", T0 + 5)
        .await
        .expect("approve")
        .expect("pending");
    let want = Pin {
        server: SERVER.to_owned(),
        tool: "search".to_owned(),
        fingerprint: fp(2),
        definition: def("search", 2),
        status: PinStatus::Approved,
        first_seen_ms: T0,
        changed_ms: T0 + 1,
        approved_ms: Some(T0 + 5),
        approved_by: Some("operator:ana".to_owned()),
        approved_fingerprint: Some(fp(2)),
        approved_definition: Some(def("search", 2)),
    };
    assert_eq!(got, want);
    assert_eq!(get(store, SERVER, "search").await, want);
    // Not pending any more, unknown, or on another server: None, nothing changes.
    for (server, tool) in [
        (SERVER, "search"),
        (SERVER, "nope"),
        ("other", "fork"),
        (SERVER, "FORK"),
    ] {
        assert_eq!(
            store
                .approve(server, tool, "bo", T0 + 6)
                .await
                .expect("approve"),
            None,
            "{server}/{tool}"
        );
    }
    assert_eq!(get(store, SERVER, "search").await, want);
    // A new tool, never approved before.
    let fork = store
        .approve(SERVER, "fork", "bo", T0 + 7)
        .await
        .expect("approve")
        .expect("pending");
    assert_eq!(
        (
            fork.status,
            fork.approved_fingerprint,
            fork.approved_by,
            fork.approved_ms
        ),
        (
            PinStatus::Approved,
            Some(fp(4)),
            Some("bo".to_owned()),
            Some(T0 + 7)
        )
    );
    // Once approved, the old definition is a change, not a revert.
    let changes = observe(store, SERVER, &[obs("search", 1)], T0 + 8).await;
    assert_eq!(
        changes,
        [change("search", PinChangeKind::Changed, Some(2), 1)]
    );
}

pub async fn approve_all_approves_one_servers_pending_pins(store: &dyn PinStore) {
    observe(store, SERVER, &[obs("a", 1), obs("b", 1)], T0).await;
    observe(store, "slack", &[obs("post", 1)], T0).await;
    observe(
        store,
        SERVER,
        &[obs("b", 2), obs("d", 1), obs("c", 1)],
        T0 + 1,
    )
    .await;
    observe(store, "slack", &[obs("post", 2)], T0 + 1).await;
    let got = store
        .approve_all(SERVER, "operator", T0 + 2)
        .await
        .expect("approve all");
    assert_eq!(
        got.iter().map(|p| p.tool.as_str()).collect::<Vec<_>>(),
        ["b", "c", "d"],
        "by tool"
    );
    for pin in &got {
        assert_eq!(pin.status, PinStatus::Approved);
        assert_eq!(pin.approved_by.as_deref(), Some("operator"));
        assert_eq!(pin.approved_ms, Some(T0 + 2));
        assert_eq!(pin.approved_fingerprint.as_ref(), Some(&pin.fingerprint));
        assert_eq!(pin.approved_definition.as_ref(), Some(&pin.definition));
        assert_eq!(&get(store, SERVER, &pin.tool).await, pin);
    }
    assert_eq!(
        get(store, SERVER, "a").await,
        first_use(SERVER, "a", 1, T0),
        "not pending"
    );
    assert_eq!(
        get(store, "slack", "post").await.status,
        PinStatus::Pending,
        "another server"
    );
    assert!(
        store
            .approve_all(SERVER, "operator", T0 + 3)
            .await
            .expect("again")
            .is_empty()
    );
    assert!(
        store
            .approve_all("unknown", "operator", T0 + 3)
            .await
            .expect("none")
            .is_empty()
    );
}

pub async fn servers_are_pinned_independently(store: &dyn PinStore) {
    observe(store, SERVER, &[obs("search", 1)], T0).await;
    // Another server's first listing is trusted although pins exist elsewhere.
    assert!(
        observe(store, "gitlab", &[obs("search", 9)], T0 + 1)
            .await
            .is_empty()
    );
    assert_eq!(
        get(store, "gitlab", "search").await,
        first_use("gitlab", "search", 9, T0 + 1)
    );
    assert_eq!(
        get(store, SERVER, "search").await,
        first_use(SERVER, "search", 1, T0)
    );
    let changes = observe(store, "gitlab", &[obs("search", 1)], T0 + 2).await;
    assert_eq!(
        changes,
        [change("search", PinChangeKind::Changed, Some(9), 1)]
    );
    assert_eq!(
        get(store, SERVER, "search").await.status,
        PinStatus::Approved
    );
}

pub async fn lists_are_ordered_by_server_then_tool(store: &dyn PinStore) {
    observe(store, "b", &[obs("z", 1), obs("a", 1)], T0).await;
    observe(store, "a.b", &[obs("x", 1)], T0).await;
    observe(
        store,
        "a",
        &[
            obs("é", 1),
            obs("z", 1),
            obs("Z", 1),
            obs("a.b", 1),
            obs("a", 1),
            obs("a_b", 1),
        ],
        T0,
    )
    .await;
    observe(store, "B", &[obs("q", 1)], T0).await;
    let all = list(store, None).await;
    let want: Vec<(String, String)> = [
        ("B", "q"),
        ("a", "Z"),
        ("a", "a"),
        ("a", "a.b"),
        ("a", "a_b"),
        ("a", "z"),
        ("a", "é"),
        ("a.b", "x"),
        ("b", "a"),
        ("b", "z"),
    ]
    .iter()
    .map(|&(s, t)| (s.to_owned(), t.to_owned()))
    .collect();
    assert_eq!(names(&all), want);
    assert_eq!(names(&list(store, Some("a")).await), want[1..7]);
    assert_eq!(names(&list(store, Some("b")).await), want[8..]);
    assert!(list(store, Some("c")).await.is_empty());
    assert!(list(store, Some("A")).await.is_empty(), "names are exact");
    // Records come back whole, as get returns them.
    for pin in &all {
        assert_eq!(&get(store, &pin.server, &pin.tool).await, pin);
    }
}

pub async fn text_round_trips(store: &dyn PinStore) {
    let server = "srv \"quoted\" ✓\0'; drop table pins; --";
    let tool = "tool\u{FFFF}0\nline";
    let definition = "{\"description\":\"nul \\u0000 stays escaped\",\"name\":\"ü\"}\u{0}\u{FFFF}";
    let listing = [(tool.to_owned(), fp(1), definition.to_owned())];
    observe(store, server, &listing, T0).await;
    let pin = get(store, server, tool).await;
    assert_eq!((pin.server.as_str(), pin.tool.as_str()), (server, tool));
    assert_eq!(pin.definition, definition);
    assert_eq!(pin.approved_definition.as_deref(), Some(definition));
    // A lookalike of the escaped form is another tool.
    assert_eq!(
        store
            .get(server, "tool\u{FFFF}\u{FFFF}0\nline")
            .await
            .expect("get"),
        None
    );
    assert_eq!(
        store.get(server, "tool\u{0}0\nline").await.expect("get"),
        None
    );
    let changed = [(tool.to_owned(), fp(2), format!("{definition}\0v2"))];
    let changes = observe(store, server, &changed, T0 + 1).await;
    assert_eq!(changes, [change(tool, PinChangeKind::Changed, Some(1), 2)]);
    let by = "operator:\0ana";
    let got = store
        .approve(server, tool, by, T0 + 2)
        .await
        .expect("approve")
        .expect("pending");
    assert_eq!(got.approved_by.as_deref(), Some(by));
    assert_eq!(got.approved_definition, Some(format!("{definition}\0v2")));
    assert_eq!(list(store, Some(server)).await, [got]);
}

/// Times a backend cannot store are refused before anything is read or written (SQLite
/// and PostgreSQL hold signed 64-bit integers); the memory twin has no such limit, so this
/// is not part of the suite.
pub async fn times_beyond_storage_are_refused(store: &dyn PinStore) {
    let beyond = i64::MAX as u64 + 1;
    let refused = |r: Result<(), StoreError>| {
        assert!(
            matches!(r, Err(StoreError::TimeOutOfRange { now_ms }) if now_ms == beyond),
            "expected TimeOutOfRange, got {r:?}"
        );
    };
    refused(
        store
            .observe(SERVER, &[obs("a", 1)], beyond)
            .await
            .map(drop),
    );
    assert!(list(store, None).await.is_empty(), "nothing written");
    observe(store, SERVER, &[obs("a", 1)], T0).await;
    observe(store, SERVER, &[obs("a", 2)], T0 + 1).await;
    refused(store.approve(SERVER, "a", "bo", beyond).await.map(drop));
    refused(store.approve_all(SERVER, "bo", beyond).await.map(drop));
    assert_eq!(get(store, SERVER, "a").await.status, PinStatus::Pending);
}

/// Instantiates every behaviour case as a test in a module named `$backend`. `$make` is
/// an expression (it may `.await`) returning `(store, guard)`; the guard (a temporary
/// directory, a database schema) lives until the test ends.
#[macro_export]
macro_rules! pin_suite {
    ($backend:ident, $make:expr) => {
        mod $backend {
            use super::*;
            $crate::pin_suite!(@cases $make;
                first_listing_is_trusted,
                a_new_tool_is_pending,
                a_changed_tool_keeps_both_definitions,
                a_revert_is_approved_again,
                absent_tools_are_left_alone,
                changes_are_reported_in_listing_order,
                a_tool_listed_twice_is_pending_on_its_second_definition,
                approve_takes_the_pending_definition,
                approve_all_approves_one_servers_pending_pins,
                servers_are_pinned_independently,
                lists_are_ordered_by_server_then_tool,
                text_round_trips,
            );
        }
    };
    (@cases $make:expr; $($case:ident),* $(,)?) => {
        $(
            #[tokio::test]
            async fn $case() {
                let (store, _guard) = $make;
                common::pins::$case(&store).await;
            }
        )*
    };
}

// ---------------------------------------------------------------- races

/// Two handles on one store.
pub type Pair = (Arc<dyn PinStore>, Arc<dyn PinStore>);

/// How many times each race is run.
pub const ROUNDS: usize = 30;

/// Runs `f(a)` and `f(b)` at once, each on its own task.
async fn both<T, F, Fut>(a: &Arc<dyn PinStore>, b: &Arc<dyn PinStore>, f: F) -> (T, T)
where
    T: Send + 'static,
    F: Fn(Arc<dyn PinStore>, usize) -> Fut,
    Fut: std::future::Future<Output = T> + Send + 'static,
{
    let (ta, tb) = (tokio::spawn(f(a.clone(), 0)), tokio::spawn(f(b.clone(), 1)));
    (ta.await.expect("task a"), tb.await.expect("task b"))
}

fn round_server(round: usize) -> String {
    format!("server-{round:03}")
}

/// Two handles observe the same changed listing at once, many times: every change is
/// reported exactly once between them, and the stored pins are what one observation makes.
pub async fn racing_observations_report_each_change_once((a, b): Pair) {
    for round in 0..ROUNDS {
        observe(
            &*a,
            &round_server(round),
            &[obs("keep", 1), obs("edit", 1), obs("back", 1)],
            T0,
        )
        .await;
        observe(&*a, &round_server(round), &[obs("back", 2)], T0 + 1).await;
    }
    for round in 0..ROUNDS {
        let server = round_server(round);
        let (ra, rb) = both(&a, &b, |store, _| {
            let server = server.clone();
            async move {
                let listing = [
                    obs("keep", 1),
                    obs("edit", 2),
                    obs("back", 1),
                    obs("new", 1),
                ];
                store
                    .observe(&server, &listing, T0 + 2)
                    .await
                    .expect("observe")
            }
        })
        .await;
        let mut all: Vec<PinChange> = ra.iter().chain(&rb).cloned().collect();
        all.sort_by(|x, y| x.tool.cmp(&y.tool));
        assert_eq!(
            all,
            [
                change("back", PinChangeKind::Reverted, Some(2), 1),
                change("edit", PinChangeKind::Changed, Some(1), 2),
                change("new", PinChangeKind::New, None, 1),
            ],
            "round {round}: {ra:?} {rb:?}"
        );
        assert!(
            ra.is_empty() || rb.is_empty(),
            "one observation made every change"
        );
        let pins = list(&*b, Some(&server)).await;
        let states: Vec<(&str, PinStatus)> =
            pins.iter().map(|p| (p.tool.as_str(), p.status)).collect();
        assert_eq!(
            states,
            [
                ("back", PinStatus::Approved),
                ("edit", PinStatus::Pending),
                ("keep", PinStatus::Approved),
                ("new", PinStatus::Pending),
            ]
        );
    }
}

/// Two handles make a server's first observation at once, with listings that differ in one
/// tool (a server answering two clients differently): exactly one is trusted on first use,
/// and the other's difference is reported as a change, never trusted silently.
pub async fn racing_first_listings_trust_one((a, b): Pair) {
    for round in 0..ROUNDS {
        let server = round_server(round);
        let (ra, rb) = both(&a, &b, |store, side| {
            let server = server.clone();
            async move {
                let version = 1 + side as u32;
                let listing = [obs("same", 1), obs("differs", version)];
                (
                    version,
                    store.observe(&server, &listing, T0).await.expect("observe"),
                )
            }
        })
        .await;
        let ((trusted, first), (other, second)) = if ra.1.is_empty() { (ra, rb) } else { (rb, ra) };
        assert!(first.is_empty(), "round {round}: one is the first use");
        assert_eq!(
            second,
            [change(
                "differs",
                PinChangeKind::Changed,
                Some(trusted),
                other
            )],
            "round {round}"
        );
        let pin = get(&*a, &server, "differs").await;
        assert_eq!(
            (pin.status, pin.fingerprint, pin.approved_fingerprint),
            (PinStatus::Pending, fp(other), Some(fp(trusted)))
        );
        assert_eq!(
            get(&*b, &server, "same").await,
            first_use(&server, "same", 1, T0)
        );
    }
}

/// Two handles approve the same pending pin at once, many times: exactly one gets it.
pub async fn racing_approvals_approve_once((a, b): Pair) {
    for round in 0..ROUNDS {
        let server = round_server(round);
        observe(&*a, &server, &[obs("tool", 1)], T0).await;
        observe(&*b, &server, &[obs("tool", 2)], T0 + 1).await;
    }
    for round in 0..ROUNDS {
        let server = round_server(round);
        let all = round % 2 == 0;
        let (ra, rb) = both(&a, &b, |store, side| {
            let server = server.clone();
            async move {
                let by = format!("approver-{side}");
                if all {
                    store
                        .approve_all(&server, &by, T0 + 2)
                        .await
                        .expect("approve all")
                } else {
                    store
                        .approve(&server, "tool", &by, T0 + 2)
                        .await
                        .expect("approve")
                        .into_iter()
                        .collect()
                }
            }
        })
        .await;
        let won: Vec<&Pin> = ra.iter().chain(&rb).collect();
        assert_eq!(won.len(), 1, "round {round}: {ra:?} {rb:?}");
        assert_eq!(&get(&*a, &server, "tool").await, won[0]);
    }
}

/// Instantiates every race as a test in a module named `$backend`. `$make` is an
/// expression (it may `.await`) returning `(a, b, guard)`: two `Arc<dyn PinStore>` handles
/// on one fresh store.
#[macro_export]
macro_rules! pin_race_suite {
    ($backend:ident, $make:expr) => {
        mod $backend {
            use super::*;
            $crate::pin_race_suite!(@cases $make;
                racing_observations_report_each_change_once,
                racing_first_listings_trust_one,
                racing_approvals_approve_once,
            );
        }
    };
    (@cases $make:expr; $($case:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $case() {
                let (a, b, _guard) = $make;
                common::pins::$case((a, b)).await;
            }
        )*
    };
}
