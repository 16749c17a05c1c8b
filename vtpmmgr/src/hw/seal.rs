//! Provisioning and unsealing: the SK under the SRK, the root key sealed under the SK, the NV
//! counter, and the binding that ties them together (docs/manager-hw.md, "Provision" and
//! "Unseal").
//!
//! Commands: TPM2_Create (part 3 §12.1), TPM2_Load (§12.2), TPM2_Unseal (§12.7),
//! TPM2_StartAuthSession (§11.1), TPM2_PolicyPCR (§23.7), TPM2_NV_DefineSpace (§31.3),
//! TPM2_NV_UndefineSpace (§31.4), TPM2_NV_Increment (§31.8), TPM2_NV_ReadPublic (§31.6),
//! TPM2_FlushContext (§28.4).

use alloc::vec::Vec;

use tpm2::Marshal;
use tpm2::alg::TpmAlgId;
use tpm2::cc::TpmCc;
use tpm2::handle::TpmHandle;
use tpm2::rc::TpmRc;
use tpm2::structures::{
    Tpm2bAuth, Tpm2bDigest, Tpm2bName, Tpm2bNvPublic, Tpm2bSensitiveData, TpmNt, TpmaNv,
    TpmsNvPublic,
};
use tpm2::transport::Transport;
use zeroize::Zeroizing;

use super::binding::{Binding, BoundPolicy, NAME_SIZE};
use super::error::{AuthEntity, HwError, auth_context};
use super::wire::password;
use super::{HwTpm, NV_INDEX_TRIES, policy, templates};

/// The attributes of the counter index: TPM_NT_COUNTER | AUTHWRITE | AUTHREAD | NO_DA
/// (0x02040014). TPMA_NV_WRITTEN is added by the TPM at the first increment.
pub const NV_COUNTER_ATTRIBUTES: u32 =
    TpmaNv::AUTHWRITE | TpmaNv::AUTHREAD | TpmaNv::NO_DA | ((TpmNt::COUNTER.0 as u32) << 4);

/// How often the policy is re-run when the PCRs change between TPM2_PolicyPCR and
/// TPM2_Unseal (TPM_RC_PCR_CHANGED).
const PCR_CHANGED_RETRIES: u32 = 3;

impl<T: Transport> HwTpm<T> {
    /// Creates the SK, seals `root_key` under it (with the configured PCR policy), defines and
    /// increments the NV counter (authorized by `nv_auth`), and returns the binding bytes.
    pub fn provision(
        &mut self,
        root_key: &[u8; 32],
        nv_auth: &[u8; 32],
    ) -> Result<Vec<u8>, HwError> {
        let sk = self.create(self.srk, &templates::sk(), &[])?;
        let bound_policy = match self.config.pcr_policy {
            Some(p) => Some(self.policy_now(p.bank, p.pcrs)?),
            None => None,
        };
        let sk_handle = self.load(self.srk, &sk.private, &sk.public_bytes, "SK")?;
        let sealed = self.create(
            sk_handle,
            &templates::sealed(bound_policy.as_ref().map(|p| &p.digest)),
            root_key,
        );
        let flushed = self.wire.flush(sk_handle);
        let sealed = sealed?;
        flushed?;

        let (nv_index, nv_name) = self.define_counter(nv_auth)?;
        let mut srk_name = [0; NAME_SIZE];
        if self.srk_name.len() != NAME_SIZE {
            return Err(HwError::Unexpected("the SRK Name is not a SHA-256 Name"));
        }
        srk_name.copy_from_slice(&self.srk_name);
        let binding = Binding {
            srk_name,
            sk_public: sk.public_bytes,
            sk_private: sk.private,
            sealed_public: sealed.public_bytes,
            sealed_private: sealed.private,
            policy: bound_policy,
            nv_index,
            nv_name,
        };
        Ok(binding.to_bytes())
    }

