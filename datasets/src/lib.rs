//! Robot learning datasets in LeRobot v3.0 format. The writer and reader land with the datasets work; this crate is reserved so that the dependency graph is fixed from the start.
