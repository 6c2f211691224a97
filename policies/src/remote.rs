//! Policies served by another process, in any language, over Zenoh.
//!
//! The runner sends a query to the policy's key with a JSON request that holds one or more
//! episodes' observations, and the server replies with one action per episode. The format
//! (`dreamrig-remote-policy/1`) is documented in `docs/remote-policies.md`; a Python server
//! is in `examples/remote_policy_server.py`.
//!
//! This module also opens the Zenoh sessions that the bridges use, so that every part of
//! dreamrig finds or becomes the same router.

use crate::zoo::SpecProblem;
use crate::{BatchPolicy, Policy, PolicyError};
use dreamrig_sim::{ActionSpec, Observation, ObservationSpec};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;
use zenoh::Wait;

/// The request format's name and version, sent in every request.
pub const FORMAT: &str = "dreamrig-remote-policy/1";

/// rmw_zenoh's router endpoint, and where dreamrig serves one when none is running.
pub const DEFAULT_ROUTER: &str = "tcp/127.0.0.1:7447";

/// Why a Zenoh session could not be opened.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ZenohError {
    /// The configuration file cannot be read, or the session it describes cannot be opened.
    #[error("zenoh config {file}: {reason}")]
    Config {
        /// The Zenoh configuration file.
        file: PathBuf,
        /// Zenoh's error.
        reason: String,
    },
    /// The endpoint is not `tcp/HOST:PORT`, does not resolve, or can be neither served nor joined.
    #[error("zenoh endpoint {endpoint}: {reason}")]
    Endpoint {
        /// The endpoint as given, e.g. `tcp/127.0.0.1:7447`.
        endpoint: String,
        /// What is wrong with it, or Zenoh's error.
        reason: String,
    },
    /// Zenoh refused a configuration value (`key = value: reason`).
    #[error("zenoh: {0}")]
    Session(String),
}

/// How to reach the Zenoh network.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ZenohConnection {
    /// Join the router at this endpoint, or serve it in router mode when nothing listens there.
    Router(String),
    /// A Zenoh configuration file (JSON5), used as it is.
    ConfigFile(PathBuf),
}

impl Default for ZenohConnection {
    fn default() -> Self {
        Self::Router(DEFAULT_ROUTER.into())
    }
}

/// What an opened session turned out to be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionRole {
    /// A peer of the router already listening at the endpoint.
    JoinedRouter(String),
    /// No router was listening, so this process serves the endpoint in router mode.
    ServingRouter(String),
    /// Opened from a configuration file.
    Configured(PathBuf),
}

impl std::fmt::Display for SessionRole {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SessionRole::JoinedRouter(e) => write!(f, "joined the Zenoh router at {e}"),
            SessionRole::ServingRouter(e) => write!(f, "no Zenoh router at {e}: serving it here in router mode"),
            SessionRole::Configured(p) => write!(f, "Zenoh session from {}", p.display()),
        }
    }
}

fn socket_address(endpoint: &str) -> Result<SocketAddr, ZenohError> {
    let bad = |reason: &str| ZenohError::Endpoint { endpoint: endpoint.into(), reason: reason.into() };
    let address = endpoint.strip_prefix("tcp/").ok_or_else(|| bad("expected tcp/HOST:PORT"))?;
    address.to_socket_addrs().map_err(|e| bad(&e.to_string()))?.next().ok_or_else(|| bad("the host resolves to no address"))
}

fn insert(config: &mut zenoh::Config, key: &str, value: &str) -> Result<(), ZenohError> {
    config.insert_json5(key, value).map_err(|e| ZenohError::Session(format!("{key} = {value}: {e}")))
}

/// Opens a Zenoh session: from a configuration file, or as a peer of the router at the
/// endpoint, or, when no router listens there, as that router (as rmw_zenoh's `rmw_zenohd`
/// would), so that ROS 2 nodes and Python clients connect with nothing else installed.
pub fn open_session(connection: &ZenohConnection) -> Result<(zenoh::Session, SessionRole), ZenohError> {
    match connection {
        ZenohConnection::ConfigFile(file) => {
            let config = zenoh::Config::from_file(file).map_err(|e| ZenohError::Config { file: file.clone(), reason: e.to_string() })?;
            let session = zenoh::open(config).wait().map_err(|e| ZenohError::Config { file: file.clone(), reason: e.to_string() })?;
            Ok((session, SessionRole::Configured(file.clone())))
        }
        ZenohConnection::Router(endpoint) => {
            let address = socket_address(endpoint)?;
            let listening = TcpStream::connect_timeout(&address, Duration::from_millis(300)).is_ok();
            if !listening {
                match open_mode(endpoint, "router") {
                    Ok(session) => return Ok((session, SessionRole::ServingRouter(endpoint.clone()))),
                    // Another process may have taken the port since the probe: join it.
                    Err(e) => tracing::debug!("serving {endpoint} failed ({e}); joining it instead"),
                }
            }
            Ok((open_mode(endpoint, "peer")?, SessionRole::JoinedRouter(endpoint.clone())))
        }
    }
}

