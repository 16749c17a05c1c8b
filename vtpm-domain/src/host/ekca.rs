//! The per-installation vTPM EK CA on the host ([`crate::ekcert`]): kept in a folder
//! (`ek-ca.key`: the P-256 scalar as 64 hex digits and the creation time, mode 0600;
//! `ek-ca.pem`: the self-signed certificate), created on first use. `vtpm-domain ek-cert`
//! prints the certificate so a verifier can trust it; `serve --ek-ca DIR` gives every vTPM
//! EK certificates issued by it.

use std::fmt::Write as _;
use std::fs;
use std::io::Write as _;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use zeroize::Zeroizing;

use super::platform::HostPlatform;
use super::server::Device;
use crate::ekcert::{self, EkCa, Provisioned};
use crate::engine::Platform;
use crate::engine::crypto::drbg::CtrDrbg;

const KEY_FILE: &str = "ek-ca.key";
const CERT_FILE: &str = "ek-ca.pem";

/// The CA folder used when none is given: `$VTPM_EK_CA_DIR`, else
/// `$XDG_DATA_HOME/vtpm-domain/ek-ca`, else `$HOME/.local/share/vtpm-domain/ek-ca`.
pub fn default_dir() -> Option<PathBuf> {
    if let Some(d) = std::env::var_os("VTPM_EK_CA_DIR") {
        return Some(d.into());
    }
    let base = std::env::var_os("XDG_DATA_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share")))?;
    Some(base.join("vtpm-domain/ek-ca"))
}

