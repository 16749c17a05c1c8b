//! Command audit (TCG TPM 2.0 Library part 1 §33 "Command Audit"; part 3 §21.2
//! TPM2_SetCommandCodeAuditStatus, §18.6 TPM2_GetCommandAuditDigest).
//!
//! The TPM keeps a list of audited command codes, the audit hash algorithm, the audit counter
//! and the command audit digest. After every audited command that succeeds,
//! `commandAuditDigest = H_auditAlg(commandAuditDigest || cpHash || rpHash)`, with cpHash and
//! rpHash computed with the audit algorithm over the command as received and the response as
//! sent (part 1 §18.7, §18.9). A digest that is empty (cleared) first becomes zeros of the
//! digest size and the audit counter is incremented: each counter value names one audit log.
//!
//! As in the reference implementation (libtpms `CommandAudit.c`, `SessionProcess.c`):
//!
//! - a new TPM audits only TPM2_SetCommandCodeAuditStatus, which can never be removed from the
//!   list; TPM2_Shutdown can never be added; the audit algorithm starts as SHA-512
//!   (`CONTEXT_INTEGRITY_HASH_ALG`) and the counter at 0;
//! - a TPM2_SetCommandCodeAuditStatus that changes the algorithm clears the digest and is not
//!   itself audited (the next audited command starts a new log);
//! - the digest survives TPM Restart and TPM Resume and is cleared by TPM Reset
//!   (`CommandAuditStartup`); TPM2_GetCommandAuditDigest with a signing key clears it.
//!
//! The list, algorithm, counter and digest are kept in the state blob's optional command-audit
//! section (`state.rs`, tag 7), written only when they differ from a new TPM's.

use alloc::collections::BTreeSet;
use alloc::vec::Vec;

use tpm2::cc::TpmCc;

use super::codec::{Loader, Persist, Writer};
use super::crypto::hash::{HashAlg, Hasher, digest};
use super::state::StateError;

/// The audit algorithm of a new TPM (libtpms' CONTEXT_INTEGRITY_HASH_ALG).
pub(crate) const DEFAULT_AUDIT_ALG: HashAlg = HashAlg::Sha512;

/// Most audited commands a state blob may list (more than the library defines).
const MAX_AUDITED: usize = 512;

/// The command-audit state of the TPM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CommandAudit {
    /// auditHashAlg.
    pub alg: HashAlg,
    /// The audited command codes.
    pub commands: BTreeSet<u32>,
    /// auditCounter: the number of audit logs started.
    pub counter: u64,
    /// commandAuditDigest; empty when cleared.
    pub digest: Vec<u8>,
}

impl Default for CommandAudit {
    fn default() -> Self {
        let mut commands = BTreeSet::new();
        commands.insert(TpmCc::SET_COMMAND_CODE_AUDIT_STATUS.0);
        Self {
            alg: DEFAULT_AUDIT_ALG,
            commands,
            counter: 0,
            digest: Vec::new(),
        }
    }
}

impl CommandAudit {
    /// Whether `cc` is audited.
    pub(crate) fn is_audited(&self, cc: TpmCc) -> bool {
        self.commands.contains(&cc.0)
    }

    /// Adds `cc` (which the caller checked is implemented) to the list; TPM2_Shutdown is never
    /// audited. True if the list changed.
    pub(crate) fn set(&mut self, cc: TpmCc) -> bool {
        cc != TpmCc::SHUTDOWN && self.commands.insert(cc.0)
    }

    /// Removes `cc` from the list; TPM2_SetCommandCodeAuditStatus always stays. True if the
    /// list changed.
    pub(crate) fn clear(&mut self, cc: TpmCc) -> bool {
        cc != TpmCc::SET_COMMAND_CODE_AUDIT_STATUS && self.commands.remove(&cc.0)
    }

    /// The digest of the audited command codes in ascending order, each as four big-endian
    /// octets (TPMS_COMMAND_AUDIT_INFO.commandDigest; libtpms `CommandAuditGetDigest`).
    pub(crate) fn commands_digest(&self) -> Vec<u8> {
        let mut h = Hasher::new(self.alg);
        for cc in &self.commands {
            h.update(&cc.to_be_bytes());
        }
        h.finish()
    }

    /// Extends the digest with one audited command; starts a new log (zero digest, counter
    /// incremented) when the digest is clear.
    pub(crate) fn extend(&mut self, cp_hash: &[u8], rp_hash: &[u8]) {
        if self.digest.is_empty() {
            self.digest = alloc::vec![0u8; self.alg.digest_size()];
            self.counter = self.counter.wrapping_add(1);
        }
        self.digest = digest(self.alg, &[&self.digest, cp_hash, rp_hash]);
    }

    /// Whether this is a new TPM's audit state (then the blob does not carry it).
    pub(crate) fn is_pristine(&self) -> bool {
        *self == Self::default()
    }
}