fn open_mode(endpoint: &str, mode: &str) -> Result<zenoh::Session, ZenohError> {
    let mut config = zenoh::Config::default();
    insert(&mut config, "mode", &format!("\"{mode}\""))?;
    // rmw_zenoh's session defaults: no multicast scouting, the router found by its endpoint, and
    // timestamps on every sample whatever the mode (a transient-local publisher's cache needs
    // them, so a session that joins a running router as a peer can serve `/tf_static` too).
    insert(&mut config, "scouting/multicast/enabled", "false")?;
    insert(&mut config, "timestamping/enabled", "{router: true, peer: true, client: true}")?;
    if mode == "router" {
        insert(&mut config, "listen/endpoints", &format!("[\"{endpoint}\"]"))?;
    } else {
        insert(&mut config, "connect/endpoints", &format!("[\"{endpoint}\"]"))?;
        insert(&mut config, "connect/timeout_ms", "{router: 2000, peer: 2000, client: 2000}")?;
        insert(&mut config, "connect/exit_on_failure", "{router: true, peer: true, client: true}")?;
    }
    zenoh::open(config).wait().map_err(|e| ZenohError::Endpoint { endpoint: endpoint.into(), reason: e.to_string() })
}

/// One session per connection for the whole process: remote policies of a run share it.
pub fn shared_session(connection: &ZenohConnection) -> Result<Arc<zenoh::Session>, ZenohError> {
    static SESSIONS: OnceLock<Mutex<HashMap<ZenohConnection, Arc<zenoh::Session>>>> = OnceLock::new();
    let mut sessions = SESSIONS.get_or_init(Default::default).lock().unwrap_or_else(|p| p.into_inner());
    if let Some(session) = sessions.get(connection) {
        return Ok(session.clone());
    }
    let (session, role) = open_session(connection)?;
    tracing::info!("{role}");
    let session = Arc::new(session);
    sessions.insert(connection.clone(), session.clone());
    Ok(session)
}

/// `remote:` in a policy spec.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RemoteSpec {
    /// The Zenoh key the policy server answers queries on.
    pub zenoh: String,
    /// How long to wait for one reply; an episode whose query gets no reply in time fails.
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
    /// The router endpoint to join (or serve); default `tcp/127.0.0.1:7447`.
    pub router: Option<String>,
    /// A Zenoh configuration file to open the session from instead.
    /// A relative path is resolved against the `base_dir` the policy is built with (an eval spec's folder).
    pub zenoh_config: Option<PathBuf>,
}

fn default_timeout_ms() -> u64 {
    1000
}

impl RemoteSpec {
    /// Checks the spec: a valid Zenoh key without wildcards (`*`, `$`), 1 ≤ `timeout_ms` ≤ 600000, at
    /// most one of `router` and `zenoh_config`, and a `router` of the form `tcp/HOST:PORT` that resolves.
    /// The error starts with the offending key (`zenoh:`, `timeout_ms:`, `router:`).
    pub fn check(&self) -> Result<(), SpecProblem> {
        zenoh::key_expr::KeyExpr::try_from(self.zenoh.as_str())
            .map_err(|e| SpecProblem::new("zenoh", format!("not a valid Zenoh key `{}`: {e}", self.zenoh)))?;
        if self.zenoh.contains('*') || self.zenoh.contains('$') {
            return Err(SpecProblem::new("zenoh", format!("expected a concrete key without wildcards, got `{}`", self.zenoh)));
        }
        if !(1..=600_000).contains(&self.timeout_ms) {
            return Err(SpecProblem::new("timeout_ms", format!("expected 1 to 600000, got {}", self.timeout_ms)));
        }
        if self.router.is_some() && self.zenoh_config.is_some() {
            return Err(SpecProblem::new("", "expected at most one of router, zenoh_config"));
        }
        if let Some(router) = &self.router {
            socket_address(router).map_err(|e| SpecProblem::new("router", e.to_string()))?;
        }
        Ok(())
    }

    fn connection(&self, base_dir: &std::path::Path) -> ZenohConnection {
        match (&self.zenoh_config, &self.router) {
            (Some(file), _) => ZenohConnection::ConfigFile(base_dir.join(file)),
            (None, Some(router)) => ZenohConnection::Router(router.clone()),
            (None, None) => ZenohConnection::default(),
        }
    }
}

