//! The few Linux calls hosted mode needs beyond `std`: shared-memory files (`memfd_create(2)`
//! with size seals, `fcntl(2)`) and passing file descriptors over a Unix socket
//! (`sendmsg(2)`/`recvmsg(2)` with `SCM_RIGHTS`, `unix(7)`, `cmsg(3)`). The structures are
//! glibc's on 64-bit Linux (x86_64, aarch64).

use std::collections::VecDeque;
use std::ffi::c_void;
use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixStream;

#[repr(C)]
struct IoVec {
    base: *mut c_void,
    len: usize,
}

#[repr(C)]
struct MsgHdr {
    name: *mut c_void,
    namelen: u32,
    iov: *mut IoVec,
    iovlen: usize,
    control: *mut c_void,
    controllen: usize,
    flags: i32,
}

/// `struct cmsghdr`'s header: `size_t cmsg_len; int cmsg_level; int cmsg_type;`.
const CMSG_HDR: usize = 16;
const SOL_SOCKET: i32 = 1;
const SCM_RIGHTS: i32 = 1;
const MSG_CTRUNC: i32 = 0x8;
const MSG_DONTWAIT: i32 = 0x40;
const MSG_NOSIGNAL: i32 = 0x4000;
const MSG_CMSG_CLOEXEC: i32 = 0x4000_0000;
const MFD_CLOEXEC: u32 = 1;
const MFD_ALLOW_SEALING: u32 = 2;
const F_ADD_SEALS: i32 = 1033;
const F_SEAL_SEAL: i32 = 1;
const F_SEAL_SHRINK: i32 = 2;
const F_SEAL_GROW: i32 = 4;

unsafe extern "C" {
    fn sendmsg(fd: i32, msg: *const MsgHdr, flags: i32) -> isize;
    fn recvmsg(fd: i32, msg: *mut MsgHdr, flags: i32) -> isize;
    fn memfd_create(name: *const core::ffi::c_char, flags: u32) -> i32;
    fn fcntl(fd: i32, cmd: i32, ...) -> i32;
}

/// Control-message space: room for several descriptors, aligned as `cmsghdr` needs.
#[repr(C, align(8))]
struct Control([u8; 128]);

