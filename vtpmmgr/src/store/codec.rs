//! Bounds-checked big-endian reading of decrypted payloads and header sectors. Every read
//! returns `Err(what)` naming the field when the input is too short; nothing here can panic.

/// A cursor over hostile bytes.
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

pub(crate) type Parse<T> = Result<T, &'static str>;

impl<'a> Reader<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Reader<'a> {
        Reader { buf, pos: 0 }
    }

    pub(crate) fn bytes(&mut self, n: usize, what: &'static str) -> Parse<&'a [u8]> {
        let end = self.pos.checked_add(n).ok_or(what)?;
        let out = self.buf.get(self.pos..end).ok_or(what)?;
        self.pos = end;
        Ok(out)
    }

    pub(crate) fn array<const N: usize>(&mut self, what: &'static str) -> Parse<[u8; N]> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.bytes(N, what)?);
        Ok(out)
    }

    pub(crate) fn u8(&mut self, what: &'static str) -> Parse<u8> {
        Ok(self.array::<1>(what)?[0])
    }

    pub(crate) fn u16(&mut self, what: &'static str) -> Parse<u16> {
        Ok(u16::from_be_bytes(self.array(what)?))
    }

    pub(crate) fn u32(&mut self, what: &'static str) -> Parse<u32> {
        Ok(u32::from_be_bytes(self.array(what)?))
    }

    pub(crate) fn u64(&mut self, what: &'static str) -> Parse<u64> {
        Ok(u64::from_be_bytes(self.array(what)?))
    }

    /// Checks that everything after the cursor is zero (the canonical padding).
    pub(crate) fn zero_rest(&self, what: &'static str) -> Parse<()> {
        let rest = self.buf.get(self.pos..).unwrap_or(&[]);
        if rest.iter().all(|b| *b == 0) {
            Ok(())
        } else {
            Err(what)
        }
    }
}
