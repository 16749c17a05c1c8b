//! The shared-memory link's backend against a hostile region: the input is the region's
//! initial bytes followed by a script of peer writes; between writes the backend polls and
//! answers. Nothing may panic, and every request handed out fits the tpmif page.
#![no_main]

use libfuzzer_sys::fuzz_target;
use shmlink::{LinkBackend, LinkEvent, REGION_SIZE, Window};
use std::cell::RefCell;
use std::rc::Rc;

/// A region in memory shared by the fuzzer (the peer) and the backend.
#[derive(Clone)]
struct Shared(Rc<RefCell<Vec<u8>>>);

impl Window for Shared {
    fn size(&self) -> usize {
        self.0.borrow().len()
    }
    fn read(&self, at: usize, buf: &mut [u8]) {
        let r = self.0.borrow();
        match at.checked_add(buf.len()).and_then(|end| r.get(at..end)) {
            Some(src) => buf.copy_from_slice(src),
            None => buf.fill(0),
        }
    }
    fn write(&mut self, at: usize, data: &[u8]) {
        let mut r = self.0.borrow_mut();
        if let Some(dst) = at
            .checked_add(data.len())
            .and_then(|end| r.get_mut(at..end))
        {
            dst.copy_from_slice(data);
        }
    }
    fn barrier(&self) {}
}

fuzz_target!(|data: &[u8]| {
    let (head, script) = data.split_at(data.len().min(64));
    let mut region = vec![0u8; REGION_SIZE];
    region[..8].copy_from_slice(&shmlink::MAGIC);
    region[8..12].copy_from_slice(&shmlink::VERSION.to_le_bytes());
    // The head lands on the control words and the tpmif header.
    for (i, b) in head.iter().enumerate() {
        let at = if i < 32 { 12 + i } else { 4096 + (i - 32) };
        region[at] = *b;
    }
    let shared = Shared(Rc::new(RefCell::new(region)));
    let mut peer = shared.clone();
    let Ok(mut backend) = LinkBackend::new(shared) else {
        return;
    };
    for step in script.chunks(4) {
        if let [hi, lo, value, _] = step {
            let at = usize::from(u16::from_le_bytes([*hi, *lo])) % REGION_SIZE;
            peer.write(at, &[*value]);
        }
        match backend.poll() {
            Some(LinkEvent::Request { command, .. }) => {
                assert!(command.len() <= xen::tpmif::MAX_PACKET);
                let _ = backend.respond(&command[..command.len().min(16)]);
            }
            Some(LinkEvent::Malformed(_)) => {
                let _ = backend.respond(b"refused");
            }
            _ => {}
        }
    }
});
