//! zkgov benchmarks
