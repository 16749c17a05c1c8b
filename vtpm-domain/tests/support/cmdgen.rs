//! Shared by the differential and restore-equivalence tests: a seeded generator of TPM 2.0
//! commands, valid and malformed, with per-command notes on which parts of the response are
//! deterministic, and a deterministic [`Platform`] for in-process engines.
//!
//! Commands refer to objects they expect earlier commands to have loaded by *slot*
//! ([`H::Obj`]); each target keeps its own slot → handle table, filled from the response
//! handles it returned, so two TPMs that number their transient handles differently still get
//! the same command sequence. At most three objects are live at a time (swtpm's
//! MAX_LOADED_OBJECTS), so the generator flushes before it loads a fourth.
// Each test uses part of this module; sizes in generated commands are small by construction
// (a command is at most a few KB), so the narrowing casts of the builders cannot truncate.
#![allow(
    dead_code,
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    clippy::cast_possible_wrap
)]

use vtpm_domain::engine::Platform;

// ---------------------------------------------------------------------------------------------
// Randomness for the generator and the platform
// ---------------------------------------------------------------------------------------------

/// SplitMix64: small, seedable, good enough to pick test cases.
#[derive(Clone)]
pub(crate) struct Rng(pub(crate) u64);

impl Rng {
    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0).
    pub(crate) fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    /// True with probability `num / den`.
    pub(crate) fn chance(&mut self, num: usize, den: usize) -> bool {
        self.below(den) < num
    }

    pub(crate) fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len())]
    }

    pub(crate) fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next_u64() as u8).collect()
    }
}

/// A platform whose entropy is a SplitMix64 stream from `seed` and whose clock stands still.
pub(crate) struct DetPlatform {
    rng: Rng,
}

impl DetPlatform {
    pub(crate) fn new(seed: u64) -> Self {
        Self { rng: Rng(seed) }
    }
}

impl Platform for DetPlatform {
    fn fill_entropy(&mut self, buf: &mut [u8]) {
        for b in buf {
            *b = self.rng.next_u64() as u8;
        }
    }

    fn monotonic_ms(&mut self) -> u64 {
        0
    }
}

// ---------------------------------------------------------------------------------------------
// Wire constants
// ---------------------------------------------------------------------------------------------

pub(crate) const ST_NO_SESSIONS: u16 = 0x8001;
pub(crate) const ST_SESSIONS: u16 = 0x8002;

pub(crate) const CC_STARTUP: u32 = 0x144;
pub(crate) const CC_SHUTDOWN: u32 = 0x145;
pub(crate) const CC_SELF_TEST: u32 = 0x143;
pub(crate) const CC_GET_TEST_RESULT: u32 = 0x17C;
pub(crate) const CC_STIR_RANDOM: u32 = 0x146;
pub(crate) const CC_READ_CLOCK: u32 = 0x181;
pub(crate) const CC_CLOCK_SET: u32 = 0x128;
pub(crate) const CC_CLOCK_RATE_ADJUST: u32 = 0x130;
pub(crate) const CC_SET_PRIMARY_POLICY: u32 = 0x12E;
pub(crate) const CC_HIERARCHY_CHANGE_AUTH: u32 = 0x129;
pub(crate) const CC_HIERARCHY_CONTROL: u32 = 0x121;
pub(crate) const CC_CLEAR_CONTROL: u32 = 0x127;
pub(crate) const CC_GET_RANDOM: u32 = 0x17B;
pub(crate) const CC_GET_CAPABILITY: u32 = 0x17A;
pub(crate) const CC_TEST_PARMS: u32 = 0x18A;
pub(crate) const CC_PCR_READ: u32 = 0x17E;
pub(crate) const CC_PCR_EXTEND: u32 = 0x182;
pub(crate) const CC_PCR_EVENT: u32 = 0x13C;
pub(crate) const CC_PCR_RESET: u32 = 0x13D;
pub(crate) const CC_PCR_ALLOCATE: u32 = 0x12B;
pub(crate) const CC_HASH: u32 = 0x17D;
pub(crate) const CC_HASH_SEQUENCE_START: u32 = 0x186;
pub(crate) const CC_SEQUENCE_UPDATE: u32 = 0x15C;
pub(crate) const CC_SEQUENCE_COMPLETE: u32 = 0x13E;
pub(crate) const CC_EVENT_SEQUENCE_COMPLETE: u32 = 0x185;
pub(crate) const CC_READ_PUBLIC: u32 = 0x173;
pub(crate) const CC_FLUSH_CONTEXT: u32 = 0x165;
pub(crate) const CC_CREATE_PRIMARY: u32 = 0x131;
pub(crate) const CC_LOAD_EXTERNAL: u32 = 0x167;
pub(crate) const CC_SIGN: u32 = 0x15D;
pub(crate) const CC_VERIFY_SIGNATURE: u32 = 0x177;
pub(crate) const CC_ENCRYPT_DECRYPT: u32 = 0x164;
pub(crate) const CC_ENCRYPT_DECRYPT2: u32 = 0x193;
pub(crate) const CC_RSA_DECRYPT: u32 = 0x159;
pub(crate) const CC_ECDH_ZGEN: u32 = 0x154;
pub(crate) const CC_UNSEAL: u32 = 0x15E;
pub(crate) const CC_HMAC: u32 = 0x155;
pub(crate) const CC_START_AUTH_SESSION: u32 = 0x176;
pub(crate) const CC_POLICY_GET_DIGEST: u32 = 0x189;
pub(crate) const CC_POLICY_RESTART: u32 = 0x180;
pub(crate) const CC_POLICY_PCR: u32 = 0x17F;
pub(crate) const CC_POLICY_COMMAND_CODE: u32 = 0x16C;
pub(crate) const CC_POLICY_AUTH_VALUE: u32 = 0x16B;
pub(crate) const CC_POLICY_PASSWORD: u32 = 0x18C;
pub(crate) const CC_POLICY_LOCALITY: u32 = 0x16F;
pub(crate) const CC_POLICY_CP_HASH: u32 = 0x16E;
pub(crate) const CC_POLICY_NAME_HASH: u32 = 0x170;
pub(crate) const CC_POLICY_TEMPLATE: u32 = 0x190;
pub(crate) const CC_POLICY_DUPLICATION_SELECT: u32 = 0x188;
pub(crate) const CC_POLICY_NV_WRITTEN: u32 = 0x18F;
pub(crate) const CC_POLICY_PHYSICAL_PRESENCE: u32 = 0x187;
pub(crate) const CC_POLICY_COUNTER_TIMER: u32 = 0x16D;
pub(crate) const CC_POLICY_AUTHORIZE: u32 = 0x16A;
pub(crate) const CC_POLICY_SIGNED: u32 = 0x160;
pub(crate) const CC_POLICY_TICKET: u32 = 0x172;
pub(crate) const CC_DUPLICATE: u32 = 0x14B;
pub(crate) const CC_POLICY_SECRET: u32 = 0x151;
pub(crate) const CC_POLICY_OR: u32 = 0x171;
pub(crate) const CC_ECC_PARAMETERS: u32 = 0x178;
pub(crate) const CC_QUOTE: u32 = 0x158;
pub(crate) const CC_MAKE_CREDENTIAL: u32 = 0x168;
pub(crate) const CC_ACTIVATE_CREDENTIAL: u32 = 0x147;
pub(crate) const CC_DA_PARAMETERS: u32 = 0x13A;
pub(crate) const CC_REWRAP: u32 = 0x152;
pub(crate) const CC_IMPORT: u32 = 0x156;
pub(crate) const CC_COMMIT: u32 = 0x18B;
pub(crate) const CC_EC_EPHEMERAL: u32 = 0x18E;
pub(crate) const CC_ZGEN_2PHASE: u32 = 0x18D;

pub(crate) const RH_OWNER: u32 = 0x4000_0001;
pub(crate) const RH_NULL: u32 = 0x4000_0007;
pub(crate) const RS_PW: u32 = 0x4000_0009;
pub(crate) const RH_ENDORSEMENT: u32 = 0x4000_000B;
pub(crate) const RH_PLATFORM: u32 = 0x4000_000C;
pub(crate) const RH_LOCKOUT: u32 = 0x4000_000A;

pub(crate) const ALG_RSA: u16 = 0x0001;
pub(crate) const ALG_SHA1: u16 = 0x0004;
pub(crate) const ALG_HMAC: u16 = 0x0005;
pub(crate) const ALG_AES: u16 = 0x0006;
pub(crate) const ALG_KEYEDHASH: u16 = 0x0008;
pub(crate) const ALG_SHA256: u16 = 0x000B;
pub(crate) const ALG_SHA384: u16 = 0x000C;
pub(crate) const ALG_SHA512: u16 = 0x000D;
pub(crate) const ALG_NULL: u16 = 0x0010;
pub(crate) const ALG_SM3: u16 = 0x0012;
pub(crate) const ALG_RSASSA: u16 = 0x0014;
pub(crate) const ALG_RSAES: u16 = 0x0015;
pub(crate) const ALG_OAEP: u16 = 0x0017;
pub(crate) const ALG_RSAPSS: u16 = 0x0016;
pub(crate) const ALG_ECDSA: u16 = 0x0018;
pub(crate) const ALG_ECC: u16 = 0x0023;
pub(crate) const ALG_SYMCIPHER: u16 = 0x0025;
pub(crate) const ALG_CTR: u16 = 0x0040;
pub(crate) const ALG_OFB: u16 = 0x0041;
pub(crate) const ALG_CBC: u16 = 0x0042;
pub(crate) const ALG_CFB: u16 = 0x0043;
pub(crate) const ALG_ECB: u16 = 0x0044;

/// The PCR banks both TPMs have allocated for the comparison (swtpm is re-allocated to these).
pub(crate) const BANKS: [(u16, usize); 3] = [(ALG_SHA1, 20), (ALG_SHA256, 32), (ALG_SHA384, 48)];

/// A fixed RSA-2048 key (made with `openssl genpkey` for these tests): modulus and first prime.
pub(crate) const RSA_N: &str = "df5002f088368259e9f293f033c379eb2c7e94e6f658b8b7e5155f1dff2efb22ea188d4d\
6b7883793b093a85f3dcc872ea0312b695c716f35e8ee53a433fed081464e943b4c6e1610fc21c79ce9e7f184a032a25\
d38ab6986404093f92e670b1079b919cccb221c3498593048d81cde6a63150ef2f2535af68ca0d856d404a880dd3aef4\
bf868d16b114201e978e88eb05a242a3b9534d0754224589db91cc5cc65ff2817afd339b5ff3c69d1b280b4d38bd56d0\
23ae966bcc57796e4cba6da056a63b1c4230c7b36e557cbedede117aa4b7eb24fbb3c0062c2ca4a6e9aef5efc0f13074\
6b5acfcd226dcda67020e18818d399900e6b7570cc3b80bb412426bd";
pub(crate) const RSA_P: &str = "f6fa210e46e481a53a52dc1ed6abceaa6f615587ceb74ae996ecce3e25474e7eb46f52d9\
76502466f181207ecc0839ff71831e9db582fb85090a3cf5b97ea8aa5e0995e6e15da77cb7fc5980d88ff0b36d7f9686\
5361a40efdd5a96ca14e311199c4f85049219a02ac1e4ffe6d954f14eef6b4b7b98573408a54ea9d42141141";
/// A fixed P-256 public key and an ECDSA-SHA256 signature (by openssl) of [`ECC_DIGEST`].
pub(crate) const ECC_X: &str = "ff2fb28d3f67b591d396e9473359cd542b6409448f3d131c3bbbb5a4382e629c";
pub(crate) const ECC_Y: &str = "e9c808f245bf477c9649464d44942efcc7adc96728469954b376e73558edae2d";
pub(crate) const ECC_DIGEST: &str =
    "2c61ce10527af51cd9f83f9e859c64c0e9123767be22ea0211099dceedc6eb44";
pub(crate) const ECC_R: &str = "c87b8fe745386b494fbfa5411247dbb7d9e5c7dbf69ae97457529767270d7a12";
pub(crate) const ECC_S: &str = "8f326b0ce77fb6566c2839856c2f67ec1178bb0a24950e107ca99a2ed006cda6";
/// The fixed P-256 key's private scalar (for ECDH_ZGen).
pub(crate) const ECC_D: &str = "ebeb48a72d5360e3c843c11604b27da3705cc5c00188e1b3330b010c3f1cc6b5";
/// s2 of TPM2_Commit and y2 with (SHA-256(s2) mod p, y2) on P-256.
pub(crate) const COMMIT_S2: &[u8] = b"cmdgen s2 0";
pub(crate) const COMMIT_Y2: &str =
    "922bef101ddf2483b6b4a94b2baf875443e09f3b50c8fc2a659dc1c7c12408b2";
/// "differential msg" encrypted by openssl to the fixed RSA key: RSAES-PKCS1-v1_5, and
/// RSAES-OAEP with SHA-256 (and MGF1-SHA-256), empty label.
pub(crate) const RSA_CT_PKCS1: &str = "23a552bfae31f103a19d44c04dff83e3698865c5c4226cc99a92d2bd7f\
f3bbee2c5011af46af7380b1d1c4abcde9b956fda9f2c877f9f88306b228076f40b9ab96b554d9f9dbee32f1ca05fa4c8\
1b1bcf5ed40440e6ba44eba8aaa172a3878ecd6fa85038549726ad7de4a3bd5e16f406e09b21e9402eb45ce3d0f1607d0\
fe1b540ebae414d34617b9b1b658c213aebd93a9e94a5686001dd85d85cd30f0a795fdb93788ea5b4c2572235b8e7c904\
8a2efb42d17e61174a224b856f73de99f54f85976a64f67c26a32ccf7b5578b201001d8bf982ddc80c87b93f4453d4c14\
e93330974f86c6f872b2b5092f0a01322e30c1f20f06d06fb98476cf733e8903e2";
pub(crate) const RSA_CT_OAEP: &str = "a369dfaaae58a2a24e1ed9f0dae26cb04025b2f1ce6d9ccb9ff7bb64bdf4\
b8bdbdee189fbf84bdc64aac3a08b1366ebf52b7706073be0c693b8c2a7077c4666b98bf09d8d34cb2c197d6f7f7eaa00\
0803d6e41b09fc4935e5481e06cca0c0ace72eae1886b46694e179c866e260e7a082b5d108e64c9ddc66d318bb3acd963\
7fe4187fbc1ec7b25a920f3df18d8dd6ea18d0f119786a90742211af29d181ef0722bdbc1ccba37ff21b091210f49cfb7\
483f57fe1bb89422498ad45b57f3bb7d420a7671f70bc96ea9cc61b928140ad764fb183505c31d107d7c7354df5cd4c3a\
ce4155e3e3cfda6e85995c1681223e69667d5c85aaee97669c1b3933f8006f88";
/// A fixed AES-128 key and SHA-256 of it (the `unique` field of its public area when the
/// seedValue is empty).
pub(crate) const AES_KEY: &str = "101112131415161718191a1b1c1d1e1f";
pub(crate) const AES_UNIQUE: &str =
    "fc2e2c73072bfa2bda03ff9307472debd3cc8105028a8a9e235e35ba8d2e37f4";

