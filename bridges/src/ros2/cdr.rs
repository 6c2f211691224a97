//! CDR encoding (OMG CDR v1 / XCDR1, little-endian) as ROS 2 puts messages on the wire: a
//! 4-byte encapsulation header `00 01 00 00`, then the fields, each primitive aligned to its
//! size counted from the byte after the header.

/// Writes one message.
pub struct CdrWriter {
    buffer: Vec<u8>,
}

impl Default for CdrWriter {
    fn default() -> Self {
        Self::new()
    }
}

impl CdrWriter {
    /// A message holding only the encapsulation header `00 01 00 00` (plain CDR, little endian).
    pub fn new() -> Self {
        Self { buffer: vec![0x00, 0x01, 0x00, 0x00] }
    }

    fn align(&mut self, size: usize) {
        // The origin of alignment is the byte after the encapsulation header.
        while (self.buffer.len() - 4) % size != 0 {
            self.buffer.push(0);
        }
    }

    /// Appends one byte (no alignment).
    pub fn u8(&mut self, v: u8) {
        self.buffer.push(v);
    }

    /// Appends a `bool` as one byte, 1 or 0.
    pub fn bool(&mut self, v: bool) {
        self.buffer.push(u8::from(v));
    }

    /// Appends a `uint32`, little endian, 4-byte aligned.
    pub fn u32(&mut self, v: u32) {
        self.align(4);
        self.buffer.extend_from_slice(&v.to_le_bytes());
    }

    /// Appends an `int32`, little endian, 4-byte aligned.
    pub fn i32(&mut self, v: i32) {
        self.align(4);
        self.buffer.extend_from_slice(&v.to_le_bytes());
    }

    /// Appends a `float32`, little endian, 4-byte aligned.
    pub fn f32(&mut self, v: f32) {
        self.align(4);
        self.buffer.extend_from_slice(&v.to_le_bytes());
    }

    /// Appends a `float64`, little endian, 8-byte aligned.
    pub fn f64(&mut self, v: f64) {
        self.align(8);
        self.buffer.extend_from_slice(&v.to_le_bytes());
    }

    /// Length including the terminating NUL, the bytes, the NUL.
    pub fn string(&mut self, s: &str) {
        self.u32(s.len() as u32 + 1);
        self.buffer.extend_from_slice(s.as_bytes());
        self.buffer.push(0);
    }

    /// A sequence's element count (the elements follow).
    pub fn sequence_length(&mut self, n: usize) {
        self.u32(n as u32);
    }

    /// Appends a `float64[]`: the count, then the values.
    pub fn f64_sequence(&mut self, values: &[f64]) {
        self.sequence_length(values.len());
        for v in values {
            self.f64(*v);
        }
    }

    /// Appends a `float32[]`: the count, then the values.
    pub fn f32_sequence(&mut self, values: &[f32]) {
        self.sequence_length(values.len());
        for v in values {
            self.f32(*v);
        }
    }

    /// Appends a `uint8[]` (or `byte[]`): the count, then the bytes, unpadded.
    pub fn bytes_sequence(&mut self, values: &[u8]) {
        self.sequence_length(values.len());
        self.buffer.extend_from_slice(values);
    }

    /// Appends a `string[]`: the count, then each string as [`CdrWriter::string`] writes it.
    pub fn string_sequence(&mut self, values: &[String]) {
        self.sequence_length(values.len());
        for v in values {
            self.string(v);
        }
    }

    /// The encoded message, encapsulation header included, ready to publish or record.
    pub fn finish(self) -> Vec<u8> {
        self.buffer
    }
}

/// Why [`CdrReader`] could not read a message.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CdrError {
    /// The message (of this many bytes) is shorter than the encapsulation header.
    #[error("the message is {0} bytes, shorter than the 4-byte encapsulation header")]
    NoHeader(usize),
    /// The first two header bytes are not `00 01`: big-endian CDR and XCDR2 are refused.
    #[error("encapsulation {0:02x} {1:02x}: only little-endian plain CDR (00 01) is supported")]
    Encapsulation(u8, u8),
    /// The message ends (`at` = its length) `needed` bytes before the value being read.
    #[error("the message ends at byte {at} where {needed} more bytes were expected")]
    Truncated {
        /// The message's length in bytes.
        at: usize,
        /// Bytes the value being read still needed.
        needed: usize,
    },
    /// A sequence count larger than the message could hold (checked before allocating).
    #[error("a sequence claims {0} elements, more than the message could hold")]
    Length(u32),
    /// A string whose length is 0 (no room for the NUL), that lacks its NUL, or is not UTF-8.
    #[error("a string is not valid UTF-8 or lacks its terminating NUL")]
    BadString,
}

/// Reads one message (for the commands dreamrig subscribes to).
pub struct CdrReader<'a> {
    bytes: &'a [u8],
    position: usize,
}

impl<'a> CdrReader<'a> {
    /// A reader positioned after the encapsulation header (whose two option bytes are ignored).
    ///
    /// # Errors
    /// [`CdrError::NoHeader`] for fewer than 4 bytes; [`CdrError::Encapsulation`] unless the header
    /// starts `00 01`.
    pub fn new(bytes: &'a [u8]) -> Result<Self, CdrError> {
        if bytes.len() < 4 {
            return Err(CdrError::NoHeader(bytes.len()));
        }
        if bytes[0] != 0x00 || bytes[1] != 0x01 {
            return Err(CdrError::Encapsulation(bytes[0], bytes[1]));
        }
        Ok(Self { bytes, position: 4 })
    }