/// A DRBG seeded from the OS (for CA keys, serial numbers and ECDSA nonces).
pub fn host_rng() -> Result<CtrDrbg, String> {
    let mut p =
        HostPlatform::new().map_err(|e| format!("cannot open the OS random source: {e}"))?;
    let mut entropy = Zeroizing::new([0u8; 48]);
    let mut nonce = [0u8; 16];
    p.fill_entropy(&mut entropy[..]);
    p.fill_entropy(&mut nonce);
    Ok(CtrDrbg::instantiate(
        &entropy[..],
        &nonce,
        b"vtpm-domain EK CA",
    ))
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The CA in `dir`, created (key and certificate) if the folder holds none. The flag says
/// whether it was created now.
pub fn open_or_create(dir: &Path) -> Result<(EkCa, bool), String> {
    let key_path = dir.join(KEY_FILE);
    let cert_path = dir.join(CERT_FILE);
    if key_path.exists() {
        let ca = read_key(&key_path)?;
        if !cert_path.exists() {
            return Err(format!(
                "{}: the CA key exists but its certificate {CERT_FILE} is missing",
                dir.display()
            ));
        }
        return Ok((ca, false));
    }
    fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    fs::set_permissions(dir, fs::Permissions::from_mode(0o700))
        .map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut rng = host_rng()?;
    let ca = EkCa::generate(&mut rng, now()).map_err(|e| e.to_string())?;
    let cert = ca.certificate(&mut rng).map_err(|e| e.to_string())?;
    let mut text = Zeroizing::new(String::new());
    for b in ca.scalar().iter() {
        let _ = write!(text, "{b:02x}");
    }
    let _ = write!(text, "\ncreated {}\n", ca.created());
    write_new(&key_path, text.as_bytes(), 0o600)?;
    write_new(&cert_path, ekcert::pem(&cert).as_bytes(), 0o644)?;
    Ok((ca, true))
}

/// Creates `path` (never overwriting) with `mode` and writes `bytes`, synced.
fn write_new(path: &Path, bytes: &[u8], mode: u32) -> Result<(), String> {
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    f.write_all(bytes)
        .and_then(|()| f.sync_all())
        .map_err(|e| format!("{}: {e}", path.display()))
}

fn read_key(path: &Path) -> Result<EkCa, String> {
    let meta = fs::metadata(path).map_err(|e| format!("{}: {e}", path.display()))?;
    if meta.permissions().mode() & 0o077 != 0 {
        return Err(format!(
            "{}: the CA key must not be readable by group or others (chmod 600)",
            path.display()
        ));
    }
    if meta.len() > 256 {
        return Err(format!(
            "{}: not an EK CA key file (too large)",
            path.display()
        ));
    }
    let text =
        Zeroizing::new(fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?);
    let bad = || format!("{}: not an EK CA key file", path.display());
    let mut lines = text.lines();
    let hex = lines.next().ok_or_else(bad)?.trim();
    let created = lines
        .next()
        .and_then(|l| l.trim().strip_prefix("created "))
        .and_then(|v| v.parse::<u64>().ok())
        .ok_or_else(bad)?;
    if hex.len() != 64 || lines.any(|l| !l.trim().is_empty()) {
        return Err(bad());
    }
    let mut scalar = Zeroizing::new([0u8; 32]);
    for (i, byte) in scalar.iter_mut().enumerate() {
        *byte = hex
            .get(2 * i..2 * i + 2)
            .and_then(|h| u8::from_str_radix(h, 16).ok())
            .ok_or_else(bad)?;
    }
    EkCa::from_parts(&scalar[..], created).map_err(|e| format!("{}: {e}", path.display()))
}

/// The CA certificate (PEM) in `dir`, creating the CA first if needed.
pub fn ca_certificate_pem(dir: &Path) -> Result<(String, bool), String> {
    let (_, created) = open_or_create(dir)?;
    let path = dir.join(CERT_FILE);
    let pem = fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok((pem, created))
}

/// TPM2_Startup(CLEAR) and TPM2_Shutdown(CLEAR).
const STARTUP_CLEAR: [u8; 12] = [0x80, 0x01, 0, 0, 0, 12, 0, 0, 0x01, 0x44, 0, 0];
const SHUTDOWN_CLEAR: [u8; 12] = [0x80, 0x01, 0, 0, 0, 12, 0, 0, 0x01, 0x45, 0, 0];
/// TPM_RC_INITIALIZE: TPM2_Startup when the TPM already runs.
const RC_INITIALIZE: u32 = 0x100;

fn rc(rsp: &[u8]) -> u32 {
    rsp.get(6..10)
        .and_then(|b| <[u8; 4]>::try_from(b).ok())
        .map_or(u32::MAX, u32::from_be_bytes)
}

/// Gives the TPM of `device` its EK certificates from the CA in `dir` unless it has them. A
/// TPM waiting for TPM2_Startup is started for this, shut down orderly and power-cycled, so
/// the guest finds it waiting for TPM2_Startup as before.
pub fn provision_device(device: &mut Device, dir: &Path) -> Result<Provisioned, String> {
    let (ca, _) = open_or_create(dir)?;
    let started = match rc(&device.execute(0, &STARTUP_CLEAR)) {
        0 => true,
        RC_INITIALIZE => false,
        other => {
            return Err(format!(
                "TPM2_Startup for EK provisioning failed: rc {other:#010x}"
            ));
        }
    };
    let mut rng = host_rng()?;
    let mut exec = |cmd: &[u8]| device.execute(0, cmd);
    let result = ekcert::provision(&mut exec, &ca, now(), &mut rng)
        .map_err(|e| format!("EK certificates: {e}"));
    if started {
        let rsp = device.execute(0, &SHUTDOWN_CLEAR);
        if rc(&rsp) != 0 {
            return Err(format!(
                "TPM2_Shutdown after EK provisioning failed: rc {:#010x}",
                rc(&rsp)
            ));
        }
        device.power_on().map_err(|e| e.to_string())?;
    }
    result
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn created_once_then_reopened_and_guarded() {
        let dir = std::env::temp_dir().join(format!("vtpm-ekca-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let (first, created) = open_or_create(&dir).unwrap();
        assert!(created);
        let (again, created) = open_or_create(&dir).unwrap();
        assert!(!created);
        assert_eq!(first.key_id(), again.key_id());
        assert_eq!(first.created(), again.created());
        let (pem, _) = ca_certificate_pem(&dir).unwrap();
        assert!(pem.starts_with("-----BEGIN CERTIFICATE-----\n"));
        let key = dir.join(KEY_FILE);
        assert_eq!(
            fs::metadata(&key).unwrap().permissions().mode() & 0o777,
            0o600
        );
        fs::set_permissions(&key, fs::Permissions::from_mode(0o644)).unwrap();
        let err = open_or_create(&dir).unwrap_err();
        assert!(err.contains("chmod 600"), "{err}");
        fs::set_permissions(&key, fs::Permissions::from_mode(0o600)).unwrap();
        fs::write(&key, "zz\ncreated 1\n").unwrap();
        let err = open_or_create(&dir).unwrap_err();
        assert!(err.contains("not an EK CA key file"), "{err}");
        fs::remove_dir_all(&dir).unwrap();
    }
}
