//! Classification and validation of single files, the reference's §9.2 examples verbatim, and
//! every misconfiguration with its position.
#![allow(clippy::unwrap_used, clippy::panic, clippy::many_single_char_names)]

use config::{
    AuthSpec, ConfigError, Disk, Pos, Role, StartupMode, TpmDriver, TpmIrq, VtpmSpec, classify,
    parse,
};

fn role(text: &str) -> Result<Role, ConfigError> {
    classify(&parse("t.cfg", text).unwrap())
}

fn err(text: &str) -> ConfigError {
    match role(text) {
        Ok(r) => panic!("expected an error, got {r:?}"),
        Err(e) => e,
    }
}

fn check(text: &str, pos: (u32, u32), msg: &str) {
    let e = err(text);
    assert_eq!((e.line, e.column), pos, "{e}");
    assert!(e.to_string().contains(msg), "{e} does not say {msg:?}");
}

// The four example configurations of reference §9.2, verbatim.
const MGR_TPM12: &str = r#"name="vtpmmgr"
kernel="/usr/lib/xen/boot/vtpmmgr-stubdom.gz"
extra="tpmlocality=2"
memory=8
disk=["file:/images/vtpmmgr-stubdom.img,hda,w"]
iomem=["fed42,1"]
"#;
const MGR_TPM20: &str = r#"kernel="/usr/lib/xen/boot/vtpmmgr-stubdom.gz"
memory=128
disk=["file:/home/vtpm2/vmgr,hda,w"]
name="vtpmmgr"
iomem=["fed40,5"]
extra="tpm2=1"
"#;
const VTPM: &str = r#"name="vtpm-guest1"
kernel="/usr/lib/xen/boot/vtpm-stubdom.gz"
extra="loglevel=debug"
memory=8
disk=["file:/images/vtpm-guest1.img,hda,w"]
vtpm=["backend=vtpmmgr,uuid=ac0a5b9e-cbe2-4c07-b43b-1d69e46fb839"]
"#;
const GUEST: &str = r#"kernel="/usr/lib/xen/boot/pv-grub-x86_64.gz"
vtpm=["backend=vtpm-guest1"]
"#;

#[test]
fn reference_examples_golden() {
    // TPM 1.2 manager: parses, but is refused with a clear message at extra=.
    let c = parse("mgr12.cfg", MGR_TPM12).unwrap();
    assert_eq!(c.settings().len(), 6);
    assert_eq!(c.get("iomem").unwrap().value_pos, Pos::new(6, 7));
    let e = classify(&c).unwrap_err();
    assert_eq!(
        e.to_string(),
        "mgr12.cfg:3:7: extra=: TPM 1.2 managers are not supported: add tpm2=1 to extra= \
         (this manager drives a TPM 2.0)"
    );

    let Role::Manager(m) = role(MGR_TPM20).unwrap() else {
        panic!()
    };
    assert_eq!(m.name, "vtpmmgr");
    assert_eq!(m.kernel, "/usr/lib/xen/boot/vtpmmgr-stubdom.gz");
    assert_eq!(m.memory_mb, 128);
    assert_eq!(
        m.disk,
        Disk {
            path: "/home/vtpm2/vmgr".into(),
            vdev: "hda".into(),
            writable: true
        }
    );
    assert_eq!(m.iomem, vec![(0xfed40, 5)]);
    assert_eq!(m.options.locality, 0);
    assert_eq!(m.options.tpm_iomem, 0xFED4_0000);
    assert_eq!(m.options.driver, TpmDriver::TpmTis);
    assert_eq!(m.options.irq, TpmIrq::Polling);
    assert_eq!(m.options.owner_auth, AuthSpec::WellKnown);
    assert_eq!(m.options.srk_handle, None);

    // The TPM 1.2 example becomes valid as a TPM 2.0 manager with tpm2=1 (locality 2 page).
    let fixed = MGR_TPM12.replace("tpmlocality=2", "tpm2=1 tpmlocality=2");
    let Role::Manager(m) = role(&fixed).unwrap() else {
        panic!()
    };
    assert_eq!(
        (m.options.locality, m.iomem.clone()),
        (2, vec![(0xfed42, 1)])
    );
    assert_eq!(m.options.locality_pfn(), 0xfed42);

    let Role::VtpmDomain(v) = role(VTPM).unwrap() else {
        panic!()
    };
    assert_eq!(v.name, "vtpm-guest1");
    assert_eq!(v.memory_mb, 8);
    assert_eq!(v.disk.path, "/images/vtpm-guest1.img");
    assert_eq!(
        v.manager,
        VtpmSpec {
            backend: "vtpmmgr".into(),
            uuid: xen::xenbus::parse_uuid("ac0a5b9e-cbe2-4c07-b43b-1d69e46fb839")
        }
    );
    assert_eq!(v.options.loglevel, config::LogLevel::Debug);
    assert_eq!(v.options.startup, StartupMode::Clear);
    assert!(!v.options.maintcmds);

    // The guest fragment has no name= (a real xl file would): refused, naming the setting.
    let c = parse("g.cfg", GUEST).unwrap();
    assert_eq!(
        c.string_list("vtpm").unwrap(),
        vec![("backend=vtpm-guest1", Pos::new(2, 7))]
    );
    assert_eq!(
        classify(&c).unwrap_err().to_string(),
        "g.cfg: required setting name= is missing"
    );
    let Role::Guest(g) = role(&format!("name='g'\nmemory=64\n{GUEST}")).unwrap() else {
        panic!()
    };
    assert_eq!(g.vtpm.len(), 1);
    assert_eq!((g.ramdisk, g.cmdline), (None, None));
}

