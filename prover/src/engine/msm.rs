//! Fixed-base multi-scalar multiplication with precomputed window tables
//! and batch-affine bucket accumulation.
//!
//! A Groth16 proving key's query vectors are fixed for the key's life, so
//! the doublings of Pippenger's method can be paid once: for every base `P`
//! the table holds `2^(c·j) · P` for each `c`-bit window `j`. An MSM then
//! splits every scalar into signed `c`-bit digits and sorts all
//! `(digit, table point)` pairs into one set of `2^(c-1)` buckets, instead
//! of one set per window, and never doubles.
//!
//! The buckets are summed in affine coordinates, pairwise, a round at a
//! time: every addition of a round shares one field inversion (Montgomery's
//! batch trick), so an addition costs about 6 field multiplications instead
//! of the 11 of a mixed Jacobian addition. Pairwise rounds also absorb the
//! skew of real witnesses, where most of the small scalars (bits, flags) land
//! in the same few buckets. The weighted sum of the buckets, `Σ (b + 1) ·
//! S_b`, is in affine coordinates too: running sums over [`BUCKET_BLOCKS`]
//! blocks of buckets advance side by side, so that it costs about two
//! batch-affine additions per bucket instead of two projective ones, and
//! wider windows pay.
//!
//! Identity bases (variables that a query does not touch) are dropped when
//! the table is built. Results are exact group elements, so a proof made
//! with these MSMs is the proof arkworks makes from the same `r` and `s`.

use ark_ec::short_weierstrass::{Affine, Projective, SWCurveConfig};
use ark_ec::{AffineRepr, CurveGroup};
use ark_ff::{AdditiveGroup, BigInteger, Field, PrimeField, Zero};

/// The scalar field's integers, as the prover hands them over.
pub type BigInt<P> = <<P as ark_ec::CurveConfig>::ScalarField as PrimeField>::BigInt;

/// Scalars per chunk: bounds the scratch space of one MSM (about
/// `CHUNK × windows` points) whatever the base count.
const CHUNK: usize = 1024;

/// Blocks of buckets whose running sums advance side by side, so that each
/// step's additions share one inversion. More blocks mean fewer steps (and
/// inversions) but more projective work to join them: 3 per block, against
/// one inversion per step of `blocks` buckets; 64 suits the 2^12 buckets of
/// the reference key's 13-bit MSMs.
pub const BUCKET_BLOCKS: usize = 64;

/// A table of window multiples of fixed bases.
pub struct FixedBaseMsm<P: SWCurveConfig> {
    /// Window width in bits.
    c: usize,
    /// Windows per scalar.
    windows: usize,
    /// `table[k · windows + j] = 2^(c·j) · bases[index[k]]`.
    table: Vec<Affine<P>>,
    /// The position, among the original bases, of each table row.
    index: Vec<u32>,
    /// The original base count.
    len: usize,
}

/// The window width that minimizes the cost of an MSM over `bases` bases
/// with full-size scalars: `bases × windows` batch-affine additions into
/// the buckets, against the `2^c` batch-affine additions that sum the
/// `2^(c-1)` buckets. It gives 13 bits for the 2,600–8,000 bases of the
/// reference key's MSMs, among the fastest widths measured
/// (`msm-windows`).
pub fn window_bits<P: SWCurveConfig>(bases: usize) -> usize {
    let bits = P::ScalarField::MODULUS_BIT_SIZE as usize + 1;
    (2..=20)
        .min_by_key(|&c| bases * bits.div_ceil(c) + (1usize << c))
        .expect("a non-empty range")
}

impl<P: SWCurveConfig> FixedBaseMsm<P> {
    /// Builds the table of `bases`, with the window width that suits their
    /// number ([`window_bits`]), on the current rayon pool.
    pub fn new(bases: &[Affine<P>]) -> Self {
        let points = bases.iter().filter(|b| !b.is_zero()).count();
        Self::with_window(bases, window_bits::<P>(points))
    }