    /// Unseals the root key of `binding`: loads the SK under the SRK and the sealed object under
    /// the SK, and runs TPM2_Unseal with a password session (no policy) or a policy session
    /// satisfied by TPM2_PolicyPCR. Everything loaded is flushed on every path.
    pub fn unseal(&mut self, binding: &[u8]) -> Result<Zeroizing<[u8; 32]>, HwError> {
        let b = Binding::parse(binding)?;
        if b.srk_name.as_slice() != self.srk_name.as_slice() {
            return Err(HwError::WrongTpm {
                reason: "the binding's SRK Name is not this TPM's SRK",
            });
        }
        let sk = self.load(self.srk, &b.sk_private, &b.sk_public, "SK")?;
        let result = self.unseal_under(sk, &b);
        let flushed = self.wire.flush(sk);
        let key = result?;
        flushed?;
        Ok(key)
    }

    fn unseal_under(&mut self, sk: TpmHandle, b: &Binding) -> Result<Zeroizing<[u8; 32]>, HwError> {
        let sealed = self.load(sk, &b.sealed_private, &b.sealed_public, "sealed key")?;
        let result = match &b.policy {
            None => password(&[]).and_then(|pw| self.unseal_with(sealed, pw)),
            Some(p) => self.unseal_with_policy(sealed, p),
        };
        let flushed = self.wire.flush(sealed);
        let key = result?;
        flushed?;
        Ok(key)
    }

    fn unseal_with_policy(
        &mut self,
        sealed: TpmHandle,
        p: &BoundPolicy,
    ) -> Result<Zeroizing<[u8; 32]>, HwError> {
        let selection = policy::selection(p.bank, p.pcrs)?;
        let mut attempt = 0;
        loop {
            let session = self.wire.start_policy_session()?;
            let result = (|| {
                let mut params = Vec::new();
                Tpm2bDigest::empty().marshal(&mut params);
                selection.marshal(&mut params);
                let a = self
                    .wire
                    .exec(TpmCc::POLICY_PCR, &[session], &[], &params)?;
                a.reader(TpmCc::POLICY_PCR).finish()?;
                let auth = self.wire.policy_auth(session);
                self.unseal_with(sealed, auth)
            })();
            let flushed = self.wire.flush(session);
            match result {
                Err(HwError::Tpm { rc, .. })
                    if rc.base() == TpmRc::PCR_CHANGED && attempt < PCR_CHANGED_RETRIES =>
                {
                    attempt += 1;
                }
                Err(HwError::Tpm { rc, .. }) if rc.base() == TpmRc::POLICY_FAIL => {
                    return Err(HwError::PolicyMismatch);
                }
                other => {
                    let key = other?;
                    flushed?;
                    return Ok(key);
                }
            }
        }
    }

    fn unseal_with(
        &mut self,
        sealed: TpmHandle,
        auth: tpm2::auth::TpmsAuthCommand,
    ) -> Result<Zeroizing<[u8; 32]>, HwError> {
        let a = self.wire.exec(TpmCc::UNSEAL, &[sealed], &[auth], &[])?;
        let mut r = a.reader(TpmCc::UNSEAL);
        let data: Tpm2bSensitiveData = r.read()?;
        r.finish()?;
        let key: [u8; 32] = data
            .as_bytes()
            .try_into()
            .map_err(|_| HwError::Unexpected("the sealed root key is not 32 bytes"))?;
        Ok(Zeroizing::new(key))
    }

    /// The PCR policy over the current values of `pcrs` in `bank`.
    fn policy_now(&mut self, bank: TpmAlgId, pcrs: u32) -> Result<BoundPolicy, HwError> {
        if pcrs == 0 {
            return Err(HwError::BadArgument("the PCR policy selects no PCR"));
        }
        let selection = policy::selection(bank, pcrs)?;
        let values = self.read_pcrs(bank, pcrs)?;
        let digest = policy::policy_pcr(&selection, &policy::pcr_digest(&values));
        Ok(BoundPolicy { bank, pcrs, digest })
    }

