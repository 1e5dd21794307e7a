//! Crash recovery in CI: the harness of `examples/crash.rs` in quick mode (8 rounds of
//! SIGKILL under load, restart on the same data directory, every durability check)
//! against the debug `switchboard` binary.

#[allow(dead_code)]
#[path = "../examples/crash/mod.rs"]
mod crash;

#[test]
fn acknowledged_work_survives_sigkill_and_restart() {
    let options = crash::Options::quick(env!("CARGO_BIN_EXE_switchboard").into());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let report = runtime
        .block_on(crash::run(&options))
        .expect("the harness runs");
    println!("{}", report.details());
    println!("{}", report.summary());
    assert!(
        report.passed(),
        "{}\n{}",
        report.details(),
        report.summary()
    );
    assert_eq!(report.rounds, options.rounds, "every round ran");
    assert!(report.checked > 0, "messages were checked after crashes");
}
