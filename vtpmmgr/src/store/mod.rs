//! The sealed store on the manager's 2 MB image (docs/disk-format.md).