    /// Builds the table of `bases` for `c`-bit windows (2 ≤ c ≤ 20).
    pub fn with_window(bases: &[Affine<P>], c: usize) -> Self {
        assert!((2..=20).contains(&c), "window width {c} out of range");
        let bits = P::ScalarField::MODULUS_BIT_SIZE as usize;
        // One spare bit for the carry of signed digits.
        let windows = (bits + 1).div_ceil(c);
        let index: Vec<u32> = bases
            .iter()
            .enumerate()
            .filter(|(_, b)| !b.is_zero())
            .map(|(i, _)| u32::try_from(i).expect("fewer than 2^32 bases"))
            .collect();
        let rows: Vec<Vec<Projective<P>>> = cfg_map(&index, |&i| {
            let mut point = bases[i as usize].into_group();
            let mut row = Vec::with_capacity(windows);
            for _ in 0..windows {
                row.push(point);
                for _ in 0..c {
                    point.double_in_place();
                }
            }
            row
        });
        let projective: Vec<Projective<P>> = rows.into_iter().flatten().collect();
        let table = Projective::normalize_batch(&projective);
        Self {
            c,
            windows,
            table,
            index,
            len: bases.len(),
        }
    }

    /// The number of bases the table was built from, identities included.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the table was built from no bases.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Bytes the table holds.
    pub fn table_bytes(&self) -> usize {
        self.table.len() * std::mem::size_of::<Affine<P>>() + self.index.len() * 4
    }

    /// `Σ scalars[i] · bases[i]` over the first `min(len, scalars.len())`
    /// bases, on the current thread.
    pub fn msm(&self, scalars: &[BigInt<P>]) -> Projective<P> {
        self.msm_with(scalars, &mut Scratch::default())
    }

    /// [`FixedBaseMsm::msm`], with the group operations it made: the
    /// work that bounds its time from below.
    pub fn msm_counted(&self, scalars: &[BigInt<P>]) -> (Projective<P>, MsmCount) {
        let mut scratch = Scratch::default();
        let sum = self.msm_with(scalars, &mut scratch);
        let count = MsmCount {
            affine_additions: scratch.affine_additions,
            projective_additions: scratch.projective_additions,
        };
        (sum, count)
    }

    /// [`FixedBaseMsm::msm`] in the buffers of `scratch`, which a thread
    /// keeps from one MSM to the next so that a proof allocates little.
    pub fn msm_with(&self, scalars: &[BigInt<P>], scratch: &mut Scratch<P>) -> Projective<P> {
        let buckets = 1usize << (self.c - 1);
        let mut sums = std::mem::take(&mut scratch.sums);
        sums.clear();
        sums.resize(buckets, Affine::identity());
        let rows = self
            .index
            .partition_point(|&i| (i as usize) < scalars.len());
        for start in (0..rows).step_by(CHUNK) {
            let rows = start..(start + CHUNK).min(rows);
            self.accumulate(rows, scalars, &mut sums, scratch);
        }
        let total = scratch.weighted_sum(&sums);
        scratch.sums = sums;
        total
    }

    /// Adds the digits of table rows `rows` into the bucket sums.
    fn accumulate(
        &self,
        rows: std::ops::Range<usize>,
        scalars: &[BigInt<P>],
        sums: &mut [Affine<P>],
        scratch: &mut Scratch<P>,
    ) {
        let buckets = sums.len();
        let Scratch {
            digits,
            start,
            fill,
            points,
            segments,
            ..
        } = scratch;

        // Signed digits of every row's scalar, and how many land per bucket.
        digits.clear();
        start.clear();
        start.resize(buckets + 1, 0);
        for k in rows.clone() {
            let scalar = &scalars[self.index[k] as usize];
            signed_digits(scalar, self.c, self.windows, |digit| {
                digits.push(digit);
                if digit != 0 {
                    start[digit.unsigned_abs() as usize] += 1;
                }
            });
        }
        // Each bucket's segment starts with its running sum, if any.
        for (b, sum) in sums.iter().enumerate() {
            start[b + 1] += usize::from(!sum.infinity);
        }
        for b in 0..buckets {
            start[b + 1] += start[b];
        }

        // Counting sort of the signed table points into bucket segments.
        points.clear();
        points.resize(start[buckets], Affine::identity());
        fill.clear();
        fill.extend_from_slice(&start[..buckets]);
        for (b, sum) in sums.iter().enumerate() {
            if !sum.infinity {
                points[fill[b]] = *sum;
                fill[b] += 1;
            }
        }
        let mut digit = digits.iter();
        for k in rows {
            let row = &self.table[k * self.windows..(k + 1) * self.windows];
            for point in row {
                let d = *digit.next().expect("one digit per window");
                if d != 0 {
                    let b = d.unsigned_abs() as usize - 1;
                    points[fill[b]] = if d > 0 { *point } else { -*point };
                    fill[b] += 1;
                }
            }
        }

        segments.clear();
        segments.extend(
            (0..buckets)
                .filter(|&b| start[b + 1] > start[b])
                .map(|b| (b, start[b], start[b + 1] - start[b])),
        );
        scratch.reduce_segments();
        // A bucket with no point had no sum either: it stays the identity.
        for &(b, at, _) in &scratch.segments {
            sums[b] = scratch.points[at];
        }
    }
}

