//! ROS 2 over Zenoh, as rmw_zenoh puts it on the wire (interop reference §1): topic keys with
//! the DDS type name and RIHS01 hash, CDR payloads with their encapsulation header, the
//! 33-byte attachment (sequence number, source timestamp, publisher GID), and liveliness
//! tokens for the node, its publishers and its subscriptions so that `ros2 node list` and
//! `ros2 topic list` see them. The zenoh-plugin-ros2dds key mapping (§2) is the alternative
//! for ROS 2 nodes on DDS behind a `zenoh-bridge-ros2dds`.

use crate::ros2::definitions::{type_hash, DefinitionError};
use sha2::{Digest, Sha256};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};
use zenoh::liveliness::LivelinessToken;
use zenoh::pubsub::{Publisher, Subscriber};
use zenoh::Wait;
use zenoh_ext::{AdvancedPublisher, AdvancedPublisherBuilderExt, CacheConfig};

/// Why a ROS 2 node, publisher or subscription on Zenoh could not be set up or used.
#[derive(Debug, thiserror::Error)]
pub enum RosZenohError {
    /// The Zenoh session refused a declaration or a put (its message).
    #[error("zenoh: {0}")]
    Zenoh(String),
    /// The message type has no known definition, so no RIHS01 hash for its key.
    #[error(transparent)]
    Definition(#[from] DefinitionError),
    /// A name ROS 2 would refuse: node name, namespace, domain id or type name (`what` says which).
    #[error("{what}: {reason}")]
    Name {
        /// Which name and its value, e.g. ``node name `my node` `` or `domain id 300`.
        what: String,
        /// Why ROS 2 would refuse it.
        reason: String,
    },
}

fn zenoh_error(e: impl std::fmt::Display) -> RosZenohError {
    RosZenohError::Zenoh(e.to_string())
}

/// The simulated-time topic, global to a ROS domain (never placed in a namespace).
pub const CLOCK_TOPIC: &str = "/clock";

/// How ROS topic names become Zenoh keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum KeyMapping {
    /// rmw_zenoh: `<domain>/<topic>/<pkg::msg::dds_::Type_>/<RIHS01_hash>`, plus liveliness
    /// tokens for the ROS graph.
    #[default]
    RmwZenoh,
    /// zenoh-plugin-ros2dds: the topic name without its leading `/`; no types, no attachment.
    Ros2Dds,
}

/// The QoS a topic is offered or requested with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Qos {
    /// Announced as reliable (`false`: best effort) in the liveliness token; the Zenoh publisher
    /// is declared the same either way.
    pub reliable: bool,
    /// Late joiners get the last `depth` samples (`/tf_static`).
    pub transient_local: bool,
    /// History depth (keep last `depth`): announced, and the samples a transient-local publisher keeps.
    pub depth: u32,
}

impl Qos {
    /// Reliable, volatile, keep last 10: rclcpp's default for topics.
    pub const DEFAULT: Qos = Qos { reliable: true, transient_local: false, depth: 10 };
    /// Reliable, transient local, keep last 1: a late joiner still gets the last sample (`/tf_static`).
    pub const LATCHED: Qos = Qos { reliable: true, transient_local: true, depth: 1 };

    /// rmw_zenoh's QoS key string: each field empty where it equals rmw_zenoh's default
    /// (reliable, volatile, keep_last 42, infinite deadline/lifespan/lease, automatic).
    pub fn rmw_zenoh_string(&self) -> String {
        let reliability = if self.reliable { String::new() } else { "2".into() };
        let durability = if self.transient_local { "1".into() } else { String::new() };
        let depth = if self.depth == 42 { String::new() } else { self.depth.to_string() };
        format!("{reliability}:{durability}:,{depth}:,:,:,,")
    }

    /// zenoh-plugin-ros2dds's QoS string: keyless, then DDS enum values.
    fn ros2dds_string(&self) -> String {
        format!(":{}:{}:0,{}", u8::from(self.reliable), u8::from(self.transient_local), self.depth)
    }
}

/// The DDS type name rmw_zenoh puts in keys: `sensor_msgs/msg/JointState` →
/// `sensor_msgs::msg::dds_::JointState_`.
///
/// # Errors
/// [`RosZenohError::Name`] unless `type_name` is `package/msg/Name`.
pub fn dds_type_name(type_name: &str) -> Result<String, RosZenohError> {
    let parts: Vec<&str> = type_name.split('/').collect();
    match parts.as_slice() {
        [package, "msg", name] if !package.is_empty() && !name.is_empty() => Ok(format!("{package}::msg::dds_::{name}_")),
        _ => Err(RosZenohError::Name { what: format!("type {type_name}"), reason: "expected pkg/msg/Name".into() }),
    }
}

