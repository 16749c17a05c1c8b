//! The encoding of the engine's state blob: big-endian integers and length-prefixed byte
//! strings, read back with bounds checks into typed values.
//!
//! Every piece of state implements [`Persist`]. The blob may come from a disk image, so
//! [`Loader`] treats it as hostile: every length is checked against what remains, and every
//! failure names the field it was reading.

use alloc::vec::Vec;

use tpm2::{Marshal, Reader, Unmarshal};
use zeroize::Zeroizing;

use super::state::StateError;

/// Appends state fields to a byte vector.
pub(crate) struct Writer {
    /// The bytes written so far (secret: the blob carries seeds and keys).
    pub(crate) out: Zeroizing<Vec<u8>>,
}

impl Writer {
    pub(crate) fn new() -> Self {
        Self {
            out: Zeroizing::new(Vec::with_capacity(4096)),
        }
    }

    pub(crate) fn u8(&mut self, v: u8) {
        self.out.push(v);
    }

    pub(crate) fn bool(&mut self, v: bool) {
        self.out.push(u8::from(v));
    }

    pub(crate) fn u16(&mut self, v: u16) {
        self.out.extend_from_slice(&v.to_be_bytes());
    }

    pub(crate) fn u32(&mut self, v: u32) {
        self.out.extend_from_slice(&v.to_be_bytes());
    }

    pub(crate) fn u64(&mut self, v: u64) {
        self.out.extend_from_slice(&v.to_be_bytes());
    }

    /// A byte string with a u32 length prefix.
    pub(crate) fn bytes(&mut self, v: &[u8]) {
        self.u32(u32::try_from(v.len()).unwrap_or(u32::MAX));
        self.out.extend_from_slice(v);
    }

    /// A TPM structure in its wire form, with a u32 length prefix.
    pub(crate) fn tpm<T: Marshal>(&mut self, v: &T) {
        let mut body = Zeroizing::new(Vec::new());
        v.marshal(&mut body);
        self.bytes(&body);
    }

    /// An optional value: a presence byte, then the value.
    pub(crate) fn option<T: Persist>(&mut self, v: Option<&T>) {
        match v {
            Some(v) => {
                self.u8(1);
                v.save(self);
            }
            None => self.u8(0),
        }
    }

    /// A nested value written with a u32 length prefix, so that a reader can skip it.
    pub(crate) fn nested(&mut self, f: impl FnOnce(&mut Writer)) {
        let at = self.out.len();
        self.u32(0);
        f(self);
        let len = u32::try_from(self.out.len() - at - 4).unwrap_or(u32::MAX);
        self.out[at..at + 4].copy_from_slice(&len.to_be_bytes());
    }
}

/// Reads state fields back, with bounds checks.
pub(crate) struct Loader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Loader<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Self { buf, pos: 0 }
    }

    pub(crate) fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], StateError> {
        if n > self.remaining() {
            return Err(StateError::Truncated(what));
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    pub(crate) fn u8(&mut self, what: &'static str) -> Result<u8, StateError> {
        Ok(self.take(1, what)?[0])
    }

    pub(crate) fn bool(&mut self, what: &'static str) -> Result<bool, StateError> {
        match self.u8(what)? {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(StateError::BadValue(what)),
        }
    }

    pub(crate) fn u16(&mut self, what: &'static str) -> Result<u16, StateError> {
        let b = self.take(2, what)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }

    pub(crate) fn u32(&mut self, what: &'static str) -> Result<u32, StateError> {
        let b = self.take(4, what)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    pub(crate) fn u64(&mut self, what: &'static str) -> Result<u64, StateError> {
        let b = self.take(8, what)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_be_bytes(a))
    }

    /// A length-prefixed byte string of at most `max` bytes.
    pub(crate) fn bytes(&mut self, max: usize, what: &'static str) -> Result<&'a [u8], StateError> {
        let n = usize::try_from(self.u32(what)?).unwrap_or(usize::MAX);
        if n > max {
            return Err(StateError::TooLarge(what));
        }
        self.take(n, what)
    }

    /// A length-prefixed byte string copied into a zeroizing vector.
    pub(crate) fn secret(
        &mut self,
        max: usize,
        what: &'static str,
    ) -> Result<Zeroizing<Vec<u8>>, StateError> {
        Ok(Zeroizing::new(self.bytes(max, what)?.to_vec()))
    }

    /// A TPM structure stored by [`Writer::tpm`]; it must fill its length exactly.
    pub(crate) fn tpm<T: Unmarshal>(&mut self, what: &'static str) -> Result<T, StateError> {
        let body = self.bytes(64 * 1024, what)?;
        let mut r = Reader::new(body);
        let v = T::unmarshal(&mut r).map_err(|_| StateError::BadValue(what))?;
        if !r.is_empty() {
            return Err(StateError::BadValue(what));
        }
        Ok(v)
    }

    /// An optional value written by [`Writer::option`].
    pub(crate) fn option<T: Persist>(
        &mut self,
        what: &'static str,
    ) -> Result<Option<T>, StateError> {
        if self.bool(what)? {
            Ok(Some(T::load(self)?))
        } else {
            Ok(None)
        }
    }

    /// A nested value written by [`Writer::nested`]: `f` must consume it exactly.
    pub(crate) fn nested<T>(
        &mut self,
        what: &'static str,
        f: impl FnOnce(&mut Loader<'a>) -> Result<T, StateError>,
    ) -> Result<T, StateError> {
        let body = self.bytes(usize::MAX, what)?;
        let mut inner = Loader::new(body);
        let v = f(&mut inner)?;
        if inner.remaining() != 0 {
            return Err(StateError::TrailingBytes(what));
        }
        Ok(v)
    }

    /// Fails unless everything was read.
    #[cfg(test)]
    pub(crate) fn finish(&self, what: &'static str) -> Result<(), StateError> {
        if self.remaining() == 0 {
            Ok(())
        } else {
            Err(StateError::TrailingBytes(what))
        }
    }
}

/// A piece of state that goes into the blob.
pub(crate) trait Persist: Sized {
    /// Appends `self`.
    fn save(&self, w: &mut Writer);
    /// Reads a value written by [`Persist::save`].
    fn load(r: &mut Loader<'_>) -> Result<Self, StateError>;
}

impl Persist for u32 {
    fn save(&self, w: &mut Writer) {
        w.u32(*self);
    }
    fn load(r: &mut Loader<'_>) -> Result<Self, StateError> {
        r.u32("u32")
    }
}

impl Persist for u64 {
    fn save(&self, w: &mut Writer) {
        w.u64(*self);
    }
    fn load(r: &mut Loader<'_>) -> Result<Self, StateError> {
        r.u64("u64")
    }
}
