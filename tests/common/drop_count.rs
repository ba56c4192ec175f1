//! [`DropCount`], for tests that count how many values were dropped. Not
//! a module of `common`: a test includes this file by `#[path]`.

use std::cell::Cell;
use std::rc::Rc;

/// Adds one to its counter when dropped.
pub struct DropCount(pub Rc<Cell<u32>>);

impl Drop for DropCount {
    fn drop(&mut self) {
        self.0.set(self.0.get() + 1);
    }
}
