//! PCR banks (TCG TPM 2.0 Library part 1 §17 "PCR Operations", part 3 §22) with the PCR
//! attributes of the TCG PC Client Platform TPM Profile (PTP) §4.6: table "PCR Attributes"
//! (which locality may extend or reset each PCR, which PCRs are saved by
//! TPM2_Shutdown(STATE), which do not increment pcrUpdateCounter) and table 5 "PCR Initial and
//! Reset Values".
//!
//! The rules below are those libtpms (swtpm) enforces, checked command by command against
//! swtpm 0.7.1 / libtpms 0.9:
//!
//! | PCR | saved by Shutdown(STATE) | extend at locality | reset at locality | initial value | counts |
//! |---|---|---|---|---|---|
//! | 0–15 | yes | any | never | 0 (PCR 0: startup locality in the last byte) | yes |
//! | 16 | no | any | 0–3 | 0 | no |
//! | 17, 18 | no | 2, 3, 4 | never | all ones | yes |
//! | 19 | no | 2, 3 | never | all ones | yes |
//! | 20 | no | 1, 2, 3 | 2 | all ones | yes |
//! | 21, 22 | no | 2 | 2 | all ones | no |
//! | 23 | no | any | 0–3 | 0 | no |
//!
//! The PTP grants locality 4 the reset of PCRs 17–22, but a TPM that implements D-RTM resets
//! them only through the _TPM_Hash_Start sequence, so TPM2_PCR_Reset at locality 4 always
//! fails (libtpms `PCRIsResetAllowed`). Extended localities (above 4) may neither extend nor
//! reset any PCR. A reset sets the PCR to zero in every bank, including PCRs 17–22.
//!
//! pcrUpdateCounter (part 1 §17.7) goes up by one for every bank of a PCR that an extend
//! changes, once per TPM2_PCR_Reset, and once for every PCR that TPM2_Startup sets to its
//! initial value, except for the PCRs with the TPM_PT_PCR_NO_INCREMENT attribute (16, 21, 22,
//! 23). So a TPM Reset leaves it at 20, a TPM Restart adds 20 and a TPM Resume adds 4
//! (PCRs 17–20). It is cleared only by a TPM Reset.
//!
//! Banks: every implemented hash (SHA-1, SHA-256, SHA-384, SHA-512) may be allocated with
//! TPM2_PCR_Allocate; a fresh TPM allocates all 24 PCRs of SHA-1, SHA-256 and SHA-384. The
//! allocation list always names every implemented hash once, in algorithm order, with an empty
//! selection for a bank that is not allocated (the form TPM_CAP_PCRS reports, as libtpms does).

use alloc::vec::Vec;

use tpm2::Reader;
use tpm2::alg::TpmAlgId;
use tpm2::rc::TpmRc;
use tpm2::structures::{TpmlPcrSelection, TpmsPcrSelect, TpmsPcrSelection};

use super::codec::{Loader, Persist, Writer};
use super::crypto::hash::{HashAlg, Hasher, digest};
use super::entity::PCR_COUNT;
use super::state::StateError;

/// PCR_SELECT_MIN = PCR_SELECT_MAX for 24 PCRs: the only `sizeofSelect` accepted on input.
pub(crate) const PCR_SELECT_SIZE: usize = 3;

/// HASH_COUNT: the number of implemented hashes, the largest TPML_PCR_SELECTION and
/// TPML_DIGEST_VALUES accepted on input.
pub(crate) const HASH_COUNT: usize = HashAlg::ALL.len();

/// TPM_PT_PCR_COUNT as a `usize`.
const PCRS: usize = PCR_COUNT as usize;

/// Most digests one TPM2_PCR_Read returns (a TPML_DIGEST holds eight).
pub(crate) const MAX_READ_DIGESTS: usize = 8;

/// The H-CRTM PCR (PCR 0), initialised to the locality of TPM2_Startup.
const HCRTM_PCR: usize = 0;

/// The D-RTM PCR (PCR 17): an allocation must keep it in some bank.
const DRTM_PCR: usize = 17;

/// The attributes of one PCR (libtpms `s_initAttributes`): localities as bit masks, bit n for
/// locality n.
#[derive(Clone, Copy)]
struct PcrAttributes {
    state_save: bool,
    reset: u8,
    extend: u8,
}

const fn attr(state_save: bool, reset: u8, extend: u8) -> PcrAttributes {
    PcrAttributes {
        state_save,
        reset,
        extend,
    }
}

/// Localities 0–4.
const ANY: u8 = 0x1F;