/// The group operations of one MSM.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MsmCount {
    /// Batch-affine additions and doublings, of points into bucket sums
    /// and of the running sums over the buckets (each about 6 field
    /// multiplications and a share of one inversion); the additions with
    /// the identity, which cost nothing, are not counted.
    pub affine_additions: u64,
    /// Projective additions and doublings that join the blocks of
    /// buckets ([`BUCKET_BLOCKS`]).
    pub projective_additions: u64,
}

/// The sum of `points` by the MSM's own pairwise batch-affine rounds, and
/// the additions that took: `points.len() - 1` for distinct points. A
/// micro-benchmark of one batch-affine addition divides its time by them.
pub fn sum_batch_affine<P: SWCurveConfig>(points: &[Affine<P>]) -> (Affine<P>, u64) {
    if points.is_empty() {
        return (Affine::identity(), 0);
    }
    let mut scratch = Scratch::<P>::default();
    scratch.points.extend_from_slice(points);
    scratch.segments.push((0, 0, points.len()));
    scratch.reduce_segments();
    (scratch.points[0], scratch.affine_additions)
}

/// Reusable buffers of an MSM: about `CHUNK × windows` points.
pub struct Scratch<P: SWCurveConfig> {
    /// The bucket sums.
    sums: Vec<Affine<P>>,
    digits: Vec<i32>,
    /// Bucket segment boundaries (prefix sums of the counts).
    start: Vec<usize>,
    fill: Vec<usize>,
    points: Vec<Affine<P>>,
    /// Segments still to reduce: bucket, start, length.
    segments: Vec<(usize, usize, usize)>,
    /// Denominators of one round, then their inverses.
    inverses: Vec<P::BaseField>,
    products: Vec<P::BaseField>,
    kinds: Vec<Pair>,
    /// Each block's running sum and weighted total, in the bucket sum.
    running: Vec<Affine<P>>,
    totals: Vec<Affine<P>>,
    /// Batch-affine additions (and doublings) made so far.
    affine_additions: u64,
    /// Projective additions (and doublings) made so far.
    projective_additions: u64,
}

impl<P: SWCurveConfig> Default for Scratch<P> {
    fn default() -> Self {
        Self {
            sums: Vec::new(),
            digits: Vec::new(),
            start: Vec::new(),
            fill: Vec::new(),
            points: Vec::new(),
            segments: Vec::new(),
            inverses: Vec::new(),
            products: Vec::new(),
            kinds: Vec::new(),
            running: Vec::new(),
            totals: Vec::new(),
            affine_additions: 0,
            projective_additions: 0,
        }
    }
}

/// How the two points of a pair combine.
#[derive(Clone, Copy)]
enum Pair {
    /// Distinct x: chord addition, denominator `x2 - x1`.
    Add,
    /// Equal points: tangent doubling, denominator `2 y`.
    Double,
    /// The result is the other point, or the identity: no inversion.
    Trivial,
}