impl Persist for CommandAudit {
    fn save(&self, w: &mut Writer) {
        w.u16(self.alg.alg().0);
        w.u32(u32::try_from(self.commands.len()).unwrap_or(u32::MAX));
        for cc in &self.commands {
            w.u32(*cc);
        }
        w.u64(self.counter);
        w.bytes(&self.digest);
    }

    fn load(r: &mut Loader<'_>) -> Result<Self, StateError> {
        let alg = HashAlg::from_alg(tpm2::alg::TpmAlgId(r.u16("audit hash algorithm")?))
            .ok_or(StateError::BadValue("audit hash algorithm"))?;
        let n = usize::try_from(r.u32("audited commands")?).unwrap_or(usize::MAX);
        if n > MAX_AUDITED {
            return Err(StateError::TooLarge("audited commands"));
        }
        let mut commands = BTreeSet::new();
        for _ in 0..n {
            if !commands.insert(r.u32("audited command")?) {
                return Err(StateError::BadValue("audited commands"));
            }
        }
        let counter = r.u64("audit counter")?;
        let digest = r.bytes(alg.digest_size(), "command audit digest")?.to_vec();
        if !digest.is_empty() && digest.len() != alg.digest_size() {
            return Err(StateError::BadValue("command audit digest"));
        }
        Ok(Self {
            alg,
            commands,
            counter,
            digest,
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use sha2::Digest;

    #[test]
    fn new_tpm_audits_only_set_command_code_audit_status() {
        let a = CommandAudit::default();
        assert!(a.is_audited(TpmCc::SET_COMMAND_CODE_AUDIT_STATUS));
        assert!(!a.is_audited(TpmCc::GET_RANDOM));
        assert_eq!(a.alg, HashAlg::Sha512);
        assert!(a.is_pristine());
        let want = sha2::Sha512::digest([0, 0, 1, 0x40]);
        assert_eq!(a.commands_digest(), want.to_vec());
    }

    #[test]
    fn set_and_clear_rules() {
        let mut a = CommandAudit::default();
        assert!(!a.set(TpmCc::SHUTDOWN));
        assert!(a.set(TpmCc::GET_RANDOM));
        assert!(!a.set(TpmCc::GET_RANDOM));
        assert!(!a.clear(TpmCc::SET_COMMAND_CODE_AUDIT_STATUS));
        assert!(a.clear(TpmCc::GET_RANDOM));
        assert!(!a.clear(TpmCc::GET_RANDOM));
        a.alg = HashAlg::Sha256;
        a.set(TpmCc::GET_RANDOM);
        // Ascending order: 0x140 before 0x17B.
        let want = sha2::Sha256::digest([0, 0, 1, 0x40, 0, 0, 1, 0x7B]);
        assert_eq!(a.commands_digest(), want.to_vec());
    }

    #[test]
    fn extend_starts_a_log_from_zero_and_counts_it() {
        let mut a = CommandAudit {
            alg: HashAlg::Sha256,
            ..CommandAudit::default()
        };
        a.extend(b"cp1", b"rp1");
        assert_eq!(a.counter, 1);
        let first = sha2::Sha256::digest([&[0u8; 32][..], b"cp1", b"rp1"].concat());
        assert_eq!(a.digest, first.to_vec());
        a.extend(b"cp2", b"rp2");
        assert_eq!(a.counter, 1);
        let second = sha2::Sha256::digest([&first[..], b"cp2", b"rp2"].concat());
        assert_eq!(a.digest, second.to_vec());
        a.digest.clear();
        a.extend(b"cp3", b"rp3");
        assert_eq!(a.counter, 2);
    }

    #[test]
    fn persist_round_trip_and_hostile_blobs() {
        let mut a = CommandAudit::default();
        a.set(TpmCc::GET_RANDOM);
        a.extend(b"c", b"r");
        let mut w = Writer::new();
        a.save(&mut w);
        let mut r = Loader::new(&w.out);
        assert_eq!(CommandAudit::load(&mut r).unwrap(), a);
        r.finish("audit").unwrap();
        // A digest of the wrong size, an unknown algorithm, a repeated command.
        let mut bad = w.out.to_vec();
        let len_at = bad.len() - 64 - 4;
        bad[len_at + 3] = 63;
        bad.pop();
        assert_eq!(
            CommandAudit::load(&mut Loader::new(&bad)),
            Err(StateError::BadValue("command audit digest"))
        );
        let mut bad = w.out.to_vec();
        bad[1] = 0x99;
        assert_eq!(
            CommandAudit::load(&mut Loader::new(&bad)),
            Err(StateError::BadValue("audit hash algorithm"))
        );
        let mut bad = w.out.to_vec();
        bad[10..14].copy_from_slice(&0x140u32.to_be_bytes());
        assert_eq!(
            CommandAudit::load(&mut Loader::new(&bad)),
            Err(StateError::BadValue("audited commands"))
        );
    }
}
