//! The messages dreamrig exchanges with ROS 2, encoded to CDR field by field in the order of
//! their `.msg` definitions (`definitions.rs`).

use super::cdr::{CdrError, CdrReader, CdrWriter};

/// `builtin_interfaces/msg/Time`.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Time {
    pub sec: i32,
    pub nanosec: u32,
}

impl Time {
    /// Simulated seconds as a ROS time.
    pub fn from_seconds(t: f64) -> Self {
        let sec = t.floor();
        Self { sec: sec as i32, nanosec: ((t - sec) * 1e9).round().min(999_999_999.0) as u32 }
    }

    fn write(&self, w: &mut CdrWriter) {
        w.i32(self.sec);
        w.u32(self.nanosec);
    }
}

/// `std_msgs/msg/Header`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Header {
    pub stamp: Time,
    pub frame_id: String,
}

impl Header {
    fn write(&self, w: &mut CdrWriter) {
        self.stamp.write(w);
        w.string(&self.frame_id);
    }
}

/// A message with a ROS type name and a CDR encoding.
pub trait RosMessage {
    const TYPE_NAME: &'static str;
    fn encode(&self) -> Vec<u8>;
}

/// `rosgraph_msgs/msg/Clock`.
#[derive(Debug, Clone, PartialEq)]
pub struct Clock {
    pub clock: Time,
}

impl RosMessage for Clock {
    const TYPE_NAME: &'static str = "rosgraph_msgs/msg/Clock";
    fn encode(&self) -> Vec<u8> {
        let mut w = CdrWriter::new();
        self.clock.write(&mut w);
        w.finish()
    }
}

/// `sensor_msgs/msg/JointState`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct JointState {
    pub header: Header,
    pub name: Vec<String>,
    pub position: Vec<f64>,
    pub velocity: Vec<f64>,
    pub effort: Vec<f64>,
}

impl RosMessage for JointState {
    const TYPE_NAME: &'static str = "sensor_msgs/msg/JointState";
    fn encode(&self) -> Vec<u8> {
        let mut w = CdrWriter::new();
        self.header.write(&mut w);
        w.string_sequence(&self.name);
        w.f64_sequence(&self.position);
        w.f64_sequence(&self.velocity);
        w.f64_sequence(&self.effort);
        w.finish()
    }
}

/// `sensor_msgs/msg/LaserScan`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct LaserScan {
    pub header: Header,
    pub angle_min: f32,
    pub angle_max: f32,
    pub angle_increment: f32,
    pub time_increment: f32,
    pub scan_time: f32,
    pub range_min: f32,
    pub range_max: f32,
    pub ranges: Vec<f32>,
    pub intensities: Vec<f32>,
}

impl RosMessage for LaserScan {
    const TYPE_NAME: &'static str = "sensor_msgs/msg/LaserScan";
    fn encode(&self) -> Vec<u8> {
        let mut w = CdrWriter::new();
        self.header.write(&mut w);
        for v in [self.angle_min, self.angle_max, self.angle_increment, self.time_increment, self.scan_time, self.range_min, self.range_max]
        {
            w.f32(v);
        }
        w.f32_sequence(&self.ranges);
        w.f32_sequence(&self.intensities);
        w.finish()
    }
}

/// `geometry_msgs/msg/Twist` (velocity commands, `/cmd_vel`).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Twist {
    pub linear: [f64; 3],
    pub angular: [f64; 3],
}

impl RosMessage for Twist {
    const TYPE_NAME: &'static str = "geometry_msgs/msg/Twist";
    fn encode(&self) -> Vec<u8> {
        let mut w = CdrWriter::new();
        for v in self.linear.iter().chain(&self.angular) {
            w.f64(*v);
        }
        w.finish()
    }
}

impl Twist {
    pub fn decode(bytes: &[u8]) -> Result<Self, CdrError> {
        let mut r = CdrReader::new(bytes)?;
        let mut values = [0.0; 6];
        for v in values.iter_mut() {
            *v = r.f64()?;
        }
        Ok(Self { linear: [values[0], values[1], values[2]], angular: [values[3], values[4], values[5]] })
    }
}

/// One `geometry_msgs/msg/TransformStamped`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TransformStamped {
    pub header: Header,
    pub child_frame_id: String,
    pub translation: [f64; 3],
    /// x, y, z, w.
    pub rotation: [f64; 4],
}

/// `tf2_msgs/msg/TFMessage` (`/tf`, `/tf_static`).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TfMessage {
    pub transforms: Vec<TransformStamped>,
}

impl RosMessage for TfMessage {
    const TYPE_NAME: &'static str = "tf2_msgs/msg/TFMessage";
    fn encode(&self) -> Vec<u8> {
        let mut w = CdrWriter::new();
        w.sequence_length(self.transforms.len());
        for t in &self.transforms {
            t.header.write(&mut w);
            w.string(&t.child_frame_id);
            for v in t.translation.iter().chain(&t.rotation) {
                w.f64(*v);
            }
        }
        w.finish()
    }
}