impl<P: SWCurveConfig> Scratch<P> {
    /// `Σ (b + 1) · sums[b]`.
    ///
    /// The running-sum method (from the top bucket down, `running += sum`
    /// then `total += running`) is sequential, so alone it pays a
    /// projective addition per step. Here the buckets are cut into blocks
    /// whose running sums advance side by side in affine coordinates, one
    /// shared inversion per step. Block `k` of `m` buckets ends with
    /// `R_k = Σ_i S_(km+i)` and `T_k = Σ_i (i + 1) · S_(km+i)`, and the
    /// whole is `Σ_k T_k + m · Σ_k k · R_k`, the last sum by a projective
    /// running sum over the blocks.
    fn weighted_sum(&mut self, sums: &[Affine<P>]) -> Projective<P> {
        let blocks = BUCKET_BLOCKS.min(sums.len());
        let m = sums.len() / blocks;
        assert!(
            m.is_power_of_two() && blocks * m == sums.len(),
            "a power of two of buckets"
        );
        self.running.clear();
        self.running.resize(blocks, Affine::identity());
        self.totals.clear();
        self.totals.resize(blocks, Affine::identity());
        // Step i adds the running sums as they were into the totals, and
        // bucket i of each block into the running sums; a last step adds
        // the final running sums.
        for step in 1..=m + 1 {
            // Buckets m - 1 down to 0 of each block, then none.
            let i = m.checked_sub(step);
            let bucket = |k: usize| i.map(|i| &sums[k * m + i]);
            self.inverses.clear();
            self.kinds.clear();
            for k in 0..blocks {
                let (total, running) = (&self.totals[k], &self.running[k]);
                self.kinds
                    .push(classify(total, running, &mut self.inverses));
                if let Some(sum) = bucket(k) {
                    self.kinds.push(classify(running, sum, &mut self.inverses));
                }
            }
            batch_invert(&mut self.inverses, &mut self.products);
            self.affine_additions += self.inverses.len() as u64;
            let (mut kind, mut inverse) = (self.kinds.iter(), self.inverses.iter());
            for k in 0..blocks {
                let (total, running) = (self.totals[k], self.running[k]);
                let next = *kind.next().expect("one kind per pair");
                self.totals[k] = combine(next, &total, &running, &mut inverse);
                if let Some(sum) = bucket(k) {
                    let next = *kind.next().expect("one kind per pair");
                    self.running[k] = combine(next, &running, sum, &mut inverse);
                }
            }
        }
        // Σ_k k · R_k, from the top block down; then times m, by doublings.
        let (mut running, mut weighted) = (Projective::<P>::zero(), Projective::<P>::zero());
        for r in self.running.iter().skip(1).rev() {
            running += r;
            weighted += &running;
        }
        self.projective_additions += 2 * (blocks as u64 - 1);
        for _ in 0..m.trailing_zeros() {
            weighted.double_in_place();
        }
        self.projective_additions += u64::from(m.trailing_zeros());
        for t in &self.totals {
            weighted += t;
        }
        self.projective_additions += blocks as u64;
        weighted
    }

    /// Sums every segment to its first point, pairwise, one shared
    /// inversion per round. Segments of length 0 or 1 are done.
    fn reduce_segments(&mut self) {
        // Segments of one point are already summed.
        let mut done: Vec<(usize, usize, usize)> =
            self.segments.iter().filter(|s| s.2 == 1).copied().collect();
        self.segments.retain(|s| s.2 > 1);
        while !self.segments.is_empty() {
            // Classify the pairs and collect the denominators.
            self.inverses.clear();
            self.kinds.clear();
            for &(_, at, len) in &self.segments {
                for k in 0..len / 2 {
                    let (p, q) = (&self.points[at + 2 * k], &self.points[at + 2 * k + 1]);
                    self.kinds.push(classify(p, q, &mut self.inverses));
                }
            }
            batch_invert(&mut self.inverses, &mut self.products);
            self.affine_additions += self.inverses.len() as u64;

            // Apply them; the k-th pair's sum goes to position k.
            let (mut kind, mut inverse) = (self.kinds.iter(), self.inverses.iter());
            for segment in &mut self.segments {
                let (_, at, len) = *segment;
                for k in 0..len / 2 {
                    let (p, q) = (&self.points[at + 2 * k], &self.points[at + 2 * k + 1]);
                    let kind = *kind.next().expect("one kind per pair");
                    self.points[at + k] = combine(kind, p, q, &mut inverse);
                }
                if len % 2 == 1 {
                    self.points[at + len / 2] = self.points[at + len - 1];
                }
                segment.2 = len.div_ceil(2);
            }
            done.extend(self.segments.iter().filter(|s| s.2 == 1));
            self.segments.retain(|s| s.2 > 1);
        }
        self.segments = done;
    }
}

/// How `p + q` is made, pushing the denominator of its slope, if any, to
/// `denominators`.
#[inline]
fn classify<P: SWCurveConfig>(
    p: &Affine<P>,
    q: &Affine<P>,
    denominators: &mut Vec<P::BaseField>,
) -> Pair {
    if p.infinity || q.infinity {
        Pair::Trivial
    } else if p.x != q.x {
        denominators.push(q.x - p.x);
        Pair::Add
    } else if p.y == q.y && !p.y.is_zero() {
        denominators.push(p.y.double());
        Pair::Double
    } else {
        Pair::Trivial
    }
}