/// One episode's part of a request.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct EpisodeRequest {
    /// Stable within a run: the server keeps per-episode state under it.
    pub episode: String,
    /// The seed the episode was reset with.
    pub seed: u64,
    /// Control steps since the episode's reset; 0 starts a new episode.
    pub step: u64,
    /// Every observation field by name, values flattened (row-major for images and multi-channel lidars).
    pub observation: BTreeMap<String, Vec<f32>>,
}

/// What the runner sends.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Request {
    /// Always [`FORMAT`].
    pub format: String,
    /// The scenario's action names: each action in the reply has one value per name, in this order.
    pub action_names: Vec<String>,
    /// The episodes being stepped; their actions come back in this order.
    pub episodes: Vec<EpisodeRequest>,
}

/// What the server replies: one action per requested episode, in order, or an error.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct Reply {
    /// One action per requested episode, in request order.
    #[serde(default)]
    pub actions: Vec<Vec<f64>>,
    /// Set by the server to fail every episode of the query with this message.
    pub error: Option<String>,
}

/// A connection to one policy server, shared by all the episodes that query it.
pub struct RemoteClient {
    name: String,
    key: String,
    timeout: Duration,
    session: Arc<zenoh::Session>,
    action_names: Vec<String>,
}

impl RemoteClient {
    /// Checks `spec` and takes the process-wide session for its connection ([`shared_session`]);
    /// `action` fixes the action names sent and the reply width expected, and a relative `zenoh_config`
    /// is resolved against `base_dir`. Errors: [`PolicyError::Failed`] with `remote.<key>: …` for an
    /// invalid spec, or `remote: …` when the session cannot be opened.
    pub fn connect(name: &str, spec: &RemoteSpec, action: &ActionSpec, base_dir: &std::path::Path) -> Result<Self, PolicyError> {
        spec.check().map_err(|problem| PolicyError::Spec { policy: name.into(), problem: problem.under("remote") })?;
        let session = shared_session(&spec.connection(base_dir))
            .map_err(|e| PolicyError::Failed { policy: name.into(), reason: format!("remote: {e}") })?;
        Ok(Self {
            name: name.into(),
            key: spec.zenoh.clone(),
            timeout: Duration::from_millis(spec.timeout_ms),
            session,
            action_names: action.names.clone(),
        })
    }

    fn failed(&self, reason: String) -> PolicyError {
        PolicyError::Failed { policy: self.name.clone(), reason: format!("remote policy at `{}`: {reason}", self.key) }
    }

    /// One query for all the episodes; one action per episode back, each checked.
    /// Uses the first reply, waiting up to `timeout_ms`. Errors: [`PolicyError::Failed`] for no reply in
    /// time, a failed query, a reply that is not this format's JSON, a server `error`, or the wrong
    /// number or width of actions.
    pub fn query(&self, episodes: Vec<EpisodeRequest>) -> Result<Vec<Vec<f64>>, PolicyError> {
        let count = episodes.len();
        let request = Request { format: FORMAT.into(), action_names: self.action_names.clone(), episodes };
        let payload = serde_json::to_vec(&request).map_err(|e| self.failed(format!("cannot encode the request: {e}")))?;
        let replies = self
            .session
            .get(&self.key)
            .payload(payload)
            .timeout(self.timeout)
            .wait()
            .map_err(|e| self.failed(format!("query failed: {e}")))?;
        let no_reply = || self.failed(format!("no reply within {} ms (is the server running?)", self.timeout.as_millis()));
        let Ok(reply) = replies.recv() else { return Err(no_reply()) };
        let sample = match reply.result() {
            Ok(sample) => sample,
            // Zenoh ends a query that ran out of time with a "Timeout" error reply of its own.
            Err(e) if e.payload().try_to_string().is_ok_and(|p| p == "Timeout") => return Err(no_reply()),
            Err(e) => {
                let text = e.payload().try_to_string().map(|t| t.to_string()).unwrap_or_default();
                return Err(self.failed(format!("the query failed: {text}")));
            }
        };
        let reply: Reply =
            serde_json::from_slice(&sample.payload().to_bytes()).map_err(|e| self.failed(format!("reply is not a {FORMAT} reply: {e}")))?;
        if let Some(error) = reply.error {
            return Err(self.failed(format!("the server reported: {error}")));
        }
        if reply.actions.len() != count {
            return Err(self.failed(format!("expected {count} actions in the reply, got {}", reply.actions.len())));
        }
        for action in &reply.actions {
            if action.len() != self.action_names.len() {
                return Err(self.failed(format!(
                    "expected actions of {} values [{}], got {} values",
                    self.action_names.len(),
                    self.action_names.join(", "),
                    action.len()
                )));
            }
        }
        Ok(reply.actions)
    }
}

