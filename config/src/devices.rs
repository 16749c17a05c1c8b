//! Device specifications inside list items: `vtpm=` (reference `xen-vtpm.md` §9.1), `disk=`
//! (xl-disk-configuration(5), the subset stub domains use) and `iomem=` (xl.cfg(5)).
//!
//! These functions return a reason string; the caller attaches the file position.

use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

/// One `vtpm=` entry: `"backend=NAME,uuid=UUID"`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VtpmSpec {
    /// The backend domain (name or domain id, as written).
    pub backend: String,
    /// The vTPM's UUID, if fixed in the file.
    pub uuid: Option<[u8; 16]>,
}

impl VtpmSpec {
    /// Parses one entry as xl does (§9.1): comma-separated `KEY=VALUE` items, leading spaces
    /// of each item skipped; `backend=` is required; `uuid=` must be a canonical 36-character
    /// UUID; any other key, or a key given twice, is an error.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut backend: Option<String> = None;
        let mut uuid = None;
        for item in text.split(',') {
            let item = item.trim_start_matches(' ');
            let Some((key, value)) = item.split_once('=') else {
                return Err(format!(
                    "{item:?} is not KEY=VALUE (accepted keys: backend, uuid)"
                ));
            };
            match key {
                "backend" => {
                    if backend.is_some() {
                        return Err("backend= is given twice".into());
                    }
                    if value.is_empty() {
                        return Err("backend= is empty".into());
                    }
                    backend = Some(value.to_string());
                }
                "uuid" => {
                    if uuid.is_some() {
                        return Err("uuid= is given twice".into());
                    }
                    uuid = Some(xen::xenbus::parse_uuid(value).ok_or_else(|| {
                        format!(
                            "uuid {value:?} is not a canonical UUID \
                             (xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)"
                        )
                    })?);
                }
                other => {
                    return Err(format!(
                        "unknown key {other:?} (accepted keys: backend, uuid)"
                    ));
                }
            }
        }
        let backend = backend.ok_or("backend= is required")?;
        Ok(Self { backend, uuid })
    }
}

/// One `disk=` entry of a stub domain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Disk {
    /// The image path as written (a `file:`/`phy:`/`aio:` prefix removed).
    pub path: String,
    /// The virtual device (`hda` for mini-os domains).
    pub vdev: String,
    /// Whether the domain may write the disk.
    pub writable: bool,
}

/// Target prefixes accepted (and dropped) in front of a path.
const PREFIXES: [&str; 4] = ["file:", "phy:", "tap:aio:", "aio:"];