pub(crate) fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

pub(crate) fn hex(b: &[u8]) -> String {
    use std::fmt::Write;
    b.iter().fold(String::new(), |mut s, x| {
        let _ = write!(s, "{x:02x}");
        s
    })
}

// ---------------------------------------------------------------------------------------------
// Byte building
// ---------------------------------------------------------------------------------------------

/// A marshalling buffer.
#[derive(Default, Clone)]
pub(crate) struct B(pub(crate) Vec<u8>);

impl B {
    pub(crate) fn new() -> Self {
        Self(Vec::new())
    }
    pub(crate) fn u8(mut self, v: u8) -> Self {
        self.0.push(v);
        self
    }
    pub(crate) fn u16(mut self, v: u16) -> Self {
        self.0.extend_from_slice(&v.to_be_bytes());
        self
    }
    pub(crate) fn u32(mut self, v: u32) -> Self {
        self.0.extend_from_slice(&v.to_be_bytes());
        self
    }
    pub(crate) fn raw(mut self, v: &[u8]) -> Self {
        self.0.extend_from_slice(v);
        self
    }
    /// A TPM2B: u16 size, bytes.
    pub(crate) fn b(self, v: &[u8]) -> Self {
        self.u16(v.len() as u16).raw(v)
    }
    pub(crate) fn done(self) -> Vec<u8> {
        self.0
    }
}

/// A password session area entry for `password`.
pub(crate) fn pw_session(password: &[u8]) -> Vec<u8> {
    B::new().u32(RS_PW).b(&[]).u8(0x01).b(password).done()
}

/// A whole command: header, handles, authorization area (if any sessions), parameters.
pub(crate) fn command(cc: u32, handles: &[u32], sessions: &[Vec<u8>], params: &[u8]) -> Vec<u8> {
    let tag = if sessions.is_empty() {
        ST_NO_SESSIONS
    } else {
        ST_SESSIONS
    };
    let mut body = B::new();
    for h in handles {
        body = body.u32(*h);
    }
    if !sessions.is_empty() {
        let area: Vec<u8> = sessions.concat();
        body = body.u32(area.len() as u32).raw(&area);
    }
    let body = body.raw(params).done();
    B::new()
        .u16(tag)
        .u32(10 + body.len() as u32)
        .u32(cc)
        .raw(&body)
        .done()
}

/// The response code of a response (0xFFFF_FFFF if it is too short to hold one).
pub(crate) fn rc_of(rsp: &[u8]) -> u32 {
    rsp.get(6..10)
        .map_or(u32::MAX, |b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
}

/// The response code, decoded by the `tpm2` crate.
pub(crate) fn rc_name(rc: u32) -> String {
    format!("{:#x} {}", rc, tpm2::rc::TpmRc(rc))
}

// ---------------------------------------------------------------------------------------------
// Templates and fixed keys
// ---------------------------------------------------------------------------------------------

/// TPMA_OBJECT bits.
pub(crate) const FIXED_TPM: u32 = 0x2;
pub(crate) const FIXED_PARENT: u32 = 0x10;
pub(crate) const SENSITIVE_DATA_ORIGIN: u32 = 0x20;
pub(crate) const USER_WITH_AUTH: u32 = 0x40;
pub(crate) const NO_DA: u32 = 0x400;
pub(crate) const RESTRICTED: u32 = 0x10000;
pub(crate) const DECRYPT: u32 = 0x20000;
pub(crate) const SIGN: u32 = 0x40000;

/// TPM2B_PUBLIC of an ECC P-256 template: `sym` (None = TPM_ALG_NULL) and `scheme` (None =
/// TPM_ALG_NULL, Some(hash) = ECDSA with that hash), empty unique.
pub(crate) fn ecc_template(attrs: u32, sym: bool, scheme: Option<u16>, curve: u16) -> Vec<u8> {
    let mut t = B::new().u16(ALG_ECC).u16(ALG_SHA256).u32(attrs).b(&[]);
    t = if sym {
        t.u16(ALG_AES).u16(128).u16(ALG_CFB)
    } else {
        t.u16(ALG_NULL)
    };
    t = match scheme {
        Some(h) => t.u16(ALG_ECDSA).u16(h),
        None => t.u16(ALG_NULL),
    };
    let t = t.u16(curve).u16(ALG_NULL).b(&[]).b(&[]).done();
    B::new().b(&t).done()
}

/// TPM2B_PUBLIC of the fixed RSA key (sign, RSASSA-SHA256 scheme unless `null_scheme`).
pub(crate) fn rsa_public(null_scheme: bool, modulus: &[u8]) -> Vec<u8> {
    let mut t = B::new()
        .u16(ALG_RSA)
        .u16(ALG_SHA256)
        .u32(SIGN | USER_WITH_AUTH | NO_DA)
        .b(&[])
        .u16(ALG_NULL);
    t = if null_scheme {
        t.u16(ALG_NULL)
    } else {
        t.u16(ALG_RSASSA).u16(ALG_SHA256)
    };
    let t = t.u16(2048).u32(0).b(modulus).done();
    B::new().b(&t).done()
}

/// TPM2B_SENSITIVE of an object: type, empty authValue and seed, the secret.
pub(crate) fn sensitive(alg: u16, secret: &[u8]) -> Vec<u8> {
    let s = B::new().u16(alg).b(&[]).b(&[]).b(secret).done();
    B::new().b(&s).done()
}

/// TPM2B_PUBLIC of the fixed P-256 verification key.
pub(crate) fn ecc_public() -> Vec<u8> {
    let t = B::new()
        .u16(ALG_ECC)
        .u16(ALG_SHA256)
        .u32(SIGN | USER_WITH_AUTH)
        .b(&[])
        .u16(ALG_NULL)
        .u16(ALG_ECDSA)
        .u16(ALG_SHA256)
        .u16(0x0003)
        .u16(ALG_NULL)
        .b(&unhex(ECC_X))
        .b(&unhex(ECC_Y))
        .done();
    B::new().b(&t).done()
}

/// TPM2B_PUBLIC of the fixed RSA key as a decryption (and signing) key: scheme NULL.
pub(crate) fn rsa_decrypt_public() -> Vec<u8> {
    let t = B::new()
        .u16(ALG_RSA)
        .u16(ALG_SHA256)
        .u32(SIGN | DECRYPT | USER_WITH_AUTH | NO_DA)
        .b(&[])
        .u16(ALG_NULL)
        .u16(ALG_NULL)
        .u16(2048)
        .u32(0)
        .b(&unhex(RSA_N))
        .done();
    B::new().b(&t).done()
}

/// TPM2B_PUBLIC of the fixed P-256 key as an ECDH key (decrypt, scheme NULL).
pub(crate) fn ecc_ecdh_public() -> Vec<u8> {
    let t = B::new()
        .u16(ALG_ECC)
        .u16(ALG_SHA256)
        .u32(DECRYPT | USER_WITH_AUTH | NO_DA)
        .b(&[])
        .u16(ALG_NULL)
        .u16(ALG_NULL)
        .u16(0x0003)
        .u16(ALG_NULL)
        .b(&unhex(ECC_X))
        .b(&unhex(ECC_Y))
        .done();
    B::new().b(&t).done()
}

/// TPM2B_PUBLIC of the fixed P-256 key as an ECDAA-SHA256 signing key (TPM2_Commit).
pub(crate) fn ecdaa_public() -> Vec<u8> {
    let t = B::new()
        .u16(ALG_ECC)
        .u16(ALG_SHA256)
        .u32(SIGN | USER_WITH_AUTH | NO_DA)
        .b(&[])
        .u16(ALG_NULL)
        .u16(0x001A)
        .u16(ALG_SHA256)
        .u16(0)
        .u16(0x0003)
        .u16(ALG_NULL)
        .b(&unhex(ECC_X))
        .b(&unhex(ECC_Y))
        .done();
    B::new().b(&t).done()
}

/// TPM2B_PUBLIC of a keyed-hash object whose data is [`AES_KEY`]: an HMAC-SHA256 key
/// (`hmac`), or a sealed data object.
pub(crate) fn keyedhash_public(hmac: bool) -> Vec<u8> {
    let t = B::new().u16(ALG_KEYEDHASH).u16(ALG_SHA256);
    let t = if hmac {
        t.u32(SIGN | USER_WITH_AUTH | NO_DA)
            .b(&[])
            .u16(ALG_HMAC)
            .u16(ALG_SHA256)
    } else {
        t.u32(USER_WITH_AUTH | NO_DA).b(&[]).u16(ALG_NULL)
    };
    let t = t.b(&unhex(AES_UNIQUE)).done();
    B::new().b(&t).done()
}

/// TPM2B_PUBLIC of the fixed AES-128 key (mode NULL: any mode may be asked for).
pub(crate) fn aes_public(unique: &[u8]) -> Vec<u8> {
    let t = B::new()
        .u16(ALG_SYMCIPHER)
        .u16(ALG_SHA256)
        .u32(SIGN | DECRYPT | USER_WITH_AUTH)
        .b(&[])
        .u16(ALG_AES)
        .u16(128)
        .u16(ALG_NULL)
        .b(unique)
        .done();
    B::new().b(&t).done()
}

// ---------------------------------------------------------------------------------------------
// The generator
// ---------------------------------------------------------------------------------------------

/// A handle in a generated command.
#[derive(Clone, Copy, Debug)]
pub(crate) enum H {
    /// This handle value on every target.
    Fixed(u32),
    /// The object that command number `.0` loaded on this target.
    Obj(usize),
}

/// Which parts of the two responses must be identical (the response code always must).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Cmp {
    /// Only the response code.
    Rc,
    /// The response code and the response length.
    Len,
    /// Every byte.
    Full,
    /// Every byte except the response handle (bytes 10..14).
    SkipHandle,
    /// The first `n` bytes, and the length.
    Prefix(usize),
}

/// What kind of object a generated command loads (for the generator's bookkeeping).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ObjKind {
    Primary,
    Rsa,
    Ecc,
    Aes,
    Seq {
        event: bool,
    },
    /// The fixed RSA key, usable for RSA_Decrypt.
    RsaDec,
    /// The fixed P-256 key with its private part (ECDH).
    EccPriv,
    /// A sealed data object holding [`AES_KEY`].
    Sealed,
    /// An HMAC key ([`AES_KEY`]).
    HmacKey,
    /// A session (`.0` is TPM_SE: 0 HMAC, 1 policy, 3 trial).
    Session(u8),
}

/// A malformation applied to the bytes of a well-formed command.
#[derive(Clone, Debug)]
pub(crate) enum Mutation {
    /// Cut to this many bytes, size field left alone.
    Truncate(usize),
    /// Cut to this many bytes and fix the size field.
    TruncateFixed(usize),
    /// Append bytes and fix the size field.
    Append(Vec<u8>),
    /// Replace the tag.
    Tag(u16),
    /// Add this to the size field.
    SizeDelta(i32),
    /// Replace the command code.
    Code(u32),
    /// Overwrite a byte (XOR) at this offset (if it exists).
    Flip(usize, u8),
}

/// One generated command.
#[derive(Clone, Debug)]
pub(crate) struct Cmd {
    /// For the summary.
    pub(crate) kind: &'static str,
    pub(crate) cc: u32,
    pub(crate) handles: Vec<H>,
    pub(crate) sessions: Vec<Vec<u8>>,
    /// Session area entries whose session handle (their first four bytes) is a loaded session.
    pub(crate) session_refs: Vec<(usize, H)>,
    pub(crate) params: Vec<u8>,
    pub(crate) mutation: Option<Mutation>,
    pub(crate) cmp: Cmp,
    /// On success, the response handle is recorded for this command's number.
    pub(crate) loads: Option<ObjKind>,
    /// The locality the command is sent at.
    pub(crate) locality: u8,
}

impl Cmd {
    fn new(kind: &'static str, cc: u32) -> Self {
        Self {
            kind,
            cc,
            handles: Vec::new(),
            sessions: Vec::new(),
            session_refs: Vec::new(),
            params: Vec::new(),
            mutation: None,
            cmp: Cmp::Full,
            loads: None,
            locality: 0,
        }
    }
    fn h(mut self, h: H) -> Self {
        self.handles.push(h);
        self
    }
    fn pw(mut self) -> Self {
        self.sessions.push(pw_session(&[]));
        self
    }
    fn session(mut self, s: Vec<u8>) -> Self {
        self.sessions.push(s);
        self
    }
    fn p(mut self, params: Vec<u8>) -> Self {
        self.params = params;
        self
    }
    fn cmp(mut self, c: Cmp) -> Self {
        self.cmp = c;
        self
    }
    fn loads(mut self, k: ObjKind) -> Self {
        self.loads = Some(k);
        self
    }