/// `p + q`, made as [`classify`] said, with the next of the inverted
/// denominators.
#[inline]
fn combine<'a, P: SWCurveConfig>(
    kind: Pair,
    p: &Affine<P>,
    q: &Affine<P>,
    inverses: &mut impl Iterator<Item = &'a P::BaseField>,
) -> Affine<P> {
    match kind {
        Pair::Add => {
            let lambda = (q.y - p.y) * inverses.next().expect("an inverse");
            chord(p, q, lambda)
        }
        Pair::Double => {
            let x2 = p.x.square();
            let lambda = (x2.double() + x2 + P::COEFF_A) * inverses.next().expect("an inverse");
            chord(p, p, lambda)
        }
        Pair::Trivial if p.infinity => *q,
        Pair::Trivial if q.infinity => *p,
        // p = -q
        Pair::Trivial => Affine::identity(),
    }
}

/// The third point on the line through `p` and `q` with slope `lambda`,
/// negated: `p + q` (or `2p` when `q = p` and `lambda` is the tangent).
#[inline]
fn chord<P: SWCurveConfig>(p: &Affine<P>, q: &Affine<P>, lambda: P::BaseField) -> Affine<P> {
    let x = lambda.square() - p.x - q.x;
    let y = lambda * (p.x - x) - p.y;
    Affine::new_unchecked(x, y)
}

/// Replaces every element of `values` (all non-zero) by its inverse, with
/// one field inversion.
fn batch_invert<F: Field>(values: &mut [F], products: &mut Vec<F>) {
    products.clear();
    let mut acc = F::one();
    for v in values.iter() {
        acc *= v;
        products.push(acc);
    }
    let Some(mut inverse) = acc.inverse() else {
        return;
    };
    for i in (0..values.len()).rev() {
        let before = if i == 0 { F::one() } else { products[i - 1] };
        let v = values[i];
        values[i] = inverse * before;
        inverse *= v;
    }
}

/// Calls `emit` with the `windows` signed `c`-bit digits of `scalar`, least
/// significant first: each in `[-2^(c-1), 2^(c-1)]`, summing to the scalar
/// as `Σ d_j · 2^(c·j)`.
#[inline]
fn signed_digits<B: BigInteger>(scalar: &B, c: usize, windows: usize, mut emit: impl FnMut(i32)) {
    let limbs = scalar.as_ref();
    let half = 1u64 << (c - 1);
    let mask = (1u64 << c) - 1;
    let mut carry = 0u64;
    for j in 0..windows {
        let offset = j * c;
        let (limb, shift) = (offset / 64, offset % 64);
        let mut bits = limbs.get(limb).map_or(0, |l| l >> shift);
        if shift + c > 64 {
            if let Some(next) = limbs.get(limb + 1) {
                bits |= next << (64 - shift);
            }
        }
        let value = (bits & mask) + carry;
        // Digits above half wrap to negative and carry one into the next
        // window; the top window has room for the carry by construction.
        if value > half {
            carry = 1;
            emit(value as i32 - (1i32 << c));
        } else {
            carry = 0;
            emit(value as i32);
        }
    }
    debug_assert_eq!(carry, 0, "the top window absorbs the carry");
}

#[cfg(feature = "parallel")]
fn cfg_map<T: Sync, U: Send>(items: &[T], f: impl Fn(&T) -> U + Sync + Send) -> Vec<U> {
    use rayon::prelude::*;
    items.par_iter().map(f).collect()
}

