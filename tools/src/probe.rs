//! `vtpmctl probe`: identify a TPM 2.0 — specification level, manufacturer, firmware version,
//! implemented algorithms and PCR banks — using only TPM2_GetCapability (part 3 §30.2) and, if
//! the TPM has not been started, TPM2_Startup(CLEAR).

use std::fmt::Write as _;

use tpm2::alg::TpmAlgId;
use tpm2::cap::TpmCap;
use tpm2::client::{Client, ClientError};
use tpm2::pt::TpmPt;
use tpm2::rc::TpmRc;
use tpm2::st::TpmSu;
use tpm2::structures::{TpmaAlgorithm, TpmsCapabilityData};
use tpm2::transport::Transport;

/// What a probe found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeReport {
    /// Whether the TPM answered TPM_RC_INITIALIZE and the probe sent TPM2_Startup(CLEAR).
    pub started_up: bool,
    /// TPM_PT_FAMILY_INDICATOR as text (e.g. "2.0").
    pub family: String,
    /// TPM_PT_LEVEL.
    pub level: u32,
    /// TPM_PT_REVISION (the specification revision × 100, e.g. 164 for 1.64).
    pub revision: u32,
    /// TPM_PT_YEAR and TPM_PT_DAY_OF_YEAR of the specification.
    pub spec_date: (u32, u32),
    /// TPM_PT_MANUFACTURER as its four ASCII characters.
    pub manufacturer: String,
    /// TPM_PT_MANUFACTURER as a number.
    pub manufacturer_id: u32,
    /// TPM_PT_VENDOR_STRING_1..4 concatenated.
    pub vendor_string: String,
    /// TPM_PT_VENDOR_TPM_TYPE.
    pub vendor_tpm_type: u32,
    /// TPM_PT_FIRMWARE_VERSION_1 and _2.
    pub firmware: (u32, u32),
    /// TPM_PT_MAX_COMMAND_SIZE and TPM_PT_MAX_RESPONSE_SIZE.
    pub max_command_response: (u32, u32),
    /// Every implemented algorithm with its attributes (TPM_CAP_ALGS).
    pub algorithms: Vec<(TpmAlgId, TpmaAlgorithm)>,
    /// PCR banks (TPM_CAP_PCRS).
    pub pcr_banks: Vec<PcrBank>,
}

/// One PCR bank.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PcrBank {
    /// The bank's hash algorithm.
    pub alg: TpmAlgId,
    /// How many PCRs the bank's selection bitmap covers.
    pub pcr_count: usize,
    /// How many PCRs of the bank are allocated (active).
    pub allocated: usize,
}

/// Four big-endian bytes of a property as text, dropping NULs and non-printing bytes.
fn ascii(words: &[u32]) -> String {
    words
        .iter()
        .flat_map(|w| w.to_be_bytes())
        .filter(|b| b.is_ascii_graphic() || *b == b' ')
        .map(char::from)
        .collect::<String>()
        .trim_end()
        .to_owned()
}

/// The short names of TPMA_ALGORITHM bits (part 2 §8.2).
const ALG_ATTRIBUTE_NAMES: [(u32, &str); 7] = [
    (TpmaAlgorithm::ASYMMETRIC, "asymmetric"),
    (TpmaAlgorithm::SYMMETRIC, "symmetric"),
    (TpmaAlgorithm::HASH, "hash"),
    (TpmaAlgorithm::OBJECT, "object"),
    (TpmaAlgorithm::SIGNING, "signing"),
    (TpmaAlgorithm::ENCRYPTING, "encrypting"),
    (TpmaAlgorithm::METHOD, "method"),
];

/// The set attribute names of an algorithm.
pub fn alg_attribute_names(a: TpmaAlgorithm) -> Vec<&'static str> {
    ALG_ATTRIBUTE_NAMES
        .iter()
        .filter(|(bit, _)| a.has(*bit))
        .map(|(_, n)| *n)
        .collect()
}

/// An algorithm's name without the `TPM_ALG_` prefix, lower case (e.g. `sha256`).
pub fn alg_short_name(alg: TpmAlgId) -> String {
    alg.name().map_or_else(
        || format!("{:#06x}", alg.0),
        |n| n.trim_start_matches("TPM_ALG_").to_lowercase(),
    )
}

