//! pv-grub-style measurement (reference `xen-vtpm.md` §8): digests against pv-grub's own wire
//! example, expected PCRs recomputed independently, and an end-to-end run on a private swtpm
//! read back with our PCR_Read and with tpm2-tools' `tpm2_pcrread`. swtpm and tpm2-tools must
//! be installed: a missing program fails the test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::Command;
use std::time::Instant;

use sha1::Sha1;
use sha2::{Digest, Sha256};
use tpm2::transport::Transport;
use vtpm_tools::Error;
use vtpm_tools::measure::{BootFiles, Measurement, PcrValues, extend, hex, read_pcrs};
use vtpm_tools::swtpm::{Swtpm, SwtpmOptions};

/// pv-grub's third TPM 1.2 TPM_Extend when there is no initrd (§8): PCR 5 with SHA-1("").
const PV_GRUB_EMPTY_INITRD: [u8; 34] = [
    0x00, 0xC1, 0x00, 0x00, 0x00, 0x22, 0x00, 0x00, 0x00, 0x14, 0x00, 0x00, 0x00, 0x05, 0xDA, 0x39,
    0xA3, 0xEE, 0x5E, 0x6B, 0x4B, 0x0D, 0x32, 0x55, 0xBF, 0xEF, 0x95, 0x60, 0x18, 0x90, 0xAF, 0xD8,
    0x07, 0x09,
];

/// The TPM 1.2 TPM_Extend pv-grub sends: TAG_RQU_COMMAND, size 34, TPM_ORD_Extend, PCR, digest.
fn tpm12_extend(pcr: u32, digest: &[u8; 20]) -> Vec<u8> {
    let mut c = vec![0x00, 0xC1];
    c.extend_from_slice(&34u32.to_be_bytes());
    c.extend_from_slice(&0x14u32.to_be_bytes());
    c.extend_from_slice(&pcr.to_be_bytes());
    c.extend_from_slice(digest);
    c
}

const KERNEL: &[u8] = b"a kernel image\n\x00\x01\x02 with binary bytes";
const INITRD: &[u8] = b"an initrd";
const CMDLINE: &str = "root=/dev/xvda1 ro console=hvc0";

#[test]
fn empty_initrd_digest_matches_pv_grub_wire_example() {
    let m = Measurement::of(&BootFiles {
        kernel: KERNEL,
        cmdline: CMDLINE,
        initrd: None,
    });
    assert_eq!(&m.sha1.initrd[..], &PV_GRUB_EMPTY_INITRD[14..]);
    assert_eq!(tpm12_extend(5, &m.sha1.initrd), PV_GRUB_EMPTY_INITRD);
    assert_eq!(
        hex(&m.sha1.initrd),
        "da39a3ee5e6b4b0d3255bfef95601890afd80709"
    );
    assert_eq!(
        hex(&m.sha256.initrd),
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    );
    // An empty initrd file and no initrd are measured the same way.
    let empty = Measurement::of(&BootFiles {
        kernel: KERNEL,
        cmdline: CMDLINE,
        initrd: Some(&[]),
    });
    assert_eq!(empty, m);
}

/// PCR4 = H(0 ‖ H(kernel)), PCR5 = H(H(0 ‖ H(cmdline)) ‖ H(initrd)), written out per bank.
fn independent(
    kernel: &[u8],
    cmdline: &str,
    initrd: &[u8],
) -> (Vec<u8>, Vec<u8>, Vec<u8>, Vec<u8>) {
    let s1 = |parts: &[&[u8]]| {
        let mut h = Sha1::new();
        for p in parts {
            h.update(p);
        }
        h.finalize().to_vec()
    };
    let s256 = |parts: &[&[u8]]| {
        let mut h = Sha256::new();
        for p in parts {
            h.update(p);
        }
        h.finalize().to_vec()
    };
    let z1 = [0u8; 20];
    let z256 = [0u8; 32];
    let p4_1 = s1(&[&z1, &s1(&[kernel])]);
    let p5_1 = s1(&[&s1(&[&z1, &s1(&[cmdline.as_bytes()])]), &s1(&[initrd])]);
    let p4_256 = s256(&[&z256, &s256(&[kernel])]);
    let p5_256 = s256(&[
        &s256(&[&z256, &s256(&[cmdline.as_bytes()])]),
        &s256(&[initrd]),
    ]);
    (p4_1, p5_1, p4_256, p5_256)
}

