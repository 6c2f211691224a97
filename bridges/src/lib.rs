//! Bridges to robot stacks: ROS 2 over Zenoh, r2r, Rerun and MCAP. They land with the bridges work; this crate is reserved so that the dependency graph is fixed from the start.
