//! Objects (TCG TPM 2.0 Library part 1 §23–§27): a public area, its Name, and the sensitive area
//! the TPM keeps in the clear while the object is loaded.
//!
//! This module also holds what every command family needs about objects:
//! - [`compute_name`] (part 1 §16: `nameAlg || H_nameAlg(TPMT_PUBLIC)`) and
//!   [`qualified_name`] (part 1 §16.6: `nameAlg || H_nameAlg(QN(parent) || Name)`);
//! - [`alloc_transient_handle`], the object memory limit [`MAX_LOADED_OBJECTS`] and the
//!   persistent-object limit [`MAX_PERSISTENT_OBJECTS`] (for TPM2_GetCapability);
//! - key accessors [`rsa_public`], [`rsa_private`], [`ecc_public`], [`ecc_private`]. The RSA
//!   private key is rebuilt from the modulus and the stored prime at each call (a division and
//!   a modular inverse, about a millisecond for RSA-2048 in an optimised build), so nothing
//!   derived from the key needs to be kept in, or kept out of, the state blob.

use alloc::vec::Vec;

use tpm2::Marshal;
use tpm2::alg::TpmAlgId;
use tpm2::handle::{TpmHandle, TpmHt};
use tpm2::rc::TpmRc;
use tpm2::structures::{PublicDetail, TpmaObject, TpmsEccPoint, TpmtPublic};
use zeroize::Zeroizing;

use super::Engine;
use super::codec::{Loader, Persist, Writer};
use super::crypto::ecc::{Curve, EccPoint, EccPrivate};
use super::crypto::hash::{HashAlg, digest};
use super::crypto::rsa::{RsaPrivate, RsaPublic};
use super::sequence::Sequence;
use super::state::{Secret, StateError};

/// Transient objects (including sequence objects) that may be loaded at once
/// (MAX_LOADED_OBJECTS; libtpms uses 3, and tpm2-tools expects a resource manager beyond
/// that). Commands that need one more slot fail with TPM_RC_OBJECT_MEMORY. TPM_PT_HR_TRANSIENT_MIN
/// reports this value.
pub(crate) const MAX_LOADED_OBJECTS: usize = 3;

/// Persistent objects the TPM stores at most (TPM2_EvictControl fails with TPM_RC_NV_SPACE
/// beyond it; the PC Client profile requires at least 7). TPM_PT_HR_PERSISTENT_MIN reports
/// this value.
pub(crate) const MAX_PERSISTENT_OBJECTS: usize = 16;

/// The first transient handle (TRANSIENT_FIRST).
pub(crate) const TRANSIENT_FIRST: u32 = 0x8000_0000;

/// The sensitive part of a loaded object (TPMT_SENSITIVE, part 2 §12.3.2.4, in the clear).
#[derive(Default, Clone)]
pub(crate) struct Sensitive {
    /// authValue (trailing zeros removed).
    pub auth: Secret,
    /// seedValue (obfuscation value for keyed-hash and symmetric objects, seed for storage
    /// parents; empty for asymmetric keys that are not parents).
    pub seed_value: Secret,
    /// The private key: one RSA prime, an ECC scalar, keyed-hash data or a symmetric key.
    pub private: Secret,
}

/// A loaded object.
pub(crate) struct Object {
    /// The public area.
    pub public: TpmtPublic,
    /// The Name: nameAlg || H_nameAlg(public area) (part 1 §16); empty when nameAlg is
    /// TPM_ALG_NULL.
    pub name: Vec<u8>,
    /// The Qualified Name (part 1 §16.6).
    pub qualified_name: Vec<u8>,
    /// The hierarchy the object belongs to (TPM_RH_OWNER, _ENDORSEMENT, _PLATFORM or _NULL).
    pub hierarchy: TpmHandle,
    /// The sensitive area.
    pub sensitive: Sensitive,
    /// Loaded with TPM2_LoadExternal without a sensitive part.
    pub public_only: bool,
    /// Created by TPM2_CreatePrimary.
    pub primary: bool,
    /// The state of a hash, HMAC or event sequence object.
    pub sequence: Option<Sequence>,
}

