//! `join!` and `select!`: wait for several futures at once, without a
//! dependency (declarative macros over helpers in tern-runtime).
//!
//! # Implementation
//!
//! Both macros first rewrite their input into a list of branches, each
//! tagged with as many `_` tokens as branches come before it. Those tags
//! become tuple patterns such as `(_, _, fut, ..)`, which is how a
//! declarative macro reaches "the third future" without generating names.
//! Every future is pinned on the stack with `core::pin::pin!` inside a
//! `MaybeDone` (join) or `Branch` (select) wrapper, so the expansion has no
//! `unsafe` and no allocation.

/// Waits for every future and returns their outputs as a tuple, in the
/// order written. The futures run concurrently in the calling task; each
/// poll of the `join!` polls the unfinished ones, starting one further on
/// each time (as tokio's `join!` does), so a future that is always ready
/// cannot spend the task's whole cooperative budget every time and starve
/// the ones written after it.
///
/// ```
/// # tern::block_on(async {
/// let (a, b) = tern::join!(async { 1 }, async { "two" });
/// assert_eq!((a, b), (1, "two"));
/// # });
/// ```
#[macro_export]
macro_rules! join {
    (@munch ( $($count:tt)* ) { $($done:tt)* } $fut:expr $(, $($rest:tt)*)?) => {
        $crate::join!(@munch ( $($count)* _ ) { $($done)* ( $($count)* ) $fut, } $($($rest)*)?)
    };
    (@munch ( $($count:tt)* ) { $( ( $($skip:tt)* ) $fut:expr, )* }) => {{
        let mut futures = ( $(
            ::core::pin::pin!($crate::__private::MaybeDone::new(
                ::core::future::IntoFuture::into_future($fut),
            )),
        )* );
        // The future polled first moves on by one each poll (as tokio's
        // join! does), so one that always has work cannot use up the
        // task's cooperative budget and starve those written after it.
        let count = $crate::join!(@len $($count)*);
        let mut first = 0;
        ::core::future::poll_fn(|cx| {
            let start = first;
            first = if start + 1 == count { 0 } else { start + 1 };
            let mut all_done = true;
            // Those from `start` on, then those before it.
            for from_start in [true, false] {
                $(
                    if ($crate::join!(@len $($skip)*) >= start) == from_start {
                        let ( $($skip,)* fut, .. ) = &mut futures;
                        all_done &= fut.as_mut().poll_done(cx);
                    }
                )*
            }
            if all_done {
                ::core::task::Poll::Ready(())
            } else {
                ::core::task::Poll::Pending
            }
        })
        .await;
        ( $( {
            let ( $($skip,)* fut, .. ) = &mut futures;
            fut.as_mut().take_output()
        }, )* )
    }};
    (@len $($t:tt)*) => { <[()]>::len(&[ $( $crate::join!(@unit $t) ),* ]) };
    (@unit $t:tt) => { () };
    () => { () };
    ($($fut:expr),+ $(,)?) => {
        $crate::join!(@munch () {} $($fut),+)
    };
}