    /// The bytes for a target whose slot table is `objs` (absent slots become a handle no
    /// TPM has loaded).
    pub(crate) fn bytes(&self, objs: &[Option<u32>]) -> Vec<u8> {
        let handles: Vec<u32> = self
            .handles
            .iter()
            .map(|h| match h {
                H::Fixed(v) => *v,
                H::Obj(i) => objs.get(*i).copied().flatten().unwrap_or(0x80FF_FFF0),
            })
            .collect();
        let resolve = |h: &H| match h {
            H::Fixed(v) => *v,
            H::Obj(i) => objs.get(*i).copied().flatten().unwrap_or(0x80FF_FFF0),
        };
        let mut sessions = self.sessions.clone();
        for (i, h) in &self.session_refs {
            if let Some(s) = sessions.get_mut(*i) {
                s[..4].copy_from_slice(&resolve(h).to_be_bytes());
            }
        }
        let mut c = command(self.cc, &handles, &sessions, &self.params);
        match &self.mutation {
            None => {}
            Some(Mutation::Truncate(n)) => c.truncate(*n),
            Some(Mutation::TruncateFixed(n)) => {
                c.truncate(*n);
                fix_size(&mut c);
            }
            Some(Mutation::Append(extra)) => {
                c.extend_from_slice(extra);
                fix_size(&mut c);
            }
            Some(Mutation::Tag(t)) => c[0..2].copy_from_slice(&t.to_be_bytes()),
            Some(Mutation::SizeDelta(d)) => {
                let size = u32::from_be_bytes([c[2], c[3], c[4], c[5]]);
                let size = size.wrapping_add(*d as u32);
                c[2..6].copy_from_slice(&size.to_be_bytes());
            }
            Some(Mutation::Code(cc)) => c[6..10].copy_from_slice(&cc.to_be_bytes()),
            Some(Mutation::Flip(i, x)) => {
                if let Some(b) = c.get_mut(*i) {
                    *b ^= *x;
                }
            }
        }
        c
    }
}

fn fix_size(c: &mut [u8]) {
    if c.len() >= 6 {
        let n = c.len() as u32;
        c[2..6].copy_from_slice(&n.to_be_bytes());
    }
}

/// The generator: a model of what should be loaded, and a PRNG.
pub(crate) struct Gen {
    pub(crate) rng: Rng,
    /// (command number that loaded it, kind, sequence auth) of live objects, oldest first.
    live: Vec<(usize, ObjKind, Vec<u8>)>,
    /// Live sessions: (command number that started it, TPM_SE), oldest first.
    sessions: Vec<(usize, u8)>,
    pub(crate) out: Vec<Cmd>,
}

impl Gen {
    pub(crate) fn new(seed: u64) -> Self {
        Self {
            rng: Rng(seed),
            live: Vec::new(),
            sessions: Vec::new(),
            out: Vec::new(),
        }
    }

    fn push(&mut self, c: Cmd) {
        self.out.push(c);
    }

    /// Makes room for one more object, flushing the oldest live one.
    fn room(&mut self) {
        while self.live.len() >= 3 {
            let (slot, _, _) = self.live.remove(0);
            self.push(
                Cmd::new("FlushContext", CC_FLUSH_CONTEXT)
                    .p(Vec::new())
                    .cmp(Cmp::Full)
                    .with_flush(H::Obj(slot)),
            );
        }
    }

    fn load(&mut self, c: Cmd, kind: ObjKind, auth: Vec<u8>) {
        self.room();
        let slot = self.out.len();
        self.push(c.loads(kind));
        self.live.push((slot, kind, auth));
    }

    fn find(&self, want: impl Fn(ObjKind) -> bool) -> Option<(usize, ObjKind, Vec<u8>)> {
        self.live.iter().rev().find(|(_, k, _)| want(*k)).cloned()
    }

    /// Stops tracking a sequence its completion should have ended, and flushes it in case the
    /// completion failed (both TPMs then answer TPM_RC_HANDLE or both free it), so that no TPM
    /// keeps objects the generator does not know about.
    fn forget_and_flush(&mut self, slot: usize) {
        self.live.retain(|(s, _, _)| *s != slot);
        self.push(
            Cmd::new("FlushContext", CC_FLUSH_CONTEXT)
                .cmp(Cmp::Full)
                .with_flush(H::Obj(slot)),
        );
    }

    fn pcr_select(&mut self) -> Vec<u8> {
        let mut banks: Vec<u16> = BANKS.iter().map(|b| b.0).collect();
        if self.rng.chance(1, 8) {
            banks.push(self.rng.pick(&[ALG_SHA512, ALG_SM3, ALG_NULL, 0x0099]));
        }
        let n = self.rng.below(banks.len() + 1);
        let mut b = B::new().u32(n as u32);
        for _ in 0..n {
            let alg = self.rng.pick(&banks);
            let size = if self.rng.chance(1, 10) {
                self.rng.pick(&[0u8, 1, 2, 4, 5])
            } else {
                3
            };
            b = b.u16(alg).u8(size).raw(&self.rng.bytes(usize::from(size)));
        }
        b.done()
    }

    fn pcr_index(&mut self) -> u32 {
        if self.rng.chance(1, 12) {
            self.rng.pick(&[24, 0xFF, RH_NULL, RH_OWNER, 0x8000_0000])
        } else {
            self.rng.below(24) as u32
        }
    }

    fn digest_values(&mut self) -> Vec<u8> {
        let n = self.rng.below(4);
        let mut b = B::new().u32(n as u32);
        for _ in 0..n {
            let (alg, len) = if self.rng.chance(1, 8) {
                self.rng
                    .pick(&[(ALG_SHA512, 64usize), (ALG_SM3, 32), (ALG_NULL, 0)])
            } else {
                self.rng.pick(&BANKS)
            };
            b = b.u16(alg).raw(&self.rng.bytes(len));
        }
        b.done()
    }

    fn hash_alg(&mut self) -> u16 {
        if self.rng.chance(1, 8) {
            self.rng
                .pick(&[ALG_NULL, ALG_SM3, ALG_HMAC, ALG_RSA, 0x7777])
        } else {
            self.rng
                .pick(&[ALG_SHA1, ALG_SHA256, ALG_SHA384, ALG_SHA512])
        }
    }

    fn data_len(&mut self, max: usize) -> usize {
        match self.rng.below(10) {
            0 => 0,
            1 => max,
            2 => max + 1,
            _ => self.rng.below(200),
        }
    }

    /// One command of a random kind (sometimes with a flush first).
    pub(crate) fn step(&mut self) {
        let malformed = self.rng.chance(1, 7);
        let before = self.out.len();
        match self.rng.below(36) {
            35 => self.part2_misc(),
            34 => self.duplication(),
            32 | 33 => self.attest(),
            30 | 31 => self.hierarchy_admin(),
            24 | 25 => self.start_session(),
            26 | 27 => self.policy(),
            28 | 29 => self.key_use(),
            0 => self.get_random(),
            1 | 2 => self.get_capability(),
            3 | 4 => self.pcr_read(),
            5 | 6 => self.pcr_extend(),
            7 => self.pcr_event(),
            8 => self.pcr_reset(),
            9 | 10 => self.hash(),
            11 => self.hash_sequence(),
            12 => self.read_public(),
            13 => self.flush_absent(),
            14 => self.create_primary(),
            15 => self.load_external(),
            16 | 17 => self.sign(),
            18 => self.verify(),
            19 | 20 => self.encrypt_decrypt(),
            21 => self.test_parms(),
            22 => self.misc(),
            _ => self.bad_session(),
        }
        // Now and then a PCR command, GetRandom or Hash comes from locality 1-4 (PCR 17-22
        // are extended and reset only from localities 2-4, PCR 23 from any).
        if self.out.len() > before && self.rng.chance(1, 6) {
            let loc = 1 + self.rng.below(4) as u8;
            if let Some(c) = self.out.last_mut() {
                let local = [
                    CC_PCR_EXTEND,
                    CC_PCR_EVENT,
                    CC_PCR_RESET,
                    CC_PCR_READ,
                    CC_GET_RANDOM,
                    CC_HASH,
                ];
                if local.contains(&c.cc) {
                    c.locality = loc;
                }
            }
        }
        if malformed && self.out.len() > before {
            self.malform();
        }
        self.ecc_commit();
    }

    /// Malforms the last generated command (which must then fail on both TPMs, so it loads
    /// nothing).
    fn malform(&mut self) {
        let Some(last) = self.out.last().cloned() else {
            return;
        };
        let len = last.bytes(&[]).len();
        let m = match self.rng.below(7) {
            // Never below a header: over a stream socket swtpm would wait for the rest of it.
            0 => Mutation::Truncate(10 + self.rng.below(len.saturating_sub(10).max(1))),
            1 => Mutation::TruncateFixed(10 + self.rng.below(len.saturating_sub(10).max(1))),
            2 => {
                let n = 1 + self.rng.below(4);
                Mutation::Append(self.rng.bytes(n))
            }
            3 => Mutation::Tag(self.rng.pick(&[0x00C1, 0x8000, 0x8003, 0x0000, 0xFFFF])),
            4 => Mutation::SizeDelta(self.rng.pick(&[-1, 1, 100, -5, 4096])),
            5 => Mutation::Code(
                self.rng
                    .pick(&[0x0000_0000, 0x0000_011E, 0x2000_0144, 0x199]),
            ),
            _ => Mutation::Flip(10 + self.rng.below(len.saturating_sub(10).max(1)), 0x80),
        };
        let mut c = last;
        c.kind = "malformed";
        c.mutation = Some(m);
        c.cmp = Cmp::Rc;
        // A malformed command that loads an object is still tracked: if both TPMs refuse it
        // the slot simply stays empty on both.
        let i = self.out.len() - 1;
        self.out[i] = c;
    }

    fn get_random(&mut self) {
        let n = if self.rng.chance(1, 6) {
            self.rng.pick(&[0u16, 65, 100, 0xFFFF])
        } else {
            self.rng.below(65) as u16
        };
        let cmp = if n <= 48 { Cmp::Len } else { Cmp::Rc };
        self.push(
            Cmd::new("GetRandom", CC_GET_RANDOM)
                .p(B::new().u16(n).done())
                .cmp(cmp),
        );
    }

    fn get_capability(&mut self) {
        // (capability, properties to pick from, whether the answer is comparable bytewise)
        let choices: &[(u32, &[u32], Cmp)] = &[
            (0, &[0x0001, 0x0006, 0x0010, 0x0023, 0x7FFF], Cmp::Rc),
            (1, &[0x0000_0000, 0x0000_0010], Cmp::Full),
            (
                1,
                &[0x8100_0000, 0x8000_0000, 0x0200_0000, 0x0300_0000],
                Cmp::Rc,
            ),
            (1, &[0x4000_0000, 0x0100_0000, 0xFF00_0000], Cmp::Rc),
            (2, &[0x11F, 0x144, 0x17A, 0x193, 0x400], Cmp::Rc),
            (3, &[0], Cmp::Rc),
            (4, &[0], Cmp::Rc),
            (5, &[0], Cmp::Full),
            (6, &[0x100, 0x11C, 0x11D, 0x11E, 0x12B, 0x200], Cmp::Rc),
            (7, &[0, 1, 2, 0x13, 0x14], Cmp::Full),
            (8, &[0, 3], Cmp::Rc),
            (9, &[0x4000_0001], Cmp::Rc),
            (0xA, &[0x4000_0110], Cmp::Rc),
            (0xB, &[0], Cmp::Rc),
            (0x100, &[0], Cmp::Rc),
            (0x1234_5678, &[0], Cmp::Rc),
        ];
        let (cap, props, mut cmp) = self.rng.pick(choices);
        let prop = self.rng.pick(props);
        let count = if self.rng.chance(1, 5) {
            self.rng.pick(&[0u32, 0xFFFF_FFFF, 1000])
        } else {
            1 + self.rng.below(8) as u32
        };
        // Single fixed properties that both TPMs must report identically.
        if cap == 6 && count == 1 {
            // TPM_PT_FAMILY_INDICATOR, PCR_COUNT, PCR_SELECT_MIN, INPUT_BUFFER... are picked
            // below with count 1.
            let fixed = self
                .rng
                .pick(&[0x100u32, 0x11C, 0x11D, 0x10D, 0x11E, 0x11F]);
            self.push(
                Cmd::new("GetCapability", CC_GET_CAPABILITY)
                    .p(B::new().u32(6).u32(fixed).u32(1).done())
                    .cmp(if fixed == 0x11C || fixed == 0x11D || fixed == 0x10D {
                        Cmp::Full
                    } else {
                        Cmp::Rc
                    }),
            );
            return;
        }
        if cap == 5 && count == 0 {
            cmp = Cmp::Rc;
        }
        self.push(
            Cmd::new("GetCapability", CC_GET_CAPABILITY)
                .p(B::new().u32(cap).u32(prop).u32(count).done())
                .cmp(cmp),
        );
    }

    fn pcr_read(&mut self) {
        let sel = self.pcr_select();
        self.push(Cmd::new("PCR_Read", CC_PCR_READ).p(sel).cmp(Cmp::Full));
    }

    fn pcr_extend(&mut self) {
        let pcr = self.pcr_index();
        let d = self.digest_values();
        self.push(
            Cmd::new("PCR_Extend", CC_PCR_EXTEND)
                .h(H::Fixed(pcr))
                .pw()
                .p(d)
                .cmp(Cmp::Full),
        );
    }

    fn pcr_event(&mut self) {
        let pcr = self.pcr_index();
        let n = self.data_len(1024);
        let data = self.rng.bytes(n);
        self.push(
            Cmd::new("PCR_Event", CC_PCR_EVENT)
                .h(H::Fixed(pcr))
                .pw()
                .p(B::new().b(&data).done())
                .cmp(Cmp::Full),
        );
    }

    fn pcr_reset(&mut self) {
        let pcr = self.pcr_index();
        self.push(
            Cmd::new("PCR_Reset", CC_PCR_RESET)
                .h(H::Fixed(pcr))
                .pw()
                .cmp(Cmp::Full),
        );
    }

