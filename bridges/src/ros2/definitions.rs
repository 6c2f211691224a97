//! The `.msg` definitions dreamrig uses (copied from ROS 2 Jazzy's `common_interfaces`,
//! `rcl_interfaces` and `geometry2`), their parsed fields, and RIHS01 type hashes computed
//! as `rosidl_generator_type_description` does.

use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

macro_rules! definitions {
    ($($package:literal / $name:literal),* $(,)?) => {
        /// (`package/msg/Name`, `.msg` text) for every type dreamrig knows.
        pub const DEFINITIONS: &[(&str, &str)] = &[
            $((concat!($package, "/msg/", $name), include_str!(concat!("../../msgs/", $package, "/msg/", $name, ".msg")))),*
        ];
    };
}

definitions!(
    "builtin_interfaces" / "Time",
    "std_msgs" / "Header",
    "std_msgs" / "String",
    "std_msgs" / "Float64",
    "std_msgs" / "Float64MultiArray",
    "std_msgs" / "MultiArrayLayout",
    "std_msgs" / "MultiArrayDimension",
    "sensor_msgs" / "JointState",
    "sensor_msgs" / "LaserScan",
    "sensor_msgs" / "Imu",
    "sensor_msgs" / "Image",
    "sensor_msgs" / "CameraInfo",
    "sensor_msgs" / "RegionOfInterest",
    "sensor_msgs" / "CompressedImage",
    "sensor_msgs" / "PointCloud2",
    "sensor_msgs" / "PointField",
    "nav_msgs" / "Odometry",
    "geometry_msgs" / "Twist",
    "geometry_msgs" / "TwistStamped",
    "geometry_msgs" / "Vector3",
    "geometry_msgs" / "Quaternion",
    "geometry_msgs" / "Point",
    "geometry_msgs" / "Pose",
    "geometry_msgs" / "PoseStamped",
    "geometry_msgs" / "PoseWithCovariance",
    "geometry_msgs" / "TwistWithCovariance",
    "geometry_msgs" / "Transform",
    "geometry_msgs" / "TransformStamped",
    "tf2_msgs" / "TFMessage",
    "rosgraph_msgs" / "Clock",
);

/// Why a type's definition, fields or hash could not be given.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum DefinitionError {
    /// The type (`package/msg/Name`) is not in [`DEFINITIONS`].
    #[error("unknown message type {0}")]
    Unknown(String),
    /// A line of the type's `.msg` text could not be parsed (no field name, an unclosed `[`, or a
    /// bad array size, sequence bound or string bound).
    #[error("{type_name}: line {line:?}: {reason}")]
    Malformed {
        /// The ROS type, e.g. `sensor_msgs/msg/JointState`.
        type_name: String,
        /// The offending line of its `.msg` text.
        line: String,
        /// What is wrong with it.
        reason: String,
    },
}

/// A field's type as the type description encodes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldType {
    /// `type_description_interfaces/msg/FieldType` id: 1 for a nested type, 2–18 for primitives
    /// (+4 for bounded strings), plus 48 for a fixed array, 96 for a bounded and 144 for an
    /// unbounded sequence.
    pub type_id: u32,
    /// Array size or sequence bound; 0 otherwise.
    pub capacity: u64,
    /// Bound of a bounded string (`string<=N`); 0 otherwise.
    pub string_capacity: u64,
    /// `pkg/msg/Type` for nested messages, empty otherwise.
    pub nested_type_name: String,
}

/// One field of a message as the type description lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field {
    /// The field's name as the `.msg` declares it.
    pub name: String,
    /// Its type.
    pub field_type: FieldType,
}

fn base_id(primitive: &str) -> Option<u32> {
    Some(match primitive {
        "int8" => 2,
        // `char` is an alias of uint8 in .msg files; `byte` is its own type (octet).
        "uint8" | "char" => 3,
        "int16" => 4,
        "uint16" => 5,
        "int32" => 6,
        "uint32" => 7,
        "int64" => 8,
        "uint64" => 9,
        "float32" => 10,
        "float64" => 11,
        "bool" => 15,
        "byte" => 16,
        "string" => 17,
        "wstring" => 18,
        _ => return None,
    })
}

/// The `.msg` text of a type (`pkg/msg/Name`).
///
/// # Errors
/// [`DefinitionError::Unknown`] if the type is not in [`DEFINITIONS`].
pub fn definition(type_name: &str) -> Result<&'static str, DefinitionError> {
    DEFINITIONS.iter().find(|(n, _)| *n == type_name).map(|(_, text)| *text).ok_or_else(|| DefinitionError::Unknown(type_name.into()))
}