/// PTP table "PCR Attributes", PCR by PCR.
const ATTRIBUTES: [PcrAttributes; PCRS] = {
    let mut t = [attr(true, 0, ANY); PCRS];
    t[16] = attr(false, 0x0F, ANY);
    t[17] = attr(false, 0x10, 0x1C);
    t[18] = attr(false, 0x10, 0x1C);
    t[19] = attr(false, 0x10, 0x0C);
    t[20] = attr(false, 0x14, 0x0E);
    t[21] = attr(false, 0x14, 0x04);
    t[22] = attr(false, 0x14, 0x04);
    t[23] = attr(false, 0x0F, ANY);
    t
};

/// PCRs with TPM_PT_PCR_NO_INCREMENT: changing them leaves pcrUpdateCounter alone.
const NO_INCREMENT: u32 = 1 << 16 | 1 << 21 | 1 << 22 | 1 << 23;

fn locality_bit(locality: u8) -> u8 {
    if locality < 5 { 1 << locality } else { 0 }
}

/// Whether a command at `locality` may extend PCR `pcr` (TPM_RC_LOCALITY otherwise).
pub(crate) fn may_extend(pcr: usize, locality: u8) -> bool {
    ATTRIBUTES
        .get(pcr)
        .is_some_and(|a| a.extend & locality_bit(locality) != 0)
}

/// Whether a command at `locality` may reset PCR `pcr` with TPM2_PCR_Reset (TPM_RC_LOCALITY
/// otherwise). Never at locality 4: D-RTM PCRs are reset by _TPM_Hash_Start only.
pub(crate) fn may_reset(pcr: usize, locality: u8) -> bool {
    locality != 4
        && ATTRIBUTES
            .get(pcr)
            .is_some_and(|a| a.reset & locality_bit(locality) != 0)
}

/// Whether TPM2_Shutdown(STATE) saves PCR `pcr` (TPM_PT_PCR_SAVE).
pub(crate) fn state_saved(pcr: usize) -> bool {
    ATTRIBUTES.get(pcr).is_some_and(|a| a.state_save)
}

/// Whether a change of PCR `pcr` increments pcrUpdateCounter (no TPM_PT_PCR_NO_INCREMENT).
pub(crate) fn counts_updates(pcr: usize) -> bool {
    pcr < PCRS && NO_INCREMENT & (1 << pcr) == 0
}

/// The value TPM2_Startup gives PCR `pcr` (PTP table 5): all ones for the D-RTM PCRs (those
/// only locality 4 could reset), zero otherwise.
fn initial_value(pcr: usize, alg: HashAlg) -> Vec<u8> {
    let fill = if ATTRIBUTES.get(pcr).is_some_and(|a| a.reset & 0x10 != 0) {
        0xFF
    } else {
        0
    };
    alloc::vec![fill; alg.digest_size()]
}

/// The PCR mask (bit n = PCR n) of a selection bit map.
fn mask_of(select: TpmsPcrSelect) -> u32 {
    select
        .pcrs()
        .filter(|&p| p < PCR_COUNT)
        .fold(0, |m, p| m | 1 << p)
}

/// A 3-octet bit map of a PCR mask.
fn select_of(mask: u32) -> TpmsPcrSelect {
    let b = mask.to_le_bytes();
    TpmsPcrSelect::from_bitmap(&b[..PCR_SELECT_SIZE]).unwrap_or_default()
}

/// One allocated bank: a hash, the PCRs allocated in it and the value of each PCR.
#[derive(Clone)]
pub(crate) struct Bank {
    /// The bank's hash.
    pub alg: HashAlg,
    /// The value of every PCR (meaningful only for allocated ones), PCR_COUNT entries.
    pub values: Vec<Vec<u8>>,
    /// The allocated PCRs, bit n = PCR n (TPM2_PCR_Allocate may allocate part of a bank).
    pub allocated: u32,
}

impl Bank {
    fn has(&self, pcr: usize) -> bool {
        pcr < PCRS && self.allocated & (1 << pcr) != 0
    }
}

/// All allocated PCR banks and the PCR update counter.
#[derive(Clone)]
pub(crate) struct PcrBanks {
    /// The allocated banks (those with at least one allocated PCR), in allocation order.
    pub banks: Vec<Bank>,
    /// pcrUpdateCounter (part 3 §22.4).
    pub update_counter: u32,
}

impl PcrBanks {
    /// The banks a fresh TPM allocates: all 24 PCRs of SHA-1, SHA-256 and SHA-384 (and SHA-512
    /// listed with an empty selection, as every implemented bank is listed).
    pub(crate) fn default_allocation() -> TpmlPcrSelection {
        let all: Vec<u32> = (0..PCR_COUNT).collect();
        let sel = HashAlg::ALL
            .iter()
            .filter_map(|a| {
                let pcrs: &[u32] = if *a == HashAlg::Sha512 { &[] } else { &all };
                TpmsPcrSelection::new(a.alg(), pcrs).ok()
            })
            .collect();
        TpmlPcrSelection::new(sel).unwrap_or_else(|_| TpmlPcrSelection::empty())
    }

