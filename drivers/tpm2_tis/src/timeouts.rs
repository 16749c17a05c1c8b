//! Interface timeouts, command durations and the driver's configuration.
//!
//! Sources:
//! - PTP (TCG PC Client Platform TPM Profile Specification for TPM 2.0) §6.5.1.4, Table 18: the
//!   fixed interface timeouts of a TPM 2.0, A = 750 ms, B = 2000 ms, C = 200 ms, D = 30 ms.
//!   Linux uses these, except that since 2024 (backported to 6.1) its B is 4000 ms because some
//!   chips take longer to become ready ([`Timeouts::LINUX`]).
//! - PTP §6.5.1.3, Table 17: command durations of 20 ms, 750 ms and 2000 ms, which Linux calls
//!   short, medium and long and assigns per command code (its `tpm2_ordinal_duration_index`
//!   table). Linux 6.18 raised TPM2_SelfTest to 3 s after a TCG update, so the long class here
//!   is 3 s.
//! - TCG PC Client Device Driver Design Principles for TPM 2.0 §10: TPM2_Create,
//!   TPM2_CreatePrimary and TPM2_CreateLoaded get 180 s (key generation), and commands the PTP
//!   does not list get 90 s. (Linux uses 300 s, later 30 s, and 120 s; mini-os gives every
//!   TPM 2.0 command 120 s.)

use core::time::Duration;

use tpm2::cc::TpmCc;

/// The four interface timeouts of PTP §6.5.1.4.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// TIMEOUT_A: locality request granted, registers valid.
    pub a: Duration,
    /// TIMEOUT_B: commandReady asserted after a commandReady write (also the abort wait).
    pub b: Duration,
    /// TIMEOUT_C: stsValid asserted (Expect and dataAvail become valid).
    pub c: Duration,
    /// TIMEOUT_D: burstCount becomes non-zero.
    pub d: Duration,
}

impl Timeouts {
    /// The PTP values: A 750 ms, B 2000 ms, C 200 ms, D 30 ms.
    pub const PTP: Self = Self {
        a: Duration::from_millis(750),
        b: Duration::from_secs(2),
        c: Duration::from_millis(200),
        d: Duration::from_millis(30),
    };

    /// Linux's values since 2024: the PTP ones with B raised to 4000 ms.
    pub const LINUX: Self = Self {
        b: Duration::from_secs(4),
        ..Self::PTP
    };
}

impl Default for Timeouts {
    fn default() -> Self {
        Self::PTP
    }
}

/// How long a command may execute, as a class (see [`duration_class`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DurationClass {
    /// Quick commands (not assigned by [`duration_class`]; for custom classifiers).
    Short,
    /// Start-up, hash sequences, PCR extension, capability reads.
    Medium,
    /// Self-test, random numbers, hierarchy control, NV reads.
    Long,
    /// Key generation and signature verification.
    LongLong,
    /// Everything the tables do not list.
    Default,
}

/// The wait for dataAvail after tpmGo, per [`DurationClass`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Durations {
    /// [`DurationClass::Short`].
    pub short: Duration,
    /// [`DurationClass::Medium`].
    pub medium: Duration,
    /// [`DurationClass::Long`].
    pub long: Duration,
    /// [`DurationClass::LongLong`].
    pub long_long: Duration,
    /// [`DurationClass::Default`].
    pub default: Duration,
}

impl Durations {
    /// 20 ms, 750 ms, 3 s (PTP Table 17 and the SelfTest update), 180 s and 90 s (Device Driver
    /// Design Principles §10).
    pub const TCG: Self = Self {
        short: Duration::from_millis(20),
        medium: Duration::from_millis(750),
        long: Duration::from_secs(3),
        long_long: Duration::from_secs(180),
        default: Duration::from_secs(90),
    };

    /// The duration of a class.
    pub const fn get(&self, class: DurationClass) -> Duration {
        match class {
            DurationClass::Short => self.short,
            DurationClass::Medium => self.medium,
            DurationClass::Long => self.long,
            DurationClass::LongLong => self.long_long,
            DurationClass::Default => self.default,
        }
    }
}

impl Default for Durations {
    fn default() -> Self {
        Self::TCG
    }
}

// Command codes of TPM 2.0 Library part 2 §6.5.2 (table 12) that the duration table names.

