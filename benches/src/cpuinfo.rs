//! The machine's CPU model, for report headers (shared by the benchmark
//! and the stress binary).

/// The first `model name` of `/proc/cpuinfo`, if there is one.
pub fn cpu_model() -> Option<String> {
    std::fs::read_to_string("/proc/cpuinfo").ok().and_then(|s| {
        s.lines()
            .find(|l| l.starts_with("model name"))
            .and_then(|l| l.split_once(':'))
            .map(|(_, v)| v.trim().to_string())
    })
}
