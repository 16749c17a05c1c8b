//! The mssim platform port and the command port's error paths, against a loopback peer that
//! follows the TCG simulator's protocol rules (swtpm, the real TPM of the other tests, has no
//! platform port). Each peer serves one connection per port and stops by itself.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::thread;

use tpm2::transport::Transport;
use vtpm_tools::Error;
use vtpm_tools::transport::{MssimTransport, PlatformSignal, TPM_SEND_COMMAND};

/// How the fake simulator answers `TPM_SEND_COMMAND`.
#[derive(Clone, Copy)]
enum Answer {
    /// A well-formed 10-byte success response.
    Good,
    /// A frame size that disagrees with the response header.
    SizeMismatch,
    /// A frame size beyond 4096.
    Huge,
    /// A non-zero acknowledgement.
    BadAck,
}

fn read_u32(s: &mut TcpStream) -> Option<u32> {
    let mut b = [0u8; 4];
    s.read_exact(&mut b).ok()?;
    Some(u32::from_be_bytes(b))
}

/// Two consecutive loopback ports bound as listeners.
fn listeners() -> (TcpListener, TcpListener, u16) {
    for _ in 0..64 {
        let a = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = a.local_addr().unwrap().port();
        if port < u16::MAX {
            if let Ok(b) = TcpListener::bind(("127.0.0.1", port + 1)) {
                return (a, b, port);
            }
        }
    }
    panic!("no consecutive free ports");
}

/// Starts a fake simulator; returns its command port and the signals its platform port saw.
fn fake_simulator(answer: Answer) -> (u16, thread::JoinHandle<Vec<u32>>) {
    let (cmd, plat, port) = listeners();
    thread::spawn(move || {
        let (mut c, _) = cmd.accept().unwrap();
        if read_u32(&mut c) == Some(TPM_SEND_COMMAND) {
            let mut loc_size = [0u8; 5];
            c.read_exact(&mut loc_size).unwrap();
            let size = u32::from_be_bytes([loc_size[1], loc_size[2], loc_size[3], loc_size[4]]);
            let mut body = vec![0u8; size as usize];
            c.read_exact(&mut body).unwrap();
            let rsp = [0x80, 0x01, 0, 0, 0, 10, 0, 0, 0, 0];
            let (frame, ack): (u32, u32) = match answer {
                Answer::Good => (10, 0),
                Answer::SizeMismatch => (12, 0),
                Answer::Huge => (100_000, 0),
                Answer::BadAck => (10, 7),
            };
            let mut out = frame.to_be_bytes().to_vec();
            out.extend_from_slice(&rsp);
            if matches!(answer, Answer::SizeMismatch) {
                out.extend_from_slice(&[0, 0]);
            }
            out.extend_from_slice(&ack.to_be_bytes());
            let _ = c.write_all(&out);
        }
    });
    let seen = thread::spawn(move || {
        let mut seen = Vec::new();
        let Ok((mut p, _)) = plat.accept() else {
            return seen;
        };
        while let Some(sig) = read_u32(&mut p) {
            if sig == 20 {
                break; // TPM_SESSION_END
            }
            seen.push(sig);
            // Known signals are acknowledged with 0; this platform refuses physical presence (3)
            // and anything unknown.
            let ack = u32::from(!matches!(sig, 1 | 2 | 4 | 9..=12 | 17 | 18));
            if p.write_all(&ack.to_be_bytes()).is_err() {
                break;
            }
        }
        seen
    });
    (port, seen)
}

#[test]
fn platform_signals_are_sent_and_acknowledged() {
    let (port, seen) = fake_simulator(Answer::Good);
    let mut m = MssimTransport::connect("127.0.0.1", port).unwrap();
    m.signal(PlatformSignal::PowerOn).unwrap();
    m.signal(PlatformSignal::NvOn).unwrap();
    let mut buf = [0u8; 64];
    let n = m
        .transact(&[0x80, 0x01, 0, 0, 0, 12, 0, 0, 0x01, 0x44, 0, 0], &mut buf)
        .unwrap();
    assert_eq!(&buf[..n], &[0x80, 0x01, 0, 0, 0, 10, 0, 0, 0, 0]);
    m.signal(PlatformSignal::Reset).unwrap();
    m.end_session().unwrap();
    assert_eq!(seen.join().unwrap(), vec![1, 11, 17]);
}

#[test]
fn command_port_errors_are_reported() {
    let cmd = [0x80, 0x01, 0, 0, 0, 12, 0, 0, 0x01, 0x44, 0, 0];
    let mut buf = [0u8; 64];

    let (port, _) = fake_simulator(Answer::SizeMismatch);
    let mut m = MssimTransport::connect("127.0.0.1", port).unwrap();
    assert!(matches!(
        m.transact(&cmd, &mut buf),
        Err(Error::BadResponseSize { declared: 10, .. })
    ));

    let (port, _) = fake_simulator(Answer::Huge);
    let mut m = MssimTransport::connect("127.0.0.1", port).unwrap();
    assert!(matches!(
        m.transact(&cmd, &mut buf),
        Err(Error::BadResponseSize {
            declared: 100_000,
            ..
        })
    ));

    let (port, _) = fake_simulator(Answer::BadAck);
    let mut m = MssimTransport::connect("127.0.0.1", port).unwrap();
    let e = m.transact(&cmd, &mut buf).unwrap_err();
    assert!(
        matches!(
            e,
            Error::Mssim {
                command: "TPM_SEND_COMMAND",
                ack: 7
            }
        ),
        "{e}"
    );
}

#[test]
fn unacknowledged_signal_is_an_error() {
    let (port, seen) = fake_simulator(Answer::Good);
    let mut m = MssimTransport::connect("127.0.0.1", port).unwrap();
    m.signal(PlatformSignal::PowerOff).unwrap();
    // This peer has no physical-presence line and refuses the signal with a non-zero ack.
    let e = m.signal(PlatformSignal::PhysPresOn).unwrap_err();
    assert!(
        matches!(
            e,
            Error::Mssim {
                command: "TPM_SIGNAL_PHYS_PRES_ON",
                ack: 1
            }
        ),
        "{e}"
    );
    drop(m);
    assert_eq!(seen.join().unwrap(), vec![2, 3]);
}