impl Object {
    /// A loaded object with its Name computed from `public` and its Qualified Name from
    /// `parent_qn` (the parent's Qualified Name, or the hierarchy handle's four bytes for a
    /// primary object). Flags are clear and `sequence` is `None`; set them afterwards.
    pub(crate) fn new(
        public: TpmtPublic,
        parent_qn: &[u8],
        hierarchy: TpmHandle,
        sensitive: Sensitive,
    ) -> Object {
        let name = compute_name(&public);
        let qualified_name = qualified_name(public.name_alg, parent_qn, &name);
        Object {
            public,
            name,
            qualified_name,
            hierarchy,
            sensitive,
            public_only: false,
            primary: false,
            sequence: None,
        }
    }

    /// Whether attribute bit(s) `bit` (a `TpmaObject` constant) are all SET.
    pub(crate) fn has(&self, bit: u32) -> bool {
        self.public.object_attributes.0 & bit == bit
    }

    /// Whether this is a storage parent (part 1 §25.1: a loaded restricted decryption key
    /// with its sensitive area, not a keyed-hash derivation parent, not a sequence). Objects
    /// loaded with TPM2_LoadExternal never qualify: with a sensitive area they cannot be
    /// restricted, without one they are public-only.
    pub(crate) fn is_storage_parent(&self) -> bool {
        self.has(TpmaObject::RESTRICTED | TpmaObject::DECRYPT)
            && !self.public_only
            && self.sequence.is_none()
            && matches!(
                self.public.object_type(),
                TpmAlgId::RSA | TpmAlgId::ECC | TpmAlgId::SYMCIPHER
            )
    }

    /// Whether the object is temporary (part 1 §14.5: in the NULL hierarchy) and so cannot be
    /// made persistent.
    pub(crate) fn is_temporary(&self) -> bool {
        self.hierarchy == TpmHandle::NULL
    }

    /// A copy of the object (a sequence object's state is not copied: only plain objects are
    /// ever copied, by TPM2_EvictControl).
    pub(crate) fn copy_plain(&self) -> Object {
        Object {
            public: self.public.clone(),
            name: self.name.clone(),
            qualified_name: self.qualified_name.clone(),
            hierarchy: self.hierarchy,
            sensitive: self.sensitive.clone(),
            public_only: self.public_only,
            primary: self.primary,
            sequence: None,
        }
    }
}

/// The Name of an object (part 1 §16): `nameAlg || H_nameAlg(marshalled TPMT_PUBLIC)`, the
/// algorithm as a big-endian u16. Empty when nameAlg is TPM_ALG_NULL (or not an implemented
/// hash).
pub(crate) fn compute_name(public: &TpmtPublic) -> Vec<u8> {
    let Some(alg) = HashAlg::from_alg(public.name_alg) else {
        return Vec::new();
    };
    let mut out = Vec::with_capacity(2 + alg.digest_size());
    out.extend_from_slice(&public.name_alg.0.to_be_bytes());
    out.extend_from_slice(&digest(alg, &[&public.to_bytes()]));
    out
}

/// The Qualified Name of an object (part 1 §16.6): `nameAlg || H_nameAlg(parentQN || Name)`,
/// where `parent_qn` is the parent's Qualified Name (a hierarchy's is its handle). With no
/// usable nameAlg (TPM_ALG_NULL), the Qualified Name is the Name itself.
pub(crate) fn qualified_name(name_alg: TpmAlgId, parent_qn: &[u8], name: &[u8]) -> Vec<u8> {
    let Some(alg) = HashAlg::from_alg(name_alg) else {
        return name.to_vec();
    };
    let mut out = Vec::with_capacity(2 + alg.digest_size());
    out.extend_from_slice(&name_alg.0.to_be_bytes());
    out.extend_from_slice(&digest(alg, &[parent_qn, name]));
    out
}

/// The lowest free transient handle (TRANSIENT_FIRST + n), or TPM_RC_OBJECT_MEMORY when
/// [`MAX_LOADED_OBJECTS`] objects are loaded.
pub(crate) fn alloc_transient_handle(e: &Engine) -> Result<TpmHandle, TpmRc> {
    let objects = &e.state.vol.objects;
    if objects.len() >= MAX_LOADED_OBJECTS {
        return Err(TpmRc::OBJECT_MEMORY);
    }
    (0..MAX_LOADED_OBJECTS)
        .filter_map(|i| u32::try_from(i).ok())
        .map(|i| TRANSIENT_FIRST + i)
        .find(|h| !objects.contains_key(h))
        .map(TpmHandle)
        .ok_or(TpmRc::OBJECT_MEMORY)
}