    fn hierarchy(&mut self) -> u32 {
        if self.rng.chance(1, 2) {
            RH_NULL
        } else {
            self.rng.pick(&[
                RH_OWNER,
                RH_ENDORSEMENT,
                RH_PLATFORM,
                0x4000_0002,
                0x4000_000D,
            ])
        }
    }

    /// Compare only up to the ticket's HMAC if the hierarchy is not NULL.
    fn ticket_cmp(hierarchy: u32, digest_len: usize) -> Cmp {
        if hierarchy == RH_NULL {
            Cmp::Full
        } else {
            Cmp::Prefix(10 + 2 + digest_len + 2 + 4)
        }
    }

    fn hash(&mut self) {
        let n = self.data_len(1024);
        let data = self.rng.bytes(n);
        let alg = self.hash_alg();
        let hier = self.hierarchy();
        let dlen = digest_len(alg);
        self.push(
            Cmd::new("Hash", CC_HASH)
                .p(B::new().b(&data).u16(alg).u32(hier).done())
                .cmp(Self::ticket_cmp(hier, dlen)),
        );
    }

    fn hash_sequence(&mut self) {
        if let Some((slot, ObjKind::Seq { event }, auth)) =
            self.find(|k| matches!(k, ObjKind::Seq { .. }))
        {
            match self.rng.below(4) {
                0 | 1 => {
                    let n = self.data_len(1024);
                    let data = self.rng.bytes(n);
                    self.push(
                        Cmd::new("SequenceUpdate", CC_SEQUENCE_UPDATE)
                            .h(H::Obj(slot))
                            .session(pw_session(&auth))
                            .p(B::new().b(&data).done()),
                    );
                }
                2 if event => {
                    let pcr = self.pcr_index();
                    let n = self.data_len(1024);
                    let data = self.rng.bytes(n);
                    self.push(
                        Cmd::new("EventSequenceComplete", CC_EVENT_SEQUENCE_COMPLETE)
                            .h(H::Fixed(pcr))
                            .h(H::Obj(slot))
                            .pw()
                            .session(pw_session(&auth))
                            .p(B::new().b(&data).done()),
                    );
                    self.forget_and_flush(slot);
                }
                _ => {
                    let n = self.data_len(1024);
                    let data = self.rng.bytes(n);
                    let hier = self.hierarchy();
                    // The digest length is unknown here (the sequence's algorithm); compare
                    // everything for NULL tickets, the response code and length otherwise.
                    let cmp = if hier == RH_NULL { Cmp::Full } else { Cmp::Len };
                    let auth = if self.rng.chance(1, 10) {
                        b"wrong".to_vec()
                    } else {
                        auth
                    };
                    self.push(
                        Cmd::new("SequenceComplete", CC_SEQUENCE_COMPLETE)
                            .h(H::Obj(slot))
                            .session(pw_session(&auth))
                            .p(B::new().b(&data).u32(hier).done())
                            .cmp(cmp),
                    );
                    if auth != b"wrong" {
                        self.forget_and_flush(slot);
                    }
                }
            }
            return;
        }
        let alg = if self.rng.chance(1, 5) {
            ALG_NULL
        } else {
            self.hash_alg()
        };
        let k = self.rng.below(5);
        let auth = self.rng.bytes(k);
        let ok_alg = [ALG_SHA1, ALG_SHA256, ALG_SHA384, ALG_SHA512, ALG_NULL].contains(&alg);
        let c = Cmd::new("HashSequenceStart", CC_HASH_SEQUENCE_START)
            .p(B::new().b(&auth).u16(alg).done())
            .cmp(Cmp::Len);
        if ok_alg {
            self.load(
                c,
                ObjKind::Seq {
                    event: alg == ALG_NULL,
                },
                auth,
            );
        } else {
            self.push(c);
        }
    }

    fn read_public(&mut self) {
        if self.rng.chance(1, 3) || self.live.is_empty() {
            // libtpms needs a free object slot before it looks a persistent handle up
            // (TPM_RC_OBJECT_MEMORY otherwise): ask for one only while a slot is free.
            let persistent = if self.live.len() < 3 {
                0x8100_0001
            } else {
                0x8000_0001
            };
            let h = self.rng.pick(&[
                0x8000_0000,
                0x80FF_FFF0,
                persistent,
                0x0200_0000,
                0x4000_0001,
                0x0000_0007,
            ]);
            // An error is compared whole anyway; a success only by its code, since a fixed
            // transient handle may name an object that differs between the TPMs.
            self.push(
                Cmd::new("ReadPublic", CC_READ_PUBLIC)
                    .h(H::Fixed(h))
                    .cmp(Cmp::Rc),
            );
            return;
        }
        let (slot, kind, _) = self.live[self.rng.below(self.live.len())].clone();
        // Primary keys come from each TPM's own seeds; everything else is fixed.
        let cmp = if kind == ObjKind::Primary {
            Cmp::Len
        } else {
            Cmp::Full
        };
        self.push(
            Cmd::new("ReadPublic", CC_READ_PUBLIC)
                .h(H::Obj(slot))
                .cmp(cmp),
        );
    }

    fn flush_absent(&mut self) {
        let h = self.rng.pick(&[
            0x8000_0005,
            0x80FF_FFF0,
            0x0200_0010,
            0x0300_0001,
            0x8100_0000,
            0x4000_0001,
            0x0000_0001,
        ]);
        self.push(
            Cmd::new("FlushContext", CC_FLUSH_CONTEXT)
                .p(B::new().u32(h).done())
                .cmp(Cmp::Full),
        );
    }

    fn create_primary(&mut self) {
        let storage = FIXED_TPM | FIXED_PARENT | SENSITIVE_DATA_ORIGIN | USER_WITH_AUTH;
        let (template, ok): (Vec<u8>, bool) = match self.rng.below(8) {
            0 | 1 => (
                ecc_template(storage | RESTRICTED | DECRYPT, true, None, 0x0003),
                true,
            ),
            2 | 3 => (
                ecc_template(storage | SIGN, false, Some(ALG_SHA256), 0x0003),
                true,
            ),
            4 => (ecc_template(storage | SIGN, false, None, 0x0003), true),
            // Restricted signing key without a scheme: TPM_RC_SCHEME.
            5 => (
                ecc_template(storage | RESTRICTED | SIGN, false, None, 0x0003),
                false,
            ),
            // A signing key with a symmetric algorithm: TPM_RC_SYMMETRIC.
            6 => (ecc_template(storage | SIGN, true, None, 0x0003), false),
            // Neither sign nor decrypt on a restricted key / an unknown curve.
            _ => (
                ecc_template(storage | RESTRICTED, true, None, 0x0042),
                false,
            ),
        };
        let hier = if self.rng.chance(1, 6) {
            self.rng
                .pick(&[RH_PLATFORM, RH_NULL, 0x4000_000A, 0x8000_0000])
        } else {
            self.rng.pick(&[RH_OWNER, RH_ENDORSEMENT])
        };
        let pcrs = if self.rng.chance(1, 3) {
            B::new()
                .u32(1)
                .u16(ALG_SHA256)
                .u8(3)
                .raw(&[0xFF, 0, 0])
                .done()
        } else {
            B::new().u32(0).done()
        };
        let k = self.rng.below(3);
        let outside = self.rng.bytes(k);
        let params = B::new()
            .b(&B::new().b(&[]).b(&[]).done())
            .raw(&template)
            .b(&outside)
            .raw(&pcrs)
            .done();
        let c = Cmd::new("CreatePrimary", CC_CREATE_PRIMARY)
            .h(H::Fixed(hier))
            .pw()
            .p(params)
            .cmp(Cmp::Len);
        if ok {
            self.load(c, ObjKind::Primary, Vec::new());
        } else {
            self.push(c);
        }
    }

    /// Loads one of the fixed keys with its private part (NULL hierarchy).
    fn load_kind(&mut self, kind: ObjKind) {
        let (sens, public) = match kind {
            ObjKind::RsaDec => (sensitive(ALG_RSA, &unhex(RSA_P)), rsa_decrypt_public()),
            ObjKind::EccPriv => (sensitive(ALG_ECC, &unhex(ECC_D)), ecc_ecdh_public()),
            ObjKind::Sealed => (
                sensitive(ALG_KEYEDHASH, &unhex(AES_KEY)),
                keyedhash_public(false),
            ),
            _ => (
                sensitive(ALG_KEYEDHASH, &unhex(AES_KEY)),
                keyedhash_public(true),
            ),
        };
        let c = Cmd::new("LoadExternal", CC_LOAD_EXTERNAL)
            .p(B::new().raw(&sens).raw(&public).u32(RH_NULL).done())
            .cmp(Cmp::SkipHandle);
        self.load(c, kind, Vec::new());
    }

    fn load_external(&mut self) {
        match self.rng.below(11) {
            7 => self.load_kind(ObjKind::RsaDec),
            8 => self.load_kind(ObjKind::EccPriv),
            9 => self.load_kind(ObjKind::Sealed),
            10 => self.load_kind(ObjKind::HmacKey),
            0 | 1 => {
                let n = unhex(RSA_N);
                let c = Cmd::new("LoadExternal", CC_LOAD_EXTERNAL)
                    .p(B::new()
                        .raw(&sensitive(ALG_RSA, &unhex(RSA_P)))
                        .raw(&rsa_public(self.rng.chance(1, 3), &n))
                        .u32(RH_NULL)
                        .done())
                    .cmp(Cmp::SkipHandle);
                self.load(c, ObjKind::Rsa, Vec::new());
            }
            2 | 3 => {
                let hier = self.rng.pick(&[RH_NULL, RH_OWNER, RH_ENDORSEMENT]);
                let c = Cmd::new("LoadExternal", CC_LOAD_EXTERNAL)
                    .p(B::new().u16(0).raw(&ecc_public()).u32(hier).done())
                    .cmp(Cmp::SkipHandle);
                self.load(c, ObjKind::Ecc, Vec::new());
            }
            4 | 5 => {
                let c = Cmd::new("LoadExternal", CC_LOAD_EXTERNAL)
                    .p(B::new()
                        .raw(&sensitive(ALG_SYMCIPHER, &unhex(AES_KEY)))
                        .raw(&aes_public(&unhex(AES_UNIQUE)))
                        .u32(RH_NULL)
                        .done())
                    .cmp(Cmp::SkipHandle);
                self.load(c, ObjKind::Aes, Vec::new());
            }
            _ => {
                // Refused: a private part in a non-NULL hierarchy, a modulus that does not
                // match the prime, an AES key whose unique field does not bind it.
                let mut n = unhex(RSA_N);
                n[100] ^= 0x10;
                let params = match self.rng.below(3) {
                    0 => B::new()
                        .raw(&sensitive(ALG_RSA, &unhex(RSA_P)))
                        .raw(&rsa_public(false, &unhex(RSA_N)))
                        .u32(RH_OWNER)
                        .done(),
                    1 => B::new()
                        .raw(&sensitive(ALG_RSA, &unhex(RSA_P)))
                        .raw(&rsa_public(false, &n))
                        .u32(RH_NULL)
                        .done(),
                    _ => B::new()
                        .raw(&sensitive(ALG_SYMCIPHER, &unhex(AES_KEY)))
                        .raw(&aes_public(&[0u8; 32]))
                        .u32(RH_NULL)
                        .done(),
                };
                self.push(
                    Cmd::new("LoadExternal(bad)", CC_LOAD_EXTERNAL)
                        .p(params)
                        .cmp(Cmp::Rc),
                );
            }
        }
    }

    fn sign(&mut self) {
        let Some((slot, _, _)) = self.find(|k| k == ObjKind::Rsa) else {
            self.load_external();
            return;
        };
        let dlen = if self.rng.chance(1, 8) {
            self.rng.pick(&[0usize, 20, 33, 64])
        } else {
            32
        };
        let digest = self.rng.bytes(dlen);
        let pick = self.rng.below(6);
        // RSASSA is deterministic; RSA-PSS has a random salt.
        let cmp = if pick == 1 { Cmp::Len } else { Cmp::Full };
        let scheme = match pick {
            0 => B::new().u16(ALG_NULL).done(),
            1 => B::new().u16(ALG_RSAPSS).u16(ALG_SHA256).done(),
            2 => B::new().u16(ALG_RSASSA).u16(ALG_SHA1).done(),
            3 => B::new().u16(ALG_ECDSA).u16(ALG_SHA256).done(),
            _ => B::new().u16(ALG_RSASSA).u16(ALG_SHA256).done(),
        };
        let ticket = if self.rng.chance(1, 10) {
            B::new().u16(0x8024).u32(RH_OWNER).b(&[1, 2, 3]).done()
        } else {
            B::new().u16(0x8024).u32(RH_NULL).b(&[]).done()
        };
        let handle = if self.rng.chance(1, 10) {
            H::Fixed(RH_OWNER)
        } else {
            H::Obj(slot)
        };
        self.push(
            Cmd::new("Sign", CC_SIGN)
                .h(handle)
                .pw()
                .p(B::new().b(&digest).raw(&scheme).raw(&ticket).done())
                .cmp(cmp),
        );
    }

    fn verify(&mut self) {
        let Some((slot, _, _)) = self.find(|k| k == ObjKind::Ecc) else {
            self.load_external();
            return;
        };
        let mut digest = unhex(ECC_DIGEST);
        let mut r = unhex(ECC_R);
        let mut s = unhex(ECC_S);
        match self.rng.below(6) {
            0 => digest[3] ^= 1,
            1 => r[0] ^= 0x40,
            2 => s = vec![0u8; 32],
            _ => {}
        }
        let sig_alg = if self.rng.chance(1, 10) {
            ALG_RSASSA
        } else {
            ALG_ECDSA
        };
        let params = B::new()
            .b(&digest)
            .u16(sig_alg)
            .u16(ALG_SHA256)
            .b(&r)
            .b(&s)
            .done();
        self.push(
            Cmd::new("VerifySignature", CC_VERIFY_SIGNATURE)
                .h(H::Obj(slot))
                .p(params)
                // The ticket's HMAC uses the hierarchy's proof unless the key is in the NULL
                // hierarchy: compare the header, ticket tag and hierarchy, and the length.
                .cmp(Cmp::Prefix(16)),
        );
    }

