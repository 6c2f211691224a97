//! ROS 2 through rcl, the ROS 2 client library, by way of [r2r](https://crates.io/crates/r2r)
//! (cargo feature `ros2`).
//!
//! The serving session's topics are the same as on Zenoh ([`TopicPlan`]), and so are the bytes:
//! the CDR that [`crate::ros2::topics::TopicMapper`] encodes is published as a serialized message
//! (`rcl_publish_serialized_message`), and commands arrive serialized
//! (`rcl_take_serialized_message`) into the same [`CommandQueue`] and the same checks. rcl only
//! needs each type's type support, which r2r generates from the ROS installation it is built
//! against (`scripts/ros2-env.sh` sets one up from the `ros-*` wheels, docs/ros2.md).

use crate::serve::{CommandQueue, CommandTopic, Publishers, ServeError, TopicPlan, TopicPublisher};
use crate::zenoh::{NodeOptions, Qos};
use futures::{FutureExt, StreamExt};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Why an rcl node could not be set up or used.
#[derive(Debug, thiserror::Error)]
pub enum RclError {
    /// The ROS 2 installation is not in the environment, or the environment contradicts the
    /// command line.
    #[error("ROS 2 environment: {0}")]
    Environment(String),
    /// An rcl call failed: what was being done and rcl's error.
    #[error("rcl: {what}: {reason}")]
    Rcl {
        /// What was being done, such as ``creating the publisher of `/scan` ``.
        what: String,
        /// rcl's error.
        reason: String,
    },
}

fn rcl_error(what: impl Into<String>) -> impl FnOnce(r2r::Error) -> RclError {
    let what = what.into();
    move |e| RclError::Rcl { what, reason: e.to_string() }
}

/// The message packages a served world's topics use; each must be in the ament index.
const PACKAGES: [&str; 5] = ["rosgraph_msgs", "sensor_msgs", "nav_msgs", "geometry_msgs", "std_msgs"];

/// The prefixes of `AMENT_PREFIX_PATH`.
fn prefixes() -> Vec<PathBuf> {
    std::env::var_os("AMENT_PREFIX_PATH")
        .map(|p| std::env::split_paths(&p).filter(|p| !p.as_os_str().is_empty()).collect())
        .unwrap_or_default()
}

/// Whether `package` is in the ament index of one of the prefixes.
fn indexed(package: &str) -> bool {
    prefixes().iter().any(|p| p.join("share/ament_index/resource_index/packages").join(package).exists())
}

/// Checks that a ROS 2 installation is in the environment (`AMENT_PREFIX_PATH`, where rcl finds
/// the type support of each message package) and sets the DDS domain rcl joins.
///
/// rcl reads the domain from `ROS_DOMAIN_ID`, which is set to `domain_id` (the caller resolves
/// `--domain-id` against the environment first).
///
/// # Errors
/// [`RclError::Environment`], saying which script sets the environment up.
pub fn check_environment(domain_id: u32) -> Result<(), RclError> {
    let setup = "set it up with `scripts/ros2-env.sh` and `source` the file it prints (docs/ros2.md)";
    let prefixes = prefixes();
    if prefixes.is_empty() {
        return Err(RclError::Environment(format!("AMENT_PREFIX_PATH is not set, so rcl finds no message types; {setup}")));
    }
    for package in PACKAGES {
        if !indexed(package) {
            return Err(RclError::Environment(format!(
                "the message package {package} is not in the ament index of AMENT_PREFIX_PATH={}; {setup}",
                std::env::join_paths(&prefixes).map(|p| p.to_string_lossy().into_owned()).unwrap_or_default()
            )));
        }
    }
    // rcl_init reads the domain from ROS_DOMAIN_ID when the node's context is created; the
    // caller has reconciled it with --domain-id. Set before any rcl call and before the session
    // starts its own threads; nothing else here reads or writes the environment meanwhile.
    std::env::set_var("ROS_DOMAIN_ID", domain_id.to_string());
    Ok(())
}

/// The rcl QoS profile of a [`Qos`]: keep last `depth`, reliable or best effort, transient
/// local or volatile.
fn profile(qos: &Qos) -> r2r::QosProfile {
    let profile = r2r::QosProfile::default().keep_last(qos.depth as usize);
    let profile = if qos.reliable { profile.reliable() } else { profile.best_effort() };
    if qos.transient_local {
        profile.transient_local()
    } else {
        profile.volatile()
    }
}

/// One topic published through rcl as serialized messages.
struct RclPublisher {
    topic: String,
    inner: r2r::PublisherUntyped,
    sent: u64,
}

impl TopicPublisher for RclPublisher {
    fn publish(&mut self, cdr: &[u8]) -> Result<(), ServeError> {
        self.sent += 1;
        self.inner.publish_raw(cdr).map_err(rcl_error(format!("publishing on `{}`", self.topic)))?;
        Ok(())
    }

