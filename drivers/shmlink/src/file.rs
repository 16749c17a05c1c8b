//! Host side: a link region that is a file (QEMU maps the same file as an ivshmem BAR with
//! `share=on`), reached with `pread`/`pwrite`, which go through the same page cache as QEMU's
//! mapping.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::Window;

/// A link region in a file.
#[derive(Debug)]
pub struct FileWindow {
    file: File,
    size: usize,
}

impl FileWindow {
    /// Opens an existing region file.
    pub fn open(path: &Path) -> io::Result<Self> {
        let file = OpenOptions::new().read(true).write(true).open(path)?;
        let size = usize::try_from(file.metadata()?.len()).unwrap_or(usize::MAX);
        Ok(Self { file, size })
    }

    /// Creates (or truncates) a region file of `size` bytes.
    pub fn create(path: &Path, size: usize) -> io::Result<Self> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(path)?;
        file.set_len(size as u64)?;
        Ok(Self { file, size })
    }
}

impl Window for FileWindow {
    fn size(&self) -> usize {
        self.size
    }

    fn read(&self, at: usize, buf: &mut [u8]) {
        if at.checked_add(buf.len()).is_none_or(|end| end > self.size)
            || self.file.read_exact_at(buf, at as u64).is_err()
        {
            buf.fill(0);
        }
    }

    fn write(&mut self, at: usize, data: &[u8]) {
        if at
            .checked_add(data.len())
            .is_some_and(|end| end <= self.size)
        {
            // A failed write is dropped like a write to an absent device; the protocol then
            // times out with an error the caller sees.
            let _ = self.file.write_all_at(data, at as u64);
        }
    }

    fn barrier(&self) {
        std::sync::atomic::fence(std::sync::atomic::Ordering::SeqCst);
    }
}

/// Time for the frontend's polling: `pause` sleeps 50 µs.
#[derive(Debug, Clone, Copy)]
pub struct StdClock {
    origin: Instant,
}

impl Default for StdClock {
    fn default() -> Self {
        Self {
            origin: Instant::now(),
        }
    }
}

impl crate::Clock for StdClock {
    fn now_ms(&mut self) -> u64 {
        u64::try_from(self.origin.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn pause(&mut self) {
        std::thread::sleep(Duration::from_micros(50));
    }
}