impl Disk {
    /// Parses a disk specification in one of the forms xl accepts:
    /// positional `[PREFIX:]PATH,VDEV,ACCESS` (also with a `raw` format between the path and
    /// the vdev), or `KEY=VALUE` items `vdev=`, `access=`, `format=raw`, `devtype=disk` and
    /// `target=`, which (as in xl) must be last because the path may contain commas.
    /// ACCESS is `w`/`rw` or `r`/`ro`; it defaults to writable as in xl.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut positional: Vec<&str> = Vec::new();
        let mut target: Option<&str> = None;
        let mut vdev = None;
        let mut access = None;
        let mut rest = text;
        while !rest.is_empty() {
            let trimmed = rest.trim_start_matches(' ');
            if let Some(t) = trimmed.strip_prefix("target=") {
                target = Some(t);
                break;
            }
            let (item, next) = trimmed.split_once(',').unwrap_or((trimmed, ""));
            rest = next;
            match item.split_once('=') {
                Some(("vdev", v)) => set_once(&mut vdev, v, "vdev")?,
                Some(("access", v)) => set_once(&mut access, v, "access")?,
                Some(("format", "raw") | ("devtype", "disk")) => {}
                Some(("format", f)) => {
                    return Err(format!("disk format {f:?} is not supported (only raw)"));
                }
                Some((k, _)) if !k.contains(['/', ':']) => {
                    return Err(format!(
                        "unknown disk key {k:?} (accepted: target, vdev, access, format)"
                    ));
                }
                _ => positional.push(item),
            }
        }
        let mut positional = positional.into_iter();
        if target.is_none() {
            target = positional.next();
        }
        let mut more: Vec<&str> = positional.collect();
        if more.first() == Some(&"raw") {
            more.remove(0);
        }
        let mut more = more.into_iter();
        if vdev.is_none() {
            vdev = more.next();
        }
        if access.is_none() {
            access = more.next();
        }
        if let Some(extra) = more.next() {
            return Err(format!("unexpected extra disk parameter {extra:?}"));
        }
        let target = target
            .filter(|t| !t.is_empty())
            .ok_or("the disk has no target path")?;
        let path = PREFIXES
            .iter()
            .find_map(|p| target.strip_prefix(p))
            .unwrap_or(target);
        if path.is_empty() {
            return Err("the disk has no target path".into());
        }
        let vdev = vdev
            .filter(|v| !v.is_empty())
            .ok_or("the disk has no vdev (use hda)")?;
        let writable = match access.unwrap_or("w") {
            "w" | "rw" => true,
            "r" | "ro" => false,
            a => return Err(format!("disk access {a:?} is not w, rw, r or ro")),
        };
        Ok(Self {
            path: path.into(),
            vdev: vdev.into(),
            writable,
        })
    }

    /// The image path resolved against `base_dir` (normally the directory of the config file):
    /// absolute paths are returned unchanged.
    pub fn resolve(&self, base_dir: &str) -> String {
        if self.path.starts_with('/') || base_dir.is_empty() {
            return self.path.clone();
        }
        let base = base_dir.trim_end_matches('/');
        let base = if base.is_empty() { "" } else { base };
        format!("{base}/{}", self.path)
    }
}

fn set_once<'a>(slot: &mut Option<&'a str>, v: &'a str, key: &str) -> Result<(), String> {
    if slot.is_some() {
        return Err(format!("{key}= is given twice"));
    }
    *slot = Some(v);
    Ok(())
}

/// One `iomem=` entry `"START,PAGES"`: both numbers hexadecimal (xl reads them with
/// `%x`, so an optional `0x` is accepted). The `@GFN` suffix is refused: the manager maps its
/// TPM pages 1:1.
pub fn parse_iomem(text: &str) -> Result<(u64, u64), String> {
    let bad = || format!("{text:?} is not \"START,PAGES\" with hexadecimal page numbers");
    if text.contains('@') {
        return Err(format!("{text:?}: the @GFN form is not supported"));
    }
    let (start, pages) = text.split_once(',').ok_or_else(bad)?;
    let hex = |s: &str| {
        let s = s.trim();
        let s = s
            .strip_prefix("0x")
            .or_else(|| s.strip_prefix("0X"))
            .unwrap_or(s);
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        u64::from_str_radix(s, 16).ok()
    };
    let start = hex(start).ok_or_else(bad)?;
    let pages = hex(pages).ok_or_else(bad)?;
    if pages == 0 {
        return Err(format!("{text:?} maps zero pages"));
    }
    if start.checked_add(pages).is_none() {
        return Err(format!("{text:?} runs past the end of the address space"));
    }
    Ok((start, pages))
}

#[cfg(test)]
mod tests {
    use super::*;

    const UUID: &str = "ac0a5b9e-cbe2-4c07-b43b-1d69e46fb839";