/// Removes one leading and one trailing `/`, as rmw_zenoh does.
fn strip_slashes(name: &str) -> &str {
    let name = name.strip_prefix('/').unwrap_or(name);
    name.strip_suffix('/').unwrap_or(name)
}

fn mangle(name: &str) -> String {
    name.replace('/', "%")
}

/// A node's identity on the graph.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeOptions {
    /// ROS domain id (`ROS_DOMAIN_ID`), 0 to 232; the first segment of rmw_zenoh keys.
    pub domain_id: u32,
    /// `/` or an absolute namespace such as `/robot1`.
    pub namespace: String,
    /// Node name: letters, digits and `_`, not starting with a digit.
    pub name: String,
    /// How topic names become Zenoh keys.
    pub mapping: KeyMapping,
}

impl Default for NodeOptions {
    fn default() -> Self {
        Self { domain_id: 0, namespace: "/".into(), name: "dreamrig".into(), mapping: KeyMapping::RmwZenoh }
    }
}

impl NodeOptions {
    /// Checks the names as ROS 2 would (alphanumerics and `_`, not starting with a digit).
    ///
    /// # Errors
    /// [`RosZenohError::Name`] for a bad node name, a namespace that is not `/` or absolute tokens,
    /// or a domain id above 232.
    pub fn check(&self) -> Result<(), RosZenohError> {
        let token_ok = |t: &str| {
            !t.is_empty() && t.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') && !t.starts_with(|c: char| c.is_ascii_digit())
        };
        if !token_ok(&self.name) {
            return Err(RosZenohError::Name {
                what: format!("node name `{}`", self.name),
                reason: "expected letters, digits and _, not starting with a digit".into(),
            });
        }
        let namespace_ok = self.namespace == "/" || (self.namespace.starts_with('/') && self.namespace[1..].split('/').all(token_ok));
        if !namespace_ok {
            return Err(RosZenohError::Name {
                what: format!("namespace `{}`", self.namespace),
                reason: "expected / or an absolute name such as /robot1 (tokens of letters, digits and _)".into(),
            });
        }
        if self.domain_id > 232 {
            return Err(RosZenohError::Name { what: format!("domain id {}", self.domain_id), reason: "expected 0 to 232".into() });
        }
        Ok(())
    }

    /// The fully qualified name of a relative topic such as `/joint_states` in this namespace.
    ///
    /// Leading and trailing `/` of `topic` are dropped, so every topic lands in the namespace,
    /// except [`CLOCK_TOPIC`]: simulated time is one per ROS domain, and nodes with
    /// `use_sim_time` subscribe to the absolute `/clock` whatever their namespace (as with
    /// Gazebo or Isaac Sim).
    pub fn qualified(&self, topic: &str) -> String {
        if strip_slashes(topic) == strip_slashes(CLOCK_TOPIC) {
            CLOCK_TOPIC.to_string()
        } else if self.namespace == "/" {
            format!("/{}", strip_slashes(topic))
        } else {
            format!("{}/{}", self.namespace, strip_slashes(topic))
        }
    }

    /// The Zenoh key that carries `topic`.
    ///
    /// rmw_zenoh: `<domain>/<qualified topic without leading />/<DDS type name>/<RIHS01 hash>`;
    /// zenoh-plugin-ros2dds: the qualified topic without its leading `/`.
    ///
    /// # Errors
    /// With rmw_zenoh keys, [`RosZenohError::Name`] for a type name that is not `package/msg/Name`
    /// and [`RosZenohError::Definition`] for a type without a known definition.
    pub fn topic_key(&self, topic: &str, type_name: &str) -> Result<String, RosZenohError> {
        let name = self.qualified(topic);
        Ok(match self.mapping {
            KeyMapping::RmwZenoh => {
                format!("{}/{}/{}/{}", self.domain_id, strip_slashes(&name), dds_type_name(type_name)?, type_hash(type_name)?)
            }
            KeyMapping::Ros2Dds => strip_slashes(&name).to_string(),
        })
    }
}

