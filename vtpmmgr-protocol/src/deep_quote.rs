//! DeepQuote: a guest asks its vTPM for a *hardware* quote that covers the vTPM's own PCRs.
//!
//! Xen's vTPM offers this as the vendor ordinal TPM_ORD_DeepQuote (reference `xen-vtpm.md`
//! §3.7): the vTPM hashes the guest's nonce with its selected PCRs and sends the result as
//! GET_QUOTE's nonce to the manager, which has the hardware TPM sign it. This is the TPM 2.0
//! form of the same idea, as a vendor command code (part 2 §6.5.2: bit 29, V, set):
//!
//! | command field | size | |
//! |---|---|---|
//! | tag, size, commandCode | 10 | `0x8001`, size, [`CC_DEEP_QUOTE`] |
//! | nonce | TPM2B (≤ 32) | the verifier's nonce |
//! | vtpmPcrs | u32 | bitmap of the vTPM's SHA-256 PCRs 0–23 to bind |
//! | hwPcrs | u32 | bitmap of hardware PCRs the manager quotes (non-zero) |
//! | flags | u32 | GET_QUOTE's `QUOTE_*` flags |
//!
//! The vTPM computes [`binding`] over the nonce and the values of `vtpmPcrs`, asks the manager
//! for GET_QUOTE(binding, hwPcrs, flags), and answers (after a 10-byte success header)
//! `vtpmPcrs ‖ u32 count ‖ values[32 × count] ‖` the manager's quote reply body. A verifier
//! recomputes the binding from its nonce and the returned vTPM PCR values, then
//! [`quote_qualifying_data`] from the binding and the returned hashes, and checks that the
//! hardware quote's extraData equals it and that the group's attestation key signed it.

use alloc::vec::Vec;

use sha2::{Digest, Sha256};

use tpm2::marshal::Reader;

use crate::QuoteReply;

/// The vendor command code (V bit set, index 1).
pub const CC_DEEP_QUOTE: u32 = 0x2000_0001;
/// The largest nonce.
pub const MAX_NONCE: usize = 32;
/// The domain separator of [`binding`].
const BINDING_LABEL: &[u8] = b"VTPM DEEPQUOTE v1\0";

/// A parsed DeepQuote command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeepQuoteCommand {
    /// The verifier's nonce (at most [`MAX_NONCE`] bytes).
    pub nonce: Vec<u8>,
    /// The vTPM PCRs to bind (bitmap of PCRs 0–23).
    pub vtpm_pcrs: u32,
    /// The hardware PCRs to quote (bitmap, non-zero).
    pub hw_pcrs: u32,
    /// GET_QUOTE's flags.
    pub flags: u32,
}

/// Why a DeepQuote command or answer is malformed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeepQuoteError {
    /// Fewer bytes than the fields need, or a size field that disagrees with the bytes.
    Truncated(&'static str),
    /// Bytes after the last field.
    Trailing,
    /// Not the DeepQuote command code or not the no-sessions tag.
    NotDeepQuote,
    /// A nonce over [`MAX_NONCE`] bytes.
    NonceTooLong,
    /// A vTPM PCR above 23, or no hardware PCR.
    BadSelection,
}

impl core::fmt::Display for DeepQuoteError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Truncated(what) => write!(f, "DeepQuote: truncated {what}"),
            Self::Trailing => f.write_str("DeepQuote: bytes after the last field"),
            Self::NotDeepQuote => f.write_str("not a DeepQuote command"),
            Self::NonceTooLong => write!(f, "DeepQuote: nonce longer than {MAX_NONCE} bytes"),
            Self::BadSelection => {
                f.write_str("DeepQuote: vTPM PCRs above 23 or no hardware PCR selected")
            }
        }
    }
}

impl DeepQuoteCommand {
    /// The command bytes.
    pub fn encode(&self) -> Vec<u8> {
        let mut p = Vec::new();
        p.extend_from_slice(&0x8001u16.to_be_bytes());
        p.extend_from_slice(&0u32.to_be_bytes());
        p.extend_from_slice(&CC_DEEP_QUOTE.to_be_bytes());
        let n = u16::try_from(self.nonce.len()).unwrap_or(u16::MAX);
        p.extend_from_slice(&n.to_be_bytes());
        p.extend_from_slice(&self.nonce);
        p.extend_from_slice(&self.vtpm_pcrs.to_be_bytes());
        p.extend_from_slice(&self.hw_pcrs.to_be_bytes());
        p.extend_from_slice(&self.flags.to_be_bytes());
        let size = u32::try_from(p.len()).unwrap_or(u32::MAX).to_be_bytes();
        p[2..6].copy_from_slice(&size);
        p
    }