/// Whether `h` is in the transient range an implementation with [`MAX_LOADED_OBJECTS`] slots
/// accepts as TPMI_DH_OBJECT / TPMI_DH_CONTEXT (TRANSIENT_FIRST..=TRANSIENT_LAST).
pub(crate) fn transient_in_range(h: TpmHandle) -> bool {
    h.ty() == TpmHt::TRANSIENT
        && usize::try_from(h.0 - TRANSIENT_FIRST).is_ok_and(|i| i < MAX_LOADED_OBJECTS)
}

/// The RSA public key of an RSA object (TPM_RC_KEY if the object is not RSA or its modulus is
/// unusable; callers add the handle number).
pub(crate) fn rsa_public(obj: &Object) -> Result<RsaPublic, TpmRc> {
    match &obj.public.detail {
        PublicDetail::Rsa { parameters, unique } => {
            RsaPublic::new(unique.as_bytes(), parameters.exponent).map_err(|_| TpmRc::KEY)
        }
        _ => Err(TpmRc::KEY),
    }
}

/// The RSA private key of a loaded RSA object with a sensitive area (TPM_RC_KEY for another
/// type or a public-only object, TPM_RC_BINDING if the prime does not divide the modulus).
pub(crate) fn rsa_private(obj: &Object) -> Result<RsaPrivate, TpmRc> {
    if obj.public_only || obj.sequence.is_some() {
        return Err(TpmRc::KEY);
    }
    match &obj.public.detail {
        PublicDetail::Rsa { parameters, unique } => RsaPrivate::from_prime(
            unique.as_bytes(),
            parameters.exponent,
            &obj.sensitive.private,
        )
        .map_err(|_| TpmRc::BINDING),
        _ => Err(TpmRc::KEY),
    }
}

/// The curve of an ECC object (TPM_RC_CURVE for a curve the engine does not implement,
/// TPM_RC_KEY for a non-ECC object).
pub(crate) fn ecc_curve(obj: &Object) -> Result<Curve, TpmRc> {
    match &obj.public.detail {
        PublicDetail::Ecc { parameters, .. } => {
            Curve::from_tpm(parameters.curve_id).ok_or(TpmRc::CURVE)
        }
        _ => Err(TpmRc::KEY),
    }
}

/// The public point of an ECC object (TPM_RC_KEY if it is not ECC).
pub(crate) fn ecc_public(obj: &Object) -> Result<EccPoint, TpmRc> {
    match &obj.public.detail {
        PublicDetail::Ecc { unique, .. } => Ok(EccPoint {
            x: unique.x.as_bytes().to_vec(),
            y: unique.y.as_bytes().to_vec(),
        }),
        _ => Err(TpmRc::KEY),
    }
}

/// The ECC private key of a loaded ECC object with a sensitive area (TPM_RC_KEY otherwise).
pub(crate) fn ecc_private(obj: &Object) -> Result<EccPrivate, TpmRc> {
    if obj.public_only || obj.sequence.is_some() {
        return Err(TpmRc::KEY);
    }
    let curve = ecc_curve(obj)?;
    EccPrivate::from_scalar(curve, &obj.sensitive.private).map_err(|_| TpmRc::KEY)
}

/// The public point of an ECC object as a TPMS_ECC_POINT.
pub(crate) fn ecc_point(p: &EccPoint) -> Result<TpmsEccPoint, TpmRc> {
    Ok(TpmsEccPoint {
        x: tpm2::structures::Tpm2bEccParameter::new(&p.x).map_err(|_| TpmRc::SIZE)?,
        y: tpm2::structures::Tpm2bEccParameter::new(&p.y).map_err(|_| TpmRc::SIZE)?,
    })
}

/// Largest authValue / seedValue kept in state (a SHA-512 digest).
const MAX_SECRET: usize = 64;
/// Largest private part kept in state (keyed-hash data, 128 bytes; an RSA-4096 prime, 256).
const MAX_PRIVATE: usize = 512;