const MGR: &str = "name='m'\nkernel='/b/vtpmmgr-stubdom.gz'\nmemory=16\ndisk=['file:m.img,hda,w']\niomem=['fed40,5']\n";

#[test]
fn manager_options() {
    let Role::Manager(m) = role(&format!(
        "{MGR}extra='tpm2=1 tpmlocality=4 tpmirq=probe owner_auth=text:secret \
         srk_auth=hash:00112233445566778899aabbccddeeff00112233 srk_handle=81000001'"
    ))
    .unwrap() else {
        panic!()
    };
    assert_eq!(m.options.locality, 4);
    assert_eq!(m.options.irq, TpmIrq::Probe);
    assert_eq!(m.options.srk_handle, Some(0x8100_0001));
    // text: is SHA-1 of the string.
    assert_eq!(
        m.options.owner_auth.value()[..4],
        [0xe5, 0xe9, 0xfa, 0x1b] // sha1("secret") = e5e9fa1b...
    );
    assert_eq!(m.options.srk_auth.value()[..3], [0x00, 0x11, 0x22]);
    // Secrets never appear in Debug output.
    let dbg = format!("{m:?}");
    assert!(
        !dbg.contains("secret") && !dbg.contains("00112233"),
        "{dbg}"
    );
    assert!(dbg.contains("Text(<redacted>)"));

    let Role::Manager(m) = role(&format!(
        "{}extra='tpm2=1 tpmdriver=tpmfront tpmiomem=0xFED50000 tpmirq=7'\nvtpm=['backend=hw']\n",
        MGR.replace("iomem=['fed40,5']\n", "")
    ))
    .unwrap() else {
        panic!()
    };
    assert_eq!(m.options.driver, TpmDriver::Tpmfront);
    assert_eq!(m.options.tpm_iomem, 0xFED5_0000);
    assert_eq!(m.options.irq, TpmIrq::Line(7));
    assert!(m.iomem.is_empty());
}

