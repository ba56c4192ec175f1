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

/// With `use tern::test;` a plain `#[test]` names this attribute; the
/// expansion must still mark the function with the built-in `#[test]`, not
/// with `test` as resolved there (that is `tern::test` again, which then
/// rejects the non-async fn it made: "functions must be `async fn`").
mod with_test_imported {
    use tern::test;

    #[test]
    async fn test_attribute_imported_by_name() {
        assert!(tern::in_runtime());
        tern::yield_now().await;
    }
}