/// `sensor_msgs/msg/Imu` (covariances unknown: zeros, as REP-145 allows).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Imu {
    pub header: Header,
    /// x, y, z, w.
    pub orientation: [f64; 4],
    pub angular_velocity: [f64; 3],
    pub linear_acceleration: [f64; 3],
}

impl RosMessage for Imu {
    const TYPE_NAME: &'static str = "sensor_msgs/msg/Imu";
    fn encode(&self) -> Vec<u8> {
        let mut w = CdrWriter::new();
        self.header.write(&mut w);
        for vector in [&self.orientation[..], &self.angular_velocity[..], &self.linear_acceleration[..]] {
            for v in vector {
                w.f64(*v);
            }
            for _ in 0..9 {
                w.f64(0.0);
            }
        }
        w.finish()
    }
}

/// `nav_msgs/msg/Odometry` (covariances zero).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Odometry {
    pub header: Header,
    pub child_frame_id: String,
    pub position: [f64; 3],
    /// x, y, z, w.
    pub orientation: [f64; 4],
    /// In the child frame, as REP-105 specifies.
    pub linear: [f64; 3],
    pub angular: [f64; 3],
}

impl RosMessage for Odometry {
    const TYPE_NAME: &'static str = "nav_msgs/msg/Odometry";
    fn encode(&self) -> Vec<u8> {
        let mut w = CdrWriter::new();
        self.header.write(&mut w);
        w.string(&self.child_frame_id);
        for v in self.position.iter().chain(&self.orientation) {
            w.f64(*v);
        }
        for _ in 0..36 {
            w.f64(0.0);
        }
        for v in self.linear.iter().chain(&self.angular) {
            w.f64(*v);
        }
        for _ in 0..36 {
            w.f64(0.0);
        }
        w.finish()
    }
}

/// `sensor_msgs/msg/Image` (depth images: `32FC1`, metres along the optical axis).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Image {
    pub header: Header,
    pub height: u32,
    pub width: u32,
    pub encoding: String,
    pub is_bigendian: u8,
    /// Bytes per row.
    pub step: u32,
    pub data: Vec<u8>,
}

impl Image {
    /// A `32FC1` image from row-major values, little-endian as on the wire of every common host.
    pub fn depth(header: Header, width: u32, height: u32, metres: &[f32]) -> Self {
        let data = metres.iter().flat_map(|v| v.to_le_bytes()).collect();
        Self { header, height, width, encoding: "32FC1".into(), is_bigendian: 0, step: width * 4, data }
    }
}

impl RosMessage for Image {
    const TYPE_NAME: &'static str = "sensor_msgs/msg/Image";
    fn encode(&self) -> Vec<u8> {
        let mut w = CdrWriter::new();
        self.header.write(&mut w);
        w.u32(self.height);
        w.u32(self.width);
        w.string(&self.encoding);
        w.u8(self.is_bigendian);
        w.u32(self.step);
        w.bytes_sequence(&self.data);
        w.finish()
    }
}

/// `sensor_msgs/msg/CameraInfo` of an ideal pinhole camera (no distortion).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct CameraInfo {
    pub header: Header,
    pub height: u32,
    pub width: u32,
    pub distortion_model: String,
    pub d: Vec<f64>,
    pub k: [f64; 9],
    pub r: [f64; 9],
    pub p: [f64; 12],
}

impl CameraInfo {
    /// Focal length `focal` in pixels, principal point at the image centre.
    pub fn pinhole(header: Header, width: u32, height: u32, focal: f64) -> Self {
        // Pixel centres sit at integer coordinates in ROS: the centre of a w-pixel row is at
        // (w - 1) / 2.
        let (cx, cy) = ((width as f64 - 1.0) / 2.0, (height as f64 - 1.0) / 2.0);
        Self {
            header,
            height,
            width,
            distortion_model: "plumb_bob".into(),
            d: vec![0.0; 5],
            k: [focal, 0.0, cx, 0.0, focal, cy, 0.0, 0.0, 1.0],
            r: [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0],
            p: [focal, 0.0, cx, 0.0, 0.0, focal, cy, 0.0, 0.0, 0.0, 1.0, 0.0],
        }
    }
}