#[test]
fn manager_errors() {
    let x = |extra: &str| format!("{MGR}extra='{extra}'\n");
    check(
        &x("tpmlocality=2"),
        (6, 7),
        "TPM 1.2 managers are not supported",
    );
    check(&x("tpm2=0"), (6, 7), "exactly tpm2=1");
    check(&x("tpm2=1 tpmlocality=5"), (6, 7), "0 to 4");
    check(
        &x("tpm2=1 tpmiomem=fed40000"),
        (6, 7),
        "page-aligned 0x<hex>",
    );
    check(&x("tpm2=1 tpmiomem=0xfed40001"), (6, 7), "page-aligned");
    check(&x("tpm2=1 tpmdriver=tis"), (6, 7), "tpm_tis or tpmfront");
    check(&x("tpm2=1 tpmirq=x"), (6, 7), "number or probe");
    check(&x("tpm2=1 owner_auth=hash:00"), (6, 7), "40 hex digits");
    check(
        &x("tpm2=1 srk_auth=secret"),
        (6, 7),
        "well-known, hash:<40 hex> or text:",
    );
    check(&x("tpm2=1 srk_handle=zz"), (6, 7), "hex handle");
    let e = err(&x("tpm2=1 ownerauth=text:hunter2"));
    assert!(
        e.to_string()
            .contains("unknown manager option \"ownerauth\""),
        "{e}"
    );
    assert!(
        !e.to_string().contains("hunter2"),
        "a secret was echoed: {e}"
    );
    // iomem must cover the locality's TIS page.
    let t = |m: String| format!("{m}extra='tpm2=1'\n");
    let m = MGR.replace("fed40,5", "fed40,2");
    check(
        &format!("{m}extra='tpm2=1 tpmlocality=2'"),
        (5, 7),
        "no range covers page 0xfed42",
    );
    assert!(role(&format!("{m}extra='tpm2=1'")).is_ok());
    check(
        &format!("{}extra='tpm2=1'", MGR.replace("iomem=['fed40,5']\n", "")),
        (0, 0),
        "iomem=: no range covers page 0xfed40",
    );
    check(
        &t(MGR.replace("fed40,5", "fed40")),
        (5, 8),
        "hexadecimal page numbers",
    );
    check(
        &t(MGR.replace("['fed40,5']", "'fed40,5'")),
        (5, 7),
        "iomem= must be a list",
    );
    // Disk rules.
    check(&t(MGR.replace(",hda,w", ",xvda,w")), (4, 7), "needs hda");
    check(
        &t(MGR.replace(",hda,w", ",hda,r")),
        (4, 7),
        "must be able to write its disk",
    );
    check(
        &t(MGR.replace("disk=['file:m.img,hda,w']\n", "")),
        (0, 0),
        "disk= is missing",
    );
    check(
        &t(MGR.replace("['file:m.img,hda,w']", "['a,hda,w', 'b,hda,w']")),
        (4, 6),
        "exactly one disk, not 2",
    );
    check(
        &t(MGR.replace("hda,w", "hda,w,x")),
        (4, 7),
        "extra disk parameter",
    );
    check(
        &t(MGR.replace("name='m'\n", "")),
        (0, 0),
        "name= is missing",
    );
    check(
        &t(MGR.replace("memory=16", "memory=0")),
        (3, 8),
        "at least 1",
    );
    check(
        &t(MGR.replace("memory=16", "memory='16'")),
        (3, 8),
        "memory= must be an integer",
    );
    check(
        &format!("{MGR}extra='tpm2=1'\nvtpm=['backend=x']\n"),
        (7, 6),
        "vtpm= is not allowed in a manager configuration",
    );
}

const VT: &str = "name='v'\nkernel='/b/vtpm-stubdom.gz'\nmemory=8\ndisk=['file:v.img,hda,w']\n";
const U: &str = "ac0a5b9e-cbe2-4c07-b43b-1d69e46fb839";

