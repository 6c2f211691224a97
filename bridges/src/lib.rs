//! Bridges from dreamrig to robot stacks.
//!
//! Present: ROS 2 message definitions for the topics dreamrig publishes and subscribes to,
//! their CDR encoding (XCDR1, little-endian, as rmw implementations put on the wire) and
//! their RIHS01 type hashes (REP-2011). These are what the Zenoh (rmw_zenoh), r2r, MCAP and
//! Rerun bridges build on; the bridges themselves are not implemented yet.

pub mod ros2;
