//! The messages dreamrig exchanges with ROS 2, encoded to CDR field by field in the order of
//! their `.msg` definitions (`definitions.rs`).

use super::cdr::{CdrError, CdrReader, CdrWriter};

/// `builtin_interfaces/msg/Time`.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Time {
    /// Whole seconds.
    pub sec: i32,
    /// Nanoseconds past `sec`, 0 to 999 999 999.
    pub nanosec: u32,
}

impl Time {
    /// Simulated seconds as a ROS time.
    ///
    /// `t` rounded to the nearest ns, then split into whole seconds (saturating at the `i32`
    /// range) and the nanoseconds after them, so that 5.999 999 999 999 9 s (300 steps of 20 ms
    /// summed in floating point) is 6 s, not 5 s and 999 999 999 ns.
    pub fn from_seconds(t: f64) -> Self {
        let total = (t * 1e9).round();
        let sec = (total / 1e9).floor();
        let nanosec = (total - sec * 1e9).clamp(0.0, 999_999_999.0);
        Self { sec: sec.clamp(i32::MIN as f64, i32::MAX as f64) as i32, nanosec: nanosec as u32 }
    }

    fn write(&self, w: &mut CdrWriter) {
        w.i32(self.sec);
        w.u32(self.nanosec);
    }
}

/// `std_msgs/msg/Header`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Header {
    /// When the data was taken, in simulated time.
    pub stamp: Time,
    /// The TF frame the data is expressed in (empty where no frame applies, as in joint states).
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
    /// The ROS 2 type name, `package/msg/Name`: the key of its `.msg` definition, type hash and MCAP schema.
    const TYPE_NAME: &'static str;
    /// The message as ROS 2 CDR (XCDR1, little endian, 4-byte encapsulation header first), fields
    /// in the order of the `.msg` definition; see `../shared/specs/interop.md`.
    fn encode(&self) -> Vec<u8>;
}

/// `rosgraph_msgs/msg/Clock`.
#[derive(Debug, Clone, PartialEq)]
pub struct Clock {
    /// The current simulated time.
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
    /// Time of the reading; `frame_id` is unused (dreamrig leaves it empty).
    pub header: Header,
    /// Joint names; `position`, `velocity` and `effort` hold one value per name, or are empty.
    pub name: Vec<String>,
    /// Joint positions: rad for revolute joints, m for prismatic ones.
    pub position: Vec<f64>,
    /// Joint velocities: rad/s or m/s.
    pub velocity: Vec<f64>,
    /// Joint efforts: N·m or N.
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
    /// `frame_id` is the lidar's frame: angles are measured in its x–y plane.
    pub header: Header,
    /// Angle of the first ray, rad (0 along the frame's +x, counter-clockwise positive).
    pub angle_min: f32,
    /// Angle of the last ray, rad.
    pub angle_max: f32,
    /// Angle between consecutive rays, rad.
    pub angle_increment: f32,
    /// Time between consecutive rays, s (0: every ray at once).
    pub time_increment: f32,
    /// Time between scans, s.
    pub scan_time: f32,
    /// Smallest valid range, m.
    pub range_min: f32,
    /// Largest valid range, m.
    pub range_max: f32,
    /// Measured distances, m, one per ray from `angle_min` to `angle_max`.
    pub ranges: Vec<f32>,
    /// Intensities, one per ray, or empty.
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
    /// Linear velocity along x, y, z, m/s.
    pub linear: [f64; 3],
    /// Angular velocity about x, y, z, rad/s.
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
    /// Reads a `Twist` from ROS 2 CDR (XCDR1, little endian); bytes after the six float64 are ignored.
    ///
    /// # Errors
    /// [`CdrError`] if the encapsulation header is missing or not little-endian plain CDR, or the
    /// message ends before the six values.
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
    /// `frame_id` is the parent frame.
    pub header: Header,
    /// The frame this transform places in the parent frame.
    pub child_frame_id: String,
    /// Position of the child frame's origin in the parent frame, m.
    pub translation: [f64; 3],
    /// x, y, z, w.
    pub rotation: [f64; 4],
}

/// `tf2_msgs/msg/TFMessage` (`/tf`, `/tf_static`).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TfMessage {
    /// The transforms, in the order they are published.
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
    /// `frame_id` is the frame the IMU measures in (its link).
    pub header: Header,
    /// x, y, z, w.
    pub orientation: [f64; 4],
    /// Angular velocity about x, y, z of the header's frame, rad/s.
    pub angular_velocity: [f64; 3],
    /// Linear acceleration along x, y, z of the header's frame, m/s².
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
    /// `frame_id` is the frame of the pose (`odom`).
    pub header: Header,
    /// The body frame the twist is expressed in.
    pub child_frame_id: String,
    /// Position of the body in the header's frame (`odom`), m.
    pub position: [f64; 3],
    /// x, y, z, w.
    pub orientation: [f64; 4],
    /// In the child frame, as REP-105 specifies.
    pub linear: [f64; 3],
    /// Angular velocity in the child frame, rad/s.
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