#[test]
fn vtpm_domain_rules() {
    let ok = format!(
        "{VT}vtpm=['backend=m,uuid={U}']\nextra='save maintcmds=1 hwinitpcr=0-7 locality=*guest_t=0,2'\n"
    );
    let Role::VtpmDomain(v) = role(&ok).unwrap() else {
        panic!()
    };
    assert_eq!(v.options.startup, StartupMode::Save);
    assert!(v.options.maintcmds);
    assert_eq!(v.options.hwinitpcr.as_deref(), Some("0-7"));
    assert_eq!(v.options.locality, vec!["*guest_t=0,2".to_string()]);
    assert_eq!(v.uuid()[0], 0xac);

    check(
        &format!("{VT}vtpm=['backend=m']\n"),
        (5, 7),
        "needs a fixed uuid=",
    );
    check(
        &format!("{VT}vtpm=['backend=m,uuid={U}', 'backend=n,uuid={U}']\n"),
        (5, 6),
        "exactly one vtpm= entry (its manager), not 2",
    );
    check(VT, (0, 0), "vtpm= is missing");
    check(
        &format!("{VT}vtpm=['backend=m,uuid=x']\n"),
        (5, 7),
        "not a canonical UUID",
    );
    check(
        &format!("{VT}vtpm=['backend=m,uuid={U},foo=1']\n"),
        (5, 7),
        "unknown key \"foo\"",
    );
    check(
        &format!(
            "{}vtpm=['backend=m,uuid={U}']\n",
            VT.replace(",hda,", ",hdb,")
        ),
        (4, 7),
        "vdev is \"hdb\"",
    );
    check(
        &format!(
            "{}vtpm=['backend=m,uuid={U}']\n",
            VT.replace(",hda,w", ",hda,ro")
        ),
        (4, 7),
        "write its disk",
    );
    let x = |e: &str| format!("{VT}vtpm=['backend=m,uuid={U}']\nextra='{e}'\n");
    check(&x("loglevel=loud"), (6, 7), "error, info or debug");
    check(&x("maintcmds=2"), (6, 7), "0 or 1");
    check(
        &x("tpm2=1"),
        (6, 7),
        "unknown vTPM domain option \"tpm2=1\"",
    );
    // A vTPM kernel under another name is recognised by its disk and fixed uuid.
    let other = format!(
        "{}vtpm=['backend=m,uuid={U}']\n",
        VT.replace("vtpm-stubdom", "my-tpm")
    );
    assert!(matches!(role(&other).unwrap(), Role::VtpmDomain(_)));
    // ... and without the uuid it is a guest with a disk.
    let g = format!(
        "{}vtpm=['backend=m']\n",
        VT.replace("vtpm-stubdom", "my-tpm")
    );
    assert!(matches!(role(&g).unwrap(), Role::Guest(_)));
}

#[test]
fn guest_rules() {
    const G: &str = "name='g'\nkernel='k'\nmemory=64\n";
    let cmd = |extra: &str| match role(&format!("{G}{extra}")).unwrap() {
        Role::Guest(g) => g.cmdline,
        r => panic!("{r:?}"),
    };
    assert_eq!(cmd("cmdline='a b'"), Some("a b".into()));
    assert_eq!(
        cmd("root='/dev/xvda1 ro'\nextra='quiet'"),
        Some("root=/dev/xvda1 ro quiet".into())
    );
    assert_eq!(cmd("root='/dev/xvda1'"), Some("root=/dev/xvda1".into()));
    assert_eq!(cmd("extra='quiet'"), Some("quiet".into()));
    assert_eq!(cmd(""), None);
    check(
        &format!("{G}cmdline='a'\nextra='b'\n"),
        (5, 1),
        "cmdline= and root=/extra= are both given",
    );
    check(
        &format!("{G}vtpm=['uuid={U}']\n"),
        (4, 7),
        "backend= is required",
    );
    check(&format!("{G}vtpm='backend=v'\n"), (4, 6), "must be a list");
    check(
        &format!("{G}ramdisk=1\n"),
        (4, 9),
        "ramdisk= must be a quoted string",
    );
    check(
        "kernel='k'\nmemory=1\nname=\"\"",
        (3, 6),
        "must not be empty",
    );
    check("name='g'\nmemory=1\n", (0, 0), "kernel= is missing");
    check("name='g'\nkernel='k'\n", (0, 0), "memory= is missing");
    // iomem= makes a file a manager, whose rules then apply.
    check(
        &format!("{G}iomem=['fed40,5']\n"),
        (0, 0),
        "disk= is missing",
    );
}
