//! ROS 2 messages: `.msg` definitions, type hashes and CDR encoding.

pub mod cdr;
pub mod definitions;
pub mod messages;