    fn encrypt_decrypt(&mut self) {
        let Some((slot, _, _)) = self.find(|k| k == ObjKind::Aes) else {
            self.load_external();
            return;
        };
        let mode = self.rng.pick(&[
            ALG_CFB, ALG_CBC, ALG_CTR, ALG_OFB, ALG_ECB, ALG_CFB, ALG_NULL, ALG_SHA256,
        ]);
        let iv_len = if self.rng.chance(1, 8) {
            self.rng.pick(&[0usize, 15, 17])
        } else {
            16
        };
        let iv = self.rng.bytes(iv_len);
        let n = if self.rng.chance(1, 3) {
            self.rng.below(100)
        } else {
            16 * self.rng.below(8)
        };
        let data = self.rng.bytes(n);
        let decrypt = u8::from(self.rng.chance(1, 2));
        let c = if self.rng.chance(1, 2) {
            Cmd::new("EncryptDecrypt", CC_ENCRYPT_DECRYPT).p(B::new()
                .u8(decrypt)
                .u16(mode)
                .b(&iv)
                .b(&data)
                .done())
        } else {
            Cmd::new("EncryptDecrypt2", CC_ENCRYPT_DECRYPT2).p(B::new()
                .b(&data)
                .u8(decrypt)
                .u16(mode)
                .b(&iv)
                .done())
        };
        self.push(c.h(H::Obj(slot)).pw().cmp(Cmp::Full));
    }

    fn test_parms(&mut self) {
        let p = match self.rng.below(6) {
            0 => B::new()
                .u16(ALG_RSA)
                .u16(ALG_NULL)
                .u16(ALG_NULL)
                .u16(2048)
                .u32(0),
            1 => B::new()
                .u16(ALG_RSA)
                .u16(ALG_NULL)
                .u16(ALG_NULL)
                .u16(1000)
                .u32(0),
            2 => B::new()
                .u16(ALG_ECC)
                .u16(ALG_NULL)
                .u16(ALG_ECDSA)
                .u16(ALG_SHA256)
                .u16(3)
                .u16(ALG_NULL),
            3 => B::new()
                .u16(ALG_SYMCIPHER)
                .u16(ALG_AES)
                .u16(128)
                .u16(ALG_CFB),
            4 => B::new()
                .u16(ALG_SYMCIPHER)
                .u16(ALG_AES)
                .u16(100)
                .u16(ALG_CFB),
            _ => B::new().u16(ALG_KEYEDHASH).u16(ALG_HMAC).u16(ALG_SHA256),
        };
        self.push(
            Cmd::new("TestParms", CC_TEST_PARMS)
                .p(p.done())
                .cmp(Cmp::Full),
        );
    }

    fn misc(&mut self) {
        match self.rng.below(4) {
            0 => {
                let n = self.data_len(128);
                let data = self.rng.bytes(n);
                self.push(
                    Cmd::new("StirRandom", CC_STIR_RANDOM)
                        .p(B::new().b(&data).done())
                        .cmp(Cmp::Full),
                );
            }
            1 => {
                let full = self.rng.pick(&[0u8, 1, 2]);
                self.push(
                    Cmd::new("SelfTest", CC_SELF_TEST)
                        .p(B::new().u8(full).done())
                        .cmp(Cmp::Full),
                );
            }
            2 => self.push(Cmd::new("GetTestResult", CC_GET_TEST_RESULT).cmp(Cmp::Rc)),
            _ => {
                // Startup when started: TPM_RC_INITIALIZE.
                let su = self.rng.pick(&[0u16, 1, 2]);
                self.push(
                    Cmd::new("Startup", CC_STARTUP)
                        .p(B::new().u16(su).done())
                        .cmp(Cmp::Full),
                );
            }
        }
    }

    /// The hierarchy and clock commands (part 3 §24, §29) in forms that leave the hierarchies
    /// usable for the rest of the sequence: ReadClock, ClockSet (forward, backward, too far;
    /// never below the time both TPMs have been running, which differs),
    /// ClockRateAdjust (in and out of range), SetPrimaryPolicy (every hierarchy, sizes right and
    /// wrong), HierarchyChangeAuth to the empty value or oversized, HierarchyControl requests
    /// that are refused, ClearControl.
    fn hierarchy_admin(&mut self) {
        let any = [
            RH_OWNER,
            RH_ENDORSEMENT,
            RH_PLATFORM,
            RH_LOCKOUT,
            RH_NULL,
            0x0000_0001,
        ];
        match self.rng.below(7) {
            0 => self.push(Cmd::new("ReadClock", CC_READ_CLOCK).cmp(Cmp::Rc)),
            1 => {
                // Valid times grow with the position in the sequence by far more than the
                // milliseconds swtpm's clock runs on its own, so both TPMs judge every value
                // the same way: forward, back to an earlier set value, or too far.
                let at = |n: usize| 10_000_000_000u64 + u64::try_from(n).unwrap() * 1_000_000_000;
                let len = self.out.len();
                let t = match self.rng.below(3) {
                    0 => at(len),
                    1 => at(len / 2),
                    _ => 0xFFFF_0000_0000_0001,
                };
                let h = self.rng.pick(&[RH_OWNER, RH_PLATFORM, RH_ENDORSEMENT]);
                self.push(
                    Cmd::new("ClockSet", CC_CLOCK_SET)
                        .h(H::Fixed(h))
                        .pw()
                        .p(t.to_be_bytes().to_vec())
                        .cmp(Cmp::Full),
                );
            }
            2 => {
                let v = self.rng.pick(&[0u8, 1, 3, 4, 0xFD, 0xFC, 0x80, 0x7F]);
                let h = self.rng.pick(&[RH_OWNER, RH_PLATFORM, RH_LOCKOUT]);
                self.push(
                    Cmd::new("ClockRateAdjust", CC_CLOCK_RATE_ADJUST)
                        .h(H::Fixed(h))
                        .pw()
                        .p(vec![v])
                        .cmp(Cmp::Full),
                );
            }
            3 => {
                let h = self.rng.pick(&any);
                let alg = self
                    .rng
                    .pick(&[ALG_SHA1, ALG_SHA256, ALG_SHA384, 0x0010, 0x0006]);
                let len = if self.rng.chance(3, 4) {
                    digest_len(alg)
                } else {
                    self.rng.pick(&[0usize, 20, 33, 64])
                };
                let digest = self.rng.bytes(len);
                self.push(
                    Cmd::new("SetPrimaryPolicy", CC_SET_PRIMARY_POLICY)
                        .h(H::Fixed(h))
                        .pw()
                        .p(B::new().b(&digest).u16(alg).done())
                        .cmp(Cmp::Full),
                );
            }
            4 => {
                let h = self.rng.pick(&any);
                let params = if self.rng.chance(1, 2) {
                    B::new().b(&[]).done()
                } else {
                    let n = self.rng.pick(&[0usize, 3, 64, 65]);
                    B::new()
                        .u16(u16::try_from(n).unwrap())
                        .raw(&vec![0u8; n])
                        .done()
                };
                self.push(
                    Cmd::new("HierarchyChangeAuth", CC_HIERARCHY_CHANGE_AUTH)
                        .h(H::Fixed(h))
                        .pw()
                        .p(params)
                        .cmp(Cmp::Full),
                );
            }
            5 => {
                // Requests every TPM refuses: another hierarchy, enabling without the platform,
                // bad selectors and values.
                let (auth, enable, state) = self.rng.pick(&[
                    (RH_OWNER, RH_ENDORSEMENT, 0u8),
                    (RH_ENDORSEMENT, RH_OWNER, 1),
                    (RH_OWNER, RH_OWNER, 2),
                    (RH_OWNER, RH_NULL, 0),
                    (RH_LOCKOUT, RH_OWNER, 0),
                    (RH_OWNER, 0x4000_000D, 0),
                    (RH_PLATFORM, RH_OWNER, 1),
                ]);
                self.push(
                    Cmd::new("HierarchyControl", CC_HIERARCHY_CONTROL)
                        .h(H::Fixed(auth))
                        .pw()
                        .p(B::new().u32(enable).u8(state).done())
                        .cmp(Cmp::Full),
                );
            }
            _ => {
                let h = self.rng.pick(&[RH_LOCKOUT, RH_PLATFORM, RH_OWNER]);
                let v = self.rng.pick(&[0u8, 1, 2]);
                self.push(
                    Cmd::new("ClearControl", CC_CLEAR_CONTROL)
                        .h(H::Fixed(h))
                        .pw()
                        .p(vec![v])
                        .cmp(Cmp::Full),
                );
            }
        }
    }

    /// Starts an HMAC, policy or trial session (unbound, unsalted; the nonce makes the
    /// answer differ, so only its code and length are compared).
    fn start_session(&mut self) {
        while self.sessions.len() >= 3 {
            let (slot, _) = self.sessions.remove(0);
            self.push(
                Cmd::new("FlushContext", CC_FLUSH_CONTEXT)
                    .cmp(Cmp::Full)
                    .with_flush(H::Obj(slot)),
            );
        }
        let kind = self.rng.pick(&[0u8, 1, 1, 3]);
        let nonce_len = if self.rng.chance(1, 10) {
            self.rng.pick(&[0usize, 15, 33])
        } else {
            16
        };
        let nonce = self.rng.bytes(nonce_len);
        let sym = if self.rng.chance(1, 3) {
            B::new().u16(ALG_AES).u16(128).u16(ALG_CFB)
        } else {
            B::new().u16(ALG_NULL)
        };
        let hash = if self.rng.chance(1, 10) {
            ALG_NULL
        } else {
            self.rng.pick(&[ALG_SHA256, ALG_SHA1, ALG_SHA384])
        };
        let bad_type = self.rng.chance(1, 12);
        let params = B::new()
            .b(&nonce)
            .b(&[])
            .u8(if bad_type { 2 } else { kind })
            .raw(&sym.done())
            .u16(hash)
            .done();
        // Mostly unbound and unsalted; sometimes bound to a hierarchy, a PCR or a loaded
        // object (the session key then depends on its authValue), or with a tpmKey but no
        // encrypted salt (refused), or a tpmKey that is no object.
        let live = self.live.last().map(|(slot, _, _)| *slot);
        let bind = match (self.rng.below(8), live) {
            (0, _) => H::Fixed(RH_OWNER),
            (1, _) => H::Fixed(0),
            (2, Some(slot)) => H::Obj(slot),
            _ => H::Fixed(RH_NULL),
        };
        let tpm_key = match (self.rng.below(12), live) {
            (0, Some(slot)) => H::Obj(slot),
            (1, _) => H::Fixed(RH_OWNER),
            _ => H::Fixed(RH_NULL),
        };
        let slot = self.out.len();
        self.push(
            Cmd::new("StartAuthSession", CC_START_AUTH_SESSION)
                .h(tpm_key)
                .h(bind)
                .p(params)
                .cmp(Cmp::Len)
                .loads(ObjKind::Session(kind)),
        );
        self.sessions.push((slot, kind));
    }

    /// A policy command on a live session (policy digests are deterministic), or a policy
    /// session used to authorize PCR_Extend.
    fn policy(&mut self) {
        let Some(&(slot, _)) = self.sessions.last() else {
            self.start_session();
            return;
        };
        let s = H::Obj(slot);
        if self.rng.chance(1, 2) {
            self.policy_more(s);
            return;
        }
        let c = match self.rng.below(9) {
            0 | 1 => Cmd::new("PolicyGetDigest", CC_POLICY_GET_DIGEST).h(s),
            2 => Cmd::new("PolicyRestart", CC_POLICY_RESTART).h(s),
            3 => {
                let sel = self.pcr_select();
                let digest = if self.rng.chance(1, 5) {
                    self.rng.bytes(32)
                } else {
                    Vec::new()
                };
                Cmd::new("PolicyPCR", CC_POLICY_PCR)
                    .h(s)
                    .p(B::new().b(&digest).raw(&sel).done())
            }
            4 => {
                let code = self
                    .rng
                    .pick(&[CC_PCR_EXTEND, CC_SIGN, CC_UNSEAL, 0x0000_0001]);
                Cmd::new("PolicyCommandCode", CC_POLICY_COMMAND_CODE)
                    .h(s)
                    .p(B::new().u32(code).done())
            }
            5 => Cmd::new("PolicyAuthValue", CC_POLICY_AUTH_VALUE).h(s),
            6 => Cmd::new("PolicyPassword", CC_POLICY_PASSWORD).h(s),
            7 => {
                let loc = self.rng.pick(&[0x01u8, 0x03, 0x1F, 0x00, 0x20, 0xFF]);
                Cmd::new("PolicyLocality", CC_POLICY_LOCALITY)
                    .h(s)
                    .p(B::new().u8(loc).done())
            }
            _ => {
                // The session authorizes PCR_Extend of PCR 16, whose authPolicy is empty:
                // a policy session fails (TPM_RC_POLICY_FAIL), an HMAC session's empty HMAC
                // does too (TPM_RC_AUTH_FAIL), a trial session cannot authorize.
                let d = B::new().u32(1).u16(ALG_SHA256).raw(&[0xCD; 32]).done();
                let entry = B::new().u32(0).b(&[0x77; 16]).u8(0x01).b(&[]).done();
                let mut c = Cmd::new("session auth", CC_PCR_EXTEND)
                    .h(H::Fixed(16))
                    .session(entry)
                    .p(d);
                c.session_refs.push((0, s));
                c
            }
        };
        self.push(c.cmp(Cmp::Full));
    }