    /// Banks at their initial values for `allocation`, as a TPM Reset at locality 0 leaves
    /// them (pcrUpdateCounter counts the PCRs set; see the module documentation).
    pub(crate) fn new(allocation: &TpmlPcrSelection) -> Self {
        let banks = allocation
            .as_slice()
            .iter()
            .filter_map(|s| {
                let alg = HashAlg::from_alg(s.hash)?;
                let allocated = mask_of(s.select);
                (allocated != 0).then(|| Bank {
                    alg,
                    values: (0..PCRS).map(|p| initial_value(p, alg)).collect(),
                    allocated,
                })
            })
            .collect();
        let mut me = Self {
            banks,
            update_counter: 0,
        };
        me.count_initialised(|_| true);
        me
    }

    /// Records a change that invalidates every PCR check made so far (TPM2_Clear: the
    /// reference implementation's `PCRChanged(0)`), so policy sessions that ran PolicyPCR fail
    /// with TPM_RC_PCR_CHANGED.
    pub(crate) fn record_change(&mut self) {
        self.update_counter = self.update_counter.wrapping_add(1);
    }

    /// Adds one count per PCR `which` selects that is set to its initial value.
    fn count_initialised(&mut self, which: impl Fn(usize) -> bool) {
        let n = (0..PCRS).filter(|&p| which(p) && counts_updates(p)).count();
        self.update_counter = self
            .update_counter
            .wrapping_add(u32::try_from(n).unwrap_or(0));
    }

    /// Sets PCR `pcr` of every bank to its initial value.
    fn initialise(&mut self, pcr: usize) {
        for b in &mut self.banks {
            if let Some(v) = b.values.get_mut(pcr) {
                *v = initial_value(pcr, b.alg);
            }
        }
    }

    /// The banks TPM2_Startup(STATE) restores from the saved copy (TPM Resume): PCRs with the
    /// stateSave attribute keep their values, the others return to their initial values.
    pub(crate) fn resumed(&self) -> Self {
        let mut me = self.clone();
        for p in (0..PCRS).filter(|&p| !state_saved(p)) {
            me.initialise(p);
        }
        me.count_initialised(|p| !state_saved(p));
        me
    }

    /// The banks of a TPM Restart (TPM2_Startup(CLEAR) after TPM2_Shutdown(STATE)) from the
    /// saved copy: every PCR at its initial value, pcrUpdateCounter continued.
    pub(crate) fn restarted(&self) -> Self {
        let mut me = self.clone();
        for p in 0..PCRS {
            me.initialise(p);
        }
        me.count_initialised(|_| true);
        me
    }

    /// Records the locality of TPM2_Startup in the H-CRTM PCR (PCR 0 ends in the locality
    /// byte, PTP table 5) after a TPM Reset or Restart.
    pub(crate) fn set_startup_locality(&mut self, locality: u8) {
        for b in &mut self.banks {
            if let Some(last) = b.values.get_mut(HCRTM_PCR).and_then(|v| v.last_mut()) {
                *last = locality;
            }
        }
    }

    fn bank(&self, alg: HashAlg) -> Option<&Bank> {
        self.banks.iter().find(|b| b.alg == alg)
    }

    /// The value of PCR `pcr` in bank `alg`, if that PCR is allocated.
    pub(crate) fn value(&self, alg: HashAlg, pcr: usize) -> Option<&[u8]> {
        self.bank(alg)
            .filter(|b| b.has(pcr))
            .and_then(|b| b.values.get(pcr))
            .map(Vec::as_slice)
    }

    /// Extends PCR `pcr` of bank `alg` with `data` (part 1 §17.5:
    /// `PCR := H_alg(PCR || data)`) if that PCR is allocated; a bank that is not allocated is
    /// ignored. Each extended bank counts as one update. The caller checks the locality.
    pub(crate) fn extend(&mut self, pcr: usize, alg: HashAlg, data: &[u8]) {
        let Some(bank) = self.banks.iter_mut().find(|b| b.alg == alg) else {
            return;
        };
        if !bank.has(pcr) {
            return;
        }
        let Some(v) = bank.values.get_mut(pcr) else {
            return;
        };
        let mut h = Hasher::new(alg);
        h.update(v);
        h.update(data);
        *v = h.finish();
        if counts_updates(pcr) {
            self.update_counter = self.update_counter.wrapping_add(1);
        }
    }

    /// TPM2_PCR_Reset's action: PCR `pcr` becomes zero in every bank; one update. The caller
    /// checks the locality.
    pub(crate) fn reset(&mut self, pcr: usize) {
        for b in &mut self.banks {
            if b.has(pcr) {
                if let Some(v) = b.values.get_mut(pcr) {
                    v.fill(0);
                }
            }
        }
        if counts_updates(pcr) {
            self.update_counter = self.update_counter.wrapping_add(1);
        }
    }

