//! An image file as a [`BlockDevice`] (hosted mode): sector `i` at byte offset `i × 4096`,
//! made durable by `fdatasync` (fdatasync(2)) on [`flush`](BlockDevice::flush).

use std::fmt;
use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use crate::{BlockDevice, SECTOR_SIZE, Sector};

/// Why the image file could not be used.
#[derive(Debug)]
pub struct FileDeviceError {
    path: PathBuf,
    what: String,
    source: Option<io::Error>,
}

impl fmt::Display for FileDeviceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path.display(), self.what)?;
        if let Some(e) = &self.source {
            write!(f, ": {e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for FileDeviceError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source.as_ref().map(|e| e as _)
    }
}

/// An image file of a fixed number of sectors.
#[derive(Debug)]
pub struct FileDevice {
    file: File,
    path: PathBuf,
    sectors: u32,
}

/// The size in bytes of `sectors` sectors.
pub fn image_size(sectors: u32) -> u64 {
    u64::from(sectors) * SECTOR_SIZE as u64
}

impl FileDevice {
    /// Opens `path` as a device of `sectors` sectors, creating a zero-filled image of that size
    /// if it does not exist (returned flag: whether it was created). An existing file smaller
    /// than that is refused untouched; a larger one is used, its tail never accessed.
    pub fn open_or_create(
        path: &Path,
        sectors: u32,
    ) -> Result<(FileDevice, bool), FileDeviceError> {
        let size = image_size(sectors);
        let err = |what: &str, source| FileDeviceError {
            path: path.to_owned(),
            what: what.to_owned(),
            source,
        };
        let (file, created) = match OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(path)
        {
            Ok(f) => {
                f.set_len(size)
                    .map_err(|e| err("cannot size the new image", Some(e)))?;
                f.sync_all()
                    .map_err(|e| err("cannot sync the new image", Some(e)))?;
                (f, true)
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => (
                OpenOptions::new()
                    .read(true)
                    .write(true)
                    .open(path)
                    .map_err(|e| err("cannot open the image", Some(e)))?,
                false,
            ),
            Err(e) => return Err(err("cannot create the image", Some(e))),
        };
        let len = file
            .metadata()
            .map_err(|e| err("cannot read the image's size", Some(e)))?
            .len();
        if len < size {
            return Err(err(
                &format!("image is {len} bytes; this image is at least {size} bytes"),
                None,
            ));
        }
        Ok((
            FileDevice {
                file,
                path: path.to_owned(),
                sectors,
            },
            created,
        ))
    }

    /// The image file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn err(&self, op: &str, index: u32, e: io::Error) -> FileDeviceError {
        FileDeviceError {
            path: self.path.clone(),
            what: format!("{op} sector {index}"),
            source: Some(e),
        }
    }
}

fn offset(index: u32) -> u64 {
    u64::from(index) * SECTOR_SIZE as u64
}

impl BlockDevice for FileDevice {
    type Error = FileDeviceError;

    fn sector_count(&self) -> u32 {
        self.sectors
    }

    fn read_sector(&mut self, index: u32, buf: &mut Sector) -> Result<(), FileDeviceError> {
        if index >= self.sectors {
            return Err(self.err("read", index, io::ErrorKind::InvalidInput.into()));
        }
        self.file
            .read_exact_at(buf, offset(index))
            .map_err(|e| self.err("read", index, e))
    }

    fn write_sector(&mut self, index: u32, buf: &Sector) -> Result<(), FileDeviceError> {
        if index >= self.sectors {
            return Err(self.err("write", index, io::ErrorKind::InvalidInput.into()));
        }
        self.file
            .write_all_at(buf, offset(index))
            .map_err(|e| self.err("write", index, e))
    }

    fn flush(&mut self) -> Result<(), FileDeviceError> {
        self.file.sync_data().map_err(|e| FileDeviceError {
            path: self.path.clone(),
            what: "flush".into(),
            source: Some(e),
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn temp(name: &str) -> PathBuf {
        let p = std::env::temp_dir().join(format!("block-fd-{}-{name}", std::process::id()));
        let _ = std::fs::remove_file(&p);
        p
    }

    #[test]
    fn creates_a_blank_image_and_round_trips_sectors() {
        let p = temp("rt");
        let (mut d, created) = FileDevice::open_or_create(&p, 512).unwrap();
        assert!(created);
        assert_eq!(std::fs::metadata(&p).unwrap().len(), 2 * 1024 * 1024);
        let mut buf = [0u8; SECTOR_SIZE];
        d.read_sector(511, &mut buf).unwrap();
        assert!(buf.iter().all(|&b| b == 0));
        buf[0] = 7;
        buf[4095] = 9;
        d.write_sector(3, &buf).unwrap();
        d.flush().unwrap();
        drop(d);
        let (mut d, created) = FileDevice::open_or_create(&p, 512).unwrap();
        assert!(!created);
        let mut back = [0u8; SECTOR_SIZE];
        d.read_sector(3, &mut back).unwrap();
        assert_eq!(back, buf);
        assert!(d.read_sector(512, &mut back).is_err());
        assert!(d.write_sector(512, &back).is_err());
        std::fs::remove_file(&p).unwrap();
    }

    #[test]
    fn a_short_file_is_refused_untouched() {
        let p = temp("short");
        std::fs::write(&p, [1u8; 100]).unwrap();
        let e = FileDevice::open_or_create(&p, 512).unwrap_err().to_string();
        assert!(e.contains("at least 2097152"), "{e}");
        assert_eq!(std::fs::read(&p).unwrap(), [1u8; 100]);
        std::fs::remove_file(&p).unwrap();
    }
}