fn observation_map(observation: &Observation) -> BTreeMap<String, Vec<f32>> {
    observation.spec.fields.iter().zip(&observation.fields).map(|(f, values)| (f.name.clone(), values.clone())).collect()
}

/// The name an episode has on the server: the policy's name and the episode's seed, which
/// the runner derives from the scenario and the episode index, so it is unique in a run.
fn episode_name(policy: &str, seed: u64) -> String {
    format!("{policy}/{seed}")
}

/// One episode at a time of a remote policy, one query per step.
pub struct RemotePolicy {
    client: Arc<RemoteClient>,
    seed: u64,
    step: u64,
}

impl RemotePolicy {
    /// One episode at a time through `client`; `reset` sets the episode's seed and restarts its step
    /// count.
    pub fn new(client: Arc<RemoteClient>) -> Self {
        Self { client, seed: 0, step: 0 }
    }
}

impl Policy for RemotePolicy {
    fn name(&self) -> &str {
        &self.client.name
    }

    fn check(&self, _: &ObservationSpec, action: &ActionSpec) -> Result<(), PolicyError> {
        crate::require_actions(&self.client.name, action, &self.client.action_names)
    }

    fn reset(&mut self, seed: u64) {
        self.seed = seed;
        self.step = 0;
    }

    fn act(&mut self, observation: &Observation) -> Result<Vec<f64>, PolicyError> {
        let request = EpisodeRequest {
            episode: episode_name(&self.client.name, self.seed),
            seed: self.seed,
            step: self.step,
            observation: observation_map(observation),
        };
        self.step += 1;
        Ok(self.client.query(vec![request])?.remove(0))
    }
}

/// Many episodes of a remote policy, one query per step for all of them.
pub struct RemoteBatch {
    client: Arc<RemoteClient>,
    seeds: Vec<u64>,
    step: u64,
}

impl RemoteBatch {
    /// A batch through `client`; `reset` must be given the batch's seeds before the first `act`.
    pub fn new(client: Arc<RemoteClient>) -> Self {
        Self { client, seeds: Vec::new(), step: 0 }
    }

    /// Actions for the episodes whose observation is given (the others have ended).
    fn act_some(&mut self, observations: &[Option<&Observation>]) -> Result<Vec<Option<Vec<f64>>>, PolicyError> {
        let requests: Vec<EpisodeRequest> = observations
            .iter()
            .enumerate()
            .filter_map(|(i, o)| {
                o.map(|o| EpisodeRequest {
                    episode: episode_name(&self.client.name, self.seeds[i]),
                    seed: self.seeds[i],
                    step: self.step,
                    observation: observation_map(o),
                })
            })
            .collect();
        self.step += 1;
        if requests.is_empty() {
            return Ok(vec![None; observations.len()]);
        }
        let mut actions = self.client.query(requests)?.into_iter();
        Ok(observations.iter().map(|o| o.and_then(|_| actions.next())).collect())
    }
}

impl BatchPolicy for RemoteBatch {
    fn reset(&mut self, seeds: &[u64]) {
        self.seeds = seeds.to_vec();
        self.step = 0;
    }

    fn act(&mut self, observations: &[Option<&Observation>]) -> Result<Vec<Option<Vec<f64>>>, PolicyError> {
        self.act_some(observations)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remote_specs_are_checked_field_by_field() {
        let spec = |text: &str| serde_yaml::from_str::<RemoteSpec>(text).unwrap();
        assert!(spec("{zenoh: policies/lqr}").check().is_ok());
        assert_eq!(spec("{zenoh: policies/lqr}").timeout_ms, 1000);
        assert!(spec("{zenoh: 'policies/*'}").check().unwrap_err().key == "zenoh");
        assert!(spec("{zenoh: a, timeout_ms: 0}").check().unwrap_err().key == "timeout_ms");
        assert!(spec("{zenoh: a, router: 'udp/x'}").check().unwrap_err().key == "router");
        assert!(serde_yaml::from_str::<RemoteSpec>("{zenoh: a, timeout: 3}").is_err());
    }

    #[test]
    fn requests_and_replies_round_trip_as_json() {
        let request = Request {
            format: FORMAT.into(),
            action_names: vec!["force".into()],
            episodes: vec![EpisodeRequest {
                episode: "cartpole/0".into(),
                seed: 7,
                step: 0,
                observation: BTreeMap::from([("joint_state.position".to_string(), vec![0.1, -0.25])]),
            }],
        };
        let text = serde_json::to_string(&request).unwrap();
        assert_eq!(serde_json::from_str::<Request>(&text).unwrap(), request);
        let reply: Reply = serde_json::from_str(r#"{"actions": [[1.5]]}"#).unwrap();
        assert_eq!(reply.actions, vec![vec![1.5]]);
    }
}
