//! The link end to end: a backend thread and a frontend over one region file, sessions,
//! hostile region contents.

#![allow(clippy::unwrap_used, clippy::panic, clippy::cast_possible_truncation)]
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use shmlink::{
    FileWindow, LinkBackend, LinkError, LinkEvent, LinkFrontend, REGION_SIZE, StdClock, Window,
    format,
};

fn region(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("shmlink-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    let mut w = FileWindow::create(&path, REGION_SIZE).unwrap();
    format(&mut w).unwrap();
    path
}

/// Serves requests by answering each with its bytes reversed, until `stop`; returns the
/// events it saw (requests as their lengths).
fn echo_backend(path: PathBuf, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<Vec<String>> {
    std::thread::spawn(move || {
        let mut b = LinkBackend::new(FileWindow::open(&path).unwrap()).unwrap();
        let mut seen = Vec::new();
        while !stop.load(Ordering::SeqCst) {
            match b.poll() {
                Some(LinkEvent::Request { locality, command }) => {
                    seen.push(format!("request {} at {locality}", command.len()));
                    let answer: Vec<u8> = command.iter().rev().copied().collect();
                    b.respond(&answer).unwrap();
                }
                Some(LinkEvent::Malformed(e)) => {
                    seen.push(format!("malformed {e}"));
                    b.respond(b"refused").unwrap();
                }
                Some(e) => seen.push(format!("{e:?}")),
                None => std::thread::sleep(std::time::Duration::from_micros(20)),
            }
        }
        b.stop();
        seen
    })
}

#[test]
fn requests_cross_the_region_and_sessions_are_acknowledged() {
    let path = region("echo");
    let stop = Arc::new(AtomicBool::new(false));
    let backend = echo_backend(path.clone(), Arc::clone(&stop));
    let mut front =
        LinkFrontend::connect(FileWindow::open(&path).unwrap(), StdClock::default(), 5_000)
            .unwrap();
    let started = Instant::now();
    for i in 0..100usize {
        let len = 1 + (i * 41) % 4088;
        let command: Vec<u8> = (0..len).map(|j| (i + j) as u8).collect();
        let answer = front.transmit(2, &command, 5_000).unwrap();
        let expected: Vec<u8> = command.iter().rev().copied().collect();
        assert_eq!(answer, expected, "round trip {i}");
    }
    let mut ten = Vec::new();
    let t = Instant::now();
    for _ in 0..200 {
        ten.push(front.transmit(0, &[1u8; 10], 5_000).unwrap().len());
    }
    println!(
        "100 round trips of up to 4088 bytes in {:?}; a 10-byte round trip: {:?} (file window, polling)",
        started.elapsed(),
        t.elapsed() / 200
    );
    assert!(ten.iter().all(|&n| n == 10));
    // Too long to send: refused before anything is put on the page.
    let err = front.transmit(0, &[0u8; 4089], 1_000).unwrap_err();
    assert!(!err.0, "nothing was sent");
    // A second session replaces the first.
    let window = front.close();
    let mut again = LinkFrontend::connect(window, StdClock::default(), 5_000).unwrap();
    assert_eq!(again.transmit(0, b"abc", 5_000).unwrap(), b"cba");
    drop(again);
    stop.store(true, Ordering::SeqCst);
    let seen = backend.join().unwrap();
    let connects: Vec<&String> = seen.iter().filter(|s| s.starts_with("Connected")).collect();
    assert_eq!(connects.len(), 2, "{seen:?}");
    assert_eq!(
        seen.iter().filter(|s| s.starts_with("request")).count(),
        301
    );
    assert!(seen.contains(&"request 10 at 0".to_string()));
}

#[test]
fn a_frontend_without_backend_times_out_and_a_stopped_backend_is_reported() {
    let path = region("nobody");
    let err = LinkFrontend::connect(FileWindow::open(&path).unwrap(), StdClock::default(), 50)
        .unwrap_err();
    assert!(matches!(err, LinkError::NoBackend { .. }), "{err}");

    let stop = Arc::new(AtomicBool::new(false));
    let backend = echo_backend(path.clone(), Arc::clone(&stop));
    let mut front =
        LinkFrontend::connect(FileWindow::open(&path).unwrap(), StdClock::default(), 5_000)
            .unwrap();
    assert_eq!(front.transmit(0, b"x", 5_000).unwrap(), b"x");
    stop.store(true, Ordering::SeqCst);
    backend.join().unwrap();
    let (sent, err) = front.transmit(0, b"y", 200).unwrap_err();
    assert!(!sent);
    assert_eq!(err, LinkError::BackendStopped);
}

#[test]
fn unformatted_or_small_regions_are_refused() {
    let dir = std::env::temp_dir().join(format!("shmlink-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let blank = FileWindow::create(&dir.join("blank"), REGION_SIZE).unwrap();
    assert_eq!(LinkBackend::new(blank).unwrap_err(), LinkError::NotALink);
    let small = FileWindow::create(&dir.join("small"), 4096).unwrap();
    assert!(matches!(
        LinkBackend::new(small).unwrap_err(),
        LinkError::TooSmall { size: 4096 }
    ));
}

/// xorshift64*: deterministic noise for the hostile peer.
fn noise(state: &mut u64) -> u64 {
    *state ^= *state >> 12;
    *state ^= *state << 25;
    *state ^= *state >> 27;
    state.wrapping_mul(0x2545_f491_4f6c_dd1d)
}

#[test]
fn a_hostile_frontend_cannot_crash_or_wedge_the_backend() {
    let path = region("hostile");
    let mut backend = LinkBackend::new(FileWindow::open(&path).unwrap()).unwrap();
    let mut peer = FileWindow::open(&path).unwrap();
    let mut rng = 0x1234_5678_9abc_def1u64;
    let (mut requests, mut malformed, mut sessions) = (0, 0, 0);
    for round in 0..20_000u32 {
        // Scribble on the control words and the tpmif header, sometimes on the payload.
        let at = match noise(&mut rng) % 4 {
            0 => 12 + (noise(&mut rng) % 12) as usize,
            1 | 2 => 4096 + (noise(&mut rng) % 8) as usize,
            _ => (noise(&mut rng) % REGION_SIZE as u64) as usize,
        };
        let byte = match noise(&mut rng) % 3 {
            0 => 1, // SUBMIT, a likely state byte
            _ => noise(&mut rng) as u8,
        };
        peer.write(at, &[byte]);
        match backend.poll() {
            Some(LinkEvent::Request { command, .. }) => {
                requests += 1;
                assert!(command.len() <= 4088);
                backend.respond(&[0u8; 10]).unwrap();
            }
            Some(LinkEvent::Malformed(_)) => {
                malformed += 1;
                backend.respond(&[0u8; 10]).unwrap();
            }
            Some(_) => sessions += 1,
            None => {}
        }
        if round % 5_000 == 0 {
            // The region keeps its magic: the backend reopens it.
            let _ = LinkBackend::new(FileWindow::open(&path).unwrap());
        }
    }
    println!(
        "hostile rounds: {requests} requests, {malformed} refused, {sessions} session changes"
    );
    assert!(requests + malformed > 0 && sessions > 0);
    // A well-behaved frontend still gets served afterwards.
    let stop = Arc::new(AtomicBool::new(false));
    drop(backend);
    let mut w = FileWindow::open(&path).unwrap();
    format(&mut w).unwrap();
    let echo = echo_backend(path.clone(), Arc::clone(&stop));
    let mut front = LinkFrontend::connect(w, StdClock::default(), 5_000).unwrap();
    assert_eq!(front.transmit(0, b"ok", 5_000).unwrap(), b"ko");
    stop.store(true, Ordering::SeqCst);
    echo.join().unwrap();
}

#[test]
fn an_oversized_request_is_answered_not_dropped() {
    let path = region("oversized");
    let mut backend = LinkBackend::new(FileWindow::open(&path).unwrap()).unwrap();
    let mut peer = FileWindow::open(&path).unwrap();
    peer.write(12, &7u32.to_le_bytes());
    assert_eq!(backend.poll(), Some(LinkEvent::Connected { session: 7 }));
    // length 5000, SUBMIT, locality 0, no extra pages
    peer.write(4096, &5000u32.to_le_bytes());
    peer.write(4100, &[1, 0, 0, 0]);
    assert!(matches!(backend.poll(), Some(LinkEvent::Malformed(_))));
    assert_eq!(backend.poll(), None, "no second event before the answer");
    backend.respond(b"no").unwrap();
    let mut state = [0u8; 1];
    peer.read(4100, &mut state);
    assert_eq!(state[0], 2, "FINISH");
}

#[test]
fn a_new_session_never_races_what_the_old_one_left_on_the_page() {
    // Each round leaves a stale request state on the page (SUBMIT, CANCEL or FINISH), then a
    // new session connects and sends at once: the backend resets the page before it
    // acknowledges, so the first request of the new session is never lost.
    let path = region("sessions");
    let stop = Arc::new(AtomicBool::new(false));
    let backend = echo_backend(path.clone(), Arc::clone(&stop));
    let mut scribbler = FileWindow::open(&path).unwrap();
    for round in 0..200u32 {
        scribbler.write(4100, &[[1u8, 3, 2][round as usize % 3]]);
        let mut front =
            LinkFrontend::connect(FileWindow::open(&path).unwrap(), StdClock::default(), 5_000)
                .unwrap();
        let answer = front
            .transmit(0, &round.to_le_bytes(), 5_000)
            .unwrap_or_else(|e| panic!("round {round}: {e:?}"));
        let mut expected = round.to_le_bytes();
        expected.reverse();
        assert_eq!(answer, expected, "round {round}");
        front.close();
    }
    stop.store(true, Ordering::SeqCst);
    backend.join().unwrap();
}

#[test]
fn the_backend_resets_the_page_before_it_acknowledges_a_session() {
    let path = region("reset");
    let mut backend = LinkBackend::new(FileWindow::open(&path).unwrap()).unwrap();
    let mut peer = FileWindow::open(&path).unwrap();
    for (session, stale) in [(3u32, 3u8), (4, 1), (5, 2)] {
        // A stale CANCEL, SUBMIT or FINISH of the old session, then a new session number.
        peer.write(4096, &4u32.to_le_bytes());
        peer.write(4100, &[stale]);
        peer.write(12, &session.to_le_bytes());
        assert_eq!(backend.poll(), Some(LinkEvent::Connected { session }));
        let mut state = [0xffu8; 1];
        peer.read(4100, &mut state);
        assert_eq!(
            state[0], 0,
            "IDLE before the acknowledgement of session {session}"
        );
        let mut ack = [0u8; 4];
        peer.read(16, &mut ack);
        assert_eq!(u32::from_le_bytes(ack), session);
        assert_eq!(backend.poll(), None, "nothing of the old session is served");
    }
}

#[test]
fn a_cancelled_request_ends_the_session() {
    // A backend that acknowledges the session but never answers.
    let path = region("mute");
    let mut backend = LinkBackend::new(FileWindow::open(&path).unwrap()).unwrap();
    let window = FileWindow::open(&path).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let s2 = Arc::clone(&stop);
    let t = std::thread::spawn(move || {
        while !s2.load(Ordering::SeqCst) {
            let _ = backend.poll();
            std::thread::sleep(std::time::Duration::from_micros(50));
        }
    });
    let mut front =
        LinkFrontend::connect(FileWindow::open(&path).unwrap(), StdClock::default(), 5_000)
            .unwrap();
    let (sent, err) = front.transmit(0, b"never answered", 100).unwrap_err();
    assert!(sent);
    assert!(matches!(err, LinkError::Timeout { .. }), "{err}");
    let (sent, err) = front.transmit(0, b"next", 100).unwrap_err();
    assert!(!sent, "nothing is put on the page any more");
    assert_eq!(err, LinkError::Abandoned);
    let mut state = [0u8; 1];
    window.read(4100, &mut state);
    assert_eq!(
        state[0], 3,
        "the page still shows the CANCEL, not a new SUBMIT"
    );
    stop.store(true, Ordering::SeqCst);
    t.join().unwrap();
}
