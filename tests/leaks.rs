//! Runtimes release their fds and tasks.

use std::time::Duration;

fn open_fds() -> usize {
    tern::sys::socket::open_fd_count().unwrap()
}

#[test]
fn ten_thousand_runtimes_leak_no_fds() {
    // Warm up thread-locals and lazy statics.
    tern::block_on(async {});
    let before = open_fds();
    for i in 0..10_000u32 {
        let v = tern::block_on(async move {
            let h = tern::spawn(async move { i });
            tern::time::sleep(Duration::ZERO).await;
            let _never = tern::spawn(std::future::pending::<()>());
            h.await.unwrap()
        });
        assert_eq!(v, i);
    }
    assert_eq!(open_fds(), before);
}

#[test]
fn dropping_runtime_drops_spawned_tasks() {
    let rt = tern::Runtime::new().unwrap();
    let flag = std::rc::Rc::new(());
    let f = flag.clone();
    let _h = rt.spawn(async move {
        let _f = f;
        std::future::pending::<()>().await
    });
    assert_eq!(std::rc::Rc::strong_count(&flag), 2);
    drop(rt);
    assert_eq!(std::rc::Rc::strong_count(&flag), 1);
}