    /// Other commands of engine part 2 whose outcome is deterministic: ECC_Parameters, Quote
    /// (compared by code: it holds each TPM's clock), MakeCredential and ActivateCredential
    /// with keys that may not take part (TPM_RC_TYPE and friends), DictionaryAttackParameters
    /// with the lockout's empty password.
    fn part2_misc(&mut self) {
        let key = if let Some((slot, _, _)) = self.find(|k| k == ObjKind::HmacKey) {
            slot
        } else {
            self.load_kind(ObjKind::HmacKey);
            self.out.len() - 1
        };
        let c = match self.rng.below(5) {
            0 => {
                // P-256 and refusals: swtpm also knows P-384, BN-256 and SM2, which this TPM does not.
                let curve = self.rng.pick(&[0x0003u16, 0x0003, 0x0000, 0x0099]);
                Cmd::new("ECC_Parameters", CC_ECC_PARAMETERS).p(B::new().u16(curve).done())
            }
            1 => {
                let sel = self.pcr_select();
                Cmd::new("Quote", CC_QUOTE)
                    .h(H::Obj(key))
                    .pw()
                    .p(B::new().b(b"nonce").u16(ALG_NULL).raw(&sel).done())
                    .cmp(Cmp::Rc)
            }
            2 => Cmd::new("MakeCredential", CC_MAKE_CREDENTIAL)
                .h(H::Obj(key))
                .p(B::new().b(&[1; 16]).b(&[0x00, 0x0B, 2, 2]).done()),
            3 => Cmd::new("ActivateCredential", CC_ACTIVATE_CREDENTIAL)
                .h(H::Obj(key))
                .h(H::Obj(key))
                .pw()
                .pw()
                .p(B::new().b(&[5; 40]).b(&[6; 20]).done()),
            _ => {
                let tries = self.rng.pick(&[3u32, 32, 0]);
                Cmd::new("DictionaryAttackParameters", CC_DA_PARAMETERS)
                    .h(H::Fixed(RH_LOCKOUT))
                    .pw()
                    .p(B::new().u32(tries).u32(7200).u32(86400).done())
            }
        };
        let c = if c.cmp == Cmp::Full {
            c.cmp(Cmp::Full)
        } else {
            c
        };
        self.push(c);
    }

    /// TPM2_Duplicate, TPM2_Rewrap and TPM2_Import where the outcome is deterministic: keys
    /// loaded with TPM2_LoadExternal are no storage parents and need a policy for the DUP role;
    /// TPM_RH_NULL on both sides of TPM2_Rewrap returns the blob as it is.
    fn duplication(&mut self) {
        let key = if let Some((slot, _, _)) = self.find(|k| k == ObjKind::HmacKey) {
            slot
        } else {
            self.load_kind(ObjKind::HmacKey);
            self.out.len() - 1
        };
        let len = self.rng.below(3) * 24;
        let blob = self.rng.bytes(len);
        let seed = if self.rng.chance(1, 3) {
            self.rng.bytes(8)
        } else {
            Vec::new()
        };
        let c = match self.rng.below(4) {
            0 => Cmd::new("Duplicate", CC_DUPLICATE)
                .h(H::Obj(key))
                .h(H::Fixed(RH_NULL))
                .pw()
                .p(B::new().b(&[]).u16(ALG_NULL).done()),
            1 => Cmd::new("Rewrap", CC_REWRAP)
                .h(H::Fixed(RH_NULL))
                .h(H::Fixed(RH_NULL))
                .pw()
                .p(B::new().b(&blob).b(&[0x00, 0x0B, 1, 2]).b(&seed).done()),
            2 => Cmd::new("Rewrap", CC_REWRAP)
                .h(H::Obj(key))
                .h(H::Fixed(RH_NULL))
                .pw()
                .p(B::new().b(&blob).b(&[0x00, 0x0B]).b(&seed).done()),
            _ => {
                let public = keyedhash_public(true);
                let sym = if self.rng.chance(1, 2) {
                    B::new().u16(ALG_NULL).done()
                } else {
                    B::new().u16(0x0006).u16(128).u16(0x0043).done()
                };
                Cmd::new("Import", CC_IMPORT).h(H::Obj(key)).pw().p(B::new()
                    .b(&[])
                    .raw(&public)
                    .b(&blob)
                    .b(&seed)
                    .raw(&sym)
                    .done())
            }
        };
        self.push(c.cmp(Cmp::Full));
    }

    /// A digest parameter: mostly the session's SHA-256 size, sometimes another.
    fn policy_digest(&mut self) -> Vec<u8> {
        let len = if self.rng.chance(4, 5) {
            32
        } else {
            self.rng.pick(&[0usize, 20, 31, 48])
        };
        let fill = self.rng.pick(&[0x11u8, 0x22]);
        vec![fill; len]
    }

    /// The policy commands of part 3 §23 that restrict or replay an authorization: bindings,
    /// PolicySigned with the fixed HMAC key (deterministic when no nonce is signed),
    /// PolicyTicket and PolicyAuthorize with forged tickets, PolicyCounterTimer comparisons
    /// whose outcome does not depend on either TPM's clock.
    fn policy_more(&mut self, s: H) {
        let c = match self.rng.below(12) {
            10 => {
                // Owner's empty password; no nonce or a wrong one; no expiration (no ticket).
                let nonce = if self.rng.chance(1, 4) {
                    vec![3u8; 16]
                } else {
                    Vec::new()
                };
                let policy_ref = self.rng.pick(&[&b""[..], b"ref"]);
                let h = self.rng.pick(&[RH_OWNER, RH_ENDORSEMENT, RH_NULL]);
                Cmd::new("PolicySecret", CC_POLICY_SECRET)
                    .h(H::Fixed(h))
                    .h(s)
                    .pw()
                    .p(B::new().b(&nonce).b(&[]).b(policy_ref).u32(0).done())
            }
            11 => {
                // Two to nine digests; the session's current digest is rarely among them.
                let n = 1 + self.rng.below(9);
                let mut p = B::new().u32(u32::try_from(n).unwrap());
                for i in 0..n {
                    let d = if i == 0 && self.rng.chance(1, 3) {
                        vec![0u8; 32]
                    } else {
                        self.rng.bytes(32)
                    };
                    p = p.b(&d);
                }
                Cmd::new("PolicyOR", CC_POLICY_OR).h(s).p(p.done())
            }
            0 => Cmd::new("PolicyCpHash", CC_POLICY_CP_HASH)
                .h(s)
                .p(B::new().b(&self.policy_digest()).done()),
            1 => Cmd::new("PolicyNameHash", CC_POLICY_NAME_HASH)
                .h(s)
                .p(B::new().b(&self.policy_digest()).done()),
            2 => Cmd::new("PolicyTemplate", CC_POLICY_TEMPLATE)
                .h(s)
                .p(B::new().b(&self.policy_digest()).done()),
            3 => {
                let include = self.rng.pick(&[0u8, 1, 1, 2]);
                Cmd::new("PolicyDuplicationSelect", CC_POLICY_DUPLICATION_SELECT)
                    .h(s)
                    .p(B::new()
                        .b(&[0x00, 0x0B, 7, 7])
                        .b(&self.rng.bytes(34))
                        .u8(include)
                        .done())
            }
            4 => {
                let v = self.rng.pick(&[0u8, 1, 1, 0, 2]);
                Cmd::new("PolicyNvWritten", CC_POLICY_NV_WRITTEN)
                    .h(s)
                    .p(B::new().u8(v).done())
            }
            5 => Cmd::new("PolicyPhysicalPresence", CC_POLICY_PHYSICAL_PRESENCE).h(s),
            6 => {
                // time >= 0, clock < 0, beyond TPMS_TIME_INFO, a bad operation.
                let (operand, offset, op) = self.rng.pick(&[
                    (&[0u8; 8][..], 0u16, 7u16),
                    (&[0u8; 8][..], 8, 5),
                    (&[0u8; 8][..], 20, 0),
                    (&[][..], 26, 0),
                    (&[0u8][..], 0, 12),
                ]);
                Cmd::new("PolicyCounterTimer", CC_POLICY_COUNTER_TIMER)
                    .h(s)
                    .p(B::new().b(operand).u16(offset).u16(op).done())
            }
            7 => {
                let key = if let Some((slot, _, _)) = self.find(|k| k == ObjKind::HmacKey) {
                    slot
                } else {
                    self.load_kind(ObjKind::HmacKey);
                    self.out.len() - 1
                };
                let expiration: i32 = self.rng.pick(&[0, 0, 100, -100]);
                let policy_ref = self.rng.pick(&[&b""[..], b"ref"]);
                let a_hash = {
                    use sha2::Digest;
                    let mut h = sha2::Sha256::new();
                    h.update(expiration.to_be_bytes());
                    h.update(policy_ref);
                    h.finalize()
                };
                let mac = {
                    use hmac::Mac;
                    let mut m =
                        hmac::Hmac::<sha2::Sha256>::new_from_slice(&unhex(AES_KEY)).unwrap();
                    m.update(&a_hash);
                    let mut mac = m.finalize().into_bytes().to_vec();
                    if self.rng.chance(1, 4) {
                        mac[0] ^= 1;
                    }
                    mac
                };
                // A negative expiration makes a ticket whose HMAC is each TPM's own.
                let cmp = if expiration < 0 { Cmp::Rc } else { Cmp::Full };
                let c = Cmd::new("PolicySigned", CC_POLICY_SIGNED)
                    .h(H::Obj(key))
                    .h(s)
                    .p(B::new()
                        .b(&[])
                        .b(&[])
                        .b(policy_ref)
                        .u32(expiration as u32)
                        .u16(ALG_HMAC)
                        .u16(ALG_SHA256)
                        .raw(&mac)
                        .done());
                self.push(c.cmp(cmp));
                return;
            }
            8 => {
                // Timeouts far in the future (with and without the expires-on-reset bit), none,
                // a wrong size: whether a near one has passed depends on each TPM's clock.
                let far = [0x80u8, 0, 0, 0x7F, 0xFF, 0xFF, 0xFF, 0xFF];
                let far_plain = [0u8, 0, 0, 0x7F, 0xFF, 0xFF, 0xFF, 0xFF];
                let timeout = self.rng.pick(&[&[0u8; 8][..], &far, &far_plain, &[1, 2]]);
                let tag = self.rng.pick(&[0x8025u16, 0x8031, 0x8022]);
                Cmd::new("PolicyTicket", CC_POLICY_TICKET).h(s).p(B::new()
                    .b(timeout)
                    .b(&[])
                    .b(b"ref")
                    .b(&[0x40, 0, 0, 1])
                    .u16(tag)
                    .u32(RH_OWNER)
                    .b(&self.rng.bytes(64))
                    .done())
            }
            _ => {
                let name =
                    self.rng
                        .pick(&[&[0x00u8, 0x0B][..], &[0x00, 0x04], &[0x00, 0x99], &[1]]);
                let mut key_name = name.to_vec();
                if name.len() == 2 {
                    key_name.extend(self.rng.bytes(32));
                }
                let approved = self.policy_digest();
                Cmd::new("PolicyAuthorize", CC_POLICY_AUTHORIZE)
                    .h(s)
                    .p(B::new()
                        .b(&approved)
                        .b(b"")
                        .b(&key_name)
                        .u16(0x8022)
                        .u32(self.rng.pick(&[RH_OWNER, RH_NULL]))
                        .b(&self.rng.bytes(64))
                        .done())
            }
        };
        self.push(c.cmp(Cmp::Full));
    }

    /// Deterministic uses of fixed keys: RSA_Decrypt of openssl's ciphertexts, ECDH_ZGen of
    /// fixed points, Unseal, HMAC and an HMAC signature.
    fn key_use(&mut self) {
        let want = self.rng.pick(&[
            ObjKind::RsaDec,
            ObjKind::EccPriv,
            ObjKind::Sealed,
            ObjKind::HmacKey,
        ]);
        let slot = if let Some((slot, _, _)) = self.find(|k| k == want) {
            slot
        } else {
            self.load_kind(want);
            self.out.len() - 1
        };
        let h = H::Obj(slot);
        let c = match want {
            ObjKind::RsaDec => {
                let (ct, scheme) = match self.rng.below(5) {
                    0 => (unhex(RSA_CT_PKCS1), B::new().u16(ALG_RSAES).done()),
                    1 => (
                        unhex(RSA_CT_OAEP),
                        B::new().u16(ALG_OAEP).u16(ALG_SHA256).done(),
                    ),
                    // The wrong padding for the ciphertext, a damaged ciphertext, no scheme.
                    2 => (unhex(RSA_CT_OAEP), B::new().u16(ALG_RSAES).done()),
                    3 => {
                        let mut ct = unhex(RSA_CT_PKCS1);
                        ct[200] ^= 4;
                        (ct, B::new().u16(ALG_RSAES).done())
                    }
                    _ => (unhex(RSA_CT_PKCS1), B::new().u16(ALG_NULL).done()),
                };
                Cmd::new("RSA_Decrypt", CC_RSA_DECRYPT).h(h).pw().p(B::new()
                    .b(&ct)
                    .raw(&scheme)
                    .b(&[])
                    .done())
            }
            ObjKind::EccPriv => {
                let mut y = unhex(ECC_Y);
                if self.rng.chance(1, 4) {
                    y[31] ^= 1; // not on the curve: TPM_RC_ECC_POINT
                }
                let point = B::new().b(&unhex(ECC_X)).b(&y).done();
                Cmd::new("ECDH_ZGen", CC_ECDH_ZGEN)
                    .h(h)
                    .pw()
                    .p(B::new().b(&point).done())
            }
            ObjKind::Sealed => Cmd::new("Unseal", CC_UNSEAL).h(h).pw(),
            _ => {
                if self.rng.chance(1, 3) {
                    let digest = self.rng.bytes(32);
                    Cmd::new("Sign HMAC", CC_SIGN).h(h).pw().p(B::new()
                        .b(&digest)
                        .u16(ALG_NULL)
                        .u16(0x8024)
                        .u32(RH_NULL)
                        .b(&[])
                        .done())
                } else {
                    let n = self.data_len(1024);
                    let data = self.rng.bytes(n);
                    let alg = self.rng.pick(&[ALG_SHA256, ALG_NULL, ALG_SHA1]);
                    Cmd::new("HMAC", CC_HMAC)
                        .h(h)
                        .pw()
                        .p(B::new().b(&data).u16(alg).done())
                }
            }
        };
        self.push(c.cmp(Cmp::Full));
    }