    /// `selection` without the PCRs that are not allocated (libtpms `FilterPcr`): the list keeps
    /// its entries and sizes, unallocated banks and PCRs are deselected.
    pub(crate) fn filter(&self, selection: &TpmlPcrSelection) -> TpmlPcrSelection {
        let out = selection
            .iter()
            .map(|s| {
                let allocated = HashAlg::from_alg(s.hash)
                    .and_then(|a| self.bank(a))
                    .map_or(0, |b| b.allocated);
                let mut select = s.select;
                for p in s.select.pcrs() {
                    if p >= PCR_COUNT || allocated & (1 << p) == 0 {
                        select.deselect(p);
                    }
                }
                TpmsPcrSelection {
                    hash: s.hash,
                    select,
                }
            })
            .collect();
        TpmlPcrSelection::new(out).unwrap_or_else(|_| TpmlPcrSelection::empty())
    }

    /// The values of the allocated PCRs `selection` selects, in selection order (bank by bank,
    /// PCR by PCR), with the filtered selection.
    pub(crate) fn values(&self, selection: &TpmlPcrSelection) -> (TpmlPcrSelection, Vec<&[u8]>) {
        let filtered = self.filter(selection);
        let values = filtered
            .pairs()
            .filter_map(|(alg, p)| {
                let alg = HashAlg::from_alg(alg)?;
                self.value(alg, usize::try_from(p).ok()?)
            })
            .collect();
        (filtered, values)
    }

    /// TPM2_PCR_Read's answer (part 3 §22.4): at most eight values; the selection returned
    /// drops unallocated PCRs and every PCR beyond the eighth.
    pub(crate) fn read(&self, selection: &TpmlPcrSelection) -> (TpmlPcrSelection, Vec<&[u8]>) {
        let (mut filtered, _) = self.values(selection);
        let mut kept = 0usize;
        let mut out = Vec::new();
        let mut list = filtered.clone().into_vec();
        for s in &mut list {
            let alg = HashAlg::from_alg(s.hash);
            for p in s.select.pcrs().collect::<Vec<_>>() {
                let v = alg.and_then(|a| self.value(a, usize::try_from(p).ok()?));
                match v {
                    Some(v) if kept < MAX_READ_DIGESTS => {
                        out.push(v);
                        kept += 1;
                    }
                    _ => s.select.deselect(p),
                }
            }
        }
        if let Ok(l) = TpmlPcrSelection::new(list) {
            filtered = l;
        }
        (filtered, out)
    }

    /// The PCR digest of part 1 §17.6 (TPM2_PolicyPCR, TPM2_Quote, creation data):
    /// `H_alg(value_1 || value_2 || ...)` over the allocated PCRs `selection` selects.
    pub(crate) fn digest(&self, alg: HashAlg, selection: &TpmlPcrSelection) -> Vec<u8> {
        let (_, values) = self.values(selection);
        digest(alg, &values)
    }
}

impl Persist for PcrBanks {
    fn save(&self, w: &mut Writer) {
        w.u32(self.update_counter);
        w.u32(u32::try_from(self.banks.len()).unwrap_or(u32::MAX));
        for b in &self.banks {
            w.u16(b.alg.alg().0);
            w.u32(b.allocated);
            w.u32(u32::try_from(b.values.len()).unwrap_or(u32::MAX));
            for v in &b.values {
                w.bytes(v);
            }
        }
    }

    fn load(r: &mut Loader<'_>) -> Result<Self, StateError> {
        let update_counter = r.u32("pcrUpdateCounter")?;
        let n = r.u32("PCR bank count")?;
        if usize::try_from(n).map_or(true, |n| n > HASH_COUNT) {
            return Err(StateError::TooLarge("PCR bank count"));
        }
        let mut banks: Vec<Bank> = Vec::new();
        for _ in 0..n {
            let alg = HashAlg::from_alg(TpmAlgId(r.u16("PCR bank hash")?))
                .ok_or(StateError::BadValue("PCR bank hash"))?;
            if banks.iter().any(|b| b.alg == alg) {
                return Err(StateError::BadValue("PCR bank hash"));
            }
            let allocated = r.u32("PCR bank allocation")?;
            if allocated == 0 || allocated >> PCR_COUNT != 0 {
                return Err(StateError::BadValue("PCR bank allocation"));
            }
            if r.u32("PCR count")? != PCR_COUNT {
                return Err(StateError::BadValue("PCR count"));
            }
            let mut values = Vec::new();
            for _ in 0..PCR_COUNT {
                let v = r.bytes(64, "PCR value")?;
                if v.len() != alg.digest_size() {
                    return Err(StateError::BadValue("PCR value"));
                }
                values.push(v.to_vec());
            }
            banks.push(Bank {
                alg,
                values,
                allocated,
            });
        }
        Ok(Self {
            banks,
            update_counter,
        })
    }
}