    #[test]
    fn vtpm_specs() {
        let s = VtpmSpec::parse(&format!("backend=vtpmmgr,uuid={UUID}")).unwrap();
        assert_eq!(s.backend, "vtpmmgr");
        assert_eq!(s.uuid, xen::xenbus::parse_uuid(UUID));
        let s = VtpmSpec::parse(&format!("uuid={UUID},  backend=3")).unwrap();
        assert_eq!(s.backend, "3");
        assert_eq!(
            VtpmSpec::parse("backend=vtpm-guest1").unwrap(),
            VtpmSpec {
                backend: "vtpm-guest1".into(),
                uuid: None
            }
        );
        for (bad, msg) in [
            ("", "not KEY=VALUE"),
            (
                "uuid=ac0a5b9e-cbe2-4c07-b43b-1d69e46fb839",
                "backend= is required",
            ),
            ("backend=", "empty"),
            ("backend=a,backend=b", "twice"),
            ("backend=a,type=x", "unknown key \"type\""),
            (
                "backend=a,uuid=ac0a5b9ecbe24c07b43b1d69e46fb839",
                "canonical",
            ),
            (
                "backend=a,uuid=ac0a5b9e-cbe2-4c07-b43b-1d69e46fb83",
                "canonical",
            ),
            ("backend=a,", "not KEY=VALUE"),
            (" backend = a", "unknown key \"backend \""),
        ] {
            let e = VtpmSpec::parse(bad).unwrap_err();
            assert!(e.contains(msg), "{bad:?}: {e}");
        }
    }

    #[test]
    fn disks() {
        let d = |p: &str, v: &str, w| Disk {
            path: p.into(),
            vdev: v.into(),
            writable: w,
        };
        assert_eq!(
            Disk::parse("file:vtpm.img,hda,w"),
            Ok(d("vtpm.img", "hda", true))
        );
        assert_eq!(
            Disk::parse("/x/y.img,hda,r"),
            Ok(d("/x/y.img", "hda", false))
        );
        assert_eq!(
            Disk::parse("phy:/dev/vg/v,hda,rw"),
            Ok(d("/dev/vg/v", "hda", true))
        );
        assert_eq!(
            Disk::parse("file:a.img,raw,hda,ro"),
            Ok(d("a.img", "hda", false))
        );
        assert_eq!(Disk::parse("a.img,hda"), Ok(d("a.img", "hda", true)));
        assert_eq!(
            Disk::parse("vdev=hda, access=rw, format=raw, target=/p/a,b.img"),
            Ok(d("/p/a,b.img", "hda", true))
        );
        assert_eq!(
            Disk::parse("access=r,vdev=xvda,target=file:x"),
            Ok(d("x", "xvda", false))
        );
        for (bad, msg) in [
            ("", "no target"),
            ("file:,hda,w", "no target"),
            ("a.img", "no vdev"),
            ("a.img,hda,x", "access \"x\""),
            ("a.img,hda,w,extra", "extra disk parameter"),
            ("a.img,qcow2,hda,w", "extra disk parameter"),
            ("format=qcow2,target=a", "only raw"),
            ("script=block,target=a", "unknown disk key"),
            ("vdev=hda,vdev=hdb,target=a", "twice"),
        ] {
            let e = Disk::parse(bad).unwrap_err();
            assert!(e.contains(msg), "{bad:?}: {e}");
        }
    }

    #[test]
    fn resolve_paths() {
        let d = Disk::parse("file:img/v.img,hda,w").unwrap();
        assert_eq!(d.resolve("/etc/xen"), "/etc/xen/img/v.img");
        assert_eq!(d.resolve("/etc/xen/"), "/etc/xen/img/v.img");
        assert_eq!(d.resolve(""), "img/v.img");
        assert_eq!(d.resolve("/"), "/img/v.img");
        let d = Disk::parse("file:/abs.img,hda,w").unwrap();
        assert_eq!(d.resolve("/etc/xen"), "/abs.img");
    }

    #[test]
    fn iomem() {
        assert_eq!(parse_iomem("fed40,5"), Ok((0xfed40, 5)));
        assert_eq!(parse_iomem("0xfed42,1"), Ok((0xfed42, 1)));
        assert_eq!(parse_iomem("fed40,a"), Ok((0xfed40, 10)));
        for bad in [
            "fed40",
            "fed40,",
            "xyz,1",
            "fed40,0",
            "fed40,1@fed40",
            "fed40,-1",
            "ffffffffffffffff,1",
        ] {
            assert!(parse_iomem(bad).is_err(), "{bad}");
        }
    }
}