/// The fields of a type, in declaration order (constants are not fields).
///
/// Nested types resolve to `package/msg/Name` (`Header` → `std_msgs/msg/Header`, a bare name →
/// the same package); a type without fields gets rosidl's placeholder field
/// `structure_needs_at_least_one_member` (uint8).
///
/// # Errors
/// [`DefinitionError::Unknown`] if the type is not in [`DEFINITIONS`]; [`DefinitionError::Malformed`]
/// for a line that cannot be parsed.
pub fn fields(type_name: &str) -> Result<Vec<Field>, DefinitionError> {
    let package = type_name.split('/').next().unwrap_or_default();
    let mut out = Vec::new();
    for raw in definition(type_name)?.lines() {
        let line = raw.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let malformed = |reason: &str| DefinitionError::Malformed { type_name: type_name.into(), line: raw.into(), reason: reason.into() };
        let (type_text, rest) = line.split_once(char::is_whitespace).ok_or_else(|| malformed("expected a type and a name"))?;
        let rest = rest.trim();
        // A constant: NAME=value (names of constants are upper case).
        if let Some((name, _)) = rest.split_once('=') {
            let name = name.trim();
            if !name.is_empty() && name.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_') {
                continue;
            }
        }
        let name = rest.split_whitespace().next().ok_or_else(|| malformed("expected a field name"))?.to_string();
        let (element, offset, capacity) = match type_text.split_once('[') {
            None => (type_text, 0, 0),
            Some((element, bracket)) => {
                let inner = bracket.strip_suffix(']').ok_or_else(|| malformed("unclosed ["))?;
                if inner.is_empty() {
                    (element, 144, 0)
                } else if let Some(bound) = inner.strip_prefix("<=") {
                    (element, 96, bound.parse().map_err(|_| malformed("bad sequence bound"))?)
                } else {
                    (element, 48, inner.parse().map_err(|_| malformed("bad array size"))?)
                }
            }
        };
        let (element, string_capacity) = match element.split_once("<=") {
            Some((base, bound)) => (base, bound.parse().map_err(|_| malformed("bad string bound"))?),
            None => (element, 0),
        };
        let (base, nested_type_name) = match base_id(element) {
            // Bounded strings have their own ids (string 17 → 21, wstring 18 → 22).
            Some(id) if string_capacity > 0 => (id + 4, String::new()),
            Some(id) => (id, String::new()),
            None => {
                let nested = match element.split_once('/') {
                    Some((p, t)) => format!("{p}/msg/{t}"),
                    None if element == "Header" => "std_msgs/msg/Header".to_string(),
                    None => format!("{package}/msg/{element}"),
                };
                (1, nested)
            }
        };
        out.push(Field { name, field_type: FieldType { type_id: base + offset, capacity, string_capacity, nested_type_name } });
    }
    if out.is_empty() {
        out.push(Field {
            name: "structure_needs_at_least_one_member".into(),
            field_type: FieldType { type_id: 3, capacity: 0, string_capacity: 0, nested_type_name: String::new() },
        });
    }
    Ok(out)
}

fn json_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 || (c as u32) > 0x7e => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn individual_description(type_name: &str, fields: &[Field]) -> String {
    let fields: Vec<String> = fields
        .iter()
        .map(|f| {
            format!(
                "{{\"name\": {}, \"type\": {{\"type_id\": {}, \"capacity\": {}, \"string_capacity\": {}, \"nested_type_name\": {}}}}}",
                json_string(&f.name),
                f.field_type.type_id,
                f.field_type.capacity,
                f.field_type.string_capacity,
                json_string(&f.field_type.nested_type_name)
            )
        })
        .collect();
    format!("{{\"type_name\": {}, \"fields\": [{}]}}", json_string(type_name), fields.join(", "))
}

/// The type description JSON that RIHS01 hashes, byte for byte as Python's
/// `json.dumps(…, separators=(", ", ": "))` writes it.
///
/// Referenced types come sorted by name.
///
/// # Errors
/// As [`fields`], for the type or any type it references.
pub fn type_description_json(type_name: &str) -> Result<String, DefinitionError> {
    let top = fields(type_name)?;
    let mut referenced: BTreeMap<String, Vec<Field>> = BTreeMap::new();
    let mut queue: Vec<String> = top.iter().map(|f| f.field_type.nested_type_name.clone()).filter(|n| !n.is_empty()).collect();
    while let Some(name) = queue.pop() {
        if referenced.contains_key(&name) {
            continue;
        }
        let nested = fields(&name)?;
        queue.extend(nested.iter().map(|f| f.field_type.nested_type_name.clone()).filter(|n| !n.is_empty()));
        referenced.insert(name, nested);
    }
    let referenced: Vec<String> = referenced.iter().map(|(n, f)| individual_description(n, f)).collect();
    Ok(format!(
        "{{\"type_description\": {}, \"referenced_type_descriptions\": [{}]}}",
        individual_description(type_name, &top),
        referenced.join(", ")
    ))
}