// ---------------------------------------------------------------------------------------------
// Unmarshalling with this TPM's bounds (libtpms rules)
// ---------------------------------------------------------------------------------------------

/// Reads a TPMI_ALG_HASH (`allow_null`: TPMI_ALG_HASH+): only implemented hashes (others give
/// TPM_RC_HASH). `None` is TPM_ALG_NULL.
pub(crate) fn read_hash_alg(
    r: &mut Reader<'_>,
    allow_null: bool,
) -> Result<Option<HashAlg>, tpm2::Error> {
    let alg = TpmAlgId(r.u16("TPMI_ALG_HASH")?);
    if allow_null && alg == TpmAlgId::NULL {
        return Ok(None);
    }
    HashAlg::from_alg(alg)
        .map(Some)
        .ok_or(tpm2::Error::BadValue {
            what: "TPMI_ALG_HASH",
            value: u32::from(alg.0),
        })
}

/// Reads a TPML_PCR_SELECTION as this TPM accepts it: at most [`HASH_COUNT`] entries
/// (TPM_RC_SIZE), implemented hashes (TPM_RC_HASH) and `sizeofSelect` exactly
/// [`PCR_SELECT_SIZE`] (TPM_RC_VALUE).
pub(crate) fn read_selection(r: &mut Reader<'_>) -> Result<TpmlPcrSelection, tpm2::Error> {
    let count = usize::try_from(r.u32("TPML_PCR_SELECTION")?).unwrap_or(usize::MAX);
    if count > HASH_COUNT {
        return Err(tpm2::Error::TooLarge {
            what: "TPML_PCR_SELECTION",
            size: count,
            max: HASH_COUNT,
        });
    }
    let mut list = Vec::with_capacity(count);
    for _ in 0..count {
        let hash = read_hash_alg(r, false)?.map_or(TpmAlgId::NULL, HashAlg::alg);
        let size = usize::from(r.u8("TPMS_PCR_SELECT")?);
        if size != PCR_SELECT_SIZE {
            return Err(tpm2::Error::BadValue {
                what: "TPMS_PCR_SELECT",
                value: u32::try_from(size).unwrap_or(u32::MAX),
            });
        }
        let select = TpmsPcrSelect::from_bitmap(r.bytes(size, "TPMS_PCR_SELECT")?)?;
        list.push(TpmsPcrSelection { hash, select });
    }
    TpmlPcrSelection::new(list)
}

