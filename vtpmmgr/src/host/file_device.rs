//! The manager's image as a file (hosted mode): the `block` crate's [`FileDevice`] of
//! [`SECTOR_COUNT`] sectors of 4 KiB, made durable by `fdatasync`.

use std::path::Path;

pub use block::{FileDevice, FileDeviceError};

use crate::seams::{SECTOR_COUNT, SECTOR_SIZE};

/// The image size the manager creates and requires: 512 sectors of 4 KiB.
pub const IMAGE_SIZE: u64 = SECTOR_COUNT as u64 * SECTOR_SIZE as u64;

/// Opens the manager image at `path`, creating a zero-filled 2 MiB image if it does not exist
/// (a new image is blank, and the manager formats it; the flag says whether it was created).
/// An existing file smaller than 2 MiB is refused untouched.
pub fn open_or_create(path: &Path) -> Result<(FileDevice, bool), FileDeviceError> {
    FileDevice::open_or_create(path, SECTOR_COUNT)
}
