//! A bump allocator over a static arena: the loader allocates a few small things (the parsed ELF
//! headers, the device tree) and never frees them; they stay below the kernel, where the kernel
//! does not hand out memory.

use core::alloc::{GlobalAlloc, Layout};
use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicUsize, Ordering};

const ARENA_SIZE: usize = 2 << 20;

#[repr(C, align(4096))]
struct Arena(UnsafeCell<[u8; ARENA_SIZE]>);

// SAFETY: the loader runs on one CPU with interrupts off; `next` hands out disjoint ranges.
unsafe impl Sync for Arena {}

static ARENA: Arena = Arena(UnsafeCell::new([0; ARENA_SIZE]));

/// The loader's allocator.
pub(crate) struct Bump {
    next: AtomicUsize,
}

// SAFETY: `alloc` returns disjoint, suitably aligned ranges inside `ARENA` or null when it is
// exhausted; `dealloc` does nothing, which is allowed.
unsafe impl GlobalAlloc for Bump {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let base = ARENA.0.get().cast::<u8>() as usize;
        let mut current = self.next.load(Ordering::Relaxed);
        loop {
            let start = (base + current).next_multiple_of(layout.align()) - base;
            let Some(end) = start.checked_add(layout.size()) else {
                return core::ptr::null_mut();
            };
            if end > ARENA_SIZE {
                return core::ptr::null_mut();
            }
            match self
                .next
                .compare_exchange(current, end, Ordering::Relaxed, Ordering::Relaxed)
            {
                // SAFETY: `start..end` lies inside the arena.
                Ok(_) => return unsafe { ARENA.0.get().cast::<u8>().add(start) },
                Err(now) => current = now,
            }
        }
    }

    unsafe fn dealloc(&self, _ptr: *mut u8, _layout: Layout) {}
}

#[global_allocator]
static ALLOCATOR: Bump = Bump {
    next: AtomicUsize::new(0),
};