/// Reads every value of `capability` from `first` on, following `moreData`.
fn read_all<T: Transport>(
    client: &mut Client<T>,
    capability: TpmCap,
    first: u32,
) -> Result<Vec<TpmsCapabilityData>, ClientError<T::Error>> {
    let mut out = Vec::new();
    let mut next = first;
    // Bound the paging: a TPM that always says "more" must not keep us here forever.
    for _ in 0..64 {
        let (more, data) = client.get_capability(capability, next, 0x7f)?;
        let last = match &data {
            TpmsCapabilityData::TpmProperties(l) => l.as_slice().last().map(|p| p.property.0),
            TpmsCapabilityData::Algorithms(l) => l.as_slice().last().map(|a| u32::from(a.alg.0)),
            _ => None,
        };
        out.push(data);
        match (more, last) {
            (true, Some(last)) if last >= next => next = last + 1,
            _ => break,
        }
    }
    Ok(out)
}

/// Probes the TPM behind `client`.
pub fn probe<T: Transport>(client: &mut Client<T>) -> Result<ProbeReport, ClientError<T::Error>> {
    let mut started_up = false;
    let fixed = match read_all(client, TpmCap::TPM_PROPERTIES, tpm2::pt::PT_FIXED) {
        Err(e) if e.rc() == Some(TpmRc::INITIALIZE) => {
            client.startup(TpmSu::CLEAR)?;
            started_up = true;
            read_all(client, TpmCap::TPM_PROPERTIES, tpm2::pt::PT_FIXED)?
        }
        other => other?,
    };
    let prop = |pt: TpmPt| {
        fixed.iter().find_map(|d| match d {
            TpmsCapabilityData::TpmProperties(l) => l.get(pt),
            _ => None,
        })
    };
    let p = |pt| prop(pt).unwrap_or(0);
    let mut algorithms = Vec::new();
    for d in read_all(client, TpmCap::ALGS, 0)? {
        if let TpmsCapabilityData::Algorithms(l) = d {
            algorithms.extend(l.as_slice().iter().map(|a| (a.alg, a.alg_properties)));
        }
    }
    let mut pcr_banks = Vec::new();
    if let (_, TpmsCapabilityData::AssignedPcr(l)) = client.get_capability(TpmCap::PCRS, 0, 1)? {
        for s in l.as_slice() {
            pcr_banks.push(PcrBank {
                alg: s.hash,
                pcr_count: s.select.bitmap().len() * 8,
                allocated: s.select.count(),
            });
        }
    }
    Ok(ProbeReport {
        started_up,
        family: ascii(&[p(TpmPt::FAMILY_INDICATOR)]),
        level: p(TpmPt::LEVEL),
        revision: p(TpmPt::REVISION),
        spec_date: (p(TpmPt::YEAR), p(TpmPt::DAY_OF_YEAR)),
        manufacturer: ascii(&[p(TpmPt::MANUFACTURER)]),
        manufacturer_id: p(TpmPt::MANUFACTURER),
        vendor_string: ascii(&[
            p(TpmPt::VENDOR_STRING_1),
            p(TpmPt::VENDOR_STRING_2),
            p(TpmPt::VENDOR_STRING_3),
            p(TpmPt::VENDOR_STRING_4),
        ]),
        vendor_tpm_type: p(TpmPt::VENDOR_TPM_TYPE),
        firmware: (p(TpmPt::FIRMWARE_VERSION_1), p(TpmPt::FIRMWARE_VERSION_2)),
        max_command_response: (p(TpmPt::MAX_COMMAND_SIZE), p(TpmPt::MAX_RESPONSE_SIZE)),
        algorithms,
        pcr_banks,
    })
}

impl ProbeReport {
    /// The firmware version as four 16-bit groups, the way platform tools show it.
    pub fn firmware_dotted(&self) -> String {
        let (a, b) = self.firmware;
        format!("{}.{}.{}.{}", a >> 16, a & 0xffff, b >> 16, b & 0xffff)
    }

    /// The specification revision as text (e.g. "1.64").
    pub fn revision_text(&self) -> String {
        format!("{}.{:02}", self.revision / 100, self.revision % 100)
    }

