//! The sliver of the protobuf wire format that stored keys need (spec §4.4): varints and
//! length-delimited fields, with unknown fields skipped on read.

use crate::error::{Error, Result};

const MALFORMED: Error = Error::InvalidStoredKey("malformed protobuf");

/// Wire type of varint fields.
pub(crate) const VARINT: u8 = 0;
/// Wire type of 64-bit fields.
const FIXED64: u8 = 1;
/// Wire type of length-delimited fields (bytes, strings, messages).
pub(crate) const LEN: u8 = 2;
/// Wire type of 32-bit fields.
const FIXED32: u8 = 5;

/// Appends protobuf fields to a buffer.
#[derive(Debug, Default)]
pub(crate) struct Writer {
    pub buf: Vec<u8>,
}

impl Writer {
    fn varint(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.buf.push((v as u8) | 0x80);
            v >>= 7;
        }
        self.buf.push(v as u8);
    }

    fn tag(&mut self, field: u32, wire_type: u8) {
        self.varint((u64::from(field) << 3) | u64::from(wire_type));
    }

    /// A varint field; proto3 omits zero.
    pub fn uint(&mut self, field: u32, v: u64) {
        if v != 0 {
            self.tag(field, VARINT);
            self.varint(v);
        }
    }

    /// An `int64`/`int32` field (negative values take ten bytes); proto3 omits zero.
    pub fn int(&mut self, field: u32, v: i64) {
        self.uint(field, v as u64);
    }

    /// A `bytes`/`string` field; proto3 omits empty values.
    pub fn bytes(&mut self, field: u32, v: &[u8]) {
        if !v.is_empty() {
            self.tag(field, LEN);
            self.varint(v.len() as u64);
            self.buf.extend_from_slice(v);
        }
    }

    /// An embedded message field; always written when present, even if empty.
    pub fn message(&mut self, field: u32, encode: impl FnOnce(&mut Writer)) {
        let mut inner = Writer::default();
        encode(&mut inner);
        self.tag(field, LEN);
        self.varint(inner.buf.len() as u64);
        self.buf.extend_from_slice(&inner.buf);
        zeroize::Zeroize::zeroize(&mut inner.buf);
    }
}

/// One field read from a message.
pub(crate) enum Value<'a> {
    /// A varint.
    Varint(u64),
    /// A length-delimited payload.
    Len(&'a [u8]),
    /// A fixed-width value (ignored by all our messages).
    Fixed,
}

/// Iterates over the fields of a message.
pub(crate) struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8]) -> Reader<'a> {
        Reader { rest: buf }
    }

    fn varint(&mut self) -> Result<u64> {
        let mut v = 0u64;
        for i in 0..10 {
            let (b, rest) = self.rest.split_first().ok_or(MALFORMED)?;
            self.rest = rest;
            let shift = 7 * i;
            if i == 9 && *b > 1 {
                return Err(MALFORMED);
            }
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(MALFORMED)
    }

    fn take(&mut self, n: u64) -> Result<&'a [u8]> {
        let n = usize::try_from(n).map_err(|_| MALFORMED)?;
        let (head, rest) = self.rest.split_at_checked(n).ok_or(MALFORMED)?;
        self.rest = rest;
        Ok(head)
    }

    /// The next `(field number, value)`, or `None` at the end of the message.
    pub fn next_field(&mut self) -> Result<Option<(u32, Value<'a>)>> {
        if self.rest.is_empty() {
            return Ok(None);
        }
        let key = self.varint()?;
        let field = u32::try_from(key >> 3).map_err(|_| MALFORMED)?;
        if field == 0 {
            return Err(MALFORMED);
        }
        let value = match (key & 7) as u8 {
            VARINT => Value::Varint(self.varint()?),
            LEN => {
                let n = self.varint()?;
                Value::Len(self.take(n)?)
            }
            FIXED64 => {
                self.take(8)?;
                Value::Fixed
            }
            FIXED32 => {
                self.take(4)?;
                Value::Fixed
            }
            // Groups (3, 4) and reserved types are not used by any KES message.
            _ => return Err(MALFORMED),
        };
        Ok(Some((field, value)))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn varints_round_trip() {
        for v in [
            0u64,
            1,
            127,
            128,
            300,
            1_704_067_200,
            u64::MAX,
            (-1i64) as u64,
        ] {
            let mut w = Writer::default();
            w.tag(1, VARINT);
            w.varint(v);
            let mut r = Reader::new(&w.buf);
            match r.next_field().unwrap() {
                Some((1, Value::Varint(got))) => assert_eq!(got, v),
                _ => panic!("bad field"),
            }
            assert!(r.next_field().unwrap().is_none());
        }
    }

    #[test]
    fn malformed_inputs_error() {
        let cases: &[&[u8]] = &[
            &[0x08],             // varint missing
            &[0x08, 0x80],       // varint truncated
            &[0x0a, 0x05, 1, 2], // length beyond end
            &[0x00, 0x01],       // field 0
            &[0x0b],             // group
            &[0x09, 1, 2, 3],    // fixed64 truncated
            &[
                0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02,
            ], // > 64 bits
        ];
        for case in cases {
            let mut r = Reader::new(case);
            assert!(r.next_field().is_err(), "{case:?}");
        }
    }
}