    /// Whether `command` carries the DeepQuote command code (before any other check).
    pub fn is_deep_quote(command: &[u8]) -> bool {
        command.get(6..10) == Some(&CC_DEEP_QUOTE.to_be_bytes()[..])
    }

    /// Parses and validates a whole command.
    pub fn parse(command: &[u8]) -> Result<DeepQuoteCommand, DeepQuoteError> {
        let mut r = Reader::new(command);
        let tag = r
            .u16("tag")
            .map_err(|_| DeepQuoteError::Truncated("header"))?;
        let size = r
            .u32("size")
            .map_err(|_| DeepQuoteError::Truncated("header"))?;
        let code = r
            .u32("code")
            .map_err(|_| DeepQuoteError::Truncated("header"))?;
        if tag != 0x8001 || code != CC_DEEP_QUOTE {
            return Err(DeepQuoteError::NotDeepQuote);
        }
        if usize::try_from(size).ok() != Some(command.len()) {
            return Err(DeepQuoteError::Truncated("size field"));
        }
        let n = usize::from(
            r.u16("nonce size")
                .map_err(|_| DeepQuoteError::Truncated("nonce"))?,
        );
        if n > MAX_NONCE {
            return Err(DeepQuoteError::NonceTooLong);
        }
        let nonce = r
            .bytes(n, "nonce")
            .map_err(|_| DeepQuoteError::Truncated("nonce"))?
            .to_vec();
        let vtpm_pcrs = r
            .u32("vtpmPcrs")
            .map_err(|_| DeepQuoteError::Truncated("vtpmPcrs"))?;
        let hw_pcrs = r
            .u32("hwPcrs")
            .map_err(|_| DeepQuoteError::Truncated("hwPcrs"))?;
        let flags = r
            .u32("flags")
            .map_err(|_| DeepQuoteError::Truncated("flags"))?;
        if !r.take_rest().is_empty() {
            return Err(DeepQuoteError::Trailing);
        }
        if vtpm_pcrs >> 24 != 0 || hw_pcrs == 0 {
            return Err(DeepQuoteError::BadSelection);
        }
        Ok(DeepQuoteCommand {
            nonce,
            vtpm_pcrs,
            hw_pcrs,
            flags,
        })
    }
}

/// The PCR numbers of a bitmap, ascending.
pub fn pcrs_of(bitmap: u32) -> Vec<u32> {
    (0..32).filter(|i| bitmap & (1 << i) != 0).collect()
}

/// GET_QUOTE's nonce for a DeepQuote: the first 20 bytes of
/// `SHA-256("VTPM DEEPQUOTE v1\0" ‖ u16 len ‖ nonce ‖ vtpmPcrs ‖ values…)`, the values being
/// the vTPM's SHA-256 PCRs of `vtpm_pcrs` in ascending order.
pub fn binding(nonce: &[u8], vtpm_pcrs: u32, values: &[[u8; 32]]) -> [u8; 20] {
    let mut h = Sha256::new();
    h.update(BINDING_LABEL);
    h.update(u16::try_from(nonce.len()).unwrap_or(u16::MAX).to_be_bytes());
    h.update(nonce);
    h.update(vtpm_pcrs.to_be_bytes());
    for v in values {
        h.update(v);
    }
    let d = h.finalize();
    let mut out = [0u8; 20];
    out.copy_from_slice(&d[..20]);
    out
}

/// The qualifying data GET_QUOTE asks the hardware TPM to sign:
/// `SHA-256(flags (u32 BE) ‖ nonce[20] ‖ hashes…)`. (Xen: SHA-1 with the flags in host byte
/// order, reference §3.5.)
pub fn quote_qualifying_data(flags: u32, nonce: &[u8; 20], hashes: &[[u8; 32]]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(flags.to_be_bytes());
    h.update(nonce);
    for x in hashes {
        h.update(x);
    }
    h.finalize().into()
}

/// A DeepQuote answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeepQuoteResponse {
    /// The vTPM PCRs bound.
    pub vtpm_pcrs: u32,
    /// Their SHA-256 values, ascending.
    pub vtpm_values: Vec<[u8; 32]>,
    /// The manager's GET_QUOTE answer.
    pub quote: QuoteReply,
}

