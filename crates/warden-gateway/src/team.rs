//! `warden serve`: one gateway in front of many servers, for many identities.
//!
//! A request to `/mcp/<server>` is authenticated (API key or JWT, `warden-auth`), its identity's
//! grant for that server is looked up in the live configuration, and the grant's policy decides
//! its calls through the same [`HttpGateway`], [`Relay`](crate::relay::Relay) and
//! [`Guard`] as `warden run`. Nothing here decides a call: it only says who is calling and
//! which policy applies.
//!
//! Reload swaps the whole configuration at once. Policies are read per call (a grant's
//! [`PolicySource`] looks its policy up in the configuration in force), so a new rule applies to
//! the next call of every open session, and a call already decided finishes under the version
//! it was decided with. Endpoints of servers whose definition did not change are kept, with
//! their sessions; removed servers' endpoints end with their sessions.

use std::collections::HashMap;
use std::sync::{Arc, Weak};

use arc_swap::ArcSwap;
use axum::Router;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use warden_auth::Authenticator;
use warden_config::{Config, Server, Transport};
use warden_policy::Policy;
use warden_protocol::{ErrorCode, error_response};
use warden_store::{CounterStore, PinStore};

use crate::audit::AuditLog;
use crate::clock::Clock;
use crate::definitions::{Definitions, Registry};
use crate::downstream::http::{
    Admitted, AllowedHosts, Gatekeeper, HttpGateway, check_header_size, check_origin,
};
use crate::guard::{Guard, PolicySource, Principal};
use crate::upstream::{HeaderMap as UpstreamHeaders, HeaderName, HeaderValue as UpHeaderValue};
use crate::upstream::{Limits, UpstreamSpec};

/// The running team gateway.
#[derive(Debug)]
pub struct Team {
    config: ArcSwap<Config>,
    endpoints: ArcSwap<HashMap<String, Endpoint>>,
    auth: ArcSwap<Authenticator>,
    store: Arc<dyn CounterStore>,
    clock: Arc<dyn Clock>,
    audit: Option<Arc<AuditLog>>,
    approvals: Option<Arc<crate::approvals::Approvals>>,
    deny_all: Arc<Policy>,
    reload: std::sync::Mutex<()>,
    /// Requests in flight across all endpoints (`limits.max_concurrent_requests`).
    inflight: Arc<tokio::sync::Semaphore>,
    /// Sessions of the aggregated endpoint.
    aggregate: crate::aggregate::Sessions,
    /// Where tool definitions are pinned, and the servers' listings for the cross-server lint.
    pins: std::sync::OnceLock<(Arc<dyn PinStore>, Arc<Registry>)>,
    /// Each server's definitions, shared by its guards, kept across requests and reloads.
    definitions: std::sync::Mutex<HashMap<String, Arc<Definitions>>>,
}

#[derive(Debug, Clone)]
struct Endpoint {
    server: Server,
    limits: warden_config::EdgeLimits,
    gateway: Arc<HttpGateway>,
}

/// Turns a configured server into an upstream to connect to.
pub fn upstream_spec(server: &Server) -> Result<UpstreamSpec, String> {
    match server {
        Server::Command {
            command,
            args,
            env,
            lifecycle,
            ..
        } => Ok(UpstreamSpec::Command {
            program: command.clone(),
            args: args.clone(),
            env: env.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
            shared: *lifecycle == warden_config::Lifecycle::Shared,
        }),
        Server::Http {
            url,
            headers,
            transport,
            ..
        } => {
            let url = url.parse().map_err(|e| format!("{url}: {e}"))?;
            let mut map = UpstreamHeaders::new();
            for (k, v) in headers {
                let name =
                    HeaderName::from_bytes(k.as_bytes()).map_err(|e| format!("header {k}: {e}"))?;
                let value = UpHeaderValue::from_str(v).map_err(|e| format!("header {k}: {e}"))?;
                map.append(name, value);
            }
            Ok(if *transport == Transport::Sse {
                UpstreamSpec::Sse { url, headers: map }
            } else {
                UpstreamSpec::Http { url, headers: map }
            })
        }
    }
}

