//! One BN254 scalar-field multiplication: ark-ff's, as this build compiles
//! it (its assembly path where BMI2 and ADX are enabled), against a
//! portable Montgomery multiplication in plain Rust (CIOS over 64-bit limbs
//! with 128-bit products, the algorithm of ark-ff's portable path), in the
//! same run. Both run as a dependent chain, so the time is latency; the
//! portable result is checked against ark-ff's on every chain.
//!
//! `cargo run --release -p zkgov-benches --bin field-mul`

use std::hint::black_box;
use std::time::Instant;

use ark_bn254::{Fr, FrConfig};
use ark_ff::{BigInt, Fp, MontConfig, PrimeField, UniformRand};
use rand::rngs::StdRng;
use rand::SeedableRng;

const CHAIN: usize = 2_000_000;
const ROUNDS: usize = 7;

/// `a * b * R^-1 mod p`, for `a` and `b` in Montgomery form, by coarsely
/// integrated operand scanning.
fn cios(a: &[u64; 4], b: &[u64; 4]) -> [u64; 4] {
    let p = <FrConfig as MontConfig<4>>::MODULUS.0;
    let inv = <FrConfig as MontConfig<4>>::INV;
    let mut t = [0u64; 6];
    for &bi in b {
        let mut carry = 0u64;
        for j in 0..4 {
            let s = t[j] as u128 + a[j] as u128 * bi as u128 + carry as u128;
            t[j] = s as u64;
            carry = (s >> 64) as u64;
        }
        let s = t[4] as u128 + carry as u128;
        t[4] = s as u64;
        t[5] = (s >> 64) as u64;
        let m = t[0].wrapping_mul(inv);
        let s = t[0] as u128 + m as u128 * p[0] as u128;
        let mut carry = (s >> 64) as u64;
        for j in 1..4 {
            let s = t[j] as u128 + m as u128 * p[j] as u128 + carry as u128;
            t[j - 1] = s as u64;
            carry = (s >> 64) as u64;
        }
        let s = t[4] as u128 + carry as u128;
        t[3] = s as u64;
        t[4] = t[5] + (s >> 64) as u64;
    }
    let mut r = [t[0], t[1], t[2], t[3]];
    if t[4] != 0 || !less_than(&r, &p) {
        let mut borrow = 0u64;
        for j in 0..4 {
            let (d, b1) = r[j].overflowing_sub(p[j]);
            let (d, b2) = d.overflowing_sub(borrow);
            r[j] = d;
            borrow = (b1 | b2) as u64;
        }
    }
    r
}

fn less_than(a: &[u64; 4], b: &[u64; 4]) -> bool {
    for j in (0..4).rev() {
        if a[j] != b[j] {
            return a[j] < b[j];
        }
    }
    false
}

/// Nanoseconds per step of a dependent chain, the best of `ROUNDS`.
fn per_step<T: Copy>(start: T, mut step: impl FnMut(T) -> T) -> (f64, T) {
    let mut best = f64::INFINITY;
    let mut last = start;
    for _ in 0..ROUNDS {
        let mut x = start;
        let began = Instant::now();
        for _ in 0..CHAIN {
            x = step(black_box(x));
        }
        best = best.min(began.elapsed().as_nanos() as f64 / CHAIN as f64);
        last = x;
    }
    (best, last)
}

fn main() {
    let asm = cfg!(all(
        target_arch = "x86_64",
        target_feature = "bmi2",
        target_feature = "adx"
    ));
    let mut rng = StdRng::seed_from_u64(7);
    let (a, b) = (Fr::rand(&mut rng), Fr::rand(&mut rng));

    let (ark, ark_last) = per_step(a, |x| x * b);
    let (portable, portable_last) = per_step(a.0 .0, |x| cios(&x, &b.0 .0));
    let from_portable: Fr = Fp(BigInt(portable_last), core::marker::PhantomData);
    assert_eq!(
        from_portable, ark_last,
        "the portable multiplication disagrees with ark-ff"
    );
    assert!(from_portable.into_bigint() < Fr::MODULUS);

    println!(
        "BN254 Fr multiplication, dependent chain of {CHAIN}, best of {ROUNDS} (ark-ff built {} BMI2/ADX, so {}):",
        if asm { "with" } else { "without" },
        if asm { "its assembly path" } else { "its portable path" }
    );
    println!("| multiplication | ns | vs portable |");
    println!("|---|---:|---:|");
    println!("| portable CIOS in plain Rust | {portable:.2} | 1.00× |");
    println!("| ark-ff `Fr * Fr` | {ark:.2} | {:.2}× |", portable / ark);
}