#[test]
fn expected_values_match_an_independent_computation() {
    for (initrd, bytes) in [(Some(INITRD), INITRD), (None, &b""[..])] {
        for cmdline in [CMDLINE, ""] {
            let m = Measurement::of(&BootFiles {
                kernel: KERNEL,
                cmdline,
                initrd,
            });
            let e = m.expected();
            let (p4_1, p5_1, p4_256, p5_256) = independent(KERNEL, cmdline, bytes);
            assert_eq!(e.sha1.pcr4.to_vec(), p4_1);
            assert_eq!(e.sha1.pcr5.to_vec(), p5_1);
            assert_eq!(e.sha256.pcr4.to_vec(), p4_256);
            assert_eq!(e.sha256.pcr5.to_vec(), p5_256);
            assert_eq!(m.expected_from(&PcrValues::ZERO), e);
        }
    }
    // The command line is hashed without a terminating NUL.
    let m = Measurement::of(&BootFiles {
        kernel: KERNEL,
        cmdline: "abc",
        initrd: None,
    });
    assert_eq!(
        hex(&m.sha1.cmdline),
        "a9993e364706816aba3e25717850c26c9cd0d89d"
    );
}

/// A TPM that answers every command with one fixed response, counting commands.
struct Canned {
    response: Vec<u8>,
    commands: Vec<Vec<u8>>,
}

impl Transport for Canned {
    type Error = Error;

    fn transact(&mut self, command: &[u8], response: &mut [u8]) -> Result<usize, Error> {
        self.commands.push(command.to_vec());
        response[..self.response.len()].copy_from_slice(&self.response);
        Ok(self.response.len())
    }
}

#[test]
fn extend_stops_at_the_first_error_response() {
    let m = Measurement::of(&BootFiles {
        kernel: KERNEL,
        cmdline: CMDLINE,
        initrd: None,
    });
    // TPM_RC_LOCALITY (0x907) as a bare 10-byte error response.
    let mut t = Canned {
        response: vec![0x80, 0x01, 0, 0, 0, 10, 0, 0, 0x09, 0x07],
        commands: Vec::new(),
    };
    let e = extend(&mut t, &m).unwrap_err();
    assert!(matches!(e, Error::Tpm { .. }), "{e}");
    assert!(e.to_string().contains("TPM2_PCR_Extend"), "{e}");
    assert_eq!(t.commands.len(), 1);
    // The command: sessions tag, PCR_Extend, handle PCR 4, TPM_RS_PW with empty auth, then a
    // TPML_DIGEST_VALUES of count 2: sha1 (0x0004) and sha256 (0x000B).
    let c = &t.commands[0];
    assert_eq!(&c[..2], &[0x80, 0x02]);
    assert_eq!(&c[6..10], &0x182u32.to_be_bytes());
    assert_eq!(&c[10..14], &4u32.to_be_bytes());
    assert_eq!(&c[14..18], &9u32.to_be_bytes()); // authorization size
    assert_eq!(&c[18..27], &[0x40, 0, 0, 9, 0, 0, 1, 0, 0]);
    assert_eq!(&c[27..33], &[0, 0, 0, 2, 0, 4]);
    assert_eq!(&c[33..53], &m.sha1.kernel);
    assert_eq!(&c[53..55], &[0, 0x0b]);
    assert_eq!(&c[55..87], &m.sha256.kernel);
    assert_eq!(c.len(), 87);
    // A successful response with a session goes on to all three extends.
    let mut ok = Canned {
        response: vec![
            0x80, 0x02, 0, 0, 0, 19, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0,
        ],
        commands: Vec::new(),
    };
    extend(&mut ok, &m).unwrap();
    let pcrs: Vec<u8> = ok.commands.iter().map(|c| c[13]).collect();
    assert_eq!(pcrs, [4, 5, 5]);
    assert_eq!(&ok.commands[2][33..53], &m.sha1.initrd);
}