impl Team {
    /// Starts from a validated configuration. Fails when a server cannot be served. Every
    /// decision is recorded in `audit` when given; calls that need approval are held in
    /// `approvals` (denied without).
    pub fn new(
        config: Config,
        auth: Authenticator,
        store: Arc<dyn CounterStore>,
        clock: Arc<dyn Clock>,
        audit: Option<Arc<AuditLog>>,
        approvals: Option<Arc<crate::approvals::Approvals>>,
    ) -> Result<Arc<Self>, String> {
        let deny_all = Arc::new(
            Policy::from_json("(no policy)", r#"{"version":"1","default":"deny"}"#)
                .map_err(|p| p.to_string())?,
        );
        let inflight = Arc::new(tokio::sync::Semaphore::new(
            config.limits.max_concurrent_requests,
        ));
        let team = Arc::new(Team {
            inflight,
            aggregate: crate::aggregate::Sessions::default(),
            config: ArcSwap::from_pointee(config),
            endpoints: ArcSwap::from_pointee(HashMap::new()),
            auth: ArcSwap::from_pointee(auth),
            store,
            clock,
            audit,
            approvals,
            deny_all,
            reload: std::sync::Mutex::new(()),
            pins: std::sync::OnceLock::new(),
            definitions: std::sync::Mutex::default(),
        });
        let endpoints = team.endpoints_for(&team.config(), &HashMap::new())?;
        team.endpoints.store(Arc::new(endpoints));
        Ok(team)
    }

    /// Pins the servers' tool definitions in `pins` and lints them (docs/pinning.md). Set
    /// once, before serving.
    pub fn with_pins(self: Arc<Self>, pins: Arc<dyn PinStore>) -> Arc<Self> {
        let _ = self.pins.set((pins, Arc::new(Registry::default())));
        self
    }

    /// The definitions of `server`, shared by all its guards; `None` without a pin store.
    fn definitions_of(&self, server: &str) -> Option<Arc<Definitions>> {
        let (pins, registry) = self.pins.get()?;
        let mut all = self.definitions.lock().unwrap_or_else(|p| p.into_inner());
        Some(
            all.entry(server.to_owned())
                .or_insert_with(|| {
                    Arc::new(
                        Definitions::new(
                            server,
                            pins.clone(),
                            self.audit.clone(),
                            self.clock.clone(),
                        )
                        .with_registry(registry.clone()),
                    )
                })
                .clone(),
        )
    }

    /// The configuration in force.
    pub fn config(&self) -> Arc<Config> {
        self.config.load_full()
    }

    /// Applies a new, already validated configuration (and, when given, a new authenticator).
    /// If any server of the new configuration cannot be served, nothing changes.
    pub fn reload(
        self: &Arc<Self>,
        config: Config,
        auth: Option<Authenticator>,
    ) -> Result<(), String> {
        let _one_at_a_time = self.reload.lock().unwrap_or_else(|p| p.into_inner());
        let endpoints = self.endpoints_for(&config, &self.endpoints.load())?;
        self.config.store(Arc::new(config));
        self.endpoints.store(Arc::new(endpoints));
        if let Some(auth) = auth {
            self.auth.store(Arc::new(auth));
        }
        Ok(())
    }

    /// Endpoints for `config`, reusing those whose server and limits did not change.
    fn endpoints_for(
        self: &Arc<Self>,
        config: &Config,
        current: &HashMap<String, Endpoint>,
    ) -> Result<HashMap<String, Endpoint>, String> {
        let mut out = HashMap::new();
        for (name, server) in &config.servers {
            if let Some(e) = current.get(name)
                && e.server == *server
                && e.limits == config.limits
            {
                out.insert(name.clone(), e.clone());
                continue;
            }
            let spec = upstream_spec(server).map_err(|e| format!("servers.{name}: {e}"))?;
            let limits = Limits {
                client_message_bytes: config.limits.max_body_bytes,
                upstream_timeout: Some(server.timeout().unwrap_or(config.limits.upstream_timeout)),
                session_idle: config.limits.session_idle,
                max_concurrent_requests: Some(config.limits.max_concurrent_requests),
                max_concurrent_per_session: Some(config.limits.max_concurrent_per_session),
                ..Limits::default()
            };
            let keeper = Arc::new(ServerGatekeeper {
                team: Arc::downgrade(self),
                server: name.clone(),
            });
            out.insert(
                name.clone(),
                Endpoint {
                    server: server.clone(),
                    limits: config.limits,
                    gateway: HttpGateway::sharing(
                        keeper,
                        spec,
                        limits,
                        Some(self.inflight.clone()),
                    ),
                },
            );
        }
        Ok(out)
    }

    fn endpoint(&self, server: &str) -> Option<Arc<HttpGateway>> {
        self.endpoints.load().get(server).map(|e| e.gateway.clone())
    }

    /// The router: `/mcp/<server>` per server, and the protected-resource metadata.
    pub fn router(self: &Arc<Self>) -> Router {
        let allowed: AllowedHosts = self.config().listen.allowed_hosts.clone().into();
        Router::new()
            .route(
                "/mcp",
                post(|State(t): State<Arc<Team>>, h: HeaderMap, b: Body| {
                    crate::aggregate::post(t, h, b)
                })
                .get(|| async {
                    (StatusCode::METHOD_NOT_ALLOWED, [(header::ALLOW, "POST, DELETE")]).into_response()
                })
                .delete(|State(t): State<Arc<Team>>, h: HeaderMap| crate::aggregate::delete(t, h)),
            )
            .route(
                "/mcp/{server}",
                post(
                    |State(t): State<Arc<Team>>, Path(s): Path<String>, h: HeaderMap, b: Body| async move {
                        match t.endpoint(&s) {
                            Some(gw) => gw.post(h, b).await,
                            None => {
                                crate::downstream::http::drain(b).await;
                                unknown_server(&s)
                            }
                        }
                    },
                )
                .get(|State(t): State<Arc<Team>>, Path(s): Path<String>, h: HeaderMap| async move {
                    match t.endpoint(&s) {
                        Some(gw) => gw.get(h).await,
                        None => unknown_server(&s),
                    }
                })
                .delete(|State(t): State<Arc<Team>>, Path(s): Path<String>, h: HeaderMap| async move {
                    match t.endpoint(&s) {
                        Some(gw) => gw.delete(h).await,
                        None => unknown_server(&s),
                    }
                }),
            )
            .route(
                "/mcp/{server}/sse",
                get(|State(t): State<Arc<Team>>, Path(s): Path<String>, h: HeaderMap| async move {
                    match t.endpoint(&s) {
                        Some(gw) => gw.sse_open(h, &format!("/mcp/{s}/messages")).await,
                        None => unknown_server(&s),
                    }
                }),
            )
            .route(
                "/mcp/{server}/messages",
                post(
                    |State(t): State<Arc<Team>>,
                     Path(s): Path<String>,
                     axum::extract::Query(q): axum::extract::Query<HashMap<String, String>>,
                     h: HeaderMap,
                     b: Body| async move {
                        match t.endpoint(&s) {
                            Some(gw) => gw.sse_message(h, q.get("session_id").cloned(), b).await,
                            None => {
                                crate::downstream::http::drain(b).await;
                                unknown_server(&s)
                            }
                        }
                    },
                ),
            )
            .route(
                "/.well-known/oauth-protected-resource",
                get(|State(t): State<Arc<Team>>| async move { t.metadata(None) }),
            )
            .route(
                "/.well-known/oauth-protected-resource/mcp/{server}",
                get(|State(t): State<Arc<Team>>, Path(s): Path<String>| async move {
                    t.metadata(Some(&s))
                }),
            )
            .layer(axum::extract::DefaultBodyLimit::disable())
            .layer(axum::middleware::from_fn_with_state(allowed, check_origin))
            .layer(axum::middleware::from_fn_with_state(
                self.config().limits.max_header_bytes,
                check_header_size,
            ))
            .with_state(self.clone())
    }

    /// RFC 9728 protected-resource metadata.
    fn metadata(&self, server: Option<&str>) -> Response {
        let config = self.config();
        if let Some(s) = server
            && !config.servers.contains_key(s)
        {
            return unknown_server(s);
        }
        let base = config.listen.base_url();
        let resource = match server {
            Some(s) => format!("{base}/mcp/{s}"),
            None => format!("{base}/mcp"),
        };
        let mut doc = serde_json::json!({
            "resource": resource,
            "bearer_methods_supported": ["header"],
            "resource_name": "Warden MCP gateway",
        });
        if let Some(jwt) = &config.jwt {
            doc["authorization_servers"] = serde_json::json!([jwt.issuer]);
        }
        (
            [(header::CONTENT_TYPE, "application/json")],
            doc.to_string(),
        )
            .into_response()
    }

    /// Ends every session (and its upstream connection).
    pub fn shutdown(&self) {
        self.endpoints.store(Arc::new(HashMap::new()));
    }
}

fn unknown_server(server: &str) -> Response {
    let why = format!("no server named {server:?} on this gateway");
    (
        StatusCode::NOT_FOUND,
        [(header::CONTENT_TYPE, "application/json")],
        error_response(None, ErrorCode::InvalidRequest, &why, None),
    )
        .into_response()
}

/// Admits requests to one server's endpoint: credential → identity → grant → guard.
#[derive(Debug)]
struct ServerGatekeeper {
    team: Weak<Team>,
    server: String,
}

impl Gatekeeper for ServerGatekeeper {
    fn admit<'a>(
        &'a self,
        headers: &'a HeaderMap,
    ) -> futures::future::BoxFuture<'a, Result<Admitted, Response>> {
        Box::pin(async move {
            let Some(team) = self.team.upgrade() else {
                return Err(StatusCode::SERVICE_UNAVAILABLE.into_response());
            };
            let who = team.authenticate(headers, Some(&self.server)).await?;
            let config = team.config();
            team.admit_grant(&who, &self.server, &config)
                .ok_or_else(|| {
                    let why = format!(
                        "identity {:?} has no grant for server {:?}; ask an operator to add one",
                        who.identity, self.server
                    );
                    (
                        StatusCode::FORBIDDEN,
                        [(header::CONTENT_TYPE, "application/json")],
                        error_response(None, ErrorCode::InvalidRequest, &why, None),
                    )
                        .into_response()
                })
        })
    }
}