    /// A report for people.
    pub fn to_text(&self, target: &str) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "TPM at {target}");
        if self.started_up {
            let _ = writeln!(s, "  (the TPM was not started; sent TPM2_Startup(CLEAR))");
        }
        let _ = writeln!(
            s,
            "  specification  TPM {} level {} revision {} ({} day {})",
            self.family,
            self.level,
            self.revision_text(),
            self.spec_date.0,
            self.spec_date.1
        );
        let _ = writeln!(
            s,
            "  manufacturer   {} ({:#010x}), vendor string \"{}\", TPM type {:#x}",
            self.manufacturer, self.manufacturer_id, self.vendor_string, self.vendor_tpm_type
        );
        let _ = writeln!(
            s,
            "  firmware       {} ({:#010x} {:#010x})",
            self.firmware_dotted(),
            self.firmware.0,
            self.firmware.1
        );
        let _ = writeln!(
            s,
            "  buffers        command {} B, response {} B",
            self.max_command_response.0, self.max_command_response.1
        );
        let _ = writeln!(s, "  algorithms     {}", self.algorithms.len());
        for (alg, attrs) in &self.algorithms {
            let _ = writeln!(
                s,
                "    {:<14} {}",
                alg_short_name(*alg),
                alg_attribute_names(*attrs).join(", ")
            );
        }
        let _ = writeln!(s, "  PCR banks      {}", self.pcr_banks.len());
        for b in &self.pcr_banks {
            let _ = writeln!(
                s,
                "    {:<14} {} of {} PCRs allocated",
                alg_short_name(b.alg),
                b.allocated,
                b.pcr_count
            );
        }
        s
    }

    /// A report for programs (one JSON object).
    pub fn to_json(&self, target: &str) -> String {
        let algs: Vec<String> = self
            .algorithms
            .iter()
            .map(|(alg, attrs)| {
                let names: Vec<String> = alg_attribute_names(*attrs)
                    .iter()
                    .map(|n| json_str(n))
                    .collect();
                format!(
                    "{{\"name\":{},\"id\":{},\"attributes\":[{}]}}",
                    json_str(&alg_short_name(*alg)),
                    alg.0,
                    names.join(",")
                )
            })
            .collect();
        let banks: Vec<String> = self
            .pcr_banks
            .iter()
            .map(|b| {
                format!(
                    "{{\"alg\":{},\"pcrs\":{},\"allocated\":{}}}",
                    json_str(&alg_short_name(b.alg)),
                    b.pcr_count,
                    b.allocated
                )
            })
            .collect();
        format!(
            concat!(
                "{{\"tpm\":{},\"started_up\":{},\"family\":{},\"level\":{},\"revision\":{},",
                "\"spec_year\":{},\"spec_day_of_year\":{},\"manufacturer\":{},",
                "\"manufacturer_id\":{},\"vendor_string\":{},\"vendor_tpm_type\":{},",
                "\"firmware\":{},\"firmware_version_1\":{},\"firmware_version_2\":{},",
                "\"max_command_size\":{},\"max_response_size\":{},",
                "\"algorithms\":[{}],\"pcr_banks\":[{}]}}"
            ),
            json_str(target),
            self.started_up,
            json_str(&self.family),
            self.level,
            json_str(&self.revision_text()),
            self.spec_date.0,
            self.spec_date.1,
            json_str(&self.manufacturer),
            self.manufacturer_id,
            json_str(&self.vendor_string),
            self.vendor_tpm_type,
            json_str(&self.firmware_dotted()),
            self.firmware.0,
            self.firmware.1,
            self.max_command_response.0,
            self.max_command_response.1,
            algs.join(","),
            banks.join(","),
        )
    }
}

/// A JSON string literal for `s` (RFC 8259 §7 escaping).
pub fn json_str(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if u32::from(c) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ascii_and_json_escaping() {
        assert_eq!(ascii(&[0x4942_4d00]), "IBM");
        assert_eq!(ascii(&[0x5357_2020, 0x2054_504d, 0, 0]), "SW   TPM");
        assert_eq!(json_str("a\"b\\c\u{1}"), "\"a\\\"b\\\\c\\u0001\"");
    }
}
