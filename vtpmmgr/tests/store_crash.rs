#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::many_single_char_names
)]
//! Crash safety: for every mutation kind, the power is cut at every write and flush of the
//! commit (the write dropped, or torn after 1, 512, 2048 or 4095 bytes), with and without a
//! volatile write cache that loses any subset of the unflushed writes; and separately the
//! counter increment is lost. After each cut the persisted bytes reopen to exactly the old or
//! exactly the new state, entry by entry, and the store keeps working.

mod store_util;

use std::collections::BTreeSet;

use store_util::*;
use vtpmmgr::Uuid;
use vtpmmgr::seams::{
    BlockDevice, MemCounter, MemDevice, MonotonicCounter, SECTOR_COUNT, SECTOR_SIZE, Sector,
};
use vtpmmgr::store::{Store, StoreError, VtpmRecord};

/// Where the power goes.
#[derive(Clone, Copy, Debug)]
struct Cut {
    /// The write or flush (counted from 0) that does not complete.
    at: usize,
    /// A write cut after this many bytes (the rest of the sector keeps its old bytes).
    tear: Option<usize>,
    /// Writes sit in a volatile cache until a flush; at the cut each survives or not, chosen
    /// by this seed.
    cache: Option<u64>,
}

/// A device that loses power at a chosen write or flush.
struct PowerDevice {
    durable: Vec<u8>,
    pending: Vec<(u32, Box<Sector>)>,
    events: usize,
    cut: Option<Cut>,
    off: bool,
}

impl PowerDevice {
    fn new(image: Vec<u8>, cut: Option<Cut>) -> PowerDevice {
        PowerDevice {
            durable: image,
            pending: Vec::new(),
            events: 0,
            cut,
            off: false,
        }
    }

    fn current(&self, index: u32) -> Box<Sector> {
        let i = usize::try_from(index).unwrap() * SECTOR_SIZE;
        let mut s: Box<Sector> = Box::new([0; SECTOR_SIZE]);
        s.copy_from_slice(&self.durable[i..i + SECTOR_SIZE]);
        for (j, w) in &self.pending {
            if *j == index {
                s.copy_from_slice(&w[..]);
            }
        }
        s
    }

    fn put(&mut self, index: u32, buf: &Sector) {
        let i = usize::try_from(index).unwrap() * SECTOR_SIZE;
        self.durable[i..i + SECTOR_SIZE].copy_from_slice(buf);
    }

    fn power_off(&mut self) {
        let pending = std::mem::take(&mut self.pending);
        let mut x = self.cut.and_then(|c| c.cache).unwrap_or(0) | 1;
        for (index, buf) in pending {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            if x & 1 == 0 {
                self.put(index, &buf);
            }
        }
        self.off = true;
    }

    /// Counts an event; true when the power goes now.
    fn event(&mut self) -> bool {
        let e = self.events;
        self.events += 1;
        self.cut.is_some_and(|c| c.at == e)
    }

    fn cached(&self) -> bool {
        self.cut.is_some_and(|c| c.cache.is_some())
    }
}

impl BlockDevice for PowerDevice {
    type Error = &'static str;

    fn sector_count(&self) -> u32 {
        SECTOR_COUNT
    }

    fn read_sector(&mut self, index: u32, buf: &mut Sector) -> Result<(), &'static str> {
        if self.off {
            return Err("power lost");
        }
        buf.copy_from_slice(&self.current(index)[..]);
        Ok(())
    }

    fn write_sector(&mut self, index: u32, buf: &Sector) -> Result<(), &'static str> {
        if self.off {
            return Err("power lost");
        }
        if self.event() {
            if let Some(n) = self.cut.and_then(|c| c.tear) {
                let mut torn = self.current(index);
                torn[..n].copy_from_slice(&buf[..n]);
                if self.cached() {
                    self.pending.push((index, torn));
                } else {
                    self.put(index, &torn);
                }
            }
            self.power_off();
            return Err("power lost during the write");
        }
        if self.cached() {
            self.pending.push((index, Box::new(*buf)));
        } else {
            self.put(index, buf);
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), &'static str> {
        if self.off {
            return Err("power lost");
        }
        if self.event() {
            self.power_off();
            return Err("power lost during the flush");
        }
        for (index, buf) in std::mem::take(&mut self.pending) {
            self.put(index, &buf);
        }
        Ok(())
    }
}

/// A counter whose increment can be lost with the power.
struct PowerCounter {
    inner: MemCounter,
    lose: bool,
}

impl MonotonicCounter for PowerCounter {
    type Error = &'static str;
    fn read(&mut self) -> Result<u64, &'static str> {
        Ok(self.inner.value())
    }
    fn increment(&mut self) -> Result<u64, &'static str> {
        if self.lose {
            return Err("power lost before the increment");
        }
        Ok(self.inner.increment().unwrap())
    }
}

type Op = fn(&mut Store<PowerDevice>, &mut PowerCounter) -> Result<(), StoreError>;

/// An image and the counter value that goes with it.
type Base = (Vec<u8>, MemCounter);

