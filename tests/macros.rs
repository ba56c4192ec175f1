//! `#[tern::test]` and `#[tern::main]` expansions.

#[tern::test]
async fn test_macro_runs_on_a_runtime() {
    assert!(tern::in_runtime());
}

#[tern::test]
async fn test_macro_supports_result() -> Result<(), std::io::Error> {
    tern::yield_now().await;
    Ok(())
}

mod with_main {
    #[tern::main]
    pub async fn main() -> u32 {
        tern::spawn(async { 9 }).await.unwrap()
    }
}

#[test]
fn main_macro_blocks_on_the_body() {
    assert_eq!(with_main::main(), 9);
    assert!(!tern::in_runtime());
}
