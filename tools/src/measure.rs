//! pv-grub-style boot measurement for TPM 2.0 (reference `xen-vtpm.md` §8).
//!
//! pv-grub extended, with TPM 1.2 TPM_Extend and SHA-1 only:
//! 1. PCR 4 ← SHA-1(kernel image bytes),
//! 2. PCR 5 ← SHA-1(kernel command line, `strlen` bytes, no NUL),
//! 3. PCR 5 ← SHA-1(initrd), SHA-1 of zero bytes when there is none.
//!
//! This module does the same with TPM2_PCR_Extend (part 3 §22.2), each extend carrying a
//! TPML_DIGEST_VALUES with both a SHA-1 and a SHA-256 digest, so the SHA-1 bank matches what
//! pv-grub produced and the SHA-256 bank holds the modern equivalent. Starting from all-zero
//! PCRs (part 1: PCR_new = H(PCR_old ‖ digest)):
//!
//! ```text
//! PCR4 = H(0ⁿ ‖ H(kernel))
//! PCR5 = H(H(0ⁿ ‖ H(cmdline)) ‖ H(initrd))
//! ```

use core::fmt::Write as _;

use sha1::Sha1;
use sha2::{Digest, Sha256};
use tpm2::alg::TpmAlgId;
use tpm2::auth::TpmsAuthCommand;
use tpm2::cc::TpmCc;
use tpm2::client::{Client, ClientError};
use tpm2::commands::CommandParams;
use tpm2::handle::TpmHandle;
use tpm2::structures::{Tpm2bAuth, TpmlDigestValues, TpmlPcrSelection, TpmsPcrSelection, TpmtHa};
use tpm2::transport::Transport;

use crate::Error;

/// The files pv-grub measures.
#[derive(Debug, Clone, Copy)]
pub struct BootFiles<'a> {
    /// The kernel image, exactly as loaded.
    pub kernel: &'a [u8],
    /// The kernel command line (its bytes, without a terminating NUL).
    pub cmdline: &'a str,
    /// The initrd, if any.
    pub initrd: Option<&'a [u8]>,
}

/// The three digests in one hash algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Digests<const N: usize> {
    /// H(kernel).
    pub kernel: [u8; N],
    /// H(cmdline).
    pub cmdline: [u8; N],
    /// H(initrd), H("") without one.
    pub initrd: [u8; N],
}

/// The digests of the boot files in both banks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Measurement {
    /// SHA-1 digests (what pv-grub extended).
    pub sha1: Digests<20>,
    /// SHA-256 digests.
    pub sha256: Digests<32>,
}

/// PCRs 4 and 5 of one bank.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PcrPair<const N: usize> {
    /// PCR 4 (kernel).
    pub pcr4: [u8; N],
    /// PCR 5 (command line, then initrd).
    pub pcr5: [u8; N],
}

/// PCRs 4 and 5 in the SHA-1 and SHA-256 banks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PcrValues {
    /// The SHA-1 bank.
    pub sha1: PcrPair<20>,
    /// The SHA-256 bank.
    pub sha256: PcrPair<32>,
}

/// PCR values a measurement should produce ([`Measurement::expected`]).
pub type ExpectedPcrs = PcrValues;
/// PCR values read from a TPM ([`read_pcrs`]).
pub type ReadPcrs = PcrValues;

impl PcrValues {
    /// All-zero PCRs (after TPM2_Startup(CLEAR); PCRs 4 and 5 reset to zeros).
    pub const ZERO: Self = Self {
        sha1: PcrPair {
            pcr4: [0; 20],
            pcr5: [0; 20],
        },
        sha256: PcrPair {
            pcr4: [0; 32],
            pcr5: [0; 32],
        },
    };
}

fn digests<D: Digest, const N: usize>(files: &BootFiles<'_>) -> Digests<N> {
    let h = |data: &[u8]| array::<N>(&D::digest(data));
    Digests {
        kernel: h(files.kernel),
        cmdline: h(files.cmdline.as_bytes()),
        initrd: h(files.initrd.unwrap_or(&[])),
    }
}

/// Copies a digest into a fixed array (the lengths always agree: `N` is the digest size).
fn array<const N: usize>(bytes: &[u8]) -> [u8; N] {
    let mut out = [0u8; N];
    for (o, b) in out.iter_mut().zip(bytes) {
        *o = *b;
    }
    out
}

/// H(old ‖ digest): one PCR extend.
fn extend_value<D: Digest, const N: usize>(old: &[u8; N], digest: &[u8; N]) -> [u8; N] {
    let mut h = D::new();
    h.update(old);
    h.update(digest);
    array(&h.finalize())
}

fn expected_bank<D: Digest, const N: usize>(start: &PcrPair<N>, d: &Digests<N>) -> PcrPair<N> {
    PcrPair {
        pcr4: extend_value::<D, N>(&start.pcr4, &d.kernel),
        pcr5: extend_value::<D, N>(&extend_value::<D, N>(&start.pcr5, &d.cmdline), &d.initrd),
    }
}