fn open_power(image: Vec<u8>, cut: Option<Cut>, counter: MemCounter) -> Store<PowerDevice> {
    let mut dev = MemDevice::from_image(image);
    let copy = match vtpmmgr::store::read_header(&mut dev).unwrap() {
        vtpmmgr::store::HeaderState::Formatted(c) => c[0].clone(),
        vtpmmgr::store::HeaderState::Blank => panic!("blank"),
    };
    let mut c = counter;
    let (s, report) = Store::open(
        PowerDevice::new(dev.into_image(), cut),
        &copy,
        &root_key(),
        &mut c,
        &mut rng(99),
    )
    .unwrap();
    assert!(!report.rolled_forward);
    s
}

fn state(image: &[u8], counter: &mut MemCounter) -> (Dump, Vec<String>) {
    let mut dev = MemDevice::from_image(image.to_vec());
    with_open(&mut dev, counter, |s, report| {
        (
            dump(s),
            report.damage.iter().map(ToString::to_string).collect(),
        )
    })
    .unwrap_or_else(|e| panic!("the persisted image does not open: {e}"))
}

/// Runs `op` on `base` once cleanly, then with the power cut at every event in every way;
/// returns the number of cuts checked.
fn crash_everywhere(name: &str, base: &[u8], counter: MemCounter, op: Op) -> usize {
    let mut c0 = counter;
    let (old, _) = state(base, &mut c0);
    assert_eq!(c0, counter);
    // The clean run: the events of the commit and the new state.
    let mut s = open_power(base.to_vec(), None, counter);
    let mut pc = PowerCounter {
        inner: counter,
        lose: false,
    };
    op(&mut s, &mut pc).unwrap_or_else(|e| panic!("{name}: {e}"));
    let events = s.device().events;
    let mut after = pc.inner;
    let (new, _) = state(&s.into_device().durable, &mut after);
    assert_ne!(old, new, "{name} changed nothing");

    let mut cuts = Vec::new();
    for at in 0..events {
        cuts.push(Cut {
            at,
            tear: None,
            cache: None,
        });
        for tear in [1, 512, 2048, 4095] {
            cuts.push(Cut {
                at,
                tear: Some(tear),
                cache: None,
            });
        }
        for seed in 1..=4u64 {
            cuts.push(Cut {
                at,
                tear: if seed % 2 == 0 { Some(2048) } else { None },
                cache: Some(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15)),
            });
        }
    }
    let mut seen = BTreeSet::new();
    let mut damaged = 0usize;
    for cut in &cuts {
        let mut s = open_power(base.to_vec(), Some(*cut), counter);
        let mut pc = PowerCounter {
            inner: counter,
            lose: false,
        };
        let r = op(&mut s, &mut pc);
        let dev = s.into_device();
        assert!(dev.off, "{name} {cut:?}: the cut was not reached");
        assert!(r.is_err(), "{name} {cut:?}: succeeded without power");
        assert_eq!(pc.inner, counter, "{name} {cut:?}: the counter moved");
        let mut c = pc.inner;
        let (got, damage) = state(&dev.durable, &mut c);
        let which = if got == old {
            "old"
        } else if got == new {
            assert_eq!(
                c.value(),
                counter.value() + 1,
                "new state without the roll-forward"
            );
            "new"
        } else {
            panic!("{name} {cut:?}: neither the old nor the new state")
        };
        seen.insert(which);
        keeps_working(name, &dev.durable, c);
        if !damage.is_empty() {
            damaged += 1;
            if damaged == 1 && which == "old" {
                println!("  e.g. after {cut:?}: {}", damage.join("; "));
            }
        }
    }
    // The increment lost after the commit reached the disk: rolled forward to the new state.
    let mut s = open_power(base.to_vec(), None, counter);
    let mut pc = PowerCounter {
        inner: counter,
        lose: true,
    };
    assert!(matches!(
        op(&mut s, &mut pc),
        Err(StoreError::Poisoned { .. })
    ));
    let mut c = pc.inner;
    let (got, _) = state(&s.into_device().durable, &mut c);
    assert_eq!(got, new, "{name}: lost increment");
    assert_eq!(c.value(), counter.value() + 1);
    assert!(seen.contains("old"), "{name}: no cut kept the old state");
    println!(
        "{name}: {events} writes+flushes, {} cuts, outcomes {seen:?}, {damaged} reopened with \
         the standby reported damaged",
        cuts.len()
    );
    cuts.len() + 1
}

/// The reopened image accepts a new commit, which survives another reopen.
fn keeps_working(name: &str, image: &[u8], counter: MemCounter) {
    let mut c = counter;
    let (mut s, _) = open_owned(MemDevice::from_image(image.to_vec()), &mut c).unwrap();
    let g = s.groups().first().map(|g| g.id);
    if let Some(g) = g {
        let u = Uuid([0xfe; 16]);
        if s.get(&u).unwrap().is_none() {
            s.insert(VtpmRecord::new(u, g, 0, &[5; 40]), &mut c)
                .unwrap_or_else(|e| panic!("{name}: no commit after the crash: {e}"));
            let mut dev = s.into_device();
            with_open(&mut dev, &mut c, |s, _| {
                assert!(s.get(&u).unwrap().is_some());
            })
            .unwrap();
        }
    }
}