/// `sensor_msgs/msg/Image`: colour (`rgb8`), depth (`32FC1`, metres along the optical axis,
/// +inf where nothing is hit, REP-117) and segment ids (`16UC1`).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Image {
    /// `frame_id` is the camera's optical frame (z forward, x right, y down).
    pub header: Header,
    /// Rows, in pixels.
    pub height: u32,
    /// Columns, in pixels.
    pub width: u32,
    /// Pixel encoding as `sensor_msgs/image_encodings` names it (`32FC1` here).
    pub encoding: String,
    /// 1 if multi-byte pixel values in `data` are big endian, 0 if little endian.
    pub is_bigendian: u8,
    /// Bytes per row.
    pub step: u32,
    /// Pixels row by row from the top, `step × height` bytes.
    pub data: Vec<u8>,
}

impl Image {
    /// A `32FC1` image from row-major values, little-endian as on the wire of every common host.
    ///
    /// `metres` should hold `width × height` values; the length is not checked.
    pub fn depth(header: Header, width: u32, height: u32, metres: &[f32]) -> Self {
        let data = metres.iter().flat_map(|v| v.to_le_bytes()).collect();
        Self { header, height, width, encoding: "32FC1".into(), is_bigendian: 0, step: width * 4, data }
    }

    /// An image of a camera output: `rgb8` from 8-bit RGB, `32FC1` from float depth, `16UC1`
    /// from segment ids (little endian), rows from the top. `encoding` is the REP-118 name the
    /// camera's `ImageSpec` gives.
    pub fn of(header: Header, width: u32, height: u32, encoding: &str, pixels: &dreamrig_sim::ImageData) -> Self {
        let (data, bytes): (Vec<u8>, u32) = match pixels {
            dreamrig_sim::ImageData::U8(v) => (v.clone(), 3),
            dreamrig_sim::ImageData::U16(v) => (v.iter().flat_map(|x| x.to_le_bytes()).collect(), 2),
            dreamrig_sim::ImageData::F32(v) => (v.iter().flat_map(|x| x.to_le_bytes()).collect(), 4),
        };
        Self { header, height, width, encoding: encoding.into(), is_bigendian: 0, step: width * bytes, data }
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
    /// `frame_id` is the camera's optical frame, as in the matching [`Image`].
    pub header: Header,
    /// Image rows, in pixels.
    pub height: u32,
    /// Image columns, in pixels.
    pub width: u32,
    /// `plumb_bob` (the 5-coefficient radial–tangential model).
    pub distortion_model: String,
    /// Distortion coefficients k1, k2, t1, t2, k3 (all zero here).
    pub d: Vec<f64>,
    /// Intrinsic matrix, 3×3 row-major, pixels: fx 0 cx, 0 fy cy, 0 0 1.
    pub k: [f64; 9],
    /// Rectification rotation, 3×3 row-major (the identity for a monocular camera).
    pub r: [f64; 9],
    /// Projection matrix, 3×4 row-major, pixels.
    pub p: [f64; 12],
}

impl CameraInfo {
    /// Focal length `focal` in pixels, principal point at the image centre.
    pub fn pinhole(header: Header, width: u32, height: u32, focal: f64) -> Self {
        // Pixel centres sit at integer coordinates in ROS: the centre of a w-pixel row is at
        // (w - 1) / 2.
        let (cx, cy) = ((width as f64 - 1.0) / 2.0, (height as f64 - 1.0) / 2.0);
        Self::intrinsics(header, width, height, [focal, focal, cx, cy])
    }

    /// Pinhole intrinsics `[fx, fy, cx, cy]` in pixels (pixel centres at integer coordinates).
    pub fn intrinsics(header: Header, width: u32, height: u32, [fx, fy, cx, cy]: [f64; 4]) -> Self {
        Self {
            header,
            height,
            width,
            distortion_model: "plumb_bob".into(),
            d: vec![0.0; 5],
            k: [fx, 0.0, cx, 0.0, fy, cy, 0.0, 0.0, 1.0],
            r: [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0],
            p: [fx, 0.0, cx, 0.0, 0.0, fy, cy, 0.0, 0.0, 0.0, 1.0, 0.0],
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
    /// The values, flat (for `/joint_commands`, one per joint actuator).
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
    /// Reads a `Float64MultiArray` from ROS 2 CDR (XCDR1, little endian), skipping its layout.
    ///
    /// # Errors
    /// [`CdrError`] if the encapsulation header is wrong, a dimension or data count exceeds what the
    /// message could hold, a dimension label is not a NUL-terminated UTF-8 string, or the message
    /// ends early.
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
        // 6 s a hair short, as control steps of 20 ms add up in floating point, is 6 s on /clock.
        assert_eq!(Time::from_seconds(6.0 - 1e-13), Time { sec: 6, nanosec: 0 });
        assert_eq!(Time::from_seconds(1.0 - 1e-12), Time { sec: 1, nanosec: 0 });
        assert_eq!(Time::from_seconds(-0.25), Time { sec: -1, nanosec: 750_000_000 });
    }
}
