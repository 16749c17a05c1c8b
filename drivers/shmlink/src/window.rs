//! Access to the region: byte copies at offsets, and a barrier.

/// A shared region. Accesses outside it read zeros and drop writes (as an empty bus would);
/// nothing panics.
pub trait Window {
    /// Its size in bytes.
    fn size(&self) -> usize;
    /// Copies `buf.len()` bytes from `at`.
    fn read(&self, at: usize, buf: &mut [u8]);
    /// Copies `data` to `at`.
    fn write(&mut self, at: usize, data: &[u8]);
    /// Orders earlier accesses before later ones, as the peer sees them.
    fn barrier(&self);
}

/// A region mapped into this address space (the unikernel's ivshmem BAR).
#[derive(Debug)]
pub struct MemWindow {
    base: *mut u8,
    size: usize,
}

// SAFETY: the window is the exclusive local handle to its mapping (constructor contract);
// moving it to another thread is sound.
unsafe impl Send for MemWindow {}

impl MemWindow {
    /// A window over `size` bytes at `base`.
    ///
    /// # Safety
    ///
    /// `base..base + size` must be mapped readable and writable for as long as the window
    /// lives, and nothing else in this program may access it meanwhile (the peer may).
    pub unsafe fn new(base: *mut u8, size: usize) -> Self {
        Self { base, size }
    }

    fn inside(&self, at: usize, len: usize) -> bool {
        at.checked_add(len).is_some_and(|end| end <= self.size)
    }
}

impl Window for MemWindow {
    fn size(&self) -> usize {
        self.size
    }

    fn read(&self, at: usize, buf: &mut [u8]) {
        if !self.inside(at, buf.len()) {
            buf.fill(0);
            return;
        }
        for (i, b) in buf.iter_mut().enumerate() {
            // SAFETY: `at + i < size` (checked), inside the mapping; volatile because the peer
            // writes the region concurrently.
            *b = unsafe { core::ptr::read_volatile(self.base.add(at + i)) };
        }
    }

    fn write(&mut self, at: usize, data: &[u8]) {
        if !self.inside(at, data.len()) {
            return;
        }
        for (i, b) in data.iter().enumerate() {
            // SAFETY: as for `read`.
            unsafe { core::ptr::write_volatile(self.base.add(at + i), *b) };
        }
    }

    fn barrier(&self) {
        core::sync::atomic::fence(core::sync::atomic::Ordering::SeqCst);
    }
}