/// `RIHS01_<sha256 of the type description>`.
///
/// This is REP-2011's RIHS01 hash, lower-case hex, as in rmw_zenoh key expressions and rosbag2
/// metadata.
///
/// # Errors
/// As [`type_description_json`].
pub fn type_hash(type_name: &str) -> Result<String, DefinitionError> {
    let json = type_description_json(type_name)?;
    let digest = Sha256::digest(json.as_bytes());
    Ok(format!("RIHS01_{}", digest.iter().map(|b| format!("{b:02x}")).collect::<String>()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_string_description_is_byte_exact() {
        assert_eq!(
            type_description_json("std_msgs/msg/String").unwrap(),
            r#"{"type_description": {"type_name": "std_msgs/msg/String", "fields": [{"name": "data", "type": {"type_id": 17, "capacity": 0, "string_capacity": 0, "nested_type_name": ""}}]}, "referenced_type_descriptions": []}"#
        );
    }

    /// The published hashes (ROS 2 Jazzy; `ros2 topic info -v`, rosbag2 metadata, ros-z and
    /// the table in the interop reference).
    #[test]
    fn hashes_match_the_published_values() {
        for (name, hash) in [
            ("builtin_interfaces/msg/Time", "RIHS01_b106235e25a4c5ed35098aa0a61a3ee9c9b18d197f398b0e4206cea9acf9c197"),
            ("std_msgs/msg/String", "RIHS01_df668c740482bbd48fb39d76a70dfd4bd59db1288021743503259e948f6b1a18"),
            ("std_msgs/msg/Header", "RIHS01_f49fb3ae2cf070f793645ff749683ac6b06203e41c891e17701b1cb597ce6a01"),
            ("sensor_msgs/msg/JointState", "RIHS01_a13ee3a330e346c9d87b5aa18d24e11690752bd33a0350f11c5882bc9179260e"),
            ("sensor_msgs/msg/LaserScan", "RIHS01_64c191398013af96509d518dac71d5164f9382553fce5c1f8cca5be7924bd828"),
            ("sensor_msgs/msg/Image", "RIHS01_d31d41a9a4c4bc8eae9be757b0beed306564f7526c88ea6a4588fb9582527d47"),
            ("sensor_msgs/msg/CompressedImage", "RIHS01_15640771531571185e2efc8a100baf923961a4d15d5569652e6cb6691e8e371a"),
            ("sensor_msgs/msg/CameraInfo", "RIHS01_b3dfd68ff46c9d56c80fd3bd4ed22c7a4ddce8c8348f2f59c299e73118e7e275"),
            ("sensor_msgs/msg/PointCloud2", "RIHS01_9198cabf7da3796ae6fe19c4cb3bdd3525492988c70522628af5daa124bae2b5"),
            ("sensor_msgs/msg/Imu", "RIHS01_7d9a00ff131080897a5ec7e26e315954b8eae3353c3f995c55faf71574000b5b"),
            ("nav_msgs/msg/Odometry", "RIHS01_3cc97dc7fb7502f8714462c526d369e35b603cfc34d946e3f2eda2766dfec6e0"),
            ("geometry_msgs/msg/Twist", "RIHS01_9c45bf16fe0983d80e3cfe750d6835843d265a9a6c46bd2e609fcddde6fb8d2a"),
            ("geometry_msgs/msg/TwistStamped", "RIHS01_5f0fcd4f81d5d06ad9b4c4c63e3ea51b82d6ae4d0558f1d475229b1121db6f64"),
            ("geometry_msgs/msg/PoseStamped", "RIHS01_10f3786d7d40fd2b54367835614bff85d4ad3b5dab62bf8bca0cc232d73b4cd8"),
            ("geometry_msgs/msg/TransformStamped", "RIHS01_0a241f87d04668d94099cbb5ba11691d5ad32c2f29682e4eb5653424bd275206"),
            ("tf2_msgs/msg/TFMessage", "RIHS01_e369d0f05a23ae52508854b66f6aa0437f3449d652e8cbf22d5abe85d020f087"),
            ("rosgraph_msgs/msg/Clock", "RIHS01_692f7a66e93a3c83e71765d033b60349ba68023a8c689a79e48078bcb5c58564"),
            ("std_msgs/msg/Float64", "RIHS01_705ba9c3d1a09df43737eb67095534de36fd426c0587779bda2bc51fe790182a"),
            ("std_msgs/msg/Float64MultiArray", "RIHS01_1025ddc6b9552d191f89ef1a8d2f60f3d373e28b283d8891ddcc974e8c55397f"),
        ] {
            assert_eq!(type_hash(name).unwrap(), hash, "{name}");
        }
    }

    #[test]
    fn an_unknown_type_is_an_error() {
        assert_eq!(type_hash("foo_msgs/msg/Bar"), Err(DefinitionError::Unknown("foo_msgs/msg/Bar".into())));
    }
}
