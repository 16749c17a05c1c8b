//! The TPM transport seam: command bytes in, response bytes out.
//!
//! Every TPM the project talks to sits behind [`Transport`]: a hardware TPM over the TIS FIFO,
//! Linux `/dev/tpmrm0`, swtpm or the TCG simulator over a socket, and the project's own engine
//! in-process. The seam is deliberately byte-level and allocation-free so the TIS driver can
//! implement it in a unikernel.

use core::fmt::{Debug, Display};

/// A TPM reachable by sending it whole commands.
pub trait Transport {
    /// Why an exchange failed (I/O, timeout, a broken device). A TPM *error response* is not a
    /// transport error: it is returned as response bytes.
    type Error: Debug + Display;

    /// Sends one complete command and writes the complete response into `response`, returning
    /// its length. A response that does not fit in `response` is an error, never truncated.
    fn transact(&mut self, command: &[u8], response: &mut [u8]) -> Result<usize, Self::Error>;
}

impl<T: Transport + ?Sized> Transport for &mut T {
    type Error = T::Error;

    fn transact(&mut self, command: &[u8], response: &mut [u8]) -> Result<usize, Self::Error> {
        (**self).transact(command, response)
    }
}
