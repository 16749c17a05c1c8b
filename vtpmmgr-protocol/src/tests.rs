use alloc::vec;

use super::*;

fn all_requests() -> Vec<Request> {
    vec![
        Request::SaveHashKey(Zeroizing::new(vec![7; 52])),
        Request::SaveHashKey(Zeroizing::new(vec![9; 64])),
        Request::LoadHashKey,
        Request::GetBootHash,
        Request::GetQuote {
            nonce: [5; 20],
            pcrs: 0x00_0103,
            flags: QUOTE_HASH_UUID | QUOTE_GROUP_PUBKEY,
        },
        Request::GetRandom { count: 32 },
        Request::GroupList,
        Request::GroupNew,
        Request::GroupDel { group: 2 },
        Request::GroupActivate {
            group: 1,
            credential: vec![1, 2, 3],
            secret: vec![4; 70],
        },
        Request::GroupUpdate {
            group: 0,
            sequence: 9,
            kernels: vec![[0xaa; 32], [0xbb; 32]],
        },
        Request::GroupShow { group: 0 },
        Request::VtpmList {
            group: 0,
            offset: 254,
        },
        Request::VtpmShow {
            uuid: Uuid([3; 16]),
        },
        Request::VtpmNew {
            group: 1,
            uuid: None,
        },
        Request::VtpmNew {
            group: 1,
            uuid: Some(Uuid([4; 16])),
        },
        Request::VtpmDel {
            uuid: Uuid([6; 16]),
        },
        Request::ReadPubek,
    ]
}

#[test]
fn every_request_round_trips() {
    for req in all_requests() {
        let bytes = req.encode();
        assert_eq!(Request::parse(&bytes), Ok(req.clone()), "{req:?}");
        // Every proper prefix is refused, never mis-parsed (bodies are exact).
        for n in 0..bytes.len() {
            let mut cut = bytes[..n].to_vec();
            if n >= HEADER_SIZE {
                cut[2..6].copy_from_slice(&u32::try_from(n).unwrap().to_be_bytes());
            }
            if let Ok(other) = Request::parse(&cut) {
                // Only VTPM_NEW's optional UUID and SAVEHASHKEY's variable key make a shorter
                // request valid.
                assert!(
                    matches!(
                        other,
                        Request::VtpmNew { uuid: None, .. } | Request::SaveHashKey(_)
                    ),
                    "{req:?} cut to {n} parsed as {other:?}"
                );
            }
        }
    }
}

#[test]
fn golden_bytes_match_xen_framing() {
    assert_eq!(
        Request::LoadHashKey.encode(),
        [0x01, 0xC1, 0, 0, 0, 0x0A, 0, 0, 0, 2]
    );
    assert_eq!(
        Request::GetRandom { count: 16 }.encode(),
        [0x00, 0xC1, 0, 0, 0, 0x0E, 0, 0, 0, 0x46, 0, 0, 0, 16]
    );
    let vnew = Request::VtpmNew {
        group: 0,
        uuid: Some(Uuid([0x11; 16])),
    }
    .encode();
    // The explicit-UUID form is exactly 30 bytes (reference §3.6).
    assert_eq!(vnew.len(), 30);
    assert_eq!(&vnew[..10], &[0x01, 0xC2, 0, 0, 0, 30, 0x02, 0, 0x02, 0x04]);
    let q = Request::GetQuote {
        nonce: [0; 20],
        pcrs: 0x80_0001,
        flags: 1,
    }
    .encode();
    // nonce, then a TPM 1.2 selection: size 3, PCR 0 in byte 0 bit 0, PCR 23 in byte 2 bit 7.
    assert_eq!(&q[30..35], &[0, 3, 0x01, 0x00, 0x80]);
}

