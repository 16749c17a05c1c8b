//! The tpmif v2 shared page (`xen::tpmif`) as a hostile peer leaves it: both ends poll it and
//! take the packet. Properties: no panic; an accepted packet is at most 4088 bytes and is the
//! page's bytes from offset 8.
#![no_main]

use libfuzzer_sys::fuzz_target;
use xen::tpmif::{
    BackendEvent, FrontendEvent, MAX_PACKET, PAGE_SIZE, SharedPage, backend_poll,
    backend_take_request, frontend_poll, frontend_take_response,
};

struct Page([u8; PAGE_SIZE]);

impl SharedPage for Page {
    fn read(&self, offset: usize, buf: &mut [u8]) {
        buf.copy_from_slice(&self.0[offset..offset + buf.len()]);
    }

    fn write(&mut self, offset: usize, data: &[u8]) {
        self.0[offset..offset + data.len()].copy_from_slice(data);
    }

    fn barrier(&self) {}
}

fuzz_target!(|data: &[u8]| {
    let mut page = Page([0; PAGE_SIZE]);
    let n = data.len().min(PAGE_SIZE);
    page.0[..n].copy_from_slice(&data[..n]);
    let mut buf = [0u8; MAX_PACKET];
    if let Ok(BackendEvent::Request(h)) = backend_poll(&page) {
        let len = backend_take_request(&page, &h, &mut buf).expect("fits a full buffer");
        assert!(len <= MAX_PACKET);
        assert_eq!(&buf[..len], &page.0[8..8 + len]);
    }
    if let Ok(FrontendEvent::Response(h)) = frontend_poll(&page) {
        let len = frontend_take_response(&page, &h, &mut buf).expect("fits a full buffer");
        assert!(len <= MAX_PACKET);
    }
});