/// Runs `tpm2_pcrread` on swtpm and returns the values in order: sha1 4, 5, sha256 4, 5.
fn tpm2_pcrread(data_port: u16) -> Vec<String> {
    let out = Command::new("tpm2_pcrread")
        .args(["-T", &format!("swtpm:host=127.0.0.1,port={data_port}")])
        .arg("sha1:4,5+sha256:4,5")
        .output()
        .unwrap_or_else(|e| {
            panic!("tpm2_pcrread could not be run ({e}): install Debian's tpm2-tools package")
        });
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "tpm2_pcrread failed: {}{}",
        text,
        String::from_utf8_lossy(&out.stderr)
    );
    text.lines()
        .filter_map(|l| l.split_once(": 0x").map(|(_, v)| v.trim().to_lowercase()))
        .collect()
}

#[test]
fn extend_on_swtpm_reads_back_expected_pcrs() {
    let sw = Swtpm::spawn(SwtpmOptions {
        startup_clear: true,
    })
    .expect("swtpm must be installed and start");
    let m = Measurement::of(&BootFiles {
        kernel: KERNEL,
        cmdline: CMDLINE,
        initrd: Some(INITRD),
    });
    let start = Instant::now();
    let read = {
        let mut t = sw.connect().unwrap();
        assert_eq!(read_pcrs(&mut t).unwrap(), PcrValues::ZERO);
        extend(&mut t, &m).unwrap();
        read_pcrs(&mut t).unwrap()
        // The data connection closes here so that tpm2_pcrread can connect.
    };
    println!("extend + read back: {:?}", start.elapsed());
    assert_eq!(read, m.expected());
    let tools = tpm2_pcrread(sw.data_port());
    let e = m.expected();
    assert_eq!(
        tools,
        [
            hex(&e.sha1.pcr4),
            hex(&e.sha1.pcr5),
            hex(&e.sha256.pcr4),
            hex(&e.sha256.pcr5)
        ]
    );
    // Measuring a second time continues from the current values.
    let mut t = sw.connect().unwrap();
    extend(&mut t, &m).unwrap();
    assert_eq!(read_pcrs(&mut t).unwrap(), m.expected_from(&read));
}

#[test]
fn measure_command_on_the_example_guests() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../config/examples/boot");
    let kernel = format!("{dir}/guest3-kernel.img");
    let bytes = std::fs::read(&kernel).unwrap();
    let m = Measurement::of(&BootFiles {
        kernel: &bytes,
        cmdline: "console=hvc0 init=/bin/sh",
        initrd: None,
    });
    let run = |extra: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_measure"))
            .args([
                "--kernel",
                &kernel,
                "--cmdline",
                "console=hvc0 init=/bin/sh",
            ])
            .args(extra)
            .output()
            .unwrap()
    };
    let out = run(&[]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains(&format!("sha1   PCR4 {}", hex(&m.expected().sha1.pcr4))),
        "{text}"
    );
    assert!(
        text.contains(&format!("sha256 PCR5 {}", hex(&m.expected().sha256.pcr5))),
        "{text}"
    );
    assert!(
        text.contains("sha1   initrd   da39a3ee5e6b4b0d3255bfef95601890afd80709"),
        "{text}"
    );

    let out = run(&["--tpm", "spawn", "--json"]);
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("\"match\": true"), "{text}");
    assert!(text.contains(&hex(&m.expected().sha256.pcr4)), "{text}");

    let out = run(&["--tpm", "bogus"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("bad TPM specification"));
}
