//! A minimal TPM client over the transport seam: builds commands from typed parameters, checks
//! and splits responses, and offers the discovery calls every user of a TPM makes (Startup,
//! GetCapability with `moreData` paging, GetRandom, PCR_Read).
//!
//! It is `no_std` + `alloc` so that the manager can drive the hardware TPM with it from a
//! unikernel exactly as the host tools drive swtpm.

use alloc::vec;
use alloc::vec::Vec;
use core::fmt;

use crate::Error;
use crate::auth::TpmsAuthCommand;
use crate::cap::TpmCap;
use crate::cc::TpmCc;
use crate::command::build_command;
use crate::commands::{
    CommandParams, GetCapabilityCommand, GetCapabilityResponse, GetRandomCommand,
    GetRandomResponse, PcrReadCommand, PcrReadResponse, ResponseParams, StartupCommand,
};
use crate::handle::TpmHandle;
use crate::header::MAX_PACKET_SIZE;
use crate::rc::TpmRc;
use crate::response::Response;
use crate::st::TpmSu;
use crate::structures::{TpmlPcrSelection, TpmsCapabilityData};
use crate::transport::Transport;

/// Why a client call failed.
#[derive(Debug)]
pub enum ClientError<E> {
    /// The transport failed.
    Transport(E),
    /// The command could not be built or the response did not parse.
    Wire(Error),
    /// The TPM answered with an error.
    Tpm {
        /// The command that failed.
        command: TpmCc,
        /// The response code.
        rc: TpmRc,
    },
}

impl<E: fmt::Display> fmt::Display for ClientError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Transport(e) => write!(f, "transport: {e}"),
            Self::Wire(e) => write!(f, "wire format: {e}"),
            Self::Tpm { command, rc } => write!(f, "{command} failed: {rc}"),
        }
    }
}

impl<E: fmt::Debug + fmt::Display> core::error::Error for ClientError<E> {}

impl<E> ClientError<E> {
    /// The TPM's response code, if the TPM answered with an error.
    pub const fn rc(&self) -> Option<TpmRc> {
        match self {
            Self::Tpm { rc, .. } => Some(*rc),
            _ => None,
        }
    }
}

/// A successful response: the returned handle (if any) and the decoded parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply<R> {
    /// The handle the command returned, for commands that return one.
    pub handle: Option<TpmHandle>,
    /// The response parameters.
    pub params: R,
}

/// A TPM reached through a [`Transport`].
#[derive(Debug)]
pub struct Client<T> {
    transport: T,
    response: Vec<u8>,
}

impl<T: Transport> Client<T> {
    /// A client sending through `transport`.
    pub fn new(transport: T) -> Self {
        Self {
            transport,
            response: vec![0; MAX_PACKET_SIZE],
        }
    }

    /// The transport, for transport-specific operations.
    pub fn transport_mut(&mut self) -> &mut T {
        &mut self.transport
    }

    /// Gives the transport back.
    pub fn into_transport(self) -> T {
        self.transport
    }

    /// Sends raw command bytes and returns the raw response.
    pub fn execute_raw(&mut self, command: &[u8]) -> Result<&[u8], ClientError<T::Error>> {
        let n = self
            .transport
            .transact(command, &mut self.response)
            .map_err(ClientError::Transport)?;
        Ok(&self.response[..n])
    }

    /// Sends a command built from typed parameters and decodes the typed response.
    pub fn call<C: CommandParams, R: ResponseParams>(
        &mut self,
        handles: &[TpmHandle],
        sessions: &[TpmsAuthCommand],
        params: &C,
    ) -> Result<Reply<R>, ClientError<T::Error>> {
        debug_assert_eq!(
            C::CODE,
            R::CODE,
            "command and response types of different commands"
        );
        let bytes = build_command(C::CODE, handles, sessions, &params.to_bytes())
            .map_err(ClientError::Wire)?;
        let raw = self.execute_raw(&bytes)?;
        let rsp = Response::parse(raw, C::CODE).map_err(ClientError::Wire)?;
        if !rsp.code().is_success() {
            return Err(ClientError::Tpm {
                command: C::CODE,
                rc: rsp.code(),
            });
        }
        let params = R::from_bytes(rsp.parameters).map_err(ClientError::Wire)?;
        Ok(Reply {
            handle: rsp.handle,
            params,
        })
    }

    /// Sends a command whose response has no parameters.
    pub fn call_no_output<C: CommandParams>(
        &mut self,
        handles: &[TpmHandle],
        sessions: &[TpmsAuthCommand],
        params: &C,
    ) -> Result<(), ClientError<T::Error>> {
        let bytes = build_command(C::CODE, handles, sessions, &params.to_bytes())
            .map_err(ClientError::Wire)?;
        let raw = self.execute_raw(&bytes)?;
        let rsp = Response::parse(raw, C::CODE).map_err(ClientError::Wire)?;
        if !rsp.code().is_success() {
            return Err(ClientError::Tpm {
                command: C::CODE,
                rc: rsp.code(),
            });
        }
        if !rsp.parameters.is_empty() {
            return Err(ClientError::Wire(Error::TrailingBytes {
                what: "response parameters",
                count: rsp.parameters.len(),
            }));
        }
        Ok(())
    }

    /// TPM2_Startup.
    pub fn startup(&mut self, startup_type: TpmSu) -> Result<(), ClientError<T::Error>> {
        self.call_no_output(&[], &[], &StartupCommand { startup_type })
    }

    /// One TPM2_GetCapability call: whether more data exists, and the values returned.
    pub fn get_capability(
        &mut self,
        capability: TpmCap,
        property: u32,
        property_count: u32,
    ) -> Result<(bool, TpmsCapabilityData), ClientError<T::Error>> {
        let cmd = GetCapabilityCommand {
            capability,
            property,
            property_count,
        };
        let r: Reply<GetCapabilityResponse> = self.call(&[], &[], &cmd)?;
        Ok((r.params.more_data, r.params.capability_data))
    }

    /// TPM2_GetRandom.
    pub fn get_random(&mut self, bytes_requested: u16) -> Result<Vec<u8>, ClientError<T::Error>> {
        let r: Reply<GetRandomResponse> =
            self.call(&[], &[], &GetRandomCommand { bytes_requested })?;
        Ok(r.params.random_bytes.as_bytes().to_vec())
    }

    /// TPM2_PCR_Read.
    pub fn pcr_read(
        &mut self,
        selection: TpmlPcrSelection,
    ) -> Result<PcrReadResponse, ClientError<T::Error>> {
        let r: Reply<PcrReadResponse> = self.call(
            &[],
            &[],
            &PcrReadCommand {
                pcr_selection_in: selection,
            },
        )?;
        Ok(r.params)
    }
}