    /// The attestation and audit commands (part 3 §18 Certify, CertifyCreation,
    /// GetSessionAuditDigest, GetCommandAuditDigest, GetTime; §21.2
    /// SetCommandCodeAuditStatus; §31.16 NV_Certify) with live objects, TPM_RH_NULL or bogus
    /// handles as signer. A successful attestation carries each TPM's clock and obfuscated
    /// counters (and ECDSA signatures are random): compared by length; errors and
    /// SetCommandCodeAuditStatus byte for byte.
    fn attest(&mut self) {
        const CC_CERTIFY: u32 = 0x148;
        const CC_CERTIFY_CREATION: u32 = 0x14A;
        const CC_GET_COMMAND_AUDIT_DIGEST: u32 = 0x133;
        const CC_GET_SESSION_AUDIT_DIGEST: u32 = 0x14D;
        const CC_GET_TIME: u32 = 0x14C;
        const CC_NV_CERTIFY: u32 = 0x184;
        const CC_SET_COMMAND_CODE_AUDIT_STATUS: u32 = 0x140;
        let obj = |g: &mut Self| match g.live.last().map(|l| l.0) {
            Some(slot) if !g.rng.chance(1, 6) => {
                let i = g.rng.below(g.live.len());
                H::Obj(g.live.get(i).map_or(slot, |l| l.0))
            }
            _ => H::Fixed(g.rng.pick(&[RH_NULL, 0x8000_0002, RH_OWNER])),
        };
        let signer = obj(self);
        let mut head = {
            let n = if self.rng.chance(1, 12) {
                67
            } else {
                self.rng.below(20)
            };
            let nonce = self.rng.bytes(n);
            let scheme = match self.rng.below(5) {
                0 => B::new().u16(ALG_HMAC).u16(ALG_SHA256).done(),
                1 => B::new().u16(ALG_ECDSA).u16(ALG_SHA256).done(),
                2 => B::new().u16(ALG_RSASSA).u16(ALG_SHA256).done(),
                _ => B::new().u16(ALG_NULL).done(),
            };
            B::new().b(&nonce).raw(&scheme)
        };
        let privacy = if self.rng.chance(1, 8) {
            RH_OWNER
        } else {
            RH_ENDORSEMENT
        };
        // The commands take turns (so that a short sequence has each of them).
        let turn = self
            .out
            .iter()
            .filter(|c| {
                [
                    CC_CERTIFY,
                    CC_CERTIFY_CREATION,
                    CC_GET_COMMAND_AUDIT_DIGEST,
                    CC_GET_SESSION_AUDIT_DIGEST,
                    CC_GET_TIME,
                    CC_NV_CERTIFY,
                    CC_SET_COMMAND_CODE_AUDIT_STATUS,
                ]
                .contains(&c.cc)
            })
            .count();
        let c = match turn % 7 {
            0 => {
                let object = obj(self);
                Cmd::new("Certify", CC_CERTIFY)
                    .h(object)
                    .h(signer)
                    .pw()
                    .pw()
            }
            1 => {
                let hash = self.rng.bytes(32);
                let ticket_len = self.rng.pick(&[0usize, 64]);
                let ticket = self.rng.bytes(ticket_len);
                let object = obj(self);
                head = B::new()
                    .b(&self.rng.bytes(4))
                    .b(&hash)
                    .u16(ALG_NULL)
                    .u16(0x8021)
                    .u32(self.rng.pick(&[RH_NULL, RH_OWNER]))
                    .b(&ticket);
                Cmd::new("CertifyCreation", CC_CERTIFY_CREATION)
                    .h(signer)
                    .h(object)
                    .pw()
            }
            2 => Cmd::new("GetTime", CC_GET_TIME)
                .h(H::Fixed(privacy))
                .h(signer)
                .pw()
                .pw(),
            3 => Cmd::new("GetCommandAuditDigest", CC_GET_COMMAND_AUDIT_DIGEST)
                .h(H::Fixed(privacy))
                .h(signer)
                .pw()
                .pw(),
            4 => {
                let session = match self.sessions.last() {
                    Some((slot, _)) if self.rng.chance(3, 4) => H::Obj(*slot),
                    _ => H::Fixed(self.rng.pick(&[0x0200_0000, 0x0300_0000, RH_NULL])),
                };
                Cmd::new("GetSessionAuditDigest", CC_GET_SESSION_AUDIT_DIGEST)
                    .h(H::Fixed(privacy))
                    .h(signer)
                    .h(session)
                    .pw()
                    .pw()
            }
            5 => {
                head = head.u16(self.rng.pick(&[0u16, 8, 2048])).u16(0);
                let index = self.rng.pick(&[0x0150_0100u32, 0x0100_0000]);
                Cmd::new("NV_Certify", CC_NV_CERTIFY)
                    .h(signer)
                    .h(H::Fixed(RH_OWNER))
                    .h(H::Fixed(index))
                    .pw()
                    .pw()
            }
            _ => {
                // Commands every target implements and answers alike.
                let pool = [
                    CC_GET_RANDOM,
                    CC_HASH,
                    CC_PCR_READ,
                    CC_PCR_EXTEND,
                    0x2000_0001,
                ];
                let list = |g: &mut Self| {
                    let n = g.rng.below(3);
                    let mut b = B::new().u32(n as u32);
                    for _ in 0..n {
                        b = b.u32(g.rng.pick(&pool));
                    }
                    b.done()
                };
                let (set, clear) = (list(self), list(self));
                let alg = self
                    .rng
                    .pick(&[ALG_NULL, ALG_NULL, ALG_SHA256, ALG_SHA384, 0x0099]);
                let auth = self.rng.pick(&[RH_OWNER, RH_PLATFORM, RH_ENDORSEMENT]);
                self.push(
                    Cmd::new(
                        "SetCommandCodeAuditStatus",
                        CC_SET_COMMAND_CODE_AUDIT_STATUS,
                    )
                    .h(H::Fixed(auth))
                    .pw()
                    .p(B::new().u16(alg).raw(&set).raw(&clear).done())
                    .cmp(Cmp::Full),
                );
                return;
            }
        };
        self.push(c.p(head.done()).cmp(Cmp::Len));
    }

    /// Authorization areas that are wrong in one way or another, on PCR_Extend (one USER
    /// handle) and GetRandom (no authorization handle).
    fn bad_session(&mut self) {
        let d = B::new().u32(1).u16(ALG_SHA256).raw(&[0xAB; 32]).done();
        let extend = |s: Vec<u8>| {
            Cmd::new("bad session", CC_PCR_EXTEND)
                .h(H::Fixed(16))
                .session(s)
                .p(d.clone())
                .cmp(Cmp::Full)
        };
        let c = match self.rng.below(9) {
            // A session handle that is not loaded.
            0 => extend(
                B::new()
                    .u32(0x0200_0000)
                    .b(&[0; 32])
                    .u8(1)
                    .b(&[0; 32])
                    .done(),
            ),
            // A handle that is no session at all.
            1 => extend(B::new().u32(0x8000_0000).b(&[]).u8(1).b(&[]).done()),
            // Reserved attribute bits.
            2 => extend(B::new().u32(RS_PW).b(&[]).u8(0x18).b(&[]).done()),
            // A password session with a nonce.
            3 => extend(B::new().u32(RS_PW).b(&[1, 2]).u8(1).b(&[]).done()),
            // Wrong password (PCR 16's authValue is empty).
            4 => extend(pw_session(b"nope")),
            // Password session with audit set.
            5 => extend(B::new().u32(RS_PW).b(&[]).u8(0x81).b(&[]).done()),
            // Two password sessions for one authorization handle.
            6 => extend(pw_session(&[])).session(pw_session(&[])),
            // A password session on a command without authorization handles.
            7 => Cmd::new("bad session", CC_GET_RANDOM)
                .pw()
                .p(B::new().u16(8).done())
                .cmp(Cmp::Rc),
            // No session at all where one is required.
            _ => Cmd::new("bad session", CC_PCR_EXTEND)
                .h(H::Fixed(16))
                .p(d.clone())
                .cmp(Cmp::Full),
        };
        self.push(c);
    }

    /// The two-phase ECC commands (part 3 §19, §14.7), after every other step that leaves an
    /// object slot free and every twentieth of the others:
    /// TPM2_EC_Ephemeral; TPM2_Commit with the fixed P-256 key as an ECDAA key (no points, P1,
    /// P2 from [`COMMIT_S2`]/[`COMMIT_Y2`], both, broken ones) and ECDAA TPM2_Sign; and
    /// TPM2_ZGen_2Phase with the fixed ECDH key; on counters that are outstanding, used or
    /// never made. Both TPMs count alike, so codes and lengths agree; `K = [d]P2` and
    /// `outZ1 = [d]QsB` (the first point of the response) are compared bytewise, the rest
    /// derives from each TPM's secret commit nonce.
    ///
    /// This step draws from its own generator (seeded from the main one's state, which it
    /// leaves alone) and loads and flushes its keys itself, only while a slot is free, so the
    /// commands of every other step are those of a run without it.
    fn ecc_commit(&mut self) {
        let mut rng = Rng(self.rng.0 ^ 0x0ECC_C0AA_17ED_5EED);
        let free = self.live.len() < 3;
        if !rng.chance(1, if free { 2 } else { 20 }) {
            return;
        }
        // A counter near the last commitments made (some outstanding, some used, some not
        // yet made).
        let made = self
            .out
            .iter()
            .filter(|c| matches!(c.kind, "Commit" | "EC_Ephemeral"))
            .count();
        let count = |rng: &mut Rng| (made + 1).saturating_sub(rng.below(5)) as u16;
        let ecc_point = || B::new().b(&unhex(ECC_X)).b(&unhex(ECC_Y)).done();
        let ephemeral = |rng: &mut Rng| {
            // Never another curve libtpms implements: only P-256 is compared.
            let curve = if rng.chance(1, 8) {
                rng.pick(&[0x0000u16, 0x0099, 0x7777])
            } else {
                0x0003
            };
            Cmd::new("EC_Ephemeral", CC_EC_EPHEMERAL)
                .p(B::new().u16(curve).done())
                .cmp(Cmp::Len)
        };
        let zgen = |rng: &mut Rng, key: H, count: u16| {
            // ECDH; never ECMQV, which puts libtpms 0.9.2 in failure mode.
            let scheme = if rng.chance(1, 6) {
                rng.pick(&[ALG_NULL, ALG_ECDSA, 0x001A])
            } else {
                0x0019
            };
            Cmd::new("ZGen_2Phase", CC_ZGEN_2PHASE)
                .h(key)
                .pw()
                .p(B::new()
                    .b(&ecc_point())
                    .b(&ecc_point())
                    .u16(scheme)
                    .u16(count)
                    .done())
                // Header, parameterSize, outZ1.
                .cmp(Cmp::Prefix(10 + 4 + 70))
        };
        let mut cmds = vec![ephemeral(&mut rng)];
        let mut own_key = None;
        if free {
            let ecdaa = rng.chance(2, 3);
            let public = if ecdaa {
                ecdaa_public()
            } else {
                ecc_ecdh_public()
            };
            let slot = self.out.len();
            self.push(
                Cmd::new("LoadExternal", CC_LOAD_EXTERNAL)
                    .p(B::new()
                        .raw(&sensitive(ALG_ECC, &unhex(ECC_D)))
                        .raw(&public)
                        .u32(RH_NULL)
                        .done())
                    .cmp(Cmp::SkipHandle)
                    .loads(ObjKind::EccPriv),
            );
            let key = H::Obj(slot);
            own_key = Some(key);
            if ecdaa {
                let empty = B::new().b(&[0; 4]).done();
                let (p1, s2, y2): (Vec<u8>, Vec<u8>, Vec<u8>) = match rng.below(7) {
                    0 => (B::new().b(&ecc_point()).done(), vec![], vec![]),
                    1 => (empty, COMMIT_S2.to_vec(), unhex(COMMIT_Y2)),
                    2 => (
                        B::new().b(&ecc_point()).done(),
                        COMMIT_S2.to_vec(),
                        unhex(COMMIT_Y2),
                    ),
                    3 => {
                        let mut y = unhex(COMMIT_Y2);
                        y[31] ^= 1;
                        (empty, COMMIT_S2.to_vec(), y)
                    }
                    4 => (empty, COMMIT_S2.to_vec(), vec![]),
                    _ => (empty, vec![], vec![]),
                };
                let cmp = if s2.is_empty() {
                    Cmp::Len
                } else {
                    // Header, parameterSize, K.
                    Cmp::Prefix(10 + 4 + 70)
                };
                cmds.push(
                    Cmd::new("Commit", CC_COMMIT)
                        .h(key)
                        .pw()
                        .p(B::new().raw(&p1).b(&s2).b(&y2).done())
                        .cmp(cmp),
                );
                if rng.chance(2, 3) {
                    let hash = if rng.chance(1, 6) {
                        ALG_SHA384
                    } else {
                        ALG_SHA256
                    };
                    let c = count(&mut rng);
                    cmds.push(
                        Cmd::new("Sign ECDAA", CC_SIGN)
                            .h(key)
                            .pw()
                            .p(B::new()
                                .b(&rng.bytes(32))
                                .u16(0x001A)
                                .u16(hash)
                                .u16(c)
                                .u16(0x8024)
                                .u32(RH_NULL)
                                .b(&[])
                                .done())
                            // nonceK is random, and so is its length (leading zeros dropped).
                            .cmp(Cmp::Rc),
                    );
                }
            } else {
                let c = count(&mut rng);
                cmds.push(zgen(&mut rng, key, c));
            }
        } else if let Some((slot, _, _)) = self.find(|k| k == ObjKind::EccPriv) {
            // No free slot: the ECDH key if it is loaded anyway.
            let c = count(&mut rng);
            cmds.push(zgen(&mut rng, H::Obj(slot), c));
        }
        for mut c in cmds {
            if rng.chance(1, 8) {
                // Malformed (never below a header: swtpm would wait for the rest of it).
                let len = c.bytes(&[]).len();
                c.mutation = Some(match rng.below(3) {
                    0 => Mutation::TruncateFixed(10 + rng.below(len - 10)),
                    1 => {
                        let n = 1 + rng.below(3);
                        Mutation::Append(rng.bytes(n))
                    }
                    _ => Mutation::Flip(10 + rng.below(len - 10), 0x80),
                });
                c.kind = "malformed";
                c.cmp = Cmp::Rc;
            }
            self.push(c);
        }
        if let Some(key) = own_key {
            self.push(
                Cmd::new("FlushContext", CC_FLUSH_CONTEXT)
                    .cmp(Cmp::Full)
                    .with_flush(key),
            );
        }
    }
}

