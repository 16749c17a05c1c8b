//! The example stack in `config/examples/` parses, classifies and cross-checks; and `stack`
//! refuses each broken cross-reference, naming the file and position.
#![allow(clippy::unwrap_used, clippy::panic, clippy::many_single_char_names)]

use std::path::Path;

use config::{ConfigError, Role, classify, parse, stack};

const FILES: [&str; 7] = [
    "vtpmmgr.cfg",
    "vtpm-guest1.cfg",
    "vtpm-guest2.cfg",
    "vtpm-guest3.cfg",
    "guest1.cfg",
    "guest2.cfg",
    "guest3.cfg",
];

fn dir() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/examples"))
}

fn examples() -> Vec<(String, String)> {
    FILES
        .iter()
        .map(|f| {
            let text = std::fs::read_to_string(dir().join(f)).unwrap();
            ((*f).to_string(), text)
        })
        .collect()
}

#[test]
fn example_stack_is_consistent() {
    let s = stack(&examples()).unwrap();
    assert_eq!(s.manager.name, "vtpmmgr");
    assert_eq!(s.manager.options.locality, 2);
    assert_eq!(s.manager.iomem, vec![(0xfed40, 5)]);
    assert_eq!(s.manager.disk.resolve("/etc/xen"), "/etc/xen/vtpmmgr.img");
    assert_eq!(s.vtpm_domains.len(), 3);
    assert_eq!(s.guests.len(), 3);
    for (i, v) in s.vtpm_domains.iter().enumerate() {
        let n = i + 1;
        assert_eq!(v.name, format!("vtpm-guest{n}"));
        assert_eq!(v.disk.path, format!("vtpm-guest{n}.img"));
        assert!(v.disk.writable && v.disk.vdev == "hda");
        assert_eq!(v.manager.backend, "vtpmmgr");
        assert_eq!(v.memory_mb, 8);
        let g = s.guest_of(&v.name).unwrap();
        assert_eq!(g.name, format!("guest{n}"));
        assert_eq!(s.vtpm_of(&g.name).unwrap().name, v.name);
    }
    let g: Vec<_> = s
        .guests
        .iter()
        .map(|g| (g.ramdisk.as_deref(), g.cmdline.as_deref()))
        .collect();
    assert_eq!(
        g,
        [
            (
                Some("boot/guest1-initrd.img"),
                Some("root=/dev/xvda1 ro console=hvc0")
            ),
            (
                Some("boot/guest2-initrd.img"),
                Some("root=/dev/xvda1 ro console=hvc0 quiet")
            ),
            (None, Some("console=hvc0 init=/bin/sh")),
        ]
    );
    // The boot files the guests name exist (inputs of the measurement demo).
    for guest in &s.guests {
        assert!(dir().join(&guest.kernel).is_file(), "{}", guest.kernel);
        if let Some(r) = &guest.ramdisk {
            assert!(dir().join(r).is_file(), "{r}");
        }
    }
}

#[test]
fn examples_render_and_reparse_identically() {
    for (file, text) in examples() {
        let c = parse(&file, &text).unwrap();
        let again = parse(&file, &c.render()).unwrap();
        assert_eq!(again.values(), c.values(), "{file}");
        assert_eq!(classify(&again).unwrap(), classify(&c).unwrap(), "{file}");
    }
}

fn with(edits: &[(&str, &str, &str)]) -> Vec<(String, String)> {
    let mut files = examples();
    for (file, from, to) in edits {
        let entry = files.iter_mut().find(|(f, _)| f == file).unwrap();
        assert!(entry.1.contains(from), "{file} has no {from:?}");
        entry.1 = entry.1.replace(from, to);
    }
    files
}

fn stack_err(files: &[(String, String)]) -> ConfigError {
    match stack(files) {
        Ok(_) => panic!("expected a stack error"),
        Err(e) => e,
    }
}

#[test]
fn stack_cross_reference_errors() {
    let cases: Vec<(Vec<(String, String)>, &str)> = vec![
        (
            with(&[("guest2.cfg", "name = 'guest2'", "name = 'guest1'")]),
            "guest2.cfg:2:1: domain name \"guest1\" is already used by guest1.cfg",
        ),
        (
            examples()[1..].to_vec(),
            "(stack): no manager configuration among the files",
        ),
        (
            {
                let mut f = examples();
                let mut m = f[0].clone();
                m.0 = "second.cfg".into();
                m.1 = m.1.replace("\"vtpmmgr\"", "\"vtpmmgr2\"");
                f.push(m);
                f
            },
            "second.cfg:2:1: a second manager (the first is in vtpmmgr.cfg)",
        ),
        (
            with(&[("vtpm-guest1.cfg", "backend=vtpmmgr", "backend=mgr")]),
            "vtpm-guest1.cfg:7:7: backend=mgr is not the manager (the manager is named \"vtpmmgr\")",
        ),
        (
            with(&[(
                "vtpm-guest3.cfg",
                "e3b9a06c-77f4-4c1a-8d25-b1f0c9e6d413",
                "5d2c7f11-0b6e-4d59-9a0e-3f8e21c4a7d2",
            )]),
            "vtpm-guest3.cfg:8:3: uuid 5d2c7f11-0b6e-4d59-9a0e-3f8e21c4a7d2 is already used by \
             the vTPM domain in vtpm-guest2.cfg",
        ),
        (
            with(&[("guest1.cfg", "backend=vtpm-guest1", "backend=vtpm-guest9")]),
            "guest1.cfg:7:9: backend=vtpm-guest9 names no vTPM domain of the stack",
        ),
        (
            with(&[("guest3.cfg", "backend=vtpm-guest3", "backend=vtpmmgr")]),
            "guest3.cfg:5:10: backend=vtpmmgr is the manager; a guest attaches to a vTPM domain",
        ),
        (
            with(&[("guest3.cfg", "backend=vtpm-guest3", "backend=vtpm-guest1")]),
            "guest3.cfg:5:10: vTPM domain vtpm-guest1 already serves the guest in guest1.cfg; \
             each vTPM domain serves one guest",
        ),
        (
            with(&[(
                "guest3.cfg",
                "\"backend=vtpm-guest3\"",
                "\"backend=vtpm-guest3\", \"backend=vtpm-guest3\"",
            )]),
            "guest3.cfg:5:33: backend=vtpm-guest3 is listed twice",
        ),
        (
            with(&[("guest1.cfg", "memory = 256", "memory = 256 256")]),
            "guest1.cfg:6:14: unexpected '2', expected the end of the setting",
        ),
    ];
    for (files, want) in cases {
        let e = stack_err(&files);
        assert!(e.to_string().starts_with(want), "got  {e}\nwant {want}");
    }
    // A stack without guests, or with a guest without a vTPM, is fine.
    let files = with(&[("guest3.cfg", "vtpm = [ \"backend=vtpm-guest3\" ]", "")]);
    let s = stack(&files).unwrap();
    assert!(s.guest_of("vtpm-guest3").is_none());
    assert!(matches!(
        classify(&parse("g", &files[6].1).unwrap()).unwrap(),
        Role::Guest(_)
    ));
}