impl Measurement {
    /// Hashes the boot files.
    pub fn of(files: &BootFiles<'_>) -> Self {
        Self {
            sha1: digests::<Sha1, 20>(files),
            sha256: digests::<Sha256, 32>(files),
        }
    }

    /// PCRs 4 and 5 after [`extend`] on a TPM whose PCRs 4 and 5 were all zero.
    pub fn expected(&self) -> ExpectedPcrs {
        self.expected_from(&PcrValues::ZERO)
    }

    /// PCRs 4 and 5 after [`extend`] on a TPM whose PCRs 4 and 5 held `start`.
    pub fn expected_from(&self, start: &PcrValues) -> ExpectedPcrs {
        PcrValues {
            sha1: expected_bank::<Sha1, 20>(&start.sha1, &self.sha1),
            sha256: expected_bank::<Sha256, 32>(&start.sha256, &self.sha256),
        }
    }
}

tpm2::wire_struct! {
    /// TPM2_PCR_Extend command parameters (part 3 §22.2); the PCR is the command's handle.
    pub struct PcrExtendCommand("TPM2_PCR_Extend") {
        /// One digest per bank to extend.
        pub digests: TpmlDigestValues,
    }
}
impl CommandParams for PcrExtendCommand {
    const CODE: TpmCc = TpmCc::PCR_EXTEND;
}

fn client_error(e: ClientError<Error>) -> Error {
    match e {
        ClientError::Transport(e) => e,
        ClientError::Wire(e) => Error::Wire(e),
        ClientError::Tpm { command, rc } => Error::Tpm { command, rc },
    }
}

/// A TPML_DIGEST_VALUES of one SHA-1 and one SHA-256 digest.
fn both(sha1: &[u8; 20], sha256: &[u8; 32]) -> Result<TpmlDigestValues, Error> {
    Ok(TpmlDigestValues::new(vec![
        TpmtHa::new(TpmAlgId::SHA1, sha1)?,
        TpmtHa::new(TpmAlgId::SHA256, sha256)?,
    ])?)
}

/// Extends the measurement into the TPM as pv-grub does (§8): PCR 4 ← kernel, then PCR 5 ←
/// command line, then PCR 5 ← initrd; each TPM2_PCR_Extend carries both banks' digests and a
/// password session (TPM_RS_PW, empty auth, the PCRs' default). Every response code is checked:
/// the first failure is returned and later extends are not sent.
pub fn extend(tpm: &mut dyn Transport<Error = Error>, m: &Measurement) -> Result<(), Error> {
    let mut client = Client::new(tpm);
    let steps = [
        (4, both(&m.sha1.kernel, &m.sha256.kernel)?),
        (5, both(&m.sha1.cmdline, &m.sha256.cmdline)?),
        (5, both(&m.sha1.initrd, &m.sha256.initrd)?),
    ];
    for (pcr, digests) in steps {
        let session = TpmsAuthCommand::password(Tpm2bAuth::empty());
        client
            .call_no_output(&[TpmHandle(pcr)], &[session], &PcrExtendCommand { digests })
            .map_err(client_error)?;
    }
    Ok(())
}

/// Reads PCRs 4 and 5 of the SHA-1 and SHA-256 banks with one TPM2_PCR_Read (part 3 §22.4).
/// A TPM that returns a different selection (e.g. a bank not allocated) is an error.
pub fn read_pcrs(tpm: &mut dyn Transport<Error = Error>) -> Result<ReadPcrs, Error> {
    let selection = TpmlPcrSelection::new(vec![
        TpmsPcrSelection::new(TpmAlgId::SHA1, &[4, 5])?,
        TpmsPcrSelection::new(TpmAlgId::SHA256, &[4, 5])?,
    ])?;
    let mut client = Client::new(tpm);
    let r = client.pcr_read(selection.clone()).map_err(client_error)?;
    let values = r.pcr_values.as_slice();
    if r.pcr_selection_out != selection || values.len() != 4 {
        return Err(Error::Wire(tpm2::Error::SizeMismatch {
            what: "TPM2_PCR_Read values for sha1:4,5 and sha256:4,5",
            declared: 4,
            actual: values.len(),
        }));
    }
    let sized = |i: usize, n: usize| {
        let v = values.get(i).map_or(&[][..], |d| d.as_bytes());
        if v.len() == n {
            Ok(v)
        } else {
            Err(Error::Wire(tpm2::Error::SizeMismatch {
                what: "PCR value",
                declared: n,
                actual: v.len(),
            }))
        }
    };
    Ok(PcrValues {
        sha1: PcrPair {
            pcr4: array(sized(0, 20)?),
            pcr5: array(sized(1, 20)?),
        },
        sha256: PcrPair {
            pcr4: array(sized(2, 32)?),
            pcr5: array(sized(3, 32)?),
        },
    })
}

/// Lowercase hex.
pub fn hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(2 * bytes.len());
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}