/// A zeroed 4096-byte shared-memory file whose size is sealed (neither end can shrink or
/// grow it).
pub(crate) fn page_file(size: u64) -> io::Result<File> {
    // SAFETY: the name is a NUL-terminated static string; the flags are valid; the call
    // returns a new descriptor or -1.
    let fd = unsafe { memfd_create(c"vtpm-xen-page".as_ptr(), MFD_CLOEXEC | MFD_ALLOW_SEALING) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` is a fresh descriptor nobody else owns.
    let file = File::from(unsafe { OwnedFd::from_raw_fd(fd) });
    file.set_len(size)?;
    let seals = F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL;
    // SAFETY: `file` owns an open memfd for the duration of the call; F_ADD_SEALS takes one
    // int argument.
    if unsafe { fcntl(file.as_raw_fd(), F_ADD_SEALS, seals) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(file)
}

/// Sends all of `bytes`, the first `sendmsg` carrying `fd` as `SCM_RIGHTS`.
pub(crate) fn send_with_fd(stream: &UnixStream, bytes: &[u8], fd: RawFd) -> io::Result<()> {
    let mut control = Control([0; 128]);
    let space = CMSG_HDR + 8; // CMSG_SPACE(sizeof(int))
    let len = CMSG_HDR + 4; // CMSG_LEN(sizeof(int))
    control.0[..8].copy_from_slice(&len.to_ne_bytes());
    control.0[8..12].copy_from_slice(&SOL_SOCKET.to_ne_bytes());
    control.0[12..16].copy_from_slice(&SCM_RIGHTS.to_ne_bytes());
    control.0[16..20].copy_from_slice(&fd.to_ne_bytes());
    let mut iov = IoVec {
        base: bytes.as_ptr().cast_mut().cast(),
        len: bytes.len(),
    };
    let msg = MsgHdr {
        name: core::ptr::null_mut(),
        namelen: 0,
        iov: &raw mut iov,
        iovlen: 1,
        control: control.0.as_mut_ptr().cast(),
        controllen: space,
        flags: 0,
    };
    let sent = loop {
        // SAFETY: `msg` points at one iovec covering `bytes` (only read by sendmsg) and at a
        // control buffer holding one well-formed SCM_RIGHTS message of `space` bytes; the
        // socket is open for the duration of the call.
        let n = unsafe { sendmsg(stream.as_raw_fd(), &raw const msg, MSG_NOSIGNAL) };
        if n >= 0 {
            break usize::try_from(n).unwrap_or(0);
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    };
    let rest = bytes.get(sent..).unwrap_or(&[]);
    io::Write::write_all(&mut &*stream, rest)
}

/// Receives bytes into `buf`, queueing any descriptors that arrive with them. `nonblocking`
/// returns `WouldBlock` instead of waiting. `Ok(0)` is end of stream.
pub(crate) fn recv_with_fds(
    stream: &UnixStream,
    buf: &mut [u8],
    fds: &mut VecDeque<OwnedFd>,
    nonblocking: bool,
) -> io::Result<usize> {
    let mut control = Control([0; 128]);
    let mut iov = IoVec {
        base: buf.as_mut_ptr().cast(),
        len: buf.len(),
    };
    let mut msg = MsgHdr {
        name: core::ptr::null_mut(),
        namelen: 0,
        iov: &raw mut iov,
        iovlen: 1,
        control: control.0.as_mut_ptr().cast(),
        controllen: control.0.len(),
        flags: 0,
    };
    let flags = MSG_CMSG_CLOEXEC | if nonblocking { MSG_DONTWAIT } else { 0 };
    // SAFETY: `msg` points at one iovec covering `buf` (writable, `buf.len()` bytes) and at a
    // writable control buffer of `controllen` bytes; the kernel writes within those bounds
    // and updates `controllen`/`flags`. The socket is open for the call.
    let n = unsafe { recvmsg(stream.as_raw_fd(), &raw mut msg, flags) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    // Take ownership of every descriptor received first, so none leaks on an error below.
    let used = msg.controllen.min(control.0.len());
    let mut at = 0;
    while at + CMSG_HDR <= used {
        let mut word = [0u8; 8];
        word.copy_from_slice(&control.0[at..at + 8]);
        let len = usize::from_ne_bytes(word);
        let level = i32::from_ne_bytes([
            control.0[at + 8],
            control.0[at + 9],
            control.0[at + 10],
            control.0[at + 11],
        ]);
        let kind = i32::from_ne_bytes([
            control.0[at + 12],
            control.0[at + 13],
            control.0[at + 14],
            control.0[at + 15],
        ]);
        if len < CMSG_HDR || at + len > used {
            break;
        }
        if level == SOL_SOCKET && kind == SCM_RIGHTS {
            for chunk in control.0[at + CMSG_HDR..at + len].chunks_exact(4) {
                let fd = i32::from_ne_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
                // SAFETY: the kernel just installed `fd` in this process for us (SCM_RIGHTS);
                // nothing else owns it.
                fds.push_back(unsafe { OwnedFd::from_raw_fd(fd) });
            }
        }
        at += (len + 7) & !7;
    }
    if msg.flags & MSG_CTRUNC != 0 {
        return Err(io::Error::other(
            "descriptors were lost (control data truncated)",
        ));
    }
    Ok(usize::try_from(n).unwrap_or(0))
}

/// A fresh open file description of the same file (so the peers' descriptors share no file
/// status flags: one end setting `O_APPEND` cannot redirect the other's writes).
pub(crate) fn reopen(file: &File) -> io::Result<File> {
    File::options()
        .read(true)
        .write(true)
        .open(std::format!("/proc/self/fd/{}", file.as_raw_fd()))
}

/// Reads 16 random bytes from the kernel.
pub(crate) fn random_token() -> io::Result<[u8; 16]> {
    let mut t = [0u8; 16];
    io::Read::read_exact(&mut File::open("/dev/urandom")?, &mut t)?;
    Ok(t)
}
