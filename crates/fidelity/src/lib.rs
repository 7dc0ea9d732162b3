//! Nothing but a home for `tests/fidelity.rs`: the tests that hold relaybench's figures to millisecond bounds in a release build.