impl Persist for Sensitive {
    fn save(&self, w: &mut Writer) {
        w.bytes(&self.auth);
        w.bytes(&self.seed_value);
        w.bytes(&self.private);
    }
    fn load(r: &mut Loader<'_>) -> Result<Self, StateError> {
        Ok(Self {
            auth: Zeroizing::new(r.bytes(MAX_SECRET, "object authValue")?.to_vec()),
            seed_value: Zeroizing::new(r.bytes(MAX_SECRET, "object seedValue")?.to_vec()),
            private: Zeroizing::new(r.bytes(MAX_PRIVATE, "object private key")?.to_vec()),
        })
    }
}

impl Persist for Object {
    fn save(&self, w: &mut Writer) {
        w.tpm(&self.public);
        w.bytes(&self.name);
        w.bytes(&self.qualified_name);
        w.u32(self.hierarchy.0);
        self.sensitive.save(w);
        w.bool(self.public_only);
        w.bool(self.primary);
        w.option(self.sequence.as_ref());
    }
    fn load(r: &mut Loader<'_>) -> Result<Self, StateError> {
        // The public area may have a TPM_ALG_NULL nameAlg (TPM2_LoadExternal of a public key).
        let body = r.bytes(4096, "object public area")?;
        let mut pr = tpm2::Reader::new(body);
        let public = TpmtPublic::unmarshal_with(&mut pr, true)
            .map_err(|_| StateError::BadValue("object public area"))?;
        if !pr.is_empty() {
            return Err(StateError::BadValue("object public area"));
        }
        Ok(Self {
            public,
            name: r.bytes(80, "object name")?.to_vec(),
            qualified_name: r.bytes(80, "object qualified name")?.to_vec(),
            hierarchy: TpmHandle(r.u32("object hierarchy")?),
            sensitive: Sensitive::load(r)?,
            public_only: r.bool("object public-only flag")?,
            primary: r.bool("object primary flag")?,
            sequence: r.option("sequence state")?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::testutil;
    use tpm2::structures::{
        Tpm2bDigest, Tpm2bPublicKeyRsa, TpmsRsaParms, TpmtRsaScheme, TpmtSymDefObject,
    };

    fn rsa_public_area(name_alg: TpmAlgId) -> TpmtPublic {
        TpmtPublic {
            name_alg,
            object_attributes: TpmaObject(TpmaObject::USER_WITH_AUTH | TpmaObject::SIGN),
            auth_policy: Tpm2bDigest::empty(),
            detail: PublicDetail::Rsa {
                parameters: TpmsRsaParms {
                    symmetric: TpmtSymDefObject::Null,
                    scheme: TpmtRsaScheme::Null,
                    key_bits: 1024,
                    exponent: 0,
                },
                unique: Tpm2bPublicKeyRsa::new(&[0xC5; 128]).unwrap(),
            },
        }
    }

    #[test]
    fn name_is_alg_and_digest_of_the_public_area() {
        let p = rsa_public_area(TpmAlgId::SHA256);
        let n = compute_name(&p);
        assert_eq!(&n[..2], &[0x00, 0x0b]);
        let expected = {
            use sha2::Digest;
            sha2::Sha256::digest(p.to_bytes()).to_vec()
        };
        assert_eq!(&n[2..], &expected[..]);
        let n1 = compute_name(&rsa_public_area(TpmAlgId::SHA1));
        assert_eq!(n1.len(), 22);
        assert!(compute_name(&rsa_public_area(TpmAlgId::NULL)).is_empty());
    }

    #[test]
    fn qualified_name_chains_parent_qn() {
        let owner = TpmHandle::OWNER.0.to_be_bytes();
        let name = compute_name(&rsa_public_area(TpmAlgId::SHA256));
        let qn = qualified_name(TpmAlgId::SHA256, &owner, &name);
        let expected = {
            use sha2::Digest;
            let mut h = sha2::Sha256::new();
            h.update(owner);
            h.update(&name);
            h.finalize().to_vec()
        };
        assert_eq!(&qn[..2], &[0, 0x0b]);
        assert_eq!(&qn[2..], &expected[..]);
        assert_eq!(qualified_name(TpmAlgId::NULL, &owner, &name), name);
    }

    #[test]
    fn transient_handles_are_lowest_free_and_limited() {
        let mut e = testutil::engine();
        assert_eq!(alloc_transient_handle(&e), Ok(TpmHandle(0x8000_0000)));
        for i in [0u32, 2] {
            let o = Object::new(
                rsa_public_area(TpmAlgId::SHA256),
                &TpmHandle::NULL.0.to_be_bytes(),
                TpmHandle::NULL,
                Sensitive::default(),
            );
            e.state.vol.objects.insert(TRANSIENT_FIRST + i, o);
        }
        assert_eq!(alloc_transient_handle(&e), Ok(TpmHandle(0x8000_0001)));
        let o = Object::new(
            rsa_public_area(TpmAlgId::SHA256),
            &[],
            TpmHandle::NULL,
            Sensitive::default(),
        );
        e.state.vol.objects.insert(TRANSIENT_FIRST + 1, o);
        assert_eq!(alloc_transient_handle(&e), Err(TpmRc::OBJECT_MEMORY));
        assert!(transient_in_range(TpmHandle(0x8000_0002)));
        assert!(!transient_in_range(TpmHandle(0x8000_0003)));
        assert!(!transient_in_range(TpmHandle(0x8100_0000)));
    }

    #[test]
    fn object_state_round_trip() {
        let mut o = Object::new(
            rsa_public_area(TpmAlgId::SHA256),
            &TpmHandle::OWNER.0.to_be_bytes(),
            TpmHandle::OWNER,
            Sensitive {
                auth: Zeroizing::new(b"pw".to_vec()),
                seed_value: Zeroizing::new(alloc::vec![1; 32]),
                private: Zeroizing::new(alloc::vec![2; 64]),
            },
        );
        o.primary = true;
        let mut w = Writer::new();
        o.save(&mut w);
        let mut r = Loader::new(&w.out);
        let back = Object::load(&mut r).unwrap();
        assert_eq!(r.remaining(), 0);
        assert_eq!(back.public, o.public);
        assert_eq!(back.name, o.name);
        assert_eq!(back.qualified_name, o.qualified_name);
        assert_eq!(back.hierarchy, TpmHandle::OWNER);
        assert_eq!(&back.sensitive.auth[..], b"pw");
        assert_eq!(&back.sensitive.private[..], &[2; 64][..]);
        assert!(back.primary && !back.public_only);
        // A public area with a NULL nameAlg is stored too.
        let p = Object::new(
            rsa_public_area(TpmAlgId::NULL),
            &[],
            TpmHandle::NULL,
            Sensitive::default(),
        );
        let mut w = Writer::new();
        p.save(&mut w);
        let back = Object::load(&mut Loader::new(&w.out)).unwrap();
        assert_eq!(back.public.name_alg, TpmAlgId::NULL);
        assert!(back.name.is_empty());
    }
}

/// The last few RSA primary keys TPM2_CreatePrimary derived, by a digest of everything the
/// derivation reads (hierarchy seed, nameAlg, template Name, inSensitive.data).
///
/// Deriving an RSA primary means a prime search that costs a fifth of a second, and clients
/// (tpm2-tools above all) re-create the same primary in every process. The derivation is
/// deterministic, so a hit returns exactly what a fresh derivation would. The cache is not part
/// of the state blob, holds at most [`PrimaryCache::CAPACITY`] keys, and its secrets are
/// zeroized when evicted. (It holds nothing an attacker could not derive from the seeds the
/// engine holds anyway; a seed change simply stops its entries from matching.)
#[derive(Default)]
pub(crate) struct PrimaryCache {
    entries: alloc::collections::VecDeque<([u8; 32], TpmtPublic, Sensitive)>,
}

impl PrimaryCache {
    /// Most keys kept.
    pub(crate) const CAPACITY: usize = 8;

    /// The cached result of the derivation identified by `key`.
    pub(crate) fn get(&self, key: &[u8; 32]) -> Option<(TpmtPublic, Sensitive)> {
        self.entries
            .iter()
            .find(|(k, _, _)| k == key)
            .map(|(_, p, s)| (p.clone(), s.clone()))
    }

    /// Remembers a derivation's result, evicting the oldest beyond the capacity.
    pub(crate) fn insert(&mut self, key: [u8; 32], public: &TpmtPublic, sensitive: &Sensitive) {
        if self.get(&key).is_some() {
            return;
        }
        if self.entries.len() == Self::CAPACITY {
            self.entries.pop_front();
        }
        self.entries
            .push_back((key, public.clone(), sensitive.clone()));
    }
}