/// The duration class of a command, after Linux's per-command table (PTP Table 17 durations)
/// with key generation per the Device Driver Design Principles §10.
pub const fn duration_class(code: TpmCc) -> DurationClass {
    match code {
        TpmCc::STARTUP
        | TpmCc::HASH_SEQUENCE_START
        | TpmCc::SEQUENCE_UPDATE
        | TpmCc::SEQUENCE_COMPLETE
        | TpmCc::EVENT_SEQUENCE_COMPLETE
        | TpmCc::PCR_EXTEND
        | TpmCc::GET_CAPABILITY => DurationClass::Medium,
        TpmCc::SELF_TEST
        | TpmCc::GET_RANDOM
        | TpmCc::HIERARCHY_CONTROL
        | TpmCc::HIERARCHY_CHANGE_AUTH
        | TpmCc::NV_READ => DurationClass::Long,
        TpmCc::CREATE_PRIMARY | TpmCc::CREATE | TpmCc::CREATE_LOADED | TpmCc::VERIFY_SIGNATURE => {
            DurationClass::LongLong
        }
        _ => DurationClass::Default,
    }
}

/// Everything the driver can be tuned with.
#[derive(Debug, Clone, Copy)]
pub struct Config {
    /// Interface timeouts.
    pub timeouts: Timeouts,
    /// Per-class command durations.
    pub durations: Durations,
    /// The command classifier ([`duration_class`] by default).
    pub classify: fn(TpmCc) -> DurationClass,
    /// Sleep between two polls of a register (at least 1 µs is used).
    pub poll_interval: Duration,
    /// How many times a command whose *sending* failed is aborted and sent again. Failures
    /// after tpmGo are never retried, since the TPM may have executed the command.
    pub send_retries: u8,
}

impl Config {
    /// PTP timeouts, TCG durations, 500 µs polling, one send retry.
    pub const DEFAULT: Self = Self {
        timeouts: Timeouts::PTP,
        durations: Durations::TCG,
        classify: duration_class,
        poll_interval: Duration::from_micros(500),
        send_retries: 1,
    };

    /// How long `code` may execute.
    pub fn duration(&self, code: TpmCc) -> Duration {
        self.durations.get((self.classify)(code))
    }
}

impl Default for Config {
    fn default() -> Self {
        Self::DEFAULT
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ptp_and_linux_timeouts() {
        assert_eq!(Timeouts::default().a, Duration::from_millis(750));
        assert_eq!(Timeouts::PTP.b, Duration::from_secs(2));
        assert_eq!(Timeouts::PTP.c, Duration::from_millis(200));
        assert_eq!(Timeouts::PTP.d, Duration::from_millis(30));
        assert_eq!(Timeouts::LINUX.b, Duration::from_secs(4));
        assert_eq!(Timeouts::LINUX.a, Timeouts::PTP.a);
    }

    #[test]
    fn classes_follow_the_tables() {
        assert_eq!(duration_class(TpmCc::STARTUP), DurationClass::Medium);
        assert_eq!(duration_class(TpmCc::GET_CAPABILITY), DurationClass::Medium);
        assert_eq!(duration_class(TpmCc::PCR_EXTEND), DurationClass::Medium);
        assert_eq!(duration_class(TpmCc::SELF_TEST), DurationClass::Long);
        assert_eq!(duration_class(TpmCc::GET_RANDOM), DurationClass::Long);
        assert_eq!(duration_class(TpmCc::NV_READ), DurationClass::Long);
        for cc in [
            TpmCc::CREATE_PRIMARY,
            TpmCc::CREATE,
            TpmCc::CREATE_LOADED,
            TpmCc::VERIFY_SIGNATURE,
        ] {
            assert_eq!(duration_class(cc), DurationClass::LongLong);
        }
        assert_eq!(duration_class(TpmCc::PCR_READ), DurationClass::Default);
        assert_eq!(duration_class(TpmCc(0xDEAD)), DurationClass::Default);
    }

    #[test]
    fn config_maps_commands_to_durations() {
        let config = Config::default();
        assert_eq!(config.duration(TpmCc::STARTUP), Duration::from_millis(750));
        assert_eq!(config.duration(TpmCc::SELF_TEST), Duration::from_secs(3));
        assert_eq!(
            config.duration(TpmCc::CREATE_PRIMARY),
            Duration::from_secs(180)
        );
        assert_eq!(config.duration(TpmCc::PCR_READ), Duration::from_secs(90));
        let everything_short = Config {
            classify: |_| DurationClass::Short,
            ..Config::DEFAULT
        };
        assert_eq!(
            everything_short.duration(TpmCc::CREATE),
            Duration::from_millis(20)
        );
    }
}