#[cfg(not(feature = "parallel"))]
fn cfg_map<T, U>(items: &[T], f: impl Fn(&T) -> U) -> Vec<U> {
    items.iter().map(f).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use ark_bn254::{Fr, G1Affine, G1Projective, G2Affine, G2Projective};
    use ark_ec::VariableBaseMSM;
    use ark_ff::UniformRand;
    use ark_std::rand::{rngs::StdRng, SeedableRng};

    fn check<P: SWCurveConfig<ScalarField = Fr>>(
        bases: Vec<Affine<P>>,
        scalars: Vec<Fr>,
        c: usize,
    ) {
        let table = FixedBaseMsm::with_window(&bases, c);
        let ints: Vec<_> = scalars.iter().map(|s| s.into_bigint()).collect();
        let expected = Projective::<P>::msm_unchecked(&bases, &scalars);
        assert_eq!(
            table.msm(&ints).into_affine(),
            expected.into_affine(),
            "c = {c}"
        );
    }

    fn skewed(rng: &mut StdRng, n: usize) -> Vec<Fr> {
        (0..n)
            .map(|i| match i % 7 {
                0 => Fr::zero(),
                1 | 2 => Fr::from(1u64),
                3 => -Fr::from(1u64),
                4 => Fr::from(u64::from(rng.next_u32())),
                _ => Fr::rand(rng),
            })
            .collect()
    }

    use ark_std::rand::RngCore;

    #[test]
    fn matches_arkworks_on_g1_with_skewed_scalars_and_repeated_bases() {
        let mut rng = StdRng::seed_from_u64(1);
        let mut bases: Vec<G1Affine> = (0..3000)
            .map(|_| G1Projective::rand(&mut rng).into_affine())
            .collect();
        // Identities, repeats and negations exercise every pair kind.
        bases[5] = G1Affine::identity();
        bases[6] = bases[7];
        bases[8] = -bases[9];
        for i in 100..200 {
            bases[i] = bases[99];
        }
        for c in [3, 8, 12] {
            check(bases.clone(), skewed(&mut rng, 3000), c);
        }
        // Fewer scalars than bases, and all-zero scalars.
        check(bases.clone(), skewed(&mut rng, 1500), 12);
        check(bases, vec![Fr::zero(); 10], 12);
    }

    #[test]
    fn matches_arkworks_on_g2() {
        let mut rng = StdRng::seed_from_u64(2);
        let bases: Vec<G2Affine> = (0..700)
            .map(|_| G2Projective::rand(&mut rng).into_affine())
            .collect();
        check(bases, skewed(&mut rng, 700), 10);
    }

    #[test]
    fn counts_are_the_additions_made() {
        let mut rng = StdRng::seed_from_u64(4);
        let points: Vec<G1Affine> = (0..1000)
            .map(|_| G1Projective::rand(&mut rng).into_affine())
            .collect();
        let (sum, additions) = sum_batch_affine(&points);
        let expected: G1Projective = points.iter().map(|p| p.into_group()).sum();
        assert_eq!(sum, expected.into_affine());
        assert_eq!(additions, 999);
        // An MSM of zero scalars adds nothing into the buckets; one of a
        // single scalar 1 adds its one point to nothing; and each further
        // scalar 1 on a distinct base is one more addition.
        let table = FixedBaseMsm::with_window(&points, 8);
        let one = Fr::from(1u64).into_bigint();
        let zero = Fr::zero().into_bigint();
        let count = |scalars: Vec<_>| table.msm_counted(&scalars).1;
        assert_eq!(count(vec![zero; 1000]).affine_additions, 0);
        assert_eq!(count(vec![one]).affine_additions, 0);
        assert_eq!(count(vec![one; 10]).affine_additions, 9);
        // 128 buckets in 64 blocks of 2: 2 · 63 additions over the blocks'
        // running sums, one doubling, and the 64 blocks' totals.
        assert_eq!(count(vec![one; 10]).projective_additions, 2 * 63 + 1 + 64);
    }

    #[test]
    fn the_weighted_bucket_sum_meets_equal_opposite_and_empty_sums() {
        let mut rng = StdRng::seed_from_u64(5);
        let p = G1Projective::rand(&mut rng);
        // Few distinct values, so that running sums and totals often meet
        // their own doubles, negations and the identity.
        let values = [
            G1Projective::zero(),
            p,
            -p,
            p.double(),
            G1Projective::rand(&mut rng),
        ];
        for buckets in [2, 4, 128, 256, 2048] {
            for _ in 0..4 {
                let sums: Vec<G1Affine> = (0..buckets)
                    .map(|_| values[rng.next_u32() as usize % values.len()].into_affine())
                    .collect();
                let expected: G1Projective = sums
                    .iter()
                    .enumerate()
                    .map(|(b, sum)| *sum * Fr::from(b as u64 + 1))
                    .sum();
                let mut scratch = Scratch::default();
                assert_eq!(scratch.weighted_sum(&sums), expected, "{buckets} buckets");
            }
        }
    }

    #[test]
    fn signed_digits_recompose() {
        let mut rng = StdRng::seed_from_u64(3);
        for c in [2, 5, 12, 16] {
            let windows = 255usize.div_ceil(c);
            for scalar in [Fr::zero(), -Fr::from(1u64), Fr::rand(&mut rng)] {
                let mut total = Fr::zero();
                let mut weight = Fr::from(1u64);
                signed_digits(&scalar.into_bigint(), c, windows, |d| {
                    assert!(d.unsigned_abs() <= 1 << (c - 1));
                    total += weight * Fr::from(d as i64);
                    weight *= Fr::from(1u64 << c);
                });
                assert_eq!(total, scalar);
            }
        }
    }
}