/// Reads a TPML_DIGEST_VALUES as this TPM accepts it: at most [`HASH_COUNT`] entries
/// (TPM_RC_SIZE), each an implemented hash (TPM_RC_HASH) and a digest of its size.
pub(crate) fn read_digest_values(
    r: &mut Reader<'_>,
) -> Result<Vec<(HashAlg, Vec<u8>)>, tpm2::Error> {
    let count = usize::try_from(r.u32("TPML_DIGEST_VALUES")?).unwrap_or(usize::MAX);
    if count > HASH_COUNT {
        return Err(tpm2::Error::TooLarge {
            what: "TPML_DIGEST_VALUES",
            size: count,
            max: HASH_COUNT,
        });
    }
    let mut out = Vec::with_capacity(count);
    for _ in 0..count {
        let Some(alg) = read_hash_alg(r, false)? else {
            continue;
        };
        out.push((alg, r.bytes(alg.digest_size(), "TPMT_HA")?.to_vec()));
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------------------
// TPM2_PCR_Allocate (part 3 §22.5)
// ---------------------------------------------------------------------------------------------

/// The outcome of a successful TPM2_PCR_Allocate computation.
pub(crate) struct Allocation {
    /// The new allocation (every implemented hash, in algorithm order).
    pub selection: TpmlPcrSelection,
    /// maxPCR.
    pub max_pcr: u32,
    /// sizeNeeded: bytes of PCR storage the new allocation uses.
    pub size_needed: u32,
    /// sizeAvailable: bytes of PCR storage the TPM has (every implemented bank, every PCR).
    pub size_available: u32,
}

impl Allocation {
    /// Whether the new allocation fits (allocationSuccess).
    pub(crate) fn fits(&self) -> bool {
        self.size_needed <= self.size_available
    }
}

/// Computes the allocation TPM2_PCR_Allocate asks for, starting from `current`: banks the
/// request does not name keep their allocation, and when a bank is named twice the last entry
/// wins. TPM_RC_PCR if no bank would keep the H-CRTM PCR (0) or the D-RTM PCR (17).
pub(crate) fn allocate(
    current: &TpmlPcrSelection,
    request: &TpmlPcrSelection,
) -> Result<Allocation, TpmRc> {
    let mut masks = [0u32; HASH_COUNT];
    for (i, alg) in HashAlg::ALL.iter().enumerate() {
        masks[i] = current
            .iter()
            .rfind(|s| s.hash == alg.alg())
            .map_or(0, |s| mask_of(s.select));
        if let Some(s) = request.iter().rfind(|s| s.hash == alg.alg()) {
            masks[i] = mask_of(s.select);
        }
    }
    let any_has = |pcr: usize| masks.iter().any(|m| m & (1 << pcr) != 0);
    if !any_has(HCRTM_PCR) || !any_has(DRTM_PCR) {
        return Err(TpmRc::PCR);
    }
    let size =
        |alg: HashAlg, mask: u32| mask.count_ones() * u32::try_from(alg.digest_size()).unwrap_or(0);
    let size_needed = HashAlg::ALL
        .iter()
        .zip(masks)
        .map(|(a, m)| size(*a, m))
        .sum();
    let size_available = HashAlg::ALL
        .iter()
        .map(|a| size(*a, (1 << PCR_COUNT) - 1))
        .sum();
    let selection = HashAlg::ALL
        .iter()
        .zip(masks)
        .map(|(a, m)| TpmsPcrSelection {
            hash: a.alg(),
            select: select_of(m),
        })
        .collect();
    Ok(Allocation {
        selection: TpmlPcrSelection::new(selection).map_err(|_| TpmRc::SIZE)?,
        max_pcr: PCR_COUNT,
        size_needed,
        size_available,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The locality matrix swtpm 0.7.1 / libtpms 0.9 answered, PCR by PCR (localities 0–4,
    /// 1 = allowed): TPM2_PCR_Extend and TPM2_PCR_Reset at each locality.
    const SWTPM_EXTEND: [[u8; 5]; PCRS] = {
        let mut t = [[1; 5]; PCRS];
        t[17] = [0, 0, 1, 1, 1];
        t[18] = [0, 0, 1, 1, 1];
        t[19] = [0, 0, 1, 1, 0];
        t[20] = [0, 1, 1, 1, 0];
        t[21] = [0, 0, 1, 0, 0];
        t[22] = [0, 0, 1, 0, 0];
        t
    };
    const SWTPM_RESET: [[u8; 5]; PCRS] = {
        let mut t = [[0; 5]; PCRS];
        t[16] = [1, 1, 1, 1, 0];
        t[20] = [0, 0, 1, 0, 0];
        t[21] = [0, 0, 1, 0, 0];
        t[22] = [0, 0, 1, 0, 0];
        t[23] = [1, 1, 1, 1, 0];
        t
    };

    #[test]
    fn locality_rules_match_swtpm() {
        for pcr in 0..PCRS {
            for loc in 0..5u8 {
                let l = usize::from(loc);
                assert_eq!(
                    may_extend(pcr, loc),
                    SWTPM_EXTEND[pcr][l] == 1,
                    "extend {pcr} @{loc}"
                );
                assert_eq!(
                    may_reset(pcr, loc),
                    SWTPM_RESET[pcr][l] == 1,
                    "reset {pcr} @{loc}"
                );
            }
            for loc in [5u8, 7, 32, 255] {
                assert!(!may_extend(pcr, loc) && !may_reset(pcr, loc));
            }
        }
        assert!(!may_extend(24, 0) && !may_reset(24, 2));
        let no_increment: Vec<usize> = (0..PCRS).filter(|&p| !counts_updates(p)).collect();
        assert_eq!(no_increment, [16, 21, 22, 23]);
        let saved: Vec<usize> = (0..PCRS).filter(|&p| state_saved(p)).collect();
        assert_eq!(saved, (0..16).collect::<Vec<_>>());
    }

    #[test]
    fn reset_values_counter_and_startup_kinds() {
        let alloc = PcrBanks::default_allocation();
        assert_eq!(alloc.len(), 4);
        assert_eq!(alloc[3].hash, TpmAlgId::SHA512);
        assert!(alloc[3].select.is_empty());
        let mut b = PcrBanks::new(&alloc);
        assert_eq!(b.banks.len(), 3);
        assert_eq!(b.update_counter, 20);
        for bank in &b.banks {
            for p in 0..PCRS {
                let fill = if (17..=22).contains(&p) { 0xFF } else { 0 };
                assert_eq!(bank.values[p], alloc::vec![fill; bank.alg.digest_size()]);
            }
        }
        b.set_startup_locality(3);
        assert_eq!(b.value(HashAlg::Sha256, 0).unwrap()[31], 3);
        assert_eq!(b.value(HashAlg::Sha256, 0).unwrap()[..31], [0; 31]);
        for p in [0usize, 5, 16, 17, 20, 23] {
            b.extend(p, HashAlg::Sha1, &[0x11; 20]);
        }
        assert_eq!(b.update_counter, 24);
        let extended = |b: &PcrBanks, p| b.value(HashAlg::Sha1, p).unwrap().to_vec();
        let v5 = extended(&b, 5);
        let resumed = b.resumed();
        assert_eq!(resumed.update_counter, 28);
        assert_eq!(extended(&resumed, 5), v5);
        assert_eq!(extended(&resumed, 0), extended(&b, 0));
        assert_eq!(extended(&resumed, 16), [0; 20]);
        assert_eq!(extended(&resumed, 17), [0xFF; 20]);
        let restarted = resumed.restarted();
        assert_eq!(restarted.update_counter, 48);
        assert_eq!(extended(&restarted, 5), [0; 20]);
        assert_eq!(extended(&restarted, 20), [0xFF; 20]);
    }

    #[test]
    fn extend_and_reset_touch_only_allocated_pcrs() {
        // SHA-256 with PCRs 0 and 17 only, SHA-1 full.
        let mut sel = PcrBanks::default_allocation().into_vec();
        sel[1].select = select_of(1 | 1 << 17);
        sel[2].select = select_of(0);
        let mut b = PcrBanks::new(&TpmlPcrSelection::new(sel).unwrap());
        assert_eq!(b.banks.len(), 2);
        let c = b.update_counter;
        b.extend(5, HashAlg::Sha256, &[1; 32]);
        b.extend(5, HashAlg::Sha384, &[1; 48]);
        assert_eq!(b.update_counter, c, "nothing allocated was extended");
        b.extend(5, HashAlg::Sha1, &[1; 20]);
        assert_eq!(b.update_counter, c + 1);
        assert_eq!(b.value(HashAlg::Sha256, 5), None);
        b.extend(16, HashAlg::Sha1, &[1; 20]);
        assert_eq!(b.update_counter, c + 1, "PCR 16 does not count");
        b.reset(16);
        assert_eq!(b.value(HashAlg::Sha1, 16).unwrap(), [0; 20]);
        b.reset(20);
        assert_eq!(
            b.value(HashAlg::Sha1, 20).unwrap(),
            [0; 20],
            "reset is zero, not ones"
        );
        assert_eq!(b.update_counter, c + 2);
    }

    fn selection(banks: &[(TpmAlgId, &[u32])]) -> TpmlPcrSelection {
        TpmlPcrSelection::new(
            banks
                .iter()
                .map(|(a, p)| TpmsPcrSelection::new(*a, p).unwrap())
                .collect(),
        )
        .unwrap()
    }

    #[test]
    fn read_filters_and_stops_at_eight() {
        let b = PcrBanks::new(&PcrBanks::default_allocation());
        let all: Vec<u32> = (0..24).collect();
        let (sel, v) = b.read(&selection(&[(TpmAlgId::SHA1, &all)]));
        assert_eq!(v.len(), 8);
        assert_eq!(sel[0].select.bitmap(), [0xFF, 0, 0]);
        let (sel, v) = b.read(&selection(&[
            (TpmAlgId::SHA1, &[0, 1, 2]),
            (TpmAlgId::SHA256, &all),
            (TpmAlgId::SHA384, &[0, 1]),
        ]));
        assert_eq!(v.len(), 8);
        assert_eq!(v[2].len(), 20);
        assert_eq!(v[3].len(), 32);
        let bitmaps: Vec<&[u8]> = sel.iter().map(|s| s.select.bitmap()).collect();
        assert_eq!(bitmaps, [&[7u8, 0, 0][..], &[0x1F, 0, 0], &[0, 0, 0]]);
        // SHA-512 is not allocated: kept in the list, deselected.
        let (sel, v) = b.read(&selection(&[
            (TpmAlgId::SHA512, &[2]),
            (TpmAlgId::SHA384, &[1]),
        ]));
        assert_eq!(v.len(), 1);
        assert_eq!(sel.len(), 2);
        assert!(sel[0].select.is_empty());
        // The PCR digest concatenates the selected values.
        let d = b.digest(HashAlg::Sha256, &selection(&[(TpmAlgId::SHA1, &[16, 17])]));
        let mut cat = alloc::vec![0u8; 20];
        cat.extend_from_slice(&[0xFF; 20]);
        assert_eq!(d, digest(HashAlg::Sha256, &[&cat]));
    }

    #[test]
    fn allocate_keeps_unnamed_banks_and_needs_pcr_0_and_17() {
        let current = PcrBanks::default_allocation();
        let all: Vec<u32> = (0..24).collect();
        // Only SHA-256 and SHA-384, as swtpm answered: sizeNeeded 0x780, sizeAvailable 0xF60.
        let req = selection(&[
            (TpmAlgId::SHA1, &[]),
            (TpmAlgId::SHA256, &all),
            (TpmAlgId::SHA384, &all),
            (TpmAlgId::SHA512, &[]),
        ]);
        let a = allocate(&current, &req).unwrap();
        assert!(a.fits());
        assert_eq!(
            (a.max_pcr, a.size_needed, a.size_available),
            (24, 0x780, 0xF60)
        );
        assert_eq!(PcrBanks::new(&a.selection).banks.len(), 2);
        // An empty request keeps the current allocation.
        let a = allocate(&current, &TpmlPcrSelection::empty()).unwrap();
        assert_eq!(a.size_needed, 24 * (20 + 32 + 48));
        assert_eq!(a.selection, current);
        // The last entry for a bank wins.
        let req = selection(&[(TpmAlgId::SHA512, &all), (TpmAlgId::SHA512, &[0, 17])]);
        assert_eq!(
            allocate(&current, &req).unwrap().size_needed,
            24 * 100 + 2 * 64
        );
        // Nothing keeps PCR 17 (or PCR 0).
        let req = selection(&[
            (TpmAlgId::SHA1, &[]),
            (TpmAlgId::SHA256, &[0]),
            (TpmAlgId::SHA384, &[]),
        ]);
        assert_eq!(allocate(&current, &req).err(), Some(TpmRc::PCR));
        let req = selection(&[
            (TpmAlgId::SHA1, &[]),
            (TpmAlgId::SHA256, &[17]),
            (TpmAlgId::SHA384, &[]),
        ]);
        assert_eq!(allocate(&current, &req).err(), Some(TpmRc::PCR));
        let req = selection(&[
            (TpmAlgId::SHA1, &[]),
            (TpmAlgId::SHA256, &[0, 17]),
            (TpmAlgId::SHA384, &[]),
        ]);
        assert_eq!(allocate(&current, &req).unwrap().size_needed, 64);
    }

    #[test]
    fn selection_parsing_follows_libtpms() {
        let parse = |b: &[u8]| read_selection(&mut Reader::new(b));
        let rc = |b: &[u8]| crate::engine::rcmap::wire_rc(&parse(b).unwrap_err());
        assert_eq!(
            parse(&[0, 0, 0, 1, 0, 0x0b, 3, 1, 0, 0]).unwrap()[0]
                .select
                .bitmap(),
            [1, 0, 0]
        );
        for size in [0u8, 1, 2, 4] {
            let mut b = alloc::vec![0, 0, 0, 1, 0, 0x0b, size];
            b.extend(core::iter::repeat_n(0, usize::from(size)));
            assert_eq!(rc(&b), TpmRc::VALUE, "sizeofSelect {size}");
        }
        assert_eq!(rc(&[0, 0, 0, 1, 0, 0x12, 3, 0, 0, 0]), TpmRc::HASH);
        assert_eq!(rc(&[0, 0, 0, 1, 0, 0x10, 3, 0, 0, 0]), TpmRc::HASH);
        assert_eq!(rc(&[0, 0, 0, 5]), TpmRc::SIZE);
        assert_eq!(rc(&[0, 0, 0, 1, 0, 0x0b, 3, 0]), TpmRc::INSUFFICIENT);
        let dv = |b: &[u8]| read_digest_values(&mut Reader::new(b));
        let mut one = alloc::vec![0, 0, 0, 1, 0, 4];
        one.extend([7; 20]);
        assert_eq!(dv(&one).unwrap(), [(HashAlg::Sha1, alloc::vec![7; 20])]);
        assert!(matches!(dv(&one[..20]), Err(tpm2::Error::Truncated { .. })));
        assert!(matches!(
            dv(&[0, 0, 0, 5]),
            Err(tpm2::Error::TooLarge { .. })
        ));
        assert!(matches!(
            dv(&[0, 0, 0, 1, 0, 0x10]),
            Err(tpm2::Error::BadValue { .. })
        ));
    }

    #[test]
    fn persist_round_trip_and_rejects_damage() {
        let mut b = PcrBanks::new(&PcrBanks::default_allocation());
        b.extend(3, HashAlg::Sha384, &[9; 48]);
        let mut w = Writer::new();
        b.save(&mut w);
        let mut r = Loader::new(&w.out);
        let back = PcrBanks::load(&mut r).unwrap();
        assert_eq!(r.remaining(), 0);
        assert_eq!(back.update_counter, b.update_counter);
        assert_eq!(back.value(HashAlg::Sha384, 3), b.value(HashAlg::Sha384, 3));
        assert_eq!(back.banks.len(), 3);
        // A zero allocation mask, a repeated bank and a short value are rejected.
        let good = w.out.to_vec();
        let mut bad = good.clone();
        bad[8 + 2..8 + 6].copy_from_slice(&[0; 4]);
        assert!(PcrBanks::load(&mut Loader::new(&bad)).is_err());
        let mut bad = good.clone();
        bad[7] = 9;
        assert_eq!(
            PcrBanks::load(&mut Loader::new(&bad)).err(),
            Some(StateError::TooLarge("PCR bank count"))
        );
        assert!(PcrBanks::load(&mut Loader::new(&good[..good.len() - 1])).is_err());
    }
}