impl Team {
    /// Who sent `headers`, or the 401/503 answer (with `WWW-Authenticate` naming the RFC 9728
    /// metadata of `server`, or of the aggregated endpoint).
    pub(crate) async fn authenticate(
        &self,
        headers: &HeaderMap,
        server: Option<&str>,
    ) -> Result<warden_auth::Authenticated, Response> {
        let authorization = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        let auth = self.auth.load_full();
        auth.authenticate(authorization, self.clock.now_ms())
            .await
            .map_err(|e| {
                let base = self.config().listen.base_url();
                let metadata = match server {
                    Some(s) => format!("{base}/.well-known/oauth-protected-resource/mcp/{s}"),
                    None => format!("{base}/.well-known/oauth-protected-resource"),
                };
                let status = if e.is_unavailable() {
                    StatusCode::SERVICE_UNAVAILABLE
                } else {
                    StatusCode::UNAUTHORIZED
                };
                let body = error_response(None, ErrorCode::InvalidRequest, &e.to_string(), None);
                let mut resp =
                    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response();
                if let Ok(v) = HeaderValue::from_str(&e.www_authenticate(&metadata)) {
                    resp.headers_mut().insert(header::WWW_AUTHENTICATE, v);
                }
                resp
            })
    }

    /// The caller `who` on `server` under their grant, or `None` without a grant.
    pub(crate) fn admit_grant(
        self: &Arc<Self>,
        who: &warden_auth::Authenticated,
        server: &str,
        config: &Config,
    ) -> Option<Admitted> {
        config.grant(&who.identity, server)?;
        // Conditions read `identity.*`: configured attributes, then the credential's claims
        // (a JWT's), and the name last so nothing can spoof it.
        let mut attributes = config
            .identities
            .get(&who.identity)
            .map(|i| i.attributes.clone())
            .unwrap_or_default();
        attributes.extend(who.attributes.clone());
        attributes.insert("name".into(), who.identity.clone().into());
        let principal = Principal {
            grant: format!("{}@{server}", who.identity),
            identity: who.identity.clone(),
            attributes: serde_json::Value::Object(attributes),
        };
        let policy = Arc::new(GrantPolicy {
            team: Arc::downgrade(self),
            identity: who.identity.clone(),
            server: server.to_owned(),
            deny_all: self.deny_all.clone(),
        });
        let mut guard = Guard::new(policy, self.store.clone(), self.clock.clone());
        if let Some(log) = &self.audit {
            guard = guard.with_audit(log.clone(), server);
        }
        if let Some(approvals) = &self.approvals {
            guard = guard.with_approvals(approvals.clone());
        }
        if let Some(definitions) = self.definitions_of(server) {
            guard = guard.with_definitions(definitions);
        }
        Some(Admitted {
            who: principal,
            guard: Arc::new(guard),
        })
    }

