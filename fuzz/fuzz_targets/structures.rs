//! The `tpm2` crate's structure parsers on their own: every top-level structure that carries a
//! union, a size or a validated value (the plain structures inside them, such as TPMS_CLOCK_INFO
//! or TPMS_PCR_SELECT, are reached through their containers). The first input byte picks the
//! structure; the rest is its wire form. Nothing may panic, and whatever parses must
//! re-marshal to exactly the bytes it was parsed from (the encodings are canonical).
#![no_main]

use libfuzzer_sys::fuzz_target;
use tpm2::auth::{TpmsAuthCommand, TpmsAuthResponse};
use tpm2::structures::*;
use tpm2::{Marshal, Unmarshal};

fn round_trip<T: Marshal + Unmarshal>(bytes: &[u8]) {
    if let Ok(v) = T::from_bytes(bytes) {
        assert_eq!(v.to_bytes(), bytes, "{} did not round-trip", core::any::type_name::<T>());
    }
}

/// One entry per parser, in a fixed order so that seeds keep their meaning.
const PARSERS: &[fn(&[u8])] = &[
    round_trip::<TpmtPublic>,
    round_trip::<Tpm2bPublic>,
    round_trip::<TpmtSensitive>,
    round_trip::<Tpm2bSensitive>,
    round_trip::<Tpm2bSensitiveCreate>,
    round_trip::<Tpm2bCreationData>,
    round_trip::<TpmsCreationData>,
    round_trip::<TpmtSignature>,
    round_trip::<TpmsAttest>,
    round_trip::<TpmsCapabilityData>,
    round_trip::<TpmlPcrSelection>,
    round_trip::<TpmlDigest>,
    round_trip::<TpmlDigestValues>,
    round_trip::<TpmtHa>,
    round_trip::<TpmtSymDef>,
    round_trip::<TpmtSymDefObject>,
    round_trip::<TpmtRsaScheme>,
    round_trip::<TpmtRsaDecrypt>,
    round_trip::<TpmtEccScheme>,
    round_trip::<TpmtSigScheme>,
    round_trip::<TpmtKdfScheme>,
    round_trip::<TpmtKeyedhashScheme>,
    round_trip::<Tpm2bEccPoint>,
    round_trip::<TpmsAlgorithmDetailEcc>,
    round_trip::<TpmsNvPublic>,
    round_trip::<Tpm2bNvPublic>,
    round_trip::<TpmsContext>,
    round_trip::<TpmtTkCreation>,
    round_trip::<TpmtTkVerified>,
    round_trip::<TpmtTkAuth>,
    round_trip::<TpmtTkHashcheck>,
    round_trip::<TpmaObject>,
    round_trip::<TpmaNv>,
    round_trip::<TpmaLocality>,
    round_trip::<TpmaCc>,
    round_trip::<TpmsAuthCommand>,
    round_trip::<TpmsAuthResponse>,
    round_trip::<TpmsTaggedPcrSelect>,
    round_trip::<TpmlAlgProperty>,
    round_trip::<TpmlTaggedTpmProperty>,
    round_trip::<TpmsIdObject>,
    round_trip::<TpmsDerive>,
];

fuzz_target!(|data: &[u8]| {
    let Some((&which, rest)) = data.split_first() else { return };
    PARSERS[usize::from(which) % PARSERS.len()](rest);
});