/// Waits for the first of several futures to finish and runs that branch's
/// handler; the other futures are dropped.
///
/// ```text
/// tern::select! {
///     pattern = future => handler,
///     pattern = future, if condition => handler,
///     else => handler,
/// }
/// ```
///
/// - All futures are created first; then each poll polls the branches in
///   the order written (the first one ready wins, so earlier branches have
///   priority). A leading `biased;` (tokio's way to ask for this) is
///   accepted and changes nothing.
/// - A branch whose output does not match its pattern is disabled (its
///   future is dropped and not polled again) and the others go on; so is a
///   branch whose `if` condition is false (its future is created but never
///   polled). Every condition is evaluated before any future is created,
///   so a condition may read what a future borrows, as in tokio's
///   `_ = &mut sleep, if !sleep.is_elapsed() => ..`.
/// - When every branch is disabled, the `else` handler runs; without an
///   `else`, that panics.
/// - The handler runs after every future was dropped, in the surrounding
///   code, so it may `.await`, `return`, `break` or use `?`, and may use
///   what the futures borrowed.
///
/// Patterns are first checked against a reference to the output, so a
/// binding in them cannot be `mut` (write `Some(v) => { let mut v = v; .. }`).
///
/// ```
/// # tern::block_on(async {
/// use std::time::Duration;
/// let (tx, mut rx) = tern::sync::mpsc::unbounded_channel::<u32>();
/// drop(tx);
/// let got = tern::select! {
///     Some(v) = rx.recv() => v,
///     _ = tern::time::sleep(Duration::from_millis(1)) => 0,
/// };
/// assert_eq!(got, 0); // recv() gave None: that branch was disabled
/// # });
/// ```
#[macro_export]
macro_rules! select {
    // Normalising: one `( skip ) pat = fut, if cond => handler,` per branch.
    (@munch $count:tt $branches:tt $else:tt ) => {
        $crate::select!(@expand $branches $else)
    };
    (@munch $count:tt $branches:tt () else => $e:expr $(,)?) => {
        $crate::select!(@munch $count $branches ($e))
    };
    (@munch ( $($count:tt)* ) { $($b:tt)* } $else:tt
        $p:pat = $f:expr, if $c:expr => $h:block $(,)? $($rest:tt)*) => {
        $crate::select!(@munch ( $($count)* _ ) { $($b)* ( $($count)* ) $p = $f, if $c => $h, } $else $($rest)*)
    };
    (@munch ( $($count:tt)* ) { $($b:tt)* } $else:tt
        $p:pat = $f:expr, if $c:expr => $h:expr $(, $($rest:tt)*)?) => {
        $crate::select!(@munch ( $($count)* _ ) { $($b)* ( $($count)* ) $p = $f, if $c => $h, } $else $($($rest)*)?)
    };
    (@munch ( $($count:tt)* ) { $($b:tt)* } $else:tt
        $p:pat = $f:expr => $h:block $(,)? $($rest:tt)*) => {
        $crate::select!(@munch ( $($count)* _ ) { $($b)* ( $($count)* ) $p = $f, if true => $h, } $else $($rest)*)
    };
    (@munch ( $($count:tt)* ) { $($b:tt)* } $else:tt
        $p:pat = $f:expr => $h:expr $(, $($rest:tt)*)?) => {
        $crate::select!(@munch ( $($count)* _ ) { $($b)* ( $($count)* ) $p = $f, if true => $h, } $else $($($rest)*)?)
    };
    (@munch $($bad:tt)*) => {
        ::core::compile_error!("select!: each branch is `pattern = future => handler`, optionally with `, if condition` before `=>`; at most one `else => handler`, last")
    };

    (@expand { $( ( $($skip:tt)* ) $p:pat = $f:expr, if $c:expr => $h:expr, )* } ( $($else:expr)? )) => {{
        // One output slot per branch; exactly one is filled when a branch wins.
        let mut outputs = ( $( $crate::select!(@none $($skip)*), )* );
        {
            // Every condition before any future, as tokio does: a condition
            // may then look at what a future borrows (`&mut sleep, if
            // !sleep.is_elapsed()`).
            let conditions: ( $( $crate::select!(@bool $($skip)*), )* ) = ( $( $c, )* );
            let mut branches = ( $(
                ::core::pin::pin!($crate::__private::Branch::new(
                    ::core::future::IntoFuture::into_future($f),
                    {
                        let ( $($skip,)* enabled, .. ) = conditions;
                        enabled
                    },
                )),
            )* );
            ::core::future::poll_fn(|cx| {
                let mut pending = false;
                $(
                    let ( $($skip,)* branch, .. ) = &mut branches;
                    match branch.as_mut().poll_branch(cx) {
                        ::core::option::Option::Some(::core::task::Poll::Ready(out)) => {
                            #[allow(unused_variables, unused_mut)]
                            let matched = match &out {
                                $p => true,
                                #[allow(unreachable_patterns)]
                                _ => false,
                            };
                            if matched {
                                let ( $($skip,)* slot, .. ) = &mut outputs;
                                *slot = ::core::option::Option::Some(out);
                                return ::core::task::Poll::Ready(());
                            }
                            branch.as_mut().disable();
                        }
                        ::core::option::Option::Some(::core::task::Poll::Pending) => pending = true,
                        ::core::option::Option::None => {}
                    }
                )*
                if pending {
                    ::core::task::Poll::Pending
                } else {
                    ::core::task::Poll::Ready(())
                }
            })
            .await;
        } // every branch future is dropped here, before any handler runs
        $(
            if let ::core::option::Option::Some(out) = {
                let ( $($skip,)* slot, .. ) = &mut outputs;
                slot.take()
            } {
                match out {
                    $p => $h,
                    #[allow(unreachable_patterns)]
                    _ => ::core::unreachable!("select!: the pattern matched a moment ago"),
                }
            } else
        )*
        {
            $crate::select!(@else $($else)?)
        }
    }};
    (@none $($skip:tt)*) => { ::core::option::Option::None };
    (@bool $($skip:tt)*) => { bool };
    (@else) => { ::core::panic!("select!: every branch is disabled and there is no else branch") };
    (@else $e:expr) => { $e };

    () => { ::core::compile_error!("select!: needs at least one branch") };
    // tokio's `biased;` asks for what tern's select! always does.
    (biased; $($t:tt)*) => { $crate::select!($($t)*) };
    ($($t:tt)*) => { $crate::select!(@munch () {} () $($t)*) };
}