#[test]
fn refusals_follow_the_tag_plus_three_rule() {
    let short = Request::parse(&[0x01, 0xC2, 0]).unwrap_err();
    assert_eq!(
        (short.tag, short.code),
        (tag::TPM_RSP_COMMAND, ReturnCode::BAD_PARAMETER)
    );

    let unknown = Request::parse(&[0x01, 0xC2, 0, 0, 0, 10, 0x02, 0, 0x01, 0x08]).unwrap_err();
    assert_eq!(
        (unknown.tag, unknown.code),
        (tag::RSP2, ReturnCode::BAD_ORDINAL)
    );

    let badtag = Request::parse(&[0x80, 0x01, 0, 0, 0, 10, 0, 0, 1, 0x44]).unwrap_err();
    assert_eq!(badtag.code, ReturnCode::BADTAG);

    let passthrough = Request::parse(&[0x00, 0xC1, 0, 0, 0, 10, 0, 0, 0, 0x15]).unwrap_err();
    assert_eq!(
        (passthrough.tag, passthrough.code),
        (tag::TPM_RSP_COMMAND, ReturnCode::DISABLED_CMD)
    );

    // A size field that lies is refused (Xen trusted the transport length instead).
    let mut lying = Request::GroupList.encode();
    lying[5] = 11;
    assert_eq!(
        Request::parse(&lying).unwrap_err().code,
        ReturnCode::BAD_PARAMETER
    );

    // Key sizes outside 52..=64.
    for n in [0, 51, 65] {
        let mut b = finish(tag::REQ, ordinal::SAVE_HASH_KEY, &vec![1; n]);
        b[2..6].copy_from_slice(&u32::try_from(10 + n).unwrap().to_be_bytes());
        assert_eq!(
            Request::parse(&b).unwrap_err().code,
            ReturnCode::BAD_PARAMETER,
            "{n}"
        );
    }

    // Trailing bytes (the reference Perl client's 31-byte VTPM_NEW) are refused.
    let mut extra = Request::VtpmNew {
        group: 0,
        uuid: Some(Uuid([1; 16])),
    }
    .encode();
    extra.push(0);
    extra[5] = 31;
    assert_eq!(
        Request::parse(&extra).unwrap_err().code,
        ReturnCode::BAD_PARAMETER
    );

    // Unknown quote flags: VTPM_INVALID_REQUEST.
    let mut q = Request::GetQuote {
        nonce: [0; 20],
        pcrs: 1,
        flags: 1,
    }
    .encode();
    let n = q.len();
    q[n - 1] = 0x10;
    assert_eq!(
        Request::parse(&q).unwrap_err().code,
        ReturnCode::INVALID_REQUEST
    );

    // A selection of PCRs the hardware TPM does not have (24..=31).
    let mut q = Request::GetQuote {
        nonce: [0; 20],
        pcrs: 1,
        flags: 1,
    }
    .encode();
    q.splice(30..32, [0, 4]);
    q.insert(35, 0x01);
    q[5] += 1;
    assert_eq!(
        Request::parse(&q).unwrap_err().reason,
        "PCR selection beyond PCR 23"
    );

    // Too many kernels.
    let mut body = Vec::new();
    body.extend_from_slice(&0u32.to_be_bytes());
    body.extend_from_slice(&1u64.to_be_bytes());
    body.extend_from_slice(&17u32.to_be_bytes());
    body.extend_from_slice(&[0; 17 * 32]);
    let b = finish(tag::REQ2, ordinal::GROUP_UPDATE, &body);
    assert_eq!(Request::parse(&b).unwrap_err().code, ReturnCode::SIZE);

    // Over the tpmif limit.
    let big = finish(tag::REQ2, ordinal::GROUP_LIST, &[0; MAX_MESSAGE]);
    assert_eq!(Request::parse(&big).unwrap_err().code, ReturnCode::SIZE);
}

