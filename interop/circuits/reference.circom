// The reference statement (`medical-premises` over `real-estate`, see the
// README's benchmarks) in circom with circomlib, over a binary Poseidon
// Merkle tree of depth 20: the same 2^20 records as zkgov's arity-4,
// depth-10 tree. It is the peer that `zkgov-benches --bin peers` proves
// with snarkjs.
//
// Everything mirrors zkgov's statement circuit: the same leaf, the same
// subject tag, the same public inputs in the same order, and the same range
// checks. Every operand of an ordered comparison is decomposed into its
// declared width (32 bits for `uint32`, 22 for dates), and so is the
// difference that the comparison asserts is non-negative. circomlib's
// `LessThan` checks neither operand, so it is not used.
pragma circom 2.0.0;

include "circomlib/circuits/bitify.circom";
include "circomlib/circuits/poseidon.circom";

// One tree level: the parent of `node` and `sibling`, with `node` on the
// right when `position` is 1.
template PathLevel() {
    signal input node;
    signal input sibling;
    signal input position;
    signal output parent;

    position * (position - 1) === 0;
    signal left;
    left <== node + position * (sibling - node);
    component hash = Poseidon(2);
    hash.inputs[0] <== left;
    hash.inputs[1] <== node + sibling - left;
    parent <== hash.out;
}

// Enforces 0 <= x < 2^n.
template Fits(n) {
    signal input x;
    component bits = Num2Bits(n);
    bits.in <== x;
}

template MedicalPremises(depth) {
    // The statement, in zkgov's order: registry_root, case_id, subject_tag,
    // then the policy's params min_area, usage, today.
    signal input registry_root;
    signal input case_id;
    signal input subject_tag;
    signal input min_area;
    signal input usage;
    signal input today;

    // The record in schema order: subject, parcel, area_m2, usage,
    // encumbered, issued, expires; then its salt, its path and the case
    // secret.
    signal input record[7];
    signal input salt;
    signal input siblings[depth];
    signal input positions[depth];
    signal input case_secret;

    // Leaf: Poseidon([subject, parcel, area_m2, usage, encumbered, issued,
    // expires, salt]).
    component leaf = Poseidon(8);
    for (var i = 0; i < 7; i++) {
        leaf.inputs[i] <== record[i];
    }
    leaf.inputs[7] <== salt;

    // The path from the bottom; level i's position is bit i of the index.
    component levels[depth];
    for (var i = 0; i < depth; i++) {
        levels[i] = PathLevel();
        levels[i].node <== i == 0 ? leaf.out : levels[i - 1].parent;
        levels[i].sibling <== siblings[i];
        levels[i].position <== positions[i];
    }
    levels[depth - 1].parent === registry_root;

    // Subject tag: Poseidon([subject, case_secret]). `case_id` enters no
    // constraint here, as in zkgov: the Groth16 QAP binds every public input.
    component tag = Poseidon(2);
    tag.inputs[0] <== record[0];
    tag.inputs[1] <== case_secret;
    tag.out === subject_tag;

    // The range checks: each ranged operand once.
    component ranged[5];
    ranged[0] = Fits(32);
    ranged[0].x <== record[2];
    ranged[1] = Fits(32);
    ranged[1].x <== min_area;
    ranged[2] = Fits(22);
    ranged[2].x <== record[5];
    ranged[3] = Fits(22);
    ranged[3].x <== record[6];
    ranged[4] = Fits(22);
    ranged[4].x <== today;

    // area_m2 >= $min_area
    component area = Fits(32);
    area.x <== record[2] - min_area;
    // usage == $usage, encumbered == false
    record[3] === usage;
    record[4] === 0;
    // issued <= $today
    component issued = Fits(22);
    issued.x <== today - record[5];
    // expires > $today
    component expires = Fits(22);
    expires.x <== record[6] - today - 1;
}

component main {public [registry_root, case_id, subject_tag, min_area, usage, today]} = MedicalPremises(20);