/// The rmw_zenoh attachment: sequence number, source timestamp (ns since the UNIX epoch) and
/// GID, as zenoh-ext serializes them (the array length as a one-byte VarInt): 33 bytes.
pub fn attachment(sequence: i64, timestamp_ns: i64, gid: &[u8; 16]) -> [u8; 33] {
    let mut out = [0u8; 33];
    out[..8].copy_from_slice(&sequence.to_le_bytes());
    out[8..16].copy_from_slice(&timestamp_ns.to_le_bytes());
    out[16] = 16;
    out[17..].copy_from_slice(gid);
    out
}

/// Reads an rmw_zenoh attachment back: (sequence, timestamp ns, GID).
///
/// `None` unless it is 33 bytes with the GID length byte 16.
pub fn parse_attachment(bytes: &[u8]) -> Option<(i64, i64, [u8; 16])> {
    if bytes.len() != 33 || bytes[16] != 16 {
        return None;
    }
    let sequence = i64::from_le_bytes(bytes[..8].try_into().ok()?);
    let timestamp = i64::from_le_bytes(bytes[8..16].try_into().ok()?);
    Some((sequence, timestamp, bytes[17..].try_into().ok()?))
}

fn now_ns() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos() as i64).unwrap_or(0)
}

enum PublisherKind {
    Plain(Publisher<'static>),
    Latched(AdvancedPublisher<'static>),
}

/// One topic being published.
pub struct RosPublisher {
    /// Fully qualified topic name, such as `/robot1/joint_states`.
    pub topic: String,
    /// The Zenoh key expression the messages are put on ([`NodeOptions::topic_key`]).
    pub key: String,
    inner: PublisherKind,
    gid: [u8; 16],
    sequence: i64,
    with_attachment: bool,
}

impl RosPublisher {
    /// Sends one CDR message (with its encapsulation header).
    ///
    /// With rmw_zenoh keys it carries the [`attachment`]: the next sequence number (from 1) and the
    /// wall-clock time now.
    ///
    /// # Errors
    /// [`RosZenohError::Zenoh`] if the put fails.
    pub fn publish(&mut self, cdr: &[u8]) -> Result<(), RosZenohError> {
        self.sequence += 1;
        let attachment = self.with_attachment.then(|| attachment(self.sequence, now_ns(), &self.gid).to_vec());
        match &self.inner {
            PublisherKind::Plain(p) => {
                let put = p.put(cdr.to_vec());
                match attachment {
                    Some(a) => put.attachment(a).wait(),
                    None => put.wait(),
                }
            }
            PublisherKind::Latched(p) => {
                let put = p.put(cdr.to_vec());
                match attachment {
                    Some(a) => put.attachment(a).wait(),
                    None => put.wait(),
                }
            }
        }
        .map_err(zenoh_error)
    }

    /// Messages this publisher has sent: the last sequence number (a failed put counts too).
    pub fn sent(&self) -> u64 {
        self.sequence as u64
    }
}

/// One topic being received: each payload goes to the callback the subscription was declared
/// with, on Zenoh's thread. Dropping it undeclares the subscriber.
pub struct RosSubscription {
    /// Fully qualified topic name.
    pub topic: String,
    /// The Zenoh key expression subscribed to.
    pub key: String,
    _subscriber: Subscriber<()>,
}

/// A ROS 2 node on a Zenoh session: declares its entities' liveliness tokens as it creates
/// publishers and subscriptions, and withdraws them when dropped.
pub struct RosNode {
    session: Arc<zenoh::Session>,
    /// The node's identity, as checked by [`NodeOptions::check`].
    pub options: NodeOptions,
    zid: String,
    next_entity: u32,
    tokens: Vec<LivelinessToken>,
}

impl RosNode {
    /// A node on `session`. With [`KeyMapping::RmwZenoh`] it declares the node's liveliness token
    /// `@ros2_lv/<domain>/<zid>/0/0/NN/%/<namespace>/<name>` (`/` in the namespace written `%`).
    ///
    /// # Errors
    /// [`RosZenohError::Name`] if `options` fails [`NodeOptions::check`]; [`RosZenohError::Zenoh`]
    /// if the token cannot be declared.
    pub fn new(session: Arc<zenoh::Session>, options: NodeOptions) -> Result<Self, RosZenohError> {
        options.check()?;
        let zid = session.zid().to_string();
        let mut node = Self { session, options, zid, next_entity: 1, tokens: Vec::new() };
        if node.options.mapping == KeyMapping::RmwZenoh {
            let key = format!("{}/0/0/NN/%/{}/{}", node.prefix(), mangle(&node.options.namespace), node.options.name);
            node.declare_token(&key)?;
        }
        Ok(node)
    }

    fn prefix(&self) -> String {
        format!("@ros2_lv/{}/{}", self.options.domain_id, self.zid)
    }

    fn declare_token(&mut self, key: &str) -> Result<(), RosZenohError> {
        let token = self.session.liveliness().declare_token(key.to_string()).wait().map_err(zenoh_error)?;
        self.tokens.push(token);
        Ok(())
    }

    /// The liveliness key of a publisher (`MP`) or subscription (`MS`) of this node.
    ///
    /// The format is rmw_zenoh's: `@ros2_lv/<domain>/<zid>/0/<entity>/<kind>/%/<namespace>/<node>/<topic>/<DDS type>/<hash>/<QoS>`,
    /// with `/` in namespace and topic written `%`.
    ///
    /// # Errors
    /// As [`NodeOptions::topic_key`] with rmw_zenoh keys.
    pub fn entity_token(&self, entity: u32, kind: &str, topic: &str, type_name: &str, qos: &Qos) -> Result<String, RosZenohError> {
        Ok(format!(
            "{}/0/{entity}/{kind}/%/{}/{}/{}/{}/{}/{}",
            self.prefix(),
            mangle(&self.options.namespace),
            self.options.name,
            mangle(&self.options.qualified(topic)),
            dds_type_name(type_name)?,
            type_hash(type_name)?,
            qos.rmw_zenoh_string()
        ))
    }

    fn announce(&mut self, kind: &str, topic: &str, type_name: &str, qos: &Qos) -> Result<[u8; 16], RosZenohError> {
        let entity = self.next_entity;
        self.next_entity += 1;
        let token = match self.options.mapping {
            KeyMapping::RmwZenoh => self.entity_token(entity, kind, topic, type_name, qos)?,
            // The announcement the DDS bridges exchange, so a bridge routes the topic to DDS
            // before any DDS reader exists (§2).
            KeyMapping::Ros2Dds => format!(
                "@/{}/@ros2_lv/{kind}/{}/{}/{}",
                self.zid,
                self.options.topic_key(topic, type_name)?.replace('/', "§"),
                type_name.replace('/', "§"),
                qos.ros2dds_string()
            ),
        };
        self.declare_token(&token)?;
        // Any stable 16 bytes unique per entity serve as its GID; receivers do not check it.
        let digest = Sha256::digest(token.as_bytes());
        Ok(digest[..16].try_into().expect("16 bytes"))
    }

    /// Declares a publisher of `type_name` on `topic` (placed in the node's namespace) and announces
    /// it with a liveliness token. Transient-local QoS keeps the last `depth` samples for late
    /// joiners (a zenoh-ext advanced publisher cache). With rmw_zenoh keys every message carries the
    /// attachment.
    ///
    /// # Errors
    /// [`RosZenohError::Name`] or [`RosZenohError::Definition`] for an unusable type name (rmw_zenoh keys);
    /// [`RosZenohError::Zenoh`] if a declaration fails.
    pub fn publisher(&mut self, topic: &str, type_name: &str, qos: Qos) -> Result<RosPublisher, RosZenohError> {
        let key = self.options.topic_key(topic, type_name)?;
        let gid = self.announce("MP", topic, type_name, &qos)?;
        let inner = if qos.transient_local {
            PublisherKind::Latched(
                self.session
                    .declare_publisher(key.clone())
                    .cache(CacheConfig::default().max_samples(qos.depth as usize))
                    .publisher_detection()
                    .wait()
                    .map_err(zenoh_error)?,
            )
        } else {
            PublisherKind::Plain(self.session.declare_publisher(key.clone()).wait().map_err(zenoh_error)?)
        };
        Ok(RosPublisher {
            topic: self.options.qualified(topic),
            key,
            inner,
            gid,
            sequence: 0,
            with_attachment: self.options.mapping == KeyMapping::RmwZenoh,
        })
    }

    /// Declares a subscription to `type_name` on `topic` (placed in the node's namespace),
    /// announced with a liveliness token. Every payload received is handed to `on_payload` (on a
    /// Zenoh thread, in arrival order), so it must not block.
    ///
    /// # Errors
    /// [`RosZenohError::Name`] or [`RosZenohError::Definition`] for an unusable type name (rmw_zenoh keys);
    /// [`RosZenohError::Zenoh`] if a declaration fails.
    pub fn subscription(
        &mut self,
        topic: &str,
        type_name: &str,
        qos: Qos,
        on_payload: impl Fn(Vec<u8>) + Send + Sync + 'static,
    ) -> Result<RosSubscription, RosZenohError> {
        let key = self.options.topic_key(topic, type_name)?;
        self.announce("MS", topic, type_name, &qos)?;
        let subscriber = self
            .session
            .declare_subscriber(key.clone())
            .callback(move |sample| on_payload(sample.payload().to_bytes().into_owned()))
            .wait()
            .map_err(zenoh_error)?;
        Ok(RosSubscription { topic: self.options.qualified(topic), key, _subscriber: subscriber })
    }

    /// The liveliness keys this node has declared.
    pub fn token_count(&self) -> usize {
        self.tokens.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topic_keys_follow_rmw_zenoh() {
        let options = NodeOptions::default();
        assert_eq!(
            options.topic_key("/joint_states", "sensor_msgs/msg/JointState").unwrap(),
            "0/joint_states/sensor_msgs::msg::dds_::JointState_/RIHS01_a13ee3a330e346c9d87b5aa18d24e11690752bd33a0350f11c5882bc9179260e"
        );
        let robot = NodeOptions { namespace: "/robot1".into(), domain_id: 3, ..Default::default() };
        assert_eq!(
            robot.topic_key("/cmd_vel", "geometry_msgs/msg/Twist").unwrap(),
            "3/robot1/cmd_vel/geometry_msgs::msg::dds_::Twist_/RIHS01_9c45bf16fe0983d80e3cfe750d6835843d265a9a6c46bd2e609fcddde6fb8d2a"
        );
        let dds = NodeOptions { namespace: "/robot1".into(), mapping: KeyMapping::Ros2Dds, ..Default::default() };
        assert_eq!(dds.topic_key("/cmd_vel", "geometry_msgs/msg/Twist").unwrap(), "robot1/cmd_vel");
    }

    #[test]
    fn qos_strings_match_the_reference_table() {
        assert_eq!(Qos::DEFAULT.rmw_zenoh_string(), "::,10:,:,:,,");
        assert_eq!(Qos { reliable: false, transient_local: false, depth: 5 }.rmw_zenoh_string(), "2::,5:,:,:,,");
        assert_eq!(Qos::LATCHED.rmw_zenoh_string(), ":1:,1:,:,:,,");
        assert_eq!(Qos { reliable: true, transient_local: false, depth: 42 }.rmw_zenoh_string(), "::,:,:,:,,");
        assert_eq!(Qos::DEFAULT.ros2dds_string(), ":1:0:0,10");
    }

    #[test]
    fn the_attachment_is_what_zenoh_ext_serializes() {
        let gid: [u8; 16] = std::array::from_fn(|i| i as u8 * 7);
        let mut serializer = zenoh_ext::ZSerializer::new();
        serializer.serialize(42i64);
        serializer.serialize(1_700_000_000_123_456_789i64);
        serializer.serialize(gid);
        let reference = serializer.finish().to_bytes().into_owned();
        let ours = attachment(42, 1_700_000_000_123_456_789, &gid);
        assert_eq!(ours.len(), 33);
        assert_eq!(ours.to_vec(), reference);
        assert_eq!(parse_attachment(&ours), Some((42, 1_700_000_000_123_456_789, gid)));
        assert_eq!(parse_attachment(&ours[..32]), None);
    }

    #[test]
    fn names_are_checked_like_ros_2_does() {
        assert!(NodeOptions::default().check().is_ok());
        let bad = |namespace: &str, name: &str| NodeOptions { namespace: namespace.into(), name: name.into(), ..Default::default() };
        assert!(bad("robot1", "sim").check().is_err());
        assert!(bad("/robot-1", "sim").check().is_err());
        assert!(bad("/", "1sim").check().is_err());
        assert!(NodeOptions { domain_id: 300, ..Default::default() }.check().is_err());
        assert_eq!(bad("/robot1", "sim").qualified("/joint_states"), "/robot1/joint_states");
        assert_eq!(bad("/robot1", "sim").qualified("/clock"), "/clock", "use_sim_time nodes read the global /clock");
    }
}
