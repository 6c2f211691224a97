//! Bridges from dreamrig to robot stacks and tools.
//!
//! - `ros2`: ROS 2 message definitions, their CDR encoding (XCDR1, little-endian, as rmw
//!   implementations put on the wire), RIHS01 type hashes (REP-2011), a world's observations
//!   as topics, and the robot's transform tree (REP-105).
//! - `zenoh`: ROS 2 over Zenoh exactly as rmw_zenoh does it (or with zenoh-plugin-ros2dds
//!   keys), and `serve`, which runs a world as a ROS 2 node.
//! - `rcl` (cargo feature `ros2`): the same node through rcl, for ROS 2 with any RMW.
//! - `mcap`: recording those topics to MCAP with the `ros2` profile.
//! - `rerun`: logging worlds to Rerun.

#![warn(missing_docs)]

pub mod mcap;
#[cfg(feature = "ros2")]
pub mod rcl;
pub mod rerun;
pub mod ros2;
pub mod serve;
pub mod zenoh;
