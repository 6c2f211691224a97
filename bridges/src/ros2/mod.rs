//! ROS 2 messages: `.msg` definitions, type hashes, CDR encoding, and observations as topics.

pub mod cdr;
pub mod definitions;
pub mod messages;
pub mod topics;
pub mod transforms;