impl DeepQuoteResponse {
    /// The response bytes (success header included).
    pub fn encode(&self) -> Vec<u8> {
        let mut p = Vec::new();
        p.extend_from_slice(&0x8001u16.to_be_bytes());
        p.extend_from_slice(&0u32.to_be_bytes());
        p.extend_from_slice(&0u32.to_be_bytes());
        p.extend_from_slice(&self.vtpm_pcrs.to_be_bytes());
        let n = u32::try_from(self.vtpm_values.len()).unwrap_or(u32::MAX);
        p.extend_from_slice(&n.to_be_bytes());
        for v in &self.vtpm_values {
            p.extend_from_slice(v);
        }
        p.extend_from_slice(&crate::encode_quote_reply(&self.quote));
        let size = u32::try_from(p.len()).unwrap_or(u32::MAX).to_be_bytes();
        p[2..6].copy_from_slice(&size);
        p
    }

    /// Parses a successful answer (the caller checks the response code first).
    pub fn parse(response: &[u8]) -> Result<DeepQuoteResponse, DeepQuoteError> {
        let body = response
            .get(10..)
            .ok_or(DeepQuoteError::Truncated("header"))?;
        let mut r = Reader::new(body);
        let vtpm_pcrs = r
            .u32("vtpmPcrs")
            .map_err(|_| DeepQuoteError::Truncated("vtpmPcrs"))?;
        let n = r
            .u32("count")
            .map_err(|_| DeepQuoteError::Truncated("count"))?;
        if n > 24 {
            return Err(DeepQuoteError::BadSelection);
        }
        let mut vtpm_values = Vec::new();
        for _ in 0..n {
            vtpm_values.push(
                r.array("vTPM PCR value")
                    .map_err(|_| DeepQuoteError::Truncated("vTPM PCR values"))?,
            );
        }
        let quote = crate::parse_quote_reply(r.take_rest())
            .map_err(|_| DeepQuoteError::Truncated("the manager's quote"))?;
        Ok(DeepQuoteResponse {
            vtpm_pcrs,
            vtpm_values,
            quote,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_round_trip_and_hostile_ones_are_refused() {
        let c = DeepQuoteCommand {
            nonce: alloc::vec![7; 32],
            vtpm_pcrs: 0x30,
            hw_pcrs: 0x1,
            flags: 0xf,
        };
        let bytes = c.encode();
        assert!(DeepQuoteCommand::is_deep_quote(&bytes));
        assert_eq!(DeepQuoteCommand::parse(&bytes), Ok(c.clone()));
        for cut in 0..bytes.len() {
            assert!(DeepQuoteCommand::parse(&bytes[..cut]).is_err(), "cut {cut}");
        }
        let mut long = c.clone();
        long.nonce = alloc::vec![0; 33];
        assert_eq!(
            DeepQuoteCommand::parse(&long.encode()),
            Err(DeepQuoteError::NonceTooLong)
        );
        let mut sel = c.clone();
        sel.vtpm_pcrs = 1 << 24;
        assert_eq!(
            DeepQuoteCommand::parse(&sel.encode()),
            Err(DeepQuoteError::BadSelection)
        );
        sel.vtpm_pcrs = 1;
        sel.hw_pcrs = 0;
        assert_eq!(
            DeepQuoteCommand::parse(&sel.encode()),
            Err(DeepQuoteError::BadSelection)
        );
    }

    #[test]
    fn the_binding_covers_every_input() {
        let v = [[1u8; 32], [2u8; 32]];
        let b = binding(b"nonce", 0x30, &v);
        assert_ne!(b, binding(b"nonce!", 0x30, &v));
        assert_ne!(b, binding(b"nonce", 0x31, &v));
        assert_ne!(b, binding(b"nonce", 0x30, &[[1u8; 32], [3u8; 32]]));
        assert_eq!(pcrs_of(0x30), alloc::vec![4, 5]);
    }

    #[test]
    fn answers_round_trip() {
        let a = DeepQuoteResponse {
            vtpm_pcrs: 0x30,
            vtpm_values: alloc::vec![[1; 32], [2; 32]],
            quote: QuoteReply {
                attest: alloc::vec![1, 2, 3],
                signature: alloc::vec![4, 5],
                hashes: alloc::vec![[9; 32]],
                pcr_values: alloc::vec![[8; 32]],
            },
        };
        let bytes = a.encode();
        assert_eq!(DeepQuoteResponse::parse(&bytes), Ok(a));
        for cut in 0..bytes.len() {
            let _ = DeepQuoteResponse::parse(&bytes[..cut]);
        }
    }
}
