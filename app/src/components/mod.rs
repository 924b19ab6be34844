//! Small reusable components.
pub mod csrf;
pub mod fetch;
pub mod job_list;
pub mod nav;
pub mod require_role;