    /// The endpoint of `server`, if configured.
    pub(crate) fn gateway_of(&self, server: &str) -> Option<Arc<HttpGateway>> {
        self.endpoint(server)
    }

    /// Requests in flight across the gateway.
    pub(crate) fn inflight(&self) -> &Arc<tokio::sync::Semaphore> {
        &self.inflight
    }

    /// Sessions of the aggregated endpoint.
    pub(crate) fn aggregate_sessions(&self) -> &crate::aggregate::Sessions {
        &self.aggregate
    }
}

/// A grant's policy, looked up in the configuration in force at each decision. A grant
/// without a policy, or one removed by a reload, denies everything.
#[derive(Debug)]
struct GrantPolicy {
    team: Weak<Team>,
    identity: String,
    server: String,
    deny_all: Arc<Policy>,
}

impl PolicySource for GrantPolicy {
    fn current(&self) -> Arc<Policy> {
        let Some(team) = self.team.upgrade() else {
            return self.deny_all.clone();
        };
        let config = team.config();
        config
            .grant(&self.identity, &self.server)
            .and_then(|g| g.policy.as_ref())
            .and_then(|name| config.policies.get(name).cloned())
            .unwrap_or_else(|| self.deny_all.clone())
    }
}

/// Serves the team gateway until `shutdown` resolves, then ends every session.
pub async fn serve(
    team: Arc<Team>,
    listener: tokio::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    axum::serve(listener, team.router())
        .with_graceful_shutdown(shutdown)
        .await?;
    team.shutdown();
    Ok(())
}