/// The i-th test UUID (not in insertion order).
fn u(i: usize) -> Uuid {
    let mut b = [0x10; 16];
    b[..8].copy_from_slice(&(u64::try_from(i).unwrap() * 0x9e37_79b9 + 1).to_le_bytes());
    Uuid(b)
}

/// A base image: two groups, then whatever `f` adds.
fn build(f: impl FnOnce(&mut Store<MemDevice>, &mut MemCounter)) -> Base {
    let (mut s, mut counter) = formatted();
    s.create_group(Uuid([1; 16]), b"attest one", &mut counter)
        .unwrap();
    s.create_group(Uuid([2; 16]), b"attest two", &mut counter)
        .unwrap();
    f(&mut s, &mut counter);
    (s.into_device().into_image(), counter)
}

/// `n` vTPMs of group 1 with keys of `len` bytes, UUIDs u(from..from + n).
fn add(s: &mut Store<MemDevice>, c: &mut MemCounter, from: usize, n: usize, len: usize) {
    for i in from..from + n {
        s.insert(VtpmRecord::new(u(i), 1, 0, &vec![7; len]), c)
            .unwrap();
    }
}

fn nth(s: &mut Store<PowerDevice>, n: usize) -> Uuid {
    s.list(1, n, 1).unwrap()[0]
}

#[test]
fn every_cut_leaves_the_old_or_the_new_state() {
    let empty = build(|_, _| {});
    let one = build(|s, c| add(s, c, 0, 1, 64));
    let small = build(|s, c| add(s, c, 0, 20, 64));
    // 48 vTPMs with 64-byte keys fill one leaf exactly (7 + 48 × 84 = 4039 of 4044 bytes).
    let full = build(|s, c| {
        add(s, c, 0, 48, 64);
        assert_eq!(s.usage().leaves, 1);
    });
    // 47 with 64-byte keys and 2 with empty keys: one leaf of 3995 bytes; giving an empty key
    // 64 bytes overflows it.
    let nearly = build(|s, c| {
        add(s, c, 0, 47, 64);
        add(s, c, 47, 2, 0);
        assert_eq!(s.usage().leaves, 1);
    });
    // Two leaves that a delete merges.
    let merge = build(|s, c| {
        add(s, c, 0, 49, 64);
        assert_eq!(s.usage().leaves, 2);
        // 20 in the first leaf and 16 in the second (the second at a third of a leaf: one more
        // delete there merges the two).
        let uuids = s.list(1, 0, 100).unwrap();
        for (i, x) in uuids.iter().enumerate() {
            if (20..25).contains(&i) || i >= 25 + 16 {
                s.delete(x, c).unwrap();
            }
        }
        assert_eq!(s.usage().leaves, 2);
    });
    let cases: Vec<(&str, &Base, Op)> = vec![
        ("insert into an empty store", &empty, |s, c| {
            s.insert(VtpmRecord::new(Uuid([9; 16]), 2, 1, &[1; 52]), c)
        }),
        ("insert", &small, |s, c| {
            s.insert(VtpmRecord::new(Uuid([0x80; 16]), 2, 1, &[1; 52]), c)
        }),
        ("insert with an empty key", &small, |s, c| {
            s.insert(VtpmRecord::new(Uuid([0x01; 16]), 1, 0, &[]), c)
        }),
        ("insert that splits a leaf", &full, |s, c| {
            s.insert(VtpmRecord::new(Uuid([0x80; 16]), 2, 1, &[1; 64]), c)
        }),
        ("key update", &small, |s, c| {
            let x = nth(s, 3);
            s.set_key(&x, &[0x33; 64], c)
        }),
        ("key update that overflows a leaf", &nearly, |s, c| {
            let x = u(47);
            s.set_key(&x, &[0x33; 64], c)
        }),
        ("delete", &small, |s, c| {
            let x = nth(s, 5);
            s.delete(&x, c)
        }),
        ("delete of the last vTPM", &one, |s, c| s.delete(&u(0), c)),
        ("delete that merges two leaves", &merge, |s, c| {
            let x = nth(s, 30);
            s.delete(&x, c)
        }),
        ("create group", &small, |s, c| {
            s.create_group(Uuid([3; 16]), b"three", c).map(|_| ())
        }),
        ("update group kernels", &small, |s, c| {
            s.update_group_kernels(2, 4, &[[1; 32], [2; 32]], c)
        }),
        ("set group attestation", &small, |s, c| {
            s.set_group_attest(1, &[4; 1024], c)
        }),
        ("delete group", &small, |s, c| s.delete_group(2, c)),
    ];
    let mut total = 0;
    for (name, (image, counter), op) in cases {
        total += crash_everywhere(name, image, *counter, op);
    }
    println!("{total} crash points checked");
}
