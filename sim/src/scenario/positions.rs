//! Where each key of a YAML document is, so that errors found after parsing (a negative ray
//! count, an unknown joint) can still point at `file:line:column`.

use std::collections::HashMap;
use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::Marker;

/// Line and column (both 1-based) of every key path in a document, such as
/// `sensors[1].lidar.rays`.
#[derive(Debug, Default, Clone)]
pub struct PositionIndex {
    positions: HashMap<String, (usize, usize)>,
    duplicates: Vec<DuplicateKey>,
}

/// A key given twice in one YAML mapping (YAML 1.2 requires keys to be unique; a parser that
/// keeps the last value would silently drop the first).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DuplicateKey {
    /// Key path of the second occurrence, such as `robot.initial_joints.joint2`.
    pub path: String,
    /// Line and column (1-based) of the first occurrence.
    pub first: (usize, usize),
    /// Line and column (1-based) of the second occurrence.
    pub again: (usize, usize),
}

impl PositionIndex {
    /// Indexes `source`. A document that does not parse gives an empty index: serde reports
    /// the syntax error with its own position.
    pub fn build(source: &str) -> Self {
        let mut builder = Builder::default();
        let mut parser = Parser::new_from_str(source);
        if parser.load(&mut builder, false).is_err() {
            return Self::default();
        }
        Self { positions: builder.positions, duplicates: builder.duplicates }
    }

    /// Keys given more than once in the same mapping, in document order.
    pub fn duplicates(&self) -> &[DuplicateKey] {
        &self.duplicates
    }

    /// The position of `path`, or of its nearest ancestor that exists in the document (a
    /// missing key is reported where its parent is).
    pub fn locate(&self, path: &str) -> (usize, usize) {
        let mut current = path;
        loop {
            if let Some(position) = self.positions.get(current) {
                return *position;
            }
            match parent_path(current) {
                Some(parent) => current = parent,
                None => return (1, 1),
            }
        }
    }
}

fn parent_path(path: &str) -> Option<&str> {
    if path.is_empty() {
        return None;
    }
    let cut = path.rfind(['.', '[']).unwrap_or(0);
    Some(&path[..cut])
}

enum Frame {
    /// `seen`: the keys of this mapping so far, with their positions.
    Mapping {
        path: String,
        expecting_key: bool,
        key: Option<String>,
        seen: HashMap<String, (usize, usize)>,
    },
    Sequence {
        path: String,
        next_index: usize,
    },
}

#[derive(Default)]
struct Builder {
    stack: Vec<Frame>,
    positions: HashMap<String, (usize, usize)>,
    duplicates: Vec<DuplicateKey>,
}

fn join(parent: &str, key: &str) -> String {
    if parent.is_empty() {
        key.to_string()
    } else {
        format!("{parent}.{key}")
    }
}

impl Builder {
    /// The path of the node that starts now, or `None` when it is a mapping key (recorded here).
    fn node_path(&mut self, event: &Event, mark: Marker) -> Option<String> {
        let position = (mark.line(), mark.col() + 1);
        match self.stack.last_mut() {
            None => Some(String::new()),
            Some(Frame::Mapping { path, expecting_key, key, seen }) => {
                if *expecting_key {
                    *expecting_key = false;
                    if let Event::Scalar(name, ..) = event {
                        let full = join(path, name);
                        if let Some(first) = seen.get(name.as_str()) {
                            self.duplicates.push(DuplicateKey { path: full.clone(), first: *first, again: position });
                        } else {
                            seen.insert(name.clone(), position);
                        }
                        self.positions.entry(full).or_insert(position);
                        *key = Some(name.clone());
                    } else {
                        *key = None;
                    }
                    None
                } else {
                    *expecting_key = true;
                    key.as_ref().map(|k| join(path, k))
                }
            }
            Some(Frame::Sequence { path, next_index }) => {
                let full = format!("{path}[{next_index}]");
                *next_index += 1;
                Some(full)
            }
        }
    }
}

impl MarkedEventReceiver for Builder {
    fn on_event(&mut self, event: Event, mark: Marker) {
        match &event {
            Event::Scalar(..) | Event::Alias(..) | Event::MappingStart(..) | Event::SequenceStart(..) => {
                let is_key = matches!(self.stack.last(), Some(Frame::Mapping { expecting_key: true, .. }));
                let path = self.node_path(&event, mark);
                let position = (mark.line(), mark.col() + 1);
                if let Some(path) = &path {
                    self.positions.entry(path.clone()).or_insert(position);
                }
                // A container used as a mapping key gets a frame too, so its end pops cleanly.
                let path = path.unwrap_or_else(|| if is_key { "?".into() } else { String::new() });
                match event {
                    Event::MappingStart(..) => {
                        self.stack.push(Frame::Mapping { path, expecting_key: true, key: None, seen: HashMap::new() })
                    }
                    Event::SequenceStart(..) => self.stack.push(Frame::Sequence { path, next_index: 0 }),
                    _ => {}
                }
            }
            Event::MappingEnd | Event::SequenceEnd => {
                self.stack.pop();
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_given_twice_in_one_mapping_is_found_with_both_lines() {
        let source = "robot:\n  initial_joints:\n    joint1: 0.1\n    joint2: 0.2\n    joint2: 0.9\nother:\n  joint2: 1\n";
        let index = PositionIndex::build(source);
        assert_eq!(index.duplicates(), &[DuplicateKey { path: "robot.initial_joints.joint2".into(), first: (4, 5), again: (5, 5) }]);
    }

    #[test]
    fn nested_keys_and_sequence_items_have_their_lines() {
        let source = "version: 1\nsensors:\n  - imu:\n      link: base\n  - lidar:\n      rays: -5\n";
        let index = PositionIndex::build(source);
        assert_eq!(index.locate("version"), (1, 1));
        assert_eq!(index.locate("sensors[1].lidar.rays"), (6, 7));
        assert_eq!(index.locate("sensors[0].imu.link"), (4, 7));
    }

    #[test]
    fn a_missing_key_points_at_its_parent() {
        let index = PositionIndex::build("task:\n  kind: reach\n");
        assert_eq!(index.locate("task.horizon_steps"), (1, 1));
    }
}