    /// Defines the counter at the first free index from `config.nv_index` on, increments it
    /// once and returns its index and Name. On failure after the definition the index is
    /// undefined again.
    fn define_counter(&mut self, nv_auth: &[u8; 32]) -> Result<(u32, [u8; NAME_SIZE]), HwError> {
        let first = self.config.nv_index;
        for i in 0..NV_INDEX_TRIES {
            let index = TpmHandle(first.wrapping_add(i));
            if index.ty() != tpm2::handle::TpmHt::NV_INDEX {
                return Err(HwError::BadArgument(
                    "nv_index is not an NV index handle (0x01xxxxxx)",
                ));
            }
            let public = TpmsNvPublic {
                nv_index: index,
                name_alg: TpmAlgId::SHA256,
                attributes: TpmaNv(NV_COUNTER_ATTRIBUTES),
                auth_policy: Tpm2bDigest::empty(),
                data_size: 8,
            };
            let mut p = Zeroizing::new(Vec::new());
            Tpm2bAuth::new(nv_auth)
                .map_err(|_| HwError::BadArgument("nv_auth"))?
                .marshal(&mut p);
            Tpm2bNvPublic::from(public).marshal(&mut p);
            let owner = password(&self.config.owner_auth)?;
            match self
                .wire
                .exec(TpmCc::NV_DEFINE_SPACE, &[TpmHandle::OWNER], &[owner], &p)
            {
                Ok(a) => a.reader(TpmCc::NV_DEFINE_SPACE).finish()?,
                Err(HwError::Tpm { rc, .. }) if rc.base() == TpmRc::NV_DEFINED => continue,
                Err(e) => return Err(auth_context(e, AuthEntity::Owner, 1)),
            }
            let result = self.nv_increment(index, nv_auth).and_then(|()| {
                let (public, name) = self.nv_read_public(index)?;
                let expected = TpmaNv(NV_COUNTER_ATTRIBUTES | TpmaNv::WRITTEN);
                if public.attributes != expected || public.data_size != 8 {
                    return Err(HwError::Unexpected(
                        "the counter index has other attributes than defined",
                    ));
                }
                name.try_into()
                    .map_err(|_| HwError::Unexpected("the counter's Name is not a SHA-256 Name"))
            });
            return match result {
                Ok(name) => Ok((index.0, name)),
                Err(e) => {
                    let _ = self.nv_undefine(index);
                    Err(e)
                }
            };
        }
        Err(HwError::NvIndexUnavailable {
            first,
            tried: NV_INDEX_TRIES,
        })
    }

    /// TPM2_NV_UndefineSpace with owner authorization (clean-up of a failed provision).
    fn nv_undefine(&mut self, index: TpmHandle) -> Result<(), HwError> {
        let owner = password(&self.config.owner_auth)?;
        self.wire
            .exec(
                TpmCc::NV_UNDEFINE_SPACE,
                &[TpmHandle::OWNER, index],
                &[owner],
                &[],
            )
            .map(|_| ())
    }

    /// TPM2_NV_Increment authorized by the index's authValue.
    pub(crate) fn nv_increment(&mut self, index: TpmHandle, auth: &[u8]) -> Result<(), HwError> {
        let a = self
            .wire
            .exec(
                TpmCc::NV_INCREMENT,
                &[index, index],
                &[password(auth)?],
                &[],
            )
            .map_err(|e| auth_context(e, AuthEntity::NvCounter, 1))?;
        a.reader(TpmCc::NV_INCREMENT).finish()
    }

    /// TPM2_NV_ReadPublic: the public area and Name of an index.
    pub(crate) fn nv_read_public(
        &mut self,
        index: TpmHandle,
    ) -> Result<(TpmsNvPublic, Vec<u8>), HwError> {
        let a = self.wire.exec(TpmCc::NV_READ_PUBLIC, &[index], &[], &[])?;
        let mut r = a.reader(TpmCc::NV_READ_PUBLIC);
        let public: Tpm2bNvPublic = r.read()?;
        let name: Tpm2bName = r.read()?;
        r.finish()?;
        if public.nv_public.nv_index != index {
            return Err(HwError::Unexpected(
                "TPM2_NV_ReadPublic answered for another index",
            ));
        }
        Ok((public.nv_public, name.as_bytes().to_vec()))
    }
}
