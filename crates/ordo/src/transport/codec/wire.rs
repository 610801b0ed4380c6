//! Primitive fields: bytes, LEB128 varints and length-prefixed payloads, with
//! a reader that checks every length against what is actually there.

use bytes::{BufMut, Bytes, BytesMut};

use super::DecodeError;

/// Most bytes a `u64` varint takes.
pub(crate) const VARINT_MAX_BYTES: usize = 10;

/// Bytes [`put_varint`] writes for `value`.
#[cfg(test)]
pub(crate) fn varint_len(value: u64) -> usize {
    // One byte per started group of 7 bits; zero still takes one byte.
    let bits = 64 - (value | 1).leading_zeros() as usize;
    bits.div_ceil(7)
}

/// Where encoded fields go. Large payloads may be kept by reference instead of
/// copied (see [`super::frame::FrameBatch`]).
pub(crate) trait Sink {
    /// Appends one byte.
    fn put_byte(&mut self, byte: u8);
    /// Appends `bytes` by copying.
    fn put_slice(&mut self, bytes: &[u8]);
    /// Appends a payload the sink may keep by reference.
    fn put_payload(&mut self, payload: &Bytes) {
        self.put_slice(payload);
    }
}

impl Sink for BytesMut {
    fn put_byte(&mut self, byte: u8) {
        self.put_u8(byte);
    }

    fn put_slice(&mut self, bytes: &[u8]) {
        self.extend_from_slice(bytes);
    }
}

/// Appends `value` as an unsigned LEB128 varint: seven bits a byte, low bits
/// first, the high bit set on every byte but the last.
pub(crate) fn put_varint(sink: &mut impl Sink, mut value: u64) {
    while value >= 0x80 {
        sink.put_byte((value as u8 & 0x7f) | 0x80);
        value >>= 7;
    }
    sink.put_byte(value as u8);
}

/// Appends a length (varint) and then the bytes.
pub(crate) fn put_length_prefixed(sink: &mut impl Sink, payload: &Bytes) {
    put_varint(sink, payload.len() as u64);
    sink.put_payload(payload);
}

/// Reads fields from one received message. Every read checks the bytes left
/// first, so garbage yields [`DecodeError::Truncated`] (or another error),
/// never a panic, and nothing is allocated on the strength of a length field
/// alone: payloads are zero-copy slices of the input.
pub(crate) struct Reader<'a> {
    input: &'a Bytes,
    position: usize,
}

impl<'a> Reader<'a> {
    /// A reader at the start of `input`.
    pub(crate) fn new(input: &'a Bytes) -> Self {
        Reader { input, position: 0 }
    }

    /// Bytes not yet read.
    pub(crate) fn remaining(&self) -> usize {
        self.input.len() - self.position
    }

    /// Reads one byte.
    pub(crate) fn byte(&mut self, field: &'static str) -> Result<u8, DecodeError> {
        let byte = *self
            .input
            .get(self.position)
            .ok_or(DecodeError::Truncated { field })?;
        self.position += 1;
        Ok(byte)
    }

    /// Reads a byte that must be 0 or 1.
    pub(crate) fn bool(&mut self, field: &'static str) -> Result<bool, DecodeError> {
        match self.byte(field)? {
            0 => Ok(false),
            1 => Ok(true),
            value => Err(DecodeError::InvalidValue {
                field,
                value: u64::from(value),
            }),
        }
    }

    /// Reads a canonical LEB128 varint (no needless trailing zero groups, no
    /// bits beyond 64).
    pub(crate) fn varint(&mut self, field: &'static str) -> Result<u64, DecodeError> {
        let mut value: u64 = 0;
        for group in 0..VARINT_MAX_BYTES {
            let byte = self.byte(field)?;
            let bits = u64::from(byte & 0x7f);
            let shift = 7 * group as u32;
            if group == VARINT_MAX_BYTES - 1 && byte > 0x01 {
                return Err(DecodeError::InvalidVarint { field });
            }
            value |= bits << shift;
            if byte & 0x80 == 0 {
                if byte == 0 && group > 0 {
                    return Err(DecodeError::InvalidVarint { field });
                }
                return Ok(value);
            }
        }
        Err(DecodeError::InvalidVarint { field })
    }

    /// Reads a varint that counts items of at least `min_item_bytes` each,
    /// refusing counts above `max` or above what the remaining input could
    /// possibly hold. The result is safe to pass to `Vec::with_capacity`.
    pub(crate) fn count(
        &mut self,
        field: &'static str,
        min_item_bytes: usize,
        max: usize,
    ) -> Result<usize, DecodeError> {
        let count = self.varint(field)?;
        if count > max as u64 {
            return Err(DecodeError::TooManyItems { field, count, max });
        }
        let count = count as usize;
        if count.saturating_mul(min_item_bytes) > self.remaining() {
            return Err(DecodeError::Truncated { field });
        }
        Ok(count)
    }

    /// Reads a length-prefixed payload as a zero-copy slice of the input.
    pub(crate) fn length_prefixed(&mut self, field: &'static str) -> Result<Bytes, DecodeError> {
        let length = self.varint(field)?;
        if length > self.remaining() as u64 {
            return Err(DecodeError::Truncated { field });
        }
        let start = self.position;
        self.position += length as usize;
        Ok(self.input.slice(start..self.position))
    }

    /// Fails unless every byte was consumed.
    pub(crate) fn finish(self) -> Result<(), DecodeError> {
        match self.remaining() {
            0 => Ok(()),
            bytes => Err(DecodeError::TrailingBytes { bytes }),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn encoded(value: u64) -> Bytes {
        let mut out = BytesMut::new();
        put_varint(&mut out, value);
        out.freeze()
    }

    #[test]
    fn varints_round_trip_at_every_width() {
        for shift in 0..64 {
            for value in [1u64 << shift, (1u64 << shift) - 1, (1u64 << shift) + 1] {
                let bytes = encoded(value);
                assert_eq!(bytes.len(), varint_len(value), "{value}");
                let mut reader = Reader::new(&bytes);
                assert_eq!(reader.varint("v"), Ok(value));
                assert_eq!(reader.finish(), Ok(()));
            }
        }
        assert_eq!(encoded(u64::MAX).len(), VARINT_MAX_BYTES);
    }

    #[test]
    fn overlong_and_overflowing_varints_are_refused() {
        let cases: [&[u8]; 4] = [
            &[0x80, 0x00],
            &[0xff; 11],
            &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02],
            &[0x80],
        ];
        for case in cases {
            let bytes = Bytes::copy_from_slice(case);
            assert!(Reader::new(&bytes).varint("v").is_err(), "{case:?}");
        }
    }

    #[test]
    fn counts_cannot_promise_more_items_than_bytes_remain() {
        let bytes = Bytes::from_static(&[0x7f, 0, 0]);
        assert_eq!(
            Reader::new(&bytes).count("items", 1, 1000),
            Err(DecodeError::Truncated { field: "items" })
        );
        assert_eq!(
            Reader::new(&bytes).count("items", 1, 10),
            Err(DecodeError::TooManyItems {
                field: "items",
                count: 127,
                max: 10
            })
        );
    }
}
