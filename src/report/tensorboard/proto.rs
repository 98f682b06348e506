//! The few pieces of the protobuf wire format an event file needs, by hand: varints, keys,
//! fixed 32/64-bit fields and length-delimited fields, and a field iterator for decoding that
//! skips fields it does not know.
//!
//! Encoding follows what the reference (Python/C++) serializers emit for proto3 messages:
//! fields in field-number order; implicit-presence scalars are left out when zero; members of
//! a `oneof` are always written once set.

/// Wire type of a varint field (int32, int64, bool, enum).
pub(crate) const VARINT: u8 = 0;
/// Wire type of a fixed 64-bit field (double, fixed64).
pub(crate) const FIXED64: u8 = 1;
/// Wire type of a length-delimited field (string, bytes, message).
pub(crate) const LEN: u8 = 2;
/// Wire type of a fixed 32-bit field (float, fixed32).
pub(crate) const FIXED32: u8 = 5;

/// Appends `v` as a base-128 varint.
pub(crate) fn put_varint(buf: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        buf.push((v as u8 & 0x7f) | 0x80);
        v >>= 7;
    }
    buf.push(v as u8);
}

/// Appends the key of field `field` with wire type `wire`.
pub(crate) fn put_key(buf: &mut Vec<u8>, field: u32, wire: u8) {
    put_varint(buf, (u64::from(field) << 3) | u64::from(wire));
}

/// Appends an int32/int64 field (negative values as 10-byte two's complement varints).
pub(crate) fn put_int(buf: &mut Vec<u8>, field: u32, v: i64) {
    put_key(buf, field, VARINT);
    put_varint(buf, v as u64);
}

/// Appends a double field.
pub(crate) fn put_double(buf: &mut Vec<u8>, field: u32, v: f64) {
    put_key(buf, field, FIXED64);
    buf.extend_from_slice(&v.to_le_bytes());
}

/// Appends a float field.
pub(crate) fn put_float(buf: &mut Vec<u8>, field: u32, v: f32) {
    put_key(buf, field, FIXED32);
    buf.extend_from_slice(&v.to_le_bytes());
}

/// Appends a string, bytes or embedded-message field.
pub(crate) fn put_bytes(buf: &mut Vec<u8>, field: u32, data: &[u8]) {
    put_key(buf, field, LEN);
    put_varint(buf, data.len() as u64);
    buf.extend_from_slice(data);
}

/// One decoded field value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Wire<'a> {
    Varint(u64),
    Fixed64(u64),
    Bytes(&'a [u8]),
    Fixed32(u32),
}

impl<'a> Wire<'a> {
    /// The value as a varint integer, or an error naming `what`.
    pub(crate) fn int(self, what: &str) -> Result<i64, String> {
        match self {
            Wire::Varint(v) => Ok(v as i64),
            other => Err(format!("{what}: expected a varint, found {other:?}")),
        }
    }

    /// The value as a double, or an error naming `what`.
    pub(crate) fn double(self, what: &str) -> Result<f64, String> {
        match self {
            Wire::Fixed64(v) => Ok(f64::from_bits(v)),
            other => Err(format!("{what}: expected a 64-bit double, found {other:?}")),
        }
    }

    /// The value as a float, or an error naming `what`.
    pub(crate) fn float(self, what: &str) -> Result<f32, String> {
        match self {
            Wire::Fixed32(v) => Ok(f32::from_bits(v)),
            other => Err(format!("{what}: expected a 32-bit float, found {other:?}")),
        }
    }

    /// The value as length-delimited bytes, or an error naming `what`.
    pub(crate) fn bytes(self, what: &str) -> Result<&'a [u8], String> {
        match self {
            Wire::Bytes(b) => Ok(b),
            other => Err(format!(
                "{what}: expected a length-delimited field, found {other:?}"
            )),
        }
    }

    /// The value as a UTF-8 string, or an error naming `what`.
    pub(crate) fn string(self, what: &str) -> Result<String, String> {
        let b = self.bytes(what)?;
        String::from_utf8(b.to_vec()).map_err(|_| format!("{what}: not valid UTF-8"))
    }
}

/// Iterates over the `(field number, value)` pairs of one encoded message.
pub(crate) struct Fields<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Fields<'a> {
    /// Starts decoding `data`.
    pub(crate) fn new(data: &'a [u8]) -> Self {
        Fields { data, pos: 0 }
    }

    fn varint(&mut self) -> Result<u64, String> {
        let mut v = 0u64;
        for i in 0..10 {
            let Some(&b) = self.data.get(self.pos) else {
                return Err(format!("varint runs past the end at byte {}", self.pos));
            };
            self.pos += 1;
            v |= u64::from(b & 0x7f) << (7 * i);
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(format!(
            "varint longer than 10 bytes ending at byte {}",
            self.pos
        ))
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.data.len());
        let Some(end) = end else {
            return Err(format!(
                "field of {n} bytes at byte {} runs past the end of a {}-byte message",
                self.pos,
                self.data.len()
            ));
        };
        let s = &self.data[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    fn field(&mut self) -> Result<(u32, Wire<'a>), String> {
        let key = self.varint()?;
        let field =
            u32::try_from(key >> 3).map_err(|_| format!("field number {} too large", key >> 3))?;
        if field == 0 {
            return Err("field number 0".into());
        }
        let value = match (key & 7) as u8 {
            VARINT => Wire::Varint(self.varint()?),
            FIXED64 => Wire::Fixed64(u64::from_le_bytes(
                self.take(8)?.try_into().unwrap_or([0; 8]),
            )),
            LEN => {
                let n = self.varint()?;
                let n = usize::try_from(n).map_err(|_| format!("length {n} too large"))?;
                Wire::Bytes(self.take(n)?)
            }
            FIXED32 => Wire::Fixed32(u32::from_le_bytes(
                self.take(4)?.try_into().unwrap_or([0; 4]),
            )),
            w => return Err(format!("field {field}: unsupported wire type {w}")),
        };
        Ok((field, value))
    }
}

impl<'a> Iterator for Fields<'a> {
    type Item = Result<(u32, Wire<'a>), String>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.pos >= self.data.len() {
            return None;
        }
        let item = self.field();
        if item.is_err() {
            // Stop after the first error: the position is no longer meaningful.
            self.pos = self.data.len();
        }
        Some(item)
    }
}
