//! Bridges from dreamrig to robot stacks.
//!
//! Present: ROS 2 message definitions for the topics dreamrig publishes and subscribes to,
//! their CDR encoding (XCDR1, little-endian, as rmw implementations put on the wire), their
//! RIHS01 type hashes (REP-2011), a world's observations as ROS 2 topics, and MCAP recording
//! of those topics. The Zenoh (rmw_zenoh), r2r and Rerun bridges are not implemented yet.

pub mod mcap;
pub mod ros2;
