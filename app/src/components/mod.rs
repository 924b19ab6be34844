//! Small reusable components.
pub mod csrf;
pub mod nav;
pub mod require_role;
