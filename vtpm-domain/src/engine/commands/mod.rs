//! The command handlers of part 3, one file per command family. Each file exports `ENTRIES`,
//! its rows of the dispatch table.

use super::dispatch::Entry;

mod attest;
mod audit;
mod capability;
mod context;
mod credential;
mod duplication;
mod ecc_commit;
mod hash;
mod hierarchy;
mod keys;
mod misc;
mod nv;
mod object;
mod pcr;
mod policy;
mod policy_assert;
mod policy_bind;
mod random;
mod session;
mod startup;
mod testing;

pub(crate) use capability::{MANUFACTURER, firmware_version};
pub(crate) use keys::TpmRng;

/// The dispatch table, family by family.
pub(crate) const FAMILIES: &[&[Entry]] = &[
    startup::ENTRIES,
    testing::ENTRIES,
    capability::ENTRIES,
    random::ENTRIES,
    pcr::ENTRIES,
    hash::ENTRIES,
    object::ENTRIES,
    context::ENTRIES,
    keys::ENTRIES,
    session::ENTRIES,
    policy::ENTRIES,
    policy_assert::ENTRIES,
    policy_bind::ENTRIES,
    nv::ENTRIES,
    attest::ENTRIES,
    hierarchy::ENTRIES,
    misc::ENTRIES,
    credential::ENTRIES,
    duplication::ENTRIES,
    audit::ENTRIES,
    ecc_commit::ENTRIES,
];