fn all_replies() -> Vec<(Request, Reply)> {
    let reqs = all_requests();
    let find = |o: u32| reqs.iter().find(|r| r.ordinal() == o).cloned().unwrap();
    vec![
        (find(ordinal::SAVE_HASH_KEY), Reply::Empty),
        (
            find(ordinal::LOAD_HASH_KEY),
            Reply::HashKey(Zeroizing::new(vec![1; 52])),
        ),
        (find(ordinal::GET_BOOT_HASH), Reply::BootHash([8; 32])),
        (
            find(ordinal::GET_QUOTE),
            Reply::Quote(QuoteReply {
                attest: vec![0xff, 0x54, 0x43, 0x47],
                signature: vec![0, 0x18, 0, 0x0b],
                hashes: vec![[1; 32], [2; 32]],
                pcr_values: vec![[0; 32]; 3],
            }),
        ),
        (find(ordinal::TPM_GET_RANDOM), Reply::Random(vec![1, 2, 3])),
        (find(ordinal::GROUP_LIST), Reply::GroupCount(3)),
        (
            find(ordinal::GROUP_NEW),
            Reply::GroupNew {
                index: 1,
                uuid: Uuid([1; 16]),
                ak_public: vec![0, 0x23],
                ak_name: vec![0, 0x0b, 1],
            },
        ),
        (
            find(ordinal::GROUP_ACTIVATE),
            Reply::Credential(Zeroizing::new(vec![5; 16])),
        ),
        (
            find(ordinal::GROUP_SHOW),
            Reply::Group(GroupInfo {
                uuid: Uuid([2; 16]),
                ak_public: vec![1],
                ak_name: vec![2],
                sequence: 4,
                kernels: vec![[3; 32]],
                vtpms: 12,
            }),
        ),
        (
            find(ordinal::VTPM_LIST),
            Reply::VtpmList {
                total: 300,
                uuids: vec![Uuid([4; 16]); LIST_MAX],
            },
        ),
        (
            find(ordinal::VTPM_SHOW),
            Reply::Vtpm(VtpmInfo {
                group: 0,
                has_key: true,
                open: false,
            }),
        ),
        (find(ordinal::VTPM_NEW), Reply::VtpmNew(Uuid([5; 16]))),
        (
            find(ordinal::READ_PUBEK),
            Reply::Pubek(vec![0, 0x23, 0, 0x0b]),
        ),
    ]
}

#[test]
fn every_reply_round_trips_and_fits_a_tpmif_page() {
    for (req, reply) in all_replies() {
        let bytes = reply.encode();
        assert!(bytes.len() <= MAX_MESSAGE, "{reply:?}");
        assert_eq!(Reply::parse(&req, &bytes), Ok(reply.clone()), "{reply:?}");
        for n in 0..bytes.len() {
            let mut cut = bytes[..n].to_vec();
            if n >= HEADER_SIZE {
                cut[2..6].copy_from_slice(&u32::try_from(n).unwrap().to_be_bytes());
            }
            // Never a panic; a shorter answer parses only where the body is open-ended.
            let _ = Reply::parse(&req, &cut);
        }
    }
}

#[test]
fn error_answers_are_bare_headers() {
    let e = Reply::error(tag::REQ, ReturnCode::DISABLED);
    assert_eq!(e, [0x01, 0xC4, 0, 0, 0, 10, 0, 0, 0, 7]);
    assert_eq!(
        Reply::parse(&Request::LoadHashKey, &e),
        Err(ReplyError::Refused(ReturnCode::DISABLED))
    );
    let e = Reply::error(tag::TPM_RQU_COMMAND, ReturnCode::BAD_PARAMETER);
    assert_eq!(&e[..2], &[0x00, 0xC4]);
}

#[test]
fn secrets_are_redacted_in_debug() {
    let s = alloc::format!("{:?}", Request::SaveHashKey(Zeroizing::new(vec![0x5a; 52])));
    assert!(!s.contains("90"), "{s}");
    assert!(s.contains("redacted"));
}

#[test]
fn stream_framing_bounds_the_declared_size() {
    let head = |tag: u16, size: u32| {
        let mut h = [0u8; HEADER_SIZE];
        h[..2].copy_from_slice(&tag.to_be_bytes());
        h[2..6].copy_from_slice(&size.to_be_bytes());
        h
    };
    assert_eq!(framed_size(&head(tag::REQ, 10)), Ok(10));
    assert_eq!(framed_size(&head(tag::REQ2, 4088)), Ok(4088));
    let big = framed_size(&head(tag::REQ2, 4089)).unwrap_err();
    assert_eq!((big.tag, big.code), (tag::RSP2, ReturnCode::SIZE));
    let small = framed_size(&head(tag::TPM_RQU_COMMAND, 9)).unwrap_err();
    assert_eq!(
        (small.tag, small.code),
        (tag::TPM_RSP_COMMAND, ReturnCode::BAD_PARAMETER)
    );
    let odd = framed_size(&head(0x8001, u32::MAX)).unwrap_err();
    assert_eq!((odd.tag, odd.code), (tag::RSP, ReturnCode::SIZE));
}
