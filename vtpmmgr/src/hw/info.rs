//! What the manager learns about the hardware TPM at start-up: TPM2_GetCapability (part 3
//! §30.2) of TPM_CAP_TPM_PROPERTIES (the PT_FIXED group, part 2 §6.13), TPM_CAP_ALGS and
//! TPM_CAP_PCRS, each paged with `moreData`, and every answer decoded with the bounds-checked
//! `tpm2` parsers (Xen decoded its PCR read from an in-memory struct as if it were wire
//! bytes, xen-vtpm.md §5.5).

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use tpm2::Marshal;
use tpm2::alg::TpmAlgId;
use tpm2::cap::TpmCap;
use tpm2::cc::TpmCc;
use tpm2::commands::{GetCapabilityCommand, GetCapabilityResponse};
use tpm2::handle::TpmHandle;
use tpm2::pt::{PT_FIXED, PT_GROUP, TpmPt};
use tpm2::structures::{MAX_CAP_ALGS, MAX_TPM_PROPERTIES, TpmsCapabilityData};
use tpm2::transport::Transport;

use super::error::HwError;
use super::policy::bitmap_of;
use super::wire::Wire;

/// One PCR bank of the TPM.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PcrBank {
    /// Its hash algorithm.
    pub hash: TpmAlgId,
    /// The allocated PCRs 0..=23 (bit n = PCR n); 0 for a bank that exists but is not
    /// allocated.
    pub pcrs: u32,
}

/// What the hardware TPM says about itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TpmInfo {
    /// TPM_PT_MANUFACTURER as its four ASCII characters, trailing NULs and spaces removed
    /// ("IBM" for swtpm, "INTC", "IFX", "NTC", "STM ", ...).
    pub manufacturer: String,
    /// TPM_PT_VENDOR_STRING_1..4 as ASCII, trailing NULs and spaces removed.
    pub vendor: String,
    /// TPM_PT_FIRMWARE_VERSION_1 and _2 (vendor-defined).
    pub firmware_version: (u32, u32),
    /// TPM_PT_FAMILY_INDICATOR ("2.0").
    pub family: String,
    /// TPM_PT_LEVEL.
    pub level: u32,
    /// TPM_PT_REVISION: the library specification revision times 100 (138 = 1.38).
    pub revision: u32,
    /// TPM_PT_YEAR and TPM_PT_DAY_OF_YEAR of the specification version.
    pub spec_date: (u32, u32),
    /// TPM_PT_PCR_COUNT.
    pub pcr_count: u32,
    /// TPM_PT_HR_TRANSIENT_MIN: the transient objects the TPM is guaranteed to hold at once.
    pub transient_slots: u32,
    /// TPM_CAP_ALGS: every implemented algorithm.
    pub algorithms: Vec<TpmAlgId>,
    /// TPM_CAP_PCRS: every PCR bank and its allocated PCRs.
    pub pcr_banks: Vec<PcrBank>,
}

impl TpmInfo {
    /// The allocated PCRs of `bank` (0 if the bank is absent).
    pub fn bank(&self, bank: TpmAlgId) -> u32 {
        self.pcr_banks
            .iter()
            .find(|b| b.hash == bank)
            .map_or(0, |b| b.pcrs)
    }
}

impl fmt::Display for TpmInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "TPM {} by {} ({}), firmware {:#x}.{:#x}, spec {} level {} revision {}.{:02} \
             ({}, day {}), {} PCRs, banks:",
            self.family,
            self.manufacturer,
            self.vendor,
            self.firmware_version.0,
            self.firmware_version.1,
            self.family,
            self.level,
            self.revision / 100,
            self.revision % 100,
            self.spec_date.0,
            self.spec_date.1,
            self.pcr_count,
        )?;
        for b in &self.pcr_banks {
            write!(f, " {}", b.hash)?;
            if b.pcrs == 0 {
                f.write_str("(unallocated)")?;
            }
        }
        Ok(())
    }
}

/// A property value as text: its four big-endian octets, stopping at the first NUL, trailing
/// spaces removed, anything outside printable ASCII replaced by '?'.
fn ascii(words: &[u32]) -> String {
    let mut s = String::new();
    'outer: for w in words {
        for b in w.to_be_bytes() {
            if b == 0 {
                break 'outer;
            }
            s.push(if b.is_ascii_graphic() || b == b' ' {
                char::from(b)
            } else {
                '?'
            });
        }
    }
    s.truncate(s.trim_end().len());
    s
}

/// The bound on GetCapability pages, so a TPM that always claims `moreData` cannot stall us.
const MAX_PAGES: usize = 64;

pub(crate) fn get_capability<T: Transport>(
    wire: &mut Wire<T>,
    capability: TpmCap,
    property: u32,
    count: u32,
) -> Result<(bool, TpmsCapabilityData), HwError> {
    let cmd = GetCapabilityCommand {
        capability,
        property,
        property_count: count,
    };
    let a = wire.exec(TpmCc::GET_CAPABILITY, &[], &[], &cmd.to_bytes())?;
    let mut r = a.reader(TpmCc::GET_CAPABILITY);
    let rsp: GetCapabilityResponse = r.read()?;
    r.finish()?;
    if rsp.capability_data.capability() != capability {
        return Err(HwError::Unexpected(
            "TPM2_GetCapability answered another capability",
        ));
    }
    Ok((rsp.more_data, rsp.capability_data))
}