impl RosMessage for CameraInfo {
    const TYPE_NAME: &'static str = "sensor_msgs/msg/CameraInfo";
    fn encode(&self) -> Vec<u8> {
        let mut w = CdrWriter::new();
        self.header.write(&mut w);
        w.u32(self.height);
        w.u32(self.width);
        w.string(&self.distortion_model);
        w.f64_sequence(&self.d);
        for v in self.k.iter().chain(&self.r).chain(&self.p) {
            w.f64(*v);
        }
        // binning_x, binning_y, then the full-image RegionOfInterest.
        w.u32(0);
        w.u32(0);
        for _ in 0..4 {
            w.u32(0);
        }
        w.bool(false);
        w.finish()
    }
}

/// `std_msgs/msg/Float64MultiArray` (`/joint_commands`): the layout is written flat and
/// ignored when read; `data` holds one command per joint actuator.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Float64MultiArray {
    pub data: Vec<f64>,
}

impl RosMessage for Float64MultiArray {
    const TYPE_NAME: &'static str = "std_msgs/msg/Float64MultiArray";
    fn encode(&self) -> Vec<u8> {
        let mut w = CdrWriter::new();
        w.sequence_length(0);
        w.u32(0);
        w.f64_sequence(&self.data);
        w.finish()
    }
}

impl Float64MultiArray {
    pub fn decode(bytes: &[u8]) -> Result<Self, CdrError> {
        let mut r = CdrReader::new(bytes)?;
        let dimensions = r.u32()?;
        if dimensions as usize > bytes.len() / 12 {
            return Err(CdrError::Length(dimensions));
        }
        for _ in 0..dimensions {
            r.string()?;
            r.u32()?;
            r.u32()?;
        }
        r.u32()?;
        Ok(Self { data: r.f64_sequence()? })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(" ")
    }

    // Worked examples of the interop reference (../shared/specs/interop.md §3).

    #[test]
    fn clock() {
        let bytes = Clock { clock: Time { sec: 12, nanosec: 500_000_000 } }.encode();
        assert_eq!(hex(&bytes), "00 01 00 00 0c 00 00 00 00 65 cd 1d");
    }

    #[test]
    fn joint_state() {
        let message = JointState {
            header: Header { stamp: Time { sec: 1, nanosec: 2 }, frame_id: "base".into() },
            name: vec!["j1".into(), "j2".into()],
            position: vec![0.5, -1.0],
            velocity: vec![],
            effort: vec![],
        };
        let bytes = message.encode();
        assert_eq!(bytes.len(), 76);
        assert_eq!(
            hex(&bytes),
            "00 01 00 00 01 00 00 00 02 00 00 00 05 00 00 00 62 61 73 65 00 00 00 00 02 00 00 00 03 00 00 00 \
             6a 31 00 00 03 00 00 00 6a 32 00 00 02 00 00 00 00 00 00 00 00 00 00 00 00 00 e0 3f 00 00 00 00 \
             00 00 f0 bf 00 00 00 00 00 00 00 00"
        );
    }

    #[test]
    fn twist_round_trip() {
        let twist = Twist { linear: [1.0, 0.0, 0.0], angular: [0.0, 0.0, 0.5] };
        let bytes = twist.encode();
        assert_eq!(bytes.len(), 52);
        assert_eq!(&bytes[4..12], &1.0f64.to_le_bytes());
        assert_eq!(Twist::decode(&bytes), Ok(twist));
        assert!(Twist::decode(&bytes[..20]).is_err());
    }

    #[test]
    fn tf_message() {
        let message = TfMessage {
            transforms: vec![TransformStamped {
                header: Header { stamp: Time { sec: 3, nanosec: 0 }, frame_id: "odom".into() },
                child_frame_id: "base_link".into(),
                translation: [1.0, 2.0, 0.0],
                rotation: [0.0, 0.0, 0.0, 1.0],
            }],
        };
        let bytes = message.encode();
        assert_eq!(bytes.len(), 100);
        assert_eq!(
            hex(&bytes[..0x34]),
            "00 01 00 00 01 00 00 00 03 00 00 00 00 00 00 00 05 00 00 00 6f 64 6f 6d 00 00 00 00 0a 00 00 00 \
             62 61 73 65 5f 6c 69 6e 6b 00 00 00 00 00 00 00 00 00 f0 3f"
        );
    }

    #[test]
    fn joint_commands_round_trip_and_reject_garbage() {
        let message = Float64MultiArray { data: vec![0.5, -1.25, 3.0] };
        assert_eq!(Float64MultiArray::decode(&message.encode()), Ok(message));
        assert!(Float64MultiArray::decode(&[0, 1, 0, 0, 0xff, 0xff, 0xff, 0xff]).is_err());
        assert!(Float64MultiArray::decode(&Twist::default().encode()[..10]).is_err());
    }

    #[test]
    fn simulated_time_converts_to_ros_time() {
        assert_eq!(Time::from_seconds(12.5), Time { sec: 12, nanosec: 500_000_000 });
        assert_eq!(Time::from_seconds(0.0), Time { sec: 0, nanosec: 0 });
    }
}