    fn take(&mut self, size: usize, align: usize) -> Result<&'a [u8], CdrError> {
        while (self.position - 4) % align != 0 {
            self.position += 1;
        }
        let end = self.position + size;
        if end > self.bytes.len() {
            return Err(CdrError::Truncated { at: self.bytes.len(), needed: end - self.bytes.len() });
        }
        let slice = &self.bytes[self.position..end];
        self.position = end;
        Ok(slice)
    }

    /// Reads a `uint32` (little endian, after padding to 4-byte alignment).
    ///
    /// # Errors
    /// [`CdrError::Truncated`] if the message ends first.
    pub fn u32(&mut self) -> Result<u32, CdrError> {
        Ok(u32::from_le_bytes(self.take(4, 4)?.try_into().expect("4 bytes")))
    }

    /// Reads an `int32` (little endian, after padding to 4-byte alignment).
    ///
    /// # Errors
    /// [`CdrError::Truncated`] if the message ends first.
    pub fn i32(&mut self) -> Result<i32, CdrError> {
        Ok(i32::from_le_bytes(self.take(4, 4)?.try_into().expect("4 bytes")))
    }

    /// Reads a `float64` (little endian, after padding to 8-byte alignment).
    ///
    /// # Errors
    /// [`CdrError::Truncated`] if the message ends first.
    pub fn f64(&mut self) -> Result<f64, CdrError> {
        Ok(f64::from_le_bytes(self.take(8, 8)?.try_into().expect("8 bytes")))
    }

    /// Reads one byte.
    ///
    /// # Errors
    /// [`CdrError::Truncated`] if the message ends first.
    pub fn u8(&mut self) -> Result<u8, CdrError> {
        Ok(self.take(1, 1)?[0])
    }

    /// Reads a `string`: a `uint32` length that counts the terminating NUL, the bytes, the NUL.
    ///
    /// # Errors
    /// [`CdrError::Truncated`] if the message ends first; [`CdrError::BadString`] for a zero length,
    /// a missing NUL or invalid UTF-8.
    pub fn string(&mut self) -> Result<String, CdrError> {
        let n = self.u32()? as usize;
        if n == 0 {
            return Err(CdrError::BadString);
        }
        let bytes = self.take(n, 1)?;
        if bytes[n - 1] != 0 {
            return Err(CdrError::BadString);
        }
        String::from_utf8(bytes[..n - 1].to_vec()).map_err(|_| CdrError::BadString)
    }

    /// Reads a `float64[]`: a `uint32` count, then the values.
    ///
    /// # Errors
    /// [`CdrError::Length`] if the count exceeds the message's length / 8; [`CdrError::Truncated`] if
    /// the message ends first.
    pub fn f64_sequence(&mut self) -> Result<Vec<f64>, CdrError> {
        let n = self.u32()?;
        if n as usize > self.bytes.len() / 8 {
            return Err(CdrError::Length(n));
        }
        (0..n).map(|_| self.f64()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(" ")
    }

    /// `std_msgs/String{data: "hello"}` from the interop reference.
    #[test]
    fn a_string_message() {
        let mut w = CdrWriter::new();
        w.string("hello");
        assert_eq!(hex(&w.finish()), "00 01 00 00 06 00 00 00 68 65 6c 6c 6f 00");
    }

    /// A float64 after an odd number of 4-byte words is padded relative to the byte after the
    /// header, not the start of the buffer.
    #[test]
    fn doubles_align_from_after_the_header() {
        let mut w = CdrWriter::new();
        w.u32(7);
        w.f64(0.5);
        assert_eq!(hex(&w.finish()), "00 01 00 00 07 00 00 00 00 00 00 00 00 00 00 00 00 00 e0 3f");
    }

    #[test]
    fn reading_back_what_was_written() {
        let mut w = CdrWriter::new();
        w.string("base_link");
        w.f64_sequence(&[1.0, -2.5]);
        w.i32(-3);
        let bytes = w.finish();
        let mut r = CdrReader::new(&bytes).unwrap();
        assert_eq!(r.string().unwrap(), "base_link");
        assert_eq!(r.f64_sequence().unwrap(), vec![1.0, -2.5]);
        assert_eq!(r.i32().unwrap(), -3);
        assert!(matches!(r.u32(), Err(CdrError::Truncated { .. })));
    }

    #[test]
    fn malformed_input_is_an_error_not_a_panic() {
        assert_eq!(CdrReader::new(&[0, 1]).err(), Some(CdrError::NoHeader(2)));
        assert_eq!(CdrReader::new(&[0, 0, 0, 0]).err(), Some(CdrError::Encapsulation(0, 0)));
        let mut r = CdrReader::new(&[0, 1, 0, 0, 0xff, 0xff, 0xff, 0x7f]).unwrap();
        assert_eq!(r.f64_sequence(), Err(CdrError::Length(0x7fffffff)));
    }
}