/// Reads the PT_FIXED properties, the algorithms and the PCR banks.
pub(crate) fn read<T: Transport>(wire: &mut Wire<T>) -> Result<TpmInfo, HwError> {
    let mut props: Vec<(TpmPt, u32)> = Vec::new();
    let mut next = PT_FIXED;
    for _ in 0..MAX_PAGES {
        let (more, data) = get_capability(
            wire,
            TpmCap::TPM_PROPERTIES,
            next,
            u32::try_from(MAX_TPM_PROPERTIES).unwrap_or(0x7f),
        )?;
        let TpmsCapabilityData::TpmProperties(list) = data else {
            return Err(HwError::Unexpected("TPM_CAP_TPM_PROPERTIES"));
        };
        let Some(last) = list.iter().map(|p| p.property.0).max() else {
            break;
        };
        props.extend(list.iter().map(|p| (p.property, p.value)));
        if !more || last >= PT_FIXED + PT_GROUP - 1 || last < next {
            break;
        }
        next = last + 1;
    }
    let get = |pt: TpmPt| props.iter().find(|(p, _)| *p == pt).map_or(0, |&(_, v)| v);

    let mut algorithms = Vec::new();
    let mut next = 0u32;
    for _ in 0..MAX_PAGES {
        let (more, data) = get_capability(
            wire,
            TpmCap::ALGS,
            next,
            u32::try_from(MAX_CAP_ALGS).unwrap_or(0x7f),
        )?;
        let TpmsCapabilityData::Algorithms(list) = data else {
            return Err(HwError::Unexpected("TPM_CAP_ALGS"));
        };
        algorithms.extend(list.iter().map(|a| a.alg));
        match list.iter().map(|a| u32::from(a.alg.0)).max() {
            Some(last) if more && last >= next => next = last + 1,
            _ => break,
        }
    }

    let (_, data) = get_capability(wire, TpmCap::PCRS, 0, 1)?;
    let TpmsCapabilityData::AssignedPcr(selection) = data else {
        return Err(HwError::Unexpected("TPM_CAP_PCRS"));
    };
    let pcr_banks = selection
        .iter()
        .map(|s| PcrBank {
            hash: s.hash,
            pcrs: bitmap_of(&selection, s.hash),
        })
        .collect();

    Ok(TpmInfo {
        manufacturer: ascii(&[get(TpmPt::MANUFACTURER)]),
        vendor: ascii(&[
            get(TpmPt::VENDOR_STRING_1),
            get(TpmPt::VENDOR_STRING_2),
            get(TpmPt::VENDOR_STRING_3),
            get(TpmPt::VENDOR_STRING_4),
        ]),
        firmware_version: (
            get(TpmPt::FIRMWARE_VERSION_1),
            get(TpmPt::FIRMWARE_VERSION_2),
        ),
        family: ascii(&[get(TpmPt::FAMILY_INDICATOR)]),
        level: get(TpmPt::LEVEL),
        revision: get(TpmPt::REVISION),
        spec_date: (get(TpmPt::YEAR), get(TpmPt::DAY_OF_YEAR)),
        pcr_count: get(TpmPt::PCR_COUNT),
        transient_slots: get(TpmPt::HR_TRANSIENT_MIN),
        algorithms,
        pcr_banks,
    })
}

/// The transient objects loaded in the TPM (GetCapability(TPM_CAP_HANDLES) from 0x80000000).
pub(crate) fn transient_handles<T: Transport>(
    wire: &mut Wire<T>,
) -> Result<Vec<TpmHandle>, HwError> {
    let mut out: Vec<TpmHandle> = Vec::new();
    let mut next = 0x8000_0000;
    for _ in 0..MAX_PAGES {
        let (more, data) = get_capability(wire, TpmCap::HANDLES, next, 64)?;
        let TpmsCapabilityData::Handles(list) = data else {
            return Err(HwError::Unexpected(
                "TPM2_GetCapability answered another capability",
            ));
        };
        let mut last = None;
        for h in list.as_slice() {
            if h.0 >> 24 == 0x80 {
                out.push(*h);
            }
            last = Some(h.0);
        }
        match (more, last) {
            (true, Some(l)) if l >= next && l < 0x80FF_FFFF => next = l + 1,
            _ => break,
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ascii_stops_at_nul_and_trims() {
        assert_eq!(ascii(&[u32::from_be_bytes(*b"IBM\0")]), "IBM");
        assert_eq!(ascii(&[u32::from_be_bytes(*b"STM ")]), "STM");
        assert_eq!(
            ascii(&[
                u32::from_be_bytes(*b"SW  "),
                u32::from_be_bytes(*b" TPM"),
                0,
                0x4142_4344
            ]),
            "SW   TPM"
        );
        assert_eq!(ascii(&[0x41_01_42_00]), "A?B");
    }
}
