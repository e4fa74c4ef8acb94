//! The CPU check at start: on x86_64 zkgov is built for BMI2 and ADX (see
//! `.cargo/config.toml`), and a CPU without them would die on an illegal
//! instruction in the first field multiplication.
//!
//! The check reads CPUID itself: `is_x86_feature_detected!` answers `true`
//! at compile time for features the build enables, which is exactly the
//! case to check.

/// The instructions this build needs that the CPU lacks, by name.
#[cfg(all(
    target_arch = "x86_64",
    target_feature = "bmi2",
    target_feature = "adx"
))]
pub(crate) fn missing() -> Vec<&'static str> {
    use std::arch::x86_64::{__cpuid, __cpuid_count};
    // Leaf 7, sub-leaf 0, EBX: bit 8 is BMI2, bit 19 is ADX.
    #[allow(unused_unsafe)]
    let ebx = unsafe {
        if __cpuid(0).eax < 7 {
            0
        } else {
            __cpuid_count(7, 0).ebx
        }
    };
    [("bmi2", 8), ("adx", 19)]
        .into_iter()
        .filter(|(_, bit)| ebx & (1 << bit) == 0)
        .map(|(name, _)| name)
        .collect()
}

/// Nothing to check: the build uses no optional instructions.
#[cfg(not(all(
    target_arch = "x86_64",
    target_feature = "bmi2",
    target_feature = "adx"
)))]
pub(crate) fn missing() -> Vec<&'static str> {
    Vec::new()
}

/// The message for a CPU that lacks `missing`.
pub(crate) fn message(missing: &[&str]) -> String {
    format!(
        "this CPU lacks {}, which this build of zkgov uses for its field arithmetic \
         (x86_64 builds enable BMI2 and ADX, found on Intel since Broadwell and AMD since \
         Zen); rebuild for this machine with RUSTFLAGS=\"\" cargo build --release -p zkgov",
        missing.join(" and ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_machine_has_what_the_build_needs() {
        // The tests themselves run the built arithmetic; a CPU without the
        // instructions would not get this far.
        assert_eq!(missing(), Vec::<&str>::new());
    }

    #[test]
    fn the_message_names_the_instructions_and_the_fix() {
        let text = message(&["adx"]);
        assert!(text.starts_with("this CPU lacks adx,"), "{text}");
        assert!(text.contains("RUSTFLAGS=\"\""), "{text}");
    }
}