    fn topic(&self) -> &str {
        &self.topic
    }

    fn sent(&self) -> u64 {
        self.sent
    }
}

/// A ROS 2 node on rcl whose command subscriptions are taken by a thread of its own, which
/// pushes each command, in arrival order, to the session's [`CommandQueue`]. Dropping it stops
/// the thread and destroys the node.
pub struct RclNode {
    running: Arc<AtomicBool>,
    spinner: Option<std::thread::JoinHandle<()>>,
}

impl RclNode {
    /// Creates the node `options.name` in `options.namespace`, a publisher for each of `plan`'s
    /// topics (placed in the namespace, with the plan's QoS) and a subscription for each command
    /// topic. Command subscriptions keep as many samples as the queue holds, so a burst is not
    /// cut short before it reaches the queue.
    ///
    /// # Errors
    /// [`RclError::Rcl`] if rcl refuses the context, the node, a publisher or a subscription (a
    /// message type without type support in the installation, for one).
    pub fn open(options: &NodeOptions, plan: &TopicPlan, queue: CommandQueue, queue_len: usize) -> Result<(Publishers, Self), RclError> {
        #[cfg(dreamrig_link_python)]
        {
            extern "C" {
                fn Py_IsInitialized() -> std::ffi::c_int;
            }
            // A use of libpython, so the linker keeps it for the wheels' librcl (bridges/build.rs).
            // SAFETY: Py_IsInitialized takes no arguments and may be called at any time.
            let _ = unsafe { Py_IsInitialized() };
        }
        let context = r2r::Context::create().map_err(rcl_error("initializing rcl"))?;
        let namespace = if options.namespace == "/" { "" } else { options.namespace.as_str() };
        let mut node = r2r::Node::create(context, &options.name, namespace)
            .map_err(rcl_error(format!("creating the node `{}` in `{}`", options.name, options.namespace)))?;
        let mut publishers = Publishers::new();
        for (topic, type_name, qos) in &plan.published {
            let name = options.qualified(topic);
            let package = type_name.split('/').next().unwrap_or_default();
            if !PACKAGES.contains(&package) && !indexed(package) {
                // tf2_msgs is not among the ros-* wheels (docs/ros2.md): say so, once per topic.
                tracing::warn!(
                    "not publishing `{name}`: its message package {package} is not installed in AMENT_PREFIX_PATH, so rcl has no type support for {type_name}"
                );
                continue;
            }
            let inner = node
                .create_publisher_untyped(&name, type_name, profile(qos))
                .map_err(rcl_error(format!("creating the publisher of `{name}` ({type_name})")))?;
            publishers.insert(topic.clone(), Box::new(RclPublisher { topic: name, inner, sent: 0 }));
        }
        let mut subscriptions = Vec::new();
        for topic in &plan.commands {
            let name = options.qualified(topic.name());
            let qos = Qos { depth: u32::try_from(queue_len).unwrap_or(u32::MAX), ..Qos::DEFAULT };
            let stream = node
                .subscribe_raw(&name, topic.type_name(), profile(&qos))
                .map_err(rcl_error(format!("subscribing to `{name}` ({})", topic.type_name())))?;
            subscriptions.push((*topic, stream));
        }
        let running = Arc::new(AtomicBool::new(true));
        let spinner = {
            let running = running.clone();
            std::thread::Builder::new()
                .name("rcl-node".into())
                .spawn(move || spin(node, subscriptions, queue, &running))
                .map_err(|e| RclError::Rcl { what: "starting the node's thread".into(), reason: e.to_string() })?
        };
        Ok((publishers, Self { running, spinner: Some(spinner) }))
    }
}

/// Takes the node's incoming messages until `running` is cleared: each `spin_once` takes at most
/// one message per subscription, which goes to the queue before the next wait.
fn spin(
    mut node: r2r::Node,
    mut subscriptions: Vec<(CommandTopic, impl futures::Stream<Item = Vec<u8>> + Unpin)>,
    queue: CommandQueue,
    running: &AtomicBool,
) {
    while running.load(Ordering::Relaxed) {
        if subscriptions.is_empty() {
            // Nothing to take (a robot without actuators): rcl_wait would return at once on an
            // empty wait set, so wait here instead of spinning a core.
            std::thread::sleep(Duration::from_millis(20));
            continue;
        }
        node.spin_once(Duration::from_millis(10));
        for (topic, stream) in &mut subscriptions {
            while let Some(Some(payload)) = stream.next().now_or_never() {
                queue.push(*topic, payload);
            }
        }
    }
}

impl Drop for RclNode {
    fn drop(&mut self) {
        self.running.store(false, Ordering::Relaxed);
        if let Some(spinner) = self.spinner.take() {
            if spinner.join().is_err() {
                tracing::error!("the rcl node's thread panicked");
            }
        }
    }
}
