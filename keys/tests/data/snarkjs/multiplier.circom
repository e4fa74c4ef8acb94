pragma circom 2.0.0;

// The circuit of keys/tests/snarkjs_interop.rs: c = a^N * b, computed with
// N multiplication constraints. The output c and the input b are public;
// snarkjs orders public signals outputs first, so they are [c, b]. The
// input a stays private.
template Multiplier(N) {
    signal input a;
    signal input b;
    signal output c;

    signal acc[N];
    acc[0] <== a * b;
    for (var i = 1; i < N; i++) {
        acc[i] <== acc[i - 1] * a;
    }
    c <== acc[N - 1];
}

component main {public [b]} = Multiplier(8);