impl Cmd {
    fn with_flush(mut self, h: H) -> Self {
        // FlushContext carries the handle as its only parameter; without sessions the handle
        // area and the parameter area are adjacent, so resolving it as a handle gives the
        // same bytes.
        self.handles.push(h);
        self.kind = "FlushContext";
        self
    }
}

/// The digest size of a hash algorithm (0 for anything else).
pub(crate) fn digest_len(alg: u16) -> usize {
    match alg {
        ALG_SHA1 => 20,
        ALG_SHA256 => 32,
        ALG_SHA384 => 48,
        ALG_SHA512 => 64,
        _ => 0,
    }
}

/// The whole generated sequence for `seed`: `n` random steps (plus the flushes they need).
pub(crate) fn generate(seed: u64, n: usize) -> Vec<Cmd> {
    let mut g = Gen::new(seed);
    while g.out.len() < n {
        g.step();
    }
    g.out
}

/// A target TPM: sends command bytes, returns response bytes, and remembers the handles its
/// loading commands returned.
pub(crate) trait Target {
    /// Executes `cmd` at `locality`.
    fn send(&mut self, locality: u8, cmd: &[u8]) -> Vec<u8>;
}

/// Sends generated command number `i` to a target and records a returned object handle.
pub(crate) fn run_one(
    t: &mut dyn Target,
    objs: &mut Vec<Option<u32>>,
    cmds: &[Cmd],
    i: usize,
) -> Vec<u8> {
    let c = &cmds[i];
    let bytes = c.bytes(objs);
    let rsp = t.send(c.locality, &bytes);
    if objs.len() <= i {
        objs.resize(i + 1, None);
    }
    if c.loads.is_some() && rc_of(&rsp) == 0 && rsp.len() >= 14 {
        objs[i] = Some(u32::from_be_bytes([rsp[10], rsp[11], rsp[12], rsp[13]]));
    }
    rsp
}

/// Whether two responses agree as `cmp` demands. Error responses are always compared whole.
pub(crate) fn agree(cmp: Cmp, a: &[u8], b: &[u8]) -> bool {
    if rc_of(a) != rc_of(b) {
        return false;
    }
    if rc_of(a) != 0 {
        return a == b;
    }
    match cmp {
        Cmp::Rc => true,
        Cmp::Len => a.len() == b.len(),
        Cmp::Full => a == b,
        Cmp::SkipHandle => {
            a.len() == b.len() && a.len() >= 14 && a[..10] == b[..10] && a[14..] == b[14..]
        }
        Cmp::Prefix(n) => a.len() == b.len() && a[..n.min(a.len())] == b[..n.min(b.len())],
    }
}

// ---------------------------------------------------------------------------------------------
// NV storage sequences (part 3 §31)
// ---------------------------------------------------------------------------------------------

const CC_NV_DEFINE_SPACE: u32 = 0x12A;
const CC_NV_UNDEFINE_SPACE: u32 = 0x122;
const CC_NV_READ_PUBLIC: u32 = 0x169;
const CC_NV_WRITE: u32 = 0x137;
const CC_NV_READ: u32 = 0x14E;
const CC_NV_INCREMENT: u32 = 0x134;
const CC_NV_SET_BITS: u32 = 0x135;
const CC_NV_EXTEND: u32 = 0x136;
const CC_NV_WRITE_LOCK: u32 = 0x138;
const CC_NV_READ_LOCK: u32 = 0x14F;
const CC_NV_GLOBAL_WRITE_LOCK: u32 = 0x132;
const CC_NV_CHANGE_AUTH: u32 = 0x13B;

/// The NV handles the sequences use (a small pool, so that commands meet defined indices).
const NV_POOL: [u32; 4] = [0x0150_0100, 0x0150_0101, 0x0150_0102, 0x01C1_0003];

/// What the generator last tried to define at a pool handle (it may have been refused).
#[derive(Clone, Copy, Default)]
struct NvModel {
    size: u16,
    auth: bool,
    /// A PIN index may have been defined here (ever: an undefine may have failed): writes are
    /// then whole (libtpms leaves the bytes a first partial write of a PIN index skips as
    /// whatever its NV held).
    pin: bool,
}

/// TPMA_NV bits the generator combines.
const NV_RW_BITS: [u32; 8] = [
    1 << 0,  // PPWRITE
    1 << 1,  // OWNERWRITE
    1 << 2,  // AUTHWRITE
    1 << 3,  // POLICYWRITE
    1 << 16, // PPREAD
    1 << 17, // OWNERREAD
    1 << 18, // AUTHREAD
    1 << 19, // POLICYREAD
];
const NV_EXTRA_BITS: [u32; 8] = [
    1 << 12, // WRITEALL
    1 << 13, // WRITEDEFINE
    1 << 14, // WRITE_STCLEAR
    1 << 15, // GLOBALLOCK
    1 << 31, // READ_STCLEAR
    1 << 25, // NO_DA
    1 << 27, // CLEAR_STCLEAR
    1 << 26, // ORDERLY
];
const NV_PLATFORMCREATE: u32 = 1 << 30;

impl Gen {
    fn nv_step(&mut self, model: &mut [NvModel; 4]) {
        let malformed = self.rng.chance(1, 9);
        let before = self.out.len();
        let slot = self.rng.below(NV_POOL.len());
        let h = NV_POOL[slot];
        match self.rng.below(16) {
            0..=2 => self.nv_define(slot, model),
            3 => self.nv_undefine(h),
            4 | 5 => self.nv_write(h, model[slot]),
            6 | 7 => self.nv_read(h, model[slot]),
            8 => self.nv_simple(h, model[slot], "NV_Increment", CC_NV_INCREMENT, Vec::new()),
            9 => {
                let bits = self.rng.next_u64().to_be_bytes();
                self.nv_simple(h, model[slot], "NV_SetBits", CC_NV_SET_BITS, bits.to_vec());
            }
            10 => {
                let n = self.rng.pick(&[0usize, 1, 20, 64, 1024]);
                let data = self.rng.bytes(n);
                let p = B::new().b(&data).done();
                self.nv_simple(h, model[slot], "NV_Extend", CC_NV_EXTEND, p);
            }
            11 => self.nv_simple(h, model[slot], "NV_WriteLock", CC_NV_WRITE_LOCK, Vec::new()),
            12 => self.nv_simple(h, model[slot], "NV_ReadLock", CC_NV_READ_LOCK, Vec::new()),
            13 => {
                let by = self.rng.pick(&[RH_OWNER, RH_PLATFORM, 0x4000_000B]);
                self.push(
                    Cmd::new("NV_GlobalWriteLock", CC_NV_GLOBAL_WRITE_LOCK)
                        .h(H::Fixed(by))
                        .pw(),
                );
            }
            14 => {
                let pw = if model[slot].auth { &b"pw"[..] } else { b"" };
                self.push(
                    Cmd::new("NV_ChangeAuth", CC_NV_CHANGE_AUTH)
                        .h(H::Fixed(h))
                        .session(pw_session(pw))
                        .p(B::new().b(b"new").done()),
                );
            }
            _ => {
                let h = if self.rng.chance(1, 8) {
                    0x0150_0FFF
                } else {
                    h
                };
                self.push(Cmd::new("NV_ReadPublic", CC_NV_READ_PUBLIC).h(H::Fixed(h)));
            }
        }
        if malformed && self.out.len() > before {
            self.malform();
        }
    }

    fn nv_define(&mut self, slot: usize, model: &mut [NvModel; 4]) {
        let h = NV_POOL[slot];
        let nt: u32 = if self.rng.chance(1, 20) {
            3
        } else {
            self.rng.pick(&[0, 0, 0, 1, 2, 4, 8, 9])
        };
        let alg = if self.rng.chance(1, 20) {
            0x0010
        } else {
            self.rng
                .pick(&[ALG_SHA256, ALG_SHA256, ALG_SHA1, ALG_SHA384])
        };
        let dlen = u16::try_from(digest_len(alg)).unwrap_or(0);
        let size: u16 = match nt {
            0 if self.rng.chance(1, 8) => self.rng.pick(&[0, 1025, 2048, 2049]),
            0 => self.rng.pick(&[1, 8, 16, 32, 100, 500]),
            1 | 2 | 8 | 9 if self.rng.chance(1, 10) => 4,
            1 | 2 | 8 | 9 => 8,
            4 if self.rng.chance(1, 10) => 20 + 32 - dlen.min(52),
            _ => dlen,
        };
        let mut attrs = nt << 4;
        for bit in NV_RW_BITS {
            if self.rng.chance(1, 2) {
                attrs |= bit;
            }
        }
        // Usually some way to read and to write.
        if NV_RW_BITS[4..].iter().all(|b| attrs & b == 0) && self.rng.chance(9, 10) {
            attrs |= 1 << 18;
        }
        if NV_RW_BITS[..4].iter().all(|b| attrs & b == 0) && self.rng.chance(9, 10) {
            attrs |= 1 << 2;
        }
        for bit in NV_EXTRA_BITS {
            if self.rng.chance(1, 9) {
                attrs |= bit;
            }
        }
        if self.rng.chance(2, 3) {
            attrs |= 1 << 25; // NO_DA
        }
        if self.rng.chance(1, 25) {
            attrs |= self
                .rng
                .pick(&[1u32 << 29, 1 << 11, 1 << 28, 1 << 10, 1 << 20]);
        }
        let by = if self.rng.chance(1, 4) {
            if self.rng.chance(9, 10) {
                attrs |= NV_PLATFORMCREATE;
            }
            RH_PLATFORM
        } else {
            if self.rng.chance(1, 20) {
                attrs |= NV_PLATFORMCREATE;
            }
            RH_OWNER
        };
        let auth = self.rng.chance(1, 2);
        let policy = if self.rng.chance(1, 4) {
            let n = if self.rng.chance(1, 8) {
                20
            } else {
                usize::from(dlen)
            };
            self.rng.bytes(n)
        } else {
            Vec::new()
        };
        let public = B::new()
            .u32(h)
            .u16(alg)
            .u32(attrs)
            .b(&policy)
            .u16(size)
            .done();
        let auth_bytes: &[u8] = if auth { b"pw" } else { b"" };
        let pin = model[slot].pin || matches!(nt, 8 | 9);
        model[slot] = NvModel { size, auth, pin };
        self.push(
            Cmd::new("NV_DefineSpace", CC_NV_DEFINE_SPACE)
                .h(H::Fixed(by))
                .pw()
                .p(B::new().b(auth_bytes).b(&public).done()),
        );
    }

    fn nv_undefine(&mut self, h: u32) {
        let by = self.rng.pick(&[RH_OWNER, RH_OWNER, RH_PLATFORM]);
        self.push(
            Cmd::new("NV_UndefineSpace", CC_NV_UNDEFINE_SPACE)
                .h(H::Fixed(by))
                .h(H::Fixed(h))
                .pw(),
        );
    }

    /// The authorization handle and password of an NV access: owner, platform, the index
    /// itself (with its password, now and then a wrong one) or another index.
    fn nv_auth(&mut self, h: u32, m: NvModel) -> (u32, Vec<u8>) {
        match self.rng.below(8) {
            0 | 1 => (RH_OWNER, Vec::new()),
            2 => (RH_PLATFORM, Vec::new()),
            3 => (self.rng.pick(&NV_POOL), Vec::new()),
            _ if self.rng.chance(1, 25) => (h, b"wrong".to_vec()),
            _ => (h, if m.auth { b"pw".to_vec() } else { Vec::new() }),
        }
    }

    fn nv_simple(&mut self, h: u32, m: NvModel, kind: &'static str, cc: u32, params: Vec<u8>) {
        let (auth, pw) = self.nv_auth(h, m);
        self.push(
            Cmd::new(kind, cc)
                .h(H::Fixed(auth))
                .h(H::Fixed(h))
                .session(pw_session(&pw))
                .p(params),
        );
    }

    fn nv_range(&mut self, m: NvModel) -> (u16, u16) {
        let size = usize::from(m.size);
        let (len, off) = if self.rng.chance(1, 6) {
            (self.rng.below(1100), self.rng.below(size + 3))
        } else {
            let off = self.rng.below(size + 1);
            (self.rng.below(size - off + 1).min(1024), off)
        };
        (
            u16::try_from(len).unwrap_or(0),
            u16::try_from(off).unwrap_or(0),
        )
    }

    fn nv_write(&mut self, h: u32, m: NvModel) {
        let (len, off) = if m.pin { (8, 0) } else { self.nv_range(m) };
        let data = self.rng.bytes(usize::from(len).min(1024));
        let p = B::new().b(&data).u16(off).done();
        self.nv_simple(h, m, "NV_Write", CC_NV_WRITE, p);
    }

    fn nv_read(&mut self, h: u32, m: NvModel) {
        let (len, off) = self.nv_range(m);
        let p = B::new().u16(len).u16(off).done();
        self.nv_simple(h, m, "NV_Read", CC_NV_READ, p);
    }
}

/// A seeded sequence of NV commands on a pool of four index handles: defines of every type
/// with random attributes, sizes, hashes, passwords and policies (many refused), and accesses
/// through owner, platform, the index or another index, with random ranges.
pub(crate) fn generate_nv(seed: u64, n: usize) -> Vec<Cmd> {
    let mut g = Gen::new(seed ^ 0x4E56_4E56);
    let mut model = [NvModel::default(); 4];
    while g.out.len() < n {
        g.nv_step(&mut model);
    }
    g.out
}
